//! Accounts and their model deployments: create, update, restore or purge-and-recreate an
//! account as the observed state and `onSoftDeleted` say; refuse changes Azure cannot make
//! (subdomain, kind); then put the deployments that differ, one after another.

use super::builder::{ActionsByKey, Builder};
use super::changes::{create_changes, missing_tags};
use super::types::{ActionKind, FieldChange};
use crate::model::{
    key, AccountSpec, DeploymentSpec, LiveAccount, Observed, ObservedAccount, OnSoftDeleted,
};
use std::collections::BTreeMap;

/// Plans every desired account and its deployments. Returns, by lower-cased account id, the
/// action after which the account is ready: what assignments scoped to it wait for.
pub(super) fn plan_accounts(
    b: &mut Builder,
    sub: &str,
    accounts: &[AccountSpec],
    observed: &Observed,
    rg_actions: &ActionsByKey,
) -> ActionsByKey {
    let mut account_ready = ActionsByKey::new();
    for acc in accounts {
        let id = acc.id(sub);
        let rg_dep: Vec<usize> = rg_actions
            .get(&acc.resource_group.to_ascii_lowercase())
            .into_iter()
            .copied()
            .collect();
        let observed_acc = observed.accounts.get(&key(&acc.resource_group, &acc.name));
        let account_dep = plan_account(b, acc, &id, observed_acc, rg_dep);
        if let Some(a) = account_dep {
            account_ready.insert(id.to_ascii_lowercase(), a);
        }
        let live_deployments = match observed_acc {
            Some(ObservedAccount::Live(live)) => Some(&live.deployments),
            _ => None,
        };
        plan_deployments(b, acc, &id, live_deployments, account_dep);
    }
    account_ready
}

/// The account itself. Returns the action its deployments and assignments wait for, if any.
fn plan_account(
    b: &mut Builder,
    acc: &AccountSpec,
    id: &str,
    observed: Option<&ObservedAccount>,
    rg_dep: Vec<usize>,
) -> Option<usize> {
    match observed {
        None
        | Some(ObservedAccount::Missing {
            subdomain_available: true,
            ..
        }) => Some(b.push(
            ActionKind::CreateAccount { spec: acc.clone() },
            id.to_string(),
            "does not exist",
            account_create_changes(acc),
            rg_dep,
        )),
        Some(ObservedAccount::Missing {
            subdomain_available: false,
            reason,
        }) => {
            b.error(
                "subdomain-taken",
                id,
                format!(
                    "custom subdomain `{}` is not available{}",
                    acc.custom_subdomain,
                    reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
                ),
                "custom subdomains are global across Azure; pick another `customSubdomain` (checkDomainAvailability said no)",
                Some(format!("accounts[name={}].customSubdomain", acc.name)),
            );
            None
        }
        Some(ObservedAccount::SoftDeleted { location }) => {
            plan_soft_deleted(b, acc, id, location, rg_dep)
        }
        Some(ObservedAccount::Live(live)) => plan_live(b, acc, id, live),
    }
}

/// A soft-deleted account of the same name: restore it, purge it and create anew, or stop, as
/// the manifest's `onSoftDeleted` says.
fn plan_soft_deleted(
    b: &mut Builder,
    acc: &AccountSpec,
    id: &str,
    location: &str,
    rg_dep: Vec<usize>,
) -> Option<usize> {
    match acc.on_soft_deleted {
        OnSoftDeleted::Restore => Some(b.push(
            ActionKind::RestoreAccount {
                spec: acc.clone(),
                deleted_location: location.to_string(),
            },
            id.to_string(),
            "soft-deleted; onSoftDeleted: restore",
            vec![FieldChange {
                field: "properties.restore".into(),
                from: None,
                to: Some("true".into()),
            }],
            rg_dep,
        )),
        OnSoftDeleted::Purge => {
            let p = b.push(
                ActionKind::PurgeAccount {
                    resource_group: acc.resource_group.clone(),
                    name: acc.name.clone(),
                    location: location.to_string(),
                },
                format!(
                    "deleted account {}/{} in {}",
                    acc.resource_group, acc.name, location
                ),
                "soft-deleted; onSoftDeleted: purge (its keys and deployments are lost for good)",
                vec![],
                vec![],
            );
            let mut deps = rg_dep;
            deps.push(p);
            Some(b.push(
                ActionKind::CreateAccount { spec: acc.clone() },
                id.to_string(),
                "created again after purge",
                account_create_changes(acc),
                deps,
            ))
        }
        OnSoftDeleted::Fail => {
            b.error(
                "soft-deleted",
                id,
                format!("an account named `{}` is soft-deleted (Azure keeps it, and its subdomain, for 48 h)", acc.name),
                "set `onSoftDeleted: restore` to bring it back, or `onSoftDeleted: purge` to delete it for good and create a new one",
                Some(format!("accounts[name={}].onSoftDeleted", acc.name)),
            );
            None
        }
    }
}

/// A live account: an error for each immutable difference, otherwise an update when properties
/// or tags differ.
fn plan_live(b: &mut Builder, acc: &AccountSpec, id: &str, live: &LiveAccount) -> Option<usize> {
    if immutable_differences(b, acc, id, live) {
        return None;
    }
    let changes = account_update_changes(acc, live);
    if changes.is_empty() {
        b.unchanged += 1;
        return None;
    }
    Some(b.push(
        ActionKind::UpdateAccount { spec: acc.clone() },
        id.to_string(),
        "properties differ",
        changes,
        vec![],
    ))
}

/// Reports the differences Azure cannot apply in place (subdomain, kind); true when any.
/// keyless never deletes and re-creates an account to make them.
fn immutable_differences(b: &mut Builder, acc: &AccountSpec, id: &str, live: &LiveAccount) -> bool {
    let mut immutable = false;
    if live
        .custom_subdomain
        .as_deref()
        .map(str::to_ascii_lowercase)
        != Some(acc.custom_subdomain.to_ascii_lowercase())
    {
        immutable = true;
        b.error(
            "immutable-subdomain",
            id,
            format!(
                "custom subdomain is `{}` in Azure, `{}` in the manifest; it cannot be changed",
                live.custom_subdomain.as_deref().unwrap_or("(none)"),
                acc.custom_subdomain
            ),
            "keyless never deletes and re-creates an account to change it (keys, deployments and endpoint would be lost). Put the existing subdomain back, or create a new account under another name",
            Some(format!("accounts[name={}].customSubdomain", acc.name)),
        );
    }
    if !live.kind.eq_ignore_ascii_case(&acc.kind) {
        immutable = true;
        b.error(
            "immutable-kind",
            id,
            format!(
                "account kind is `{}` in Azure, `{}` in the manifest",
                live.kind, acc.kind
            ),
            "an account's kind cannot be changed; set `kind` back or use a new account name",
            Some(format!("accounts[name={}].kind", acc.name)),
        );
    }
    immutable
}

/// The account's deployments that are missing or differ. Deployments of one account run one at
/// a time, so each waits for the previous one (the first for the account's own action).
fn plan_deployments(
    b: &mut Builder,
    acc: &AccountSpec,
    id: &str,
    observed: Option<&BTreeMap<String, DeploymentSpec>>,
    account_dep: Option<usize>,
) {
    let mut prev = account_dep;
    for d in &acc.deployments {
        match observed.and_then(|o| o.get(&d.name.to_ascii_lowercase())) {
            Some(o) if o == d => b.unchanged += 1,
            existing => {
                let a = b.push(
                    ActionKind::PutDeployment {
                        resource_group: acc.resource_group.clone(),
                        account: acc.name.clone(),
                        spec: d.clone(),
                    },
                    format!("{id}/deployments/{}", d.name),
                    if existing.is_some() {
                        "model or SKU differs"
                    } else {
                        "does not exist"
                    },
                    deployment_changes(existing, d),
                    prev.into_iter().collect(),
                );
                prev = Some(a);
            }
        }
    }
}

/// The diff of creating an account: every property keyless sets.
fn account_create_changes(a: &AccountSpec) -> Vec<FieldChange> {
    create_changes(
        &[
            ("kind", &a.kind),
            ("sku.name", &a.sku),
            ("location", &a.location),
            ("properties.customSubDomainName", &a.custom_subdomain),
            (
                "properties.disableLocalAuth",
                if a.disable_local_auth {
                    "true"
                } else {
                    "false"
                },
            ),
            ("properties.publicNetworkAccess", &a.public_network_access),
        ],
        &a.tags,
    )
}

/// The mutable properties and tags where a live account differs from the manifest.
fn account_update_changes(a: &AccountSpec, live: &LiveAccount) -> Vec<FieldChange> {
    let mut v = Vec::new();
    if live.disable_local_auth != a.disable_local_auth {
        v.push(FieldChange {
            field: "properties.disableLocalAuth".into(),
            from: Some(live.disable_local_auth.to_string()),
            to: Some(a.disable_local_auth.to_string()),
        });
    }
    let pna = live
        .public_network_access
        .clone()
        .unwrap_or_else(|| "Enabled".into());
    if !pna.eq_ignore_ascii_case(&a.public_network_access) {
        v.push(FieldChange {
            field: "properties.publicNetworkAccess".into(),
            from: Some(pna),
            to: Some(a.public_network_access.clone()),
        });
    }
    if !live.sku.eq_ignore_ascii_case(&a.sku) {
        v.push(FieldChange {
            field: "sku.name".into(),
            from: Some(live.sku.clone()),
            to: Some(a.sku.clone()),
        });
    }
    v.extend(missing_tags(&live.tags, &a.tags));
    v
}

/// The diff of a deployment: every field when it is new, the differing ones otherwise.
fn deployment_changes(existing: Option<&DeploymentSpec>, d: &DeploymentSpec) -> Vec<FieldChange> {
    let pairs = |s: &DeploymentSpec| {
        vec![
            ("properties.model.name", s.model_name.clone()),
            ("properties.model.version", s.model_version.clone()),
            ("properties.model.format", s.model_format.clone()),
            ("sku.name", s.sku_name.clone()),
            ("sku.capacity", s.capacity.to_string()),
        ]
    };
    let new = pairs(d);
    match existing {
        None => new
            .into_iter()
            .map(|(f, t)| FieldChange {
                field: f.into(),
                from: None,
                to: Some(t),
            })
            .collect(),
        Some(e) => pairs(e)
            .into_iter()
            .zip(new)
            .filter(|((_, a), (_, b))| a != b)
            .map(|((f, a), (_, b))| FieldChange {
                field: f.into(),
                from: Some(a),
                to: Some(b),
            })
            .collect(),
    }
}

//! The planner: a pure function from (desired, observed) to typed actions with reasons and
//! field-level diffs. No I/O happens here, so every decision keyless makes is unit-testable.
//!
//! Ordering is expressed as explicit dependencies between actions (`depends_on`), which `apply`
//! turns into a schedule: resource group → account → deployments; VM identity → its assignments.

mod render;

pub use render::{render_human, RenderOptions};

use crate::model::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Version of the plan file and JSON plan schema (bump on incompatible change).
pub const PLAN_FORMAT_VERSION: u32 = 2;

/// A field that changes, for humans and for review in pipelines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// Field path, e.g. `properties.disableLocalAuth`.
    pub field: String,
    /// Current value (None when the resource is created).
    pub from: Option<String>,
    /// New value (None when removed).
    pub to: Option<String>,
}

/// What one action does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ActionKind {
    /// Create a resource group.
    CreateResourceGroup {
        /// Desired resource group.
        spec: RgSpec,
    },
    /// Update tags of an existing resource group (merge: keyless never removes others' tags).
    UpdateResourceGroup {
        /// Desired resource group.
        spec: RgSpec,
    },
    /// Create an account (a long-running operation).
    CreateAccount {
        /// Desired account.
        spec: AccountSpec,
    },
    /// Patch properties or tags of an existing account.
    UpdateAccount {
        /// Desired account.
        spec: AccountSpec,
    },
    /// Restore a soft-deleted account (`properties.restore: true`).
    RestoreAccount {
        /// Desired account.
        spec: AccountSpec,
        /// Region the deleted account lives in.
        deleted_location: String,
    },
    /// Purge a soft-deleted account so a new one can be created.
    PurgeAccount {
        /// Resource group.
        resource_group: String,
        /// Account name.
        name: String,
        /// Region the deleted account lives in.
        location: String,
    },
    /// Create or update a model deployment.
    PutDeployment {
        /// Account resource group.
        resource_group: String,
        /// Account name.
        account: String,
        /// Desired deployment.
        spec: DeploymentSpec,
    },
    /// Enable the system-assigned identity on a VM, keeping its user-assigned ones.
    EnableVmIdentity {
        /// The VM.
        vm: VmRef,
        /// User-assigned identities it already has (re-sent, because the PATCH replaces).
        keep_user_assigned: Vec<String>,
    },
    /// Create a role assignment with a deterministic name.
    CreateRoleAssignment {
        /// The assignment.
        spec: AssignmentSpec,
        /// Deterministic name, when the principal id is known at plan time.
        name: Option<String>,
        /// The principal's object id as resolved at plan time (a VM's existing system identity
        /// included). None only for a VM whose identity an `enableVmIdentity` action this
        /// assignment depends on creates: apply takes the id from that action's result.
        principal_id: Option<String>,
    },
    /// Delete an owned assignment that the manifest no longer declares (prune).
    DeleteRoleAssignment {
        /// The assignment as observed.
        assignment: ObservedAssignment,
    },
}

impl ActionKind {
    /// `+` create, `~` update, `-` delete, `-/+` purge-then-create, `<` restore.
    pub fn symbol(&self) -> &'static str {
        match self {
            ActionKind::CreateResourceGroup { .. }
            | ActionKind::CreateAccount { .. }
            | ActionKind::CreateRoleAssignment { .. } => "+",
            ActionKind::PutDeployment { .. } => "+",
            ActionKind::UpdateResourceGroup { .. }
            | ActionKind::UpdateAccount { .. }
            | ActionKind::EnableVmIdentity { .. } => "~",
            ActionKind::RestoreAccount { .. } => "<",
            ActionKind::PurgeAccount { .. } | ActionKind::DeleteRoleAssignment { .. } => "-",
        }
    }

    /// Whether the action deletes something.
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            ActionKind::PurgeAccount { .. } | ActionKind::DeleteRoleAssignment { .. }
        )
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// Index in the plan.
    pub id: usize,
    /// What to do.
    #[serde(flatten)]
    pub kind: ActionKind,
    /// The resource it acts on (ARM id, or a description for assignments not yet named).
    pub target: String,
    /// Why it is needed.
    pub reason: String,
    /// Field-level diff.
    pub changes: Vec<FieldChange>,
    /// Actions that must finish first.
    pub depends_on: Vec<usize>,
}

/// A reason the manifest cannot be applied as written (shown before anything is changed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanError {
    /// Stable code (`immutable-subdomain`, `soft-deleted`, …).
    pub code: String,
    /// The resource.
    pub target: String,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub help: String,
    /// Manifest path of the offending item, for source spans (`accounts[0].customSubdomain`).
    pub manifest_path: Option<String>,
}

/// The plan: data you can save, inspect and apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Plan format version.
    pub format_version: u32,
    /// Manifest name.
    pub manifest: String,
    /// Subscription.
    pub subscription: String,
    /// Fingerprint of the observed state the plan was made against (apply refuses a stale plan).
    pub fingerprint: String,
    /// Actions in a valid order.
    pub actions: Vec<Action>,
    /// Problems that stop apply.
    pub errors: Vec<PlanError>,
    /// Number of desired items already in place.
    pub unchanged: usize,
    /// System-assigned identities the manifest's VMs already had when planned (`rg/name` key →
    /// object id), so verification after apply needs no second observation. Identities enabled
    /// by this plan come from apply's results.
    pub vm_principals: BTreeMap<String, String>,
}

impl Plan {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Fingerprint of an observed state: SHA-256 of its canonical JSON.
pub fn fingerprint(observed: &Observed) -> String {
    use sha2::Digest;
    let json = serde_json::to_vec(observed).expect("observed state serialises");
    hex::encode(sha2::Sha256::digest(json))
}

/// Computes the plan. Pure: same inputs, same plan.
pub fn plan(desired: &Desired, observed: &Observed) -> Plan {
    let mut b = Builder::default();
    let sub = &desired.subscription;

    // Resource groups.
    let mut rg_action: BTreeMap<String, usize> = BTreeMap::new();
    for rg in &desired.resource_groups {
        let id = rg_id(sub, &rg.name);
        match observed
            .resource_groups
            .get(&rg.name.to_ascii_lowercase())
            .cloned()
            .flatten()
        {
            None => {
                let a = b.push(
                    ActionKind::CreateResourceGroup { spec: rg.clone() },
                    id,
                    "does not exist",
                    create_changes(&[("location", &rg.location)], &rg.tags),
                    vec![],
                );
                rg_action.insert(rg.name.to_ascii_lowercase(), a);
            }
            Some(o) => {
                if !o.location.eq_ignore_ascii_case(&rg.location) {
                    b.error(
                        "rg-location",
                        &id,
                        format!(
                            "resource group exists in `{}`, the manifest says `{}`",
                            o.location, rg.location
                        ),
                        "a resource group cannot move; set `location` to the existing region",
                        None,
                    );
                }
                let missing = missing_tags(&o.tags, &rg.tags);
                if missing.is_empty() {
                    b.unchanged += 1;
                } else {
                    let a = b.push(
                        ActionKind::UpdateResourceGroup { spec: rg.clone() },
                        id,
                        "tags differ",
                        missing,
                        vec![],
                    );
                    rg_action.insert(rg.name.to_ascii_lowercase(), a);
                }
            }
        }
    }

    // Accounts and their deployments.
    let mut account_ready: BTreeMap<String, usize> = BTreeMap::new();
    for acc in &desired.accounts {
        let k = key(&acc.resource_group, &acc.name);
        let id = acc.id(sub);
        let rg_dep: Vec<usize> = rg_action
            .get(&acc.resource_group.to_ascii_lowercase())
            .into_iter()
            .copied()
            .collect();
        let observed_acc = observed.accounts.get(&k);
        let mut deployments_observed: BTreeMap<String, DeploymentSpec> = BTreeMap::new();
        let mut account_dep: Option<usize> = None;
        match observed_acc {
            None | Some(ObservedAccount::Missing { subdomain_available: true, .. }) => {
                let a = b.push(
                    ActionKind::CreateAccount { spec: acc.clone() },
                    id.clone(),
                    "does not exist",
                    account_create_changes(acc),
                    rg_dep,
                );
                account_dep = Some(a);
            }
            Some(ObservedAccount::Missing { subdomain_available: false, reason }) => {
                b.error(
                    "subdomain-taken",
                    &id,
                    format!(
                        "custom subdomain `{}` is not available{}",
                        acc.custom_subdomain,
                        reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
                    ),
                    "custom subdomains are global across Azure; pick another `customSubdomain` (checkDomainAvailability said no)",
                    Some(format!("accounts[name={}].customSubdomain", acc.name)),
                );
            }
            Some(ObservedAccount::SoftDeleted { location }) => match acc.on_soft_deleted {
                OnSoftDeleted::Restore => {
                    let a = b.push(
                        ActionKind::RestoreAccount { spec: acc.clone(), deleted_location: location.clone() },
                        id.clone(),
                        "soft-deleted; onSoftDeleted: restore",
                        vec![FieldChange { field: "properties.restore".into(), from: None, to: Some("true".into()) }],
                        rg_dep,
                    );
                    account_dep = Some(a);
                }
                OnSoftDeleted::Purge => {
                    let p = b.push(
                        ActionKind::PurgeAccount {
                            resource_group: acc.resource_group.clone(),
                            name: acc.name.clone(),
                            location: location.clone(),
                        },
                        format!("deleted account {}/{} in {}", acc.resource_group, acc.name, location),
                        "soft-deleted; onSoftDeleted: purge (its keys and deployments are lost for good)",
                        vec![],
                        vec![],
                    );
                    let mut deps = rg_dep;
                    deps.push(p);
                    let a = b.push(
                        ActionKind::CreateAccount { spec: acc.clone() },
                        id.clone(),
                        "created again after purge",
                        account_create_changes(acc),
                        deps,
                    );
                    account_dep = Some(a);
                }
                OnSoftDeleted::Fail => b.error(
                    "soft-deleted",
                    &id,
                    format!("an account named `{}` is soft-deleted (Azure keeps it, and its subdomain, for 48 h)", acc.name),
                    "set `onSoftDeleted: restore` to bring it back, or `onSoftDeleted: purge` to delete it for good and create a new one",
                    Some(format!("accounts[name={}].onSoftDeleted", acc.name)),
                ),
            },
            Some(ObservedAccount::Live(live)) => {
                deployments_observed = live.deployments.clone();
                let mut immutable = false;
                if live.custom_subdomain.as_deref().map(str::to_ascii_lowercase)
                    != Some(acc.custom_subdomain.to_ascii_lowercase())
                {
                    immutable = true;
                    b.error(
                        "immutable-subdomain",
                        &id,
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
                        &id,
                        format!("account kind is `{}` in Azure, `{}` in the manifest", live.kind, acc.kind),
                        "an account's kind cannot be changed; set `kind` back or use a new account name",
                        Some(format!("accounts[name={}].kind", acc.name)),
                    );
                }
                let changes = account_update_changes(acc, live);
                if !immutable && !changes.is_empty() {
                    let a = b.push(ActionKind::UpdateAccount { spec: acc.clone() }, id.clone(), "properties differ", changes, vec![]);
                    account_dep = Some(a);
                } else if !immutable {
                    b.unchanged += 1;
                }
            }
        }
        if let Some(a) = account_dep {
            account_ready.insert(id.to_ascii_lowercase(), a);
        }
        // Deployments of one account run one at a time: chain them.
        let mut prev = account_dep;
        for d in &acc.deployments {
            match deployments_observed.get(&d.name.to_ascii_lowercase()) {
                Some(o) if o == d => b.unchanged += 1,
                existing => {
                    let changes = deployment_changes(existing, d);
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
                        changes,
                        prev.into_iter().collect(),
                    );
                    prev = Some(a);
                }
            }
        }
    }

    // VM identities.
    let mut vm_action: BTreeMap<String, usize> = BTreeMap::new();
    for vm in &desired.vm_identities {
        let id = vm_id(sub, &vm.resource_group, &vm.name);
        match observed.vms.get(&vm.key()) {
            None | Some(None) => b.error(
                "vm-not-found",
                &id,
                format!(
                    "virtual machine `{}` not found in resource group `{}`",
                    vm.name, vm.resource_group
                ),
                "keyless gives identities to existing VMs only; check the name and resource group",
                None,
            ),
            Some(Some(o)) if o.system_principal_id.is_some() => b.unchanged += 1,
            Some(Some(o)) => {
                let a = b.push(
                    ActionKind::EnableVmIdentity {
                        vm: vm.clone(),
                        keep_user_assigned: o.user_assigned.clone(),
                    },
                    id,
                    if o.user_assigned.is_empty() {
                        "no system-assigned identity".to_string()
                    } else {
                        format!(
                            "no system-assigned identity (keeps {} user-assigned)",
                            o.user_assigned.len()
                        )
                    },
                    vec![FieldChange {
                        field: "identity.type".into(),
                        from: Some(if o.user_assigned.is_empty() {
                            "None".into()
                        } else {
                            "UserAssigned".into()
                        }),
                        to: Some(if o.user_assigned.is_empty() {
                            "SystemAssigned".into()
                        } else {
                            "SystemAssigned, UserAssigned".into()
                        }),
                    }],
                    vec![],
                );
                vm_action.insert(vm.key(), a);
            }
        }
    }

    // Role assignments.
    let mut wanted: BTreeSet<(String, String, String)> = BTreeSet::new();
    for spec in &desired.assignments {
        let scope_key = spec.scope.trim_end_matches('/').to_ascii_lowercase();
        let mut deps: Vec<usize> = Vec::new();
        if let Some(a) = account_ready.get(&scope_key) {
            deps.push(*a);
        } else if let Some(a) = scope_rg_action(&scope_key, sub, &rg_action) {
            deps.push(a);
        }
        let resolved_principal: Option<String> = match &spec.principal {
            PrincipalTarget::Known { id, .. } => Some(id.clone()),
            PrincipalTarget::VmIdentity { vm } => match observed.vms.get(&vm.key()) {
                Some(Some(o)) => o.system_principal_id.clone(),
                _ => None,
            },
        };
        let principal_id = resolved_principal.as_deref().map(str::to_ascii_lowercase);
        if let PrincipalTarget::VmIdentity { vm } = &spec.principal {
            if let Some(a) = vm_action.get(&vm.key()) {
                deps.push(*a);
            } else if principal_id.is_none() {
                // VM missing: already reported as an error above.
                continue;
            }
        }
        let role = role_guid(&spec.role_definition_id);
        if let Some(pid) = &principal_id {
            wanted.insert((scope_key.clone(), role.clone(), pid.clone()));
            let exists = observed.assignments.get(&scope_key).is_some_and(|list| {
                list.iter().any(|o| {
                    role_guid(&o.role_definition_id) == role
                        && o.principal_id.eq_ignore_ascii_case(pid)
                })
            });
            if exists {
                b.unchanged += 1;
                continue;
            }
        }
        let name = principal_id
            .as_deref()
            .map(|p| assignment_name(&spec.scope, &spec.role_definition_id, p));
        let target = format!(
            "{} → {} @ {}",
            spec.role_name,
            spec.principal.display(),
            spec.scope
        );
        b.push(
            ActionKind::CreateRoleAssignment {
                spec: spec.clone(),
                name,
                principal_id: resolved_principal,
            },
            target,
            "not assigned",
            vec![
                FieldChange {
                    field: "roleDefinitionId".into(),
                    from: None,
                    to: Some(spec.role_definition_id.clone()),
                },
                FieldChange {
                    field: "principalId".into(),
                    from: None,
                    to: Some(
                        principal_id
                            .clone()
                            .unwrap_or_else(|| "(known after the VM identity is enabled)".into()),
                    ),
                },
            ],
            deps,
        );
    }

    // Prune: only assignments carrying this manifest's marker, only at scopes it manages.
    if desired.prune {
        for (scope, list) in &observed.assignments {
            for o in list {
                let owned = is_owned_by(o.description.as_deref(), &desired.manifest);
                let key = (
                    scope.clone(),
                    role_guid(&o.role_definition_id),
                    o.principal_id.to_ascii_lowercase(),
                );
                if owned && !wanted.contains(&key) {
                    b.push(
                        ActionKind::DeleteRoleAssignment {
                            assignment: o.clone(),
                        },
                        o.id.clone(),
                        "owned by this manifest and no longer declared (prune: true)",
                        vec![],
                        vec![],
                    );
                }
            }
        }
    }

    Plan {
        format_version: PLAN_FORMAT_VERSION,
        manifest: desired.manifest.clone(),
        subscription: desired.subscription.clone(),
        fingerprint: fingerprint(observed),
        actions: b.actions,
        errors: b.errors,
        unchanged: b.unchanged,
        vm_principals: desired
            .vm_identities
            .iter()
            .filter_map(|vm| match observed.vms.get(&vm.key()) {
                Some(Some(o)) => o.system_principal_id.clone().map(|p| (vm.key(), p)),
                _ => None,
            })
            .collect(),
    }
}

fn scope_rg_action(
    scope_key: &str,
    sub: &str,
    rg_action: &BTreeMap<String, usize>,
) -> Option<usize> {
    let prefix = format!(
        "/subscriptions/{}/resourcegroups/",
        sub.to_ascii_lowercase()
    );
    let rest = scope_key.strip_prefix(&prefix)?;
    let rg = rest.split('/').next()?;
    rg_action.get(rg).copied()
}

#[derive(Default)]
struct Builder {
    actions: Vec<Action>,
    errors: Vec<PlanError>,
    unchanged: usize,
}

impl Builder {
    fn push(
        &mut self,
        kind: ActionKind,
        target: String,
        reason: impl Into<String>,
        changes: Vec<FieldChange>,
        depends_on: Vec<usize>,
    ) -> usize {
        let id = self.actions.len();
        self.actions.push(Action {
            id,
            kind,
            target,
            reason: reason.into(),
            changes,
            depends_on,
        });
        id
    }

    fn error(
        &mut self,
        code: &str,
        target: &str,
        message: String,
        help: &str,
        manifest_path: Option<String>,
    ) {
        self.errors.push(PlanError {
            code: code.into(),
            target: target.into(),
            message,
            help: help.into(),
            manifest_path,
        });
    }
}

fn create_changes(fields: &[(&str, &str)], tags: &BTreeMap<String, String>) -> Vec<FieldChange> {
    let mut v: Vec<FieldChange> = fields
        .iter()
        .map(|(f, t)| FieldChange {
            field: (*f).into(),
            from: None,
            to: Some((*t).into()),
        })
        .collect();
    for (k, val) in tags {
        v.push(FieldChange {
            field: format!("tags.{k}"),
            from: None,
            to: Some(val.clone()),
        });
    }
    v
}

/// Tags the manifest wants that Azure lacks or has with another value (others' tags are kept).
fn missing_tags(
    observed: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> Vec<FieldChange> {
    desired
        .iter()
        .filter(|(k, v)| observed.get(*k) != Some(*v))
        .map(|(k, v)| FieldChange {
            field: format!("tags.{k}"),
            from: observed.get(k).cloned(),
            to: Some(v.clone()),
        })
        .collect()
}

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

#[cfg(test)]
mod tests;

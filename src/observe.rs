//! Observe: read the current state of everything the manifest names, with bulk reads.
//!
//! Cost model (what the benchmarks check): per resource group 1 GET; per account 1 GET + 1
//! deployments list (or 1 checkDomainAvailability when absent, plus one subscription-wide list
//! of soft-deleted accounts shared by all absent accounts); per VM 1 GET; per scope 1 role-
//! assignment list. Nothing grows with the number of principals.

use crate::azure::arm::Arm;
use crate::azure::error::AzureError;
use crate::model::*;
use futures::stream::{self, StreamExt, TryStreamExt};
use std::collections::BTreeMap;

/// Reads what Azure has for `desired`, `parallelism` requests at a time.
pub async fn observe(
    arm: &Arm,
    desired: &Desired,
    parallelism: usize,
) -> Result<Observed, AzureError> {
    let parallelism = parallelism.max(1);
    let mut o = Observed::default();

    let rgs: Vec<(String, Option<ObservedRg>)> =
        stream::iter(desired.resource_groups.iter().map(|rg| async move {
            Ok::<_, AzureError>((
                rg.name.to_ascii_lowercase(),
                arm.get_resource_group(&rg.name).await?,
            ))
        }))
        .buffer_unordered(parallelism)
        .try_collect()
        .await?;
    o.resource_groups.extend(rgs);

    let accounts: Vec<(String, Option<LiveAccount>, &AccountSpec)> =
        stream::iter(desired.accounts.iter().map(|a| async move {
            let live = arm.get_account(&a.resource_group, &a.name).await?;
            Ok::<_, AzureError>((key(&a.resource_group, &a.name), live, a))
        }))
        .buffer_unordered(parallelism)
        .try_collect()
        .await?;

    let any_missing = accounts.iter().any(|(_, live, _)| live.is_none());
    let deleted = if any_missing {
        arm.list_deleted_accounts().await?
    } else {
        BTreeMap::new()
    };
    let missing: Vec<&AccountSpec> = accounts
        .iter()
        .filter(|(k, l, _)| l.is_none() && !deleted.contains_key(k))
        .map(|(_, _, a)| *a)
        .collect();
    // A subdomain that is taken may have been taken by this very account, created since it was
    // read (a concurrent apply of the same manifest): read it again before calling it taken.
    /// (account key, (subdomain available, reason), the account if it exists after all).
    type Availability = (String, (bool, Option<String>), Option<LiveAccount>);
    let availability: Vec<Availability> = stream::iter(missing.into_iter().map(|a| async move {
        let k = key(&a.resource_group, &a.name);
        let available = arm.check_subdomain(&a.custom_subdomain, &a.kind).await?;
        let appeared = if available.0 {
            None
        } else {
            arm.get_account(&a.resource_group, &a.name).await?
        };
        Ok::<_, AzureError>((k, available, appeared))
    }))
    .buffer_unordered(parallelism)
    .try_collect()
    .await?;
    let mut appeared: BTreeMap<String, LiveAccount> = BTreeMap::new();
    let availability: BTreeMap<String, (bool, Option<String>)> = availability
        .into_iter()
        .map(|(k, available, live)| {
            if let Some(l) = live {
                appeared.insert(k.clone(), l);
            }
            (k, available)
        })
        .collect();
    for (k, live, _) in accounts {
        let live = live.or_else(|| appeared.remove(&k));
        let state = match (live, deleted.get(&k)) {
            (Some(l), _) => ObservedAccount::Live(l),
            (None, Some(loc)) => ObservedAccount::SoftDeleted {
                location: loc.clone(),
            },
            (None, None) => {
                let (ok, reason) = availability.get(&k).cloned().unwrap_or((true, None));
                ObservedAccount::Missing {
                    subdomain_available: ok,
                    reason,
                }
            }
        };
        o.accounts.insert(k, state);
    }

    let vms: Vec<(String, Option<ObservedVm>)> =
        stream::iter(desired.vm_identities.iter().map(|vm| async move {
            Ok::<_, AzureError>((vm.key(), arm.get_vm(&vm.resource_group, &vm.name).await?))
        }))
        .buffer_unordered(parallelism)
        .try_collect()
        .await?;
    o.vms.extend(vms);

    // One list per scope that exists (a scope that is about to be created has no assignments).
    // With prune, every account and resource group of the manifest is listed too: an owned
    // assignment at a scope no remaining entry names must still be found to be pruned.
    let mut scopes: BTreeMap<String, String> = desired
        .assignments
        .iter()
        .map(|a| a.scope.trim_end_matches('/').to_string())
        .map(|s| (s.to_ascii_lowercase(), s))
        .collect();
    if desired.prune {
        let managed = desired
            .accounts
            .iter()
            .map(|a| a.id(&desired.subscription))
            .chain(
                desired
                    .resource_groups
                    .iter()
                    .map(|rg| rg_id(&desired.subscription, &rg.name)),
            );
        for s in managed {
            scopes.entry(s.to_ascii_lowercase()).or_insert(s);
        }
    }
    let existing: Vec<String> = scopes
        .into_values()
        .filter(|s| scope_exists(s, desired, &o))
        .collect();
    let lists: Vec<(String, Vec<ObservedAssignment>)> =
        stream::iter(existing.into_iter().map(|s| async move {
            let mut list = arm.list_assignments_at(&s).await?;
            list.sort();
            Ok::<_, AzureError>((s.to_ascii_lowercase(), list))
        }))
        .buffer_unordered(parallelism)
        .try_collect()
        .await?;
    o.assignments.extend(lists);
    Ok(o)
}

/// Whether a scope exists according to what was just observed (unknown scopes are assumed to).
fn scope_exists(scope: &str, desired: &Desired, o: &Observed) -> bool {
    let s = scope.to_ascii_lowercase();
    for a in &desired.accounts {
        if a.id(&desired.subscription).to_ascii_lowercase() == s {
            return matches!(
                o.accounts.get(&key(&a.resource_group, &a.name)),
                Some(ObservedAccount::Live(_))
            );
        }
    }
    for rg in &desired.resource_groups {
        if rg_id(&desired.subscription, &rg.name).to_ascii_lowercase() == s {
            return matches!(
                o.resource_groups.get(&rg.name.to_ascii_lowercase()),
                Some(Some(_))
            );
        }
    }
    true
}

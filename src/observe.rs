//! Observe: read the current state of everything the manifest names, with bulk reads.
//!
//! Cost model (what the benchmarks check): per resource group 1 GET; per account 1 GET + 1
//! deployments list (or 1 checkDomainAvailability when absent, plus one subscription-wide list
//! of soft-deleted accounts shared by all absent accounts); per VM 1 GET; per scope 1 role-
//! assignment list. Nothing grows with the number of principals.
//!
//! The reads run in phases, one after the other, each phase `parallelism` requests at a time:
//! resource groups, accounts (then the soft-deleted list and subdomain checks for absent ones),
//! VMs, role assignments at every scope that exists.

use crate::azure::arm::Arm;
use crate::azure::error::AzureError;
use crate::model::*;
use futures::stream::{self, StreamExt, TryStreamExt};
use std::collections::BTreeMap;
use std::future::Future;

/// Reads what Azure has for `desired`, `parallelism` requests at a time.
pub async fn observe(
    arm: &Arm,
    desired: &Desired,
    parallelism: usize,
) -> Result<Observed, AzureError> {
    let parallelism = parallelism.max(1);
    let mut o = Observed::default();
    o.resource_groups
        .extend(resource_groups(arm, desired, parallelism).await?);
    accounts(arm, desired, parallelism, &mut o.accounts).await?;
    o.vms.extend(vms(arm, desired, parallelism).await?);
    let existing = existing_scopes(desired, &o);
    o.assignments
        .extend(assignments(arm, existing, parallelism).await?);
    Ok(o)
}

/// Runs `reads` at most `parallelism` at a time; the first error wins. Results come in the
/// order they finish.
async fn concurrently<T, F>(
    reads: impl IntoIterator<Item = F>,
    parallelism: usize,
) -> Result<Vec<T>, AzureError>
where
    F: Future<Output = Result<T, AzureError>>,
{
    stream::iter(reads)
        .buffer_unordered(parallelism)
        .try_collect()
        .await
}

/// One GET per resource group, by lower-cased name.
async fn resource_groups(
    arm: &Arm,
    desired: &Desired,
    parallelism: usize,
) -> Result<Vec<(String, Option<ObservedRg>)>, AzureError> {
    let reads = desired.resource_groups.iter().map(|rg| async move {
        Ok((
            rg.name.to_ascii_lowercase(),
            arm.get_resource_group(&rg.name).await?,
        ))
    });
    concurrently(reads, parallelism).await
}

/// (subdomain available, reason) of an absent account, as the subdomain check answers.
type Subdomain = (bool, Option<String>);

/// One GET per account; for the absent ones, the soft-deleted list (once) and a subdomain check
/// each. Inserts every account's state into `out`, by account key.
async fn accounts(
    arm: &Arm,
    desired: &Desired,
    parallelism: usize,
    out: &mut BTreeMap<String, ObservedAccount>,
) -> Result<(), AzureError> {
    let reads = desired.accounts.iter().map(|a| async move {
        let live = arm.get_account(&a.resource_group, &a.name).await?;
        Ok((key(&a.resource_group, &a.name), live, a))
    });
    let accounts: Vec<(String, Option<LiveAccount>, &AccountSpec)> =
        concurrently(reads, parallelism).await?;

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
    let (availability, mut appeared) = subdomains(arm, missing, parallelism).await?;
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
        out.insert(k, state);
    }
    Ok(())
}

/// Checks the subdomain of every `missing` account. Returns the answers by account key, and the
/// accounts found to exist after all (by key).
///
/// A subdomain that is taken may have been taken by this very account, created since it was
/// read (a concurrent apply of the same manifest): it is read again before being called taken.
async fn subdomains(
    arm: &Arm,
    missing: Vec<&AccountSpec>,
    parallelism: usize,
) -> Result<(BTreeMap<String, Subdomain>, BTreeMap<String, LiveAccount>), AzureError> {
    /// (account key, the subdomain check's answer, the account if it exists after all).
    type Availability = (String, Subdomain, Option<LiveAccount>);
    let reads = missing.into_iter().map(|a| async move {
        let k = key(&a.resource_group, &a.name);
        let available = arm.check_subdomain(&a.custom_subdomain, &a.kind).await?;
        let appeared = if available.0 {
            None
        } else {
            arm.get_account(&a.resource_group, &a.name).await?
        };
        Ok((k, available, appeared))
    });
    let availability: Vec<Availability> = concurrently(reads, parallelism).await?;
    let mut appeared: BTreeMap<String, LiveAccount> = BTreeMap::new();
    let availability: BTreeMap<String, Subdomain> = availability
        .into_iter()
        .map(|(k, available, live)| {
            if let Some(l) = live {
                appeared.insert(k.clone(), l);
            }
            (k, available)
        })
        .collect();
    Ok((availability, appeared))
}

/// One GET per VM, by VM key.
async fn vms(
    arm: &Arm,
    desired: &Desired,
    parallelism: usize,
) -> Result<Vec<(String, Option<ObservedVm>)>, AzureError> {
    let reads = desired
        .vm_identities
        .iter()
        .map(|vm| async move { Ok((vm.key(), arm.get_vm(&vm.resource_group, &vm.name).await?)) });
    concurrently(reads, parallelism).await
}

/// The scopes whose role assignments must be listed, as written (trailing `/` trimmed): one per
/// scope that exists (a scope that is about to be created has no assignments). With prune, every
/// account and resource group of the manifest is listed too: an owned assignment at a scope no
/// remaining entry names must still be found to be pruned.
fn existing_scopes(desired: &Desired, o: &Observed) -> Vec<String> {
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
    scopes
        .into_values()
        .filter(|s| scope_exists(s, desired, o))
        .collect()
}

/// One role-assignment list per scope, sorted, by lower-cased scope.
async fn assignments(
    arm: &Arm,
    scopes: Vec<String>,
    parallelism: usize,
) -> Result<Vec<(String, Vec<ObservedAssignment>)>, AzureError> {
    let reads = scopes.into_iter().map(|s| async move {
        let mut list = arm.list_assignments_at(&s).await?;
        list.sort();
        Ok((s.to_ascii_lowercase(), list))
    });
    concurrently(reads, parallelism).await
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

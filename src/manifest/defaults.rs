//! Defaults that depend on other parts of the manifest.
//!
//! serde fills in fixed defaults (`sku: S0`, `verify.timeout: 15m`); this module fills in the
//! ones derived from elsewhere in the file — inherited locations, merged tags, the resource group
//! of a `vm:` principal — so consumers of a loaded manifest never re-implement them. It runs
//! only on manifests that passed validation, so every lookup here succeeds.

use super::model::{Manifest, PrincipalRef, Tags};

/// `base` overlaid with `own` (the item's own tags win).
fn merged(base: &Tags, own: &Tags) -> Tags {
    let mut out = base.clone();
    out.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// Applies the derived defaults in place.
pub(crate) fn apply(m: &mut Manifest) {
    let top_location = m.location.clone().unwrap_or_default();
    for rg in &mut m.resource_groups {
        if rg.location.is_empty() {
            rg.location.clone_from(&top_location);
        }
        rg.tags = merged(&m.tags, &rg.tags);
    }
    for i in 0..m.accounts.len() {
        if m.accounts[i].location.is_empty() {
            let location = if top_location.is_empty() {
                m.resource_group(&m.accounts[i].resource_group)
                    .map(|rg| rg.location.clone())
                    .unwrap_or_default()
            } else {
                top_location.clone()
            };
            m.accounts[i].location = location;
        }
        m.accounts[i].tags = merged(&m.tags, &m.accounts[i].tags);
    }
    let identities = m.managed_identities.clone();
    for ra in &mut m.role_assignments {
        for p in &mut ra.principals {
            if let PrincipalRef::Vm {
                name,
                resource_group: rg @ None,
            } = p
            {
                *rg = identities
                    .iter()
                    .find(|mi| mi.vm.eq_ignore_ascii_case(name))
                    .map(|mi| mi.resource_group.clone());
            }
        }
    }
}

//! VM identities: enable the system-assigned identity where a VM lacks one (keeping its
//! user-assigned identities), and report VMs that do not exist.

use super::builder::{ActionsByKey, Builder};
use super::types::{ActionKind, FieldChange};
use crate::model::{vm_id, Observed, ObservedVm, VmRef};
use std::collections::BTreeMap;

/// Plans every VM that should have a system-assigned identity. Returns, by `rg/name` key, the
/// action that enables it: what the assignments to that identity wait for.
pub(super) fn plan_vm_identities(
    b: &mut Builder,
    sub: &str,
    vms: &[VmRef],
    observed: &Observed,
) -> ActionsByKey {
    let mut vm_actions = ActionsByKey::new();
    for vm in vms {
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
                let (reason, change) = enable_identity(o);
                let a = b.push(
                    ActionKind::EnableVmIdentity {
                        vm: vm.clone(),
                        keep_user_assigned: o.user_assigned.clone(),
                    },
                    id,
                    reason,
                    vec![change],
                    vec![],
                );
                vm_actions.insert(vm.key(), a);
            }
        }
    }
    vm_actions
}

/// Reason and diff of enabling the system identity on a VM that may have user-assigned ones.
fn enable_identity(o: &ObservedVm) -> (String, FieldChange) {
    let keeps = !o.user_assigned.is_empty();
    let reason = if keeps {
        format!(
            "no system-assigned identity (keeps {} user-assigned)",
            o.user_assigned.len()
        )
    } else {
        "no system-assigned identity".to_string()
    };
    let (from, to) = if keeps {
        ("UserAssigned", "SystemAssigned, UserAssigned")
    } else {
        ("None", "SystemAssigned")
    };
    let change = FieldChange {
        field: "identity.type".into(),
        from: Some(from.into()),
        to: Some(to.into()),
    };
    (reason, change)
}

/// System-assigned identities the VMs already have (`rg/name` key → object id), carried in the
/// plan so verification after apply needs no second observation.
pub(super) fn existing_principals(vms: &[VmRef], observed: &Observed) -> BTreeMap<String, String> {
    vms.iter()
        .filter_map(|vm| match observed.vms.get(&vm.key()) {
            Some(Some(o)) => o.system_principal_id.clone().map(|p| (vm.key(), p)),
            _ => None,
        })
        .collect()
}

//! Populates ARM from the world file (DESIGN.md "World file"): subscriptions, resource groups,
//! user-assigned identities, VMs (creating their identities' service principals), accounts and
//! deployments, soft-deleted accounts, subdomains held elsewhere, and role assignments.

use super::accounts::deployments::{catalogue_entry, Deployment};
use super::accounts::{Account, DeletedAccount};
use super::assignments::RoleAssignment;
use super::identities::{self, NewIdentity};
use super::ids::normalize_location;
use super::resource_groups::ResourceGroup;
use super::vms::{Vm, VmIdentity};
use super::{ids, roles, ArmState, Settings, Subscription};
use crate::model::State;
use crate::world::World;
use serde_json::{json, Map, Value};

/// Populates `state.arm` from `world` (everything ready and effective at `now`).
pub fn seed(state: &mut State, world: &World, now: f64) {
    let tenant = world.tenant.id.clone();
    let default_sub = world.default_subscription().unwrap_or_default().to_string();
    let sub_of = |s: &Option<String>| s.clone().unwrap_or_else(|| default_sub.clone());
    let mut arm = ArmState {
        settings: Settings::from_world(world),
        ..Default::default()
    };
    for s in &world.subscriptions {
        arm.subscriptions.push(Subscription {
            id: s.id.clone(),
            display_name: if s.name.is_empty() {
                s.id.clone()
            } else {
                s.name.clone()
            },
            tenant_id: tenant.clone(),
        });
    }
    for r in &world.resource_groups {
        arm.resource_groups.push(ResourceGroup {
            subscription_id: sub_of(&r.subscription),
            name: r.name.clone(),
            location: normalize_location(&r.location),
            tags: tags(&r.tags),
            managed_by: None,
        });
    }
    for v in &world.vms {
        let sub = sub_of(&v.subscription);
        let mut vm = Vm {
            subscription_id: sub.clone(),
            resource_group: v.resource_group.clone(),
            name: v.name.clone(),
            location: normalize_location(&v.location),
            os: if v.os.eq_ignore_ascii_case("windows") {
                "Windows".into()
            } else {
                "Linux".into()
            },
            vm_id: uuid::Uuid::new_v4().to_string(),
            size: "Standard_D2s_v3".into(),
            tags: Map::new(),
            identity: VmIdentity::default(),
            created_at: now,
            updating_until: 0.0,
            active_run: None,
            overlay: Value::Null,
        };
        for u in &v.user_assigned_identities {
            let usub = u.subscription.clone().unwrap_or_else(|| sub.clone());
            let id = ids::resource_id(
                &usub,
                &u.resource_group,
                "Microsoft.ManagedIdentity",
                "userAssignedIdentities",
                &u.name,
            );
            if identities::find(&arm, &id).is_none() {
                let new = NewIdentity {
                    subscription_id: &usub,
                    resource_group: &u.resource_group,
                    name: &u.name,
                    location: vm.location.clone(),
                    tags: Map::new(),
                    tenant_id: &tenant,
                };
                identities::create(&mut state.directory, &mut arm.identities, new, now, 0.0);
            }
            vm.identity.user_assigned.push(id);
        }
        if v.system_assigned {
            let (pid, _) = state
                .directory
                .create_managed_identity(&v.name, &vm.id(), now, 0.0);
            vm.identity.system_principal_id = Some(pid);
        }
        arm.vms.push(vm);
    }
    for a in &world.accounts {
        let mut acct = account(
            &sub_of(&a.subscription),
            &a.resource_group,
            &a.name,
            &a.location,
            &a.kind,
            &a.sku,
            a.custom_subdomain.clone(),
            a.disable_local_auth,
            now,
        );
        acct.tags = tags(&a.tags);
        for d in &a.deployments {
            let (name, version) = catalogue_entry(&d.model.name, Some(&d.model.version))
                .map(|(n, v, _)| (n.to_string(), v.to_string()))
                .unwrap_or_else(|| (d.model.name.clone(), d.model.version.clone()));
            acct.deployments.push(Deployment {
                name: d.name.clone(),
                sku_name: d.sku.name.clone(),
                capacity: d.sku.capacity.max(1),
                model_format: d.model.format.clone(),
                model_name: name,
                model_version: version,
                extra: Map::new(),
                written_at: now,
                ready_at: now,
                updating: false,
                deleting_until: None,
            });
        }
        arm.accounts.push(acct);
    }
    for d in &world.deleted_accounts {
        let acct = account(
            &sub_of(&d.subscription),
            &d.resource_group,
            &d.name,
            &d.location,
            &d.kind,
            "S0",
            d.custom_subdomain.clone(),
            true,
            now,
        );
        arm.deleted_accounts.push(DeletedAccount {
            account: acct,
            deleted_at: now,
        });
    }
    arm.taken_subdomains = world.taken_subdomains.clone();
    for r in &world.role_assignments {
        let Some(role) = roles::resolve(&r.role) else {
            continue;
        };
        let Some(principal) = state.directory.resolve(&r.principal) else {
            continue;
        };
        let scope = ids::normalize_scope(&r.scope);
        let principal_type = r
            .principal_type
            .clone()
            .or_else(|| {
                state
                    .directory
                    .lookup(&principal, now)
                    .map(|p| p.kind.as_str().to_string())
            })
            .unwrap_or_else(|| "User".into());
        let name = r.name.clone().unwrap_or_else(|| {
            uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_URL,
                format!("{scope}|{principal}|{}", role.id)
                    .to_ascii_lowercase()
                    .as_bytes(),
            )
            .to_string()
        });
        arm.role_assignments.push(RoleAssignment {
            name,
            scope,
            role_definition_id: role.id.to_string(),
            principal_id: principal,
            principal_type,
            description: r.description.clone(),
            condition: None,
            condition_version: None,
            created_on: now,
            updated_on: now,
            created_by: None,
            updated_by: None,
            effective_at: 0.0,
        });
    }
    state.arm = arm;
}

#[allow(clippy::too_many_arguments)]
fn account(
    sub: &str,
    rg: &str,
    name: &str,
    location: &str,
    kind: &str,
    sku: &str,
    subdomain: Option<String>,
    disable_local_auth: bool,
    now: f64,
) -> Account {
    Account {
        subscription_id: sub.to_string(),
        resource_group: rg.to_string(),
        name: name.to_string(),
        location: normalize_location(location),
        kind: kind.to_string(),
        sku: json!({"name": sku}),
        tags: Map::new(),
        identity_type: None,
        identity_principal_id: None,
        custom_subdomain: subdomain,
        disable_local_auth,
        extra: Map::new(),
        created_at: now,
        ready_at: now,
        version: 1,
        key1: super::accounts::new_key(),
        key2: super::accounts::new_key(),
        internal_id: uuid::Uuid::new_v4().simple().to_string(),
        created_by: String::new(),
        deployments: vec![],
    }
}

fn tags(t: &std::collections::BTreeMap<String, String>) -> Map<String, Value> {
    t.iter().map(|(k, v)| (k.clone(), json!(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORLD: &str = r#"
tenant: { id: 72f988bf-86f1-41af-91ab-2d7cd011db47 }
subscriptions: [ { id: 00000000-0000-0000-0000-000000000001, name: Dev } ]
users: [ { upn: alice@contoso.com, id: aaaaaaaa-0000-0000-0000-000000000001 } ]
groups: [ { name: devs, id: 99999999-0000-0000-0000-000000000001, members: [ "vm:rg-ci/agent" ] } ]
resourceGroups: [ { name: rg-ci, location: East US, tags: { a: b } } ]
vms:
  - { name: agent, resourceGroup: rg-ci, location: eastus, systemAssigned: true, userAssignedIdentities: [ { name: u1, resourceGroup: rg-ci } ] }
accounts:
  - { name: oai, resourceGroup: rg-ci, location: eastus, customSubdomain: my-oai, disableLocalAuth: true,
      deployments: [ { name: chat, model: { name: gpt-4o-mini, version: "2024-07-18" }, sku: { name: GlobalStandard, capacity: 10 } } ] }
deletedAccounts: [ { name: gone, resourceGroup: rg-ci, location: eastus, customSubdomain: gone-sub } ]
takenSubdomains: [ contoso-prod ]
roleAssignments:
  - { scope: "/subscriptions/00000000-0000-0000-0000-000000000001", role: Reader, principal: "user:alice@contoso.com" }
  - { scope: "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ci", role: "Cognitive Services OpenAI User", principal: "vm:rg-ci/agent" }
"#;

    #[test]
    fn seeds_everything() {
        let w = World::parse(WORLD, "t").unwrap();
        let mut state = State {
            directory: crate::model::directory::Directory::from_world(&w),
            ..Default::default()
        };
        seed(&mut state, &w, 100.0);
        state.directory.resolve_pending_members();
        let arm = &state.arm;
        assert_eq!(arm.resource_groups[0].location, "eastus");
        let vm = &arm.vms[0];
        let pid = vm.identity.system_principal_id.clone().unwrap();
        assert!(state.directory.lookup(&pid, 100.0).is_some());
        assert_eq!(vm.identity_type(), Some("SystemAssigned, UserAssigned"));
        assert_eq!(arm.identities.len(), 1);
        assert_eq!(arm.accounts[0].deployments[0].capacity, 10);
        assert_eq!(
            arm.deleted_accounts[0].account.custom_subdomain.as_deref(),
            Some("gone-sub")
        );
        assert_eq!(arm.role_assignments.len(), 2);
        assert_eq!(arm.role_assignments[0].principal_type, "User");
        assert_eq!(arm.role_assignments[1].principal_id, pid);
        assert_eq!(arm.role_assignments[1].principal_type, "ServicePrincipal");
        assert!(state
            .directory
            .transitive_groups(&pid)
            .contains(&"99999999-0000-0000-0000-000000000001".to_string()));
    }
}

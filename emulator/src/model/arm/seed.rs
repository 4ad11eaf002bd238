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
use crate::model::directory::Directory;
use crate::model::State;
use crate::world::{self, World};
use serde_json::{json, Map, Value};

/// What every seeding step needs: the world, the moment, the tenant and the default
/// subscription (resources without one go there).
struct Seed<'a> {
    world: &'a World,
    now: f64,
    tenant: String,
    default_sub: String,
}

impl Seed<'_> {
    fn sub_of(&self, s: &Option<String>) -> String {
        s.clone().unwrap_or_else(|| self.default_sub.clone())
    }
}

/// Populates `state.arm` from `world` (everything ready and effective at `now`).
pub fn seed(state: &mut State, world: &World, now: f64) {
    let s = Seed {
        world,
        now,
        tenant: world.tenant.id.clone(),
        default_sub: world.default_subscription().unwrap_or_default().to_string(),
    };
    let mut arm = ArmState {
        settings: Settings::from_world(world),
        ..Default::default()
    };
    containers(&s, &mut arm);
    for v in &world.vms {
        let vm = seed_vm(&s, &mut state.directory, &mut arm, v);
        arm.vms.push(vm);
    }
    for a in &world.accounts {
        arm.accounts.push(live_account(&s, a));
    }
    for d in &world.deleted_accounts {
        arm.deleted_accounts.push(deleted_account(&s, d));
    }
    arm.taken_subdomains = world.taken_subdomains.clone();
    for r in &world.role_assignments {
        if let Some(a) = role_assignment(&s, &state.directory, r) {
            arm.role_assignments.push(a);
        }
    }
    state.arm = arm;
}

/// Subscriptions and resource groups.
fn containers(s: &Seed<'_>, arm: &mut ArmState) {
    let (world, tenant) = (s.world, &s.tenant);
    for sub in &world.subscriptions {
        arm.subscriptions.push(Subscription {
            id: sub.id.clone(),
            display_name: if sub.name.is_empty() {
                sub.id.clone()
            } else {
                sub.name.clone()
            },
            tenant_id: tenant.clone(),
        });
    }
    for r in &world.resource_groups {
        arm.resource_groups.push(ResourceGroup {
            subscription_id: s.sub_of(&r.subscription),
            name: r.name.clone(),
            location: normalize_location(&r.location),
            tags: tags(&r.tags),
            managed_by: None,
        });
    }
}

/// A VM, creating its user-assigned identities (once) and its system-assigned identity.
fn seed_vm(s: &Seed<'_>, dir: &mut Directory, arm: &mut ArmState, v: &world::Vm) -> Vm {
    let sub = s.sub_of(&v.subscription);
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
        created_at: s.now,
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
        if identities::find(arm, &id).is_none() {
            let new = NewIdentity {
                subscription_id: &usub,
                resource_group: &u.resource_group,
                name: &u.name,
                location: vm.location.clone(),
                tags: Map::new(),
                tenant_id: &s.tenant,
            };
            identities::create(dir, &mut arm.identities, new, s.now, 0.0);
        }
        vm.identity.user_assigned.push(id);
    }
    if v.system_assigned {
        let (pid, _) = dir.create_managed_identity(&v.name, &vm.id(), s.now, 0.0);
        vm.identity.system_principal_id = Some(pid);
    }
    vm
}

/// A live account with its deployments.
fn live_account(s: &Seed<'_>, a: &world::Account) -> Account {
    let mut acct = account(
        &s.sub_of(&a.subscription),
        &a.resource_group,
        &a.name,
        &a.location,
        &a.kind,
        &a.sku,
        a.custom_subdomain.clone(),
        a.disable_local_auth,
        s.now,
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
            written_at: s.now,
            ready_at: s.now,
            updating: false,
            deleting_until: None,
        });
    }
    acct
}

/// A soft-deleted account (holds its name and subdomain).
fn deleted_account(s: &Seed<'_>, d: &world::DeletedAccount) -> DeletedAccount {
    let acct = account(
        &s.sub_of(&d.subscription),
        &d.resource_group,
        &d.name,
        &d.location,
        &d.kind,
        "S0",
        d.custom_subdomain.clone(),
        true,
        s.now,
    );
    DeletedAccount {
        account: acct,
        deleted_at: s.now,
    }
}

/// A role assignment of the world (`None` when its role or principal does not resolve).
fn role_assignment(
    s: &Seed<'_>,
    dir: &Directory,
    r: &world::RoleAssignment,
) -> Option<RoleAssignment> {
    let role = roles::resolve(&r.role)?;
    let principal = dir.resolve(&r.principal)?;
    let scope = ids::normalize_scope(&r.scope);
    let principal_type = r
        .principal_type
        .clone()
        .or_else(|| {
            dir.lookup(&principal, s.now)
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
    Some(RoleAssignment {
        name,
        scope,
        role_definition_id: role.id.to_string(),
        principal_id: principal,
        principal_type,
        description: r.description.clone(),
        condition: None,
        condition_version: None,
        created_on: s.now,
        updated_on: s.now,
        created_by: None,
        updated_by: None,
        effective_at: 0.0,
    })
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

//! Entra ID directory: tenant, users, groups (with members), applications (client secrets,
//! federated credentials), service principals (including managed identities).
//!
//! Objects created at run time (a VM's new system-assigned identity) become visible to lookups
//! only after the directory replication delay: `visible_from` is the moment they replicate.
//! Token issuance does not wait for replication (an identity can sign in at once); ARM principal
//! lookups and Graph do.

use crate::world::{self, PrincipalRef, World};
use serde::{Deserialize, Serialize};

/// The Entra ID directory of the emulated tenant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    /// Tenant id.
    pub tenant_id: String,
    /// Primary domain (accepted in place of the tenant id in authority URLs).
    pub domain: String,
    /// Users.
    pub users: Vec<User>,
    /// Groups.
    pub groups: Vec<Group>,
    /// Application registrations (credentials live here).
    pub applications: Vec<Application>,
    /// Service principals (applications' and managed identities').
    pub service_principals: Vec<ServicePrincipal>,
    /// Group memberships of `vm:` references, resolved once the VM identities exist.
    #[serde(default)]
    pub pending_vm_members: Vec<PendingMember>,
}

/// A group member that names a VM whose identity does not exist yet.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PendingMember {
    /// Group object id.
    pub group_id: String,
    /// Resource group of the VM.
    pub resource_group: String,
    /// VM name.
    pub vm: String,
}

/// A user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Object id.
    pub id: String,
    /// UPN.
    pub user_principal_name: String,
    /// Display name.
    pub display_name: String,
    /// Unix seconds from which lookups find it.
    pub visible_from: f64,
}

/// A security group.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Object id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Direct members (object ids).
    pub members: Vec<String>,
    /// Unix seconds from which lookups find it.
    pub visible_from: f64,
}

/// An application registration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// Display name.
    pub display_name: String,
    /// Application (client) id.
    pub app_id: String,
    /// Client secret values.
    pub secrets: Vec<String>,
    /// Federated identity credentials.
    pub federated_credentials: Vec<world::FederatedCredential>,
    /// Certificate thumbprints (hex SHA-1, upper-case).
    pub certificates: Vec<String>,
}

/// What kind of service principal.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum SpKind {
    /// An application's service principal.
    Application,
    /// A managed identity (system- or user-assigned).
    ManagedIdentity,
}

/// A service principal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    /// Object id (the principal id RBAC checks).
    pub id: String,
    /// Application (client) id.
    pub app_id: String,
    /// Display name.
    pub display_name: String,
    /// Application or managed identity.
    pub kind: SpKind,
    /// For managed identities: the VM or user-assigned identity resource id.
    pub mi_resource_id: Option<String>,
    /// `servicePrincipalNames` (the appId, plus identifier URIs).
    pub service_principal_names: Vec<String>,
    /// Graph application permissions (`roles` in Graph tokens).
    pub graph_roles: Vec<String>,
    /// Unix seconds from which lookups find it.
    pub visible_from: f64,
}

/// The kind of a directory object, as RBAC and Graph name it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A user.
    User,
    /// A group.
    Group,
    /// A service principal (applications and managed identities).
    ServicePrincipal,
}

impl PrincipalKind {
    /// The `principalType` string ARM uses.
    pub fn as_str(&self) -> &'static str {
        match self {
            PrincipalKind::User => "User",
            PrincipalKind::Group => "Group",
            PrincipalKind::ServicePrincipal => "ServicePrincipal",
        }
    }
}

/// What a lookup returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalInfo {
    /// Object id.
    pub oid: String,
    /// Kind.
    pub kind: PrincipalKind,
    /// What Azure names it in messages: UPN for users, appId for service principals, display
    /// name for groups.
    pub display: String,
}

impl Directory {
    /// Builds the directory from a world file (all objects visible from the start).
    pub fn from_world(w: &World) -> Directory {
        let mut d = Directory {
            tenant_id: w.tenant.id.clone(),
            domain: w.tenant.domain.clone(),
            ..Default::default()
        };
        for u in &w.users {
            d.users.push(User {
                id: u.id.clone(),
                user_principal_name: u.upn.clone(),
                display_name: u
                    .display_name
                    .clone()
                    .unwrap_or_else(|| u.upn.split('@').next().unwrap_or(&u.upn).to_string()),
                visible_from: 0.0,
            });
        }
        for a in &w.applications {
            d.applications.push(Application {
                display_name: a.name.clone(),
                app_id: a.app_id.clone(),
                secrets: a.secrets.clone(),
                federated_credentials: a.federated_credentials.clone(),
                certificates: a
                    .certificates
                    .iter()
                    .map(|c| c.to_ascii_uppercase())
                    .collect(),
            });
            d.service_principals.push(ServicePrincipal {
                id: a.object_id.clone(),
                app_id: a.app_id.clone(),
                display_name: a.name.clone(),
                kind: SpKind::Application,
                mi_resource_id: None,
                service_principal_names: vec![a.app_id.clone()],
                graph_roles: a.graph_roles.clone(),
                visible_from: 0.0,
            });
        }
        for g in &w.groups {
            d.groups.push(Group {
                id: g.id.clone(),
                display_name: g.name.clone(),
                members: vec![],
                visible_from: 0.0,
            });
        }
        for g in &w.groups {
            for m in &g.members {
                match world::parse_ref(m) {
                    Some(PrincipalRef::Vm { rg, name }) => {
                        d.pending_vm_members.push(PendingMember {
                            group_id: g.id.clone(),
                            resource_group: rg.to_string(),
                            vm: name.to_string(),
                        })
                    }
                    Some(r) => {
                        if let Some(oid) = d.resolve_ref(&r, w) {
                            if let Some(gr) = d.groups.iter_mut().find(|x| x.id == g.id) {
                                gr.members.push(oid);
                            }
                        }
                    }
                    None => {}
                }
            }
        }
        d
    }

    fn resolve_ref(&self, r: &PrincipalRef<'_>, w: &World) -> Option<String> {
        match r {
            PrincipalRef::User(upn) => self.user_by_upn(upn).map(|u| u.id.clone()),
            PrincipalRef::Group(n) => w.groups.iter().find(|g| g.name == *n).map(|g| g.id.clone()),
            PrincipalRef::App(n) => w
                .applications
                .iter()
                .find(|a| a.name == *n)
                .map(|a| a.object_id.clone()),
            PrincipalRef::Vm { rg, name } => self.resolve_vm(rg, name),
            PrincipalRef::Id(id) => Some(id.to_string()),
        }
    }

    /// The system-assigned identity of VM `rg/name`, if it exists.
    fn resolve_vm(&self, rg: &str, name: &str) -> Option<String> {
        let suffix = format!(
            "/resourcegroups/{}/providers/microsoft.compute/virtualmachines/{}",
            rg.to_ascii_lowercase(),
            name.to_ascii_lowercase()
        );
        self.service_principals
            .iter()
            .find(|sp| {
                sp.mi_resource_id
                    .as_deref()
                    .is_some_and(|id| id.to_ascii_lowercase().ends_with(&suffix))
            })
            .map(|sp| sp.id.clone())
    }

    /// Resolves a world principal reference (`user:`, `group:`, `app:`, `vm:rg/name`, GUID) to an
    /// object id. `vm:` resolves only once the VM's system-assigned identity exists.
    pub fn resolve(&self, reference: &str) -> Option<String> {
        match world::parse_ref(reference)? {
            PrincipalRef::User(upn) => self.user_by_upn(upn).map(|u| u.id.clone()),
            PrincipalRef::Group(n) => self
                .groups
                .iter()
                .find(|g| g.display_name == n)
                .map(|g| g.id.clone()),
            PrincipalRef::App(n) => self
                .service_principals
                .iter()
                .find(|sp| sp.kind == SpKind::Application && sp.display_name == n)
                .map(|sp| sp.id.clone()),
            PrincipalRef::Vm { rg, name } => self.resolve_vm(rg, name),
            PrincipalRef::Id(id) => Some(id.to_string()),
        }
    }

    /// Adds the group memberships that named VMs (`vm:rg/name`) whose identities now exist.
    /// Called after ARM seeding created the VM identities.
    pub fn resolve_pending_members(&mut self) {
        let pending = std::mem::take(&mut self.pending_vm_members);
        for p in pending {
            match self.resolve_vm(&p.resource_group, &p.vm) {
                Some(oid) => {
                    if let Some(g) = self.groups.iter_mut().find(|g| g.id == p.group_id) {
                        if !g.members.contains(&oid) {
                            g.members.push(oid);
                        }
                    }
                }
                None => self.pending_vm_members.push(p),
            }
        }
    }

    /// A user by UPN (case-insensitive), replicated or not.
    pub fn user_by_upn(&self, upn: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.user_principal_name.eq_ignore_ascii_case(upn))
    }

    /// An application registration by client id.
    pub fn application(&self, app_id: &str) -> Option<&Application> {
        self.applications
            .iter()
            .find(|a| a.app_id.eq_ignore_ascii_case(app_id))
    }

    /// A service principal by object id, replicated or not (token issuance does not wait).
    pub fn service_principal(&self, oid: &str) -> Option<&ServicePrincipal> {
        self.service_principals
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(oid))
    }

    /// A service principal by application id, replicated or not.
    pub fn service_principal_by_app_id(&self, app_id: &str) -> Option<&ServicePrincipal> {
        self.service_principals
            .iter()
            .find(|s| s.app_id.eq_ignore_ascii_case(app_id))
    }

    /// Looks up any directory object by object id, honouring replication (`visible_from`).
    pub fn lookup(&self, oid: &str, now: f64) -> Option<PrincipalInfo> {
        if let Some(u) = self.users.iter().find(|u| u.id.eq_ignore_ascii_case(oid)) {
            return (u.visible_from <= now).then(|| PrincipalInfo {
                oid: u.id.clone(),
                kind: PrincipalKind::User,
                display: u.user_principal_name.clone(),
            });
        }
        if let Some(g) = self.groups.iter().find(|g| g.id.eq_ignore_ascii_case(oid)) {
            return (g.visible_from <= now).then(|| PrincipalInfo {
                oid: g.id.clone(),
                kind: PrincipalKind::Group,
                display: g.display_name.clone(),
            });
        }
        let sp = self.service_principal(oid)?;
        (sp.visible_from <= now).then(|| PrincipalInfo {
            oid: sp.id.clone(),
            kind: PrincipalKind::ServicePrincipal,
            display: sp.app_id.clone(),
        })
    }

    /// Object ids of every group `oid` belongs to, directly or through nested groups.
    pub fn transitive_groups(&self, oid: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut frontier = vec![oid.to_ascii_lowercase()];
        while let Some(cur) = frontier.pop() {
            for g in &self.groups {
                if g.members.iter().any(|m| m.eq_ignore_ascii_case(&cur))
                    && !out.iter().any(|x| x.eq_ignore_ascii_case(&g.id))
                {
                    out.push(g.id.clone());
                    frontier.push(g.id.to_ascii_lowercase());
                }
            }
        }
        out
    }

    /// Creates the service principal of a new managed identity and returns
    /// `(principal_id, client_id)`. It resolves in lookups only after `replication_delay` seconds.
    pub fn create_managed_identity(
        &mut self,
        display: &str,
        vm_resource_id: &str,
        now: f64,
        replication_delay: f64,
    ) -> (String, String) {
        let principal_id = uuid::Uuid::new_v4().to_string();
        let client_id = uuid::Uuid::new_v4().to_string();
        self.service_principals.push(ServicePrincipal {
            id: principal_id.clone(),
            app_id: client_id.clone(),
            display_name: display.to_string(),
            kind: SpKind::ManagedIdentity,
            mi_resource_id: Some(vm_resource_id.to_string()),
            service_principal_names: vec![
                client_id.clone(),
                format!(
                    "https://identity.azure.net/{}",
                    uuid::Uuid::new_v4().simple()
                ),
            ],
            graph_roles: vec![],
            visible_from: now + replication_delay.max(0.0),
        });
        (principal_id, client_id)
    }

    /// Deletes a service principal (a disabled managed identity). Role assignments naming it
    /// become orphans; group memberships are dropped.
    pub fn delete_service_principal(&mut self, oid: &str) {
        self.service_principals
            .retain(|s| !s.id.eq_ignore_ascii_case(oid));
        for g in &mut self.groups {
            g.members.retain(|m| !m.eq_ignore_ascii_case(oid));
        }
    }

    /// True when `tenant` (from an authority URL) names this tenant: its id or its domain.
    pub fn is_tenant(&self, tenant: &str) -> bool {
        tenant.eq_ignore_ascii_case(&self.tenant_id) || tenant.eq_ignore_ascii_case(&self.domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        World::parse(
            r#"
tenant: { id: 72f988bf-86f1-41af-91ab-2d7cd011db47 }
subscriptions: [ { id: 00000000-0000-0000-0000-000000000001 } ]
users: [ { upn: alice@contoso.com, id: aaaaaaaa-0000-0000-0000-000000000001 } ]
groups:
  - { name: inner, id: 99999999-0000-0000-0000-000000000001, members: [ "user:alice@contoso.com" ] }
  - { name: outer, id: 99999999-0000-0000-0000-000000000002, members: [ "group:inner" ] }
"#,
            "t",
        )
        .expect("world")
    }

    #[test]
    fn transitive_membership() {
        let d = Directory::from_world(&world());
        let mut g = d.transitive_groups("aaaaaaaa-0000-0000-0000-000000000001");
        g.sort();
        assert_eq!(
            g,
            vec![
                "99999999-0000-0000-0000-000000000001".to_string(),
                "99999999-0000-0000-0000-000000000002".to_string()
            ]
        );
    }

    #[test]
    fn managed_identity_replicates_late() {
        let mut d = Directory::from_world(&world());
        let (pid, _cid) = d.create_managed_identity(
            "vm1",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1",
            100.0,
            30.0,
        );
        assert!(d.lookup(&pid, 110.0).is_none());
        let info = d.lookup(&pid, 130.0).expect("replicated");
        assert_eq!(info.kind, PrincipalKind::ServicePrincipal);
        assert_eq!(d.resolve("vm:rg/vm1").as_deref(), Some(pid.as_str()));
        d.delete_service_principal(&pid);
        assert!(d.lookup(&pid, 200.0).is_none());
    }
}

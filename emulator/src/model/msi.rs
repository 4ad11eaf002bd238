//! Managed identity rules, as the platform applies them inside a VM: which VM a per-VM endpoint
//! secret stands for, which of the VM's identities a token request selects, and the token
//! cache (per identity and resource; a cached token is reused until five minutes before expiry,
//! so group changes reach a managed-identity token only then).
//!
//! Plain data: `services::msi` parses the two endpoint styles and renders the platform's bodies.

use super::directory::{Directory, ServicePrincipal, SpKind};
use crate::tokens::Issued;
use std::collections::HashMap;

/// A VM that was given a managed-identity endpoint secret (see `services::msi::vm_child_env`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsiHost {
    /// The VM's ARM resource id.
    pub vm_resource_id: String,
    /// Principal ids of the identities attached to the VM when the secret was issued.
    pub principal_ids: Vec<String>,
}

/// Endpoint secrets handed to VM children: secret → VM. One secret per VM, reused across runs.
#[derive(Debug, Clone, Default)]
pub struct Hosts(HashMap<String, MsiHost>);

impl Hosts {
    /// The VM behind `secret` (`None` for an empty or unknown secret).
    pub fn get(&self, secret: &str) -> Option<MsiHost> {
        if secret.is_empty() {
            return None;
        }
        self.0.get(secret).cloned()
    }

    /// Registers (or refreshes) the VM's current identities and returns its secret: the one it
    /// already has, else `new_secret()`.
    pub fn register(
        &mut self,
        vm_resource_id: &str,
        principal_ids: &[String],
        new_secret: impl FnOnce() -> String,
    ) -> String {
        let existing = self
            .0
            .iter()
            .find(|(_, h)| h.vm_resource_id.eq_ignore_ascii_case(vm_resource_id))
            .map(|(s, _)| s.clone());
        let secret = existing.unwrap_or_else(new_secret);
        self.0.insert(
            secret.clone(),
            MsiHost {
                vm_resource_id: vm_resource_id.to_string(),
                principal_ids: principal_ids.to_vec(),
            },
        );
        secret
    }

    /// Forgets every secret (admin reset).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// Which identity a token request names (`client_id`, `object_id`/`principal_id`,
/// `msi_res_id`/`mi_res_id`), or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector<'a> {
    /// No selector: the system-assigned identity, else the only user-assigned one.
    Default,
    /// `client_id`.
    ClientId(&'a str),
    /// `object_id` / `principal_id`.
    ObjectId(&'a str),
    /// `msi_res_id` / `mi_res_id`.
    ResourceId(&'a str),
}

/// Why no identity answers a token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// No selector and several user-assigned identities.
    #[error("Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request")]
    Ambiguous,
    /// Nothing matches.
    #[error("Identity not found")]
    NotFound,
}

/// The identity of VM `host` that `selector` picks: among its system-assigned identity (a
/// managed identity whose resource id is the VM) and the user-assigned ones attached when the
/// secret was issued, if they still exist.
pub fn select<'a>(
    dir: &'a Directory,
    host: &MsiHost,
    selector: Selector<'_>,
) -> Result<&'a ServicePrincipal, SelectError> {
    let is_system = |sp: &ServicePrincipal| {
        sp.mi_resource_id
            .as_deref()
            .is_some_and(|id| id.eq_ignore_ascii_case(&host.vm_resource_id))
    };
    let identities: Vec<&ServicePrincipal> = dir
        .service_principals
        .iter()
        .filter(|sp| {
            sp.kind == SpKind::ManagedIdentity
                && (is_system(sp)
                    || host
                        .principal_ids
                        .iter()
                        .any(|p| p.eq_ignore_ascii_case(&sp.id)))
        })
        .collect();
    let found = match selector {
        Selector::ClientId(v) => identities
            .iter()
            .find(|sp| sp.app_id.eq_ignore_ascii_case(v)),
        Selector::ObjectId(v) => identities.iter().find(|sp| sp.id.eq_ignore_ascii_case(v)),
        Selector::ResourceId(v) => identities.iter().find(|sp| {
            sp.mi_resource_id
                .as_deref()
                .is_some_and(|id| id.eq_ignore_ascii_case(v))
        }),
        Selector::Default => match identities.iter().find(|sp| is_system(sp)) {
            Some(s) => Some(s),
            None if identities.len() > 1 => return Err(SelectError::Ambiguous),
            None => identities.first(),
        },
    };
    found.copied().ok_or(SelectError::NotFound)
}

/// Managed-identity tokens already issued, per identity and resource.
#[derive(Debug, Clone, Default)]
pub struct TokenCache(HashMap<String, Issued>);

/// A cached token is reused while it has more than this many seconds left.
pub const REUSE_MARGIN: f64 = 300.0;

impl TokenCache {
    fn key(principal_id: &str, resource: &str) -> String {
        format!("{}|{}", principal_id.to_ascii_lowercase(), resource)
    }

    /// The cached token of `principal_id` for `resource`, if it has more than
    /// [`REUSE_MARGIN`] seconds left at `now`.
    pub fn fresh(&self, principal_id: &str, resource: &str, now: f64) -> Option<Issued> {
        self.0
            .get(&Self::key(principal_id, resource))
            .filter(|t| (t.exp as f64) - now > REUSE_MARGIN)
            .cloned()
    }

    /// Caches a newly issued token.
    pub fn insert(&mut self, principal_id: &str, resource: &str, issued: Issued) {
        self.0.insert(Self::key(principal_id, resource), issued);
    }

    /// Drops every cached token (admin reset, token-lifetime change).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

//! Entra ID directory: tenant, users, groups (with members), applications (client secrets,
//! federated credentials), service principals (including managed identities).
//!
//! Objects created at run time (a VM's new system-assigned identity) become visible to lookups
//! only after the directory replication delay: `visible_from` is the moment they replicate.

use serde::{Deserialize, Serialize};

/// The Entra ID directory of the emulated tenant. (Filled in by the Entra ID model.)
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Directory {}

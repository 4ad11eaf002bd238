//! State and rules of each emulated service, as plain serialisable data plus pure functions.
//!
//! `State` is the whole emulated world. It is persisted as one JSON document, so everything in it
//! must be `Serialize + Deserialize`. Time is passed in (`now` as unix seconds, f64) rather than
//! read from the clock, so rules are deterministic in tests.

pub mod arm;
pub mod dataplane;
pub mod directory;
pub mod entra;
pub mod graph;
pub mod msi;
pub mod rbac;

use crate::world::World;
use serde::{Deserialize, Serialize};

/// The whole emulated world: the directory (Entra ID), ARM and the data plane's usage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Tenant, users, groups, applications, service principals, managed identities.
    pub directory: directory::Directory,
    /// Subscriptions and everything under them, plus role definitions/assignments.
    pub arm: arm::ArmState,
    /// Azure OpenAI data-plane rate windows (omitted from the dump and the file while empty).
    #[serde(
        default,
        rename = "dataPlane",
        skip_serializing_if = "dataplane::Usage::is_empty"
    )]
    pub data_plane: dataplane::Usage,
}

impl State {
    /// The state a world starts as (at start without a state file, and on admin reset): the
    /// directory, then ARM (which may create VM identities), then group memberships that name
    /// those identities.
    pub fn seed(world: &World, now: f64) -> State {
        let mut state = State {
            directory: directory::Directory::from_world(world),
            ..Default::default()
        };
        arm::seed(&mut state, world, now);
        state.directory.resolve_pending_members();
        state
    }
}

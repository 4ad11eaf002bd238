//! ARM state and rules: subscriptions, resource groups, Cognitive Services accounts (and their
//! soft-deleted copies and deployments), virtual machines, role definitions and assignments, and
//! long-running operations.

use serde::{Deserialize, Serialize};

/// Everything ARM holds. (Filled in by the ARM model modules.)
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ArmState {}

/// Populates ARM from the world file. STUB (no-op) added by the platform engineer so
/// `Emulator::start` compiles; the ARM engineer replaces it.
pub fn seed(_state: &mut crate::model::State, _world: &crate::world::World, _now: f64) {}

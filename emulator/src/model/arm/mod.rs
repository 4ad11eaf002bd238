//! ARM state and rules: subscriptions, resource groups, Cognitive Services accounts (and their
//! soft-deleted copies and deployments), virtual machines, role definitions and assignments, and
//! long-running operations.

use serde::{Deserialize, Serialize};

/// Everything ARM holds. (Filled in by the ARM model modules.)
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ArmState {}

//! The saved plan file (`plan --out FILE`, `apply FILE`): each manifest's plan — apply's whole
//! contract — plus what the stale check needs to re-observe Azure (the resolved desired state,
//! which verification after apply also probes), so apply needs neither the manifest nor Graph
//! again. Schema in `docs/plan.schema.json`.

use crate::model::Desired;
use crate::plan::{Plan, PLAN_FORMAT_VERSION};
use crate::verify::VerifySettings;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One manifest's part of a saved plan.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavedManifestPlan {
    /// The manifest file.
    pub path: String,
    /// Resolved desired state.
    pub desired: Desired,
    /// The plan.
    pub plan: Plan,
    /// Verification settings (None when disabled).
    pub verify: Option<SavedVerify>,
    /// The emulator world, when planned with --emulator.
    pub emulator_world: Option<String>,
}

/// Serializable verification settings.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavedVerify {
    /// `chat` or `completions`.
    pub api: String,
    /// api-version.
    pub api_version: String,
    /// Seconds.
    pub timeout_secs: u64,
    /// Deployment.
    pub deployment: Option<String>,
}

impl From<&VerifySettings> for SavedVerify {
    fn from(v: &VerifySettings) -> Self {
        SavedVerify {
            api: v.api.clone(),
            api_version: v.api_version.clone(),
            timeout_secs: v.timeout.as_secs(),
            deployment: v.deployment.clone(),
        }
    }
}

impl From<&SavedVerify> for VerifySettings {
    fn from(v: &SavedVerify) -> Self {
        VerifySettings {
            api: v.api.clone(),
            api_version: v.api_version.clone(),
            timeout: std::time::Duration::from_secs(v.timeout_secs),
            deployment: v.deployment.clone(),
        }
    }
}

/// The file.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavedPlan {
    /// Must equal `PLAN_FORMAT_VERSION`.
    pub format_version: u32,
    /// keyless version that wrote it.
    pub keyless_version: String,
    /// When it was made.
    pub created_at: String,
    /// One entry per manifest.
    pub manifests: Vec<SavedManifestPlan>,
}

impl SavedPlan {
    /// A new saved plan.
    pub fn new(manifests: Vec<SavedManifestPlan>) -> SavedPlan {
        SavedPlan {
            format_version: PLAN_FORMAT_VERSION,
            keyless_version: env!("CARGO_PKG_VERSION").into(),
            created_at: now_rfc3339(),
            manifests,
        }
    }

    /// Reads a plan file if `path` is one (JSON with `format_version`); None for a manifest.
    pub fn try_read(path: &Path) -> Option<Result<SavedPlan, String>> {
        if path.is_dir() {
            return None;
        }
        let text = std::fs::read_to_string(path).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v.get("formatVersion")?;
        Some(serde_json::from_value::<SavedPlan>(v).map_err(|e| e.to_string()).and_then(|p| {
            if p.format_version == PLAN_FORMAT_VERSION {
                Ok(p)
            } else {
                Err(format!("plan format {} is not supported by this keyless (expects {PLAN_FORMAT_VERSION})", p.format_version))
            }
        }))
    }
}

/// RFC 3339 timestamp of now.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

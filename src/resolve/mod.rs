//! Resolve: turn a validated manifest into `Desired` — role names into role definition ids,
//! principals (UPNs, group names, appIds, object ids, `self`) into object ids and types.
//!
//! Built-in roles resolve offline; custom role names cost one request each. Principals resolve
//! through Microsoft Graph in batches (see `azure::graph`). VM identities stay symbolic
//! (`PrincipalTarget::VmIdentity`): their object id is observed, or created during apply.

mod assignments;
mod desired;
mod principals;
mod roles;

use crate::azure::arm::Arm;
use crate::azure::error::AzureError;
use crate::azure::graph::{CallerIdentity, Graph};
use crate::manifest::{self, LoadedManifest};
use crate::model::Desired;
use crate::verify::VerifySettings;
use miette::{Diagnostic, NamedSource, SourceSpan};

/// A principal or role the directory does not know, pointing at the manifest line.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(keyless::resolve))]
pub struct ResolveProblem {
    /// What is wrong.
    pub message: String,
    /// What to do.
    #[help]
    pub help: String,
    #[source_code]
    src: NamedSource<String>,
    #[label("here")]
    span: Option<SourceSpan>,
}

impl ResolveProblem {
    /// A problem at `path` in the manifest, labelled on its line when the path has a span.
    fn at(loaded: &LoadedManifest, path: &str, message: String, help: String) -> Self {
        ResolveProblem {
            message,
            help,
            src: NamedSource::new(
                loaded.path.display().to_string(),
                loaded.source.as_ref().clone(),
            ),
            span: loaded
                .spans
                .label(path)
                .map(|s| SourceSpan::new(s.start.into(), s.len())),
        }
    }
}

/// Resolution failed.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ResolveError {
    /// Principals or roles that could not be resolved.
    #[error("{} principal(s) or role(s) in the manifest could not be resolved", .0.len())]
    #[diagnostic(code(keyless::resolve::unresolved))]
    Unresolved(#[related] Vec<ResolveProblem>),
    /// Azure refused a lookup.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Azure(#[from] AzureError),
}

/// The verification settings of a manifest, in the verifier's terms (the manifest's own types
/// stay out of `verify`).
pub fn verify_settings(m: &manifest::Manifest) -> VerifySettings {
    VerifySettings {
        api: match m.verify.api {
            manifest::VerifyApi::Completions => "completions".into(),
            _ => "chat".into(),
        },
        api_version: m.verify.api_version.clone(),
        timeout: m.verify.timeout,
        deployment: m.verify.deployment.clone(),
    }
}

/// Resolves a loaded manifest for `caller`: roles first (ARM, one request per custom role
/// name), then every directory principal in one batched Graph lookup, then the desired state.
/// All unresolved roles and principals are reported together, each at its manifest line.
pub async fn resolve(
    loaded: &LoadedManifest,
    caller: &CallerIdentity,
    arm: &Arm,
    graph: &Graph,
) -> Result<Desired, ResolveError> {
    let m = &loaded.manifest;
    let mut problems = Vec::new();
    let roles = roles::resolve_roles(loaded, arm, &mut problems).await?;
    let found = principals::look_up(&m.role_assignments, graph).await?;
    let assignments = assignments::assignment_specs(loaded, caller, &roles, &found, &mut problems);
    if !problems.is_empty() {
        return Err(ResolveError::Unresolved(problems));
    }
    Ok(desired::desired(m, assignments))
}

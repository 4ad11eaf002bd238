//! Why a run could not go on, as types: the CLI renders them (miette for people, `Problem`s for
//! JSON) and a library caller can match on them.

use crate::azure::error::AzureError;
use crate::azure::session::SessionError;
use crate::manifest::ManifestError;
use crate::resolve::ResolveError;
use miette::Diagnostic;
use std::path::PathBuf;

/// A run-stopping error.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum EngineError {
    /// The manifests are invalid.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Manifest(#[from] ManifestError),
    /// Principals or roles could not be resolved.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Resolve(#[from] ResolveError),
    /// Signing in failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Session(#[from] SessionError),
    /// Azure refused a read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Azure(#[from] AzureError),
    /// `--emulator` without a world.
    #[error("--emulator needs a world file")]
    #[diagnostic(
        code(keyless::emulator::no_world),
        help(
            "add `emulator: {{ world: path/to/world.yaml }}` to the manifest, or pass --world FILE"
        )
    )]
    NoWorld,
    /// The world file is invalid.
    #[error("{0}")]
    #[diagnostic(code(keyless::emulator::world))]
    World(String),
    /// The embedded emulator did not start.
    #[error("cannot start the embedded emulator: {reason}")]
    #[diagnostic(
        code(keyless::emulator::start),
        help("delete {state} (or pass --reset-emulator) if the saved state is from another world")
    )]
    EmulatorStart {
        /// Why.
        reason: String,
        /// Its state file.
        state: String,
    },
    /// A saved plan file cannot be read.
    #[error("{}: {reason}", .path.display())]
    #[diagnostic(code(keyless::plan_file::invalid))]
    PlanFileInvalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A plan file cannot be written.
    #[error("cannot write plan file {}: {source}", .path.display())]
    #[diagnostic(code(keyless::plan_file::write))]
    PlanFileWrite {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Azure changed since the saved plan was made.
    #[error("refusing to apply a stale plan for manifest `{manifest}`")]
    #[diagnostic(
        code(keyless::plan_file::stale),
        help("Azure changed since the plan was made (someone else applied, or drift). Run `keyless plan --out FILE` again and review the new plan")
    )]
    StalePlan {
        /// The manifest.
        manifest: String,
    },
}

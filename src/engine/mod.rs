//! The reconcile engine: plan, apply and verify one or many manifests as library calls that
//! return typed outcomes and report progress as typed [`Event`]s.
//!
//! The command line is one user of it (it parses arguments, calls the engine and renders); a
//! long-running reconciler, an importer or a test is another. Everything that decides *what
//! happens* in a run lives here: connecting (embedded emulator, one session per subscription),
//! the resolve → observe → plan step per manifest, the stale check of a saved plan, scheduling
//! across subscriptions, cancellation, and when verification runs.
//!
//! Embedding the engine against the embedded emulator:
//!
//! ```
//! use keyless::engine::{Connect, Embedded, Engine, VerifyWhen};
//! use std::sync::Arc;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let connect = Connect {
//!     emulator: Some(Embedded {
//!         state_file: Some(dir.path().join("state.json")),
//!         ..Embedded::default()
//!     }),
//!     ..Connect::default()
//! };
//! let events = Arc::new(|e: keyless::engine::Event| {
//!     // A real caller renders or forwards these; the CLI prints them.
//!     let _ = e;
//! });
//! let manifest = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/manifests/quickstart.yaml"));
//! let mut engine = Engine::open(&[manifest], connect, 8, events).await.unwrap();
//! let planned = engine.plan_all().await.unwrap();
//! assert!(planned.iter().all(|p| p.plan.errors.is_empty()));
//! let outcome = engine.apply(&planned, VerifyWhen::Never).await;
//! assert!(outcome.status().is_success());
//! // Applied: a second plan has nothing to do.
//! let again = engine.plan_all().await.unwrap();
//! assert!(again.iter().all(|p| p.plan.is_empty()));
//! # });
//! ```

pub mod cancel;
pub mod connect;
pub mod error;
pub mod event;
pub mod outcome;
pub mod problem;
mod run;
pub mod saved;
pub mod schema;

pub use cancel::Cancel;
pub use error::EngineError;
pub use event::{Event, RunEvent, EVENT_SCHEMA_VERSION};
pub use outcome::{ManifestOutcome, RunOutcome, Status};
pub use problem::Problem;
pub use saved::{SavedManifestPlan, SavedPlan};

use crate::azure::credential::AuthMethod;
use crate::azure::session::Session;
use crate::manifest::LoadedManifest;
use crate::model::Desired;
use crate::plan::{self, Plan};
use crate::verify::VerifySettings;
use connect::Target;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where events go: a shareable callback (the CLI's renderer, a test's collector).
pub type EmitEvent = Arc<dyn Fn(Event) + Send + Sync>;

/// How to reach Azure (or the emulator).
#[derive(Debug, Clone)]
pub struct Connect {
    /// Azure cloud name (`AzureCloud`, `AzureUSGovernment`, `AzureChinaCloud`).
    pub cloud: String,
    /// Which credential.
    pub auth: AuthMethod,
    /// The client-side ARM pacer (off only for experiments).
    pub pacing: bool,
    /// Run against an embedded emulator instead.
    pub emulator: Option<Embedded>,
}

impl Default for Connect {
    fn default() -> Self {
        Connect {
            cloud: "AzureCloud".into(),
            auth: AuthMethod::Auto,
            pacing: true,
            emulator: None,
        }
    }
}

/// The embedded emulator's settings.
#[derive(Debug, Clone, Default)]
pub struct Embedded {
    /// World file (default: the manifest's `emulator.world`).
    pub world: Option<PathBuf>,
    /// Forget the saved state first.
    pub reset: bool,
    /// Where the state is kept (default `.keyless/emulator-state.json`).
    pub state_file: Option<PathBuf>,
}

/// When apply verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyWhen {
    /// Never (`--no-verify`).
    Never,
    /// Only when the plan changed something (the default: Run Command is an ARM write, and a
    /// no-op apply stays write-free).
    WhenChanged,
    /// Always (`--verify`).
    Always,
}

/// A planned manifest: everything apply and verification need.
pub struct Planned {
    /// The manifest file.
    pub path: PathBuf,
    /// The session for its subscription.
    pub session: Session,
    /// The resolved desired state (verification probes it; the stale check re-observes it).
    pub desired: Desired,
    /// The plan: apply's whole contract.
    pub plan: Plan,
    /// Verification settings (None when disabled).
    pub verify: Option<VerifySettings>,
    /// The plan's errors located in the manifest (empty for a saved plan: its manifest may have
    /// changed since).
    pub problems: Vec<Problem>,
}

/// A run against one target: the manifests, the sessions, the event sink, the cancel flag.
pub struct Engine {
    target: Target,
    connect: Connect,
    parallelism: usize,
    emit: EmitEvent,
    cancel: Cancel,
}

impl Engine {
    /// Loads the manifests at `paths` (starting the embedded emulator first when asked).
    pub async fn open(
        paths: &[PathBuf],
        connect: Connect,
        parallelism: usize,
        emit: EmitEvent,
    ) -> Result<Engine, EngineError> {
        let target = connect::prepare(paths, &connect, &emit).await?;
        Ok(Engine {
            target,
            connect,
            parallelism: parallelism.max(1),
            emit,
            cancel: Cancel::default(),
        })
    }

    /// Opens the target a saved plan was made against, re-observes every manifest and refuses
    /// the plan if Azure changed since ([`EngineError::StalePlan`]).
    pub async fn open_saved(
        saved: SavedPlan,
        mut connect: Connect,
        parallelism: usize,
        emit: EmitEvent,
    ) -> Result<(Engine, Vec<Planned>), EngineError> {
        let paths: Vec<PathBuf> = saved
            .manifests
            .iter()
            .map(|m| PathBuf::from(&m.path))
            .collect();
        if let Some(w) = saved
            .manifests
            .iter()
            .find_map(|m| m.emulator_world.clone())
        {
            let embedded = connect.emulator.get_or_insert_with(Embedded::default);
            embedded.world.get_or_insert(PathBuf::from(w));
        }
        let mut engine = Engine::open(&paths, connect, parallelism, emit).await?;
        let mut planned = Vec::new();
        for m in saved.manifests {
            let session = engine.session(&m.desired.subscription).await?;
            let observed =
                crate::observe::observe(&session.arm, &m.desired, engine.parallelism).await?;
            if plan::fingerprint(&observed) != m.plan.fingerprint {
                return Err(EngineError::StalePlan {
                    manifest: m.plan.manifest,
                });
            }
            planned.push(Planned {
                path: PathBuf::from(m.path),
                session,
                desired: m.desired,
                plan: m.plan,
                verify: m.verify.as_ref().map(Into::into),
                problems: Vec::new(),
            });
        }
        Ok((engine, planned))
    }

    /// The loaded manifests.
    pub fn manifests(&self) -> &[LoadedManifest] {
        &self.target.loaded.manifests
    }

    /// The emulator world in use, when embedded.
    pub fn world(&self) -> Option<&Path> {
        self.target.world.as_deref()
    }

    /// The cancel flag: request it (Ctrl-C) and the engine starts nothing new.
    pub fn cancel(&self) -> Cancel {
        self.cancel.clone()
    }

    /// The session for a subscription, signing in the first time.
    pub async fn session(&mut self, subscription: &str) -> Result<Session, EngineError> {
        self.target
            .session(subscription, &self.connect, &self.emit)
            .await
    }

    /// Resolves, observes and plans every manifest, emitting each plan.
    pub async fn plan_all(&mut self) -> Result<Vec<Planned>, EngineError> {
        let manifests = self.target.loaded.manifests.clone();
        let mut out = Vec::new();
        for lm in &manifests {
            out.push(self.plan(lm).await?);
        }
        Ok(out)
    }

    /// Resolves, observes and plans one manifest, and emits its plan (with its errors located in
    /// the manifest).
    pub async fn plan(&mut self, lm: &LoadedManifest) -> Result<Planned, EngineError> {
        let m = &lm.manifest;
        let session = self.session(&m.subscription).await?;
        self.emit(RunEvent::Observing {
            manifest: m.name.clone(),
        });
        let observed = async {
            let desired =
                crate::resolve::resolve(lm, &session.caller, &session.arm, &session.graph).await?;
            let observed =
                crate::observe::observe(&session.arm, &desired, self.parallelism).await?;
            Ok::<_, EngineError>((desired, observed))
        }
        .await;
        self.emit(RunEvent::Observed {
            manifest: m.name.clone(),
        });
        let (desired, observed) = observed?;
        let plan = plan::plan(&desired, &observed);
        let planned = Planned {
            path: lm.path.clone(),
            session,
            desired,
            verify: m.verify.enabled.then(|| crate::resolve::verify_settings(m)),
            problems: run::locate_plan_errors(lm, &plan),
            plan,
        };
        self.emit(RunEvent::Plan {
            manifest: planned.plan.manifest.clone(),
            path: planned.path.display().to_string(),
            problems: planned.problems.clone(),
            plan: planned.plan.clone(),
        });
        Ok(planned)
    }

    /// Writes `planned` to a plan file that `apply` accepts later.
    pub fn save(&self, planned: &[Planned], out: &Path) -> Result<(), EngineError> {
        let world = self.world().map(|w| w.display().to_string());
        let saved = SavedPlan::new(
            planned
                .iter()
                .map(|p| SavedManifestPlan {
                    path: p.path.display().to_string(),
                    desired: p.desired.clone(),
                    plan: p.plan.clone(),
                    verify: p.verify.as_ref().map(Into::into),
                    emulator_world: world.clone(),
                })
                .collect(),
        );
        let text = serde_json::to_string_pretty(&saved).expect("plan serialises");
        std::fs::write(out, text).map_err(|source| EngineError::PlanFileWrite {
            path: out.to_path_buf(),
            source,
        })?;
        self.emit(RunEvent::PlanSaved {
            path: out.display().to_string(),
        });
        Ok(())
    }

    /// Applies the plans, then verifies what changed (per `verify`). Manifests of different
    /// subscriptions run concurrently (each subscription has its own ARM budget); manifests of
    /// one subscription run one after the other. A plan with errors changes nothing at all.
    pub async fn apply(&self, planned: &[Planned], verify: VerifyWhen) -> RunOutcome {
        run::apply_all(self, planned, verify).await
    }

    /// Probes access for every manifest without changing anything.
    pub async fn verify_all(&mut self) -> Result<RunOutcome, EngineError> {
        let manifests = self.target.loaded.manifests.clone();
        let mut outcome = RunOutcome::default();
        for lm in &manifests {
            outcome.manifests.push(run::verify_one(self, lm).await?);
        }
        Ok(outcome)
    }

    /// Emits the request counts of every session opened so far (the end of a command).
    pub fn emit_request_counts(&self) {
        for s in self.target.sessions() {
            self.emit(RunEvent::Requests {
                subscription: s.arm.subscription.clone(),
                counts: s.requests(),
            });
        }
    }

    fn emit(&self, e: impl Into<Event>) {
        (self.emit)(e.into())
    }
}

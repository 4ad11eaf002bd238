//! Connecting to Azure or to the emulator: load manifests (with the emulator's environment when
//! it is embedded), start the embedded emulator, sign in once per subscription.

use super::error::EngineError;
use super::event::RunEvent;
use super::problem::Problem;
use super::{Connect, EmitEvent};
use crate::azure::pacer::Pacer;
use crate::azure::session::{CredentialSource, Session, SessionError};
use crate::cloud::CloudProfile;
use crate::manifest::{self, EnvLookup, LoadedManifests};
use keyless_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where the embedded emulator keeps its state between runs, by default.
pub const EMULATOR_STATE: &str = ".keyless/emulator-state.json";

/// What a run works against: the manifests, the embedded emulator when there is one, and one
/// signed-in session per subscription.
pub struct Target {
    /// The manifests.
    pub loaded: LoadedManifests,
    /// The embedded emulator, when `--emulator` (kept alive for the command's duration).
    pub emulator: Option<RunningEmulator>,
    /// The world file used, when `--emulator`.
    pub world: Option<PathBuf>,
    sessions: HashMap<String, Session>,
    env: Vec<(String, String)>,
}

/// Environment lookup with overrides (the emulator's variables win over the process's).
struct OverlayEnv(Vec<(String, String)>);

impl EnvLookup for OverlayEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
    }
}

/// Finds the world file: `--world`, else `emulator.world` of the first manifest that has one
/// (relative to that manifest).
fn world_path(paths: &[PathBuf], flag: Option<&Path>) -> Option<PathBuf> {
    if let Some(w) = flag {
        return Some(w.to_path_buf());
    }
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            if let Ok(rd) = std::fs::read_dir(p) {
                let mut v: Vec<PathBuf> = rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| {
                        matches!(f.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                    })
                    .collect();
                v.sort();
                files.extend(v);
            }
        } else {
            files.push(p.clone());
        }
    }
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let Ok(v) = serde_yaml::from_str::<serde_yaml::Value>(&text) else {
            continue;
        };
        if let Some(w) = v
            .get("emulator")
            .and_then(|e| e.get("world"))
            .and_then(|w| w.as_str())
        {
            return Some(f.parent().unwrap_or(Path::new(".")).join(w));
        }
    }
    None
}

/// Loads the manifests and, with an embedded emulator, starts it first (its environment names
/// the emulator's tenant, subscription and principals, which manifests interpolate).
pub async fn prepare(
    paths: &[PathBuf],
    opts: &Connect,
    emit: &EmitEvent,
) -> Result<Target, EngineError> {
    let mut env = Vec::new();
    let mut emulator = None;
    let mut world = None;
    if let Some(embedded) = &opts.emulator {
        let wpath = world_path(paths, embedded.world.as_deref()).ok_or(EngineError::NoWorld)?;
        let w = keyless_emulator::world::World::load(&wpath)
            .map_err(|e| EngineError::World(e.to_string()))?;
        let state = embedded
            .state_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(EMULATOR_STATE));
        if embedded.reset {
            let _ = std::fs::remove_file(&state);
        }
        if let Some(dir) = state.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let mut cfg = EmulatorConfig::new(w);
        cfg.state_file = Some(state.clone());
        let running =
            start_embedded(cfg, &state, emit)
                .await
                .map_err(|e| EngineError::EmulatorStart {
                    reason: e.to_string(),
                    state: state.display().to_string(),
                })?;
        env = running.client_env();
        emit(
            RunEvent::EmulatorStarted {
                url: running.base_url().to_string(),
                world: wpath.display().to_string(),
                state: state.display().to_string(),
            }
            .into(),
        );
        emulator = Some(running);
        world = Some(wpath);
    }
    let loaded = manifest::load(paths, &OverlayEnv(env.clone()))?;
    for w in &loaded.warnings {
        for problem in Problem::from_diagnostic(w) {
            emit(RunEvent::Warning { problem }.into());
        }
    }
    Ok(Target {
        loaded,
        emulator,
        world,
        sessions: HashMap::new(),
        env,
    })
}

impl Target {
    /// The session for a subscription (signed in once, then reused).
    pub async fn session(
        &mut self,
        subscription: &str,
        opts: &Connect,
        emit: &EmitEvent,
    ) -> Result<Session, EngineError> {
        if let Some(s) = self.sessions.get(subscription) {
            return Ok(s.clone());
        }
        let pacer = if !opts.pacing {
            Pacer::unlimited()
        } else {
            Pacer::azure_default()
        };
        let get = |k: &str| {
            self.env
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        let result = if let Some(emu) = &self.emulator {
            let base = url::Url::parse(emu.base_url()).expect("emulator URL");
            let source = CredentialSource::Secret {
                tenant: get("AZURE_TENANT_ID").unwrap_or_default(),
                client_id: get("AZURE_CLIENT_ID").unwrap_or_default(),
                secret: get("AZURE_CLIENT_SECRET").unwrap_or_default(),
            };
            Session::connect(
                CloudProfile::emulator(&base),
                subscription,
                source,
                Some(emu.ca_pem().as_bytes()),
                pacer,
            )
            .await
        } else {
            match custom_or_named_cloud(&opts.cloud) {
                Ok((cloud, ca)) => {
                    Session::connect(
                        cloud,
                        subscription,
                        CredentialSource::Method(opts.auth),
                        ca.as_deref(),
                        pacer,
                    )
                    .await
                }
                Err(e) => Err(e),
            }
        };
        let s = result?;
        emit(
            RunEvent::SignedIn {
                caller: s.caller.clone(),
                method: s.credential.method.to_string(),
                cloud: s.cloud.name.clone(),
                subscription: subscription.to_string(),
            }
            .into(),
        );
        self.sessions.insert(subscription.to_string(), s.clone());
        Ok(s)
    }

    /// Every session opened so far.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }
}

/// A named cloud, or — when `KEYLESS_ARM_ENDPOINT` is set (e.g. from `keyless emulator
/// --print-env`) — a custom profile on that endpoint, trusting `KEYLESS_CA_FILE`/`SSL_CERT_FILE`.
fn custom_or_named_cloud(name: &str) -> Result<(CloudProfile, Option<Vec<u8>>), SessionError> {
    if let Ok(arm) = std::env::var("KEYLESS_ARM_ENDPOINT") {
        let base = url::Url::parse(&arm)
            .map_err(|e| SessionError::Http(format!("KEYLESS_ARM_ENDPOINT: {e}")))?;
        let mut p = CloudProfile::emulator(&base);
        p.name = "Custom".into();
        if let Ok(a) = std::env::var("AZURE_AUTHORITY_HOST") {
            p.authority_host = url::Url::parse(&a)
                .map_err(|e| SessionError::Http(format!("AZURE_AUTHORITY_HOST: {e}")))?;
        }
        let ca = std::env::var("KEYLESS_CA_FILE")
            .or_else(|_| std::env::var("SSL_CERT_FILE"))
            .ok()
            .and_then(|f| std::fs::read(f).ok());
        return Ok((p, ca));
    }
    Ok((CloudProfile::named(name)?, None))
}

/// How long a `--emulator` run waits for another one using the same `.keyless/` to finish.
const EMULATOR_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Starts the embedded emulator; while another keyless run in this directory holds its state
/// (a second terminal, a script running two commands at once), waits for it rather than
/// failing — two emulators on one state file would lose one run's writes.
async fn start_embedded(
    cfg: EmulatorConfig,
    state: &Path,
    emit: &EmitEvent,
) -> Result<keyless_emulator::RunningEmulator, keyless_emulator::StartError> {
    use keyless_emulator::persist::PersistError;
    use keyless_emulator::StartError;
    let started = std::time::Instant::now();
    let mut told = false;
    loop {
        match Emulator::start(cfg.clone()).await {
            Err(StartError::Persist(PersistError::InUse { .. }))
                if started.elapsed() < EMULATOR_LOCK_WAIT =>
            {
                if !told {
                    emit(
                        RunEvent::EmulatorBusy {
                            state: state.display().to_string(),
                        }
                        .into(),
                    );
                    told = true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            other => return other,
        }
    }
}

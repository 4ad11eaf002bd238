//! Connecting a command to Azure or to the emulator: load manifests (with the emulator's
//! environment when `--emulator`), start the embedded emulator, sign in once per subscription.

use super::CommonArgs;
use crate::azure::pacer::Pacer;
use crate::azure::session::{CredentialSource, Session, SessionError};
use crate::cloud::CloudProfile;
use crate::manifest::{self, EnvLookup, LoadedManifests};
use crate::output::Reporter;
use keyless_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use miette::Report;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where the embedded emulator keeps its state between runs.
pub const EMULATOR_STATE: &str = ".keyless/emulator-state.json";

/// What a command works against.
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

/// Error while connecting, already rendered for the user.
pub struct Failed;

/// Prints a diagnostic (human) or an error event (json).
pub fn report_error(reporter: &Reporter, err: Report) {
    match reporter.format() {
        crate::output::OutputFormat::Json => {
            reporter.event("error", serde_json::json!({"message": crate::azure::error::redact(&format!("{err}")), "detail": crate::azure::error::redact(&format!("{err:?}"))}))
        }
        crate::output::OutputFormat::Human => eprintln!("{}", crate::azure::error::redact(&format!("{err:?}"))),
    }
}

/// Loads the manifests and, with `--emulator`, starts the embedded emulator first.
pub async fn prepare(
    paths: &[PathBuf],
    common: &CommonArgs,
    reporter: &Reporter,
) -> Result<Target, Failed> {
    let mut env = Vec::new();
    let mut emulator = None;
    let mut world = None;
    if common.emulator {
        let Some(wpath) = world_path(paths, common.world.as_deref()) else {
            report_error(reporter, miette::miette!(
                code = "keyless::emulator::no_world",
                help = "add `emulator: {{ world: path/to/world.yaml }}` to the manifest, or pass --world FILE",
                "--emulator needs a world file"
            ));
            return Err(Failed);
        };
        let w = match keyless_emulator::world::World::load(&wpath) {
            Ok(w) => w,
            Err(e) => {
                report_error(reporter, miette::miette!("{e}"));
                return Err(Failed);
            }
        };
        if common.reset_emulator {
            let _ = std::fs::remove_file(EMULATOR_STATE);
        }
        let _ = std::fs::create_dir_all(".keyless");
        let mut cfg = EmulatorConfig::new(w);
        cfg.state_file = Some(PathBuf::from(EMULATOR_STATE));
        let running = match start_embedded(cfg, reporter).await {
            Ok(r) => r,
            Err(e) => {
                report_error(reporter, miette::miette!(help = format!("delete {EMULATOR_STATE} (or pass --reset-emulator) if the saved state is from another world"), "cannot start the embedded emulator: {e}"));
                return Err(Failed);
            }
        };
        env = running.client_env();
        reporter.note(&format!(
            "embedded emulator at {} (world {}, state {EMULATOR_STATE})",
            running.base_url(),
            wpath.display()
        ));
        emulator = Some(running);
        world = Some(wpath);
    }
    let loaded = match manifest::load(paths, &OverlayEnv(env.clone())) {
        Ok(l) => l,
        Err(e) => {
            report_error(reporter, Report::new(e));
            return Err(Failed);
        }
    };
    for w in &loaded.warnings {
        reporter.note(&format!("{:?}", Report::new(w.clone())));
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
        common: &CommonArgs,
        reporter: &Reporter,
    ) -> Result<Session, Failed> {
        if let Some(s) = self.sessions.get(subscription) {
            return Ok(s.clone());
        }
        let pacer = if common.no_pacing {
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
            match custom_or_named_cloud(&common.cloud) {
                Ok((cloud, ca)) => {
                    Session::connect(
                        cloud,
                        subscription,
                        CredentialSource::Method(common.auth),
                        ca.as_deref(),
                        pacer,
                    )
                    .await
                }
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(s) => {
                reporter.note(&format!(
                    "signed in as {} ({}) via {}",
                    s.caller.display, s.caller.object_id, s.credential.method
                ));
                reporter.event("signedIn", serde_json::json!({"caller": s.caller, "method": s.credential.method, "cloud": s.cloud.name, "subscription": subscription}));
                self.sessions.insert(subscription.to_string(), s.clone());
                Ok(s)
            }
            Err(e) => {
                report_error(reporter, Report::new(e));
                Err(Failed)
            }
        }
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
    reporter: &Reporter,
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
                    reporter.note(&format!(
                        "another keyless run is using the embedded emulator's state ({EMULATOR_STATE}); waiting for it to finish…"
                    ));
                    told = true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            other => return other,
        }
    }
}

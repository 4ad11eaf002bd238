//! Starting and stopping an emulator: bind, TLS, key, state (fresh from the world or loaded from
//! `--state`), then the accept loop on a background task.

use crate::ctx::{Ctx, CtxParts};
use crate::model::State;
use crate::observe::{Counters, LogEntry};
use crate::persist::{PersistError, Persister, StateLock};
use crate::tls::{Ca, TlsError};
use crate::tokens::{KeyError, SigningKey};
use crate::world::World;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// The world to emulate.
    pub world: World,
    /// Port (0 = any free port).
    pub port: u16,
    /// Address to bind (loopback by default; the admin API answers loopback clients only).
    pub bind: IpAddr,
    /// Where to write the CA certificate PEM (default: a private temp directory).
    pub ca_out: Option<PathBuf>,
    /// An existing CA (certificate PEM, key PEM) to sign the server certificate with.
    pub ca: Option<(String, String)>,
    /// State file: loaded at start if present, written after every acknowledged write.
    pub state_file: Option<PathBuf>,
    /// Print one line per request to stderr.
    pub log_requests: bool,
    /// Generate a dedicated signing key instead of the process-shared one.
    pub dedicated_key: bool,
}

impl EmulatorConfig {
    /// Defaults for `world`: loopback, free port, temp CA, no state file, quiet.
    pub fn new(world: World) -> EmulatorConfig {
        EmulatorConfig {
            world,
            port: 0,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ca_out: None,
            ca: None,
            state_file: None,
            log_requests: false,
            dedicated_key: false,
        }
    }
}

/// Why an emulator did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Binding or writing files failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// TLS material.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Signing key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// State file.
    #[error(transparent)]
    Persist(#[from] PersistError),
}

/// Entry point.
pub struct Emulator;

impl Emulator {
    /// Starts an emulator in the current tokio runtime and returns once it accepts connections.
    pub async fn start(cfg: EmulatorConfig) -> Result<RunningEmulator, StartError> {
        // First of all (a refused start costs nothing), and before reading the state: another
        // emulator on the same file may be mid-save.
        let lock = cfg
            .state_file
            .as_deref()
            .map(StateLock::acquire)
            .transpose()?;
        let listener = tokio::net::TcpListener::bind((cfg.bind, cfg.port))
            .await
            .map_err(|source| StartError::Io {
                what: format!("binding {}:{}", cfg.bind, cfg.port),
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Io {
                what: "reading the bound address".into(),
                source,
            })?
            .port();
        let host = if cfg.bind.is_loopback() || cfg.bind.is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            cfg.bind.to_string()
        };
        let base_url = format!("https://{host}:{port}");

        let ca = match &cfg.ca {
            Some((cert, key)) => Ca::load(cert, key)?,
            None => Ca::generate()?,
        };
        let tls = ca.server_config()?;
        let (ca_pem_path, temp_dir) = ca_pem_location(&cfg)?;
        write_file(&ca_pem_path, ca.cert_pem.as_bytes())?;

        let now = crate::ctx::now_wall();
        let (keys, state, fresh) = initial_state(&cfg, now)?;
        let persister = cfg
            .state_file
            .as_deref()
            .zip(lock)
            .map(|(p, lock)| Persister::new(p, lock));
        if let (Some(p), true) = (&persister, fresh) {
            let (seq, bytes) = p.encode(&state, &keys.private_pem);
            p.write(seq, &bytes)?;
        }
        let ctx = Arc::new(Ctx::new(CtxParts {
            state,
            base_url,
            world: cfg.world.clone(),
            keys,
            ca_pem: ca.cert_pem.clone(),
            ca_pem_path,
            ca_key_pem: ca.key_pem.clone(),
            persister,
            log_to_stderr: cfg.log_requests,
        }));
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(crate::server::serve(listener, tls, ctx.clone(), rx));
        Ok(RunningEmulator {
            ctx,
            port,
            shutdown: Some(tx),
            task: Some(task),
            temp_dir,
        })
    }
}

/// Where the CA PEM goes: `--ca-out`, else a private temp directory (returned so it is removed
/// with the emulator).
fn ca_pem_location(cfg: &EmulatorConfig) -> Result<(PathBuf, Option<PathBuf>), StartError> {
    Ok(match &cfg.ca_out {
        Some(p) => (std::path::absolute(p).unwrap_or_else(|_| p.clone()), None),
        None => {
            let dir = std::env::temp_dir().join(format!(
                "keyless-emulator-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ));
            std::fs::create_dir_all(&dir).map_err(|source| StartError::Io {
                what: format!("creating {}", dir.display()),
                source,
            })?;
            (dir.join("ca.pem"), Some(dir))
        }
    })
}

/// The signing key and state: from the state file when it exists, else a key (shared or
/// dedicated) and the world's seed. The flag says whether the state is fresh (to be saved).
fn initial_state(cfg: &EmulatorConfig, now: f64) -> Result<(SigningKey, State, bool), StartError> {
    let loaded = match &cfg.state_file {
        Some(p) => Persister::load(p)?,
        None => None,
    };
    match loaded {
        Some(snap) => Ok((SigningKey::from_pem(&snap.signing_key)?, snap.state, false)),
        None => {
            let keys = if cfg.dedicated_key {
                SigningKey::generate()?
            } else {
                SigningKey::process_shared()?
            };
            Ok((keys, State::seed(&cfg.world, now), true))
        }
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), StartError> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|source| StartError::Io {
                what: format!("creating {}", dir.display()),
                source,
            })?;
        }
    }
    std::fs::write(path, bytes).map_err(|source| StartError::Io {
        what: format!("writing {}", path.display()),
        source,
    })
}

/// A running emulator; stops when dropped or on [`RunningEmulator::shutdown`].
pub struct RunningEmulator {
    ctx: Arc<Ctx>,
    port: u16,
    shutdown: Option<watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
    temp_dir: Option<PathBuf>,
}

impl RunningEmulator {
    /// `https://127.0.0.1:PORT`: authority host, ARM endpoint, Graph and MSI base, all in one.
    pub fn base_url(&self) -> &str {
        &self.ctx.base_url
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path of the CA certificate clients must trust.
    pub fn ca_pem_path(&self) -> &Path {
        &self.ctx.ca_pem_path
    }

    /// The CA certificate PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ctx.ca_pem
    }

    /// The shared context (state, clock, timing) for in-process tests.
    pub fn ctx(&self) -> &Arc<Ctx> {
        &self.ctx
    }

    /// Request counters, read in-process.
    pub fn counters(&self) -> Counters {
        self.ctx.obs.counters()
    }

    /// The request log, read in-process.
    pub fn requests(&self) -> Vec<LogEntry> {
        self.ctx.obs.requests()
    }

    /// The environment a client needs to use this emulator as its Azure: authority, tenant,
    /// the caller app's credentials, subscription, endpoints and the CA bundle variables.
    pub fn client_env(&self) -> Vec<(String, String)> {
        let w = &self.ctx.world;
        let base = self.base_url().to_string();
        let ca = self.ca_pem_path().display().to_string();
        let mut env = vec![
            ("AZURE_AUTHORITY_HOST".to_string(), base.clone()),
            ("AZURE_TENANT_ID".to_string(), w.tenant.id.clone()),
        ];
        if let Some(app) = w.caller_app() {
            env.push(("AZURE_CLIENT_ID".into(), app.app_id.clone()));
            if let Some(s) = app.secrets.first() {
                env.push(("AZURE_CLIENT_SECRET".into(), s.clone()));
            }
        }
        if let Some(s) = w.default_subscription() {
            env.push(("AZURE_SUBSCRIPTION_ID".into(), s.to_string()));
        }
        env.push(("KEYLESS_ARM_ENDPOINT".into(), base.clone()));
        env.push(("KEYLESS_EMULATOR_URL".into(), base));
        for k in ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"] {
            env.push((k.into(), ca.clone()));
        }
        env
    }

    /// Stops accepting, aborts open connections and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
        if let Some(d) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

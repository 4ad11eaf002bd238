//! Emulator context shared by every handler: the state behind one lock, the configuration, the
//! token signing keys and the clock.

use crate::faults::FaultState;
use crate::model::arm::run_command::RunSlots;
use crate::model::msi;
use crate::model::State;
use crate::observe::Observer;
use crate::persist::Persister;
use crate::throttle::Throttler;
use crate::tokens::SigningKey;
use crate::world::{Timing, World};
use parking_lot::{Mutex, RwLock};
use std::path::PathBuf;

/// Shared by every request handler.
pub struct Ctx {
    /// The whole world, behind one lock (handlers hold it briefly and never across an await).
    pub state: Mutex<State>,
    /// `https://127.0.0.1:PORT` — the one base URL that serves every endpoint.
    pub base_url: String,
    /// The world file the emulator started from (a reset returns to it).
    pub world: World,
    /// The tenant id (also in `state.directory`; copied here because it never changes).
    pub tenant_id: String,
    /// Token-signing key (JWKS, minting, validation).
    pub keys: SigningKey,
    /// PEM of the CA that signed the server certificate (clients must trust it).
    pub ca_pem: String,
    /// Where that PEM is on disk (for `SSL_CERT_FILE` and friends).
    pub ca_pem_path: PathBuf,
    /// The CA private key PEM (only for `--ca-key-out`; never served).
    pub ca_key_pem: String,
    /// Delays and lifetimes, changeable at run time through the admin API.
    pub timing: RwLock<Timing>,
    /// Seconds added to the wall clock (admin `clock` endpoint), so tests can skip ahead.
    clock_offset: Mutex<f64>,
    /// Managed-identity endpoint secrets handed to VM children: secret → host.
    pub msi_hosts: Mutex<msi::Hosts>,
    /// Managed-identity token cache (`principal|resource` → token), as the platform caches.
    pub msi_cache: Mutex<msi::TokenCache>,
    /// Run Command children of this emulator and their outcomes (not persisted: see
    /// [`RunSlots`]; cleared by an admin reset).
    pub runs: RunSlots,
    /// Request log and counters.
    pub obs: Observer,
    /// Injected faults.
    pub faults: Mutex<FaultState>,
    /// ARM throttling buckets.
    pub throttle: Mutex<Throttler>,
    /// Snapshot writer when running with `--state`.
    pub persister: Option<Persister>,
    /// Whether to print one line per request to stderr.
    pub log_to_stderr: bool,
}

pub use crate::model::msi::MsiHost;

/// Everything needed to build a [`Ctx`] (assembled by `Emulator::start`).
pub struct CtxParts {
    /// Initial state.
    pub state: State,
    /// Base URL.
    pub base_url: String,
    /// World file.
    pub world: World,
    /// Signing key.
    pub keys: SigningKey,
    /// CA PEM.
    pub ca_pem: String,
    /// CA PEM path.
    pub ca_pem_path: PathBuf,
    /// CA key PEM.
    pub ca_key_pem: String,
    /// Snapshot writer.
    pub persister: Option<Persister>,
    /// Log requests to stderr.
    pub log_to_stderr: bool,
}

impl Ctx {
    /// Builds the context.
    pub fn new(p: CtxParts) -> Ctx {
        Ctx {
            // A loaded state file names the tenant; the world only seeds a fresh one.
            tenant_id: if p.state.directory.tenant_id.is_empty() {
                p.world.tenant.id.clone()
            } else {
                p.state.directory.tenant_id.clone()
            },
            timing: RwLock::new(p.world.timing.clone()),
            faults: Mutex::new(FaultState::from_world(&p.world.faults, now_wall())),
            throttle: Mutex::new(Throttler::new(p.world.throttling.clone())),
            state: Mutex::new(p.state),
            base_url: p.base_url,
            world: p.world,
            keys: p.keys,
            ca_pem: p.ca_pem,
            ca_pem_path: p.ca_pem_path,
            ca_key_pem: p.ca_key_pem,
            clock_offset: Mutex::new(0.0),
            msi_hosts: Mutex::new(msi::Hosts::default()),
            msi_cache: Mutex::new(msi::TokenCache::default()),
            runs: RunSlots::default(),
            obs: Observer::default(),
            persister: p.persister,
            log_to_stderr: p.log_to_stderr,
        }
    }

    /// Current time as unix seconds (fractional), including any admin clock offset.
    pub fn now(&self) -> f64 {
        now_wall() + *self.clock_offset.lock()
    }

    /// Moves the emulator clock forward (admin API; tests skip propagation delays with it).
    pub fn advance_clock(&self, secs: f64) {
        *self.clock_offset.lock() += secs.max(0.0);
    }

    /// Current delays and lifetimes (a copy; sample with `Span::sample`).
    pub fn timing(&self) -> Timing {
        self.timing.read().clone()
    }

    /// Path of the CA PEM clients must trust.
    pub fn ca_pem_path(&self) -> &std::path::Path {
        &self.ca_pem_path
    }
}

/// Wall-clock unix seconds.
pub fn now_wall() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

//! Emulator context shared by every handler: the state behind one lock, the configuration, the
//! token signing keys and the clock.

use crate::model::State;
use parking_lot::Mutex;

/// Shared by every request handler.
pub struct Ctx {
    /// The whole world, behind one lock (handlers hold it briefly and never across an await).
    pub state: Mutex<State>,
    /// `https://127.0.0.1:PORT` — the one base URL that serves every endpoint.
    pub base_url: String,
}

impl Ctx {
    /// Current time as unix seconds (fractional).
    pub fn now(&self) -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}

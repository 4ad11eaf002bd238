//! Cancellation with today's Ctrl-C semantics: the first request stops the engine from starting
//! anything new (writes in flight finish, a write still waiting behind another writer is
//! dropped); a second one is the caller's cue to exit at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A shareable cancel flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Requests cancellation; returns true when it had already been requested (the second
    /// Ctrl-C).
    pub fn request(&self) -> bool {
        self.0.swap(true, Ordering::SeqCst)
    }

    /// Whether cancellation was requested.
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// The flag itself, for the layers below (apply's scheduler, ARM's busy-writer waits).
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }

    /// Watches Ctrl-C for the rest of the process: the first requests cancellation, a second
    /// calls `again` (which is expected to end the process).
    pub fn on_ctrl_c(&self, again: impl Fn() + Send + 'static) {
        let cancel = self.clone();
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                if cancel.request() {
                    again();
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_request_is_told_apart() {
        let c = Cancel::default();
        assert!(!c.is_requested());
        assert!(!c.request());
        assert!(c.is_requested());
        assert!(c.clone().request());
        assert!(c.flag().load(Ordering::SeqCst));
    }
}

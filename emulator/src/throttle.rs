//! ARM throttling: a token bucket per subscription + principal + operation type (reads, writes,
//! deletes), as ARM's current model does (behaviour notes §3.7).
//!
//! Why in the server and not in the ARM handlers: every ARM request counts, including ones the
//! handlers reject, and every ARM response carries the `x-ms-ratelimit-remaining-*` header.

use crate::world::{Bucket, Throttling};
use std::collections::HashMap;

/// ARM operation type for throttling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// GET/HEAD.
    Read,
    /// PUT/PATCH/POST.
    Write,
    /// DELETE.
    Delete,
}

impl OpKind {
    /// From an HTTP method.
    pub fn of(method: &str) -> OpKind {
        match method {
            "GET" | "HEAD" | "OPTIONS" => OpKind::Read,
            "DELETE" => OpKind::Delete,
            _ => OpKind::Write,
        }
    }

    /// `reads` / `writes` / `deletes` (header suffix).
    pub fn plural(&self) -> &'static str {
        match self {
            OpKind::Read => "reads",
            OpKind::Write => "writes",
            OpKind::Delete => "deletes",
        }
    }

    /// `read` / `write` / `delete` (as in the 429 message).
    pub fn singular(&self) -> &'static str {
        match self {
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Delete => "delete",
        }
    }
}

/// The outcome of taking one token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Take {
    /// Allowed; tokens left after this request.
    Allowed(u32),
    /// Bucket empty; seconds until a token is available (rounded up, at least 1).
    Throttled(u64),
}

#[derive(Debug, Clone)]
struct State {
    tokens: f64,
    at: f64,
}

/// All buckets.
#[derive(Debug, Clone)]
pub struct Throttler {
    config: Throttling,
    buckets: HashMap<(String, String, OpKind), State>,
}

impl Throttler {
    /// New, all buckets full.
    pub fn new(config: Throttling) -> Throttler {
        Throttler {
            config,
            buckets: HashMap::new(),
        }
    }

    /// Replaces the configuration and refills every bucket.
    pub fn reconfigure(&mut self, config: Throttling) {
        self.config = config;
        self.buckets.clear();
    }

    /// Current configuration.
    pub fn config(&self) -> &Throttling {
        &self.config
    }

    fn bucket(&self, kind: OpKind) -> Bucket {
        match kind {
            OpKind::Read => self.config.reads,
            OpKind::Write => self.config.writes,
            OpKind::Delete => self.config.deletes,
        }
    }

    /// Takes one token for `(subscription, principal, kind)` at time `now`. With throttling
    /// disabled it always allows and reports a full bucket minus nothing.
    pub fn take(&mut self, subscription: &str, principal: &str, kind: OpKind, now: f64) -> Take {
        let b = self.bucket(kind);
        if !self.config.enabled {
            return Take::Allowed(b.bucket.saturating_sub(1));
        }
        let key = (
            subscription.to_ascii_lowercase(),
            principal.to_ascii_lowercase(),
            kind,
        );
        let s = self.buckets.entry(key).or_insert(State {
            tokens: b.bucket as f64,
            at: now,
        });
        let elapsed = (now - s.at).max(0.0);
        s.tokens = (s.tokens + elapsed * b.per_second).min(b.bucket as f64);
        s.at = now;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            Take::Allowed(s.tokens.floor() as u32)
        } else {
            let wait = if b.per_second > 0.0 {
                ((1.0 - s.tokens) / b.per_second).ceil().max(1.0)
            } else {
                60.0
            };
            Take::Throttled(wait as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_counts_down_and_refills() {
        let cfg = Throttling {
            writes: Bucket {
                bucket: 3,
                per_second: 1.0,
            },
            ..Default::default()
        };
        let mut t = Throttler::new(cfg);
        assert_eq!(t.take("s", "p", OpKind::Write, 0.0), Take::Allowed(2));
        assert_eq!(t.take("s", "p", OpKind::Write, 0.0), Take::Allowed(1));
        assert_eq!(t.take("s", "p", OpKind::Write, 0.0), Take::Allowed(0));
        assert_eq!(t.take("s", "p", OpKind::Write, 0.0), Take::Throttled(1));
        // other principal, other kind: separate buckets
        assert_eq!(t.take("s", "q", OpKind::Write, 0.0), Take::Allowed(2));
        assert_eq!(t.take("s", "p", OpKind::Read, 0.0), Take::Allowed(249));
        assert_eq!(t.take("s", "p", OpKind::Write, 1.0), Take::Allowed(0));
    }
}

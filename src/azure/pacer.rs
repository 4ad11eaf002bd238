//! Client-side pacing of ARM requests under the subscription's token-bucket budget.
//!
//! ARM throttles per subscription and principal (reads 250 then 25/s, writes 200 then 10/s,
//! deletes 200 then 10/s). Meeting a 429 costs a Retry-After wait *and* a wasted request, so a
//! large apply instead spends tokens from a local bucket with the same shape and waits locally.
//! The bucket starts a little below ARM's so another tool using the same principal keeps headroom.

use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// One token bucket: `capacity` tokens, refilled at `per_second`.
#[derive(Debug)]
pub struct Bucket {
    capacity: f64,
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    /// A full bucket.
    pub fn new(capacity: f64, per_second: f64) -> Bucket {
        Bucket {
            capacity,
            per_second,
            state: Mutex::new((capacity, Instant::now())),
        }
    }

    /// Takes one token, sleeping until one is available. Unlimited when `per_second` is infinite.
    pub async fn acquire(&self) {
        if !self.per_second.is_finite() {
            return;
        }
        loop {
            let wait = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                let refill = now.duration_since(s.1).as_secs_f64() * self.per_second;
                s.0 = (s.0 + refill).min(self.capacity);
                s.1 = now;
                if s.0 >= 1.0 {
                    s.0 -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - s.0) / self.per_second)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// Buckets for ARM reads, writes and deletes.
#[derive(Debug)]
pub struct Pacer {
    reads: Bucket,
    writes: Bucket,
    deletes: Bucket,
}

impl Pacer {
    /// Azure's documented per-principal budget, with a safety margin on the burst.
    pub fn azure_default() -> Pacer {
        Pacer {
            reads: Bucket::new(240.0, 24.0),
            writes: Bucket::new(190.0, 9.5),
            deletes: Bucket::new(190.0, 9.5),
        }
    }

    /// No pacing (tests that want to see raw behaviour, or `--no-pacing`).
    pub fn unlimited() -> Pacer {
        Pacer {
            reads: Bucket::new(f64::INFINITY, f64::INFINITY),
            writes: Bucket::new(f64::INFINITY, f64::INFINITY),
            deletes: Bucket::new(f64::INFINITY, f64::INFINITY),
        }
    }

    /// Waits for a read token.
    pub async fn acquire_read(&self) {
        self.reads.acquire().await
    }
    /// Waits for a write token.
    pub async fn acquire_write(&self) {
        self.writes.acquire().await
    }
    /// Waits for a delete token.
    pub async fn acquire_delete(&self) {
        self.deletes.acquire().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_burst_then_paces() {
        let b = Bucket::new(3.0, 2.0);
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            b.acquire().await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(5),
            "burst should be immediate"
        );
        b.acquire().await;
        b.acquire().await;
        // two more tokens at 2/s need ~1 s of refill
        assert!(
            start.elapsed() >= Duration::from_millis(900),
            "{:?}",
            start.elapsed()
        );
    }
}

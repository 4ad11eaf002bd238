//! Client-side pacing of ARM requests under the subscription's token-bucket budget.
//!
//! ARM throttles per subscription and principal (reads 250 then 25/s, writes 200 then 10/s,
//! deletes 200 then 10/s). Meeting a 429 costs a Retry-After wait *and* a wasted request, so a
//! large apply instead spends tokens from a local bucket with the same shape and waits locally.
//! The bucket starts a little below ARM's so another tool using the same principal keeps headroom.
//!
//! The local bucket only knows this process's requests. Other clients of the same principal (a
//! second keyless in a parallel pipeline job, a person with `az`) spend the same budget, so the
//! bucket also follows what ARM says:
//! - `x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}` lowers the local tokens to
//!   what ARM reports is left;
//! - a 429 empties the bucket, holds every request of that kind until its `Retry-After`, and
//!   halves the refill rate (which then grows back by a little with every accepted request:
//!   additive increase, multiplicative decrease), so N clients sharing one budget settle near
//!   1/N of it each instead of retrying in a storm until their retries run out.

use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The lowest refill rate a 429 can push a bucket to (tokens per second).
const MIN_RATE: f64 = 0.25;
/// How much of the nominal rate each accepted request gives back after a 429.
const RECOVERY_PER_SUCCESS: f64 = 0.02;

/// One token bucket: `capacity` tokens, refilled at a rate that adapts to ARM's answers.
#[derive(Debug)]
pub struct Bucket {
    capacity: f64,
    nominal_rate: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    refilled_at: Instant,
    rate: f64,
    /// No request before this instant (a 429's Retry-After).
    not_before: Instant,
    /// When a 429 last lowered the rate: the answers to a burst of requests already in flight
    /// are one signal, not many, so the rate is lowered at most once per second.
    slowed_at: Option<Instant>,
}

impl BucketState {
    fn refill(&mut self, capacity: f64, now: Instant) {
        let from = self.refilled_at.max(self.not_before);
        if now > from {
            let gained = now.duration_since(from).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + gained).min(capacity);
        }
        self.refilled_at = now;
    }
}

impl Bucket {
    /// A full bucket refilled at `per_second`.
    pub fn new(capacity: f64, per_second: f64) -> Bucket {
        let now = Instant::now();
        Bucket {
            capacity,
            nominal_rate: per_second,
            state: Mutex::new(BucketState {
                tokens: capacity,
                refilled_at: now,
                rate: per_second,
                not_before: now,
                slowed_at: None,
            }),
        }
    }

    fn unlimited(&self) -> bool {
        !self.nominal_rate.is_finite()
    }

    /// Takes one token, sleeping until one is available. Unlimited when `per_second` is infinite.
    pub async fn acquire(&self) {
        if self.unlimited() {
            return;
        }
        loop {
            let wait = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                if now < s.not_before {
                    s.not_before - now
                } else {
                    s.refill(self.capacity, now);
                    if s.tokens >= 1.0 {
                        s.tokens -= 1.0;
                        return;
                    }
                    Duration::from_secs_f64((1.0 - s.tokens) / s.rate)
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// ARM reported `remaining` tokens left for this principal: never believe in more locally.
    pub async fn observe_remaining(&self, remaining: u64) {
        if self.unlimited() {
            return;
        }
        let mut s = self.state.lock().await;
        s.refill(self.capacity, Instant::now());
        s.tokens = s.tokens.min(remaining as f64);
    }

    /// ARM accepted a request: win back a little of the rate a 429 took.
    pub async fn observe_accepted(&self) {
        if self.unlimited() {
            return;
        }
        let mut s = self.state.lock().await;
        if s.rate < self.nominal_rate {
            s.rate = (s.rate + self.nominal_rate * RECOVERY_PER_SUCCESS).min(self.nominal_rate);
        }
    }

    /// ARM answered 429: nothing is left, nothing more until `retry_after`, and a slower pace.
    pub async fn observe_throttled(&self, retry_after: Duration) {
        if self.unlimited() {
            return;
        }
        let mut s = self.state.lock().await;
        let now = Instant::now();
        s.refill(self.capacity, now);
        s.tokens = 0.0;
        s.not_before = s.not_before.max(now + retry_after);
        let recently = s
            .slowed_at
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1));
        if !recently {
            s.rate = (s.rate / 2.0).max(MIN_RATE.min(self.nominal_rate));
            s.slowed_at = Some(now);
        }
    }

    /// The current refill rate (for tests and reports).
    pub async fn rate(&self) -> f64 {
        self.state.lock().await.rate
    }
}

/// What kind of ARM request (each has its own budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// GET/HEAD.
    Reads,
    /// PUT/PATCH/POST.
    Writes,
    /// DELETE.
    Deletes,
}

impl Budget {
    /// The name ARM uses in `x-ms-ratelimit-remaining-subscription-{name}`.
    pub fn header(self) -> &'static str {
        match self {
            Budget::Reads => "x-ms-ratelimit-remaining-subscription-reads",
            Budget::Writes => "x-ms-ratelimit-remaining-subscription-writes",
            Budget::Deletes => "x-ms-ratelimit-remaining-subscription-deletes",
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

    /// The bucket of one budget.
    pub fn bucket(&self, budget: Budget) -> &Bucket {
        match budget {
            Budget::Reads => &self.reads,
            Budget::Writes => &self.writes,
            Budget::Deletes => &self.deletes,
        }
    }

    /// Learns from ARM's answer to a request of `budget`: its status, `Retry-After` and
    /// remaining-budget header.
    pub async fn observe(
        &self,
        budget: Budget,
        status: u16,
        retry_after: Option<Duration>,
        remaining: Option<u64>,
    ) {
        let b = self.bucket(budget);
        if status == 429 {
            b.observe_throttled(retry_after.unwrap_or(Duration::from_secs(1)))
                .await;
            return;
        }
        if let Some(n) = remaining {
            b.observe_remaining(n).await;
        }
        if status < 400 {
            b.observe_accepted().await;
        }
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

    #[tokio::test(start_paused = true)]
    async fn remaining_header_lowers_the_local_tokens() {
        let b = Bucket::new(100.0, 10.0);
        b.observe_remaining(2).await;
        let start = tokio::time::Instant::now();
        b.acquire().await;
        b.acquire().await;
        assert!(start.elapsed() < Duration::from_millis(5));
        b.acquire().await;
        assert!(
            start.elapsed() >= Duration::from_millis(90),
            "the third token must wait for refill, ARM said 2 were left ({:?})",
            start.elapsed()
        );
        // A higher remaining never adds tokens.
        b.observe_remaining(1000).await;
        let t = tokio::time::Instant::now();
        b.acquire().await;
        assert!(
            t.elapsed() >= Duration::from_millis(90),
            "{:?}",
            t.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_holds_everything_until_retry_after_and_halves_the_rate() {
        let b = Bucket::new(100.0, 10.0);
        b.observe_throttled(Duration::from_secs(3)).await;
        assert_eq!(b.rate().await, 5.0);
        let start = tokio::time::Instant::now();
        b.acquire().await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(3) && waited < Duration::from_millis(3300),
            "held until Retry-After, then one token at the halved rate: {waited:?}"
        );
        // 429s to requests that were in flight together lower the rate once.
        for _ in 0..16 {
            b.observe_throttled(Duration::from_secs(1)).await;
        }
        assert_eq!(b.rate().await, 2.5);
        for _ in 0..20 {
            tokio::time::advance(Duration::from_millis(1100)).await;
            b.observe_throttled(Duration::ZERO).await;
        }
        assert_eq!(b.rate().await, MIN_RATE, "the rate has a floor");
    }

    #[tokio::test(start_paused = true)]
    async fn accepted_requests_win_the_rate_back_up_to_nominal_only() {
        let b = Bucket::new(100.0, 10.0);
        b.observe_throttled(Duration::ZERO).await;
        assert_eq!(b.rate().await, 5.0);
        for _ in 0..10 {
            b.observe_accepted().await;
        }
        assert!((b.rate().await - 7.0).abs() < 1e-9, "{}", b.rate().await);
        for _ in 0..1000 {
            b.observe_accepted().await;
        }
        assert_eq!(b.rate().await, 10.0);
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_ignores_server_signals() {
        let p = Pacer::unlimited();
        p.observe(Budget::Writes, 429, Some(Duration::from_secs(60)), Some(0))
            .await;
        let start = tokio::time::Instant::now();
        p.bucket(Budget::Writes).acquire().await;
        assert!(start.elapsed() < Duration::from_millis(5));
    }

    #[tokio::test(start_paused = true)]
    async fn pacer_routes_429_and_remaining_to_the_right_bucket() {
        let p = Pacer::azure_default();
        p.observe(Budget::Deletes, 429, Some(Duration::from_secs(2)), None)
            .await;
        p.observe(Budget::Reads, 200, None, Some(0)).await;
        assert_eq!(p.bucket(Budget::Deletes).rate().await, 4.75);
        assert_eq!(p.bucket(Budget::Writes).rate().await, 9.5);
        let start = tokio::time::Instant::now();
        p.bucket(Budget::Writes).acquire().await;
        assert!(
            start.elapsed() < Duration::from_millis(5),
            "writes untouched"
        );
        p.bucket(Budget::Reads).acquire().await;
        assert!(
            start.elapsed() >= Duration::from_millis(40),
            "reads: ARM said 0 left ({:?})",
            start.elapsed()
        );
    }
}

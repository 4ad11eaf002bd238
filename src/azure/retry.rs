//! Every retry and pause keyless makes, in one place: jittered, capped exponential backoff for
//! the SDK pipelines (it honours `Retry-After`, which azure_core passes to `wait`, so concurrent
//! workers don't retry in lockstep), the one `Retry-After` reader, the pause before re-sending a
//! write that met another writer, the probe's short backoff, and [`RetryOnCode`] for callers
//! that retry one call on one error code.
//!
//! Depends only on [`super::error`], so every other module under `azure` (and `verify`, `apply`)
//! can use it without an import cycle.

use super::error::AzureError;
use async_trait::async_trait;
use azure_core::RetryPolicy;
use rand::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The wait a server asked for: `retry-after-ms`, `x-ms-retry-after-ms` or `retry-after`
/// (seconds, fractions allowed), read through `header` so every HTTP stack keyless uses (reqwest
/// for Graph and probes, azure_core for SDK and token traffic) shares one reading.
pub fn retry_after<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Option<Duration> {
    let get = |n: &str| header(n).and_then(|s| s.trim().parse::<f64>().ok());
    get("retry-after-ms")
        .or_else(|| get("x-ms-retry-after-ms"))
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| get("retry-after").map(Duration::from_secs_f64))
}

/// [`retry_after`] of an azure_core answer (SDK pipeline, token requests, raw ARM requests).
pub fn retry_after_core(headers: &azure_core::headers::Headers) -> Option<Duration> {
    retry_after(|n| headers.get_optional_str(&azure_core::headers::HeaderName::from(n.to_string())))
}

/// [`retry_after`] of a reqwest answer (Microsoft Graph, data-plane probes).
pub fn retry_after_http(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    retry_after(|n| headers.get(n).and_then(|v| v.to_str().ok()))
}

/// [`retry_after`] of a JSON header map, as a Graph `$batch` sub-response carries it (names in
/// any case).
pub fn retry_after_json(headers: &serde_json::Value) -> Option<Duration> {
    let map = headers.as_object();
    retry_after(|n| {
        map.and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)))
            .and_then(|(_, v)| v.as_str())
    })
}

/// The pause between two polls of an operation-status URL (Run Command): the server's
/// `Retry-After` held between 200 ms and 5 s, 5 s when it gives none.
pub fn operation_poll_wait(headers: &azure_core::headers::Headers) -> Duration {
    retry_after_core(headers)
        .unwrap_or(Duration::from_secs(5))
        .min(Duration::from_secs(5))
        .max(Duration::from_millis(200))
}

/// Full-jitter exponential backoff: sleep a random duration in `[0, min(cap, base·2^n)]`, but
/// never less than the server's `Retry-After`.
#[derive(Debug, Clone)]
pub struct JitteredBackoff {
    /// First delay ceiling.
    pub base: Duration,
    /// Largest delay ceiling.
    pub cap: Duration,
    /// Retries before giving up.
    pub max_retries: u32,
    /// Total time before giving up.
    pub max_elapsed: Duration,
}

impl Default for JitteredBackoff {
    fn default() -> Self {
        JitteredBackoff {
            base: Duration::from_millis(400),
            cap: Duration::from_secs(20),
            max_retries: 10,
            max_elapsed: Duration::from_secs(300),
        }
    }
}

impl JitteredBackoff {
    /// The ceiling for the n-th retry.
    pub fn ceiling(&self, retry_count: u32) -> Duration {
        let exp = self.base.saturating_mul(1u32 << retry_count.min(16));
        exp.min(self.cap)
    }
}

#[async_trait]
impl RetryPolicy for JitteredBackoff {
    fn is_expired(&self, duration_since_start: Duration, retry_count: u32) -> bool {
        retry_count >= self.max_retries || duration_since_start >= self.max_elapsed
    }

    fn sleep_duration(&self, retry_count: u32) -> Duration {
        let ceiling = self.ceiling(retry_count);
        let ms = rand::thread_rng().gen_range(0..=ceiling.as_millis().max(1) as u64);
        Duration::from_millis(ms.max(50))
    }

    async fn wait(
        &self,
        error: &azure_core::Error,
        retry_count: u32,
        retry_after: Option<Duration>,
    ) {
        let mut d = self.sleep_duration(retry_count);
        if let Some(ra) = retry_after {
            // Honour the server, plus a little jitter so a fleet of waiters doesn't stampede.
            let jitter = Duration::from_millis(rand::thread_rng().gen_range(0..250));
            d = ra + jitter;
        }
        // azure_core counts retries from 1; name the answer by status and code, not its dump.
        let answer = error.as_http_error().map_or_else(
            || crate::azure::error::redact(&error.to_string()),
            |h| format!("{} {}", u16::from(h.status()), h.error_code().unwrap_or("")),
        );
        tracing::debug!(
            target: "keyless::retry",
            "retry {retry_count} in {d:?} (Retry-After {retry_after:?}) after {answer}"
        );
        tokio::time::sleep(d).await;
    }
}

/// The pause before re-sending a write that met another writer's operation (a 409 "busy"):
/// grows ×1.5 per attempt from the poll interval to 15 s, with ±25 % jitter so concurrent
/// writers don't retry in lockstep.
pub fn busy_pause(poll_interval: Duration, attempt: i32) -> Duration {
    let ceiling = poll_interval
        .mul_f64(1.5f64.powi(attempt.min(16)))
        .min(Duration::from_secs(15));
    ceiling.mul_f64(rand::thread_rng().gen_range(0.75..=1.25))
}

/// Sleeps `pause`, checking `interrupt` every 200 ms; false (early) when it was set. Used where
/// Ctrl-C must stop a wait before something new is sent.
pub async fn sleep_unless_interrupted(pause: Duration, interrupt: &AtomicBool) -> bool {
    let until = Instant::now() + pause;
    while Instant::now() < until {
        if interrupt.load(Ordering::SeqCst) {
            return false;
        }
        tokio::time::sleep(
            until
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(200)),
        )
        .await;
    }
    true
}

/// The data-plane probe's backoff: returns `delay` with ±20 % jitter and grows it ×1.5 up to
/// 2 s, so verification ends within seconds of access starting.
pub fn next_delay(delay: &mut Duration) -> Duration {
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    let d = delay.mul_f64(jitter);
    *delay = (*delay * 3 / 2).min(Duration::from_secs(2));
    d
}

/// "Retry this call a few times with growing pauses when it fails with this one error code":
/// pause `first · 2^(n-1)` (capped at `cap`) before retry n, at most `max_retries` retries.
/// For errors Azure gives while something replicates (a principal created moments ago).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOnCode {
    /// The Azure error code worth retrying.
    pub code: &'static str,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Pause before the first retry.
    pub first: Duration,
    /// Largest pause.
    pub cap: Duration,
}

impl RetryOnCode {
    /// Role assignment create on a principal Entra has not replicated yet: 6 retries after
    /// 2, 4, 8, 16, 16, 16 s.
    pub const PRINCIPAL_NOT_FOUND: RetryOnCode = RetryOnCode {
        code: "PrincipalNotFound",
        max_retries: 6,
        first: Duration::from_secs(2),
        cap: Duration::from_secs(16),
    };

    /// The pause before retry `retry` (1-based); None when retries are used up.
    pub fn pause(&self, retry: u32) -> Option<Duration> {
        if retry == 0 || retry > self.max_retries {
            return None;
        }
        Some(
            self.first
                .saturating_mul(1u32 << (retry - 1).min(16))
                .min(self.cap),
        )
    }

    /// Runs `call` until it succeeds, fails with another code, or the retries are used up (then
    /// the last error is returned). `on_retry(n, max_retries)` is called before the pause of
    /// retry n, for progress ("retry 2/6").
    pub async fn run<T, F, Fut>(
        &self,
        mut call: F,
        mut on_retry: impl FnMut(u32, u32),
    ) -> Result<T, AzureError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, AzureError>>,
    {
        let mut retry = 0;
        loop {
            match call().await {
                Err(e) if e.code == self.code => match self.pause(retry + 1) {
                    Some(pause) => {
                        retry += 1;
                        tracing::debug!(
                            target: "keyless::retry",
                            "{}: retry {retry}/{} in {pause:?}",
                            self.code,
                            self.max_retries
                        );
                        on_retry(retry, self.max_retries);
                        tokio::time::sleep(pause).await;
                    }
                    None => return Err(e),
                },
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_prefers_milliseconds_and_reads_fractions() {
        let headers = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
        };
        assert_eq!(
            retry_after(headers(&[("retry-after", "3"), ("retry-after-ms", "250")])),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(headers(&[("x-ms-retry-after-ms", "1500")])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(headers(&[("retry-after", " 1.5 ")])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(headers(&[("retry-after", "Fri, 31 Dec 1999 23:59:59 GMT")])),
            None
        );
        assert_eq!(retry_after(headers(&[])), None);
    }

    #[test]
    fn ceilings_grow_then_cap() {
        let b = JitteredBackoff::default();
        assert_eq!(b.ceiling(0), Duration::from_millis(400));
        assert_eq!(b.ceiling(1), Duration::from_millis(800));
        assert_eq!(b.ceiling(10), Duration::from_secs(20));
        for n in 0..12 {
            assert!(b.sleep_duration(n) <= b.ceiling(n).max(Duration::from_millis(50)));
        }
    }

    #[test]
    fn expires_on_count_or_time() {
        let b = JitteredBackoff::default();
        assert!(!b.is_expired(Duration::from_secs(1), 0));
        assert!(b.is_expired(Duration::from_secs(1), 10));
        assert!(b.is_expired(Duration::from_secs(301), 1));
    }

    #[test]
    fn retry_after_reads_every_stack_the_same() {
        let mut core = azure_core::headers::Headers::new();
        core.insert("retry-after", "2");
        assert_eq!(retry_after_core(&core), Some(Duration::from_secs(2)));
        let mut http = reqwest::header::HeaderMap::new();
        http.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after_http(&http), Some(Duration::from_millis(250)));
        let json = serde_json::json!({"Retry-After": "3"});
        assert_eq!(retry_after_json(&json), Some(Duration::from_secs(3)));
        assert_eq!(retry_after_json(&serde_json::Value::Null), None);
    }

    #[test]
    fn operation_polls_follow_retry_after_within_bounds() {
        let mut h = azure_core::headers::Headers::new();
        assert_eq!(operation_poll_wait(&h), Duration::from_secs(5));
        h.insert("retry-after", "1");
        assert_eq!(operation_poll_wait(&h), Duration::from_secs(1));
        h.insert("retry-after", "60");
        assert_eq!(operation_poll_wait(&h), Duration::from_secs(5));
        h.insert("retry-after", "0");
        assert_eq!(operation_poll_wait(&h), Duration::from_millis(200));
    }

    #[test]
    fn busy_pauses_grow_from_the_poll_interval_to_fifteen_seconds() {
        let poll = Duration::from_secs(2);
        for attempt in 0..30 {
            let ceiling = poll
                .mul_f64(1.5f64.powi(attempt.min(16)))
                .min(Duration::from_secs(15));
            let p = busy_pause(poll, attempt);
            assert!(
                p >= ceiling.mul_f64(0.75) && p <= ceiling.mul_f64(1.25),
                "{attempt}: {p:?}"
            );
        }
        assert!(busy_pause(poll, 20) <= Duration::from_secs_f64(18.75));
    }

    #[tokio::test]
    async fn an_interrupt_ends_the_pause_early() {
        let stop = AtomicBool::new(false);
        assert!(sleep_unless_interrupted(Duration::from_millis(50), &stop).await);
        stop.store(true, Ordering::SeqCst);
        let start = Instant::now();
        assert!(!sleep_unless_interrupted(Duration::from_secs(60), &stop).await);
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn probe_backoff_is_capped_at_two_seconds() {
        let mut d = Duration::from_millis(500);
        for _ in 0..20 {
            assert!(next_delay(&mut d) <= Duration::from_millis(2400));
        }
        assert_eq!(d, Duration::from_secs(2));
    }

    #[test]
    fn principal_not_found_schedule_is_2_4_8_16_16_16() {
        let p = RetryOnCode::PRINCIPAL_NOT_FOUND;
        let pauses: Vec<u64> = (1..=7)
            .filter_map(|n| p.pause(n))
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(pauses, vec![2, 4, 8, 16, 16, 16]);
        // The same as the loop it replaces: `2u64.pow(attempt.min(4))` for attempt 1..=6.
        let old: Vec<u64> = (1u32..=6).map(|a| 2u64.pow(a.min(4))).collect();
        assert_eq!(pauses, old);
        assert_eq!(p.pause(0), None);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_on_code_retries_only_its_code_then_returns_the_last_error() {
        let p = RetryOnCode::PRINCIPAL_NOT_FOUND;
        let calls = std::cell::Cell::new(0);
        let mut seen = Vec::new();
        let start = tokio::time::Instant::now();
        let r: Result<(), AzureError> = p
            .run(
                || {
                    calls.set(calls.get() + 1);
                    async { Err(AzureError::new("create", 400, "PrincipalNotFound", "")) }
                },
                |n, max| seen.push((n, max)),
            )
            .await;
        assert_eq!(r.unwrap_err().code, "PrincipalNotFound");
        assert_eq!(calls.get(), 7);
        assert_eq!(seen, (1..=6).map(|n| (n, 6)).collect::<Vec<_>>());
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(2 + 4 + 8 + 16 + 16 + 16)
        );

        calls.set(0);
        let r: Result<u8, AzureError> = p
            .run(
                || {
                    calls.set(calls.get() + 1);
                    let n = calls.get();
                    async move {
                        match n {
                            1 => Err(AzureError::new("create", 400, "PrincipalNotFound", "")),
                            _ => Ok(7),
                        }
                    }
                },
                |_, _| {},
            )
            .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(calls.get(), 2);

        calls.set(0);
        let r: Result<(), AzureError> = p
            .run(
                || {
                    calls.set(calls.get() + 1);
                    async { Err(AzureError::new("create", 403, "AuthorizationFailed", "")) }
                },
                |_, _| {},
            )
            .await;
        assert_eq!(r.unwrap_err().code, "AuthorizationFailed");
        assert_eq!(calls.get(), 1);
    }

    /// The shape apply uses: `run` over a borrowing method call, progress from `on_retry`.
    #[tokio::test(start_paused = true)]
    async fn retry_on_code_wraps_a_borrowing_client_call() {
        struct Client {
            failures: std::cell::Cell<u32>,
        }
        impl Client {
            async fn create(&self, scope: &str, name: &str) -> Result<String, AzureError> {
                if self.failures.get() > 0 {
                    self.failures.set(self.failures.get() - 1);
                    return Err(AzureError::new("create", 400, "PrincipalNotFound", ""));
                }
                Ok(format!("{scope}/{name}"))
            }
        }
        let client = Client {
            failures: std::cell::Cell::new(2),
        };
        let (scope, name) = ("/subscriptions/s".to_string(), "n".to_string());
        let mut progress = Vec::new();
        let policy = RetryOnCode::PRINCIPAL_NOT_FOUND;
        let r = policy
            .run(
                || client.create(&scope, &name),
                |n, max| progress.push(format!("principal not replicated yet, retry {n}/{max}")),
            )
            .await;
        assert_eq!(r.unwrap(), "/subscriptions/s/n");
        assert_eq!(
            progress,
            [
                "principal not replicated yet, retry 1/6",
                "principal not replicated yet, retry 2/6"
            ]
        );
    }
}

//! Retry policy for every SDK call: jittered, capped exponential backoff that honours
//! `Retry-After` (azure_core passes it to `wait`), so concurrent workers don't retry in lockstep.

use async_trait::async_trait;
use azure_core::RetryPolicy;
use rand::Rng;
use std::time::Duration;

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
        _error: &azure_core::Error,
        retry_count: u32,
        retry_after: Option<Duration>,
    ) {
        let mut d = self.sleep_duration(retry_count);
        if let Some(ra) = retry_after {
            // Honour the server, plus a little jitter so a fleet of waiters doesn't stampede.
            let jitter = Duration::from_millis(rand::thread_rng().gen_range(0..250));
            d = ra + jitter;
        }
        tokio::time::sleep(d).await;
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
}

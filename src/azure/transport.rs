//! The one HTTP transport every Azure call goes through (management SDK clients, credentials,
//! Graph, data-plane probes).
//!
//! Why one transport: it is the single place that (1) trusts an extra CA (the emulator's) without
//! weakening TLS for anything else, (2) refuses plain HTTP except to loopback, (3) paces ARM
//! requests under the subscription's token-bucket budget, learning from ARM's remaining-budget
//! headers and 429s what other clients of the same principal spend, so a large apply rarely
//! meets a 429 and never retries into a storm, and (4) counts requests by kind, which the benchmarks and the `--output json` summary report.

use super::pacer::{Budget, Pacer};
use async_trait::async_trait;
use azure_core::{HttpClient, Request, Response};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Request counters, by kind (what ARM's throttling distinguishes, plus the other planes).
#[derive(Debug, Default)]
pub struct RequestCounters {
    /// ARM GET/HEAD.
    pub arm_reads: AtomicU64,
    /// ARM PUT/PATCH/POST.
    pub arm_writes: AtomicU64,
    /// ARM DELETE.
    pub arm_deletes: AtomicU64,
    /// Microsoft Graph requests.
    pub graph: AtomicU64,
    /// Token requests to the authority.
    pub token: AtomicU64,
    /// Everything else (data-plane probes).
    pub other: AtomicU64,
}

/// A snapshot of [`RequestCounters`] for reports.
#[derive(
    Debug,
    Default,
    Clone,
    Copy,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
    PartialEq,
    Eq,
)]
#[serde(rename_all = "camelCase")]
pub struct RequestCounts {
    /// ARM GET/HEAD.
    pub arm_reads: u64,
    /// ARM PUT/PATCH/POST.
    pub arm_writes: u64,
    /// ARM DELETE.
    pub arm_deletes: u64,
    /// Microsoft Graph requests.
    pub graph: u64,
    /// Token requests.
    pub token: u64,
    /// Other requests (data plane).
    pub other: u64,
}

impl RequestCounters {
    /// Reads the counters.
    pub fn snapshot(&self) -> RequestCounts {
        RequestCounts {
            arm_reads: self.arm_reads.load(Ordering::Relaxed),
            arm_writes: self.arm_writes.load(Ordering::Relaxed),
            arm_deletes: self.arm_deletes.load(Ordering::Relaxed),
            graph: self.graph.load(Ordering::Relaxed),
            token: self.token.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
        }
    }
}

/// Which plane a URL belongs to, decided from the configured endpoints.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// ARM base URL.
    pub arm: url::Url,
    /// Graph base URL.
    pub graph: url::Url,
    /// Authority host.
    pub authority: url::Url,
}

/// The keyless transport: reqwest underneath, with pacing, counting and the HTTPS rule on top.
#[derive(Debug, Clone)]
pub struct Transport {
    inner: reqwest::Client,
    endpoints: Arc<Endpoints>,
    counters: Arc<RequestCounters>,
    pacer: Arc<Pacer>,
    /// Entra's last error answer to a token request, summarised (see
    /// [`Transport::take_authority_error`]).
    authority_error: Arc<std::sync::Mutex<Option<String>>>,
}

/// One line from Entra's error body: status, `error`, the first line of `error_description`
/// (the AADSTS code and text) and the trace and correlation ids support asks for. Never the
/// request, and token-shaped text is redacted.
pub fn authority_error_summary(status: u16, body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let error = v["error"].as_str().unwrap_or("");
    let description = v["error_description"]
        .as_str()
        .and_then(|d| d.lines().next())
        .unwrap_or("")
        .trim();
    let mut s = format!("Entra ID answered HTTP {status}");
    if !error.is_empty() {
        s.push_str(&format!(" {error}"));
    }
    if !description.is_empty() {
        s.push_str(&format!(": {description}"));
    }
    let ids: Vec<String> = [
        ("Trace ID", "trace_id"),
        ("Correlation ID", "correlation_id"),
    ]
    .iter()
    .filter_map(|(label, key)| v[*key].as_str().map(|id| format!("{label} {id}")))
    .collect();
    if !ids.is_empty() {
        s.push_str(&format!(" ({})", ids.join(", ")));
    }
    super::error::redact(&s)
}

/// Retries of one token request after a transient failure.
const TOKEN_RETRIES: u32 = 4;
/// The longest `Retry-After` a token request is held for.
const TOKEN_RETRY_AFTER_CAP: std::time::Duration = std::time::Duration::from_secs(30);

impl Transport {
    /// Sends a request to the authority, retrying transient failures.
    ///
    /// Why here: azure_identity 0.21's credentials send token requests straight to the
    /// `HttpClient`, outside any pipeline and its retry policy, so one Entra 503
    /// (`temporarily_unavailable`, AADSTS90033), 429 or dropped connection would fail a whole
    /// apply. A token request is safe to repeat (it changes nothing), so it is retried up to
    /// [`TOKEN_RETRIES`] times with jittered backoff, honouring `Retry-After`. Other answers
    /// (wrong secret, unknown app: 4xx) are returned at once.
    async fn token_request_with_retries(&self, request: &Request) -> azure_core::Result<Response> {
        use azure_core::RetryPolicy;
        let backoff = super::retry::JitteredBackoff::default();
        let mut attempt = 0u32;
        loop {
            self.count(Kind::Token);
            let started = std::time::Instant::now();
            let result = self.inner.execute_request(request).await;
            log_exchange("POST", request.url(), started, answer_core(&result));
            let wait = match &result {
                Ok(r) if matches!(u16::from(r.status()), 429 | 500 | 502 | 503 | 504) => {
                    Some(super::retry::retry_after_core(r.headers()).unwrap_or_default())
                }
                Ok(_) => None,
                Err(e) if matches!(e.kind(), azure_core::error::ErrorKind::Io) => {
                    Some(std::time::Duration::ZERO)
                }
                Err(_) => None,
            };
            match wait {
                Some(server_wait) if attempt < TOKEN_RETRIES => {
                    let wait = server_wait
                        .min(TOKEN_RETRY_AFTER_CAP)
                        .max(backoff.sleep_duration(attempt));
                    tracing::debug!(
                        target: "keyless::retry",
                        "token request: transient failure, retry {}/{TOKEN_RETRIES} in {wait:?}",
                        attempt + 1
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => return self.remember_authority_error(result).await,
            }
        }
    }

    /// Entra's last error answer to a token request, once: `HTTP 401 invalid_client: AADSTS7000215:
    /// Invalid client secret provided. … (Trace ID …, Correlation ID …)`.
    ///
    /// Why: azure_identity 0.21 reports every refused token request as "request token error:
    /// Server returned error response", dropping Entra's `error` and AADSTS text — exactly
    /// what tells a wrong secret from an unknown app or an outage. The transport saw the
    /// answer; the credential wrapper (`credential::Explained`, which uses the transport, not
    /// the other way round) attaches it to the credential's error.
    pub fn take_authority_error(&self) -> Option<String> {
        self.authority_error.lock().ok()?.take()
    }

    /// Records an error answer from the authority (and hands the response on unchanged).
    async fn remember_authority_error(
        &self,
        result: azure_core::Result<Response>,
    ) -> azure_core::Result<Response> {
        let response = match result {
            Ok(r) if u16::from(r.status()) >= 400 => r,
            other => return other,
        };
        let (status, headers, body) = response.deconstruct();
        let bytes = body.collect().await?;
        let summary = authority_error_summary(u16::from(status), &bytes);
        if let Ok(mut slot) = self.authority_error.lock() {
            *slot = Some(summary);
        }
        Ok(Response::new(
            status,
            headers,
            Box::pin(azure_core::BytesStream::new(bytes)),
        ))
    }

    /// Builds the transport. `extra_ca_pem` is trusted in addition to the public roots.
    pub fn new(
        endpoints: Endpoints,
        extra_ca_pem: Option<&[u8]>,
        pacer: Pacer,
    ) -> Result<Transport, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .https_only(false) // enforced per request below (loopback HTTP allowed)
            .pool_max_idle_per_host(32)
            .user_agent(concat!("keyless/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(120));
        if let Some(pem) = extra_ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Transport {
            inner: builder.build()?,
            endpoints: Arc::new(endpoints),
            counters: Arc::new(RequestCounters::default()),
            pacer: Arc::new(pacer),
            authority_error: Arc::new(std::sync::Mutex::new(None)),
        })
    }

    /// The request counters (shared with every clone).
    pub fn counters(&self) -> Arc<RequestCounters> {
        self.counters.clone()
    }

    /// The raw reqwest client, for the few callers that speak plain HTTP+JSON (Graph, probes).
    /// They must still go through [`Transport::send_raw`] so counting and the HTTPS rule apply.
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.inner
    }

    /// Sends a reqwest request with the same rules as SDK traffic (HTTPS rule, counting).
    pub async fn send_raw(
        &self,
        req: reqwest::Request,
    ) -> Result<reqwest::Response, TransportError> {
        let kind = self.classify(req.url(), req.method().as_str());
        crate::cloud::check_url_secure(req.url())
            .map_err(|_| TransportError::Insecure(req.url().to_string()))?;
        self.count(kind);
        let (method, url) = (req.method().to_string(), req.url().clone());
        let started = std::time::Instant::now();
        let result = self.inner.execute(req).await;
        let answer = match &result {
            Ok(r) => Ok(Answer {
                status: r.status().as_u16(),
                request_id: REQUEST_ID_HEADERS
                    .iter()
                    .find_map(|h| r.headers().get(*h)?.to_str().ok()),
                retry_after: super::retry::retry_after_http(r.headers()),
            }),
            Err(e) => Err(e as &dyn std::fmt::Display),
        };
        log_exchange(&method, &url, started, answer);
        result.map_err(TransportError::Http)
    }

    fn classify(&self, url: &url::Url, method: &str) -> Kind {
        let same_origin = |base: &url::Url| {
            url.scheme() == base.scheme()
                && url.host() == base.host()
                && url.port_or_known_default() == base.port_or_known_default()
        };
        let path = url.path();
        if same_origin(&self.endpoints.authority)
            && (path.contains("/oauth2/") || path.contains("/.well-known/"))
        {
            return Kind::Token;
        }
        if same_origin(&self.endpoints.graph) && path.starts_with("/v1.0") {
            return Kind::Graph;
        }
        if same_origin(&self.endpoints.arm)
            && (path.starts_with("/subscriptions") || path.starts_with("/providers"))
        {
            return match method {
                "GET" | "HEAD" => Kind::ArmRead,
                "DELETE" => Kind::ArmDelete,
                _ => Kind::ArmWrite,
            };
        }
        Kind::Other
    }

    fn count(&self, kind: Kind) {
        let c = match kind {
            Kind::ArmRead => &self.counters.arm_reads,
            Kind::ArmWrite => &self.counters.arm_writes,
            Kind::ArmDelete => &self.counters.arm_deletes,
            Kind::Graph => &self.counters.graph,
            Kind::Token => &self.counters.token,
            Kind::Other => &self.counters.other,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ArmRead,
    ArmWrite,
    ArmDelete,
    Graph,
    Token,
    Other,
}

impl Kind {
    /// The ARM budget a request of this kind spends, if any.
    fn budget(self) -> Option<Budget> {
        match self {
            Kind::ArmRead => Some(Budget::Reads),
            Kind::ArmWrite => Some(Budget::Writes),
            Kind::ArmDelete => Some(Budget::Deletes),
            _ => None,
        }
    }
}

/// Transport-level failures outside the SDK pipeline.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Plain HTTP to a non-loopback host.
    #[error("refusing plain-HTTP request to {0}: tokens are only sent over HTTPS (HTTP is allowed to loopback only)")]
    Insecure(String),
    /// The HTTP exchange failed.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

#[async_trait]
impl HttpClient for Transport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<Response> {
        let url = request.url();
        crate::cloud::check_url_secure(url).map_err(|e| {
            azure_core::Error::message(azure_core::error::ErrorKind::Other, e.to_string())
        })?;
        let method = request.method().to_string().to_ascii_uppercase();
        let kind = self.classify(url, &method);
        let budget = kind.budget();
        if let Some(b) = budget {
            self.pacer.bucket(b).acquire().await;
        }
        if kind == Kind::Token {
            return self.token_request_with_retries(request).await;
        }
        self.count(kind);
        let started = std::time::Instant::now();
        let response = self.inner.execute_request(request).await;
        log_exchange(&method, url, started, answer_core(&response));
        let response = response?;
        if let Some(b) = budget {
            let headers = response.headers();
            let remaining = headers
                .get_optional_str(&azure_core::headers::HeaderName::from_static(b.header()))
                .and_then(|v| v.trim().parse::<u64>().ok());
            self.pacer
                .observe(
                    b,
                    u16::from(response.status()),
                    super::retry::retry_after_core(headers),
                    remaining,
                )
                .await;
        }
        Ok(response)
    }
}

/// A URL as logs show it: scheme, host and path, and of the query only `api-version` (other
/// parameters can carry signatures or filters naming people).
pub fn loggable_url(url: &url::Url) -> String {
    let mut out = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    );
    out.push_str(url.path());
    if let Some((_, v)) = url.query_pairs().find(|(k, _)| k == "api-version") {
        out.push_str(&format!("?api-version={v}"));
    }
    out
}

/// Headers that carry the service's id for a request (ARM's, then Graph's), for support cases.
const REQUEST_ID_HEADERS: [&str; 2] = ["x-ms-request-id", "request-id"];

/// What the log says of an answer, whichever HTTP stack brought it.
struct Answer<'a> {
    status: u16,
    request_id: Option<&'a str>,
    retry_after: Option<std::time::Duration>,
}

/// [`Answer`] of an azure_core exchange.
fn answer_core(
    result: &azure_core::Result<Response>,
) -> Result<Answer<'_>, &dyn std::fmt::Display> {
    match result {
        Ok(r) => Ok(Answer {
            status: u16::from(r.status()),
            request_id: REQUEST_ID_HEADERS.iter().find_map(|h| {
                r.headers()
                    .get_optional_str(&azure_core::headers::HeaderName::from_static(h))
            }),
            retry_after: super::retry::retry_after_core(r.headers()),
        }),
        Err(e) => Err(e),
    }
}

/// Logs one request and its answer (method, URL without secrets, status, time, request id),
/// and a throttled answer's Retry-After.
fn log_exchange(
    method: &str,
    url: &url::Url,
    started: std::time::Instant,
    answer: Result<Answer<'_>, &dyn std::fmt::Display>,
) {
    match answer {
        Ok(a) => {
            tracing::debug!(
                target: "keyless::http",
                "{method} {} → {} in {} ms (request id {})",
                loggable_url(url),
                a.status,
                started.elapsed().as_millis(),
                a.request_id.unwrap_or("-")
            );
            if a.status == 429 {
                tracing::debug!(
                    target: "keyless::retry",
                    "throttled by {}; Retry-After {:?}",
                    url.host_str().unwrap_or(""),
                    a.retry_after
                );
            }
        }
        Err(e) => tracing::debug!(
            target: "keyless::http",
            "{method} {} failed: {e}",
            loggable_url(url)
        ),
    }
}

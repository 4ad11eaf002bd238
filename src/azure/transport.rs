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
#[derive(Debug, Default, Clone, Copy, serde::Serialize, PartialEq, Eq)]
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
}

impl Transport {
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
        self.inner.execute(req).await.map_err(TransportError::Http)
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
        self.count(kind);
        let response = self.inner.execute_request(request).await?;
        if let Some(b) = budget {
            let headers = response.headers();
            let remaining = headers
                .get_optional_str(&azure_core::headers::HeaderName::from_static(b.header()))
                .and_then(|v| v.trim().parse::<u64>().ok());
            let retry_after =
                Some(azure_core::lro::get_retry_after(headers)).filter(|d| !d.is_zero());
            self.pacer
                .observe(b, u16::from(response.status()), retry_after, remaining)
                .await;
        }
        Ok(response)
    }
}

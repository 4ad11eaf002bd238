//! The HTTPS server: accept loop, request decoding, and the cross-cutting layers every request
//! goes through — faults, ARM throttling, ARM common headers, panic isolation, persistence, the
//! request log and counters — before and after the service handler.
//!
//! Why here: these are properties of "Azure the network service", identical for every ARM
//! resource type, so no handler has to remember them.

use crate::auth;
use crate::ctx::Ctx;
use crate::faults::FaultDecision;
use crate::http::{Req, Resp};
use crate::observe::LogEntry;
use crate::router::{self, Route};
use crate::throttle::{OpKind, Take};
use bytes::Bytes;
use futures::FutureExt;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::{rustls, TlsAcceptor};

/// Largest request body accepted (ARM's limit is 4 MiB).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// What the pipeline decided: a response, or dropping the connection.
#[derive(Debug)]
pub enum Outcome {
    /// Send this.
    Respond(Resp),
    /// Close the connection without a response (injected reset).
    Reset,
}

/// Returned to hyper to make it drop the connection without writing a response.
#[derive(Debug)]
pub struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by fault injection")
    }
}

impl std::error::Error for ResetConnection {}

/// Runs the accept loop until `shutdown` flips; open connections are aborted then.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    ctx: Arc<Ctx>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut conns: JoinSet<()> = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(x) => x,
                    Err(_) => {
                        // Out of file descriptors or similar: back off instead of spinning.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let ctx = ctx.clone();
                conns.spawn(async move {
                    let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        _ => return,
                    };
                    let svc = hyper::service::service_fn(move |req| {
                        let ctx = ctx.clone();
                        async move { handle_http(ctx, req, peer).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .header_read_timeout(Duration::from_secs(30))
                        .timer(hyper_util::rt::TokioTimer::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                        .await;
                });
            }
        }
    }
    conns.abort_all();
}

async fn handle_http(
    ctx: Arc<Ctx>,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> Result<hyper::Response<Full<Bytes>>, ResetConnection> {
    let started = std::time::Instant::now();
    let arrived = ctx.now();
    let (parts, body) = req.into_parts();
    let (path_and_query, headers) = request_head(&parts);
    let body = read_body(&parts, body).await;
    let method = parts.method.as_str().to_string();
    let (outcome, req_meta) = match body {
        Ok(body) => {
            let req = Req::new(&method, &path_and_query, headers, body);
            let meta = Meta::of(&req);
            if meta.route == Route::Admin && !peer.ip().is_loopback() {
                (
                    Outcome::Respond(Resp::arm_error(
                        403,
                        "Forbidden",
                        "The admin API answers loopback clients only.",
                    )),
                    (meta, None),
                )
            } else {
                let (o, injected) = process(&ctx, req).await;
                (o, (meta, injected))
            }
        }
        Err(true) => {
            let req = Req::new(&method, &path_and_query, headers, Bytes::new());
            let meta = Meta::of(&req);
            let resp = Resp::arm_error(
                413,
                "RequestEntityTooLarge",
                &format!(
                    "The request content size exceeds the maximum allowed size of {} bytes.",
                    MAX_BODY
                ),
            );
            (Outcome::Respond(resp), (meta, None))
        }
        // The client went away mid-body: nothing to answer.
        Err(false) => return Err(ResetConnection),
    };
    let (meta, injected) = req_meta;
    let status = match &outcome {
        Outcome::Respond(r) => r.status,
        Outcome::Reset => 0,
    };
    record(&ctx, &meta, injected, status, arrived, started);
    match outcome {
        Outcome::Reset => Err(ResetConnection),
        Outcome::Respond(resp) => Ok(to_hyper(resp)),
    }
}

/// The path with its query and the headers (plus `host` from an absolute URI) of a request.
fn request_head(parts: &hyper::http::request::Parts) -> (String, Vec<(String, String)>) {
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    if let Some(host) = parts.uri.host() {
        if !headers.iter().any(|(k, _)| k == "host") {
            headers.push(("host".into(), host.to_string()));
        }
    }
    (path_and_query, headers)
}

/// The body, at most `MAX_BODY` bytes: `Err(true)` when larger, `Err(false)` when the client
/// went away mid-body.
async fn read_body(parts: &hyper::http::request::Parts, body: Incoming) -> Result<Bytes, bool> {
    let declared_len = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_len.is_some_and(|n| n > MAX_BODY as u64) {
        Err(true)
    } else {
        match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => Ok(b.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(true),
            Err(_) => Err(false),
        }
    }
}

/// Logs a finished request (request log, counters, and stderr when asked).
fn record(
    ctx: &Ctx,
    meta: &Meta,
    injected: Option<&'static str>,
    status: u16,
    arrived: f64,
    started: std::time::Instant,
) {
    let entry = LogEntry {
        time: crate::timefmt::iso_time(arrived),
        unix: arrived,
        method: meta.method.clone(),
        path: meta.path.clone(),
        status,
        route: meta.route.as_str().to_string(),
        caller_oid: meta.caller_oid.clone(),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        request_id: meta.request_id.clone(),
        injected: injected.map(str::to_string),
    };
    if ctx.log_to_stderr {
        eprintln!(
            "{} {} {} {} {:.1}ms{}",
            entry.time,
            entry.method,
            entry.path,
            if status == 0 {
                "RESET".to_string()
            } else {
                status.to_string()
            },
            entry.duration_ms,
            entry
                .injected
                .as_deref()
                .map(|i| format!(" [{i}]"))
                .unwrap_or_default()
        );
    }
    ctx.obs.record(entry, meta.token_request);
}

/// What the log needs from a request after it was consumed.
struct Meta {
    method: String,
    path: String,
    route: Route,
    caller_oid: Option<String>,
    request_id: String,
    token_request: bool,
}

impl Meta {
    fn of(req: &Req) -> Meta {
        let route = router::classify(req);
        let token_request = route == Route::Msi
            || (route == Route::Entra
                && req
                    .segments
                    .last()
                    .is_some_and(|s| s.eq_ignore_ascii_case("token")));
        Meta {
            method: req.method.clone(),
            path: req.path.clone(),
            route,
            caller_oid: req.bearer().and_then(crate::tokens::peek_oid),
            request_id: req.request_id.clone(),
            token_request,
        }
    }
}

fn to_hyper(resp: Resp) -> hyper::Response<Full<Bytes>> {
    let mut b = hyper::Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            hyper::header::HeaderValue::from_str(v),
        ) {
            b = b.header(name, value);
        }
    }
    b.body(Full::new(resp.body)).unwrap_or_else(|_| {
        let mut r = hyper::Response::new(Full::new(Bytes::from_static(b"internal error")));
        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// A fault answered by Entra ID: same status and `Retry-After`, Entra's body. A 503 or 429 is
/// `temporarily_unavailable` / AADSTS90033 "A transient error has occurred" (observed on the
/// token endpoint: Azure/azure-sdk-for-python#14241), anything else `server_error` / AADSTS90041
/// (observed on discovery: AzureAD/microsoft-authentication-library-for-js#4329).
fn entra_fault(ctx: &Ctx, req: &Req, fault: Resp) -> Resp {
    let (error, code) = match fault.status {
        503 | 429 => ("temporarily_unavailable", 90033),
        _ => ("server_error", 90041),
    };
    let mut r = crate::services::entra::aad_error(
        ctx,
        req,
        fault.status,
        error,
        code,
        "A transient error has occurred. Please try again.",
    );
    if let Some(v) = fault.header("retry-after") {
        r = r.with_header("retry-after", v.to_string());
    }
    r
}

/// The transport-independent pipeline: faults → throttling → handler (panics caught) → ARM
/// headers → persistence. Returns the outcome and, when a fault or throttling answered, its kind.
pub async fn process(ctx: &Ctx, req: Req) -> (Outcome, Option<&'static str>) {
    let route = router::classify(&req);
    let faultable = route == Route::Arm
        || (route == Route::DataPlane && ctx.faults.lock().applies_to_data_plane())
        || (route == Route::Graph && ctx.faults.lock().applies_to_graph())
        || (route == Route::Entra && ctx.faults.lock().applies_to_entra());
    let method = req.method.clone();
    let arm = route == Route::Arm;
    let arm_ctx = arm.then(|| ArmCtx::of(ctx, &req));

    let reset_after = if faultable {
        match inject_faults(ctx, route, &req, arm_ctx.as_ref()).await {
            Ok(reset_after) => reset_after,
            Err(answered) => return answered,
        }
    } else {
        false
    };

    let mut remaining = None;
    if let Some(a) = &arm_ctx {
        let take = ctx
            .throttle
            .lock()
            .take(&a.subscription, &a.actor, a.kind, ctx.now());
        match take {
            Take::Allowed(n) => remaining = Some(n),
            Take::Throttled(retry) => {
                let r = a.decorate(&req, a.throttled(retry), Some(0));
                return (Outcome::Respond(r), Some("throttled"));
            }
        }
    }

    let decorate_req = arm_ctx.as_ref().map(|_| req.clone());
    // Admin endpoints manage persistence themselves (a reset wipes the file).
    let writes = !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS")
        && matches!(route, Route::Arm | Route::DataPlane | Route::Msi);
    let resp = match std::panic::AssertUnwindSafe(router::dispatch(ctx, route, req))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(_) => Resp::arm_error(
            500,
            "InternalServerError",
            "Encountered internal server error. The emulator's handler panicked; see its stderr.",
        ),
    };
    let resp = match (&arm_ctx, decorate_req) {
        (Some(a), Some(r)) => a.decorate(&r, resp, remaining),
        _ => resp,
    };
    if writes && resp.status < 500 {
        if let Err(e) = persist_now(ctx).await {
            return (
                Outcome::Respond(Resp::arm_error(
                    500,
                    "InternalServerError",
                    &format!("The emulator could not persist its state: {e}"),
                )),
                None,
            );
        }
    }
    if reset_after {
        return (Outcome::Reset, Some("reset-after-commit"));
    }
    (Outcome::Respond(resp), None)
}

/// The fault stage: latency, then the decision for this request. `Ok(true)` when the
/// connection is to be reset after the handler commits, `Err` when a fault answers (or resets)
/// instead of the handler.
async fn inject_faults(
    ctx: &Ctx,
    route: Route,
    req: &Req,
    arm_ctx: Option<&ArmCtx>,
) -> Result<bool, (Outcome, Option<&'static str>)> {
    let latency = ctx.faults.lock().latency();
    if latency > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(latency)).await;
    }
    let decision = ctx.faults.lock().decide(&req.method, &req.path, ctx.now());
    match decision {
        FaultDecision::Pass => Ok(false),
        FaultDecision::ResetAfter => Ok(true),
        FaultDecision::Reset => Err((Outcome::Reset, Some("reset"))),
        FaultDecision::Respond(r) => {
            let r = match arm_ctx {
                Some(a) => a.decorate(req, r, None),
                None if route == Route::Entra => entra_fault(ctx, req, r),
                None => r,
            };
            Err((Outcome::Respond(r), Some("fault")))
        }
        FaultDecision::Storm(retry) => {
            let r = match arm_ctx {
                Some(a) => a.decorate(req, a.throttled(retry), Some(0)),
                None => Resp::arm_error(429, "TooManyRequests", "Too many requests.")
                    .with_header("retry-after", retry.to_string()),
            };
            let r = if route == Route::Entra {
                entra_fault(ctx, req, r)
            } else {
                r
            };
            Err((Outcome::Respond(r), Some("throttled")))
        }
    }
}

/// Writes a snapshot now (no-op without `--state`). Synchronous on purpose: the response must
/// not leave before the write is durable; the state is small, so this is milliseconds.
pub async fn persist_now(ctx: &Ctx) -> Result<(), crate::persist::PersistError> {
    let Some(p) = &ctx.persister else {
        return Ok(());
    };
    let (seq, bytes) = {
        let state = ctx.state.lock();
        p.encode(&state, &ctx.keys.private_pem)
    };
    p.write(seq, &bytes)
}

/// The throttling identity and headers of one ARM request.
struct ArmCtx {
    subscription: String,
    tenant_scope: bool,
    actor: String,
    kind: OpKind,
}

impl ArmCtx {
    fn of(ctx: &Ctx, req: &Req) -> ArmCtx {
        let tenant_scope = !req
            .segments
            .first()
            .is_some_and(|s| s.eq_ignore_ascii_case("subscriptions"));
        let subscription = if tenant_scope {
            ctx.tenant_id.clone()
        } else {
            req.segments.get(1).cloned().unwrap_or_default()
        };
        let actor = auth::validate(ctx, req, &auth::ARM_AUDIENCES)
            .map(|c| c.oid)
            .unwrap_or_else(|_| "anonymous".into());
        ArmCtx {
            subscription,
            tenant_scope,
            actor,
            kind: OpKind::of(&req.method),
        }
    }

    fn throttled(&self, retry: u64) -> Resp {
        let (code, scope) = if self.tenant_scope {
            ("TenantRequestsThrottled", "tenant")
        } else {
            ("SubscriptionRequestsThrottled", "subscription")
        };
        Resp::arm_error(
            429,
            code,
            &format!(
                "Number of '{}' requests for {scope} '{}' actor '{}' exceeded. Please try again after '{retry}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information.",
                self.kind.singular(),
                self.subscription,
                self.actor
            ),
        )
        .with_header("retry-after", retry.to_string())
    }

    /// Adds ARM's common headers (behaviour notes §3.6) unless the handler set them.
    fn decorate(&self, req: &Req, mut r: Resp, remaining: Option<u32>) -> Resp {
        let set = |r: Resp, k: &str, v: String| {
            if r.header(k).is_none() {
                r.with_header(k, v)
            } else {
                r
            }
        };
        r = set(r, "x-ms-request-id", req.request_id.clone());
        let correlation = req
            .header("x-ms-correlation-request-id")
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        r = set(r, "x-ms-correlation-request-id", correlation);
        let stamp = time::OffsetDateTime::now_utc();
        r = set(
            r,
            "x-ms-routing-request-id",
            format!(
                "EASTUS:{:04}{:02}{:02}T{:02}{:02}{:02}Z:{}",
                stamp.year(),
                u8::from(stamp.month()),
                stamp.day(),
                stamp.hour(),
                stamp.minute(),
                stamp.second(),
                uuid::Uuid::new_v4()
            ),
        );
        if let Some(c) = req.header("x-ms-client-request-id") {
            r = set(r, "x-ms-client-request-id", c.to_string());
        }
        if let Some(n) = remaining {
            let scope = if self.tenant_scope {
                "tenant"
            } else {
                "subscription"
            };
            r = set(
                r,
                &format!("x-ms-ratelimit-remaining-{scope}-{}", self.kind.plural()),
                n.to_string(),
            );
        }
        r
    }
}

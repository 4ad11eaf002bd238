//! Request log and counters: what the admin API reports and what tests assert on ("keyless made
//! exactly N ARM writes", "the token endpoint was hit once").

use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// How many log entries are kept (oldest dropped first).
pub const LOG_CAPACITY: usize = 10_000;

/// One handled request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// RFC 3339 time the request arrived.
    pub time: String,
    /// Same, as unix seconds.
    pub unix: f64,
    /// Method.
    pub method: String,
    /// Path (no query: query strings may carry secrets).
    pub path: String,
    /// Status answered (0 = connection reset).
    pub status: u16,
    /// Route class (`arm`, `entra`, `msi`, `graph`, `dataplane`, `admin`, `unknown`).
    pub route: String,
    /// Object id of the caller, when a bearer token named one.
    pub caller_oid: Option<String>,
    /// Time spent, milliseconds.
    pub duration_ms: f64,
    /// `x-ms-request-id`.
    pub request_id: String,
    /// Set when a fault or throttling produced the answer (`fault`, `throttled`, `reset`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub injected: Option<String>,
}

/// Request counters.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// All requests.
    pub total: u64,
    /// By route class.
    pub by_route: BTreeMap<String, u64>,
    /// By method.
    pub by_method: BTreeMap<String, u64>,
    /// By status (as a string, `"0"` = reset).
    pub by_status: BTreeMap<String, u64>,
    /// By `route METHOD status`, e.g. `arm PUT 201`.
    pub by_route_method_status: BTreeMap<String, u64>,
    /// ARM GET/HEAD.
    pub arm_reads: u64,
    /// ARM PUT/PATCH/POST.
    pub arm_writes: u64,
    /// ARM DELETE.
    pub arm_deletes: u64,
    /// Graph requests.
    pub graph_requests: u64,
    /// Token requests (Entra token endpoints and managed identity endpoints).
    pub token_requests: u64,
    /// Requests answered 429 by throttling or a storm.
    pub throttled: u64,
    /// Requests answered by an injected fault (errors and resets).
    pub faults_injected: u64,
}

/// Request log plus counters.
#[derive(Debug, Default)]
pub struct Observer {
    log: Mutex<VecDeque<LogEntry>>,
    counters: Mutex<Counters>,
}

impl Observer {
    /// Records one handled request.
    pub fn record(&self, e: LogEntry, token_request: bool) {
        {
            let mut c = self.counters.lock();
            c.total += 1;
            *c.by_route.entry(e.route.clone()).or_default() += 1;
            *c.by_method.entry(e.method.clone()).or_default() += 1;
            *c.by_status.entry(e.status.to_string()).or_default() += 1;
            *c.by_route_method_status
                .entry(format!("{} {} {}", e.route, e.method, e.status))
                .or_default() += 1;
            if e.route == "arm" {
                match e.method.as_str() {
                    "GET" | "HEAD" => c.arm_reads += 1,
                    "DELETE" => c.arm_deletes += 1,
                    _ => c.arm_writes += 1,
                }
            }
            if e.route == "graph" {
                c.graph_requests += 1;
            }
            if token_request {
                c.token_requests += 1;
            }
            match e.injected.as_deref() {
                Some("throttled") => c.throttled += 1,
                Some(_) => c.faults_injected += 1,
                None => {}
            }
        }
        let mut log = self.log.lock();
        if log.len() >= LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(e);
    }

    /// A copy of the counters.
    pub fn counters(&self) -> Counters {
        self.counters.lock().clone()
    }

    /// Zeroes the counters (the log is kept).
    pub fn reset_counters(&self) {
        *self.counters.lock() = Counters::default();
    }

    /// A copy of the log, oldest first.
    pub fn requests(&self) -> Vec<LogEntry> {
        self.log.lock().iter().cloned().collect()
    }

    /// Clears the log.
    pub fn clear_log(&self) {
        self.log.lock().clear();
    }
}

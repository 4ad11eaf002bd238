//! Injected faults: latency, random 5xx, connection resets, 429 storms and "fail the next N
//! matching requests" rules.
//!
//! Why: keyless's retry, backoff and idempotency logic is only proven by an Azure that misbehaves
//! on demand. Faults apply to ARM routes (and the data plane when enabled), never to the admin API.

use crate::http::Resp;
use crate::world::{FaultRule, Faults, Storm};
use serde::Serialize;

/// What the fault layer decided for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultDecision {
    /// Handle normally.
    Pass,
    /// Answer with this response instead of calling the handler.
    Respond(Resp),
    /// Answer 429 as throttling does (a storm); carries `Retry-After` seconds.
    Storm(u64),
    /// Close the connection without a response.
    Reset,
    /// Handle (and persist) the request, then close the connection without a response.
    ResetAfter,
}

/// A rule with its remaining budget.
#[derive(Debug, Clone)]
struct ActiveRule {
    rule: FaultRule,
    regex: regex_lite::Regex,
    remaining: u32,
}

/// Current fault configuration and counters.
#[derive(Debug, Clone)]
pub struct FaultState {
    config: Faults,
    rules: Vec<ActiveRule>,
    storm_until: f64,
    storm_retry_after: u64,
}

/// The JSON view of the fault state (admin `GET faults`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultView {
    /// Configuration as last set (rules with their *remaining* counts).
    #[serde(flatten)]
    pub config: Faults,
    /// Seconds of 429 storm left (0 when none).
    pub storm_remaining_seconds: f64,
}

impl FaultState {
    /// Starts from the world's faults (a storm starts now).
    pub fn from_world(f: &Faults, now: f64) -> FaultState {
        let mut s = FaultState {
            config: Faults::default(),
            rules: vec![],
            storm_until: 0.0,
            storm_retry_after: 1,
        };
        // The world file was validated, so regexes compile; a failure leaves the rule out.
        let _ = s.set(f.clone(), now);
        s
    }

    /// Replaces the configuration (admin `PUT faults`). Rules restart their counts; a `storm`
    /// starts a window of `storm.seconds` from now.
    pub fn set(&mut self, f: Faults, now: f64) -> Result<(), String> {
        let mut rules = Vec::with_capacity(f.rules.len());
        for (i, r) in f.rules.iter().enumerate() {
            let regex =
                regex_lite::Regex::new(&r.path).map_err(|e| format!("rules[{i}].path: {e}"))?;
            rules.push(ActiveRule {
                rule: r.clone(),
                regex,
                remaining: r.count,
            });
        }
        for (name, v) in [
            ("errorRate", f.error_rate),
            ("resetRate", f.reset_rate),
            ("resetAfterRate", f.reset_after_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        match &f.storm {
            Some(Storm {
                seconds,
                retry_after,
            }) => {
                self.storm_until = now + seconds.max(0.0);
                self.storm_retry_after = *retry_after;
            }
            None => self.storm_until = 0.0,
        }
        self.rules = rules;
        self.config = f;
        Ok(())
    }

    /// Whether faults also apply to the Azure OpenAI data plane.
    pub fn applies_to_data_plane(&self) -> bool {
        self.config.data_plane
    }

    /// Whether faults also apply to Microsoft Graph.
    pub fn applies_to_graph(&self) -> bool {
        self.config.graph
    }

    /// Whether faults also apply to Entra ID.
    pub fn applies_to_entra(&self) -> bool {
        self.config.entra
    }

    /// Latency to add to this request (seconds).
    pub fn latency(&self) -> f64 {
        self.config.latency_ms.0.sample()
    }

    /// Decides the fate of one request. Rules come first (so "fail exactly N" is exact), then
    /// the storm window, then random resets and errors.
    pub fn decide(&mut self, method: &str, path: &str, now: f64) -> FaultDecision {
        for r in self.rules.iter_mut() {
            if r.remaining == 0 {
                continue;
            }
            let method_ok = match r.rule.method.as_deref() {
                Some(m) => m.eq_ignore_ascii_case(method),
                None => true,
            };
            if method_ok && r.regex.is_match(path) {
                r.remaining -= 1;
                if r.rule.status == 0 {
                    return if r.rule.after {
                        FaultDecision::ResetAfter
                    } else {
                        FaultDecision::Reset
                    };
                }
                let code = r
                    .rule
                    .code
                    .clone()
                    .unwrap_or_else(|| default_code(r.rule.status).to_string());
                let mut resp =
                    Resp::arm_error(r.rule.status, &code, &default_message(r.rule.status));
                if let Some(s) = r.rule.retry_after {
                    resp = resp.with_header("retry-after", s.to_string());
                }
                return FaultDecision::Respond(resp);
            }
        }
        if now < self.storm_until {
            return FaultDecision::Storm(self.storm_retry_after);
        }
        use rand::Rng;
        let mut rng = rand::thread_rng();
        if self.config.reset_rate > 0.0 && rng.gen_bool(self.config.reset_rate) {
            return FaultDecision::Reset;
        }
        if self.config.reset_after_rate > 0.0 && rng.gen_bool(self.config.reset_after_rate) {
            return FaultDecision::ResetAfter;
        }
        if self.config.error_rate > 0.0 && rng.gen_bool(self.config.error_rate) {
            let status = if rng.gen_bool(0.5) { 500 } else { 503 };
            return FaultDecision::Respond(Resp::arm_error(
                status,
                default_code(status),
                &default_message(status),
            ));
        }
        FaultDecision::Pass
    }

    /// The admin view: configuration with remaining rule counts.
    pub fn view(&self, now: f64) -> FaultView {
        let mut config = self.config.clone();
        config.rules = self
            .rules
            .iter()
            .map(|r| FaultRule {
                count: r.remaining,
                ..r.rule.clone()
            })
            .collect();
        FaultView {
            config,
            storm_remaining_seconds: (self.storm_until - now).max(0.0),
        }
    }
}

fn default_code(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => "InjectedFault",
    }
}

fn default_message(status: u16) -> String {
    match status {
        500 => "Encountered internal server error. Please try again later.".into(),
        503 => "The server is currently unable to handle the request. Please retry the request.".into(),
        504 => "The gateway did not receive a response from 'Microsoft.Resources' within the specified time period.".into(),
        429 => "Too many requests. Please retry after some time.".into(),
        s => format!("Injected fault (HTTP {s})."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_rule_with_after_commits_first() {
        let f = Faults {
            rules: vec![FaultRule {
                path: "roleAssignments/".into(),
                method: None,
                status: 0,
                count: 1,
                retry_after: None,
                code: None,
                after: true,
            }],
            ..Default::default()
        };
        let mut s = FaultState::from_world(&f, 0.0);
        let p = "/subscriptions/x/providers/Microsoft.Authorization/roleAssignments/n";
        assert_eq!(s.decide("PUT", p, 0.0), FaultDecision::ResetAfter);
        assert_eq!(s.decide("PUT", p, 0.0), FaultDecision::Pass);
    }

    #[test]
    fn rule_fails_exactly_n() {
        let f = Faults {
            rules: vec![FaultRule {
                path: "resourcegroups/rg1$".into(),
                method: Some("PUT".into()),
                status: 503,
                count: 2,
                retry_after: Some(3),
                code: None,
                after: false,
            }],
            ..Default::default()
        };
        let mut s = FaultState::from_world(&f, 0.0);
        assert_eq!(
            s.decide("GET", "/subscriptions/x/resourcegroups/rg1", 0.0),
            FaultDecision::Pass
        );
        for _ in 0..2 {
            match s.decide("PUT", "/subscriptions/x/resourcegroups/rg1", 0.0) {
                FaultDecision::Respond(r) => {
                    assert_eq!(r.status, 503);
                    assert_eq!(r.header("retry-after"), Some("3"));
                }
                d => panic!("{d:?}"),
            }
        }
        assert_eq!(
            s.decide("PUT", "/subscriptions/x/resourcegroups/rg1", 0.0),
            FaultDecision::Pass
        );
        assert_eq!(s.view(0.0).config.rules[0].count, 0);
    }

    #[test]
    fn storm_window() {
        let f = Faults {
            storm: Some(Storm {
                seconds: 5.0,
                retry_after: 2,
            }),
            ..Default::default()
        };
        let mut s = FaultState::from_world(&f, 100.0);
        assert_eq!(s.decide("GET", "/x", 104.0), FaultDecision::Storm(2));
        assert_eq!(s.decide("GET", "/x", 106.0), FaultDecision::Pass);
    }
}

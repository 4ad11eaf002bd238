//! One probe call as keyless itself, and the classification of every answer Azure OpenAI gives:
//! verified, still propagating (retry), throttled (wait Retry-After), transient (back off), or a
//! failure that waiting cannot fix (fail at once with the reason).

use super::vm_script::ProbeTarget;
use crate::azure::session::Session;
use serde_json::Value;
use std::time::Duration;

/// What one answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 200: access works.
    Verified,
    /// 401/403 PermissionDenied: the principal lacks the data action *yet*.
    Propagating {
        /// Azure's code.
        code: String,
    },
    /// 429: wait the Retry-After.
    Throttled {
        /// How long.
        retry_after: Duration,
    },
    /// 5xx, timeouts, resets: back off and retry.
    Transient {
        /// What happened.
        detail: String,
    },
    /// The token expired between fetch and use: refresh and retry at once.
    TokenExpired,
    /// 404 DeploymentNotFound.
    DeploymentNotFound,
    /// 401 in the "Access token is missing, invalid, audience is incorrect" shape.
    WrongAudience,
    /// 403 AuthenticationTypeDisabled or a key-auth error.
    LocalAuth {
        /// Azure's code.
        code: String,
    },
    /// DNS, TLS or connection refused.
    Unreachable {
        /// What happened.
        detail: String,
    },
    /// Anything else that retrying will not fix.
    Other {
        /// HTTP status.
        status: u16,
        /// Azure's code.
        code: String,
        /// Azure's message.
        message: String,
    },
}

impl Verdict {
    /// Short state for display and events.
    pub fn state_name(&self) -> &'static str {
        match self {
            Verdict::Verified => "verified",
            Verdict::Propagating { .. } | Verdict::TokenExpired => "propagating",
            Verdict::Throttled { .. } => "throttled",
            Verdict::Transient { .. } => "retrying",
            _ => "failed",
        }
    }
    /// Detail for display.
    pub fn detail(&self) -> String {
        match self {
            Verdict::Verified => "200".into(),
            Verdict::Propagating { code } => format!("401 {code}"),
            Verdict::Throttled { retry_after } => format!("429, retry after {retry_after:?}"),
            Verdict::Transient { detail } => detail.clone(),
            other => other.code(),
        }
    }
    /// Code for reports.
    pub fn code(&self) -> String {
        match self {
            Verdict::DeploymentNotFound => "DeploymentNotFound".into(),
            Verdict::WrongAudience => "InvalidTokenAudience".into(),
            Verdict::LocalAuth { code } => code.clone(),
            Verdict::Unreachable { .. } => "EndpointUnreachable".into(),
            Verdict::Other { code, status, .. } => {
                if code.is_empty() {
                    format!("HTTP{status}")
                } else {
                    code.clone()
                }
            }
            Verdict::Propagating { code } => code.clone(),
            Verdict::Throttled { .. } => "TooManyRequests".into(),
            Verdict::Transient { .. } => "Transient".into(),
            Verdict::TokenExpired => "TokenExpired".into(),
            Verdict::Verified => "OK".into(),
        }
    }
    /// Explanation for a failure.
    pub fn explain(&self) -> String {
        match self {
            Verdict::Unreachable { detail } => format!("the account endpoint could not be reached ({detail}); check DNS, network rules and publicNetworkAccess"),
            Verdict::Other { status, message, .. } => format!("HTTP {status}: {message}"),
            v => explain_code(&v.code(), ""),
        }
    }
}

/// Explanation of a data-plane error code.
pub fn explain_code(code: &str, status: &str) -> String {
    match code {
        "DeploymentNotFound" => "the deployment named in `verify.deployment` does not exist on this account (or was created less than 5 minutes ago)".into(),
        "InvalidTokenAudience" => "the token's audience is not accepted by the account; check the cloud profile's Cognitive Services audience".into(),
        "AuthenticationTypeDisabled" => "key authentication is disabled on the account (as keyless sets it); probes must use Entra tokens".into(),
        "NoManagedIdentityToken" => "the VM could not get a token from its managed-identity endpoint; is the system-assigned identity enabled?".into(),
        "PermissionDenied" => "the principal lacks the data action; assign a role with dataActions such as Cognitive Services OpenAI User".into(),
        "" => format!("HTTP {status} with no error code"),
        other => format!("Azure answered {other} (HTTP {status})"),
    }
}

/// Classifies a data-plane answer.
pub fn classify(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> Verdict {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = v["error"]["code"].as_str().unwrap_or_default().to_string();
    let message = v["error"]["message"]
        .as_str()
        .or(v["message"].as_str())
        .unwrap_or_default()
        .to_string();
    match status {
        200..=299 => Verdict::Verified,
        401 | 403
            if code == "PermissionDenied" || message.contains("lacks the required data action") =>
        {
            Verdict::Propagating {
                code: "PermissionDenied".into(),
            }
        }
        401 if v.get("statusCode").is_some()
            && message.contains("expired")
            && !message.contains("audience") =>
        {
            Verdict::TokenExpired
        }
        401 if v.get("statusCode").is_some() => Verdict::WrongAudience,
        403 if code == "AuthenticationTypeDisabled" => Verdict::LocalAuth { code },
        401 if code == "401" => Verdict::LocalAuth {
            code: "InvalidSubscriptionKey".into(),
        },
        404 if code == "DeploymentNotFound" => Verdict::DeploymentNotFound,
        429 => Verdict::Throttled {
            retry_after: crate::azure::retry::retry_after_http(headers)
                .unwrap_or(Duration::from_secs(1)),
        },
        500..=599 => Verdict::Transient {
            detail: format!("HTTP {status} {code}"),
        },
        _ => Verdict::Other {
            status,
            code,
            message,
        },
    }
}

/// One probe call as keyless itself.
pub async fn call_once(session: &Session, target: &ProbeTarget) -> Verdict {
    let token = match session
        .credential
        .credential
        .get_token(&[&session.cloud.cognitive_scope])
        .await
    {
        Ok(t) => t,
        Err(e) => {
            return Verdict::Other {
                status: 0,
                code: "CredentialUnavailable".into(),
                message: crate::azure::error::redact(&e.to_string()),
            }
        }
    };
    let req = match session
        .transport
        .reqwest()
        .post(target.url())
        .bearer_auth(token.token.secret())
        .header("content-type", "application/json")
        .body(target.body())
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return Verdict::Other {
                status: 0,
                code: "InvalidUrl".into(),
                message: e.to_string(),
            }
        }
    };
    match session.transport.send_raw(req).await {
        Ok(rsp) => {
            let status = rsp.status().as_u16();
            let headers = rsp.headers().clone();
            let body = rsp.bytes().await.unwrap_or_default();
            classify(status, &headers, &body)
        }
        Err(crate::azure::transport::TransportError::Http(e)) if e.is_timeout() => {
            Verdict::Transient {
                detail: "timeout".into(),
            }
        }
        Err(crate::azure::transport::TransportError::Http(e)) if e.is_connect() => {
            let msg = format!("{e:?}");
            if msg.contains("dns")
                || msg.contains("certificate")
                || msg.contains("Tls")
                || msg.contains("tls")
                || msg.contains("refused")
            {
                Verdict::Unreachable {
                    detail: crate::azure::error::redact(&e.to_string()),
                }
            } else {
                Verdict::Transient {
                    detail: "connection failed".into(),
                }
            }
        }
        Err(e) => Verdict::Transient {
            detail: crate::azure::error::redact(&e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn every_documented_answer_is_classified() {
        let e = HeaderMap::new();
        assert_eq!(classify(200, &e, b"{}"), Verdict::Verified);
        let pd = br#"{"error":{"code":"PermissionDenied","message":"The principal `x` lacks the required data action `a` to perform `POST /openai/deployments/{deployment-id}/chat/completions` operation."}}"#;
        assert!(matches!(classify(401, &e, pd), Verdict::Propagating { .. }));
        let aud = br#"{"statusCode":401,"message":"Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired."}"#;
        assert_eq!(classify(401, &e, aud), Verdict::WrongAudience);
        let dis = br#"{"error":{"code":"AuthenticationTypeDisabled","message":"Key based authentication is disabled for this resource."}}"#;
        assert!(matches!(classify(403, &e, dis), Verdict::LocalAuth { .. }));
        let nf = br#"{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}"#;
        assert_eq!(classify(404, &e, nf), Verdict::DeploymentNotFound);
        assert_eq!(
            classify(429, &h(&[("retry-after", "3")]), b"{}"),
            Verdict::Throttled {
                retry_after: Duration::from_secs(3)
            }
        );
        assert_eq!(
            classify(429, &h(&[("retry-after-ms", "250")]), b"{}"),
            Verdict::Throttled {
                retry_after: Duration::from_millis(250)
            }
        );
        assert!(matches!(classify(503, &e, b""), Verdict::Transient { .. }));
        assert!(matches!(
            classify(400, &e, b"{}"),
            Verdict::Other { status: 400, .. }
        ));
    }
}

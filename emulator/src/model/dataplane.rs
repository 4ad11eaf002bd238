//! Azure OpenAI data plane rules (inference 2024-10-21, behaviour notes §5.2): which account a
//! host names, who may call it (an Entra token only on the custom subdomain and only with the
//! route's data action; a key only while local auth is enabled), which deployment answers which
//! route, the simulated answers, and the per-deployment rate budget (capacity × 6 requests and
//! capacity × 1000 tokens per minute).
//!
//! Plain data and rules: `services::dataplane` parses the request, calls [`admit`],
//! [`generate`] and [`Usage::take`], and renders each refusal in Azure's wire shape.

use super::arm::accounts::deployments::{self, Deployment, ModelApi};
use super::rbac::{self, Decision, Principal};
use super::State;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};

/// The inference route a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `/chat/completions`.
    Chat,
    /// `/completions`.
    Completions,
    /// `/embeddings`.
    Embeddings,
}

impl Op {
    /// The RBAC data action the route needs.
    pub fn data_action(&self) -> &'static str {
        match self {
            Op::Chat => {
                "Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action"
            }
            Op::Completions => {
                "Microsoft.CognitiveServices/accounts/OpenAI/deployments/completions/action"
            }
            Op::Embeddings => {
                "Microsoft.CognitiveServices/accounts/OpenAI/deployments/embeddings/action"
            }
        }
    }

    /// The route as Azure names it in PermissionDenied.
    pub fn template(&self) -> &'static str {
        match self {
            Op::Chat => "POST /openai/deployments/{deployment-id}/chat/completions",
            Op::Completions => "POST /openai/deployments/{deployment-id}/completions",
            Op::Embeddings => "POST /openai/deployments/{deployment-id}/embeddings",
        }
    }

    /// The operation name Azure puts in 429 messages.
    pub fn operation_name(&self) -> &'static str {
        match self {
            Op::Chat => "ChatCompletions_Create",
            Op::Completions => "Completions_Create",
            Op::Embeddings => "Embeddings_Create",
        }
    }

    /// Whether a model with this API answers the route.
    pub fn serves(&self, api: ModelApi) -> bool {
        matches!(
            (self, api),
            (Op::Chat, ModelApi::Chat)
                | (Op::Completions, ModelApi::Completions)
                | (Op::Embeddings, ModelApi::Embeddings)
        )
    }

    /// The operation's name in OperationNotSupported.
    pub fn noun(&self) -> &'static str {
        match self {
            Op::Chat => "chatCompletion",
            Op::Completions => "completion",
            Op::Embeddings => "embeddings",
        }
    }
}

/// Where the request was sent: a custom subdomain or a regional endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// `{subdomain}.openai.azure.com` (or `/aoai/{subdomain}/`).
    Subdomain(String),
    /// `{location}.api.cognitive.microsoft.com`: accounts are found by key.
    Regional(String),
}

/// Classifies a host name (or the `/aoai/` path segment standing for it).
pub fn parse_host(name: &str) -> Host {
    let n = name.to_ascii_lowercase();
    match n.strip_suffix(".api.cognitive.microsoft.com") {
        Some(loc) => Host::Regional(loc.to_string()),
        None => Host::Subdomain(n),
    }
}

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// An `api-key` header.
    Key(&'a str),
    /// A validated Entra token (for the RBAC data-action check).
    Token(Principal<'a>),
}

/// Why the data plane refuses a request before any model runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Neither a key nor a token.
    #[error("Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.")]
    MissingKey,
    /// A regional endpoint without a key.
    #[error("Please provide an authentication key.")]
    KeyRequired,
    /// A key that is not the account's (or a regional endpoint no key of which matches).
    #[error("Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.")]
    InvalidKey,
    /// No account answers this host.
    #[error("Resource not found")]
    NotFound,
    /// A key on an account with `disableLocalAuth`.
    #[error("Key based authentication is disabled for this resource.")]
    KeyAuthDisabled,
    /// The token's principal lacks the route's data action.
    #[error("The principal `{oid}` lacks the required data action `{}` to perform `{}` operation.", op.data_action(), op.template())]
    PermissionDenied {
        /// The caller's object id.
        oid: String,
        /// The route.
        op: Op,
    },
    /// No ready deployment of that name.
    #[error("The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.")]
    DeploymentNotFound,
    /// The deployment's model does not serve the route.
    #[error("The {} operation does not work with the specified model, {model}. Please choose different model and try again. You can learn more about which models can be used with each operation here: https://go.microsoft.com/fwlink/?linkid=2197993.", op.noun())]
    OperationNotSupported {
        /// The route.
        op: Op,
        /// The deployment's model name.
        model: String,
    },
}

impl Refusal {
    /// Azure's error code for the refusal (the `error.code` of the body).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::MissingKey | Refusal::InvalidKey => "401",
            Refusal::KeyRequired => "BadRequest",
            Refusal::NotFound => "404",
            Refusal::KeyAuthDisabled => "AuthenticationTypeDisabled",
            Refusal::PermissionDenied { .. } => "PermissionDenied",
            Refusal::DeploymentNotFound => "DeploymentNotFound",
            Refusal::OperationNotSupported { .. } => "OperationNotSupported",
        }
    }
}

/// What an admitted request may use.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    /// The account's ARM id (the RBAC scope and the budget key).
    pub account_id: String,
    /// The account's location (for `x-ms-region`).
    pub location: String,
    /// The ready deployment that answers.
    pub deployment: Deployment,
}

/// Finds the account `host` names, checks the credential against it and the deployment against
/// the route (in Azure's order: account, key rules, data action, deployment, model API).
pub fn admit(
    st: &mut State,
    now: f64,
    host: &Host,
    cred: &Credential<'_>,
    op: Op,
    deployment: &str,
) -> Result<Admitted, Refusal> {
    let key = match cred {
        Credential::Key(k) => Some(*k),
        Credential::Token(_) => None,
    };
    let account = st.arm.accounts.iter_mut().find(|a| match host {
        Host::Subdomain(s) => a
            .custom_subdomain
            .as_deref()
            .is_some_and(|x| x.eq_ignore_ascii_case(s)),
        Host::Regional(loc) => {
            a.location.eq_ignore_ascii_case(loc) && key.is_some_and(|k| k == a.key1 || k == a.key2)
        }
    });
    let Some(account) = account else {
        return Err(match (host, key) {
            (Host::Regional(_), None) => Refusal::KeyRequired,
            (Host::Regional(_), Some(_)) => Refusal::InvalidKey,
            _ => Refusal::NotFound,
        });
    };
    if let Some(k) = key {
        if account.disable_local_auth {
            return Err(Refusal::KeyAuthDisabled);
        }
        if k != account.key1 && k != account.key2 {
            return Err(Refusal::InvalidKey);
        }
    }
    let account_id = account.id();
    deployments::settle(account, now);
    let account = account.clone();
    if let Credential::Token(who) = cred {
        if rbac::check_data(st, now, who, op.data_action(), &account_id) != Decision::Allow {
            return Err(Refusal::PermissionDenied {
                oid: who.oid.to_string(),
                op,
            });
        }
    }
    let dep = match deployments::find(&account, deployment) {
        Some(d) if d.is_terminal(now) => d.clone(),
        _ => return Err(Refusal::DeploymentNotFound),
    };
    if !op.serves(dep.api()) {
        return Err(Refusal::OperationNotSupported {
            op,
            model: dep.model_name,
        });
    }
    Ok(Admitted {
        account_id,
        location: account.location,
        deployment: dep,
    })
}

/// Requests of the last minute per deployment (`account id|deployment`, lower case):
/// (unix seconds, tokens). Part of the emulator's `State`, so it is persisted with it, cleared by
/// an admin reset, and never shared between two emulators in one process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    windows: BTreeMap<String, VecDeque<(f64, u32)>>,
}

impl Usage {
    /// The budget key of a deployment of an account.
    pub fn key(account_id: &str, deployment: &str) -> String {
        format!(
            "{}|{}",
            account_id.to_ascii_lowercase(),
            deployment.to_ascii_lowercase()
        )
    }

    /// True when no request was counted (the state dump then omits the windows).
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Sliding one-minute window of deployment `key`: `Ok((requests left, tokens left))`, or
    /// `Err(seconds until a slot frees)` without counting the request.
    pub fn take(
        &mut self,
        key: &str,
        now: f64,
        rpm: u32,
        tpm: u32,
        tokens: u32,
    ) -> Result<(u32, u32), f64> {
        let w = self.windows.entry(key.to_string()).or_default();
        while w.front().is_some_and(|(t, _)| now - t >= 60.0) {
            w.pop_front();
        }
        let used_tokens: u32 = w.iter().map(|(_, n)| *n).sum();
        if w.len() as u32 >= rpm || (used_tokens > 0 && used_tokens.saturating_add(tokens) > tpm) {
            let oldest = w.front().map(|(t, _)| *t).unwrap_or(now);
            return Err((oldest + 60.0 - now).max(0.001));
        }
        w.push_back((now, tokens));
        Ok((
            rpm - w.len() as u32,
            tpm.saturating_sub(used_tokens + tokens),
        ))
    }
}

/// The display name Azure puts in `x-ms-region`.
pub fn region_name(loc: &str) -> String {
    match loc {
        "eastus" => "East US".into(),
        "eastus2" => "East US 2".into(),
        "westus" => "West US".into(),
        "westeurope" => "West Europe".into(),
        "swedencentral" => "Sweden Central".into(),
        other => other.to_string(),
    }
}

/// A generated answer and the tokens it consumed.
pub struct Generated {
    /// The response body.
    pub body: Value,
    /// Prompt plus completion tokens (words here), charged to the token budget.
    pub tokens: u32,
}

const REPLY: &[&str] = &[
    "This",
    "is",
    "a",
    "simulated",
    "response",
    "from",
    "the",
    "keyless",
    "emulator.",
    "The",
    "deployment",
    "answered",
    "your",
    "request",
    "successfully",
    "and",
    "no",
    "real",
    "model",
    "was",
    "called.",
];

fn words(v: &Value) -> u32 {
    match v {
        Value::String(s) => s.split_whitespace().count() as u32,
        Value::Array(a) => a.iter().map(words).sum(),
        Value::Object(o) => o
            .get("content")
            .or_else(|| o.get("text"))
            .map(words)
            .unwrap_or(0),
        _ => 0,
    }
}

/// An OpenAI-style `invalid_request_error`: the body is not a valid request for the route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidRequest {
    /// What is wrong.
    pub message: String,
    /// The offending parameter.
    pub param: String,
}

fn invalid(message: &str, param: &str) -> InvalidRequest {
    InvalidRequest {
        message: message.into(),
        param: param.into(),
    }
}

/// The completion text for `max_tokens` ("tokens" are words here) and its finish reason.
fn reply(max_tokens: Option<u64>) -> (String, &'static str, u32) {
    let limit = max_tokens.map(|m| m as usize).unwrap_or(REPLY.len());
    let n = limit.min(REPLY.len()).max(1.min(limit));
    let text = REPLY[..n].join(" ");
    let reason = if n < REPLY.len() { "length" } else { "stop" };
    (text, reason, n as u32)
}

/// The simulated answer of `model` to `body` on route `op`.
pub fn generate(op: Op, model: &str, body: &Value, now: f64) -> Result<Generated, InvalidRequest> {
    let created = now as u64;
    let n = body
        .get("n")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, 10) as usize;
    let max_tokens = body
        .get("max_tokens")
        .or_else(|| body.get("max_completion_tokens"))
        .and_then(Value::as_u64);
    if max_tokens == Some(0) {
        return Err(invalid("max_tokens must be at least 1.", "max_tokens"));
    }
    let ask = Ask {
        body,
        model,
        id_suffix: uuid::Uuid::new_v4().simple().to_string()[..29].to_string(),
        created,
        n,
        max_tokens,
        filters: json!({"hate": {"filtered": false, "severity": "safe"}, "self_harm": {"filtered": false, "severity": "safe"}, "sexual": {"filtered": false, "severity": "safe"}, "violence": {"filtered": false, "severity": "safe"}}),
    };
    match op {
        Op::Chat => chat(&ask),
        Op::Completions => completions(&ask),
        Op::Embeddings => embeddings(body, model),
    }
}

/// What the completion generators share: the request, the model, the answer's id suffix and
/// creation time, `n`, `max_tokens` and the (always clean) content-filter results.
struct Ask<'a> {
    body: &'a Value,
    model: &'a str,
    id_suffix: String,
    created: u64,
    n: usize,
    max_tokens: Option<u64>,
    filters: Value,
}

/// The `usage` block.
fn usage(prompt: u32, completion: u32) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

/// A chat completion: `n` choices of the canned reply, usage counted in words.
fn chat(ask: &Ask<'_>) -> Result<Generated, InvalidRequest> {
    let Ask {
        body,
        model,
        id_suffix,
        created,
        n,
        max_tokens,
        filters,
    } = ask;
    let (n, max_tokens) = (*n, *max_tokens);
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid("'messages' is a required property", "messages"))?;
    let prompt = words(&Value::Array(messages.clone())) + 3 * messages.len() as u32;
    let (text, reason, out) = reply(max_tokens);
    let choices: Vec<Value> = (0..n)
        .map(|i| json!({"index": i, "message": {"role": "assistant", "content": text, "refusal": null}, "finish_reason": reason, "logprobs": null, "content_filter_results": filters}))
        .collect();
    let completion = out * n as u32;
    Ok(Generated {
        tokens: prompt + completion,
        body: json!({
            "id": format!("chatcmpl-{id_suffix}"), "object": "chat.completion", "created": created, "model": model,
            "system_fingerprint": "fp_keyless", "choices": choices,
            "usage": usage(prompt, completion),
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": filters}],
        }),
    })
}

/// A text completion (default 16 tokens).
fn completions(ask: &Ask<'_>) -> Result<Generated, InvalidRequest> {
    let Ask {
        body,
        model,
        id_suffix,
        created,
        n,
        max_tokens,
        filters,
    } = ask;
    let (n, max_tokens) = (*n, *max_tokens);
    let prompt_v = body.get("prompt").cloned().unwrap_or(Value::Null);
    let prompt = words(&prompt_v).max(1);
    let (text, reason, out) = reply(max_tokens.or(Some(16)));
    let choices: Vec<Value> = (0..n)
        .map(|i| json!({"text": format!(" {text}"), "index": i, "finish_reason": reason, "logprobs": null, "content_filter_results": filters}))
        .collect();
    let completion = out * n as u32;
    Ok(Generated {
        tokens: prompt + completion,
        body: json!({
            "id": format!("cmpl-{id_suffix}"), "object": "text_completion", "created": created, "model": model,
            "choices": choices,
            "usage": usage(prompt, completion),
        }),
    })
}

/// Deterministic embeddings per input (`dimensions`, default 1536).
fn embeddings(body: &Value, model: &str) -> Result<Generated, InvalidRequest> {
    let input = body
        .get("input")
        .cloned()
        .ok_or_else(|| invalid("'input' is a required property", "input"))?;
    let items: Vec<Value> = match &input {
        Value::Array(a) if a.iter().all(Value::is_string) => a.clone(),
        other => vec![other.clone()],
    };
    let dims = body
        .get("dimensions")
        .and_then(Value::as_u64)
        .unwrap_or(1536)
        .clamp(1, 3072) as usize;
    let data: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let seed = item
                .to_string()
                .bytes()
                .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
            let v: Vec<f64> = (0..dims)
                .map(|k| {
                    (((seed.wrapping_add(k as u64 * 2654435761)) % 2000) as f64 / 1000.0) - 1.0
                })
                .collect();
            json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    let prompt = words(&input).max(1);
    Ok(Generated {
        tokens: prompt,
        body: json!({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": prompt, "total_tokens": prompt}}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_window() {
        let mut u = Usage::default();
        let key = "acct|dep";
        assert_eq!(u.take(key, 0.0, 2, 1000, 10), Ok((1, 990)));
        assert_eq!(u.take(key, 1.0, 2, 1000, 10), Ok((0, 980)));
        let wait = u.take(key, 2.0, 2, 1000, 10).unwrap_err();
        assert!((wait - 58.0).abs() < 1e-6);
        assert!(u.take(key, 60.5, 2, 1000, 10).is_ok());
    }

    #[test]
    fn max_tokens_caps_words() {
        let (t, r, n) = reply(Some(1));
        assert_eq!((t.as_str(), r, n), ("This", "length", 1));
        let (t, r, _) = reply(None);
        assert_eq!(r, "stop");
        assert_eq!(t.split_whitespace().count(), REPLY.len());
        let (_, r, n) = reply(Some(1000));
        assert_eq!((r, n as usize), ("stop", REPLY.len()));
    }
}

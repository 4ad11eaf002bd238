//! Azure OpenAI data plane (inference 2024-10-21): chat completions, completions and
//! embeddings for deployed models, with Azure's authentication rules (behaviour notes §5.2):
//! Entra tokens only on the custom-subdomain endpoint, checked for the route's data action by the
//! one RBAC engine (401 PermissionDenied); `api-key` only while local auth is enabled (403
//! AuthenticationTypeDisabled); 404 DeploymentNotFound; 429 once the deployment's
//! capacity-derived budget (capacity × 6 requests and capacity × 1000 tokens per minute) is spent.

use crate::auth;
use crate::ctx::Ctx;
use crate::http::{Req, Resp};
use crate::model::arm::accounts::deployments::{self, ModelApi};
use crate::model::rbac::{self, Decision, Principal};
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::OnceLock;

/// The inference route a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Chat,
    Completions,
    Embeddings,
}

impl Op {
    fn data_action(&self) -> &'static str {
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

    fn template(&self) -> &'static str {
        match self {
            Op::Chat => "POST /openai/deployments/{deployment-id}/chat/completions",
            Op::Completions => "POST /openai/deployments/{deployment-id}/completions",
            Op::Embeddings => "POST /openai/deployments/{deployment-id}/embeddings",
        }
    }

    fn operation_name(&self) -> &'static str {
        match self {
            Op::Chat => "ChatCompletions_Create",
            Op::Completions => "Completions_Create",
            Op::Embeddings => "Embeddings_Create",
        }
    }

    fn serves(&self, api: ModelApi) -> bool {
        matches!(
            (self, api),
            (Op::Chat, ModelApi::Chat)
                | (Op::Completions, ModelApi::Completions)
                | (Op::Embeddings, ModelApi::Embeddings)
        )
    }
}

/// Where the request was sent: a custom subdomain or a regional endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Subdomain(String),
    Regional(String),
}

fn parse_host(name: &str) -> Host {
    let n = name.to_ascii_lowercase();
    match n.strip_suffix(".api.cognitive.microsoft.com") {
        Some(loc) => Host::Regional(loc.to_string()),
        None => Host::Subdomain(n),
    }
}

/// Splits the request into (host, deployment, op). `None` for anything else.
fn parse(req: &Req) -> Option<(Host, String, Op)> {
    let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let (host, rest): (Host, &[&str]) =
        if segs.first().is_some_and(|s| s.eq_ignore_ascii_case("aoai")) {
            (parse_host(segs.get(1)?), &segs[2..])
        } else {
            let h = req.header("host")?;
            let h = h
                .rsplit_once(':')
                .map(|(a, _)| a)
                .unwrap_or(h)
                .to_ascii_lowercase();
            let sub = h
                .strip_suffix(".openai.azure.com")
                .or_else(|| h.strip_suffix(".cognitiveservices.azure.com"))
                .map(|s| Host::Subdomain(s.to_string()))
                .unwrap_or_else(|| parse_host(&h));
            (sub, &segs[..])
        };
    let lc: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lc.iter().map(String::as_str).collect();
    let op = match l.as_slice() {
        ["openai", "deployments", _, "chat", "completions"] => Op::Chat,
        ["openai", "deployments", _, "completions"] => Op::Completions,
        ["openai", "deployments", _, "embeddings"] => Op::Embeddings,
        _ => return None,
    };
    Some((host, rest[2].to_string(), op))
}

fn not_found() -> Resp {
    Resp::json(
        404,
        &json!({"error": {"code": "404", "message": "Resource not found"}}),
    )
}

fn err(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// Handles a data-plane request.
pub async fn handle(ctx: &Ctx, req: Req) -> Resp {
    let Some((host, deployment, op)) = parse(&req) else {
        return not_found();
    };
    if req.method != "POST" {
        return not_found();
    }
    if req.query("api-version").is_none_or_empty() {
        return not_found();
    }
    let bearer = req.header("authorization").is_some();
    let key = req.header("api-key").map(str::to_string);
    let caller = match (&key, bearer) {
        (None, true) => match auth::authenticate_dataplane(ctx, &req) {
            Ok(c) => Some(c),
            Err(r) => return r,
        },
        (None, false) => {
            return err(401, "401", "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.")
        }
        (Some(_), _) => None,
    };
    let now = ctx.now();
    let mut st = ctx.state.lock();
    let account = st.arm.accounts.iter_mut().find(|a| match &host {
        Host::Subdomain(s) => a
            .custom_subdomain
            .as_deref()
            .is_some_and(|x| x.eq_ignore_ascii_case(s)),
        Host::Regional(loc) => {
            a.location.eq_ignore_ascii_case(loc)
                && key.as_deref().is_some_and(|k| k == a.key1 || k == a.key2)
        }
    });
    let Some(account) = account else {
        return match (&host, &key) {
            (Host::Regional(_), None) => err(400, "BadRequest", "Please provide an authentication key."),
            (Host::Regional(_), Some(_)) => err(401, "401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."),
            _ => not_found(),
        };
    };
    if let Some(k) = &key {
        if account.disable_local_auth {
            return err(
                403,
                "AuthenticationTypeDisabled",
                "Key based authentication is disabled for this resource.",
            );
        }
        if *k != account.key1 && *k != account.key2 {
            return err(401, "401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.");
        }
    }
    let account_id = account.id();
    deployments::settle(account, now);
    let account = account.clone();
    if let Some(c) = &caller {
        let who = Principal {
            oid: &c.oid,
            groups: &c.groups,
        };
        if rbac::check_data(&st, now, &who, op.data_action(), &account_id) != Decision::Allow {
            let message = format!(
                "The principal `{}` lacks the required data action `{}` to perform `{}` operation.",
                c.oid,
                op.data_action(),
                op.template()
            );
            return err(401, "PermissionDenied", &message);
        }
    }
    drop(st);
    let dep = match deployments::find(&account, &deployment) {
        Some(d) if d.is_terminal(now) => d.clone(),
        _ => return err(404, "DeploymentNotFound", "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."),
    };
    if !op.serves(dep.api()) {
        let what = match op {
            Op::Chat => "chatCompletion",
            Op::Completions => "completion",
            Op::Embeddings => "embeddings",
        };
        return err(400, "OperationNotSupported", &format!("The {what} operation does not work with the specified model, {}. Please choose different model and try again. You can learn more about which models can be used with each operation here: https://go.microsoft.com/fwlink/?linkid=2197993.", dep.model_name));
    }
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => {
            return err(
                400,
                "BadRequest",
                &format!("The request body is not valid JSON: {e}"),
            )
        }
    };
    let generated = match generate(op, &dep.model_name, &body, now) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let budget_key = format!(
        "{}|{}|{}",
        ctx.base_url,
        account_id.to_ascii_lowercase(),
        dep.name.to_ascii_lowercase()
    );
    let (rpm, tpm) = (dep.requests_per_minute(), dep.tokens_per_minute());
    let remaining = match take_budget(&budget_key, now, rpm, tpm, generated.tokens) {
        Ok(r) => r,
        Err(wait) => {
            let secs = wait.ceil().max(1.0) as u64;
            return Resp::json(429, &json!({"error": {"code": "429", "message": format!(
                "Requests to the {} Operation under Azure OpenAI API version {} have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after {secs} seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
                op.operation_name(), req.query("api-version").unwrap_or_default())}}))
            .with_header("retry-after", secs.to_string())
            .with_header("retry-after-ms", ((wait * 1000.0).ceil() as u64).max(1).to_string())
            .with_header("x-ratelimit-remaining-requests", "0")
            .with_header("x-ratelimit-remaining-tokens", "0");
        }
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    Resp::json(200, &generated.body)
        .with_header("apim-request-id", request_id.clone())
        .with_header("x-request-id", request_id)
        .with_header("x-ms-region", region_name(&account.location))
        .with_header("x-ms-deployment-name", dep.name.clone())
        .with_header("x-ratelimit-remaining-requests", remaining.0.to_string())
        .with_header("x-ratelimit-remaining-tokens", remaining.1.to_string())
}

trait EmptyOpt {
    fn is_none_or_empty(&self) -> bool;
}

impl EmptyOpt for Option<&str> {
    fn is_none_or_empty(&self) -> bool {
        match self {
            None => true,
            Some(s) => s.is_empty(),
        }
    }
}

fn region_name(loc: &str) -> String {
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
struct Generated {
    body: Value,
    tokens: u32,
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

fn invalid(message: &str, param: &str) -> Resp {
    Resp::json(
        400,
        &json!({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": null}}),
    )
}

/// The completion text for `max_tokens` ("tokens" are words here) and its finish reason.
fn reply(max_tokens: Option<u64>) -> (String, &'static str, u32) {
    let limit = max_tokens.map(|m| m as usize).unwrap_or(REPLY.len());
    let n = limit.min(REPLY.len()).max(1.min(limit));
    let text = REPLY[..n].join(" ");
    let reason = if n < REPLY.len() { "length" } else { "stop" };
    (text, reason, n as u32)
}

fn generate(op: Op, model: &str, body: &Value, now: f64) -> Result<Generated, Resp> {
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
    let filters = json!({"hate": {"filtered": false, "severity": "safe"}, "self_harm": {"filtered": false, "severity": "safe"}, "sexual": {"filtered": false, "severity": "safe"}, "violence": {"filtered": false, "severity": "safe"}});
    let id_suffix = uuid::Uuid::new_v4().simple().to_string()[..29].to_string();
    match op {
        Op::Chat => {
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
                    "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
                    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": filters}],
                }),
            })
        }
        Op::Completions => {
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
                    "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
                }),
            })
        }
        Op::Embeddings => {
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
                            (((seed.wrapping_add(k as u64 * 2654435761)) % 2000) as f64 / 1000.0)
                                - 1.0
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
    }
}

/// Requests in the last minute per deployment: (unix seconds, tokens).
type Windows = Mutex<HashMap<String, VecDeque<(f64, u32)>>>;

/// Sliding one-minute window per deployment: `Ok((requests left, tokens left))` or
/// `Err(seconds until a slot frees)`.
fn take_budget(key: &str, now: f64, rpm: u32, tpm: u32, tokens: u32) -> Result<(u32, u32), f64> {
    static WINDOWS: OnceLock<Windows> = OnceLock::new();
    let mut all = WINDOWS.get_or_init(|| Mutex::new(HashMap::new())).lock();
    let w = all.entry(key.to_string()).or_default();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_window() {
        let key = format!("test-{}", uuid::Uuid::new_v4());
        assert_eq!(take_budget(&key, 0.0, 2, 1000, 10), Ok((1, 990)));
        assert_eq!(take_budget(&key, 1.0, 2, 1000, 10), Ok((0, 980)));
        let wait = take_budget(&key, 2.0, 2, 1000, 10).unwrap_err();
        assert!((wait - 58.0).abs() < 1e-6);
        assert!(take_budget(&key, 60.5, 2, 1000, 10).is_ok());
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

    #[test]
    fn routes() {
        let r = Req::new(
            "POST",
            "/aoai/my-sub/openai/deployments/chat/chat/completions?api-version=1",
            vec![],
            Default::default(),
        );
        assert_eq!(
            parse(&r),
            Some((Host::Subdomain("my-sub".into()), "chat".into(), Op::Chat))
        );
        let r = Req::new(
            "POST",
            "/openai/deployments/d/completions",
            vec![("Host".into(), "abc.openai.azure.com".into())],
            Default::default(),
        );
        assert_eq!(
            parse(&r),
            Some((Host::Subdomain("abc".into()), "d".into(), Op::Completions))
        );
        let r = Req::new(
            "POST",
            "/aoai/eastus.api.cognitive.microsoft.com/openai/deployments/d/embeddings",
            vec![],
            Default::default(),
        );
        assert_eq!(
            parse(&r),
            Some((Host::Regional("eastus".into()), "d".into(), Op::Embeddings))
        );
        assert_eq!(
            parse(&Req::new(
                "POST",
                "/aoai/x/openai/models",
                vec![],
                Default::default()
            )),
            None
        );
    }
}

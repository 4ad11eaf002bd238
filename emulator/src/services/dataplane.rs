//! Azure OpenAI data plane over HTTP: parses the route, host and credential, asks the model
//! (`model::dataplane`) to admit, answer and charge the request, and renders Azure's shapes —
//! the 401 `{"statusCode":401}` of a bad token, `{"error":{code,message}}` refusals, the
//! OpenAI-style `invalid_request_error`, and 429 with `retry-after`/`retry-after-ms`.

use crate::auth;
use crate::ctx::Ctx;
use crate::http::{Req, Resp};
use crate::model::dataplane::{
    self, parse_host, region_name, Admitted, Credential, Host, Op, Refusal, Usage,
};
use crate::model::rbac::Principal;
use serde_json::{json, Value};

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

fn err(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn refusal(r: &Refusal) -> Resp {
    let status = match r {
        Refusal::MissingKey | Refusal::InvalidKey | Refusal::PermissionDenied { .. } => 401,
        Refusal::KeyRequired | Refusal::OperationNotSupported { .. } => 400,
        Refusal::NotFound | Refusal::DeploymentNotFound => 404,
        Refusal::KeyAuthDisabled => 403,
    };
    err(status, r.code(), &r.to_string())
}

/// Handles a data-plane request.
pub async fn handle(ctx: &Ctx, req: Req) -> Resp {
    let Some((host, deployment, op)) = parse(&req) else {
        return refusal(&Refusal::NotFound);
    };
    if req.method != "POST" || req.query("api-version").is_none_or(str::is_empty) {
        return refusal(&Refusal::NotFound);
    }
    let key = req.header("api-key");
    let caller = match (key, req.header("authorization").is_some()) {
        (None, true) => match auth::authenticate_dataplane(ctx, &req) {
            Ok(c) => Some(c),
            Err(r) => return r,
        },
        (None, false) => return refusal(&Refusal::MissingKey),
        (Some(_), _) => None,
    };
    let cred = match (key, &caller) {
        (Some(k), _) => Credential::Key(k),
        (None, Some(c)) => Credential::Token(Principal {
            oid: &c.oid,
            groups: &c.groups,
        }),
        (None, None) => return refusal(&Refusal::MissingKey),
    };
    let now = ctx.now();
    let admitted = dataplane::admit(&mut ctx.state.lock(), now, &host, &cred, op, &deployment);
    match admitted {
        Ok(a) => answer(ctx, &req, op, &a, now),
        Err(r) => refusal(&r),
    }
}

/// Generates the answer of an admitted request and charges it to the deployment's budget.
fn answer(ctx: &Ctx, req: &Req, op: Op, a: &Admitted, now: f64) -> Resp {
    let dep = &a.deployment;
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
    let generated = match dataplane::generate(op, &dep.model_name, &body, now) {
        Ok(g) => g,
        Err(e) => {
            return Resp::json(
                400,
                &json!({"error": {"message": e.message, "type": "invalid_request_error", "param": e.param, "code": null}}),
            )
        }
    };
    let key = Usage::key(&a.account_id, &dep.name);
    let (rpm, tpm) = (dep.requests_per_minute(), dep.tokens_per_minute());
    let taken = ctx
        .state
        .lock()
        .data_plane
        .take(&key, now, rpm, tpm, generated.tokens);
    let remaining = match taken {
        Ok(r) => r,
        Err(wait) => return rate_limited(req, op, wait),
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    Resp::json(200, &generated.body)
        .with_header("apim-request-id", request_id.clone())
        .with_header("x-request-id", request_id)
        .with_header("x-ms-region", region_name(&a.location))
        .with_header("x-ms-deployment-name", dep.name.clone())
        .with_header("x-ratelimit-remaining-requests", remaining.0.to_string())
        .with_header("x-ratelimit-remaining-tokens", remaining.1.to_string())
}

/// 429 once the deployment's budget is spent, with when to retry.
fn rate_limited(req: &Req, op: Op, wait: f64) -> Resp {
    let secs = wait.ceil().max(1.0) as u64;
    Resp::json(429, &json!({"error": {"code": "429", "message": format!(
        "Requests to the {} Operation under Azure OpenAI API version {} have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after {secs} seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
        op.operation_name(), req.query("api-version").unwrap_or_default())}}))
    .with_header("retry-after", secs.to_string())
    .with_header("retry-after-ms", ((wait * 1000.0).ceil() as u64).max(1).to_string())
    .with_header("x-ratelimit-remaining-requests", "0")
    .with_header("x-ratelimit-remaining-tokens", "0")
}

#[cfg(test)]
mod tests {
    use super::*;

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

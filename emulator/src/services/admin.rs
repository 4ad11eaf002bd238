//! The admin API under `/_emulator/` (no auth; loopback clients only, enforced by the server):
//! request log, counters, state dump (secrets redacted), reset to the world, faults, timing,
//! throttling and a test clock. Never subject to faults or throttling.
//!
//! Why: tests (and people debugging keyless) need to see what the client did and to make Azure
//! misbehave on demand without restarting it.

use crate::ctx::Ctx;
use crate::http::{Req, Resp};
use crate::world::{Faults, Throttling, Timing};
use serde_json::{json, Value};

/// Handles `/_emulator/…`.
pub async fn handle(ctx: &Ctx, req: Req) -> Resp {
    let segs: Vec<&str> = req.segments.iter().skip(1).map(String::as_str).collect();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["health"]) => Resp::json(
            200,
            &json!({"status": "ok", "baseUrl": ctx.base_url, "tenantId": ctx.tenant_id, "now": ctx.now()}),
        ),
        ("GET", ["requests"]) => requests(ctx, &req),
        ("DELETE", ["requests"]) => {
            ctx.obs.clear_log();
            Resp::empty(204)
        }
        ("GET", ["counters"]) => Resp::json(200, &json!(ctx.obs.counters())),
        ("POST", ["counters", "reset"]) => {
            ctx.obs.reset_counters();
            Resp::json(200, &json!(ctx.obs.counters()))
        }
        ("GET", ["state"]) => state(ctx),
        ("POST", ["reset"]) => reset(ctx),
        ("GET", ["faults"]) => Resp::json(200, &json!(ctx.faults.lock().view(ctx.now()))),
        ("PUT", ["faults"]) => put_faults(ctx, &req),
        ("GET", ["timing"]) => Resp::json(200, &json!(ctx.timing())),
        ("PUT", ["timing"]) | ("PATCH", ["timing"]) => put_timing(ctx, &req),
        ("GET", ["throttling"]) => Resp::json(200, &json!(ctx.throttle.lock().config())),
        ("PUT", ["throttling"]) => put_throttling(ctx, &req),
        ("POST", ["clock"]) => clock(ctx, &req),
        // Proves per-request panic isolation end to end (the server answers 500, keeps serving).
        ("POST", ["debug", "panic"]) => panic!("panic requested through the admin API"),
        _ => bad(
            404,
            &format!("No admin endpoint {} {}", req.method, req.path),
        ),
    }
}

fn bad(status: u16, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": {"code": if status == 404 { "NotFound" } else { "BadRequest" }, "message": message}}),
    )
}

fn requests(ctx: &Ctx, req: &Req) -> Resp {
    let since: f64 = req
        .query("since")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    let route = req.query("route");
    let list: Vec<_> = ctx
        .obs
        .requests()
        .into_iter()
        .filter(|e| e.unix >= since && route.is_none_or(|x| x.eq_ignore_ascii_case(&e.route)))
        .collect();
    Resp::json(200, &json!({"requests": list}))
}

/// Keys whose values are secrets wherever they appear in the state.
const SECRET_KEYS: [&str; 8] = [
    "secrets",
    "key1",
    "key2",
    "primaryKey",
    "secondaryKey",
    "password",
    "clientSecret",
    "signingKey",
];

/// Replaces secret values with `"<redacted>"`, recursively.
pub fn redact(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if SECRET_KEYS.iter().any(|s| s.eq_ignore_ascii_case(k)) {
                    *val = match val {
                        Value::Array(a) => {
                            Value::Array(a.iter().map(|_| json!("<redacted>")).collect())
                        }
                        Value::Null => Value::Null,
                        _ => json!("<redacted>"),
                    };
                } else {
                    redact(val);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

fn state(ctx: &Ctx) -> Resp {
    let mut v = {
        let st = ctx.state.lock();
        serde_json::to_value(&*st).unwrap_or(Value::Null)
    };
    redact(&mut v);
    Resp::json(200, &v)
}

/// Puts the emulator back to its world: state (rate-limit windows included), timing, faults,
/// throttling, managed-identity secrets and caches, Run Command slots, counters and log. The state file (if any) is removed, so a restart seeds
/// from the world file too.
pub fn reset(ctx: &Ctx) -> Resp {
    let now = ctx.now();
    let fresh = crate::model::State::seed(&ctx.world, now);
    *ctx.state.lock() = fresh;
    *ctx.timing.write() = ctx.world.timing.clone();
    let _ = ctx.faults.lock().set(ctx.world.faults.clone(), now);
    ctx.throttle
        .lock()
        .reconfigure(ctx.world.throttling.clone());
    ctx.msi_hosts.lock().clear();
    ctx.msi_cache.lock().clear();
    ctx.runs.clear();
    ctx.obs.reset_counters();
    ctx.obs.clear_log();
    if let Some(p) = &ctx.persister {
        if let Err(e) = p.wipe() {
            return bad(500, &e.to_string());
        }
    }
    Resp::json(200, &json!({"status": "reset"}))
}

fn put_faults(ctx: &Ctx, req: &Req) -> Resp {
    let mut v: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return bad(400, &format!("invalid JSON: {e}")),
    };
    if let Some(m) = v.as_object_mut() {
        m.remove("stormRemainingSeconds");
    }
    let f: Faults = match serde_json::from_value(v) {
        Ok(f) => f,
        Err(e) => return bad(400, &format!("invalid faults: {e}")),
    };
    let now = ctx.now();
    let mut faults = ctx.faults.lock();
    match faults.set(f, now) {
        Ok(()) => Resp::json(200, &json!(faults.view(now))),
        Err(e) => bad(400, &e),
    }
}

/// Merges `patch` into `current` (both JSON objects), returning the result.
fn merge(current: Value, patch: Value) -> Value {
    match (current, patch) {
        (Value::Object(mut c), Value::Object(p)) => {
            for (k, v) in p {
                c.insert(k, v);
            }
            Value::Object(c)
        }
        (_, p) => p,
    }
}

fn put_timing(ctx: &Ctx, req: &Req) -> Resp {
    let patch: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return bad(400, &format!("invalid JSON: {e}")),
    };
    let merged = merge(json!(ctx.timing()), patch);
    match serde_json::from_value::<Timing>(merged) {
        Ok(t) => {
            *ctx.timing.write() = t.clone();
            ctx.msi_cache.lock().clear();
            Resp::json(200, &json!(t))
        }
        Err(e) => bad(400, &format!("invalid timing: {e}")),
    }
}

fn put_throttling(ctx: &Ctx, req: &Req) -> Resp {
    let patch: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return bad(400, &format!("invalid JSON: {e}")),
    };
    let current = json!(ctx.throttle.lock().config());
    match serde_json::from_value::<Throttling>(merge(current, patch)) {
        Ok(t) => {
            ctx.throttle.lock().reconfigure(t.clone());
            Resp::json(200, &json!(t))
        }
        Err(e) => bad(400, &format!("invalid throttling: {e}")),
    }
}

fn clock(ctx: &Ctx, req: &Req) -> Resp {
    let v: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    match v.get("advanceSeconds").and_then(Value::as_f64) {
        Some(s) if s >= 0.0 && s.is_finite() => {
            ctx.advance_clock(s);
            Resp::json(200, &json!({"now": ctx.now()}))
        }
        _ => bad(
            400,
            "body must be {\"advanceSeconds\": <non-negative number>}",
        ),
    }
}

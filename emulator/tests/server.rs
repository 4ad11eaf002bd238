//! Cross-cutting server behaviour: ARM common headers, throttling, faults (rules, storms,
//! resets, latency, error rate), body limit, panic isolation, hung clients, concurrency.

mod common;

use common::*;
use keyless_emulator::EmulatorConfig;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn rg_list(emu: &keyless_emulator::RunningEmulator) -> String {
    format!(
        "{}/subscriptions/{SUB}/resourcegroups?api-version=2021-04-01",
        emu.base_url()
    )
}

fn rg(emu: &keyless_emulator::RunningEmulator, name: &str) -> String {
    format!(
        "{}/subscriptions/{SUB}/resourcegroups/{name}?api-version=2021-04-01",
        emu.base_url()
    )
}

/// GET of resource group `name` as token `t`.
async fn get_rg(
    c: &reqwest::Client,
    emu: &keyless_emulator::RunningEmulator,
    t: &str,
    name: &str,
) -> reqwest::Response {
    c.get(rg(emu, name)).bearer_auth(t).send().await.unwrap()
}

/// PUT of resource group `name` in eastus as token `t`.
async fn put_rg(
    c: &reqwest::Client,
    emu: &keyless_emulator::RunningEmulator,
    t: &str,
    name: &str,
) -> reqwest::Response {
    c.put(rg(emu, name))
        .bearer_auth(t)
        .json(&json!({"location": "eastus"}))
        .send()
        .await
        .unwrap()
}

/// A chat-completions POST with an empty message list (unauthenticated).
async fn post_empty_chat(c: &reqwest::Client, url: &str) -> reqwest::Response {
    c.post(url)
        .json(&json!({"messages": []}))
        .send()
        .await
        .unwrap()
}

async fn admin(
    emu: &keyless_emulator::RunningEmulator,
    method: &str,
    path: &str,
    body: Value,
) -> Value {
    let c = client(emu);
    let url = format!("{}/_emulator/{path}", emu.base_url());
    let r = match method {
        "PUT" => c.put(url).json(&body),
        "POST" => c.post(url).json(&body),
        _ => c.get(url),
    }
    .send()
    .await
    .expect("admin");
    assert!(
        r.status().is_success(),
        "admin {method} {path}: {}",
        r.status()
    );
    r.json().await.unwrap_or(Value::Null)
}

#[tokio::test]
async fn arm_headers_and_throttling_count_down_to_429() {
    let emu = start_cfg(EmulatorConfig::new(world_with(
        "throttling: { enabled: true, reads: { bucket: 5, perSecond: 0.01 }, writes: { bucket: 3, perSecond: 0.01 } }\n",
    )))
    .await;
    let t = token(&emu, ARM_SCOPE).await;
    let c = client(&emu);
    let mut seen = vec![];
    for _ in 0..5 {
        let r = c
            .get(rg_list(&emu))
            .bearer_auth(&t)
            .header("x-ms-client-request-id", "client-1")
            .header("x-ms-correlation-request-id", "corr-1")
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), 429);
        let h = r.headers();
        assert!(h.get("x-ms-request-id").is_some());
        assert_eq!(h["x-ms-client-request-id"], "client-1");
        assert_eq!(h["x-ms-correlation-request-id"], "corr-1");
        let routing = h["x-ms-routing-request-id"].to_str().unwrap();
        assert!(routing.starts_with("EASTUS:"), "{routing}");
        seen.push(
            h["x-ms-ratelimit-remaining-subscription-reads"]
                .to_str()
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
    }
    assert_eq!(seen, vec![4, 3, 2, 1, 0]);
    let r = c.get(rg_list(&emu)).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "SubscriptionRequestsThrottled");
    assert_eq!(
        b["error"]["message"],
        format!("Number of 'read' requests for subscription '{SUB}' actor '{APP_OID}' exceeded. Please try again after '{retry}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information.")
    );
    // Writes have their own bucket.
    let r = put_rg(&c, &emu, &t, "rg-x").await;
    assert_eq!(
        r.headers()["x-ms-ratelimit-remaining-subscription-writes"],
        "2"
    );
    // Another principal has its own bucket.
    let other = token_for(
        &emu,
        "33333333-3333-3333-3333-333333333333",
        "other",
        ARM_SCOPE,
    )
    .await;
    let r = c
        .get(rg_list(&emu))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["x-ms-ratelimit-remaining-subscription-reads"],
        "4"
    );
    let counters = emu.counters();
    assert_eq!(counters.throttled, 1);
    assert_eq!(counters.arm_reads, 7);
    assert_eq!(counters.arm_writes, 1);
    // Non-ARM routes are never throttled and carry no ARM headers.
    let r = health(&emu).await;
    assert!(r
        .headers()
        .get("x-ms-ratelimit-remaining-subscription-reads")
        .is_none());
}

#[tokio::test]
async fn fault_rule_fails_exactly_n_then_passes() {
    let emu = start_cfg(EmulatorConfig::new(world_with(
        "faults: { rules: [ { path: \"(?i)/resourcegroups/rg-ci$\", method: GET, status: 503, count: 2, retryAfter: 1 } ] }\n",
    )))
    .await;
    let t = token(&emu, ARM_SCOPE).await;
    let c = client(&emu);
    // Other methods and paths do not match.
    let r = c.get(rg_list(&emu)).bearer_auth(&t).send().await.unwrap();
    assert_ne!(r.status(), 503);
    for _ in 0..2 {
        let r = get_rg(&c, &emu, &t, "rg-ci").await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "1");
        assert!(
            r.headers().get("x-ms-request-id").is_some(),
            "ARM headers on faults too"
        );
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"]["code"], "ServiceUnavailable");
    }
    let r = get_rg(&c, &emu, &t, "rg-ci").await;
    assert_ne!(r.status(), 503);
    let f = admin(&emu, "GET", "faults", Value::Null).await;
    assert_eq!(f["rules"][0]["count"], 0);
    // A rule added at run time through the admin API, with a custom code.
    admin(&emu, "PUT", "faults", json!({"rules": [{"path": "rg-ci", "method": "PUT", "status": 409, "count": 1, "code": "Conflict"}]})).await;
    let r = put_rg(&c, &emu, &t, "rg-ci").await;
    assert_eq!(r.status(), 409);
    let r = put_rg(&c, &emu, &t, "rg-ci").await;
    assert_ne!(r.status(), 409);
    assert_eq!(emu.counters().faults_injected, 3);
}

#[tokio::test]
async fn storm_window_then_recovery_and_admin_is_exempt() {
    let emu = start().await;
    let t = token(&emu, ARM_SCOPE).await;
    let c = client(&emu);
    admin(
        &emu,
        "PUT",
        "faults",
        json!({"storm": {"seconds": 1.0, "retryAfter": 2}}),
    )
    .await;
    let r = c.get(rg_list(&emu)).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "SubscriptionRequestsThrottled");
    // Entra and admin are never faulted.
    let _ = token(&emu, ARM_SCOPE).await;
    admin(&emu, "GET", "health", Value::Null).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = c.get(rg_list(&emu)).bearer_auth(&t).send().await.unwrap();
    assert_ne!(r.status(), 429);
}

#[tokio::test]
async fn connection_reset_and_latency() {
    let emu = start().await;
    let t = token(&emu, ARM_SCOPE).await;
    admin(
        &emu,
        "PUT",
        "faults",
        json!({"rules": [{"path": "rg-reset", "status": 0, "count": 1}]}),
    )
    .await;
    let c = client(&emu);
    let e = c.get(rg(&emu, "rg-reset")).bearer_auth(&t).send().await;
    assert!(
        e.is_err(),
        "the connection must be dropped without a response: {e:?}"
    );
    let r = get_rg(&c, &emu, &t, "rg-reset").await;
    assert!(r.status().as_u16() > 0);
    // resetRate 1.0: every ARM request is dropped; the log records status 0.
    admin(&emu, "PUT", "faults", json!({"resetRate": 1.0})).await;
    assert!(c.get(rg_list(&emu)).bearer_auth(&t).send().await.is_err());
    admin(&emu, "PUT", "faults", json!({"latencyMs": "150..200"})).await;
    let start = Instant::now();
    let _ = c.get(rg_list(&emu)).bearer_auth(&t).send().await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(150));
    // errorRate 1.0: 500 or 503 with an ARM body.
    admin(&emu, "PUT", "faults", json!({"errorRate": 1.0})).await;
    let r = c.get(rg_list(&emu)).bearer_auth(&t).send().await.unwrap();
    assert!(matches!(r.status().as_u16(), 500 | 503));
    let b: Value = r.json().await.unwrap();
    assert!(b["error"]["code"].is_string());
    let log = emu.requests();
    assert!(log
        .iter()
        .any(|e| e.status == 0 && e.injected.as_deref() == Some("reset")));
    // Bad fault configuration is rejected.
    let r = c
        .put(format!("{}/_emulator/faults", emu.base_url()))
        .json(&json!({"rules": [{"path": "(", "status": 500}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn oversized_body_is_413_with_arm_error() {
    let emu = start().await;
    let t = token(&emu, ARM_SCOPE).await;
    let big = vec![b'x'; 5 * 1024 * 1024];
    let r = client(&emu)
        .put(rg(&emu, "rg-big"))
        .bearer_auth(&t)
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "RequestEntityTooLarge");
    // Still serving.
    let r = health(&emu).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn handler_panic_is_a_500_and_the_server_survives() {
    let emu = start().await;
    let c = client(&emu);
    let r = c
        .post(format!("{}/_emulator/debug/panic", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "InternalServerError");
    let r = health(&emu).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn garbage_tokens_get_azure_shaped_errors() {
    let emu = start().await;
    let c = client(&emu);
    for bad in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJvaWQiOiJ4In0."] {
        let r = c
            .get(format!("{}/v1.0/users", emu.base_url()))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"]["code"], "InvalidAuthenticationToken");
    }
    // Not a JSON body on the token endpoint: a form with nothing usable.
    let r = c
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", emu.base_url()))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn hung_client_does_not_block_others() {
    let emu = start().await;
    // A TCP client that never starts TLS.
    let _hung = tokio::net::TcpStream::connect(("127.0.0.1", emu.port()))
        .await
        .unwrap();
    let started = Instant::now();
    let r = health(&emu).await;
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_clients() {
    let emu = start().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let c = client(&emu); // one connection pool (and TLS session) per client
        let url = format!("{}/{TENANT}/oauth2/v2.0/token", emu.base_url());
        tasks.spawn(async move {
            let r = c
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", APP),
                    ("client_secret", SECRET),
                    ("scope", if i % 2 == 0 { ARM_SCOPE } else { GRAPH_SCOPE }),
                ])
                .send()
                .await
                .expect("send");
            r.status().as_u16()
        });
    }
    let mut ok = 0;
    while let Some(s) = tasks.join_next().await {
        if s.expect("task") == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 200);
    assert_eq!(emu.counters().token_requests, 200);
}

#[tokio::test]
async fn data_plane_faults_only_when_enabled() {
    let emu = start().await;
    let c = client(&emu);
    let url = format!(
        "{}/aoai/sub1/openai/deployments/chat/chat/completions?api-version=2024-10-21",
        emu.base_url()
    );
    admin(
        &emu,
        "PUT",
        "faults",
        json!({"rules": [{"path": "^/aoai/", "status": 503, "count": 1}]}),
    )
    .await;
    let r = post_empty_chat(&c, &url).await;
    assert_ne!(r.status(), 503, "data plane is not faulted by default");
    admin(
        &emu,
        "PUT",
        "faults",
        json!({"dataPlane": true, "rules": [{"path": "^/aoai/", "status": 503, "count": 1}]}),
    )
    .await;
    let r = post_empty_chat(&c, &url).await;
    assert_eq!(r.status(), 503);
    assert!(r
        .headers()
        .get("x-ms-ratelimit-remaining-subscription-reads")
        .is_none());
}

#[tokio::test]
async fn entra_faults_only_when_enabled_and_in_entras_words() {
    let emu = start().await;
    let c = client(&emu);
    let url = format!("{}/{TENANT}/oauth2/v2.0/token", emu.base_url());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", APP),
        ("client_secret", SECRET),
        ("scope", ARM_SCOPE),
    ];
    let rule = json!([{"path": "oauth2/v2.0/token$", "status": 503, "count": 1, "retryAfter": 2},
                      {"path": "oauth2/v2.0/token$", "status": 500, "count": 1}]);
    admin(&emu, "PUT", "faults", json!({"rules": rule})).await;
    let r = c.post(&url).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200, "Entra ID is not faulted by default");

    admin(&emu, "PUT", "faults", json!({"entra": true, "rules": rule})).await;
    let r = c.post(&url).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "2");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "temporarily_unavailable");
    assert_eq!(v["error_codes"], json!([90033]));
    assert!(v["error_description"].as_str().unwrap().starts_with(
        "AADSTS90033: A transient error has occurred. Please try again.\r\nTrace ID: "
    ));
    assert!(v["trace_id"].is_string() && v["correlation_id"].is_string());
    assert!(v.get("access_token").is_none());

    let r = c.post(&url).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 500);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "server_error");
    assert_eq!(v["error_codes"], json!([90041]));

    let r = c.post(&url).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200, "only the rules' count fails");
}

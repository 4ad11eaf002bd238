//! Entra ID: discovery, JWKS, instance discovery, the token endpoint's successes and every
//! documented failure shape, and token validation by ARM/data plane/Graph authenticators.

mod common;

use base64::Engine;
use common::*;
use keyless_emulator::auth;
use keyless_emulator::http::Req;
use serde_json::Value;

fn claims_of(token: &str) -> Value {
    let p = token.split('.').nth(1).expect("payload");
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .expect("b64");
    serde_json::from_slice(&b).expect("json")
}

async fn post_token(
    emu: &keyless_emulator::RunningEmulator,
    tenant: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let r = client(emu)
        .post(format!("{}/{tenant}/oauth2/v2.0/token", emu.base_url()))
        .form(form)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json body"))
}

/// Posts a token request that Entra must refuse with `status`, `error` and AADSTS `code`;
/// returns the error body.
async fn refused(
    emu: &keyless_emulator::RunningEmulator,
    tenant: &str,
    form: &[(&str, &str)],
    status: u16,
    error: &str,
    code: u64,
) -> Value {
    let (s, b) = post_token(emu, tenant, form).await;
    assert_eq!(s, status, "{b}");
    assert_aad(&b, error, code);
    b
}

fn assert_aad(body: &Value, error: &str, code: u64) {
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], serde_json::json!([code]), "{body}");
    let d = body["error_description"].as_str().expect("description");
    assert!(d.starts_with(&format!("AADSTS{code}: ")), "{d}");
    assert!(d.contains("\r\nTrace ID: "), "{d}");
    for k in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
        assert!(body[k].is_string(), "missing {k}: {body}");
    }
}

#[tokio::test]
async fn discovery_documents_and_jwks() {
    let emu = start().await;
    let c = client(&emu);
    let b = emu.base_url();
    let v2: Value = get_json(
        &c,
        format!("{b}/{TENANT}/v2.0/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(
        v2["token_endpoint"],
        format!("{b}/{TENANT}/oauth2/v2.0/token")
    );
    assert_eq!(
        v2["issuer"],
        format!("https://login.microsoftonline.com/{TENANT}/v2.0")
    );
    assert_eq!(
        v2["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    // by domain too
    let by_domain = c
        .get(format!(
            "{b}/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(by_domain.status(), 200);
    let v1: Value = get_json(&c, format!("{b}/{TENANT}/.well-known/openid-configuration")).await;
    assert_eq!(v1["issuer"], format!("https://sts.windows.net/{TENANT}/"));
    let jwks: Value = get_json(&c, v2["jwks_uri"].as_str().unwrap()).await;
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["e"], "AQAB");
    // A token's kid is in the JWKS.
    let tok = token(&emu, ARM_SCOPE).await;
    let header = tok.split('.').next().unwrap();
    let h: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(h["kid"], key["kid"]);
    assert_eq!(h["alg"], "RS256");
    // Unknown tenant: AADSTS90002 in the AAD error shape.
    let r = c
        .get(format!(
            "{b}/00000000-dead-beef-0000-000000000000/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_aad(&r.json().await.unwrap(), "invalid_tenant", 90002);
}

#[tokio::test]
async fn instance_discovery_answers_for_the_emulator_host() {
    let emu = start().await;
    let b = emu.base_url();
    let r: Value = get_json(&client(&emu), format!(
            "{b}/common/discovery/instance?api-version=1.1&authorization_endpoint={b}/{TENANT}/oauth2/v2.0/authorize"
        )).await;
    assert_eq!(
        r["tenant_discovery_endpoint"],
        format!("{b}/{TENANT}/v2.0/.well-known/openid-configuration")
    );
    let host = b.trim_start_matches("https://");
    assert_eq!(r["metadata"][0]["aliases"][0], host);
}

#[tokio::test]
async fn client_secret_token_has_v1_claims() {
    let emu = start().await;
    let (status, body) = post_token(
        &emu,
        TENANT,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", SECRET),
            ("scope", "https://management.core.windows.net//.default"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["expires_in"].is_number(),
        "expires_in must be a number: {body}"
    );
    assert!(body["ext_expires_in"].is_number());
    assert_eq!(body["token_type"], "Bearer");
    let c = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://management.core.windows.net/");
    assert_eq!(c["iss"], format!("https://sts.windows.net/{TENANT}/"));
    assert_eq!(c["ver"], "1.0");
    assert_eq!(c["tid"], TENANT);
    assert_eq!(c["oid"], APP_OID);
    assert_eq!(c["sub"], APP_OID);
    assert_eq!(c["appid"], APP);
    assert_eq!(c["appidacr"], "1");
    assert_eq!(c["idtyp"], "app");
    assert!(c["uti"].is_string());
    let exp = c["exp"].as_i64().unwrap();
    let iat = c["iat"].as_i64().unwrap();
    assert_eq!(exp - iat, 3600);
    // Transitive groups: app is in team-alpha-devs, which is in all-devs.
    let groups: Vec<&str> = c["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert!(groups.contains(&"99999999-0000-0000-0000-000000000001"));
    assert!(groups.contains(&"99999999-0000-0000-0000-000000000002"));
    // The token is accepted by the ARM authenticator.
    let req = Req::new(
        "GET",
        "/subscriptions/x",
        vec![(
            "authorization".into(),
            format!("Bearer {}", body["access_token"].as_str().unwrap()),
        )],
        bytes::Bytes::new(),
    );
    let caller = auth::authenticate_arm(emu.ctx(), &req).expect("ARM accepts it");
    assert_eq!(caller.oid, APP_OID);
    assert_eq!(caller.display, APP);
}

#[tokio::test]
async fn http_basic_client_authentication() {
    let emu = start().await;
    let r = client(&emu)
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", emu.base_url()))
        .basic_auth(APP, Some(SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", GRAPH_SCOPE)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let c = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    assert_eq!(c["roles"], serde_json::json!(["Directory.Read.All"]));
}

#[tokio::test]
async fn v1_endpoint_returns_string_times_and_resource() {
    let emu = start().await;
    let r = client(&emu)
        .post(format!("{}/{TENANT}/oauth2/token", emu.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", SECRET),
            ("resource", "https://management.azure.com/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body["expires_on"].is_string());
    assert_eq!(body["resource"], "https://management.azure.com/");
}

#[tokio::test]
async fn token_endpoint_failures_have_azure_shapes() {
    let emu = start().await;
    let base = [("grant_type", "client_credentials"), ("client_id", APP)];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut f: Vec<(&str, &str)> = base.to_vec();
        f.extend_from_slice(extra);
        f
    };
    // wrong secret → 401 invalid_client 7000215
    let b = refused(
        &emu,
        TENANT,
        &with(&[("client_secret", "nope"), ("scope", ARM_SCOPE)]),
        401,
        "invalid_client",
        7000215,
    )
    .await;
    assert!(b["error_description"].as_str().unwrap().contains(APP));
    // unknown application → 400 unauthorized_client 700016
    refused(
        &emu,
        TENANT,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "12345678-1234-1234-1234-123456789012"),
            ("client_secret", "x"),
            ("scope", ARM_SCOPE),
        ],
        400,
        "unauthorized_client",
        700016,
    )
    .await;
    // unknown tenant → 400 invalid_tenant 90002
    refused(
        &emu,
        "00000000-dead-beef-0000-000000000000",
        &with(&[("client_secret", SECRET), ("scope", ARM_SCOPE)]),
        400,
        "invalid_tenant",
        90002,
    )
    .await;
    // scope without /.default → 1002012
    refused(
        &emu,
        TENANT,
        &with(&[
            ("client_secret", SECRET),
            ("scope", "https://management.azure.com/user_impersonation"),
        ]),
        400,
        "invalid_scope",
        1002012,
    )
    .await;
    // no credential → 401 7000218
    refused(
        &emu,
        TENANT,
        &with(&[("scope", ARM_SCOPE)]),
        401,
        "invalid_client",
        7000218,
    )
    .await;
    // missing scope → 900144
    let b = refused(
        &emu,
        TENANT,
        &with(&[("client_secret", SECRET)]),
        400,
        "invalid_request",
        900144,
    )
    .await;
    assert!(b["error_description"].as_str().unwrap().contains("'scope'"));
    // unknown resource → 500011
    refused(
        &emu,
        TENANT,
        &with(&[
            ("client_secret", SECRET),
            ("scope", "https://vault.example/.default"),
        ]),
        400,
        "invalid_resource",
        500011,
    )
    .await;
    // the correlation id echoes client-request-id
    let r = client(&emu)
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", emu.base_url()))
        .header("client-request-id", "c0ffee00-0000-0000-0000-000000000000")
        .form(&with(&[("client_secret", "nope"), ("scope", ARM_SCOPE)]))
        .send()
        .await
        .unwrap();
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["correlation_id"], "c0ffee00-0000-0000-0000-000000000000");
}

fn external_assertion(iss: &str, sub: &str, aud: &str, nbf: i64, exp: i64) -> String {
    let e = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    format!(
        "{}.{}.{}",
        e(&serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "external"})),
        e(
            &serde_json::json!({"iss": iss, "sub": sub, "aud": aud, "nbf": nbf, "exp": exp, "iat": nbf})
        ),
        "c2lnbmF0dXJlLW5vdC1jaGVja2Vk"
    )
}

const GH: &str = "https://token.actions.githubusercontent.com";
const GH_SUB: &str = "repo:org/r:ref:refs/heads/main";
const XCHG: &str = "api://AzureADTokenExchange";

#[tokio::test]
async fn federated_assertion_success_mismatch_and_time_range() {
    let emu = start().await;
    let now = keyless_emulator::ctx::now_wall() as i64;
    let run = |assertion: String| {
        let emu = &emu;
        async move {
            post_token(
                emu,
                TENANT,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", APP),
                    ("scope", ARM_SCOPE),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                ],
            )
            .await
        }
    };
    let (s, b) = run(external_assertion(GH, GH_SUB, XCHG, now - 5, now + 600)).await;
    assert_eq!(s, 200, "{b}");
    let c = claims_of(b["access_token"].as_str().unwrap());
    assert_eq!(c["oid"], APP_OID);
    assert_eq!(c["appidacr"], "2");
    // wrong subject → 70021 naming the presented values
    let (s, b) = run(external_assertion(
        GH,
        "repo:org/r:ref:refs/heads/evil",
        XCHG,
        now - 5,
        now + 600,
    ))
    .await;
    assert_eq!(s, 400);
    assert_aad(&b, "invalid_request", 70021);
    assert!(b["error_description"]
        .as_str()
        .unwrap()
        .contains("refs/heads/evil"));
    // wrong audience → 70021 too (exact match)
    let (s, b) = run(external_assertion(
        GH,
        GH_SUB,
        "api://other",
        now - 5,
        now + 600,
    ))
    .await;
    assert_eq!(s, 400);
    assert_aad(&b, "invalid_request", 70021);
    // expired → 700024
    let (s, b) = run(external_assertion(GH, GH_SUB, XCHG, now - 1200, now - 600)).await;
    assert_eq!(s, 400);
    assert_aad(&b, "invalid_client", 700024);
    // garbage → 50027
    let (s, b) = run("not-a-jwt".into()).await;
    assert_eq!(s, 400);
    assert_eq!(b["error_codes"][0], 50027);
}

fn bearer(t: &str) -> Vec<(String, String)> {
    vec![("authorization".into(), format!("Bearer {t}"))]
}

#[tokio::test]
async fn arm_authentication_failures() {
    let emu = start().await;
    let ctx = emu.ctx();
    let req =
        |h: Vec<(String, String)>| Req::new("GET", "/subscriptions/x", h, bytes::Bytes::new());
    let code = |r: Result<auth::Caller, keyless_emulator::http::Resp>| {
        let resp = r.expect_err("must fail");
        assert_eq!(resp.status, 401);
        assert!(resp
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer authorization_uri="));
        let v: Value = serde_json::from_slice(&resp.body).unwrap();
        (
            v["error"]["code"].as_str().unwrap().to_string(),
            v["error"]["message"].as_str().unwrap().to_string(),
        )
    };
    let (c, m) = code(auth::authenticate_arm(ctx, &req(vec![])));
    assert_eq!(c, "AuthenticationFailed");
    assert_eq!(
        m,
        "Authentication failed. The 'Authorization' header is missing."
    );
    let (c, _) = code(auth::authenticate_arm(
        ctx,
        &req(vec![("authorization".into(), "Token abc".into())]),
    ));
    assert_eq!(c, "AuthenticationFailedInvalidHeader");
    let (c, m) = code(auth::authenticate_arm(
        ctx,
        &req(bearer("garbage.garbage.garbage")),
    ));
    assert_eq!(c, "InvalidAuthenticationToken");
    assert_eq!(m, "The access token is invalid.");
    let graph = token(&emu, GRAPH_SCOPE).await;
    let (c, m) = code(auth::authenticate_arm(ctx, &req(bearer(&graph))));
    assert_eq!(c, "InvalidAuthenticationTokenAudience");
    assert!(m.contains("'https://graph.microsoft.com'"), "{m}");
    // A tampered token (payload swapped) is invalid.
    let arm = token(&emu, ARM_SCOPE).await;
    let mut parts: Vec<&str> = arm.split('.').collect();
    let gparts: Vec<&str> = graph.split('.').collect();
    parts[1] = gparts[1];
    let (c, _) = code(auth::authenticate_arm(ctx, &req(bearer(&parts.join(".")))));
    assert_eq!(c, "InvalidAuthenticationToken");
    // Expired: skip the emulator clock past the lifetime.
    assert!(auth::authenticate_arm(ctx, &req(bearer(&arm))).is_ok());
    ctx.advance_clock(3601.0);
    let (c, m) = code(auth::authenticate_arm(ctx, &req(bearer(&arm))));
    assert_eq!(c, "ExpiredAuthenticationToken");
    assert!(m.starts_with("The access token expiry UTC time '"), "{m}");
    assert!(
        m.contains("M'") || m.contains(" AM'") || m.contains(" PM'"),
        "{m}"
    );
    // Data plane: its own shape for a wrong audience.
    let resp = auth::authenticate_dataplane(ctx, &req(bearer(&token(&emu, ARM_SCOPE).await)))
        .expect_err("ARM token on the data plane");
    assert_eq!(resp.status, 401);
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(v["statusCode"], 401);
}

#[tokio::test]
async fn short_token_lifetime_expires_for_real() {
    let emu = start_cfg(keyless_emulator::EmulatorConfig::new(world_with(
        "timing: { tokenLifetime: 1s }\n",
    )))
    .await;
    let t = token(&emu, ARM_SCOPE).await;
    let c = claims_of(&t);
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let req = Req::new("GET", "/subscriptions/x", bearer(&t), bytes::Bytes::new());
    let e = auth::authenticate_arm(emu.ctx(), &req).expect_err("expired");
    let v: Value = serde_json::from_slice(&e.body).unwrap();
    assert_eq!(v["error"]["code"], "ExpiredAuthenticationToken");
}

//! Bad input for the emulator's request handling: random methods, paths (built from the
//! vocabulary of every service, plus junk and percent-escapes), queries, headers (with and
//! without valid ARM/Graph tokens) and bodies (junk bytes, random JSON, forms) go through the
//! in-process router. Every request must be answered — no panic (the handlers are called
//! directly, outside the server's panic guard), no hang (5 s bound) — with an Azure-shaped JSON
//! error or a success.

mod common;

use bytes::Bytes;
use common::*;
use keyless_emulator::http::Req;
use keyless_emulator::router::{self, Route};
use keyless_emulator::world::World;
use keyless_emulator::{Emulator, EmulatorConfig};
use proptest::prelude::*;
use serde_json::Value;
use std::time::Duration;

const SEGMENTS: &[&str] = &[
    "subscriptions",
    SUB,
    "resourceGroups",
    "resourcegroups",
    "rg-ci",
    "providers",
    "Microsoft.CognitiveServices",
    "accounts",
    "oai-bad",
    "deployments",
    "chat",
    "Microsoft.Authorization",
    "roleAssignments",
    "roleDefinitions",
    "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
    "00000000-0000-0000-0000-000000000000",
    "Microsoft.Compute",
    "virtualMachines",
    "build-agent-01",
    "runCommand",
    "runCommands",
    "Microsoft.ManagedIdentity",
    "userAssignedIdentities",
    "locations",
    "eastus",
    "operations",
    "operationResults",
    "deletedAccounts",
    "checkDomainAvailability",
    "purge",
    "listKeys",
    "v1.0",
    "users",
    "groups",
    "servicePrincipals",
    "$batch",
    "directoryObjects",
    "getByIds",
    TENANT,
    "common",
    "oauth2",
    "v2.0",
    "token",
    ".well-known",
    "openid-configuration",
    "discovery",
    "keys",
    "instance",
    "msi",
    "imds",
    "metadata",
    "identity",
    "aoai",
    "kl-bad",
    "openai",
    "completions",
    "%00",
    "%2F",
    "..",
    "%ZZ",
    "ü",
    "",
];

const QUERY_KEYS: &[&str] = &[
    "api-version",
    "$filter",
    "$top",
    "$skipToken",
    "$select",
    "resource",
    "client_id",
    "principal_id",
    "mi_res_id",
    "since",
    "route",
];

const QUERY_VALUES: &[&str] = &[
    "2022-04-01",
    "2024-10-01",
    "2021-04-01",
    "2024-07-01",
    "2023-01-31",
    "2019-08-01",
    "2018-02-01",
    "2024-10-21",
    "1999-01-01",
    "atScope()",
    "principalId eq 'x'",
    "assignedTo('x')",
    "roleName eq 'Reader'",
    "userPrincipalName in ('a','b')",
    "displayName eq 'x' or (",
    "-1",
    "99999999999999999999",
    "https://management.azure.com",
    "",
    "%",
];

fn world() -> String {
    common::world(&WorldOpts {
        extra: "accounts:\n  - { name: oai-bad, resourceGroup: rg-ci, location: eastus, customSubdomain: kl-bad, disableLocalAuth: true, deployments: [ { name: chat, model: { name: gpt-4o-mini, version: \"2024-07-18\" }, sku: { name: GlobalStandard, capacity: 1 } } ] }\n",
        ..Default::default()
    })
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Arm,
    Graph,
    Junk(String),
}

#[derive(Debug, Clone)]
struct Input {
    method: String,
    segments: Vec<String>,
    query: Vec<(String, String)>,
    auth: Auth,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(vec!["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS"]).prop_map(str::to_string),
        1 => "[A-Za-z]{1,8}",
    ]
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(SEGMENTS.to_vec()).prop_map(str::to_string),
        1 => "[a-zA-Z0-9%._~!$&'()*+,;=:@-]{0,12}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(QUERY_VALUES.to_vec()).prop_map(|s| Value::String(s.into())),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "properties",
                    "location",
                    "kind",
                    "sku",
                    "name",
                    "identity",
                    "type",
                    "principalId",
                    "roleDefinitionId",
                    "principalType",
                    "description",
                    "customSubDomainName",
                    "disableLocalAuth",
                    "tags",
                    "model",
                    "capacity",
                    "requests",
                    "ids",
                    "types",
                    "source",
                    "script",
                    "commandId",
                    "messages",
                    "userAssignedIdentities",
                    "id",
                    "method",
                    "url",
                ])
                .prop_map(str::to_string),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => Just(Vec::new()),
        2 => prop::collection::vec(any::<u8>(), 0..64),
        4 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => Just(format!("grant_type=client_credentials&client_id={CALLER_APP}&client_secret={CALLER_SECRET}&scope=https%3A%2F%2Fmanagement.azure.com%2F.default").into_bytes()),
        1 => "[a-z_=&%]{0,40}".prop_map(String::into_bytes),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    (
        method(),
        prop::collection::vec(segment(), 0..10),
        prop::collection::vec(
            (
                prop_oneof![3 => prop::sample::select(QUERY_KEYS.to_vec()).prop_map(str::to_string), 1 => "[a-z$]{0,6}"],
                prop_oneof![3 => prop::sample::select(QUERY_VALUES.to_vec()).prop_map(str::to_string), 1 => ".{0,10}"],
            ),
            0..4,
        ),
        prop_oneof![
            1 => Just(Auth::None),
            4 => Just(Auth::Arm),
            1 => Just(Auth::Graph),
            1 => "[ -~]{0,30}".prop_map(Auth::Junk),
        ],
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "content-type", "host", "metadata", "x-identity-header", "accept",
                    "x-ms-client-request-id", "content-length", "if-match",
                ])
                .prop_map(str::to_string),
                prop_oneof![
                    Just("application/json".to_string()),
                    Just("application/x-www-form-urlencoded".to_string()),
                    Just("kl-bad.openai.azure.com".to_string()),
                    Just("true".to_string()),
                    "[ -~]{0,20}",
                ],
            ),
            0..3,
        ),
        body(),
    )
        .prop_map(|(method, segments, query, auth, headers, body)| Input {
            method,
            segments,
            query,
            auth,
            headers,
            body,
        })
}

/// Azure-shaped error bodies: ARM / Graph / data plane `{"error": {"code", "message"}}`,
/// Entra `{"error": "...", "error_description": "..."}`, data-plane 401 `{"statusCode", "message"}`.
fn azure_error_shape(v: &Value) -> bool {
    if let Some(e) = v.get("error") {
        if e.get("code").is_some_and(Value::is_string)
            && e.get("message").is_some_and(Value::is_string)
        {
            return true;
        }
        if e.is_string() && v.get("error_description").is_some_and(Value::is_string) {
            return true;
        }
    }
    v.get("statusCode").is_some() && v.get("message").is_some_and(Value::is_string)
}

#[test]
fn random_requests_get_azure_shaped_answers() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let w = World::parse(&world(), "bad-input-world.yaml").expect("world");
    let emu = rt
        .block_on(Emulator::start(EmulatorConfig::new(w)))
        .expect("emulator");
    let ctx = emu.ctx().clone();
    let token = |scope: &str| -> String {
        let body = format!(
            "grant_type=client_credentials&client_id={CALLER_APP}&client_secret={CALLER_SECRET}&scope={}",
            url::form_urlencoded::byte_serialize(scope.as_bytes()).collect::<String>()
        );
        let req = Req::new(
            "POST",
            &format!("/{TENANT}/oauth2/v2.0/token"),
            vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            Bytes::from(body),
        );
        let resp = rt.block_on(router::dispatch(&ctx, Route::Entra, req));
        let v: Value = serde_json::from_slice(&resp.body).expect("token JSON");
        v["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    };
    let arm_token = token("https://management.azure.com/.default");
    let graph_token = token("https://graph.microsoft.com/.default");

    let config = ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(inp in input())| {
        let mut path = format!("/{}", inp.segments.join("/"));
        if !inp.query.is_empty() {
            let q: Vec<String> = inp
                .query
                .iter()
                .map(|(k, v)| format!("{k}={}", url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()))
                .collect();
            path = format!("{path}?{}", q.join("&"));
        }
        let mut headers = inp.headers.clone();
        match &inp.auth {
            Auth::None => {}
            Auth::Arm => headers.push(("authorization".into(), format!("Bearer {arm_token}"))),
            Auth::Graph => headers.push(("authorization".into(), format!("Bearer {graph_token}"))),
            Auth::Junk(j) => headers.push(("authorization".into(), j.clone())),
        }
        let req = Req::new(&inp.method, &path, headers, Bytes::from(inp.body.clone()));
        let route = router::classify(&req);
        // The admin API is the emulator's own (it can reset state or panic on purpose), not Azure.
        prop_assume!(route != Route::Admin);
        let head = req.method == "HEAD";
        let resp = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(5), router::dispatch(&ctx, route, req)).await })
            .map_err(|_| TestCaseError::fail(format!("no answer within 5 s: {} {path}", inp.method)))?;
        prop_assert!((100..600).contains(&resp.status), "status {}", resp.status);
        if route == Route::Unknown {
            prop_assert_eq!(resp.status, 404);
            return Ok(());
        }
        let text = String::from_utf8_lossy(&resp.body).to_string();
        // Outside ARM, a path no endpoint serves gets a plain web-server 404 (as Azure's front
        // doors answer unknown paths with a non-JSON page).
        if route != Route::Arm && resp.status == 404 && text.starts_with("404 Not Found:") {
            return Ok(());
        }
        if resp.body.is_empty() {
            prop_assert!(
                resp.status < 400 || head,
                "{} {path} ({route:?}): {} with an empty body",
                inp.method,
                resp.status
            );
            return Ok(());
        }
        let parsed: Result<Value, _> = serde_json::from_slice(&resp.body);
        prop_assert!(
            parsed.is_ok(),
            "{} {path} ({route:?}): {} with a non-JSON body: {}",
            inp.method,
            resp.status,
            &text[..text.len().min(300)]
        );
        let v = parsed.unwrap();
        if resp.status >= 400 {
            prop_assert!(
                azure_error_shape(&v),
                "{} {path} ({route:?}): {} with a body that is not an Azure error: {}",
                inp.method,
                resp.status,
                &text[..text.len().min(300)]
            );
        }
    });
    drop(emu);
}

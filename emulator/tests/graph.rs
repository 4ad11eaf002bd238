//! Microsoft Graph lookups: filters, paging, $select, getByIds, $batch, permissions, replication.

mod common;

use common::*;
use serde_json::{json, Value};

async fn graph(
    emu: &keyless_emulator::RunningEmulator,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let c = client(emu);
    let url = format!("{}{path}", emu.base_url());
    let mut rb = match method {
        "POST" => c.post(url),
        _ => c.get(url),
    }
    .bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.expect("send");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn user_group_and_service_principal_lookups() {
    let emu = start().await;
    let t = token(&emu, GRAPH_SCOPE).await;
    let (s, b) = graph(
        &emu,
        &t,
        "GET",
        "/v1.0/users?$filter=userPrincipalName eq 'alice@contoso.com'",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#users"
    );
    assert_eq!(b["value"].as_array().unwrap().len(), 1);
    assert_eq!(b["value"][0]["id"], "aaaaaaaa-0000-0000-0000-000000000001");
    assert_eq!(b["value"][0]["displayName"], "Alice");
    // in (...) batching
    let (_, b) = graph(&emu, &t, "GET", "/v1.0/users?$filter=userPrincipalName in ('alice@contoso.com','bob@contoso.com','nobody@x')&$select=id,userPrincipalName", None).await;
    let v = b["value"].as_array().unwrap();
    assert_eq!(v.len(), 2);
    assert!(
        v[0].get("displayName").is_none(),
        "$select must drop other properties"
    );
    assert_eq!(
        b["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#users(id,userPrincipalName)"
    );
    // by id or UPN
    let (s, b) = graph(&emu, &t, "GET", "/v1.0/users/bob@contoso.com", None).await;
    assert_eq!(s, 200);
    assert_eq!(b["id"], "aaaaaaaa-0000-0000-0000-000000000002");
    let (s, b) = graph(
        &emu,
        &t,
        "GET",
        "/v1.0/users/aaaaaaaa-0000-0000-0000-00000000dead",
        None,
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(b["error"]["code"], "Request_ResourceNotFound");
    assert!(b["error"]["innerError"]["request-id"].is_string());
    // groups by display name
    let (_, b) = graph(
        &emu,
        &t,
        "GET",
        "/v1.0/groups?$filter=displayName eq 'team-alpha-devs'",
        None,
    )
    .await;
    assert_eq!(b["value"][0]["id"], "99999999-0000-0000-0000-000000000001");
    assert_eq!(b["value"][0]["securityEnabled"], true);
    // service principals by appId and by servicePrincipalNames
    let (_, b) = graph(
        &emu,
        &t,
        "GET",
        &format!("/v1.0/servicePrincipals?$filter=appId eq '{APP}'"),
        None,
    )
    .await;
    assert_eq!(b["value"][0]["id"], APP_OID);
    assert_eq!(b["value"][0]["servicePrincipalType"], "Application");
    let (_, b) = graph(
        &emu,
        &t,
        "GET",
        &format!("/v1.0/servicePrincipals?$filter=servicePrincipalNames/any(c:c eq '{APP}')"),
        None,
    )
    .await;
    assert_eq!(b["value"][0]["id"], APP_OID);
    // unsupported filter → 400
    let (s, _) = graph(
        &emu,
        &t,
        "GET",
        "/v1.0/users?$filter=startswith(displayName,'A')",
        None,
    )
    .await;
    assert_eq!(s, 400);
    // /me with an app token
    let (s, _) = graph(&emu, &t, "GET", "/v1.0/me", None).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn paging_with_next_link() {
    let emu = start().await;
    let t = token(&emu, GRAPH_SCOPE).await;
    let (_, b) = graph(&emu, &t, "GET", "/v1.0/users?$top=1", None).await;
    assert_eq!(b["value"].as_array().unwrap().len(), 1);
    let next = b["@odata.nextLink"].as_str().expect("nextLink").to_string();
    assert!(next.starts_with(emu.base_url()));
    let r: Value = client(&emu)
        .get(&next)
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["value"].as_array().unwrap().len(), 1);
    assert!(r.get("@odata.nextLink").is_none());
    assert_ne!(r["value"][0]["id"], b["value"][0]["id"]);
}

#[tokio::test]
async fn get_by_ids_types_and_limits() {
    let emu = start().await;
    let t = token(&emu, GRAPH_SCOPE).await;
    let (s, b) = graph(&emu, &t, "POST", "/v1.0/directoryObjects/getByIds", Some(json!({
        "ids": [APP_OID, "99999999-0000-0000-0000-000000000001", "aaaaaaaa-0000-0000-0000-000000000001", "12345678-0000-0000-0000-000000000000"],
        "types": ["user", "group", "servicePrincipal", "directoryObjectPartnerReference"]
    }))).await;
    assert_eq!(s, 200, "{b}");
    let types: Vec<&str> = b["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["@odata.type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        vec![
            "#microsoft.graph.servicePrincipal",
            "#microsoft.graph.group",
            "#microsoft.graph.user"
        ]
    );
    let (_, b) = graph(
        &emu,
        &t,
        "POST",
        "/v1.0/directoryObjects/getByIds",
        Some(json!({"ids": [APP_OID, "aaaaaaaa-0000-0000-0000-000000000001"], "types": ["user"]})),
    )
    .await;
    assert_eq!(b["value"].as_array().unwrap().len(), 1);
    let many: Vec<String> = (0..1001)
        .map(|i| format!("00000000-0000-0000-0000-{i:012}"))
        .collect();
    let (s, _) = graph(
        &emu,
        &t,
        "POST",
        "/v1.0/directoryObjects/getByIds",
        Some(json!({"ids": many})),
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn batch_runs_each_request_and_limits_to_20() {
    let emu = start().await;
    let t = token(&emu, GRAPH_SCOPE).await;
    let (s, b) = graph(&emu, &t, "POST", "/v1.0/$batch", Some(json!({"requests": [
        {"id": "1", "method": "GET", "url": "/users?$filter=userPrincipalName eq 'alice@contoso.com'"},
        {"id": "2", "method": "GET", "url": "users/nobody@contoso.com"},
        {"id": "3", "method": "POST", "url": "/directoryObjects/getByIds", "body": {"ids": [APP_OID]}, "headers": {"Content-Type": "application/json"}}
    ]}))).await;
    assert_eq!(s, 200, "{b}");
    let rs = b["responses"].as_array().unwrap();
    assert_eq!(rs[0]["status"], 200);
    assert_eq!(
        rs[0]["body"]["value"][0]["id"],
        "aaaaaaaa-0000-0000-0000-000000000001"
    );
    assert_eq!(rs[1]["status"], 404);
    assert_eq!(
        rs[2]["body"]["value"][0]["@odata.type"],
        "#microsoft.graph.servicePrincipal"
    );
    let too_many: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"}))
        .collect();
    let (s, _) = graph(
        &emu,
        &t,
        "POST",
        "/v1.0/$batch",
        Some(json!({"requests": too_many})),
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn permissions_audience_and_replication() {
    let emu = start().await;
    // An app without Graph permissions → 403 Authorization_RequestDenied.
    let t = token_for(
        &emu,
        "33333333-3333-3333-3333-333333333333",
        "other",
        GRAPH_SCOPE,
    )
    .await;
    let (s, b) = graph(&emu, &t, "GET", "/v1.0/users", None).await;
    assert_eq!(s, 403);
    assert_eq!(b["error"]["code"], "Authorization_RequestDenied");
    assert_eq!(
        b["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    // An ARM token → 401 InvalidAuthenticationToken.
    let arm = token(&emu, ARM_SCOPE).await;
    let (s, b) = graph(&emu, &arm, "GET", "/v1.0/users", None).await;
    assert_eq!(s, 401);
    assert_eq!(b["error"]["code"], "InvalidAuthenticationToken");
    // A managed identity created with a replication delay is not found until it replicates.
    let now = emu.ctx().now();
    let (pid, cid) = emu.ctx().state.lock().directory.create_managed_identity(
        "vm9",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm9",
        now,
        600.0,
    );
    let t = token(&emu, GRAPH_SCOPE).await;
    let q = format!("/v1.0/servicePrincipals?$filter=appId eq '{cid}'");
    let (_, b) = graph(&emu, &t, "GET", &q, None).await;
    assert_eq!(b["value"].as_array().unwrap().len(), 0);
    let (s, _) = graph(
        &emu,
        &t,
        "GET",
        &format!("/v1.0/servicePrincipals/{pid}"),
        None,
    )
    .await;
    assert_eq!(s, 404);
    emu.ctx().advance_clock(601.0);
    let t = token(&emu, GRAPH_SCOPE).await;
    let (_, b) = graph(&emu, &t, "GET", &q, None).await;
    assert_eq!(b["value"][0]["id"], pid);
    assert_eq!(b["value"][0]["servicePrincipalType"], "ManagedIdentity");
}

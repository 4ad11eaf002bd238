//! Microsoft.Authorization over HTTPS: role definitions, role assignments, filters, paging,
//! propagation and replication windows.

mod arm_support;
mod common;

use arm_support::*;
use common::*;
use keyless_emulator::world::Span;
use serde_json::{json, Value};

const V: &str = "api-version=2022-04-01";

fn ra_path(scope: &str, name: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?{V}")
}

fn ra_body(role: &str, principal: &str, ty: Option<&str>) -> Value {
    let mut b = json!({"properties": {"roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role}"), "principalId": principal}});
    if let Some(t) = ty {
        b["properties"]["principalType"] = json!(t);
    }
    b
}

fn names(r: &R) -> Vec<String> {
    r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn role_definitions() {
    let emu = start_arm().await;
    let tok = owner(&emu).await;
    let q = format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions?{V}&$filter=roleName%20eq%20%27Cognitive%20Services%20OpenAI%20User%27");
    let r = get(&emu, &tok, &q).await;
    assert_eq!(r.status, 200);
    assert_eq!(names(&r), vec![OPENAI_USER]);
    let d = &r.body["value"][0];
    assert_eq!(
        d["id"],
        format!(
            "/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{OPENAI_USER}"
        )
    );
    assert_eq!(d["properties"]["type"], "BuiltInRole");
    let r = get(&emu, &tok, &format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions?{V}&$filter=type%20eq%20%27BuiltInRole%27")).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 11);
    let r = get(
        &emu,
        &tok,
        &format!("/providers/Microsoft.Authorization/roleDefinitions/{READER_ROLE}?{V}"),
    )
    .await;
    assert_eq!(
        (r.status, r.body["id"].as_str()),
        (
            200,
            Some(
                format!("/providers/Microsoft.Authorization/roleDefinitions/{READER_ROLE}")
                    .as_str()
            )
        )
    );
    let r = get(
        &emu,
        &tok,
        &format!(
            "{}/providers/Microsoft.Authorization/roleDefinitions/{READER_ROLE}?{V}",
            rg_path("rg-ci")
        ),
    )
    .await;
    assert_eq!(r.body["properties"]["roleName"], "Reader");
    let r = get(&emu, &tok, &format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/11111111-2222-3333-4444-555555555555?{V}")).await;
    assert_eq!(r.status, 404);
    // paging
    emu.ctx().state.lock().arm.settings.page_size = 4;
    let mut url =
        format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions?{V}");
    let mut seen = 0;
    for _ in 0..5 {
        let r = get(&emu, &tok, &url).await;
        seen += r.body["value"].as_array().unwrap().len();
        match r.body["nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, 11);
}

#[tokio::test]
async fn role_assignment_lifecycle_and_rules() {
    let emu = start_arm().await;
    let tok = owner(&emu).await;
    let scope = rg_path("rg-conf");
    let name = "0b0b0b0b-0000-4000-8000-000000000001";
    let mut body = ra_body(OPENAI_USER, BOB, Some("User"));
    body["properties"]["description"] = json!("why");
    let r = send(
        &emu,
        &tok,
        "PUT",
        &ra_path(&scope, name),
        Some(body.clone()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["id"],
        format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}")
    );
    assert_eq!(r.body["properties"]["scope"], scope);
    assert_eq!(r.body["properties"]["createdBy"], APP_OID);
    assert_eq!(r.body["properties"]["description"], "why");
    assert!(r.body["properties"]["createdOn"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    // idempotent
    assert_eq!(
        send(&emu, &tok, "PUT", &ra_path(&scope, name), Some(body))
            .await
            .status,
        201
    );
    // same triple, other name
    let r = send(
        &emu,
        &tok,
        "PUT",
        &ra_path(&scope, "0b0b0b0b-0000-4000-8000-000000000002"),
        Some(ra_body(OPENAI_USER, BOB, None)),
    )
    .await;
    assert_eq!(
        (r.status, r.code(), r.message()),
        (
            409,
            "RoleAssignmentExists",
            "The role assignment already exists."
        )
    );
    // another principal under the same name
    let r = send(
        &emu,
        &tok,
        "PUT",
        &ra_path(&scope, name),
        Some(ra_body(OPENAI_USER, ALICE, None)),
    )
    .await;
    assert_eq!(r.code(), "RoleAssignmentUpdateNotPermitted");
    let r = send(
        &emu,
        &tok,
        "PUT",
        &ra_path(&scope, "not-a-guid"),
        Some(ra_body(READER_ROLE, BOB, None)),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "InvalidRoleAssignmentId"));
    let ghost = "12345678-1234-1234-1234-123456789012";
    let r = send(
        &emu,
        &tok,
        "PUT",
        &ra_path(&scope, "0b0b0b0b-0000-4000-8000-000000000003"),
        Some(ra_body(READER_ROLE, ghost, None)),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "PrincipalNotFound"));
    assert!(r.message().starts_with(&format!(
        "Principal 12345678123412341234123456789012 does not exist in the directory {TENANT}."
    )));
    let r = send(
        &emu,
        &tok,
        "PUT",
        &ra_path(&scope, "0b0b0b0b-0000-4000-8000-000000000004"),
        Some(ra_body(READER_ROLE, BOB, Some("ServicePrincipal"))),
    )
    .await;
    assert_eq!(r.code(), "UnmatchedPrincipalType");
    let r = send(
        &emu,
        &tok,
        "PUT",
        &ra_path(&scope, "0b0b0b0b-0000-4000-8000-000000000005"),
        Some(ra_body("11111111-2222-3333-4444-555555555555", BOB, None)),
    )
    .await;
    assert_eq!(r.code(), "RoleDefinitionDoesNotExist");
    let r = send(
        &emu,
        &tok,
        "PUT",
        &ra_path(
            &rg_path("rg-missing"),
            "0b0b0b0b-0000-4000-8000-000000000006",
        ),
        Some(ra_body(READER_ROLE, BOB, None)),
    )
    .await;
    assert_eq!((r.status, r.code()), (404, "ResourceGroupNotFound"));
    // get (also by full id), delete 200 + body, then 204
    assert_eq!(
        get(&emu, &tok, &ra_path(&scope, name)).await.body["properties"]["principalId"],
        BOB
    );
    let r = send(&emu, &tok, "DELETE", &ra_path(&scope, name), None).await;
    assert_eq!((r.status, r.body["name"].as_str()), (200, Some(name)));
    assert_eq!(
        send(&emu, &tok, "DELETE", &ra_path(&scope, name), None)
            .await
            .status,
        204
    );
    assert_eq!(get(&emu, &tok, &ra_path(&scope, name)).await.status, 404);
}

#[tokio::test]
async fn list_filters() {
    let emu = start_arm().await;
    let tok = owner(&emu).await;
    let account = account_path("rg-ci", "x");
    let _ = account;
    let rg = rg_path("rg-ci");
    let vm_scope = vm_path("runner-01");
    let n = "0c0c0c0c-0000-4000-8000-000000000001";
    assert_eq!(
        send(
            &emu,
            &tok,
            "PUT",
            &ra_path(&vm_scope, n),
            Some(ra_body(READER_ROLE, ALICE, None))
        )
        .await
        .status,
        201
    );
    let list = |f: &str| format!("{rg}/providers/Microsoft.Authorization/roleAssignments?{V}{f}");
    let all = get(&emu, &tok, &list("")).await;
    let scopes: Vec<String> = all.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["properties"]["scope"].as_str().unwrap().to_string())
        .collect();
    assert!(
        scopes.contains(&format!("/subscriptions/{SUB}")) && scopes.contains(&vm_scope),
        "{scopes:?}"
    );
    let at = get(&emu, &tok, &list("&$filter=atScope()")).await;
    assert!(!names(&at).contains(&n.to_string()));
    assert!(at.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["properties"]["scope"] == format!("/subscriptions/{SUB}")));
    let mine = get(
        &emu,
        &tok,
        &list(&format!("&$filter=principalId%20eq%20%27{ALICE}%27")),
    )
    .await;
    assert_eq!(names(&mine), vec![n.to_string()]);
    let assigned = get(
        &emu,
        &tok,
        &list(&format!("&$filter=assignedTo(%27{ALICE}%27)")),
    )
    .await;
    let principals: Vec<&str> = assigned.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["properties"]["principalId"].as_str().unwrap())
        .collect();
    assert!(
        principals.contains(&TEAM) && principals.contains(&ALICE),
        "{principals:?}"
    );
    let both = get(
        &emu,
        &tok,
        &list(&format!(
            "&$filter=atScope()%20and%20assignedTo(%27{ALICE}%27)"
        )),
    )
    .await;
    let principals: Vec<&str> = both.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["properties"]["principalId"].as_str().unwrap())
        .collect();
    assert_eq!(principals, vec![TEAM]);
    let bad = get(&emu, &tok, &list("&$filter=foo")).await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn propagation_delay_then_effective() {
    let emu = start_arm().await;
    let tok = owner(&emu).await;
    emu.ctx().timing.write().propagation_delay = Span::fixed(100.0);
    let reader = token_for(&emu, READER_APP, "r", ARM_SCOPE).await;
    let target = format!("/subscriptions/{SUB}/resourcegroups/rg-by-reader?api-version=2021-04-01");
    assert_eq!(put_location(&emu, &reader, &target).await.status, 403);
    let contributor = "b24988ac-6180-42a0-ab88-20f7382dd24c";
    let r = send(
        &emu,
        &tok,
        "PUT",
        &ra_path(
            &format!("/subscriptions/{SUB}"),
            "0d0d0d0d-0000-4000-8000-000000000001",
        ),
        Some(ra_body(contributor, READER_OID, Some("ServicePrincipal"))),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(put_location(&emu, &reader, &target).await.status, 403);
    emu.ctx().advance_clock(101.0);
    assert_eq!(put_location(&emu, &reader, &target).await.status, 201);
    // Contributor still may not write role assignments (notActions)
    let r = send(
        &emu,
        &reader,
        "PUT",
        &ra_path(&rg_path("rg-ci"), "0d0d0d0d-0000-4000-8000-000000000002"),
        Some(ra_body(READER_ROLE, BOB, None)),
    )
    .await;
    assert_eq!((r.status, r.code()), (403, "AuthorizationFailed"));
}

#[tokio::test]
async fn new_vm_identity_needs_principal_type_until_replicated() {
    let emu = start_arm().await;
    let tok = owner(&emu).await;
    emu.ctx().timing.write().replication_delay = Span::fixed(3600.0);
    let r = send(
        &emu,
        &tok,
        "PATCH",
        &format!("{}?api-version=2024-07-01", vm_path("fresh-01")),
        Some(json!({"identity": {"type": "SystemAssigned"}})),
    )
    .await;
    let pid = r.body["identity"]["principalId"]
        .as_str()
        .unwrap()
        .to_string();
    let scope = account_path("rg-conf", "oai-conf");
    let r = send(
        &emu,
        &tok,
        "PUT",
        &ra_path(&scope, "0e0e0e0e-0000-4000-8000-000000000001"),
        Some(ra_body(OPENAI_USER, &pid, None)),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "PrincipalNotFound"));
    assert!(r.message().contains(&pid.replace('-', "")));
    let r = send(
        &emu,
        &tok,
        "PUT",
        &ra_path(&scope, "0e0e0e0e-0000-4000-8000-000000000001"),
        Some(ra_body(OPENAI_USER, &pid, Some("ServicePrincipal"))),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

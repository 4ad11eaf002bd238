//! ARM over HTTPS: authentication, api-versions, RBAC refusals, subscriptions, resource groups.

mod arm_support;
mod common;

use arm_support::*;
use common::*;
use serde_json::json;

#[tokio::test]
async fn authentication_and_api_versions() {
    let emu = start_arm().await;
    let tok = owner(&emu).await;
    let r = get(
        &emu,
        "",
        &format!("{}?api-version=2021-04-01", rg_path("rg-ci")),
    )
    .await;
    assert_eq!((r.status, r.code()), (401, "AuthenticationFailed"));
    let r = get(&emu, &tok, &rg_path("rg-ci")).await;
    assert_eq!((r.status, r.code()), (400, "MissingApiVersionParameter"));
    assert_eq!(
        r.message(),
        "The api-version query parameter (?api-version=) is required for all requests."
    );
    let r = get(
        &emu,
        &tok,
        &format!("{}?api-version=1999-01-01", rg_path("rg-ci")),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "InvalidApiVersionParameter"));
    let r = get(
        &emu,
        &tok,
        &format!(
            "{}?api-version=2099-01-01",
            account_path("rg-conf", "oai-conf")
        ),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "NoRegisteredProviderFound"));
    for v in ["2021-04-01", "2024-11-01"] {
        let r = get(&emu, &tok, &format!("{}?api-version={v}", rg_path("rg-ci"))).await;
        assert_eq!(r.status, 200, "{v}");
    }
}

#[tokio::test]
async fn reader_is_refused_writes_even_on_missing_scopes() {
    let emu = start_arm().await;
    let reader = token_for(&emu, READER_APP, "r", ARM_SCOPE).await;
    let r = get(
        &emu,
        &reader,
        &format!("{}?api-version=2021-04-01", rg_path("rg-ci")),
    )
    .await;
    assert_eq!(r.status, 200);
    for rg in ["rg-ci", "rg-nope"] {
        let path = format!("/subscriptions/{SUB}/resourcegroups/{rg}");
        let r = put_location(&emu, &reader, &format!("{path}?api-version=2021-04-01")).await;
        assert_eq!((r.status, r.code()), (403, "AuthorizationFailed"));
        assert_eq!(
            r.message(),
            format!("The client '{READER_APP}' with object id '{READER_OID}' does not have authorization to perform action 'Microsoft.Resources/subscriptions/resourceGroups/write' over scope '{path}' or the scope is invalid. If access was recently granted, please refresh your credentials.")
        );
    }
}

#[tokio::test]
async fn subscriptions() {
    let emu = start_arm().await;
    let tok = owner(&emu).await;
    let r = get(&emu, &tok, "/subscriptions?api-version=2022-12-01").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["value"][0]["subscriptionId"], SUB);
    assert_eq!(r.body["value"][0]["state"], "Enabled");
    let r = get(
        &emu,
        &tok,
        &format!("/subscriptions/{SUB}?api-version=2022-12-01"),
    )
    .await;
    assert_eq!(
        (r.status, r.body["displayName"].as_str()),
        (200, Some("Dev"))
    );
    let r = get(
        &emu,
        &tok,
        &format!(
            "/subscriptions/{SUB}/providers/Microsoft.CognitiveServices?api-version=2021-04-01"
        ),
    )
    .await;
    assert_eq!(r.body["registrationState"], "Registered");
}

#[tokio::test]
async fn resource_group_lifecycle() {
    let emu = start_arm().await;
    let tok = owner(&emu).await;
    let path = format!("/subscriptions/{SUB}/resourcegroups/rg-new?api-version=2021-04-01");
    let r = send(
        &emu,
        &tok,
        "PUT",
        &path,
        Some(json!({"location": "West Europe", "tags": {"a": "b"}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["id"],
        format!("/subscriptions/{SUB}/resourceGroups/rg-new")
    );
    assert_eq!(r.body["location"], "westeurope");
    assert_eq!(r.body["properties"]["provisioningState"], "Succeeded");
    let r = send(
        &emu,
        &tok,
        "PUT",
        &path,
        Some(json!({"location": "westeurope"})),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = send(
        &emu,
        &tok,
        "PATCH",
        &path,
        Some(json!({"tags": {"x": "y"}})),
    )
    .await;
    assert_eq!(r.body["tags"], json!({"x": "y"}));
    assert_eq!(send(&emu, &tok, "HEAD", &path, None).await.status, 204);
    let r = get(
        &emu,
        &tok,
        &format!("/subscriptions/{SUB}/resourcegroups?api-version=2021-04-01"),
    )
    .await;
    let names: Vec<&str> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(
        names.contains(&"rg-new") && names.contains(&"rg-ci"),
        "{names:?}"
    );
    // an account in it is soft-deleted with the group
    let acct = format!("{}?api-version=2024-10-01", account_path("rg-new", "in-rg"));
    let r = send(&emu, &tok, "PUT", &acct, Some(json!({"location": "westeurope", "kind": "OpenAI", "sku": {"name": "S0"}, "properties": {"customSubDomainName": "kl-in-rg"}}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let r = send(&emu, &tok, "DELETE", &path, None).await;
    assert_eq!(r.status, 202);
    let loc = r.header("location");
    assert!(loc.contains("/operationresults/"), "{loc}");
    let mut last = 0;
    for _ in 0..50 {
        last = get(&emu, &tok, &loc).await.status;
        if last != 202 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(last, 200);
    let r = get(&emu, &tok, &path).await;
    assert_eq!((r.status, r.code()), (404, "ResourceGroupNotFound"));
    assert_eq!(r.message(), "Resource group 'rg-new' could not be found.");
    assert_eq!(send(&emu, &tok, "HEAD", &path, None).await.status, 404);
    let r = get(&emu, &tok, &format!("/subscriptions/{SUB}/providers/Microsoft.CognitiveServices/locations/westeurope/resourceGroups/rg-new/deletedAccounts/in-rg?api-version=2024-10-01")).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn unknown_resource_types() {
    let emu = start_arm().await;
    let tok = owner(&emu).await;
    let r = get(
        &emu,
        &tok,
        &format!(
            "{}/providers/Microsoft.Web/sites/x?api-version=2021-04-01",
            rg_path("rg-ci")
        ),
    )
    .await;
    assert_eq!((r.status, r.code()), (404, "InvalidResourceType"));
}

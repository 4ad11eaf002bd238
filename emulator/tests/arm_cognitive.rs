//! Cognitive Services over HTTPS: account LRO, subdomains, soft delete/restore/purge, keys,
//! deployments and their write serialisation.

mod arm_support;
mod common;

use arm_support::*;
use common::*;
use serde_json::json;

const V: &str = "api-version=2024-10-01";

fn openai(sub: &str) -> serde_json::Value {
    json!({"location": "eastus", "kind": "OpenAI", "sku": {"name": "S0"}, "tags": {"t": "1"},
           "properties": {"customSubDomainName": sub, "disableLocalAuth": true, "publicNetworkAccess": "Enabled"}})
}

#[tokio::test]
async fn account_create_is_long_running_then_soft_delete_restore_purge() {
    let emu = start_arm().await;
    let tok = owner(&emu).await;
    let path = format!("{}?{V}", account_path("rg-conf", "acct1"));
    let r = send(&emu, &tok, "PUT", &path, Some(openai("kl-acct1"))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["properties"]["provisioningState"], "Accepted");
    assert_eq!(
        r.body["properties"]["endpoint"],
        format!("{}/aoai/kl-acct1/", emu.base_url())
    );
    let aso = r.header("azure-asyncoperation");
    assert!(
        aso.contains("/providers/Microsoft.CognitiveServices/locations/eastus/operationStatuses/"),
        "{aso}"
    );
    // writes while provisioning are refused
    let r2 = send(&emu, &tok, "PATCH", &path, Some(json!({"tags": {}}))).await;
    assert_eq!(
        (r2.status, r2.code()),
        (409, "AccountProvisioningStateInvalid")
    );
    let done = wait_async(&emu, &tok, &aso).await;
    assert_eq!(done["status"], "Succeeded");
    let r = get(&emu, &tok, &path).await;
    assert_eq!(r.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(r.body["properties"]["customSubDomainName"], "kl-acct1");
    assert_eq!(r.body["properties"]["disableLocalAuth"], true);
    assert_eq!(r.body["tags"], json!({"t": "1"}));
    // the subdomain is taken now, also by another tenant's name
    for taken in ["kl-acct1", "contoso-prod", "keyless-gone"] {
        let r = send(
            &emu,
            &tok,
            "PUT",
            &format!("{}?{V}", account_path("rg-conf", "other")),
            Some(openai(taken)),
        )
        .await;
        assert_eq!((r.status, r.code()), (409, "CustomDomainInUse"), "{taken}");
        assert!(r
            .message()
            .contains(&format!("The subdomain name '{taken}' is not available")));
    }
    // immutable
    let r = send(
        &emu,
        &tok,
        "PATCH",
        &path,
        Some(json!({"properties": {"customSubDomainName": "kl-changed"}})),
    )
    .await;
    assert_eq!(r.status, 400);
    // delete → soft-deleted
    let r = send(&emu, &tok, "DELETE", &path, None).await;
    assert_eq!(r.status, 202);
    wait_async(&emu, &tok, &r.header("azure-asyncoperation")).await;
    assert_eq!(get(&emu, &tok, &path).await.code(), "ResourceNotFound");
    let deleted = format!("/subscriptions/{SUB}/providers/Microsoft.CognitiveServices/locations/eastus/resourceGroups/rg-conf/deletedAccounts/acct1?{V}");
    let r = get(&emu, &tok, &deleted).await;
    assert_eq!(r.status, 200);
    assert!(r.body["properties"]["deletionDate"].is_string());
    let r = get(
        &emu,
        &tok,
        &format!("/subscriptions/{SUB}/providers/Microsoft.CognitiveServices/deletedAccounts?{V}"),
    )
    .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 2);
    let r = send(&emu, &tok, "PUT", &path, Some(openai("kl-acct1"))).await;
    assert_eq!((r.status, r.code()), (409, "FlagMustBeSetForRestore"));
    assert_eq!(r.message(), format!("An existing resource with ID '{}' has been soft-deleted. To restore the resource, you must specify 'restore' to be 'true' in the property. If you don't want to restore existing resource, please purge it first.", account_path("rg-conf", "acct1")));
    // restore
    let r = send(
        &emu,
        &tok,
        "PUT",
        &path,
        Some(json!({"location": "eastus", "properties": {"restore": true}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    wait_async(&emu, &tok, &r.header("azure-asyncoperation")).await;
    assert_eq!(get(&emu, &tok, &deleted).await.status, 404);
    assert_eq!(
        get(&emu, &tok, &path).await.body["properties"]["customSubDomainName"],
        "kl-acct1"
    );
    // delete + purge frees the subdomain
    send(&emu, &tok, "DELETE", &path, None).await;
    let r = send(&emu, &tok, "DELETE", &deleted, None).await;
    assert_eq!(r.status, 202);
    wait_async(&emu, &tok, &r.header("azure-asyncoperation")).await;
    assert_eq!(send(&emu, &tok, "DELETE", &deleted, None).await.status, 204);
    let check = format!(
        "/subscriptions/{SUB}/providers/Microsoft.CognitiveServices/checkDomainAvailability?{V}"
    );
    let r = send(&emu, &tok, "POST", &check, Some(json!({"subdomainName": "kl-acct1", "type": "Microsoft.CognitiveServices/accounts", "kind": "OpenAI"}))).await;
    assert_eq!(
        r.body,
        json!({"isSubdomainAvailable": true, "reason": null, "subdomainName": "kl-acct1", "type": "Microsoft.CognitiveServices/accounts", "kind": "OpenAI"})
    );
    let r = send(&emu, &tok, "POST", &check, Some(json!({"subdomainName": "contoso-prod", "type": "Microsoft.CognitiveServices/accounts"}))).await;
    assert_eq!(r.body["isSubdomainAvailable"], false);
    let r = send(
        &emu,
        &tok,
        "POST",
        &check,
        Some(json!({"subdomainName": "-bad", "type": "Microsoft.CognitiveServices/accounts"})),
    )
    .await;
    assert_eq!(r.body["reason"], "Sub domain name '-bad' is not valid");
    // a missing account deletes as 204
    assert_eq!(send(&emu, &tok, "DELETE", &path, None).await.status, 204);
}

#[tokio::test]
async fn keys_and_lists() {
    let emu = start_arm().await;
    let tok = owner(&emu).await;
    let r = send(
        &emu,
        &tok,
        "POST",
        &format!("{}/listKeys?{V}", account_path("rg-conf", "oai-conf")),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.body["key1"].is_string() && r.body["key1"] != r.body["key2"]);
    let r = get(
        &emu,
        &tok,
        &format!(
            "{}/providers/Microsoft.CognitiveServices/accounts?{V}",
            rg_path("rg-conf")
        ),
    )
    .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 2);
    let r = get(
        &emu,
        &tok,
        &format!("/subscriptions/{SUB}/providers/Microsoft.CognitiveServices/accounts?{V}"),
    )
    .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 2);
    // a reader may not list keys
    let reader = token_for(&emu, READER_APP, "r", ARM_SCOPE).await;
    let r = send(
        &emu,
        &reader,
        "POST",
        &format!("{}/listKeys?{V}", account_path("rg-conf", "oai-conf")),
        None,
    )
    .await;
    assert_eq!((r.status, r.code()), (403, "AuthorizationFailed"));
    assert!(r
        .message()
        .contains("'Microsoft.CognitiveServices/accounts/listKeys/action'"));
    // a reader may not purge
    let purge = format!("/subscriptions/{SUB}/providers/Microsoft.CognitiveServices/locations/eastus/resourceGroups/rg-conf/deletedAccounts/oai-gone?{V}");
    assert_eq!(
        send(&emu, &reader, "DELETE", &purge, None).await.status,
        403
    );
}

#[tokio::test]
async fn deployments_are_written_one_at_a_time() {
    let emu = start_arm().await;
    let tok = owner(&emu).await;
    let base = format!("{}/deployments", account_path("rg-conf", "oai-conf"));
    let body = |name: &str, version: &str| json!({"sku": {"name": "Standard", "capacity": 5}, "properties": {"model": {"format": "OpenAI", "name": name, "version": version}}});
    let r = send(
        &emu,
        &tok,
        "PUT",
        &format!("{base}/d1?{V}"),
        Some(body("gpt-4o", "2024-08-06")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["properties"]["provisioningState"], "Creating");
    let aso = r.header("azure-asyncoperation");
    let r = send(
        &emu,
        &tok,
        "PUT",
        &format!("{base}/d2?{V}"),
        Some(body("gpt-4o", "2024-11-20")),
    )
    .await;
    assert_eq!((r.status, r.code()), (409, "RequestConflict"));
    assert_eq!(r.message(), format!("Another operation is being performed on the parent resource '{}'. Please try again later.", account_path("rg-conf", "oai-conf")));
    wait_async(&emu, &tok, &aso).await;
    let r = get(&emu, &tok, &format!("{base}/d1?{V}")).await;
    assert_eq!(r.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(r.body["sku"]["capacity"], 5);
    let r = send(
        &emu,
        &tok,
        "PUT",
        &format!("{base}/d2?{V}"),
        Some(body("ada", "1")),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "DeploymentModelNotSupported"));
    let r = get(&emu, &tok, &format!("{base}?{V}")).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 3);
    let r = get(&emu, &tok, &format!("{base}/nope?{V}")).await;
    assert_eq!((r.status, r.code()), (404, "ResourceNotFound"));
    let r = send(&emu, &tok, "DELETE", &format!("{base}/d1?{V}"), None).await;
    assert_eq!(r.status, 202);
    wait_async(&emu, &tok, &r.header("azure-asyncoperation")).await;
    assert_eq!(get(&emu, &tok, &format!("{base}/d1?{V}")).await.status, 404);
    assert_eq!(
        send(&emu, &tok, "DELETE", &format!("{base}/d1?{V}"), None)
            .await
            .status,
        204
    );
}

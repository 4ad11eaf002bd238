//! Azure OpenAI data plane over HTTPS: Entra and key authentication rules, data actions,
//! deployments, max_tokens, rate budget, headers.

mod arm_support;
mod common;

use arm_support::*;
use common::*;
use keyless_emulator::world::Span;
use serde_json::json;

#[tokio::test]
async fn chat_and_completions_with_entra_token() {
    let emu = start_arm().await;
    let tok = token(&emu, OAI_SCOPE).await;
    let bearer = format!("Bearer {tok}");
    let r = chat(&emu, "keyless-conf", "chat", ("authorization", &bearer)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["object"], "chat.completion");
    assert_eq!(r.body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        r.body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count(),
        1
    );
    assert_eq!(r.body["choices"][0]["finish_reason"], "length");
    let u = &r.body["usage"];
    assert_eq!(
        u["total_tokens"].as_u64(),
        Some(u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap())
    );
    for h in [
        "apim-request-id",
        "x-request-id",
        "x-ms-region",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-remaining-tokens",
    ] {
        assert!(!r.header(h).is_empty(), "{h}");
    }
    let url = format!(
        "{}/aoai/keyless-conf/openai/deployments/instruct/completions?{DATA_API}",
        emu.base_url()
    );
    let r = post(
        &emu,
        &url,
        ("authorization", &bearer),
        json!({"prompt": "tell me a joke", "max_tokens": 5}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["object"], "text_completion");
    assert!(r.body["choices"][0]["text"].is_string());
    // the host-name route works too
    let r = client(&emu)
        .post(format!(
            "{}/openai/deployments/chat/chat/completions?{DATA_API}",
            emu.base_url()
        ))
        .header("host", "keyless-conf.openai.azure.com")
        .header("authorization", &bearer)
        .json(&ping(2))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn authentication_failures() {
    let emu = start_arm().await;
    let tok = token(&emu, OAI_SCOPE).await;
    let bearer = format!("Bearer {tok}");
    let (key, _) = list_keys(&emu, "oai-conf").await;
    let r = chat(&emu, "keyless-conf", "chat", ("api-key", &key)).await;
    assert_eq!(
        (r.status, r.code(), r.message()),
        (
            403,
            "AuthenticationTypeDisabled",
            "Key based authentication is disabled for this resource."
        )
    );
    let arm = format!("Bearer {}", owner(&emu).await);
    let r = chat(&emu, "keyless-conf", "chat", ("authorization", &arm)).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["statusCode"], 401);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("audience is incorrect"));
    // Owner has no data actions: the keys account has no OpenAI role for the caller
    let r = chat(&emu, "keyless-keys", "small", ("authorization", &bearer)).await;
    assert_eq!((r.status, r.code()), (401, "PermissionDenied"));
    assert_eq!(r.message(), format!("The principal `{APP_OID}` lacks the required data action `Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action` to perform `POST /openai/deployments/{{deployment-id}}/chat/completions` operation."));
    // keys work where local auth is enabled; a wrong key does not
    let (_, key2) = list_keys(&emu, "oai-keys").await;
    assert_eq!(
        chat(&emu, "keyless-keys", "small", ("api-key", &key2))
            .await
            .status,
        200
    );
    let r = chat(&emu, "keyless-keys", "small", ("api-key", "wrong")).await;
    assert_eq!((r.status, r.code()), (401, "401"));
    // missing api-version, unknown deployment, wrong model API
    let no_version = format!(
        "{}/aoai/keyless-conf/openai/deployments/chat/chat/completions",
        emu.base_url()
    );
    let r = post(&emu, &no_version, ("authorization", &bearer), ping(1)).await;
    assert_eq!((r.status, r.code()), (404, "404"));
    let r = chat(&emu, "keyless-conf", "nope", ("authorization", &bearer)).await;
    assert_eq!((r.status, r.code()), (404, "DeploymentNotFound"));
    let r = chat(&emu, "keyless-conf", "instruct", ("authorization", &bearer)).await;
    assert_eq!((r.status, r.code()), (400, "OperationNotSupported"));
}

#[tokio::test]
async fn data_role_propagates_then_works() {
    let emu = start_arm().await;
    emu.ctx().timing.write().propagation_delay = Span::fixed(300.0);
    let bearer = format!("Bearer {}", token(&emu, OAI_SCOPE).await);
    let scope = account_path("rg-conf", "oai-keys");
    let r = send(&emu, &owner(&emu).await, "PUT", &format!("{scope}/providers/Microsoft.Authorization/roleAssignments/0f0f0f0f-0000-4000-8000-000000000001?api-version=2022-04-01"),
        Some(json!({"properties": {"roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{OPENAI_USER}"), "principalId": APP_OID, "principalType": "ServicePrincipal"}}))).await;
    assert_eq!(r.status, 201);
    assert_eq!(
        chat(&emu, "keyless-keys", "small", ("authorization", &bearer))
            .await
            .code(),
        "PermissionDenied"
    );
    emu.ctx().advance_clock(301.0);
    let bearer = format!("Bearer {}", token(&emu, OAI_SCOPE).await);
    assert_eq!(
        chat(&emu, "keyless-keys", "small", ("authorization", &bearer))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn capacity_budget_gives_429_with_retry_after() {
    let emu = start_arm().await;
    let (key, _) = list_keys(&emu, "oai-keys").await;
    // capacity 1 → 6 requests per minute
    for i in 0..6 {
        let r = chat(&emu, "keyless-keys", "small", ("api-key", &key)).await;
        assert_eq!(r.status, 200, "request {i}: {}", r.body);
    }
    let r = chat(&emu, "keyless-keys", "small", ("api-key", &key)).await;
    assert_eq!((r.status, r.code()), (429, "429"));
    let retry: u64 = r.header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry));
}

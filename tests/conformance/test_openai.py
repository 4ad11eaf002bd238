"""The openai package's AzureOpenAI client against the emulator's data plane."""
from __future__ import annotations

import time
import uuid

import httpx2
import openai
import pytest
from azure.identity import get_bearer_token_provider
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters
from azure.mgmt.cognitiveservices.models import (
    Account,
    AccountProperties,
    Deployment,
    DeploymentModel,
    DeploymentProperties,
    Sku,
)

from conftest import (
    API,
    ARM_SCOPE,
    COG_SCOPE,
    ROLE,
    account_id,
    authorization_client,
    cognitive_client,
    fast_polling,
    role_definition_id,
    secret_credential,
    unique,
)

CHAT_ACTION = "Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action"


def aoai(emu, endpoint: str, *, scope: str = COG_SCOPE, api_key: str | None = None, max_retries: int = 0):
    http_client = httpx2.Client(verify=emu.ca)
    if api_key is not None:
        return openai.AzureOpenAI(azure_endpoint=endpoint, api_key=api_key, api_version=API["openai"],
                                  http_client=http_client, max_retries=max_retries)
    provider = get_bearer_token_provider(secret_credential(emu), scope)
    return openai.AzureOpenAI(azure_endpoint=endpoint, azure_ad_token_provider=provider,
                              api_version=API["openai"], http_client=http_client, max_retries=max_retries)


def endpoint_of(emu, rg: str, name: str) -> str:
    ep = cognitive_client(emu).accounts.get(rg, name).properties.endpoint
    assert ep == f"{emu.base}/aoai/{cognitive_client(emu).accounts.get(rg, name).properties.custom_sub_domain_name}/"
    return ep


def test_chat_and_completions_with_entra_token(emu):
    client = aoai(emu, endpoint_of(emu, "rg-conf", "oai-conf"))
    chat = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "ping"}],
                                          max_tokens=5)
    assert chat.object == "chat.completion"
    assert chat.choices and chat.choices[0].message.role == "assistant"
    assert isinstance(chat.choices[0].message.content, str) and chat.choices[0].message.content
    assert chat.choices[0].finish_reason in ("stop", "length")
    assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens

    comp = client.completions.create(model="instruct", prompt="tell me a joke", max_tokens=5)
    assert comp.choices and isinstance(comp.choices[0].text, str)
    assert comp.usage.total_tokens >= 1


def test_api_key_on_disable_local_auth_account(emu):
    key = cognitive_client(emu).accounts.list_keys("rg-conf", "oai-conf").key1
    client = aoai(emu, endpoint_of(emu, "rg-conf", "oai-conf"), api_key=key)
    with pytest.raises(openai.PermissionDeniedError) as ei:
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "ping"}], max_tokens=1)
    assert ei.value.status_code == 403
    assert ei.value.code == "AuthenticationTypeDisabled"
    assert "Key based authentication is disabled for this resource." in str(ei.value)


def test_unknown_deployment(emu):
    client = aoai(emu, endpoint_of(emu, "rg-conf", "oai-conf"))
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(model="no-such-deployment",
                                       messages=[{"role": "user", "content": "ping"}], max_tokens=1)
    assert ei.value.status_code == 404
    assert ei.value.code == "DeploymentNotFound"


def test_wrong_audience_token(emu):
    """An ARM token on the data plane: 401 with the {"statusCode":401,...} shape."""
    client = aoai(emu, endpoint_of(emu, "rg-conf", "oai-conf"), scope=ARM_SCOPE)
    with pytest.raises(openai.AuthenticationError) as ei:
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "ping"}], max_tokens=1)
    assert ei.value.status_code == 401
    assert "audience is incorrect" in str(ei.value)


def test_role_propagation_then_success(delayed_emu):
    """propagationDelay 4 s: right after the assignment the call is 401 PermissionDenied, then it works."""
    emu = delayed_emu
    cog = cognitive_client(emu)
    rg, name, subdomain = "rg-conf", unique("oai-prop"), unique("kl-prop")
    acct = cog.accounts.begin_create(rg, name, Account(
        location="eastus", kind="OpenAI", sku=Sku(name="S0"),
        properties=AccountProperties(custom_sub_domain_name=subdomain, disable_local_auth=True)),
        **fast_polling()).result()
    cog.deployments.begin_create_or_update(rg, name, "chat", Deployment(
        sku=Sku(name="GlobalStandard", capacity=10),
        properties=DeploymentProperties(model=DeploymentModel(format="OpenAI", name="gpt-4o-mini",
                                                              version="2024-07-18"))),
        **fast_polling()).result()
    client = aoai(emu, acct.properties.endpoint)
    caller_oid = emu.app("keyless-pipeline")["objectId"]

    def chat():
        return client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "ping"}],
                                              max_tokens=1)

    # Owner at subscription scope has no dataActions: denied before any assignment
    with pytest.raises(openai.AuthenticationError) as ei:
        chat()
    assert ei.value.status_code == 401 and ei.value.code == "PermissionDenied"
    assert f"The principal `{caller_oid}` lacks the required data action `{CHAT_ACTION}`" in str(ei.value)

    authorization_client(emu).role_assignments.create(
        account_id(emu, rg, name), str(uuid.uuid4()),
        RoleAssignmentCreateParameters(role_definition_id=role_definition_id(emu, ROLE["Cognitive Services OpenAI User"]),
                                       principal_id=caller_oid, principal_type="ServicePrincipal"))
    assigned_at = time.monotonic()
    with pytest.raises(openai.AuthenticationError) as ei:
        chat()
    assert ei.value.status_code == 401 and ei.value.code == "PermissionDenied"

    deadline = assigned_at + 30
    while True:
        try:
            resp = chat()
            break
        except openai.AuthenticationError as e:
            assert e.code == "PermissionDenied"
            assert time.monotonic() < deadline, "role never became effective"
            time.sleep(0.5)
    waited = time.monotonic() - assigned_at
    assert resp.choices
    assert 2.5 <= waited <= 30, waited

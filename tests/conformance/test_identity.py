"""azure-identity (and MSAL) against the emulator's Entra ID endpoints."""
from __future__ import annotations

import time
import uuid

import jwt
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientAssertionCredential, WorkloadIdentityCredential
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import ARM_SCOPE, CALLER, COG_SCOPE, GRAPH_SCOPE, resource_client, secret_credential
from emulator import log_entry_fields

FED_ISSUER = "https://token.actions.githubusercontent.com"
FED_SUBJECT = "repo:contoso/keyless:ref:refs/heads/main"
FED_AUDIENCE = "api://AzureADTokenExchange"

AUDIENCES = {
    # v1 tokens carry the resource as requested: ".../.default" of https://management.azure.com
    # gives "https://management.azure.com"; ARM accepts both spellings (and core.windows.net).
    ARM_SCOPE: {"https://management.azure.com/", "https://management.azure.com",
                "https://management.core.windows.net/"},
    COG_SCOPE: {"https://cognitiveservices.azure.com"},
    GRAPH_SCOPE: {"https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"},
}


def jwks_keys(emu) -> dict:
    """kid -> PyJWK from the tenant's OIDC discovery document."""
    cfg = requests.get(f"{emu.base}/{emu.tenant}/v2.0/.well-known/openid-configuration",
                       verify=emu.ca, timeout=10)
    assert cfg.status_code == 200, cfg.text
    doc = cfg.json()
    assert doc["token_endpoint"].startswith(emu.base), doc["token_endpoint"]
    keys = requests.get(doc["jwks_uri"], verify=emu.ca, timeout=10)
    assert keys.status_code == 200, keys.text
    return {k["kid"]: jwt.PyJWK(k) for k in keys.json()["keys"]}


def verify_token(emu, token: str, scope: str) -> dict:
    header = jwt.get_unverified_header(token)
    keys = jwks_keys(emu)
    assert header.get("kid") in keys, f"token kid {header.get('kid')} not in JWKS {list(keys)}"
    claims = jwt.decode(token, keys[header["kid"]].key, algorithms=["RS256"],
                        options={"verify_aud": False})
    assert claims["aud"] in AUDIENCES[scope], claims["aud"]
    return claims


@pytest.mark.parametrize("scope", [ARM_SCOPE, COG_SCOPE, GRAPH_SCOPE])
def test_client_secret_credential_gets_tokens(emu, scope):
    cred = secret_credential(emu)
    before = time.time()
    tok = cred.get_token(scope)
    claims = verify_token(emu, tok.token, scope)
    app = emu.app(CALLER)
    assert claims["tid"] == emu.tenant
    assert claims["oid"] == app["objectId"]
    assert claims["appid"] == app["appId"]
    assert claims["ver"] == "1.0"
    assert claims["iss"] == f"https://sts.windows.net/{emu.tenant}/"
    assert claims.get("idtyp") == "app"
    # tokenLifetime: 3600s in the world file
    assert before + 3000 < tok.expires_on <= time.time() + 3700


def test_client_secret_token_works_on_arm(emu):
    rgs = {rg.name for rg in resource_client(emu).resource_groups.list()}
    assert {"rg-ci", "rg-conf", "rg-replay"} <= rgs


def test_wrong_secret_raises_aadsts7000215(emu):
    cred = secret_credential(emu, secret="not-the-secret")
    with pytest.raises(ClientAuthenticationError) as ei:
        cred.get_token(ARM_SCOPE)
    assert "AADSTS7000215" in str(ei.value)


def test_wrong_secret_wire_shape(emu):
    """The raw token endpoint: 401 invalid_client with error_codes, trace and correlation ids."""
    app = emu.app(CALLER)
    r = requests.post(
        f"{emu.base}/{emu.tenant}/oauth2/v2.0/token",
        data={"client_id": app["appId"], "client_secret": "nope", "grant_type": "client_credentials",
              "scope": ARM_SCOPE},
        verify=emu.ca, timeout=10,
    )
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["error"] == "invalid_client"
    assert body["error_description"].startswith("AADSTS7000215: ")
    assert body["error_codes"] == [7000215]
    for k in ("trace_id", "correlation_id", "timestamp"):
        assert k in body, k


def test_transient_entra_503_is_retried_by_azure_identity(emu):
    """Entra ID answers one token request 503 `temporarily_unavailable` (AADSTS90033), as it does
    in an outage (Azure/azure-sdk-for-python#14241): azure-identity's retry policy retries it and
    gets a token, unmodified. The emulator faults Entra only with `faults.entra: true`."""
    try:
        r = emu.admin("PUT", "faults", json={"entra": True, "rules": [
            {"path": "oauth2/v2.0/token$", "method": "POST", "status": 503, "count": 1,
             "retryAfter": 1}]})
        assert r.status_code == 200, r.text
        tok = secret_credential(emu).get_token(ARM_SCOPE)
        assert tok.token
        answered = [log_entry_fields(e)[2] for e in emu.request_log()
                    if log_entry_fields(e)[1].split("?")[0].endswith("/oauth2/v2.0/token")]
        assert 503 in answered, f"the fault must have reached azure-identity: {answered}"
    finally:
        emu.admin("PUT", "faults", json={})


def test_msal_instance_discovery_against_emulator(emu):
    """MSAL without instance discovery disabled: discovery answered by the emulator.

    azure-identity can only disable discovery or send it to login.microsoftonline.com (not
    reachable here), so this uses MSAL itself, pointing its instance_discovery at the emulator."""
    import msal

    r = requests.get(
        f"{emu.base}/common/discovery/instance",
        params={"api-version": "1.1",
                "authorization_endpoint": f"{emu.base}/{emu.tenant}/oauth2/v2.0/authorize"},
        verify=emu.ca, timeout=10,
    )
    assert r.status_code == 200, r.text
    assert "tenant_discovery_endpoint" in r.json()

    app = emu.app(CALLER)
    client = msal.ConfidentialClientApplication(
        app["appId"], client_credential=app["secrets"][0],
        authority=f"{emu.base}/{emu.tenant}", http_client=emu.session(),
        instance_discovery=f"{emu.base}/common/discovery/instance",
    )
    result = client.acquire_token_for_client(scopes=[ARM_SCOPE])
    assert "access_token" in result, result
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["oid"] == app["objectId"]


def mint_assertion(subject: str = FED_SUBJECT, issuer: str = FED_ISSUER, audience: str = FED_AUDIENCE) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    return jwt.encode(
        {"iss": issuer, "sub": subject, "aud": audience, "iat": now, "nbf": now - 5,
         "exp": now + 600, "jti": str(uuid.uuid4())},
        key, algorithm="RS256", headers={"kid": "conformance-test-key"},
    )


def test_client_assertion_credential_federated(emu):
    app = emu.app(CALLER)
    cred = ClientAssertionCredential(
        emu.tenant, app["appId"], lambda: mint_assertion(),
        authority=emu.base, disable_instance_discovery=True, connection_verify=emu.ca,
    )
    tok = cred.get_token(ARM_SCOPE)
    claims = verify_token(emu, tok.token, ARM_SCOPE)
    assert claims["oid"] == app["objectId"]
    # and the token is accepted by ARM
    assert any(rg.name == "rg-ci" for rg in resource_client(emu, cred).resource_groups.list())


def test_workload_identity_credential(emu, tmp_path):
    app = emu.app(CALLER)
    token_file = tmp_path / "federated-token"
    token_file.write_text(mint_assertion())
    cred = WorkloadIdentityCredential(
        tenant_id=emu.tenant, client_id=app["appId"], token_file_path=str(token_file),
        authority=emu.base, disable_instance_discovery=True, connection_verify=emu.ca,
    )
    tok = cred.get_token(COG_SCOPE)
    claims = verify_token(emu, tok.token, COG_SCOPE)
    assert claims["oid"] == app["objectId"]


def test_federated_subject_mismatch_aadsts70021(emu):
    app = emu.app(CALLER)
    cred = ClientAssertionCredential(
        emu.tenant, app["appId"], lambda: mint_assertion(subject="repo:contoso/keyless:ref:refs/heads/evil"),
        authority=emu.base, disable_instance_discovery=True, connection_verify=emu.ca,
    )
    with pytest.raises(ClientAuthenticationError) as ei:
        cred.get_token(ARM_SCOPE)
    assert "AADSTS70021" in str(ei.value)
    assert "refs/heads/evil" in str(ei.value)

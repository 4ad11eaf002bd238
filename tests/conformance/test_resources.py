"""azure-mgmt-resource: resource groups, and the SDK's retry of an injected 429."""
from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from conftest import error_code, resource_client, unique
from emulator import log_entry_fields


def test_resource_group_create_get_list(emu):
    client = resource_client(emu)
    name = unique("rg-conf-new")
    created = client.resource_groups.create_or_update(
        name, {"location": "westeurope", "tags": {"owner": "conformance"}})
    assert created.name == name
    assert created.location == "westeurope"
    assert created.tags == {"owner": "conformance"}
    assert created.id == f"/subscriptions/{emu.subscription}/resourceGroups/{name}"
    assert created.type == "Microsoft.Resources/resourceGroups"
    assert created.properties.provisioning_state == "Succeeded"

    got = client.resource_groups.get(name)
    assert got.id == created.id and got.location == "westeurope"
    assert got.tags == {"owner": "conformance"}

    names = [rg.name for rg in client.resource_groups.list()]
    assert name in names and "rg-ci" in names

    # update (idempotent PUT) keeps the name and replaces the tags
    again = client.resource_groups.create_or_update(name, {"location": "westeurope", "tags": {"x": "y"}})
    assert again.tags == {"x": "y"}
    assert client.resource_groups.check_existence(name) is True


def test_resource_group_not_found(emu):
    client = resource_client(emu)
    with pytest.raises(ResourceNotFoundError) as ei:
        client.resource_groups.get("rg-does-not-exist")
    assert ei.value.status_code == 404
    assert error_code(ei.value) == "ResourceGroupNotFound"
    assert "Resource group 'rg-does-not-exist' could not be found." in str(ei.value)
    assert client.resource_groups.check_existence("rg-does-not-exist") is False


def test_resource_group_delete_lro(emu):
    client = resource_client(emu)
    name = unique("rg-del")
    client.resource_groups.create_or_update(name, {"location": "eastus"})
    client.resource_groups.begin_delete(name, polling_interval=1).result()
    with pytest.raises(ResourceNotFoundError):
        client.resource_groups.get(name)


def test_sdk_retries_injected_429(faulty_emu):
    """The world injects "fail the next 1 GET of rg-ci with 429 + Retry-After: 1"; azure-mgmt's
    retry policy waits and retries, and the request log shows both attempts."""
    emu = faulty_emu
    client = resource_client(emu)
    rg = client.resource_groups.get("rg-ci")
    assert rg.name == "rg-ci"
    hits = []
    for entry in emu.request_log():
        method, path, status = log_entry_fields(entry)
        if method == "GET" and path.split("?")[0].lower().endswith("/resourcegroups/rg-ci"):
            hits.append((status, entry))
    statuses = [s for s, _ in hits]
    assert statuses[:2] == [429, 200], hits


def test_sdk_retries_admin_injected_429(emu):
    """Same, with the fault injected at run time through the admin API."""
    r = emu.add_fault("(?i)/subscriptions/[^/]+/resourcegroups/rg-conf$", "GET", 429, count=1, retry_after=1)
    assert r.status_code in (200, 201, 204), f"admin fault injection failed: {r.status_code} {r.text}"
    before = len(emu.request_log())
    client = resource_client(emu)
    assert client.resource_groups.get("rg-conf").name == "rg-conf"
    statuses = []
    for entry in emu.request_log()[before:]:
        method, path, status = log_entry_fields(entry)
        if method == "GET" and path.split("?")[0].lower().endswith("/resourcegroups/rg-conf"):
            statuses.append(status)
    assert statuses[:2] == [429, 200], statuses


def test_sdk_default_api_versions(emu):
    """The SDK releases pinned here default to api-versions newer than ../shared/azure-specs
    (resources 2025-04-01, cognitiveservices 2025-09-01, compute 2026-04-01). Azure serves every
    published version, so an unconfigured client must work too."""
    from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient

    from conftest import arm_kwargs, secret_credential

    cred = secret_credential(emu)
    failures = []
    calls = [
        ("resources", lambda: ResourceManagementClient(cred, emu.subscription, **arm_kwargs(emu))
         .resource_groups.get("rg-ci")),
        ("cognitiveservices", lambda: CognitiveServicesManagementClient(cred, emu.subscription, **arm_kwargs(emu))
         .accounts.get("rg-conf", "oai-conf")),
        ("compute", lambda: ComputeManagementClient(cred, emu.subscription, **arm_kwargs(emu))
         .virtual_machines.get("rg-ci", "build-agent-01")),
    ]
    for name, call in calls:
        try:
            call()
        except HttpResponseError as e:
            failures.append(f"{name}: {e.status_code} {error_code(e)}: {str(e.message)[:200]}")
    assert not failures, failures


def test_arm_rejects_wrong_audience(emu):
    """A Cognitive Services token on ARM: 401 InvalidAuthenticationTokenAudience + WWW-Authenticate."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.mgmt.resource.resources import ResourceManagementClient

    from conftest import API, COG_SCOPE, secret_credential

    client = ResourceManagementClient(secret_credential(emu), emu.subscription, api_version=API["resources"],
                                      base_url=emu.base, credential_scopes=[COG_SCOPE], connection_verify=emu.ca)
    with pytest.raises(ClientAuthenticationError) as ei:
        client.resource_groups.get("rg-ci")
    assert ei.value.status_code == 401
    assert error_code(ei.value) == "InvalidAuthenticationTokenAudience"
    assert "https://cognitiveservices.azure.com" in str(ei.value)
    assert ei.value.response.headers.get("WWW-Authenticate", "").startswith("Bearer")

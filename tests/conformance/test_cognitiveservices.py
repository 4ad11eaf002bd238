"""azure-mgmt-cognitiveservices: subdomains, account LRO, deployments, soft delete/restore/purge."""
from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.cognitiveservices.models import (
    Account,
    AccountProperties,
    Deployment,
    DeploymentModel,
    DeploymentProperties,
    Sku,
)

from conftest import account_id, cognitive_client, error_code, fast_polling, unique

RG = "rg-conf"
LOCATION = "eastus"


def openai_account(subdomain: str, restore: bool | None = None) -> Account:
    return Account(
        location=LOCATION,
        kind="OpenAI",
        sku=Sku(name="S0"),
        tags={"managed-by": "conformance"},
        properties=AccountProperties(
            custom_sub_domain_name=subdomain,
            disable_local_auth=True,
            public_network_access="Enabled",
            restore=restore,
        ),
    )


def test_check_domain_availability(emu):
    client = cognitive_client(emu)
    taken = client.check_domain_availability(subdomain_name="contoso-prod",
                                             type="Microsoft.CognitiveServices/accounts", kind="OpenAI")
    assert taken.is_subdomain_available is False
    assert taken.subdomain_name == "contoso-prod"
    assert taken.reason
    # the seeded account's subdomain is taken too
    seeded = client.check_domain_availability(subdomain_name="keyless-conf",
                                              type="Microsoft.CognitiveServices/accounts", kind="OpenAI")
    assert seeded.is_subdomain_available is False
    free_name = unique("kl-free")
    free = client.check_domain_availability(subdomain_name=free_name,
                                            type="Microsoft.CognitiveServices/accounts", kind="OpenAI")
    assert free.is_subdomain_available is True
    assert free.subdomain_name == free_name
    assert free.type == "Microsoft.CognitiveServices/accounts"


def test_taken_subdomain_conflicts(emu):
    client = cognitive_client(emu)
    for subdomain in ("contoso-prod", "keyless-conf"):
        with pytest.raises(HttpResponseError) as ei:
            client.accounts.begin_create(RG, unique("oai-clash"), openai_account(subdomain),
                                         **fast_polling()).result()
        assert ei.value.status_code == 409, str(ei.value)
        assert error_code(ei.value) == "CustomDomainInUse"
        assert f"The subdomain name '{subdomain}' is not available" in str(ei.value)


def test_account_lifecycle(emu):
    client = cognitive_client(emu)
    name = unique("oai")
    subdomain = unique("kl-conf")
    ident = account_id(emu, RG, name)

    # create: an LRO polled to Succeeded
    poller = client.accounts.begin_create(RG, name, openai_account(subdomain), **fast_polling())
    created = poller.result()
    assert poller.status().lower() == "succeeded"
    assert created.id == ident
    assert created.name == name
    assert created.kind == "OpenAI"
    assert created.properties.provisioning_state == "Succeeded"
    assert created.properties.custom_sub_domain_name == subdomain
    assert created.properties.disable_local_auth is True
    endpoint = f"{emu.base}/aoai/{subdomain}/"
    assert created.properties.endpoint == endpoint

    got = client.accounts.get(RG, name)
    assert got.properties.endpoint == endpoint
    assert got.properties.provisioning_state == "Succeeded"
    assert got.tags == {"managed-by": "conformance"}
    assert name in [a.name for a in client.accounts.list_by_resource_group(RG)]

    # the subdomain is now held
    avail = client.check_domain_availability(subdomain_name=subdomain,
                                             type="Microsoft.CognitiveServices/accounts", kind="OpenAI")
    assert avail.is_subdomain_available is False
    with pytest.raises(HttpResponseError) as ei:
        client.accounts.begin_create(RG, unique("oai-dup"), openai_account(subdomain), **fast_polling()).result()
    assert ei.value.status_code == 409 and error_code(ei.value) == "CustomDomainInUse"

    # a model deployment (LRO)
    dep = client.deployments.begin_create_or_update(
        RG, name, "chat",
        Deployment(sku=Sku(name="GlobalStandard", capacity=10),
                   properties=DeploymentProperties(
                       model=DeploymentModel(format="OpenAI", name="gpt-4o-mini", version="2024-07-18"))),
        **fast_polling(),
    ).result()
    assert dep.name == "chat"
    assert dep.properties.provisioning_state == "Succeeded"
    assert dep.properties.model.name == "gpt-4o-mini"
    assert dep.sku.capacity == 10
    assert client.deployments.get(RG, name, "chat").properties.model.version == "2024-07-18"

    # delete -> soft-deleted
    client.accounts.begin_delete(RG, name, **fast_polling()).result()
    with pytest.raises(ResourceNotFoundError):
        client.accounts.get(RG, name)
    deleted = client.deleted_accounts.get(LOCATION, RG, name)
    assert deleted.name == name
    assert deleted.properties.custom_sub_domain_name == subdomain
    assert name in [a.name for a in client.deleted_accounts.list()]

    # re-create without restore -> FlagMustBeSetForRestore
    with pytest.raises(HttpResponseError) as ei:
        client.accounts.begin_create(RG, name, openai_account(subdomain), **fast_polling()).result()
    assert ei.value.status_code == 409, str(ei.value)
    assert error_code(ei.value) == "FlagMustBeSetForRestore"
    assert "has been soft-deleted" in str(ei.value)

    # restore
    restored = client.accounts.begin_create(RG, name, openai_account(subdomain, restore=True),
                                            **fast_polling()).result()
    assert restored.properties.provisioning_state == "Succeeded"
    assert restored.properties.endpoint == endpoint
    with pytest.raises(ResourceNotFoundError):
        client.deleted_accounts.get(LOCATION, RG, name)

    # delete again and purge: the name and the subdomain are free again
    client.accounts.begin_delete(RG, name, **fast_polling()).result()
    client.deleted_accounts.begin_purge(LOCATION, RG, name, **fast_polling()).result()
    with pytest.raises(ResourceNotFoundError):
        client.deleted_accounts.get(LOCATION, RG, name)
    avail = client.check_domain_availability(subdomain_name=subdomain,
                                             type="Microsoft.CognitiveServices/accounts", kind="OpenAI")
    assert avail.is_subdomain_available is True
    fresh = client.accounts.begin_create(RG, name, openai_account(subdomain), **fast_polling()).result()
    assert fresh.properties.provisioning_state == "Succeeded"
    client.accounts.begin_delete(RG, name, **fast_polling()).result()
    client.deleted_accounts.begin_purge(LOCATION, RG, name, **fast_polling()).result()


def test_list_keys_under_disable_local_auth(emu):
    keys = cognitive_client(emu).accounts.list_keys(RG, "oai-conf")
    assert keys.key1 and keys.key2 and keys.key1 != keys.key2

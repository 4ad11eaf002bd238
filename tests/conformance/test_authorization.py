"""azure-mgmt-authorization (2022-04-01): role definitions and role assignments."""
from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters

from conftest import (
    COMPUTE,
    READER,
    ROLE,
    authorization_client,
    compute_client,
    error_code,
    fast_polling,
    rg_scope,
    role_definition_id,
    secret_credential,
    sub_scope,
)

OPENAI_USER = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"
CHAT_ACTION = "Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action"


def params(emu, role: str, principal: str, principal_type: str | None = None, description: str | None = None):
    return RoleAssignmentCreateParameters(
        role_definition_id=role_definition_id(emu, ROLE[role]),
        principal_id=principal,
        principal_type=principal_type,
        description=description,
    )


def test_role_definition_by_name(emu):
    client = authorization_client(emu)
    found = list(client.role_definitions.list(sub_scope(emu),
                                              filter="roleName eq 'Cognitive Services OpenAI User'"))
    assert len(found) == 1, [d.role_name for d in found]
    rd = found[0]
    assert rd.name == OPENAI_USER
    assert rd.id == role_definition_id(emu, OPENAI_USER)
    assert rd.role_name == "Cognitive Services OpenAI User"
    assert rd.role_type == "BuiltInRole"
    assert rd.type == "Microsoft.Authorization/roleDefinitions"
    assert CHAT_ACTION in rd.permissions[0].data_actions
    got = client.role_definitions.get(sub_scope(emu), OPENAI_USER)
    assert got.role_name == "Cognitive Services OpenAI User"
    owner = list(client.role_definitions.list(sub_scope(emu), filter="roleName eq 'Owner'"))
    assert [d.name for d in owner] == [ROLE["Owner"]]
    assert owner[0].permissions[0].data_actions == []


def test_role_assignment_lifecycle(emu):
    client = authorization_client(emu)
    scope = rg_scope(emu, "rg-conf")
    bob = emu.user("bob@contoso.com")["id"]
    name = str(uuid.uuid4())

    created = client.role_assignments.create(scope, name, params(emu, "Cognitive Services User", bob, "User",
                                                                 "conformance"))
    assert created.name == name
    assert created.id == f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
    assert created.type == "Microsoft.Authorization/roleAssignments"
    assert created.scope == scope
    assert created.principal_id == bob
    assert created.principal_type == "User"
    assert created.role_definition_id.endswith(f"/roleDefinitions/{ROLE['Cognitive Services User']}")
    assert created.description == "conformance"
    assert created.created_by == emu.app("keyless-pipeline")["objectId"]

    # same name, same body: idempotent
    again = client.role_assignments.create(scope, name, params(emu, "Cognitive Services User", bob, "User",
                                                               "conformance"))
    assert again.name == name

    # same triple under another name: 409 RoleAssignmentExists
    with pytest.raises(HttpResponseError) as ei:
        client.role_assignments.create(scope, str(uuid.uuid4()),
                                       params(emu, "Cognitive Services User", bob, "User"))
    assert ei.value.status_code == 409
    assert error_code(ei.value) == "RoleAssignmentExists"
    assert "The role assignment already exists." in str(ei.value)

    assert client.role_assignments.get(scope, name).principal_id == bob

    # atScope(): at or above the scope, not below
    at_scope = list(client.role_assignments.list_for_scope(scope, filter="atScope()"))
    scopes = {a.scope for a in at_scope}
    assert name in {a.name for a in at_scope}
    assert sub_scope(emu) in scopes  # the inherited subscription-level Owner assignment
    assert not any(s.lower().startswith(scope.lower() + "/") for s in scopes), scopes

    # principalId filter
    mine = list(client.role_assignments.list_for_scope(scope, filter=f"principalId eq '{bob}'"))
    assert [a.name for a in mine] == [name]

    # delete: 200 + body, then 204 (None)
    deleted = client.role_assignments.delete(scope, name)
    assert deleted is not None and deleted.name == name and deleted.principal_id == bob
    assert client.role_assignments.delete(scope, name) is None
    with pytest.raises(ResourceNotFoundError):
        client.role_assignments.get(scope, name)


def test_assigned_to_includes_group_assignments(emu):
    client = authorization_client(emu)
    alice = emu.user("alice@contoso.com")["id"]
    group = emu.group("team-alpha-devs")["id"]
    found = list(client.role_assignments.list_for_scope(rg_scope(emu, "rg-ci"),
                                                        filter=f"assignedTo('{alice}')"))
    assert any(a.principal_id == group and a.role_definition_id.endswith(ROLE["Reader"]) for a in found), \
        [(a.principal_id, a.role_definition_id) for a in found]
    # combined with atScope()
    both = list(client.role_assignments.list_for_scope(rg_scope(emu, "rg-ci"),
                                                       filter=f"atScope() and assignedTo('{alice}')"))
    assert {a.principal_id for a in both} == {group}


def test_invalid_role_assignment_name(emu):
    client = authorization_client(emu)
    with pytest.raises(HttpResponseError) as ei:
        client.role_assignments.create(rg_scope(emu, "rg-conf"), "not-a-guid",
                                       params(emu, "Reader", emu.user("bob@contoso.com")["id"], "User"))
    assert ei.value.status_code == 400
    assert error_code(ei.value) == "InvalidRoleAssignmentId"


def test_unknown_principal_without_type(emu):
    client = authorization_client(emu)
    ghost = str(uuid.uuid4())
    with pytest.raises(HttpResponseError) as ei:
        client.role_assignments.create(rg_scope(emu, "rg-conf"), str(uuid.uuid4()),
                                       params(emu, "Reader", ghost))
    assert ei.value.status_code == 400
    assert error_code(ei.value) == "PrincipalNotFound"
    assert f"Principal {ghost.replace('-', '')} does not exist in the directory {emu.tenant}" in str(ei.value)


def test_principal_not_found_until_replicated_unless_principal_type(delayed_emu):
    """A VM's new system identity has not replicated (replicationDelay 3600 s in this world):
    without principalType ARM's lookup fails with PrincipalNotFound; with it, the PUT succeeds."""
    emu = delayed_emu
    vm = compute_client(emu).virtual_machines.begin_update(
        "rg-ci", "fresh-vm-01", {"identity": {"type": "SystemAssigned"}}, **COMPUTE, **fast_polling()).result()
    principal = vm.identity.principal_id
    assert principal
    client = authorization_client(emu)
    scope = rg_scope(emu, "rg-conf")
    with pytest.raises(HttpResponseError) as ei:
        client.role_assignments.create(scope, str(uuid.uuid4()), params(emu, "Cognitive Services OpenAI User",
                                                                       principal))
    assert ei.value.status_code == 400
    assert error_code(ei.value) == "PrincipalNotFound"
    assert principal.replace("-", "") in str(ei.value)
    assert "principalType" in str(ei.value)

    name = str(uuid.uuid4())
    ok = client.role_assignments.create(scope, name, params(emu, "Cognitive Services OpenAI User", principal,
                                                            "ServicePrincipal"))
    assert ok.name == name and ok.principal_type == "ServicePrincipal"


def test_reader_cannot_write_role_assignments(emu):
    reader = emu.app(READER)
    client = authorization_client(emu, secret_credential(emu, READER))
    # reading is allowed
    assert list(client.role_definitions.list(sub_scope(emu), filter="roleName eq 'Reader'"))
    for rg in ("rg-conf", "rg-does-not-exist"):  # 403 even for a scope that does not exist
        scope = rg_scope(emu, rg)
        name = str(uuid.uuid4())
        with pytest.raises(HttpResponseError) as ei:
            client.role_assignments.create(scope, name,
                                           params(emu, "Reader", emu.user("bob@contoso.com")["id"], "User"))
        assert ei.value.status_code == 403
        assert error_code(ei.value) == "AuthorizationFailed"
        expected = (
            f"The client '{reader['appId']}' with object id '{reader['objectId']}' does not have authorization "
            f"to perform action 'Microsoft.Authorization/roleAssignments/write' over scope "
            f"'{scope}/providers/Microsoft.Authorization/roleAssignments/{name}' or the scope is invalid. "
            f"If access was recently granted, please refresh your credentials."
        )
        assert ei.value.error.message == expected

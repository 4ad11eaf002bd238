"""azure-mgmt-compute: VM get, identity PATCH (keep UAMIs / the trap), Run Command."""
from __future__ import annotations

import re

import pytest
from azure.core.exceptions import ResourceNotFoundError

from conftest import COMPUTE, compute_client, error_code, fast_polling, uami_id

RG = "rg-ci"


def uami_keys(identity) -> set[str]:
    uais = getattr(identity, "user_assigned_identities", None) or {}
    return {k.lower() for k in uais}


def test_vm_get(emu):
    vm = compute_client(emu).virtual_machines.get(RG, "build-agent-01", **COMPUTE)
    assert vm.name == "build-agent-01"
    assert vm.location == "eastus"
    assert vm.type == "Microsoft.Compute/virtualMachines"
    assert vm.id.lower() == f"/subscriptions/{emu.subscription}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/build-agent-01".lower()
    assert vm.identity.type == "UserAssigned"
    uami = uami_id(emu, RG, "uami-ci")
    assert uami_keys(vm.identity) == {uami.lower()}
    value = next(iter(vm.identity.user_assigned_identities.values()))
    assert value.principal_id and value.client_id
    assert vm.properties.provisioning_state == "Succeeded"


def test_vm_get_not_found(emu):
    with pytest.raises(ResourceNotFoundError) as ei:
        compute_client(emu).virtual_machines.get(RG, "no-such-vm", **COMPUTE)
    assert ei.value.status_code == 404
    assert error_code(ei.value) in ("ResourceNotFound", "NotFound")


def test_enable_system_identity_keeping_user_assigned(emu):
    """The documented way: GET, then PATCH with "SystemAssigned, UserAssigned" and the UAMIs."""
    client = compute_client(emu)
    vm = client.virtual_machines.get(RG, "build-agent-01", **COMPUTE)
    existing = list(vm.identity.user_assigned_identities)
    patch = {"identity": {"type": "SystemAssigned, UserAssigned",
                          "userAssignedIdentities": {k: {} for k in existing}}}
    updated = client.virtual_machines.begin_update(RG, "build-agent-01", patch, **COMPUTE,
                                                   **fast_polling()).result()
    assert updated.identity.type == "SystemAssigned, UserAssigned"
    assert updated.identity.principal_id and updated.identity.tenant_id == emu.tenant
    assert uami_keys(updated.identity) == {k.lower() for k in existing}
    again = client.virtual_machines.get(RG, "build-agent-01", **COMPUTE)
    assert again.identity.principal_id == updated.identity.principal_id
    assert uami_keys(again.identity) == {k.lower() for k in existing}


def test_plain_system_assigned_drops_user_assigned_trap(emu):
    """The trap: identity is replaced, not merged; "SystemAssigned" alone removes the UAMIs."""
    client = compute_client(emu)
    before = client.virtual_machines.get(RG, "build-agent-02", **COMPUTE)
    assert uami_keys(before.identity) == {uami_id(emu, RG, "uami-ci2").lower()}
    updated = client.virtual_machines.begin_update(
        RG, "build-agent-02", {"identity": {"type": "SystemAssigned"}}, **COMPUTE, **fast_polling()).result()
    assert updated.identity.type == "SystemAssigned"
    assert updated.identity.principal_id
    assert uami_keys(updated.identity) == set()
    after = client.virtual_machines.get(RG, "build-agent-02", **COMPUTE)
    assert after.identity.type == "SystemAssigned"
    assert uami_keys(after.identity) == set()


def run_script(emu, vm: str, lines: list[str]):
    return compute_client(emu).virtual_machines.begin_run_command(
        RG, vm, {"commandId": "RunShellScript", "script": lines}, **COMPUTE, **fast_polling()).result()


def test_run_command_returns_stdout(emu):
    result = run_script(emu, "runner-01", [
        "#!/bin/bash",
        "echo \"marker-$((6*7))\"",
        "echo \"to-stderr\" >&2",
    ])
    assert len(result.value) >= 1
    status = result.value[0]
    assert status.code == "ProvisioningState/succeeded"
    assert status.display_status == "Provisioning succeeded"
    assert "[stdout]\nmarker-42" in status.message
    assert "[stderr]\nto-stderr" in status.message


def test_run_command_nonzero_exit_still_succeeds(emu):
    result = run_script(emu, "runner-01", ["echo before-exit", "exit 3"])
    status = result.value[0]
    assert status.code == "ProvisioningState/succeeded"
    assert "before-exit" in status.message


def test_run_command_gets_managed_identity_token(emu):
    """A script on the VM asks its managed-identity endpoint for a token (prints only lengths)."""
    script = [
        "#!/bin/bash",
        "set -u",
        "resp=$(curl -s -H \"X-IDENTITY-HEADER: $IDENTITY_HEADER\" "
        "\"$IDENTITY_ENDPOINT?api-version=2019-08-01&resource=https://cognitiveservices.azure.com\")",
        "tok=$(printf '%s' \"$resp\" | sed -n 's/.*\"access_token\" *: *\"\\([^\"]*\\)\".*/\\1/p')",
        "echo \"appservice_len=${#tok}\"",
        "echo \"appservice_dots=$(printf '%s' \"$tok\" | tr -cd . | wc -c)\"",
        "resp=$(curl -s -H 'Metadata: true' "
        "\"$IMDS_ENDPOINT/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/\")",
        "tok=$(printf '%s' \"$resp\" | sed -n 's/.*\"access_token\" *: *\"\\([^\"]*\\)\".*/\\1/p')",
        "echo \"imds_len=${#tok}\"",
        "echo \"imds_expires_in_is_string=$(printf '%s' \"$resp\" | grep -c '\"expires_in\" *: *\"')\"",
    ]
    result = run_script(emu, "runner-01", script)
    msg = result.value[0].message
    assert result.value[0].code == "ProvisioningState/succeeded", msg

    def num(key: str) -> int:
        m = re.search(rf"{key}=(\d+)", msg)
        assert m, f"{key} missing from run-command output: {msg!r}"
        return int(m.group(1))

    assert num("appservice_len") > 100
    assert num("appservice_dots") == 2
    assert num("imds_len") > 100
    assert num("imds_expires_in_is_string") == 1
    assert "eyJ" not in msg  # the script never printed a token

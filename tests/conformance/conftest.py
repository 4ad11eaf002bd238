"""Fixtures shared by the conformance tests: emulator processes and official-SDK clients."""
from __future__ import annotations

import copy
import os
import uuid

import pytest

from emulator import Emulator, load_world

ARM_SCOPE = "https://management.azure.com/.default"
COG_SCOPE = "https://cognitiveservices.azure.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
CALLER = "keyless-pipeline"
READER = "reader-app"

# The api-versions of ../shared/azure-specs (the ones keyless uses). The SDKs default to newer ones.
API = {"resources": "2021-04-01", "cognitiveservices": "2024-10-01", "compute": "2024-07-01",
       "authorization": "2022-04-01", "openai": "2024-10-21"}
COMPUTE = {"api_version": API["compute"]}


@pytest.fixture(scope="session")
def world() -> dict:
    return load_world()


def _start(world: dict, name: str, request) -> Emulator:
    emu = Emulator(world, name=name).start()
    request.addfinalizer(emu.stop)
    return emu


@pytest.fixture(scope="session")
def emu(world, request) -> Emulator:
    """The main emulator: no propagation/replication delay, no faults."""
    return _start(world, "main", request)


@pytest.fixture(scope="session")
def delayed_emu(world, request) -> Emulator:
    """An emulator whose role assignments take a few seconds to become effective and whose new
    service principals (VM identities) do not replicate for an hour."""
    w = copy.deepcopy(world)
    w["timing"]["propagationDelay"] = "4s"
    w["timing"]["replicationDelay"] = "3600s"
    return _start(w, "delayed", request)


@pytest.fixture(scope="session")
def faulty_emu(world, request) -> Emulator:
    """An emulator whose world injects one 429 (Retry-After: 1) on the first GET of rg-ci."""
    w = copy.deepcopy(world)
    w["faults"]["rules"] = [
        {"path": "(?i)/subscriptions/[^/]+/resourcegroups/rg-ci$", "method": "GET",
         "status": 429, "count": 1, "retryAfter": 1}
    ]
    return _start(w, "faulty", request)


# --- SDK helpers -----------------------------------------------------------------------------

def secret_credential(emu: Emulator, app: str = CALLER, secret: str | None = None, **kw):
    from azure.identity import ClientSecretCredential

    a = emu.app(app)
    kw.setdefault("disable_instance_discovery", True)
    return ClientSecretCredential(
        emu.tenant, a["appId"], secret if secret is not None else a["secrets"][0],
        authority=emu.base, connection_verify=emu.ca, **kw,
    )


def arm_kwargs(emu: Emulator) -> dict:
    return {"base_url": emu.base, "credential_scopes": [ARM_SCOPE], "connection_verify": emu.ca}


def resource_client(emu: Emulator, cred=None):
    from azure.mgmt.resource.resources import ResourceManagementClient

    return ResourceManagementClient(cred or secret_credential(emu), emu.subscription,
                                    api_version=API["resources"], **arm_kwargs(emu))


def cognitive_client(emu: Emulator, cred=None):
    from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient

    return CognitiveServicesManagementClient(cred or secret_credential(emu), emu.subscription,
                                             api_version=API["cognitiveservices"], **arm_kwargs(emu))


def compute_client(emu: Emulator, cred=None):
    from azure.mgmt.compute import ComputeManagementClient

    # azure-mgmt-compute 39 takes the api-version per call: pass COMPUTE (below) to each call.
    return ComputeManagementClient(cred or secret_credential(emu), emu.subscription, **arm_kwargs(emu))


def authorization_client(emu: Emulator, cred=None):
    from azure.mgmt.authorization import AuthorizationManagementClient

    return AuthorizationManagementClient(cred or secret_credential(emu), emu.subscription,
                                         api_version=API["authorization"], **arm_kwargs(emu))


def fast_polling() -> dict:
    """LRO poller kwargs: honour the service's Retry-After but default to 1 s."""
    return {"polling_interval": 1}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sub_scope(emu: Emulator) -> str:
    return f"/subscriptions/{emu.subscription}"


def rg_scope(emu: Emulator, rg: str) -> str:
    return f"{sub_scope(emu)}/resourceGroups/{rg}"


def account_id(emu: Emulator, rg: str, name: str) -> str:
    return f"{rg_scope(emu, rg)}/providers/Microsoft.CognitiveServices/accounts/{name}"


def vm_id(emu: Emulator, rg: str, name: str) -> str:
    return f"{rg_scope(emu, rg)}/providers/Microsoft.Compute/virtualMachines/{name}"


def uami_id(emu: Emulator, rg: str, name: str) -> str:
    return f"{rg_scope(emu, rg)}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}"


def role_definition_id(emu: Emulator, guid: str) -> str:
    return f"{sub_scope(emu)}/providers/Microsoft.Authorization/roleDefinitions/{guid}"


ROLE = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Cognitive Services User": "a97b65f3-24c7-4388-baec-2e87135dc908",
    "Cognitive Services OpenAI User": "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
}


def error_code(exc) -> str | None:
    """ARM error code of an azure.core HttpResponseError."""
    err = getattr(exc, "error", None)
    code = getattr(err, "code", None)
    if code:
        return code
    try:
        return exc.response.json()["error"]["code"]
    except Exception:  # noqa: BLE001
        return None


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from replay import REPORT

    if REPORT.rows:
        text = REPORT.render()
        terminalreporter.write_sep("=", "spec example replay")
        terminalreporter.write_line(text)
        path = REPORT.write()
        if path:
            terminalreporter.write_line(f"replay report written to {path}")

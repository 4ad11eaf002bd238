"""Replay of the REST-spec examples in ../shared/azure-specs against the emulator.

For each example named in the specs README's operation table (and its "related operations"
paragraph) this module finds the operation whose ``x-ms-examples`` references it (method, path
template, parameter locations), substitutes the example's parameters into the template — mapped
onto objects of the test world — sends the example's request body with a valid token, follows a
long-running operation to its end, and checks the answer against the example's ``responses``:

* the status code is one of the example's;
* every property name in the example's body for that status exists in the emulator's body with
  the same JSON type, recursively (values may differ; arrays compare their first elements;
  ``null`` on either side only requires presence; free-form maps such as ``tags`` compare types
  and the shape of their first value, not their keys).

The specs are read at run time from AZURE_SPECS_DIR (default ../shared/azure-specs beside the
repo root); nothing from them is copied into the repository.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests

HERE = Path(__file__).resolve().parent
SPECS = Path(os.environ.get("AZURE_SPECS_DIR") or (HERE.parent.parent.parent / "shared" / "azure-specs"))

# Free-form maps (additionalProperties): their keys are data, not property names.
MAP_PROPERTIES = {"tags", "userAssignedIdentities", "endpoints"}


# --------------------------------------------------------------------------------------------
# Spec index
# --------------------------------------------------------------------------------------------

@dataclass
class Operation:
    spec: Path
    method: str
    path: str
    operation_id: str
    api_version: str
    parameters: list[dict]
    long_running: bool
    final_state_via: str | None
    servers: list[dict] = field(default_factory=list)


_docs: dict[Path, dict] = {}


def _load(path: Path) -> dict:
    path = path.resolve()
    if path not in _docs:
        with open(path, encoding="utf-8") as f:
            _docs[path] = json.load(f)
    return _docs[path]


def _resolve(node: Any, base: Path) -> tuple[Any, Path]:
    """Follows $ref (local or relative-file) until a non-ref node."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 20:
        ref = node["$ref"]
        file_part, _, pointer = ref.partition("#")
        target = (base.parent / file_part).resolve() if file_part else base
        doc = _load(target)
        for tok in [t for t in pointer.split("/") if t]:
            doc = doc[tok.replace("~1", "/").replace("~0", "~")]
        node, base = doc, target
        seen += 1
    return node, base


def spec_files() -> list[Path]:
    return [p for p in SPECS.rglob("*.json") if "examples" not in p.parts and "common-types" not in p.parts]


def index_examples() -> dict[str, list[Operation]]:
    """example basename -> operations whose x-ms-examples reference a file of that name."""
    out: dict[str, list[Operation]] = {}
    for spec in spec_files():
        doc = _load(spec)
        version = doc.get("info", {}).get("version", "")
        all_paths = list((doc.get("paths") or {}).items()) + list((doc.get("x-ms-paths") or {}).items())
        for path, item in all_paths:
            if not isinstance(item, dict):
                continue
            path = path.split("?", 1)[0]  # x-ms-paths disambiguation suffixes
            path_params = item.get("parameters", [])
            for method, op in item.items():
                if not isinstance(op, dict) or "operationId" not in op:
                    continue
                params = []
                for p in path_params + op.get("parameters", []):
                    resolved, _ = _resolve(p, spec)
                    params.append(resolved)
                o = Operation(
                    spec=spec, method=method.upper(), path=path, operation_id=op["operationId"],
                    api_version=version, parameters=params,
                    long_running=bool(op.get("x-ms-long-running-operation")),
                    final_state_via=(op.get("x-ms-long-running-operation-options") or {}).get("final-state-via"),
                    servers=doc.get("servers", []),
                )
                for ex in (op.get("x-ms-examples") or {}).values():
                    ref = ex.get("$ref", "")
                    out.setdefault(Path(ref).name, []).append(o)
    return out


def readme_examples() -> list[str]:
    """Example files (relative to SPECS) named in the README's operation table and notes on
    related operations, in order of appearance."""
    text = (SPECS / "README.md").read_text(encoding="utf-8")
    # the operation table, the related-operations paragraph and the notes it points to
    section = text.split("## Operations the project uses", 1)[1]
    by_name: dict[str, list[str]] = {}
    for p in SPECS.rglob("*.json"):
        if "examples" in p.parts:
            by_name.setdefault(p.name, []).append(str(p.relative_to(SPECS)))
    found: list[str] = []
    for token in re.findall(r"`([^`]+\.json)`", section):
        if "/examples/" in token:
            cands = [token] if (SPECS / token).exists() else []
        else:
            cands = sorted(by_name.get(token, []))
        for c in cands:
            if c not in found:
                found.append(c)
    return found


# --------------------------------------------------------------------------------------------
# Shape comparison
# --------------------------------------------------------------------------------------------

def jtype(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def compare_shape(expected: Any, actual: Any, path: str = "$", is_map: bool = False) -> list[str]:
    te, ta = jtype(expected), jtype(actual)
    if te == "null" or ta == "null":
        return []
    if te != ta:
        return [f"{path}: example has {te}, emulator has {ta}"]
    problems: list[str] = []
    if te == "object":
        if is_map:
            if expected and actual:
                ek, ak = next(iter(expected)), next(iter(actual))
                problems += compare_shape(expected[ek], actual[ak], f"{path}[*]")
            return problems
        for k, v in expected.items():
            if k not in actual:
                problems.append(f"{path}.{k}: missing")
            else:
                problems += compare_shape(v, actual[k], f"{path}.{k}", is_map=k in MAP_PROPERTIES)
    elif te == "array" and expected:
        if actual:
            problems += compare_shape(expected[0], actual[0], f"{path}[0]")
        elif path == "$.value":
            # a list operation must return something to compare, nested arrays may be empty
            problems.append(f"{path}: example list is non-empty, emulator's is empty")
    return problems


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

@dataclass
class Row:
    example: str
    operation: str
    request: str
    status: str
    result: str  # pass | fail | skip
    why: str


class Report:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.path: Path | None = None

    def add(self, row: Row) -> None:
        self.rows = [r for r in self.rows if r.example != row.example] + [row]

    def counts(self) -> dict[str, int]:
        c = {"pass": 0, "fail": 0, "skip": 0}
        for r in self.rows:
            c[r.result] = c.get(r.result, 0) + 1
        return c

    def render(self) -> str:
        def esc(s: str) -> str:
            return s.replace("|", "\\|").replace("\n", " ")

        c = self.counts()
        lines = [
            "# Spec example replay against keyless-emulator",
            "",
            f"{len(self.rows)} examples: {c['pass']} passed, {c['fail']} failed, {c['skip']} skipped.",
            "",
            "| example | operation | request | status | result | why |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            lines.append(f"| {esc(r.example)} | {esc(r.operation)} | {esc(r.request)} | {esc(r.status)} | "
                         f"{r.result} | {esc(r.why)} |")
        return "\n".join(lines)

    def write(self) -> Path | None:
        d = os.environ.get("CONFORMANCE_REPORT_DIR") or tempfile.mkdtemp(prefix="keyless-conformance-")
        Path(d).mkdir(parents=True, exist_ok=True)
        p = Path(d) / "replay-report.md"
        p.write_text(self.render() + "\n", encoding="utf-8")
        self.path = p
        return p


REPORT = Report()


# --------------------------------------------------------------------------------------------
# Replay context: the test world's names and a raw HTTP client with tokens
# --------------------------------------------------------------------------------------------

READER_ROLE = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
OPENAI_USER_ROLE = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"


class Ctx:
    def __init__(self, emu, credential):
        self.emu = emu
        self.cred = credential
        self.http = emu.session()
        self.sub = emu.subscription
        self.rg = "rg-replay"
        self.account = "oai-replay"
        self.vm = "replay-vm-01"
        self.win_vm = "win-agent-01"
        self.location = "eastus"
        self.bob = emu.user("bob@contoso.com")["id"]
        self.alice = emu.user("alice@contoso.com")["id"]
        self.names: dict[str, str] = {}
        self._tokens: dict[str, tuple[str, float]] = {}

    def name(self, key: str) -> str:
        """A fresh GUID per logical role-assignment slot, stable within one run."""
        return self.names.setdefault(key, str(uuid.uuid4()))

    def token(self, scope: str) -> str:
        tok, exp = self._tokens.get(scope, ("", 0))
        if exp - time.time() < 300:
            t = self.cred.get_token(scope)
            tok, exp = t.token, t.expires_on
            self._tokens[scope] = (tok, exp)
        return tok

    def arm(self, method: str, path: str, api_version: str, body: Any = None, **kw) -> requests.Response:
        url = f"{self.emu.base}{path}"
        params = kw.pop("params", {}) or {}
        params["api-version"] = api_version
        headers = {"Authorization": f"Bearer {self.token('https://management.azure.com/.default')}"}
        return self.http.request(method, url, params=params, json=body, headers=headers, timeout=30, **kw)

    def wait_lro(self, resp: requests.Response, timeout: float = 60) -> requests.Response | None:
        """Follows Azure-AsyncOperation / Location until a terminal state. Returns the last
        Location response (for POST results) or None."""
        aso = resp.headers.get("Azure-AsyncOperation")
        loc = resp.headers.get("Location")
        deadline = time.monotonic() + timeout
        headers = {"Authorization": f"Bearer {self.token('https://management.azure.com/.default')}"}
        if aso:
            while time.monotonic() < deadline:
                r = self.http.get(aso, headers=headers, timeout=30)
                status = (r.json() or {}).get("status", "") if r.content else ""
                if status.lower() in ("succeeded", "failed", "canceled", "cancelled"):
                    if status.lower() != "succeeded":
                        raise AssertionError(f"LRO ended {status}: {r.text[:400]}")
                    break
                time.sleep(min(float(r.headers.get("Retry-After", 1) or 1), 2))
            else:
                raise AssertionError("LRO (Azure-AsyncOperation) did not finish in time")
        if loc:
            while time.monotonic() < deadline:
                r = self.http.get(loc, headers=headers, timeout=30)
                if r.status_code != 202:
                    return r
                time.sleep(min(float(r.headers.get("Retry-After", 1) or 1), 2))
            raise AssertionError("LRO (Location) did not finish in time")
        return None

    # prerequisites -------------------------------------------------------------------------
    def ensure_account(self, name: str, subdomain: str) -> None:
        path = f"/subscriptions/{self.sub}/resourceGroups/{self.rg}/providers/Microsoft.CognitiveServices/accounts/{name}"
        if self.arm("GET", path, "2024-10-01").status_code == 200:
            return
        r = self.arm("PUT", path, "2024-10-01", {
            "location": self.location, "kind": "OpenAI", "sku": {"name": "S0"},
            "properties": {"customSubDomainName": subdomain, "disableLocalAuth": True}})
        assert r.status_code in (200, 201, 202), f"prerequisite account {name}: {r.status_code} {r.text[:300]}"
        self.wait_lro(r)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            g = self.arm("GET", path, "2024-10-01")
            if g.status_code == 200 and g.json()["properties"].get("provisioningState") == "Succeeded":
                return
            time.sleep(1)
        raise AssertionError(f"prerequisite account {name} never reached Succeeded")

    def ensure_deployment(self, account: str, name: str) -> None:
        path = (f"/subscriptions/{self.sub}/resourceGroups/{self.rg}/providers/Microsoft.CognitiveServices/"
                f"accounts/{account}/deployments/{name}")
        r = self.arm("PUT", path, "2024-10-01", {
            "sku": {"name": "GlobalStandard", "capacity": 1},
            "properties": {"model": {"format": "OpenAI", "name": "gpt-4o-mini", "version": "2024-07-18"}}})
        assert r.status_code in (200, 201, 202), f"prerequisite deployment {name}: {r.status_code} {r.text[:300]}"
        self.wait_lro(r)

    def ensure_role_assignment(self, scope: str, name: str, principal: str) -> None:
        r = self.arm("PUT", f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}", "2022-04-01", {
            "properties": {"roleDefinitionId": f"/subscriptions/{self.sub}/providers/Microsoft.Authorization/roleDefinitions/{READER_ROLE}",
                           "principalId": principal, "principalType": "User"}})
        assert r.status_code in (200, 201), f"prerequisite role assignment: {r.status_code} {r.text[:300]}"

    def ensure_uami(self, name: str) -> None:
        r = self.arm("PUT", f"/subscriptions/{self.sub}/resourceGroups/{self.rg}/providers/Microsoft.ManagedIdentity/"
                            f"userAssignedIdentities/{name}", "2023-01-31", {"location": self.location})
        assert r.status_code in (200, 201), f"prerequisite identity {name}: {r.status_code} {r.text[:300]}"

    def ensure_rg(self, name: str) -> None:
        r = self.arm("PUT", f"/subscriptions/{self.sub}/resourcegroups/{name}", "2021-04-01", {"location": self.location})
        assert r.status_code in (200, 201), f"prerequisite resource group {name}: {r.status_code} {r.text[:300]}"

    # mapping of example scopes/ids onto the world --------------------------------------------
    def map_scope(self, scope: str) -> str:
        """Rewrites an example scope/id (subscription, RG, resource) onto the replay world."""
        s = scope.strip("/")
        if not s.lower().startswith("subscriptions/"):
            return f"subscriptions/{self.sub}"
        parts = s.split("/")
        parts[1] = self.sub
        out = parts[:2]
        i = 2
        if len(parts) > 3 and parts[2].lower() == "resourcegroups":
            out += [parts[2], self.rg]
            i = 4
            if len(parts) > i and parts[i].lower() == "providers" and len(parts) >= i + 4 \
                    and parts[i + 1].lower() != "microsoft.authorization":
                out += ["providers", "Microsoft.CognitiveServices", "accounts", self.account]
                i += 4
        out += parts[i:]
        return "/".join(out)


# --------------------------------------------------------------------------------------------
# Per-example plan (order matters: prerequisites first, deletes last)
# --------------------------------------------------------------------------------------------

@dataclass
class Case:
    params: Callable[[Ctx], dict] = lambda c: {}
    body: Callable[[Ctx, Any], Any] | None = None
    setup: Callable[[Ctx], None] | None = None
    skip: str | None = None
    note: str = ""
    # JSON paths (as compare_shape prints them) allowed to be absent: properties that exist only
    # when the world's resource is configured with them.
    optional: tuple[str, ...] = ()
    # (status, error code, new body, why): when the example's own body is refused this way,
    # record it and resend with the replacement body.
    fallback: tuple[int, str, Callable[[Ctx, Any], Any], str] | None = None


def ra_body(principal_key: str) -> Callable[[Ctx, Any], Any]:
    def f(c: Ctx, body: Any) -> Any:
        body = json.loads(json.dumps(body))
        p = body["properties"]
        p["roleDefinitionId"] = f"/subscriptions/{c.sub}/providers/Microsoft.Authorization/roleDefinitions/{READER_ROLE}"
        p["principalId"] = getattr(c, principal_key)
        return body
    return f


def account_scope(c: Ctx) -> str:
    return f"subscriptions/{c.sub}/resourceGroups/{c.rg}/providers/Microsoft.CognitiveServices/accounts/{c.account}"


RA_NOTE = "role: Reader, principal: a world user (example ids do not exist in the world)"

VM_OPTIONAL = (
    # present only when the VM is configured with them (the example's VM has them, the world's not)
    "$.properties.availabilitySet", "$.properties.proximityPlacementGroup",
    "$.properties.applicationProfile", "$.properties.userData", "$.resources", "$.managedBy",
    "$.properties.diagnosticsProfile.bootDiagnostics.storageUri",
)

PLAN: dict[str, Case] = {
    # --- Microsoft.Resources ---
    "CreateResourceGroup.json": Case(params=lambda c: {"resourceGroupName": "rg-replay-created"}),
    "GetResourceGroups.json": Case(),
    "ListResourceGroups.json": Case(),
    "UpdateResourceGroups.json": Case(),
    # --- Microsoft.ManagedIdentity ---
    "IdentityCreate.json": Case(params=lambda c: {"resourceName": "uami-replay"}),
    "IdentityGet.json": Case(params=lambda c: {"resourceName": "uami-replay"},
                             setup=lambda c: c.ensure_uami("uami-replay")),
    # --- Microsoft.CognitiveServices ---
    "CheckDomainAvailability.json": Case(),
    "CreateAccount.json": Case(params=lambda c: {"accountName": "replay-create-full"}),
    "CreateAccountMin.json": Case(params=lambda c: {"accountName": "replay-create-min"}),
    "GetAccount.json": Case(),
    "UpdateAccount.json": Case(params=lambda c: {"accountName": "replay-update"},
                               setup=lambda c: c.ensure_account("replay-update", "keyless-replay-update")),
    "ListAccountsByResourceGroup.json": Case(),
    "ListAccountsBySubscription.json": Case(),
    "PutDeployment.json": Case(
        params=lambda c: {"deploymentName": "replay-dep"},
        fallback=(400, "DeploymentModelNotSupported", lambda c, b: {
            **b, "properties": {**b["properties"], "model": {"format": "OpenAI", "name": "gpt-4o-mini",
                                                             "version": "2024-07-18"}}},
                  "the example's model (ada 1) is retired: the emulator refuses it with "
                  "DeploymentModelNotSupported as Azure does today; resent with gpt-4o-mini 2024-07-18")),
    "GetDeployment.json": Case(params=lambda c: {"deploymentName": "chat"}),
    "ListDeployments.json": Case(),
    "DeleteDeployment.json": Case(params=lambda c: {"deploymentName": "replay-dep-del"},
                                  setup=lambda c: c.ensure_deployment(c.account, "replay-dep-del")),
    "DeleteAccount.json": Case(params=lambda c: {"accountName": "replay-del"},
                               setup=lambda c: c.ensure_account("replay-del", "keyless-replay-del")),
    "GetDeletedAccount.json": Case(params=lambda c: {"accountName": "oai-gone"}),
    "ListDeletedAccountsBySubscription.json": Case(
        note="2023-05-01 stand-in; sent with the 2024-10-01 api-version of the swagger that owns DeletedAccounts_List"),
    "PurgeDeletedAccount.json": Case(params=lambda c: {"accountName": "oai-gone"}),
    # --- Microsoft.Compute ---
    "VirtualMachine_Get.json": Case(params=lambda c: {"vmName": c.win_vm}, optional=VM_OPTIONAL,
                                    note="the example's VM is Windows: mapped onto the world's Windows VM"),
    "VirtualMachine_Update_ForceDetachDataDisk.json": Case(params=lambda c: {"vmName": c.win_vm},
                                                           optional=VM_OPTIONAL),
    "VirtualMachine_Create_WithEncryptionIdentity.json": Case(
        skip="reference only: VirtualMachines_CreateOrUpdate is not an operation the project uses "
             "(the README cites it for the identity shape, covered by test_compute.py)"),
    "VirtualMachineRunCommand.json": Case(params=lambda c: {"vmName": c.win_vm},
                                          note="RunPowerShellScript sent to the world's Windows VM"),
    # --- Microsoft.Authorization ---
    "RoleAssignments_CreateForSubscription.json": Case(
        params=lambda c: {"scope": f"subscriptions/{c.sub}", "roleAssignmentName": c.name("sub")},
        body=ra_body("bob"), note=RA_NOTE),
    "RoleAssignments_CreateForResourceGroup.json": Case(
        params=lambda c: {"roleAssignmentName": c.name("rg")}, body=ra_body("bob"), note=RA_NOTE),
    "RoleAssignments_CreateForResource.json": Case(
        params=lambda c: {"scope": account_scope(c), "roleAssignmentName": c.name("res")},
        body=ra_body("bob"), note=RA_NOTE + "; resource: the world's account"),
    "RoleAssignments_CreateById.json": Case(
        params=lambda c: {"roleAssignmentId": f"subscriptions/{c.sub}/providers/Microsoft.Authorization/roleAssignments/{c.name('byid')}"},
        body=ra_body("alice"), note=RA_NOTE),
    "RoleAssignments_Get.json": Case(
        params=lambda c: {"scope": f"subscriptions/{c.sub}", "roleAssignmentName": c.name("sub")},
        setup=lambda c: c.ensure_role_assignment(f"/subscriptions/{c.sub}", c.name("sub"), c.bob),
        note="example says api-version 2020-10-01-preview; the 2022-04-01 swagger is authoritative"),
    "RoleAssignments_GetById.json": Case(
        params=lambda c: {"roleAssignmentId": f"subscriptions/{c.sub}/providers/Microsoft.Authorization/roleAssignments/{c.name('byid')}"},
        setup=lambda c: c.ensure_role_assignment(f"/subscriptions/{c.sub}", c.name("byid"), c.alice)),
    "RoleAssignments_ListForScope.json": Case(),
    "RoleAssignments_ListForSubscription.json": Case(),
    "RoleAssignments_ListForResourceGroup.json": Case(
        setup=lambda c: c.ensure_role_assignment(f"/subscriptions/{c.sub}/resourceGroups/{c.rg}", c.name("rg"), c.bob)),
    "RoleAssignments_ListForResource.json": Case(
        params=lambda c: {"resourceProviderNamespace": "Microsoft.CognitiveServices", "resourceType": "accounts",
                          "resourceName": c.account},
        setup=lambda c: c.ensure_role_assignment("/" + account_scope(c), c.name("res"), c.bob)),
    "GetRoleDefinitionAtScope.json": Case(params=lambda c: {"scope": f"subscriptions/{c.sub}"}),
    "GetRoleDefinitionByName.json": Case(
        params=lambda c: {"scope": f"subscriptions/{c.sub}", "roleDefinitionId": OPENAI_USER_ROLE},
        note="role: Cognitive Services OpenAI User (has dataActions, like the example)"),
    "GetRoleDefinitionById.json": Case(
        params=lambda c: {"roleId": f"subscriptions/{c.sub}/providers/Microsoft.Authorization/roleDefinitions/{OPENAI_USER_ROLE}"},
        note="role: Cognitive Services OpenAI User (has dataActions, like the example)"),
    "RoleAssignments_Delete.json": Case(
        params=lambda c: {"scope": f"subscriptions/{c.sub}", "roleAssignmentName": c.name("sub")},
        setup=lambda c: c.ensure_role_assignment(f"/subscriptions/{c.sub}", c.name("sub"), c.bob)),
    "RoleAssignments_DeleteById.json": Case(
        params=lambda c: {"roleAssignmentId": f"subscriptions/{c.sub}/providers/Microsoft.Authorization/roleAssignments/{c.name('byid')}"},
        setup=lambda c: c.ensure_role_assignment(f"/subscriptions/{c.sub}", c.name("byid"), c.alice)),
    # --- deletes of earlier prerequisites ---
    "IdentityDelete.json": Case(params=lambda c: {"resourceName": "uami-replay"},
                                setup=lambda c: c.ensure_uami("uami-replay")),
    "ForceDeleteVMsInResourceGroup.json": Case(params=lambda c: {"resourceGroupName": "rg-replay-created"},
                                               setup=lambda c: c.ensure_rg("rg-replay-created")),
    # --- Azure OpenAI data plane ---
    "chat_completions.json": Case(params=lambda c: {"deployment-id": "chat"}),
    "completions.json": Case(params=lambda c: {"deploymentId": "instruct", "deployment-id": "instruct"}),
}


def ordered_examples() -> list[str]:
    listed = readme_examples()
    order = list(PLAN)
    return sorted(listed, key=lambda p: order.index(Path(p).name) if Path(p).name in order else len(order))


# --------------------------------------------------------------------------------------------
# Replaying one example
# --------------------------------------------------------------------------------------------

def default_value(c: Ctx, name: str, value: Any) -> Any:
    """World value for a path parameter the plan did not override."""
    return {
        "subscriptionId": c.sub,
        "resourceGroupName": c.rg,
        "accountName": c.account,
        "deploymentName": "chat",
        "vmName": c.vm,
        "location": c.location,
        "resourceName": "uami-replay",
        "scope": c.map_scope(str(value)) if isinstance(value, str) else value,
        "roleAssignmentId": c.map_scope(str(value)) if isinstance(value, str) else value,
    }.get(name, value)


def _code(resp: requests.Response) -> str | None:
    try:
        return resp.json()["error"]["code"]
    except Exception:  # noqa: BLE001
        return None


def pick_operation(ops: list[Operation], rel: str) -> Operation:
    if len(ops) == 1:
        return ops[0]
    # prefer the spec folder the example sits under
    top = rel.split("/")[0]
    same = [o for o in ops if str(o.spec.relative_to(SPECS)).startswith(top)]
    return (same or ops)[0]


def replay(rel: str, ctx: Ctx, index: dict[str, list[Operation]]) -> Row:
    name = Path(rel).name
    case = PLAN.get(name, Case())
    example = _load(SPECS / rel)
    ops = index.get(name)
    if case.skip:
        return Row(rel, ops[0].operation_id if ops else "?", "-", "-", "skip", case.skip)
    if not ops:
        return Row(rel, "?", "-", "-", "fail", "no operation in the specs references this example")
    op = pick_operation(ops, rel)
    if case.setup:
        case.setup(ctx)
    given = dict(example.get("parameters", {}))
    given.update(case.params(ctx))

    path = op.path
    query: dict[str, str] = {}
    body: Any = None
    dataplane = bool(op.servers)
    for p in op.parameters:
        pname, where = p.get("name"), p.get("in")
        if where == "path":
            # the data-plane example names the path parameter differently (deploymentId)
            value = given.get(pname, given.get(re.sub(r"-(\w)", lambda m: m.group(1).upper(), pname)))
            if value is None:
                return Row(rel, op.operation_id, f"{op.method} {op.path}", "-", "fail",
                           f"example has no value for path parameter {pname}")
            value = default_value(ctx, pname, value) if pname not in case.params(ctx) else value
            value = str(value)
            if p.get("x-ms-skip-url-encoding"):
                enc = value.strip("/") if pname in ("scope", "roleAssignmentId", "roleId") else value
            else:
                enc = urllib.parse.quote(value, safe="")
            path = path.replace("{" + pname + "}", enc)
        elif where == "query":
            if pname == "api-version":
                query[pname] = op.api_version
            elif pname in given:
                v = given[pname]
                query[pname] = str(v).lower() if isinstance(v, bool) else str(v)
        elif where == "body":
            body = given.get(pname)
    if dataplane:
        body = given.get("body")
    if case.body and body is not None:
        body = case.body(ctx, body)
    path = re.sub(r"/{2,}", "/", path)

    def send(body: Any) -> tuple[requests.Response, str]:
        if dataplane:
            endpoint = ctx.arm("GET", f"/subscriptions/{ctx.sub}/resourceGroups/{ctx.rg}/providers/"
                                      f"Microsoft.CognitiveServices/accounts/{ctx.account}",
                               "2024-10-01").json()["properties"]["endpoint"]
            url = endpoint.rstrip("/") + "/openai" + path
            headers = {"Authorization": f"Bearer {ctx.token('https://cognitiveservices.azure.com/.default')}"}
            r = ctx.http.request(op.method, url, params=query, json=body, headers=headers, timeout=60)
            return r, f"{op.method} {urllib.parse.urlsplit(url).path}"
        q = dict(query)
        api = q.pop("api-version")
        return ctx.arm(op.method, path, api, body, params=q), f"{op.method} {path}"

    resp, shown = send(body)
    notes = [case.note] if case.note else []
    if case.fallback and resp.status_code == case.fallback[0] and _code(resp) == case.fallback[1]:
        notes.append(case.fallback[3])
        resp, shown = send(case.fallback[2](ctx, body))

    expected = example.get("responses", {})
    status = str(resp.status_code)
    if status not in expected:
        detail = resp.text[:300].replace("\n", " ")
        return Row(rel, op.operation_id, shown, status, "fail",
                   f"status {status} not among the example's {sorted(expected)}: {detail}" + (f" ({case.note})" if case.note else ""))

    problems: list[str] = []
    exp_body = (expected.get(status) or {}).get("body")
    got_body = None
    if resp.content:
        try:
            got_body = resp.json()
        except ValueError:
            problems.append("response body is not JSON")
    if exp_body is not None:
        if got_body is None:
            problems.append(f"example {status} has a body, the emulator sent none")
        else:
            problems += compare_shape(exp_body, got_body)

    # long-running: follow it; compare the final result with the example's 200 body
    if op.long_running and status in ("201", "202") and not problems:
        try:
            final = ctx.wait_lro(resp)
        except AssertionError as e:
            problems.append(str(e))
            final = None
        exp_final = (expected.get("200") or {}).get("body")
        if exp_final is not None and status != "200":
            final_body = None
            if op.method in ("PUT", "PATCH"):
                g = ctx.arm("GET", path, op.api_version)
                final_body = g.json() if g.status_code == 200 else None
            elif final is not None and final.content:
                final_body = final.json()
            if final_body is None:
                problems.append("LRO final result missing")
            else:
                problems += [f"final: {p}" for p in compare_shape(exp_final, final_body)]
            notes.append("LRO followed; final result compared with the example's 200")

    absent = [p for p in problems if p.endswith(": missing") and p[: -len(": missing")].removeprefix("final: ")
              in case.optional]
    problems = [p for p in problems if p not in absent]
    if absent:
        notes.append("optional properties absent in the world's resource: " +
                     ", ".join(p[: -len(": missing")] for p in absent))
    if problems:
        return Row(rel, op.operation_id, shown, status, "fail", "; ".join(problems[:8]) +
                   (f" (+{len(problems) - 8} more)" if len(problems) > 8 else ""))
    return Row(rel, op.operation_id, shown, status, "pass", "; ".join(notes))

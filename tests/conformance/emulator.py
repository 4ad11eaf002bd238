"""Start/stop keyless-emulator as a subprocess and talk to its admin API.

The emulator is started exactly as a user would: ``keyless-emulator --world W --port 0
--ca-out CA --print-env``. It prints shell ``export K=V`` lines on stdout and keeps serving; we
parse them, wait until the HTTPS endpoint answers, and read what we need (base URL, CA file).
"""
from __future__ import annotations

import copy
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
WORLD_FILE = HERE / "world.yaml"

EXPORT_RE = re.compile(r"^\s*export\s+([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
BASE_RE = re.compile(r"^https://(127\.0\.0\.1|localhost|\[::1\]):\d+/?$")


def emulator_bin() -> str:
    return os.environ.get("KEYLESS_EMULATOR_BIN") or str(REPO / "target" / "debug" / "keyless-emulator")


def load_world(path: Path = WORLD_FILE) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


class EmulatorError(RuntimeError):
    pass


class Emulator:
    """One running emulator process."""

    def __init__(self, world: dict, name: str = "main"):
        self.world = copy.deepcopy(world)
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"keyless-conf-{name}-"))
        self.world_path = self.dir / "world.yaml"
        self.ca_path = self.dir / "ca.pem"
        self.stderr_path = self.dir / "stderr.log"
        self.stdout_lines: list[str] = []
        self.env: dict[str, str] = {}
        self.base: str = ""
        self.proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> "Emulator":
        with open(self.world_path, "w") as f:
            yaml.safe_dump(self.world, f, sort_keys=False)
        args = [
            emulator_bin(),
            "--world", str(self.world_path),
            "--port", "0",
            "--ca-out", str(self.ca_path),
            "--print-env",
        ]
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EmulatorError(
                    f"emulator exited with {self.proc.returncode}: {self.diagnostics()}"
                )
            base = self._find_base()
            if base and self.ca_path.exists():
                self.base = base
                if self._ready():
                    return self
            time.sleep(0.1)
        self.stop()
        raise EmulatorError(f"emulator did not become ready in {timeout}s: {self.diagnostics()}")

    def _drain(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            with self._lock:
                self.stdout_lines.append(line.rstrip("\n"))
                m = EXPORT_RE.match(line.rstrip("\n"))
                if m:
                    try:
                        val = shlex.split(m.group(2))
                        self.env[m.group(1)] = val[0] if val else ""
                    except ValueError:
                        self.env[m.group(1)] = m.group(2).strip("'\"")

    def _find_base(self) -> str:
        with self._lock:
            env = dict(self.env)
        for key in ("KEYLESS_EMULATOR_URL", "KEYLESS_EMULATOR_BASE_URL", "EMULATOR_URL",
                    "AZURE_AUTHORITY_HOST", "KEYLESS_ARM_ENDPOINT", "ARM_ENDPOINT"):
            v = env.get(key, "")
            if BASE_RE.match(v):
                return v.rstrip("/")
        for v in env.values():
            if BASE_RE.match(v):
                return v.rstrip("/")
        return ""

    def _ready(self) -> bool:
        tid = self.world["tenant"]["id"]
        try:
            r = requests.get(f"{self.base}/{tid}/v2.0/.well-known/openid-configuration",
                             verify=str(self.ca_path), timeout=2)
            return r.status_code < 500
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if getattr(self, "_stderr", None):
            self._stderr.close()
        if not os.environ.get("CONFORMANCE_KEEP_EMULATOR_DIRS"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def diagnostics(self) -> str:
        try:
            err = self.stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            err = ""
        with self._lock:
            out = "\n".join(self.stdout_lines[-40:])
        return f"\n--- stdout ---\n{out}\n--- stderr ---\n{err}"

    # --- convenience -------------------------------------------------------------------------
    @property
    def ca(self) -> str:
        return str(self.ca_path)

    @property
    def tenant(self) -> str:
        return self.world["tenant"]["id"]

    @property
    def subscription(self) -> str:
        return self.world["subscriptions"][0]["id"]

    def app(self, name: str) -> dict:
        for a in self.world["applications"]:
            if a["name"] == name:
                return a
        raise KeyError(name)

    def user(self, upn: str) -> dict:
        for u in self.world["users"]:
            if u["upn"] == upn:
                return u
        raise KeyError(upn)

    def group(self, name: str) -> dict:
        for g in self.world["groups"]:
            if g["name"] == name:
                return g
        raise KeyError(name)

    def session(self) -> requests.Session:
        s = requests.Session()
        s.verify = self.ca
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment override a
        # session's verify; machines here set them, so ignore the environment.
        s.trust_env = False
        return s

    # --- admin API (/_emulator/...) ----------------------------------------------------------
    def admin(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, f"{self.base}/_emulator/{path.lstrip('/')}",
                                verify=self.ca, timeout=10, **kw)

    def counters(self) -> Any:
        r = self.admin("GET", "counters")
        r.raise_for_status()
        return r.json()

    def request_log(self) -> list[dict]:
        r = self.admin("GET", "requests")
        r.raise_for_status()
        body = r.json()
        if isinstance(body, dict):
            for key in ("requests", "value", "items", "log"):
                if isinstance(body.get(key), list):
                    return body[key]
        return body

    def add_fault(self, path_regex: str, method: str, status: int, count: int = 1,
                  retry_after: int | None = None) -> requests.Response:
        """Adds a "fail the next `count` matching requests" rule: GET the fault configuration,
        append the rule, PUT it back (PUT replaces the whole configuration)."""
        rule = {"path": path_regex, "method": method, "status": status, "count": count}
        if retry_after is not None:
            rule["retryAfter"] = retry_after
        current = self.admin("GET", "faults")
        config = current.json() if current.status_code == 200 else {}
        config.pop("stormRemainingSeconds", None)
        config["rules"] = [r for r in config.get("rules", []) if r.get("count", 0) > 0] + [rule]
        return self.admin("PUT", "faults", json=config)


def log_entry_fields(entry: dict) -> tuple[str, str, int]:
    """(method, path-with-query, status) of one request-log entry, whatever the key spelling."""
    method = entry.get("method") or entry.get("verb") or ""
    path = entry.get("path") or entry.get("uri") or entry.get("url") or ""
    q = entry.get("query")
    if isinstance(q, str) and q and "?" not in path:
        path = f"{path}?{q}"
    status = entry.get("status") or entry.get("statusCode") or entry.get("status_code") or 0
    return str(method).upper(), str(path), int(status)

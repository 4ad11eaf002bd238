#!/usr/bin/env bash
# Conformance suite entry point: official Azure SDKs and the openai client against keyless-emulator.
#
#   bash tests/conformance/run.sh [extra pytest args]
#
# 1. creates tests/conformance/.venv (python3 -m venv, or virtualenv if venv is unavailable) and
#    installs the exact pins of requirements.txt (re-installs only when requirements.txt changes);
# 2. builds the emulator: cargo build -p keyless-emulator (target/debug/keyless-emulator);
# 3. runs pytest. Exits non-zero on any failure, including "no tests collected" (pytest exit 5).
#
# Environment: PYTHON (default python3), CONFORMANCE_SKIP_BUILD=1 to reuse an existing binary,
# KEYLESS_EMULATOR_BIN to point at another binary, AZURE_SPECS_DIR (default ../shared/azure-specs
# beside the repo root), CONFORMANCE_REPORT_DIR for the replay report (default: a fresh temp dir).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="${PYTHON:-python3}"
VENV="$HERE/.venv"
REQ="$HERE/requirements.txt"

log() { printf '[conformance] %s\n' "$*" >&2; }

# --- 1. virtualenv ---------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtualenv at $VENV"
  if ! "$PY" -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    log "python3 -m venv unavailable; using virtualenv"
    "$PY" -m pip install --quiet --user virtualenv
    "$PY" -m virtualenv --quiet "$VENV"
  fi
fi
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]; then
  log "installing pinned requirements"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
  echo "$WANT" > "$STAMP"
fi

# --- 2. emulator -----------------------------------------------------------------------------
if [ -z "${KEYLESS_EMULATOR_BIN:-}" ]; then
  if [ "${CONFORMANCE_SKIP_BUILD:-0}" != "1" ]; then
    log "building keyless-emulator (cargo build -p keyless-emulator)"
    (cd "$ROOT" && cargo build -p keyless-emulator)
  fi
  export KEYLESS_EMULATOR_BIN="$ROOT/target/debug/keyless-emulator"
fi
[ -x "$KEYLESS_EMULATOR_BIN" ] || { log "emulator binary not found: $KEYLESS_EMULATOR_BIN"; exit 1; }

# --- 3. specs + report location --------------------------------------------------------------
export AZURE_SPECS_DIR="${AZURE_SPECS_DIR:-$(cd "$ROOT/.." && pwd)/shared/azure-specs}"
[ -f "$AZURE_SPECS_DIR/README.md" ] || { log "azure specs not found at $AZURE_SPECS_DIR"; exit 1; }
if [ -z "${CONFORMANCE_REPORT_DIR:-}" ]; then
  CONFORMANCE_REPORT_DIR="$(mktemp -d "${TMPDIR:-/tmp}/keyless-conformance.XXXXXX")"
  export CONFORMANCE_REPORT_DIR
fi
log "replay report: $CONFORMANCE_REPORT_DIR/replay-report.md"

# --- 4. pytest -------------------------------------------------------------------------------
cd "$HERE"
set +e
"$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  log "pytest collected no tests: failing"
  exit 1
fi
exit "$rc"

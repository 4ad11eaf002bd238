"""Replays every spec example named in ../shared/azure-specs/README.md (see replay.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

import replay
from conftest import secret_credential
from emulator import Emulator

EXAMPLES = replay.ordered_examples()

# Emulator defects found by the replay (see FINDINGS.md); strict, so a fix flips them to failures.
# Emulator defects still open (FINDINGS.md), as strict xfails: fixed ones are removed from here.
KNOWN_DEFECTS: dict[str, str] = {}


def _param(example: str):
    name = Path(example).name
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_DEFECTS[name])] if name in KNOWN_DEFECTS else []
    return pytest.param(example, id=name, marks=marks)


@pytest.fixture(scope="module")
def replay_ctx(world, request):
    emu = Emulator(world, name="replay").start()
    request.addfinalizer(emu.stop)
    return replay.Ctx(emu, secret_credential(emu))


@pytest.fixture(scope="module")
def spec_index():
    return replay.index_examples()


def test_readme_lists_examples():
    assert len(EXAMPLES) >= 40, EXAMPLES


@pytest.mark.parametrize("example", [_param(e) for e in EXAMPLES])
def test_replay_example(example, replay_ctx, spec_index):
    try:
        row = replay.replay(example, replay_ctx, spec_index)
    except Exception as e:  # a prerequisite or the transport failed: still a row in the report
        row = replay.Row(example, "?", "-", "-", "fail", f"{type(e).__name__}: {e}"[:400])
    known = KNOWN_DEFECTS.get(Path(example).name)
    if known and row.result == "fail":
        row.why = f"{row.why} [known emulator defect, {known.split(':')[0]}]"
    replay.REPORT.add(row)
    if row.result == "skip":
        pytest.skip(row.why)
    assert row.result == "pass", f"{row.request} -> {row.status}: {row.why}"


def test_compare_shape_rules():
    """The replay's comparison itself: names and JSON types, recursively; values ignored."""
    ex = {"id": "x", "n": 1, "ok": True, "props": {"a": [{"b": "c"}]}, "tags": {"Owner": "me"}, "maybe": None}
    assert replay.compare_shape(ex, {"id": "y", "n": 2.5, "ok": False, "props": {"a": [{"b": "d"}, {}]},
                                     "tags": {"other": "v"}, "maybe": 3, "extra": 1}) == []
    problems = replay.compare_shape(ex, {"id": 1, "n": 1, "ok": True, "props": {"a": [{}]}, "tags": {}})
    assert problems == ["$.id: example has string, emulator has number",
                        "$.props.a[0].b: missing",
                        "$.maybe: missing"]
    # nested empty arrays are a value difference; an empty top-level list is not comparable
    assert replay.compare_shape({"p": {"a": [1]}}, {"p": {"a": []}}) == []
    assert replay.compare_shape({"value": [{"id": "x"}]}, {"value": []}) == [
        "$.value: example list is non-empty, emulator's is empty"]

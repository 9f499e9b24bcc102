"""A body that means two things proves nothing: duplicate keys and NaN/Infinity.

``json.loads`` keeps the last of two equal keys and accepts ``NaN``/``Infinity``; other readers
keep the first key or refuse the text. A PASSED body that also says FAILED under the same key,
or a body the snapshot would splice in as invalid JSON, is unreadable (retried, then API
trouble), never a pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkly_gate.models import load_session, loads
from checkly_gate.reports.snapshot import SnapshotError, load
from tests.canned import canned, result, session_body
from tests.tools import clean_env

SID = str(uuid.uuid4())
GATE = (sys.executable, "-m", "checkly_gate")

#: Each verdict-bearing key with a value that would fail the session, and one that passes it.
_VERDICT_KEYS = {
    "status": ('"FAILED"', '"PASSED"'),
    "hasFailures": ("true", "false"),
    "hasErrors": ("true", "false"),
    "aborted": ("true", "false"),
    "resultType": ('"ATTEMPT"', '"FINAL"'),
    "testSessionId": ('"someone-else"', json.dumps(SID)),
}


def _passed_text() -> str:
    return json.dumps(session_body(SID, "PASSED", [result("a", "PASSED")]))


def _with_duplicate(text: str, key: str, where: str, first_wins: bool) -> str:
    """``text`` with ``key`` given a second value in the session object or the row object."""
    bad, good = _VERDICT_KEYS[key]
    pair = [bad, good] if first_wins else [good, bad]
    anchor = '"name": "a"' if where == "row" else '"name": "Canned session"'
    return text.replace(anchor, f'"{key}": {pair[0]}, "{key}": {pair[1]}, {anchor}', 1)


@settings(deadline=None, max_examples=60)
@given(
    key=st.sampled_from(sorted(_VERDICT_KEYS)),
    where=st.sampled_from(["session", "row"]),
    first_wins=st.booleans(),
)
def test_a_duplicate_key_anywhere_makes_the_body_unreadable(
    key: str, where: str, first_wins: bool
) -> None:
    text = _with_duplicate(_passed_text(), key, where, first_wins)
    for form in (text, text.encode(), text.encode("utf-16")):  # row by row, and the plain path
        with pytest.raises(ValueError, match="duplicate key"):
            load_session(form)
    with pytest.raises(ValueError, match="duplicate key"):
        loads(text)


@settings(deadline=None, max_examples=40)
@given(
    constant=st.sampled_from(["NaN", "Infinity", "-Infinity"]),
    where=st.sampled_from(["session", "row", "nested"]),
)
def test_nan_and_infinity_are_not_json(constant: str, where: str) -> None:
    anchor = '"name": "a"' if where == "row" else '"name": "Canned session"'
    value = constant if where != "nested" else f'{{"x": [1, {constant}]}}'
    text = _passed_text().replace(anchor, f'"responseTime": {value}, {anchor}', 1)
    for form in (text, text.encode(), text.encode("utf-16")):
        with pytest.raises(ValueError):
            load_session(form)


def test_a_snapshot_with_a_duplicate_key_is_refused() -> None:
    with pytest.raises(SnapshotError):
        load('{"tool": "checkly-gate", "exitCode": 1, "exitCode": 0, "sessions": []}')


@pytest.mark.parametrize(
    "name, text",
    [
        ("status FAILED then PASSED", _with_duplicate(_passed_text(), "status", "session", True)),
        ("row FAILED then PASSED", _with_duplicate(_passed_text(), "status", "row", True)),
        ("another session's id first", _with_duplicate(_passed_text(), "testSessionId", "", True)),
        ("NaN in a row", _passed_text().replace('"name": "a"', '"responseTime": NaN, "name": "a"')),
    ],
)
def test_the_cli_never_passes_an_ambiguous_body(name: str, text: str, tmp_path: Path) -> None:
    """The real CLI against a server answering such a body on every path: never exit 0, and the
    snapshot it writes is JSON that any reader takes (no NaN spliced in)."""

    def handler(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        return 200, {"Content-Type": "application/json"}, text.encode()

    snapshot = tmp_path / "out.json"
    with canned(handler) as url:  # type: ignore[arg-type]
        proc = subprocess.run(
            [*GATE, "wait", SID, "--api-url", url, "--timeout", "4", "--json", str(snapshot)],
            env={**clean_env(), "CHECKLY_API_KEY": "cu_test", "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 6, (name, proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    json.loads(snapshot.read_text("utf-8"), parse_constant=lambda c: pytest.fail(c))

"""``report`` re-judges the stored bodies and never trusts what the file claims (issue 18.6);
every report is written for every body the gate judged, in any JSON encoding (issue 19.6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkly_gate.reports import snapshot
from tests import bodies
from tests.canned import Answer, canned, json_answer, result, session_body
from tests.test_hostile_api import assert_no_traceback, gate
from tests.tools import clean_env

SID = str(uuid.uuid4())


def _snapshot(body: Any, **top: Any) -> dict[str, Any]:
    entry = {"sessionId": SID, "stop": "final", "outcome": "passed", "exitCode": 0, "body": body}
    entry.update(top.pop("entry", {}))
    data = {
        "tool": "checkly-gate",
        "schemaVersion": 1,
        "outcome": "passed",
        "exitCode": 0,
        "reason": "all good",
        "signal": None,
        "sessions": [entry] if body is not None or "entry" in top else [],
    }
    data.update(top)
    return data


def report(tmp: Path, data: Any, *extra: str) -> subprocess.CompletedProcess[str]:
    path = tmp / f"{uuid.uuid4()}.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    cmd = [sys.executable, "-m", "checkly_gate", "report", str(path), *extra]
    env = {**clean_env(), "NO_COLOR": "1"}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, cwd=tmp)


PASSED_BODY = session_body(SID, "PASSED", [result("ok", status="PASSED", hasFailures=False)])
FAILED_BODY = session_body(SID, "FAILED", [result("bad")])


def test_a_failed_body_claiming_exit_0_fails(tmp_path: Path) -> None:
    proc = report(tmp_path, _snapshot(FAILED_BODY))
    assert proc.returncode == 1, proc.stdout + proc.stderr


def test_a_passed_body_is_green_again(tmp_path: Path) -> None:
    proc = report(tmp_path, _snapshot(PASSED_BODY, outcome="failed", exitCode=1))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("signal", [-128, 0, 1000, 2.0, "2", True])
def test_a_signal_outside_the_documented_set_is_refused(tmp_path: Path, signal: Any) -> None:
    proc = report(tmp_path, _snapshot(PASSED_BODY, signal=signal))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "signal" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("code", [256, -1, 9, 127, 129 + 200, 1.0, "0", False])
def test_an_exit_code_outside_the_documented_set_is_refused(tmp_path: Path, code: Any) -> None:
    proc = report(tmp_path, _snapshot(PASSED_BODY, exitCode=code))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "exitCode" in proc.stderr


@pytest.mark.parametrize("outcome", ["passed", "interrupted", None, "timed-out", "bogus"])
def test_a_snapshot_without_a_session_is_never_green(tmp_path: Path, outcome: Any) -> None:
    proc = report(tmp_path, _snapshot(None, outcome=outcome, exitCode=0))
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_stored_signal_is_kept_as_it_is_never_greener(tmp_path: Path) -> None:
    proc = report(tmp_path, _snapshot(PASSED_BODY, signal=15, exitCode=143))
    assert proc.returncode == 143, proc.stdout + proc.stderr


def test_a_stored_stop_before_the_end_is_kept(tmp_path: Path) -> None:
    proc = report(tmp_path, _snapshot(PASSED_BODY, entry={"stop": "deadline"}))
    assert proc.returncode == 4, proc.stdout + proc.stderr


def test_the_kind_of_a_stored_body_decides_how_it_is_read(tmp_path: Path) -> None:
    """A cancelled check session that also carries ``testSessionId`` stays a check session."""
    body = {
        "checkSessionId": SID,
        "testSessionId": SID,
        "status": "CANCELLED",
        "stoppedAt": "2025-01-01T12:00:05.000Z",
        "results": [],
    }
    proc = report(tmp_path, _snapshot(body, entry={"kind": "check"}))
    assert proc.returncode == 3, proc.stdout + proc.stderr


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "dir", "huge"])
def test_only_a_bounded_regular_file_is_read(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "snap"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path = Path("/dev/zero")
    elif kind == "dir":
        path.mkdir()
    else:
        with open(path, "wb") as handle:
            handle.truncate(snapshot_limit() + 1)  # sparse: no disk used
    cmd = [sys.executable, "-m", "checkly_gate", "report", str(path)]
    proc = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def snapshot_limit() -> int:
    from checkly_gate.commands.report import MAX_SNAPSHOT_BYTES

    return MAX_SNAPSHOT_BYTES


OUTCOMES = st.sampled_from(["passed", "failed", "error", "interrupted", "timed-out", None, "x"])
CODES = st.one_of(st.sampled_from([0, 1, 2, 3, 4, 130, 143, None]), st.integers(-300, 300))
STOPS = st.sampled_from(["final", "final", "final", "deadline", "interrupted", "api-error"])


@st.composite
def snapshots(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[bodies.Case, str]], dict]:
    cases = draw(st.lists(bodies.sessions(), min_size=0, max_size=3))
    stops = [draw(STOPS) for _ in cases]
    policy = {"failOnFlaky": draw(st.booleans()), "failOnDegraded": draw(st.booleans())}
    entries = [
        {
            "sessionId": case.requested_id,
            "stop": stop,
            "outcome": draw(OUTCOMES),
            "exitCode": draw(CODES),
            "kind": draw(st.sampled_from(["test", None])),
            "body": case.body,
        }
        for case, stop in zip(cases, stops, strict=True)
    ]
    data = {
        "tool": "checkly-gate",
        "schemaVersion": 1,
        "outcome": draw(OUTCOMES),
        "exitCode": draw(CODES),
        "signal": draw(st.sampled_from([None, None, 2, 15, -128])),
        "policy": policy,
        "sessions": entries,
    }
    return data, list(zip(cases, stops, strict=True)), policy


def _proven(pairs: list[tuple[bodies.Case, str]], policy: dict, signal: Any) -> bool:
    return (
        bool(pairs)
        and signal is None
        and all(
            bodies.provably_passed(
                case, stop == "final", policy["failOnFlaky"], policy["failOnDegraded"]
            )
            for case, stop in pairs
        )
    )


@settings(deadline=None, max_examples=400)
@given(snapshots())
def test_report_is_green_only_when_the_bodies_prove_a_pass(drawn: Any) -> None:
    data, pairs, policy = drawn
    try:
        run = snapshot.load(json.dumps(data))
    except snapshot.SnapshotError:
        return  # refused: exit 2
    if run.verdict.exit_code == 0:
        assert _proven(pairs, policy, data["signal"]), data


@settings(
    deadline=None,
    max_examples=12,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(snapshots())
def test_the_real_report_command_is_green_only_on_proof(tmp_path: Path, drawn: Any) -> None:
    data, pairs, policy = drawn
    proc = report(tmp_path, data)
    assert "Traceback" not in proc.stderr
    if proc.returncode == 0:
        assert _proven(pairs, policy, data["signal"]), data


# --- 19.6: every report, whatever encoding the body came in ---------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8-sig", "utf-16-be"])
def test_every_report_is_written_for_a_body_in_any_json_encoding(
    tmp_path: Path, encoding: str
) -> None:
    sid = str(uuid.uuid4())
    body = session_body(sid, "PASSED", [result("café ✓ 🚀", status="PASSED", hasFailures=False)])
    raw = json.dumps(body, ensure_ascii=False).encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):
        raw = ("\ufeff" + json.dumps(body, ensure_ascii=False)).encode(encoding)  # with a BOM

    def handler(method: str, path: str, headers: dict[str, str]) -> Answer:
        if path.endswith("/completion"):
            return json_answer({"message": "Not Found"}, status=404)
        return 200, {"Content-Type": "application/json"}, raw

    with canned(handler) as url:
        proc, outputs = gate(url, "wait", sid, tmp=tmp_path)
    assert_no_traceback(proc)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = {"out.json", "junit.xml", "summary.md", "report.env", "gh-output", "gh-summary"}
    assert expected <= set(outputs), sorted(outputs)
    stored_bytes = (tmp_path / "out.json").read_bytes()
    stored = json.loads(stored_bytes.decode("utf-8"))  # valid UTF-8 JSON, no BOM
    assert not stored_bytes.startswith(b"\xef\xbb\xbf")
    assert stored["sessions"][0]["body"] == body
    assert "café ✓ 🚀" in outputs["summary.md"] and "café ✓ 🚀" in outputs["junit.xml"]
    again = report(tmp_path, stored_bytes.decode("utf-8"))
    assert again.returncode == 0, again.stdout + again.stderr

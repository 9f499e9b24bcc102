"""End to end: hostile and generated session bodies through the real `checkly-gate wait`.

The simulator serves each body verbatim (a static-body scenario, ``Scenario.body``); the gate
runs as a subprocess over real HTTP with a short deadline. Exit 0 must imply the independent
rule of ``tests.bodies.provably_passed``, and the exit code must be what the verdict says for
that body (judged as ended, or as cut off by the deadline while it settled or still ran).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from hypothesis import Phase, given, settings

from checkly_gate.config import Options
from checkly_gate.follow import PollSettings
from checkly_gate.models import Stop
from checkly_gate.simulator import Scenario, Simulator
from checkly_gate.simulator.model import ScenarioError, parse_scenario
from checkly_gate.verdict import judge_session
from tests import junit_dialect
from tests.bodies import Case, provably_passed, sessions
from tests.fakes import row, session_body, wait_for
from tests.test_verdict_property import observe
from tests.tools import clean_env, unfolded

KEY = "cu_proof_" + "k3y" * 6
DOCUMENTED_EXITS = {0, 1, 3, 4, 5, 6}
OTHER = "7d4e1b2a-3c5d-4e6f-8a9b-0c1d2e3f4a5b"


def wait(sim: Simulator, session_id: str, timeout: float = 3) -> subprocess.CompletedProcess[str]:
    """The real CLI: tiny poll interval, plain polling; only a body that is still running,
    settling or unreadable waits for the (short) deadline."""
    cmd = [
        sys.executable,
        "-m",
        "checkly_gate",
        "wait",
        session_id,
        "--api-url",
        sim.url,
        "--timeout",
        str(timeout),
        "--poll-interval",
        "0.05",
        "--no-long-poll",
        "--no-details",
    ]
    env = {**clean_env(), "CHECKLY_API_KEY": KEY, "NO_COLOR": "1"}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)


def wait_all(
    serve: Callable[..., Simulator], cases: list[Case], timeout: float | list[float] = 3
) -> list[Any]:
    """Serve every body from one simulator (one session id each) and run the CLI on all of
    them at once, so a dozen runs take about as long as one. ``timeout``: one for all, or one
    per case."""
    sim = serve(sessions={c.requested_id: Scenario(name="static", body=c.body) for c in cases})
    timeouts = timeout if isinstance(timeout, list) else [timeout] * len(cases)
    with ThreadPoolExecutor(max_workers=len(cases)) as pool:
        return list(pool.map(lambda c, t: wait(sim, c.requested_id, t), cases, timeouts))


def possible_exits(case: Case) -> set[int]:
    """What the verdict says for this body: read at its end, or at the deadline (still running,
    still settling, or never readable as a session)."""
    return {
        judge_session(observe(case, stop)).outcome.value for stop in (Stop.FINAL, Stop.DEADLINE)
    }


# --- the issue's four bodies --------------------------------------------------------------------

SID = str(uuid.UUID("0b9f3c3e-5a4b-4c2d-9e1f-1234567890ab"))
ISSUE_BODIES = {
    "failure flag, unknown status": (
        session_body("PASSED", [row("a"), row("b", "TIMED_OUT", hasFailures=True)]),
        1,
        "b (eu-west-1; an assertion failed)",
    ),
    "every FINAL row cancelled": (
        session_body("PASSED", [row("a", "CANCELLED"), row("b", "CANCELLED")]),
        3,
        "a (eu-west-1; status CANCELLED)",
    ),
    # Exit 0 after the 5 s settle window before; now re-read for 5 s, then unfinished: exit 1.
    "FINAL row still RUNNING": (
        session_body("PASSED", [row("a"), row("b", "RUNNING", "FINAL")]),
        1,
        "b (eu-west-1; FINAL row with status RUNNING)",
    ),
    # A misrouted or cached answer is retried (it may be a passing glitch), never judged: at the
    # deadline the session was never read, exit 6.
    "another session's body": (
        session_body("PASSED", [row("a")], sid=OTHER),
        6,
        f"testSessionId '{OTHER}'",
    ),
}
# The first three end on their own (the settle window is 5 s); the last one runs to its deadline.
ISSUE_TIMEOUTS = [15.0, 15.0, 15.0, 2.0]


def test_the_issue_bodies_are_never_green_through_the_cli(serve) -> None:
    cases = [Case(str(uuid.uuid4()), body) for body, _, _ in ISSUE_BODIES.values()]
    for case in cases[:3]:
        case.body["testSessionId"] = case.requested_id
    for (name, (_, code, named)), proc in zip(
        ISSUE_BODIES.items(), wait_all(serve, cases, timeout=ISSUE_TIMEOUTS), strict=True
    ):
        assert proc.returncode == code, (name, proc.stdout, proc.stderr)
        assert named in unfolded(proc.stdout), (name, proc.stdout)
        assert KEY not in proc.stdout + proc.stderr


def test_a_final_row_still_running_is_re_read_then_fails(serve) -> None:
    """The real gate (in process, real HTTP) with a short settle window: the session is re-read
    as often as the window allows, then the FINAL row that never finished fails it; cut off by
    the deadline while settling, it is timed out. Never exit 0."""
    body = session_body("PASSED", [row("a"), row("b", "RUNNING", "FINAL")])
    sim = serve(Scenario(name="static", body=body))
    options = Options(session_ids=(SID,), api_key=KEY, api_url=sim.url, timeout=10)
    settle = PollSettings(poll_interval=0.05, long_poll=False, settle_window=0.3)
    out = io.StringIO()
    run = wait_for(options, out, settings=settle)
    assert run.verdict.exit_code == 1, out.getvalue()
    assert "b (eu-west-1; FINAL row with status RUNNING)" in run.verdict.reason
    assert len([r for r in sim.requests if r.status == 200]) == 4  # read, then 3 settle tries
    short = Options(session_ids=(SID,), api_key=KEY, api_url=sim.url, timeout=1)
    settle = PollSettings(poll_interval=0.05, long_poll=False, settle_window=30)
    run = wait_for(short, io.StringIO(), settings=settle)
    assert run.verdict.exit_code == 4
    assert "before the results of the PASSED session settled" in run.verdict.reason


# --- generated bodies ---------------------------------------------------------------------------


def test_a_sample_of_generated_bodies_through_the_cli(serve) -> None:
    cases: list[Case] = []

    @settings(
        max_examples=10,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
    )
    @given(sessions())
    def collect(case: Case) -> None:
        if all(c.requested_id != case.requested_id for c in cases):
            cases.append(case)

    collect()
    assert len(cases) >= 6
    for case, proc in zip(cases, wait_all(serve, cases), strict=True):
        shown = json.dumps(case.body)[:2000]
        assert proc.returncode in DOCUMENTED_EXITS, (shown, proc.stdout, proc.stderr)
        assert proc.returncode in possible_exits(case), (shown, proc.stdout, proc.stderr)
        if proc.returncode == 0:
            assert provably_passed(case, True, False, False), shown
        assert "Traceback" not in proc.stderr


# --- the simulator's static body ----------------------------------------------------------------


def test_a_static_body_is_served_verbatim(serve) -> None:
    odd = {"testSessionId": OTHER, "status": "PASSED", "results": ["x", {"status": None}]}
    running = {"testSessionId": SID, "status": "RUNNING"}
    sim = serve(sessions={SID: Scenario(name="odd", body=odd), OTHER: Scenario(body=running)})
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=sim.url, headers=headers) as http:
        for path in (f"/v1/test-sessions/{SID}", f"/v1/test-sessions/{SID}/completion"):
            answer = http.get(path, params={"maxWaitSeconds": "1"})
            assert answer.status_code == 200 and answer.json() == odd
        assert http.get(f"/v1/test-sessions/{OTHER}/completion?maxWaitSeconds=1").status_code == 408
        assert http.post(f"/v1/test-sessions/{SID}/cancel", json={}).status_code == 204
        assert http.get(f"/v1/test-sessions/{SID}").json() == odd  # a static body never changes
        assert (
            http.get(f"/v1/test-sessions/{SID}", headers={"Authorization": "x"}).status_code == 401
        )


def test_a_static_body_from_yaml_and_its_validation() -> None:
    scenario = parse_scenario({"body": {"status": "PASSED", "results": []}}, source="s.yml")
    assert scenario.body == {"status": "PASSED", "results": []}
    with pytest.raises(ScenarioError, match="either 'body' or 'checks'"):
        parse_scenario({"body": {}, "checks": [{"name": "a"}]}, source="s.yml")
    with pytest.raises(ScenarioError, match="'body' must be plain JSON data"):
        Scenario(body={"when": object()})


# --- one rule for a failed attempt ----------------------------------------------------------------


def _timed_out_attempt_body(sid: str) -> tuple[dict[str, Any], str]:
    """A PASSED session whose one run passed on its FINAL row after an ATTEMPT row with status
    ``TIMED_OUT`` and no flag (no ``hasFailures``/``hasErrors``): (body, the attempt's id)."""
    attempt = row("Checkout", "TIMED_OUT", "ATTEMPT")
    assert not (attempt["hasFailures"] or attempt["hasErrors"] or attempt["aborted"])
    body = session_body("PASSED", [attempt, row("Checkout")], sid=sid)
    return body, attempt["testSessionResultId"]


@pytest.mark.parametrize("policy", [(), ("--fail-on-flaky",)])
def test_a_timed_out_attempt_is_a_failed_attempt_in_every_output(
    serve, tmp_path, policy: tuple[str, ...]
) -> None:
    """The real CLI over real HTTP, details on: the verdict calls the run flaky, JUnit writes the
    attempt's ``flakyFailure``, the evidence fetch asks for the attempt's assets and the summary
    names them; under ``--fail-on-flaky`` the JUnit testcase fails by that policy, exit 1."""
    sid = str(uuid.uuid4())
    body, attempt_id = _timed_out_attempt_body(sid)
    sim = serve(sessions={sid: Scenario(name="static", body=body)})
    cmd = [sys.executable, "-m", "checkly_gate", "wait", sid, "--api-url", sim.url]
    cmd += ["--timeout", "20", "--poll-interval", "0.05", "--no-long-poll"]
    cmd += ["--junit", "j.xml", "--summary", "s.md", *policy]
    env = {**clean_env(), "CHECKLY_API_KEY": KEY, "NO_COLOR": "1"}
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False
    )
    assert proc.returncode == (1 if policy else 0), proc.stdout + proc.stderr
    assert "1 flaky" in proc.stdout
    xml = (tmp_path / "j.xml").read_text()
    (case,) = _check_cases(xml)
    retries = case.findall("flakyFailure")
    assert len(retries) == 1 and retries[0].get("message", "").startswith("attempt 1 failed")
    failures = case.findall("failure")
    if policy:
        assert len(failures) == 1 and "--fail-on-flaky" in failures[0].get("message", "")
    else:
        assert failures == []
    assert junit_dialect.problems(xml) == []
    assert junit_dialect.gitlab_red(xml) is junit_dialect.dorny_red(xml) is bool(policy)
    assets = [r.path for r in sim.requests if r.path.endswith("/assets")]
    assert assets == [f"/v1/test-sessions/{sid}/results/{attempt_id}/assets"]
    summary = (tmp_path / "s.md").read_text()
    assert "evidence in Checkly: log \\(of the failed attempts; open the result\\)" in summary


def _check_cases(xml: str) -> list[ET.Element]:
    """The testcases of check runs (the gate's own testcase left out)."""
    cases = ET.fromstring(xml).iter("testcase")
    return [c for c in cases if c.get("classname") not in (None, "checkly.gate")]

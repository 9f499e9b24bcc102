"""Tests of the local Checkly API simulator (HTTP behaviour, timeline, faults, scenarios)."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from checkly_gate.simulator import (
    BUILTIN_SCENARIOS,
    CheckSpec,
    Fault,
    RecordedRequest,
    Scenario,
    ScenarioError,
    Simulator,
    load_scenario,
)
from checkly_gate.simulator.timeline import NAMESPACE, SessionTimeline

KEY = "test-key-123"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "scenarios.md"
REQUIRED_SESSION = {"testSessionId", "testSessionLink", "name", "status", "errorGroupIds"}
REQUIRED_SESSION |= {"startedAt", "timeElapsed"}
REQUIRED_RESULT = {
    "testSessionResultId",
    "testSessionResultLink",
    "checkType",
    "errorGroupIds",
    "status",
    "hasErrors",
    "hasFailures",
    "isDegraded",
    "aborted",
}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def sid() -> str:
    return str(uuid.uuid4())


def one_check(**kwargs: object) -> Scenario:
    """A scenario with one check "A" at eu-west-1, customised by ``kwargs`` of CheckSpec."""
    check = CheckSpec("A", **kwargs)  # type: ignore[arg-type]
    return Scenario(name="one", checks=(check,))


def client(sim: Simulator, **headers: str) -> httpx.Client:
    base = {"Authorization": f"Bearer {KEY}"}
    base.update(headers)
    return httpx.Client(base_url=sim.url, headers=base, timeout=10)


def session_path(session_id: str, completion: bool = False) -> str:
    return f"/v1/test-sessions/{session_id}" + ("/completion" if completion else "")


def timeline(scenario: Scenario, speed: float = 1.0) -> SessionTimeline:
    """A timeline created at monotonic time 0, queried with virtual times."""
    return SessionTimeline(sid(), scenario, speed=speed, mono=0.0, wall=1_700_000_000.0)


def rows(tl: SessionTimeline, at: float) -> list[tuple[str, str]]:
    body = json.loads(tl.body(at))
    return [(r["resultType"], r["status"]) for r in body["results"]]


# --------------------------------------------------------------------------- auth & routing


def test_auth_missing_wrong_and_account(serve) -> None:
    sim = serve(one_check(), account_id="acc-1")
    s = sid()
    with httpx.Client(base_url=sim.url) as anonymous:
        r = anonymous.get(session_path(s))
    assert r.status_code == 401
    assert r.json()["statusCode"] == 401 and r.json()["error"] == "Unauthorized"
    with client(sim, Authorization="Bearer wrong") as c:
        r = c.get(session_path(s))
    assert r.status_code == 401 and "wrong" not in r.text
    with client(sim) as c:
        assert c.get(session_path(s)).status_code == 403
        r = c.get(session_path(s), headers={"X-Checkly-Account": "other"})
        assert r.status_code == 403 and r.json()["error"] == "Forbidden"
        r = c.get(session_path(s), headers={"X-Checkly-Account": "acc-1"})
        assert r.status_code == 200 and r.json()["testSessionId"] == s


def test_routing_uuid_validation_404_405(serve) -> None:
    sim = serve(one_check())
    with client(sim) as c:
        r = c.get("/v1/test-sessions/not-a-uuid")
        assert r.status_code == 400
        assert r.json() == {
            "statusCode": 400,
            "error": "Bad Request",
            "message": "testSessionId must be a UUID",
        }
        assert c.get("/v1/test-sessions/not-a-uuid/completion").status_code == 400
        upper = sid().upper()
        assert c.get(session_path(upper)).json()["testSessionId"] == upper.lower()
        r = c.get("/v1/checks")
        assert r.status_code == 404 and r.json()["statusCode"] == 404
        r = c.post(session_path(sid()), json={})
        assert r.status_code == 405 and r.headers["allow"] == "GET"
        assert c.get(session_path(sid())).status_code == 200  # keep-alive survived the POST


def test_invalid_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="speed"):
        Simulator(speed=0)
    with pytest.raises(ValueError, match="UUID"):
        Simulator(sessions={"nope": BUILTIN_SCENARIOS["passing"]})


# --------------------------------------------------------------------------- timeline


def test_timeline_pending_attempts_final_deterministic() -> None:
    tl = timeline(one_check(start=1.0, duration=3.0, failed_attempts=2, outcome="passed"))
    body = json.loads(tl.body(0.5))
    assert body["status"] == "RUNNING" and body["stoppedAt"] is None
    (row,) = body["results"]
    assert (row["resultType"], row["status"], row["startedAt"]) == ("PENDING", "RUNNING", None)
    assert row["responseTime"] is None and row["stoppedAt"] is None
    pending_id = row["testSessionResultId"]
    started = json.loads(tl.body(1.5))["results"][0]["startedAt"]
    assert started == "2023-11-14T22:13:21.000Z"  # wall 1_700_000_000 + 1 s
    assert rows(tl, 2.1) == [("ATTEMPT", "FAILED"), ("PENDING", "RUNNING")]
    assert rows(tl, 3.1) == [("ATTEMPT", "FAILED"), ("ATTEMPT", "FAILED"), ("PENDING", "RUNNING")]
    final = json.loads(tl.body(4.0))
    assert final["status"] == "PASSED"
    assert final["stoppedAt"] == "2023-11-14T22:13:24.000Z" and final["timeElapsed"] == 4000
    assert [r["resultType"] for r in final["results"]] == ["ATTEMPT", "ATTEMPT", "FINAL"]
    attempt1, attempt2, last = final["results"]
    assert last["testSessionResultId"] == pending_id  # the PENDING row became the FINAL row
    assert len({attempt1["testSessionResultId"], attempt2["testSessionResultId"], pending_id}) == 3
    assert attempt1["hasFailures"] is True and attempt1["errorGroupIds"]
    assert (attempt1["startedAt"], attempt1["stoppedAt"]) == (
        "2023-11-14T22:13:21.000Z",
        "2023-11-14T22:13:22.000Z",
    )
    assert last["startedAt"] == "2023-11-14T22:13:23.000Z"
    assert (last["status"], last["hasFailures"], last["errorGroupIds"]) == ("PASSED", False, [])
    assert final["errorGroupIds"] == attempt1["errorGroupIds"]
    assert tl.final_mono == 4.0 and tl.is_final(4.0) and not tl.is_final(3.99)


@pytest.mark.parametrize(
    ("outcome", "status", "flag", "session"),
    [
        ("passed", "PASSED", None, "PASSED"),
        ("failed", "FAILED", "hasFailures", "FAILED"),
        ("error", "FAILED", "hasErrors", "FAILED"),
        ("degraded", "PASSED", "isDegraded", "PASSED"),
        ("cancelled", "CANCELLED", "aborted", "CANCELLED"),
    ],
)
def test_outcomes(outcome: str, status: str, flag: str | None, session: str) -> None:
    body = json.loads(timeline(one_check(outcome=outcome)).body(2.0))
    assert body["status"] == session
    (row,) = body["results"]
    assert row["status"] == status and row["resultType"] == "FINAL"
    flags = {k: row[k] for k in ("hasErrors", "hasFailures", "isDegraded", "aborted")}
    assert flags == {k: k == flag for k in flags}
    assert len(row["errorGroupIds"]) == (1 if outcome in ("failed", "error") else 0)
    assert body["errorGroupIds"] == row["errorGroupIds"]


def test_locations_stagger_order_ids_and_row_shape() -> None:
    scenario = Scenario(
        checks=(
            CheckSpec("B", "SSL", ("eu-west-1", "us-east-1"), start=0, duration=1, stagger=1),
            CheckSpec("A", "GRPC", ("ap-south-1",), duration=0.5, check_id=None),
        )
    )
    tl = timeline(scenario)
    body = json.loads(tl.body(1.5))
    assert [(r["name"], r["runLocation"], r["resultType"]) for r in body["results"]] == [
        ("B", "eu-west-1", "FINAL"),
        ("B", "us-east-1", "PENDING"),
        ("A", "ap-south-1", "FINAL"),
    ]
    first = body["results"][0]
    assert set(first) >= REQUIRED_RESULT and "sequenceId" in first
    assert first["checkType"] == "SSL" and body["results"][2]["checkType"] == "GRPC"
    assert first["checkId"] == str(uuid.uuid5(NAMESPACE, "check/B"))
    assert body["results"][2]["checkId"] is None
    assert first["testSessionResultLink"] == (
        f"https://app.checklyhq.com/test-sessions/{tl.session_id}/results/"
        f"{first['testSessionResultId']}"
    )
    assert ISO.match(first["startedAt"]) and ISO.match(first["stoppedAt"])
    assert isinstance(first["responseTime"], int)
    assert set(body) >= REQUIRED_SESSION and "simulatorScenario" in body
    assert body["testSessionLink"] == f"https://app.checklyhq.com/test-sessions/{tl.session_id}"
    assert set(body["metadata"]) == {
        "environment",
        "repoUrl",
        "commitId",
        "commitOwner",
        "commitMessage",
        "branchName",
    }
    # same session id -> same result ids (deterministic), another id -> different ids
    again = SessionTimeline(tl.session_id, scenario, speed=1.0, mono=0.0, wall=0.0)
    other = timeline(scenario)
    ids = [r["testSessionResultId"] for r in body["results"]]
    assert [r["testSessionResultId"] for r in json.loads(again.body(1.5))["results"]] == ids
    assert not set(ids) & {r["testSessionResultId"] for r in json.loads(other.body(1.5))["results"]}


def test_speed_scales_scenario_times() -> None:
    tl = timeline(one_check(start=2.0, duration=8.0), speed=10)
    assert rows(tl, 0.19) == [("PENDING", "RUNNING")]
    assert tl.final_mono == pytest.approx(1.0)
    assert json.loads(tl.body(1.0))["timeElapsed"] == 1000


def test_cancelled_end_deterministic() -> None:
    scenario = Scenario(
        end="cancelled",
        cancel_at=2.0,
        checks=(
            CheckSpec("done", duration=1.0),
            CheckSpec("mid", start=1.0, duration=3.0, failed_attempts=2),
            CheckSpec("later", start=3.0, duration=1.0),
        ),
    )
    tl = timeline(scenario)
    assert json.loads(tl.body(1.99))["status"] == "RUNNING"
    body = json.loads(tl.body(2.0))
    assert body["status"] == "CANCELLED" and body["timeElapsed"] == 2000
    by_name = {(r["name"], r["resultType"]): r for r in body["results"]}
    assert by_name[("done", "FINAL")]["status"] == "PASSED"
    mid = by_name[("mid", "FINAL")]
    assert (mid["status"], mid["aborted"], mid["stoppedAt"]) == (
        "CANCELLED",
        True,
        body["stoppedAt"],
    )
    assert [r["resultType"] for r in body["results"] if r["name"] == "mid"] == ["ATTEMPT", "FINAL"]
    later = by_name[("later", "FINAL")]
    assert (later["status"], later["startedAt"], later["aborted"]) == ("CANCELLED", None, True)
    # everything finished before cancel_at -> the session ends normally
    early = Scenario(end="cancelled", cancel_at=5.0, checks=(CheckSpec("x", outcome="failed"),))
    assert json.loads(timeline(early).body(1.0))["status"] == "FAILED"


def test_never_ends_deterministic() -> None:
    tl = timeline(Scenario(end="never", checks=(CheckSpec("x", duration=1, failed_attempts=1),)))
    body = json.loads(tl.body(1000.0))
    assert body["status"] == "RUNNING" and body["stoppedAt"] is None
    assert [r["resultType"] for r in body["results"]] == ["ATTEMPT", "PENDING"]
    assert tl.final_mono is None and not tl.is_final(1e9)


def test_final_lag_and_status_override_deterministic() -> None:
    scenario = Scenario(
        final_lag=1.5,
        status_override="PASSED",
        checks=(CheckSpec("a", duration=1), CheckSpec("b", duration=2, outcome="failed")),
    )
    tl = timeline(scenario)
    body = json.loads(tl.body(2.0))
    assert body["status"] == "PASSED" and body["stoppedAt"] is not None  # override wins
    assert rows(tl, 2.0) == [("FINAL", "PASSED"), ("PENDING", "RUNNING")]
    assert rows(tl, 3.49) == [("FINAL", "PASSED"), ("PENDING", "RUNNING")]
    assert rows(tl, 3.5) == [("FINAL", "PASSED"), ("FINAL", "FAILED")]
    assert json.loads(tl.body(3.5))["timeElapsed"] == 2000


def test_empty_scenario_is_immediately_final() -> None:
    body = json.loads(timeline(Scenario()).body(0.0))
    assert (body["status"], body["results"], body["timeElapsed"]) == ("PASSED", [], 0)


def test_large_body_is_fast_and_valid() -> None:
    tl = timeline(BUILTIN_SCENARIOS["large"])
    best = min(_timed(lambda: tl.body(2.0)) for _ in range(3))
    assert best < 0.05
    body = json.loads(tl.body(10.0))
    assert body["status"] == "PASSED"
    assert sum(r["resultType"] == "FINAL" for r in body["results"]) == 3000
    assert tl.final_time <= 5.0


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --------------------------------------------------------------------------- over HTTP


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def test_progression_over_http(serve) -> None:
    # one try fails at 0.3 s (ATTEMPT row), the retry fails too at 0.6 s (FINAL)
    sim = serve(one_check(start=0.0, duration=0.6, failed_attempts=1, outcome="failed"))
    s = sid()
    with client(sim) as c:
        first = c.get(session_path(s)).json()
        assert first["status"] == "RUNNING"
        assert [r["resultType"] for r in first["results"]] == ["PENDING"]
        t0 = sim.requests[0].at
        sleep_until(t0 + 0.45)
        mid = c.get(session_path(s)).json()
        assert [r["resultType"] for r in mid["results"]] == ["ATTEMPT", "PENDING"]
        assert mid["status"] == "RUNNING" and sim.final_at(s) is None
        sleep_until(t0 + 0.65)
        done = c.get(session_path(s)).json()
    assert done["status"] == "FAILED"
    assert [(r["resultType"], r["status"]) for r in done["results"]] == [
        ("ATTEMPT", "FAILED"),
        ("FINAL", "FAILED"),
    ]
    assert sim.final_at(s) == pytest.approx(t0 + 0.6)


def test_completion_long_poll_returns_promptly_when_final(serve) -> None:
    sim = serve(one_check(duration=3.0), speed=5)  # final 0.6 s after the first request
    s = sid()
    with client(sim) as c:
        r = c.get(session_path(s, completion=True), params={"maxWaitSeconds": 5})
        answered = time.monotonic()
    assert r.status_code == 200 and r.json()["status"] == "PASSED"
    final_at = sim.final_at(s)
    assert final_at is not None
    assert final_at - sim.requests[0].at == pytest.approx(0.6, abs=0.05)
    assert 0 <= answered - final_at < 0.25
    assert sim.requests[0].query == {"maxWaitSeconds": "5"}


def test_completion_times_out_with_408(serve) -> None:
    sim = serve(BUILTIN_SCENARIOS["never-ends"])
    s = sid()
    with client(sim) as c:
        start = time.monotonic()
        r = c.get(session_path(s, completion=True), params={"maxWaitSeconds": 1})
        took = time.monotonic() - start
        assert r.status_code == 408
        assert r.json()["statusCode"] == 408 and r.json()["error"] == "Request Timeout"
        assert 0.95 <= took < 1.6
        body = c.get(session_path(s)).json()
    assert body["status"] == "RUNNING" and sim.final_at(s) is None
    assert {r["resultType"] for r in body["results"]} <= {"PENDING", "ATTEMPT"}


@pytest.mark.parametrize("value", ["0", "31", "1.5", "abc", "", "-1"])
def test_completion_rejects_bad_max_wait(serve, value: str) -> None:
    sim = serve(one_check())
    with client(sim) as c:
        r = c.get(session_path(sid(), completion=True), params={"maxWaitSeconds": value})
    assert r.status_code == 400 and "maxWaitSeconds" in r.json()["message"]


def test_completion_default_wait_answers_final_session(serve) -> None:
    sim = serve(Scenario())  # no checks: final at once
    with client(sim) as c:
        r = c.get(session_path(sid(), completion=True))
    assert r.status_code == 200 and r.json()["status"] == "PASSED"


def test_completion_disabled_gives_404(serve) -> None:
    sim = serve(BUILTIN_SCENARIOS["no-long-poll"])
    s = sid()
    with client(sim) as c:
        r = c.get(session_path(s, completion=True), params={"maxWaitSeconds": 1})
        assert r.status_code == 404 and r.json()["statusCode"] == 404
        assert c.get(session_path(s)).status_code == 200


def test_not_found_seconds(serve) -> None:
    scenario = Scenario(not_found_seconds=0.4, checks=(CheckSpec("x", duration=0.2),))
    sim = serve(scenario)
    s = sid()
    with client(sim) as c:
        r = c.get(session_path(s))
        assert r.status_code == 404 and s in r.json()["message"]
        assert c.get(session_path(s, completion=True)).status_code == 404
        time.sleep(0.45)
        body = c.get(session_path(s, completion=True), params={"maxWaitSeconds": 2}).json()
    assert body["status"] == "PASSED"
    final_at = sim.final_at(s)
    assert final_at is not None and final_at - sim.requests[0].at == pytest.approx(0.6, abs=0.05)


def test_sessions_have_own_clock_and_scenario(serve) -> None:
    special = sid()
    failing = Scenario(checks=(CheckSpec("x", duration=0.1, outcome="failed"),))
    sim = serve(Scenario(checks=(CheckSpec("y", duration=0.1),)), sessions={special: failing})
    with client(sim) as c:
        c.get(session_path(special))
        c.get(session_path(special.upper()))
        time.sleep(0.15)
        assert c.get(session_path(special)).json()["status"] == "FAILED"
        late = sid()
        assert c.get(session_path(late)).json()["status"] == "RUNNING"  # its clock starts now
        time.sleep(0.15)
        assert c.get(session_path(late)).json()["status"] == "PASSED"


def test_requests_are_recorded(serve) -> None:
    sim = serve(
        one_check(),
    )
    s = sid()
    before = time.monotonic()
    with client(sim, **{"X-Trace": "abc"}) as c:
        c.get(session_path(s), params={"a": "1"})
        c.get("/v1/test-sessions/bad")
        c.delete(session_path(s))
    recorded = sim.requests
    assert [(r.method, r.path, r.status) for r in recorded] == [
        ("GET", session_path(s), 200),
        ("GET", "/v1/test-sessions/bad", 400),
        ("DELETE", session_path(s), 405),
    ]
    first = recorded[0]
    assert isinstance(first, RecordedRequest)
    assert first.query == {"a": "1"}
    assert first.headers["authorization"] == f"Bearer {KEY}" and first.headers["x-trace"] == "abc"
    assert before <= recorded[0].at <= recorded[1].at <= recorded[2].at <= time.monotonic()
    recorded.clear()  # a copy: the simulator's list is untouched
    assert len(sim.requests) == 3


# --------------------------------------------------------------------------- faults


def fault_sim(serve, *faults: Fault, scenario: Scenario | None = None) -> Simulator:
    base = scenario or one_check(duration=0.2)
    return serve(Scenario(checks=base.checks, faults=faults))


def test_fault_reset_is_a_transport_error(serve) -> None:
    sim = fault_sim(serve, Fault("reset", requests=(1, 1)))
    s = sid()
    with client(sim) as c:
        with pytest.raises(httpx.TransportError):
            c.get(session_path(s))
        assert c.get(session_path(s)).status_code == 200
    assert [r.status for r in sim.requests] == [None, 200]


def test_fault_garbage_and_truncated(serve) -> None:
    sim = fault_sim(serve, Fault("garbage", requests=(1, 1)), Fault("truncated", requests=(2, 2)))
    s = sid()
    with client(sim) as c:
        garbage = c.get(session_path(s))
        truncated = c.get(session_path(s))
        whole = c.get(session_path(s))
    for r in (garbage, truncated):
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        with pytest.raises(ValueError):
            json.loads(r.content)
    assert truncated.content.startswith(b'{"testSessionId":"' + s.encode())
    assert len(whole.content) // 2 - 50 <= len(truncated.content) <= len(whole.content) // 2 + 50
    assert whole.json()["testSessionId"] == s


def test_fault_rate_limit_seconds_and_http_date(serve) -> None:
    sim = fault_sim(
        serve,
        Fault("rate-limit", requests=(1, 2), retry_after=1),
        Fault("rate-limit", requests=(3, 3), retry_after="http-date", retry_after_seconds=4),
        Fault("rate-limit", requests=(4, 4), retry_after="none"),
    )
    s = sid()
    with client(sim) as c:
        answers = [c.get(session_path(s)) for _ in range(5)]
    assert [r.status_code for r in answers] == [429, 429, 429, 429, 200]
    assert answers[0].headers["retry-after"] == "1"
    assert answers[0].json()["statusCode"] == 429
    assert answers[0].json()["error"] == "Too Many Requests"
    when = parsedate_to_datetime(answers[2].headers["retry-after"])
    ahead = (when - datetime.now(timezone.utc)).total_seconds()
    assert 2.0 <= ahead <= 4.5
    assert "retry-after" not in answers[3].headers


def test_fault_server_errors_html_and_not_a_session(serve) -> None:
    sim = fault_sim(
        serve,
        Fault("server-error", requests=(1, 1)),
        Fault("server-error", requests=(2, 2), status=500, body="html", retry_after=3),
        Fault("html", requests=(3, 3)),
        Fault("not-a-session", requests=(4, 4)),
        Fault("not-a-session", requests=(5, 5), body="list"),
    )
    with client(sim) as c:
        r = [c.get(session_path(sid())) for _ in range(5)]
    assert r[0].status_code == 503
    assert r[0].json() == {
        "statusCode": 503,
        "error": "Service Unavailable",
        "message": "Service Unavailable",
    }
    assert r[1].status_code == 500 and r[1].headers["content-type"] == "text/html"
    assert "500 Internal Server Error" in r[1].text and r[1].headers["retry-after"] == "3"
    assert r[2].status_code == 502 and r[2].headers["content-type"] == "text/html"
    assert "<title>502 Bad Gateway</title>" in r[2].text
    assert r[3].status_code == 200 and r[3].json() == {"ok": True}
    assert r[4].status_code == 200 and r[4].json() == [{"ok": True}]


def test_fault_unauthorized_echo(serve) -> None:
    sim = serve(BUILTIN_SCENARIOS["unauthorized"])
    with client(sim) as c:
        answers = [c.get(session_path(sid())) for _ in range(3)]
    for r in answers:
        assert r.status_code == 401 and f"Bearer {KEY}" in r.json()["message"]


def test_fault_selection_every_and_endpoint_filter(serve) -> None:
    sim = fault_sim(
        serve,
        Fault("server-error", every=3, endpoint="session"),
        Fault("reset", requests=(1, 1), endpoint="completion"),
    )
    s = sid()
    codes: list[int | str] = []
    with client(sim) as c:
        for n in range(7):
            completion = n == 3 or n == 5
            try:
                r = c.get(session_path(s, completion), params={"maxWaitSeconds": 1})
                codes.append(r.status_code)
            except httpx.TransportError:
                codes.append("reset")
            if n == 0:
                time.sleep(0.25)  # let the session finish so completion answers at once
    # session requests are n=0,1,2,4,6 -> the 3rd of them (n=2) fails; completion n=3 resets
    assert codes == [200, 200, 503, "reset", 200, 200, 200]


def test_faulted_request_starts_the_clock(serve) -> None:
    sim = fault_sim(serve, Fault("rate-limit", requests=(1, 1)), scenario=one_check(duration=0.3))
    s = sid()
    with client(sim) as c:
        assert c.get(session_path(s)).status_code == 429
        time.sleep(0.35)
        assert c.get(session_path(s)).json()["status"] == "PASSED"
    final_at = sim.final_at(s)
    assert final_at is not None and final_at - sim.requests[0].at == pytest.approx(0.3, abs=0.03)


def test_cancelled_over_http(serve) -> None:
    sim = serve(BUILTIN_SCENARIOS["cancelled"], speed=10)
    s = sid()
    with client(sim) as c:
        body = c.get(session_path(s, True), params={"maxWaitSeconds": 3}).json()
    assert body["status"] == "CANCELLED"
    finals = [r for r in body["results"] if r["resultType"] == "FINAL"]
    assert len(finals) == 9
    assert sum(r["status"] == "CANCELLED" and r["aborted"] for r in finals) == 5
    assert body["timeElapsed"] == 400


def test_settling_over_http(serve) -> None:
    sim = serve(BUILTIN_SCENARIOS["settling"], speed=5)  # final at 1.2 s, last row at 1.5 s
    s = sid()
    with client(sim) as c:
        body = c.get(session_path(s, True), params={"maxWaitSeconds": 3}).json()
        assert body["status"] == "PASSED"
        assert [r["name"] for r in body["results"] if r["resultType"] == "PENDING"] == [
            "TLS certificate"
        ]
        sleep_until(sim.requests[0].at + 1.55)
        settled = c.get(session_path(s)).json()
    assert all(r["resultType"] != "PENDING" for r in settled["results"])
    assert settled["stoppedAt"] == body["stoppedAt"]


# --------------------------------------------------------------------------- lifecycle


def test_stop_with_inflight_long_poll_returns_quickly() -> None:
    sim = Simulator(BUILTIN_SCENARIOS["never-ends"], api_key=KEY).start()
    outcome: dict[str, object] = {}

    def wait() -> None:
        with client(sim) as c:
            try:
                outcome["status"] = c.get(session_path(sid(), True)).status_code
            except httpx.TransportError as exc:
                outcome["status"] = type(exc).__name__

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.5)
    start = time.monotonic()
    sim.stop()
    # Generous for a loaded CI machine (four test workers beside act and pip): a stop that
    # waited for the long-poll would take its full 30 s.
    assert time.monotonic() - start < 2.5
    thread.join(3)
    assert not thread.is_alive()
    assert outcome["status"] in (503, "ReadError", "RemoteProtocolError")
    sim.stop()  # idempotent
    with pytest.raises(httpx.TransportError), httpx.Client(timeout=1) as c:
        c.get(sim.url + session_path(sid()))


def test_serve_forever_stops_from_another_thread() -> None:
    sim = Simulator(Scenario(), api_key=KEY)
    url = sim.url
    thread = threading.Thread(target=sim.serve_forever)
    thread.start()
    with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}) as c:
        assert c.get(url + session_path(sid())).status_code == 200
    sim.stop()
    thread.join(2)
    assert not thread.is_alive()


def test_context_manager_and_log_callback() -> None:
    lines: list[str] = []
    with Simulator(Scenario(), api_key=KEY, log=lines.append) as sim:
        assert re.match(r"^http://127\.0\.0\.1:\d+$", sim.url)
        with client(sim) as c:
            c.get("/nope")
    assert lines == ["GET /nope -> 404"]


# --------------------------------------------------------------------------- scenarios


def test_every_builtin_loads_and_renders() -> None:
    expected = {
        "passing",
        "failing",
        "cancelled",
        "rate-limited",
        "unreliable-network",
        "unauthorized",
        "never-ends",
        "slow-start",
        "no-long-poll",
        "settling",
        "trigger-demo",
        "large",
    }
    assert expected <= set(BUILTIN_SCENARIOS)
    statuses = {}
    for name in expected:
        scenario = load_scenario(name)
        assert scenario is BUILTIN_SCENARIOS[name] and scenario.name == name
        tl = timeline(scenario)
        body = json.loads(tl.body(tl.visible_mono + 60))
        assert set(body) >= REQUIRED_SESSION
        assert all(set(r) >= REQUIRED_RESULT for r in body["results"])
        statuses[name] = body["status"]
    assert statuses["passing"] == statuses["large"] == statuses["settling"] == "PASSED"
    assert statuses["failing"] == "FAILED"
    assert statuses["cancelled"] == "CANCELLED"
    assert statuses["never-ends"] == "RUNNING"
    assert statuses["trigger-demo"] == "FAILED"


def test_builtin_passing_shape() -> None:
    scenario = BUILTIN_SCENARIOS["passing"]
    tl = timeline(scenario)
    assert 11.0 <= tl.final_time <= 13.0
    body = json.loads(tl.body(20.0))
    finals = [r for r in body["results"] if r["resultType"] == "FINAL"]
    assert 8 <= len(finals) <= 10
    assert {"API", "BROWSER", "MULTI_STEP", "PLAYWRIGHT", "URL", "TCP", "SSL"} <= {
        r["checkType"] for r in finals
    }
    assert sum(r["isDegraded"] for r in finals) == 1
    assert [r["resultType"] for r in body["results"]].count("ATTEMPT") == 1
    finish_times = sorted(r["stoppedAt"] for r in finals)
    assert len(set(finish_times)) == len(finish_times)  # runs finish one by one
    failing = json.loads(timeline(BUILTIN_SCENARIOS["failing"]).body(20.0))
    failing_finals = [r for r in failing["results"] if r["resultType"] == "FINAL"]
    assert sum(r["hasErrors"] for r in failing_finals) == 1
    assert sum(r["hasFailures"] for r in failing_finals) == 1


def test_load_scenario_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "description: custom\n"
        "metadata: {branchName: feature/x}\n"
        "checks:\n"
        "  - {name: One, location: us-west-1, duration: 2, outcome: degraded, check_id: null}\n"
        "faults:\n"
        "  - {kind: rate-limit, requests: 4, retry_after: http-date}\n",
        encoding="utf-8",
    )
    scenario = load_scenario(str(path))
    assert scenario.name == "mine"
    assert scenario.metadata["branchName"] == "feature/x"
    assert scenario.metadata["environment"] == "simulated"
    (check,) = scenario.checks
    assert (check.locations, check.duration, check.outcome, check.check_id) == (
        ("us-west-1",),
        2.0,
        "degraded",
        None,
    )
    assert scenario.faults == (Fault("rate-limit", requests=(4, 4), retry_after="http-date"),)


def test_docs_example_is_a_valid_scenario(tmp_path: Path) -> None:
    text = DOCS.read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert example is not None
    path = tmp_path / "example.yml"
    path.write_text(example.group(1), encoding="utf-8")
    scenario = load_scenario(str(path))
    assert scenario.name == "my-scenario" and len(scenario.checks) == 3
    assert len(scenario.faults) == 4 and scenario.checks[1].failed_attempts == 1
    assert scenario.no_match_status == 404 and scenario.checks[0].tags == ("web", "smoke")
    assert scenario.checks[1].error_message is not None
    keys = ("not_found_seconds", "final_lag", "status_override", "stagger", "every")
    keys += ("tags", "error_message", "no_match_status", "ambiguous", "error-group", "cancel")
    for key in keys:
        assert f"`{key}`" in text
    for name in ("trigger-demo", "sim.triggered", "sim.cancelled", "TriggeredSession"):
        assert f"`{name}" in text


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("checks: []\ncolour: red\n", "unknown key 'colour'"),
        ("checks:\n  - {name: a, durration: 1}\n", "checks[0]: unknown key 'durration'"),
        ("faults:\n  - {kind: reset, ratio: 2}\n", "faults[0]: unknown key 'ratio'"),
        ("metadata: {branch: x}\n", "metadata.branch"),
        ("checks:\n  - {name: a, duration: abc}\n", "checks[0]: 'duration' must be a number"),
        ("checks:\n  - {name: a, failed_attempts: 1.5}\n", "'failed_attempts' must be an integer"),
        ("checks:\n  - {name: a, outcome: maybe}\n", "'outcome' must be one of"),
        ("checks:\n  - {duration: 1}\n", "missing key 'name'"),
        ("checks:\n  - {name: a, location: x, locations: [y]}\n", "'location' or 'locations'"),
        ("completion_endpoint: yes please\n", "'completion_endpoint' must be true or false"),
        ("end: sometime\n", "'end' must be one of"),
        ("checks: nope\n", "'checks' must be a list"),
        ("faults:\n  - {kind: teleport}\n", "'kind' must be one of"),
        ("faults:\n  - {kind: reset, status: 500}\n", "'status' is not used by fault kind"),
        ("faults:\n  - {kind: html, requests: [3, 1]}\n", "'requests' must be >= 3"),
        ("faults:\n  - {kind: html, requests: [1, 2], every: 2}\n", "not both"),
        ("- just\n- a list\n", "expected a mapping"),
        ("checks: [\n", "invalid YAML"),
        ("", "is empty"),
    ],
)
def test_load_scenario_errors(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(str(path))
    message = str(info.value)
    assert needle in message and "\n" not in message
    assert str(path) in message


def test_load_scenario_unknown_name_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"unknown scenario 'nope'.*passing"):
        load_scenario("nope")
    missing = tmp_path / "missing.yml"
    with pytest.raises(ScenarioError, match="cannot read scenario file") as info:
        load_scenario(str(missing))
    assert "\n" not in str(info.value)


def test_dataclasses_are_frozen_and_validated() -> None:
    check = CheckSpec("a", locations=["x", "y"])  # type: ignore[arg-type]
    assert check.locations == ("x", "y")
    with pytest.raises(AttributeError):
        check.name = "b"  # type: ignore[misc]
    with pytest.raises(ScenarioError, match="'duration'"):
        CheckSpec("a", duration=-1)
    with pytest.raises(ScenarioError, match="'kind'"):
        Fault("nope")
    assert hash(Scenario(checks=(check,))) == hash(Scenario(checks=(check,)))

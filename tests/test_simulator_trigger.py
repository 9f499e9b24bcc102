"""Tests of the simulator's trigger, cancel and error-group endpoints (and check tags)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from checkly_gate.simulator import (
    BUILTIN_SCENARIOS,
    CheckSpec,
    Fault,
    Scenario,
    ScenarioError,
    Simulator,
    TriggeredSession,
    load_scenario,
)
from checkly_gate.simulator.builtin import CHECK_TAGS
from checkly_gate.simulator.timeline import NAMESPACE, SessionTimeline, check_id_of

KEY = "test-key-123"
TRIGGER = "/v1/test-sessions/trigger"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NO_MATCH = {"statusCode": 404, "error": "Not Found", "message": "No matching checks were found."}
# checks of the builtin "passing" timeline and their tags
PASSING = {c.name: c for c in BUILTIN_SCENARIOS["passing"].checks}


def sid() -> str:
    return str(uuid.uuid4())


def client(sim: Simulator, **headers: str) -> httpx.Client:
    base = {"Authorization": f"Bearer {KEY}"}
    base.update(headers)
    return httpx.Client(base_url=sim.url, headers=base, timeout=10)


def trigger(sim: Simulator, body: object, **headers: str) -> httpx.Response:
    with client(sim, **headers) as c:
        return c.post(TRIGGER, json=body)


def tags(*groups: str) -> dict[str, object]:
    """A trigger body selecting ``--tags`` style groups: "api,critical" is one AND-group."""
    return {"name": "t", "target": {"matchTags": [g.split(",") for g in groups]}}


def names(body: dict) -> set[str]:
    return {r["name"] for r in body["results"]}


def cancel_path(session_id: str) -> str:
    return f"/v1/test-sessions/{session_id}/cancel"


def group_path(group_id: str) -> str:
    return f"/v1/test-session-error-groups/{group_id}"


def quick(*checks: CheckSpec, **kwargs: object) -> Scenario:
    return Scenario(name="quick", checks=checks, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- selection


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        (("web",), {"Status page", "Homepage", "Search suite"}),
        (("api,critical",), {"Login API", "Checkout flow"}),
        (("critical,api",), {"Login API", "Checkout flow"}),  # order inside a group is free
        (
            ("api,critical", "infra"),
            {"Login API", "Checkout flow", "Database port", "TLS certificate"},
        ),
        (("checkout", "search"), {"Checkout flow", "Search suite"}),
        (("web,smoke,critical",), {"Homepage"}),
    ],
)
def test_trigger_by_tags_and_or(serve, groups: tuple[str, ...], expected: set[str]) -> None:
    sim = serve(BUILTIN_SCENARIOS["passing"])
    r = trigger(sim, tags(*groups))
    assert r.status_code == 201
    assert names(r.json()) == expected


def test_trigger_by_check_id_or_tags(serve) -> None:
    sim = serve(BUILTIN_SCENARIOS["passing"])
    product = check_id_of(PASSING["Product API"])
    assert product == str(uuid.uuid5(NAMESPACE, "check/Product API"))
    r = trigger(sim, {"target": {"checkId": [product.upper()]}})
    assert r.status_code == 201
    body = r.json()
    assert names(body) == {"Product API"}
    assert {row["checkId"] for row in body["results"]} == {product}  # the id the results show
    r = trigger(sim, {"target": {"checkId": [product], "matchTags": [["checkout"]]}})
    assert names(r.json()) == {"Product API", "Checkout flow"}
    r = trigger(sim, {"target": {"checkId": [sid()]}})
    assert r.status_code == 404 and r.json() == NO_MATCH


@pytest.mark.parametrize(
    "body",
    [{}, {"name": "all"}, {"target": {}}, {"target": {"matchTags": [], "checkId": []}}],
)
def test_trigger_without_target_runs_every_check(serve, body: dict) -> None:
    sim = serve(BUILTIN_SCENARIOS["passing"])
    r = trigger(sim, body)
    assert r.status_code == 201
    assert names(r.json()) == set(PASSING)
    assert len(r.json()["results"]) == 9  # Homepage runs in two locations


def test_trigger_run_location_overrides_locations(serve) -> None:
    sim = serve(BUILTIN_SCENARIOS["passing"])
    r = trigger(sim, {**tags("web"), "runLocation": "ap-south-1"})
    results = r.json()["results"]
    assert sorted(row["name"] for row in results) == ["Homepage", "Search suite", "Status page"]
    assert {row["runLocation"] for row in results} == {"ap-south-1"}
    r = trigger(sim, tags("web"))  # without runLocation every location of a check runs
    assert sorted(
        row["runLocation"] for row in r.json()["results"] if row["name"] == "Homepage"
    ) == [
        "eu-west-1",
        "us-east-1",
    ]


@pytest.mark.parametrize("status", [404, 403])
def test_trigger_no_match(serve, status: int) -> None:
    scenario = replace(BUILTIN_SCENARIOS["passing"], no_match_status=status)
    sim = serve(scenario)
    r = trigger(sim, tags("web,api"))  # no check is both
    assert r.status_code == status
    assert r.json() == {
        "statusCode": status,
        "error": "Not Found" if status == 404 else "Forbidden",
        "message": "No matching checks were found.",
    }
    assert trigger(sim, tags("nope")).status_code == status
    assert sim.triggered == []


# --------------------------------------------------------------------------- the session


def test_trigger_creates_a_session_that_progresses(serve) -> None:
    scenario = quick(
        CheckSpec("A", tags=("web",), duration=0.2),
        CheckSpec("B", tags=("api",), duration=0.2, outcome="failed"),
        CheckSpec("C", tags=("web", "slow"), start=0.1, duration=0.3),
    )
    sim = serve(scenario)
    request = {
        "name": "PR #12",
        "runLocation": "us-west-1",
        "target": {"matchTags": [["web"]]},
        "metadata": {"branchName": "feature/x", "environment": "staging", "github": {"x": 1}},
        "retryStrategy": None,
    }
    before = time.monotonic()
    with client(sim) as c:
        r = c.post(TRIGGER, json=request)
        assert r.status_code == 201
        created = r.json()
        session_id = created["testSessionId"]
        assert uuid.UUID(session_id).version == 4
        assert created["name"] == "PR #12" and created["status"] == "RUNNING"
        assert created["timeElapsed"] == 0 and created["stoppedAt"] is None
        assert ISO.match(created["startedAt"])
        assert created["testSessionLink"].endswith(session_id)
        assert [(row["name"], row["resultType"]) for row in created["results"]] == [
            ("A", "PENDING"),
            ("C", "PENDING"),
        ]
        metadata = created["metadata"]
        assert metadata["branchName"] == "feature/x" and metadata["environment"] == "staging"
        assert metadata["repoUrl"] == "https://github.com/acme/webshop"  # the scenario's
        assert "github" not in metadata
        # its clock started at the trigger: the completion long-poll answers ~0.4 s later
        done = c.get(f"/v1/test-sessions/{session_id}/completion", params={"maxWaitSeconds": 5})
        assert done.status_code == 200
        body = done.json()
    assert body["status"] == "PASSED" and body["name"] == "PR #12"
    assert [(row["name"], row["resultType"]) for row in body["results"]] == [
        ("A", "FINAL"),
        ("C", "FINAL"),
    ]
    (entry,) = sim.triggered
    assert isinstance(entry, TriggeredSession)
    assert entry.session_id == session_id and entry.body == request
    assert before <= entry.at <= time.monotonic()
    final_at = sim.final_at(session_id)
    assert final_at is not None and final_at - entry.at == pytest.approx(0.4, abs=0.03)
    recorded = sim.requests[0]
    assert (recorded.method, recorded.path, recorded.status) == ("POST", TRIGGER, 201)
    assert recorded.body == request
    assert sim.requests[1].body is None  # a GET has no body


def test_triggered_is_a_copy_and_sessions_are_distinct(serve) -> None:
    sim = serve(BUILTIN_SCENARIOS["passing"])
    first = trigger(sim, tags("web")).json()["testSessionId"]
    second = trigger(sim, tags("web")).json()["testSessionId"]
    assert first != second
    entries = sim.triggered
    assert [e.session_id for e in entries] == [first, second]
    entries.clear()
    assert len(sim.triggered) == 2
    with pytest.raises(AttributeError):
        sim.triggered[0].session_id = "x"  # type: ignore[misc]


def test_trigger_not_found_seconds_applies_after_the_201(serve) -> None:
    # 404 for 1 s after the 201 (speed 1): wide enough that a busy machine still asks within it.
    sim = serve(BUILTIN_SCENARIOS["trigger-demo"], speed=1)
    with client(sim) as c:
        r = c.post(TRIGGER, json=tags("web"))
        assert r.status_code == 201 and r.json()["status"] == "RUNNING"
        session_id = r.json()["testSessionId"]
        assert c.get(f"/v1/test-sessions/{session_id}").status_code == 404
        time.sleep(1.3)
        assert c.get(f"/v1/test-sessions/{session_id}").status_code == 200


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"[1, 2]", "must be a JSON object"),
        (b"not json", "must be a JSON object"),
        (b"", "must be a JSON object"),
        (b'{"name": ""}', '"name"'),
        (b'{"runLocation": 5}', '"runLocation"'),
        (b'{"target": []}', '"target"'),
        (b'{"target": {"matchTags": ["web"]}}', "matchTags"),
        (b'{"target": {"checkId": "abc"}}', "checkId"),
        (b'{"environmentVariables": {"A": "1"}}', "environmentVariables"),
        (b'{"environmentVariables": [{"value": "1"}]}', "environmentVariables[0].key"),
        (b'{"metadata": {"branchName": 3}}', "metadata.branchName"),
    ],
)
def test_trigger_rejects_bad_bodies(serve, content: bytes, needle: str) -> None:
    sim = serve(BUILTIN_SCENARIOS["passing"])
    with client(sim) as c:
        r = c.post(TRIGGER, content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["statusCode"] == 400
    assert needle in r.json()["message"]
    assert sim.triggered == []


def test_trigger_environment_variables_limit(serve) -> None:
    sim = serve(BUILTIN_SCENARIOS["passing"])
    variables = [{"key": f"K{i}", "value": "v", "secret": False} for i in range(51)]
    r = trigger(sim, {"name": "x", "environmentVariables": variables})
    assert r.status_code == 400 and "50" in r.json()["message"]
    assert sim.triggered == []
    r = trigger(sim, {"name": "x", "environmentVariables": variables[:50]})
    assert r.status_code == 201 and len(sim.triggered) == 1


def test_trigger_accepts_a_chunked_body(serve) -> None:
    sim = serve(BUILTIN_SCENARIOS["passing"])
    payload = json.dumps(tags("checkout")).encode()
    with client(sim) as c:
        r = c.post(TRIGGER, content=iter([payload[:10], payload[10:]]))
        assert r.status_code == 201 and names(r.json()) == {"Checkout flow"}
        assert c.get(f"/v1/test-sessions/{sid()}").status_code == 200  # connection still usable


# --------------------------------------------------------------------------- faults


def test_rate_limited_trigger_creates_no_session(serve) -> None:
    scenario = replace(
        BUILTIN_SCENARIOS["passing"],
        faults=(Fault("rate-limit", requests=(1, 1), endpoint="trigger", retry_after=1),),
    )
    sim = serve(scenario)
    with client(sim) as c:
        assert c.get(f"/v1/test-sessions/{sid()}").status_code == 200  # not counted
        r = c.post(TRIGGER, json=tags("web"))
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        assert sim.triggered == []
        r = c.post(TRIGGER, json=tags("web"))
    assert r.status_code == 201
    assert [e.session_id for e in sim.triggered] == [r.json()["testSessionId"]]


def test_reset_trigger_creates_no_session(serve) -> None:
    scenario = replace(BUILTIN_SCENARIOS["passing"], faults=(Fault("reset", requests=(1, 1)),))
    sim = serve(scenario)
    with client(sim) as c, pytest.raises(httpx.TransportError):
        c.post(TRIGGER, json=tags("web"))
    assert sim.triggered == [] and sim.requests[0].status is None


def test_ambiguous_trigger_creates_the_session_and_answers_502(serve) -> None:
    scenario = replace(
        BUILTIN_SCENARIOS["passing"], faults=(Fault("ambiguous", endpoint="trigger"),)
    )
    sim = serve(scenario)
    with client(sim) as c:
        r = c.post(TRIGGER, json=tags("web"))
        assert r.status_code == 502 and r.headers["content-type"] == "text/html"
        assert "<title>502 Bad Gateway</title>" in r.text
        (entry,) = sim.triggered
        body = c.get(f"/v1/test-sessions/{entry.session_id}").json()  # it exists all the same
    assert names(body) == {"Status page", "Homepage", "Search suite"}
    assert sim.requests[0].status == 502


def test_ambiguous_cancel_cancels_and_answers_status(serve) -> None:
    scenario = quick(
        CheckSpec("A", duration=30), faults=(Fault("ambiguous", endpoint="cancel", status=504),)
    )
    sim = serve(scenario)
    s = sid()
    with client(sim) as c:
        c.get(f"/v1/test-sessions/{s}")
        assert c.post(cancel_path(s), json={}).status_code == 504
        assert c.get(f"/v1/test-sessions/{s}").json()["status"] == "CANCELLED"
    assert s in sim.cancelled


def test_cancel_fault_filter_leaves_the_session_running(serve) -> None:
    scenario = quick(CheckSpec("A", duration=30), faults=(Fault("rate-limit", endpoint="cancel"),))
    sim = serve(scenario)
    s = sid()
    with client(sim) as c:
        assert c.get(f"/v1/test-sessions/{s}").status_code == 200
        assert c.post(cancel_path(s), json={}).status_code == 429
        assert c.get(f"/v1/test-sessions/{s}").json()["status"] == "RUNNING"
    assert sim.cancelled == {}


# --------------------------------------------------------------------------- error groups


def test_error_group_of_a_failing_run(serve) -> None:
    scenario = quick(
        CheckSpec("Orders API", duration=0.2, failed_attempts=1, outcome="failed"),
        CheckSpec("Shop", "BROWSER", duration=0.1, outcome="error"),
        CheckSpec("Custom", duration=0.1, outcome="failed", error_message="boom: 42 != 43"),
        CheckSpec("Fine", duration=0.1),
    )
    sim = serve(scenario)
    with client(sim) as c:
        session = c.post(TRIGGER, json={}).json()["testSessionId"]
        body = c.get(f"/v1/test-sessions/{session}/completion", params={"maxWaitSeconds": 5}).json()
        rows = {(r["name"], r["resultType"]): r for r in body["results"]}
        attempt, final = rows[("Orders API", "ATTEMPT")], rows[("Orders API", "FINAL")]
        assert attempt["errorGroupIds"] == final["errorGroupIds"]  # same group for the tries
        assert rows[("Fine", "FINAL")]["errorGroupIds"] == []
        messages = {}
        for name in ("Orders API", "Shop", "Custom"):
            (group_id,) = rows[(name, "FINAL")]["errorGroupIds"]
            assert group_id in body["errorGroupIds"]
            r = c.get(group_path(group_id))
            assert r.status_code == 200
            group = r.json()
            messages[name] = group["cleanedErrorMessage"]
            assert group["id"] == group_id
            assert group["projectId"] is None and group["environments"] == []
            assert group["pwtMetadata"] is None and group["archivedUntilNextEvent"] is False
            cleaned = group["cleanedErrorMessage"]
            assert group["errorHash"] == hashlib.sha1(cleaned.encode()).hexdigest()
            raw = group["rawErrorMessage"]
            assert raw.startswith(cleaned) and len(raw) > len(cleaned)
            assert ISO.match(group["firstSeen"]) and ISO.match(group["lastSeen"])
            assert group["firstSeen"] <= group["lastSeen"]
        unknown = c.get(group_path(sid()))
        bad = c.get(group_path("not-a-uuid"))
    assert messages == {
        "Orders API": "expect(received).toBe(expected) — Expected: 200, Received: 503",
        "Shop": "Checkly internal error: browser crashed",
        "Custom": "boom: 42 != 43",
    }
    assert unknown.status_code == 404 and unknown.json()["statusCode"] == 404
    assert bad.status_code == 400


def test_error_group_is_unknown_until_a_row_shows_it() -> None:
    scenario = quick(CheckSpec("A", start=1.0, duration=1.0, outcome="failed"))
    tl = SessionTimeline(sid(), scenario, speed=1.0, mono=0.0, wall=1_700_000_000.0)
    (group_id,) = tl.error_group_ids()
    assert tl.error_group(group_id, 1.9) is None
    group = tl.error_group(group_id, 2.0)
    assert group is not None and group["firstSeen"] == "2023-11-14T22:13:22.000Z"
    assert tl.error_group(sid(), 5.0) is None


def test_error_group_fault_filter(serve) -> None:
    scenario = quick(
        CheckSpec("A", duration=0.05, outcome="failed"),
        faults=(Fault("server-error", endpoint="error-group", status=503),),
    )
    sim = serve(scenario)
    s = sid()
    with client(sim) as c:
        c.get(f"/v1/test-sessions/{s}")
        time.sleep(0.1)
        body = c.get(f"/v1/test-sessions/{s}").json()
        assert body["status"] == "FAILED"
        answers = [c.get(group_path(body["errorGroupIds"][0])) for _ in range(3)]
        assert c.get(f"/v1/test-sessions/{s}").status_code == 200
    assert [r.status_code for r in answers] == [503, 503, 503]


# --------------------------------------------------------------------------- cancel


def test_cancel_turns_the_session_cancelled(serve) -> None:
    scenario = quick(
        CheckSpec("done", duration=0.1),
        CheckSpec("running", duration=5.0, failed_attempts=4, outcome="failed"),
        CheckSpec("later", start=4.0, duration=1.0),
    )
    sim = serve(scenario)
    s = sid()
    with client(sim) as c:
        assert c.get(f"/v1/test-sessions/{s}").json()["status"] == "RUNNING"
        time.sleep(1.2)  # "running" has one failed ATTEMPT by now
        before = time.monotonic()
        r = c.post(cancel_path(s), json={})
        assert r.status_code == 204 and r.content == b""
        assert "content-type" not in r.headers
        body = c.get(f"/v1/test-sessions/{s}").json()
    assert body["status"] == "CANCELLED" and body["stoppedAt"] is not None
    assert 1100 <= body["timeElapsed"] <= 1500
    rows = [(r["name"], r["resultType"], r["status"], r["aborted"]) for r in body["results"]]
    assert rows == [
        ("done", "FINAL", "PASSED", False),
        ("running", "ATTEMPT", "FAILED", False),
        ("running", "FINAL", "CANCELLED", True),
        ("later", "FINAL", "CANCELLED", True),
    ]
    later = body["results"][-1]
    assert later["startedAt"] is None and later["stoppedAt"] == body["stoppedAt"]
    assert list(sim.cancelled) == [s]
    assert before <= sim.cancelled[s] <= time.monotonic()
    assert sim.final_at(s) == pytest.approx(sim.cancelled[s], abs=0.01)
    assert sim.requests[1].method == "POST" and sim.requests[1].body == {}


def test_cancel_wakes_a_waiting_long_poll(serve) -> None:
    sim = serve(BUILTIN_SCENARIOS["never-ends"])
    s = sid()
    outcome: dict[str, object] = {}

    def wait() -> None:
        with client(sim) as c:
            r = c.get(f"/v1/test-sessions/{s}/completion", params={"maxWaitSeconds": 10})
            outcome["status"] = r.json()["status"]
            outcome["at"] = time.monotonic()

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.3)
    with client(sim) as c:
        assert c.post(cancel_path(s), json={"sequenceId": [sid()]}).status_code == 204
    thread.join(3)
    assert not thread.is_alive()
    assert outcome["status"] == "CANCELLED"
    assert outcome["at"] - sim.cancelled[s] < 0.25  # type: ignore[operator]


def test_cancel_a_triggered_session_and_a_final_one(serve) -> None:
    sim = serve(quick(CheckSpec("slow", tags=("x",), duration=30), CheckSpec("fast", duration=0)))
    with client(sim) as c:
        slow = c.post(TRIGGER, json=tags("x")).json()["testSessionId"]
        fast = c.post(TRIGGER, json={"target": {"checkId": [check_id_of(CheckSpec("fast"))]}})
        fast_id = fast.json()["testSessionId"]
        assert fast.json()["status"] == "PASSED"
        assert c.post(cancel_path(slow), content=b"").status_code == 204  # no body is {}
        assert c.post(cancel_path(fast_id), json={}).status_code == 204
        assert c.get(f"/v1/test-sessions/{slow}").json()["status"] == "CANCELLED"
        assert c.get(f"/v1/test-sessions/{fast_id}").json()["status"] == "PASSED"  # too late
    assert set(sim.cancelled) == {slow, fast_id}


def test_cancel_unknown_and_bad_requests(serve) -> None:
    configured = sid()
    sim = serve(quick(CheckSpec("A", duration=30)), sessions={configured: quick(CheckSpec("B"))})
    s = sid()
    with client(sim) as c:
        unknown = c.post(cancel_path(s), json={})
        assert unknown.status_code == 404 and s in unknown.json()["message"]
        assert c.post(cancel_path("nope"), json={}).status_code == 400
        c.get(f"/v1/test-sessions/{s}")
        extra = c.post(cancel_path(s), json={"sequenceId": [sid()], "force": True})
        assert extra.status_code == 400 and '"force"' in extra.json()["message"]
        assert c.post(cancel_path(s), json={"sequenceId": []}).status_code == 400
        assert c.post(cancel_path(s), json=[]).status_code == 400
        assert c.get(f"/v1/test-sessions/{s}").json()["status"] == "RUNNING"
        # a session configured with its own scenario is known even before its first request
        assert c.post(cancel_path(configured), json={}).status_code == 204
        body = c.get(f"/v1/test-sessions/{configured}").json()
    assert body["status"] == "CANCELLED" and body["results"][0]["aborted"] is True
    assert list(sim.cancelled) == [configured]


def test_timeline_cancel_is_deterministic() -> None:
    session = sid()
    scenario = quick(CheckSpec("a", duration=1.0), CheckSpec("b", start=0.5, duration=3.0))
    tl = SessionTimeline(session, scenario, speed=2.0, mono=10.0, wall=1_700_000_000.0)
    cancelled = tl.cancel(10.5)  # 1 scenario second
    assert cancelled is not tl and cancelled.cancelled_at == pytest.approx(1.0)
    assert cancelled.final_mono == pytest.approx(10.5) and cancelled.final_status == "CANCELLED"
    body, original = json.loads(cancelled.body(11.0)), json.loads(tl.body(11.0))
    assert [r["testSessionResultId"] for r in body["results"]] == [
        r["testSessionResultId"] for r in original["results"]
    ]
    assert [r["status"] for r in body["results"]] == ["PASSED", "CANCELLED"]
    assert body["startedAt"] == original["startedAt"]
    assert tl.cancel(20.0) is tl  # already final: nothing changes
    never = SessionTimeline(session, BUILTIN_SCENARIOS["never-ends"], speed=1.0, mono=0.0, wall=0)
    stopped = never.cancel(100.0)
    done = json.loads(stopped.body(100.0))
    assert done["status"] == "CANCELLED" and done["timeElapsed"] == 100000
    assert {r["status"] for r in done["results"] if r["resultType"] == "FINAL"} == {"CANCELLED"}
    assert all(r["resultType"] != "PENDING" for r in done["results"])


# --------------------------------------------------------------------------- routing & auth


def test_method_routing(serve) -> None:
    sim = serve(BUILTIN_SCENARIOS["passing"])
    s = sid()
    with client(sim) as c:
        cases = [
            (c.get(TRIGGER), "POST"),
            (c.put(TRIGGER, json={}), "POST"),
            (c.get(cancel_path(s)), "POST"),
            (c.post(group_path(s), json={}), "GET"),
            (c.patch(group_path(s), json={}), "GET"),
            (c.post(f"/v1/test-sessions/{s}", json={}), "GET"),
            (c.post(f"/v1/test-sessions/{s}/completion"), "GET"),
        ]
        for response, allowed in cases:
            assert response.status_code == 405, response.request.url
            assert response.headers["allow"] == allowed
        assert c.post("/v1/checks", json={}).status_code == 404
    assert sim.triggered == [] and sim.cancelled == {}


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", TRIGGER), ("POST", "cancel"), ("GET", "group")],
)
def test_auth_on_new_endpoints(serve, method: str, path: str) -> None:
    sim = serve(BUILTIN_SCENARIOS["passing"], account_id="acc-1")
    s = sid()
    with client(sim, **{"X-Checkly-Account": "acc-1"}) as c:
        c.get(f"/v1/test-sessions/{s}")  # a known session for the cancel
    url = {"cancel": cancel_path(s), "group": group_path(s)}.get(path, path)
    kwargs = {"json": {}} if method == "POST" else {}
    with httpx.Client(base_url=sim.url) as anonymous:
        r = anonymous.request(method, url, **kwargs)
    assert r.status_code == 401 and r.json()["error"] == "Unauthorized"
    with client(sim, Authorization="Bearer wrong") as c:
        assert c.request(method, url, **kwargs).status_code == 401
    with client(sim) as c:
        r = c.request(method, url, **kwargs)
        assert r.status_code == 403 and r.json()["error"] == "Forbidden"
    assert sim.triggered == [] and sim.cancelled == {}
    with client(sim, **{"X-Checkly-Account": "acc-1"}) as c:
        expected = {TRIGGER: 201, "cancel": 204, "group": 404}[path]
        assert c.request(method, url, **kwargs).status_code == expected


# --------------------------------------------------------------------------- model & builtins


def test_check_tags_error_message_and_no_match_status_validation() -> None:
    check = CheckSpec("a", tags=["web", "smoke"])  # type: ignore[arg-type]
    assert check.tags == ("web", "smoke") and check.error_message is None
    assert CheckSpec("a", outcome="failed").failure_message.startswith("expect(received)")
    assert CheckSpec("a", "TCP", outcome="error").failure_message.startswith("Checkly internal")
    assert CheckSpec("a", error_message="x").failure_message == "x"
    with pytest.raises(ScenarioError, match="'tags' must be a list"):
        CheckSpec("a", tags="web")  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match="'tags' must not be empty"):
        CheckSpec("a", tags=("web", " "))
    with pytest.raises(ScenarioError, match="'error_message'"):
        CheckSpec("a", error_message="")
    with pytest.raises(ScenarioError, match="'no_match_status' must be 404 or 403"):
        Scenario(no_match_status=500)
    with pytest.raises(ScenarioError, match="'no_match_status'"):
        Scenario(no_match_status=True)  # type: ignore[arg-type]
    Fault("ambiguous", status=504, endpoint="trigger")
    for endpoint in ("trigger", "cancel", "error-group"):
        assert Fault("reset", endpoint=endpoint).applies_to(endpoint)
    with pytest.raises(ScenarioError, match="'retry_after' is not used"):
        Fault("ambiguous", retry_after=1)


def test_yaml_tags_error_message_and_no_match_status(tmp_path: Path) -> None:
    path = tmp_path / "tagged.yml"
    path.write_text(
        "no_match_status: 403\n"
        "checks:\n"
        "  - {name: One, tags: [web, smoke], outcome: failed, error_message: 'Expected 1'}\n"
        "faults:\n"
        "  - {kind: ambiguous, endpoint: trigger}\n"
        "  - {kind: server-error, endpoint: error-group}\n",
        encoding="utf-8",
    )
    scenario = load_scenario(str(path))
    assert scenario.no_match_status == 403
    (check,) = scenario.checks
    assert check.tags == ("web", "smoke") and check.error_message == "Expected 1"
    assert [f.endpoint for f in scenario.faults] == ["trigger", "error-group"]
    path.write_text("checks:\n  - {name: One, tags: web}\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"checks\[0\]: 'tags' must be a list"):
        load_scenario(str(path))


def test_builtin_tags_make_sense() -> None:
    for name in ("passing", "failing", "cancelled", "rate-limited", "trigger-demo"):
        for check in BUILTIN_SCENARIOS[name].checks:
            assert check.tags == CHECK_TAGS[check.name], (name, check.name)
    assert all(c.tags for c in BUILTIN_SCENARIOS["large"].checks)
    # trigger-demo: the web checks pass, the api,critical ones include the failing checkout
    demo = BUILTIN_SCENARIOS["trigger-demo"]
    for groups, status in ((("web",), "PASSED"), (("api", "critical"), "FAILED")):
        checks = tuple(c for c in demo.checks if set(groups) <= set(c.tags))
        tl = SessionTimeline(sid(), replace(demo, checks=checks), speed=1, mono=0.0, wall=0.0)
        assert json.loads(tl.body(100.0))["status"] == status

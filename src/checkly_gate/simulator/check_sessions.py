"""Simulated check sessions: one check's scenario timeline, shaped as Checkly's check sessions.

- ``POST /v2/check-sessions/trigger`` (``{"target": {"matchTags", "checkId"}}``) starts one
  check session per matched check (``201 {"sessions": [...]}``, 404 without a match);
- ``GET /v2/check-sessions/{id}`` and ``.../completion`` (408 while running);
- ``POST /v1/check-sessions/{id}/cancel`` (204; 404 for an unknown one).

An unknown UUID is a check session of the scenario's (or ``sessions[id]``'s) first check, its
clock starting at the first request. Status while running: PROGRESS, PROGRESS_FAILED once a
FINAL row failed, PROGRESS_DEGRADED once one is degraded; at the end PASSED, DEGRADED, FAILED or
CANCELLED.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from checkly_gate.simulator import context
from checkly_gate.simulator.model import Scenario
from checkly_gate.simulator.responses import (
    NO_MATCH_MESSAGE,
    UUID_PATTERN,
    Response,
    api_error,
    json_bytes,
    select_checks,
)
from checkly_gate.simulator.timeline import APP_URL, SessionTimeline, check_id_of

if TYPE_CHECKING:
    from checkly_gate.simulator.server import Simulator


def _check_scenario(scenario: Scenario, index: int = 0) -> Scenario:
    check = scenario.checks[index]
    return context.triggered(scenario, (check,), session_name=check.name)


def _start_check_session(sim: Simulator, scenario: Scenario, now: float, sid: str) -> None:
    wall = time.time() - (time.monotonic() - now)
    timeline = SessionTimeline(sid, scenario, speed=sim.speed, mono=now, wall=wall)
    with sim._lock:
        sim._check_timelines.setdefault(sid, timeline)


_RESULT_KEYS = (
    "checkId",
    "checkType",
    "name",
    "runLocation",
    "resultType",
    "hasErrors",
    "hasFailures",
    "isDegraded",
    "aborted",
    "responseTime",
    "startedAt",
    "stoppedAt",
)


def check_session_body(timeline: SessionTimeline, now: float, results: bool = True) -> bytes:
    """The ``CheckSessionsV2FindOneResponse`` of a one-check timeline at ``now``."""
    body = json.loads(timeline.body(now))
    sid = timeline.session_id
    check = timeline.scenario.checks[0]
    check_id = check_id_of(check)
    rows = [r for r in body.get("results") or [] if r.get("resultType") in ("FINAL", "ATTEMPT")]
    finals = [r for r in rows if r.get("resultType") == "FINAL"]
    failed = any(r.get("hasFailures") or r.get("hasErrors") for r in finals)
    degraded = any(r.get("isDegraded") for r in finals)
    status = body["status"]
    if status == "RUNNING":
        status = "PROGRESS_FAILED" if failed else "PROGRESS_DEGRADED" if degraded else "PROGRESS"
    elif status == "PASSED" and degraded:
        status = "DEGRADED"
    link = f"{APP_URL}/checks/{check_id}/check-sessions/{sid}"
    out: dict[str, Any] = {
        "checkSessionId": sid,
        "checkSessionLink": link,
        "checkId": check_id,
        "checkType": check.type,
        "name": check.name,
        "status": status,
        "startedAt": body.get("startedAt"),
        "stoppedAt": body.get("stoppedAt"),
        "timeElapsed": body.get("timeElapsed"),
        "runLocations": list(check.locations),
        "runSource": "TRIGGER_API",
    }
    if results:
        out["results"] = [
            {
                "checkResultId": r["testSessionResultId"],
                "checkResultLink": f"{link}/results/{r['testSessionResultId']}",
                **{k: r.get(k) for k in _RESULT_KEYS},
                "isCancelled": bool(r.get("aborted")),
            }
            for r in rows
        ]
    return json.dumps(out, separators=(",", ":")).encode()


def serve_check(
    sim: Simulator,
    endpoint: str,
    raw_id: str,
    query: dict[str, str],
    payload: Any,
    now: float,
) -> Response:
    """The check-session endpoints (see the module docstring)."""
    if endpoint == "check-trigger":
        return _trigger(sim, payload, now)
    if not UUID_PATTERN.match(raw_id):
        return api_error(400, "checkSessionId must be a UUID")
    sid = raw_id.lower()
    with sim._lock:
        known = sid in sim._check_timelines
    if endpoint == "check-cancel":
        if not known:
            return api_error(404, f"Check session {sid} not found")
        with sim._changed:
            sim._check_timelines[sid] = sim._check_timelines[sid].cancel(now)
            sim._cancelled.setdefault(sid, now)
            sim._changed.notify_all()
        return Response(204)
    if not known:
        scenario = sim.sessions.get(sid, sim.scenario)
        if not scenario.checks:
            return api_error(404, f"Check session {sid} not found")
        _start_check_session(sim, _check_scenario(scenario), now, sid)
    if endpoint == "check-session":
        with sim._lock:
            timeline = sim._check_timelines[sid]
        if not timeline.is_visible(time.monotonic()):
            return api_error(404, f"Check session {sid} not found")
        return Response(200, check_session_body(timeline, time.monotonic()))
    return _completion(sim, sid, query, now)


def _trigger(sim: Simulator, payload: Any, now: float) -> Response:
    """``POST /v2/check-sessions/trigger``: one check session per selected check."""
    if payload is not None and not isinstance(payload, dict):
        return api_error(400, "Request body must be a JSON object")
    target = (payload or {}).get("target")
    if target is not None and not isinstance(target, dict):
        return api_error(400, '"target" must be of type object')
    base = sim.scenario
    chosen = [base.checks.index(c) for c in select_checks(base.checks, target)]
    if not chosen:
        return api_error(404, NO_MATCH_MESSAGE)
    sessions = []
    for index in chosen:
        sid = str(uuid.uuid4())
        _start_check_session(sim, _check_scenario(base, index), now, sid)
        with sim._lock:
            timeline = sim._check_timelines[sid]
        sessions.append(json.loads(check_session_body(timeline, now, results=False)))
    return Response(201, json_bytes({"sessions": sessions}))


def _completion(sim: Simulator, sid: str, query: dict[str, str], now: float) -> Response:
    """``GET /v2/check-sessions/{id}/completion``: the body once final, else 408 after
    ``maxWaitSeconds``."""
    raw = query.get("maxWaitSeconds", "30")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 30:
        return api_error(400, "maxWaitSeconds must be an integer between 1 and 30")
    deadline = now + int(raw)
    with sim._changed:
        while True:
            timeline = sim._check_timelines[sid]
            moment = time.monotonic()
            if timeline.is_final(moment):
                return Response(200, check_session_body(timeline, moment))
            if sim._stopping.is_set():
                return api_error(503, "the simulator is shutting down")
            if moment >= deadline:
                return api_error(408, "Check session is still running; call again")
            wait = deadline - moment
            if timeline.final_mono is not None:
                wait = min(wait, max(timeline.final_mono - moment, 0.0) + 0.001)
            sim._changed.wait(wait)

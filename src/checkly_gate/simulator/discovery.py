"""Simulated session discovery and result assets (check sessions: ``check_sessions.py``).

Served next to the test-session endpoints of ``server.Simulator``:

- ``GET /v1/test-sessions``: the sessions registered with ``add_listed`` (and a scenario's own
  session when it sets ``listed_after``), newest first, filtered by ``from``, ``to``,
  ``statuses``, ``branches``, ``providers``, ``textSearch``, ``errorGroupId`` (sessions that
  show that error group), paged by ``limit`` and an opaque
  ``nextId``. A list filter takes one value or comma-separated values. Cases a client must
  survive: sessions created long ago (``add_listed(age=...)``), listed fields the client must
  treat as untrusted (``fields=``), an API clock that is off from the machine's
  (``Simulator.clock_offset``: its ``Date`` header, ``created_at``, ``startedAt`` and how it
  reads ``from``/``to``), and a list that ignores ``from`` (``Simulator.list_ignores_from``).
- ``GET /v1/test-sessions/{id}/results/{resultId}/assets``: an asset manifest by check type
  (browser-like failed rows: trace, video, screenshot, log; others: log) with authenticated API
  URLs, as Checkly's are.

``route`` and ``METHODS`` also cover the check-session paths, served by ``check_sessions``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from checkly_gate.simulator.model import Scenario
from checkly_gate.simulator.responses import (
    UUID_PATTERN,
    Response,
    api_error,
    json_bytes,
)
from checkly_gate.simulator.timeline import SessionTimeline

if TYPE_CHECKING:
    from checkly_gate.simulator.server import Simulator

PROVIDERS = ("GITHUB", "VERCEL", "API", "TRIGGER", "PW_REPORTER")
STATUSES = ("RUNNING", "FAILED", "PASSED", "CANCELLED")
ACCOUNT_ID = "9b2c1a70-0000-4000-8000-00000000ac01"
_ASSETS = re.compile(r"^/v1/test-sessions/([^/]+)/results/([^/]+)/assets$")
_CHECK = re.compile(r"^/v2/check-sessions/([^/]+)(/completion)?$")
_CHECK_CANCEL = re.compile(r"^/v1/check-sessions/([^/]+)/cancel$")
#: Method of each endpoint served here (merged into the server's table).
METHODS = {
    "list": "GET",
    "assets": "GET",
    "check-trigger": "POST",
    "check-session": "GET",
    "check-completion": "GET",
    "check-cancel": "POST",
}
_BROWSER = ("BROWSER", "PLAYWRIGHT", "MULTI_STEP")


@dataclass(frozen=True)
class Listed:
    """A session the list endpoint shows from ``created`` (monotonic) on."""

    session_id: str
    provider: str
    created: float
    created_wall: float  # by the API's clock (the machine's plus ``Simulator.clock_offset``)
    fields: tuple[tuple[str, Any], ...] = ()  # list fields served as given (untrusted text)


def route(path: str) -> tuple[str | None, str]:
    """(endpoint, raw id) of the paths served here; (None, "") for others."""
    if path == "/v1/test-sessions":
        return "list", ""
    if path == "/v2/check-sessions/trigger":
        return "check-trigger", ""
    match = _ASSETS.match(path)
    if match is not None:
        return "assets", unquote(match.group(1))
    match = _CHECK.match(path)
    if match is not None:
        return ("check-completion" if match.group(2) else "check-session"), unquote(match.group(1))
    match = _CHECK_CANCEL.match(path)
    if match is not None:
        return "check-cancel", unquote(match.group(1))
    return None, ""


def add_listed(
    sim: Simulator,
    scenario: Scenario,
    after: float = 0.0,
    provider: str = "VERCEL",
    session_id: str | None = None,
    age: float | None = None,
    fields: Mapping[str, Any] | None = None,
) -> str:
    """Register a session of ``scenario`` that appears in the list (and to GET) ``after``
    scenario seconds from now, or with ``age`` one created that many real seconds ago (three
    days: ``age=3 * 86400``); returns its id. Its clock starts when it was created. ``fields``
    replace the list entry's own (``branchName``, ``status``, ``provider``...)."""
    sid = (session_id or str(uuid.uuid4())).lower()
    now = time.monotonic()
    created = now - age if age is not None else now + after / sim.speed
    wall = time.time() + (created - now) + sim.clock_offset
    timeline = SessionTimeline(sid, scenario, speed=sim.speed, mono=created, wall=wall)
    listed = Listed(sid, provider, created, wall, tuple((fields or {}).items()))
    with sim._lock:
        sim._timelines[sid] = timeline
        sim._listed.append(listed)
    return sid


def register_scenario(sim: Simulator) -> None:
    """A scenario with ``listed_after`` brings its own listed session (the demo's)."""
    scenario = sim.scenario
    if scenario.listed_after is not None:
        add_listed(sim, scenario, scenario.listed_after, scenario.provider)


def _iso(wall: float) -> str:
    moment = datetime.fromtimestamp(wall, tz=timezone.utc).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


def _entry(listed: Listed, timeline: SessionTimeline, now: float) -> dict[str, Any]:
    body = json.loads(timeline.body(now))
    meta = body.get("metadata") or {}
    return {
        "id": listed.session_id,
        "accountId": ACCOUNT_ID,
        "projectId": None,
        "name": body.get("name"),
        "provider": listed.provider,
        "errorGroupIds": body.get("errorGroupIds") or [],
        "running": [],
        "passed": [],
        "failed": [],
        "cancelled": [],
        "status": body["status"],
        "region": "eu-west-1",
        "privateLocationId": None,
        "invoker": None,
        **{k: meta.get(k) for k in ("repoUrl", "commitId", "commitOwner", "commitMessage")},
        "branchName": meta.get("branchName"),
        "environment": meta.get("environment"),
        "startedAt": body.get("startedAt"),
        "stoppedAt": body.get("stoppedAt"),
        "created_at": _iso(listed.created_wall),
        "updated_at": None,
        **dict(listed.fields),
    }


def _values(query: dict[str, str], key: str) -> list[str]:
    return [v.strip() for v in query.get(key, "").split(",") if v.strip()]


def serve_list(sim: Simulator, query: dict[str, str], now: float) -> Response:
    """``GET /v1/test-sessions`` (see the module docstring)."""

    try:
        limit = int(query.get("limit", "20"))
        since = float(query["from"]) if "from" in query else None
        until = float(query["to"]) if "to" in query else None
    except ValueError:
        return api_error(400, '"limit", "from" and "to" must be numbers')
    if not 1 <= limit <= 100:
        return api_error(400, '"limit" must be between 1 and 100')
    statuses, providers = _values(query, "statuses"), _values(query, "providers")
    for value in statuses:
        if value not in STATUSES:
            return api_error(400, f'"statuses" must be one of {", ".join(STATUSES)}')
    for value in providers:
        if value not in PROVIDERS:
            return api_error(400, f'"providers" must be one of {", ".join(PROVIDERS)}')
    search = query.get("textSearch")
    if search is not None and not 3 <= len(search) <= 200:
        return api_error(400, '"textSearch" length must be 3..200')
    branches = _values(query, "branches")
    error_group = query.get("errorGroupId")  # one id (the contract: a string, minLength 1)
    if error_group is not None and not error_group.strip():
        return api_error(400, '"errorGroupId" must not be empty')
    with sim._lock:
        listed = [item for item in sim._listed if item.created <= now]
        timelines = dict(sim._timelines)
    listed.sort(key=lambda item: (-item.created, item.session_id))
    entries = []
    for item in listed:
        entry = _entry(item, timelines[item.session_id], now)
        if since is not None and item.created_wall < since and not sim.list_ignores_from:
            continue
        if until is not None and item.created_wall >= until:
            continue
        if statuses and entry["status"] not in statuses:
            continue
        if providers and entry["provider"] not in providers:
            continue
        if branches and entry["branchName"] not in branches:
            continue
        if error_group is not None:  # the session's own groups, whatever ``fields`` show
            shown = json.loads(timelines[item.session_id].body(now)).get("errorGroupIds")
            if error_group.strip() not in (shown or []):
                continue
        if search is not None:
            text = " ".join(
                str(entry.get(k) or "") for k in ("name", "commitMessage", "branchName")
            )
            if search.lower() not in text.lower():
                continue
        entries.append(entry)
    start = 0
    cursor = query.get("nextId")
    if cursor is not None:
        ids = [e["id"] for e in entries]
        if cursor not in ids:
            return api_error(400, '"nextId" is not a valid cursor')
        start = ids.index(cursor)
    page = entries[start : start + limit]
    more = entries[start + limit : start + limit + 1]
    body = {"length": len(page), "entries": page, "nextId": more[0]["id"] if more else None}
    return Response(200, json_bytes(body))


def serve_assets(sim: Simulator, session_id: str, path: str, now: float) -> Response:
    """The asset manifest of a result the session shows at ``now``."""

    match = _ASSETS.match(path)
    assert match is not None
    result_id = unquote(match.group(2)).lower()
    if not UUID_PATTERN.match(session_id) or not UUID_PATTERN.match(result_id):
        return api_error(400, "testSessionId and testSessionResultId must be UUIDs")
    with sim._lock:
        timeline = sim._timelines.get(session_id.lower())
    if timeline is None or not timeline.is_visible(now):
        return api_error(404, f"Test session {session_id} not found")
    rows = json.loads(timeline.body(now)).get("results") or []
    row = next((r for r in rows if r.get("testSessionResultId") == result_id), None)
    if row is None or row.get("resultType") == "PENDING":
        return api_error(404, f"Test session result {result_id} not found")
    kinds = ["log"]
    if row.get("checkType") in _BROWSER and (row.get("hasFailures") or row.get("hasErrors")):
        kinds = ["trace", "video", "screenshot", "log"]
    files = {
        "trace": "trace.zip",
        "video": "video.webm",
        "screenshot": "failure.png",
        "log": "log.txt",
    }
    types = {
        "trace": "application/zip",
        "video": "video/webm",
        "screenshot": "image/png",
        "log": "text/plain",
    }
    base = f"{sim.url}/v1/test-sessions/{session_id}/results/{result_id}/assets"
    source = {
        "type": "test-session-result",
        "checkId": row.get("checkId"),
        "checkName": row.get("name"),
        "checkType": row.get("checkType"),
        "resultId": result_id,
        "testSessionId": session_id,
    }
    assets = [
        {
            "type": kind,
            "name": files[kind],
            "url": f"{base}/{files[kind]}",
            "contentType": types[kind],
            "source": source,
        }
        for kind in kinds
    ]
    manifest = {
        "assets": assets,
        "truncated": False,
        "entriesReturned": len(assets),
        "entriesTotal": len(assets),
    }
    return Response(200, json_bytes(manifest))

"""Check sessions (``/v2/check-sessions``) read as the gate's ``Session`` so one verdict applies.

A check session is one check's run across its locations, started by "Schedule now", a deploy,
``POST /v2/check-sessions/trigger`` or Checkly's CLI ``checks run``. Its body
(``CheckSessionsV2FindOneResponse``) is turned into a ``models.Session`` with one ``Result`` per
check result, so following, judging, reports and CI integrations are the test session's own.

Status mapping (``CHECK_SESSION_STATUS``, the one table of it; documented in the README):

======================  ==========  ==============================================================
check-session status    read as     why
======================  ==========  ==============================================================
STARTED, PROGRESS       RUNNING     still running
PROGRESS_FAILED         RUNNING     still running (a failed FINAL result already fails the gate)
PROGRESS_DEGRADED       RUNNING     still running
PASSED                  PASSED
DEGRADED                PASSED      passes unless ``--fail-on-degraded`` (results marked degraded)
FAILED                  FAILED
TIMED_OUT               FAILED      a failure of the check: locations without a FINAL result get
                                    a failed FINAL row "timed out"
CANCELLED               CANCELLED
anything else           FAILED      once the session has stopped (``stoppedAt``), else RUNNING:
                                    an unknown status is never green
======================  ==========  ==============================================================

Results carry no status; it is derived from the flags: ``hasFailures``/``hasErrors`` FAILED,
``isCancelled``/``aborted`` CANCELLED, else PASSED; a flag that is missing or not a boolean, or
a row that is not an object, is unknown (never a pass). A missing ``resultType`` is a FINAL
row. A run location of ``runLocations`` without any result yet is a PENDING row, so counts
show the total.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from checkly_gate.models import (
    CANCELLED,
    FAILED,
    FINAL,
    PASSED,
    PENDING,
    RUNNING,
    NotASessionError,
    Result,
    Session,
    finite,
    loads,
    parse_result,
    parse_session,
    parse_time,
)

#: Check-session status -> the test-session status the verdict understands.
CHECK_SESSION_STATUS: Mapping[str, str] = {
    "STARTED": RUNNING,
    "PROGRESS": RUNNING,
    "PROGRESS_FAILED": RUNNING,
    "PROGRESS_DEGRADED": RUNNING,
    "PASSED": PASSED,
    "DEGRADED": PASSED,
    "FAILED": FAILED,
    "TIMED_OUT": FAILED,
    "CANCELLED": CANCELLED,
}
TIMED_OUT = "TIMED_OUT"
DEGRADED = "DEGRADED"


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _flag(data: Mapping[str, Any], key: str) -> bool:
    return data.get(key) is True


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return finite(value)


#: The flags ``CheckSessionsV2CheckResult`` requires. A missing or non-boolean one is kept in
#: ``Result.unreadable`` (never read as "no failure"), as ``models.parse_result`` does.
_FLAGS = ("hasErrors", "hasFailures", "isDegraded", "aborted", "isCancelled")


def parse_check_result(data: Any, index: int = 0) -> Result | None:
    """One ``CheckSessionsV2CheckResult`` as a ``Result``; a row that is not an object is a row
    of unknown type (``models.parse_result`` says why), counted and never a pass."""
    if not isinstance(data, dict):
        return parse_result(data, index)
    unreadable = tuple(
        f"{key} is {json.dumps(data[key])[:40] if key in data else 'missing'}"
        for key in _FLAGS
        if not isinstance(data.get(key), bool)
    )
    failed = _flag(data, "hasFailures") or _flag(data, "hasErrors")
    cancelled = _flag(data, "isCancelled") or _flag(data, "aborted")
    status = FAILED if failed else CANCELLED if cancelled else PASSED
    result_type = _str(data.get("resultType"))
    check_type = _str(data.get("checkType"))
    return Result(
        result_id=_str(data.get("checkResultId")) or f"check-result-{index}",
        status=status,
        check_type=check_type.upper() if check_type else "UNKNOWN",
        name=_str(data.get("name")),
        check_id=_str(data.get("checkId")),
        run_location=_str(data.get("runLocation")),
        result_type=result_type.upper() if result_type else None,
        link=_str(data.get("checkResultLink")),
        has_errors=_flag(data, "hasErrors"),
        has_failures=_flag(data, "hasFailures"),
        is_degraded=_flag(data, "isDegraded"),
        aborted=cancelled,
        started_at=parse_time(data.get("startedAt")),
        stopped_at=parse_time(data.get("stoppedAt")),
        response_time_ms=_number(data.get("responseTime")),
        unreadable=unreadable,
    )


def session_status(raw: str | None, stopped: bool) -> str:
    """The test-session status a check-session status is read as (see the module table)."""
    mapped = CHECK_SESSION_STATUS.get((raw or "").upper())
    if mapped is not None:
        return mapped
    return FAILED if stopped else RUNNING


def parse_check_session(data: Any) -> Session:
    """A check-session body as a ``Session`` (see the module docstring for the mapping).

    Raises ``NotASessionError`` for a body that is not a check session (no id or no status).
    """
    if not isinstance(data, dict):
        raise NotASessionError(f"expected a JSON object, got {type(data).__name__}")
    session_id = _str(data.get("checkSessionId"))
    raw_status = _str(data.get("status"))
    if not session_id or not raw_status:
        raise NotASessionError("JSON has no checkSessionId or status")
    raw_status = raw_status.upper()
    stopped_at = parse_time(data.get("stoppedAt"))
    status = session_status(raw_status, stopped_at is not None)
    name = _str(data.get("name"))
    results: list[Result] = []
    rows = data.get("results")
    for index, row in enumerate(rows if isinstance(rows, list) else []):
        result = parse_check_result(row, index)
        if result is not None:
            results.append(result)
    if raw_status == DEGRADED and not any(r.is_degraded for r in results):
        # The session says degraded but no row does: the check as a whole was degraded.
        results = [
            dataclasses.replace(r, is_degraded=True) if r.is_final and r.passed_cleanly else r
            for r in results
        ]
    results += _missing_locations(data, session_id, name, results, raw_status == TIMED_OUT)
    shown = name if raw_status in CHECK_SESSION_STATUS else f"{name or session_id} ({raw_status})"
    return Session(
        session_id=session_id,
        status=status,
        name=shown,
        link=_str(data.get("checkSessionLink")),
        started_at=parse_time(data.get("startedAt")),
        stopped_at=stopped_at,
        time_elapsed_ms=_number(data.get("timeElapsed")),
        results=tuple(results),
        kind="check session",
    )


def _missing_locations(
    data: Mapping[str, Any],
    session_id: str,
    name: str | None,
    results: list[Result],
    timed_out: bool,
) -> list[Result]:
    """Rows for run locations without a FINAL result: PENDING, or failed FINAL on TIMED_OUT."""
    locations = data.get("runLocations")
    if not isinstance(locations, list):
        return []
    decided = {r.run_location for r in results if r.is_final}
    check_id = _str(data.get("checkId"))
    check_type = (_str(data.get("checkType")) or "UNKNOWN").upper()
    rows = []
    for location in dict.fromkeys(loc for loc in locations if isinstance(loc, str) and loc):
        if location in decided:
            continue
        rows.append(
            Result(
                result_id=f"{session_id}/{location}",
                status=FAILED if timed_out else RUNNING,
                check_type=check_type,
                name=f"{name} (timed out)" if timed_out and name else name,
                check_id=check_id,
                run_location=location,
                result_type=FINAL if timed_out else PENDING,
                has_failures=timed_out,
            )
        )
    return rows


def parse_any_session(data: Any) -> Session:
    """A test-session or check-session body (a check session has ``checkSessionId``)."""
    if isinstance(data, dict) and "checkSessionId" in data and "testSessionId" not in data:
        return parse_check_session(data)
    return parse_session(data)


def parse_any_body(content: bytes | str) -> Session:
    """``parse_any_session`` of a raw JSON body."""
    return parse_any_session(loads(content))

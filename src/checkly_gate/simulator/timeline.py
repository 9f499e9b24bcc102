"""The life of one simulated test session, computed from its scenario and its first request.

Everything that depends only on the scenario (ids, links, timestamps, the JSON of every row a
run will ever show) is rendered once when the session is created; a request then only picks the
rows visible at that moment and joins pre-serialised strings, so a body with 3,000 results is
built in a few milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from checkly_gate.simulator.model import AUTO, CheckSpec, Scenario

APP_URL = "https://app.checklyhq.com"
#: Namespace of every uuid5 the simulator derives, so ids are stable across runs.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/checkly-gate/simulator")
_NAMESPACE_BYTES = NAMESPACE.bytes
_BOOL = {True: "true", False: "false"}

_FLAGS = {
    # outcome: (status, hasErrors, hasFailures, isDegraded, aborted)
    "running": ("RUNNING", False, False, False, False),
    "passed": ("PASSED", False, False, False, False),
    "failed": ("FAILED", False, True, False, False),
    "error": ("FAILED", True, False, False, False),
    "degraded": ("PASSED", False, False, True, False),
    "cancelled": ("CANCELLED", False, False, False, True),
}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _derive(*parts: object) -> str:
    """``str(uuid.uuid5(NAMESPACE, "/".join(parts)))``, spelled out because it is 5x faster."""
    name = "/".join([str(p) for p in parts]).encode()
    h = hashlib.sha1(_NAMESPACE_BYTES + name).hexdigest()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def _wall_iso(wall: float) -> str:
    """ISO 8601 UTC timestamp (milliseconds, ``Z``) of a Unix time."""
    moment = datetime.fromtimestamp(wall, tz=timezone.utc).replace(tzinfo=None)
    return f"{moment.isoformat(timespec='milliseconds')}Z"


def check_id_of(check: CheckSpec) -> str | None:
    """The ``checkId`` results show for ``check``: a stable uuid5 of its name unless it sets
    ``check_id`` (``None`` gives ``null``). The trigger's ``target.checkId`` matches this."""
    return _derive("check", check.name) if check.check_id == AUTO else check.check_id


@dataclass
class _Run:
    """Pre-rendered rows of one run (one check at one location)."""

    attempts: list[tuple[float, str, str]] = field(default_factory=list)  # appear, json, group
    pending: list[tuple[float, str]] = field(default_factory=list)  # from, json (ascending)
    final_at: float = math.inf  # scenario time the FINAL row appears
    final_row: str = ""
    final_group: str | None = None
    final_outcome: str = "passed"


class SessionTimeline:
    """Deterministic state of one session over time; immutable after construction.

    ``cancelled_at`` (scenario seconds after the session became visible) cancels the session
    then, whatever the scenario's ``end``: it is how ``cancel`` builds the cancelled successor.
    """

    def __init__(
        self,
        session_id: str,
        scenario: Scenario,
        *,
        speed: float,
        mono: float,
        wall: float,
        cancelled_at: float | None = None,
    ) -> None:
        self.session_id = session_id
        self.scenario = scenario
        self.speed = speed
        self.created_mono = mono
        self.created_wall = wall
        self.cancelled_at = cancelled_at
        self.visible_mono = mono + scenario.not_found_seconds / speed
        visible_wall = wall + scenario.not_found_seconds / speed
        self.visible_wall = visible_wall  # Unix time of scenario time 0
        # naive UTC datetime of the visible start: isoformat() on it is fast
        self._base = datetime.fromtimestamp(visible_wall, tz=timezone.utc).replace(tzinfo=None)
        self._runs: list[_Run] = []
        self._per_check: dict[int, tuple[str, str]] = {}
        self._group_checks: dict[str, CheckSpec] = {}  # error group id -> its check
        self._group_seen: dict[str, list[float]] = {}  # error group id -> when rows show it
        self.final_time, self.final_status = self._build()
        if scenario.body is not None:  # a static body: final at once if its status says so
            status = scenario.body.get("status") if isinstance(scenario.body, dict) else None
            final = status in ("PASSED", "FAILED", "CANCELLED")
            self.final_time, self.final_status = (0.0 if final else math.inf), str(status)
        #: time.monotonic() at which the session status turns non-RUNNING (None: never).
        self.final_mono: float | None = (
            None if math.isinf(self.final_time) else self.visible_mono + self.final_time / speed
        )
        session_link = f"{APP_URL}/test-sessions/{session_id}"
        self._head = _dumps(
            {
                "testSessionId": session_id,
                "testSessionLink": session_link,
                "name": scenario.session_name,
            }
        )[:-1]
        self._started = self._stamp(0.0)
        self._stopped = "null" if self.final_mono is None else self._stamp(self.final_time)
        self._metadata = _dumps(dict(scenario.metadata))
        self._tail = _dumps({"simulatorScenario": scenario.name})[1:]

    # ------------------------------------------------------------------ construction

    def _iso(self, scenario_time: float) -> str:
        """ISO 8601 UTC timestamp (milliseconds, ``Z``) of a scenario time."""
        moment = self._base + timedelta(seconds=scenario_time / self.speed)
        return f"{moment.isoformat(timespec='milliseconds')}Z"

    def _stamp(self, scenario_time: float | None) -> str:
        """JSON fragment for the timestamp of a scenario time (or null)."""
        if scenario_time is None:
            return "null"
        return f'"{self._iso(scenario_time)}"'

    def _described(self, index: int, check: CheckSpec) -> tuple[str, str]:
        """The JSON fields naming check ``index`` and its error group id, made once per check."""
        per_check = self._per_check.get(index)
        if per_check is None:
            described = (
                f',"checkId":{_dumps(check_id_of(check))},"checkType":{_dumps(check.type)}'
                f',"name":{_dumps(check.name)}'
            )
            group_id = (
                _derive("error-group", "shared", check.error_group)
                if check.error_group is not None
                else _derive("error-group", self.session_id, index, check.name)
            )
            per_check = (described, group_id)
            self._per_check[index] = per_check
            self._group_checks[per_check[1]] = check
        return per_check

    def _row_writer(self, described: str, sequence: str) -> Callable[..., str]:
        """A function writing one result row of a run (``described``: its check and location
        fields), assembled from JSON fragments."""
        link = f"{APP_URL}/test-sessions/{self.session_id}/results/"
        tail = f',"sequenceId":"{sequence}"}}'

        def row(
            result_id: str,
            result_type: str,
            outcome: str,
            groups: str,
            response_time: int | None,
            started: float | None,
            stopped: float | None,
        ) -> str:
            status, has_errors, has_failures, degraded, aborted = _FLAGS[outcome]
            return "".join(
                (
                    f'{{"testSessionResultId":"{result_id}"',
                    f',"testSessionResultLink":"{link}{result_id}"',
                    described,
                    f',"errorGroupIds":{groups},"resultType":"{result_type}"',
                    f',"status":"{status}","hasErrors":{_BOOL[has_errors]}',
                    f',"hasFailures":{_BOOL[has_failures]},"isDegraded":{_BOOL[degraded]}',
                    f',"aborted":{_BOOL[aborted]}',
                    f',"responseTime":{"null" if response_time is None else response_time}',
                    f',"startedAt":{self._stamp(started)},"stoppedAt":{self._stamp(stopped)}',
                    tail,
                )
            )

        return row

    def _render_run(
        self, index: int, check: CheckSpec, location: str, start: float, cut: float
    ) -> _Run:
        """Pre-render every row one run will show; ``cut`` is the cancel time (inf: none).

        Rows are assembled from JSON fragments rather than ``json.dumps`` per row: the
        "large" scenario renders ~9,000 rows on its first request.
        """
        key = (self.session_id, index, check.name, location)
        described, group = self._described(index, check)
        with_group = f'["{group}"]'
        final_id = _derive("result", *key, "final")
        response = _response_time(check, location)
        row = self._row_writer(
            f'{described},"runLocation":{_dumps(location)}', _derive("sequence", *key)
        )
        run = _Run()
        run.pending.append((-math.inf, row(final_id, "PENDING", "running", "[]", None, None, None)))
        tries = check.failed_attempts + 1
        length = check.duration / tries
        for attempt in range(tries):
            begin = start + attempt * length
            if begin >= cut:
                break
            run.pending.append(
                (begin, row(final_id, "PENDING", "running", "[]", None, begin, None))
            )
            end = begin + length
            if attempt == tries - 1 or end > cut:
                break
            attempt_id = _derive("result", *key, f"attempt-{attempt + 1}")
            attempt_row = row(
                attempt_id, "ATTEMPT", "failed", with_group, response + 17 * attempt, begin, end
            )
            run.attempts.append((end, attempt_row, group))
        run_end = start + check.duration
        never = self.scenario.end == "never"
        if never and math.isinf(cut):
            return run  # the run stays PENDING forever
        if never or run_end > cut:
            began = run.pending[-1][0] if len(run.pending) > 1 else None
            run.final_at, run.final_outcome = cut, "cancelled"
            run.final_row = row(final_id, "FINAL", "cancelled", "[]", None, began, cut)
            return run
        failing = check.outcome in ("failed", "error")
        groups = with_group if failing else "[]"
        run.final_at, run.final_outcome = run_end, check.outcome
        run.final_group = group if failing else None
        last_try = start + (tries - 1) * length
        run.final_row = row(final_id, "FINAL", check.outcome, groups, response, last_try, run_end)
        return run

    def _build(self) -> tuple[float, str]:
        """Render every run; return (scenario time the session turns final, final status)."""
        scenario = self.scenario
        spans = [
            (n, check, location, check.start + i * check.stagger)
            for n, check in enumerate(scenario.checks)
            for i, location in enumerate(check.locations)
        ]
        natural_end = max((start + c.duration for _, c, _, start in spans), default=0.0)
        if self.cancelled_at is not None:
            cancelling, cut = True, self.cancelled_at
        else:
            cancelling = scenario.end == "cancelled" and scenario.cancel_at < natural_end
            cut = scenario.cancel_at if cancelling else math.inf
        self._runs = [self._render_run(n, c, loc, start, cut) for n, c, loc, start in spans]
        if scenario.end == "never" and not cancelling:
            self._index_groups()
            return math.inf, "RUNNING"
        final_time = cut if cancelling else natural_end
        if self._runs and scenario.final_lag > 0:
            last = max(range(len(self._runs)), key=lambda i: (self._runs[i].final_at, i))
            self._runs[last].final_at += scenario.final_lag
        self._index_groups()
        outcomes = {run.final_outcome for run in self._runs}
        if scenario.status_override is not None:
            status = scenario.status_override
        elif cancelling:
            status = "CANCELLED"
        elif outcomes & {"failed", "error"}:
            status = "FAILED"
        elif "cancelled" in outcomes:
            status = "CANCELLED"
        else:
            status = "PASSED"
        return final_time, status

    def _index_groups(self) -> None:
        """Record when each error group first and last shows up in a row."""
        seen = self._group_seen
        for run in self._runs:
            for appear, _row, group in run.attempts:
                seen.setdefault(group, []).append(appear)
            if run.final_group is not None:
                seen.setdefault(run.final_group, []).append(run.final_at)

    # ------------------------------------------------------------------ queries

    def cancel(self, now: float) -> SessionTimeline:
        """This session cancelled at monotonic time ``now``, as a new timeline.

        Runs not finished by then get FINAL ``CANCELLED``/``aborted`` rows and the session
        turns ``CANCELLED`` at once (``status_override`` still wins). Ids and timestamps do not
        change. A session that is already final is returned unchanged.
        """
        if self.is_final(now) or self.scenario.body is not None:
            return self
        at = max(0.0, (now - self.visible_mono) * self.speed)
        return SessionTimeline(
            self.session_id,
            self.scenario,
            speed=self.speed,
            mono=self.created_mono,
            wall=self.created_wall,
            cancelled_at=at,
        )

    def error_group_ids(self) -> list[str]:
        """Every error group id this session can ever show (in scenario order)."""
        return list(self._group_seen)

    def error_group_seen(self, group_id: str, now: float) -> tuple[float, float] | None:
        """``(first, last)``: Unix times of the first and last row of this session showing
        ``group_id`` by ``now`` (``first`` moved back by its check's ``first_seen_ago``), or
        None when no row shows it yet. ``Simulator`` merges these across sessions."""
        times = self._group_seen.get(group_id)
        if times is None or not self.is_visible(now):
            return None
        elapsed = (now - self.visible_mono) * self.speed
        seen = [t for t in times if t <= elapsed]
        if not seen:
            return None
        first = self.visible_wall + min(seen) / self.speed
        last = self.visible_wall + max(seen) / self.speed
        ago = self._group_checks[group_id].first_seen_ago
        if ago is not None:
            first = min(first, self.visible_wall - ago)
        return first, last

    def error_group(
        self, group_id: str, now: float, seen: tuple[float, float] | None = None
    ) -> dict[str, Any] | None:
        """The TestSessionErrorGroup of ``group_id`` if a row shows it at ``now``, else None;
        ``seen`` (Unix first, last) overrides this session's own ``firstSeen``/``lastSeen``."""
        own = self.error_group_seen(group_id, now)
        if own is None:
            return None
        first, last = seen if seen is not None else own
        check = self._group_checks[group_id]
        message = check.failure_message
        slug = "-".join(check.name.lower().split()) or "check"
        line = 10 + zlib.crc32(check.name.encode()) % 90
        raw = (
            f"{message}\n    at {slug}.spec.ts:{line}:{5 + line % 20}"
            "\n    at processTicksAndRejections (node:internal/process/task_queues:95:5)"
        )
        return {
            "id": group_id,
            "projectId": None,
            "environments": [],
            "errorHash": hashlib.sha1(message.encode()).hexdigest(),
            "rawErrorMessage": raw,
            "cleanedErrorMessage": message,
            "firstSeen": _wall_iso(first),
            "lastSeen": _wall_iso(last),
            "archivedUntilNextEvent": False,
            "pwtMetadata": None,
        }

    def is_visible(self, now: float) -> bool:
        """False during the scenario's ``not_found_seconds`` window (the API answers 404)."""
        return now >= self.visible_mono

    def is_final(self, now: float) -> bool:
        """True once the session status is no longer RUNNING."""
        return self.final_mono is not None and now >= self.final_mono

    def body(self, now: float) -> bytes:
        """The FindOneTestSessionResponse JSON as seen at monotonic time ``now`` (a static
        ``Scenario.body`` verbatim)."""
        if self.scenario.body is not None:
            return json.dumps(self.scenario.body, ensure_ascii=False).encode("utf-8")
        elapsed = max(0.0, (now - self.visible_mono) * self.speed)
        final = self.is_final(now)
        rows: list[str] = []
        groups: dict[str, None] = {}
        for run in self._runs:
            for appear, row, group in run.attempts:
                if appear > elapsed:
                    break
                rows.append(row)
                groups[group] = None
            if elapsed >= run.final_at:
                rows.append(run.final_row)
                if run.final_group is not None:
                    groups[run.final_group] = None
            else:
                chosen = run.pending[0][1]
                for begin, row in run.pending:
                    if begin > elapsed:
                        break
                    chosen = row
                rows.append(chosen)
        if final:
            status, stopped = self.final_status, self._stopped
            took = self.final_time / self.speed
        else:
            status, stopped = "RUNNING", "null"
            took = elapsed / self.speed
        parts = [
            self._head,
            ',"status":',
            _dumps(status),
            ',"errorGroupIds":',
            _dumps(list(groups)),
            ',"startedAt":',
            self._started,
            ',"stoppedAt":',
            stopped,
            ',"timeElapsed":',
            str(round(took * 1000)),
            ',"metadata":',
            self._metadata,
            ',"results":[',
            ",".join(rows),
            "],",
            self._tail,
        ]
        return "".join(parts).encode("utf-8")


def _response_time(check: CheckSpec, location: str) -> int:
    """The check's response time in ms: as the scenario says, else a stable pseudo-random one
    per check and location (3 s more when degraded)."""
    if check.response_time is not None:
        return check.response_time
    response = 80 + zlib.crc32(f"{check.name}/{location}".encode()) % 900
    return response + 3000 if check.outcome == "degraded" else response

"""Domain model of a Checkly test session, parsed tolerantly from the API's JSON.

The API grows (new check types, new fields) and the body "may be incomplete" while a session
runs, so parsing never fails on unknown enum values, missing optional fields, nulls or extra
fields. Only a body that is not a session at all is refused (``NotASessionError``), because a
proxy page or an unrelated JSON document must never be judged as a verdict. Tolerant is not
credulous: a result fact that cannot be read as the contract says (a missing or non-boolean
flag, a status that is not a string, a row that is not an object) is kept in
``Result.unreadable``, never guessed, and enum values are matched ASCII-case-insensitively only.
"""

from __future__ import annotations

import enum
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

# Session and result statuses the API documents. Anything else is kept verbatim: an unknown
# session status counts as "not final yet", an unknown result status is judged by the verdict
# policy as unknown (never a pass).
RUNNING = "RUNNING"
PASSED = "PASSED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
FINAL_STATUSES = frozenset({PASSED, FAILED, CANCELLED})

# Result types. A row without ``resultType`` (or with ``null``) counts as FINAL.
FINAL = "FINAL"
ATTEMPT = "ATTEMPT"
PENDING = "PENDING"

# The boolean facts of a result row. The contract requires each of them; a row where one is
# missing or not a JSON boolean records that in ``Result.unreadable``.
_FLAGS = ("hasErrors", "hasFailures", "isDegraded", "aborted")


class NotASessionError(ValueError):
    """The JSON body is not a test session (no id or no status)."""


@dataclass(frozen=True, slots=True)
class Metadata:
    """Where the session came from (all optional)."""

    environment: str | None = None
    repo_url: str | None = None
    commit_id: str | None = None
    commit_owner: str | None = None
    commit_message: str | None = None
    branch_name: str | None = None


@dataclass(frozen=True, slots=True)
class Result:
    """One row of ``results``: a FINAL outcome, an earlier ATTEMPT or a PENDING placeholder.

    ``result_type`` is the API's ``resultType`` (``None`` when missing or null: a FINAL row);
    ``unreadable`` lists the facts the parser could not read as the contract says, e.g.
    ``"hasFailures is missing"`` or ``"status is null"``: the verdict never counts such a row as
    passed. ``sequence_id`` is ``sequenceId`` (not in the contract; the simulator sends it and
    Checkly's result detail has it): one id shared by the tries of one run.
    """

    result_id: str
    status: str
    check_type: str = "UNKNOWN"
    name: str | None = None
    check_id: str | None = None
    run_location: str | None = None
    result_type: str | None = None
    link: str | None = None
    error_group_ids: tuple[str, ...] = ()
    has_errors: bool = False
    has_failures: bool = False
    is_degraded: bool = False
    aborted: bool = False
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    response_time_ms: float | None = None
    sequence_id: str | None = None
    unreadable: tuple[str, ...] = ()

    @property
    def display_name(self) -> str:
        """A name fit for people: the check name, else its id, else the result id."""
        return self.name or self.check_id or self.result_id

    @property
    def kind(self) -> str:
        """``resultType``, with a missing one read as FINAL; an unknown value verbatim."""
        return FINAL if self.result_type is None else self.result_type

    @property
    def run_key(self) -> tuple[str, ...] | None:
        """What identifies the run this row belongs to, to pair ATTEMPT rows with theirs:
        ``sequenceId`` when the row has one, else ``checkId`` + ``runLocation``; ``None`` when
        neither is known (a check name is not an identity: two checks may share it)."""
        if self.sequence_id:
            return ("sequence", self.sequence_id)
        if self.check_id:
            return ("check", self.check_id, self.run_location or "")
        return None

    @property
    def is_final(self) -> bool:
        """A decided FINAL row. A missing resultType on a finished row counts as FINAL; a FINAL
        row whose status is not final (RUNNING, unknown) has not decided anything yet."""
        return self.kind == FINAL and self.status in FINAL_STATUSES

    @property
    def is_attempt(self) -> bool:
        return self.result_type == ATTEMPT

    @property
    def passed_cleanly(self) -> bool:
        """A provable pass of this one row: status PASSED, ``hasErrors``, ``hasFailures`` and
        ``aborted`` false, every fact readable. THE row rule: an ATTEMPT row that is not one is
        a failed attempt (``verdict.Run.failed_attempts``), whatever its status says."""
        return (
            self.status == PASSED
            and not (self.has_errors or self.has_failures or self.aborted)
            and not self.unreadable
        )

    @property
    def cancelled(self) -> bool:
        return self.status == CANCELLED or self.aborted

    @property
    def duration_seconds(self) -> float | None:
        """Run time from start/stop timestamps, else the response time."""
        if self.started_at and self.stopped_at:
            return max(0.0, (self.stopped_at - self.started_at).total_seconds())
        if self.response_time_ms is not None:
            return max(0.0, self.response_time_ms / 1000.0)
        return None


@dataclass(frozen=True, slots=True)
class Session:
    """A test session as last read from the API."""

    session_id: str
    status: str
    name: str | None = None
    link: str | None = None
    error_group_ids: tuple[str, ...] = ()
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    time_elapsed_ms: float | None = None
    metadata: Metadata = field(default_factory=Metadata)
    results: tuple[Result, ...] = ()
    #: What the log and the annotations call it: "test session", or "check session" for a
    #: ``/v2/check-sessions`` body (``check_sessions.parse_check_session``).
    kind: str = "test session"

    @property
    def is_final(self) -> bool:
        """PASSED, FAILED or CANCELLED. Unknown statuses are treated as still running."""
        return self.status in FINAL_STATUSES

    @property
    def display_name(self) -> str:
        return self.name or self.session_id


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _text(value: Any) -> str | None:
    """A string field that identifies a run (checkId, runLocation, sequenceId): only a
    non-empty JSON string counts; anything else is as if the field were missing."""
    return value if isinstance(value, str) and value else None


def _shared_text(value: Any) -> str | None:
    text = _text(value)
    return _shared(text) if text else None


def _bool(value: Any) -> bool:
    return value is True


def _describe(value: Any) -> str:
    """A short, one-line description of a JSON value for messages."""
    if value is _MISSING:
        return "missing"
    text = repr(value) if isinstance(value, str) else _json_text(value)
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."


def _json_text(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


_MISSING = object()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return finite(value)


def finite(value: float) -> float | None:
    """A JSON number as a finite float; ``None`` for one beyond float range (``1e400`` written
    as an integer overflows) or not finite (Python's decoder accepts ``NaN``/``Infinity``)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _ids(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 timestamp to an aware datetime; ``None`` for anything unreadable."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def unix_time(value: Any) -> float | None:
    """An API timestamp (``2026-12-06T19:30:00.123Z``, 10 to 40 characters) as Unix seconds;
    ``None`` for anything else, also for a moment outside the years 1-9999 once in UTC
    (``0001-01-01T00:00+14:00``: no date can say it)."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    moment = parse_time(value)
    if moment is None:
        return None
    try:
        return moment.astimezone(timezone.utc).timestamp()
    except (OverflowError, OSError, ValueError):
        return None


# One copy of each of the few values that every row repeats (statuses, types, locations):
# 30,000 rows otherwise hold 120,000 copies of a handful of words (~6 MiB). Bounded, so a
# body of ever-new values costs no more than before.
_SHARED: dict[str, str] = {}
_SHARED_LIMIT = 1024


def _shared(text: str) -> str:
    found = _SHARED.get(text)
    if found is not None:
        return found
    if len(_SHARED) < _SHARED_LIMIT:
        _SHARED[text] = text
    return text


def _upper(value: Any) -> str | None:
    """An enum value: ASCII letters upper-cased (non-ASCII text is kept verbatim, so no
    look-alike such as ``"paſſed"`` can become ``PASSED``)."""
    text = _str(value)
    if not text:
        return None
    return _shared(text.upper() if text.isascii() else text)


def parse_metadata(data: Any) -> Metadata:
    if not isinstance(data, dict):
        return Metadata()
    return Metadata(
        environment=_str(data.get("environment")),
        repo_url=_str(data.get("repoUrl")),
        commit_id=_str(data.get("commitId")),
        commit_owner=_str(data.get("commitOwner")),
        commit_message=_str(data.get("commitMessage")),
        branch_name=_str(data.get("branchName")),
    )


def parse_result(data: Any, index: int = 0) -> Result:
    """One result row. A row that is not an object becomes a row of unknown type whose
    ``unreadable`` says so: it is counted, and never as a pass."""
    if not isinstance(data, dict):
        return Result(
            result_id=f"result-{index}",
            status="",
            result_type="",
            unreadable=(f"results[{index}] is {_describe(data)} (not an object)",),
        )
    unreadable: list[str] = []
    flags = {}
    for key in _FLAGS:
        value = data.get(key, _MISSING)
        if not isinstance(value, bool):
            unreadable.append(f"{key} is {_describe(value)}")
        flags[key] = _bool(value)
    raw_status = data.get("status", _MISSING)
    status = _upper(raw_status)
    if status is None or not isinstance(raw_status, str):
        unreadable.append(f"status is {_describe(raw_status)}")
    raw_type = data.get("resultType")
    result_type: str | None = None  # missing or null: a FINAL row
    if isinstance(raw_type, str):
        result_type = _shared(raw_type.upper() if raw_type.isascii() else raw_type)
    elif raw_type is not None:
        result_type = _describe(raw_type)  # never FINAL/ATTEMPT/PENDING: an unknown type
    return Result(
        result_id=_str(data.get("testSessionResultId")) or f"result-{index}",
        status=status or "",
        check_type=_upper(data.get("checkType")) or "UNKNOWN",
        name=_str(data.get("name")),
        check_id=_text(data.get("checkId")),
        run_location=_shared_text(data.get("runLocation")),
        result_type=result_type,
        link=_str(data.get("testSessionResultLink")),
        error_group_ids=_ids(data.get("errorGroupIds")),
        has_errors=flags["hasErrors"],
        has_failures=flags["hasFailures"],
        is_degraded=flags["isDegraded"],
        aborted=flags["aborted"],
        started_at=parse_time(data.get("startedAt")),
        stopped_at=parse_time(data.get("stoppedAt")),
        response_time_ms=_number(data.get("responseTime")),
        sequence_id=_text(data.get("sequenceId")),
        unreadable=tuple(unreadable),
    )


def parse_session(data: Any) -> Session:
    """Build a ``Session`` from a decoded body, tolerating anything but a non-session."""
    raw_results = data.get("results") if isinstance(data, dict) else None
    results: list[Result] = []
    if isinstance(raw_results, list):
        results = [parse_result(row, index) for index, row in enumerate(raw_results)]
    return _session(data, results)


def load_session(content: bytes | str) -> Session:
    """``parse_session(loads(content))``, reading the result rows one at a time.

    The decoded rows of a 30,000-result body take about 50 MiB, the parsed ``Result``s a
    fraction of that: each row is parsed as soon as it is decoded and then dropped. The same
    errors as ``loads`` (``ValueError``, ``RecursionError``) and ``parse_session``
    (``NotASessionError``, a ``ValueError`` too).
    """
    try:
        found = _read_rows(content)
    except ValueError:  # let json.loads say what is wrong with it, in its own words
        found = None
    if found is None:  # not an object, odd encoding, bad JSON: the plain way
        return parse_session(loads(content))
    return _session(*found)


_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when a key occurs twice: such a body means two things (one reader
    takes the first ``status``, ``json.loads`` the last), so it proves nothing."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key[:40]!r}")
            seen.add(key)
    return data


#: The one strict reading of an API body or snapshot: RFC 8259 JSON only. ``NaN``/``Infinity``
#: (which ``json`` accepts but no other reader does, and which a snapshot splicing the body as
#: received would carry into invalid JSON) and duplicate keys are a ``ValueError``.
_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_refuse_constant)


def loads(content: bytes | str) -> Any:
    """``json.loads`` (bytes in UTF-8/16/32, BOM-less as it detects them), strictly: ``ValueError``
    on a duplicate key or a ``NaN``/``Infinity``/``-Infinity`` constant; ``RecursionError`` on
    absurd nesting."""
    return json.loads(content, object_pairs_hook=_object, parse_constant=_refuse_constant)


def _skip(text: str, pos: int) -> int:
    """The position of the first non-whitespace character at or after ``pos``."""
    match = _SPACE.match(text, pos)
    return match.end() if match else pos


def _read_rows(content: bytes | str) -> tuple[dict[str, Any], list[Result]] | None:
    """The top-level object of a JSON text (its ``results`` not decoded) and the parsed results,
    or ``None`` when the text is not an object in UTF-8 (or ``str``). Raises ``ValueError`` on
    JSON that ``loads`` refuses (a duplicate key or ``NaN`` included)."""
    if isinstance(content, (bytes, bytearray)):
        if json.detect_encoding(content) != "utf-8":
            return None
        text = content.decode("utf-8", "surrogatepass")  # what json.loads does with bytes
    else:
        text = content
    pos = _skip(text, 0)
    if not text.startswith("{", pos):
        return None
    top: dict[str, Any] = {}
    results: list[Result] = []
    pos = _skip(text, pos + 1)
    while not text.startswith("}", pos):
        if top:
            if not text.startswith(",", pos):
                raise ValueError("expected , or }")
            pos = _skip(text, pos + 1)
        if not text.startswith('"', pos):
            raise ValueError("expected a key")
        key, pos = _DECODER.raw_decode(text, pos)
        if key in top:
            raise ValueError(f"duplicate key {key[:40]!r}")
        pos = _skip(text, pos)
        if not text.startswith(":", pos):
            raise ValueError("expected :")
        pos = _skip(text, pos + 1)
        if key == "results" and text.startswith("[", pos):
            results, pos = _rows(text, pos + 1)
            top[key] = results
        else:
            top[key], pos = _DECODER.raw_decode(text, pos)
        pos = _skip(text, pos)
    if _skip(text, pos + 1) != len(text):
        raise ValueError("extra data")
    if top.get("results") is not results:
        results = []  # "results" that is not an array
    return top, results


def _rows(text: str, pos: int) -> tuple[list[Result], int]:
    """The parsed rows of the array whose ``[`` ends before ``pos``, and the position after its
    ``]``."""
    results: list[Result] = []
    pos = _skip(text, pos)
    if text.startswith("]", pos):
        return results, pos + 1
    while True:
        row, pos = _DECODER.raw_decode(text, pos)
        results.append(parse_result(row, len(results)))
        pos = _skip(text, pos)
        if text.startswith("]", pos):
            return results, pos + 1
        if not text.startswith(",", pos):
            raise ValueError("expected , or ]")
        pos = _skip(text, pos + 1)


def _session(data: Any, results: list[Result]) -> Session:
    if not isinstance(data, dict):
        raise NotASessionError(f"expected a JSON object, got {type(data).__name__}")
    session_id = _str(data.get("testSessionId"))
    status = _upper(data.get("status"))
    if not session_id or not status:
        raise NotASessionError("JSON has no testSessionId or status")
    return Session(
        session_id=session_id,
        status=status,
        name=_str(data.get("name")),
        link=_str(data.get("testSessionLink")),
        error_group_ids=_ids(data.get("errorGroupIds")),
        started_at=parse_time(data.get("startedAt")),
        stopped_at=parse_time(data.get("stoppedAt")),
        time_elapsed_ms=_number(data.get("timeElapsed")),
        metadata=parse_metadata(data.get("metadata")),
        results=tuple(results),
    )


def same_session(requested_id: str, body_id: str) -> bool:
    """True when a body's ``testSessionId`` names the session asked for (UUIDs: ignoring ASCII
    case)."""
    return body_id.isascii() and requested_id.lower() == body_id.lower()


# --- what following a session saw (the follower records it, the verdict reads it) -------


class Stop(enum.Enum):
    """Why the follower stopped following a session."""

    FINAL = "final"  # the session reached PASSED / FAILED / CANCELLED
    DEADLINE = "deadline"  # the overall deadline came first
    REFUSED = "refused"  # 400 / 401 / 403: retrying cannot help
    NOT_FOUND = "not-found"  # 404 beyond the grace period
    INTERRUPTED = "interrupted"  # SIGINT / SIGTERM


@dataclass(frozen=True)
class Observation:
    """Everything the follower learned about one session."""

    session_id: str
    stop: Stop
    session: Session | None = None
    error: str | None = None  # last API problem, already free of secrets
    error_is_current: bool = False  # the API was failing when the follower stopped
    signal: int | None = None  # for Stop.INTERRUPTED

"""Domain model of a Checkly test session, parsed tolerantly from the API's JSON.

The API grows (new check types, new fields) and the body "may be incomplete" while a session
runs, so parsing never fails on unknown enum values, missing optional fields, nulls or extra
fields. Only a body that is not a session at all is refused (``NotASessionError``), because a
proxy page or an unrelated JSON document must never be judged as a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

# Session and result statuses the API documents. Anything else is kept verbatim and treated as
# "not final yet" by the verdict policy.
RUNNING = "RUNNING"
PASSED = "PASSED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
FINAL_STATUSES = frozenset({PASSED, FAILED, CANCELLED})

# Result types.
FINAL = "FINAL"
ATTEMPT = "ATTEMPT"
PENDING = "PENDING"


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
    """One row of ``results``: a FINAL outcome, an earlier ATTEMPT or a PENDING placeholder."""

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

    @property
    def display_name(self) -> str:
        """A name fit for people: the check name, else its id, else the result id."""
        return self.name or self.check_id or self.result_id

    @property
    def run_key(self) -> tuple[str, str]:
        """Identifies one run of a check at one location, to pair ATTEMPT rows with FINAL."""
        return (self.check_id or self.name or self.result_id, self.run_location or "")

    @property
    def is_final(self) -> bool:
        """A decided FINAL row. A missing resultType on a finished row counts as FINAL; a FINAL
        row whose status is not final (RUNNING, unknown) has not decided anything yet."""
        return self.result_type in (FINAL, None) and self.status in FINAL_STATUSES

    @property
    def is_attempt(self) -> bool:
        return self.result_type == ATTEMPT

    @property
    def failed(self) -> bool:
        """The run did not pass: assertion failure, Checkly-side error or FAILED status."""
        return self.has_failures or self.has_errors or self.status == FAILED

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


def _bool(value: Any) -> bool:
    return value is True


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


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


def _upper(value: Any) -> str | None:
    text = _str(value)
    return text.upper() if text else None


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


def parse_result(data: Any, index: int = 0) -> Result | None:
    """One result row; ``None`` when the row is not an object at all."""
    if not isinstance(data, dict):
        return None
    return Result(
        result_id=_str(data.get("testSessionResultId")) or f"result-{index}",
        status=_upper(data.get("status")) or RUNNING,
        check_type=_upper(data.get("checkType")) or "UNKNOWN",
        name=_str(data.get("name")),
        check_id=_str(data.get("checkId")),
        run_location=_str(data.get("runLocation")),
        result_type=_upper(data.get("resultType")),
        link=_str(data.get("testSessionResultLink")),
        error_group_ids=_ids(data.get("errorGroupIds")),
        has_errors=_bool(data.get("hasErrors")),
        has_failures=_bool(data.get("hasFailures")),
        is_degraded=_bool(data.get("isDegraded")),
        aborted=_bool(data.get("aborted")),
        started_at=parse_time(data.get("startedAt")),
        stopped_at=parse_time(data.get("stoppedAt")),
        response_time_ms=_number(data.get("responseTime")),
    )


def parse_session(data: Any) -> Session:
    """Build a ``Session`` from a decoded body, tolerating anything but a non-session."""
    if not isinstance(data, dict):
        raise NotASessionError(f"expected a JSON object, got {type(data).__name__}")
    session_id = _str(data.get("testSessionId"))
    status = _upper(data.get("status"))
    if not session_id or not status:
        raise NotASessionError("JSON has no testSessionId or status")
    raw_results = data.get("results")
    results: list[Result] = []
    if isinstance(raw_results, list):
        for index, row in enumerate(raw_results):
            result = parse_result(row, index)
            if result is not None:
                results.append(result)
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

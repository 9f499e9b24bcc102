"""Hypothesis strategies for test-session bodies, and an independent "provably passed" rule.

The strategies follow the contract's ``FindOneTestSessionResponse`` and ``TestSessionResult``
schemas (``../shared/checkly-api/openapi.yaml``, written out here so the tests need no copy of
it) plus the live API's extra fields (``responseTime``, ``startedAt``, ``stoppedAt`` on results;
``sequenceId`` as the simulator sends it; checkTypes SSL, GRPC, TRACEROUTE). Every field may
instead get a value outside its enum, a value of the wrong JSON type, ``null`` or go missing,
rows may be duplicated or not objects at all, and the body's ``testSessionId`` may be another
session's. A per-body ``noise`` level keeps most bodies close to a valid, passing one, so the
property is tried on many greens and near-greens, not only on garbage.

``provably_passed`` is written from the raw JSON, separately from ``checkly_gate.verdict`` (it
must not call it): the plain statement of "every run provably passed" the gate's exit 0 must
imply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

SESSION_STATUSES = ["RUNNING", "FAILED", "PASSED", "CANCELLED"]
RESULT_STATUSES = ["RUNNING", "FAILED", "PASSED", "CANCELLED"]
RESULT_TYPES = ["FINAL", "ATTEMPT", "PENDING"]
CHECK_TYPES = [
    *("AGENTIC", "API", "BROWSER", "HEARTBEAT", "ICMP", "MULTI_STEP", "TCP", "PLAYWRIGHT"),
    *("URL", "DNS", "SSL", "GRPC", "TRACEROUTE"),  # the last three: the live API's extras
]
FLAGS = ["hasErrors", "hasFailures", "isDegraded", "aborted"]
# A row's outcome: its status and the FLAGS that are true, as Checkly combines them, plus
# combinations that are odd but possible (a failure flag on a PASSED row, aborted but PASSED).
OUTCOMES: dict[str, tuple[str, set[str]]] = {
    "passed": ("PASSED", set()),
    "degraded": ("PASSED", {"isDegraded"}),
    "failed": ("FAILED", {"hasFailures"}),
    "error": ("FAILED", {"hasErrors"}),
    "cancelled": ("CANCELLED", {"aborted"}),
    "running": ("RUNNING", set()),
    "failure flag only": ("PASSED", {"hasFailures"}),
    "aborted only": ("PASSED", {"aborted"}),
    "unknown status": ("TIMED_OUT", set()),
}
# Values outside the enums: plausible future ones, case and Unicode look-alikes, empty.
OUTSIDE = ["TIMED_OUT", "DEGRADED", "ERROR", "SKIPPED", "RETRY", "QUEUED", "passed", "paſſed", ""]
NAMES = ["Homepage", "Login API", "Checkout"]  # few, so checks share names
LOCATIONS = ["eu-west-1", "us-east-1"]

ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.sampled_from(OUTSIDE),
    st.lists(st.sampled_from(["PASSED", 1, None]), max_size=2),
    st.dictionaries(st.sampled_from(["a", "status"]), st.integers(0, 2), max_size=2),
)
MISSING = object()  # a field left out of the body
ODD_OR_MISSING = st.one_of(ODD, st.just(MISSING))
PERCENT = st.integers(0, 99)
UUIDS = st.uuids().map(str)


def _mostly(common: Any, *others: Any, weight: int = 6) -> st.SearchStrategy[Any]:
    """``common`` ``weight`` times as often as each of ``others``."""
    return st.sampled_from([common] * weight + list(others))


# Built once: strategies made inside a draw are validated again on every draw, which is slow.
RUNS_PER_SESSION = _mostly(2, 0, 1, 1, 3, 3, 4, weight=4)
CHECK_IDS = _mostly("uuid", None, MISSING)
SEQUENCE_IDS = _mostly("uuid", MISSING, None, weight=2)
TRIES = st.integers(0, 2)
DECIDING_TYPES = _mostly("FINAL", "PENDING", None)
FINAL_OUTCOMES = _mostly("passed", *OUTCOMES, weight=40)
ATTEMPT_OUTCOMES = _mostly("failed", "passed", "error")
SESSION_STATUS = _mostly(
    "PASSED", "RUNNING", "FAILED", "CANCELLED", "passed", "TIMED_OUT", weight=20
)
STOPPED_AT = st.sampled_from(["2026-11-26T10:00:02.000Z", None])
STARTED_AT = "2026-11-26T10:00:00.000Z"
ERROR_GROUPS = st.lists(UUIDS, max_size=1)
RESPONSE_TIME = st.one_of(st.integers(0, 9000), st.none(), ODD)
METADATA = st.fixed_dictionaries(
    {"environment": st.just("staging")},
    optional={"branchName": st.one_of(st.none(), st.just("main")), "commitId": ODD},
)


def _field(draw: st.DrawFn, valid: Any, noise: int) -> Any:
    """``valid`` (a value, or a strategy to draw one from) most of the time; with ``noise``
    percent a value of the wrong type or outside the enum, ``null``, or a missing field."""
    if noise and draw(PERCENT) < noise:
        return draw(ODD_OR_MISSING)
    return draw(valid) if isinstance(valid, st.SearchStrategy) else valid


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not MISSING:
        target[key] = value


@st.composite
def result_rows(draw: st.DrawFn, session_id: str, noise: int) -> list[Any]:
    """The rows of one session: a few runs of a few checks, each 0-2 ATTEMPT rows and a
    FINAL or PENDING row; then duplicated, dropped, reordered or non-object rows."""
    rows: list[Any] = []
    for _ in range(draw(RUNS_PER_SESSION)):
        name = draw(st.sampled_from(NAMES))
        check_id = draw(CHECK_IDS)
        check_id = draw(UUIDS) if check_id == "uuid" else check_id
        location = _field(draw, st.sampled_from(LOCATIONS), noise)
        sequence = draw(SEQUENCE_IDS)
        sequence = draw(UUIDS) if sequence == "uuid" else sequence
        types = ["ATTEMPT"] * draw(TRIES) + [draw(DECIDING_TYPES)]
        for result_type in types:
            row: dict[str, Any] = {}
            rid = draw(UUIDS)
            _put(row, "testSessionResultId", _field(draw, rid, noise))
            link = f"https://app.checklyhq.com/test-sessions/{session_id}/results/{rid}"
            _put(row, "testSessionResultLink", _field(draw, link, noise))
            _put(row, "checkId", check_id)
            _put(row, "checkType", _field(draw, st.sampled_from(CHECK_TYPES), noise))
            _put(row, "name", _field(draw, name, noise))
            _put(row, "runLocation", location)
            _put(row, "errorGroupIds", _field(draw, ERROR_GROUPS, noise))
            if result_type is not None:
                _put(row, "resultType", _field(draw, result_type, noise))
            if result_type == "PENDING":
                outcome = "running"
            else:
                outcome = draw(ATTEMPT_OUTCOMES if result_type == "ATTEMPT" else FINAL_OUTCOMES)
            status, true_flags = OUTCOMES[outcome]
            _put(row, "status", _field(draw, status, noise))
            for flag in FLAGS:
                _put(row, flag, _field(draw, flag in true_flags, noise))
            # The live API's and the simulator's extra fields.
            _put(row, "responseTime", draw(RESPONSE_TIME))
            _put(row, "startedAt", _field(draw, STARTED_AT, noise))
            _put(row, "stoppedAt", _field(draw, STOPPED_AT, noise))
            _put(row, "sequenceId", sequence)
            if draw(PERCENT) < 10:
                row["somethingNew"] = draw(ODD)
            rows.append(row)
    if rows and draw(PERCENT) < 15:  # a duplicated row
        rows.insert(draw(st.integers(0, len(rows))), dict(draw(st.sampled_from(rows))))
    if rows and draw(PERCENT) < 10:  # a dropped row
        rows.pop(draw(st.integers(0, len(rows) - 1)))
    if rows and draw(PERCENT) < 10:  # API order not by run
        rows = draw(st.permutations(rows))
    if noise and draw(PERCENT) < noise:  # a row that is not an object
        rows.insert(draw(st.integers(0, len(rows))), draw(ODD))
    return rows


@dataclass(frozen=True)
class Case:
    """One session as the gate asks for it (``requested_id``) and the body the API answers."""

    requested_id: str
    body: Any


@st.composite
def sessions(draw: st.DrawFn) -> Case:
    """A requested session id and a ``FindOneTestSessionResponse``-shaped answer."""
    noise = draw(st.sampled_from([0, 0, 0, 2, 5, 20]))
    requested = draw(UUIDS)
    mode = draw(PERCENT)
    if mode < 80:
        sid: Any = requested
    elif mode < 85:
        sid = requested.upper()  # the same UUID
    elif mode < 93:
        sid = draw(UUIDS)  # another session's answer
    else:
        sid = draw(ODD_OR_MISSING)
    body: dict[str, Any] = {}
    _put(body, "testSessionId", sid)
    link = f"https://app.checklyhq.com/test-sessions/{requested}"
    _put(body, "testSessionLink", _field(draw, link, noise))
    _put(body, "name", _field(draw, st.sampled_from(["Deploy checks", "Smoke"]), noise))
    _put(body, "status", _field(draw, SESSION_STATUS, noise))
    _put(body, "errorGroupIds", _field(draw, [], noise))
    _put(body, "startedAt", _field(draw, STARTED_AT, noise))
    _put(body, "stoppedAt", _field(draw, "2026-11-26T10:00:05.000Z", noise))
    _put(body, "timeElapsed", _field(draw, st.integers(0, 10**6), noise))
    _put(body, "metadata", _field(draw, METADATA, noise))
    _put(body, "results", _field(draw, result_rows(requested, noise), noise))
    if draw(st.booleans()):
        body["simulatorScenario"] = "generated"  # an extra field, as the simulator sends
    return Case(requested, body)


# --- the independent rule -----------------------------------------------------------------------


def _spells(value: Any, word: str) -> bool:
    """A JSON string that is ``word`` in ASCII letters of any case."""
    return isinstance(value, str) and value.isascii() and value.upper() == word


def _key_text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def provably_passed(
    case: Case, stopped_final: bool, fail_on_flaky: bool, fail_on_degraded: bool
) -> bool:
    """Every run of the session provably passed, read straight from the JSON:

    the gate saw the session end; the body is an object whose ``testSessionId`` is the requested
    id; its status is PASSED; it has results, all of them objects; every row that is not an
    ATTEMPT is a FINAL row (or has no resultType) with status PASSED and ``hasErrors``,
    ``hasFailures`` and ``aborted`` exactly false and ``isDegraded`` exactly true or false
    (true only without --fail-on-degraded); there is at least one such row; every ATTEMPT row
    belongs to one of them (same non-empty ``sequenceId``, or same non-empty string ``checkId``
    and ``runLocation``), and with --fail-on-flaky every ATTEMPT row is itself a clean pass.
    """
    body = case.body
    if not stopped_final or not isinstance(body, dict):
        return False
    sid = body.get("testSessionId")
    if not (isinstance(sid, str) and sid.isascii() and sid.lower() == case.requested_id.lower()):
        return False
    if not _spells(body.get("status"), "PASSED"):
        return False
    rows = body.get("results")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        return False
    finals = [r for r in rows if not _spells(r.get("resultType"), "ATTEMPT")]
    attempts = [r for r in rows if _spells(r.get("resultType"), "ATTEMPT")]
    if not finals:
        return False
    for row in finals:
        kind = row.get("resultType")
        if kind is not None and not _spells(kind, "FINAL"):
            return False
        if not _spells(row.get("status"), "PASSED"):
            return False
        if any(
            row.get(flag, "missing") is not False
            for flag in ("hasErrors", "hasFailures", "aborted")
        ):
            return False
        degraded = row.get("isDegraded", "missing")
        if not isinstance(degraded, bool) or (degraded and fail_on_degraded):
            return False
    for attempt in attempts:
        sequence = _key_text(attempt.get("sequenceId"))
        check = _key_text(attempt.get("checkId"))
        where = _key_text(attempt.get("runLocation"))
        owned = any(
            (sequence and _key_text(f.get("sequenceId")) == sequence)
            or (
                check
                and _key_text(f.get("checkId")) == check
                and _key_text(f.get("runLocation")) == where
            )
            for f in finals
        )
        if not owned:
            return False
        if fail_on_flaky and not (
            _spells(attempt.get("status"), "PASSED")
            and all(attempt.get(flag) is False for flag in ("hasErrors", "hasFailures", "aborted"))
        ):
            return False
    return True

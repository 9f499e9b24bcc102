"""Check sessions read as sessions: the status table, derived result statuses, tolerance."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkly_gate.check_sessions import CHECK_SESSION_STATUS, parse_any_session, parse_check_session
from checkly_gate.models import NotASessionError, Observation, Stop
from checkly_gate.verdict import Outcome, Policy, judge_session

CSID = "5d0c7a6e-1111-4222-8333-444455556666"


def result(location: str = "eu-west-1", **flags: Any) -> dict[str, Any]:
    body = {
        "checkResultId": f"r-{location}-{len(flags)}",
        "checkResultLink": f"https://app.checklyhq.com/r/{location}",
        "checkId": "c-1",
        "checkType": "BROWSER",
        "name": "Homepage",
        "runLocation": location,
        "resultType": "FINAL",
        "hasErrors": False,
        "hasFailures": False,
        "isDegraded": False,
        "aborted": False,
        "isCancelled": False,
        "startedAt": "2026-11-26T10:00:00Z",
        "stoppedAt": "2026-11-26T10:00:03Z",
    }
    body.update(flags)
    return body


def check_session(status: str, results: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    body = {
        "checkSessionId": CSID,
        "checkSessionLink": f"https://app.checklyhq.com/check-sessions/{CSID}",
        "checkId": "c-1",
        "checkType": "BROWSER",
        "name": "Homepage",
        "status": status,
        "startedAt": "2026-11-26T10:00:00Z",
        "stoppedAt": None if status.startswith(("PROGRESS", "STARTED")) else "2026-11-26T10:01Z",
        "timeElapsed": 3000,
        "runLocations": ["eu-west-1", "us-east-1"],
        "runSource": "TRIGGER_API",
        "results": results,
    }
    body.update(extra)
    return body


def judge(body: dict[str, Any], policy: Policy | None = None, stop: Stop = Stop.FINAL) -> Any:
    session = parse_check_session(body)
    return judge_session(Observation(CSID, stop, session=session), policy or Policy())


BOTH = [result(), result("us-east-1")]


@pytest.mark.parametrize(
    ("status", "rows", "policy", "outcome"),
    [
        ("PASSED", BOTH, Policy(), Outcome.PASSED),
        ("DEGRADED", BOTH, Policy(), Outcome.PASSED),
        ("DEGRADED", BOTH, Policy(fail_on_degraded=True), Outcome.FAILED),
        ("FAILED", [result(), result("us-east-1", hasFailures=True)], Policy(), Outcome.FAILED),
        ("FAILED", BOTH, Policy(), Outcome.FAILED),  # the status alone fails
        ("TIMED_OUT", [result()], Policy(), Outcome.FAILED),
        (
            "CANCELLED",
            [result(), result("us-east-1", isCancelled=True)],
            Policy(),
            Outcome.CANCELLED,
        ),
    ],
)
def test_final_statuses_map_as_documented(
    status: str, rows: list[dict[str, Any]], policy: Policy, outcome: Outcome
) -> None:
    assert judge(check_session(status, rows), policy).outcome is outcome


@pytest.mark.parametrize("status", ["STARTED", "PROGRESS", "PROGRESS_FAILED", "PROGRESS_DEGRADED"])
def test_progress_states_are_still_running(status: str) -> None:
    session = parse_check_session(check_session(status, [result()]))
    assert not session.is_final
    verdict = judge(check_session(status, [result()]), stop=Stop.DEADLINE)
    assert verdict.outcome is Outcome.TIMED_OUT
    assert verdict.counts.pending == 1  # us-east-1 has no result yet: shown as unfinished


def test_a_failed_result_fails_the_gate_while_the_session_still_runs() -> None:
    body = check_session("PROGRESS_FAILED", [result(hasFailures=True)])
    assert judge(body, stop=Stop.DEADLINE).outcome is Outcome.FAILED


def test_timed_out_is_a_failure_of_the_check_naming_the_location() -> None:
    verdict = judge(check_session("TIMED_OUT", [result()]))
    assert verdict.outcome is Outcome.FAILED
    assert "us-east-1" in verdict.reason and "timed out" in verdict.reason


def test_every_documented_status_is_in_the_one_table() -> None:
    documented = {
        "STARTED", "PROGRESS", "FAILED", "PASSED", "DEGRADED",
        "PROGRESS_FAILED", "PROGRESS_DEGRADED", "TIMED_OUT", "CANCELLED",
    }  # fmt: skip
    assert set(CHECK_SESSION_STATUS) == documented


@given(
    st.text(min_size=1, max_size=20).filter(
        lambda s: bool(s.strip()) and s.strip().upper() not in CHECK_SESSION_STATUS
    )
)
def test_unknown_statuses_are_never_green(status: str) -> None:
    stopped = judge(check_session(status, BOTH))
    assert stopped.outcome is Outcome.FAILED
    running = judge(check_session(status, BOTH, stoppedAt=None), stop=Stop.DEADLINE)
    assert running.outcome is not Outcome.PASSED


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(
    st.dictionaries(
        st.sampled_from(
            ["results", "runLocations", "name", "stoppedAt", "checkType", "timeElapsed"]
        ),
        json_values,
    ),
    st.sampled_from(sorted(CHECK_SESSION_STATUS)),
)
def test_any_shape_parses_and_is_green_only_when_checkly_says_so(
    fields: dict[str, Any], status: str
) -> None:
    body = {"checkSessionId": CSID, "status": status, **fields}
    verdict = judge(body)
    if verdict.outcome is Outcome.PASSED:
        assert status in ("PASSED", "DEGRADED")


def test_not_a_check_session_is_refused_and_test_sessions_still_parse() -> None:
    for body in ({}, {"checkSessionId": CSID}, [], "x"):
        with pytest.raises(NotASessionError):
            parse_check_session(body)
    body = check_session("PASSED", BOTH)
    assert parse_any_session(body).session_id == CSID
    assert parse_any_session({"testSessionId": "t", "status": "PASSED"}).session_id == "t"


def test_cancel_on_interrupt_uses_the_check_session_endpoint() -> None:
    import httpx

    from checkly_gate.api import Client
    from checkly_gate.gate import SessionRef, cancel_sessions

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return httpx.Response(204)

    client = Client("k", "https://api.test", transport=httpx.MockTransport(handler))
    test_session = "0b9f3c3e-5a4b-4c2d-9e1f-1234567890ab"
    cancel_sessions(client, [SessionRef(CSID, "check"), SessionRef(test_session, "test")])
    assert seen == [
        f"POST /v1/check-sessions/{CSID}/cancel",
        f"POST /v1/test-sessions/{test_session}/cancel",
    ]


_RESULT_FLAGS = ("hasErrors", "hasFailures", "isDegraded", "aborted", "isCancelled")
_MISSING = object()


@given(
    st.sampled_from(_RESULT_FLAGS),
    st.just(_MISSING) | json_values.filter(lambda v: not isinstance(v, bool)),
)
def test_a_result_flag_that_is_missing_or_not_a_boolean_is_never_green(
    flag: str, value: Any
) -> None:
    # The contract requires every flag: "true", 1, null or no flag at all is not "no failure".
    row = result()
    if value is _MISSING:
        del row[flag]
    else:
        row[flag] = value
    verdict = judge(check_session("PASSED", [row, result("us-east-1")]))
    assert verdict.outcome is not Outcome.PASSED
    assert flag in verdict.reason


@given(json_values.filter(lambda v: not isinstance(v, dict)))
def test_a_result_row_that_is_not_an_object_is_counted_never_dropped(value: Any) -> None:
    verdict = judge(check_session("PASSED", [*BOTH, value]))
    assert verdict.outcome is not Outcome.PASSED


@pytest.mark.parametrize(
    "extra",
    [{"checkSessionId": "not-a-uuid", "status": "STARTED"}, {"status": "STARTED"}, "x", None, 7],
)
def test_a_started_check_session_the_gate_cannot_follow_is_never_dropped(extra: Any) -> None:
    # Dropping it made `run --check-sessions` green on the sessions it could read.
    from checkly_gate.api import Ambiguous, Client

    answer = {"sessions": [check_session("STARTED", []), extra]}
    client = Client(
        "key-1",
        "https://api.test",
        transport=httpx.MockTransport(lambda r: httpx.Response(201, json=answer)),
    )
    with pytest.raises(Ambiguous, match="cannot follow"):
        client.trigger_check_sessions({}, 5.0)


def test_a_check_session_listed_twice_by_the_trigger_is_followed_once() -> None:
    from checkly_gate.api import Client

    one = check_session("STARTED", [])
    again = dict(one, checkSessionId=CSID.upper())
    answer = {"sessions": [one, again]}
    client = Client(
        "key-1",
        "https://api.test",
        transport=httpx.MockTransport(lambda r: httpx.Response(201, json=answer)),
    )
    sessions = client.trigger_check_sessions({}, 5.0)
    assert [s.session_id for s in sessions] == [CSID]

"""Parsing is tolerant: the API grows and bodies are incomplete while a session runs."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkly_gate.models import (
    NotASessionError,
    Observation,
    Session,
    Stop,
    load_session,
    loads,
    parse_session,
)
from checkly_gate.verdict import judge_session
from tests.fakes import row, session_body


def test_parses_a_full_session() -> None:
    session = parse_session(session_body("FAILED", [row(status="FAILED")]))
    assert session.status == "FAILED"
    assert session.name == "Deploy checks"
    assert session.metadata.branch_name == "main"
    (result,) = session.results
    assert not result.passed_cleanly and result.is_final and result.status == "FAILED"
    assert result.duration_seconds == pytest.approx(2.5)


def test_unknown_enums_missing_fields_and_extras_do_not_crash() -> None:
    body = {
        "testSessionId": "x",
        "status": "QUEUED_FOR_MARS",
        "newTopLevelThing": {"a": 1},
        "metadata": None,
        "errorGroupIds": None,
        "results": [
            {"checkType": "TRACEROUTE", "status": "PASSED", "extra": [1, 2]},
            {"checkType": None, "status": None, "resultType": "SOMETHING_NEW"},
            "not-an-object",
            None,
        ],
    }
    session = parse_session(body)
    assert session.status == "QUEUED_FOR_MARS"
    assert not session.is_final  # unknown status counts as still running
    # Rows that are not objects are kept (as rows of unknown type), so they can never vanish
    # from a verdict; they used to be dropped, which let a body hide a run.
    assert [r.check_type for r in session.results] == ["TRACEROUTE", *["UNKNOWN"] * 3]
    assert session.results[0].is_final  # resultType missing but status final
    assert not session.results[1].is_final
    assert session.results[2].unreadable == ("results[2] is 'not-an-object' (not an object)",)
    assert session.results[3].unreadable == ("results[3] is null (not an object)",)
    # The contract's required flags are missing from the first row: recorded, never assumed false.
    assert "hasFailures is missing" in session.results[0].unreadable
    assert "status is null" in session.results[1].unreadable


def test_final_row_with_running_status_decides_nothing() -> None:
    session = parse_session(session_body("RUNNING", [row(status="RUNNING")]))
    assert not session.results[0].is_final


@pytest.mark.parametrize("body", [[], "text", 3, None, {}, {"status": "PASSED"}, {"ok": True}])
def test_non_sessions_are_refused(body: object) -> None:
    with pytest.raises(NotASessionError):
        parse_session(body)


JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    [
        "testSessionId",
        "status",
        "results",
        "name",
        "metadata",
        "startedAt",
        "stoppedAt",
        "testSessionLink",
        "errorGroupIds",
        "timeElapsed",
    ]
)
RESULT_FIELDS = st.sampled_from(
    [
        "testSessionResultId",
        "status",
        "resultType",
        "checkType",
        "name",
        "hasErrors",
        "hasFailures",
        "isDegraded",
        "aborted",
        "startedAt",
        "stoppedAt",
        "runLocation",
        "checkId",
        "responseTime",
        "errorGroupIds",
    ]
)
RESULT = st.dictionaries(RESULT_FIELDS, JSON | st.sampled_from(["FINAL", "ATTEMPT", "PASSED"]))
SESSIONISH = st.dictionaries(FIELDS, JSON | st.lists(RESULT, max_size=4) | st.just("PASSED"))


@settings(max_examples=150, deadline=None)
@given(st.one_of(JSON, SESSIONISH))
def test_any_json_parses_or_is_refused_cleanly_and_never_judges_unknown_as_pass(
    data: object,
) -> None:
    try:
        session = parse_session(json.loads(json.dumps(data)))
    except NotASessionError:
        return
    verdict = judge_session(Observation(session.session_id, Stop.FINAL, session=session))
    if verdict.outcome.value == 0:
        assert session.status == "PASSED"
        assert verdict.counts.failed == verdict.counts.errored == 0
        assert verdict.counts.passed + verdict.counts.flaky + verdict.counts.degraded > 0


def _outcome(read: Callable[[], Session]) -> object:
    try:
        return read()
    except (ValueError, RecursionError) as exc:
        return (type(exc), str(exc))


SPACE = st.sampled_from(["", " ", "\n", "\t ", "\r\n  "])
KEYS = st.sampled_from(["results", "status", "testSessionId"]) | FIELDS  # duplicates often
MEMBERS = st.lists(
    st.tuples(KEYS, JSON | st.lists(RESULT, max_size=4) | st.just("PASSED"), SPACE, SPACE),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(MEMBERS, SPACE, st.integers(0, 10**6), st.sampled_from(["", ",", "}", "]", '"', "x", "[{"]))
def test_reading_rows_one_at_a_time_is_parsing_the_decoded_body(
    members: list[tuple[str, object, str, str]], space: str, at: int, damage: str
) -> None:
    """``load_session`` (rows decoded and parsed one at a time, for memory) reads any text as
    ``parse_session(loads(text))`` (the strict reading) does: the same session or the same error,
    whatever the whitespace, duplicate keys (refused), a ``results`` that is not an array, or
    damage."""
    members = [("testSessionId", "x", "", ""), ("status", "PASSED", "", ""), *members]
    items = (f"{a}{json.dumps(k)}{b}:{a}{json.dumps(v)}{b}" for k, v, a, b in members)
    text = space + "{" + ",".join(items) + "}" + space
    for candidate in (text, text[: at % (len(text) + 1)] + damage + text[at % (len(text) + 1) :]):
        for content in (candidate, candidate.encode()):
            expected = _outcome(lambda c=content: parse_session(loads(c)))
            assert _outcome(lambda c=content: load_session(c)) == expected


@given(
    st.sampled_from(["responseTime", "timeElapsed"]),
    st.integers(min_value=10**309, max_value=10**1000) | st.sampled_from(["NaN", "Infinity"]),
)
def test_numbers_beyond_float_range_are_unknown_never_an_unreadable_body(
    field: str, value: int | str
) -> None:
    # An optional number the gate cannot hold as a float (a 400-digit integer, Python's
    # NaN/Infinity) used to raise OverflowError: the whole session was retried as "unavailable".
    body = session_body("PASSED", [row()])
    (body if field == "timeElapsed" else body["results"][0])[field] = "@number@"
    session = parse_session(json.loads(json.dumps(body).replace('"@number@"', str(value))))
    assert session.time_elapsed_ms is None or field != "timeElapsed"
    assert session.results[0].response_time_ms is None or field != "responseTime"

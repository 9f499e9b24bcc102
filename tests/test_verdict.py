"""The verdict policy: FINAL decides, ATTEMPT makes flaky, the worse of status and rows wins."""

from __future__ import annotations

import pytest

from checkly_gate.models import parse_session
from checkly_gate.verdict import (
    Category,
    Observation,
    Outcome,
    Policy,
    SessionVerdict,
    Stop,
    combine,
    group_runs,
    is_settled,
    judge_session,
)
from tests.fakes import SID, row, session_body


def judge(
    status: str,
    rows: list[dict],
    stop: Stop = Stop.FINAL,
    policy: Policy | None = None,
    **obs: object,
) -> SessionVerdict:
    session = parse_session(session_body(status, rows))
    return judge_session(Observation(SID, stop, session=session, **obs), policy or Policy())


def test_all_final_passed_is_a_pass() -> None:
    v = judge("PASSED", [row("a"), row("b", location="us-east-1")])
    assert v.outcome is Outcome.PASSED and v.counts.passed == 2


def test_attempts_then_final_pass_is_flaky_not_failed() -> None:
    rows = [row("a", "FAILED", "ATTEMPT"), row("a", "PASSED", "FINAL")]
    v = judge("PASSED", rows)
    assert v.outcome is Outcome.PASSED
    assert v.counts.flaky == 1 and v.counts.total == 1
    assert v.runs[0].category is Category.FLAKY


def test_fail_on_flaky_and_degraded_policies() -> None:
    flaky = [row("a", "FAILED", "ATTEMPT"), row("a", "PASSED")]
    assert judge("PASSED", flaky, policy=Policy(fail_on_flaky=True)).outcome is Outcome.FAILED
    degraded = [row("a", isDegraded=True)]
    assert judge("PASSED", degraded).outcome is Outcome.PASSED
    v = judge("PASSED", degraded, policy=Policy(fail_on_degraded=True))
    assert v.outcome is Outcome.FAILED and "degraded" in v.reason


def test_passed_session_with_failed_final_row_fails_and_warns() -> None:
    v = judge("PASSED", [row("a"), row("b", "FAILED")])
    assert v.outcome is Outcome.FAILED
    assert any("disagree" in w or "failure wins" in w for w in v.warnings)


def test_failed_session_without_failed_rows_still_fails_and_warns() -> None:
    v = judge("FAILED", [row("a")])
    assert v.outcome is Outcome.FAILED
    assert v.warnings


def test_has_errors_is_an_error_and_not_a_pass() -> None:
    v = judge("PASSED", [row("a", "PASSED", hasErrors=True)])
    assert v.outcome is Outcome.FAILED
    assert v.counts.errored == 1


def test_cancelled_session_is_exit_3_unless_something_failed() -> None:
    assert judge("CANCELLED", [row("a", "CANCELLED", aborted=True)]).outcome is Outcome.CANCELLED
    assert judge("CANCELLED", [row("a", "FAILED")]).outcome is Outcome.FAILED


def test_pending_rows_are_unfinished_and_never_count_as_passed() -> None:
    rows = [row("a"), row("b", "RUNNING", "PENDING")]
    session = parse_session(session_body("PASSED", rows))
    assert not is_settled(session)
    v = judge("PASSED", rows)
    assert v.counts.pending == 1
    assert [r.name for r in v.unfinished] == ["b"]
    assert any("never finished" in w for w in v.warnings)


def test_final_without_stopped_at_is_not_settled() -> None:
    session = parse_session(session_body("PASSED", [row("a", stoppedAt=None)]))
    assert not is_settled(session)


def test_passed_session_without_results_is_not_green() -> None:
    assert judge("PASSED", []).outcome is Outcome.FAILED


def test_deadline_while_running_is_timeout_but_known_failures_win() -> None:
    running = [row("a"), row("b", "RUNNING", "PENDING")]
    v = judge("RUNNING", running, Stop.DEADLINE)
    assert v.outcome is Outcome.TIMED_OUT and "1/2" in v.reason
    v = judge("RUNNING", [row("a", "FAILED"), row("b", "RUNNING", "PENDING")], Stop.DEADLINE)
    assert v.outcome is Outcome.FAILED


def test_deadline_during_api_trouble_is_unavailable() -> None:
    v = judge("RUNNING", [], Stop.DEADLINE, error="HTTP 503", error_is_current=True)
    assert v.outcome is Outcome.UNAVAILABLE


@pytest.mark.parametrize(
    ("stop", "outcome"),
    [
        (Stop.REFUSED, Outcome.REFUSED),
        (Stop.NOT_FOUND, Outcome.REFUSED),
        (Stop.DEADLINE, Outcome.UNAVAILABLE),
        (Stop.INTERRUPTED, Outcome.INTERRUPTED),
    ],
)
def test_sessions_never_read(stop: Stop, outcome: Outcome) -> None:
    v = judge_session(Observation(SID, stop, error="boom"))
    assert v.outcome is outcome
    assert v.outcome is not Outcome.PASSED


def test_combine_most_severe_wins_and_failure_outranks_unknowns() -> None:
    def sv(outcome: Outcome) -> SessionVerdict:
        return SessionVerdict(SID, outcome, outcome.label)

    assert combine([sv(Outcome.PASSED), sv(Outcome.PASSED)]).exit_code == 0
    assert combine([sv(Outcome.PASSED), sv(Outcome.TIMED_OUT)]).exit_code == 4
    assert combine([sv(Outcome.TIMED_OUT), sv(Outcome.UNAVAILABLE)]).exit_code == 6
    assert combine([sv(Outcome.UNAVAILABLE), sv(Outcome.FAILED)]).exit_code == 1
    assert combine([sv(Outcome.CANCELLED), sv(Outcome.TIMED_OUT)]).exit_code == 3
    assert combine([sv(Outcome.REFUSED), sv(Outcome.PASSED)]).exit_code == 5
    assert combine([sv(Outcome.FAILED)], signal=15).exit_code == 143
    assert combine([sv(Outcome.PASSED)], signal=2).exit_code == 130
    assert combine([]).exit_code == 2


def test_runs_pair_attempts_with_final_per_location() -> None:
    rows = [
        row("a", "FAILED", "ATTEMPT", location="eu"),
        row("a", "PASSED", "FINAL", location="eu"),
        row("a", "PASSED", "FINAL", location="us"),
    ]
    runs = group_runs(parse_session(session_body("PASSED", rows)).results)
    assert [(r.latest.run_location, r.category) for r in runs] == [
        ("eu", Category.FLAKY),
        ("us", Category.PASSED),
    ]

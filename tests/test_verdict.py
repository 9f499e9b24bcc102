"""The verdict policy: FINAL decides, ATTEMPT makes flaky, the worse of status and rows wins."""

from __future__ import annotations

import pytest

from checkly_gate.models import Observation, Stop, parse_session
from checkly_gate.outcomes import Category, Outcome
from checkly_gate.verdict import (
    Policy,
    SessionVerdict,
    combine,
    group_runs,
    is_settled,
    judge_session,
    prove_passed,
)
from tests.fakes import SID, row, session_body
from tests.runs import SID2


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
    # This test used to stop at the warning: the session itself passed (exit 0) with run b
    # never finished. A PASSED session with an unfinished run is not proven: exit 1.
    assert v.outcome is Outcome.FAILED
    assert "b (eu-west-1; resultType PENDING)" in v.reason and "never finished" in v.reason
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


# --- Green is proven, not assumed (issue 8) ---------------------------------------------------
# The four bodies quoted in the issue each exited 0. ``tests/test_verdict_property.py`` covers
# their whole kind; these pin the quoted ones.


def test_issue_body_failure_flag_with_unknown_status_fails() -> None:
    v = judge("PASSED", [row("a"), row("b", "TIMED_OUT", hasFailures=True)])
    assert v.outcome is Outcome.FAILED
    assert "b (eu-west-1; an assertion failed)" in v.reason


def test_issue_body_every_final_row_cancelled_is_not_a_pass() -> None:
    rows = [row("a", "CANCELLED"), row("b", "CANCELLED")]
    v = judge("PASSED", rows)
    assert v.outcome is Outcome.CANCELLED and v.counts.skipped == 2
    assert "a (eu-west-1; status CANCELLED)" in v.reason
    aborted = judge("PASSED", [row("a", aborted=True)])  # status PASSED, but aborted
    assert aborted.outcome is Outcome.CANCELLED and "aborted true" in aborted.reason


def test_issue_body_final_row_still_running_is_unfinished() -> None:
    rows = [row("a"), row("b", "RUNNING", "FINAL")]
    assert not is_settled(parse_session(session_body("PASSED", rows)))
    v = judge("PASSED", rows)  # what the poller hands over once its settle attempts are used up
    assert v.outcome is Outcome.FAILED
    assert "b (eu-west-1; FINAL row with status RUNNING)" in v.reason
    assert v.runs[1].final is not None and v.runs[1].unfinished


def test_issue_body_of_another_session_is_never_judged() -> None:
    body = session_body("PASSED", [row("a")], sid=SID2)
    obs = Observation(SID, Stop.FINAL, session=parse_session(body))
    v = judge_session(obs)
    assert v.outcome is Outcome.UNAVAILABLE
    assert SID2 in v.reason and "testSessionId" in v.reason
    assert not prove_passed(obs).holds
    # The same id in upper case is the same UUID.
    upper = session_body("PASSED", [row("a")], sid=SID.upper())
    assert judge_session(Observation(SID, Stop.FINAL, session=parse_session(upper))).outcome is (
        Outcome.PASSED
    )


def test_proof_names_every_gap() -> None:
    body = session_body("RUNNING", [row("a", "WEIRD"), row("b")], sid=SID2)
    proof = prove_passed(Observation(SID, Stop.DEADLINE, session=parse_session(body)))
    assert not proof.holds
    assert proof.gaps == (
        "the gate stopped before the session ended (deadline)",
        f"testSessionId is '{SID2}', not {SID}",
        "status is 'RUNNING', not PASSED",
        "a (eu-west-1; status 'WEIRD')",
    )
    passed = Observation(SID, Stop.FINAL, session=parse_session(session_body("PASSED", [row()])))
    assert prove_passed(passed).holds and prove_passed(passed).gaps == ()


# --- Unknowns are never green (decision 2) ------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"status": "TIMED_OUT"}, "status 'TIMED_OUT'"),
        ({"status": "paſſed"}, "status 'paſſed'"),  # no Unicode look-alike becomes PASSED
        ({"resultType": "RETRY"}, "resultType 'RETRY'"),
        ({"resultType": ""}, "resultType ''"),
        ({"resultType": 3}, "resultType '3'"),
        ({"hasFailures": "false"}, "hasFailures is 'false'"),
        ({"hasErrors": None}, "hasErrors is null"),
        ({"aborted": 0}, "aborted is 0"),
        ({"isDegraded": "no"}, "isDegraded is 'no'"),
        ({"status": None}, "status is null"),
        ({"status": ["PASSED"]}, 'status is ["PASSED"]'),
    ],
)
def test_unknown_values_fail_with_exit_1_naming_the_value(fields: dict, named: str) -> None:
    v = judge("PASSED", [row("a"), row("b", **fields)])
    assert v.outcome is Outcome.FAILED and v.outcome.value == 1
    assert v.counts.unknown == 1 and v.runs[1].category is Category.UNKNOWN
    assert named in v.reason and "b (eu-west-1;" in v.reason
    assert "does not know" in v.reason


def test_missing_flag_is_unknown_and_a_row_that_is_not_an_object_counts() -> None:
    flagless = row("b")
    del flagless["hasFailures"]
    v = judge("PASSED", [row("a"), flagless])
    assert v.outcome is Outcome.FAILED and "hasFailures is missing" in v.reason
    v = judge("PASSED", [row("a"), "garbage"])  # type: ignore[list-item]
    assert v.outcome is Outcome.FAILED and "results[1] is 'garbage' (not an object)" in v.reason


def test_known_failure_facts_win_over_unknown_values() -> None:
    v = judge("PASSED", [row("a", "SOMETHING_NEW", hasErrors=True, hasFailures="?")])
    assert v.outcome is Outcome.FAILED and v.runs[0].category is Category.ERROR
    v = judge("PASSED", [row("a", "CANCELLED", hasFailures=True)])
    assert v.outcome is Outcome.FAILED and v.runs[0].category is Category.FAILED
    v = judge("PASSED", [row("a", "SOMETHING_NEW", "RETRY", hasFailures=True)])
    assert v.runs[0].category is Category.FAILED


def test_unknown_outranks_cancelled_and_is_never_4_or_6() -> None:
    v = judge("CANCELLED", [row("a", "CANCELLED"), row("b", "NEW")])
    assert v.outcome is Outcome.FAILED
    # When a failure decides, the unknown value is still named, so it can be reported.
    v = judge("PASSED", [row("a", "FAILED"), row("b", "NEW")])
    assert "a (eu-west-1; an assertion failed)" in v.reason
    assert any("b (eu-west-1; status 'NEW')" in w and "report" in w for w in v.warnings)
    # Still running at the deadline, during API trouble: the unknown value still decides.
    for extra in ({}, {"error": "HTTP 503", "error_is_current": True}):
        v = judge("RUNNING", [row("a", "NEW")], Stop.DEADLINE, **extra)
        assert v.outcome is Outcome.FAILED and "status 'NEW'" in v.reason


def test_unknown_session_status_at_the_deadline_fails_naming_it() -> None:
    v = judge("QUEUED_FOR_MARS", [row("a", "RUNNING", "PENDING")], Stop.DEADLINE)
    assert v.outcome is Outcome.FAILED and "'QUEUED_FOR_MARS'" in v.reason


def test_unknown_counts_and_settling() -> None:
    session = parse_session(session_body("PASSED", [row("a"), row("b", "NEW")]))
    assert not is_settled(session)  # an unknown row may still change: re-read it first
    counts = judge("PASSED", [row("a"), row("b", "NEW")]).counts
    assert counts.unknown == 1 and counts.total == 2 and counts.finished == 1
    assert counts.as_dict()["unknown"] == 1
    assert is_settled(parse_session(session_body("FAILED", [row("a", "FAILED")])))


# --- Rows are never merged into a pass ----------------------------------------------------------


def test_two_final_rows_of_one_check_and_location_both_count() -> None:
    for rows in (
        [row("a"), row("a", "FAILED")],
        [row("a", "FAILED"), row("a")],
    ):
        v = judge("PASSED", rows)
        assert v.outcome is Outcome.FAILED and v.counts.total == 2 and v.counts.failed == 1


def test_checks_sharing_a_name_without_check_id_each_count() -> None:
    rows = [row("same", checkId=None), row("same", "FAILED", checkId=None)]
    v = judge("PASSED", rows)
    assert v.outcome is Outcome.FAILED and v.counts.total == 2
    rows = [row("same", checkId=None), row("same", "RUNNING", "PENDING", checkId=None)]
    assert judge("PASSED", rows).outcome is Outcome.FAILED


def test_attempts_pair_only_by_keys_that_identify_a_run() -> None:
    # checkId + runLocation pair an ATTEMPT with its FINAL row: flaky.
    v = judge("PASSED", [row("a", "FAILED", "ATTEMPT"), row("a")])
    assert v.outcome is Outcome.PASSED and v.counts.flaky == 1 and v.counts.total == 1
    # Without a checkId the name does not tie them: the attempt of one "same" check and the
    # FINAL row of another are two runs, one of which never finished.
    rows = [row("same", "FAILED", "ATTEMPT", checkId=None), row("same", checkId=None)]
    v = judge("PASSED", rows)
    assert v.outcome is Outcome.FAILED and v.counts.total == 2 and v.counts.pending == 1
    assert "only 1 ATTEMPT row" in v.reason
    # A shared sequenceId (the live API's and the simulator's run id) ties them safely.
    rows = [
        row("same", "FAILED", "ATTEMPT", checkId=None, sequenceId="s-1"),
        row("same", checkId=None, sequenceId="s-1"),
    ]
    v = judge("PASSED", rows)
    assert v.outcome is Outcome.PASSED and v.counts.flaky == 1
    # Different sequenceIds are different runs, even for one checkId and location.
    rows = [row("a", "FAILED", "ATTEMPT", sequenceId="s-1"), row("a", sequenceId="s-2")]
    assert judge("PASSED", rows).outcome is Outcome.FAILED


def test_unreadable_attempts_count_as_failed_attempts_for_the_flaky_policy() -> None:
    rows = [row("a", "PASSED", "ATTEMPT", hasFailures=None), row("a")]
    assert judge("PASSED", rows).counts.flaky == 1
    assert judge("PASSED", rows, policy=Policy(fail_on_flaky=True)).outcome is Outcome.FAILED

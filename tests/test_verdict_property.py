"""Exit 0 implies that every run provably passed, for any body the API could send.

Bodies come from ``tests.bodies`` (the contract's schema, values outside it, wrong JSON types,
nulls, missing fields, duplicated rows, another session's id, the live API's extra fields); the
real parser and verdict judge them; ``tests.bodies.provably_passed`` is the independent,
plainly written rule a green must satisfy. ``tests/test_e2e_proof.py`` runs a sample of the same
bodies through the real CLI against the simulator.
"""

from __future__ import annotations

import json
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkly_gate.models import NotASessionError, Observation, Stop, parse_session
from checkly_gate.verdict import Outcome, Policy, combine, judge_session
from tests.bodies import Case, provably_passed, sessions
from tests.fakes import SID, row, session_body

STOPS = st.sampled_from([Stop.FINAL] * 4 + list(Stop))
POLICIES = st.builds(Policy, fail_on_degraded=st.booleans(), fail_on_flaky=st.booleans())


def observe(case: Case, stop: Stop) -> Observation:
    """What the poller would hand over: a body that is not a session is never stored."""
    try:
        session = parse_session(json.loads(json.dumps(case.body)))
    except NotASessionError:
        return Observation(case.requested_id, stop, error="body is not a test session")
    return Observation(case.requested_id, stop, session=session)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(sessions(), STOPS), min_size=1, max_size=2), POLICIES)
def test_exit_0_implies_every_run_provably_passed(
    asked: list[tuple[Case, Stop]], policy: Policy
) -> None:
    verdicts = [judge_session(observe(case, stop), policy) for case, stop in asked]
    verdict = combine(verdicts)
    if verdict.exit_code == 0:
        for case, stop in asked:
            assert provably_passed(
                case, stop is Stop.FINAL, policy.fail_on_flaky, policy.fail_on_degraded
            ), case
    for sv, (case, stop) in zip(verdicts, asked, strict=True):
        assert sv.reason  # every outcome says why
        if sv.counts.unknown and stop is not Stop.INTERRUPTED:
            # Decision 2: an unknown value fails (exit 1), never 0, 4 or 6.
            assert sv.outcome is Outcome.FAILED, (sv.reason, case)


def test_the_generator_reaches_greens() -> None:
    """The property is not vacuous: a fixed sample of generated bodies holds greens as well as
    failures and bodies that cannot be judged (the mix varies a little with the machine)."""
    outcomes: Counter[Outcome] = Counter()

    @settings(max_examples=100, derandomize=True, database=None, deadline=None)
    @given(sessions())
    def sample(case: Case) -> None:
        outcomes[judge_session(observe(case, Stop.FINAL)).outcome] += 1

    sample()
    for outcome in (Outcome.PASSED, Outcome.FAILED, Outcome.UNAVAILABLE):
        assert outcomes[outcome] >= 1, outcomes


GREEN = session_body(
    "PASSED",
    [
        row("a", "FAILED", "ATTEMPT"),
        row("a"),  # flaky
        row("b", isDegraded=True),
        row("c", location=None, checkId=None),
        row("d", result_type=None),
    ],
)
ONE_FIELD_OFF = {
    "testSessionId": ["7d4e1b2a-3c5d-4e6f-8a9b-0c1d2e3f4a5b", None, 7],
    "status": ["RUNNING", "FAILED", "CANCELLED", "TIMED_OUT", "paſſed", None],
    "results": [[], None, "rows"],
    "results.1.status": ["RUNNING", "FAILED", "CANCELLED", "TIMED_OUT", "", None, True],
    "results.1.resultType": ["PENDING", "RETRY", "", 1, ["FINAL"]],
    "results.1.hasFailures": [True, None, "false", 0],
    "results.1.hasErrors": [True, None, "false", 0],
    "results.1.aborted": [True, None, "false", 0],
    "results.1.isDegraded": [None, "true", 1],
    "results.4": ["not a row", None, 3],
    "results.0.checkId": [None],  # the attempt no longer pairs with its FINAL row
}


def _with(body: dict, path: str, value: object) -> dict:
    changed = json.loads(json.dumps(body))
    *parents, last = path.split(".")
    target = changed
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[int(last) if isinstance(target, list) else last] = value
    return changed


def test_one_field_off_a_green_is_never_green_for_the_gate_nor_the_rule() -> None:
    """Near-greens, spelled out: the verdict and the independent rule agree on a green body,
    and both refuse it once any one field is off."""
    green = Case(SID, GREEN)
    assert judge_session(observe(green, Stop.FINAL)).outcome is Outcome.PASSED
    assert provably_passed(green, True, False, False)
    for path, values in ONE_FIELD_OFF.items():
        for value in values:
            case = Case(SID, _with(GREEN, path, value))
            verdict = judge_session(observe(case, Stop.FINAL))
            assert verdict.outcome is not Outcome.PASSED, (path, value, verdict.reason)
            assert not provably_passed(case, True, False, False), (path, value)
    for stop in set(Stop) - {Stop.FINAL}:
        assert judge_session(observe(green, stop)).outcome is not Outcome.PASSED
    flaky_fails = Policy(fail_on_flaky=True)
    assert judge_session(observe(green, Stop.FINAL), flaky_fails).outcome is Outcome.FAILED
    assert not provably_passed(green, True, True, False)
    degraded_fails = Policy(fail_on_degraded=True)
    assert judge_session(observe(green, Stop.FINAL), degraded_fails).outcome is Outcome.FAILED
    assert not provably_passed(green, True, False, True)

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

from checkly_gate.models import NotASessionError, parse_session
from checkly_gate.verdict import Observation, Outcome, Policy, Stop, combine, judge_session
from tests.bodies import Case, provably_passed, sessions

STOPS = st.sampled_from([Stop.FINAL] * 4 + list(Stop))
POLICIES = st.builds(Policy, fail_on_degraded=st.booleans(), fail_on_flaky=st.booleans())


def observe(case: Case, stop: Stop) -> Observation:
    """What the poller would hand over: a body that is not a session is never stored."""
    try:
        session = parse_session(json.loads(json.dumps(case.body)))
    except NotASessionError:
        return Observation(case.requested_id, stop, error="body is not a test session")
    return Observation(case.requested_id, stop, session=session)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


def test_the_generator_reaches_greens_and_near_greens() -> None:
    """The property is not vacuous: a fixed sample of generated bodies holds greens (also with
    flaky and degraded runs) and every kind of non-green the gate knows."""
    outcomes: Counter[Outcome] = Counter()
    runs: Counter[str] = Counter()

    @settings(max_examples=100, derandomize=True, database=None, deadline=None)
    @given(sessions())
    def sample(case: Case) -> None:
        v = judge_session(observe(case, Stop.FINAL))
        outcomes[v.outcome] += 1
        runs.update(key for key, n in v.counts.as_dict().items() if n)
        if v.outcome is Outcome.PASSED:
            runs["in a green: flaky or degraded"] += bool(v.counts.flaky or v.counts.degraded)

    sample()
    assert outcomes[Outcome.PASSED] >= 3, outcomes
    for outcome in (Outcome.FAILED, Outcome.CANCELLED, Outcome.UNAVAILABLE):
        assert outcomes[outcome] >= 2, outcomes
    for kind in ("in a green: flaky or degraded", "unknown", "pending", "skipped", "errored"):
        assert runs[kind] >= 1, runs

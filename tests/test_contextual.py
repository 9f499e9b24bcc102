"""contextual.py: quarantine, --fail-on new, the deploy check and --shadow on one verdict."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkly_gate import deploy
from checkly_gate.contextual import ContextError, decide, in_context
from checkly_gate.history import NEW, ON_MAIN, SEEN_BEFORE, UNKNOWN, Label
from checkly_gate.models import parse_session
from checkly_gate.outcomes import Outcome
from checkly_gate.quarantine import Entry, apply
from checkly_gate.verdict import (
    Category,
    Observation,
    Stop,
    Verdict,
    combine,
    judge_session,
    usage_verdict,
)
from tests.bodies import NAMES, sessions
from tests.fakes import SID, row, session_body

TODAY = dt.date(2026, 12, 6)
HEAD = "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"
OTHER = "b7e3d5c1a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4"


def ended(verdict: Verdict, stop: Stop = Stop.FINAL) -> set[str]:
    return {sv.session_id for sv in verdict.sessions} if stop is Stop.FINAL else set()


def judged(
    results: list[dict[str, Any]],
    status: str = "FAILED",
    stop: Stop = Stop.FINAL,
    signal: int | None = None,
) -> Verdict:
    body = session_body(status, results)
    return combine([judge_session(Observation(SID, stop, parse_session(body)))], signal)


def entry(check: str) -> Entry:
    return Entry(check, "@payments", "PAY-123", dt.date(2026, 12, 31), 3)


def label_all(verdict: Verdict, label: str) -> dict[tuple[str, str], Label]:
    return {
        (sv.session_id, run.latest.result_id): Label(label)
        for sv in verdict.sessions
        for run in sv.failing
    }


def test_a_quarantined_failure_passes_and_is_listed_and_after_expiry_fails() -> None:
    verdict = judged([row("Checkout flow", "FAILED"), row("Homepage")])
    applied = apply([entry("Checkout flow")], verdict.sessions, TODAY)
    decision = decide(verdict, ended=ended(verdict), applied=applied)
    assert decision.exit_code == 0 and decision.verdict.outcome is Outcome.PASSED
    assert decision.verdict.reason == "passed with 1 quarantined failure"
    assert [m.run.name for m in decision.quarantined] == ["Checkout flow"]
    expired = apply([entry("Checkout flow")], verdict.sessions, dt.date(2026, 12, 31))
    late = decide(verdict, ended=ended(verdict), applied=expired)
    assert late.exit_code == 1 and any("expired" in note for note in late.notes)


def test_fail_on_new() -> None:
    verdict = judged([row("Checkout flow", "FAILED"), row("Search", "FAILED"), row("Homepage")])
    labels = label_all(verdict, SEEN_BEFORE)
    runs = verdict.sessions[0].failing
    only_known = decide(verdict, ended=ended(verdict), labels=labels, fail_on="new")
    assert only_known.exit_code == 0
    assert only_known.verdict.reason == "passed with 2 known failures"
    assert sorted(k.run.name for k in only_known.known) == ["Checkout flow", "Search"]
    assert (
        decide(verdict, ended=ended(verdict), labels=labels).exit_code == 1
    )  # --fail-on any (the default)
    one_new = dict(labels)
    one_new[(SID, runs[1].latest.result_id)] = Label(NEW)
    assert decide(verdict, ended=ended(verdict), labels=one_new, fail_on="new").exit_code == 1
    unknown = dict(labels)
    unknown[(SID, runs[1].latest.result_id)] = Label(UNKNOWN, why="429")
    assert decide(verdict, ended=ended(verdict), labels=unknown, fail_on="new").exit_code == 1
    missing = {k: v for k, v in labels.items() if k[1] != runs[1].latest.result_id}
    assert decide(verdict, ended=ended(verdict), labels=missing, fail_on="new").exit_code == 1
    mixed = dict(labels)
    mixed[(SID, runs[1].latest.result_id)] = Label(ON_MAIN)
    applied = apply([entry("Checkout flow")], verdict.sessions, TODAY)
    both = decide(verdict, ended=ended(verdict), labels=mixed, fail_on="new", applied=applied)
    assert both.exit_code == 0 and "1 known failure and 1 quarantined" in both.verdict.reason


def test_a_session_of_another_commit_is_never_green() -> None:
    for verdict in (
        judged([row("Homepage")], status="PASSED"),
        judged([row("Homepage", "RUNNING", "PENDING")], status="RUNNING", stop=Stop.DEADLINE),
    ):
        assert verdict.exit_code in (0, 4)
        found = deploy.check_commit(OTHER, deploy.ExpectCommit(), [HEAD], "the session")
        decision = decide(verdict, findings={SID: (found,)})
        assert decision.exit_code == 1
        assert OTHER[:12] in decision.verdict.reason and HEAD[:12] in decision.verdict.reason


def test_missing_metadata_with_auto_is_a_note() -> None:
    verdict = judged([row("Homepage")], status="PASSED")
    found = deploy.check_commit(None, deploy.ExpectCommit(), [HEAD])
    decision = decide(verdict, findings={SID: (found,)})
    assert decision.exit_code == 0 and any("no metadata.commitId" in n for n in decision.notes)


def test_shadow_exits_zero_and_says_what_it_would_have_done() -> None:
    decision = decide(judged([row("Checkout flow", "FAILED")]), shadow=True)
    assert decision.exit_code == 0 and decision.would_exit_code == 1
    assert decision.shadow_line == "shadow: the gate would have exited 1 (failed)"
    assert decision.shadow_line in decision.notes
    usage = decide(usage_verdict("bad flag"), shadow=True)
    assert usage.exit_code == 2


def test_an_interrupt_stays_an_interrupt() -> None:
    verdict = judged([row("Checkout flow", "FAILED")], signal=2)
    applied = apply([entry("Checkout flow")], verdict.sessions, TODAY)
    decision = decide(verdict, ended=ended(verdict), applied=applied, signal=2)
    assert decision.exit_code == 130


# --------------------------------------------------------------------------- the property

NOT_PROVEN = (
    Outcome.CANCELLED,
    Outcome.TIMED_OUT,
    Outcome.REFUSED,
    Outcome.UNAVAILABLE,
    Outcome.INTERRUPTED,
)
names = st.sampled_from([*NAMES, "Checkout flow", "x"])  # the generated bodies' names


@settings(deadline=None, max_examples=400)
@given(
    cases=st.lists(sessions(), min_size=1, max_size=3),
    stops=st.lists(st.sampled_from(list(Stop)), min_size=3, max_size=3),
    checks=st.lists(names, max_size=4),
    days=st.integers(-3, 40),
    label=st.sampled_from([NEW, SEEN_BEFORE, ON_MAIN, UNKNOWN, None]),
    fail_on=st.sampled_from(["any", "new"]),
    commit=st.sampled_from(["auto", "off", "sha"]),
    found_commit=st.sampled_from([None, HEAD, OTHER, HEAD[:7], "garbage"]),
    signal=st.sampled_from([None, None, None, 2, 15]),
)
def test_no_option_turns_unknown_cancelled_or_api_trouble_into_exit_0(
    cases: list[Any],
    stops: list[Stop],
    checks: list[str],
    days: int,
    label: str | None,
    fail_on: str,
    commit: str,
    found_commit: str | None,
    signal: int | None,
) -> None:
    """Must show (issue 21): whatever quarantine, labels, --fail-on and --expect-commit say, a
    verdict with an unknown value, a cancelled session or API trouble (timeouts, refusals,
    unavailable, an interrupt) never exits 0 unless --shadow is set; with --shadow it exits 0
    (and says what it would have done), but for an interrupt, which keeps 128 + N."""
    svs = []
    pairs = list(zip(cases, stops[: len(cases)], strict=True))
    finished = {case.requested_id for case, stop in pairs if stop is Stop.FINAL}
    for case, stop in pairs:
        try:
            session = parse_session(case.body)
        except Exception:
            session = None
        svs.append(judge_session(Observation(case.requested_id, stop, session)))
    verdict = combine(svs, signal)
    bad = signal is not None or any(
        sv.outcome in NOT_PROVEN
        or any(run.category is Category.UNKNOWN for run in sv.runs)
        or (sv.session is not None and sv.session.status == "CANCELLED")
        for sv in svs
    )
    today = TODAY + dt.timedelta(days=days)
    applied = apply([entry(c) for c in dict.fromkeys(checks)], svs, today)
    labels = (
        {}
        if label is None
        else {(sv.session_id, r.latest.result_id): Label(label) for sv in svs for r in sv.failing}
    )
    expect = deploy.ExpectCommit(commit, HEAD if commit == "sha" else "")
    findings = {sv.session_id: (deploy.check_commit(found_commit, expect, [HEAD]),) for sv in svs}
    for shadow in (False, True):
        decision = decide(
            verdict,
            ended=finished,
            findings=findings,
            applied=applied,
            labels=labels,
            fail_on=fail_on,
            shadow=shadow,
            signal=signal,
        )
        if shadow and decision.verdict.outcome is Outcome.INTERRUPTED:  # not the gate's verdict
            assert decision.exit_code == decision.verdict.exit_code != 0
            assert not decision.shadow_line
        elif shadow:
            assert decision.exit_code == 0
            assert (
                decision.would_exit_code
                == decide(
                    verdict,
                    ended=finished,
                    findings=findings,
                    applied=applied,
                    labels=labels,
                    fail_on=fail_on,
                    signal=signal,
                ).exit_code
            )
        elif bad:
            assert decision.exit_code != 0
        if not shadow and any(f.fails for fs in findings.values() for f in fs):
            assert decision.exit_code not in (0, 4, 6)
        if not shadow and decision.exit_code == 0:
            assert verdict.exit_code == 0 or fail_on == "new" or applied.quarantined


def test_the_corners_the_property_guards() -> None:
    """Sessions whose every run is a definite, known, quarantined failure, yet which never
    proved anything: cancelled, stopped at the deadline (even with a FAILED body), interrupted,
    refused, or with an unknown value or an unfinished run. None exits 0 without --shadow,
    whatever the options say."""
    failed = [row("Checkout flow", "FAILED"), row("Homepage", "FAILED")]
    cases = [
        (failed, "CANCELLED", Stop.FINAL),
        (failed, "RUNNING", Stop.DEADLINE),
        (failed, "FAILED", Stop.DEADLINE),
        (failed, "FAILED", Stop.REFUSED),
        (failed, "FAILED", Stop.INTERRUPTED),
        ([*failed, row("Search", "EXPLODED")], "FAILED", Stop.FINAL),
        ([*failed, row("Search", "RUNNING", "PENDING")], "FAILED", Stop.FINAL),
        (failed, "WEIRD", Stop.FINAL),
    ]
    for results, status, stop in cases:
        signal = 15 if stop is Stop.INTERRUPTED else None
        verdict = judged(results, status=status, stop=stop, signal=signal)
        applied = apply([entry("Checkout flow"), entry("Homepage")], verdict.sessions, TODAY)
        labels = label_all(verdict, SEEN_BEFORE)
        for fail_on in ("any", "new"):
            decision = decide(
                verdict,
                ended=ended(verdict, stop),
                applied=applied,
                labels=labels,
                fail_on=fail_on,
                signal=signal,
            )
            assert decision.exit_code != 0, (status, stop, fail_on)
    # and the same runs in a session that ended FAILED do pass with either option
    verdict = judged(failed)
    applied = apply([entry("Checkout flow"), entry("Homepage")], verdict.sessions, TODAY)
    assert decide(verdict, ended=ended(verdict), applied=applied).exit_code == 0
    labels = label_all(verdict, ON_MAIN)
    assert decide(verdict, ended=ended(verdict), labels=labels, fail_on="new").exit_code == 0


# --------------------------------------------------------------------------- set-aside runs

LABELS = st.sampled_from([NEW, SEEN_BEFORE, ON_MAIN, UNKNOWN, None])
ROW_OUTCOMES = [
    ("FAILED", "FINAL", {}),
    ("FAILED", "FINAL", {"hasErrors": True}),
    ("PASSED", "FINAL", {}),
    ("PASSED", "FINAL", {"isDegraded": True}),
    ("RUNNING", "PENDING", {}),
    ("CANCELLED", "FINAL", {"aborted": True}),
    ("EXPLODED", "FINAL", {}),  # a status the gate does not know: unknown
]


@st.composite
def plain_sessions(draw: st.DrawFn) -> Any:
    """A well-formed session of a few named checks with random outcomes and a random session
    status (the generated ``sessions()`` bodies rarely hold a definite failure of a named
    check in a settled session; these often do)."""
    from tests.bodies import Case

    sid = str(uuid.UUID(int=draw(st.integers(1, 2**64))))
    results = []
    for name in draw(st.lists(names, min_size=1, max_size=4)):
        status, kind, flags = draw(st.sampled_from(ROW_OUTCOMES))
        results.append(row(name, status, kind, **flags))
    status = draw(st.sampled_from(["FAILED"] * 4 + ["PASSED", "CANCELLED", "RUNNING", "ODD"]))
    return Case(sid, session_body(status, results, sid))


@settings(deadline=None, max_examples=300)
@given(
    cases=st.lists(
        st.one_of(plain_sessions(), plain_sessions(), sessions()), min_size=1, max_size=3
    ),
    stops=st.lists(st.sampled_from([*[Stop.FINAL] * 6, *Stop]), min_size=3, max_size=3),
    checks=st.lists(names, min_size=1, max_size=4),
    days=st.integers(-3, 30),
    fail_on=st.sampled_from(["any", "new", "new"]),
    signal=st.sampled_from([None, None, None, 2]),
    data=st.data(),
)
def test_set_aside_runs_keep_counts_reports_and_exit_code_in_agreement(
    cases: list[Any],
    stops: list[Stop],
    checks: list[str],
    days: int,
    fail_on: str,
    signal: int | None,
    data: Any,
) -> None:
    """Random verdicts, quarantine entries and per-run labels: (1) per session, failed +
    set aside = the runs that failed before the context, and no run is both; (2) no unknown,
    unfinished, skipped run, nor any run of a session that did not end PASSED or FAILED, is
    ever set aside; (3) the JUnit file has a red element (``failure``/``error``) iff the gate
    exits non-zero, and every set-aside run is ``skipped``; (4) CTRF says the same."""
    from checkly_gate.outcomes import Mark
    from checkly_gate.reports import GateRun, ctrf, junit
    from tests import junit_dialect

    pairs = list(zip(cases, stops[: len(cases)], strict=True))
    svs = []
    for case, stop in pairs:
        try:
            session = parse_session(case.body)
        except Exception:
            session = None
        svs.append(judge_session(Observation(case.requested_id, stop, session)))
    verdict = combine(svs, signal)
    finished = {case.requested_id for case, stop in pairs if stop is Stop.FINAL}
    applied = apply([entry(c) for c in dict.fromkeys(checks)], svs, TODAY + dt.timedelta(days))
    labels = {}
    for sv in svs:
        for run in sv.failing:
            label = data.draw(LABELS)
            if label is not None and run.latest.result_id:
                labels[(sv.session_id, run.latest.result_id)] = Label(label, 1.0e9, 1.1e9)
    decision = decide(
        verdict, ended=finished, applied=applied, labels=labels, fail_on=fail_on, signal=signal
    )
    for before, after in zip(verdict.sessions, decision.verdict.sessions, strict=True):
        counts = after.counts
        assert counts.failing + counts.quarantined + counts.known == before.counts.failing
        assert counts.total == before.counts.total
        assert len(after.failing) + len(after.set_aside) == len(before.failing)
        status = after.session.status if after.session is not None else None
        for run, aside in after.aside_runs:
            assert run in before.failing and not after.fails(run)
            assert run.final is not None and run.category in (
                Category.FAILED,
                Category.ERROR,
                Category.FLAKY,
                Category.DEGRADED,
            )
            assert status in ("PASSED", "FAILED") and after.session_id in finished
            if aside.mark is Mark.KNOWN:
                assert fail_on == "new" and labels[(after.session_id, aside.result_id)].known
    run = GateRun(
        verdict=dataclasses.replace(decision.verdict, warnings=decision.notes),
        labels=decision.labels,
    )
    xml = junit.render(run)
    assert junit_dialect.problems(xml) == []
    red = decision.exit_code != 0
    assert junit_dialect.gitlab_red(xml) is red and junit_dialect.dorny_red(xml) is red
    doc = ctrf.document(run)
    assert (doc["results"]["summary"]["failed"] > 0) is red
    marked = sum(len(sv.set_aside) for sv in decision.verdict.sessions)
    assert xml.count('type="gate.') == marked


@pytest.mark.parametrize("today", ["2026-02-30", "2026-2-3", 20261206, None, "2026-12-06T00:00"])
def test_a_stored_date_that_is_no_date_names_context_today(today: object) -> None:
    """A snapshot's ``context.today`` is untrusted: anything but a real ``YYYY-MM-DD`` is one
    line naming the field (``report`` exits 2 with it), never Python's own words."""
    entry = {"check": "Checkout", "owner": "@o", "reason": "r", "expires": "2026-12-31", "line": 3}
    judged = Verdict(Outcome.FAILED, 1, "failed")
    with pytest.raises(ContextError, match=r"^context\.today: expected a date YYYY-MM-DD"):
        in_context(judged, [], (), {"quarantine": [entry], "today": today})

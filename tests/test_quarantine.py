"""quarantine.py: entries with an owner and an expiry (issue 21, item 3)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkly_gate.models import parse_session
from checkly_gate.quarantine import (
    MAX_DAYS,
    Entry,
    QuarantineError,
    apply,
    parse_text,
    would_pass,
)
from checkly_gate.verdict import Category, Observation, SessionVerdict, Stop, judge_session
from tests.bodies import NAMES, sessions
from tests.fakes import SID, row, session_body

TODAY = dt.date(2026, 12, 6)
GOOD = """\
fail-on-flaky: true
quarantine:
  - check: Checkout flow          # a check name or check id
    owner: "@payments"
    reason: flaky since the CDN move (PAY-123)
    expires: 2026-12-31
  - check: 3f1c2b7e-0000-4000-8000-000000000001
    owner: "@search"
    reason: PAY-9
    expires: "2027-01-15"
"""


def test_parse_reads_every_entry_with_its_line() -> None:
    entries = parse_text(GOOD, "checkly-gate.yml", TODAY)
    assert [e.check for e in entries] == ["Checkout flow", "3f1c2b7e-0000-4000-8000-000000000001"]
    assert entries[0] == Entry(
        "Checkout flow", "@payments", "flaky since the CDN move (PAY-123)", dt.date(2026, 12, 31), 3
    )
    assert entries[1].line == 7 and entries[1].expires == dt.date(2027, 1, 15)
    assert parse_text("fail-on-flaky: true\n", "c.yml", TODAY) == ()
    assert parse_text("quarantine:\n", "c.yml", TODAY) == ()


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("quarantine:\n  - check: A\n    owner: x\n    reason: y\n", 2, "has no expires"),
        ("quarantine:\n  - check: A\n    reason: y\n    expires: 2026-12-10\n", 2, "no owner"),
        (
            "quarantine:\n  - check: A\n    owner: x\n    reason:\n    expires: 2026-12-10\n",
            2,
            "no reason",
        ),
        ("quarantine:\n  - owner: x\n    reason: y\n    expires: 2026-12-10\n", 2, "no check"),
        (
            "x: 1\nquarantine:\n  - check: A\n    owner: x\n    reason: y\n"
            "    expires: 2027-06-01\n",
            3,
            "more than 90 days",
        ),
        (
            "quarantine:\n  - check: A\n    owner: x\n    reason: y\n    expires: 31/12/2026\n",
            2,
            "YYYY-MM-DD",
        ),
        (
            "quarantine:\n  - check: A\n    owner: x\n    reason: y\n    expires: 2026-02-30\n",
            2,
            "YYYY-MM-DD",
        ),
        (
            "quarantine:\n  - check: A\n    owner: x\n    reason: y\n    expiry: 2026-12-10\n",
            5,
            "unknown key",
        ),
        (
            "quarantine:\n  - check: A\n    owner: [x]\n    reason: y\n    expires: 2026-12-10\n",
            3,
            "must be text",
        ),
        ("quarantine:\n  - Checkout\n", 2, "must be a mapping"),
        ("quarantine: Checkout\n", 1, "must be a list"),
        (
            "quarantine:\n  - {check: A, owner: x, reason: y, expires: 2026-12-10}\n"
            "  - {check: ' a ', owner: x, reason: y, expires: 2026-12-10}\n",
            3,
            "already",
        ),
    ],
)
def test_invalid_entries_are_one_line_naming_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(QuarantineError) as caught:
        parse_text(text, "checkly-gate.yml", TODAY)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"checkly-gate.yml: line {line}:"), message
    assert words in message


def test_ninety_days_is_the_limit() -> None:
    limit = TODAY + dt.timedelta(days=MAX_DAYS)
    text = f"quarantine:\n  - {{check: A, owner: x, reason: y, expires: {limit}}}\n"
    assert parse_text(text, "c.yml", TODAY)[0].expires == limit
    later = limit + dt.timedelta(days=1)
    with pytest.raises(QuarantineError):
        parse_text(text.replace(str(limit), str(later)), "c.yml", TODAY)


def _verdict(
    results: list[dict[str, Any]], status: str = "FAILED", stop: Stop = Stop.FINAL, sid: str = SID
) -> SessionVerdict:
    body = session_body(status, results, sid=sid)
    return judge_session(Observation(sid, stop, parse_session(body)))


def _entry(check: str, expires: dt.date = dt.date(2026, 12, 31)) -> Entry:
    return Entry(check, "@payments", "PAY-123", expires, 3)


def test_an_active_entry_quarantines_a_definite_failure() -> None:
    sv = _verdict([row("Checkout flow", "FAILED"), row("Homepage")])
    applied = apply([_entry("checkout  FLOW")], [sv], TODAY)
    assert [m.run.name for m in applied.quarantined] == ["Checkout flow"]
    assert applied.warnings == ()
    assert would_pass(sv, applied)


def test_a_check_id_matches_too() -> None:
    sv = _verdict([row("Checkout flow", "FAILED")])
    check_id = sv.runs[0].latest.check_id
    assert check_id is not None
    assert would_pass(sv, apply([_entry(check_id.upper())], [sv], TODAY))


def test_on_and_after_expiry_the_failure_fails_again() -> None:
    sv = _verdict([row("Checkout flow", "FAILED")])
    for today in (dt.date(2026, 12, 31), dt.date(2027, 1, 5)):
        applied = apply([_entry("Checkout flow")], [sv], today)
        assert applied.quarantined == () and len(applied.expired) == 1
        assert not would_pass(sv, applied)
        assert any("expired on 2026-12-31" in w for w in applied.warnings)
    assert would_pass(sv, apply([_entry("Checkout flow")], [sv], dt.date(2026, 12, 30)))


def test_an_entry_that_matched_nothing_is_a_warning() -> None:
    sv = _verdict([row("Checkout flow", "FAILED")])
    applied = apply([_entry("Checkout flow"), _entry("Search")], [sv], TODAY)
    assert [e.check for e in applied.unmatched] == ["Search"]
    assert applied.warnings == (
        "quarantine entry on line 3 for 'Search' matched no failing check run",
    )


def test_another_failing_check_keeps_the_session_red() -> None:
    sv = _verdict([row("Checkout flow", "FAILED"), row("Search", "FAILED")])
    assert not would_pass(sv, apply([_entry("Checkout flow")], [sv], TODAY))


def test_never_an_unknown_a_cancelled_session_or_a_session_level_failure() -> None:
    unknown = _verdict([row("Checkout flow", "EXPLODED")])
    assert unknown.runs[0].category is Category.UNKNOWN
    applied = apply([_entry("Checkout flow")], [unknown], TODAY)
    assert applied.quarantined == () and applied.refused
    assert not would_pass(unknown, applied)

    cancelled = _verdict([row("Checkout flow", "FAILED")], status="CANCELLED")
    assert not would_pass(cancelled, apply([_entry("Checkout flow")], [cancelled], TODAY))

    running = _verdict(
        [row("Checkout flow", "FAILED"), row("Search", "RUNNING", "PENDING")],
        status="RUNNING",
        stop=Stop.DEADLINE,
    )
    assert not would_pass(running, apply([_entry("Checkout flow")], [running], TODAY))

    session_level = _verdict([row("Homepage")], status="FAILED")  # FAILED, no failing run
    assert not would_pass(session_level, apply([_entry("Homepage")], [session_level], TODAY))


names = st.sampled_from([*NAMES, "Checkout flow", "x"])  # the generated bodies' names


@settings(deadline=None, max_examples=300)
@given(
    case=sessions(),
    checks=st.lists(names, max_size=4),
    days=st.integers(-5, 40),
    stop=st.sampled_from(list(Stop)),
)
def test_quarantine_never_makes_a_pass_of_what_is_not_a_definite_check_failure(
    case: Any, checks: list[str], days: int, stop: Stop
) -> None:
    """Property: whatever the body and the entries, ``would_pass`` holds only for a session that
    ended PASSED or FAILED, whose every run either passes or is a definite failure (a FINAL row,
    failed/error/flaky/degraded) covered by an active entry naming its check."""
    try:
        session = parse_session(case.body)
    except Exception:
        return
    sv = judge_session(Observation(case.requested_id, stop, session))
    today = TODAY + dt.timedelta(days=days)
    entries = [_entry(c) for c in dict.fromkeys(checks)]
    applied = apply(entries, [sv], today)
    for match in applied.quarantined:
        assert match.entry.active(today) and match.entry.matches(match.run)
        assert match.run.final is not None
        assert match.run.category in (
            Category.FAILED,
            Category.ERROR,
            Category.FLAKY,
            Category.DEGRADED,
        )
    if would_pass(sv, applied):
        assert sv.session is not None and sv.session.status in ("PASSED", "FAILED")
        assert sv.runs
        for run in sv.runs:
            assert run.category not in (Category.UNKNOWN, Category.PENDING, Category.SKIPPED)
            assert not sv.fails(run) or applied.is_quarantined(sv.session_id, run)

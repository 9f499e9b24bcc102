"""Fail fast (issue 21, item 5): the definite failures a session already shows (pure core).

``--fail-fast`` ends the wait at the first *definite* failure: a run whose deciding row is a
FINAL row with status FAILED (``hasFailures``) or errored (``hasErrors``), i.e. a run of
``Category.FAILED`` or ``Category.ERROR`` with a FINAL row (``verdict.judge_run``). A flaky retry
in progress (failed ATTEMPT rows, the PENDING row still running) is not definite, nor is an
unknown value (the gate keeps following: a later read may decide it) nor a cancelled run.

The follow phase calls ``definite_failures`` on every body it reads (the poller's progress
callback); the first non-empty answer stops following (a ``Stop`` of its own, e.g.
``Stop.FAIL_FAST``) and the judge phase then judges the bodies as read: the unfinished runs are
listed as such, exit 1.

A failure an active quarantine entry covers does not fail the gate, so it is no reason to stop
(``set_aside``): the wait goes on, and the judge phase sets it aside once the session ended.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from checkly_gate.models import Session
from checkly_gate.quarantine import Entry
from checkly_gate.verdict import Category, Run, group_runs

#: Categories of a run that has definitely failed once it has a FINAL row.
DEFINITE = frozenset({Category.FAILED, Category.ERROR})


def is_definite_failure(run: Run) -> bool:
    """A FINAL row that failed or errored: it can no longer turn into a pass."""
    return run.final is not None and run.category in DEFINITE


def definite_failures(
    session: Session | None, quarantined: Iterable[Entry] = (), today: dt.date | None = None
) -> tuple[Run, ...]:
    """The runs of ``session`` (a body as read, any status) that definitely failed, in API
    order, but those an entry of ``quarantined`` active on ``today`` covers; ``()`` for no
    body. Pure: the caller decides what to do with them."""
    if session is None:
        return ()
    entries = tuple(quarantined)
    return tuple(
        run
        for run in group_runs(session.results)
        if is_definite_failure(run) and not set_aside(run, entries, today)
    )


def set_aside(run: Run, entries: tuple[Entry, ...], today: dt.date | None) -> bool:
    """The first entry naming ``run``'s check is active on ``today`` (``quarantine.apply``'s
    rule: the first matching entry decides, an expired one fails the run again)."""
    entry = next((e for e in entries if e.matches(run)), None)
    return entry is not None and today is not None and entry.active(today)

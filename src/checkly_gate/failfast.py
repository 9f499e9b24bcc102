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
"""

from __future__ import annotations

from checkly_gate.models import Session
from checkly_gate.verdict import Category, Run, group_runs

#: Categories of a run that has definitely failed once it has a FINAL row.
DEFINITE = frozenset({Category.FAILED, Category.ERROR})


def is_definite_failure(run: Run) -> bool:
    """A FINAL row that failed or errored: it can no longer turn into a pass."""
    return run.final is not None and run.category in DEFINITE


def definite_failures(session: Session | None) -> tuple[Run, ...]:
    """The runs of ``session`` (a body as read, any status) that definitely failed, in API
    order; ``()`` for no body. Pure: the caller decides what to do with them."""
    if session is None:
        return ()
    return tuple(run for run in group_runs(session.results) if is_definite_failure(run))

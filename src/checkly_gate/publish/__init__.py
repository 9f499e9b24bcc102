"""Publishers of a finished verdict where teams look (issue 22): a pull-request / merge-request
comment updated in place, a commit status, a webhook notification.

One seam, several implementations (``github``, ``gitlab``, ``notify``): a ``Publisher`` is told
when following starts (``start``: e.g. a ``pending`` commit status with the session link) and
when the verdict is known (``finish``). Each runs every request under its ``scope.Scope``
through ``publish.http.Http`` (bounded, retried by the gate's policy, secrets registered for
masking). None can change the exit code: a publisher never raises; when it cannot publish
(missing token, outside a pull request, 401/403/404, the deadline) it logs one plain warning
line saying what and why (``report``), once.

The commit-status state of each outcome is a column of the outcomes table
(``outcomes.Outcome.commit_status``), so no outcome can be added without it.
"""

from __future__ import annotations

import logging
from typing import Protocol

from checkly_gate import redact
from checkly_gate.config import NOTIFY_ON as NOTIFY_ON
from checkly_gate.outcomes import Outcome
from checkly_gate.reports import GateRun
from checkly_gate.scope import Scope

log = logging.getLogger("checkly_gate")

#: GitHub commit-status state per outcome (issue 22 §3), from the outcomes table's
#: ``commit_status`` column (the one place): passed -> success; failed, cancelled, no match,
#: no session -> failure; timeout, API trouble, interrupted, usage -> error. A gate that exits
#: 0 by policy (an allowed no-match) is ``success`` whatever its outcome (``state``).
STATE: dict[Outcome, str] = {outcome: outcome.commit_status for outcome in Outcome}
#: GitLab's word for each state (``POST /projects/:id/statuses/:sha``: pending, running,
#: success, failed, canceled, skipped); a cancelled session or an interrupt is ``canceled``.
GITLAB_STATE = {"pending": "pending", "success": "success", "failure": "failed", "error": "failed"}
GITLAB_CANCELED = frozenset({Outcome.CANCELLED, Outcome.INTERRUPTED})

DEFAULT_CONTEXT = "checkly-gate"
#: Where the publishers' tokens come from (and only there): secrets of every command.
TOKEN_VARIABLES = redact.PUBLISH_TOKEN_VARIABLES


def state(run: GateRun) -> str:
    """The commit-status state of a finished run: ``STATE`` of its outcome, ``success`` when
    the gate exits 0."""
    if run.verdict.exit_code == 0:
        return "success"
    return STATE[run.verdict.outcome]


def gitlab_state(run: GateRun) -> str:
    """The GitLab commit-status state of a finished run."""
    if run.verdict.exit_code != 0 and run.verdict.outcome in GITLAB_CANCELED:
        return "canceled"
    return GITLAB_STATE[state(run)]


def description(run: GateRun, limit: int = 140) -> str:
    """One line for a status: ``Failed: 2 failed, 5 passed`` (GitHub allows 140 characters)."""
    from checkly_gate.outcomes import tally
    from checkly_gate.text import one_line

    verdict = run.verdict
    counts = verdict.counts
    words = tally(counts) if counts.total else one_line(verdict.reason, limit)
    return one_line(f"{verdict.outcome.title}: {words}", limit)


class Publisher(Protocol):
    """What the engine calls. Neither method raises nor changes the exit code; each logs one
    line when it cannot publish. ``under`` binds the publisher to a phase's scope."""

    name: str

    def under(self, scope: Scope) -> Publisher: ...

    def start(self, link: str | None) -> None:
        """Following starts (``link``: the session's web link, when known)."""

    def finish(self, run: GateRun, summary_markdown: str) -> None:
        """The verdict is known: ``summary_markdown`` is ``reports.markdown.render(run)``."""

    def close(self) -> None:
        """Release connections (after ``finish``)."""


def report(
    what: str, why: str, said: set[str] | None = None, secrets: redact.Secrets | None = None
) -> None:
    """The one plain line when a publisher cannot publish: ``could not publish <what>: <why>``,
    masked here and by the logging stream. ``said``: the publisher's own record, so the same
    line is said once per publisher (``start`` and ``finish`` may meet the same problem)."""
    from checkly_gate.publish.http import mask

    message = f"could not publish {what}: {mask(why, secrets or redact.Secrets(), 500)}"
    if said is not None:
        if message in said:
            return
        said.add(message)
    log.warning("%s", message)

"""Report renderers: pure functions from a finished gate run to text.

Every format is a module with ``render(run: GateRun) -> str``; the shell decides where the text
goes. ``GateRun`` is also what a ``--json`` snapshot holds, so reports can be rendered again later
from the snapshot alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from checkly_gate.models import Observation
from checkly_gate.text import link as text_link
from checkly_gate.verdict import Policy, Run, SessionVerdict, Verdict

if TYPE_CHECKING:  # types only: renderers stay pure (history is a shell module)
    from checkly_gate.history import Label


@dataclass(frozen=True)
class GateRun:
    """A finished run of the gate: the verdict and what it was based on."""

    verdict: Verdict
    observations: tuple[Observation, ...] = ()
    # Last body per session id, as the API sent it (secrets masked): JSON text as bytes while the
    # gate runs (far smaller than decoded JSON), decoded when read back from a snapshot.
    bodies: dict[str, bytes | Any] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    requests: int = 0
    signal: int | None = None
    # Human-readable error text per error group id (``cleanedErrorMessage``), when fetched.
    error_messages: dict[str, str] = field(default_factory=dict)
    # Why a failed result's error group has no text (``explain.fetch_error_messages``).
    missing_texts: dict[str, str] = field(default_factory=dict)
    # Asset types (trace, video, screenshot, ...) per result id of failed results, when fetched
    # (``reports.evidence``); never their URLs, which need the API key.
    evidence: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Which of the sessions are check sessions (``/v2/check-sessions``): the endpoint, never the
    # body's fields, decides how a body is read, also when ``report`` reads it back.
    check_session_ids: frozenset[str] = frozenset()
    # ``--shadow``: the exit code the gate would have exited with (its verdict's), while
    # ``verdict.exit_code`` is 0; ``None`` without ``--shadow`` (``finish.shadowed``).
    would_exit_code: int | None = None
    # What the verdict was judged against beyond the bodies (issue 21), stored in the snapshot
    # so ``report`` judges the same way: ``{"deploy": deploy.Expectation.as_dict(),
    # "shadow": bool}``; ``{}`` when nothing applied.
    context: dict[str, Any] = field(default_factory=dict)
    # History labels (issue 21 §2: new, seen before, failing on main too, unknown) of the runs
    # that failed before the context set any aside, keyed by (session id,
    # ``Run.latest.result_id``): ``contextual.Decision.labels``, the one reading of the
    # context, for ``wait`` (``gate.finish_phase``) and ``report`` (the snapshot) alike.
    labels: Mapping[tuple[str, str], Label] = field(default_factory=dict)

    def label(self, sv: SessionVerdict, run: Run) -> Label | None:
        """The history label of ``run`` of ``sv``, or ``None`` (not labelled)."""
        rid = run.latest.result_id
        return self.labels.get((sv.session_id, rid)) if rid and self.labels else None

    def labelled(self) -> list[tuple[SessionVerdict, Run, Label]]:
        """Every labelled run (failing or set aside), in session and API order."""
        found = []
        for sv in self.verdict.sessions:
            for run in sv.runs:
                label = self.label(sv, run)
                if label is not None:
                    found.append((sv, run, label))
        return found

    def label_counts(self) -> dict[str, int]:
        """How many labelled runs are ``new``, ``known`` (seen before, failing on main too)
        and ``unknown`` (the history could not tell): what the outputs count."""
        counts = {"new": 0, "known": 0, "unknown": 0}
        for _sv, _run, label in self.labelled():
            key = "known" if label.known else label.label
            counts[key if key in counts else "unknown"] += 1
        return counts


def session_link(run: GateRun, sv: SessionVerdict) -> str:
    """The session's web link: from the parsed session, else the last raw body; "" if unknown."""
    link = sv.session.link if sv.session else None
    if not link:
        body = run.bodies.get(sv.session_id)
        value = body.get("testSessionLink") if isinstance(body, dict) else None
        link = value if isinstance(value, str) else None
    return text_link(link)  # plain http(s) only; a cut link would lead nowhere: "" if too long

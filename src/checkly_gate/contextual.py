"""A verdict that knows its context (issue 21): one pure decision after the judge phase.

``decide`` takes the judged ``Verdict`` (``verdict.judge_session`` per session, combined) and
what the context phases found, and returns the ``Decision`` every report and the exit code
read:

1. **quarantine** (``quarantine.apply``): in a FAILED session the gate saw end, each failing
   run that is a definite check failure covered by an active entry is set aside as
   *quarantined* (``verdict.SetAside``, decided once here, ``_marks``);
2. **--fail-on new** (``history`` labels): each remaining such run whose label is known (seen
   before, failing on main too) is set aside as a *known failure*; an unknown label never is.
   Set-aside runs do not fail the gate and are not counted as failed, whether or not their
   session passes: it passes ("passed with 1 known failure and 1 quarantined failure") only
   when every other run passes (``quarantine.passes_setting_aside``), else it stays FAILED
   with the rest named;
3. **the deploy** (``deploy.check_session``): a session that tested another commit or
   environment (or lacks the metadata an explicit value requires) is FAILED (exit 1) whatever
   1 and 2 said, never 0, 4 or 6; only an interrupt (130) or a usage error (2) stays;
4. sessions are combined by ``verdict.combine`` (the most severe wins; a signal wins);
5. **--shadow**: the exit code is 0 (a usage error stays 2); ``shadow_line`` says what it would
   have been, ``would_exit_code`` is the pipeline output.

Rules 1 and 2 share ``quarantine.passes_setting_aside``: neither ever turns an unknown value,
an unfinished run, a cancelled session, a timeout or API trouble into a pass.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checkly_gate import deploy, quarantine
from checkly_gate.outcomes import Mark, Outcome
from checkly_gate.verdict import (
    Run,
    SessionVerdict,
    SetAside,
    Verdict,
    aside_words,
    combine,
    with_set_aside,
)

if TYPE_CHECKING:  # types only: this module stays pure (history is a shell module)
    from checkly_gate.history import Label
    from checkly_gate.models import Observation

FAIL_ON = ("any", "new")
#: Outcomes a deploy mismatch does not replace (they say something more urgent).
_KEPT = (Outcome.INTERRUPTED, Outcome.USAGE)


@dataclass(frozen=True)
class Known:
    """A failure ``--fail-on new`` let pass: its session, run and label."""

    session_id: str
    run: Run
    label: Label


@dataclass(frozen=True)
class Decision:
    """What the gate says after its context: ``verdict`` (per-session outcomes and reasons
    rewritten as above), ``exit_code`` (what the process exits with), ``would_exit_code`` (the
    gate's own answer, equal unless ``--shadow``), ``quarantined`` and ``known`` (the failures
    set aside: ``SessionVerdict.set_aside`` carries them to every report), ``notes`` (one line
    each: deploy notes and failures, quarantine warnings (unmatched, expired, refused), the
    shadow line), ``labels`` (the history labels of the failing runs, keyed by (session id,
    ``Run.latest.result_id``): ``GateRun.labels`` for every report)."""

    verdict: Verdict
    exit_code: int
    would_exit_code: int
    shadow: bool = False
    quarantined: tuple[quarantine.Match, ...] = ()
    known: tuple[Known, ...] = ()
    notes: tuple[str, ...] = ()
    labels: Mapping[tuple[str, str], Label] = dataclasses.field(default_factory=dict)

    @property
    def shadow_line(self) -> str:
        """``shadow: the gate would have exited 1 (failed)``; "" without ``--shadow``."""
        if not self.shadow:
            return ""
        return (
            f"shadow: the gate would have exited {self.would_exit_code} "
            f"({self.verdict.outcome.label})"
        )


def _settled(sv: SessionVerdict, ended: Collection[str]) -> bool:
    """Whether rules 1 and 2 may look at ``sv``: FAILED, and a session the gate saw end."""
    return sv.outcome is Outcome.FAILED and sv.session_id in ended


def _marks(
    sv: SessionVerdict,
    ended: Collection[str],
    applied: quarantine.Applied,
    labels: Mapping[tuple[str, str], Label],
    fail_on: str,
) -> tuple[SetAside, ...]:
    """Rules 1 and 2 per run, decided once: each failing run of ``sv`` that is a definite
    check failure (``quarantine.why_not``: never unknown, unfinished, or in a cancelled or
    unsettled session) is *quarantined* when an active entry covers it, else, under
    ``--fail-on new``, a *known failure* when its label is known. Whether the session then
    passes is ``quarantine.passes_setting_aside``'s rule, not this one's. A run whose
    ``result_id`` is empty or shared by another run is never set aside (marks are keyed by
    it)."""
    if not _settled(sv, ended):
        return ()
    ids = Counter(run.latest.result_id for run in sv.runs)
    covered = {id(m.run): m.entry for m in applied.quarantined if m.session_id == sv.session_id}
    marks: list[SetAside] = []
    for run in sv.failing:
        rid = run.latest.result_id
        if not rid or ids[rid] > 1 or quarantine.why_not(sv, run):
            continue
        entry = covered.get(id(run))
        label = labels.get((sv.session_id, rid))
        if entry is not None:
            marks.append(SetAside(rid, Mark.QUARANTINED, entry.terms(), entry.as_dict()))
        elif fail_on == "new" and label is not None and label.known:
            marks.append(SetAside(rid, Mark.KNOWN, label.text()))
    return tuple(marks)


def _set_aside(sv: SessionVerdict, marks: Sequence[SetAside]) -> SessionVerdict:
    """``sv`` with ``marks`` (``verdict.with_set_aside``: counts and reason), PASSED ("passed
    with 1 known failure and 1 quarantined failure") when every run that is not set aside
    passes (``quarantine.passes_setting_aside``), else with its outcome."""
    if not marks:
        return sv
    passes = quarantine.passes_setting_aside(sv, {m.result_id for m in marks})
    marked = with_set_aside(sv, marks)
    if passes:
        reason = f"passed with {aside_words(marked.counts)}"
        marked = dataclasses.replace(marked, outcome=Outcome.PASSED, reason=reason)
    return marked


def _deploy_phase(sv: SessionVerdict, own: Sequence[deploy.Finding]) -> SessionVerdict:
    """Rule 3: ``sv`` (as rules 1 and 2 left it) FAILED whatever they said when its deploy
    findings ``own`` fail, unless its outcome is one of ``_KEPT``."""
    outcome, reason = sv.outcome, sv.reason
    wrong = deploy.failing(own)
    if wrong and outcome not in _KEPT:
        outcome = Outcome.FAILED
        reason = "; ".join(f.message for f in wrong)
    if (outcome, reason) != (sv.outcome, sv.reason):
        sv = dataclasses.replace(sv, outcome=outcome, reason=reason)
    return sv


def _kept(
    sv: SessionVerdict, applied: quarantine.Applied, marks: Sequence[SetAside]
) -> list[quarantine.Match]:
    """The quarantine matches of ``sv`` that ``marks`` set aside."""
    held = {m.result_id for m in marks if m.mark is Mark.QUARANTINED}
    return [
        m
        for m in applied.quarantined
        if m.session_id == sv.session_id and m.run.latest.result_id in held
    ]


def _known(
    sv: SessionVerdict, labels: Mapping[tuple[str, str], Label], marks: Sequence[SetAside]
) -> list[Known]:
    """The known failures of ``sv`` that ``marks`` set aside, with their labels."""
    held = {m.result_id for m in marks if m.mark is Mark.KNOWN}
    return [
        Known(sv.session_id, run, labels[(sv.session_id, run.latest.result_id)])
        for run in sv.runs
        if run.latest.result_id in held
    ]


def _combine_phase(
    judged: Verdict, sessions: Sequence[SessionVerdict], signal: int | None
) -> Verdict:
    """Rule 4: the rewritten ``sessions`` combined (``verdict.combine``), keeping ``judged``'s
    warnings; ``judged`` itself when nothing was judged (a usage error, no session)."""
    if not sessions:
        return judged
    verdict = combine(list(sessions), signal)
    return dataclasses.replace(verdict, warnings=judged.warnings or verdict.warnings)


#: Outcomes ``--shadow`` leaves alone: a usage error (a gate that cannot run is not being
#: tried) and an interrupt (the runner's or the user's stop, not the gate's verdict: a script
#: ``checkly-gate --shadow ...; next`` must not carry on after Ctrl-C).
NOT_SHADOWED = (Outcome.USAGE, Outcome.INTERRUPTED)


def _shadow_phase(verdict: Verdict, shadow: bool) -> int:
    """Rule 5: the exit code, 0 under ``--shadow`` unless ``NOT_SHADOWED``."""
    if shadow and verdict.outcome not in NOT_SHADOWED:
        return 0
    return verdict.exit_code


def decide(
    judged: Verdict,
    *,
    ended: Collection[str] = (),
    findings: Mapping[str, Sequence[deploy.Finding]] | None = None,
    applied: quarantine.Applied | None = None,
    labels: Mapping[tuple[str, str], Label] | None = None,
    fail_on: str = "any",
    shadow: bool = False,
    signal: int | None = None,
) -> Decision:
    """The decision for ``judged`` given ``ended``, the ids of the sessions the gate saw end
    (their ``Observation.stop`` is ``Stop.FINAL``: a session the gate stopped following, at the
    deadline or on a signal, is never set aside, whatever its last body said); per session id,
    its deploy ``findings``; the
    quarantine's ``applied``; history ``labels`` keyed by ``(session id, Run.latest.result_id)``
    (a failing run without one is unknown); ``fail_on`` (``any`` | ``new``); ``shadow``; and
    the ``signal`` that interrupted the gate, if any (as ``verdict.combine`` takes it)."""
    if fail_on not in FAIL_ON:
        raise ValueError(f"fail_on must be one of {FAIL_ON}, got {fail_on!r}")
    findings = findings or {}
    applied = applied or quarantine.Applied()
    labels = labels or {}
    notes: list[str] = [*applied.warnings, *applied.refusals]
    kept_quarantined: list[quarantine.Match] = []
    known: list[Known] = []
    sessions: list[SessionVerdict] = []
    for sv in judged.sessions:
        marks = _marks(sv, ended, applied, labels, fail_on)
        kept_quarantined += _kept(sv, applied, marks)
        known += _known(sv, labels, marks)
        own = tuple(findings.get(sv.session_id, ()))
        notes += deploy.notes(own)
        sessions.append(_deploy_phase(_set_aside(sv, marks), own))
    verdict = _combine_phase(judged, sessions, signal)
    exit_code = _shadow_phase(verdict, shadow)
    shadow = shadow and verdict.outcome not in NOT_SHADOWED
    decision = Decision(
        verdict,
        exit_code,
        verdict.exit_code,
        shadow,
        tuple(kept_quarantined),
        tuple(known),
        (),
        dict(labels),
    )
    if shadow:
        notes.append(decision.shadow_line)
    return dataclasses.replace(decision, notes=tuple(notes))


def shadow_line(exit_code: int, outcome: Outcome) -> str:
    """What every output says under ``--shadow`` (issue 21, item 4)."""
    return f"shadow: the gate would have exited {exit_code} ({outcome.label})"


def shadow(verdict: Verdict) -> tuple[Verdict, int | None]:
    """``--shadow`` applied to a final verdict: (the verdict with exit code 0 and the shadow
    line first among its warnings, the code it would have exited with). A usage error or an
    interrupt (``NOT_SHADOWED``) stays as it is (exit 2, 128 + N; ``None``)."""
    if verdict.outcome in NOT_SHADOWED:
        return verdict, None
    line = shadow_line(verdict.exit_code, verdict.outcome)
    shown = dataclasses.replace(verdict, exit_code=0, warnings=(line, *verdict.warnings))
    return shown, verdict.exit_code


class ContextError(ValueError):
    """A stored context (a snapshot's ``context``) this version cannot read; one line."""


def in_context(
    judged: Verdict,
    observations: Sequence[Observation],
    checks: Collection[str],
    context: Mapping[str, object],
    signal: int | None = None,
) -> Decision:
    """``decide`` for a judged verdict and the ``context`` it was judged in, the one reading
    of that mapping for ``wait`` (``gate.finish_phase`` builds it) and ``report`` (read back
    from the snapshot, untrusted: ``ContextError``):

    - ``deploy``: ``deploy.Expectation.as_dict()``, checked on each test session's metadata
      (not ``checks``: check sessions carry none);
    - ``quarantine``: ``quarantine.Entry.as_dict()`` items, applied as of ``today``
      (``YYYY-MM-DD``, the UTC date the gate ran: ``report`` judges as the gate did).

    ``--shadow`` is not applied here (``shadow``): it changes the exit code only."""
    ended = {o.session_id for o in observations if o.stop.value == "final"}
    findings = None
    applied = None
    try:
        if "deploy" in context:
            expect = deploy.Expectation.from_dict(context["deploy"])
            findings = {
                o.session_id: expect.check(o.session.metadata, f"test session {o.session_id}")
                for o in observations
                if o.session is not None and o.session_id not in checks
            }
        raw = context.get("quarantine")
        if raw:
            if not isinstance(raw, list):
                raise ContextError("context.quarantine: expected a list of entries")
            entries = [quarantine.Entry.from_dict(e) for e in raw]
            applied = quarantine.apply(entries, judged.sessions, _today(context.get("today")))
    except (deploy.ExpectError, quarantine.QuarantineError, ValueError) as exc:
        raise ContextError(str(exc)) from None
    labels, fail_on = _labels(context)
    fast = context.get("failFast")
    if fast is not None and signal is None:
        judged = fail_fast(judged, ended, fast)
    return decide(
        judged,
        ended=ended,
        findings=findings,
        applied=applied,
        labels=labels,
        fail_on=fail_on,
        signal=signal,
    )


def _today(value: object) -> dt.date:
    """``context.today`` read back (untrusted): a real date ``YYYY-MM-DD``; ``ContextError``."""
    try:
        if isinstance(value, str) and len(value) == 10:
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise ContextError(f"context.today: expected a date YYYY-MM-DD, got {str(value)[:40]!r}")


def labels_context(labels: Mapping[tuple[str, str], Label], fail_on: str) -> dict[str, object]:
    """The history labels and ``--fail-on`` as the judging context stores them: ``{"failOn":
    "new", "labels": [{"sessionId", "resultId", "label", "firstSeen", "lastSeen", "why"}]}``
    (``{}`` for ``any`` without labels)."""
    found: dict[str, object] = {}
    if fail_on != "any":
        found["failOn"] = fail_on
    if labels:
        found["labels"] = [
            {
                "sessionId": sid,
                "resultId": rid,
                "label": label.label,
                "firstSeen": label.first_seen,
                "lastSeen": label.last_seen,
                "why": label.why,
            }
            for (sid, rid), label in labels.items()
        ]
    return found


def _labels(context: Mapping[str, object]) -> tuple[dict[tuple[str, str], Label], str]:
    """``labels_context``'s shape read back (untrusted); ``ContextError``."""
    from checkly_gate.history import KNOWN, NEW, UNKNOWN, Label

    fail_on = context.get("failOn", "any")
    if fail_on not in FAIL_ON:
        raise ContextError(f"context.failOn: expected one of {', '.join(FAIL_ON)}")
    raw = context.get("labels") or []
    if not isinstance(raw, list):
        raise ContextError("context.labels: expected a list")
    labels: dict[tuple[str, str], Label] = {}
    for item in raw:
        if not isinstance(item, dict):
            raise ContextError("context.labels: expected mappings")
        sid, rid, name = item.get("sessionId"), item.get("resultId"), item.get("label")
        if not (isinstance(sid, str) and isinstance(rid, str)) or name not in {
            *KNOWN,
            NEW,
            UNKNOWN,
        }:
            raise ContextError("context.labels: an entry without sessionId, resultId or label")
        first, last, why = item.get("firstSeen"), item.get("lastSeen"), item.get("why")
        labels[(sid, rid)] = Label(
            str(name), _moment(first), _moment(last), why if isinstance(why, str) else ""
        )
    return labels, str(fail_on)


#: Unix seconds a stored label time may hold: 1970 up to the year 9999 (a date can say it).
_LAST_MOMENT = 253402300799.0


def _moment(value: object) -> float | None:
    """A stored ``firstSeen``/``lastSeen`` (Unix seconds) a date can say, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    seconds = float(value)
    return seconds if 0.0 <= seconds <= _LAST_MOMENT else None


def fail_fast(judged: Verdict, ended: Collection[str], fast: object) -> Verdict:
    """``--fail-fast`` ended the wait at a definite failure (``fast``: ``{"sessionId",
    "check"}``): each session cut off by it (not ``ended``, judged timed out: its follower
    stopped as at a deadline) is failed (exit 1) saying so, never timed out (4) and never
    green. Other outcomes (a failure, trouble, a cancel) stay."""
    if not isinstance(fast, dict) or not isinstance(fast.get("check"), str):
        raise ContextError("context.failFast: expected a mapping with check")
    check = fast["check"]
    sessions = []
    for sv in judged.sessions:
        if sv.session_id in ended or sv.outcome not in (Outcome.TIMED_OUT, Outcome.FAILED):
            sessions.append(sv)
            continue
        open_runs = [run.name for run in sv.unfinished]
        shown = ", ".join(open_runs[:5]) + (
            f" and {len(open_runs) - 5} more" if len(open_runs) > 5 else ""
        )
        reason = f"--fail-fast: the wait ended at the first definite failure ({check})"
        reason += f"; unfinished: {shown}" if open_runs else ""
        if sv.outcome is Outcome.FAILED:
            reason = f"{sv.reason}; {reason}"
        warnings = tuple(
            w.replace("when the gate stopped (deadline)", "when the gate stopped (--fail-fast)")
            for w in sv.warnings
        )
        sessions.append(
            dataclasses.replace(sv, outcome=Outcome.FAILED, reason=reason, warnings=warnings)
        )
    return combine(sessions)

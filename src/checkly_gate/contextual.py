"""A verdict that knows its context (issue 21): one pure decision after the judge phase.

``decide`` takes the judged ``Verdict`` (``verdict.judge_session`` per session, combined) and
what the context phases found, and returns the ``Decision`` every report and the exit code
read:

1. **quarantine** (``quarantine.apply``): a FAILED session whose every failing run is a
   definite failure covered by an active entry passes ("passed with N quarantined failures");
2. **--fail-on new** (``history`` labels): a FAILED session whose every remaining failing run is
   known (seen before, failing on main too) passes ("passed with N known failures"); an unknown
   label never passes;
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
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checkly_gate import deploy, quarantine
from checkly_gate.outcomes import Outcome
from checkly_gate.verdict import Run, SessionVerdict, Verdict, combine

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
    that did not fail the gate: every report lists them), ``notes`` (one line each: deploy
    notes and failures, quarantine warnings, the shadow line)."""

    verdict: Verdict
    exit_code: int
    would_exit_code: int
    shadow: bool = False
    quarantined: tuple[quarantine.Match, ...] = ()
    known: tuple[Known, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def shadow_line(self) -> str:
        """``shadow: the gate would have exited 1 (failed)``; "" without ``--shadow``."""
        if not self.shadow:
            return ""
        return (
            f"shadow: the gate would have exited {self.would_exit_code} "
            f"({self.verdict.outcome.label})"
        )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@dataclass(frozen=True)
class _SetAside:
    """A FAILED session let pass by rule 1 or 2: its new ``reason``, the ``quarantined``
    matches and the ``known`` failures set aside (every report lists them)."""

    reason: str
    quarantined: tuple[quarantine.Match, ...]
    known: tuple[Known, ...] = ()


def _matches(sv: SessionVerdict, applied: quarantine.Applied) -> tuple[quarantine.Match, ...]:
    """The quarantine matches of ``sv``'s runs, in ``applied``'s order."""
    return tuple(m for m in applied.quarantined if m.session_id == sv.session_id)


def _held(matches: Sequence[quarantine.Match]) -> set[str]:
    """The ``Run.latest.result_id`` of each quarantined run."""
    return {m.run.latest.result_id for m in matches}


def _settled(sv: SessionVerdict, ended: Collection[str]) -> bool:
    """Whether rules 1 and 2 may look at ``sv``: FAILED, and a session the gate saw end."""
    return sv.outcome is Outcome.FAILED and sv.session_id in ended


def _quarantine_phase(
    sv: SessionVerdict, ended: Collection[str], applied: quarantine.Applied
) -> _SetAside | None:
    """Rule 1: ``sv`` passes when its every failing run is covered by an active entry
    (``quarantine.passes_setting_aside``); ``None`` when it does not."""
    matches = _matches(sv, applied)
    held = _held(matches)
    if not (_settled(sv, ended) and held and quarantine.passes_setting_aside(sv, held)):
        return None
    return _SetAside(f"passed with {_plural(len(held), 'quarantined failure')}", matches)


def _fail_on_new_phase(
    sv: SessionVerdict,
    ended: Collection[str],
    applied: quarantine.Applied,
    labels: Mapping[tuple[str, str], Label],
    fail_on: str,
) -> _SetAside | None:
    """Rule 2 (``--fail-on new``): ``sv`` passes when its every failing run not quarantined
    has a known label and the rest passes (``quarantine.passes_setting_aside``); ``None`` when
    not, as soon as one run is unlabelled or its label is not known."""
    if fail_on != "new" or not _settled(sv, ended):
        return None
    matches = _matches(sv, applied)
    held = _held(matches)
    let_pass: dict[str, Known] = {}
    for run in sv.failing:
        key = run.latest.result_id
        if key in held:
            continue
        label = labels.get((sv.session_id, key))
        if label is None or not label.known:
            return None
        let_pass[key] = Known(sv.session_id, run, label)
    if not (let_pass and quarantine.passes_setting_aside(sv, held | set(let_pass))):
        return None
    parts = [_plural(len(let_pass), "known failure")]
    if held:
        parts.append(_plural(len(held), "quarantined failure"))
    return _SetAside(f"passed with {' and '.join(parts)}", matches, tuple(let_pass.values()))


def _deploy_phase(
    sv: SessionVerdict, aside: _SetAside | None, own: Sequence[deploy.Finding]
) -> SessionVerdict:
    """Rule 3: ``sv`` with what rules 1 and 2 said (``aside``), then FAILED whatever they said
    when its deploy findings ``own`` fail, unless its outcome is one of ``_KEPT``."""
    outcome, reason = sv.outcome, sv.reason
    if aside is not None:
        outcome, reason = Outcome.PASSED, aside.reason
    wrong = deploy.failing(own)
    if wrong and outcome not in _KEPT:
        outcome = Outcome.FAILED
        reason = "; ".join(f.message for f in wrong)
    if (outcome, reason) != (sv.outcome, sv.reason):
        sv = dataclasses.replace(sv, outcome=outcome, reason=reason)
    return sv


def _combine_phase(
    judged: Verdict, sessions: Sequence[SessionVerdict], signal: int | None
) -> Verdict:
    """Rule 4: the rewritten ``sessions`` combined (``verdict.combine``), keeping ``judged``'s
    warnings; ``judged`` itself when nothing was judged (a usage error, no session)."""
    if not sessions:
        return judged
    verdict = combine(list(sessions), signal)
    return dataclasses.replace(verdict, warnings=judged.warnings or verdict.warnings)


def _shadow_phase(verdict: Verdict, shadow: bool) -> int:
    """Rule 5: the exit code, 0 under ``--shadow`` unless a usage error (2 stays)."""
    if shadow and verdict.outcome is not Outcome.USAGE:
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
    notes: list[str] = list(applied.notes)
    kept_quarantined: list[quarantine.Match] = []
    known: list[Known] = []
    sessions: list[SessionVerdict] = []
    for sv in judged.sessions:
        aside = _quarantine_phase(sv, ended, applied) or _fail_on_new_phase(
            sv, ended, applied, labels, fail_on
        )
        if aside is not None:
            kept_quarantined += aside.quarantined
            known += aside.known
        own = tuple(findings.get(sv.session_id, ()))
        notes += deploy.notes(own)
        sessions.append(_deploy_phase(sv, aside, own))
    verdict = _combine_phase(judged, sessions, signal)
    exit_code = _shadow_phase(verdict, shadow)
    decision = Decision(
        verdict, exit_code, verdict.exit_code, shadow, tuple(kept_quarantined), tuple(known), ()
    )
    if shadow:
        notes.append(decision.shadow_line)
    return dataclasses.replace(decision, notes=tuple(notes))


def shadow_line(exit_code: int, outcome: Outcome) -> str:
    """What every output says under ``--shadow`` (issue 21, item 4)."""
    return f"shadow: the gate would have exited {exit_code} ({outcome.label})"


def shadow(verdict: Verdict) -> tuple[Verdict, int | None]:
    """``--shadow`` applied to a final verdict: (the verdict with exit code 0 and the shadow
    line first among its warnings, the code it would have exited with). A usage error stays
    as it is (exit 2; ``None``): a gate that cannot run is not being tried."""
    if verdict.outcome is Outcome.USAGE:
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
            today = context.get("today")
            if not isinstance(today, str):
                raise ContextError("context.today: expected a date YYYY-MM-DD")
            entries = [quarantine.Entry.from_dict(e) for e in raw]
            applied = quarantine.apply(entries, judged.sessions, dt.date.fromisoformat(today))
    except (deploy.ExpectError, quarantine.QuarantineError, ValueError) as exc:
        raise ContextError(str(exc)) from None
    labels, fail_on = _labels(context)
    fast = context.get("failFast")
    if fast is not None and signal is None:
        judged = fail_fast(judged, ended, fast)
    decision = decide(
        judged,
        ended=ended,
        findings=findings,
        applied=applied,
        labels=labels,
        fail_on=fail_on,
        signal=signal,
    )
    return dataclasses.replace(decision, notes=(*_label_notes(judged, labels), *decision.notes))


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
            str(name),
            float(first) if isinstance(first, (int, float)) else None,
            float(last) if isinstance(last, (int, float)) else None,
            why if isinstance(why, str) else "",
        )
    return labels, str(fail_on)


def _label_notes(judged: Verdict, labels: Mapping[tuple[str, str], Label]) -> list[str]:
    """One line per labelled failing run: ``Checkout flow: seen before (first ..., last ...)``."""
    lines = []
    for sv in judged.sessions:
        for run in sv.failing:
            label = labels.get((sv.session_id, run.latest.result_id or ""))
            if label is not None:
                lines.append(f"{run.name}: {label.text()}")
    return lines


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

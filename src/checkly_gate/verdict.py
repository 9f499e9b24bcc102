"""Verdict policy: what the gate knows about each session, turned into an outcome and exit code.

Pure functions only. The poller says what it saw (``Observation``); this module decides. The
rules, in short: FINAL rows decide a check run, ATTEMPT rows only make a passed run flaky, a run
without a FINAL row is unfinished; where the session status and its FINAL rows disagree, the worse
wins; nothing unknown ever becomes a pass.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from checkly_gate.models import CANCELLED, FAILED, PASSED, Result, Session
from checkly_gate.outcomes import Outcome  # the facts table; importable from here as before

# Several sessions: the most severe outcome wins. A definite failure outranks "we could not tell"
# (timeout, API trouble), so allowing exit codes 4 and 6 in a pipeline never hides a real failure.
SEVERITY: tuple[Outcome, ...] = (
    Outcome.PASSED,
    Outcome.TIMED_OUT,
    Outcome.UNAVAILABLE,
    Outcome.NO_SESSION,  # nothing found to judge: worse than "could not tell", below a verdict
    Outcome.CANCELLED,
    Outcome.REFUSED,
    Outcome.FAILED,
    Outcome.NO_MATCH,
    Outcome.USAGE,
    Outcome.INTERRUPTED,
)


class Stop(enum.Enum):
    """Why the poller stopped following a session."""

    FINAL = "final"  # the session reached PASSED / FAILED / CANCELLED
    DEADLINE = "deadline"  # the overall deadline came first
    REFUSED = "refused"  # 400 / 401 / 403: retrying cannot help
    NOT_FOUND = "not-found"  # 404 beyond the grace period
    INTERRUPTED = "interrupted"  # SIGINT / SIGTERM


class Category(enum.Enum):
    """What one check run amounts to. Exclusive; ordered from worst to best for reports."""

    ERROR = "error"  # hasErrors: a Checkly-side error, still not a pass
    FAILED = "failed"
    FLAKY = "flaky"  # FINAL passed after failed attempts
    DEGRADED = "degraded"
    SKIPPED = "skipped"  # cancelled or aborted
    PENDING = "pending"  # no FINAL row yet
    UNKNOWN = "unknown"
    PASSED = "passed"


@dataclass(frozen=True)
class Run:
    """One check at one location: its FINAL row (if any) and its earlier attempts."""

    final: Result | None
    attempts: tuple[Result, ...]
    latest: Result

    @property
    def name(self) -> str:
        return self.latest.display_name

    @property
    def category(self) -> Category:
        final = self.final
        if final is None:
            return Category.PENDING
        if final.has_errors:
            return Category.ERROR
        if final.failed:
            return Category.FAILED
        if final.cancelled:
            return Category.SKIPPED
        if self.failed_attempts:
            return Category.FLAKY
        if final.is_degraded:
            return Category.DEGRADED
        return Category.PASSED

    @property
    def failed_attempts(self) -> tuple[Result, ...]:
        return tuple(a for a in self.attempts if a.failed)

    @property
    def degraded(self) -> bool:
        return self.final is not None and self.final.is_degraded and not self.final.failed

    @property
    def unfinished(self) -> bool:
        """No decided FINAL row yet."""
        return self.final is None


def group_runs(results: Iterable[Result]) -> list[Run]:
    """Pair FINAL, ATTEMPT and PENDING rows of the same check and location, in API order."""
    order: list[tuple[str, str]] = []
    rows: dict[tuple[str, str], list[Result]] = {}
    for result in results:
        key = result.run_key
        if key not in rows:
            order.append(key)
            rows[key] = []
        rows[key].append(result)
    runs = []
    for key in order:
        group = rows[key]
        finals = [r for r in group if r.is_final]
        attempts = tuple(r for r in group if r.is_attempt)
        final = finals[-1] if finals else None
        runs.append(Run(final=final, attempts=attempts, latest=final or group[-1]))
    return runs


def is_settled(session: Session) -> bool:
    """A final session whose every run has a FINAL row with a stop time (none left to arrive)."""
    if not session.is_final:
        return False
    for run in group_runs(session.results):
        if run.final is None or (run.final.started_at and not run.final.stopped_at):
            return False
    return True


@dataclass(frozen=True)
class Counts:
    passed: int = 0
    failed: int = 0
    errored: int = 0
    flaky: int = 0
    degraded: int = 0
    skipped: int = 0
    pending: int = 0

    @property
    def total(self) -> int:
        return (
            self.passed
            + self.failed
            + self.errored
            + self.flaky
            + self.degraded
            + self.skipped
            + self.pending
        )

    @property
    def finished(self) -> int:
        return self.total - self.pending

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            **{name: getattr(self, name) + getattr(other, name) for name in _COUNT_FIELDS}
        )

    def as_dict(self) -> dict[str, int]:
        data = {name: getattr(self, name) for name in _COUNT_FIELDS}
        data["total"] = self.total
        return data


_COUNT_FIELDS = ("passed", "failed", "errored", "flaky", "degraded", "skipped", "pending")
_CATEGORY_FIELD = {
    Category.PASSED: "passed",
    Category.FAILED: "failed",
    Category.ERROR: "errored",
    Category.FLAKY: "flaky",
    Category.DEGRADED: "degraded",
    Category.SKIPPED: "skipped",
    Category.PENDING: "pending",
}


def count_runs(runs: Iterable[Run]) -> Counts:
    tally = dict.fromkeys(_COUNT_FIELDS, 0)
    for run in runs:
        tally[_CATEGORY_FIELD[run.category]] += 1
    return Counts(**tally)


@dataclass(frozen=True)
class Policy:
    """User policy on top of Checkly's own verdict."""

    fail_on_degraded: bool = False
    fail_on_flaky: bool = False


@dataclass(frozen=True)
class Observation:
    """Everything the poller learned about one session."""

    session_id: str
    stop: Stop
    session: Session | None = None
    error: str | None = None  # last API problem, already free of secrets
    error_is_current: bool = False  # the API was failing when the poller stopped
    signal: int | None = None  # for Stop.INTERRUPTED


@dataclass(frozen=True)
class SessionVerdict:
    session_id: str
    outcome: Outcome
    reason: str
    session: Session | None = None
    runs: tuple[Run, ...] = ()
    counts: Counts = field(default_factory=Counts)
    warnings: tuple[str, ...] = ()

    @property
    def unfinished(self) -> tuple[Run, ...]:
        return tuple(r for r in self.runs if r.unfinished)


@dataclass(frozen=True)
class Verdict:
    """The gate's answer: one outcome, one exit code, and the per-session details."""

    outcome: Outcome
    exit_code: int
    reason: str
    sessions: tuple[SessionVerdict, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def counts(self) -> Counts:
        total = Counts()
        for session in self.sessions:
            total = total + session.counts
        return total


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _names(runs: Sequence[Run], limit: int = 5) -> str:
    names = [
        run.name + (f" ({run.latest.run_location})" if run.latest.run_location else "")
        for run in runs[:limit]
    ]
    more = len(runs) - limit
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def judge_session(obs: Observation, policy: Policy = Policy()) -> SessionVerdict:
    """Decide one session from what the poller observed."""
    session = obs.session
    if session is None:
        return _judge_unread(obs)

    runs = tuple(group_runs(session.results))
    counts = count_runs(runs)
    warnings: list[str] = []
    broken = [r for r in runs if r.category in (Category.FAILED, Category.ERROR)]
    policy_hits = []
    if policy.fail_on_flaky:
        policy_hits += [r for r in runs if r.category is Category.FLAKY]
    if policy.fail_on_degraded:
        policy_hits += [r for r in runs if r.degraded and r not in policy_hits]
    unfinished = [r for r in runs if r.unfinished]

    def verdict(outcome: Outcome, reason: str) -> SessionVerdict:
        return SessionVerdict(
            session_id=obs.session_id,
            outcome=outcome,
            reason=reason,
            session=session,
            runs=runs,
            counts=counts,
            warnings=tuple(warnings),
        )

    failed_reason = ""
    if broken:
        failed_reason = f"{_plural(len(broken), 'check')} failed: {_names(broken)}"

    if obs.stop is Stop.FINAL and session.is_final:
        if unfinished:
            warnings.append(
                f"session is {session.status} but {_plural(len(unfinished), 'result')} "
                f"never finished: {_names(unfinished)}"
            )
        if session.status == FAILED:
            if not broken:
                warnings.append("session status is FAILED although no FINAL result failed")
                return verdict(Outcome.FAILED, "session status is FAILED")
            return verdict(Outcome.FAILED, failed_reason)
        if broken:
            if session.status == PASSED:
                warnings.append(
                    "session status is PASSED but FINAL results failed; the failure wins"
                )
            return verdict(Outcome.FAILED, failed_reason)
        if session.status == CANCELLED:
            return verdict(Outcome.CANCELLED, "session was cancelled")
        if policy_hits:
            kinds = []
            if any(r.category is Category.FLAKY for r in policy_hits) and policy.fail_on_flaky:
                kinds.append("flaky")
            if any(r.degraded for r in policy_hits) and policy.fail_on_degraded:
                kinds.append("degraded")
            return verdict(
                Outcome.FAILED,
                f"--fail-on-{'/'.join(kinds)}: {_names(policy_hits)}",
            )
        finals = [r for r in runs if r.final is not None]
        if not finals:
            return verdict(Outcome.FAILED, "session is PASSED but has no check results")
        notes = [
            f"{n} {what}"
            for n, what in ((counts.flaky, "flaky"), (counts.degraded, "degraded"))
            if n
        ]
        extra = f" ({', '.join(notes)})" if notes else ""
        return verdict(Outcome.PASSED, f"{_plural(len(finals), 'check run')} passed{extra}")

    # The session did not reach a final status while we watched.
    if obs.stop is Stop.INTERRUPTED:
        return verdict(Outcome.INTERRUPTED, "interrupted while the session was running")
    if broken:
        warnings.append(f"session still {session.status} when the gate stopped ({obs.stop.value})")
        return verdict(Outcome.FAILED, failed_reason + " (session still running)")
    if obs.stop in (Stop.REFUSED, Stop.NOT_FOUND):
        return verdict(Outcome.REFUSED, obs.error or "the API refused the request")
    if obs.error_is_current:
        return verdict(
            Outcome.UNAVAILABLE,
            f"API unavailable until the deadline ({obs.error}); last status {session.status}",
        )
    return verdict(
        Outcome.TIMED_OUT,
        f"timed out with the session still {session.status}: "
        f"{counts.finished}/{counts.total} results finished",
    )


def _judge_unread(obs: Observation) -> SessionVerdict:
    if obs.stop is Stop.INTERRUPTED:
        outcome, reason = Outcome.INTERRUPTED, "interrupted before the session was read"
    elif obs.stop is Stop.NOT_FOUND:
        outcome = Outcome.REFUSED
        reason = obs.error or "session not found"
    elif obs.stop is Stop.REFUSED:
        outcome, reason = Outcome.REFUSED, obs.error or "the API refused the request"
    else:
        outcome = Outcome.UNAVAILABLE
        reason = f"could not read the session before the deadline: {obs.error or 'no answer'}"
    return SessionVerdict(session_id=obs.session_id, outcome=outcome, reason=reason)


def combine(verdicts: Sequence[SessionVerdict], signal: int | None = None) -> Verdict:
    """The most severe session outcome wins; an interrupt wins over everything."""
    warnings = tuple(w for v in verdicts for w in v.warnings)
    if signal is not None:
        return Verdict(
            outcome=Outcome.INTERRUPTED,
            exit_code=128 + signal,
            reason=f"interrupted by signal {signal}",
            sessions=tuple(verdicts),
            warnings=warnings,
        )
    if not verdicts:
        return Verdict(Outcome.USAGE, Outcome.USAGE.value, "no session to wait for")
    worst = max(verdicts, key=lambda v: SEVERITY.index(v.outcome))
    reason = worst.reason
    if len(verdicts) > 1:
        reason = f"{worst.session_id}: {worst.reason}"
        if worst.outcome is Outcome.PASSED:
            reason = f"all {len(verdicts)} sessions passed"
    return Verdict(
        outcome=worst.outcome,
        exit_code=worst.outcome.value,
        reason=reason,
        sessions=tuple(verdicts),
        warnings=warnings,
    )


def usage_verdict(reason: str) -> Verdict:
    """A verdict for input the gate refused before making any request."""
    return Verdict(Outcome.USAGE, Outcome.USAGE.value, reason)

"""Verdict policy: what the gate knows about each session, turned into an outcome and exit code.

Pure functions only. The follower says what it saw (``Observation``); this module decides. Green
is proven, not assumed: ``prove_passed`` is the one definition of "passed" and the only way to
exit 0; everything else is non-zero with a reason naming the run and why: a failure or error in
the user's words (``outcomes.CATEGORY`` message), anything else by the field that decided it.
Rows become runs without ever being merged into a pass (``group_runs``); each run is judged by
the facts it shows, known failures first (``judge_run``); a value the gate does not know is
``Category.UNKNOWN``, which fails (exit 1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from checkly_gate.models import (
    CANCELLED,
    FAILED,
    FINAL_STATUSES,
    PASSED,
    RUNNING,
    Observation,
    Result,
    Session,
    Stop,
    same_session,
)
from checkly_gate.models import FINAL as FINAL_TYPE
from checkly_gate.models import PENDING as PENDING_TYPE
from checkly_gate.outcomes import (
    DECIDED,
    PASSING,
    Category,
    CategoryFacts,
    Mark,
    Outcome,
    facts,
    mark_facts,
    tally,
)
from checkly_gate.text import signal_name

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


KNOWN_SESSION_STATUSES = FINAL_STATUSES | {RUNNING}
_FAILED = (Category.ERROR, Category.FAILED)  # a run that failed by a fact of its FINAL row


@dataclass(frozen=True)
class Run:
    """One run of a check at one location: the row that decides it and its earlier tries.

    ``latest`` is the deciding row (FINAL, PENDING or of an unknown ``resultType``); a run made
    only of ATTEMPT rows that no such row claims has the last of them. ``final`` is ``latest``
    when it is a FINAL row (``resultType`` FINAL or missing), whatever its status, else None.
    ``attempts`` are the ATTEMPT rows paired with it by ``Result.run_key``.
    """

    final: Result | None
    attempts: tuple[Result, ...]
    latest: Result

    @property
    def name(self) -> str:
        return self.latest.display_name

    @cached_property
    def _judged(self) -> tuple[Category, str]:
        return judge_run(self)

    @property
    def category(self) -> Category:
        return self._judged[0]

    @property
    def why(self) -> str:
        """The field that decided ``category``: ``hasFailures true``, ``status 'TIMED_OUT'``..."""
        return self._judged[1]

    @property
    def failed_attempts(self) -> tuple[Result, ...]:
        """ATTEMPT rows that are not a provable pass (status PASSED, no flag, all readable):
        THE rule for a failed attempt. An attempt with status ``TIMED_OUT`` and no flag is one,
        so its run is flaky, JUnit writes its ``flakyFailure`` and its evidence is fetched."""
        return tuple(a for a in self.attempts if not a.passed_cleanly)

    @property
    def failed_rows(self) -> tuple[Result, ...]:
        """The rows whose error text and evidence tell why the run did not simply pass, first
        seen first: ``failed_attempts``, then the FINAL row when the run failed by its own facts
        (``hasErrors``, ``hasFailures`` or status FAILED: ``Category.ERROR``/``FAILED``)."""
        final = self.final if self.final is not None and self.category in _FAILED else None
        return (*self.failed_attempts, *((final,) if final is not None else ()))

    @property
    def error_group_ids(self) -> tuple[str, ...]:
        """Error groups of the failed attempts, then of the FINAL row, first seen first: the
        error text of a run that failed the gate (a flaky run's is in its failed attempts)."""
        ids: dict[str, None] = {}
        for row in (*self.failed_attempts, *((self.final,) if self.final else ())):
            for group_id in row.error_group_ids:
                ids.setdefault(group_id, None)
        return tuple(ids)

    @property
    def degraded(self) -> bool:
        """A passing run whose FINAL row says ``isDegraded``."""
        return self.category in PASSING and self.latest.is_degraded

    @property
    def unfinished(self) -> bool:
        """Not finished yet: no FINAL row, a PENDING row, or a FINAL row still RUNNING."""
        return self.category is Category.PENDING


def judge_run(run: Run) -> tuple[Category, str]:
    """The category of one run and the field that decided it.

    Known facts first: ``hasErrors`` true is an error and ``hasFailures`` true or status FAILED a
    failure, whatever the status or type says. Then: a PENDING row, or a FINAL row with status
    RUNNING, is unfinished; a fact that could not be read (``Result.unreadable``), an unknown
    ``resultType`` or an unknown status is UNKNOWN; CANCELLED or ``aborted`` is SKIPPED. Only a
    FINAL row with status PASSED and every fact readable passes (flaky after failed attempts,
    degraded with ``isDegraded``).
    """
    row = run.latest
    if row.is_attempt:
        return Category.PENDING, f"no FINAL row, only {_plural(len(run.attempts), 'ATTEMPT row')}"
    if row.has_errors:
        return Category.ERROR, "hasErrors true"
    if row.has_failures:
        return Category.FAILED, "hasFailures true"
    if row.status == FAILED:
        return Category.FAILED, "status FAILED"
    if row.kind == PENDING_TYPE:
        return Category.PENDING, "resultType PENDING"
    if row.unreadable:
        return Category.UNKNOWN, "; ".join(row.unreadable)
    if row.kind != FINAL_TYPE:
        return Category.UNKNOWN, f"resultType {row.kind!r}"
    if row.status == RUNNING:
        return Category.PENDING, "FINAL row with status RUNNING"
    if row.status == CANCELLED:
        return Category.SKIPPED, "status CANCELLED"
    if row.aborted:
        return Category.SKIPPED, "aborted true"
    if row.status != PASSED:
        return Category.UNKNOWN, f"status {row.status!r}"
    failed = run.failed_attempts
    if failed:
        return Category.FLAKY, f"passed after {_plural(len(failed), 'failed attempt')}"
    if row.is_degraded:
        return Category.DEGRADED, "isDegraded true"
    return Category.PASSED, "status PASSED"


def group_runs(results: Iterable[Result]) -> list[Run]:
    """Rows to runs, in API order. Rows are never merged into one run: every FINAL, PENDING or
    unknown-type row is a run of its own (two FINAL rows of the same check and location are two
    runs, and the worse one decides). Each ATTEMPT row joins the last such row with the same
    ``Result.run_key`` (``sequenceId``, else ``checkId`` + ``runLocation``; never the name).
    ATTEMPT rows that no row claims form a run without a FINAL row, which is unfinished."""
    rows = list(results)
    owner: dict[tuple[str, ...], int] = {}  # run key -> index of the last deciding row
    for index, row in enumerate(rows):
        key = row.run_key
        if not row.is_attempt and key is not None:
            owner[key] = index
    order: list[int] = []
    attempts: dict[int, list[Result]] = {}
    orphans: dict[tuple[str, ...], int] = {}  # run key -> first unclaimed ATTEMPT row
    for index, row in enumerate(rows):
        key = row.run_key
        if not row.is_attempt:
            anchor = index
        elif key is not None and key in owner:
            attempts.setdefault(owner[key], []).append(row)
            continue
        else:
            anchor = index if key is None else orphans.setdefault(key, index)
        if anchor == index:
            order.append(index)
        if row.is_attempt:
            attempts.setdefault(anchor, []).append(row)
    runs = []
    for index in order:
        row = rows[index]
        tries = tuple(attempts.get(index, ()))
        if row.is_attempt:
            runs.append(Run(final=None, attempts=tries, latest=tries[-1]))
        else:
            final = row if row.kind == FINAL_TYPE else None
            runs.append(Run(final=final, attempts=tries, latest=row))
    return runs


def is_settled(session: Session) -> bool:
    """A final session whose every run is decided (``DECIDED``: not unfinished, not unknown)
    and whose deciding rows that started also stopped, so no row is left to arrive or change.
    The poller re-reads an unsettled final session a few times; the verdict never counts an
    undecided run as passed either way."""
    if not session.is_final:
        return False
    for run in group_runs(session.results):
        if run.category not in DECIDED:
            return False
        if run.latest.started_at and not run.latest.stopped_at:
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
    unknown: int = 0  # runs of Category.UNKNOWN
    # Failing runs the context set aside (``SetAside``), counted here instead of their category
    # (a quarantined failed run is not in ``failed``): ``failing`` + these = the runs that
    # failed by their facts or the policy before the context.
    quarantined: int = 0
    known: int = 0
    # Flaky or degraded runs (counted above in their category) that the user's policy
    # (``--fail-on-flaky``/``--fail-on-degraded``) made fail the gate.
    by_policy: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, name) for name in _COUNT_FIELDS)

    @property
    def failing(self) -> int:
        """Runs that failed the gate (``fails_gate``): failed, errored, unknown, and flaky or
        degraded runs the policy does not allow. THE number every report calls "failed"."""
        return self.failed + self.errored + self.unknown + self.by_policy

    @property
    def finished(self) -> int:
        """Runs with a decided outcome (neither unfinished nor unknown)."""
        return self.total - self.pending - self.unknown

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            **{name: getattr(self, name) + getattr(other, name) for name in _COUNT_FIELDS},
            by_policy=self.by_policy + other.by_policy,
        )

    def as_dict(self) -> dict[str, int]:
        """The counts as every output says them: ``failed`` is ``failing`` (every run that failed
        the gate), ``errored``/``unknown``/``byPolicy`` say which of those were not failures of
        their own; the rest count their category; ``total`` every run."""
        data = {name: getattr(self, name) for name in _COUNT_FIELDS}
        data["failed"] = self.failing
        data["byPolicy"] = self.by_policy
        data["total"] = self.total
        return data


_COUNT_FIELDS = (
    "passed",
    "failed",
    "errored",
    "flaky",
    "degraded",
    "skipped",
    "pending",
    "unknown",
    "quarantined",
    "known",
)
_MARK_FIELD = {Mark.QUARANTINED: "quarantined", Mark.KNOWN: "known"}
_CATEGORY_FIELD = {
    Category.PASSED: "passed",
    Category.FAILED: "failed",
    Category.ERROR: "errored",
    Category.FLAKY: "flaky",
    Category.DEGRADED: "degraded",
    Category.SKIPPED: "skipped",
    Category.PENDING: "pending",
    Category.UNKNOWN: "unknown",
}


def count_runs(
    runs: Iterable[Run],
    policy: Policy | None = None,
    marked: Callable[[Run], Mark | None] | None = None,
) -> Counts:
    """Runs per category; with a ``policy``, also the flaky/degraded runs it fails
    (``Counts.by_policy``). Without one (progress while polling) nothing is failed by policy.
    ``marked`` (``SessionVerdict.mark``) says which runs the context set aside: each is counted
    under its mark only (neither its category nor ``by_policy``)."""
    tally = dict.fromkeys(_COUNT_FIELDS, 0)
    by_policy = 0
    for run in runs:
        mark = marked(run) if marked is not None else None
        if mark is not None:
            tally[_MARK_FIELD[mark]] += 1
            continue
        tally[_CATEGORY_FIELD[run.category]] += 1
        if policy is not None and policy_fails(run, policy):
            by_policy += 1
    return Counts(**tally, by_policy=by_policy)


@dataclass(frozen=True)
class Policy:
    """User policy on top of Checkly's own verdict."""

    fail_on_degraded: bool = False
    fail_on_flaky: bool = False


@dataclass(frozen=True)
class SetAside:
    """A run that failed by its facts (or the policy) and that the context set aside
    (``contextual``, issue 21): it does not fail the gate, and every report draws it by its
    ``mark`` (``outcomes.MARK``), never as failed.

    ``result_id``: the run's ``Run.latest.result_id``; ``mark``: quarantined or known;
    ``text``: the one line every report shows after the mark's label (``owner @payments, until
    2026-12-31: flaky since the CDN move`` or ``seen before (first ..., last ...)``);
    ``quarantine``: the entry that covers it (``quarantine.Entry.as_dict()``: check, owner,
    reason, expires, line), empty for a known failure."""

    result_id: str
    mark: Mark
    text: str
    quarantine: Mapping[str, Any] = field(default_factory=dict)

    def says(self) -> str:
        """The one line every report shows for the run: ``quarantined, owner @payments,
        expires 2026-12-31: flaky ...`` or ``known failure, seen before (first ...)``."""
        return f"{mark_facts(self.mark).label}, {self.text}"


@dataclass(frozen=True)
class SessionVerdict:
    session_id: str
    outcome: Outcome
    reason: str
    session: Session | None = None
    runs: tuple[Run, ...] = ()
    counts: Counts = field(default_factory=Counts)
    warnings: tuple[str, ...] = ()
    policy: Policy = field(default_factory=lambda: Policy())
    # Failing runs the context set aside (``contextual``): they do not fail the gate.
    set_aside: tuple[SetAside, ...] = ()

    @property
    def unfinished(self) -> tuple[Run, ...]:
        return tuple(r for r in self.runs if r.unfinished)

    @cached_property
    def _policy_hits(self) -> dict[int, tuple[str, ...]]:
        return {id(run): policy_flags(run, self.policy) for run in self.runs}

    def policy_hits(self, run: Run) -> tuple[str, ...]:
        """The policy flags that failed ``run`` (one of ``runs``): ``("--fail-on-flaky",)``...;
        empty when none did. _Decided here once, under this session's ``policy``; every report
        prints this instead of applying ``--fail-on-*`` itself."""
        return self._policy_hits.get(id(run), ())

    @cached_property
    def _aside(self) -> dict[str, SetAside]:
        return {a.result_id: a for a in self.set_aside if a.result_id}

    def aside(self, run: Run) -> SetAside | None:
        """What the context set ``run`` (one of ``runs``) aside as; ``None`` when it did not."""
        if not self.set_aside:
            return None
        return self._aside.get(run.latest.result_id or "")

    def mark(self, run: Run) -> Mark | None:
        """``aside(run)``'s mark, or ``None``."""
        found = self.aside(run)
        return found.mark if found is not None else None

    def row(self, run: Run) -> CategoryFacts:
        """The facts row every report draws ``run`` with: its mark's (``outcomes.MARK``) when
        the context set it aside, else its category's."""
        found = self.aside(run)
        return mark_facts(found.mark) if found is not None else facts(run.category)

    def fails(self, run: Run) -> bool:
        """Whether ``run`` (one of ``runs``) failed the gate: by its own facts
        (``CategoryFacts.broken``) or by a policy hit (``policy_hits``), and the context did
        not set it aside (``aside``)."""
        if self.aside(run) is not None:
            return False
        return facts(run.category).broken or bool(self.policy_hits(run))

    @property
    def failing(self) -> tuple[Run, ...]:
        """The runs that failed the gate, in API order: every report names exactly these."""
        return tuple(r for r in self.runs if self.fails(r))

    @property
    def aside_runs(self) -> tuple[tuple[Run, SetAside], ...]:
        """The runs the context set aside, with what it said, in API order."""
        found = ((r, self.aside(r)) for r in self.runs)
        return tuple((r, a) for r, a in found if a is not None)


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


def with_set_aside(sv: SessionVerdict, marks: Sequence[SetAside]) -> SessionVerdict:
    """``sv`` with the runs ``marks`` name set aside (``contextual`` decides which, once): its
    counts counted again (each such run under its mark, ``count_runs``) and, for a FAILED
    session, its reason said again without them (``_reason_aside``). The outcome is not
    touched: whether the session passes is ``contextual``'s rule."""
    if not marks:
        return sv
    marked = dataclasses.replace(sv, set_aside=tuple(marks))
    counts = count_runs(sv.runs, sv.policy, marked.mark)
    reason = _reason_aside(marked, counts) if sv.outcome is Outcome.FAILED else sv.reason
    return dataclasses.replace(marked, counts=counts, reason=reason)


def aside_words(counts: Counts) -> str:
    """``1 quarantined failure and 2 known failures`` (``""`` when none was set aside)."""
    said = ((counts.known, "known failure"), (counts.quarantined, "quarantined failure"))
    parts = [_plural(n, word) for n, word in said if n]
    return " and ".join(parts)


def _reason_aside(sv: SessionVerdict, counts: Counts) -> str:
    """The reason of a FAILED session with set-aside runs: what still fails, named as
    ``_failed_runs`` names it, then what was set aside (``1 check failed: Search (an assertion
    failed); set aside: 1 quarantined failure``)."""
    failing = sv.failing
    broken = [r for r in failing if r.category in _FAILED]
    if broken:
        base = f"{_plural(len(broken), 'check')} failed: {_names(broken)}"
    elif failing:
        base = f"{_plural(len(failing), 'check run')} failed the gate: {_names(failing)}"
    else:
        rest = [r for r in sv.runs if sv.aside(r) is None and r.category not in PASSING]
        status = sv.session.status if sv.session is not None else None
        base = f"not proven passed: {_names(rest)}" if rest else f"session status is {status!r}"
    return f"{base}; set aside: {aside_words(counts)}"


def _names(runs: Sequence[Run], limit: int = 5, why: bool = True) -> str:
    """``Name (location; why)`` for the first ``limit`` runs: why in the user's words
    (``outcomes.CATEGORY`` message: "an assertion failed") for a failure or error, else the
    deciding field (``Run.why``: a value the gate does not know, a missing FINAL row)."""
    names = []
    for run in runs[:limit]:
        where = [run.latest.run_location] if run.latest.run_location else []
        if why:
            row = facts(run.category)
            where.append(row.message if row.broken and not row.raw else run.why)
        names.append(run.name + (f" ({'; '.join(where)})" if where else ""))
    more = len(runs) - limit
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def _policy_allows(run: Run, policy: Policy) -> bool:
    if run.category not in PASSING:
        return False
    return not policy_fails(run, policy)


def policy_fails(run: Run, policy: Policy) -> bool:
    """A passing run that the user's policy fails: flaky under ``--fail-on-flaky``, degraded
    under ``--fail-on-degraded`` (``policy_flags`` is the rule)."""
    return bool(policy_flags(run, policy))


def policy_flags(run: Run, policy: Policy) -> tuple[str, ...]:
    """The policy flags that fail ``run`` (``("--fail-on-flaky",)``...); empty when none does."""
    flags = []
    if run.category is Category.FLAKY and policy.fail_on_flaky:
        flags.append("--fail-on-flaky")
    if run.category in PASSING and run.degraded and policy.fail_on_degraded:
        flags.append("--fail-on-degraded")
    return tuple(flags)


def fails_gate(run: Run, policy: Policy) -> bool:
    """THE per-run decision every report reads: the run failed the gate, by its own facts
    (failed, error, unknown: ``outcomes.CategoryFacts.broken``) or by the user's policy.
    Skipped and unfinished runs do not fail it on their own (the session outcome says why)."""
    return facts(run.category).broken or policy_fails(run, policy)


@dataclass(frozen=True)
class Proof:
    """Whether one session provably passed; ``gaps`` names every condition that does not hold,
    each naming the run and the field that decided it (empty: proven)."""

    gaps: tuple[str, ...]

    @property
    def holds(self) -> bool:
        return not self.gaps


def prove_passed(
    obs: Observation, policy: Policy = Policy(), runs: Sequence[Run] | None = None
) -> Proof:
    """THE definition of "passed": the only way to exit 0. A session passed when

    1. the gate saw it end (``Stop.FINAL``);
    2. the body is the session asked for: ``testSessionId`` equals the requested id;
    3. its ``status`` is PASSED;
    4. it has at least one check run;
    5. every run passed (``judge_run``): a FINAL row with status PASSED, ``hasErrors``,
       ``hasFailures`` and ``aborted`` false and every fact readable, so nothing is failed,
       cancelled, aborted, RUNNING, PENDING or unknown;
    6. flaky runs only without ``--fail-on-flaky``, degraded ones only without
       ``--fail-on-degraded``.

    ``runs`` may pass ``group_runs(session.results)`` already computed.
    """
    session = obs.session
    if session is None:
        return Proof(("the session was never read",))
    gaps = []
    if obs.stop is not Stop.FINAL:
        gaps.append(f"the gate stopped before the session ended ({obs.stop.value})")
    if not same_session(obs.session_id, session.session_id):
        gaps.append(f"testSessionId is {session.session_id!r}, not {obs.session_id}")
    if session.status != PASSED:
        gaps.append(f"status is {session.status!r}, not PASSED")
    runs = group_runs(session.results) if runs is None else runs
    if not runs:
        gaps.append("no check results")
    gaps += [_names([r]) for r in runs if not _policy_allows(r, policy)]
    return Proof(tuple(gaps))


def judge_session(obs: Observation, policy: Policy = Policy()) -> SessionVerdict:
    """Decide one session from what the poller observed.

    PASSED only when ``prove_passed`` holds. Anything else gets the most telling non-zero
    outcome, known facts first: a failed run or a FAILED session fails; a value the gate does
    not know fails (exit 1, naming it; never 4 or 6, which pipelines often allow); a cancelled
    session is cancelled; a PASSED session with no results, an unfinished run or a policy hit
    fails, with cancelled or aborted runs it is cancelled; a session still running when the
    gate stopped is refused, unavailable or timed out. A body of another session (its
    ``testSessionId`` is not the requested id) is never judged: unavailable (exit 6).
    """
    session = obs.session
    if session is None:
        return _judge_unread(obs)
    if not same_session(obs.session_id, session.session_id):
        return _judge_unread(
            obs,
            f"the API answered with another test session (testSessionId "
            f"{session.session_id!r}), a misrouted or cached answer; it is not judged",
        )

    runs = tuple(group_runs(session.results))
    counts = count_runs(runs, policy)
    warnings: list[str] = []

    def verdict(outcome: Outcome, reason: str) -> SessionVerdict:
        return SessionVerdict(
            session_id=obs.session_id,
            outcome=outcome,
            reason=reason,
            session=session,
            runs=runs,
            counts=counts,
            warnings=tuple(warnings),
            policy=policy,
        )

    proof = prove_passed(obs, policy, runs)
    if proof.holds:
        if counts.flaky or counts.degraded:  # the words of every count line (outcomes.tally)
            return verdict(Outcome.PASSED, f"{_plural(len(runs), 'check run')}: {tally(counts)}")
        return verdict(Outcome.PASSED, f"{_plural(len(runs), 'check run')} passed")
    outcome, reason = _not_passed(obs, session, runs, policy, proof, warnings)
    if outcome is Outcome.PASSED:  # cannot happen; a pass needs the proof above
        outcome = Outcome.FAILED
    return verdict(outcome, reason)


@dataclass(frozen=True)
class _Unproven:
    """A session that did not provably pass, with its runs sorted by what they amount to; the
    rules below read it in order and the first that decides gives the outcome."""

    obs: Observation
    session: Session
    runs: Sequence[Run]
    policy: Policy
    proof: Proof
    warnings: list[str]  # the rules append to the session's warnings

    @property
    def status(self) -> str:
        return self.session.status

    @property
    def ended(self) -> bool:
        """The gate saw the session end (``Stop.FINAL``) and its status is final."""
        return self.obs.stop is Stop.FINAL and self.session.is_final

    def having(self, *categories: Category) -> list[Run]:
        return [r for r in self.runs if r.category in categories]


_Decided = tuple[Outcome, str]


def _not_passed(
    obs: Observation,
    session: Session,
    runs: Sequence[Run],
    policy: Policy,
    proof: Proof,
    warnings: list[str],
) -> _Decided:
    """The outcome and reason of a session that did not provably pass (appends warnings):
    known facts first (an interrupt, a failed run, a FAILED session, a value the gate does not
    know, a cancelled session), then what an ended session lacks, then why the gate stopped."""
    case = _Unproven(obs, session, runs, policy, proof, warnings)
    _warn_unfinished(case)
    _warn_unknown(case)
    for rule in (
        _interrupted,
        _failed_runs,
        _failed_session,
        _unknown_values,
        _cancelled_session,
        _ended_unproven,
    ):
        decided = rule(case)
        if decided is not None:
            return decided
    return _cut_off(case)


def _warn_unfinished(case: _Unproven) -> None:
    unfinished = case.having(Category.PENDING)
    if case.ended and unfinished:
        case.warnings.append(
            f"session is {case.status} but {_plural(len(unfinished), 'result')} "
            f"never finished: {_names(unfinished)}"
        )


def _warn_unknown(case: _Unproven) -> None:
    """Name the unknown values even when something else decides the outcome: to be reported."""
    unknown = case.having(Category.UNKNOWN)
    decided_elsewhere = (
        case.having(*_FAILED) or case.status == FAILED or case.obs.stop is Stop.INTERRUPTED
    )
    if unknown and decided_elsewhere:
        case.warnings.append(
            f"{_plural(len(unknown), 'check run')} with a value checkly-gate does not know "
            f"(please report it): {_names(unknown)}"
        )


def _interrupted(case: _Unproven) -> _Decided | None:
    if case.obs.stop is Stop.INTERRUPTED:
        return Outcome.INTERRUPTED, "interrupted while the session was running"
    return None


def _failed_runs(case: _Unproven) -> _Decided | None:
    """A failed or errored run fails the session, whatever its status says."""
    broken = case.having(*_FAILED)
    if not broken:
        return None
    reason = f"{_plural(len(broken), 'check')} failed: {_names(broken)}"
    if not case.ended:
        case.warnings.append(
            f"session still {case.status} when the gate stopped ({case.obs.stop.value})"
        )
        return Outcome.FAILED, reason + " (session still running)"
    if case.status == PASSED:
        case.warnings.append("session status is PASSED but FINAL results failed; the failure wins")
    return Outcome.FAILED, reason


def _failed_session(case: _Unproven) -> _Decided | None:
    if case.status != FAILED:
        return None
    case.warnings.append("session status is FAILED although no FINAL result failed")
    return Outcome.FAILED, "session status is FAILED"


def _unknown_values(case: _Unproven) -> _Decided | None:
    """A run or a session status the gate does not know: never a pass, exit 1 (not 4 or 6,
    which pipelines often allow)."""
    unknown = case.having(Category.UNKNOWN)
    if unknown:
        return Outcome.FAILED, (
            f"{_plural(len(unknown), 'check run')} with a value checkly-gate does not know "
            f"(never a pass; please report it): {_names(unknown)}"
        )
    if case.status not in KNOWN_SESSION_STATUSES:
        return Outcome.FAILED, (
            f"session status {case.status!r} is unknown to checkly-gate (never a pass; please "
            "report it)"
        )
    return None


def _cancelled_session(case: _Unproven) -> _Decided | None:
    if case.status == CANCELLED:
        return Outcome.CANCELLED, "session was cancelled"
    return None


def _ended_unproven(case: _Unproven) -> _Decided | None:
    """A session that ended PASSED, yet something is missing from the proof."""
    if not case.ended:
        return None
    runs = case.runs
    unfinished, skipped = case.having(Category.PENDING), case.having(Category.SKIPPED)
    if not runs:
        return Outcome.FAILED, "session is PASSED but has no check results"
    if unfinished:
        return Outcome.FAILED, (
            f"session is PASSED but {_plural(len(unfinished), 'check run')} never "
            f"finished: {_names(unfinished)}"
        )
    if skipped:
        case.warnings.append("session status is PASSED but check runs were cancelled or aborted")
        return Outcome.CANCELLED, (
            f"session is PASSED but {_plural(len(skipped), 'check run')} "
            f"{'was' if len(skipped) == 1 else 'were'} cancelled or aborted: {_names(skipped)}"
        )
    return _policy_hit(case) or (Outcome.FAILED, f"not proven passed: {case.proof.gaps[0]}")


def _policy_hit(case: _Unproven) -> _Decided | None:
    """Flaky or degraded runs the user's ``--fail-on-*`` policy does not allow."""
    hits = [r for r in case.runs if not _policy_allows(r, case.policy)]
    if not hits:
        return None
    kinds = [
        kind
        for kind, hit in (
            ("flaky", any(r.category is Category.FLAKY for r in hits)),
            ("degraded", any(r.degraded for r in hits)),
        )
        if hit
    ]
    return Outcome.FAILED, f"--fail-on-{'/'.join(kinds)}: {_names(hits, why=False)}"


def _cut_off(case: _Unproven) -> _Decided:
    """The gate stopped before the session ended, or before its results settled."""
    obs, status = case.obs, case.status
    if obs.stop in (Stop.REFUSED, Stop.NOT_FOUND):
        return Outcome.REFUSED, obs.error or "the API refused the request"
    if obs.error_is_current:
        return Outcome.UNAVAILABLE, (
            f"API unavailable until the deadline ({obs.error}); last status {status}"
        )
    counts = count_runs(case.runs)
    progress = f"{counts.finished}/{counts.total} results finished"
    if status == RUNNING:
        return Outcome.TIMED_OUT, f"timed out with the session still {status}: {progress}"
    return (
        Outcome.TIMED_OUT,
        f"timed out before the results of the {status} session settled: {progress}",
    )


def _judge_unread(obs: Observation, why: str | None = None) -> SessionVerdict:
    """A session without a body that can be judged: never read, or ``why`` not."""
    if obs.stop is Stop.INTERRUPTED:
        outcome, reason = Outcome.INTERRUPTED, "interrupted before the session was read"
    elif obs.stop is Stop.NOT_FOUND:
        outcome = Outcome.REFUSED
        reason = obs.error or "session not found"
    elif obs.stop is Stop.REFUSED:
        outcome, reason = Outcome.REFUSED, obs.error or "the API refused the request"
    elif why is not None:
        outcome, reason = Outcome.UNAVAILABLE, why
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
            reason=f"interrupted by {signal_name(signal)}",
            sessions=tuple(verdicts),
            warnings=warnings,
        )
    if not verdicts:
        return Verdict(Outcome.USAGE, Outcome.USAGE.value, "no session to wait for")
    worst = max(verdicts, key=lambda v: SEVERITY.index(v.outcome))
    reason = worst.reason
    if len(verdicts) > 1:  # named as the reader knows it: "check session 'Checkout flow'"
        if worst.session is not None:
            reason = f"{worst.session.kind} '{worst.session.display_name}': {worst.reason}"
        else:
            reason = f"session {worst.session_id}: {worst.reason}"
        if worst.outcome is Outcome.PASSED:
            reason = f"all {len(verdicts)} sessions passed"
            aside = aside_words(sum((v.counts for v in verdicts), Counts()))
            reason += f" with {aside}" if aside else ""
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

"""The engine: wait for sessions as four phases under the command's scope: follow -> judge ->
explain -> finish. Commands (``commands/*``) find the sessions and call ``wait``; this module
imports nothing above it (no command, no ``cli``).

1. **follow**: one follower thread per session (a long-poll on one never delays another) until
   every session is final, the deadline passes, or a signal stops the scope.
2. **judge**: decide each session from the bodies as received (pure: ``verdict.judge_session``),
   then mask secrets in what will be written (never in what is judged).
3. **explain**: fetch the error messages and evidence of failed checks (best effort, at most
   ``EXPLAIN_BUDGET`` seconds, never after a signal).
4. **finish**: on a signal, ask Checkly to cancel (``--cancel-on-interrupt``, at most
   ``CANCEL_BUDGET`` seconds, a second signal ends it); combine, write every requested output,
   print the verdict (``finish.finish``).

All phases run under the command's ``scope.Scope`` (``context.Command``): the ``--timeout``
deadline and the stop event that SIGINT/SIGTERM set. The ``api.Client`` is bound to it, so no
network exchange outlives the deadline or a signal; a signal that arrives while outputs are
written is recorded and the outputs are completed first (``finish.deferred_signal``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Literal

from checkly_gate import contextual, deploy, failfast, history
from checkly_gate.api import CheckSessions, Client, OutOfTime, Stopped
from checkly_gate.ci import run_commits
from checkly_gate.config import Options
from checkly_gate.context import Command
from checkly_gate.explain import (
    error_messages,
    failed_group_ids,
    fetch_error_groups,
    fetch_evidence,
)
from checkly_gate.finish import configuration_problem, deferred_signal, finish, shadowed
from checkly_gate.follow import PollSettings, SessionSource, follow
from checkly_gate.history import Label
from checkly_gate.models import Observation, Session, Stop
from checkly_gate.progress import Progress
from checkly_gate.publish.publishers import announce
from checkly_gate.redact import Secrets
from checkly_gate.reports import GateRun
from checkly_gate.schedule import START_JITTER, slower_with
from checkly_gate.scope import Scope
from checkly_gate.text import link as text_link
from checkly_gate.verdict import (
    Policy,
    Run,
    SessionVerdict,
    Verdict,
    combine,
    is_settled,
    judge_session,
)

log = logging.getLogger("checkly_gate")

# How long past the deadline the main thread waits for followers to report before judging
# without them. Every exchange is bounded by the scope, so this only guards against a bug.
WATCHDOG_GRACE = 3.0
# After a signal, how long followers get to hand in what they saw (their exchanges end at once).
STOP_GRACE = 0.5
# The whole explain phase: the verdict is known, details must not hold the pipeline for long.
EXPLAIN_BUDGET = 15.0
# The cancel request after a signal, counted from the signal: short enough that the gate
# exits within 2 s of it.
CANCEL_BUDGET = 1.5
# --fail-fast: the widest gap between progress reads (seconds): 12 reads a minute a session,
# inside --max-request-rate (the request budget spaces them further when many sessions share it).
FAIL_FAST_POLL = 5.0
# --fail-fast --fail-on new: the most one failure's label lookup may hold up its follower (s);
# what it cannot read in time is unknown, which --fail-on new fails, so the wait ends there.
FAIL_FAST_LABEL_BUDGET = 10.0
# How often the main thread wakes while followers run, to print the heartbeat when it is due.
HEARTBEAT_TICK = 0.25


@dataclasses.dataclass(frozen=True)
class SessionRef:
    """A session to wait for: its id (a canonical UUID) and which endpoints serve it."""

    id: str
    kind: Literal["test", "check"] = "test"

    @property
    def noun(self) -> str:
        return f"{self.kind} session"


def test_sessions(ids: Sequence[str]) -> list[SessionRef]:
    return [SessionRef(sid, "test") for sid in ids]


def check_sessions(ids: Sequence[str]) -> list[SessionRef]:
    return [SessionRef(sid, "check") for sid in ids]


@dataclasses.dataclass(frozen=True)
class Followed:
    """Phase 1's result: an observation per session and the last raw body of each."""

    observations: list[Observation]
    bodies: dict[str, bytes]
    first_failure: tuple[str, str] | None = None  # --fail-fast: (session id, run name)


@dataclasses.dataclass(frozen=True)
class Judged:
    """Phase 2's result: observations (errors masked), bodies for the snapshot (secrets masked in
    their decoded strings) and a verdict per session, judged from the bodies as received."""

    observations: list[Observation]
    bodies: dict[str, bytes]
    verdicts: list[SessionVerdict]
    first_failure: tuple[str, str] | None = None  # --fail-fast: (session id, run name)


def wait(
    ctx: Command,
    refs: Sequence[SessionRef],
    settings: PollSettings | None = None,
    wall_clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    *,
    got: str = deploy.STARTED,
) -> GateRun:
    """Follow, judge, explain and finish ``refs`` (each id once, in order) under ``ctx``;
    returns the run whose ``verdict.exit_code`` to exit with. Outputs are written on every
    outcome. ``settings``: the follow loop's (default: from the options). ``got``: how the
    command got the sessions (``deploy.GIVEN``, ``BY_COMMIT``, ``STARTED``), which decides what
    the deploy check asks of them (issue 21 §1; ``deploy.narrowed``)."""
    refs = list(dict.fromkeys(refs))
    progress = Progress(
        ctx.out, ctx.scope.now, colour=ctx.colour, quiet=ctx.quiet, several=len(refs) > 1
    )
    followed = follow_phase(ctx, refs, progress, settings or poll_settings(ctx.options))
    judged = judge_phase(ctx, followed)
    explained = explain_phase(ctx, refs, judged)
    return finish_phase(ctx, refs, judged, explained, wall_clock, got=got)


def poll_settings(options: Options) -> PollSettings:
    """The follow loop's settings from the options; ``--fail-fast`` narrows the widest gap
    between progress reads to ``FAIL_FAST_POLL`` (a failure is seen within it, not within
    ``--poll-interval``'s 150 s; the long-poll answers only when the session ends)."""
    widest = options.poll_interval
    if options.fail_fast:
        widest = min(widest, FAIL_FAST_POLL)
    return PollSettings(
        poll_interval=widest,
        long_poll=options.long_poll,
        not_found_grace=options.not_found_grace,
        start_jitter=START_JITTER,
    )


class _Followers:
    """Phase 1's threads: one follower per session, what each last read and what each saw."""

    def __init__(
        self,
        ctx: Command,
        refs: list[SessionRef],
        progress: Progress,
        settings: PollSettings,
        following: Scope,
    ) -> None:
        self.ctx, self.refs, self.progress, self.settings = ctx, refs, progress, settings
        # The follow phase's own scope: ``--fail-fast`` stops it (not the command's scope: no
        # signal, the reports and the cancel still run under the command's).
        self.following = following
        self.first_failure: tuple[str, str] | None = None  # (session id, run name)
        # --fail-fast --fail-on new: the label of each definite failure looked up so far
        self.labels: dict[tuple[str, str], Label] = {}
        self.lock = threading.Lock()
        self.latest: dict[str, tuple[Session, bytes]] = {}
        self.done: dict[str, Observation] = {}
        self.all_done = threading.Event()
        self.announced = False  # the publishers were told following started (first body)
        self.threads = [
            threading.Thread(target=self.follow, args=(ref,), name=f"follow-{ref.id[:8]}")
            for ref in refs
        ]
        for thread in self.threads:
            thread.daemon = True

    def source(self, ref: SessionRef) -> SessionSource:
        client = self.ctx.client.under(self.following)
        return CheckSessions(client) if ref.kind == "check" else client

    def follow(self, ref: SessionRef) -> None:
        scope = self.following

        def on_update(session: Session, body: bytes) -> None:
            with self.lock:
                self.latest[ref.id] = (session, body)
                first, self.announced = not self.announced, True
            self.progress.update(session)
            if first and self.ctx.publishers:  # following starts: a pending status, once
                announce(self.ctx.publishers, scope, text_link(session.link) or None)
            if self.ctx.options.fail_fast:
                self.check_fail_fast(ref, session)

        try:
            obs = follow(
                self.source(ref), ref.id, scope, is_settled, self.settings, on_update=on_update
            )
        except Exception as exc:  # a bug must not turn into a hang or a green
            obs = self.internal_error(ref, exc)
        with self.lock:
            self.done[ref.id] = obs
            if len(self.done) == len(self.refs):
                self.all_done.set()

    def check_fail_fast(self, ref: SessionRef, session: Session) -> None:
        """``--fail-fast``: the first definite failure read (``failfast.definite_failures``: a
        FINAL failed or errored row; a flaky retry in progress is not one; a quarantined check's
        is not one either) ends the phase."""
        options = self.ctx.options
        today = datetime.now(timezone.utc).date()
        failed = failfast.definite_failures(session, options.quarantine, today)
        if options.fail_on == "new":
            failed = tuple(run for run in failed if not self.known(ref, session, run))
        if not failed:
            return
        with self.lock:
            if self.first_failure is not None:
                return
            self.first_failure = (ref.id, failed[0].name)
        log.warning(
            "--fail-fast: %s failed definitively; ending the wait", self.ctx.secrets(failed[0].name)
        )
        self.following.stop()

    def known(self, ref: SessionRef, session: Session, run: Run) -> bool:
        """``--fail-fast --fail-on new``: whether a definite failure is known (seen before or
        failing on main too: ``history``), so it fails nothing and is no reason to stop.
        Looked up once per run (its error groups and the default branch's list, under the
        follow phase's scope, at most ``FAIL_FAST_LABEL_BUDGET`` s); a check session's run or
        a label that cannot be read is not known (it would fail ``--fail-on new``, so the wait
        may end at it)."""
        key = (ref.id, run.latest.result_id or "")
        if key in self.labels:
            return self.labels[key].known
        label = Label(history.UNKNOWN, why="a check session has no error groups")
        if ref.kind == "test" and run.error_group_ids:
            started = session.started_at.timestamp() if session.started_at else None
            branch, _ = history.default_branch(self.ctx.env, self.ctx.options.default_branch or "")
            with self.following.child(FAIL_FAST_LABEL_BUDGET) as looking:
                found = history.fetch_history(
                    self.ctx.client.under(looking), run.error_group_ids, ref.id, started,
                    branch, looking.deadline, looking,
                )  # fmt: skip
            label = found.label_of(run.error_group_ids)
        self.labels[key] = label
        if label.known:
            log.info(
                "--fail-fast: %s is a known failure (%s)", self.ctx.secrets(run.name), label.text()
            )
        return label.known

    def internal_error(self, ref: SessionRef, exc: Exception) -> Observation:
        log.error("internal error following %s: %s", ref.id, self.ctx.secrets(repr(exc)))
        with self.lock:
            current = self.latest.get(ref.id)
        return Observation(
            ref.id,
            Stop.DEADLINE,
            session=current[0] if current else None,
            error=f"internal error: {type(exc).__name__}",
            error_is_current=True,
        )

    def run(self) -> None:
        """Start every follower; wake for the heartbeat until all report, the watchdog ends
        the wait, or a stop (then give followers ``STOP_GRACE`` to report)."""
        scope = self.ctx.scope
        for thread in self.threads:
            thread.start()
        end = scope.deadline + WATCHDOG_GRACE
        while not self.all_done.is_set() and scope.now() < end:
            scope.wait(self.all_done, min(end, scope.now() + HEARTBEAT_TICK))
            if not scope.stopped:
                self.progress.heartbeat(scope.deadline)
        if scope.stopped or self.following.stopped:  # followers end at once; let them report
            grace_end = scope.now() + STOP_GRACE
            for thread in self.threads:
                thread.join(max(0.0, grace_end - scope.now()))

    def followed(self) -> Followed:
        with self.lock:
            ids = [ref.id for ref in self.refs]
            observations = _final_observations(ids, self.done, self.latest, self.ctx.scope.signal)
            bodies = {sid: body for sid, (_, body) in self.latest.items()}
            first = self.first_failure
        if first is not None and self.ctx.scope.signal is None:
            observations = [_ended_fast(o, first) for o in observations]
        return Followed(observations, bodies, first)


def _ended_fast(obs: Observation, first: tuple[str, str]) -> Observation:
    """A session ``--fail-fast`` stopped following (its follower saw the phase's stop, not a
    signal): cut off before it ended, as at a deadline, saying why (``contextual`` turns the
    timed-out outcome this gives into a failure). Not ``error_is_current``: the API was not
    failing, and a session without a failure of its own (another of ``run --check-sessions``
    or of a commit) would be judged unavailable (API trouble) instead of timed out."""
    if obs.stop is not Stop.INTERRUPTED:
        return obs
    return dataclasses.replace(
        obs,
        stop=Stop.DEADLINE,
        signal=None,
        error=f"--fail-fast: the wait ended at the first definite failure ({first[1]})",
        error_is_current=False,
    )


def follow_phase(
    ctx: Command, refs: list[SessionRef], progress: Progress, settings: PollSettings
) -> Followed:
    """Phase 1: follow every session in its own thread until it ends, the deadline, a stop, or
    (``--fail-fast``) the first definite failure."""
    with ctx.scope.child() as following:
        return _follow_under(ctx, refs, progress, settings, following)


def _follow_under(
    ctx: Command,
    refs: list[SessionRef],
    progress: Progress,
    settings: PollSettings,
    following: Scope,
) -> Followed:
    followers = _Followers(ctx, refs, progress, settings, following)
    if ctx.integration is not None and not ctx.quiet:
        ctx.say(*ctx.integration.progress_start(_waiting_title(refs)))
    gap = slower_with(len(refs), ctx.options.max_request_rate)
    if gap is not None and not ctx.quiet:
        ctx.say(
            f"Following {len(refs)} sessions within --max-request-rate "
            f"{ctx.options.max_request_rate:g} a minute: each is read about every {gap:.0f}s, "
            "so progress and the verdict come later"
        )
    followers.run()
    if ctx.integration is not None:
        ctx.say(*ctx.integration.progress_end())
    return followers.followed()


def _waiting_title(refs: list[SessionRef]) -> str:
    """The CI group's title: "Waiting for 2 Checkly test sessions", "... check session ID"."""
    kinds = {ref.noun for ref in refs}
    noun = kinds.pop() if len(kinds) == 1 else "session"
    if len(refs) > 1:
        return f"Waiting for {len(refs)} Checkly {noun}s"
    return f"Waiting for Checkly {noun} {refs[0].id}"


def judge_phase(ctx: Command, followed: Followed) -> Judged:
    """Phase 2: judge each session from what was read, as received and as the endpoint it came
    from reads it (the follower parsed it), then mask secrets only in what will be written.

    Masking never changes a verdict: a value that also names a result type or a status (an
    ``--env`` value ``FINAL``) or a body that echoed the key is judged as the API sent it; the
    renderers' text is masked at every write point (``files``, ``streams``)."""
    policy = _policy(ctx.options)
    verdicts = [judge_session(o, policy) for o in followed.observations]
    bodies = _masked_bodies(followed.bodies, ctx.secrets)
    observations = [_masked_error(o, ctx.secrets) for o in followed.observations]
    return Judged(observations, bodies, verdicts, followed.first_failure)


@dataclasses.dataclass(frozen=True)
class Explained:
    """Phase 3's result: why failed checks failed and what evidence Checkly kept of it."""

    error_messages: dict[str, str] = dataclasses.field(default_factory=dict)
    evidence: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    missing: dict[str, str] = dataclasses.field(default_factory=dict)  # group id -> why no text
    # History labels (issue 21 §2) per (session id, Run.latest.result_id) of failing runs.
    labels: dict[tuple[str, str], Label] = dataclasses.field(default_factory=dict)
    history_requests: int = 0


def explain_phase(ctx: Command, refs: list[SessionRef], judged: Judged) -> Explained:
    """Phase 3: error messages per error group id, history labels and asset types per failed
    result, in one budget of ``EXPLAIN_BUDGET`` seconds (never after a signal; never changes
    the verdict by itself). In that order: the labels reuse the error group bodies and may
    decide ``--fail-on new``, so they come before the evidence, which only adds detail; every
    read shares ``--max-request-rate`` (a burst of 10, then one a second at the default), so
    with 20 failing checks the evidence is what runs out of time."""
    scope = ctx.scope
    verdict = combine(judged.verdicts)
    if not ctx.options.details or scope.done:
        why = "--no-details" if not ctx.options.details else "the gate was stopping"
        return Explained(missing=dict.fromkeys(failed_group_ids(verdict, limit=None), why))
    missing: dict[str, str] = {}
    checks = {ref.id for ref in refs if ref.kind == "check"}  # no assets endpoint for these
    with scope.child(EXPLAIN_BUDGET) as explaining:
        client = ctx.client.under(explaining)
        groups = fetch_error_groups(client, verdict, missing)
        labels, spent = history_labels(ctx, client, explaining, verdict, checks, groups)
        evidence = fetch_evidence(client, verdict, skip=checks)
    messages = {group: ctx.secrets(text) for group, text in error_messages(groups).items()}
    return Explained(messages, evidence, missing, labels, spent)


def history_labels(
    ctx: Command,
    client: Client,
    explaining: Scope,
    verdict: Verdict,
    checks: set[str],
    groups: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[tuple[str, str], Label], int]:
    """New or known (``history.fetch_history``) for each failing run of each test session,
    inside the explain phase's budget (never changes the verdict by itself): labels keyed by
    (session id, ``Run.latest.result_id``) and the requests spent. ``groups``: the error group
    bodies the phase already read (``explain.fetch_error_groups``), read again by nobody: with
    them the labels of 20 failing checks cost one request (the default branch's list).
    Trouble leaves "unknown"."""
    branch, _source = history.default_branch(ctx.env, ctx.options.default_branch or "")
    labels: dict[tuple[str, str], Label] = {}
    spent = 0
    for sv in verdict.sessions:
        if sv.session_id in checks or not sv.failing or sv.session is None or explaining.done:
            continue
        started = sv.session.started_at.timestamp() if sv.session.started_at else None
        wanted = [g for run in sv.failing for g in run.error_group_ids]
        found = history.fetch_history(
            client,
            wanted,
            sv.session_id,
            started,
            branch,
            explaining.deadline,
            explaining,
            groups=groups,
        )
        spent += found.requests
        for run in sv.failing:
            if run.latest.result_id:
                labels[(sv.session_id, run.latest.result_id)] = found.label_of(run.error_group_ids)
    return labels, spent


def finish_phase(
    ctx: Command,
    refs: list[SessionRef],
    judged: Judged,
    explained: Explained,
    wall_clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    *,
    got: str = deploy.STARTED,
) -> GateRun:
    """Phase 4: cancel on a signal if asked, combine, apply the context (``contextual.decide``:
    the deploy check as ``got`` asks), write every output, print the verdict; under
    ``--shadow`` exit 0 saying what the exit would have been (``finish.shadowed``).

    A signal that arrives from here on cannot change the reports: they are written in full,
    and the gate then exits 128 + that signal's number.
    """
    scope, options = ctx.scope, ctx.options
    received = scope.signal
    final = {o.session_id for o in judged.observations if o.stop is Stop.FINAL}
    interrupted = received is not None and options.cancel_on_interrupt
    failed_fast = received is None and judged.first_failure is not None
    if interrupted or (failed_fast and options.cancel_on_fail):
        cancel_sessions(ctx.client, [ref for ref in refs if ref.id not in final])

    checks = frozenset(ref.id for ref in refs if ref.kind == "check")
    context = judging_context(ctx, got, judged.first_failure)
    context.update(contextual.labels_context(explained.labels, options.fail_on))
    decision = contextual.in_context(
        combine(judged.verdicts, received), judged.observations, checks, context, received
    )
    verdict = configuration_problem(decision.verdict, ctx.client)
    if decision.notes:
        verdict = dataclasses.replace(verdict, warnings=(*verdict.warnings, *decision.notes))
    run = GateRun(
        verdict=verdict,
        observations=tuple(judged.observations),
        bodies=judged.bodies,
        policy=_policy(options),
        started_at=ctx.started,
        finished_at=wall_clock(),
        duration_seconds=scope.now() - scope.started,
        requests=ctx.client.requests,
        signal=received,
        error_messages=explained.error_messages,
        evidence=explained.evidence,
        missing_texts=explained.missing,
        check_session_ids=checks,
        context=context,
        labels=decision.labels,
    )
    run = shadowed(run, options.shadow)
    finish(
        run, options, ctx.out, ctx.integration, ctx.secrets, ctx.colour,
        publishers=ctx.publishers, scope=scope,
    )  # fmt: skip
    return deferred_signal(run, scope)


def expectation(ctx: Command) -> deploy.Expectation:
    """What the given sessions must have tested (``--expect-commit``, ``--expect-environment``;
    with ``auto`` the CI's commits of this run, ``ci.run_commits``: a pull request's head and
    merge commit). A CI commit that is not a SHA is not compared with."""
    options = ctx.options
    expect = deploy.parse_expect_commit(options.expect_commit)
    commits: tuple[str, ...] = ()
    if expect.mode == deploy.AUTO:
        found = (c.sha.strip().lower() for c in run_commits(ctx.env))
        commits = tuple(dict.fromkeys(c for c in found if deploy.is_sha(c)))
    return deploy.Expectation(expect, commits, options.expect_environment or "")


def judging_context(
    ctx: Command, got: str = deploy.STARTED, first_failure: tuple[str, str] | None = None
) -> dict[str, Any]:
    """What the verdict is judged against beyond the bodies (``contextual.in_context``'s
    mapping, stored in the snapshot): the deploy expectation (``deploy.narrowed`` for how the
    command ``got`` the sessions), the config file's quarantine entries as of today's UTC date, the
    ``--fail-fast`` stop; ``--shadow`` is recorded by ``finish.shadowed``, on every path."""
    options = ctx.options
    context: dict[str, Any] = {}
    expect = deploy.narrowed(expectation(ctx), got)
    if expect is not None:
        context["deploy"] = expect.as_dict()
    if options.quarantine:
        context["quarantine"] = [entry.as_dict() for entry in options.quarantine]
        context["today"] = datetime.now(timezone.utc).date().isoformat()
    if first_failure is not None:
        context["failFast"] = {"sessionId": first_failure[0], "check": first_failure[1]}
    return context


def _policy(options: Options) -> Policy:
    return Policy(fail_on_degraded=options.fail_on_degraded, fail_on_flaky=options.fail_on_flaky)


def _final_observations(
    session_ids: list[str],
    done: dict[str, Observation],
    latest: dict[str, tuple[Session, bytes]],
    received: int | None,
) -> list[Observation]:
    """What each follower reported, completed for those that could not report: interrupted
    (a signal came first) or cut off by the watchdog at the deadline."""
    observations = []
    for sid in session_ids:
        obs = done.get(sid)
        current = latest.get(sid)
        last = current[0] if current else None
        if received is not None and (obs is None or obs.stop is not Stop.FINAL):
            obs = Observation(sid, Stop.INTERRUPTED, session=last, signal=received)
        elif obs is None:
            obs = Observation(
                sid,
                Stop.DEADLINE,
                session=last,
                error="no answer before the deadline",
                error_is_current=True,
            )
        observations.append(obs)
    return observations


def cancel_sessions(client: Client, refs: Sequence[SessionRef]) -> None:
    """Ask the API once to cancel what is still running (``--cancel-on-interrupt``), each
    session through its kind's endpoint.

    Runs in a shielded child scope opened after the signal: it ends ``CANCEL_BUDGET`` seconds
    after the signal, and a further signal ends it at once. Best effort: the exit code is decided.
    """
    scope = client.scope
    since = scope.now() - (scope.stopped_at if scope.stopped_at is not None else scope.now())
    with scope.child(max(0.1, CANCEL_BUDGET - since), shield=True) as cancelling:
        bound = client.under(cancelling)
        for ref in refs:
            cancel = bound.cancel_check_session if ref.kind == "check" else bound.cancel
            try:
                cancel(ref.id, timeout=cancelling.remaining())
                log.warning("cancelled %s %s", ref.noun, ref.id)
            except Stopped:
                log.warning("gave up cancelling %s: another signal arrived", ref.id)
                break
            except OutOfTime:
                log.warning("no time left to cancel %s", ref.id)
                break
            except Exception as exc:  # best effort: the exit code is already decided
                log.warning("could not cancel %s %s: %s", ref.noun, ref.id, exc)


def _masked_bodies(raw: dict[str, bytes], secrets: Secrets) -> dict[str, bytes]:
    """The last raw body of each session with secrets masked in its DECODED strings (the raw
    text may hold the key JSON-escaped, and masking raw JSON text could break it), for the
    snapshot only: never parsed again, never judged."""
    return {sid: secrets.scrub_json(content)[0] for sid, content in raw.items()}


def _masked_error(obs: Observation, secrets: Secrets) -> Observation:
    """``obs`` with its error text masked; its session stays as received (it was judged)."""
    return dataclasses.replace(obs, error=secrets(obs.error)) if obs.error else obs

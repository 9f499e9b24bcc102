"""The ``wait`` job as four phases under one scope: follow -> judge -> explain -> finish.

1. **follow**: one follower thread per session (a long-poll on one never delays another) until
   every session is final, the deadline passes, or a signal stops the scope.
2. **judge**: decide each session from the bodies as received (pure: ``verdict.judge_session``),
   then mask secrets in what will be written (never in what is judged).
3. **explain**: fetch the error messages and evidence of failed checks (best effort, at most
   ``EXPLAIN_BUDGET`` seconds, never after a signal).
4. **finish**: on a signal, ask Checkly to cancel (``--cancel-on-interrupt``, at most
   ``CANCEL_BUDGET`` seconds, a second signal ends it); combine, write every requested output,
   print the verdict.

All phases run under one ``scope.Scope``: the ``--timeout`` deadline and the stop event that
SIGINT/SIGTERM set. The ``api.Client`` is bound to it, so no network exchange outlives the
deadline or a signal; a signal that arrives while outputs are written is recorded and the
outputs are completed first (see ``finish_phase``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

import httpx

from checkly_gate.api import Client, OutOfTime, Stopped
from checkly_gate.ci import detect
from checkly_gate.ci.base import Integration
from checkly_gate.config import Options
from checkly_gate.explain import failed_group_ids, fetch_error_messages, fetch_evidence
from checkly_gate.follow import Observation, PollSettings, SessionSource, Stop, follow
from checkly_gate.models import Session
from checkly_gate.outputs import render_safely, write_outputs
from checkly_gate.progress import Progress, render_explanations, render_verdict
from checkly_gate.redact import Redactor
from checkly_gate.reports import GateRun, markdown
from checkly_gate.schedule import START_JITTER, RequestBudget, slower_with
from checkly_gate.scope import Scope, signals_stop
from checkly_gate.verdict import (
    Outcome,
    Policy,
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
# How often the main thread wakes while followers run, to print the heartbeat when it is due.
HEARTBEAT_TICK = 0.25


@dataclasses.dataclass
class Waiting:
    """What every phase of one ``wait`` shares: options, the scope, the client and the outputs."""

    options: Options
    scope: Scope
    client: Client
    redactor: Redactor
    out: TextIO
    integration: Integration | None
    progress: Progress
    colour: bool = False
    started_wall: datetime = dataclasses.field(default_factory=lambda: datetime.now(timezone.utc))

    def emit(self, lines: list[str]) -> None:
        for line in lines:
            self.out.write(line + "\n")
        self.out.flush()


@dataclasses.dataclass(frozen=True)
class Followed:
    """Phase 1's result: an observation per session and the last raw body of each."""

    observations: list[Observation]
    bodies: dict[str, bytes]


@dataclasses.dataclass(frozen=True)
class Judged:
    """Phase 2's result: observations (errors masked), bodies for the snapshot (secrets masked in
    their decoded strings) and a verdict per session, judged from the bodies as received."""

    observations: list[Observation]
    bodies: dict[str, bytes]
    verdicts: list[SessionVerdict]


def run_gate(
    options: Options,
    out: TextIO,
    env: Mapping[str, str] | None = None,
    colour: bool = False,
    transport: httpx.BaseTransport | None = None,
    handle_signals: bool = True,
    settings: PollSettings | None = None,
    wall_clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    client: Client | None = None,
    redactor: Redactor | None = None,
    scope: Scope | None = None,
) -> GateRun:
    """Follow, judge, explain and finish; returns the run whose ``verdict.exit_code`` to exit
    with. Outputs are written on every outcome.

    ``scope`` is the caller's when the wait is one part of a command (``run``: trigger, then
    wait); otherwise the gate makes one from ``options.timeout`` and, with ``handle_signals``,
    routes SIGINT/SIGTERM to it. ``client`` must be bound to that scope.
    """
    started_wall = wall_clock()
    with contextlib.ExitStack() as stack:
        if scope is None:
            scope = Scope(options.timeout)
            if handle_signals:
                stack.enter_context(signals_stop(scope))
        if client is None:
            client = Client(
                api_key=options.api_key,
                api_url=options.api_url,
                account_id=options.account_id,
                transport=transport,
                scope=scope,
                env=env,
                budget=RequestBudget(options.max_request_rate),
            )
            stack.callback(client.close)
        elif client.scope is not scope:
            client = client.under(scope)  # no request of this wait outside its scope
        waiting = Waiting(
            options=options,
            scope=scope,
            client=client,
            redactor=redactor or Redactor([options.api_key]),
            out=out,
            integration=detect(env or {}),
            progress=Progress(
                out,
                scope.now,
                colour=colour,
                quiet=options.verbosity < 0,
                several=len(options.session_ids) > 1,
            ),
            colour=colour,
            started_wall=started_wall,
        )
        followed = follow_phase(waiting, settings)
        judged = judge_phase(waiting, followed)
        explained = explain_phase(waiting, judged)
        return finish_phase(waiting, judged, explained, wall_clock)
    raise AssertionError("unreachable")  # pragma: no cover (for type checkers)


@contextlib.contextmanager
def command_scope(
    options: Options,
    env: Mapping[str, str],
    transport: httpx.BaseTransport | None = None,
    handle_signals: bool = True,
) -> Iterator[tuple[Scope, Client]]:
    """The one ``Scope`` of a command that does more than wait (``run``: trigger then wait;
    ``wait --commit``: discover then wait) and a ``Client`` bound to it, closed at the end.

    The scope holds ``options.timeout`` as the deadline of the whole command; with
    ``handle_signals`` SIGINT/SIGTERM stop it, whichever phase is running.
    """
    scope = Scope(options.timeout)
    with contextlib.ExitStack() as stack:
        if handle_signals:
            stack.enter_context(signals_stop(scope))
        client = Client(
            options.api_key,
            options.api_url,
            options.account_id,
            transport=transport,
            scope=scope,
            env=env,
            budget=RequestBudget(options.max_request_rate),
        )
        stack.callback(client.close)
        yield scope, client


def finish_without_waiting(
    verdict: Verdict,
    scope: Scope,
    client: Client,
    options: Options,
    out: TextIO,
    env: Mapping[str, str],
    redactor: Redactor,
    started_wall: datetime,
    colour: bool = False,
) -> int:
    """Write every output for a command that ended before any wait (no match, a failed trigger,
    no session found, a signal) and return the exit code (``128 + signal`` for one that arrived
    while the outputs were written)."""
    signum = scope.signal if verdict.outcome is Outcome.INTERRUPTED else None
    # The same configuration problem (TLS, proxy) is the same outcome whichever phase met it.
    verdict = _configuration_problem(verdict, client)
    run = GateRun(
        verdict=verdict,
        started_at=started_wall,
        finished_at=datetime.now(timezone.utc),
        duration_seconds=scope.now() - scope.started,
        requests=client.requests,
        signal=signum,
    )
    finish(run, options, out, detect(env), redactor, colour)
    return deferred_signal(run, scope).verdict.exit_code


def follow_phase(waiting: Waiting, settings: PollSettings | None = None) -> Followed:
    """Phase 1: follow every session in its own thread until it ends, the deadline, or a stop."""
    options, scope = waiting.options, waiting.scope
    settings = settings or PollSettings(
        poll_interval=options.poll_interval,
        long_poll=options.long_poll,
        not_found_grace=options.not_found_grace,
        start_jitter=START_JITTER,
    )
    lock = threading.Lock()
    latest: dict[str, tuple[Session, bytes]] = {}
    done: dict[str, Observation] = {}
    all_done = threading.Event()

    def follower(session_id: str) -> None:
        def on_update(session: Session, body: bytes) -> None:
            with lock:
                latest[session_id] = (session, body)
            waiting.progress.update(session)

        source: SessionSource = waiting.client
        if session_id in options.check_session_ids:
            from checkly_gate.check_session_flow import CheckSessionSource

            source = CheckSessionSource(waiting.client)
        try:
            obs = follow(source, session_id, scope, is_settled, settings, on_update=on_update)
        except Exception as exc:  # a bug must not turn into a hang or a green
            log.error("internal error following %s: %s", session_id, waiting.redactor(repr(exc)))
            with lock:
                current = latest.get(session_id)
            obs = Observation(
                session_id,
                Stop.DEADLINE,
                session=current[0] if current else None,
                error=f"internal error: {type(exc).__name__}",
                error_is_current=True,
            )
        with lock:
            done[session_id] = obs
            if len(done) == len(set(options.session_ids)):  # each id is followed once
                all_done.set()

    if waiting.integration is not None and options.verbosity >= 0:
        count = len(options.session_ids)
        kinds = {
            "check session" if sid in options.check_session_ids else "test session"
            for sid in options.session_ids
        }
        kind = kinds.pop() if len(kinds) == 1 else "session"
        waiting.emit(
            waiting.integration.progress_start(
                f"Waiting for {count} Checkly {kind}s"
                if count > 1
                else f"Waiting for Checkly {kind} {options.session_ids[0]}"
            )
        )
    gap = slower_with(len(options.session_ids), options.max_request_rate)
    if gap is not None and options.verbosity >= 0:
        waiting.emit(
            [
                f"Following {len(options.session_ids)} sessions within --max-request-rate "
                f"{options.max_request_rate:g} a minute: each is read about every {gap:.0f}s, "
                "so progress and the verdict come later"
            ]
        )
    threads = [
        threading.Thread(target=follower, args=(sid,), name=f"follow-{sid[:8]}", daemon=True)
        for sid in options.session_ids
    ]
    for thread in threads:
        thread.start()
    end = scope.deadline + WATCHDOG_GRACE
    while not all_done.is_set() and scope.now() < end:
        scope.wait(all_done, min(end, scope.now() + HEARTBEAT_TICK))
        if not scope.stopped:
            waiting.progress.heartbeat(scope.deadline)
    if scope.stopped:  # followers end at once on a stop; give them a moment to report
        grace_end = scope.now() + STOP_GRACE
        for thread in threads:
            thread.join(max(0.0, grace_end - scope.now()))
    if waiting.integration is not None:
        waiting.emit(waiting.integration.progress_end())
    with lock:
        observations = _final_observations(options.session_ids, done, latest, scope.signal)
        bodies = {sid: body for sid, (_, body) in latest.items()}
    return Followed(observations, bodies)


def judge_phase(waiting: Waiting, followed: Followed) -> Judged:
    """Phase 2: judge each session from what was read, as received and as the endpoint it came
    from reads it (the follower parsed it), then mask secrets only in what will be written.

    Masking never changes a verdict: a value that also names a result type or a status (an
    ``--env`` value ``FINAL``) or a body that echoed the key is judged as the API sent it; the
    renderers' text is masked at every write point (``files``, ``streams``)."""
    policy = _policy(waiting.options)
    verdicts = [judge_session(o, policy) for o in followed.observations]
    bodies = _masked_bodies(followed.bodies, waiting.redactor)
    observations = [_masked_error(o, waiting.redactor) for o in followed.observations]
    return Judged(observations, bodies, verdicts)


@dataclasses.dataclass(frozen=True)
class Explained:
    """Phase 3's result: why failed checks failed and what evidence Checkly kept of it."""

    error_messages: dict[str, str] = dataclasses.field(default_factory=dict)
    evidence: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    missing: dict[str, str] = dataclasses.field(default_factory=dict)  # group id -> why no text


def explain_phase(waiting: Waiting, judged: Judged) -> Explained:
    """Phase 3: error messages per error group id and asset types per failed result, in one
    budget of ``EXPLAIN_BUDGET`` seconds (never after a signal; never changes the verdict)."""
    scope = waiting.scope
    verdict = combine(judged.verdicts)
    if not waiting.options.details or scope.done:
        why = "--no-details" if not waiting.options.details else "the gate was stopping"
        return Explained(missing=dict.fromkeys(failed_group_ids(verdict, limit=None), why))
    missing: dict[str, str] = {}
    with scope.child(EXPLAIN_BUDGET) as explaining:
        client = waiting.client.under(explaining)
        found = fetch_error_messages(client, verdict, missing)
        evidence = fetch_evidence(client, verdict, skip=waiting.options.check_session_ids)
    messages = {group: waiting.redactor(text) for group, text in found.items()}
    return Explained(messages, evidence, missing)


def finish_phase(
    waiting: Waiting,
    judged: Judged,
    explained: Explained,
    wall_clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> GateRun:
    """Phase 4: cancel on a signal if asked, combine, write every output, print the verdict.

    A signal that arrives from here on cannot change the reports: they are written in full,
    and the gate then exits 128 + that signal's number.
    """
    scope, options = waiting.scope, waiting.options
    received = scope.signal
    if received is not None and options.cancel_on_interrupt:
        running = [o.session_id for o in judged.observations if o.stop is not Stop.FINAL]
        cancel_sessions(waiting.client, running, options.check_session_ids)
    verdict = _configuration_problem(combine(judged.verdicts, received), waiting.client)
    run = GateRun(
        verdict=verdict,
        observations=tuple(judged.observations),
        bodies=judged.bodies,
        policy=_policy(options),
        started_at=waiting.started_wall,
        finished_at=wall_clock(),
        duration_seconds=scope.now() - scope.started,
        requests=waiting.client.requests,
        signal=received,
        error_messages=explained.error_messages,
        evidence=explained.evidence,
        missing_texts=explained.missing,
        check_session_ids=frozenset(options.check_session_ids),
    )
    finish(run, options, waiting.out, waiting.integration, waiting.redactor, waiting.colour)
    return deferred_signal(run, scope)


def deferred_signal(run: GateRun, scope: Scope) -> GateRun:
    """``run`` with the exit code of a signal that arrived while its outputs were written."""
    if scope.signal is None or run.signal is not None:
        return run
    log.warning(
        "signal %d arrived while the outputs were written: they hold the verdict reached "
        "before it (%s); exiting %d",
        scope.signal,
        run.verdict.outcome.label,
        128 + scope.signal,
    )
    verdict = dataclasses.replace(run.verdict, exit_code=128 + scope.signal)
    return dataclasses.replace(run, verdict=verdict)


def _policy(options: Options) -> Policy:
    return Policy(fail_on_degraded=options.fail_on_degraded, fail_on_flaky=options.fail_on_flaky)


def _configuration_problem(verdict: Verdict, client: Client) -> Verdict:
    """A configuration problem (``api.Misconfigured``: a TLS certificate that cannot be
    verified, a proxy that refuses, a base URL that is not the Checkly API) met before the API
    answered anything is a configuration error (exit 2), not a refusal: nothing was ever read.
    Applied to every command's verdict, so the same problem is the same code everywhere."""
    problem = client.misconfigured
    if problem is None or client.answers or verdict.outcome is Outcome.INTERRUPTED:
        return verdict
    return dataclasses.replace(
        verdict,
        outcome=Outcome.USAGE,
        exit_code=Outcome.USAGE.value,
        reason=f"configuration problem: {problem}",
    )


def _final_observations(
    session_ids: tuple[str, ...],
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


def cancel_sessions(
    client: Client, session_ids: list[str], check_session_ids: Collection[str] = ()
) -> None:
    """Ask the API once to cancel what is still running (``--cancel-on-interrupt``); check
    sessions (``check_session_ids``) through their own endpoint.

    Runs in a shielded child scope opened after the signal: it ends ``CANCEL_BUDGET`` seconds
    after the signal, and a further signal ends it at once. Best effort: the exit code is decided.
    """
    scope = client.scope
    since = scope.now() - (scope.stopped_at if scope.stopped_at is not None else scope.now())
    with scope.child(max(0.1, CANCEL_BUDGET - since), shield=True) as cancelling:
        bound = client.under(cancelling)
        for sid in session_ids:
            kind = "check" if sid in check_session_ids else "test"
            cancel = bound.cancel_check_session if kind == "check" else bound.cancel
            try:
                cancel(sid, timeout=cancelling.remaining())
                log.warning("cancelled %s session %s", kind, sid)
            except Stopped:
                log.warning("gave up cancelling %s: another signal arrived", sid)
                break
            except OutOfTime:
                log.warning("no time left to cancel %s", sid)
                break
            except Exception as exc:  # best effort: the exit code is already decided
                log.warning("could not cancel %s session %s: %s", kind, sid, exc)


def _masked_bodies(raw: dict[str, bytes], redactor: Redactor) -> dict[str, bytes]:
    """The last raw body of each session with secrets masked in its DECODED strings (the raw
    text may hold the key JSON-escaped, and masking raw JSON text could break it), for the
    snapshot only: never parsed again, never judged."""
    return {sid: redactor.scrub_json(content)[0] for sid, content in raw.items()}


def _masked_error(obs: Observation, redactor: Redactor) -> Observation:
    """``obs`` with its error text masked; its session stays as received (it was judged)."""
    return dataclasses.replace(obs, error=redactor(obs.error)) if obs.error else obs


def output_targets(options: Options) -> dict[str, Path | None]:
    """Where each format of ``reports.formats.FORMATS`` goes (``None``: not asked for)."""
    from checkly_gate.reports.formats import FORMATS

    return {fmt.key: getattr(options, fmt.key) for fmt in FORMATS}


def finish(
    run: GateRun,
    options: Options,
    out: TextIO,
    integration: Integration | None,
    redactor: Redactor,
    colour: bool = False,
    said: bool = False,
) -> None:
    """Write files, print the verdict and publish to the CI; shared by ``wait`` and ``report``.
    ``said``: the verdict is already on stderr (a usage error's one line): not printed again."""
    problems: list[str] = []
    written = write_outputs(run, output_targets(options), redactor, problems)
    lines = [] if said else render_verdict(run.verdict, colour) + render_explanations(run)
    if integration is not None:
        lines = integration.protect(lines)
        summary_text = redactor(render_safely(markdown.render, run))
        lines += integration.publish(
            run, summary_text, written.get("junit"), written.get("summary")
        )
        lines += [line for problem in problems for line in integration.report_problem(problem)]
    for line in lines:
        out.write(redactor(line) + "\n")
    out.flush()

"""The ``wait`` job: follow every session under one deadline, judge, write outputs.

This is the shell around the pure core. One follower thread per session (so a long-poll on one
never delays another); the main thread keeps the hard deadline, turns SIGINT/SIGTERM into an
orderly stop, and always writes the requested outputs before returning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import httpx

from checkly_gate.api import Client
from checkly_gate.ci import Integration, detect
from checkly_gate.config import Options
from checkly_gate.details import fetch_error_messages
from checkly_gate.models import Session, parse_session
from checkly_gate.outputs import write_outputs
from checkly_gate.poller import PollSettings, RealClock, follow
from checkly_gate.progress import Progress, render_explanations, render_verdict
from checkly_gate.redact import Redactor
from checkly_gate.reports import GateRun, markdown
from checkly_gate.schedule import START_JITTER
from checkly_gate.verdict import Observation, Policy, Stop, combine, judge_session

log = logging.getLogger("checkly_gate")

# How long past the deadline the main thread waits for followers to report before judging
# without them. Followers clamp every request to the deadline, so this is only a safety net.
WATCHDOG_GRACE = 3.0


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum: int, _frame: Any) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """While inside, SIGINT/SIGTERM raise ``Interrupted`` in the main thread (no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
) -> GateRun:
    """Run the whole wait and write the requested outputs; returns what was decided."""
    started_wall = wall_clock()
    stop = threading.Event()
    clock = RealClock(stop)
    started = clock.now()
    deadline = started + options.timeout
    settings = settings or PollSettings(
        poll_interval=options.poll_interval,
        long_poll=options.long_poll,
        not_found_grace=options.not_found_grace,
        start_jitter=START_JITTER,
    )
    policy = Policy(fail_on_degraded=options.fail_on_degraded, fail_on_flaky=options.fail_on_flaky)
    redactor = redactor or Redactor([options.api_key])
    owns_client = client is None
    client = client or Client(
        api_key=options.api_key,
        api_url=options.api_url,
        account_id=options.account_id,
        transport=transport,
    )
    progress = Progress(
        out,
        clock.now,
        colour=colour,
        quiet=options.verbosity < 0,
        several=len(options.session_ids) > 1,
    )
    integration = detect(env or {})

    def emit(lines: list[str]) -> None:
        for line in lines:
            out.write(line + "\n")
        out.flush()

    lock = threading.Lock()
    latest: dict[str, tuple[Session, bytes]] = {}
    done: dict[str, Observation] = {}

    def follower(session_id: str) -> None:
        def on_update(session: Session, body: bytes) -> None:
            with lock:
                latest[session_id] = (session, body)
            progress.update(session)

        try:
            obs = follow(
                client,
                session_id,
                deadline,
                clock,
                settings,
                on_update=on_update,
                should_stop=stop.is_set,
            )
        except Exception as exc:  # a bug must not turn into a hang or a green
            log.error("internal error following %s: %s", session_id, redactor(repr(exc)))
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

    threads = [
        threading.Thread(target=follower, args=(sid,), name=f"follow-{sid[:8]}", daemon=True)
        for sid in options.session_ids
    ]
    received: int | None = None
    previous_handlers: dict[int, Any] = {}
    if handle_signals and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous_handlers[sig] = signal.signal(sig, _raise_interrupted)
    try:
        if integration is not None and options.verbosity >= 0:
            several = len(options.session_ids) > 1
            emit(
                integration.progress_start(
                    f"Waiting for {len(options.session_ids)} Checkly test sessions"
                    if several
                    else f"Waiting for Checkly test session {options.session_ids[0]}"
                )
            )
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive() and clock.now() < deadline + WATCHDOG_GRACE:
                    thread.join(timeout=0.1)
                    progress.heartbeat(deadline)
        except Interrupted as exc:
            received = exc.signum
            stop.set()
            log.warning("received signal %d: stopping and writing what is known", received)
        finally:
            # A second signal while outputs are written must not cut them short.
            for handled in previous_handlers:
                signal.signal(handled, signal.SIG_IGN)
        stop.set()
        if received is not None and options.cancel_on_interrupt:
            with lock:
                final = {sid for sid, obs in done.items() if obs.stop is Stop.FINAL}
            _cancel_sessions(client, [s for s in options.session_ids if s not in final])
        if integration is not None:
            emit(integration.progress_end())

        with lock:
            observations = _final_observations(options.session_ids, done, latest, received)
            raw = {sid: body for sid, (_, body) in latest.items()}
        bodies, masked = _decode_bodies(raw, redactor)
        # Judge and render only from redacted data, so no report can carry the key even when
        # a server echoed it back (reports escape text, which would hide it from a final pass).
        observations = [_redacted(o, masked, redactor) for o in observations]

        verdict = combine([judge_session(o, policy) for o in observations], received)
        error_messages: dict[str, str] = {}
        if options.details and received is None:
            error_messages = {
                group: redactor(text)
                for group, text in fetch_error_messages(client, verdict, deadline, clock).items()
            }
        run = GateRun(
            verdict=verdict,
            observations=tuple(observations),
            bodies=bodies,
            policy=policy,
            started_at=started_wall,
            finished_at=wall_clock(),
            duration_seconds=time.monotonic() - started,
            requests=client.requests,
            signal=received,
            error_messages=error_messages,
        )
        finish(run, options, out, integration, redactor, colour)
        return run
    finally:
        for handled, handler in previous_handlers.items():
            signal.signal(handled, handler)
        if owns_client:
            client.close()


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


CANCEL_BUDGET = 5.0


def _cancel_sessions(client: Client, session_ids: list[str]) -> None:
    """Ask the API once to cancel what is still running; at most ``CANCEL_BUDGET`` seconds."""
    end = time.monotonic() + CANCEL_BUDGET
    for sid in session_ids:
        left = end - time.monotonic()
        if left <= 0:
            log.warning("no time left to cancel %s", sid)
            break
        try:
            client.cancel(sid, timeout=left)
            log.warning("cancelled test session %s", sid)
        except Exception as exc:  # best effort: the exit code is already decided
            log.warning("could not cancel test session %s: %s", sid, exc)


def _decode_bodies(
    raw: dict[str, bytes], redactor: Redactor
) -> tuple[dict[str, bytes], dict[str, Session]]:
    """The last raw body of each session with secrets masked, for the snapshot.

    Also returns the sessions whose body held a secret, parsed again from the masked text.
    """
    bodies: dict[str, bytes] = {}
    masked: dict[str, Session] = {}
    for sid, content in raw.items():
        text = content.decode("utf-8", "replace")
        clean = redactor(text)
        if clean is text:
            bodies[sid] = content
        else:
            bodies[sid] = clean.encode("utf-8")
            masked[sid] = parse_session(json.loads(clean))
    return bodies, masked


def _redacted(obs: Observation, masked: dict[str, Session], redactor: Redactor) -> Observation:
    session = obs.session
    if session is not None and obs.session_id in masked:
        session = masked[obs.session_id]  # the key was in the body: judge the masked copy
    error = redactor(obs.error) if obs.error else obs.error
    return dataclasses.replace(obs, session=session, error=error)


def output_targets(options: Options) -> dict[str, Path | None]:
    return {
        "json": options.json,
        "junit": options.junit,
        "summary": options.summary,
        "dotenv": options.dotenv,
    }


def finish(
    run: GateRun,
    options: Options,
    out: TextIO,
    integration: Integration | None,
    redactor: Redactor,
    colour: bool = False,
) -> None:
    """Write files, print the verdict and publish to the CI; shared by ``wait`` and ``report``."""
    written = write_outputs(run, output_targets(options), redactor)
    lines = render_verdict(run.verdict, colour) + render_explanations(run)
    if integration is not None:
        lines = integration.protect(lines)
        summary_text = redactor(markdown.render(run))
        lines += integration.publish(
            run, summary_text, written.get("junit"), written.get("summary")
        )
    for line in lines:
        out.write(redactor(line) + "\n")
    out.flush()

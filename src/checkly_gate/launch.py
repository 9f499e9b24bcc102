"""The ``run`` job: trigger a test session, then wait for it (or hand it over with --detach).

Both steps run under ONE ``scope.Scope``: the ``--timeout`` deadline covers the trigger and the
wait together, and SIGINT/SIGTERM stop whichever is running. A trigger is not idempotent, so
it is retried only when the request surely created nothing (connection refused, 429); after an
ambiguous failure the gate says so and exits 6 rather than risk starting a duplicate session.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, TextIO

import httpx

from checkly_gate.api import (
    Ambiguous,
    Client,
    NoMatch,
    OutOfTime,
    Refused,
    Stopped,
    Transient,
)
from checkly_gate.ci import detect
from checkly_gate.config import Options
from checkly_gate.files import write_atomic
from checkly_gate.gate import command_scope, finish_without_waiting, run_gate
from checkly_gate.models import Session
from checkly_gate.redact import Redactor
from checkly_gate.reports import dotenv
from checkly_gate.schedule import Backoff, RetryBeyondDeadline
from checkly_gate.text import is_safe_id, link, one_line, signal_name
from checkly_gate.trigger import TriggerOptions, request_body
from checkly_gate.verdict import Outcome, Verdict

log = logging.getLogger("checkly_gate")

TRIGGER_TIMEOUT = 30.0  # per-request cap of the trigger POST


class TriggerFailed(Exception):
    """The trigger did not start a session; ``verdict`` says how the gate ends."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


def _unavailable(reason: str) -> TriggerFailed:
    return TriggerFailed(Verdict(Outcome.UNAVAILABLE, Outcome.UNAVAILABLE.value, reason))


def _maybe_started(sent: bool) -> str:
    return " (the request was sent: a session may have started)" if sent else ""


def trigger(
    client: Client, body: dict[str, Any], fail_on_no_matching: bool = True
) -> tuple[Session, Any]:
    """POST the trigger under the client's scope, retrying only failures that surely created
    no session. Raises ``TriggerFailed`` with the verdict to end with otherwise."""
    scope = client.scope
    # Every retry here is a 429 or a refused connection. No spread after a Retry-After: the
    # trigger gives up when its pause reaches the deadline, so a spread there would turn a
    # retry that fits into "no time left".
    retry = Backoff(spread=False)
    while True:
        try:
            return client.trigger(body, timeout=TRIGGER_TIMEOUT)
        except Stopped as exc:
            signum = scope.signal or 0
            reason = f"interrupted by {signal_name(signum)} while starting the test session"
            raise TriggerFailed(
                Verdict(Outcome.INTERRUPTED, 128 + signum, reason + _maybe_started(exc.sent))
            ) from None
        except OutOfTime as exc:
            maybe = _maybe_started(exc.sent)
            raise _unavailable(
                f"could not start a test session before the deadline: {exc.message}{maybe}"
            ) from None
        except NoMatch as exc:
            code = Outcome.NO_MATCH.value if fail_on_no_matching else 0
            reason = f"no checks matched the trigger ({exc.message})"
            raise TriggerFailed(Verdict(Outcome.NO_MATCH, code, reason)) from None
        except Ambiguous as exc:
            raise _unavailable(
                f"{exc.message}; the session may or may not have started, so the trigger is "
                "not retried (a retry could start a duplicate session)"
            ) from None
        except Refused as exc:  # Misconfigured too: finish_without_waiting says exit 2 or 5
            raise TriggerFailed(Verdict(Outcome.REFUSED, 5, exc.message)) from None
        except Transient as exc:
            try:
                pause = retry.pause(exc, scope.remaining())
            except RetryBeyondDeadline as beyond:
                raise _unavailable(str(beyond)) from None
            if pause >= scope.remaining():
                raise _unavailable(f"{exc.message}; no time left to retry") from None
            log.info(
                "%s; retrying the trigger in %.1fs (no session was created)", exc.message, pause
            )
            scope.sleep(pause)


def run_launch(
    options: Options,
    trigger_options: TriggerOptions,
    out: TextIO,
    env: Mapping[str, str],
    colour: bool = False,
    transport: httpx.BaseTransport | None = None,
    handle_signals: bool = True,
) -> int:
    """Trigger, then wait (or detach) under one scope; returns the exit code. Reports are
    written on every outcome, a signal included."""
    started_wall = datetime.now(timezone.utc)
    values = [value for _, value in trigger_options.env_vars]
    redactor = Redactor([options.api_key], values)
    body = request_body(trigger_options, env)
    with command_scope(options, env, transport, handle_signals) as (scope, client):
        try:
            session, _ = trigger(client, body, trigger_options.fail_on_no_matching)
        except TriggerFailed as failed:
            return finish_without_waiting(
                failed.verdict, scope, client, options, out, env, redactor, started_wall, colour
            )
        name = one_line(session.display_name)
        shown_id = one_line(session.session_id, 100)
        if options.verbosity >= 0 or trigger_options.detach:  # -q: the id only when handed over
            out.write(redactor(f"Started test session '{name}': {shown_id}") + "\n")
        if trigger_options.detach and link(session.link):
            out.write(f"{link(session.link)}\n")
        out.flush()
        if trigger_options.detach:
            _hand_over(session, options, env, redactor)
            return 0
        waiting = dataclasses.replace(options, session_ids=(session.session_id,))
        run = run_gate(
            waiting, out, env=env, colour=colour, client=client, redactor=redactor, scope=scope
        )
        return run.verdict.exit_code
    raise AssertionError("unreachable")  # pragma: no cover (for type checkers)


def _hand_over(
    session: Session, options: Options, env: Mapping[str, str], redactor: Redactor
) -> None:
    """--detach: publish the session id and link for a later ``wait`` job."""
    url = link(session.link)  # only a plain http(s) link, never a line break or a command
    session_id = session.session_id if is_safe_id(session.session_id) else ""
    integration = detect(env)
    if integration is not None:
        # `started` is not an outcome: the session was handed over, its verdict comes later.
        values = {
            "status": "started",
            "exit-code": "0",
            "session-id": session_id,
            "session-url": url,
        }
        integration.hand_over(values, redactor)
    if options.dotenv is not None:
        try:
            write_atomic(options.dotenv, dotenv.render_started(session_id, url))
        except OSError as exc:
            log.error("cannot write %s: %s", options.dotenv, exc)

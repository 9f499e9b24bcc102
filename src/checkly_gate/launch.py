"""The ``run`` job: trigger a test session, then wait for it (or hand it over with --detach).

A trigger is not idempotent, so it is retried only when the request surely created nothing
(connection refused, 429); after an ambiguous failure the gate says so and exits 6 rather than
risk starting a duplicate session.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from typing import Any, TextIO

import httpx

from checkly_gate.api import Ambiguous, Client, NoMatch, Refused, Transient
from checkly_gate.ci import detect
from checkly_gate.ci.github import render_outputs
from checkly_gate.config import Options
from checkly_gate.files import append_text, write_atomic
from checkly_gate.gate import Interrupted, finish, run_gate, signals_as_exceptions
from checkly_gate.models import Session
from checkly_gate.poller import backoff_waits
from checkly_gate.redact import Redactor
from checkly_gate.reports import GateRun, dotenv
from checkly_gate.text import is_safe_id, link, one_line
from checkly_gate.trigger import TriggerOptions, request_body
from checkly_gate.verdict import Outcome, Verdict

log = logging.getLogger("checkly_gate")


class TriggerFailed(Exception):
    """The trigger did not start a session; ``verdict`` says how the gate ends."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


def trigger(
    client: Client, body: dict[str, Any], deadline: float, fail_on_no_matching: bool = True
) -> tuple[Session, Any]:
    """POST the trigger, retrying only failures that surely created no session."""
    waits = backoff_waits(1.0)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TriggerFailed(
                Verdict(
                    Outcome.UNAVAILABLE, 6, "could not start a test session before the deadline"
                )
            )
        try:
            return client.trigger(body, timeout=min(30.0, left))
        except NoMatch as exc:
            code = Outcome.NO_MATCH.value if fail_on_no_matching else 0
            reason = f"no checks matched the trigger ({exc.message})"
            raise TriggerFailed(Verdict(Outcome.NO_MATCH, code, reason)) from None
        except Ambiguous as exc:
            reason = (
                f"{exc.message}; the session may or may not have started, so the trigger is not "
                "retried (a retry could start a duplicate session)"
            )
            raise TriggerFailed(Verdict(Outcome.UNAVAILABLE, 6, reason)) from None
        except Refused as exc:
            raise TriggerFailed(Verdict(Outcome.REFUSED, 5, exc.message)) from None
        except Transient as exc:
            pause = exc.retry_after if exc.retry_after is not None else next(waits)
            if pause >= deadline - time.monotonic():
                raise TriggerFailed(
                    Verdict(Outcome.UNAVAILABLE, 6, f"{exc.message}; no time left to retry")
                ) from None
            log.info(
                "%s; retrying the trigger in %.1fs (no session was created)", exc.message, pause
            )
            time.sleep(pause)


def run_launch(
    options: Options,
    trigger_options: TriggerOptions,
    out: TextIO,
    env: Mapping[str, str],
    colour: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Trigger, then wait (or detach); returns the exit code. Reports are written either way."""
    started = time.monotonic()
    deadline = started + options.timeout
    secrets = [options.api_key, *(value for _, value in trigger_options.env_vars)]
    redactor = Redactor(secrets)
    client = Client(options.api_key, options.api_url, options.account_id, transport=transport)
    body = request_body(trigger_options, env)
    try:
        try:
            with signals_as_exceptions():
                session, _ = trigger(client, body, deadline, trigger_options.fail_on_no_matching)
        except Interrupted as exc:
            reason = f"interrupted by signal {exc.signum} while starting the test session"
            verdict = Verdict(Outcome.INTERRUPTED, 128 + exc.signum, reason)
            finish(
                GateRun(verdict=verdict, requests=client.requests, signal=exc.signum),
                options,
                out,
                detect(env),
                redactor,
                colour,
            )
            return verdict.exit_code
        except TriggerFailed as failed:
            run = GateRun(verdict=failed.verdict, requests=client.requests)
            finish(run, options, out, detect(env), redactor, colour)
            return failed.verdict.exit_code
        name = one_line(session.display_name)
        shown_id = one_line(session.session_id, 100)
        out.write(redactor(f"Started test session '{name}': {shown_id}") + "\n")
        if trigger_options.detach and link(session.link):
            out.write(f"{link(session.link)}\n")
        out.flush()
        if trigger_options.detach:
            _hand_over(session, options, env, redactor)
            return 0
        remaining = max(1.0, deadline - time.monotonic())
        waiting = dataclasses.replace(options, session_ids=(session.session_id,), timeout=remaining)
        run = run_gate(waiting, out, env=env, colour=colour, client=client, redactor=redactor)
        return run.verdict.exit_code
    finally:
        client.close()


def _hand_over(
    session: Session, options: Options, env: Mapping[str, str], redactor: Redactor
) -> None:
    """--detach: publish the session id and link for a later ``wait`` job."""
    url = link(session.link)  # only a plain http(s) link, never a line break or a command
    session_id = session.session_id if is_safe_id(session.session_id) else ""
    if env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_OUTPUT"):
        values = {"session-id": session_id, "session-url": url}
        try:
            append_text(env["GITHUB_OUTPUT"], redactor(render_outputs(values)))
        except OSError as exc:
            log.error("cannot write GITHUB_OUTPUT: %s", exc)
    if options.dotenv is not None:
        try:
            write_atomic(options.dotenv, dotenv.render_started(session_id, url))
        except OSError as exc:
            log.error("cannot write %s: %s", options.dotenv, exc)

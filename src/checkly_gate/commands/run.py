"""``run``: trigger a test session, then wait for it (or hand it over with ``--detach``);
``run --check-sessions`` goes to ``run_checks``.

Both steps run under the command's one ``Scope``: the ``--timeout`` deadline covers the trigger
and the wait together, and SIGINT/SIGTERM stop whichever is running. The trigger is retried only
when it surely created nothing (``start``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from typing import TextIO

from checkly_gate import gate
from checkly_gate.commands import run_checks
from checkly_gate.commands.options import resolve_options
from checkly_gate.commands.start import TriggerFailed, start
from checkly_gate.config import check_text
from checkly_gate.context import Command, open_command, setup_logging
from checkly_gate.files import write_atomic
from checkly_gate.models import Session
from checkly_gate.redact import Secrets
from checkly_gate.reports import dotenv
from checkly_gate.streams import use_colour
from checkly_gate.text import is_safe_id, link, one_line
from checkly_gate.trigger import TriggerOptions, request_body, run_options

log = logging.getLogger("checkly_gate")


def main(
    args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO, secrets: Secrets
) -> int:
    """``checkly-gate run``: resolve the options, then trigger and wait (or detach)."""
    for flag, values in (
        ("--tags", args.tags),
        ("--env", args.env),
        ("--env-plain", args.env_plain),
        ("--location", [args.location or ""]),
        ("--name", [args.name or ""]),
    ):
        for value in values:
            check_text(value, flag)
    options = resolve_options(args, env, [], require_sessions=False)
    # flags over the environment's and the config file's run options (tags, check-id, retries,
    # ...); the rules between options (e.g. --check-sessions takes no --env) hold whatever the
    # source.
    trigger_options = run_options(vars(args), options.run, options.sources, env)
    setup_logging(err, options.verbosity)
    with open_command(options, out, env, secrets, colour=use_colour(out, env)) as ctx:
        if trigger_options.check_sessions:
            return run_checks.trigger_and_wait(ctx, trigger_options)
        return trigger_and_wait(ctx, trigger_options)
    raise AssertionError("unreachable")  # pragma: no cover (for type checkers)


def trigger_and_wait(ctx: Command, trigger_options: TriggerOptions) -> int:
    """Trigger, then wait (or detach) under ``ctx``; returns the exit code. Reports are written
    on every outcome, a signal included."""
    # The config file's `env` values are secrets the command line did not show.
    ctx.secrets.add(values=[value for _, value in trigger_options.env_vars])
    body = request_body(trigger_options, ctx.env)
    client = ctx.client
    try:
        session, _ = start(
            ctx.scope,
            lambda timeout: client.trigger(body, timeout),
            trigger_options.fail_on_no_matching,
        )
    except TriggerFailed as failed:
        return ctx.finish_early(failed.verdict)
    name = one_line(session.display_name)
    shown_id = one_line(session.session_id, 100)
    if not ctx.quiet or trigger_options.detach:  # -q: the id only when handed over
        ctx.say(f"Started test session '{name}': {shown_id}")
    if trigger_options.detach:
        if link(session.link):
            ctx.say(link(session.link))
        _hand_over(ctx, session)
        return 0
    run = gate.wait(ctx, gate.test_sessions([session.session_id]))
    return run.verdict.exit_code


def _hand_over(ctx: Command, session: Session) -> None:
    """--detach: publish the session id and link for a later ``wait`` job (the CI's outputs,
    ``--dotenv``)."""
    url = link(session.link)  # only a plain http(s) link, never a line break or a command
    session_id = session.session_id if is_safe_id(session.session_id) else ""
    if ctx.integration is not None:
        # `started` is not an outcome: the session was handed over, its verdict comes later.
        values = {
            "status": "started",
            "exit-code": "0",
            "session-id": session_id,
            "session-url": url,
        }
        ctx.integration.hand_over(values, ctx.secrets)
    if ctx.options.dotenv is not None:
        try:
            write_atomic(ctx.options.dotenv, dotenv.render_started(session_id, url), ctx.secrets)
        except OSError as exc:
            log.error("cannot write %s: %s", ctx.options.dotenv, exc)

"""``run --check-sessions``: ``POST /v2/check-sessions/trigger`` (one check session per matched
check), then one wait for all of them, with the same deadline, retries, reports and exit codes
as ``run``. The check-session endpoints are the client's (``api.Client.trigger_check_sessions``,
``api.CheckSessions``).
"""

from __future__ import annotations

from typing import Any

from checkly_gate import gate
from checkly_gate.commands.start import TriggerFailed, start
from checkly_gate.context import Command
from checkly_gate.text import one_line
from checkly_gate.trigger import TriggerOptions


def trigger_body(options: TriggerOptions) -> dict[str, Any]:
    """``CheckSessionsV2TriggerRequest``: the tag groups and check ids of ``run`` (no target:
    every eligible check). Location, name, env vars and retries are not part of this request."""
    target: dict[str, Any] = {}
    if options.tag_groups:
        target["matchTags"] = [list(group) for group in options.tag_groups]
    if options.check_ids:
        target["checkId"] = list(options.check_ids)
    return {"target": target} if target else {}


def trigger_and_wait(ctx: Command, trigger_options: TriggerOptions) -> int:
    """Trigger, then wait for every started check session, both under ``ctx``'s scope (the
    ``--timeout`` deadline and SIGINT/SIGTERM); returns the exit code."""
    body = trigger_body(trigger_options)
    client = ctx.client
    try:
        sessions = start(
            ctx.scope,
            lambda timeout: client.trigger_check_sessions(body, timeout),
            trigger_options.fail_on_no_matching,
        )
    except TriggerFailed as failed:
        return ctx.finish_early(failed.verdict)
    for session in sessions if not ctx.quiet else ():
        name = one_line(session.display_name)
        ctx.say(f"Started check session '{name}': {session.session_id}")
    run = gate.wait(ctx, gate.check_sessions([s.session_id for s in sessions]))
    return run.verdict.exit_code

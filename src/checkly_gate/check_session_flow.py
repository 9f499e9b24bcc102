"""Following and starting check sessions with the test session's machinery.

``CheckSessionSource`` lets ``follow.Follower`` read ``/v2/check-sessions/{id}`` (and its
completion long-poll) exactly as it reads a test session; ``run_check_sessions`` is ``run
--check-sessions``: ``POST /v2/check-sessions/trigger`` (one check session per matched check),
then one ``wait`` for all of them, with the same deadline, retries, reports and exit codes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, TextIO, cast

import httpx

from checkly_gate.api import REQUEST_TIMEOUT, Ambiguous, Client, NoMatch
from checkly_gate.check_sessions import parse_check_session
from checkly_gate.config import ConfigError, Options, parse_session_id
from checkly_gate.gate import command_scope, finish_without_waiting, run_gate
from checkly_gate.launch import TriggerFailed, trigger
from checkly_gate.models import NotASessionError, Session
from checkly_gate.redact import Redactor
from checkly_gate.text import one_line
from checkly_gate.trigger import TriggerOptions


class CheckSessionSource:
    """``follow.SessionSource`` over the check-session endpoints of ``client``."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get_session(
        self, session_id: str, timeout: float = REQUEST_TIMEOUT
    ) -> tuple[Session, bytes]:
        return self.client.get_check_session(session_id, timeout)

    def await_completion(
        self, session_id: str, max_wait: int, timeout: float
    ) -> tuple[Session, bytes] | None:
        return self.client.await_check_session(session_id, max_wait, timeout)


def trigger_body(options: TriggerOptions) -> dict[str, Any]:
    """``CheckSessionsV2TriggerRequest``: the tag groups and check ids of ``run`` (no target:
    every eligible check). Location, name, env vars and retries are not part of this request."""
    target: dict[str, Any] = {}
    if options.tag_groups:
        target["matchTags"] = [list(group) for group in options.tag_groups]
    if options.check_ids:
        target["checkId"] = list(options.check_ids)
    return {"target": target} if target else {}


class _Trigger:
    """Presents ``POST /v2/check-sessions/trigger`` as ``Client.trigger`` so ``launch.trigger``
    (retry only what surely started nothing) serves check sessions too. Returns the first
    session and the list of all of them."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.scope = client.scope

    @property
    def answers(self) -> int:
        return self.client.answers

    def trigger(self, body: dict[str, Any], timeout: float) -> tuple[Session, list[Session]]:
        answer = self.client.trigger_check_sessions(body, timeout)
        raw = answer.get("sessions") if isinstance(answer, dict) else None
        if not isinstance(raw, list):
            raise Ambiguous("the trigger answer has no sessions list; sessions may have started")
        sessions: dict[str, Session] = {}  # by id: a session listed twice is followed once
        unreadable = 0
        for item in raw:
            try:
                session = parse_check_session(item)
                session_id = parse_session_id(session.session_id)  # only a UUID makes a path
            except (NotASessionError, ConfigError):
                unreadable += 1  # started, yet never followed: the gate could not prove it
                continue
            sessions.setdefault(session_id, dataclasses.replace(session, session_id=session_id))
        if unreadable:
            raise Ambiguous(
                f"the trigger answer lists {unreadable} check session(s) the gate cannot follow "
                "(no UUID checkSessionId or no status); they may have started"
            )
        if not sessions:
            raise NoMatch("the trigger started no check session")
        started = list(sessions.values())
        return started[0], started


def run_check_sessions(
    options: Options,
    trigger_options: TriggerOptions,
    out: TextIO,
    env: Mapping[str, str],
    colour: bool = False,
    transport: httpx.BaseTransport | None = None,
    handle_signals: bool = True,
) -> int:
    """``run --check-sessions``: trigger, then wait for every started check session, both
    under one ``Scope`` (the ``--timeout`` deadline and SIGINT/SIGTERM)."""
    started_wall = datetime.now(timezone.utc)
    redactor = Redactor([options.api_key])
    body = trigger_body(trigger_options)
    with command_scope(options, env, transport, handle_signals) as (scope, client):
        try:
            _, started = trigger(
                cast(Client, _Trigger(client)), body, trigger_options.fail_on_no_matching
            )
        except TriggerFailed as failed:
            return finish_without_waiting(
                failed.verdict, scope, client, options, out, env, redactor, started_wall, colour
            )
        sessions: list[Session] = started
        for session in sessions if options.verbosity >= 0 else ():
            name = one_line(session.display_name)
            out.write(redactor(f"Started check session '{name}': {session.session_id}") + "\n")
        out.flush()
        ids = tuple(s.session_id for s in sessions)
        waiting = dataclasses.replace(options, session_ids=ids, check_session_ids=ids)
        run = run_gate(
            waiting, out, env=env, colour=colour, client=client, redactor=redactor, scope=scope
        )
        return run.verdict.exit_code
    raise AssertionError("unreachable")  # pragma: no cover (for type checkers)

"""One command's context: what every step of a command shares, opened once.

``open_command`` makes the command's ``Scope`` (the ``--timeout`` deadline of the whole command;
SIGINT/SIGTERM stop it whichever step runs), the ``api.Client`` bound to it, the CI integration
and the wall-clock start; the ``Secrets`` of secrets comes from the caller (``cli`` builds it
once from the flags and variables) and is handed to the client, the integration and every write.
A command finds its sessions with it, then either hands them to ``gate.wait`` or ends at once
with ``finish_early`` (no match, a failed trigger, no session found, a signal).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, TextIO

import httpx

from checkly_gate.api import Client
from checkly_gate.ci import detect
from checkly_gate.ci.base import Integration
from checkly_gate.config import Options
from checkly_gate.finish import configuration_problem, deferred_signal, finish, shadowed
from checkly_gate.publish.publishers import build as build_publishers
from checkly_gate.redact import Secrets
from checkly_gate.reports import GateRun
from checkly_gate.schedule import RequestBudget
from checkly_gate.scope import Scope, signals_stop
from checkly_gate.text import line
from checkly_gate.verdict import Outcome, Verdict


@dataclasses.dataclass
class Command:
    """What one command shares: its options, scope, client, secrets, output and CI."""

    options: Options
    scope: Scope
    client: Client  # bound to ``scope``
    secrets: Secrets
    out: TextIO
    env: Mapping[str, str]
    integration: Integration | None
    colour: bool = False
    #: the publishers of the verdict the options ask for (``publish.build``): PR comment,
    #: commit status, notification
    publishers: list[Any] = dataclasses.field(default_factory=list)
    started: datetime = dataclasses.field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def quiet(self) -> bool:
        return self.options.verbosity < 0

    def say(self, *lines: str) -> None:
        """Print lines on the command's output, secrets masked."""
        for text in lines:
            self.out.write(self.secrets(text) + "\n")
        self.out.flush()

    def finish_early(self, verdict: Verdict) -> int:
        """Write every output for a command that ended before any wait and return the exit code
        (``128 + signal`` for one that arrived while the outputs were written)."""
        signum = self.scope.signal if verdict.outcome is Outcome.INTERRUPTED else None
        # The same configuration problem (TLS, proxy) is the same outcome whichever step met it.
        verdict = configuration_problem(verdict, self.client)
        run = GateRun(
            verdict=verdict,
            started_at=self.started,
            finished_at=datetime.now(timezone.utc),
            duration_seconds=self.scope.now() - self.scope.started,
            requests=self.client.requests,
            signal=signum,
        )
        run = shadowed(run, self.options.shadow)
        finish(
            run, self.options, self.out, self.integration, self.secrets, self.colour,
            publishers=self.publishers, scope=self.scope,
        )  # fmt: skip
        return deferred_signal(run, self.scope).verdict.exit_code


@contextlib.contextmanager
def open_command(
    options: Options,
    out: TextIO,
    env: Mapping[str, str],
    secrets: Secrets | None = None,
    colour: bool = False,
    transport: httpx.BaseTransport | None = None,
    handle_signals: bool = True,
) -> Iterator[Command]:
    """The ``Command`` of one command run, its client closed at the end.

    ``secrets``: the command's (``cli`` builds them); default: the API key alone (in-process
    callers). ``transport``: an httpx transport for tests; ``handle_signals``: route
    SIGINT/SIGTERM to the scope (off in-process, where the test runner owns them).
    """
    secrets = secrets if secrets is not None else Secrets([options.api_key])
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
            secrets=secrets,
        )
        stack.callback(client.close)
        yield Command(
            options=options,
            scope=scope,
            client=client,
            secrets=secrets,
            out=out,
            env=env,
            integration=detect(env),
            colour=colour,
            publishers=build_publishers(options, env, secrets, scope),
        )


def setup_logging(err: TextIO, verbosity: int) -> None:
    """The command's log on ``err`` (its stderr, secrets masked): -1 warnings, 0 info, 1 debug;
    every record one inert line (log messages carry server and error texts)."""

    class OneLine(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return line(super().format(record))

    logger = logging.getLogger("checkly_gate")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(err)
    handler.setFormatter(OneLine("%(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel({-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}[verbosity])

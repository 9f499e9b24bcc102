"""Starting sessions: a trigger is not idempotent, so it is retried only when the request surely
created nothing (connection refused, 429); after an ambiguous failure the gate says so and exits
6 rather than risk starting a duplicate session. Shared by ``run`` and ``run --check-sessions``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from checkly_gate.api import Ambiguous, NoMatch, OutOfTime, Refused, Stopped, Transient
from checkly_gate.schedule import Backoff, RetryBeyondDeadline
from checkly_gate.scope import Scope
from checkly_gate.text import signal_name
from checkly_gate.verdict import Outcome, Verdict

log = logging.getLogger("checkly_gate")

TRIGGER_TIMEOUT = 30.0  # per-request cap of the trigger POST

Started = TypeVar("Started")


class TriggerFailed(Exception):
    """The trigger did not start a session; ``verdict`` says how the gate ends."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


def _unavailable(reason: str) -> TriggerFailed:
    return TriggerFailed(Verdict(Outcome.UNAVAILABLE, Outcome.UNAVAILABLE.value, reason))


def _maybe_started(sent: bool) -> str:
    return " (the request was sent: a session may have started)" if sent else ""


def start(
    scope: Scope, send: Callable[[float], Started], fail_on_no_matching: bool = True
) -> Started:
    """``send(timeout)`` (a trigger POST of a client bound to ``scope``), retried only after
    failures that surely created no session. Raises ``TriggerFailed`` with the verdict to end
    with otherwise."""
    # Every retry here is a 429 or a refused connection. No spread after a Retry-After: the
    # trigger gives up when its pause reaches the deadline, so a spread there would turn a
    # retry that fits into "no time left".
    retry = Backoff(spread=False)
    while True:
        try:
            return send(TRIGGER_TIMEOUT)
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
        except Refused as exc:  # Misconfigured too: finish_early says exit 2 or 5
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

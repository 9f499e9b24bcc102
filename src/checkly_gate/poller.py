"""Follow one test session until it is final, refused, or the deadline comes.

The loop alternates a GET of the session (progress) with long-polls of the completion endpoint
(so a finished session is seen within one round trip), when ``schedule.ProgressSchedule`` says,
falls back to plain polling where the long-poll is missing, retries transient trouble with
``backoff``'s exponential schedule plus jitter, and honours ``Retry-After`` (never sooner than
the backoff step: ``retry_pause``; plus a spread so a fleet told the same second does not come
back in it). Time and sleeping come from an injected ``Clock`` (the gate's ``scope.Scope``) so
tests drive the loop without real waiting; every request goes through a ``Client`` bound to
that scope.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import backoff

from checkly_gate.api import (
    CompletionUnsupported,
    NotFound,
    OutOfTime,
    Refused,
    Stopped,
    Transient,
)
from checkly_gate.models import Session
from checkly_gate.schedule import ProgressSchedule, progress_key, spread_retry_after, start_delay
from checkly_gate.scope import Clock, RealClock
from checkly_gate.verdict import Observation, Stop, is_settled

__all__ = ["Clock", "PollSettings", "RealClock", "backoff_waits", "follow", "retry_pause"]

log = logging.getLogger("checkly_gate")

MAX_BACKOFF = 30.0
# The first backoff step after a 429, in seconds: the account's budget (600 requests a minute)
# is shared by every pipeline, so a rate limit is never retried faster than about once a second.
RATE_LIMIT_BASE = 1.0


@dataclass(frozen=True)
class PollSettings:
    """How to follow a session. Defaults match the CLI's."""

    poll_interval: float = 150.0  # the widest gap between progress reads (schedule.py)
    long_poll: bool = True
    not_found_grace: float = 30.0
    settle_window: float = 5.0
    settle_attempts: int = 3
    start_jitter: float = 0.0  # wait up to this long (at most poll_interval) before the first read


def backoff_waits(base: float) -> Iterator[float]:
    """Exponential waits starting near ``base`` with equal jitter, capped at ``MAX_BACKOFF``.

    Equal jitter (half fixed, half random) spreads parallel pipelines apart without the near-zero
    waits of full jitter, which would hammer an API that is already failing.
    """
    for value in backoff.expo(base=2, factor=base, max_value=MAX_BACKOFF):
        if value is None:  # backoff's generators prime with None on first next() in some versions
            continue
        yield value / 2 + random.uniform(0, value / 2)


class RetryBeyondDeadline(Exception):
    """A ``Retry-After`` that truly reaches past the deadline: waiting it out is pointless."""


def retry_pause(exc: Transient, waits: Iterator[float], left: float) -> float:
    """Seconds to wait before retrying after ``exc``, with ``left`` seconds to the deadline.

    The backoff step (``next(waits)``) is the floor: a ``Retry-After`` of 0, negative, garbage
    or an HTTP date in the past never makes the next request come sooner than a 429 without
    the header would. A longer ``Retry-After`` is honoured exactly; one beyond the deadline
    raises ``RetryBeyondDeadline`` with a message saying so. The result never exceeds ``left``.
    """
    step = next(waits)
    asked = exc.retry_after
    if asked is not None and asked > step:
        if asked >= left:
            raise RetryBeyondDeadline(
                f"{exc.message}; the API asked to wait {asked:g}s (Retry-After), "
                f"beyond the deadline ({left:.1f}s left)"
            )
        return asked
    return max(0.0, min(step, left))


OnUpdate = Callable[[Session, bytes], None]


class SessionSource(Protocol):
    """What ``follow`` reads a session through: ``api.Client`` (test sessions) or
    ``check_session_flow.CheckSessionSource`` (check sessions)."""

    def get_session(self, session_id: str, timeout: float = ...) -> tuple[Session, bytes]: ...

    def await_completion(
        self, session_id: str, max_wait: int, timeout: float
    ) -> tuple[Session, bytes] | None: ...


def follow(
    client: SessionSource,
    session_id: str,
    deadline: float,
    clock: Clock,
    settings: PollSettings = PollSettings(),
    on_update: OnUpdate | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Observation:
    """Watch one session; return what was seen when it ended or the gate had to stop."""
    started = clock.now()
    session: Session | None = None
    error: str | None = None
    error_current = False
    last_not_found = False
    waits: Iterator[float] | None = None
    limited: Iterator[float] | None = None  # the 429 schedule, kept apart from other trouble
    long_poll = settings.long_poll
    mode = "get"
    settle_tries = 0
    # The completion long-poll failed (transient): the next GET is not followed by another
    # long-poll at once but waits out the cycle, so a GET that works cannot reset the backoff
    # into a GET + completion storm against a broken completion endpoint.
    completion_failed = False
    base_wait = min(1.0, max(0.1, settings.poll_interval))
    rng = random.Random()
    plan = ProgressSchedule(settings.poll_interval, started, rng)  # when to read progress
    long_wait, asked_end = 1, started
    if settings.start_jitter > 0:
        # at most a tenth of the time there is, so a short --timeout still gets its reads
        limit = min(settings.poll_interval, (deadline - started) / 10)
        clock.sleep(start_delay(settings.start_jitter, limit, rng))

    def observation(stop: Stop) -> Observation:
        return Observation(
            session_id=session_id,
            stop=stop,
            session=session,
            error=error,
            error_is_current=error_current,
        )

    def timed_out() -> Observation:
        if session is None and last_not_found:
            return observation(Stop.NOT_FOUND)
        return observation(Stop.DEADLINE)

    while True:
        if should_stop():
            return observation(Stop.INTERRUPTED)
        left = deadline - clock.now()
        if left <= 0:
            return timed_out()
        try:
            plan.sent()
            if mode == "completion":
                max_wait = min(long_wait, max(1, int(left)))
                asked_end = clock.now() + max_wait
                got = client.await_completion(session_id, max_wait, timeout=min(left, max_wait + 5))
            else:
                got = client.get_session(session_id, timeout=min(left, 30.0))
        except CompletionUnsupported as exc:
            log.info("completion long-poll unavailable (%s); polling instead", exc.message)
            long_poll = False
            mode = "get"
            clock.sleep(min(plan.plain_gap(), max(0.0, deadline - clock.now())))
            continue
        except NotFound as exc:
            error, last_not_found = exc.message, True
            error_current = True
            since = clock.now() - started
            if session is not None or since >= settings.not_found_grace:
                return observation(Stop.NOT_FOUND)
            waits = waits or backoff_waits(base_wait)
            pause = min(next(waits), settings.not_found_grace - since, deadline - clock.now())
            log.info("session not found yet; retrying in %.1fs", pause)
            clock.sleep(max(0.0, pause))
            continue
        except Refused as exc:
            error, error_current = exc.message, True
            return observation(Stop.REFUSED)
        except Stopped:
            return observation(Stop.INTERRUPTED)
        except OutOfTime as exc:
            if session is None:  # say what kept the session from being read
                error, error_current = exc.message, True
            return timed_out()
        except Transient as exc:
            if exc.timed_out and clock.now() >= deadline - 0.05:
                return timed_out()  # our own deadline cut the request short: not API trouble
            error, error_current, last_not_found = exc.message, True, False
            if exc.status == 429:
                limited = limited or backoff_waits(RATE_LIMIT_BASE)
                schedule = limited
            else:
                waits = waits or backoff_waits(base_wait)
                schedule = waits
            try:
                pause = retry_pause(exc, schedule, deadline - clock.now())
            except RetryBeyondDeadline as beyond:
                error = str(beyond)
                log.warning("%s", error)
                return timed_out()
            if exc.retry_after is not None and pause >= exc.retry_after:
                # honoured as asked, plus a spread: a herd told the same second comes back spread
                pause = min(spread_retry_after(pause, rng), max(0.0, deadline - clock.now()))
            log.info("%s; retrying in %.1fs", exc.message, pause)
            clock.sleep(pause)
            if mode == "completion":
                # Progress still comes through the GET while the long-poll fails; the
                # long-poll is tried again after a plain gap (below).
                completion_failed = True
                mode = "get"
            continue  # else retry the same request

        waits = limited = None
        error_current = last_not_found = False
        if got is not None:
            session = got[0]
            if mode == "get":
                plan.read(clock.now(), progress_key(session))
            if on_update is not None:
                on_update(session, got[1])
        assert session is not None or got is None

        if session is not None and session.is_final:
            if is_settled(session) or settle_tries >= settings.settle_attempts:
                return observation(Stop.FINAL)
            settle_tries += 1
            pause = settings.settle_window / max(1, settings.settle_attempts)
            log.info("session is final but results are still arriving; re-reading")
            clock.sleep(min(pause, max(0.0, deadline - clock.now())))
            mode = "get"
            continue

        if long_poll and session is not None:
            if mode == "completion":
                # 408: still running. A server that ends its long-poll early must not make us
                # spin: wait out the time asked for.
                clock.sleep(
                    min(max(0.0, asked_end - clock.now()), max(0.0, deadline - clock.now()))
                )
            elif completion_failed:
                # The GET worked, the long-poll did not: wait a plain gap before trying it again,
                # so a working GET cannot turn a failing long-poll into a storm of both.
                completion_failed = False
                clock.sleep(min(plan.plain_gap(), max(0.0, deadline - clock.now())))
            wait = plan.next_long_poll(clock.now())
            mode, long_wait = ("get", 1) if wait is None else ("completion", wait)
            continue
        mode = "get"
        rest = plan.plain_gap()
        clock.sleep(min(max(0.0, rest), max(0.0, deadline - clock.now())))

"""Follow one session until it is final, refused, or its scope ends: ``Follower``.

The loop alternates a GET of the session (progress) with long-polls of the completion endpoint
(so a finished session is seen within one round trip) when ``schedule.ProgressSchedule`` says,
falls back to plain polling where the long-poll is missing, and retries transient trouble with
``schedule.Backoff`` (exponential with jitter, ``Retry-After`` honoured and spread). Each outcome
of a read has its own handler (``on_answer``, ``on_still_running``, ``on_not_found``,
``on_trouble``, ``on_completion_unsupported``, ``on_final``). Time, sleeping and the stop come
from the ``scope.Scope`` alone (a test hands it a ``FakeClock``); every request goes through a
source whose client is bound to that scope.

What was seen is an ``Observation`` with the reason following ended (``Stop``); the verdict
judges it (``verdict.judge_session``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from checkly_gate.api import (
    ApiError,
    CompletionUnsupported,
    NotFound,
    OutOfTime,
    Refused,
    Stopped,
    Transient,
)
from checkly_gate.models import Observation, Session, Stop
from checkly_gate.schedule import (
    Backoff,
    ProgressSchedule,
    RetryBeyondDeadline,
    progress_key,
    start_delay,
)
from checkly_gate.scope import Scope

__all__ = [
    "Follower",
    "PollSettings",
    "SessionSource",
    "Settled",
    "follow",
]

log = logging.getLogger("checkly_gate")


@dataclass(frozen=True)
class PollSettings:
    """How to follow a session. Defaults match the CLI's."""

    poll_interval: float = 150.0  # the widest gap between progress reads (schedule.py)
    long_poll: bool = True
    not_found_grace: float = 30.0
    settle_window: float = 5.0
    settle_attempts: int = 3
    start_jitter: float = 0.0  # wait up to this long (at most poll_interval) before the first read


OnUpdate = Callable[[Session, bytes], None]
#: Whether a final session's rows are all decided (``verdict.is_settled``): the verdict owns
#: that rule, the follower only asks it (so this module never imports the policy).
Settled = Callable[[Session], bool]


class SessionSource(Protocol):
    """What a ``Follower`` reads a session through: ``api.Client`` (test sessions) or
    ``api.CheckSessions`` (check sessions)."""

    def get_session(self, session_id: str, timeout: float = ...) -> tuple[Session, bytes]: ...

    def await_completion(
        self, session_id: str, max_wait: int, timeout: float
    ) -> tuple[Session, bytes] | None: ...


class Follower:
    """One session's loop as an object: the state lives in fields, one handler per outcome of a
    read. ``run()`` follows until the session is final (and settled), refused, not found past
    the grace, the scope's deadline, or a stop, and returns the ``Observation``.

    ``mode`` is the next request: ``"get"`` (progress) or ``"completion"`` (the long-poll of
    ``long_wait`` seconds, asked to end by ``asked_end`` on the scope's clock).
    """

    def __init__(
        self,
        source: SessionSource,
        session_id: str,
        scope: Scope,
        settled: Settled,
        settings: PollSettings = PollSettings(),
        on_update: OnUpdate | None = None,
    ) -> None:
        self.source, self.session_id, self.scope = source, session_id, scope
        self.settled, self.settings, self.on_update = settled, settings, on_update
        self.started = scope.now()
        self.session: Session | None = None
        self.error: str | None = None
        self.error_current = False
        self.last_not_found = False
        self.backoff = Backoff(base=min(1.0, max(0.1, settings.poll_interval)))
        self.plan = ProgressSchedule(settings.poll_interval, self.started, self.backoff.rng)
        self.long_poll = settings.long_poll
        self.mode = "get"
        self.long_wait, self.asked_end = 1, self.started
        self.settle_tries = 0
        # The completion long-poll failed (transient): the next GET is not followed by another
        # long-poll at once but waits out the cycle, so a GET that works cannot reset the
        # backoff into a GET + completion storm against a broken completion endpoint.
        self.completion_failed = False

    # -- the loop -----------------------------------------------------------------------------

    def run(self) -> Observation:
        """Follow the session; what was seen when it ended or the gate had to stop."""
        if self.settings.start_jitter > 0:
            # at most a tenth of the time there is, so a short --timeout still gets its reads
            limit = min(self.settings.poll_interval, self.scope.remaining() / 10)
            self.scope.sleep(start_delay(self.settings.start_jitter, limit, self.backoff.rng))
        while True:
            if self.scope.stopped:
                return self.observation(Stop.INTERRUPTED)
            left = self.scope.deadline - self.scope.now()
            if left <= 0:
                return self.timed_out()
            try:
                got = self.read(left)
            except ApiError as exc:
                ended = self.on_error(exc)
            else:
                ended = self.on_answer(got)
            if ended is not None:
                return ended

    def read(self, left: float) -> tuple[Session, bytes] | None:
        """One request as ``mode`` says; None: the long-poll ended with the session running."""
        self.plan.sent()
        if self.mode == "completion":
            max_wait = min(self.long_wait, max(1, int(left)))
            self.asked_end = self.scope.now() + max_wait
            return self.source.await_completion(
                self.session_id, max_wait, timeout=min(left, max_wait + 5)
            )
        return self.source.get_session(self.session_id, timeout=min(left, 30.0))

    def observation(self, stop: Stop) -> Observation:
        return Observation(
            session_id=self.session_id,
            stop=stop,
            session=self.session,
            error=self.error,
            error_is_current=self.error_current,
        )

    def timed_out(self) -> Observation:
        if self.session is None and self.last_not_found:
            return self.observation(Stop.NOT_FOUND)
        return self.observation(Stop.DEADLINE)

    # -- failed reads -------------------------------------------------------------------------

    def on_error(self, exc: ApiError) -> Observation | None:
        """Sort a failed read to its handler; an Observation ends following, None goes on."""
        if isinstance(exc, CompletionUnsupported):
            return self.on_completion_unsupported(exc)
        if isinstance(exc, NotFound):
            return self.on_not_found(exc)
        if isinstance(exc, Refused):
            self.error, self.error_current = exc.message, True
            return self.observation(Stop.REFUSED)
        if isinstance(exc, Stopped):
            return self.observation(Stop.INTERRUPTED)
        if isinstance(exc, OutOfTime):
            if self.session is None:  # say what kept the session from being read
                self.error, self.error_current = exc.message, True
            return self.timed_out()
        if isinstance(exc, Transient):
            return self.on_trouble(exc)
        raise exc

    def on_completion_unsupported(self, exc: CompletionUnsupported) -> Observation | None:
        """No long-poll here: poll plainly from now on."""
        log.info("completion long-poll unavailable (%s); polling instead", exc.message)
        self.long_poll = False
        self.mode = "get"
        self.scope.sleep(self.plan.plain_gap())
        return None

    def on_not_found(self, exc: NotFound) -> Observation | None:
        """404: a session just triggered may not be readable yet, so retry within the grace
        (``not_found_grace`` seconds from the start); after it, or once the session was seen,
        it is gone: NOT_FOUND."""
        self.error, self.last_not_found, self.error_current = exc.message, True, True
        since = self.scope.now() - self.started
        if self.session is not None or since >= self.settings.not_found_grace:
            return self.observation(Stop.NOT_FOUND)
        pause = min(self.backoff.step(), self.settings.not_found_grace - since)
        pause = min(pause, self.scope.remaining())
        log.info("session not found yet; retrying in %.1fs", pause)
        self.scope.sleep(pause)
        return None

    def on_trouble(self, exc: Transient) -> Observation | None:
        """429, 5xx, an unreadable body or transport trouble: retry after ``Backoff.pause``;
        a ``Retry-After`` beyond the deadline ends following at once."""
        if exc.timed_out and self.scope.now() >= self.scope.deadline - 0.05:
            return self.timed_out()  # our own deadline cut the request short: not API trouble
        self.error, self.error_current, self.last_not_found = exc.message, True, False
        try:
            pause = self.backoff.pause(exc, self.scope.remaining())
        except RetryBeyondDeadline as beyond:
            self.error = str(beyond)
            log.warning("%s", self.error)
            return self.timed_out()
        log.info("%s; retrying in %.1fs", exc.message, pause)
        self.scope.sleep(pause)
        if self.mode == "completion":
            # Progress still comes through the GET while the long-poll fails; the long-poll is
            # tried again after a plain gap (``on_running``).
            self.completion_failed = True
            self.mode = "get"
        return None  # else retry the same request

    # -- answers ------------------------------------------------------------------------------

    def on_answer(self, got: tuple[Session, bytes] | None) -> Observation | None:
        """A read answered: the session (or None: a long-poll that ended with it running)."""
        self.backoff.reset()
        self.error_current = self.last_not_found = False
        if got is not None:
            self.session = got[0]
            if self.mode == "get":
                self.plan.read(self.scope.now(), progress_key(self.session))
            if self.on_update is not None:
                self.on_update(self.session, got[1])
        if self.session is not None and self.session.is_final:
            return self.on_final(self.session)
        self.on_running()
        return None

    def on_final(self, session: Session) -> Observation | None:
        """The settle window: a final session whose rows are not all decided yet is re-read
        up to ``settle_attempts`` times over ``settle_window`` seconds, then judged as it is."""
        if self.settled(session) or self.settle_tries >= self.settings.settle_attempts:
            return self.observation(Stop.FINAL)
        self.settle_tries += 1
        log.info("session is final but results are still arriving; re-reading")
        self.scope.sleep(self.settings.settle_window / max(1, self.settings.settle_attempts))
        self.mode = "get"
        return None

    def on_running(self) -> None:
        """Still running: choose the next request (a long-poll, or progress when it is due;
        plain polling without the long-poll) and wait as long as that needs."""
        if not (self.long_poll and self.session is not None):
            self.mode = "get"
            self.scope.sleep(self.plan.plain_gap())
            return
        if self.mode == "completion":
            self.on_still_running()
        elif self.completion_failed:
            # The GET worked, the long-poll did not: wait a plain gap before trying it again,
            # so a working GET cannot turn a failing long-poll into a storm of both.
            self.completion_failed = False
            self.scope.sleep(self.plan.plain_gap())
        wait = self.plan.next_long_poll(self.scope.now())
        self.mode, self.long_wait = ("get", 1) if wait is None else ("completion", wait)

    def on_still_running(self) -> None:
        """408: the long-poll ended with the session running. A server that ends it early must
        not make us spin: wait out the time asked for."""
        self.scope.sleep(self.asked_end - self.scope.now())


def follow(
    source: SessionSource,
    session_id: str,
    scope: Scope,
    settled: Settled,
    settings: PollSettings = PollSettings(),
    on_update: OnUpdate | None = None,
) -> Observation:
    """Follow one session under ``scope`` (its deadline, clock and stop); see ``Follower``."""
    return Follower(source, session_id, scope, settled, settings, on_update).run()

"""When to fetch progress, how long to long-poll meanwhile, when to say "still waiting", and
how long to wait before retrying after trouble (``Backoff``, the one retry policy of following,
triggering and discovery).

Pure: times, "did anything change" and request counts in; intervals out. No clock, no I/O; the
randomness comes from an injected ``random.Random``. ``follow.Follower`` asks it, tests drive it
with made-up times.

The cost model: one account has about 600 requests per 60 s for every pipeline it
runs, so a waiting gate should cost about what Checkly's CLI costs (one 30 s long-poll of
``/completion`` after another: 2 requests a minute) while still showing progress:

- A long-poll of ``/completion`` is always outstanding between progress reads, each up to
  Checkly's maximum ``maxWaitSeconds`` of 30 s, so a finished session is seen within one round
  trip: 2 requests a minute is the floor.
- Progress (``GET /v1/test-sessions/{id}``) is read on a ladder of gaps that widens while
  nothing changes, ``RUNGS`` = 10, 20, 60, then 150 s, and starts again at 10 s when something
  changed (a new result, a status). No gap is wider than ``widest`` (``--poll-interval``): a
  user who wants denser progress pays for it with more requests.
- A request budget keeps the average near ``BUDGET_PER_MINUTE`` (+ ``BUDGET_BURST``) however
  often things change: a progress read the budget cannot pay for is made ``widest`` after the
  last one instead. Every request counts, retries included, so a gate under 429s reads
  progress less often.
- Rungs from 60 s on are multiples of the long-poll, so progress reads fall where a long-poll
  ends anyway; a read due within ``EARLY`` seconds is made now rather than after one more, short
  long-poll.

For a session that runs 10 minutes at the defaults this is at most 3 requests a minute on
average, all kinds counted (``tests/test_schedule.py`` proves it with a fake clock).

Many sessions: one gate following 400 check sessions would otherwise spend 400
reads at once and the whole account's budget within a minute. ``RequestBudget`` is one token
bucket per command, shared by every follower and explainer (``api.Client`` waits on it before
every GET): at most ``--max-request-rate`` reads a minute (default ``DEFAULT_MAX_REQUEST_RATE``,
a tenth of the account's 600) plus a burst of ``REQUEST_BURST``. Slots are handed out first come,
first served, so a follower that was just served queues behind every other: reads spread over
the sessions. ``slower_with`` says when following that many sessions makes progress and the
verdict slower than the schedule above.
"""

from __future__ import annotations

import math
import random
import threading
from collections import Counter
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import backoff

from checkly_gate.models import Session
from checkly_gate.text import duration

#: Gaps between progress reads while nothing changes (seconds); the last one repeats.
RUNGS: tuple[float, ...] = (10.0, 20.0, 60.0, 150.0)
#: Checkly's maximum ``maxWaitSeconds`` of ``/completion`` (openapi: 1..30).
LONG_POLL_MAX = 30
#: A progress read due within this many seconds is made at once (no short extra long-poll).
EARLY = 10.0
#: Requests a minute on average the schedule may spend (long-polls, reads, retries).
BUDGET_PER_MINUTE = 2.4
#: Requests it may spend ahead of that average (the first reads of a session).
BUDGET_BURST = 5.0
#: Without the long-poll the verdict waits for the next read: never wider than this.
PLAIN_POLL_MAX = 30.0
#: Gate default for ``--poll-interval``: the widest gap between progress reads.
DEFAULT_WIDEST = 150.0
#: At least one heartbeat line this often (seconds) while waiting.
HEARTBEAT_EVERY = 60.0
#: Gates started in the same second wait up to this long (at most ``widest``) before the first
#: read, so a fleet does not poll in lockstep (``PollSettings.start_jitter`` of the gate).
START_JITTER = 2.0
#: Gaps shorter than a long-poll are stretched or shrunk by up to this fraction.
GAP_JITTER = 0.1


def progress_key(session: Session) -> Hashable:
    """What counts as "something changed" between two reads: the session status and how many
    result rows there are of each (resultType, status, flags). ``timeElapsed`` and other
    fields that move on every read do not count."""
    rows = Counter(
        (r.result_type, r.status, r.has_failures, r.has_errors, r.is_degraded)
        for r in session.results
    )
    return (session.status, len(session.results), frozenset(rows.items()))


def start_delay(limit: float, widest: float, rng: random.Random) -> float:
    """Seconds to wait before the first read: uniform in [0, min(limit, widest)]."""
    return rng.uniform(0.0, max(0.0, min(limit, widest)))


def spread_retry_after(retry_after: float, rng: random.Random) -> float:
    """How long to wait after ``Retry-After: retry_after``: never less than it asks, plus a
    spread of up to half of it (at least 1 s, at most 15 s), so gates told the same second do
    not all come back in that second."""
    spread = min(15.0, max(1.0, retry_after / 2))
    return retry_after + rng.uniform(0.0, spread)


@dataclass
class ProgressSchedule:
    """The progress-read and long-poll schedule of one followed session.

    ``widest``: the widest gap between progress reads (``--poll-interval``, seconds).
    ``started``: monotonic time the wait began. Tell it about every request (``sent``) and every
    progress read (``read``); ask it what to do next (``next_long_poll``, ``plain_gap``).
    """

    widest: float = DEFAULT_WIDEST
    started: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    requests: int = 0
    rung: int = 0
    last_read: float | None = None
    _last_key: Hashable = None
    _gap: float = 0.0

    def sent(self) -> None:
        """One request was made (of any kind, retries included)."""
        self.requests += 1

    def read(self, now: float, key: Hashable) -> bool:
        """A progress read at ``now`` saw ``key`` (``progress_key``); True if it changed.

        A change starts the ladder again at its first rung; no change widens it one rung.
        """
        changed = self.last_read is None or key != self._last_key
        if self.last_read is not None:
            self.rung = 0 if changed else min(self.rung + 1, len(RUNGS) - 1)
        self.last_read, self._last_key = now, key
        gap = min(self._jittered(RUNGS[self.rung]), self.widest)
        if gap < self.widest and not self._affordable(now + gap):
            gap = self.widest
        self._gap = gap
        return changed

    def _affordable(self, at: float) -> bool:
        """Can the budget pay for a read at ``at``: the requests made so far, the long-polls
        until then and the read itself, against ``BUDGET_BURST`` + ``BUDGET_PER_MINUTE``?"""
        cost = self.requests + math.ceil((at - (self.last_read or 0.0)) / LONG_POLL_MAX) + 1
        return cost <= BUDGET_BURST + BUDGET_PER_MINUTE * (at - self.started) / 60.0

    def due(self) -> float:
        """Monotonic time of the next progress read: the rung's gap after the last read, or
        ``widest`` after it when the budget cannot pay for the rung."""
        last = self.started if self.last_read is None else self.last_read
        return last + self._gap

    def next_long_poll(self, now: float) -> int | None:
        """``maxWaitSeconds`` for the next long-poll, or None: read progress now."""
        left = self.due() - now
        if left <= min(EARLY, self._gap / 3):
            return None
        return max(1, min(LONG_POLL_MAX, math.floor(left)))

    def plain_gap(self) -> float:
        """Seconds until the next read without the long-poll (the verdict waits for it)."""
        return min(self._gap or RUNGS[0], PLAIN_POLL_MAX, max(self.widest, 0.0))

    def _jittered(self, gap: float) -> float:
        """Gaps shorter than a long-poll vary by ``GAP_JITTER``, so gates started together
        drift apart; longer ones stay whole multiples of it (no short extra long-poll)."""
        if gap >= LONG_POLL_MAX:
            return gap
        return gap * self.rng.uniform(1.0 - GAP_JITTER, 1.0 + GAP_JITTER)


#: Default ``--max-request-rate``: reads a minute one gate may spend, all sessions together (a
#: tenth of the account's 600 a minute, which every pipeline of the account shares).
DEFAULT_MAX_REQUEST_RATE = 60.0
#: Reads the bucket allows at once before the rate applies (the first reads of a few sessions).
REQUEST_BURST = 10


class RequestBudget:
    """One token bucket for every read of a command (thread-safe): at most ``per_minute`` a
    minute on average and ``burst`` at once. ``reserve(now)`` books the next free slot and says
    how many seconds to wait for it (0: now). A booked slot is spent even if the caller gives up
    waiting (stop, deadline), so the bound holds whatever happens.

    The bucket as a virtual schedule (GCRA): ``_tat`` is when the bucket would be full again;
    a request may go at ``_tat - (burst - 1) * interval`` at the earliest.
    """

    def __init__(self, per_minute: float = DEFAULT_MAX_REQUEST_RATE, burst: int = REQUEST_BURST):
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.per_minute = per_minute
        self.burst = max(1, burst)
        self.interval = 60.0 / per_minute  # seconds between slots
        self._tat: float | None = None
        self._lock = threading.Lock()

    def reserve(self, now: float) -> float:
        """Book one request's slot at or after ``now`` (monotonic seconds); seconds to wait."""
        with self._lock:
            tat = now if self._tat is None else max(self._tat, now)
            at = max(now, tat - (self.burst - 1) * self.interval)
            self._tat = tat + self.interval
            return at - now


def slower_with(sessions: int, per_minute: float) -> float | None:
    """Seconds between two reads of one session when ``sessions`` share ``per_minute`` reads
    (every session wants one read each ``LONG_POLL_MAX`` s), or None when the share is enough."""
    wanted = sessions * 60.0 / LONG_POLL_MAX
    if wanted <= per_minute:
        return None
    return sessions * 60.0 / per_minute


def heartbeat_due(last: float, now: float) -> bool:
    """True when ``HEARTBEAT_EVERY`` seconds have passed since the last heartbeat ``last``."""
    return now - last >= HEARTBEAT_EVERY


# --------------------------------------------------------------------------- trouble

#: The widest backoff step (seconds).
MAX_BACKOFF = 30.0
#: The first backoff step after a 429, in seconds: the account's budget (600 requests a minute)
#: is shared by every pipeline, so a rate limit is never retried faster than once a second.
RATE_LIMIT_BASE = 1.0


def backoff_waits(base: float) -> Iterator[float]:
    """Exponential waits starting near ``base`` with equal jitter, capped at ``MAX_BACKOFF``.

    Equal jitter (half fixed, half random) spreads parallel pipelines apart without the near-zero
    waits of full jitter, which would hammer an API that is already failing.
    """
    for value in backoff.expo(base=2, factor=base, max_value=MAX_BACKOFF):
        if value is None:  # backoff's generators prime with None on first next() in some versions
            continue
        yield value / 2 + random.uniform(0, value / 2)


class Trouble(Protocol):
    """What a retry decision reads of a failure (``api.Transient`` has it): a one-line
    ``message``, the HTTP ``status`` (None: no answer) and the parsed ``Retry-After`` seconds."""

    message: str
    status: int | None
    retry_after: float | None


class RetryBeyondDeadline(Exception):
    """A ``Retry-After`` that truly reaches past the deadline: waiting it out is pointless."""


def retry_pause(trouble: Trouble, waits: Iterator[float], left: float) -> float:
    """Seconds to wait before retrying after ``trouble``, with ``left`` seconds to the deadline.

    The backoff step (``next(waits)``) is the floor: a ``Retry-After`` of 0, negative, garbage
    or an HTTP date in the past never makes the next request come sooner than a 429 without
    the header would. A longer ``Retry-After`` is honoured exactly; one beyond the deadline
    raises ``RetryBeyondDeadline`` with a message saying so. The result never exceeds ``left``.
    """
    step = next(waits)
    asked = trouble.retry_after
    if asked is not None and asked > step:
        if asked >= left:
            raise RetryBeyondDeadline(
                f"{trouble.message}; the API asked to wait {duration(asked)} (Retry-After), "
                f"beyond the deadline ({left:.1f}s left)"
            )
        return asked
    return max(0.0, min(step, left))


@dataclass
class Backoff:
    """THE retry policy for transient trouble, used by following (``follow.Follower``), the
    trigger (``commands.start.start``) and discovery's page reads
    (``commands.commit._Looker.page``).

    Two exponential schedules (``backoff_waits``), kept apart so one kind of trouble does not
    speed up the other: 429s start at ``RATE_LIMIT_BASE`` and never come back sooner than it
    (a ``Retry-After: 0`` storm is retried once a second), other trouble starts at ``base``
    seconds. ``retry_pause`` honours a longer ``Retry-After`` exactly (or raises
    ``RetryBeyondDeadline``); an honoured one gets a spread (``spread_retry_after``, when
    ``spread``) so a herd told the same second does not come back in it. ``reset`` after an
    answer starts both schedules again. Not thread-safe: one per loop.
    """

    base: float = RATE_LIMIT_BASE
    spread: bool = True
    rng: random.Random = field(default_factory=random.Random)
    _waits: Iterator[float] | None = None
    _limited: Iterator[float] | None = None

    def step(self) -> float:
        """The next step of the trouble schedule, without a ``Retry-After`` (a 404 in its grace)."""
        self._waits = self._waits or backoff_waits(self.base)
        return next(self._waits)

    def pause(self, trouble: Trouble, left: float) -> float:
        """Seconds to wait before retrying after ``trouble``, at most ``left`` (the seconds to
        the deadline). Raises ``RetryBeyondDeadline`` for a ``Retry-After`` beyond it."""
        if trouble.status == 429:
            self._limited = self._limited or backoff_waits(RATE_LIMIT_BASE)
            pause = max(retry_pause(trouble, self._limited, left), min(RATE_LIMIT_BASE, left))
        else:
            self._waits = self._waits or backoff_waits(self.base)
            pause = retry_pause(trouble, self._waits, left)
        asked = trouble.retry_after
        if self.spread and asked is not None and pause >= asked:
            pause = spread_retry_after(pause, self.rng)  # a herd told the same second
        return max(0.0, min(pause, left))

    def reset(self) -> None:
        """An answer came: the next trouble starts both schedules from their first step."""
        self._waits = self._limited = None

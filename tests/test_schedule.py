"""The progress schedule: pure rules, and what they cost when the follower follows them.

A fake clock drives ``follow.follow`` against an in-memory API whose session changes at chosen
times and ends at a chosen time; every request is counted, whatever its kind.
"""

from __future__ import annotations

import collections
import itertools
import random
from collections.abc import Sequence

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkly_gate.api import Client
from checkly_gate.follow import PollSettings, follow
from checkly_gate.models import Stop
from checkly_gate.schedule import (
    BUDGET_BURST,
    LONG_POLL_MAX,
    RATE_LIMIT_BASE,
    RUNGS,
    Backoff,
    ProgressSchedule,
    RetryBeyondDeadline,
    heartbeat_due,
    progress_key,
    spread_retry_after,
    start_delay,
)
from checkly_gate.verdict import is_settled
from tests.fakes import SID, FakeClock, row, scope_until, session_body

MINUTE = 60.0


class ScriptedSession:
    """A session that gains one finished result at each of ``changes`` (seconds after the
    start) and turns PASSED at ``ends``; counts requests by kind."""

    def __init__(self, clock: FakeClock, changes: Sequence[float], ends: float) -> None:
        self.clock = clock
        self.start = clock.now()
        self.changes = sorted(changes)
        self.ends = ends
        self.gets: list[float] = []
        self.long_polls: list[int] = []
        self.final_seen_at: float | None = None

    def elapsed(self) -> float:
        return self.clock.now() - self.start

    def body(self) -> dict[str, object]:
        done = sum(1 for t in self.changes if t <= self.elapsed())
        rows = [row(f"check {i}") for i in range(done)]
        rows.append(row("last", "RUNNING", "PENDING"))
        if self.elapsed() >= self.ends - 1e-6:  # float rounding of the fake clock
            return session_body("PASSED", [row(f"check {i}") for i in range(done + 1)])
        return session_body("RUNNING", rows)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/completion"):
            wait = int(request.url.params["maxWaitSeconds"])
            assert 1 <= wait <= LONG_POLL_MAX
            self.long_polls.append(wait)
            if self.elapsed() + wait >= self.ends:
                self.clock.advance(max(0.0, self.ends - self.elapsed()))
                self.final_seen_at = self.elapsed()
                return httpx.Response(200, json=self.body())
            self.clock.advance(wait)
            return httpx.Response(408, json={"statusCode": 408})
        self.gets.append(self.elapsed())
        return httpx.Response(200, json=self.body())

    @property
    def requests(self) -> int:
        return len(self.gets) + len(self.long_polls)


def run_session(changes: Sequence[float], ends: float, **kwargs: float) -> ScriptedSession:
    clock = FakeClock()
    api = ScriptedSession(clock, changes, ends)
    client = Client("k", "https://api.test", transport=httpx.MockTransport(api))
    obs = follow(
        client, SID, scope_until(clock, clock.now() + 1800), is_settled, PollSettings(**kwargs)
    )  # type: ignore[arg-type]
    assert obs.stop is Stop.FINAL and obs.session is not None
    assert obs.session.status == "PASSED"
    # The long-poll sees the end at once: no poll interval, no extra request.
    assert api.elapsed() == pytest.approx(ends)
    return api


# --------------------------------------------------------------------------- cost at the defaults


def test_ten_quiet_minutes_cost_at_most_3_requests_a_minute() -> None:
    api = run_session(changes=[], ends=600)
    assert api.requests / 10 <= 3.0
    assert len(api.long_polls) >= 20  # the verdict path never stops: 2 a minute is the floor
    # progress widened: reads at about 0, 10, 30, 90, 240, 390, ... seconds
    gaps = [b - a for a, b in itertools.pairwise(api.gets)]
    assert gaps[0] == pytest.approx(10, abs=1.5) and max(gaps) <= 151


def test_ten_busy_minutes_still_cost_at_most_3_requests_a_minute() -> None:
    # a result finishes every 5 s for ten minutes: the ladder restarts on every read
    api = run_session(changes=[5.0 * i for i in range(1, 120)], ends=600)
    assert api.requests / 10 <= 3.0
    # ...and progress is still read at least every poll interval (150 s by default)
    edges = [0.0, *api.gets, 600.0]
    assert max(b - a for a, b in itertools.pairwise(edges)) <= 151


@settings(max_examples=60, deadline=None)
@given(
    changes=st.lists(st.floats(0, 1200, allow_nan=False), max_size=80),
    ends=st.floats(600, 1200, allow_nan=False),
)
def test_any_session_of_10_minutes_or_more_costs_at_most_3_a_minute(
    changes: list[float], ends: float
) -> None:
    api = run_session(changes=changes, ends=ends)
    assert api.requests <= 3.0 * ends / MINUTE


def test_explicit_poll_interval_means_progress_at_least_that_often() -> None:
    api = run_session(changes=[], ends=300, poll_interval=15)
    edges = [0.0, *api.gets]
    assert max(b - a for a, b in itertools.pairwise(edges)) <= 15 * 1.1 + 1e-6
    assert len(api.gets) >= 300 / 16.5


# --------------------------------------------------------------------------- the pure rules


def test_ladder_widens_while_nothing_changes_and_restarts_on_change() -> None:
    schedule = ProgressSchedule(widest=150, started=0.0, rng=random.Random(1))
    gaps = []
    now = 0.0
    for step in range(8):
        changed = schedule.read(now, "same")
        assert changed is (step == 0)
        gaps.append(schedule._gap)
        now += schedule._gap
    for gap, rung in zip(gaps, [*RUNGS, RUNGS[-1], RUNGS[-1], RUNGS[-1]], strict=False):
        assert rung * 0.9 <= gap <= rung * 1.1
    assert schedule.read(now, "different") is True
    assert 9 <= schedule._gap <= 11


def test_widest_caps_every_gap() -> None:
    schedule = ProgressSchedule(widest=25, started=0.0, rng=random.Random(2))
    now = 0.0
    for _ in range(6):
        schedule.read(now, "same")
        assert schedule.due() - now <= 25 * 1.1 + 1e-9
        now = schedule.due()


def test_budget_delays_reads_it_cannot_pay_for_but_never_past_widest() -> None:
    schedule = ProgressSchedule(widest=150, started=0.0, rng=random.Random(3))
    for _ in range(int(BUDGET_BURST) + 20):
        schedule.sent()
    schedule.read(5.0, "x")
    assert schedule.due() == pytest.approx(5.0 + 150, rel=0.11)


def test_long_poll_length_follows_the_next_read() -> None:
    schedule = ProgressSchedule(widest=150, started=0.0, rng=random.Random(4))
    schedule.sent()
    schedule.read(0.0, "x")  # first rung: ~10 s
    wait = schedule.next_long_poll(0.0)
    assert wait is not None and 9 <= wait <= 12
    assert schedule.next_long_poll(schedule.due() - 0.5) is None  # due now: read
    for _ in range(4):
        schedule.read(0.0, "x")  # widened to 150 s
    assert schedule.next_long_poll(0.0) == LONG_POLL_MAX


def test_progress_key_ignores_elapsed_time_but_sees_new_results() -> None:
    from checkly_gate.models import parse_session

    a = parse_session(session_body("RUNNING", [row("a", "RUNNING", "PENDING")]))
    b = parse_session(
        {**session_body("RUNNING", [row("a", "RUNNING", "PENDING")]), "timeElapsed": 9}
    )
    c = parse_session(session_body("RUNNING", [row("a")]))
    assert progress_key(a) == progress_key(b) != progress_key(c)


def test_retry_pause_is_never_sooner_than_asked_and_spreads_a_herd() -> None:
    rng = random.Random(5)
    pauses = [spread_retry_after(1.0, rng) for _ in range(300)]
    assert min(pauses) >= 1.0 and max(pauses) <= 2.0
    # 300 gates told "1 s" come back spread over a second, not in one tenth of it
    buckets = {int(p * 10) for p in pauses}
    assert len(buckets) >= 9
    assert all(30.0 <= spread_retry_after(30.0, rng) <= 45.0 for _ in range(50))


def test_start_delay_is_small_and_spread() -> None:
    rng = random.Random(6)
    delays = [start_delay(2.0, 120.0, rng) for _ in range(200)]
    assert min(delays) >= 0 and max(delays) <= 2.0 and len({int(d * 4) for d in delays}) == 8
    assert max(start_delay(2.0, 0.1, rng) for _ in range(50)) <= 0.1


def test_heartbeat_due_every_minute() -> None:
    assert not heartbeat_due(0.0, 59.9) and heartbeat_due(0.0, 60.0)


# --------------------------------------------------------------------------- herds


def test_a_herd_started_in_the_same_second_does_not_poll_in_lockstep() -> None:
    herd = [run_session(changes=[], ends=300, start_jitter=2.0) for _ in range(30)]
    firsts = [api.gets[0] for api in herd]
    assert min(firsts) >= 0 and max(firsts) <= 2.0  # the first read is barely delayed
    for index in range(len(herd[0].gets)):  # and every later read keeps the spread
        times = [api.gets[index] for api in herd if index < len(api.gets)]
        assert max(times) - min(times) > 1.0
        crowd = collections.Counter(int(t * 10) for t in times)
        assert max(crowd.values()) <= 10  # never a third of them in the same tenth of a second


def test_a_herd_told_the_same_retry_after_comes_back_spread_and_never_sooner() -> None:
    returns = []
    for _ in range(30):
        clock = FakeClock()
        api = ScriptedSession(clock, [], 60)
        calls = 0

        def handler(request: httpx.Request, api: ScriptedSession = api) -> httpx.Response:
            nonlocal calls
            calls += 1
            if calls <= 2:  # a burst of 429s: the account's budget is spent
                return httpx.Response(429, headers={"Retry-After": "1"}, json={"statusCode": 429})
            return api(request)

        client = Client("k", "https://api.test", transport=httpx.MockTransport(handler))
        follow(client, SID, scope_until(clock, clock.now() + 600), is_settled, PollSettings())
        returns.append(api.gets[0])
    assert min(returns) >= 2.0  # two Retry-After: 1, each honoured in full
    assert max(returns) - min(returns) > 0.8  # ...and not all back on the same second
    assert max(collections.Counter(int(t * 10) for t in returns).values()) <= 10


def test_start_jitter_never_eats_a_short_deadline() -> None:
    clock = FakeClock()
    api = ScriptedSession(clock, [], 0.5)
    client = Client("k", "https://api.test", transport=httpx.MockTransport(api))
    settings = PollSettings(start_jitter=2.0, poll_interval=120)
    obs = follow(client, SID, scope_until(clock, clock.now() + 1.0), is_settled, settings)
    assert obs.stop is Stop.FINAL  # read within the one second there was
    assert clock.sleeps[0] <= 0.1


# --------------------------------------------------------------------------- one retry policy


class _Trouble:
    def __init__(self, status: int | None, retry_after: float | None = None) -> None:
        self.message = f"HTTP {status}"
        self.status = status
        self.retry_after = retry_after


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([429, 500, 503, None]), st.one_of(st.none(), st.floats(-5, 40))),
        min_size=1,
        max_size=12,
    ),
    st.floats(0.1, 1.0),
)
def test_backoff_never_retries_a_429_within_a_second_nor_waits_past_the_deadline(
    troubles: list[tuple[int | None, float | None]], base: float
) -> None:
    policy = Backoff(base=base, rng=random.Random(3))
    for status, retry_after in troubles:
        left = 100.0
        try:
            pause = policy.pause(_Trouble(status, retry_after), left)
        except RetryBeyondDeadline:
            assert retry_after is not None and retry_after >= left
            continue
        assert 0.0 <= pause <= left
        if status == 429:
            assert pause >= RATE_LIMIT_BASE  # a Retry-After: 0 storm: once a second at most
        if retry_after is not None and retry_after < left:
            assert pause >= min(retry_after, left)  # honoured in full, never sooner


def test_backoff_keeps_429s_apart_from_other_trouble_and_starts_again_after_an_answer() -> None:
    policy = Backoff(base=0.1, rng=random.Random(4))
    first = [policy.pause(_Trouble(503), 100.0) for _ in range(3)]
    assert max(first) <= 0.4 and first[2] >= 0.2  # 0.1, 0.2, 0.4 with equal jitter
    assert policy.pause(_Trouble(429), 100.0) >= RATE_LIMIT_BASE  # its own schedule, from 1 s
    policy.reset()
    assert policy.pause(_Trouble(503), 100.0) <= 0.1  # an answer came: from the first step
    assert Backoff(spread=False).pause(_Trouble(429, 5.0), 100.0) == 5.0  # exactly as asked

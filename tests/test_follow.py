"""The polling loop, driven by a fake clock and an in-memory transport: no real waiting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkly_gate.api import Client, CompletionUnsupported, NotFound, Transient
from checkly_gate.follow import Follower, PollSettings, follow
from checkly_gate.models import Stop, parse_session
from checkly_gate.verdict import is_settled
from tests.fakes import SID, FakeClock, row, scope_until, session_body

WALL = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
Handler = Callable[[httpx.Request], httpx.Response]


def make_client(handler: Handler, clock: FakeClock) -> Client:
    # The wall clock follows the fake monotonic clock so HTTP-date Retry-After is testable.
    start = clock.now()
    return Client(
        "secret-key-123",
        "https://api.test",
        account_id="acc-1",
        transport=httpx.MockTransport(handler),
        wall_clock=lambda: WALL + timedelta(seconds=clock.now() - start),
    )


def is_completion(request: httpx.Request) -> bool:
    return request.url.path.endswith("/completion")


def running() -> httpx.Response:
    return httpx.Response(200, json=session_body("RUNNING", [row("a", "RUNNING", "PENDING")]))


def passed() -> httpx.Response:
    return httpx.Response(200, json=session_body("PASSED", [row("a")]))


def test_long_poll_sees_completion_at_once_and_sends_auth_headers() -> None:
    clock = FakeClock()
    finished_at = clock.now() + 25
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if is_completion(request):
            wait = int(request.url.params["maxWaitSeconds"])
            if clock.now() + wait >= finished_at:
                clock.advance(finished_at - clock.now())
                return passed()
            clock.advance(wait)
            return httpx.Response(408, json={"statusCode": 408})
        return passed() if clock.now() >= finished_at else running()

    obs = follow(
        make_client(handler, clock),
        SID,
        scope_until(clock, clock.now() + 600),
        is_settled,
        PollSettings(),
    )
    assert obs.stop is Stop.FINAL and obs.session is not None and obs.session.status == "PASSED"
    # The verdict is seen the moment the session finished, not a poll interval later.
    assert clock.now() == pytest.approx(finished_at)
    # The progress ladder (10, 20, 30, 60 s...) sets each long-poll, never above Checkly's 30.
    waits = [int(r.url.params["maxWaitSeconds"]) for r in seen if is_completion(r)]
    assert 9 <= waits[0] <= 11 and max(waits) <= 30
    first = seen[0]
    assert first.headers["authorization"] == "Bearer secret-key-123"
    assert first.headers["x-checkly-account"] == "acc-1"
    assert first.headers["user-agent"].startswith("checkly-gate/")


def test_defaults_cost_at_most_12_requests_a_minute() -> None:
    clock = FakeClock()
    count = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal count
        count += 1
        if is_completion(request):
            clock.advance(int(request.url.params["maxWaitSeconds"]))
            return httpx.Response(408)
        return running()

    obs = follow(
        make_client(handler, clock),
        SID,
        scope_until(clock, clock.now() + 600),
        is_settled,
        PollSettings(),
    )
    assert obs.stop is Stop.DEADLINE
    assert count / 10 <= 12.5  # ten minutes of waiting


def test_early_408_still_keeps_one_poll_interval_between_fetches() -> None:
    clock = FakeClock()
    count = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal count
        count += 1
        return httpx.Response(408) if is_completion(request) else running()

    follow(
        make_client(handler, clock),
        SID,
        scope_until(clock, clock.now() + 60),
        is_settled,
        PollSettings(),
    )
    assert count <= 14  # 6 cycles of GET + completion in 60 s, give or take one


def test_retry_after_seconds_is_honoured_exactly() -> None:
    clock = FakeClock()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls <= 2:
            return httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow"})
        return passed()

    obs = follow(
        make_client(handler, clock),
        SID,
        scope_until(clock, clock.now() + 600),
        is_settled,
        PollSettings(),
    )
    assert obs.stop is Stop.FINAL
    # Never sooner than asked; a spread of up to half of it on top (at least 1 s) unlocks a herd.
    assert all(7.0 <= s <= 10.5 for s in clock.sleeps[:2])


def test_retry_after_http_date_is_honoured() -> None:
    clock = FakeClock()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            when = format_datetime(WALL + timedelta(seconds=12), usegmt=True)
            return httpx.Response(429, headers={"Retry-After": when})
        return passed()

    follow(
        make_client(handler, clock),
        SID,
        scope_until(clock, clock.now() + 600),
        is_settled,
        PollSettings(),
    )
    assert 12.0 - 1e-6 <= clock.sleeps[0] <= 18.0 + 1e-6


def test_retry_after_beyond_the_deadline_gives_up_at_once_as_unavailable() -> None:
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "120"})

    start = clock.now()
    obs = follow(
        make_client(handler, clock), SID, scope_until(clock, start + 60), is_settled, PollSettings()
    )
    assert obs.stop is Stop.DEADLINE and obs.error_is_current and obs.session is None
    assert clock.now() - start < 1  # no pointless sleeping until the deadline
    assert "Retry-After" in (obs.error or "")


def test_transient_errors_back_off_exponentially_with_jitter() -> None:
    clock = FakeClock()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("connection refused")
        if calls == 2:
            return httpx.Response(502, text="<html><title>Bad gateway</title></html>")
        if calls == 3:
            return httpx.Response(200, text="{truncated")
        if calls == 4:
            return httpx.Response(200, json={"ok": True})
        if calls == 5:
            raise httpx.ReadError("connection reset by peer")
        return passed()

    obs = follow(
        make_client(handler, clock),
        SID,
        scope_until(clock, clock.now() + 600),
        is_settled,
        PollSettings(),
    )
    assert obs.stop is Stop.FINAL and not obs.error_is_current
    waits = clock.sleeps[:5]
    # Equal jitter on 1, 2, 4, 8, 16: each wait lies in [v/2, v].
    for wait, nominal in zip(waits, [1, 2, 4, 8, 16], strict=True):
        assert nominal / 2 <= wait <= nominal


def test_api_down_until_deadline_is_unavailable_and_never_overruns() -> None:
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"message": "maintenance"})

    start = clock.now()
    obs = follow(
        make_client(handler, clock),
        SID,
        scope_until(clock, start + 120),
        is_settled,
        PollSettings(),
    )
    assert obs.stop is Stop.DEADLINE and obs.error_is_current
    assert "503" in (obs.error or "")
    assert clock.now() <= start + 120 + 1e-6


@pytest.mark.parametrize("status", [400, 401, 403])
def test_refusals_are_not_retried(status: int) -> None:
    clock = FakeClock()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(status, json={"statusCode": status, "message": "nope"})

    obs = follow(
        make_client(handler, clock),
        SID,
        scope_until(clock, clock.now() + 600),
        is_settled,
        PollSettings(),
    )
    assert obs.stop is Stop.REFUSED and calls == 1
    assert "nope" in (obs.error or "") and "hint" in (obs.error or "")


def test_404_is_retried_within_the_grace_period_then_found() -> None:
    clock = FakeClock()
    start = clock.now()

    def handler(request: httpx.Request) -> httpx.Response:
        if clock.now() - start < 8:
            return httpx.Response(404, json={"message": "Not Found"})
        return passed()

    obs = follow(
        make_client(handler, clock),
        SID,
        scope_until(clock, start + 600),
        is_settled,
        PollSettings(),
    )
    assert obs.stop is Stop.FINAL


def test_404_beyond_grace_is_not_found_even_if_deadline_comes_first() -> None:
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"message": "Not Found"})

    start = clock.now()
    obs = follow(
        make_client(handler, clock),
        SID,
        scope_until(clock, start + 600),
        is_settled,
        PollSettings(),
    )
    assert obs.stop is Stop.NOT_FOUND
    assert 30 <= clock.now() - start <= 31
    clock2 = FakeClock()
    obs = follow(
        make_client(handler, clock2),
        SID,
        scope_until(clock2, clock2.now() + 10),
        is_settled,
        PollSettings(),
    )
    assert obs.stop is Stop.NOT_FOUND


def test_completion_endpoint_missing_falls_back_to_plain_polling() -> None:
    clock = FakeClock()
    paths: list[str] = []
    start = clock.now()

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if is_completion(request):
            return httpx.Response(404)
        return passed() if clock.now() - start > 35 else running()

    obs = follow(
        make_client(handler, clock),
        SID,
        scope_until(clock, start + 600),
        is_settled,
        PollSettings(),
    )
    assert obs.stop is Stop.FINAL
    assert sum(p.endswith("/completion") for p in paths) == 1
    # The progress ladder (10, 20, 30 s, ±10% jitter), never wider than 30 s without long-poll.
    assert all(9 <= s <= 33 for s in clock.sleeps)


def test_no_long_poll_never_calls_completion() -> None:
    clock = FakeClock()
    paths: list[str] = []
    start = clock.now()

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return passed() if clock.now() - start > 25 else running()

    follow(
        make_client(handler, clock),
        SID,
        scope_until(clock, start + 600),
        is_settled,
        PollSettings(long_poll=False),
    )
    assert not any(p.endswith("/completion") for p in paths) and len(paths) >= 3


def test_final_session_with_pending_rows_is_settled_before_judging() -> None:
    clock = FakeClock()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return httpx.Response(
                200, json=session_body("PASSED", [row("a"), row("b", "RUNNING", "PENDING")])
            )
        return httpx.Response(200, json=session_body("PASSED", [row("a"), row("b", "FAILED")]))

    obs = follow(
        make_client(handler, clock),
        SID,
        scope_until(clock, clock.now() + 600),
        is_settled,
        PollSettings(),
    )
    assert obs.stop is Stop.FINAL and calls == 2
    assert obs.session is not None and obs.session.results[1].status == "FAILED"


def test_settle_window_is_bounded() -> None:
    clock = FakeClock()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json=session_body("PASSED", [row("b", "RUNNING", "PENDING")]))

    start = clock.now()
    obs = follow(
        make_client(handler, clock),
        SID,
        scope_until(clock, start + 600),
        is_settled,
        PollSettings(),
    )
    assert obs.stop is Stop.FINAL and calls == 4
    assert clock.now() - start <= 5.0 + 1e-6


def test_deadline_while_running_is_a_deadline_stop_with_the_last_session() -> None:
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        if is_completion(request):
            clock.advance(int(request.url.params["maxWaitSeconds"]))
            return httpx.Response(408)
        return running()

    start = clock.now()
    obs = follow(
        make_client(handler, clock), SID, scope_until(clock, start + 45), is_settled, PollSettings()
    )
    assert obs.stop is Stop.DEADLINE and not obs.error_is_current
    assert obs.session is not None and obs.session.status == "RUNNING"
    assert clock.now() <= start + 46


def test_a_stopped_scope_ends_the_loop() -> None:
    clock = FakeClock()
    scope = scope_until(clock, clock.now() + 600)
    scope.stop(15)
    obs = follow(make_client(lambda r: running(), clock), SID, scope, is_settled, PollSettings())
    assert obs.stop is Stop.INTERRUPTED


@pytest.mark.parametrize("other", ["7d4e1b2a-3c5d-4e6f-8a9b-0c1d2e3f4a5b", "", "x\n::error::y"])
def test_another_sessions_body_is_retried_never_taken_for_the_session(other: str) -> None:
    """A misrouted or cached answer (another ``testSessionId``, PASSED) is trouble to retry on
    every endpoint, never the session's state; the real answer after it is taken."""
    clock = FakeClock()
    answers = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal answers
        answers += 1
        body = session_body("PASSED", [row("a")])
        if answers <= 3:
            body["testSessionId"] = other
        return httpx.Response(200, json=body)

    obs = follow(
        make_client(handler, clock),
        SID,
        scope_until(clock, clock.now() + 600),
        is_settled,
        PollSettings(),
    )
    assert obs.stop is Stop.FINAL and obs.session is not None
    assert obs.session.session_id == SID and answers >= 4


def test_only_another_sessions_body_until_the_deadline_is_never_read() -> None:
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=session_body("PASSED", [row("a")], sid="other-session"))

    obs = follow(
        make_client(handler, clock),
        SID,
        scope_until(clock, clock.now() + 60),
        is_settled,
        PollSettings(),
    )
    assert obs.session is None and obs.stop is Stop.DEADLINE
    assert obs.error is not None and "testSessionId 'other-session'" in obs.error


# A completion endpoint that keeps failing while GET works: each cheap GET success used to
# reset the backoff and send the gate straight back to the failing long-poll (GET + completion
# every ~0.7 s, ~170 requests a minute against a shared 600/min account budget).
_BROKEN_COMPLETIONS = st.sampled_from(
    [
        (429, {"Retry-After": "0"}, b""),
        (429, {"Retry-After": "-5"}, b""),
        (429, {"Retry-After": "soon"}, b""),
        (429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, b""),
        (429, {}, b""),
        (500, {}, b"x"),
        (503, {}, b""),
        (200, {}, b"<html>"),
        (200, {}, b"[1]"),
        (200, {}, b""),
        (204, {}, b""),
    ]
)


@settings(max_examples=25, deadline=None)
@given(broken=_BROKEN_COMPLETIONS)
def test_a_failing_completion_endpoint_keeps_the_request_budget(
    broken: tuple[int, dict[str, str], bytes],
) -> None:
    status, headers, content = broken
    clock = FakeClock()
    count = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal count
        count += 1
        if is_completion(request):
            return httpx.Response(status, headers=headers, content=content)
        return running()

    obs = follow(
        make_client(handler, clock),
        SID,
        scope_until(clock, clock.now() + 120),
        is_settled,
        PollSettings(),
    )
    assert obs.stop is Stop.DEADLINE
    assert count / 2 <= 20  # two minutes; a healthy long-poll costs ~12 a minute


# --------------------------------------------------------------------------- one handler each
# Each outcome of a read has its own handler on ``Follower``; these drive one handler at a time
# on a fake clock, with a source that must not be read.


class _NoReads:
    def get_session(self, session_id: str, timeout: float = 0) -> tuple[Any, bytes]:
        raise AssertionError("the handler must not read")

    def await_completion(self, session_id: str, max_wait: int, timeout: float) -> None:
        raise AssertionError("the handler must not read")


def follower(clock: FakeClock, seconds: float = 600, **settings: Any) -> Follower:
    scope = scope_until(clock, clock.now() + seconds)
    return Follower(_NoReads(), SID, scope, is_settled, PollSettings(**settings))


def test_handler_not_found_retries_within_the_grace_and_ends_after_it() -> None:
    clock = FakeClock()
    f = follower(clock, not_found_grace=30.0)
    assert f.on_not_found(NotFound("HTTP 404")) is None  # just triggered: not readable yet
    assert len(clock.sleeps) == 1 and 0 < clock.sleeps[0] <= 1.0 and f.error_current
    clock.advance(30)
    obs = f.on_not_found(NotFound("HTTP 404"))
    assert obs is not None and obs.stop is Stop.NOT_FOUND and obs.error == "HTTP 404"


def test_handler_not_found_after_the_session_was_seen_is_gone_at_once() -> None:
    clock = FakeClock()
    f = follower(clock)
    f.session = parse_session(session_body("RUNNING", [row("a", "RUNNING", "PENDING")]))
    obs = f.on_not_found(NotFound("HTTP 404"))
    assert obs is not None and obs.stop is Stop.NOT_FOUND and clock.sleeps == []


def test_handler_trouble_backs_off_and_a_retry_after_beyond_the_deadline_ends_it() -> None:
    clock = FakeClock()
    f = follower(clock, seconds=60)
    assert f.on_trouble(Transient("HTTP 503", status=503)) is None
    assert len(clock.sleeps) == 1 and 0 < clock.sleeps[0] <= 1.0 and f.error == "HTTP 503"
    obs = f.on_trouble(Transient("HTTP 429", status=429, retry_after=120))
    assert obs is not None and obs.stop is Stop.DEADLINE and obs.error_is_current
    assert obs.error is not None and "Retry-After" in obs.error and len(clock.sleeps) == 1


def test_handler_trouble_on_the_long_poll_falls_back_to_a_get() -> None:
    clock = FakeClock()
    f = follower(clock)
    f.mode = "completion"
    assert f.on_trouble(Transient("HTTP 502", status=502)) is None
    assert f.mode == "get" and f.completion_failed


def test_handler_still_running_waits_out_the_time_asked_for() -> None:
    clock = FakeClock()
    f = follower(clock)
    f.asked_end = clock.now() + 25
    clock.advance(3)  # a server that ends its long-poll early
    f.on_still_running()
    assert clock.sleeps == [22.0]


def test_handler_completion_unsupported_switches_to_plain_polling() -> None:
    clock = FakeClock()
    f = follower(clock)
    f.mode = "completion"
    assert f.on_completion_unsupported(CompletionUnsupported("HTTP 404 on /completion")) is None
    assert not f.long_poll and f.mode == "get" and len(clock.sleeps) == 1


def test_handler_final_rereads_an_unsettled_session_then_judges_it_as_it_is() -> None:
    clock = FakeClock()
    f = follower(clock, settle_window=6.0, settle_attempts=3)
    unsettled = parse_session(session_body("PASSED", [row("a", "RUNNING", "PENDING")]))
    f.session = unsettled
    assert [f.on_final(unsettled) for _ in range(3)] == [None, None, None]
    assert clock.sleeps == [2.0, 2.0, 2.0]
    obs = f.on_final(unsettled)
    assert obs is not None and obs.stop is Stop.FINAL and obs.session is unsettled
    settled = parse_session(session_body("PASSED", [row("a")]))
    assert follower(FakeClock()).on_final(settled) is not None  # settled: judged at once

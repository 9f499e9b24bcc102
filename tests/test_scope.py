"""The scope: one deadline and one stop for every wait and every exchange of the client."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import checkly_gate
from checkly_gate.api import (
    MAX_BODY_BYTES,
    Client,
    OutOfTime,
    Stopped,
    Transient,
    parse_retry_after,
)
from checkly_gate.follow import PollSettings, follow
from checkly_gate.models import Stop
from checkly_gate.scope import Scope, signals_stop
from checkly_gate.simulator import Fault, Simulator, load_scenario
from checkly_gate.verdict import is_settled
from tests.fakes import SID, FakeClock, scope_until
from tests.hostile import HostileProxy
from tests.tools import clean_env

GATE = (sys.executable, "-m", "checkly_gate")


def test_sleep_never_passes_the_deadline_and_wakes_on_stop() -> None:
    scope = Scope(0.2)
    start = time.monotonic()
    scope.sleep(5)
    assert time.monotonic() - start < 1.0 and scope.expired
    scope = Scope(30)
    threading.Timer(0.1, scope.stop, args=(signal.SIGTERM,)).start()
    start = time.monotonic()
    scope.sleep(10)
    assert time.monotonic() - start < 2.0
    assert scope.stopped and scope.signal == signal.SIGTERM


def test_children_stop_with_the_parent_unless_shielded_and_opened_after() -> None:
    root = Scope(30)
    with root.child(10) as phase:
        assert phase.deadline <= root.deadline
        root.deliver(signal.SIGINT)
        assert phase.stopped and phase.signal == signal.SIGINT
    with root.child(1.5, shield=True) as cancelling:
        assert not cancelling.stopped  # opened after the first signal: not ended by it
        root.deliver(signal.SIGTERM)
        assert cancelling.stopped
    assert root.signal == signal.SIGINT  # the first signal is the one the exit code names


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(scenario=load_scenario("never-ends"), api_key="k") as s:
        yield s


@pytest.mark.parametrize("behaviour", ["drip", "silent", "endless"])
def test_an_exchange_is_bounded_as_a_whole_by_the_deadline(sim, behaviour: str) -> None:
    with HostileProxy(sim, "session", behaviour) as proxy:
        client = Client("k", proxy.url, scope=Scope(0.6))
        start = time.monotonic()
        with pytest.raises(OutOfTime, match="before the deadline"):
            client.get_session(SID, timeout=30)
        assert time.monotonic() - start < 1.5
        client.close()


def test_an_exchange_is_bounded_by_its_own_cap(sim) -> None:
    with HostileProxy(sim, "session", "drip") as proxy:
        client = Client("k", proxy.url, scope=Scope(30))
        start = time.monotonic()
        with pytest.raises(Transient, match=r"within 0\.5s") as err:
            client.get_session(SID, timeout=0.5)
        assert not isinstance(err.value, OutOfTime) and err.value.timed_out
        assert time.monotonic() - start < 1.5
        client.close()


def _http_workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("http-")]


@pytest.mark.parametrize("behaviour", ["silent", "endless"])
def test_a_stop_abandons_an_exchange_in_flight(sim, behaviour: str) -> None:
    with HostileProxy(sim, "session", behaviour) as proxy:
        scope = Scope(30)
        client = Client("k", proxy.url, scope=scope)
        threading.Timer(0.3, scope.stop, args=(signal.SIGINT,)).start()
        start = time.monotonic()
        with pytest.raises(Stopped) as err:
            client.get_session(SID, timeout=30)
        assert time.monotonic() - start < 1.5 and err.value.signal == signal.SIGINT
        with pytest.raises(Stopped):  # nothing new starts under a stopped scope
            client.get_session(SID, timeout=30)
        assert client.requests == 1
        # The owner shut the connection down: the abandoned worker ends too, it does not
        # linger until its own 30 s timeout.
        ended = time.monotonic() + 2
        while _http_workers() and time.monotonic() < ended:
            time.sleep(0.02)
        assert not _http_workers()
        client.close()


def test_a_body_beyond_the_size_cap_is_refused_early(sim) -> None:
    with HostileProxy(sim, "session", "huge") as proxy:
        client = Client("k", proxy.url, scope=Scope(30))
        with pytest.raises(Transient, match="larger than 64 MiB"):
            client.get_session(SID, timeout=30)
        client.close()
    assert MAX_BODY_BYTES < 200 * 1024 * 1024


def test_signals_reach_the_scope_and_never_raise_into_the_main_thread() -> None:
    scope = Scope(30)
    with signals_stop(scope) as received:
        os.kill(os.getpid(), signal.SIGTERM)
        scope.sleep(5)  # woken by the signal
        assert scope.stopped and scope.signal == signal.SIGTERM
        os.kill(os.getpid(), signal.SIGINT)  # recorded, no KeyboardInterrupt
        deadline = time.monotonic() + 2
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert received == [signal.SIGTERM, signal.SIGINT]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# -- Retry-After has a floor ------------------------------------------------------------------

WALL = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)


def _limited_follow(header: str | None, seconds: float) -> tuple[list[float], int, str | None]:
    """Follow a session the API answers only with 429 (``Retry-After: header``) for
    ``seconds`` of fake time. Returns the sleeps, the requests and the final error."""
    clock = FakeClock()
    count = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal count
        count += 1
        headers = {} if header is None else {"Retry-After": header}
        return httpx.Response(429, headers=headers, json={"message": "slow down"})

    start = clock.now()
    client = Client(
        "k",
        "https://api.test",
        transport=httpx.MockTransport(handler),
        wall_clock=lambda: WALL + timedelta(seconds=clock.now() - start),
    )
    obs = follow(
        client,
        SID,
        scope_until(clock, start + seconds),
        is_settled,
        PollSettings(poll_interval=0.2),
    )
    assert obs.stop is Stop.DEADLINE
    return clock.sleeps, count, obs.error


PAST = format_datetime(WALL - timedelta(minutes=5), usegmt=True)


@settings(max_examples=60, deadline=None)
@given(
    header=st.one_of(
        st.sampled_from(["0", "-5", "0.0", "soon", "", PAST, "1e9", "NaN", "Thu, 99 Foo"]),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
        st.integers(min_value=-(10**6), max_value=0).map(str),
    )
)
def test_a_429_is_never_retried_sooner_than_the_backoff_step(header: str) -> None:
    sleeps, count, error = _limited_follow(header, 60)
    _, plain_count, _ = _limited_follow(None, 60)
    # Equal jitter on a 1 s first step: never less than half a second between requests.
    assert all(s >= 0.5 for s in sleeps[:-1]), sleeps
    assert count <= plain_count + 2  # no faster than a 429 without the header
    asked = parse_retry_after(header, WALL)
    if asked is None or asked < 0.5:  # nothing to wait for: never "beyond the deadline"
        assert "beyond the deadline" not in (error or "")


def test_a_retry_after_beyond_the_deadline_says_so() -> None:
    sleeps, count, error = _limited_follow("120", 60)
    assert count == 1 and not sleeps
    assert "asked to wait 120s (Retry-After), beyond the deadline" in (error or "")


def test_a_retry_after_storm_is_about_one_request_a_second_end_to_end() -> None:
    """Every GET answered 429 with Retry-After 0: the simulator counts the requests."""
    scenario = replace(
        load_scenario("never-ends"), faults=(Fault(kind="rate-limit", retry_after=0),)
    )
    with Simulator(scenario=scenario, api_key="k") as s:
        proc = subprocess.run(
            [*GATE, "wait", SID, "--api-url", s.url, "--timeout", "3", "--poll-interval", "0.2"],
            env={**clean_env(), "CHECKLY_API_KEY": "k"},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 6, proc.stdout + proc.stderr
    # 3 s at about one request a second (equal jitter on 1 s, 2 s, ...): 68 before the fix.
    assert 2 <= len(s.requests) <= 4, [round(r.at - s.requests[0].at, 2) for r in s.requests]
    assert "beyond the deadline" not in proc.stdout + proc.stderr


# -- the rule: no network call exists outside the scope owner -------------------------------

CLIENT_CALLS = {"get", "post", "put", "patch", "delete", "head", "request", "stream", "Client"}
CLIENT_MODULES = {"urllib.request", "http.client", "requests", "aiohttp", "urllib3"}
# Names from those modules that make no request: urllib's NO_PROXY matching (proxies.py).
NO_NETWORK = {("urllib.request", "proxy_bypass_environment")}


def test_no_network_call_exists_outside_the_scope_bound_client() -> None:
    """Only ``api.py`` may talk HTTP, and ``publish/http.py`` (the publishers' one exchange,
    ``api._Exchange`` under the ``Scope`` it is bound to); everything else goes through
    ``api.Client``, which is bound to a scope. (The simulator serves HTTP, it never calls out.)"""
    root = Path(checkly_gate.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "api.py" and path.parent == root:
            continue
        if path.relative_to(root).as_posix() == "publish/http.py":  # bound to a Scope, per call
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "httpx"
                and node.attr in CLIENT_CALLS
            ):
                offenders.append(f"{path.relative_to(root)}:{node.lineno} httpx.{node.attr}")
            if isinstance(node, ast.Import):
                names = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported = {(node.module or "", a.name) for a in node.names}
                names = {node.module or ""} if imported - NO_NETWORK else set()
                if node.module == "httpx":
                    names |= {f"httpx.{a.name}" for a in node.names if a.name in CLIENT_CALLS}
            else:
                continue
            for name in names & (CLIENT_MODULES | {f"httpx.{c}" for c in CLIENT_CALLS}):
                offenders.append(f"{path.relative_to(root)}:{node.lineno} imports {name}")
    assert offenders == []

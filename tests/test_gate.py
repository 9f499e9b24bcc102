"""The gate's shell: a stuck or broken follower can neither hang the pipeline nor turn green."""

from __future__ import annotations

import io
import threading
import time

import httpx
import pytest

from checkly_gate import gate
from checkly_gate.config import Options
from checkly_gate.gate import WATCHDOG_GRACE
from checkly_gate.verdict import Outcome
from tests.fakes import SID, row, session_body, wait_for


def options(timeout: float = 1.0) -> Options:
    return Options(
        session_ids=(SID,),
        api_key="k-123456",
        api_url="https://api.test",
        timeout=timeout,
        poll_interval=0.1,
    )


def test_a_request_that_never_returns_cannot_outlive_the_deadline() -> None:
    release = threading.Event()

    def stuck(request: httpx.Request) -> httpx.Response:
        release.wait(30)  # a transport that ignores its timeout
        return httpx.Response(503)

    start = time.monotonic()
    try:
        run = wait_for(options(1.0), io.StringIO(), transport=httpx.MockTransport(stuck))
    finally:
        release.set()
    # The scope abandons the exchange at the deadline itself; the watchdog is not needed.
    assert time.monotonic() - start < 1.0 + min(WATCHDOG_GRACE, 1.0)
    assert run.verdict.outcome is Outcome.UNAVAILABLE and run.verdict.exit_code == 6
    assert (
        "no complete answer" in run.verdict.reason and "before the deadline" in run.verdict.reason
    )


def test_an_internal_error_in_a_follower_is_never_green() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("bug in a transport")

    out = io.StringIO()
    run = wait_for(options(5.0), out, transport=httpx.MockTransport(broken))
    assert run.verdict.exit_code == 6
    assert "internal error" in run.verdict.reason


def test_error_details_have_a_budget_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """The verdict is known: a slow error-group endpoint delays the reports by at most the
    explain budget, not by the rest of a long --timeout."""
    monkeypatch.setattr(gate, "EXPLAIN_BUDGET", 0.5)
    release = threading.Event()
    failed = session_body("FAILED", [row("Checkout", "FAILED", errorGroupIds=["eg-1"])])

    def handler(request: httpx.Request) -> httpx.Response:
        if "error-groups" in request.url.path:
            release.wait(30)
            return httpx.Response(503)
        return httpx.Response(200, json=failed)

    start = time.monotonic()
    try:
        run = wait_for(
            options(30.0),
            io.StringIO(),
            transport=httpx.MockTransport(handler),
        )
    finally:
        release.set()
    assert time.monotonic() - start < 3.0
    assert run.verdict.exit_code == 1 and run.error_messages == {}


def test_a_session_asked_for_twice_is_followed_once_and_ends_at_once() -> None:
    # `done` is keyed by id: with a duplicate id (a trigger answer listing one check session
    # twice) "all done" never came, and the gate sat out the deadline plus the watchdog grace.
    import dataclasses

    body = session_body("PASSED", [row()])
    twice = dataclasses.replace(options(5.0), session_ids=(SID, SID))
    start = time.monotonic()
    run = wait_for(
        twice,
        io.StringIO(),
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json=body)),
    )
    assert time.monotonic() - start < 3.0
    assert run.verdict.exit_code == 0

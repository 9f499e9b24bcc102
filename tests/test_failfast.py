"""failfast.py: the first definite failure, against the simulator's fail-fast timeline."""

from __future__ import annotations

import time
import uuid

import pytest

from checkly_gate.api import Client
from checkly_gate.failfast import definite_failures
from checkly_gate.models import parse_session
from checkly_gate.simulator import load_scenario
from checkly_gate.verdict import Category, group_runs
from tests.fakes import row, session_body

KEY = "sim-failfast-key"


def test_rows() -> None:
    rows = [
        row("Checkout", "FAILED"),
        row("Errored", "FAILED", hasErrors=True, hasFailures=False),
        row("Retrying", "FAILED", "ATTEMPT"),
        row("Unknown", "EXPLODED"),
        row("Cancelled", "CANCELLED", aborted=True),
        row("Homepage"),
    ]
    found = definite_failures(parse_session(session_body("RUNNING", rows)))
    assert [run.name for run in found] == ["Checkout", "Errored"]
    assert definite_failures(None) == ()


def test_a_flaky_retry_in_progress_is_not_definite_and_the_failure_at_2s_is(serve) -> None:
    speed = 4.0
    sim = serve(load_scenario("fail-fast"), speed=speed)
    sid = str(uuid.uuid4())
    client = Client(KEY, sim.url)
    retrying_seen = False
    found = ()
    end = time.monotonic() + 20
    while time.monotonic() < end:
        session, _raw = client.get_session(sid, timeout=10)
        found = definite_failures(session)
        runs = {run.name: run for run in group_runs(session.results)}
        search = runs["Search suite"]
        if search.failed_attempts and search.category is Category.PENDING:
            retrying_seen = True
            assert all(run.name != "Search suite" for run in found)
        if found:
            assert session.status == "RUNNING"  # the session runs on for 60 s
            break
        time.sleep(0.02)
    client.close()
    assert [run.name for run in found] == ["Checkout flow"]
    assert retrying_seen


@pytest.mark.parametrize(("given", "fail_fast", "widest"), [
    (150.0, True, 5.0), (2.0, True, 2.0), (150.0, False, 150.0),
])  # fmt: skip
def test_fail_fast_reads_progress_at_least_every_5_seconds(
    given: float, fail_fast: bool, widest: float
) -> None:
    """The long-poll answers only when the session ends, so a failure is seen at the next
    progress read: within 5 s under --fail-fast, not within --poll-interval's 150 s."""
    from checkly_gate.config import Options
    from checkly_gate.gate import poll_settings

    options = Options(session_ids=(), api_key="k", poll_interval=given, fail_fast=fail_fast)
    assert poll_settings(options).poll_interval == widest

"""The must-show property of issue 21 through the real engine: ``gate.wait`` in this process
against the simulator over HTTP (and a port nothing listens on), with every combination of
the context options. No combination turns an unknown value, a cancelled session or API trouble
(refused, unavailable) into exit 0 unless ``--shadow`` is set; with ``--shadow`` the exit is 0
and the gate still says the non-zero code it would have exited with."""

from __future__ import annotations

import datetime as dt
import io
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkly_gate import deploy, gate
from checkly_gate.config import Options
from checkly_gate.context import open_command
from checkly_gate.quarantine import Entry
from checkly_gate.simulator import Scenario, Simulator
from tests.fakes import row, session_body

KEY = "cu_ctx_" + uuid.uuid4().hex
SHA = "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"
CHECKS = ("Checkout flow", "Homepage")


def _bodies() -> dict[str, dict[str, Any]]:
    """Sessions none of which may ever be green: cancelled (with a definite failure a
    quarantine could name), an unknown result status beside a definite failure, and an unknown
    result status in a PASSED session."""
    failed = row("Checkout flow", "FAILED", hasFailures=True)
    cases = {
        "cancelled": ("CANCELLED", [failed, row("Homepage", "CANCELLED")]),
        "unknown+failed": ("FAILED", [row("Checkout flow", "FAILED", hasFailures=True),
                                      row("Homepage", "EXPLODED")]),
        "unknown": ("PASSED", [row("Homepage", "EXPLODED")]),
    }  # fmt: skip
    bodies = {}
    for name, (status, results) in cases.items():
        sid = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
        body = session_body(status, results, sid=sid)
        body["metadata"]["commitId"] = SHA
        bodies[name] = body
    return bodies


BODIES = _bodies()


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    sessions = {b["testSessionId"]: Scenario(name="static", body=b) for b in BODIES.values()}
    simulator = Simulator(sessions=sessions, api_key=KEY).start()
    yield simulator
    simulator.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


UNREACHABLE = f"http://127.0.0.1:{_free_port()}"
TODAY = dt.datetime.now(dt.timezone.utc).date()


@settings(
    deadline=None, max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    case=st.sampled_from([*BODIES, "refused", "unavailable"]),
    expect_commit=st.sampled_from(["auto", "off", SHA[:7], "0" * 40]),
    fail_on=st.sampled_from(["any", "new"]),
    fail_fast=st.booleans(),
    cancel_on_fail=st.booleans(),
    quarantined=st.booleans(),
    details=st.booleans(),
    shadow=st.booleans(),
    ci_commit=st.sampled_from(["", SHA]),
)
def test_no_option_turns_unknown_cancelled_or_api_trouble_into_exit_0(
    sim: Simulator,
    case: str,
    expect_commit: str,
    fail_on: str,
    fail_fast: bool,
    cancel_on_fail: bool,
    quarantined: bool,
    details: bool,
    shadow: bool,
    ci_commit: str,
) -> None:
    sid = BODIES[case]["testSessionId"] if case in BODIES else str(uuid.uuid4())
    entries = tuple(
        Entry(name, "@team", "flaky", TODAY + dt.timedelta(days=30), i + 2)
        for i, name in enumerate(CHECKS)
        if quarantined
    )
    options = Options(
        session_ids=(sid,),
        api_key=KEY if case != "refused" else "cu_wrong_" + uuid.uuid4().hex,
        api_url=UNREACHABLE if case == "unavailable" else sim.url,
        timeout=2.5,
        poll_interval=0.2,
        not_found_grace=0.0,
        details=details,
        expect_commit=expect_commit,
        fail_on=fail_on,
        fail_fast=fail_fast,
        cancel_on_fail=cancel_on_fail,
        shadow=shadow,
        quarantine=entries,
    )
    env = {"GITHUB_SHA": ci_commit} if ci_commit else {}
    out = io.StringIO()
    with open_command(options, out, env, handle_signals=False) as ctx:
        run = gate.wait(ctx, gate.test_sessions([sid]), got=deploy.GIVEN)
    if shadow:
        assert run.verdict.exit_code == 0
        assert run.would_exit_code not in (None, 0), out.getvalue()
        assert f"shadow: the gate would have exited {run.would_exit_code}" in out.getvalue()
    else:
        assert run.verdict.exit_code != 0, (case, out.getvalue())
        assert run.would_exit_code is None

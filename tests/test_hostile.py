"""One deadline bounds every byte: each endpoint, each hostile behaviour, the real process.

A server on 127.0.0.1 answers one endpoint with headers and then a 1-byte/s body, with
nothing at all, or with a chunked body that never ends; the rest of the API is the simulator.
Whatever the endpoint, the gate ends by --timeout + 2 s with the documented exit code and
every requested report written.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checkly_gate.simulator import Simulator, load_scenario
from tests.hostile import BEHAVIOURS, CASES, ENDPOINTS, REPORTS, HostileProxy
from tests.tools import clean_env

KEY = "cu_hostile_" + "x" * 16
TIMEOUT = 2.0
# The phase before the hostile endpoint needs time of its own: error groups are asked for only
# once the session has ended (the simulator's failing run, about 1 s at speed 20, and far more
# of the gate's 2 s on a loaded machine, where it never got there).
TIMEOUT_FOR = {"error-group": 8.0}


def run_against(
    proxy: HostileProxy,
    args: tuple[str, ...],
    cwd: Path,
    signal_after: str | None,
    timeout: float = TIMEOUT,
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the gate through ``proxy``; SIGTERM it once ``signal_after`` was requested.
    Returns the process and the seconds from start (or from the signal) to exit."""
    cmd = [
        sys.executable,
        "-m",
        "checkly_gate",
        *args,
        "--api-url",
        proxy.url,
        "--poll-interval",
        "0.2",
        "--timeout",
        str(timeout),
        *REPORTS,
    ]
    env = {**clean_env(), "CHECKLY_API_KEY": KEY, "NO_COLOR": "1"}
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    if signal_after is not None:
        while not proxy.hits(signal_after) and time.monotonic() - start < 20:
            time.sleep(0.02)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr), (
        time.monotonic() - start
    )


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_hostile_endpoint_cannot_outlive_the_deadline(
    tmp_path: Path, endpoint: str, behaviour: str
) -> None:
    case = CASES[endpoint]
    with (
        Simulator(scenario=load_scenario(case.scenario), api_key=KEY, speed=20) as sim,
        HostileProxy(sim, endpoint, behaviour) as proxy,
    ):
        timeout = TIMEOUT_FOR.get(endpoint, TIMEOUT)
        proc, took = run_against(proxy, case.args, tmp_path, case.signal_after, timeout)
        assert proxy.hits(endpoint), f"the gate never reached {endpoint}"
    log = proc.stdout + proc.stderr
    assert proc.returncode == case.code, log
    assert "Traceback" not in proc.stderr
    out = tmp_path / "out"
    data = json.loads((out / "gate.json").read_text())
    assert data["exitCode"] == case.code
    assert "<testsuites" in (out / "junit.xml").read_text()
    assert f"(exit {case.code})" in (out / "summary.md").read_text()
    budget = 2.0 if case.signal_after else timeout + 2.0
    # The gate's own clock, then the wall clock with room for interpreter start-up.
    assert data["timings"]["durationSeconds"] <= timeout + 2.0, log
    assert took <= budget + 2.5, log

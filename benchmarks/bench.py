"""Benchmarks against the local simulator. Prints figures; asserts nothing.

    python benchmarks/bench.py            # everything (about 11 minutes)
    python benchmarks/bench.py --quick    # a 2-minute request-rate window

Figures (targets from issues 2 and 12): verdict latency after the session turns final (< 0.5 s
with the long-poll), API requests per minute of waiting over 10 minutes (<= 3; the first minutes
cost more, the schedule widens), start-up time of `checkly-gate --version` (< 0.15 s), peak
memory for a 3,000-result session (< 60 MiB). See also fleet.py and big_session.py.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from checkly_gate import gate
from checkly_gate.config import Options
from checkly_gate.context import open_command
from checkly_gate.reports import GateRun
from checkly_gate.simulator import Simulator, load_scenario

KEY = "bench-key"


def _wait(options: Options) -> GateRun:
    """``gate.wait`` for ``options.session_ids`` in this process (signals left alone)."""
    with open_command(options, io.StringIO(), {}, handle_signals=False) as ctx:
        return gate.wait(ctx, gate.test_sessions(options.session_ids))


def verdict_latency(runs: int) -> list[float]:
    """Seconds from the session turning final (simulator clock) to the gate returning."""
    figures = []
    for _ in range(runs):
        with Simulator(scenario=load_scenario("passing"), api_key=KEY, speed=2.0) as sim:
            sid = str(uuid.uuid4())
            options = Options(session_ids=(sid,), api_key=KEY, api_url=sim.url, timeout=120)
            _wait(options)
            returned = time.monotonic()
            final = sim.final_at(sid)
            assert final is not None, "session never turned final"
            figures.append(returned - final)
    return figures


def requests_per_minute(seconds: float) -> float:
    """Requests the gate makes while a session keeps running, at default settings (all kinds;
    the session never changes, so the progress schedule widens to its widest)."""
    with Simulator(scenario=load_scenario("never-ends"), api_key=KEY) as sim:
        options = Options(
            session_ids=(str(uuid.uuid4()),), api_key=KEY, api_url=sim.url, timeout=seconds
        )
        run = _wait(options)
        return run.requests / (seconds / 60.0)


def startup(runs: int) -> list[float]:
    """Wall time of `checkly-gate --version` in a fresh interpreter."""
    exe = os.path.join(os.path.dirname(sys.executable), "checkly-gate")
    cmd = [exe, "--version"] if os.path.exists(exe) else [sys.executable, "-m", "checkly_gate"]
    figures = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            cmd + (["--version"] if cmd[-1] != "--version" else []), check=True, capture_output=True
        )
        figures.append(time.perf_counter() - start)
    return figures


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A tiny parent that runs the gate and reports its children's peak RSS. The gate must not be
# forked from this (large) benchmark process: Linux carries the parent's high-water mark over
# fork + exec, which would inflate the figure.
_MEASURE = (
    "import resource, subprocess, sys; "
    "code = subprocess.run(sys.argv[1:], capture_output=True).returncode; "
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def user_python(folder: str) -> tuple[str, str]:
    """A Python with checkly-gate and only its runtime dependencies, as a user installs it.

    A development environment also holds click and pygments, which httpx imports eagerly when
    present (about 9 MiB): measuring there would describe our test tools, not the product.
    """
    venv = os.path.join(folder, "venv")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        subprocess.run([sys.executable, "-m", "venv", venv], check=True, capture_output=True)
        python = os.path.join(venv, "bin", "python")
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", repo],
            check=True,
            capture_output=True,
            timeout=300,
        )
        return python, "a clean venv (runtime dependencies only)"
    except (subprocess.SubprocessError, OSError):
        return sys.executable, "this interpreter (clean venv unavailable; includes dev tools)"


def peak_memory_mib(python: str = sys.executable) -> float:
    """Peak RSS of a `wait` process following a 3,000-result session to the end, with every
    report (JSON, JUnit, summary) written."""
    port = _free_port()
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "checkly_gate",
            "simulate",
            "--port",
            str(port),
            "--scenario",
            "large",
            "--api-key",
            KEY,
            "--speed",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)
        with tempfile.TemporaryDirectory() as tmp:
            gate = [
                python,
                "-m",
                "checkly_gate",
                "wait",
                str(uuid.uuid4()),
                "--api-url",
                f"http://127.0.0.1:{port}",
                "--poll-interval",
                "1",
                "--timeout",
                "120",
                "-q",
                "--json",
                f"{tmp}/g.json",
                "--junit",
                f"{tmp}/j.xml",
                "--summary",
                f"{tmp}/s.md",
            ]
            env = {**os.environ, "CHECKLY_API_KEY": KEY}
            proc = subprocess.run(
                [sys.executable, "-c", _MEASURE, *gate],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
        code, kib = proc.stdout.split()
        if code not in ("0", "1"):
            raise SystemExit(f"large run failed with exit code {code}")
        return int(kib) / 1024.0  # ru_maxrss is KiB on Linux
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2-minute request-rate window")
    args = parser.parse_args()

    lat = verdict_latency(3)
    print(
        f"verdict latency (long-poll, interval 10 s): median {statistics.median(lat):.3f} s, "
        f"max {max(lat):.3f} s over {len(lat)} runs (target < 0.5 s)"
    )
    window = 120.0 if args.quick else 600.0
    rpm = requests_per_minute(window)
    print(
        f"requests per minute while waiting (defaults, {window:.0f} s window): {rpm:.2f} "
        f"(target <= 3 over 600 s)"
    )
    st = startup(10)
    print(
        f"start-up of checkly-gate --version: median {statistics.median(st) * 1000:.0f} ms, "
        f"min {min(st) * 1000:.0f} ms over {len(st)} runs (target < 150 ms)"
    )
    with tempfile.TemporaryDirectory() as folder:
        python, where = user_python(folder)
        mib = peak_memory_mib(python)
    print(
        f"peak memory, 3,000-result session with JSON, JUnit and summary written, in {where}: "
        f"{mib:.1f} MiB (target < 60 MiB)"
    )
    print(f"  same, in this development interpreter: {peak_memory_mib():.1f} MiB")


if __name__ == "__main__":
    main()

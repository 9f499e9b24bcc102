"""Requests a minute one gate spends following many check sessions. Prints figures; asserts
nothing (``tests/test_budget.py`` asserts the bound).

    python benchmarks/budget.py                          # 1, 20, 400 and 3,000 sessions, 70 s each
    python benchmarks/budget.py --sessions 400 --seconds 30 --rate 60

One real ``checkly-gate run --check-sessions`` process per figure against the simulator (the
account's budget of 600 per 60 s on), with a tag that matches N checks; each check runs
``--check-seconds`` (default 20) and every 50th fails. The gate runs until its verdict or
``--seconds`` (its ``--timeout``). Printed per N: reads the simulator saw, the most in any
60 s window (the figure the account's budget is about; for a run shorter than 60 s the run
itself), the most in any 5 s window, 429s, the exit code and the elapsed time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from checkly_gate.simulator import CheckSpec, Scenario, Simulator

KEY = "budget-key"


def scenario(sessions: int, check_seconds: float) -> Scenario:
    """N checks tagged ``many``; every 50th fails."""
    checks = tuple(
        CheckSpec(
            f"Budget check {i + 1}",
            "API",
            ("eu-west-1",),
            duration=check_seconds,
            outcome="failed" if i % 50 == 49 else "passed",
            tags=("many",),
        )
        for i in range(sessions)
    )
    return Scenario(name="budget", checks=checks)


@dataclass(frozen=True)
class Figures:
    sessions: int
    reads: int
    busiest_minute: int
    busiest_5s: int
    rate_limited: int
    exit_code: int
    elapsed: float


def busiest(times: list[float], window: float) -> int:
    """The most requests in any window of ``window`` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def measure(
    sessions: int,
    seconds: float,
    rate: float | None = None,
    check_seconds: float = 20.0,
    speed: float = 1.0,
    workdir: Path | None = None,
) -> tuple[Figures, subprocess.CompletedProcess[str], Path]:
    """Run one gate following ``sessions`` check sessions; its figures, process and snapshot."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="budget-"))
    snap = workdir / "gate.json"
    with Simulator(scenario=scenario(sessions, check_seconds), api_key=KEY, speed=speed) as sim:
        cmd = [
            sys.executable,
            "-m",
            "checkly_gate",
            "run",
            "--check-sessions",
            "--tags",
            "many",
            "--api-url",
            sim.url,
            "--timeout",
            str(seconds),
            "--json",
            str(snap),
        ]
        if rate is not None:
            cmd += ["--max-request-rate", str(rate)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CHECKLY", "GITHUB"))}
        env.update({"CHECKLY_API_KEY": KEY, "NO_COLOR": "1"})
        began = time.monotonic()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 120)
        elapsed = time.monotonic() - began
        reads = [r.at for r in sim.requests if r.method == "GET"]
        figures = Figures(
            sessions=sessions,
            reads=len(reads),
            busiest_minute=busiest(reads, 60.0),
            busiest_5s=busiest(reads, 5.0),
            rate_limited=sim.rate_limited,
            exit_code=proc.returncode,
            elapsed=elapsed,
        )
    return figures, proc, snap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, action="append")
    parser.add_argument("--seconds", type=float, default=70.0)
    parser.add_argument("--rate", type=float, default=None, help="--max-request-rate (default)")
    parser.add_argument("--check-seconds", type=float, default=20.0)
    args = parser.parse_args()
    print(
        f"{'sessions':>8} {'reads':>6} {'busiest 60s':>11} {'busiest 5s':>10} {'429s':>5} "
        f"{'exit':>4} {'elapsed':>8}"
    )
    for n in args.sessions or [1, 20, 400, 3000]:
        f, _, _ = measure(n, args.seconds, args.rate, args.check_seconds)
        print(
            f"{f.sessions:>8} {f.reads:>6} {f.busiest_minute:>11} {f.busiest_5s:>10} "
            f"{f.rate_limited:>5} {f.exit_code:>4} {f.elapsed:>7.1f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()

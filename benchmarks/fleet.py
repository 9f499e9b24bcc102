"""A fleet of gates on one simulated Checkly account. Prints figures; asserts nothing.

    python benchmarks/fleet.py --gates 150 --minutes 5      # the issue-12 figure (~6 minutes)
    python benchmarks/fleet.py --gates 300 --minutes 5
    python benchmarks/fleet.py --gates 20 --minutes 1       # a quick look

N gates run as real processes (``python -m checkly_gate wait``, defaults, the same second),
each following its own session on ONE simulator with the account's rate budget (600 per 60 s
unless ``--rate-limit``). Every third session fails (one check fails half-way), the rest pass.
Sessions run ``--minutes`` from their first request (six checks finishing one after another),
in real time: nothing is scaled, so the gates' schedule, the long-polls and the budget are the
real ones.

Printed: requests per waiting minute per gate (all kinds, error-group reads included; a gate
waits from its first request to its exit, so a slow process start-up does not count), the
429 count, exit codes against the expected ones, verdicts that came before the session was
final ("early"), verdict latency after the sessions ended (p50/p95/max: the simulator's
``final_at`` to the gate process's exit, so it includes judging and writing outputs), and the
busiest second of the account.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from checkly_gate.simulator import CheckSpec, Scenario, Simulator
from checkly_gate.simulator.ratelimit import parse_rate_limit

KEY = "fleet-key"
CHECKS = 6


def scenarios(minutes: float) -> tuple[Scenario, Scenario]:
    """(passing, failing) sessions of ``minutes``: CHECKS checks finishing one after another."""
    seconds = minutes * 60.0
    checks = tuple(
        CheckSpec(
            f"Fleet check {i + 1}", "API", ("eu-west-1",), duration=seconds * (i + 1) / CHECKS
        )
        for i in range(CHECKS)
    )
    passing = Scenario(name="fleet-passing", session_name="Fleet session", checks=checks)
    failed = tuple(
        replace(c, outcome="failed") if i == CHECKS // 2 - 1 else c for i, c in enumerate(checks)
    )
    return passing, replace(passing, name="fleet-failing", checks=failed)


@dataclass
class Gate:
    session_id: str
    expected: int
    proc: subprocess.Popen[bytes]
    log: Path
    started: float
    ended: float | None = None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run(args: argparse.Namespace) -> None:
    passing, failing = scenarios(args.minutes)
    ids = [str(uuid.uuid4()) for _ in range(args.gates)]
    plan = {sid: (failing if i % 3 == 2 else passing) for i, sid in enumerate(ids)}
    sim = Simulator(
        sessions=plan, api_key=KEY, rate_limit=parse_rate_limit(args.rate_limit)
    ).start()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CHECKLY", "GITHUB", "GITLAB", "CI"))
        and not k.lower().endswith("_proxy")
    }
    env["CHECKLY_API_KEY"] = KEY
    if args.checkly_cli:
        # Checkly's CLI against the simulator: CHECKLY_ENV=local reads CHECKLY_API_URL. Its
        # account check (GET /next/accounts/{id}) is not simulated; CHECKLY_SKIP_AUTH=1, the
        # CLI's own switch for that, skips it.
        env.update(
            CHECKLY_ENV="local",
            CHECKLY_API_URL=sim.url,
            CHECKLY_ACCOUNT_ID=str(uuid.uuid4()),
            CHECKLY_SKIP_AUTH="1",
        )
    folder = Path(tempfile.mkdtemp(prefix="fleet-"))
    gates: list[Gate] = []
    extra = ["--poll-interval", str(args.poll_interval)] if args.poll_interval else []
    started = time.monotonic()
    for sid in ids:
        log = folder / f"{sid}.log"
        command = [sys.executable, "-m", "checkly_gate", "wait", sid, "--api-url", sim.url, *extra]
        if args.checkly_cli:
            command = [args.checkly_cli, "test-sessions", "get", sid, "--watch"]
        with open(log, "wb") as handle:
            proc = subprocess.Popen(
                command,
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        # Checkly's CLI inspects, it does not gate: it exits 0 for a failed session too.
        expected = 1 if plan[sid] is failing and not args.checkly_cli else 0
        gates.append(Gate(sid, expected, proc, log, time.monotonic()))
    spawn = time.monotonic() - started

    def waiter(gate: Gate) -> None:
        gate.proc.wait()
        gate.ended = time.monotonic()

    threads = [threading.Thread(target=waiter, args=(g,), daemon=True) for g in gates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sim.stop()

    requests = sim.requests
    by_session: collections.Counter[str] = collections.Counter()
    first: dict[str, float] = {}  # when each gate's first request arrived: its wait begins
    for request in requests:
        parts = request.path.split("/")
        if len(parts) > 3 and parts[2] == "test-sessions":
            by_session[parts[3].lower()] += 1
            first.setdefault(parts[3].lower(), request.at)
    # When the account delivered each verdict: the first answer carrying the final session (a
    # long-poll waiting for it is answered the moment the session turns final).
    delivered: dict[str, float] = {}
    for request in requests:
        parts = request.path.split("/")
        if request.status != 200 or len(parts) < 4 or parts[2] != "test-sessions":
            continue
        sid = parts[3].lower()
        final = sim.final_at(sid)
        if final is None:
            continue
        at = max(request.at, final) if request.path.endswith("/completion") else request.at
        if at >= final and (sid not in delivered or at < delivered[sid]):
            delivered[sid] = at
    latencies, early, wrong, per_gate_rate, delivery = [], 0, [], [], []
    for gate in gates:
        assert gate.ended is not None
        final = sim.final_at(gate.session_id)
        code = gate.proc.returncode
        if code != gate.expected:
            wrong.append(gate)
        if final is None or gate.ended < final:
            early += code in (0, 1)
        else:
            latencies.append(gate.ended - final)
            if gate.session_id in delivered:
                delivery.append(delivered[gate.session_id] - final)
        minutes = (gate.ended - first.get(gate.session_id, gate.started)) / 60.0
        per_gate_rate.append(by_session[gate.session_id] / minutes)
    waiting_minutes = sum((g.ended or 0) - first.get(g.session_id, g.started) for g in gates) / 60

    per_second = collections.Counter(int(r.at - started) for r in requests)
    codes = collections.Counter(g.proc.returncode for g in gates)
    who = "Checkly CLI test-sessions get --watch" if args.checkly_cli else "checkly-gate wait"
    print(
        f"fleet of {who}: {args.gates} gates (real processes, spawned in {spawn:.1f} s), "
        f"sessions of {args.minutes:g} min, account budget {args.rate_limit}"
    )
    print(
        f"  requests per waiting minute per gate: mean {len(requests) / waiting_minutes:.2f} "
        f"(all kinds); per gate on its session: median {statistics.median(per_gate_rate):.2f}, "
        f"max {max(per_gate_rate):.2f}; {len(requests)} requests in all"
    )
    print(
        f"  429 answers: {sim.rate_limited}; busiest second of the account: "
        f"{max(per_second.values())} requests"
    )
    print(
        f"  exit codes: {dict(sorted(codes.items()))}; wrong: {len(wrong)}; "
        f"verdicts before the session was final: {early}"
    )
    if delivery:
        print(
            f"  verdict delivered after the session ended (the account's answer with the final "
            f"session): p50 {percentile(delivery, 0.5):.3f} s, p95 {percentile(delivery, 0.95):.3f}"
            f" s, max {max(delivery):.3f} s"
        )
    if latencies:
        print(
            f"  gate process exited after the session ended (judging, printing, interpreter exit; "
            f"{args.gates} processes share this machine's {os.cpu_count()} cores): "
            f"p50 {percentile(latencies, 0.5):.2f} s, p95 {percentile(latencies, 0.95):.2f} s, "
            f"max {max(latencies):.2f} s"
        )
    if not wrong:
        shutil.rmtree(folder, ignore_errors=True)
    for gate in wrong[:3]:
        tail = gate.log.read_text(errors="replace").splitlines()[-5:]
        print(f"  wrong: {gate.session_id} exit {gate.proc.returncode}, expected {gate.expected}")
        for line in tail:
            print(f"    {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gates", type=int, default=150)
    parser.add_argument("--minutes", type=float, default=5.0, help="session length")
    parser.add_argument("--rate-limit", default="600/60", help="account budget N/SECONDS")
    parser.add_argument("--poll-interval", type=float, help="passed to every gate")
    parser.add_argument(
        "--checkly-cli",
        metavar="PATH",
        help="run Checkly's CLI (node_modules/.bin/checkly of `npm install checkly`) instead",
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()

"""One big session: judge a 30,000-result body and write every report. Prints figures only.

    python benchmarks/big_session.py              # 3 runs, prints time and peak RSS
    python benchmarks/big_session.py --runs 1 --keep body.json

The body is built by the simulator's own timeline (14,800 checks in two locations, flaky ones
with a failed ATTEMPT row, some failed with error groups, some degraded): about 30,000 results
and 13 MB of JSON in the shape of the API contract (``--full`` adds the
fields the live API sends beyond it, about 19 MB). Each run is a fresh interpreter that does what
``wait`` does once the last body has arrived: parse the raw bytes, judge, and write the JSON
snapshot, the JUnit XML, the markdown summary and the dotenv report, then print the verdict.
Time is measured inside that process from the raw bytes to the last file written (imports
excluded); peak memory is that process's maximum RSS as ``/usr/bin/time -f %M`` reports it
(``ru_maxrss`` of the child when /usr/bin/time is missing).

Target (issue 12): under 2 s and under 100 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import uuid

CHECKS = 14_800
#: Result fields the live API sends beyond the contract (``--full`` keeps them: about 19 MB).
GROWN = ("responseTime", "startedAt", "stoppedAt", "sequenceId")
TYPES = ("API", "BROWSER", "MULTI_STEP", "PLAYWRIGHT", "URL", "TCP", "DNS", "ICMP")

# The child: everything after the last body arrived, as gate.wait does it.
_CHILD = r"""
import io, json, sys, time
from pathlib import Path
body_path, out_dir = sys.argv[1], Path(sys.argv[2])
from checkly_gate.gate import _masked_bodies
from checkly_gate.models import load_session
from checkly_gate.finish import write_outputs
from checkly_gate.progress import render_verdict
from checkly_gate.redact import Secrets
from checkly_gate.reports import GateRun
from checkly_gate.models import Observation, Stop
from checkly_gate.verdict import Policy, combine, judge_session
raw = Path(body_path).read_bytes()
started = time.perf_counter()
session = load_session(raw)  # as api.Client reads a test session body
redactor = Secrets(["bench-key-123"])
bodies = _masked_bodies({session.session_id: raw}, redactor)
obs = Observation(session.session_id, Stop.FINAL, session=session)
verdict = combine([judge_session(obs, Policy())], None)
run = GateRun(verdict=verdict, observations=(obs,), bodies=bodies, requests=2)
targets = {k: out_dir / n for k, n in
           (("json", "g.json"), ("junit", "j.xml"), ("summary", "s.md"), ("dotenv", "g.env"))}
written = write_outputs(run, targets, redactor)
lines = render_verdict(verdict)
elapsed = time.perf_counter() - started
assert len(written) == 4, written
print(f"{elapsed:.3f} {len(session.results)} {verdict.exit_code}")
"""


def build_body(full: bool = False) -> bytes:
    """A final 30,000-result session body from the simulator's timeline; without ``full``,
    results carry only the fields of the OpenAPI contract (about 13 MB)."""
    from checkly_gate.simulator.model import CheckSpec, Scenario
    from checkly_gate.simulator.timeline import SessionTimeline

    checks = []
    for i in range(CHECKS):
        outcome = "passed"
        if i % 97 == 0:
            outcome = "degraded"
        elif i % 211 == 0:
            outcome = "failed"
        checks.append(
            CheckSpec(
                f"Check {i + 1:05d}",
                TYPES[i % len(TYPES)],
                ("eu-west-1", "us-east-1"),
                start=(i % 300) / 100,
                duration=0.5 + (i % 7) * 0.2,
                stagger=0.2,
                outcome=outcome,
                failed_attempts=1 if i % 37 == 0 else 0,
            )
        )
    scenario = Scenario(name="big", session_name="Big regression suite", checks=tuple(checks))
    timeline = SessionTimeline(str(uuid.uuid4()), scenario, speed=1.0, mono=0.0, wall=1.7e9)
    body = timeline.body(3600.0)
    if full:
        return body
    data = json.loads(body)
    for result in data["results"]:
        for key in GROWN:
            result.pop(key, None)
    return json.dumps(data, separators=(",", ":")).encode()


def measure(body_path: str) -> tuple[float, float, int, int]:
    """(seconds, peak MiB, results, exit code) of one child run."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-c", _CHILD, body_path, out]
        gnu_time = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None
        if gnu_time:
            proc = subprocess.run(
                [gnu_time, "-f", "%M", *cmd], capture_output=True, text=True, check=True
            )
            kib = int(proc.stderr.strip().splitlines()[-1])
        else:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        seconds, results, code = proc.stdout.split()
        return float(seconds), kib / 1024.0, int(results), int(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", metavar="PATH", help="also write the body to PATH")
    parser.add_argument("--full", action="store_true", help="keep the fields beyond the contract")
    args = parser.parse_args()
    body = build_body(args.full)
    with tempfile.TemporaryDirectory() as folder:
        path = args.keep or os.path.join(folder, "body.json")
        with open(path, "wb") as handle:
            handle.write(body)
        figures = [measure(path) for _ in range(args.runs)]
    times = [f[0] for f in figures]
    peaks = [f[1] for f in figures]
    results, code = figures[0][2], figures[0][3]
    print(
        f"big session: {results:,} results, {len(body) / 1e6:.1f} MB of JSON, exit {code}; "
        f"judged and 4 reports written in median {statistics.median(times):.2f} s "
        f"(max {max(times):.2f} s), peak RSS median {statistics.median(peaks):.1f} MiB "
        f"(max {max(peaks):.1f} MiB) over {len(figures)} runs (target < 2 s, < 100 MiB)"
    )


if __name__ == "__main__":
    main()

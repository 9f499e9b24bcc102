"""Time from start to exit of the real gate when one endpoint is hostile. Prints a table.

    python benchmarks/hostile.py              # --timeout 5, every endpoint x behaviour
    python benchmarks/hostile.py --timeout 3 --jobs 3

For each endpoint (trigger, session GET, completion long-poll, error group, cancel) and each
hostile behaviour (headers then a 1-byte/s body; accept and never answer; a chunked body that
never ends; a 200 MB body), the simulator serves everything else. The cancel row sends SIGTERM
once the long-poll is under way (``--cancel-on-interrupt``), so its figure is measured from the
signal. The promise: every row ends by --timeout + 2 s (cancel: 2 s after the signal) with its
exit code and all three reports written.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the hostile server lives with the tests

from checkly_gate.simulator import Simulator, load_scenario  # noqa: E402
from tests.hostile import CASES, ENDPOINTS, REPORTS, HostileProxy  # noqa: E402

KEY = "bench-key"
BEHAVIOURS = ("drip", "silent", "endless", "huge")


def measure(endpoint: str, behaviour: str, timeout: float) -> tuple[float, int, bool]:
    """(seconds to exit, exit code, all reports written)."""
    case = CASES[endpoint]
    with (
        tempfile.TemporaryDirectory() as folder,
        Simulator(scenario=load_scenario(case.scenario), api_key=KEY, speed=20) as sim,
        HostileProxy(sim, endpoint, behaviour) as proxy,
    ):
        cmd = [sys.executable, "-m", "checkly_gate", *case.args, "--api-url", proxy.url]
        cmd += ["--poll-interval", "0.2", "--timeout", str(timeout), *REPORTS]
        env = {"CHECKLY_API_KEY": KEY, "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if case.signal_after:
            while not proxy.hits(case.signal_after) and time.monotonic() - start < 30:
                time.sleep(0.01)
            start = time.monotonic()
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=timeout + 60)
        took = time.monotonic() - start
        out = Path(folder) / "out"
        written = all((out / n).exists() for n in ("junit.xml", "summary.md", "gate.json"))
        if written:
            written = json.loads((out / "gate.json").read_text())["exitCode"] == code
    return took, code, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--jobs", type=int, default=2, help="measurements run in parallel")
    args = parser.parse_args()
    pairs = [(e, b) for e in ENDPOINTS for b in BEHAVIOURS]
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        results = dict(
            zip(pairs, pool.map(lambda p: measure(*p, args.timeout), pairs), strict=True)
        )
    print(f"start to exit, --timeout {args.timeout:g} (cancel: from SIGTERM); exit code; reports")
    print(f"| endpoint | {' | '.join(BEHAVIOURS)} |")
    print("| --- |" + " --- |" * len(BEHAVIOURS))
    for endpoint in ENDPOINTS:
        cells = []
        for behaviour in BEHAVIOURS:
            took, code, written = results[(endpoint, behaviour)]
            cells.append(f"{took:.1f} s, exit {code}{'' if written else ', NO REPORTS'}")
        print(f"| {endpoint} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()

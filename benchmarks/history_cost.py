"""Request cost of the history labels (issue 21, item 2) on a session with 20 failing checks.
Prints figures; asserts nothing (``tests/test_history.py`` asserts the per-case counts).

    python benchmarks/history_cost.py              # 20 failing checks, half of them known
    python benchmarks/history_cost.py --failing 40 --known 5

Against the simulator over real HTTP: a session whose ``--failing`` checks fail (``--known`` of
them with an error group first seen 3 days ago and failing on main's newest finished session
too, the rest new), plus passing checks. ``history.fetch_history`` labels the failing runs'
error groups three ways: as it runs after the explain phase (the error group bodies already
fetched: ``groups=``), on its own (it fetches the groups too), and when the list entries carry
no ``errorGroupIds`` (one ``errorGroupId=`` query per group). Printed per way: requests the
simulator saw, the labels and the wall time.
"""

from __future__ import annotations

import argparse
import collections
import time
import uuid

from checkly_gate.api import Client
from checkly_gate.history import fetch_history
from checkly_gate.scope import Scope
from checkly_gate.simulator import CheckSpec, Scenario, Simulator
from checkly_gate.simulator.context import history_scenario
from checkly_gate.simulator.model import HistoryEntry
from checkly_gate.verdict import Observation, Stop, judge_session

KEY = "history-bench-key"
DAY = 86400.0


def scenario(failing: int, known: int, passing: int = 10) -> Scenario:
    checks = [
        CheckSpec(
            f"Known {i:02d}",
            duration=0.5,
            outcome="failed",
            first_seen_ago=3 * DAY,
        )
        for i in range(known)
    ]
    checks += [
        CheckSpec(f"New {i:02d}", duration=0.5, outcome="failed") for i in range(failing - known)
    ]
    checks += [CheckSpec(f"Passing {i:02d}", duration=0.5) for i in range(passing)]
    main = HistoryEntry(branch="main", age=DAY, failing=tuple(c.name for c in checks[:known]))
    return Scenario(name="history-bench", checks=tuple(checks), history=(main,))


def measure(failing: int, known: int) -> None:
    spec = scenario(failing, known)
    for way in ("after explain", "on its own", "no errorGroupIds"):
        with Simulator(spec, api_key=KEY, speed=5, rate_limit=None) as sim:
            if way == "no errorGroupIds":
                newest = history_scenario(
                    spec, HistoryEntry(age=60.0, failing=spec.history[0].failing)
                )
                sim.add_listed(newest, age=60.0, fields={"errorGroupIds": None})
            sid = str(uuid.uuid4())
            client = Client(KEY, sim.url)
            while True:
                session, _ = client.get_session(sid, 10)
                if session.is_final:
                    break
                time.sleep(0.1)
            sv = judge_session(Observation(sid, Stop.FINAL, session))
            groups = list(dict.fromkeys(g for run in sv.failing for g in run.error_group_ids))
            bodies = {}
            if way == "after explain":  # what the explain phase fetched already
                bodies = {g: client.error_group(g, 10) for g in groups}
            before = len(sim.requests)
            started = time.perf_counter()
            assert session.started_at is not None
            found = fetch_history(
                client,
                groups,
                sid,
                session.started_at.timestamp(),
                "main",
                time.monotonic() + 60,
                Scope(),
                groups=bodies,  # type: ignore[arg-type]
            )
            took = time.perf_counter() - started
            client.close()
            asked = len(sim.requests) - before
            labels = collections.Counter(
                found.label_of(run.error_group_ids).label for run in sv.failing
            )
            print(
                f"{way:>17}: {len(sv.failing)} failing runs, {len(groups)} error groups -> "
                f"{asked} requests ({found.requests} counted), {dict(labels)}, {took * 1000:.0f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failing", type=int, default=20)
    parser.add_argument("--known", type=int, default=10)
    args = parser.parse_args()
    measure(args.failing, args.known)


if __name__ == "__main__":
    main()

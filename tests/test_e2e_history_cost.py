"""Issue 21 §2, the cost of the history labels through the real CLI: the explain phase reads
each failing run's error group once, and the labels reuse those bodies, so labelling 20 failing
checks costs one request beyond the error texts (the default branch's session list)."""

from __future__ import annotations

import collections
from pathlib import Path

from checkly_gate.simulator import CheckSpec, Scenario, Simulator
from checkly_gate.simulator.model import HistoryEntry
from tests.test_e2e import KEY, run_gate

DAY = 86400.0


def twenty_failing(known: int = 10) -> Scenario:
    """20 failing checks (``known`` of them first seen 3 days ago and failing on main's newest
    finished session), plus 5 passing ones."""
    checks = [
        CheckSpec(f"Known {i:02d}", duration=0.5, outcome="failed", first_seen_ago=3 * DAY)
        for i in range(known)
    ]
    checks += [CheckSpec(f"New {i:02d}", duration=0.5, outcome="failed") for i in range(20 - known)]
    checks += [CheckSpec(f"Passing {i}", duration=0.5) for i in range(5)]
    main = HistoryEntry(branch="main", age=DAY, failing=tuple(c.name for c in checks[:known]))
    return Scenario(name="twenty-failing", checks=tuple(checks), history=(main,))


def test_labels_of_20_failing_checks_cost_one_request_beyond_the_error_texts(
    tmp_path: Path,
) -> None:
    with Simulator(twenty_failing(), api_key=KEY, speed=10, rate_limit=None) as sim:
        # The account's whole 600 reads a minute: at the default tenth the 20 error texts wait
        # on the bucket; what is counted here is the requests, not their pace.
        extra = ("--default-branch", "main", "--max-request-rate", "600")
        proc = run_gate(sim, extra=extra, cwd=tmp_path)
        paths = [r.path for r in sim.requests if r.method == "GET"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    assert out.count(": failing on main too (first ") == 10, out
    assert out.count(": new") >= 10, out
    group_reads = collections.Counter(p for p in paths if "/test-session-error-groups/" in p)
    assert len(group_reads) == 20 and set(group_reads.values()) == {1}, group_reads
    listed = [p for p in paths if p.split("?")[0] == "/v1/test-sessions"]
    assert len(listed) == 1, listed

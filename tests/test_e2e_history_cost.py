"""Issue 21 §2, the cost of the history labels through the real CLI: the explain phase reads
each failing run's error group once, and the labels reuse those bodies, so labelling 20 failing
checks costs one request beyond the error texts (the default branch's session list)."""

from __future__ import annotations

import collections
import json
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
        # At the default --max-request-rate (a burst of 10, then one a second), as users run
        # it: the 20 error texts and the list fit the 15 s explain budget, the evidence waits.
        snapshot = tmp_path / "gate.json"
        proc = run_gate(sim, extra=("--default-branch", "main", "--json", str(snapshot)))
        paths = [r.path for r in sim.requests if r.method == "GET"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    labels = json.loads(snapshot.read_text())["context"]["labels"]
    said = collections.Counter(label["label"] for label in labels)
    assert said == {"failing on main too": 10, "new": 10}, labels
    group_reads = collections.Counter(p for p in paths if "/test-session-error-groups/" in p)
    assert len(group_reads) == 20 and set(group_reads.values()) == {1}, group_reads
    listed = [p for p in paths if p.split("?")[0] == "/v1/test-sessions"]
    assert len(listed) == 1, listed
    # the labels (which may decide --fail-on new) before the evidence (which only adds detail)
    assets = [i for i, p in enumerate(paths) if p.endswith("/assets")]
    assert all(paths.index(listed[0]) < i for i in assets), paths

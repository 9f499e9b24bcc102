"""The context of a simulated session: its history on the default branch (issue 21).

A scenario's ``history`` (``model.HistoryEntry``) lists older, finished sessions of the same
checks, e.g. the newest session on ``main``, that ``GET /v1/test-sessions`` shows (filtered by
``branches=`` and ``errorGroupId=``, see ``discovery.serve_list``). A check a history session
failed shares its error group with the scenario's own check (``CheckSpec.error_group``), so:

- ``GET /v1/test-session-error-groups/{id}`` answers ``firstSeen`` from the oldest session
  showing the group (or the check's ``first_seen_ago``), ``lastSeen`` from the newest;
- ``GET /v1/test-sessions?branches=main&errorGroupId={id}`` lists the main session that failed
  with it.

``register_history`` is called once by ``Simulator`` for its default and per-session
scenarios; ``history_scenario`` builds the scenario of one history session.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from checkly_gate.simulator.model import CheckSpec, HistoryEntry, Scenario

if TYPE_CHECKING:
    from checkly_gate.simulator.server import Simulator


def history_scenario(scenario: Scenario, entry: HistoryEntry) -> Scenario:
    """The scenario of one history session: ``scenario``'s checks, 1 s each from the start,
    those named in ``entry.failing`` failed (with their shared error group), the others
    passed; its metadata names ``entry.branch`` and ``entry.commit_id``."""
    checks: list[CheckSpec] = []
    for check in scenario.checks:
        failing = check.name in entry.failing
        checks.append(
            replace(
                check,
                start=0.0,
                duration=1.0,
                stagger=0.0,
                failed_attempts=0,
                outcome="failed" if failing else "passed",
                first_seen_ago=None,
            )
        )
    metadata = dict(scenario.metadata)
    metadata.update(branchName=entry.branch, commitId=entry.commit_id)
    return Scenario(
        name=f"{scenario.name}-history-{entry.branch}",
        description=f"an older session of {scenario.name} on {entry.branch}",
        session_name=scenario.session_name,
        metadata=metadata,
        checks=tuple(checks),
        end="never" if entry.running else "auto",
    )


def register_history(sim: Simulator, scenario: Scenario) -> list[str]:
    """List every ``scenario.history`` session with ``sim`` (created ``age`` real seconds ago,
    provider GITHUB); returns their ids, oldest entry first as declared."""
    return [
        sim.add_listed(history_scenario(scenario, entry), provider="GITHUB", age=entry.age)
        for entry in scenario.history
    ]

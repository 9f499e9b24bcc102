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
scenarios; ``history_scenario`` builds the scenario of one history session; ``triggered`` the
scenario of a session a trigger starts (some of the checks, no history of its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

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


def triggered(scenario: Scenario, checks: Sequence[CheckSpec], **changes: Any) -> Scenario:
    """The scenario of a session a trigger starts: ``scenario`` with only ``checks`` (and
    ``changes``: name, metadata...), without its ``history``. The history belongs to the whole
    scenario: ``register_history`` listed its sessions once, and the error groups they share
    are already set on the checks (``Scenario._share_history_groups``); a subset that left out
    a check the history failed would otherwise be refused as naming a check not there.
    Raises ``ScenarioError`` for changes the scenario refuses."""
    return replace(scenario, checks=tuple(checks), history=(), **changes)


def register_history(sim: Simulator, scenario: Scenario) -> list[str]:
    """List every ``scenario.history`` session with ``sim`` (created ``age`` real seconds ago,
    provider GITHUB); returns their ids, oldest entry first as declared."""
    return [
        sim.add_listed(history_scenario(scenario, entry), provider="GITHUB", age=entry.age)
        for entry in scenario.history
    ]

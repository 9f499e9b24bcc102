"""The Action's and the GitLab templates' commit inputs reach the gate (one environment line
each): the Action's own scripts run with bash, the templates' scripts with sh, each with the
real gate against the simulator."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from checkly_gate.simulator import Simulator, load_scenario
from checkly_gate.simulator.model import DEFAULT_METADATA
from tests.test_action import run_input_check, run_step
from tests.test_gitlab_ci import PLAIN, component_variables, run_script

SHA = str(DEFAULT_METADATA["commitId"])


def test_the_action_accepts_commit_instead_of_session_id_or_tags(tmp_path: Path) -> None:
    assert run_input_check(tmp_path, commit="auto", **{"api-key": "k"}).returncode == 0
    proc = run_input_check(tmp_path, commit=" \n", **{"api-key": "k"})
    assert proc.returncode == 2 and "session-id or tags is missing" in proc.stdout


def test_the_actions_wait_step_finds_the_workflows_commit(tmp_path: Path) -> None:
    sim = Simulator(scenario=load_scenario("discovery"), api_key="k", speed=20).start()
    try:
        output = tmp_path / "output"
        proc = run_step(
            tmp_path,
            "wait",
            commit="auto",
            branch="main",
            **{"discover-timeout": "10", "api-key": "k", "api-url": sim.url},
            **{"poll-interval": "0.1", "timeout": "30", "junit": "", "summary": ""},
            CG_PYTHON=sys.executable,
            GITHUB_ACTIONS="true",
            GITHUB_OUTPUT=str(output),
            GITHUB_SHA=SHA,
        )
    finally:
        sim.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = output.read_text(encoding="utf-8")
    assert "status=passed" in written and "exit-code=0" in written.splitlines()
    assert any(r.path == "/v1/test-sessions" for r in sim.requests)


def test_the_component_waits_for_the_commit_input(tmp_path: Path) -> None:
    variables = component_variables(commit="auto", **{"discover-timeout": "10"})
    assert variables["CHECKLY_GATE_COMMIT"] == "auto"
    with Simulator(scenario=load_scenario("discovery"), api_key="k", speed=20) as sim:
        variables.update(
            CHECKLY_API_KEY="k",
            CHECKLY_API_URL=sim.url,
            CHECKLY_GATE_POLL_INTERVAL="0.1",
            CI_COMMIT_SHA=SHA,
        )
        proc = run_script(tmp_path, _component_script(), variables)
        assert any(r.path == "/v1/test-sessions" for r in sim.requests)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "CHECKLY_GATE_STATUS=passed" in (tmp_path / "checkly-gate.env").read_text("utf-8")


def test_the_plain_template_waits_for_checkly_gate_commit(tmp_path: Path) -> None:
    plain = yaml.safe_load(PLAIN.read_text(encoding="utf-8"))[".checkly-gate"]
    with Simulator(scenario=load_scenario("discovery"), api_key="k", speed=20) as sim:
        variables = {
            **{k: str(v) for k, v in plain["variables"].items()},
            "CHECKLY_API_KEY": "k",
            "CHECKLY_API_URL": sim.url,
            "CHECKLY_GATE_POLL_INTERVAL": "0.1",
            "CHECKLY_GATE_DISCOVER_TIMEOUT": "10",
            "CHECKLY_GATE_COMMIT": SHA,
        }
        proc = run_script(tmp_path, plain["script"][1], variables)
        assert any(r.path == "/v1/test-sessions" for r in sim.requests)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _component_script() -> str:
    from tests.test_gitlab_ci import component_gate_script

    return component_gate_script()

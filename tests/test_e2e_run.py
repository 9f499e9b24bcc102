"""End to end for `checkly-gate run`, error explanations and cancel-on-interrupt."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from checkly_gate.simulator import Fault, Simulator, load_scenario
from tests.tools import clean_env, terminate_when_seen

KEY = "cu_run_" + "k3y" * 6
BASE_ENV = clean_env()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(scenario=load_scenario("trigger-demo"), api_key=KEY, speed=4.0) as s:
        yield s


def gate(sim: Simulator, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "checkly_gate",
            *args,
            "--api-url",
            sim.url,
            "--poll-interval",
            "0.2",
            "--timeout",
            "30",
        ],
        env={**BASE_ENV, "CHECKLY_API_KEY": KEY, "NO_COLOR": "1", **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def triggered_tags(sim: Simulator) -> list[list[list[str]]]:
    return [t.body["target"].get("matchTags") for t in sim.triggered]


def test_run_by_tags_passes(sim: Simulator, tmp_path: Path) -> None:
    proc = gate(sim, "run", "--tags", "web", "--junit", "j.xml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert triggered_tags(sim) == [[["web"]]]
    assert len(sim.triggered) == 1 and "Started" in proc.stdout
    assert "<testsuites" in (tmp_path / "j.xml").read_text()


def test_run_by_tags_fails_and_explains_why(sim: Simulator, tmp_path: Path) -> None:
    proc = gate(
        sim, "run", "--tags", "api,critical", "--junit", "j.xml", "--summary", "s.md", cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    sid = sim.triggered[0].session_id
    assert any(r.path.startswith("/v1/test-session-error-groups/") for r in sim.requests)
    junit = (tmp_path / "j.xml").read_text()
    summary = (tmp_path / "s.md").read_text()
    checkout = next(c for c in load_scenario("trigger-demo").checks if c.name == "Checkout flow")
    message = checkout.failure_message
    assert message in junit.replace("&gt;", ">").replace("&lt;", "<").replace("&quot;", '"')
    assert "```" in summary and message.split()[0] in summary
    assert sid in proc.stdout


def test_no_matching_checks_both_ways(sim: Simulator, tmp_path: Path) -> None:
    proc = gate(sim, "run", "--tags", "no-such-tag", "--json", "g.json", cwd=tmp_path)
    assert proc.returncode == 7, proc.stdout + proc.stderr
    assert json.loads((tmp_path / "g.json").read_text())["outcome"] == "no-match"
    proc = gate(sim, "run", "--tags", "no-such-tag", "--no-fail-on-no-matching", cwd=tmp_path)
    assert proc.returncode == 0
    assert sim.triggered == []


def test_metadata_from_github_environment(sim: Simulator, tmp_path: Path) -> None:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_SHA": "abc123",
        "GITHUB_REF_NAME": "main",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "sum"),
    }
    proc = gate(sim, "run", "--tags", "web", cwd=tmp_path, **env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    meta = sim.triggered[0].body["metadata"]
    assert meta["repoUrl"] == "https://github.com/acme/shop"
    assert meta["commitId"] == "abc123" and meta["branchName"] == "main"


def test_metadata_from_gitlab_environment(sim: Simulator, tmp_path: Path) -> None:
    env = {
        "GITLAB_CI": "true",
        "CI_PROJECT_URL": "https://gitlab.example/acme/shop",
        "CI_COMMIT_SHA": "def456",
        "CI_COMMIT_REF_NAME": "release",
        "CI_ENVIRONMENT_NAME": "staging",
    }
    proc = gate(sim, "run", "--tags", "web", cwd=tmp_path, **env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    meta = sim.triggered[0].body["metadata"]
    assert meta["repoUrl"] == "https://gitlab.example/acme/shop"
    assert meta["commitId"] == "def456" and meta["environment"] == "staging"


def test_detach_then_wait_in_a_second_process(sim: Simulator, tmp_path: Path) -> None:
    output = tmp_path / "gh_output"
    proc = gate(
        sim,
        "run",
        "--tags",
        "web",
        "--detach",
        "--dotenv",
        "started.env",
        cwd=tmp_path,
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(output),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sid = sim.triggered[0].session_id
    outputs = output.read_text()
    assert f"session-id={sid}" in outputs
    assert "status=started" in outputs and "exit-code=0" in outputs
    started = (tmp_path / "started.env").read_text()
    assert f"CHECKLY_GATE_SESSION_ID={sid}" in started and "CHECKLY_GATE_STATUS=started" in started
    # Nothing waited yet: only the trigger was requested.
    assert [r.method for r in sim.requests] == ["POST"]
    proc = gate(sim, "wait", sid, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(sim.triggered) == 1


def test_trigger_429_then_success_creates_exactly_one_session(tmp_path: Path) -> None:
    scenario = replace(
        load_scenario("trigger-demo"),
        faults=(Fault(kind="rate-limit", requests=(1, 1), endpoint="trigger", retry_after=1),),
    )
    with Simulator(scenario=scenario, api_key=KEY, speed=4.0) as s:
        proc = gate(s, "run", "--tags", "web", cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        posts = [r for r in s.requests if r.method == "POST"]
        assert [r.status for r in posts] == [429, 201]
        assert posts[1].at - posts[0].at >= 0.95  # Retry-After honoured
        assert len(s.triggered) == 1


def test_trigger_answered_502_is_not_retried(tmp_path: Path) -> None:
    scenario = replace(
        load_scenario("trigger-demo"),
        faults=(Fault(kind="ambiguous", requests=(1, 1), endpoint="trigger"),),
    )
    with Simulator(scenario=scenario, api_key=KEY, speed=4.0) as s:
        proc = gate(s, "run", "--tags", "web", "--junit", "j.xml", cwd=tmp_path)
        assert proc.returncode == 6, proc.stdout + proc.stderr
        assert len([r for r in s.requests if r.method == "POST"]) == 1
        assert len(s.triggered) <= 1
        assert "duplicate" in proc.stdout
        assert (tmp_path / "j.xml").exists()


def test_failing_error_group_fetch_leaves_verdict_and_reports_intact(tmp_path: Path) -> None:
    scenario = replace(
        load_scenario("trigger-demo"),
        faults=(Fault(kind="server-error", endpoint="error-group", status=503),),
    )
    with Simulator(scenario=scenario, api_key=KEY, speed=4.0) as s:
        proc = gate(
            s, "run", "--tags", "api,critical", "--junit", "j.xml", "--json", "g.json", cwd=tmp_path
        )
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert any(
            r.path.startswith("/v1/test-session-error-groups/") and r.status == 503
            for r in s.requests
        )
        data = json.loads((tmp_path / "g.json").read_text())
        assert data["errorMessages"] == {} and data["counts"]["failed"] >= 1
        assert "<failure" in (tmp_path / "j.xml").read_text()


def test_no_details_makes_no_error_group_requests(sim: Simulator, tmp_path: Path) -> None:
    proc = gate(sim, "run", "--tags", "api,critical", "--no-details", cwd=tmp_path)
    assert proc.returncode == 1
    assert not any("error-groups" in r.path for r in sim.requests)


def test_env_values_are_never_printed(sim: Simulator, tmp_path: Path) -> None:
    proc = gate(
        sim,
        "run",
        "--tags",
        "web",
        "--env",
        "TOKEN=hunter2-value",
        "-v",
        "--json",
        "g.json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sim.triggered[0].body["environmentVariables"][0]["value"] == "hunter2-value"
    for text in (proc.stdout, proc.stderr, (tmp_path / "g.json").read_text()):
        assert "hunter2-value" not in text and KEY not in text


def test_cancel_on_sigterm_reaches_the_simulator(tmp_path: Path) -> None:
    with Simulator(scenario=load_scenario("never-ends"), api_key=KEY) as s:
        sid = str(uuid.uuid4())
        cmd = [
            sys.executable,
            "-m",
            "checkly_gate",
            "wait",
            sid,
            "--api-url",
            s.url,
            "--poll-interval",
            "0.2",
            "--cancel-on-interrupt",
            "--json",
            "g.json",
        ]
        proc, _ = terminate_when_seen(cmd, {**BASE_ENV, "CHECKLY_API_KEY": KEY}, s, 2, tmp_path)
        assert proc.returncode == 143, proc.stdout + proc.stderr
        assert sid in s.cancelled
        assert json.loads((tmp_path / "g.json").read_text())["exitCode"] == 143


def test_demo_trigger_explains_the_failure(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "checkly_gate", "demo", "--trigger", "--speed", "4"],
        env=BASE_ENV,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "checkly-gate run" in proc.stdout and "✗ Checkout flow" in proc.stdout
    assert "    why: expect(received)" in proc.stdout
    assert "Expected: 201" in (tmp_path / "checkly-gate-demo" / "summary.md").read_text()


def test_sigterm_while_the_trigger_waits_still_writes_reports(tmp_path: Path) -> None:
    scenario = replace(
        load_scenario("trigger-demo"),
        faults=(Fault(kind="rate-limit", endpoint="trigger", retry_after=20),),
    )
    with Simulator(scenario=scenario, api_key=KEY) as s:
        cmd = [
            sys.executable,
            "-m",
            "checkly_gate",
            "run",
            "--tags",
            "web",
            "--api-url",
            s.url,
            "--junit",
            "j.xml",
        ]
        # One 429 answered: the gate is now sleeping out the 20 s Retry-After.
        proc, _ = terminate_when_seen(cmd, {**BASE_ENV, "CHECKLY_API_KEY": KEY}, s, 1, tmp_path)
        assert proc.returncode == 143, proc.stdout + proc.stderr
        assert s.triggered == []
        assert "interrupted" in (tmp_path / "j.xml").read_text()

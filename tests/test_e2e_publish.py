"""End to end (issue 22 §2-§4): the real CLI against the simulator (Checkly) and the GitHub and
GitLab fakes held to their API descriptions (tests/platform_fakes.py), in an environment like a
GitHub Actions ``pull_request`` job or a GitLab merge-request pipeline, and a webhook receiver
on 127.0.0.1. Publishers never change the exit code, never print a token, say in one line why
they could not publish, and the deadline holds when a platform never answers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from checkly_gate.commands.commit import COMMIT_VARIABLES
from checkly_gate.simulator import Simulator, load_scenario
from tests.platform_fakes import GitHubFake, GitLabFake
from tests.test_publish import SECRET_PATH, Receiver
from tests.tools import clean_env

KEY = "cu_e2e_publish_" + "s3cr3t" * 4
GH_TOKEN = "ghs_e2epublishtoken0123456789"
GL_TOKEN = "glpat-e2epublishtoken0123456789"
HEAD = "a" * 40  # the pull request's head commit: what was deployed
MERGE = "b" * 40  # GITHUB_SHA on pull_request: the merge commit
PR = 5


@pytest.fixture
def sim() -> Iterator[Simulator]:
    s = Simulator(scenario=load_scenario("failing"), api_key=KEY, speed=20).start()
    yield s
    s.stop()


@pytest.fixture
def github() -> Iterator[GitHubFake]:
    with GitHubFake(token=GH_TOKEN) as fake:
        yield fake
        assert fake.violations == []


@pytest.fixture
def gitlab() -> Iterator[GitLabFake]:
    with GitLabFake(token=GL_TOKEN) as fake:
        yield fake
        assert fake.violations == []


def base_env() -> dict[str, str]:
    env = {k: v for k, v in clean_env().items() if k not in COMMIT_VARIABLES}
    # The simulator's sessions name a simulated commit, not this fake pull request's: the
    # deploy check (--expect-commit auto) would rightly fail them; it is not under test here.
    env.update({"CHECKLY_API_KEY": KEY, "NO_COLOR": "1", "CHECKLY_GATE_EXPECT_COMMIT": "off"})
    return env


def gh_env(fake: GitHubFake, tmp_path: Path) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"number": PR, "pull_request": {"number": PR, "head": {"sha": HEAD}}}),
        encoding="utf-8",
    )
    return {
        **base_env(),
        **fake.ci_env("example/app"),
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_SHA": MERGE,
        "GITHUB_OUTPUT": str(tmp_path / "github_output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step_summary"),
    }


def gl_env(fake: GitLabFake) -> dict[str, str]:
    return {
        **base_env(),
        **fake.ci_env("42", 7),
        "GITLAB_CI": "true",
        "CI_COMMIT_SHA": MERGE,
        "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": HEAD,
        "CI_PIPELINE_SOURCE": "merge_request_event",
    }


def gate(
    sim: Simulator, env: dict[str, str], cwd: Path, *extra: str, timeout: str = "30"
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "checkly_gate", "wait", str(uuid.uuid4())]
    command += ["--api-url", sim.url, "--poll-interval", "0.1", "--timeout", timeout, *extra]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=90)


def no_token(proc: subprocess.CompletedProcess[str], *secrets: str) -> None:
    for secret in (KEY, GH_TOKEN, GL_TOKEN, *secrets):
        assert secret not in proc.stdout + proc.stderr


def publish_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stderr.splitlines() if "could not publish" in line]


def test_github_comment_twice_is_one_comment_edited(
    sim: Simulator, github: GitHubFake, tmp_path: Path
) -> None:
    env = gh_env(github, tmp_path)
    first = gate(sim, env, tmp_path, "--comment")
    assert first.returncode == 1, first.stdout + first.stderr
    (made,) = github.comments[("example", "app", PR)]
    assert made["body"].startswith("<!-- checkly-gate:") and "failed (exit 1)" in made["body"]
    second = gate(sim, env, tmp_path, "--comment")
    assert second.returncode == 1
    (edited,) = github.comments[("example", "app", PR)]
    assert edited["id"] == made["id"]
    assert [r.operation for r in github.requests].count("update-comment") == 1
    assert publish_lines(first) == publish_lines(second) == []
    no_token(first), no_token(second)


def test_github_status_pending_then_failure_on_the_pr_head(
    sim: Simulator, github: GitHubFake, tmp_path: Path
) -> None:
    proc = gate(sim, gh_env(github, tmp_path), tmp_path, "--status")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert ("example", "app", MERGE) not in github.statuses
    states = [s["state"] for s in github.statuses[("example", "app", HEAD)]]
    assert states == ["pending", "failure"]
    (pending, final) = github.statuses[("example", "app", HEAD)]
    assert "test-sessions/" in (pending.get("target_url") or "")
    assert final["context"] == "checkly-gate"
    no_token(proc)


def test_gitlab_note_twice_and_status_on_the_mr_head(
    sim: Simulator, gitlab: GitLabFake, tmp_path: Path
) -> None:
    env = gl_env(gitlab)
    first = gate(sim, env, tmp_path, "--comment", "--status", "--status-context", "smoke")
    assert first.returncode == 1, first.stdout + first.stderr
    second = gate(sim, env, tmp_path, "--comment")
    assert second.returncode == 1
    (note,) = gitlab.notes[("42", 7)]
    assert note["body"].startswith("<!-- checkly-gate:")
    states = [s["status"] for s in gitlab.statuses[("42", HEAD)]]
    assert states == ["pending", "failed"]
    assert publish_lines(first) == publish_lines(second) == []
    no_token(first), no_token(second)


@pytest.mark.parametrize("platform", ["github", "gitlab"])
def test_a_403_leaves_the_exit_code_and_says_why_in_one_line(
    sim: Simulator, github: GitHubFake, gitlab: GitLabFake, tmp_path: Path, platform: str
) -> None:
    fake = github if platform == "github" else gitlab
    fake.inject("status", status=403, times=None)
    env = gh_env(github, tmp_path) if platform == "github" else gl_env(gitlab)
    proc = gate(sim, env, tmp_path, "--comment")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # what the session said
    (line,) = publish_lines(proc)
    assert "403" in line
    assert "Traceback" not in proc.stderr
    no_token(proc)


def test_notify_delivers_once_without_a_secret_and_a_403_changes_nothing(
    sim: Simulator, tmp_path: Path
) -> None:
    with Receiver() as receiver:
        url = receiver.url(SECRET_PATH)
        proc = gate(sim, base_env(), tmp_path, "--notify", url, "--json", "g.json")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        ((path, raw),) = receiver.posts
        assert path == SECRET_PATH
        body = json.loads(raw)
        assert body["outcome"] == "failed" and body["exitCode"] == 1 and body["text"]
        assert "XyZsecret" not in raw.decode()
        assert KEY not in raw.decode()
        no_token(proc, SECRET_PATH, "XyZsecret")
        assert "XyZsecret" not in (tmp_path / "g.json").read_text()
    with Receiver(status=403, echo=True) as refusing:
        env = {**base_env(), "CHECKLY_GATE_NOTIFY": refusing.url(SECRET_PATH)}
        proc = gate(sim, env, tmp_path)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert len(refusing.posts) == 1
        (line,) = publish_lines(proc)
        assert "403" in line
        no_token(proc, SECRET_PATH, "XyZsecret")


def test_notify_on_never_and_on_failures_for_a_pass(tmp_path: Path) -> None:
    passing = Simulator(scenario=load_scenario("passing"), api_key=KEY, speed=20).start()
    try:
        with Receiver() as receiver:
            url = receiver.url("/hook")
            proc = gate(passing, base_env(), tmp_path, "--notify", url)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert receiver.posts == []  # default --notify-on failures
            proc = gate(passing, base_env(), tmp_path, "--notify", url, "--notify-on", "always")
            assert proc.returncode == 0
            assert len(receiver.posts) == 1
    finally:
        passing.stop()


def test_the_deadline_holds_with_a_publisher_that_never_answers(
    github: GitHubFake, tmp_path: Path
) -> None:
    never = Simulator(scenario=load_scenario("never-ends"), api_key=KEY, speed=20).start()
    try:
        github.inject("hang", times=None)
        started = time.monotonic()
        proc = gate(never, gh_env(github, tmp_path), tmp_path, "--status", timeout="3")
        took = time.monotonic() - started
    finally:
        never.stop()
    assert proc.returncode == 4, proc.stdout + proc.stderr
    # the deadline (3 s) + the shielded finishing budget (10 s) + start-up on a busy machine
    assert took < 3 + 10 + 15
    assert publish_lines(proc)  # said why: no answer before the deadline
    no_token(proc)


def test_outside_a_pull_request_comment_says_so_once(
    sim: Simulator, github: GitHubFake, tmp_path: Path
) -> None:
    env = {**gh_env(github, tmp_path), "GITHUB_EVENT_NAME": "push"}
    proc = gate(sim, env, tmp_path, "--comment")
    assert proc.returncode == 1
    (line,) = publish_lines(proc)
    assert "pull request" in line
    assert github.comments == {}

"""On a pull request the commit is the one deployed: each CI system names the commits its run
stands for (head first, then the merge commit it builds), read from GitHub's event payload
(in the shapes GitHub documents, bounded, never blocking) or the systems' documented
variables; ``wait --commit auto`` matches either, ``run`` sends the head."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from checkly_gate.ci import COMMIT_VARIABLES, run_commits
from checkly_gate.ci import github as github_ci
from checkly_gate.commands.options import resolve_commits
from checkly_gate.simulator import Simulator, load_scenario
from checkly_gate.trigger import ci_metadata
from tests.tools import clean_env

HEAD = "9fceb02d0ae598e95dc970b74767f19372d61af8"
MERGE = "e3f1c6a2b4d5f60718293a4b5c6d7e8f90a1b2c3"
BASE = "1111111111111111111111111111111111111111"
KEY = "cu_pr_commits_" + "k3y" * 8

# Minimal payloads in the shapes of GitHub's webhook events (docs: "Webhook events and
# payloads"); only what a workflow on that event gets, trimmed.
PULL_REQUEST = {
    "action": "synchronize",
    "number": 7,
    "pull_request": {
        "number": 7,
        "state": "open",
        "head": {"ref": "feature/login", "sha": HEAD, "repo": {"full_name": "acme/shop"}},
        "base": {"ref": "main", "sha": BASE, "repo": {"full_name": "acme/shop"}},
        "merge_commit_sha": MERGE,
    },
    "repository": {"full_name": "acme/shop"},
}
PUSH = {
    "ref": "refs/heads/main",
    "before": BASE,
    "after": HEAD,
    "head_commit": {"id": HEAD, "message": "Fix login"},
    "repository": {"full_name": "acme/shop"},
}
MERGE_GROUP = {
    "action": "checks_requested",
    "merge_group": {
        "head_sha": HEAD,
        "head_ref": "refs/heads/gh-readonly-queue/main/pr-7-" + BASE,
        "base_sha": BASE,
        "base_ref": "refs/heads/main",
    },
    "repository": {"full_name": "acme/shop"},
}
WORKFLOW_RUN = {
    "action": "completed",
    "workflow_run": {"head_sha": HEAD, "head_branch": "main", "conclusion": "success"},
}


def github(tmp_path: Path, event: str, payload: Any, sha: str, raw: bytes | None = None) -> dict:
    path = tmp_path / "event.json"
    path.write_bytes(raw if raw is not None else json.dumps(payload).encode())
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_SHA": sha,
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_HEAD_REF": "feature/login" if event.startswith("pull_request") else "",
        "GITHUB_REF_NAME": "7/merge",
    }


def shas(env: dict[str, str]) -> list[str]:
    return [c.sha for c in run_commits(env)]


@pytest.mark.parametrize("event", ["pull_request", "pull_request_review"])
def test_github_pull_request_head_first_then_the_merge_commit(tmp_path: Path, event: str) -> None:
    env = github(tmp_path, event, PULL_REQUEST, MERGE)
    assert shas(env) == [HEAD, MERGE]
    assert resolve_commits("auto", env) == (HEAD, MERGE)
    meta = ci_metadata(env)
    assert meta["commitId"] == HEAD and meta["branchName"] == "feature/login"
    assert meta["github"]["sha"] == MERGE and meta["github"]["headSha"] == HEAD


def test_github_pull_request_target_never_takes_the_base_branchs_commit(tmp_path: Path) -> None:
    env = github(tmp_path, "pull_request_target", PULL_REQUEST, BASE)
    assert shas(env) == [HEAD, MERGE]  # GITHUB_SHA is the base branch's last commit there


@pytest.mark.parametrize(
    ("event", "payload", "expected"),
    [
        ("push", PUSH, [HEAD]),
        ("deployment_status", {"deployment": {"sha": HEAD}}, [HEAD]),
        ("merge_group", MERGE_GROUP, [HEAD]),
        ("workflow_run", WORKFLOW_RUN, [HEAD]),
    ],
)
def test_github_other_events(tmp_path: Path, event: str, payload: Any, expected: list) -> None:
    sha = HEAD if event != "workflow_run" else BASE  # workflow_run: the default branch's
    assert shas(github(tmp_path, event, payload, sha)) == expected


def test_a_push_never_reads_the_event_file(tmp_path: Path) -> None:
    env = github(tmp_path, "push", None, HEAD)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    env["GITHUB_EVENT_PATH"] = str(fifo)
    assert shas(env) == [HEAD]


def _big(tmp_path: Path) -> str:
    path = tmp_path / "big.json"
    with open(path, "wb") as handle:
        handle.truncate(github_ci.EVENT_LIMIT_BYTES + 1)  # sparse: no disk spent
    return str(path)


def _fifo(tmp_path: Path) -> str:
    path = tmp_path / "fifo"
    os.mkfifo(path)  # nobody ever writes it
    return str(path)


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (_fifo, "not a regular file"),
        (lambda p: "/dev/zero", "not a regular file"),
        (lambda p: str(p), "not a regular file"),  # a directory
        (lambda p: str(p / "missing.json"), "could not be read"),
        (_big, "larger than 25 MiB"),
        (lambda p: (p / "g").write_bytes(b"\xff{not json") and str(p / "g"), "not JSON"),
        (lambda p: (p / "d").write_text("[" * 100_000) and str(p / "d"), "not JSON"),
        (
            lambda p: (
                (p / "n").write_text('{"pull_request": {"head": {"sha": "HEAD"}}}') and str(p / "n")
            ),
            "no pull_request.head.sha",
        ),
        (lambda p: (p / "l").write_text("[1, 2]") and str(p / "l"), "no pull_request.head.sha"),
    ],
)
def test_an_unreadable_event_payload_is_one_warning_then_github_sha(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, make: Any, needle: str
) -> None:
    env = github(tmp_path, "pull_request", PULL_REQUEST, MERGE)
    env["GITHUB_EVENT_PATH"] = make(tmp_path)
    github_ci._warned.clear()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="checkly_gate"):
        assert shas(env) == [MERGE]
        assert shas(env) == [MERGE]  # asked twice: said once
    assert time.monotonic() - started < 5  # a FIFO never blocks
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and needle in warnings[0] and "\n" not in warnings[0]
    assert "using GITHUB_SHA" in warnings[0]


def test_gitlab_merged_results_head_first_then_the_merge_commit() -> None:
    env = {
        "GITLAB_CI": "true",
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_EVENT_TYPE": "merged_result",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": HEAD,
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature/login",
        "CI_MERGE_REQUEST_TARGET_BRANCH_SHA": BASE,
        "CI_COMMIT_SHA": MERGE,
        "CI_COMMIT_REF_NAME": "refs/merge-requests/7/merge",
        "CI_PROJECT_URL": "https://gitlab.com/acme/shop",
    }
    assert shas(env) == [HEAD, MERGE]
    meta = ci_metadata(env)
    assert meta["commitId"] == HEAD and meta["branchName"] == "feature/login"
    # a plain merge request pipeline: the source variable is empty, CI_COMMIT_SHA is the head
    detached = {**env, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": "", "CI_COMMIT_SHA": HEAD}
    assert shas(detached) == [HEAD]


@pytest.mark.parametrize(
    ("env", "expected", "branch"),
    [
        (
            {
                "TF_BUILD": "True",
                "SYSTEM_PULLREQUEST_SOURCECOMMITID": HEAD,
                "SYSTEM_PULLREQUEST_SOURCEBRANCH": "refs/heads/feature/login",
                "BUILD_SOURCEVERSION": MERGE,
                "BUILD_SOURCEBRANCH": "refs/pull/7/merge",
            },
            [HEAD, MERGE],
            "feature/login",
        ),
        (
            {
                "JENKINS_URL": "https://ci/",
                "ghprbActualCommit": HEAD,
                "ghprbSourceBranch": "feature/login",
                "GIT_COMMIT": MERGE,
                "BRANCH_NAME": "PR-7",
            },
            [HEAD, MERGE],
            "feature/login",
        ),
        (
            {
                "JENKINS_URL": "https://ci/",
                "CHANGE_ID": "7",
                "CHANGE_BRANCH": "feature/login",
                "GIT_COMMIT": HEAD,
                "BRANCH_NAME": "PR-7",
            },
            [HEAD],
            "feature/login",
        ),
        (
            {
                "BUILDKITE": "true",
                "BUILDKITE_COMMIT": HEAD,
                "BUILDKITE_BRANCH": "feature/login",
                "BUILDKITE_PULL_REQUEST": "7",
                "BUILDKITE_PULL_REQUEST_BASE_BRANCH": "main",
            },
            [HEAD],
            "feature/login",
        ),
        (
            {
                "CIRCLECI": "true",
                "CIRCLE_SHA1": HEAD,
                "CIRCLE_BRANCH": "feature/login",
                "CIRCLE_PULL_REQUEST": "https://github.com/acme/shop/pull/7",
            },
            [HEAD],
            "feature/login",
        ),
        (
            {
                "BITBUCKET_BUILD_NUMBER": "7",
                "BITBUCKET_COMMIT": HEAD,
                "BITBUCKET_BRANCH": "feature/login",
                "BITBUCKET_PR_ID": "7",
                "BITBUCKET_PR_DESTINATION_BRANCH": "main",
            },
            [HEAD],
            "feature/login",
        ),
    ],
)
def test_other_systems_pull_request_variables(env: dict, expected: list, branch: str) -> None:
    assert shas(env) == expected
    meta = ci_metadata(env)
    assert meta["commitId"] == HEAD and meta["branchName"] == branch


def test_checklys_own_variable_stands_alone_and_nothing_set_is_said() -> None:
    assert shas({"CHECKLY_REPO_SHA": BASE, "GITHUB_SHA": HEAD}) == [BASE]
    assert shas({"GITHUB_SHA": HEAD}) == [HEAD]  # no system detected: the old order
    assert run_commits({}) == ()
    assert COMMIT_VARIABLES[0] == "CHECKLY_REPO_SHA"


# --- through the real CLI against the simulator -----------------------------------------------


def cli(sim: Simulator, cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in clean_env().items() if k not in COMMIT_VARIABLES}
    environ.update({"CHECKLY_API_KEY": KEY, "NO_COLOR": "1", **env})
    environ["GITHUB_OUTPUT"] = str(cwd / "gh-output")
    environ["GITHUB_STEP_SUMMARY"] = str(cwd / "gh-summary")
    command = [sys.executable, "-m", "checkly_gate", *args, "--api-url", sim.url]
    command += ["--poll-interval", "0.1", "--timeout", "20"]
    return subprocess.run(command, env=environ, cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("listed", [HEAD, MERGE])
def test_wait_commit_auto_on_a_pull_request_finds_a_session_of_either_commit(
    tmp_path: Path, listed: str
) -> None:
    from dataclasses import replace

    scenario = load_scenario("passing")
    with Simulator(scenario=scenario, api_key=KEY, speed=20) as sim:
        sim.add_listed(replace(scenario, metadata={**scenario.metadata, "commitId": listed}))
        env = github(tmp_path, "pull_request", PULL_REQUEST, MERGE)
        proc = cli(sim, tmp_path, env, "wait", "--commit", "auto", "--discover-timeout", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"commit {HEAD[:12]} (or {MERGE[:12]})" in proc.stdout


def test_run_on_a_pull_request_sends_the_head_commit(tmp_path: Path) -> None:
    with Simulator(scenario=load_scenario("passing"), api_key=KEY, speed=20) as sim:
        env = github(tmp_path, "pull_request", PULL_REQUEST, MERGE)
        proc = cli(sim, tmp_path, env, "run", "--tags", "web")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        meta = sim.triggered[0].body["metadata"]
    assert meta["commitId"] == HEAD and meta["github"]["sha"] == MERGE

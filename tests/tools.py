"""Helpers for the tests that drive real CI tools (act, gitlab-ci-local, hadolint)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from checkly_gate.simulator import Simulator, load_scenario


def tool(name: str) -> str | None:
    """A command on PATH, or next to this interpreter (a venv that is not activated)."""
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else None


@contextmanager
def ci_simulators(key: str, account: str) -> Iterator[dict[str, Simulator]]:
    """Three fast simulators: a passing session (account id required), a failing one, and
    trigger-demo for tags (`web` passes; only the checkout, tagged api, fails)."""
    sims = {
        "passing": Simulator(
            scenario=load_scenario("passing"), api_key=key, account_id=account, speed=20
        ),
        "failing": Simulator(scenario=load_scenario("failing"), api_key=key, speed=20),
        "tags": Simulator(scenario=load_scenario("trigger-demo"), api_key=key, speed=20),
    }
    for sim in sims.values():
        sim.start()
    try:
        yield sims
    finally:
        for sim in sims.values():
            sim.stop()


def clean_env() -> dict[str, str]:
    """This process's environment without anything that would change the gate's behaviour:
    Checkly and CI variables (the tests set what they need) and proxies (loopback only)."""
    foreign = ("CHECKLY", "GITHUB", "GITLAB", "CI_", "RUNNER_", "ACTIONS_")
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(foreign) and not k.lower().endswith("_proxy")
    }


def commit_all(repo: Path) -> None:
    """Make ``repo`` a git repository with everything in it committed (CI runners need one)."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "commit.gpgsign=false", "commit", "-q", "-m", "test"],
    ):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def terminate_when_seen(
    cmd: list[str], env: dict[str, str], sim: Simulator, requests: int, cwd: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``cmd``, SIGTERM it once ``sim`` has answered ``requests`` requests, and wait for it.

    Returns the finished process and the seconds it took to exit after the signal.
    """
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60  # start-up on a loaded machine
    while time.monotonic() < deadline and len(sim.requests) < requests:
        time.sleep(0.05)
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    done = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    return done, time.monotonic() - signalled


def unfolded(text: str) -> str:
    """``text`` with the gate's folded lines joined again: a line longer than 100 columns
    continues on lines indented by two blanks (``progress.wrap``)."""
    return text.replace("\n  ", " ")

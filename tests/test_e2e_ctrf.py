"""End to end: ``--ctrf PATH`` through the real CLI writes a CTRF report on every outcome
(passed, failed, cancelled, timed out, refused, unavailable, interrupted, no match, no session,
usage error), valid against the CTRF JSON Schema, and a real consumer (ctrf-io's
``github-actions-ctrf``) reads it red exactly when the gate exits non-zero (issue 22 §1)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from checkly_gate.commands.commit import COMMIT_VARIABLES
from checkly_gate.simulator import Scenario, Simulator, load_scenario
from checkly_gate.simulator.model import DEFAULT_METADATA
from tests.ctrf_consumer import consumer_command, ctrf_schema, read_with_consumer, validate_ctrf
from tests.tools import clean_env, terminate_when_seen

KEY = "cu_e2e_ctrf_" + "s3cr3t" * 4
SHA = str(DEFAULT_METADATA["commitId"])


@pytest.fixture
def sims() -> Iterator:
    started: list[Simulator] = []

    def make(scenario: Scenario | str = "passing", **kwargs: object) -> Simulator:
        sc = load_scenario(scenario) if isinstance(scenario, str) else scenario
        sim = Simulator(scenario=sc, api_key=KEY, speed=20, **kwargs).start()  # type: ignore[arg-type]
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def command(api_url: str, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "checkly_gate", *args, "--api-url", api_url,
        "--poll-interval", "0.1", "--ctrf", "out/ctrf.json", "--json", "out/g.json",
    ]  # fmt: skip


def environ() -> dict[str, str]:
    env = {k: v for k, v in clean_env().items() if k not in COMMIT_VARIABLES}
    env.update({"CHECKLY_API_KEY": KEY, "NO_COLOR": "1"})
    return env


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=environ(), cwd=cwd, capture_output=True, text=True, timeout=90)


def other_commit() -> Scenario:
    return replace(load_scenario("passing"), metadata={"commitId": f"{7:040x}"})


def _outcome(name: str, sims, cwd: Path) -> subprocess.CompletedProcess[str]:
    sid = str(uuid.uuid4())
    if name in {"passing", "failing", "cancelled", "unauthorized"}:
        return run(command(sims(name).url, "wait", sid, "--timeout", "30"), cwd)
    if name == "never-ends":
        return run(command(sims(name).url, "wait", sid, "--timeout", "1.5"), cwd)
    if name == "unreachable":
        return run(command("http://127.0.0.1:9", "wait", sid, "--timeout", "1.5"), cwd)
    if name == "interrupted":
        sim = sims("never-ends")
        proc, _ = terminate_when_seen(
            command(sim.url, "wait", sid, "--timeout", "60"), environ(), sim, 2, cwd=cwd
        )
        return proc
    if name == "no-match":
        return run(command(sims("passing").url, "run", "--tags", "no-such-tag"), cwd)
    if name == "no-session":
        sim = sims("passing")
        sim.add_listed(other_commit())
        args = ("wait", "--commit", SHA, "--discover-timeout", "0.3", "--timeout", "20")
        return run(command(sim.url, *args), cwd)
    assert name == "usage"
    return run(command(sims("passing").url, "wait", sid, "--timeout", "not-a-number"), cwd)


OUTCOMES = [
    ("passing", 0, "passed"),
    ("failing", 1, "failed"),
    ("cancelled", 3, "cancelled"),
    ("never-ends", 4, "timed-out"),
    ("unauthorized", 5, "refused"),
    ("unreachable", 6, "unavailable"),
    ("interrupted", 143, "interrupted"),
    ("no-match", 7, "no-match"),
    ("no-session", 8, "no-session"),
    ("usage", 2, "error"),
]


@pytest.mark.skipif(ctrf_schema() is None, reason="no CTRF JSON Schema (npm ctrf or ../shared)")
@pytest.mark.parametrize(("name", "code", "label"), OUTCOMES)
def test_every_outcome_writes_a_valid_ctrf_read_as_the_exit_code_says(
    sims, tmp_path: Path, name: str, code: int, label: str
) -> None:
    proc = _outcome(name, sims, tmp_path)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    path = tmp_path / "out" / "ctrf.json"
    text = path.read_text(encoding="utf-8")
    assert KEY not in text
    doc = json.loads(text)
    assert validate_ctrf(doc) == []
    summary = doc["results"]["summary"]
    assert (summary["failed"] > 0) is (code != 0)
    if label != "error":  # a usage error is refused before a snapshot's options are read
        assert json.loads((tmp_path / "out" / "g.json").read_text())["outcome"] == label
    if consumer_command() is not None:
        read = read_with_consumer(path)
        assert (read["failed"] > 0) is (code != 0)
        assert read["tests"] == len(doc["results"]["tests"])

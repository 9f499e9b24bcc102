"""Every input that can block is bounded: each file kind (FIFO nobody writes, ``/dev/zero``, a
directory, a missing path, a huge file, a symlink loop) as each input the gate reads (``--config``,
``SSL_CERT_FILE``, a ``report`` snapshot) or appends to (``$GITHUB_OUTPUT``,
``$GITHUB_STEP_SUMMARY``), through the real CLI: one line and its exit code, well within the
deadline, never a hang, a ``MemoryError`` or a traceback. And a CI tool the gate starts
(``buildkite-agent annotate``) that hangs is killed with its process group at the bound or at
a signal.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checkly_gate.files import UnreadableInput, read_bounded
from checkly_gate.simulator import Simulator, load_scenario
from tests.tools import clean_env

KEY = "cu_bounded_" + "b" * 16
SID = "3f1d2c4b-5a6e-4f70-8192-a3b4c5d6e7f8"
KINDS = ("fifo", "dev-zero", "directory", "missing", "huge", "symlink-loop")
READS = ("config", "cert-file", "snapshot")
WRITES = ("github-output", "step-summary")


def make(kind: str, tmp: Path, huge: int = 300 * 1024 * 1024) -> str:
    target = tmp / f"input-{kind}"
    if kind == "fifo":
        os.mkfifo(target)  # nobody writes (or reads) it
    elif kind == "dev-zero":
        return "/dev/zero"
    elif kind == "directory":
        target.mkdir()
    elif kind == "huge":
        with open(target, "wb") as handle:
            handle.truncate(huge)  # sparse: no disk used
    elif kind == "symlink-loop":
        os.symlink(target, target)
    return str(target)


def run(args: list[str], tmp: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    environment = {**clean_env(), "CHECKLY_API_KEY": KEY, "NO_COLOR": "1", **env}
    for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        if variable not in env:
            environment.pop(variable, None)
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "checkly_gate", *args],
        env=environment,
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc, time.monotonic() - start


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("what", READS)
def test_a_read_input_of_any_kind_is_one_line_exit_2(what: str, kind: str, tmp_path: Path) -> None:
    path = make(kind, tmp_path)
    if what == "config":
        args, env = ["wait", SID, "--config", path, "--timeout", "8"], {}
    elif what == "cert-file":
        args = ["wait", SID, "--api-url", "https://127.0.0.1:9", "--timeout", "8"]
        env = {"SSL_CERT_FILE": path}
    else:
        args, env = ["report", path], {}
    proc, took = run(args, tmp_path, **env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr
    assert took < 8, f"took {took:.1f}s: the read was not bounded"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("what", WRITES)
def test_a_ci_output_file_of_any_kind_never_holds_the_gate_or_changes_the_verdict(
    what: str, kind: str, tmp_path: Path
) -> None:
    path = make(kind, tmp_path)
    variable = "GITHUB_OUTPUT" if what == "github-output" else "GITHUB_STEP_SUMMARY"
    with Simulator(scenario=load_scenario("passing"), api_key=KEY, speed=20) as sim:
        args = ["wait", SID, "--api-url", sim.url, "--timeout", "20", "--poll-interval", "0.2"]
        proc, took = run(args, tmp_path, GITHUB_ACTIONS="true", **{variable: path})
    assert proc.returncode == 0, proc.stdout + proc.stderr  # a CI file never changes it
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr
    assert took < 20, f"took {took:.1f}s"


def test_a_fifo_whose_reader_never_reads_is_given_up_on(tmp_path: Path) -> None:
    """A reader that opened the FIFO and then takes nothing: bounded by the stall limit."""
    from checkly_gate.files import WRITE_STALL_SECONDS, write_atomic
    from checkly_gate.redact import Secrets

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        start = time.monotonic()
        with pytest.raises(OSError, match="took nothing"):
            write_atomic(fifo, "x" * (4 * 1024 * 1024), Secrets())  # more than any pipe buffer
        assert time.monotonic() - start < WRITE_STALL_SECONDS + 5
    finally:
        os.close(reader)


@pytest.mark.parametrize("kind", KINDS)
def test_the_one_reader_refuses_every_kind_at_once(kind: str, tmp_path: Path) -> None:
    path = make(kind, tmp_path, huge=2 * 1024 * 1024)
    start = time.monotonic()
    with pytest.raises(UnreadableInput) as caught:
        read_bounded(path, 1024 * 1024, "config file")
    assert time.monotonic() - start < 2
    assert "config file" in str(caught.value) and "\n" not in str(caught.value)


def test_the_one_reader_reads_a_regular_file_and_a_symlink_to_it(tmp_path: Path) -> None:
    target = tmp_path / "a.yml"
    target.write_bytes(b"timeout: 5\n")
    link = tmp_path / "link.yml"
    link.symlink_to(target)
    assert read_bounded(link, 100, "config file") == b"timeout: 5\n"
    assert stat.S_ISLNK(os.lstat(link).st_mode)


def _hanging_agent(tmp: Path) -> Path:
    """A ``buildkite-agent`` that hangs, and starts a grandchild that would hang too."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    agent = bin_dir / "buildkite-agent"
    agent.write_text(f"#!/bin/sh\necho $$ > {tmp / 'agent.pid'}\nsleep 300 &\nsleep 300\n")
    agent.chmod(0o755)
    return bin_dir


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("how", ["deadline", "sigterm"])
def test_a_hanging_buildkite_agent_never_holds_the_gate(how: str, tmp_path: Path) -> None:
    bin_dir = _hanging_agent(tmp_path)
    env = {
        **clean_env(),
        "CHECKLY_API_KEY": KEY,
        "NO_COLOR": "1",
        "BUILDKITE": "true",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    with Simulator(scenario=load_scenario("passing"), api_key=KEY, speed=20) as sim:
        cmd = [sys.executable, "-m", "checkly_gate", "wait", SID, "--api-url", sim.url]
        cmd += ["--timeout", "30", "--poll-interval", "0.2"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        pid_file = tmp_path / "agent.pid"
        deadline = time.monotonic() + 40
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pid_file.exists(), "the agent was never started"
        started = time.monotonic()
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=40)
        took = time.monotonic() - started
    agent = int(pid_file.read_text())
    assert not _alive(agent), "the agent outlived the gate"
    if how == "sigterm":
        assert proc.returncode == 143, err
        assert took < 10, f"{took:.1f}s after SIGTERM"  # a runner kills after 10 s
    else:
        assert proc.returncode == 0, err  # the verdict stands; the annotation is best effort
        assert took < 20, f"{took:.1f}s with a hanging agent"
    assert b"buildkite-agent annotate was killed" in out + err


def test_a_body_of_millions_of_empty_rows_is_not_parsed_past_the_deadline(tmp_path: Path) -> None:
    """6 MB of ``{}`` rows takes the row reader about a minute: the exchange's worker parses it,
    so the deadline ends the wait as it ends a slow download."""
    from tests.canned import canned

    head = b'{"testSessionId": "%s", "status": "FAILED", "results": [' % SID.encode()
    body = head + b",".join([b"{}"] * 2_000_000) + b"]}"

    def answer(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        return 200, {"Content-Type": "application/json"}, body

    with canned(answer) as url:
        args = ["wait", SID, "--api-url", url, "--timeout", "6", "--no-long-poll"]
        proc, took = run(args, tmp_path)
    assert proc.returncode not in (0, 1), proc.stdout + proc.stderr  # never judged
    assert took < 16, f"took {took:.1f}s with a 6s deadline"
    assert "still parsing" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr

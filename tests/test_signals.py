"""Signals in every phase: GitHub's cancel sequence replayed against the real process.

GitHub Actions cancels a step with SIGINT, then SIGTERM 7.5 s later, then SIGKILL 2.5 s after
that; these tests replay exactly that (the gate promises to be done 2 s after the first signal;
a busy machine gets the runner's own 10 s). In each phase the gate must stop the phase, write its
reports and exit 130 (the first signal was SIGINT). Two tests are about a second signal that
lands while the gate still works on the first (a person pressing Ctrl-C twice, within the 1.5 s
cancel request or the 2 s stall of a CI file): only they send it sooner, ``SECOND_SIGNAL_AFTER``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from checkly_gate.simulator import Fault, Simulator, load_scenario
from tests.hostile import REPORTS, SID, HostileProxy
from tests.tools import clean_env

KEY = "cu_signals_" + "y" * 16
TERM_AFTER = 7.5  # GitHub's runner: SIGTERM 7.5 s after SIGINT
KILL_AFTER = TERM_AFTER + 2.5  # then SIGKILL
SECOND_SIGNAL_AFTER = 0.5  # a second Ctrl-C, inside the phase the first one ends
READY_WITHIN = 60.0  # the gate reaching the phase under test, on a loaded machine


def gate_cmd(url: str, *args: str, timeout: float = 30) -> list[str]:
    return [
        sys.executable,
        "-m",
        "checkly_gate",
        *args,
        "--api-url",
        url,
        "--poll-interval",
        "0.2",
        "--timeout",
        str(timeout),
        *REPORTS,
    ]


def gate_env(**extra: str) -> dict[str, str]:
    return {**clean_env(), "CHECKLY_API_KEY": KEY, "NO_COLOR": "1", **extra}


def github_cancel(
    cmd: list[str],
    cwd: Path,
    ready: Callable[[], bool],
    env: dict[str, str] | None = None,
    after_term: Callable[[], None] | None = None,
    term_after: float = TERM_AFTER,
) -> tuple[int, float, str]:
    """Start ``cmd``; once ``ready()``, replay GitHub's cancel sequence. Returns the exit
    code, the seconds from SIGINT to exit, and the output."""
    proc = subprocess.Popen(
        cmd,
        env=env or gate_env(),
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.append(proc.stdout.read()), daemon=True)
    reader.start()
    start = time.monotonic()
    while not ready() and proc.poll() is None and time.monotonic() - start < READY_WITHIN:
        time.sleep(0.02)
    assert proc.poll() is None, "the gate ended before the phase under test"
    sigint = time.monotonic()
    proc.send_signal(signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(term_after)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        if after_term is not None:
            after_term()
    try:
        proc.wait(max(0.0, KILL_AFTER - (time.monotonic() - sigint)))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    took = time.monotonic() - sigint
    reader.join(5)
    return proc.returncode, took, "".join(output)


def assert_reports(cwd: Path, code: int) -> None:
    out = cwd / "out"
    data = json.loads((out / "gate.json").read_text())
    assert data["exitCode"] == code and data["outcome"] == "interrupted"
    assert "interrupted" in (out / "junit.xml").read_text()
    assert f"(exit {code})" in (out / "summary.md").read_text()


@pytest.fixture
def sim() -> Iterator[Callable[..., Simulator]]:
    started: list[Simulator] = []

    def start(scenario: str = "never-ends", **kwargs: object) -> Simulator:
        sc = load_scenario(scenario)
        if "faults" in kwargs:
            sc = replace(sc, faults=kwargs.pop("faults"))  # type: ignore[arg-type]
        s = Simulator(scenario=sc, api_key=KEY, speed=20, **kwargs).start()  # type: ignore[arg-type]
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def test_while_triggering(sim, tmp_path: Path) -> None:
    with HostileProxy(sim("trigger-demo"), "trigger", "silent") as proxy:
        code, took, log = github_cancel(
            gate_cmd(proxy.url, "run", "--tags", "web"), tmp_path, lambda: proxy.hits("trigger")
        )
    assert code == 130, log
    assert took < KILL_AFTER
    assert "a session may have started" in log  # the POST had gone out when it was abandoned
    assert "interrupted by SIGINT while starting the test session" in log
    assert_reports(tmp_path, 130)


def test_while_following(sim, tmp_path: Path) -> None:
    s = sim("never-ends")
    code, took, log = github_cancel(
        gate_cmd(s.url, "wait", SID),
        tmp_path,
        lambda: any(r.path.endswith("/completion") for r in s.requests),
    )
    assert code == 130, log
    assert took < KILL_AFTER
    assert "INTERRUPTED (exit 130): interrupted by SIGINT" in log  # the signal's name
    assert_reports(tmp_path, 130)


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_sighup_is_handled_like_sigterm(sim, tmp_path: Path) -> None:
    """A closed terminal or a runner that hangs up: exit 129 with every report written, and
    the cancel request sent when asked for."""
    s = sim("never-ends")
    proc = subprocess.Popen(
        gate_cmd(s.url, "wait", SID, "--cancel-on-interrupt"),
        env=gate_env(),
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    start = time.monotonic()
    while not any(r.path.endswith("/completion") for r in s.requests):
        assert proc.poll() is None and time.monotonic() - start < READY_WITHIN
        time.sleep(0.02)
    proc.send_signal(signal.SIGHUP)
    output, _ = proc.communicate(timeout=KILL_AFTER + 5)
    assert proc.returncode == 129, output
    assert "interrupted by SIGHUP" in output
    assert_reports(tmp_path, 129)
    assert any(r.method == "POST" and r.path.endswith("/cancel") for r in s.requests)


def test_while_sleeping_on_retry_after(sim, tmp_path: Path) -> None:
    s = sim("never-ends", faults=(Fault(kind="rate-limit", endpoint="session", retry_after=20),))
    code, took, log = github_cancel(
        gate_cmd(s.url, "wait", SID), tmp_path, lambda: len(s.requests) >= 1
    )
    assert code == 130, log
    assert took < KILL_AFTER
    assert len(s.requests) == 1  # the 20 s wait was cut short, not waited out
    assert_reports(tmp_path, 130)


def test_while_fetching_error_details(sim, tmp_path: Path) -> None:
    with HostileProxy(sim("failing"), "error-group", "drip") as proxy:
        code, took, log = github_cancel(
            gate_cmd(proxy.url, "wait", SID), tmp_path, lambda: proxy.hits("error-group")
        )
    assert code == 130, log
    assert took < KILL_AFTER
    assert_reports(tmp_path, 130)
    # What was judged before the signal is kept: the session's failures are in the report.
    data = json.loads((tmp_path / "out" / "gate.json").read_text())
    assert data["counts"]["failed"] >= 1


def test_while_cancelling_a_second_signal_ends_the_cancel(sim, tmp_path: Path) -> None:
    s = sim("never-ends")
    with HostileProxy(s, "cancel", "silent") as proxy:
        code, took, log = github_cancel(
            gate_cmd(proxy.url, "wait", SID, "--cancel-on-interrupt"),
            tmp_path,
            lambda: proxy.hits("completion"),
            term_after=SECOND_SIGNAL_AFTER,
        )
        assert proxy.hits("cancel") == 1
    assert code == 130, log
    assert took < KILL_AFTER
    assert "another signal" in log or "no time left" in log
    assert_reports(tmp_path, 130)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_a_signal_while_a_stalled_reader_holds_a_ci_file_still_ends_in_time(
    sim, tmp_path: Path
) -> None:
    """The step summary is a FIFO whose reader takes nothing (its pipe already full): the write
    gives up after ``files.WRITE_STALL_SECONDS`` instead of holding the gate until SIGKILL
    (issue 18.2); the first signal that arrived meanwhile is the exit code, a second one does
    not cut the reports short."""
    from checkly_gate.files import WRITE_STALL_SECONDS

    s = sim("passing")
    fifo = tmp_path / "step-summary"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader that never reads
    filler = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        with contextlib.suppress(BlockingIOError):
            while True:
                os.write(filler, b"x" * 4096)  # the pipe is full: the gate's write stalls
        env = gate_env(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(fifo))
        code, took, log = github_cancel(
            gate_cmd(s.url, "wait", SID),
            tmp_path,
            lambda: (tmp_path / "out" / "summary.md").exists(),
            env=env,
            term_after=SECOND_SIGNAL_AFTER,
        )
    finally:
        os.close(filler)
        os.close(reader)
    # The verdict was reached before the signals: the reports hold it, complete; the second
    # signal (SIGTERM) did not cut them short; the process exits for the first, before SIGKILL.
    assert code == 130, log
    assert took < KILL_AFTER, f"{took:.1f}s (stall bound {WRITE_STALL_SECONDS:g}s)"
    assert "took nothing" in log
    data = json.loads((tmp_path / "out" / "gate.json").read_text())
    assert data["outcome"] == "passed"
    assert "</testsuites>" in (tmp_path / "out" / "junit.xml").read_text()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


def _namespace_pids(pid: int) -> list[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return [int(p) for p in line.split()[1:]]
    return []


def test_sigterm_as_pid_1_of_a_pid_namespace(sim, tmp_path: Path) -> None:
    """A container runs the gate as PID 1, which has no default signal actions in Linux: the
    gate's own handlers must turn SIGTERM into reports and exit 143."""
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        pytest.skip("needs Linux and unshare (util-linux)")
    probe = subprocess.run(
        [unshare, "--pid", "--fork", "--mount-proc", "true"], capture_output=True, timeout=10
    )
    if probe.returncode != 0:
        pytest.skip(f"unshare --pid not permitted here: {probe.stderr.decode().strip()}")
    s = sim("never-ends")
    proc = subprocess.Popen(
        [unshare, "--pid", "--fork", "--mount-proc", *gate_cmd(s.url, "wait", SID)],
        env=gate_env(),
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        start = time.monotonic()
        while not s.requests and time.monotonic() - start < READY_WITHIN:
            time.sleep(0.02)
        children = _children(proc.pid)
        assert children, "unshare did not fork the gate"
        gate = children[0]
        assert _namespace_pids(gate)[-1] == 1, "the gate is not PID 1 of its namespace"
        signalled = time.monotonic()
        os.kill(gate, signal.SIGTERM)
        output, _ = proc.communicate(timeout=KILL_AFTER + 5)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, output
    assert time.monotonic() - signalled < KILL_AFTER  # docker stop's default grace: 10 s
    assert_reports(tmp_path, 143)


# A CI's cancel can land in the first few hundred ms, while Python still imports the gate (on
# a busy runner: longer). This hook, loaded by `site` through PYTHONPATH, signals the process
# itself the moment `checkly_gate.cli` starts importing: the phase is hit every time.
_SIGNAL_WHILE_IMPORTING = """
import importlib.abc, os, signal, sys

class _Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "checkly_gate.cli":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.{signal})
        return None

sys.meta_path.insert(0, _Hook())
"""


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("entry", ["python -m checkly_gate", "checkly-gate console script"])
def test_a_signal_while_python_imports_the_gate_still_writes_every_report(
    sim, tmp_path: Path, signame: str, entry: str
) -> None:
    """Before a scope exists the stop signals are held (``held_signals``), then delivered to
    the command's scope: exit 128 + the signal, every report written, no traceback."""
    if not hasattr(signal, signame):
        pytest.skip(f"no {signame} on this platform")
    signum = getattr(signal, signame)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_SIGNAL_WHILE_IMPORTING.replace("{signal}", signame))
    s = sim("never-ends")
    cmd = gate_cmd(s.url, "wait", SID)
    if entry != "python -m checkly_gate":
        # what pip's wrapper for `checkly-gate` does: import the entry point, call it
        project = (Path(__file__).parents[1] / "pyproject.toml").read_text()
        target = next(
            line.split("=", 1)[1].strip().strip('"')
            for line in project.splitlines()
            if line.startswith("checkly-gate =")
        )
        module, func = target.split(":")
        wrapper = f"import sys; from {module} import {func}; sys.exit({func}())"
        cmd = [sys.executable, "-c", wrapper, *cmd[3:]]
    env = gate_env(PYTHONPATH=os.pathsep.join([str(hook), *sys.path]))
    proc = subprocess.run(
        cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=KILL_AFTER * 3
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 128 + signum, log
    assert "Traceback" not in log
    assert f"INTERRUPTED (exit {128 + signum}): interrupted by {signame}" in log
    assert_reports(tmp_path, 128 + signum)

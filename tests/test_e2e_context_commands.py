"""Issue 21 end to end for the commands that find their own sessions: ``run`` (the gate triggers
the test session itself: ``commands/run.py``, ``start.py``; with ``--check-sessions`` one check
session per check: ``run_checks.py``) and ``wait --commit SHA`` (it finds the session by commit:
``commands/commit.py``), the real CLI in a subprocess against the simulator over HTTP, and
``report`` re-rendering each run's snapshot.

``wait ID`` is covered by ``test_e2e_context.py``; these tests show that the same engine (shadow,
quarantine, fail fast, ``--fail-on new``, the deploy check) is reached from the other entries.
Each test runs once per command (``MODES``): ``run`` triggers a session of the simulator's
scenario (no target: every check), ``checks`` (``run --check-sessions``) one check session per
check, ``commit`` waits for a session of that scenario the simulator lists under the
scenario's commit (``Simulator.add_listed``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from checkly_gate.ci import COMMIT_VARIABLES
from checkly_gate.simulator import Simulator, load_scenario
from checkly_gate.simulator.builtin import OTHER_COMMIT, PR_COMMIT
from tests.test_e2e_context import reports
from tests.tools import clean_env, unfolded

KEY = "cu_e2e_ctx_cmd_" + "s3cr3t" * 4
MODES = ("run", "commit")
#: and ``run --check-sessions`` (one check session per check: ``run_checks.py``)
EVERY_MODE = ("run", "checks", "commit")
TODAY = dt.datetime.now(dt.timezone.utc).date()
SOON = TODAY + dt.timedelta(days=30)
PAST = TODAY - dt.timedelta(days=3)
SHADOW_1 = "shadow: the gate would have exited 1 (failed)"
FOLLOWED = re.compile(r"^/v1/test-sessions/([^/]+)(?:/completion)?$")
VERDICT = re.compile(r"^[A-Z][A-Z-]* \(exit \d+\):.*$", re.MULTILINE)


class Gate:
    """One simulator and how to point a command at it: ``run`` triggers a session of its
    scenario, ``checks`` one check session per check; ``commit`` waits for the session it
    lists under the scenario's commit."""

    def __init__(self, sim: Simulator, mode: str) -> None:
        self.sim, self.mode = sim, mode
        self.commit = str(sim.scenario.metadata["commitId"])
        # commit: one session of the scenario, listed (and its clock started) now
        self.listed = sim.add_listed(sim.scenario, provider="GITHUB") if mode == "commit" else ""

    def command(self) -> list[str]:
        if self.mode == "commit":
            return ["wait", "--commit", self.commit]
        return ["run", "--check-sessions"] if self.mode == "checks" else ["run"]

    def session_id(self) -> str:
        """The session the command followed: the one it triggered, or the listed one."""
        return self.sim.triggered[0].session_id if self.mode == "run" else self.listed

    def __call__(
        self, *extra: str, cwd: Path, timeout: str = "60", **env: str
    ) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "checkly_gate", *self.command(), *extra]
        argv += ["--api-url", self.sim.url, "--poll-interval", "0.2", "--timeout", timeout]
        return subprocess.run(
            argv, env=gate_env(**env), cwd=cwd, capture_output=True, text=True, timeout=120
        )


def gate_env(**extra: str) -> dict[str, str]:
    """No CI, no commit variable (the tests name what they need), the test key, no colour."""
    env = {k: v for k, v in clean_env().items() if k not in COMMIT_VARIABLES}
    env.update({"CHECKLY_API_KEY": KEY, "NO_COLOR": "1", **extra})
    return env


@pytest.fixture
def gates() -> Iterator[Callable[..., Gate]]:
    started: list[Simulator] = []

    def start(scenario: str, mode: str, speed: float = 10.0) -> Gate:
        sim = Simulator(scenario=load_scenario(scenario), api_key=KEY, speed=speed).start()
        started.append(sim)
        return Gate(sim, mode)

    yield start
    for sim in started:
        sim.stop()


def said(proc: subprocess.CompletedProcess[str]) -> str:
    """The command's output with folded lines joined and runs of blanks as one."""
    return " ".join(unfolded(proc.stdout).split())


def verdict_line(stdout: str) -> str:
    """The verdict line (``FAILED (exit 1): ...``), folded lines joined."""
    found = VERDICT.search(unfolded(stdout))
    assert found is not None, stdout
    return found.group(0)


def report_agrees(proc: subprocess.CompletedProcess[str], tmp_path: Path) -> str:
    """``checkly-gate report`` on the run's snapshot, offline: the same exit code and the same
    verdict line as the run itself. Returns what ``report`` printed."""
    again = subprocess.run(
        [sys.executable, "-m", "checkly_gate", "report", str(tmp_path / "gate.json")],
        env=gate_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == proc.returncode, again.stdout + again.stderr
    assert verdict_line(again.stdout) == verdict_line(proc.stdout)
    return again.stdout


def session_requests(sim: Simulator) -> list[str]:
    """The paths of every request about test sessions (trigger, list, get, cancel...)."""
    return [r.path for r in sim.requests if r.path.startswith("/v1/test-session")]


# ---------------------------------------------------------------- §4 shadow


@pytest.mark.parametrize("mode", EVERY_MODE)
def test_shadow_on_a_failing_session_exits_0_and_every_output_says_1(
    gates, tmp_path: Path, mode: str
) -> None:
    output, step_summary = tmp_path / "github_output", tmp_path / "step_summary.md"
    gate = gates("known-and-new", mode)
    proc = gate(
        "--shadow",
        *reports(tmp_path),
        cwd=tmp_path,
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(output),
        GITHUB_STEP_SUMMARY=str(step_summary),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SHADOW_1 in said(proc)
    junit = (tmp_path / "junit.xml").read_text()
    assert SHADOW_1 in junit and 'name="gate.would_exit_code" value="1"' in junit
    data = json.loads((tmp_path / "gate.json").read_text())
    assert data["exitCode"] == 0 and SHADOW_1 in json.dumps(data)
    escaped = SHADOW_1.replace("(", "\\(").replace(")", "\\)")  # markdown-escaped
    assert escaped in (tmp_path / "summary.md").read_text()
    assert escaped in step_summary.read_text()
    assert "CHECKLY_GATE_WOULD_EXIT_CODE=1" in (tmp_path / "gate.env").read_text().splitlines()
    outputs = output.read_text().splitlines()
    assert "would-exit-code=1" in outputs and "exit-code=0" in outputs
    assert SHADOW_1 in " ".join(unfolded(report_agrees(proc, tmp_path)).split())


@pytest.mark.parametrize("mode", MODES)
def test_shadow_when_no_session_is_started_or_found(gates, tmp_path: Path, mode: str) -> None:
    """``run`` whose tags match nothing (no-match, 7) and ``wait --commit`` of a commit no
    session carries (no-session, 8) end before any wait: shadowed to 0, said, and ``report``
    on the snapshot agrees (the shadow is part of what the snapshot holds)."""
    gate = gates("known-and-new", mode)
    if mode == "run":
        extra, code, outcome = ("--tags", "no-such-tag"), 7, "no-match"
    else:
        gate.commit = "0123456789abcdef0123"
        extra, code, outcome = ("--discover-timeout", "1"), 8, "no-session"
    proc = gate("--shadow", *extra, *reports(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = f"shadow: the gate would have exited {code} ({outcome})"
    assert line in said(proc)
    assert f"CHECKLY_GATE_WOULD_EXIT_CODE={code}" in (tmp_path / "gate.env").read_text()
    assert line in " ".join(unfolded(report_agrees(proc, tmp_path)).split())


@pytest.mark.parametrize("mode", MODES)
def test_shadow_keeps_a_usage_error_at_2(gates, tmp_path: Path, mode: str) -> None:
    gate = gates("known-and-new", mode)
    proc = gate("--shadow", cwd=tmp_path, timeout="-1")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "--timeout" in proc.stderr
    assert gate.sim.requests == []  # not a trigger, not a look at the list


# ---------------------------------------------------------------- §3 quarantine


def quarantine_file(tmp_path: Path, expires: dt.date, *checks: str) -> None:
    (tmp_path / "checkly-gate.yml").write_text(
        "quarantine:\n"
        + "".join(
            f"  - check: {check}\n    owner: '@payments'\n"
            f"    reason: flaky since the CDN move (PAY-123)\n    expires: {expires}\n"
            for check in checks
        )
    )


@pytest.mark.parametrize("mode", EVERY_MODE)
def test_quarantined_failures_are_green_and_reported_with_their_owner(
    gates, tmp_path: Path, mode: str
) -> None:
    """known-and-new fails Checkout flow and Search suite: both quarantined -> exit 0, the
    terminal, summary and JUnit name the owner and the quarantine."""
    quarantine_file(tmp_path, SOON, "Checkout flow", "Search suite")
    gate = gates("known-and-new", mode)
    proc = gate(*reports(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for text in (
        said(proc),
        (tmp_path / "summary.md").read_text(),
        (tmp_path / "junit.xml").read_text(),
    ):
        assert "quarantined" in text and "@payments" in text and "PAY-123" in text
    # the verdict line says what passed it, one session or several (check sessions)
    assert re.search(r"PASSED \(exit 0\): .*with 2 quarantined failures", said(proc)), said(proc)
    assert json.loads((tmp_path / "gate.json").read_text())["exitCode"] == 0
    assert "@payments" in report_agrees(proc, tmp_path)


@pytest.mark.parametrize("mode", EVERY_MODE)
def test_the_same_entries_after_they_expired_fail_saying_so(
    gates, tmp_path: Path, mode: str
) -> None:
    quarantine_file(tmp_path, PAST, "Checkout flow", "Search suite")
    gate = gates("known-and-new", mode)
    proc = gate(*reports(tmp_path), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = said(proc)
    assert f"quarantine for 'Checkout flow' expired on {PAST.isoformat()}" in out
    assert "expired" in (tmp_path / "summary.md").read_text()
    assert "expired" in report_agrees(proc, tmp_path)


@pytest.mark.parametrize(
    ("mode", "entry"),
    [
        ("run", "  - check: Checkout flow\n    owner: '@p'\n    expires: {soon}\n"),  # no reason
        (
            "commit",
            "  - check: Checkout flow\n    owner: '@p'\n    reason: r\n    expires: {far}\n",
        ),
    ],
    ids=["run-no-reason", "commit-more-than-90-days"],
)
def test_an_invalid_entry_is_exit_2_naming_the_line_before_any_request(
    gates, tmp_path: Path, mode: str, entry: str
) -> None:
    far = TODAY + dt.timedelta(days=91)
    text = entry.format(soon=SOON, far=far)
    (tmp_path / "checkly-gate.yml").write_text(f"timeout: 30\nquarantine:\n{text}")
    gate = gates("known-and-new", mode)
    proc = gate(cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "line 3:" in proc.stderr
    assert gate.sim.requests == []  # not a trigger, not a look at the list


# ---------------------------------------------------------------- §5 fail fast


@pytest.mark.parametrize(
    ("mode", "cancel"),
    [("run", True), ("commit", True), ("run", False)],  # without: test_e2e_context for wait ID
    ids=["run-cancel-on-fail", "commit-cancel-on-fail", "run-no-cancel"],
)
def test_fail_fast_ends_at_the_first_definite_failure(
    gates, tmp_path: Path, mode: str, cancel: bool
) -> None:
    """fail-fast in real time (speed 1): Checkout flow's FINAL failed row at 2 s of a 60 s
    session. The gate exits 1 long before the session ends, every report written with the
    unfinished runs listed; the simulator saw a cancel of that session only with
    --cancel-on-fail."""
    gate = gates("fail-fast", mode, speed=1.0)
    flags = ("--fail-fast", "--cancel-on-fail") if cancel else ("--fail-fast",)
    started = time.monotonic()
    proc = gate(*flags, *reports(tmp_path), cwd=tmp_path, timeout="120")
    took = time.monotonic() - started
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert took < 40, took  # the session runs 60 s; wide: a busy 2-core machine
    out = said(proc)
    assert "--fail-fast" in out and "first definite failure (Checkout flow)" in out
    assert "unfinished:" in out and "Homepage" in out.split("unfinished:")[1]
    data = json.loads((tmp_path / "gate.json").read_text())
    assert data["exitCode"] == 1 and data["context"]["failFast"]["check"] == "Checkout flow"
    assert "Homepage" in data["sessions"][0]["unfinished"]
    for name in ("junit.xml", "summary.md"):
        assert "Homepage" in (tmp_path / name).read_text(), name
    junit = (tmp_path / "junit.xml").read_text()
    assert "still running when the gate stopped in eu-west-1 (--fail-fast)" in junit
    assert "(timed out)" not in junit  # the deadline did not end the wait
    sid = gate.session_id()
    cancels = [r.path for r in gate.sim.requests if r.method == "POST" and "cancel" in r.path]
    assert cancels == ([f"/v1/test-sessions/{sid}/cancel"] if cancel else [])
    report_agrees(proc, tmp_path)


def test_fail_fast_over_several_check_sessions_cuts_the_others_as_unfinished(
    gates, tmp_path: Path
) -> None:
    """``run --check-sessions`` (one check session per check, ``run_checks.py``): Checkout
    flow's session fails at 2 s; the others still running are cut off by --fail-fast, not by
    API trouble: failed (never unavailable, never 4 or 6), each listed unfinished, each
    cancelled through the check-session endpoint with --cancel-on-fail."""
    gate = gates("fail-fast", "checks", speed=1.0)
    started = time.monotonic()
    proc = gate("--fail-fast", "--cancel-on-fail", *reports(tmp_path), cwd=tmp_path, timeout="120")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert time.monotonic() - started < 40
    assert "unavailable" not in said(proc).lower()
    data = json.loads((tmp_path / "gate.json").read_text())
    assert data["context"]["failFast"]["check"] == "Checkout flow"
    cut = [s for s in data["sessions"] if s["stop"] != "final"]
    # Homepage and Status page run ~60 s; Search suite (passes at 3 s after two failed
    # attempts) may have ended first on a slow machine: then it passed, never cut
    assert {"Homepage", "Status page"} <= {s["name"] for s in cut} and len(data["sessions"]) == 4
    ended = [s for s in data["sessions"] if s["stop"] == "final" and s["name"] != "Checkout flow"]
    assert all(s["outcome"] == "passed" for s in ended), ended
    for session in cut:
        assert session["outcome"] == "failed", session
        assert session["unfinished"] == [session["name"]]
        assert "--fail-fast" in session["reason"] and "unavailable" not in session["reason"]
    cancels = {r.path for r in gate.sim.requests if r.method == "POST" and "cancel" in r.path}
    assert cancels == {f"/v1/check-sessions/{s['sessionId']}/cancel" for s in cut}
    report_agrees(proc, tmp_path)


# ---------------------------------------------------------------- §2 --fail-on new


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("scenario", "code"), [("known-and-new", 1), ("known-only", 0)])
def test_fail_on_new(gates, tmp_path: Path, mode: str, scenario: str, code: int) -> None:
    """known-and-new: Checkout flow failing on main too, Search suite new -> red; known-only:
    Checkout flow failing on main, Login API seen before -> green, both listed."""
    gate = gates(scenario, mode)
    proc = gate("--fail-on", "new", "--default-branch", "main", *reports(tmp_path), cwd=tmp_path)
    assert proc.returncode == code, proc.stdout + proc.stderr
    out = said(proc)
    assert "Checkout flow · eu-west-1: known failure, failing on main too (first " in out, out
    if code:
        assert "Search suite · eu-west-1: an assertion failed · new" in out, out
    else:
        assert "passed with 2 known failures" in out, out
        assert "Login API · eu-west-1: known failure, seen before (first " in out, out
        summary = (tmp_path / "summary.md").read_text()
        assert (
            "Checkout flow" in summary and "| 📌 known failure · seen before \\(first " in summary
        )
    report_agrees(proc, tmp_path)


# ---------------------------------------------------------------- §1 which sessions count


def test_run_never_applies_the_deploy_check_to_its_own_session(gates, tmp_path: Path) -> None:
    """The session ``run`` started tested this deploy whatever its metadata says: an
    expect-commit from the config file and an expect-environment from the environment (both
    shared with the pipeline's ``wait`` jobs) are not checked on it (other-commit: a passing
    session whose metadata names OTHER_COMMIT and environment staging)."""
    (tmp_path / "checkly-gate.yml").write_text(f"expect-commit: '{PR_COMMIT}'\n")
    gate = gates("other-commit", "run")
    env = {"CHECKLY_GATE_EXPECT_ENVIRONMENT": "production"}
    proc = gate(*reports(tmp_path), cwd=tmp_path, **env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((tmp_path / "gate.json").read_text())
    (session,) = data["sessions"]
    assert session["body"]["metadata"]["commitId"] == OTHER_COMMIT  # really another commit
    assert session["body"]["metadata"]["environment"] == "staging"
    assert "deploy" not in data["context"]
    report_agrees(proc, tmp_path)


def test_run_refuses_the_expect_commit_flag(gates, tmp_path: Path) -> None:
    """On ``run``'s command line the flag would promise a check that never happens: refused."""
    gate = gates("other-commit", "run")
    proc = gate("--expect-commit", PR_COMMIT, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--expect-commit" in proc.stderr and gate.sim.triggered == []


@pytest.mark.parametrize(("commit", "code"), [(OTHER_COMMIT, 0), (PR_COMMIT, 1)])
def test_wait_commit_follows_only_the_sessions_of_that_commit(
    gates, tmp_path: Path, commit: str, code: int
) -> None:
    """Two listed sessions (and main's history): a passing one of OTHER_COMMIT, a failing one
    of PR_COMMIT; each ``wait --commit`` follows its own commit's session alone."""
    gate = gates("known-and-new", "commit")  # lists the failing PR_COMMIT session
    other = gate.sim.add_listed(load_scenario("other-commit"), provider="GITHUB")
    gate.commit = commit[:10]
    proc = gate(*reports(tmp_path), cwd=tmp_path)
    assert proc.returncode == code, proc.stdout + proc.stderr
    data = json.loads((tmp_path / "gate.json").read_text())
    expected = other if commit == OTHER_COMMIT else gate.listed
    assert [s["sessionId"] for s in data["sessions"]] == [expected]
    read = [FOLLOWED.match(p) for p in session_requests(gate.sim)]
    assert {m.group(1) for m in read if m} == {expected}  # GET by id and completion only
    report_agrees(proc, tmp_path)


@pytest.mark.parametrize(("environment", "code"), [("production", 1), ("staging", 0)])
def test_wait_commit_checks_the_environment_not_the_commit(
    gates, tmp_path: Path, environment: str, code: int
) -> None:
    """A session found by commit tested that commit, but maybe not in the environment this
    deploy expects: a pipeline-wide ``CHECKLY_GATE_EXPECT_ENVIRONMENT`` still applies (the
    session of other-commit ran against staging). The CI's own commit (another one here)
    is not compared: discovery already matched the one asked for."""
    gate = gates("other-commit", "commit")
    proc = gate(
        *reports(tmp_path),
        cwd=tmp_path,
        CHECKLY_GATE_EXPECT_ENVIRONMENT=environment,
        GITHUB_ACTIONS="true",
        GITHUB_SHA=PR_COMMIT,
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    if code:
        assert "staging" in said(proc) and environment in said(proc)
    report_agrees(proc, tmp_path)


def test_wait_branch_checks_the_commit_too(gates, tmp_path: Path) -> None:
    """``wait --branch`` finds the newest session of a branch, whatever commit it tested: a
    session of another commit than the CI's is never green (the deploy check of ``wait ID``)."""
    gate = gates("other-commit", "commit")
    gate.command = lambda: ["wait", "--branch", "feature/cart"]  # type: ignore[method-assign]
    proc = gate(*reports(tmp_path), cwd=tmp_path, GITHUB_ACTIONS="true", GITHUB_SHA=PR_COMMIT)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    text = said(proc)
    assert OTHER_COMMIT[:12] in text and PR_COMMIT[:12] in text, text
    report_agrees(proc, tmp_path)

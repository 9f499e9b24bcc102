"""Issue 21 end to end: the real CLI in a subprocess against the simulator over HTTP.

§1 the deploy check (``--expect-commit``, ``--expect-environment``) for ``wait ID``, from the
flag, the environment and the config file, re-applied by ``report`` from the snapshot;
§4 ``--shadow`` (exit 0, every output says what the exit would have been)."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checkly_gate.simulator import CheckSpec, Scenario, Simulator
from checkly_gate.simulator.builtin import OTHER_COMMIT, PR_COMMIT
from checkly_gate.simulator.model import HistoryEntry
from tests.test_e2e import KEY, gate_cmd, gate_env, run_gate


def reports(tmp_path: Path) -> tuple[str, ...]:
    return (
        "--json",
        str(tmp_path / "gate.json"),
        "--junit",
        str(tmp_path / "junit.xml"),
        "--summary",
        str(tmp_path / "summary.md"),
        "--dotenv",
        str(tmp_path / "gate.env"),
    )


def report_again(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``checkly-gate report`` on the snapshot, offline."""
    return subprocess.run(
        [sys.executable, "-m", "checkly_gate", "report", str(tmp_path / "gate.json")],
        env=gate_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


# ---------------------------------------------------------------- §1 the deploy check


def test_a_session_of_another_commit_is_never_green(sim_factory, tmp_path: Path) -> None:
    """auto: the CI names this run's commit, the session's metadata another: failed (exit 1,
    never 0, 4 or 6), both commits named in the terminal and every report; ``report`` judges
    the snapshot the same way."""
    proc = run_gate(
        sim_factory("other-commit"), extra=reports(tmp_path), cwd=tmp_path, GITHUB_SHA=PR_COMMIT
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED (exit 1)" in proc.stdout
    text = " ".join(proc.stdout.split())
    assert OTHER_COMMIT[:12] in text and PR_COMMIT[:12] in text
    data = json.loads((tmp_path / "gate.json").read_text())
    assert data["exitCode"] == 1 and OTHER_COMMIT[:12] in data["reason"]
    assert data["context"]["deploy"]["runCommits"] == [PR_COMMIT]
    assert OTHER_COMMIT[:12] in (tmp_path / "summary.md").read_text()
    assert OTHER_COMMIT[:12] in (tmp_path / "junit.xml").read_text()
    assert "CHECKLY_GATE_EXIT_CODE=1" in (tmp_path / "gate.env").read_text()
    again = report_again(tmp_path)
    assert again.returncode == 1, again.stdout + again.stderr
    assert OTHER_COMMIT[:12] in " ".join(again.stdout.split())


@pytest.mark.parametrize(
    ("how", "extra", "env", "config"),
    [
        ("flag", ("--expect-commit", PR_COMMIT[:7]), {}, ""),
        ("variable", (), {"CHECKLY_GATE_EXPECT_COMMIT": PR_COMMIT.upper()}, ""),
        ("config file", (), {}, f"expect-commit: '{PR_COMMIT[:10]}'\n"),
    ],
)
def test_an_explicit_sha_from_any_source_requires_a_match(
    sim_factory, tmp_path: Path, how: str, extra: tuple[str, ...], env: dict, config: str
) -> None:
    """No CI commit at all: the explicit SHA (short, upper case, from any source) is compared
    with the session's metadata.commitId."""
    if config:
        (tmp_path / "checkly-gate.yml").write_text(config)
    proc = run_gate(sim_factory("other-commit"), extra=extra, cwd=tmp_path, **env)
    assert proc.returncode == 1, how + proc.stdout + proc.stderr
    assert "--expect-commit" in " ".join(proc.stdout.split())


def test_a_matching_commit_passes_and_off_turns_the_check_off(sim_factory, tmp_path) -> None:
    sim = sim_factory("other-commit")
    same = run_gate(sim, extra=("--expect-commit", OTHER_COMMIT[:8]), cwd=tmp_path)
    assert same.returncode == 0, same.stdout + same.stderr
    off = run_gate(sim, extra=("--expect-commit", "off"), cwd=tmp_path, GITHUB_SHA=PR_COMMIT)
    assert off.returncode == 0, off.stdout + off.stderr
    assert "warning" not in off.stdout


def test_no_metadata_with_auto_is_green_with_a_note(sim_factory, tmp_path: Path) -> None:
    proc = run_gate(
        sim_factory("no-metadata"), extra=reports(tmp_path), cwd=tmp_path, GITHUB_SHA=PR_COMMIT
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    note = "carries no metadata.commitId"
    assert note in " ".join(proc.stdout.split())
    assert note in (tmp_path / "summary.md").read_text()
    assert note in json.loads((tmp_path / "gate.json").read_text())["warnings"][0]
    assert report_again(tmp_path).returncode == 0


def test_no_metadata_with_an_explicit_sha_fails_saying_so(sim_factory, tmp_path) -> None:
    proc = run_gate(
        sim_factory("no-metadata"),
        extra=("--expect-commit", PR_COMMIT, *reports(tmp_path)),
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "carries no metadata.commitId" in " ".join(proc.stdout.split())
    assert report_again(tmp_path).returncode == 1


@pytest.mark.parametrize(("expected", "code"), [("staging", 0), ("production", 1)])
def test_expect_environment(sim_factory, tmp_path: Path, expected: str, code: int) -> None:
    """other-commit's metadata names environment staging."""
    proc = run_gate(
        sim_factory("other-commit"),
        extra=("--expect-commit", "off"),
        cwd=tmp_path,
        CHECKLY_GATE_EXPECT_ENVIRONMENT=expected,
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    if code:
        assert "'staging'" in proc.stdout and "'production'" in proc.stdout


def test_a_mismatch_on_a_failing_session_stays_failed_never_4_or_6(sim_factory, tmp_path):
    """The deploy check only ever makes a verdict less green; a session still running at the
    deadline keeps its own outcome (timed out), whatever its commit."""
    proc = run_gate(
        sim_factory("other-commit"),
        extra=("--expect-commit", PR_COMMIT, "--timeout", "30"),
        cwd=tmp_path,
    )
    assert proc.returncode == 1


@pytest.mark.parametrize(
    ("extra", "env"),
    [
        (("--expect-commit", "latest"), {}),
        (("--expect-commit", "abc"), {}),
        ((), {"CHECKLY_GATE_EXPECT_COMMIT": "HEAD~1"}),
        (("--expect-environment", "a\nb"), {}),
    ],
)
def test_a_bad_expectation_is_a_usage_error_before_any_request(
    sim_factory, tmp_path: Path, extra: tuple[str, ...], env: dict
) -> None:
    sim = sim_factory("other-commit")
    proc = run_gate(sim, extra=extra, cwd=tmp_path, **env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "expect" in proc.stderr.lower()
    assert not [r for r in sim.requests if "test-sessions" in str(r)]


# ---------------------------------------------------------------- §4 shadow


def test_shadow_on_a_failing_session_exits_0_and_says_1(sim_factory, tmp_path: Path) -> None:
    output = tmp_path / "github_output"
    summary = tmp_path / "step_summary.md"
    proc = run_gate(
        sim_factory("failing"),
        extra=("--shadow", *reports(tmp_path)),
        cwd=tmp_path,
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(output),
        GITHUB_STEP_SUMMARY=str(summary),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = "shadow: the gate would have exited 1 (failed)"
    assert line in proc.stdout
    for path in ("junit.xml", "gate.json"):
        assert line in (tmp_path / path).read_text(), path
    escaped = line.replace("(", "\\(").replace(")", "\\)")  # markdown-escaped
    assert escaped in (tmp_path / "summary.md").read_text() and escaped in summary.read_text()
    assert 'name="gate.would_exit_code" value="1"' in (tmp_path / "junit.xml").read_text()
    assert "CHECKLY_GATE_WOULD_EXIT_CODE=1" in (tmp_path / "gate.env").read_text().splitlines()
    outputs = output.read_text().splitlines()
    assert "would-exit-code=1" in outputs and "exit-code=0" in outputs
    again = report_again(tmp_path)  # the snapshot holds --shadow: judged the same way
    assert again.returncode == 0 and line in again.stdout, again.stdout + again.stderr


def test_shadow_from_the_environment_and_the_deploy_check(sim_factory, tmp_path) -> None:
    proc = run_gate(
        sim_factory("other-commit"), cwd=tmp_path, GITHUB_SHA=PR_COMMIT, CHECKLY_GATE_SHADOW="yes"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "shadow: the gate would have exited 1 (failed)" in proc.stdout


def test_shadow_keeps_usage_errors_at_2(sim_factory, tmp_path: Path) -> None:
    proc = run_gate(sim_factory("failing"), extra=("--shadow", "--timeout", "-1"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr


def test_shadow_keeps_an_interrupt_at_130(sim_factory, tmp_path: Path) -> None:
    """A stop (Ctrl-C, a runner's cancel) is not the gate's verdict: under --shadow too the
    gate exits 128 + N, so a script does not carry on as if the gate had run."""
    sim = sim_factory("fail-fast", speed=1.0)  # runs 60 s
    proc = subprocess.Popen(
        [*gate_cmd(sim, extra=("--shadow", *reports(tmp_path)))],
        env=gate_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the gate is following: stop it
            if "RUNNING" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert json.loads((tmp_path / "gate.json").read_text())["exitCode"] == 130


def test_shadow_on_api_trouble_exits_0_and_says_6(tmp_path: Path) -> None:
    """Nothing listens on the port: unavailable (6), shadowed to 0 and said."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "checkly_gate",
            "wait",
            "7d6c5b4a-0000-4000-8000-000000000001",
            "--api-url",
            "http://127.0.0.1:9",
            "--timeout",
            "5",
            "--shadow",
        ],
        env=gate_env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "shadow: the gate would have exited 6 (unavailable)" in proc.stdout


# ---------------------------------------------------------------- §3 quarantine


def quarantine_file(tmp_path: Path, *entries: tuple[str, dt.date]) -> None:
    (tmp_path / "checkly-gate.yml").write_text(
        "timeout: 30\nquarantine:\n"
        + "".join(
            f"  - check: {check}\n    owner: '@payments'\n"
            f"    reason: flaky since the CDN move (PAY-123)\n    expires: {expires}\n"
            for check, expires in entries
        )
    )


TODAY = dt.datetime.now(dt.timezone.utc).date()
SOON = TODAY + dt.timedelta(days=30)


def test_quarantined_failures_are_green_and_reported(sim_factory, tmp_path: Path) -> None:
    """known-and-new fails Checkout flow and Search suite: both quarantined -> exit 0, every
    report names them with owner, reason and expiry; an entry matching nothing is a warning;
    ``report`` applies the stored entries as of the stored date."""
    quarantine_file(tmp_path, ("Checkout flow", SOON), ("search SUITE", SOON), ("Nope", SOON))
    proc = run_gate(sim_factory("known-and-new"), extra=reports(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    assert "passed with 2 quarantined failures" in out
    assert "Checkout flow · eu-west-1: quarantined, owner @payments" in out
    summary = (tmp_path / "summary.md").read_text()
    assert "**🔕 Quarantined (2):**" in summary
    junit = (tmp_path / "junit.xml").read_text()
    assert junit.count('type="gate.quarantined"') == 2 and "<failure" not in junit
    for text in (out, summary, junit):
        assert "@payments" in text and SOON.isoformat() in text and "PAY-123" in text
    assert "'Nope' matched no failing check run" in out
    data = json.loads((tmp_path / "gate.json").read_text())
    assert data["exitCode"] == 0 and data["context"]["today"] == TODAY.isoformat()
    assert (data["counts"]["failed"], data["counts"]["quarantined"]) == (0, 2)
    again = report_again(tmp_path)
    said = " ".join(again.stdout.split())
    assert again.returncode == 0 and "Search suite · eu-west-1: quarantined, owner" in said


def test_an_expired_entry_fails_again_and_says_so(sim_factory, tmp_path: Path) -> None:
    quarantine_file(tmp_path, ("Checkout flow", TODAY), ("Search suite", SOON))
    proc = run_gate(sim_factory("known-and-new"), extra=reports(tmp_path), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    assert f"quarantine for 'Checkout flow' expired on {TODAY.isoformat()}" in out
    assert "expired" in (tmp_path / "summary.md").read_text()
    assert report_again(tmp_path).returncode == 1


def test_one_quarantined_and_one_not_is_red(sim_factory, tmp_path: Path) -> None:
    quarantine_file(tmp_path, ("Checkout flow", SOON))
    proc = run_gate(sim_factory("known-and-new"), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("entry", "line"),
    [
        ("  - check: Checkout flow\n    owner: '@p'\n    expires: {soon}\n", 3),
        ("  - check: Checkout flow\n    owner: '@p'\n    reason: r\n    expires: {far}\n", 3),
        ("  - check: A\n    owner: o\n    reason: r\n    expires: 2026-13-01\n", 3),
    ],
)
def test_an_invalid_entry_is_exit_2_naming_the_line(
    sim_factory, tmp_path: Path, entry: str, line: int
) -> None:
    far = TODAY + dt.timedelta(days=91)
    text = entry.format(soon=SOON, far=far)
    (tmp_path / "checkly-gate.yml").write_text(f"timeout: 30\nquarantine:\n{text}")
    sim = sim_factory("known-and-new")
    proc = run_gate(sim, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and f"line {line}:" in proc.stderr
    assert not [r for r in sim.requests if "test-sessions" in str(r)]


def test_quarantine_never_passes_a_cancelled_session(sim_factory, tmp_path: Path) -> None:
    """Every check of the scenario quarantined: a cancelled session stays cancelled (3)."""
    sim = sim_factory("cancelled")
    names = sorted({check.name for check in sim.scenario.checks})
    assert names
    quarantine_file(tmp_path, *((name, SOON) for name in names))
    proc = run_gate(sim, cwd=tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr


# ---------------------------------------------------------------- §5 fail fast


def test_fail_fast_ends_at_the_first_definite_failure_and_cancels(sim_factory, tmp_path) -> None:
    """fail-fast: Checkout flow's FINAL failed row at 2 s of a 60 s session (Search suite's
    failed ATTEMPT rows at 1 s are a flaky retry, not a definite failure). Real time (speed
    1): the gate exits 1 long before the session ends, every report written with the
    unfinished runs listed, and the simulator saw the cancel."""
    sim = sim_factory("fail-fast", speed=1.0)
    started = time.monotonic()
    proc = run_gate(
        sim, extra=("--fail-fast", "--cancel-on-fail", "--timeout", "120", *reports(tmp_path))
    )
    took = time.monotonic() - started
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert took < 45, took  # the session runs 60 s; wide: a busy 2-core machine
    out = " ".join(proc.stdout.split())
    assert "--fail-fast: the wait ended at the first definite failure (Checkout flow)" in out
    assert "unfinished:" in out and "Homepage" in out
    assert "Search suite (" not in out.split("unfinished:")[0]  # the retry is not a failure
    data = json.loads((tmp_path / "gate.json").read_text())
    assert data["exitCode"] == 1 and data["context"]["failFast"]["check"] == "Checkout flow"
    assert (tmp_path / "junit.xml").read_text() and (tmp_path / "summary.md").read_text()
    assert [r for r in sim.requests if r.method == "POST" and r.path.endswith("/cancel")]
    assert report_again(tmp_path).returncode == 1


def test_fail_fast_does_not_stop_at_a_quarantined_failure(sim_factory, tmp_path) -> None:
    """fail-fast with Checkout flow (its only failure) quarantined, as the recipe configures
    it: that failure does not fail the gate, so it is no reason to end the wait or cancel the
    session; the session ends and passes with 1 quarantined failure (was: stopped, cancelled,
    'not quarantined: the session did not end', exit 1)."""
    sim = sim_factory("fail-fast", speed=10.0)
    quarantine_file(tmp_path, ("Checkout flow", SOON))
    proc = run_gate(
        sim, extra=("--fail-fast", "--cancel-on-fail", *reports(tmp_path)), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    assert "passed with 1 quarantined failure" in out, out
    assert "first definite failure" not in out and "not quarantined" not in out
    assert not [r for r in sim.requests if r.path.endswith("/cancel")]
    assert "failFast" not in json.loads((tmp_path / "gate.json").read_text())["context"]


def test_without_cancel_on_fail_nothing_is_cancelled(sim_factory, tmp_path) -> None:
    sim = sim_factory("fail-fast", speed=1.0)
    proc = run_gate(sim, extra=("--timeout", "120"), CHECKLY_GATE_FAIL_FAST="true")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert not [r for r in sim.requests if r.path.endswith("/cancel")]


# ---------------------------------------------------------------- §2 new or known


def test_history_labels_in_every_report(sim_factory, tmp_path: Path) -> None:
    """known-and-new: Checkout flow's error group is failing on main too, Search suite's is
    new; the labels never change the verdict with --fail-on any (exit 1)."""
    proc = run_gate(
        sim_factory("known-and-new"),
        extra=("--default-branch", "main", *reports(tmp_path)),
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    assert "Checkout flow · eu-west-1: an assertion failed · failing on main too (first " in out
    assert "Search suite · eu-west-1: an assertion failed · new" in out
    summary = (tmp_path / "summary.md").read_text()
    assert "| ❌ failed · failing on main too \\(first " in summary
    assert "| ❌ failed · new | Search suite |" in summary
    junit = (tmp_path / "junit.xml").read_text()
    assert "history: failing on main too (first " in junit and "history: new" in junit
    labels = json.loads((tmp_path / "gate.json").read_text())["context"]["labels"]
    assert sorted(x["label"] for x in labels) == ["failing on main too", "new"]


def test_fail_on_new_with_one_new_failure_is_red(sim_factory, tmp_path: Path) -> None:
    proc = run_gate(
        sim_factory("known-and-new"),
        extra=("--default-branch", "main"),
        cwd=tmp_path,
        CHECKLY_GATE_FAIL_ON="new",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr


def test_fail_on_new_with_only_known_failures_is_green_and_lists_them(sim_factory, tmp_path):
    proc = run_gate(
        sim_factory("known-only"),
        extra=("--fail-on", "new", *reports(tmp_path)),
        cwd=tmp_path,
        GITHUB_BASE_REF="main",  # the pull request's target: the default branch
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    assert "passed with 2 known failures" in out
    assert "Login API · eu-west-1: known failure, seen before (first " in out
    assert "Checkout flow · eu-west-1: known failure, failing on main too" in out
    summary = (tmp_path / "summary.md").read_text()
    assert "**📌 Known failures (2):**" in summary and "Login API" in summary
    assert "| 📌 known failure · seen before \\(first " in summary
    assert report_again(tmp_path).returncode == 0


def test_fail_on_new_without_history_fails(sim_factory, tmp_path: Path) -> None:
    """The error groups cannot be read (--no-details: nothing is fetched): every label is
    unknown, and unknown never passes --fail-on new."""
    proc = run_gate(
        sim_factory("known-only"), extra=("--fail-on", "new", "--no-details"), cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr


def known_first(new_at: float | None) -> Scenario:
    """Checkout flow fails at once with an error group failing on main too (known); Homepage
    runs 40 scenario seconds; with ``new_at``, Search suite fails then with a new group."""
    checks = [
        CheckSpec("Checkout flow", duration=0.5, outcome="failed", error_group="co",
                  first_seen_ago=3 * 86400.0),
        CheckSpec("Homepage", duration=40.0),
    ]  # fmt: skip
    if new_at is not None:
        checks.append(CheckSpec("Search suite", start=new_at, duration=0.5, outcome="failed"))
    main = HistoryEntry(branch="main", age=86400.0, failing=("Checkout flow",))
    return Scenario(name="known-first", checks=tuple(checks), history=(main,))


@pytest.mark.parametrize(("new_at", "code"), [(None, 0), (4.0, 1)])
def test_fail_fast_with_fail_on_new_stops_only_at_a_new_failure(
    tmp_path: Path, new_at: float | None, code: int
) -> None:
    """``--fail-fast --fail-on new``: a known failure fails nothing, so it does not end the wait
    (the session runs to its end and passes with 1 known failure); a new one does, at once."""
    with Simulator(known_first(new_at), api_key=KEY, speed=2, rate_limit=None) as sim:
        started = time.monotonic()
        proc = run_gate(
            sim,
            extra=(
                "--fail-fast",
                "--fail-on",
                "new",
                "--default-branch",
                "main",
                "--timeout",
                "90",
            ),
            cwd=tmp_path,
        )
        took = time.monotonic() - started
    assert proc.returncode == code, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    if code:
        assert "first definite failure (Search suite)" in out, out
        assert took < 15, took  # Homepage runs 20 s of real time
    else:
        assert "passed with 1 known failure" in out, out
        assert "--fail-fast" not in out, out

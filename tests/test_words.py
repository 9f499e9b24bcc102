"""Issue 19: a policy failure is a failure everywhere, and every output says the same counts.

Every output is rendered from one ``GateRun`` the way the gate writes it (``outputs``,
``dotenv.variables``, markdown through cmark-gfm, JUnit through ``tests.junit_dialect``'s XML
reading, the JSON snapshot, the terminal lines) and read back as a consumer reads it.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import cmarkgfm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkly_gate.ci import github
from checkly_gate.ci.base import failure_messages
from checkly_gate.cli import build_parser
from checkly_gate.explain import failed_group_ids
from checkly_gate.models import Observation, Stop, parse_session
from checkly_gate.outcomes import NO_TEXT_CHECK_SESSION
from checkly_gate.progress import (
    WIDTH,
    columns,
    render_counts,
    render_explanations,
    render_header,
    render_run,
    render_verdict,
)
from checkly_gate.reports import GateRun, dotenv, junit, markdown, snapshot
from checkly_gate.streams import use_colour
from checkly_gate.verdict import Outcome, Policy
from tests import bodies, runs
from tests.fakes import SID, row, session_body
from tests.test_e2e_discovery import gate, start
from tests.tools import clean_env

COMMAND = re.compile(r"^::(\w+)( [^:]*)?::(.*)$")


def flaky_rows() -> list[dict[str, Any]]:
    """Seven passes, one flaky run (its failed attempt carries error group eg-flaky), one
    degraded run."""
    rows = [row(f"pass {i}") for i in range(7)]
    rows.append(row("Flaky cart", "FAILED", "ATTEMPT", sequenceId="s1", errorGroupIds=["eg-flaky"]))
    rows.append(row("Flaky cart", sequenceId="s1"))
    rows.append(row("Slow search", isDegraded=True))
    return rows


def policy_run(policy: Policy, messages: dict[str, str] | None = None) -> GateRun:
    body = session_body("PASSED", flaky_rows())
    obs = Observation(SID, Stop.FINAL, session=parse_session(body))
    return runs.build([obs], {SID: body}, policy, error_messages=messages)


def unescape(text: str) -> str:
    return text.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")


def test_flaky_policy_failure_is_named_by_every_output() -> None:
    """19.1: --fail-on-flaky exits 1; outputs, annotations, summary, JUnit, dotenv and the
    error-text fetch all name the flaky run, with its failed attempt's error text."""
    run = policy_run(Policy(fail_on_flaky=True), {"eg-flaky": "expected 200, got 503"})
    assert run.verdict.exit_code == 1
    # the error text of the failed attempt is fetched
    assert failed_group_ids(run.verdict) == ["eg-flaky"]
    # $GITHUB_OUTPUT
    values = github.outputs(run, None, None)
    assert values["failed"] == "1"
    assert json.loads(values["failed-checks"]) == ["Flaky cart"]
    assert values["flaky"] == "1" and values["passed"] == "7"
    # an error annotation (not a warning) with the error text
    notes = github.render_annotations(run)
    errors = [unescape(n) for n in notes if n.startswith("::error ")]
    assert len(errors) == 1 and "Flaky cart" in errors[0]
    assert "--fail-on-flaky" in errors[0] and "expected 200, got 503" in errors[0]
    assert not [n for n in notes if n.startswith("::warning ") and "Flaky cart" in n]
    assert [n for n in notes if n.startswith("::warning ") and "Slow search" in n]
    # the summary, on its first screen (before the table)
    text = markdown.render(run)
    first = text.split("| Result |", 1)[0]
    assert "❌ 1 failed (1 by policy)" in first
    assert "Flaky cart" in first and "--fail-on-flaky" in first
    assert "expected 200, got 503" in text
    # JUnit: the flaky run's testcase is a failure with the attempt's error text
    root = ET.fromstring(junit.render(run))
    case = next(c for c in root.iter("testcase") if c.get("name", "").startswith("Flaky cart"))
    failure = case.find("failure")
    assert failure is not None and "--fail-on-flaky" in (failure.get("message") or "")
    assert "expected 200, got 503" in (failure.text or "")
    # dotenv
    assert dotenv.variables(run)["FAILED"] == "1"
    # the other CI systems' failure lines (GitLab, Azure, Buildkite, ...)
    (line,) = failure_messages(run)
    assert line.startswith("Flaky cart (eu-west-1) flaky (failed by --fail-on-flaky)")
    assert line.endswith("expected 200, got 503")


def test_degraded_policy_failure_is_named_by_every_output() -> None:
    run = policy_run(Policy(fail_on_degraded=True))
    assert run.verdict.exit_code == 1
    values = github.outputs(run, None, None)
    assert values["failed"] == "1"
    assert json.loads(values["failed-checks"]) == ["Slow search"]
    errors = [n for n in github.render_annotations(run) if n.startswith("::error ")]
    assert len(errors) == 1 and "Slow search" in errors[0] and "--fail-on-degraded" in errors[0]
    assert dotenv.variables(run)["FAILED"] == "1"
    assert "--fail-on-degraded" in markdown.render(run).split("| Result |", 1)[0]


def test_without_the_policy_flaky_and_degraded_are_warnings_and_counted_alike() -> None:
    """19.2's example: 9 runs, 7 clean passes, 1 flaky, 1 degraded: every output says so."""
    run = policy_run(Policy())
    assert run.verdict.exit_code == 0
    assert run.verdict.reason == "9 check runs: 7 passed, 1 flaky, 1 degraded"
    assert "✅ 7 passed · 🔁 1 flaky · ⚠️ 1 degraded" in markdown.render(run)
    assert dotenv.variables(run)["PASSED"] == "7"
    assert github.outputs(run, None, None)["failed"] == "0"
    assert not [n for n in github.render_annotations(run) if n.startswith("::error ")]


# --- 19.2: the counts of every output agree, over generated sessions ----------------------------


def _markdown_counts(text: str) -> dict[str, int]:
    """The session's status line as a reader sees it (rendered HTML, tags removed)."""
    html = cmarkgfm.github_flavored_markdown_to_html(text)
    plain = re.sub(r"<[^>]+>", "", html)
    line = next(ln for ln in plain.splitlines() if re.search(r"✅ \d+ passed", ln))
    found = {w: int(n) for n, w in re.findall(r"(\d+) (passed|flaky|degraded|skipped)", line)}
    failed = re.search(r"❌ (\d+) failed", line)
    found["failed"] = int(failed.group(1)) if failed else 0
    return found


def _junit_counts(text: str) -> dict[str, int]:
    root = ET.fromstring(text)
    red = 0
    for case in root.iter("testcase"):
        if case.get("classname") != junit.GATE_CLASSNAME and (
            case.find("failure") is not None or case.find("error") is not None
        ):
            red += 1
    return {"failed": red}


@settings(max_examples=150, deadline=None)
@given(bodies.sessions(), st.booleans(), st.booleans())
def test_counts_agree_in_every_output(
    case: bodies.Case, fail_on_flaky: bool, fail_on_degraded: bool
) -> None:
    try:
        session = parse_session(case.body)
    except Exception:  # not a session at all: nothing is counted
        return
    policy = Policy(fail_on_degraded=fail_on_degraded, fail_on_flaky=fail_on_flaky)
    obs = Observation(case.requested_id, Stop.FINAL, session=session)
    run = runs.build([obs], {case.requested_id: case.body}, policy)
    verdict = run.verdict
    counts = verdict.counts
    want = {
        "passed": counts.passed,
        "failed": counts.failing,
        "flaky": counts.flaky,
        "degraded": counts.degraded,
        "skipped": counts.skipped,
        "total": counts.total,
    }
    assert counts.failing == sum(len(sv.failing) for sv in verdict.sessions)
    values = github.outputs(run, None, None)
    assert {k: int(values[k]) for k in want} == want
    assert len(json.loads(values["failed-checks"])) <= counts.failing
    env = dotenv.variables(run)
    assert {k: int(env[k.upper()]) for k in want} == want
    data = json.loads(snapshot.render(run))
    assert {k: data["counts"][k] for k in want} == want
    if verdict.sessions and verdict.sessions[0].session is not None:
        shown = _markdown_counts(markdown.render(run))
        assert shown == {
            k: v for k, v in want.items() if k != "total" and (v or k in ("passed", "failed"))
        }
        assert _junit_counts(junit.render(run)) == {"failed": counts.failing}
        line = render_counts(counts, "PASSED", 1.0)
        assert (f"{counts.failing} failed" in line) is bool(counts.failing)
    # the terminal verdict and every red output agree on "the gate failed"
    head = render_verdict(verdict)[0]
    assert head.startswith(f"{verdict.outcome.label.upper()} (exit {verdict.exit_code})")
    if counts.failing:
        assert verdict.exit_code != 0
    if verdict.outcome is Outcome.PASSED:
        assert counts.failing == 0 and values["failed-checks"] == "[]"


# --- 19.4 / 19.5: check sessions read like test sessions; lines fit 100 columns ----------------


def _long_lines(text: str) -> list[str]:
    """Lines wider than 100 columns that are not a link on a line of its own (nor a GitHub
    workflow command, which the runner turns into an annotation, not a log line)."""
    return [
        line
        for line in text.splitlines()
        if columns(line) > WIDTH and not line.strip().startswith(("https://", "http://", "::"))
    ]


def test_a_failed_check_session_names_the_check_and_says_there_is_no_error_text(
    tmp_path: Path,
) -> None:
    """19.4 through the real CLI against the simulator: the verdict line names the check
    session by its check (not its UUID) and every report says Checkly gives no error text for
    check sessions, pointing at the result; 19.5: no terminal line but a link exceeds 100."""
    sim = start("trigger-demo")
    try:
        github_env = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(tmp_path / "out.txt"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        }
        proc = gate(
            sim,
            "run",
            "--check-sessions",
            "--tags",
            "api",
            "--junit",
            "j.xml",
            cwd=tmp_path,
            **github_env,
        )
    finally:
        sim.stop()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    verdict = next(line for line in out.splitlines() if line.startswith("FAILED (exit 1)"))
    assert verdict.startswith("FAILED (exit 1): check session 'Checkout flow': ")
    assert columns(verdict) <= WIDTH
    assert not _long_lines(out), _long_lines(out)
    at = out.index(NO_TEXT_CHECK_SESSION)
    assert "/check-sessions/" in out[at:].splitlines()[1]  # the result link, its own line
    assert f"{NO_TEXT_CHECK_SESSION}:" in out.replace("%0A", "\n")  # the error annotation
    summary = (tmp_path / "summary.md").read_text()
    assert NO_TEXT_CHECK_SESSION in summary.split("| Result |", 1)[0]
    assert NO_TEXT_CHECK_SESSION in (tmp_path / "j.xml").read_text()


@settings(max_examples=100, deadline=None)
@given(
    st.text(min_size=1, max_size=150),
    st.sampled_from(["FAILED", "PASSED"]),
    st.sampled_from([None, "eu-west-1", "ap-southeast-" + "x" * 60]),
)
def test_terminal_lines_fit_100_columns(name: str, status: str, location: str | None) -> None:
    """19.5, the whole kind: progress, verdict and explanation lines of any name (wide
    characters included) fit 100 columns; a link stands on a line of its own."""
    rows = [row(name, status, location=location), row(name + " 2", "FAILED", location=location)]
    body = session_body("PASSED", rows)
    body["name"] = name
    run = runs.from_body(body)
    session = parse_session(body)
    lines = [*render_header(session)]
    for item in run.verdict.sessions[0].runs:
        lines += render_run(item, colour=False)
    lines += render_verdict(run.verdict) + render_explanations(run)
    assert not _long_lines("\n".join(lines)), lines
    assert any(line.startswith("    https://app.checklyhq.com/r/") for line in lines)


def test_headlines_use_the_users_words() -> None:
    """19.5: "an assertion failed" / "the check could not run", never the API's field."""
    run = runs.failed()
    reason = run.verdict.reason
    assert "an assertion failed" in reason and "could not run" in reason
    assert "hasFailures" not in reason and "hasErrors" not in reason
    words = "\n".join(render_verdict(run.verdict) + render_explanations(run))
    assert "hasFailures" not in words and "an assertion failed" in words


# --- 19.9: small things a user trips over --------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("environ", "tty", "coloured"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"TERM": "dumb"}, True, False),  # a terminal that cannot show escapes
        ({"TERM": "xterm-256color"}, True, True),
        ({"NO_COLOR": "1"}, True, False),  # no-color.org
        ({"NO_COLOR": ""}, True, True),
        ({"FORCE_COLOR": "1"}, False, True),  # force-color.org: into a pipe too
        ({"FORCE_COLOR": "true", "TERM": "dumb"}, False, True),
        ({"FORCE_COLOR": ""}, False, False),
        ({"FORCE_COLOR": "0"}, True, False),  # Node's reading: 0 and false turn it off
        ({"FORCE_COLOR": "False"}, True, False),
        ({"FORCE_COLOR": "OFF"}, True, False),
        ({"FORCE_COLOR": "no"}, True, False),
        ({"FORCE_COLOR": "yes"}, False, True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, True),  # force-color.org's example
    ],
)
def test_colour_follows_the_conventions(environ: dict, tty: bool, coloured: bool) -> None:
    stream = _Tty() if tty else io.StringIO()
    assert use_colour(stream, environ) is coloured


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**clean_env(), "NO_COLOR": "", **env}
    if "FORCE_COLOR" not in env:
        environ.pop("FORCE_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "checkly_gate", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_force_color_paints_a_pipe_and_term_dumb_a_terminal_does_not(tmp_path: Path) -> None:
    forced = _cli("demo", "--speed", "50", "--output-dir", str(tmp_path / "a"), FORCE_COLOR="1")
    assert "\x1b[" in forced.stdout
    # TERM=dumb on a real pseudo-terminal: no escapes
    leader, follower = os.openpty()
    try:
        environ = {**clean_env(), "TERM": "dumb"}
        environ.pop("FORCE_COLOR", None)
        environ.pop("NO_COLOR", None)
        command = [sys.executable, "-m", "checkly_gate", "demo", "--speed", "50"]
        command += ["--output-dir", str(tmp_path / "b")]
        proc = subprocess.Popen(command, env=environ, stdout=follower, stderr=follower)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=120) == 0
    finally:
        os.close(leader)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert "PASSED" in text and "\x1b[" not in text


@pytest.mark.parametrize(
    ("value", "said"), [("-1", "-1"), ("0.5", "0.5"), ("1e999", "1e999"), ("-0", "-0")]
)
def test_a_number_is_echoed_as_written(value: str, said: str) -> None:
    sid = "0b9f3c3e-5a4b-4c2d-9e1f-1234567890ab"
    flag = _cli("wait", sid, "--timeout", value, CHECKLY_API_KEY="k")
    assert flag.returncode == 2
    assert flag.stderr.strip().endswith(f", got {said}"), flag.stderr
    env = _cli("wait", sid, CHECKLY_API_KEY="k", CHECKLY_GATE_TIMEOUT=value)
    assert env.returncode == 2 and env.stderr.strip().endswith(f", got {said}"), env.stderr


def test_a_usage_error_is_printed_once(tmp_path: Path) -> None:
    """On a CI runner too: the one stderr line, and GitHub's annotation, not a verdict line
    repeating it."""
    out = tmp_path / "out.txt"
    proc = _cli("wait", "--bogus", GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(out))
    assert proc.returncode == 2
    lines = (proc.stdout + proc.stderr).splitlines()
    said = [line for line in lines if "--bogus" in line and not line.startswith("::")]
    assert said == ["checkly-gate: error: unknown option --bogus (see checkly-gate wait --help)"]
    assert [line for line in lines if line.startswith("::error ")]  # the annotation
    assert "status=error" in out.read_text()


def test_report_takes_q_as_wait_does(tmp_path: Path) -> None:
    demo = _cli("demo", "--scenario", "failing", "--speed", "50", "--output-dir", str(tmp_path))
    assert demo.returncode == 1
    proc = _cli("report", "-q", str(tmp_path / "checkly-gate.json"))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("FAILED (exit 1)")


def test_the_demo_echoes_its_real_command_and_does_not_pretend(tmp_path: Path) -> None:
    proc = _cli("demo", "--scenario", "failing", "--speed", "50", "--output-dir", str(tmp_path))
    assert proc.returncode == 1
    assert "would exit" not in proc.stdout
    assert "exits with code 1" in proc.stdout
    (echo,) = [line for line in proc.stdout.splitlines() if line.startswith("$ checkly-gate ")]
    argv = shlex.split(echo[2:])[1:]
    args = build_parser().parse_args(argv)  # it parses as the real command line
    assert args.command == "wait" and args.timeout == 120 and args.poll_interval == 1
    assert args.json == str(tmp_path.resolve() / "checkly-gate.json")
    assert "..." not in echo


def test_fail_on_flaky_through_the_cli_names_the_run_in_every_output(tmp_path: Path) -> None:
    """19.1 at the real boundary: the CLI against the simulator's passing session (one flaky,
    one degraded run) with --fail-on-flaky and GitHub's files: the error text of the failed
    attempt is fetched over HTTP and every output names the flaky run as what failed."""
    import uuid

    sim = start("passing")
    try:
        github_env = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(tmp_path / "out.txt"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        }
        proc = gate(
            sim,
            *("wait", str(uuid.uuid4()), "--fail-on-flaky"),
            *("--dotenv", "e.env", "--junit", "j.xml"),
            cwd=tmp_path,
            **github_env,
        )
    finally:
        sim.stop()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    outputs = dict(line.split("=", 1) for line in (tmp_path / "out.txt").read_text().splitlines())
    assert outputs["failed"] == "1" and outputs["passed"] == "7" and outputs["flaky"] == "1"
    assert json.loads(outputs["failed-checks"]) == ["Checkout flow"]
    errors = [line for line in proc.stdout.splitlines() if line.startswith("::error ")]
    assert len(errors) == 1 and "Checkout flow" in errors[0]
    assert "--fail-on-flaky" in errors[0] and "Expected: 201" in errors[0]  # fetched text
    assert "CHECKLY_GATE_FAILED=1\n" in (tmp_path / "e.env").read_text()
    summary = (tmp_path / "summary.md").read_text()
    assert "❌ 1 failed (1 by policy) · ✅ 7 passed · 🔁 1 flaky · ⚠️ 1 degraded" in summary
    first = summary.split("| Result |", 1)[0]
    assert "Checkout flow" in first and "failed by --fail-on-flaky" in first
    root = ET.fromstring((tmp_path / "j.xml").read_text())
    red = [
        c.get("name")
        for c in root.iter("testcase")
        if c.find("failure") is not None or c.find("error") is not None
    ]
    assert red == ["Checkout flow"], red


@pytest.mark.parametrize("name", ["CHECKLY_GATE_SESSION_ID", "CHECKLY_SESSION_ID"])
def test_a_bare_wait_after_a_run_that_started_nothing_says_so(tmp_path: Path, name: str) -> None:
    """The next job of ``run --detach --dotenv`` that matched no check (exit 7, an empty
    CHECKLY_GATE_SESSION_ID handed over): the usage error names the empty variable and where
    to look, not only a missing argument; without any, it names the variable a bare wait reads."""
    handed = _cli("wait", CHECKLY_API_KEY="k", **{name: ""})
    assert handed.returncode == 2
    assert f"{name} is empty" in handed.stderr and "CHECKLY_GATE_STATUS" in handed.stderr
    bare = _cli("wait", CHECKLY_API_KEY="k")
    assert bare.returncode == 2 and "CHECKLY_GATE_SESSION_ID" in bare.stderr, bare.stderr

"""GitHub Actions integration: escaping, annotations, outputs, step summary, command fencing."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkly_gate.ci import detect
from checkly_gate.ci.base import Integration
from checkly_gate.ci.github import (
    GitHub,
    escape_data,
    escape_property,
    group_end,
    group_start,
    outputs,
    render_annotations,
    render_outputs,
)
from checkly_gate.ci.gitlab import GitLab
from checkly_gate.reports import GateRun
from checkly_gate.text import one_line
from tests import runs
from tests.fakes import SID, row, session_body

# --- helpers: the runner's side of the protocol -------------------------------------------

_UNESCAPE = {"%25": "%", "%0D": "\r", "%0A": "\n", "%3A": ":", "%2C": ","}
# One workflow command line as the runner reads it: no raw CR/LF, properties free of ":".
COMMAND = re.compile(r"^::(error|warning|notice)(?: title=([^:,\r\n]*))?::([^\r\n]*)$")


def unescape(text: str) -> str:
    """Reverse of escape_data / escape_property, in one left-to-right pass like the runner."""
    return re.sub(r"%(25|0D|0A|3A|2C)", lambda m: _UNESCAPE[m.group(0)], text)


def parse_github_output(text: str) -> dict[str, str]:
    """Read a GITHUB_OUTPUT file the way the runner does: ``k=v`` or ``k<<DELIM`` heredocs."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    it: Iterator[str] = iter(lines)
    for line in it:
        if not line:
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if eq >= 0 and (heredoc < 0 or eq < heredoc):
            values[line[:eq]] = line[eq + 1 :]
            continue
        assert heredoc > 0, f"invalid line {line!r}"
        name, delim = line[:heredoc], line[heredoc + 2 :]
        body: list[str] = []
        for value_line in it:
            if value_line == delim:
                break
            body.append(value_line)
        else:
            raise AssertionError(f"delimiter {delim!r} not found")
        values[name] = "\n".join(body)
    return values


def with_messages(run: GateRun, messages: dict[str, str]) -> GateRun:
    return dataclasses.replace(run, error_messages=messages)


def failing(n: int) -> GateRun:
    return runs.from_body(session_body("FAILED", [row(f"check {i}", "FAILED") for i in range(n)]))


def flaky(n: int) -> GateRun:
    rows = []
    for i in range(n):
        rows += [row(f"flaky {i}", "FAILED", "ATTEMPT"), row(f"flaky {i}")]
    return runs.from_body(session_body("PASSED", rows))


# --- escaping ------------------------------------------------------------------------------


def test_escape_data_exact() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_data("a:b,c") == "a:b,c"
    assert escape_data("%0A") == "%250A"


def test_escape_property_exact() -> None:
    assert escape_property("a:b,c%\n\r") == "a%3Ab%2Cc%25%0A%0D"
    assert escape_property("::error::x") == "%3A%3Aerror%3A%3Ax"


@pytest.mark.parametrize("text", ["", "%", "%25", "%0A", "a\r\nb", "::x::,y", "100%%:,\n%3A"])
def test_escape_round_trip_examples(text: str) -> None:
    assert unescape(escape_data(text)) == text
    assert unescape(escape_property(text)) == text


@given(st.text())
def test_escape_round_trip(text: str) -> None:
    assert unescape(escape_property(text)) == text
    assert unescape(escape_data(text)) == text
    assert "\n" not in escape_data(text) and "\r" not in escape_data(text)
    assert ":" not in escape_property(text) and "," not in escape_property(text)


def test_one_line_strips_ansi_and_controls() -> None:
    assert one_line("control \x00\x07\x1b[31m chars\x1b]8;;http://x\x07") == "control chars"
    assert one_line("multi\nline\r\nname") == "multi line name"
    assert one_line("L" * 300, 10) == "L" * 9 + "…"


# --- annotations ---------------------------------------------------------------------------


def test_failed_checks_are_errors_with_title_link_and_message() -> None:
    run = with_messages(runs.failed(), {"eg-1": "Expected 200\nbut got 500", "eg-2": "Timeout"})
    lines = render_annotations(run)
    errors = [line for line in lines if line.startswith("::error")]
    assert len(errors) == 2
    checkout = next(e for e in errors if "title=Checkout failed::" in e)
    message = unescape(COMMAND.match(checkout).group(3))
    assert "Checkout (eu-west-1): an assertion failed" in message
    assert "Expected 200\nbut got 500" in message
    assert "https://app.checklyhq.com/r/" in message
    payments = next(e for e in errors if "title=Payments API failed::" in e)
    assert "Timeout" in unescape(payments) and "could not run" in payments


def test_flaky_and_degraded_are_warnings() -> None:
    lines = render_annotations(runs.passed())
    assert not [line for line in lines if line.startswith("::error")]
    warnings = [line for line in lines if line.startswith("::warning")]
    assert len(warnings) == 2
    assert any(w.startswith("::warning title=Login API is flaky::") for w in warnings)
    assert any(w.startswith("::warning title=Search latency is degraded::") for w in warnings)
    assert all("https://app.checklyhq.com/r/" in w for w in warnings)


def test_error_limit_with_notice() -> None:
    lines = render_annotations(failing(15))
    errors = [line for line in lines if line.startswith("::error")]
    notices = [line for line in lines if line.startswith("::notice")]
    assert len(errors) == 10
    assert errors[0].startswith("::error title=check 0 failed::")
    assert len(notices) == 1
    assert notices[0].startswith("::notice::5 more failed checks")


def test_custom_limit_and_warning_notice() -> None:
    lines = render_annotations(flaky(12))
    warnings = [line for line in lines if line.startswith("::warning")]
    assert len(warnings) == 10
    assert lines[-1].startswith("::notice::2 more flaky, degraded or set-aside checks")
    assert len([line for line in render_annotations(failing(3), limit=2) if "::error" in line]) == 2


def test_no_notice_at_the_limit() -> None:
    assert not [line for line in render_annotations(failing(10)) if line.startswith("::notice")]


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (runs.unavailable, "HTTP 503"),
        (runs.refused, "HTTP 401"),
        (runs.timed_out, "timed out"),
        (runs.cancelled, "cancelled"),
        (runs.usage, "not a UUID"),
    ],
)
def test_session_trouble_is_an_error(build, needle: str) -> None:
    errors = [line for line in render_annotations(build()) if line.startswith("::error")]
    assert len(errors) == 1
    assert needle in unescape(errors[0])


def test_passed_and_interrupted_have_no_errors() -> None:
    for build in (runs.passed, runs.interrupted):
        assert not [line for line in render_annotations(build()) if line.startswith("::error")]


def test_several_sessions_name_the_session() -> None:
    errors = render_annotations(runs.several())
    assert len(errors) == 1
    assert "in session Second session" in errors[0]


@pytest.mark.parametrize("build", [runs.nasty, *runs.ALL_OUTCOMES.values()])
def test_annotations_cannot_inject_commands(build) -> None:
    run = with_messages(build(), {"eg-1": "x\n::error::evil\r\n::stop-commands::t"})
    for line in render_annotations(run):
        assert COMMAND.match(line), line
        assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\x00" not in line


def test_nasty_names_are_cleaned_in_titles() -> None:
    titles = [
        unescape(COMMAND.match(line).group(2) or "") for line in render_annotations(runs.nasty())
    ]
    assert "::error::injected failed" in titles
    assert "multi line name failed" in titles
    assert "control chars failed" in titles
    assert all(len(title) <= 210 for title in titles)


# --- outputs -------------------------------------------------------------------------------

EXPECTED = {
    "passed": ("passed", 0),
    "failed": ("failed", 1),
    "cancelled": ("cancelled", 3),
    "timed-out": ("timed-out", 4),
    "unavailable": ("unavailable", 6),
    "refused": ("refused", 5),
    "interrupted": ("interrupted", 143),
    "usage": ("error", 2),
    "several": ("failed", 1),
}


@pytest.mark.parametrize("key", list(runs.ALL_OUTCOMES))
def test_outputs_for_every_outcome(key: str) -> None:
    run = runs.ALL_OUTCOMES[key]()
    values = outputs(run, Path("out/junit.xml"), None)
    status, code = EXPECTED[key]
    assert values["status"] == status == run.verdict.outcome.label
    assert values["exit-code"] == str(code)
    counts = run.verdict.counts
    assert values["passed"] == str(counts.passed)
    assert values["failed"] == str(counts.failed + counts.errored)
    assert values["flaky"] == str(counts.flaky)
    assert values["degraded"] == str(counts.degraded)
    assert values["skipped"] == str(counts.skipped)
    assert values["total"] == str(counts.total)
    assert values["junit"] == str(Path("out/junit.xml"))
    assert values["summary"] == ""
    failed = json.loads(values["failed-checks"])
    assert isinstance(failed, list) and all(isinstance(n, str) for n in failed)
    assert len(failed) == len(set(failed))
    assert all("\n" not in v and "\r" not in v for v in values.values())
    has_session = bool(run.verdict.sessions and run.verdict.sessions[0].session)
    assert values["session-url"].startswith("https://") == has_session
    assert ("session-urls" in values) == (key == "several")
    # The (first) session waited for, also when it could not be read; none for a usage error.
    assert values["session-id"] == ("" if key == "usage" else SID)
    if has_session:
        assert values["session-url"].endswith(values["session-id"])


def test_outputs_counts_and_names() -> None:
    values = outputs(runs.failed(), None, Path("summary.md"))
    assert values["failed"] == "2"
    assert values["flaky"] == "1" and values["degraded"] == "1"
    assert json.loads(values["failed-checks"]) == ["Checkout", "Payments API"]
    assert values["summary"] == "summary.md" and values["junit"] == ""


def test_outputs_several_sessions() -> None:
    values = outputs(runs.several(), None, None)
    urls = json.loads(values["session-urls"])
    assert len(urls) == 2 and urls[0] == values["session-url"]
    assert urls[1].endswith(runs.SID2)
    assert values["session-id"] == SID and "session-ids" not in values
    assert json.loads(values["failed-checks"]) == ["B one"]


def test_outputs_nasty_names_stay_single_line() -> None:
    values = outputs(runs.nasty(), None, None)
    names = json.loads(values["failed-checks"])
    assert "::error::injected" in names and "multi line name" in names
    assert parse_github_output(render_outputs(values)) == values


# --- render_outputs ------------------------------------------------------------------------


def test_render_single_line() -> None:
    text = render_outputs({"status": "passed", "odd": "a<<b=c", "empty": ""})
    assert text == "status=passed\nodd=a<<b=c\nempty=\n"
    assert parse_github_output(text) == {"status": "passed", "odd": "a<<b=c", "empty": ""}


def test_render_multiline_uses_random_delimiter() -> None:
    values = {"notes": "line one\nline two", "status": "failed"}
    text = render_outputs(values)
    match = re.match(r"notes<<(ghadelimiter_[0-9a-f]{32})\nline one\nline two\n\1\n", text)
    assert match, text
    assert render_outputs(values) != text  # a new delimiter each time
    assert parse_github_output(text) == values


def test_render_regenerates_a_delimiter_found_in_the_value() -> None:
    fake = "ghadelimiter_0000"
    value = f"first\n{fake}\nevil=injected\nlast"
    candidates = iter([fake, "ghadelimiter_1111"])
    text = render_outputs({"notes": value, "status": "ok"}, delimiter=lambda: next(candidates))
    assert text.startswith("notes<<ghadelimiter_1111\n")
    assert parse_github_output(text) == {"notes": value, "status": "ok"}


def test_render_value_with_fake_delimiter_line_round_trips() -> None:
    value = "a\nghadelimiter_deadbeef\nstatus=passed\n"
    values = {"notes": value, "status": "failed"}
    assert parse_github_output(render_outputs(values)) == values


def test_render_carriage_return_uses_heredoc() -> None:
    assert render_outputs({"x": "a\rb"}).startswith("x<<ghadelimiter_")


def test_render_gives_up_on_a_stuck_delimiter() -> None:
    with pytest.raises(RuntimeError):
        render_outputs({"x": "EOF\nEOF"}, delimiter=lambda: "EOF")


@pytest.mark.parametrize("name", ["", "a=b", "a<<b", "a\nb"])
def test_render_refuses_invalid_names(name: str) -> None:
    with pytest.raises(ValueError):
        render_outputs({name: "v"})


@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), st.text()))
def test_render_round_trip(values: dict[str, str]) -> None:
    # The runner reads lines (CR, LF and CRLF alike), so line breaks come back as LF.
    expected = {k: v.replace("\r\n", "\n").replace("\r", "\n") for k, v in values.items()}
    text = render_outputs(values)
    assert "\r" not in text
    assert parse_github_output(text) == expected


# --- the GitHub integration ----------------------------------------------------------------


def env_for(tmp_path: Path) -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
    }


def test_publish_appends_to_both_files(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    Path(env["GITHUB_STEP_SUMMARY"]).write_text("# earlier step\n", encoding="utf-8")
    Path(env["GITHUB_OUTPUT"]).write_text("earlier=1\n", encoding="utf-8")
    run = runs.failed()
    lines = GitHub(env).publish(run, "## Checkly\n\n| a |", Path("j.xml"), None)
    assert lines == render_annotations(run)
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert summary == "# earlier step\n\n## Checkly\n\n| a |\n"
    parsed = parse_github_output(Path(env["GITHUB_OUTPUT"]).read_text(encoding="utf-8"))
    assert parsed["earlier"] == "1"
    assert parsed["status"] == "failed" and parsed["exit-code"] == "1"
    assert parsed["junit"] == "j.xml"


def test_publish_twice_appends_again(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    github = GitHub(env)
    github.publish(runs.passed(), "first", None, None)
    github.publish(runs.passed(), "second", None, None)
    assert Path(env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8") == "first\n\nsecond\n"
    assert Path(env["GITHUB_OUTPUT"]).read_text(encoding="utf-8").count("status=passed\n") == 2


def test_publish_without_env_vars(tmp_path: Path) -> None:
    run = runs.failed()
    assert GitHub({"GITHUB_ACTIONS": "true"}).publish(run, "x", None, None) == render_annotations(
        run
    )
    assert list(tmp_path.iterdir()) == []


def test_publish_file_errors_become_warnings(tmp_path: Path) -> None:
    env = {"GITHUB_STEP_SUMMARY": str(tmp_path), "GITHUB_OUTPUT": str(tmp_path)}  # directories
    lines = GitHub(env).publish(runs.passed(), "x", None, None)
    problems = [line for line in lines if "cannot write" in line]
    assert len(problems) == 2
    assert all(COMMAND.match(line) and line.startswith("::warning::") for line in problems)


def test_publish_unencodable_summary_becomes_a_warning(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    lines = GitHub(env).publish(runs.passed(), "bad \ud800 surrogate", None, None)
    assert any(line.startswith("::warning::cannot write $GITHUB_STEP_SUMMARY") for line in lines)
    assert parse_github_output(Path(env["GITHUB_OUTPUT"]).read_text(encoding="utf-8"))


def test_publish_keeps_the_summary_under_the_limit(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("checkly_gate.ci.github.SUMMARY_LIMIT_BYTES", 200)
    env = env_for(tmp_path)
    GitHub(env).publish(runs.passed(), "".join(f"row {i}\n" for i in range(100)), None, None)
    text = Path(env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert len(text.encode()) <= 200 and "truncated" in text and text.startswith("row 0\n")


def test_progress_lines_and_tokens() -> None:
    github = GitHub({})
    start = github.progress_start("Waiting for session\n::error::x")
    assert start[0] == "::group::Waiting for session ::error::x"
    token = start[1].removeprefix("::stop-commands::")
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert github.progress_end() == [f"::{token}::", "::endgroup::"]
    assert github.progress_end() == []
    again = github.progress_start("again")[1].removeprefix("::stop-commands::")
    assert again != token


def test_protect_fences_lines_with_a_new_token() -> None:
    github = GitHub({})
    first = github.protect(["::error::evil", "verdict"])
    second = github.protect(["x"])
    token = first[0].removeprefix("::stop-commands::")
    assert first == [f"::stop-commands::{token}", "::error::evil", "verdict", f"::{token}::"]
    assert second[0] != first[0] and second[-1] == f"::{second[0].split('::')[-1]}::"
    assert github.protect([]) == []


def test_group_markers() -> None:
    assert group_start("50% done\nnext") == "::group::50%25 done next"
    assert group_end() == "::endgroup::"


def test_detect() -> None:
    github = detect({"GITHUB_ACTIONS": "true"})
    assert isinstance(github, GitHub) and github.name == "github"
    assert isinstance(github, Integration)
    gitlab = detect({"GITLAB_CI": "true"}, now=lambda: 5.0)
    assert isinstance(gitlab, GitLab) and gitlab.name == "gitlab"
    assert detect({}) is None
    assert detect({"GITHUB_ACTIONS": "false", "GITLAB_CI": "1"}) is None
    assert isinstance(detect({"GITHUB_ACTIONS": "true", "GITLAB_CI": "true"}), GitHub)


@pytest.mark.parametrize("build", [runs.unavailable, runs.refused, runs.timed_out, runs.cancelled])
def test_session_trouble_says_it_once(build) -> None:
    """The title names the trouble ("Checkly session timed out"); the message then gives the
    reason, which already says it: no "timed out: timed out", "was cancelled: session was
    cancelled", "could not be read: could not read"."""
    (error,) = [line for line in render_annotations(build()) if line.startswith("::error")]
    first = unescape(error.split("::", 2)[2]).splitlines()[0]
    words = re.findall(r"[a-z]+", first.lower())
    pairs = list(itertools.pairwise(words))
    doubled = {pair for pair in pairs if pairs.count(pair) > 1}
    assert not doubled, first


def test_a_check_session_annotation_says_check_session() -> None:
    run = runs.cancelled()
    sv = run.verdict.sessions[0]
    assert sv.session is not None
    session = dataclasses.replace(sv.session, kind="check session")
    verdict = dataclasses.replace(run.verdict, sessions=(dataclasses.replace(sv, session=session),))
    (error,) = [
        line
        for line in render_annotations(dataclasses.replace(run, verdict=verdict))
        if line.startswith("::error")
    ]
    assert "Check session 'Deploy checks'" in unescape(error)

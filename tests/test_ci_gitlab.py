"""GitLab CI integration: collapsible section markers and the dotenv report."""

from __future__ import annotations

import re

import pytest

from checkly_gate.ci.gitlab import GitLab, section_end, section_name, section_start
from checkly_gate.reports import dotenv
from tests import runs
from tests.fakes import row, session_body

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
VARIABLES = [
    "CHECKLY_GATE_STATUS",
    "CHECKLY_GATE_EXIT_CODE",
    "CHECKLY_GATE_PASSED",
    "CHECKLY_GATE_FAILED",
    "CHECKLY_GATE_FLAKY",
    "CHECKLY_GATE_DEGRADED",
    "CHECKLY_GATE_SKIPPED",
    "CHECKLY_GATE_TOTAL",
    "CHECKLY_GATE_SESSION_URL",
    "CHECKLY_GATE_SESSION_ID",
]


# --- section markers -----------------------------------------------------------------------


def test_section_start_exact() -> None:
    assert (
        section_start("checkly_gate_wait", "Waiting for Checkly", 1700000000)
        == "\x1b[0Ksection_start:1700000000:checkly_gate_wait[collapsed=true]"
        "\r\x1b[0KWaiting for Checkly"
    )


def test_section_start_expanded() -> None:
    assert (
        section_start("wait", "Title", 12, collapsed=False)
        == "\x1b[0Ksection_start:12:wait\r\x1b[0KTitle"
    )


def test_section_end_exact() -> None:
    assert section_end("checkly_gate_wait", 1700000090) == (
        "\x1b[0Ksection_end:1700000090:checkly_gate_wait\r\x1b[0K"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("checkly_gate_wait", "checkly_gate_wait"),
        ("v1.2-rc_3", "v1.2-rc_3"),
        ("my section:ü/1", "my_section___1"),
        ("a[collapsed=true]", "a_collapsed_true_"),
        ("\x1b[0K\r\n", "__0K__"),
        ("", "section"),
    ],
)
def test_section_name_sanitising(text: str, expected: str) -> None:
    assert section_name(text) == expected
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", section_name(text))


def test_section_markers_sanitise_name_and_title() -> None:
    start = section_start("bad name", "multi\nline \x1b[31mtitle", 1)
    assert start == "\x1b[0Ksection_start:1:bad_name[collapsed=true]\r\x1b[0Kmulti line title"
    assert section_end("bad name", 2) == "\x1b[0Ksection_end:2:bad_name\r\x1b[0K"


def test_gitlab_integration() -> None:
    clock = iter([1700000000.7, 1700000042.2])
    gitlab = GitLab({"GITLAB_CI": "true"}, now=lambda: next(clock))
    assert gitlab.name == "gitlab"
    assert gitlab.progress_start("Waiting") == [
        "\x1b[0Ksection_start:1700000000:checkly_gate_wait[collapsed=true]\r\x1b[0KWaiting"
    ]
    assert gitlab.progress_end() == ["\x1b[0Ksection_end:1700000042:checkly_gate_wait\r\x1b[0K"]
    assert gitlab.progress_end() == []
    lines = ["::error::not a command here", "verdict"]
    assert gitlab.protect(lines) == lines
    assert gitlab.protect(lines) is not lines
    assert gitlab.publish(runs.failed(), "# summary", None, None) == []


# --- dotenv report -------------------------------------------------------------------------


def parse_dotenv(text: str) -> dict[str, str]:
    """Parse like GitLab: every line ``key=value`` (first ``=``), blanks stripped, no extras."""
    assert text.endswith("\n")
    values = {}
    for line in text[:-1].split("\n"):
        match = re.fullmatch(r"(.*?)=(.*)", line)
        assert match, f"invalid dotenv line {line!r}"
        key, value = match.group(1).strip(), match.group(2).strip()
        assert NAME.match(key) and len(key) <= 255, key
        assert key not in values
        values[key] = value
    return values


@pytest.mark.parametrize("key", [*runs.ALL_OUTCOMES, "nasty", "large"])
def test_dotenv_for_every_outcome(key: str) -> None:
    run = getattr(runs, key)() if key in ("nasty", "large") else runs.ALL_OUTCOMES[key]()
    text = dotenv.render(run)
    assert len(text.encode("utf-8")) < 5120
    assert "\r" not in text and "\n\n" not in text
    assert all("=" in line for line in text.splitlines())
    values = parse_dotenv(text)
    assert list(values) == VARIABLES
    assert len(values) <= 20
    counts = run.verdict.counts
    assert values["CHECKLY_GATE_STATUS"] == run.verdict.outcome.label
    assert values["CHECKLY_GATE_EXIT_CODE"] == str(run.verdict.exit_code)
    assert values["CHECKLY_GATE_PASSED"] == str(counts.passed)
    assert values["CHECKLY_GATE_FAILED"] == str(counts.failed + counts.errored)
    assert values["CHECKLY_GATE_FLAKY"] == str(counts.flaky)
    assert values["CHECKLY_GATE_DEGRADED"] == str(counts.degraded)
    assert values["CHECKLY_GATE_SKIPPED"] == str(counts.skipped)
    assert values["CHECKLY_GATE_TOTAL"] == str(counts.total)
    # Values are written exactly as GitLab will read them (no blanks for it to strip, no "$").
    assert all(line == line.strip() and "$" not in line for line in text.splitlines())


def test_dotenv_known_values() -> None:
    values = parse_dotenv(dotenv.render(runs.failed()))
    assert values["CHECKLY_GATE_STATUS"] == "failed"
    assert values["CHECKLY_GATE_EXIT_CODE"] == "1"
    assert values["CHECKLY_GATE_FAILED"] == "2"
    assert values["CHECKLY_GATE_TOTAL"] == "7"
    assert values["CHECKLY_GATE_SESSION_ID"] == runs.SID
    assert values["CHECKLY_GATE_SESSION_URL"].endswith(f"/test-sessions/{runs.SID}")


def test_dotenv_several_sessions_uses_the_first() -> None:
    values = parse_dotenv(dotenv.render(runs.several()))
    assert values["CHECKLY_GATE_SESSION_ID"] == runs.SID
    assert values["CHECKLY_GATE_STATUS"] == "failed"


def test_dotenv_unknown_session() -> None:
    values = parse_dotenv(dotenv.render(runs.usage()))
    assert values["CHECKLY_GATE_SESSION_URL"] == ""
    assert values["CHECKLY_GATE_SESSION_ID"] == ""
    assert values["CHECKLY_GATE_STATUS"] == "error"


def with_link(link: object):
    body = session_body("PASSED", [row()])
    body["testSessionLink"] = link
    return runs.from_body(body)


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://app.checklyhq.com/s/1?a=b&c=d", "https://app.checklyhq.com/s/1?a=b&c=d"),
        ("https://x.test/$HOME 'q'\n\"", "https://x.test/%24HOME%20%27q%27%20%22"),
        ("https://x.test/ünï", "https://x.test/%C3%BCn%C3%AF"),
        ("javascript:alert(1)", ""),
        ("https://x.test/" + "a" * 3000, ""),
        (None, ""),
    ],
)
def test_dotenv_session_url_is_safe(link: object, expected: str) -> None:
    text = dotenv.render(with_link(link))
    assert parse_dotenv(text)["CHECKLY_GATE_SESSION_URL"] == expected
    assert len(text.encode("utf-8")) < 5120


def test_dotenv_value_helper_caps_and_folds() -> None:
    assert dotenv._value(" a\nb\r\n$c ") == "a b c"
    assert dotenv._value("x" * (dotenv.MAX_VALUE_BYTES + 1)) == ""

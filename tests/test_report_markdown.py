"""Markdown summary: outcome headings, table rows through a real GFM parser, escaping, budget."""

from __future__ import annotations

import dataclasses
import functools
import html as htmllib
import re
from html.parser import HTMLParser
from typing import Any

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from checkly_gate.outcomes import Category, Outcome, facts
from checkly_gate.reports import GateRun
from checkly_gate.reports.markdown import (
    NAME_LIMIT,
    _duration,
    _fenced,
    _text,
    _url,
    render,
)
from tests import runs
from tests.fakes import row, session_body

LABELS = {
    "💥 error": Category.ERROR,
    "❌ failed": Category.FAILED,
    "🔁 flaky": Category.FLAKY,
    "⚠️ degraded": Category.DEGRADED,
    "⏭ skipped": Category.SKIPPED,
    "⏳ unfinished": Category.PENDING,
    "✅ passed": Category.PASSED,
}
TIER = {
    Category.PASSED: 0,
    Category.SKIPPED: 1,
    Category.PENDING: 1,
    Category.FLAKY: 2,
    Category.DEGRADED: 2,
    Category.FAILED: 3,
    Category.ERROR: 3,
}
MORE_ROWS = re.compile(r"^_(\d+) more rows?, see the JUnit report\._$", re.M)
UNKNOWN_SECTION = "- **Last known status:**"


ZWSP = "\u200b"


def md() -> MarkdownIt:
    """A CommonMark tokenizer, for the fenced blocks' contents."""
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def gfm(text: str) -> str:
    """HTML as GitHub renders it: cmark-gfm with its extensions (table, autolink, strikethrough,
    tagfilter, tasklist); raw HTML kept, as GitHub keeps it before sanitising."""
    return cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)


class Html(HTMLParser):
    """Collects body rows of every table (cell texts), all tags and all link targets."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self.hrefs: list[str | None] = []
        self._in_body = False
        self._cell: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self._cell = []
        elif tag == "a":
            self.hrefs.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "td" and self._cell is not None:
            # What a reader sees: zero-width spaces (break opportunities) are invisible.
            self.rows[-1].append("".join(self._cell).replace(ZWSP, ""))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(text: str) -> Html:
    return Html(gfm(text))


def total_runs(run: GateRun) -> int:
    return sum(len(sv.runs) for sv in run.verdict.sessions)


def check_rows(rows: list[list[str]]) -> None:
    """Every row has 7 cells with the fixed columns where they belong (nothing shifted)."""
    for cells in rows:
        assert len(cells) == 7, cells
        assert cells[0] in LABELS, cells
        assert cells[2] in ("API", "BROWSER", "SSL"), cells
        assert cells[5].isdigit(), cells
        assert cells[6] in ("result", "–"), cells


@functools.cache
def large() -> GateRun:
    """The 3,000-result run, built once (GateRun is frozen, so sharing it is safe)."""
    return runs.large()


def custom(rows: list[dict[str, Any]], status: str = "FAILED", **session: Any) -> GateRun:
    body = session_body(status, rows)
    body.update(session)
    return runs.from_body(body)


def many_passed(n: int) -> GateRun:
    return custom([row(f"ok {i:03d}") for i in range(n)], "PASSED")


def mixed() -> GateRun:
    """Every category, interleaved so API order differs from report order."""
    rows = []
    for i in range(60):
        rows.append(row(f"passed {i:02d}"))
        if i % 6 == 0:
            rows.append(row(f"skipped {i:02d}", "CANCELLED", aborted=True))
            rows.append(row(f"flaky {i:02d}", "FAILED", "ATTEMPT"))
            rows.append(row(f"flaky {i:02d}"))
            rows.append(row(f"degraded {i:02d}", isDegraded=True))
        if i % 12 == 0:
            rows.append(row(f"failed {i:02d}", "FAILED"))
            rows.append(row(f"error {i:02d}", "FAILED", hasErrors=True))
            rows.append(row(f"pending {i:02d}", "RUNNING", "PENDING"))
    return custom(rows)


# --- every outcome --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(runs.ALL_OUTCOMES))
def test_every_outcome_has_heading_exit_code_and_footer(name: str) -> None:
    run = runs.ALL_OUTCOMES[name]()
    text = render(run)
    verdict = run.verdict
    first = text.splitlines()[0]
    assert first.startswith("## ")
    assert first.endswith(f"Checkly: {verdict.outcome.label} (exit {verdict.exit_code})")
    assert text.rstrip().endswith("</sub>")
    assert "checkly-gate 0.1.0" in text
    assert len(text.encode()) <= 900 * 1024
    html = parse(text)
    check_rows(html.rows)
    assert len(html.rows) == total_runs(run)
    assert "script" not in html.tags


@pytest.mark.parametrize("name", sorted(runs.ALL_OUTCOMES))
def test_what_is_known_section_only_where_something_is_unknown(name: str) -> None:
    text = render(runs.ALL_OUTCOMES[name]())
    expected = name in ("timed-out", "unavailable", "refused", "interrupted")
    assert (UNKNOWN_SECTION in text) is expected


def test_exit_code_of_interrupt_is_the_signal_code() -> None:
    assert render(runs.interrupted()).startswith("## 🛑 Checkly: interrupted (exit 143)\n")


def test_timed_out_section_lists_unfinished_checks_and_counts() -> None:
    text = render(runs.timed_out())
    assert "#### ⏱️ Timed out" in text
    assert "- **Last known status:** RUNNING" in text
    assert "- **Finished:** 1/3 results" in text
    assert "- **Unfinished:** Checkout (eu-west-1), Slow (eu-west-1)" in text
    assert "⏳ 2 unfinished" in text


def test_unread_session_says_what_is_known() -> None:
    text = render(runs.refused())
    assert "session not read" in text
    assert "- **Last known status:** never read" in text
    assert "HTTP 401 Unauthorized" in text
    assert "| Result |" not in text


def test_usage_is_a_short_summary() -> None:
    text = render(runs.usage())
    assert text.startswith("## ⛔ Checkly: error (exit 2)\n")
    assert "session id 'x' is not a UUID" in text
    assert "###" not in text and "|" not in text
    assert len(text.splitlines()) <= 6


def test_several_sessions_overall_heading_then_one_section_each() -> None:
    text = render(runs.several())
    assert text.startswith("## ❌ Checkly: failed (exit 1)\n")
    assert "❌ 1 failed · ✅ 2 passed · 2 sessions" in text
    sections = re.findall(r"^### (.*)$", text, re.M)
    assert len(sections) == 2
    assert sections[0].startswith("✅ [Deploy checks](https://") and "passed" in sections[0]
    assert sections[1].startswith("❌ [Second session](https://") and "failed" in sections[1]


def test_session_line_status_and_metadata() -> None:
    text = render(runs.failed())
    assert "### [Deploy checks](https://app.checklyhq.com/test-sessions/" in text
    assert "❌ 2 failed (1 error) · ✅ 3 passed · 🔁 1 flaky · ⚠️ 1 degraded\n" in text
    assert "**Duration:** 5 s · **Environment:** staging · **Branch:** main" in text
    run = custom([row("a")], "PASSED", metadata={"commitId": "0123456789abcdef"})
    assert "**Commit:** 0123456" in render(run) and "01234567" not in render(run)


def test_warnings_are_shown() -> None:
    run = custom([row("Broken", "FAILED")], "PASSED")  # status PASSED, FINAL failed
    assert run.verdict.warnings
    text = render(run)
    assert "> **⚠️ Warnings**" in text
    assert "> - session status is PASSED but FINAL results failed; the failure wins" in text
    assert "blockquote" in parse(text).tags


# --- table ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "builder",
    [runs.passed, runs.failed, runs.nasty, runs.several, mixed],
    ids=lambda b: b.__name__,
)
def test_one_table_row_per_run(builder: Any) -> None:
    run = builder()
    html = parse(render(run))
    check_rows(html.rows)
    assert len(html.rows) == total_runs(run)


def test_more_than_5_passed_go_inside_details() -> None:
    text = render(many_passed(25))
    assert "<details><summary>25 passed</summary>\n\n| Result |" in text
    assert "|\n\n</details>" in text
    html = gfm(text)
    inside = html.split("<details>", 1)[1].split("</details>", 1)[0]
    assert len(Html(inside).rows) == 25


def test_5_passed_stay_in_the_plain_table() -> None:
    text = render(many_passed(5))
    assert "<details>" not in text
    assert len(parse(text).rows) == 5


def test_large_run_one_row_per_run_failures_open_passed_in_details() -> None:
    text = render(large())
    html = gfm(text)
    check_rows(Html(html).rows)
    before, inside = html.split("<details>", 1)
    assert [cells[0] for cells in Html(before).rows] == ["❌ failed"] * 6
    assert len(Html(inside).rows) == 2994
    assert "<summary>2994 passed</summary>" in text


def test_order_failures_first_then_flaky_degraded_skipped_unfinished_passed() -> None:
    rows = parse(render(mixed())).rows
    categories = [LABELS[cells[0]] for cells in rows]
    # runs that failed the gate first, then worst first
    fails = [not facts(c).broken for c in categories]
    ranks = [(f, list(Category).index(c)) for f, c in zip(fails, categories, strict=True)]
    assert ranks == sorted(ranks)
    assert categories[0] is Category.ERROR and categories[-1] is Category.PASSED
    # stable within a group: API order
    passed = [cells[1] for cells in rows if cells[0] == "✅ passed"]
    assert passed == [f"passed {i:02d}" for i in range(60)]
    flaky = [cells for cells in rows if cells[0] == "🔁 flaky"]
    assert [c[1] for c in flaky] == [f"flaky {i:02d}" for i in range(0, 60, 6)]
    assert {c[5] for c in flaky} == {"2"}  # attempts = 1 + failed attempts


def test_cells_duration_location_and_link() -> None:
    cells = parse(render(runs.passed())).rows[0]
    assert cells == ["🔁 flaky", "Login API", "API", "eu-west-1", "2.5 s", "2", "result"]
    html = parse(render(runs.passed()))
    assert all(h and h.startswith("https://app.checklyhq.com/") for h in html.hrefs)


# --- untrusted text -------------------------------------------------------------------------


def test_nasty_names_are_inert() -> None:
    run = runs.nasty()
    text = render(run)
    html = gfm(text)
    parsed = Html(html)
    assert "<script" not in html.lower()
    assert "<b>" not in html
    assert 'href="javascript:' not in html.lower()
    assert not {"script", "b", "em", "img", "s", "del", "h1"} & set(parsed.tags)
    assert all(h and h.startswith("https://") for h in parsed.hrefs)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text)
    assert "emoji 🚀✅ name" in text and " 🚀 `](https://" in text  # emoji kept, session too
    check_rows(parsed.rows)
    assert len(parsed.rows) == len(runs.NASTY)
    names = {cells[1] for cells in parsed.rows}
    assert "pipe | in | name" in names
    assert "<script>alert(1)</script>" in names
    assert "cdata ]]> end" in names
    assert "multi line name" in names
    assert "[link](javascript:alert(1)) `code` & *bold*" in names
    assert "L" * 200 + "…" in names
    assert {cells[3] for cells in parsed.rows} == {f"loc|{i}" for i in range(len(runs.NASTY))}
    assert not re.search(r"^::", text, re.M)  # no workflow command at a line start


def test_only_http_links_and_urls_cannot_break_the_table() -> None:
    rows = [
        row("js", "FAILED", testSessionResultLink="javascript:alert(1)"),
        row("data", testSessionResultLink="data:text/html,<script>alert(1)</script>"),
        row("odd", testSessionResultLink='https://x.test/a)b|c<d>"f`g'),
        row("space", testSessionResultLink="https://x.test/a b"),
        row("newline", testSessionResultLink="java\nscript:alert(1)"),
        row("none", testSessionResultLink=None),
    ]
    run = custom(rows, testSessionLink="javascript:alert(2)", name="[x](javascript:alert(3))")
    text = render(run)
    parsed = parse(text)
    check_rows(parsed.rows)
    assert len(parsed.rows) == 6
    assert parsed.hrefs == ["https://x.test/a%29b%7Cc%3Cd%3E%22f%60g"]
    assert [cells[6] for cells in parsed.rows] == ["–", "–", "result", "–", "–", "–"]
    assert "### ` [x](javascript:alert(3)) `\n" in text


def test_nasty_metadata_types_and_reasons() -> None:
    rows = [row("a\x1b[31mred\x1b[0m", "FAILED", check_type="<img src=x onerror=alert(1)>")]
    run = custom(
        rows,
        metadata={"environment": "<iframe>", "branchName": "feat/*x*\n# h", "commitId": "`rm`"},
    )
    text = render(run)
    html = gfm(text)
    assert "<img" not in html and "<iframe" not in html and "<h1" not in html
    assert "<em>" not in html
    cells = Html(html).rows[0]
    assert cells[1] == "ared"
    assert cells[2] == "<IMG SRC=X ONERROR=ALERT(1)>"


def test_text_escaping_helper() -> None:
    assert _text("a|b") == "a\\|b"
    assert _text("x\r\ny") == "x y"
    assert _text("\x1b[1;31mred\x1b[0m") == "red"
    assert _text("<b>&") == "&lt;b&gt;&amp;"
    assert _text("![i](u) *e* _u_ ~s~ #h `c` $m$ \\") == (
        "\\!\\[i\\]\\(u\\) \\*e\\* \\_u\\_ \\~s\\~ \\#h \\`c\\` \\$m\\$ \\\\"
    )
    assert _text("x" * 300).replace(ZWSP, "") == "x" * 200 + "…"
    assert _text(None) == "–"
    assert _text("\x00\x07") == "–"
    assert _text("a\u202eb\ud800c") == "abc"


def test_url_helper() -> None:
    assert _url("https://a.test/x?y=1&z=2") == "https://a.test/x?y=1&z=2"
    assert _url("HTTP://a.test/") == "HTTP://a.test/"
    for bad in ("javascript:alert(1)", "ftp://a.test", "https:///x", "http://a\tb", None, 3):
        assert _url(bad) is None


def test_duration_helper() -> None:
    assert _duration(None) == "–"
    assert _duration(0.42) == "420 ms"
    assert _duration(2.5) == "2.5 s"
    assert _duration(3.0) == "3 s"
    assert _duration(59.96) == "1 m 00 s"
    assert _duration(63) == "1 m 03 s"
    assert _duration(90) == "1 m 30 s"
    assert _duration(3725) == "1 h 02 m"
    assert _duration(float("nan")) == "–"


# --- error messages -------------------------------------------------------------------------


def with_messages(messages: dict[str, str]) -> GateRun:
    return dataclasses.replace(runs.failed(), error_messages=messages)


def fences(text: str) -> list[str]:
    return [t.content for t in md().parse(text) if t.type == "fence"]


def test_error_messages_one_block_per_message_naming_the_checks() -> None:
    text = render(with_messages({"eg-1": "expected 200, got 500", "eg-2": "socket hang up"}))
    assert "#### Error messages" in text
    # table order: the errored run comes before the failed one
    assert fences(text) == ["socket hang up\n", "expected 200, got 500\n"]
    assert "Hit by Payments API (eu-west-1):\n\n```\nsocket hang up\n```" in text
    assert "Hit by Checkout (eu-west-1):\n\n```\nexpected 200, got 500\n```" in text
    # the section is under the table
    assert text.index("#### Error messages") > text.index("| ✅ passed |")


def test_same_message_for_two_groups_is_one_block_naming_both_checks() -> None:
    text = render(with_messages({"eg-1": "boom", "eg-2": "boom", "unused": "never shown"}))
    assert fences(text) == ["boom\n"]
    assert "Hit by Payments API (eu-west-1), Checkout (eu-west-1):" in text
    assert "never shown" not in text


def test_no_error_section_without_messages() -> None:
    assert "Error messages" not in render(runs.failed())
    assert "Error messages" not in render(with_messages({"other": "x"}))


def test_backticks_cannot_break_out_of_the_fence() -> None:
    message = "before\n```\n<script>alert(1)</script>\n````\n# not a heading\n\x1b[31mred\x00"
    text = render(with_messages({"eg-1": message}))
    assert fences(text) == ["before\n```\n<script>alert(1)</script>\n````\n# not a heading\nred\n"]
    html = gfm(text)
    assert "<script" not in html and "<h1" not in html
    assert "`````\nbefore" in text


def test_fence_helper_is_longer_than_any_backtick_run() -> None:
    assert _fenced("a") == "```\na\n```"
    assert _fenced("``````x").startswith("```````\n")


def test_long_error_message_is_capped() -> None:
    text = render(with_messages({"eg-1": "line\n" * 1000}))
    (content,) = fences(text)
    assert content.count("line") == 80 and content.endswith("…\n")


# --- budget ---------------------------------------------------------------------------------


def test_small_budget_trims_passed_rows_and_keeps_failures() -> None:
    text = render(large(), budget_bytes=20_000)
    assert len(text.encode()) <= 20_000
    (more,) = MORE_ROWS.findall(text)
    rows = parse(text).rows
    check_rows(rows)
    assert len(rows) + int(more) == 3000
    assert int(more) > 2000
    assert sum(1 for cells in rows if cells[0] == "❌ failed") == 6
    assert "passed</summary>" in text and " of 2994 passed" in text
    assert text.rstrip().endswith("</sub>")


def test_default_budget_is_respected_on_the_large_run() -> None:
    text = render(large())
    assert len(text.encode()) <= 900 * 1024
    assert not MORE_ROWS.search(text)


def test_default_budget_trims_a_huge_run() -> None:
    run = runs.large(12_000)
    text = render(run)
    assert len(text.encode()) <= 900 * 1024
    (more,) = MORE_ROWS.findall(text)
    rows = re.findall(r"^\| (?:✅ passed|❌ failed) \|", text, re.M)  # too big to parse quickly
    assert len(rows) + int(more) == 12_000
    assert len([r for r in rows if "failed" in r]) == 24


def test_trimming_order_passed_then_skipped_then_flaky_then_failures() -> None:
    run = dataclasses.replace(mixed(), error_messages={})
    full = len(render(run).encode())
    seen_partial = set()
    for budget in range(full, 1500, -400):
        text = render(run, budget_bytes=budget)
        assert len(text.encode()) <= budget
        if "does not fit" in text:  # the minimal fallback: nothing left to order
            break
        rows = parse(text).rows
        kept = [LABELS[cells[0]] for cells in rows]
        expected = {
            c: sum(1 for r in run.verdict.sessions[0].runs if r.category is c) for c in TIER
        }
        dropped_tiers = {TIER[c] for c in TIER if kept.count(c) < expected[c]}
        if dropped_tiers:
            top = max(dropped_tiers)
            # everything in lower tiers is gone before anything in a higher tier goes
            assert all(kept.count(c) == 0 for c in TIER if TIER[c] < top)
            seen_partial.add(top)
            (more,) = MORE_ROWS.findall(text)
            assert len(rows) + int(more) == len(run.verdict.sessions[0].runs)
        # within a group the earliest rows (API order) stay
        passed = [cells[1] for cells in rows if cells[0] == "✅ passed"]
        assert passed == [f"passed {i:02d}" for i in range(len(passed))]
    assert seen_partial >= {0, 1, 2, 3}


def test_error_blocks_go_after_flaky_rows_but_before_failures() -> None:
    run = with_messages({"eg-1": "x" * 3000, "eg-2": "y" * 3000})
    full = len(render(run).encode())
    seen = set()
    for budget in range(full, 500, -100):
        text = render(run, budget_bytes=budget)
        assert len(text.encode()) <= budget
        if "does not fit" in text:  # the minimal fallback: nothing left to order
            break
        labels = [cells[0] for cells in parse(text).rows]
        blocks = len(fences(text))
        if blocks < 2:
            seen.add("block")
            assert labels == [label for label in labels if label in ("💥 error", "❌ failed")]
            assert "more error message" in text
        if len(labels) < 2 or labels[:2] != ["💥 error", "❌ failed"]:
            seen.add("failure")
            assert blocks == 0
        if blocks == 1:
            assert fences(text) == ["y" * 3000 + "\n"]  # the later block goes first
    assert seen == {"block", "failure"}


@pytest.mark.parametrize("budget", [0, 1, 7, 40, 120, 300, 800, 2000])
@pytest.mark.parametrize("builder", [large, runs.several, runs.nasty, runs.timed_out])
def test_any_budget_is_a_hard_limit(builder: Any, budget: int) -> None:
    text = render(builder(), budget_bytes=budget)
    assert len(text.encode()) <= budget


def test_even_failures_are_trimmed_when_nothing_else_fits() -> None:
    rows = [row(f"failed {i:03d} " + "z" * 150, "FAILED") for i in range(200)]
    run = custom(rows)
    text = render(run, budget_bytes=8_000)
    assert len(text.encode()) <= 8_000
    (more,) = MORE_ROWS.findall(text)
    assert len(parse(text).rows) + int(more) == 200


def test_pathological_sessions_fall_back_to_a_minimal_summary() -> None:
    from checkly_gate.models import Observation, Stop, parse_session

    observations = []
    for i in range(300):
        sid = f"00000000-0000-4000-8000-{i:012d}"
        body = session_body("RUNNING", [row(f"c{i}", "RUNNING", "PENDING")], sid=sid)
        body["name"] = "n" * 500
        observations.append(Observation(sid, Stop.DEADLINE, session=parse_session(body)))
    run = runs.build(observations)
    assert run.verdict.outcome is Outcome.TIMED_OUT
    text = render(run, budget_bytes=4_000)
    assert len(text.encode()) <= 4_000
    assert text.startswith("## ⏱️ Checkly: timed-out (exit 4)")
    assert "does not fit in 4000 bytes" in text


# --- purity ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "builder", [*runs.ALL_OUTCOMES.values(), runs.nasty, mixed], ids=lambda b: b.__name__
)
def test_deterministic(builder: Any) -> None:
    run = builder()
    assert render(run) == render(run)
    assert render(run, budget_bytes=3000) == render(run, budget_bytes=3000)


# --- GitHub's autolinker and long names (cmark-gfm, GitHub's engine) ----------------------------

URLISH = [
    "https://www.example.com/cart?id=1&sort=asc",
    "https://www.example.com\\",
    "www.example.com/a_b_c",
    "ops@example.com",
    "http://x.test/a_(b)*c*",
    "ftp://files.example.com/x",
    "WWW.EXAMPLE.COM",
]


def visible_cells(html: str) -> list[list[str]]:
    """Table body cells as a reader sees them, zero-width spaces kept (to measure breaks)."""
    cells = []
    for row_html in re.findall(r"<tr>(.*?)</tr>", html.split("<tbody>", 1)[-1], re.S):
        tds = re.findall(r"<td[^>]*>(.*?)</td>", row_html, re.S)
        cells.append([htmllib.unescape(re.sub(r"<[^>]+>", "", td)) for td in tds])
    return cells


def test_urls_in_names_are_shown_as_written_and_never_linked() -> None:
    rows = [row(name, "FAILED", location=name) for name in URLISH]
    text = render(custom(rows, name=URLISH[0]))
    parsed = Html(gfm(text))
    # Only our own links: the session and per result (table and first-screen list), to Checkly.
    assert len(parsed.hrefs) == 1 + 2 * len(URLISH)
    assert all(h and h.startswith("https://app.checklyhq.com/") for h in parsed.hrefs)
    assert [cells[1] for cells in parsed.rows] == URLISH
    assert [cells[3] for cells in parsed.rows] == URLISH


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("htps:/.wWcom@&_\\*~|[]()<>#!`$x1 -")), max_size=80))
def test_no_untrusted_text_becomes_a_link_or_shows_escapes(name: str) -> None:
    """The whole kind: any text made of URL and markdown punctuation renders as itself."""
    name = name if name.strip() else "x"
    run = custom([row(name, "FAILED")], name=name)
    parsed = Html(gfm(render(run)))
    assert all(h and h.startswith("https://app.checklyhq.com/") for h in parsed.hrefs)
    assert len(parsed.hrefs) == 3  # the session, the result in the list and in the table
    assert parsed.rows[0][1] == " ".join(name.split())


def test_long_unbroken_names_are_copied_whole() -> None:
    """Names carry no invisible break opportunities: a copied name is the name (19.3)."""
    long = "https://monitoring.example.com/" + "averyveryverylongpathsegment" * 5
    rows = [row(long, "FAILED", location="x" * 90), row("Short", "FAILED")]
    html = gfm(render(custom(rows)))
    assert len(long) < NAME_LIMIT
    assert visible_cells(html)[0][1] == long  # zero-width spaces kept by visible_cells


@pytest.mark.parametrize("build", [runs.unavailable, runs.refused])
def test_session_ids_stay_copyable(build) -> None:
    """A session the gate could not read is headed by its id; a reader copies it (to run
    `checkly-gate wait ID`, to search Checkly): no invisible character may sit inside it. A
    UUID wraps at its hyphens anyway, so it needs no break opportunities of its own."""
    run = build()
    sid = run.verdict.sessions[0].session_id
    markdown = render(run)
    assert f"### {sid}" in markdown, markdown
    assert all(sid in line for line in markdown.splitlines() if sid[:8] in line)


def test_an_unfinished_session_has_no_duration_of_its_own() -> None:
    """The API's timeElapsed of a session last read while RUNNING is from that read: a timed-out
    or interrupted session showed "Duration: 0 ms" after the gate had waited for minutes. Only
    a finished session's duration is its duration."""
    run = runs.timed_out()
    sv = run.verdict.sessions[0]
    assert sv.session is not None and not sv.session.is_final
    stale = dataclasses.replace(sv.session, time_elapsed_ms=0.0)
    verdict = dataclasses.replace(run.verdict, sessions=(dataclasses.replace(sv, session=stale),))
    assert "**Duration:**" not in render(dataclasses.replace(run, verdict=verdict))
    assert "**Duration:**" in render(runs.passed())


# --- 19.3: names are shown and copied exactly as written (cmark-gfm, GitHub's engine) ------------

HOSTILE = [
    "https://shop.example.com/api/v1/cart?id=1&sort=asc",
    "snake_case/path*",
    "`` ``` `tick` ```",
    "a | b \\| c \\\\| d",
    "<script>alert(1)</script>",
    "[x](https://evil.test) ![i](u)",
    "*bold* _em_ ~~del~~ ~s~",
    "@mention #123 www.example.com ops@example.com",
    "&amp; &lt;b&gt; &#124;",
    "\\` \\* trailing backslash \\",
]
NAME_CHARS = st.sampled_from(
    [
        *"`|<>[]()!*_~@#&;:/.?=\\$-+'\"{}",
        *("http://", "https://", "www.", "<script>", " ", "é", "🚀"),
        *"abcXYZ019",
    ]
)


class Texts(HTMLParser):
    """What a reader copies: the text of every ``<code>`` element, table cell and ``<h3>``
    heading; also all tags, all link targets and whether any element sits inside a ``<code>``
    (which would mean a name made markup)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.codes: list[str] = []
        self.cells: list[str] = []  # <td> and <h3> texts
        self.tags: list[str] = []
        self.hrefs: list[str | None] = []
        self.nested = False
        self._code: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if self._code is not None:
            self.nested = True
        if tag == "code":
            self._code = []
        elif tag in ("td", "h3"):
            self._cell = []
        elif tag == "a":
            self.hrefs.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "code" and self._code is not None:
            self.codes.append("".join(self._code))
            self._code = None
        elif tag in ("td", "h3") and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        for sink in (self._code, self._cell):
            if sink is not None:
                sink.append(data)


def _hostile_run(session: str, names: list[str]) -> GateRun:
    rows = [row(name, "FAILED" if i % 2 == 0 else "PASSED") for i, name in enumerate(names)]
    return custom(rows, name=session)


def _check_names_copy_back(session: str, names: list[str]) -> None:
    run = _hostile_run(session, names)
    parsed = Texts(gfm(render(run)))
    # What a reader copies out of the rendered page: each name exactly as written (whitespace
    # runs folded to one space, as a one-line cell must), with nothing invisible inside.
    for name in [session, *names]:
        written = " ".join(name.split())
        # a code span's text, or a plain cell or heading of words only
        assert written in parsed.codes or written in parsed.cells, (name, parsed.cells)
    assert not any(ZWSP in text for text in parsed.codes + parsed.cells)
    # No element and no link made from a name: only our own structure and Checkly links.
    assert not parsed.nested
    assert set(parsed.tags) <= {
        *("h2", "h3", "h4", "p", "strong", "ul", "li", "a", "code", "table", "thead", "tbody"),
        *("tr", "th", "td", "sub", "details", "summary", "em", "pre"),
    }, set(parsed.tags)
    assert all(h and h.startswith("https://app.checklyhq.com/") for h in parsed.hrefs)
    # one link per failed result in the first-screen list, one per row, one for the session
    failed = (len(names) + 1) // 2
    assert len(parsed.hrefs) == 1 + len(names) + failed


def test_hostile_names_copy_back_exactly_as_written() -> None:
    _check_names_copy_back(HOSTILE[0], HOSTILE)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(NAME_CHARS, min_size=1, max_size=25).map("".join),
    st.lists(st.lists(NAME_CHARS, min_size=1, max_size=25).map("".join), min_size=1, max_size=4),
)
def test_any_name_copies_back_exactly_as_written(session: str, names: list[str]) -> None:
    """The whole kind: any text of markdown, HTML and URL punctuation renders as itself."""
    names = [n for n in names if n.strip()] or ["x"]
    _check_names_copy_back(session if session.strip() else "s", names)

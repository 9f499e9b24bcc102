"""The one place untrusted text becomes a line (``text.py``), over arbitrary Unicode."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from checkly_gate.text import duration, is_safe_id, line, link, one_line, plain_text

MARKERS = [
    "::",
    "::error::",
    "::warning title=x::",
    "##[",
    "##[set-output name=a]",
    "section_start:",
    "section_end:",
    "\x1b[",
    "\x1b]0;",
    "\x9b",
    "\r",
    "\n",
    "\u2028",
    "\u202e",
    "\ud800",
    "\udfff",
    " ",
]
# Arbitrary text (lone surrogates included) mixed with the markers that make a line a command.
untrusted = st.lists(st.one_of(st.text(), st.sampled_from(MARKERS)), max_size=12).map("".join)


def assert_inert_fragment(text: str) -> None:
    text.encode("utf-8")  # no lone surrogate: every encoder that can write UTF-8 can write it
    assert all(ch.isprintable() for ch in text), repr(text)
    assert "##[" not in text
    assert not re.search(r"section_(start|end):", text, re.IGNORECASE)


@given(untrusted, st.integers(min_value=2, max_value=300))
@example("\n::error title=x::pwned", 200)
@example("\ud800 check", 200)
def test_one_line_is_one_printable_inert_line(text: str, limit: int) -> None:
    cleaned = one_line(text, limit)
    assert_inert_fragment(cleaned)
    assert len(cleaned) <= limit
    assert cleaned == cleaned.strip()


@given(untrusted)
@example("::error::x")
@example("  \n ::set-output name=a::b")
def test_line_never_starts_a_workflow_command(text: str) -> None:
    cleaned = line(text)
    assert_inert_fragment(cleaned)
    assert not cleaned.lstrip().startswith("::")


@given(untrusted)
def test_plain_text_lines_are_each_inert(text: str) -> None:
    for part in plain_text(text).split("\n"):
        assert_inert_fragment(part)


@given(st.one_of(untrusted, st.none(), st.integers()))
@example("https://x.test/a\n::warning::pwned")
@example("javascript:alert(1)")
def test_link_is_an_http_link_on_one_line_or_nothing(value: object) -> None:
    shown = link(value)
    assert shown == "" or re.match(r"https?://", shown, re.IGNORECASE)
    assert_inert_fragment(shown)


@given(untrusted)
@example("../../etc")
@example("a\n::error::x")
def test_safe_ids_need_no_escaping_in_a_url_path(value: str) -> None:
    if is_safe_id(value):
        assert re.fullmatch(r"[A-Za-z0-9._~-]+", value) and not value.startswith(".")


def test_ordinary_ids_and_links_pass() -> None:
    assert is_safe_id("3f1c0b4e-8f3a-4b7e-9a53-2f6f7c1d9e10") and is_safe_id("12345")
    assert link("https://app.checklyhq.com/test-sessions/1") == (
        "https://app.checklyhq.com/test-sessions/1"
    )
    assert one_line("Cart → checkout") == "Cart → checkout"


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0.5, "0.5s"), (120, "120s"), (2000, "33.3 min"), (7200, "2 h"), (172800, "2 days")],
)
def test_duration_reads_as_a_person_says_it(seconds: float, said: str) -> None:
    assert duration(seconds) == said


@given(st.floats(min_value=0, max_value=1e300))
@example(1000 * 86400.0)
@example(150 * 60.0)
@example(1e-5)
def test_duration_never_uses_exponent_notation(seconds: float) -> None:
    """A far-future ``Retry-After`` (an HTTP date in 2099) once read ``2.29966e+09s``."""
    said = duration(seconds)
    assert re.fullmatch(r"(\d+(\.\d+)? (s|min|h|days)|\d+(\.\d+)?s|more than 10 years)", said), said

"""deploy.py: did the session test this deploy (issue 21, item 1)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkly_gate import deploy
from checkly_gate.deploy import (
    MATCH,
    MISMATCH,
    MISSING,
    NOT_CHECKED,
    UNKNOWN,
    ExpectCommit,
    ExpectError,
    check_commit,
    check_environment,
    check_session,
    parse_expect_commit,
)
from checkly_gate.models import Metadata

HEAD = "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"
MERGE = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"
AUTO = ExpectCommit()


def test_parse_expect_commit() -> None:
    assert parse_expect_commit(" AUTO ") == ExpectCommit("auto")
    assert parse_expect_commit("off") == ExpectCommit("off")
    assert parse_expect_commit(HEAD.upper()) == ExpectCommit("sha", HEAD)
    assert parse_expect_commit("4f2a9c1") == ExpectCommit("sha", "4f2a9c1")
    for bad in ("", "abc", "4f2a9c", "main", HEAD + "zz", "4f2a 9c1e", "x" * 80):
        with pytest.raises(ExpectError, match="--expect-commit"):
            parse_expect_commit(bad)


def test_parse_expect_environment_refuses_control_characters() -> None:
    assert deploy.parse_expect_environment(" production ") == "production"
    assert deploy.parse_expect_environment(None) == ""
    with pytest.raises(ExpectError, match="--expect-environment"):
        deploy.parse_expect_environment("prod\nuction")


def test_auto_matches_head_or_merge_commit() -> None:
    assert check_commit(HEAD, AUTO, [HEAD, MERGE]).status == MATCH
    assert check_commit(MERGE, AUTO, [HEAD, MERGE]).status == MATCH
    assert check_commit(HEAD[:7], AUTO, [HEAD]).status == MATCH  # short SHA in the session
    assert check_commit(HEAD, AUTO, [HEAD[:9]]).status == MATCH  # short SHA from the CI


def test_auto_mismatch_names_both_and_fails() -> None:
    finding = check_commit(OTHER, AUTO, [HEAD, MERGE], session="session 1")
    assert finding.status == MISMATCH and finding.fails
    assert OTHER[:12] in finding.message and HEAD[:12] in finding.message
    assert MERGE[:12] in finding.message


def test_auto_missing_metadata_is_a_note_not_a_failure() -> None:
    for found in (None, "", "  ", 42, {"sha": HEAD}):
        finding = check_commit(found, AUTO, [HEAD])
        assert finding.status == UNKNOWN and not finding.fails
        assert "no metadata.commitId" in finding.message


def test_auto_without_ci_commits_is_not_checked_and_says_nothing() -> None:
    finding = check_commit(OTHER, AUTO, [])
    assert finding.status == NOT_CHECKED and not finding.fails and not finding.message


def test_explicit_sha_requires_metadata() -> None:
    finding = check_commit(None, ExpectCommit("sha", HEAD[:8]), [OTHER])
    assert finding.status == MISSING and finding.fails
    assert "requires" in finding.message
    # explicit SHA ignores the CI's commits
    assert check_commit(OTHER, ExpectCommit("sha", HEAD), [OTHER]).status == MISMATCH
    assert check_commit(HEAD, ExpectCommit("sha", HEAD[:7]), []).status == MATCH


def test_off_checks_nothing() -> None:
    finding = check_commit(OTHER, ExpectCommit("off"), [HEAD])
    assert finding.status == "off" and not finding.fails


def test_a_short_prefix_below_seven_never_matches() -> None:
    assert check_commit(HEAD[:6], AUTO, [HEAD]).status == MISMATCH


def test_hostile_commit_text_is_judged_raw_and_printed_clean() -> None:
    hostile = HEAD[:7] + "\u200b" + HEAD[7:]
    finding = check_commit(hostile, AUTO, [HEAD])
    assert finding.status == MISMATCH
    shown = check_commit("\x1b[31m::error::x\nabc", AUTO, [HEAD]).message
    assert "\x1b" not in shown and "\n" not in shown


def test_environment() -> None:
    assert check_environment("production", "production").status == MATCH
    assert check_environment("staging", "production").status == MISMATCH
    assert check_environment(None, "production").status == MISSING
    assert check_environment("anything", "").status == "off"
    assert "staging" in check_environment("staging", "production").message


def test_check_session_leaves_off_findings_out() -> None:
    meta = Metadata(commit_id=OTHER, environment="staging")
    found = check_session(meta, AUTO, [HEAD], "production", session="s")
    assert [f.status for f in found] == [MISMATCH, MISMATCH]
    assert deploy.failing(found) == found
    assert check_session(Metadata(), ExpectCommit("off"), [HEAD]) == ()
    assert deploy.notes(check_session(Metadata(), AUTO, [HEAD])) != ()


sha = st.text(alphabet="0123456789abcdef", min_size=7, max_size=40)
anything = st.one_of(st.none(), st.text(max_size=50), sha, st.integers())


@settings(deadline=None, max_examples=300)
@given(
    found=anything,
    wanted=st.lists(sha, max_size=3),
    explicit=sha,
    mode=st.sampled_from(["auto", "sha", "off"]),
)
def test_never_match_for_a_different_commit(
    found: object, wanted: list[str], explicit: str, mode: str
) -> None:
    """Property: ``match`` only when the session's commit and one expected commit are the same
    commit by the prefix rule; a failing status never comes with ``match``."""
    expect = ExpectCommit(mode, explicit if mode == "sha" else "")
    finding = check_commit(found, expect, wanted)
    candidates = [explicit] if mode == "sha" else wanted
    if finding.status == MATCH:
        assert isinstance(found, str)
        have = found.strip().lower()
        assert any(
            len(min(have, w, key=len)) >= 7
            and max(have, w, key=len).startswith(min(have, w, key=len))
            for w in (c.lower() for c in candidates)
        )
    assert finding.fails == (finding.status in (MISMATCH, MISSING))
    if mode == "off":
        assert finding.status == "off"
    if mode == "sha" and not (isinstance(found, str) and found.strip()):
        assert finding.status == MISSING


@settings(deadline=None, max_examples=200)
@given(a=sha, b=sha)
def test_distinct_full_commits_never_match(a: str, b: str) -> None:
    full_a, full_b = (a * 6)[:40], (b * 6)[:40]
    finding = check_commit(full_a, AUTO, [full_b])
    assert (finding.status == MATCH) == (full_a == full_b)

"""CTRF report (issue 22): valid for every outcome, read by a real consumer the way the exit
code says, the same failed runs as JUnit, hostile text kept whole and safe.

The schema comes from npm ``ctrf`` (else ../shared/ctrf), the consumer is ctrf-io's
``github-actions-ctrf`` (tests/ctrf_consumer.py); tests that need one skip with the reason
where it is absent. Through the real CLI, for every outcome: tests/test_e2e_ctrf.py.
"""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkly_gate.models import parse_session
from checkly_gate.reports import GateRun, ctrf, junit
from checkly_gate.verdict import Observation, Outcome, Policy, Stop, Verdict
from tests import bodies, runs
from tests.ctrf_consumer import (
    consumer_command,
    ctrf_schema,
    read_with_consumer,
    validate_ctrf,
    validate_with_reference,
)
from tests.fakes import SID, row, session_body

needs_consumer = pytest.mark.skipif(
    consumer_command() is None,
    reason="the CTRF consumer (npm github-actions-ctrf) is not installed; .ci/run installs it",
)
needs_schema = pytest.mark.skipif(
    ctrf_schema() is None,
    reason="no CTRF JSON Schema: npm ctrf is not installed and ../shared/ctrf is absent",
)


def _verdict_only(outcome: Outcome, code: int, reason: str) -> Callable[[], GateRun]:
    def build() -> GateRun:
        return GateRun(
            verdict=Verdict(outcome, code, reason),
            started_at=runs.STARTED,
            finished_at=runs.FINISHED,
            duration_seconds=3.0,
        )

    return build


def unknown_only() -> GateRun:
    return runs.from_body(session_body("PASSED", [row("Odd", "TIMED_OUT")]))


def fail_on_flaky() -> GateRun:
    return runs.from_body(session_body("PASSED", runs.passed_rows()), policy=Policy(True, True))


def error_texts() -> GateRun:
    return dataclasses.replace(
        runs.failed(),
        error_messages={"eg-1": "Expected status 200 but got 500", "eg-2": "DNS lookup failed"},
        evidence={},
    )


def interrupted_after_pass() -> GateRun:
    body = session_body("PASSED", [row("Homepage")])
    return runs.from_body(body, Stop.FINAL, signal=2)


def unread_interrupted() -> GateRun:
    return runs.build([Observation(SID, Stop.INTERRUPTED, signal=2)], signal=2)


BUILDERS: dict[str, Callable[[], GateRun]] = {
    **runs.ALL_OUTCOMES,
    "no-match": _verdict_only(Outcome.NO_MATCH, 7, "no check matched the tags"),
    "no-match-allowed": _verdict_only(Outcome.NO_MATCH, 0, "no check matched the tags"),
    "no-session": _verdict_only(Outcome.NO_SESSION, 8, "no test session for commit abc123"),
    "usage-no-session": _verdict_only(Outcome.USAGE, 2, "--timeout: not a duration"),
    "nasty": runs.nasty,
    "unknown-only": unknown_only,
    "fail-on-flaky-degraded": fail_on_flaky,
    "error-texts": error_texts,
    "interrupted-after-pass": interrupted_after_pass,
    "unread-interrupted": unread_interrupted,
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, tuple[GateRun, dict[str, Any], str]]:
    out = {}
    for name, build in BUILDERS.items():
        run = build()
        text = ctrf.render(run)
        out[name] = (run, json.loads(text), text)
    return out


def all_tests(doc: dict[str, Any]) -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = doc["results"]["tests"]
    return tests


def checks(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in all_tests(doc) if not t.get("extra", {}).get("gate")]


@needs_schema
@pytest.mark.parametrize("name", list(BUILDERS))
def test_valid_against_the_ctrf_schema_for_every_outcome(
    rendered: dict[str, tuple[GateRun, dict[str, Any], str]], name: str
) -> None:
    _, doc, _ = rendered[name]
    assert validate_ctrf(doc) == []
    assert validate_with_reference(doc) in ([], None)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_summary_counts_the_tests_and_agrees_with_the_exit_code(
    rendered: dict[str, tuple[GateRun, dict[str, Any], str]], name: str
) -> None:
    run, doc, text = rendered[name]
    summary = doc["results"]["summary"]
    tests = all_tests(doc)
    assert summary["tests"] == len(tests) >= 1
    for status in ctrf.STATUSES:
        assert summary[status] == sum(1 for t in tests if t["status"] == status)
    assert (summary["failed"] > 0) is (run.verdict.exit_code != 0)
    assert summary["flaky"] == run.verdict.counts.flaky
    extra = doc["results"]["extra"]
    assert (extra["outcome"], extra["exitCode"]) == (
        run.verdict.outcome.label,
        run.verdict.exit_code,
    )
    assert doc["results"]["tool"] == {"name": "checkly-gate", "version": ctrf.__version__}
    assert summary["start"] <= summary["stop"]
    assert ctrf.render(run) == text  # deterministic
    text.encode("utf-8")  # no lone surrogate survives


@needs_consumer
@pytest.mark.parametrize("name", list(BUILDERS))
def test_the_consumer_reads_what_the_exit_code_says(
    rendered: dict[str, tuple[GateRun, dict[str, Any], str]], name: str, tmp_path: Path
) -> None:
    run, doc, text = rendered[name]
    path = tmp_path / "ctrf.json"
    path.write_text(text, encoding="utf-8")
    read = read_with_consumer(path)
    tests = all_tests(doc)
    assert (read["failed"] > 0) is (run.verdict.exit_code != 0)
    assert read["tests"] == len(tests)
    assert read["flaky"] == run.verdict.counts.flaky
    failed = [t for t in tests if t["status"] == "failed"]
    assert [t["name"] for t in read["failed_tests"]] == [t["name"] for t in failed]
    assert read["flaky_tests"] == [
        {"name": t["name"], "retries": t["retries"]} for t in tests if t.get("flaky")
    ]
    if run.verdict.exit_code != 0:
        assert read["annotations"], "a red report gets the consumer's ::error lines"


def test_check_runs_map_like_junit(
    rendered: dict[str, tuple[GateRun, dict[str, Any], str]],
) -> None:
    _, doc, _ = rendered["failed"]
    by_name = {t["name"]: t for t in checks(doc)}
    assert by_name["Checkout"]["status"] == "failed"
    assert by_name["Checkout"]["retries"] == 1 and by_name["Checkout"]["flaky"] is False
    assert [a["status"] for a in by_name["Checkout"]["retryAttempts"]] == ["failed", "failed"]
    assert by_name["Payments API"]["status"] == "failed"  # hasErrors: JUnit <error>
    assert by_name["Login API"]["status"] == "passed"
    assert by_name["Login API"]["flaky"] is True and by_name["Login API"]["retries"] == 1
    assert by_name["Search latency"]["status"] == "passed"  # degraded passes by default
    _, doc, _ = rendered["timed-out"]
    statuses = {t["name"]: t["status"] for t in checks(doc)}
    assert statuses == {"Homepage": "passed", "Checkout": "pending", "Slow": "pending"}
    _, doc, _ = rendered["cancelled"]
    assert {t["name"]: t["status"] for t in checks(doc)}["Checkout"] == "skipped"
    _, doc, _ = rendered["unknown-only"]
    (odd,) = checks(doc)
    assert (odd["status"], odd["rawStatus"]) == ("other", "TIMED_OUT")
    gate = [t for t in all_tests(doc) if t.get("extra", {}).get("gate")]
    assert [t["status"] for t in gate] == ["failed"]  # exit non-zero: never 0 failed


def test_policy_failures_are_failed_with_the_flag_named(
    rendered: dict[str, tuple[GateRun, dict[str, Any], str]],
) -> None:
    _, doc, _ = rendered["fail-on-flaky-degraded"]
    by_name = {t["name"]: t for t in checks(doc)}
    assert by_name["Login API"]["status"] == "failed"
    assert "--fail-on-flaky" in by_name["Login API"]["message"]
    assert by_name["Search latency"]["status"] == "failed"
    assert "--fail-on-degraded" in by_name["Search latency"]["message"]


def test_error_text_session_link_and_evidence(
    rendered: dict[str, tuple[GateRun, dict[str, Any], str]],
) -> None:
    run = dataclasses.replace(BUILDERS["error-texts"]())
    checkout = next(r for r in run.verdict.sessions[0].runs if r.name == "Checkout")
    run = dataclasses.replace(run, evidence={checkout.latest.result_id: ("trace", "video")})
    doc = json.loads(ctrf.render(run))
    by_name = {t["name"]: t for t in checks(doc)}
    test = by_name["Checkout"]
    assert "Expected status 200 but got 500" in test["message"]
    assert "error group eg-1:\nExpected status 200 but got 500" in test["trace"]
    assert "DNS lookup failed" in by_name["Payments API"]["trace"]
    assert test["extra"]["sessionLink"] == f"https://app.checklyhq.com/test-sessions/{SID}"
    assert test["extra"]["resultLink"].startswith("https://app.checklyhq.com/r/")
    assert test["extra"]["evidence"] == ["trace", "video"]
    assert test["suite"] == ["Deploy checks"]


def test_gate_tests_carry_the_reason_where_no_run_does(
    rendered: dict[str, tuple[GateRun, dict[str, Any], str]],
) -> None:
    for name in ("no-match", "no-session", "usage-no-session", "refused", "unread-interrupted"):
        run, doc, _ = rendered[name]
        gate = [t for t in all_tests(doc) if t.get("extra", {}).get("gate")]
        assert gate and all(t["status"] == "failed" for t in gate), name
        assert any(run.verdict.reason[:40] in t["message"] for t in gate) or run.verdict.sessions
    _, doc, _ = rendered["no-match-allowed"]
    assert [t["status"] for t in all_tests(doc)] == ["skipped"]
    run, doc, _ = rendered["interrupted-after-pass"]
    assert run.verdict.exit_code == 130
    assert [t["name"] for t in all_tests(doc) if t["status"] == "failed"] == ["checkly-gate"]


def test_hostile_names_and_messages_survive(
    rendered: dict[str, tuple[GateRun, dict[str, Any], str]],
) -> None:
    run, doc, text = rendered["nasty"]
    root = ET.fromstring(junit.render(run))
    assert [t["name"] for t in checks(doc)] == [c.get("name") for c in root.iter("testcase")]
    names = {t["name"] for t in checks(doc)}
    assert "<script>alert(1)</script>" in names
    assert "pipe | in | name" in names
    assert "::error::injected" in names
    for test in all_tests(doc):
        for value in (test["name"], test.get("message", ""), test.get("trace", "")):
            assert "\x1b" not in value and "\x00" not in value
    assert "\x1b" not in text


@needs_consumer
def test_the_consumer_shows_hostile_names_whole(
    rendered: dict[str, tuple[GateRun, dict[str, Any], str]], tmp_path: Path
) -> None:
    _, doc, text = rendered["nasty"]
    path = tmp_path / "ctrf.json"
    path.write_text(text, encoding="utf-8")
    read = read_with_consumer(path)
    failed = [t["name"] for t in all_tests(doc) if t["status"] == "failed"]
    assert [t["name"] for t in read["failed_tests"]] == failed
    assert "<script>alert(1)</script>" in [t["name"] for t in read["failed_tests"]]


def _junit_red(xml: str) -> set[tuple[str, str]]:
    red = set()
    for suite in ET.fromstring(xml).iter("testsuite"):
        for case in suite.iter("testcase"):
            if case.get("classname") == junit.GATE_CLASSNAME:
                continue
            if case.find("failure") is not None or case.find("error") is not None:
                red.add((suite.get("name", ""), case.get("name", "")))
    return red


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(bodies.sessions(), min_size=1, max_size=2),
    st.booleans(),
    st.booleans(),
    st.sampled_from([Stop.FINAL, Stop.FINAL, Stop.DEADLINE, Stop.INTERRUPTED]),
)
def test_ctrf_and_junit_agree_on_which_runs_failed(
    cases: list[bodies.Case], fail_on_flaky: bool, fail_on_degraded: bool, stop: Stop
) -> None:
    observations, raw = [], {}
    for case in cases:
        try:
            session = parse_session(case.body)
        except Exception:
            session = None
        if case.requested_id in raw:
            continue
        observations.append(Observation(case.requested_id, stop, session=session))
        raw[case.requested_id] = case.body
    policy = Policy(fail_on_degraded=fail_on_degraded, fail_on_flaky=fail_on_flaky)
    signal = 15 if stop is Stop.INTERRUPTED else None
    run = runs.build(observations, raw, policy, signal)
    doc = ctrf.document(run)
    # A JUnit red testcase is a CTRF failed test, or "other" (a result the gate cannot read,
    # JUnit <error>); nothing else is.
    shown = {(t["suite"][0], t["name"]) for t in checks(doc) if t["status"] in ("failed", "other")}
    assert shown == _junit_red(junit.render(run))
    assert (doc["results"]["summary"]["failed"] > 0) is (run.verdict.exit_code != 0)
    failing = sum(len(sv.failing) for sv in run.verdict.sessions)
    assert sum(1 for t in checks(doc) if t["status"] in ("failed", "other")) == failing
    if ctrf_schema() is not None:
        assert validate_ctrf(doc) == []


def test_a_file_over_budget_loses_its_traces_and_says_so() -> None:
    run = dataclasses.replace(
        runs.failed(), error_messages={"eg-1": "x" * 10_000, "eg-2": "y" * 10_000}
    )
    full = ctrf.render(run)
    doc = json.loads(full)
    assert "reportCut" not in doc["results"]["extra"]
    assert any("x" * 1000 in t.get("trace", "") for t in all_tests(doc))
    budget = len(full.encode()) // 2
    cut = ctrf.render(run, max_bytes=budget)
    assert len(cut.encode()) <= budget
    small = json.loads(cut)
    assert "report cut to fit its size budget" in small["results"]["extra"]["reportCut"]
    assert not any("trace" in t or "retryAttempts" in t for t in all_tests(small))
    assert small["results"]["summary"] == doc["results"]["summary"]  # the verdict is whole
    if ctrf_schema() is not None:
        assert validate_ctrf(small) == []


def test_one_test_per_line_and_the_same_document() -> None:
    run = runs.failed()
    text = ctrf.render(run)
    assert json.loads(text) == ctrf.document(run)
    lines = text.splitlines()
    assert len(lines) == 2 + len(all_tests(ctrf.document(run)))

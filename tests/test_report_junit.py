"""JUnit XML report: schema-valid for every outcome, counts that agree, hostile text made safe."""

from __future__ import annotations

import dataclasses
import os
import re
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkly_gate.explain import evidence_targets
from checkly_gate.models import Observation, Stop, parse_session
from checkly_gate.outcomes import Category, Outcome, facts, gate_element
from checkly_gate.reports import GateRun
from checkly_gate.reports.junit import (
    ATTR_LIMIT,
    DEGRADED_NOTE,
    FULL_TEXTS_PER_GROUP,
    GATE_CASE,
    NOT_FETCHED,
    NOT_FETCHED_ATTEMPT,
    TEXT_LIMIT,
    TRUNCATED,
    clean_attr,
    clean_text,
    render,
)
from checkly_gate.verdict import Policy
from tests import junit_dialect, runs
from tests.fakes import SID, row, session_body

XSD = Path(__file__).resolve().parents[1].parent / "shared" / "junit" / "jenkins-xunit-junit-10.xsd"
TIME = re.compile(r"^\d+\.\d{3}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


# --- extra builders -----------------------------------------------------------------------------


def fail_on_flaky() -> GateRun:
    return runs.from_body(session_body("PASSED", runs.passed_rows()), policy=Policy(True, True))


def error_texts() -> GateRun:
    return dataclasses.replace(
        runs.failed(),
        error_messages={"eg-1": "Expected status 200 but got 500", "eg-2": "DNS lookup failed"},
    )


def status_failed_without_failures() -> GateRun:
    return runs.from_body(session_body("FAILED", [row("Homepage")]))


def unavailable_after_read() -> GateRun:
    body = session_body("RUNNING", [row("Homepage")])
    return runs.from_body(body, Stop.DEADLINE, error="HTTP 503", error_is_current=True)


def interrupted_before_read() -> GateRun:
    return runs.build([Observation(SID, Stop.INTERRUPTED, signal=2)], signal=2)


def same_name_same_location() -> GateRun:
    rows = [
        row("Twin", checkId="check-a"),
        row("Twin", checkId="check-b"),
        row("Twin", checkId="check-c", location="us-east-1"),
    ]
    return runs.from_body(session_body("PASSED", rows))


def sessions_sharing_checks() -> GateRun:
    a = session_body("PASSED", [row("Homepage")])
    b = session_body("PASSED", [row("Homepage")], sid=runs.SID2)
    obs = [
        Observation(SID, Stop.FINAL, session=parse_session(a)),
        Observation(runs.SID2, Stop.FINAL, session=parse_session(b)),
    ]
    return runs.build(obs, {SID: a, runs.SID2: b})


BUILDERS: dict[str, Callable[[], GateRun]] = {
    **runs.ALL_OUTCOMES,
    "nasty": runs.nasty,
    "large": runs.large,
    "fail-on-flaky-degraded": fail_on_flaky,
    "error-texts": error_texts,
    "status-failed-without-failures": status_failed_without_failures,
    "unavailable-after-read": unavailable_after_read,
    "interrupted-before-read": interrupted_before_read,
    "same-name-same-location": same_name_same_location,
    "sessions-sharing-checks": sessions_sharing_checks,
}


# --- helpers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered() -> dict[str, tuple[GateRun, str]]:
    cache: dict[str, tuple[GateRun, str]] = {}
    for name, build in BUILDERS.items():
        run = build()
        cache[name] = (run, render(run))
    return cache


def parse(xml: str) -> ET.Element:
    return ET.fromstring(xml)


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {case.get("name", ""): case for case in root.iter("testcase")}


def case_named(root: ET.Element, name: str) -> ET.Element:
    found = cases(root)
    assert name in found, sorted(found)
    return found[name]


def expected_counts(run: GateRun) -> dict[str, int]:
    """What the verdict says the report must count, gate testcases included: one per red
    session whose runs are not red, one for a red gate whose sessions all look fine."""
    counts = run.verdict.counts
    policy = run.policy
    by_policy = 0
    gate: Counter[str] = Counter()
    for sv in run.verdict.sessions:
        red = 0
        for check_run in sv.runs:
            flaky = check_run.category is Category.FLAKY
            passing = check_run.category in (Category.FLAKY, Category.DEGRADED)
            if (flaky and policy.fail_on_flaky) or (
                passing and check_run.degraded and policy.fail_on_degraded
            ):
                by_policy += 1
                red += 1
            red += facts(check_run.category).broken
        if not sv.outcome.green and not red:
            gate[str(sv.outcome.junit)] += 1
    if not run.verdict.sessions or (
        run.verdict.exit_code
        and not gate
        and not by_policy
        and not (counts.failed + counts.errored)
    ):
        gate[gate_element(run.verdict.outcome, run.verdict.exit_code)] += 1
    return {
        "tests": counts.total + sum(gate.values()),
        "failures": counts.failed + by_policy + gate["failure"],
        "errors": counts.errored + gate["error"],
        "skipped": counts.skipped + counts.pending + gate["skipped"],
    }


# --- every outcome ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BUILDERS))
def test_structure(rendered: dict[str, tuple[GateRun, str]], name: str) -> None:
    run, xml = rendered[name]
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    assert xml.endswith("\n")
    root = parse(xml)
    assert root.tag == "testsuites"
    assert root.get("name") == "checkly-gate"
    assert set(root.attrib) == {"name", "tests", "failures", "errors", "time"}
    assert TIME.match(root.get("time", ""))

    assert junit_dialect.problems(xml) == []
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    suites = root.findall("testsuite")
    assert suites
    # One suite per session, plus the gate's own when no session (or none of them) is red.
    assert len(suites) - len(run.verdict.sessions) in (0, 1)
    for suite, sv in zip(suites[: len(run.verdict.sessions)], run.verdict.sessions, strict=True):
        props = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert props["checkly.session_id"] == sv.session_id
    for suite in suites:
        assert suite.get("name")
        assert TIME.match(suite.get("time", ""))
        if suite.get("timestamp") is not None:
            assert TIMESTAMP.match(suite.get("timestamp", ""))
        for prop in suite.iter("property"):
            assert prop.get("name") and prop.get("value")
        children = suite.findall("testcase")
        marks = [[m.tag for m in c if m.tag in ("failure", "error", "skipped")] for c in children]
        assert all(len(m) <= 1 for m in marks), "one verdict element per testcase"
        counted = {
            "tests": len(children),
            "failures": sum(m == ["failure"] for m in marks),
            "errors": sum(m == ["error"] for m in marks),
            "skipped": sum(m == ["skipped"] for m in marks),
        }
        for key, value in counted.items():
            assert int(suite.get(key, "-1")) == value, (suite.get("name"), key)
            totals[key] += value
        for case in children:
            assert case.get("name") and case.get("classname")
            assert TIME.match(case.get("time", ""))  # always there: dorny reads NaN otherwise
    for key in ("tests", "failures", "errors"):
        assert int(root.get(key, "-1")) == totals[key]

    keys = [(s.get("name"), c.get("classname"), c.get("name")) for s in suites for c in s]
    keys = [k for k in keys if k[2] is not None]
    assert len(keys) == len(set(keys)), "GitLab's key (suite, classname, name) is unique"

    # One testcase per check run, none for ATTEMPT rows; anything else is a gate testcase.
    check_cases = [c for c in root.iter("testcase") if c.get("classname") != "checkly.gate"]
    check_runs = [r for sv in run.verdict.sessions for r in sv.runs]
    assert len(check_cases) == len(check_runs)
    attempt_links = {a.link for r in check_runs for a in r.attempts}
    for case, check_run in zip(check_cases, check_runs, strict=True):
        assert case.get("classname") == f"checkly.{check_run.latest.check_type.lower()}"
        out = case.find("system-out")
        assert out is not None and out.text
        first = out.text.splitlines()[0]
        assert first == f"result: {check_run.latest.link}"
        assert first.removeprefix("result: ") not in attempt_links


@pytest.fixture(scope="module")
def schema() -> Any:
    """The Jenkins xUnit schema where ``../shared/junit/`` exists (a clone does not have it);
    ``CHECKLY_GATE_JUNIT_XSD`` points elsewhere, an empty value turns the extra check off."""
    path = Path(os.environ.get("CHECKLY_GATE_JUNIT_XSD", str(XSD)))
    if not path.is_file():
        return None
    import xmlschema

    return xmlschema.XMLSchema(str(path))


@pytest.mark.parametrize("name", list(BUILDERS))
def test_valid_in_our_dialect_and_against_jenkins_xunit_schema(
    rendered: dict[str, tuple[GateRun, str]], schema: Any, name: str
) -> None:
    """Never skipped: the dialect checker is always here; the XSD is an extra check."""
    xml = rendered[name][1]
    assert junit_dialect.problems(xml) == []
    if schema is not None:
        schema.validate(xml)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_deterministic(rendered: dict[str, tuple[GateRun, str]], name: str) -> None:
    run, xml = rendered[name]
    assert render(run) == xml
    assert render(dataclasses.replace(run)) == xml


@pytest.mark.parametrize(
    "name", ["failed", "timed-out", "several", "large", "passed", "fail-on-flaky-degraded"]
)
def test_junitparser_counts_agree_with_verdict(
    rendered: dict[str, tuple[GateRun, str]], name: str
) -> None:
    junitparser = pytest.importorskip("junitparser")
    run, xml = rendered[name]
    report = junitparser.JUnitXml.fromstring(xml)
    got = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for suite in report:
        for key in got:
            got[key] += getattr(suite, key)
        for case in suite:
            kinds = [type(r).__name__ for r in case.result]
            got["tests"] -= 1
            got["failures"] -= kinds.count("Failure")
            got["errors"] -= kinds.count("Error")
            got["skipped"] -= kinds.count("Skipped")
    assert got == dict.fromkeys(got, 0), "suite attributes equal what junitparser finds"
    report.update_statistics()
    expected = expected_counts(run)
    assert report.tests == expected["tests"]
    assert report.failures == expected["failures"]
    assert report.errors == expected["errors"]
    assert report.skipped == expected["skipped"]


# --- check runs ---------------------------------------------------------------------------------


def test_failure_text_has_message_link_and_error_groups(
    rendered: dict[str, tuple[GateRun, str]],
) -> None:
    run, xml = rendered["failed"]
    checkout = next(r for r in run.verdict.sessions[0].runs if r.name == "Checkout")
    failure = case_named(parse(xml), "Checkout").find("failure")
    assert failure is not None
    assert failure.get("type") == "failed"
    message = failure.get("message", "")
    assert message.startswith("an assertion failed in eu-west-1")
    text = failure.text or ""
    assert text.startswith(message)  # no error text fetched: nothing after the message
    assert f"result: {checkout.latest.link}" in text
    assert "eg-1" in text


def test_has_errors_is_an_error(rendered: dict[str, tuple[GateRun, str]]) -> None:
    case = case_named(parse(rendered["failed"][1]), "Payments API")
    error = case.find("error")
    assert error is not None and case.find("failure") is None
    assert error.get("type") == "error"
    assert (error.text or "").startswith(error.get("message", "x"))
    assert "eg-2" in (error.text or "")


def test_flaky_passes_with_one_flaky_failure_per_failed_attempt(
    rendered: dict[str, tuple[GateRun, str]],
) -> None:
    run, xml = rendered["passed"]
    login = next(r for r in run.verdict.sessions[0].runs if r.name == "Login API")
    assert login.category is Category.FLAKY
    case = case_named(parse(xml), "Login API")
    assert [m.tag for m in case if m.tag in ("failure", "error", "skipped")] == []
    flaky = case.findall("flakyFailure")
    assert len(flaky) == len(login.failed_attempts) == 1
    assert flaky[0].get("type") == "FAILED"
    out = flaky[0].find("system-out")
    assert out is not None and login.failed_attempts[0].link in (out.text or "")


def test_failed_after_retry_has_rerun_failure(rendered: dict[str, tuple[GateRun, str]]) -> None:
    run, xml = rendered["failed"]
    checkout = next(r for r in run.verdict.sessions[0].runs if r.name == "Checkout")
    case = case_named(parse(xml), "Checkout")
    assert case.find("failure") is not None
    reruns = case.findall("rerunFailure")
    assert len(reruns) == len(checkout.failed_attempts) == 1
    assert reruns[0].get("type") == "FAILED"
    # rerunType's sequence: stackTrace, system-out, system-err.
    assert [child.tag for child in reruns[0]] == ["stackTrace", "system-out"]
    assert "eg-1" in (reruns[0].findtext("stackTrace") or "")
    assert checkout.failed_attempts[0].link in (reruns[0].findtext("system-out") or "")


def test_error_messages_appear_in_failure_text(rendered: dict[str, tuple[GateRun, str]]) -> None:
    root = parse(rendered["error-texts"][1])
    failure = case_named(root, "Checkout").find("failure")
    assert failure is not None
    assert "Expected status 200 but got 500" in (failure.text or "")
    assert "Expected status 200 but got 500" in failure.get("message", "")
    rerun = case_named(root, "Checkout").find("rerunFailure")
    assert rerun is not None and "Expected status 200" in (rerun.findtext("stackTrace") or "")
    error = case_named(root, "Payments API").find("error")
    assert error is not None and "DNS lookup failed" in (error.text or "")
    # Without the texts the report only names the group ids.
    assert "Expected status" not in rendered["failed"][1]


def test_cancelled_is_skipped(rendered: dict[str, tuple[GateRun, str]]) -> None:
    skipped = case_named(parse(rendered["cancelled"][1]), "Checkout").find("skipped")
    assert skipped is not None and skipped.get("message") == "cancelled in eu-west-1"
    assert (skipped.text or "").startswith("cancelled in eu-west-1\nresult: https://")


def test_timed_out_unfinished_runs_are_skipped_and_the_gate_fails(
    rendered: dict[str, tuple[GateRun, str]],
) -> None:
    """An unfinished run did not fail (GitLab's history would blame the check); the gate's
    testcase carries the timeout, so the file is red like the exit code."""
    root = parse(rendered["timed-out"][1])
    for name in ("Checkout", "Slow"):
        skipped = case_named(root, name).find("skipped")
        assert skipped is not None
        assert "still running when the gate stopped" in (skipped.text or "")
        assert "timed out" in (skipped.text or "")
    gate = case_named(root, junit_gate())
    failure = gate.find("failure")
    assert failure is not None and failure.get("type") == "timed-out"
    assert case_named(root, "Homepage").find("failure") is None


def test_interrupted_unfinished_runs_are_skipped_and_the_gate_errs(
    rendered: dict[str, tuple[GateRun, str]],
) -> None:
    root = parse(rendered["interrupted"][1])
    skipped = case_named(root, "Checkout").find("skipped")
    assert skipped is not None
    assert (
        skipped.get("message") == "still running when the gate stopped in eu-west-1 (interrupted)"
    )
    assert root.find(".//failure") is None
    error = case_named(root, junit_gate()).find("error")
    assert error is not None and error.get("type") == "interrupted"


def test_unfinished_runs_of_a_session_that_became_unavailable_are_skipped() -> None:
    body = session_body("RUNNING", [row("Homepage"), row("Slow", "RUNNING", "PENDING")])
    run = runs.from_body(body, Stop.DEADLINE, error="HTTP 503", error_is_current=True)
    assert run.verdict.outcome is Outcome.UNAVAILABLE
    root = parse(render(run))
    skipped = case_named(root, "Slow").find("skipped")
    assert skipped is not None and "API unavailable" in skipped.get("message", "")
    # The run-level report would look green, so the gate adds one testcase saying why it is red.
    gate = [c for c in root.iter("testcase") if c.get("classname") == "checkly.gate"]
    assert len(gate) == 1 and gate[0].find("error") is not None


def junit_gate() -> str:
    from checkly_gate.reports.junit import GATE_CASE

    return GATE_CASE


@pytest.mark.parametrize(
    ("name", "outcome", "tag"),
    [
        ("status-failed-without-failures", Outcome.FAILED, "failure"),
        ("unavailable-after-read", Outcome.UNAVAILABLE, "error"),
    ],
)
def test_red_session_without_red_runs_gets_a_gate_testcase(
    rendered: dict[str, tuple[GateRun, str]], name: str, outcome: Outcome, tag: str
) -> None:
    run, xml = rendered[name]
    assert run.verdict.outcome is outcome
    root = parse(xml)
    gate = case_named(root, junit_gate())
    assert gate.get("classname") == "checkly.gate"
    mark = gate.find(tag)
    assert mark is not None and mark.get("message") == run.verdict.sessions[0].reason
    assert case_named(root, "Homepage").find("failure") is None


@pytest.mark.parametrize("name", ["passed", "failed", "several", "large"])
def test_no_gate_testcase_when_runs_tell_the_story(
    rendered: dict[str, tuple[GateRun, str]], name: str
) -> None:
    classnames = {c.get("classname") for c in parse(rendered[name][1]).iter("testcase")}
    assert "checkly.gate" not in classnames


# --- sessions that could not be read, usage errors -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "type_", "needle"),
    [
        ("refused", "refused", "HTTP 401 Unauthorized"),
        ("unavailable", "unavailable", "HTTP 503 Service Unavailable"),
        ("interrupted-before-read", "interrupted", "before the session was read"),
    ],
)
def test_unread_session_is_one_error_testcase_with_the_reason(
    rendered: dict[str, tuple[GateRun, str]], name: str, type_: str, needle: str
) -> None:
    run, xml = rendered[name]
    root = parse(xml)
    (suite,) = root.findall("testsuite")
    (case,) = suite.findall("testcase")
    error = case.find("error")
    assert error is not None and error.get("type") == type_
    assert needle in error.get("message", "")
    text = error.text or ""
    assert needle in text
    assert run.verdict.sessions[0].outcome.label in text
    assert f"exit code {run.verdict.exit_code}" in text
    assert suite.get("errors") == "1" and root.get("errors") == "1"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["checkly.session_id"] == SID
    assert props["gate.exit_code"] == str(run.verdict.exit_code)


def test_usage_error_still_writes_a_report(rendered: dict[str, tuple[GateRun, str]]) -> None:
    root = parse(rendered["usage"][1])
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "checkly-gate"
    (case,) = suite.findall("testcase")
    error = case.find("error")
    assert error is not None
    assert error.get("message") == "session id 'x' is not a UUID"
    assert "exit code 2" in (error.text or "")
    assert root.get("tests") == "1" and root.get("errors") == "1"


# --- names --------------------------------------------------------------------------------------


def test_same_check_in_several_locations_gets_the_location(
    rendered: dict[str, tuple[GateRun, str]],
) -> None:
    names = set(cases(parse(rendered["passed"][1])))
    assert {"Homepage [eu-west-1]", "Homepage [us-east-1]", "Login API", "TLS expiry"} <= names
    assert "Homepage" not in names


def test_names_that_still_collide_get_the_check_id(
    rendered: dict[str, tuple[GateRun, str]],
) -> None:
    names = list(cases(parse(rendered["same-name-same-location"][1])))
    assert names == ["Twin [eu-west-1] (check-a)", "Twin [eu-west-1] (check-b)", "Twin [us-east-1]"]
    # Sessions are told apart by their suite, never by a counter on the testcase.
    root = parse(rendered["sessions-sharing-checks"][1])
    keys = [
        (s.get("name"), c.get("name")) for s in root.iter("testsuite") for c in s.iter("testcase")
    ]
    assert keys == [
        ("Deploy checks (" + SID + ")", "Homepage"),
        ("Deploy checks (" + runs.SID2 + ")", "Homepage"),
    ]


# --- hostile text -------------------------------------------------------------------------------


def test_nasty_names_are_escaped_and_cleaned(rendered: dict[str, tuple[GateRun, str]]) -> None:
    xml = rendered["nasty"][1]
    assert not CONTROL.search(xml)
    assert "\x1b" not in xml and "[31m" not in xml and "[1m" not in xml
    assert "<script>" not in xml and "&lt;script&gt;" in xml
    assert "<b>" not in xml
    root = parse(xml)
    names = set(cases(root))
    assert "<script>alert(1)</script>" in names
    assert "L" * 600 in names  # under the attribute limit: not truncated
    assert "emoji 🚀✅ name" in names
    assert "cdata ]]> end" in names
    assert "multi line name" in names
    assert "control  chars" in names
    assert "[link](javascript:alert(1)) `code` & *bold*" in names
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "session <b>|</b> ]]>  🚀"
    assert "🚀" in xml


def test_cleaning_strips_illegal_characters_and_ansi() -> None:
    raw = "a\x00b\x1b[1;31mc\x1b[0m\x1b]8;;https://x\x07d\ud800e\ufffef\uffffg\x85h\tI\r\nJ\rK"
    assert clean_text(raw) == "abcdefgh\tI\nJ\nK"
    assert clean_attr(raw) == "abcdefgh I J K"
    assert clean_attr("  multi\nline\r\nmessage  ") == "multi line message"
    assert clean_text("emoji 🚀") == "emoji 🚀"


def test_long_texts_are_truncated_with_a_marker() -> None:
    long = "x" * (TEXT_LIMIT * 3)
    assert len(clean_text(long)) == TEXT_LIMIT and clean_text(long).endswith(TRUNCATED)
    assert len(clean_attr(long)) == ATTR_LIMIT and clean_attr(long).endswith(TRUNCATED)
    assert clean_attr("y" * ATTR_LIMIT) == "y" * ATTR_LIMIT

    run = dataclasses.replace(runs.failed(), error_messages={"eg-1": "boom " * 20_000})
    failure = case_named(parse(render(run)), "Checkout").find("failure")
    assert failure is not None
    # The message holds only a preview of the first line: the text is written once, below.
    assert len(failure.get("message", "")) < 300
    assert failure.get("message", "").endswith(TRUNCATED)
    assert len(failure.text or "") == TEXT_LIMIT and (failure.text or "").endswith(TRUNCATED)


def test_long_name_is_truncated_and_kept_unique() -> None:
    rows = [row("N" * 3000, location="eu-west-1"), row("N" * 3001, location="eu-west-1")]
    root = parse(render(runs.from_body(session_body("PASSED", rows))))
    names = list(cases(root))
    assert len(names) == 2 and len(set(names)) == 2
    # Truncated to the same text, so they get their check ids.
    assert names[0].startswith("N" * (ATTR_LIMIT - len(TRUNCATED)) + TRUNCATED + " (")
    assert names[1][: ATTR_LIMIT + 2] == names[0][: ATTR_LIMIT + 2]


# --- degraded and flaky policy ------------------------------------------------------------------


def test_degraded_passes_with_a_note_by_default(rendered: dict[str, tuple[GateRun, str]]) -> None:
    case = case_named(parse(rendered["passed"][1]), "Search latency")
    assert case.find("failure") is None
    assert DEGRADED_NOTE in (case.findtext("system-out") or "")


def test_policy_turns_degraded_and_flaky_into_failures(
    rendered: dict[str, tuple[GateRun, str]],
) -> None:
    run, xml = rendered["fail-on-flaky-degraded"]
    assert run.verdict.outcome is Outcome.FAILED
    root = parse(xml)
    degraded = case_named(root, "Search latency").find("failure")
    assert degraded is not None and degraded.get("type") == "degraded"
    assert DEGRADED_NOTE in (degraded.text or "")
    flaky_case = case_named(root, "Login API")
    flaky = flaky_case.find("failure")
    assert flaky is not None and flaky.get("type") == "flaky"
    assert len(flaky_case.findall("flakyFailure")) == 1
    assert case_named(root, "TLS expiry").find("failure") is None


def test_degraded_policy_alone_leaves_flaky_passing() -> None:
    policy = Policy(fail_on_degraded=True)
    root = parse(render(runs.from_body(session_body("PASSED", runs.passed_rows()), policy=policy)))
    assert case_named(root, "Search latency").find("failure") is not None
    assert case_named(root, "Login API").find("failure") is None


# --- times --------------------------------------------------------------------------------------


def test_session_time_and_timestamp_sources() -> None:
    body = session_body("PASSED", [row("Homepage", responseTime=1234.5678, stoppedAt=None)])
    body["timeElapsed"] = 1234.5678
    body["startedAt"] = "2026-11-26T11:00:00.123+01:00"
    suite = parse(render(runs.from_body(body))).find("testsuite")
    assert suite is not None
    assert suite.get("time") == "1.235"
    assert suite.get("timestamp") == "2026-11-26T10:00:00"
    case = suite.find("testcase")
    assert case is not None and case.get("time") == "1.235"

    body.pop("timeElapsed")
    body["startedAt"], body["stoppedAt"] = "2026-11-26T10:00:00Z", "2026-11-26T10:00:07.5Z"
    suite = parse(render(runs.from_body(body))).find("testsuite")
    assert suite is not None and suite.get("time") == "7.500"

    body["startedAt"] = body["stoppedAt"] = None
    suite = parse(render(runs.from_body(body))).find("testsuite")
    assert suite is not None and suite.get("time") == "90.000"  # the gate's own duration
    assert suite.get("timestamp") is None

    # Still RUNNING when the gate stopped: timeElapsed is of the last read (0 at the first),
    # so the suite takes the gate's own duration rather than "0.000".
    running = session_body("RUNNING", [row("Homepage", resultType="PENDING", status="RUNNING")])
    running["timeElapsed"] = 0
    suite = parse(render(runs.from_body(running))).find("testsuite")
    assert suite is not None and suite.get("time") == "90.000"


def test_large_run_is_fast(rendered: dict[str, tuple[GateRun, str]]) -> None:
    run = rendered["large"][0]
    started = time.perf_counter()
    xml = render(run)
    elapsed = time.perf_counter() - started
    root = parse(xml)
    assert len(root.findall(".//testcase")) == 3000
    assert root.get("failures") == "6"
    assert elapsed < 1.0


# --- size budget and texts that were not fetched --------------------------------------------------

ERROR_8K = "".join(
    f"{i:03d} Error: connect ECONNREFUSED 203.0.113.7:443 loading https://shop.test/\n"
    for i in range(110)
)[:8192]
TAIL = ERROR_8K[-300:]  # only a full copy of the text holds its tail


def site_down(n: int = 3000) -> GateRun:
    """``n`` failed runs that all hit one 8 KB error group (a site that is down)."""
    rows = [
        row(f"check {i:04d}", "FAILED", errorGroupIds=["eg-down"], checkId=f"c{i}")
        for i in range(n)
    ]
    for i in range(0, n, 3):  # some failed after a retry that hit the same group
        rows.insert(
            i,
            row(f"check {i:04d}", "FAILED", "ATTEMPT", errorGroupIds=["eg-down"], checkId=f"c{i}"),
        )
    run = runs.from_body(session_body("FAILED", rows))
    return dataclasses.replace(run, error_messages={"eg-down": ERROR_8K})


def test_3000_runs_sharing_one_8kb_error_stay_small() -> None:
    started = time.perf_counter()
    xml = render(site_down())
    elapsed = time.perf_counter() - started
    size = len(xml.encode("utf-8"))
    assert size < 5 * 1024 * 1024, size  # far below MAX_BYTES, let alone GitLab's 30 MB
    assert junit_dialect.problems(xml) == []
    assert xml.count(TAIL) == FULL_TEXTS_PER_GROUP  # the full text for the first few only
    root = parse(xml)
    failures = root.findall(".//failure")
    assert len(failures) == 3000
    for failure in failures:  # the text at most once per failure element
        assert (failure.text or "").count(TAIL) <= 1
        assert TAIL not in failure.get("message", "")
    later = case_named(root, "check 2999").find("failure")
    assert later is not None
    assert "same error as check 0000, group eg-down" in (later.text or "")
    assert "https://app.checklyhq.com/r/" in (later.text or "")
    assert elapsed < 5.0


def test_a_file_over_budget_is_cut_and_says_so() -> None:
    run = dataclasses.replace(site_down(300), error_messages={"eg-down": ERROR_8K})
    full = render(run)
    budget = len(full.encode("utf-8")) - 1
    cut = render(run, max_bytes=budget)
    assert len(cut.encode("utf-8")) <= budget
    assert junit_dialect.problems(cut, max_bytes=budget) == []
    props = {p.get("name"): p.get("value") for p in parse(cut).iter("property")}
    assert "report cut to fit its size budget" in props["gate.report_cut"]
    assert "report cut" in (parse(cut).findtext("testsuite/system-out") or "")
    # Still the same verdict for every consumer.
    assert junit_dialect.gitlab_red(cut) and junit_dialect.dorny_red(cut)
    assert "gate.report_cut" not in full
    tiny = render(run, max_bytes=1000)  # nothing fits: the shortest level, still cut and red
    assert "no error texts" in tiny and junit_dialect.gitlab_red(tiny)


def test_failure_text_says_when_the_cause_was_not_fetched_and_links_the_result() -> None:
    run = dataclasses.replace(runs.failed(), error_messages={"eg-2": "DNS lookup failed"})
    root = parse(render(run))
    checkout = case_named(root, "Checkout")
    failure = checkout.find("failure")
    assert failure is not None
    text = failure.text or ""
    assert NOT_FETCHED in text and "error group eg-1" in text
    assert "result: https://app.checklyhq.com/r/" in text
    rerun = checkout.find("rerunFailure")
    assert rerun is not None and NOT_FETCHED_ATTEMPT in (rerun.findtext("stackTrace") or "")
    error = case_named(root, "Payments API").find("error")
    assert error is not None and "DNS lookup failed" in (error.text or "")
    # A result without any error group says so, rather than looking like "nothing fetched".
    bare = parse(render(status_failed_without_failures()))
    assert bare is not None
    no_groups = parse(render(runs.from_body(session_body("FAILED", [row("X", "FAILED")]))))
    x = case_named(no_groups, "X").find("failure")
    assert x is not None and "none reported by Checkly" in (x.text or "")


# --- one rule for a failed attempt: verdict, JUnit and evidence agree ----------------------------

_ATTEMPT = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["PASSED", "FAILED", "TIMED_OUT", "CANCELLED", "RUNNING", "NEW"]),
        "hasFailures": st.booleans(),
        "hasErrors": st.booleans(),
        "aborted": st.booleans(),
    }
)


@settings(deadline=None, max_examples=60)
@given(attempts=st.lists(_ATTEMPT, max_size=4), fail_on_flaky=st.booleans())
def test_every_kind_of_failed_attempt_is_one_fact_in_every_output(
    attempts: list[dict[str, Any]], fail_on_flaky: bool
) -> None:
    """A FINAL row that passed after ATTEMPT rows of any status and flags: the attempts that
    are not a clean pass (status PASSED, no flag) are the run's failed attempts in the verdict,
    one ``flakyFailure`` each in JUnit, and the attempts whose evidence is fetched; the policy
    hit the verdict records is the one JUnit prints."""
    flags = ("hasFailures", "hasErrors", "aborted")
    rows = [row("Checkout", a["status"], "ATTEMPT", **{f: a[f] for f in flags}) for a in attempts]
    rows.append(row("Checkout"))
    run = runs.from_body(session_body("PASSED", rows), policy=Policy(fail_on_flaky=fail_on_flaky))
    (sv,) = run.verdict.sessions
    (check_run,) = sv.runs
    failed = [
        r["testSessionResultId"]
        for r, a in zip(rows, attempts, strict=False)
        if a["status"] != "PASSED" or a["hasFailures"] or a["hasErrors"] or a["aborted"]
    ]
    assert [a.result_id for a in check_run.failed_attempts] == failed
    assert (check_run.category is Category.FLAKY) == bool(failed)
    cases = ET.fromstring(render(run)).iter("testcase")
    (case,) = [c for c in cases if c.get("name") != GATE_CASE]
    retries = [e for e in case if e.tag.startswith(("flaky", "rerun"))]
    assert len(retries) == len(failed)
    assert sorted(rid for _, rid in evidence_targets(run.verdict)) == sorted(failed)
    hit = fail_on_flaky and bool(failed)
    assert sv.policy_hits(check_run) == (("--fail-on-flaky",) if hit else ())
    assert len(case.findall("failure")) == int(hit)

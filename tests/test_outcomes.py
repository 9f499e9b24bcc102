"""The facts table, and the verdict every consumer shows: the same as the exit code.

Every ``Outcome`` and every ``Category`` goes through every renderer and CI integration; every
scenario's JUnit file is read the way GitLab and dorny/test-reporter read it
(``tests/junit_dialect.py`` writes their rules down) and compared with the exit code.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from checkly_gate.ci.github import GitHub
from checkly_gate.ci.gitlab import GitLab
from checkly_gate.models import Observation, Stop, parse_result, parse_session
from checkly_gate.outcomes import CATEGORY, RED_ELEMENTS, Category, Outcome, facts, gate_element
from checkly_gate.progress import render_run, render_verdict
from checkly_gate.reports import GateRun, dotenv, junit, markdown, snapshot
from checkly_gate.verdict import Policy, Run, SessionVerdict, Verdict
from tests import junit_dialect, runs
from tests.fakes import SID, row, session_body
from tests.test_ci_github import parse_github_output
from tests.test_ci_gitlab import parse_dotenv

VOCABULARY = {
    "passed": 0,
    "failed": 1,
    "error": 2,
    "cancelled": 3,
    "timed-out": 4,
    "refused": 5,
    "unavailable": 6,
    "no-match": 7,
    "no-session": 8,
    "interrupted": 130,
}


# --- the table ------------------------------------------------------------------------------------


def test_outcome_vocabulary_is_decision_one() -> None:
    assert {o.label: o.value for o in Outcome} == VOCABULARY
    assert len({o.label for o in Outcome}) == len(Outcome), "one name per outcome"


@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_outcome_has_every_fact(outcome: Outcome) -> None:
    assert outcome.label and outcome.title and outcome.emoji and outcome.ascii.isascii()
    assert outcome.code == outcome.value
    assert outcome.green == (outcome.code == 0)
    assert (outcome.junit is None) == outcome.green
    assert outcome.junit in (None, *RED_ELEMENTS)
    assert gate_element(outcome, outcome.code) in (RED_ELEMENTS if outcome.code else ("skipped",))
    assert gate_element(outcome, 0) == "skipped"
    assert Outcome.from_label(outcome.label) is outcome


@pytest.mark.parametrize("category", list(Category))
def test_every_category_has_a_row(category: Category) -> None:
    row_ = facts(category)
    assert row_.label and row_.emoji and row_.glyph and row_.ascii.isascii()
    assert row_.junit in (None, "failure", "error", "skipped")
    assert row_.broken == (row_.junit in RED_ELEMENTS)
    assert not (row_.broken and row_.warned)
    assert not row_.message.lower().startswith(row_.label.lower()) or row_.label == "passed"
    assert set(CATEGORY) == set(Category)


# --- every outcome x every category through every renderer and integration -----------------------


@dataclasses.dataclass(frozen=True)
class As(Run):
    """A run shown as ``as_category`` (``Category.UNKNOWN`` cannot be judged on this branch)."""

    as_category: Category = Category.PASSED

    @property
    def category(self) -> Category:
        return self.as_category


_STATUS = {"failed": "FAILED", "error": "FAILED", "skipped": "CANCELLED", "unknown": "WEIRD"}


def run_of(category: Category, index: int) -> Run:
    status = _STATUS.get(category.value, "PASSED")
    final = parse_result(
        row(f"{category.value} check", status, errorGroupIds=[f"eg-{index}"], hasErrors=False),
        index,
    )
    assert final is not None
    attempt = parse_result(row(f"{category.value} check", "FAILED", "ATTEMPT"), index)
    assert attempt is not None
    attempts = (attempt,) if category in (Category.FLAKY, Category.FAILED) else ()
    pending = category is Category.PENDING
    return As(None if pending else final, attempts, final, as_category=category)


def every_category() -> tuple[Run, ...]:
    return tuple(run_of(c, i) for i, c in enumerate(Category))


def session_run(outcome: Outcome, exit_code: int | None = None) -> GateRun:
    """A gate run with one read session of ``outcome`` holding one run of every category, and
    one session that was never read."""
    body = session_body("RUNNING", [row()])
    session = parse_session(body)
    code = outcome.code if exit_code is None else exit_code
    read = SessionVerdict(SID, outcome, f"{outcome.label} reason", session, every_category())
    unread = SessionVerdict(runs.SID2, outcome, f"{outcome.label} unread")
    verdict = Verdict(outcome, code, f"{outcome.label} reason", (read, unread))
    return dataclasses.replace(runs.build([]), verdict=verdict, bodies={SID: body})


def bare_run(outcome: Outcome, exit_code: int | None = None) -> GateRun:
    code = outcome.code if exit_code is None else exit_code
    return dataclasses.replace(
        runs.usage(), verdict=Verdict(outcome, code, f"{outcome.label} without sessions")
    )


def everything(run: GateRun, tmp_path: Path) -> dict[str, str]:
    """Render ``run`` through every renderer and integration; what each says the outcome is."""
    verdict = run.verdict
    summary = markdown.render(run)
    xml = junit.render(run)
    env = {"GITHUB_OUTPUT": str(tmp_path / "out"), "GITHUB_STEP_SUMMARY": str(tmp_path / "sum")}
    for name in ("out", "sum"):
        (tmp_path / name).write_text("")
    lines = GitHub(env).publish(run, summary, tmp_path / "j.xml", tmp_path / "s.md")
    assert all(line.startswith("::") for line in lines)
    assert GitLab({}).publish(run, summary, None, None) == []
    outputs = parse_github_output((tmp_path / "out").read_text())
    assert (tmp_path / "sum").read_text().strip() == summary.strip()
    variables = parse_dotenv(dotenv.render(run))
    stored = json.loads(snapshot.render(run))
    if run.observations or not verdict.sessions:  # synthetic sessions have nothing to re-judge
        again = snapshot.load(snapshot.render(run)).verdict
        if not run.observations and verdict.exit_code == 0:
            # nothing stored proves a pass (an allowed no-match, a synthetic pass): never green
            assert again.exit_code != 0
        else:
            assert (again.outcome, again.exit_code) == (verdict.outcome, verdict.exit_code)
    log = render_verdict(verdict)
    for sv in verdict.sessions:
        for item in sv.runs:
            render_run(item)
    root = junit_dialect.ET.fromstring(xml)
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    return {
        "github": f"{outputs['status']} {outputs['exit-code']}",
        "dotenv": f"{variables['CHECKLY_GATE_STATUS']} {variables['CHECKLY_GATE_EXIT_CODE']}",
        "junit": f"{props['gate.outcome']} {props['gate.exit_code']}",
        "snapshot": f"{stored['outcome']} {stored['exitCode']}",
        "log": log[0].split(":")[0].replace("(exit ", "").replace(")", "").lower(),
        "markdown": summary.splitlines()[0]
        .split("Checkly: ")[1]
        .replace("(exit ", "")
        .replace(")", ""),
    }


def _assert_everywhere(run: GateRun, tmp_path: Path) -> None:
    verdict = run.verdict
    said = everything(run, tmp_path)
    expected = f"{verdict.outcome.label} {verdict.exit_code}"
    assert said == dict.fromkeys(said, expected)
    xml = junit.render(run)
    assert junit_dialect.problems(xml) == []
    red = verdict.exit_code != 0
    assert junit_dialect.gitlab_red(xml) is red
    assert junit_dialect.dorny_red(xml) is red or (not red and _has_broken(run))


def _has_broken(run: GateRun) -> bool:
    """Inconsistent on purpose (a green outcome holding failed runs): the runs stay red."""
    return any(facts(r.category).broken for sv in run.verdict.sessions for r in sv.runs)


# Exit codes an outcome may have besides its own: an allowed no-match, SIGTERM.
POLICY_CODES = {Outcome.NO_MATCH: (0,), Outcome.INTERRUPTED: (143,)}


@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_outcome_and_category_through_every_renderer(
    outcome: Outcome, tmp_path: Path
) -> None:
    codes = {outcome.code, *POLICY_CODES.get(outcome, ())}
    built = [build(outcome, code) for code in codes for build in (session_run, bare_run)]
    for run in built:
        verdict = run.verdict
        said = everything(run, tmp_path)
        assert said == dict.fromkeys(said, f"{outcome.label} {verdict.exit_code}")
        xml = junit.render(run)
        assert junit_dialect.problems(xml) == []
        if verdict.exit_code:
            assert junit_dialect.gitlab_red(xml) and junit_dialect.dorny_red(xml)
        elif not verdict.sessions:
            assert not junit_dialect.gitlab_red(xml) and not junit_dialect.dorny_red(xml)


@pytest.mark.parametrize("category", list(Category))
def test_every_category_renders_its_facts(category: Category) -> None:
    run = session_run(Outcome.FAILED)
    xml = junit.render(run)
    root = junit_dialect.ET.fromstring(xml)
    case = next(c for c in root.iter("testcase") if c.get("name") == f"{category.value} check")
    row_ = facts(category)
    assert (
        junit_dialect.status(case)
        == {
            "failure": "failed",
            "error": "error",
            "skipped": "skipped",
            None: "success",
        }[row_.junit]
    )
    if row_.junit:
        element = case.find(row_.junit)
        assert element is not None and element.get("type") == row_.label
        if row_.raw:
            assert "WEIRD" in element.get("message", "")  # the value the gate did not know
    assert f"{row_.emoji} {row_.label}" in markdown.render(run)
    assert (
        row_.label.upper()
        in render_run(run.verdict.sessions[0].runs[list(Category).index(category)])[0]
    )


# --- consumers show the exit code -----------------------------------------------------------------


def no_match(allowed: bool) -> GateRun:
    verdict = Verdict(Outcome.NO_MATCH, 0 if allowed else 7, "no check matched the trigger")
    return dataclasses.replace(runs.usage(), verdict=verdict)


def interrupted_after_all_passed() -> GateRun:
    body = session_body("PASSED", [row("Homepage")])
    obs = Observation(SID, Stop.FINAL, session=parse_session(body))
    return runs.build([obs], {SID: body}, signal=15)


def cancelled_beside_passed() -> GateRun:
    a = session_body("PASSED", [row("Homepage")])
    b = session_body("CANCELLED", [row("Checkout", "CANCELLED", aborted=True)], sid=runs.SID2)
    obs = [
        Observation(SID, Stop.FINAL, session=parse_session(a)),
        Observation(runs.SID2, Stop.FINAL, session=parse_session(b)),
    ]
    return runs.build(obs, {SID: a, runs.SID2: b})


def policy(fail_on_flaky: bool, fail_on_degraded: bool) -> Callable[[], GateRun]:
    def build() -> GateRun:
        body = session_body("PASSED", runs.passed_rows())
        return runs.from_body(body, policy=Policy(fail_on_flaky, fail_on_degraded))

    return build


def passed_without_results() -> GateRun:
    return runs.from_body(session_body("PASSED", []))


SCENARIOS: dict[str, Callable[[], GateRun]] = {
    **runs.ALL_OUTCOMES,
    "no-match": lambda: no_match(False),
    "no-match-allowed": lambda: no_match(True),
    "interrupted-after-all-passed": interrupted_after_all_passed,
    "cancelled-beside-passed": cancelled_beside_passed,
    "flaky-degraded-allowed": policy(False, False),
    "fail-on-flaky": policy(True, False),
    "fail-on-degraded": policy(False, True),
    "passed-without-results": passed_without_results,
    "nasty": runs.nasty,
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_consumers_show_the_exit_code(name: str, tmp_path: Path) -> None:
    run = SCENARIOS[name]()
    _assert_everywhere(run, tmp_path)


def test_cancelled_session_is_red_with_a_gate_testcase() -> None:
    run = runs.cancelled()
    assert run.verdict.exit_code == 3
    root = junit_dialect.ET.fromstring(junit.render(run))
    gate = [c for c in root.iter("testcase") if c.get("classname") == junit.GATE_CLASSNAME]
    assert len(gate) == 1
    element = gate[0].find("error")
    assert element is not None and "cancelled" in (element.text or "")
    checkout = next(c for c in root.iter("testcase") if c.get("name") == "Checkout")
    skipped = checkout.find("skipped")
    assert skipped is not None and (skipped.text or "").startswith("cancelled")


def test_allowed_no_match_is_green_with_the_reason() -> None:
    xml = junit.render(no_match(True))
    root = junit_dialect.ET.fromstring(xml)
    (case,) = root.iter("testcase")
    skipped = case.find("skipped")
    assert skipped is not None and "no check matched" in (skipped.text or "")
    assert root.find(".//error") is None and root.find(".//failure") is None


# --- stable names ---------------------------------------------------------------------------


def _keys(run: GateRun) -> set[tuple[str, str, str]]:
    cases = junit_dialect.gitlab_cases(junit.render(run))
    return {key for by_key in cases.values() for key in by_key}


def test_names_do_not_depend_on_session_order_or_ids() -> None:
    def two(order: list[int], ids: tuple[str, str]) -> GateRun:
        bodies = []
        for n, sid in zip((0, 1), ids, strict=True):
            body = session_body("FAILED", [row("Homepage"), row("Cart", "FAILED")], sid=sid)
            body["name"] = f"Deploy {n}"
            bodies.append(body)
        obs = [
            Observation(b["testSessionId"], Stop.FINAL, session=parse_session(b)) for b in bodies
        ]
        ordered = [obs[i] for i in order]
        return runs.build(ordered, {b["testSessionId"]: b for b in bodies})

    first = _keys(two([0, 1], (SID, runs.SID2)))
    assert first == _keys(two([1, 0], (SID, runs.SID2)))
    other_ids = ("11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222")
    assert first == _keys(two([1, 0], other_ids))
    assert len(first) == 4 and not any("#" in name for _s, _c, name in first)


def test_location_only_for_checks_run_in_several_locations() -> None:
    rows = [row("Home"), row("Home", location="us-east-1"), row("Login")]
    names = junit.case_names(runs.from_body(session_body("PASSED", rows)).verdict.sessions[0].runs)
    assert names == ["Home [eu-west-1]", "Home [us-east-1]", "Login"]


def test_every_mark_has_a_row_that_is_never_red() -> None:
    """A set-aside run (issue 21) is drawn by its mark's row: every ``Mark`` has one, and it is
    ``skipped`` in JUnit, never broken, a warning: a green gate with set-aside runs leaves no
    red element, and a red one is red for its other runs only."""
    from checkly_gate.outcomes import MARK, Mark, mark_facts

    assert set(MARK) == set(Mark)
    labels = {facts(c).label for c in Category}
    for mark in Mark:
        row = mark_facts(mark)
        assert row.junit == "skipped" and row.junit not in RED_ELEMENTS
        assert not row.broken and row.warned and row.label not in labels

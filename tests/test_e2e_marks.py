"""Issue 21: set-aside runs (quarantined, known failures) and history labels in every report,
end to end: the real CLI in a subprocess against the simulator over HTTP, every report read
back by the consumers the other tests use (junitparser, the Jenkins xUnit and Surefire XSDs,
GitLab's and dorny's rules in ``tests/junit_dialect``, the CTRF schema and ctrf-io's reporter),
then ``report`` on the snapshot.

Scenarios (``simulator/builtin.py``): ``known-and-new`` fails Checkout flow (failing on main
too) and Search suite (new); ``known-only`` fails Checkout flow (failing on main too) and
Login API (seen before)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from checkly_gate.simulator import Simulator
from tests import junit_dialect
from tests.ctrf_consumer import consumer_command, read_with_consumer, validate_ctrf
from tests.test_e2e import gate_env, run_gate

TODAY = dt.datetime.now(dt.timezone.utc).date()
SOON = TODAY + dt.timedelta(days=30)
SHARED_JUNIT = Path(__file__).resolve().parents[1].parent / "shared" / "junit"
JENKINS_XSD = SHARED_JUNIT / "jenkins-xunit-junit-10.xsd"


def quarantine(tmp_path: Path, check: str, expires: dt.date = SOON) -> None:
    (tmp_path / "checkly-gate.yml").write_text(
        f"timeout: 30\nquarantine:\n  - check: {check}\n    owner: '@payments'\n"
        f"    reason: flaky since the CDN move (PAY-123)\n    expires: {expires}\n"
    )


def gate(sim: Simulator, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The gate with every report, as a GitHub Actions step (outputs, summary, annotations)."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    files = ("--json", "gate.json", "--junit", "junit.xml", "--summary", "summary.md")
    files += ("--dotenv", "gate.env", "--ctrf", "ctrf.json")
    return run_gate(
        sim,
        extra=(*extra, *(f if f.startswith("--") else str(out / f) for f in files)),
        cwd=tmp_path,
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(out / "github_output"),
        GITHUB_STEP_SUMMARY=str(out / "step_summary.md"),
        GITHUB_BASE_REF="main",  # the pull request's target: the default branch
    )


def report_again(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``checkly-gate report`` on the snapshot, offline, into ``again/``."""
    again = tmp_path / "again"
    again.mkdir(exist_ok=True)
    return subprocess.run(
        [
            *(sys.executable, "-m", "checkly_gate", "report", str(tmp_path / "out" / "gate.json")),
            *("--junit", str(again / "junit.xml"), "--ctrf", str(again / "ctrf.json")),
        ],
        env=gate_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def outputs(path: Path) -> dict[str, str]:
    """``GITHUB_OUTPUT`` as the runner reads it (single-line values only here)."""
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def junit_cases(xml: str) -> dict[str, list[tuple[str, Any]]]:
    """junitparser's reading: testcase name -> [(result kind, result)]."""
    junitparser = pytest.importorskip("junitparser")
    found: dict[str, list[tuple[str, Any]]] = {}
    for suite in junitparser.JUnitXml.fromstring(xml):
        for case in suite:
            found[case.name] = [(type(r).__name__, r) for r in case.result]
    return found


def valid_junit(xml: str) -> None:
    """The project's dialect (GitLab, dorny, Jenkins rules) and, where ``../shared/junit``
    has it, the Jenkins xUnit XSD the project validates against (``test_report_junit``; no
    file satisfies Surefire's too, ``../shared/junit/README.md``)."""
    assert junit_dialect.problems(xml) == []
    if JENKINS_XSD.is_file():
        import xmlschema

        xmlschema.XMLSchema(str(JENKINS_XSD)).validate(xml)


def ctrf_tests(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert validate_ctrf(doc) == []
    return doc, {t["name"]: t for t in doc["results"]["tests"]}


def test_one_new_and_one_quarantined_failure_is_red_with_one_failure_and_one_skipped(
    sim_factory, tmp_path: Path
) -> None:
    """known-and-new with Checkout flow quarantined: the session stays red for Search suite
    (new), and Checkout flow is quarantined in every report, not counted as failed."""
    quarantine(tmp_path, "Checkout flow")
    proc = gate(sim_factory("known-and-new"), tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = tmp_path / "out"
    said = " ".join(proc.stdout.split())
    assert "1 check failed: Search suite" in said and "set aside: 1 quarantined failure" in said
    assert "Search suite · eu-west-1: an assertion failed · new" in said
    assert f"Checkout flow · eu-west-1: quarantined, owner @payments, expires {SOON}" in said
    assert "::error title=Search suite failed::" in proc.stdout
    assert "::warning title=Checkout flow%3A quarantined::" in proc.stdout
    assert "::error title=Checkout flow" not in proc.stdout

    xml = (out / "junit.xml").read_text()
    valid_junit(xml)
    cases = junit_cases(xml)
    kinds = [kind for results in cases.values() for kind, _ in results]
    assert sorted(kinds) == ["Failure", "Skipped"], cases
    ((kind, failure),) = cases["Search suite"]
    assert kind == "Failure" and "[new]" in failure.message and "history: new" in failure.text
    ((kind, skipped),) = cases["Checkout flow"]
    assert kind == "Skipped" and skipped.type == "gate.quarantined"
    for text in (skipped.message, skipped.text):
        assert "@payments" in text and SOON.isoformat() in text and "PAY-123" in text
    assert junit_dialect.gitlab_red(xml) and junit_dialect.dorny_red(xml)

    summary = (out / "summary.md").read_text()
    assert "❌ 1 failed · 🔕 1 quarantined · ✅ 1 passed" in summary
    assert "**🔕 Quarantined (1):**" in summary and "| ❌ failed · new | Search suite |" in summary
    quarantined = summary.split("**🔕 Quarantined (1):**")[1].split("###")[0]
    assert "Checkout flow" in quarantined and "@payments" in quarantined
    assert SOON.isoformat() in quarantined and "PAY-123" in quarantined

    doc, tests = ctrf_tests(out / "ctrf.json")
    assert doc["results"]["summary"]["failed"] == 1 and doc["results"]["summary"]["skipped"] == 1
    checkout, search = tests["Checkout flow"], tests["Search suite"]
    assert checkout["status"] == "skipped" and checkout["rawStatus"] == "FAILED"
    assert checkout["extra"]["mark"] == "quarantined"
    assert checkout["extra"]["quarantine"]["owner"] == "@payments"
    assert checkout["extra"]["quarantine"]["expires"] == SOON.isoformat()
    assert checkout["extra"]["history"]["label"] == "failing on main too"
    assert search["status"] == "failed" and search["extra"]["history"]["label"] == "new"
    if consumer_command() is not None:
        read = read_with_consumer(out / "ctrf.json")
        assert (read["failed"], read["skipped"]) == (1, 1)
        assert [t["name"] for t in read["failed_tests"]] == ["Search suite"]

    values = outputs(out / "github_output")
    assert (values["failed"], values["quarantined"]) == ("1", "1")
    assert (values["new-failures"], values["known-failures"]) == ("1", "1")
    assert json.loads(values["failed-checks"]) == ["Search suite"]
    env = (out / "gate.env").read_text().splitlines()
    for line in ("FAILED=1", "QUARANTINED=1", "NEW_FAILURES=1", "KNOWN_FAILURES=1"):
        assert f"CHECKLY_GATE_{line}" in env
    data = json.loads((out / "gate.json").read_text())
    assert (data["counts"]["failed"], data["counts"]["quarantined"]) == (1, 1)
    assert [a["name"] for a in data["sessions"][0]["setAside"]] == ["Checkout flow"]

    again = report_again(tmp_path)  # the snapshot's context gives the same marks
    assert again.returncode == 1, again.stdout + again.stderr
    assert (tmp_path / "again" / "junit.xml").read_text() == xml
    assert "quarantined, owner @payments" in " ".join(again.stdout.split())


def test_a_green_gate_with_quarantined_and_known_failures_has_no_red_element(
    sim_factory, tmp_path: Path
) -> None:
    """known-only under --fail-on new with Login API quarantined: Login API quarantined,
    Checkout flow a known failure (failing on main too); exit 0, so no consumer may show red."""
    quarantine(tmp_path, "Login API")
    proc = gate(sim_factory("known-only"), tmp_path, "--fail-on", "new")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = tmp_path / "out"
    said = " ".join(proc.stdout.split())
    assert "passed with 1 known failure and 1 quarantined failure" in said
    assert "known failure, failing on main too (first " in said
    assert "::error" not in proc.stdout
    assert proc.stdout.count("::warning title=") == 2

    xml = (out / "junit.xml").read_text()
    valid_junit(xml)
    cases = junit_cases(xml)
    assert [k for results in cases.values() for k, _ in results] == ["Skipped", "Skipped"]
    ((_, known),) = cases["Checkout flow"]
    assert known.type == "gate.known" and "failing on main too" in known.message
    ((_, held),) = cases["Login API"]
    assert held.type == "gate.quarantined" and "@payments" in held.message
    assert "seen before" in held.text  # its history label too
    assert not junit_dialect.gitlab_red(xml) and not junit_dialect.dorny_red(xml)
    root_counts = xml.split("<testsuites ", 1)[1].split(">", 1)[0]
    assert 'failures="0"' in root_counts and 'errors="0"' in root_counts

    doc, tests = ctrf_tests(out / "ctrf.json")
    summary = doc["results"]["summary"]
    assert (summary["failed"], summary["skipped"], summary["passed"]) == (0, 2, 1)
    assert tests["Checkout flow"]["extra"]["mark"] == "known"
    assert tests["Checkout flow"]["extra"]["history"]["firstSeen"].endswith("Z")
    assert tests["Login API"]["extra"]["history"]["label"] == "seen before"
    if consumer_command() is not None:
        read = read_with_consumer(out / "ctrf.json")
        assert (read["failed"], read["skipped"]) == (0, 2) and read["failed_tests"] == []
        assert read["annotations"] == []

    summary_md = (out / "summary.md").read_text()
    assert "## ✅ Checkly: passed (exit 0)" in summary_md
    assert "🔕 1 quarantined · 📌 1 known failure · ✅ 1 passed" in summary_md
    assert "**🔕 Quarantined (1):**" in summary_md and "**📌 Known failures (1):**" in summary_md
    known_list = summary_md.split("**📌 Known failures (1):**")[1].split("###")[0]
    assert "Checkout flow" in known_list and "failing on main too \\(first " in known_list
    assert "| 📌 known failure · failing on main too" in summary_md

    values = outputs(out / "github_output")
    assert (values["exit-code"], values["failed"], values["quarantined"]) == ("0", "0", "1")
    assert (values["new-failures"], values["known-failures"]) == ("0", "2")
    labels = json.loads(values["failure-labels"])
    assert {(x["check"], x["label"], x["mark"]) for x in labels} == {
        ("Checkout flow", "failing on main too", "known"),
        ("Login API", "seen before", "quarantined"),
    }
    env = (out / "gate.env").read_text().splitlines()
    assert "CHECKLY_GATE_FAILED=0" in env and "CHECKLY_GATE_KNOWN_FAILURES=2" in env

    again = report_again(tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (tmp_path / "again" / "junit.xml").read_text() == xml
    _, tests_again = ctrf_tests(tmp_path / "again" / "ctrf.json")
    assert {n: t["status"] for n, t in tests_again.items()} == {
        n: t["status"] for n, t in tests.items()
    }


def test_an_expired_entry_is_a_failure_and_every_report_says_it_expired(
    sim_factory, tmp_path: Path
) -> None:
    quarantine(tmp_path, "Checkout flow", TODAY)
    proc = gate(sim_factory("known-and-new"), tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = tmp_path / "out"
    expired = f"quarantine for 'Checkout flow' expired on {TODAY.isoformat()}"
    assert expired in " ".join(proc.stdout.split())
    cases = junit_cases((out / "junit.xml").read_text())
    assert [k for k, _ in cases["Checkout flow"]] == ["Failure"]
    assert expired in (out / "junit.xml").read_text()
    doc, tests = ctrf_tests(out / "ctrf.json")
    assert tests["Checkout flow"]["status"] == "failed" and "mark" not in tests["Checkout flow"]
    assert any(expired in w for w in doc["results"]["extra"]["warnings"])
    assert "expired on" in (out / "summary.md").read_text()
    values = outputs(out / "github_output")
    assert (values["failed"], values["quarantined"]) == ("2", "0")

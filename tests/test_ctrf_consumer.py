"""The CTRF consumer harness (tests/ctrf_consumer.py) reads reports the way the real consumer
shows them, and validates them against the CTRF JSON Schema.

The consumer (npm ``github-actions-ctrf``) and the schema (npm ``ctrf``) are installed by
.ci/run; each test skips with the reason where what it needs is absent. Only the test on the
CTRF project's own example needs ``../shared/ctrf``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ctrf_consumer import (
    consumer_command,
    ctrf_schema,
    read_with_consumer,
    shared_ctrf_dir,
    validate_ctrf,
    validate_with_reference,
)

STATUSES = ("passed", "failed", "skipped", "pending", "other")

needs_consumer = pytest.mark.skipif(
    consumer_command() is None,
    reason="the CTRF consumer (npm github-actions-ctrf) is not installed; .ci/run installs it",
)
needs_schema = pytest.mark.skipif(
    ctrf_schema() is None,
    reason="no CTRF JSON Schema: npm ctrf is not installed and ../shared/ctrf is absent",
)


def ctrf_doc(tests: list[dict[str, Any]], summary: dict[str, int] | None = None) -> dict[str, Any]:
    """A minimal CTRF report of ``tests`` whose summary counts them (unless ``summary``)."""
    counts = {s: sum(1 for t in tests if t["status"] == s) for s in STATUSES}
    return {
        "reportFormat": "CTRF",
        "specVersion": "1.0.0",
        "results": {
            "tool": {"name": "checkly-gate"},
            "summary": {
                "tests": len(tests),
                **counts,
                "start": 1_764_000_000_000,
                "stop": 1_764_000_012_500,
                **(summary or {}),
            },
            "tests": tests,
        },
    }


def test(name: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "status": status, "duration": 1200, **extra}


test.__test__ = False  # type: ignore[attr-defined]  # a builder, not a pytest test


def write(tmp_path: Path, doc: dict[str, Any], name: str = "ctrf.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@needs_consumer
@needs_schema
def test_the_ctrf_example_is_valid_and_read_as_written(tmp_path: Path) -> None:
    shared = shared_ctrf_dir()
    if shared is None:
        pytest.skip("../shared/ctrf is absent (a user's clone has no shared/)")
    path = shared / "example-comprehensive.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert validate_ctrf(doc) == []
    assert validate_with_reference(doc) in ([], None)
    read = read_with_consumer(path)
    summary = doc["results"]["summary"]
    assert {k: read[k] for k in (*STATUSES, "tests")} == {
        k: summary[k] for k in (*STATUSES, "tests")
    }
    tests = doc["results"]["tests"]
    assert read["flaky"] == sum(1 for t in tests if t.get("flaky")) == 1
    assert read["duration"] == "20.0s"
    assert [t["name"] for t in read["failed_tests"]] == [
        t["name"] for t in tests if t["status"] == "failed"
    ]
    assert read["failed_tests"][0]["message"] == "Element not found: .dashboard-metrics"
    assert read["flaky_tests"] == [
        {"name": t["name"], "retries": t["retries"]} for t in tests if t.get("flaky")
    ]
    assert len(read["annotations"]) == 1 and "admin dashboard loads" in read["annotations"][0]


@needs_consumer
def test_the_consumer_shows_the_summary_counts_and_counts_flaky_itself(tmp_path: Path) -> None:
    """What the consumer trusts: a report whose summary disagrees with its tests is shown
    with the summary's counts, so a writer's summary must agree with its tests (and the
    exit code); flaky is counted from the tests."""
    tests = [
        test("Homepage", "passed", flaky=True, retries=2),
        test("Checkout", "failed", message="expected 200, got 503"),
    ]
    lying = ctrf_doc(tests, summary={"tests": 9, "passed": 7, "failed": 0, "skipped": 2})
    read = read_with_consumer(write(tmp_path, lying))
    assert (read["tests"], read["passed"], read["failed"], read["skipped"]) == (9, 7, 0, 2)
    assert read["flaky"] == 1
    assert read["failed_tests"] == [{"name": "Checkout", "message": "expected 200, got 503"}]
    assert read["flaky_tests"] == [{"name": "Homepage", "retries": 2}]


@needs_consumer
def test_names_and_messages_with_markup_come_back_whole(tmp_path: Path) -> None:
    """Check names and error texts are untrusted text: the harness reads back what the
    consumer was given, through its HTML escaping and its unescaped markdown cells."""
    name = "Login | EU <west> & co"
    message = "expected <200>\ngot 503 | retrying"
    tests = [
        test(name, "failed", message=message),
        test("Search | flaky", "passed", flaky=True, retries=3),
    ]
    read = read_with_consumer(write(tmp_path, ctrf_doc(tests)))
    assert read["failed_tests"] == [{"name": name, "message": message}]
    assert read["flaky_tests"] == [{"name": "Search | flaky", "retries": 3}]
    assert (read["tests"], read["failed"], read["flaky"]) == (2, 1, 1)


@needs_consumer
@settings(
    deadline=None, max_examples=6, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    counts=st.fixed_dictionaries({s: st.integers(0, 4) for s in STATUSES}),
    flaky=st.integers(0, 3),
)
def test_the_consumer_reads_every_status(
    tmp_path: Path, counts: dict[str, int], flaky: int
) -> None:
    tests = [test(f"{s} {i}", s) for s in STATUSES for i in range(counts[s])]
    for item in tests[:flaky]:
        item.update(flaky=True, retries=1)
    doc = ctrf_doc(tests)
    if ctrf_schema() is not None:
        assert validate_ctrf(doc) == []
    read = read_with_consumer(write(tmp_path, doc, f"ctrf-{id(doc)}.json"))
    assert {s: read[s] for s in STATUSES} == counts
    assert read["tests"] == len(tests)
    assert read["flaky"] == min(flaky, len(tests))
    assert sorted(t["name"] for t in read["failed_tests"]) == sorted(
        t["name"] for t in tests if t["status"] == "failed"
    )


def _broken(change: str) -> dict[str, Any]:
    doc = ctrf_doc([test("Homepage", "passed")])
    results = doc["results"]
    if change == "status":
        results["tests"][0]["status"] = "broken"
    elif change == "format":
        doc["reportFormat"] = "JUnit"
    elif change == "no-summary":
        del results["summary"]
    elif change == "count-type":
        results["summary"]["passed"] = "1"
    elif change == "no-name":
        del results["tests"][0]["name"]
    elif change == "report-id":
        doc["reportId"] = "not-a-uuid"
    elif change == "spec-version":
        doc["specVersion"] = "1.0"
    elif change == "timestamp":
        doc["timestamp"] = "2026-13-01T10:00:00Z"
    return doc


@needs_schema
@pytest.mark.parametrize(
    "change",
    [
        "status",
        "format",
        "no-summary",
        "count-type",
        "no-name",
        "report-id",
        "spec-version",
        "timestamp",
    ],
)
def test_validate_ctrf_refuses_what_the_schema_refuses(change: str) -> None:
    good = ctrf_doc([test("Homepage", "passed")])
    assert validate_ctrf(good) == []
    bad = _broken(change)
    problems = validate_ctrf(bad)
    assert problems, change
    reference = validate_with_reference(copy.deepcopy(bad))
    if reference is not None:  # the reference implementation agrees
        assert reference, (change, problems)
        assert validate_with_reference(good) == []


@needs_schema
def test_the_schema_comes_from_a_registry_package_where_installed() -> None:
    found = ctrf_schema()
    assert found is not None
    schema, source = found
    assert schema["properties"]["reportFormat"]["const"] == "CTRF"
    if consumer_command() is not None:  # .ci/run installs both together
        assert source.startswith("npm ctrf@"), source

"""The simulator's session context (issue 21), over real HTTP: metadata per scenario, error
groups with firstSeen/lastSeen across sessions, the list filtered by branch and error group,
and the fail-fast timeline."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from checkly_gate.simulator import Simulator, load_scenario
from checkly_gate.simulator.builtin import OTHER_COMMIT, PR_COMMIT
from checkly_gate.simulator.model import ScenarioError

KEY = "sim-context-key"
HEADERS = {"Authorization": f"Bearer {KEY}"}
DAY = 86400.0


def get(sim: Simulator, path: str, **params: object) -> httpx.Response:
    return httpx.get(sim.url + path, params=params, headers=HEADERS, timeout=10)


def unix(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def final_body(sim: Simulator, sid: str, within: float = 30.0) -> dict[str, Any]:
    end = time.monotonic() + within
    while True:
        body = get(sim, f"/v1/test-sessions/{sid}").json()
        if body["status"] != "RUNNING" or time.monotonic() > end:
            return body
        time.sleep(0.1)


def groups_of(body: dict[str, Any]) -> dict[str, str]:
    """Check name -> error group id of its FINAL failed row."""
    return {
        r["name"]: r["errorGroupIds"][0]
        for r in body["results"]
        if r["resultType"] == "FINAL" and r["errorGroupIds"]
    }


def test_metadata_per_scenario(serve) -> None:
    sid = str(uuid.uuid4())
    other = str(uuid.uuid4())
    sim = serve(
        load_scenario("no-metadata"), sessions={other: load_scenario("other-commit")}, speed=20
    )
    bare = get(sim, f"/v1/test-sessions/{sid}").json()["metadata"]
    assert set(bare) >= {"commitId", "branchName", "environment"}
    assert all(value is None for value in bare.values())
    meta = get(sim, f"/v1/test-sessions/{other}").json()["metadata"]
    assert meta["commitId"] == OTHER_COMMIT != PR_COMMIT
    assert meta["branchName"] == "feature/cart" and meta["environment"] == "staging"


def test_known_and_new_error_groups_and_the_main_branch(serve) -> None:
    sim = serve(load_scenario("known-and-new"), speed=10)
    sid = str(uuid.uuid4())
    before = time.time()
    body = final_body(sim, sid)
    assert body["status"] == "FAILED"
    groups = groups_of(body)
    assert set(groups) == {"Checkout flow", "Search suite"}

    known = get(sim, f"/v1/test-session-error-groups/{groups['Checkout flow']}").json()
    first, last = unix(known["firstSeen"]), unix(known["lastSeen"])
    assert abs(first - (before - 3 * DAY)) < 120  # first seen three days earlier
    assert before - 5 <= last <= time.time() + 5  # and last seen in this session
    new = get(sim, f"/v1/test-session-error-groups/{groups['Search suite']}").json()
    assert before - 5 <= unix(new["firstSeen"]) <= time.time() + 5  # first seen here

    main = get(sim, "/v1/test-sessions", branches="main").json()["entries"]
    assert len(main) == 1 and main[0]["status"] == "FAILED"
    assert main[0]["branchName"] == "main" and main[0]["commitId"] != PR_COMMIT
    assert abs(unix(main[0]["created_at"]) - (before - DAY)) < 120
    assert groups["Checkout flow"] in main[0]["errorGroupIds"]
    with_known = get(
        sim, "/v1/test-sessions", branches="main", errorGroupId=groups["Checkout flow"]
    ).json()["entries"]
    assert [e["id"] for e in with_known] == [main[0]["id"]]
    with_new = get(
        sim, "/v1/test-sessions", branches="main", errorGroupId=groups["Search suite"]
    ).json()
    assert with_new["entries"] == [] and with_new["length"] == 0
    assert get(sim, "/v1/test-sessions", branches="dev").json()["entries"] == []
    assert get(sim, "/v1/test-sessions", errorGroupId="").status_code == 400


@pytest.mark.parametrize(
    ("path", "target", "names"),
    [
        ("/v1/test-sessions/trigger", {"matchTags": [["web"]]}, {"Homepage"}),
        ("/v1/test-sessions/trigger", {}, {"Checkout flow", "Search suite", "Homepage"}),
        ("/v2/check-sessions/trigger", {}, {"Checkout flow", "Search suite", "Homepage"}),
    ],
    ids=["by-tag", "all", "check-sessions"],
)
def test_a_trigger_on_a_scenario_with_history_starts_its_checks(
    serve, path: str, target: dict, names: set[str]
) -> None:
    """``run`` on a history scenario (known-and-new): a trigger of some of its checks (by tag,
    or one check session per check) starts them; main's history, registered once for the
    whole scenario, still shares Checkout flow's error group with the triggered session."""
    sim = serve(load_scenario("known-and-new"), speed=20)
    started = httpx.post(sim.url + path, json={"target": target}, headers=HEADERS, timeout=10)
    assert started.status_code == 201, started.text
    if path.startswith("/v2"):
        assert {s["name"] for s in started.json()["sessions"]} == names
        return
    body = final_body(sim, started.json()["testSessionId"])
    assert {r["name"] for r in body["results"]} == names
    if "Checkout flow" in names:
        main = get(sim, "/v1/test-sessions", branches="main").json()["entries"]
        assert groups_of(body)["Checkout flow"] in main[0]["errorGroupIds"]


def test_known_only_the_newest_main_session_decides(serve) -> None:
    sim = serve(load_scenario("known-only"), speed=10)
    sid = str(uuid.uuid4())
    before = time.time()
    groups = groups_of(final_body(sim, sid))
    assert set(groups) == {"Checkout flow", "Login API"}
    main = get(sim, "/v1/test-sessions", branches="main").json()["entries"]
    assert len(main) == 2  # newest first: one day old, then two days old
    newest, older = main
    assert unix(newest["created_at"]) > unix(older["created_at"])
    assert groups["Checkout flow"] in newest["errorGroupIds"]
    assert groups["Login API"] not in newest["errorGroupIds"]
    by_login = get(sim, "/v1/test-sessions", branches="main", errorGroupId=groups["Login API"])
    assert [e["id"] for e in by_login.json()["entries"]] == [older["id"]]
    login = get(sim, f"/v1/test-session-error-groups/{groups['Login API']}").json()
    assert abs(unix(login["firstSeen"]) - (before - 5 * DAY)) < 120


def test_fail_fast_first_definite_failure_at_two_seconds_of_sixty(serve) -> None:
    speed = 4.0  # 2 s -> 0.5 s, 60 s -> 15 s
    sim = serve(load_scenario("fail-fast"), speed=speed)
    sid = str(uuid.uuid4())
    start = time.monotonic()
    seen_attempt_first = False
    first_failure_at = None
    while time.monotonic() - start < 10:
        body = get(sim, f"/v1/test-sessions/{sid}").json()
        elapsed = (time.monotonic() - start) * speed  # scenario seconds, at least
        rows = body["results"]
        final_failed = [r for r in rows if r["resultType"] == "FINAL" and r["status"] == "FAILED"]
        attempts = [r for r in rows if r["resultType"] == "ATTEMPT"]
        if attempts and not final_failed:
            seen_attempt_first = True  # a flaky retry in progress, no definite failure yet
        if final_failed:
            first_failure_at = elapsed
            assert body["status"] == "RUNNING"  # the session runs on
            assert [r["name"] for r in final_failed] == ["Checkout flow"]
            break
        time.sleep(0.02)
    assert first_failure_at is not None and first_failure_at >= 2.0
    assert seen_attempt_first
    assert get(sim, f"/v1/test-sessions/{sid}").json()["status"] == "RUNNING"
    scenario = load_scenario("fail-fast")
    assert max(c.start + c.duration for c in scenario.checks) == 60.0


def test_yaml_scenario_with_metadata_error_groups_and_history(serve, tmp_path: Path) -> None:
    path = tmp_path / "context.yml"
    path.write_text(
        "metadata:\n"
        "  commitId: 1234567890abcdef1234567890abcdef12345678\n"
        "  branchName: feature/x\n"
        "  environment: null\n"
        "checks:\n"
        "  - name: Pay\n"
        "    outcome: failed\n"
        "    duration: 0.2\n"
        "    first_seen_ago: 7200\n"
        "  - name: Cart\n"
        "    outcome: failed\n"
        "    duration: 0.2\n"
        "    error_group: cart-500\n"
        "history:\n"
        "  - branch: trunk\n"
        "    age: 3600\n"
        "    failing: [Pay]\n"
        "  - branch: trunk\n"
        "    age: 60\n"
        "    running: true\n",
        encoding="utf-8",
    )
    scenario = load_scenario(str(path))
    sim = serve(scenario, speed=10)
    before = time.time()
    body = final_body(sim, str(uuid.uuid4()))
    assert body["metadata"]["branchName"] == "feature/x" and body["metadata"]["environment"] is None
    groups = groups_of(body)
    pay = get(sim, f"/v1/test-session-error-groups/{groups['Pay']}").json()
    assert abs(unix(pay["firstSeen"]) - (before - 7200)) < 60
    trunk = get(sim, "/v1/test-sessions", branches="trunk").json()["entries"]
    assert [e["status"] for e in trunk] == ["RUNNING", "FAILED"]
    failed_pay = get(sim, "/v1/test-sessions", branches="trunk", errorGroupId=groups["Pay"])
    assert [e["id"] for e in failed_pay.json()["entries"]] == [trunk[1]["id"]]
    # a group shared by key has the same id in another simulator's session too
    again = serve(scenario, speed=10)
    assert groups_of(final_body(again, str(uuid.uuid4())))["Cart"] == groups["Cart"]


@pytest.mark.parametrize(
    ("history", "words"),
    [
        ("  - failing: [Nope]\n", "not a check here"),
        ("  - age: -1\n", "'age' must be >= 0"),
        ("  - when: 1\n", "unknown key 'when'"),
        ("  - failing: Pay\n", "must be a list"),
    ],
)
def test_invalid_history_is_one_line(tmp_path: Path, history: str, words: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(f"checks:\n  - name: Pay\nhistory:\n{history}", encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(str(path))
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_the_docs_context_example_is_a_valid_scenario(tmp_path: Path) -> None:
    import re

    docs = Path(__file__).resolve().parent.parent / "docs" / "scenarios.md"
    example = re.search(r"```yml\n(metadata:.*?)```", docs.read_text(encoding="utf-8"), re.S)
    assert example is not None
    path = tmp_path / "context.yml"
    path.write_text(example.group(1), encoding="utf-8")
    scenario = load_scenario(str(path))
    assert [h.failing for h in scenario.history] == [("Checkout flow",)]
    assert scenario.checks[0].error_group == "Checkout flow"  # shared with main's session
    assert scenario.checks[0].first_seen_ago == 259200

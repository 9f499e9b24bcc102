"""history.py: new / seen before / failing on main too / unknown (issue 21, item 2)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkly_gate import history
from checkly_gate.api import Client
from checkly_gate.history import (
    KNOWN,
    NEW,
    ON_MAIN,
    SEEN_BEFORE,
    UNKNOWN,
    Label,
    default_branch,
    failed_with,
    fetch_history,
    label_group,
    newest_finished,
    run_label,
)
from checkly_gate.scope import Scope
from checkly_gate.simulator import Fault, Simulator, load_scenario
from checkly_gate.verdict import Observation, SessionVerdict, Stop, judge_session

KEY = "sim-history-key"
T0 = 1_765_000_000.0  # a Unix time
DAY = 86400.0


def iso(unix: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(unix))


# --------------------------------------------------------------------------- pure decisions


def test_label_group() -> None:
    seen = {"firstSeen": iso(T0 - 3 * DAY), "lastSeen": iso(T0 + 5)}
    assert label_group(seen, T0, False).label == SEEN_BEFORE
    assert label_group(seen, T0, None).label == SEEN_BEFORE
    assert label_group(seen, T0, True).label == ON_MAIN
    fresh = {"firstSeen": iso(T0 + 2), "lastSeen": iso(T0 + 2)}
    assert label_group(fresh, T0, False).label == NEW
    assert label_group(fresh, T0, None).label == NEW
    assert label_group(None, T0, None, "the API's rate limit (429)").why.endswith("(429)")
    assert label_group({"firstSeen": "yesterday"}, T0, False).label == UNKNOWN
    assert label_group(fresh, None, False).label == UNKNOWN
    text = label_group(seen, T0, False).text()
    assert text.startswith("seen before (first ") and "last " in text


@pytest.mark.parametrize(
    "moment",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+00:01"],
)
def test_a_moment_no_utc_date_can_hold_is_unreadable(moment: str) -> None:
    """A timestamp valid as written but outside the years 1-9999 once in UTC is no time: the
    label is unknown (a firstSeen) or leaves the time out (a lastSeen), and its text never
    raises (it did: "year 0 is out of range" ended a ``--fail-fast --fail-on new`` wait as an
    internal error)."""
    assert history.parse_time(moment) is None
    assert label_group({"firstSeen": moment}, T0, False).label == UNKNOWN
    seen = label_group({"firstSeen": iso(T0 - DAY), "lastSeen": moment}, T0, False)
    assert seen.label == SEEN_BEFORE and seen.last_seen is None
    assert seen.text().startswith("seen before (first ")


def test_run_label_combines_groups() -> None:
    new, known = Label(NEW), Label(SEEN_BEFORE, T0 - DAY, T0)
    main, unknown = Label(ON_MAIN), Label(UNKNOWN, why="429")
    assert run_label([known, new]).label == NEW
    assert run_label([known, main]).label == ON_MAIN
    assert run_label([known, Label(SEEN_BEFORE, T0 - 2 * DAY, T0 - 5)]).first_seen == T0 - 2 * DAY
    assert run_label([new, unknown]).label == UNKNOWN
    assert run_label([]).label == UNKNOWN


labels = st.builds(
    Label,
    st.sampled_from([NEW, SEEN_BEFORE, ON_MAIN, UNKNOWN]),
    st.none() | st.floats(0, 2e9),
    st.none() | st.floats(0, 2e9),
)


@settings(deadline=None)
@given(st.lists(labels, max_size=5))
def test_a_run_is_known_only_when_every_group_is(items: list[Label]) -> None:
    """Property: --fail-on new may let a run pass only when each of its groups is known."""
    combined = run_label(items)
    assert combined.known == (bool(items) and all(item.label in KNOWN for item in items))


def test_newest_finished_skips_running_and_the_session_itself() -> None:
    own = "0b9f3c3e-5a4b-4c2d-9e1f-1234567890ab"
    entries = [
        {"id": "r", "status": "RUNNING", "errorGroupIds": []},
        {"id": own.upper(), "status": "FAILED", "errorGroupIds": ["g"]},
        "junk",
        {"id": "c", "status": "CANCELLED"},
        {"id": "m", "status": "FAILED", "errorGroupIds": ["g"]},
    ]
    assert newest_finished(entries, own) == entries[4]
    assert newest_finished(None, own) is None
    assert failed_with(entries[4], "g") is True and failed_with(entries[4], "h") is False
    assert failed_with({"status": "PASSED", "errorGroupIds": None}, "g") is False
    assert failed_with({"status": "FAILED", "errorGroupIds": None}, "g") is None
    assert failed_with(None, "g") is False


def test_default_branch(tmp_path: Path) -> None:
    assert default_branch({}, " release/2 ") == ("release/2", "--default-branch")
    assert default_branch({"GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "main"})[0] == "main"
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"default_branch": "trunk"}}), encoding="utf-8")
    github = {"GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "", "GITHUB_EVENT_PATH": str(event)}
    assert default_branch(github) == ("trunk", "the event's repository.default_branch")
    gitlab = {"GITLAB_CI": "true", "CI_DEFAULT_BRANCH": "master"}
    assert default_branch(gitlab) == ("master", "CI_DEFAULT_BRANCH")
    merge = {**gitlab, "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "stable"}
    assert default_branch(merge)[0] == "stable"
    azure = {"SYSTEM_PULLREQUEST_TARGETBRANCH": "refs/heads/main"}
    assert default_branch(azure)[0] == "main"
    assert default_branch({"BUILDKITE_PULL_REQUEST_BASE_BRANCH": "false"}) == ("", "")
    assert default_branch({}) == ("", "")
    hostile, _ = default_branch({"CI_DEFAULT_BRANCH": "main\n::error::x\x1b[31m"})
    assert "\n" not in hostile and "\x1b" not in hostile


# --------------------------------------------------------------------------- over real HTTP


def judged(sim: Simulator, sid: str) -> SessionVerdict:
    client = Client(KEY, sim.url)
    end = time.monotonic() + 30
    while True:
        session, _raw = client.get_session(sid, timeout=10)
        if session.is_final or time.monotonic() > end:
            break
        time.sleep(0.1)
    client.close()
    return judge_session(Observation(sid, Stop.FINAL, session))


def labels_of(sim: Simulator, scenario: str = "", **kwargs: Any) -> tuple[dict[str, str], Any]:
    sid = str(uuid.uuid4())
    sv = judged(sim, sid)
    assert sv.session is not None and sv.session.started_at is not None
    groups = [g for run in sv.failing for g in run.error_group_ids]
    client = Client(KEY, sim.url)
    before = len(sim.requests)
    found = fetch_history(
        client,
        groups,
        sid,
        sv.session.started_at.timestamp(),
        kwargs.pop("branch", "main"),
        time.monotonic() + 60,
        Scope(),
        **kwargs,
    )
    client.close()
    assert found.requests == len(sim.requests) - before  # every request counted
    by_name = {run.name: found.label_of(run.error_group_ids).label for run in sv.failing}
    return by_name, found


def test_known_and_new(serve) -> None:
    sim = serve(load_scenario("known-and-new"), speed=10)
    by_name, found = labels_of(sim)
    assert by_name == {"Checkout flow": ON_MAIN, "Search suite": NEW}
    assert found.main_session and found.requests == 1 + 2  # one list, one per group
    paths = [r.path for r in sim.requests[-3:]]
    assert paths[0] == "/v1/test-sessions" and sim.requests[-3].query["branches"] == "main"


def test_known_only_seen_before_but_not_on_mains_newest(serve) -> None:
    sim = serve(load_scenario("known-only"), speed=10)
    by_name, found = labels_of(sim)
    assert by_name == {"Checkout flow": ON_MAIN, "Login API": SEEN_BEFORE}
    login = next(label for label in found.labels.values() if label.label == SEEN_BEFORE)
    assert login.first_seen is not None and time.time() - login.first_seen > 4.9 * DAY
    assert "first " in login.text() and "last " in login.text()


def test_without_a_default_branch_only_the_timestamps_decide(serve) -> None:
    sim = serve(load_scenario("known-and-new"), speed=10)
    by_name, found = labels_of(sim, branch="")
    assert by_name == {"Checkout flow": SEEN_BEFORE, "Search suite": NEW}
    assert found.requests == 2 and any("--default-branch" in note for note in found.notes)


def test_groups_already_fetched_are_not_fetched_again(serve) -> None:
    sim = serve(load_scenario("known-and-new"), speed=10)
    sid = str(uuid.uuid4())
    sv = judged(sim, sid)
    groups = [g for run in sv.failing for g in run.error_group_ids]
    client = Client(KEY, sim.url)
    bodies = {g: client.error_group(g, 10) for g in groups}
    assert all(bodies.values())
    assert sv.session is not None and sv.session.started_at is not None
    found = fetch_history(
        client,
        groups,
        sid,
        sv.session.started_at.timestamp(),
        "main",
        time.monotonic() + 60,
        Scope(),
        groups=bodies,  # type: ignore[arg-type]
    )
    client.close()
    assert found.requests == 1


def test_a_429_stops_asking_and_leaves_unknown(serve) -> None:
    scenario = replace(
        load_scenario("known-and-new"),
        faults=(Fault("rate-limit", requests=(1, 100), endpoint="error-group"),),
    )
    sim = serve(scenario, speed=10)
    by_name, found = labels_of(sim)
    # failing on main is a fact of the list; the other label needed the group: unknown
    assert by_name == {"Checkout flow": ON_MAIN, "Search suite": UNKNOWN}
    assert found.requests == 2  # the list, then one 429: no further request
    assert any("429" in note for note in found.notes)


def test_a_list_that_fails_leaves_main_unknown_not_the_verdict(serve) -> None:
    scenario = replace(
        load_scenario("known-and-new"),
        faults=(Fault("server-error", endpoint="list"),),
    )
    sim = serve(scenario, speed=10)
    by_name, found = labels_of(sim)
    assert by_name == {"Checkout flow": SEEN_BEFORE, "Search suite": NEW}
    assert any("could not be read" in note for note in found.notes)


def test_no_time_left_asks_nothing(serve) -> None:
    sim = serve(load_scenario("known-and-new"), speed=10)
    sid = str(uuid.uuid4())
    sv = judged(sim, sid)
    groups = [g for run in sv.failing for g in run.error_group_ids]
    client = Client(KEY, sim.url)
    found = fetch_history(client, groups, sid, 0.0, "main", time.monotonic(), Scope())
    client.close()
    assert found.requests == 0
    assert {label.label for label in found.labels.values()} == {UNKNOWN}


@pytest.mark.parametrize("count", [0, 25])
def test_the_group_budget(serve, count: int) -> None:
    sim = serve(load_scenario("passing"), speed=10)
    client = Client(KEY, sim.url)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    found = fetch_history(client, ids, str(uuid.uuid4()), T0, "", time.monotonic(), Scope())
    client.close()
    assert len(found.labels) == count
    assert all(label.label == UNKNOWN for label in found.labels.values())
    if count:
        assert "budget" in found.labels[ids[-1]].why
    assert history.MAX_GROUPS == 20


def test_a_list_without_error_group_ids_asks_per_group(serve) -> None:
    from checkly_gate.simulator.context import history_scenario
    from checkly_gate.simulator.model import HistoryEntry

    scenario = load_scenario("known-and-new")
    sim = serve(scenario, speed=10)
    newest = history_scenario(scenario, HistoryEntry(age=60.0, failing=("Checkout flow",)))
    main_id = sim.add_listed(newest, age=60.0, fields={"errorGroupIds": None})
    by_name, found = labels_of(sim)
    assert by_name == {"Checkout flow": ON_MAIN, "Search suite": NEW}
    assert found.main_session == main_id
    assert found.requests == 1 + 2 + 2  # the list, errorGroupId= per group, the groups
    asked = [r.query.get("errorGroupId") for r in sim.requests if r.path == "/v1/test-sessions"]
    assert sum(1 for value in asked if value) == 2


def test_no_finished_session_among_the_newest_is_not_a_pass_on_main(serve) -> None:
    from checkly_gate.simulator.context import history_scenario
    from checkly_gate.simulator.model import HistoryEntry

    scenario = load_scenario("known-and-new")
    sim = serve(scenario, speed=10)
    running = history_scenario(scenario, HistoryEntry(age=30.0, running=True))
    for _ in range(history.LIST_LIMIT):
        sim.add_listed(running, age=30.0)
    by_name, found = labels_of(sim)
    # main's newest finished session is beyond the first page: failing on main is not known,
    # so the timestamps decide (never "not failing on main" by default)
    assert by_name == {"Checkout flow": SEEN_BEFORE, "Search suite": NEW}
    assert found.main_session == ""
    assert any("could not be read" in note for note in found.notes)

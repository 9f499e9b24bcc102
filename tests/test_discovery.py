"""Finding the test sessions of a commit: matching, the query, the schedule, and the loop
(driven by a fake clock and an in-memory transport: no real waiting)."""

from __future__ import annotations

import string
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkly_gate.api import Client
from checkly_gate.config import ConfigError
from checkly_gate.discovery import (
    COMMIT_VARIABLES,
    MAX_PAGES,
    DiscoveryOptions,
    commit_matches,
    discover,
    discovery_waits,
    list_query,
    matches,
    parse_options,
    resolve_commit,
)
from checkly_gate.verdict import Outcome
from tests.fakes import FakeClock

SHA = "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"
OTHER = "0" * 40
WALL = 1_800_000_000.0
hexsha = st.text(alphabet="0123456789abcdef", min_size=40, max_size=40)


def ID(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def entry(sid: str, commit: str | None = SHA, **extra: Any) -> dict[str, Any]:
    body = {"id": ID(sid), "name": f"session {sid}", "provider": "VERCEL", "status": "RUNNING"}
    body.update(commitId=commit, branchName="main", environment="production")
    body.update(extra)
    return body


# --- the commit --------------------------------------------------------------------------------


def test_commit_auto_takes_the_ci_commit_in_documented_order() -> None:
    env = {"GITHUB_SHA": SHA.upper(), "CI_COMMIT_SHA": OTHER}
    assert resolve_commit("auto", env) == SHA
    assert resolve_commit("AUTO", {"CI_COMMIT_SHA": OTHER}) == OTHER
    assert resolve_commit(" 4F2A9C1 ", {}) == "4f2a9c1"


def test_commit_auto_without_a_ci_commit_names_where_it_looked() -> None:
    with pytest.raises(ConfigError, match="GITHUB_SHA, CI_COMMIT_SHA"):
        resolve_commit("auto", {name: "" for name in COMMIT_VARIABLES})


@given(
    st.one_of(
        st.text(alphabet="0123456789abcdef", max_size=6),
        st.text(alphabet="0123456789abcdef", min_size=65, max_size=80),
        st.text(min_size=1).filter(lambda t: any(c not in string.hexdigits for c in t.strip())),
    )
)
def test_anything_but_7_to_64_hex_digits_is_a_usage_error(text: str) -> None:
    if text.strip().lower() == "auto":
        return
    with pytest.raises(ConfigError) as info:
        resolve_commit(text, {})
    assert "\n" not in str(info.value)


@given(hexsha, st.integers(7, 40), st.booleans())
def test_any_prefix_of_7_or_more_matches_either_way_and_any_case(
    sha: str, n: int, upper: bool
) -> None:
    short = sha[:n].upper() if upper else sha[:n]
    assert commit_matches(sha, short)
    assert commit_matches(short, sha)


@given(hexsha, st.integers(0, 6))
def test_prefixes_shorter_than_7_never_match(sha: str, n: int) -> None:
    assert not commit_matches(sha, sha[:n])
    assert not commit_matches(sha[:n], sha)


@given(hexsha, hexsha)
def test_different_commits_do_not_match(a: str, b: str) -> None:
    assert commit_matches(a, b) == (a == b)


def test_filters_are_checked_on_the_client_too_and_any_shape_is_tolerated() -> None:
    options = DiscoveryOptions(commit=SHA[:7], branch="main", provider="VERCEL")
    assert matches(entry("a"), options)
    assert not matches(entry("a", branchName="dev"), options)
    assert not matches(entry("a", provider="GITHUB"), options)
    assert not matches(entry("a", commit=OTHER), options)
    env_options = DiscoveryOptions(commit=SHA, environment="Production")
    assert matches(entry("a"), env_options)
    assert not matches(entry("a", environment="staging"), env_options)
    for weird in (None, [], "x", {"id": 3}, entry("a", commit=None), entry("a", commit=12345678)):
        assert not matches(weird, options)


def test_the_query_asks_for_the_filters_the_api_has() -> None:
    options = DiscoveryOptions(commit=SHA, branch="main", provider="VERCEL", environment="prod")
    query = list_query(options, WALL, next_id="cursor-1")
    assert ("from", str(int(WALL))) in query
    assert ("limit", "100") in query
    assert ("branches", "main") in query and ("providers", "VERCEL") in query
    assert ("nextId", "cursor-1") in query
    assert all(key != "environment" for key, _ in query)  # no such filter: checked locally


def test_the_schedule_widens_to_30_seconds() -> None:
    waits = discovery_waits(10.0)
    assert [next(waits) for _ in range(6)] == [5.0, 10.0, 20.0, 30.0, 30.0, 30.0]
    fast = discovery_waits(0.2)
    assert [round(next(fast), 2) for _ in range(3)] == [0.2, 0.4, 0.8]


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        ({"discover_timeout": -1.0, "commit": SHA}, "at least 0"),
        ({"provider": "VER CEL", "commit": SHA}, "--provider"),
        ({"branch": " ", "commit": SHA}, "--branch"),
        ({"discover_timeout": 5.0}, "need --commit"),
    ],
)
def test_bad_discovery_flags_are_one_line_usage_errors(flags: dict[str, Any], needle: str) -> None:
    args = {k: None for k in ("commit", "branch", "provider", "environment", "discover_timeout")}
    args.update(flags)
    with pytest.raises(ConfigError, match=needle):
        parse_options(
            args["commit"],
            args["branch"],
            args["provider"],
            args["environment"],
            args["discover_timeout"],
            None,
            {},
        )


# --- the loop ---------------------------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def run(
    handler: Handler, options: DiscoveryOptions, timeout: float = 1800.0
) -> tuple[Any, FakeClock, list[httpx.Request]]:
    clock = FakeClock()
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client = Client("key-1", "https://api.test", transport=httpx.MockTransport(recording))
    found = discover(
        client, options, clock.now() + timeout, clock, lambda: WALL + clock.now(), 10.0
    )
    return found, clock, seen


def page(entries: list[dict[str, Any]], next_id: str | None = None) -> httpx.Response:
    return httpx.Response(200, json={"length": len(entries), "entries": entries, "nextId": next_id})


def test_pages_with_next_id_and_waits_for_every_match() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("nextId")
        if cursor is None:
            return page([entry("noise-1", OTHER), entry("match-1")], "p2")
        return page([entry("noise-2", OTHER), entry("match-2", SHA[:7].upper())])

    found, _, seen = run(handler, DiscoveryOptions(commit=SHA))
    assert found.outcome is None
    assert found.session_ids == [ID("match-1"), ID("match-2")]
    assert [r.url.params.get("nextId") for r in seen] == [None, "p2"]


def test_none_found_ends_with_no_session_after_the_window_on_a_widening_schedule() -> None:
    found, clock, seen = run(
        lambda r: page([entry("x", OTHER)]), DiscoveryOptions(SHA, None, None, None, 60.0)
    )
    assert found.outcome is Outcome.NO_SESSION
    assert "no test session found for commit" in found.reason
    assert clock.sleeps == [5.0, 10.0, 20.0]  # the next (30 s) would pass the 60 s window
    assert len(seen) == 4  # cheap: one request per look
    later = [r.url.params["from"] for r in seen[1:]]
    assert all(float(v) > WALL for v in later)  # later looks list only what is new


def test_429_waits_exactly_retry_after_then_finds() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}, json={}), page([entry("m")])])
    found, clock, _ = run(lambda r: next(answers), DiscoveryOptions(commit=SHA))
    assert found.session_ids == [ID("m")]
    assert clock.sleeps == [7.0]


def test_retry_after_beyond_the_window_ends_the_search_early() -> None:
    response = httpx.Response(429, headers={"Retry-After": "600"}, json={})
    found, clock, seen = run(lambda r: response, DiscoveryOptions(SHA, None, None, None, 60.0))
    assert found.outcome is Outcome.UNAVAILABLE  # never read a list: cannot say "none"
    assert clock.sleeps == [] and len(seen) == 1


def test_refused_ends_at_once_and_unreadable_lists_are_api_trouble() -> None:
    found, _, seen = run(
        lambda r: httpx.Response(401, json={"message": "bad key"}), DiscoveryOptions(commit=SHA)
    )
    assert found.outcome is Outcome.REFUSED and len(seen) == 1
    for body in ({"entries": "x"}, [], "text"):
        found, _, _ = run(
            lambda r, b=body: httpx.Response(200, json=b),
            DiscoveryOptions(SHA, None, None, None, 20.0),
        )
        assert found.outcome is Outcome.UNAVAILABLE


def test_pages_per_look_are_bounded_and_a_repeating_cursor_stops() -> None:
    found, _, seen = run(
        lambda r: page([entry("x", OTHER)], "again"), DiscoveryOptions(SHA, None, None, None, 1.0)
    )
    assert found.outcome is Outcome.NO_SESSION
    assert len(seen) == 2  # the cursor came back the same: stop
    counter = iter(range(1000))
    found, _, seen = run(
        lambda r: page([entry("x", OTHER)], f"c{next(counter)}"),
        DiscoveryOptions(SHA, None, None, None, 1.0),
    )
    assert len(seen) == MAX_PAGES


def test_a_zero_window_looks_exactly_once() -> None:
    found, clock, seen = run(lambda r: page([]), DiscoveryOptions(SHA, None, None, None, 0.0))
    assert found.outcome is Outcome.NO_SESSION and len(seen) == 1 and clock.sleeps == []


@pytest.mark.parametrize("code", [8, 0])
def test_a_no_session_snapshot_reads_back_with_its_outcome_and_code(code: int) -> None:
    from checkly_gate.reports import GateRun, snapshot
    from checkly_gate.verdict import Verdict

    run = GateRun(verdict=Verdict(Outcome.NO_SESSION, code, "no test session found"))
    again = snapshot.load(snapshot.render(run))
    # ``report`` exits 0 only when stored bodies prove a pass (issue 18.6): an allowed
    # no-session (--no-fail-on-no-session) keeps its outcome, with that outcome's own code.
    assert (again.verdict.outcome, again.verdict.exit_code) == (Outcome.NO_SESSION, 8)


entries_strategy = st.lists(
    st.one_of(
        st.builds(
            lambda sid, commit, branch: {"id": sid, "commitId": commit, "branchName": branch},
            st.uuids().map(str),
            st.one_of(st.just(SHA), st.just(SHA[:7].upper()), hexsha, st.none(), st.integers()),
            st.sampled_from(["main", "dev", None]),
        ),
        st.none(),
        st.integers(),
        st.text(max_size=3),
    ),
    max_size=40,
)


@given(entries_strategy, st.integers(1, 15), st.sampled_from([None, "main"]))
def test_discovery_finds_exactly_the_matching_sessions_whatever_the_pages(
    entries: list[Any], size: int, branch: str | None
) -> None:
    pages = [entries[i : i + size] for i in range(0, len(entries), size)] or [[]]

    def handler(request: httpx.Request) -> httpx.Response:
        index = int(request.url.params.get("nextId", "0"))
        more = str(index + 1) if index + 1 < len(pages) else None
        return page(pages[index], more)

    options = DiscoveryOptions(commit=SHA, branch=branch, discover_timeout=0.0)
    found, _, seen = run(handler, options)
    reachable = [e for p in pages[:MAX_PAGES] for e in p]
    expected = list(dict.fromkeys(e["id"].lower() for e in reachable if matches(e, options)))[:20]
    assert found.session_ids == expected
    assert (found.outcome is None) == bool(expected)
    assert len(seen) <= MAX_PAGES


def test_waiting_for_a_session_costs_few_requests_a_minute() -> None:
    found, clock, seen = run(lambda r: page([]), DiscoveryOptions(SHA, None, None, None, 300.0))
    assert found.outcome is Outcome.NO_SESSION
    times = [0.0]
    for pause in clock.sleeps:
        times.append(times[-1] + pause)
    assert len(seen) == len(times) == 12  # 0, 5, 15, 35, 65, 95, ... 275 s
    assert max(sum(1 for t in times if s <= t < s + 60) for s in times) <= 5


def test_the_environment_applies_only_without_session_ids() -> None:
    env = {"CHECKLY_GATE_COMMIT": "auto", "GITHUB_SHA": SHA, "CHECKLY_GATE_BRANCH": "main"}
    env["CHECKLY_GATE_DISCOVER_TIMEOUT"] = "12.5"
    found = parse_options(None, None, None, None, None, None, env)
    assert found == DiscoveryOptions(commit=SHA, branch="main", discover_timeout=12.5)
    assert parse_options(None, None, None, None, None, None, env, use_env=False) is None
    only_timing = {"CHECKLY_GATE_DISCOVER_TIMEOUT": "5", "CHECKLY_GATE_FAIL_ON_NO_SESSION": "no"}
    assert parse_options(None, None, None, None, None, None, only_timing) is None
    flags_win = parse_options("abcdef1", None, None, None, 3.0, True, env)
    assert flags_win is not None
    assert (flags_win.commit, flags_win.discover_timeout) == ("abcdef1", 3.0)


def test_ids_that_are_not_uuids_never_match() -> None:
    options = DiscoveryOptions(commit=SHA)
    for bad in ("../../v1/accounts", "x", "", " ", "0b9f3c3e-5a4b-4c2d-9e1f-1234567890ab/../x"):
        assert not matches({**entry("a"), "id": bad}, options)
    assert matches({**entry("a"), "id": "0B9F3C3E-5A4B-4C2D-9E1F-1234567890AB"}, options)


@given(
    st.sampled_from(["0", "-5", "0.0001", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", None]),
    st.sampled_from([0.05, 1.0, 10.0]),
)
def test_a_retry_after_storm_never_looks_faster_than_once_a_second(
    retry_after: str | None, poll_interval: float
) -> None:
    # Retry-After 0 (or a date in the past) was waited "exactly": ~4,000 list requests in 5 s.
    clock = FakeClock()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return httpx.Response(429, headers=headers, json={})

    client = Client("key-1", "https://api.test", transport=httpx.MockTransport(handler))
    options = DiscoveryOptions(SHA, None, None, None, 60.0)
    found = discover(
        client, options, clock.now() + 1800, clock, lambda: WALL + clock.now(), poll_interval
    )
    assert found.outcome is Outcome.UNAVAILABLE
    assert min(clock.sleeps) >= 1.0 and len(seen) <= 61

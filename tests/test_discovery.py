"""Finding the test sessions of a commit: matching, the query, the schedule, and the loop
(driven by a fake clock and an in-memory transport: no real waiting)."""

from __future__ import annotations

import string
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkly_gate.api import Client
from checkly_gate.commands.commit import (
    COMMIT_VARIABLES,
    MAX_PAGES,
    MAX_SESSIONS,
    DiscoveryOptions,
    commit_matches,
    discover,
    discovery_waits,
    list_query,
    matches,
)
from checkly_gate.commands.options import parse_options, resolve_commit
from checkly_gate.config import ConfigError
from checkly_gate.verdict import Outcome
from tests.fakes import FakeClock, scope_until

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


@settings(deadline=None)
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


@settings(deadline=None)
@given(hexsha, st.integers(7, 40), st.booleans())
def test_any_prefix_of_7_or_more_matches_either_way_and_any_case(
    sha: str, n: int, upper: bool
) -> None:
    short = sha[:n].upper() if upper else sha[:n]
    assert commit_matches(sha, short)
    assert commit_matches(short, sha)


@settings(deadline=None)
@given(hexsha, st.integers(0, 6))
def test_prefixes_shorter_than_7_never_match(sha: str, n: int) -> None:
    assert not commit_matches(sha, sha[:n])
    assert not commit_matches(sha[:n], sha)


@settings(deadline=None)
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
    scope = scope_until(clock, clock.now() + timeout)
    found = discover(client, options, scope, 10.0, wall_now=lambda: WALL + clock.now())
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
    assert clock.sleeps == [5.0, 10.0, 20.0, 25.0]  # the last look is at the window's end
    assert "in 60s of looking" in found.reason and found.searched == 60.0
    assert len(seen) == 5  # cheap: one request per look
    assert "from" not in seen[0].url.params  # the first look takes no time from this runner
    later = [r.url.params["from"] for r in seen[1:]]
    assert all(float(v) > WALL for v in later)  # later looks list only what is new


def test_429_waits_retry_after_plus_a_spread_then_finds() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}, json={}), page([entry("m")])])
    found, clock, _ = run(lambda r: next(answers), DiscoveryOptions(commit=SHA))
    assert found.session_ids == [ID("m")]
    assert len(clock.sleeps) == 1 and 7.0 <= clock.sleeps[0] <= 10.5


def test_retry_after_beyond_the_deadline_ends_the_search_at_once() -> None:
    response = httpx.Response(429, headers={"Retry-After": "600"}, json={})
    found, clock, seen = run(
        lambda r: response, DiscoveryOptions(SHA, None, None, None, 60.0), timeout=300.0
    )
    assert found.outcome is Outcome.UNAVAILABLE  # never read a list: cannot say "none"
    assert "Retry-After" in found.reason and "page 1" in found.reason
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


def test_a_repeating_cursor_or_an_endless_list_is_refused_never_cut() -> None:
    found, _, seen = run(
        lambda r: page([entry("x", OTHER)], "again"), DiscoveryOptions(SHA, None, None, None, 1.0)
    )
    assert found.outcome is Outcome.UNAVAILABLE  # not "no session": the list was not all read
    assert "repeats" in found.reason and len(seen) == 2
    counter = iter(range(100_000))
    found, _, seen = run(
        lambda r: page([entry("x", OTHER)], f"c{next(counter)}"),
        DiscoveryOptions(SHA, None, None, None, 1.0),
    )
    assert found.outcome is Outcome.USAGE and "narrow it" in found.reason
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
    st.builds(
        lambda sid, commit, branch: {"id": sid, "commitId": commit, "branchName": branch},
        st.uuids().map(str),
        st.one_of(st.just(SHA), st.just(SHA[:7].upper()), hexsha, st.none(), st.integers()),
        st.sampled_from(["main", "dev", None]),
    ),
    max_size=40,
)


@settings(deadline=None)
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
    expected = list(dict.fromkeys(e["id"].lower() for p in pages for e in p if matches(e, options)))
    assert found.session_ids == expected  # every match, however many, on whichever page
    assert (found.outcome is None) == bool(expected)
    assert len(seen) == len(pages)


def test_waiting_for_a_session_costs_few_requests_a_minute() -> None:
    found, clock, seen = run(lambda r: page([]), DiscoveryOptions(SHA, None, None, None, 300.0))
    assert found.outcome is Outcome.NO_SESSION
    times = [0.0]
    for pause in clock.sleeps:
        times.append(times[-1] + pause)
    assert len(seen) == len(times) == 13  # 0, 5, 15, 35, 65, 95, ... 275, 300 s
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


@settings(deadline=None)
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
    scope = scope_until(clock, clock.now() + 60)
    found = discover(client, options, scope, poll_interval, wall_now=lambda: WALL + clock.now())
    assert found.outcome is Outcome.UNAVAILABLE
    assert min(clock.sleeps[:-1]) >= 1.0 and len(seen) <= 61  # the last is cut by the deadline


# --- never green on partial knowledge (issue 18.1) ----------------------------------------------


def iso(moment: float) -> str:
    when = datetime.fromtimestamp(moment, tz=timezone.utc)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


FAILURES = {
    "500": lambda: httpx.Response(500, json={"message": "boom"}),
    "429": lambda: httpx.Response(429, headers={"Retry-After": "1"}, json={}),
    "garbage": lambda: httpx.Response(200, content=b"<html>proxy</html>"),
    "not-an-object": lambda: page([None, 3]),  # type: ignore[list-item]
    "bad-id": lambda: page([entry("x", id="../../v1/accounts")]),
    "surrogate-cursor": lambda: httpx.Response(
        200, content=b'{"entries": [], "nextId": "\\ud800"}'
    ),
    "huge-cursor": lambda: page([], "n" * 70_000),
    "number-cursor": lambda: httpx.Response(200, json={"entries": [], "nextId": 7}),
}


@settings(deadline=None, max_examples=60)
@given(
    st.lists(st.booleans(), max_size=260),
    st.dictionaries(
        st.integers(1, 3),
        st.tuples(st.sampled_from(sorted(FAILURES)), st.one_of(st.integers(1, 3), st.none())),
        max_size=3,
    ),
)
def test_a_look_is_every_page_or_api_trouble_whatever_fails(
    matching: list[bool], failures: dict[int, tuple[str, int | None]]
) -> None:
    # Sessions newest first, 100 a page; page N fails `times` times (None: for ever) in one of
    # the ways a list can fail. Discovery either returns every match of every page, or says
    # API trouble: never the matches of the pages it happened to read.
    sessions = [entry(f"s{i}", SHA if hit else OTHER) for i, hit in enumerate(matching)]
    pages = [sessions[i : i + 100] for i in range(0, len(sessions), 100)] or [[]]
    asked: dict[int, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("nextId", "p1")[1:])
        asked[number] = asked.get(number, 0) + 1
        kind, times = failures.get(number, ("", 0))
        if kind and (times is None or asked[number] <= times):
            return FAILURES[kind]()
        more = f"p{number + 1}" if number < len(pages) else None
        return page(pages[number - 1], more)

    found, _, _ = run(handler, DiscoveryOptions(SHA, None, None, None, 0.0), timeout=600.0)
    broken = [n for n, (_, times) in failures.items() if times is None and n <= len(pages)]
    expected = [e["id"] for e, hit in zip(sessions, matching, strict=True) if hit]
    if broken:
        assert found.outcome is Outcome.UNAVAILABLE and found.session_ids == []
        assert f"page {min(broken)}" in found.reason
    else:
        assert found.session_ids == expected
        assert found.outcome is (None if expected else Outcome.NO_SESSION)


def test_a_page_that_answers_500_twice_is_read_again_and_its_failed_session_followed() -> None:
    answers = {"p2": iter([httpx.Response(500, json={}), httpx.Response(500, json={})])}

    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("nextId")
        if cursor is None:
            return page([entry("passed", status="PASSED")], "p2")
        return next(answers["p2"], None) or page([entry("failed", status="FAILED")])

    found, clock, seen = run(handler, DiscoveryOptions(commit=SHA))
    assert found.session_ids == [ID("passed"), ID("failed")]
    assert len(seen) == 4 and len(clock.sleeps) == 2


def test_every_match_is_followed_however_many_and_too_many_is_refused() -> None:
    sessions = [entry(f"m{i}") for i in range(21)]
    found, _, _ = run(lambda r: page(sessions), DiscoveryOptions(commit=SHA))
    assert len(found.session_ids) == 21  # not "the newest 20"
    many = [entry(f"m{i}") for i in range(MAX_SESSIONS + 1)]

    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params.get("nextId", "0"))
        more = str(start + 100) if start + 100 < len(many) else None
        return page(many[start : start + 100], more)

    found, _, _ = run(handler, DiscoveryOptions(commit=SHA))
    assert found.outcome is Outcome.USAGE and found.session_ids == []
    assert f"{MAX_SESSIONS + 1} test sessions match" in found.reason


@settings(deadline=None, max_examples=40)
@given(
    st.one_of(st.sampled_from([-86400.0, -600.0, 0.0, 600.0, 86400.0]), st.floats(-2e5, 2e5)),
    st.booleans(),
    st.booleans(),
)
def test_a_runner_clock_off_never_hides_a_new_session_nor_lets_an_old_one_in(
    skew: float, with_commit: bool, ignores_from: bool
) -> None:
    # The runner's clock is `skew` seconds off the API's. A three-day-old session of branch
    # main (and of another commit) is listed from the start; the deploy's session is created
    # 2 s after the gate started. Only the new one is ever taken.
    clock = FakeClock()
    started = clock.now()

    def api_now() -> float:
        return WALL + clock.now()

    old = entry("old", OTHER, created_at=iso(api_now() - 3 * 86400))

    def handler(request: httpx.Request) -> httpx.Response:
        listed = [old]
        if clock.now() >= started + 2:
            listed.insert(0, entry("new", created_at=iso(WALL + started + 2)))
        since = request.url.params.get("from")
        if since is not None and not ignores_from:
            listed = [
                e
                for e in listed
                if datetime.fromisoformat(e["created_at"].replace("Z", "+00:00")).timestamp()
                >= float(since)
            ]
        body = page(listed)
        body.headers["Date"] = formatdate(api_now(), usegmt=True)
        return body

    client = Client("key-1", "https://api.test", transport=httpx.MockTransport(handler))
    options = (
        DiscoveryOptions(commit=SHA, discover_timeout=30.0)
        if with_commit
        else DiscoveryOptions(branch="main", discover_timeout=30.0)
    )
    scope = scope_until(clock, clock.now() + 600)
    found = discover(client, options, scope, 10.0, wall_now=lambda: api_now() + skew)
    assert found.session_ids == [ID("new")], found.reason


def test_without_commit_a_session_whose_age_cannot_be_read_is_never_taken_as_new() -> None:
    found, _, _ = run(
        lambda r: page([entry("ageless")]), DiscoveryOptions(branch="main", discover_timeout=0.0)
    )
    assert found.outcome is Outcome.NO_SESSION


@pytest.mark.parametrize("kind", ["surrogate-cursor", "huge-cursor", "number-cursor"])
def test_an_unusable_next_id_is_an_unreadable_page_in_one_line(kind: str) -> None:
    found, _, seen = run(lambda r: FAILURES[kind](), DiscoveryOptions(commit=SHA), timeout=30.0)
    assert found.outcome is Outcome.UNAVAILABLE
    assert "unusable nextId" in found.reason and "\n" not in found.reason
    assert len(found.reason) < 300 and all("nextId" not in r.url.params for r in seen)


def test_the_last_look_is_at_the_windows_end_and_finds_a_session_listed_late() -> None:
    clock = FakeClock()
    started = clock.now()

    def handler(request: httpx.Request) -> httpx.Response:
        return page([entry("late")] if clock.now() >= started + 6 else [])

    client = Client("key-1", "https://api.test", transport=httpx.MockTransport(handler))
    options = DiscoveryOptions(SHA, None, None, None, 8.0)
    scope = scope_until(clock, started + 600)
    found = discover(client, options, scope, 10.0, wall_now=lambda: WALL + clock.now())
    assert found.session_ids == [ID("late")]  # looks at 0, 5 and 8 s: the window's end
    assert clock.sleeps == [5.0, 3.0]


def test_a_window_cut_by_the_deadline_still_ends_in_no_session_not_api_trouble() -> None:
    # --timeout 20 with the default 300 s window: the last look leaves time to be read.
    found, clock, seen = run(lambda r: page([]), DiscoveryOptions(commit=SHA), timeout=20.0)
    assert found.outcome is Outcome.NO_SESSION, found.reason
    assert 15.0 <= sum(clock.sleeps) < 20.0 and len(seen) == len(clock.sleeps) + 1


@settings(deadline=None, max_examples=12)
@given(
    st.lists(st.sampled_from(["PASSED", "FAILED", None]), min_size=0, max_size=130),
    st.dictionaries(
        st.integers(1, 2),
        st.tuples(st.sampled_from(["500", "garbage"]), st.one_of(st.integers(1, 2), st.none())),
        max_size=2,
    ),
)
def test_the_gate_exits_0_only_when_every_page_was_read_and_every_match_passed(
    statuses: list[str | None], failures: dict[int, tuple[str, int | None]]
) -> None:
    # The whole `wait --commit` (discovery, following, judging) over an in-memory API: sessions
    # newest first, None = another commit's; page N fails `times` times (None: for ever).
    import io

    from checkly_gate.config import Options
    from tests.fakes import find_and_wait, row, session_body

    listed = [
        entry(f"g{i}", SHA if status else OTHER, status=status or "PASSED")
        for i, status in enumerate(statuses)
    ]
    by_id = {e["id"]: status for e, status in zip(listed, statuses, strict=True) if status}
    pages = [listed[i : i + 100] for i in range(0, len(listed), 100)] or [[]]
    asked: dict[int, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/test-sessions":
            number = int(request.url.params.get("nextId", "p1")[1:])
            asked[number] = asked.get(number, 0) + 1
            kind, times = failures.get(number, ("", 0))
            if kind and (times is None or asked[number] <= times):
                return FAILURES[kind]()
            return page(pages[number - 1], f"p{number + 1}" if number < len(pages) else None)
        sid = path.split("/")[3]
        if sid not in by_id or path.endswith("/assets"):
            return httpx.Response(404, json={"message": "Not Found"})
        failed = by_id[sid] == "FAILED"
        rows = [row(status="FAILED", hasFailures=True) if failed else row()]
        return httpx.Response(200, json=session_body(by_id[sid], rows, sid=sid))

    broken = any(times is None and n <= len(pages) for n, (_, times) in failures.items())
    options = Options(
        session_ids=(),
        api_key="k-123456",
        api_url="https://api.test",
        timeout=4.0,
        poll_interval=0.1,
        not_found_grace=1.0,
    )
    code = find_and_wait(
        options,
        DiscoveryOptions(commit=SHA, discover_timeout=0.0),
        io.StringIO(),
        {},
        transport=httpx.MockTransport(handler),
    )
    if broken:
        assert code == 6
    elif not by_id:
        assert code == 8
    else:
        assert code == (1 if "FAILED" in by_id.values() else 0)

"""Find the test sessions of a commit: for runs started by Checkly's Vercel or GitHub deployment
integration (or anyone else) whose id the pipeline never saw.

``wait --commit SHA`` lists recent test sessions (``GET /v1/test-sessions``, newest first, paged
with ``nextId``), keeps those whose ``commitId`` matches (full or abbreviated, case-insensitive,
at least 7 hex digits; with ``--commit auto`` any commit the CI names for this run: a pull
request's head and its merge commit) and whose branch, provider and environment match when
given, and hands every match to the normal ``wait`` flow. When none exists yet it looks again
on a widening schedule until the discovery window (``--discover-timeout``, inside the overall
deadline) ends, the last look at its very end, then ends with the outcome ``no-session`` (exit
8, never green unless ``--no-fail-on-no-session``).

Never green on partial knowledge: a look reads every page of the list (each page retried under
the deadline with ``schedule.Backoff``; a page never read is API trouble, exit 6), follows every
match (a look or a match too large to follow is refused, never cut), and takes its time windows
from the API's own clock (the ``Date`` header, else the listed sessions' timestamps), so a
runner clock that is off never hides a session nor lets an old one in.

Pure helpers (``matches``, ``list_query``, ``discovery_waits``) and one
shell function (``discover``) that makes the requests through ``api.Client``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from checkly_gate import deploy, gate
from checkly_gate.api import ApiError, Client, NotFound, Refused, Stopped, Transient
from checkly_gate.ci import COMMIT_VARIABLES
from checkly_gate.config import (
    TABLE_BY_KEY,
)
from checkly_gate.context import Command
from checkly_gate.models import unix_time
from checkly_gate.schedule import Backoff, RetryBeyondDeadline
from checkly_gate.scope import Scope
from checkly_gate.sha import MIN_SHA, commit_matches
from checkly_gate.text import one_line, signal_name
from checkly_gate.verdict import Outcome, Verdict

__all__ = [
    "COMMIT_VARIABLES",
    "MIN_SHA",
    "Discovery",
    "DiscoveryOptions",
    "commit_matches",
    "discover",
    "find_and_wait",
]

log = logging.getLogger("checkly_gate")

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# An opaque cursor fit to go back into a query: printable ASCII, no blank, bounded.
_CURSOR = re.compile(r"[\x21-\x7e]{1,1024}")

DEFAULT_DISCOVER_TIMEOUT: float = TABLE_BY_KEY["discover-timeout"].default
LOOKBACK_SECONDS = 7 * 24 * 3600.0  # a commit's sessions are looked for this far back
OVERLAP_SECONDS = 120.0  # later rounds list only sessions created since the last round, minus this
PAGE_LIMIT = 100  # the API's maximum ``limit``
MAX_PAGES = 100  # pages one look reads at most (10,000 sessions); more is refused, never cut
MAX_SESSIONS = 500  # matching sessions followed at most; more is refused, never cut
MAX_WAIT = 30.0  # the widening discovery schedule stops growing here
LAST_LOOK_MARGIN = 5.0  # a window cut by the deadline ends this long before it (at most)
REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class DiscoveryOptions:
    """What identifies the sessions to wait for. ``commit`` None: any session created since the
    gate started (minus ``OVERLAP_SECONDS``, by the API's clock) that matches the other filters.
    ``other_commits``: further commits that stand for the same run (``--commit auto`` on a pull
    request: the merge commit after the head); a session of any of them matches."""

    commit: str | None = None
    branch: str | None = None
    provider: str | None = None
    environment: str | None = None
    discover_timeout: float = DEFAULT_DISCOVER_TIMEOUT
    fail_on_no_session: bool = True
    other_commits: tuple[str, ...] = ()

    @property
    def commits(self) -> tuple[str, ...]:
        """Every commit a matching session may carry, the deployed one first."""
        return (self.commit, *self.other_commits) if self.commit else ()

    def describe(self) -> str:
        """``commit 4f2a9c1 on branch main (provider VERCEL)`` for people."""
        parts = [f"commit {self.commit[:12]}" if self.commit else "a new session"]
        if self.other_commits:
            parts[0] += f" (or {', '.join(c[:12] for c in self.other_commits)})"
        if self.branch:
            parts.append(f"on branch {self.branch}")
        extra = [
            f"{what} {value}"
            for what, value in (("provider", self.provider), ("environment", self.environment))
            if value
        ]
        text = " ".join(parts)
        return one_line(text + (f" ({', '.join(extra)})" if extra else ""), 200)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def created(entry: Any) -> float | None:
    """When the listed session was created by the API's clock: ``created_at``, else
    ``startedAt``; ``None`` when neither is readable."""
    if not isinstance(entry, dict):
        return None
    for key in ("created_at", "createdAt", "startedAt"):
        moment = unix_time(entry.get(key))
        if moment is not None:
            return moment
    return None


def matches(entry: Any, options: DiscoveryOptions, since: float | None = None) -> bool:
    """Whether a ``TestSessionListEntry`` is one of the sessions looked for. The filters sent to
    the API (branch, provider, ``from``) are checked again here: an API that ignores one never
    widens the match. ``since`` (Unix seconds, the API's clock): an entry created before it
    never matches; without ``--commit`` one whose age cannot be read never matches either (it
    cannot be shown to be new)."""
    if not isinstance(entry, dict) or not _UUID.match(_text(entry.get("id"))):
        return False  # an id that is not a UUID never reaches a request path
    if options.commit is not None and not any(
        commit_matches(entry.get("commitId"), wanted) for wanted in options.commits
    ):
        return False
    for key, wanted in (
        ("branchName", options.branch),
        ("provider", options.provider),
        ("environment", options.environment),
    ):
        if wanted is not None and _text(entry.get(key)).lower() != wanted.lower():
            return False
    if since is not None:
        moment = created(entry)
        if moment is None:
            return options.commit is not None  # a commit is identity enough; "new" needs a time
        if moment < since:
            return False
    return True


def list_query(
    options: DiscoveryOptions, since: float | None, next_id: str | None = None
) -> list[tuple[str, str]]:
    """Query pairs of one ``GET /v1/test-sessions`` page: ``from`` (Unix seconds by the API's
    clock; none on the first look, whose window is only known from the first answer),
    ``limit``, the branch and provider filters, and ``nextId`` for a following page."""
    query = [("limit", str(PAGE_LIMIT))]
    if since is not None:
        query.insert(0, ("from", str(int(since))))
    if options.branch:
        query.append(("branches", options.branch))
    if options.provider:
        query.append(("providers", options.provider))
    if next_id:
        query.append(("nextId", next_id))
    return query


def discovery_waits(poll_interval: float) -> Iterator[float]:
    """Pauses between discovery rounds: ``min(5 s, poll interval)``, then doubling up to 30 s
    (5, 10, 20, 30, 30, ... at the defaults): cheap while a session is expected any moment."""
    wait = max(0.05, min(5.0, poll_interval))
    while True:
        yield wait
        wait = min(MAX_WAIT, wait * 2)


@dataclass
class Discovery:
    """What discovery found. ``outcome`` is None when sessions were found (``session_ids``),
    else NO_SESSION, REFUSED, UNAVAILABLE, USAGE (too many to follow) or INTERRUPTED with
    ``reason``. ``searched``: seconds actually spent looking."""

    session_ids: list[str] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    outcome: Outcome | None = None
    reason: str = ""
    rounds: int = 0
    pages: int = 0
    searched: float = 0.0


@dataclass
class ApiClock:
    """The API's clock as seen from here: ``offset`` seconds ahead of the runner's wall clock,
    learnt from every ``Date`` header and raised by any listed session created "in the
    future" (the API's clock is at least there). Until either arrives it is the runner's."""

    wall: Callable[[], float]
    offset: float = 0.0
    known: bool = False

    def now(self) -> float:
        return self.wall() + self.offset

    def answered(self, server_time: float | None, entries: Sequence[Any]) -> None:
        """Learn from one answer: its ``Date`` (``server_time``) and its entries' times."""
        wall = self.wall()
        if server_time is not None:
            self.offset, self.known = server_time - wall, True
        newest = max((t for t in map(created, entries) if t is not None), default=None)
        if newest is not None and newest > wall + self.offset:
            self.offset, self.known = newest - wall, True


class _Unread(Exception):
    """A page of the list could not be read before the deadline (API trouble, exit 6)."""


class _TooMany(Exception):
    """More to follow than the gate follows: refused with a reason, never cut."""


def _checked_page(body: Any, page: int) -> tuple[list[Any], str]:
    """The entries and the next cursor of one page; ``Transient`` (an unreadable page) when
    the body is not a list of session objects with usable ids, or its cursor is unusable."""
    if not isinstance(body, dict) or not isinstance(body.get("entries"), list):
        raise Transient(f"page {page} of the test-session list is not a list of entries")
    entries = body["entries"]
    for index, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not _UUID.match(_text(entry.get("id"))):
            raise Transient(
                f"entry {index} of page {page} of the test-session list is not a session "
                "with a usable id"
            )
    next_id = body.get("nextId")
    if next_id is None or next_id == "":
        return entries, ""
    if not isinstance(next_id, str) or not _CURSOR.fullmatch(next_id):
        shown = f"{len(next_id)} characters" if isinstance(next_id, str) else type(next_id).__name__
        raise Transient(f"page {page} of the test-session list has an unusable nextId ({shown})")
    return entries, next_id


@dataclass
class _Looker:
    """Reads whole looks (every page) for ``discover``, each page retried under the deadline."""

    client: Client
    options: DiscoveryOptions
    scope: Scope
    api: ApiClock
    poll_interval: float
    result: Discovery

    def page(self, query: list[tuple[str, str]], number: int) -> tuple[list[Any], str]:
        """One page, read again after transient trouble (``schedule.Backoff``: ``Retry-After``
        honoured, never sooner than a second after a 429) until the deadline: ``_Unread``
        then, or at once for a ``Retry-After`` beyond it."""
        retry = Backoff(base=min(1.0, max(0.1, self.poll_interval)))
        error = "no answer"
        while True:
            if self.scope.stopped:
                raise Stopped("interrupted while looking")
            left = self.scope.deadline - self.scope.now()
            if left <= 0:
                raise _Unread(f"could not read page {number} of the test-session list: {error}")
            try:
                body, server_time = self.client.list_test_sessions(
                    query, min(REQUEST_TIMEOUT, left)
                )
                entries, next_id = _checked_page(body, number)
            except (Refused, NotFound, Stopped):
                raise
            except Transient as exc:
                error = exc.message
                try:
                    pause = retry.pause(exc, self.scope.remaining())
                except RetryBeyondDeadline as beyond:
                    raise _Unread(
                        f"could not read page {number} of the test-session list: {beyond}"
                    ) from None
                log.info("%s; reading page %d again in %.1fs", exc.message, number, pause)
                self.scope.sleep(pause)
                continue
            except ApiError as exc:
                raise _Unread(f"could not read the test-session list: {exc.message}") from None
            self.result.pages += 1
            self.api.answered(server_time, entries)
            return entries, next_id

    def look(self, since: float | None, window_since: Callable[[], float]) -> list[Any]:
        """Every entry listed since ``since`` (``from``; None: all), page after page until the
        list ends or a page holds only sessions older than the window (for a list that ignores
        ``from``). ``_TooMany`` beyond ``MAX_PAGES``; a cursor that comes back is an unreadable
        list (``_Unread``)."""
        entries: list[Any] = []
        next_id: str | None = None
        cursors: set[str] = set()
        for number in range(1, MAX_PAGES + 1):
            page, next_id = self.page(list_query(self.options, since, next_id), number)
            entries.extend(page)
            if not next_id:
                return entries
            if next_id in cursors:
                raise _Unread(f"page {number} of the test-session list repeats an earlier cursor")
            cursors.add(next_id)
            oldest = max(since or 0.0, window_since())
            times = [t for t in map(created, page) if t is not None]
            if times and min(times) < oldest:
                return entries  # newest first: every later page is older than the window
        raise _TooMany(
            f"more than {MAX_PAGES * PAGE_LIMIT} test sessions are listed for this window; "
            "the gate reads at most that many: narrow it with --branch or --provider"
        )


def discover(
    client: Client,
    options: DiscoveryOptions,
    scope: Scope,
    poll_interval: float = 10.0,
    wall_now: Callable[[], float] = time.time,
) -> Discovery:
    """Look for the sessions until found, refused, the discovery window closes or ``scope``
    ends (its deadline, clock and stop are the only time used here; ``wall_now``, the runner's
    wall clock, only relates the API's ``Date`` to it, see ``ApiClock``).

    The window is ``options.discover_timeout`` seconds, cut to the deadline; looks follow
    ``discovery_waits`` and the last one is made at the window's very end. A look reads every
    page (see ``_Looker``): it is complete, or the outcome is UNAVAILABLE (a page never read by
    the deadline), REFUSED (401/403/404) or USAGE (more than ``MAX_PAGES`` pages, or more than
    ``MAX_SESSIONS`` matches: refused, never cut). Times (the lookback, "created since the gate
    started", ``from``) are the API's (``ApiClock``), never the runner's.
    """
    result = Discovery()
    started = scope.now()
    window_end = _window_end(started, scope.deadline, options.discover_timeout)
    api = ApiClock(wall_now)
    started_wall = wall_now()
    slack = LOOKBACK_SECONDS if options.commit else OVERLAP_SECONDS

    def window_since() -> float:  # by the API's clock: known after the first answer
        return started_wall + api.offset - slack

    looker = _Looker(client, options, scope, api, poll_interval, result)
    waits = discovery_waits(poll_interval)
    since: float | None = None  # the first look lists from the newest on: no runner time in it
    found: dict[str, dict[str, Any]] = {}
    while True:
        if scope.stopped:
            result.outcome, result.reason = Outcome.INTERRUPTED, "interrupted while looking"
            return result
        result.rounds += 1
        look_wall = wall_now()
        entries = _look(looker, since, window_since)
        if entries is not None or result.outcome is Outcome.UNAVAILABLE:
            result.searched = scope.now() - started
        if entries is None:  # the look ended the discovery: ``result`` says how
            return result
        oldest = window_since()
        for entry in entries:
            if matches(entry, options, oldest):
                found.setdefault(entry["id"].strip().lower(), entry)
        if found:
            return _matched(result, found, options)
        # the next look lists what was created since this one began, by the API's clock
        since = max(window_since(), look_wall + api.offset - OVERLAP_SECONDS)
        left = window_end - scope.now()
        if left <= 0:
            break
        pause = min(next(waits), left)  # the last look is at the window's end
        shown = f"{pause:.1f}" if pause < 10 else f"{pause:.0f}"  # 0.5 s is not "0s"
        log.info("no test session for %s yet; looking again in %ss", options.describe(), shown)
        scope.sleep(pause)
    result.searched = scope.now() - started
    return _none_found(result, options)


def _window_end(started: float, deadline: float, discover_timeout: float) -> float:
    """When the last look is made: at the window's end, but never so late that the deadline
    leaves it no time to be read (a look cut by the deadline would be API trouble, not "none
    found")."""
    margin = min(LAST_LOOK_MARGIN, max(0.0, deadline - started) / 10)
    return max(started, min(deadline - margin, started + discover_timeout))


def _none_found(result: Discovery, options: DiscoveryOptions) -> Discovery:
    result.outcome = Outcome.NO_SESSION
    result.reason = (
        f"no test session found for {options.describe()} in {_seconds(result.searched)} of "
        f"looking (looked {result.rounds} {'time' if result.rounds == 1 else 'times'}, "
        f"{result.pages} {'page' if result.pages == 1 else 'pages'})"
    )
    return result


def _look(
    looker: _Looker, since: float | None, window_since: Callable[[], float]
) -> list[Any] | None:
    """One complete look (every page), or None with the outcome that ends the discovery set
    on ``looker.result`` (refused, interrupted, a page never read, too many)."""
    result = looker.result
    try:
        return looker.look(since, window_since)
    except (Refused, NotFound) as exc:
        result.outcome, result.reason = Outcome.REFUSED, exc.message
    except Stopped:
        result.outcome, result.reason = Outcome.INTERRUPTED, "interrupted while looking"
    except _Unread as exc:
        result.outcome, result.reason = Outcome.UNAVAILABLE, str(exc)
    except _TooMany as exc:
        result.outcome, result.reason = Outcome.USAGE, str(exc)
    return None


def _matched(
    result: Discovery, found: dict[str, dict[str, Any]], options: DiscoveryOptions
) -> Discovery:
    """``result`` with the sessions found, or refused when they are more than the gate follows."""
    if len(found) > MAX_SESSIONS:
        result.outcome = Outcome.USAGE
        result.reason = (
            f"{len(found)} test sessions match {options.describe()}, more than the "
            f"{MAX_SESSIONS} the gate follows: narrow it with --branch, --provider or "
            "--environment"
        )
        return result
    result.entries = list(found.values())
    result.session_ids = list(found)
    return result


def _seconds(value: float) -> str:
    return f"{value:.1f}s" if value < 10 else f"{value:.0f}s"


def find_and_wait(ctx: Command, discovery: DiscoveryOptions) -> int:
    """``wait --commit``: find the sessions, then wait for them as ``wait ID...`` does, both
    under ``ctx``'s scope (the ``--timeout`` deadline and SIGINT/SIGTERM); returns the exit
    code. Reports are written on every outcome, ``no-session`` included."""
    scope = ctx.scope
    if not ctx.quiet:
        ctx.say(f"Looking for the Checkly test sessions of {discovery.describe()}")
    found = discover(ctx.client, discovery, scope, ctx.options.poll_interval)
    ended = _ended(found, discovery, scope.signal)
    if ended is not None:
        return ctx.finish_early(ended)
    if not ctx.quiet:
        for entry in found.entries:
            # listed fields are the API's text: one inert line each, never a CI command
            bits = [one_line(_text(entry.get(k)), 40) for k in ("provider", "status", "branchName")]
            what = " · ".join(b for b in bits if b)
            name = one_line(_text(entry.get("name")) or entry["id"], 120)
            ctx.say(f"Found test session '{name}' ({what}): {entry['id']}")
    # A session found by commit tested that commit; one found by branch alone may not have.
    got = deploy.BY_COMMIT if discovery.commit else deploy.GIVEN
    return gate.wait(ctx, gate.test_sessions(found.session_ids), got=got).verdict.exit_code


def _ended(found: Discovery, discovery: DiscoveryOptions, signum: int | None) -> Verdict | None:
    """The verdict of a discovery that found nothing to wait for (none found, trouble, a
    signal); None when there are sessions to wait for."""
    if signum is not None and found.outcome is None:
        found = Discovery(outcome=Outcome.INTERRUPTED, reason="interrupted")
    if found.outcome is None:
        return None
    code = found.outcome.value
    if signum is not None:
        code = 128 + signum
        found.outcome = Outcome.INTERRUPTED
        found.reason = f"interrupted by {signal_name(signum)} while looking for test sessions"
    elif found.outcome is Outcome.NO_SESSION and not discovery.fail_on_no_session:
        code = 0
    return Verdict(found.outcome, code, found.reason)

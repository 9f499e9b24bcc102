"""Find the test sessions of a commit: for runs started by Checkly's Vercel or GitHub deployment
integration (or anyone else) whose id the pipeline never saw.

``wait --commit SHA`` lists recent test sessions (``GET /v1/test-sessions``, newest first, paged
with ``nextId``), keeps those whose ``commitId`` matches (full or abbreviated, case-insensitive,
at least 7 hex digits) and whose branch, provider and environment match when given, and hands
every match to the normal ``wait`` flow. When none exists yet it looks again on a widening
schedule until the discovery window (``--discover-timeout``, inside the overall deadline) ends,
then ends with the outcome ``no-session`` (exit 8, never green unless
``--no-fail-on-no-session``).

Pure helpers (``resolve_commit``, ``matches``, ``list_query``, ``discovery_waits``) and one
shell function (``discover``) that makes the requests through ``api.Client``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TextIO

import httpx

from checkly_gate.api import ApiError, Client, NotFound, Refused, Transient
from checkly_gate.config import (
    DISCOVERY_SPECS,
    TABLE_BY_KEY,
    ConfigError,
    Options,
    check_choice,
    from_env_text,
)
from checkly_gate.gate import command_scope, finish_without_waiting, run_gate
from checkly_gate.poller import RATE_LIMIT_BASE
from checkly_gate.redact import Redactor
from checkly_gate.scope import Clock
from checkly_gate.text import one_line, signal_name
from checkly_gate.verdict import Outcome, Verdict

log = logging.getLogger("checkly_gate")

#: Where ``--commit`` (no value) or ``--commit auto`` finds the CI's own commit, first wins:
#: Checkly's own variable, GitHub Actions (also the deployment's sha on ``deployment_status``),
#: GitLab CI, Vercel, Buildkite, CircleCI, Bitbucket, Azure Pipelines, Jenkins (git plugin).
COMMIT_VARIABLES = (
    "CHECKLY_REPO_SHA",
    "GITHUB_SHA",
    "CI_COMMIT_SHA",
    "VERCEL_GIT_COMMIT_SHA",
    "BUILDKITE_COMMIT",
    "CIRCLE_SHA1",
    "BITBUCKET_COMMIT",
    "BUILD_SOURCEVERSION",
    "GIT_COMMIT",
)
AUTO = "auto"
MIN_SHA = 7
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

DEFAULT_DISCOVER_TIMEOUT = 300.0
LOOKBACK_SECONDS = 7 * 24 * 3600.0  # a commit's sessions are looked for this far back
OVERLAP_SECONDS = 120.0  # later rounds list only sessions created since the last round, minus this
PAGE_LIMIT = 100  # the API's maximum ``limit``
MAX_PAGES = 5  # pages per round: at most 500 sessions looked at per round
MAX_SESSIONS = 20  # matching sessions followed at most (the newest)
MAX_WAIT = 30.0  # the widening discovery schedule stops growing here
REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class DiscoveryOptions:
    """What identifies the sessions to wait for. ``commit`` None: any session created since the
    gate started (minus ``OVERLAP_SECONDS``) that matches the other filters."""

    commit: str | None = None
    branch: str | None = None
    provider: str | None = None
    environment: str | None = None
    discover_timeout: float = DEFAULT_DISCOVER_TIMEOUT
    fail_on_no_session: bool = True

    def describe(self) -> str:
        """``commit 4f2a9c1 on branch main (provider VERCEL)`` for people."""
        parts = [f"commit {self.commit[:12]}" if self.commit else "a new session"]
        if self.branch:
            parts.append(f"on branch {self.branch}")
        extra = [
            f"{what} {value}"
            for what, value in (("provider", self.provider), ("environment", self.environment))
            if value
        ]
        text = " ".join(parts)
        return one_line(text + (f" ({', '.join(extra)})" if extra else ""), 200)


def resolve_commit(value: str, env: Mapping[str, str]) -> str:
    """A commit SHA from ``--commit``: the value itself, or with ``auto`` the CI's own commit
    (``COMMIT_VARIABLES``). Lower-case hex, 7 to 64 digits; ``ConfigError`` otherwise."""
    text = value.strip()
    where = "--commit"
    if text.lower() == AUTO:
        for name in COMMIT_VARIABLES:
            if env.get(name, "").strip():
                text, where = env[name].strip(), f"--commit auto ({name})"
                break
        else:
            raise ConfigError(
                "--commit auto: no commit in the environment "
                f"(looked at {', '.join(COMMIT_VARIABLES)}); pass the SHA"
            )
    if not _SHA.match(text):
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ConfigError(f"{where}: expected a commit SHA of 7 to 64 hex digits, got {shown!r}")
    return text.lower()


#: Environment variables read when neither the flag nor a session id is given (so the GitHub
#: Action and the GitLab templates pass an input with one environment line); declared once in
#: ``config.OPTION_TABLE``.
ENV = {spec.key: spec.env for spec in DISCOVERY_SPECS if spec.env}


def _from_env(env: Mapping[str, str], key: str) -> Any:
    """The option's value from its variable, parsed as the table says (``None`` when unset)."""
    name = ENV[key]
    return from_env_text(TABLE_BY_KEY[key], env.get(name, ""), name)


def parse_options(
    commit: str | None,
    branch: str | None,
    provider: str | None,
    environment: str | None,
    discover_timeout: float | None,
    fail_on_no_session: bool | None,
    env: Mapping[str, str],
    use_env: bool = True,
) -> DiscoveryOptions | None:
    """Discovery options from the flags, else (``use_env``) from ``ENV``; ``None`` when none
    is given at all. ``ConfigError`` (one line, exit 2) for a bad SHA, provider or timeout."""
    flags = (discover_timeout, fail_on_no_session)
    if use_env:
        commit = commit if commit is not None else _from_env(env, "commit")
        branch = branch if branch is not None else _from_env(env, "branch")
        provider = provider if provider is not None else _from_env(env, "provider")
        environment = environment if environment is not None else _from_env(env, "environment")
        if discover_timeout is None:
            discover_timeout = _from_env(env, "discover-timeout")
        if fail_on_no_session is None:
            fail_on_no_session = _from_env(env, "fail-on-no-session")
        if all(v is None for v in (commit, branch, provider, environment)):
            discover_timeout, fail_on_no_session = flags  # the environment's are for --commit
    given = (commit, branch, provider, environment)
    if all(v is None for v in given):
        if discover_timeout is not None or fail_on_no_session is not None:
            raise ConfigError("--discover-timeout and --[no-]fail-on-no-session need --commit")
        return None
    values: dict[str, Any] = {}
    if commit is not None:
        values["commit"] = resolve_commit(commit, env)
    for key, value in (("branch", branch), ("environment", environment)):
        if value is not None:
            if not value.strip():
                raise ConfigError(f"--{key} must not be empty")
            values[key] = value.strip()
    if provider is not None:
        values["provider"] = check_choice(TABLE_BY_KEY["provider"], provider, "--provider")
    if discover_timeout is not None:
        if not discover_timeout >= 0 or discover_timeout == float("inf"):
            raise ConfigError(f"--discover-timeout must be at least 0, got {discover_timeout:g}")
        values["discover_timeout"] = float(discover_timeout)
    if fail_on_no_session is not None:
        values["fail_on_no_session"] = fail_on_no_session
    return DiscoveryOptions(**values)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def commit_matches(found: Any, wanted: str) -> bool:
    """Full or abbreviated SHAs, case-insensitive: the shorter (at least 7 digits) starts the
    longer."""
    have = _text(found).lower()
    wanted = wanted.strip().lower()
    short, long_ = sorted((have, wanted), key=len)
    return len(short) >= MIN_SHA and long_.startswith(short)


def matches(entry: Any, options: DiscoveryOptions) -> bool:
    """Whether a ``TestSessionListEntry`` is one of the sessions looked for. The filters sent to
    the API (branch, provider) are checked again here: an API that ignores one never widens the
    match."""
    if not isinstance(entry, dict) or not _UUID.match(_text(entry.get("id"))):
        return False  # an id that is not a UUID never reaches a request path
    if options.commit is not None and not commit_matches(entry.get("commitId"), options.commit):
        return False
    for key, wanted in (
        ("branchName", options.branch),
        ("provider", options.provider),
        ("environment", options.environment),
    ):
        if wanted is not None and _text(entry.get(key)).lower() != wanted.lower():
            return False
    return True


def list_query(
    options: DiscoveryOptions, since: float, next_id: str | None = None
) -> list[tuple[str, str]]:
    """Query pairs of one ``GET /v1/test-sessions`` page: ``from`` (Unix seconds), ``limit``,
    the branch and provider filters, and ``nextId`` for a following page."""
    query = [("from", str(int(since))), ("limit", str(PAGE_LIMIT))]
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
    else NO_SESSION, REFUSED, UNAVAILABLE or INTERRUPTED with ``reason``."""

    session_ids: list[str] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    outcome: Outcome | None = None
    reason: str = ""
    rounds: int = 0
    pages: int = 0


def _page(client: Client, query: Sequence[tuple[str, str]], timeout: float) -> tuple[list, str]:
    body = client.list_test_sessions(query, timeout)
    if not isinstance(body, dict) or not isinstance(body.get("entries"), list):
        raise Transient("the test-session list is not a list of entries")
    next_id = body.get("nextId")
    return body["entries"], next_id if isinstance(next_id, str) else ""


def discover(
    client: Client,
    options: DiscoveryOptions,
    deadline: float,
    clock: Clock,
    wall_now: Callable[[], float],
    poll_interval: float = 10.0,
    should_stop: Callable[[], bool] = lambda: False,
) -> Discovery:
    """Look for the sessions until found, refused, or the discovery window closes.

    The window is ``options.discover_timeout`` seconds, cut to ``deadline``: no look starts
    after it. A look reads up to ``MAX_PAGES`` pages, each request bounded by ``REQUEST_TIMEOUT``
    and the deadline. 429 waits ``Retry-After`` (ending the search when that is beyond the
    window), never less than the next pause of the schedule or one second; other transient
    trouble waits the next pause of the schedule.
    """
    result = Discovery()
    window_end = min(deadline, clock.now() + options.discover_timeout)
    since = wall_now() - (LOOKBACK_SECONDS if options.commit else OVERLAP_SECONDS)
    waits = discovery_waits(poll_interval)
    read = False
    error = ""
    found: dict[str, dict[str, Any]] = {}
    while True:
        if should_stop():
            result.outcome, result.reason = Outcome.INTERRUPTED, "interrupted while looking"
            return result
        result.rounds += 1
        round_started = wall_now()
        pause: float | None = None
        try:
            next_id: str | None = None
            seen_cursors: set[str] = set()
            for _ in range(MAX_PAGES):
                # A look once begun is read to its end (at most MAX_PAGES pages) within the
                # overall deadline; the window only decides whether another look starts.
                left = deadline - clock.now()
                if left <= 0:
                    break
                entries, next_id = _page(
                    client, list_query(options, since, next_id), min(REQUEST_TIMEOUT, left)
                )
                result.pages += 1
                read = True
                for entry in entries:
                    if matches(entry, options):
                        found.setdefault(entry["id"].strip().lower(), entry)
                if not entries or not next_id or next_id in seen_cursors:
                    break
                seen_cursors.add(next_id)
            else:
                log.info(
                    "looked at %d pages of test sessions; older ones are not searched", MAX_PAGES
                )
            since = round_started - OVERLAP_SECONDS
        except (Refused, NotFound) as exc:
            result.outcome, result.reason = Outcome.REFUSED, exc.message
            return result
        except Transient as exc:
            error = exc.message
            # The schedule (for a 429 at least ``RATE_LIMIT_BASE``) is the floor, as in
            # ``poller.retry_pause``: Retry-After 0, negative or a past date never looks sooner.
            pause = max(next(waits), RATE_LIMIT_BASE if exc.status == 429 else 0.0)
            if exc.retry_after is not None and exc.retry_after > pause:
                pause = exc.retry_after
                log.info("%s; waiting %.1fs as Retry-After asks", exc.message, pause)
            else:
                log.info("%s; looking again later", exc.message)
        except ApiError as exc:
            error = exc.message
        if found:
            newest = list(found.values())[:MAX_SESSIONS]
            result.entries = newest
            result.session_ids = list(found)[:MAX_SESSIONS]
            return result
        if pause is None:
            pause = next(waits)
        left = window_end - clock.now()
        if pause >= left:
            break
        shown = f"{pause:.1f}" if pause < 10 else f"{pause:.0f}"  # 0.5 s is not "0s"
        log.info("no test session for %s yet; looking again in %ss", options.describe(), shown)
        clock.sleep(pause)
    seconds = f"{options.discover_timeout:g}s"
    if not read:
        result.outcome = Outcome.UNAVAILABLE
        result.reason = f"could not list test sessions within {seconds}: {error or 'no answer'}"
    else:
        result.outcome = Outcome.NO_SESSION
        result.reason = (
            f"no test session found for {options.describe()} within {seconds} "
            f"(looked {result.rounds} {'time' if result.rounds == 1 else 'times'}, "
            f"{result.pages} {'page' if result.pages == 1 else 'pages'})"
        )
    return result


def run_discovered(
    options: Options,
    discovery: DiscoveryOptions,
    out: TextIO,
    env: Mapping[str, str],
    colour: bool = False,
    transport: httpx.BaseTransport | None = None,
    handle_signals: bool = True,
) -> int:
    """``wait --commit``: find the sessions, then wait for them as ``wait ID...`` does, both
    under one ``Scope`` (the ``--timeout`` deadline and SIGINT/SIGTERM); returns the exit code.
    Reports are written on every outcome, ``no-session`` included."""
    started_wall = datetime.now(timezone.utc)
    redactor = Redactor([options.api_key])
    quiet = options.verbosity < 0
    with command_scope(options, env, transport, handle_signals) as (scope, client):
        if not quiet:
            out.write(f"Looking for the Checkly test sessions of {discovery.describe()}\n")
            out.flush()
        found = discover(
            client,
            discovery,
            scope.deadline,
            scope,
            time.time,
            options.poll_interval,
            should_stop=lambda: scope.stopped,
        )
        signum = scope.signal
        if signum is not None and found.outcome is None:
            found = Discovery(outcome=Outcome.INTERRUPTED, reason="interrupted")
        if found.outcome is not None:
            code = found.outcome.value
            if signum is not None:
                code = 128 + signum
                found.outcome = Outcome.INTERRUPTED
                name = signal_name(signum)
                found.reason = f"interrupted by {name} while looking for test sessions"
            elif found.outcome is Outcome.NO_SESSION and not discovery.fail_on_no_session:
                code = 0
            verdict = Verdict(found.outcome, code, found.reason)
            return finish_without_waiting(
                verdict, scope, client, options, out, env, redactor, started_wall, colour
            )
        if not quiet:
            for entry in found.entries:
                bits = [_text(entry.get(k)) for k in ("provider", "status", "branchName")]
                what = " · ".join(b for b in bits if b)
                name = one_line(_text(entry.get("name")) or entry["id"], 120)
                out.write(redactor(f"Found test session '{name}' ({what}): {entry['id']}") + "\n")
            out.flush()
        waiting = dataclasses.replace(options, session_ids=tuple(found.session_ids))
        gate_run = run_gate(
            waiting, out, env=env, colour=colour, client=client, redactor=redactor, scope=scope
        )
        return gate_run.verdict.exit_code
    raise AssertionError("unreachable")  # pragma: no cover (for type checkers)

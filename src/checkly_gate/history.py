"""New or known: label each failed run by the history of its error groups (issue 21, item 2).

For every error group of a run that failed the gate the label is one of

- ``new``: the group's ``firstSeen`` is not earlier than this session's ``startedAt``;
- ``seen before``: ``firstSeen`` is earlier (the label says when, and ``lastSeen``);
- ``failing on main too``: the newest *finished* (PASSED or FAILED) session on the default
  branch, other than this one, is FAILED and lists the group in its ``errorGroupIds``;
- ``unknown``: the facts could not be read (429, an error, the request budget, the deadline, a
  missing or unreadable timestamp, a run without error groups). Unknown never passes
  ``--fail-on new`` and no label ever changes the verdict by itself.

A run's label combines its groups' (``run_label``): unknown if any is, else new if any is, else
failing on main too if any is, else seen before. "Known" = seen before or failing on main too.

Sources: ``GET /v1/test-session-error-groups/{id}`` (``firstSeen``, ``lastSeen``) and
``GET /v1/test-sessions?branches=<default>`` (newest first; entries carry ``status`` and
``errorGroupIds``), with ``errorGroupId=<id>`` per group only when the newest main entry has no
readable ``errorGroupIds``. Cost: one request (the list) when the caller hands in the error
group bodies it read (``groups``: the gate's explain phase does), else at most
``1 + MAX_GROUPS`` requests; ``MAX_GROUPS`` more in the fallback; every one bounded by the
client's scope, ``REQUEST_TIMEOUT`` and ``deadline``, and the first 429 ends the phase (the
rest stays unknown). Pure decisions up top, the bounded
fetch (shell) below; ``default_branch(env)`` reads the CI's word for the default branch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import Any

from checkly_gate.api import ApiError, Client, Misconfigured, OutOfTime, Stopped, Transient
from checkly_gate.models import unix_time as parse_time  # firstSeen, lastSeen
from checkly_gate.scope import Clock
from checkly_gate.text import one_line

log = logging.getLogger("checkly_gate")

NEW = "new"
SEEN_BEFORE = "seen before"
ON_MAIN = "failing on main too"
UNKNOWN = "unknown"
#: Labels of a failure that is not new (``--fail-on new`` lets these pass; never ``unknown``).
KNOWN = frozenset({SEEN_BEFORE, ON_MAIN})
MAX_GROUPS = 20  # as details.MAX_GROUPS: the explain budget of error groups a run
REQUEST_TIMEOUT = 10.0
LIST_LIMIT = 10  # list entries read to find the newest finished one
_FINISHED = ("PASSED", "FAILED")
_NOT_READ = "not read"


# --------------------------------------------------------------------------- pure decisions


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Label:
    """The label of one error group (or one run): ``label`` is ``new``, ``seen before``,
    ``failing on main too`` or ``unknown``; ``first_seen``/``last_seen`` Unix seconds from the
    error group; ``why`` says why a label is unknown (one clean line)."""

    label: str
    first_seen: float | None = None
    last_seen: float | None = None
    why: str = ""

    @property
    def known(self) -> bool:
        """Seen before or failing on main too (``--fail-on new`` lets it pass)."""
        return self.label in KNOWN

    def text(self) -> str:
        """One line for every report: ``seen before (first 2026-12-03 10:00 UTC, last ...)``."""
        if self.label == UNKNOWN:
            return f"{UNKNOWN} ({self.why})" if self.why else UNKNOWN
        if self.label == NEW:
            return NEW
        when = []
        if self.first_seen is not None:
            when.append(f"first {_iso(self.first_seen)}")
        if self.last_seen is not None:
            when.append(f"last {_iso(self.last_seen)}")
        return f"{self.label} ({', '.join(when)})" if when else self.label


def label_group(
    group: Mapping[str, Any] | None,
    session_started: float | None,
    on_main: bool | None,
    why: str = "",
) -> Label:
    """Label one error group from its ``TestSessionErrorGroup`` body (untrusted; ``None`` when
    not read, then ``why`` says why), the session's ``startedAt`` (Unix seconds) and whether
    main's newest finished session failed with it (``None``: not known). Failing on main wins
    over the timestamps; without readable timestamps the label is unknown."""
    first = parse_time(group.get("firstSeen")) if group is not None else None
    last = parse_time(group.get("lastSeen")) if group is not None else None
    if on_main:
        return Label(ON_MAIN, first, last)
    if group is None:
        return Label(UNKNOWN, why=why or "its error group was not read")
    if first is None:
        return Label(UNKNOWN, None, last, "the error group has no readable firstSeen")
    if session_started is None:
        return Label(UNKNOWN, first, last, "the session has no readable startedAt")
    if first < session_started:
        return Label(SEEN_BEFORE, first, last)
    return Label(NEW, first, last)


def run_label(labels: Sequence[Label]) -> Label:
    """One run's label from its groups' (in the run's order): unknown if any is (or if there
    are none), else new if any is, else failing on main too if any is, else seen before (the
    earliest ``first_seen``, the latest ``last_seen``)."""
    if not labels:
        return Label(UNKNOWN, why="the failure has no error group")
    for wanted in (UNKNOWN, NEW, ON_MAIN):
        found = [item for item in labels if item.label == wanted]
        if found:
            return found[0]
    firsts = [item.first_seen for item in labels if item.first_seen is not None]
    lasts = [item.last_seen for item in labels if item.last_seen is not None]
    return Label(SEEN_BEFORE, min(firsts, default=None), max(lasts, default=None))


def newest_finished(entries: Any, own_id: str) -> Mapping[str, Any] | None:
    """The first (the list is newest first) PASSED or FAILED entry of a
    ``ListTestSessionsResponse.entries`` that is not the session being judged; ``None``."""
    if not isinstance(entries, list):
        return None
    own = own_id.strip().lower()
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        ident = entry.get("id")
        if isinstance(ident, str) and ident.strip().lower() == own:
            continue
        if entry.get("status") in _FINISHED:
            return entry
    return None


def failed_with(entry: Mapping[str, Any] | None, group_id: str) -> bool | None:
    """Whether that list entry failed with ``group_id``: ``False`` for no entry or a PASSED
    one, ``True``/``False`` for a FAILED one with a readable ``errorGroupIds``, else ``None``."""
    if entry is None or entry.get("status") == "PASSED":
        return False
    ids = entry.get("errorGroupIds")
    if not isinstance(ids, list):
        return None
    return group_id in ids


# --------------------------------------------------------------------------- default branch


def _branch(value: str | None) -> str:
    text = one_line(value, 255) if isinstance(value, str) else ""
    for prefix in ("refs/heads/",):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text.strip()


def default_branch(env: Mapping[str, str], explicit: str = "") -> tuple[str, str]:
    """``(branch, source)``: the branch whose newest finished session "main" means, and where
    it was read; ``("", "")`` when nothing names one.

    Order: ``explicit`` (``--default-branch``); a pull/merge request's target branch (the branch
    this change lands on: ``GITHUB_BASE_REF``, ``CI_MERGE_REQUEST_TARGET_BRANCH_NAME``,
    ``SYSTEM_PULLREQUEST_TARGETBRANCH``, ``BUILDKITE_PULL_REQUEST_BASE_BRANCH``,
    ``BITBUCKET_PR_DESTINATION_BRANCH``, Jenkins' ``CHANGE_TARGET``); the repository's default
    branch (GitHub: the event payload's ``repository.default_branch``; GitLab:
    ``CI_DEFAULT_BRANCH``; Buildkite: ``BUILDKITE_PIPELINE_DEFAULT_BRANCH``). Every value is
    cleaned by ``text.one_line`` (``refs/heads/`` dropped)."""
    own = _branch(explicit)
    if own:
        return own, "--default-branch"
    targets = (
        "GITHUB_BASE_REF",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
        "SYSTEM_PULLREQUEST_TARGETBRANCH",
        "BUILDKITE_PULL_REQUEST_BASE_BRANCH",
        "BITBUCKET_PR_DESTINATION_BRANCH",
        "CHANGE_TARGET",
    )
    for name in targets:
        value = _branch(env.get(name))
        if value and value != "false":  # Buildkite says "false" outside pull requests
            return value, name
    if env.get("GITHUB_ACTIONS") == "true":
        from checkly_gate.ci import github

        payload, _problem = github.read_event(env)
        repository = payload.get("repository") if isinstance(payload, dict) else None
        value = _branch(repository.get("default_branch") if isinstance(repository, dict) else None)
        if value:
            return value, "the event's repository.default_branch"
    for name in ("CI_DEFAULT_BRANCH", "BUILDKITE_PIPELINE_DEFAULT_BRANCH"):
        value = _branch(env.get(name))
        if value:
            return value, name
    return "", ""


# --------------------------------------------------------------------------- bounded fetch


@dataclass
class History:
    """What the fetch found: a label per error group id, the requests it made, the newest
    finished session on the default branch (its id, or ""), and notes for the reports."""

    labels: dict[str, Label] = field(default_factory=dict)
    requests: int = 0
    branch: str = ""
    main_session: str = ""
    notes: list[str] = field(default_factory=list)

    def label_of(self, group_ids: Iterable[str]) -> Label:
        """The run label of a run with these error groups (``Run.error_group_ids``)."""
        return run_label(
            [self.labels.get(g) or Label(UNKNOWN, why="not looked up") for g in group_ids]
        )


class _Stop(Exception):
    """The phase ends: a 429, a stop, the deadline or a configuration problem."""


@dataclass
class _Fetch:
    """The state of one ``fetch_history`` call, one method per phase.

    ``todo`` are the groups to label (at most ``MAX_GROUPS``); ``bodies`` their error group
    bodies read so far (untrusted), ``on_main`` whether main's newest finished session failed
    with each (``None``: not known), ``why`` why a body could not be read, ``stopped`` why the
    fetch ended early ("" : it did not). Phases, in order: ``list_main`` (the default branch's
    newest sessions), ``fall_back_per_group`` (``errorGroupId=`` per group when that list has
    no readable ``errorGroupIds``), ``read_groups`` (the bodies not given), then ``decide``
    (pure: a label per group). Every request goes through ``call``; its ``_Stop`` ends every
    phase left (``read``)."""

    client: Client
    todo: list[str]
    session_id: str
    session_started: float | None
    branch: str
    deadline: float
    clock: Clock
    found: History
    bodies: dict[str, Mapping[str, Any] | None]
    on_main: dict[str, bool | None]
    why: dict[str, str] = field(default_factory=dict)
    stopped: str = ""

    def call(self, what: str, fetch: Callable[[float], Any]) -> Any:
        """One request ``fetch(timeout)`` (seconds: ``REQUEST_TIMEOUT`` or what is left before
        ``deadline``, counted in ``found.requests``): its answer, or ``_NOT_READ`` when it
        failed. Raises ``_Stop`` (and sets ``stopped``) with 0.5 s or less left, on a stop,
        the deadline, a configuration problem or the first 429."""
        left = self.deadline - self.clock.now()
        if left <= 0.5:
            self.stopped = "no time left before the deadline"
            raise _Stop
        self.found.requests += 1
        try:
            return fetch(min(REQUEST_TIMEOUT, left))
        except (Stopped, OutOfTime, Misconfigured) as exc:
            log.info("stopped fetching %s: %s", what, exc.message)
            self.stopped = "the gate stopped asking (a stop or the deadline)"
            raise _Stop from None
        except Transient as exc:
            if exc.status == 429:
                log.info("rate limited while fetching %s; skipping the rest", what)
                self.stopped = "the API's rate limit (429): the gate stopped asking"
                raise _Stop from None
            log.info("%s unavailable: %s", what, exc.message)
            return _NOT_READ
        except ApiError as exc:
            log.info("%s unavailable: %s", what, exc.message)
            return _NOT_READ
        except Exception as exc:  # never let a label break the verdict
            log.info("%s failed: %s", what, type(exc).__name__)
            return _NOT_READ

    def read(self) -> None:
        """Run the reading phases in order until one raises ``_Stop`` (one request, then
        ``MAX_GROUPS`` at most per phase)."""
        try:
            if not self.branch:
                self.found.notes.append(
                    "no default branch known (set --default-branch): failing on main not checked"
                )
            elif self.list_main():
                self.fall_back_per_group()
            self.read_groups()
        except _Stop:
            pass

    def list_main(self) -> bool:
        """``GET /v1/test-sessions?branches=<branch>&limit=LIST_LIMIT`` (newest first): sets
        ``found.main_session`` (the newest finished one but this session, or "") and
        ``on_main`` from its ``errorGroupIds``. ``False`` (and a note) when the list could not
        be read, or holds no finished session but has more pages (not known, not "passed")."""
        query = [("branches", self.branch), ("limit", str(LIST_LIMIT))]
        answer = self.call(
            "the default branch's sessions", partial(self.client.list_test_sessions, query)
        )
        listed = answer[0] if isinstance(answer, tuple) else None
        entries = listed.get("entries") if isinstance(listed, dict) else None
        newest = newest_finished(entries, self.session_id) if entries is not None else None
        more = isinstance(listed, dict) and bool(listed.get("nextId"))
        if entries is None or (newest is None and more):
            self.found.notes.append(f"the sessions of {self.branch!r} could not be read")
            return False
        self.found.main_session = str(newest.get("id") or "") if newest else ""
        for group_id in self.todo:
            self.on_main[group_id] = failed_with(newest, group_id)
        return True

    def fall_back_per_group(self) -> None:
        """For each group main's newest finished session does not say about (no readable
        ``errorGroupIds``): ``GET /v1/test-sessions?branches=<branch>&errorGroupId=<id>``;
        failing on main when that list's newest finished entry is ``found.main_session``."""
        for group_id in self.todo:
            if self.on_main[group_id] is not None or not self.found.main_session:
                continue
            query = [("branches", self.branch), ("errorGroupId", group_id)]
            query.append(("limit", str(LIST_LIMIT)))
            answer = self.call(
                "sessions of an error group", partial(self.client.list_test_sessions, query)
            )
            body = answer[0] if isinstance(answer, tuple) else None
            rows = body.get("entries") if isinstance(body, dict) else None
            if isinstance(rows, list):
                first = newest_finished(rows, self.session_id)
                self.on_main[group_id] = bool(first and first.get("id") == self.found.main_session)

    def read_groups(self) -> None:
        """``GET /v1/test-session-error-groups/{id}`` for each group not in ``bodies``; an
        answer that is not an object leaves the body unread (with its ``why``)."""
        for group_id in self.todo:
            if group_id in self.bodies:
                continue
            answer = self.call("an error group", partial(self.client.error_group, group_id))
            if isinstance(answer, Mapping):
                self.bodies[group_id] = answer
            else:
                self.why[group_id] = "the API did not answer readably"

    def decide(self) -> None:
        """Pure: ``label_group`` per group into ``found.labels``, and a note when the fetch
        stopped early."""
        for group_id in self.todo:
            reason = self.why.get(group_id) or self.stopped or "not read"
            self.found.labels[group_id] = label_group(
                self.bodies.get(group_id), self.session_started, self.on_main[group_id], reason
            )
        if self.stopped:
            self.found.notes.append(f"history labels incomplete: {self.stopped}")


def fetch_history(
    client: Client,
    group_ids: Sequence[str],
    session_id: str,
    session_started: float | None,
    branch: str,
    deadline: float,
    clock: Clock,
    groups: Mapping[str, Mapping[str, Any]] | None = None,
) -> History:
    """Label the error groups ``group_ids`` (of runs that failed the gate, first seen first;
    beyond ``MAX_GROUPS`` they are unknown) of session ``session_id``.

    ``groups`` are error group bodies already fetched (the explain phase's), so each group is
    fetched at most once per command. ``branch`` is ``default_branch(...)``'s ("" : failing on
    main is not looked at). Never raises for API trouble: what could not be read is unknown.
    The phases are ``_Fetch``'s."""
    found = History(branch=branch)
    todo = list(dict.fromkeys(group_ids))
    for group_id in todo[MAX_GROUPS:]:
        found.labels[group_id] = Label(UNKNOWN, why=f"beyond the budget of {MAX_GROUPS} groups")
    todo = todo[:MAX_GROUPS]
    if not todo:
        return found
    given = groups or {}
    fetch = _Fetch(
        client,
        todo,
        session_id,
        session_started,
        branch,
        deadline,
        clock,
        found,
        bodies={g: given.get(g) for g in todo if given.get(g) is not None},
        on_main=dict.fromkeys(todo),
    )
    fetch.read()
    fetch.decide()
    return found

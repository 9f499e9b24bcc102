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
readable ``errorGroupIds``. Cost: at most ``1 + MAX_GROUPS`` requests (``2 * MAX_GROUPS + 1`` in
the fallback), every one bounded by the client's scope, ``REQUEST_TIMEOUT`` and ``deadline``,
and the first 429 ends the phase (the rest stays unknown). Pure decisions up top, the bounded
fetch (shell) below; ``default_branch(env)`` reads the CI's word for the default branch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from checkly_gate.api import ApiError, Client, Misconfigured, OutOfTime, Stopped, Transient
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


def parse_time(value: Any) -> float | None:
    """An API timestamp (``2026-12-06T19:30:00.123Z``) as Unix seconds; ``None`` otherwise."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"  # Python 3.10's fromisoformat has no "Z"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


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
    main is not looked at). Never raises for API trouble: what could not be read is unknown."""
    found = History(branch=branch)
    todo = list(dict.fromkeys(group_ids))
    for group_id in todo[MAX_GROUPS:]:
        found.labels[group_id] = Label(UNKNOWN, why=f"beyond the budget of {MAX_GROUPS} groups")
    todo = todo[:MAX_GROUPS]
    if not todo:
        return found
    stopped = ""

    def call(what: str, fetch: Any) -> Any:
        nonlocal stopped
        left = deadline - clock.now()
        if left <= 0.5:
            stopped = "no time left before the deadline"
            raise _Stop
        found.requests += 1
        try:
            return fetch(min(REQUEST_TIMEOUT, left))
        except (Stopped, OutOfTime, Misconfigured) as exc:
            log.info("stopped fetching %s: %s", what, exc.message)
            stopped = "the gate stopped asking (a stop or the deadline)"
            raise _Stop from None
        except Transient as exc:
            if exc.status == 429:
                log.info("rate limited while fetching %s; skipping the rest", what)
                stopped = "the API's rate limit (429): the gate stopped asking"
                raise _Stop from None
            log.info("%s unavailable: %s", what, exc.message)
            return _NOT_READ
        except ApiError as exc:
            log.info("%s unavailable: %s", what, exc.message)
            return _NOT_READ
        except Exception as exc:  # never let a label break the verdict
            log.info("%s failed: %s", what, type(exc).__name__)
            return _NOT_READ

    on_main: dict[str, bool | None] = dict.fromkeys(todo)
    bodies: dict[str, Mapping[str, Any] | None] = {
        g: (groups or {}).get(g) for g in todo if (groups or {}).get(g) is not None
    }
    why: dict[str, str] = {}
    try:
        if branch:
            query = [("branches", branch), ("limit", str(LIST_LIMIT))]
            answer = call(
                "the default branch's sessions",
                lambda t: client.list_test_sessions(query, t),
            )
            listed = answer[0] if isinstance(answer, tuple) else None
            entries = listed.get("entries") if isinstance(listed, dict) else None
            newest = newest_finished(entries, session_id) if entries is not None else None
            more = isinstance(listed, dict) and bool(listed.get("nextId"))
            if entries is not None and newest is None and more:
                entries = None  # no finished one among the newest: not known, not "passed"
            if entries is None:
                found.notes.append(f"the sessions of {branch!r} could not be read")
            else:
                found.main_session = str(newest.get("id") or "") if newest else ""
                for group_id in todo:
                    on_main[group_id] = failed_with(newest, group_id)
            for group_id in todo:
                if entries is None or on_main[group_id] is not None or not found.main_session:
                    continue
                pair = [("branches", branch), ("errorGroupId", group_id)]
                pair.append(("limit", str(LIST_LIMIT)))
                answer = call(
                    "sessions of an error group",
                    lambda t, q=pair: client.list_test_sessions(q, t),  # type: ignore[misc]
                )
                body = answer[0] if isinstance(answer, tuple) else None
                rows = body.get("entries") if isinstance(body, dict) else None
                if isinstance(rows, list):
                    first = newest_finished(rows, session_id)
                    on_main[group_id] = bool(first and first.get("id") == found.main_session)
        else:
            found.notes.append(
                "no default branch known (set --default-branch): failing on main not checked"
            )
        for group_id in todo:
            if group_id in bodies:
                continue
            answer = call("an error group", lambda t, g=group_id: client.error_group(g, t))
            if isinstance(answer, Mapping):
                bodies[group_id] = answer
            else:
                why[group_id] = "the API did not answer readably"
    except _Stop:
        pass
    for group_id in todo:
        reason = why.get(group_id) or stopped or "not read"
        found.labels[group_id] = label_group(
            bodies.get(group_id), session_started, on_main[group_id], reason
        )
    if stopped:
        found.notes.append(f"history labels incomplete: {stopped}")
    return found

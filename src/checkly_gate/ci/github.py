"""GitHub Actions: annotations, step outputs, the job summary and safe log groups.

Everything printed goes through the runner's workflow-command parser, so untrusted text (check
names, error messages, API errors) is escaped the way the Actions toolkit escapes it, and the
progress output and verdict are fenced with ``stop-commands`` under a random token.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from checkly_gate.ci.base import (
    Commit,
    Integration,
    commits_from,
    env_text,
    first,
    safe_url,
    sha_value,
    unchanged,
)
from checkly_gate.files import append_text
from checkly_gate.outcomes import NO_TEXT_CHECK_SESSION, CategoryFacts, facts
from checkly_gate.redact import Secrets
from checkly_gate.reports import GateRun, session_link
from checkly_gate.reports.evidence import Evidence, evidence_line
from checkly_gate.text import one_line, plain_text
from checkly_gate.verdict import Policy, Run, SessionVerdict, policy_flags

# GitHub shows at most 10 error and 10 warning annotations per step.
ANNOTATION_LIMIT = 10
# A step summary larger than 1 MiB is not uploaded at all (GitHub docs), so stay below it.
SUMMARY_LIMIT_BYTES = 1024 * 1024
NAME_LIMIT = 200
MESSAGE_LIMIT = 1000


def escape_data(text: str) -> str:
    """Escape a command message as the Actions toolkit does (``%``, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a command property value: as ``escape_data`` plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", **properties: str) -> str:
    """One workflow command line, ``::name k=v,...::message``, with everything escaped."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def group_start(title: str) -> str:
    """Open a collapsible log group."""
    return f"::group::{escape_data(one_line(title))}"


def group_end() -> str:
    return "::endgroup::"


def new_token() -> str:
    """A token nobody can guess, for ``stop-commands``."""
    return uuid.uuid4().hex


def new_delimiter() -> str:
    """A heredoc delimiter for ``GITHUB_OUTPUT`` that no value can anticipate."""
    return "ghadelimiter_" + uuid.uuid4().hex


def stop_commands(token: str) -> str:
    """Stop processing workflow commands until ``resume_commands(token)`` is printed."""
    return f"::stop-commands::{token}"


def resume_commands(token: str) -> str:
    return f"::{token}::"


# --- annotations ---------------------------------------------------------------------------


def _where(run: Run) -> str:
    location = run.latest.run_location
    return f" ({one_line(location, 60)})" if location else ""


def _run_error(
    run: Run,
    error_messages: Mapping[str, str],
    session: str,
    evidence: Evidence | None = None,
    policy: Policy | None = None,
    check_session: bool = False,
    label: str = "",
) -> str:
    """The ``::error`` of a run that failed the gate; ``label``: its history label's text."""
    name = one_line(run.name, NAME_LIMIT)
    title = f"{name} failed"
    flags = policy_flags(run, policy) if policy is not None else ()
    why = facts(run.category).message
    if flags:
        tries = len(run.failed_attempts)
        after = f" ({tries} failed attempt{'s' * (tries != 1)})" if tries else ""
        why = f"{why}{after}; failed by {' and '.join(flags)}"
    if label:
        why = f"{why} · {label}"
    lines = [f"{name}{_where(run)}: {why}{session}"]
    seen: set[str] = set()
    for group in run.error_group_ids:
        text = error_messages.get(group)
        if text and text not in seen:
            seen.add(text)
            lines.append(plain_text(text, MESSAGE_LIMIT))
    if check_session and not run.error_group_ids:
        lines.append(NO_TEXT_CHECK_SESSION + ":")
    lines += [line for line in (evidence_line(evidence or {}, run),) if line]
    if run.latest.link:
        lines.append(f"Result: {one_line(run.latest.link, 500)}")
    return command("error", "\n".join(lines), title=title)


def _run_warning(
    run: Run,
    session: str,
    evidence: Evidence | None = None,
    row: CategoryFacts | None = None,
    said: str = "",
) -> str:
    """The ``::warning`` of a flaky or degraded run, or of a run the context set aside: then
    ``row`` is its mark's (``SessionVerdict.row``) and ``said`` its ``SetAside.says``."""
    name = one_line(run.name, NAME_LIMIT)
    row = row or facts(run.category)
    tries = len(run.failed_attempts)
    after = f" ({tries} failed attempt{'s' * (tries != 1)})" if tries else ""
    lines = [f"{name}{_where(run)}: {row.message}{after}{session}"]
    if said:
        lines.append(one_line(said, MESSAGE_LIMIT))
    lines += [line for line in (evidence_line(evidence or {}, run),) if line]
    if run.latest.link:
        lines.append(f"Result: {one_line(run.latest.link, 500)}")
    title = f"{name}: {row.label}" if said else f"{name} is {row.label}"
    return command("warning", "\n".join(lines), title=title)


def _session_label(sv: SessionVerdict) -> str:
    return one_line(sv.session.display_name if sv.session else sv.session_id, NAME_LIMIT)


def _session_error(sv: SessionVerdict, link: str) -> str | None:
    trouble = sv.outcome.trouble
    if trouble is None:
        return None
    if sv.failing:
        return None  # the failed checks carry their own annotations
    label = _session_label(sv)
    kind = (sv.session.kind if sv.session else "test session").capitalize()
    # The title names the trouble; the reason says it again in its own words, so not here.
    lines = [f"{kind} '{label}': {plain_text(sv.reason, MESSAGE_LIMIT)}"]
    if link:
        lines.append(f"Session: {link}")
    return command("error", "\n".join(lines), title=f"Checkly session {trouble}")


def _capped(lines: list[str], limit: int, what: str) -> list[str]:
    if len(lines) <= limit:
        return lines
    more = len(lines) - limit
    note = f"{more} more {what} not annotated (GitHub shows {limit}); see the job summary"
    return [*lines[:limit], command("notice", note)]


def render_annotations(run: GateRun, limit: int = ANNOTATION_LIMIT) -> list[str]:
    """Error annotations for failed checks and troubled sessions, warnings for flaky and
    degraded checks; at most ``limit`` of each, then a notice saying how many were left out."""
    several = len(run.verdict.sessions) > 1
    errors: list[str] = []
    check_errors: list[str] = []
    warnings: list[str] = []
    for sv in run.verdict.sessions:
        session = f" in session {_session_label(sv)}" if several else ""
        trouble = _session_error(sv, session_link(run, sv))
        kind = sv.session is not None and sv.session.kind == "check session"
        if trouble:
            errors.append(trouble)
        for r in sv.runs:
            label = run.label(sv, r)
            said = label.text() if label is not None else ""
            aside = sv.aside(r)
            if sv.fails(r):  # the one decision: failed, error, unknown or the user's policy
                check_errors.append(
                    _run_error(r, run.error_messages, session, run.evidence, sv.policy, kind, said)
                )
            elif sv.row(r).warned:  # flaky, degraded, or set aside (``outcomes.MARK``)
                says = aside.says() if aside is not None else ""
                warnings.append(_run_warning(r, session, run.evidence, sv.row(r), says))
    if not run.verdict.sessions and run.verdict.exit_code != 0:
        reason = plain_text(run.verdict.reason, MESSAGE_LIMIT)
        errors.append(command("error", reason, title=f"checkly-gate: {run.verdict.outcome.label}"))
    return [
        *_capped(errors + check_errors, limit, "failed checks"),
        *_capped(warnings, limit, "flaky, degraded or set-aside checks"),
    ]


# --- outputs -------------------------------------------------------------------------------


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def outputs(run: GateRun, junit: Path | None, summary: Path | None) -> dict[str, str]:
    """Step outputs (``steps.<id>.outputs.*``): status, exit code, counts, session id and
    links, files."""
    verdict = run.verdict
    counts = verdict.counts
    links = [session_link(run, sv) for sv in verdict.sessions]
    failed = _unique(one_line(r.name, 1000) for sv in verdict.sessions for r in sv.failing)
    values = {
        "status": verdict.outcome.label,
        "exit-code": str(verdict.exit_code),
        "passed": str(counts.passed),
        "failed": str(counts.failing),  # every run that failed the gate, policy hits included
        "flaky": str(counts.flaky),
        "degraded": str(counts.degraded),
        "skipped": str(counts.skipped),
        "total": str(counts.total),
        "session-id": verdict.sessions[0].session_id if verdict.sessions else "",
        "session-url": links[0] if links else "",
    }
    if run.would_exit_code is not None:  # --shadow: the code the gate would have exited with
        values["would-exit-code"] = str(run.would_exit_code)
    if len(links) > 1:
        values["session-urls"] = json.dumps(links)
    values["failed-checks"] = json.dumps(failed, ensure_ascii=False)
    values.update(history_outputs(run))
    values["junit"] = str(junit) if junit else ""
    values["summary"] = str(summary) if summary else ""
    return values


#: Labelled runs listed in the ``failure-labels`` output (the counts count them all).
LABELS_LISTED = 50


def history_outputs(run: GateRun) -> dict[str, str]:
    """The outputs of the context (issue 21): ``quarantined`` (runs set aside by an entry),
    ``new-failures``, ``known-failures`` and ``unknown-failures`` (failing runs by history
    label, set aside or not: ``GateRun.label_counts``), and ``failure-labels``: a JSON list of
    ``{"check", "label", "mark"}`` (``mark``: ``quarantined``, ``known`` or null), the first
    ``LABELS_LISTED`` labelled runs."""
    counts = run.label_counts()
    listed = [
        {
            "check": one_line(r.name, NAME_LIMIT),
            "label": label.label,
            "mark": mark.value if (mark := sv.mark(r)) is not None else None,
        }
        for sv, r, label in run.labelled()[:LABELS_LISTED]
    ]
    return {
        "quarantined": str(run.verdict.counts.quarantined),
        "new-failures": str(counts["new"]),
        "known-failures": str(counts["known"]),
        "unknown-failures": str(counts["unknown"]),
        "failure-labels": json.dumps(listed, ensure_ascii=False),
    }


def render_outputs(values: Mapping[str, str], delimiter: Callable[[], str] = new_delimiter) -> str:
    """``values`` in ``GITHUB_OUTPUT`` syntax: ``name=value`` lines, heredocs for multi-line.

    A heredoc delimiter is random and checked against the value, so a value can never end the
    block early and smuggle in further outputs. Line breaks in multi-line values become LF.
    """
    parts = []
    for name, value in values.items():
        if not name or any(bad in name for bad in ("=", "<<", "\n", "\r")):
            raise ValueError(f"invalid output name {name!r}")
        if "\n" not in value and "\r" not in value:
            parts.append(f"{name}={value}\n")
            continue
        # The runner reads the file line by line and treats CR, LF and CRLF alike; normalise
        # so a trailing CR cannot merge with the line break before the delimiter.
        value = value.replace("\r\n", "\n").replace("\r", "\n")
        for _ in range(100):
            delim = delimiter()
            if delim and delim not in value and delim not in name:
                break
        else:
            raise RuntimeError("could not find a delimiter that does not occur in the value")
        parts.append(f"{name}<<{delim}\n{value}\n{delim}\n")
    return "".join(parts)


def _fit_summary(markdown: str, budget: int) -> str:
    """Cut the markdown at a line break so the step summary stays under GitHub's limit."""
    data = markdown.encode("utf-8")
    if len(data) <= budget:
        return markdown
    note = "\n\n*(summary truncated: GitHub limits a step summary to 1 MiB)*\n"
    room = budget - len(note.encode("utf-8"))
    if room <= 0:
        return ""
    cut = data[:room].decode("utf-8", errors="ignore")
    cut = cut[: cut.rfind("\n") + 1] if "\n" in cut else ""
    return cut + note


class GitHub(Integration):
    """GitHub Actions: log groups, stop-commands, annotations, outputs and step summary."""

    name = "github"

    def __init__(self, env: Mapping[str, str], token: Callable[[], str] = new_token) -> None:
        self._env = env
        self._token = token
        self._progress_token: str | None = None

    def progress_start(self, title: str) -> list[str]:
        self._progress_token = self._token()
        return [group_start(title), stop_commands(self._progress_token)]

    def progress_end(self) -> list[str]:
        token, self._progress_token = self._progress_token, None
        if token is None:
            return []
        return [resume_commands(token), group_end()]

    def protect(self, lines: list[str]) -> list[str]:
        if not lines:
            return []
        token = self._token()
        return [stop_commands(token), *lines, resume_commands(token)]

    def publish(
        self,
        run: GateRun,
        summary_markdown: str,
        junit: Path | None,
        summary: Path | None,
        secrets: Secrets | None = None,
    ) -> list[str]:
        problems: list[str] = []
        summary_file = self._env.get("GITHUB_STEP_SUMMARY")
        if summary_file and summary_markdown:
            try:
                existing = os.path.getsize(summary_file) if os.path.exists(summary_file) else 0
                text = (
                    summary_markdown if summary_markdown.endswith("\n") else summary_markdown + "\n"
                )
                if existing:
                    text = "\n" + text
                text = _fit_summary(text, SUMMARY_LIMIT_BYTES - existing)
                if text:
                    append_text(Path(summary_file), text, secrets or Secrets())
                else:
                    full = "$GITHUB_STEP_SUMMARY is already at GitHub's 1 MiB limit"
                    problems.append(command("warning", f"summary not written: {full}"))
            except (OSError, ValueError) as exc:  # ValueError: unencodable text
                problems.append(_file_warning("GITHUB_STEP_SUMMARY", summary_file, exc))
        output_file = self._env.get("GITHUB_OUTPUT")
        if output_file:
            try:
                append_text(
                    Path(output_file),
                    render_outputs(outputs(run, junit, summary)),
                    secrets or Secrets(),
                )
            except (OSError, ValueError) as exc:  # ValueError: unencodable text
                problems.append(_file_warning("GITHUB_OUTPUT", output_file, exc))
        return [*render_annotations(run), *problems]

    def report_problem(self, message: str) -> list[str]:
        return [command("error", one_line(message, 1000), title="checkly-gate: report not written")]

    def hand_over(self, values: Mapping[str, str], redactor: Secrets) -> None:
        """``run --detach``: the session's values as step outputs (``GITHUB_OUTPUT``)."""
        output_file = self._env.get("GITHUB_OUTPUT")
        if not output_file:
            return
        try:
            append_text(Path(output_file), render_outputs(values), redactor)
        except OSError as exc:
            log.error("cannot write GITHUB_OUTPUT: %s", exc)


def _file_warning(variable: str, path: str, exc: Exception) -> str:
    reason = getattr(exc, "strerror", None) or str(exc)
    return command("warning", one_line(f"cannot write ${variable} ({path}): {reason}", 500))


# --- the commits a workflow run stands for ------------------------------------------------------

log = logging.getLogger("checkly_gate")

#: The largest event payload read: GitHub caps webhook payloads at 25 MB.
EVENT_LIMIT_BYTES = 25 * 1024 * 1024
#: Events whose ``GITHUB_SHA`` is the merge commit of ``refs/pull/N/merge``, not a commit anyone
#: deployed; the head commit is ``pull_request.head.sha`` in the event payload.
PULL_REQUEST_EVENTS = frozenset(
    {"pull_request", "pull_request_review", "pull_request_review_comment"}
)
_events: dict[tuple[str, int, int, int], tuple[Any, str]] = {}


def _read_event_file(path: str) -> Any:
    """The decoded JSON at ``path``: a regular file of at most ``EVENT_LIMIT_BYTES``, opened
    without blocking (a FIFO nobody writes, a device, a directory are refused at once).
    ``ValueError`` with a one-line reason for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise ValueError(exc.strerror or type(exc).__name__) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > EVENT_LIMIT_BYTES:
            raise ValueError(f"larger than {EVENT_LIMIT_BYTES // (1024 * 1024)} MiB")
        chunks, size = [], 0
        while size <= EVENT_LIMIT_BYTES:
            chunk = os.read(fd, min(1 << 20, EVENT_LIMIT_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > EVENT_LIMIT_BYTES:
            raise ValueError(f"larger than {EVENT_LIMIT_BYTES // (1024 * 1024)} MiB")
    except OSError as exc:
        raise ValueError(exc.strerror or type(exc).__name__) from None
    finally:
        os.close(fd)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise ValueError("not JSON") from None


def read_event(env: Mapping[str, str]) -> tuple[Any, str]:
    """``(payload, problem)``: the decoded event payload at ``GITHUB_EVENT_PATH`` and ``""``,
    or ``None`` and a one-line reason it could not be read. Read once per file version."""
    path = env.get("GITHUB_EVENT_PATH") or ""
    if not path.strip():
        return None, "GITHUB_EVENT_PATH is not set"
    try:
        info = os.stat(path)
        key = (path, info.st_ino, info.st_size, info.st_mtime_ns)
    except (OSError, ValueError):
        key = (path, 0, 0, 0)
    if key not in _events:
        try:
            _events[key] = (_read_event_file(path), "")
        except ValueError as exc:
            where = one_line(path, 200)
            _events[key] = (None, f"GITHUB_EVENT_PATH ({where}) could not be read: {exc}")
    return _events[key]


def _field(payload: Any, *keys: str) -> Any:
    for key in keys:
        payload = payload.get(key) if isinstance(payload, dict) else None
    return payload


def commits(env: Mapping[str, str]) -> tuple[Commit, ...]:
    """The commits this workflow run stands for, head first (source: the event payload at
    ``GITHUB_EVENT_PATH``, then ``GITHUB_SHA``; GitHub's "events that trigger workflows"):

    - ``pull_request`` (and its review events): ``pull_request.head.sha``, then ``GITHUB_SHA``
      (the merge commit of ``refs/pull/N/merge``);
    - ``pull_request_target``: ``pull_request.head.sha``, then ``pull_request.merge_commit_sha``
      (``GITHUB_SHA`` is the base branch's last commit there: not this run's);
    - ``merge_group``: ``merge_group.head_sha``, then ``GITHUB_SHA``;
    - ``workflow_run``: ``workflow_run.head_sha`` (``GITHUB_SHA`` is the default branch's);
    - any other event (``push``, ``deployment_status``...): ``GITHUB_SHA``.

    A payload that cannot be read (missing, a FIFO, not JSON, too large) or lacks the field is
    one warning, then ``GITHUB_SHA`` as before."""
    event = env_text(env, "GITHUB_EVENT_NAME", 100) or ""
    fields: tuple[tuple[str, ...], ...] = ()
    keep_sha = True
    if event in PULL_REQUEST_EVENTS:
        fields = (("pull_request", "head", "sha"),)
    elif event == "pull_request_target":
        fields = (("pull_request", "head", "sha"), ("pull_request", "merge_commit_sha"))
        keep_sha = False
    elif event == "merge_group":
        fields = (("merge_group", "head_sha"),)
    elif event == "workflow_run":
        fields = (("workflow_run", "head_sha"),)
        keep_sha = False
    sha = commits_from(env, "GITHUB_SHA")
    if not fields:
        return sha
    payload, problem = read_event(env)
    found: dict[str, Commit] = {}
    for keys in fields:
        value = sha_value(_field(payload, *keys))
        if value is not None:
            found.setdefault(value, Commit(value, f"{'.'.join(keys)} of GITHUB_EVENT_PATH"))
    if not found:
        reason = problem or f"it has no {'.'.join(fields[0])} commit SHA"
        message = f"{reason}; on {event} using GITHUB_SHA as the commit"
        if message not in _warned:
            _warned.add(message)
            log.warning("%s", one_line(message, 500))
        return sha
    if keep_sha:
        for commit in sha:
            found.setdefault(commit.sha, commit)
    return tuple(found.values())


_warned: set[str] = set()


NAME = "github"
COMMIT_VARIABLES: tuple[str, ...] = ("GITHUB_SHA",)
neutralise = unchanged  # workflow commands are stopped around untrusted lines (``protect``)


def detected(env: Mapping[str, str]) -> bool:
    """GitHub Actions sets ``GITHUB_ACTIONS=true`` in every step."""
    return env.get("GITHUB_ACTIONS") == "true"


def integration(env: Mapping[str, str], now: Callable[[], float]) -> Integration:
    return GitHub(env)


def metadata(env: Mapping[str, str]) -> dict[str, Any]:
    """Session metadata from GitHub's default variables: ``repoUrl`` (server and repository),
    ``commitId`` (the head commit of a pull request, ``commits``), ``branchName``,
    ``commitOwner``, and the run under ``github`` (ids, event, refs; ``reporting`` False)."""
    repository = first(env, "GITHUB_REPOSITORY")
    server = safe_url(first(env, "GITHUB_SERVER_URL")) or "https://github.com"
    head = commits(env)
    run = {
        "reporting": False,
        "repository": repository,
        "sha": first(env, "GITHUB_SHA"),
        "headSha": head[0].sha if head else None,
        "runId": first(env, "GITHUB_RUN_ID"),
        "runAttempt": first(env, "GITHUB_RUN_ATTEMPT"),
        "workflow": first(env, "GITHUB_WORKFLOW"),
        "job": first(env, "GITHUB_JOB"),
        "eventName": first(env, "GITHUB_EVENT_NAME"),
        "ref": first(env, "GITHUB_REF"),
        "headRef": first(env, "GITHUB_HEAD_REF"),
        "baseRef": first(env, "GITHUB_BASE_REF"),
        "serverUrl": safe_url(first(env, "GITHUB_SERVER_URL")),
    }
    return {
        "repoUrl": safe_url(f"{server.rstrip('/')}/{repository}") if repository else None,
        "commitId": head[0].sha if head else None,
        "branchName": first(env, "GITHUB_HEAD_REF", "GITHUB_REF_NAME"),
        "commitOwner": first(env, "GITHUB_ACTOR"),
        NAME: {k: v for k, v in run.items() if v is not None},
    }

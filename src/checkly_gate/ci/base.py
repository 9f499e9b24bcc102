"""What every CI system's module shares: the ``Integration`` protocol (what the shell needs from
a CI log), the ``System`` protocol (what a CI system's module provides; ``ci.SYSTEMS`` lists
them), a do-nothing base integration, and the helpers that read CI variables (git URLs, branch
refs, commits) through the one hygiene path.

Each system's module (``github``, ``gitlab``, ``azure``, ``buildkite``, ``circleci``,
``bitbucket``, ``jenkins``) defines ``NAME``, ``COMMIT_VARIABLES``, ``detected(env)``,
``integration(env, now)``, ``commits(env)`` and ``metadata(env)``: the test session metadata for
``checkly-gate run`` (``repoUrl``, ``commitId``, ``branchName``, ``commitOwner``,
``commitMessage``, ``environment``, ``buildUrl`` or the system's own mapping), read from the
variables the system documents; and ``neutralise(line)`` or ``None``.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from checkly_gate.text import one_line

if TYPE_CHECKING:
    from checkly_gate.redact import Secrets
    from checkly_gate.reports import GateRun

# Starts a line that an integration wrote itself: the CI command on it is ours, so a shielded
# stream passes it (without the mark) while it neutralises commands in every other line.
# Untrusted text cannot carry it: text.one_line turns control characters into spaces.
COMMAND_MARK = "\x1e"


@runtime_checkable
class Integration(Protocol):
    """What the shell needs from a CI system. Methods return lines to print; none raises."""

    name: str

    def progress_start(self, title: str) -> list[str]:
        """Lines to print before the progress output (open a group, stop commands)."""
        ...

    def progress_end(self) -> list[str]:
        """Lines to print after the progress output."""
        ...

    def protect(self, lines: list[str]) -> list[str]:
        """Wrap untrusted lines (the verdict) so they cannot inject CI commands."""
        ...

    def publish(
        self,
        run: GateRun,
        summary_markdown: str,
        junit: Path | None,
        summary: Path | None,
        secrets: Secrets | None = None,
    ) -> list[str]:
        """Write CI files (outputs, step summary), ``secrets`` (the command's) masked, and
        return lines to print (annotations)."""
        ...

    def report_problem(self, message: str) -> list[str]:
        """Lines that show a problem the gate had (a report it could not write) as the CI's
        own error annotation. Default: none (the problem is already on stderr)."""
        return []

    def hand_over(self, values: Mapping[str, str], redactor: Secrets) -> None:
        """``run --detach``: publish ``values`` (status, exit-code, session-id, session-url) to
        later steps the CI's own way (GitHub: step outputs). Default: nothing (the dotenv report
        is the portable way). Problems are logged, never raised."""
        return None


class System(Protocol):
    """A CI system's module, as ``ci.SYSTEMS`` lists it (a module satisfies this protocol)."""

    NAME: str  # the system's name; where its own metadata goes (``metadata[NAME]``)
    COMMIT_VARIABLES: tuple[str, ...]  # where a commit may be read when no system is detected

    def detected(self, env: Mapping[str, str]) -> bool:
        """Whether ``env`` is this system's (its documented marker variable)."""
        ...

    def integration(self, env: Mapping[str, str], now: Callable[[], float]) -> Integration:
        """The integration for a run in this system."""
        ...

    def commits(self, env: Mapping[str, str]) -> tuple[Commit, ...]:
        """The commits this CI run stands for, head first."""
        ...

    def metadata(self, env: Mapping[str, str]) -> dict[str, Any]:
        """The test session metadata this system's variables give (see the module doc)."""
        ...

    def neutralise(self, line: str) -> str:
        """``line`` unable to issue the system's log commands (``unchanged``: none to fear)."""
        ...


# git@host:org/repo.git (the user part may hold anything but "/"; the host no "@")
_SCP_LIKE = re.compile(r"^(?:[^/]*@)?([^@:/]+):(?!//)(.+)$")
_SHA = re.compile(r"[0-9a-fA-F]{7,64}")
#: Longest value read from a CI variable (a commit message is cut here, on one line).
VALUE_LIMIT = 1000
#: Query parameters kept in a URL sent as metadata; every other one may be a credential.
_SAFE_QUERY = frozenset({"buildid", "view", "tab", "pipeline", "job", "build"})


def safe_url(url: str | None, limit: int = 2000) -> str | None:
    """A URL fit to leave the machine as metadata: ``http(s)`` only, with its userinfo
    (``user:password@``, a password holding ``@`` included), fragment and every query
    parameter but a few known harmless ones (``buildId``...) removed; ``None`` for anything
    else (no scheme, a host that cannot be read, control characters, longer than ``limit``).

    The one place a URL from the environment is cleaned before it is sent anywhere (source:
    the CI's variables; ``BUILD_URL``, ``GIT_URL``, ``CI_PROJECT_URL``...)."""
    if not url:
        return None
    text = url.strip()
    if len(text) > limit or text != one_line(text, limit + 1):
        return None  # control characters, lone surrogates, escapes: not a URL we send
    try:
        parts = urllib.parse.urlsplit(text)
        host = parts.hostname  # the host after the LAST "@": userinfo never leaks into it
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or any(c in host for c in "@\\ "):
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    query = urllib.parse.urlencode(
        [
            (key, value)
            for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
            if key.lower() in _SAFE_QUERY
        ]
    )
    return urllib.parse.urlunsplit((parts.scheme.lower(), netloc, parts.path, query, ""))


def web_url(url: str | None) -> str | None:
    """A repository's browsable https URL from a clone URL: ``git@host:org/repo.git``,
    ``ssh://git@host/org/repo.git`` and ``https://user:token@host/org/repo.git`` all become
    ``https://host/org/repo`` (credentials are dropped: they must never reach Checkly; a
    password holding ``@`` included). ``None`` when it is not a clone URL."""
    if not url or not url.strip():
        return None
    url = url.strip()
    scp = _SCP_LIKE.match(url)
    if scp and "://" not in url:
        host, path = scp.groups()
        return safe_url(f"https://{host}/{path.removesuffix('.git').strip('/')}")
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if not parts.scheme or not host or not parts.path.strip("/"):
        return None
    scheme = "http" if parts.scheme.lower() == "http" else "https"
    return safe_url(f"{scheme}://{host}/{parts.path.removesuffix('.git').strip('/')}")


def env_text(env: Mapping[str, str], name: str, limit: int = VALUE_LIMIT) -> str | None:
    """The value of the CI variable ``name`` as one clean line, ``None`` when unset or blank.

    The one path every CI variable takes before it is logged, compared or sent: ``os.environ``
    holds undecodable bytes as lone surrogates (surrogateescape); ``text.one_line`` turns them
    into U+FFFD and removes control characters, escapes and CI log markers."""
    value = env.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    return one_line(value, limit) or None


class Commit(NamedTuple):
    """A commit this CI run stands for, and where it was read (a variable or the event file)."""

    sha: str
    source: str


def sha_value(value: object) -> str | None:
    """``value`` as a lower-case commit SHA (7 to 64 hex digits), else ``None``."""
    if isinstance(value, str) and _SHA.fullmatch(value.strip()):
        return value.strip().lower()
    return None


def commits_from(env: Mapping[str, str], *names: str) -> tuple[Commit, ...]:
    """The commits in the variables ``names`` (set and not blank, cleaned by ``env_text``),
    first-named first, each once. A value that is not a SHA is kept as read (cleaned): the
    caller decides whether it needs a SHA (``wait --commit auto``) or just text (metadata)."""
    found: dict[str, Commit] = {}
    for name in names:
        value = env_text(env, name, 100)
        if value is not None:
            key = sha_value(value) or value
            found.setdefault(key, Commit(key, name))
    return tuple(found.values())


def branch_name(ref: str | None) -> str | None:
    """``refs/heads/main`` -> ``main``, ``origin/main`` -> ``main``; ``None`` for a tag ref."""
    if not ref:
        return None
    if ref.startswith("refs/tags/"):
        return None
    for prefix in ("refs/heads/", "origin/", "refs/remotes/origin/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def first(env: Mapping[str, str], *names: str, limit: int = VALUE_LIMIT) -> str | None:
    """The first of ``names`` that is set and not blank, cleaned by ``env_text``."""
    for name in names:
        value = env_text(env, name, limit)
        if value is not None:
            return value
    return None


def compact(values: Mapping[str, str | None]) -> dict[str, str]:
    return {key: value for key, value in values.items() if value}


def unchanged(line: str) -> str:
    """``neutralise`` of a system whose log has no commands to neutralise."""
    return line


class Basic(Integration):
    """A CI log without commands: nothing to open, protect or publish."""

    name = "basic"

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def progress_start(self, title: str) -> list[str]:
        return []

    def progress_end(self) -> list[str]:
        return []

    def protect(self, lines: list[str]) -> list[str]:
        return list(lines)

    def publish(
        self,
        run: GateRun,
        summary_markdown: str,
        junit: Path | None,
        summary: Path | None,
        secrets: Secrets | None = None,
    ) -> list[str]:
        return []


def failure_messages(run: GateRun, limit: int = 10) -> list[str]:
    """One line per failed check run (name, location, its history label, first error
    message), at most ``limit`` and then a line saying how many more; else one line naming the
    gate's non-zero outcome. Runs the context set aside are not failed (``set_aside_messages``).
    Source: the runs that failed the gate (``SessionVerdict.failing``: a ``--fail-on-*`` policy
    hit included) and ``GateRun.error_messages`` (a flaky run's: of its failed attempts)."""
    from checkly_gate.text import one_line
    from checkly_gate.verdict import policy_flags

    lines: list[str] = []
    for sv in run.verdict.sessions:
        for r in sv.failing:
            where = f" ({one_line(r.latest.run_location, 60)})" if r.latest.run_location else ""
            message = next(
                (run.error_messages[g] for g in r.error_group_ids if g in run.error_messages),
                "",
            )
            flags = policy_flags(r, sv.policy)
            policy = f" (failed by {' and '.join(flags)})" if flags else ""
            found = run.label(sv, r)
            history = f" · {found.text()}" if found is not None else ""
            lines.append(
                f"{one_line(r.name)}{where} {r.category.value}{policy}{history}"
                + (f": {one_line(message, 300)}" if message else "")
            )
    if len(lines) > limit:
        lines = [*lines[:limit], f"{len(lines) - limit} more failed checks: see the summary"]
    if not lines and run.verdict.exit_code != 0:
        label = run.verdict.outcome.label
        lines.append(f"checkly-gate {label}: {one_line(run.verdict.reason, 500)}")
    return lines


def set_aside_messages(run: GateRun, limit: int = 10) -> list[str]:
    """One line per run the context set aside (``verdict.SetAside.says``: quarantined with
    its owner, expiry and reason, or a known failure with its label), at most ``limit`` and
    then a line saying how many more."""
    from checkly_gate.text import one_line

    lines = [
        f"{one_line(r.name)}: {one_line(aside.says(), 300)}"
        for sv in run.verdict.sessions
        for r, aside in sv.aside_runs
    ]
    if len(lines) > limit:
        lines = [*lines[:limit], f"{len(lines) - limit} more set aside: see the summary"]
    return lines

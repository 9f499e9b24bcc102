"""What the CI systems without workflow files of their own share: a do-nothing base integration
and the helpers that read their variables (git URLs, branch refs).

Each system's module (``jenkins``, ``azure``, ``circleci``, ``bitbucket``, ``buildkite``)
subclasses ``Basic`` for what its log understands and defines ``metadata(env)``: the test
session metadata for ``checkly-gate run`` (``repoUrl``, ``commitId``, ``branchName``,
``commitOwner``, ``commitMessage``, ``buildUrl``), read from the variables the system documents.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from checkly_gate.ci import Integration
from checkly_gate.reports import GateRun

_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.+)$")  # git@host:org/repo.git


def web_url(url: str | None) -> str | None:
    """A repository's browsable https URL from a clone URL: ``git@host:org/repo.git``,
    ``ssh://git@host/org/repo.git`` and ``https://user:token@host/org/repo.git`` all become
    ``https://host/org/repo`` (credentials are dropped: they must never reach Checkly)."""
    if not url or not url.strip():
        return None
    url = url.strip()
    scp = _SCP_LIKE.match(url)
    if scp and "://" not in url:
        host, path = scp.groups()
    else:
        match = re.match(r"^[a-z+]+://(?:[^@/]*@)?([^/:]+)(?::\d+)?/(.*)$", url)
        if not match:
            return None
        host, path = match.groups()
        if url.startswith("http://"):
            return f"http://{host}/{path.removesuffix('.git').strip('/')}"
    return f"https://{host}/{path.removesuffix('.git').strip('/')}"


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


def first(env: Mapping[str, str], *names: str) -> str | None:
    """The first of ``names`` that is set and not blank."""
    for name in names:
        value = env.get(name)
        if value and value.strip():
            return value.strip()
    return None


def compact(values: Mapping[str, str | None]) -> dict[str, str]:
    return {key: value for key, value in values.items() if value}


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
        self, run: GateRun, summary_markdown: str, junit: Path | None, summary: Path | None
    ) -> list[str]:
        return []


def failure_messages(run: GateRun, limit: int = 10) -> list[str]:
    """One line per failed check run (name, location, first error message), at most ``limit``
    and then a line saying how many more; else one line naming the gate's non-zero outcome.
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
            lines.append(
                f"{one_line(r.name)}{where} {r.category.value}{policy}"
                + (f": {one_line(message, 300)}" if message else "")
            )
    if len(lines) > limit:
        lines = [*lines[:limit], f"{len(lines) - limit} more failed checks: see the summary"]
    if not lines and run.verdict.exit_code != 0:
        label = run.verdict.outcome.label
        lines.append(f"checkly-gate {label}: {one_line(run.verdict.reason, 500)}")
    return lines

"""GitLab CI: collapsible log sections around the progress output.

GitLab has no workflow commands in job logs, so there is nothing to inject and nothing to
protect; variables for later jobs go through the dotenv report (``reports.dotenv``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from checkly_gate.ci.base import (
    Basic,
    Commit,
    Integration,
    commits_from,
    first,
    safe_url,
    unchanged,
)
from checkly_gate.text import one_line

if TYPE_CHECKING:
    pass

SECTION = "checkly_gate_wait"
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def section_name(text: str) -> str:
    """A valid section name: GitLab accepts only letters, digits, ``_``, ``.`` and ``-``."""
    return _NOT_NAME.sub("_", text) or "section"


def section_start(name: str, title: str, timestamp: int, collapsed: bool = True) -> str:
    """The marker that opens a collapsible section (collapsed by default) with a header."""
    options = "[collapsed=true]" if collapsed else ""
    return (
        f"\x1b[0Ksection_start:{int(timestamp)}:{section_name(name)}{options}"
        f"\r\x1b[0K{one_line(title)}"
    )


def section_end(name: str, timestamp: int) -> str:
    """The marker that closes the section opened under the same name."""
    return f"\x1b[0Ksection_end:{int(timestamp)}:{section_name(name)}\r\x1b[0K"


def commits(env: Mapping[str, str]) -> tuple[Commit, ...]:
    """The commits this pipeline stands for, head first: in a merged results pipeline (and a
    merge train) ``CI_MERGE_REQUEST_SOURCE_BRANCH_SHA``, the merge request's head commit, then
    ``CI_COMMIT_SHA``, there the merge commit GitLab made for the pipeline; elsewhere only
    ``CI_COMMIT_SHA`` (the source variable is empty or unset)."""
    return commits_from(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", "CI_COMMIT_SHA")


class GitLab(Basic):
    """GitLab CI: the progress output goes into a collapsed section; nothing else to protect
    or publish (``Basic``'s)."""

    name = "gitlab"

    def __init__(self, env: Mapping[str, str], now: Callable[[], float] = time.time) -> None:
        self._env = env
        self._now = now
        self._open = False

    def progress_start(self, title: str) -> list[str]:
        self._open = True
        return [section_start(SECTION, title, int(self._now()))]

    def progress_end(self) -> list[str]:
        if not self._open:
            return []
        self._open = False
        return [section_end(SECTION, int(self._now()))]


NAME = "gitlab"
COMMIT_VARIABLES: tuple[str, ...] = ("CI_COMMIT_SHA",)
neutralise = unchanged  # GitLab's log has no commands but section markers (escape-led)


def detected(env: Mapping[str, str]) -> bool:
    """GitLab CI sets ``GITLAB_CI=true`` in every job."""
    return env.get("GITLAB_CI") == "true"


def integration(env: Mapping[str, str], now: Callable[[], float]) -> Integration:
    return GitLab(env, now)


def metadata(env: Mapping[str, str]) -> dict[str, Any]:
    """Session metadata from GitLab's predefined variables: ``environment``, ``repoUrl``,
    ``commitId`` (a merge request's head commit, ``commits``), ``branchName`` (a merge
    request's source branch), ``commitOwner``, ``commitMessage``."""
    head = commits(env)
    return {
        "environment": first(env, "CI_ENVIRONMENT_NAME"),
        "repoUrl": safe_url(first(env, "CI_PROJECT_URL")),
        "commitId": head[0].sha if head else None,
        "branchName": first(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_REF_NAME"),
        "commitOwner": first(env, "CI_COMMIT_AUTHOR"),
        "commitMessage": first(env, "CI_COMMIT_TITLE"),
    }

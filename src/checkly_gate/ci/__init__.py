"""CI integrations: what the gate prints and writes for the CI system it runs in.

Each CI system is one module behind one protocol (``base.System``), listed once in ``SYSTEMS``:
``detect`` picks the integration from the environment, ``run_commits`` and ``COMMIT_VARIABLES``
the commits, ``system(env)`` the module whose ``metadata(env)`` ``trigger`` sends. Each
integration turns a finished run into CI-native artefacts (GitHub annotations, outputs and step
summary; GitLab collapsible sections) and knows how to print untrusted text so it cannot be taken
for a CI command. A new CI system is a module and one entry in ``SYSTEMS``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import TextIO, cast

from checkly_gate.ci import azure, bitbucket, buildkite, circleci, github, gitlab, jenkins
from checkly_gate.ci.base import COMMAND_MARK, Commit, Integration, System, commits_from, unchanged
from checkly_gate.redact import RedactingStream

#: The CI systems, in the order they are detected (GitHub and GitLab first: their markers are
#: the most specific).
SYSTEMS: tuple[System, ...] = (github, gitlab, azure, buildkite, circleci, bitbucket, jenkins)


def system(env: Mapping[str, str]) -> System | None:
    """The module of the CI system ``env`` describes (first of ``SYSTEMS``); ``None``
    outside CI."""
    for member in SYSTEMS:
        if member.detected(env):
            return member
    return None


def detect(env: Mapping[str, str], now: Callable[[], float] = time.time) -> Integration | None:
    """The integration for the CI system described by ``env``; ``None`` outside CI."""
    found = system(env)
    return found.integration(env, now) if found is not None else None


#: Every variable a commit may come from when no CI system is detected, first set wins:
#: Checkly's own, each system's (``SYSTEMS`` order), Vercel's (a deploy, not a CI system).
COMMIT_VARIABLES = (
    "CHECKLY_REPO_SHA",
    *(name for member in SYSTEMS for name in member.COMMIT_VARIABLES),
    "VERCEL_GIT_COMMIT_SHA",
)


def run_commits(env: Mapping[str, str]) -> tuple[Commit, ...]:
    """The commits this CI run stands for, the deployed (head) commit first, then the merge
    commit a pull request build runs on, each once; ``()`` when none is set.

    ``CHECKLY_REPO_SHA`` (the user's own word) alone when set; else the detected system's
    ``commits(env)`` (GitHub reads the event payload, GitLab its merged-results variable, the
    others their pull request variables); else the first of ``COMMIT_VARIABLES`` that is set.
    Values are cleaned by ``base.env_text``; not checked to be SHAs (callers decide)."""
    own = commits_from(env, "CHECKLY_REPO_SHA")
    if own:
        return own
    found = system(env)
    if found is not None:
        commits = found.commits(env)
        if commits:
            return commits
    for name in COMMIT_VARIABLES:
        commits = commits_from(env, name)
        if commits:
            return commits
    return ()


class ShieldedStream(RedactingStream):
    """A text stream whose lines cannot issue the CI system's log commands, but for the ones
    marked with ``COMMAND_MARK``. Writes are expected to be whole lines (they are: progress,
    logging and verdict lines are written one at a time). Flush, isatty and the rest are the
    wrapped stream's, as for ``redact.RedactingStream``."""

    def __init__(self, stream: TextIO, neutralise: Callable[[str], str]) -> None:
        self._stream = stream
        self._neutralise = neutralise

    def write(self, text: str) -> int:
        # split on LF only, as the CI agents do (str.splitlines would also split on \x1e)
        lines = re.findall(r"[^\n]*\n|[^\n]+", text)
        safe = "".join(
            line[len(COMMAND_MARK) :] if line.startswith(COMMAND_MARK) else self._neutralise(line)
            for line in lines
        )
        return self._stream.write(safe)


def shielded(stream: TextIO, env: Mapping[str, str]) -> TextIO:
    """``stream`` as the CI system of ``env`` needs it: for a system whose ``neutralise(line)``
    changes lines (Azure Pipelines: ``##vso[`` anywhere in a line; Buildkite: group headers)
    every unmarked line is neutralised; elsewhere ``stream`` itself."""
    found = system(env)
    if found is None or found.neutralise is unchanged:
        return stream
    return cast(TextIO, ShieldedStream(stream, found.neutralise))

"""CI integrations: what the gate prints and writes for the CI system it runs in.

``detect`` picks the integration from the environment. Each integration turns a finished run into
CI-native artefacts (GitHub annotations, outputs and step summary; GitLab collapsible sections)
and knows how to print untrusted text so it cannot be taken for a CI command.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Protocol, TextIO, cast, runtime_checkable

from checkly_gate.redact import RedactingStream, Redactor
from checkly_gate.text import link as text_link

if TYPE_CHECKING:
    from checkly_gate.ci.common import Commit
    from checkly_gate.reports import GateRun
    from checkly_gate.verdict import SessionVerdict


def session_link(run: GateRun, sv: SessionVerdict) -> str:
    """The session's web link: from the parsed session, else the last raw body; "" if unknown."""
    link = sv.session.link if sv.session else None
    if not link:
        body = run.bodies.get(sv.session_id)
        value = body.get("testSessionLink") if isinstance(body, dict) else None
        link = value if isinstance(value, str) else None
    return text_link(link)  # plain http(s) only; a cut link would lead nowhere: "" if too long


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
        self, run: GateRun, summary_markdown: str, junit: Path | None, summary: Path | None
    ) -> list[str]:
        """Write CI files (outputs, step summary) and return lines to print (annotations)."""
        ...

    def report_problem(self, message: str) -> list[str]:
        """Lines that show a problem the gate had (a report it could not write) as the CI's
        own error annotation. Default: none (the problem is already on stderr)."""
        return []


def detect(
    env: Mapping[str, str],
    now: Callable[[], float] = time.time,
    secrets: Redactor | None = None,
) -> Integration | None:
    """The integration for the CI system described by ``env``; ``None`` outside CI. ``secrets``
    (the command's) are masked in the files it writes.

    GitHub Actions sets ``GITHUB_ACTIONS=true``, GitLab CI sets ``GITLAB_CI=true``; the other
    systems are detected by their modules in ``SYSTEMS`` order (see each module's docstring).
    """
    # Imported here: the integration modules import this package for ``Integration``.
    if env.get("GITHUB_ACTIONS") == "true":
        from checkly_gate.ci.github import GitHub

        return GitHub(env, secrets=secrets)
    if env.get("GITLAB_CI") == "true":
        from checkly_gate.ci.gitlab import GitLab

        return GitLab(env, now)
    found = system(env)
    if found is not None:
        module, class_name = found
        integration: Integration = getattr(module, class_name)(env)
        return integration
    return None


# CI systems with a module ``checkly_gate.ci.<module>`` defining ``detected(env)``,
# ``metadata(env)`` and the integration class; checked in this order after GitHub and GitLab.
SYSTEMS: tuple[tuple[str, str], ...] = (
    ("azure", "Azure"),
    ("buildkite", "Buildkite"),
    ("circleci", "CircleCI"),
    ("bitbucket", "Bitbucket"),
    ("jenkins", "Jenkins"),
)


def system(env: Mapping[str, str]) -> tuple[ModuleType, str] | None:
    """The module and class name of the CI system in ``SYSTEMS`` that ``env`` describes."""
    for module_name, class_name in SYSTEMS:
        module = importlib.import_module(f"checkly_gate.ci.{module_name}")
        if module.detected(env):
            return module, class_name
    return None


def run_metadata(env: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """``(system name, metadata)`` for ``checkly-gate run`` from a CI system in ``SYSTEMS``:
    ``repoUrl``, ``commitId``, ``branchName``, ``commitOwner``, ``commitMessage``,
    ``buildUrl``, each only when its variable is set; ``("", {})`` outside those systems."""
    found = system(env)
    if found is None:
        return "", {}
    module, _ = found
    return module.__name__.rsplit(".", 1)[1], module.metadata(env)


#: Every variable a commit may come from when no CI system is detected, first set wins:
#: Checkly's own, GitHub Actions, GitLab CI, Vercel, Buildkite, CircleCI, Bitbucket, Azure
#: Pipelines, Jenkins (git plugin).
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


def run_commits(env: Mapping[str, str]) -> tuple[Commit, ...]:
    """The commits this CI run stands for, the deployed (head) commit first, then the merge
    commit a pull request build runs on, each once; ``()`` when none is set.

    ``CHECKLY_REPO_SHA`` (the user's own word) alone when set; else the detected system's
    ``commits(env)`` (GitHub reads the event payload, GitLab its merged-results variable, the
    others their pull request variables); else the first of ``COMMIT_VARIABLES`` that is set.
    Values are cleaned by ``common.env_text``; not checked to be SHAs (callers decide)."""
    from checkly_gate.ci import common

    own = common.commits_from(env, "CHECKLY_REPO_SHA")
    if own:
        return own
    module: ModuleType | None = None
    if env.get("GITHUB_ACTIONS") == "true":
        module = importlib.import_module("checkly_gate.ci.github")
    elif env.get("GITLAB_CI") == "true":
        module = importlib.import_module("checkly_gate.ci.gitlab")
    else:
        found = system(env)
        module = found[0] if found else None
    if module is not None:
        commits: tuple[Commit, ...] = module.commits(env)
        if commits:
            return commits
    for name in COMMIT_VARIABLES:
        commits = common.commits_from(env, name)
        if commits:
            return commits
    return ()


# Starts a line that an integration wrote itself: the CI command on it is ours, so a shielded
# stream passes it (without the mark) while it neutralises commands in every other line.
# Untrusted text cannot carry it: text.one_line turns control characters into spaces.
COMMAND_MARK = "\x1e"


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
    """``stream`` as the CI system of ``env`` needs it: for a system whose module defines
    ``neutralise(line)`` (Azure Pipelines: ``##vso[`` anywhere in a line; Buildkite: group
    headers) every unmarked line is neutralised; elsewhere ``stream`` itself."""
    found = system(env)
    neutralise = getattr(found[0], "neutralise", None) if found else None
    if neutralise is None:
        return stream
    return cast(TextIO, ShieldedStream(stream, neutralise))

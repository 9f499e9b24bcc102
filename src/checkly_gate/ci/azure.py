"""Azure Pipelines: collapsible groups, error annotations and metadata for ``run``.

Detected by ``TF_BUILD=True``. The agent reads logging commands from the output: ``##[group]``
and ``##[endgroup]`` fold the progress, ``##vso[task.logissue type=error]`` puts each failed
check into the run's summary. Since the agent acts on ``##vso[`` anywhere in a line (and on
``##[`` formatting commands), untrusted text (check names, messages) printed by the verdict is
neutralised: a zero-width space splits the ``##``, in the verdict (``protect``) and in every
other line the gate prints (``ci.shielded``: the integration's own commands carry
``ci.COMMAND_MARK``). Publish the JUnit report with
``PublishTestResults@2`` (docs/ci/azure-pipelines.md).
Variables (https://learn.microsoft.com/azure/devops/pipelines/build/variables):
``BUILD_SOURCEVERSION``, ``BUILD_SOURCEBRANCH`` (``refs/heads/main``; for pull requests
``SYSTEM_PULLREQUEST_SOURCEBRANCH``), ``BUILD_REPOSITORY_URI``, ``BUILD_REQUESTEDFOR``,
``BUILD_SOURCEVERSIONMESSAGE``, and ``SYSTEM_COLLECTIONURI`` + ``SYSTEM_TEAMPROJECT`` +
``BUILD_BUILDID`` for the build's page.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from checkly_gate.ci.base import (
    COMMAND_MARK,
    Basic,
    Commit,
    Integration,
    branch_name,
    commits_from,
    compact,
    failure_messages,
    first,
    safe_url,
    web_url,
)
from checkly_gate.text import one_line

if TYPE_CHECKING:
    from checkly_gate.redact import Secrets
    from checkly_gate.reports import GateRun

_COMMAND = re.compile(r"##(?=\s*(?:vso)?\[)", re.IGNORECASE)


def neutralise(text: str) -> str:
    """``text`` that the agent cannot take for a command (``##vso[...]``, ``##[...]``)."""
    return _COMMAND.sub("#\u200b#", text)


def escape_data(text: str) -> str:
    """A logging command's message, escaped as azure-pipelines-task-lib does."""
    return text.replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A")


def log_issue(kind: str, message: str) -> str:
    """``##vso[task.logissue type=error]message`` with the message neutralised and escaped."""
    return f"##vso[task.logissue type={kind}]{escape_data(neutralise(message))}"


def detected(env: Mapping[str, str]) -> bool:
    return env.get("TF_BUILD", "").lower() == "true"


def commits(env: Mapping[str, str]) -> tuple[Commit, ...]:
    """The commits this build stands for, head first: on a pull request
    ``SYSTEM_PULLREQUEST_SOURCECOMMITID`` (the source branch's commit), then
    ``BUILD_SOURCEVERSION`` (there the merge commit Azure Repos made for the build)."""
    return commits_from(env, "SYSTEM_PULLREQUEST_SOURCECOMMITID", "BUILD_SOURCEVERSION")


def metadata(env: Mapping[str, str]) -> dict[str, str]:
    collection, project, build = (
        first(env, "SYSTEM_COLLECTIONURI"),
        first(env, "SYSTEM_TEAMPROJECT"),
        first(env, "BUILD_BUILDID"),
    )
    head = commits(env)
    build_url = None
    if collection and project and build:
        build_url = safe_url(
            f"{collection.rstrip('/')}/{urllib.parse.quote(project)}"
            f"/_build/results?buildId={urllib.parse.quote(build)}"
        )
    return compact(
        {
            "repoUrl": web_url(first(env, "BUILD_REPOSITORY_URI")),
            "commitId": head[0].sha if head else None,
            "branchName": branch_name(
                first(env, "SYSTEM_PULLREQUEST_SOURCEBRANCH", "BUILD_SOURCEBRANCH")
            ),
            "commitOwner": first(env, "BUILD_REQUESTEDFOR"),
            "commitMessage": first(env, "BUILD_SOURCEVERSIONMESSAGE"),
            "buildUrl": build_url,
        }
    )


class Azure(Basic):
    """Azure Pipelines: ``##[group]`` around the progress, ``task.logissue`` per failure."""

    name = "azure"

    def progress_start(self, title: str) -> list[str]:
        return [f"{COMMAND_MARK}##[group]{neutralise(one_line(title))}"]

    def progress_end(self) -> list[str]:
        return [f"{COMMAND_MARK}##[endgroup]"]

    def protect(self, lines: list[str]) -> list[str]:
        return [neutralise(line) for line in lines]

    def publish(
        self,
        run: GateRun,
        summary_markdown: str,
        junit: Path | None,
        summary: Path | None,
        secrets: Secrets | None = None,
    ) -> list[str]:
        return [COMMAND_MARK + log_issue("error", line) for line in failure_messages(run)]


NAME = "azure"
COMMIT_VARIABLES: tuple[str, ...] = ("BUILD_SOURCEVERSION",)


def integration(env: Mapping[str, str], now: Callable[[], float]) -> Integration:
    """The integration for a build in this system (``now`` unused: its log has no timestamps)."""
    return Azure(env)

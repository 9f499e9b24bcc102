"""Buildkite: collapsible log groups, a build annotation and metadata for ``run``.

Detected by ``BUILDKITE=true``. A line starting with ``--- `` opens a collapsed group, ``+++ ``
an expanded one (``~~~`` and ``^^^ +++`` are headers too), so the progress goes under
``--- `` and the verdict under ``+++ ``; verdict lines that would start a header are indented.
When ``buildkite-agent`` is on PATH the markdown summary becomes a build annotation
(``buildkite-agent annotate --style error|warning|success --context checkly-gate``).
Variables (https://buildkite.com/docs/pipelines/environment-variables): ``BUILDKITE_COMMIT``,
``BUILDKITE_BRANCH``, ``BUILDKITE_REPO``, ``BUILDKITE_BUILD_AUTHOR`` (or
``BUILDKITE_BUILD_CREATOR``), ``BUILDKITE_MESSAGE``, ``BUILDKITE_BUILD_URL``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from checkly_gate.ci.base import (
    COMMAND_MARK,
    Basic,
    Commit,
    Integration,
    commits_from,
    compact,
    first,
    safe_url,
    web_url,
)
from checkly_gate.scope import run_child
from checkly_gate.text import one_line

if TYPE_CHECKING:
    from checkly_gate.redact import Secrets
    from checkly_gate.reports import GateRun

CONTEXT = "checkly-gate"
ANNOTATION_LIMIT_BYTES = 1024 * 1024  # Buildkite refuses larger annotation bodies
ANNOTATE_SECONDS = 10.0  # at most, and never past the scope (see scope.run_child)
_HEADER = re.compile(r"^(?=(?:---|\+\+\+|~~~|\^\^\^)(?:\s|$))")


def neutralise(line: str) -> str:
    """A line that Buildkite cannot take for a group header."""
    return _HEADER.sub(" ", line)


def detected(env: Mapping[str, str]) -> bool:
    return env.get("BUILDKITE") == "true"


def commits(env: Mapping[str, str]) -> tuple[Commit, ...]:
    """The commit this build stands for: ``BUILDKITE_COMMIT``, which is the pull request's head
    commit on pull request builds too (also when the agent checks out the merge refspec,
    ``BUILDKITE_PULL_REQUEST_USING_MERGE_REFSPEC``: that merge is local, it has no SHA anyone
    deployed)."""
    return commits_from(env, "BUILDKITE_COMMIT")


def metadata(env: Mapping[str, str]) -> dict[str, str]:
    head = commits(env)
    return compact(
        {
            "repoUrl": web_url(first(env, "BUILDKITE_REPO")),
            "commitId": head[0].sha if head else None,
            "branchName": first(env, "BUILDKITE_BRANCH"),
            "commitOwner": first(env, "BUILDKITE_BUILD_AUTHOR", "BUILDKITE_BUILD_CREATOR"),
            "commitMessage": first(env, "BUILDKITE_MESSAGE"),
            "buildUrl": safe_url(first(env, "BUILDKITE_BUILD_URL")),
        }
    )


def style(run: GateRun) -> str:
    """The annotation's style: error for a non-zero exit, warning for flaky or degraded."""
    if run.verdict.exit_code != 0:
        return "error"
    counts = run.verdict.counts
    return "warning" if counts.flaky or counts.degraded else "success"


class Buildkite(Basic):
    """Buildkite: ``--- `` around the progress, ``+++ `` before the verdict, an annotation."""

    name = "buildkite"

    def progress_start(self, title: str) -> list[str]:
        return [f"{COMMAND_MARK}--- {one_line(title)}"]

    def progress_end(self) -> list[str]:
        return [f"{COMMAND_MARK}+++ Checkly verdict"]

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
        agent = shutil.which("buildkite-agent", path=self._env.get("PATH"))
        if agent is None or not summary_markdown:
            return []
        body = summary_markdown.encode("utf-8")[:ANNOTATION_LIMIT_BYTES]
        command = [agent, "annotate", "--style", style(run), "--context", CONTEXT]
        try:  # under the command's scope: killed (with its process group) at the bound or a signal
            done = run_child(command, body, ANNOTATE_SECONDS)
        except OSError as exc:
            return [f"warning: buildkite-agent annotate failed: {one_line(str(exc), 300)}"]
        if done.killed is not None:
            return [f"warning: buildkite-agent annotate was killed: {done.killed}"]
        if done.returncode != 0:
            detail = one_line(done.stderr.decode("utf-8", "replace"), 300)
            return [f"warning: buildkite-agent annotate exited {done.returncode}: {detail}"]
        return []


NAME = "buildkite"
COMMIT_VARIABLES: tuple[str, ...] = ("BUILDKITE_COMMIT",)


def integration(env: Mapping[str, str], now: Callable[[], float]) -> Integration:
    """The integration for a build in this system (``now`` unused: its log has no timestamps)."""
    return Buildkite(env)

"""CI integrations: what the gate prints and writes for the CI system it runs in.

``detect`` picks the integration from the environment. Each integration turns a finished run into
CI-native artefacts (GitHub annotations, outputs and step summary; GitLab collapsible sections)
and knows how to print untrusted text so it cannot be taken for a CI command.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from checkly_gate.text import link as text_link

if TYPE_CHECKING:
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


def detect(env: Mapping[str, str], now: Callable[[], float] = time.time) -> Integration | None:
    """The integration for the CI system described by ``env``; ``None`` outside CI.

    GitHub Actions sets ``GITHUB_ACTIONS=true``, GitLab CI sets ``GITLAB_CI=true``.
    """
    # Imported here: the integration modules import this package for ``Integration``.
    if env.get("GITHUB_ACTIONS") == "true":
        from checkly_gate.ci.github import GitHub

        return GitHub(env)
    if env.get("GITLAB_CI") == "true":
        from checkly_gate.ci.gitlab import GitLab

        return GitLab(env, now)
    return None

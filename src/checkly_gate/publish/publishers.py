"""The publishers a command runs (issue 22): which ones its options ask for (``build``), the
``pending`` when following starts (``announce``) and the verdict (``publish_verdict``), each
bounded by the command's scope. Apart from ``publish/__init__.py`` so the package's modules
import it and not the other way round (no import cycle)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from checkly_gate import redact
from checkly_gate.publish import report
from checkly_gate.reports import GateRun
from checkly_gate.scope import Scope

#: Seconds for posting ``pending`` when following starts (inside the command's deadline).
START_BUDGET = 10.0
#: Seconds for publishing the verdict, in a shielded child scope: a timed-out or interrupted
#: gate still posts its error status. After a signal it is shorter: GitHub sends SIGTERM
#: 7.5 s after SIGINT.
FINISH_BUDGET = 10.0
FINISH_BUDGET_AFTER_SIGNAL = 3.0


def build(options: Any, env: Mapping[str, str], secrets: redact.Secrets, scope: Scope) -> list[Any]:
    """The publishers ``options`` ask for (``config.Options``: ``--comment``, ``--status``,
    ``--notify``), each handed the command's ``secrets``. The platform is GitLab in a GitLab
    pipeline (``GITLAB_CI``) or with ``CHECKLY_GATE_GITLAB_TOKEN`` and ``CI_API_V4_URL`` set,
    unless ``--repository`` and ``GITHUB_TOKEN`` name a GitHub repository; else GitHub (from
    any CI: ``GITHUB_TOKEN``, the repository from the CI or ``--repository``).
    The commit is the deployed one: the first of ``ci.run_commits(env)`` (a PR's head)."""
    from checkly_gate.ci import run_commits
    from checkly_gate.publish.github import GitHubPublisher
    from checkly_gate.publish.gitlab import GitLabPublisher
    from checkly_gate.publish.notify import Notifier

    found: list[Any] = []
    if options.comment or options.status:
        commits = run_commits(env)
        commit = commits[0].sha if commits else None
        kind: Any = GitLabPublisher
        gitlab = env.get("GITLAB_CI") == "true" or bool(
            env.get("CHECKLY_GATE_GITLAB_TOKEN") and env.get("CI_API_V4_URL")
        )
        if options.repository and env.get("GITHUB_TOKEN"):  # a GitHub repository, from any CI
            gitlab = False
        common = {
            "comment": options.comment,
            "comment_key": options.comment_key,
            "status": options.status,
            "context": options.status_context,
            "commit": commit,
            "secrets": secrets,
        }
        if gitlab:
            found.append(GitLabPublisher(env, scope, **common))
        else:
            kind = GitHubPublisher
            found.append(kind(env, scope, repository=options.repository, **common))
    if options.notify:
        found.append(
            Notifier(options.notify, scope, on=options.notify_on, env=env, secrets=secrets)
        )
    return found


def announce(publishers: Sequence[Any], scope: Scope, link: str | None) -> None:
    """Following starts: each publisher's ``start`` (a ``pending`` status) in a child scope of
    ``START_BUDGET`` seconds (never past the deadline). Never raises."""
    if not publishers or scope.done:
        return
    with scope.child(START_BUDGET) as starting:
        for publisher in publishers:
            _safely(publisher, starting, lambda p: p.start(link))


def publish_verdict(
    publishers: Sequence[Any], scope: Scope, run: GateRun, summary_markdown: str
) -> None:
    """The verdict is known: each publisher's ``finish`` in one shielded child scope (so a
    timed-out or interrupted gate still posts its error status), ``FINISH_BUDGET`` seconds for
    all (``FINISH_BUDGET_AFTER_SIGNAL`` after a signal). Never raises, never changes the exit
    code."""
    if not publishers:
        return
    budget = FINISH_BUDGET if scope.signal is None else FINISH_BUDGET_AFTER_SIGNAL
    with scope.child(budget, shield=True) as finishing:
        for publisher in publishers:
            _safely(publisher, finishing, lambda p: p.finish(run, summary_markdown))


def _safely(publisher: Any, scope: Scope, call: Callable[[Any], None]) -> None:
    view = publisher.under(scope)
    try:
        call(view)
    except Exception as exc:  # a publisher must never end the gate nor change its code
        report(publisher.name, f"{type(exc).__name__}: {exc}", None, getattr(view, "secrets", None))
    finally:
        with contextlib.suppress(Exception):
            view.close()

"""CircleCI: metadata for ``run`` from CircleCI's built-in variables.

Detected by ``CIRCLECI=true``. Each step is its own log section already and the log has no
commands; publish the JUnit report with ``store_test_results`` (docs/ci/circleci.md).
Variables (https://circleci.com/docs/variables/#built-in-environment-variables):
``CIRCLE_SHA1``, ``CIRCLE_BRANCH``, ``CIRCLE_REPOSITORY_URL``, ``CIRCLE_USERNAME``,
``CIRCLE_BUILD_URL``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from checkly_gate.ci.base import (
    Basic,
    Commit,
    Integration,
    commits_from,
    compact,
    first,
    safe_url,
    unchanged,
    web_url,
)


def detected(env: Mapping[str, str]) -> bool:
    return env.get("CIRCLECI") == "true"


def commits(env: Mapping[str, str]) -> tuple[Commit, ...]:
    """The commit this build stands for: ``CIRCLE_SHA1``, the pull request's head commit on
    pull request builds (CircleCI builds the branch, never a merge commit)."""
    return commits_from(env, "CIRCLE_SHA1")


def metadata(env: Mapping[str, str]) -> dict[str, str]:
    head = commits(env)
    return compact(
        {
            "repoUrl": web_url(first(env, "CIRCLE_REPOSITORY_URL")),
            "commitId": head[0].sha if head else None,
            "branchName": first(env, "CIRCLE_BRANCH"),
            "commitOwner": first(env, "CIRCLE_USERNAME"),
            "buildUrl": safe_url(first(env, "CIRCLE_BUILD_URL")),
        }
    )


class CircleCI(Basic):
    name = "circleci"


NAME = "circleci"
COMMIT_VARIABLES: tuple[str, ...] = ("CIRCLE_SHA1",)


def integration(env: Mapping[str, str], now: Callable[[], float]) -> Integration:
    """The integration for a build in this system (``now`` unused: its log has no timestamps)."""
    return CircleCI(env)


neutralise = unchanged  # the log has no commands to neutralise

"""Bitbucket Pipelines: metadata for ``run`` from Bitbucket's default variables.

Detected by ``BITBUCKET_BUILD_NUMBER`` together with ``BITBUCKET_COMMIT``. The log has no
commands; Bitbucket reads JUnit reports from any ``test-results/`` folder (or
``test-reports/``...) up to three levels below the clone (docs/ci/bitbucket-pipelines.md).
Variables (https://support.atlassian.com/bitbucket-cloud/docs/variables-and-secrets/):
``BITBUCKET_COMMIT``, ``BITBUCKET_BRANCH``, ``BITBUCKET_GIT_HTTP_ORIGIN``,
``BITBUCKET_BUILD_NUMBER``; the build's page is ``<origin>/pipelines/results/<number>``.
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
    return bool(env.get("BITBUCKET_BUILD_NUMBER") and env.get("BITBUCKET_COMMIT"))


def commits(env: Mapping[str, str]) -> tuple[Commit, ...]:
    """The commit this build stands for: ``BITBUCKET_COMMIT``, the source branch's commit on
    pull-request pipelines too (the merge with the destination is made locally, no SHA)."""
    return commits_from(env, "BITBUCKET_COMMIT")


def metadata(env: Mapping[str, str]) -> dict[str, str]:
    origin = web_url(first(env, "BITBUCKET_GIT_HTTP_ORIGIN"))
    if origin and origin.startswith("http://"):
        origin = "https://" + origin.removeprefix("http://")  # Bitbucket serves https only
    number = first(env, "BITBUCKET_BUILD_NUMBER")
    head = commits(env)
    return compact(
        {
            "repoUrl": origin,
            "commitId": head[0].sha if head else None,
            "branchName": first(env, "BITBUCKET_BRANCH"),
            "buildUrl": safe_url(f"{origin}/pipelines/results/{number}")
            if origin and number
            else None,
        }
    )


class Bitbucket(Basic):
    name = "bitbucket"


NAME = "bitbucket"
COMMIT_VARIABLES: tuple[str, ...] = ("BITBUCKET_COMMIT",)


def integration(env: Mapping[str, str], now: Callable[[], float]) -> Integration:
    """The integration for a build in this system (``now`` unused: its log has no timestamps)."""
    return Bitbucket(env)


neutralise = unchanged  # the log has no commands to neutralise

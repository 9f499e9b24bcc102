"""Bitbucket Pipelines: metadata for ``run`` from Bitbucket's default variables.

Detected by ``BITBUCKET_BUILD_NUMBER`` together with ``BITBUCKET_COMMIT``. The log has no
commands; Bitbucket reads JUnit reports from any ``test-results/`` folder (or
``test-reports/``...) up to three levels below the clone (docs/ci/bitbucket-pipelines.md).
Variables (https://support.atlassian.com/bitbucket-cloud/docs/variables-and-secrets/):
``BITBUCKET_COMMIT``, ``BITBUCKET_BRANCH``, ``BITBUCKET_GIT_HTTP_ORIGIN``,
``BITBUCKET_BUILD_NUMBER``; the build's page is ``<origin>/pipelines/results/<number>``.
"""

from __future__ import annotations

from collections.abc import Mapping

from checkly_gate.ci.common import Basic, compact, first, web_url


def detected(env: Mapping[str, str]) -> bool:
    return bool(env.get("BITBUCKET_BUILD_NUMBER") and env.get("BITBUCKET_COMMIT"))


def metadata(env: Mapping[str, str]) -> dict[str, str]:
    origin = web_url(first(env, "BITBUCKET_GIT_HTTP_ORIGIN"))
    if origin and origin.startswith("http://"):
        origin = "https://" + origin.removeprefix("http://")  # Bitbucket serves https only
    number = first(env, "BITBUCKET_BUILD_NUMBER")
    return compact(
        {
            "repoUrl": origin,
            "commitId": first(env, "BITBUCKET_COMMIT"),
            "branchName": first(env, "BITBUCKET_BRANCH"),
            "buildUrl": f"{origin}/pipelines/results/{number}" if origin and number else None,
        }
    )


class Bitbucket(Basic):
    name = "bitbucket"

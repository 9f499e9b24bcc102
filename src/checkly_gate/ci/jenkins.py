"""Jenkins: metadata for ``run`` from the Jenkins and Git plugin variables.

Detected by ``JENKINS_URL`` (set by Jenkins for every build). The console log has no commands,
so there is nothing to group or protect; publish the JUnit report with the ``junit`` step
(docs/ci/jenkins.md). Variables: ``GIT_COMMIT``, ``BRANCH_NAME`` (multibranch) or
``GIT_BRANCH`` (``origin/main``), ``GIT_URL``, ``CHANGE_AUTHOR``, ``BUILD_URL``
(https://www.jenkins.io/doc/book/pipeline/jenkinsfile/#using-environment-variables and the Git
plugin's environment variables).
"""

from __future__ import annotations

from collections.abc import Mapping

from checkly_gate.ci.common import Basic, branch_name, compact, first, web_url


def detected(env: Mapping[str, str]) -> bool:
    return bool(env.get("JENKINS_URL"))


def metadata(env: Mapping[str, str]) -> dict[str, str]:
    return compact(
        {
            "repoUrl": web_url(first(env, "GIT_URL", "CHANGE_URL")),
            "commitId": first(env, "GIT_COMMIT"),
            "branchName": first(env, "BRANCH_NAME", "GIT_LOCAL_BRANCH")
            or branch_name(first(env, "GIT_BRANCH")),
            "commitOwner": first(env, "CHANGE_AUTHOR", "GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"),
            "buildUrl": first(env, "BUILD_URL"),
        }
    )


class Jenkins(Basic):
    name = "jenkins"

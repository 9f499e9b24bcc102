"""Jenkins: metadata for ``run`` from the Jenkins and Git plugin variables.

Detected by ``JENKINS_URL`` (set by Jenkins for every build). The console log has no commands,
so there is nothing to group or protect; publish the JUnit report with the ``junit`` step
(docs/ci/jenkins.md). Variables: ``GIT_COMMIT``, ``BRANCH_NAME`` (multibranch) or
``GIT_BRANCH`` (``origin/main``), ``GIT_URL``, ``CHANGE_AUTHOR``, ``BUILD_URL``
(https://www.jenkins.io/doc/book/pipeline/jenkinsfile/#using-environment-variables and the Git
plugin's environment variables).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from checkly_gate.ci.base import (
    Basic,
    Commit,
    Integration,
    branch_name,
    commits_from,
    compact,
    first,
    safe_url,
    unchanged,
    web_url,
)


def detected(env: Mapping[str, str]) -> bool:
    return bool(env.get("JENKINS_URL"))


def commits(env: Mapping[str, str]) -> tuple[Commit, ...]:
    """The commits this build stands for, head first: on a pull request the head commit
    (``ghprbActualCommit`` of the GitHub Pull Request Builder, ``gitlabMergeRequestLastCommit``
    of the GitLab plugin), then ``GIT_COMMIT`` (the merge commit when the job builds the merge,
    else the same head)."""
    return commits_from(env, "ghprbActualCommit", "gitlabMergeRequestLastCommit", "GIT_COMMIT")


def metadata(env: Mapping[str, str]) -> dict[str, str]:
    head = commits(env)
    return compact(
        {
            "repoUrl": web_url(first(env, "GIT_URL", "CHANGE_URL")),
            "commitId": head[0].sha if head else None,
            # a pull request: its source branch (multibranch CHANGE_BRANCH, ghprbSourceBranch),
            # not the job's name for it (BRANCH_NAME is "PR-7" there)
            "branchName": first(env, "CHANGE_BRANCH", "ghprbSourceBranch")
            or first(env, "BRANCH_NAME", "GIT_LOCAL_BRANCH")
            or branch_name(first(env, "GIT_BRANCH")),
            "commitOwner": first(env, "CHANGE_AUTHOR", "GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"),
            "buildUrl": safe_url(first(env, "BUILD_URL")),
        }
    )


class Jenkins(Basic):
    name = "jenkins"


NAME = "jenkins"
COMMIT_VARIABLES: tuple[str, ...] = ("GIT_COMMIT",)


def integration(env: Mapping[str, str], now: Callable[[], float]) -> Integration:
    """The integration for a build in this system (``now`` unused: its log has no timestamps)."""
    return Jenkins(env)


neutralise = unchanged  # the log has no commands to neutralise

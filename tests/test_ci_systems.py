"""Jenkins, Azure Pipelines, CircleCI, Bitbucket Pipelines and Buildkite: detection, metadata
for ``run`` from each system's documented variables, log groups, annotations, and untrusted
text that cannot become a log command."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkly_gate.ci import azure, detect
from checkly_gate.ci import system as find_system
from checkly_gate.ci.base import COMMAND_MARK, Integration, branch_name, failure_messages, web_url
from checkly_gate.trigger import TriggerOptions, ci_metadata, default_name, request_body
from tests import runs
from tests.fakes import row, session_body

SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"

# Each system as its documentation describes a build of branch feature/login at SHA.
SYSTEMS = {
    "jenkins": {
        "JENKINS_URL": "https://jenkins.example.com/",
        "BUILD_URL": "https://jenkins.example.com/job/shop/job/feature%2Flogin/7/",
        "GIT_COMMIT": SHA,
        "GIT_BRANCH": "origin/feature/login",
        "GIT_URL": "https://ci-bot:s3cr3t@github.com/acme/shop.git",
        "CHANGE_AUTHOR": "ada",
    },
    "azure": {
        "TF_BUILD": "True",
        "BUILD_SOURCEVERSION": SHA,
        "BUILD_SOURCEBRANCH": "refs/heads/feature/login",
        "BUILD_SOURCEBRANCHNAME": "login",
        "BUILD_REPOSITORY_URI": "https://acme@dev.azure.com/acme/shop/_git/shop",
        "BUILD_REQUESTEDFOR": "Ada Lovelace",
        "BUILD_SOURCEVERSIONMESSAGE": "Fix login",
        "SYSTEM_COLLECTIONURI": "https://dev.azure.com/acme/",
        "SYSTEM_TEAMPROJECT": "shop",
        "BUILD_BUILDID": "7",
    },
    "circleci": {
        "CI": "true",
        "CIRCLECI": "true",
        "CIRCLE_SHA1": SHA,
        "CIRCLE_BRANCH": "feature/login",
        "CIRCLE_REPOSITORY_URL": "git@github.com:acme/shop.git",
        "CIRCLE_USERNAME": "ada",
        "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/shop/7",
    },
    "bitbucket": {
        "CI": "true",
        "BITBUCKET_BUILD_NUMBER": "7",
        "BITBUCKET_COMMIT": SHA,
        "BITBUCKET_BRANCH": "feature/login",
        "BITBUCKET_GIT_HTTP_ORIGIN": "http://bitbucket.org/acme/shop",
        "BITBUCKET_REPO_FULL_NAME": "acme/shop",
    },
    "buildkite": {
        "CI": "true",
        "BUILDKITE": "true",
        "BUILDKITE_COMMIT": SHA,
        "BUILDKITE_BRANCH": "feature/login",
        "BUILDKITE_REPO": "git@github.com:acme/shop.git",
        "BUILDKITE_BUILD_AUTHOR": "Ada Lovelace",
        "BUILDKITE_MESSAGE": "Fix login",
        "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/shop/builds/7",
    },
}
EXPECTED = {
    "jenkins": {
        "repoUrl": "https://github.com/acme/shop",
        "commitOwner": "ada",
        "buildUrl": "https://jenkins.example.com/job/shop/job/feature%2Flogin/7/",
    },
    "azure": {
        "repoUrl": "https://dev.azure.com/acme/shop/_git/shop",
        "commitOwner": "Ada Lovelace",
        "commitMessage": "Fix login",
        "buildUrl": "https://dev.azure.com/acme/shop/_build/results?buildId=7",
    },
    "circleci": {
        "repoUrl": "https://github.com/acme/shop",
        "commitOwner": "ada",
        "buildUrl": "https://circleci.com/gh/acme/shop/7",
    },
    "bitbucket": {
        "repoUrl": "https://bitbucket.org/acme/shop",
        "buildUrl": "https://bitbucket.org/acme/shop/pipelines/results/7",
    },
    "buildkite": {
        "repoUrl": "https://github.com/acme/shop",
        "commitOwner": "Ada Lovelace",
        "commitMessage": "Fix login",
        "buildUrl": "https://buildkite.com/acme/shop/builds/7",
    },
}


@pytest.mark.parametrize("system", SYSTEMS)
def test_each_system_is_detected_and_gives_run_its_metadata(system: str) -> None:
    env = SYSTEMS[system]
    integration = detect(env)
    assert isinstance(integration, Integration) and integration.name == system
    module = find_system(env)
    assert module is not None and system == module.NAME
    found = module.metadata(env)
    assert found == {"commitId": SHA, "branchName": "feature/login", **EXPECTED[system]}
    # What `run` sends: the standard keys, the build page under the system's name.
    metadata = ci_metadata(env)
    assert metadata[system] == {"buildUrl": EXPECTED[system]["buildUrl"]}
    assert metadata["commitId"] == SHA and metadata["branchName"] == "feature/login"
    assert "s3cr3t" not in json.dumps(metadata)  # credentials in a clone URL never leave
    repo = EXPECTED[system]["repoUrl"].split("/", 3)[3]  # acme/shop (Azure: acme/shop/_git/shop)
    assert default_name(env) == f"checkly-gate: {repo}@feature/login"
    body = request_body(TriggerOptions(tag_groups=(("web",),)), env)
    assert body["metadata"]["repoUrl"] == EXPECTED[system]["repoUrl"]


@pytest.mark.parametrize("system", SYSTEMS)
def test_checklys_own_variables_win_over_the_systems(system: str) -> None:
    env = {**SYSTEMS[system], "CHECKLY_REPO_SHA": "abc123", "CHECKLY_REPO_BRANCH": "release"}
    metadata = ci_metadata(env)
    assert (metadata["commitId"], metadata["branchName"]) == ("abc123", "release")


def test_no_system_without_its_variables() -> None:
    assert detect({"CI": "true"}) is None
    assert find_system({"CI": "true", "BITBUCKET_COMMIT": SHA}) is None
    assert detect({"TF_BUILD": "False"}) is None
    assert detect({"CIRCLECI": "1"}) is None
    # GitHub and GitLab keep priority when a runner also exports another system's variables
    assert detect({"GITHUB_ACTIONS": "true", "JENKINS_URL": "x"}).name == "github"


@pytest.mark.parametrize(
    ("url", "web"),
    [
        ("git@github.com:acme/shop.git", "https://github.com/acme/shop"),
        ("ssh://git@gitlab.example.com:2222/acme/shop.git", "https://gitlab.example.com/acme/shop"),
        ("https://user:token@github.com/acme/shop.git", "https://github.com/acme/shop"),
        ("https://github.com/acme/shop/", "https://github.com/acme/shop"),
        ("", None),
        ("not a url", None),
    ],
)
def test_clone_urls_become_web_urls_without_credentials(url: str, web: str | None) -> None:
    assert web_url(url) == web


def test_branch_refs() -> None:
    assert branch_name("refs/heads/a/b") == "a/b"
    assert branch_name("origin/main") == "main"
    assert branch_name("refs/tags/v1") is None


# --- Azure Pipelines ----------------------------------------------------------------------


def test_azure_groups_the_progress_and_annotates_each_failed_check() -> None:
    integration = detect(SYSTEMS["azure"])
    assert integration.progress_start("Waiting for ##vso[task.complete]") == [
        f"{COMMAND_MARK}##[group]Waiting for #\u200b#vso[task.complete]"
    ]
    assert integration.progress_end() == [f"{COMMAND_MARK}##[endgroup]"]
    lines = integration.publish(runs.failed(), "", None, None)
    assert len(lines) == 2
    assert all(line.startswith(f"{COMMAND_MARK}##vso[task.logissue type=error]") for line in lines)
    assert any("Checkout" in line for line in lines) and any(
        "Payments API" in line for line in lines
    )
    assert integration.publish(runs.passed(), "", None, None) == []
    (session,) = integration.publish(runs.unavailable(), "", None, None)
    assert "HTTP 503" in session  # the reason, whatever the outcome's name


COMMAND = re.compile(r"##\s*(vso)?\[", re.I)


@given(st.text(alphabet=st.sampled_from(list("#vsoVSO[] %;\r\nx")), max_size=40))
def test_azure_untrusted_text_never_makes_a_command(text: str) -> None:
    assert not COMMAND.search(azure.neutralise(text))
    line = azure.log_issue("error", text)
    data = line.removeprefix("##vso[task.logissue type=error]")
    assert not COMMAND.search(data) and "\n" not in data and "\r" not in data
    for protected in detect(SYSTEMS["azure"]).protect([text]):
        assert not COMMAND.search(protected)


@pytest.mark.parametrize("name", [*runs.NASTY, "##vso[task.setvariable variable=X]1", "##[error]x"])
def test_azure_check_names_cannot_inject(name: str) -> None:
    (marked,) = azure.Azure({}).publish(
        runs.from_body(session_body("FAILED", [row(name, "FAILED")])), "", None, None
    )
    line = marked.removeprefix(COMMAND_MARK)
    assert line.count("##vso[") == 1 and line.startswith("##vso[task.logissue type=error]")
    assert "\n" not in line


# --- Buildkite --------------------------------------------------------------------------------


@given(st.text(alphabet=st.sampled_from(list("-+~^ \nx")), max_size=30))
def test_buildkite_untrusted_lines_never_open_a_group(text: str) -> None:
    for line in detect(SYSTEMS["buildkite"]).protect(text.split("\n")):
        assert not re.match(r"(---|\+\+\+|~~~|\^\^\^)(\s|$)", line)


def test_buildkite_groups_progress_collapsed_and_the_verdict_expanded() -> None:
    integration = detect(SYSTEMS["buildkite"])
    assert integration.progress_start("Waiting\nfor x") == [f"{COMMAND_MARK}--- Waiting for x"]
    assert integration.progress_end() == [f"{COMMAND_MARK}+++ Checkly verdict"]
    # no agent on PATH: nothing to annotate, nothing printed
    assert integration.publish(runs.failed(), "# md", None, None) == []


FAKE_AGENT = """\
#!{python}
import json, os, sys
with open(os.environ["AGENT_RECORD"], "a", encoding="utf-8") as f:
    f.write(json.dumps({{"args": sys.argv[1:], "body": sys.stdin.read()}}) + "\\n")
sys.exit(int(os.environ.get("AGENT_EXIT", "0")))
"""


@pytest.mark.parametrize(
    ("run", "style"),
    [(runs.failed, "error"), (runs.passed, "warning"), (runs.timed_out, "error")],
)
def test_buildkite_annotates_with_the_agent_on_path(tmp_path: Path, run, style: str) -> None:
    agent = tmp_path / "buildkite-agent"
    agent.write_text(FAKE_AGENT.format(python=sys.executable), encoding="utf-8")
    agent.chmod(0o755)
    record = tmp_path / "record.jsonl"
    os.environ["AGENT_RECORD"] = str(record)
    try:
        env = {**SYSTEMS["buildkite"], "PATH": str(tmp_path)}
        lines = detect(env).publish(run(), "## Checkly: summary\n", None, None)
    finally:
        del os.environ["AGENT_RECORD"]
    assert lines == []
    (call,) = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    assert call["args"] == ["annotate", "--style", style, "--context", "checkly-gate"]
    assert call["body"] == "## Checkly: summary\n"


def test_buildkite_agent_failure_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    agent = tmp_path / "buildkite-agent"
    agent.write_text("#!/bin/sh\necho 'no token' >&2\nexit 3\n", encoding="utf-8")
    agent.chmod(0o755)
    env = {**SYSTEMS["buildkite"], "PATH": str(tmp_path)}
    (line,) = detect(env).publish(runs.failed(), "x", None, None)
    assert line.startswith("warning: buildkite-agent annotate exited 3") and "no token" in line


# --- the systems without log commands --------------------------------------------------------


@pytest.mark.parametrize("system", ["jenkins", "circleci", "bitbucket"])
def test_plain_logs_print_nothing_of_their_own(system: str) -> None:
    integration = detect(SYSTEMS[system])
    assert integration.progress_start("x") == [] and integration.progress_end() == []
    assert integration.protect(["a", "b"]) == ["a", "b"]
    assert integration.publish(runs.failed(), "md", None, None) == []


def test_failure_messages_name_the_failed_checks_then_cap() -> None:
    lines = failure_messages(runs.failed())
    assert [line.split(" ")[0] for line in lines] == ["Checkout", "Payments"]
    assert failure_messages(runs.passed()) == []
    assert len(failure_messages(runs.failed(), limit=1)) == 2


# --- end to end: what the log of each system receives ----------------------------------------

INJECTING = """\
name: injecting
session_name: "##vso[task.setvariable variable=NAME]x"
checks:
  - name: "Homepage ##vso[task.setvariable variable=PWNED]yes"
    start: 0
    duration: 0.2
    outcome: passed
  - name: "--- Checkout ##[error]forged"
    start: 0
    duration: 0.2
    outcome: failed
    error_message: "boom ##vso[task.complete result=Succeeded]done"
"""


@pytest.mark.parametrize("system", ["azure", "buildkite"])
def test_the_log_carries_only_the_gates_own_commands(system: str, tmp_path: Path) -> None:
    import subprocess
    import uuid

    from checkly_gate.simulator import Simulator, load_scenario
    from tests.tools import clean_env

    scenario = tmp_path / "injecting.yml"
    scenario.write_text(INJECTING, encoding="utf-8")
    with Simulator(scenario=load_scenario(str(scenario)), api_key="k", speed=5) as sim:
        env = {
            **clean_env(),
            **SYSTEMS[system],
            "CHECKLY_API_KEY": "k",
            "NO_COLOR": "1",
            "PATH": os.environ.get("PATH", ""),
        }
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "checkly_gate",
                "wait",
                str(uuid.uuid4()),
                "--api-url",
                sim.url,
                "--poll-interval",
                "0.1",
                "--timeout",
                "20",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    log = (proc.stdout + proc.stderr).splitlines()
    assert "Checkout" in proc.stdout and "\x1e" not in proc.stdout + proc.stderr
    if system == "azure":
        commands = [line for line in log if COMMAND.search(line)]
        assert commands[0].startswith("##[group]") and "##[endgroup]" in commands
        issues = [c for c in commands if c.startswith("##vso[task.logissue type=error]")]
        assert len(issues) == 1 and "Checkout" in issues[0]
        # only the gate's own: one group, one end, one issue; nothing a name or message forged
        assert len(commands) == 3, commands
        for command in commands:
            assert command.count("##") == 1, command  # forged ones read #\u200b#
    else:
        headers = [line for line in log if re.match(r"(---|\+\+\+|~~~|\^\^\^)(\s|$)", line)]
        assert headers[0].startswith("--- ") and headers[1] == "+++ Checkly verdict"
        assert len(headers) == 2, headers


def test_every_system_implements_the_protocol() -> None:
    """Each member of ``ci.SYSTEMS`` is a whole CI system: the ``System`` protocol's members
    (mypy checks their types statically), an integration of the ``Integration`` protocol, its
    commit variables in ``COMMIT_VARIABLES``; names are unique and the modules are imported
    statically (each is an attribute of the ``ci`` package)."""
    import checkly_gate.ci as ci
    from checkly_gate.ci.base import System

    members = [name for name in dir(System) if not name.startswith("_")]
    assert {"NAME", "COMMIT_VARIABLES", "detected", "integration", "metadata", "commits"} <= {
        *members,
        *System.__annotations__,
    }
    names = [member.NAME for member in ci.SYSTEMS]
    assert len(set(names)) == len(names) == 7
    for member in ci.SYSTEMS:
        for attribute in [*members, *System.__annotations__]:
            assert hasattr(member, attribute), (member.NAME, attribute)
        assert callable(member.neutralise) and member.neutralise("x\n") == member.neutralise("x\n")
        assert getattr(ci, member.NAME.lower(), member) is member or member.__name__.endswith(
            member.NAME
        )
        assert set(member.COMMIT_VARIABLES) <= set(ci.COMMIT_VARIABLES)
        assert member.detected({}) is False
        assert isinstance(member.integration({}, lambda: 0.0), Integration)
        assert member.commits({}) == ()


def test_ci_package_has_no_import_cycle() -> None:
    """``ci`` imports its systems statically; no system module (nor ``reports``) imports the
    ``ci`` package back (only ``ci.base``), checked on the source's import statements."""
    import ast
    from pathlib import Path

    import checkly_gate

    root = Path(checkly_gate.__file__).parent
    for path in [*root.joinpath("ci").glob("*.py"), *root.joinpath("reports").glob("*.py")]:
        if path.name == "__init__.py" and path.parent.name == "ci":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "checkly_gate.ci":
                raise AssertionError(f"{path.name} imports the ci package: {ast.dump(node)}")
            if isinstance(node, ast.Import) and any(
                a.name == "checkly_gate.ci" for a in node.names
            ):
                raise AssertionError(f"{path.name} imports the ci package")

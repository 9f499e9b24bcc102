"""Every environment value is untrusted text (issue 18.3): undecodable bytes, control
characters, CI log markers and credentials in CI variables never crash the gate, never reach
a request unclean, and a URL never leaves the machine with its credentials. Property tests
over environment bytes, through the metadata builder and through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkly_gate.ci.base import safe_url, web_url
from checkly_gate.simulator import Simulator, load_scenario
from checkly_gate.trigger import TriggerOptions, ci_metadata, request_body
from tests.tools import clean_env

KEY = "cu_env_bytes_" + "k3y" * 8
# Variables the metadata builder reads, of every system it knows.
TEXT_VARIABLES = (
    "BUILDKITE_MESSAGE",
    "BUILDKITE_BRANCH",
    "BUILDKITE_BUILD_AUTHOR",
    "GITHUB_HEAD_REF",
    "GITHUB_REF_NAME",
    "GITHUB_ACTOR",
    "GITHUB_REPOSITORY",
    "CHECKLY_REPO_COMMIT_MESSAGE",
    "CHECKLY_REPO_BRANCH",
    "CHECKLY_TEST_ENVIRONMENT",
    "CI_COMMIT_TITLE",
    "CI_COMMIT_AUTHOR",
    "CI_COMMIT_REF_NAME",
    "BUILD_SOURCEVERSIONMESSAGE",
    "BUILD_REQUESTEDFOR",
    "CHANGE_AUTHOR",
    "CIRCLE_USERNAME",
    "BRANCH_NAME",
)
URL_VARIABLES = (
    "CHECKLY_REPO_URL",
    "CI_PROJECT_URL",
    "BUILDKITE_REPO",
    "BUILDKITE_BUILD_URL",
    "GIT_URL",
    "BUILD_URL",
    "CIRCLE_BUILD_URL",
    "CIRCLE_REPOSITORY_URL",
    "BUILD_REPOSITORY_URI",
    "GITHUB_SERVER_URL",
)
SYSTEMS = (
    {"GITHUB_ACTIONS": "true"},
    {"GITLAB_CI": "true"},
    {"BUILDKITE": "true"},
    {"JENKINS_URL": "https://ci.example/"},
    {"TF_BUILD": "True"},
    {"CIRCLECI": "true"},
    {},
)


def env_value(raw: bytes) -> str:
    """What ``os.environ`` holds for ``raw`` bytes on POSIX (surrogateescape)."""
    return os.fsdecode(raw.replace(b"\0", b""))


def clean(value: object) -> bool:
    """A value fit for a request: encodable, one line, no control or escape characters."""
    if isinstance(value, dict):
        return all(clean(v) for v in value.values())
    if not isinstance(value, str):
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return value.isprintable() and "##[" not in value


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SYSTEMS),
    st.dictionaries(st.sampled_from(TEXT_VARIABLES + URL_VARIABLES), st.binary(max_size=80)),
)
def test_any_environment_bytes_give_clean_metadata(system: dict, raw: dict[str, bytes]) -> None:
    env = {**system, **{name: env_value(value) for name, value in raw.items()}}
    metadata = ci_metadata(env)
    assert clean(metadata)
    body = request_body(TriggerOptions(tag_groups=(("web",),)), env)
    json.dumps(body, ensure_ascii=False).encode("utf-8")  # what httpx sends: never raises


password = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs"), blacklist_characters="/?#"),
    max_size=20,
).map(lambda p: f"S3cr{p}")  # a password may hold "@" and ":"; its start names it


@settings(deadline=None, max_examples=200)
@given(password, st.sampled_from(URL_VARIABLES), st.sampled_from(SYSTEMS))
def test_credentials_in_ci_urls_never_reach_checkly(secret: str, name: str, system: dict) -> None:
    user = "ci-bot"
    quoted = urllib.parse.quote(secret, safe="@:")  # a password holding "@" or ":" as written
    url = f"https://{user}:{quoted}@github.com/acme/shop.git?token={quoted}&private_token=x"
    env = {**system, name: url}
    sent = json.dumps(ci_metadata(env))
    assert quoted not in sent and secret not in sent and f"{user}:" not in sent
    assert "token" not in sent


def test_safe_url_examples() -> None:
    assert safe_url("https://u:p@ss@github.com/o/r.git") == "https://github.com/o/r.git"
    assert web_url("https://u:p@ss@github.com/o/r.git") == "https://github.com/o/r"
    assert safe_url("https://jenkins/job/7/?token=abc#x") == "https://jenkins/job/7/"
    keep = "https://dev.azure.com/acme/shop/_build/results?buildId=7"
    assert safe_url(keep) == keep
    for bad in ("ftp://x/y", "javascript:alert(1)", "https://x\udcff/y", "https://a b/", "", None):
        assert safe_url(bad) is None


@settings(
    deadline=None, max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(st.sampled_from(TEXT_VARIABLES), st.binary(min_size=1, max_size=40), min_size=1)
)
def test_run_with_any_environment_bytes_triggers_cleanly(tmp_path: Path, raw: dict) -> None:
    # The real CLI, its environment given as bytes (as a runner passes it): never a traceback;
    # the trigger arrives and its metadata is clean text.
    with Simulator(scenario=load_scenario("passing"), api_key=KEY, speed=20) as sim:
        environ = {k.encode(): v.encode() for k, v in clean_env().items()}
        environ.update({b"CHECKLY_API_KEY": KEY.encode(), b"NO_COLOR": b"1"})
        environ.update({b"BUILDKITE": b"true", b"BUILDKITE_COMMIT": b"9fceb02d0ae598e9"})
        environ.update({k.encode(): v.replace(b"\0", b"") for k, v in raw.items()})
        command = [sys.executable, "-m", "checkly_gate", "run", "--tags", "web"]
        command += ["--api-url", sim.url, "--poll-interval", "0.1", "--timeout", "20"]
        proc = subprocess.run(command, env=environ, cwd=tmp_path, capture_output=True, timeout=60)
        triggered = sim.triggered
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert len(triggered) == 1 and clean(triggered[0].body["metadata"])

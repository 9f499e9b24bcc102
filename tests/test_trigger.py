"""`run`: the trigger body, CI metadata, and retrying a trigger only when that is safe."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest

from checkly_gate.api import Client
from checkly_gate.config import ConfigError, Options
from checkly_gate.trigger import (
    TriggerOptions,
    ci_metadata,
    parse_check_ids,
    parse_env_vars,
    parse_tags,
    request_body,
)
from tests.fakes import SID, row, session_body, trigger_and_wait

GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/shop",
    "GITHUB_SHA": "abc123",
    "GITHUB_REF_NAME": "main",
    "GITHUB_HEAD_REF": "feature/x",
    "GITHUB_RUN_ID": "42",
    "GITHUB_ACTOR": "octocat",
    "GITHUB_WORKFLOW": "deploy",
}
GITLAB = {
    "GITLAB_CI": "true",
    "CI_PROJECT_URL": "https://gitlab.com/acme/shop",
    "CI_COMMIT_SHA": "def456",
    "CI_COMMIT_REF_NAME": "release",
    "CI_COMMIT_AUTHOR": "Ada <ada@example.com>",
    "CI_COMMIT_TITLE": "Ship it",
    "CI_ENVIRONMENT_NAME": "staging",
}


def test_tags_are_and_groups_ored() -> None:
    assert parse_tags(["web, critical", "api"]) == (("web", "critical"), ("api",))
    with pytest.raises(ConfigError):
        parse_tags([" , "])


def test_env_vars_and_check_ids_are_validated_without_echoing_values() -> None:
    assert parse_env_vars(["A=1", "B=x=y"]) == (("A", "1"), ("B", "x=y"))
    with pytest.raises(ConfigError) as err:
        parse_env_vars(["1BAD=topsecret"])
    assert "topsecret" not in str(err.value)
    with pytest.raises(ConfigError, match="at most 50"):
        parse_env_vars([f"K{i}=v" for i in range(51)])
    assert parse_check_ids([SID.upper()]) == (SID,)
    with pytest.raises(ConfigError, match="not a UUID"):
        parse_check_ids(["nope"])


def test_metadata_from_github() -> None:
    meta = ci_metadata(GITHUB)
    assert meta["repoUrl"] == "https://github.com/acme/shop"
    assert meta["commitId"] == "abc123"
    assert meta["branchName"] == "feature/x"  # the head ref of a pull request wins
    assert meta["commitOwner"] == "octocat"
    assert meta["github"]["runId"] == "42" and meta["github"]["reporting"] is False


def test_metadata_from_gitlab() -> None:
    meta = ci_metadata(GITLAB)
    assert meta == {
        "environment": "staging",
        "repoUrl": "https://gitlab.com/acme/shop",
        "commitId": "def456",
        "branchName": "release",
        "commitOwner": "Ada <ada@example.com>",
        "commitMessage": "Ship it",
    }


def test_checkly_variables_win_over_the_ci() -> None:
    env = {**GITLAB, "CHECKLY_TEST_ENVIRONMENT": "prod", "CHECKLY_REPO_SHA": "fff"}
    meta = ci_metadata(env)
    assert meta["environment"] == "prod" and meta["commitId"] == "fff"
    assert ci_metadata({}) == {}


def test_request_body() -> None:
    options = TriggerOptions(
        tag_groups=(("web", "critical"), ("api",)),
        check_ids=(SID,),
        location="us-east-1",
        env_vars=(("TOKEN", "t0ken"),),
        plain_env_vars=(("BASE_URL", "https://x"),),
        retries=2,
    )
    body = request_body(options, GITHUB)
    assert body["target"] == {"matchTags": [["web", "critical"], ["api"]], "checkId": [SID]}
    assert body["runLocation"] == "us-east-1"
    assert body["name"] == "checkly-gate: acme/shop@feature/x"
    assert body["environmentVariables"] == [  # --env is a secret unless marked plain
        {"key": "TOKEN", "value": "t0ken", "secret": True},
        {"key": "BASE_URL", "value": "https://x", "secret": False},
    ]
    assert body["retryStrategy"]["maxRetries"] == 2
    assert request_body(TriggerOptions(retries=0), {})["retryStrategy"] is None
    assert "retryStrategy" not in request_body(TriggerOptions(), {})


class FakeApi:
    """An in-memory API whose trigger answers come from a script; counts sessions created."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.created = 0
        self.triggers = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/trigger"):
            self.triggers += 1
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            if answer == "created":
                self.created += 1
                return httpx.Response(201, json=session_body("RUNNING", [row("a", "RUNNING")]))
            if answer == "created-then-502":
                self.created += 1
                return httpx.Response(502, text="<html><title>Bad gateway</title></html>")
            status, headers = answer  # type: ignore[misc]
            return httpx.Response(status, headers=headers, json={"message": "no match"})
        if request.url.path.endswith("/completion"):
            return httpx.Response(200, json=session_body("PASSED", [row("a")]))
        return httpx.Response(200, json=session_body("PASSED", [row("a")]))


def launch(api: FakeApi, tmp_path: Path, **trigger: object) -> tuple[int, str]:
    out = io.StringIO()
    options = Options(
        session_ids=(),
        api_key="k-secret-1",
        api_url="https://api.test",
        timeout=30,
        poll_interval=0.05,
        json=tmp_path / "g.json",
        junit=tmp_path / "j.xml",
    )
    code = trigger_and_wait(
        options, TriggerOptions(**trigger), out, {}, transport=httpx.MockTransport(api)
    )
    return code, out.getvalue()


def test_trigger_429_is_retried_once_and_creates_one_session(tmp_path: Path) -> None:
    api = FakeApi((429, {"Retry-After": "0"}), "created")
    code, out = launch(api, tmp_path)
    assert code == 0, out
    assert (api.triggers, api.created) == (2, 1)
    assert json.loads((tmp_path / "g.json").read_text())["exitCode"] == 0


def test_connection_refused_is_retried(tmp_path: Path) -> None:
    api = FakeApi(httpx.ConnectError("refused"), "created")
    code, _ = launch(api, tmp_path)
    assert code == 0 and api.created == 1


@pytest.mark.parametrize(
    "answer", ["created-then-502", httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("reset")]
)
def test_ambiguous_failures_are_not_retried(tmp_path: Path, answer: object) -> None:
    api = FakeApi(answer, "created")
    code, out = launch(api, tmp_path)
    assert code == 6
    assert api.triggers == 1 and api.created <= 1
    assert "duplicate" in out
    assert "<error" in (tmp_path / "j.xml").read_text()  # reports are still written


def test_no_matching_checks_is_7_or_0(tmp_path: Path) -> None:
    code, out = launch(FakeApi((404, {})), tmp_path)
    assert code == 7 and "no checks matched" in out
    assert json.loads((tmp_path / "g.json").read_text())["outcome"] == "no-match"
    code, _ = launch(FakeApi((404, {})), tmp_path, fail_on_no_matching=False)
    assert code == 0


def test_403_without_match_wording_is_a_refusal_not_no_match(tmp_path: Path) -> None:
    class Forbidden(FakeApi):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            self.triggers += 1
            return httpx.Response(403, json={"message": "account suspended"})

    code, _ = launch(Forbidden(), tmp_path, fail_on_no_matching=False)
    assert code == 5  # never green: a permission problem is not "nothing to test"


def test_client_trigger_sends_the_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=session_body("RUNNING"))

    client = Client("k", "https://api.test", transport=httpx.MockTransport(handler))
    session, _ = client.trigger({"name": "x", "runLocation": "eu-west-1"}, timeout=5)
    assert session.session_id == SID
    assert seen[0].method == "POST" and json.loads(seen[0].content)["name"] == "x"

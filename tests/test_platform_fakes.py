"""The GitHub and GitLab fakes (tests/platform_fakes.py) accept what the platforms document and
refuse, the way the platforms do, what their API descriptions refuse.

Everything goes through real HTTP on 127.0.0.1 with httpx. The GitHub description comes from
the npm package ``@octokit/openapi`` (installed by .ci/run); the tests that need it skip with
the reason where it is not installed. GitLab's description is the hand-written one in
platform_fakes.py (GitLab ships its OpenAPI file in no package).
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.platform_fakes import (
    GITHUB_COMMENT_MAX,
    GITHUB_OPERATIONS,
    GitHubFake,
    GitLabFake,
    _minimal_github_contract,
    _openapi_to_jsonschema,
    github_description,
    quote_project,
)

GH_TOKEN = "ghs_faketoken"
GL_TOKEN = "glpat-faketoken"
GITHUB_STATES = ["error", "failure", "pending", "success"]
GITLAB_STATES = ["pending", "running", "success", "failed", "canceled", "skipped"]

needs_description = pytest.mark.skipif(
    github_description() is None,
    reason="GitHub's REST description (npm @octokit/openapi) is not installed; .ci/run installs it",
)


@pytest.fixture
def github() -> Any:
    with GitHubFake(token=GH_TOKEN) as fake:
        yield fake


@pytest.fixture
def gitlab() -> Any:
    with GitLabFake(token=GL_TOKEN) as fake:
        yield fake


def gh_client(fake: GitHubFake, **headers: str) -> httpx.Client:
    base = {
        "Authorization": f"Bearer {GH_TOKEN}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    return httpx.Client(base_url=fake.url, headers={**base, **headers}, timeout=30)


def gl_client(fake: GitLabFake, **headers: str) -> httpx.Client:
    return httpx.Client(
        base_url=fake.url, headers={"PRIVATE-TOKEN": GL_TOKEN, **headers}, timeout=30
    )


# ------------------------------------------------------------------ GitHub: the documented requests


def _example(operation: dict[str, Any]) -> Any:
    content = operation["requestBody"]["content"]["application/json"]
    return content["examples"]["default"]["value"]


@needs_description
def test_github_description_is_the_package_one(github: GitHubFake) -> None:
    assert github.described
    assert github.contract.source.startswith("@octokit/openapi@")
    served = {op.operation_id for op in github.contract.operations}
    assert served == set(GITHUB_OPERATIONS)


@needs_description
def test_github_accepts_the_examples_its_description_shows(github: GitHubFake) -> None:
    """Each served operation, with the request body example of GitHub's own description."""
    doc = github_description()
    assert doc is not None
    comment_op = doc["paths"]["/repos/{owner}/{repo}/issues/{issue_number}/comments"]["post"]
    update_op = doc["paths"]["/repos/{owner}/{repo}/issues/comments/{comment_id}"]["patch"]
    status_op = doc["paths"]["/repos/{owner}/{repo}/statuses/{sha}"]["post"]
    with gh_client(github) as client:
        created = client.post(
            "/repos/octocat/Hello-World/issues/1347/comments", json=_example(comment_op)
        )
        assert created.status_code == 201, created.text
        comment_id = created.json()["id"]
        assert created.headers["Location"].endswith(f"/issues/comments/{comment_id}")
        listed = client.get("/repos/octocat/Hello-World/issues/1347/comments")
        assert listed.status_code == 200
        assert [c["id"] for c in listed.json()] == [comment_id]
        updated = client.patch(
            f"/repos/octocat/Hello-World/issues/comments/{comment_id}", json=_example(update_op)
        )
        assert updated.status_code == 200, updated.text
        assert updated.json()["body"] == _example(update_op)["body"]
        sha = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
        status = client.post(f"/repos/octocat/Hello-World/statuses/{sha}", json=_example(status_op))
        assert status.status_code == 201, status.text
        assert status.json()["state"] == _example(status_op)["state"]
    assert github.violations == []
    assert [r.operation for r in github.requests] == [
        "create-comment",
        "list-comments",
        "update-comment",
        "create-status",
    ]
    assert github.statuses[("octocat", "Hello-World", sha)][0]["context"] == (
        "continuous-integration/jenkins"
    )


@needs_description
def test_github_answers_are_held_to_the_description_too(github: GitHubFake) -> None:
    """What the fake sends back has the shape GitHub's description gives its answers."""
    doc = github_description()
    assert doc is not None

    def schema(path: str, method: str, code: str) -> Any:
        content = doc["paths"][path][method]["responses"][code]["content"]["application/json"]
        return _openapi_to_jsonschema(content["schema"], doc)

    comments = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
    with gh_client(github) as client:
        created = client.post("/repos/o/r/issues/7/comments", json={"body": "hello"})
        listed = client.get("/repos/o/r/issues/7/comments")
        updated = client.patch(
            f"/repos/o/r/issues/comments/{created.json()['id']}", json={"body": "x"}
        )
        status = client.post("/repos/o/r/statuses/abc", json={"state": "pending"})
    jsonschema.validate(created.json(), schema(comments, "post", "201"))
    jsonschema.validate(listed.json(), schema(comments, "get", "200"))
    jsonschema.validate(
        updated.json(), schema("/repos/{owner}/{repo}/issues/comments/{comment_id}", "patch", "200")
    )
    jsonschema.validate(
        status.json(), schema("/repos/{owner}/{repo}/statuses/{sha}", "post", "201")
    )


# ------------------------------------------------------------------ GitHub: what it refuses


@needs_description
@settings(
    deadline=None, max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(state=st.one_of(st.text(max_size=20), st.sampled_from([*GITLAB_STATES, "SUCCESS", "ok"])))
def test_github_refuses_any_state_outside_its_enum(github: GitHubFake, state: str) -> None:
    before = len(github.violations)
    with gh_client(github) as client:
        answer = client.post("/repos/o/r/statuses/abc", json={"state": state, "context": "gate"})
    if state in GITHUB_STATES:
        assert answer.status_code == 201
        assert len(github.violations) == before
    else:
        assert answer.status_code == 422
        assert answer.json()["message"].startswith("Invalid request.")
        assert answer.json()["status"] == "422"
        assert len(github.violations) == before + 1
        assert "state" in github.violations[-1].problems[0]


@needs_description
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/repos/o/r/issues/1/comments", None),
        ("POST", "/repos/o/r/issues/1/comments", {}),
        ("POST", "/repos/o/r/issues/1/comments", {"body": 42}),
        ("PATCH", "/repos/o/r/issues/comments/1", {"text": "wrong field"}),
        ("POST", "/repos/o/r/statuses/abc", {}),
        ("POST", "/repos/o/r/statuses/abc", {"state": "success", "target_url": 5}),
        ("POST", "/repos/o/r/statuses/abc", ["success"]),
        ("GET", "/repos/o/r/issues/one/comments", None),
        ("GET", "/repos/o/r/issues/1/comments?per_page=many", None),
    ],
)
def test_github_refuses_requests_its_description_refuses(
    github: GitHubFake, method: str, path: str, body: Any
) -> None:
    with gh_client(github) as client:
        answer = client.request(method, path, json=body)
    assert answer.status_code == 422, answer.text
    assert set(answer.json()) == {"message", "documentation_url", "status"}
    assert len(github.violations) == 1
    assert github.comments == {} and github.statuses == {}


@pytest.mark.parametrize("described", [True, False], ids=["description", "facts-only"])
@pytest.mark.parametrize("character", ["x", "é", "🚦"])
def test_github_comment_body_limit_is_65536_characters(described: bool, character: str) -> None:
    if described and github_description() is None:
        pytest.skip("GitHub's REST description (npm @octokit/openapi) is not installed")
    contract = None if described else _minimal_github_contract()
    with GitHubFake(token=GH_TOKEN, contract=contract) as fake, gh_client(fake) as client:
        assert fake.described is described
        at_limit = client.post(
            "/repos/o/r/issues/2/comments", json={"body": character * GITHUB_COMMENT_MAX}
        )
        assert at_limit.status_code == 201, at_limit.text[:200]
        comment_id = at_limit.json()["id"]
        assert fake.violations == []
        for method, path in [
            ("POST", "/repos/o/r/issues/2/comments"),
            ("PATCH", f"/repos/o/r/issues/comments/{comment_id}"),
        ]:
            over = client.request(method, path, json={"body": character * (GITHUB_COMMENT_MAX + 1)})
            assert over.status_code == 422
            assert over.json()["message"] == "Validation Failed"
            assert over.json()["errors"][0]["message"] == (
                "Body is too long (maximum is 65536 characters)"
            )
        assert len(fake.violations) == 2
        assert len(fake.comments[("o", "r", 2)]) == 1


@pytest.mark.parametrize("blank", ["", "  \n"])
def test_github_refuses_a_blank_comment(github: GitHubFake, blank: str) -> None:
    with gh_client(github) as client:
        answer = client.post("/repos/o/r/issues/1/comments", json={"body": blank})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["message"] == "Body cannot be blank"
    assert len(github.violations) == 1


def test_github_refuses_a_form_body_like_github(github: GitHubFake) -> None:
    with gh_client(github) as client:
        answer = client.post("/repos/o/r/statuses/abc", data={"state": "success"})
    assert (answer.status_code, answer.json()["message"]) == (400, "Problems parsing JSON")
    assert len(github.violations) == 1


def test_github_unknown_route_is_404_and_a_violation(github: GitHubFake) -> None:
    with gh_client(github) as client:
        answer = client.delete("/repos/o/r/issues/comments/5")
        other = client.post("/repos/o/r/check-runs", json={"name": "x"})
    assert answer.status_code == 404 and answer.json()["message"] == "Not Found"
    assert other.status_code == 404
    assert [v.method for v in github.violations] == ["DELETE", "POST"]


# ------------------------------------------------------------------ GitHub: pagination and auth


def test_github_list_paginates_with_link_headers(github: GitHubFake) -> None:
    seeded = github.seed_comments("o", "r", 9, [f"comment {i}" for i in range(75)])
    seen: list[int] = []
    pages = 0
    with gh_client(github) as client:
        url: str | None = "/repos/o/r/issues/9/comments?per_page=30"
        while url is not None:
            answer = client.get(url)
            assert answer.status_code == 200
            seen += [c["id"] for c in answer.json()]
            pages += 1
            url = answer.links.get("next", {}).get("url")
        first = client.get("/repos/o/r/issues/9/comments")
        capped = client.get("/repos/o/r/issues/9/comments?per_page=500")
    assert pages == 3
    assert seen == [c["id"] for c in seeded]  # oldest first, each once
    assert len(first.json()) == 30  # GitHub's default page size
    assert parse_qs(urlsplit(first.links["last"]["url"]).query)["page"] == ["3"]
    assert len(capped.json()) == 75  # per_page is capped at 100
    assert github.violations == []


@pytest.mark.parametrize("scheme", ["Bearer", "token"])
def test_github_accepts_both_authorization_schemes(github: GitHubFake, scheme: str) -> None:
    with gh_client(github, Authorization=f"{scheme} {GH_TOKEN}") as client:
        assert client.post("/repos/o/r/issues/1/comments", json={"body": "x"}).status_code == 201


def test_github_refuses_missing_or_wrong_credentials(github: GitHubFake) -> None:
    with httpx.Client(base_url=github.url, timeout=30) as client:
        missing = client.post("/repos/o/r/issues/1/comments", json={"body": "x"})
        wrong = client.post(
            "/repos/o/r/issues/1/comments",
            json={"body": "x"},
            headers={"Authorization": "Bearer ghs_other"},
        )
        no_agent = client.post(
            "/repos/o/r/issues/1/comments",
            json={"body": "x"},
            headers={"Authorization": f"Bearer {GH_TOKEN}", "User-Agent": ""},
        )
    assert (missing.status_code, missing.json()["message"]) == (401, "Requires authentication")
    assert (wrong.status_code, wrong.json()["message"]) == (401, "Bad credentials")
    assert no_agent.status_code == 403 and "User-Agent" in no_agent.text
    assert github.comments == {}
    assert [r.status for r in github.requests] == [401, 401, 403]


def test_github_serves_under_an_enterprise_prefix() -> None:
    with GitHubFake(token=GH_TOKEN, prefix="/api/v3") as fake, gh_client(fake) as client:
        assert fake.url.endswith("/api/v3")
        assert client.post("/repos/o/r/statuses/abc", json={"state": "error"}).status_code == 201
        root = httpx.post(
            f"{fake.origin}/repos/o/r/statuses/abc",
            json={"state": "error"},
            headers={"Authorization": f"Bearer {GH_TOKEN}"},
        )
        assert root.status_code == 404


# ------------------------------------------------------------------ GitHub: faults


@pytest.mark.parametrize(
    ("status", "message"),
    [(403, "Resource not accessible by integration"), (404, "Not Found"), (401, "Bad credentials")],
)
def test_github_status_faults_have_githubs_error_body(
    github: GitHubFake, status: int, message: str
) -> None:
    github.inject("status", status=status, operation="create-comment")
    with gh_client(github) as client:
        failed = client.post("/repos/o/r/issues/1/comments", json={"body": "x"})
        recovered = client.post("/repos/o/r/issues/1/comments", json={"body": "x"})
    assert failed.status_code == status
    assert failed.json() == {
        "message": message,
        "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
        "status": str(status),
    }
    assert recovered.status_code == 201
    assert len(github.comments[("o", "r", 1)]) == 1


def test_github_rate_limits_say_when_to_retry(github: GitHubFake) -> None:
    github.inject("secondary-rate-limit", retry_after=7)
    github.inject("rate-limit", retry_after=3)
    with gh_client(github) as client:
        secondary = client.post("/repos/o/r/statuses/abc", json={"state": "pending"})
        primary = client.post("/repos/o/r/statuses/abc", json={"state": "pending"})
        ok = client.post("/repos/o/r/statuses/abc", json={"state": "pending"})
    assert secondary.status_code == 403 and secondary.headers["Retry-After"] == "7"
    assert "secondary rate limit" in secondary.json()["message"]
    assert primary.status_code == 429 and primary.headers["Retry-After"] == "3"
    assert primary.headers["X-RateLimit-Remaining"] == "0"
    assert ok.status_code == 201


def test_a_fault_for_one_operation_leaves_the_others_alone(github: GitHubFake) -> None:
    github.inject("status", status=403, operation="create-status", times=None)
    with gh_client(github) as client:
        for _ in range(3):
            assert (
                client.post("/repos/o/r/statuses/a", json={"state": "success"}).status_code == 403
            )
        assert client.post("/repos/o/r/issues/1/comments", json={"body": "x"}).status_code == 201


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_a_server_that_never_answers_holds_until_the_client_gives_up(kind: str) -> None:
    fake: Any = GitHubFake(token=GH_TOKEN) if kind == "github" else GitLabFake(token=GL_TOKEN)
    with fake:
        fake.inject("hang")
        client = gh_client(fake) if kind == "github" else gl_client(fake)
        path = "/repos/o/r/statuses/abc" if kind == "github" else "/projects/1/statuses/abc"
        state = "pending"
        with client, pytest.raises(httpx.ReadTimeout):
            client.post(path, json={"state": state}, timeout=1.0)
        assert fake.requests[-1].status is None  # recorded, never answered
        again = (gh_client(fake) if kind == "github" else gl_client(fake)).post(
            path, json={"state": state}
        )
        assert again.status_code == 201
        stopper = threading.Thread(target=fake.stop)
        started = time.monotonic()
        stopper.start()
        stopper.join(timeout=30)
        assert not stopper.is_alive()
    assert time.monotonic() - started < 30


def test_a_trickling_answer_defeats_a_read_timeout_but_not_a_deadline(github: GitHubFake) -> None:
    """Each byte comes well within the read timeout; only a bound on the whole request ends
    it (the kind of server a publisher's deadline must hold against)."""
    github.inject("trickle", interval=0.2)
    received = 0
    started = time.monotonic()
    with (
        gh_client(github) as client,
        client.stream(
            "POST", "/repos/o/r/statuses/abc", json={"state": "pending"}, timeout=2.0
        ) as answer,
    ):
        assert answer.status_code == 201  # served: the status exists, its answer never ends
        for chunk in answer.iter_bytes():
            received += len(chunk)
            if time.monotonic() - started > 3:
                break
    assert 0 < received < 64 << 10
    assert len(github.statuses[("o", "r", "abc")]) == 1


# ------------------------------------------------------------------ GitLab


GITLAB_DOC_REQUESTS = [
    # The curl examples of https://docs.gitlab.com/api/notes/#merge-requests and
    # https://docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit, form-encoded
    # in the query string as the docs write them, and as JSON bodies.
    ("POST", "/projects/5/merge_requests/11/notes?body=note", None, 201),
    ("POST", "/projects/5/merge_requests/11/notes", {"body": "note"}, 201),
    ("GET", "/projects/5/merge_requests/11/notes", None, 200),
    ("GET", "/projects/5/merge_requests/11/notes?sort=asc&order_by=updated_at", None, 200),
    (
        "POST",
        "/projects/17/statuses/18f3e63d05582537db6d183d9d557be09e1f90c8?state=success",
        None,
        201,
    ),
    (
        "POST",
        "/projects/17/statuses/18f3e63d05582537db6d183d9d557be09e1f90c8",
        {"state": "running", "name": "checkly-gate", "target_url": "https://example.com/x"},
        201,
    ),
    (
        "POST",
        "/projects/17/statuses/18f3e63d?state=failed&coverage=71.5&pipeline_id=9",
        None,
        201,
    ),
    ("POST", "/projects/17/statuses/18f3e63d", {"state": "skipped", "pipeline_id": "9"}, 201),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), GITLAB_DOC_REQUESTS)
def test_gitlab_accepts_the_requests_its_docs_show(
    gitlab: GitLabFake, method: str, path: str, body: Any, expected: int
) -> None:
    with gl_client(gitlab) as client:
        answer = client.request(method, path, json=body)
    assert answer.status_code == expected, answer.text
    assert gitlab.violations == []


def test_gitlab_notes_round_trip_with_a_form_body_and_an_encoded_project_path(
    gitlab: GitLabFake,
) -> None:
    project = quote_project("group/sub/app")
    with gl_client(gitlab) as client:
        created = client.post(f"/projects/{project}/merge_requests/3/notes", data={"body": "v1"})
        note_id = created.json()["id"]
        updated = client.put(
            f"/projects/{project}/merge_requests/3/notes/{note_id}", json={"body": "v2"}
        )
        missing = client.put(
            f"/projects/{project}/merge_requests/3/notes/999999", json={"body": "v2"}
        )
    assert created.status_code == 201 and created.json()["noteable_type"] == "MergeRequest"
    assert updated.status_code == 200 and updated.json()["body"] == "v2"
    assert missing.status_code == 404
    assert [n["body"] for n in gitlab.notes[("group/sub/app", 3)]] == ["v2"]
    assert gitlab.violations == []


@settings(
    deadline=None, max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(state=st.one_of(st.text(max_size=20), st.sampled_from([*GITHUB_STATES, "Success"])))
def test_gitlab_refuses_any_state_outside_its_enum(gitlab: GitLabFake, state: str) -> None:
    before = len(gitlab.violations)
    with gl_client(gitlab) as client:
        answer = client.post("/projects/42/statuses/abc", json={"state": state})
    if state in GITLAB_STATES:
        assert answer.status_code == 201
        assert len(gitlab.violations) == before
    else:
        assert answer.status_code == 400
        assert answer.json() == {"error": "state does not have a valid value"}
        assert len(gitlab.violations) == before + 1


@pytest.mark.parametrize(
    ("method", "path", "body", "error"),
    [
        ("POST", "/projects/1/merge_requests/2/notes", None, {"error": "body is missing"}),
        ("POST", "/projects/1/merge_requests/2/notes", {"note": "x"}, {"error": "body is missing"}),
        ("PUT", "/projects/1/merge_requests/2/notes/3", {}, {"error": "body is missing"}),
        ("POST", "/projects/1/statuses/abc", {"name": "gate"}, {"error": "state is missing"}),
        (
            "POST",
            "/projects/1/statuses/abc?coverage=most",
            {"state": "success"},
            {"error": "coverage does not have a valid value"},
        ),
        (
            "POST",
            "/projects/1/merge_requests/2/notes",
            {"body": "x" * 1_000_001},
            {"message": {"note": ["is too long (maximum is 1000000 characters)"]}},
        ),
        (
            "GET",
            "/projects/1/merge_requests/two/notes",
            None,
            {"error": "merge_request_iid does not have a valid value"},
        ),
        (
            "PUT",
            "/projects/1/merge_requests/2/notes/3",
            {"body": ""},
            {"error": "body does not have a valid value"},
        ),
        (
            "POST",
            "/projects/1/statuses/abc",
            {"state": "success", "description": "d" * 256, "target_url": "u" * 256},
            {
                "message": {
                    "description": ["is too long (maximum is 255 characters)"],
                    "target_url": ["is too long (maximum is 255 characters)"],
                }
            },
        ),
    ],
)
def test_gitlab_refuses_what_its_docs_refuse(
    gitlab: GitLabFake, method: str, path: str, body: Any, error: Any
) -> None:
    with gl_client(gitlab) as client:
        answer = client.request(method, path, json=body)
    assert (answer.status_code, answer.json()) == (400, error)
    assert len(gitlab.violations) == 1


def test_gitlab_list_paginates_newest_first_with_x_next_page(gitlab: GitLabFake) -> None:
    seeded = gitlab.seed_notes("42", 5, [f"note {i}" for i in range(45)])
    seen: list[int] = []
    with gl_client(gitlab) as client:
        page = "1"
        while page:
            answer = client.get("/projects/42/merge_requests/5/notes", params={"page": page})
            assert answer.status_code == 200
            assert answer.headers["X-Total"] == "45" and answer.headers["X-Total-Pages"] == "3"
            seen += [n["id"] for n in answer.json()]
            page = answer.headers["X-Next-Page"]
        ascending = client.get(
            "/projects/42/merge_requests/5/notes", params={"sort": "asc", "per_page": 100}
        )
    assert seen == [n["id"] for n in reversed(seeded)]  # 20 a page, newest first by default
    assert [n["id"] for n in ascending.json()] == [n["id"] for n in seeded]
    assert gitlab.violations == []


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"PRIVATE-TOKEN": GL_TOKEN}, 201),
        ({"Authorization": f"Bearer {GL_TOKEN}"}, 201),
        ({"PRIVATE-TOKEN": "glpat-other"}, 401),
        ({"JOB-TOKEN": "glcbt-fakejobtoken"}, 401),  # not an endpoint a job token may call
        ({}, 401),
    ],
)
def test_gitlab_authentication(gitlab: GitLabFake, headers: dict[str, str], expected: int) -> None:
    answer = httpx.post(
        f"{gitlab.url}/projects/1/statuses/abc", json={"state": "success"}, headers=headers
    )
    assert answer.status_code == expected
    if expected == 401:
        assert answer.json() == {"message": "401 Unauthorized"}


def test_gitlab_job_token_only_where_allowed() -> None:
    with GitLabFake(token=GL_TOKEN, job_token="jt", job_token_operations={"list-notes"}) as fake:
        headers = {"JOB-TOKEN": "jt"}
        listed = httpx.get(f"{fake.url}/projects/1/merge_requests/2/notes", headers=headers)
        posted = httpx.post(
            f"{fake.url}/projects/1/merge_requests/2/notes", json={"body": "x"}, headers=headers
        )
    assert (listed.status_code, posted.status_code) == (200, 401)


@pytest.mark.parametrize(
    ("status", "message"), [(403, "403 Forbidden"), (404, "404 Project Not Found")]
)
def test_gitlab_status_faults_have_gitlabs_error_body(
    gitlab: GitLabFake, status: int, message: str
) -> None:
    gitlab.inject("status", status=status)
    with gl_client(gitlab) as client:
        answer = client.post("/projects/1/merge_requests/2/notes", json={"body": "x"})
    assert (answer.status_code, answer.json()) == (status, {"message": message})
    assert gitlab.notes == {}


def test_gitlab_rate_limit_says_when_to_retry(gitlab: GitLabFake) -> None:
    gitlab.inject("rate-limit", retry_after=4, times=2)
    with gl_client(gitlab) as client:
        answers = [
            client.post("/projects/1/statuses/a", json={"state": "success"}) for _ in range(3)
        ]
    assert [a.status_code for a in answers] == [429, 429, 201]
    assert answers[0].headers["Retry-After"] == "4"
    assert answers[0].headers["RateLimit-Remaining"] == "0"
    assert answers[0].text == "Retry later\n"


def test_every_request_is_recorded_with_what_was_sent(gitlab: GitLabFake) -> None:
    with gl_client(gitlab) as client:
        client.post("/projects/1/statuses/a?ref=main", json={"state": "pending"})
        client.get("/projects/1/merge_requests/2/notes", params={"per_page": "5"})
    first, second = gitlab.requests
    assert (first.method, first.operation, first.status) == ("POST", "create-status", 201)
    assert first.body == {"ref": "main", "state": "pending"}
    assert first.headers["private-token"] == GL_TOKEN
    assert (second.operation, second.query, second.body) == ("list-notes", {"per_page": "5"}, None)


def test_ci_env_points_a_client_at_the_fakes() -> None:
    with GitHubFake() as github, GitLabFake() as gitlab:
        gh = github.ci_env("o/r")
        gl = gitlab.ci_env("42", 7)
        posted = httpx.post(
            f"{gh['GITHUB_API_URL']}/repos/{gh['GITHUB_REPOSITORY']}/statuses/abc",
            json={"state": "success"},
            headers={"Authorization": f"Bearer {gh['GITHUB_TOKEN']}"},
        )
        noted = httpx.post(
            f"{gl['CI_API_V4_URL']}/projects/{gl['CI_PROJECT_ID']}/merge_requests/"
            f"{gl['CI_MERGE_REQUEST_IID']}/notes",
            json={"body": "x"},
            headers={"PRIVATE-TOKEN": gl["CHECKLY_GATE_GITLAB_TOKEN"]},
        )
        refused = httpx.post(
            f"{gl['CI_API_V4_URL']}/projects/42/statuses/abc",
            json={"state": "success"},
            headers={"JOB-TOKEN": gl["CI_JOB_TOKEN"]},
        )
    assert (posted.status_code, noted.status_code, refused.status_code) == (201, 201, 401)

"""Publishers (issue 22) against the GitHub and GitLab fakes over real HTTP on 127.0.0.1, and a
webhook receiver of our own: one comment edited in place, statuses on the PR's head commit,
one plain line when a platform refuses, the scope's deadline holds, no secret anywhere.

Every test also asserts the fakes' ``violations`` stay empty: the requests are the ones the
platforms' API descriptions accept. Through the real CLI: tests/test_e2e_publish.py.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkly_gate.publish import comment as comments
from checkly_gate.publish import gitlab_state, state
from checkly_gate.publish.comment import marker
from checkly_gate.publish.github import COMMENT_MAX, GitHubPublisher
from checkly_gate.publish.gitlab import GitLabPublisher
from checkly_gate.publish.notify import Notifier, payload
from checkly_gate.redact import Secrets
from checkly_gate.reports import GateRun, markdown
from checkly_gate.scope import Scope
from checkly_gate.verdict import Outcome, Verdict
from tests import runs
from tests.fakes import SID
from tests.platform_fakes import GitHubFake, GitLabFake

GH_TOKEN = "ghs_publishtoken0123456789"
GL_TOKEN = "glpat-publishtoken0123456789"
HEAD = "a" * 40  # the pull request's head commit
MERGE = "b" * 40  # GITHUB_SHA on pull_request: the merge commit, not what was deployed
PR = 5
LINK = f"https://app.checklyhq.com/test-sessions/{SID}"


@pytest.fixture
def github() -> Iterator[GitHubFake]:
    with GitHubFake(token=GH_TOKEN) as fake:
        yield fake
        assert fake.violations == []


@pytest.fixture
def gitlab() -> Iterator[GitLabFake]:
    with GitLabFake(token=GL_TOKEN) as fake:
        yield fake
        assert fake.violations == []


def gh_env(fake: GitHubFake, tmp_path: Path, event: str = "pull_request") -> dict[str, str]:
    path = tmp_path / "event.json"
    path.write_text(
        json.dumps({"number": PR, "pull_request": {"number": PR, "head": {"sha": HEAD}}}),
        encoding="utf-8",
    )
    return {
        **fake.ci_env("example/app"),
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_SHA": MERGE,
    }


def gl_env(fake: GitLabFake, iid: int | None = 7) -> dict[str, str]:
    env = {**fake.ci_env("42", iid), "GITLAB_CI": "true", "CI_COMMIT_SHA": MERGE}
    if iid is not None:
        env["CI_MERGE_REQUEST_SOURCE_BRANCH_SHA"] = HEAD
    return env


def publish(publisher: Any, run: GateRun) -> None:
    publisher.finish(run, markdown.render(run))


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# --- GitHub ------------------------------------------------------------------------------------


def test_github_a_failing_run_published_twice_makes_one_comment_then_edits_it(
    github: GitHubFake, tmp_path: Path
) -> None:
    github.seed_comments("example", "app", PR, [f"comment {i}" for i in range(130)])
    env = gh_env(github, tmp_path)
    run = runs.failed()
    for _ in range(2):
        publish(GitHubPublisher(env, Scope(60), comment=True), run)
    ours = [c for c in github.comments[("example", "app", PR)] if "checkly-gate:" in c["body"]]
    assert len(ours) == 1
    assert ours[0]["body"].startswith(marker("Deploy checks"))
    assert "Checkout" in ours[0]["body"]
    ops = [r.operation for r in github.requests]
    # the second run pages past the others' 130 comments to find its own, then edits it
    assert ops.count("create-comment") == 1 and ops.count("update-comment") == 1
    assert ops.count("list-comments") >= 4


def test_github_two_keys_keep_two_comments(github: GitHubFake, tmp_path: Path) -> None:
    env = gh_env(github, tmp_path)
    for key in ("staging", "production", "staging"):
        publish(GitHubPublisher(env, Scope(60), comment=True, comment_key=key), runs.failed())
    bodies = [c["body"] for c in github.comments[("example", "app", PR)]]
    assert len(bodies) == 2
    assert {b.split("\n", 1)[0] for b in bodies} == {marker("staging"), marker("production")}


def test_github_pending_then_failure_on_the_pull_requests_head_commit(
    github: GitHubFake, tmp_path: Path
) -> None:
    publisher = GitHubPublisher(gh_env(github, tmp_path), Scope(60), status=True, context="smoke")
    publisher.start(LINK)
    publish(publisher, runs.failed())
    statuses = github.statuses[("example", "app", HEAD)]
    assert [s["state"] for s in statuses] == ["pending", "failure"]
    assert all(s["context"] == "smoke" and s["target_url"] == LINK for s in statuses)
    assert statuses[1]["description"].startswith("Failed: ")
    assert ("example", "app", MERGE) not in github.statuses


def test_a_long_summary_is_cut_to_githubs_limit_with_a_note(
    github: GitHubFake, tmp_path: Path
) -> None:
    summary = "\n".join(f"| check {i} | failed | {'x' * 80} |" for i in range(2000))
    GitHubPublisher(gh_env(github, tmp_path), Scope(60), comment=True).finish(
        runs.failed(), summary
    )
    (comment,) = github.comments[("example", "app", PR)]
    assert len(comment["body"]) <= COMMENT_MAX
    assert "cut to fit the GitHub comment limit" in comment["body"]


def test_github_outside_a_pull_request_says_so_once_and_sends_nothing(
    github: GitHubFake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = GitHubPublisher(gh_env(github, tmp_path, event="push"), Scope(60), comment=True)
    for _ in range(2):
        publish(publisher, runs.failed())
    lines = [w for w in warnings(caplog) if "GitHub comment" in w]
    assert len(lines) == 1 and "not a pull request event" in lines[0]
    assert github.requests == []


# --- GitLab ------------------------------------------------------------------------------------


def test_gitlab_a_failing_run_published_twice_makes_one_note_then_edits_it(
    gitlab: GitLabFake,
) -> None:
    gitlab.seed_notes("42", 7, [f"note {i}" for i in range(120)])
    env = gl_env(gitlab)
    for _ in range(2):
        publish(GitLabPublisher(env, Scope(60), comment=True), runs.failed())
    ours = [n for n in gitlab.notes[("42", 7)] if "checkly-gate:" in n["body"]]
    assert len(ours) == 1 and ours[0]["body"].startswith(marker("Deploy checks"))
    methods = [r.method for r in gitlab.requests]
    assert methods.count("POST") == 1 and methods.count("PUT") == 1


def test_gitlab_two_keys_keep_two_notes(gitlab: GitLabFake) -> None:
    env = gl_env(gitlab)
    for key in ("a", "b", "a", "b"):
        publish(GitLabPublisher(env, Scope(60), comment=True, comment_key=key), runs.failed())
    assert len(gitlab.notes[("42", 7)]) == 2


def test_gitlab_pending_then_failed_on_the_merge_requests_head_commit(gitlab: GitLabFake) -> None:
    publisher = GitLabPublisher(gl_env(gitlab), Scope(60), status=True)
    publisher.start(LINK)
    publish(publisher, runs.failed())
    statuses = gitlab.statuses[("42", HEAD)]
    assert [s["status"] for s in statuses] == ["pending", "failed"]  # GitLab's answer field
    assert ("42", MERGE) not in gitlab.statuses


def test_gitlab_outside_a_merge_request_says_so(
    gitlab: GitLabFake, caplog: pytest.LogCaptureFixture
) -> None:
    publish(GitLabPublisher(gl_env(gitlab, None), Scope(60), comment=True), runs.failed())
    assert any("not a merge request pipeline" in w for w in warnings(caplog))
    assert gitlab.requests == []


# --- refusals, secrets and time ----------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 404])
@pytest.mark.parametrize("platform", ["github", "gitlab"])
def test_a_refusal_is_one_line_no_exception_no_token(
    platform: str,
    status: int,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG, logger="checkly_gate")
    fake_type = GitHubFake if platform == "github" else GitLabFake
    token = GH_TOKEN if platform == "github" else GL_TOKEN
    with fake_type(token=token) as fake:
        fake.inject("status", status=status, times=None)
        publisher: Any
        if isinstance(fake, GitHubFake):
            publisher = GitHubPublisher(gh_env(fake, tmp_path), Scope(60), comment=True)
        else:
            publisher = GitLabPublisher(gl_env(fake), Scope(60), comment=True)
        publish(publisher, runs.failed())  # raises nothing
        assert len(fake.requests) == 1  # a refusal is not retried
        assert fake.violations == []
    lines = warnings(caplog)
    assert len(lines) == 1 and str(status) in lines[0] and "could not publish" in lines[0]
    everything = caplog.text + "".join(capsys.readouterr())
    assert token not in everything


def test_a_missing_token_is_one_line(
    github: GitHubFake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = gh_env(github, tmp_path)
    del env["GITHUB_TOKEN"]
    publisher = GitHubPublisher(env, Scope(60), comment=True, status=True)
    publisher.start(LINK)
    publish(publisher, runs.failed())
    assert warnings(caplog) == [
        "could not publish the GitHub comment: GITHUB_TOKEN is not set",
        "could not publish the GitHub commit status: GITHUB_TOKEN is not set",
    ]
    assert github.requests == []


def test_a_rate_limit_is_waited_out_as_asked(github: GitHubFake, tmp_path: Path) -> None:
    github.inject("rate-limit", operation="create-status", retry_after=1)
    publisher = GitHubPublisher(gh_env(github, tmp_path), Scope(60), status=True)
    publisher.start(LINK)
    sent = [r for r in github.requests if r.operation == "create-status"]
    assert [r.status for r in sent] == [429, 201]
    assert sent[1].at - sent[0].at >= 1.0  # Retry-After honoured, never sooner
    assert [s["state"] for s in github.statuses[("example", "app", HEAD)]] == ["pending"]


@pytest.mark.parametrize("platform", ["github", "gitlab"])
@pytest.mark.parametrize("kind", ["hang", "trickle"])
def test_a_platform_that_never_answers_ends_at_the_scopes_deadline(
    kind: str, platform: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_type = GitHubFake if platform == "github" else GitLabFake
    with fake_type(token=GH_TOKEN if platform == "github" else GL_TOKEN) as fake:
        fake.inject(kind, times=None, interval=0.2)
        scope = Scope(2.0)
        publisher: Any
        if isinstance(fake, GitHubFake):
            env = gh_env(fake, tmp_path)
            publisher = GitHubPublisher(env, scope, comment=True, status=True)
        else:
            publisher = GitLabPublisher(gl_env(fake), scope, comment=True, status=True)
        began = time.monotonic()
        publish(publisher, runs.failed())
        took = time.monotonic() - began
        assert scope.expired
        assert took < 60  # bounded by the scope (2 s), not by the server
        assert fake.violations == []
    lines = warnings(caplog)
    assert lines and all("deadline" in line or "no time left" in line for line in lines)


def test_a_stop_ends_a_hanging_publisher_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with GitHubFake(token=GH_TOKEN) as fake:
        fake.inject("hang", times=None)
        scope = Scope(600)
        threading.Timer(0.5, scope.stop, args=(15,)).start()
        publish(GitHubPublisher(gh_env(fake, tmp_path), scope, comment=True), runs.failed())
        assert scope.stopped and not scope.expired
    assert any("stopped by a signal" in w for w in warnings(caplog))


def test_state_follows_the_outcomes_and_the_exit_code() -> None:
    assert state(runs.passed()) == "success"
    assert state(runs.failed()) == state(runs.cancelled()) == "failure"
    assert state(runs.timed_out()) == state(runs.unavailable()) == "error"
    assert state(runs.interrupted()) == state(runs.refused()) == "error"
    assert (gitlab_state(runs.failed()), gitlab_state(runs.cancelled())) == ("failed", "canceled")
    allowed = GateRun(verdict=Verdict(Outcome.NO_MATCH, 0, "no match"))
    assert state(allowed) == "success"


# --- notify ------------------------------------------------------------------------------------


class Receiver:
    """A webhook receiver on 127.0.0.1 that records each POST (path, body) and answers
    ``status``."""

    def __init__(self, status: int = 200, echo: bool = False) -> None:
        self.status = status
        self.echo = echo
        self.posts: list[tuple[str, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.posts.append((self.path, self.rfile.read(length)))
                answer = b"ok"
                if receiver.echo:  # a server that repeats what it was sent, secrets included
                    answer = json.dumps({"message": f"no hook at {self.path}"}).encode()
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(answer)))
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


SECRET_PATH = "/services/T0000/B0000/XyZsecretHookToken123"


def test_notify_delivers_once_with_no_secret_in_the_body(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Receiver() as receiver:
        url = receiver.url(SECRET_PATH)
        run = runs.failed()
        env = {
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": "example/app",
            "GITHUB_RUN_ID": "99",
        }
        publish(Notifier([url], Scope(60), env=env), run)
        assert len(receiver.posts) == 1
        path, raw = receiver.posts[0]
        assert path == SECRET_PATH
    body = json.loads(raw)
    assert (body["outcome"], body["exitCode"]) == ("failed", 1)
    assert body["counts"]["failed"] == run.verdict.counts.failing
    assert {c["name"] for c in body["failedChecks"]} == {"Checkout", "Payments API"}
    assert body["sessions"][0]["link"] == LINK
    assert body["ciRunLink"] == "https://github.com/example/app/actions/runs/99"
    assert body["text"].startswith("❌ checkly-gate failed (exit 1)")
    assert "Checkout" in body["text"]
    text = raw.decode("utf-8")
    assert (
        "XyZsecretHookToken123" not in text and str(receiver.server.server_address[1]) not in text
    )


@pytest.mark.parametrize(
    ("on", "run", "sent"),
    [
        ("failures", runs.passed, 0),
        ("failures", runs.timed_out, 1),
        ("always", runs.passed, 1),
        ("never", runs.failed, 0),
    ],
)
def test_notify_on(on: str, run: Any, sent: int) -> None:
    with Receiver() as receiver:
        publish(Notifier([receiver.url("/hook")], Scope(60), on=on), run())
        assert len(receiver.posts) == sent


def test_a_refusing_webhook_is_one_line_without_its_url(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with Receiver(status=404, echo=True) as receiver:
        publish(Notifier([receiver.url(SECRET_PATH)], Scope(60)), runs.failed())
        assert len(receiver.posts) == 1
    lines = warnings(caplog)
    assert len(lines) == 1 and "404" in lines[0] and "webhook 1 (127.0.0.1)" in lines[0]
    assert "XyZsecretHookToken123" not in caplog.text + "".join(capsys.readouterr())


def test_the_payload_carries_the_gate_testcase_reason_when_no_check_failed() -> None:
    body = payload(runs.refused(), {})
    assert body["outcome"] == "refused" and body["failedChecks"] == []
    assert "401" in body["text"]


def test_a_hostile_comment_key_cannot_end_the_marker(github: GitHubFake, tmp_path: Path) -> None:
    key = "x --> <script>alert(1)</script> \n\x1b[31m" + "k" * 300
    mark = marker(key)
    assert mark.count("-->") == 1 and mark.endswith(" -->") and "<script" not in mark
    assert len(mark) < 130
    env = gh_env(github, tmp_path)
    for _ in range(2):
        publish(GitHubPublisher(env, Scope(60), comment=True, comment_key=key), runs.failed())
    assert len(github.comments[("example", "app", PR)]) == 1


def test_githubs_secondary_rate_limit_is_retried_not_reported(
    github: GitHubFake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    github.inject("secondary-rate-limit", operation="create-comment", retry_after=1)
    publish(GitHubPublisher(gh_env(github, tmp_path), Scope(60), comment=True), runs.failed())
    assert len(github.comments[("example", "app", PR)]) == 1
    assert warnings(caplog) == []


def test_a_retry_after_beyond_the_deadline_is_one_line_at_once(
    github: GitHubFake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    github.inject("rate-limit", retry_after=3600, times=None)
    scope = Scope(300)
    GitHubPublisher(gh_env(github, tmp_path), scope, status=True).start(LINK)
    assert not scope.expired  # gave up at once, without sleeping towards the deadline
    (line,) = warnings(caplog)
    assert "Retry-After" in line and "beyond the deadline" in line


def test_the_tokens_are_secrets_from_construction(github: GitHubFake, tmp_path: Path) -> None:
    from checkly_gate import redact

    secrets = redact.Secrets()  # the command's, handed to every publisher
    GitHubPublisher(gh_env(github, tmp_path), Scope(60), status=True, secrets=secrets)
    GitLabPublisher(
        {"CHECKLY_GATE_GITLAB_TOKEN": GL_TOKEN}, Scope(60), status=True, secrets=secrets
    )
    Notifier(["https://hooks.example.com" + SECRET_PATH], Scope(60), secrets=secrets)
    masked = secrets(f"{GH_TOKEN} {GL_TOKEN} {SECRET_PATH}")
    assert GH_TOKEN not in masked and GL_TOKEN not in masked and "XyZsecret" not in masked


# --- the comment's marker and size, for any key and summary ------------------------------------


@settings(deadline=None, max_examples=300)
@given(st.text(max_size=300), st.text(max_size=3000), st.integers(200, 2000))
def test_any_key_and_summary_make_one_marker_within_the_limit(
    key: str, summary: str, limit: int
) -> None:
    mark = marker(key)
    assert mark.startswith("<!-- checkly-gate:") and mark.endswith(" -->")
    assert mark.count("--") == 2 and ">" not in mark[:-1] and "\n" not in mark
    assert marker(key) == mark  # the same key finds the same comment on the next run
    text = comments.body(mark, summary, limit, "GitHub", Secrets())
    assert len(text) <= limit
    assert comments.is_ours(text, mark)
    assert text == f"{mark}\n{summary}" or "cut to fit the GitHub comment limit" in text


def test_a_summary_with_a_lone_surrogate_is_still_published(
    github: GitHubFake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    summary = "## Failed \ud800 check \udfff\n| a | b |"
    GitHubPublisher(gh_env(github, tmp_path), Scope(60), comment=True).finish(
        runs.failed(), summary
    )
    (comment,) = github.comments[("example", "app", PR)]
    assert "Failed \ufffd check" in comment["body"]
    assert warnings(caplog) == []

"""GitHub: one pull-request comment updated in place, and a commit status.

Sources (GitHub Actions' default variables): ``GITHUB_API_URL`` (default
https://api.github.com; a GitHub Enterprise Server's ``https://HOST/api/v3``), ``GITHUB_TOKEN``
(a secret: masked everywhere), ``GITHUB_REPOSITORY`` (``owner/repo``; ``--repository``
wins), the event payload at ``GITHUB_EVENT_PATH`` (read bounded by ``ci.github.read_event``):
the pull-request number from ``pull_request.number`` on ``pull_request*`` events, the head
commit as ``ci.github.commits`` reads it (the commit ``wait --commit`` uses) unless the engine
passes the commit it judged.

Endpoints (GitHub REST, held to @octokit/openapi by ``tests/platform_fakes.py``):
``GET /repos/{owner}/{repo}/issues/{n}/comments`` (paged with ``Link: rel="next"``, followed
only on the same origin), ``PATCH /repos/{owner}/{repo}/issues/comments/{id}``, ``POST
.../issues/{n}/comments`` (body at most 65,536 characters), ``POST
/repos/{owner}/{repo}/statuses/{sha}`` (``state``, ``target_url``, ``description`` <= 140,
``context``). Permissions: ``pull-requests: write`` (comment), ``statuses: write`` (status).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from checkly_gate.ci.base import Commit, env_text
from checkly_gate.ci.github import PULL_REQUEST_EVENTS, commits, read_event
from checkly_gate.publish import comment as comments
from checkly_gate.publish import report, state
from checkly_gate.publish.http import Http, PublishError
from checkly_gate.publish.review import ReviewPublisher
from checkly_gate.reports import GateRun
from checkly_gate.scope import Scope
from checkly_gate.text import link as text_link

DEFAULT_API_URL = "https://api.github.com"
COMMENT_MAX = 65_536  # characters GitHub accepts in a comment body
DESCRIPTION_MAX = 140
PER_PAGE = 100
MAX_PAGES = 50  # 5,000 comments searched for the marker; beyond, a new comment is made
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
COMMENT_EVENTS = PULL_REQUEST_EVENTS | {"pull_request_target"}
HINTS = {
    401: "check GITHUB_TOKEN",
    404: "check GITHUB_REPOSITORY or --repository, and that the token can see the repository",
    422: "GitHub refused the request as invalid",
}


def _next_link(headers: httpx.Headers) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header, or None."""
    for part in headers.get("link", "").split(","):
        match = re.match(r"\s*<([^>]*)>\s*;(.*)", part)
        if match and re.search(r'rel="?next"?', match.group(2)):
            return match.group(1)
    return None


def api_url_problem(url: str) -> str | None:
    """Why ``url`` cannot carry the token (not http(s); http:// to a non-loopback host)."""
    try:
        split = urlsplit(url)
    except ValueError:
        return "GITHUB_API_URL is not a URL"
    if split.scheme not in ("http", "https") or not split.hostname:
        return "GITHUB_API_URL is not an http(s) URL"
    if split.scheme == "http" and split.hostname not in _LOOPBACK:
        return "GITHUB_API_URL is plain http:// to another host: the token is not sent in clear"
    return None


def pull_request_number(env: Mapping[str, str]) -> tuple[int | None, str]:
    """``(number, "")`` on a pull-request event, else ``(None, why not)``."""
    event = env_text(env, "GITHUB_EVENT_NAME", 100) or ""
    if event not in COMMENT_EVENTS:
        return None, f"not a pull request event (GITHUB_EVENT_NAME {event or 'unset'!r})"
    payload, problem = read_event(env)
    if payload is None:
        return None, problem
    pr = payload.get("pull_request") if isinstance(payload, dict) else None
    number = pr.get("number") if isinstance(pr, dict) else None
    if number is None and isinstance(payload, dict):
        number = payload.get("number")
    if isinstance(number, int) and not isinstance(number, bool) and 0 < number < 2**31:
        return number, ""
    return None, "the event payload has no pull_request.number"


class GitHubPublisher(ReviewPublisher):
    """``--comment`` and/or ``--status`` on GitHub (see the module doc). Never raises."""

    name = "github"
    TOKEN_VARIABLE = "GITHUB_TOKEN"
    PENDING = "pending"
    DESCRIPTION_MAX = DESCRIPTION_MAX

    def __init__(
        self,
        env: Mapping[str, str],
        scope: Scope,
        *,
        repository: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(env, scope, **options)
        self.repository = repository or env_text(env, "GITHUB_REPOSITORY", 300)

    # -- setup ----------------------------------------------------------------------------------

    def _client(self) -> Http | None:
        """The HTTP client, or None after saying once why there is none."""
        if self._http is not None:
            return self._http.under(self.scope)
        if self._problem is None:
            token = self.env.get("GITHUB_TOKEN") or ""
            url = env_text(self.env, "GITHUB_API_URL", 2000) or DEFAULT_API_URL
            if not token.strip():
                self._problem = "GITHUB_TOKEN is not set"
            elif not self.repository or not _REPOSITORY.fullmatch(self.repository):
                self._problem = "no repository: set GITHUB_REPOSITORY or --repository owner/repo"
            elif problem := api_url_problem(url):
                self._problem = problem
            else:
                try:
                    self._http = Http(
                        url,
                        self.scope,
                        headers={
                            "Authorization": f"Bearer {token.strip()}",
                            "Accept": "application/vnd.github+json",
                            "X-GitHub-Api-Version": "2022-11-28",
                        },
                        secrets=self.secrets,
                        tokens=[token, token.strip()],
                        env=self.env,
                        transport=self.transport,
                        what="the GitHub API",
                    )
                    return self._http
                except PublishError as exc:
                    self._problem = str(exc)
        for what in (["the GitHub comment"] if self.comment else []) + (
            ["the GitHub commit status"] if self.status else []
        ):
            report(what, self._problem or "", self._said, self.secrets)
        return None

    def _commits(self) -> tuple[Commit, ...]:
        return commits(self.env)

    def _final_state(self, run: GateRun) -> str:
        return state(run)

    def _upsert(self, run: GateRun, summary: str) -> None:
        self._upsert_comment(run, summary)

    # -- commit status ----------------------------------------------------------------------------

    def _post_status(self, value: str, words: str, link: str | None) -> None:
        http = self._client()
        if http is None:
            return
        sha = self._sha()
        if sha is None:
            report(
                "the GitHub commit status",
                "no commit: GITHUB_SHA and the event have none",
                self._said,
            )
            return
        body: dict[str, Any] = {
            "state": value,
            "description": words[:DESCRIPTION_MAX],
            "context": self.context,
        }
        if link and (target := text_link(link)):
            body["target_url"] = target
        try:
            http.request(
                "POST",
                f"/repos/{self.repository}/statuses/{sha}",
                json_body=body,
                hints={**HINTS, 403: "the token needs the permission statuses: write"},
            )
        except PublishError as exc:
            report(f"the GitHub commit status ({value})", str(exc), self._said, self.secrets)

    # -- comment ----------------------------------------------------------------------------------

    def _find(self, http: Http, number: int, mark: str) -> int | None:
        """The id of the first comment of PR ``number`` whose body starts with ``mark``."""
        url: str | None = f"/repos/{self.repository}/issues/{number}/comments"
        params: dict[str, str] | None = {"per_page": str(PER_PAGE)}
        for _ in range(MAX_PAGES):
            if url is None:
                return None
            answer = http.request("GET", url, params=params, hints=self._comment_hints())
            items = answer.json()
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and comments.is_ours(item.get("body"), mark):
                    found = item.get("id")
                    if isinstance(found, int) and not isinstance(found, bool) and found > 0:
                        return found
            url, params = _next_link(answer.headers), None
            if url is not None and not http.same_origin(url):
                return None  # a next page elsewhere would get the token: never followed
        return None

    @staticmethod
    def _comment_hints() -> dict[int, str]:
        return {**HINTS, 403: "the token needs the permission pull-requests: write"}

    def _upsert_comment(self, run: GateRun, summary: str) -> None:
        number, why = pull_request_number(self.env)
        if number is None:
            report("the GitHub comment", why, self._said, self.secrets)
            return
        http = self._client()
        if http is None:
            return
        mark = comments.marker(self.comment_key or comments.default_key(run))
        text = comments.body(mark, summary, COMMENT_MAX, "GitHub", self.secrets)
        try:
            found = self._find(http, number, mark)
            if found is None:
                http.request(
                    "POST",
                    f"/repos/{self.repository}/issues/{number}/comments",
                    json_body={"body": text},
                    idempotent=False,
                    hints=self._comment_hints(),
                )
            else:
                http.request(
                    "PATCH",
                    f"/repos/{self.repository}/issues/comments/{found}",
                    json_body={"body": text},
                    hints=self._comment_hints(),
                )
        except PublishError as exc:
            report("the GitHub comment", str(exc), self._said, self.secrets)

"""GitLab: one merge-request note updated in place, and a commit status.

Sources (GitLab CI's predefined variables): ``CI_API_V4_URL``, ``CI_PROJECT_ID``,
``CI_MERGE_REQUEST_IID`` (merge-request pipelines only), the commit from
``CI_MERGE_REQUEST_SOURCE_BRANCH_SHA`` then ``CI_COMMIT_SHA`` (``ci.gitlab.commits``: the head
commit the gate judges) unless the engine passes one, and the token from
``CHECKLY_GATE_GITLAB_TOKEN`` (a project or personal access token with the ``api`` scope; the
job token may not write notes or statuses). The token is a secret: masked everywhere.

Endpoints (GitLab REST v4, held to the hand description in ``tests/platform_fakes.py``):
``GET /projects/:id/merge_requests/:iid/notes`` (paged by ``X-Next-Page``), ``PUT
.../notes/:note_id``, ``POST .../notes`` (body at most 1,000,000 characters), ``POST
/projects/:id/statuses/:sha`` (``state`` pending/success/failed/canceled, ``name``,
``target_url``, ``description`` <= 255).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from checkly_gate.ci.base import Commit, env_text
from checkly_gate.ci.gitlab import commits
from checkly_gate.publish import (
    GITLAB_STATE,
    gitlab_state,
    report,
)
from checkly_gate.publish import comment as comments
from checkly_gate.publish.github import api_url_problem
from checkly_gate.publish.http import Http, PublishError
from checkly_gate.publish.review import ReviewPublisher
from checkly_gate.reports import GateRun
from checkly_gate.scope import Scope
from checkly_gate.text import link as text_link

TOKEN_VARIABLE = "CHECKLY_GATE_GITLAB_TOKEN"
NOTE_MAX = 1_000_000
DESCRIPTION_MAX = 255
PER_PAGE = 100
MAX_PAGES = 50
_PROJECT = re.compile(r"[0-9]{1,20}|[A-Za-z0-9_.][A-Za-z0-9_./-]{0,254}")
HINTS = {
    401: f"check {TOKEN_VARIABLE} (a token with the api scope)",
    403: f"the token in {TOKEN_VARIABLE} needs the api scope and at least the Developer role",
    404: "check CI_PROJECT_ID and that the token can see the project",
}


class GitLabPublisher(ReviewPublisher):
    """``--comment`` and/or ``--status`` on GitLab (see the module doc). Never raises."""

    name = "gitlab"
    TOKEN_VARIABLE = TOKEN_VARIABLE
    PENDING = GITLAB_STATE["pending"]
    DESCRIPTION_MAX = DESCRIPTION_MAX

    def __init__(
        self,
        env: Mapping[str, str],
        scope: Scope,
        *,
        project: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(env, scope, **options)
        self.project = project or env_text(env, "CI_PROJECT_ID", 300)

    def _project_path(self) -> str:
        return quote(self.project or "", safe="")

    def _client(self) -> Http | None:
        if self._http is not None:
            return self._http.under(self.scope)
        if self._problem is None:
            token = (self.env.get(TOKEN_VARIABLE) or "").strip()
            url = env_text(self.env, "CI_API_V4_URL", 2000) or ""
            if not token:
                self._problem = f"{TOKEN_VARIABLE} is not set"
            elif not url:
                self._problem = "CI_API_V4_URL is not set (not a GitLab CI job?)"
            elif not self.project or not _PROJECT.fullmatch(self.project):
                self._problem = "CI_PROJECT_ID is not set or not a project id"
            elif problem := api_url_problem(url):
                self._problem = problem.replace("GITHUB_API_URL", "CI_API_V4_URL")
            else:
                try:
                    self._http = Http(
                        url,
                        self.scope,
                        headers={"PRIVATE-TOKEN": token, "Accept": "application/json"},
                        secrets=self.secrets,
                        tokens=[token],
                        env=self.env,
                        transport=self.transport,
                        what="the GitLab API",
                    )
                    return self._http
                except PublishError as exc:
                    self._problem = str(exc)
        for what in (["the GitLab merge request note"] if self.comment else []) + (
            ["the GitLab commit status"] if self.status else []
        ):
            report(what, self._problem or "", self._said, self.secrets)
        return None

    def _commits(self) -> tuple[Commit, ...]:
        return commits(self.env)

    def _final_state(self, run: GateRun) -> str:
        return gitlab_state(run)

    def _upsert(self, run: GateRun, summary: str) -> None:
        self._upsert_note(run, summary)

    def _post_status(self, value: str, words: str, link: str | None) -> None:
        http = self._client()
        if http is None:
            return
        sha = self._sha()
        if sha is None:
            report(
                "the GitLab commit status",
                "no commit: CI_COMMIT_SHA is not set",
                self._said,
                self.secrets,
            )
            return
        body: dict[str, Any] = {
            "state": value,
            "name": self.context,
            "description": words[:DESCRIPTION_MAX],
        }
        if link and (target := text_link(link, DESCRIPTION_MAX)):
            body["target_url"] = target
        try:
            http.request(
                "POST",
                f"/projects/{self._project_path()}/statuses/{sha}",
                json_body=body,
                hints=HINTS,
            )
        except PublishError as exc:
            report(f"the GitLab commit status ({value})", str(exc), self._said, self.secrets)

    def _find(self, http: Http, iid: int, mark: str) -> int | None:
        url = f"/projects/{self._project_path()}/merge_requests/{iid}/notes"
        page = "1"
        for _ in range(MAX_PAGES):
            answer = http.request(
                "GET", url, params={"per_page": str(PER_PAGE), "page": page}, hints=HINTS
            )
            items = answer.json()
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and comments.is_ours(item.get("body"), mark):
                    found = item.get("id")
                    if isinstance(found, int) and not isinstance(found, bool) and found > 0:
                        return found
            page = (answer.headers.get("x-next-page") or "").strip()
            if not page.isdigit():
                return None
        return None

    def _upsert_note(self, run: GateRun, summary: str) -> None:
        raw = env_text(self.env, "CI_MERGE_REQUEST_IID", 20) or ""
        if not raw.isdigit() or int(raw) <= 0:
            report(
                "the GitLab merge request note",
                "not a merge request pipeline",
                self._said,
                self.secrets,
            )
            return
        iid = int(raw)
        http = self._client()
        if http is None:
            return
        mark = comments.marker(self.comment_key or comments.default_key(run))
        text = comments.body(mark, summary, NOTE_MAX, "GitLab", self.secrets)
        notes = f"/projects/{self._project_path()}/merge_requests/{iid}/notes"
        try:
            found = self._find(http, iid, mark)
            if found is None:
                http.request("POST", notes, json_body={"body": text}, idempotent=False, hints=HINTS)
            else:
                http.request("PUT", f"{notes}/{found}", json_body={"body": text}, hints=HINTS)
        except PublishError as exc:
            report("the GitLab merge request note", str(exc), self._said, self.secrets)

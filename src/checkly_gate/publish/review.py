"""What the two code-review platforms' publishers share (``github.py``, ``gitlab.py``): the
options of ``--comment``/``--status``, the token as a secret of the command from the moment it
is known, one connection pool shared by every ``under`` view, the commit to post on, and the
order of ``start``/``finish``. Each platform supplies its client, its states and its upsert.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import ClassVar

import httpx

from checkly_gate import redact
from checkly_gate.ci.base import Commit, sha_value
from checkly_gate.publish import DEFAULT_CONTEXT, description
from checkly_gate.publish.http import Http
from checkly_gate.reports import GateRun
from checkly_gate.scope import Scope


class ReviewPublisher:
    """Base of ``GitHubPublisher`` and ``GitLabPublisher``. Never raises.

    Subclasses set ``TOKEN_VARIABLE`` and ``PENDING`` and define ``_client`` (the ``Http`` or
    None after saying once why there is none), ``_commits`` (the CI's commits, head first),
    ``_final_state(run)``, ``_post_status(state, words, link)``, ``_upsert(run, summary)`` and
    ``DESCRIPTION_MAX``.
    """

    name: ClassVar[str]
    TOKEN_VARIABLE: ClassVar[str]
    PENDING: ClassVar[str]
    DESCRIPTION_MAX: ClassVar[int]

    def __init__(
        self,
        env: Mapping[str, str],
        scope: Scope,
        *,
        comment: bool = False,
        comment_key: str | None = None,
        status: bool = False,
        context: str = DEFAULT_CONTEXT,
        commit: str | None = None,
        transport: httpx.BaseTransport | None = None,
        secrets: redact.Secrets | None = None,
    ) -> None:
        #: the command's secrets (``context.Command.secrets``); the token joins them here
        self.secrets = secrets if secrets is not None else redact.Secrets()
        self.env = env
        self.scope = scope
        self.comment = comment
        self.comment_key = comment_key
        self.status = status
        self.context = (context or DEFAULT_CONTEXT)[:255]
        self.commit = sha_value(commit) if commit else None
        self.transport = transport
        self._said: set[str] = set()
        # a secret from the moment it is known: masked in every output, published or not
        self.secrets.add([env.get(self.TOKEN_VARIABLE) or None])
        self._http: Http | None = None
        self._problem: str | None = None

    def under(self, scope: Scope) -> ReviewPublisher:
        view = copy.copy(self)
        view.scope = scope
        if self._http is not None:
            view._http = self._http.under(scope)
        return view

    def close(self) -> None:
        """Close the connection pool (shared by every ``under`` view)."""
        if self._http is not None:
            self._http.close()

    def _sha(self) -> str | None:
        """The commit to post on: the one given, else the CI's deployed (head) commit."""
        if self.commit:
            return self.commit
        found = self._commits()
        return sha_value(found[0].sha) if found else None

    # -- the seam -------------------------------------------------------------------------------

    def start(self, link: str | None) -> None:
        if self.status:
            self._post_status(self.PENDING, "Checkly checks are running", link)

    def finish(self, run: GateRun, summary_markdown: str) -> None:
        if self.comment:
            self._upsert(run, summary_markdown)
        if self.status:
            link = next(
                (sv.session.link for sv in run.verdict.sessions if sv.session and sv.session.link),
                None,
            )
            self._post_status(self._final_state(run), description(run, self.DESCRIPTION_MAX), link)

    # -- what each platform supplies ------------------------------------------------------------

    def _client(self) -> Http | None:
        raise NotImplementedError

    def _commits(self) -> tuple[Commit, ...]:
        raise NotImplementedError

    def _final_state(self, run: GateRun) -> str:
        raise NotImplementedError

    def _post_status(self, value: str, words: str, link: str | None) -> None:
        raise NotImplementedError

    def _upsert(self, run: GateRun, summary: str) -> None:
        raise NotImplementedError

"""HTTP client for the Checkly endpoints the gate uses, with errors sorted by what to do next.

Every failure becomes one of a few exceptions: ``Refused`` (retrying cannot help; its subclass
``Misconfigured`` for a TLS certificate that cannot be verified), ``NotFound`` (may be the API
catching up after a trigger), ``Transient`` (retry with backoff, honouring ``Retry-After``; its
subclass ``OutOfTime`` when the deadline cut the exchange) or ``Stopped`` (a signal). The client
is bound to a ``scope.Scope``: no exchange outlives its deadline or ignores its stop. The
transport is injectable (``httpx.MockTransport`` in tests); proxies come from the standard
environment variables through httpx, CAs from ``tls.ssl_context``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import os
import re
import ssl
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from checkly_gate import __version__
from checkly_gate.check_sessions import parse_check_session
from checkly_gate.models import NotASessionError, Session, load_session, loads, same_session
from checkly_gate.proxies import applicable
from checkly_gate.proxies import secrets as proxy_secrets
from checkly_gate.redact import CUT, Secrets
from checkly_gate.schedule import RequestBudget
from checkly_gate.scope import Scope
from checkly_gate.text import is_safe_id, one_line
from checkly_gate.tls import applies as tls_applies
from checkly_gate.tls import ssl_context, tls_problem

log = logging.getLogger("checkly_gate")

DEFAULT_API_URL = "https://api.checklyhq.com"
USER_AGENT = f"checkly-gate/{__version__}"
CONNECT_TIMEOUT = 10.0
REQUEST_TIMEOUT = 30.0  # a plain GET; long-polls get their wait time on top


class ApiError(Exception):
    """Base of every API failure. ``str()`` is one line, free of secrets."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Refused(ApiError):
    """400, 401, 403 and other client errors: retrying cannot help."""


class Misconfigured(Refused):
    """A configuration problem: the server's TLS certificate cannot be verified, the server
    does not speak TLS, or the proxy refuses to carry the request (403/407 on CONNECT, a 407
    answer, a SOCKS proxy answering garbage). Reported at once and never retried."""


class NotFound(ApiError):
    """404: the session does not exist (yet), or the endpoint does not."""


class Transient(ApiError):
    """Network trouble, 5xx, 429 or an unreadable body: worth retrying."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
        timed_out: bool = False,
        sent: bool = False,
    ) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after
        self.timed_out = timed_out
        self.sent = sent  # the request may have reached the server


class OutOfTime(Transient):
    """The scope's deadline came before the whole answer (or before the request could start)."""


class Stopped(ApiError):
    """The scope was stopped (SIGINT/SIGTERM) before or while the exchange ran."""

    def __init__(self, message: str, signal: int | None = None, sent: bool = False) -> None:
        super().__init__(message)
        self.signal = signal
        self.sent = sent  # the request may have reached the server


class BodyTooLarge(Exception):
    """An answer longer than ``MAX_BODY_BYTES``: no Checkly answer is that big."""


class CompletionUnsupported(ApiError):
    """The long-poll endpoint is not there (404/405/501): fall back to plain polling."""


class NoMatch(ApiError):
    """The trigger matched no checks (404, or 403 saying so)."""


class Ambiguous(ApiError):
    """A trigger failed after it may have reached the API: retrying could start a duplicate."""


_HINTS = {
    400: "check the session id and --api-url",
    401: "check the API key (CHECKLY_API_KEY)",
    403: "check the account id (CHECKLY_ACCOUNT_ID) and the key's permissions",
}


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP date. ``None`` if unusable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def server_time(response: httpx.Response | None) -> float | None:
    """The ``Date`` header of ``response`` as Unix seconds; ``None`` when absent or unreadable."""
    value = response.headers.get("Date") if response is not None else None
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def error_message(response: httpx.Response, limit: int = 300) -> str:
    """One line saying what the server said, whatever shape its error body has."""
    text = response.text if response.content else ""
    message = ""
    try:
        body: Any = json.loads(text) if text else None
    except (ValueError, RecursionError):
        body = None
    reason = response.reason_phrase or ""
    if isinstance(body, dict):
        # Checkly's ApiError repeats the reason phrase in "error" ("Not Found"): said once.
        parts = [body.get("message"), body.get("error"), body.get("errorCode")]
        texts = [str(p) for p in parts if isinstance(p, (str, int)) and str(p)]
        message = " / ".join(t for t in texts if t.strip().casefold() != reason.casefold())
    elif "<html" in text[:500].lower() or "<!doctype" in text[:500].lower():
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
        message = "HTML page" + (f" ({title.group(1).strip()})" if title else "")
    elif text:
        message = text
    # A cut ends in ``redact.CUT``: every write point masks a secret's prefix right before it.
    message = " ".join(message.split())
    if len(message) > limit:
        message = message[: limit - 1] + CUT
    head = f"HTTP {response.status_code}" + (f" {reason}" if reason else "")
    return f"{head}: {message}" if message else head


#: "no match", "matching checks", "no checks were matched": checks said to match, not a key
#: or an account (a hint appended to a refusal says "check the account id": not "checks match").
_NO_MATCH_WORDS = re.compile(
    r"\bno\s+match|\bmatch\w*\s+(?:\w+\s+)?checks?\b|\bchecks?\s+(?:\w+\s+){0,2}match"
)


def says_no_match(status: int, line: str) -> bool:
    """Whether a trigger's 404/403 answer, as ``error_message`` put it (``HTTP 404 Not Found:
    No matching checks were found.``), says that no check matched. Only such an answer is "no
    match" (exit 7, or 0 under ``--no-fail-on-no-matching``): one about the key, the account or
    a route (``The API key does not match the account``, ``Route POST:/v1/... not found``) is a
    refusal, never a pass. A 404 that says nothing beyond its status is Checkly's no-match
    (NOTES.md: "404/403 when nothing matches")."""
    said = line.partition(": ")[2].lower()
    if _NO_MATCH_WORDS.search(said):
        return True
    return status == 404 and not said.strip()


#: The fields of Checkly's error body (``{statusCode, error, message}``; ``{error}`` and
#: ``{message, errorCode}`` occur too: /work/shared/checkly-api/NOTES.md).
_API_ERROR_FIELDS = ("statusCode", "error", "message", "errorCode")


def speaks_checkly(response: httpx.Response) -> bool:
    """Whether an error answer has the shape of Checkly's: a JSON object with at least one of
    its error fields. An HTML page, plain text, an empty body or JSON of another shape on a 404
    is another server (a wrong ``--api-url``, a proxy's or load balancer's page)."""
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        return False
    return isinstance(body, dict) and any(
        isinstance(body.get(name), (str, int)) and not isinstance(body.get(name), bool)
        for name in _API_ERROR_FIELDS
    )


MAX_BODY_BYTES = 64 * 1024 * 1024  # a session with 10,000 results is about 6 MB


def _segment(value: str) -> str:
    """An id (from the command line or from an API answer) fit to go into a URL path as it is;
    anything else is refused before a request is built (``text.is_safe_id``)."""
    if not is_safe_id(value):
        raise Refused(f"not a usable id: {one_line(repr(value), 80)}")
    return value


def _asked_for(session_id: str, read: tuple[Session, bytes]) -> tuple[Session, bytes]:
    """``read`` when its body is the session asked for; a misrouted or cached answer (another
    session's ``testSessionId``) is ``Transient``: retried, never judged (``models.same_session``
    is the same rule, checked again where the verdict is proven)."""
    body_id = read[0].session_id
    if same_session(session_id, body_id):
        return read
    raise Transient(
        f"the answer is another session's body (testSessionId {one_line(body_id, 80)!r}, "
        f"asked for {session_id!r})"
    )


def _limits(timeout: float) -> httpx.Timeout:
    """httpx's per-operation timeouts (connect, each read, each write). They bound single
    socket operations only; the whole exchange is bounded by ``Client`` (see ``_exchange``)."""
    timeout = max(0.05, timeout)
    return httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout))


class Client:
    """Talks to the Checkly Public API under one ``Scope``. Thread-safe; counts its requests.

    Every exchange, whichever endpoint, is bounded as a whole (connect, headers, the last body
    byte) by ``min(scope deadline, its own per-request cap)``, ends at once when the scope is
    stopped (a signal), and reads at most ``MAX_BODY_BYTES``. Without a ``scope`` the client
    has one of its own with no deadline (tests); the gate always passes its scope.
    """

    def __init__(
        self,
        api_key: str,
        api_url: str = DEFAULT_API_URL,
        account_id: str | None = None,
        transport: httpx.BaseTransport | None = None,
        wall_clock: Callable[[], datetime] | None = None,
        scope: Scope | None = None,
        env: Mapping[str, str] | None = None,
        budget: RequestBudget | None = None,
        secrets: Secrets | None = None,
    ) -> None:
        # The command's secrets: the texts this client puts in its errors are masked with them,
        # and a proxy's credentials join them (so every writer of the command masks those too).
        self._secrets = secrets if secrets is not None else Secrets([api_key])
        headers = {
            "Authorization": f"Bearer {api_key}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        if account_id:
            headers["X-Checkly-Account"] = account_id
        verify: ssl.SSLContext | bool = True
        proxy: str | None = None
        self._proxy_variable: str | None = None
        if transport is None:
            environment = os.environ if env is None else env
            if tls_applies(api_url):  # a plain http:// API never reads SSL_CERT_FILE
                verify = ssl_context(environment)  # config.resolve has vetted it
            chosen = applicable(api_url, environment)  # so has it this
            if chosen is not None:
                proxy, self._proxy_variable = chosen.url, chosen.variable
                self._secrets.add(proxy_secrets(chosen.url))  # masked in every output from now on
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers=headers,
            transport=transport,
            verify=verify,
            proxy=proxy,
            trust_env=False,  # TLS and the one applicable proxy come from env, as above
            follow_redirects=False,
            timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT),
        )
        self._host = self._http.base_url.host or api_url
        self._lock = threading.Lock()
        self._wall_clock = wall_clock or (lambda: datetime.now(timezone.utc))
        self._scope = scope or Scope()
        self._stats = _Stats()
        # Every GET waits for its slot (schedule.RequestBudget, shared by all views of this
        # client: followers and explainers); None: unbounded (tests, single reads).
        self._budget = budget

    @property
    def scope(self) -> Scope:
        """The scope every exchange of this client runs under."""
        return self._scope

    @property
    def requests(self) -> int:
        """Exchanges started (shared with every ``under`` view)."""
        return self._stats.requests

    @property
    def answers(self) -> int:
        """Exchanges that produced a complete HTTP answer, whatever its status."""
        return self._stats.answers

    @property
    def misconfigured(self) -> str | None:
        """The first TLS verification failure, one line, or None."""
        return self._stats.misconfigured

    def under(self, scope: Scope) -> Client:
        """The same client (connections, counters) bound to another scope, e.g. a phase's.
        Views share one connection pool: closing any of them closes it for all."""
        view = copy.copy(self)
        view._scope = scope
        return view

    def close(self) -> None:
        self._http.close()

    def get_session(
        self, session_id: str, timeout: float = REQUEST_TIMEOUT
    ) -> tuple[Session, bytes]:
        """GET the session: the parsed ``Session`` and the raw body."""
        return self._read_session("/v1/test-sessions", session_id, timeout)

    def await_completion(
        self, session_id: str, max_wait: int, timeout: float
    ) -> tuple[Session, bytes] | None:
        """Long-poll until the session is final or ``max_wait`` passes (``None``: still running)."""
        return self._await_session("/v1/test-sessions", session_id, max_wait, timeout)

    def trigger(self, body: dict[str, Any], timeout: float) -> tuple[Session, bytes]:
        """Start a test session. Not idempotent, so errors say whether a retry is safe:

        ``Transient`` only when the API surely did not create a session (the request was never
        sent: connection refused, connect timeout; or 429), ``Ambiguous`` after any failure once
        the request may have arrived (5xx, read timeout, reset, unreadable answer). ``OutOfTime``
        and ``Stopped`` say in ``sent`` whether the request had gone out.
        """
        try:
            response = self._exchange(
                "POST", "/v1/test-sessions/trigger", None, body, timeout, read=self._session_from
            )
        except Transient as exc:
            if not exc.sent or isinstance(exc, OutOfTime):
                raise
            raise Ambiguous(f"trigger request failed after sending: {exc.message}") from None
        status = response.status_code
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._wall_clock())
            raise Transient(error_message(response), status, retry_after=retry_after)
        if status == 404 and not speaks_checkly(response):
            raise self._misconfigured(self._not_the_api(error_message(response)))
        if status in (403, 404) and says_no_match(status, error_message(response)):
            raise NoMatch(error_message(response), status)
        if status >= 500 or status == 408:
            raise Ambiguous(error_message(response), status)
        if not 200 <= status < 300:
            hint = _HINTS.get(status)
            raise Refused(error_message(response) + (f" (hint: {hint})" if hint else ""), status)
        try:
            return _read(response, self._session_from)
        except Transient as exc:
            raise Ambiguous(exc.message, status) from None

    def error_group(self, group_id: str, timeout: float) -> dict[str, Any] | None:
        """``GET /v1/test-session-error-groups/{id}``: the decoded ``TestSessionErrorGroup``
        (untrusted: ``firstSeen``, ``lastSeen``, messages...), ``None`` when it is not an
        object; an unreadable body is ``Transient``."""
        path = f"/v1/test-session-error-groups/{_segment(group_id)}"
        response = self._request(path, None, timeout)
        assert response is not None
        try:
            body = response.json()
        except (ValueError, RecursionError):
            raise Transient("unreadable error-group body", response.status_code) from None
        return body if isinstance(body, dict) else None

    def cancel(self, session_id: str, timeout: float) -> None:
        """Ask the API to cancel a running session (best effort, once)."""
        self._request(
            f"/v1/test-sessions/{_segment(session_id)}/cancel",
            None,
            timeout,
            method="POST",
            json_body={},
        )

    # --- discovery, result assets and check sessions -------------------------------------------

    def list_test_sessions(
        self, query: Sequence[tuple[str, str]], timeout: float
    ) -> tuple[Any, float | None]:
        """``GET /v1/test-sessions`` with ``query`` pairs (a key repeated for a list filter, e.g.
        ``("branches", "main")``): the decoded ``ListTestSessionsResponse``, whatever its shape,
        and the API's own time when it answered (its ``Date`` header, Unix seconds; ``None``
        without a readable one), so time windows never depend on the runner's clock."""
        path = "/v1/test-sessions" + (f"?{urlencode(list(query))}" if query else "")
        response = self._request(path, None, timeout, read=self._json)
        return _read(response, self._json), server_time(response)

    def result_assets(self, session_id: str, result_id: str, timeout: float) -> Any:
        """``GET /v1/test-sessions/{id}/results/{resultId}/assets``: the decoded asset manifest.
        Its URLs need the API key: callers keep only what they name, never the URLs."""
        path = f"/v1/test-sessions/{_segment(session_id)}/results/{_segment(result_id)}"
        return _read(self._request(f"{path}/assets", None, timeout, read=self._json), self._json)

    def get_check_session(
        self, session_id: str, timeout: float = REQUEST_TIMEOUT
    ) -> tuple[Session, bytes]:
        """``GET /v2/check-sessions/{id}``, read as a ``Session`` (see ``check_sessions``)."""
        return self._read_session("/v2/check-sessions", session_id, timeout, parse_check_session)

    def await_check_session(
        self, session_id: str, max_wait: int, timeout: float
    ) -> tuple[Session, bytes] | None:
        """``GET /v2/check-sessions/{id}/completion`` long-poll (``None``: 408, still running)."""
        return self._await_session(
            "/v2/check-sessions", session_id, max_wait, timeout, parse_check_session
        )

    def _read_session(
        self,
        base: str,
        session_id: str,
        timeout: float,
        parse: Callable[[Any], Session] | None = None,
    ) -> tuple[Session, bytes]:
        """GET ``base/{id}``: the session asked for (``_asked_for``) and its raw body."""

        def read(response: httpx.Response) -> tuple[Session, bytes]:
            return self._session_from(response, parse)

        response = self._request(f"{base}/{_segment(session_id)}", None, timeout, read=read)
        assert response is not None  # only a completion long-poll answers "still running"
        return _asked_for(session_id, _read(response, read))

    def _await_session(
        self,
        base: str,
        session_id: str,
        max_wait: int,
        timeout: float,
        parse: Callable[[Any], Session] | None = None,
    ) -> tuple[Session, bytes] | None:
        """Long-poll ``base/{id}/completion`` (``None``: 408, still running)."""

        def read(response: httpx.Response) -> tuple[Session, bytes]:
            return self._session_from(response, parse)

        response = self._request(
            f"{base}/{_segment(session_id)}/completion",
            {"maxWaitSeconds": str(max_wait)},
            timeout,
            completion=True,
            read=read,
        )
        if response is None:
            return None
        return _asked_for(session_id, _read(response, read))

    def cancel_check_session(self, session_id: str, timeout: float) -> None:
        """``POST /v1/check-sessions/{id}/cancel`` (best effort, once)."""
        self._request(
            f"/v1/check-sessions/{_segment(session_id)}/cancel",
            None,
            timeout,
            method="POST",
            json_body={},
        )

    def trigger_check_sessions(self, body: dict[str, Any], timeout: float) -> list[Session]:
        """``POST /v2/check-sessions/trigger``: every check session it started, each once (by
        id, canonical UUID form), in the answer's order.

        Not idempotent: only a 429 stays ``Transient`` (the API refused it, nothing started);
        any other failure after sending is ``Ambiguous``, a 404 (or 403 saying so) ``NoMatch``.
        An answer listing a session the gate cannot follow (no UUID ``checkSessionId``, no
        status) is ``Ambiguous`` too: it started, yet the gate could never prove it passed.
        """
        return _started_check_sessions(self._trigger_check_sessions(body, timeout))

    def _trigger_check_sessions(self, body: dict[str, Any], timeout: float) -> Any:
        try:
            response = self._request(
                "/v2/check-sessions/trigger",
                None,
                timeout,
                method="POST",
                json_body=body,
                read=self._json,
            )
        except NotFound as exc:
            if says_no_match(404, exc.message):
                raise NoMatch(exc.message, exc.status) from None
            raise Refused(exc.message, exc.status) from None
        except Refused as exc:
            if exc.status == 403 and says_no_match(403, exc.message):
                raise NoMatch(exc.message, exc.status) from None
            raise
        except Transient as exc:
            if exc.status == 429:
                raise
            raise Ambiguous(exc.message, exc.status) from None
        try:
            return _read(response, self._json)
        except Transient as exc:
            raise Ambiguous(exc.message, exc.status) from None

    @staticmethod
    def _json(response: httpx.Response | None) -> Any:
        """The decoded JSON body; ``Transient`` when it is not JSON."""
        assert response is not None
        try:
            return loads(response.content)
        except (ValueError, RecursionError):
            raise Transient(f"unreadable body from HTTP {response.status_code}") from None

    def _request(
        self,
        path: str,
        params: dict[str, str] | None,
        timeout: float,
        completion: bool = False,
        method: str = "GET",
        json_body: Any = None,
        read: Callable[[httpx.Response], Any] | None = None,
    ) -> httpx.Response | None:
        """One exchange with the API, its answer sorted by what to do next.

        ``timeout`` is the per-request cap in seconds for the WHOLE exchange; the scope's
        deadline may cut it shorter. Returns the fully read 2xx response (``None`` for the
        completion long-poll's 408 "still running"); raises ``Refused``, ``NotFound``,
        ``Transient`` (``OutOfTime`` at the deadline), ``CompletionUnsupported``, ``Stopped``.
        ``read`` (see ``_exchange``) reads a 2xx body under the same bound; get it with ``_read``.
        """
        response = self._exchange(method, path, params, json_body, timeout, read)
        status = response.status_code
        log.debug("%s %s -> %d", method, path, status)
        if 200 <= status < 300:
            return response
        if completion and status == 408:
            return None
        if completion and status in (404, 405, 501):
            raise CompletionUnsupported(error_message(response), status)
        message = error_message(response)
        if status == 407:  # only a proxy says this: the request never reached the API
            raise self._misconfigured(self._proxy_refused(message))
        if status == 429 or status >= 500 or status == 408:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._wall_clock())
            raise Transient(message, status, retry_after=retry_after)
        if status == 404:
            if not speaks_checkly(response):  # said at once, not after the not-found grace
                raise self._misconfigured(self._not_the_api(message))
            raise NotFound(message, status)
        if 300 <= status < 400:
            where = self._secrets(one_line(response.headers.get("Location", "?"), 200))
            raise Refused(f"{message} (redirect to {where}; check --api-url)", status)
        hint = _HINTS.get(status)
        raise Refused(f"{message}" + (f" (hint: {hint})" if hint else ""), status)

    def _wait_for_slot(self, scope: Scope, now: float) -> float:
        """Wait for this read's slot in the command's ``RequestBudget``; the time after it.
        Raises ``OutOfTime`` when the slot comes after the deadline, ``Stopped`` on a stop."""
        assert self._budget is not None
        pause = self._budget.reserve(now)
        if pause <= 0:
            return now
        if now + pause >= scope.deadline:
            raise OutOfTime(
                f"no read left before the deadline within --max-request-rate "
                f"{self._budget.per_minute:g} a minute",
                timed_out=True,
            )
        scope.sleep(pause)
        if scope.stopped:
            raise Stopped("stopped before the request", signal=scope.signal)
        return scope.now()

    def _exchange(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        json_body: Any,
        cap: float,
        read: Callable[[httpx.Response], Any] | None = None,
    ) -> httpx.Response:
        """Send one request and read its whole answer, bounded by the scope and by ``cap``.

        The exchange runs in a worker thread that this thread can abandon: it waits for the
        answer, the deadline, the cap or a stop, whichever comes first, and on abandoning
        shuts the connection down so the worker ends too. ``read`` (a parser) runs on a 2xx
        answer in the same worker, so parsing is bounded too: a body of 2 million empty rows
        arriving just before the deadline is abandoned at the deadline, not parsed past it.
        Transport failures become ``Transient`` (with ``sent``) or ``Misconfigured`` (TLS
        verification, a refusing proxy, a server that is not the API).
        """
        scope = self._scope
        if scope.stopped:
            raise Stopped("stopped before the request", signal=scope.signal)
        now = scope.now()
        if self._budget is not None and method == "GET":
            now = self._wait_for_slot(scope, now)
        until = min(scope.deadline, now + max(0.05, cap))
        if until <= now:
            raise OutOfTime("no time left before the deadline", timed_out=True)
        with self._lock:
            self._stats.requests += 1
        log.debug("%s %s", method, path)
        work = _Exchange(self._http, method, path, params, json_body, until - now, read)
        worker = threading.Thread(target=work.run, name=f"http-{path[:40]}", daemon=True)
        worker.start()
        scope.wait(work.done, until)
        # httpx's own read timeout (set to the same bound) may fire a moment before ours: the
        # same event, told the same way.
        at_bound = isinstance(work.error, httpx.TimeoutException) and scope.now() >= until - 0.25
        if not work.finished or at_bound:
            work.abandon()
            where = f"{method} {path} on {self._host}"
            stage = work.stage()
            if scope.stopped:
                raise Stopped(
                    f"{where} abandoned ({stage})",
                    signal=scope.signal,
                    sent=work.may_have_arrived(),
                )
            if until >= scope.deadline:
                raise OutOfTime(
                    f"no complete answer to {where} before the deadline ({stage})",
                    timed_out=True,
                    sent=work.may_have_arrived(),
                )
            raise Transient(
                f"no complete answer to {where} within {cap:g}s ({stage})",
                timed_out=True,
                sent=work.may_have_arrived(),
            )
        if work.response is not None and not _foreign(work.response):
            with self._lock:  # only the API's own answers count as answers
                self._stats.answers += 1
        if work.error is not None:
            raise self._failure(work.error, work.may_have_arrived())
        assert work.response is not None
        return work.response

    def _failure(self, exc: BaseException, sent: bool) -> Exception:
        """The API error for a failed exchange (a non-httpx exception is a bug: re-raised)."""
        detail = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, BodyTooLarge):
            return Transient(f"answer from {self._host} is {exc}", sent=True)
        if isinstance(exc, httpx.TimeoutException):  # e.g. the connect timeout, before the bound
            return Transient(f"request timed out ({type(exc).__name__})", timed_out=True, sent=sent)
        from_socks = type(exc).__module__.startswith("socksio")  # httpx lets these through
        if self._proxy_variable is not None and (isinstance(exc, httpx.ProxyError) or from_socks):
            # The proxy refused the tunnel (403/407 on CONNECT) or answered garbage (SOCKS):
            # nothing reached the API, and asking again gets the same answer.
            return self._misconfigured(self._proxy_refused(self._secrets(detail)))
        if isinstance(exc, httpx.TransportError):
            message = tls_problem(exc, self._host)
            if message is not None:
                return self._misconfigured(message)
            detail = self._secrets(one_line(detail, 300))
            return Transient(f"network error reaching {self._host}: {detail}", sent=sent)
        if isinstance(exc, httpx.HTTPError):
            return Transient(f"unreadable answer from {self._host}: {detail}", sent=sent)
        return exc if isinstance(exc, Exception) else RuntimeError(detail)

    def _not_the_api(self, message: str) -> str:
        """One line for a 404 that is not Checkly's: the base URL is named."""
        return (
            f"{self._http.base_url} does not answer like the Checkly API ({message}, not "
            "Checkly's error body); check --api-url (CHECKLY_API_URL)"
        )

    def _proxy_refused(self, detail: str) -> str:
        """One line for a proxy that will not carry the request, naming its variable."""
        return (
            f"the proxy in {self._proxy_variable or 'the proxy variables'} refused the "
            f"connection to {self._host}: {one_line(detail, 200)}; check the proxy, its "
            "credentials, or NO_PROXY"
        )

    def _misconfigured(self, message: str) -> Misconfigured:
        """A configuration problem (TLS, proxy): recorded once, reported at once, never retried
        (exit 2 before the API answered anything, 5 after: see ``gate``)."""
        with self._lock:
            self._stats.misconfigured = self._stats.misconfigured or message
        return Misconfigured(message)

    @staticmethod
    def _session_from(
        response: httpx.Response, parse: Callable[[Any], Session] | None = None
    ) -> tuple[Session, bytes]:
        """The parsed session and the raw body. The raw bytes are what callers keep (for the
        snapshot): far smaller than the decoded JSON of a session with thousands of results.
        A test session (no ``parse``) is read row by row (``models.load_session``), so its
        decoded JSON is never held whole either; ``parse`` reads a decoded body."""
        try:
            if parse is None:
                session = load_session(response.content)
            else:
                session = parse(loads(response.content))  # bytes: no decoded copy
        except NotASessionError as exc:
            raise Transient(f"body is not a test session: {exc}", response.status_code) from None
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            snippet = " ".join(response.text[:80].split())
            raise Transient(
                f"unreadable body from HTTP {response.status_code}: {snippet!r}",
                response.status_code,
            ) from None
        except Exception as exc:  # any shape the parser trips over is an unreadable answer
            raise Transient(
                f"unreadable test session body ({type(exc).__name__})", response.status_code
            ) from None
        return session, response.content


@dataclass
class _Stats:
    """Counters shared by a client and its ``under`` views."""

    requests: int = 0
    answers: int = 0
    misconfigured: str | None = None


# httpcore trace events: the request is on the wire once its headers start going out.
_SENDING = ("http11.send_request_headers.started", "http2.send_request_headers.started")
_CONNECTED = ("connection.connect_tcp.complete", "connection.start_tls.complete")


class _Exchange:
    """One request and its whole answer, run in a worker thread that may be abandoned."""

    def __init__(
        self,
        http: httpx.Client,
        method: str,
        path: str,
        params: dict[str, str] | None,
        json_body: Any,
        timeout: float,
        read: Callable[[httpx.Response], Any] | None = None,
    ) -> None:
        self._http = http
        self._read = read
        self._args = (method, path, params, json_body)
        self._timeout = _limits(timeout)
        self.done = threading.Event()
        self.finished = False
        self.sent = False
        self.traced = False
        self.headers_read = False
        self.parsing = False
        self.received = 0
        self.response: httpx.Response | None = None
        self.error: BaseException | None = None
        self._abandoned = False
        self._stream: Any = None  # httpcore's network stream, to shut down on abandon
        self._lock = threading.Lock()

    def run(self) -> None:
        method, path, params, json_body = self._args
        try:
            with self._http.stream(
                method,
                path,
                params=params,
                json=json_body,
                timeout=self._timeout,
                extensions={"trace": self._trace},
            ) as response:
                self.headers_read = True
                chunks = []
                for chunk in response.iter_bytes():
                    if self._abandoned:
                        return
                    self.received += len(chunk)
                    if self.received > MAX_BODY_BYTES:
                        raise BodyTooLarge(f"larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB")
                    chunks.append(chunk)
                self.response = _complete(response, b"".join(chunks))
            if self._read is not None and 200 <= self.response.status_code < 300:
                self.parsing = True
                try:
                    self.response.extensions[_READ] = self._read(self.response)
                except Transient as exc:
                    exc.sent = True  # an answer came: the request arrived (a trigger: Ambiguous)
                    raise
        except BaseException as exc:  # handed to the waiting thread, which decides
            self.error = exc
        finally:
            self.finished = not self._abandoned
            self.done.set()

    def may_have_arrived(self) -> bool:
        """Whether the request may have reached the server. Without trace events (a mock
        transport) only a connect failure proves it did not."""
        if self.traced:
            return self.sent
        return not isinstance(self.error, (httpx.ConnectError, httpx.ConnectTimeout))

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        self.traced = True
        if event in _SENDING:
            self.sent = True
        elif event in _CONNECTED:
            with self._lock:
                self._stream = info.get("return_value")
                if self._abandoned:
                    self._shutdown()

    def stage(self) -> str:
        """How far the exchange got, for messages."""
        if self.parsing:
            return f"all {self.received} body bytes read, still parsing them"
        if self.headers_read:
            return f"headers received, {self.received} body bytes read"
        if self.sent or not self.traced:
            return "no answer yet"
        return "not connected yet"

    def abandon(self) -> None:
        """Give up on the exchange: the worker stops at its next chunk or socket error."""
        with self._lock:
            self._abandoned = True
            self._shutdown()

    def _shutdown(self) -> None:
        stream = self._stream
        if stream is None:
            return
        with contextlib.suppress(Exception):
            sock = stream.get_extra_info("socket")
            if sock is not None:
                sock.shutdown(2)  # socket.SHUT_RDWR: wakes a read blocked in the worker


_READ = "checkly_gate.read"  # where a response keeps what ``read`` made of it


def _read(response: httpx.Response | None, read: Callable[[httpx.Response], Any]) -> Any:
    """What ``read`` made of ``response`` in the exchange's worker (``_exchange``); a response
    that did not go through one (an injected transport's, a non-2xx answer) is read here."""
    assert response is not None
    if _READ in response.extensions:
        return response.extensions[_READ]
    return read(response)


def _foreign(response: httpx.Response) -> bool:
    """An answer that is not the Checkly API's: a proxy's 407, or a 404 without Checkly's
    error body. A configuration problem met before any of the API's own answers is exit 2."""
    status = response.status_code
    return status == 407 or (status == 404 and not speaks_checkly(response))


def _complete(response: httpx.Response, content: bytes) -> httpx.Response:
    """A fully read copy of a streamed response (the body already decoded), its headers the
    bytes the server sent."""
    drop = {b"content-encoding", b"content-length", b"transfer-encoding"}
    # The raw header bytes, as received: decoded text would be encoded again as ASCII and fail on
    # any other byte (``X-Served-By: Zürich``). Header bytes never change what is judged.
    headers = [(k, v) for k, v in response.headers.raw if k.lower() not in drop]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=content,
        request=response.request,
        extensions={"reason_phrase": response.extensions.get("reason_phrase", b"")},
    )


def _started_check_sessions(answer: Any) -> list[Session]:
    """The sessions of a ``CheckSessionsV2TriggerResponse``, each once (see
    ``Client.trigger_check_sessions``)."""
    raw = answer.get("sessions") if isinstance(answer, dict) else None
    if not isinstance(raw, list):
        raise Ambiguous("the trigger answer has no sessions list; sessions may have started")
    sessions: dict[str, Session] = {}  # by id: a session listed twice is followed once
    unreadable = 0
    for item in raw:
        try:
            session = parse_check_session(item)
            session_id = str(uuid.UUID(session.session_id.strip()))  # only a UUID makes a path
        except (NotASessionError, ValueError, AttributeError):
            unreadable += 1  # started, yet never followed: the gate could not prove it
            continue
        sessions.setdefault(session_id, dataclasses.replace(session, session_id=session_id))
    if unreadable:
        raise Ambiguous(
            f"the trigger answer lists {unreadable} check session(s) the gate cannot follow "
            "(no UUID checkSessionId or no status); they may have started"
        )
    if not sessions:
        raise NoMatch("the trigger started no check session")
    return list(sessions.values())


class CheckSessions:
    """The check-session endpoints of ``client`` (``/v2/check-sessions/{id}`` and its completion
    long-poll), read through the same two methods as a test session, so one follow loop serves
    both kinds."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get_session(
        self, session_id: str, timeout: float = REQUEST_TIMEOUT
    ) -> tuple[Session, bytes]:
        return self.client.get_check_session(session_id, timeout)

    def await_completion(
        self, session_id: str, max_wait: int, timeout: float
    ) -> tuple[Session, bytes] | None:
        return self.client.await_check_session(session_id, max_wait, timeout)

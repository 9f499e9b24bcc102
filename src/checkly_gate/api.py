"""HTTP client for the two Checkly endpoints the gate uses, with errors sorted by what to do next.

Every failure becomes one of three exceptions: ``Refused`` (retrying cannot help), ``NotFound``
(may be the API catching up after a trigger) or ``Transient`` (retry with backoff, honouring
``Retry-After``). The transport is injectable (``httpx.MockTransport`` in tests); proxies and
custom CAs come from the standard environment variables through httpx.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from checkly_gate import __version__
from checkly_gate.models import NotASessionError, Session, parse_session
from checkly_gate.text import is_safe_id, one_line

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
    ) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after
        self.timed_out = timed_out


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


def error_message(response: httpx.Response, limit: int = 300) -> str:
    """One line saying what the server said, whatever shape its error body has."""
    text = response.text if response.content else ""
    message = ""
    try:
        body: Any = json.loads(text) if text else None
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        parts = [body.get("message"), body.get("error"), body.get("errorCode")]
        message = " / ".join(str(p) for p in parts if isinstance(p, (str, int)) and str(p))
    elif "<html" in text[:500].lower() or "<!doctype" in text[:500].lower():
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
        message = "HTML page" + (f" ({title.group(1).strip()})" if title else "")
    elif text:
        message = text
    message = " ".join(message.split())
    if len(message) > limit:
        message = message[: limit - 1] + "…"
    reason = response.reason_phrase or ""
    head = f"HTTP {response.status_code}" + (f" {reason}" if reason else "")
    return f"{head}: {message}" if message else head


def _segment(value: str) -> str:
    """An id (from the command line or from an API answer) fit to go into a URL path as it is;
    anything else is refused before a request is built (``text.is_safe_id``)."""
    if not is_safe_id(value):
        raise Refused(f"not a usable id: {one_line(repr(value), 80)}")
    return value


def _limits(timeout: float) -> httpx.Timeout:
    """Per-request timeouts, clamped by the caller to what is left of the deadline."""
    timeout = max(0.05, timeout)
    return httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout))


class Client:
    """Talks to the Checkly Public API. Thread-safe; counts every request it makes."""

    def __init__(
        self,
        api_key: str,
        api_url: str = DEFAULT_API_URL,
        account_id: str | None = None,
        transport: httpx.BaseTransport | None = None,
        wall_clock: Callable[[], datetime] | None = None,
    ) -> None:
        headers = {
            "Authorization": f"Bearer {api_key}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        if account_id:
            headers["X-Checkly-Account"] = account_id
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers=headers,
            transport=transport,
            follow_redirects=False,
            timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT),
        )
        self._lock = threading.Lock()
        self._wall_clock = wall_clock or (lambda: datetime.now(timezone.utc))
        self.requests = 0

    def close(self) -> None:
        self._http.close()

    def get_session(
        self, session_id: str, timeout: float = REQUEST_TIMEOUT
    ) -> tuple[Session, bytes]:
        """GET the session: the parsed ``Session`` and the raw body."""
        response = self._request(f"/v1/test-sessions/{_segment(session_id)}", None, timeout)
        assert response is not None  # only the completion long-poll answers "still running"
        return self._session_from(response)

    def await_completion(
        self, session_id: str, max_wait: int, timeout: float
    ) -> tuple[Session, bytes] | None:
        """Long-poll until the session is final or ``max_wait`` passes (``None``: still running)."""
        response = self._request(
            f"/v1/test-sessions/{_segment(session_id)}/completion",
            {"maxWaitSeconds": str(max_wait)},
            timeout,
            completion=True,
        )
        if response is None:
            return None
        return self._session_from(response)

    def trigger(self, body: dict[str, Any], timeout: float) -> tuple[Session, bytes]:
        """Start a test session. Not idempotent, so errors say whether a retry is safe:

        ``Transient`` only when the API surely did not create a session (connection refused,
        connect timeout, 429), ``Ambiguous`` after any failure once the request may have
        arrived (5xx, read timeout, reset, unreadable answer).
        """
        limits = _limits(timeout)
        with self._lock:
            self.requests += 1
        try:
            response = self._http.post("/v1/test-sessions/trigger", json=body, timeout=limits)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise Transient(f"cannot connect: {detail}") from None
        except httpx.HTTPError as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise Ambiguous(f"trigger request failed after sending: {detail}") from None
        status = response.status_code
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._wall_clock())
            raise Transient(error_message(response), status, retry_after=retry_after)
        if status == 404 or (status == 403 and "match" in response.text.lower()):
            raise NoMatch(error_message(response), status)
        if status >= 500 or status == 408:
            raise Ambiguous(error_message(response), status)
        if not 200 <= status < 300:
            hint = _HINTS.get(status)
            raise Refused(error_message(response) + (f" (hint: {hint})" if hint else ""), status)
        try:
            return self._session_from(response)
        except Transient as exc:
            raise Ambiguous(exc.message, status) from None

    def error_group_message(self, group_id: str, timeout: float) -> str | None:
        """``cleanedErrorMessage`` of an error group (best effort, for reports)."""
        path = f"/v1/test-session-error-groups/{_segment(group_id)}"
        response = self._request(path, None, timeout)
        assert response is not None
        try:
            body = response.json()
        except (ValueError, RecursionError):
            raise Transient("unreadable error-group body", response.status_code) from None
        if not isinstance(body, dict):
            return None
        text = body.get("cleanedErrorMessage") or body.get("rawErrorMessage")
        return text if isinstance(text, str) and text.strip() else None

    def cancel(self, session_id: str, timeout: float) -> None:
        """Ask the API to cancel a running session (best effort, once)."""
        self._request(
            f"/v1/test-sessions/{_segment(session_id)}/cancel",
            None,
            timeout,
            method="POST",
            json_body={},
        )

    def _request(
        self,
        path: str,
        params: dict[str, str] | None,
        timeout: float,
        completion: bool = False,
        method: str = "GET",
        json_body: Any = None,
    ) -> httpx.Response | None:
        limits = _limits(timeout)
        with self._lock:
            self.requests += 1
        log.debug("%s %s", method, path)
        try:
            response = self._http.request(
                method, path, params=params, json=json_body, timeout=limits
            )
        except httpx.TimeoutException as exc:
            raise Transient(f"request timed out ({type(exc).__name__})", timed_out=True) from None
        except httpx.TransportError as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise Transient(
                f"network error reaching {self._http.base_url.host}: {detail}"
            ) from None
        status = response.status_code
        log.debug("%s %s -> %d", method, path, status)
        if 200 <= status < 300:
            return response
        if completion and status == 408:
            return None
        if completion and status in (404, 405, 501):
            raise CompletionUnsupported(error_message(response), status)
        message = error_message(response)
        if status == 429 or status >= 500 or status == 408:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._wall_clock())
            raise Transient(message, status, retry_after=retry_after)
        if status == 404:
            raise NotFound(message, status)
        if 300 <= status < 400:
            where = response.headers.get("Location", "?")
            raise Refused(f"{message} (redirect to {where}; check --api-url)", status)
        hint = _HINTS.get(status)
        raise Refused(f"{message}" + (f" (hint: {hint})" if hint else ""), status)

    @staticmethod
    def _session_from(response: httpx.Response) -> tuple[Session, bytes]:
        """The parsed session and the raw body. The raw bytes are what callers keep (for the
        snapshot): far smaller than the decoded JSON of a session with thousands of results."""
        try:
            body = json.loads(response.content)  # bytes: no decoded copy of a large body
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            snippet = " ".join(response.text[:80].split())
            raise Transient(
                f"unreadable body from HTTP {response.status_code}: {snippet!r}",
                response.status_code,
            ) from None
        try:
            return parse_session(body), response.content
        except NotASessionError as exc:
            raise Transient(f"body is not a test session: {exc}", response.status_code) from None
        except Exception as exc:  # any shape the parser trips over is an unreadable answer
            raise Transient(
                f"unreadable test session body ({type(exc).__name__})", response.status_code
            ) from None

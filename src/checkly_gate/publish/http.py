"""The one bounded HTTP exchange every publisher uses (GitHub, GitLab, webhooks).

Each request runs under a ``scope.Scope`` (``api._Exchange``: the whole exchange, connect to
the last body byte, ends at the scope's deadline, at its own cap, or at once on a stop), reads
at most ``api.MAX_BODY_BYTES`` (64 MiB), and is retried by the gate's policy: exponential
backoff with equal jitter, a ``Retry-After`` honoured exactly (never sooner than the backoff
step)
plus a spread: all of it is ``schedule.Backoff``, the gate's one retry policy (one per call),
given up when a ``Retry-After`` reaches past the deadline (``schedule.RetryBeyondDeadline``).

A request that is not idempotent (creating a comment, calling a webhook) is retried only when
it cannot have been processed: a rate limit (429, GitHub's secondary rate limit: 403 with
``Retry-After`` or ``x-ratelimit-remaining: 0``) or a connection that never carried it.

Secrets (tokens, webhook URLs) are added to the command's ``redact.Secrets`` (handed in by the
``context.Command``) when a publisher is built, so every line the command logs and every file
it writes masks them; a ``PublishError`` message is one line, masked, and never holds a URL's
secret.
"""

from __future__ import annotations

import logging
import os
import random
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx

from checkly_gate import __version__, redact
from checkly_gate.api import (
    BodyTooLarge,
    Transient,
    _Exchange,
    error_message,
    parse_retry_after,
)
from checkly_gate.proxies import applicable
from checkly_gate.proxies import secrets as proxy_secrets
from checkly_gate.schedule import Backoff, RetryBeyondDeadline
from checkly_gate.scope import Scope
from checkly_gate.text import one_line
from checkly_gate.tls import applies as tls_applies
from checkly_gate.tls import ssl_context, tls_problem

log = logging.getLogger("checkly_gate")

USER_AGENT = f"checkly-gate/{__version__}"
REQUEST_CAP = 30.0  # seconds for one whole exchange (the scope's deadline may cut it shorter)
MAX_TRIES = 5  # requests per call, retries included (a scope without deadline still ends)


class PublishError(Exception):
    """A publisher could not do its work. ``str()`` is one line, free of secrets; ``status``
    the HTTP status that decided it (None: no answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def setup_problem(exc: Exception, secrets: redact.Secrets) -> PublishError:
    """A ``PublishError`` for a client that cannot be built (a bad proxy variable, unusable
    CAs: ``proxies.ProxyError``, ``tls.TlsSetupError``, both ``ValueError``)."""
    return PublishError(mask(str(exc) or type(exc).__name__, secrets))


@dataclass(frozen=True)
class Answer:
    """A complete 2xx answer: its status, headers and body bytes (at most MAX_BODY_BYTES)."""

    status: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        """The decoded JSON body, or None when it is not JSON."""
        try:
            import json

            return json.loads(self.content) if self.content else None
        except (ValueError, RecursionError):
            return None


def mask(text: str, secrets: redact.Secrets, limit: int = 300) -> str:
    """Untrusted or secret-bearing text as one line masked by the command's ``secrets`` (mask
    first, then cut)."""
    return one_line(secrets(one_line(text, 100_000)), limit)


def _rate_limited(response: httpx.Response) -> bool:
    """GitHub's primary (429) and secondary (403 with Retry-After or no requests left) limits."""
    if response.status_code == 429:
        return True
    return response.status_code == 403 and (
        "retry-after" in response.headers or response.headers.get("x-ratelimit-remaining") == "0"
    )


class Http:
    """Requests to one service (``base_url``) with ``headers``, bound to ``scope``.

    ``secrets``: the command's ``redact.Secrets``; ``tokens``: values never to be printed (the
    token, a webhook URL and its path), added to it here. ``env``
    decides the proxy and CAs the way ``api.Client`` does (``proxies.applicable``,
    ``tls.ssl_context``). ``transport`` replaces the network (tests). Raises ``PublishError``
    when the proxy or TLS settings are unusable.
    """

    def __init__(
        self,
        base_url: str,
        scope: Scope,
        secrets: redact.Secrets,
        headers: Mapping[str, str] | None = None,
        tokens: Iterable[str | None] = (),
        env: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        what: str = "the API",
        wall_clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        secrets.add(tokens)  # masked in every output of the command from now
        self.secrets = secrets
        self.scope = scope
        self.what = what
        self._wall_clock = wall_clock or (lambda: datetime.now(timezone.utc))
        self._rng = rng or random.Random()
        environment = os.environ if env is None else env
        verify: ssl.SSLContext | bool = True
        proxy: str | None = None
        if transport is None:
            try:
                if tls_applies(base_url):
                    verify = ssl_context(environment)
                chosen = applicable(base_url, environment)
            except ValueError as exc:  # ProxyError, TlsSetupError: said in one line
                raise setup_problem(exc, secrets) from None
            if chosen is not None:
                proxy = chosen.url
                secrets.add(proxy_secrets(chosen.url))
        split = urlsplit(base_url)
        self.origin = f"{split.scheme}://{split.netloc}".lower()
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            transport=transport,
            verify=verify,
            proxy=proxy,
            trust_env=False,
            follow_redirects=False,  # a redirect would carry the token elsewhere
        )
        self._host = split.hostname or "?"
        self._lock = threading.Lock()
        self.requests = 0

    def under(self, scope: Scope) -> Http:
        """The same client bound to another scope (a later phase's)."""
        import copy

        view = copy.copy(self)
        view.scope = scope
        return view

    def close(self) -> None:
        self._http.close()

    def same_origin(self, url: str) -> bool:
        """Whether ``url`` (e.g. a ``Link: rel="next"`` from the answer) is on this service:
        the token is never sent anywhere else."""
        try:
            split = urlsplit(url)
        except ValueError:
            return False
        return f"{split.scheme}://{split.netloc}".lower() == self.origin

    def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        idempotent: bool = True,
        hints: Mapping[int, str] | None = None,
        cap: float = REQUEST_CAP,
    ) -> Answer:
        """One call, retried by the gate's policy; the 2xx ``Answer`` or ``PublishError``.

        ``url``: a path under the base URL or an absolute URL on the same origin. ``hints``:
        what to add to the one line for a status (e.g. 403: the permission the token needs).
        """
        backoff = Backoff(rng=self._rng)  # the gate's one retry policy, one per call
        problem: Transient | None = None
        for attempt in range(1, MAX_TRIES + 1):
            outcome = self._attempt(method, url, params, json_body, hints, cap)
            if isinstance(outcome, Answer):
                return outcome
            problem = outcome
            if problem.sent and not idempotent:
                raise PublishError(
                    f"{problem.message}; not retried: the request may have been processed",
                    problem.status,
                )
            if attempt == MAX_TRIES:
                break
            self._pause(backoff, problem)
        assert problem is not None
        raise PublishError(
            f"{mask(problem.message, self.secrets)} (gave up after {MAX_TRIES} tries)",
            problem.status,
        )

    def _attempt(
        self,
        method: str,
        url: str,
        params: dict[str, str] | None,
        json_body: Any,
        hints: Mapping[int, str] | None,
        cap: float,
    ) -> Answer | Transient:
        """One try under the scope, cut at its deadline or ``cap`` seconds, whichever is first:
        the 2xx ``Answer``, a ``Transient`` problem the retry policy may retry, or
        ``PublishError`` (a stop, no time left, an answer that is final)."""
        scope = self.scope
        if scope.stopped:
            raise PublishError(f"{method} to {self.what} stopped by a signal")
        now = scope.now()
        until = min(scope.deadline, now + max(0.05, cap))
        if until <= now:
            raise PublishError(f"no time left before the deadline for {self.what}")
        with self._lock:
            self.requests += 1
        work = _Exchange(self._http, method, url, params, json_body, until - now)
        worker = threading.Thread(target=work.run, name="publish-http", daemon=True)
        worker.start()
        scope.wait(work.done, until)
        if not work.finished:
            return self._unfinished(work, method, until, cap)
        if work.error is not None:
            return self._failed(work, work.error)
        response = work.response
        assert response is not None
        return self._answered(response, hints)

    def _unfinished(self, work: _Exchange, method: str, until: float, cap: float) -> Transient:
        """An exchange still running at ``until`` (monotonic seconds): abandoned; a stop or
        the scope's deadline ends the call, the request's own ``cap`` is a retryable timeout
        (``sent``: whether the request may have reached the service)."""
        work.abandon()
        if self.scope.stopped:
            raise PublishError(f"{method} to {self.what} stopped by a signal")
        if until >= self.scope.deadline:
            raise PublishError(
                f"no answer from {self.what} ({self._host}) before the deadline ({work.stage()})"
            )
        problem = Transient(
            f"no answer from {self.what} within {cap:g}s", timed_out=True, sent=True
        )
        problem.sent = work.may_have_arrived()
        return problem

    def _failed(self, work: _Exchange, error: BaseException) -> Transient:
        """An exchange that ended in ``error``: a network error is retryable; a body over the
        cap, a TLS problem or any other error ends the call in one masked line."""
        if isinstance(error, BodyTooLarge):
            raise PublishError(f"the answer of {self.what} is {error}")
        if not isinstance(error, httpx.HTTPError):  # e.g. a body that cannot be encoded:
            # a publisher must never end the gate; said in one line, the type named
            raise PublishError(mask(f"{type(error).__name__}: {error}", self.secrets))
        detail = tls_problem(error, self._host) if isinstance(error, httpx.TransportError) else None
        if detail is not None:
            raise PublishError(mask(detail, self.secrets))
        return Transient(
            mask(f"network error reaching {self._host}: {error}", self.secrets),
            sent=work.may_have_arrived(),
        )

    def _answered(
        self, response: httpx.Response, hints: Mapping[int, str] | None
    ) -> Answer | Transient:
        """A complete answer: 2xx is the ``Answer``; a rate limit (never processed), 5xx or 408
        (maybe processed) is retryable; any other status ends the call, with its hint."""
        status = response.status_code
        if 200 <= status < 300:
            return Answer(status, response.headers, response.content)
        message = mask(error_message(response), self.secrets, 400)
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self._wall_clock())
        if _rate_limited(response):
            return Transient(message, status, retry_after=retry_after, sent=False)
        if status >= 500 or status == 408:
            return Transient(message, status, retry_after=retry_after, sent=True)
        hint = (hints or {}).get(status)
        if 300 <= status < 400:
            hint = "a redirect is never followed (it would carry the token)"
        raise PublishError(message + (f" ({hint})" if hint else ""), status)

    def _pause(self, backoff: Backoff, problem: Transient) -> None:
        """Sleep the policy's pause before the next try (``scope.sleep``: a stop cuts it);
        a ``Retry-After`` past the deadline ends the call."""
        try:
            pause = backoff.pause(problem, self.scope.remaining())
        except RetryBeyondDeadline as beyond:
            raise PublishError(mask(str(beyond), self.secrets), problem.status) from None
        log.info("%s; retrying in %.1fs", mask(problem.message, self.secrets), pause)
        self.scope.sleep(pause)

"""The HTTP side of the simulator: a fake Checkly Public API on a ThreadingHTTPServer.

Request handling is split in two: ``Simulator._answer`` decides what to send (pure logic, may
block for the completion long-poll) and ``_Handler`` does the socket I/O, so a bug in one
request can never take the server down and shutdown never waits for a slow client.

Served: ``GET /v1/test-sessions/{id}``, ``GET /v1/test-sessions/{id}/completion``,
``POST /v1/test-sessions/trigger``, ``POST /v1/test-sessions/{id}/cancel`` and
``GET /v1/test-session-error-groups/{id}``.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import socketserver
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from checkly_gate.simulator import check_sessions, context, discovery
from checkly_gate.simulator.builtin import BUILTIN_SCENARIOS
from checkly_gate.simulator.model import METADATA_KEYS, Fault, Scenario, ScenarioError
from checkly_gate.simulator.ratelimit import RateLimit, TokenBucket
from checkly_gate.simulator.responses import (
    NO_MATCH_MESSAGE,
    UUID_PATTERN,
    Response,
    api_error,
    json_bytes,
    phrase,
    select_checks,
)
from checkly_gate.simulator.timeline import SessionTimeline

_ROUTE = re.compile(r"^/v1/test-sessions/([^/]+)(/completion)?$")
_TRIGGER = "/v1/test-sessions/trigger"
_CANCEL = re.compile(r"^/v1/test-sessions/([^/]+)/cancel$")
_ERROR_GROUP = re.compile(r"^/v1/test-session-error-groups/([^/]+)$")
#: The one method each endpoint accepts (anything else is 405 with ``Allow``).
_METHODS = {
    "session": "GET",
    "completion": "GET",
    "trigger": "POST",
    "cancel": "POST",
    "error-group": "GET",
    **discovery.METHODS,
}
_MAX_ENV_VARS = 50
_MAX_DRAIN = 1 << 20
#: Checkly's budget: "600 requests every 60 seconds" per account.
ACCOUNT_RATE_LIMIT = RateLimit(600, 60.0)
_HTML_PAGE = (
    "<html>\r\n<head><title>{code} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_GARBAGE = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR garbage, not JSON {{{ \xff\xfe"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the simulator received it; ``status`` is None for a dropped connection."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int | None
    at: float
    body: Any = None  # the decoded JSON body, None without one (or when it is not JSON)


@dataclass(frozen=True)
class TriggeredSession:
    """A session created by ``POST /v1/test-sessions/trigger``.

    ``body`` is the decoded request JSON, ``at`` the ``time.monotonic()`` the request arrived,
    which is also when the session's clock started.
    """

    session_id: str
    body: Any
    at: float


def _html(status: int) -> Response:
    page = _HTML_PAGE.format(code=status, phrase=phrase(status)).encode()
    return Response(status, page, content_type="text/html")


def _route(path: str) -> tuple[str | None, str]:
    """(endpoint name or None for an unknown path, the raw id in the path or "")."""
    if path == _TRIGGER:
        return "trigger", ""
    match = _ROUTE.match(path)
    if match is not None:
        return ("completion" if match.group(2) else "session"), unquote(match.group(1))
    match = _CANCEL.match(path)
    if match is not None:
        return "cancel", unquote(match.group(1))
    match = _ERROR_GROUP.match(path)
    if match is not None:
        return "error-group", unquote(match.group(1))
    return discovery.route(path)


_INVALID = object()  # a body that is not JSON (or could not be read)


def _decode(raw: bytes | None) -> Any:
    """The JSON value of a request body; None when empty, ``_INVALID`` when not JSON."""
    if raw is None:
        return _INVALID
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:  # includes UnicodeDecodeError
        return _INVALID


def _is_strings(value: Any, *, empty: bool = False) -> bool:
    """True for a list of non-empty strings (an empty list only when ``empty``)."""
    return (
        isinstance(value, list)
        and (empty or bool(value))
        and all(isinstance(v, str) and v.strip() for v in value)
    )


def _trigger_problem(payload: dict[str, Any]) -> str | None:
    """What is wrong with a TriggerTestSessionRequest body (Joi-style message), or None."""
    for key in ("name", "runLocation"):
        value = payload.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            return f'"{key}" must be a non-empty string'
    target = payload.get("target")
    if target is not None:
        if not isinstance(target, dict):
            return '"target" must be of type object'
        tags = target.get("matchTags")
        if tags is not None and (
            not isinstance(tags, list) or not all(_is_strings(g, empty=True) for g in tags)
        ):
            return '"target.matchTags" must be an array of arrays of strings'
        ids = target.get("checkId")
        if ids is not None and not _is_strings(ids, empty=True):
            return '"target.checkId" must be an array of strings'
    variables = payload.get("environmentVariables")
    if variables is not None:
        if not isinstance(variables, list):
            return '"environmentVariables" must be an array'
        if len(variables) > _MAX_ENV_VARS:
            return (
                f'"environmentVariables" must contain less than or equal to {_MAX_ENV_VARS} items'
            )
        for index, item in enumerate(variables):
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("key"), str)
                or not item["key"]
            ):
                return f'"environmentVariables[{index}].key" is required'
    metadata = payload.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            return '"metadata" must be of type object'
        for key in METADATA_KEYS:
            value = metadata.get(key)
            if value is not None and not isinstance(value, str):
                return f'"metadata.{key}" must be a string'
        if metadata.get("environment") == "":
            return '"metadata.environment" is not allowed to be empty'
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never join handler threads (idle keep-alive ones block on read)
    allow_reuse_address = True
    request_queue_size = 512  # a fleet of clients connecting in the same second (default 5)

    def __init__(self, address: tuple[str, int], sim: Simulator, family: int) -> None:
        self.address_family = family
        self.sim = sim
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves getfqdn(host), which can stall on reverse DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.sim._log("handler error (ignored)")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "checkly-gate-simulator"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are dropped after a minute
    server: _Server

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):  # headers and body are separate writes
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.sim._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sim._track(self.connection, add=False)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header by the API's clock (``Simulator.clock_offset``)."""
        if timestamp is None:
            timestamp = time.time() + self.server.sim.clock_offset
        return super().date_time_string(timestamp)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's per-request stderr lines; see ``Simulator(log=...)``."""

    def _dispatch(self) -> None:
        sim = self.server.sim
        arrived = time.monotonic()
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        raw: bytes | None = b""
        try:
            raw = self._read_body()
            response = sim._answer(self.command, split.path, query, headers, arrived, raw)
        except OSError:
            response = Response(0, reset=True)  # the client went away while sending
        except Exception as exc:  # a simulator bug must not kill the connection silently
            sim._log(f"internal error: {exc!r}")
            response = api_error(500, "simulator internal error")
        # record before answering, so a client that got its answer always finds the record
        status = None if response.reset else response.status
        decoded = _decode(raw)
        body = None if decoded is _INVALID else decoded
        sim._record(
            RecordedRequest(self.command, split.path, query, headers, status, arrived, body)
        )
        try:
            self._send(response)
        except OSError:
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def _read_body(self) -> bytes | None:
        """The request body (b"" without one); None, closing the connection, if unreadable."""
        encoding = self.headers.get("Transfer-Encoding")
        if encoding:
            if encoding.strip().lower() == "chunked":
                return self._read_chunked()
            self.close_connection = True
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length == 0:
            return b""
        if 0 < length <= _MAX_DRAIN:
            return self.rfile.read(length)
        self.close_connection = True
        return None

    def _read_chunked(self) -> bytes | None:
        data = bytearray()
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                size = -1
            if size < 0 or len(data) + size > _MAX_DRAIN:
                self.close_connection = True
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(data)
            data += self.rfile.read(size)
            self.rfile.readline(1024)  # the CRLF after the chunk

    def _send(self, response: Response) -> None:
        if response.reset:
            self._reset()
            return
        self.send_response(response.status)
        if response.status not in (204, 304):  # no body, no body headers
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and response.status not in (204, 304):
            self.wfile.write(response.body)

    def _reset(self) -> None:
        """Abort the connection with a TCP RST and no response at all."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.server.sim._track(self.connection, add=False)
            fd = self.connection.detach()
            socket.close(fd)
        except OSError:
            pass


class Simulator:
    """A local fake of the Checkly Public API whose test sessions progress over real time.

    Every session id gets its own clock at its first request and follows ``sessions[id]`` or
    the default ``scenario``; ``speed`` divides every scenario time (not Retry-After, not
    maxWaitSeconds). ``POST /v1/test-sessions/trigger`` creates sessions of the default
    scenario restricted to the matched checks, ``POST .../cancel`` cancels one (see
    ``triggered`` and ``cancelled``). ``rate_limit`` is the account's request budget (600 per
    60 s like Checkly's; None: unlimited): beyond it every endpoint answers 429 with an honest
    ``Retry-After`` (see ``ratelimit.py`` and ``rate_limited``). Use as a context manager, or
    ``start()``/``stop()``, or ``serve_forever()``.
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        sessions: dict[str, Scenario] | None = None,
        api_key: str = "sim-key",
        account_id: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        log: Callable[[str], None] | None = None,
        rate_limit: RateLimit | None = ACCOUNT_RATE_LIMIT,
    ) -> None:
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not speed > 0:
            raise ValueError(f"speed must be a number > 0, got {speed!r}")
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        self.scenario = scenario if scenario is not None else BUILTIN_SCENARIOS["passing"]
        self.sessions: dict[str, Scenario] = {}
        for key, value in (sessions or {}).items():
            if not isinstance(key, str) or not UUID_PATTERN.match(key):
                raise ValueError(f"session ids must be UUIDs, got {key!r}")
            self.sessions[key.lower()] = value
        self.api_key = api_key
        self.account_id = account_id
        self.host = host
        self.port = port
        self.speed = float(speed)
        self._bucket = TokenBucket(rate_limit, time.monotonic()) if rate_limit else None
        self._logger = log
        self._lock = threading.Lock()
        self._timelines: dict[str, SessionTimeline] = {}
        self._requests: list[RecordedRequest] = []
        self._triggered: list[TriggeredSession] = []
        self._cancelled: dict[str, float] = {}
        # notified when a session changes (cancel) or the server stops: wakes long-polls
        self._changed = threading.Condition(self._lock)
        self._fault_counts: dict[tuple[str, int], int] = {}
        self._connections: set[socket.socket] = set()
        self._active = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._loop_running = False
        self._stopped = False
        self._listed: list[discovery.Listed] = []  # sessions GET /v1/test-sessions shows
        # The API's clock minus this machine's, in seconds (a runner clock that is off, seen
        # from the other side): the Date header and the list's timestamps follow it.
        self.clock_offset = 0.0
        self.list_ignores_from = False  # the list answers as if no `from` was sent
        self._check_timelines: dict[str, SessionTimeline] = {}  # check sessions by id
        discovery.register_scenario(self)
        for owned in (self.scenario, *self.sessions.values()):  # their history (issue 21)
            context.register_history(self, owned)

    # ------------------------------------------------------------------ lifecycle

    def _ensure_bound(self) -> _Server:
        with self._lock:
            if self._stopped:
                raise RuntimeError("this Simulator was stopped; create a new one")
            if self._server is None:
                family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
                self._server = _Server((self.host, self.port), self, family)
            return self._server

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (binds the port on first use)."""
        server = self._server or self._ensure_bound()
        port = server.server_address[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    def start(self) -> Simulator:
        """Serve in a daemon background thread; returns self."""
        server = self._ensure_bound()
        with self._lock:
            if self._loop_running:
                return self
            self._loop_running = True
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="checkly-gate-simulator",
                daemon=True,
            )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until KeyboardInterrupt or ``stop()`` from elsewhere."""
        server = self._ensure_bound()
        with self._lock:
            if self._loop_running:
                raise RuntimeError("the simulator is already serving")
            self._loop_running = True
        try:
            server.serve_forever(poll_interval=0.05)
        except KeyboardInterrupt:
            pass
        finally:
            with self._lock:
                self._loop_running = False
            self.stop()

    def stop(self) -> None:
        """Shut down: wake long-polls, stop the loop, drop idle connections. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            server, thread, looping = self._server, self._thread, self._loop_running
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        if server is None:
            return
        if looping and threading.current_thread() is not thread:
            server.shutdown()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        deadline = time.monotonic() + 0.5
        while self._active and time.monotonic() < deadline:
            time.sleep(0.01)  # let woken long-polls write their answer
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ introspection

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot copy of every request answered so far, in the order they were answered."""
        with self._lock:
            return list(self._requests)

    @property
    def triggered(self) -> list[TriggeredSession]:
        """A snapshot copy of every session created by the trigger endpoint, oldest first."""
        with self._lock:
            return list(self._triggered)

    def add_listed(
        self,
        scenario: Scenario,
        after: float = 0.0,
        provider: str = "VERCEL",
        session_id: str | None = None,
        age: float | None = None,
        fields: dict[str, Any] | None = None,
    ) -> str:
        """Register a session of ``scenario`` that ``GET /v1/test-sessions`` (and GET by id)
        shows ``after`` scenario seconds from now (or created ``age`` real seconds ago), from
        ``provider``; returns its id (see ``discovery.add_listed``)."""
        return discovery.add_listed(self, scenario, after, provider, session_id, age, fields)

    @property
    def cancelled(self) -> dict[str, float]:
        """A snapshot copy: session id -> ``time.monotonic()`` of its first accepted cancel."""
        with self._lock:
            return dict(self._cancelled)

    @property
    def rate_limited(self) -> int:
        """How many requests the account's rate limit refused (429) so far."""
        return self._bucket.refused if self._bucket is not None else 0

    def final_at(self, session_id: str) -> float | None:
        """``time.monotonic()`` at which that session's status turned final, else None."""
        with self._lock:
            timeline = self._timelines.get(session_id.lower())
        if timeline is None or not timeline.is_final(time.monotonic()):
            return None
        return timeline.final_mono

    # ------------------------------------------------------------------ internals

    def _log(self, message: str) -> None:
        if self._logger is not None:
            with contextlib.suppress(Exception):  # a broken logger must not break serving
                self._logger(message)

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
        shown = "dropped" if request.status is None else request.status
        self._log(f"{request.method} {request.path} -> {shown}")

    def _timeline(self, session_id: str, now: float) -> SessionTimeline:
        with self._lock:
            timeline = self._timelines.get(session_id)
        if timeline is not None:
            return timeline
        scenario = self.sessions.get(session_id, self.scenario)
        wall = time.time() - (time.monotonic() - now)
        created = SessionTimeline(session_id, scenario, speed=self.speed, mono=now, wall=wall)
        with self._lock:
            return self._timelines.setdefault(session_id, created)

    def _pick_fault(self, owner: str, scenario: Scenario, endpoint: str | None) -> Fault | None:
        chosen = None
        with self._lock:
            for index, fault in enumerate(scenario.faults):
                if not fault.applies_to(endpoint):
                    continue
                count = self._fault_counts.get((owner, index), 0) + 1
                self._fault_counts[(owner, index)] = count
                if chosen is None and fault.selects(count):
                    chosen = fault
        return chosen

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        now: float,
        body: bytes | None = b"",
    ) -> Response:
        self._active_add(1)
        try:
            return self._answer_inner(method, path, query, headers, now, body)
        finally:
            self._active_add(-1)

    def _active_add(self, delta: int) -> None:
        with self._lock:
            self._active += delta

    def _answer_inner(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        now: float,
        body: bytes | None,
    ) -> Response:
        if self._bucket is not None:
            wait = self._bucket.take(now)
            if wait is not None:  # the account's budget is spent, for every endpoint
                retry = [("Retry-After", TokenBucket.retry_after(wait))]
                return api_error(
                    429, "Too Many Requests: the account's rate limit is reached", retry
                )
        endpoint, raw_id = _route(path)
        ident = raw_id.lower() if UUID_PATTERN.match(raw_id) else None
        timeline = None
        owner, scenario = "*", self.scenario
        if ident is not None and endpoint in ("session", "completion", "cancel"):
            if endpoint == "cancel":  # a cancel does not start a clock
                with self._lock:
                    timeline = self._timelines.get(ident)
            else:
                timeline = self._timeline(ident, now)
            if ident in self.sessions:
                owner = ident
            scenario = timeline.scenario if timeline else self.sessions.get(ident, self.scenario)
        fault = self._pick_fault(owner, scenario, endpoint)
        if fault is not None and fault.kind != "ambiguous":
            return self._fault(fault, headers, timeline)
        response = self._serve(method, path, endpoint, raw_id, ident, query, headers, now, body)
        if fault is not None:  # ambiguous: the request took effect, its answer is lost
            return _html(fault.status or 502)
        return response

    def _serve(
        self,
        method: str,
        path: str,
        endpoint: str | None,
        raw_id: str,
        ident: str | None,
        query: dict[str, str],
        headers: dict[str, str],
        now: float,
        body: bytes | None,
    ) -> Response:
        """The answer of the API itself (authentication, routing, the endpoints)."""
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return api_error(401, "Missing or invalid API key")
        if self.account_id is not None and headers.get("x-checkly-account") != self.account_id:
            return api_error(403, "Missing or invalid X-Checkly-Account header")
        if endpoint is None:
            return api_error(404, f"Cannot {method} {path}")
        allowed = _METHODS[endpoint]
        if method != allowed:
            return api_error(
                405,
                f"Method {method} not allowed; only {allowed} is simulated here",
                [("Allow", allowed)],
            )
        if endpoint == "trigger":
            return self._trigger(body, now)
        if endpoint == "list":
            return discovery.serve_list(self, query, now)
        if endpoint == "assets":
            return discovery.serve_assets(self, raw_id, path, now)
        if endpoint in discovery.METHODS:
            payload = _decode(body)
            if payload is _INVALID:
                return api_error(400, "Request body must be JSON")
            return check_sessions.serve_check(self, endpoint, raw_id, query, payload, now)
        if endpoint == "error-group":
            if ident is None:
                return api_error(400, "id must be a UUID")
            return self._error_group(ident)
        if ident is None:
            return api_error(400, "testSessionId must be a UUID")
        if endpoint == "cancel":
            return self._cancel(ident, body, now)
        return self._session(ident, endpoint == "completion", path, query, now)

    def _session(
        self, session_id: str, completion: bool, path: str, query: dict[str, str], now: float
    ) -> Response:
        with self._lock:
            timeline = self._timelines[session_id]
        if completion and not timeline.scenario.completion_endpoint:
            return api_error(404, f"Cannot GET {path}")
        max_wait = 30
        if completion and "maxWaitSeconds" in query:
            raw = query["maxWaitSeconds"]
            if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 30:
                return api_error(400, "maxWaitSeconds must be an integer between 1 and 30")
            max_wait = int(raw)
        if not timeline.is_visible(time.monotonic()):
            return api_error(404, f"Test session {session_id} not found")
        if not completion:
            return Response(200, timeline.body(time.monotonic()))
        return self._long_poll(session_id, now + max_wait)

    def _long_poll(self, session_id: str, deadline: float) -> Response:
        with self._changed:
            while True:
                timeline = self._timelines[session_id]  # a cancel may replace it
                now = time.monotonic()
                if timeline.is_final(now):
                    break
                if self._stopping.is_set():
                    return api_error(503, "the simulator is shutting down")
                remaining = deadline - now
                if remaining <= 0:
                    return api_error(
                        408,
                        "Test session is still running; call this endpoint again to keep waiting",
                    )
                wait = remaining
                if timeline.final_mono is not None:
                    wait = min(wait, max(timeline.final_mono - now, 0.0) + 0.001)
                self._changed.wait(wait)
        return Response(200, timeline.body(now))

    def _trigger(self, raw: bytes | None, now: float) -> Response:
        payload = _decode(raw)
        if not isinstance(payload, dict):
            return api_error(400, "Request body must be a JSON object")
        problem = _trigger_problem(payload)
        if problem is not None:
            return api_error(400, problem)
        base = self.scenario
        checks = select_checks(base.checks, payload.get("target"))
        if not checks:
            return api_error(base.no_match_status, NO_MATCH_MESSAGE)
        location = payload.get("runLocation")
        if location:
            checks = [replace(check, locations=(location,)) for check in checks]
        given = payload.get("metadata") or {}
        metadata = dict(base.metadata)
        metadata.update({k: v for k, v in given.items() if k in METADATA_KEYS})
        try:
            scenario = context.triggered(
                base,
                checks,
                session_name=payload.get("name") or base.session_name,
                metadata=metadata,
            )
        except ScenarioError as exc:
            return api_error(400, str(exc))
        session_id = str(uuid.uuid4())
        wall = time.time() - (time.monotonic() - now)
        timeline = SessionTimeline(session_id, scenario, speed=self.speed, mono=now, wall=wall)
        with self._lock:
            self._timelines[session_id] = timeline
            self._triggered.append(TriggeredSession(session_id, payload, now))
        return Response(201, timeline.body(now))

    def _cancel(self, session_id: str, raw: bytes | None, now: float) -> Response:
        payload = _decode(raw)
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            return api_error(400, "Request body must be a JSON object")
        for key in payload:
            if key != "sequenceId":
                return api_error(400, f'"{key}" is not allowed')
        if "sequenceId" in payload and not _is_strings(payload["sequenceId"]):
            return api_error(400, '"sequenceId" must be a non-empty array of strings')
        with self._lock:
            known = session_id in self._timelines
        if not known:
            if session_id not in self.sessions:
                return api_error(404, f"Test session {session_id} not found")
            self._timeline(session_id, now)  # configured but never asked for: its clock starts
        while True:
            with self._lock:
                current = self._timelines[session_id]
            successor = current.cancel(now)
            with self._changed:
                if self._timelines[session_id] is current:
                    self._timelines[session_id] = successor
                    self._cancelled.setdefault(session_id, now)
                    self._changed.notify_all()
                    break
        return Response(204)

    def _error_group(self, group_id: str) -> Response:
        now = time.monotonic()
        with self._lock:
            timelines = list(self._timelines.values())
        # One error group spans sessions (a shared ``error_group`` key): its firstSeen and
        # lastSeen are the earliest and latest any session shows (``simulator/context.py``).
        spans = [(t, t.error_group_seen(group_id, now)) for t in timelines]
        shown = [(t, span) for t, span in spans if span is not None]
        if shown:
            seen = (min(s[0] for _, s in shown), max(s[1] for _, s in shown))
            group = shown[0][0].error_group(group_id, now, seen)
            if group is not None:
                return Response(200, json_bytes(group))
        return api_error(404, f"Test session error group {group_id} not found")

    def _fault(
        self, fault: Fault, headers: dict[str, str], timeline: SessionTimeline | None
    ) -> Response:
        kind = fault.kind
        if kind == "reset":
            return Response(0, reset=True)
        if kind == "rate-limit":
            retry = fault.retry_after if fault.retry_after is not None else 1
            return api_error(
                429, "Too many requests, please retry later", self._retry(fault, retry)
            )
        if kind == "server-error":
            status = fault.status or 503
            response = _html(status) if fault.body == "html" else api_error(status, phrase(status))
            response.headers.extend(self._retry(fault, fault.retry_after))
            return response
        if kind == "html":
            return _html(fault.status or 502)
        if kind == "garbage":
            return Response(200, _GARBAGE)
        if kind == "truncated":
            now = time.monotonic()
            if timeline is not None and timeline.is_visible(now):
                whole = timeline.body(now)
            else:
                whole = json_bytes({"testSessionId": str(uuid.uuid4()), "results": []})
            return Response(200, whole[: len(whole) // 2])
        if kind == "not-a-session":
            body = [{"ok": True}] if fault.body == "list" else {"ok": True}
            return Response(200, json_bytes(body))
        # unauthorized-echo: a careless API echoing the credential it received
        received = headers.get("authorization", "(none)")
        return api_error(401, f"Invalid credentials: {received!r} is not a valid API key")

    @staticmethod
    def _retry(fault: Fault, retry_after: int | str | None) -> list[tuple[str, str]]:
        if retry_after is None or retry_after == "none":
            return []
        if retry_after == "http-date":
            when = time.time() + fault.retry_after_seconds
            return [("Retry-After", formatdate(when, usegmt=True))]
        return [("Retry-After", str(retry_after))]

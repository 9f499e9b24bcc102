"""The HTTP side of the simulator: a fake Checkly Public API on a ThreadingHTTPServer.

Request handling is split in two: ``Simulator._answer`` decides what to send (pure logic, may
block for the completion long-poll) and ``_Handler`` does the socket I/O, so a bug in one
request can never take the server down and shutdown never waits for a slow client.
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
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from checkly_gate.simulator.builtin import BUILTIN_SCENARIOS
from checkly_gate.simulator.model import Fault, Scenario
from checkly_gate.simulator.timeline import SessionTimeline

_ROUTE = re.compile(r"^/v1/test-sessions/([^/]+)(/completion)?$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_MAX_DRAIN = 1 << 20
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


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    reset: bool = False


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _api_error(
    status: int, message: str, headers: list[tuple[str, str]] | None = None
) -> _Response:
    body = {"statusCode": status, "error": _phrase(status), "message": message}
    return _Response(status, _json(body), headers=headers or [])


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _html(status: int) -> _Response:
    page = _HTML_PAGE.format(code=status, phrase=_phrase(status)).encode()
    return _Response(status, page, content_type="text/html")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never join handler threads (idle keep-alive ones block on read)
    allow_reuse_address = True

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

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's per-request stderr lines; see ``Simulator(log=...)``."""

    def _dispatch(self) -> None:
        sim = self.server.sim
        arrived = time.monotonic()
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            self._drain_body()
            response = sim._answer(self.command, split.path, query, headers, arrived)
        except OSError:
            response = _Response(0, reset=True)  # the client went away while sending
        except Exception as exc:  # a simulator bug must not kill the connection silently
            sim._log(f"internal error: {exc!r}")
            response = _api_error(500, "simulator internal error")
        # record before answering, so a client that got its answer always finds the record
        status = None if response.reset else response.status
        sim._record(RecordedRequest(self.command, split.path, query, headers, status, arrived))
        try:
            self._send(response)
        except OSError:
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def _drain_body(self) -> None:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if 0 < length <= _MAX_DRAIN:
            self.rfile.read(length)
        elif length != 0:
            self.close_connection = True

    def _send(self, response: _Response) -> None:
        if response.reset:
            self._reset()
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
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
    maxWaitSeconds). Use as a context manager, or ``start()``/``stop()``, or ``serve_forever()``.
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
    ) -> None:
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not speed > 0:
            raise ValueError(f"speed must be a number > 0, got {speed!r}")
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        self.scenario = scenario if scenario is not None else BUILTIN_SCENARIOS["passing"]
        self.sessions: dict[str, Scenario] = {}
        for key, value in (sessions or {}).items():
            if not isinstance(key, str) or not _UUID.match(key):
                raise ValueError(f"session ids must be UUIDs, got {key!r}")
            self.sessions[key.lower()] = value
        self.api_key = api_key
        self.account_id = account_id
        self.host = host
        self.port = port
        self.speed = float(speed)
        self._logger = log
        self._lock = threading.Lock()
        self._timelines: dict[str, SessionTimeline] = {}
        self._requests: list[RecordedRequest] = []
        self._fault_counts: dict[tuple[str, int], int] = {}
        self._connections: set[socket.socket] = set()
        self._active = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._loop_running = False
        self._stopped = False

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
    ) -> _Response:
        self._active_add(1)
        try:
            return self._answer_inner(method, path, query, headers, now)
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
    ) -> _Response:
        match = _ROUTE.match(path)
        endpoint = None if match is None else ("completion" if match.group(2) else "session")
        raw_id = unquote(match.group(1)) if match else ""
        session_id = raw_id.lower() if _UUID.match(raw_id) else None
        timeline = self._timeline(session_id, now) if session_id else None
        owner = session_id if session_id in self.sessions else "*"
        scenario = timeline.scenario if timeline else self.scenario
        fault = self._pick_fault(owner, scenario, endpoint)
        if fault is not None:
            return self._fault(fault, headers, timeline)

        if headers.get("authorization") != f"Bearer {self.api_key}":
            return _api_error(401, "Missing or invalid API key")
        if self.account_id is not None and headers.get("x-checkly-account") != self.account_id:
            return _api_error(403, "Missing or invalid X-Checkly-Account header")
        if method != "GET":
            return _api_error(
                405, f"Method {method} not allowed; only GET is simulated", [("Allow", "GET")]
            )
        if match is None:
            return _api_error(404, f"Cannot GET {path}")
        if timeline is None:
            return _api_error(400, "testSessionId must be a UUID")
        if endpoint == "completion" and not scenario.completion_endpoint:
            return _api_error(404, f"Cannot GET {path}")
        max_wait = 30
        if endpoint == "completion" and "maxWaitSeconds" in query:
            raw = query["maxWaitSeconds"]
            if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 30:
                return _api_error(400, "maxWaitSeconds must be an integer between 1 and 30")
            max_wait = int(raw)
        if not timeline.is_visible(time.monotonic()):
            return _api_error(404, f"Test session {session_id} not found")
        if endpoint == "session":
            return _Response(200, timeline.body(time.monotonic()))
        return self._long_poll(timeline, now + max_wait)

    def _long_poll(self, timeline: SessionTimeline, deadline: float) -> _Response:
        while True:
            now = time.monotonic()
            if timeline.is_final(now):
                return _Response(200, timeline.body(now))
            if self._stopping.is_set():
                return _api_error(503, "the simulator is shutting down")
            remaining = deadline - now
            if remaining <= 0:
                return _api_error(
                    408, "Test session is still running; call this endpoint again to keep waiting"
                )
            wait = remaining
            if timeline.final_mono is not None:
                wait = min(wait, max(timeline.final_mono - now, 0.0) + 0.001)
            self._stopping.wait(wait)

    def _fault(
        self, fault: Fault, headers: dict[str, str], timeline: SessionTimeline | None
    ) -> _Response:
        kind = fault.kind
        if kind == "reset":
            return _Response(0, reset=True)
        if kind == "rate-limit":
            retry = fault.retry_after if fault.retry_after is not None else 1
            return _api_error(
                429, "Too many requests, please retry later", self._retry(fault, retry)
            )
        if kind == "server-error":
            status = fault.status or 503
            response = (
                _html(status) if fault.body == "html" else _api_error(status, _phrase(status))
            )
            response.headers.extend(self._retry(fault, fault.retry_after))
            return response
        if kind == "html":
            return _html(fault.status or 502)
        if kind == "garbage":
            return _Response(200, _GARBAGE)
        if kind == "truncated":
            now = time.monotonic()
            if timeline is not None and timeline.is_visible(now):
                whole = timeline.body(now)
            else:
                whole = _json({"testSessionId": str(uuid.uuid4()), "results": []})
            return _Response(200, whole[: len(whole) // 2])
        if kind == "not-a-session":
            body = [{"ok": True}] if fault.body == "list" else {"ok": True}
            return _Response(200, _json(body))
        # unauthorized-echo: a careless API echoing the credential it received
        received = headers.get("authorization", "(none)")
        return _api_error(401, f"Invalid credentials: {received!r} is not a valid API key")

    @staticmethod
    def _retry(fault: Fault, retry_after: int | str | None) -> list[tuple[str, str]]:
        if retry_after is None or retry_after == "none":
            return []
        if retry_after == "http-date":
            when = time.time() + fault.retry_after_seconds
            return [("Retry-After", formatdate(when, usegmt=True))]
        return [("Retry-After", str(retry_after))]

"""A hostile front for the simulator: one endpoint misbehaves, the others are forwarded.

``HostileProxy(sim, endpoint, behaviour)`` listens on 127.0.0.1 with raw sockets (one thread
per connection, ``Connection: close`` on every answer). Requests to ``endpoint`` get
``behaviour``; everything else is relayed to the simulator unchanged.

Behaviours:
- ``drip``: status line and headers at once, then the body one byte a second.
- ``silent``: accept and read the request, never answer.
- ``endless``: a chunked body that never ends (1 KiB every 20 ms).
- ``huge``: a 200 MB body sent as fast as the socket takes it.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from dataclasses import dataclass, field

import httpx

from checkly_gate.simulator import Simulator

ENDPOINTS = ("trigger", "session", "completion", "error-group", "cancel")
BEHAVIOURS = ("drip", "silent", "endless")

_PATTERNS = (
    ("trigger", re.compile(r"^/v1/test-sessions/trigger$")),
    ("cancel", re.compile(r"^/v1/test-sessions/[^/]+/cancel$")),
    ("completion", re.compile(r"^/v1/test-sessions/[^/]+/completion$")),
    ("session", re.compile(r"^/v1/test-sessions/[^/]+$")),
    ("error-group", re.compile(r"^/v1/test-session-error-groups/[^/]+$")),
)


def endpoint_of(path: str) -> str | None:
    path = path.split("?", 1)[0]
    return next((name for name, pattern in _PATTERNS if pattern.match(path)), None)


@dataclass
class HostileProxy:
    sim: Simulator
    endpoint: str
    behaviour: str
    seen: list[tuple[str, float]] = field(default_factory=list)  # (endpoint, monotonic time)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> HostileProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for conn in self._sockets:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()

    def hits(self, endpoint: str) -> int:
        return sum(1 for name, _ in self.seen if name == endpoint)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            request = _read_request(conn)
            if request is None:
                return
            method, path, headers, body = request
            name = endpoint_of(path)
            self.seen.append((name or "?", time.monotonic()))
            if name == self.endpoint:
                getattr(self, "_" + self.behaviour)(conn)
            else:
                self._forward(conn, method, path, headers, body)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _forward(
        self, conn: socket.socket, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> None:
        keep = {k: v for k, v in headers.items() if k not in ("host", "connection")}
        answer = httpx.request(
            method, self.sim.url + path, headers=keep, content=body or None, timeout=60
        )
        head = [f"HTTP/1.1 {answer.status_code} {answer.reason_phrase}"]
        for key, value in answer.headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                head.append(f"{key}: {value}")
        head += [f"Content-Length: {len(answer.content)}", "Connection: close", "", ""]
        conn.sendall("\r\n".join(head).encode() + answer.content)

    def _drip(self, conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\nConnection: close\r\n\r\n{"
        )
        while not self._closing.wait(1.0):
            conn.sendall(b" ")

    def _silent(self, conn: socket.socket) -> None:
        self._closing.wait(120)

    def _endless(self, conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        chunk = b"400\r\n" + b" " * 1024 + b"\r\n"
        while not self._closing.wait(0.02):
            conn.sendall(chunk)

    def _huge(self, conn: socket.socket) -> None:
        size = 200 * 1024 * 1024
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {size}\r\nConnection: close\r\n\r\n".encode()
        )
        block = b" " * (1024 * 1024)
        for _ in range(size // len(block)):
            if self._closing.is_set():
                return
            conn.sendall(block)


def _read_request(conn: socket.socket) -> tuple[str, str, dict[str, str], bytes] | None:
    """One HTTP/1.1 request: method, path with query, lower-case headers, body."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return None
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(rest) < length:
        piece = conn.recv(65536)
        if not piece:
            break
        rest += piece
    return method, path, headers, rest[:length]


@dataclass
class Case:
    """How to bring the gate to ``endpoint``: the scenario, the command, the exit code."""

    scenario: str
    args: tuple[str, ...]
    code: int
    signal_after: str | None = None  # SIGTERM once the proxy saw this endpoint


SID = "5b2f4c1e-7a3d-4e8f-9c0b-1d2e3f4a5b6c"
CASES = {
    # The trigger never completes: no session can be known, exit 6 (unavailable).
    "trigger": Case("trigger-demo", ("run", "--tags", "web"), 6),
    # The session is never read: exit 6 (unavailable).
    "session": Case("passing", ("wait", SID), 6),
    # Read as RUNNING, then the long-poll never completes: exit 4 (timed out).
    "completion": Case("never-ends", ("wait", SID), 4),
    # A FAILED session whose error details never arrive: the verdict stands, exit 1.
    "error-group": Case("failing", ("wait", SID), 1),
    # SIGTERM while following, then the cancel request never completes: exit 143.
    "cancel": Case(
        "never-ends", ("wait", SID, "--cancel-on-interrupt"), 143, signal_after="completion"
    ),
}
REPORTS = ("--junit", "out/junit.xml", "--summary", "out/summary.md", "--json", "out/gate.json")

"""Header bytes never change a verdict: a real server on 127.0.0.1 sends raw bytes (latin-1,
UTF-8, invalid UTF-8, control characters) in any header of any endpoint, and the real CLI's
exit code is the session's, as curl would read the same answer.

Framing headers (``Content-Length``, ``Transfer-Encoding``, ``Content-Encoding``,
``Connection``) are not decoration, so they are not varied; CR, LF and NUL end or break a header
line for every HTTP client (curl refuses NUL too), and httpx's parser (h11) also refuses a
vertical tab or form feed, so values hold any other byte.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from checkly_gate.cli import main
from tests.canned import result, session_body
from tests.tools import clean_env

KEY = "cu_headers_" + "h" * 16
SID = "5a0e3c1b-7d2f-4b6a-8c9d-0e1f2a3b4c5d"
ENDPOINTS = ("session", "completion", "error-group", "every")
NAMES = (
    "X-Served-By",
    "Retry-After",
    "Content-Type",
    "Location",
    "Server",
    "Link",
    "Date",
    "Set-Cookie",
    "X-RateLimit-Remaining",
    "X-Hdr",
)


@dataclass
class RawApi:
    """Answers the session, its completion long-poll and error groups with raw header bytes."""

    status: str = "FAILED"
    endpoint: str = "every"
    header: bytes = b""
    seen: list[str] = field(default_factory=list)

    def answer(self, path: str) -> bytes:
        if "/test-session-error-groups/" in path:
            kind, body = "error-group", {"cleanedErrorMessage": "boom"}
        else:
            kind = "completion" if path.split("?")[0].endswith("/completion") else "session"
            failed = self.status == "FAILED"
            rows = [result("Home", self.status, group="g1" if failed else None)]
            body = session_body(SID, self.status, rows)
        self.seen.append(kind)
        data = json.dumps(body).encode()
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        if self.endpoint in (kind, "every"):
            head += self.header + b"\r\n"
        head += b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(data)
        return head + data


@contextlib.contextmanager
def raw_api(api: RawApi) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))

    def handle(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            path = data.split(b" ", 2)[1].decode("ascii", "replace")
            conn.sendall(api.answer(path))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def _gate(url: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**clean_env(), "CHECKLY_API_KEY": KEY, "NO_COLOR": "1"}
    cmd = [sys.executable, "-m", "checkly_gate", "wait", SID, "--api-url", url]
    cmd += ["--timeout", "20", "--poll-interval", "0.2", "--json", str(tmp / "gate.json")]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


# h11 (httpx's HTTP/1.1 parser) refuses a vertical tab or form feed in a value, as it refuses
# a NUL; curl accepts them. Known and left: no server sends them (see the README).
_value = st.binary(max_size=40).map(
    lambda b: b"".join(bytes([c]) for c in b if c not in b"\r\n\0\x0b\x0c")
)


def _gate_in_process(url: str, tmp: Path) -> tuple[int, str, str]:
    """``_gate``'s command run by ``cli.main`` in this process: (exit code, stdout, stderr).
    The header bytes meet the same client code; a fresh interpreter per Hypothesis example
    would cost about 0.3 s of CPU each and prove nothing more about headers."""
    env = {**clean_env(), "CHECKLY_API_KEY": KEY, "NO_COLOR": "1"}
    argv = ["wait", SID, "--api-url", url, "--timeout", "20", "--poll-interval", "0.2"]
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, env, clear=True),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = main([*argv, "--json", str(tmp / "gate.json")])
    return code, out.getvalue(), err.getvalue()


# The real command, in a subprocess, on the bytes real servers were seen sending.
KNOWN_HEADERS = [
    ("FAILED", "session", "X-Served-By", "Zürich".encode()),
    ("FAILED", "every", "X-Served-By", "Zürich".encode("latin-1")),
    ("FAILED", "every", "Retry-After", b"\xff\xfe 1"),
    ("PASSED", "every", "Content-Type", b"text/html; charset=\xe9"),
    ("FAILED", "error-group", "Location", b"/\x80\x01\x7f"),
]


@pytest.mark.parametrize(("status", "endpoint", "name", "value"), KNOWN_HEADERS)
def test_the_command_keeps_the_exit_code_whatever_the_header_bytes(
    tmp_path: Path, status: str, endpoint: str, name: str, value: bytes
) -> None:
    api = RawApi(status, endpoint, name.encode() + b": " + value)
    with raw_api(api) as url:
        proc = _gate(url, tmp_path)
    expected = 1 if status == "FAILED" else 0
    assert proc.returncode == expected, (api.header, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stdout + proc.stderr
    assert "session" in api.seen or "completion" in api.seen


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    status=st.sampled_from(["FAILED", "PASSED"]),
    endpoint=st.sampled_from(ENDPOINTS),
    name=st.sampled_from(NAMES),
    value=_value,
)
@example(*KNOWN_HEADERS[0])
def test_header_bytes_never_change_the_exit_code(
    tmp_path: Path, status: str, endpoint: str, name: str, value: bytes
) -> None:
    api = RawApi(status, endpoint, name.encode() + b": " + value)
    with raw_api(api) as url:
        code, out, err = _gate_in_process(url, tmp_path)
    expected = 1 if status == "FAILED" else 0
    assert code == expected, (api.header, out, err)
    assert "Traceback" not in err and "internal error" not in out + err
    assert "session" in api.seen or "completion" in api.seen

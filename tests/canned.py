"""A tiny HTTP server answering with canned bytes: for answers the simulator would never give
(hostile names, echoed keys, lone surrogates, absurd nesting)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Answer = tuple[int, dict[str, str], bytes]
Handler = Callable[[str, str, dict[str, str]], Answer]


def json_answer(data: Any, status: int = 200, **headers: str) -> Answer:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(data).encode()


def session_body(
    session_id: str,
    status: str = "FAILED",
    results: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A final session body in the API's shape; ``extra`` overrides any field."""
    body = {
        "testSessionId": session_id,
        "testSessionLink": f"https://app.checklyhq.com/test-sessions/{session_id}",
        "name": "Canned session",
        "status": status,
        "startedAt": "2025-01-01T12:00:00.000Z",
        "stoppedAt": "2025-01-01T12:00:05.000Z",
        "results": results or [],
    }
    body.update(extra)
    return body


def result(
    name: str, status: str = "FAILED", group: str | None = None, **extra: Any
) -> dict[str, Any]:
    """One FINAL result row."""
    row = {
        "testSessionResultId": f"r-{abs(hash(name)) % 10**8}",
        "checkId": f"c-{abs(hash(name)) % 10**8}",
        "checkType": "API",
        "name": name,
        "runLocation": "eu-west-1",
        "resultType": "FINAL",
        "status": status,
        "hasFailures": status == "FAILED",
        "hasErrors": False,
        "isDegraded": False,
        "aborted": False,
        "errorGroupIds": [group] if group else [],
        "startedAt": "2025-01-01T12:00:00.000Z",
        "stoppedAt": "2025-01-01T12:00:04.000Z",
    }
    row.update(extra)
    return row


@contextmanager
def canned(handler: Handler) -> Iterator[str]:
    """Serve ``handler(method, path, headers) -> (status, headers, body)`` on 127.0.0.1; yields
    the base URL. Every request is answered, also POST/DELETE."""

    class Request(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, headers, body = handler(self.command, self.path, dict(self.headers.items()))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Request)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

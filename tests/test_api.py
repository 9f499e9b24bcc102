"""Error bodies of every shape become one line; secrets never leak."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

from checkly_gate.api import error_message, parse_retry_after
from checkly_gate.redact import Secrets


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            httpx.Response(
                401, json={"statusCode": 401, "error": "Unauthorized", "message": "Bad"}
            ),
            "HTTP 401 Unauthorized: Bad",
        ),
        (
            httpx.Response(404, json={"error": "Not Found", "message": "Cannot GET /x"}),
            "HTTP 404 Not Found: Cannot GET /x",
        ),
        (httpx.Response(429, json={"error": "too many requests"}), "HTTP 429 Too Many Requests"),
        (httpx.Response(400, json={"error": "boom"}), "HTTP 400 Bad Request: boom"),
        (
            httpx.Response(403, json={"message": "no", "errorCode": "E42"}),
            "HTTP 403 Forbidden: no / E42",
        ),
        (httpx.Response(500, text="plain\ntext"), "HTTP 500 Internal Server Error: plain text"),
        (
            httpx.Response(502, text="<!DOCTYPE html><html><title>502 Bad Gateway</title>..."),
            "HTTP 502 Bad Gateway: HTML page (502 Bad Gateway)",
        ),
        (httpx.Response(503), "HTTP 503 Service Unavailable"),
    ],
)
def test_error_message_shapes(response: httpx.Response, expected: str) -> None:
    assert error_message(response) == expected


def test_error_message_is_capped() -> None:
    assert len(error_message(httpx.Response(500, text="x" * 5000))) < 340


def test_retry_after() -> None:
    now = datetime(2026, 11, 26, 10, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after("Thu, 26 Nov 2026 10:00:30 GMT", now) == 30.0
    assert parse_retry_after("Thu, 26 Nov 2026 09:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_redactor_masks_keys_everywhere() -> None:
    r = Secrets(["cu_supersecret", None, "ab"])
    assert r("Bearer cu_supersecret was bad") == "Bearer *** was bad"
    assert r.scrub({"m": ["cu_supersecret"], "cu_supersecret": 1}) == {"m": ["***"], "***": 1}
    assert r("ab stays") == "ab stays"  # too short to be a secret


def test_an_unreadable_trigger_answer_is_ambiguous_never_retried_as_safe() -> None:
    """The trigger's body is parsed in the exchange's worker (bounded by the deadline); a body
    it cannot read still means the request arrived: ``Ambiguous``, not a safe retry."""
    from checkly_gate.api import Ambiguous, Client

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, content=b"<html>not json</html>")

    client = Client("key", "https://api.test", transport=httpx.MockTransport(handler))
    with pytest.raises(Ambiguous):
        client.trigger({"matchTags": [["web"]]}, timeout=5)

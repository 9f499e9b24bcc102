"""A base URL that is not the Checkly API is named within seconds (exit 2, the URL in the line),
not after the not-found grace; a real Checkly 404 for a session not created yet keeps its grace."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.canned import canned
from tests.tools import clean_env, unfolded

KEY = "cu_wrongurl_" + "w" * 16
SID = "7c6b5a49-3827-4160-a5f4-e3d2c1b0a998"
COMMANDS = {
    "wait": ["wait", SID],
    "run": ["run", "--tags", "web"],
    "wait --commit": ["wait", "--commit", "0123abcd0123abcd0123abcd0123abcd0123abcd"],
    "run --check-sessions": ["run", "--check-sessions", "--tags", "web"],
}
NOT_CHECKLY = {
    "html": ({"Content-Type": "text/html"}, b"<html><title>404 Not Found</title>nginx</html>"),
    "json-other-shape": ({"Content-Type": "application/json"}, b'{"detail": "Not Found"}'),
    "json-list": ({"Content-Type": "application/json"}, b"[]"),
    "plain": ({"Content-Type": "text/plain"}, b"404 page not found"),
    "empty": ({}, b""),
}


def gate(args: list[str], url: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**clean_env(), "CHECKLY_API_KEY": KEY, "NO_COLOR": "1"}
    cmd = [sys.executable, "-m", "checkly_gate", *args, "--api-url", url, "--timeout", "60"]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=90)
    return proc, time.monotonic() - start


@pytest.mark.parametrize("shape", list(NOT_CHECKLY))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_server_that_is_not_checkly_is_named_at_once(shape: str, command: str) -> None:
    headers, body = NOT_CHECKLY[shape]
    with canned(lambda method, path, h: (404, headers, body)) as url:
        proc, took = gate(COMMANDS[command], url)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert took < 10, f"{took:.1f}s: waited out the not-found grace"
    verdict = [line for line in unfolded(proc.stdout).splitlines() if "(exit 2)" in line]
    assert len(verdict) == 1 and url in verdict[0] and "--api-url" in verdict[0], proc.stdout


def test_a_checkly_404_for_a_session_not_created_yet_keeps_its_grace() -> None:
    def answer(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        body = {"statusCode": 404, "error": "Not Found", "message": f"Test session {SID} not found"}
        return 404, {"Content-Type": "application/json"}, json.dumps(body).encode()

    with canned(answer) as url:
        proc, took = gate(["wait", SID, "--not-found-grace", "3", "--poll-interval", "0.5"], url)
    assert proc.returncode == 5, proc.stdout + proc.stderr  # README: 404 after the grace
    assert took >= 3, "the grace was not kept"
    assert "does not answer like the Checkly API" not in proc.stdout

"""A trigger's 403/404 is "no check matched" only when it says so.

``--no-fail-on-no-matching`` turns "no check matched" into exit 0, so a refusal read as no match
is a false green: ``403 The API key does not match the account`` (it has the word "match") or a
Checkly-shaped ``404 Route POST:/v1/test-sessions/trigger not found`` (a wrong base path) exited
0. The real CLI against a server answering each, for test sessions and check sessions.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.canned import Answer, canned, json_answer
from tests.tools import clean_env

GATE = (sys.executable, "-m", "checkly_gate")
REFUSALS = [
    (403, "The API key does not match the account"),
    (403, "Forbidden"),
    (404, "Route POST:/v1/test-sessions/trigger not found"),
    (404, "Account not found"),
]
NO_MATCH = [
    (404, "No matching checks were found."),
    (403, "No checks match the given tags"),
    (404, None),  # a bare 404 in Checkly's shape
]


def _gate(status: int, message: str | None, *flags: str) -> subprocess.CompletedProcess[str]:
    body = {"statusCode": status, "error": "Not Found" if status == 404 else "Forbidden"}
    if message is not None:
        body["message"] = message

    def handler(method: str, path: str, headers: dict[str, str]) -> Answer:
        return json_answer(body, status=status)

    with canned(handler) as url:
        return subprocess.run(
            [*GATE, "run", "--tags", "e2e", "--api-url", url, "--timeout", "10", *flags],
            env={**clean_env(), "CHECKLY_API_KEY": "cu_test_key", "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.mark.parametrize("kind", [[], ["--check-sessions"]], ids=["test", "check"])
@pytest.mark.parametrize("status, message", REFUSALS)
def test_a_refusal_is_never_no_match(
    status: int, message: str, kind: list[str], tmp_path: Path
) -> None:
    proc = _gate(status, message, "--no-fail-on-no-matching", *kind)
    assert proc.returncode == 5, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "no checks matched" not in proc.stdout


@pytest.mark.parametrize("kind", [[], ["--check-sessions"]], ids=["test", "check"])
@pytest.mark.parametrize("status, message", NO_MATCH)
def test_an_answer_saying_no_check_matched_is_no_match(
    status: int, message: str | None, kind: list[str]
) -> None:
    assert _gate(status, message, *kind).returncode == 7
    assert _gate(status, message, "--no-fail-on-no-matching", *kind).returncode == 0

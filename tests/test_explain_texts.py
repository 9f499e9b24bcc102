"""Error texts of failed checks: fetched within a budget, and when one is not, the reports say
the reason that applied (budget, rate limit, deadline, --no-details), not a list of guesses."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from checkly_gate.api import Client
from checkly_gate.explain import MAX_GROUPS, fetch_error_messages
from checkly_gate.reports import junit
from checkly_gate.scope import Scope
from tests.fakes import FakeClock, row, session_body
from tests.runs import from_body

GROUPS = [f"group-{n:02d}" for n in range(MAX_GROUPS + 5)]


def failing_run():  # type: ignore[no-untyped-def]
    rows = [row(f"check {n}", "FAILED", errorGroupIds=[gid]) for n, gid in enumerate(GROUPS)]
    return from_body(session_body("FAILED", rows))


def fetch(answer_for: dict[str, int], clock: FakeClock) -> tuple[dict[str, str], dict[str, str]]:
    def handler(request: httpx.Request) -> httpx.Response:
        gid = request.url.path.rsplit("/", 1)[1]
        status = answer_for.get(gid, 200)
        if status != 200:
            return httpx.Response(status, json={"message": "no"})
        return httpx.Response(200, json={"cleanedErrorMessage": f"text of {gid}"})

    scope = Scope(60, now=clock.now)
    transport = httpx.MockTransport(handler)
    client = Client("secret-key-123", "https://api.test", transport=transport, scope=scope)
    missing: dict[str, str] = {}
    found = fetch_error_messages(client, failing_run().verdict, missing)
    return found, missing


def test_each_group_without_text_says_why() -> None:
    found, missing = fetch({GROUPS[2]: 500, GROUPS[5]: 429}, FakeClock())
    assert set(found) == {GROUPS[0], GROUPS[1], GROUPS[3], GROUPS[4]}
    assert missing[GROUPS[2]] == "the API did not answer readably"
    assert all("rate limit" in missing[g] for g in GROUPS[5:MAX_GROUPS])
    assert all("budget of 20 error groups" in missing[g] for g in GROUPS[MAX_GROUPS:])
    assert set(found) | set(missing) == set(GROUPS)


@pytest.mark.parametrize(
    ("missing", "says"),
    [
        ({GROUPS[0]: "--no-details"}, "error text not fetched (--no-details)"),
        ({GROUPS[0]: "no time left before the deadline"}, "(no time left before the deadline)"),
        ({}, "the gate fetches at most 20 error groups"),  # an old snapshot: the general rule
    ],
)
def test_the_junit_failure_names_the_reason_that_applied(
    missing: dict[str, str], says: str
) -> None:
    run = dataclasses.replace(failing_run(), missing_texts=missing)
    text = junit.render(run)
    assert f"error group {GROUPS[0]}: " in text and says in text

"""Test doubles: a fake clock and builders of API bodies."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

SID = "0b9f3c3e-5a4b-4c2d-9e1f-1234567890ab"
_counter = itertools.count()


class FakeClock:
    """Monotonic time that only moves when slept on or advanced by the fake server."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        self.t += seconds


def row(
    name: str = "Homepage",
    status: str = "PASSED",
    result_type: str | None = "FINAL",
    check_type: str = "API",
    location: str | None = "eu-west-1",
    **flags: Any,
) -> dict[str, Any]:
    rid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}-{location}-{next(_counter)}"))
    body: dict[str, Any] = {
        "testSessionResultId": rid,
        "testSessionResultLink": f"https://app.checklyhq.com/r/{rid}",
        "checkId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        "checkType": check_type,
        "name": name,
        "runLocation": location,
        "errorGroupIds": [],
        "resultType": result_type,
        "status": status,
        "hasErrors": False,
        "hasFailures": status == "FAILED",
        "isDegraded": False,
        "aborted": False,
        "startedAt": "2026-11-26T10:00:00Z",
        "stoppedAt": "2026-11-26T10:00:02.5Z" if status != "RUNNING" else None,
    }
    body.update(flags)
    return body


def session_body(
    status: str = "PASSED", results: list[dict[str, Any]] | None = None, sid: str = SID
) -> dict[str, Any]:
    return {
        "testSessionId": sid,
        "testSessionLink": f"https://app.checklyhq.com/test-sessions/{sid}",
        "name": "Deploy checks",
        "status": status,
        "errorGroupIds": [],
        "startedAt": "2026-11-26T10:00:00Z",
        "stoppedAt": None if status == "RUNNING" else "2026-11-26T10:00:05Z",
        "timeElapsed": 5000,
        "metadata": {"environment": "staging", "branchName": "main", "commitId": "abc123"},
        "results": results if results is not None else [row()],
    }


def wait_in_process(url: str, key: str, timeout: float, poll_interval: float) -> tuple[Any, str]:
    """``gate.wait`` on one fresh session id of the simulator at ``url``: (GateRun, its log)."""
    import io

    from checkly_gate.config import Options

    out = io.StringIO()
    options = Options(
        session_ids=(str(uuid.uuid4()),),
        api_key=key,
        api_url=url,
        timeout=timeout,
        poll_interval=poll_interval,
    )
    return wait_for(options, out), out.getvalue()


def wait_for(
    options: Any,
    out: Any,
    env: dict[str, str] | None = None,
    transport: Any = None,
    settings: Any = None,
    colour: bool = False,
) -> Any:
    """``gate.wait`` in this process for ``options.session_ids`` (test sessions), under a
    ``context.Command`` that leaves signals to the test runner: the returned ``GateRun``."""
    from checkly_gate import gate
    from checkly_gate.context import open_command

    with open_command(
        options, out, env or {}, colour=colour, transport=transport, handle_signals=False
    ) as ctx:
        return gate.wait(ctx, gate.test_sessions(options.session_ids), settings)


def trigger_and_wait(
    options: Any, trigger_options: Any, out: Any, env: dict[str, str], transport: Any = None
) -> int:
    """``run`` (trigger a test session, then wait) in this process: the exit code."""
    from checkly_gate.commands import run
    from checkly_gate.context import open_command

    with open_command(options, out, env, transport=transport, handle_signals=False) as ctx:
        return run.trigger_and_wait(ctx, trigger_options)


def find_and_wait(
    options: Any, discovery: Any, out: Any, env: dict[str, str], transport: Any = None
) -> int:
    """``wait --commit`` (discover, then wait) in this process: the exit code."""
    from checkly_gate.commands import commit
    from checkly_gate.context import open_command

    with open_command(options, out, env, transport=transport, handle_signals=False) as ctx:
        return commit.find_and_wait(ctx, discovery)


def scope_until(clock: FakeClock, deadline: float) -> Any:
    """A ``scope.Scope`` on ``clock`` whose deadline is ``deadline`` (fake monotonic seconds):
    what a follower or discovery takes its time, sleeps and stop from."""
    from checkly_gate.scope import Scope

    return Scope(deadline - clock.now(), clock=clock)

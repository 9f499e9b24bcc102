"""Builders of finished gate runs for every outcome, shared by the report tests."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from checkly_gate.models import Observation, Stop, parse_session
from checkly_gate.reports import GateRun
from checkly_gate.verdict import Policy, combine, judge_session, usage_verdict
from tests.fakes import SID, row, session_body

SID2 = "7d4e1b2a-3c5d-4e6f-8a9b-0c1d2e3f4a5b"
STARTED = datetime(2026, 11, 26, 10, 0, 0, tzinfo=timezone.utc)
FINISHED = datetime(2026, 11, 26, 10, 1, 30, tzinfo=timezone.utc)
NASTY = [
    "pipe | in | name",
    "<script>alert(1)</script>",
    "cdata ]]> end",
    "control \x00\x07\x1b[31m chars",
    "emoji 🚀✅ name",
    "multi\nline\r\nname",
    "[link](javascript:alert(1)) `code` & *bold*",
    "::error::injected",
    "L" * 600,
]


def build(
    observations: list[Observation],
    bodies: dict[str, Any] | None = None,
    policy: Policy | None = None,
    signal: int | None = None,
    error_messages: dict[str, str] | None = None,
) -> GateRun:
    policy = policy or Policy()
    verdict = combine([judge_session(o, policy) for o in observations], signal)
    return GateRun(
        verdict=verdict,
        observations=tuple(observations),
        bodies=bodies or {},
        policy=policy,
        started_at=STARTED,
        finished_at=FINISHED,
        duration_seconds=90.0,
        requests=17,
        signal=signal,
        error_messages=error_messages or {},
    )


def from_body(
    body: dict[str, Any],
    stop: Stop = Stop.FINAL,
    policy: Policy | None = None,
    signal: int | None = None,
    **obs: Any,
) -> GateRun:
    session = parse_session(body)
    observation = Observation(body["testSessionId"], stop, session=session, signal=signal, **obs)
    return build([observation], {body["testSessionId"]: body}, policy, signal)


def passed_rows() -> list[dict[str, Any]]:
    return [
        row("Homepage", check_type="BROWSER"),
        row("Homepage", check_type="BROWSER", location="us-east-1"),
        row("Login API", "FAILED", "ATTEMPT"),
        row("Login API"),  # flaky: passed after a failed attempt
        row("Search latency", isDegraded=True, check_type="API"),
        row("TLS expiry", check_type="SSL"),
    ]


def passed() -> GateRun:
    return from_body(session_body("PASSED", passed_rows()))


def failed() -> GateRun:
    rows = [
        *passed_rows(),
        row("Checkout", "FAILED", "ATTEMPT", errorGroupIds=["eg-1"]),
        row("Checkout", "FAILED", errorGroupIds=["eg-1"]),  # failed after a retry
        row("Payments API", "FAILED", hasErrors=True, hasFailures=False, errorGroupIds=["eg-2"]),
    ]
    return from_body(session_body("FAILED", rows))


def cancelled() -> GateRun:
    rows = [row("Homepage"), row("Checkout", "CANCELLED", aborted=True)]
    return from_body(session_body("CANCELLED", rows))


def timed_out() -> GateRun:
    rows = [
        row("Homepage"),
        row("Checkout", "RUNNING", "PENDING"),
        row("Slow", "RUNNING", "PENDING"),
    ]
    return from_body(session_body("RUNNING", rows), Stop.DEADLINE)


def unavailable() -> GateRun:
    obs = Observation(
        SID, Stop.DEADLINE, error="HTTP 503 Service Unavailable", error_is_current=True
    )
    return build([obs])


def refused() -> GateRun:
    obs = Observation(
        SID,
        Stop.REFUSED,
        error="HTTP 401 Unauthorized: Bad key (hint: check the API key)",
        error_is_current=True,
    )
    return build([obs])


def interrupted() -> GateRun:
    rows = [row("Homepage"), row("Checkout", "RUNNING", "PENDING")]
    return from_body(session_body("RUNNING", rows), Stop.INTERRUPTED, signal=15)


def usage() -> GateRun:
    return GateRun(
        verdict=usage_verdict("session id 'x' is not a UUID"),
        started_at=STARTED,
        finished_at=STARTED,
        duration_seconds=0.0,
    )


def several() -> GateRun:
    a = session_body("PASSED", [row("A one"), row("A two")])
    b = session_body("FAILED", [row("B one", "FAILED")], sid=SID2)
    b["name"] = "Second session"
    observations = [
        Observation(SID, Stop.FINAL, session=parse_session(a)),
        Observation(SID2, Stop.FINAL, session=parse_session(b)),
    ]
    return build(observations, {SID: a, SID2: b})


def nasty() -> GateRun:
    rows = [
        row(name, "FAILED" if i % 2 else "PASSED", location=f"loc|{i}")
        for i, name in enumerate(NASTY)
    ]
    body = session_body("FAILED", rows)
    body["name"] = "session <b>|</b> ]]> \x1b[1m 🚀"
    return from_body(body)


def large(n: int = 3000) -> GateRun:
    rows = [row(f"check {i:04d}", "FAILED" if i % 500 == 0 else "PASSED") for i in range(n)]
    return from_body(session_body("FAILED", rows))


ALL_OUTCOMES = {
    "passed": passed,
    "failed": failed,
    "cancelled": cancelled,
    "timed-out": timed_out,
    "unavailable": unavailable,
    "refused": refused,
    "interrupted": interrupted,
    "usage": usage,
    "several": several,
}

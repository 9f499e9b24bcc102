"""The simulator's account rate budget: a token bucket, 429 with an honest Retry-After."""

from __future__ import annotations

import uuid

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkly_gate.cli import main
from checkly_gate.simulator import Simulator, load_scenario
from checkly_gate.simulator.ratelimit import RateLimit, TokenBucket, parse_rate_limit
from tests.fakes import wait_in_process

KEY = "rate-key"


def test_default_budget_is_checklys_600_per_60_seconds() -> None:
    bucket = TokenBucket(Simulator().__dict__["_bucket"].rate, now=0.0)
    assert bucket.rate == RateLimit(600, 60.0)
    assert all(bucket.take(0.0) is None for _ in range(600))
    wait = bucket.take(0.0)
    assert wait == pytest.approx(0.1)  # one token every 0.1 s
    assert bucket.take(0.05) is not None and bucket.take(0.1) is None
    assert bucket.refused == 2


@settings(max_examples=80, deadline=None)
@given(
    limit=st.integers(1, 50),
    period=st.floats(0.5, 120),
    gaps=st.lists(st.floats(0, 3), min_size=1, max_size=200),
)
def test_retry_after_is_the_honest_time_until_a_token_is_free(
    limit: int, period: float, gaps: list[float]
) -> None:
    """Whenever a request is refused, asking again exactly the returned wait later succeeds,
    and asking noticeably sooner does not (so the wait is neither too long nor too short)."""
    bucket = TokenBucket(RateLimit(limit, period), now=0.0)
    now = 0.0
    for gap in gaps:
        now += gap
        wait = bucket.take(now)
        if wait is None:
            continue
        assert 0 < wait <= period / limit + 1e-9
        probe = TokenBucket(bucket.rate, now=0.0)
        probe._tokens, probe._at = bucket._tokens, bucket._at
        if wait > 1e-3:
            assert probe.take(now + wait * 0.99 - 1e-6) is not None
        assert bucket.take(now + wait + 1e-9) is None
        now += wait
        assert int(TokenBucket.retry_after(wait)) >= wait


def test_http_429_with_retry_after_for_every_endpoint_when_the_budget_is_spent(serve) -> None:
    sim = serve(load_scenario("passing"), rate_limit=RateLimit(3, 6.0))
    sid = str(uuid.uuid4())
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {KEY}"}) as client:
        codes = [client.get(f"/v1/test-sessions/{sid}").status_code for _ in range(3)]
        refused = client.get(f"/v1/test-sessions/{sid}/completion")
        wrong_key = client.get("/v1/checks", headers={"Authorization": "Bearer nope"})
    assert codes == [200, 200, 200]
    assert refused.status_code == 429 and wrong_key.status_code == 429
    assert refused.json()["statusCode"] == 429
    assert refused.headers["Retry-After"] == "2"  # one token every 2 s
    assert sim.rate_limited == 2


def test_the_gate_waits_out_the_budget_and_still_gets_the_verdict(serve) -> None:
    sim = serve(load_scenario("passing"), speed=5, rate_limit=RateLimit(2, 2.0))
    run, _ = wait_in_process(sim.url, KEY, timeout=20, poll_interval=0.05)
    assert run.verdict.exit_code == 0
    assert sim.rate_limited > 0  # it did hit the budget, and came through


@pytest.mark.parametrize(
    ("text", "expected"),
    [("600/60", RateLimit(600, 60.0)), (" 10 / 1.5s ", RateLimit(10, 1.5)), ("off", None)],
)
def test_parse_rate_limit(text: str, expected: RateLimit | None) -> None:
    assert parse_rate_limit(text) == expected


@pytest.mark.parametrize("text", ["600", "a/b", "600/0", "-1/60", "600/60/1", ""])
def test_simulate_rejects_a_bad_rate_limit_in_one_line(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["simulate", f"--rate-limit={text}", "--port", "0"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("checkly-gate: error: ") and err.count("\n") == 1

"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, settings

from checkly_gate.simulator import Scenario, Simulator

# One Hypothesis profile for the whole suite: no per-example deadline and no "too slow" health
# check, since a busy 2-core CI machine (a load of 8) stretches single examples far past
# Hypothesis's 200 ms default without anything being wrong. Examples stay bounded by their count.
settings.register_profile(
    "checkly-gate",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("checkly-gate")


@pytest.fixture
def serve(request: pytest.FixtureRequest) -> Iterator[Callable[..., Simulator]]:
    """Start simulators on demand (API key: the test module's ``KEY``) and stop them all at the
    end of the test."""
    started: list[Simulator] = []
    key = getattr(request.module, "KEY", "sim-key")

    def _serve(scenario: Scenario | None = None, **kwargs: object) -> Simulator:
        kwargs.setdefault("api_key", key)
        sim = Simulator(scenario, **kwargs).start()  # type: ignore[arg-type]
        started.append(sim)
        return sim

    yield _serve
    for sim in started:
        sim.stop()

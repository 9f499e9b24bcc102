"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pytest
from hypothesis import HealthCheck, settings

from checkly_gate import tls
from checkly_gate.simulator import Scenario, Simulator, load_scenario

# One Hypothesis profile for the whole suite: no per-example deadline and no "too slow" health
# check, since a busy 2-core CI machine (a load of 8) stretches single examples far past
# Hypothesis's 200 ms default without anything being wrong. Examples stay bounded by their count.
settings.register_profile(
    "checkly-gate",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("checkly-gate")

# The suite's groups, by test module (markers registered in pyproject.toml). `pytest` runs all;
# `pytest -m "not repo and not e2e"` runs only the unit tests (in-process, real HTTP on
# 127.0.0.1 included). A module in neither set is a unit-test module.
GROUPS: dict[str, frozenset[str]] = {
    # the repository's shipped files, read by the real tools that consume them
    "repo": frozenset(
        {
            "test_action",
            "test_ci_recipes",
            "test_container",
            "test_ctrf_consumer",
            "test_docs",
            "test_gitlab_ci",
            "test_kubernetes_recipes",
            "test_lock",
            "test_packaging",
            "test_platform_fakes",
            "test_readme",
            "test_recipes_act",
            "test_release",
            "test_shell_portability",
            "test_shipped_paths",
        }
    ),
    # the real checkly-gate command in a subprocess
    "e2e": frozenset(
        {
            "test_bounded_inputs",
            "test_ci_commits",
            "test_ci_env_bytes",
            "test_ci_systems",
            "test_cli_inputs",
            "test_e2e",
            "test_e2e_ctrf",
            "test_e2e_context",
            "test_e2e_context_commands",
            "test_e2e_marks",
            "test_e2e_discovery",
            "test_e2e_history_cost",
            "test_e2e_proof",
            "test_e2e_publish",
            "test_e2e_run",
            "test_files",
            "test_hostile",
            "test_hostile_api",
            "test_http_headers",
            "test_options_table",
            "test_outputs",
            "test_proxies",
            "test_redact_verdict",
            "test_report_ctrf",
            "test_report_junit",
            "test_scope",
            "test_signals",
            "test_snapshot_report",
            "test_strict_json",
            "test_terminal",
            "test_tls",
            "test_trigger_no_match",
            "test_words",
            "test_wrong_url",
        }
    ),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its module's group (see ``GROUPS``)."""
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        for marker, modules in GROUPS.items():
            if module in modules:
                item.add_marker(getattr(pytest.mark, marker))


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


@pytest.fixture
def certifi_context_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """``tls.ssl_context`` built once for the default trust (certifi's bundle, no
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``), then reused: ``config.resolve`` checks the TLS settings
    of an https:// API URL by building the context, about 20 ms of CPU each time, which a
    property test resolving options hundreds of times does not test. Any CA variable still
    builds (and checks) a fresh context."""
    build = tls.ssl_context
    default: list[object] = []

    def once(env: Mapping[str, str]) -> object:
        if env.get("SSL_CERT_FILE") or env.get("SSL_CERT_DIR"):
            return build(env)
        if not default:
            default.append(build(env))
        return default[0]

    monkeypatch.setattr(tls, "ssl_context", once)


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., Simulator]]:
    """``start(scenario="passing", speed=10.0, **simulator_options)``: a started simulator of
    a built-in scenario (by name) or a ``Scenario``, keyed with ``tests.test_e2e.KEY``;
    every one started is stopped after the test."""
    from tests.test_e2e import KEY

    started: list[Simulator] = []

    def start(
        scenario: str | Scenario = "passing", speed: float = 10.0, **kwargs: object
    ) -> Simulator:
        sc = load_scenario(scenario) if isinstance(scenario, str) else scenario
        sim = Simulator(scenario=sc, api_key=KEY, speed=speed, **kwargs).start()  # type: ignore[arg-type]
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()

"""Builtin scenarios (their names are a public contract) and ``load_scenario``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from checkly_gate.simulator.model import (
    CheckSpec,
    Fault,
    HistoryEntry,
    Scenario,
    ScenarioError,
    load_scenario_file,
)

_SESSION_NAME = "Deploy smoke checks"
#: Tags of the builtin checks (by check name), for ``POST /v1/test-sessions/trigger``:
#: ``web`` = the site as a browser sees it, ``api`` = HTTP APIs and multi-step API flows,
#: ``infra`` = ports and certificates; ``smoke``, ``critical``, ``checkout``... narrow it down.
CHECK_TAGS: dict[str, tuple[str, ...]] = {
    "Login API": ("api", "auth", "smoke", "critical"),
    "Status page": ("web", "smoke"),
    "Homepage": ("web", "smoke", "critical"),
    "Checkout flow": ("api", "checkout", "critical"),
    "Product API": ("api", "catalog"),
    "Search suite": ("web", "search", "e2e"),
    "Database port": ("infra", "database", "critical"),
    "TLS certificate": ("infra", "security"),
}
_LARGE_TAGS = {
    "API": "api",
    "MULTI_STEP": "api",
    "BROWSER": "web",
    "PLAYWRIGHT": "web",
    "URL": "web",
    "TCP": "infra",
    "DNS": "infra",
    "ICMP": "infra",
}


def _tagged(*checks: CheckSpec) -> tuple[CheckSpec, ...]:
    """``checks`` with the tags of ``CHECK_TAGS`` (timelines are unchanged by tags)."""
    return tuple(replace(c, tags=CHECK_TAGS.get(c.name, c.tags)) for c in checks)


def _passing_checks() -> tuple[CheckSpec, ...]:
    """The ~12 s demo timeline: 9 runs finishing one by one, a flaky and a degraded check."""
    return _tagged(
        CheckSpec("Login API", "API", ("eu-west-1",), start=0.2, duration=1.3),
        CheckSpec("Status page", "URL", ("eu-west-1",), start=1.0, duration=1.0),
        CheckSpec(
            "Homepage", "BROWSER", ("eu-west-1", "us-east-1"), start=0.5, duration=2.5, stagger=1.0
        ),
        CheckSpec(
            "Checkout flow",
            "MULTI_STEP",
            ("eu-west-1",),
            start=1.0,
            duration=4.0,
            failed_attempts=1,
        ),
        CheckSpec(
            "Product API", "API", ("us-east-1",), start=3.5, duration=2.5, outcome="degraded"
        ),
        CheckSpec("Search suite", "PLAYWRIGHT", ("eu-west-1",), start=2.0, duration=5.0),
        CheckSpec("Database port", "TCP", ("eu-central-1",), start=6.0, duration=3.0),
        CheckSpec("TLS certificate", "SSL", ("eu-west-1",), start=8.0, duration=4.0),
    )


def _failing_checks() -> tuple[CheckSpec, ...]:
    """Like the passing timeline, but checkout fails after a retry and one check errors."""
    outcomes = {"Checkout flow": "failed", "Database port": "error"}
    return tuple(
        replace(c, outcome=outcomes[c.name]) if c.name in outcomes else c for c in _passing_checks()
    )


def _short_checks() -> tuple[CheckSpec, ...]:
    """A ~6 s passing timeline (6 runs, one flaky) for the fault and edge-case scenarios."""
    return _tagged(
        CheckSpec("Login API", "API", ("eu-west-1",), start=0.2, duration=0.8),
        CheckSpec(
            "Homepage", "BROWSER", ("eu-west-1", "us-east-1"), start=0.3, duration=1.5, stagger=0.5
        ),
        CheckSpec("Status page", "URL", ("eu-west-1",), start=2.0, duration=1.0),
        CheckSpec(
            "Checkout flow",
            "MULTI_STEP",
            ("eu-west-1",),
            start=1.0,
            duration=3.0,
            failed_attempts=1,
        ),
        CheckSpec("TLS certificate", "SSL", ("eu-west-1",), start=3.0, duration=3.0),
    )


def _large_checks() -> tuple[CheckSpec, ...]:
    """1,500 checks in two locations (3,000 runs), all finished within ~5 s."""
    types = ("API", "BROWSER", "MULTI_STEP", "PLAYWRIGHT", "URL", "TCP", "DNS", "ICMP")
    checks = []
    for i in range(1500):
        checks.append(
            CheckSpec(
                f"Check {i + 1:04d}",
                types[i % len(types)],
                ("eu-west-1", "us-east-1"),
                start=(i % 300) / 100,  # 0 .. 2.99
                duration=0.5 + (i % 7) * 0.2,  # 0.5 .. 1.7
                stagger=0.2,
                outcome="degraded" if i % 97 == 0 else "passed",
                failed_attempts=1 if i % 113 == 0 else 0,
                tags=("regression", _LARGE_TAGS[types[i % len(types)]]),
            )
        )
    return tuple(checks)


def _trigger_demo_checks() -> tuple[CheckSpec, ...]:
    """~6 s of tagged checks where only the checkout (``api``, ``checkout``) fails."""
    return _tagged(
        CheckSpec("Login API", "API", ("eu-west-1",), start=0.2, duration=0.8),
        CheckSpec(
            "Homepage",
            "BROWSER",
            ("eu-west-1", "us-east-1"),
            start=0.3,
            duration=1.5,
            stagger=0.5,
        ),
        CheckSpec("Status page", "URL", ("eu-west-1",), start=1.0, duration=1.0),
        CheckSpec(
            "Checkout flow",
            "MULTI_STEP",
            ("eu-west-1",),
            start=1.0,
            duration=3.0,
            failed_attempts=1,
            outcome="failed",
            error_message=(
                "expect(received).toBe(expected) — Expected: 201, Received: 502 (POST /api/orders)"
            ),
        ),
        CheckSpec("Search suite", "PLAYWRIGHT", ("eu-west-1",), start=2.0, duration=3.0),
        CheckSpec("Database port", "TCP", ("eu-central-1",), start=3.0, duration=1.0),
        CheckSpec("TLS certificate", "SSL", ("eu-west-1",), start=4.0, duration=2.0),
    )


def _builtins() -> dict[str, Scenario]:
    specs = [
        *_outcome_scenarios(),
        *_fault_scenarios(),
        *_timing_scenarios(),
        *_command_scenarios(),
        *_context_builtins(),
    ]
    return {s.name: s for s in specs}


def _outcome_scenarios() -> list[Scenario]:
    """How a session ends: passed, failed, cancelled."""
    return [
        Scenario(
            name="passing",
            description="~12 s, 9 runs finishing one by one, one flaky and one degraded: PASSED",
            session_name=_SESSION_NAME,
            checks=_passing_checks(),
        ),
        Scenario(
            name="failing",
            description="~12 s; checkout fails after a retry and one check has errors: FAILED",
            session_name=_SESSION_NAME,
            checks=_failing_checks(),
        ),
        Scenario(
            name="cancelled",
            description="the passing timeline, cancelled after 4 s: CANCELLED",
            session_name=_SESSION_NAME,
            end="cancelled",
            cancel_at=4.0,
            checks=_passing_checks(),
        ),
    ]


def _fault_scenarios() -> list[Scenario]:
    """What the API does wrong: 429s, broken answers, 401s."""
    short = _short_checks()
    return [
        Scenario(
            name="rate-limited",
            description="~6 s passing session; 429 + Retry-After on early requests (one HTTP date)",
            session_name=_SESSION_NAME,
            checks=short,
            faults=(
                Fault("rate-limit", requests=(2, 3), retry_after=1),
                Fault("rate-limit", requests=(5, 5), retry_after="http-date"),
                Fault("rate-limit", requests=(7, 7), retry_after=1),
            ),
        ),
        Scenario(
            name="unreliable-network",
            description="~6 s passing session; reset, 503, HTML 502, garbage and truncated bodies",
            session_name=_SESSION_NAME,
            checks=short,
            faults=(
                Fault("reset", requests=(2, 2)),
                Fault("server-error", requests=(3, 3), status=503),
                Fault("html", requests=(5, 5)),
                Fault("garbage", requests=(7, 7)),
                Fault("truncated", requests=(9, 9)),
            ),
        ),
        Scenario(
            name="unauthorized",
            description="every request 401, the body echoing the Authorization header back",
            session_name=_SESSION_NAME,
            checks=short,
            faults=(Fault("unauthorized-echo"),),
        ),
    ]


def _timing_scenarios() -> list[Scenario]:
    """When things happen: never, late, without a long-poll, settling."""
    short = _short_checks()
    return [
        Scenario(
            name="never-ends",
            description="runs never finish; the session stays RUNNING forever",
            session_name=_SESSION_NAME,
            end="never",
            checks=short,
        ),
        Scenario(
            name="slow-start",
            description="404 for 3 s after the first request, then a ~6 s passing session",
            session_name=_SESSION_NAME,
            not_found_seconds=3.0,
            checks=short,
        ),
        Scenario(
            name="no-long-poll",
            description="the completion endpoint answers 404; ~6 s passing session",
            session_name=_SESSION_NAME,
            completion_endpoint=False,
            checks=short,
        ),
        Scenario(
            name="settling",
            description="~6 s passing session whose last FINAL row lags 1.5 s behind the status",
            session_name=_SESSION_NAME,
            final_lag=1.5,
            checks=short,
        ),
    ]


def _command_scenarios() -> list[Scenario]:
    """For `run`, `wait --commit` and size."""
    short = _short_checks()
    return [
        Scenario(
            name="trigger-demo",
            description=(
                "for `run`: ~6 s of tagged checks, 404 for 1 s after the trigger; only the "
                "checkout fails (--tags web: PASSED, --tags api,critical: FAILED)"
            ),
            session_name=_SESSION_NAME,
            not_found_seconds=1.0,
            checks=_trigger_demo_checks(),
        ),
        Scenario(
            name="discovery",
            description=(
                "for `wait --commit`: a ~6 s passing session (one flaky multi-step check) of "
                "the default commit appears in the list 3 s after the simulator starts (VERCEL)"
            ),
            session_name="Vercel deployment checks",
            listed_after=3.0,
            provider="VERCEL",
            checks=short,
        ),
        Scenario(
            name="large",
            description="3,000 runs (1,500 checks x 2 locations) finished within ~5 s: PASSED",
            session_name="Large regression suite",
            checks=_large_checks(),
        ),
    ]


#: The commit of the context scenarios' pull request (head) and of another deploy.
PR_COMMIT = "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"
OTHER_COMMIT = "b7e3d5c1a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4"
_DAY = 86400.0


def _context_builtins() -> list[Scenario]:
    """Scenarios for a verdict that knows its context (issue 21): fail fast, new or known
    failures against the default branch's history, the session's commit and metadata."""
    return [*_history_scenarios(), *_commit_scenarios()]


def _history_scenarios() -> list[Scenario]:
    """Fail fast, and new or known failures against the default branch's history."""
    pr = {"branchName": "feature/cart", "commitId": PR_COMMIT, "environment": "staging"}
    checkout_known = CheckSpec(
        "Checkout flow",
        duration=1.5,
        outcome="failed",
        error_group="checkout-submit-timeout",
        first_seen_ago=3 * _DAY,
        tags=CHECK_TAGS["Checkout flow"],
    )
    login_seen = CheckSpec(
        "Login API",
        duration=1.0,
        outcome="failed",
        error_group="login-503",
        first_seen_ago=5 * _DAY,
        tags=CHECK_TAGS["Login API"],
    )
    search_new = CheckSpec("Search suite", type="BROWSER", duration=2.0, outcome="failed")
    homepage = CheckSpec("Homepage", type="BROWSER", duration=1.0, tags=CHECK_TAGS["Homepage"])
    main_failing = HistoryEntry(branch="main", age=1 * _DAY, failing=("Checkout flow",))
    return [
        Scenario(
            name="fail-fast",
            description=(
                "a 60 s session whose first definite failure (a FINAL failed row) comes at 2 s; "
                "a flaky check shows a failed ATTEMPT at 1 s first: FAILED"
            ),
            session_name=_SESSION_NAME,
            metadata=pr,
            checks=(
                CheckSpec("Checkout flow", duration=2.0, outcome="failed"),
                CheckSpec("Search suite", duration=3.0, failed_attempts=2),
                CheckSpec("Homepage", type="BROWSER", duration=60.0),
                CheckSpec("Status page", type="BROWSER", start=5.0, duration=55.0),
            ),
        ),
        Scenario(
            name="known-and-new",
            description=(
                "one known failure (Checkout flow: first seen 3 days ago, failing on main's "
                "newest finished session too) and one new one (Search suite): FAILED"
            ),
            session_name=_SESSION_NAME,
            metadata=pr,
            checks=(checkout_known, search_new, homepage),
            history=(main_failing,),
        ),
        Scenario(
            name="known-only",
            description=(
                "only known failures: Checkout flow (failing on main too) and Login API (first "
                "seen 5 days ago, passed on main): FAILED"
            ),
            session_name=_SESSION_NAME,
            metadata=pr,
            checks=(checkout_known, login_seen, homepage),
            history=(
                HistoryEntry(branch="main", age=2 * _DAY, failing=("Checkout flow", "Login API")),
                main_failing,
            ),
        ),
    ]


def _commit_scenarios() -> list[Scenario]:
    """Sessions whose metadata names another commit, or nothing."""
    pr = {"branchName": "feature/cart", "commitId": PR_COMMIT, "environment": "staging"}
    homepage = CheckSpec("Homepage", type="BROWSER", duration=1.0, tags=CHECK_TAGS["Homepage"])
    return [
        Scenario(
            name="other-commit",
            description=f"a passing session that tested another commit ({OTHER_COMMIT[:12]})",
            session_name=_SESSION_NAME,
            metadata={**pr, "commitId": OTHER_COMMIT},
            checks=(homepage, CheckSpec("Login API", duration=1.0)),
        ),
        Scenario(
            name="no-metadata",
            description="a passing session without metadata (every metadata field null)",
            session_name=_SESSION_NAME,
            metadata=dict.fromkeys(
                ("environment", "repoUrl", "commitId", "commitOwner", "commitMessage", "branchName")
            ),
            checks=(homepage, CheckSpec("Login API", duration=1.0)),
        ),
    ]


#: Builtin scenarios by name; every one is also loadable with ``load_scenario(name)``.
BUILTIN_SCENARIOS: dict[str, Scenario] = _builtins()


def load_scenario(name_or_path: str) -> Scenario:
    """Return the builtin scenario called ``name_or_path`` or load it from a YAML file.

    Raises ScenarioError with a one-line message for an unknown name, an unreadable file,
    invalid YAML, unknown keys or wrong types.
    """
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise ScenarioError("scenario must be a builtin name or a path to a .yml/.yaml file")
    if name_or_path in BUILTIN_SCENARIOS:
        return BUILTIN_SCENARIOS[name_or_path]
    path = Path(name_or_path)
    looks_like_path = (
        name_or_path.lower().endswith((".yml", ".yaml"))
        or "/" in name_or_path
        or "\\" in name_or_path
        or path.exists()
    )
    if not looks_like_path:
        raise ScenarioError(
            f"unknown scenario '{name_or_path}'; builtin scenarios: "
            f"{', '.join(BUILTIN_SCENARIOS)} (or give a path to a .yml/.yaml file)"
        )
    return load_scenario_file(path)

"""Scenario model: frozen dataclasses, their validation, and parsing from YAML mappings.

Validation lives in ``__post_init__`` so scenarios built in Python are checked exactly like
scenarios read from YAML; the parser only adds the location (``checks[2]``) to the message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from checkly_gate.config import load_yaml

OUTCOMES = ("passed", "failed", "error", "degraded", "cancelled")
ENDS = ("auto", "cancelled", "never")
SESSION_STATUSES = ("PASSED", "FAILED", "CANCELLED")
FAULT_KINDS = (
    "rate-limit",
    "server-error",
    "reset",
    "garbage",
    "truncated",
    "html",
    "not-a-session",
    "unauthorized-echo",
    "ambiguous",
)
ENDPOINTS = (
    "any",
    "session",
    "completion",
    "trigger",
    "cancel",
    "error-group",
    # discovery, result assets and check sessions (simulator/discovery.py)
    "list",
    "assets",
    "check-trigger",
    "check-session",
    "check-completion",
    "check-cancel",
)
#: Statuses the trigger may answer when no check matches (``Scenario.no_match_status``).
NO_MATCH_STATUSES = (404, 403)
METADATA_KEYS = (
    "environment",
    "repoUrl",
    "commitId",
    "commitOwner",
    "commitMessage",
    "branchName",
)
DEFAULT_METADATA: dict[str, str | None] = {
    "environment": "simulated",
    "repoUrl": "https://github.com/acme/webshop",
    "commitId": "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",
    "commitOwner": "jane-doe",
    "commitMessage": "Simulated deploy",
    "branchName": "main",
}
#: ``CheckSpec.check_id`` value meaning "derive a stable uuid5 from the check name".
AUTO = "auto"
# Which fault kinds accept which optional settings (anything else is a mistake worth reporting).
_FAULT_OPTIONS = {
    "status": ("server-error", "html", "ambiguous"),
    "body": ("server-error", "not-a-session"),
    "retry_after": ("rate-limit", "server-error"),
    "retry_after_seconds": ("rate-limit", "server-error"),
}
_FAULT_BODIES = {"server-error": ("json", "html"), "not-a-session": ("object", "list")}


# Default error texts, by check type, of failing runs (``CheckSpec.error_message`` unset).
_BROWSER_TYPES = ("BROWSER", "MULTI_STEP", "PLAYWRIGHT")
_FAILED_MESSAGES = {
    "API": "expect(received).toBe(expected) — Expected: 200, Received: 503",
    "URL": "Assertion failed: response status code — Expected: 200, Received: 503",
    "BROWSER": (
        "TimeoutError: page.click: Timeout 30000ms exceeded. waiting for locator('#submit')"
    ),
    "MULTI_STEP": "expect(received).toBe(expected) — Expected: 201, Received: 500",
    "PLAYWRIGHT": (
        "Error: expect(locator).toBeVisible() failed — Locator: getByRole('heading'), "
        "Expected: visible, Received: <element(s) not found>"
    ),
    "TCP": "Error: connect ECONNREFUSED 10.0.3.17:5432",
    "SSL": "Error: certificate has expired (valid to 2024-01-01T00:00:00Z)",
    "DNS": "Error: queryA ENOTFOUND shop.example.com",
    "ICMP": "Error: 100% packet loss (0 of 10 packets received)",
}
_DEFAULT_FAILED = "expect(received).toBe(expected) — Expected: 200, Received: 503"
_ERROR_MESSAGES = {
    True: "Checkly internal error: browser crashed",
    False: "Checkly internal error: the check runner stopped responding",
}


def default_error_message(check_type: str, outcome: str) -> str:
    """The error text of a failing run of a ``check_type`` check whose FINAL is ``outcome``.

    ``error`` outcomes get an internal-error text; anything else (``failed``, and the failed
    ATTEMPT rows of flaky checks) a failed assertion or connection error typical of the type.
    """
    if outcome == "error":
        return _ERROR_MESSAGES[check_type.upper() in _BROWSER_TYPES]
    return _FAILED_MESSAGES.get(check_type.upper(), _DEFAULT_FAILED)


class ScenarioError(ValueError):
    """A scenario is unknown, unreadable or invalid. The message is a single line."""


def _show(value: Any) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) <= 40 else text[:37] + "..."


def _number(key: str, value: Any, *, minimum: float = 0.0, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ScenarioError(f"'{key}' must be a number, got {_show(value)}")
    if value < minimum or (positive and value <= 0):
        bound = f"> {minimum:g}" if positive else f">= {minimum:g}"
        raise ScenarioError(f"'{key}' must be {bound}, got {_show(value)}")
    return float(value)


def _integer(key: str, value: Any, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"'{key}' must be an integer, got {_show(value)}")
    if value < minimum:
        raise ScenarioError(f"'{key}' must be >= {minimum}, got {value}")
    return value


def _string(key: str, value: Any, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ScenarioError(f"'{key}' must be a string, got {_show(value)}")
    if not empty and not value.strip():
        raise ScenarioError(f"'{key}' must not be empty")
    return value


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ScenarioError(f"'{key}' must be one of {', '.join(choices)}; got {_show(value)}")
    return value


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(f"'{key}' must be true or false, got {_show(value)}")
    return value


@dataclass(frozen=True)
class CheckSpec:
    """One check of a scenario; every location in ``locations`` is its own run.

    A run starts ``start + index * stagger`` scenario seconds after the session becomes visible
    and lasts ``duration``. With ``failed_attempts: k`` the run is split into k+1 equal tries,
    the first k of which produce failed ATTEMPT rows before the FINAL row shows ``outcome``.
    ``tags`` select the check in ``POST /v1/test-sessions/trigger``; ``error_message`` is the
    text of its error group (see ``failure_message``).
    """

    name: str
    type: str = "API"
    locations: tuple[str, ...] = ("eu-west-1",)
    start: float = 0.0
    duration: float = 1.0
    outcome: str = "passed"
    failed_attempts: int = 0
    stagger: float = 0.0
    check_id: str | None = AUTO
    response_time: int | None = None
    tags: tuple[str, ...] = ()
    error_message: str | None = None
    #: A key naming this check's error group across sessions: every session whose check names
    #: the same key shows the same error group id (as Checkly groups one error across sessions);
    #: None: a group of this session's own.
    error_group: str | None = None
    #: The error group was first seen this many real seconds (never scaled) before the session
    #: started: its ``firstSeen`` says so (None: first seen in the sessions the simulator has).
    first_seen_ago: float | None = None

    def __post_init__(self) -> None:
        _string("name", self.name)
        if self.error_group is not None:
            _string("error_group", self.error_group)
        if self.first_seen_ago is not None:
            object.__setattr__(
                self, "first_seen_ago", _number("first_seen_ago", self.first_seen_ago)
            )
        _string("type", self.type)
        tags = self.tags
        if isinstance(tags, str) or not isinstance(tags, (list, tuple)):
            raise ScenarioError(f"'tags' must be a list of strings, got {_show(tags)}")
        for tag in tags:
            _string("tags", tag)
        object.__setattr__(self, "tags", tuple(tags))
        if self.error_message is not None:
            _string("error_message", self.error_message)
        locations = self.locations
        if isinstance(locations, str) or not isinstance(locations, (list, tuple)):
            raise ScenarioError(f"'locations' must be a list of strings, got {_show(locations)}")
        if not locations:
            raise ScenarioError("'locations' must not be empty")
        for location in locations:
            _string("locations", location)
        object.__setattr__(self, "locations", tuple(locations))
        object.__setattr__(self, "start", _number("start", self.start))
        object.__setattr__(self, "duration", _number("duration", self.duration))
        object.__setattr__(self, "stagger", _number("stagger", self.stagger))
        _choice("outcome", self.outcome, OUTCOMES)
        _integer("failed_attempts", self.failed_attempts)
        if self.check_id is not None:
            _string("check_id", self.check_id)
        if self.response_time is not None:
            _integer("response_time", self.response_time)

    @property
    def failure_message(self) -> str:
        """The error text of this check's error group: ``error_message`` or a typical default."""
        if self.error_message is not None:
            return self.error_message
        return default_error_message(self.type, self.outcome)


@dataclass(frozen=True)
class Fault:
    """A misbehaviour injected into selected requests.

    Selection: ``requests: (first, last)`` (1-based, inclusive) or ``every: N`` over the
    requests served by the owning scenario that match ``endpoint``; neither means all of them.
    """

    kind: str
    requests: tuple[int, int] | None = None
    every: int | None = None
    endpoint: str = "any"
    status: int | None = None
    body: str | None = None
    retry_after: int | str | None = None
    retry_after_seconds: int = 2

    def __post_init__(self) -> None:
        kind = _choice("kind", self.kind, FAULT_KINDS)
        if self.requests is not None:
            window = self.requests
            if isinstance(window, int) and not isinstance(window, bool):
                window = (window, window)
            if not isinstance(window, (list, tuple)) or len(window) != 2:
                raise ScenarioError(
                    f"'requests' must be [first, last] or a single number, got {_show(window)}"
                )
            first = _integer("requests", window[0], minimum=1)
            last = _integer("requests", window[1], minimum=first)
            object.__setattr__(self, "requests", (first, last))
        if self.every is not None:
            if self.requests is not None:
                raise ScenarioError("use either 'requests' or 'every', not both")
            _integer("every", self.every, minimum=1)
        _choice("endpoint", self.endpoint, ENDPOINTS)
        for option, kinds in _FAULT_OPTIONS.items():
            default = 2 if option == "retry_after_seconds" else None
            if getattr(self, option) != default and kind not in kinds:
                raise ScenarioError(f"'{option}' is not used by fault kind '{kind}'")
        if self.status is not None:
            status = _integer("status", self.status, minimum=400)
            if status > 599:
                raise ScenarioError(f"'status' must be between 400 and 599, got {status}")
        if self.body is not None:
            _choice("body", self.body, _FAULT_BODIES[kind])
        retry_after = self.retry_after
        if isinstance(retry_after, str):
            _choice("retry_after", retry_after, ("http-date", "none"))
        elif retry_after is not None:
            _integer("retry_after", retry_after)
        _integer("retry_after_seconds", self.retry_after_seconds)

    def selects(self, count: int) -> bool:
        """True when the ``count``-th matching request (1-based) is hit by this fault."""
        if self.requests is not None:
            return self.requests[0] <= count <= self.requests[1]
        if self.every is not None:
            return count % self.every == 0
        return True

    def applies_to(self, endpoint: str | None) -> bool:
        """True when a request to ``endpoint`` (an ``ENDPOINTS`` value but "any", or None for
        an unknown path) is counted."""
        return self.endpoint == "any" or self.endpoint == endpoint


@dataclass(frozen=True)
class HistoryEntry:
    """An older, finished session of this scenario's checks on ``branch`` that
    ``GET /v1/test-sessions`` lists (``simulator/context.py``): created ``age`` real seconds
    (never scaled) before the simulator started, the checks named in ``failing`` failed with the
    same error groups as this scenario's (the rest passed); ``running``: still RUNNING."""

    branch: str = "main"
    age: float = 86400.0
    failing: tuple[str, ...] = ()
    running: bool = False
    commit_id: str = "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b"

    def __post_init__(self) -> None:
        _string("branch", self.branch)
        object.__setattr__(self, "age", _number("age", self.age))
        failing = self.failing
        if isinstance(failing, str) or not isinstance(failing, (list, tuple)):
            raise ScenarioError(f"'failing' must be a list of check names, got {_show(failing)}")
        for name in failing:
            _string("failing", name)
        object.__setattr__(self, "failing", tuple(failing))
        _boolean("running", self.running)
        _string("commit_id", self.commit_id)


@dataclass(frozen=True)
class Scenario:
    """What the fake API does for a test session: its checks, its ending and its faults.

    All times are scenario seconds (divided by ``Simulator.speed``).
    """

    name: str = "custom"
    description: str = ""
    session_name: str = "Simulated test session"
    metadata: Mapping[str, str | None] = field(
        default_factory=lambda: dict(DEFAULT_METADATA), hash=False
    )
    not_found_seconds: float = 0.0
    completion_endpoint: bool = True
    end: str = "auto"
    cancel_at: float = 2.0
    final_lag: float = 0.0
    status_override: str | None = None
    checks: tuple[CheckSpec, ...] = ()
    faults: tuple[Fault, ...] = ()
    no_match_status: int = 404
    # The session of this scenario appears in GET /v1/test-sessions ``listed_after`` scenario
    # seconds after the simulator starts, from ``provider`` (None: not listed by itself).
    listed_after: float | None = None
    provider: str = "VERCEL"
    #: A static body: served verbatim (as JSON) by the session and completion endpoints instead
    #: of a simulated session; final at once when its ``status`` is PASSED, FAILED or CANCELLED.
    body: Any = None
    #: Older sessions the list endpoint shows (history labels; ``simulator/context.py``).
    history: tuple[HistoryEntry, ...] = ()

    def __post_init__(self) -> None:
        _string("name", self.name)
        _string("description", self.description, empty=True)
        _string("session_name", self.session_name, empty=True)
        if not isinstance(self.metadata, Mapping):
            raise ScenarioError(f"'metadata' must be a mapping, got {_show(self.metadata)}")
        merged = dict(DEFAULT_METADATA)
        for key, value in self.metadata.items():
            if key not in METADATA_KEYS:
                raise ScenarioError(
                    f"unknown key 'metadata.{key}' (known: {', '.join(METADATA_KEYS)})"
                )
            if value is not None:
                _string(f"metadata.{key}", value, empty=key != "environment")
            merged[key] = value
        object.__setattr__(self, "metadata", merged)
        for key in ("not_found_seconds", "cancel_at", "final_lag"):
            object.__setattr__(self, key, _number(key, getattr(self, key)))
        _boolean("completion_endpoint", self.completion_endpoint)
        if self.listed_after is not None:
            object.__setattr__(self, "listed_after", _number("listed_after", self.listed_after))
        _string("provider", self.provider)
        _choice("end", self.end, ENDS)
        if self.status_override is not None:
            _choice("status_override", self.status_override, SESSION_STATUSES)
        status = self.no_match_status
        if (
            isinstance(status, bool)
            or not isinstance(status, int)
            or status not in NO_MATCH_STATUSES
        ):
            raise ScenarioError(f"'no_match_status' must be 404 or 403, got {_show(status)}")
        for key, kind in (("checks", CheckSpec), ("faults", Fault)):
            items = getattr(self, key)
            if not isinstance(items, (list, tuple)) or not all(isinstance(i, kind) for i in items):
                raise ScenarioError(f"'{key}' must be a list of {kind.__name__}")
            object.__setattr__(self, key, tuple(items))
        self._share_history_groups()
        if self.body is not None:
            if self.checks:
                raise ScenarioError("use either 'body' or 'checks', not both")
            try:
                json.dumps(self.body, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise ScenarioError(f"'body' must be plain JSON data: {exc}") from None

    def _share_history_groups(self) -> None:
        """A check some ``history`` session failed shares its error group with it (keyed by
        the check name unless it sets ``error_group``)."""
        history = self.history
        if not isinstance(history, (list, tuple)) or not all(
            isinstance(h, HistoryEntry) for h in history
        ):
            raise ScenarioError("'history' must be a list of HistoryEntry")
        object.__setattr__(self, "history", tuple(history))
        named = {name for entry in self.history for name in entry.failing}
        known = {check.name for check in self.checks}
        for name in sorted(named - known):
            raise ScenarioError(f"history: 'failing' names {name!r}, which is not a check here")
        checks = tuple(
            replace(check, error_group=check.name)
            if check.name in named and check.error_group is None
            else check
            for check in self.checks
        )
        object.__setattr__(self, "checks", checks)


# --------------------------------------------------------------------------- YAML parsing


def _field_names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def _mapping(where: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{where}: expected a mapping, got {_show(value)}")
    for key in value:
        if not isinstance(key, str):
            raise ScenarioError(f"{where}: keys must be strings, got {_show(key)}")
    return value


def _reject_unknown(where: str, data: Mapping[str, Any], known: set[str]) -> None:
    for key in data:
        if key not in known:
            raise ScenarioError(f"{where}: unknown key '{key}' (known: {', '.join(sorted(known))})")


def _build(where: str, cls: type, kwargs: dict[str, Any]) -> Any:
    try:
        return cls(**kwargs)
    except ScenarioError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def _parse_check(where: str, raw: Any) -> CheckSpec:
    data = dict(_mapping(where, raw))
    _reject_unknown(where, data, _field_names(CheckSpec) | {"location"})
    if "name" not in data:
        raise ScenarioError(f"{where}: missing key 'name'")
    if "location" in data:
        if "locations" in data:
            raise ScenarioError(f"{where}: use either 'location' or 'locations', not both")
        location = data.pop("location")
        data["locations"] = [location] if isinstance(location, str) else location
    return _build(where, CheckSpec, data)


def _parse_fault(where: str, raw: Any) -> Fault:
    data = dict(_mapping(where, raw))
    _reject_unknown(where, data, _field_names(Fault))
    if "kind" not in data:
        raise ScenarioError(f"{where}: missing key 'kind'")
    return _build(where, Fault, data)


def _parse_history(where: str, raw: Any) -> HistoryEntry:
    data = dict(_mapping(where, raw))
    _reject_unknown(where, data, _field_names(HistoryEntry))
    return _build(where, HistoryEntry, data)


def parse_scenario(data: Any, *, source: str, default_name: str = "custom") -> Scenario:
    """Build a Scenario from a parsed YAML document; errors name ``source`` and the key."""
    top = dict(_mapping(source, data))
    _reject_unknown(source, top, _field_names(Scenario))
    for key in ("checks", "faults"):
        value = top.get(key)
        if value is None:
            top[key] = ()
        elif not isinstance(value, list):
            raise ScenarioError(f"{source}: '{key}' must be a list, got {_show(value)}")
    if top.get("metadata") is None:
        top.pop("metadata", None)
    history = top.get("history")
    if history is not None:
        if not isinstance(history, list):
            raise ScenarioError(f"{source}: 'history' must be a list, got {_show(history)}")
        top["history"] = tuple(
            _parse_history(f"{source}: history[{i}]", h) for i, h in enumerate(history)
        )
    else:
        top.pop("history", None)
    checks = [_parse_check(f"{source}: checks[{i}]", c) for i, c in enumerate(top["checks"])]
    faults = [_parse_fault(f"{source}: faults[{i}]", f) for i, f in enumerate(top["faults"])]
    top["checks"] = tuple(checks)
    top["faults"] = tuple(faults)
    top.setdefault("name", default_name)
    return _build(source, Scenario, top)


def load_scenario_file(path: Path) -> Scenario:
    """Read and validate a scenario YAML file, raising ScenarioError with a one-line message."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ScenarioError(f"cannot read scenario file '{path}': {reason}") from None
    try:
        data = load_yaml(text)  # no aliases, no RecursionError
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ScenarioError(f"invalid YAML in '{path}': {problem}{where}") from None
    if data is None:
        raise ScenarioError(f"scenario file '{path}' is empty; expected a mapping")
    return parse_scenario(data, source=str(path), default_name=path.stem)

"""Options from defaults, a YAML file, the environment and flags, validated into ``Options``.

Precedence: defaults < config file < environment < flags. Every mistake a user can make raises
``ConfigError`` with one line naming the key, variable or flag, so the CLI can exit 2 before a
single request is made.
"""

from __future__ import annotations

import difflib
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CONFIG_FILE = "checkly-gate.yml"
API_KEY_ENV = "CHECKLY_API_KEY"


class ConfigError(ValueError):
    """A usage or configuration mistake; the message is one line and free of secrets."""


@dataclass(frozen=True)
class Spec:
    """One option: its config-file key, type, environment variable and default."""

    key: str
    kind: type
    env: str | None
    default: Any = None
    minimum: float | None = None


# Keys of the config file, in the CLI's spelling. ``dest`` is the key with '-' as '_'.
SPECS: tuple[Spec, ...] = (
    Spec("api-url", str, "CHECKLY_API_URL", "https://api.checklyhq.com"),
    Spec("account-id", str, "CHECKLY_ACCOUNT_ID"),
    Spec("timeout", float, "CHECKLY_GATE_TIMEOUT", 1800.0, minimum=1.0),
    Spec("poll-interval", float, "CHECKLY_GATE_POLL_INTERVAL", 150.0, minimum=0.05),
    Spec("not-found-grace", float, "CHECKLY_GATE_NOT_FOUND_GRACE", 30.0, minimum=0.0),
    Spec("long-poll", bool, "CHECKLY_GATE_LONG_POLL", True),
    Spec("json", str, "CHECKLY_GATE_JSON"),
    Spec("junit", str, "CHECKLY_GATE_JUNIT"),
    Spec("summary", str, "CHECKLY_GATE_SUMMARY"),
    Spec("dotenv", str, "CHECKLY_GATE_DOTENV"),
    Spec("fail-on-degraded", bool, "CHECKLY_GATE_FAIL_ON_DEGRADED", False),
    Spec("fail-on-flaky", bool, "CHECKLY_GATE_FAIL_ON_FLAKY", False),
    Spec("details", bool, "CHECKLY_GATE_DETAILS", True),
    Spec("cancel-on-interrupt", bool, "CHECKLY_GATE_CANCEL_ON_INTERRUPT", False),
)
SPEC_BY_KEY = {spec.key: spec for spec in SPECS}
SECRET_KEYS = frozenset({"api-key", "apikey", "api_key", "checkly-api-key", "key", "token"})

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class Options:
    """Everything ``wait`` needs, validated."""

    session_ids: tuple[str, ...]
    api_key: str
    api_url: str = "https://api.checklyhq.com"
    account_id: str | None = None
    timeout: float = 1800.0
    poll_interval: float = 150.0  # the widest gap between progress reads (schedule.py)
    not_found_grace: float = 30.0
    long_poll: bool = True
    json: Path | None = None
    junit: Path | None = None
    summary: Path | None = None
    dotenv: Path | None = None
    fail_on_degraded: bool = False
    fail_on_flaky: bool = False
    details: bool = True  # fetch error groups of failed results for the reports
    cancel_on_interrupt: bool = False
    verbosity: int = 0  # -1 quiet, 0 normal, 1 verbose
    sources: dict[str, str] = field(default_factory=dict)  # option -> where its value came from


def _suggest(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _coerce(spec: Spec, value: Any, where: str) -> Any:
    """Check a value from the YAML file or a flag against the option's type."""
    if value is None:
        return None
    if spec.kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if spec.kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number of seconds, got {value!r}")
        number = float(value)
        if not math.isfinite(number) or (spec.minimum is not None and number < spec.minimum):
            raise ConfigError(f"{where}: must be at least {spec.minimum:g}, got {value!r}")
        return number
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a non-empty string, got {value!r}")
    return value.strip()


def _from_env_text(spec: Spec, text: str, where: str) -> Any:
    """Environment values are text; turn them into the option's type."""
    if spec.kind is bool:
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"{where}: expected true or false, got {text!r}")
    if spec.kind is float:
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(f"{where}: expected a number of seconds, got {text!r}") from None
        return _coerce(spec, number, where)
    if not text.strip():
        return None
    return _coerce(spec, text, where)


def load_config_file(path: Path) -> dict[str, Any]:
    """Read and check a YAML config file; keys come back in the CLI's spelling."""
    import yaml  # lazy: keeps `--version` fast

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{path}: invalid YAML{at}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of options, got {type(data).__name__}")
    values: dict[str, Any] = {}
    valid = list(SPEC_BY_KEY)
    for raw_key, value in data.items():
        key = str(raw_key).strip().replace("_", "-").lower()
        if key in SECRET_KEYS:
            raise ConfigError(
                f"{path}: '{raw_key}' must not be in a config file; set {API_KEY_ENV} instead"
            )
        spec = SPEC_BY_KEY.get(key)
        if spec is None:
            raise ConfigError(f"{path}: unknown key '{raw_key}'{_suggest(key, valid)}")
        values[key] = _coerce(spec, value, f"{path}: '{raw_key}'")
    return values


def parse_session_id(text: str) -> str:
    """A session id in canonical form; anything but a UUID is refused."""
    try:
        return str(uuid.UUID(text.strip()))
    except (ValueError, AttributeError):
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ConfigError(f"session id {shown!r} is not a UUID") from None


def _check_url(url: str, where: str) -> str:
    import urllib.parse

    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{where}: expected an http(s) URL, got {url!r}")
    return url.rstrip("/")


def resolve(
    session_ids: list[str],
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    cwd: Path,
    config_path: str | None = None,
    api_key_flag: str | None = None,
    verbosity: int = 0,
    require_sessions: bool = True,
) -> Options:
    """Merge defaults < file < env < flags and validate. ``flags`` holds only given flags."""
    values: dict[str, Any] = {spec.key: spec.default for spec in SPECS}
    sources = dict.fromkeys(values, "default")

    path: Path | None = None
    if config_path:
        path = Path(config_path)
        if not path.is_absolute():
            path = cwd / path
    elif (cwd / DEFAULT_CONFIG_FILE).is_file():
        path = cwd / DEFAULT_CONFIG_FILE
    if path is not None:
        for key, value in load_config_file(path).items():
            values[key], sources[key] = value, f"file {path.name}"

    for spec in SPECS:
        if spec.env and env.get(spec.env) not in (None, ""):
            values[spec.key] = _from_env_text(spec, env[spec.env], spec.env)
            sources[spec.key] = f"env {spec.env}"

    for key, value in flags.items():
        spec = SPEC_BY_KEY[key]
        if value is not None:
            values[key] = _coerce(spec, value, f"--{key}")
            sources[key] = "flag"

    api_key = api_key_flag if api_key_flag is not None else env.get(API_KEY_ENV)
    if not api_key or not api_key.strip():
        raise ConfigError(f"no API key: set {API_KEY_ENV} (recommended) or pass --api-key")
    if require_sessions and not session_ids:
        raise ConfigError("no session id given")
    ids = tuple(dict.fromkeys(parse_session_id(s) for s in session_ids))

    def as_path(key: str) -> Path | None:
        value = values[key]
        if value is None:
            return None
        candidate = Path(value)
        return candidate if candidate.is_absolute() else cwd / candidate

    return Options(
        session_ids=ids,
        api_key=api_key.strip(),
        api_url=_check_url(values["api-url"], f"api-url ({sources['api-url']})"),
        account_id=values["account-id"],
        timeout=values["timeout"],
        poll_interval=values["poll-interval"],
        not_found_grace=values["not-found-grace"],
        long_poll=values["long-poll"],
        json=as_path("json"),
        junit=as_path("junit"),
        summary=as_path("summary"),
        dotenv=as_path("dotenv"),
        fail_on_degraded=values["fail-on-degraded"],
        fail_on_flaky=values["fail-on-flaky"],
        details=values["details"],
        cancel_on_interrupt=values["cancel-on-interrupt"],
        verbosity=verbosity,
        sources=sources,
    )

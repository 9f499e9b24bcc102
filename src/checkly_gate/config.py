"""Options from defaults, a YAML file, the environment and flags, validated into ``Options``.

Precedence: defaults < config file < environment < flags. Every mistake a user can make raises
``ConfigError`` with one line naming the key, variable or flag, so the CLI can exit 2 before a
single request is made.
"""

from __future__ import annotations

import difflib
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checkly_gate.proxies import ProxyError, proxy_for

DEFAULT_CONFIG_FILE = "checkly-gate.yml"
API_KEY_ENV = "CHECKLY_API_KEY"
CONFIG_MAX_BYTES = 64 * 1024  # a config file is a handful of options
# The proxy variables httpx reads (lower case wins, as in urllib) and the schemes it supports.


class ConfigError(ValueError):
    """A usage or configuration mistake; the message is one line and free of secrets."""


WAIT, RUN, REPORT = "wait", "run", "report"
#: ``--notify-on``'s values (publish/notify.py).
NOTIFY_ON = ("failures", "always", "never")


@dataclass(frozen=True)
class Spec:
    """One option, declared once: its key (the flag is ``--KEY``, the config file's key
    ``KEY``), type, environment variable, default, and for an enumerated value its allowed
    values (``choices``, compared without case, kept in the spelling given here). ``file`` is
    False for an option a config file must not hold (secrets, the file's own path).

    The CLI's flags are generated from the rest (``cli.build_parser``): ``help`` (the
    "[env X; default Y]" suffix is added from the row), ``metavar``, ``commands`` (which of
    ``wait``/``run``/``report`` take the flag; ``()``: the flag is written by hand),
    ``negatable`` (a yes/no flag has ``--no-KEY``), ``const`` (the value of a flag given
    without one). ``default_text``: how the help shows a default decided outside ``resolve``."""

    key: str
    kind: type
    env: str | None
    default: Any = None
    minimum: float | None = None
    choices: tuple[str, ...] | None = None
    file: bool = True
    help: str = ""
    metavar: str | None = None
    commands: tuple[str, ...] = (WAIT, RUN)
    negatable: bool = True
    const: str | None = None
    default_text: str | None = None


def _format_specs() -> tuple[Spec, ...]:
    """The output options, one per row of ``reports.formats.FORMATS`` (the formats registry)."""
    from checkly_gate.reports.formats import FORMATS

    return tuple(
        Spec(
            fmt.key,
            str,
            fmt.env,
            help=fmt.help,
            metavar="PATH",
            commands=(WAIT, RUN, REPORT) if fmt.rerenders else (WAIT, RUN),
        )
        for fmt in FORMATS
    )


# Keys of the config file, in the CLI's spelling. ``dest`` is the key with '-' as '_'.
SPECS: tuple[Spec, ...] = (
    Spec("api-url", str, "CHECKLY_API_URL", "https://api.checklyhq.com", help="API base URL",
         metavar="URL"),
    Spec("account-id", str, "CHECKLY_ACCOUNT_ID", help="account id, sent as X-Checkly-Account",
         metavar="ID"),
    Spec("timeout", float, "CHECKLY_GATE_TIMEOUT", 1800.0, minimum=1.0, metavar="SECONDS",
         help="one overall deadline for everything"),
    Spec("poll-interval", float, "CHECKLY_GATE_POLL_INTERVAL", 150.0, minimum=0.05,
         metavar="SECONDS",
         help="read progress at least this often; more often while results change"),
    Spec("not-found-grace", float, "CHECKLY_GATE_NOT_FOUND_GRACE", 30.0, minimum=0.0,
         metavar="SECONDS", help="keep retrying 404 this long after start"),
    Spec("max-request-rate", float, "CHECKLY_GATE_MAX_REQUEST_RATE", 60.0, minimum=1.0,
         metavar="PER_MINUTE",
         help="at most this many reads a minute, however many sessions are followed (the "
         "account's budget is shared)"),
    Spec("long-poll", bool, "CHECKLY_GATE_LONG_POLL", True,
         help="use the completion long-poll between progress fetches"),
    *_format_specs(),
    Spec("fail-on-degraded", bool, "CHECKLY_GATE_FAIL_ON_DEGRADED", False,
         help="fail when a check is degraded"),
    Spec("fail-on-flaky", bool, "CHECKLY_GATE_FAIL_ON_FLAKY", False,
         help="fail when a check passed only after retries"),
    Spec("details", bool, "CHECKLY_GATE_DETAILS", True,
         help="fetch the error messages of failed checks for the reports"),
    Spec("cancel-on-interrupt", bool, "CHECKLY_GATE_CANCEL_ON_INTERRUPT", False,
         help="on SIGINT/SIGTERM ask Checkly to cancel the session once"),
    Spec("allow-insecure-http", bool, "CHECKLY_GATE_ALLOW_INSECURE_HTTP", False,
         help="allow an http:// --api-url that is not this machine"),
    # Publishers of the finished verdict (publish/): none can change the exit code.
    Spec("comment", bool, "CHECKLY_GATE_COMMENT", False,
         help="keep one pull/merge request comment with the summary (GITHUB_TOKEN or "
         "CHECKLY_GATE_GITLAB_TOKEN)"),
    Spec("comment-key", str, "CHECKLY_GATE_COMMENT_KEY", metavar="KEY",
         help="which comment this gate keeps (two gates, two keys)",
         default_text="the session name"),
    # Not CHECKLY_GATE_STATUS: that is the dotenv report's outcome, read by later jobs.
    Spec("status", bool, "CHECKLY_GATE_COMMIT_STATUS", False,
         help="post a commit status: pending while following, then the verdict"),
    Spec("status-context", str, "CHECKLY_GATE_STATUS_CONTEXT", "checkly-gate", metavar="NAME",
         help="the commit status's context (its name in branch protection)"),
    Spec("repository", str, "CHECKLY_GATE_REPOSITORY", metavar="OWNER/REPO",
         help="GitHub repository of the commit status", default_text="GITHUB_REPOSITORY"),
    # A webhook URL is a secret: never in a config file, masked everywhere like the API key.
    Spec("notify", list, "CHECKLY_GATE_NOTIFY", file=False, metavar="URL",
         help="POST the verdict as JSON (Slack/Teams render its text) to this webhook; "
         "repeatable; the URL is a secret"),
    Spec("notify-on", str, "CHECKLY_GATE_NOTIFY_ON", "failures", choices=NOTIFY_ON,
         metavar="WHEN", help="when to notify"),
    # Issue 21: a verdict that knows its context (deploy.py, contextual.py).
    Spec("expect-commit", str, "CHECKLY_GATE_EXPECT_COMMIT", "auto", commands=(WAIT,),
         metavar="auto|off|SHA",
         help="wait ID: a session whose metadata.commitId names another commit than this "
         "deploy's (auto: the CI's; or this SHA) fails; off: not checked"),
    Spec("expect-environment", str, "CHECKLY_GATE_EXPECT_ENVIRONMENT", commands=(WAIT,),
         metavar="NAME",
         help="wait ID: a session whose metadata.environment is not NAME (or missing) fails"),
    Spec("fail-fast", bool, "CHECKLY_GATE_FAIL_FAST", False,
         help="end the wait at the first definite failure (a FINAL failed or errored run; not "
         "a flaky retry in progress): reports with what is known, exit 1"),
    Spec("cancel-on-fail", bool, "CHECKLY_GATE_CANCEL_ON_FAIL", False,
         help="with --fail-fast: also ask Checkly once to cancel the unfinished sessions"),
    Spec("fail-on", str, "CHECKLY_GATE_FAIL_ON", "any", choices=("any", "new"),
         metavar="any|new",
         help="new: only failures whose error groups are new fail the gate (known ones, seen "
         "before or failing on the default branch too, are listed; unknown ones fail)"),
    Spec("default-branch", str, "CHECKLY_GATE_DEFAULT_BRANCH", metavar="NAME",
         default_text="the CI's (pull request target, repository default)",
         help="the branch whose newest finished session 'failing on main too' compares with"),
    Spec("shadow", bool, "CHECKLY_GATE_SHADOW", False,
         help="try the gate without blocking: write everything, exit 0 (usage errors stay 2, "
         "an interrupt 128+N), say what the exit code would have been"),
)  # fmt: skip
SPEC_BY_KEY = {spec.key: spec for spec in SPECS}
# ``run``'s own options in the config file, in the flags' spelling (``wait`` ignores them).
# ``tags`` and ``check-id`` take a string or a list (one tag group "a,b" / one id per item).
# ``env`` is not one of them: its values may be secrets (see ``RUN_SECRET_KEYS``).
# In the environment, ``tags`` holds one tag group per line (or groups separated by blanks
# that touch no comma), ``check-id`` ids separated by blanks, commas or newlines.
RUN_SPECS: tuple[Spec, ...] = (
    Spec("tags", list, "CHECKLY_GATE_TAGS", commands=(RUN,), metavar="A,B",
         help="checks having all these tags; repeat to OR several groups"),
    Spec("check-id", list, "CHECKLY_GATE_CHECK_ID", commands=(RUN,), metavar="UUID",
         help="a check to run; repeatable"),
    Spec("location", str, "CHECKLY_GATE_LOCATION", commands=(RUN,), metavar="REGION",
         help="run location", default_text="eu-west-1"),
    Spec("name", str, "CHECKLY_GATE_SESSION_NAME", commands=(RUN,), metavar="NAME",
         help="session name", default_text="repository@branch from the CI"),
    Spec("retries", int, "CHECKLY_GATE_RETRIES", minimum=0, commands=(RUN,), metavar="N",
         help="retry failed checks up to N times (0-10)"),
    Spec("detach", bool, "CHECKLY_GATE_DETACH", commands=(RUN,), negatable=False,
         help="start, print the session id and link, write them for a later job, exit 0"),
    Spec("fail-on-no-matching", bool, "CHECKLY_GATE_FAIL_ON_NO_MATCHING", commands=(RUN,),
         help="exit 7 when no check matches", default_text="on"),
    Spec("check-sessions", bool, "CHECKLY_GATE_CHECK_SESSIONS", commands=(RUN,),
         negatable=False,
         help="start check sessions (POST /v2/check-sessions/trigger, normal alerting) "
         "instead of a test session"),
    # Plain (not secret) environment variables for the checks: KEY=VALUE lines in the
    # environment, a mapping in the config file. ``--env`` values are secrets: never in a file.
    Spec("env-plain", dict, "CHECKLY_GATE_ENV_PLAIN", commands=(RUN,), metavar="KEY=VALUE",
         help="like --env, but shown in plain text on Checkly's result pages; KEY=VALUE lines "
         "in the variable, a mapping in the config file"),
)  # fmt: skip
RUN_SPEC_BY_KEY = {spec.key: spec for spec in RUN_SPECS}
# ``wait --commit``'s options (commands/commit.py); read from flags and the environment.
PROVIDERS = ("GITHUB", "VERCEL", "API", "TRIGGER", "PW_REPORTER")  # the list's `providers` enum
DISCOVERY_SPECS: tuple[Spec, ...] = (
    Spec("commit", str, "CHECKLY_GATE_COMMIT", file=False, commands=(WAIT,), metavar="SHA",
         const="auto",
         help="wait for the test sessions of this commit (full or abbreviated SHA); without a "
         "value or 'auto': the CI's own commit (GITHUB_SHA, CI_COMMIT_SHA, ...)"),
    Spec("branch", str, "CHECKLY_GATE_BRANCH", file=False, commands=(WAIT,), metavar="NAME",
         help="with --commit: only sessions of this branch"),
    Spec("provider", str, "CHECKLY_GATE_PROVIDER", choices=PROVIDERS, file=False,
         commands=(WAIT,), metavar="NAME", help="with --commit: only sessions from this provider"),
    Spec("environment", str, "CHECKLY_GATE_ENVIRONMENT", file=False, commands=(WAIT,),
         metavar="NAME", help="with --commit: only sessions of this environment"),
    Spec("discover-timeout", float, "CHECKLY_GATE_DISCOVER_TIMEOUT", 300.0, minimum=0.0,
         file=False, commands=(WAIT,), metavar="SECONDS",
         help="how long to keep looking for the sessions (inside --timeout)"),
    Spec("fail-on-no-session", bool, "CHECKLY_GATE_FAIL_ON_NO_SESSION", file=False,
         commands=(WAIT,), help="exit 8 when no session is found (off: exit 0)",
         default_text="on"),
)  # fmt: skip
# Options that are not values of ``Options``: what to wait for, secrets, the file's path.
OTHER_SPECS: tuple[Spec, ...] = (
    Spec("session-id", list, "CHECKLY_GATE_SESSION_ID", file=False, commands=()),  # positional
    Spec("api-key", str, "CHECKLY_API_KEY", file=False, metavar="KEY",
         help="API key (prefer the environment variable)"),
    Spec("env", list, "CHECKLY_GATE_ENV", file=False, commands=(RUN,), metavar="KEY=VALUE",
         help="environment variable for the checks, sent as a secret (hidden in Checkly); "
         "repeatable, up to 50; values are never printed; KEY=VALUE lines in the variable"),
    Spec("config", str, "CHECKLY_GATE_CONFIG", file=False, metavar="PATH",
         help="YAML file of options",
         default_text="./checkly-gate.yml if present"),
)  # fmt: skip
#: The one table of options: the CLI's flags (``--KEY``, ``cli.build_parser``), the config
#: file's keys, the environment variables, the GitHub Action's and the GitLab component's inputs
#: all come from it (tests/test_options_table.py checks action.yml, templates/checkly-gate.yml
#: and the README against it).
OPTION_TABLE: tuple[Spec, ...] = (*SPECS, *RUN_SPECS, *DISCOVERY_SPECS, *OTHER_SPECS)
TABLE_BY_KEY = {spec.key: spec for spec in OPTION_TABLE}


def help_text(spec: Spec, command: str) -> str:
    """A flag's help: the row's text and "[env X; default Y]" from the row (``report`` reads
    no environment: no variable shown there)."""
    notes = [f"env {spec.env}"] if spec.env and command != REPORT else []
    if spec.choices:
        notes.insert(0, f"one of {', '.join(spec.choices)}")
    default = spec.default_text
    if default is None and spec.default is not None:
        if spec.kind is bool:
            default = "on" if spec.default else "off"
        elif isinstance(spec.default, float):
            default = f"{spec.default:g}"
        else:
            default = str(spec.default)
    if default is not None:
        notes.append(f"default {default}")
    text = spec.help
    if spec.key == "config":  # name what the file may not hold, from the table itself
        rows = [row for row in OPTION_TABLE if command in row.commands and row is not spec]
        outside = [f"--{row.key}" for row in rows if not row.file]
        text = f"{text}, in the flags' spelling; not {', '.join(outside)}"
    return f"{text} [{'; '.join(notes)}]" if notes else text


#: The config file's section of quarantine entries (``quarantine.py``): not an option.
QUARANTINE_KEY = "quarantine"
#: The Action's and the GitLab component's input names where they differ from the key.
INPUT_NAMES = {"name": "session-name"}
#: ``wait`` with no id reads CHECKLY_GATE_SESSION_ID (what ``run --detach --dotenv`` writes),
#: else the name the templates documented before, CHECKLY_SESSION_ID.
SESSION_ID_ENVS = ("CHECKLY_GATE_SESSION_ID", "CHECKLY_SESSION_ID")
RUN_SECRET_KEYS = frozenset({"env", "environment", "environment-variables", "variables"})
SECRET_KEYS = frozenset({"api-key", "apikey", "api_key", "checkly-api-key", "key", "token"})

MAX_SECONDS = 7 * 24 * 3600.0  # a week: anything longer is a typo, and keeps clocks finite

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
BOOLEAN_WORDS = "true or false (or 1/0, yes/no, on/off, any case)"


def parse_bool(text: str, where: str) -> bool:
    """The one reading of a yes/no value given as text (environment, Action and GitLab inputs,
    a quoted value in the config file): ``true/false/1/0/yes/no/on/off`` in any case, blanks
    around ignored. ``ConfigError`` naming ``where`` and the words otherwise."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{where}: expected {BOOLEAN_WORDS}, got {shown(text)}")


def check_choice(spec: Spec, value: str, where: str) -> str:
    """An enumerated value in the table's spelling; ``ConfigError`` naming the option and the
    allowed values otherwise (checked before any request)."""
    assert spec.choices is not None
    for choice in spec.choices:
        if value.strip().lower() == choice.lower():
            return choice
    raise ConfigError(
        f"{where}: expected one of {', '.join(spec.choices)}, got {shown(value.strip())}"
    )


@dataclass(frozen=True)
class Options:
    """Everything ``wait`` needs, validated."""

    session_ids: tuple[str, ...]
    api_key: str
    # Defaults are the table's (``SPECS``), declared there once.
    api_url: str = SPEC_BY_KEY["api-url"].default
    account_id: str | None = None
    timeout: float = SPEC_BY_KEY["timeout"].default
    poll_interval: float = SPEC_BY_KEY["poll-interval"].default  # widest gap between reads
    max_request_rate: float = SPEC_BY_KEY["max-request-rate"].default  # reads a minute, at most
    not_found_grace: float = SPEC_BY_KEY["not-found-grace"].default
    long_poll: bool = SPEC_BY_KEY["long-poll"].default
    json: Path | None = None
    junit: Path | None = None
    ctrf: Path | None = None
    summary: Path | None = None
    dotenv: Path | None = None
    fail_on_degraded: bool = SPEC_BY_KEY["fail-on-degraded"].default
    fail_on_flaky: bool = SPEC_BY_KEY["fail-on-flaky"].default
    details: bool = SPEC_BY_KEY["details"].default  # fetch error groups of failed results
    cancel_on_interrupt: bool = SPEC_BY_KEY["cancel-on-interrupt"].default
    allow_insecure_http: bool = SPEC_BY_KEY["allow-insecure-http"].default  # key over http://
    comment: bool = SPEC_BY_KEY["comment"].default
    comment_key: str | None = None  # None: the session's name
    status: bool = SPEC_BY_KEY["status"].default
    status_context: str = SPEC_BY_KEY["status-context"].default
    repository: str | None = None
    notify: list[str] | None = None  # webhook URLs (secrets)
    notify_on: str = SPEC_BY_KEY["notify-on"].default
    expect_commit: str = SPEC_BY_KEY["expect-commit"].default  # auto | off | a SHA (checked)
    expect_environment: str | None = None  # metadata.environment required of a given session
    shadow: bool = SPEC_BY_KEY["shadow"].default  # exit 0, say what the exit would have been
    fail_fast: bool = SPEC_BY_KEY["fail-fast"].default  # end at the first definite failure
    fail_on: str = SPEC_BY_KEY["fail-on"].default  # any | new (history labels)
    default_branch: str | None = None  # else the CI's (history.default_branch)
    cancel_on_fail: bool = SPEC_BY_KEY["cancel-on-fail"].default  # then cancel the sessions
    verbosity: int = 0  # -1 quiet, 0 normal, 1 verbose
    sources: dict[str, str] = field(default_factory=dict)  # option -> where its value came from
    run: dict[str, Any] = field(default_factory=dict)  # `run` options from the config file
    # The config file's ``quarantine:`` entries (``quarantine.Entry``; issue 21 §3).
    quarantine: tuple[Any, ...] = ()


class Written(float):
    """A number read from text (a flag, an environment value) that an error message echoes as
    the user wrote it: ``--timeout -1`` says ``got -1``, not ``got -1.0``. Raises ``ValueError``
    for text that is not a number, like ``float``."""

    text: str

    def __new__(cls, text: str) -> Written:
        number = super().__new__(cls, text)
        number.text = text.strip()
        return number

    def __repr__(self) -> str:
        return self.text


def shown(value: Any, limit: int = 60) -> str:
    """A value for an error message: ``repr`` (control characters escaped), capped."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _printable_ascii_position(value: str) -> int | None:
    """1-based position of the first character that is not printable ASCII (space excluded)."""
    for index, char in enumerate(value):
        if not "!" <= char <= "~":
            return index + 1
    return None


def check_api_key(value: str, where: str) -> str:
    """The API key as sent in ``Authorization: Bearer KEY``: printable ASCII without blanks.

    Surrounding whitespace (a pasted line break) is dropped. The error names the input and the
    position of the bad character, never the key.
    """
    key = value.strip()
    if not key:
        raise ConfigError(f"{where}: the API key is empty")
    position = _printable_ascii_position(key)
    if position is not None:
        raise ConfigError(
            f"{where}: the API key has a character that cannot be sent in an HTTP header at "
            f"position {position} (a line break, blank, invisible or non-ASCII character); "
            "copy the key again"
        )
    return key


def check_account_id(value: str, where: str) -> str:
    """The account id as sent in ``X-Checkly-Account``: printable ASCII without blanks."""
    if _printable_ascii_position(value) is not None:
        raise ConfigError(f"{where}: an account id is printable ASCII, got {shown(value)}")
    return value


def check_text(value: str, where: str) -> str:
    """Text sent to the API in JSON (tags, names, ``--env`` values): encodable as UTF-8 and
    without NUL. The value itself is not shown (it may be a secret)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{where}: not valid text (undecodable bytes)") from None
    if "\0" in value:
        raise ConfigError(f"{where}: contains a NUL character")
    return value


def _suggest(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _coerce(spec: Spec, value: Any, where: str) -> Any:
    """Check a value from the YAML file or a flag against the option's type (one checker per
    kind, ``_COERCE``); ``None`` stays ``None``."""
    if value is None:
        return None
    return _COERCE.get(spec.kind, _coerce_text)(spec, value, where)


def _coerce_bool(spec: Spec, value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        return parse_bool(value, where)
    raise ConfigError(f"{where}: expected {BOOLEAN_WORDS}, got {shown(value)}")


def _coerce_mapping(spec: Spec, value: Any, where: str) -> list[str]:
    """A mapping of NAME: value as ``NAME=value`` items (numbers written as text)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping of NAME: value, got {shown(value)}")
    pairs = []
    for name, text in value.items():
        if isinstance(text, (bool, int, float)) and not isinstance(text, bool):
            text = str(text)
        if not isinstance(name, str) or not isinstance(text, str):
            raise ConfigError(f"{where}: names and values are text, got {shown(name)}")
        pairs.append(f"{name}={text}")
    return pairs


def _coerce_int(spec: Spec, value: Any, where: str) -> int:
    if isinstance(value, NumberText):  # as written in the file: as a flag reads it
        return int(_from_env_text(spec, value, where))
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: expected a whole number, got {shown(value)}")
    if spec.minimum is not None and value < spec.minimum:
        raise ConfigError(f"{where}: must be at least {spec.minimum:g}, got {shown(value)}")
    return value


def _coerce_list(spec: Spec, value: Any, where: str) -> list[str]:
    """A string or a list of non-empty strings (a tag group may be a YAML list)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}: expected a string or a list of strings, got {shown(value)}")
    texts = []
    for item in items:
        if isinstance(item, list) and all(isinstance(i, str) for i in item):
            item = ",".join(item)  # a tag group written as a YAML list
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"{where}: expected non-empty strings, got {shown(item)}")
        texts.append(item.strip())
    return texts


def _coerce_seconds(spec: Spec, value: Any, where: str) -> float:
    """A number (of seconds, or a rate) from ``spec.minimum`` to ``MAX_SECONDS``."""
    if isinstance(value, NumberText):  # as written in the file: as a flag reads it
        return float(_from_env_text(spec, value, where))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: expected a number of seconds, got {shown(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if math.isnan(number) or (spec.minimum is not None and number < spec.minimum):
        raise ConfigError(f"{where}: must be at least {spec.minimum:g}, got {shown(value)}")
    if number > MAX_SECONDS:
        raise ConfigError(f"{where}: must be at most {MAX_SECONDS:g}, got {shown(value)}")
    return number


def _coerce_text(spec: Spec, value: Any, where: str) -> str:
    """Non-empty text, one of ``spec.choices`` when the row has them."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a non-empty string, got {shown(value)}")
    if spec.choices is not None:
        return check_choice(spec, value, where)
    return check_text(value.strip(), where)


_COERCE: dict[type, Any] = {
    bool: _coerce_bool,
    dict: _coerce_mapping,
    int: _coerce_int,
    list: _coerce_list,
    float: _coerce_seconds,
}


_TAG_GROUPS = re.compile(r"(?<![,\s])\s+(?![\s,])")  # blanks that touch no comma


def from_env_text(spec: Spec, text: str, where: str) -> Any:
    """An environment variable's text as the option's value (``None`` when blank): the
    same checks as a flag's or a config value's, one parser per kind."""
    return _from_env_text(spec, text, where)


def _from_env_text(spec: Spec, text: str, where: str) -> Any:
    """Environment values are text; turn them into the option's type."""
    if not text.strip():
        return None  # a blank variable is an unset one (an empty Action or GitLab input)
    if spec.kind is bool:
        return parse_bool(text, where)
    if spec.kind is int:
        try:
            whole = int(text.strip())
        except ValueError:
            raise ConfigError(f"{where}: expected a whole number, got {shown(text)}") from None
        return _coerce(spec, whole, where)
    if spec.kind is list:
        if spec.key == "tags":
            items = [g for line in text.splitlines() for g in _TAG_GROUPS.split(line.strip())]
        elif spec.key in ("env", "notify"):  # one per line (a URL may hold a comma)
            items = [line.strip() for line in text.splitlines()]
        else:
            items = re.split(r"[\s,]+", text)
        return _coerce(spec, [item for item in items if item.strip()], where)
    if spec.kind is dict:
        return [line.strip() for line in text.splitlines() if line.strip()]
    if spec.kind is float:
        try:
            number = Written(text)  # echoed as written in an error
        except ValueError:
            raise ConfigError(f"{where}: expected a number of seconds, got {shown(text)}") from None
        return _coerce(spec, number, where)
    if not text.strip():
        return None
    return _coerce(spec, text, where)


def load_config_file(path: Path) -> dict[str, Any]:
    """Read and check a YAML config file; keys come back in the CLI's spelling."""
    import yaml  # lazy: keeps `--version` fast

    from checkly_gate.files import UnreadableInput, read_bounded

    try:
        raw = read_bounded(path, CONFIG_MAX_BYTES, "config file")
    except UnreadableInput as exc:
        raise ConfigError(str(exc)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start + 1})") from None
    try:
        data = load_yaml(text, numbers_as_written=True)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{path}: invalid YAML{at}: {problem}") from None
    except (ValueError, OverflowError) as exc:  # a value YAML cannot build (date 2026-13-01)
        _quarantine(text, path)  # names the line when it is a quarantine entry's
        raise ConfigError(f"{path}: a value YAML cannot read: {shown(str(exc), 80)}") from None
    if data is None:
        return {}
    _refuse_duplicate_keys(text, path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of options, got {type(data).__name__}")
    values: dict[str, Any] = {}
    valid = [*SPEC_BY_KEY, *RUN_SPEC_BY_KEY]
    for raw_key, value in data.items():
        if not isinstance(raw_key, str):
            raise ConfigError(f"{path}: option names are text, got {shown(raw_key)}")
        key = fold_key(raw_key)
        if key == QUARANTINE_KEY:  # a section of its own, read with its lines (quarantine.py)
            values[key] = _quarantine(text, path)
            continue
        if key in SECRET_KEYS:
            raise ConfigError(
                f"{path}: '{raw_key}' must not be in a config file; set {API_KEY_ENV} instead"
            )
        if key in RUN_SECRET_KEYS:
            raise ConfigError(
                f"{path}: '{raw_key}' must not be in a config file: its values are secrets; "
                "pass --env KEY=VALUE (the Action's and the GitLab component's env input), or "
                "put values that are not secret under 'env-plain'"
            )
        spec = SPEC_BY_KEY.get(key) or RUN_SPEC_BY_KEY.get(key)
        if (spec is None or not spec.file) and key in TABLE_BY_KEY:  # the table's one rule
            raise ConfigError(
                f"{path}: '{raw_key}' is not a config file option; pass --{key} or set "
                f"{TABLE_BY_KEY[key].env}"
            )
        if spec is None:
            raise ConfigError(f"{path}: unknown key {shown(raw_key)}{_suggest(key, valid)}")
        values[key] = _coerce(spec, value, f"{path}: '{raw_key}'")
    return values


def _quarantine(text: str, path: Path) -> tuple[Any, ...]:
    """The ``quarantine:`` entries of the config file (``quarantine.Entry``), checked against
    today's UTC date; ``ConfigError`` naming the file and the line of a bad entry."""
    import datetime as dt

    from checkly_gate import quarantine

    try:
        return quarantine.parse_text(text, str(path), dt.datetime.now(dt.timezone.utc).date())
    except quarantine.QuarantineError as exc:
        raise ConfigError(str(exc)) from None


def fold_key(raw_key: str) -> str:
    """A config key in the CLI's spelling: blanks around dropped, ``_`` as ``-``, lower case."""
    return raw_key.strip().replace("_", "-").lower()


def _refuse_duplicate_keys(text: str, path: Path) -> None:
    """A config file means one thing: two keys naming the same option (``fail-on-flaky`` and
    ``fail_on_flaky``, or one key twice, which YAML loaders silently resolve to the last) are
    a ``ConfigError`` naming both lines. Nested mappings (``env-plain``) are checked for exact
    repeats. The text has already loaded, so composing it cannot fail."""
    import yaml

    def walk(node: Any, top: bool) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, tuple[str, int]] = {}
            for key_node, value_node in node.value:
                raw = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if isinstance(raw, str):
                    folded = fold_key(raw) if top else raw
                    line = key_node.start_mark.line + 1
                    if folded in seen:
                        first, first_line = seen[folded]
                        raise ConfigError(
                            f"{path}: '{first}' (line {first_line}) and '{raw}' (line {line}) "
                            "set the same option; keep one"
                        )
                    seen[folded] = (raw, line)
                walk(value_node, False)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item, False)

    walk(yaml.compose(text, Loader=_no_aliases_loader()), True)


class NumberText(str):
    """A plain config-file scalar YAML 1.1 would read as a number, kept as written."""


#: Plain scalars that read as a decimal number (`08`, `1e3`, `5.`) that YAML 1.1 leaves strings.
_DECIMAL = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9_]+)?$")


def _no_aliases_loader(numbers_as_written: bool = False) -> type:
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        """A safe loader that refuses aliases: a config file needs none, and aliases are how a
        few lines of YAML expand to gigabytes ("billion laughs")."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, "aliases (*name) are not allowed", event.start_mark
                )
            return super().compose_node(parent, index)

    if numbers_as_written:
        # YAML 1.1 reads `010` as 8, `0x10` as 16, `1:30` as 90 and leaves `1e3` a string;
        # a flag or a variable reads the same words as 10, an error, an error and 1000. A plain
        # scalar YAML would read as a number stays the text written (``NumberText``), and the
        # option's own parser reads it (``_coerce``); a quoted one stays a string.
        for tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
            NoAliasLoader.add_constructor(tag, lambda _loader, node: NumberText(node.value))
        NoAliasLoader.add_implicit_resolver(
            "tag:yaml.org,2002:float", _DECIMAL, list("-+.0123456789")
        )
    return NoAliasLoader


def load_yaml(text: str, numbers_as_written: bool = False) -> Any:
    """Untrusted YAML (config and scenario files) the safe way: the safe loader without
    aliases; nesting too deep for the parser raises ``yaml.YAMLError`` like any other mistake.
    ``numbers_as_written``: plain scalars that YAML would read as numbers stay strings (the
    config file: its options read numbers exactly as a flag does)."""
    import yaml

    try:
        loader = _no_aliases_loader(numbers_as_written)
        return yaml.load(text, Loader=loader)  # a SafeLoader subclass
    except RecursionError:
        raise yaml.MarkedYAMLError(problem="nested too deeply") from None


def parse_session_id(text: str) -> str:
    """A session id in canonical form; anything but a UUID is refused."""
    try:
        return str(uuid.UUID(text.strip()))
    except (ValueError, AttributeError):
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ConfigError(f"session id {shown!r} is not a UUID") from None


def check_url(url: str, where: str) -> str:
    """An http(s) base URL httpx can use: a valid host (labels of 1-63 characters, 253 in all),
    a port 1-65535, no credentials, query or fragment. The error shows the URL (capped)."""
    import urllib.parse

    import httpx

    bad = f"{where}: expected an http(s) URL like https://api.checklyhq.com, got {shown(url)}"
    if any(not ch.isprintable() or ch.isspace() for ch in url):
        raise ConfigError(bad)
    try:
        parsed = urllib.parse.urlsplit(url)
    except ValueError:
        raise ConfigError(bad) from None
    try:
        port = parsed.port
    except ValueError:  # out of range or not a number: say it is the port
        text = shown(parsed.netloc.rpartition(":")[2])
        raise ConfigError(f"{where}: port must be a number 1..65535, got {text}") from None
    try:
        host = httpx.URL(url).host
    except (ValueError, httpx.InvalidURL):  # UnicodeError (IDNA) is a ValueError
        raise ConfigError(bad) from None
    if parsed.scheme not in ("http", "https") or not host:
        raise ConfigError(bad)
    if "@" in parsed.netloc:
        raise ConfigError(f"{where}: a URL with credentials is not allowed; use the API key")
    if parsed.query or parsed.fragment:
        raise ConfigError(f"{where}: a base URL has no query or fragment, got {shown(url)}")
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"{where}: port must be 1..65535, got {port}")
    if not host.startswith("["):
        labels = host.rstrip(".").split(".")
        if len(host) > 253 or any(not 1 <= len(label) <= 63 for label in labels):
            raise ConfigError(f"{where}: not a valid host name, got {shown(host)}")
    segments = [part.lower() for part in parsed.path.split("/") if part]
    if "v1" in segments or "v2" in segments:  # every path the gate asks for starts with /v1, /v2
        raise ConfigError(
            f"{where}: give the API's base URL without the /v1 or /v2 path "
            f"(like https://api.checklyhq.com), got {shown(url)}"
        )
    return url.rstrip("/")


def _key_stays_private(api_url: str) -> bool:
    """Whether the key sent to ``api_url`` is protected: https://, or http:// to the loopback
    (``localhost``, ``127.0.0.0/8``, ``::1``: the simulator, a local tunnel) where it never
    crosses a network."""
    import ipaddress
    import urllib.parse

    parts = urllib.parse.urlsplit(api_url)
    if parts.scheme.lower() != "http":
        return True
    host = (parts.hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: The options that say where a report goes: one per row of ``reports.formats.FORMATS``.
OUTPUT_KEYS = tuple(spec.key for spec in _format_specs())


def output_paths(
    flags: Mapping[str, str | None],
    env: Mapping[str, str],
    cwd: Path,
    config_path: str | None = None,
) -> dict[str, Path | None]:
    """Where the reports go, parsed leniently: each of ``OUTPUT_KEYS`` from the flag, else the
    environment, else the config file if it parses; an unusable value is skipped. Used to write
    the reports of a usage error, when ``resolve`` has refused the options as a whole."""
    from_file: dict[str, Any] = {}
    path = Path(config_path) if config_path else cwd / DEFAULT_CONFIG_FILE
    if config_path or path.is_file():
        try:
            from_file = load_config_file(path if path.is_absolute() else cwd / path)
        except (ConfigError, OSError, ValueError):
            from_file = {}
    paths: dict[str, Path | None] = {}
    for key in OUTPUT_KEYS:
        spec = SPEC_BY_KEY[key]
        value = flags.get(key) or (env.get(spec.env) if spec.env else None) or from_file.get(key)
        try:
            text = check_text(value.strip(), key) if isinstance(value, str) else ""
        except ConfigError:
            text = ""
        paths[key] = (cwd / text) if text else None
    return paths


def where(key: str, sources: Mapping[str, str]) -> str:
    """How to name an option in an error: its flag, variable or file key, as it was given."""
    return _where(key, sources)


def _where(key: str, sources: Mapping[str, str]) -> str:
    """How to name an option in an error: its flag, variable or file key, as it was given."""
    source = sources.get(key, "default")
    if source == "flag":
        return f"--{key}"
    if source.startswith("env "):
        return source[4:]
    if source.startswith("file "):
        return f"{source[5:]}: '{key}'"
    return key


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
    """Merge defaults < file < env < flags and validate. ``flags`` holds only given flags.
    ``ConfigError`` (one line naming the flag, variable or file key) on any mistake."""
    values, sources = _layered(_config_file(config_path, env, cwd), env, flags)
    run_values = {key: values.pop(key) for key in list(values) if key in RUN_SPEC_BY_KEY}
    quarantined = tuple(values.pop(QUARANTINE_KEY, ()))
    api_key = _api_key(api_key_flag, env)
    if values["account-id"] is not None:
        check_account_id(values["account-id"], _where("account-id", sources))
    api_url = _checked_api_url(values, sources, env)
    if require_sessions and not session_ids:
        raise ConfigError("no session id given")
    ids = tuple(dict.fromkeys(parse_session_id(s) for s in session_ids))
    fields: dict[str, Any] = {
        spec.key.replace("-", "_"): values[spec.key] for spec in SPECS if spec.key != "api-url"
    }
    for key in OUTPUT_KEYS:  # paths relative to the working directory
        fields[key] = None if values[key] is None else cwd / Path(values[key])
    _check_expect(fields, sources)
    return Options(
        session_ids=ids,
        api_key=api_key,
        api_url=api_url,
        verbosity=verbosity,
        sources=sources,
        run=run_values,
        quarantine=quarantined,
        **fields,
    )


def _check_expect(fields: dict[str, Any], sources: Mapping[str, str]) -> None:
    """``--expect-commit`` (auto | off | a SHA, kept in its canonical spelling) and
    ``--expect-environment`` checked before any request: ``ConfigError`` naming where the value
    came from."""
    from checkly_gate import deploy

    try:
        expect = deploy.parse_expect_commit(
            fields["expect_commit"], _where("expect-commit", sources)
        )
        fields["expect_commit"] = expect.sha or expect.mode
        fields["expect_environment"] = (
            deploy.parse_expect_environment(
                fields["expect_environment"], _where("expect-environment", sources)
            )
            or None
        )
    except deploy.ExpectError as exc:
        raise ConfigError(str(exc)) from None


def _config_file(config_path: str | None, env: Mapping[str, str], cwd: Path) -> Path | None:
    """The config file to read: ``--config``, else ``CHECKLY_GATE_CONFIG``, else
    ``./checkly-gate.yml`` if it exists (relative paths from ``cwd``)."""
    if not config_path and env.get("CHECKLY_GATE_CONFIG", "").strip():
        config_path = env["CHECKLY_GATE_CONFIG"].strip()
    if config_path:
        return cwd / Path(config_path)  # an absolute path stays itself
    if (cwd / DEFAULT_CONFIG_FILE).is_file():
        return cwd / DEFAULT_CONFIG_FILE
    return None


def _layered(
    path: Path | None, env: Mapping[str, str], flags: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Every option's value (``SPECS`` and ``RUN_SPECS`` keys) and where it came from:
    defaults < config file < environment < flags (``run``'s own flags are read later)."""
    values: dict[str, Any] = {spec.key: spec.default for spec in SPECS}
    sources = dict.fromkeys(values, "default")
    if path is not None:
        for key, value in load_config_file(path).items():
            values[key], sources[key] = value, f"file {path.name}"
    for spec in (*SPECS, *RUN_SPECS):
        if spec.env and env.get(spec.env) not in (None, ""):
            value = _from_env_text(spec, env[spec.env], spec.env)
            if value is not None:  # a blank variable is an unset one
                values[spec.key], sources[spec.key] = value, f"env {spec.env}"
    for key, value in flags.items():
        if value is not None:
            values[key] = _coerce(SPEC_BY_KEY[key], value, f"--{key}")
            sources[key] = "flag"
    return values, sources


def _api_key(api_key_flag: str | None, env: Mapping[str, str]) -> str:
    """The API key from ``--api-key``, else ``CHECKLY_API_KEY``, checked (never shown)."""
    api_key = api_key_flag if api_key_flag is not None else env.get(API_KEY_ENV)
    if not api_key or not api_key.strip():
        raise ConfigError(f"no API key: set {API_KEY_ENV} (recommended) or pass --api-key")
    return check_api_key(api_key, "--api-key" if api_key_flag is not None else API_KEY_ENV)


def _checked_api_url(
    values: Mapping[str, Any], sources: Mapping[str, str], env: Mapping[str, str]
) -> str:
    """The API URL, once it is known the key stays private on the way there, and the proxy and
    TLS settings that apply to it are usable."""
    api_url = check_url(values["api-url"], _where("api-url", sources))
    if not values["allow-insecure-http"] and not _key_stays_private(api_url):
        raise ConfigError(
            f"{_where('api-url', sources)}: http:// to a host that is not this machine would "
            "send the API key in clear; use https://, or pass --allow-insecure-http "
            "(CHECKLY_GATE_ALLOW_INSECURE_HTTP=true) if you mean it"
        )
    try:
        proxy_for(api_url, env)  # only the proxy that applies to the API host must be usable
    except ProxyError as exc:
        raise ConfigError(str(exc)) from None
    # Imported here, not at the top: the option table is read while the command line is
    # parsed, and --version or a usage error must not load ssl and certifi.
    from checkly_gate import tls

    if tls.applies(api_url):  # TLS settings a plain http:// API never uses cannot stop it
        try:
            tls.ssl_context(env)
        except tls.TlsSetupError as exc:
            raise ConfigError(str(exc)) from None
    return api_url

"""The options of ``wait`` and ``run`` from their parsed command line: flags over the
environment over the config file, resolved and validated by ``config.resolve``; and what
``wait --commit`` looks for (``parse_options``: the commit, branch, provider and environment,
from flags or their variables) as ``commit.DiscoveryOptions``."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from checkly_gate.ci import COMMIT_VARIABLES, run_commits
from checkly_gate.commands.commit import DiscoveryOptions
from checkly_gate.config import (
    DISCOVERY_SPECS,
    SPECS,
    TABLE_BY_KEY,
    ConfigError,
    Options,
    check_choice,
    from_env_text,
    resolve,
)
from checkly_gate.text import one_line

AUTO = "auto"  # --commit auto: the commits the CI names for this run
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")


def flags(args: argparse.Namespace) -> dict[str, Any]:
    """The options given as flags (``None``: not given), by their config key."""
    return {
        spec.key: getattr(args, spec.key.replace("-", "_"))
        for spec in SPECS
        # a repeatable flag never given is an empty list: not given
        if getattr(args, spec.key.replace("-", "_"), None) not in (None, [])
    }


def resolve_options(
    args: argparse.Namespace, env: Mapping[str, str], session_ids: list[str], require_sessions: bool
) -> Options:
    """The validated options of ``wait`` or ``run`` (flags over env over the config file)."""
    return resolve(
        session_ids,
        flags(args),
        dict(env),
        Path.cwd(),
        config_path=args.config,
        api_key_flag=args.api_key,
        verbosity=-1 if args.quiet else (1 if args.verbose else 0),
        require_sessions=require_sessions,
    )


def resolve_commits(value: str, env: Mapping[str, str]) -> tuple[str, ...]:
    """The commit SHAs ``--commit`` stands for: the value itself, or with ``auto`` every commit
    the CI names for this run, the deployed (head) one first (``ci.run_commits``: a pull
    request's head and merge commits). Lower-case hex, 7 to 64 digits; ``ConfigError``
    (naming the variable) otherwise."""
    text = value.strip()
    if text.lower() != AUTO:
        return (_checked(text, "--commit"),)
    found = run_commits(env)
    if not found:
        raise ConfigError(
            "--commit auto: no commit in the environment "
            f"(looked at {', '.join(COMMIT_VARIABLES)} and the CI's pull request variables); "
            "pass the SHA"
        )
    return tuple(dict.fromkeys(_checked(c.sha, f"--commit auto ({c.source})") for c in found))


def resolve_commit(value: str, env: Mapping[str, str]) -> str:
    """The deployed commit of ``resolve_commits``: the first."""
    return resolve_commits(value, env)[0]


def _checked(text: str, where: str) -> str:
    if not _SHA.match(text):
        shown = one_line(text if len(text) <= 60 else text[:57] + "...", 80)
        raise ConfigError(f"{where}: expected a commit SHA of 7 to 64 hex digits, got {shown!r}")
    return text.lower()


#: Environment variables read when neither the flag nor a session id is given (so the GitHub
#: Action and the GitLab templates pass an input with one environment line); declared once in
#: ``config.OPTION_TABLE``.
ENV = {spec.key: spec.env for spec in DISCOVERY_SPECS if spec.env}


def _from_env(env: Mapping[str, str], key: str) -> Any:
    """The option's value from its variable, parsed as the table says (``None`` when unset)."""
    name = ENV[key]
    return from_env_text(TABLE_BY_KEY[key], env.get(name, ""), name)


def parse_options(
    commit: str | None,
    branch: str | None,
    provider: str | None,
    environment: str | None,
    discover_timeout: float | None,
    fail_on_no_session: bool | None,
    env: Mapping[str, str],
    use_env: bool = True,
) -> DiscoveryOptions | None:
    """Discovery options from the flags, else (``use_env``) from ``ENV``; ``None`` when none
    is given at all. ``ConfigError`` (one line, exit 2) for a bad SHA, provider or timeout."""
    flags = (discover_timeout, fail_on_no_session)
    if use_env:
        commit = commit if commit is not None else _from_env(env, "commit")
        branch = branch if branch is not None else _from_env(env, "branch")
        provider = provider if provider is not None else _from_env(env, "provider")
        environment = environment if environment is not None else _from_env(env, "environment")
        if discover_timeout is None:
            discover_timeout = _from_env(env, "discover-timeout")
        if fail_on_no_session is None:
            fail_on_no_session = _from_env(env, "fail-on-no-session")
        if all(v is None for v in (commit, branch, provider, environment)):
            discover_timeout, fail_on_no_session = flags  # the environment's are for --commit
    given = (commit, branch, provider, environment)
    if all(v is None for v in given):
        if discover_timeout is not None or fail_on_no_session is not None:
            raise ConfigError("--discover-timeout and --[no-]fail-on-no-session need --commit")
        return None
    values: dict[str, Any] = {}
    if commit is not None:
        values["commit"], *others = resolve_commits(commit, env)
        values["other_commits"] = tuple(others)
    for key, value in (("branch", branch), ("environment", environment)):
        if value is not None:
            if not value.strip():
                raise ConfigError(f"--{key} must not be empty")
            values[key] = value.strip()
    if provider is not None:
        values["provider"] = check_choice(TABLE_BY_KEY["provider"], provider, "--provider")
    if discover_timeout is not None:
        if not discover_timeout >= 0 or discover_timeout == float("inf"):
            raise ConfigError(f"--discover-timeout must be at least 0, got {discover_timeout:g}")
        values["discover_timeout"] = float(discover_timeout)
    if fail_on_no_session is not None:
        values["fail_on_no_session"] = fail_on_no_session
    return DiscoveryOptions(**values)

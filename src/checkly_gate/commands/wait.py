"""``wait``: the sessions given by id (``SESSION_ID...``, ``--check-session ID``, or the ids an
earlier job handed over in ``CHECKLY_GATE_SESSION_ID``), or with ``--commit``/``--branch`` the
sessions discovery finds (``commit``); then the engine (``gate.wait``)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from typing import TextIO

from checkly_gate import deploy, gate
from checkly_gate.commands import commit
from checkly_gate.commands.options import ENV, parse_options, resolve_options
from checkly_gate.config import SESSION_ID_ENVS, ConfigError, parse_session_id
from checkly_gate.context import open_command, setup_logging
from checkly_gate.redact import Secrets
from checkly_gate.streams import use_colour


def main(
    args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO, secrets: Secrets
) -> int:
    """``checkly-gate wait``: resolve what to wait for, then wait; returns the exit code."""
    given = bool(args.session_ids or args.check_session)
    if not given and not _searching(args, env):
        handed_over = _handed_over(env)
        if handed_over:
            args.session_ids, given = handed_over, True
    discovery = parse_options(
        args.commit,
        args.branch,
        args.provider,
        args.environment,
        args.discover_timeout,
        args.fail_on_no_session,
        env,
        use_env=not given,
    )
    if discovery is None and not given:
        raise ConfigError(_no_session_id(env))
    if discovery is not None and given:
        raise ConfigError("give session ids or --commit/--branch, not both")
    options = resolve_options(
        args, env, args.session_ids, require_sessions=not (discovery or given)
    )
    checks = list(dict.fromkeys(parse_session_id(i) for i in args.check_session))
    refs = gate.test_sessions(options.session_ids) + gate.check_sessions(checks)
    setup_logging(err, options.verbosity)
    with open_command(options, out, env, secrets, colour=use_colour(out, env)) as ctx:
        if discovery is not None:
            return commit.find_and_wait(ctx, discovery)
        return gate.wait(ctx, refs, got=deploy.GIVEN).verdict.exit_code
    raise AssertionError("unreachable")  # pragma: no cover (for type checkers)


def _searching(args: argparse.Namespace, env: Mapping[str, str]) -> bool:
    """Whether a commit, branch, provider or environment to look for is asked, by flag or
    variable."""
    flagged = (args.commit, args.branch, args.provider, args.environment)
    keys = ("commit", "branch", "provider", "environment")
    return any(v is not None for v in flagged) or any(env.get(ENV[key], "").strip() for key in keys)


def _no_session_id(env: Mapping[str, str]) -> str:
    """The usage error of a ``wait`` given nothing to wait for, naming the variable a bare
    ``wait`` reads; when an earlier job handed over an empty one (its ``run --detach`` started
    no session, e.g. no check matched), saying so, not only that an argument is missing."""
    empty = [name for name in SESSION_ID_ENVS if name in env and not env[name].strip()]
    if empty:
        return (
            f"SESSION_ID is required: {empty[0]} is empty (the earlier job started no "
            "session; see its CHECKLY_GATE_STATUS)"
        )
    return (
        f"SESSION_ID is required (an argument, or {SESSION_ID_ENVS[0]} as run --detach "
        "--dotenv writes it; or --commit [SHA] to find the sessions of a commit, "
        "or --check-session ID)"
    )


def _handed_over(env: Mapping[str, str]) -> list[str]:
    """A bare ``wait``: the ids the job before handed over (``run --detach --dotenv`` writes
    CHECKLY_GATE_SESSION_ID; CHECKLY_SESSION_ID is the older documented name). A commit asked
    for by flag or variable wins over an id inherited from an earlier job."""
    for name in SESSION_ID_ENVS:
        text = env.get(name, "")
        if text.strip():
            return [i for i in re.split(r"[\s,]+", text) if i]
    return []

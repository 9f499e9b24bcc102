"""What to start with ``checkly-gate run``: the trigger request body and its CI metadata.

Pure: flags and environment in, the JSON body of ``POST /v1/test-sessions/trigger`` out.
Metadata is taken from Checkly's own variables first (users of Checkly's CLI already set them),
then from the CI system that runs us, so sessions link back to the commit that was deployed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checkly_gate.config import ConfigError

MAX_ENV_VARS = 50
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class TriggerOptions:
    """The flags of ``run`` that choose what to start."""

    tag_groups: tuple[tuple[str, ...], ...] = ()
    check_ids: tuple[str, ...] = ()
    location: str | None = None
    name: str | None = None
    env_vars: tuple[tuple[str, str], ...] = ()  # --env: sent as secrets
    retries: int | None = None
    detach: bool = False
    fail_on_no_matching: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)
    plain_env_vars: tuple[tuple[str, str], ...] = ()  # --env-plain: shown in Checkly's UI
    check_sessions: bool = False


# What ``run --check-sessions`` cannot honour (check sessions take tags and check ids only):
# refused from any source, flag, environment or config file alike.
CHECK_SESSION_CONFLICTS = ("detach", "env", "env-plain", "retries", "location", "name")


def run_options(
    flags: Mapping[str, Any],
    file: Mapping[str, Any],
    sources: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> TriggerOptions:
    """``run``'s options from its flags (argparse names: ``tags``, ``check_id``, ``env``, ...;
    an unset flag is ``None`` or empty) over ``file``: the values ``config.resolve`` read from
    the environment and the config file (``Options.run``, keys in the flags' spelling; where
    each came from in ``sources``, ``Options.sources``). ``--env`` comes from flags, else
    CHECKLY_GATE_ENV in ``env`` (never a file: its values are secrets).

    The rules between options hold whatever their source. Raises ``ConfigError`` naming the
    flag, variable or key for a malformed value or a conflict.
    """
    sources = dict(sources or {})
    merged = _merged(flags, file, sources, env or {})
    _check_rules(merged, sources)
    secrets = parse_env_vars(merged["env"])
    plain = parse_env_vars(merged.get("env_plain") or [], flag="--env-plain")
    for key in {k for k, _ in secrets} & {k for k, _ in plain}:
        raise ConfigError(f"--env {key} and --env-plain {key}: give each variable once")
    if len(secrets) + len(plain) > MAX_ENV_VARS:
        raise ConfigError(f"--env: at most {MAX_ENV_VARS} variables, got more")
    no_matching = merged.get("fail_on_no_matching")
    return TriggerOptions(
        tag_groups=parse_tags(merged.get("tags") or []),
        check_ids=parse_check_ids(merged.get("check_id") or []),
        location=merged.get("location"),
        name=merged.get("name"),
        env_vars=secrets,
        plain_env_vars=plain,
        retries=merged.get("retries"),
        detach=bool(merged.get("detach")),
        fail_on_no_matching=True if no_matching is None else bool(no_matching),
        check_sessions=bool(merged.get("check_sessions")),
    )


def _merged(
    flags: Mapping[str, Any],
    file: Mapping[str, Any],
    sources: dict[str, str],
    env: Mapping[str, str],
) -> dict[str, Any]:
    """Given flags over ``file``'s values (argparse names), ``env`` (the secret ``--env``
    values) from the flags, else CHECKLY_GATE_ENV; ``sources`` updated with what came from
    where."""
    from checkly_gate.config import TABLE_BY_KEY, from_env_text

    merged = {key.replace("-", "_"): value for key, value in file.items()}
    for key, value in flags.items():
        given = value is not None and value != [] and value is not False
        if given:
            sources[key.replace("_", "-")] = "flag"
        if given or key not in merged:
            merged[key] = value
    secret_env = list(flags.get("env") or [])
    if secret_env:
        sources["env"] = "flag"
    elif env.get("CHECKLY_GATE_ENV", "").strip():
        spec = TABLE_BY_KEY["env"]
        secret_env = from_env_text(spec, env["CHECKLY_GATE_ENV"], "CHECKLY_GATE_ENV") or []
        sources["env"] = "env CHECKLY_GATE_ENV"
    merged["env"] = secret_env
    return merged


def _check_rules(merged: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    """The rules between ``run``'s options, whatever their source: retries 0..10; check
    sessions take tags and check ids only. ``ConfigError`` naming the flag, variable or key."""
    from checkly_gate.config import where

    retries = merged.get("retries")
    if retries is not None and not 0 <= retries <= 10:
        raise ConfigError(f"{where('retries', sources)} must be 0..10, got {retries}")
    if merged.get("check_sessions"):
        given = [
            where(key, sources)
            for key in CHECK_SESSION_CONFLICTS
            if merged.get(key.replace("-", "_")) not in (None, False, [], ())
        ]
        if given:
            raise ConfigError(
                f"{where('check-sessions', sources)} takes tags and check ids only, not "
                + ", ".join(given)
            )


def parse_tags(values: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """Each ``--tags A,B`` is one AND-group; several groups are ORed (Checkly's matchTags)."""
    groups = []
    for value in values:
        tags = tuple(t.strip() for t in value.split(",") if t.strip())
        if not tags:
            raise ConfigError(f"--tags {value!r}: expected comma-separated tag names")
        groups.append(tags)
    return tuple(groups)


def parse_env_vars(values: Sequence[str], flag: str = "--env") -> tuple[tuple[str, str], ...]:
    """``KEY=VALUE`` pairs for the session; the value is never echoed in an error."""
    pairs: dict[str, str] = {}
    for index, value in enumerate(values, 1):
        key, sep, text = value.partition("=")
        key = key.strip()
        if not sep:  # no "=": the argument may be the value alone (`--env "$TOKEN"`): not shown
            raise ConfigError(f"{flag} #{index}: expected KEY=VALUE, got no '=' (not shown)")
        if not _ENV_KEY.match(key):
            raise ConfigError(f"{flag} {key or '?'}=…: expected KEY=VALUE, KEY a variable name")
        if not text:
            raise ConfigError(f"{flag} {key}: the value is empty")
        pairs[key] = text
    if len(pairs) > MAX_ENV_VARS:
        raise ConfigError(f"{flag}: at most {MAX_ENV_VARS} variables, got {len(pairs)}")
    return tuple(pairs.items())


def parse_check_ids(values: Sequence[str]) -> tuple[str, ...]:
    ids = []
    for value in values:
        try:
            ids.append(str(uuid.UUID(value.strip())))
        except ValueError:
            raise ConfigError(f"--check-id {value!r} is not a UUID") from None
    return tuple(dict.fromkeys(ids))


def _first(env: Mapping[str, str], *names: str) -> str | None:
    """The first of ``names`` set and not blank, as one clean line (``ci.base.env_text``)."""
    from checkly_gate.ci.base import first

    return first(env, *names)


#: Checkly's own variables for the metadata; each wins over the CI system's value.
CHECKLY_METADATA = {
    "environment": "CHECKLY_TEST_ENVIRONMENT",
    "repoUrl": "CHECKLY_REPO_URL",
    "commitId": "CHECKLY_REPO_SHA",
    "branchName": "CHECKLY_REPO_BRANCH",
    "commitOwner": "CHECKLY_REPO_COMMIT_OWNER",
    "commitMessage": "CHECKLY_REPO_COMMIT_MESSAGE",
}


def ci_metadata(env: Mapping[str, str]) -> dict[str, Any]:
    """Session metadata from Checkly's variables (``CHECKLY_METADATA``), then the detected CI
    system's ``metadata(env)`` (``ci.SYSTEMS``): its build page goes under
    ``metadata[<system>].buildUrl``, a mapping of its own (GitHub's run) under
    ``metadata[<system>]``.

    Every value is read through ``ci.base.env_text`` (one clean line: undecodable bytes,
    control characters and CI log markers never reach the request) and every URL through
    ``ci.base.safe_url`` (no userinfo, no credential-bearing query). ``commitId`` is the
    commit deployed: on a pull request its head commit (the system's ``commits``), not the merge
    commit the CI runs on."""
    from checkly_gate.ci import system
    from checkly_gate.ci.base import safe_url

    found = system(env)
    own = found.metadata(env) if found is not None else {}
    metadata: dict[str, Any] = {}
    for key, name in CHECKLY_METADATA.items():
        value = _first(env, name)
        value = (safe_url(value) if key == "repoUrl" else value) or own.get(key)
        if value:
            metadata[key] = value
    if found is not None and own.get("buildUrl"):
        metadata[found.NAME] = {"buildUrl": own["buildUrl"]}
    if found is not None and isinstance(own.get(found.NAME), dict):
        metadata[found.NAME] = own[found.NAME]
    return metadata


def default_name(env: Mapping[str, str]) -> str:
    """A session name people recognise in Checkly's UI: the repository (the path of the CI
    system's ``repoUrl``: https://host/org/repo -> org/repo) and branch if known."""
    from checkly_gate.ci import system

    found = system(env)
    own = found.metadata(env) if found is not None else {}
    repo = "/".join(str(own.get("repoUrl") or "").split("/")[3:])
    branch = own.get("branchName")
    if repo and branch:
        return f"checkly-gate: {repo}@{branch}"
    return "checkly-gate"


def request_body(options: TriggerOptions, env: Mapping[str, str]) -> dict[str, Any]:
    """The JSON body of ``POST /v1/test-sessions/trigger``."""
    target: dict[str, Any] = {}
    if options.tag_groups:
        target["matchTags"] = [list(group) for group in options.tag_groups]
    if options.check_ids:
        target["checkId"] = list(options.check_ids)
    body: dict[str, Any] = {
        "name": options.name or default_name(env),
        "runLocation": options.location or "eu-west-1",
        "target": target,
        "metadata": {**ci_metadata(env), **options.metadata},
    }
    if options.env_vars or options.plain_env_vars:
        # --env values are secrets in Checkly (hidden on the result pages); --env-plain not.
        body["environmentVariables"] = [
            *({"key": k, "value": v, "secret": True} for k, v in options.env_vars),
            *({"key": k, "value": v, "secret": False} for k, v in options.plain_env_vars),
        ]
    if options.retries is not None:
        body["retryStrategy"] = (
            None
            if options.retries == 0
            else {
                "type": "FIXED",
                "maxRetries": options.retries,
                "baseBackoffSeconds": 0,
                "sameRegion": True,
            }
        )
    return body

"""One table of options (``config.OPTION_TABLE``) for the CLI, the config file, the environment,
the GitHub Action and the GitLab component; one rule set whatever the source (issue 17.3, 17.7,
17.8, 17.9; 18.7; 19.7)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkly_gate.config import (
    OPTION_TABLE,
    RUN_SPECS,
    SPECS,
    TABLE_BY_KEY,
    ConfigError,
    load_config_file,
    parse_bool,
    resolve,
)
from checkly_gate.simulator import Simulator, load_scenario
from checkly_gate.trigger import run_options
from tests.tools import clean_env

ROOT = Path(__file__).resolve().parents[1]
KEY = "cu_table_" + "k3y" * 6
SID = "3f1c0b4e-8f3a-4b7e-9a53-2f6f7c1d9e10"
CID = "8a7e2c1d-1b2c-4d3e-9f00-112233445566"
SPEC_FILE = Path("/work/shared/checkly-api/checkly-public-api-test-sessions.json")


def gate(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-m", "checkly_gate", *args],
        env={**clean_env(), "CHECKLY_API_KEY": KEY, "NO_COLOR": "1", **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


# ---------------------------------------------------------------- one value, any source

# A valid value per option of the table that `resolve` and `run_options` read, as text (flag
# and environment) and as YAML (config file).
SAMPLES: dict[str, tuple[str, Any]] = {
    "api-url": ("http://127.0.0.1:9", "http://127.0.0.1:9"),
    "account-id": ("acc-1", "acc-1"),
    "timeout": ("42.5", 42.5),
    "poll-interval": ("3", 3),
    "not-found-grace": ("7", 7),
    "json": ("out/g.json", "out/g.json"),
    "junit": ("/dev/stdout", "/dev/stdout"),
    "summary": ("s.md", "s.md"),
    "dotenv": ("g.env", "g.env"),
    "location": ("us-east-1", "us-east-1"),
    "name": ("deploy 42", "deploy 42"),
    "retries": ("3", 3),
    "check-id": (CID, [CID]),
    "tags": ("web,critical", ["web,critical"]),
}
BOOLEAN_TEXT = ["true", "FALSE", "1", "0", "Yes", "no", "ON", "off"]


def _options_from(key: str, source: str, text: str, value: Any, tmp: Path) -> Any:
    spec = TABLE_BY_KEY[key]
    flags: dict[str, Any] = {}
    env = {"CHECKLY_API_KEY": KEY}
    config = None
    if source == "flag":
        if spec.kind is bool:
            flags[key] = parse_bool(text, "test")  # argparse gives --flag / --no-flag
        elif spec.kind is float:
            flags[key] = float(text)
        elif spec.kind is int:
            flags[key] = int(text)
        elif spec.kind is list:
            flags[key] = [text]
        else:
            flags[key] = text
    elif source == "env":
        assert spec.env
        env[spec.env] = text
    else:
        config = tmp / "c.yml"
        config.write_text(yaml.safe_dump({key: value}), encoding="utf-8")
    wait_flags = {k: v for k, v in flags.items() if k in {s.key for s in SPECS}}
    options = resolve([], wait_flags, env, tmp, str(config) if config else None, None, 0, False)
    run_flags = {k.replace("-", "_"): v for k, v in flags.items() if k not in wait_flags}
    trigger = run_options(run_flags, options.run, options.sources, env)
    plain = {k: v for k, v in vars(options).items() if k not in ("sources", "run")}
    return plain, trigger


TABLE_VALUES = st.one_of(
    st.sampled_from(sorted(SAMPLES)).map(lambda k: (k, *SAMPLES[k])),
    st.tuples(
        st.sampled_from([s.key for s in (*SPECS, *RUN_SPECS) if s.kind is bool]),
        st.sampled_from(BOOLEAN_TEXT),
    ).map(lambda kv: (kv[0], kv[1], parse_bool(kv[1], "test"))),
)


@settings(
    deadline=None, max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(TABLE_VALUES)
def test_flag_env_and_file_give_the_same_options(
    tmp_path: Path, case: tuple[str, str, Any]
) -> None:
    """For every option of the table: its flag, its variable and its config key give the
    same Options (booleans in every spelling the docs list, in any case)."""
    key, text, value = case
    got = {src: _options_from(key, src, text, value, tmp_path) for src in ("flag", "env", "file")}
    assert got["flag"] == got["env"] == got["file"], key


def test_every_option_of_the_table_has_a_variable_and_a_flag() -> None:
    from checkly_gate.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    flags = {
        option
        for name in ("wait", "run")
        for action in commands[name]._actions
        for option in action.option_strings
    }
    for spec in OPTION_TABLE:
        assert spec.env and spec.env.startswith("CHECKLY"), spec.key
        if spec.key != "session-id":  # positional
            assert f"--{spec.key}" in flags, spec.key


@pytest.mark.parametrize("word", ["maybe", "2", "tru", "y"])
def test_one_boolean_parser_refuses_the_same_words(word: str) -> None:
    with pytest.raises(ConfigError, match="expected true or false"):
        parse_bool(word, "X")


# ---------------------------------------------------------------- the Action and GitLab inputs


def _action() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))


def _component() -> tuple[dict[str, Any], dict[str, Any]]:
    spec, job = yaml.safe_load_all((ROOT / "templates/checkly-gate.yml").read_text("utf-8"))
    return spec["spec"]["inputs"], next(iter(job.values()))


def _input_name(key: str) -> str:
    from checkly_gate.config import INPUT_NAMES

    return INPUT_NAMES.get(key, key)


# Inputs that are not options of the gate: the component's job shape and what pip installs.
NOT_OPTIONS = {"job-name", "stage", "image", "package"}


def test_action_inputs_are_the_tables_variables() -> None:
    """Every input of action.yml is an option of the table and reaches the gate as the
    option's own variable, unchanged (no argument logic in the step)."""
    action = _action()
    by_input = {_input_name(spec.key): spec for spec in OPTION_TABLE}
    run = next(s for s in action["runs"]["steps"] if s.get("id") == "wait")
    for name in action["inputs"]:
        assert name in by_input, f"input {name} is not in config.OPTION_TABLE"
        variable = by_input[name].env
        assert run["env"].get(variable) == f"${{{{ inputs.{name} || env.{variable} }}}}", name
    assert "exec " in run["run"]


def test_gitlab_inputs_are_the_tables_variables() -> None:
    inputs, job = _component()
    by_input = {_input_name(spec.key): spec for spec in OPTION_TABLE}
    for name in inputs:
        if name in NOT_OPTIONS:
            continue
        assert name in by_input, f"input {name} is not in config.OPTION_TABLE"
        assert job["variables"].get(by_input[name].env) == f"$[[ inputs.{name} ]]", name


# ---------------------------------------------------------------- choices, checked locally


@pytest.mark.parametrize(
    ("args", "env", "option"),
    [
        (["wait", "--commit", "abcdef1", "--provider", "NETLIFY"], {}, "--provider"),
        (["wait", "--commit", "abcdef1"], {"CHECKLY_GATE_PROVIDER": "bogus"}, "PROVIDER"),
    ],
)
def test_an_enumerated_value_is_checked_before_any_request(
    tmp_path: Path, args: list[str], env: dict[str, str], option: str
) -> None:
    with Simulator(scenario=load_scenario("passing"), api_key=KEY) as sim:
        proc = gate(*args, "--api-url", sim.url, cwd=tmp_path, env=env)
        assert proc.returncode == 2, proc.stderr
        assert sim.requests == []
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and option in lines[0], lines
    for choice in TABLE_BY_KEY["provider"].choices or ():
        assert choice in lines[0]


def test_every_choice_is_accepted_in_any_case(tmp_path: Path) -> None:
    from checkly_gate.commands.commit import parse_options

    for choice in TABLE_BY_KEY["provider"].choices or ():
        options = parse_options("abcdef1", None, choice.lower(), None, None, None, {})
        assert options is not None and options.provider == choice


# ---------------------------------------------------------------- a config file means one thing

SPELLINGS = st.sampled_from(sorted({s.key for s in (*SPECS, *RUN_SPECS)})).flatmap(
    lambda key: st.tuples(
        st.just(key),
        st.lists(st.sampled_from(["-", "_"]), min_size=key.count("-"), max_size=key.count("-")),
        st.lists(st.booleans(), min_size=len(key), max_size=len(key)),
        st.lists(st.booleans(), min_size=len(key), max_size=len(key)),
    )
)


def _spell(key: str, seps: list[str], upper: list[bool]) -> str:
    parts = key.split("-")
    text = parts[0] + "".join(sep + part for sep, part in zip(seps, parts[1:], strict=True))
    chars = (c.upper() if u else c for c, u in zip(text, upper + [False] * len(text), strict=False))
    return "".join(chars)


@settings(
    deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(SPELLINGS)
def test_two_spellings_of_one_option_are_refused_naming_both_lines(
    tmp_path: Path, case: tuple[str, list[str], list[bool], list[bool]]
) -> None:
    key, seps, first_upper, second_upper = case
    first = _spell(key, seps, first_upper)
    second = _spell(key, list(reversed(seps)), second_upper)
    path = tmp_path / "c.yml"
    path.write_text(f"{first}: 1\n# a comment\n{second}: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    message = str(caught.value)
    assert "line 1" in message and "line 3" in message, message
    assert first in message and second in message


def test_duplicate_key_is_exit_2_from_the_cli(tmp_path: Path) -> None:
    (tmp_path / "checkly-gate.yml").write_text(
        "fail-on-flaky: true\ntimeout: 60\nfail_on_flaky: false\n", encoding="utf-8"
    )
    proc = gate("wait", SID, "--api-url", "http://127.0.0.1:9", cwd=tmp_path)
    assert proc.returncode == 2
    assert "'fail-on-flaky' (line 1) and 'fail_on_flaky' (line 3)" in proc.stderr


# ---------------------------------------------------------------- one set of rules (18.7)

CONFLICTS = [
    ("--env", "TOKEN=x", None, None),
    ("--detach", None, "CHECKLY_GATE_DETACH", "true"),
    ("--location", "us-east-1", "CHECKLY_GATE_LOCATION", "us-east-1"),
    ("--retries", "2", "CHECKLY_GATE_RETRIES", "2"),
    ("--name", "n", "CHECKLY_GATE_SESSION_NAME", "n"),
]


@pytest.mark.parametrize("check_sessions_from", ["flag", "env", "file"])
@pytest.mark.parametrize("other_from", ["flag", "env", "file"])
@pytest.mark.parametrize("conflict", CONFLICTS, ids=[c[0] for c in CONFLICTS])
def test_check_sessions_conflicts_are_refused_from_any_source(
    tmp_path: Path, check_sessions_from: str, other_from: str, conflict: tuple[Any, ...]
) -> None:
    flag, value, variable, env_value = conflict
    args = ["run", "--tags", "web", "--api-url", "http://127.0.0.1:9"]
    env: dict[str, str] = {}
    config: dict[str, Any] = {}
    key = flag[2:]
    if check_sessions_from == "flag":
        args.append("--check-sessions")
    elif check_sessions_from == "env":
        env["CHECKLY_GATE_CHECK_SESSIONS"] = "yes"
    else:
        config["check-sessions"] = True
    if other_from == "flag" or (other_from == "file" and key == "env"):
        args += [flag] if value is None else [flag, value]
    elif other_from == "env":
        env[variable or "CHECKLY_GATE_ENV"] = env_value or value
    else:
        config[key] = True if value is None else (int(value) if key == "retries" else value)
    if config:
        (tmp_path / "checkly-gate.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    proc = gate(*args, cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "takes tags and check ids only" in proc.stderr
    assert "x" not in proc.stderr.split("not ")[-1] or key != "env"  # never a value


# ---------------------------------------------------------------- --env values are secrets


def test_env_values_are_secrets_unless_marked_plain(tmp_path: Path) -> None:
    (tmp_path / "checkly-gate.yml").write_text(
        "env-plain:\n  FROM_FILE: file-value\n", encoding="utf-8"
    )
    with Simulator(scenario=load_scenario("trigger-demo"), api_key=KEY, speed=4.0) as sim:
        proc = gate(
            "run", "--tags", "web", "--api-url", sim.url, "--poll-interval", "0.2",
            "--env", "TOKEN=s3cr3t-flag", "--env-plain", "BASE_URL=https://plain.example",
            cwd=tmp_path,
            env={"CHECKLY_GATE_ENV_PLAIN": "ALSO_PLAIN=ok"},
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        sent = sim.triggered[0].body["environmentVariables"]
    assert {(v["key"], v["secret"]) for v in sent} == {("TOKEN", True), ("BASE_URL", False)}
    # the flag wins over the variable and the file, as for every option
    with Simulator(scenario=load_scenario("trigger-demo"), api_key=KEY, speed=4.0) as sim:
        proc = gate(
            "run", "--tags", "web", "--api-url", sim.url, "--poll-interval", "0.2",
            cwd=tmp_path,
            env={"CHECKLY_GATE_ENV": "TOKEN=from-env\nOTHER=2"},
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        sent = sim.triggered[0].body["environmentVariables"]
    assert {(v["key"], v["secret"]) for v in sent} == {
        ("TOKEN", True), ("OTHER", True), ("FROM_FILE", False)
    }  # fmt: skip
    assert "from-env" not in proc.stdout + proc.stderr
    if SPEC_FILE.is_file():  # the body matches Checkly's schema of an environment variable
        schema = json.loads(SPEC_FILE.read_text())["components"]["schemas"]
        variants = schema["TestSessionEnvironmentVariable"]["anyOf"]
        for item in sent:
            assert any(
                set(v["required"]) <= set(item)
                and item["secret"] in v["properties"]["secret"]["enum"]
                for v in variants
            )


# ---------------------------------------------------------------- the hand-over name (19.7)


@pytest.mark.parametrize(
    "names",
    [
        ("CHECKLY_GATE_SESSION_ID",),
        ("CHECKLY_SESSION_ID",),
        ("CHECKLY_GATE_SESSION_ID", "CHECKLY_SESSION_ID"),
    ],
)
def test_bare_wait_reads_the_handed_over_session(tmp_path: Path, names: tuple[str, ...]) -> None:
    with Simulator(scenario=load_scenario("trigger-demo"), api_key=KEY, speed=4.0) as sim:
        started = gate(
            "run", "--tags", "web", "--detach", "--dotenv", "job1.env", "--api-url", sim.url,
            cwd=tmp_path,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        handed = dict(
            line.split("=", 1)
            for line in (tmp_path / "job1.env").read_text().splitlines()
            if "=" in line
        )
        sid = handed["CHECKLY_GATE_SESSION_ID"]
        env = {names[0]: sid}
        if len(names) > 1:
            env[names[1]] = str(uuid.uuid4())  # the new name wins over the old
        proc = gate(
            "wait", "--api-url", sim.url, "--poll-interval", "0.2", "--json", "g.json",
            cwd=tmp_path, env=env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        snapshot = json.loads((tmp_path / "g.json").read_text())
    assert sid in json.dumps(snapshot)


def test_a_commit_asked_for_wins_over_an_inherited_session_id(tmp_path: Path) -> None:
    """A dotenv report of an earlier job leaves CHECKLY_GATE_SESSION_ID in every later job; a
    job that asks for a commit (flag or variable) still looks for the commit's sessions."""
    env = {"CHECKLY_GATE_SESSION_ID": SID, "CHECKLY_GATE_COMMIT": "not-a-sha"}
    proc = gate("wait", "--api-url", "http://127.0.0.1:9", cwd=tmp_path, env=env)
    assert proc.returncode == 2 and "expected a commit SHA" in proc.stderr, proc.stderr


DISCOVERY_SAMPLES = {
    "commit": ("ABCDEF1", "abcdef1"),
    "branch": ("main", "main"),
    "provider": ("vercel", "VERCEL"),
    "environment": ("preview", "preview"),
    "discover-timeout": ("12.5", 12.5),
}


@settings(deadline=None, max_examples=40)
@given(
    st.sampled_from(sorted(DISCOVERY_SAMPLES)),
    st.sampled_from(BOOLEAN_TEXT),
)
def test_discovery_flags_and_variables_give_the_same_options(key: str, word: str) -> None:
    """`wait --commit`'s options: the flag and the table's variable mean the same."""
    from checkly_gate.commands.commit import parse_options

    text, value = DISCOVERY_SAMPLES[key]
    flags: dict[str, Any] = {"commit": "abcdef1"}
    flags[key] = float(text) if key == "discover-timeout" else text
    by_flag = parse_options(
        flags["commit"],
        flags.get("branch"),
        flags.get("provider"),
        flags.get("environment"),
        flags.get("discover-timeout"),
        parse_bool(word, "test"),
        {},
    )
    env = {TABLE_BY_KEY[key].env or "": text, "CHECKLY_GATE_FAIL_ON_NO_SESSION": word}
    env.setdefault("CHECKLY_GATE_COMMIT", "abcdef1")
    by_env = parse_options(None, None, None, None, None, None, env)
    assert by_flag == by_env
    assert by_flag is not None and getattr(by_flag, key.replace("-", "_")) == value

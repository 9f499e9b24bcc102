"""`run`'s options in the config file: accepted, typed, overridden by flags; `env` refused
(its values may be secrets), end to end against the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from checkly_gate.config import RUN_SPEC_BY_KEY, ConfigError, load_config_file, resolve
from checkly_gate.trigger import run_options
from tests.test_e2e_run import gate, sim, triggered_tags  # noqa: F401 (sim is a fixture)

CHECK = "3f1c0b4e-8f3a-4b7e-9a53-2f6f7c1d9e10"
NO_FLAGS = {
    "tags": [],
    "check_id": [],
    "location": None,
    "name": None,
    "env": [],
    "retries": None,
    "detach": False,
    "fail_on_no_matching": None,
}


def config(tmp_path: Path, text: str) -> dict:
    path = tmp_path / "checkly-gate.yml"
    path.write_text(text, encoding="utf-8")
    return load_config_file(path)


def test_every_run_flag_but_env_has_a_config_key() -> None:
    from checkly_gate.cli import build_parser

    run = build_parser()._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    wait = build_parser()._subparsers._group_actions[0].choices["wait"]  # type: ignore[union-attr]
    own = {a.dest for a in run._actions} - {a.dest for a in wait._actions}
    assert {key.replace("-", "_") for key in RUN_SPEC_BY_KEY} == own - {"env"}


def test_run_options_come_from_the_file(tmp_path: Path) -> None:
    values = config(
        tmp_path,
        f"""
tags: ["web,critical", [api, smoke]]  # a group as "a,b" or as a list
check-id: {CHECK}
location: us-east-1
name: nightly
retries: 2
fail-on-no-matching: false
detach: true
timeout: 60
""",
    )
    options = resolve([], {}, {"CHECKLY_API_KEY": "k"}, tmp_path, require_sessions=False)
    assert options.timeout == 60.0 and options.run == {
        k: v for k, v in values.items() if k != "timeout"
    }
    trigger = run_options(NO_FLAGS, options.run)
    assert trigger.tag_groups == (("web", "critical"), ("api", "smoke"))
    assert trigger.check_ids == (CHECK,)
    assert (trigger.location, trigger.name, trigger.retries) == ("us-east-1", "nightly", 2)
    assert trigger.fail_on_no_matching is False and trigger.detach is True
    # flags win, each on its own; 0 retries and --fail-on-no-matching count as given
    flags = {**NO_FLAGS, "tags": ["db"], "retries": 0, "fail_on_no_matching": True}
    trigger = run_options(flags, options.run)
    assert trigger.tag_groups == (("db",),) and trigger.retries == 0
    assert trigger.fail_on_no_matching is True and trigger.location == "us-east-1"
    # nothing anywhere: the defaults
    default = run_options(NO_FLAGS, {})
    assert default.tag_groups == () and default.retries is None
    assert default.fail_on_no_matching is True and default.detach is False


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "env: {BASE_URL: https://x}",
            "'env' must not be in a config file: its values are secrets",
        ),
        ("environment-variables: [A=b]", "must not be in a config file"),
        ("retries: '3'", "'retries': expected a whole number"),
        ("retries: true", "'retries': expected a whole number"),
        ("retries: -1", "'retries': must be at least 0"),
        ("tags: []", "'tags': expected a string or a list of strings"),
        ("tags: [web, '']", "'tags': expected non-empty strings"),
        ("tag: web", "unknown key 'tag' (did you mean 'tags'?)"),
        ("fail-on-no-matching: 'maybe'", "expected true or false"),
        ("api-key: cu_secret", "must not be in a config file; set CHECKLY_API_KEY"),
    ],
)
def test_bad_run_options_are_one_line_errors(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(tmp_path, text)
    assert error in str(caught.value) and "\n" not in str(caught.value)
    assert "https://x" not in str(caught.value) and "cu_secret" not in str(caught.value)


def test_out_of_range_retries_and_bad_ids_from_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"retries must be 0\.\.10"):
        run_options(NO_FLAGS, {"retries": 11})
    with pytest.raises(ConfigError, match="is not a UUID"):
        run_options(NO_FLAGS, {"check-id": ["nope"]})


def test_run_reads_the_config_file_and_wait_ignores_run_keys(sim, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "checkly-gate.yml").write_text(
        "tags: web\nretries: 1\nname: from the file\njunit: j.xml\n", encoding="utf-8"
    )
    proc = gate(sim, "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert triggered_tags(sim) == [[["web"]]]
    (started,) = sim.triggered
    assert started.body["name"] == "from the file"
    assert started.body["retryStrategy"]["maxRetries"] == 1
    assert (tmp_path / "j.xml").exists()
    # the same file serves `wait`: run's keys are not errors there
    proc = gate(sim, "wait", started.session_id, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # --env stays a flag; the file cannot hold it
    (tmp_path / "checkly-gate.yml").write_text("env: {A: b}\n", encoding="utf-8")
    proc = gate(sim, "run", "--tags", "web", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("checkly-gate: error: ")
    assert "Traceback" not in proc.stderr

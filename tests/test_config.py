"""Options: defaults < file < env < flags, and one-line errors that name the key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkly_gate.config import ConfigError, check_url, parse_session_id, resolve
from checkly_gate.simulator import Simulator
from tests.fakes import SID

ENV = {"CHECKLY_API_KEY": "k-123456"}


def write(tmp_path: Path, text: str, name: str = "checkly-gate.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path) -> None:
    o = resolve([SID], {}, ENV, tmp_path)
    assert (o.timeout, o.poll_interval, o.not_found_grace, o.long_poll) == (1800, 150, 30, True)
    assert o.api_url == "https://api.checklyhq.com" and o.json is None


def test_precedence_defaults_file_env_flags(tmp_path: Path) -> None:
    write(tmp_path, "timeout: 100\npoll-interval: 5\naccount-id: from-file\nfail_on_flaky: true\n")
    env = {**ENV, "CHECKLY_GATE_POLL_INTERVAL": "0.2", "CHECKLY_ACCOUNT_ID": "from-env"}
    o = resolve([SID], {"account-id": "from-flag"}, env, tmp_path)
    assert o.timeout == 100  # file beats default
    assert o.poll_interval == 0.2  # env beats file
    assert o.account_id == "from-flag"  # flag beats env
    assert o.fail_on_flaky is True
    assert o.sources["timeout"].startswith("file") and o.sources["account-id"] == "flag"


def test_explicit_config_path_and_relative_outputs(tmp_path: Path) -> None:
    write(tmp_path, "json: out/c.json\n", "ci.yml")
    o = resolve([SID], {}, ENV, tmp_path, config_path="ci.yml")
    assert o.json == tmp_path / "out" / "c.json"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("timeuot: 5\n", "unknown key 'timeuot' (did you mean 'timeout'?)"),
        ("timeout: soon\n", "'timeout': expected a number"),
        ("timeout: 0\n", "must be at least 1"),
        ("fail-on-flaky: maybe\n", "expected true or false"),
        ("api-key: abc\n", "'api-key' must not be in a config file"),
        ("timeout: [1\n", "invalid YAML at line"),
        ("- a\n- b\n", "expected a mapping"),
        ("api-url: ftp://x\n", "expected an http(s) URL"),
    ],
)
def test_file_errors_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        resolve([SID], {}, ENV, tmp_path)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_empty_file_is_fine_and_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "")
    assert resolve([SID], {}, ENV, tmp_path).timeout == 1800
    with pytest.raises(ConfigError, match="does not exist"):
        resolve([SID], {}, ENV, tmp_path, config_path="nope.yml")


def test_env_errors_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CHECKLY_GATE_TIMEOUT"):
        resolve([SID], {}, {**ENV, "CHECKLY_GATE_TIMEOUT": "ten"}, tmp_path)
    with pytest.raises(ConfigError, match="CHECKLY_GATE_FAIL_ON_FLAKY"):
        resolve([SID], {}, {**ENV, "CHECKLY_GATE_FAIL_ON_FLAKY": "perhaps"}, tmp_path)


def test_api_key_required_and_session_ids_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CHECKLY_API_KEY"):
        resolve([SID], {}, {}, tmp_path)
    with pytest.raises(ConfigError, match="is not a UUID"):
        resolve(["not-a-uuid"], {}, ENV, tmp_path)
    assert resolve([SID.upper(), SID], {}, ENV, tmp_path).session_ids == (SID,)
    assert parse_session_id(" " + SID.upper() + " ") == SID


@pytest.mark.parametrize("port", ["99999", "65536", "-1", "abc", "0"])
def test_a_bad_port_is_named_as_the_port(port: str) -> None:
    """`--api-url http://127.0.0.1:99999` says what is wrong (the port), not only that the URL
    is not one like https://api.checklyhq.com."""
    with pytest.raises(ConfigError, match=rf"--api-url: port must be .*1\.\.65535.*{port}"):
        check_url(f"http://127.0.0.1:{port}", "--api-url")


@pytest.mark.parametrize(
    "url", ["https://api.checklyhq.com/v1", "http://127.0.0.1:4010/v1/", "https://x.test/api/V2/x"]
)
def test_a_base_url_with_the_api_path_is_refused(url: str) -> None:
    """The gate appends /v1/... itself: a base URL that has it already would ask for /v1/v1/...
    and be refused as 'not found' only after the grace period."""
    with pytest.raises(ConfigError, match="without the /v1 or /v2 path"):
        check_url(url, "--api-url")
    assert (
        check_url("https://proxy.example/checkly/", "--api-url") == "https://proxy.example/checkly"
    )


@pytest.mark.parametrize(
    "url", ["http://api.example.com", "http://10.0.0.5:8080", "http://[2001:db8::1]", "HTTP://x.io"]
)
def test_http_to_a_host_that_is_not_this_machine_is_refused_without_the_opt_in(
    tmp_path: Path, url: str
) -> None:
    with pytest.raises(ConfigError, match="in clear") as caught:
        resolve([SID], {"api-url": url}, ENV, tmp_path)
    assert ENV["CHECKLY_API_KEY"] not in str(caught.value)
    flag = resolve([SID], {"api-url": url, "allow-insecure-http": True}, ENV, tmp_path)
    env = {**ENV, "CHECKLY_API_URL": url, "CHECKLY_GATE_ALLOW_INSECURE_HTTP": "yes"}
    (tmp_path / "checkly-gate.yml").write_text(f"api-url: {url}\nallow-insecure-http: true\n")
    from_file = resolve([SID], {}, ENV, tmp_path)
    assert flag.allow_insecure_http and resolve([SID], {}, env, tmp_path).allow_insecure_http
    assert from_file.allow_insecure_http


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://127.3.2.1", "http://localhost:1", "http://[::1]:9"]
)
def test_http_to_the_loopback_needs_no_opt_in(tmp_path: Path, url: str) -> None:
    assert resolve([SID], {"api-url": url}, ENV, tmp_path).api_url == url


@pytest.mark.parametrize("command", ["wait", "run"])
def test_the_config_help_names_exactly_the_options_a_file_refuses(
    tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch, serve: Callable[..., Simulator]
) -> None:
    """``--config``'s help said "any option but the API key" while the file refuses --env and
    wait --commit's options: the help names what the file refuses, as the file itself does."""
    import contextlib
    import io
    import os
    from unittest import mock

    from checkly_gate.cli import build_parser, main
    from checkly_gate.config import OPTION_TABLE
    from tests.tools import clean_env

    sub = build_parser()._command_parser(command)  # the parser `--help` prints
    config_line = next(a.help for a in sub._actions if "--config" in a.option_strings) or ""
    named = set(config_line.split("; not ", 1)[1].split(" [", 1)[0].split(", "))
    what = [SID] if command == "wait" else ["--tags", "smoke"]
    monkeypatch.chdir(tmp_path)  # `junit: x` and the like write their report here
    env = {
        **clean_env(),
        "CHECKLY_API_KEY": "k",
        # A simulator that refuses the key: a valid file ends at its first request, instead of
        # retrying a closed port until the timeout.
        "CHECKLY_API_URL": serve(api_key="another-key").url,
        "CHECKLY_GATE_TIMEOUT": "1",
    }
    refused = set()
    for spec in OPTION_TABLE:
        if command not in spec.commands or spec.key == "config":
            continue
        path = tmp_path / f"{spec.key}.yml"
        path.write_text(f"{spec.key}: x\n", encoding="utf-8")
        err = io.StringIO()
        with (
            mock.patch.dict(os.environ, env, clear=True),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(err),
        ):
            main([command, *what, "--config", str(path), "-q"])
        said = err.getvalue()
        if "not a config file option" in said or "must not be in a config file" in said:
            refused.add(f"--{spec.key}")
    assert refused and named == refused, (named, refused)


_NUMBER_WORDS = st.one_of(
    st.sampled_from(["010", "0x10", "0o17", "1:30", "1e3", "1E3", "1_000", ".5", "5.", "+7",
                     "-1", "1e9", "inf", "nan", "0b11", "00", "12", "900", "3.5"]),
    st.from_regex(r"[+-]?[0-9_]{1,4}([.:][0-9]{0,2})?([eE][+-]?[0-9])?", fullmatch=True),
)  # fmt: skip


@settings(deadline=None, max_examples=150)
@given(
    key=st.sampled_from(["timeout", "poll-interval", "not-found-grace", "max-request-rate"]),
    word=_NUMBER_WORDS,
)
@pytest.mark.usefixtures("certifi_context_once")
def test_a_number_in_the_config_file_means_what_the_same_word_means_as_a_variable(
    tmp_path_factory: pytest.TempPathFactory, key: str, word: str
) -> None:
    """YAML 1.1 read `010` as 8, `0x10` as 16, `1:30` as 90 and refused `1e3` that the flag and
    the variable take as 1000: one word, one value (or one refusal) from any source."""
    folder = tmp_path_factory.mktemp("numbers")
    (folder / "checkly-gate.yml").write_text(f"{key}: {word}\n", encoding="utf-8")
    variable = f"CHECKLY_GATE_{key.upper()}".replace("-", "_")

    def value(env: dict[str, str], cwd: Path) -> object:
        try:
            options = resolve([SID], {}, {"CHECKLY_API_KEY": "k", **env}, cwd)
        except ConfigError:
            return "refused"
        return getattr(options, key.replace("-", "_"))

    from_file = value({}, folder)
    from_variable = value({variable: word}, tmp_path_factory.mktemp("empty"))
    assert from_file == from_variable, (word, from_file, from_variable)

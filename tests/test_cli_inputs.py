"""No traceback whatever the input, and reports on usage errors too.

A property test drives the real entry point (``cli.main``, in-process: the same code path as the
console script, streams and environment included) with generated bad input of every kind; the
inputs quoted in issue 10 also go through a real subprocess.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkly_gate.cli import main
from tests.tools import clean_env

KEY = "cu_inputs_" + "k3y" * 6
SID = "3f1c0b4e-8f3a-4b7e-9a53-2f6f7c1d9e10"
DEAD_URL = "http://127.0.0.1:9"  # discard port: a valid run would fail fast, never hang
# Exit codes the README documents.
DOCUMENTED = {0, 1, 2, 3, 4, 5, 6, 7, 129, 130, 143}

BAD_CHARS = ["\n", "\r", "\t", " ", "\u200b", "\u00a0", "ä", "\x7f", "\x1b", "\ud800", "\u202e"]


@contextlib.contextmanager
def inside(folder: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def run_main(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with (
        inside(cwd),
        mock.patch.dict(os.environ, env, clear=True),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's --help/--version only
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def with_bad(text: str, chars: list[str] = BAD_CHARS) -> st.SearchStrategy[str]:
    """``text`` with a character a header, a URL or an id cannot carry put inside it
    (surrounding blanks are forgiven: a pasted key often ends with a line break)."""
    return st.tuples(st.integers(1, len(text) - 1), st.sampled_from(chars)).map(
        lambda p: text[: p[0]] + p[1] + text[p[0] :]
    )


bad_urls = st.one_of(
    st.sampled_from(
        [
            "http://[::1",
            "http://127.0.0.1:abc",
            "http://" + "a" * 300 + ".example.com",
            "http://127.0.0.1:99999",
            "http://127.0.0.1:0",
            "ftp://example.com",
            "example.com",
            "http://",
            "https://user:pass@example.com",
            "http://example.com/?q=1",
            "http://exa mple.com",
            "http://" + "a." * 130 + "com",
        ]
    ),
    with_bad("http://127.0.0.1:9", [c for c in BAD_CHARS if c != "ä"]),  # ä: a valid IDN
    st.text(max_size=30).filter(lambda t: "://" not in t),
)
bad_numbers = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e999", "30s", "", " ", "0x10", "1e9"]),
    st.text(max_size=10).filter(lambda t: not _is_number(t)),
)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def mutation() -> st.SearchStrategy[tuple[str, object]]:
    """One thing wrong with an otherwise valid ``wait``/``run``/``simulate``/``report``."""
    return st.one_of(
        st.tuples(st.just("key-flag"), with_bad(KEY)),
        st.tuples(st.just("key-env"), with_bad(KEY).filter(lambda k: "\ud800" not in k)),
        st.tuples(st.just("no-key"), st.sampled_from(["", "   "])),
        st.tuples(st.just("account"), with_bad("4b9c2f70")),
        st.tuples(st.just("url-flag"), bad_urls),
        st.tuples(st.just("url-env"), bad_urls.filter(lambda u: "\ud800" not in u and u.strip())),
        st.tuples(st.sampled_from(["--timeout", "--poll-interval"]), bad_numbers),
        st.tuples(
            st.sampled_from(["CHECKLY_GATE_TIMEOUT", "CHECKLY_GATE_POLL_INTERVAL"]),
            bad_numbers.filter(lambda t: t.strip() != "" and "\ud800" not in t),
        ),
        st.tuples(
            st.just("CHECKLY_GATE_LONG_POLL"),
            st.text(min_size=1, max_size=8).filter(
                lambda t: (
                    t.strip().lower() not in {"1", "0", "true", "false", "yes", "no", "on"}
                    and t.strip().lower() not in {"off", ""}
                    and "\ud800" not in t
                )
            ),
        ),
        st.tuples(st.just("session"), st.text(max_size=40).filter(lambda t: not _is_uuid(t))),
        st.tuples(st.just("config"), config_texts),
        st.tuples(st.just("scenario"), bad_yaml),  # never a valid scenario: it would serve
        st.tuples(st.just("tags"), st.sampled_from([",", " , ", "", ",,"])),
        st.tuples(st.just("env-pair"), st.sampled_from(["=x", "NOEQUALS", "1A=b", "A=", "A B=c"])),
        st.tuples(st.just("env-pair"), with_bad("VALUE").map(lambda v: "1" + v + "=x")),
        st.tuples(st.just("check-id"), st.text(max_size=20).filter(lambda t: not _is_uuid(t))),
        st.tuples(st.just("retries"), st.sampled_from(["-1", "11", "x", "1.5"])),
        st.tuples(st.just("name"), st.just("bad \ud800 name")),
        st.tuples(st.just("port"), st.sampled_from(["99999", "-1", "65536", "x", "1e3"])),
        st.tuples(st.just("speed"), st.sampled_from(["nan", "inf", "0", "-2", "x", "1e9"])),
        st.tuples(st.just("snapshot"), snapshots),
        st.tuples(st.just("unknown-flag"), st.sampled_from(["--bogus", "-x", "--timeout"])),
    )


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text.strip())
    except ValueError:
        return False
    return True


bad_yaml = st.sampled_from(
    [
        "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b]\n",
        "x: " + "[" * 3000 + "]" * 3000 + "\n",
        "timeout: 1" + "0" * 400 + "\n",
        "api-key: cu_in_a_file\n",
        "timout: 10\n",
        "? [a]\n: 1\n",
        "1: 2\n",
        "- a\n- b\n",
        'junit: "a\\0b"\n',
        "\tbad: [\n",
        "timeout: .nan\n",
    ]
)
config_texts = st.one_of(
    bad_yaml,
    st.dictionaries(
        st.sampled_from(["timeout", "poll-interval", "long-poll", "api-url", "account-id"]),
        st.one_of(st.lists(st.integers(), max_size=2), st.just({"a": 1}), st.just("x y\n")),
        min_size=1,
        max_size=2,
    ).map(lambda d: json.dumps({"api-url": DEAD_URL, **d}) + "\n"),
)
snapshots = st.one_of(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5)),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=10,
    ).map(json.dumps),
    st.fixed_dictionaries(
        {
            "tool": st.just("checkly-gate"),
            "schemaVersion": st.just(1),
            "sessions": st.one_of(
                st.just([{"sessionId": SID, "stop": "final", "body": {"results": {"a": 1}}}]),
                st.just([{"sessionId": SID, "stop": "final", "body": []}]),
                st.just([{"sessionId": 5}]),
                st.just({}),
                st.just([{"sessionId": SID, "stop": "nope"}]),
            ),
            "timings": st.one_of(st.just([]), st.just({"startedAt": 5})),
            "errorMessages": st.one_of(st.just([1]), st.just({"a": 1})),
            "policy": st.one_of(st.just([]), st.just("x")),
        }
    ).map(json.dumps),
    st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
)


def build(
    kind: str, value: object, folder: Path, reports: bool
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of one bad invocation."""
    env = {**clean_env(), "CHECKLY_API_KEY": KEY, "NO_COLOR": "1"}
    if isinstance(value, str) and "\x00" in value and not kind.startswith("-"):
        value = value.replace("\x00", "\x01")  # an environment cannot hold NUL
    opts = ["--api-url", DEAD_URL, "--timeout", "1", "--not-found-grace", "0"]
    command, ids = "wait", [SID]
    text = str(value)
    if kind == "key-flag":
        opts += ["--api-key", text]
    elif kind == "key-env" or kind == "no-key":
        env["CHECKLY_API_KEY"] = text
    elif kind == "account":
        opts += ["--account-id", text]
    elif kind == "url-flag":
        opts += ["--api-url", text]
    elif kind == "url-env":
        opts = opts[2:]
        env["CHECKLY_API_URL"] = text or "x"
    elif kind.startswith("--"):
        opts += [kind, text]
    elif kind.startswith("CHECKLY_GATE_"):
        env[kind] = text
    elif kind == "session":
        ids = [text]
    elif kind == "config":  # the file holds the API URL: a flag would override its value
        (folder / "gate.yml").write_text(text, "utf-8")
        opts = [*opts[2:], "--config", str(folder / "gate.yml")]
    elif kind in ("tags", "env-pair", "check-id", "retries", "name"):
        command, ids = "run", []
        flag = {"env-pair": "--env", "check-id": "--check-id"}.get(kind, f"--{kind}")
        opts += [f"{flag}={text}"]
    elif kind == "scenario":
        (folder / "scenario.yml").write_text(text, "utf-8")
        return ["simulate", "--scenario", str(folder / "scenario.yml"), "--port", "0"], env
    elif kind in ("port", "speed"):
        return ["simulate", f"--{kind}={text}"], env
    elif kind == "snapshot":
        (folder / "snap.json").write_text(text, "utf-8", errors="surrogatepass")
        command, ids, opts = "report", [str(folder / "snap.json")], []
    elif kind == "unknown-flag":
        opts += [text]
    if reports:
        opts += [
            "--junit",
            str(folder / "r" / "junit.xml"),
            "--summary",
            str(folder / "r" / "s.md"),
        ]
        env.update(
            GITHUB_ACTIONS="true",
            GITHUB_OUTPUT=str(folder / "gh-out"),
            GITHUB_STEP_SUMMARY=str(folder / "gh-summary"),
        )
    return [command, *ids, *opts], env


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutation(), st.booleans())
def test_bad_input_is_one_line_and_exit_2_never_a_traceback(
    bad: tuple[str, object], reports: bool
) -> None:
    kind, value = bad
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        argv, env = build(kind, value, folder, reports)
        code, out, err = run_main(argv, env, folder)
        assert code in DOCUMENTED
        assert code == 2, f"{argv!r}: exit {code}\n{out}\n{err}"
        assert "Traceback" not in out + err
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("checkly-gate: error: "), err
        assert KEY not in out + err
        if reports and argv[0] in ("wait", "run", "report"):
            junit = (folder / "r" / "junit.xml").read_text("utf-8")
            assert "<error " in junit and 'value="error"' in junit
            assert (folder / "r" / "s.md").exists() and (folder / "gh-summary").exists()
            outputs = (folder / "gh-out").read_text("utf-8")
            assert "status=error\n" in outputs and "exit-code=2\n" in outputs


# The inputs quoted in issue 10, through the real console entry point in a subprocess.
QUOTED = [
    (["wait", SID, "--api-url", "http://[::1"], {}),
    (["wait", SID, "--api-url", "http://127.0.0.1:abc"], {}),
    (["wait", SID, "--api-url", "http://" + "a" * 300 + ".com"], {}),
    (["wait", SID, "--api-url", "http://127.0.0.1:99999"], {}),
    (["wait", SID, "--account-id", "ä"], {}),
    (["wait", SID], {"CHECKLY_API_KEY": KEY + "\nsecond-line"}),
    (["wait", SID], {"CHECKLY_API_KEY": KEY[:6] + "\u200b" + KEY[6:]}),
    (["wait", SID], {"CHECKLY_GATE_TIMEOUT": "30s"}),
    (["wait", "not-a-uuid"], {}),
    (["wait", SID], {"ALL_PROXY": "ftp://proxy.example"}),
    (["simulate", "--port", "99999"], {}),
    (["simulate", "--speed", "nan"], {}),
    (["run", "--env", "=x"], {}),
]


@pytest.mark.parametrize(("argv", "extra"), QUOTED, ids=[" ".join(a)[:40] for a, _ in QUOTED])
def test_quoted_bad_inputs_through_the_console_script(
    argv: list[str], extra: dict[str, str], tmp_path: Path
) -> None:
    env = {**clean_env(), "CHECKLY_API_KEY": KEY, **extra}
    proc = subprocess.run(
        [sys.executable, "-m", "checkly_gate", *argv],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("checkly-gate: error: ")
    assert KEY not in proc.stderr and KEY[:6] not in proc.stderr.replace("cu_inputs", "")


def test_a_bad_key_is_named_never_shown(tmp_path: Path) -> None:
    code, _out, err = run_main(["wait", SID], {"CHECKLY_API_KEY": "cu_abc\u200bdef"}, tmp_path)
    assert code == 2 and "CHECKLY_API_KEY" in err and "position 7" in err
    assert "cu_abc" not in err and "def" not in err.split("position")[0]


def test_usage_errors_write_every_report_the_ci_and_files_expect(tmp_path: Path) -> None:
    """``wait not-a-uuid --junit r/j.xml --summary r/s.md`` under GitHub Actions."""
    env = {
        **clean_env(),
        "CHECKLY_API_KEY": KEY,
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step.md"),
        "CHECKLY_GATE_DOTENV": "r/gate.env",
    }
    argv = ["wait", "not-a-uuid", "--junit", "r/j.xml", "--summary", "r/s.md"]
    code, out, err = run_main(argv, env, tmp_path)
    assert code == 2
    assert err == "checkly-gate: error: session id 'not-a-uuid' is not a UUID\n"
    junit = (tmp_path / "r" / "j.xml").read_text()
    assert "<error " in junit and "not-a-uuid" in junit
    assert "not-a-uuid" in (tmp_path / "r" / "s.md").read_text()
    assert "not-a-uuid" in (tmp_path / "step.md").read_text()
    assert "CHECKLY_GATE_STATUS=error" in (tmp_path / "r" / "gate.env").read_text()
    outputs = (tmp_path / "out").read_text()
    assert "status=error\n" in outputs and "exit-code=2\n" in outputs
    assert "::error title=" in out


def test_usage_error_reports_come_from_a_config_file_that_parsed(tmp_path: Path) -> None:
    (tmp_path / "checkly-gate.yml").write_text("junit: from-file.xml\n")
    code, _, err = run_main(["wait", SID], {**clean_env()}, tmp_path)  # no API key
    assert code == 2 and "no API key" in err
    assert "<error " in (tmp_path / "from-file.xml").read_text()


def test_argparse_errors_are_reported_the_same_way(tmp_path: Path) -> None:
    env = {**clean_env(), "CHECKLY_API_KEY": KEY}
    code, _, err = run_main(["wait", SID, "--timeout", "soon", "--junit", "j.xml"], env, tmp_path)
    assert code == 2 and err.count("\n") == 1 and "--timeout" in err
    assert "<error " in (tmp_path / "j.xml").read_text()


def test_demo_tags_without_trigger_is_a_usage_error(tmp_path: Path) -> None:
    """`demo --tags web` would run the default `wait` demo and ignore the tags the user gave."""
    code, out, err = run_main(["demo", "--tags", "web"], clean_env(), tmp_path)
    assert code == 2, out + err
    assert err.startswith("checkly-gate: error: ") and "--trigger" in err
    assert not (tmp_path / "checkly-gate-demo").exists()


@pytest.mark.parametrize("argv", [["--help"], ["wait", "--help"], ["run", "--help"]])
def test_help_lists_every_exit_code_by_its_outcome_name(argv: list[str], tmp_path: Path) -> None:
    """The help is where a user looks first: every code with the one name the outputs use
    (`status`, CHECKLY_GATE_STATUS), read from the outcome table so none can be forgotten."""
    from checkly_gate.outcomes import Outcome

    code, out, err = run_main(argv, clean_env(), tmp_path)
    assert code == 0, err
    text = " ".join(out.split())
    for outcome in Outcome:
        number = "130/143" if outcome is Outcome.INTERRUPTED else str(outcome.code)
        assert f"{number} {outcome.label}" in text, (outcome, out)


def test_an_env_argument_without_a_key_is_never_echoed(tmp_path: Path) -> None:
    """`run --env "$API_TOKEN"` (the `NAME=` forgotten): the argument is the secret value
    itself; the error names the flag and its position, never the text."""
    secret = "ghp_S3cretTokenValue123"
    argv = ["run", "--env", "BASE_URL=https://x.example", "--env", secret, "--junit", "j.xml"]
    code, out, err = run_main(argv, {**clean_env(), "CHECKLY_API_KEY": KEY}, tmp_path)
    assert code == 2, out + err
    assert "--env #2" in err
    written = (tmp_path / "j.xml").read_text()
    assert secret not in out + err + written and "S3cret" not in out + err + written


@settings(
    deadline=None, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    command=st.sampled_from(["wait", "run", "report"]),
    flag=st.sampled_from(["--api-kye", "--timout", "--junti", "--sumary", "--fial-on-flaky"]),
    secret=st.from_regex(r"cu_[a-z0-9]{12,20}", fullmatch=True),
)
def test_an_unknown_option_is_named_by_its_command_never_its_value(
    tmp_path: Path, command: str, flag: str, secret: str
) -> None:
    """A mistyped option: one line naming it, the closest real option and the command's own
    --help; the word after it (the value, maybe a key: ``--api-kye cu_...``) is never printed
    or written to the usage error's JUnit report."""
    junit = tmp_path / f"junit-{uuid.uuid4().hex}.xml"
    target = (SID,) if command != "report" else (str(tmp_path / "snapshot.json"),)
    argv = [command, *target, flag, secret, "--junit", str(junit)]
    code, out, err = run_main(argv, {**clean_env(), "CHECKLY_API_KEY": KEY}, tmp_path)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("checkly-gate: error: unknown option"), err
    assert f"see checkly-gate {command} --help" in err
    if command != "report":  # report has only the report flags
        assert "did you mean --" in err
    assert secret not in out + err
    if junit.exists():
        assert secret not in junit.read_text()

"""Any terminal, any encoding, any reader, any proxy setting: output never changes the verdict."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from unittest import mock

import pytest

from checkly_gate.config import Options
from checkly_gate.proxies import ProxyError, proxy_for
from checkly_gate.simulator import BUILTIN_SCENARIOS, Simulator, load_scenario
from checkly_gate.streams import SafeStream, safe
from checkly_gate.trigger import TriggerOptions
from tests.canned import Answer, canned, json_answer, result, session_body
from tests.fakes import trigger_and_wait, wait_for
from tests.tools import clean_env

KEY = "cu_terminal_key_42"
ENCODINGS = ("utf-8", "cp1252", "ascii")


def gate_cmd(url: str, *extra: str) -> list[str]:
    sid = str(uuid.uuid4())
    return [sys.executable, "-m", "checkly_gate", "wait", sid, "--api-url", url, *extra]


def env(**extra: str) -> dict[str, str]:
    return {**clean_env(), "CHECKLY_API_KEY": KEY, "NO_COLOR": "1", **extra}


@pytest.mark.parametrize(("scenario", "code"), [("passing", 0), ("failing", 1)])
def test_a_reader_that_goes_away_keeps_the_verdicts_exit_code(scenario: str, code: int) -> None:
    """``checkly-gate wait ... | head -1``."""
    with Simulator(scenario=load_scenario(scenario), api_key=KEY, speed=30) as sim:
        proc = subprocess.Popen(
            gate_cmd(sim.url, "--poll-interval", "0.1"),
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # what `head -1` does after its line
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == code, stderr
    assert first.startswith(b"Following test session")
    assert (
        "Traceback" not in stderr and "Exception ignored" not in stderr and "Broken" not in stderr
    )


@pytest.mark.parametrize("closed", [1, 2])
def test_a_stream_closed_from_the_start_keeps_the_exit_code(closed: int, tmp_path: Path) -> None:
    """``checkly-gate wait ... >&-`` (or ``2>&-``): Python starts without that stream."""
    with Simulator(scenario=load_scenario("failing"), api_key=KEY, speed=30) as sim:
        cmd = gate_cmd(sim.url, "--poll-interval", "0.1", "--junit", str(tmp_path / "j.xml"))
        # The shell closes the descriptor, then becomes the gate (no preexec_fn: threads run).
        shell = ["sh", "-c", f'exec "$@" {closed}>&-', "sh", *cmd]
        proc = subprocess.run(shell, env=env(), capture_output=True, timeout=60)
    assert proc.returncode == 1
    assert b"Traceback" not in (proc.stdout or b"") + (proc.stderr or b"")
    assert (tmp_path / "j.xml").exists()


def _run_scenario(name: str, encoding: str, codes: dict[str, int]) -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding=encoding, errors="strict", write_through=True)
    out = safe(stream)
    with Simulator(scenario=load_scenario(name), api_key=KEY, speed=30) as sim:
        options = Options(
            session_ids=(str(uuid.uuid4()),),
            api_key=KEY,
            api_url=sim.url,
            timeout=2.0 if name == "never-ends" else 30.0,
            poll_interval=0.1,
            not_found_grace=2.0,
        )
        if name == "trigger-demo":
            trigger = TriggerOptions(tag_groups=(("api",),))
            codes[encoding] = trigger_and_wait(options, trigger, out, {})
        else:
            codes[encoding] = wait_for(options, out, env={}).verdict.exit_code
    assert isinstance(out, SafeStream) and not out.broken
    assert raw.getvalue(), "nothing was printed"


@pytest.mark.parametrize("name", sorted(BUILTIN_SCENARIOS))
def test_every_scenario_exits_the_same_in_every_encoding(name: str) -> None:
    """A strict cp1252 or ASCII stdout (a redirected stdout on Windows) changes nothing but the
    glyphs: same exit code as UTF-8, no exception from a follower thread."""
    codes: dict[str, int] = {}
    threads = [
        threading.Thread(target=_run_scenario, args=(name, encoding, codes))
        for encoding in ENCODINGS
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert set(codes) == set(ENCODINGS)
    assert codes["cp1252"] == codes["ascii"] == codes["utf-8"], codes


def test_glyphs_fall_back_to_ascii_where_the_stream_cannot_encode_them() -> None:
    raw = io.BytesIO()
    out = SafeStream(io.TextIOWrapper(raw, encoding="ascii", write_through=True))
    out.write("  ✓ PASSED Cart → checkout · 1 flaky … \ud800 ä\n")
    assert raw.getvalue() == b"  + PASSED Cart -> checkout | 1 flaky ... ? ?\n"


@pytest.mark.parametrize("encoding", ["cp1252", "ascii"])
def test_odd_names_under_a_narrow_encoding_through_the_console_script(encoding: str) -> None:
    """``PYTHONIOENCODING=cp1252`` with a check named ``Cart → checkout`` and one holding a lone
    surrogate: a failed session stays exit 1."""
    sid = str(uuid.uuid4())

    def handler(method: str, path: str, headers: dict[str, str]) -> Answer:
        rows = [result("Cart → checkout"), result("odd \ud800 name", status="PASSED")]
        return json_answer(session_body(sid, name="Déploiement ✓", results=rows))

    with canned(handler) as url:
        cmd = gate_cmd(url, "--poll-interval", "0.1")
        cmd[4] = sid
        proc = subprocess.run(
            cmd, env=env(PYTHONIOENCODING=encoding), capture_output=True, timeout=60
        )
    stdout = proc.stdout.decode(encoding)
    assert proc.returncode == 1, stdout + proc.stderr.decode(encoding)
    assert "Traceback" not in stdout + proc.stderr.decode(encoding)
    assert "Cart -> checkout" in stdout or "Cart → checkout" in stdout


def test_the_demo_under_cp1252(tmp_path: Path) -> None:
    """``PYTHONIOENCODING=cp1252 checkly-gate demo --scenario failing``: exit 1, not 6."""
    encoding = "cp1252"
    cmd = [sys.executable, "-m", "checkly_gate", "demo", "--scenario", "failing", "--speed", "30"]
    cmd += ["--output-dir", str(tmp_path)]
    proc = subprocess.run(cmd, env=env(PYTHONIOENCODING=encoding), capture_output=True, timeout=60)
    text = (proc.stdout + proc.stderr).decode(encoding)
    assert proc.returncode == 1, text
    assert "Traceback" not in text and "UnicodeEncodeError" not in text


def test_a_socks_proxy_the_api_host_bypasses_never_breaks_a_run() -> None:
    with Simulator(scenario=load_scenario("passing"), api_key=KEY, speed=30) as sim:
        proxied = env(ALL_PROXY="socks5://127.0.0.1:1", NO_PROXY="127.0.0.1")
        proc = subprocess.run(
            gate_cmd(sim.url, "--poll-interval", "0.1"), env=proxied, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert len(sim.requests) >= 1
        # The same proxy for the API host: used, unreachable, so the API is unavailable.
        cmd = gate_cmd(sim.url, "--poll-interval", "0.1", "--timeout", "1.5")
        proc = subprocess.run(
            cmd, env=env(ALL_PROXY="socks5://127.0.0.1:1"), capture_output=True, text=True
        )
    assert proc.returncode == 6, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("variables", "says"),
    [
        ({"ALL_PROXY": "ftp://proxy.example"}, "unsupported proxy scheme 'ftp'"),
        ({"https_proxy": "http://[::1"}, "https_proxy: not a valid proxy URL"),
        ({"HTTPS_PROXY": "socks5://user:secret@127.0.0.1:1"}, "pip install 'httpx[socks]'"),
    ],
)
def test_proxy_settings_httpx_cannot_use_are_refused_in_one_line(
    variables: dict[str, str], says: str
) -> None:
    with mock.patch.dict(sys.modules, {"socksio": None}), pytest.raises(ProxyError) as caught:
        proxy_for("https://api.checklyhq.com", variables)
    assert says in str(caught.value) and "secret" not in str(caught.value)


@pytest.mark.parametrize(
    "variables",
    [
        {"ALL_PROXY": "ftp://proxy.example", "NO_PROXY": "127.0.0.1"},
        {"all_proxy": "http://[::1", "no_proxy": "*"},
        {"HTTPS_PROXY": "ftp://only.for.https"},  # the simulator is plain http
        {"http_proxy": "gopher://x", "NO_PROXY": "localhost,127.0.0.1:1"},  # port must match
    ],
)
def test_a_broken_proxy_that_does_not_apply_to_the_api_host_never_breaks_a_run(
    variables: dict[str, str],
) -> None:
    """Only the proxy that applies to the API host is used and checked: a broken one that
    NO_PROXY (or the URL's scheme) takes out of play is ignored, as curl ignores it."""
    bypassed = "127.0.0.1:1" not in variables.get("NO_PROXY", "")
    if not bypassed:
        with pytest.raises(ProxyError, match="http_proxy"):
            proxy_for("http://127.0.0.1:4010", variables)
        return
    assert proxy_for("http://127.0.0.1:4010", variables) is None
    with Simulator(scenario=load_scenario("passing"), api_key=KEY, speed=30) as sim:
        proc = subprocess.run(
            gate_cmd(sim.url, "--poll-interval", "0.1"),
            env=env(**variables),
            capture_output=True,
            text=True,
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("no_color", "coloured"), [(None, True), ("", True), ("1", False), ("0", False)]
)
def test_no_color_counts_only_when_set_and_not_empty(no_color: str | None, coloured: bool) -> None:
    """no-color.org: NO_COLOR "when present and not an empty string (regardless of its value)"
    turns colour off; an empty NO_COLOR (``NO_COLOR=`` in a CI file) leaves it on."""
    from checkly_gate.streams import use_colour

    environ = {} if no_color is None else {"NO_COLOR": no_color}
    assert use_colour(_Tty(), environ) is coloured
    assert use_colour(io.StringIO(), {}) is False

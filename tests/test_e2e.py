"""End to end: the real `checkly-gate wait` process against the simulator over HTTP."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from checkly_gate.simulator import Simulator, load_scenario
from tests import junit_dialect
from tests.tools import clean_env, terminate_when_seen

KEY = "cu_e2e_" + "s3cr3t" * 4


def gate_cmd(sim: Simulator, *ids: str, extra: tuple[str, ...] = ()) -> list[str]:
    ids = ids or (str(uuid.uuid4()),)
    return [
        sys.executable,
        "-m",
        "checkly_gate",
        "wait",
        *ids,
        "--api-url",
        sim.url,
        "--poll-interval",
        "0.2",
        "--timeout",
        "30",
        *extra,
    ]


def gate_env(**extra: str) -> dict[str, str]:
    env = clean_env()
    env.update({"CHECKLY_API_KEY": KEY, "NO_COLOR": "1"})
    env.update(extra)
    return env


def run_gate(
    sim: Simulator, *ids: str, extra: tuple[str, ...] = (), cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        gate_cmd(sim, *ids, extra=extra),
        env=gate_env(**env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert KEY not in text


def test_passing_session_exits_0_and_writes_json(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory("passing")
    out = tmp_path / "deep" / "gate.json"
    proc = run_gate(sim, extra=("--json", str(out)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Following test session" in proc.stdout and "https://app.checklyhq.com" in proc.stdout
    assert "PASSED (exit 0)" in proc.stdout
    data = json.loads(out.read_text())
    assert data["exitCode"] == 0 and data["outcome"] == "passed"
    assert data["counts"]["flaky"] == 1 and data["counts"]["degraded"] == 1
    assert data["requests"] >= 2 and data["sessions"][0]["body"]["status"] == "PASSED"
    assert_no_secret(proc.stdout, proc.stderr, out.read_text())


def test_failing_session_exits_1(sim_factory) -> None:
    proc = run_gate(sim_factory("failing"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED (exit 1)" in proc.stdout


def test_cancelled_session_exits_3(sim_factory) -> None:
    proc = run_gate(sim_factory("cancelled"))
    assert proc.returncode == 3, proc.stdout + proc.stderr


def test_rate_limited_honours_retry_after(sim_factory) -> None:
    sim = sim_factory("rate-limited")
    proc = run_gate(sim)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reqs = sim.requests
    limited = [i for i, r in enumerate(reqs) if r.status == 429]
    assert limited, "the scenario should have rate-limited something"
    for i in limited:
        if i + 1 < len(reqs):
            # Retry-After of at least 1 s was honoured before the next request.
            assert reqs[i + 1].at - reqs[i].at >= 0.95


def test_unreliable_network_is_survived(sim_factory) -> None:
    sim = sim_factory("unreliable-network")
    proc = run_gate(sim)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any(r.status is None or r.status >= 500 for r in sim.requests)


def test_unauthorized_fails_fast_with_5_and_never_prints_the_key(sim_factory, tmp_path) -> None:
    sim = sim_factory("unauthorized")
    out = tmp_path / "gate.json"
    start = time.monotonic()
    proc = run_gate(sim, extra=("--json", str(out), "-v"))
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert time.monotonic() - start < 10
    assert len(sim.requests) == 1
    assert "401" in proc.stdout and "API key" in proc.stdout
    assert_no_secret(proc.stdout, proc.stderr, out.read_text())


def test_wrong_key_is_refused(sim_factory) -> None:
    sim = sim_factory("passing")
    proc = run_gate(sim, CHECKLY_API_KEY="cu_wrong_key_value")
    assert proc.returncode == 5
    assert "cu_wrong_key_value" not in proc.stdout + proc.stderr
    # Checkly's ApiError repeats the reason phrase in "error": the line says it once.
    verdict = next(line for line in proc.stdout.splitlines() if line.startswith("REFUSED"))
    assert verdict.count("Unauthorized") == 1, verdict


def test_not_found_grace_then_found(sim_factory) -> None:
    proc = run_gate(sim_factory("slow-start"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_not_found_after_grace_is_5(sim_factory) -> None:
    sc = replace(load_scenario("slow-start"), not_found_seconds=1000)
    proc = run_gate(sim_factory(sc, speed=1.0), extra=("--not-found-grace", "1"))
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "404" in proc.stdout


def test_deadline_while_running_is_4_and_on_time(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory("never-ends")
    out = tmp_path / "gate.json"
    start = time.monotonic()
    proc = run_gate(sim, extra=("--timeout", "2", "--json", str(out)))
    elapsed = time.monotonic() - start
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert elapsed < 10  # wall time includes interpreter start-up on a loaded machine
    data = json.loads(out.read_text())
    assert data["outcome"] == "timed-out" and data["sessions"][0]["status"] == "RUNNING"
    assert data["timings"]["durationSeconds"] < 2.5  # the gate's own clock: on time


def test_sigterm_writes_outputs_and_exits_143(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory("never-ends")
    out = tmp_path / "gate.json"
    proc, took = terminate_when_seen(gate_cmd(sim, extra=("--json", str(out))), gate_env(), sim, 2)
    assert proc.returncode == 143, proc.stdout + proc.stderr
    assert took < 10  # promised: 2 s; GitHub's runner kills 10 s after its first signal
    data = json.loads(out.read_text())
    assert data["exitCode"] == 143 and data["outcome"] == "interrupted"


def test_several_sessions_most_severe_wins(sim_factory) -> None:
    ok, bad = str(uuid.uuid4()), str(uuid.uuid4())
    sim = sim_factory("passing", sessions={bad: load_scenario("failing")})
    proc = run_gate(sim, ok, bad)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert bad in proc.stdout
    ids = {r.path.split("/")[3] for r in sim.requests if r.path.startswith("/v1/test-sessions/")}
    assert ids == {ok, bad}


def test_config_file_env_and_flag_precedence(sim_factory, tmp_path: Path) -> None:
    sim = sim_factory("never-ends")
    # The file says 60 s, the env 30 s, the flag 1 s: the flag must win and the run end fast.
    (tmp_path / "checkly-gate.yml").write_text(f"timeout: 60\napi-url: {sim.url}\n")
    cmd = [
        sys.executable,
        "-m",
        "checkly_gate",
        "wait",
        str(uuid.uuid4()),
        "--poll-interval",
        "0.2",
        "--timeout",
        "1",
    ]
    start = time.monotonic()
    proc = subprocess.run(
        cmd,
        env=gate_env(CHECKLY_GATE_TIMEOUT="30"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr
    # api-url came from the file, timeout from the flag (1 s, not the env's 30 or the file's 60)
    assert time.monotonic() - start < 15


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["wait", "not-a-uuid"], "is not a UUID"),
        (["wait", str(uuid.uuid4()), "--bogus"], "unknown option --bogus"),
        (["wait", str(uuid.uuid4()), "--timeout", "x"], "invalid number value"),
        (["wait"], "required"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], needle: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "checkly_gate", *args],
        env=gate_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_missing_key_is_a_clean_usage_error(tmp_path: Path) -> None:
    env = gate_env()
    del env["CHECKLY_API_KEY"]
    proc = subprocess.run(
        [sys.executable, "-m", "checkly_gate", "wait", str(uuid.uuid4())],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "CHECKLY_API_KEY" in proc.stderr


def test_version_is_fast_and_prints_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "checkly_gate", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("checkly-gate ")


REPORT_ARGS = ("--junit", "out/junit.xml", "--summary", "out/summary.md", "--json", "out/g.json")


@pytest.mark.parametrize(
    ("scenario", "extra", "code", "label"),
    [
        ("passing", (), 0, "passed"),
        ("failing", (), 1, "failed"),
        ("cancelled", (), 3, "cancelled"),
        ("never-ends", ("--timeout", "1.5"), 4, "timed-out"),
        ("unauthorized", (), 5, "refused"),
    ],
)
def test_every_outcome_writes_every_report(
    sim_factory, tmp_path: Path, scenario: str, extra: tuple[str, ...], code: int, label: str
) -> None:
    proc = run_gate(sim_factory(scenario), extra=REPORT_ARGS + extra, cwd=tmp_path)
    assert proc.returncode == code, proc.stdout + proc.stderr
    out = tmp_path / "out"
    xml = (out / "junit.xml").read_text()
    assert f'name="gate.outcome" value="{label}"' in xml
    assert junit_dialect.problems(xml) == []
    assert junit_dialect.gitlab_red(xml) is junit_dialect.dorny_red(xml) is (code != 0)
    assert f"(exit {code})" in (out / "summary.md").read_text()
    assert json.loads((out / "g.json").read_text())["exitCode"] == code
    for path in out.iterdir():
        assert_no_secret(path.read_text())


def test_api_unreachable_is_exit_6_and_still_writes_reports(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "checkly_gate",
        "wait",
        str(uuid.uuid4()),
        "--api-url",
        "http://127.0.0.1:9",
        "--timeout",
        "1.5",
        "--poll-interval",
        "0.2",
        *REPORT_ARGS,
    ]
    proc = subprocess.run(
        cmd, env=gate_env(), cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 6, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "<error" in (tmp_path / "out" / "junit.xml").read_text()
    assert "exit 6" in (tmp_path / "out" / "summary.md").read_text()


def test_github_actions_integration(sim_factory, tmp_path: Path) -> None:
    summary, output = tmp_path / "step_summary.md", tmp_path / "output.txt"
    summary.write_text("# earlier step\n")
    proc = run_gate(
        sim_factory("failing"),
        cwd=tmp_path,
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_OUTPUT=str(output),
    )
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("::group::") and "::endgroup::" in lines
    stop = next(line for line in lines if line.startswith("::stop-commands::"))
    token = stop.split("::")[2]
    assert f"::{token}::" in lines  # commands resumed with the same token
    assert any(line.startswith("::error title=") for line in lines)
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and "Checkly: failed (exit 1)" in text
    outputs = output.read_text()
    assert "status=failed" in outputs and "exit-code=1" in outputs
    assert_no_secret(proc.stdout, proc.stderr, text, outputs)


def test_gitlab_sections_and_dotenv(sim_factory, tmp_path: Path) -> None:
    proc = run_gate(
        sim_factory("passing"), extra=("--dotenv", "gate.env"), cwd=tmp_path, GITLAB_CI="true"
    )
    assert proc.returncode == 0
    assert "section_start:" in proc.stdout and "section_end:" in proc.stdout
    assert "CHECKLY_GATE_STATUS=passed" in (tmp_path / "gate.env").read_text()


def run_demo(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real `checkly-gate demo ARGS` at 8x speed, without an API key of the caller."""
    environ = gate_env(**env)
    del environ["CHECKLY_API_KEY"]
    return subprocess.run(
        [sys.executable, "-m", "checkly_gate", "demo", *args, "--speed", "8"],
        env=environ,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_demo_runs_and_writes_its_reports(tmp_path: Path) -> None:
    proc = run_demo(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = tmp_path / "checkly-gate-demo"
    for name in ("checkly-gate.json", "junit.xml", "summary.md"):
        assert (folder / name).is_file() and str(folder / name) in proc.stdout
    assert "FLAKY" in proc.stdout and "DEGRADED" in proc.stdout


class _ForwardingProxy(http.server.ThreadingHTTPServer):
    """A minimal HTTP proxy: records the absolute URLs it is asked for and forwards them."""

    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.seen.append(self.path)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream = httpx.get(self.path, headers=headers, timeout=30)
                self.send_response(upstream.status_code)
                self.send_header("Content-Type", upstream.headers.get("content-type", "text/plain"))
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_requests_go_through_the_standard_proxy_variables(sim_factory) -> None:
    sim = sim_factory("passing")
    proxy = _ForwardingProxy()
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{proxy.server_address[1]}"
        proc = run_gate(sim, HTTP_PROXY=url, http_proxy=url, NO_PROXY="", no_proxy="")
    finally:
        proxy.shutdown()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proxy.seen and all(p.startswith(sim.url + "/v1/test-sessions/") for p in proxy.seen)


def test_demo_stays_out_of_the_callers_ci_and_proxies(tmp_path: Path) -> None:
    """`demo` inside a CI job (Azure, Buildkite, ...) or behind a corporate proxy: the demo's
    failing checks must not become the job's error annotations, build annotations or log
    groups, and its in-process simulator on 127.0.0.1 must not be reached through the proxy."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    called = tmp_path / "agent-called"
    agent = bin_dir / "buildkite-agent"
    agent.write_text(f"#!/bin/sh\ntouch '{called}'\ncat >/dev/null\n")
    agent.chmod(0o755)
    proc = run_demo(
        tmp_path,
        "--scenario",
        "failing",
        TF_BUILD="True",
        BUILDKITE="true",
        CIRCLECI="true",
        JENKINS_URL="http://jenkins.example",
        BITBUCKET_BUILD_NUMBER="1",
        BITBUCKET_COMMIT="4f2a9c1",
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        ALL_PROXY="http://127.0.0.1:9",
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED (exit 1)" in proc.stdout
    for command in ("##vso[", "##[group]", "--- Waiting", "+++ "):
        assert command not in proc.stdout, command
    assert not called.exists(), "the demo annotated the caller's Buildkite build"
    assert "network error" not in proc.stderr


def test_demo_never_claims_reports_it_could_not_write(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = run_demo(tmp_path, "--scenario", "cancelled", "--output-dir", str(blocker / "reports"))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "cannot write" in proc.stderr
    assert "Reports written to" not in proc.stdout
    assert f"No report could be written to {blocker / 'reports'}" in proc.stdout

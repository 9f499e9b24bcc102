"""End to end: the real command finds sessions by commit, follows check sessions and names the
evidence of failures, against the simulator over HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from checkly_gate.commands.commit import COMMIT_VARIABLES
from checkly_gate.simulator import CheckSpec, Fault, Scenario, Simulator, load_scenario
from checkly_gate.simulator.model import DEFAULT_METADATA
from tests.tools import clean_env, terminate_when_seen

KEY = "cu_e2e_disc_" + "s3cr3t" * 4
SHA = str(DEFAULT_METADATA["commitId"])


def gate(sim: Simulator, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in clean_env().items() if k not in COMMIT_VARIABLES}
    environ.update({"CHECKLY_API_KEY": KEY, "NO_COLOR": "1", **env})
    command = [sys.executable, "-m", "checkly_gate", *args, "--api-url", sim.url]
    command += ["--poll-interval", "0.1", "--timeout", "20", "--json", "out.json"]
    return subprocess.run(command, env=environ, cwd=cwd, capture_output=True, text=True, timeout=60)


def snapshot(cwd: Path) -> dict:
    return json.loads((cwd / "out.json").read_text())


def start(scenario: Scenario | str = "passing", **kwargs: object) -> Simulator:
    sc = load_scenario(scenario) if isinstance(scenario, str) else scenario
    return Simulator(scenario=sc, api_key=KEY, speed=20, **kwargs).start()


@pytest.fixture
def sims():
    started: list[Simulator] = []

    def make(*args: object, **kwargs: object) -> Simulator:
        sim = start(*args, **kwargs)  # type: ignore[arg-type]
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def other_commit(n: int) -> Scenario:
    base = load_scenario("passing")
    return replace(base, metadata={"commitId": f"{n:040x}"})


def test_a_session_that_appears_later_is_found_by_abbreviated_commit(sims, tmp_path) -> None:
    sim = sims("discovery")  # listed 3 s (0.15 s at speed 20) after start
    for n in range(130):  # newer noise of other commits: the match is on page 2
        sim.add_listed(other_commit(n), after=4.0, provider="VERCEL")
    proc = gate(sim, "wait", "--commit", SHA[:9].upper(), "--provider", "vercel", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Found test session 'Vercel deployment checks'" in proc.stdout
    data = snapshot(tmp_path)
    assert data["outcome"] == "passed" and len(data["sessions"]) == 1
    lists = [r for r in sim.requests if r.path == "/v1/test-sessions"]
    assert data["requests"] >= len(lists) >= 1  # discovery requests are counted
    assert all(r.query.get("providers") == "VERCEL" for r in lists)
    assert any("nextId" in r.query for r in lists)


def test_every_matching_session_is_waited_for_and_the_worst_wins(sims, tmp_path) -> None:
    sim = sims("passing")
    sim.add_listed(load_scenario("passing"), provider="VERCEL")
    sim.add_listed(load_scenario("failing"), provider="GITHUB")
    sim.add_listed(other_commit(1), provider="GITHUB")
    proc = gate(sim, "wait", "--commit", SHA, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert {s["outcome"] for s in snapshot(tmp_path)["sessions"]} == {"passed", "failed"}


def test_no_session_is_exit_8_with_reports_or_0_when_allowed(sims, tmp_path) -> None:
    sim = sims("passing")
    sim.add_listed(other_commit(7))
    args = ("wait", "--commit", SHA, "--discover-timeout", "0.3", "--junit", "j.xml")
    proc = gate(sim, *args, cwd=tmp_path)
    assert proc.returncode == 8, proc.stderr
    assert "NO-SESSION (exit 8): no test session found for commit" in proc.stdout
    assert "looking again in" in proc.stderr
    assert "looking again in 0s" not in proc.stderr  # a 0.1 s pause is said as such
    assert snapshot(tmp_path)["outcome"] == "no-session"
    assert "no test session found" in (tmp_path / "j.xml").read_text()
    allowed = gate(sim, *args, "--no-fail-on-no-session", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    assert KEY not in proc.stdout + proc.stderr


def test_commit_auto_takes_the_ci_commit(sims, tmp_path) -> None:
    sim = sims("passing")
    sim.add_listed(load_scenario("passing"))
    proc = gate(sim, "wait", "--commit", "--branch", "main", cwd=tmp_path, GITHUB_SHA=SHA)
    assert proc.returncode == 0, proc.stderr


ID = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (("--commit",), {}, "--commit auto: no commit in the environment"),
        (("--commit", "not-a-sha"), {}, "expected a commit SHA"),
        (("--commit", SHA, ID), {}, "not both"),
        (("--discover-timeout", "5", ID), {}, "need --commit"),
        ((), {"CHECKLY_GATE_COMMIT": SHA, "CHECKLY_GATE_DISCOVER_TIMEOUT": "soon"}, "number"),
        (("--check-session", "nope"), {}, "not a UUID"),
    ],
)
def test_discovery_usage_errors_are_one_line(monkeypatch, capsys, args, env, needle) -> None:
    # In-process: these are refused before any request is made.
    from checkly_gate.cli import main

    for name in (*COMMIT_VARIABLES, "CHECKLY_GATE_COMMIT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHECKLY_API_KEY", KEY)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["wait", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and err.startswith("checkly-gate: error:")


def test_the_list_endpoints_rate_limit_is_honoured(sims, tmp_path) -> None:
    scenario = replace(
        load_scenario("discovery"),
        faults=(Fault("rate-limit", requests=(1, 1), retry_after=1, endpoint="list"),),
    )
    sim = sims(scenario)
    proc = gate(sim, "wait", "--commit", SHA, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lists = [r for r in sim.requests if r.path == "/v1/test-sessions"]
    assert lists[0].status == 429 and lists[1].at - lists[0].at >= 0.9


# --- check sessions ---------------------------------------------------------------------------


def one_check(outcome: str, check_type: str = "API") -> Scenario:
    check = CheckSpec(
        "Orders API",
        check_type,
        ("eu-west-1", "us-east-1"),
        duration=1.0,
        outcome=outcome,
        tags=("api",),
    )
    return Scenario(name=f"one-{outcome}", checks=(check,))


@pytest.mark.parametrize(
    ("outcome", "extra", "code"),
    [("failed", (), 1), ("degraded", ("--fail-on-degraded",), 1)],  # table: unit-tested
)
def test_wait_for_a_check_session(sims, tmp_path, outcome, extra, code) -> None:
    sim = sims(one_check(outcome))
    csid = "6a1b2c3d-0000-4000-8000-00000000c5e5"
    proc = gate(sim, "wait", "--check-session", csid, *extra, cwd=tmp_path)
    assert proc.returncode == code, proc.stdout + proc.stderr
    session = snapshot(tmp_path)["sessions"][0]
    assert session["sessionId"] == csid and session["counts"]["total"] == 2
    assert any(r.path.startswith("/v2/check-sessions/") for r in sim.requests)
    assert not any(r.path.startswith("/v1/test-sessions") for r in sim.requests)


def test_a_check_session_is_called_a_check_session(sims, tmp_path) -> None:
    """Checkly's names: the log, the CI group and the annotations of a check session never
    call it a test session (the field's names are part of the contract with the reader)."""
    sim = sims(one_check("failed"))
    csid = "6a1b2c3d-0000-4000-8000-00000000c5e6"
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "out.txt"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    proc = gate(sim, "wait", "--check-session", csid, cwd=tmp_path, **github)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Following check session" in proc.stdout
    assert f"Waiting for Checkly check session {csid}" in proc.stdout
    assert "test session" not in proc.stdout.lower()


def test_run_check_sessions_triggers_and_waits_for_each(sims, tmp_path) -> None:
    sim = sims("trigger-demo")
    proc = gate(sim, "run", "--check-sessions", "--tags", "web", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    started = proc.stdout.count("Started check session")
    assert started == 3  # Homepage, Status page, Search suite are tagged web
    assert len(snapshot(tmp_path)["sessions"]) == 3
    trigger = [r for r in sim.requests if r.path == "/v2/check-sessions/trigger"]
    assert len(trigger) == 1 and trigger[0].body == {"target": {"matchTags": [["web"]]}}
    none = gate(sim, "run", "--check-sessions", "--tags", "nothing-has-this", cwd=tmp_path)
    assert none.returncode == 7


# --- evidence ---------------------------------------------------------------------------------


def test_failed_browser_checks_name_their_evidence_and_never_the_asset_urls(sims, tmp_path) -> None:
    sim = sims(one_check("failed", "BROWSER"))
    sid = "6a1b2c3d-0000-4000-8000-0000000000e1"
    outputs = ("--junit", "j.xml", "--summary", "s.md")
    proc = gate(sim, "wait", sid, *outputs, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    wanted = "evidence in Checkly: trace, video, screenshot, log"
    junit_text = (tmp_path / "j.xml").read_text()
    summary = (tmp_path / "s.md").read_text()
    assert wanted in junit_text and wanted in proc.stdout
    assert "trace, video, screenshot, log \\(open the result\\)" in summary
    for text in (junit_text, summary, proc.stdout, (tmp_path / "out.json").read_text()):
        assert "/assets" not in text and sim.url not in text
    assets = [r for r in sim.requests if r.path.endswith("/assets")]
    assert len(assets) == 2  # one failed FINAL per location
    quiet = gate(sim, "wait", sid, "--no-details", cwd=tmp_path)
    assert quiet.returncode == 1
    assert len([r for r in sim.requests if r.path.endswith("/assets")]) == 2


def test_sigterm_while_looking_writes_reports_and_exits_143(sims, tmp_path) -> None:
    sim = sims("passing")
    command = [sys.executable, "-m", "checkly_gate", "wait", "--commit", SHA, "--api-url", sim.url]
    command += ["--poll-interval", "0.2", "--json", "out.json", "--discover-timeout", "30"]
    environ = {k: v for k, v in clean_env().items() if k not in COMMIT_VARIABLES}
    environ.update({"CHECKLY_API_KEY": KEY})
    proc, took = terminate_when_seen(command, environ, sim, 2, cwd=tmp_path)
    assert proc.returncode == 143, proc.stderr
    assert snapshot(tmp_path)["outcome"] == "interrupted" and took < 10
    assert snapshot(tmp_path)["reason"] == "interrupted by SIGTERM while looking for test sessions"


def test_report_renders_a_check_session_snapshot_again(sims, tmp_path) -> None:
    sim = sims(one_check("failed"))
    csid = "6a1b2c3d-0000-4000-8000-00000000c5e6"
    assert gate(sim, "wait", "--check-session", csid, cwd=tmp_path).returncode == 1
    again = subprocess.run(
        [sys.executable, "-m", "checkly_gate", "report", "out.json", "--junit", "again.xml"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert again.returncode == 1, again.stderr
    assert "Orders API" in (tmp_path / "again.xml").read_text()


@pytest.mark.parametrize("extra", [["--detach"], ["--env", "A=b"], ["--location", "us-east-1"]])
def test_run_check_sessions_refuses_what_it_cannot_do(monkeypatch, capsys, extra) -> None:
    from checkly_gate.cli import main

    monkeypatch.setenv("CHECKLY_API_KEY", KEY)
    assert main(["run", "--check-sessions", "--tags", "web", *extra]) == 2
    assert "--check-sessions takes tags and check ids only" in capsys.readouterr().err


# --- the window, partial knowledge, the API's clock, untrusted list fields (issues 17, 18) ---


def gate_with(
    sim: Simulator, *args: str, cwd: Path, timeout: str = "30", **env: str
) -> subprocess.CompletedProcess[str]:
    """``gate`` with the caller's own --poll-interval and --timeout."""
    environ = {k: v for k, v in clean_env().items() if k not in COMMIT_VARIABLES}
    environ.update({"CHECKLY_API_KEY": KEY, "NO_COLOR": "1", **env})
    command = [sys.executable, "-m", "checkly_gate", *args, "--api-url", sim.url]
    command += ["--timeout", timeout, "--json", "out.json"]
    return subprocess.run(command, env=environ, cwd=cwd, capture_output=True, text=True, timeout=90)


def test_a_session_listed_late_in_the_window_is_found_by_the_last_look(sims, tmp_path) -> None:
    # --discover-timeout 8 at the default schedule looks at 0, 5 and 8 s; the session is listed
    # at about 7 s. Before, the search gave up after the look at 5 s (exit 8).
    sim = sims("passing")
    sim.add_listed(load_scenario("passing"), after=7.0 * 20)  # scenario seconds at speed 20
    args = ("wait", "--commit", SHA, "--discover-timeout", "8", "--poll-interval", "10")
    proc = gate_with(sim, *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Found test session" in proc.stdout


def test_no_session_says_the_time_actually_searched(sims, tmp_path) -> None:
    sim = sims("passing")
    args = ("wait", "--commit", SHA, "--discover-timeout", "2", "--poll-interval", "10")
    proc = gate_with(sim, *args, cwd=tmp_path)
    assert proc.returncode == 8, proc.stdout + proc.stderr
    searched = re.search(r"in ([\d.]+)s of looking", proc.stdout)
    assert searched is not None and float(searched.group(1)) >= 2.0, proc.stdout


def test_a_page_that_answers_500_twice_is_read_again_and_its_failed_session_judged(
    sims, tmp_path
) -> None:
    # Page 2 answers 500 twice and holds the FAILED session of the commit: exit 1, never 0.
    scenario = replace(
        load_scenario("passing"),
        faults=(Fault("server-error", requests=(2, 3), endpoint="list", status=500),),
    )
    sim = sims(scenario)
    sim.add_listed(load_scenario("failing"), provider="GITHUB")  # the oldest: on page 2
    for n in range(120):
        sim.add_listed(other_commit(n))
    sim.add_listed(load_scenario("passing"))  # the newest: on page 1
    proc = gate(sim, "wait", "--commit", SHA, "--discover-timeout", "0", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert {s["outcome"] for s in snapshot(tmp_path)["sessions"]} == {"passed", "failed"}
    statuses = [r.status for r in sim.requests if r.path == "/v1/test-sessions"]
    assert statuses == [200, 500, 500, 200]


def test_twenty_one_sessions_of_a_commit_are_all_followed(sims, tmp_path) -> None:
    sim = sims("passing")
    sim.add_listed(load_scenario("failing"))  # the oldest of 21
    for _ in range(20):
        sim.add_listed(load_scenario("passing"))
    # The account's whole 600 a minute: at the default tenth, 21 sessions' reads wait on the
    # bucket for about 20 s; keeping to the share is tests/test_budget.py's subject.
    rate = ("--max-request-rate", "600")
    proc = gate(sim, "wait", "--commit", SHA, "--discover-timeout", "0", *rate, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert len(snapshot(tmp_path)["sessions"]) == 21


def test_branch_without_commit_never_takes_a_days_old_session(sims, tmp_path) -> None:
    sim = sims("passing")
    sim.list_ignores_from = True
    sim.add_listed(load_scenario("passing"), age=3 * 86400)  # branch main, three days old
    proc = gate(sim, "wait", "--branch", "main", "--discover-timeout", "1", cwd=tmp_path)
    assert proc.returncode == 8, proc.stdout + proc.stderr


@pytest.mark.parametrize("offset", [-86400.0, -600.0, 600.0, 86400.0])
@pytest.mark.parametrize("how", [("--commit", SHA), ("--branch", "main")])
def test_a_runner_clock_off_from_the_apis_still_finds_the_session_2s_later(
    sims, tmp_path, offset: float, how: tuple[str, str]
) -> None:
    sim = sims("passing")
    sim.clock_offset = offset  # the API's clock minus the runner's
    sim.add_listed(load_scenario("passing"), after=2.0 * 20)
    proc = gate(sim, "wait", *how, "--discover-timeout", "10", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_session_list_fields_never_reach_the_log_as_commands(sims, tmp_path) -> None:
    sim = sims("passing")
    hostile = {
        "branchName": "::warning::INJECTED\x1b[31mred",
        "status": "##[error]INJECTED",
        "provider": "\x1b[0Ksection_start:1:x\r\x1b[0KINJECTED",
        "name": "::error::named",
    }
    sim.add_listed(load_scenario("passing"), fields=hostile)
    proc = gate(sim, "wait", "--commit", SHA, cwd=tmp_path, GITHUB_ACTIONS="true")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = proc.stdout + proc.stderr
    assert "INJECTED" in log  # shown, as inert text
    for live in ("\x1b", "##[error]", "section_start:", "\r"):
        assert live not in log
    assert not any(line.startswith("::") for line in log.splitlines() if "INJECTED" in line)


@pytest.mark.parametrize("cursor", [b'"\\ud800"', b'"' + b"n" * 70_000 + b'"'])
def test_an_unusable_next_id_is_api_trouble_in_one_line(tmp_path, cursor: bytes) -> None:
    import http.server
    import threading

    body = b'{"entries": [], "nextId": ' + cursor + b"}"

    class List(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), List)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        environ = {k: v for k, v in clean_env().items() if k not in COMMIT_VARIABLES}
        environ.update({"CHECKLY_API_KEY": KEY, "NO_COLOR": "1"})
        url = f"http://127.0.0.1:{server.server_address[1]}"
        command = [sys.executable, "-m", "checkly_gate", "wait", "--commit", SHA]
        command += ["--api-url", url, "--timeout", "4", "--poll-interval", "0.5"]
        proc = subprocess.run(
            command, env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 6, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "unusable nextId" in proc.stdout
    assert max(len(line) for line in (proc.stdout + proc.stderr).splitlines()) < 2000


def test_more_matches_than_the_gate_follows_is_refused_with_a_reason_never_cut(
    sims, tmp_path
) -> None:
    from checkly_gate.commands.commit import MAX_SESSIONS

    sim = sims("passing")
    for _ in range(MAX_SESSIONS + 1):
        sim.add_listed(load_scenario("passing"))
    proc = gate(sim, "wait", "--commit", SHA, "--discover-timeout", "0", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{MAX_SESSIONS + 1} test sessions match" in proc.stdout and "narrow" in proc.stdout
    assert snapshot(tmp_path)["outcome"] == "error"
    assert not any(r.path.startswith("/v1/test-sessions/") for r in sim.requests)

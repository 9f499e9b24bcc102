"""Every path we ship, run the way its CI runs it: a cancel reaches the gate, and the caller's
checkout cannot change what the gate imports (issue 17.1, 17.2).

- The Action's wait step is taken out of action.yml and run as GitHub's runner runs a `shell:
  bash` step (`bash --noprofile --norc -e -o pipefail FILE`); the GitLab component's and the
  include template's scripts run with `sh -e -c` (an alpine image), and each docs/ci recipe's
  gate line in the shell its system uses.
- A cancel signals ONLY that shell's pid, with the CI's own sequence: GitHub and Azure SIGINT,
  then SIGTERM 7.5 s later, then SIGKILL 2.5 s after; GitLab, Buildkite, Jenkins, CircleCI and
  Bitbucket SIGTERM, SIGKILL after 10 s. The gate must write every report, exit 128 + the first
  signal, and send the cancel request when asked to.
- A workspace holding a module of every top-level name the gate and its dependencies import
  (taken from sys.modules after importing them) is the working directory: a passed session
  still exits 0 with its reports.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkly_gate.simulator import Simulator, load_scenario
from tests.tools import clean_env

ROOT = Path(__file__).resolve().parents[1]
KEY = "cu_shipped_" + "k" * 16
SID = "3f1c0b4e-8f3a-4b7e-9a53-2f6f7c1d9e10"
BIN = Path(sys.executable).parent  # this environment's python and checkly-gate console script
GITHUB = [(signal.SIGINT, 0.0), (signal.SIGTERM, 7.5), (signal.SIGKILL, 2.5)]
TERM_THEN_KILL = [(signal.SIGTERM, 0.0), (signal.SIGKILL, 10.0)]
REPORTS = {
    "CHECKLY_GATE_JUNIT": "out/junit.xml",
    "CHECKLY_GATE_SUMMARY": "out/summary.md",
    "CHECKLY_GATE_JSON": "out/gate.json",
}


def action_step_file(tmp_path: Path, step_id: str = "wait") -> Path:
    steps = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))["runs"]["steps"]
    (step,) = [s for s in steps if s.get("id") == step_id]
    script = tmp_path.parent / f"{tmp_path.name}-step.sh"
    script.write_text(step["run"], encoding="utf-8")
    return script


def gitlab_scripts() -> dict[str, str]:
    _, job = yaml.safe_load_all((ROOT / "templates/checkly-gate.yml").read_text("utf-8"))
    (body,) = job.values()
    plain = yaml.safe_load((ROOT / "templates/include/checkly-gate.gitlab-ci.yml").read_text())
    return {"component": body["script"][1], "include": plain[".checkly-gate"]["script"][1]}


def base_env(url: str, **extra: str) -> dict[str, str]:
    env = clean_env()
    env.update(
        {
            "PATH": f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}",
            "CHECKLY_API_KEY": KEY,
            "CHECKLY_API_URL": url,
            "CHECKLY_GATE_POLL_INTERVAL": "0.2",
            "CHECKLY_GATE_TIMEOUT": "120",
            "NO_COLOR": "1",
            **REPORTS,
            **extra,
        }
    )
    return env


def cancel_like_the_runner(
    proc: subprocess.Popen[str], sim: Simulator, sequence: list[tuple[int, float]]
) -> tuple[int, str]:
    """Once the gate follows the session, send ``sequence`` to the shell's pid only (each
    signal ``delay`` seconds after the previous one, while the process lives)."""
    start = time.monotonic()
    while not any(r.path.endswith("/completion") for r in sim.requests):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() - start < 60, "the gate never started following"
        time.sleep(0.05)
    for signum, delay in sequence:
        try:
            proc.wait(delay)
            break
        except subprocess.TimeoutExpired:
            proc.send_signal(signum)
    output, _ = proc.communicate(timeout=30)
    return proc.returncode, output


def assert_interrupted(cwd: Path, code: int, sim: Simulator) -> None:
    data = json.loads((cwd / "out" / "gate.json").read_text(encoding="utf-8"))
    assert data["exitCode"] == code and data["outcome"] == "interrupted"
    assert "interrupted" in (cwd / "out" / "junit.xml").read_text(encoding="utf-8")
    assert f"(exit {code})" in (cwd / "out" / "summary.md").read_text(encoding="utf-8")
    assert any(r.method == "POST" and r.path.endswith("/cancel") for r in sim.requests)


@pytest.fixture
def never_ends() -> Iterator[Simulator]:
    scenario = replace(load_scenario("trigger-demo"), end="never", not_found_seconds=0.0)
    with Simulator(scenario=scenario, api_key=KEY, speed=20) as sim:
        yield sim


@pytest.fixture
def passing() -> Iterator[Simulator]:
    with Simulator(scenario=load_scenario("passing"), api_key=KEY, speed=20) as sim:
        yield sim


# ---------------------------------------------------------------- a cancel reaches the gate


def test_the_actions_step_cancelled_as_githubs_runner_does(tmp_path: Path, never_ends) -> None:
    env = base_env(
        never_ends.url,
        CG_PYTHON=sys.executable,
        CHECKLY_GATE_SESSION_ID=SID,
        CHECKLY_GATE_CANCEL_ON_INTERRUPT="true",
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(tmp_path / "output"),
        GITHUB_STEP_SUMMARY=str(tmp_path / "step-summary"),
    )
    proc = subprocess.Popen(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", str(action_step_file(tmp_path))],
        cwd=tmp_path,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    code, output = cancel_like_the_runner(proc, never_ends, GITHUB)
    assert code == 130, output
    assert "interrupted by SIGINT" in output
    assert_interrupted(tmp_path, 130, never_ends)
    assert "exit-code=130" in (tmp_path / "output").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("name", ["component", "include"])
def test_the_gitlab_scripts_cancelled_as_gitlabs_runner_does(
    tmp_path: Path, never_ends, name: str
) -> None:
    """GitLab's runner (docker, kubernetes) sends SIGTERM to the script's processes on a
    graceful cancel, SIGKILL after the grace period; here only the shell's pid gets it."""
    script = gitlab_scripts()[name]
    variables = {"CHECKLY_GATE_TAGS": "web", "CHECKLY_GATE_CANCEL_ON_INTERRUPT": "on"}
    if name == "component":  # the job's variables, as the component's inputs set them
        variables.update({k: "" for k in ("CHECKLY_GATE_CHECK_ID", "CHECKLY_GATE_SESSION_ID")})
    proc = subprocess.Popen(
        [shutil.which("sh") or "/bin/sh", "-e", "-c", script],
        cwd=tmp_path,
        env=base_env(never_ends.url, **variables),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    code, output = cancel_like_the_runner(proc, never_ends, TERM_THEN_KILL)
    assert code == 143, output
    assert_interrupted(tmp_path, 143, never_ends)


# How each system runs its recipe's script, and how it cancels (docs/ci/<name>.md says so).
RECIPES = {
    "azure-pipelines": (["bash", "--noprofile", "--norc", "-e"], GITHUB, 130),
    "jenkins": (["sh", "-xe"], TERM_THEN_KILL, 143),
    "buildkite": (["bash", "-e"], TERM_THEN_KILL, 143),
    "circleci": (["bash", "-eo", "pipefail"], TERM_THEN_KILL, 143),
    "bitbucket-pipelines": (["bash", "-e"], TERM_THEN_KILL, 143),
}


def recipe_gate_line(name: str, url: str) -> str:
    """The recipe's gate line as its system hands it to the shell: the system's own
    substitutions done, the tags our simulator knows, pointed at it."""
    text = (ROOT / "docs" / "ci" / f"{name}.md").read_text(encoding="utf-8")
    (line,) = [
        line for line in text.splitlines() if re.search(r"checkly-gate\"? (run|wait)\b", line)
    ]
    line = re.sub(r"^\s*(- |command: )?", "", line)
    assert line.startswith("exec "), f"{name}: the gate is not the step's process: {line}"
    line = re.sub(r"exec \S*checkly-gate\"?", f"exec {BIN}/checkly-gate", line)
    line = line.replace("$$", "$").replace("$(DEPLOY_URL)", "$DEPLOY_URL")
    line = line.replace("--tags production", "--tags web")
    line = re.sub(r"--junit \S+", "--junit out/junit.xml", line)
    line = re.sub(r"--summary \S+", "--summary out/summary.md", line)
    return f"{line} --api-url {url} --cancel-on-interrupt"


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_each_recipe_cancelled_as_its_ci_does(tmp_path: Path, never_ends, name: str) -> None:
    shell, sequence, code = RECIPES[name]
    script = tmp_path.parent / f"{tmp_path.name}-recipe.sh"
    script.write_text(recipe_gate_line(name, never_ends.url) + "\n", encoding="utf-8")
    proc = subprocess.Popen(
        [*shell, str(script)],
        cwd=tmp_path,
        env=base_env(never_ends.url, DEPLOY_URL="https://staging.example.com"),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    got, output = cancel_like_the_runner(proc, never_ends, sequence)
    assert got == code, output
    assert_interrupted(tmp_path, code, never_ends)


# ---------------------------------------------------------------- the checkout cannot shadow


def imported_names() -> list[str]:
    """Top-level modules the gate and its dependencies import (a fresh, isolated process)."""
    probe = (
        "import sys, checkly_gate.cli, checkly_gate.gate, checkly_gate.commands.run, "
        "checkly_gate.commands.commit, checkly_gate.api, httpx, yaml, backoff, certifi\n"
        "print('\\n'.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    return [n for n in out if n.isidentifier() and n not in sys.builtin_module_names]


NAMES = imported_names()
POISON = "raise SystemExit('the workspace shadowed a module the gate imports: ' + __name__)\n"


def poison(folder: Path, names: list[str], packages: set[str]) -> None:
    for name in names:
        if name in packages:
            (folder / name).mkdir(exist_ok=True)
            (folder / name / "__init__.py").write_text(POISON, encoding="utf-8")
        else:
            (folder / f"{name}.py").write_text(POISON, encoding="utf-8")


def run_passed(shape: str, cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = base_env(url, CHECKLY_GATE_SESSION_ID=SID, GITHUB_OUTPUT=str(cwd / ".output"))
    if shape == "action":
        command = ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail"]
        command.append(str(action_step_file(cwd)))
        env["CG_PYTHON"] = sys.executable
    else:
        command = [shutil.which("sh") or "/bin/sh", "-e", "-c", gitlab_scripts()[shape]]
        env.update(CHECKLY_GATE_TAGS="", CHECKLY_GATE_CHECK_ID="")
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_probe_found_the_names_that_matter() -> None:
    for name in ("json", "email", "http", "ssl", "typing", "httpx", "yaml", "socket"):
        assert name in NAMES, name


@pytest.mark.parametrize("shape", ["action", "component", "include"])
def test_a_workspace_of_every_imported_name(tmp_path: Path, passing, shape: str) -> None:
    poison(tmp_path, NAMES, packages={"email", "http", "json", "yaml", "httpx"})
    proc = run_passed(shape, tmp_path, passing.url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "shadowed" not in proc.stdout + proc.stderr
    assert "PASSED" in (tmp_path / "out" / "summary.md").read_text(encoding="utf-8").upper()


@settings(
    deadline=None,
    max_examples=6,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    names=st.lists(st.sampled_from(NAMES), min_size=1, max_size=25, unique=True),
    as_package=st.sets(st.sampled_from(NAMES), max_size=25),
)
def test_any_workspace_leaves_the_actions_gate_alone(
    tmp_path_factory: pytest.TempPathFactory, passing, names: list[str], as_package: set[str]
) -> None:
    folder = tmp_path_factory.mktemp("workspace")
    poison(folder, names, as_package)
    proc = run_passed("action", folder, passing.url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (folder / "out" / "junit.xml").is_file()


# act (0.2.89, host mode) is not used for the cancel: on a cancelled run it kills the step's
# process with SIGKILL at once ("this step has been cancelled: signal: killed"), unlike GitHub's
# runner (SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after), so it cannot show what a real
# cancel does. The step above runs exactly as the runner starts it instead.

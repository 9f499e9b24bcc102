"""The suite's groups (tests/conftest.py ``GROUPS``; issue 20.8): every grouped module exists,
and every module that starts the real command is in a slow group, so
``pytest -m "not repo and not e2e"`` stays the fast, in-process part."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import GROUPS

TESTS = Path(__file__).resolve().parent
# The real CLI in a subprocess: `python -m checkly_gate ...` or the console script.
RUNS_THE_CLI = re.compile(r"""["']-m["'],\s*["']checkly_gate["']|["']checkly-gate["'],\s*["']""")


def test_every_grouped_module_exists() -> None:
    modules = {p.stem for p in TESTS.glob("test_*.py")}
    for marker, members in GROUPS.items():
        assert members <= modules, f"{marker}: no such test module {sorted(members - modules)}"
    assert not GROUPS["repo"] & GROUPS["e2e"]


def test_modules_that_run_the_real_command_are_not_unit_tests() -> None:
    grouped = GROUPS["repo"] | GROUPS["e2e"]
    ungrouped = [
        p.stem
        for p in sorted(TESTS.glob("test_*.py"))
        if p.stem not in grouped and RUNS_THE_CLI.search(p.read_text(encoding="utf-8"))
    ]
    assert not ungrouped, f"run the CLI but are not marked e2e (tests/conftest.py): {ungrouped}"

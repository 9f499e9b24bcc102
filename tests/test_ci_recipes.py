"""The copy-paste recipes in docs/ci/: valid for their system, and every checkly-gate command in
them is one checkly-gate's own parser accepts, publishing the JUnit file it writes.

- each YAML recipe is validated against its system's JSON schema with check-jsonschema's
  vendored schemas (skipped with the reason when check-jsonschema is missing);
- every `checkly-gate run|wait ...` line (the Jenkinsfile's too) is split like a shell would
  and parsed by `cli.build_parser()`: a renamed or mistyped flag fails here;
- the JUnit path the command writes is the one the system's publish step reads;
- the install line installs this version from something that exists (the tagged archive).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from checkly_gate import __version__
from checkly_gate.cli import build_parser
from tests.tools import tool

DOCS = Path(__file__).resolve().parents[1] / "docs" / "ci"
BLOCK = re.compile(r"^```(yaml|groovy)\n(.*?)^```", re.S | re.M)
SCHEMAS = {
    "azure-pipelines": "vendor.azure-pipelines",
    "circleci": "vendor.circle-ci",
    "bitbucket-pipelines": "vendor.bitbucket-pipelines",
    "buildkite": "vendor.buildkite",
}
RECIPES = ["jenkins", *SCHEMAS]
ARCHIVE = (
    "checkly-gate @ https://github.com/checkly-gate/checkly-gate/archive/refs/tags/"
    f"v{__version__}.tar.gz"
)


def recipe(name: str) -> tuple[str, str]:
    """(language, text) of the recipe's one code block."""
    (block,) = BLOCK.findall((DOCS / f"{name}.md").read_text(encoding="utf-8"))
    return block


def gate_commands(text: str) -> list[list[str]]:
    """Every checkly-gate invocation in ``text``, as argv (from the checkly-gate word on)."""
    commands = []
    for line in text.splitlines():
        if not re.search(r"checkly-gate\"? (run|wait) ", line):
            continue
        line = re.sub(r"^\s*(- |command: )*", "", line)
        words = shlex.split(line)
        start = next(i for i, w in enumerate(words) if w.endswith("checkly-gate"))
        commands.append(words[start + 1 :])
    return commands


def test_every_system_has_a_recipe_with_a_gate_command() -> None:
    assert sorted(p.stem for p in DOCS.glob("*.md")) == sorted(["README", *RECIPES])
    for name in RECIPES:
        _, text = recipe(name)
        assert gate_commands(text), name
        assert f'install --quiet "{ARCHIVE}"' in text, name


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_commands_parse_with_checkly_gates_flags(name: str) -> None:
    _, text = recipe(name)
    for argv in gate_commands(text):
        args = build_parser().parse_args(argv)  # SystemExit(2) on an unknown flag
        assert args.command in ("run", "wait") and args.junit, argv


@pytest.mark.parametrize("name", SCHEMAS)
def test_yaml_recipe_is_valid_for_its_system(name: str, tmp_path: Path) -> None:
    language, text = recipe(name)
    assert language == "yaml"
    yaml.safe_load(text)
    checker = tool("check-jsonschema")
    if checker is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    path = tmp_path / f"{name}.yml"
    path.write_text(text, encoding="utf-8")
    proc = subprocess.run(
        # Python's regex dialect: the Azure schema has a pattern the default engine rejects.
        [checker, "--regex-variant", "python", "--builtin-schema", SCHEMAS[name], str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def junit_of(text: str) -> str:
    (argv,) = gate_commands(text)
    return build_parser().parse_args(argv).junit


def test_each_recipe_publishes_the_junit_file_it_writes() -> None:
    _, jenkins = recipe("jenkins")
    assert f"junit testResults: '{junit_of(jenkins)}'" in jenkins
    assert "post {\n    always {" in jenkins  # also when the gate fails the stage

    _, text = recipe("azure-pipelines")
    (publish,) = [
        s for s in yaml.safe_load(text)["steps"] if s.get("task") == "PublishTestResults@2"
    ]
    assert publish["inputs"]["testResultsFiles"] == junit_of(text)
    assert publish["inputs"]["testResultsFormat"] == "JUnit"
    assert publish["condition"] == "succeededOrFailed()"

    _, text = recipe("circleci")
    steps = yaml.safe_load(text)["jobs"]["checkly-gate"]["steps"]
    (store,) = [s["store_test_results"] for s in steps if "store_test_results" in s]
    assert junit_of(text).startswith(store["path"] + "/")

    _, text = recipe("bitbucket-pipelines")
    assert junit_of(text).startswith("test-results/")  # Bitbucket's scanned folder

    _, text = recipe("buildkite")
    (step,) = [s for s in yaml.safe_load(text)["steps"] if "Checkly" in str(s)]
    assert junit_of(text) in step["artifact_paths"]

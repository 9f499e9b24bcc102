"""The image's rules without a container engine: who writes the reports, and the gate as PID 1.

`docker run -v "$PWD/reports:/reports"` mounts a host folder over the image's /reports. Its
owner and mode are the host's: root 0755 when Docker creates a missing source, the CI user
(uid 1001 on GitHub's runners) 0755 when the job made it, 0777 in GitLab's Docker executor
build directory. These tests replay each case as root with setpriv: the gate (installed from
requirements.lock into a virtual environment of the system's Python, as the image installs
it) runs as the image's uid 10001, as the host user (the README's `--user "$(id -u):$(id -g)"`)
or as an arbitrary uid without a passwd entry or HOME, in a folder owned like the mount, against
a local simulator. A report that cannot be written must be a warning on stderr, never a crash
or a changed verdict. Last, `unshare --pid --fork` makes the gate PID 1 of a new PID namespace,
as in a container without an init: SIGTERM (`docker stop`) must still end it with 143 and the
reports written.

Skipped unless root (setpriv needs it) and, for PID 1, unless unshare is permitted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from checkly_gate.simulator import Simulator, load_scenario

ROOT = Path(__file__).resolve().parents[1]
KEY = "cu_container_" + uuid.uuid4().hex
IMAGE_UID = 10001
HOST_UID = 1001  # GitHub's hosted runners run jobs as uid 1001
ANY_UID = 4242  # no passwd entry, no HOME

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run the gate as another uid",
)


@pytest.fixture(scope="module")
def image_python() -> Iterator[Path]:
    """A virtual environment any uid can run: the system Python, the locked dependencies,
    checkly-gate from src/ (world-readable paths only, unlike pytest's 0700 tmp folders)."""
    system = Path("/usr/bin/python3")
    if not system.exists():
        pytest.skip("no system Python at /usr/bin/python3")
    top = Path(tempfile.mkdtemp(prefix="checkly-gate-image-", dir="/tmp"))
    try:
        top.chmod(0o755)
        env_dir = top / "venv"
        subprocess.run([str(system), "-m", "venv", "--without-pip", str(env_dir)], check=True)
        python = env_dir / "bin" / "python"
        lock = top / "requirements.lock"
        shutil.copy2(ROOT / "requirements.lock", lock)
        pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        proc = subprocess.run(
            [*pip, "--require-hashes", "--no-deps", "-r", str(lock)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot install requirements.lock: {proc.stderr.strip()[-300:]}")
        shutil.copytree(ROOT / "src", top / "src", ignore=shutil.ignore_patterns("__pycache__"))
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        Path(site, "checkly_gate_src.pth").write_text(f"{top / 'src'}\n", encoding="utf-8")
        for path in top.rglob("*"):
            path.chmod(
                path.stat().st_mode | 0o055 if path.is_dir() else path.stat().st_mode | 0o044
            )
        yield python
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def mount() -> Iterator[Path]:
    """A folder standing for the bind mount, under a parent every uid may traverse."""
    top = Path(tempfile.mkdtemp(prefix="checkly-gate-mount-", dir="/tmp"))
    top.chmod(0o755)
    try:
        yield top / "reports"
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(scenario=load_scenario("passing"), api_key=KEY, speed=20) as s:
        yield s


def image_env(sim: Simulator, **extra: str) -> dict[str, str]:
    """What `docker run -e CHECKLY_API_KEY ...` gives the gate: PATH and the options; no HOME."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "CHECKLY_API_KEY": KEY,
        "CHECKLY_API_URL": sim.url,
        "CHECKLY_GATE_POLL_INTERVAL": "0.1",
        "CHECKLY_GATE_TIMEOUT": "30",
        "PYTHONDONTWRITEBYTECODE": "1",
        "NO_COLOR": "1",
        **extra,
    }


def as_user(uid: int, gid: int, command: list[str]) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *command]


def gate(python: Path, *args: str) -> list[str]:
    return [str(python), "-m", "checkly_gate", *args]


REPORTS = ("--junit", "checkly-junit.xml", "--summary", "checkly-summary.md")


@pytest.mark.parametrize(
    ("owner", "mode", "uid", "writes"),
    [
        # the README's recipe: `mkdir -p reports` by the CI user, `docker run --user` as them
        (HOST_UID, 0o755, HOST_UID, True),
        (ANY_UID, 0o700, ANY_UID, True),  # any uid, without a passwd entry or HOME
        (0, 0o777, IMAGE_UID, True),  # GitLab's Docker executor: a world-writable build dir
        (0, 0o1777, ANY_UID, True),  # the image's own /reports (no mount): any uid writes
        # without --user: the image's uid in a folder it does not own
        (0, 0o755, IMAGE_UID, False),  # Docker created the missing source as root
        (HOST_UID, 0o755, IMAGE_UID, False),  # the CI user's folder
    ],
)
def test_who_writes_the_reports(
    image_python: Path, sim: Simulator, mount: Path, owner: int, mode: int, uid: int, writes: bool
) -> None:
    mount.mkdir()
    os.chown(mount, owner, owner)
    mount.chmod(mode)
    session = str(uuid.uuid4())
    proc = subprocess.run(
        as_user(uid, uid, gate(image_python, "wait", session, *REPORTS)),
        cwd=mount,
        env=image_env(sim),
        capture_output=True,
        text=True,
        timeout=60,
    )
    # The verdict never depends on whether a report could be written.
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    written = sorted(p.name for p in mount.iterdir())
    if writes:
        assert written == ["checkly-junit.xml", "checkly-summary.md"], proc.stderr
        assert {p.stat().st_uid for p in mount.iterdir()} == {uid}  # the host user owns them
        return
    # Unwritable: a warning on stderr (the CI log) naming each report and why; nothing written.
    assert written == []
    for name in ("checkly-junit.xml", "checkly-summary.md"):
        (line,) = [line for line in proc.stderr.splitlines() if name in line]
        assert "ermission denied" in line, line


def pid1_children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="utf-8")
    except OSError:
        return []
    return [int(p) for p in text.split()]


def test_the_gate_as_pid_1_stops_on_sigterm(
    image_python: Path, mount: Path, tmp_path: Path
) -> None:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare is not installed (util-linux)")
    probe = subprocess.run([unshare, "--pid", "--fork", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"unshare --pid is not permitted here: {probe.stderr.decode().strip()}")
    mount.mkdir()
    os.chown(mount, IMAGE_UID, IMAGE_UID)
    with Simulator(scenario=load_scenario("never-ends"), api_key=KEY, speed=20) as sim:
        command = [
            unshare,
            "--pid",
            "--fork",
            *as_user(IMAGE_UID, IMAGE_UID, gate(image_python, "wait", str(uuid.uuid4()), *REPORTS)),
        ]
        proc = subprocess.Popen(
            command, cwd=mount, env=image_env(sim), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 20
            child = None
            while time.monotonic() < deadline and (child is None or len(sim.requests) < 2):
                children = pid1_children(proc.pid)
                child = children[0] if children else None
                time.sleep(0.05)
            assert child is not None and len(sim.requests) >= 2, "the gate did not start"
            status = Path(f"/proc/{child}/status").read_text(encoding="utf-8")
            (nspid,) = [line for line in status.splitlines() if line.startswith("NSpid:")]
            assert nspid.split()[-1] == "1", nspid  # PID 1 inside its namespace
            os.kill(child, signal.SIGTERM)  # what `docker stop` sends to PID 1
            stdout, stderr = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 143, stdout.decode() + stderr.decode()
    assert sorted(p.name for p in mount.iterdir()) == ["checkly-junit.xml", "checkly-summary.md"]

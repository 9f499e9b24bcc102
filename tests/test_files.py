"""Output files are written safely whatever the path is: regular file, symlink, FIFO, device,
directory, unwritable; a report that cannot be written never changes the verdict."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from checkly_gate.files import append_text, write_atomic
from checkly_gate.finish import write_outputs
from checkly_gate.redact import Secrets
from checkly_gate.reports import GateRun
from checkly_gate.simulator import Simulator, load_scenario
from checkly_gate.verdict import usage_verdict
from tests.tools import clean_env

NO_SECRETS = Secrets()  # these tests are about paths, not masking

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
KEY = "cu_files_key_123"


def test_a_regular_file_is_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "r.md"
    write_atomic(path, "one", NO_SECRETS)
    inode = path.stat().st_ino
    write_atomic(path, "two \ud800", NO_SECRETS)  # a lone surrogate is written, replaced
    assert path.read_text("utf-8") == "two \ufffd"
    assert path.stat().st_ino != inode  # renamed into place, never truncated in place
    assert [p.name for p in path.parent.iterdir()] == ["r.md"]  # no temp file left


def test_a_symlink_keeps_being_a_link_and_its_target_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "real" / "summary.md"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "summary.md"
    link.symlink_to(target)
    write_atomic(link, "new", NO_SECRETS)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new"
    dangling = tmp_path / "dangling.md"
    dangling.symlink_to(tmp_path / "later.md")
    write_atomic(dangling, "created", NO_SECRETS)
    assert dangling.is_symlink() and (tmp_path / "later.md").read_text() == "created"


def test_a_fifo_is_written_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    ready = threading.Event()

    def reader() -> None:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        ready.set()
        chunks = []
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:  # a writer is there, nothing written yet
                chunk = None
            if chunk:
                chunks.append(chunk)
            elif chunk == b"" and chunks:  # end of file after the data
                break
            else:  # no writer yet, or no data yet
                threading.Event().wait(0.01)
        os.close(fd)
        got.append(b"".join(chunks))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    ready.wait(5)
    write_atomic(fifo, "through the pipe\n", NO_SECRETS)
    thread.join(5)
    assert got == [b"through the pipe\n"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_fifo_nobody_reads_is_an_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="no process is reading"):
        write_atomic(fifo, "x", NO_SECRETS)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.skipif(not ROOT, reason="creating a device node needs root")
def test_a_character_device_is_written_in_place_never_replaced(tmp_path: Path) -> None:
    device = tmp_path / "null"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # like /dev/null
    write_atomic(device, "gone", NO_SECRETS)
    assert stat.S_ISCHR(os.stat(device).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


@pytest.mark.parametrize("into", ["pipe", "log-file"])
@pytest.mark.parametrize("path", ["/dev/stdout", "link-to-stdout.md"])
def test_dev_stdout_is_the_process_output(tmp_path: Path, into: str, path: str) -> None:
    """``--summary /dev/stdout`` (or a symlink to it): the summary lands in the output, in order,
    whether stdout is a pipe or a log file; neither the device nor the log file is replaced."""
    (tmp_path / "link-to-stdout.md").symlink_to("/dev/stdout")
    code = (
        "from checkly_gate.files import write_atomic\n"
        "from checkly_gate.redact import Secrets\n"
        "print('before')\n"
        f"write_atomic({path!r}, 'summary text\\n', Secrets())\n"
        "print('after')\n"
    )
    cmd = [sys.executable, "-c", code]
    if into == "pipe":
        proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=30)
        output = proc.stdout
    else:
        log = tmp_path / "job.log"
        with open(log, "w") as handle:
            proc = subprocess.run(cmd, cwd=tmp_path, stdout=handle, stderr=subprocess.PIPE)
        output = log.read_text()
    assert proc.returncode == 0, proc.stderr
    assert output == "before\nsummary text\nafter\n"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("kind", ["directory", "under-a-file", "unwritable"])
def test_unwritable_paths_raise_a_clear_reason(tmp_path: Path, kind: str) -> None:
    if kind == "directory":
        path, reason = tmp_path, "is a directory"
    elif kind == "under-a-file":
        (tmp_path / "file").write_text("x")
        path, reason = tmp_path / "file" / "r.md", "Not a directory"
    else:
        if ROOT:
            pytest.skip("root writes anywhere")
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        path, reason = locked / "r.md", "Permission denied"
    with pytest.raises(OSError) as caught:
        write_atomic(path, "x", NO_SECRETS)
    assert reason in (caught.value.strerror or "")
    with pytest.raises(OSError):
        append_text(tmp_path if kind == "directory" else path, "x", NO_SECRETS)


def test_write_outputs_reports_every_problem_and_writes_the_rest(tmp_path: Path) -> None:
    problems: list[str] = []
    run = GateRun(verdict=usage_verdict("bad input"))
    targets = {"junit": tmp_path, "summary": tmp_path / "s.md", "dotenv": None}
    written = write_outputs(run, targets, Secrets(), problems)
    assert written == {"summary": tmp_path / "s.md"}
    assert len(problems) == 1 and str(tmp_path) in problems[0] and "is a directory" in problems[0]


def test_a_report_that_cannot_be_written_never_changes_the_exit_code(tmp_path: Path) -> None:
    scenario = load_scenario("passing")
    with Simulator(scenario=scenario, api_key=KEY, speed=30) as sim:
        env = {
            **clean_env(),
            "CHECKLY_API_KEY": KEY,
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(tmp_path / "out"),
        }
        cmd = [sys.executable, "-m", "checkly_gate", "wait", str(uuid.uuid4())]
        cmd += ["--api-url", sim.url, "--poll-interval", "0.1", "--summary", str(tmp_path)]
        cmd += ["--junit", str(tmp_path / "j.xml")]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"cannot write the summary report {tmp_path}: is a directory" in proc.stderr
    annotations = [line for line in proc.stdout.splitlines() if line.startswith("::error ")]
    assert any("report not written" in a and "is a directory" in a for a in annotations)
    assert (tmp_path / "j.xml").exists() and "status=passed" in (tmp_path / "out").read_text()

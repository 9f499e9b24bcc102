"""Files are written atomically with parents created; `report` re-renders a snapshot offline."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from checkly_gate.files import append_text, write_atomic
from checkly_gate.finish import shadowed, write_outputs
from checkly_gate.redact import Secrets
from checkly_gate.reports import GateRun, snapshot
from tests import runs

NO_SECRETS = Secrets()  # these tests are about writing, not masking


def test_write_atomic_creates_parents_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "report.xml"
    write_atomic(target, "one", NO_SECRETS)
    write_atomic(target, "two ✓", NO_SECRETS)
    assert target.read_text(encoding="utf-8") == "two ✓"
    assert os.listdir(target.parent) == ["report.xml"]
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode & 0o044  # readable by others, like any file the umask allows (not 0600)


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "r.txt"
    write_atomic(target, "old", NO_SECRETS)

    with pytest.raises(TypeError):
        write_atomic(target, 123, NO_SECRETS)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["r.txt"]


def test_append_never_truncates(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("earlier step\n")
    append_text(path, "ours\n", NO_SECRETS)
    assert path.read_text() == "earlier step\nours\n"


def test_write_outputs_renders_every_format_and_redacts(tmp_path: Path) -> None:
    run = runs.failed()
    targets = {k: tmp_path / f"out.{k}" for k in ("json", "junit", "summary", "dotenv")}
    written = write_outputs(run, dict(targets), Secrets(["Deploy checks"]))
    assert set(written) == set(targets)
    for path in targets.values():
        text = path.read_text(encoding="utf-8")
        assert text and "Deploy checks" not in text


def test_unwritable_target_is_logged_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    written = write_outputs(
        runs.passed(),
        {"junit": blocker / "sub" / "j.xml", "json": tmp_path / "ok.json"},
        Secrets(),
    )
    assert list(written) == ["json"]


@pytest.mark.parametrize("name", sorted(runs.ALL_OUTCOMES))
def test_snapshot_round_trip_gives_the_same_verdict(name: str) -> None:
    run = runs.ALL_OUTCOMES[name]()
    again = snapshot.load(snapshot.render(run))
    assert again.verdict.exit_code == run.verdict.exit_code
    assert again.verdict.outcome is run.verdict.outcome
    assert again.verdict.counts == run.verdict.counts
    assert again.requests == run.requests


@pytest.mark.parametrize("name", sorted(runs.ALL_OUTCOMES))
def test_a_shadowed_snapshot_stays_shadowed(name: str) -> None:
    """--shadow is in the snapshot whichever path wrote it (``finish.shadowed``), a command
    that ended before any wait included (no session read: unavailable, refused): ``report``
    exits as the gate did and keeps the code it would have exited with."""
    run = shadowed(runs.ALL_OUTCOMES[name](), True)
    again = snapshot.load(snapshot.render(run))
    assert again.verdict.exit_code == run.verdict.exit_code
    assert again.would_exit_code == run.would_exit_code
    assert again.verdict.warnings[:1] == run.verdict.warnings[:1]


@pytest.mark.parametrize("text", ["", "[]", '{"tool": "other"}', '{"tool": "checkly-gate"}'])
def test_bad_snapshots_are_refused(text: str) -> None:
    with pytest.raises(snapshot.SnapshotError):
        snapshot.load(text)


def test_report_command_renders_offline_with_the_same_exit_code(tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    snap.write_text(snapshot.render(runs.failed()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB", "GITLAB"))}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "checkly_gate",
            "report",
            str(snap),
            "--junit",
            "r/j.xml",
            "--summary",
            "r/s.md",
            "--dotenv",
            "r/gate.env",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1, proc.stderr
    assert "FAILED (exit 1)" in proc.stdout
    assert "<testsuites" in (tmp_path / "r" / "j.xml").read_text()
    assert "Checkout" in (tmp_path / "r" / "s.md").read_text()
    assert "CHECKLY_GATE_STATUS=failed" in (tmp_path / "r" / "gate.env").read_text()


def test_report_command_bad_input_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{nope")
    for arg in ("bad.json", "missing.json"):
        proc = subprocess.run(
            [sys.executable, "-m", "checkly_gate", "report", arg],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 2
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_snapshot_is_json_with_the_documented_fields() -> None:
    data = json.loads(snapshot.render(runs.timed_out()))
    assert data["outcome"] == "timed-out" and data["exitCode"] == 4
    assert {"reason", "counts", "timings", "requests", "sessions", "warnings"} <= set(data)
    assert data["sessions"][0]["unfinished"] == ["Checkout", "Slow"]


def _raw_body_run(body: bytes) -> GateRun:
    run = runs.failed()
    (sid,) = run.bodies
    return dataclasses.replace(run, bodies={sid: body})


@pytest.mark.parametrize("around", [b"", b"\n", b" \r\n\t"])
def test_snapshot_written_in_pieces_is_the_rendered_text(around: bytes, tmp_path: Path) -> None:
    """The raw body goes into the file as received (whitespace around it cut), and the file is
    exactly ``render``'s text, secrets masked at the write point in any escaped form."""
    key = "cu_pieces_secret_1"
    (body,) = runs.failed().bodies.values()
    body = dict(body, name="deploy %63u_pieces_secret_1 \\u00e9")  # percent-encoded key
    raw = around + json.dumps(body).encode() + around
    run = _raw_body_run(raw)
    path = tmp_path / "snap.json"
    assert write_outputs(run, {"json": path}, Secrets([key])) == {"json": path}
    written = path.read_text(encoding="utf-8")
    assert "%63u_pieces" not in written and "***" in written
    assert written == Secrets([key])(snapshot.render(run))
    assert snapshot.load(written).verdict.exit_code == run.verdict.exit_code


def test_a_body_that_is_not_utf8_is_still_written_as_utf8_json(tmp_path: Path) -> None:
    """Bytes json.loads accepted but that are not UTF-8 (a lone surrogate): every report is
    written, and the snapshot is valid UTF-8 JSON (the bad bytes as U+FFFD)."""
    (body,) = runs.failed().bodies.values()
    raw = json.dumps(dict(body, name="x")).encode().replace(b'"x"', b'"\xed\xa0\x80"')
    path = tmp_path / "snap.json"
    path.write_text("old")
    problems: list[str] = []
    targets = {"json": path, "junit": tmp_path / "j.xml"}
    written = write_outputs(_raw_body_run(raw), targets, Secrets(), problems)
    assert sorted(written) == ["json", "junit"] and not problems
    stored = json.loads(path.read_bytes().decode("utf-8"))
    assert "\ufffd" in stored["sessions"][0]["body"]["name"]

"""Alive in the log: a "still waiting" line at least every minute of a long wait."""

from __future__ import annotations

import io
import itertools
import re
import uuid

import pytest

from checkly_gate import schedule
from checkly_gate.models import parse_session
from checkly_gate.progress import Progress
from checkly_gate.simulator import load_scenario
from tests.fakes import FakeClock, row, session_body, wait_in_process

KEY = "heartbeat-key"
BEAT = re.compile(r"^\[\s*\d+\.\ds\] still waiting: ")


def running(finished: int, pending: int) -> object:
    rows = [row(f"done {i}") for i in range(finished)]
    rows += [row(f"busy {i}", "RUNNING", "PENDING") for i in range(pending)]
    return parse_session(session_body("RUNNING", rows))


def beats(out: io.StringIO) -> list[str]:
    return [line for line in out.getvalue().splitlines() if BEAT.match(line)]


def test_a_heartbeat_every_minute_with_status_counts_and_time_left() -> None:
    clock = FakeClock()
    out = io.StringIO()
    progress = Progress(out, clock.now)
    deadline = clock.now() + 1800
    progress.update(running(3, 6))  # type: ignore[arg-type]
    changes = out.getvalue()
    for _ in range(600):  # ten minutes, asked every second as the main thread does
        clock.advance(1.0)
        progress.heartbeat(deadline)
    lines = beats(out)
    assert len(lines) == 10  # one a minute, never one per call
    assert lines[0] == (
        "[  60.0s] still waiting: RUNNING · 3/9 finished · 29m00s left before the deadline"
    )
    assert lines[-1].endswith("· 20m00s left before the deadline")
    assert out.getvalue().startswith(changes)  # the change lines are printed as before


def test_heartbeat_gaps_never_exceed_a_minute_however_it_is_called() -> None:
    clock = FakeClock()
    out = io.StringIO()
    progress = Progress(out, clock.now)
    printed: list[float] = []
    for step in (0.1, 7.3, 29.9, 0.5, 59.0, 3.0) * 20:
        clock.advance(step)
        before = len(beats(out))
        progress.heartbeat(clock.now() + 100)
        if len(beats(out)) > before:
            printed.append(clock.now())
    edges = [1000.0, *printed]
    # each line comes at the first call after a minute: at most one call's gap late
    assert all(60 <= b - a < 60 + 59.0 for a, b in itertools.pairwise(edges))
    assert "no answer from the API yet" in beats(out)[0]


def test_several_sessions_are_summed_and_quiet_prints_nothing() -> None:
    clock = FakeClock()
    out = io.StringIO()
    progress = Progress(out, clock.now, several=True)
    a = running(1, 2)
    b = parse_session(session_body("RUNNING", [row("x")], sid=str(uuid.uuid4())))
    progress.update(a)  # type: ignore[arg-type]
    progress.update(b)
    clock.advance(61)
    progress.heartbeat(clock.now() + 45)
    assert beats(out) == [
        "[  61.0s] still waiting: 2 sessions RUNNING · 2/4 finished · 45s left before the deadline"
    ]
    quiet = io.StringIO()
    silent = Progress(quiet, clock.now, quiet=True)
    clock.advance(120)
    silent.heartbeat(clock.now() + 100)
    assert quiet.getvalue() == ""


def test_the_gate_prints_heartbeats_while_a_session_keeps_running(
    serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schedule, "HEARTBEAT_EVERY", 0.4)  # a minute, compressed
    sim = serve(load_scenario("never-ends"), speed=20)
    run, log = wait_in_process(sim.url, KEY, timeout=2.0, poll_interval=0.2)
    assert run.verdict.exit_code == 4
    lines = beats(io.StringIO(log))
    assert len(lines) >= 3, log
    assert all("RUNNING" in line and "left before the deadline" in line for line in lines)


def test_an_update_from_a_follower_thread_takes_the_lock_heartbeat_reads_under() -> None:
    # Followers call ``update`` from their threads while the main thread's ``heartbeat`` reads
    # the same state under ``_lock``: an update must wait for it, never mutate beside it.
    import threading

    clock = FakeClock()
    out = io.StringIO()
    progress = Progress(out, clock.now)
    session = running(1, 1)
    started = threading.Event()

    def follow() -> None:
        started.set()
        progress.update(session)  # type: ignore[arg-type]

    with progress._lock:
        follower = threading.Thread(target=follow)
        follower.start()
        assert started.wait(30)
        follower.join(1.0)  # time enough to touch the state, were it done outside the lock
        assert follower.is_alive() and out.getvalue() == ""  # waiting for the lock...
        assert progress._last_counts == {}  # ...before it touches what heartbeat reads
    follower.join(30)
    assert not follower.is_alive() and "1/2 finished" in out.getvalue()

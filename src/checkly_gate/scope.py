"""The one owner of time and cancellation: the deadline, the stop event and the received signal.

Every phase of a command (trigger, follow, explain, cancel, write) runs under one ``Scope``, in
the spirit of trio's cancel scopes. ``api.Client`` is bound to a scope when it is built, so no
network exchange can outlive the deadline or ignore a stop; the follower and the detail fetch
sleep on the scope, so a signal wakes them at once.

Signals reach the scope through ``signals_stop``: a C-level wake-up socket
(``signal.set_wakeup_fd``) read by a watcher thread, so nothing runs inside a Python signal
handler but a no-op, and a signal interrupts no phase in the middle of a file write. The
handlers are installed explicitly, so SIGTERM also works when the gate is PID 1 of a container
(Linux gives PID 1 no default signal actions).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Protocol

from checkly_gate import held_signals
from checkly_gate.held_signals import STOP_SIGNALS  # SIGHUP as SIGTERM: exit 129, reports

log = logging.getLogger("checkly_gate")


class Clock(Protocol):
    """Monotonic time (seconds) and a sleep that may end early when the gate is stopping."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class Scope:
    """A deadline and a stop event that every wait under it honours. Thread-safe.

    ``timeout`` (seconds, ``math.inf`` for none) counts from construction on the ``now`` clock
    (``time.monotonic`` unless injected). ``clock`` (a ``Clock``; in tests ``tests.fakes.
    FakeClock``) replaces both ``now`` and the sleeping: time then moves only when slept on,
    and a stopped scope does not sleep. Children share it. ``stop(signum)`` ends the scope
    early: waits return, in-flight exchanges are abandoned, and ``signal`` keeps the first
    signal received. A child scope (``child``) has a shorter deadline of its own and stops with
    its parent, unless it is shielded: a shielded child is opened after a stop (to cancel the
    session, say) and is ended only by its own budget or by a *later* signal (``deliver``).
    """

    def __init__(
        self,
        timeout: float = math.inf,
        now: Callable[[], float] = time.monotonic,
        *,
        parent: Scope | None = None,
        shield: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock
        self._now = clock.now if clock is not None else now
        self.started = self._now()
        self.deadline = self.started + max(0.0, timeout)
        self.parent = parent
        self.shield = shield
        self.signal: int | None = None
        self.stopped_at: float | None = None  # scope-clock time of the first stop
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._children: list[Scope] = []
        self._on_stop: list[Callable[[], None]] = []

    # -- time ---------------------------------------------------------------------------------

    def now(self) -> float:
        """Seconds on the scope's monotonic clock."""
        return self._now()

    def remaining(self) -> float:
        """Seconds left until the deadline, never negative."""
        return max(0.0, self.deadline - self._now())

    @property
    def expired(self) -> bool:
        return self._now() >= self.deadline

    @property
    def stopped(self) -> bool:
        """True once ``stop`` (or a signal) ended the scope."""
        return self._stopped.is_set()

    @property
    def done(self) -> bool:
        """Stopped or past the deadline: nothing more should be started under this scope."""
        return self.stopped or self.expired

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, but never past the deadline and not a moment after a stop."""
        seconds = min(seconds, self.remaining())
        if seconds <= 0:
            return
        if self._clock is None:
            self._stopped.wait(seconds)
        elif not self.stopped:
            self._clock.sleep(seconds)

    def wait(self, event: threading.Event, until: float) -> None:
        """Block until ``event`` is set, the scope-clock time ``until`` passes or the scope
        stops. A stop also sets ``event`` (to wake the waiter): owners of ``event`` keep their
        own "finished" flag where the difference matters (see ``api.Client``)."""
        self.on_stop(event.set)
        try:
            left = until - self._now()
            if left > 0:
                event.wait(left)
        finally:
            self._forget(event.set)

    # -- cancellation -------------------------------------------------------------------------

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the stopping thread) when the scope stops; at once if it has."""
        with self._lock:
            if not self._stopped.is_set():
                self._on_stop.append(callback)
                return
        callback()

    def _forget(self, callback: Callable[[], None]) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._on_stop.remove(callback)

    def stop(self, signum: int | None = None) -> None:
        """End the scope and its unshielded children; remember ``signum`` if it is the first."""
        with self._lock:
            if signum is not None and self.signal is None:
                self.signal = signum
            if self.stopped_at is None:
                self.stopped_at = self._now()
            self._stopped.set()
            callbacks, self._on_stop = self._on_stop, []
            children = [c for c in self._children if not c.shield]
        for child in children:
            child.stop(signum)
        for callback in callbacks:
            try:
                callback()
            except Exception as exc:  # a stop must reach every waiter
                log.debug("stop callback failed: %r", exc)

    def deliver(self, signum: int) -> None:
        """A signal arrived: stop this scope and every scope open under it, shielded or not."""
        with self._lock:
            children = list(self._children)
        self.stop(signum)
        for child in children:
            child.deliver(signum)

    @contextlib.contextmanager
    def child(self, budget: float = math.inf, *, shield: bool = False) -> Iterator[Scope]:
        """A scope for one phase: at most ``budget`` seconds, and never past this deadline
        unless ``shield``ed (then only ``budget`` and later signals bound it)."""
        left = budget if shield else min(budget, self.remaining())
        scope = Scope(left, self._now, parent=self, shield=shield, clock=self._clock)
        with self._lock:
            self._children.append(scope)
            stopped = self._stopped.is_set()
        if stopped and not shield:
            scope.stop(self.signal)
        try:
            yield scope
        finally:
            with self._lock:
                self._children.remove(scope)


#: The scope the running command's signals reach (set by ``signals_stop``), for work that has
#: no scope handed to it, such as a CI integration's child process.
_active: Scope | None = None

#: Seconds a child process may still take once the scope is stopped or past its deadline (the
#: outputs of a timed-out or interrupted run are written in this window).
CHILD_GRACE = 2.0


def active() -> Scope | None:
    """The scope of the running command, if a command is running with signal handling."""
    return _active


@dataclasses.dataclass
class ChildResult:
    """How a child process ended: its exit code (None: killed), stdout and stderr bytes, and
    why it was killed (one line) if it was."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    killed: str | None = None


def run_child(
    command: list[str], stdin: bytes, cap: float, scope: Scope | None = None
) -> ChildResult:
    """Run ``command`` with ``stdin`` as a child in its own process group, bounded by ``cap``
    seconds, the scope's deadline (at least ``CHILD_GRACE`` when already past it) and a stop:
    the whole group is killed at the bound or at once when the scope stops while it runs, so
    a hanging tool (and what it started) never holds the gate. ``scope`` defaults to
    ``active()``. Raises ``OSError`` when the command cannot start."""
    import os
    import subprocess

    scope = scope if scope is not None else active()
    stopped = threading.Event()
    budget = cap
    if scope is not None:
        budget = CHILD_GRACE if scope.done else min(cap, max(scope.remaining(), CHILD_GRACE))
        if not scope.stopped:
            scope.on_stop(stopped.set)
    start = time.monotonic()
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, killed as one
    )
    killed: str | None = None
    data: bytes | None = stdin
    try:
        while True:
            try:
                out, err = proc.communicate(data, timeout=0.1)
                return ChildResult(proc.returncode, out, err)
            except subprocess.TimeoutExpired:
                data = None  # handed over already; communicate keeps feeding it
            if stopped.is_set():
                killed = "stopped by a signal"
            elif time.monotonic() - start >= budget:
                killed = f"still running after {budget:g}s"
            if killed is not None:
                break
    finally:
        if scope is not None:
            scope._forget(stopped.set)
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.communicate(timeout=1.0)
    return ChildResult(None, b"", b"", killed)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: the work happens in the watcher thread (see ``signals_stop``)."""


@contextlib.contextmanager
def held_stop_signals() -> Iterator[list[int]]:
    """For the whole of a CLI command, from its first line: a SIGINT/SIGTERM/SIGHUP that arrives
    before ``signals_stop`` is installed (imports, option parsing, config) is recorded instead
    of raising ``KeyboardInterrupt`` or killing the process with no report; ``signals_stop``
    then delivers it to its scope at once (exit 130/143/129, reports written).

    Yields the signals still undelivered (in order) when the block ends; empty when a scope
    took them or none came. No-op outside the main thread. The previous handlers come back at
    the end.
    """
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    previous = {s: signal.signal(s, held_signals.hold) for s in STOP_SIGNALS}
    undelivered: list[int] = []
    try:
        yield undelivered
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        undelivered.extend(held_signals.HELD)
        held_signals.HELD.clear()


def _watch(
    reader: socket.socket, scope: Scope, signums: tuple[int, ...], received: list[int]
) -> None:
    """The watcher thread of ``signals_stop``: deliver each signal byte of the wake-up socket
    to ``scope`` (and record it in ``received``) until the socket closes or says 0 (stop)."""
    while True:
        try:
            data = reader.recv(64)
        except OSError:
            return
        if not data:
            return
        for signum in data:
            if signum == 0:  # our own "stop watching" byte
                return
            if signum not in signums:
                continue
            received.append(signum)
            name = signal.Signals(signum).name
            if len(received) == 1:
                log.warning("received %s: stopping and writing what is known", name)
            else:
                log.warning(
                    "received %s while stopping: a cancel in progress ends, "
                    "the reports are still written",
                    name,
                )
            scope.deliver(signum)


@contextlib.contextmanager
def signals_stop(
    scope: Scope, signums: tuple[int, ...] = tuple(STOP_SIGNALS)
) -> Iterator[list[int]]:
    """While inside, SIGINT/SIGTERM/SIGHUP are delivered to ``scope`` (no-op outside the main
    thread); the gate then exits 128 + the signal (130, 143, 129).

    Yields the list of signals received so far (in order), for the log. A signal never raises
    into the main thread: writing a report is never cut short, it is only recorded.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    # A socket pair, not a pipe: Windows accepts only sockets as wake-up fds.
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    try:
        previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main interpreter
        reader.close()
        writer.close()
        yield received
        return
    previous = {s: signal.signal(s, _ignore) for s in signums}
    # Signals held since the command started (``held_stop_signals``) reach this scope now.
    held = held_signals.HELD
    early, held[:] = [s for s in held if s in signums], [s for s in held if s not in signums]
    with contextlib.suppress(OSError):
        writer.send(bytes(early))
    watcher = threading.Thread(
        target=_watch,
        args=(reader, scope, signums, received),
        name="signal-watcher",
        daemon=True,
    )
    watcher.start()
    global _active
    outer, _active = _active, scope
    try:
        yield received
    finally:
        _active = outer
        for signum, handler in previous.items():
            # None: a handler not installed from Python; the default is the closest match.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        signal.set_wakeup_fd(previous_fd)
        with contextlib.suppress(OSError):
            writer.send(b"\0")
        watcher.join(1.0)
        writer.close()
        if not watcher.is_alive():
            reader.close()

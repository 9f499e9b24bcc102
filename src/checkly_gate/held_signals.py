"""Stop signals held from a command's first line until its scope can take them.

``python -m checkly_gate`` installs ``hold`` before it imports anything else (``__main__``), and
``cli.main`` does for the console script (``scope.held_stop_signals``): a SIGINT, SIGTERM or
SIGHUP that arrives while Python still imports and parses (the first few hundred ms, longer on a
busy runner) is appended to ``HELD`` instead of raising ``KeyboardInterrupt`` or killing the
process with no report. ``scope.signals_stop`` delivers what is held to its scope at once.
Only ``signal`` is imported here, so installing costs nothing.
"""

from __future__ import annotations

import signal
from types import FrameType

# SIGHUP (a closed terminal, some runners) is handled like SIGTERM: exit 129, reports written.
# Windows has no SIGHUP.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM) + (
    (signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()
)

#: Signal numbers received while ``hold`` was the handler, oldest first, not yet delivered.
HELD: list[int] = []


def hold(signum: int, frame: FrameType | None) -> None:
    """The handler before a scope exists: only records ``signum`` (a list append is safe)."""
    HELD.append(signum)


def install() -> None:
    """Make ``hold`` the handler of every stop signal (main thread of the process only)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, hold)


def release() -> None:
    """For a command that stops on the default actions (``simulate`` serves until Ctrl-C):
    give the stop signals their default actions back, then act on any signal held so far
    (SIGINT raises ``KeyboardInterrupt``, the others end the process as they would have)."""
    for signum in STOP_SIGNALS:
        if signum == signal.SIGINT:
            signal.signal(signum, signal.default_int_handler)
        else:
            signal.signal(signum, signal.SIG_DFL)
    held, HELD[:] = list(HELD), []
    for number in held:
        signal.raise_signal(number)

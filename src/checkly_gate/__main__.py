"""``python -m checkly_gate`` and the ``checkly-gate`` console script.

The stop signals are held (``held_signals``) before anything else is imported, so a CI's cancel
that lands while Python still imports the gate is not a ``KeyboardInterrupt`` traceback or a
silent death with no report: the command's scope takes it once it exists.
"""

import sys

from checkly_gate import held_signals


def main() -> int:
    """Hold the stop signals, then run ``cli.main`` (imported only now)."""
    held_signals.install()
    from checkly_gate.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())

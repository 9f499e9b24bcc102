"""Write the requested output files for a finished run (shell side of the report renderers)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from checkly_gate.files import write_atomic, write_pieces
from checkly_gate.redact import Redactor
from checkly_gate.reports import GateRun
from checkly_gate.reports.formats import FORMAT_BY_KEY

log = logging.getLogger("checkly_gate")

Renderer = Callable[[GateRun], str]


def render_safely(render: Renderer, run: GateRun) -> str:
    """``render(run)``, or "" (logged) when the renderer trips over odd data."""
    try:
        return render(run)
    except Exception as exc:
        log.error("cannot render a report: %s: %s", type(exc).__name__, exc)
        return ""


def write_outputs(
    run: GateRun,
    targets: dict[str, Path | None],
    redactor: Redactor,
    problems: list[str] | None = None,
) -> dict[str, Path]:
    """Render and write each requested format (``{"junit": path, ...}``); returns what was
    written. ``files.write_atomic`` decides how (atomic, through a symlink, in place).

    A report that cannot be rendered or written is logged on stderr and its one-line message
    appended to ``problems`` (for a CI annotation); never fatal: the verdict must still reach
    the exit code.
    """
    written: dict[str, Path] = {}
    for kind, path in targets.items():
        if path is None:
            continue
        try:
            fmt = FORMAT_BY_KEY[kind]
            # Big formats are written in pieces, never joined into one string: the snapshot's
            # raw bodies as received (a 30,000-result body is 14 MB), JUnit per testcase.
            if fmt.pieces is not None:
                write_pieces(path, fmt.pieces(run), redactor)
            else:
                write_atomic(path, redactor(fmt.render(run)))
        except OSError as exc:
            message = f"cannot write the {kind} report {path}: {exc.strerror or exc}"
        except Exception as exc:  # a renderer tripping over odd data must not cost the verdict
            message = f"cannot render the {kind} report {path}: {type(exc).__name__}: {exc}"
        else:
            written[kind] = path
            continue
        log.error("%s", message)
        if problems is not None:
            problems.append(message)
    return written

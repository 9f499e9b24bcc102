"""Write the requested output files for a finished run (shell side of the report renderers)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from checkly_gate.files import write_atomic
from checkly_gate.redact import Redactor
from checkly_gate.reports import GateRun, dotenv, junit, markdown, snapshot

log = logging.getLogger("checkly_gate")

Renderer = Callable[[GateRun], str]
RENDERERS: dict[str, Renderer] = {
    "json": snapshot.render,
    "junit": junit.render,
    "summary": markdown.render,
    "dotenv": dotenv.render,
}


def write_outputs(
    run: GateRun, targets: dict[str, Path | None], redactor: Redactor
) -> dict[str, Path]:
    """Render and write each requested format (``{"junit": path, ...}``).

    A failed write is logged, never fatal: the verdict must still reach the exit code.
    """
    written: dict[str, Path] = {}
    for kind, path in targets.items():
        if path is None:
            continue
        try:
            write_atomic(path, redactor(RENDERERS[kind](run)))
        except OSError as exc:
            log.error("cannot write %s report %s: %s", kind, path, exc.strerror or exc)
            continue
        written[kind] = path
    return written

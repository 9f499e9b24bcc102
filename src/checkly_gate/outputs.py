"""Write the requested output files for a finished run (shell side of the report renderers)."""

from __future__ import annotations

import logging
from pathlib import Path

from checkly_gate.config import Options
from checkly_gate.files import write_atomic
from checkly_gate.redact import Redactor
from checkly_gate.reports import GateRun, snapshot

log = logging.getLogger("checkly_gate")


def write_outputs(run: GateRun, options: Options, redactor: Redactor) -> list[Path]:
    """Render and write every requested file; a failed write is reported, not fatal."""
    written: list[Path] = []
    targets = [(options.json, snapshot.render)]
    for path, render in targets:
        if path is None:
            continue
        try:
            write_atomic(path, redactor(render(run)))
        except OSError as exc:
            log.error("cannot write %s: %s", path, exc.strerror or exc)
            continue
        written.append(path)
    return written

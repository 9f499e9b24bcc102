"""``report``: render the reports of an earlier ``wait`` again from its ``--json`` snapshot,
offline, and exit with the same code (``finish.finish``, as every outcome)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from checkly_gate.ci import detect
from checkly_gate.config import ConfigError, Options
from checkly_gate.context import setup_logging
from checkly_gate.files import UnreadableInput, read_bounded
from checkly_gate.finish import finish
from checkly_gate.redact import Secrets
from checkly_gate.reports import GateRun, snapshot
from checkly_gate.reports.formats import FORMATS

MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024  # four 64 MiB bodies (``api.MAX_BODY_BYTES``)


def main(
    args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO, secrets: Secrets
) -> int:
    """``checkly-gate report SNAPSHOT.json``: write the reports asked for, print the verdict."""
    run = load_snapshot(Path(args.snapshot))
    cwd = Path.cwd()

    def target(value: str | None) -> Path | None:
        return None if value is None else cwd / value

    targets: dict[str, Any] = {
        fmt.key: target(getattr(args, fmt.key)) for fmt in FORMATS if fmt.rerenders
    }
    options = dataclasses.replace(
        Options(session_ids=tuple(o.session_id for o in run.observations), api_key=""), **targets
    )
    setup_logging(err, 0)
    finish(run, options, out, detect(env), secrets)  # -q: nothing to leave out
    return run.verdict.exit_code


def load_snapshot(path: Path) -> GateRun:
    """The run a ``--json`` snapshot holds; ``ConfigError`` (exit 2) for anything else."""
    try:  # a regular file of bounded size only: a FIFO or /dev/zero is refused at once
        text = read_bounded(path, MAX_SNAPSHOT_BYTES, "snapshot").decode("utf-8")
    except UnreadableInput as exc:
        raise ConfigError(str(exc)) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return snapshot.load(text)
    except snapshot.SnapshotError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except Exception as exc:  # any other shape or type the reader trips over: not a snapshot
        raise ConfigError(f"{path}: not a readable snapshot ({type(exc).__name__})") from None

"""The options of ``wait`` and ``run`` from their parsed command line: flags over the
environment over the config file, resolved and validated by ``config.resolve``."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from checkly_gate.config import SPECS, Options, resolve


def flags(args: argparse.Namespace) -> dict[str, Any]:
    """The options given as flags (``None``: not given), by their config key."""
    return {
        spec.key: getattr(args, spec.key.replace("-", "_"))
        for spec in SPECS
        if getattr(args, spec.key.replace("-", "_"), None) is not None
    }


def resolve_options(
    args: argparse.Namespace, env: Mapping[str, str], session_ids: list[str], require_sessions: bool
) -> Options:
    """The validated options of ``wait`` or ``run`` (flags over env over the config file)."""
    return resolve(
        session_ids,
        flags(args),
        dict(env),
        Path.cwd(),
        config_path=args.config,
        api_key_flag=args.api_key,
        verbosity=-1 if args.quiet else (1 if args.verbose else 0),
        require_sessions=require_sessions,
    )

"""The one registry of report formats: a new format is its module (``render(run) -> str``) plus
one row of ``FORMATS``. The options (``config.SPECS``: flag, variable, config key), the files
written (``finish.write_outputs``, ``finish.output_targets``), the usage-error reports and
``report``'s flags all read it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from checkly_gate.reports import GateRun, ctrf, dotenv, junit, markdown, snapshot


@dataclass(frozen=True)
class Format:
    """One report format: everything the options, the files and the commands need to know.

    ``key`` is the option's key (config file key, ``Options`` field); ``flag`` its flag on
    ``wait``, ``run`` and (when ``rerenders``) ``report``; ``env`` its variable; ``help`` the
    flag's help. ``render(run) -> str`` is the text; ``pieces(run)``, when given, the same text
    in pieces for formats too big to join into one string (written piece by piece).
    ``rerenders``: ``report`` can render it again from a snapshot (the snapshot itself cannot).
    """

    key: str
    flag: str
    env: str
    help: str
    render: Callable[[GateRun], str]
    pieces: Callable[[GateRun], Sequence[str | memoryview]] | None = None
    rerenders: bool = True


#: The one registry of report formats: a new format is its module plus one row here.
FORMATS: tuple[Format, ...] = (
    Format(
        "json", "--json", "CHECKLY_GATE_JSON", "write sessions + verdict as JSON",
        snapshot.render, snapshot.pieces, rerenders=False,
    ),
    Format(
        "junit", "--junit", "CHECKLY_GATE_JUNIT", "write a JUnit XML report",
        junit.render, junit.pieces,
    ),
    Format(
        "ctrf", "--ctrf", "CHECKLY_GATE_CTRF", "write a CTRF JSON report",
        ctrf.render,
    ),
    Format(
        "summary", "--summary", "CHECKLY_GATE_SUMMARY", "write a markdown summary",
        markdown.render,
    ),
    Format(
        "dotenv", "--dotenv", "CHECKLY_GATE_DOTENV", "write a dotenv report for later CI jobs",
        dotenv.render,
    ),
)  # fmt: skip
FORMAT_BY_KEY = {fmt.key: fmt for fmt in FORMATS}

"""The one registry of report formats: a new format is its module (``render(run) -> str``) plus
one row of ``FORMATS``. The options (``config.SPECS``: flag, variable, config key), the files
written (``finish.write_outputs``, ``finish.output_targets``), the usage-error reports and
``report``'s flags all read it.

A row names its renderer's module instead of holding its functions: the options are built
from this table while the command line is parsed, and ``--version``, ``--help`` and a usage
error must not pay for importing the renderers (and, through them, the HTTP client). The module
is imported the first time a report of that format is written.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from checkly_gate.reports import GateRun


@dataclass(frozen=True)
class Format:
    """One report format: everything the options, the files and the commands need to know.

    ``key`` is the option's key (config file key, ``Options`` field); ``flag`` its flag on
    ``wait``, ``run`` and (when ``rerenders``) ``report``; ``env`` its variable; ``help`` the
    flag's help. ``module`` is the renderer's module in ``checkly_gate.reports``: its
    ``render(run) -> str`` is the text and, when ``streamed``, its ``pieces(run)`` the same text
    in pieces for formats too big to join into one string (written piece by piece).
    ``rerenders``: ``report`` can render it again from a snapshot (the snapshot itself cannot).
    """

    key: str
    flag: str
    env: str
    help: str
    module: str
    streamed: bool = False
    rerenders: bool = True

    def _renderer(self) -> ModuleType:
        return importlib.import_module(f"checkly_gate.reports.{self.module}")

    @property
    def render(self) -> Callable[[GateRun], str]:
        """``render(run) -> str`` of this format's module."""
        render: Callable[[GateRun], str] = self._renderer().render
        return render

    @property
    def pieces(self) -> Callable[[GateRun], Sequence[str | memoryview]] | None:
        """``pieces(run)`` of this format's module when it is ``streamed``, else ``None``."""
        if not self.streamed:
            return None
        pieces: Callable[[GateRun], Sequence[str | memoryview]] = self._renderer().pieces
        return pieces


#: The one registry of report formats: a new format is its module plus one row here.
FORMATS: tuple[Format, ...] = (
    Format("json", "--json", "CHECKLY_GATE_JSON", "write sessions + verdict as JSON",
           "snapshot", streamed=True, rerenders=False),
    Format("junit", "--junit", "CHECKLY_GATE_JUNIT", "write a JUnit XML report",
           "junit", streamed=True),
    Format("ctrf", "--ctrf", "CHECKLY_GATE_CTRF", "write a CTRF JSON report", "ctrf"),
    Format("summary", "--summary", "CHECKLY_GATE_SUMMARY", "write a markdown summary",
           "markdown"),
    Format("dotenv", "--dotenv", "CHECKLY_GATE_DOTENV", "write a dotenv report for later CI jobs",
           "dotenv"),
)  # fmt: skip
FORMAT_BY_KEY = {fmt.key: fmt for fmt in FORMATS}

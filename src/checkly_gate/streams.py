"""The gate's stdout and stderr: whatever the terminal, encoding or reader, output never changes
the verdict and never leaks a secret.

- Every write is masked with the command's secrets (the ``Secrets`` the stream is given).
- Characters the stream's encoding cannot carry are replaced (``?``), after the gate's own
  glyphs (``✓ ✗ · …``) are swapped for plain ASCII ones, so a cp1252 or ASCII console (a
  redirected stdout on a Windows runner) gets readable lines and never a ``UnicodeEncodeError``.
- A reader that went away (``| head -1``: ``BrokenPipeError``) or any other write failure silences
  the stream: ``/dev/null`` is put over its file descriptor, so neither later writes nor the
  interpreter's final flush print "Exception ignored ...". The exit code stays the verdict's.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO, cast

from checkly_gate.redact import Secrets

# The gate's own non-ASCII glyphs and their plain replacements.
FANCY = "✓✗…·→"
ASCII_GLYPHS = str.maketrans({"✓": "+", "✗": "x", "…": "...", "·": "|", "→": "->", "◌": "o"})


def can_encode(stream: Any, text: str = FANCY) -> bool:
    """True when ``stream``'s encoding can write ``text`` (no encoding: assume UTF-8)."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def silence(stream: Any) -> None:
    """Put ``/dev/null`` under ``stream``'s file descriptor (after a broken pipe)."""
    with contextlib.suppress(Exception):
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)


class SafeStream:
    """A text stream that redacts, stays encodable and never raises on write or flush."""

    def __init__(self, stream: TextIO, redactor: Secrets | None = None) -> None:
        self._stream = stream
        self._redactor = redactor
        self._ascii = not can_encode(stream)
        self._encoding = getattr(stream, "encoding", None) or "utf-8"
        self.broken = False

    def write(self, text: str) -> int:
        if self.broken:
            return len(text)
        if self._redactor is not None:
            text = self._redactor(text)
        if self._ascii:
            text = text.translate(ASCII_GLYPHS)
        try:
            self._stream.write(text)
        except UnicodeEncodeError:
            safe = text.encode(self._encoding, "replace").decode(self._encoding, "replace")
            self._guarded(self._stream.write, safe)
        except (OSError, ValueError):  # broken pipe, closed file, full disk
            self._break()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            self._guarded(self._stream.flush)

    def isatty(self) -> bool:
        try:
            return bool(self._stream.isatty())
        except (OSError, ValueError):
            return False

    def _guarded(self, action: Any, *args: Any) -> None:
        try:
            action(*args)
        except (OSError, ValueError):
            self._break()

    def _break(self) -> None:
        self.broken = True
        silence(self._stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def safe(stream: TextIO, redactor: Secrets | None = None) -> TextIO:
    """``stream`` wrapped in a ``SafeStream``, typed as the stream it stands for."""
    if isinstance(stream, SafeStream) and redactor is None:
        return cast(TextIO, stream)
    return cast(TextIO, SafeStream(stream, redactor))


def prepare_stdio(secrets: Secrets | None = None) -> tuple[TextIO, TextIO]:
    """Make ``sys.stdout``/``sys.stderr`` replace what they cannot encode (also for text that
    bypasses the gate's wrappers, like argparse's help) and return them wrapped safely, every
    write masked with ``secrets`` (the command's).

    A stream the process was started without (``>&-``: Python makes it ``None``) becomes
    ``/dev/null``."""
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            with contextlib.suppress(Exception):
                stream.reconfigure(errors="replace")
    return safe(sys.stdout, secrets), safe(sys.stderr, secrets)


def close_stdout() -> None:
    """Flush stdout at exit; a reader that went away is not an error (see ``silence``)."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except (OSError, ValueError):
        silence(sys.stdout)


def use_colour(stream: Any, env: Mapping[str, str]) -> bool:
    """Whether to paint ``stream`` with ANSI colour, by the conventions CI tools share:

    - ``FORCE_COLOR`` set and not empty forces colour (force-color.org), even into a pipe or a
      dumb terminal; a false boolean (``0``, ``false``, ``no``, ``off``, any case: the README's
      boolean words) turns colour off instead, as Node reads ``FORCE_COLOR=0``.
    - ``NO_COLOR`` set and not empty turns colour off, whatever its value (no-color.org);
    - ``TERM=dumb`` (a terminal that cannot show escapes: Emacs shells, some CI logs) gets none;
    - otherwise colour only on a terminal (``isatty``).
    """
    force = env.get("FORCE_COLOR", "")
    if force and force.strip().lower() not in ("0", "false", "no", "off"):
        return True
    if env.get("NO_COLOR") or force:
        return False
    if env.get("TERM", "").strip().lower() == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):  # a closed stream
        return False

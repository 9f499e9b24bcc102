"""Hygiene for untrusted text (check names, messages, server errors) before it is shown anywhere.

One definition of "an escape sequence" and "one printable line" for every renderer, so the log,
the reports and the CI annotations agree on what a name looks like.
"""

from __future__ import annotations

import re

# ANSI / VT escape sequences: CSI (ESC [ ... final, or the 8-bit CSI), OSC (ESC ] ... BEL or ST)
# and the two-byte ESC forms. Removed whole, so no stray "[31m" is left behind.
ANSI = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]?"
)


def strip_ansi(text: str) -> str:
    """Remove terminal escape sequences."""
    return ANSI.sub("", text)


def one_line(text: str, limit: int = 200) -> str:
    """Untrusted text as one printable line: ANSI sequences removed, control and format
    characters (newlines, bidi overrides, ...) turned into spaces, whitespace folded, capped."""
    text = strip_ansi(text)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain_text(text: str, limit: int = 1000) -> str:
    """Untrusted multi-line text: like ``one_line`` but line breaks are kept (as ``\\n``)."""
    lines = [one_line(line, limit) for line in text.splitlines()]
    joined = "\n".join(line for line in lines if line)
    return joined if len(joined) <= limit else joined[: limit - 1] + "…"

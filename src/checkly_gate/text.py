"""Hygiene for untrusted text (check names, messages, server errors) before it is shown anywhere.

This is the one place where untrusted text becomes a line. Every renderer, log record and printed
line that carries text from the API or from an error message goes through ``one_line`` (or
``plain_text`` for multi-line text, ``link`` for web links), so the log, the reports and the CI
annotations agree on what a name looks like, and none of them can:

- carry a terminal escape sequence, a carriage return or any other control character;
- carry a lone surrogate (which no encoder can write) or a bidi override;
- contain a GitHub v1 workflow command (``##[name]``, recognised anywhere in a line) or a GitLab
  section marker (``section_start:`` / ``section_end:``);
- as a whole line (``line``), start a GitHub workflow command (``::name::``).
"""

from __future__ import annotations

import re

from checkly_gate.redact import CUT

# ANSI / VT escape sequences: CSI (ESC [ ... final, or the 8-bit CSI), OSC (ESC ] ... BEL or ST)
# and the two-byte ESC forms. Removed whole, so no stray "[31m" is left behind.
ANSI = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]?"
)
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# CI command markers: GitHub's v1 commands (``##[cmd]``, recognised anywhere in a line) and
# GitLab's section markers. A space breaks each of them and keeps the text readable.
_MARKER = re.compile(r"##\[|section_(start|end):", re.IGNORECASE)
# Ids that may go into a URL path: Checkly's ids are UUIDs or short numeric / slug ids.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,127}")
_LINK = re.compile(r"https?://[^\s/]", re.IGNORECASE)


def strip_ansi(text: str) -> str:
    """Remove terminal escape sequences."""
    return ANSI.sub("", text)


def printable(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD, so every encoder can write it."""
    return _SURROGATE.sub("\ufffd", text)


def one_line(text: str, limit: int = 200) -> str:
    """Untrusted text as one printable, inert line: ANSI sequences removed, control and format
    characters (newlines, CR, bidi overrides, ...) turned into spaces, lone surrogates into
    U+FFFD, whitespace folded, ``##[`` and section markers broken, capped at ``limit``.

    The result is safe anywhere inside a line; ``line`` makes it safe as a whole line."""
    text = strip_ansi(printable(str(text)))
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = _MARKER.sub(lambda m: m.group(0)[:-1] + " " + m.group(0)[-1], " ".join(text.split()))
    # A cut ends in ``redact.CUT``: every write point masks a secret's prefix right before it.
    return text if len(text) <= limit else text[: limit - 1] + CUT


def line(text: str, limit: int = 2000) -> str:
    """Untrusted text as a whole printed line (a log record, a message of its own): like
    ``one_line``, and a leading ``::`` (a GitHub workflow command) is broken as well."""
    text = one_line(text, limit)
    return ": :" + text[2:] if text.startswith("::") else text


def plain_text(text: str, limit: int = 1000) -> str:
    """Untrusted multi-line text: like ``one_line`` but line breaks are kept (as ``\\n``)."""
    lines = [one_line(line, limit) for line in str(text).splitlines()]
    joined = "\n".join(line for line in lines if line)
    return joined if len(joined) <= limit else joined[: limit - 1] + "…"


def link(value: object, limit: int = 2000) -> str:
    """A web link from the API as printable text; "" when it is not an ``http(s)://`` link.

    Cleaned like ``one_line`` (source: the ``testSessionLink`` / ``link`` fields), so a link can
    never carry a line break, an escape sequence or start a workflow command. A link longer than
    ``limit`` is dropped, not cut (a cut link would lead nowhere).
    """
    if not isinstance(value, str):
        return ""
    text = one_line(value, limit + 1)
    return text if _LINK.match(text) and len(text) <= limit else ""


def is_safe_id(value: object) -> bool:
    """True when ``value`` is an id that may be put into a URL path as it is: 1 to 128 of
    ``A-Z a-z 0-9 . _ ~ -``, starting with a letter or digit (UUIDs and numeric ids pass)."""
    return isinstance(value, str) and _SAFE_ID.fullmatch(value) is not None


def signal_name(signum: int) -> str:
    """``"SIGINT"`` for 2, ``"SIGTERM"`` for 15 (the names CI docs and the README use);
    ``"signal N"`` for a number this platform has no name for."""
    import signal

    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


_UNITS = ((86400.0, "days"), (3600.0, "h"), (60.0, "min"))


def duration(seconds: float) -> str:
    """A wait or an age as a person reads it: ``0.5s``, ``120s``, ``45 min``, ``3.2 h``,
    ``27 days``, ``more than 10 years``; up to 300 s in seconds, to a tenth."""
    if seconds != seconds or seconds < 0:  # NaN or negative: say what it is
        return f"{seconds:g}s"
    if seconds <= 300:
        return f"{round(seconds, 1):g}s"
    if seconds > 3650 * 86400.0:
        return "more than 10 years"
    size, unit = next((s, u) for s, u in _UNITS if seconds >= s * (2 if s == 86400.0 else 1.5))
    value = seconds / size
    return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"

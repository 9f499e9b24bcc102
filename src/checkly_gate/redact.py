"""Keep secrets out of everything the gate prints or writes, in any encoding.

Servers and proxies sometimes echo the Authorization header back (in a header, an error body, a
check name, JSON-escaped as ``\\u0063u_...``), and every output format escapes text its own way
(JSON, markdown, XML, percent-encoding, ``repr``). So secrets are masked twice:

1. in the DECODED data before anything is rendered (``scrub``, ``scrub_json``), so no renderer
   can hide a secret behind its escaping;
2. at the point where text is written (streams, files, ``$GITHUB_OUTPUT``, the step summary),
   in every form a writer can produce: raw, backslash-escaped (repr, JSON, markdown),
   ``\\uXXXX`` / ``\\xXX``, percent-encoded and as XML/HTML character references, mixed freely.

Every ``Redactor`` registers its secrets process-wide, so writers that are not handed a redactor
(``files.write_atomic``, the streams) still mask every secret the process knows (``everywhere``).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from typing import Any, TextIO, cast

MASK = "***"
MIN_LENGTH = 4  # shorter values would mask innocent text and are not secrets worth the name

_ENTITIES = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos"}
_CONTROL_ESCAPES = {"\n": "n", "\r": "r", "\t": "t", "\b": "b", "\f": "f", "/": "/"}
# A secret in some escaped form can only be present if the text holds one of these.
_ESCAPE_INTRODUCERS = ("\\", "%", "&")


def _char_pattern(char: str) -> str:
    """Every way one character of a secret can be written by an escaper we know of."""
    code = ord(char)
    forms = [re.escape(char)]
    utf8 = char.encode("utf-8", "surrogatepass")
    forms.append("(?i:" + "".join(f"%{b:02x}" for b in utf8) + ")")  # percent-encoding
    forms.append(f"(?i:&#x0*{code:x};)|&#0*{code};")  # XML / HTML character references
    if char in _ENTITIES:
        forms.append(f"&{_ENTITIES[char]};")
    if code < 0x10000:
        forms.append(f"(?i:\\\\u{code:04x})")  # JSON, repr, JavaScript
    else:
        high, low = divmod(code - 0x10000, 0x400)
        forms.append(f"(?i:\\\\u{0xD800 + high:04x}\\\\u{0xDC00 + low:04x}|\\\\U{code:08x})")
    if code < 0x100:
        forms.append(f"(?i:\\\\x{code:02x})")  # repr
    if char in _CONTROL_ESCAPES:
        forms.append("\\\\" + re.escape(_CONTROL_ESCAPES[char]))
    pattern = "(?:" + "|".join(forms) + ")"
    if not char.isalnum():
        pattern = "\\\\?" + pattern  # markdown, JSON (\" \\), repr (\' \\) backslash escapes
    return pattern


def _secret_pattern(secret: str) -> re.Pattern[str]:
    return re.compile("".join(_char_pattern(c) for c in secret))


# What may stand between two characters of a secret a server echoed split up (over lines, by a
# wrapping proxy, with zero-width characters) and still let a reader rejoin it: blanks, line
# breaks (U+2028 too), zero-width characters, and their JSON, percent and XML escapes.
_SPLIT = (
    r"(?:[\s\u200b-\u200d\u2060\ufeff]|\\[nrt]"
    r"|(?i:%0[ad9]|%20|%e2%80%a[89]|&#x0*[ad9];|&#0*(?:9|10|13);))*"
)


def _split_pattern(secret: str) -> re.Pattern[str]:
    return re.compile(_SPLIT.join(re.escape(c) for c in secret))


class Redactor:
    """Replaces every known secret, in any written form, with ``***``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted(
            {s for s in secrets if s and len(s) >= MIN_LENGTH}, key=len, reverse=True
        )
        self._compile()
        _register(self._secrets)

    def _compile(self) -> None:
        self._patterns = [_secret_pattern(s) for s in self._secrets]
        self._split = [_split_pattern(s) for s in self._secrets]

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if self._patterns and any(mark in text for mark in _ESCAPE_INTRODUCERS):
            for pattern in self._patterns:
                text = pattern.sub(MASK, text)
        for pattern in self._split:
            text = pattern.sub(MASK, text)
        return text

    def scrub(self, value: Any) -> Any:
        """Redact every string inside a JSON-like structure (keys included).

        Returns ``value`` itself when nothing needed masking, so the common case costs no copy
        of a large session body. Raises ``RecursionError`` on absurdly deep structures.
        """
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            items = [(self.scrub(k), self.scrub(v)) for k, v in value.items()]
            if all(a is k and b is v for (a, b), (k, v) in zip(items, value.items(), strict=True)):
                return value
            return dict(items)
        if isinstance(value, (list, tuple)):
            scrubbed = [self.scrub(v) for v in value]
            if all(a is b for a, b in zip(scrubbed, value, strict=True)):
                return value
            return scrubbed
        return value

    def scrub_json(self, raw: bytes) -> tuple[bytes, Any]:
        """A JSON body with every secret masked in its DECODED strings.

        Returns ``(body, data)``: ``raw`` itself and ``None`` when it held no secret (or is not
        JSON; then it is only ever written through a redacting writer), else the masked body
        re-encoded and its decoded data, to be parsed instead of the original.
        """
        if not self._secrets:
            return raw, None
        try:
            data = json.loads(raw)
            clean = self.scrub(data)
        except (ValueError, RecursionError):
            return raw, None
        if clean is data:
            return raw, None
        return json.dumps(clean, ensure_ascii=False).encode("utf-8", "replace"), clean


_known: set[str] = set()
_known_lock = threading.Lock()
_everywhere: Redactor | None = None


def _register(secrets: Iterable[str]) -> None:
    global _everywhere
    with _known_lock:
        before = len(_known)
        _known.update(secrets)
        if len(_known) != before:
            _everywhere = None


def everywhere() -> Redactor:
    """A redactor for every secret any ``Redactor`` of this process was given."""
    global _everywhere
    with _known_lock:
        current = _everywhere
    if current is None:
        current = Redactor.__new__(Redactor)
        with _known_lock:
            current._secrets = sorted(_known, key=len, reverse=True)
        current._compile()
        with _known_lock:
            _everywhere = current
    return current


class RedactingStream:
    """A text stream wrapper that redacts whatever is written through it."""

    def __init__(self, stream: TextIO, redactor: Redactor) -> None:
        self._stream = stream
        self._redactor = redactor

    def write(self, text: str) -> int:
        return self._stream.write(self._redactor(text))

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def redacting(stream: TextIO, redactor: Redactor) -> TextIO:
    """``stream`` wrapped so that every write is redacted, typed as the stream it stands for."""
    return cast(TextIO, RedactingStream(stream, redactor))

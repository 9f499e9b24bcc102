"""Keep secrets out of everything the gate prints or writes.

Servers and proxies sometimes echo the Authorization header back in an error body, so redaction
is applied to every outgoing line and every report, not only to messages we compose ourselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO, cast

MASK = "***"


class Redactor:
    """Replaces every known secret (and its ``Bearer`` form) with ``***``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole. Very short values
        # would mask innocent text and are not secrets worth the name; ignore them.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def scrub(self, value: Any) -> Any:
        """Redact every string inside a JSON-like structure (keys included).

        Returns ``value`` itself when nothing needed masking, so the common case costs no copy
        of a large session body.
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

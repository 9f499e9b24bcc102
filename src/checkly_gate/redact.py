"""Keep secrets out of everything the gate prints or writes, in any encoding.

Servers and proxies sometimes echo the Authorization header back (in a header, an error body, a
check name, JSON-escaped as ``\\u0063u_...``), and every output format escapes text its own way
(JSON, markdown, XML, percent-encoding, ``repr``). So secrets are masked twice:

1. in the DECODED data before anything is rendered (``scrub``, ``scrub_json``), so no renderer
   can hide a secret behind its escaping;
2. at the point where text is written (streams, files, ``$GITHUB_OUTPUT``, the step summary),
   in every form a writer can produce: raw, backslash-escaped (repr, JSON, markdown),
   ``\\uXXXX`` / ``\\xXX``, percent-encoded and as XML/HTML character references, mixed freely.

A command builds its ``Secrets`` once (``cli``, from the flags and variables that carry secrets)
and hands it to everything that writes: the streams, the files, the API client (which ``add``s a
proxy's credentials) and the ``run`` command (which ``add``s the config file's ``env`` values).
There is no process-wide registry. Text cut by a length cap ends in ``…``: a secret's prefix
standing right before it is masked too (``CUT``), so capping before masking leaks nothing.

Masking never changes what is judged (the verdict is computed from bodies as received) nor the
gate's own words. So not every ``--env`` value is a secret (``classify``, documented in the
README):

- **secret**: at least ``SECRET_LENGTH`` characters (blanks folded) and not *common*: masked
  everywhere, in every form above, also split over lines or blanks; the API key (and any value
  given as a key or token) is always a secret, and is also masked base64-, hex- and
  twice-percent-encoded.
- **plain**: ``MIN_LENGTH`` to ``SECRET_LENGTH - 1`` letters, digits, ``_``, ``-`` and ``.``,
  starting and ending with a letter or digit, not common: masked only where it stands as a
  whole token (not inside a longer word), as written.
- **common** (never masked): shorter than ``MIN_LENGTH``, or made only of numbers, punctuation,
  one- or two-letter tokens and words of the gate's and the API's own vocabulary
  (``VOCABULARY``: ``false``, ``passed``, ``FINAL``, ``checkly-gate``, ...). Such a value is not
  a secret, and masking it would rewrite the report.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import urllib.parse
from collections.abc import Iterable
from typing import Any, TextIO, cast

MASK = "***"
CUT = "…"  # what every length cap (``text.one_line``, ``api.error_message``) ends a cut text with
MIN_LENGTH = 4  # shorter values would mask innocent text and are not secrets worth the name
SECRET_LENGTH = 8  # from this length on a value is masked everywhere and in every form

# Words the gate writes and the API's enums and field names (casefolded): a value made only of
# these (and numbers, punctuation, one- or two-letter tokens) is never masked, or masking it
# would rewrite the gate's own report. ``tests/test_redact.py`` checks every word the renderers
# write for a passing, failing and flaky session is here.
VOCABULARY = frozenset(
    """
    true false null none yes no on off debug info warn warning error errors ok okay
    checkly gate checkly-gate checkly_gate test tests testing session sessions check checks
    run runs ran running result results passed pass passes passing failed fail fails failure
    failures failing flaky degraded cancelled canceled cancel timed timed-out timed_out timeout
    refused unavailable interrupted usage no-match no-session match matched matching found
    final attempt attempts pending started progress progress_failed progress_degraded
    progress_failed progress_degraded scheduled queued unknown api browser multistep heartbeat
    playwright tcp dns icmp url mode tool expected status outcome reason exit code exitcode
    signal name link links location locations region sequence sequenceid checkid
    testsessionid checksessionid resulttype hasfailures haserrors isdegraded aborted cancelled
    iscancelled isaborted stoppedat startedat createdat updatedat duration durationseconds
    requests counts count policy version schemaversion timings sessionid stop body warnings
    unfinished errorsmessages errormessages missingerrormessages evidence error_group errorgroup
    trace video screenshot screenshots traces videos asset assets the a an of in on at for to
    and or with without by from is was were be been not it its this that all any every one two
    three summary report reports junit json markdown dotenv annotations annotation output
    outputs step steps job jobs pipeline deploy production staging main master branch commit
    repository environment env value values key keys id ids type types total skipped skip
    retry retries retried after before seconds second minutes minute ms s m h
    github gitlab azure buildkite jenkins circleci bitbucket ci
    are could deadline details encoding end fetched fetches finished flakyfailure group groups
    hint http https known last limit message messages most never only out per properties
    property rate read reported rerunfailure service sigterm sigint slower stacktrace still
    stopped stops sub system testcase testsuite testsuites text than threshold time timestamp
    unauthorized utf uuid when while xml following waiting left started startedat
    interrupted received stopping writing what cancelled cancelling because why reason
    assertion could not assertion checklyhq app www max request rate minute later each about
    every within so sessions bad classname
    """.split()  # noqa: SIM905 (a word list reads better as text)
)

_ENTITIES = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos"}
_CONTROL_ESCAPES = {"\n": "n", "\r": "r", "\t": "t", "\b": "b", "\f": "f", "/": "/"}
# A secret in some escaped form can only be present if the text holds one of these.
_ESCAPE_INTRODUCERS = ("\\", "%", "&")
# The same, searched for in bytes (one literal each: far faster than a character class).
_INTRODUCER_BYTES = [re.compile(re.escape(m.encode())) for m in _ESCAPE_INTRODUCERS]


def _char_pattern(char: str) -> str:
    """Every way one character of a secret can be written by an escaper we know of."""
    code = ord(char)
    forms = [re.escape(char)]
    utf8 = char.encode("utf-8", "surrogatepass")
    forms.append("(?i:" + "".join(f"%{b:02x}" for b in utf8) + ")")  # percent-encoding
    forms.append("(?i:" + "".join(f"%25{b:02x}" for b in utf8) + ")")  # ... done twice
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


# JSON's two-character escapes (RFC 8259, section 7), by the character they stand for.
_JSON_SHORT = {
    '"': b'"',
    "\\": b"\\",
    "/": b"/",
    "\b": b"b",
    "\f": b"f",
    "\n": b"n",
    "\r": b"r",
    "\t": b"t",
}


def _json_hex(code: int) -> bytes:
    return b"(?i:\\\\u" + f"{code:04x}".encode() + b")"


def _json_char(char: str) -> bytes:
    """Every way UTF-8 JSON text can spell ``char`` inside a string (RFC 8259, section 7): its
    UTF-8 bytes, ``\\uXXXX`` (a surrogate pair above U+FFFF) or, for the eight that have one, a
    two-character escape."""
    code = ord(char)
    forms = [re.escape(char.encode("utf-8", "surrogatepass"))]
    if code < 0x10000:
        forms.append(_json_hex(code))
    else:
        high, low = divmod(code - 0x10000, 0x400)
        forms.append(_json_hex(0xD800 + high) + _json_hex(0xDC00 + low))
    if char in _JSON_SHORT:
        forms.append(b"\\\\" + re.escape(_JSON_SHORT[char]))
    return b"(?:" + b"|".join(forms) + b")"


def _json_pattern(secret: str, between: bytes = b"") -> re.Pattern[bytes]:
    """Every way UTF-8 JSON text can spell ``secret`` inside a string, its characters separated
    by ``between`` (a pattern; nothing by default)."""
    return re.compile(between.join(_json_char(c) for c in secret))


# What may stand between two characters of a secret a server echoed split up (over lines, by a
# wrapping proxy, with zero-width characters) and still let a reader rejoin it: blanks, line
# breaks (U+2028 too), zero-width characters, and their JSON, percent and XML escapes. Never
# one that could also be the secret's next character (a blank in the secret, an escape whose
# "\\", "%" or "&" the secret holds, a generic ``\\uXXXX``): an ambiguous pattern can take
# exponential time on a hostile body. Checkly's keys hold none of these.
_BLANKS = tuple(chr(c) for c in range(0x3001) if re.match(r"\s", chr(c)))  # none above U+3000
_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
# Escaped line breaks and blanks, by the character that introduces them.
_ESCAPED_BREAKS = {
    "\\": r"\\[nrt]",
    "%": r"(?i:%0[ad9]|%20|%e2%80%a[89])",
    "&": r"(?i:&#x0*[ad9];|&#0*(?:9|10|13);)",
}


def _separators(secret: str) -> list[str]:
    return [c for c in (*_BLANKS, *_ZERO_WIDTH) if c not in secret]


def _between(secret: str, form: str) -> str:
    """The pattern of what may stand between two characters of ``secret``, as ``form``: "text"
    (decoded text), "utf8" (its UTF-8 bytes) or "json" (JSON text, where a string may also spell
    a separator as an escape). Byte forms come as latin-1 text: ``.encode("latin-1")`` gives
    the byte pattern."""
    seps = _separators(secret)
    if form == "text":
        parts = ["[" + "".join(re.escape(c) for c in seps) + "]"] if seps else []
    else:
        parts = [re.escape(c).encode("utf-8").decode("latin-1") for c in seps]
    if form == "json":
        parts += [f"(?i:\\\\u{ord(c):04x})" for c in seps]
    parts += [form for mark, form in _ESCAPED_BREAKS.items() if mark not in secret]
    return "(?:" + "|".join(parts) + ")*"


def _split_pattern(secret: str) -> re.Pattern[str]:
    # A blank or line break inside the secret may come back as any run of blanks (a multi-line
    # value echoed in a check name whose line break became a blank).
    chars = [r"\s+" if c.isspace() else re.escape(c) for c in secret]
    return re.compile(_between(secret, "text").join(chars))


def _split_bytes_pattern(secret: str) -> re.Pattern[bytes]:
    between = _between(secret, "utf8").encode("latin-1")
    chars = [
        rb"\s+" if c.isspace() else re.escape(c.encode("utf-8", "surrogatepass")) for c in secret
    ]
    return re.compile(between.join(chars))


_TOKEN = re.compile(r"[^\W_]+")


def folded(value: str) -> str:
    """``value`` with every run of blanks and line breaks folded into one space, ends cut."""
    return " ".join(value.split())


def is_common(value: str) -> bool:
    """Whether ``value`` is made only of numbers, punctuation, one- or two-letter tokens and
    words of ``VOCABULARY`` (casefolded): not a secret, and never masked."""
    text = value.casefold()
    if text.strip() in VOCABULARY:
        return True
    return all(t.isdigit() or len(t) <= 2 or t in VOCABULARY for t in _TOKEN.findall(text))


def classify(value: str | None) -> str:
    """ "secret", "plain" or "common" (see the module docs): how a ``--env`` value is masked."""
    if not value:
        return "common"
    text = folded(value)
    if len(text) < MIN_LENGTH or is_common(text):
        return "common"
    if len(text) >= SECRET_LENGTH:
        return "secret"
    # Only word characters, "-" and ".": masking one as a whole word can never cut into the
    # structure of JSON, XML or markdown written around it.
    if text[0].isalnum() and text[-1].isalnum() and re.fullmatch(r"[\w.-]+", text):
        return "plain"
    return "common"


def encoded_forms(secret: str) -> list[str]:
    """Spellings of ``secret`` an error message may echo besides the escapes ``_char_pattern``
    knows: its UTF-8 in hex (either case: matched case-insensitively), the stable middle of its
    base64 and URL-safe base64 at each of the three byte alignments (so it is found inside a
    longer encoded text too), and percent-encoded twice."""
    raw = secret.encode("utf-8", "surrogatepass")
    forms = [binascii.hexlify(raw).decode()]
    for k in range(3):
        padded = bytes(k) + raw + bytes(2)
        start, end = -(-8 * k // 6), (8 * k + 8 * len(raw)) // 6
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            middle = encode(padded).decode()[start:end]
            if len(middle) >= SECRET_LENGTH:
                forms.append(middle)
    once = urllib.parse.quote(raw, safe="")  # the bytes: a lone surrogate cannot stop quote()
    forms += [urllib.parse.quote(once, safe=""), urllib.parse.quote(urllib.parse.quote(raw))]
    return [f for f in dict.fromkeys(forms) if f and f != secret]


class Secrets:
    """A command's secrets; calling it replaces every one, in any written form, with ``***``.

    ``secrets`` are always masked (the API key, tokens); ``values`` (``--env`` values) are
    masked as ``classify`` says: secrets everywhere, plain values as whole tokens, common
    values never.
    """

    def __init__(
        self, secrets: Iterable[str | None] = (), values: Iterable[str | None] = ()
    ) -> None:
        strong = {s for s in secrets if s and len(s) >= MIN_LENGTH}
        plain: set[str] = set()
        for value in values:
            kind = classify(value)
            if kind == "secret" and value:
                strong.update({value, folded(value)})
            elif kind == "plain" and value:
                plain.add(folded(value))
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted(strong, key=len, reverse=True)
        self._plain = sorted(plain, key=len, reverse=True)
        self._lock = threading.Lock()
        self._compile()

    def add(self, secrets: Iterable[str | None] = (), values: Iterable[str | None] = ()) -> None:
        """Mask these too from now on (a proxy's credentials, the config file's ``env`` values):
        the command learns them after it built its ``Secrets``. Thread-safe; a write that runs
        meanwhile masks with the secrets known when it started."""
        more = Secrets(secrets, values)
        with self._lock:
            strong = set(self._secrets) | set(more._secrets)
            plain = set(self._plain) | set(more._plain)
            if len(strong) == len(self._secrets) and len(plain) == len(self._plain):
                return
            grown = Secrets.__new__(Secrets)
            grown._secrets = sorted(strong, key=len, reverse=True)
            grown._plain = sorted(plain, key=len, reverse=True)
            grown._compile()
            # One assignment of the whole compiled state: a reader never sees half of it.
            self.__dict__.update({k: v for k, v in grown.__dict__.items() if k != "_lock"})

    def _compile(self) -> None:
        self._patterns = [_secret_pattern(s) for s in self._secrets]
        self._split = [_split_pattern(s) for s in self._secrets]
        encoded = {f for s in self._secrets for f in encoded_forms(s)}
        self._encoded = sorted(encoded, key=len, reverse=True)
        self._encoded_pattern = (
            re.compile(
                "|".join(
                    f"(?i:{re.escape(f)})" if _is_hex(f) else re.escape(f) for f in self._encoded
                )
            )
            if self._encoded
            else None
        )
        self._plain_pattern = (
            re.compile(
                r"(?<![^\W_])(?:" + "|".join(re.escape(p) for p in self._plain) + r")(?![^\W_])"
            )
            if self._plain
            else None
        )
        # Byte patterns for the raw-body checks, built on first use.
        self._split_json: list[re.Pattern[bytes]] | None = None
        self._byte_patterns: list[re.Pattern[bytes]] | None = None
        self._split_bytes: list[re.Pattern[bytes]] = []

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
        if self._encoded_pattern is not None:
            text = self._encoded_pattern.sub(MASK, text)
        if self._plain_pattern is not None:
            text = self._plain_pattern.sub(MASK, text)
        if self._secrets and CUT in text:
            text = self._cut_prefixes(text)
        return text

    def _cut_prefixes(self, text: str) -> str:
        """``text`` with every prefix of a secret (``MIN_LENGTH`` characters or more) that stands
        right before a ``CUT`` mark masked: a length cap cut the secret there."""
        pieces = text.split(CUT)
        for i, piece in enumerate(pieces[:-1]):
            n = self._cut_prefix_length(piece)
            if n:
                pieces[i] = piece[:-n] + MASK
        return CUT.join(pieces)

    def _cut_prefix_length(self, piece: str) -> int:
        """The length of the longest secret prefix (``MIN_LENGTH`` or more) ``piece`` ends with."""
        best = 0
        for secret in self._secrets:
            for n in range(len(secret) - 1, max(MIN_LENGTH, best + 1) - 1, -1):
                if piece.endswith(secret[:n]):
                    best = n
                    break
        return best

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
        if not self._secrets or not self._may_spell_a_secret(raw):
            return raw, None
        try:
            data = json.loads(raw)
            clean = self.scrub(data)
        except (ValueError, RecursionError):
            return raw, None
        if clean is data:
            return raw, None
        return json.dumps(clean, ensure_ascii=False).encode("utf-8", "replace"), clean

    def finds(self, utf8: bytes | memoryview) -> bool:
        """Whether ``self`` would change the text whose valid UTF-8 encoding is ``utf8``, found
        without decoding it (a raw 14 MB body): the same patterns as ``__call__`` over the
        bytes. They match the same spans: a secret's non-ASCII characters are matched as their
        UTF-8 bytes, and only ASCII forms (hex digits, ``x``, ``u``) are case-insensitive, which
        no non-ASCII character matches in either mode."""
        if self._byte_patterns is None:
            self._byte_patterns = [
                re.compile(p.pattern.encode("utf-8", "surrogatepass")) for p in self._patterns
            ]
            self._split_bytes = [_split_bytes_pattern(s) for s in self._secrets]
        literal = [re.escape(s.encode("utf-8", "surrogatepass")) for s in self._secrets]
        if literal and re.search(b"|".join(literal), utf8):
            return True
        cut = CUT.encode("utf-8")
        if self._secrets and cut in utf8:  # a secret's prefix cut by a length cap
            pieces = bytes(utf8).split(cut)[:-1]
            if any(self._cut_prefix_length(p.decode("utf-8", "replace")) for p in pieces):
                return True
        if self._encoded and re.search(
            b"|".join(b"(?i:" + re.escape(f.encode()) + b")" for f in self._encoded), utf8
        ):
            return True
        if self._plain_pattern is not None and re.search(
            self._plain_pattern.pattern.encode("utf-8", "surrogatepass"), utf8
        ):
            return True
        if any(p.search(utf8) for p in self._split_bytes):  # split over lines or by blanks
            return True
        if not any(p.search(utf8) for p in _INTRODUCER_BYTES):  # every other form needs one
            return False
        return any(p.search(utf8) for p in self._byte_patterns)

    def _may_spell_a_secret(self, raw: bytes) -> bool:
        """False only when no string of the JSON text ``raw`` can decode to one holding a secret:
        decoding and walking a 30,000-result body to find nothing costs a second and ~30 MiB.
        Every JSON spelling of every character is tried, whole or split up by what may stand
        between them (``_json_pattern`` with ``_between(secret, "json")``)."""
        if json.detect_encoding(raw) not in ("utf-8", "utf-8-sig"):
            return True  # UTF-16/32 JSON: the byte patterns do not apply; decode and look
        if self._split_json is None:
            self._split_json = [
                _json_pattern(s, _between(s, "json").encode("latin-1")) for s in self._secrets
            ]
        # Any JSON spelling of a secret, whole or split up (``_split_json`` covers both).
        return any(p.search(raw) for p in self._split_json)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


class RedactingStream:
    """A text stream wrapper that redacts whatever is written through it."""

    def __init__(self, stream: TextIO, redactor: Secrets) -> None:
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


def redacting(stream: TextIO, redactor: Secrets) -> TextIO:
    """``stream`` wrapped so that every write is redacted, typed as the stream it stands for."""
    return cast(TextIO, RedactingStream(stream, redactor))


#: Where the publishers' tokens come from (and only there): secrets of every command.
PUBLISH_TOKEN_VARIABLES = ("GITHUB_TOKEN", "CHECKLY_GATE_GITLAB_TOKEN")


def url_secrets(url: str) -> list[str]:
    """The forms of a webhook URL (``--notify``) to mask: whole, its path and query, its
    userinfo (a Slack or Teams hook's path is its credential)."""
    found = [url]
    try:
        split = urllib.parse.urlsplit(url)
    except ValueError:
        return found
    found += [split.path, split.query, f"{split.path}?{split.query}" if split.query else ""]
    if split.password:
        found.append(split.password)
    return [s for s in found if s and len(s) >= 8]

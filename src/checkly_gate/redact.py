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
**Runs of a secret** (``_Partial``): a server may echo MOST of a secret (cut, from its 5th
character on, upper-cased, with a character inserted, wrapped, partly escaped). Every run of at
least ``threshold(secret)`` consecutive characters of a secret (half of it, never fewer than
``SECRET_LENGTH``: blanks inside it dropped) is masked wherever it stands, case-insensitively,
with the whole stretch the overlapping runs cover. Runs are looked for in two views of the
text, each with runs of up to ``_MAX_BLANKS`` blanks and zero-width characters dropped (a line
wrap): the text as written, and (when it holds ``\\``, ``%`` or ``&``) the text with its
escapes decoded (percent once or twice, ``\\uXXXX``, ``\\xXX``, two-letter and markdown
backslash escapes, XML references); and in the UTF-8 of the secret as written, upper- and
lower-cased, in hex, base32 (five alignments) and base64 / URL-safe base64 (three alignments),
as many encoded characters as spell ``threshold`` bytes. The rule applies only to secrets of
``SECRET_LENGTH`` characters or more: a plain value (4-7 characters) is masked only whole, as
a token, and a common one never, as before, so a 1-3 character ``--env`` value never turns a
text into asterisks. A run whose whole word is made of ``VOCABULARY`` words
(``PROGRESS_DEGRADED``, ``checkResultId``) is not masked: a status or a field name of a body
``report`` judges again is never rewritten. Runs are looked up in a set per family (the secret's
characters; hex and base32; base64), only inside stretches of its alphabet, so the cost
grows linearly with the text (``benchmarks/redact.py``). ``finds`` and
``scrub_json``'s raw look decode a body ``PARTIAL_CHUNK`` bytes at a time, overlapping by
more than a run can span.

Not covered: base64 of a case-mixed secret (only as written, upper- and lower-cased); a run
across a backslash *inside* the secret when it is escaped (the secret's own ``\\`` is read as
an escape); a run split by more than ``_MAX_BLANKS`` blanks; encodings stacked more than the
ones named (base64 of the hex, percent-encoding three times).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import re
import string
import threading
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any, TextIO, cast

MASK = "***"
CUT = "…"  # what every length cap (``text.one_line``, ``api.error_message``) ends a cut text with
MIN_LENGTH = 4  # shorter values would mask innocent text and are not secrets worth the name
SECRET_LENGTH = 8  # from this length on a value is masked everywhere and in every form
#: The longest unbroken stretch of a secret's alphabet that is scanned for runs of it (chars);
#: a longer one is masked whole (``_Family.runs``), so masking stays far below a second a MB.
MAX_STRETCH = 4096

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
    checkresultid checkresultlink checksessionlink testsessionlink testsessionresultid
    testsessionresultlink checktype errorgroupids errorisc erroriscurrent firstseen lastseen
    finishedat runlocation runlocations responsetime timeelapsed failfast failondegraded
    failonflaky bypolicy exitcode commitid commitmessage commitowner branchname resultid
    hasfailures haserrors missingerrormessages
    new seen quarantine quarantined owner expires expired expiry mark known set aside labels
    label history shadow would fail-fast fail-on setaside
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


# --- Partial runs ------------------------------------------------------------------------------
# A server may echo MOST of a secret: cut, from its 5th character on, upper-cased, with a
# character inserted, wrapped over lines, some characters escaped. ``_Partial`` masks every run
# of at least ``threshold`` consecutive characters of a secret, case-insensitively, in two views
# of the text (the text as written, and the text with every escape decoded), blanks and
# zero-width characters dropped from both; and every run of its UTF-8's hex, base64, URL-safe
# base64 and base32 long enough to spell ``threshold`` bytes.

PARTIAL_CHUNK = 1 << 13  # bytes of a raw body decoded at a time by the byte-level checks
_MAX_BLANKS = 16  # a longer run of blanks between two characters ends a run of a secret
# Bytes one character of a secret spans at most in a view: its longest escape (``%25XX`` four
# times, eight backslashes and a surrogate pair) and a run of escaped blanks before the next.
_MAX_UNIT = 300
_SEPARATOR_CLASS = "[" + "".join(re.escape(c) for c in (*_BLANKS, *_ZERO_WIDTH)) + "]"
_BLANK_RUN = re.compile(_SEPARATOR_CLASS + "+")
_LONG_BLANKS = re.compile(_SEPARATOR_CLASS + f"{{{_MAX_BLANKS + 1},}}")
_BREAK = "\0"  # stands for a longer run of blanks in a view: it ends a run (no secret holds it)
_DROP_BLANKS = dict.fromkeys(map(ord, (*_BLANKS, *_ZERO_WIDTH)))


def _squeeze(match: re.Match[str]) -> str:
    """A run of up to ``_MAX_BLANKS`` blanks is dropped from a view, a longer one ends a run."""
    return "" if len(match.group()) <= _MAX_BLANKS else _BREAK


def _squeezed(text: str) -> str:
    """``_BLANK_RUN.sub(_squeeze, text)`` without a piece per blank (a view of a big body)."""
    return _LONG_BLANKS.sub(_BREAK, text).translate(_DROP_BLANKS)


# The escapes the decoded view undoes: percent (once or twice, UTF-8 bytes in a row), JSON /
# repr / JavaScript (``\\uXXXX`` with surrogate pairs, ``\\UXXXXXXXX``, ``\\xXX``, two-letter
# escapes, a backslash before punctuation: markdown), XML / HTML character references. Any
# number (up to 8) of backslashes introduces a backslash escape: a JSON text inside a string.
_ESCAPE = re.compile(
    r"(?P<pct>(?:%(?:25)?[0-9A-Fa-f]{2})+)"
    r"|\\{1,8}(?:u(?P<hi>[dD][89abAB][0-9A-Fa-f]{2})\\{1,8}u(?P<lo>[dD][c-fC-F][0-9A-Fa-f]{2})"
    r"|u(?P<u>[0-9A-Fa-f]{4})|U(?P<U>[0-9A-Fa-f]{8})|x(?P<x>[0-9A-Fa-f]{2})"
    r"|(?P<ctl>[nrtbf])|(?P<punct>[!-/:-@\[\]-`{-~]))"
    r"|&#(?:[xX](?P<xref>[0-9A-Fa-f]{1,8})|(?P<dref>[0-9]{1,10}));"
    r"|&(?P<entity>amp|lt|gt|quot|apos);"
)
_PERCENT_BYTE = re.compile(r"%(?:25([0-9A-Fa-f]{2})|([0-9A-Fa-f]{2}))")
_CONTROLS = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_HAS_ESCAPE = re.compile(r"[\\%&]")


def _char(code: int) -> str:
    return chr(code) if code <= 0x10FFFF else "\ufffd"


def _unescape(match: re.Match[str]) -> str:
    """What one escape (``_ESCAPE``) stands for."""
    group = match.lastgroup
    value = match.group(group) if group else ""
    if group == "pct":  # "%2541" is "%41" percent-encoded again: "A"
        pairs = _PERCENT_BYTE.findall(value)
        return bytes.fromhex("".join(a or b for a, b in pairs)).decode("utf-8", "replace")
    if group in ("lo", "hi"):
        high, low = int(match.group("hi"), 16), int(match.group("lo"), 16)
        return chr(0x10000 + (high - 0xD800) * 0x400 + (low - 0xDC00))
    if group in ("u", "U", "x", "xref"):
        return _char(int(value, 16))
    if group == "dref":
        return _char(int(value))
    if group == "ctl":
        return _CONTROLS[value]
    if group == "entity":
        return _NAMED[value]
    return value  # punctuation after a backslash


class _Rewrite:
    """``target``: ``source`` with every match of ``pattern`` replaced (``repl``), and the way
    back from a span of ``target`` to the span of ``source`` it came from (built on first use:
    the rewrite itself runs in C but for the escapes)."""

    def __init__(self, source: str, pattern: re.Pattern[str], repl: Any, fast: Any = None) -> None:
        self.source, self._pattern, self._repl = source, pattern, repl
        # ``fast(source)``: the same target, cheaper than a ``sub`` with a piece per match.
        self.target = fast(source) if fast is not None else pattern.sub(repl, source)
        self._units: list[tuple[int, int, int, int]] | None = None  # source and target spans

    def _build(self) -> list[tuple[int, int, int, int]]:
        units: list[tuple[int, int, int, int]] = []
        src_end = dst_end = 0
        for m in self._pattern.finditer(self.source):
            out = self._repl if isinstance(self._repl, str) else self._repl(m)
            dst_start = dst_end + m.start() - src_end
            src_end, dst_end = m.end(), dst_start + len(out)
            units.append((m.start(), src_end, dst_start, dst_end))
        return units

    def back(self, start: int, end: int) -> tuple[int, int]:
        """The span of ``source`` the ``target`` span ``[start, end)`` (not empty) came from."""
        if self._units is None:
            self._units = self._build()
            self._starts = [u[2] for u in self._units]
        return self._locate(start)[0], self._locate(end - 1)[1]

    def _locate(self, index: int) -> tuple[int, int]:
        """The span of ``source`` the character at ``index`` of ``target`` came from: its escape,
        or itself (counted from the nearest rewrite before it)."""
        assert self._units is not None
        at = bisect.bisect_right(self._starts, index) - 1
        if at < 0:
            return index, index + 1
        src_start, src_end, dst_start, dst_end = self._units[at]
        if dst_start <= index < dst_end:
            return src_start, src_end
        return src_end + index - dst_end, src_end + index - dst_end + 1


def _views(text: str) -> list[list[_Rewrite]]:
    """The two views of ``text`` runs are looked for in (each a chain of rewrites): the text
    and, if it holds an escape, the text decoded; short runs of blanks dropped from both."""
    views = [[_Rewrite(text, _BLANK_RUN, _squeeze, _squeezed)]]
    if _HAS_ESCAPE.search(text):
        decoded = _Rewrite(text, _ESCAPE, _unescape)
        views.append([decoded, _Rewrite(decoded.target, _BLANK_RUN, _squeeze, _squeezed)])
    return views


def threshold(secret: str) -> int:
    """How many consecutive characters of ``secret`` (blanks dropped) are masked wherever they
    stand: half of it, and never fewer than ``SECRET_LENGTH``."""
    return max(SECRET_LENGTH, -(-len(_BLANK_RUN.sub("", secret)) // 2))


def _grams(text: str, k: int) -> set[str]:
    return {text[i : i + k] for i in range(len(text) - k + 1)} if k > 0 else set()


def _stable(encode: Any, raw: bytes, bits: int, align: int) -> str:
    """The characters of ``encode(bytes(align) + raw + padding)`` that only ``raw``'s bits decide
    (``bits`` per character: 4 hex, 5 base32, 6 base64)."""
    group = {4: 1, 5: 5, 6: 3}[bits]
    padded = bytes(align) + raw + bytes(group)
    text = encode(padded).decode()
    return text[-(-8 * align // bits) : (8 * align + 8 * len(raw)) // bits]


def _encoded_grams(secret: str, k: int) -> tuple[set[str], set[str]]:
    """The runs of ``secret``'s encodings (of it as written, upper- and lower-cased) that spell
    ``k`` bytes: (lower-cased hex and base32, base64 and URL-safe base64 as written)."""
    folded_forms: set[str] = set()
    exact: set[str] = set()
    for variant in dict.fromkeys((secret, secret.upper(), secret.lower())):
        raw = variant.encode("utf-8", "surrogatepass")
        folded_forms |= _grams(raw.hex(), 2 * k)
        for align in range(5):
            folded_forms |= _grams(_stable(base64.b32encode, raw, 5, align).lower(), 8 * k // 5 - 1)
        for align in range(3):
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                exact |= _grams(_stable(encode, raw, 6, align), 4 * k // 3 - 1)
    return folded_forms, exact


def _is_words(text: str) -> bool:
    """Whether ``text`` is one word made of ``VOCABULARY`` words (``PROGRESS_DEGRADED``,
    ``checkResultId``): the gate's and the API's own, never masked for a partial run."""
    tokens = _TOKEN.findall(text.casefold())
    return bool(tokens) and bool(_ONE_WORD.fullmatch(text)) and all(t in VOCABULARY for t in tokens)


_ONE_WORD = re.compile(r"[\w.-]+")
_WORD_CHAR = re.compile(r"[\w.-]")


class _Partial:
    """The runs of ``secrets`` (each of ``SECRET_LENGTH`` characters or more) to mask: see
    ``threshold`` and the module docs."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Families of runs: (lower-cased?, the runs); each family looks its runs up in a set,
        # only where its alphabet stands long enough (``_Family``).
        families: dict[str, set[str]] = {"chars": set(), "encoded": set(), "base64": set()}
        self.span = 0  # bytes a run spans at most in a raw body
        for secret in secrets:
            k = threshold(secret)
            self.span = max(self.span, k * _MAX_UNIT)
            chars = _BLANK_RUN.sub("", secret)
            families["chars"] |= _grams(chars.lower(), k) | _grams(chars.upper().lower(), k)
            hexes, b64 = _encoded_grams(secret, k)
            families["encoded"] |= hexes
            families["base64"] |= b64
        self._families = [
            _Family(words, lowered=name != "base64") for name, words in families.items() if words
        ]

    def _found(self, view: str) -> Iterator[tuple[int, int]]:
        lowered = _lower(view) if any(f.lowered for f in self._families) else view
        for family in self._families:
            yield from family.runs(lowered if family.lowered else view)

    def spans(self, text: str, guard: bool = True) -> list[tuple[int, int]]:
        """The spans of ``text`` to mask, sorted and merged; a span that only touches words of
        the gate's and the API's vocabulary is kept (``guard``: masking never rewrites a status
        or a field name)."""
        found = []
        for chain in _views(text):
            for start, end in self._found(chain[-1].target):
                for rewrite in reversed(chain):
                    start, end = rewrite.back(start, end)
                found.append((start, end))
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return [s for s in merged if not guard or not _is_words(_word_around(text, *s))]

    def mask(self, text: str) -> str:
        spans = self.spans(text)
        if not spans:
            return text
        pieces, at = [], 0
        for start, end in spans:
            pieces += [text[at:start], MASK]
            at = end
        return "".join([*pieces, text[at:]])

    def finds(self, utf8: bytes | memoryview, guard: bool = True) -> bool:
        """Whether ``spans`` finds anything in the text whose UTF-8 is ``utf8``, decoded a piece
        (``PARTIAL_CHUNK`` bytes, overlapping by more than a run can span) at a time."""
        data = memoryview(utf8)
        step = max(PARTIAL_CHUNK, 2 * self.span)
        for start in range(0, max(len(data), 1), step):
            piece = bytes(data[start : start + step + self.span])
            text = piece.decode("utf-8", "ignore")  # a character cut at either end: dropped
            if self.spans(text, guard):
                return True
        return False


class _Family:
    """Runs (``words``, lower-cased when ``lowered``) looked up in a set, only inside a stretch
    of ``words``' alphabet as long as the shortest word: a text of ordinary words and ids costs
    one pass of a character class. (A set, not a regex of the words: compiling one for a long
    secret's hundreds of encoded runs costs more memory than a big body's masking.)"""

    def __init__(self, words: set[str], lowered: bool) -> None:
        self.lowered = lowered
        self._words = frozenset(words)
        self._lengths = sorted({len(w) for w in words}, reverse=True)
        alphabet = "".join(re.escape(c) for c in sorted({c for w in words for c in w}))
        self._stretch = re.compile(f"(?<![{alphabet}])[{alphabet}]{{{self._lengths[-1]},}}")

    def _end(self, view: str, at: int, stop: int) -> int:
        """Where the longest word at ``at`` ends (``at`` if none does)."""
        for n in self._lengths:
            if at + n <= stop and view[at : at + n] in self._words:
                return at + n
        return at

    def runs(self, view: str) -> Iterator[tuple[int, int]]:
        """The spans of ``view`` covered by the words, each as long as overlapping words carry
        it: a longer run is one span, never a masked head and a visible tail. A stretch longer
        than ``MAX_STRETCH`` is one span whole, unread: scanning it costs about a second a
        megabyte after the deadline (a 10 MB hex ``commitId``), and a token that long is a
        blob (an embedded image, garbage), never a word a reader needs."""
        for stretch in self._stretch.finditer(view):
            at, stop = stretch.span()
            if stop - at > MAX_STRETCH:
                yield at, stop
                continue
            while at < stop:
                end = self._end(view, at, stop)
                if end == at:
                    at += 1
                    continue
                start, at = at, at + 1
                while at < end:
                    end = max(end, self._end(view, at, stop))
                    at += 1
                yield start, end


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _lower(text: str) -> str:
    """``text`` lower-cased character by character, its length kept (``"İ".lower()`` is two
    characters: such a character stays as it is)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return re.sub(r"[^\x00-\x7f]", _lower_one, text).translate(_ASCII_LOWER)


def _lower_one(match: re.Match[str]) -> str:
    lowered = match.group().lower()
    return lowered if len(lowered) == 1 else match.group()


def _word_around(text: str, start: int, end: int) -> str:
    """``text[start:end]`` grown to the whole words it touches."""
    while start > 0 and _WORD_CHAR.match(text, start - 1):
        start -= 1
    while end < len(text) and _WORD_CHAR.match(text, end):
        end += 1
    return text[start:end]


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
        self._partial_runs: _Partial | None = None  # built on first use

    def _partial(self) -> _Partial | None:
        """The partial-run masker of the secrets long enough to have one (``threshold``)."""
        if self._partial_runs is None:
            long = [s for s in self._secrets if len(_BLANK_RUN.sub("", s)) >= SECRET_LENGTH]
            if not long:
                return None
            self._partial_runs = _Partial(long)
        return self._partial_runs

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
        partial = self._partial()
        if partial is not None:
            text = partial.mask(text)
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
        if any(p.search(utf8) for p in _INTRODUCER_BYTES) and any(  # other forms need one
            p.search(utf8) for p in self._byte_patterns
        ):
            return True
        partial = self._partial()
        return partial is not None and partial.finds(utf8)

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
        # Any JSON spelling of a secret, whole or split up (``_split_json`` covers both), or a
        # run of one (``_Partial``: its decoded view undoes JSON's escapes).
        if any(p.search(raw) for p in self._split_json):
            return True
        partial = self._partial()
        return partial is not None and partial.finds(raw, guard=False)


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

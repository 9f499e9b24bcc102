"""A server that echoes MOST of a secret (cut, shifted, case-changed, encoded, split) leaves no
run of ``redact.threshold`` characters of it in what is written (``redact._Partial``)."""

from __future__ import annotations

import base64
import html
import json
import re
import string
import urllib.parse

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from checkly_gate.redact import MASK, Secrets, _is_words, threshold

HEX = "0123456789abcdef"
checkly_keys = st.text(st.sampled_from(HEX), min_size=32, max_size=32).map(lambda h: "cu_" + h)
printable = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=8, max_size=80)
secrets = st.one_of(checkly_keys, printable)
# Around the echo: words, blanks and punctuation with no escape introducer and no hex letter.
AROUND = st.text(st.sampled_from("ghijklmnopqrstvwxyz GHIJKLMNOPQRSTVWXYZ.,:;!?()"), max_size=30)


def _unescaped(text: str) -> str:
    """``text`` with percent-encoding (twice), character references and ``\\uXXXX`` undone."""
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    return html.unescape(urllib.parse.unquote(urllib.parse.unquote(text)))


def _has_run(text: str, secret: str, k: int) -> bool:
    """Whether ``text`` holds ``k`` consecutive characters of ``secret``, case-insensitively."""
    folded = text.casefold()
    return any(secret[i : i + k].casefold() in folded for i in range(len(secret) - k + 1))


def _cased(part: str, how: int) -> str:
    return (part, part.upper(), part.lower(), part.swapcase())[how]


ESCAPES = {
    "json": lambda p: "".join(f"\\u{ord(c):04x}" for c in p),
    "JSON": lambda p: json.dumps(p)[1:-1],
    "percent": lambda p: "".join(f"%{b:02X}" for b in p.encode()),
    "percent-twice": lambda p: urllib.parse.quote(urllib.parse.quote(p, safe=""), safe=""),
    "entities": lambda p: "".join(f"&#{ord(c)};" for c in p),
    "markdown": lambda p: re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", p),
    "wrapped": lambda p: p[: len(p) // 2] + "\n    " + p[len(p) // 2 :],
}
# An encoding, and how many of its characters spell ``k`` bytes (the run that must not remain).
ENCODINGS = {
    "hex": (lambda b: b.hex(), lambda k: 2 * k),
    "HEX": (lambda b: b.hex().upper(), lambda k: 2 * k),
    "base64": (lambda b: base64.b64encode(b).decode(), lambda k: 4 * k // 3 - 1),
    "base64url": (lambda b: base64.urlsafe_b64encode(b).decode(), lambda k: 4 * k // 3 - 1),
    "base32": (lambda b: base64.b32encode(b).decode(), lambda k: 8 * k // 5 - 1),
}


@st.composite
def parts(draw: st.DrawFn) -> tuple[str, str, int]:
    """A secret, a run of it at least ``threshold`` long, and the threshold."""
    secret = draw(secrets)
    k = threshold(secret)
    length = draw(st.integers(k, len(secret)))
    start = draw(st.integers(0, len(secret) - length))
    part = secret[start : start + length]
    assume(not _is_words(part))  # the API's own words (``commitOwner``) are kept by design
    return secret, part, k


@settings(deadline=None, max_examples=60)  # each example compiles a redactor
@given(parts(), st.integers(0, 3), st.sampled_from(["raw", *ESCAPES]), AROUND, AROUND)
def test_no_run_of_a_secret_survives_in_any_case_or_escape(
    case: tuple[str, str, int], how: int, escape: str, before: str, after: str
) -> None:
    secret, part, k = case
    echoed = _cased(part, how)
    form = echoed if escape == "raw" else ESCAPES[escape](echoed)
    redactor = Secrets([secret])
    text = f"{before}{form}{after}"
    masked = redactor(text)
    assert MASK in masked
    left = _unescaped(masked) if escape not in ("raw", "markdown", "wrapped") else masked
    if escape == "markdown":
        left = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", masked)
    if escape == "wrapped":
        left = re.sub(r"\s+", "", masked)
    assert not _has_run(left, secret, k), (form, masked)
    assert redactor.finds(text.encode()) == (masked != text)


@settings(deadline=None, max_examples=60)  # each example compiles a redactor
@given(parts(), st.integers(0, 2), st.sampled_from(sorted(ENCODINGS)), AROUND, AROUND)
def test_no_run_of_an_encoded_secret_survives(
    case: tuple[str, str, int], how: int, name: str, before: str, after: str
) -> None:
    secret, part, k = case
    encode, length = ENCODINGS[name]
    form = encode(_cased(part, how).encode())
    masked = Secrets([secret])(f"{before} {form} {after}")
    n = length(k)
    assert not any(form[i : i + n] in masked for i in range(len(form) - n + 1)), (form, masked)


@settings(deadline=None, max_examples=60)  # each example compiles a redactor
@given(secrets, AROUND, st.sampled_from(["", "\\n", "%20", "&amp;", '\\"']))
def test_text_without_a_run_of_a_secret_is_unchanged(secret: str, text: str, escape: str) -> None:
    """Words, blanks and escapes with fewer than ``threshold`` characters of the secret in a
    row: nothing is masked, and the byte-level look agrees."""
    k = threshold(secret)
    near = secret[: k - 1] + "~" + secret[k - 1 :] if "~" not in secret else text
    for said in (text + escape + text, f"{text} {near[: k - 1]} {escape}"):
        views = (said, _unescaped(said))  # as written and decoded, blanks dropped from both
        if any(_has_run(re.sub(r"\s", "", view), secret, k) for view in views):
            continue
        redactor = Secrets([secret])
        assert redactor(said) == said
        assert not redactor.finds(said.encode())


@settings(deadline=None, max_examples=60)  # each example compiles a redactor
@given(parts(), st.integers(0, 3))
def test_scrub_json_masks_a_run_however_json_spells_it(
    case: tuple[str, str, int], how: int
) -> None:
    """The raw-body look of ``scrub_json`` finds a run JSON-escaped, and masking the decoded
    strings leaves valid JSON without it."""
    secret, part, k = case
    escaped = "".join(f"\\u{ord(c):04x}" for c in _cased(part, how))
    raw = ('{"message": "bad key ' + escaped + '", "status": "FAILED"}').encode()
    body, data = Secrets([secret]).scrub_json(raw)
    assert data is not None and data["status"] == "FAILED"
    assert not _has_run(data["message"], secret, k)
    assert json.loads(body) == data


def test_a_run_never_rewrites_the_api_s_words() -> None:
    """A secret that holds a status or a field name: partial runs never mask them in a body
    (masking never changes what ``report`` judges again), the secret itself is masked."""
    value = "zzPROGRESS_DEGRADED-checkResultId"
    redactor = Secrets([], [value])
    body = {"status": "PROGRESS_DEGRADED", "checkResultId": "r-1", "said": value.upper()}
    clean = redactor.scrub(body)
    assert clean["status"] == "PROGRESS_DEGRADED" and "checkResultId" in clean
    assert clean["said"] == MASK


def test_short_values_keep_their_rule() -> None:
    """A value of 4-7 characters is masked only whole, as a token; shorter ones never: no
    partial rule below ``SECRET_LENGTH``."""
    redactor = Secrets([], ["hunter2", "abc"])
    assert redactor("xhunter2y hunte abc HUNTER2") == "xhunter2y hunte abc HUNTER2"
    assert redactor("pw hunter2.") == f"pw {MASK}."


def test_a_checkly_key_echoed_the_ways_a_hostile_server_did() -> None:
    key = "cu_" + string.hexdigits[:16].lower() + "0123456789abcdef"
    b32 = base64.b32encode(key.encode()).decode()
    for echoed in (
        key[:-3],
        key[4:],
        key.upper(),
        key.swapcase(),
        b32,
        key[:17] + "Z" + key[17:],
        urllib.parse.quote(key[2:], safe="").replace("0", "%30"),
        json.dumps(key.upper()).replace("A", "\\u0041"),
        key[:20] + "\r\n\t" + key[20:-1],
    ):
        masked = Secrets([key])(f"401: we got {echoed}!")
        assert masked.startswith("401: we got ") and MASK in masked, masked
        assert not _has_run(_unescaped(re.sub(r"\s", "", masked)), key, threshold(key)), masked


def test_a_stretch_too_long_to_scan_is_masked_whole() -> None:
    """A 10 MB hex ``commitId`` cost a second a MB to scan, after the deadline; a stretch of a
    secret's alphabet longer than ``MAX_STRETCH`` is masked whole instead (a blob, never a word
    a reader needs), so a key hidden in it never shows, and shorter text keeps its rule."""
    from checkly_gate.redact import MAX_STRETCH

    key = "cu_0123456789abcdef0123456789abcdef"
    secrets = Secrets([key])
    blob = "4f2a9c1e" * (MAX_STRETCH // 8) + key[10:30] + "9e" * 100
    masked = secrets(f"commit: {blob}; ok")
    assert masked.startswith("commit: ") and masked.endswith("; ok"), masked[:80]
    assert key[10:30] not in masked and "4f2a9c1e4f2a" not in masked
    short = "4f2a9c1e" * 8
    assert secrets(f"commit: {short}; ok") == f"commit: {short}; ok"

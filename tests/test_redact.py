"""Secrets are masked in every form a writer can produce, and in decoded data before rendering."""

from __future__ import annotations

import html
import itertools
import json
import re
import urllib.parse

from hypothesis import given
from hypothesis import strategies as st

from checkly_gate.redact import MASK, Redactor, everywhere

# What ``check_api_key`` lets through: printable ASCII without blanks.
keys = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=8, max_size=40)
# --env values may be any text.
values = st.text(st.characters(exclude_categories=("Cs",)), min_size=4, max_size=20)


def forms(secret: str) -> list[str]:
    return [
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        "".join(f"\\u{ord(c):04x}" for c in secret if ord(c) < 0x10000),
        re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", secret),  # markdown
        html.escape(secret),
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret),
    ]


@given(keys, st.sampled_from(range(9)), st.text(max_size=20), st.text(max_size=20))
def test_every_form_of_a_key_is_masked(key: str, which: int, before: str, after: str) -> None:
    form = forms(key)[which]
    if not form or (which == 4 and len(form) != 6 * len(key)):
        return
    masked = Redactor([key])(before + form + after)
    assert form not in masked
    assert MASK in masked


@given(values, st.sampled_from(range(9)))
def test_every_form_of_any_secret_is_masked(secret: str, which: int) -> None:
    form = forms(secret)[which]
    if which == 4 and any(ord(c) >= 0x10000 for c in secret):
        return
    assert form not in Redactor([secret])(f"<{form}>")


@given(keys)
def test_scrub_json_masks_decoded_strings_and_keeps_json(key: str) -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in key)
    raw = '{"name": "check ' + escaped + '", "n": [1, {"k": "x"}], "ok": "' + "a" * 5 + '"}'
    body, data = Redactor([key]).scrub_json(raw.encode())
    assert data is not None and data["name"] == f"check {MASK}"
    assert json.loads(body) == data  # still JSON, whatever the key looks like


def test_nothing_to_mask_costs_no_copy() -> None:
    raw = b'{"name": "plain"}'
    assert Redactor(["cu_secret_1"]).scrub_json(raw) == (raw, None)
    escaped = b'{"name": "a \\"quoted\\" \\u0063u_secret_2 name"}'  # escapes, no secret
    assert Redactor(["cu_secret_1"]).scrub_json(escaped) == (escaped, None)


_SHORT = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
_SHORT.update({"\r": "\\r", "\t": "\\t"})


def spell(text: str, ways: list[int]) -> str:
    """``text`` inside a JSON string, each character written one of the ways JSON allows (as
    itself where it may be, ``\\uXXXX`` or a surrogate pair, a two-character escape)."""
    out = []
    for char, way in zip(text, itertools.cycle(ways)):
        code = ord(char)
        if way == 2 and char in _SHORT:
            out.append(_SHORT[char])
        elif way == 1 or char in _SHORT or code < 0x20:
            if code < 0x10000:
                out.append(f"\\u{code:04x}" if way != 3 else f"\\u{code:04X}")
            else:
                high, low = divmod(code - 0x10000, 0x400)
                out.append(f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04X}")
        else:
            out.append(char)
    return "".join(out)


@given(
    st.one_of(keys, values, st.sampled_from(['a"b\\c/d', "x\ny\tz", "k\U0001f600ey!"])),
    st.text(max_size=10),
    st.text(max_size=10),
    st.lists(st.integers(0, 3), min_size=1, max_size=5),
)
def test_scrub_json_finds_a_secret_however_json_spells_it(
    secret: str, before: str, after: str, ways: list[int]
) -> None:
    """The cheap look at the raw bytes (no secret: no decoding) never misses one that decoding
    would find, whichever escapes the JSON text uses."""
    text = before + secret + after
    raw = ('{"n": 1, "results": [{"name": "' + spell(text, ways) + '"}]}').encode()
    assert json.loads(raw)["results"][0]["name"] == text  # the spelling is JSON for the text
    body, data = Redactor([secret]).scrub_json(raw)
    assert data is not None, raw
    assert data["results"][0]["name"] == Redactor([secret])(text)
    assert json.loads(body) == data


def test_every_redactor_registers_its_secrets_process_wide() -> None:
    Redactor(["cu_registered_everywhere"])
    assert everywhere()("x cu\\_registered\\_everywhere y") == f"x {MASK} y"


@given(
    st.one_of(keys, values),
    st.sampled_from(range(9)),
    st.text(max_size=12),
    st.text(max_size=12),
    st.booleans(),
)
def test_finding_a_secret_in_the_bytes_is_masking_the_text(
    secret: str, which: int, before: str, after: str, present: bool
) -> None:
    """``finds`` (the look at a raw body's bytes that spares decoding it) says yes exactly when
    masking the decoded text would change it, for every form of any secret, non-ASCII included."""
    redactor = Redactor([secret])
    text = before + (forms(secret)[which] if present else "") + after
    assert redactor.finds(text.encode("utf-8")) == (redactor(text) != text)
    assert redactor.finds(memoryview(text.encode("utf-8"))) == (redactor(text) != text)

"""Secrets are masked in every form a writer can produce, and in decoded data before rendering."""

from __future__ import annotations

import html
import itertools
import json
import re
import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkly_gate.redact import MASK, Secrets

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


@settings(deadline=None)  # a busy 2-core machine: timing is not the property
@given(keys, st.sampled_from(range(9)), st.text(max_size=20), st.text(max_size=20))
def test_every_form_of_a_key_is_masked(key: str, which: int, before: str, after: str) -> None:
    form = forms(key)[which]
    if not form or (which == 4 and len(form) != 6 * len(key)):
        return
    masked = Secrets([key])(before + form + after)
    assert form not in masked
    assert MASK in masked


@settings(deadline=None)  # a busy 2-core machine: timing is not the property
@given(values, st.sampled_from(range(9)))
def test_every_form_of_any_secret_is_masked(secret: str, which: int) -> None:
    form = forms(secret)[which]
    if which == 4 and any(ord(c) >= 0x10000 for c in secret):
        return
    assert form not in Secrets([secret])(f"<{form}>")


@settings(deadline=None)  # a busy 2-core machine: timing is not the property
@given(keys)
def test_scrub_json_masks_decoded_strings_and_keeps_json(key: str) -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in key)
    raw = '{"name": "check ' + escaped + '", "n": [1, {"k": "x"}], "ok": "' + "a" * 5 + '"}'
    body, data = Secrets([key]).scrub_json(raw.encode())
    assert data is not None and data["name"] == f"check {MASK}"
    assert json.loads(body) == data  # still JSON, whatever the key looks like


def test_nothing_to_mask_costs_no_copy() -> None:
    raw = b'{"name": "plain"}'
    assert Secrets(["cu_secret_1"]).scrub_json(raw) == (raw, None)
    # Escapes, and less of the secret than ``threshold`` (8): "cu_secr" is 7 characters of it.
    escaped = b'{"name": "a \\"quoted\\" \\u0063u_secrXt_2 name"}'
    assert Secrets(["cu_secret_1"]).scrub_json(escaped) == (escaped, None)


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


@settings(deadline=None)  # a busy 2-core machine: timing is not the property
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
    body, data = Secrets([secret]).scrub_json(raw)
    assert data is not None, raw
    assert data["results"][0]["name"] == Secrets([secret])(text)
    assert json.loads(body) == data


def test_secrets_belong_to_the_command_that_built_them() -> None:
    """No process-wide registry: another command's redactor knows none of these secrets; what a
    command learns later (``add``: a proxy's credentials, the config file's env values) is
    masked from then on, in every form."""
    first = Secrets(["cu_first_command_key"])
    second = Secrets(["cu_second_command"])
    assert second("cu_first_command_key") == "cu_first_command_key"
    second.add(["cu_learned_later_1"], ["hunter2-later-value"])
    assert second("x cu\\_learned\\_later\\_1 y") == f"x {MASK} y"
    assert second("env hunter2-later-value") == f"env {MASK}"
    assert second("cu_second_command") == MASK
    assert first("x cu\\_first\\_command\\_key y") == f"x {MASK} y"


@settings(deadline=None)  # a busy 2-core machine: timing is not the property
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
    redactor = Secrets([secret])
    text = before + (forms(secret)[which] if present else "") + after
    assert redactor.finds(text.encode("utf-8")) == (redactor(text) != text)
    assert redactor.finds(memoryview(text.encode("utf-8"))) == (redactor(text) != text)


_BREAKS = ["\n", "\r\n", " ", "\t", "\u2028", "\u200b", "\\n", "%0A", "&#10;"]


@settings(deadline=None)  # a busy 2-core machine: timing is not the property
@given(
    keys,
    st.lists(st.tuples(st.integers(1, 39), st.sampled_from(_BREAKS)), min_size=1, max_size=3),
)
def test_a_key_split_over_lines_is_masked(key: str, cuts: list[tuple[int, str]]) -> None:
    # A server that echoes the key wrapped over lines (an error text, a JSON-escaped "\n"):
    # every reader rejoins it, so it is the key. (Not by an escape whose "\\", "%" or "&" the
    # key itself holds: that pattern would be ambiguous; Checkly's keys hold none of them.)
    cuts = [(at, sep) for at, sep in cuts if sep[0] not in "\\%&" or sep[0] not in key]
    split = key
    for at, sep in sorted(cuts, reverse=True):
        if at < len(split):
            split = split[:at] + sep + split[at:]
    masked = Secrets([key])(f"boom {split} end")
    assert MASK in masked
    assert key not in re.sub(r"\s|\u200b|\\n|%0A|&#10;", "", masked)


@settings(deadline=None)  # a busy 2-core machine: timing is not the property
@given(keys.filter(lambda k: not k.startswith("x")), st.integers(0, 320))
def test_a_key_cut_by_a_length_cap_leaves_no_prefix_behind(key: str, pad: int) -> None:
    # An error body (or any text capped by one_line) whose echoed key straddled the cap kept up
    # to all but one character of the key: cut first, it was no longer recognised.
    import httpx

    from checkly_gate.api import error_message
    from checkly_gate.text import one_line

    written = Secrets([key])  # what every write point applies
    text = "x" * pad + key
    for said in (error_message(httpx.Response(500, text=text)), one_line(text, 200)):
        assert key[:6] not in written(said)


@pytest.mark.parametrize(
    "secret",
    ["0" * 28, "%0a%0a%0a%0a%0a%0a", "&#10;&#10;&&&&", "\\n\\n\\n\\n\\nxx", "a b c d e f g h"],
)
def test_no_secret_makes_masking_a_hostile_body_slow(secret: str) -> None:
    """The split patterns never let a separator also be the secret's next character: a body
    built to make an ambiguous pattern backtrack (runs of what the secret is made of, in every
    escape) is still masked in linear time."""
    import time

    redactor = Secrets([secret])
    unit = "".join(dict.fromkeys(secret))
    text = (
        unit * 2000 + "\\u0030" * 2000 + "%0a" * 2000 + "&#10;" * 2000 + "\\n" * 2000 + " " * 2000
    )
    body = json.dumps({"a": text}).encode()
    started = time.process_time()
    redactor(text), redactor.finds(body), redactor.scrub_json(body)
    # Not a benchmark: linear work takes well under a second, exponential backtracking hours.
    assert time.process_time() - started < 10.0

"""The comment a gate keeps on a pull / merge request: its hidden marker and its size.

A comment starts with ``<!-- checkly-gate:KEY -->`` (an HTML comment: invisible in GitHub's
and GitLab's markdown); a re-run finds the comment whose body starts with its marker and edits
it, so one gate keeps one comment and two gates (two keys) keep two.
"""

from __future__ import annotations

import re

from checkly_gate import redact
from checkly_gate.reports import GateRun
from checkly_gate.text import printable

MARKER_PREFIX = "<!-- checkly-gate:"
KEY_LIMIT = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._:/@+ -]+")
CUT_NOTE = (
    "\n\n---\n_The summary was cut to fit the {platform} comment limit ({limit:,} characters); "
    "the job's step summary and reports have all of it._\n"
)


def key_text(key: str | None) -> str:
    """A key fit for the marker: letters, digits and ``._:/@+ -``; no ``--`` or ``>`` (they would
    end the HTML comment); at most ``KEY_LIMIT`` characters; "default" when empty."""
    text = _UNSAFE.sub("_", key or "").strip()
    while "--" in text:
        text = text.replace("--", "-")
    return text[:KEY_LIMIT].strip() or "default"


def default_key(run: GateRun) -> str:
    """``--comment-key``'s default: the session's name (the first session's), else its id."""
    for sv in run.verdict.sessions:
        if sv.session is not None:
            return sv.session.display_name
        return sv.session_id
    return "default"


def marker(key: str | None) -> str:
    return f"{MARKER_PREFIX}{key_text(key)} -->"


def is_ours(body: object, mark: str) -> bool:
    """Whether a comment ``body`` (from the API: untrusted) is the one this marker keeps."""
    return isinstance(body, str) and body.lstrip().startswith(mark)


def body(mark: str, summary: str, limit: int, platform: str, secrets: redact.Secrets) -> str:
    """The comment: the marker, then ``summary`` (secrets masked), cut with a note so the whole
    stays within ``limit`` characters."""
    summary = printable(secrets(summary))  # no lone surrogate: UTF-8 must encode it
    text = f"{mark}\n{summary}"
    if len(text) <= limit:
        return text
    note = CUT_NOTE.format(platform=platform, limit=limit)
    keep = max(0, limit - len(mark) - 1 - len(note))
    cut = summary[:keep]
    if "\n" in cut[-2000:]:  # end at a line, so no table row or link is half there
        cut = cut[: cut.rfind("\n")]
    return f"{mark}\n{cut}{note}"

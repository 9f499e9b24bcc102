"""Pure: when two commit SHAs name the same commit (the one rule, shared by ``wait --commit``'s
discovery in ``commands/commit.py`` and the deploy check in ``deploy.py``).

Full or abbreviated SHAs, case-insensitive, blanks around ignored: the shorter (at least
``MIN_SHA`` = 7 hex digits) starts the longer. Source of the 7: git's own default abbreviation.
"""

from __future__ import annotations

from typing import Any

MIN_SHA = 7


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def commit_matches(found: Any, wanted: str) -> bool:
    """True when ``found`` (untrusted, any JSON value) and ``wanted`` name the same commit:
    the shorter (at least ``MIN_SHA`` digits) starts the longer, case-insensitive."""
    have = _text(found).lower()
    wanted = wanted.strip().lower()
    short, long_ = sorted((have, wanted), key=len)
    return len(short) >= MIN_SHA and long_.startswith(short)

"""Quarantine with an owner and an expiry (issue 21, item 3; pure core).

The ``quarantine:`` section of ``checkly-gate.yml`` lists checks whose *definite* failures do
not fail the gate for a while::

    quarantine:
      - check: Checkout flow          # a check name or check id
        owner: "@payments"
        reason: flaky since the CDN move (PAY-123)
        expires: 2026-12-31

Rules (source: issue 21):

- every entry needs ``check``, ``owner``, ``reason`` and ``expires`` (``YYYY-MM-DD``); an entry
  without one, with an unknown key, or expiring more than ``MAX_DAYS`` (90) days after today is
  a ``QuarantineError``: one line naming the file and the line (exit 2 in the caller);
- an entry applies on days before ``expires``; on and after it, it is *expired*: the failure
  fails the gate again and the reports say the entry expired;
- only a definite failure of that check is quarantined: a run with a FINAL row whose category is
  failed or error, or a flaky/degraded run the ``--fail-on-*`` policy fails. Never an unknown
  value, an unfinished run, a cancelled session, or a session-level failure (``would_pass``
  holds only when every run that fails the gate is quarantined and the session itself ended
  PASSED or FAILED);
- an active entry that matched no failing run is a warning (``Applied.warnings``).

Today's date is always passed in (``today``): nothing here reads a clock.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from checkly_gate.text import one_line
from checkly_gate.verdict import Category, Outcome, Run, SessionVerdict

#: The longest an entry may run, in days after today (issue 21).
MAX_DAYS = 90
KEYS = ("check", "owner", "reason", "expires")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NULL = "tag:yaml.org,2002:null"
_TEXT_TAGS = ("tag:yaml.org,2002:str", "tag:yaml.org,2002:int")
#: Categories of a run with a FINAL row that may be quarantined (flaky/degraded: only when the
#: policy fails them, which ``SessionVerdict.failing`` already says).
DEFINITE = frozenset({Category.FAILED, Category.ERROR, Category.FLAKY, Category.DEGRADED})
#: Final session statuses a quarantine may turn green (never CANCELLED, RUNNING or unknown).
_SETTLED = ("PASSED", "FAILED")


class QuarantineError(ValueError):
    """An invalid ``quarantine:`` section; the message is one line naming file and line."""


@dataclass(frozen=True)
class Entry:
    """One quarantine entry as read from the config file (``line``: 1-based, of its ``-``)."""

    check: str
    owner: str
    reason: str
    expires: dt.date
    line: int = 0

    def active(self, today: dt.date) -> bool:
        """True on days before ``expires``; on and after it the entry no longer applies."""
        return today < self.expires

    def matches(self, run: Run) -> bool:
        """The run is of this entry's check: its ``checkId`` equals ``check`` (case folded, a
        UUID's case does not matter) or its check name does (blanks folded, case folded)."""
        wanted = _fold(self.check)
        row = run.latest
        return bool(wanted) and (
            _fold(row.check_id or "") == wanted or _fold(row.name or "") == wanted
        )

    def as_dict(self) -> dict[str, Any]:
        """The entry as the ``--json`` snapshot stores it (``report`` applies it again)."""
        return {
            "check": self.check,
            "owner": self.owner,
            "reason": self.reason,
            "expires": self.expires.isoformat(),
            "line": self.line,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Entry:
        """``as_dict``'s shape read back (untrusted: a snapshot); ``QuarantineError``."""
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) and data[k].strip() for k in KEYS
        ):
            raise QuarantineError("context.quarantine: an entry without check, owner, reason")
        line = data.get("line")
        return cls(
            data["check"],
            data["owner"],
            data["reason"],
            _date(data["expires"], "context.quarantine: 'expires'"),
            line if isinstance(line, int) and not isinstance(line, bool) else 0,
        )

    def terms(self) -> str:
        """``owner @payments, expires 2026-12-31: flaky since ...``: clean, one line (what
        every report says beside a quarantined run, ``verdict.SetAside.text``)."""
        return (
            f"owner {one_line(self.owner, 60)}, expires {self.expires.isoformat()}: "
            f"{one_line(self.reason, 120)}"
        )

    def describe(self) -> str:
        """``'Checkout flow' (owner @payments, expires 2026-12-31: flaky since ...)``."""
        return f"{one_line(self.check, 100)!r} ({self.terms()})"


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


# --------------------------------------------------------------------------- parsing


def parse_text(text: str, path: str, today: dt.date) -> tuple[Entry, ...]:
    """The entries of the ``quarantine:`` key of a config file's text (``()`` without one).

    ``text`` has already been loaded by ``config.load_yaml`` (no aliases, size capped); it is
    composed again here to read each entry's line. Raises ``QuarantineError``."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError) as exc:
        raise QuarantineError(f"{path}: invalid YAML: {one_line(str(exc), 200)}") from None
    if not isinstance(root, yaml.MappingNode):
        return ()
    for key_node, value_node in root.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value.strip().lower() == "quarantine":
            return parse_node(value_node, path, today)
    return ()


def parse_node(node: Any, path: str, today: dt.date) -> tuple[Entry, ...]:
    """The entries of a composed ``quarantine:`` value (a ``yaml.SequenceNode``; null: none)."""
    import yaml

    where = f"{path}: line {node.start_mark.line + 1}"
    if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
        return ()
    if not isinstance(node, yaml.SequenceNode):
        raise QuarantineError(f"{where}: 'quarantine' must be a list of entries")
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for item in node.value:
        entry = _entry(item, path, today)
        first = seen.get(_fold(entry.check))
        if first is not None:
            raise QuarantineError(
                f"{path}: line {entry.line}: check {one_line(entry.check, 100)!r} is already "
                f"quarantined on line {first}; keep one entry per check"
            )
        seen[_fold(entry.check)] = entry.line
        entries.append(entry)
    return tuple(entries)


def _entry(node: Any, path: str, today: dt.date) -> Entry:
    import yaml

    line = node.start_mark.line + 1
    where = f"{path}: line {line}: quarantine entry"
    if not isinstance(node, yaml.MappingNode):
        raise QuarantineError(f"{where} must be a mapping with {', '.join(KEYS)}")
    values: dict[str, str] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str) or key.strip().lower() not in KEYS:
            shown = one_line(repr(key), 40)
            raise QuarantineError(
                f"{path}: line {key_node.start_mark.line + 1}: unknown key {shown} in a "
                f"quarantine entry (known: {', '.join(KEYS)})"
            )
        key = key.strip().lower()
        at = f"{path}: line {value_node.start_mark.line + 1}: quarantine '{key}'"
        if not isinstance(value_node, yaml.ScalarNode):
            raise QuarantineError(f"{at} must be text")
        if value_node.tag == _NULL:
            continue  # reported as missing below
        if key != "expires" and value_node.tag not in _TEXT_TAGS:
            raise QuarantineError(f"{at} must be text")
        value = value_node.value.strip()
        if value != one_line(value, 300):
            raise QuarantineError(f"{at} must be one line of printable text (300 at most)")
        if value:
            values[key] = value
    name = f" for {one_line(values['check'], 100)!r}" if "check" in values else ""
    absent = [k for k in KEYS if k not in values]
    if absent:
        raise QuarantineError(f"{where}{name} has no {', '.join(absent)}")
    expires = _date(values["expires"], f"{path}: line {line}: quarantine 'expires'{name}")
    if expires > today + dt.timedelta(days=MAX_DAYS):
        raise QuarantineError(
            f"{where}{name} expires {expires.isoformat()}, more than {MAX_DAYS} days after "
            f"today ({today.isoformat()}); quarantine for {MAX_DAYS} days at most"
        )
    return Entry(values["check"], values["owner"], values["reason"], expires, line)


def _date(value: str, where: str) -> dt.date:
    if _DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise QuarantineError(f"{where} must be a date YYYY-MM-DD, got {one_line(value, 40)!r}")


# --------------------------------------------------------------------------- applying


@dataclass(frozen=True)
class Match:
    """A failing run of ``session_id`` and the entry that names its check."""

    session_id: str
    run: Run
    entry: Entry


@dataclass(frozen=True)
class Applied:
    """What the quarantine did to one verdict.

    ``quarantined``: definite check failures an active entry covers (they do not fail the gate);
    ``expired``: definite failures whose entry has expired (they fail; reports say it expired);
    ``unmatched``: active entries that matched no failing run (a warning each);
    ``refused``: failing runs an entry names that may not be quarantined (unknown, unfinished,
    in a cancelled or unsettled session), with why, for the reports."""

    quarantined: tuple[Match, ...] = ()
    expired: tuple[Match, ...] = ()
    unmatched: tuple[Entry, ...] = ()
    refused: tuple[tuple[Match, str], ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """One line per unmatched entry and per expired entry that matched a failure."""
        lines = [
            f"quarantine entry on line {e.line} for {one_line(e.check, 100)!r} matched no "
            "failing check run"
            for e in self.unmatched
        ]
        lines += [
            f"quarantine for {one_line(m.entry.check, 100)!r} expired on "
            f"{m.entry.expires.isoformat()} (owner {one_line(m.entry.owner, 60)}): its failure "
            "fails the gate again"
            for m in self.expired
        ]
        return tuple(lines)

    @property
    def refusals(self) -> tuple[str, ...]:
        """One line per failing run an entry names that may not be quarantined, with why."""
        return tuple(
            f"not quarantined: {one_line(m.run.name, 100)} ({why}): {m.entry.describe()}"
            for m, why in self.refused
        )

    def is_quarantined(self, session_id: str, run: Run) -> bool:
        """Whether that run of that session is covered by an active entry."""
        return any(m.session_id == session_id and m.run is run for m in self.quarantined)


def why_not(sv: SessionVerdict, run: Run) -> str:
    """ "" when ``run`` (failing the gate in ``sv``) is a definite check failure that may be
    set aside (quarantined, or a known failure under ``--fail-on new``); else why not: the
    session was cancelled or did not end PASSED or FAILED, or the run is not definite."""
    status = sv.session.status if sv.session is not None else None
    if status == "CANCELLED":
        return "the session was cancelled"
    if status not in _SETTLED:
        return "the session did not end"
    if run.final is None or run.category not in DEFINITE:
        return f"not a definite failure ({run.category.value})"
    return ""


def apply(entries: Iterable[Entry], sessions: Sequence[SessionVerdict], today: dt.date) -> Applied:
    """Match entries against the runs that failed the gate (``SessionVerdict.failing``).

    The first entry naming a run's check decides it. Pure: ``today`` is injected."""
    entries = tuple(entries)
    quarantined: list[Match] = []
    expired: list[Match] = []
    refused: list[tuple[Match, str]] = []
    used: set[int] = set()
    for sv in sessions:
        for run in sv.failing:
            index = next((i for i, e in enumerate(entries) if e.matches(run)), None)
            if index is None:
                continue
            entry = entries[index]
            match = Match(sv.session_id, run, entry)
            if not entry.active(today):
                expired.append(match)
                used.add(index)
                continue
            why = why_not(sv, run)
            used.add(index)
            if why:
                refused.append((match, why))
            else:
                quarantined.append(match)
    unmatched = tuple(e for i, e in enumerate(entries) if i not in used and e.active(today))
    return Applied(tuple(quarantined), tuple(expired), unmatched, tuple(refused))


def would_pass(sv: SessionVerdict, applied: Applied) -> bool:
    """Whether ``sv`` passes once its quarantined runs are set aside (``passes_setting_aside``
    with the quarantined runs of this session)."""
    held = {m.run.latest.result_id for m in applied.quarantined if m.session_id == sv.session_id}
    return passes_setting_aside(sv, held)


def passes_setting_aside(sv: SessionVerdict, result_ids: set[str]) -> bool:
    """Whether ``sv`` passes once the runs whose deciding row (``Run.latest.result_id``) is in
    ``result_ids`` are set aside: its outcome was FAILED or PASSED, it ended PASSED or FAILED,
    it has runs, at least one is set aside, and every other run passes (``not sv.fails(run)``,
    finished, not unknown or skipped). The one rule for quarantine and ``--fail-on new``: never
    for a cancelled or unsettled session, an unknown or unfinished run, a session-level failure
    (a FAILED session none of whose runs is set aside)."""
    if sv.outcome not in (Outcome.FAILED, Outcome.PASSED):  # cancelled, timed out, trouble...
        return False
    if sv.session is None or sv.session.status not in _SETTLED or not sv.runs:
        return False
    held = False
    for run in sv.runs:
        if run.latest.result_id in result_ids:
            if run.final is None or run.category not in DEFINITE:
                return False  # only definite failures may be set aside
            held = True
            continue
        if run.unfinished or run.category in (Category.UNKNOWN, Category.SKIPPED):
            return False
        if sv.fails(run):
            return False
    return held

"""The one table of what the gate says per outcome and per check-run category.

Every renderer (log, markdown, JUnit, dotenv, snapshot) and every CI integration reads its
words, glyphs, exit codes and JUnit elements from here, never from a dict or an ``if`` of its
own, so a new outcome or category cannot be forgotten by one of them:

- ``Outcome`` members *are* their rows: adding an outcome is one line in the class below
  (``NO_SESSION = (8, "no-session", ...)``), and every fact must be given.
- ``Category`` is what one check run amounts to and ``CATEGORY`` holds its ``CategoryFacts``,
  keyed by the member: both live here, and ``tests/test_outcomes.py`` refuses a category
  without a row.
- ``Mark`` is what the context (issue 21, ``contextual``) made of a failing run that does not
  fail the gate: *quarantined* (an active ``quarantine:`` entry covers it) or a *known failure*
  (``--fail-on new``: seen before, failing on main too). ``MARK`` holds its ``CategoryFacts``;
  a set-aside run is drawn by its mark's row instead of its category's
  (``verdict.SessionVerdict.row``), in every report.

Facts about consumers, which decide the JUnit elements below:

- GitLab (``lib/gitlab/ci/parsers/test/junit.rb``, ``lib/gitlab/ci/reports/test_suite.rb``): a
  testcase is failed if it has ``<failure>``, else error if ``<error>``, else skipped if
  ``<skipped>``, else success; a suite (and the merge request widget) is red when any testcase is
  failed or error. Retry elements (``rerunFailure``, ``flakyFailure``) are ignored.
- dorny/test-reporter (``src/parsers/java-junit/java-junit-parser.ts``): ``<failure>`` or
  ``<error>`` makes a testcase failed, ``<skipped>`` skipped; any failed testcase makes the check
  run conclude ``failure``.

So: a non-zero exit needs at least one ``<failure>``/``<error>`` in the file, and an exit of 0
needs none. ``skipped`` is neutral everywhere. A set-aside run (``Mark``) therefore is
``<skipped>``, never red, whatever the gate's verdict (pytest writes an xfail the same way:
``<skipped type="pytest.xfail" message=...>``); its failure text stays in the testcase's
``system-out``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

#: JUnit elements that make a consumer show a testcase red.
RED_ELEMENTS = ("failure", "error")


class Outcome(enum.Enum):
    """Outcome of one session or of the whole gate. ``value`` is the exit code.

    Each member carries its facts (see the column names in ``__new__``). ``label`` is the one
    name of the outcome everywhere: log, summary heading, GitHub ``status`` output, dotenv
    ``CHECKLY_GATE_STATUS``, JUnit ``gate.outcome`` property and the JSON snapshot.
    """

    # fmt: off
    # name     = (exit, label,        title,                emoji, ascii, junit,     partial,
    #             what a session annotation says after "Test session X ...",
    #             commit status (GitHub's state; ``--status``))
    PASSED      = (0,   "passed",      "Passed",             "✅", "OK", None,      False, None,
                   "success")
    FAILED      = (1,   "failed",      "Failed",             "❌", "XX", "failure", False, "failed",
                   "failure")
    USAGE       = (2,   "error",       "Usage error",        "⛔", "!!", "error",   False, None,
                   "error")
    CANCELLED   = (3,   "cancelled",   "Cancelled",          "🚫", "--", "error",   False,
                   "was cancelled", "failure")
    TIMED_OUT   = (4,   "timed-out",   "Timed out",          "⏱️", "TO", "failure", True,
                   "timed out", "error")
    REFUSED     = (5,   "refused",     "Refused by the API", "🔒", "!!", "error",   True,
                   "was refused by the API", "error")
    UNAVAILABLE = (6,   "unavailable", "API unavailable",    "🔌", "!!", "error",   True,
                   "could not be read", "error")
    NO_MATCH    = (7,   "no-match",    "No check matched",   "🔍", "--", "error",   False, None,
                   "failure")
    NO_SESSION  = (8,   "no-session",  "No session found",   "🔎", "--", "error",   False, None,
                   "failure")
    INTERRUPTED = (130, "interrupted", "Interrupted",        "🛑", "!!", "error",   True, None,
                   "error")
    # fmt: on

    # Set by __new__ (declared for type checkers).
    label: str
    title: str
    emoji: str
    ascii: str
    junit: str | None
    partial: bool
    trouble: str | None
    commit_status: str

    def __new__(
        cls,
        code: int,
        label: str,
        title: str,
        emoji: str,
        ascii: str,
        junit: str | None,
        partial: bool,
        trouble: str | None,
        commit_status: str,
    ) -> Outcome:
        member = object.__new__(cls)
        member._value_ = code
        member.label = label  # the one word for it in every output, so no two reports disagree
        member.title = title  # what a heading says
        member.emoji = emoji  # markdown
        member.ascii = ascii  # a plain-ASCII glyph for streams that cannot encode the emoji
        # The element of the gate testcase that carries this outcome's reason when no check
        # run does: "failure" or "error" (red in every consumer), None for a pass.
        member.junit = junit
        member.partial = partial  # the session may not be fully known: reports say what is
        member.trouble = trouble  # GitHub session annotation; None: no annotation of its own
        # The commit status a gate with this outcome posts (``--status``, publish/): success,
        # failure (the session said no) or error (the gate could not tell).
        member.commit_status = commit_status
        return member

    @property
    def code(self) -> int:
        """The exit code this outcome exits with (policy may turn ``no-match`` into 0)."""
        return int(self.value)

    @property
    def green(self) -> bool:
        """Exits 0 by default: a consumer must show it as a pass."""
        return self.value == 0

    @classmethod
    def from_label(cls, label: str) -> Outcome | None:
        """The outcome named ``label``; ``None`` for an unknown word (``error`` is usage)."""
        return next((o for o in cls if o.label == label), None)


class Category(enum.Enum):
    """What one check run amounts to (``verdict.judge_run`` decides it). Exclusive; declared
    from worst to best, the order reports list runs in."""

    ERROR = "error"  # hasErrors: a Checkly-side error, still not a pass
    FAILED = "failed"
    FLAKY = "flaky"  # FINAL passed after failed attempts
    DEGRADED = "degraded"
    SKIPPED = "skipped"  # cancelled or aborted
    PENDING = "pending"  # not finished: no FINAL row, a PENDING row, or a FINAL row still RUNNING
    UNKNOWN = "unknown"  # a value the gate does not know and no known fact decides; never a pass
    PASSED = "passed"


#: Categories of a run that passed (flaky and degraded only as far as the ``Policy`` allows).
PASSING = frozenset({Category.PASSED, Category.FLAKY, Category.DEGRADED})
#: Categories whose rows are not expected to change any more (the poller's settle rule).
DECIDED = PASSING | {Category.ERROR, Category.FAILED, Category.SKIPPED}


@dataclass(frozen=True)
class CategoryFacts:
    """What every report says about one check run of a category.

    ``junit`` is the testcase's verdict element (``failure``, ``error``, ``skipped`` or None for a
    pass), named by ``message``, which never starts with the element's ``type`` (dorny shows
    ``type: message``). ``broken`` runs fail the gate and get error annotations, ``warned`` runs
    pass with a warning. ``tier`` orders what a size-bounded summary gives up first (lower first).
    ``raw`` messages also name the result's raw status and type (the value the gate did not know).
    """

    label: str  # markdown cell and log word (upper-cased there)
    emoji: str
    glyph: str  # one-character log symbol
    ascii: str  # the same for streams that cannot encode ``glyph``
    colour: str  # ANSI SGR code for terminals
    junit: str | None
    broken: bool
    warned: bool
    tier: int
    message: str
    raw: bool = False


_F = CategoryFacts
# fmt: off
CATEGORY: dict[Category, CategoryFacts] = {
    #                    label,        emoji, glyph, ascii, colour, junit,  broken, warned, tier,
    #                    message
    Category.ERROR:    _F("error",      "💥", "✗", "x", "31", "error",   True,  False, 4,
                          "the check could not run"),
    Category.FAILED:   _F("failed",     "❌", "✗", "x", "31", "failure", True,  False, 4,
                          "an assertion failed"),
    # A result the gate cannot read is never a pass: green must be proven, and a value the gate
    # does not know proves nothing (it fails with exit 1, not 4 or 6, which pipelines allow).
    Category.UNKNOWN:  _F("unknown",    "❓", "?", "?", "31", "error",   True,  False, 4,
                          "result the gate does not know", raw=True),
    Category.FLAKY:    _F("flaky",      "🔁", "~", "~", "33", None,      False, True,  2,
                          "passed after failed attempts"),
    Category.DEGRADED: _F("degraded",   "⚠️", "!", "!", "33", None,      False, True,  2,
                          "slower than its degraded threshold"),
    Category.SKIPPED:  _F("skipped",    "⏭", "-", "-", "90", "skipped", False, False, 1,
                          "cancelled"),
    Category.PENDING:  _F("unfinished", "⏳", "…", ".", "90", "skipped", False, False, 1,
                          "still running when the gate stopped"),
    Category.PASSED:   _F("passed",     "✅", "✓", "+", "32", None,      False, False, 0,
                          "passed"),
}
# fmt: on


class Mark(enum.Enum):
    """What the context made of a run that failed by its facts but does not fail the gate
    (``contextual``, decided once; ``verdict.SetAside``). Never given to an unknown,
    unfinished or cancelled run, nor in a session that did not end PASSED or FAILED."""

    QUARANTINED = "quarantined"  # a definite check failure an active quarantine entry covers
    KNOWN = "known"  # --fail-on new: its error groups were seen before or fail on main too


# fmt: off
MARK: dict[Mark, CategoryFacts] = {
    #                 label,           emoji, glyph, ascii, colour, junit,  broken, warned, tier,
    #                 message
    Mark.QUARANTINED: _F("quarantined",   "🔕", "◌", "q", "33", "skipped", False, True,  3,
                         "failed, set aside by a quarantine entry"),
    Mark.KNOWN:       _F("known failure", "📌", "◌", "k", "33", "skipped", False, True,  3,
                         "failed, a known failure (--fail-on new)"),
}
# fmt: on


#: What every report says where a check session's failed run has no error text: Checkly's
#: check-session API gives none (no error groups), so the reader is sent to the result page.
NO_TEXT_CHECK_SESSION = "Checkly gives no error text for check sessions; the result page shows it"


def facts(category: Category) -> CategoryFacts:
    """The row of ``category``."""
    return CATEGORY[category]


def mark_facts(mark: Mark) -> CategoryFacts:
    """The row of ``mark``."""
    return MARK[mark]


def gate_element(outcome: Outcome, exit_code: int) -> str:
    """The JUnit element of a gate testcase standing for ``outcome`` under ``exit_code``.

    Red (``failure``/``error``) exactly when the gate exits non-zero; ``skipped`` (neutral,
    with the reason as text) when policy lets the outcome pass, e.g. an allowed no-match.
    """
    if exit_code == 0:
        return "skipped"
    return outcome.junit or "error"


class _Counted(Protocol):
    """What ``count_parts`` reads of ``verdict.Counts`` (no import: verdict imports this)."""

    @property
    def passed(self) -> int: ...

    @property
    def failed(self) -> int: ...

    @property
    def errored(self) -> int: ...

    @property
    def unknown(self) -> int: ...

    @property
    def flaky(self) -> int: ...

    @property
    def degraded(self) -> int: ...

    @property
    def skipped(self) -> int: ...

    @property
    def pending(self) -> int: ...

    @property
    def by_policy(self) -> int: ...

    @property
    def quarantined(self) -> int: ...

    @property
    def known(self) -> int: ...

    @property
    def failing(self) -> int: ...


def count_parts(counts: _Counted) -> list[tuple[CategoryFacts, str]]:
    """The one way every report says the counts: ``(facts, "N word")`` pairs, in order.

    "failed" is ``Counts.failing`` (every run that failed the gate: failed, error, unknown, and
    flaky/degraded runs failed by ``--fail-on-*``; what those were follows in parentheses); then
    the failures set aside (quarantined, known failures: ``MARK``), passed (always shown),
    flaky, degraded, skipped and unfinished, zero parts left out. A flaky or degraded run is
    counted as flaky or degraded whether or not the policy failed it; a set-aside run only
    under its mark.
    """
    parts: list[tuple[CategoryFacts, str]] = []
    if counts.failing:
        inner = [
            f"{n} {word}"
            for n, word in (
                (counts.errored, "error"),
                (counts.unknown, "unknown"),
                (counts.by_policy, "by policy"),
            )
            if n
        ]
        detail = f" ({', '.join(inner)})" if inner else ""
        parts.append((CATEGORY[Category.FAILED], f"{counts.failing} failed{detail}"))
    for n, mark, plural in (
        (counts.quarantined, Mark.QUARANTINED, "quarantined"),
        (counts.known, Mark.KNOWN, "known failures"),
    ):
        if n:
            parts.append((MARK[mark], f"{n} {MARK[mark].label if n == 1 else plural}"))
    parts.append((CATEGORY[Category.PASSED], f"{counts.passed} passed"))
    for n, key in (
        (counts.flaky, Category.FLAKY),
        (counts.degraded, Category.DEGRADED),
        (counts.skipped, Category.SKIPPED),
        (counts.pending, Category.PENDING),
    ):
        if n:
            parts.append((CATEGORY[key], f"{n} {CATEGORY[key].label}"))
    return parts


def tally(counts: _Counted) -> str:
    """``count_parts`` as plain words: ``1 failed (1 by policy), 7 passed, 1 flaky``."""
    return ", ".join(text for _, text in count_parts(counts))

"""Did the session test this deploy? (issue 21, item 1; pure core)

A test session body carries ``metadata.commitId`` and ``metadata.environment`` (source: the
session endpoint, ``FindOneTestSessionResponse.metadata``; untrusted). The gate knows which
commit it is deploying from the CI (``ci.run_commits(env)``: a pull request's head first, then
its merge commit; every one of them counts as this deploy) or from ``--expect-commit SHA``, and
which environment from ``--expect-environment NAME``. This module decides, per session:

- ``match``: the session names this deploy's commit (environment);
- ``mismatch``: it names another one (never green: the finding ``fails``; both are named);
- ``unknown``: ``auto`` and the session names no commit: a note, not a failure;
- ``missing``: an explicit SHA (or environment) is required and the session carries none:
  ``fails``, saying so;
- ``off``: not checked (``--expect-commit off``; ``auto`` where the CI names no commit; no
  ``--expect-environment``).

Short SHAs follow ``sha.commit_matches`` (the rule ``wait --commit`` uses: the shorter, at
least 7 hex digits, starts the longer, case-insensitive). Nothing here reads the clock, the
environment or the network; every text from outside goes through ``text.one_line``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from checkly_gate.models import Metadata
from checkly_gate.sha import MIN_SHA, commit_matches
from checkly_gate.text import one_line

AUTO = "auto"
OFF = "off"
_SHA = re.compile(rf"[0-9a-fA-F]{{{MIN_SHA},64}}")

MATCH = "match"
MISMATCH = "mismatch"
UNKNOWN = "unknown"
MISSING = "missing"
NOT_CHECKED = "off"
#: Statuses that fail the gate (never exit 0, 4 or 6 for that session).
FAILING = frozenset({MISMATCH, MISSING})


class ExpectError(ValueError):
    """A value of ``--expect-commit`` / ``--expect-environment`` that means nothing; the
    message is one line naming the option (exit 2 in the caller)."""


@dataclass(frozen=True)
class ExpectCommit:
    """``--expect-commit``: ``mode`` is ``auto``, ``off`` or ``sha`` (then ``sha`` is set,
    lower case, 7..64 hex digits)."""

    mode: str = AUTO
    sha: str = ""


def is_sha(text: str) -> bool:
    """7 to 64 hex digits."""
    return bool(_SHA.fullmatch(text))


def parse_expect_commit(value: object, where: str = "--expect-commit") -> ExpectCommit:
    """``auto`` | ``off`` | a commit SHA (7 to 64 hex digits), blanks around ignored, case
    folded; anything else is an ``ExpectError`` naming ``where``."""
    text = value.strip() if isinstance(value, str) else ""
    if text.lower() in (AUTO, OFF):
        return ExpectCommit(text.lower())
    if _SHA.fullmatch(text):
        return ExpectCommit("sha", text.lower())
    raise ExpectError(
        f"{where}: expected auto, off or a commit SHA ({MIN_SHA} to 64 hex digits), "
        f"got {one_line(repr(value), 60)}"
    )


def parse_expect_environment(value: str | None, where: str = "--expect-environment") -> str:
    """The environment name to require ("" = not checked); blanks around ignored. A value
    with a line break or control character is refused (it would be judged by what prints)."""
    if value is None:
        return ""
    text = value.strip()
    if text != one_line(text, 200):
        raise ExpectError(f"{where}: expected one line of printable text (at most 200 characters)")
    return text


@dataclass(frozen=True)
class Finding:
    """What one side of "the session tested this deploy" found.

    ``what`` is ``commit`` or ``environment``; ``status`` one of ``match``, ``mismatch``,
    ``unknown``, ``missing``, ``off``; ``found`` the session's value as a clean line ("" when
    absent); ``expected`` the values that count as this deploy; ``message`` one sentence for
    every report ("" for ``off``)."""

    what: str
    status: str
    found: str
    expected: tuple[str, ...]
    message: str

    @property
    def fails(self) -> bool:
        """True when this finding alone keeps the session from being green."""
        return self.status in FAILING


def _value(raw: object) -> str:
    """A metadata value as one clean line; "" for null, absent, blank or not text."""
    return one_line(raw, 100) if isinstance(raw, str) and raw.strip() else ""


def _short(sha: str) -> str:
    return sha[:12] if _SHA.fullmatch(sha) else sha


def check_commit(
    found: object, expect: ExpectCommit, run_commits: Iterable[str], session: str = "the session"
) -> Finding:
    """Judge ``metadata.commitId`` (``found``, untrusted) against ``expect``.

    ``run_commits`` are the CI's commits of this run, head first (``ci.run_commits(env)``'s
    ``sha``s); only ``auto`` reads them. Never ``match`` unless ``commit_matches`` says the two
    name the same commit."""
    have = _value(found)
    if expect.mode == OFF:
        return Finding("commit", NOT_CHECKED, have, (), "")
    if expect.mode == "sha":
        wanted: tuple[str, ...] = (expect.sha,)
        source = "--expect-commit"
    else:
        wanted = tuple(dict.fromkeys(c.strip().lower() for c in run_commits if c and c.strip()))
        source = "the CI's commit" + ("s" if len(wanted) > 1 else "")
    if not wanted:  # auto, and the CI names no commit (a laptop): nothing to compare with,
        # and a note on every such run would be noise; --expect-commit SHA requires one.
        return Finding("commit", NOT_CHECKED, have, (), "")
    names = " or ".join(_short(w) for w in wanted)
    if not have:
        if expect.mode == "sha":
            return Finding(
                "commit",
                MISSING,
                have,
                wanted,
                f"{session} carries no metadata.commitId; --expect-commit {_short(expect.sha)} "
                "requires it to name that commit",
            )
        return Finding(
            "commit",
            UNKNOWN,
            have,
            wanted,
            f"{session} carries no metadata.commitId: cannot tell whether it tested "
            f"this deploy ({names})",
        )
    raw = found if isinstance(found, str) else ""  # judged as received, printed cleaned
    if any(commit_matches(raw, w) for w in wanted):
        return Finding("commit", MATCH, have, wanted, f"{session} tested commit {_short(have)}")
    return Finding(
        "commit",
        MISMATCH,
        have,
        wanted,
        f"{session} tested commit {_short(have)} (metadata.commitId), not this deploy's "
        f"{names} ({source})",
    )


def check_environment(found: object, expected: str, session: str = "the session") -> Finding:
    """Judge ``metadata.environment`` (untrusted) against ``--expect-environment`` (exact text
    after trimming; "" = not checked). A required environment the session does not name is
    ``missing`` (fails), as an explicit SHA is."""
    have = _value(found)
    if not expected:
        return Finding("environment", NOT_CHECKED, have, (), "")
    if not have:
        return Finding(
            "environment",
            MISSING,
            have,
            (expected,),
            f"{session} carries no metadata.environment; --expect-environment requires "
            f"{one_line(expected, 100)!r}",
        )
    if isinstance(found, str) and found.strip() == expected:  # judged as received
        return Finding(
            "environment", MATCH, have, (expected,), f"{session} ran in environment {have!r}"
        )
    return Finding(
        "environment",
        MISMATCH,
        have,
        (expected,),
        f"{session} ran in environment {have!r} (metadata.environment), not "
        f"{one_line(expected, 100)!r} (--expect-environment)",
    )


def check_session(
    metadata: Metadata,
    expect_commit: ExpectCommit,
    run_commits: Sequence[str],
    expect_environment: str = "",
    session: str = "the session",
) -> tuple[Finding, ...]:
    """Both findings for one session (``models.Metadata`` as parsed from its body), commit
    first; ``off`` findings left out. The session is not this deploy when any ``fails``."""
    findings = (
        check_commit(metadata.commit_id, expect_commit, run_commits, session),
        check_environment(metadata.environment, expect_environment, session),
    )
    return tuple(f for f in findings if f.status != NOT_CHECKED)


def failing(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """The findings that keep a session from being green (mismatch, missing)."""
    return tuple(f for f in findings if f.fails)


def notes(findings: Iterable[Finding]) -> tuple[str, ...]:
    """The notes reports print for findings that do not fail (``unknown``): one line each."""
    return tuple(f.message for f in findings if f.status == UNKNOWN)


@dataclass(frozen=True)
class Expectation:
    """What a command expects of the sessions it was given: ``commit`` (``--expect-commit``),
    ``run_commits`` (the CI's commits of this run, head first; read for ``auto``) and
    ``environment`` (``--expect-environment``, "" = not checked). Stored in the ``--json``
    snapshot (``as_dict``) so ``report`` re-applies the same check to the stored bodies."""

    commit: ExpectCommit = ExpectCommit()
    run_commits: tuple[str, ...] = ()
    environment: str = ""

    def check(self, metadata: Metadata, session: str = "the session") -> tuple[Finding, ...]:
        """``check_session`` for one session's ``metadata``."""
        return check_session(metadata, self.commit, self.run_commits, self.environment, session)

    def as_dict(self) -> dict[str, Any]:
        """``{"expectCommit": "auto"|"off"|SHA, "runCommits": [...], "expectEnvironment": ""}``."""
        return {
            "expectCommit": self.commit.sha or self.commit.mode,
            "runCommits": list(self.run_commits),
            "expectEnvironment": self.environment,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Expectation:
        """Read ``as_dict``'s shape back (untrusted: a snapshot file); ``ExpectError`` for
        anything else."""
        if not isinstance(data, dict):
            raise ExpectError("context.deploy: expected a mapping")
        commits = data.get("runCommits")
        if not isinstance(commits, list) or not all(
            isinstance(c, str) and _SHA.fullmatch(c) for c in commits
        ):
            raise ExpectError("context.deploy.runCommits: expected a list of commit SHAs")
        environment = data.get("expectEnvironment", "")
        return cls(
            parse_expect_commit(data.get("expectCommit"), "context.deploy.expectCommit"),
            tuple(c.lower() for c in commits),
            parse_expect_environment(
                environment if isinstance(environment, str) else None,
                "context.deploy.expectEnvironment",
            ),
        )


#: How a command got its sessions, which decides what the deploy check looks at (§1):
#: ``wait ID`` and ``wait --branch`` were given them: the commit and the environment;
GIVEN = "given"
#: ``wait --commit`` found them by commit (discovery matched it): the environment only;
BY_COMMIT = "by-commit"
#: ``run`` started them and sent their metadata itself: nothing.
STARTED = "started"


def narrowed(expectation: Expectation, how: str) -> Expectation | None:
    """What the deploy check asks of sessions a command got ``how`` (``GIVEN``, ``BY_COMMIT``,
    ``STARTED``): ``expectation`` itself, the same without the commit, or ``None`` when nothing
    is left to check (``ValueError`` for another ``how``)."""
    if how == GIVEN:
        return expectation
    if how == BY_COMMIT:
        if not expectation.environment:
            return None
        return Expectation(ExpectCommit(OFF), (), expectation.environment)
    if how == STARTED:
        return None
    raise ValueError(f"how must be {GIVEN}, {BY_COMMIT} or {STARTED}, got {how!r}")

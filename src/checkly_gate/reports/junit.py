"""JUnit XML report: one ``<testsuite>`` per session, one ``<testcase>`` per check run.

Targets the strict Jenkins xUnit schema (``junit-10.xsd``), which GitLab, Jenkins and other test
report readers also accept, and the project's own dialect checker (``tests/junit_dialect.py``).
Surefire's retry elements carry flaky runs (``flakyFailure``) and failures after retries
(``rerunFailure``). Every outcome, including "the session could not be read" and usage errors,
yields a parseable file.

The verdict a consumer shows equals the exit code (GitLab and dorny/test-reporter count a file
red when any testcase has ``<failure>`` or ``<error>``; see ``checkly_gate.outcomes``): a
non-zero exit always leaves at least one such element (a gate testcase, classname
``checkly.gate``, carries the reason where no check run does), and an exit of 0 leaves none.

Names are stable across runs and session order: a testcase is named after its check, plus
``[location]`` only when the session runs that check in several locations (then the check id,
then ``#n`` in API order only for checks that are still indistinguishable); sessions are told
apart by the suite name (the session name, plus its id only when two sessions share a name).

Size: the file stays under ``MAX_BYTES`` (20 MB; GitLab refuses JUnit files over 30 MB). An
error group's text is written in full for the first ``FULL_TEXTS_PER_GROUP`` elements that hit
it and as "same error as <check>, group <id>" after; when the file is still too big, texts are
shortened further and the suites say so (property ``gate.report_cut``).

All text comes from the API or the user and is untrusted: it goes through ElementTree (never string
concatenation), loses ANSI escapes and characters XML 1.0 forbids, and is truncated with a marker.
"""

from __future__ import annotations

import math
import re
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from checkly_gate.models import Result, Session, Stop
from checkly_gate.outcomes import (
    NO_TEXT_CHECK_SESSION,
    RED_ELEMENTS,
    Category,
    Outcome,
    facts,
    gate_element,
)
from checkly_gate.reports import GateRun
from checkly_gate.reports.evidence import evidence_line
from checkly_gate.text import strip_ansi
from checkly_gate.verdict import Run, SessionVerdict

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
SUITES_NAME = "checkly-gate"
GATE_CLASSNAME = "checkly.gate"
ATTR_LIMIT = 1_000  # characters in an attribute value (messages, names, properties)
TEXT_LIMIT = 16 * 1024  # characters in element text
TRUNCATED = "… [truncated]"
DEGRADED_NOTE = "slower than its degraded threshold"
GATE_CASE = "checkly-gate"  # name of the testcase standing for the gate (classname checkly.gate)
MAX_BYTES = 20 * 1024 * 1024  # the documented size budget of the file (GitLab refuses > 30 MB)
FULL_TEXTS_PER_GROUP = 3  # elements that get an error group's full text; later ones refer back
NOT_FETCHED = (
    "error text not fetched (the gate fetches at most 20 error groups of FINAL results per run, "
    "stops at a rate limit or the deadline, and fetches none with --no-details)"
)
NOT_FETCHED_ATTEMPT = "error text not fetched (only FINAL results' error groups are fetched)"

# Everything outside XML 1.0's Char production (controls, lone surrogates, U+FFFE/U+FFFF), plus
# DEL and the C1 controls, which XML allows but no report reader shows sensibly.
_ILLEGAL = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NEWLINES = re.compile(r"\r\n?")
_BLANKS = re.compile(r"[\t\n]+")


# --- text hygiene -------------------------------------------------------------------------------


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(TRUNCATED))] + TRUNCATED


def clean_text(value: object, limit: int = TEXT_LIMIT) -> str:
    """Element text: no ANSI escapes or XML-illegal characters, ``\\n`` line ends, bounded."""
    text = _ILLEGAL.sub("", strip_ansi(str(value)))
    return _truncate(_NEWLINES.sub("\n", text), limit)


def clean_attr(value: object, limit: int = ATTR_LIMIT) -> str:
    """Attribute value: like ``clean_text`` on one line (newlines and tabs become spaces)."""
    text = _ILLEGAL.sub("", strip_ansi(str(value)))
    text = _BLANKS.sub(" ", _NEWLINES.sub("\n", text)).strip()
    return _truncate(text, limit)


def _seconds(value: float | None) -> str | None:
    """Seconds with 3 decimals (the schema's SUREFIRE_TIME), or None when unknown/not finite."""
    if value is None or not math.isfinite(value):
        return None
    return f"{max(0.0, value):.3f}"


def _timestamp(value: datetime | None) -> str | None:
    """JUnit convention: ISO 8601 in UTC without a zone suffix, whole seconds."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="seconds")


def _lines(*lines: str | None) -> str:
    return "\n".join(line for line in lines if line)


# --- names --------------------------------------------------------------------------------------


def _base_name(run: Run) -> str:
    latest = run.latest
    for candidate in (latest.name, latest.check_id, latest.result_id):
        if candidate and (name := clean_attr(candidate)):
            return name
    return "check"


def _distinct(names: list[str], extras: list[str | None]) -> list[str]:
    """Append ``(extra)`` to every name that is not unique (when it has an extra)."""
    counts = Counter(names)
    return [
        f"{name} ({clean_attr(extra)})" if counts[name] > 1 and extra else name
        for name, extra in zip(names, extras, strict=True)
    ]


def _numbered(names: list[str]) -> list[str]:
    """Last resort for names still equal: ``#2``, ``#3``... in API order."""
    used: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 1
        while candidate in used:
            n += 1
            candidate = f"{name} #{n}"
        used.add(candidate)
        out.append(candidate)
    return out


def case_names(runs: Iterable[Run]) -> list[str]:
    """Testcase names of one session's check runs, in order; unique within the session.

    The check's name; ``[location]`` only when the session runs that name in several locations;
    then the check id for different checks that still share a name; then ``#n``.
    """
    runs = list(runs)
    bases = [_base_name(r) for r in runs]
    locations: dict[str, set[str]] = {}
    for base, run in zip(bases, runs, strict=True):
        locations.setdefault(base, set()).add(run.latest.run_location or "")
    names = [
        f"{base} [{clean_attr(run.latest.run_location)}]"
        if len(locations[base]) > 1 and run.latest.run_location
        else base
        for base, run in zip(bases, runs, strict=True)
    ]
    names = _distinct(names, [r.latest.check_id for r in runs])
    return _numbered(names)


def suite_names(sessions: Iterable[SessionVerdict]) -> list[str]:
    """Suite names: the session's name; plus its id only when two sessions share a name."""
    sessions = list(sessions)
    bases = [
        clean_attr(sv.session.display_name if sv.session else sv.session_id) or "session"
        for sv in sessions
    ]
    return _numbered(_distinct(bases, [sv.session_id for sv in sessions]))


# --- error texts and the size budget ------------------------------------------------------------


@dataclass(frozen=True)
class _Level:
    """How much text a rendering may carry; later levels are tried when the file is too big."""

    full_per_group: int  # elements that get an error group's full text
    text_limit: int  # characters of one error group's text
    passing_out: bool  # system-out on testcases without a verdict element
    note: str  # what the file says about being cut ("" for the full report)


LEVELS = (
    _Level(FULL_TEXTS_PER_GROUP, TEXT_LIMIT, True, ""),
    _Level(
        1,
        2048,
        False,
        "report cut to fit its size budget: error texts once per group (2 KB),"
        " no output of passing testcases",
    ),
    _Level(0, 0, False, "report cut to fit its size budget: no error texts"),
)


class _Texts:
    """Hands out error group texts: in full for the first few elements, then a reference."""

    def __init__(
        self, errors: dict[str, str], level: _Level, missing: dict[str, str] | None = None
    ) -> None:
        self.errors = errors
        self.missing = missing or {}
        self.level = level
        self.first: dict[str, tuple[str, int]] = {}  # group id -> (where it is shown, uses)

    def preview(self, result: Result) -> str:
        """The first line of the first known text (for a ``message`` attribute), or ""."""
        if not self.level.full_per_group:
            return ""
        for gid in result.error_group_ids:
            text = self.errors.get(gid)
            if text:
                first = clean_attr(text.strip().split("\n", 1)[0], 200)
                return f": {first}" if first else ""
        return ""

    def groups(self, result: Result, case: str, attempt: bool = False) -> str:
        """One block per error group of ``result``: its text, a reference, or why there is none."""
        if not result.error_group_ids:
            return "error groups: none reported by Checkly for this result"
        blocks = []
        for gid in result.error_group_ids:
            text = self.errors.get(gid)
            if not text:
                reason = self.missing.get(gid)
                if attempt:
                    said = NOT_FETCHED_ATTEMPT
                else:
                    said = f"error text not fetched ({reason})" if reason else NOT_FETCHED
                blocks.append(f"error group {gid}: {said}")
                continue
            where, uses = self.first.get(gid, (case, 0))
            self.first[gid] = (where, uses + 1)
            if uses < self.level.full_per_group:
                blocks.append(f"error group {gid}:\n{_truncate(text, self.level.text_limit)}")
            elif self.level.full_per_group:
                blocks.append(f"error group {gid}: same error as {where}, group {gid}")
            else:
                blocks.append(f"error group {gid}: text left out ({self.level.note})")
        return "\n".join(blocks)


# --- elements -----------------------------------------------------------------------------------


INDENT = "  "  # per level of the document (``ET.indent``)
# Where a suite's testcases go in the document skeleton (``_Suite.element``, ``_render``): a tag
# no text of a report can hold, since the skeleton holds none of the untrusted text of testcases.
_CASES = f"cases-{uuid.uuid4().hex}"


class _Suite:
    """Collects one testsuite's testcases and tallies them, so counts always match children.

    Each testcase is serialized as soon as it is added (indented as it would be in the whole
    document), so a session of 30,000 check runs never holds 30,000 element trees (~22 MiB)."""

    def __init__(self, name: str, time: float | None, timestamp: datetime | None) -> None:
        self.name = name
        self.time = _seconds(time) or "0.000"
        self.timestamp = _timestamp(timestamp)
        self.properties: list[tuple[str, str]] = []
        self.cases: list[str] = []  # serialized testcases, without their tails
        self.tally: Counter[str] = Counter()
        self.out = ""

    def prop(self, name: str, value: object) -> None:
        """Add a property unless its value is unknown (the schema requires a value)."""
        if value is None:
            return
        text = clean_attr(value)
        if text:
            self.properties.append((name, text))

    def add(self, case: ET.Element) -> None:
        for kind in (*RED_ELEMENTS, "skipped"):
            if case.find(kind) is not None:
                self.tally[kind] += 1
                break
        ET.indent(case, space=INDENT, level=2)  # testsuites > testsuite > testcase
        self.cases.append(ET.tostring(case, encoding="unicode"))

    @property
    def broken(self) -> bool:
        return any(self.tally[kind] for kind in RED_ELEMENTS)

    def element(self) -> ET.Element:
        attrs = {
            "name": self.name,
            "tests": str(len(self.cases)),
            "failures": str(self.tally["failure"]),
            "errors": str(self.tally["error"]),
            "skipped": str(self.tally["skipped"]),
            "time": self.time,
        }
        if self.timestamp:
            attrs["timestamp"] = self.timestamp
        suite = ET.Element("testsuite", attrs)
        if self.properties:
            props = ET.SubElement(suite, "properties")
            for name, value in self.properties:
                ET.SubElement(props, "property", {"name": name, "value": value})
        if self.cases:
            ET.SubElement(suite, _CASES)  # ``_render`` puts the serialized testcases here
        if self.out:
            ET.SubElement(suite, "system-out").text = clean_text(self.out)
        return suite


def _testcase(name: str, classname: str, time: float | None = None) -> ET.Element:
    """A testcase; ``time`` is always there (``0.000`` when Checkly gave no duration)."""
    attrs = {"name": name, "classname": clean_attr(classname), "time": _seconds(time) or "0.000"}
    return ET.Element("testcase", attrs)


def _mark(case: ET.Element, tag: str, message: str, type_: str, text: str) -> ET.Element:
    """Append a failure/error/skipped element. GitLab shows only the text (an element with
    attributes and no text becomes a hash it prints raw), so the text always says it all."""
    message, type_ = clean_attr(message), clean_attr(type_)
    if message.lower().startswith(type_.lower()):  # dorny shows "type: message": no doubling
        message = message[len(type_) :].lstrip(" :;,-") or message
    attrs = {"message": message, "type": type_}
    element = ET.SubElement(case, tag, attrs)
    element.text = clean_text(text or message)
    return element


def _out(parent: ET.Element, text: str) -> None:
    if text:
        ET.SubElement(parent, "system-out").text = clean_text(text)


# --- check runs ---------------------------------------------------------------------------------


class _Context:
    """What every testcase of one session needs to know about the gate run."""

    def __init__(self, run: GateRun, sv: SessionVerdict, stop: Stop | None, texts: _Texts) -> None:
        self.policy_hits = sv.policy_hits
        self.aside = sv.aside  # what the context set a run aside as (``verdict.SetAside``)
        self.row = sv.row  # the facts row a run is drawn with (its mark's or its category's)
        self.label = lambda r: run.label(sv, r)  # its history label (``GateRun.labels``)
        self.texts = texts
        self.passing_out = texts.level.passing_out
        self.evidence = run.evidence
        self.why = _why_unfinished(run, sv, stop)
        self.check_session = sv.session is not None and sv.session.kind == "check session"


def _why_unfinished(run: GateRun, sv: SessionVerdict, stop: Stop | None) -> str:
    outcome = sv.outcome
    if Outcome.INTERRUPTED in (run.verdict.outcome, outcome) or stop is Stop.INTERRUPTED:
        outcome = Outcome.INTERRUPTED
    elif stop is Stop.DEADLINE and "failFast" in run.context:  # cut off as at a deadline
        return "--fail-fast"
    elif stop is Stop.DEADLINE and not outcome.partial:
        outcome = Outcome.TIMED_OUT
    elif stop is Stop.FINAL and sv.session is not None:
        return f"session {sv.session.status}"
    title = outcome.title
    return title if title[:3].isupper() else title[:1].lower() + title[1:]


def _where(result: Result) -> str:
    return f" in {result.run_location}" if result.run_location else ""


def _retries(case: ET.Element, prefix: str, run: Run, ctx: _Context, name: str) -> None:
    """One ``rerun*``/``flaky*`` element per failed attempt, children in rerunType order."""
    for number, attempt in enumerate(run.attempts, 1):
        if attempt.passed_cleanly:  # the rule of ``Run.failed_attempts``: the rest failed
            continue
        kind, type_, what = (
            ("Error", "ERROR", "errored") if attempt.has_errors else ("Failure", "FAILED", "failed")
        )
        message = f"attempt {number} {what}{_where(attempt)}{ctx.texts.preview(attempt)}"
        element = ET.SubElement(
            case, prefix + kind, {"message": clean_attr(message), "type": type_}
        )
        trace = ctx.texts.groups(attempt, f"{name} (attempt {number})", attempt=True)
        ET.SubElement(element, "stackTrace").text = clean_text(trace)
        where = f"location: {attempt.run_location}" if attempt.run_location else None
        _out(element, _lines(f"result: {attempt.link}" if attempt.link else None, where))


def _history(run: Run, ctx: _Context) -> str:
    """``history: seen before (first ..., last ...)`` for a labelled run, else ""."""
    label = ctx.label(run)
    return f"history: {label.text()}" if label is not None else ""


def _run_case(run: Run, name: str, ctx: _Context) -> ET.Element:
    """The testcase of one check run; its single failure/error/skipped child decides its count."""
    latest = run.latest
    case = _testcase(name, f"checkly.{latest.check_type.lower()}", latest.duration_seconds)
    row = facts(run.category)
    link = f"result: {latest.link}" if latest.link else "result: no link given by Checkly"
    what = row.message + _where(latest)
    if row.raw:  # the value the gate did not know, and the field that decided it
        what += f" (status {latest.status}, result type {latest.result_type or 'none'}; {run.why})"
    failure_text = ""
    aside = ctx.aside(run)
    if aside is not None:
        failure_text = _set_aside(case, run, name, ctx, what, link)
    elif row.broken:
        _broken(case, run, name, ctx, what, link)
    elif row.junit == "skipped":
        reason = f"{what} ({ctx.why})" if run.unfinished else what
        _mark(case, "skipped", reason, row.label, _lines(reason, link))
    else:  # passed, flaky or degraded: a pass unless the user's policy failed it
        _policy_hit(case, run, name, ctx, link)
        if run.category is Category.FLAKY:
            _retries(case, "flaky", run, ctx, name)
    if ctx.passing_out or len(case):
        _out(
            case,
            _lines(
                f"result: {latest.link}" if latest.link else None,
                f"location: {latest.run_location}" if latest.run_location else None,
                f"status: {latest.status}" if run.final is not None else "status: unfinished",
                f"failed attempts: {len(run.failed_attempts)}" if run.failed_attempts else None,
                f"degraded: {DEGRADED_NOTE}" if run.degraded else None,
                failure_text,
            ),
        )
    return case


def _set_aside(case: ET.Element, run: Run, name: str, ctx: _Context, what: str, link: str) -> str:
    """A failing run the context set aside (``verdict.SetAside``): ``<skipped>`` whatever the
    verdict (``outcomes.MARK``: never red, so an exit of 0 leaves no red element), its
    message naming the mark with the owner, expiry and reason or the history label; returns
    the failure's own text (why it failed, its error groups) for the testcase's system-out."""
    aside = ctx.aside(run)
    assert aside is not None
    row = ctx.row(run)
    after = f" after {len(run.attempts) + 1} attempts" if run.failed_attempts else ""
    flags = ctx.policy_hits(run)
    failed = what + after + (f", failed by {' and '.join(flags)}" if flags else "")
    message = f"{aside.says()} ({failed})"
    text = _lines(aside.says(), failed, _history(run, ctx), link)
    # The type names the mark as pytest's xfail does (``pytest.xfail``): ``gate.quarantined``.
    _mark(case, row.junit or "skipped", message, f"gate.{aside.mark.value}", text)
    groups = [ctx.texts.groups(a, name, attempt=True) for a in run.failed_attempts]
    if not flags:  # failed by its own facts: the FINAL row's error groups say why
        groups.append(ctx.texts.groups(run.latest, name))
    return _lines(f"failure set aside: {failed}", evidence_line(ctx.evidence, run), *groups)


def _broken(case: ET.Element, run: Run, name: str, ctx: _Context, what: str, link: str) -> None:
    """A failed, errored or unknown run: its ``failure``/``error`` and one ``rerun*`` element
    per failed attempt."""
    latest = run.latest
    row = facts(run.category)
    after = f" after {len(run.attempts) + 1} attempts" if run.failed_attempts else ""
    label = ctx.label(run)
    said = f" [{label.text()}]" if label is not None else ""
    message = what + after + said + ctx.texts.preview(latest)
    text = _lines(
        what + after,
        _history(run, ctx),
        link,
        evidence_line(ctx.evidence, run),
        ctx.texts.groups(latest, name),
    )
    if ctx.check_session and not latest.error_group_ids:  # nothing to fetch: say so
        text = _lines(text, NO_TEXT_CHECK_SESSION)
    _mark(case, row.junit or "error", message, row.label, text)
    _retries(case, "rerun", run, ctx, name)


def _policy_hit(case: ET.Element, run: Run, name: str, ctx: _Context, link: str) -> None:
    """The ``failure`` of a passing run that the user's policy failed, in the words of the
    other reports; nothing when the verdict recorded no hit (``SessionVerdict.policy_hits``)."""
    hits = []
    for flag in ctx.policy_hits(run):
        if flag == "--fail-on-flaky":
            failed = len(run.failed_attempts)
            hits.append(("flaky", f"passed after {failed} failed attempt(s), {flag}"))
        elif flag == "--fail-on-degraded":
            hits.append(("degraded", f"{DEGRADED_NOTE}, {flag}"))
        else:  # a policy flag without words of its own here: named as it is
            hits.append((flag.removeprefix("--fail-on-"), flag))
    if not hits:
        return
    message = "failed by policy: " + "; ".join(text for _, text in hits)
    # The error text of what failed: a flaky run's failed attempts (fetched for it).
    texts = _lines(*(ctx.texts.groups(a, name) for a in run.failed_attempts))
    where = _where(run.latest)
    text = _lines(message + where, _history(run, ctx), link, texts or None)
    _mark(case, "failure", message, hits[0][0], text)


# --- suites -------------------------------------------------------------------------------------


def _session_seconds(session: Session | None, run: GateRun) -> float | None:
    # A session read last while running has no duration of its own yet: the gate's is used.
    if session is not None and session.is_final:
        if session.time_elapsed_ms is not None and math.isfinite(session.time_elapsed_ms):
            return session.time_elapsed_ms / 1000.0
        if session.started_at and session.stopped_at:
            return (session.stopped_at - session.started_at).total_seconds()
    return run.duration_seconds


def _gate_props(suite: _Suite, run: GateRun, sv: SessionVerdict | None, level: _Level) -> None:
    if sv is not None:
        suite.prop("gate.session_outcome", sv.outcome.label)
    suite.prop("gate.outcome", run.verdict.outcome.label)
    suite.prop("gate.exit_code", run.verdict.exit_code)
    suite.prop("gate.would_exit_code", run.would_exit_code)  # --shadow only
    # The gate's own notes (--shadow, the deploy check), not the session's: every suite says them.
    for note in run.verdict.warnings:
        if sv is None or note not in sv.warnings:
            suite.prop("gate.note", note)
    if level.note:
        suite.prop("gate.report_cut", f"{level.note} ({MAX_BYTES} bytes)")


def _why_text(run: GateRun, sv: SessionVerdict | None) -> str:
    verdict = run.verdict
    return _lines(
        sv.reason if sv is not None else verdict.reason,
        f"session {sv.session_id}: {sv.outcome.label}" if sv is not None else None,
        f"gate outcome: {verdict.outcome.label} (exit code {verdict.exit_code})",
        *verdict.warnings,
    )


def _gate_case(suite: _Suite, outcome: Outcome, exit_code: int, reason: str, text: str) -> None:
    """A testcase standing for the gate itself, for what no check run can say: red exactly when
    ``exit_code`` is non-zero (``outcomes.gate_element``)."""
    case = _testcase(GATE_CASE, GATE_CLASSNAME)
    _mark(case, gate_element(outcome, exit_code), reason, outcome.label, text)
    suite.add(case)


def _unread_suite(run: GateRun, sv: SessionVerdict, name: str, level: _Level) -> _Suite:
    """A session never read: one gate testcase that says why."""
    suite = _Suite(name, run.duration_seconds, run.started_at)
    suite.prop("checkly.session_id", sv.session_id)
    _gate_props(suite, run, sv, level)
    _gate_case(suite, sv.outcome, sv.outcome.code, sv.reason, _why_text(run, sv))
    return suite


def _session_suite(
    run: GateRun, sv: SessionVerdict, stop: Stop | None, name: str, texts: _Texts
) -> _Suite:
    session = sv.session
    assert session is not None
    suite = _Suite(name, _session_seconds(session, run), session.started_at)
    meta = session.metadata
    suite.prop("checkly.session_id", session.session_id)
    suite.prop("checkly.session_link", session.link)
    suite.prop("checkly.status", session.status)
    suite.prop("checkly.environment", meta.environment)
    suite.prop("checkly.repo", meta.repo_url)
    suite.prop("checkly.branch", meta.branch_name)
    suite.prop("checkly.commit", meta.commit_id)
    _gate_props(suite, run, sv, texts.level)

    ctx = _Context(run, sv, stop, texts)
    for check_run, case_name in zip(sv.runs, case_names(sv.runs), strict=True):
        suite.add(_run_case(check_run, case_name, ctx))
    # A red session whose check runs all look fine (status FAILED without failed results, no
    # results at all, a cancel, API trouble, a timeout, an interrupt): say so in a testcase.
    if not sv.outcome.green and not suite.broken:
        _gate_case(suite, sv.outcome, sv.outcome.code, sv.reason, _why_text(run, sv))
    suite.out = _lines(texts.level.note, sv.reason, session.link, *sv.warnings)
    return suite


def _render(run: GateRun, level: _Level) -> list[str]:
    verdict = run.verdict
    texts = _Texts(run.error_messages, level, run.missing_texts)
    stops = {obs.session_id: obs.stop for obs in run.observations}
    names = suite_names(verdict.sessions)
    suites: list[_Suite] = []
    for sv, name in zip(verdict.sessions, names, strict=True):
        if sv.session is None:
            suites.append(_unread_suite(run, sv, name, level))
        else:
            suites.append(_session_suite(run, sv, stops.get(sv.session_id), name, texts))
    red = any(s.broken for s in suites)
    if not suites or (verdict.exit_code != 0 and not red):
        # No session at all (usage error, no-match, a trigger that failed), or a red gate whose
        # sessions all look fine (an interrupt after they finished): the gate's own suite.
        suite = _Suite(SUITES_NAME, run.duration_seconds, run.started_at)
        _gate_props(suite, run, None, level)
        _gate_case(suite, verdict.outcome, verdict.exit_code, verdict.reason, _why_text(run, None))
        suite.out = level.note
        suites.append(suite)

    total_time = _seconds(run.duration_seconds)
    if total_time is None:
        total_time = _seconds(sum(float(s.time) for s in suites)) or "0.000"
    root = ET.Element(
        "testsuites",
        {
            "name": SUITES_NAME,
            "tests": str(sum(len(s.cases) for s in suites)),
            "failures": str(sum(s.tally["failure"] for s in suites)),
            "errors": str(sum(s.tally["error"] for s in suites)),
            "time": total_time,
        },
    )
    root.extend(suite.element() for suite in suites)
    ET.indent(root, space=INDENT)
    skeleton = ET.tostring(root, encoding="unicode")
    # Each placeholder becomes its suite's testcases; the last one keeps the placeholder's tail.
    parts = [XML_DECLARATION + "\n"]
    tail = "\n" + 2 * INDENT  # between testcases, as ET.indent sets it
    for suite in suites:
        if suite.cases:
            before, skeleton = skeleton.split(f"<{_CASES} />", 1)
            parts.append(before)
            for case in suite.cases[:-1]:
                parts += [case, tail]
            parts.append(suite.cases[-1])
    return [*parts, skeleton + "\n"]


def _size(parts: list[str]) -> int:
    """UTF-8 bytes of the parts (without encoding the ASCII ones)."""
    return sum(len(p) if p.isascii() else len(p.encode("utf-8")) for p in parts)


def pieces(run: GateRun, max_bytes: int = MAX_BYTES) -> list[str]:
    """``render`` in pieces, cut only between elements (one piece per testcase): what
    ``files.write_pieces`` writes without first joining 10 MB of XML into one string."""
    parts: list[str] = []
    for level in LEVELS:
        parts = _render(run, level)
        if _size(parts) <= max_bytes:
            break
    return parts


def render(run: GateRun, max_bytes: int = MAX_BYTES) -> str:
    """The JUnit XML document for a finished gate run (pure and deterministic).

    At most ``max_bytes`` UTF-8 bytes whenever the shortest level (no error texts) fits; a report
    that had to be cut says so in every suite (property ``gate.report_cut`` and system-out).
    The text declares UTF-8; whoever writes it to a file must encode it as UTF-8.
    """
    return "".join(pieces(run, max_bytes))

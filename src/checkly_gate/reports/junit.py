"""JUnit XML report: one ``<testsuite>`` per session, one ``<testcase>`` per check run.

Targets the strict Jenkins xUnit schema (``junit-10.xsd``), which GitLab, Jenkins and other test
report readers also accept. Surefire's retry elements carry flaky runs (``flakyFailure``) and
failures after retries (``rerunFailure``). Every outcome, including "the session could not be read"
and usage errors, yields a parseable file, so CI never shows a silent green report for a red gate.

All text comes from the API or the user and is untrusted: it goes through ElementTree (never string
concatenation), loses ANSI escapes and characters XML 1.0 forbids, and is truncated with a marker.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timezone

from checkly_gate.models import Result, Session
from checkly_gate.reports import GateRun
from checkly_gate.text import strip_ansi
from checkly_gate.verdict import Category, Outcome, Run, SessionVerdict, Stop

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
SUITES_NAME = "checkly-gate"
GATE_CLASSNAME = "checkly.gate"
ATTR_LIMIT = 1_000  # characters in an attribute value (messages, names, properties)
TEXT_LIMIT = 16 * 1024  # characters in element text
TRUNCATED = "… [truncated]"
DEGRADED_NOTE = "degraded: slower than its degraded threshold"

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


class _Names:
    """Hands out testcase names unique within the whole report (GitLab drops duplicates).

    A name shared by several runs gets its location (``Homepage [us-east-1]``); what still
    collides gets a counter (``Homepage [us-east-1] #2``).
    """

    def __init__(self, runs: Iterable[Run]) -> None:
        counts = Counter(_base_name(run) for run in runs)
        self._shared = {name for name, n in counts.items() if n > 1}
        self._used: set[str] = set()
        self._next: dict[str, int] = {}

    def for_run(self, run: Run) -> str:
        name = _base_name(run)
        location = clean_attr(run.latest.run_location or "")
        if name in self._shared and location:
            name = f"{name} [{location}]"
        return self.take(name)

    def take(self, name: str) -> str:
        candidate = name
        while candidate in self._used:
            n = self._next.get(name, 1) + 1
            self._next[name] = n
            candidate = f"{name} #{n}"
        self._used.add(candidate)
        return candidate


# --- elements -----------------------------------------------------------------------------------


class _Suite:
    """Collects one testsuite's testcases and tallies them, so counts always match children."""

    def __init__(self, name: str, time: float | None, timestamp: datetime | None) -> None:
        self.name = name
        self.time = _seconds(time) or "0.000"
        self.timestamp = _timestamp(timestamp)
        self.properties: list[tuple[str, str]] = []
        self.cases: list[ET.Element] = []
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
        self.cases.append(case)
        for kind in ("failure", "error", "skipped"):
            if case.find(kind) is not None:
                self.tally[kind] += 1
                break

    @property
    def broken(self) -> bool:
        return bool(self.tally["failure"] or self.tally["error"])

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
        suite.extend(self.cases)
        if self.out:
            ET.SubElement(suite, "system-out").text = clean_text(self.out)
        return suite


def _testcase(name: str, classname: str, time: float | None = None) -> ET.Element:
    attrs = {"name": name, "classname": clean_attr(classname)}
    seconds = _seconds(time)
    if seconds is not None:
        attrs["time"] = seconds
    return ET.Element("testcase", attrs)


def _mark(
    case: ET.Element, tag: str, message: str, type_: str | None = None, text: str | None = None
) -> ET.Element:
    """Append a failure/error/skipped element; GitLab shows only its text, so repeat it there."""
    attrs = {"message": clean_attr(message)}
    if type_:
        attrs["type"] = clean_attr(type_)
    element = ET.SubElement(case, tag, attrs)
    if text:
        element.text = clean_text(text)
    return element


def _out(parent: ET.Element, text: str) -> None:
    if text:
        ET.SubElement(parent, "system-out").text = clean_text(text)


# --- check runs ---------------------------------------------------------------------------------


class _Context:
    """What every testcase of one session needs to know about the gate run."""

    def __init__(self, run: GateRun, sv: SessionVerdict, stop: Stop | None) -> None:
        self.policy = run.policy
        self.errors = run.error_messages
        self.timed_out = run.verdict.outcome is Outcome.TIMED_OUT
        self.why = _why_unfinished(run, sv, stop)


def _why_unfinished(run: GateRun, sv: SessionVerdict, stop: Stop | None) -> str:
    outcome = sv.outcome
    if Outcome.INTERRUPTED in (run.verdict.outcome, outcome) or stop is Stop.INTERRUPTED:
        return "interrupted"
    if outcome is Outcome.UNAVAILABLE:
        return "API unavailable"
    if outcome is Outcome.REFUSED:
        return "API refused the request"
    if outcome is Outcome.TIMED_OUT or stop is Stop.DEADLINE:
        return "timed out"
    if stop is Stop.FINAL and sv.session is not None:
        return f"session {sv.session.status}"
    return outcome.label


def _where(result: Result) -> str:
    return f" in {result.run_location}" if result.run_location else ""


def _error_texts(result: Result, errors: dict[str, str]) -> list[str]:
    return [errors[gid] for gid in result.error_group_ids if errors.get(gid)]


def _error_groups(result: Result, errors: dict[str, str]) -> str:
    """The error group ids of a result, then the known text of each."""
    ids = result.error_group_ids
    if not ids:
        return ""
    texts = [f"{gid}: {errors[gid]}" for gid in ids if errors.get(gid)]
    return _lines(f"error groups: {', '.join(ids)}", *texts)


def _details(result: Result, errors: dict[str, str]) -> str:
    """Link, location, error group ids and their known texts of one result row."""
    return _lines(
        f"result: {result.link}" if result.link else None,
        f"location: {result.run_location}" if result.run_location else None,
        _error_groups(result, errors),
    )


def _problem(what: str, result: Result, errors: dict[str, str], after: str = "") -> str:
    """A one-line message: what happened, where, and the first known error text."""
    texts = _error_texts(result, errors)
    return f"{what}{_where(result)}{after}" + (f": {texts[0]}" if texts else "")


_RETRY_KINDS = {True: ("Error", "ERROR", "errored"), False: ("Failure", "FAILED", "failed")}


def _retries(case: ET.Element, prefix: str, run: Run, ctx: _Context) -> None:
    """One ``rerun*``/``flaky*`` element per failed attempt, children in rerunType order."""
    for number, attempt in enumerate(run.attempts, 1):
        if not attempt.failed:
            continue
        kind, type_, what = _RETRY_KINDS[attempt.has_errors]
        message = _problem(f"attempt {number} {what}", attempt, ctx.errors)
        attrs = {"message": clean_attr(message), "type": type_}
        element = ET.SubElement(case, prefix + kind, attrs)
        trace = _error_groups(attempt, ctx.errors)
        if trace:
            ET.SubElement(element, "stackTrace").text = clean_text(trace)
        where = f"location: {attempt.run_location}" if attempt.run_location else None
        _out(element, _lines(f"result: {attempt.link}" if attempt.link else None, where))


def _run_case(run: Run, name: str, ctx: _Context) -> ET.Element:
    """The testcase of one check run; its single failure/error/skipped child decides its count."""
    latest = run.latest
    case = _testcase(name, f"checkly.{latest.check_type.lower()}", latest.duration_seconds)
    category = run.category
    details = _details(latest, ctx.errors)

    if category in (Category.FAILED, Category.ERROR):
        tag, what = ("failure", "failed") if category is Category.FAILED else ("error", "errored")
        after = f" after {len(run.attempts) + 1} attempts" if run.failed_attempts else ""
        message = _problem(what, latest, ctx.errors, after)
        _mark(case, tag, message, category.name, _lines(message, details))
        _retries(case, "rerun", run, ctx)
    elif category is Category.UNKNOWN:
        message = f"unknown to checkly-gate: {run.why}"
        _mark(case, "error", message, "unknown", _lines(message, details))
    elif category is Category.SKIPPED:
        _mark(case, "skipped", "cancelled")
    elif category is Category.PENDING:
        if ctx.timed_out:
            message = f"still running when the gate stopped ({ctx.why})"
            _mark(case, "failure", message, "timeout", _lines(message, details))
        else:
            _mark(case, "skipped", f"still running when the gate stopped ({ctx.why})")
    else:  # passed, flaky or degraded: a pass unless the user's policy says otherwise
        flaky = category is Category.FLAKY
        hits = []
        if flaky and ctx.policy.fail_on_flaky:
            failed = len(run.failed_attempts)
            hits.append(("flaky", f"flaky: passed after {failed} failed attempt(s)"))
        if run.degraded and ctx.policy.fail_on_degraded:
            hits.append(("degraded", DEGRADED_NOTE))
        if hits:
            message = "; ".join(text for _, text in hits) + " (failed by policy)"
            _mark(case, "failure", message, hits[0][0], _lines(message, details))
        if flaky:
            _retries(case, "flaky", run, ctx)

    _out(
        case,
        _lines(
            f"result: {latest.link}" if latest.link else None,
            f"location: {latest.run_location}" if latest.run_location else None,
            f"status: {latest.status}" if run.final is not None else "status: unfinished",
            f"failed attempts: {len(run.failed_attempts)}" if run.failed_attempts else None,
            DEGRADED_NOTE if run.degraded else None,
        ),
    )
    return case


# --- suites -------------------------------------------------------------------------------------


def _session_seconds(session: Session | None, run: GateRun) -> float | None:
    if session is not None:
        if session.time_elapsed_ms is not None and math.isfinite(session.time_elapsed_ms):
            return session.time_elapsed_ms / 1000.0
        if session.started_at and session.stopped_at:
            return (session.stopped_at - session.started_at).total_seconds()
    return run.duration_seconds


def _gate_props(suite: _Suite, run: GateRun, sv: SessionVerdict | None) -> None:
    if sv is not None:
        suite.prop("gate.session_outcome", sv.outcome.label)
    suite.prop("gate.outcome", run.verdict.outcome.label)
    suite.prop("gate.exit_code", run.verdict.exit_code)


def _why_text(run: GateRun, sv: SessionVerdict | None) -> str:
    verdict = run.verdict
    return _lines(
        sv.reason if sv is not None else verdict.reason,
        f"session {sv.session_id}: {sv.outcome.label}" if sv is not None else None,
        f"gate outcome: {verdict.outcome.label} (exit code {verdict.exit_code})",
        *verdict.warnings,
    )


def _gate_case(
    suite: _Suite, names: _Names, name: str, outcome: Outcome, reason: str, text: str
) -> None:
    """A testcase standing for the gate itself, for what no check run can say."""
    case = _testcase(names.take(clean_attr(name) or "checkly-gate"), GATE_CLASSNAME)
    if outcome is Outcome.FAILED:
        _mark(case, "failure", reason, outcome.name, text)
    elif outcome is Outcome.TIMED_OUT:
        _mark(case, "failure", reason, "timeout", text)
    else:
        _mark(case, "error", reason, outcome.name, text)
    suite.add(case)


def _unread_suite(run: GateRun, sv: SessionVerdict | None, names: _Names) -> _Suite:
    """A session never read (or no session at all): one error testcase that says why."""
    if sv is None:
        suite = _Suite(SUITES_NAME, run.duration_seconds, run.started_at)
        outcome, reason, name = run.verdict.outcome, run.verdict.reason, SUITES_NAME
    else:
        suite = _Suite(clean_attr(sv.session_id) or "session", run.duration_seconds, run.started_at)
        suite.prop("checkly.session_id", sv.session_id)
        outcome, reason, name = sv.outcome, sv.reason, f"session {sv.session_id}"
    _gate_props(suite, run, sv)
    _gate_case(suite, names, name, outcome, reason, _why_text(run, sv))
    return suite


def _session_suite(run: GateRun, sv: SessionVerdict, stop: Stop | None, names: _Names) -> _Suite:
    session = sv.session
    assert session is not None
    name = clean_attr(session.display_name) or clean_attr(sv.session_id) or "session"
    suite = _Suite(name, _session_seconds(session, run), session.started_at)
    meta = session.metadata
    suite.prop("checkly.session_id", session.session_id)
    suite.prop("checkly.session_link", session.link)
    suite.prop("checkly.status", session.status)
    suite.prop("checkly.environment", meta.environment)
    suite.prop("checkly.repo", meta.repo_url)
    suite.prop("checkly.branch", meta.branch_name)
    suite.prop("checkly.commit", meta.commit_id)
    _gate_props(suite, run, sv)

    ctx = _Context(run, sv, stop)
    for check_run in sv.runs:
        suite.add(_run_case(check_run, names.for_run(check_run), ctx))
    # A red session whose check runs all look fine (status FAILED without failed results, no
    # results at all, API trouble, a timeout after every result finished): say so in a testcase.
    red = (Outcome.FAILED, Outcome.TIMED_OUT, Outcome.UNAVAILABLE, Outcome.REFUSED)
    if sv.outcome in red and not suite.broken:
        text = _why_text(run, sv)
        _gate_case(suite, names, f"session {sv.session_id}", sv.outcome, sv.reason, text)
    suite.out = _lines(sv.reason, session.link, *sv.warnings)
    return suite


def render(run: GateRun) -> str:
    """The JUnit XML document for a finished gate run (pure and deterministic).

    The text declares UTF-8; whoever writes it to a file must encode it as UTF-8.
    """
    verdict = run.verdict
    names = _Names(r for sv in verdict.sessions for r in sv.runs)
    stops = {obs.session_id: obs.stop for obs in run.observations}
    suites: list[_Suite] = []
    for sv in verdict.sessions:
        if sv.session is None:
            suites.append(_unread_suite(run, sv, names))
        else:
            suites.append(_session_suite(run, sv, stops.get(sv.session_id), names))
    if not suites:
        suites.append(_unread_suite(run, None, names))

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
    ET.indent(root, space="  ")
    return XML_DECLARATION + "\n" + ET.tostring(root, encoding="unicode") + "\n"

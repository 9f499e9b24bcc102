"""CTRF report (Common Test Report Format, https://ctrf.io): one JSON test per check run.

Shape: the CTRF JSON Schema (``reportFormat`` "CTRF", ``specVersion`` 1.0.0; tests keep only its
fields, ``extra`` for the rest). Each check run of each session is one test, named like its
JUnit testcase (``junit.case_names``) with the session as its ``suite`` (``junit.suite_names``),
and its ``status`` comes from the same facts as JUnit's verdict element
(``outcomes.CATEGORY``, ``verdict.policy_flags``):

=====================================  =========  ===================================
check run (``verdict.Category``)       CTRF       JUnit
=====================================  =========  ===================================
failed, error                          failed     failure / error
passed, flaky, degraded                passed     none (flaky: ``flakyFailure``)
flaky/degraded failed by ``--fail-on``  failed     failure
cancelled (skipped)                    skipped    skipped
unfinished (pending)                   pending    skipped
unknown (a result the gate can't read) other      error
set aside: quarantined, known failure  skipped    skipped
=====================================  =========  ===================================

A run the context set aside (``verdict.SetAside``: an active quarantine entry, or a known
failure under ``--fail-on new``) is ``skipped`` whatever the verdict, as in JUnit: it does not
fail the gate, and a consumer calls a report red when ``failed`` > 0, so a green gate must
have no failed test. ``rawStatus`` keeps Checkly's status (``FAILED``), ``message`` names the
mark with the entry's owner, expiry and reason or the history label, ``trace`` keeps the
failure's error text, and ``extra`` holds ``mark``, ``quarantine`` (``check``, ``owner``,
``reason``, ``expires``) for a quarantined run and ``history`` (``label``, ``firstSeen``,
``lastSeen``, ``why``: ISO times or null) for every labelled run, failed or set aside.

``flaky`` is true for a run that passed after failed attempts; ``retries`` is the number of
earlier attempts (ATTEMPT rows), ``retryAttempts`` lists every try. ``message`` is the one-line
reason, ``trace`` the error text of the run's error groups (``GateRun.error_messages``).
``extra`` holds the session id and link, the result link, location, check id and type and the
evidence names (``GateRun.evidence``; never their URLs).

The verdict a consumer shows equals the exit code: consumers (ctrf-io's GitHub test reporter)
copy the summary's counts and call a report red when ``failed`` > 0, so a gate that exits
non-zero always has a failed test: where no check run says it (a session never read, a
cancel, API trouble, a timeout or interrupt after the runs passed, a usage error, no match),
a gate test (named ``checkly-gate``, ``extra.gate`` true) carries the reason, exactly where
JUnit puts its gate testcase; it is ``skipped`` when policy lets the outcome exit 0. The
summary is counted from the tests, so it cannot disagree with them.

All text comes from the API or the user: ANSI escapes, control characters and lone
surrogates are removed (``junit.clean_text``/``clean_attr``, which JSON output shares) and long
texts are cut with a marker; ``json.dumps`` does the escaping. Secrets are masked where the
file is written (``files``), as for every report.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

from checkly_gate import __version__
from checkly_gate.models import Result
from checkly_gate.outcomes import NO_TEXT_CHECK_SESSION, Mark, Outcome, facts
from checkly_gate.reports import GateRun
from checkly_gate.reports.junit import case_names, clean_attr, clean_text, suite_names
from checkly_gate.verdict import Category, Run, SessionVerdict, policy_flags

SPEC_VERSION = "1.0.0"
TOOL_NAME = "checkly-gate"
GATE_TEST = "checkly-gate"  # the test standing for the gate (``extra.gate``: true)
TEXT_LIMIT = 16 * 1024  # characters of one error group's text in a trace
FULL_TEXTS_PER_GROUP = 3  # tests that get an error group's full text; later ones refer back
MESSAGE_LIMIT = 1_000  # characters of a message (one line)
MAX_BYTES = 20 * 1024 * 1024  # the file's size budget, as JUnit's

#: CTRF status of each check-run category when no policy fails it (the table above).
STATUS: dict[Category, str] = {
    Category.PASSED: "passed",
    Category.FLAKY: "passed",
    Category.DEGRADED: "passed",
    Category.FAILED: "failed",
    Category.ERROR: "failed",
    Category.SKIPPED: "skipped",
    Category.PENDING: "pending",
    Category.UNKNOWN: "other",
}
#: CTRF status of a run the context set aside, whatever its category (the table above).
MARK_STATUS: dict[Mark, str] = {Mark.QUARANTINED: "skipped", Mark.KNOWN: "skipped"}
STATUSES = ("passed", "failed", "skipped", "pending", "other")


def _ms(value: datetime | None) -> int | None:
    """Milliseconds since the Unix epoch (CTRF's timestamps), or None when unknown."""
    return None if value is None else int(value.timestamp() * 1000)


def _duration_ms(seconds: float | None) -> int:
    if seconds is None or not math.isfinite(seconds):
        return 0
    return max(0, round(seconds * 1000))


class _Texts:
    """Error group texts: in full for the first few tests that hit a group, then a reference."""

    def __init__(self, run: GateRun) -> None:
        self.errors = run.error_messages
        self.missing = run.missing_texts
        self.first: dict[str, tuple[str, int]] = {}

    def preview(self, result: Result) -> str:
        for gid in result.error_group_ids:
            text = self.errors.get(gid)
            if text and (first := clean_attr(text.strip().split("\n", 1)[0], 200)):
                return f": {first}"
        return ""

    def trace(self, results: tuple[Result, ...], name: str) -> str:
        blocks: list[str] = []
        seen: set[str] = set()
        for result in results:
            for gid in result.error_group_ids:
                if gid in seen:
                    continue
                seen.add(gid)
                text = self.errors.get(gid)
                if not text:
                    reason = self.missing.get(gid) or "not fetched"
                    blocks.append(f"error group {gid}: error text {reason}")
                    continue
                where, uses = self.first.get(gid, (name, 0))
                self.first[gid] = (where, uses + 1)
                if uses < FULL_TEXTS_PER_GROUP:
                    blocks.append(f"error group {gid}:\n{clean_text(text, TEXT_LIMIT)}")
                else:
                    blocks.append(f"error group {gid}: same error as {where}")
        return "\n".join(blocks)


def _attempt(number: int, row: Result, texts: _Texts) -> dict[str, Any]:
    # The rule of ``Run.failed_attempts``: a row that is not a provable pass failed, unless
    # it was only cancelled (no error, no failure, status not FAILED).
    status = "passed" if row.passed_cleanly else "failed"
    if row.cancelled and not (row.has_errors or row.has_failures or row.status == "FAILED"):
        status = "skipped"
    item: dict[str, Any] = {
        "attempt": number,
        "status": status,
        "duration": _duration_ms(row.duration_seconds),
    }
    if status == "failed":
        where = f" in {row.run_location}" if row.run_location else ""
        item["message"] = clean_attr(f"attempt {number} failed{where}{texts.preview(row)}")
    return item


def _run_test(
    run: Run, name: str, suite: str, sv: SessionVerdict, gate: GateRun, texts: _Texts
) -> dict[str, Any]:
    """The CTRF test of one check run: status (the table above, ``--fail-on`` included),
    times, message and trace, attempts, ``extra``."""
    latest = run.latest
    status = STATUS[run.category]
    flags = policy_flags(run, gate.policy) if status == "passed" else ()
    if flags:
        status = "failed"
    mark = sv.mark(run)
    if mark is not None:  # set aside by the context: never red (see the module doc)
        status = MARK_STATUS[mark]
    test: dict[str, Any] = {
        "name": name,
        "status": status,
        "duration": _duration_ms(latest.duration_seconds),
    }
    if (start := _ms(latest.started_at)) is not None:
        test["start"] = start
    if (stop := _ms(latest.stopped_at)) is not None:
        test["stop"] = stop
    test["suite"] = [suite]
    message, trace = _run_reason(run, name, status, flags, sv, texts)
    if message:
        test["message"] = clean_attr(message, MESSAGE_LIMIT)
    if trace:
        test["trace"] = clean_text(trace)
    test["rawStatus"] = clean_attr(latest.status or "none")
    test["type"] = clean_attr(latest.check_type.lower())
    test["retries"] = len(run.attempts)
    if run.attempts:
        rows = (*run.attempts, latest)
        test["retryAttempts"] = [_attempt(n, r, texts) for n, r in enumerate(rows, 1)]
    test["flaky"] = run.category is Category.FLAKY
    test["extra"] = _run_extra(run, sv, gate, flags)
    return test


def _run_reason(
    run: Run,
    name: str,
    status: str,
    flags: tuple[str, ...],
    sv: SessionVerdict,
    texts: _Texts,
) -> tuple[str, str]:
    """The uncut ``(message, trace)`` of a check run: why policy failed it, why it is broken,
    skipped or pending; both empty for a run that passed."""
    latest = run.latest
    row = facts(run.category)
    where = f" in {latest.run_location}" if latest.run_location else ""
    aside = sv.aside(run)
    if aside is not None:
        failed = f"failed by policy ({', '.join(flags)})" if flags else row.message
        rows = run.failed_attempts if flags else (*run.failed_attempts, latest)
        return f"{aside.says()} ({failed}{where})", texts.trace(rows, name)
    if flags:
        message = f"failed by policy ({', '.join(flags)}): {row.message}{where}"
        return message, texts.trace(run.failed_attempts, name)
    if not (row.broken or status in ("skipped", "pending")):
        return "", ""
    message = row.message + where
    if row.raw:
        message += f" (status {latest.status}, result type {latest.result_type or 'none'})"
    if run.failed_attempts and row.broken:
        message += f" after {len(run.attempts) + 1} attempts"
    message += texts.preview(latest)
    trace = texts.trace((latest,), name) if row.broken else ""
    session = sv.session
    if row.broken and not latest.error_group_ids and session is not None:
        trace = NO_TEXT_CHECK_SESSION if session.kind == "check session" else trace
    return message, trace


def _run_extra(
    run: Run, sv: SessionVerdict, gate: GateRun, flags: tuple[str, ...]
) -> dict[str, Any]:
    """A check run's ``extra``: category, session id and link, result link, location, check
    id, evidence names (never their URLs), the policy flags that failed it."""
    latest = run.latest
    extra: dict[str, Any] = {"category": run.category.value, "sessionId": sv.session_id}
    session_link = sv.session.link if sv.session is not None else None
    for key, value in (
        ("sessionLink", session_link),
        ("resultLink", latest.link),
        ("location", latest.run_location),
        ("checkId", latest.check_id),
    ):
        if value:
            extra[key] = clean_attr(value)
    evidence = gate.evidence.get(latest.result_id)
    if evidence:
        extra["evidence"] = [clean_attr(kind, 100) for kind in evidence]
    if flags:
        extra["policy"] = list(flags)
    aside = sv.aside(run)
    if aside is not None:
        extra["mark"] = aside.mark.value
        if aside.quarantine:
            extra["quarantine"] = {
                key: clean_attr(aside.quarantine.get(key, ""), 300)
                for key in ("check", "owner", "reason", "expires")
            }
    label = gate.label(sv, run)
    if label is not None:
        extra["history"] = {
            "label": label.label,
            "firstSeen": _iso(label.first_seen),
            "lastSeen": _iso(label.last_seen),
            "why": clean_attr(label.why, 300) or None,
        }
    return extra


def _iso(unix: float | None) -> str | None:
    """Unix seconds as ``2026-12-03T10:00:00Z``, or None."""
    if unix is None or not math.isfinite(unix):
        return None
    try:
        moment = datetime.fromtimestamp(unix, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):  # a snapshot's number no date can hold
        return None
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _gate_test(
    outcome: Outcome, exit_code: int, reason: str, suite: str | None, run: GateRun
) -> dict[str, Any]:
    """A test standing for the gate: failed exactly when ``exit_code`` is non-zero."""
    test: dict[str, Any] = {
        "name": GATE_TEST,
        "status": "failed" if exit_code else "skipped",
        "duration": _duration_ms(run.duration_seconds),
    }
    if suite is not None:
        test["suite"] = [suite]
    test["message"] = clean_attr(f"{outcome.title}: {reason}", MESSAGE_LIMIT)
    lines = [reason, f"gate outcome: {run.verdict.outcome.label} (exit code {exit_code})"]
    test["trace"] = clean_text("\n".join([*lines, *run.verdict.warnings]))
    test["rawStatus"] = outcome.label
    test["extra"] = {"gate": True, "outcome": outcome.label, "exitCode": exit_code}
    return test


def document(run: GateRun) -> dict[str, Any]:
    """The CTRF document of a finished gate run as a JSON-ready dict (pure, deterministic)."""
    verdict = run.verdict
    tests, sessions = _tests(run)
    doc: dict[str, Any] = {
        "reportFormat": "CTRF",
        "specVersion": SPEC_VERSION,
    }
    if run.finished_at is not None:
        when = run.finished_at
        when = when.astimezone(timezone.utc) if when.tzinfo else when.replace(tzinfo=timezone.utc)
        doc["timestamp"] = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    doc["generatedBy"] = f"{TOOL_NAME} {__version__}"
    doc["results"] = {
        "tool": {"name": TOOL_NAME, "version": __version__},
        "summary": _summary(run, tests),
        "tests": tests,
        "extra": {
            "outcome": verdict.outcome.label,
            "exitCode": verdict.exit_code,
            "reason": clean_attr(verdict.reason, MESSAGE_LIMIT),
            "sessions": sessions,
            "warnings": [clean_attr(w, MESSAGE_LIMIT) for w in verdict.warnings],
        },
    }
    return doc


def _tests(run: GateRun) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(tests, sessions)``: one test per check run, a gate test where a session (or the
    whole gate) is not green but no test of it failed; one ``sessions`` entry per session."""
    verdict = run.verdict
    texts = _Texts(run)
    tests: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    for sv, suite in zip(verdict.sessions, suite_names(verdict.sessions), strict=True):
        info: dict[str, Any] = {"id": sv.session_id, "name": suite, "outcome": sv.outcome.label}
        if sv.session is not None and sv.session.link:
            info["link"] = clean_attr(sv.session.link)
        sessions.append(info)
        if sv.session is None:
            tests.append(_gate_test(sv.outcome, sv.outcome.code, sv.reason, suite, run))
            continue
        mine = [
            _run_test(r, name, suite, sv, run, texts)
            for r, name in zip(sv.runs, case_names(sv.runs), strict=True)
        ]
        tests += mine
        if not sv.outcome.green and not any(t["status"] == "failed" for t in mine):
            tests.append(_gate_test(sv.outcome, sv.outcome.code, sv.reason, suite, run))
    if not tests or (verdict.exit_code != 0 and not any(t["status"] == "failed" for t in tests)):
        tests.append(_gate_test(verdict.outcome, verdict.exit_code, verdict.reason, None, run))
    return tests, sessions


def _summary(run: GateRun, tests: list[dict[str, Any]]) -> dict[str, Any]:
    """The CTRF summary, counted from ``tests`` (so it cannot disagree with them); times in
    ms since the epoch, a missing start or stop filled from the other and the duration."""
    start = _ms(run.started_at)
    stop = _ms(run.finished_at)
    if start is None:
        start = stop if stop is not None else 0
    if stop is None:
        stop = start + _duration_ms(run.duration_seconds)
    summary: dict[str, Any] = {"tests": len(tests)}
    summary.update({s: sum(1 for t in tests if t["status"] == s) for s in STATUSES})
    summary["flaky"] = sum(1 for t in tests if t.get("flaky"))
    summary["suites"] = len(run.verdict.sessions)
    summary["start"] = start
    summary["stop"] = max(start, stop)
    summary["duration"] = (
        _duration_ms(run.duration_seconds) if run.duration_seconds is not None else stop - start
    )
    summary["extra"] = {"counts": run.verdict.counts.as_dict()}
    return summary


def _text(doc: dict[str, Any]) -> str:
    # One test per line: diffable and greppable, a third of the size of an indented document.
    results = doc["results"]
    head = {k: v for k, v in doc.items() if k != "results"}
    parts = [json.dumps(head, ensure_ascii=False)[:-1], ', "results": {']
    parts.append(
        ", ".join(
            f'"{k}": {json.dumps(v, ensure_ascii=False)}'
            for k, v in results.items()
            if k != "tests"
        )
    )
    tests = ",\n".join(json.dumps(t, ensure_ascii=False) for t in results["tests"])
    parts.append(f', "tests": [\n{tests}\n]}}}}\n')
    return "".join(parts)


def render(run: GateRun, max_bytes: int = MAX_BYTES) -> str:
    """The CTRF JSON text of a finished gate run (pure and deterministic), UTF-8 safe.

    At most ``max_bytes`` UTF-8 bytes where the document without error texts fits: a larger
    one loses its traces and retry attempts and says so (``results.extra.reportCut``)."""
    doc = document(run)
    text = _text(doc)
    if len(text.encode("utf-8")) <= max_bytes:
        return text
    for test in doc["results"]["tests"]:
        test.pop("trace", None)
        test.pop("retryAttempts", None)
    doc["results"]["extra"]["reportCut"] = (
        f"report cut to fit its size budget ({max_bytes} bytes): no traces or retry attempts"
    )
    return _text(doc)

"""Progress lines for the log: printed only when something changed, never one per poll.

``render_*`` functions are pure (data in, text out); ``Progress`` remembers what was already
announced so each finished check is reported once. No ANSI colour unless asked for, because CI
logs and files garble escape sequences.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Callable
from typing import TextIO

from checkly_gate.models import Session
from checkly_gate.outcomes import NO_TEXT_CHECK_SESSION, Category, facts
from checkly_gate.reports import GateRun
from checkly_gate.reports.evidence import evidence_line
from checkly_gate.schedule import heartbeat_due
from checkly_gate.text import link, one_line
from checkly_gate.verdict import Counts, Run, Verdict, count_runs, group_runs

log = logging.getLogger("checkly_gate")


#: Columns a terminal line may take (a link has a line of its own and is never cut).
WIDTH = 100
LINK_INDENT = "    "


def paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def columns(text: str) -> int:
    """Terminal columns of ``text`` (no escapes): wide and full-width characters take two,
    combining marks none."""
    return sum(_width(c) for c in text)


def _width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def fit(text: str, width: int = WIDTH) -> str:
    """``text`` cut to ``width`` columns, ending in "…" when cut (never wraps at ``width``)."""
    if columns(text) <= width:
        return text
    out, used = [], 0
    for char in text:
        w = _width(char)
        if used + w > width - 1:
            break
        out.append(char)
        used += w
    return "".join(out).rstrip() + "…"


def wrap(text: str, width: int = WIDTH, indent: str = "  ") -> list[str]:
    """``text`` folded at spaces into lines of at most ``width`` columns, the later ones
    indented, so a terminal never wraps it and nothing is cut. A word wider than a line (a URL)
    stands on a line of its own, whole."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else (indent if lines else "") + word
        if current and columns(candidate) > width:
            lines.append(current)
            current = indent + word
        else:
            current = candidate
    lines.append(current)
    return lines


def _link_line(url: str | None) -> list[str]:
    """A result link on a line of its own (a URL is never cut), or nothing."""
    return [LINK_INDENT + url] if url else []


def render_header(session: Session) -> list[str]:
    """``Following test session 'Name' (RUNNING):`` and its link on a line of its own."""
    url = link(session.link)
    status = one_line(str(session.status), 40)
    head = f"Following {session.kind} '{one_line(session.display_name)}' ({status})"
    if not url:
        return [fit(head)]
    return [fit(head + ":", WIDTH), *_link_line(url)]


def render_counts(counts: Counts, status: str, elapsed: float) -> str:
    extra = (
        (counts.pending, "running"),
        (counts.failing, "failed"),
        (counts.flaky, "flaky"),
        (counts.degraded, "degraded"),
        (counts.skipped, "skipped"),
    )
    parts = [f"{counts.finished}/{counts.total} finished"]
    parts += [f"{n} {word}" for n, word in extra if n]
    return f"[{elapsed:6.1f}s] {one_line(str(status), 40)}: " + " · ".join(parts)


def render_run(run: Run, colour: bool = False) -> list[str]:
    """``  ✗ FAILED   API        Name · location · 2 attempts`` (at most ``WIDTH`` columns),
    and for a run that is not a plain pass its result link on a line of its own."""
    category = run.category
    result = run.latest
    row = facts(category)
    word = f"{row.glyph} {row.label.upper():<8}"
    kind = one_line(str(result.check_type), 40)
    bits = [f"{kind:<10}", one_line(run.name)]
    if result.run_location:
        bits.append(f"· {one_line(result.run_location, 40)}")
    if run.failed_attempts:
        bits.append(f"· {len(run.failed_attempts) + 1} attempts")
    rest = fit(" ".join(bits), WIDTH - 3 - columns(word))
    lines = [f"  {paint(word, row.colour, colour)} {rest}"]
    if category is not Category.PASSED:
        lines += _link_line(link(result.link))
    return lines


def render_verdict(verdict: Verdict, colour: bool = False) -> list[str]:
    """The verdict line (folded at ``WIDTH`` columns, so a terminal never wraps it; the runs that
    failed the gate follow, one a line, in ``render_explanations``), then warnings (folded too)
    and unfinished runs."""
    code = "32" if verdict.exit_code == 0 else "31"
    head = f"{verdict.outcome.label.upper()} (exit {verdict.exit_code})"
    first, *rest = wrap(f"{head}: {one_line(verdict.reason, 400)}")
    lines = [paint(head, code, colour) + first[len(head) :], *rest]
    for warning in verdict.warnings:
        lines += wrap(f"warning: {one_line(warning, 400)}")
    for session in verdict.sessions:
        for run in session.unfinished:
            if session.session is not None and session.session.is_final:
                lines.append(fit(f"  unfinished: {one_line(run.name)}"))
    return lines


def render_explanations(run: GateRun, limit: int = 10) -> list[str]:
    """Per run that failed the gate (at most ``limit``): its name, location and why in the
    user's words (``outcomes``) with its history label (``GateRun.label``), the first line of
    its error text (or, in a check session, that Checkly gives none), its evidence, and its
    result link on a line of its own; then per run the context set aside (at most ``limit``)
    its mark's line (``verdict.SetAside.says``: owner, expiry and reason, or the label)."""
    lines: list[str] = []
    failing = [(sv, item) for sv in run.verdict.sessions for item in sv.failing]
    for sv, item in failing[:limit]:
        row = sv.row(item)
        flags = sv.policy_hits(item)
        why = row.message + (f", failed by {' and '.join(flags)}" if flags else "")
        label = run.label(sv, item)
        why += f" · {label.text()}" if label is not None else ""
        lines += _folded(f"{row.glyph} {one_line(item.name)}{_where(item)}: {why}")
        texts = [run.error_messages[g] for g in item.error_group_ids if g in run.error_messages]
        if texts:
            lines.append(fit(f"{LINK_INDENT}why: {one_line(texts[0], 300)}"))
        elif sv.session is not None and sv.session.kind == "check session":
            lines.append(fit(f"{LINK_INDENT}{NO_TEXT_CHECK_SESSION}:"))
        if evidence := evidence_line(run.evidence, item):
            lines.append(fit(f"{LINK_INDENT}{evidence}"))
        lines += _link_line(link(item.latest.link))
    if len(failing) > limit:
        lines.append(f"  … and {len(failing) - limit} more, see the reports")
    return lines + render_set_aside(run, limit)


def _folded(text: str) -> list[str]:
    """``text`` as a run's lines: indented two columns, folded (``wrap``), never cut."""
    return [f"  {line}" for line in wrap(text, WIDTH - 2, indent="    ")]


def _where(run: Run) -> str:
    location = run.latest.run_location
    return f" · {one_line(location, 40)}" if location else ""


def render_set_aside(run: GateRun, limit: int = 10) -> list[str]:
    """Per run the context set aside (at most ``limit``): its mark's glyph (``outcomes.MARK``),
    name, location and ``SetAside.says`` (folded, never cut), and its result link."""
    lines: list[str] = []
    aside = [(sv, item, a) for sv in run.verdict.sessions for item, a in sv.aside_runs]
    for sv, item, found in aside[:limit]:
        row = sv.row(item)
        lines += _folded(f"{row.glyph} {one_line(item.name)}{_where(item)}: {found.says()}")
        lines += _link_line(link(item.latest.link))
    if len(aside) > limit:
        lines.append(f"  … and {len(aside) - limit} more set aside, see the reports")
    return lines


class Progress:
    """Prints one line when something changes. Thread-safe (one follower thread per session)."""

    def __init__(
        self,
        out: TextIO,
        clock: Callable[[], float],
        colour: bool = False,
        quiet: bool = False,
        several: bool = False,
    ) -> None:
        self._out = out
        self._clock = clock
        self._started = clock()
        self._colour = colour
        self._quiet = quiet
        self._several = several
        self._lock = threading.Lock()
        self._seen_sessions: set[str] = set()
        self._announced: dict[str, set[str]] = {}
        self._last_counts: dict[str, tuple[str, Counts]] = {}
        self._last_beat = self._started

    def line(self, text: str) -> None:
        if self._quiet:
            return
        with self._lock:
            try:
                self._out.write(text + "\n")
                self._out.flush()
            except (OSError, ValueError):
                pass  # output never changes the verdict (a closed or unencodable stream)

    def update(self, session: Session) -> None:
        """Called after every successful read of a session. Never raises: showing progress
        must not end following a session, nor turn into "API trouble"."""
        try:
            with self._lock:  # followers call this from their threads; ``heartbeat`` reads too
                lines = self._update(session)
        except Exception as exc:
            log.debug("progress line not shown: %s: %s", type(exc).__name__, exc)
            return
        for text in lines:  # outside the lock: ``line`` takes it
            self.line(text)

    def _update(self, session: Session) -> list[str]:
        runs = group_runs(session.results)
        counts = count_runs(runs)
        prefix = f"[{one_line(session.display_name, 40)}] " if self._several else ""
        lines: list[str] = []
        sid = session.session_id
        if sid not in self._seen_sessions:
            self._seen_sessions.add(sid)
            lines += render_header(session)
        announced = self._announced.setdefault(sid, set())
        for run in runs:
            if run.final is None:
                continue
            key = run.final.result_id
            if key in announced:
                continue
            announced.add(key)
            lines += render_run(run, self._colour)
        state = (session.status, counts)
        if self._last_counts.get(sid) != state:
            self._last_counts[sid] = state
            lines.append(
                prefix + render_counts(counts, session.status, self._clock() - self._started)
            )
        return lines

    def heartbeat(self, deadline: float) -> None:
        """Print one "still waiting" line when ``schedule.HEARTBEAT_EVERY`` seconds passed since
        the last one, so a long wait never looks hung in a CI log. Call it often (the main
        thread does, between joins); it decides. ``deadline``: monotonic, same clock."""
        now = self._clock()
        if not heartbeat_due(self._last_beat, now):
            return
        self._last_beat = now
        with self._lock:
            states = list(self._last_counts.values())
        self.line(render_heartbeat(states, now - self._started, deadline - now))


def render_heartbeat(states: list[tuple[str, Counts]], elapsed: float, left: float) -> str:
    """``[ 120.0s] still waiting: RUNNING · 3/9 finished · 28m00s left before the deadline``.

    ``states``: (session status, counts) of every session read so far, as last read; several
    sessions are summed. ``elapsed``/``left``: seconds since the start / until the deadline.
    """
    if states:
        statuses = ", ".join(dict.fromkeys(status for status, _ in states))
        finished = sum(counts.finished for _, counts in states)
        total = sum(counts.total for _, counts in states)
        several = f"{len(states)} sessions " if len(states) > 1 else ""
        seen = f"{several}{one_line(statuses, 80)} · {finished}/{total} finished"
    else:
        seen = "no answer from the API yet"
    minutes, seconds = divmod(max(0, int(left)), 60)
    until = f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
    return f"[{elapsed:6.1f}s] still waiting: {seen} · {until} left before the deadline"

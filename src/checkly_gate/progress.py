"""Progress lines for the log: printed only when something changed, never one per poll.

``render_*`` functions are pure (data in, text out); ``Progress`` remembers what was already
announced so each finished check is reported once. No ANSI colour unless asked for, because CI
logs and files garble escape sequences.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TextIO

from checkly_gate.models import Session
from checkly_gate.outcomes import facts
from checkly_gate.reports import GateRun
from checkly_gate.reports.evidence import evidence_line
from checkly_gate.schedule import heartbeat_due
from checkly_gate.text import link, one_line
from checkly_gate.verdict import Counts, Run, Verdict, count_runs, group_runs

log = logging.getLogger("checkly_gate")


def paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def render_header(session: Session) -> str:
    url = link(session.link)
    status = one_line(str(session.status), 40)
    name = one_line(session.display_name)
    return f"Following {session.kind} '{name}' ({status})" + (f": {url}" if url else "")


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


def render_run(run: Run, colour: bool = False) -> str:
    category = run.category
    result = run.latest
    row = facts(category)
    word = f"{row.glyph} {row.label.upper():<8}"
    kind = one_line(str(result.check_type), 40)
    bits = [paint(word, row.colour, colour), f"{kind:<10}", one_line(run.name)]
    if result.run_location:
        bits.append(f"· {one_line(result.run_location, 40)}")
    if run.failed_attempts:
        bits.append(f"· {len(run.failed_attempts) + 1} attempts")
    if link(result.link):
        bits.append(f"· {link(result.link)}")
    return "  " + " ".join(bits)


def render_verdict(verdict: Verdict, colour: bool = False) -> list[str]:
    code = "32" if verdict.exit_code == 0 else "31"
    head = paint(f"{verdict.outcome.label.upper()} (exit {verdict.exit_code})", code, colour)
    lines = [f"{head}: {one_line(verdict.reason, 400)}"]
    lines += [f"warning: {one_line(w, 400)}" for w in verdict.warnings]
    for session in verdict.sessions:
        for run in session.unfinished:
            if session.session is not None and session.session.is_final:
                lines.append(f"  unfinished: {one_line(run.name)}")
    return lines


def render_explanations(run: GateRun, limit: int = 10) -> list[str]:
    """One line per failed check whose error text was fetched: the log says *why*, too."""
    lines = []
    for session in run.verdict.sessions:
        for item in session.failing:
            texts = [run.error_messages[g] for g in item.error_group_ids if g in run.error_messages]
            location = item.latest.run_location
            where = f" ({one_line(location, 60)})" if location else ""
            if texts:
                lines.append(f"  why {one_line(item.name)}{where}: {one_line(texts[0], 300)}")
            if evidence := evidence_line(run.evidence, item):
                page = link(item.latest.link)
                page = f" · {page}" if page else ""
                lines.append(f"  {one_line(item.name)}{where}: {evidence}{page}")
    if len(lines) > limit:
        lines = [*lines[:limit], f"  … and {len(lines) - limit} more, see the reports"]
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
            self._update(session)
        except Exception as exc:
            log.debug("progress line not shown: %s: %s", type(exc).__name__, exc)

    def _update(self, session: Session) -> None:
        runs = group_runs(session.results)
        counts = count_runs(runs)
        prefix = f"[{one_line(session.display_name, 40)}] " if self._several else ""
        lines: list[str] = []
        sid = session.session_id
        if sid not in self._seen_sessions:
            self._seen_sessions.add(sid)
            lines.append(render_header(session))
        announced = self._announced.setdefault(sid, set())
        for run in runs:
            if run.final is None:
                continue
            key = run.final.result_id
            if key in announced:
                continue
            announced.add(key)
            lines.append(render_run(run, self._colour))
        state = (session.status, counts)
        if self._last_counts.get(sid) != state:
            self._last_counts[sid] = state
            lines.append(
                prefix + render_counts(counts, session.status, self._clock() - self._started)
            )
        for text in lines:
            self.line(text)

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

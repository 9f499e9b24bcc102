"""GitHub-flavoured markdown summary of a gate run (step summary, file, GitLab artifact).

Everything taken from the API or the user (names, locations, messages, reasons, links) is
untrusted: it is escaped so it can neither break the table nor inject HTML, links or emphasis.
The output has a hard size budget in UTF-8 bytes (GitHub refuses step summaries over 1 MiB): when
over it, the least important table rows are dropped first and replaced by a "more rows" line.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from checkly_gate import __version__
from checkly_gate.models import Observation, Session
from checkly_gate.outcomes import (
    CATEGORY,
    MARK,
    NO_TEXT_CHECK_SESSION,
    Category,
    CategoryFacts,
    Mark,
    count_parts,
    facts,
)
from checkly_gate.reports import GateRun
from checkly_gate.reports.evidence import Evidence, evidence_line
from checkly_gate.text import strip_ansi
from checkly_gate.verdict import Counts, Run, SessionVerdict

DEFAULT_BUDGET = 900 * 1024

NAME_LIMIT = 200  # characters of a name, location or type before "…"
TEXT_LIMIT = 1000  # characters of a reason or warning
MESSAGE_CHARS = 4000  # characters of one error message
MESSAGE_LINES = 80  # lines of one error message
LIST_LIMIT = 50  # names listed for unfinished checks / checks hit by an error
WARNING_LIMIT = 20  # warnings shown per session
DETAILS_AFTER = 5  # more rows that passed the gate than this go inside <details>
FIRST_SCREEN = 10  # runs that failed the gate named under the heading

BREAK_EVERY = 20  # characters between break opportunities in a long unbroken word
LONG_WORD = 30  # words longer than this get break opportunities
ZWSP = "\u200b"  # zero-width space: a line-break opportunity, and it stops GitHub's autolinker

# Display order: Category is declared worst first, which is the order the table wants.
_ORDER = {category: index for index, category in enumerate(Category)}
_ERROR_BLOCK_TIER = 3  # error blocks are given up between flaky/degraded rows and failures

_HEADER = "| Result | Check | Type | Location | Duration | Attempts | Link |"
_DELIMITER = "| --- | --- | --- | --- | ---: | ---: | --- |"

# C0/C1 controls and DEL (tab and newline handled separately), bidi overrides, lone surrogates.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s+")
# What cmark-gfm's autolink extension turns into a link *before* entities and backslash escapes
# are decoded (so ``&amp;`` and ``\_`` would show, and the href breaks): a scheme's ``://``, a
# ``www.`` and the ``@`` of an e-mail address. A zero-width space inside each stops it.
_AUTOLINK = re.compile(r"(?<=:)(?=//)|(?i:(?<=www))(?=\.)|(?=@)")
# A hyphen is a break opportunity already (browsers wrap after it), so ids such as UUIDs stay
# whole and copyable.
_LONG_WORD = re.compile(rf"[^\s{ZWSP}-]{{{LONG_WORD + 1},}}")
# Characters that mean something to markdown (or GitHub's math) inside a line: backslash-escaped.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_~\[\]()!#|$])")
_BACKTICKS = re.compile(r"`+")
# A name of letters and digits in words joined by one space, hyphen or comma: markdown gives it
# no meaning anywhere (no autolink without ``:``, ``.`` or ``@``), so it needs no code span.
_INERT = re.compile(r"[^\W_]+(?:[ ,-][^\W_]+)*")
_SAFE_URL_CHARS = "-._~:/?#[]@!$&'*+,;=%"
_URL_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f]")  # not allowed in a link destination


# --- escaping -----------------------------------------------------------------------------------


def _strip_controls(text: str) -> str:
    """Remove ANSI escapes and control characters; newlines become ``\\n``, tabs stay."""
    text = strip_ansi(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def _text(value: object, limit: int = NAME_LIMIT, empty: str = "–") -> str:
    """Untrusted text as one inert markdown line: no HTML, no links, no emphasis, no table cells.

    Control characters and ANSI escapes are removed, whitespace (including newlines) collapses to
    one space, long text is truncated, autolinks are broken and long words made breakable
    (``_breakable``), ``<>&`` become entities and markdown punctuation (and ``|``) is
    backslash-escaped.
    """
    if value is None:
        return empty
    text = _WHITESPACE.sub(" ", _strip_controls(str(value))).strip()
    if not text:
        return empty
    text = _breakable(_truncate(text, limit))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _code(value: object, limit: int = NAME_LIMIT, cell: bool = False, empty: str = "–") -> str:
    """An untrusted name as a code span: shown and copied exactly as written, never markdown.

    Inside a code span nothing is markup (no emphasis, link, HTML, entity or autolink), so the
    name needs no escapes and no invisible characters. The fence is one backtick longer than
    any run of backticks in the name, padded with a space on each side (which the renderer
    strips again, so a name may start or end with a backtick). Whitespace runs and newlines
    fold to one space, controls are removed, a long name is cut with "…". In a table ``cell``
    every ``|`` becomes ``\\|``: GFM splits cells before code spans and un-escapes exactly that.
    A name of plain words (``_INERT``: "Login API") means nothing to markdown and stays plain.
    """
    if value is None:
        return empty
    text = _WHITESPACE.sub(" ", _strip_controls(str(value))).strip()
    if not text:
        return empty
    text = _truncate(text, limit)
    if _INERT.fullmatch(text):  # words only: nothing to mean, shown as plain text
        return text
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    if cell:
        text = text.replace("|", "\\|")
    return f"{fence} {text} {fence}"


def _breakable(text: str) -> str:
    """Untrusted text that GitHub cannot autolink and that wraps: a zero-width space in every
    ``://``, ``www.`` and ``@``, and every ``BREAK_EVERY`` characters of a long unbroken word."""
    text = _AUTOLINK.sub(ZWSP, text)

    def split(match: re.Match[str]) -> str:
        word = match.group(0)
        return ZWSP.join(word[i : i + BREAK_EVERY] for i in range(0, len(word), BREAK_EVERY))

    return _LONG_WORD.sub(split, text)


def _paragraph(value: object, limit: int = TEXT_LIMIT) -> str:
    """Like ``_text``, and also safe at the start of a line (no list item or thematic break)."""
    text = _text(value, limit)
    match = re.match(r"\d{1,9}\.", text)
    if match:
        return text[: match.end() - 1] + "\\" + text[match.end() - 1 :]
    if text[:1] in ("-", "+", "="):
        return "\\" + text
    return text


def _url(value: object) -> str | None:
    """An http(s) URL fit for a markdown link destination, else ``None``."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url.lower().startswith(("http://", "https://")) or len(url) > 2048:
        return None
    if _URL_CONTROL.search(url):
        return None
    if len(url.split("/", 3)[2]) == 0:  # "https:///path": no host
        return None
    try:
        return quote(url, safe=_SAFE_URL_CHARS)
    except UnicodeEncodeError:  # lone surrogates
        return None


def _link(label: str, url: object, fallback: str | None = None) -> str:
    """``[label](url)`` for http(s) URLs, else ``fallback`` (default: the escaped label)."""
    safe = _url(url)
    if safe:
        return f"[{label}]({safe})"
    return label if fallback is None else fallback


def _fenced(text: str) -> str:
    """A fenced code block no line of ``text`` can close early."""
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def _message(value: str) -> str:
    """An error message for a code block: controls stripped, lines and length capped."""
    text = _strip_controls(value).expandtabs(4)
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    cut = len(lines) > MESSAGE_LINES
    text = "\n".join(lines[:MESSAGE_LINES])
    if len(text) > MESSAGE_CHARS:
        text, cut = text[:MESSAGE_CHARS], True
    return text + ("\n…" if cut and text else "")


# --- formatting ---------------------------------------------------------------------------------


def _duration(seconds: float | None) -> str:
    """Human-readable duration: ``420 ms``, ``2.5 s``, ``1 m 03 s``, ``2 h 05 m``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    if seconds < 0.9995:
        return f"{round(seconds * 1000)} ms"
    tenths = round(seconds * 10)
    if tenths < 600:
        whole, tenth = divmod(tenths, 10)
        return f"{whole} s" if tenth == 0 else f"{whole}.{tenth} s"
    total = round(seconds)
    if total < 3600:
        return f"{total // 60} m {total % 60:02d} s"
    return f"{total // 3600} h {total % 3600 // 60:02d} m"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _status_line(counts: Counts) -> str:
    """``❌ 1 failed (1 by policy) · ✅ 7 passed · 🔁 1 flaky``: ``outcomes.count_parts``, the
    words and numbers of every other report."""
    return " · ".join(f"{row.emoji} {text}" for row, text in count_parts(counts))


def _run_name(run: Run) -> str:
    location = run.latest.run_location
    name = _code(run.name)
    return f"{name} ({_text(location)})" if location else name


def _why_failed(run: Run, flags: Sequence[str]) -> str:
    """Why ``run`` failed the gate, in the user's words (``outcomes.CATEGORY`` messages), with
    the policy flags that failed it (``SessionVerdict.policy_hits``)."""
    if flags:
        return f"{facts(run.category).message}, failed by {' and '.join(flags)}"
    return facts(run.category).message


def _name_list(runs: Sequence[Run], limit: int = LIST_LIMIT) -> str:
    names = ", ".join(_run_name(run) for run in runs[:limit])
    more = len(runs) - limit
    return names + (f" and {more} more" if more > 0 else "")


def _session_duration(session: Session) -> float | None:
    if session.time_elapsed_ms is not None:
        return session.time_elapsed_ms / 1000.0
    if session.started_at and session.stopped_at:
        return (session.stopped_at - session.started_at).total_seconds()
    return None


def _row(
    run: Run,
    evidence: Evidence | None = None,
    flags: Sequence[str] = (),
    drawn: CategoryFacts | None = None,
    note: str = "",
) -> str:
    """One table row: ``drawn`` is the facts row of the run (``SessionVerdict.row``: its
    mark's when set aside), ``note`` what follows it (the history label, the mark's text)."""
    latest = run.latest
    drawn = drawn or facts(run.category)
    policy = f", failed by {' and '.join(flags)}" if flags and drawn.broken else ""
    cells = (
        f"{drawn.emoji} {drawn.label}{policy}" + (f" · {_text(note)}" if note else ""),
        _code(run.name, cell=True),
        _text(latest.check_type),
        _text(latest.run_location),
        _duration(latest.duration_seconds),
        str(1 + len(run.failed_attempts)),
        _link("result", latest.link, fallback="–") + _after(evidence_line(evidence or {}, run)),
    )
    return "| " + " | ".join(cells) + " |"


def _after(text: str) -> str:
    """`` · text`` after a table cell's link, or ""."""
    return f" · {_text(text)}" if text else ""


def _note(gate: GateRun, sv: SessionVerdict, run: Run) -> str:
    """What follows a run's Result words: the text of its mark when the context set it aside
    (owner, expiry; the history label), else its history label, else ""."""
    aside = sv.aside(run)
    if aside is not None:
        return aside.text
    label = gate.label(sv, run)
    return label.text() if label is not None else ""


def _more_rows(n: int) -> str:
    return f"_{n} more {'row' if n == 1 else 'rows'}, see the JUnit report._"


# --- document model -----------------------------------------------------------------------------
# The document is rendered from pre-escaped pieces; trimming to the budget only decides which
# row lines and error blocks are left out, so each attempt is a cheap join.


@dataclass(slots=True)
class _Row:
    key: int
    category: Category
    run: Run
    fails: bool  # failed the gate (``SessionVerdict.fails``): shown first, never folded away
    flags: tuple[str, ...]  # the policy flags that failed it (``SessionVerdict.policy_hits``)
    drawn: CategoryFacts  # ``SessionVerdict.row``: its mark's row when the context set it aside
    note: str = ""  # the history label or the mark's text, after the Result cell's words
    line: str = ""  # rendered by ``_render_rows``: only rows that can fit the budget are


@dataclass
class _Section:
    head: list[str]  # blocks before the table
    rows: list[_Row]  # in display order
    errors: list[tuple[int, str]] = field(default_factory=list)  # (key, block)
    passed_total: int = 0


@dataclass
class _Document:
    head: list[str]
    sections: list[_Section]
    footer: str


def _warnings(warnings: Sequence[str]) -> str:
    lines = ["> **⚠️ Warnings**", ">"]
    lines += [f"> - {_text(w, TEXT_LIMIT)}" for w in warnings[:WARNING_LIMIT]]
    more = len(warnings) - WARNING_LIMIT
    if more > 0:
        lines.append(f"> - and {more} more")
    return "\n".join(lines)


def _meta_line(sv: SessionVerdict) -> str | None:
    session = sv.session
    if session is None:
        return None
    parts = []
    # A session read last while running has no duration yet (its timeElapsed is of that read).
    duration = _session_duration(session) if session.is_final else None
    if duration is not None:
        parts.append(f"**Duration:** {_duration(duration)}")
    meta = session.metadata
    if meta.environment:
        parts.append(f"**Environment:** {_text(meta.environment)}")
    if meta.branch_name:
        parts.append(f"**Branch:** {_text(meta.branch_name)}")
    if meta.commit_id:
        parts.append(f"**Commit:** {_text(meta.commit_id.strip()[:7])}")
    return " · ".join(parts) or None


def _unknown_section(sv: SessionVerdict, obs: Observation | None) -> str:
    """What is known about a session that timed out, was refused or could not be read."""
    title = f"{sv.outcome.emoji} {sv.outcome.title}"
    if sv.session is None:
        title += " (session not read)"
    lines = [f"#### {title}", "", f"- **Reason:** {_text(sv.reason, TEXT_LIMIT)}"]
    status = sv.session.status if sv.session else None
    lines.append(f"- **Last known status:** {_text(status) if status else 'never read'}")
    if obs is not None:
        lines.append(f"- **Stopped:** {_text(obs.stop.value)}")
        if obs.error:
            current = " (still failing at the end)" if obs.error_is_current else ""
            lines.append(f"- **Last API error:** {_text(obs.error, TEXT_LIMIT)}{current}")
    if sv.session is not None:
        counts = sv.counts
        lines.append(f"- **Finished:** {counts.finished}/{counts.total} results")
        unfinished = sv.unfinished
        if unfinished:
            lines.append(f"- **Unfinished:** {_name_list(unfinished)}")
    return "\n".join(lines)


def _error_blocks(
    sv: SessionVerdict, runs: Sequence[Run], messages: dict[str, str], keys: Iterator[int]
) -> list[tuple[int, str]]:
    """One fenced block per distinct error message of the runs that failed the gate (a flaky
    run failed by policy: of its failed attempts), naming its checks."""
    hits: dict[str, list[Run]] = {}
    for run in runs:
        if not sv.fails(run):
            continue
        for group_id in run.error_group_ids:
            raw = messages.get(group_id)
            if not isinstance(raw, str):
                continue
            text = _message(raw)
            if not text:
                continue
            hit = hits.setdefault(text, [])
            if run not in hit:
                hit.append(run)
    return [
        (next(keys), f"Hit by {_name_list(hit)}:\n\n{_fenced(text)}") for text, hit in hits.items()
    ]


def _model(run: GateRun) -> _Document:
    verdict = run.verdict
    several = len(verdict.sessions) > 1
    head = [
        f"## {verdict.outcome.emoji} Checkly: {verdict.outcome.label} (exit {verdict.exit_code})",
        _headline(run, [(sv, r) for sv in verdict.sessions for r in sv.failing]),
        *_set_aside_lists(verdict.sessions),
    ]
    if several:
        head.append(f"{_status_line(verdict.counts)} · {len(verdict.sessions)} sessions")
    session_warnings = {w for sv in verdict.sessions for w in sv.warnings}
    extra = [w for w in verdict.warnings if w not in session_warnings]
    if extra:
        head.append(_warnings(extra))

    observations = {obs.session_id: obs for obs in run.observations}
    row_keys = itertools.count()  # one key per row and per error block, for trimming
    sections = [
        _session_section(run, sv, observations.get(sv.session_id), several, row_keys)
        for sv in verdict.sessions
    ]

    footer = [f"checkly-gate {__version__}", _plural(run.requests, "API request")]
    if run.duration_seconds is not None:
        footer.append(_duration(run.duration_seconds))
    return _Document(head, sections, f"<sub>{' · '.join(footer)}</sub>")


def _session_section(
    run: GateRun,
    sv: SessionVerdict,
    obs: Observation | None,
    several: bool,
    row_keys: Iterator[int],
) -> _Section:
    """One session's heading, status and warning blocks, its rows (runs that failed the gate
    first, then worst first; stable: API order kept) and its error blocks."""
    session = sv.session
    name = _code(session.display_name if session else sv.session_id)
    title = _link(name, session.link if session else None)
    if several:
        block = [
            f"### {sv.outcome.emoji} {title} · {sv.outcome.label} (exit {sv.outcome.value})",
            _paragraph(sv.reason),
        ]
    else:
        block = [f"### {title}"]
    if session is not None:
        block.append(_status_line(sv.counts))
    meta = _meta_line(sv)
    if meta:
        block.append(meta)
    if sv.warnings:
        block.append(_warnings(sv.warnings))
    if session is None or sv.outcome.partial:
        block.append(_unknown_section(sv, obs))
    runs = sorted(sv.runs, key=lambda r: (not sv.fails(r), _ORDER[r.category]))
    rows = [
        _Row(
            next(row_keys),
            r.category,
            r,
            sv.fails(r),
            sv.policy_hits(r),
            sv.row(r),
            _note(run, sv, r),
        )
        for r in runs
    ]
    errors = _error_blocks(sv, runs, run.error_messages, row_keys)
    passed_total = sum(1 for row in rows if _folds(row))
    return _Section(block, rows, errors, passed_total)


def _table(lines: Sequence[str]) -> list[str]:
    """A table block: its lines (``_join`` puts them together)."""
    return [_HEADER, _DELIMITER, *lines]


def _folds(row: _Row) -> bool:
    """A plain pass: these fold into ``<details>`` when there are more than ``DETAILS_AFTER``
    (flaky and degraded runs stay in sight, as warnings)."""
    return not row.fails and row.category is Category.PASSED


def _headline(gate: GateRun, failing: Sequence[tuple[SessionVerdict, Run]]) -> str:
    """Under the heading, on the first screen: what made the gate fail and why. With runs that
    failed the gate, a list of them (name as written, why in the user's words, the history
    label, result link); else the verdict's reason."""
    if not failing:
        return _paragraph(gate.verdict.reason)
    lines = [f"**{_plural(len(failing), 'check run')} failed the gate:**", ""]
    for sv, run in failing[:FIRST_SCREEN]:
        link = _link("result", run.latest.link, fallback="")
        why = _why_failed(run, sv.policy_hits(run)) + _after(_note(gate, sv, run))
        lines.append(
            f"- {facts(run.category).emoji} {_run_name(run)}: {why}"
            + (f" · {link}" if link else "")
        )
    more = len(failing) - FIRST_SCREEN
    if more > 0:
        lines.append(f"- and {more} more, in the table below")
    if any(
        sv.session is not None and sv.session.kind == "check session" and not r.error_group_ids
        for sv, r in failing
    ):
        lines += ["", f"_{NO_TEXT_CHECK_SESSION}._"]
    return "\n".join(lines)


#: The lists of set-aside runs, one per mark, in this order: heading and what it means.
_ASIDE_LISTS = (
    (Mark.QUARANTINED, "Quarantined", "failed, do not fail the gate until their entry expires"),
    (Mark.KNOWN, "Known failures", "failed before this session, do not fail it (--fail-on new)"),
)


def _set_aside_lists(sessions: Sequence[SessionVerdict]) -> list[str]:
    """On the first screen, one list per mark (``outcomes.MARK``) of the runs the context set
    aside: name, location, then the owner, expiry and reason of the quarantine entry or the
    history label (``SetAside.text``), and the result link; at most ``FIRST_SCREEN`` each."""
    blocks = []
    for mark, title, meaning in _ASIDE_LISTS:
        found = [(r, a) for sv in sessions for r, a in sv.aside_runs if a.mark is mark]
        if not found:
            continue
        row = MARK[mark]
        lines = [f"**{row.emoji} {title} ({len(found)}):** {_text(meaning)}", ""]
        for run, aside in found[:FIRST_SCREEN]:
            link = _link("result", run.latest.link, fallback="")
            said = f"- {_run_name(run)}: {_text(aside.text, TEXT_LIMIT)}"
            lines.append(said + (f" · {link}" if link else ""))
        if len(found) > FIRST_SCREEN:
            lines.append(f"- and {len(found) - FIRST_SCREEN} more, in the table below")
        blocks.append("\n".join(lines))
    return blocks


def _join(blocks: Sequence[str | list[str]]) -> str:
    """``"\\n\\n".join`` of the blocks (a table's lines joined by ``"\\n"``) and a final newline,
    joined once: a summary near its budget is ~4 MB of text in memory, every copy counts."""
    parts: list[str] = []
    for block in blocks:
        if parts:
            parts.append("\n\n")
        if isinstance(block, str):
            parts.append(block)
            continue
        for line in block:
            parts += (line, "\n")
        parts.pop()
    parts.append("\n")
    return "".join(parts)


def _assemble(doc: _Document, kept: set[int] | None = None) -> str:
    """The document with the rows and error blocks whose keys are in ``kept`` (all: ``None``)."""
    blocks: list[str | list[str]] = list(doc.head)
    for section in doc.sections:
        blocks += section.head
        rows = [row for row in section.rows if kept is None or row.key in kept]
        others = [row.line for row in rows if not _folds(row)]
        passed = [row.line for row in rows if _folds(row)]
        if section.passed_total > DETAILS_AFTER and passed:
            if others:
                blocks.append(_table(others))
            shown = len(passed)
            summary = (
                f"{shown} passed"
                if shown == section.passed_total
                else f"{shown} of {section.passed_total} passed"
            )
            blocks += [f"<details><summary>{summary}</summary>", _table(passed), "</details>"]
        elif rows:
            blocks.append(_table(others + passed))
        missing = len(section.rows) - len(rows)
        if missing:
            blocks.append(_more_rows(missing))
        errors = [block for key, block in section.errors if kept is None or key in kept]
        if errors:
            blocks.append("#### Error messages")
            blocks += errors
        missing = len(section.errors) - len(errors)
        if missing:
            blocks.append(f"_{_plural(missing, 'more error message')} left out for size._")
    blocks.append(doc.footer)
    return _join(blocks)


def _drop_order(doc: _Document) -> list[int]:
    """Keys in the order they are given up: passed rows first, failures last; later rows first."""
    items: list[tuple[int, int, int]] = []  # (tier, -position, key)
    position = 0
    top = max(row.tier for row in CATEGORY.values())
    for section in doc.sections:
        for row in section.rows:
            items.append((top if row.fails else row.drawn.tier, -position, row.key))
            position += 1
        for key, _block in section.errors:
            items.append((_ERROR_BLOCK_TIER, -position, key))
            position += 1
    return [key for _tier, _pos, key in sorted(items)]


def _render_rows(doc: _Document, order: list[int], evidence: Evidence, budget: int) -> int:
    """Render row lines, most important first (``order`` backwards), until they alone exceed
    ``budget``; returns how many items at the start of ``order`` every fitting summary drops."""
    rows = {row.key: row for section in doc.sections for row in section.rows}
    size = 0
    for index in range(len(order) - 1, -1, -1):
        row = rows.get(order[index])
        if row is None:  # an error block: rendered already
            continue
        row.line = _row(row.run, evidence, row.flags, row.drawn, row.note)
        size += len(row.line)
        if size > budget:
            return index + 1
    return 0


def _fits(text: str, budget: int) -> bool:
    if len(text) > budget:  # a character is at least one byte: no need to encode a long text
        return False
    return len(text.encode("utf-8")) <= budget


def _cut(text: str, budget: int) -> str:
    """Last resort: the longest prefix of whole lines (else characters) within the budget."""
    data = text.encode("utf-8")[: max(0, budget)]
    newline = data.rfind(b"\n")
    if newline >= 0:
        data = data[: newline + 1]
    return data.decode("utf-8", errors="ignore")


def render(run: GateRun, budget_bytes: int = DEFAULT_BUDGET) -> str:
    """The markdown summary of ``run``, at most ``budget_bytes`` UTF-8 bytes long.

    Pure and deterministic. Over budget, rows are dropped passed first, then skipped/unfinished,
    flaky/degraded, error messages and failures last, each replaced by a "more rows" line.
    """
    doc = _model(run)
    order = _drop_order(doc)
    # Every candidate keeps the rows at the end of ``order``; one whose kept rows alone (characters:
    # at least one byte each) exceed the budget cannot fit, so it is neither built nor are its
    # less important rows rendered (for 30,000 rows: 1 s and three copies of ~15 MB).
    must_drop = _render_rows(doc, order, run.evidence, budget_bytes)
    if must_drop == 0:
        text = _assemble(doc)
        if _fits(text, budget_bytes):
            return text
    # Smallest number of dropped items that fits (size shrinks as items go; only ``hi`` values
    # that were actually measured to fit are ever returned).
    lo, hi = 0, len(order)
    full = _assemble(doc, set())
    if _fits(full, budget_bytes):
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if mid < must_drop:  # known not to fit: the same search, without building it
                lo = mid
                continue
            candidate = _assemble(doc, set(order[mid:]))  # a few thousand, not 30,000
            if _fits(candidate, budget_bytes):
                hi = mid
            else:
                lo = mid
            del candidate  # the best one is built again at the end rather than held meanwhile
        return _assemble(doc, set(order[hi:]))
    # Even the skeleton is too big (e.g. thousands of sessions): a minimal summary.
    verdict = run.verdict
    minimal = "\n\n".join(
        [
            doc.head[0],
            _paragraph(verdict.reason, 300),
            _status_line(verdict.counts),
            f"_The summary does not fit in {budget_bytes} bytes, see the JUnit report._",
            doc.footer,
        ]
    )
    minimal += "\n"
    return minimal if _fits(minimal, budget_bytes) else _cut(minimal, budget_bytes)

"""Dotenv report for GitLab's ``artifacts:reports:dotenv``: the verdict as variables for later jobs.

GitLab's parser is stricter than dotenv proper: one ``KEY=value`` per line, no blank lines or
comments, no quoting or escapes (quotes are kept, surrounding blanks stripped), no multi-line
values, keys of ASCII letters, digits and ``_`` only, a file under 5 KB and at most 20 variables
on older or self-managed instances. Values are also expanded like other CI variables, so a ``$``
could pull in another variable. Every value here is therefore a single line, ASCII-safe and capped.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from checkly_gate.reports import GateRun, session_link
from checkly_gate.text import one_line

PREFIX = "CHECKLY_GATE_"
MAX_VALUE_BYTES = 1024  # 10 variables stay well below GitLab's 5 KB file limit
MAX_FILE_BYTES = 5120
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ID = re.compile(r"^[A-Za-z0-9._-]+$")
# Characters a URL keeps as they are; everything else (quotes, ``$``, blanks, non-ASCII) is
# percent-encoded, which leaves the link equivalent.
_URL_SAFE = ":/?#[]@!&()*+,;=%-._~"


def _url(text: str) -> str:
    """A web link fit for a dotenv value, or "" when it is not an http(s) link."""
    if not text.startswith(("https://", "http://")):
        return ""
    return quote(text, safe=_URL_SAFE)


def _session_id(text: str) -> str:
    return text if _ID.match(text) else ""


def _value(text: str) -> str:
    """One line, no surrounding blanks, no ``$``; "" rather than a cut value when too long."""
    text = one_line(text, MAX_VALUE_BYTES + 1).replace("$", "")
    return text if len(text.encode("utf-8")) <= MAX_VALUE_BYTES else ""


def variables(run: GateRun) -> dict[str, str]:
    """The report's variables, names without the ``CHECKLY_GATE_`` prefix."""
    verdict = run.verdict
    counts = verdict.counts
    labels = run.label_counts()  # failing runs by history label, set aside or not
    first = verdict.sessions[0] if verdict.sessions else None
    found = {
        "STATUS": verdict.outcome.label,
        "EXIT_CODE": str(verdict.exit_code),
        "PASSED": str(counts.passed),
        "FAILED": str(counts.failing),  # every run that failed the gate, policy hits included
        "FLAKY": str(counts.flaky),
        "DEGRADED": str(counts.degraded),
        "SKIPPED": str(counts.skipped),
        "TOTAL": str(counts.total),
        "SESSION_URL": _url(session_link(run, first)) if first else "",
        "SESSION_ID": _session_id(first.session_id) if first else "",
    }
    if run.would_exit_code is not None:  # --shadow: the code the gate would have exited with
        found["WOULD_EXIT_CODE"] = str(run.would_exit_code)
    # The context's counts (issue 21), only where it applied, as WOULD_EXIT_CODE: a quarantine
    # configured, history labels read (failing runs by label, set aside or not).
    if "quarantine" in run.context or counts.quarantined:
        found["QUARANTINED"] = str(counts.quarantined)
    if run.labels:
        found["NEW_FAILURES"] = str(labels["new"])
        found["KNOWN_FAILURES"] = str(labels["known"])
    return found


def render(run: GateRun) -> str:
    """``CHECKLY_GATE_NAME=value`` lines within GitLab's dotenv limits."""
    lines = []
    for key, value in variables(run).items():
        name = PREFIX + key
        if not _NAME.match(name):
            raise ValueError(f"invalid dotenv variable name {name!r}")
        lines.append(f"{name}={_value(value)}\n")
    text = "".join(lines)
    if len(text.encode("utf-8")) >= MAX_FILE_BYTES:
        raise ValueError("dotenv report exceeds GitLab's size limit")  # cannot happen: capped
    return text


def render_started(session_id: str, link: str | None) -> str:
    """The dotenv report of ``run --detach``: the started session, for a later ``wait`` job."""
    return (
        f"{PREFIX}STATUS=started\n"
        f"{PREFIX}SESSION_ID={_session_id(session_id)}\n"
        f"{PREFIX}SESSION_URL={_url(one_line(link or '', MAX_VALUE_BYTES))}\n"
    )

"""Explain failures: fetch the error groups of failed results for the reports.

Best effort by design: bounded (a few groups, each fetched once, each exchange cut by the
client's scope), polite under rate limits, and unable to change the verdict. A failure here
only means a report says less about *why* a check failed. A stop (signal), the deadline or a
TLS problem ends the whole phase at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from checkly_gate.api import ApiError, Client, Misconfigured, OutOfTime, Stopped, Transient
from checkly_gate.scope import Clock
from checkly_gate.verdict import Verdict

log = logging.getLogger("checkly_gate")

K = TypeVar("K")
V = TypeVar("V")
MAX_GROUPS = 20
REQUEST_TIMEOUT = 10.0


def failed_group_ids(verdict: Verdict, limit: int | None = MAX_GROUPS) -> list[str]:
    """Error group ids of the runs that failed the gate (``SessionVerdict.failing``: failed,
    errored, unknown, and flaky or degraded runs the policy fails; ``Run.error_group_ids``: their
    failed attempts and FINAL row), first seen first, at most ``limit``."""
    ids: dict[str, None] = {}
    for session in verdict.sessions:
        for run in session.failing:
            for group_id in run.error_group_ids:
                ids.setdefault(group_id, None)
    return list(ids)[:limit]


def fetch_error_messages(
    client: Client,
    verdict: Verdict,
    deadline: float,
    clock: Clock,
    missing: dict[str, str] | None = None,
) -> dict[str, str]:
    """``cleanedErrorMessage`` per error group id, for as many groups as time and API allow.

    ``missing``, when given, receives why each failed group has no text (the 20-group budget, a
    rate limit, the deadline, an unreadable answer, no text from Checkly), for the reports.
    """

    def fetch(group_id: str, timeout: float) -> str | None:
        return client.error_group_message(group_id, timeout=timeout)

    every = failed_group_ids(verdict, limit=None)
    if missing is not None:
        for group_id in every[MAX_GROUPS:]:
            missing[group_id] = f"beyond the budget of {MAX_GROUPS} error groups a run"
    return fetch_bounded(every[:MAX_GROUPS], fetch, deadline, clock, "error details", missing)


def fetch_bounded(
    keys: Iterable[K],
    fetch: Callable[[K, float], V | None],
    deadline: float,
    clock: Clock,
    what: str,
    missing: dict[K, str] | None = None,
) -> dict[K, V]:
    """``fetch(key, timeout)`` for each key while time is left (each call bounded by
    ``REQUEST_TIMEOUT`` and the deadline), skipping keys whose fetch fails and stopping at the
    first 429: best effort that can never change a verdict. ``None`` answers are left out;
    ``missing``, when given, receives why each key left out has no value."""
    found: dict[K, V] = {}
    todo = list(keys)
    why: dict[K, str] = {}
    stopped = ""
    for index, key in enumerate(todo):
        left = deadline - clock.now()
        if left <= 0.5:
            log.info("no time left to fetch %s", what)
            stopped = "no time left before the deadline"
        else:
            try:
                value = fetch(key, min(REQUEST_TIMEOUT, left))
            except (Stopped, OutOfTime, Misconfigured) as exc:
                log.info("stopped fetching %s: %s", what, exc.message)
                stopped = "stopped before it was fetched"
            except Transient as exc:
                if exc.status == 429:
                    log.info("rate limited while fetching %s; skipping the rest", what)
                    stopped = "the API's rate limit (429): the gate stopped asking"
                else:
                    log.info("%s for %s unavailable: %s", what, key, exc.message)
                    why[key] = "the API did not answer readably"
                    continue
            except ApiError as exc:
                log.info("%s for %s unavailable: %s", what, key, exc.message)
                why[key] = f"the API refused it (HTTP {exc.status})" if exc.status else exc.message
                continue
            except Exception as exc:  # never let the explanation break the verdict
                log.info("%s for %s failed: %s", what, key, type(exc).__name__)
                why[key] = "the answer could not be read"
                continue
            else:
                if value:
                    found[key] = value
                else:
                    why[key] = "Checkly gave no text"
                continue
        why.update(dict.fromkeys(todo[index:], stopped))
        break
    if missing is not None:
        missing.update(why)
    return found

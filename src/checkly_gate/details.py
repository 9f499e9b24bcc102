"""Explain failures: fetch the error groups of failed results for the reports.

Best effort by design: bounded (a few groups, each fetched once, each exchange cut by the
client's scope), polite under rate limits, and unable to change the verdict. A failure here
only means a report says less about *why* a check failed. A stop (signal), the deadline or a
TLS problem ends the whole phase at once.
"""

from __future__ import annotations

import logging

from checkly_gate.api import ApiError, Client, Misconfigured, OutOfTime, Stopped, Transient
from checkly_gate.scope import Clock
from checkly_gate.verdict import Category, Verdict

log = logging.getLogger("checkly_gate")

MAX_GROUPS = 20
REQUEST_TIMEOUT = 10.0


def failed_group_ids(verdict: Verdict, limit: int = MAX_GROUPS) -> list[str]:
    """Error group ids of failed and errored FINAL results, first seen first, at most ``limit``."""
    ids: dict[str, None] = {}
    for session in verdict.sessions:
        for run in session.runs:
            if run.final is None or run.category not in (Category.FAILED, Category.ERROR):
                continue
            for group_id in run.final.error_group_ids:
                ids.setdefault(group_id, None)
    return list(ids)[:limit]


def fetch_error_messages(
    client: Client, verdict: Verdict, deadline: float, clock: Clock
) -> dict[str, str]:
    """``cleanedErrorMessage`` per error group id, for as many groups as time and API allow."""
    messages: dict[str, str] = {}
    for group_id in failed_group_ids(verdict):
        left = deadline - clock.now()
        if left <= 0.5:
            log.info("no time left to fetch error details")
            break
        try:
            text = client.error_group_message(group_id, timeout=min(REQUEST_TIMEOUT, left))
        except (Stopped, OutOfTime, Misconfigured) as exc:
            log.info("stopped fetching error details: %s", exc.message)
            break
        except Transient as exc:
            if exc.status == 429:
                log.info("rate limited while fetching error details; skipping the rest")
                break
            log.info("error details for %s unavailable: %s", group_id, exc.message)
            continue
        except ApiError as exc:
            log.info("error details for %s unavailable: %s", group_id, exc.message)
            continue
        except Exception as exc:  # never let the explanation break the verdict
            log.info("error details for %s failed: %s", group_id, type(exc).__name__)
            continue
        if text:
            messages[group_id] = text
    return messages

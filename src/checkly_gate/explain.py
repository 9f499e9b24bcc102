"""Explain failures: error texts and evidence for the reports, in one bounded fetch.

Two things are fetched for the runs that failed the gate: their error groups
(``GET /v1/test-session-error-groups/{id}``: the ``cleanedErrorMessage`` for the reports, and
``firstSeen``/``lastSeen``, which ``history`` labels from the same bodies, so each group is read
once per command) and the asset types of their failed results
(``GET /v1/test-sessions/{id}/results/{resultId}/assets``; only test sessions have it, so check
sessions are skipped). Best effort by design: a few of each, each fetched once, each exchange
bounded by the scope the client is bound to (``client.scope``: its deadline and stop are the
only time this module knows), polite under rate limits (the first 429 ends the fetch), and
unable to change the verdict. A failure here only means a report says less about *why* a check
failed. A stop (signal), the deadline or a TLS problem ends the fetch at once. Only asset types
are kept (``reports.evidence``): never an asset URL, which would need the API key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar

from checkly_gate.api import ApiError, Client, Misconfigured, OutOfTime, Stopped, Transient
from checkly_gate.outcomes import Category
from checkly_gate.reports.evidence import evidence_results, manifest_kinds
from checkly_gate.scope import Scope
from checkly_gate.verdict import Verdict

log = logging.getLogger("checkly_gate")

K = TypeVar("K")
V = TypeVar("V")
MAX_GROUPS = 20  # error groups fetched per gate run
MAX_RESULTS = 20  # asset manifests fetched per gate run
REQUEST_TIMEOUT = 10.0  # seconds, the cap of one exchange inside the scope's deadline
_WORTH = (Category.FAILED, Category.ERROR, Category.FLAKY)  # runs whose evidence is fetched


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


def group_message(body: Mapping[str, Any]) -> str | None:
    """The text a report shows for a ``TestSessionErrorGroup`` body (untrusted):
    ``cleanedErrorMessage``, else ``rawErrorMessage``; ``None`` when neither is a non-blank
    string."""
    text = body.get("cleanedErrorMessage") or body.get("rawErrorMessage")
    return text if isinstance(text, str) and text.strip() else None


def fetch_error_groups(
    client: Client, verdict: Verdict, missing: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """The ``TestSessionErrorGroup`` body (decoded, untrusted) per error group id of the runs
    that failed the gate (``failed_group_ids``), for as many groups as ``client.scope`` and the
    API allow: at most ``MAX_GROUPS`` requests, one per group.

    ``missing``, when given, receives why each failed group has no text (the 20-group budget, a
    rate limit, the deadline, an unreadable answer, no text from Checkly), for the reports.
    """

    def fetch(group_id: str, timeout: float) -> dict[str, Any] | None:
        return client.error_group(group_id, timeout=timeout)

    every = failed_group_ids(verdict, limit=None)
    if missing is not None:
        for group_id in every[MAX_GROUPS:]:
            missing[group_id] = f"beyond the budget of {MAX_GROUPS} error groups a run"
    bodies = fetch_bounded(every[:MAX_GROUPS], fetch, client.scope, "error details", missing)
    if missing is not None:
        for group_id, body in bodies.items():
            if group_message(body) is None:
                missing[group_id] = "Checkly gave no text"
    return bodies


def error_messages(bodies: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """``group_message`` per error group id of ``bodies`` (``fetch_error_groups``'), leaving
    out the groups without text."""
    found = {group_id: group_message(body) for group_id, body in bodies.items()}
    return {group_id: text for group_id, text in found.items() if text is not None}


def fetch_error_messages(
    client: Client, verdict: Verdict, missing: dict[str, str] | None = None
) -> dict[str, str]:
    """``error_messages`` of ``fetch_error_groups`` (the texts alone)."""
    return error_messages(fetch_error_groups(client, verdict, missing))


def evidence_targets(
    verdict: Verdict, skip: Collection[str] = (), limit: int = MAX_RESULTS
) -> list[tuple[str, str]]:
    """(session id, result id) of failed FINAL rows first, then failed attempts (of flaky runs
    too), at most ``limit``; sessions in ``skip`` (check sessions) are left out."""
    finals: list[tuple[str, str]] = []
    attempts: list[tuple[str, str]] = []
    for sv in verdict.sessions:
        if sv.session_id in skip:
            continue
        for run in sv.runs:
            if run.category not in _WORTH:
                continue
            for result in evidence_results(run):
                target = (sv.session_id, result.result_id)
                (finals if result is run.final else attempts).append(target)
    return list(dict.fromkeys(finals + attempts))[:limit]


def fetch_evidence(
    client: Client, verdict: Verdict, skip: Collection[str] = ()
) -> dict[str, tuple[str, ...]]:
    """Asset types per result id, for as many failed results as ``client.scope`` and the API
    allow (``fetch_bounded``: stops at the first 429, skips what fails); sessions in ``skip``
    (check sessions: no assets endpoint) are left out."""

    def fetch(target: tuple[str, str], timeout: float) -> tuple[str, ...]:
        session_id, result_id = target
        return manifest_kinds(client.result_assets(session_id, result_id, timeout=timeout))

    found = fetch_bounded(evidence_targets(verdict, skip), fetch, client.scope, "evidence")
    return {result_id: kinds for (_, result_id), kinds in found.items()}


def fetch_bounded(
    keys: Iterable[K],
    fetch: Callable[[K, float], V | None],
    scope: Scope,
    what: str,
    missing: dict[K, str] | None = None,
) -> dict[K, V]:
    """``fetch(key, timeout)`` for each key while time is left (each call bounded by
    ``REQUEST_TIMEOUT`` and the deadline of ``scope``, the one the fetching client is bound
    to), skipping keys whose fetch fails and stopping at the
    first 429: best effort that can never change a verdict. ``None`` answers are left out;
    ``missing``, when given, receives why each key left out has no value."""
    found: dict[K, V] = {}
    todo = list(keys)
    why: dict[K, str] = {}
    stopped = ""
    for index, key in enumerate(todo):
        left = scope.remaining()
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

"""Fetch the asset manifests of failed results, for the reports to say what evidence exists.

Best effort like ``details.py``: at most ``MAX_RESULTS`` results, each fetched once, inside the
deadline, stopping at the first 429, never changing the verdict. Only test sessions have the
assets endpoint; check sessions (``skip``) are left out. Only asset types are kept (see
``reports.evidence``): never a URL, which would need the API key.
"""

from __future__ import annotations

from collections.abc import Collection

from checkly_gate.api import Client
from checkly_gate.details import fetch_bounded
from checkly_gate.reports.evidence import evidence_results, manifest_kinds
from checkly_gate.scope import Clock
from checkly_gate.verdict import Category, Verdict

MAX_RESULTS = 20
_WORTH = (Category.FAILED, Category.ERROR, Category.FLAKY)


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
    client: Client,
    verdict: Verdict,
    deadline: float,
    clock: Clock,
    skip: Collection[str] = (),
) -> dict[str, tuple[str, ...]]:
    """Asset types per result id, for as many failed results as time and the API allow
    (``details.fetch_bounded``: stops at the first 429, skips what fails)."""

    def fetch(target: tuple[str, str], timeout: float) -> tuple[str, ...]:
        session_id, result_id = target
        return manifest_kinds(client.result_assets(session_id, result_id, timeout=timeout))

    found = fetch_bounded(evidence_targets(verdict, skip), fetch, deadline, clock, "evidence")
    return {result_id: kinds for (_, result_id), kinds in found.items()}

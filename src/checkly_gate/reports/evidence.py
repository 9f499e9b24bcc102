"""What evidence Checkly kept for a failed result (trace, video, screenshot, ...), as text.

Pure: the asset manifest (``GET /v1/test-sessions/{id}/results/{resultId}/assets``) is reduced
to the asset *types* it lists, from a fixed vocabulary. Names and URLs are dropped on purpose:
the URLs are authenticated API URLs (they need the API key) and names are untrusted text, so a
report only says what exists and sends people to the result page in the Checkly app, which the
renderers already link (``testSessionResultLink``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from checkly_gate.models import Result
from checkly_gate.verdict import Run

#: Asset types of the manifest (``AssetManifestEntry.type``), in the order reports name them.
#: Anything else is reported as ``file``.
KINDS = ("trace", "video", "screenshot", "log", "report", "pcap", "file")

Evidence = Mapping[str, tuple[str, ...]]  # result id -> asset types, in ``KINDS`` order


def manifest_kinds(manifest: Any) -> tuple[str, ...]:
    """The asset types an ``AssetManifest`` lists, deduplicated, in ``KINDS`` order. Tolerant:
    anything that is not a manifest lists nothing; an unknown type counts as ``file``."""
    assets = manifest.get("assets") if isinstance(manifest, dict) else None
    found: set[str] = set()
    for asset in assets if isinstance(assets, list) else []:
        if isinstance(asset, dict):
            kind = asset.get("type")
            found.add(kind if isinstance(kind, str) and kind in KINDS else "file")
    return tuple(kind for kind in KINDS if kind in found)


def evidence_results(run: Run) -> tuple[Result, ...]:
    """The rows of a check run whose evidence is worth showing: its failed FINAL row and its
    failed attempts (those of a flaky run too), latest first (``Run.failed_rows``)."""
    return tuple(reversed(run.failed_rows))


def _union(evidence: Evidence, results: Iterable[Result]) -> tuple[str, ...]:
    found = {kind for result in results for kind in evidence.get(result.result_id, ())}
    return tuple(kind for kind in KINDS if kind in found)


def evidence_line(evidence: Evidence, run: Run) -> str:
    """``evidence in Checkly: trace, video, screenshot (open the result)`` for a check run with
    fetched evidence, else "" ("of the failed attempts" when only attempts have any, as for a
    flaky run). Safe in every format: fixed words only, no URL, no name."""
    kinds = _union(evidence, evidence_results(run))
    if not kinds:
        return ""
    final = run.final is not None and bool(evidence.get(run.final.result_id))
    where = "open the result" if final else "of the failed attempts; open the result"
    return f"evidence in Checkly: {', '.join(kinds)} ({where})"


def load_evidence(data: Any) -> dict[str, tuple[str, ...]]:
    """The ``evidence`` of a snapshot, tolerantly: unknown kinds and wrong types are dropped."""
    if not isinstance(data, dict):
        return {}
    loaded = {}
    for rid, kinds in data.items():
        if isinstance(rid, str) and isinstance(kinds, list):
            kept = tuple(kind for kind in KINDS if kind in kinds)
            if kept:
                loaded[rid] = kept
    return loaded

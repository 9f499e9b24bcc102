"""The ``--json`` snapshot: final session bodies plus the gate's verdict, and its reader.

The snapshot keeps what the verdict was based on (raw bodies, why polling stopped, the policy),
so ``checkly-gate report`` can judge and render it again offline with the same exit code.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from checkly_gate import __version__
from checkly_gate.check_sessions import parse_any_session
from checkly_gate.models import NotASessionError, parse_time
from checkly_gate.reports import GateRun
from checkly_gate.reports.evidence import load_evidence
from checkly_gate.verdict import (
    Observation,
    Outcome,
    Policy,
    Stop,
    Verdict,
    combine,
    judge_session,
    usage_verdict,
)

SCHEMA_VERSION = 1


class SnapshotError(ValueError):
    """The file is not a snapshot this version can read."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def render(run: GateRun) -> str:
    """The snapshot as one JSON text (``pieces`` joined; for small runs and readers)."""
    return "".join(p if isinstance(p, str) else str(p, "utf-8") for p in pieces(run))


def pieces(run: GateRun) -> list[str | memoryview]:
    """The snapshot in pieces whose concatenation is the JSON text: text, and each raw body as
    received (UTF-8 JSON, surrounding whitespace cut off), never copied into a string.

    ``files.write_pieces`` writes them as they are: a 30,000-result body is 14 MB that would
    otherwise be held three times over (decoded, spliced, encoded).
    """
    verdict = run.verdict
    sessions = []
    raw = _RawBodies()
    by_id = {obs.session_id: obs for obs in run.observations}
    for sv in verdict.sessions:
        obs = by_id.get(sv.session_id)
        sessions.append(
            {
                "sessionId": sv.session_id,
                "name": sv.session.name if sv.session else None,
                "link": sv.session.link if sv.session else None,
                "status": sv.session.status if sv.session else None,
                "outcome": sv.outcome.label,
                "exitCode": sv.outcome.value,
                "reason": sv.reason,
                "warnings": list(sv.warnings),
                "counts": sv.counts.as_dict(),
                "unfinished": [run_.name for run_ in sv.unfinished],
                "stop": obs.stop.value if obs else None,
                "error": obs.error if obs else None,
                "errorIsCurrent": obs.error_is_current if obs else False,
                "body": raw.mark(run.bodies.get(sv.session_id)),
            }
        )
    data = {
        "tool": "checkly-gate",
        "version": __version__,
        "schemaVersion": SCHEMA_VERSION,
        "outcome": verdict.outcome.label,
        "exitCode": verdict.exit_code,
        "reason": verdict.reason,
        "warnings": list(verdict.warnings),
        "counts": verdict.counts.as_dict(),
        "policy": {
            "failOnDegraded": run.policy.fail_on_degraded,
            "failOnFlaky": run.policy.fail_on_flaky,
        },
        "signal": run.signal,
        "timings": {
            "startedAt": _iso(run.started_at),
            "finishedAt": _iso(run.finished_at),
            "durationSeconds": (
                round(run.duration_seconds, 3) if run.duration_seconds is not None else None
            ),
        },
        "requests": run.requests,
        "errorMessages": dict(run.error_messages),
        "missingErrorMessages": dict(run.missing_texts),
        "evidence": {rid: list(kinds) for rid, kinds in run.evidence.items()},
        "sessions": sessions,
    }
    # Compact: with an indent the json module falls back to its pure-Python encoder, which for a
    # 3,000-result session costs several times the memory and time. `jq .` pretty-prints it.
    return raw.splice(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")


class _RawBodies:
    """Raw JSON bodies put into the snapshot as they are, rather than decoded and encoded
    again: decoding a 30,000-result body costs about 60 MiB for nothing."""

    def __init__(self) -> None:
        self._token = uuid.uuid4().hex
        self._raw: list[str | memoryview] = []

    def mark(self, body: Any) -> Any:
        """A placeholder for raw ``bytes``/``str`` (valid JSON, as received); other values as
        they are."""
        if not isinstance(body, (bytes, str)):
            return body
        self._raw.append(body.strip() if isinstance(body, str) else _stripped(body))
        return f"{self._token}-{len(self._raw) - 1}"

    def splice(self, text: str) -> list[str | memoryview]:
        """``text`` cut at each placeholder, the raw body in its place."""
        out: list[str | memoryview] = []
        for index, body in enumerate(self._raw):
            before, text = text.split(f'"{self._token}-{index}"', 1)
            out += [before, body]
        return [*out, text]


_ASCII_SPACE = b" \t\n\r\x0b\x0c"


def _stripped(body: bytes) -> str | memoryview:
    """``body`` without the whitespace around it, as ``body.decode().strip()`` would cut it:
    a view of the bytes when it starts and ends in a printable ASCII character (every JSON
    text), else that decoded string."""
    start, end = 0, len(body)
    while start < end and body[start] in _ASCII_SPACE:
        start += 1
    while end > start and body[end - 1] in _ASCII_SPACE:
        end -= 1
    if start == end or not (0x21 <= body[start] <= 0x7E and 0x21 <= body[end - 1] <= 0x7E):
        return body.decode("utf-8").strip()
    return memoryview(body)[start:end]


def load(text: str) -> GateRun:
    """Rebuild a ``GateRun`` from a snapshot, judging the stored bodies again."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SnapshotError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("tool") != "checkly-gate":
        raise SnapshotError("not a checkly-gate --json snapshot")
    if data.get("schemaVersion") != SCHEMA_VERSION:
        raise SnapshotError(f"unsupported snapshot schemaVersion {data.get('schemaVersion')!r}")
    raw_policy = data.get("policy") or {}
    policy = Policy(
        fail_on_degraded=raw_policy.get("failOnDegraded") is True,
        fail_on_flaky=raw_policy.get("failOnFlaky") is True,
    )
    signal = data.get("signal") if isinstance(data.get("signal"), int) else None
    observations = []
    bodies: dict[str, Any] = {}
    raw_sessions = data.get("sessions")
    if not isinstance(raw_sessions, list):
        raise SnapshotError("snapshot has no sessions list")
    for entry in raw_sessions:
        if not isinstance(entry, dict) or not isinstance(entry.get("sessionId"), str):
            raise SnapshotError("snapshot session entry without sessionId")
        sid = entry["sessionId"]
        try:
            stop = Stop(entry.get("stop"))
        except ValueError:
            raise SnapshotError(f"session {sid}: unknown stop {entry.get('stop')!r}") from None
        body = entry.get("body")
        session = None
        if body is not None:
            try:
                session = parse_any_session(body)
            except NotASessionError as exc:
                raise SnapshotError(f"session {sid}: {exc}") from None
            bodies[sid] = body
        error = entry.get("error") if isinstance(entry.get("error"), str) else None
        observations.append(
            Observation(
                session_id=sid,
                stop=stop,
                session=session,
                error=error,
                error_is_current=entry.get("errorIsCurrent") is True,
                signal=signal,
            )
        )
    if observations:
        verdict = combine([judge_session(o, policy) for o in observations], signal)
    else:
        verdict = _stored_verdict(data)
    timings = data.get("timings") or {}
    duration = timings.get("durationSeconds")
    return GateRun(
        verdict=verdict,
        observations=tuple(observations),
        bodies=bodies,
        policy=policy,
        started_at=parse_time(timings.get("startedAt")),
        finished_at=parse_time(timings.get("finishedAt")),
        duration_seconds=float(duration) if isinstance(duration, (int, float)) else None,
        requests=_int(data.get("requests")),
        signal=signal,
        evidence=load_evidence(data.get("evidence")),
        error_messages=_texts(data.get("errorMessages")),
        missing_texts=_texts(data.get("missingErrorMessages")),
    )


def _texts(value: Any) -> dict[str, str]:
    """A stored mapping of strings to strings; anything else in it is left out."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _stored_verdict(data: dict[str, Any]) -> Verdict:
    """A run that never read a session (usage error, interrupt): keep what was stored."""
    stored = data.get("reason")
    reason = stored if isinstance(stored, str) else "no session read"
    code = data.get("exitCode")
    label = data.get("outcome")
    outcome = Outcome.from_label(label) if isinstance(label, str) else None
    if outcome is not None and isinstance(code, int) and not isinstance(code, bool):
        return Verdict(outcome, code, reason)  # the code may differ (--no-fail-on-no-matching)
    if isinstance(code, int) and code >= 128:
        return Verdict(Outcome.INTERRUPTED, code, reason)
    for outcome in Outcome:
        if outcome.value == code and outcome.label == data.get("outcome"):
            return Verdict(outcome, code, reason)
    for outcome in Outcome:  # an allowed outcome exits 0 (--no-fail-on-no-session/-matching)
        if outcome.label == data.get("outcome") and code == 0:
            return Verdict(outcome, code, reason)
    for outcome in Outcome:
        if outcome.value == code:
            return Verdict(outcome, code, reason)
    return usage_verdict(reason)

"""The ``--json`` snapshot: final session bodies plus the gate's verdict, and its reader.

The snapshot keeps what the verdict was based on (raw bodies as UTF-8 JSON, which endpoint each
came from, why polling stopped, the policy), so ``checkly-gate report`` can judge and render it
again offline. ``load`` never trusts what the file claims: the outcome and exit code are judged
again from the stored bodies under the same rules as ``wait`` (exit 0 only when
``verdict.prove_passed`` holds for every stored session); a stored stop or signal that is not
about the bodies (interrupted, timed out) is kept, as it can only make the outcome less green;
signals and exit codes outside the documented set are refused (``SnapshotError``).
"""

from __future__ import annotations

import dataclasses
import json
import signal as signals
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from checkly_gate import __version__, contextual
from checkly_gate.check_sessions import parse_any_session, parse_check_session
from checkly_gate.models import (
    NotASessionError,
    Observation,
    Stop,
    loads,
    parse_session,
    parse_time,
)
from checkly_gate.outcomes import Outcome
from checkly_gate.reports import GateRun
from checkly_gate.reports.evidence import load_evidence
from checkly_gate.verdict import (
    Policy,
    SessionVerdict,
    Verdict,
    combine,
    judge_session,
    prove_passed,
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
    raw = _RawBodies()
    by_id = {obs.session_id: obs for obs in run.observations}
    sessions = [_session_entry(run, sv, by_id.get(sv.session_id), raw) for sv in verdict.sessions]
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
        "context": dict(run.context),
        "sessions": sessions,
    }
    # Compact: with an indent the json module falls back to its pure-Python encoder, which for a
    # 3,000-result session costs several times the memory and time. `jq .` pretty-prints it.
    return raw.splice(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")


def _session_entry(
    run: GateRun, sv: SessionVerdict, obs: Observation | None, raw: _RawBodies
) -> dict[str, Any]:
    """One session of the snapshot: its verdict, why polling stopped, and its body (a mark that
    ``raw.splice`` replaces by the body as received)."""
    return {
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
        # Runs the context set aside (what ``report`` decides again from ``context``): for
        # readers of the file, never read back.
        "setAside": [
            {"resultId": a.result_id, "name": r.name, "mark": a.mark.value, "text": a.says()}
            for r, a in sv.aside_runs
        ],
        "stop": obs.stop.value if obs else None,
        "error": obs.error if obs else None,
        "errorIsCurrent": obs.error_is_current if obs else False,
        "kind": "check" if sv.session_id in run.check_session_ids else "test",
        "body": raw.mark(run.bodies.get(sv.session_id)),
    }


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
        if isinstance(body, bytes):
            body = _utf8(body)
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


def _utf8(body: bytes) -> bytes | str:
    """A JSON body as UTF-8: as it is when it is UTF-8 without a BOM (the common case, no copy);
    else decoded by the encoding RFC 8259/``json`` detect (UTF-8 with a BOM, UTF-16, UTF-32, each
    with or without a BOM), BOM dropped, so the snapshot is valid UTF-8 JSON whatever the API
    sent. A body that does not decode keeps its text with U+FFFD in place of bad bytes."""
    encoding = json.detect_encoding(body)
    if encoding == "utf-8":
        if body.isascii():
            return body
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return body.decode("utf-8", "replace")
        return body
    text = body.decode(encoding, "replace")
    return text[1:] if text.startswith("\ufeff") else text


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


# The exit codes the gate documents: its outcomes' codes, and 128 + a signal number.
_SIGNALS = frozenset(int(sig) for sig in signals.Signals)
_EXIT_CODES = frozenset({o.value for o in Outcome} | {128 + sig for sig in _SIGNALS})


def load(text: str) -> GateRun:
    """Rebuild a ``GateRun`` from a snapshot, judging the stored bodies again.

    Raises ``SnapshotError`` for what is not a snapshot, and for a stored signal or exit code
    outside the documented set (a signal number of this platform; an outcome's code or 128 +
    such a signal). The stored outcome and exit code are never taken for the verdict: sessions
    are judged from their bodies (read as the endpoint they came from, ``kind``); a snapshot
    without sessions keeps its stored outcome but never exits 0.
    """
    data = _snapshot(text)
    policy = _policy(_mapping(data.get("policy")))
    signal = _signal(data.get("signal"))
    code = data.get("exitCode")
    if code is not None and (not _is_int(code) or code not in _EXIT_CODES):
        raise SnapshotError(f"exitCode {code!r} is not one the gate documents")
    observations, bodies, checks = _sessions(data.get("sessions"), signal)
    if observations:
        verdict = combine([judge_session(o, policy) for o in observations], signal)
    else:
        verdict = _stored_verdict(data, signal)
    verdict = _never_greener_than_bodies(verdict, observations, policy)
    context = _mapping(data.get("context"))
    verdict, would, labels = _in_context(verdict, observations, checks, context, signal)
    timings = _mapping(data.get("timings"))
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
        check_session_ids=frozenset(checks),
        would_exit_code=would,
        context=context,
        labels=labels,
    )


def _snapshot(text: str) -> dict[str, Any]:
    """The top-level object of a snapshot of this schema version, or ``SnapshotError``."""
    try:
        data = loads(text)
    except (ValueError, RecursionError) as exc:
        raise SnapshotError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("tool") != "checkly-gate":
        raise SnapshotError("not a checkly-gate --json snapshot")
    if data.get("schemaVersion") != SCHEMA_VERSION:
        raise SnapshotError(f"unsupported snapshot schemaVersion {data.get('schemaVersion')!r}")
    return data


def _sessions(
    raw_sessions: Any, signal: int | None
) -> tuple[list[Observation], dict[str, Any], set[str]]:
    """The stored sessions as ``(observations, bodies by session id, ids of check
    sessions)``, each read by ``_load_session``; ``SnapshotError`` when there is no list."""
    if not isinstance(raw_sessions, list):
        raise SnapshotError("snapshot has no sessions list")
    observations: list[Observation] = []
    bodies: dict[str, Any] = {}
    checks: set[str] = set()
    for entry in raw_sessions:
        obs, body, kind = _load_session(entry, signal)
        observations.append(obs)
        if body is not None:
            bodies[obs.session_id] = body
        if kind == "check":
            checks.add(obs.session_id)
    return observations, bodies, checks


def _in_context(
    verdict: Verdict,
    observations: list[Observation],
    checks: set[str],
    context: dict[str, Any],
    signal: int | None,
) -> tuple[Verdict, int | None, Mapping[tuple[str, str], Any]]:
    """The stored ``context`` (issue 21: the deploy expectation, the quarantine entries and
    the date they were applied on, the history labels and ``--fail-on``, ``--shadow``)
    re-applied to the verdict judged from the bodies, by the same ``contextual.in_context`` as
    ``wait``: (the verdict, the exit code ``--shadow`` kept, the labels for ``GateRun.labels``).
    A context this version cannot read is a ``SnapshotError``."""
    labels: Mapping[tuple[str, str], Any] = {}
    if context.keys() & {"deploy", "quarantine", "failFast", "labels", "failOn"}:
        try:
            decision = contextual.in_context(verdict, observations, checks, context, signal)
        except contextual.ContextError as exc:
            raise SnapshotError(str(exc)) from None
        verdict = dataclasses.replace(
            decision.verdict, warnings=(*decision.verdict.warnings, *decision.notes)
        )
        labels = decision.labels
    if context.get("shadow") is True:
        return (*contextual.shadow(verdict), labels)
    return verdict, None, labels


def _load_session(entry: Any, signal: int | None) -> tuple[Observation, Any, str | None]:
    """One stored session: (its observation, its raw body or None, its ``kind``). Raises
    ``SnapshotError`` for an entry without ``sessionId``, an unknown stop or kind, or a body
    that is not a session."""
    if not isinstance(entry, dict) or not isinstance(entry.get("sessionId"), str):
        raise SnapshotError("snapshot session entry without sessionId")
    sid = entry["sessionId"]
    try:
        stop = Stop(entry.get("stop"))
    except ValueError:
        raise SnapshotError(f"session {sid}: unknown stop {entry.get('stop')!r}") from None
    kind = entry.get("kind")
    if kind not in (None, "test", "check"):
        raise SnapshotError(f"session {sid}: unknown kind {kind!r}")
    body = entry.get("body")
    session = None
    if body is not None:
        try:
            session = _parse(body, kind)
        except NotASessionError as exc:
            raise SnapshotError(f"session {sid}: {exc}") from None
    error = entry.get("error") if isinstance(entry.get("error"), str) else None
    obs = Observation(
        session_id=sid,
        stop=stop,
        session=session,
        error=error,
        error_is_current=entry.get("errorIsCurrent") is True,
        signal=signal,
    )
    return obs, body, kind


def _policy(stored: dict[str, Any]) -> Policy:
    """The stored ``policy``: a flag is on only when stored as JSON ``true``."""
    return Policy(
        fail_on_degraded=stored.get("failOnDegraded") is True,
        fail_on_flaky=stored.get("failOnFlaky") is True,
    )


def _parse(body: Any, kind: Any) -> Any:
    """A stored body read as its endpoint reads it (``kind``); a snapshot of an older version
    (no ``kind``) by its fields."""
    if kind == "check":
        return parse_check_session(body)
    if kind == "test":
        return parse_session(body)
    return parse_any_session(body)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _signal(value: Any) -> int | None:
    """The stored signal: ``None``, or a signal number of this platform (else refused)."""
    if value is None:
        return None
    if not _is_int(value) or value not in _SIGNALS:
        raise SnapshotError(f"signal {value!r} is not a signal number")
    return int(value)


def _never_greener_than_bodies(
    verdict: Verdict, observations: list[Observation], policy: Policy
) -> Verdict:
    """``verdict``, unless it exits 0 without every stored body proving a pass (``prove_passed``,
    the one definition of green): then the bodies' failure to prove it, exit 1."""
    if verdict.exit_code != 0:
        return verdict
    gaps = [g for o in observations for g in prove_passed(o, policy).gaps]
    if observations and not gaps:
        return verdict
    why = "; ".join(gaps[:3]) if gaps else "the snapshot holds no session body"
    return Verdict(
        Outcome.FAILED,
        Outcome.FAILED.value,
        f"the stored bodies do not prove a pass: {why}",
        sessions=verdict.sessions,
        warnings=verdict.warnings,
    )


def _texts(value: Any) -> dict[str, str]:
    """A stored mapping of strings to strings; anything else in it is left out."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _stored_verdict(data: dict[str, Any], signal: int | None) -> Verdict:
    """A run that never read a session (usage error, no session found, interrupt): its stored
    outcome with that outcome's own exit code (never 0: nothing proves a pass), or the signal's.
    """
    stored = data.get("reason")
    reason = stored if isinstance(stored, str) else "no session read"
    if signal is not None:
        return combine([], signal)
    label = data.get("outcome")
    outcome = Outcome.from_label(label) if isinstance(label, str) else None
    if outcome is None or outcome is Outcome.PASSED:
        return Verdict(
            Outcome.FAILED,
            Outcome.FAILED.value,
            "the snapshot holds no session: nothing proves a pass",
        )
    code = data.get("exitCode")
    if outcome is Outcome.INTERRUPTED and isinstance(code, int) and code - 128 in _SIGNALS:
        return Verdict(outcome, code, reason)  # 128 + the signal, stored without the signal
    return Verdict(outcome, outcome.value, reason)

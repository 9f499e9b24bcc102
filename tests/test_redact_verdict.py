"""Redaction never changes what is judged or what the gate says (issue 18.5).

The real ``checkly-gate run`` against a server on 127.0.0.1 that echoes every ``--env`` value
(and the API key, encoded) in its bodies: the exit code and outcome are those of the same run
without the values, and no value that is a secret by ``redact.classify`` is in any output.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkly_gate.check_sessions import CHECK_SESSION_STATUS
from checkly_gate.outcomes import Outcome
from checkly_gate.redact import MASK, VOCABULARY, Secrets, classify, folded
from tests.canned import Answer, canned, json_answer, result, session_body
from tests.test_hostile_api import assert_no_traceback, gate

KEY = "cu_judged_" + "k3y" * 6

# Words the gate writes and the API's enums, in the cases they are written.
WORDS = sorted(
    {*VOCABULARY, *(o.label for o in Outcome), *(o.title for o in Outcome)}
    | {*CHECK_SESSION_STATUS, "FINAL", "ATTEMPT", "PENDING", "RUNNING", "PASSED", "FAILED"}
    | {"true", "false", "DEBUG", "checkly-gate", "Passed", "passed (exit 0)", "1 check run"}
)
# What an --env value may be (config.check_text): any text without NUL or lone surrogates.
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0"), max_size=24)
VALUES = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(WORDS).map(str.upper),
    TEXT.filter(lambda v: v != ""),
    st.lists(st.sampled_from(WORDS), min_size=2, max_size=4).map(" ".join),
    st.tuples(TEXT, TEXT).map(lambda p: f"{p[0]}\n{p[1]}"),  # multi-line
).filter(lambda v: v and "*" not in v)


def _bodies(sid: str, echoed: list[str]) -> dict[str, dict[str, Any]]:
    """A passing, a failing and a flaky final session; every check name echoes every value
    with its line breaks turned into blanks, as the API does."""
    said = " ".join(" ".join(v.split()) for v in echoed)
    name = f"check {said}" if said else "check"
    passed = result(name, status="PASSED", hasFailures=False)
    attempt = dict(
        result(name, status="FAILED", resultType="ATTEMPT"),
        testSessionResultId="r-attempt",
    )
    return {
        "passing": session_body(sid, "PASSED", [passed], name=f"session {said}"),
        "failing": session_body(sid, "FAILED", [result(name, group="eg-1")]),
        "flaky": session_body(sid, "PASSED", [attempt, passed]),
    }


def _run(tmp: Path, kind: str, values: list[str]) -> tuple[int, str, dict[str, str]]:
    sid = str(uuid.uuid4())
    body = _bodies(sid, values)[kind]

    def handler(method: str, path: str, headers: dict[str, str]) -> Answer:
        if path.endswith("/completion"):
            return json_answer({"message": "Not Found"}, status=404)
        if path.startswith("/v1/test-session-error-groups/"):
            return json_answer({"cleanedErrorMessage": f"expected 200 {' '.join(values)}"})
        if path.startswith("/v1/test-sessions"):
            return json_answer(body)
        return json_answer({"message": "Not Found"}, status=404)

    tmp.mkdir(parents=True, exist_ok=True)
    env_flags = [f"--env=V{i}={v}" for i, v in enumerate(values)]
    with canned(handler) as url:
        proc, outputs = gate(url, "run", "--tags", "x", *env_flags, "-v", tmp=tmp, key=KEY)
    assert_no_traceback(proc)
    outcome = json.loads(outputs["out.json"])["outcome"]
    return proc.returncode, outcome, outputs


_BASELINE: dict[str, tuple[int, str]] = {}


def _baseline(tmp: Path, kind: str) -> tuple[int, str]:
    if kind not in _BASELINE:
        code, outcome, _ = _run(tmp / f"base-{kind}", kind, [])
        _BASELINE[kind] = (code, outcome)
    return _BASELINE[kind]


def test_baselines_differ(tmp_path: Path) -> None:
    """The three sessions are judged as expected without values (else the property is empty)."""
    assert _baseline(tmp_path, "passing") == (0, "passed")
    assert _baseline(tmp_path, "failing") == (1, "failed")
    assert _baseline(tmp_path, "flaky") == (0, "passed")


@settings(
    deadline=None,
    max_examples=30,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(["passing", "failing", "flaky"]),
    values=st.lists(VALUES, min_size=1, max_size=4),
)
def test_env_values_never_change_the_verdict_and_secrets_never_leave(
    tmp_path: Path, kind: str, values: list[str]
) -> None:
    code, outcome, outputs = _run(tmp_path / str(uuid.uuid4()), kind, values)
    assert (code, outcome) == _baseline(tmp_path, kind), (values, outputs["stdout"])
    for value in values:
        if classify(value) != "secret":
            continue
        for where, text in outputs.items():
            assert value not in text and folded(value) not in text, (value, where)


@pytest.mark.parametrize(
    "value", ["false", "passed", "FINAL", "checkly-gate", "DEBUG", "PASSED", "1 check run"]
)
def test_common_values_leave_the_report_as_written(tmp_path: Path, value: str) -> None:
    """``--env MODE=FINAL``: the session still passes and the summary is not rewritten."""
    code, outcome, outputs = _run(tmp_path, "flaky", [value])
    assert (code, outcome) == (0, "passed"), outputs["stdout"]
    assert MASK not in outputs["summary.md"] and MASK not in outputs["stdout"]


def test_a_multiline_value_echoed_with_a_blank_is_masked(tmp_path: Path) -> None:
    value = "first-line-secret\nsecond-line-secret"
    code, _, outputs = _run(tmp_path, "failing", [value])
    assert code == 1
    for where, text in outputs.items():
        assert "first-line-secret second-line-secret" not in text, where
    assert MASK in outputs["summary.md"]


def test_a_cancelled_check_session_echoing_the_key_is_never_read_as_a_test_session(
    tmp_path: Path,
) -> None:
    """The endpoint decides how a body is read: a CANCELLED check session that echoes the key
    and also carries a ``testSessionId`` field stays a cancelled check session (exit 3)."""
    csid = str(uuid.uuid4())
    body = {
        "checkSessionId": csid,
        "testSessionId": csid,
        "checkId": "c-1",
        "name": f"check {KEY}",
        "status": "CANCELLED",
        "startedAt": "2025-01-01T12:00:00.000Z",
        "stoppedAt": "2025-01-01T12:00:05.000Z",
        "results": [
            {
                "checkResultId": "r-1",
                "name": f"echo {KEY}",
                "resultType": "FINAL",
                "hasFailures": False,
                "hasErrors": False,
                "isDegraded": False,
                "isCancelled": True,
                "aborted": False,
            }
        ],
    }

    def handler(method: str, path: str, headers: dict[str, str]) -> Answer:
        if path.startswith("/v2/check-sessions/trigger"):
            return json_answer({"sessions": [body]})
        if path.endswith("/completion"):
            return json_answer({"message": "Not Found"}, status=404)
        if path.startswith("/v2/check-sessions/"):
            return json_answer(body)
        return json_answer({"message": "Not Found"}, status=404)

    with canned(handler) as url:
        proc, outputs = gate(url, "run", "--check-sessions", "--tags", "x", tmp=tmp_path, key=KEY)
    assert_no_traceback(proc)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    stored = json.loads(outputs["out.json"])
    assert stored["outcome"] == "cancelled" and stored["sessions"][0]["kind"] == "check"
    for where, text in outputs.items():
        assert KEY not in text, where


def key_encodings(key: str) -> dict[str, str]:
    raw = key.encode()
    return {
        "base64": base64.b64encode(raw).decode(),
        "base64-inner": base64.b64encode(b"Bearer " + raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "percent-twice": urllib.parse.quote(urllib.parse.quote(key, safe=""), safe=""),
        "percent-all-twice": "".join(f"%25{b:02X}" for b in raw),
        "entities": "".join(f"&#{ord(c)};" for c in key),
        "hex-entities": "".join(f"&#x{ord(c):x};" for c in key),
    }


@pytest.mark.parametrize("form", sorted(key_encodings(KEY)))
def test_a_key_echoed_encoded_in_an_error_message_is_masked(form: str) -> None:
    encoded = key_encodings(KEY)[form]
    for text in (f"bad token {encoded}", f"x{encoded}y", f"Authorization: {encoded}."):
        masked = Secrets([KEY])(text)
        assert encoded not in masked and MASK in masked, (form, masked)
    assert Secrets([KEY]).finds(f"bad token {encoded}".encode())


def test_a_key_echoed_encoded_by_a_401_never_leaves(tmp_path: Path) -> None:
    def handler(method: str, path: str, headers: dict[str, str]) -> Answer:
        said = " ".join(key_encodings(KEY).values())
        return json_answer({"message": f"bad key, we got {said}"}, status=401)

    with canned(handler) as url:
        proc, outputs = gate(url, "wait", str(uuid.uuid4()), "-v", tmp=tmp_path, key=KEY)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert MASK in proc.stdout + proc.stderr
    for where, text in outputs.items():
        for form, value in key_encodings(KEY).items():
            assert value not in text, (form, where)


@settings(deadline=None)
@given(st.one_of(TEXT, st.sampled_from(WORDS)))
def test_classify_is_total_and_common_words_are_never_masked(value: str) -> None:
    kind = classify(value)
    assert kind in ("secret", "plain", "common")
    if kind == "common":  # registers nothing process-wide: common values are never masked
        redactor = Secrets([], [value])
        assert not redactor.secrets
        assert redactor(f"a {value} b") == f"a {value} b"


def test_plain_values_are_masked_only_as_whole_tokens() -> None:
    redact = Secrets([], ["hunter2"])
    assert redact("password hunter2 was echoed") == f"password {MASK} was echoed"
    assert redact("xhunter2y and hunter22") == "xhunter2y and hunter22"


def test_every_word_the_gate_writes_is_in_its_vocabulary() -> None:
    """The words of every report and the verdict lines for every outcome, less what came from
    the bodies (check names, locations), numbers and ids: a ``--env`` value made of them is
    common, never masked, so it can never rewrite the gate's own words."""
    import re

    from checkly_gate.progress import render_explanations, render_verdict
    from checkly_gate.redact import _TOKEN
    from checkly_gate.reports import dotenv, junit, markdown
    from tests import runs

    def strings(value: Any) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return []

    unknown: set[str] = set()
    for name in ("passed", "failed", "cancelled", "timed_out", "unavailable", "refused"):
        run = getattr(runs, name)()
        from_bodies = {
            token
            for body in run.bodies.values()
            for text in strings(json.loads(body) if isinstance(body, (bytes, str)) else body)
            for token in _TOKEN.findall(text.casefold())
        }
        lines = render_verdict(run.verdict) + render_explanations(run)
        for text in (markdown.render(run), junit.render(run), dotenv.render(run), *lines):
            for token in _TOKEN.findall(text.casefold()):
                if len(token) <= 2 or token in VOCABULARY or token in from_bodies:
                    continue
                if re.search(r"\d", token):  # numbers, ids, timestamps
                    continue
                unknown.add(token)
    assert not unknown, sorted(unknown)


def _runs_of(text: str, secret: str, k: int) -> list[str]:
    folded = text.casefold()
    return [
        secret[i : i + k]
        for i in range(len(secret) - k + 1)
        if secret[i : i + k].casefold() in folded
    ]


def test_a_server_echoing_most_of_the_key_leaves_no_run_of_it(tmp_path: Path) -> None:
    """A 401 whose body and header echo the key cut, shifted, upper-cased and base32-encoded:
    the terminal, the log (``-v``), JUnit, markdown, the JSON snapshot and the CI outputs hold
    no run of ``redact.threshold`` characters of the key, in any case."""
    from checkly_gate.redact import threshold

    key = "cu_0f3a9b2c7d1e4f5a6b7c8d9e0f1a2b3c"
    said = f"bad key {key[:-3]} / {key[4:].upper()} / {base64.b32encode(key.encode()).decode()}"

    def handler(method: str, path: str, headers: dict[str, str]) -> Answer:
        return json_answer({"message": said}, status=401, **{"X-Echo": key[2:].upper()})

    with canned(handler) as url:
        proc, outputs = gate(url, "wait", str(uuid.uuid4()), "-v", tmp=tmp_path, key=key)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert MASK in proc.stdout + proc.stderr
    k = threshold(key)
    b32 = base64.b32encode(key.encode()).decode()
    for where, text in outputs.items():
        assert not _runs_of(text, key, k), where
        assert not _runs_of(text, b32, 8 * k // 5 - 1), where

"""The real CLI against an API that answers with hostile text: echoed keys in every encoding,
workflow commands, section markers, escape sequences, lone surrogates, absurd nesting."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import urllib.parse
import uuid
from pathlib import Path

import pytest

from tests.canned import Answer, canned, json_answer, result, session_body
from tests.tools import clean_env

# Printable ASCII with the punctuation every escaper treats differently.
KEY = 'cu_k3y"&<x>_\\%41+/=~z9'
SID = str(uuid.uuid4())
PWNED = ("::warning::pwned", "::error title=pwned", "::set-output", "::add-mask::", "##[")


def key_forms(key: str = KEY) -> dict[str, str]:
    """Every form in which a writer could let the key out."""
    return {
        "raw": key,
        "repr": repr(key)[1:-1],
        "json": json.dumps(key)[1:-1],
        "json-ascii": json.dumps(key, ensure_ascii=True)[1:-1],
        "json-u-escaped": "".join(f"\\u{ord(c):04x}" for c in key),
        "markdown": re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", key),
        "html": html.escape(key),
        "percent": urllib.parse.quote(key, safe=""),
        "percent-url": urllib.parse.quote(key),
    }


def gate(
    url: str, *args: str, tmp: Path, key: str = KEY, **env: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run the CLI with every output requested, under GitHub Actions; returns every output."""
    files = {
        name: tmp / name
        for name in ("out.json", "junit.xml", "summary.md", "report.env", "gh-output", "gh-summary")
    }
    full_env = {
        **clean_env(),
        "CHECKLY_API_KEY": key,
        "NO_COLOR": "1",
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(files["gh-output"]),
        "GITHUB_STEP_SUMMARY": str(files["gh-summary"]),
        **env,
    }
    cmd = [sys.executable, "-m", "checkly_gate", *args, "--api-url", url, "--poll-interval", "0.1"]
    cmd += ["--json", str(files["out.json"]), "--junit", str(files["junit.xml"])]
    cmd += ["--summary", str(files["summary.md"]), "--dotenv", str(files["report.env"])]
    proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=60)
    outputs = {"stdout": proc.stdout, "stderr": proc.stderr}
    outputs.update({n: p.read_text("utf-8") for n, p in files.items() if p.exists()})
    return proc, outputs


def assert_no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    assert "Exception ignored" not in proc.stderr


def assert_inert(outputs: dict[str, str]) -> None:
    """No printed line can be taken for a CI command or a terminal control."""
    for stream in ("stdout", "stderr"):
        for line in outputs[stream].split("\n"):
            assert "\r" not in line and "\x1b" not in line, repr(line)
            assert not line.lstrip().startswith(PWNED), repr(line)
            assert "section_start:" not in line and "section_end:" not in line, repr(line)


def echoing(key: str) -> object:
    """An API that puts the key back into everything it answers (as a leaky proxy would)."""
    escaped = "".join(f"\\u{ord(c):04x}" for c in key)

    def handler(method: str, path: str, headers: dict[str, str]) -> Answer:
        if path.startswith("/v1/test-session-error-groups/"):
            text = f"auth failed for Bearer {key} ({key!r}, {json.dumps(key)})"
            return json_answer({"cleanedErrorMessage": text}, **{"X-Echo": f"Bearer {key}"})
        body = session_body(
            SID,
            name=f"session {key}",
            results=[
                result("PLACEHOLDER", group="eg-1"),
                result(f"plain {key}", testSessionResultLink="https://x.test/?k=" + key),
            ],
        )
        text = json.dumps(body).replace("PLACEHOLDER", f"check {escaped}")
        return 200, {"Content-Type": "application/json", "X-Echo": f"Bearer {key}"}, text.encode()

    return handler


def test_an_echoed_key_never_leaves_in_any_form(tmp_path: Path) -> None:
    with canned(echoing(KEY)) as url:  # type: ignore[arg-type]
        proc, outputs = gate(url, "wait", SID, "-v", tmp=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert_no_traceback(proc)
    assert {"out.json", "junit.xml", "summary.md", "report.env", "gh-output", "gh-summary"} <= set(
        outputs
    )
    for where, text in outputs.items():
        for form, value in key_forms().items():
            assert value not in text, f"{form} form of the key in {where}"
    # The key did arrive (else this test proves nothing), and the snapshot stays JSON.
    assert "***" in outputs["summary.md"] and "***" in outputs["gh-output"]
    assert json.loads(outputs["out.json"])["exitCode"] == 1


def test_a_key_echoed_in_an_error_answer_never_leaves(tmp_path: Path) -> None:
    def handler(method: str, path: str, headers: dict[str, str]) -> Answer:
        return json_answer({"message": f"bad key: {headers.get('Authorization')}"}, status=401)

    with canned(handler) as url:
        proc, outputs = gate(url, "wait", SID, "-v", tmp=tmp_path)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "***" in proc.stdout
    for where, text in outputs.items():
        for form, value in key_forms().items():
            assert value not in text, f"{form} form of the key in {where}"


HOSTILE = (
    "evil\n::warning::pwned\r\x1b[31m\x1b]0;title\x07 section_start:1:x\r\x1b[0K ##[error]x \ud800"
)


def test_hostile_names_ids_and_texts_stay_inert_and_writable(tmp_path: Path) -> None:
    """A check name with a newline + workflow command, CR, ANSI, a section marker and a lone
    surrogate; an error group id that is a workflow command; an error text full of them."""

    def handler(method: str, path: str, headers: dict[str, str]) -> Answer:
        if path.startswith("/v1/test-session-error-groups/"):
            return json_answer({"cleanedErrorMessage": HOSTILE})
        rows = [
            result(HOSTILE, group="eg-1"),
            result("second", group="x\n::error title=pwned::pwned"),
            result("::error title=pwned::line start", group="eg-2", runLocation=HOSTILE),
        ]
        return json_answer(session_body(SID, name=HOSTILE, results=rows))

    with canned(handler) as url:
        proc, outputs = gate(url, "wait", SID, "-v", tmp=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert_no_traceback(proc)
    assert_inert(outputs)
    for name in ("out.json", "junit.xml", "summary.md", "report.env", "gh-output", "gh-summary"):
        assert name in outputs, f"{name} not written: {proc.stderr}"
    assert "\ufffd" in outputs["summary.md"] or "evil" in outputs["summary.md"]


def test_detach_prints_a_hostile_link_as_one_inert_line(tmp_path: Path) -> None:
    def handler(method: str, path: str, headers: dict[str, str]) -> Answer:
        body = session_body(
            SID,
            status="RUNNING",
            testSessionLink="https://app.checklyhq.com/x\n::warning::pwned\r\x1b[2J",
        )
        return json_answer(body, status=201)

    with canned(handler) as url:
        proc, outputs = gate(url, "run", "--tags", "web", "--detach", tmp=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_no_traceback(proc)
    assert_inert(outputs)
    assert f"session-id={SID}" in outputs["gh-output"]
    assert "pwned" not in outputs["gh-output"].split("session-url", 1)[1].split("\n", 1)[0][:9]


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,  # RecursionError in json
        b"[" * 200_000 + b"]" * 200_000,
        b"\xff\xfe garbage \x00",
        json.dumps({"testSessionId": SID, "status": 5, "results": "x", "name": {}}).encode(),
        json.dumps({"testSessionId": [], "status": "PASSED", "results": [1, None, "x"]}).encode(),
        json.dumps({"testSessionId": SID, "status": "PASSED", "results": [{"name": []}]}).encode(),
    ],
    ids=["deep-object", "deep-list", "binary", "wrong-types", "wrong-ids", "wrong-result"],
)
def test_answers_of_any_shape_are_unreadable_never_a_crash(tmp_path: Path, body: bytes) -> None:
    def handler(method: str, path: str, headers: dict[str, str]) -> Answer:
        return 200, {"Content-Type": "application/json"}, body

    with canned(handler) as url:
        proc, outputs = gate(url, "wait", SID, "--timeout", "1", tmp=tmp_path)
    assert_no_traceback(proc)
    assert proc.returncode in (0, 1, 4, 5, 6), proc.stdout + proc.stderr
    assert "junit.xml" in outputs and "gh-output" in outputs
    assert "internal error" not in proc.stdout + proc.stderr


def test_a_session_id_from_a_trigger_answer_is_validated_before_any_url(tmp_path: Path) -> None:
    seen: list[str] = []

    def handler(method: str, path: str, headers: dict[str, str]) -> Answer:
        seen.append(path)
        return json_answer(session_body("../../v1/x\n::error title=pwned::pwned"), status=201)

    with canned(handler) as url:
        proc, outputs = gate(url, "run", "--tags", "web", "--timeout", "2", tmp=tmp_path)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert_no_traceback(proc)
    assert_inert(outputs)
    assert seen == ["/v1/test-sessions/trigger"]  # no request was built from the bad id
    assert "not a usable id" in proc.stdout


def test_hostile_text_cannot_open_or_close_a_gitlab_section(tmp_path: Path) -> None:
    def handler(method: str, path: str, headers: dict[str, str]) -> Answer:
        if path.startswith("/v1/test-session-error-groups/"):
            return json_answer({"cleanedErrorMessage": HOSTILE})
        return json_answer(session_body(SID, name=HOSTILE, results=[result(HOSTILE, group="g")]))

    with canned(handler) as url:
        proc, _ = gate(url, "wait", SID, tmp=tmp_path, GITHUB_ACTIONS="", GITLAB_CI="true")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # Only our own two markers (each: ESC[0K section_x:... CR ESC[0K), nothing from the API.
    assert proc.stdout.count("section_start:") == 1 and proc.stdout.count("section_end:") == 1
    assert proc.stdout.count("\x1b") == proc.stdout.count("\x1b[0K") == 4
    assert "\x1b" not in proc.stderr and "\r" not in proc.stderr


def test_an_echoed_env_value_never_leaves_in_any_form(tmp_path: Path) -> None:
    """``run --env TOKEN=...``: the value is as secret as the key, whatever the server echoes."""
    value = 'v4lue&<with>"punct"_%2F'
    with canned(echoing(value)) as url:  # type: ignore[arg-type]
        proc, outputs = gate(url, "run", "--tags", "web", "--env", f"TOKEN={value}", tmp=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "***" in outputs["summary.md"]
    for where, text in outputs.items():
        for form, shown in key_forms(value).items():
            assert shown not in text, f"{form} form of the --env value in {where}"

"""A real CTRF consumer and the CTRF JSON Schema, for the tests of the CTRF report (issue 22).

The consumer is ctrf-io's GitHub Test Reporter, from its npm package ``github-actions-ctrf``
(the code behind the ``ctrf-io/github-test-reporter`` Action, installed by .ci/run). Its CLI
renders a CTRF file into GitHub step-summary markdown (``$GITHUB_STEP_SUMMARY``) and prints
``::error`` workflow commands for failed tests. ``read_with_consumer(path)`` runs it and parses
what it wrote back into counts, so a test sees the report the way a team's pull request does.

How this consumer reads a report (version 0.0.58, found by running it on documents whose
summary and tests disagree; ``tests/test_ctrf_consumer.py`` keeps it true):
- ``tests``, ``passed``, ``failed``, ``skipped``, ``pending``, ``other``: copied from
  ``results.summary``, never recounted from ``results.tests``;
- ``flaky``: the number of ``results.tests[]`` with ``"flaky": true`` (not the summary's);
- duration: from ``results.summary.start``/``stop``;
- the failed-tests table (HTML): each test with status "failed", its name HTML-escaped, its
  ``message`` with newlines as ``<br>`` but NOT escaped (a ``<`` in a message reaches the page
  as HTML);
- the flaky-tests table (markdown): each test with ``"flaky": true`` and its ``retries``; a
  ``|`` in a name is not escaped, so GitHub shows that row with an extra cell (this harness
  reads the row from the right to get the name back).

The schema is the one the npm package ``ctrf`` ships (the CTRF reference implementation,
``dist/ctrf-schema-*.json``), else ``../shared/ctrf/ctrf.schema.json`` where it exists.
"""

from __future__ import annotations

import datetime
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from tests.platform_fakes import npm_package_dir

CONSUMER_PACKAGE = "github-actions-ctrf"
SCHEMA_PACKAGE = "ctrf"
_TIMEOUT = 120  # seconds for one consumer run (about 0.7 s here)
_COUNTS = ("tests", "passed", "failed", "skipped", "pending", "other", "flaky")


class ConsumerError(RuntimeError):
    """The consumer failed on a file, or wrote nothing this harness can read."""


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def shared_ctrf_dir() -> Path | None:
    """``shared/ctrf`` beside the checkout (CI, the main clone) or beside the worktrees."""
    root = _repo_root()
    for base in (root.parent, root.parent.parent):
        candidate = base / "shared" / "ctrf"
        if (candidate / "ctrf.schema.json").is_file():
            return candidate
    return None


def consumer_command() -> list[str] | None:
    """The consumer's CLI, or None when ``github-actions-ctrf`` is not installed."""
    found = shutil.which(CONSUMER_PACKAGE)
    if found:
        return [found]
    package = npm_package_dir(CONSUMER_PACKAGE)
    node = shutil.which("node")
    cli = package / "dist" / "core" / "cli.js" if package else None
    if node and cli and cli.is_file():
        return [node, str(cli)]
    return None


def consumer_version() -> str | None:
    package = npm_package_dir(CONSUMER_PACKAGE)
    if package is None:
        return None
    return str(json.loads((package / "package.json").read_text(encoding="utf-8"))["version"])


@lru_cache(maxsize=1)
def ctrf_schema() -> tuple[dict[str, Any], str] | None:
    """(the CTRF JSON Schema, where it came from), or None when neither source exists."""
    package = npm_package_dir(SCHEMA_PACKAGE)
    if package is not None:
        found = sorted((package / "dist").glob("ctrf-schema*.json"))
        if found:
            version = json.loads((package / "package.json").read_text(encoding="utf-8"))["version"]
            schema = json.loads(found[-1].read_text(encoding="utf-8"))
            return schema, f"npm {SCHEMA_PACKAGE}@{version} ({found[-1].name})"
    shared = shared_ctrf_dir()
    if shared is not None:
        return json.loads((shared / "ctrf.schema.json").read_text(encoding="utf-8")), str(shared)
    return None


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$"
)
#: Every format jsonschema knows (uuid is newer than draft-07, but the reference implementation
#: checks it), plus date-time and uri, which jsonschema checks only with optional packages.
_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("date-time")
def _date_time(value: object) -> bool:
    """RFC 3339 date-time, as ajv-formats (the reference's validator) reads it."""
    if not isinstance(value, str):
        return True
    match = _RFC3339.match(value)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return hour < 24 and minute < 60 and second <= 60


@_FORMATS.checks("uri")
def _uri(value: object) -> bool:
    """An absolute URI: a scheme, then no whitespace (RFC 3986, loosely)."""
    return not isinstance(value, str) or bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:\S*$", value))


def validate_ctrf(doc: Any) -> list[str]:
    """Every way ``doc`` breaks the CTRF JSON Schema (draft-07, with its formats), as
    "<json path>: <message>" lines; [] when valid. Raises LookupError without a schema."""
    found = ctrf_schema()
    if found is None:
        raise LookupError("no CTRF schema: install npm ctrf (.ci/run does) or add ../shared/ctrf")
    schema, _ = found
    validator = jsonschema.Draft7Validator(schema, format_checker=_FORMATS)
    return [
        f"{error.json_path}: {error.message[:300]}"
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    ]


def validate_with_reference(doc: Any) -> list[str] | None:
    """The reference implementation's own verdict (npm ``ctrf``'s ``validate``, ajv): its
    error messages, [] when valid, None when node or the package is not installed."""
    package = npm_package_dir(SCHEMA_PACKAGE)
    node = shutil.which("node")
    if package is None or node is None:
        return None
    script = (
        "const c = require(process.argv[1]);"
        "let s = ''; process.stdin.on('data', d => s += d);"
        "process.stdin.on('end', () => {"
        " const r = c.validate(JSON.parse(s));"
        " process.stdout.write(JSON.stringify((r.errors || []).map("
        "  e => (e.instancePath || e.path || '') + ' ' + (e.message || JSON.stringify(e)))));"
        "});"
    )
    done = subprocess.run(
        [node, "-e", script, str(package / "dist" / "index.cjs")],
        input=json.dumps(doc),
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        env=_clean_env(),
    )
    if done.returncode != 0:
        raise ConsumerError(f"ctrf validate failed: {done.stderr.strip()[:500]}")
    errors: list[str] = json.loads(done.stdout)
    return errors


def _clean_env() -> dict[str, str]:
    """The environment without tokens or CI variables: the consumer must not reach GitHub."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    return {k: v for k, v in os.environ.items() if k in keep}


def _run(command: str, path: Path) -> tuple[str, str]:
    """(the step-summary markdown, stdout) of one ``github-actions-ctrf COMMAND path`` run."""
    cli = consumer_command()
    if cli is None:
        raise ConsumerError(f"{CONSUMER_PACKAGE} is not installed")
    with tempfile.TemporaryDirectory(prefix="ctrf-consumer-") as tmp:
        summary = Path(tmp) / "step-summary.md"
        summary.touch()
        env = {
            **_clean_env(),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_REPOSITORY": "example/repository",  # required by @actions/github
            "GITHUB_WORKSPACE": tmp,
        }
        done = subprocess.run(
            [*cli, command, str(path)],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            env=env,
            cwd=tmp,
        )
        written = summary.read_text(encoding="utf-8")
    if done.returncode != 0:
        raise ConsumerError(
            f"{CONSUMER_PACKAGE} {command} exited {done.returncode}: "
            f"{(done.stdout + done.stderr).strip()[:500]}"
        )
    return written, done.stdout


def _label(cell: str) -> str:
    """'**Passed ✅**' -> 'passed'."""
    words = re.findall(r"[A-Za-z]+", cell)
    return " ".join(words).lower()


def _table_lines(markdown: str) -> list[str]:
    """The lines of the pipe table in ``markdown`` (header, delimiter, rows); [] without one."""
    return [line.strip() for line in markdown.splitlines() if line.strip().startswith("|")]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().removeprefix("|").removesuffix("|").split("|")]


def _table(markdown: str) -> list[dict[str, str]]:
    """The rows of the pipe table in ``markdown``, keyed by header label."""
    lines = _table_lines(markdown)
    if len(lines) < 2:
        raise ConsumerError(f"no table in the consumer's output: {markdown[:300]!r}")
    header = [_label(c) for c in _cells(lines[0])]
    return [dict(zip(header, _cells(line), strict=False)) for line in lines[2:]]


def read_with_consumer(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Run the consumer's summary, failed-tests and flaky-tests views on the CTRF file at
    ``path`` and return what it shows:

    ``{"tests": int, "passed": int, "failed": int, "skipped": int, "pending": int,
    "other": int, "flaky": int, "duration": str (e.g. "20.0s"),
    "failed_tests": [{"name": str, "message": str}], "flaky_tests": [{"name": str,
    "retries": int}], "annotations": [str] (its ::error lines)}``.

    Raises ConsumerError when the consumer is absent, fails or writes nothing readable.
    """
    file = Path(path)
    markdown, stdout = _run("summary", file)
    rows = _table(markdown)
    if len(rows) != 1:
        raise ConsumerError(f"expected one summary row, got {rows!r}")
    row = rows[0]
    read: dict[str, Any] = {}
    for name in _COUNTS:
        try:
            read[name] = int(row[name])
        except (KeyError, ValueError) as exc:
            raise ConsumerError(f"the summary has no count {name!r}: {row!r}") from exc
    read["duration"] = row.get("duration", "")
    read["annotations"] = [line for line in stdout.splitlines() if line.startswith("::error")]

    failed_md, _ = _run("failed", file)
    read["failed_tests"] = [
        {
            "name": html.unescape(name).removeprefix("❌").strip(),
            "message": html.unescape(message.replace("<br>", "\n")),
        }
        for name, message in re.findall(
            r"<tr>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*</tr>", failed_md, flags=re.S
        )
    ]
    flaky_md, _ = _run("flaky", file)
    read["flaky_tests"] = []
    for line in _table_lines(flaky_md)[2:]:
        *name, retries = _cells(line)  # the name may hold unescaped "|"
        read["flaky_tests"].append(
            {"name": " | ".join(name).removeprefix("🍂").strip(), "retries": int(retries)}
        )
    return read

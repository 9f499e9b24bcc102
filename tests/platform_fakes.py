"""Local fakes of the GitHub REST API and the GitLab REST API v4, held to their descriptions.

The publishers of issue 22 (a pull-request / merge-request comment updated in place, a commit
status) are tested against these: real HTTP servers on 127.0.0.1 (a ``ThreadingHTTPServer`` in
a daemon thread, like ``checkly_gate.simulator.server``) that serve exactly the endpoints the
publishers need and nothing else:

GitHub (``GitHubFake``, base URL ``url``; ``prefix="/api/v3"`` for a GitHub Enterprise Server):
  ``GET/POST /repos/{owner}/{repo}/issues/{issue_number}/comments`` (list paginated with a
  ``Link`` header, ``per_page`` default 30, at most 100),
  ``PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}``,
  ``POST /repos/{owner}/{repo}/statuses/{sha}``.
  Auth: ``Authorization: Bearer <token>`` or ``Authorization: token <token>``.

GitLab (``GitLabFake``, base URL ``url`` ending in ``/api/v4`` like ``CI_API_V4_URL``):
  ``GET/POST /projects/{id}/merge_requests/{merge_request_iid}/notes`` (list paginated with
  ``X-Next-Page`` and friends, ``per_page`` default 20, at most 100, newest first by default),
  ``PUT /projects/{id}/merge_requests/{merge_request_iid}/notes/{note_id}``, ``POST
  /projects/{id}/statuses/{sha}``. ``{id}`` is the numeric project id or its URL-encoded path.
  Auth: ``PRIVATE-TOKEN``, ``Authorization: Bearer`` or ``JOB-TOKEN`` (see
  ``job_token_operations``).

Every request is recorded (``requests``) and checked against the platform's API description
(``Contract``): GitHub's own OpenAPI description from the npm package ``@octokit/openapi``
(installed by ``.ci/run``; ``github_description()`` is None without it, and the fake then checks
only the documented facts below), GitLab's from ``GITLAB_DESCRIPTION``, written by hand from
GitLab's documentation because GitLab's OpenAPI file ships in no npm or PyPI package. A request
the platform would reject is answered the way the platform answers it (GitHub: 422 "Invalid
request." or "Validation Failed"; GitLab: 400 ``{"error": ...}``) and is recorded in
``violations``, which a test asserts is empty.

Faults (``inject``): a status with the platform's own error body (401/403/404/500...), a
server that never answers (``"hang"``: the connection stays open until ``stop()``), one that
answers one byte at a time (``"trickle"``: each read is quick, the whole never ends), the
primary rate limit (429 with ``Retry-After`` and the rate-limit headers) and GitHub's secondary
rate limit (403 with ``Retry-After``).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import re
import shutil
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import jsonschema

_MAX_BODY = 4 << 20  # bytes read from one request body; more closes the connection

# ---------------------------------------------------------------------------- descriptions

#: GitHub's REST description inside the npm package (generated/api.github.com.json).
GITHUB_DESCRIPTION_PACKAGE = "@octokit/openapi"
GITHUB_DESCRIPTION_FILE = "generated/api.github.com.json"
#: An explicit path to api.github.com.json wins over the npm package.
GITHUB_DESCRIPTION_ENV = "CHECKLY_GATE_GITHUB_OPENAPI"


@functools.lru_cache(maxsize=1)
def _npm_root() -> Path | None:
    npm = shutil.which("npm")
    if npm is None:
        return None
    try:
        done = subprocess.run(
            [npm, "root", "--global"], capture_output=True, text=True, timeout=60, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    root = done.stdout.strip()
    return Path(root) if root else None


def npm_package_dir(name: str) -> Path | None:
    """Where the globally installed npm package ``name`` lives, or None when it is absent."""
    root = _npm_root()
    if root is None:
        return None
    path = root / name
    return path if (path / "package.json").is_file() else None


def github_description_path() -> Path | None:
    """api.github.com.json of ``@octokit/openapi`` (or ``$CHECKLY_GATE_GITHUB_OPENAPI``)."""
    explicit = os.environ.get(GITHUB_DESCRIPTION_ENV)
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    package = npm_package_dir(GITHUB_DESCRIPTION_PACKAGE)
    if package is None:
        return None
    path = package / GITHUB_DESCRIPTION_FILE
    return path if path.is_file() else None


@functools.lru_cache(maxsize=1)
def github_description() -> dict[str, Any] | None:
    """GitHub's OpenAPI 3.0 description of api.github.com (13 MB, parsed once), or None."""
    path = github_description_path()
    if path is None:
        return None
    with path.open(encoding="utf-8") as stream:
        doc: dict[str, Any] = json.load(stream)
    return doc


def github_description_version() -> str | None:
    """The ``@octokit/openapi`` package version the description came from, or None."""
    package = npm_package_dir(GITHUB_DESCRIPTION_PACKAGE)
    if package is None:
        return None
    version = json.loads((package / "package.json").read_text(encoding="utf-8")).get("version")
    return str(version) if version else None


def _gitlab_id(name: str, description: str, kind: str = "integer") -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": kind},
    }


_GITLAB_PAGE = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
]

#: GitLab REST API v4, the three endpoints the publishers use, written by hand in OpenAPI 3.0
#: from GitLab's documentation (GitLab's own ``doc/api/openapi/openapi_v2.yaml`` ships in no
#: npm or PyPI package, so it cannot be installed at CI time):
#: - Notes API, "Merge requests": https://docs.gitlab.com/api/notes/#merge-requests
#:   (list: ``sort`` asc/desc, default desc; ``order_by`` created_at/updated_at, default
#:   created_at; create: ``body`` required, "Limited to 1,000,000 characters", ``internal``,
#:   ``merge_request_diff_head_sha``, ``created_at``; modify: ``body`` required; a blank body
#:   is refused by both).
#: - Commits API, "Set the pipeline status of a commit":
#:   https://docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit
#:   (``state`` required, one of pending, running, success, failed, canceled, skipped;
#:   ``ref``, ``target_url`` and ``description`` "Must be 255 characters or fewer"; ``name``
#:   or ``context`` (default "default"), ``coverage``, ``pipeline_id``).
#: - Pagination: https://docs.gitlab.com/api/rest/#pagination (``page``, ``per_page`` at most
#:   100, default 20; headers ``X-Next-Page``, ``X-Page``, ``X-Per-Page``, ``X-Prev-Page``,
#:   ``X-Total``, ``X-Total-Pages``, ``Link``).
#: - Parameters may come in the query string or the body, JSON or form-encoded:
#:   https://docs.gitlab.com/api/rest/#request-payload
GITLAB_DESCRIPTION: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "GitLab REST API v4 (the endpoints checkly-gate publishes to)"},
    "servers": [{"url": "/api/v4"}],
    "paths": {
        "/projects/{id}/merge_requests/{merge_request_iid}/notes": {
            "get": {
                "operationId": "list-notes",
                "parameters": [
                    _gitlab_id("id", "project id or URL-encoded path", "string"),
                    _gitlab_id("merge_request_iid", "merge request IID"),
                    {"name": "sort", "in": "query", "schema": {"enum": ["asc", "desc"]}},
                    {
                        "name": "order_by",
                        "in": "query",
                        "schema": {"enum": ["created_at", "updated_at"]},
                    },
                    *_GITLAB_PAGE,
                ],
            },
            "post": {
                "operationId": "create-note",
                "parameters": [
                    _gitlab_id("id", "project id or URL-encoded path", "string"),
                    _gitlab_id("merge_request_iid", "merge request IID"),
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["body"],
                                "properties": {
                                    "body": {
                                        "type": "string",
                                        "minLength": 1,
                                        "maxLength": 1_000_000,
                                    },
                                    "internal": {"type": "boolean"},
                                    "merge_request_diff_head_sha": {"type": "string"},
                                    "created_at": {"type": "string"},
                                },
                            }
                        }
                    },
                },
            },
        },
        "/projects/{id}/merge_requests/{merge_request_iid}/notes/{note_id}": {
            "put": {
                "operationId": "update-note",
                "parameters": [
                    _gitlab_id("id", "project id or URL-encoded path", "string"),
                    _gitlab_id("merge_request_iid", "merge request IID"),
                    _gitlab_id("note_id", "note id"),
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["body"],
                                "properties": {
                                    "body": {
                                        "type": "string",
                                        "minLength": 1,
                                        "maxLength": 1_000_000,
                                    },
                                },
                            }
                        }
                    },
                },
            }
        },
        "/projects/{id}/statuses/{sha}": {
            "post": {
                "operationId": "create-status",
                "parameters": [
                    _gitlab_id("id", "project id or URL-encoded path", "string"),
                    _gitlab_id("sha", "commit SHA", "string"),
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["state"],
                                "properties": {
                                    "state": {
                                        "type": "string",
                                        "enum": [
                                            "pending",
                                            "running",
                                            "success",
                                            "failed",
                                            "canceled",
                                            "skipped",
                                        ],
                                    },
                                    "ref": {"type": "string", "maxLength": 255},
                                    "name": {"type": "string"},
                                    "context": {"type": "string"},
                                    "target_url": {"type": "string", "maxLength": 255},
                                    "description": {"type": "string", "maxLength": 255},
                                    "coverage": {"type": "number"},
                                    "pipeline_id": {"type": "integer"},
                                },
                            }
                        }
                    },
                },
            }
        },
    },
}

# Facts the GitHub description does not carry, checked by the fake all the same.
#: A comment body longer than this is refused: 422 "Body is too long (maximum is 65536
#: characters)" (the API's own validation message; the limit issue 22 states).
GITHUB_COMMENT_MAX = 65_536
#: A commit status description longer than this is refused: 422 "description is too long
#: (maximum is 140 characters)" (the API's own validation message).
GITHUB_STATUS_DESCRIPTION_MAX = 140


# ---------------------------------------------------------------------------- the contract


def _openapi_to_jsonschema(node: Any, doc: Mapping[str, Any], depth: int = 0) -> Any:
    """An OpenAPI 3.0 schema object as plain JSON Schema (draft 4): local ``$ref`` inlined,
    ``nullable: true`` turned into a ``null`` type. Deeper than 40 levels becomes ``{}``."""
    if depth > 40:
        return {}
    if isinstance(node, list):
        return [_openapi_to_jsonschema(item, doc, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _openapi_to_jsonschema(_resolve(node["$ref"], doc), doc, depth + 1)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            out[key] = {k: _openapi_to_jsonschema(v, doc, depth + 1) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = _openapi_to_jsonschema(value, doc, depth + 1)
        elif key in ("example", "examples", "discriminator", "xml", "externalDocs"):
            continue
        else:
            out[key] = value
    if out.pop("nullable", False):
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def _resolve(ref: str, doc: Mapping[str, Any]) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, got {ref!r}")
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


@dataclass(frozen=True)
class Operation:
    """One operation of a description: ``template`` is its path as written there."""

    method: str
    template: str
    operation_id: str
    spec: Mapping[str, Any]
    pattern: re.Pattern[str]
    literals: int  # literal path segments: a concrete path wins over a templated one

    def parameters(self, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [
            _resolve(p["$ref"], doc) if "$ref" in p else p for p in self.spec.get("parameters", [])
        ]


def _compile(template: str, spec: Mapping[str, Any], doc: Mapping[str, Any]) -> re.Pattern[str]:
    multi = set()
    for param in spec.get("parameters", []):
        param = _resolve(param["$ref"], doc) if "$ref" in param else param
        if param.get("in") == "path" and param.get("x-multi-segment"):
            multi.add(param["name"])
    out, last = [], 0
    for match in re.finditer(r"\{([^}]+)\}", template):
        out.append(re.escape(template[last : match.start()]))
        name = match.group(1)
        group = re.sub(r"\W", "_", name)
        out.append(f"(?P<{group}>.+)" if name in multi else f"(?P<{group}>[^/]+)")
        last = match.end()
    out.append(re.escape(template[last:]))
    return re.compile("^" + "".join(out) + "$")


class Contract:
    """What the platform's API description accepts, for the operations a fake serves.

    ``check(method, path, query, body)`` returns the problems the platform would refuse the
    request for (empty when it is fine): an operation the description does not have, a path
    or query parameter of the wrong type or value, a missing required body, a body that does
    not match the operation's JSON schema (required fields, types, enums, maxLength), then
    each ``extra`` rule (facts documented elsewhere). ``body`` is the decoded JSON value;
    with ``coerce`` (GitLab: Grape converts parameters to their declared type), a string body
    field is first read as the type its schema names, as a query parameter always is.
    """

    def __init__(
        self,
        doc: Mapping[str, Any],
        served: set[str],
        extra: Mapping[str, Callable[[Any], list[str]]] | None = None,
        source: str = "",
        coerce: bool = False,
    ) -> None:
        self.doc = doc
        self.source = source
        self.coerce = coerce
        self.extra = dict(extra or {})
        self.operations: list[Operation] = []
        for template, item in doc.get("paths", {}).items():
            for method, spec in item.items():
                if not isinstance(spec, dict) or spec.get("operationId") not in served:
                    continue
                literals = sum(1 for s in template.split("/") if s and "{" not in s)
                pattern = _compile(template, spec, doc)
                self.operations.append(
                    Operation(
                        method.upper(), template, spec["operationId"], spec, pattern, literals
                    )
                )
        missing = served - {op.operation_id for op in self.operations}
        if missing:
            raise ValueError(f"the description has no operation {sorted(missing)}")
        self.operations.sort(key=lambda op: -op.literals)

    def find(self, method: str, path: str) -> tuple[Operation | None, dict[str, str]]:
        """The operation for ``method`` and a raw (still percent-encoded) ``path``, with its
        path parameters decoded; (None, {}) for a path or method the description lacks."""
        for op in self.operations:
            match = op.pattern.match(path)
            if match and op.method == method:
                return op, {k: unquote(v) for k, v in match.groupdict().items()}
        return None, {}

    def check(
        self, method: str, path: str, query: Mapping[str, str], body: Any, has_body: bool
    ) -> list[str]:
        op, params = self.find(method, path)
        if op is None:
            return [f"{method} {path}: no such operation in {self.source or 'the description'}"]
        problems: list[str] = []
        for param in op.parameters(self.doc):
            where, name = param.get("in"), param.get("name", "")
            if where == "path":
                raw = params.get(re.sub(r"\W", "_", name))
            elif where == "query":
                raw = query.get(name)
            else:
                continue
            if raw is None:
                if param.get("required"):
                    problems.append(f'"{name}" wasn\'t supplied.')
                continue
            schema = _openapi_to_jsonschema(param.get("schema", {}), self.doc)
            problems += _errors(schema, _coerce(raw, schema), f"{where} parameter {name!r}")
        request = op.spec.get("requestBody")
        if isinstance(request, dict) and "$ref" in request:
            request = _resolve(request["$ref"], self.doc)
        if request:
            if not has_body:
                if request.get("required"):
                    problems.append("a request body is required")
            else:
                content = request.get("content", {}).get("application/json", {})
                schema = _openapi_to_jsonschema(content.get("schema", {}), self.doc)
                if self.coerce and isinstance(body, dict):
                    fields = schema.get("properties", {})
                    body = {
                        k: _coerce(v, fields.get(k, {})) if isinstance(v, str) else v
                        for k, v in body.items()
                    }
                problems += _errors(schema, body, "body")
        elif has_body and method in ("GET", "HEAD"):
            problems.append(f"{method} takes no request body")
        rule = self.extra.get(op.operation_id)
        if rule is not None and not problems:
            problems += rule(body)
        return problems


def _coerce(raw: str, schema: Mapping[str, Any]) -> Any:
    """A path/query string as the type its schema names (left a string when it is not one)."""
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "integer" in kinds and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if "number" in kinds:
        with contextlib.suppress(ValueError):
            return float(raw)
    if "boolean" in kinds and raw in ("true", "false"):
        return raw == "true"
    return raw


def _errors(schema: Any, value: Any, what: str) -> list[str]:
    """The schema's complaints about ``value``, each "<what>/<where>: <message>", short."""
    validator = jsonschema.Draft4Validator(schema)
    out = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path)
        if error.validator == "maxLength":
            message = f"is too long (maximum is {error.validator_value} characters)"
        elif len(error.message) <= 300:
            message = error.message
        else:
            message = f"does not match its schema ({error.validator})"
        out.append(f"{what}{'/' + where if where else ''}: {message}")
    return out


def _github_comment_rule(body: Any) -> list[str]:
    text = body.get("body") if isinstance(body, dict) else None
    if isinstance(text, str) and len(text) > GITHUB_COMMENT_MAX:
        return [f"Body is too long (maximum is {GITHUB_COMMENT_MAX} characters)"]
    if isinstance(text, str) and not text.strip():
        return ["Body cannot be blank"]
    return []


def _github_status_rule(body: Any) -> list[str]:
    text = body.get("description") if isinstance(body, dict) else None
    if isinstance(text, str) and len(text) > GITHUB_STATUS_DESCRIPTION_MAX:
        return [f"description is too long (maximum is {GITHUB_STATUS_DESCRIPTION_MAX} characters)"]
    return []


GITHUB_OPERATIONS = {
    "issues/list-comments": "list-comments",
    "issues/create-comment": "create-comment",
    "issues/update-comment": "update-comment",
    "repos/create-commit-status": "create-status",
}


def github_contract() -> Contract | None:
    """The contract from ``@octokit/openapi``'s description, or None when it is not installed."""
    doc = github_description()
    if doc is None:
        return None
    version = github_description_version()
    return Contract(
        doc,
        set(GITHUB_OPERATIONS),
        extra={
            "issues/create-comment": _github_comment_rule,
            "issues/update-comment": _github_comment_rule,
            "repos/create-commit-status": _github_status_rule,
        },
        source=f"{GITHUB_DESCRIPTION_PACKAGE}@{version}" if version else "GitHub's description",
    )


def _minimal_github_contract() -> Contract:
    """Without the package: only the documented facts above, on the same routes."""
    body = {"type": "object"}
    ops: dict[str, Any] = {
        "/repos/{owner}/{repo}/issues/{issue_number}/comments": {
            "get": {"operationId": "issues/list-comments"},
            "post": {"operationId": "issues/create-comment", "requestBody": {}},
        },
        "/repos/{owner}/{repo}/issues/comments/{comment_id}": {
            "patch": {"operationId": "issues/update-comment", "requestBody": {}},
        },
        "/repos/{owner}/{repo}/statuses/{sha}": {
            "post": {
                "operationId": "repos/create-commit-status",
                "parameters": [{"name": "sha", "in": "path", "x-multi-segment": True}],
                "requestBody": {},
            },
        },
    }
    for item in ops.values():
        for spec in item.values():
            if "requestBody" in spec:
                spec["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": body}},
                }
    return Contract(
        {"paths": ops},
        set(GITHUB_OPERATIONS),
        extra={
            "issues/create-comment": _github_comment_rule,
            "issues/update-comment": _github_comment_rule,
            "repos/create-commit-status": _github_status_rule,
        },
        source="documented facts only (@octokit/openapi is not installed)",
    )


def gitlab_contract() -> Contract:
    """The contract from ``GITLAB_DESCRIPTION`` (hand-written from GitLab's documentation)."""
    return Contract(
        GITLAB_DESCRIPTION,
        {"list-notes", "create-note", "update-note", "create-status"},
        source="GitLab's documentation (hand-written description)",
        coerce=True,
    )


# ---------------------------------------------------------------------------- the servers


@dataclass(frozen=True)
class RecordedRequest:
    """One request as a fake received it.

    ``path`` is the raw path without the base prefix (``/api/v4`` or ``prefix``), ``query``
    the last value of each query parameter, ``headers`` lower-cased, ``body`` the decoded
    JSON (GitLab: or form) value (None without one), ``operation`` the name the fake serves
    it under (e.g. "create-comment"; None for an unknown route), ``status`` the answer (None
    while hanging), ``at`` its ``time.monotonic()`` arrival.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    operation: str | None
    status: int | None
    at: float


@dataclass(frozen=True)
class Violation:
    """A request the platform's description says would be refused, and why."""

    method: str
    path: str
    problems: tuple[str, ...]


@dataclass
class Fault:
    """A programmed fault: ``kind`` is "status" (answer ``status`` with the platform's error
    body), "hang" (never answer), "trickle" (serve the request, then send the answer padded to
    64 KiB one byte every ``interval`` seconds: no read times out, only a deadline ends it),
    "rate-limit" (429, ``Retry-After: retry_after``) or "secondary-rate-limit" (GitHub: 403
    with ``Retry-After``). ``operation`` limits it to one route (None: any); ``times`` is how
    many requests it hits (None: all)."""

    kind: str
    status: int = 403
    operation: str | None = None
    times: int | None = 1
    retry_after: int = 1
    interval: float = 0.2


@dataclass
class _Answer:
    status: int
    body: Any = None  # JSON value; bytes are sent as they are
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json; charset=utf-8"
    hang: bool = False
    trickle: float = 0.0  # seconds between bytes; 0: send at once


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: _PlatformFake) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # no getfqdn (reverse DNS can stall)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A handler error never reaches stderr; the request is recorded as answered 500."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sys_version = ""
    timeout = 60
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the fake records requests instead."""

    @property
    def server_version(self) -> str:  # type: ignore[override]
        return self.server.fake.server_header

    def _dispatch(self) -> None:
        fake = self.server.fake
        arrived = time.monotonic()
        raw = self._read_body()
        if raw is None:
            self.close_connection = True
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            answer = fake._handle(self.command, self.path, headers, raw, arrived)
        except Exception as exc:  # a fake bug answers 500, never kills the server
            answer = _Answer(500, {"message": f"fake internal error: {exc!r}"})
        if answer.hang:
            fake._closing.wait()
            self.close_connection = True
            return
        payload = (
            answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
        )
        if answer.trickle:
            payload = payload.ljust(64 << 10)  # trailing whitespace: still the same JSON
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command == "HEAD":
                return
            if not answer.trickle:
                self.wfile.write(payload)
                return
            for index in range(len(payload)):
                self.wfile.write(payload[index : index + 1])
                self.wfile.flush()
                if fake._closing.wait(answer.trickle):
                    self.close_connection = True
                    return
        except OSError:
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _read_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length < 0 or length > _MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""


class _PlatformFake:
    """The server, recording, faults and contract check shared by both fakes."""

    server_header = "fake"
    base_prefix = ""

    def __init__(self, token: str, contract: Contract, host: str = "127.0.0.1") -> None:
        if not token:
            raise ValueError("token must be a non-empty string")
        self.token = token
        self.contract = contract
        self.host = host
        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._violations: list[Violation] = []
        self._faults: list[Fault] = []
        self._connections: set[socket.socket] = set()
        self._closing = threading.Event()
        self._ids = itertools.count(1001)
        self._server = _Server((host, 0), self)
        self._thread: threading.Thread | None = None

    # -- lifecycle
    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """The API base URL a client is configured with (``GITHUB_API_URL``, ``CI_API_V4_URL``)."""
        return self.origin + self.base_prefix

    def start(self) -> _PlatformFake:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=type(self).__name__,
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging requests, stop serving, close every connection. Idempotent."""
        self._closing.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _track(self, connection: socket.socket, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(connection)

    # -- introspection and programming
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def violations(self) -> list[Violation]:
        """Every request the platform's description says it would refuse (assert it is [])."""
        with self._lock:
            return list(self._violations)

    def inject(
        self,
        kind: str,
        *,
        status: int = 403,
        operation: str | None = None,
        times: int | None = 1,
        retry_after: int = 1,
        interval: float = 0.2,
    ) -> Fault:
        """Program a fault (see ``Fault``); faults apply in the order they were injected."""
        if kind not in ("status", "hang", "trickle", "rate-limit", "secondary-rate-limit"):
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(kind, status, operation, times, retry_after, interval)
        with self._lock:
            self._faults.append(fault)
        return fault

    def _take_fault(self, operation: str | None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.operation not in (None, operation):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    # -- one request
    def _handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes, arrived: float
    ) -> _Answer:
        split = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        path = split.path
        if self.base_prefix:
            if not path.startswith(self.base_prefix + "/"):
                answer = self._not_found()
                self._record(method, path, query, headers, None, None, answer.status, arrived)
                return answer
            path = path[len(self.base_prefix) :]
        body, has_body, parse_error = self._decode(method, raw, headers, query)
        operation, params = self.contract.find(method, path)
        name = self._operation_name(operation.operation_id) if operation else None
        problems = (
            [parse_error]
            if parse_error
            else self.contract.check(method, path, query, body, has_body)
        )
        if problems:
            with self._lock:
                self._violations.append(Violation(method, path, tuple(problems)))
        answer = self._auth(headers, name)
        if answer is None and operation is None:
            answer = self._not_found()
        trickle = 0.0
        if answer is None:
            fault = self._take_fault(name)
            if fault is not None and fault.kind == "trickle":
                trickle = fault.interval
            elif fault is not None:
                answer = self._fault_answer(fault)
        if answer is None and parse_error:
            answer = self._parse_error(parse_error)
        if answer is None and problems:
            answer = self._invalid(name or "", problems)
        if answer is None and name is not None:
            with self._lock:
                answer = self._serve(name, params, query, body)
        assert answer is not None
        answer.trickle = trickle
        self._record(
            method,
            path,
            query,
            headers,
            body,
            name,
            None if answer.hang else answer.status,
            arrived,
        )
        return answer

    def _record(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: Any,
        operation: str | None,
        status: int | None,
        arrived: float,
    ) -> None:
        with self._lock:
            self._requests.append(
                RecordedRequest(method, path, query, headers, body, operation, status, arrived)
            )

    def _decode(
        self, method: str, raw: bytes, headers: Mapping[str, str], query: Mapping[str, str]
    ) -> tuple[Any, bool, str | None]:
        """(decoded body, whether there was one, a parse problem or None)."""
        if not raw.strip():
            return None, False, None
        try:
            return json.loads(raw), True, None
        except ValueError:
            return None, True, "Problems parsing JSON"

    def _page(
        self, items: list[Any], query: Mapping[str, str], default: int
    ) -> tuple[list[Any], int, int, int]:
        """(the page's items, page, per_page, total pages); per_page is capped at 100."""
        per_page = min(max(_int(query.get("per_page"), default), 1), 100)
        page = max(_int(query.get("page"), 1), 1)
        pages = max((len(items) + per_page - 1) // per_page, 1)
        return items[(page - 1) * per_page : page * per_page], page, per_page, pages

    def _page_url(self, path: str, query: Mapping[str, str], page: int) -> str:
        return f"{self.url}{path}?{urlencode({**query, 'page': str(page)})}"

    # -- per platform
    def _operation_name(self, operation_id: str) -> str:
        return operation_id

    def _auth(self, headers: Mapping[str, str], operation: str | None) -> _Answer | None:
        raise NotImplementedError

    def _not_found(self) -> _Answer:
        raise NotImplementedError

    def _fault_answer(self, fault: Fault) -> _Answer:
        raise NotImplementedError

    def _parse_error(self, problem: str) -> _Answer:
        raise NotImplementedError

    def _invalid(self, operation: str, problems: list[str]) -> _Answer:
        raise NotImplementedError

    def _serve(
        self, operation: str, params: dict[str, str], query: dict[str, str], body: Any
    ) -> _Answer:
        raise NotImplementedError


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


_GITHUB_DOCS = "https://docs.github.com/rest"
_GITHUB_DOC_PAGE = {
    "list-comments": "https://docs.github.com/rest/issues/comments#list-issue-comments",
    "create-comment": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
    "update-comment": "https://docs.github.com/rest/issues/comments#update-an-issue-comment",
    "create-status": "https://docs.github.com/rest/commits/statuses#create-a-commit-status",
}


class GitHubFake(_PlatformFake):
    """A fake of api.github.com for issue comments and commit statuses (see the module doc).

    ``comments[(owner, repo, issue_number)]`` and ``statuses[(owner, repo, sha)]`` hold what
    was created (dicts shaped like GitHub's answers); ``seed_comments`` adds comments by others.
    ``contract`` defaults to ``github_contract()`` (the npm package's description), else the
    documented facts only; ``described`` says which.
    """

    server_header = "GitHub.com"

    def __init__(
        self,
        token: str = "ghs_faketoken",
        contract: Contract | None = None,
        prefix: str = "",
        login: str = "github-actions[bot]",
    ) -> None:
        found = contract or github_contract()
        super().__init__(token, found or _minimal_github_contract())
        #: True when requests are held to GitHub's description (not only the facts above).
        self.described = self.contract.source.startswith(GITHUB_DESCRIPTION_PACKAGE)
        self.base_prefix = prefix
        self.login = login
        self.comments: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        self.statuses: dict[tuple[str, str, str], list[dict[str, Any]]] = {}

    def __enter__(self) -> GitHubFake:
        self.start()
        return self

    def _operation_name(self, operation_id: str) -> str:
        return GITHUB_OPERATIONS[operation_id]

    def ci_env(self, repository: str = "example/app") -> dict[str, str]:
        """The variables a GitHub Actions job has for this API (``GITHUB_API_URL`` & co)."""
        return {
            "GITHUB_API_URL": self.url,
            "GITHUB_TOKEN": self.token,
            "GITHUB_REPOSITORY": repository,
        }

    def seed_comments(
        self, owner: str, repo: str, issue_number: int, bodies: list[str], login: str = "someone"
    ) -> list[dict[str, Any]]:
        """Add comments by ``login`` to an issue/PR (e.g. to push the gate's past page 1)."""
        with self._lock:
            return [self._new_comment(owner, repo, issue_number, b, login) for b in bodies]

    def _new_comment(
        self, owner: str, repo: str, issue_number: int, body: str, login: str
    ) -> dict[str, Any]:
        comment_id = next(self._ids)
        base = f"{self.url}/repos/{owner}/{repo}"
        comment = {
            "id": comment_id,
            "node_id": f"IC_fake{comment_id}",
            "url": f"{base}/issues/comments/{comment_id}",
            "html_url": f"https://github.com/{owner}/{repo}/pull/{issue_number}"
            f"#issuecomment-{comment_id}",
            "issue_url": f"{base}/issues/{issue_number}",
            "body": body,
            "user": self._user(login),
            "author_association": "NONE",
            "created_at": _now(),
            "updated_at": _now(),
        }
        self.comments.setdefault((owner, repo, issue_number), []).append(comment)
        return comment

    def _user(self, login: str) -> dict[str, Any]:
        """A ``simple-user`` as GitHub's description requires it."""
        api = f"{self.url}/users/{login}"
        return {
            "login": login,
            "id": 41898282,
            "node_id": "MDM6Qm90NDE4OTgyODI=",
            "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": f"https://github.com/{login}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": "Bot" if login.endswith("[bot]") else "User",
            "site_admin": False,
        }

    def _error(self, status: int, message: str, operation: str | None = None) -> dict[str, Any]:
        return {
            "message": message,
            "documentation_url": _GITHUB_DOC_PAGE.get(operation or "", _GITHUB_DOCS),
            "status": str(status),
        }

    def _headers(self) -> list[tuple[str, str]]:
        return [
            ("X-GitHub-Request-Id", f"FAKE:{next(self._ids)}"),
            ("X-RateLimit-Limit", "5000"),
            ("X-RateLimit-Remaining", "4999"),
            ("X-RateLimit-Reset", str(int(time.time()) + 3600)),
            ("X-RateLimit-Resource", "core"),
        ]

    def _auth(self, headers: Mapping[str, str], operation: str | None) -> _Answer | None:
        # https://docs.github.com/rest/using-the-rest-api/getting-started-with-the-rest-api#user-agent
        if not headers.get("user-agent"):
            return _Answer(
                403,
                b"Request forbidden by administrative rules. "
                b"Please make sure your request has a User-Agent header "
                b"(https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required)."
                b" Check https://developer.github.com for other possible causes.\n",
                content_type="text/plain; charset=utf-8",
            )
        # https://docs.github.com/rest/authentication/authenticating-to-the-rest-api
        value = headers.get("authorization")
        if value is None:
            return _Answer(401, self._error(401, "Requires authentication", operation))
        scheme, _, credential = value.partition(" ")
        if scheme.lower() not in ("bearer", "token") or credential.strip() != self.token:
            return _Answer(401, self._error(401, "Bad credentials", operation))
        return None

    def _not_found(self) -> _Answer:
        return _Answer(404, self._error(404, "Not Found"), self._headers())

    def _fault_answer(self, fault: Fault) -> _Answer:
        if fault.kind == "hang":
            return _Answer(0, hang=True)
        op = fault.operation
        if fault.kind == "secondary-rate-limit":
            # https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit
            message = (
                "You have exceeded a secondary rate limit. Please wait a few minutes before "
                "you try again. If you reach out to GitHub Support for help, please include "
                "the request ID FAKE:0."
            )
            return _Answer(
                403,
                self._error(403, message, op),
                [*self._headers(), ("Retry-After", str(fault.retry_after))],
            )
        if fault.kind == "rate-limit":
            headers = [
                ("Retry-After", str(fault.retry_after)),
                ("X-RateLimit-Limit", "5000"),
                ("X-RateLimit-Remaining", "0"),
                ("X-RateLimit-Used", "5000"),
                ("X-RateLimit-Reset", str(int(time.time()) + fault.retry_after)),
                ("X-RateLimit-Resource", "core"),
            ]
            message = "API rate limit exceeded for installation ID 1."
            return _Answer(429, self._error(429, message, op), headers)
        messages = {
            401: "Bad credentials",
            403: "Resource not accessible by integration",
            404: "Not Found",
            500: "Server Error",
            502: "Server Error",
            503: "Service Unavailable",
        }
        message = messages.get(fault.status, "Error")
        return _Answer(fault.status, self._error(fault.status, message, op), self._headers())

    def _parse_error(self, problem: str) -> _Answer:
        return _Answer(400, self._error(400, problem), self._headers())

    def _invalid(self, operation: str, problems: list[str]) -> _Answer:
        too_long = [p for p in problems if "is too long" in p or "cannot be blank" in p]
        if too_long:  # the model's validation: "Validation Failed" with errors[]
            resource = "Status" if operation == "create-status" else "IssueComment"
            field_name = "description" if operation == "create-status" else "data"
            body = self._error(422, "Validation Failed", operation)
            body["errors"] = [
                {"resource": resource, "code": "unprocessable", "field": field_name, "message": p}
                for p in too_long
            ]
            return _Answer(422, body, self._headers())
        # the schema's validation: "Invalid request.\n\n<what>"
        message = "Invalid request.\n\n" + "\n".join(problems)
        return _Answer(422, self._error(422, message, operation), self._headers())

    def _serve(
        self, operation: str, params: dict[str, str], query: dict[str, str], body: Any
    ) -> _Answer:
        owner, repo = params["owner"], params["repo"]
        if operation == "list-comments":
            number = int(params["issue_number"])
            items = self.comments.get((owner, repo, number), [])
            since = query.get("since")
            if since:
                items = [c for c in items if c["updated_at"] >= since]
            page, current, _, pages = self._page(items, query, 30)
            path = f"/repos/{owner}/{repo}/issues/{number}/comments"
            links = []
            if current < pages:
                links.append(f'<{self._page_url(path, query, current + 1)}>; rel="next"')
                links.append(f'<{self._page_url(path, query, pages)}>; rel="last"')
            if current > 1:
                links.append(f'<{self._page_url(path, query, current - 1)}>; rel="prev"')
                links.append(f'<{self._page_url(path, query, 1)}>; rel="first"')
            headers = self._headers() + ([("Link", ", ".join(links))] if links else [])
            return _Answer(200, page, headers)
        if operation == "create-comment":
            number = int(params["issue_number"])
            comment = self._new_comment(owner, repo, number, body["body"], self.login)
            return _Answer(201, comment, [*self._headers(), ("Location", comment["url"])])
        if operation == "update-comment":
            comment_id = int(params["comment_id"])
            for (o, r, _), items in self.comments.items():
                for comment in items:
                    if (o, r) == (owner, repo) and comment["id"] == comment_id:
                        comment["body"] = body["body"]
                        comment["updated_at"] = _now()
                        return _Answer(200, comment, self._headers())
            return _Answer(404, self._error(404, "Not Found", operation), self._headers())
        if operation == "create-status":
            sha = params["sha"]
            status_id = next(self._ids)
            status = {
                "url": f"{self.url}/repos/{owner}/{repo}/statuses/{sha}",
                "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4",
                "id": status_id,
                "node_id": f"SC_fake{status_id}",
                "state": body["state"],
                "description": body.get("description"),
                "target_url": body.get("target_url"),
                "context": body.get("context", "default"),
                "created_at": _now(),
                "updated_at": _now(),
                "creator": self._user(self.login),
            }
            self.statuses.setdefault((owner, repo, sha), []).append(status)
            return _Answer(201, status, self._headers())
        raise AssertionError(operation)


class GitLabFake(_PlatformFake):
    """A fake of GitLab's REST API v4 for merge-request notes and commit statuses.

    ``notes[(project, merge_request_iid)]`` and ``statuses[(project, sha)]`` hold what was
    created (``project`` as the client wrote it, decoded: "42" or "group/project"). ``JOB-TOKEN``
    (``CI_JOB_TOKEN``) is refused with 401 except on ``job_token_operations`` (default none): a job
    token may not create or edit notes nor set a commit status; recent GitLab lets it list notes
    where the project's fine-grained job token permissions allow it
    (https://docs.gitlab.com/ci/jobs/ci_job_token/).
    """

    server_header = "nginx"
    base_prefix = "/api/v4"

    def __init__(
        self,
        token: str = "glpat-faketoken",
        job_token: str = "glcbt-fakejobtoken",
        job_token_operations: Iterable[str] = (),
        username: str = "project_42_bot",
    ) -> None:
        super().__init__(token, gitlab_contract())
        self.described = True
        self.job_token = job_token
        self.job_token_operations = frozenset(job_token_operations)
        self.username = username
        self.notes: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.statuses: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def __enter__(self) -> GitLabFake:
        self.start()
        return self

    def ci_env(self, project_id: str = "42", merge_request_iid: int | None = 7) -> dict[str, str]:
        """The variables a GitLab CI merge-request pipeline has for this API, with the token
        in ``CHECKLY_GATE_GITLAB_TOKEN`` (issue 22); ``merge_request_iid=None``: a branch
        pipeline."""
        env = {
            "CI_API_V4_URL": self.url,
            "CI_PROJECT_ID": project_id,
            "CI_JOB_TOKEN": self.job_token,
            "CHECKLY_GATE_GITLAB_TOKEN": self.token,
        }
        if merge_request_iid is not None:
            env["CI_MERGE_REQUEST_IID"] = str(merge_request_iid)
        return env

    def seed_notes(
        self, project: str, merge_request_iid: int, bodies: list[str], username: str = "someone"
    ) -> list[dict[str, Any]]:
        """Add notes by ``username`` to a merge request."""
        with self._lock:
            return [self._new_note(project, merge_request_iid, b, username) for b in bodies]

    def _new_note(
        self, project: str, merge_request_iid: int, body: str, username: str
    ) -> dict[str, Any]:
        note_id = next(self._ids)
        note = {
            "id": note_id,
            "type": None,
            "body": body,
            "author": {"id": 7, "username": username, "name": username, "state": "active"},
            "created_at": _now(),
            "updated_at": _now(),
            "system": False,
            "noteable_id": 9000 + merge_request_iid,
            "noteable_type": "MergeRequest",
            "noteable_iid": merge_request_iid,
            "resolvable": False,
            "confidential": False,
            "internal": False,
        }
        self.notes.setdefault((project, merge_request_iid), []).append(note)
        return note

    def _decode(
        self, method: str, raw: bytes, headers: Mapping[str, str], query: Mapping[str, str]
    ) -> tuple[Any, bool, str | None]:
        # Parameters of a POST/PUT come from the query string and a JSON or form body alike.
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        body: Any = None
        if raw.strip():
            if content_type == "application/x-www-form-urlencoded":
                form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
                body = {k: v[-1] for k, v in form.items()}
            else:
                try:
                    body = json.loads(raw)
                except ValueError:
                    return None, True, "body is not valid JSON"
        if body is not None and not isinstance(body, dict):
            return body, True, None
        if method not in ("POST", "PUT"):
            return body, body is not None, None
        merged: dict[str, Any] = dict(query)
        merged.update(body or {})
        return merged, True, None  # no parameters at all: Grape says what is missing

    def _auth(self, headers: Mapping[str, str], operation: str | None) -> _Answer | None:
        # https://docs.gitlab.com/api/rest/authentication/
        private = headers.get("private-token")
        bearer = headers.get("authorization", "")
        job = headers.get("job-token")
        if private is not None:
            ok = private == self.token
        elif bearer.lower().startswith("bearer "):
            ok = bearer[7:].strip() == self.token
        elif job is not None:
            ok = operation in self.job_token_operations and job == self.job_token
        else:
            ok = False
        return None if ok else _Answer(401, {"message": "401 Unauthorized"})

    def _not_found(self) -> _Answer:
        return _Answer(404, {"error": "404 Not Found"})

    def _fault_answer(self, fault: Fault) -> _Answer:
        if fault.kind == "hang":
            return _Answer(0, hang=True)
        if fault.kind in ("rate-limit", "secondary-rate-limit"):
            # https://docs.gitlab.com/security/rate_limits/ (response headers)
            reset = int(time.time()) + fault.retry_after
            headers = [
                ("Retry-After", str(fault.retry_after)),
                ("RateLimit-Name", "throttle_authenticated_api"),
                ("RateLimit-Limit", "60"),
                ("RateLimit-Observed", "61"),
                ("RateLimit-Remaining", "0"),
                ("RateLimit-Reset", str(reset)),
                (
                    "RateLimit-ResetTime",
                    time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(reset)),
                ),
            ]
            return _Answer(429, b"Retry later\n", headers, content_type="text/plain")
        messages = {
            401: "401 Unauthorized",
            403: "403 Forbidden",
            404: "404 Project Not Found",
            500: "500 Internal Server Error",
            502: "502 Bad Gateway",
        }
        return _Answer(fault.status, {"message": messages.get(fault.status, f"{fault.status}")})

    def _parse_error(self, problem: str) -> _Answer:
        return _Answer(400, {"error": problem})

    def _invalid(self, operation: str, problems: list[str]) -> _Answer:
        model: dict[str, list[str]] = {}
        for problem in problems:
            named = re.match(r"body/(\w+): (is too long .*)$", problem)
            if named:  # the model's validation: 400 {"message": {"note": ["is too long ..."]}}
                field_name = "note" if named.group(1) == "body" else named.group(1)
                model.setdefault(field_name, []).append(named.group(2))
        if model:
            return _Answer(400, {"message": model})
        # Grape's parameter validation: 400 {"error": "state does not have a valid value"}
        return _Answer(400, {"error": ", ".join(_grape(p) for p in problems)})

    def _serve(
        self, operation: str, params: dict[str, str], query: dict[str, str], body: Any
    ) -> _Answer:
        project = params["id"]
        if operation == "list-notes":
            iid = int(params["merge_request_iid"])
            key = "updated_at" if query.get("order_by") == "updated_at" else "created_at"
            newest_first = query.get("sort", "desc") == "desc"
            items = sorted(
                self.notes.get((project, iid), []),
                key=lambda n: (n[key], n["id"]),
                reverse=newest_first,
            )
            page, current, per_page, pages = self._page(items, query, 20)
            path = f"/projects/{quote_project(project)}/merge_requests/{iid}/notes"
            headers = [
                ("X-Page", str(current)),
                ("X-Per-Page", str(per_page)),
                ("X-Next-Page", str(current + 1) if current < pages else ""),
                ("X-Prev-Page", str(current - 1) if current > 1 else ""),
                ("X-Total", str(len(items))),
                ("X-Total-Pages", str(pages)),
            ]
            links = []
            if current < pages:
                links.append(f'<{self._page_url(path, query, current + 1)}>; rel="next"')
            links.append(f'<{self._page_url(path, query, 1)}>; rel="first"')
            links.append(f'<{self._page_url(path, query, pages)}>; rel="last"')
            headers.append(("Link", ", ".join(links)))
            return _Answer(200, page, headers)
        if operation == "create-note":
            iid = int(params["merge_request_iid"])
            return _Answer(201, self._new_note(project, iid, body["body"], self.username))
        if operation == "update-note":
            iid, note_id = int(params["merge_request_iid"]), int(params["note_id"])
            for note in self.notes.get((project, iid), []):
                if note["id"] == note_id:
                    note["body"] = body["body"]
                    note["updated_at"] = _now()
                    return _Answer(200, note)
            return _Answer(404, {"message": "404 Not found"})
        if operation == "create-status":
            sha = params["sha"]
            status_id = next(self._ids)
            status = {
                "id": status_id,
                "sha": sha,
                "ref": body.get("ref"),
                "status": body["state"],
                "name": body.get("name") or body.get("context") or "default",
                "target_url": body.get("target_url"),
                "description": body.get("description"),
                "created_at": _now(),
                "started_at": None,
                "finished_at": None,
                "allow_failure": False,
                "coverage": body.get("coverage"),
                "author": {"id": 7, "username": self.username, "name": self.username},
            }
            self.statuses.setdefault((project, sha), []).append(status)
            return _Answer(201, status)
        raise AssertionError(operation)


def quote_project(project: str) -> str:
    """A project id or path as it goes into a GitLab URL ("group/app" -> "group%2Fapp")."""
    return project.replace("%", "%25").replace("/", "%2F")


def _grape(problem: str) -> str:
    """A contract problem in Grape's words ("state is missing", "state does not have a valid
    value"), the way GitLab's parameter validation answers 400."""
    missing = re.search(r"'([^']+)' is a required property", problem)
    if missing:
        return f"{missing.group(1)} is missing"
    named = re.match(r"(?:body/([^:]+)|(?:query|path) parameter '([^']+)'):", problem)
    if named:
        return f"{named.group(1) or named.group(2)} does not have a valid value"
    return problem


@contextlib.contextmanager
def platform_fakes() -> Iterator[tuple[GitHubFake, GitLabFake]]:
    """Both fakes started, stopped on exit."""
    with GitHubFake() as github, GitLabFake() as gitlab:
        yield github, gitlab

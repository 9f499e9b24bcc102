"""What the simulator's endpoints share: the response they build, Checkly's error body, the JSON
encoding, the UUID rule and how a trigger's target selects checks. The server and its handler
modules (``discovery``, ``check_sessions``) import it; it imports none of them."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from checkly_gate.simulator.model import CheckSpec
from checkly_gate.simulator.timeline import check_id_of

NO_MATCH_MESSAGE = "No matching checks were found."
UUID_PATTERN = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    reset: bool = False


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def api_error(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> Response:
    body = {"statusCode": status, "error": phrase(status), "message": message}
    return Response(status, json_bytes(body), headers=headers or [])


def json_bytes(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def select_checks(
    checks: tuple[CheckSpec, ...], target: Mapping[str, Any] | None
) -> list[CheckSpec]:
    """The checks a trigger ``target`` selects: a check matches when every tag of at least one
    ``matchTags`` group is among its tags, or when its checkId is in ``checkId``. A target
    without groups and ids selects every check."""
    target = target or {}
    groups = [set(group) for group in target.get("matchTags") or []]
    ids = {i.lower() for i in target.get("checkId") or []}
    if not groups and not ids:
        return list(checks)
    chosen = []
    for check in checks:
        tags = set(check.tags)
        check_id = check_id_of(check) if ids else None
        if any(group <= tags for group in groups) or (
            check_id is not None and check_id.lower() in ids
        ):
            chosen.append(check)
    return chosen

"""Seconds to mask a big body: every path ``redact.Secrets`` takes over it. Prints a table.

    python benchmarks/redact.py            # a 5 MB session body, the key and one --env secret
    python benchmarks/redact.py --mb 1     # another size (the cost should grow linearly)

Paths: ``__call__`` on the decoded text (a report, a stream), ``finds`` on its UTF-8 (a raw body
written to the snapshot), ``scrub_json`` (the snapshot's bodies), each on a body holding no
secret (the common case) and on one that echoes most of the key upper-cased in every row.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid

from checkly_gate.redact import Secrets

KEY = "cu_" + "".join(random.Random(1).choice("0123456789abcdef") for _ in range(32))


def body(mb: float, echo: bool) -> str:
    """A session body of about ``mb`` MB: results with ids, names, escapes, an error message."""
    said = f" we got {KEY[4:].upper()}" if echo else ""
    row = {
        "name": "check \\ é",
        "status": "PASSED",
        "errorMessages": ["expected 200 got 500 at https://example.com/a?b=c%20d&e=f" + said],
    }
    size = len(json.dumps(row)) + 60
    rows = [dict(row, checkResultId=str(uuid.uuid4())) for _ in range(int(mb * 1e6 / size))]
    return json.dumps({"results": rows})


def timed(secrets: Secrets, text: str) -> list[float]:
    """Seconds for ``__call__``, ``finds`` and ``scrub_json`` over ``text``."""
    raw = text.encode()
    figures = []
    for work in (
        lambda: secrets(text),
        lambda: secrets.finds(raw),
        lambda: secrets.scrub_json(raw),
    ):
        started = time.perf_counter()
        work()
        figures.append(time.perf_counter() - started)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=5.0)
    args = parser.parse_args()
    print(f"| body ({args.mb:g} MB) | __call__ | finds | scrub_json |")
    print("| --- | --- | --- | --- |")
    for echo in (False, True):
        text = body(args.mb, echo)
        secrets = Secrets([KEY], ["my-deploy-password-2024"])
        secrets("warm up")  # the patterns are compiled on first use
        cells = timed(secrets, text)
        label = "echoes most of the key" if echo else "no secret"
        print(
            f"| {label} ({len(text.encode()) / 1e6:.1f} MB) | "
            + " | ".join(f"{c:.2f} s" for c in cells)
            + " |"
        )


if __name__ == "__main__":
    main()

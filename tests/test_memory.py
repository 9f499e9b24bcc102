"""A big session stays cheap: memory for parsing and reports is bounded by the body's size.

``benchmarks/big_session.py`` measures the real figures (30,000 results, peak RSS); these tests
catch a regression of the kind on a 1,500-result body with ``tracemalloc``, which counts every
Python allocation deterministically: decoding the whole body into dicts, holding a raw body
twice more while writing the snapshot, joining the JUnit XML into one string and copying it,
rendering summary rows that cannot fit its budget. Bounds are multiples of the raw body; the
figures before the fixes (5,000 results) are in each test's docstring. No timing asserts.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from checkly_gate.finish import write_outputs
from checkly_gate.models import Observation, Stop, load_session
from checkly_gate.redact import Secrets
from checkly_gate.reports import GateRun, markdown
from checkly_gate.verdict import Policy, combine, judge_session
from tests.fakes import row, session_body

RESULTS = 1_500


@pytest.fixture(scope="module")
def raw() -> bytes:
    rows = [row(f"check {i:05d}", "FAILED" if i % 500 == 0 else "PASSED") for i in range(RESULTS)]
    return json.dumps(session_body("FAILED", rows)).encode()


@pytest.fixture(scope="module")
def run(raw: bytes) -> GateRun:
    session = load_session(raw)
    obs = Observation(session.session_id, Stop.FINAL, session=session)
    verdict = combine([judge_session(obs, Policy())], None)
    return GateRun(verdict=verdict, observations=(obs,), bodies={session.session_id: raw})


@pytest.fixture
def peak() -> Iterator[Callable[[Callable[[], object]], int]]:
    """``peak(work)``: bytes allocated at most while ``work`` ran, above what was held before."""
    tracemalloc.start()

    def measure(work: Callable[[], object]) -> int:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        work()
        return tracemalloc.get_traced_memory()[1] - before

    yield measure
    tracemalloc.stop()


def test_parsing_never_holds_the_decoded_body(raw: bytes, peak: Callable[..., int]) -> None:
    """json.loads of the whole body, then parsing: 3.5 times the body at peak."""
    assert peak(lambda: load_session(raw)) < 2.6 * len(raw)  # now 2.3


@pytest.mark.parametrize(("kind", "bound"), [("json", 0.5), ("junit", 1.5)])
def test_big_reports_are_written_without_copies_of_the_body(
    kind: str, bound: float, run: GateRun, raw: bytes, tmp_path: Path, peak: Callable[..., int]
) -> None:
    """The snapshot held the body three more times (decoded, spliced, encoded) and the JUnit
    XML was built as one tree, joined, copied and encoded: about 3 times the body each. Now the
    raw body is written as it is (0.1: not even decoded) and testcases one by one (1.0)."""
    path = tmp_path / kind
    secrets = Secrets(["cu_key_123456"])
    # Warm up on a small run: the renderer module is imported on first use and the masker
    # builds its tables once; neither is a copy of the body, which is what is measured.
    write_outputs(GateRun(verdict=run.verdict), {kind: tmp_path / "warm"}, secrets)
    used = peak(lambda: write_outputs(run, {kind: path}, secrets))
    assert path.stat().st_size > 0.4 * len(raw)  # a report of the whole session was written
    assert used < bound * len(raw), used / len(raw)


def test_a_summary_renders_only_what_fits_its_budget(
    run: GateRun, raw: bytes, peak: Callable[..., int]
) -> None:
    """Rendering every row to keep the few that fit 20 kB: 1.9 times the body."""
    text: list[str] = []
    used = peak(lambda: text.append(markdown.render(run, 20_000)))
    assert "more rows" in text[0] and len(text[0].encode()) <= 20_000
    assert used < 0.8 * len(raw)  # now 0.4

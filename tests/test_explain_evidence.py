"""Evidence of failures: the manifest reduced to asset types, fetched within a budget, and named
next to the result link in every report, never with a URL that needs the API key."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from checkly_gate.api import Client
from checkly_gate.ci.github import render_annotations
from checkly_gate.explain import MAX_RESULTS, evidence_targets, fetch_evidence
from checkly_gate.outcomes import Category
from checkly_gate.progress import render_explanations
from checkly_gate.reports import junit, markdown, snapshot
from checkly_gate.reports.evidence import KINDS, evidence_line, manifest_kinds
from checkly_gate.scope import Scope
from tests.fakes import FakeClock, row, session_body
from tests.runs import from_body

ASSET_URL = "https://api.checklyhq.com/v1/test-sessions/x/results/y/assets/trace.zip"


def asset(kind: Any, name: str = "trace.zip") -> dict[str, Any]:
    return {"type": kind, "name": name, "url": ASSET_URL, "source": {"type": "test-session-result"}}


def failing_run() -> Any:
    rows = [
        row("Checkout", "FAILED", "ATTEMPT", check_type="BROWSER"),
        row("Checkout", "FAILED", check_type="BROWSER"),
        row("Search", "FAILED", "ATTEMPT"),
        row("Search"),  # flaky
        row("Homepage"),
    ]
    return from_body(session_body("FAILED", rows))


def test_manifest_is_reduced_to_known_types_in_a_fixed_order() -> None:
    manifest = {
        "assets": [asset("log"), asset("video"), asset("trace"), asset("trace"), asset("x")]
    }
    assert manifest_kinds(manifest) == ("trace", "video", "log", "file")


@given(
    st.recursive(
        st.none() | st.integers() | st.text(max_size=5),
        lambda s: st.lists(s) | st.dictionaries(st.text(max_size=6), s),
        max_leaves=8,
    )
)
def test_any_shape_of_manifest_lists_only_known_types(manifest: Any) -> None:
    assert set(manifest_kinds(manifest)) <= set(KINDS)
    assert set(manifest_kinds({"assets": [manifest]})) <= set(KINDS)


def test_targets_are_failed_finals_first_then_attempts_and_bounded() -> None:
    run = failing_run()
    sv = run.verdict.sessions[0]
    by_name = {r.name: r for r in sv.runs}
    targets = evidence_targets(run.verdict)
    checkout, search = by_name["Checkout"], by_name["Search"]
    assert checkout.category is Category.FAILED and search.category is Category.FLAKY
    assert [rid for _, rid in targets] == [
        checkout.final.result_id,
        checkout.attempts[0].result_id,
        search.attempts[0].result_id,
    ]
    assert evidence_targets(run.verdict, skip={sv.session_id}) == []
    many = from_body(session_body("FAILED", [row(f"c{i}", "FAILED") for i in range(50)]))
    assert len(evidence_targets(many.verdict)) == MAX_RESULTS


def fetch(handler: Any, run: Any, budget: float = 100.0) -> tuple[dict[str, Any], list[str]]:
    clock = FakeClock()
    paths: list[str] = []

    def recording(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        clock.advance(1.0)
        return handler(request)

    scope = Scope(budget, now=clock.now)
    client = Client(
        "key", "https://api.test", transport=httpx.MockTransport(recording), scope=scope
    )
    return fetch_evidence(client, run.verdict), paths


def test_fetch_keeps_types_stops_at_the_first_429_and_skips_errors() -> None:
    run = failing_run()
    answers = iter(
        [
            httpx.Response(200, json={"assets": [asset("trace"), asset("video")]}),
            httpx.Response(404, json={"message": "gone"}),
            httpx.Response(429, json={}),
        ]
    )
    evidence, paths = fetch(lambda r: next(answers), run)
    assert list(evidence.values()) == [("trace", "video")]
    assert len(paths) == 3 and all(p.endswith("/assets") for p in paths)


def test_fetch_stays_inside_the_deadline() -> None:
    evidence, paths = fetch(lambda r: httpx.Response(200, json={"assets": []}), failing_run(), 1.2)
    assert evidence == {} and len(paths) == 1


def test_every_report_names_the_evidence_and_no_report_holds_an_asset_url() -> None:
    run = failing_run()
    final = next(r for r in run.verdict.sessions[0].runs if r.name == "Checkout").final
    run = dataclasses.replace(run, evidence={final.result_id: ("trace", "video", "screenshot")})
    wanted = "evidence in Checkly: trace, video, screenshot"
    texts = {
        "junit": junit.render(run),
        "markdown": markdown.render(run).replace("\\(", "(").replace("\\)", ")"),
        "annotations": "\n".join(render_annotations(run)).replace("%0A", "\n"),
        "log": "\n".join(render_explanations(run)),
    }
    for name, text in texts.items():
        assert wanted in text, name
        assert "/assets" not in text, name
    again = snapshot.load(snapshot.render(run))
    assert again.evidence == run.evidence


def test_no_evidence_no_line() -> None:
    run = failing_run()
    assert all(evidence_line({}, r) == "" for r in run.verdict.sessions[0].runs)
    assert "evidence" not in junit.render(run)


def test_evidence_of_a_flaky_run_says_it_belongs_to_the_failed_attempts() -> None:
    run = failing_run()
    search = next(r for r in run.verdict.sessions[0].runs if r.name == "Search")
    line = evidence_line({search.attempts[0].result_id: ("trace",)}, search)
    assert line == "evidence in Checkly: trace (of the failed attempts; open the result)"

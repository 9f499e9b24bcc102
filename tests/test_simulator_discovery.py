"""The simulator's session list, asset manifests and check sessions, over plain HTTP."""

from __future__ import annotations

import time
from dataclasses import replace

import httpx

from checkly_gate.simulator import CheckSpec, Scenario, Simulator, load_scenario

KEY = "sim-disc-key"
HEADERS = {"Authorization": f"Bearer {KEY}"}


def get(sim: Simulator, path: str, **params: object) -> httpx.Response:
    return httpx.get(sim.url + path, params=params, headers=HEADERS, timeout=10)


def post(sim: Simulator, path: str, body: object) -> httpx.Response:
    return httpx.post(sim.url + path, json=body, headers=HEADERS, timeout=10)


def test_list_filters_pages_and_refuses_bad_parameters(serve) -> None:
    sim = serve(load_scenario("passing"), speed=20)
    dev = replace(load_scenario("passing"), metadata={"branchName": "dev"})
    ids = [sim.add_listed(load_scenario("passing"), provider="VERCEL") for _ in range(5)]
    ids.append(sim.add_listed(dev, provider="GITHUB"))
    later = sim.add_listed(load_scenario("passing"), after=600.0)  # 30 s away: not listed yet
    first = get(sim, "/v1/test-sessions", limit=4).json()
    assert first["length"] == 4 and first["nextId"]
    assert first["entries"][0]["id"] == ids[-1]  # newest first
    second = get(sim, "/v1/test-sessions", limit=4, nextId=first["nextId"]).json()
    seen = [e["id"] for e in first["entries"] + second["entries"]]
    assert sorted(seen) == sorted(ids) and later not in seen and second["nextId"] is None
    entry = first["entries"][0]
    assert entry["provider"] == "GITHUB" and entry["branchName"] == "dev" and entry["commitId"]
    assert len(get(sim, "/v1/test-sessions", branches="dev").json()["entries"]) == 1
    assert len(get(sim, "/v1/test-sessions", providers="VERCEL").json()["entries"]) == 5
    future = time.time() + 3600
    assert get(sim, "/v1/test-sessions", **{"from": future}).json()["entries"] == []
    for bad in (
        {"limit": 0},
        {"limit": 101},
        {"providers": "NOPE"},
        {"nextId": "x"},
        {"textSearch": "ab"},
        {"statuses": "DONE"},
    ):
        assert get(sim, "/v1/test-sessions", **bad).status_code == 400, bad
    assert get(sim, f"/v1/test-sessions/{later}").status_code == 404  # not there yet


def test_assets_by_check_type_with_authenticated_urls(serve) -> None:
    checks = (
        CheckSpec("Shop", "BROWSER", outcome="failed", duration=0.5),
        CheckSpec("Api", "API", outcome="failed", duration=0.5),
    )
    sim = serve(Scenario(checks=checks), speed=1)
    sid = "0b9f3c3e-5a4b-4c2d-9e1f-00000000a55e"
    body = get(sim, f"/v1/test-sessions/{sid}").json()
    pending = body["results"][0]["testSessionResultId"]
    assert get(sim, f"/v1/test-sessions/{sid}/results/{pending}/assets").status_code == 404
    time.sleep(0.6)
    rows = {r["name"]: r for r in get(sim, f"/v1/test-sessions/{sid}").json()["results"]}
    shop = get(sim, f"/v1/test-sessions/{sid}/results/{rows['Shop']['testSessionResultId']}/assets")
    kinds = [a["type"] for a in shop.json()["assets"]]
    assert kinds == ["trace", "video", "screenshot", "log"]
    assert all(a["url"].startswith(sim.url) for a in shop.json()["assets"])
    api = get(sim, f"/v1/test-sessions/{sid}/results/{rows['Api']['testSessionResultId']}/assets")
    assert [a["type"] for a in api.json()["assets"]] == ["log"]
    assert httpx.get(sim.url + f"/v1/test-sessions/{sid}/results/x/assets").status_code == 401


def test_check_sessions_trigger_progress_complete_and_cancel(serve) -> None:
    sim = serve(replace(load_scenario("trigger-demo"), not_found_seconds=0.0), speed=2)
    started = post(sim, "/v2/check-sessions/trigger", {"target": {"matchTags": [["web"]]}})
    assert started.status_code == 201
    sessions = started.json()["sessions"]
    assert sorted(s["name"] for s in sessions) == ["Homepage", "Search suite", "Status page"]
    csid = sessions[0]["checkSessionId"]
    assert get(sim, f"/v2/check-sessions/{csid}").json()["status"].startswith("PROGRESS")
    done = get(sim, f"/v2/check-sessions/{csid}/completion", maxWaitSeconds=5)
    assert done.status_code == 200 and done.json()["status"] == "PASSED"
    assert all(r["resultType"] in ("FINAL", "ATTEMPT") for r in done.json()["results"])
    assert (
        post(sim, "/v2/check-sessions/trigger", {"target": {"matchTags": [["none"]]}}).status_code
        == 404
    )
    never = serve(load_scenario("never-ends"), speed=20)
    other = "6a1b2c3d-0000-4000-8000-0000000c0ffe"
    assert get(never, f"/v2/check-sessions/{other}/completion", maxWaitSeconds=1).status_code == 408
    assert post(never, f"/v1/check-sessions/{other}/cancel", {}).status_code == 204
    assert get(never, f"/v2/check-sessions/{other}").json()["status"] == "CANCELLED"
    missing = "6a1b2c3d-0000-4000-8000-000000000404"
    assert post(never, f"/v1/check-sessions/{missing}/cancel", {}).status_code == 404

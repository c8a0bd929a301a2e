"""The planner: page, POST /api/v1/coverage and /api/v1/suggest against the core, strict
validation as problem+json, jobs (202 + polling, 429, 404), the report download."""

from __future__ import annotations

import threading
import time

import pytest

from locator.coverage import (
    Candidates,
    StraightLineEngine,
    build_siting_problem,
    candidates_from_gaps,
    coverage_report,
    find_gaps,
    read_demand,
    select_stations,
    suggest_sites,
)
from locator.web import create_app
from locator.web.planner.api import openapi_paths

CANDIDATES = [{"id": "C1", "lon": 117.20, "lat": 34.28}, {"id": "C2", "lon": 117.23, "lat": 34.25},
              {"id": "C3", "lon": 117.17, "lat": 34.295}, {"id": "C4", "lon": 117.26, "lat": 34.27},
              {"id": "C5", "lon": 117.186, "lat": 34.262}]


def make_app(registry, demand_csv, **config):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none",
                       "LOCATOR_DEMAND": str(demand_csv), **config})


@pytest.fixture()
def app(registry, demand_csv):
    return make_app(registry, demand_csv)


@pytest.fixture()
def client(app):
    return app.test_client()


def core(registry, demand_csv, districts, *, mode="walk", at=None):
    """The same inputs as the planner, straight from the library."""
    st = select_stations(registry.index.stations(), at=at)
    return StraightLineEngine(mode), st, read_demand(demand_csv)


def post(client, path, body, **kw):
    return client.post(path, json=body, **kw)


def poll(client, location, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = client.get(location)
        assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
        body = r.get_json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {location} did not finish")


# --------------------------------------------------------------------------- page


def test_planner_page_zh_and_en(client):
    r = client.get("/planner?at=2026-07-15T22:00")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert "15分钟服务圈规划" in html and 'id="district-table"' in html
    assert 'class="coverage-map"' in html and "LocatorCoverage.create" in html
    assert "/vendor/leaflet/leaflet.js" in html and "//unpkg" not in html
    assert 'data-illustrative="true"' in html and "示例数据" in html
    assert 'value="network" disabled' in html  # no network engine configured
    assert 'value="2026-07-15T22:00"' in html and "2026-07-15T22:00:00+08:00" in html
    assert "/planner/report.html?" in html and "at=2026-07-15T22%3A00" in html
    en = client.get("/planner?lang=en&mode=bike&minutes=10&at=")
    assert en.status_code == 200
    text = en.get_data(as_text=True)
    assert "15-minute service circle planner" in text and "Coverage by district" in text
    assert "opening hours ignored" in text and "12 km/h" in text


def test_planner_page_bad_input_is_400_with_the_form(client):
    r = client.get("/planner?minutes=0")
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "minutes" in html and 'id="planner-form"' in html
    assert "LocatorCoverage.create" not in html  # no map without a run
    assert client.get("/planner?mode=car").status_code == 400
    assert client.get("/planner?foo=1").status_code == 400


def test_report_download(client):
    r = client.get("/planner/report.html?mode=walk&minutes=15&at=")
    assert r.status_code == 200 and r.mimetype == "text/html"
    disp = r.headers["Content-Disposition"]
    assert disp.startswith("attachment;") and 'filename="coverage-walk-15min-any-time.html"' in disp
    html = r.get_data(as_text=True)
    assert html.startswith("<!doctype html>") and "© OpenStreetMap contributors" in html
    assert "<script src" not in html and 'rel="stylesheet"' not in html
    assert client.get("/planner/report.html?minutes=1000").status_code == 400


# --------------------------------------------------------------------------- coverage


def test_coverage_equals_core(client, registry, demand_csv, districts):
    r = post(client, "/api/v1/coverage", {"mode": "ebike", "minutes": [5, 10, 15]})
    assert r.status_code == 200 and r.mimetype == "application/json"
    body = r.get_json()
    eng, st, dem = core(registry, demand_csv, districts, mode="ebike")
    want = coverage_report(eng, st, dem, minutes=[5, 10, 15], districts=districts).to_dict()
    assert body["thresholds"] == want["thresholds"]
    assert body["engine"] == want["engine"] and body["stations"] == want["stations"]
    assert body["illustrative"] is True and body["sample_stations"] is True
    assert body["gaps"] is None and "notice" in body


def test_coverage_at_a_time_with_gaps(client, registry, demand_csv, districts):
    at = "2026-07-15T22:00"
    r = post(client, "/api/v1/coverage", {"minutes": 12.5, "at": at, "gaps": True,
                                          "gap_limit": 3, "geometry": True})
    assert r.status_code == 200
    body = r.get_json()
    eng, st, dem = core(registry, demand_csv, districts, at=at)
    want = coverage_report(eng, st, dem, minutes=12.5, districts=districts).to_dict()
    assert body["thresholds"] == want["thresholds"]
    assert body["stations"]["at"] == want["stations"]["at"] == "2026-07-15T22:00:00+08:00"
    gaps = find_gaps(eng, st, dem, 12.5, limit=3).to_dict()
    assert [g["rep_id"] for g in body["gaps"]["gaps"]] == [g["rep_id"] for g in gaps["gaps"]]
    assert body["gaps"]["gaps"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")


BAD = [
    ("/api/v1/coverage", {"minutes": 0}, "minutes"),
    ("/api/v1/coverage", {"minutes": 1000}, "minutes"),
    ("/api/v1/coverage", {"minutes": [5, -1]}, "minutes"),
    ("/api/v1/coverage", {"minutes": "15"}, "minutes"),
    ("/api/v1/coverage", {"mode": "car"}, "mode"),
    ("/api/v1/coverage", {"mode": 3}, "mode"),
    ("/api/v1/coverage", {"colour": "red"}, "colour"),
    ("/api/v1/coverage", {"at": "tonight"}, "at"),
    ("/api/v1/coverage", {"at": "1900-01-01T10:00"}, "at"),
    ("/api/v1/coverage", {"engine": "network"}, "engine"),
    ("/api/v1/coverage", {"engine": "teleport"}, "engine"),
    ("/api/v1/coverage", {"mode": "ebike", "speed_kmh": 30}, "speed_kmh"),
    ("/api/v1/coverage", {"detour": 5}, "detour"),
    ("/api/v1/coverage", {"types": ["spaceport"]}, "types"),
    ("/api/v1/coverage", {"gaps": "yes"}, "gaps"),
    ("/api/v1/coverage", {"gap_limit": 0}, "gap_limit"),
    ("/api/v1/coverage", {"wait": -1}, "wait"),
    ("/api/v1/suggest", {"from_gaps": True, "n": 0}, "n"),
    ("/api/v1/suggest", {"from_gaps": True, "n": 101}, "n"),
    ("/api/v1/suggest", {"from_gaps": True, "n": 2.5}, "n"),
    ("/api/v1/suggest", {"candidates": CANDIDATES, "n": 6}, "n"),
    ("/api/v1/suggest", {"from_gaps": True, "beta": 1.5}, "beta"),
    ("/api/v1/suggest", {"from_gaps": True, "minutes": [5, 10]}, "minutes"),
    ("/api/v1/suggest", {"n": 2}, "candidates"),
    ("/api/v1/suggest", {"candidates": CANDIDATES, "from_gaps": True}, "candidates"),
    ("/api/v1/suggest", {"candidates": []}, "candidates"),
    ("/api/v1/suggest", {"candidates": [{"id": "A", "lon": 200, "lat": 34}]},
     "candidates[0].lon"),
    ("/api/v1/suggest", {"candidates": [{"id": "A", "lon": "117", "lat": 34}]},
     "candidates[0].lon"),
    ("/api/v1/suggest", {"candidates": [{"id": "A", "lon": 117.2, "lat": 34.2, "x": 1}]},
     "candidates[0].x"),
    ("/api/v1/suggest", {"candidates": [{"lon": 117.2, "lat": 34.2}]}, "candidates[0].id"),
    ("/api/v1/suggest", {"candidates": [{"id": "A", "lon": 2.35, "lat": 48.85, "crs": "gcj02"}]},
     "candidates[0].lon"),
    ("/api/v1/suggest", {"candidates": CANDIDATES[:1] * 2}, "candidates"),
    ("/api/v1/suggest", {"candidates": CANDIDATES, "crs": "mars"}, "crs"),
]


@pytest.mark.parametrize("path,body,field", BAD, ids=[
    "minutes-0", "minutes-1000", "minutes-negative-in-list", "minutes-string", "mode-car",
    "mode-number", "unknown-field", "at-words", "at-1900", "engine-network-unconfigured",
    "engine-unknown", "ebike-too-fast", "detour-5", "types-unknown", "gaps-not-bool",
    "gap-limit-0", "wait-negative", "n-0", "n-101", "n-fraction", "n-above-candidates",
    "beta-1.5", "suggest-minutes-list", "no-candidates", "candidates-and-gaps",
    "candidates-empty", "candidate-lon-200", "candidate-lon-string", "candidate-extra-key",
    "candidate-no-id", "candidate-gcj02-outside-china", "candidate-duplicate-id", "crs-mars"])
def test_bad_input_is_400_naming_the_field(client, path, body, field):
    r = post(client, path, body)
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    p = r.get_json()
    assert p["status"] == 400 and p["invalid_params"][0]["name"] == field
    assert field.split(".")[0].split("[")[0] in p["detail"]


@pytest.mark.parametrize("data,field", [(b"{", "body"), (b"[1, 2]", "body"), (b"", "body"),
                                        (b'"walk"', "body"), (b"\xff\xfe", "body")],
                         ids=["truncated", "array", "empty", "string", "not-utf8"])
def test_malformed_json_is_400(client, data, field):
    r = client.post("/api/v1/coverage", data=data, content_type="application/json")
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert r.get_json()["invalid_params"][0]["name"] == field


def test_wrong_content_type_is_415(client):
    for kw in ({"data": "mode=walk", "content_type": "application/x-www-form-urlencoded"},
               {"data": '{"mode": "walk"}', "content_type": "text/plain"}, {}):
        r = client.post("/api/v1/suggest", **kw)
        assert r.status_code == 415 and r.mimetype == "application/problem+json"
        assert "application/json" in r.get_json()["detail"]


def test_too_large_body_is_413(registry, demand_csv):
    client = make_app(registry, demand_csv, LOCATOR_MAX_CONTENT_LENGTH=2000).test_client()
    many = [{"id": f"C{i}", "lon": 117.2, "lat": 34.2} for i in range(100)]
    r = post(client, "/api/v1/suggest", {"candidates": many})
    assert r.status_code == 413 and r.mimetype == "application/problem+json"
    assert post(client, "/api/v1/coverage", {"minutes": 15}).status_code == 200


def test_get_is_405(client):
    r = client.get("/api/v1/coverage")
    assert r.status_code == 405 and "POST" in r.headers["Allow"]


# --------------------------------------------------------------------------- suggest


def test_suggest_equals_core(client, registry, demand_csv, districts):
    r = post(client, "/api/v1/suggest", {"candidates": CANDIDATES, "n": 3, "beta": 0.5,
                                         "minutes": 10})
    assert r.status_code == 200
    body = r.get_json()
    eng, st, dem = core(registry, demand_csv, districts)
    cands = Candidates([c["id"] for c in CANDIDATES], [c["lon"] for c in CANDIDATES],
                       [c["lat"] for c in CANDIDATES])
    want = suggest_sites(build_siting_problem(eng, st, dem, cands, 10), 3, beta=0.5,
                         time_limit=20).to_dict()
    got = body["siting"]
    assert got["greedy"]["site_ids"] == want["greedy"]["site_ids"]
    assert got["greedy"]["covered_added"] == want["greedy"]["covered_added"]
    assert got["greedy"]["gains"] == want["greedy"]["gains"]
    assert got["covered_after"] == want["covered_after"] and got["best"] == want["best"]
    best = want[want["best"]]
    assert [s["id"] for s in body["sites"]] == best["site_ids"] and len(body["sites"]) == 3
    assert sum(s["gain"] for s in body["sites"]) == pytest.approx(best["objective"])
    given = {c["id"]: (c["lon"], c["lat"]) for c in CANDIDATES}
    assert all((s["lon"], s["lat"]) == given[s["id"]] for s in body["sites"])
    assert [s["rank"] for s in body["sites"]] == [1, 2, 3]
    assert body["illustrative"] is True and body["candidates"]["count"] == 5


def test_suggest_from_gaps_and_gcj02_candidates(client, registry, demand_csv, districts):
    r = post(client, "/api/v1/suggest", {"from_gaps": True, "n": 1})
    assert r.status_code == 200
    eng, st, dem = core(registry, demand_csv, districts)
    cands = candidates_from_gaps(find_gaps(eng, st, dem, 15))
    want = suggest_sites(build_siting_problem(eng, st, dem, cands, 15), 1).to_dict()
    body = r.get_json()
    assert body["siting"]["greedy"] == {**want["greedy"],
                                        "runtime_s": body["siting"]["greedy"]["runtime_s"]}
    assert body["candidates"] == {"count": len(cands), "source": "gaps"}
    from locator.stations.coords import wgs84_to_gcj02

    x, y = wgs84_to_gcj02(117.20, 34.28)
    r = post(client, "/api/v1/suggest", {"candidates": [{"id": "G", "lon": x, "lat": y}],
                                         "crs": "gcj02", "n": 1})
    site = r.get_json()["sites"][0]
    assert abs(site["lon"] - 117.20) < 1e-6 and abs(site["lat"] - 34.28) < 1e-6


# --------------------------------------------------------------------------- jobs


def test_long_run_is_202_then_polled_to_done(client):
    r = post(client, "/api/v1/coverage", {"minutes": [5, 15], "wait": 0})
    assert r.status_code == 202
    body = r.get_json()
    assert r.headers["Location"] == body["location"] == f"/api/v1/jobs/{body['id']}"
    assert body["status"] in ("queued", "running", "done")
    job = poll(client, r.headers["Location"])
    assert job["status"] == "done" and job["error"] is None and job["kind"] == "coverage"
    # The same run again is answered from the finished job at once, even with wait 0.
    again = post(client, "/api/v1/coverage", {"minutes": [5, 15], "wait": 0})
    assert again.status_code == 200 and again.headers["X-Planner-Run"] == "stored"
    assert again.headers["X-Planner-Job"] == body["id"]
    assert job["result"]["thresholds"] == again.get_json()["thresholds"]


def test_failed_job_reports_the_problem(client):
    r = post(client, "/api/v1/suggest", {"from_gaps": True, "n": 100, "wait": 0,
                                         "grid_spacing_m": 0})
    assert r.status_code == 202
    job = poll(client, r.headers["Location"])
    assert job["status"] == "failed" and job["result"] is None
    assert job["error"]["status"] == 400 and job["error"]["invalid_params"][0]["name"] == "n"
    # Waiting for the same run answers the problem directly.
    r = post(client, "/api/v1/suggest", {"from_gaps": True, "n": 100, "grid_spacing_m": 0})
    assert r.status_code == 400 and r.get_json()["invalid_params"][0]["name"] == "n"


def test_full_queue_is_429_and_a_slow_job_is_202(registry, demand_csv):
    app = make_app(registry, demand_csv, LOCATOR_PLANNER_WORKERS=1, LOCATOR_PLANNER_QUEUE=2,
                   LOCATOR_PLANNER_WAIT=0.2)
    client = app.test_client()
    with app.app_context():
        jobs = app.extensions["locator.planner"].jobs
    release = threading.Event()
    blocker = jobs.submit("test", lambda: {"ok": release.wait(10)})
    try:
        r = post(client, "/api/v1/coverage", {"minutes": 15})  # waits 0.2 s, then 202
        assert r.status_code == 202 and r.get_json()["status"] == "queued"
        location = r.headers["Location"]
        assert client.get(location).get_json()["status"] == "queued"
        # The same run again joins the queued one (it takes no slot of its own) ...
        same = post(client, "/api/v1/coverage", {"minutes": 15})
        assert same.status_code == 202 and same.headers["Location"] == location
        # ... another run finds the queue full.
        full = post(client, "/api/v1/coverage", {"minutes": 10})
        assert full.status_code == 429 and full.mimetype == "application/problem+json"
        assert int(full.headers["Retry-After"]) > 0 and "busy" in full.get_json()["detail"]
    finally:
        release.set()
    assert poll(client, location)["status"] == "done"
    assert client.get(f"/api/v1/jobs/{blocker.id}").get_json()["result"] == {"ok": True}


def test_unknown_job_is_404(client):
    r = client.get("/api/v1/jobs/0123456789abcdef01234567")
    assert r.status_code == 404 and r.mimetype == "application/problem+json"
    assert client.get("/api/v1/jobs/x?foo=1").status_code == 400


def test_finished_jobs_expire(registry, demand_csv):
    app = make_app(registry, demand_csv, LOCATOR_PLANNER_JOB_TTL=0.5)
    client = app.test_client()
    r = post(client, "/api/v1/coverage", {"minutes": 5, "wait": 0})
    assert r.status_code == 202
    assert poll(client, r.headers["Location"])["status"] == "done"
    time.sleep(0.6)
    assert client.get(r.headers["Location"]).status_code == 404


def test_network_engine_hook(registry, demand_csv):
    app = make_app(registry, demand_csv)
    calls = []

    def factory(mode, speed_kmh=None):
        calls.append((mode, speed_kmh))
        return StraightLineEngine(mode, speed_kmh=speed_kmh, detour=1.0)

    app.extensions["locator.network_engine"] = factory
    client = app.test_client()
    r = post(client, "/api/v1/coverage", {"engine": "network", "mode": "bike", "minutes": 5})
    assert r.status_code == 200 and calls == [("bike", None)]
    assert r.get_json()["engine"]["detour_factor"] == 1.0
    assert 'value="network" disabled' not in client.get("/planner?n=0").get_data(as_text=True)


# --------------------------------------------------------------------------- OpenAPI


def test_openapi_paths():
    paths = openapi_paths()
    assert set(paths) == {"/api/v1/coverage", "/api/v1/suggest", "/api/v1/access",
                          "/api/v1/profile", "/api/v1/scenarios", "/api/v1/target",
                          "/api/v1/jobs/{id}",
                          "/api/v1/reach"}
    cov = paths["/api/v1/coverage"]["post"]
    props = cov["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"mode", "minutes", "at", "wait", "gaps"} <= set(props)
    assert {"200", "202", "400", "413", "415", "429"} <= set(cov["responses"])
    sug = paths["/api/v1/suggest"]["post"]["requestBody"]["content"]["application/json"]
    assert sug["schema"]["properties"]["n"]["maximum"] == 100
    assert paths["/api/v1/jobs/{id}"]["get"]["responses"]["404"]


def test_the_time_field_is_empty_by_default_and_hours_are_then_ignored(client, registry):
    """The field's label says "empty = ignore opening hours": the page opens with it
    empty and counts every open station (issue #12; it used to prefill now)."""
    import re

    html = client.get("/planner").get_data(as_text=True)
    field = re.search(r'<input type="datetime-local" name="at" id="p-at" value="([^"]*)"', html)
    assert field is not None and field.group(1) == ""
    same = client.get("/planner?at=").get_data(as_text=True)
    counted = sum(1 for s in registry.index.stations() if s.status == "open")
    for page in (html, same):
        assert "不考虑开放时间（所有正常开放的站点）" in page
        assert re.search(rf"计入站点</t[hd]>\s*<td[^>]*>{counted:,}\b", page), page[:0]
    night = client.get("/planner?at=2026-07-15T03:00").get_data(as_text=True)
    assert 'value="2026-07-15T03:00"' in night
    assert "不考虑开放时间（所有正常开放的站点）" not in night and "该时刻未开放" in night

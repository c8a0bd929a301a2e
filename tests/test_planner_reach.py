"""Reach areas (GET /api/v1/reach), road-network isochrones on the planner page, and
planner jobs shared between processes through the database."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import shapely
import shapely.geometry
from conftest import helsinki_scene
from conftest_browser import chromium_page, live_server
from test_planner import make_app

from locator.coverage import StraightLineEngine
from locator.coverage.isochrones import reach_circles
from locator.geo import haversine_np
from locator.stations.coords import wgs84_to_gcj02

T01 = (117.1850, 34.2615)


@pytest.fixture()
def client(registry, demand_csv):
    return make_app(registry, demand_csv).test_client()


# --------------------------------------------------------------------------- straight line


def test_reach_circles_lie_on_the_engines_sphere():
    r = StraightLineEngine("walk").radius_m(15)
    (ring,) = reach_circles([T01[0]], [T01[1]], r)
    xy = shapely.get_coordinates(ring)
    d = haversine_np(T01[0], T01[1], xy[:, 0], xy[:, 1])
    assert np.abs(d - r).max() < 1e-6 and ring.is_valid and xy.shape[0] == 73


def test_reach_straight_line_is_the_engines_circle(client):
    r = client.get("/api/v1/reach?id=T01&id=T03&minutes=10&mode=bike")
    assert r.status_code == 200 and r.mimetype == "application/geo+json"
    doc = r.get_json()
    radius = StraightLineEngine("bike").radius_m(10)
    assert [f["properties"]["id"] for f in doc["features"]] == ["T01", "T03"]
    assert doc["illustrative"] is True and "stations_notice" in doc  # sample stations
    first = doc["features"][0]
    assert first["properties"]["kind"] == "circle"
    assert first["properties"]["radius_m"] == pytest.approx(radius, abs=0.1)
    xy = np.array(first["geometry"]["coordinates"][0])
    d = haversine_np(T01[0], T01[1], xy[:, 0], xy[:, 1])
    assert np.abs(d - radius).max() < 0.2  # coordinates rounded to 1e-6 degrees


def test_reach_in_gcj02_is_the_shifted_circle(client):
    wgs = client.get("/api/v1/reach?id=T01").get_json()["features"][0]["geometry"]
    gcj = client.get("/api/v1/reach?id=T01&crs=gcj02").get_json()["features"][0]["geometry"]
    a, b = np.array(wgs["coordinates"][0]), np.array(gcj["coordinates"][0])
    x, y = wgs84_to_gcj02(a[:, 0], a[:, 1])
    assert np.abs(np.column_stack([x, y]) - b).max() < 2e-6
    assert np.abs(a - b).max() > 1e-3  # the shift is hundreds of metres in Xuzhou
    amap = client.get("/api/v1/reach?id=T01&crs=Amap").get_json()  # an alias of GCJ-02
    assert amap["crs"] == "gcj02" and amap["features"][0]["geometry"] == gcj


@pytest.mark.parametrize("query,status,field", [
    ("", 400, "id"),
    ("id=NOPE", 404, None),
    ("id=T01&minutes=0", 400, "minutes"),
    ("id=T01&minutes=1000", 400, "minutes"),
    ("id=T01&mode=car", 400, "mode"),
    ("id=T01&engine=network", 400, "engine"),
    ("id=T01&crs=utm", 400, "crs"),
    ("id=T01&bbox=1", 400, "bbox"),
    ("&".join(f"id=X{i}" for i in range(21)), 400, "id"),
], ids=["no-id", "unknown-id", "zero-minutes", "1000-minutes", "mode", "network-unconfigured",
        "crs", "unknown-param", "21-ids"])
def test_reach_bad_input(client, query, status, field):
    r = client.get("/api/v1/reach?" + query)
    assert r.status_code == status and r.mimetype == "application/problem+json"
    body = r.get_json()
    if field:
        assert body["invalid_params"][0]["name"] == field
    else:
        assert "NOPE" in body["detail"]


# --------------------------------------------------------------------------- road network


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory):
    """An app on the Helsinki extract: 5 stations at road nodes, demand near the roads."""
    from locator import Registry, StationStore
    from locator.store.files import read_station_file, validate_rows

    tmp = tmp_path_factory.mktemp("helsinki")
    eng, pbf, lon, lat, csv, rng = helsinki_scene(tmp, 5, seed=3, source="sample")
    store = StationStore(tmp / "h.sqlite", create=True)
    store.add_many(validate_rows(read_station_file(csv)), actor="pytest")
    pick = rng.choice(eng.graph.n_nodes, 200, replace=False)
    demand = tmp / "d.csv"
    demand.write_text("id,lon,lat,workers\n" + "".join(
        f"p{i},{eng.graph.lon[j]:.7f},{eng.graph.lat[j]:.7f},1\n" for i, j in enumerate(pick)))
    mp = pytest.MonkeyPatch()
    mp.setenv("LOCATOR_CACHE_DIR", str(tmp / "cache"))
    app = make_app(Registry(store), demand, LOCATOR_PBF=pbf)
    yield {"app": app, "engine": eng, "lon": lon, "lat": lat}
    mp.undo()
    store.dispose()


def test_reach_on_the_road_network_is_the_isochrone(helsinki):
    client = helsinki["app"].test_client()
    r = client.get("/api/v1/reach?id=H0&id=H1&engine=network&minutes=5")
    assert r.status_code == 200, r.get_json()
    doc = r.get_json()
    assert "OpenStreetMap contributors" in doc["attribution"]
    expect = helsinki["engine"].isochrones(helsinki["lon"][:2], helsinki["lat"][:2], 5)
    for feat, iso in zip(doc["features"], expect, strict=True):
        got = shapely.geometry.shape(feat["geometry"])
        assert feat["properties"]["kind"] == "isochrone"
        assert "OpenStreetMap contributors" in feat["properties"]["attribution"]
        # Equal up to the 1e-6 degree rounding of the coordinates.
        assert shapely.hausdorff_distance(got, iso) < 1.5e-6
        assert got.area == pytest.approx(iso.area, rel=1e-3)
        assert not shapely.equals(got, shapely.convex_hull(got))  # follows the streets


def test_planner_page_draws_the_network_isochrones(helsinki):
    client = helsinki["app"].test_client()
    html = client.get("/planner?engine=network&minutes=5&n=0&at=").get_data(as_text=True)
    assert '"isochrones"' in html and "OpenStreetMap contributors" in html
    start = html.index('"isochrones"')
    assert '"coordinates"' in html[start:start + 2000]
    # The covered area is the union of the per-station isochrones.
    union = helsinki["engine"].covered_area(helsinki["lon"], helsinki["lat"], 5)
    parts = shapely.union_all(helsinki["engine"].isochrones(helsinki["lon"], helsinki["lat"], 5))
    assert shapely.symmetric_difference(union, parts).area < 1e-3 * union.area


# --------------------------------------------------------------------------- jobs


SERVER = """
import sys
from werkzeug.serving import make_server
from locator.web import create_app
app = create_app({"LOCATOR_DB": sys.argv[1], "LOCATOR_DEMAND": sys.argv[2],
                  "LOCATOR_RATE_LIMIT": 0, "LOCATOR_TILES": "none"})
srv = make_server("127.0.0.1", 0, app, threaded=True)
print(srv.server_port, flush=True)
srv.serve_forever()
"""


def _http(method: str, url: str, body: dict | None = None) -> tuple[int, dict, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_job_started_in_one_process_is_polled_in_another(database, request, registry, db_path,
                                                            demand_csv, tiny_stations):
    db = str(db_path)
    if database == "postgresql":  # a real server, as several app servers would share
        from locator import StationStore

        db = request.getfixturevalue("pg_url")
        store = StationStore(db, create=True)
        store.add_many(tiny_stations, actor="pytest")
        store.dispose()
    procs = [subprocess.Popen([sys.executable, "-c", SERVER, db, str(demand_csv)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
             for _ in range(2)]
    try:
        a, b = (f"http://127.0.0.1:{int(p.stdout.readline())}" for p in procs)
        status, headers, body = _http("POST", a + "/api/v1/coverage",
                                      {"minutes": [5, 15], "wait": 0})
        assert status == 202 and body["status"] in ("queued", "running")
        end = time.monotonic() + 30
        while True:  # polled only through the other process
            status, _, job = _http("GET", b + headers["Location"])
            assert status == 200, job
            if job["status"] == "done" or time.monotonic() > end:
                break
            time.sleep(0.1)
        assert job["status"] == "done" and job["kind"] == "coverage"
        _, _, direct = _http("POST", b + "/api/v1/coverage", {"minutes": [5, 15]})
        assert job["result"]["thresholds"] == direct["thresholds"]
        assert job["result"]["thresholds"][1]["city"]["demand_covered"] > 0
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
            p.stdout.close()


def test_abandoned_jobs_are_reported_failed_and_free_the_queue(registry, demand_csv):
    from locator.store.jobs import JOBS

    app = make_app(registry, demand_csv, LOCATOR_PLANNER_QUEUE=1, LOCATOR_PLANNER_TIMEOUT=60)
    client = app.test_client()
    with app.app_context():
        jobs = app.extensions["locator.planner"].jobs
        jobs.table._table()
    with jobs.engine.begin() as conn:  # a job whose process died two minutes ago
        conn.execute(JOBS.insert().values(id="dead", kind="coverage", status="running",
                                          created=time.time() - 120, owner="gone:1"))
    job = client.get("/api/v1/jobs/dead").get_json()
    assert job["status"] == "failed" and "did not finish" in job["error"]["detail"]
    r = client.post("/api/v1/coverage", json={"minutes": 5})
    assert r.status_code == 200  # the dead job does not hold the only queue slot


# --------------------------------------------------------------------------- in a browser


def test_planner_page_shows_a_stations_reach_in_chromium(registry, demand_csv):
    app = make_app(registry, demand_csv)
    errors: list[str] = []
    with chromium_page(errors) as page, live_server(app) as url:
        page.goto(url + "/planner?minutes=10&n=0&at=&lang=en")
        page.wait_for_selector(".coverage-map[data-coverage-ready='1']")
        page.evaluate("""() => {
            const cov = document.querySelector('.coverage-map').locatorCoverage;
            cov.layers.stations.eachLayer(m => { if (m.stationId === 'T01') m.openPopup(); });
        }""")
        zoom_before = page.evaluate(
            "() => document.querySelector('.coverage-map').locatorCoverage.map.getZoom()")
        page.click(".leaflet-popup .reach-btn")
        page.wait_for_function(
            "() => document.querySelector('.coverage-map').dataset.reach === 'T01'")
        # The map zooms to the reach: all of it in view, and no longer a speck.
        view = page.evaluate("""() => {
            const cov = document.querySelector('.coverage-map').locatorCoverage;
            const r = cov.layers.stationReach.getBounds(), v = cov.map.getBounds();
            const px = cov.map.latLngToContainerPoint(r.getNorthEast()).x
                       - cov.map.latLngToContainerPoint(r.getSouthWest()).x;
            return {inside: v.contains(r), zoom: cov.map.getZoom(), width_px: px}; }""")
        assert view["inside"] and view["zoom"] > zoom_before and view["width_px"] > 100, view
        shown = page.evaluate("""() => {
            const m = document.querySelector('.coverage-map');
            const ring = [];
            m.locatorCoverage.layers.stationReach.eachLayer(
                l => l.getLatLngs()[0].forEach(p => ring.push([p.lng, p.lat])));
            return {note: m.querySelector('.reach-note').textContent,
                    button: m.querySelector('.reach-btn').textContent, ring: ring}; }""")
        assert shown["button"] == "Show the 10-minute reach"
        assert shown["note"] == "Shown on the map (blue)"
        ring = np.array(shown["ring"])
        d = haversine_np(T01[0], T01[1], ring[:, 0], ring[:, 1])
        radius = StraightLineEngine("walk").radius_m(10)
        assert len(ring) == 72 and np.abs(d - radius).max() < 0.2
        assert errors == []


def test_suggest_from_road_nodes_through_the_api(helsinki):
    client = helsinki["app"].test_client()
    body = {"engine": "network", "from_nodes": True, "spacing_m": 150, "n": 2, "minutes": 5,
            "wait": 30}
    r = client.post("/api/v1/suggest", json=body)
    assert r.status_code == 200, r.get_json()
    doc = r.get_json()
    assert [s["rank"] for s in doc["sites"]] == [1, 2]
    assert all(s["id"].startswith("node-") for s in doc["sites"])
    assert doc["candidates"]["source"] == "road nodes every 150 m"
    eng = helsinki["engine"]
    i = [int(s["id"][5:]) for s in doc["sites"]]
    assert np.allclose([s["lon"] for s in doc["sites"]], eng.graph.lon[i], atol=1e-7)
    assert doc["siting"]["share_after"] > doc["siting"]["share_before"]
    bad = client.post("/api/v1/suggest", json={"from_nodes": True, "n": 2})
    assert bad.status_code == 400 and bad.get_json()["invalid_params"][0]["name"] == "from_nodes"
    both = client.post("/api/v1/suggest", json={"from_nodes": True, "from_gaps": True})
    assert both.status_code == 400 and both.get_json()["invalid_params"][0]["name"] == "candidates"


# --------------------------------------------------------------------------- slow pages


def test_a_slow_planner_run_answers_a_reloading_page(registry, demand_csv, monkeypatch):
    import threading

    import locator.coverage.planning as planner

    release = threading.Event()
    real = planner.coverage_report

    def slow(*args, **kwargs):
        release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(planner, "coverage_report", slow)
    app = make_app(registry, demand_csv, LOCATOR_PLANNER_PAGE_WAIT=0.2)
    client = app.test_client()
    r = client.get("/planner?minutes=12&n=0&at=&lang=en")
    assert r.status_code == 202 and r.headers["Retry-After"] == "3"
    html = r.get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="3">' in html and "reloads by itself" in html
    report = client.get("/planner/report.html?minutes=12&n=0&at=")
    assert report.status_code == 202 and 'http-equiv="refresh"' in report.get_data(as_text=True)
    release.set()
    end = time.monotonic() + 20
    while (r := client.get("/planner?minutes=12&n=0&at=&lang=en")).status_code == 202:
        assert time.monotonic() < end
        time.sleep(0.1)
    assert r.status_code == 200 and 'class="coverage-map"' in r.get_data(as_text=True)
    done = client.get("/planner/report.html?minutes=12&n=0&at=")
    assert done.status_code == 200 and "attachment" in done.headers["Content-Disposition"]


# --------------------------------------------------------------------------- downloads


def test_planner_downloads_gaps_and_sites_equal_the_core(client, registry, demand_csv):
    import csv
    import io

    from locator.coverage import (
        build_siting_problem,
        candidates_from_gaps,
        find_gaps,
        read_demand,
        select_stations,
        suggest_sites,
    )

    q = "mode=walk&minutes=5&n=3&at="
    page = client.get("/planner?" + q).get_data(as_text=True)
    assert 'id="gaps-geojson"' in page and 'id="sites-csv"' in page
    eng, st = StraightLineEngine("walk"), select_stations(registry.index.stations())
    dem = read_demand(demand_csv)
    gaps = find_gaps(eng, st, dem, 5)
    cands = candidates_from_gaps(gaps)
    best = suggest_sites(build_siting_problem(eng, st, dem, cands, 5), min(3, len(cands)),
                         exact=False).best  # as the page: at most one site per gap

    r = client.get("/planner/gaps.geojson?" + q)
    assert r.status_code == 200 and r.mimetype == "application/geo+json"
    assert 'filename="gaps-walk-5min-any-time.geojson"' in r.headers["Content-Disposition"]
    fc = json.loads(r.data)
    assert len(fc["features"]) == len(gaps.gaps) > 0
    assert [f["properties"]["demand"] for f in fc["features"]] == \
        [pytest.approx(g.demand) for g in gaps.gaps]
    assert "Illustrative" in fc["notice"]  # illustrative demand, sample stations
    assert "attribution" not in fc  # straight line: no OSM-derived data
    rows = list(csv.DictReader(io.StringIO(client.get("/planner/gaps.csv?" + q)
                                           .get_data(as_text=True).lstrip("\ufeff"))))
    assert [int(x["rank"]) for x in rows] == [g.rank for g in gaps.gaps]
    assert float(rows[0]["lon"]) == pytest.approx(gaps.gaps[0].rep_lon, abs=1e-6)
    assert all("Illustrative" in x["notice"] for x in rows)

    sites = json.loads(client.get("/planner/sites.geojson?" + q).data)
    assert [f["id"] for f in sites["features"]] == list(best.site_ids) != []
    assert [f["properties"]["gain"] for f in sites["features"]] == \
        [pytest.approx(g, abs=1e-6) for g in best.gains]
    rows = list(csv.DictReader(io.StringIO(client.get("/planner/sites.csv?" + q)
                                           .get_data(as_text=True).lstrip("\ufeff"))))
    assert [x["id"] for x in rows] == list(best.site_ids)
    assert client.get("/planner/roads.shp?" + q).status_code == 404
    assert client.get("/planner/gaps.csv?minutes=0").status_code == 400


def test_network_downloads_carry_the_osm_attribution(helsinki):
    client = helsinki["app"].test_client()
    r = client.get("/planner/gaps.csv?engine=network&minutes=2&n=0&at=")
    assert r.status_code == 200
    text = r.get_data(as_text=True)
    assert text.startswith("\ufeffrank,") and "OpenStreetMap contributors" in text
    fc = json.loads(client.get("/planner/gaps.geojson?engine=network&minutes=2&n=0&at=").data)
    assert "OpenStreetMap contributors" in fc["attribution"] and fc["features"]


def test_planner_page_on_a_road_network_in_chromium(helsinki):
    """The covered area and a station's isochrone drawn in a real browser."""
    errors: list[str] = []
    with chromium_page(errors) as page, live_server(helsinki["app"]) as url:
        page.goto(url + "/planner?engine=network&minutes=5&n=0&at=&lang=en")
        page.wait_for_selector(".coverage-map[data-coverage-ready='1']")
        drawn = page.evaluate("""() => {
            const cov = document.querySelector('.coverage-map').locatorCoverage;
            let n = 0;
            cov.layers.isochrones.eachLayer(() => { n += 1; });
            return {areas: n, attribution: cov.map.attributionControl.getContainer().textContent};
        }""")
        assert drawn["areas"] >= 1 and "OpenStreetMap" in drawn["attribution"]
        page.evaluate("""() => {
            const cov = document.querySelector('.coverage-map').locatorCoverage;
            cov.layers.stations.eachLayer(m => { if (m.stationId === 'H0') m.openPopup(); });
        }""")
        page.click(".leaflet-popup .reach-btn")
        page.wait_for_function(
            "() => document.querySelector('.coverage-map').dataset.reach === 'H0'")
        bounds = page.evaluate("""() => {
            const b = document.querySelector('.coverage-map').locatorCoverage
                .layers.stationReach.getBounds();
            return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; }""")
        iso = helsinki["engine"].isochrones(helsinki["lon"][:1], helsinki["lat"][:1], 5)[0]
        assert np.allclose(bounds, iso.bounds, atol=2e-6)
        assert errors == []


def test_covered_area_download(client, registry, helsinki):
    from locator.coverage import select_stations

    fc = json.loads(client.get("/planner/covered.geojson?minutes=10&n=0&at=").data)
    (feat,) = fc["features"]
    area = shapely.geometry.shape(feat["geometry"])
    st = select_stations(registry.index.stations())
    radius = StraightLineEngine("walk").radius_m(10)
    # Every station is inside, and a point just beyond every station's radius is not.
    assert shapely.contains_xy(area, st.lon, st.lat).all()
    assert feat["properties"]["kind"] == "circles" and "Illustrative" in fc["notice"]
    assert feat["properties"]["stations"] == st.lon.size and feat["properties"]["area_km2"] > 0
    from pyproj import Geod

    far = Geod(a=6_371_008.8, f=0).fwd(st.lon, st.lat, np.zeros(st.lon.size),
                                       np.full(st.lon.size, radius + 30.0))
    d_all = haversine_np(far[0][:, None], far[1][:, None], st.lon, st.lat).min(axis=1)
    beyond = d_all > radius + 1.0
    assert beyond.any() and not shapely.contains_xy(area, far[0][beyond], far[1][beyond]).any()
    # On a road network: the isochrones' union, with the OSM attribution.
    net = json.loads(helsinki["app"].test_client().get(
        "/planner/covered.geojson?engine=network&minutes=5&n=0&at=").data)
    union = helsinki["engine"].covered_area(helsinki["lon"], helsinki["lat"], 5)
    got = shapely.geometry.shape(net["features"][0]["geometry"])
    assert net["features"][0]["properties"]["kind"] == "isochrones"
    assert "OpenStreetMap" in net["attribution"]
    assert shapely.hausdorff_distance(got, union) < 1e-6


def test_loading_a_road_network_does_not_hold_the_request(registry, demand_csv):
    """The first network run loads the city's extract (minutes for a big one): that
    happens in the background run, so the page answers at once and reloads."""
    import threading

    loaded = threading.Event()
    calls = []

    def slow_factory(mode, speed_kmh=None):
        calls.append(mode)
        loaded.wait(20)
        return StraightLineEngine(mode, speed_kmh=speed_kmh, detour=1.0)

    app = make_app(registry, demand_csv, LOCATOR_PLANNER_PAGE_WAIT=0.2,
                   LOCATOR_PLANNER_WAIT=0.2)
    app.extensions["locator.network_engine"] = slow_factory
    client = app.test_client()
    t0 = time.monotonic()
    page = client.get("/planner?engine=network&mode=bike&minutes=5&n=0&at=")
    api = client.post("/api/v1/coverage", json={"engine": "network", "minutes": 5})
    assert page.status_code == 202 and api.status_code == 202
    assert time.monotonic() - t0 < 5 and calls and set(calls) <= {"bike", "walk"}
    bad = client.post("/api/v1/coverage", json={"engine": "network", "detour": 1.2})
    assert bad.status_code == 400  # parameters are still checked in the request
    loaded.set()
    end = time.monotonic() + 20
    while (page := client.get("/planner?engine=network&mode=bike&minutes=5&n=0&at=")
           ).status_code == 202:
        assert time.monotonic() < end
        time.sleep(0.1)
    assert page.status_code == 200 and 'class="coverage-map"' in page.get_data(as_text=True)


def test_reach_of_points_and_of_a_suggested_site_in_chromium(client, registry, demand_csv):
    # The API: a point given in GCJ-02 gets the circle around its WGS-84 position.
    from locator.stations.coords import gcj02_to_wgs84

    gx, gy = wgs84_to_gcj02(117.2000, 34.2800)
    doc = client.get(f"/api/v1/reach?point={gx:.7f},{gy:.7f}&crs=gcj02&minutes=10").get_json()
    (feat,) = doc["features"]
    assert feat["properties"]["id"] == "point-1" and doc["illustrative"] is False
    ring = np.array(feat["geometry"]["coordinates"][0])
    wx, wy = gcj02_to_wgs84(ring[:, 0], ring[:, 1])
    d = haversine_np(117.2, 34.28, wx, wy)
    assert np.abs(d - StraightLineEngine("walk").radius_m(10)).max() < 0.3
    bad = client.get("/api/v1/reach?point=117.2")
    assert bad.status_code == 400 and bad.get_json()["invalid_params"][0]["name"] == "point"
    far = client.get("/api/v1/reach?point=10,50&crs=gcj02")  # GCJ-02 exists only in China
    assert far.status_code == 400 and "point[1].lon" in far.get_json()["detail"]
    # The planner page: a suggested site's popup shows its reach.
    errors: list[str] = []
    with chromium_page(errors) as page, live_server(make_app(registry, demand_csv)) as url:
        page.goto(url + "/planner?minutes=5&n=1&at=&lang=en")
        page.wait_for_selector(".coverage-map[data-coverage-ready='1']")
        site = page.evaluate("""() => {
            const cov = document.querySelector('.coverage-map').locatorCoverage;
            let s = null;
            cov.layers.sites.eachLayer(m => { s = [m.siteId, m.sitePoint]; m.openPopup(); });
            return s; }""")
        page.click(".leaflet-popup .reach-btn")
        page.wait_for_function("(key) => document.querySelector('.coverage-map')"
                               ".dataset.reach === key", arg=f"site-{site[0]}")
        ring = np.array(page.evaluate("""() => {
            const ring = [];
            document.querySelector('.coverage-map').locatorCoverage.layers.stationReach
                .eachLayer(l => l.getLatLngs()[0].forEach(p => ring.push([p.lng, p.lat])));
            return ring; }"""))
        d = haversine_np(site[1][0], site[1][1], ring[:, 0], ring[:, 1])
        assert np.abs(d - StraightLineEngine("walk").radius_m(5)).max() < 0.3
        assert errors == []


def test_planner_page_suggests_road_nodes_on_a_network(helsinki, client):
    app = helsinki["app"]
    c = app.test_client()
    q = "engine=network&minutes=2&n=2&sites_from=nodes&at="
    page = c.get("/planner?" + q)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'value="nodes" selected' in html and "sites_from=nodes" in html  # kept in links
    sites = json.loads(c.get("/planner/sites.geojson?" + q).data)["features"]
    assert len(sites) == 2 and all(f["id"].startswith("node-") for f in sites)
    eng = helsinki["engine"]
    i = [int(f["id"][5:]) for f in sites]
    assert np.allclose([f["geometry"]["coordinates"][0] for f in sites], eng.graph.lon[i])
    # Road nodes need the road network.
    bad = client.get("/planner?sites_from=nodes")
    assert bad.status_code == 400 and "sites_from" in bad.get_data(as_text=True)
    assert '<option value="nodes" disabled>' in client.get("/planner?n=0").get_data(as_text=True)

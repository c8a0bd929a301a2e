"""The REST API: answers, errors as problem+json, headers, limits."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from locator.stations.coords import wgs84_to_bd09, wgs84_to_gcj02
from locator.web import create_app


@pytest.fixture()
def app(registry):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_CORS_ORIGINS": "https://mini.example.cn"})


@pytest.fixture()
def client(app):
    return app.test_client()


def test_nearest_matches_library(client, registry):
    r = client.get("/api/v1/nearest?lon=117.186&lat=34.262&k=4&mode=ebike")
    assert r.status_code == 200 and r.mimetype == "application/json"
    body = r.get_json()
    want = registry.index.nearest(117.186, 34.262, 4)
    assert [x["id"] for x in body["results"]] == [w.id for w in want]
    first = body["results"][0]
    assert first["distance_m"] == pytest.approx(want[0].distance_m, abs=1e-3)
    assert first["eta_min"] == pytest.approx(want[0].eta("ebike"), abs=0.01)
    assert first["type_zh"] == "户外劳动者服务站点" and first["type_en"].startswith("Outdoor")
    assert body["sample_data"] is True and "Sample data" in body["notice"]
    assert body["query"]["speed_kmh"] == 20.0


def test_nearest_result_fields_and_nav_links(client):
    r = client.get("/api/v1/nearest?lon=117.1850&lat=34.2595&k=1&type=outdoor_worker"
                   "&amenity=first_aid")
    (res,) = r.get_json()["results"]
    assert res["id"] == "T01"
    assert res["distance_m"] == pytest.approx(222.39, abs=0.01)
    assert res["bearing_deg"] == pytest.approx(0.0, abs=0.1)
    assert res["open_status"] == "open" and res["opening_hours"] == "24/7"
    assert "first_aid" in res["amenities"]
    assert {"code": "drinking_water", "zh": "饮用水", "en": "Drinking water"} in \
        res["amenity_labels"]
    glon, glat = wgs84_to_gcj02(117.185, 34.2615)
    blon, blat = wgs84_to_bd09(117.185, 34.2615)
    assert res["coords"]["gcj02"] == [pytest.approx(glon, abs=1e-6), pytest.approx(glat,
                                                                                    abs=1e-6)]
    amap = parse_qs(urlparse(res["nav_links"]["amap"]).query)
    to_lon, to_lat = (float(v) for v in amap["to"][0].split(",")[:2])
    assert (to_lon, to_lat) == (pytest.approx(glon, abs=1e-6), pytest.approx(glat, abs=1e-6))
    baidu = res["nav_links"]["baidu"]
    assert "coord_type=bd09ll" in baidu and f"{blat:.6f},{blon:.6f}" in baidu
    assert res["address"] == "测试地址1" and res["access"] == "public"


def test_nearest_gcj02_input(client):
    glon, glat = wgs84_to_gcj02(117.1850, 34.2615)
    r = client.get(f"/api/v1/nearest?lon={glon:.9f}&lat={glat:.9f}&crs=gcj02&k=1")
    res = r.get_json()["results"][0]
    assert res["id"] == "T01" and res["distance_m"] < 0.01


def test_open_at_and_unknown_hours(client):
    r = client.get("/api/v1/nearest?lon=117.19&lat=34.26&k=10&open_at=2026-07-15T03:00")
    got = {x["id"]: x["open_status"] for x in r.get_json()["results"]}
    assert got == {"T01": "open", "T07": "unknown", "T08": "open", "T10": "open"}


def test_geojson_format(client):
    r = client.get("/api/v1/nearest?lon=117.19&lat=34.26&k=2&format=geojson")
    assert r.mimetype == "application/geo+json"
    doc = r.get_json()
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 2
    f = doc["features"][0]
    assert f["geometry"]["type"] == "Point" and "distance_m" in f["properties"]


def test_stations_listing_and_pagination(client):
    r = client.get("/api/v1/stations?type=outdoor_worker&per_page=2")
    body = r.get_json()
    assert body["total"] == 6 and [s["id"] for s in body["items"]] == ["T01", "T02"]
    assert body["next"] is not None
    page2 = client.get(body["next"]).get_json()
    assert [s["id"] for s in page2["items"]] == ["T05", "T06"]
    r = client.get("/api/v1/stations?bbox=117.18,34.25,117.189,34.264&status=open")
    assert [s["id"] for s in r.get_json()["items"]] == ["T01", "T03"]
    r = client.get("/api/v1/stations?district=320311&format=geojson")
    assert [f["id"] for f in r.get_json()["features"]] == ["T03", "T09"]


def test_station_detail_and_404(client):
    r = client.get("/api/v1/stations/T04?lang=en")
    d = r.get_json()
    assert d["id"] == "T04" and d["type_label"] == "Worker service centre"
    assert d["open_status"] in ("open", "closed") and "amap" in d["nav_links"]
    r = client.get("/api/v1/stations/NOPE")
    assert r.status_code == 404 and r.mimetype == "application/problem+json"
    assert r.get_json()["detail"] == "station 'NOPE' does not exist"


def test_meta(client):
    d = client.get("/api/v1/meta").get_json()
    assert [t["code"] for t in d["vocabularies"]["types"]][:3] == [
        "outdoor_worker", "mother_baby", "service_centre"]
    assert {"code": "ebike", "speed_kmh": 20.0} in d["modes"]
    assert d["ebike_legal_max_kmh"] == 25.0
    assert d["sample_data"] is True and d["stations"] == 10
    assert "OpenStreetMap contributors" in d["attribution"]["basemap_osm"]


@pytest.mark.parametrize(
    ("query", "param", "detail"),
    [
        ("lat=34", "lon", "lon: is required"),
        ("lon=abc&lat=34", "lon", "lon: 'abc' is not a number"),
        ("lon=nan&lat=34", "lon", "not a finite number"),
        ("lon=117&lat=91", "lat", "lat: 91.0 is out of range; allowed -90..90"),
        ("lon=117&lat=34&k=0", "k", "k: 0 is out of range; allowed 1..100"),
        ("lon=117&lat=34&k=1000", "k", "k: 1000 is out of range"),
        ("lon=117&lat=34&k=two", "k", "k: 'two' is not an integer"),
        ("lon=117&lat=34&type=spa", "type", "type: unknown value 'spa'; allowed: outdoor_worker"),
        ("lon=117&lat=34&amenity=sauna", "amenity", "amenity: unknown value 'sauna'"),
        ("lon=117&lat=34&crs=mars", "crs", "crs"),
        ("lon=117&lat=34&mode=car", "mode", "mode: unknown value 'car'; allowed: walk, bike, "
                                            "ebike"),
        ("lon=117&lat=34&open_at=yesterday", "open_at", "open_at: 'yesterday' is not an ISO"),
        ("lon=117&lat=34&colour=red", "colour", "unknown parameter(s) 'colour'"),
        ("lon=117&lat=34&k=1&k=2", "k", "k: given 2 times"),
        ("lon=2.35&lat=48.85&crs=gcj02", "lon", "outside China"),
        ("lon=117&lat=34&open_now=maybe", "open_now", "not a boolean"),
        ("lon=117&lat=34&max_distance_m=-1", "max_distance_m", "out of range"),
    ],
    ids=["missing-lon", "text-lon", "nan", "lat-range", "k0", "k-big", "k-text", "type",
         "amenity", "crs", "mode", "open_at", "unknown", "repeat", "gcj-outside", "bool",
         "maxdist"],
)
def test_bad_parameters_are_400_problems(client, query, param, detail):
    r = client.get(f"/api/v1/nearest?{query}")
    assert r.status_code == 400
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["status"] == 400 and detail in body["detail"]
    assert body["invalid_params"][0]["name"] == param


def test_oversized_query_string_is_400(client):
    r = client.get("/api/v1/nearest?lon=117&lat=34&type=" + "x" * 5000)
    assert r.status_code == 400 and "query string is" in r.get_json()["detail"]


def test_405_and_413(client):
    r = client.post("/api/v1/nearest?lon=117&lat=34")
    assert r.status_code == 405 and "GET" in r.headers["Allow"]
    assert r.mimetype == "application/problem+json"
    r = client.post("/api/v1/nearest", data=b"x" * (2 * 1024 * 1024))
    assert r.status_code in (405, 413)


def test_413_for_large_bodies(app):
    app.config["MAX_CONTENT_LENGTH"] = 10

    @app.post("/api/v1/_echo")
    def _echo():
        from flask import request

        return {"n": len(request.get_data())}

    r = app.test_client().post("/api/v1/_echo", data=b"x" * 100)
    assert r.status_code == 413 and r.mimetype == "application/problem+json"


def test_rate_limit_429(registry):
    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 3})
    c = app.test_client()
    codes = [c.get("/api/v1/meta").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    r = c.get("/api/v1/meta")
    assert r.mimetype == "application/problem+json" and int(r.headers["Retry-After"]) >= 1


def test_security_cache_and_cors_headers(client):
    r = client.get("/api/v1/meta", headers={"Origin": "https://mini.example.cn"})
    h = r.headers
    assert h["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert h["Cache-Control"] == "public, max-age=30"
    assert h["Access-Control-Allow-Origin"] == "https://mini.example.cn"
    r = client.get("/api/v1/meta", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers
    r = client.get("/api/v1/nearest?lon=1")
    assert r.headers["Cache-Control"] == "no-store"


def test_openapi_and_docs(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    params = {p["name"] for p in spec["paths"]["/api/v1/nearest"]["get"]["parameters"]}
    from locator.web.api.routes import NEAREST_PARAMS

    assert params == {p.name for p in NEAREST_PARAMS}  # the spec lists exactly what is parsed
    html = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/api/v1/nearest" in html and "max_distance_m" in html


def test_writes_from_another_process_show_up(db_path, registry):
    from locator import Registry
    from locator.stations.model import station_from_dict

    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0.01})
    other = Registry.open(db_path)
    other.add(station_from_dict({"id": "W1", "name": "w", "type": "outdoor_worker",
                                 "lon": 100.0, "lat": 25.0}), actor="cli")
    import time

    t0 = time.monotonic()  # the follower thread applies it, not the request
    while app.test_client().get("/api/v1/nearest?lon=100&lat=25&k=1").get_json()[
            "results"][0]["id"] != "W1":
        assert time.monotonic() - t0 < 1.0
        time.sleep(0.01)
    other.store.dispose()


def test_fast_path_answers_exactly_like_the_flask_view(client):
    """A plain GET is answered by the WSGI fast path; an Origin header sends the same query
    through Flask's view. Both bodies must be the same JSON."""
    for q in ("lon=117.186&lat=34.262&k=5&mode=ebike", "lon=117.19&lat=34.26&k=10&open_at="
              "2026-07-15T03:00", "lon=117.3&lat=34.3&k=3&type=driver_home&amenity=shower"):
        fast = client.get(f"/api/v1/nearest?{q}")
        slow = client.get(f"/api/v1/nearest?{q}", headers={"Origin": "https://x.example"})
        assert fast.status_code == slow.status_code == 200
        assert fast.get_json() == slow.get_json()
        assert fast.headers["Content-Security-Policy"] == slow.headers["Content-Security-Policy"]
        assert fast.headers["Cache-Control"] == slow.headers["Cache-Control"]


def test_fast_path_counts_each_request_once_for_the_rate_limit(registry):
    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 4})
    c = app.test_client()
    codes = [c.get("/api/v1/nearest?lon=117.19&lat=34.26").status_code for _ in range(4)]
    codes.append(c.get("/api/v1/nearest?lon=117.19&lat=95").status_code)  # bad and limited
    codes.append(c.get("/api/v1/nearest?lon=117.19&lat=34.26").status_code)
    assert codes == [200, 200, 200, 200, 429, 429]

"""Open when I get there, the distance horizon, and the API docs page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from locator.index.horizon import horizon
from locator.web import create_app

T01 = (117.1850, 34.2615)
AT = "2026-07-15T17:20"  # a Wednesday


@pytest.fixture()
def app(registry):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0})


@pytest.fixture()
def client(app):
    return app.test_client()


def _get(client, q):
    r = client.get(f"/api/v1/nearest?lon={T01[0]}&lat={T01[1]}&{q}")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_arrival_open_closing_soon_closed_and_unknown(client):
    body = _get(client, f"k=10&mode=walk&open_at={AT}")
    got = {x["id"]: x for x in body["results"]}
    start = datetime.fromisoformat(AT + "+08:00")
    for x in body["results"]:
        a = x["arrival"]
        assert a["minutes"] == pytest.approx(x["eta_min"], abs=0.01)
        at = datetime.fromisoformat(a["at"])
        assert a["at"].endswith("+08:00")
        assert at == (start + timedelta(minutes=x["eta_min"])).replace(second=0, microsecond=0)
    assert got["T01"]["arrival"]["open"] is True and got["T01"]["arrival"]["closes_in_min"] is None
    # T02 (Mo-Fr 08:00-18:00), ~12 minutes' walk: open on arrival, closing within 30 min
    t02 = got["T02"]["arrival"]
    closes = datetime.fromisoformat("2026-07-15T18:00+08:00")
    assert t02["open"] is True
    assert t02["closes_in_min"] == (closes - datetime.fromisoformat(t02["at"])) // timedelta(
        minutes=1) and 0 < t02["closes_in_min"] <= 30
    # T04 (Mo-Fr 08:30-17:30) is open now but closed when the rider gets there
    assert got["T04"]["open_status"] == "open" and got["T04"]["arrival"]["open"] is False
    assert got["T04"]["arrival"]["closes_in_min"] is None
    # T07 has no hours: unknown, never "closed"
    assert got["T07"]["open_status"] == "unknown" and got["T07"]["arrival"]["open"] is None
    # by e-bike T04 is reached before 17:30
    fast = {x["id"]: x["arrival"] for x in _get(client, f"k=10&mode=ebike&open_at={AT}")[
        "results"]}
    assert fast["T04"]["open"] is True and fast["T04"]["closes_in_min"] <= 30


def test_a_closed_record_is_closed_on_arrival(client):
    body = _get(client, "k=10&include_closed=true")  # now: closed records are kept
    got = {x["id"]: x["arrival"] for x in body["results"]}
    assert got["T06"]["open"] is False and got["T05"]["open"] is False  # closed, paused


_RANK = {True: 0, None: 1, False: 2}


@pytest.mark.parametrize("at,mode,k", [(AT, "walk", 10), (AT, "walk", 3),
                                       ("2026-07-15T05:40", "walk", 4),
                                       ("2026-07-18T17:45", "bike", 5)],
                         ids=["weekday-evening", "k3", "early", "saturday"])
def test_prefer_open_on_arrival_matches_a_brute_force_sort(client, at, mode, k):
    every = _get(client, f"k=100&mode={mode}&open_at={at}")["results"]
    want = sorted(every, key=lambda x: (_RANK[x["arrival"]["open"]], x["distance_m"],
                                        x["id"]))[:k]
    got = _get(client, f"k={k}&mode={mode}&open_at={at}&prefer=open_on_arrival")
    assert [x["id"] for x in got["results"]] == [x["id"] for x in want]
    assert [x["distance_m"] for x in got["results"]] == [x["distance_m"] for x in want]
    assert got["query"]["prefer"] == "open_on_arrival"
    plain = _get(client, f"k={k}&mode={mode}&open_at={at}")["results"]
    assert [x["distance_m"] for x in plain] == sorted(x["distance_m"] for x in plain)


def test_horizon_nearby_and_not(client):
    near = _get(client, "k=3")["horizon"]
    assert near["nearby"] is True and near["max_m"] == 20000.0
    assert near["nearest"] == {"id": "T01", "name": "测试驿站一号", "district": "鼓楼区",
                               "city": "徐州市", "distance_m": 0.0}
    r = client.get("/api/v1/nearest?lon=116.3975&lat=39.9087&k=3")  # Tiananmen, Beijing
    body = r.get_json()
    hz = body["horizon"]
    first = body["results"][0]
    assert hz["nearby"] is False and hz["nearest"]["city"] == "徐州市"
    assert hz["nearest"]["id"] == first["id"] and hz["nearest"]["name"] == first["name"]
    assert hz["nearest"]["distance_m"] == pytest.approx(first["distance_m"], abs=1e-3)
    assert 560_000 < hz["nearest"]["distance_m"] < 700_000
    geo = client.get("/api/v1/nearest?lon=116.3975&lat=39.9087&k=1&format=geojson").get_json()
    assert geo["horizon"] == {**hz}
    # the setting moves the horizon (through the Flask view: an Origin header)
    wide = create_app({"LOCATOR_REGISTRY": client.application.extensions["locator"].registry,
                       "LOCATOR_RATE_LIMIT": 0, "LOCATOR_NEARBY_HORIZON_M": 700_000})
    r = wide.test_client().get("/api/v1/nearest?lon=116.3975&lat=39.9087&k=1",
                               headers={"Origin": "https://x.example"})
    assert r.get_json()["horizon"] == {**hz, "max_m": 700_000.0, "nearby": True}


def test_horizon_against_the_demo_stations_and_the_district_lookup():
    import geopandas

    from locator._paths import geodata_path
    from locator.index import StationIndex
    from locator.stations.model import station_from_dict
    from locator.stations.sample import generate_sample_stations

    rows = generate_sample_stations(geopandas.read_file(geodata_path(
        "xuzhou_districts.geojson")))
    stations = [station_from_dict({**r, "district_name": "", "district_adcode": ""}
                                  ) for r in rows[:300]]
    res = StationIndex(stations).nearest(116.3975, 39.9087, 1)
    hz = horizon(res, max_m=20_000)
    assert hz["nearby"] is False and hz["nearest"]["city"] == "徐州市"
    assert hz["nearest"]["district"] == next(r["district_name"] for r in rows
                                             if r["id"] == res[0].id)
    assert horizon([], max_m=5.0) == {"max_m": 5.0, "nearby": False, "nearest": None}


def test_docs_page_lists_every_operation_with_bodies_and_loads_its_stylesheet(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    r = client.get("/api/v1/docs")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    csp = r.headers["Content-Security-Policy"]
    link = re.search(r'<link rel="stylesheet" href="([^"]+api-docs\.css)"', html)
    assert link and link[1].startswith("/")  # same origin: allowed by style-src 'self'
    assert "style-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<style" not in html and " style=" not in html
    css = client.get(link[1])
    assert css.status_code == 200 and "text/css" in css.content_type
    assert b".api-docs" in css.data
    css.close()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            m = re.search(rf'data-operation-id="{op["operationId"]}">(.*?)</section>', html,
                          re.S)
            assert m, op["operationId"]
            section = m[1]
            assert f"{method.upper()}</code> <code>{path}</code>" in section
            for p in op.get("parameters", []):
                assert f"<code>{p['name']}</code>" in section
            for content in op.get("requestBody", {}).get("content", {}).values():
                for name in content["schema"].get("properties", {}):
                    assert f"<code>{name}</code>" in section, (op["operationId"], name)
    assert "请求体" in html and "参数" in html
    assert "Request body" in client.get("/api/v1/docs?lang=en").get_data(as_text=True)

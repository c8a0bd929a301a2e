"""How to get in, in every nearest result (at the ARRIVAL time: when the rider is at the
door), in /api/v1/stations/<id> (now), in the no-JS rider page's results, and in the
OpenAPI spec; the fast path and the Flask view answer the same bytes.

E1 is staffed Mo-Fr 09:00-17:00 and opens by a WeChat QR code otherwise, 1.2 km north of
the rider: asked at 16:50 on a Wednesday, a rider on foot (about 23 minutes) arrives
after 17:00 and must scan; one on an e-bike (under 5 minutes) finds staff there.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from locator import Registry, StationStore
from locator.stations.entry import entry_now
from locator.stations.model import station_from_dict
from locator.web import create_app

P = (117.2500, 34.2000)  # the rider, away from the tiny set's stations
AT = "2026-07-15T16:50"  # a Wednesday


def _stations():
    base = {"type": "outdoor_worker", "source": "sample", "opening_hours": "24/7"}
    return [
        station_from_dict({**base, "id": "E1", "name": "扫码驿站", "lon": P[0],
                           "lat": P[1] + 0.0108, "staffed_hours": "Mo-Fr 09:00-17:00",
                           "entry_method": "qr_code", "entry_app": "微信",
                           "entry_note": "门禁在左侧"}),
        station_from_dict({**base, "id": "E2", "name": "无门禁信息驿站", "lon": P[0] + 0.003,
                           "lat": P[1]}),
        station_from_dict({**base, "id": "E3", "name": "电话开门驿站", "lon": P[0] - 0.004,
                           "lat": P[1], "entry_method": "phone", "phone": "0516-87654321"}),
    ]


@pytest.fixture()
def client(db_path, tiny_stations):
    store = StationStore(str(db_path), create=True)
    store.add_many([*tiny_stations, *_stations()], actor="pytest")
    app = create_app({"LOCATOR_REGISTRY": Registry(store), "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0})
    yield app.test_client()
    store.dispose()


def _results(client, q: str, *, flask: bool = False) -> dict[str, dict]:
    headers = {"Origin": "https://x.example"} if flask else {}
    r = client.get(f"/api/v1/nearest?lon={P[0]}&lat={P[1]}&{q}", headers=headers)
    assert r.status_code == 200, r.get_json()
    return {x["id"]: x for x in r.get_json()["results"]}


@pytest.mark.parametrize("flask", [False, True], ids=["fast-path", "flask-view"])
def test_entry_is_evaluated_at_the_arrival_time(client, flask):
    walk = _results(client, f"k=3&mode=walk&open_at={AT}", flask=flask)
    e1 = walk["E1"]
    assert datetime.fromisoformat(e1["arrival"]["at"]) > datetime.fromisoformat(
        "2026-07-15T17:00+08:00")  # staff have left when the walker arrives
    assert e1["entry"] == {"how": "qr_code", "staffed": False,
                           "label": "扫码开门（微信）。门禁在左侧"}
    ebike = _results(client, f"k=3&mode=ebike&open_at={AT}", flask=flask)
    assert datetime.fromisoformat(ebike["E1"]["arrival"]["at"]) < datetime.fromisoformat(
        "2026-07-15T17:00+08:00")
    assert ebike["E1"]["entry"] == {"how": "staffed", "staffed": True,
                                    "label": "有工作人员值守，可直接进入"}
    assert walk["E2"]["entry"] == {"how": "unknown", "staffed": None, "label": "进入方式未知"}
    assert walk["E3"]["entry"] == {"how": "phone", "staffed": None,
                                   "label": "电话联系开门：0516-87654321"}


def test_entry_label_follows_lang(client):
    en = _results(client, f"k=3&mode=walk&open_at={AT}&lang=en")
    assert en["E1"]["entry"]["label"] == "Scan a QR code (微信). 门禁在左侧"
    assert en["E2"]["entry"]["label"] == "Entry method not known"
    assert en["E3"]["entry"]["label"] == "Call to be let in: 0516-87654321"


def test_entry_matches_entry_now_at_arrival_for_every_mode_and_time(client):
    """The cached JSON fragments equal what entry_now() says at each arrival minute."""
    by_id = {s.id: s for s in _stations()}
    for mode in ("walk", "bike", "ebike"):
        for minute in range(16 * 60 + 20, 17 * 60 + 5, 7):
            at = f"2026-07-15T{minute // 60:02d}:{minute % 60:02d}"
            for x in _results(client, f"k=3&mode={mode}&open_at={at}").values():
                arrival = datetime.fromisoformat(x["arrival"]["at"])
                assert x["entry"] == entry_now(by_id[x["id"]], arrival).public("zh"), (
                    mode, at, x["id"])


def test_fast_path_and_flask_view_answer_the_same_bytes(client):
    for q in (f"k=3&mode=walk&open_at={AT}", f"k=10&mode=ebike&open_at={AT}&lang=en",
              f"k=5&open_at={AT}&prefer=open_on_arrival&type=outdoor_worker",
              "k=3&mode=bike&open_at=2026-07-15T16:50:30"):
        fast = client.get(f"/api/v1/nearest?lon={P[0]}&lat={P[1]}&{q}")
        slow = client.get(f"/api/v1/nearest?lon={P[0]}&lat={P[1]}&{q}",
                          headers={"Origin": "https://x.example"})
        assert fast.status_code == slow.status_code == 200
        assert fast.data == slow.data, q


def test_the_fast_paths_parameter_cache_changes_no_answer(client):
    """The fast path parses everything but the point once per parameter set: a new point
    with the same parameters, the same point with other parameters, and parameters in
    another order all answer as the Flask view does."""
    for lon, lat, rest in ((P[0], P[1], "k=3&mode=walk"), (P[0] + 0.01, P[1], "k=3&mode=walk"),
                           (P[0], P[1], "mode=walk&k=3"), (P[0], P[1], "k=4&mode=ebike"),
                           (P[0], P[1] + 0.01, "k=4&mode=ebike&lang=en")):
        url = f"/api/v1/nearest?{rest}&lat={lat}&lon={lon}&open_at={AT}"
        fast = client.get(url)
        slow = client.get(url, headers={"Origin": "https://x.example"})
        assert fast.data == slow.data, url
    # bad values are still refused, by Flask, with the parameter named
    r = client.get(f"/api/v1/nearest?k=3&mode=walk&lat=95&lon={P[0]}")
    assert r.status_code == 400 and r.get_json()["invalid_params"][0]["name"] == "lat"
    r = client.get(f"/api/v1/nearest?k=3&mode=walk&lat={P[1]}&lon={P[0]}&lon=1")
    assert r.status_code == 400


def test_geojson_results_carry_entry(client):
    r = client.get(f"/api/v1/nearest?lon={P[0]}&lat={P[1]}&k=3&open_at={AT}&format=geojson")
    props = {f["id"]: f["properties"] for f in r.get_json()["features"]}
    assert props["E1"]["entry"]["how"] == "qr_code"


def test_to_json_equals_to_dict(client):
    reg = client.application.extensions["locator"].get()
    for at in (None, AT, "2026-07-15T17:30:45"):
        for mode in ("walk", "bike", "ebike"):
            for lang in ("zh", "en"):
                for r in reg.index.nearest(*P, k=13, open_at=at):
                    assert json.loads(r.to_json(mode=mode, lang=lang)) == r.to_dict(
                        mode=mode, lang=lang), (r.id, at, mode, lang)


def test_station_api_says_how_to_get_in_now(client):
    st = next(s for s in _stations() if s.id == "E1")
    before = datetime.now().astimezone()
    d = client.get("/api/v1/stations/E1").get_json()
    assert d["entry"] in (entry_now(st, before).public("zh"),
                          entry_now(st, before + timedelta(minutes=1)).public("zh"))
    assert d["entry"]["how"] in ("staffed", "qr_code")
    en = client.get("/api/v1/stations/E2?lang=en").get_json()
    assert en["entry"] == {"how": "unknown", "staffed": None,
                           "label": "Entry method not known"}


def test_no_js_rider_page_results_carry_entry(client):
    from werkzeug.datastructures import MultiDict

    from locator.web.rider.pages import _server_search

    with client.application.test_request_context("/"):
        results, _ = _server_search(MultiDict({"lon": str(P[0]), "lat": str(P[1]),
                                               "mode": "walk"}), "zh")
    e3 = next(x for x in results if x["id"] == "E3")
    assert e3["entry"] == {"how": "phone", "staffed": None,
                           "label": "电话联系开门：0516-87654321"}
    html = client.get(f"/?lon={P[0]}&lat={P[1]}&mode=walk").get_data(as_text=True)
    assert "电话联系开门：0516-87654321" in html


def test_openapi_documents_entry(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    result = spec["paths"]["/api/v1/nearest"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["properties"]["results"]["items"]
    assert "entry" in result["required"]
    entry = result["properties"]["entry"]
    assert set(entry["properties"]) == {"how", "staffed", "label"}
    assert {"staffed", "unknown", "qr_code"} <= set(entry["properties"]["how"]["enum"])
    one = spec["paths"]["/api/v1/stations/{id}"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    assert "entry" in one["required"] and one["properties"]["entry"]["properties"] == \
        entry["properties"]

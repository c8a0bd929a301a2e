"""Sunrise and sunset at the station's own position, everywhere a station's hours are
evaluated: the nearest API (open status, arrival, the open_at filter, the fast path and
the Flask view alike), the index, /api/v1/stations/<id>, the station page, the no-JS
rider page, coverage and the planner's "open at", the offline pack and "how to get in".

S1 is open "sunrise-sunset" in central Xuzhou. On Wednesday 15 July 2026 the sun rises
there at 05:10 and sets at 19:23 Beijing time (the hours module's solar formula; the
almanac gives 05:11 and 19:24 for Xuzhou), so S1 is open at noon and closed at 23:00.
Without its position the hours would read "unknown" at every moment.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from locator import Registry, StationStore
from locator.coverage import select_stations
from locator.index import StationIndex
from locator.index.offline import offline_pack
from locator.stations.entry import entry_now
from locator.stations.hours import open_status
from locator.stations.model import station_from_dict
from locator.web import create_app

TZ = ZoneInfo("Asia/Shanghai")
S1 = (117.2050, 34.2750)  # WGS-84, central Xuzhou (云龙区)
NEAR = (117.2060, 34.2755)  # a rider about 110 m away
NOON = "2026-07-15T12:00"
NIGHT = "2026-07-15T23:00"
SUNSET = datetime(2026, 7, 15, 19, 23, tzinfo=TZ)


def _sun_stations():
    base = {"type": "outdoor_worker", "source": "sample", "amenities": "drinking_water"}
    return [
        station_from_dict({**base, "id": "S1", "name": "日出日落驿站", "lon": S1[0],
                           "lat": S1[1], "opening_hours": "sunrise-sunset"}),
        # staffed in daylight, a keypad outside: how to get in follows the sun too
        station_from_dict({**base, "id": "S2", "name": "白天值守驿站", "lon": S1[0] + 0.002,
                           "lat": S1[1], "opening_hours": "24/7",
                           "staffed_hours": "sunrise-sunset", "entry_method": "keypad",
                           "phone": "0516-12345678"}),
        # an open end: "unknown" after 20:00, kept by a time filter and marked unknown
        station_from_dict({**base, "id": "S3", "name": "开放结束未知驿站", "lon": S1[0],
                           "lat": S1[1] + 0.002, "opening_hours": "Mo-Su 09:00+"}),
    ]


@pytest.fixture()
def sun_registry(db_path, tiny_stations):
    store = StationStore(str(db_path), create=True)
    store.add_many([*tiny_stations, *_sun_stations()], actor="pytest")
    yield Registry(store)
    store.dispose()


@pytest.fixture()
def client(sun_registry):
    return create_app({"LOCATOR_REGISTRY": sun_registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0}).test_client()


def _nearest(client, q: str, *, flask: bool = False) -> dict:
    headers = {"Origin": "https://x.example"} if flask else {}
    r = client.get(f"/api/v1/nearest?lon={NEAR[0]}&lat={NEAR[1]}&{q}", headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _now_state(hours: str) -> str:
    """What ``hours`` say at S1 at the current minute (the pages evaluate "now")."""
    return open_status(hours, None, position=S1)[0]


def test_the_solar_times_are_xuzhous():
    noon, night = (datetime.fromisoformat(t).replace(tzinfo=TZ) for t in (NOON, NIGHT))
    assert open_status("sunrise-sunset", noon, position=S1) == ("open", SUNSET)
    state, opens = open_status("sunrise-sunset", night, position=S1)
    assert state == "closed" and opens == datetime(2026, 7, 16, 5, 10, tzinfo=TZ)
    assert open_status("sunrise-sunset", noon) == ("unknown", None)  # no position


@pytest.mark.parametrize("flask", [False, True], ids=["fast-path", "flask-view"])
def test_nearest_open_at_noon_closed_at_23(client, flask):
    noon = {x["id"]: x for x in _nearest(client, f"k=20&open_at={NOON}", flask=flask)[
        "results"]}
    assert noon["S1"]["open_status"] == "open"
    assert noon["S1"]["next_change"] == SUNSET.isoformat()
    assert noon["S1"]["arrival"]["open"] is True
    night = {x["id"]: x for x in _nearest(client, f"k=20&open_at={NIGHT}", flask=flask)[
        "results"]}
    assert "S1" not in night  # closed then: filtered out, not kept as "unknown"
    assert night["S3"]["open_status"] == "unknown"  # an open end is kept, and marked
    assert night["S3"]["arrival"]["open"] is None


def test_arrival_closes_soon_at_sunset(client):
    body = _nearest(client, "k=20&mode=walk&open_at=2026-07-15T19:00")
    s1 = next(x for x in body["results"] if x["id"] == "S1")
    arrival = datetime.fromisoformat(s1["arrival"]["at"])
    assert arrival == datetime(2026, 7, 15, 19, 0, tzinfo=TZ) + timedelta(
        minutes=int(s1["eta_min"]))
    assert s1["arrival"]["open"] is True
    assert s1["arrival"]["closes_in_min"] == (SUNSET - arrival) // timedelta(minutes=1)
    late = _nearest(client, "k=20&mode=walk&open_at=2026-07-15T19:22")["results"]
    s1 = next(x for x in late if x["id"] == "S1")
    assert s1["open_status"] == "open" and s1["arrival"]["open"] is False  # dark by then


def test_fast_path_and_flask_view_answer_the_same_bytes(client):
    for q in (f"k=20&open_at={NOON}", f"k=20&open_at={NIGHT}&lang=en",
              "k=20&mode=ebike&open_at=2026-07-15T19:10&prefer=open_on_arrival"):
        fast = client.get(f"/api/v1/nearest?lon={NEAR[0]}&lat={NEAR[1]}&{q}")
        slow = client.get(f"/api/v1/nearest?lon={NEAR[0]}&lat={NEAR[1]}&{q}",
                          headers={"Origin": "https://x.example"})
        assert fast.status_code == slow.status_code == 200
        assert fast.data == slow.data


def test_index_filter_and_result_states():
    idx = StationIndex(_sun_stations())
    noon = {r.id: r for r in idx.nearest(*NEAR, k=3, open_at=NOON)}
    assert set(noon) == {"S1", "S2", "S3"}
    assert noon["S1"].open_status == "open" and noon["S1"].next_change == SUNSET
    night = {r.id: r for r in idx.nearest(*NEAR, k=3, open_at=NIGHT)}
    assert set(night) == {"S2", "S3"}
    assert night["S3"].open_status == "unknown"
    # before sunrise and before S3's 09:00 start: both closed, both left out
    assert [r.id for r in idx.nearest(*NEAR, k=3, open_at="2026-07-15T05:00")] == ["S2"]
    now = idx.nearest(*S1, k=1)[0]  # no filter: the state now, at the station
    assert now.id == "S1" and now.open_status == _now_state("sunrise-sunset") != "unknown"


def test_station_api_and_page_say_the_state_now(client):
    want = _now_state("sunrise-sunset")
    assert want in ("open", "closed")
    d = client.get("/api/v1/stations/S1").get_json()
    assert d["open_status"] == want
    html = client.get("/stations/S1").get_data(as_text=True)
    assert re.search(r'class="open-state open-(\w+)"', html).group(1) == want
    page = client.get(f"/?lon={NEAR[0]}&lat={NEAR[1]}").get_data(as_text=True)
    assert "日出日落驿站" in page
    # the no-JS page lists the API's results: S1's open state is known there too
    r = client.get(f"/api/v1/nearest?lon={NEAR[0]}&lat={NEAR[1]}&k=10").get_json()
    assert next(x for x in r["results"] if x["id"] == "S1")["open_status"] == want


def test_how_to_get_in_follows_the_sun():
    s2 = _sun_stations()[1]
    noon = entry_now(s2, datetime.fromisoformat(NOON).replace(tzinfo=TZ))
    night = entry_now(s2, datetime.fromisoformat(NIGHT).replace(tzinfo=TZ))
    assert (noon.how, noon.staffed) == ("staffed", True)
    assert (night.how, night.staffed) == ("keypad", False)
    assert night.zh == "密码锁：请致电 0516-12345678 获取密码"


def test_coverage_counts_it_at_noon_not_at_23():
    stations = _sun_stations()
    noon = select_stations(stations, at=NOON)
    assert set(noon.ids.tolist()) == {"S1", "S2", "S3"}
    assert noon.unknown_hours_counted_open == 1  # S3's open end; S1 is known to be open
    night = select_stations(stations, at=NIGHT)
    assert set(night.ids.tolist()) == {"S2", "S3"}
    assert night.excluded == {"not_open_at": 1}
    assert night.unknown_hours_counted_open == 1  # S3's open end: counted open, and said


def test_planner_open_at_counts_it(client, tiny_stations):
    def used(at):
        r = client.post("/api/v1/coverage", json={"minutes": 15, "at": at})
        assert r.status_code == 200, r.get_json()
        return r.get_json()["stations"]

    noon, night = used(NOON), used(NIGHT)
    # S2 (24/7) and S3 (unknown at both times) count at both; S1 at noon only
    tiny_noon, tiny_night = (select_stations(tiny_stations, at=t) for t in (NOON, NIGHT))
    assert noon["used"] == len(tiny_noon) + 3 and night["used"] == len(tiny_night) + 2
    assert night["excluded"]["not_open_at"] == tiny_night.excluded["not_open_at"] + 1
    assert noon["unknown_hours_counted_open"] == tiny_noon.unknown_hours_counted_open + 1


def test_offline_pack_carries_daylight_intervals():
    start = datetime(2026, 7, 15, 0, 0, tzinfo=TZ)
    pack = offline_pack(_sun_stations(), lon=S1[0], lat=S1[1], radius_m=5000, limit=10,
                        now=start)
    s1 = next(s for s in pack["stations"] if s["id"] == "S1")
    assert s1["open"] is not None and len(s1["open"]) == 7  # one interval a day
    first = s1["open"][0]
    assert datetime.fromtimestamp(first[1], TZ) == SUNSET
    noon = datetime.fromisoformat(NOON).replace(tzinfo=TZ).timestamp()
    night = datetime.fromisoformat(NIGHT).replace(tzinfo=TZ).timestamp()
    assert first[0] <= noon < first[1] and not any(a <= night < b for a, b in s1["open"])


def test_staff_preview_resolves_the_sun_with_a_position():
    from locator.stations.hours_text import hours_preview

    assert hours_preview("sunrise-sunset", at=NOON, position=S1)["open_now"] == "open"
    night = hours_preview("sunrise-sunset", at=NIGHT, position=S1)
    assert night["open_now"] == "closed"
    assert night["next_change"] == "2026-07-16T05:10:00+08:00"
    assert hours_preview("sunrise-sunset", at=NOON)["open_now"] == "unknown"  # no position

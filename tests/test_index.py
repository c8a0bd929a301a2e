"""The nearest-station index against a brute-force haversine scan."""

from __future__ import annotations

import threading
from datetime import datetime

import numpy as np
import pytest

from locator import InvalidInput, NotFound, Station, StationIndex
from locator.geo import haversine_np
from locator.stations.coords import wgs84_to_gcj02
from locator.stations.vocab import AMENITIES, STATION_TYPES

R = 6_371_008.8


def make_stations(n: int, seed: int = 1, *, spread: str = "city") -> list[Station]:
    rng = np.random.default_rng(seed)
    if spread == "city":  # clustered around a few centres, like a real city
        centres = np.array([[117.18, 34.26], [117.25, 34.30], [116.93, 34.72], [118.35, 34.37]])
        c = centres[rng.integers(0, len(centres), n)]
        lon = c[:, 0] + rng.normal(0, 0.03, n)
        lat = c[:, 1] + rng.normal(0, 0.03, n)
    else:  # all of China, including the far west and the edges of the lon range
        lon = rng.uniform(73.5, 134.8, n)
        lat = rng.uniform(18.2, 53.5, n)
    types = STATION_TYPES.codes
    out = []
    for i in range(n):
        am = tuple(a for a in AMENITIES.codes if rng.random() < 0.4)
        hours = [None, "24/7", "Mo-Fr 08:00-18:00", "Mo-Su 09:00-21:00"][i % 4]
        status = "closed" if i % 17 == 0 else ("temporarily_closed" if i % 23 == 0 else "open")
        out.append(Station(id=f"S{i:05d}", name=f"站{i}", type=types[i % len(types)],
                           lon=round(float(lon[i]), 6), lat=round(float(lat[i]), 6),
                           amenities=am, opening_hours=hours, status=status, source="sample"))
    return out


def brute(stations, lon, lat, k, *, keep=lambda s: s.status != "closed", max_d=None):
    cand = [s for s in stations if keep(s)]
    if not cand:
        return []
    d = haversine_np(lon, lat, np.array([s.lon for s in cand]), np.array([s.lat for s in cand]))
    order = sorted(range(len(cand)), key=lambda i: (d[i], cand[i].id))
    out = [(cand[i].id, float(d[i])) for i in order if max_d is None or d[i] <= max_d]
    return out[:k]


def check(idx, stations, lon, lat, k, **kw):
    keep = kw.pop("keep", lambda s: s.status != "closed")
    got = idx.nearest(lon, lat, k, **kw)
    want = brute(stations, lon, lat, k, keep=keep, max_d=kw.get("max_distance_m"))
    assert [r.id for r in got] == [w[0] for w in want]
    np.testing.assert_allclose([r.distance_m for r in got], [w[1] for w in want],
                               rtol=0, atol=1e-6)
    return got


@pytest.mark.parametrize("spread", ["city", "china"])
@pytest.mark.parametrize("k", [1, 5, 37])
def test_matches_brute_force(spread, k):
    stations = make_stations(3000, seed=k, spread=spread)
    idx = StationIndex(stations)
    rng = np.random.default_rng(99)
    for _ in range(60):
        s = stations[rng.integers(len(stations))]
        lon = s.lon + rng.normal(0, 0.05)
        lat = s.lat + rng.normal(0, 0.05)
        check(idx, stations, lon, lat, k)


def test_ties_are_broken_by_id():
    base = dict(name="x", type="outdoor_worker", source="sample")
    stations = [Station(id=i, lon=117.2, lat=34.3, **base) for i in ("C", "A", "B", "D")]
    stations.append(Station(id="E", lon=117.3, lat=34.3, **base))
    idx = StationIndex(stations)
    assert [r.id for r in idx.nearest(117.25, 34.3, 2)] == ["A", "B"]
    assert [r.id for r in idx.nearest(117.25, 34.3, 5)] == ["A", "B", "C", "D", "E"]
    # E is exactly as far east as A-D are west on the same parallel? No: equal lon offsets
    # on a parallel are equal great-circle distances, so all five tie; ids decide.
    d = [r.distance_m for r in idx.nearest(117.25, 34.3, 5)]
    assert d[0] == pytest.approx(d[4], abs=1e-6)


def test_degree_rtree_would_be_wrong_here():
    """At 50°N a degree of longitude is 64% of a degree of latitude: a point 0.012° east
    (860 m) is nearer than one 0.010° north (1112 m), though farther in degrees."""
    east = Station(id="east", name="e", type="outdoor_worker", lon=117.012, lat=50.0)
    north = Station(id="north", name="n", type="outdoor_worker", lon=117.0, lat=50.010)
    r = StationIndex([east, north]).nearest(117.0, 50.0, 1)
    assert r[0].id == "east"
    assert r[0].distance_m == pytest.approx(857.9, abs=1.0)


def test_filters_match_brute_force():
    stations = make_stations(2000, seed=3)
    idx = StationIndex(stations)
    at = datetime(2026, 7, 15, 20, 30)  # a Wednesday evening: office-hours stations closed
    cases = [
        (dict(types=["mother_baby"]), lambda s: s.type == "mother_baby" and s.status != "closed"),
        (dict(types=["legal_aid", "driver_home"]),
         lambda s: s.type in ("legal_aid", "driver_home") and s.status != "closed"),
        (dict(amenities=["drinking_water", "phone_charging"]),
         lambda s: {"drinking_water", "phone_charging"} <= set(s.amenities)
         and s.status != "closed"),
        (dict(open_at=at),
         lambda s: s.status == "open" and s.opening_hours in (None, "24/7", "Mo-Su 09:00-21:00")),
        (dict(statuses=["closed"]), lambda s: s.status == "closed"),
        (dict(max_distance_m=1500.0), lambda s: s.status != "closed"),
    ]
    rng = np.random.default_rng(5)
    for kw, keep in cases:
        for _ in range(15):
            s = stations[rng.integers(len(stations))]
            check(idx, stations, s.lon + 0.01, s.lat - 0.01, 7, keep=keep, **kw)


def test_unknown_hours_are_kept_and_marked(tiny_stations):
    idx = StationIndex(tiny_stations)
    # Wednesday 03:00: only 24/7, the night station (18-06) and unknown-hours T07 qualify
    res = idx.nearest(117.19, 34.26, 10, open_at="2026-07-15T03:00")
    status = {r.id: r.open_status for r in res}
    assert status == {"T01": "open", "T07": "unknown", "T08": "open", "T10": "open"}
    assert "T06" not in status  # closed record, excluded by default
    assert "T05" not in status  # temporarily closed: not open at any time


def test_default_excludes_closed_but_keeps_temporarily_closed(tiny_stations):
    idx = StationIndex(tiny_stations)
    ids = [r.id for r in idx.nearest(117.1850, 34.2615, 3)]
    assert ids == ["T01", "T05", "T02"]
    t05 = idx.nearest(117.1850, 34.2615, 3)[1]
    assert t05.status == "temporarily_closed" and t05.open_status == "closed"
    with_closed = idx.nearest(117.1850, 34.2615, 2, statuses=["open", "closed"])
    assert [r.id for r in with_closed] == ["T01", "T06"]


def test_result_fields(tiny_stations):
    idx = StationIndex(tiny_stations)
    r = idx.nearest(117.1850, 34.2595, 1, types=["outdoor_worker"])[0]
    assert r.id == "T01"
    assert r.distance_m == pytest.approx(222.39, abs=0.01)  # 0.002° of latitude, due north
    assert r.bearing_deg == pytest.approx(0.0, abs=0.01)
    # walk 4 km/h x detour 1.3: 222.39 m -> 4.34 min; e-bike 20 km/h -> 0.87 min
    assert r.eta("walk") == pytest.approx(222.39 * 1.3 / (4000 / 60), rel=1e-4)
    assert r.eta_min["ebike"] == pytest.approx(222.39 * 1.3 / (20000 / 60), rel=1e-4)
    glon, glat = wgs84_to_gcj02(117.1850, 34.2615)
    assert f"{glon:.6f},{glat:.6f}" in r.nav_links["amap"]
    assert r.open_status == "open"  # 24/7
    assert r.station is not None and r.station.address == "测试地址1"


def test_live_insert_update_delete(tiny_stations):
    idx = StationIndex(tiny_stations)
    new = Station(id="NEW", name="新站", type="outdoor_worker", lon=117.3001, lat=34.3001)
    idx.insert(new)
    assert idx.nearest(117.3001, 34.3001, 1)[0].id == "NEW"
    idx.update(new.evolve(lon=110.0, lat=30.0))
    assert idx.nearest(117.3001, 34.3001, 1)[0].id == "T08"
    assert idx.nearest(110.0, 30.0, 1)[0].id == "NEW"
    idx.delete("T08")
    assert "T08" not in idx
    assert idx.nearest(117.3, 34.3, 1)[0].id != "T08"
    with pytest.raises(NotFound, match="T08"):
        idx.delete("T08")
    idx.compact()
    assert len(idx) == len(tiny_stations)  # +NEW -T08
    assert idx.nearest(110.0, 30.0, 1)[0].id == "NEW"
    assert idx.get("NEW").lon == 110.0


def test_many_changes_with_background_compaction_stay_exact():
    stations = make_stations(1500, seed=11)
    idx = StationIndex(stations[:1000], compact_threshold=50)
    live = {s.id: s for s in stations[:1000]}
    rng = np.random.default_rng(2)
    for step in range(400):
        if step % 3 == 0:
            sid = list(live)[rng.integers(len(live))]
            idx.delete(sid)
            del live[sid]
        else:
            s = stations[1000 + step % 500] if step % 3 == 1 else live[list(live)[step % 50]]
            s = s.evolve(lon=s.lon + 0.001)
            idx.upsert(s)
            live[s.id] = s
        if step % 40 == 0:
            p = list(live.values())[rng.integers(len(live))]
            check(idx, list(live.values()), p.lon, p.lat, 5)
    idx.compact()
    for p in list(live.values())[:30]:
        check(idx, list(live.values()), p.lon + 0.002, p.lat, 5)
    assert sorted(idx.ids()) == sorted(live)


def test_concurrent_readers_never_see_half_updates():
    stations = make_stations(500, seed=4)
    idx = StationIndex(stations, compact_threshold=8)
    q = (117.5, 33.5)  # away from all clusters
    base = [r.id for r in idx.nearest(*q, 3)]
    errors: list[str] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            ids = [r.id for r in idx.nearest(*q, 3)]
            if ids != base and not (ids[0].startswith("Z") and ids[1:] == base[:2]):
                errors.append(repr(ids))

    def writer():
        for i in range(300):
            z = Station(id=f"Z{i}", name="z", type="outdoor_worker", lon=q[0], lat=q[1])
            idx.insert(z)
            idx.delete(z.id)

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    writer()
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    idx.compact()
    assert [r.id for r in idx.nearest(*q, 3)] == base


def test_nearest_many_matches_single_queries():
    stations = make_stations(3000, seed=8, spread="china")
    # duplicates create exact ties, which the batch path must resolve by id
    stations += [s.evolve(id=s.id + "b") for s in stations[:50]]
    idx = StationIndex(stations)
    idx.insert(Station(id="LIVE", name="l", type="outdoor_worker", lon=100.0, lat=30.0))
    idx.delete(stations[1].id)
    rng = np.random.default_rng(0)
    lons = np.r_[rng.uniform(74, 134, 400), [s.lon for s in stations[:50]], 100.001]
    lats = np.r_[rng.uniform(19, 53, 400), [s.lat for s in stations[:50]], 30.0]
    ids, dist = idx.nearest_many(lons, lats, 4)
    assert ids.shape == (451, 4)
    for i in range(len(lons)):
        single = idx.nearest(lons[i], lats[i], 4, statuses=["open", "temporarily_closed",
                                                             "closed"])
        assert list(ids[i]) == [r.id for r in single]
        np.testing.assert_allclose(dist[i], [r.distance_m for r in single], atol=1e-6)
    assert ids[-1, 0] == "LIVE"


def test_nearest_many_with_fewer_stations_than_k():
    idx = StationIndex([Station(id="A", name="a", type="outdoor_worker", lon=1.0, lat=1.0)])
    ids, dist = idx.nearest_many([1.0], [1.001], 3)
    assert ids[0, 0] == "A" and ids[0, 1] is None and np.isinf(dist[0, 1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(lon=float("nan"), lat=34.0), "lon: nan is not a finite number"),
        (dict(lon=117.0, lat=91.0), "lat: 91.0 is out of range; allowed -90..90"),
        (dict(lon=181.0, lat=34.0), "lon: 181.0 is out of range"),
        (dict(lon="abc", lat=34.0), "lon: 'abc' is not a number"),
        (dict(lon=117.0, lat=34.0, k=0), "k: 0 is out of range; allowed integers 1..100"),
        (dict(lon=117.0, lat=34.0, k=101), "k: 101 is out of range"),
        (dict(lon=117.0, lat=34.0, k=2.5), "k: 2.5 is out of range"),
        (dict(lon=117.0, lat=34.0, types=["spa"]), "type: unknown value 'spa'; allowed: "),
        (dict(lon=117.0, lat=34.0, amenities=["sauna"]), "amenity: unknown value 'sauna'"),
        (dict(lon=117.0, lat=34.0, open_at="noon"), "open_at: 'noon' is not an ISO 8601"),
        (dict(lon=117.0, lat=34.0, max_distance_m=-5), "max_distance_m: must be a positive"),
    ],
    ids=["nan", "lat-range", "lon-range", "lon-text", "k0", "k101", "k-frac", "type",
         "amenity", "open_at", "max-dist"],
)
def test_bad_queries_are_rejected(tiny_stations, kwargs, match):
    idx = StationIndex(tiny_stations)
    with pytest.raises(InvalidInput, match=match):
        idx.nearest(**kwargs)


def test_chinese_and_english_type_labels_are_accepted(tiny_stations):
    idx = StationIndex(tiny_stations)
    assert [r.id for r in idx.nearest(117.18, 34.26, 1, types=["爱心妈咪小屋"])] == ["T03"]
    assert [r.id for r in idx.nearest(117.18, 34.26, 1, types=["Legal-aid point"])] == ["T09"]


def test_empty_index():
    idx = StationIndex([])
    assert idx.nearest(117.0, 34.0, 5) == []
    assert len(idx) == 0
    idx.insert(Station(id="A", name="a", type="outdoor_worker", lon=117.0, lat=34.0))
    assert [r.id for r in idx.nearest(117.0, 34.0, 5)] == ["A"]


def test_duplicate_ids_rejected(tiny_stations):
    with pytest.raises(InvalidInput, match="duplicate station id 'T01'"):
        StationIndex(tiny_stations + [tiny_stations[0]])


def test_select_by_bbox_type_district_status(tiny_stations):
    idx = StationIndex(tiny_stations)
    assert [s.id for s in idx.select(bbox=(117.18, 34.25, 117.189, 34.264))] == [
        "T01", "T03", "T05", "T06"]
    assert [s.id for s in idx.select(types=["outdoor_worker"], statuses=["open"])] == [
        "T01", "T02", "T07", "T10"]
    assert [s.id for s in idx.select(district="320311")] == ["T03", "T09"]
    assert [s.id for s in idx.select(district="泉山区")] == ["T03", "T09"]
    idx.insert(Station(id="T00", name="n", type="legal_aid", lon=117.185, lat=34.26))
    idx.delete("T03")
    assert [s.id for s in idx.select(bbox=(117.18, 34.25, 117.189, 34.264))] == [
        "T00", "T01", "T05", "T06"]


def test_fast_path_without_closed_stations_matches_brute_force():
    stations = [s.evolve(status="open") for s in make_stations(3000, seed=21)]
    stations += [s.evolve(id=s.id + "t") for s in stations[:40]]  # exact ties
    idx = StationIndex(stations)
    rng = np.random.default_rng(3)
    for s in stations[:40]:
        check(idx, stations, s.lon, s.lat, 1)  # the tie at k=1 must go to the smaller id
        check(idx, stations, s.lon + rng.normal(0, 0.01), s.lat, 5)
    gone = stations[0]
    idx.delete(gone.id)
    rest = [s for s in stations if s.id != gone.id]
    check(idx, rest, gone.lon, gone.lat, 3)  # tombstone, no pending insert: fast path
    idx.compact()
    check(idx, rest, gone.lon, gone.lat, 3)


@pytest.mark.parametrize(("kwargs", "threshold", "delta_limit"), [
    ({}, 16384, 1024),
    ({"compact_threshold": 100}, 100, 100),
    ({"compact_threshold": 5000, "delta_limit": 16}, 5000, 16),
], ids=["defaults", "small-threshold", "both-given"])
def test_compaction_limits_are_the_documented_ones(kwargs, threshold, delta_limit):
    """Main is rebuilt at 16,384 pending changes or a twentieth of its rows; the mid
    level every 1,024 delta rows, or compact_threshold if smaller (as documented)."""
    idx = StationIndex(make_stations(50), **kwargs)
    assert idx.compact_threshold == threshold
    assert idx._delta_limit == delta_limit
    if not kwargs:
        n = 400_000
        rng = np.random.default_rng(3)
        big = StationIndex.from_arrays([f"S{i}" for i in range(n)], rng.uniform(116, 118, n),
                                       rng.uniform(33, 35, n))
        assert big.compact_threshold == n // 20


def test_three_levels_stay_exact_through_many_changes():
    """Small delta buffer, large main threshold: inserts go delta -> mid level, repeatedly;
    updates and deletes hit all three levels."""
    stations = make_stations(1200, seed=31)
    idx = StationIndex(stations[:800], compact_threshold=10**6, delta_limit=16)
    live = {s.id: s for s in stations[:800]}
    rng = np.random.default_rng(9)
    for step in range(300):
        r = rng.random()
        if r < 0.5:
            s = stations[800 + step % 400].evolve(lon=stations[800 + step % 400].lon + step * 1e-5)
        elif r < 0.8:
            s = live[list(live)[rng.integers(len(live))]]
            s = s.evolve(lat=s.lat + 0.001)
        else:
            sid = list(live)[rng.integers(len(live))]
            idx.delete(sid)
            del live[sid]
            continue
        idx.upsert(s)
        live[s.id] = s
        if step % 25 == 0:
            p = list(live.values())[rng.integers(len(live))]
            check(idx, list(live.values()), p.lon, p.lat, 6)
            check(idx, list(live.values()), p.lon, p.lat, 4, types=["mother_baby"],
                  keep=lambda s: s.type == "mother_baby" and s.status != "closed")
    snap = idx._snap
    assert len(snap.mid) > 0  # the mid level was used
    assert sorted(idx.ids()) == sorted(live)
    assert len(idx) == len(live)
    some = list(live.values())[::37]
    for s in some:
        assert idx.get(s.id) == s
    lons = np.array([s.lon for s in some])
    lats = np.array([s.lat for s in some])
    ids, dist = idx.nearest_many(lons, lats, 3)
    allst = list(live.values())
    for i, s in enumerate(some):
        want = brute(allst, s.lon, s.lat, 3, keep=lambda x: True)
        assert list(ids[i]) == [w[0] for w in want]
    box = (117.1, 34.2, 117.3, 34.35)
    assert [s.id for s in idx.select(bbox=box)] == sorted(
        s.id for s in allst if box[0] <= s.lon <= box[2] and box[1] <= s.lat <= box[3])


def test_cached_result_parts_do_not_outlive_their_columns(tiny_stations):
    """Result fragments are cached on the columns that hold the station, so a rebuilt
    index frees its old columns instead of a global cache keeping them alive."""
    import gc
    import weakref

    idx = StationIndex(tiny_stations)
    r = idx.nearest(117.1850, 34.2615, 1)[0]
    first = r.to_json(mode="walk")
    from locator.time_util import local_today

    assert list(r._cols.memo[("_static_json", "walk", local_today())]) == [r._i]
    try:
        old = weakref.ref(r._cols)
    except TypeError:
        pytest.skip("Columns supports weak references from Python 3.11 on")
    del r
    idx.insert(Station(id="NEW", name="n", type="outdoor_worker", lon=100.0, lat=30.0))
    idx.compact()
    gc.collect()
    assert old() is None
    assert idx.nearest(117.1850, 34.2615, 1)[0].to_json(mode="walk") == first


def test_replaced_rows_of_the_delta_never_come_back_when_results_are_few(tiny_stations):
    """A station upserted twice (its first delta row replaced by the second) must appear
    once, as its latest version, also when fewer than k stations pass the filters (the
    dead delta rows then sort at an infinite distance, like the bound)."""
    idx = StationIndex(tiny_stations)
    first = tiny_stations[0]
    idx.upsert(first.evolve(name="改名一次", version=2))
    idx.upsert(first.evolve(name="改名两次", status="closed", version=3))
    ids = [r.id for r in idx.nearest(first.lon, first.lat, 10)]
    assert first.id not in ids  # closed: left out by default
    assert len(ids) == len(set(ids))
    assert set(ids) == {s.id for s in tiny_stations if s.status != "closed"} - {first.id}
    idx.upsert(first.evolve(name="又开了", status="open", version=4))
    res = idx.nearest(first.lon, first.lat, 10)
    assert [r.id for r in res].count(first.id) == 1
    assert next(r for r in res if r.id == first.id).name == "又开了"


def test_cached_result_heads_of_past_days_are_dropped(tiny_stations):
    """A result's cached head holds the freshness of its day: a new day starts a new
    cache and drops the old days' (a long-running worker must not keep one per day)."""
    from datetime import date

    from locator.index.results import _heads

    idx = StationIndex(tiny_stations)
    r = idx.nearest(117.1850, 34.2615, 1)[0]
    cols = r._cols
    _heads(cols, "walk", date(2026, 7, 14))[r._i] = b"{}"
    _heads(cols, "bike", date(2026, 7, 14))[r._i] = b"{}"
    assert _heads(cols, "walk", date(2026, 7, 15)) == {}
    assert not [k for k in cols.memo if isinstance(k, tuple) and date(2026, 7, 14) in k]

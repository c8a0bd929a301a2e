"""The per-cell candidate cache of the unfiltered nearest query (locator/index/_cells.py)
answers exactly as a brute-force scan does, ordered by (haversine metres, id), ties,
tombstones, closed stations, dense cells, larger k and the antimeridian included; the
answers are the very distances of the tree path (the same floats)."""

from __future__ import annotations

import numpy as np
import pytest

from locator import Station, StationIndex
from locator.geo import haversine_m
from locator.index._cells import CELL_DEGS, MAX_CANDIDATES


def _stations(n: int, seed: int, *, centre=(117.2, 34.26), spread=0.08) -> list[Station]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        lon = round(float(centre[0] + rng.normal(0, spread)), 6)
        lat = round(float(centre[1] + rng.normal(0, spread)), 6)
        out.append(Station(id=f"S{i:05d}", name=f"s{i}", type="outdoor_worker", lon=lon,
                           lat=lat))
    # ties: three stations at one spot, two pairs mirrored around a cell centre
    out += [Station(id=f"TIE{j}", name="t", type="outdoor_worker", lon=117.2051, lat=34.2651)
            for j in range(3)]
    out += [Station(id="M1", name="m", type="outdoor_worker", lon=117.3040, lat=34.3050),
            Station(id="M2", name="m", type="outdoor_worker", lon=117.3060, lat=34.3050)]
    return out


def _brute(stations, lon, lat, k, *, drop_closed=True):
    live = [s for s in stations if s.status != "closed" or not drop_closed]
    ranked = sorted((haversine_m(lon, lat, s.lon, s.lat), s.id) for s in live)
    return ranked[:k]


def _cells(idx):
    cache = idx._snap.main.memo.get("_cells")
    return {} if cache is None else cache.cells


def _check(idx, stations, points, k):
    for lon, lat in points:
        got = [(r.distance_m, r.id) for r in idx.nearest(lon, lat, k)]
        assert got == _brute(stations, lon, lat, k), (lon, lat, k)


def _points(rng, n, *, centre=(117.2, 34.26), spread=0.1):
    # many points per cell, so that most queries are answered from a cached cell
    cells = rng.normal(centre, spread, size=(max(1, n // 10), 2))
    deg = CELL_DEGS[0]
    return [(float(c[0] + rng.uniform(-deg, deg) / 2), float(c[1] + rng.uniform(-deg, deg) / 2))
            for c in cells for _ in range(10)]


@pytest.mark.parametrize("k", [1, 3, 5, 10, 40], ids=lambda k: f"k{k}")
def test_cells_match_brute_force(k):
    stations = _stations(2000, seed=k)
    idx = StationIndex(stations)
    rng = np.random.default_rng(k)
    _check(idx, stations, _points(rng, 300), k)
    entries = _cells(idx)
    assert entries and any(e[3] is not None for e in entries.values())
    if k <= 10:  # the cluster's centre is too dense for coarse cells: fine ones answer
        assert any(key[0] == 0 and e[3] is None for key, e in entries.items())
        assert any(key[0] == 1 and e[3] is not None for key, e in entries.items())


def test_ties_at_the_kth_place_are_ordered_by_id():
    stations = _stations(500, seed=3)
    idx = StationIndex(stations)
    # the three TIE stations share one spot: k=2 must take TIE0, TIE1 (by id)
    for dx in (0.0, 0.0004, -0.0003):
        got = idx.nearest(117.2051 + dx, 34.2651, 2)
        assert [r.id for r in got] == [s for _, s in _brute(stations, 117.2051 + dx, 34.2651, 2)]
    # equidistant from M1 and M2 (same latitude, mirrored longitudes)
    got = idx.nearest(117.3050, 34.3050, 1)
    assert [r.id for r in got] == [_brute(stations, 117.3050, 34.3050, 1)[0][1]]
    _check(idx, stations, [(117.3050, 34.3050 + d) for d in (0.0, 0.001, -0.002)], 2)


def test_tombstones_and_closed_stations_are_left_out():
    stations = _stations(1500, seed=5)
    idx = StationIndex(stations)
    rng = np.random.default_rng(5)
    points = _points(rng, 200)
    _check(idx, stations, points, 5)  # fills the cells
    # delete the nearest station of many points: main rows become tombstones
    gone = {idx.nearest(lon, lat, 1)[0].id for lon, lat in points[::7]}
    for sid in gone:
        idx.delete(sid)
    live = [s for s in stations if s.id not in gone]
    assert idx._snap.dead and not idx._snap.dn  # still the plain path
    _check(idx, live, points, 5)


def test_closed_records_in_the_main_tree():
    stations = _stations(800, seed=8)
    stations = [s.evolve(status="closed") if i % 9 == 0 else s for i, s in enumerate(stations)]
    idx = StationIndex(stations)
    assert idx._snap.has_closed
    rng = np.random.default_rng(8)
    _check(idx, stations, _points(rng, 200), 4)


def test_dense_cells_fall_back_to_the_tree():
    # 400 stations within 300 m: every nearby cell holds more than MAX_CANDIDATES
    stations = _stations(400, seed=9, spread=0.001)
    idx = StationIndex(stations)
    rng = np.random.default_rng(9)
    points = _points(rng, 50, spread=0.002)
    _check(idx, stations, points, 5)
    dense = [e for e in _cells(idx).values() if e[3] is None]
    assert dense and len(stations) > MAX_CANDIDATES


def test_a_larger_k_rebuilds_the_cell():
    stations = _stations(1500, seed=11)
    idx = StationIndex(stations)
    point = [(117.21, 34.27)]
    _check(idx, stations, point * 3, 1)  # fills the cell(s), for k=1 (at the 2nd query)
    assert {e[4] for e in _cells(idx).values()} == {2}
    _check(idx, stations, point, 30)
    assert {e[4] for e in _cells(idx).values()} == {31}


def test_across_the_antimeridian_and_far_north():
    stations = [Station(id=f"P{i}", name="p", type="outdoor_worker", lon=lon, lat=lat)
                for i, (lon, lat) in enumerate([(179.995, 10.0), (-179.996, 10.001),
                                                (179.99, 9.99), (-179.98, 10.02),
                                                (10.0, 85.0), (10.5, 85.01)])]
    idx = StationIndex(stations)
    points = [(179.999, 10.0), (-179.999, 10.0005), (180.0, 10.0), (10.2, 85.0)]
    for k in (1, 2, 3):
        _check(idx, stations, points, k)


def test_tombstones_can_push_the_answer_outside_the_cell_reach():
    """A cell filled while two stations sat at its centre reaches about 2.9 km; once both
    are deleted, the nearest live station of a point in the cell lies outside that reach
    (C, 2.8 km west of the point) while a candidate inside it (B) is farther (3.0 km
    east): the cell must not answer B."""
    o = (117.21, 34.27)  # the centre of its 0.02-degree cell
    east = 1.0 / (6371.0088 * np.cos(np.radians(o[1])) * np.pi / 180)  # degrees per km
    b, c = o[0] + 2.6 * east, o[0] - 3.2 * east
    mk = [("A", o[0], o[1]), ("A2", o[0] + 0.0001, o[1]), ("B", b, o[1]), ("C", c, o[1])]
    stations = [Station(id=i, name=i, type="outdoor_worker", lon=x, lat=y) for i, x, y in mk]
    idx = StationIndex(stations)
    p = (o[0] - 0.4 * east, o[1])
    assert idx.nearest(*p, 1)[0].id == "A"  # notes the cell (the tree answers) ...
    assert not _cells(idx)
    assert idx.nearest(*p, 1)[0].id == "A"  # ... and fills it
    (entry,) = _cells(idx).values()
    reach, rows = entry[2], [c[0] for c in entry[3]]
    assert haversine_m(o[0], o[1], c, o[1]) > reach > haversine_m(o[0], o[1], b, o[1])
    assert {stations[i].id for i in rows} == {"A", "A2", "B"}
    idx.delete("A")
    idx.delete("A2")
    assert not idx._snap.dn
    got = idx.nearest(*p, 1)
    assert [(r.id, r.distance_m) for r in got] == [(s, d) for d, s in _brute(
        [s for s in stations if s.id in ("B", "C")], *p, 1)] and got[0].id == "C"


def _filtered_stations(n: int, seed: int) -> list[Station]:
    rng = np.random.default_rng(seed)
    hours = [None, "24/7", "Mo-Su 08:00-22:00", "Mo-Fr 08:30-17:30", "Mo-Su 09:00+"]
    statuses = ["open"] * 8 + ["temporarily_closed", "closed"]
    out = []
    for s in _stations(n, seed):
        out.append(s.evolve(
            amenities=tuple(a for a in ("drinking_water", "toilet", "phone_charging")
                            if rng.random() < 0.6),
            opening_hours=hours[int(rng.integers(len(hours)))],
            status=statuses[int(rng.integers(len(statuses)))]))
    return out


def _keeps(s: Station, *, amenities=(), at=None, statuses=None) -> bool:
    from locator.stations.hours import parse_hours
    from locator.time_util import parse_when

    if statuses is not None:
        if s.status not in statuses:
            return False
    elif s.status == "closed":
        return False
    if not set(amenities) <= set(s.amenities):
        return False
    if at is not None:
        if s.status != "open":
            return False
        if s.opening_hours and parse_hours(s.opening_hours).is_closed(parse_when(at)):
            return False
    return True


@pytest.mark.parametrize("query", [
    {"amenities": ["drinking_water"]},
    {"amenities": ["drinking_water", "toilet"], "open_at": "2026-07-15T12:00"},
    {"open_at": "2026-07-15T21:30"},
    {"open_at": "2026-07-15T06:00"},
    {"statuses": ["open", "closed"]},
    {"max_distance_m": 900.0},
    {"max_distance_m": 2500.0, "open_at": "2026-07-15T12:00"},
], ids=["amenity", "two-amenities-noon", "late", "early", "with-closed", "within-900m",
        "within-2.5km-noon"])
def test_filtered_queries_from_cells_match_brute_force(query):
    stations = _filtered_stations(1500, seed=21)
    idx = StationIndex(stations)
    rng = np.random.default_rng(21)
    keep = {"amenities": query.get("amenities", ()), "at": query.get("open_at"),
            "statuses": query.get("statuses")}
    max_d = query.get("max_distance_m")
    for k in (1, 5, 12):
        for lon, lat in _points(rng, 120):
            got = [(r.distance_m, r.id) for r in idx.nearest(lon, lat, k, **query)]
            want = _brute([s for s in stations if _keeps(s, **keep)], lon, lat, 10_000,
                          drop_closed=False)
            want = [w for w in want if max_d is None or w[0] <= max_d][:k]
            assert got == want, (query, k, lon, lat)
    assert any(e[3] is not None for e in _cells(idx).values())

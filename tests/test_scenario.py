"""Planning scenarios (issue #12): a scenario's figures equal a fresh coverage run on the
modified station set (per threshold, per district, cross-coverage), the units that gain
and lose coverage are the set differences of fresh runs, hours count at the run's time,
bad input names its field, and ``locator scenario`` runs through the CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from locator import StationStore
from locator.cli.main import main
from locator.coverage import (
    StraightLineEngine,
    coverage_report,
    demand_from_points,
    load_illustrative_demand,
    read_demand,
    select_stations,
)
from locator.coverage.planning import PlanningData
from locator.coverage.scenario import (
    ROW_FIELDS,
    Scenario,
    apply_scenario,
    scenario_base,
    scenario_run,
)
from locator.errors import InvalidInput
from locator.stations.model import station_from_dict

ENGINE = StraightLineEngine("walk")
NIGHT = "2026-07-15T22:00"  # a Wednesday
NOON = "2026-07-15T12:00"


def st(sid, lon, lat, hours=None, status="open", capacity=None):
    return station_from_dict({"id": sid, "name": f"站 {sid}", "type": "outdoor_worker",
                              "lon": lon, "lat": lat, "opening_hours": hours,
                              "status": status, "capacity": capacity})


def fresh(records, demand, districts, at, minutes=(5, 10, 15)):
    """The honest reference: a full coverage run on the modified station set."""
    return coverage_report(ENGINE, select_stations(records, at=at), demand, minutes=minutes,
                           districts=districts)


def covered(records, demand, at, minutes):
    s = select_stations(records, at=at)
    return ENGINE.reach_counts(s.lon, s.lat, demand.lon, demand.lat, minutes, cap=1) > 0


def assert_equal_to_fresh(records, scenario, demand, districts, at, minutes=(5, 10, 15)):
    base = scenario_base(ENGINE, records, demand, minutes=minutes, districts=districts, at=at)
    assert base.report.thresholds == fresh(records, demand, districts, at, minutes).thresholds
    res = base.compare(scenario)
    modified = apply_scenario(records, scenario)
    want = fresh(modified, demand, districts, at, minutes)
    # every figure, to the last bit: city and districts, demand, area, reach 0/1/2/3+
    assert res.report.thresholds == want.thresholds
    assert res.report.stations == want.stations
    assert res.report.to_dict() == want.to_dict()
    for t, w in zip(res.thresholds, want.thresholds, strict=True):
        assert t.city.scenario == w.city
        assert t.city.scenario.share_cross == w.city.share_cross
        assert [d.scenario for d in t.districts] == [d.figures for d in w.districts]
        before = covered(records, demand, at, t.minutes)
        after = covered(modified, demand, at, t.minutes)
        assert t.gained.tolist() == np.flatnonzero(after & ~before).tolist()
        assert t.lost.tolist() == np.flatnonzero(before & ~after).tolist()
        assert t.city.units_gained == t.gained.size
        assert t.city.demand_gained == pytest.approx(demand.weight[t.gained].sum())
        assert sum(d.units_lost for d in t.districts) == t.lost.size
    return res


# ----------------------------------------------------------------- small, hand-built

#: Three stations on a line, 600 m apart near 34.2°N; demand every 100 m along it.
LINE = [st("A", 117.000, 34.2), st("B", 117.0065, 34.2, "Mo-Su 09:00-17:00"),
        st("C", 117.013, 34.2, "24/7"), st("D", 117.0195, 34.2, status="closed")]


@pytest.fixture(scope="module")
def line_demand():
    lon = np.arange(116.995, 117.030, 0.0011)
    dist = np.where(lon < 117.01, "320302", "320303")
    return demand_from_points(lon, np.full(lon.size, 34.2001), np.arange(1, lon.size + 1),
                              district=dist)


SMALL = {
    "add-one": {"name": "add", "add": [{"id": "N", "name": "新", "type": "outdoor_worker",
                                        "lon": 117.026, "lat": 34.2}]},
    "close-remove": {"name": "cut", "close": ["A"], "remove": ["C"]},
    "reopen-night": {"name": "night", "change": {"B": {"opening_hours": "24/7"}}},
    "day-only": {"name": "day", "change": {"C": {"opening_hours": "Mo-Su 09:00-17:00"}}},
    "mixed": {"name": "mixed", "remove": ["B"], "close": ["D"],
              "add": [{"id": "N1", "lon": 117.0065, "lat": 34.2001},
                      {"id": "N2", "lon": 117.03, "lat": 34.2,
                       "opening_hours": "Mo-Fr 20:00-23:00"}],
              "add_defaults": {"type": "outdoor_worker"}, "change": {"A": {"capacity": 9}}},
    "nothing": {"name": "empty"},
}


@pytest.mark.parametrize("at", [None, NOON, NIGHT], ids=["no-time", "noon", "night"])
@pytest.mark.parametrize("key", list(SMALL), ids=list(SMALL))
def test_small_scenarios_equal_a_fresh_run(line_demand, key, at):
    sc = Scenario.from_dict(SMALL[key])
    res = assert_equal_to_fresh(LINE, sc, line_demand, None, at)
    assert [a.adcode for a in res.thresholds[0].districts] == ["320302", "320303"]


def test_hours_count_at_the_run_time(line_demand):
    night = Scenario.from_dict(SMALL["reopen-night"])  # B: 09-17 -> 24/7
    at_night = scenario_base(ENGINE, LINE, line_demand, at=NIGHT).compare(night)
    assert at_night.added == ("B",) and at_night.removed == ()
    assert at_night.at(5).city.units_gained > 0
    at_noon = scenario_base(ENGINE, LINE, line_demand, at=NOON).compare(night)
    assert at_noon.added == at_noon.removed == ()  # open then in both
    assert at_noon.at(15).city.change_points == 0.0
    no_time = scenario_base(ENGINE, LINE, line_demand).compare(night)
    assert no_time.added == no_time.removed == ()  # hours ignored
    day = Scenario.from_dict(SMALL["day-only"])  # C: 24/7 -> 09-17
    res = scenario_base(ENGINE, LINE, line_demand, at=NIGHT).compare(day)
    assert res.removed == ("C",) and res.at(5).city.units_lost > 0
    assert res.report.stations["excluded"]["not_open_at"] == 2  # B and C


def test_capacity_only_changes_no_coverage(line_demand):
    sc = Scenario.from_dict({"name": "seats", "change": {"A": {"capacity": "12座"}}})
    res = scenario_base(ENGINE, LINE, line_demand).compare(sc)
    assert res.report.thresholds == res.base.thresholds
    assert res.added == res.removed == ()
    assert {s.id: s.capacity for s in apply_scenario(LINE, sc)}["A"] == 12


def test_close_keeps_the_record_remove_drops_it():
    sc = Scenario.from_dict(SMALL["close-remove"])
    out = {s.id: s for s in apply_scenario(LINE, sc)}
    assert out["A"].status == "closed" and "C" not in out and len(out) == 3


def test_round_trip_and_suggested_sites():
    sc = Scenario.from_dict(SMALL["mixed"])
    assert Scenario.from_dict(json.loads(json.dumps(sc.to_dict()))) == sc
    site = Scenario.from_dict({"name": "s", "add_defaults": {"type": "outdoor_worker"},
                               "add": [{"id": "gap-13", "lon": 117.2, "lat": 34.2,
                                        "rank": 1, "gain": 81.5}]})
    assert site.add[0].name == "拟建站点 gap-13" and site.add[0].type == "outdoor_worker"
    gcj = Scenario.from_dict({"name": "g", "crs": "gcj02", "add": [
        {"id": "G", "name": "g", "type": "outdoor_worker", "lon": 117.2, "lat": 34.2}]})
    assert gcj.add[0].lon != 117.2  # converted to WGS-84


# ----------------------------------------------------------------- demo-like data


@pytest.fixture(scope="module")
def demo():
    from locator.cli.demo import load_sample_stations

    return load_sample_stations()


@pytest.fixture(scope="module")
def demo_demand(districts):
    return load_illustrative_demand(districts=districts)


def demo_scenario(records, seed):
    rng = np.random.default_rng(seed)
    ids = sorted(s.id for s in records)
    pick = rng.choice(len(ids), 9, replace=False)
    close, remove = [ids[i] for i in pick[:3]], [ids[i] for i in pick[3:5]]
    change = {ids[pick[5]]: {"opening_hours": "Mo-Su 18:00-06:00"},
              ids[pick[6]]: {"opening_hours": "24/7", "capacity": 6},
              ids[pick[7]]: {"opening_hours": "Mo-Fr 09:00-17:00"},
              ids[pick[8]]: {"capacity": 3}}
    add = [{"id": f"NEW-{k}", "name": f"新站{k}", "type": "outdoor_worker",
            "lon": float(rng.uniform(117.1, 117.35)), "lat": float(rng.uniform(34.18, 34.35)),
            "opening_hours": "24/7" if k % 2 else None} for k in range(5)]
    return Scenario.from_dict({"name": f"demo {seed}", "add": add, "close": close,
                               "remove": remove, "change": change})


@pytest.mark.parametrize("at", [None, "2026-07-15T02:18", NOON], ids=["no-time", "2am", "noon"])
def test_demo_scenarios_equal_a_fresh_run(demo, demo_demand, districts, at):
    for seed in (1, 2):
        res = assert_equal_to_fresh(demo, demo_scenario(demo, seed), demo_demand, districts,
                                    at)
        assert len(res.thresholds[0].districts) == len(districts)


def test_scenario_run_compares_several_and_labels_illustrative(demo, demo_demand, districts):
    scs = [demo_scenario(demo, 3), demo_scenario(demo, 4)]
    run = scenario_run(lambda: ENGINE, demo, PlanningData(demo_demand, districts), [15],
                       scs, at="2026-07-15T02:18")
    assert run.flags["illustrative"] is True and run.flags["sample_stations"] is True
    doc = run.to_dict()
    assert doc["illustrative"] is True and doc["base"]["stations"]["at"].startswith("2026-07-15")
    for sc, r in zip(scs, doc["scenarios"], strict=True):
        want = fresh(apply_scenario(demo, sc), demo_demand, districts, "2026-07-15T02:18", [15])
        assert r["thresholds"][0]["city"]["scenario"] == want.thresholds[0].city.to_dict()
        assert r["stations"]["scenario"] == want.stations
    rows = run.rows()
    assert len(rows) == 2 * (1 + len(districts))
    assert all(set(row) == set(ROW_FIELDS) for row in rows)
    assert all(row["name"] for row in rows)  # code and name on every row
    assert all(row["adcode"] for row in rows if row["level"] == "district")
    feats = run.unit_features()
    assert {f["properties"]["change"] for f in feats} <= {"gain", "lose"}
    n = sum(t.gained.size + t.lost.size for r in run.results for t in r.thresholds)
    assert len(feats) == n


# ----------------------------------------------------------------- bad input


BAD = [
    ({"name": "x", "close": ["A", "B", "X9"]}, 'close[2]: station "X9" is not among',
     "close[2]"),
    ({"name": "x", "remove": ["Q"]}, 'remove[0]: station "Q" is not among', "remove[0]"),
    ({"name": "x", "change": {"Z": {"capacity": 3}}}, 'change["Z"]: station "Z" is not',
     'change["Z"]'),
    ({"name": "x", "add": [{"id": "A", "name": "a", "type": "outdoor_worker", "lon": 117,
                            "lat": 34}]}, 'add[0].id: station "A" is already among',
     "add[0].id"),
]
BAD_SHAPE = [
    ({"name": "x", "add": [{"id": "N", "name": "n", "type": "outdoor_worker", "lon": 117,
                            "lat": 34}], "remove": ["N"]}, "added by this scenario and removed",
     "remove[0]"),
    ({"name": "x", "close": ["A"], "remove": ["A"]}, 'station "A" is already in close[0]',
     "remove[0]"),
    ({"name": "x", "change": {"S1": {"capacity": 0}}}, 'change["S1"].capacity: 0 is not a '
     "number of seats", 'change["S1"].capacity'),
    ({"name": "x", "change": {"S1": {"capacity": -4}}}, "-4 is not a number of seats",
     'change["S1"].capacity'),
    ({"name": "x", "change": {"S1": {"capacity": None}}}, "is not a number of seats",
     'change["S1"].capacity'),
    ({"name": "x", "change": {"S1": {"opening_hours": "Mo-Xx"}}}, "Invalid opening_hours",
     'change["S1"].opening_hours'),
    ({"name": "x", "change": {"S1": {"status": "closed"}}}, "allowed: opening_hours, capacity",
     'change["S1"].status'),
    ({"name": "x", "change": {"S1": {}}}, "nothing to change", 'change["S1"]'),
    ({"name": "x", "add": [{"id": "N", "name": "n", "type": "outdoor_worker", "lon": 117,
                            "lat": 95}]}, "add[0].lat: 95.0 is out of range", "add[0].lat"),
    ({"name": "x", "add": [{"id": "N", "name": "n", "type": "outdoor_worker", "lon": 117,
                            "lat": 34, "opening_hours": "25:00-26:00"}]},
     "add[0].opening_hours: Invalid", "add[0].opening_hours"),
    ({"name": "x", "add": [{"id": "N", "name": "n", "type": "shop", "lon": 117, "lat": 34}]},
     "add[0].type", "add[0].type"),
    ({"name": "x", "add": [{"name": "n", "type": "outdoor_worker", "lon": 117, "lat": 34}]},
     "add[0].id: is required", "add[0].id"),
    ({"name": "x", "add": [{"id": "N", "name": "n", "type": "outdoor_worker", "lon": 117,
                            "lat": 34}, {"id": "N", "name": "m", "type": "outdoor_worker",
                                         "lon": 117, "lat": 34}]},
     'add[1]: station "N" is already in add[0]', "add[1]"),
    ({"name": "x", "close": ["A", "A"]}, 'close[1]: station "A" is already in close[0]',
     "close[1]"),
    ({"name": "x", "add": [{"id": "N", "name": "n", "type": "outdoor_worker", "lon": 117,
                            "lat": 34}], "change": {"N": {"capacity": 2}}},
     'change["N"]: station "N" is added by this scenario', 'change["N"]'),
    ({"name": "x", "close": "A"}, "close: expected a list", "close"),
    ({"name": "x", "closed": ["A"]}, "closed: not a scenario field", "closed"),
    ({"add": []}, "name: is required", "name"),
    ([1, 2], "scenario: expected an object", "scenario"),
]


@pytest.mark.parametrize("data, message, where", BAD, ids=[b[2] for b in BAD])
def test_unknown_stations_name_the_field(data, message, where):
    sc = Scenario.from_dict(data)
    with pytest.raises(InvalidInput, match=message.replace("[", r"\[").replace("]", r"\]")) \
            as e:
        apply_scenario(LINE, sc)
    assert e.value.field == where
    with pytest.raises(InvalidInput):
        scenario_base(ENGINE, LINE, demand_from_points([117.0], [34.2], [1.0])).compare(sc)


@pytest.mark.parametrize("data, message, where", BAD_SHAPE,
                         ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD_SHAPE)])
def test_bad_scenarios_name_the_field(data, message, where):
    with pytest.raises(InvalidInput) as e:
        Scenario.from_dict(data)
    assert message in str(e.value)
    assert e.value.field == where


def test_scenario_run_rejects_twice_the_same_name(line_demand):
    sc = Scenario.from_dict({"name": "same"})
    with pytest.raises(InvalidInput, match="scenarios.1..name") as e:
        scenario_run(lambda: ENGINE, LINE, PlanningData(line_demand, None), [15], [sc, sc])
    assert e.value.field == "scenarios[1].name"


# ----------------------------------------------------------------- CLI


@pytest.fixture()
def db(tmp_path, tiny_stations):
    path = tmp_path / "scenario.sqlite"
    store = StationStore(str(path), create=True)
    store.add_many(tiny_stations, actor="pytest")
    store.dispose()
    return path


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return p


CLI_SCENARIOS = {
    "plus.json": {"name": "五个新站", "add_defaults": {"type": "outdoor_worker"}, "add": [
        {"id": f"P{k}", "lon": 117.17 + 0.02 * k, "lat": 34.27} for k in range(5)]},
    "night.json": {"close": ["T01"], "change": {"T04": {"opening_hours": "24/7"},
                                                "T02": {"capacity": 6}}},
}


def test_cli_scenario_equals_a_fresh_run(runner, db, demand_csv, districts, tiny_stations,
                                         tmp_path):
    files = [write(tmp_path, n, d) for n, d in CLI_SCENARIOS.items()]
    out, units = tmp_path / "deltas.csv", tmp_path / "units.geojson"
    r = runner.invoke(main, ["scenario", "--db", str(db), *map(str, files), "--demand",
                             str(demand_csv), "--minutes", "10,15", "--at", NIGHT, "--json",
                             "--out", str(out), "--units", str(units)])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    dem = read_demand(demand_csv, districts=districts)
    assert doc["illustrative"] is True and doc["minutes"] == [10.0, 15.0]
    assert [s["name"] for s in doc["scenarios"]] == ["五个新站", "night"]  # file stem
    for f, s in zip(files, doc["scenarios"], strict=True):
        sc = Scenario.from_dict(json.loads(f.read_text(encoding="utf-8")), name=f.stem)
        want = fresh(apply_scenario(tiny_stations, sc), dem, districts, NIGHT, [10, 15])
        for t, w in zip(s["thresholds"], want.thresholds, strict=True):
            assert t["city"]["scenario"] == w.city.to_dict()
            assert [d["scenario"] for d in t["districts"]] == \
                [d.figures.to_dict() for d in w.districts]
    assert doc["scenarios"][1]["stations"]["added"] == ["T04"]
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 2 * (1 + len(districts))
    assert all(row["name"] and row["notice"] for row in rows)
    assert all(row["adcode"] for row in rows if row["level"] == "district")
    gj = json.loads(units.read_text(encoding="utf-8"))
    assert gj["type"] == "FeatureCollection" and gj["notice"]
    n = sum(len(t["gained_ids"]) + len(t["lost_ids"]) for s in doc["scenarios"]
            for t in s["thresholds"])
    assert len(gj["features"]) == n > 0
    text = runner.invoke(main, ["scenario", "--db", str(db), str(files[0]), "--demand",
                                str(demand_csv)])
    assert text.exit_code == 0, text.output
    assert "Scenario \"五个新站\": 5 added" in text.stdout
    assert "Base: opening hours ignored; 8 stations counted" in text.stdout
    assert "15 min: covered " in text.stdout and "320302" in text.stdout


@pytest.mark.parametrize("data, args, message", [
    ({"name": "x", "close": ["T01", "X9"]}, [], 'close[1]: station "X9" is not among'),
    ({"name": "x", "change": {"T01": {"capacity": 0}}}, [], 'change["T01"].capacity'),
    ({"name": "x"}, ["--out", "d.txt"], "--out"),
    ({"name": "x"}, ["--units", "u.csv"], "--units"),
    ({"name": "x"}, ["--minutes", "0"], "minutes"),
    ({"name": "x"}, ["--at", "tomorrow"], "at"),
], ids=["unknown-station", "capacity", "out", "units", "minutes", "at"])
def test_cli_bad_input_is_one_line(runner, db, demand_csv, tmp_path, data, args, message):
    f = write(tmp_path, "bad.json", data)
    r = runner.invoke(main, ["scenario", "--db", str(db), str(f), "--demand", str(demand_csv),
                             *args])
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output


def test_cli_adds_the_sites_of_a_suggest_file(runner, db, demand_csv, districts,
                                              tiny_stations, tmp_path):
    """A sites file written by ``locator suggest`` (CSV or GeoJSON) is a scenario that
    adds those sites, named after the file; the deltas also go to XLSX."""
    from openpyxl import load_workbook

    for name in ("sites.csv", "sites.geojson"):
        r = runner.invoke(main, ["suggest", "--db", str(db), "--demand", str(demand_csv),
                                 "-n", "3", "--out", str(tmp_path / name)])
        assert r.exit_code == 0, r.output
    out = tmp_path / "deltas.xlsx"
    r = runner.invoke(main, ["scenario", "--db", str(db), str(tmp_path / "sites.csv"),
                             str(tmp_path / "sites.geojson"), "--demand", str(demand_csv),
                             "--minutes", "15", "--json", "--out", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert [s["name"] for s in doc["scenarios"]] == ["sites.csv", "sites.geojson"]
    with open(tmp_path / "sites.csv", encoding="utf-8-sig", newline="") as fh:
        sites = list(csv.DictReader(fh))
    sc = Scenario.from_dict({"add": [{"id": s["id"], "lon": float(s["lon"]),
                                      "lat": float(s["lat"])} for s in sites],
                             "add_defaults": {"type": "outdoor_worker"}}, name="x")
    dem = read_demand(demand_csv, districts=districts)
    want = fresh(apply_scenario(tiny_stations, sc), dem, districts, None, [15])
    for s in doc["scenarios"]:
        assert s["stations"]["added"] == [x["id"] for x in sites]
        assert s["thresholds"][0]["city"]["scenario"] == want.thresholds[0].city.to_dict()
    rows = [[c.value for c in row] for row in load_workbook(out).active.iter_rows()]
    head = next(i for i, row in enumerate(rows) if row[0] == "scenario")
    assert len(rows) - head - 1 == 2 * (1 + len(districts))
    bad = tmp_path / "bad.csv"
    bad.write_text("id,lon,lat\nN1,200,34\n", encoding="utf-8")
    r = runner.invoke(main, ["scenario", "--db", str(db), str(bad)])
    assert r.exit_code == 2 and "bad.csv: add[0].lon" in r.output, r.output


def test_cli_unreadable_files(runner, db, tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json", encoding="utf-8")
    r = runner.invoke(main, ["scenario", "--db", str(db), str(bad)])
    assert r.exit_code == 2 and "broken.json: scenario: not JSON" in r.output
    r = runner.invoke(main, ["scenario", "--db", str(db), str(tmp_path / "none.json")])
    assert r.exit_code == 2 and "file not found" in r.output

"""``locator access`` and ``POST /api/v1/access`` (issue #12): the planning service's
access run, equal to the core's scores and equity on the same inputs; capacities taken
from the stations; bad input named."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from locator import StationStore
from locator.cli.main import main
from locator.coverage import StraightLineEngine, read_demand, select_stations
from locator.coverage.access import access_scores
from locator.coverage.equity import gini
from locator.web import create_app


@pytest.fixture()
def db(tmp_path, tiny_stations):
    path = tmp_path / "access.sqlite"
    store = StationStore(str(path), create=True)
    store.add_many(tiny_stations, actor="pytest")
    store.dispose()
    return path


def core(tiny_stations, demand_csv, method="e2sfca", capacity=None):
    st = select_stations(tiny_stations)
    dem = read_demand(demand_csv)
    return access_scores(StraightLineEngine("walk"), st, dem, 15, method=method,
                         capacity=capacity), dem


def test_cli_access_equals_the_core(runner, db, demand_csv, tiny_stations, tmp_path):
    out = tmp_path / "scores.csv"
    r = runner.invoke(main, ["access", "--db", str(db), "--demand", str(demand_csv),
                             "--json", "--out", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    want, dem = core(tiny_stations, demand_csv)
    assert doc["method"] == "e2sfca" and doc["capacity"]["source"] == "none recorded"
    assert doc["mean_access"] == pytest.approx(want.mean_access(), rel=1e-9)
    assert doc["equity"]["gini"] == pytest.approx(gini(want.scores, dem.weight), rel=1e-9)
    assert doc["illustrative"] is True
    with open(out, encoding="utf-8-sig", newline="") as f:
        rows = [row for row in csv.reader(f) if row and not row[0].startswith("#")]
    assert rows[0] == ["id", "lon", "lat", "district_adcode", "district_name", "weight",
                       "access"]
    got = np.array([float(row[6]) for row in rows[1:]])
    from locator.coverage import load_xuzhou_districts

    names = dict(zip(load_xuzhou_districts().adcode, load_xuzhou_districts().name,
                     strict=True))
    assert all(row[4] == names[row[3]] for row in rows[1:] if row[3])  # names beside codes
    np.testing.assert_allclose(got, want.scores, rtol=1e-9, atol=1e-15)
    assert [row[0] for row in rows[1:]] == [str(i) for i in dem.ids]
    text = runner.invoke(main, ["access", "--db", str(db), "--demand", str(demand_csv),
                                "--method", "2sfca"])
    assert text.exit_code == 0, text.output
    assert "Access (2SFCA, 15 min; to 15 min x1)" in text.stdout
    assert "every station counts 1" in text.stdout and "Equity: Gini " in text.stdout


@pytest.mark.parametrize("args, message", [
    (["--weights", "1,abc"], "weights"), (["--weights", "1,1.5"], "weights[1]"),
    (["--default-capacity", "0"], "default_capacity"), (["--minutes", "0"], "minutes"),
    (["--out", "scores.xlsx"], "--out")])
def test_cli_bad_input_is_one_line(runner, db, demand_csv, args, message):
    r = runner.invoke(main, ["access", "--db", str(db), "--demand", str(demand_csv), *args])
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output


def _app(registry, demand_csv):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none",
                       "LOCATOR_DEMAND": str(demand_csv)})


def test_api_access_equals_the_core(registry, demand_csv, tiny_stations):
    client = _app(registry, demand_csv).test_client()
    r = client.post("/api/v1/access", json={"minutes": 15, "wait": 20, "crowded": 3})
    assert r.status_code == 200, r.get_data(as_text=True)
    doc = r.get_json()
    want, dem = core(tiny_stations, demand_csv)
    assert doc["mean_access"] == pytest.approx(want.mean_access(), rel=1e-9)
    assert [c["id"] for c in doc["crowded"]] == [c["id"] for c in want.crowded(3)]
    assert all(c["name"] for c in doc["crowded"])
    assert sum(d["units"] for d in doc["districts"]) == len(dem)
    two = client.post("/api/v1/access", json={"minutes": 15, "method": "2sfca", "wait": 20})
    want2, _ = core(tiny_stations, demand_csv, method="2sfca")
    assert two.get_json()["mean_access"] == pytest.approx(want2.mean_access(), rel=1e-9)
    for body, field in [({"weights": [1, 2]}, "weights"), ({"method": "3sfca"}, "method"),
                        ({"default_capacity": 0}, "default_capacity"),
                        ({"weights": "1,0.5"}, "weights")]:
        bad = client.post("/api/v1/access", json={"minutes": 15, **body})
        assert bad.status_code == 400, body
        assert bad.get_json()["invalid_params"][0]["name"] == field

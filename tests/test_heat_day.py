"""Heat-day coverage (issue #12): only stations with air conditioning and drinking water
count on a heat day, only heated ones in a cold wave; in the core, the CLI, the planner
API, the planner page and the report, each stating it."""

from __future__ import annotations

import json

import pytest

from locator.cli.main import main
from locator.coverage import StraightLineEngine, coverage_report, read_demand, select_stations
from locator.errors import InvalidInput
from locator.web import create_app

#: The tiny stations given air conditioning here (T01 and T04 have drinking water, T03
#: has none: not fit for a heat day even with cooling).
COOLED = ("T01", "T03", "T04")


@pytest.fixture()
def cooled(registry):
    for sid in COOLED:
        st = registry.index.get(sid)
        registry.update(sid, {"amenities": [*st.amenities, "air_conditioning"]}, actor="pytest")
    return registry


def test_select_keeps_exactly_the_stations_fit_for_the_weather(cooled):
    records = cooled.index.stations()
    heat = select_stations(records, weather="heat")
    assert sorted(heat.ids.tolist()) == ["T01", "T04"]
    # T03 (no water) and every other open station lack an amenity; T06 is closed, one
    # is temporarily closed.
    n_open = sum(1 for s in records if s.status == "open")
    assert heat.excluded == {"closed": 1, "status": 1, "lacking": n_open - 2}
    d = heat.describe()
    assert d["needs"] == ["air_conditioning", "drinking_water"] and d["weather"] == "heat"
    # The Chinese name and labels work too; a cold wave needs heating, which none has.
    assert select_stations(records, weather="高温").ids.tolist() == heat.ids.tolist()
    cold = select_stations(records, weather="寒潮")
    assert len(cold) == 0 and cold.describe()["needs"] == ["heating"]
    assert sorted(select_stations(records, needs=["空调"]).ids.tolist()) == list(COOLED)
    # Without weather nothing changes.
    assert len(select_stations(records)) == n_open


def test_bad_weather_and_needs_name_their_field(cooled):
    records = cooled.index.stations()
    with pytest.raises(InvalidInput) as e:
        select_stations(records, weather="hot")
    assert e.value.field == "weather" and "heat" in str(e.value) and "高温" in str(e.value)
    with pytest.raises(InvalidInput) as e:
        select_stations(records, needs=["jacuzzi"])
    assert e.value.field == "needs" and "air_conditioning" in str(e.value)


def _app(registry, demand_csv):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none",
                       "LOCATOR_DEMAND": str(demand_csv)})


def test_the_api_counts_only_fit_stations_and_equals_the_core(cooled, demand_csv):
    client = _app(cooled, demand_csv).test_client()
    r = client.post("/api/v1/coverage", json={"minutes": 15, "weather": "heat", "wait": 10})
    assert r.status_code == 200, r.get_data(as_text=True)
    doc = r.get_json()
    assert doc["stations"]["used"] == 2 and doc["stations"]["weather"] == "heat"
    assert doc["stations"]["excluded"]["lacking"] == 6
    want = coverage_report(StraightLineEngine("walk"),
                           select_stations(cooled.index.stations(), weather="heat"),
                           read_demand(demand_csv), minutes=[15])
    share = doc["thresholds"][0]["city"]["share_demand"]
    assert share == want.to_dict()["thresholds"][0]["city"]["share_demand"]
    every = client.post("/api/v1/coverage", json={"minutes": 15, "wait": 10}).get_json()
    assert share < every["thresholds"][0]["city"]["share_demand"]
    # A cold wave: no heated station, nothing covered (and no error).
    cold = client.post("/api/v1/coverage", json={"minutes": 15, "weather": "cold", "wait": 10})
    assert cold.status_code == 200 and cold.get_json()["stations"]["used"] == 0
    assert cold.get_json()["thresholds"][0]["city"]["share_demand"] == 0
    bad = client.post("/api/v1/coverage", json={"minutes": 15, "weather": "hot"})
    assert bad.status_code == 400
    assert bad.get_json()["invalid_params"][0]["name"] == "weather"
    sug = client.post("/api/v1/suggest", json={"n": 1, "from_gaps": True, "weather": "heat",
                                               "wait": 20})
    assert sug.status_code == 200 and sug.get_json()["stations"]["used"] == 2


def test_the_page_offers_and_states_the_heat_day(cooled, demand_csv):
    client = _app(cooled, demand_csv).test_client()
    page = client.get("/planner?minutes=15&n=0&weather=heat")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<option value="heat" selected>' in html
    assert "极端天气覆盖" in html and "高温天：仅计入有空调、饮用水的站点" in html
    plain = client.get("/planner?minutes=15&n=0").get_data(as_text=True)
    assert "极端天气覆盖" not in plain and '<option value="" selected>' in plain
    bad = client.get("/planner?minutes=15&weather=hot")
    assert bad.status_code == 400 and "weather" in bad.get_data(as_text=True)
    # The report download of the run says it too, in English when asked.
    rep = client.get("/planner/report.html?minutes=15&n=0&weather=heat&lang=en")
    assert rep.status_code == 200
    assert "Heat day: only stations with Air conditioning, Drinking water" in \
        rep.get_data(as_text=True)


def test_an_error_leaves_the_time_field_empty(cooled, demand_csv):
    """The time field is empty by default, as its label says, also on a page showing an
    error (it used to be filled with the current time then)."""
    client = _app(cooled, demand_csv).test_client()
    bad = client.get("/planner?minutes=999")
    assert bad.status_code == 400
    assert '<input type="datetime-local" name="at" id="p-at" value="">' in \
        bad.get_data(as_text=True)


def test_the_cli_counts_only_fit_stations(runner, tmp_path, cooled, demand_csv):
    db = tmp_path / "cli.sqlite"
    from locator import StationStore

    store = StationStore(str(db), create=True)
    store.add_many(cooled.index.stations(), actor="pytest")
    store.dispose()
    base = ["coverage", "--db", str(db), "--demand", str(demand_csv), "--minutes", "15"]
    r = runner.invoke(main, [*base, "--weather", "heat", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert doc["coverage"]["stations"]["used"] == 2
    text = runner.invoke(main, [*base, "--weather", "heat"]).stdout
    line = next(x for x in text.splitlines() if x.startswith("Time: "))
    assert "2 stations counted fit for a heat day (air_conditioning, drinking_water)" in line
    assert "1 temporarily closed, 6 lacking those amenities" in line
    bad = runner.invoke(main, [*base, "--weather", "hot"])
    assert bad.exit_code == 2 and "hot" in bad.output and "Traceback" not in bad.output
    sug = runner.invoke(main, ["suggest", "--db", str(db), "--demand", str(demand_csv), "-n",
                               "1", "--weather", "heat", "--json"])
    assert sug.exit_code == 0, sug.output
    assert json.loads(sug.stdout.strip().splitlines()[-1])["stations"]["used"] == 2

"""The planner API's 24-hour profile and scenarios (#12): POST /api/v1/profile and
POST /api/v1/scenarios answer what the core computes on the same inputs, and bad input
is a 400 naming the field (never a failed job, never a 500)."""

from __future__ import annotations

import pytest

from locator.coverage import StraightLineEngine, read_demand, select_stations
from locator.coverage.planning import PlanningData
from locator.coverage.profile import coverage_profile
from locator.coverage.scenario import Scenario, apply_scenario, scenario_run
from locator.web import create_app
from locator.web.planner.api import openapi_paths


@pytest.fixture()
def client(registry, demand_csv):
    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none",
                      "LOCATOR_DEMAND": str(demand_csv)})
    return app.test_client()


def _post(client, path, body):
    return client.post(path, json={"wait": 30, **body})


# --------------------------------------------------------------------------- profile


@pytest.mark.parametrize("day", ["2026-12-07", "2026-12-06", "2026-10-01"])
def test_profile_equals_the_core(client, registry, demand_csv, districts, day):
    r = _post(client, "/api/v1/profile", {"day": day, "minutes": 10, "profile": "sanitation"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    want = coverage_profile(StraightLineEngine("walk"), registry.index.stations(),
                            read_demand(demand_csv), day, minutes=10, profile="sanitation")
    assert [h["city"]["share_demand"] for h in body["hours"]] == \
        [pytest.approx(s, abs=1e-6) for s in want.shares]
    assert [h["stations"]["counted"] for h in body["hours"]] == \
        [h.stations_counted for h in want.hours]
    # each hour is the honest run at HH:00
    eng, dem = StraightLineEngine("walk"), read_demand(demand_csv)
    from locator.coverage import coverage_report

    for h in (3, 12):
        st = select_stations(registry.index.stations(), at=f"{day}T{h:02d}:00")
        share = coverage_report(eng, st, dem, minutes=[10]).at(10).city.share_demand
        assert body["hours"][h]["city"]["share_demand"] == pytest.approx(share, abs=1e-6)
    assert body["day"]["date"] == day and body["illustrative"] is True
    assert body["demand_profile"]["name"] == "sanitation"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "day"),
    ({"day": "2026-02-30"}, "day"),
    ({"day": 20261207}, "day"),
    ({"day": "2026-12-07", "profile": [1.0] * 23}, "profile"),
    ({"day": "2026-12-07", "profile": [1.0] * 23 + [-1.0]}, "profile"),
    ({"day": "2026-12-07", "profile": "lunch"}, "profile"),
    ({"day": "2026-12-07", "rule": "sometimes"}, "rule"),
    ({"day": "2026-12-07", "at": "2026-12-07T12:00"}, "at"),
])
def test_profile_bad_input_names_the_field(client, body, field):
    r = client.post("/api/v1/profile", json=body)
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["invalid_params"][0]["name"] == field


# --------------------------------------------------------------------------- scenarios


def _scenarios(registry):
    ids = sorted(s.id for s in registry.index.stations())
    return [{"name": "add two", "add": [
                {"id": "N1", "type": "outdoor_worker", "lon": 117.30, "lat": 34.30},
                {"id": "N2", "type": "outdoor_worker", "lon": 117.17, "lat": 34.245}]},
            {"name": "close one", "close": [ids[0]]}]


def test_scenarios_equal_the_core_and_a_fresh_run(client, registry, demand_csv, districts):
    body = _scenarios(registry)
    r = _post(client, "/api/v1/scenarios", {"scenarios": body, "minutes": [5, 15],
                                            "units": True})
    assert r.status_code == 200, r.get_json()
    got = r.get_json()
    records = registry.index.stations()
    dem = read_demand(demand_csv)
    want = scenario_run(lambda: StraightLineEngine("walk"), records,
                        PlanningData(dem, None), [5, 15],
                        [Scenario.from_dict(s) for s in body]).to_dict(units=True)
    assert [s["name"] for s in got["scenarios"]] == ["add two", "close one"]
    for g, w in zip(got["scenarios"], want["scenarios"], strict=True):
        assert [t["city"]["scenario"]["share_demand"] for t in g["thresholds"]] == \
            [t["city"]["scenario"]["share_demand"] for t in w["thresholds"]]
        assert [t["gained_ids"] for t in g["thresholds"]] == \
            [t["gained_ids"] for t in w["thresholds"]]
    # and the scenario equals a fresh run on the modified stations
    from locator.coverage import coverage_report

    fresh = coverage_report(StraightLineEngine("walk"),
                            select_stations(apply_scenario(records,
                                                           Scenario.from_dict(body[0]))),
                            dem, minutes=[15]).at(15).city.share_demand
    assert got["scenarios"][0]["thresholds"][1]["city"]["scenario"]["share_demand"] == \
        pytest.approx(fresh, abs=1e-6)
    assert got["scenarios"][0]["stations"]["added"] == ["N1", "N2"]
    assert got["illustrative"] is True


@pytest.mark.parametrize(("scenario", "field"), [
    ({"name": "x", "close": ["NOPE"]}, "scenarios[0].close[0]"),
    ({"name": "x", "remove": ["NOPE"]}, "scenarios[0].remove[0]"),
    ({"name": "x", "add": [{"id": "N1", "type": "outdoor_worker", "lon": 200, "lat": 34}]},
     "scenarios[0].add[0].lon"),
    ({"name": "x", "chnage": {}}, "scenarios[0].chnage"),
])
def test_scenario_bad_input_names_the_field(client, scenario, field):
    r = client.post("/api/v1/scenarios", json={"scenarios": [scenario]})
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["invalid_params"][0]["name"] == field


def test_scenario_capacity_of_zero_is_refused(client, registry):
    sid = sorted(s.id for s in registry.index.stations())[0]
    r = client.post("/api/v1/scenarios", json={"scenarios": [
        {"name": "x", "change": {sid: {"capacity": 0}}}]})
    assert r.status_code == 400
    p = r.get_json()["invalid_params"][0]
    assert p["name"].startswith("scenarios[0].change") and "capacity" in p["name"]
    assert client.post("/api/v1/scenarios", json={}).status_code == 400


def test_the_new_endpoints_are_in_the_openapi_paths():
    paths = openapi_paths()
    assert paths["/api/v1/profile"]["post"]["requestBody"]["content"]["application/json"][
        "schema"]["required"] == ["day"]
    assert "scenarios" in paths["/api/v1/scenarios"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]


# --------------------------------------------------------------------------- target


def test_target_equals_the_core(client, registry, demand_csv):
    from locator.coverage.lscp import fewest_sites
    from locator.coverage.planning import uncovered_candidates
    from locator.coverage.siting import build_siting_problem
    from locator.web.planner.page import run_spec

    r = _post(client, "/api/v1/target", {"target": "95%", "minutes": 10, "method": "greedy"})
    assert r.status_code == 200, r.get_json()
    got = r.get_json()
    with client.application.app_context():
        spec = run_spec(mode="walk", engine="straight", at=None, types=None)
    dem = read_demand(demand_csv)
    cands = uncovered_candidates(spec, dem, 10, backup=False)
    want = fewest_sites(build_siting_problem(spec.engine, spec.stations, dem, cands, 10),
                        target=0.95, method="greedy")
    assert got["lscp"]["count"] == want.count == len(got["sites"]) > 0
    assert got["lscp"]["site_ids"] == list(want.site_ids)
    assert got["lscp"]["share"] >= 0.95
    assert all(s["name"] and s["district_name"] for s in got["sites"])
    assert got["illustrative"] is True


@pytest.mark.parametrize(("body", "field"), [
    ({"target": "120%"}, "target"),
    ({"target": 0}, "target"),
    ({"target": "lots"}, "target"),
    ({"method": "magic"}, "method"),
    ({"candidates_from": "sky"}, "candidates_from"),
])
def test_target_bad_input_names_the_field(client, body, field):
    r = client.post("/api/v1/target", json=body)
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["invalid_params"][0]["name"] == field


def test_an_infeasible_target_says_how_close_the_best_is(client):
    r = _post(client, "/api/v1/target", {"target": "100%", "candidates": [
        {"id": "A", "lon": 117.20, "lat": 34.27}]})
    assert r.status_code == 400
    p = r.get_json()["invalid_params"][0]
    assert p["name"] == "target" and "at most" in p["reason"] and "%" in p["reason"]

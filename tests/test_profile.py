"""The 24-hour coverage profile (issue #12): every hour equals a fresh coverage run on
the stations open then; workday, Sunday and public holiday; hourly demand and named
profiles; districts; night gaps; bad input named; the CLI."""

from __future__ import annotations

import csv
import json
from datetime import datetime

import numpy as np
import pytest

from locator import StationStore
from locator.cli.main import main
from locator.coverage import StraightLineEngine, coverage_report, read_demand, select_stations
from locator.coverage.planning import PlanningData, spec_of
from locator.coverage.profile import (
    DEMAND_PROFILES,
    coverage_profile,
    day_kind,
    demand_multipliers,
    profile_run,
)
from locator.errors import InvalidInput
from locator.stations.model import Station
from locator.time_util import zone

MONDAY, SUNDAY, NATIONAL_DAY = "2026-12-07", "2026-12-06", "2026-10-01"  # 10-01: Thursday

#: (id, lon, lat, hours, status): pairs side by side for cross-coverage, every kind of
#: hours the brief names, an open end (unknown after 18:00), sun times, PH off.
HAND = (
    ("A1", 117.1900, 34.2600, "24/7", "open"),
    ("A2", 117.1930, 34.2610, "Mo-Fr 09:00-17:00", "open"),
    ("B1", 117.2200, 34.2700, "06:00-22:00", "open"),
    ("B2", 117.2230, 34.2705, None, "open"),  # unknown hours: counted as open
    ("C1", 117.2500, 34.2800, "Mo-Su 08:00-20:00; PH off", "open"),
    ("C2", 117.2520, 34.2790, "Mo-Fr 08:30-17:30", "open"),
    ("D1", 117.2800, 34.2900, "Mo-Su 10:00-18:00+", "open"),
    ("D2", 117.2830, 34.2880, "sunrise-sunset", "open"),
    ("E1", 117.3000, 34.2500, "24/7", "temporarily_closed"),
    ("E2", 117.1700, 34.3000, "24/7", "closed"),
    ("F1", 117.1750, 34.2450, "Mo-Su 22:00-06:00", "open"),
    ("F2", 117.1780, 34.2460, "Sa,Su 09:00-17:00", "open"),
)


def _records(rows=HAND):
    return [Station(id=i, name=f"测试{i}", type="outdoor_worker", lon=x, lat=y,
                    opening_hours=h, status=s, source="sample",
                    district_adcode="320302" if x < 117.21 else "320303")
            for i, x, y, h, s in rows]


@pytest.fixture(scope="module")
def dem(demand_csv, districts):
    return read_demand(demand_csv, districts=districts)


@pytest.fixture(scope="module")
def engine():
    return StraightLineEngine("walk")


def _reference(engine, records, dem, districts, day, h, minutes=15.0):
    at = datetime.fromisoformat(f"{day}T{h:02d}:00").replace(tzinfo=zone())
    st = select_stations(records, at=at)
    return st, coverage_report(engine, st, dem, minutes=[minutes], districts=districts
                               ).at(minutes)


@pytest.mark.parametrize("day", [MONDAY, SUNDAY, NATIONAL_DAY],
                         ids=["workday", "sunday", "public-holiday"])
def test_every_hour_equals_a_fresh_coverage_run(engine, dem, districts, day):
    records = _records()
    prof = coverage_profile(engine, records, dem, day, districts=districts)
    assert len(prof.hours) == 24
    for h in range(24):
        st, ref = _reference(engine, records, dem, districts, day, h)
        got = prof.hours[h]
        assert got.stations_counted == len(st), h
        assert got.stations_unknown == st.unknown_hours_counted_open, h
        assert got.stations_not_open == st.excluded.get("not_open_at", 0), h
        assert got.city.units_covered == ref.city.units_covered, h
        assert got.city.share_demand == pytest.approx(ref.city.share_demand, rel=1e-12)
        assert got.city.share_cross == pytest.approx(ref.city.share_cross, rel=1e-12, abs=0)
        np.testing.assert_allclose(got.city.demand_by_reach, ref.city.demand_by_reach,
                                   rtol=1e-12)
        assert got.city.area_covered_m2 == pytest.approx(ref.city.area_covered_m2)
        assert [d.adcode for d in got.districts] == [d.adcode for d in ref.districts]
        for a, b in zip(got.districts, ref.districts, strict=True):
            assert a.name == b.name
            assert a.figures.units_covered == b.figures.units_covered, (h, a.adcode)
            np.testing.assert_allclose(a.figures.demand_by_reach, b.figures.demand_by_reach,
                                       rtol=1e-12, atol=1e-9)


def test_day_kinds_change_the_stations_that_count(engine, dem, districts):
    records = _records()
    mon, sun, ph = (coverage_profile(engine, records, dem, d, districts=districts)
                    for d in (MONDAY, SUNDAY, NATIONAL_DAY))
    assert (mon.day["kind"], sun.day["kind"], ph.day["kind"]) == ("workday", "weekend",
                                                                  "holiday")
    assert (mon.day["label"], sun.day["label"], ph.day["label"]) == ("工作日", "周末", "节假日")
    assert ph.day["holiday"] == "国庆节" and mon.day["holidays_known"]
    # 10:00: Monday has A2, C2 (weekdays) and C1; Sunday F2 instead of A2/C2; on the
    # holiday (a Thursday) C1 is off (PH off) but the weekday-only ones are not.
    assert mon.hours[10].stations_counted == 8   # A1 A2 B1 B2 C1 C2 D1 D2
    assert sun.hours[10].stations_counted == 7   # A1 B1 B2 C1 D1 D2 F2
    assert ph.hours[10].stations_counted == 7    # A1 A2 B1 B2 C2 D1 D2
    # 03:00: 24/7, unknown hours, the night station, and D1, whose open end after 18:00
    # stays "unknown" for 10 hours (as opening_hours.js); D2 is closed before sunrise.
    assert mon.hours[3].stations_counted == 4 and mon.hours[3].stations_unknown == 2
    # The all-day exclusions are reported: E1 not open (status), E2 closed.
    assert mon.stations["excluded_all_day"] == {"closed": 1, "status": 1}
    assert mon.shares[10] > mon.shares[3]
    assert day_kind(datetime(2031, 5, 1).date())["holidays_known"] is False
    assert "not in the table" in day_kind(datetime(2031, 5, 1).date())["note"]


def test_open_end_counts_as_unknown_hours(engine, dem):
    prof = coverage_profile(engine, _records(), dem, MONDAY)
    # D1 "10:00-18:00+": open 10-17, unknown from 18:00 (counted as open, said so).
    assert prof.hours[12].stations_unknown == 1  # B2 only
    assert prof.hours[19].stations_unknown == 2  # B2 and D1


def test_hourly_demand_weights_each_hour(engine, dem, districts):
    records = _records()
    rng = np.random.default_rng(7)
    hourly = rng.integers(0, 20, (len(dem), 24)).astype(float)
    prof = coverage_profile(engine, records, dem, MONDAY, districts=districts,
                            hourly_demand=hourly)
    assert prof.demand_profile["name"] == "hourly"
    for h in (0, 5, 12, 18):
        st, _ = _reference(engine, records, dem, districts, MONDAY, h)
        dem_h = type(dem)(dem.ids, dem.lon, dem.lat, hourly[:, h], dem.area_m2, dem.district)
        ref = coverage_report(engine, st, dem_h, minutes=[15], districts=districts).at(15)
        assert prof.hours[h].city.demand_total == pytest.approx(hourly[:, h].sum())
        assert prof.hours[h].city.share_demand == pytest.approx(ref.city.share_demand,
                                                                rel=1e-12)
        assert prof.hours[h].city.share_cross == pytest.approx(ref.city.share_cross,
                                                               rel=1e-12)
        for a, b in zip(prof.hours[h].districts, ref.districts, strict=True):
            assert a.figures.demand_covered == pytest.approx(b.figures.demand_covered)
    tot = hourly.sum()
    cov = sum(prof.hours[h].city.demand_covered for h in range(24))
    assert prof.day_share == pytest.approx(cov / tot)


def test_named_profile_weighs_the_hours_not_the_shares(engine, dem):
    records = _records()
    flat = coverage_profile(engine, records, dem, MONDAY)
    san = coverage_profile(engine, records, dem, MONDAY, profile="sanitation")
    m = np.array(DEMAND_PROFILES["sanitation"])
    assert san.shares == pytest.approx(flat.shares)  # a multiplier scales every unit alike
    for h in range(24):
        assert san.hours[h].city.demand_total == pytest.approx(
            m[h] * dem.weight.sum())
        assert san.hours[h].multiplier == m[h]
    s = np.array(flat.shares)
    assert san.day_share == pytest.approx((m * s).sum() / m.sum())
    assert flat.day_share == pytest.approx(s.mean())
    assert "illustrative" in san.demand_profile["notice"]
    assert "notice" not in flat.demand_profile
    assert max(DEMAND_PROFILES["delivery"][11:13]) == 1.0


def test_whole_hour_rule_is_stricter(engine, dem):
    records = _records()
    start = coverage_profile(engine, records, dem, MONDAY)
    whole = coverage_profile(engine, records, dem, MONDAY, rule="whole_hour")
    # C2 "Mo-Fr 08:30-17:30": counts at 17:00 by its start, not for the whole hour; the
    # 08:00 hour it misses by either rule (closed at 08:00).
    assert start.hours[17].stations_counted - whole.hours[17].stations_counted >= 1
    assert whole.rule == "whole_hour" and whole.to_dict()["evaluated"].startswith("open at")
    for h in range(24):
        assert whole.hours[h].stations_counted <= start.hours[h].stations_counted


def test_night_gaps_name_the_units_lost_at_night(engine, dem, districts):
    records = _records()
    prof = coverage_profile(engine, records, dem, MONDAY, districts=districts)
    _, noon = _reference(engine, records, dem, districts, MONDAY, 12)
    cov = {}
    for h in (2, 3, 4, 12):
        st = select_stations(records, at=datetime.fromisoformat(f"{MONDAY}T{h:02d}:00")
                             .replace(tzinfo=zone()))
        cov[h] = engine.reach_counts(st.lon, st.lat, dem.lon, dem.lat, 15) > 0
    want = cov[12] & ~(cov[2] & cov[3] & cov[4])
    assert want.any()
    np.testing.assert_array_equal(prof.night.lost, want)
    assert prof.night.demand_lost == pytest.approx(dem.weight[want].sum())
    shares = np.array(prof.shares)
    assert prof.night.lowest_hours[0] == int(np.argmin(shares))
    # every hour tied with the third lowest is listed, in order of share then hour
    third = np.sort(shares)[2]
    assert list(prof.night.lowest_hours) == [
        int(h) for h in np.argsort(shares, kind="stable") if shares[h] <= third + 1e-12]
    doc = prof.to_dict(unit_ids=True)
    assert doc["night_gaps"]["ids"] == [str(i) for i in dem.ids[want]]
    assert sum(d["units_lost"] for d in doc["night_gaps"]["districts"]) == want.sum()
    assert prof.night_lost_demand(dem) is not None
    assert len(prof.night_lost_demand(dem)) == want.sum()
    up = prof.uncovered_hours
    assert up.shape == (len(dem),) and up.max() <= 24
    assert np.all(up[want] >= 1)
    assert noon.city.units_covered == int(cov[12].sum())


def test_rows_and_dict(engine, dem, districts):
    prof = coverage_profile(engine, _records(), dem, MONDAY, districts=districts)
    rows = prof.rows()
    assert len(rows) == 24 * (1 + len(prof.hours[0].districts))
    first = rows[0]
    assert first["hour"] == "00:00" and first["scope"] == "city"
    assert first["notice"] == "illustrative"
    noon = [r for r in rows if r["hour"] == "12:00" and r["scope"] == "district"]
    assert {r["adcode"] for r in noon} >= {"320302", "320303"}
    assert sum(r["stations_counted"] for r in noon) == prof.hours[12].stations_counted
    doc = json.loads(json.dumps(prof.to_dict()))
    assert len(doc["hours"]) == 24 and doc["day"]["kind"] == "workday"
    assert doc["hours"][12]["city"]["share_demand"] == pytest.approx(prof.shares[12], abs=1e-6)


def test_profile_run_follows_the_planning_service(engine, dem, districts):
    records = _records()
    data = PlanningData(dem, districts)
    spec = spec_of(lambda: engine, records, at=None)
    doc = profile_run(spec, data, 15, MONDAY, profile="delivery")
    assert doc["illustrative"] is True and doc["sample_stations"] is True
    assert "notice" in doc and "profile_notice" in doc
    assert doc["stations"]["excluded_all_day"] == {"closed": 1, "status": 1}
    direct = coverage_profile(engine, records, dem, MONDAY, districts=districts,
                              profile="delivery")
    assert [h["city"]["share_demand"] for h in doc["hours"]] == pytest.approx(
        direct.shares, abs=1e-6)
    doc2 = profile_run(records, data, 15, MONDAY, engine=engine)
    assert doc2["hours"][10]["stations"]["counted"] == 8
    with pytest.raises(InvalidInput) as e:
        profile_run(spec_of(lambda: engine, records, at="2026-12-07T10:00"), data, 15, MONDAY)
    assert e.value.field == "at"


@pytest.mark.parametrize("kwargs, fld, text", [
    ({"profile": [1.0] * 23}, "profile", "23 values"),
    ({"profile": [1.0] * 23 + [-1.0]}, "profile", "hour 23:00"),
    ({"profile": [1.0] * 23 + [float("nan")]}, "profile", "finite"),
    ({"profile": [0.0] * 24}, "profile", "every multiplier is 0"),
    ({"profile": "night-shift"}, "profile", "sanitation"),
    ({"hourly_demand": np.ones((3, 24))}, "hourly_demand", "24 weights per demand unit"),
    ({"day": "2026-13-01"}, "day", "YYYY-MM-DD"),
    ({"day": "tomorrow"}, "day", "not a date"),
    ({"day": "1900-01-01"}, "day", "out of range"),
    ({"minutes": 0}, "minutes", "out of range"),
    ({"rule": "midpoint"}, "rule", "whole_hour"),
], ids=["23-values", "negative", "nan", "all-zero", "unknown-name", "hourly-shape",
        "bad-month", "not-a-date", "year", "minutes", "rule"])
def test_bad_input_names_the_field(engine, dem, kwargs, fld, text):
    kw = {"day": MONDAY, **kwargs}
    with pytest.raises(InvalidInput, match=text) as e:
        coverage_profile(engine, _records(), dem, kw.pop("day"), **kw)
    assert e.value.field == fld


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(InvalidInput) as e:
        demand_multipliers("rush")
    assert all(name in str(e.value) for name in DEMAND_PROFILES)


def test_no_station_at_all_is_uncovered_every_hour(engine, dem):
    prof = coverage_profile(engine, [], dem, MONDAY)
    assert all(s == 0 for s in prof.shares) and prof.night.units_lost == 0
    assert np.all(prof.uncovered_hours == 24)


# --------------------------------------------------------------------------- CLI


@pytest.fixture()
def db(tmp_path):
    path = tmp_path / "profile.sqlite"
    store = StationStore(str(path), create=True)
    store.add_many(_records(), actor="pytest")
    store.dispose()
    return path


def test_cli_profile_table_and_csv(runner, db, demand_csv, districts, tmp_path, engine):
    out = tmp_path / "profile.csv"
    r = runner.invoke(main, ["profile", "--db", str(db), "--demand", str(demand_csv),
                             "--day", MONDAY, "--profile", "sanitation", "--out", str(out)])
    assert r.exit_code == 0, r.output
    text = r.stdout
    assert "2026-12-07" in text and "工作日" in text and "sanitation" in text
    assert "NOTE:" in text and "Lowest hours:" in text
    lines = [ln for ln in text.splitlines() if ln[:3] in {f"{h:02d}:" for h in range(24)}]
    assert len(lines) == 24
    dem = read_demand(demand_csv, districts=districts)
    st, ref = _reference(engine, StationStore(str(db)).all(), dem, districts, MONDAY, 3)
    assert f"{100 * ref.city.share_demand:.1f}%" in lines[3]
    assert f"{len(st):>3}" in lines[3]
    with open(out, encoding="utf-8-sig", newline="") as f:
        rows = [row for row in csv.DictReader(f)]
    assert len(rows) % 24 == 0 and len(rows) >= 24 * (1 + len(districts))
    assert rows[0]["hour"] == "00:00" and rows[0]["scope"] == "city"
    assert all(row["notice"].startswith("ILLUSTRATIVE") for row in rows)
    city3 = next(row for row in rows if row["hour"] == "03:00" and row["scope"] == "city")
    assert float(city3["share_demand"]) == pytest.approx(ref.city.share_demand, abs=1e-6)
    assert int(city3["stations_counted"]) == len(st)


def test_cli_profile_json_and_hourly_file(runner, db, demand_csv, tmp_path, districts):
    dem = read_demand(demand_csv, districts=districts)
    hourly = tmp_path / "hourly.csv"
    with open(hourly, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", *(f"h{h:02d}" for h in range(24))])
        for i in dem.ids:
            w.writerow([i, *(1 if 4 <= h < 8 else 0 for h in range(24))])
    r = runner.invoke(main, ["profile", "--db", str(db), "--demand", str(demand_csv),
                             "--day", SUNDAY, "--hourly-demand", str(hourly), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert doc["day"]["kind"] == "weekend" and doc["demand_profile"]["name"] == "hourly"
    assert doc["hours"][0]["city"]["share_demand"] is None  # no demand at 00:00
    assert doc["illustrative"] is True
    assert doc["day_share_demand"] == pytest.approx(
        np.mean([doc["hours"][h]["city"]["share_demand"] for h in range(4, 8)]), abs=1e-5)


@pytest.mark.parametrize("args, text", [
    (["--day", "2026-02-30"], "day"),
    (["--day", MONDAY, "--profile", "rush"], "profile"),
    (["--day", MONDAY, "--profile", "1,2,3"], "profile"),
    (["--day", MONDAY, "--out", "p.xlsx"], "--out"),
    (["--day", MONDAY, "--profile", "delivery", "--hourly-demand", "x.csv"], "profile"),
], ids=["date", "name", "three-values", "out-format", "both"])
def test_cli_bad_input_is_one_line(runner, db, demand_csv, args, text):
    r = runner.invoke(main, ["profile", "--db", str(db), "--demand", str(demand_csv), *args])
    assert r.exit_code == 2, r.output
    assert text in r.output and "Traceback" not in r.output

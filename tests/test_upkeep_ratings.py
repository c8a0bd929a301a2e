"""Star-rating checklists (locator.upkeep.ratings): the checklist and suggestion of a
full-kit station, a bare one, a mother-baby room and a driver's home; each penalty lowering
the suggestion by its documented amount (open reports stored in ``rider_reports``, overdue
verification, the "reported closed" flag); and setting the official level, a new version
plus its audit row, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from locator.errors import Conflict, InvalidInput
from locator.staff.errors import Forbidden
from locator.stations.model import Station
from locator.store import StationStore
from locator.store.accounts import AccountStore, User
from locator.store.registry import Registry
from locator.store.upkeep import REPORTS, ensure_schema
from locator.upkeep import ratings
from locator.upkeep.ratings import MET, MISSING, PENALTY_POINTS, UNKNOWN, assess

TODAY = date(2026, 7, 15)
NOW = datetime(2026, 7, 15, 4, 0, tzinfo=timezone.utc)
FULL_KIT = ("seating", "drinking_water", "microwave", "air_conditioning", "fridge",
            "phone_charging", "first_aid", "toilet", "aed")
TEN_MINISTRY = ("baby_changing", "nursing_chair", "hot_water_basin", "lockable_door")


def _st(sid: str = "R1", *, type: str = "outdoor_worker", amenities=FULL_KIT,
        hours: str | None = "24/7", access: str = "public", verified=TODAY, **kw) -> Station:
    return Station(id=sid, name=f"评级测试{sid}", type=type, lon=117.23, lat=34.24,
                   district_adcode="320303", district_name="云龙区",
                   amenities=tuple(amenities), opening_hours=hours, access=access,
                   verified_date=verified, **kw)


@pytest.fixture()
def store(db_url):
    """On SQLite and PostgreSQL (tests/conftest.py, ``BOTH_BACKENDS``)."""
    s = StationStore(db_url, create=True)
    yield s
    s.dispose()


def _states(r: ratings.Rating) -> dict[str, str]:
    return {i.item.key: i.state for i in r.items}


# ---------------------------------------------------------------------- checklists


def test_full_kit_outdoor_station_reaches_five_stars_with_the_on_site_items_to_confirm():
    r = assess(_st(), today=TODAY, interval_days=90)
    assert (r.checklist_level, r.suggested_level, r.penalties) == (5, 5, ())
    assert r.next_star is None
    # sizes and capacity are not in the record: unknown, not failed, listed to confirm
    assert {i.item.key for i in r.to_confirm} == {"area_5", "indoor", "area_30",
                                                  "capacity_20"}
    assert r.confirmed_level == 1  # only stars 0-1 are met from the record alone
    assert all(s == MET for k, s in _states(r).items()
               if k not in {"area_5", "indoor", "area_30", "capacity_20"})
    assert [len(r.items_at(n)) for n in range(1, 6)] == [4, 3, 3, 2, 3]
    aed = next(i for i in r.items if i.item.key == "aed")
    assert aed.source.key == "fuzhou" and aed.item.level == 5
    assert r.explain().endswith("建议五星级。")


def test_bare_outdoor_station_is_below_one_star_and_says_exactly_what_is_missing():
    r = assess(_st(amenities=(), hours=None), today=TODAY, interval_days=90)
    assert (r.checklist_level, r.confirmed_level, r.suggested_level) == (0, 0, 0)
    assert r.next_star is not None and r.next_star.level == 1
    assert [(i.item.key, i.state) for i in r.next_star.items] == [
        ("seating", MISSING), ("drinking_water", MISSING), ("phone_charging", MISSING),
        ("hours_stated", MISSING)]
    assert r.next_star.penalties == ()
    assert "手机充电（缺少）" in r.next_star.summary("zh")
    assert "Phone charging (missing)" in r.next_star.summary("en")


@pytest.mark.parametrize(("amenities", "access", "level", "next_missing"), [
    (("seating", "drinking_water", "phone_charging"), "public", 1, {"microwave", "first_aid"}),
    (("seating", "drinking_water", "phone_charging", "microwave", "first_aid"), "public", 2,
     {"heating_cooling", "fridge"}),
    (FULL_KIT, "qr_entry", 3, {"entry"}),
    (tuple(a for a in FULL_KIT if a != "aed"), "public", 4, {"aed"}),
], ids=["base-only", "full-双15-kit", "qr-entry", "no-aed"])
def test_each_outdoor_star_needs_its_items(amenities, access, level, next_missing):
    r = assess(_st(amenities=amenities, access=access), today=TODAY, interval_days=90)
    assert r.suggested_level == level
    assert r.next_star is not None and r.next_star.level == level + 1
    assert {i.item.key for i in r.next_star.items if i.state == MISSING} == next_missing


def test_heating_or_cooling_is_met_by_either_appliance():
    kit = ("seating", "drinking_water", "phone_charging", "microwave", "first_aid", "fridge")
    for extra, state in ((("heating",), MET), (("air_conditioning",), MET), ((), MISSING)):
        r = assess(_st(amenities=kit + extra), today=TODAY, interval_days=90)
        assert _states(r)["heating_cooling"] == state


def test_mother_baby_room_with_the_ten_ministry_fittings_reaches_three_stars():
    r = assess(_st(type="mother_baby", amenities=TEN_MINISTRY, hours="Mo-Su 09:00-21:00"),
               today=TODAY, interval_days=180)
    assert (r.checklist_level, r.suggested_level) == (3, 3)
    states = _states(r)
    assert {k for k, s in states.items() if s == UNKNOWN} == {"table", "socket", "bin",
                                                              "area_10", "baby_bed"}
    assert {i.item.source for i in r.items if i.item.level <= 3} == {"mother_baby_2016",
                                                                    "project"}
    assert r.next_star is not None and r.next_star.level == 4
    assert {i.item.key for i in r.next_star.items} == {"drinking_water", "fridge"}
    # without the lockable door it is not even one star
    bare = assess(_st(type="mother_baby", amenities=TEN_MINISTRY[:3]), today=TODAY,
                  interval_days=180)
    assert bare.suggested_level == 0
    assert [i.item.key for i in bare.next_star.items] == ["lockable_door"]


@pytest.mark.parametrize(("hours", "state"), [("24/7", MET), ("Mo-Su 00:00-24:00", MET),
                                              ("Mo-Fr 08:00-20:00", MISSING), (None, UNKNOWN)],
                         ids=["24/7", "equivalent", "daytime", "unknown"])
def test_drivers_home_open_24_hours_reads_the_opening_hours(hours, state):
    r = assess(_st(type="driver_home", amenities=("truck_parking", "toilet", "shower"),
                   hours=hours), today=TODAY, interval_days=180)
    states = _states(r)
    assert states["open_24h"] == state
    # the bays and showers are listed: their counts need an on-site answer
    assert states["bays_20"] == states["showers_2"] == UNKNOWN
    assert r.checklist_level == (0 if state == MISSING else 1)


def test_drivers_home_without_parking_misses_the_bays_too():
    r = assess(_st(type="driver_home", amenities=("toilet",)), today=TODAY, interval_days=180)
    assert _states(r)["truck_parking"] == _states(r)["bays_20"] == MISSING
    assert r.suggested_level == 0


def test_a_type_without_a_checklist_has_no_suggestion():
    r = assess(_st(type="legal_aid"), today=TODAY, interval_days=365)
    assert r.items == () and r.suggested_level is None and r.next_star is None
    assert not r.official_above_suggestion
    assert "暂无星级清单" in r.explain()


# ---------------------------------------------------------------------- penalties


@pytest.mark.parametrize(("days", "key", "points"), [
    (90, None, 0), (91, "verification_due", 1), (180, "verification_due", 1),
    (181, "verification_stale", 2), (None, "verification_stale", 2),
], ids=["on-time", "just-due", "due", "stale", "never"])
def test_overdue_verification_lowers_the_suggestion(days, key, points):
    verified = None if days is None else TODAY - timedelta(days=days)
    r = assess(_st(verified=verified), today=TODAY, interval_days=90)
    assert [p.key for p in r.penalties] == ([key] if key else [])
    assert r.suggested_level == 5 - points
    if key:
        assert points == PENALTY_POINTS[key]
        assert r.next_star.penalties == r.penalties and r.next_star.items == ()


def test_the_reported_closed_flag_lowers_the_suggestion_by_two():
    r = assess(_st(reported_closed_at=NOW), today=TODAY, interval_days=90)
    assert [(p.key, p.points) for p in r.penalties] == [("reported_closed", 2)]
    assert r.suggested_level == 3
    assert "骑手反馈关闭" in r.penalties[0].reason("zh")


def test_penalties_add_up_and_stop_at_zero():
    r = assess(_st(amenities=("seating", "drinking_water", "phone_charging"),
                   reported_closed_at=NOW, verified=None),
               open_reports={"locked": 3, "amenity": 1}, today=TODAY, interval_days=90)
    assert r.penalty_points == 2 + 1 + 2 + 2 and r.checklist_level == 1
    assert r.suggested_level == 0
    assert r.next_star.level == 1 and r.next_star.items == ()  # star 1's items are met


def _report(conn, sid: str, kind: str, status: str = "new", n: int = 0) -> None:
    conn.execute(REPORTS.insert().values(
        ref=f"R{sid}{kind[:3]}{status[:3]}{n}", station_id=sid, kind=kind,
        client_hash=f"client{n}", lang="zh", status=status, created_at=NOW, updated_at=NOW))


def test_open_reports_lower_the_suggestion_by_kind(store):
    engine = store.engine
    ensure_schema(engine)
    with engine.begin() as conn:
        for n in range(4):  # a flood from several clients counts once
            _report(conn, "R1", "locked", n=n)
        _report(conn, "R2", "wrong_hours")
        _report(conn, "R3", "amenity")
        _report(conn, "R3", "other", n=1)
        _report(conn, "R4", "locked", "resolved")
        _report(conn, "R4", "locked", "dismissed", n=1)
        _report(conn, "R5", "not_here", "under_review")
    counts = ratings.open_report_counts(engine)
    assert counts == {"R1": {"locked": 4}, "R2": {"wrong_hours": 1},
                      "R3": {"amenity": 1, "other": 1}, "R5": {"not_here": 1}}
    assert ratings.open_report_counts(engine, ["R2", "R4"]) == {"R2": {"wrong_hours": 1}}

    def suggested(sid: str) -> tuple[int | None, list[str]]:
        r = assess(_st(sid), open_reports=counts.get(sid), today=TODAY, interval_days=90)
        return r.suggested_level, [p.key for p in r.penalties]

    # "locked" and "wrong hours" mean not open at the stated hours: they weigh most
    assert suggested("R1") == (3, ["not_open_reports"])
    assert suggested("R2") == (3, ["not_open_reports"])
    assert suggested("R3") == (4, ["other_reports"])
    assert suggested("R4") == (5, [])  # resolved and dismissed reports do not count
    assert suggested("R5") == (4, ["other_reports"])


# ---------------------------------------------------------------------- the official level


@pytest.mark.parametrize(("value", "level"), [("", None), (" 3 ", 3), ("5", 5), (None, None)])
def test_parse_level(value, level):
    assert ratings.parse_level(value) == level


@pytest.mark.parametrize("value", ["0", "6", "3.5", "three", "-1", "★★★"])
def test_bad_levels_name_the_field_in_chinese_and_english(value):
    with pytest.raises(InvalidInput, match="星级") as e:
        ratings.parse_level(value)
    assert e.value.field == "star_level"
    assert "1 to 5" in e.value.message_in("en")


def test_a_reason_is_required_and_bounded():
    assert ratings.check_reason("  现场检查\n 设施齐全 ") == "现场检查 设施齐全"
    for bad, match in (("   ", "必填"), ("长" * 501, "最多 500")):
        with pytest.raises(InvalidInput, match=match) as e:
            ratings.check_reason(bad)
        assert e.value.field == "reason"


def _user(name: str, role: str, scope: str) -> User:
    return User(id=1, name=name, display_name="", role=role, scope=scope, disabled=False,
                created_at=NOW, changed_at=NOW, password_changed_at=NOW)


def test_setting_the_official_level_writes_a_version_and_its_audit_row(store):
    reg = Registry(store)
    try:
        st = reg.add(_st("RATE1", verified=TODAY - timedelta(days=100)), actor="pytest")
        reviewer = _user("yunlong_rev", "reviewer", "320303")
        change = ratings.set_official_level(
            reg, reviewer, "RATE1", "4", reason="2026-07 现场检查：设施齐全",
            expected_version=st.version, client="203.0.113.9", today=TODAY,
            intervals={"outdoor_worker": 90})
        assert change.changed and (change.old_level, change.new_level) == (None, 4)
        assert change.suggested_level == 4  # five stars, one off for the overdue check
        assert change.station.version == st.version + 1
        assert store.get("RATE1").star_level == 4 and reg.index.get("RATE1").star_level == 4
        assert store.history("RATE1", limit=1)[0]["after"]["star_level"] == 4
        ev = AccountStore(store.engine).audit_events(action="station.rate")
        assert len(ev) == 1 and ev[0].target == "station:RATE1" and ev[0].actor == "yunlong_rev"
        assert ev[0].client == "203.0.113.9"
        assert ev[0].detail == {"version": st.version + 1, "old_level": None, "new_level": 4,
                                "suggested_level": 4, "checklist_level": 5,
                                "penalties": ["verification_due"],
                                "reason": "2026-07 现场检查：设施齐全"}

        # confirming the same level is audited, without a new version
        again = ratings.set_official_level(reg, reviewer, "RATE1", "4", reason="年度复核",
                                           expected_version=change.station.version,
                                           today=TODAY)
        assert not again.changed and store.get("RATE1").version == change.station.version
        assert len(AccountStore(store.engine).audit_events(action="station.rate")) == 2

        # a stale version is a conflict; nothing is written
        with pytest.raises(Conflict):
            ratings.set_official_level(reg, reviewer, "RATE1", "", reason="撤销",
                                       expected_version=st.version, today=TODAY)
        # outside the scope, or below reviewer: refused before anything else
        for user in (_user("quanshan_rev", "reviewer", "320311"),
                     _user("yun_ed", "editor", "320303")):
            with pytest.raises(Forbidden):
                ratings.set_official_level(reg, user, "RATE1", "9", reason="",
                                           expected_version=None, today=TODAY)
        # back to "not rated"
        cleared = ratings.set_official_level(reg, reviewer, "RATE1", "", reason="撤销评定",
                                             expected_version=None, today=TODAY)
        assert cleared.changed and store.get("RATE1").star_level is None
        assert len(AccountStore(store.engine).audit_events(action="station.rate")) == 3
    finally:
        reg.stop_following()

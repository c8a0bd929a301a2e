"""Heat and cold alerts, the core and the CLI: levels, the active window, districts,
rights and scope, audit rows, field errors, and `locator alert add|list|end`; on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from staff_support import Clock

from locator.alerts import (
    AMENITIES,
    LEVELS,
    AlertConflict,
    AlertInvalid,
    AlertNotFound,
    AlertService,
)
from locator.cli.main import main
from locator.staff.errors import Forbidden
from locator.store import StationStore
from locator.store.accounts import User

UTC = timezone.utc


def _user(name: str, role: str, scope: str, *, disabled: bool = False) -> User:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    return User(id=1, name=name, display_name="", role=role, scope=scope, disabled=disabled,
                created_at=t, changed_at=t, password_changed_at=t)


ADMIN = _user("admin1", "admin", "")
CITY = _user("city", "editor", "320300")
YUNLONG = _user("yun", "editor", "320303")
VIEWER = _user("look", "viewer", "320300")


@pytest.fixture()
def store(db_url):
    s = StationStore(db_url, create=True)
    yield s
    s.dispose()


@pytest.fixture()
def clock():
    return Clock()  # 2026-07-15 04:30 UTC = 12:30 in Xuzhou


@pytest.fixture()
def svc(store, clock):
    return AlertService.for_store(store, clock=clock)


def heat(**kw):
    base = {"kind": "heat", "level": "orange", "districts": ["320303"],
            "starts_at": "2026-07-15T10:00", "ends_at": "2026-07-16T20:00",
            "message_zh": "高温橙色预警：午后避免长时间户外骑行", "message_en": "Orange heat alert"}
    return {**base, **kw}


def audit_rows(store, action_prefix="alert."):
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT actor, action, target, result FROM audit_log WHERE action LIKE :p "
            "ORDER BY id"), {"p": action_prefix + "%"}).all()
    return [tuple(r) for r in rows]


# ------------------------------------------------------------------ levels


def test_levels_are_chinas_signals_and_amenities_match_the_kind():
    heat_levels = [(lv.code, lv.threshold_c) for lv in LEVELS["heat"]]
    assert heat_levels == [("yellow", 35.0), ("orange", 37.0), ("red", 40.0)]
    assert [lv.code for lv in LEVELS["cold"]] == ["blue", "yellow", "orange", "red"]
    assert AMENITIES == {"heat": ("air_conditioning", "drinking_water"), "cold": ("heating",)}
    from locator.stations.vocab import AMENITIES as VOCAB

    for codes in AMENITIES.values():
        for c in codes:
            assert VOCAB.parse(c) == c  # real amenity codes the nearest filter accepts
    red = LEVELS["heat"][2]
    assert "停止" in red.advice_zh and "stops" in red.advice_en


# ------------------------------------------------------------------ window and districts


def test_declare_stores_utc_and_shows_beijing_time(svc, store):
    a = svc.declare(heat(), actor="cli:test")
    assert a.id == 1 and a.version == 1
    assert a.starts_at == datetime(2026, 7, 15, 2, 0, tzinfo=UTC)  # 10:00 Beijing
    assert a.ends_at == datetime(2026, 7, 16, 12, 0, tzinfo=UTC)
    d = a.to_dict("zh", at=datetime(2026, 7, 15, 4, 30, tzinfo=UTC))
    assert d["starts_at"] == "2026-07-15T10:00+08:00" and d["starts_at_utc"] == \
        "2026-07-15T02:00:00Z"
    assert d["level_label"] == "高温橙色预警" and d["state"] == "active"
    assert d["districts"] == [{"adcode": "320303", "name": "云龙区"}]
    assert d["amenities"] == ["air_conditioning", "drinking_water"]
    assert a.to_dict("en")["message"] == "Orange heat alert"
    with store.engine.connect() as conn:
        raw = conn.execute(sa.text("SELECT starts_at FROM weather_alerts")).scalar_one()
    assert str(raw).startswith("2026-07-15 02:00")  # stored in UTC


def test_active_window_and_district_matching(svc, clock):
    yun = svc.declare(heat(), actor="t")
    city = svc.declare(heat(level="red", districts="320300", starts_at="2026-07-15T14:00",
                            ends_at="2026-07-15T18:00"), actor="t")
    at = clock.now  # 12:30 Beijing: only the Yunlong one has started
    assert [a.id for a in svc.active(at=at)] == [yun.id]
    assert svc.active(at=at, adcode="320311") == []  # Quanshan: not covered
    later = datetime(2026, 7, 15, 7, 0, tzinfo=UTC)  # 15:00 Beijing
    # most severe first: the city-wide red before the Yunlong orange
    assert [a.id for a in svc.active(at=later, adcode="320303")] == [city.id, yun.id]
    assert [a.id for a in svc.active(at=later, adcode="320311")] == [city.id]
    assert [a.id for a in svc.active(at=later, area="320300")] == [city.id, yun.id]
    # the end is exclusive, the start inclusive
    assert svc.active(at=datetime(2026, 7, 15, 10, 0, tzinfo=UTC), adcode="320311") == []
    assert [a.id for a in svc.active(at=datetime(2026, 7, 15, 6, 0, tzinfo=UTC),
                                     adcode="320311")] == [city.id]
    assert svc.listing(state="scheduled", at=at)[0].id == city.id


def test_end_stops_an_alert_and_cancels_a_scheduled_one(svc, clock, store):
    a = svc.declare(heat(), actor="cli:t")
    b = svc.declare(heat(starts_at="2026-07-16T08:00"), actor="cli:t")
    clock.advance(600)
    ended = svc.end(a.id, actor="cli:t")
    assert ended.ended_at == clock.now and ended.until == clock.now
    assert ended.state(clock.now) == "ended" and svc.active(at=clock.now) == []
    assert svc.active(at=clock.now - timedelta(minutes=5))[0].id == a.id  # history kept
    svc.end(b.id, actor="cli:t")
    assert svc.active(at=datetime(2026, 7, 16, 1, 0, tzinfo=UTC)) == []
    with pytest.raises(AlertConflict, match="已经结束"):
        svc.end(a.id, actor="cli:t")
    with pytest.raises(AlertConflict, match="cannot be changed"):
        svc.update(a.id, {"level": "red"}, actor="cli:t")
    assert [r[1] for r in audit_rows(store)] == ["alert.create", "alert.create",
                                                 "alert.end", "alert.end"]


def test_update_changes_fields_and_checks_the_version(svc, store):
    a = svc.declare(heat(), actor="t")
    b = svc.update(a.id, {"level": "red", "districts": ["320303", "320302"]}, actor="t")
    assert (b.level, b.districts, b.version) == ("red", ("320302", "320303"), 2)
    assert b.message_zh == a.message_zh  # untouched fields kept
    with pytest.raises(AlertConflict, match="version 2"):
        svc.update(a.id, {"level": "yellow"}, actor="t", expected_version=1)
    # switching the kind needs a level of that kind
    with pytest.raises(AlertInvalid, match="level") as e:
        svc.update(a.id, {"kind": "cold"}, actor="t")
    assert e.value.field == "level"
    c = svc.update(a.id, {"kind": "cold", "level": "blue"}, actor="t")
    assert (c.kind, c.level, c.amenities) == ("cold", "blue", ("heating",))
    with pytest.raises(AlertNotFound):
        svc.get(99)


@pytest.mark.parametrize(("change", "field", "zh", "en"), [
    ({"kind": "storm"}, "kind", "预警类型", "heat or cold"),
    ({"kind": ""}, "kind", "请选择预警类型", "kind is required"),
    ({"level": "blue"}, "level", "高温预警无效", "not valid for a heat alert"),
    ({"districts": []}, "districts", "至少选择一个区县", "at least one"),
    ({"districts": ["110101"]}, "districts", "不是已知的行政区划代码", "known adcode"),
    ({"districts": 320303}, "districts", "列表", "list of adcodes"),
    ({"starts_at": "tomorrow"}, "starts_at", "开始时间", "not a valid time"),
    ({"ends_at": ""}, "ends_at", "请填写结束时间", "ends_at is required"),
    ({"ends_at": "2026-07-15T09:00"}, "ends_at", "必须晚于开始时间", "later than starts_at"),
    ({"ends_at": "2026-09-01T00:00"}, "ends_at", "最长 31 天", "at most 31 days"),
    ({"starts_at": "2026-07-14T08:00", "ends_at": "2026-07-15T11:00"}, "ends_at", "已过",
     "in the past"),
    ({"message_zh": "  "}, "message_zh", "中文提示", "message_zh is required"),
    ({"message_zh": "热" * 301}, "message_zh", "最多 300", "at most 300"),
    ({"colour": "red"}, "colour", "未知字段", "unknown field"),
], ids=["kind", "kind-missing", "level-of-other-kind", "no-district", "unknown-district",
        "districts-not-list", "bad-start", "no-end", "end-before-start", "too-long",
        "already-over", "no-message", "message-too-long", "unknown-field"])
def test_bad_fields_are_named_in_both_languages(svc, change, field, zh, en):
    with pytest.raises(AlertInvalid) as e:
        svc.declare(heat(**change), actor="t")
    assert e.value.field == field
    assert zh in e.value.zh and en in e.value.en
    assert svc.all() == []


def test_chinese_words_for_kind_and_level_are_accepted(svc):
    a = svc.declare(heat(kind="寒潮", level="蓝色", districts="320303、320311"), actor="t")
    assert (a.kind, a.level, a.districts) == ("cold", "blue", ("320303", "320311"))


# ------------------------------------------------------------------ rights and scope


def test_editors_declare_within_their_scope_only(svc, store):
    a = svc.declare(heat(), by=YUNLONG, client="10.0.0.1")
    assert a.created_by == "yun"
    with pytest.raises(Forbidden) as e:
        svc.declare(heat(districts=["320303", "320311"]), by=YUNLONG, client="10.0.0.1")
    assert "320311（泉山区）" in e.value.zh and "320311 (Quanshan District)" in e.value.en
    with pytest.raises(Forbidden, match="320300"):
        svc.declare(heat(districts=["320300"]), by=YUNLONG)  # the whole city is wider
    with pytest.raises(Forbidden, match="editor"):
        svc.declare(heat(), by=VIEWER)
    with pytest.raises(Forbidden, match="disabled"):
        svc.declare(heat(), by=_user("gone", "admin", "", disabled=True))
    assert svc.declare(heat(districts=["320311"]), by=CITY).districts == ("320311",)
    assert svc.declare(heat(districts=["320300"]), by=ADMIN).districts == ("320300",)
    rows = audit_rows(store)
    assert rows[0] == ("yun", "alert.create", "alert:1", "ok")
    assert [r[3] for r in rows] == ["ok", "denied", "denied", "denied", "denied", "ok", "ok"]
    assert len(svc.all()) == 3


def test_a_county_account_cannot_edit_or_end_a_city_alert(svc, store):
    a = svc.declare(heat(districts=["320300"]), by=CITY)
    with pytest.raises(Forbidden):
        svc.update(a.id, {"message_zh": "改了"}, by=YUNLONG)
    with pytest.raises(Forbidden):
        svc.end(a.id, by=YUNLONG)
    mine = svc.declare(heat(), by=YUNLONG)
    with pytest.raises(Forbidden, match="320302"):  # cannot widen its own alert either
        svc.update(mine.id, {"districts": ["320303", "320302"]}, by=YUNLONG)
    assert svc.get(a.id).version == 1 and svc.get(a.id).ended_at is None
    assert svc.end(mine.id, by=YUNLONG).ended_by == "yun"
    assert ("yun", "alert.update", f"alert:{a.id}", "denied") in audit_rows(store)
    assert ("yun", "alert.end", f"alert:{mine.id}", "ok") in audit_rows(store)


def test_two_services_share_the_table(store, clock, db_url):
    AlertService.for_store(store, clock=clock).declare(heat(), actor="t")
    other = StationStore(db_url)
    try:
        assert len(AlertService.for_store(other, clock=clock).active(adcode="320303")) == 1
    finally:
        other.dispose()


# ------------------------------------------------------------------ the CLI


def _add_args(db, *extra, districts=("320303", "320302")):
    now = datetime.now(UTC)
    return ["alert", "add", "--db", db, "--kind", "heat", "--level", "red",
            *[x for d in districts for x in ("--district", d)],
            "--end", (now + timedelta(hours=6)).isoformat(),
            "--message", "红色预警：停止户外作业", *extra]


def test_cli_add_list_end(runner, db_url):
    r = runner.invoke(main, _add_args(db_url, "--message-en", "Red alert: stop outdoor work"))
    assert r.exit_code == 0, r.output
    assert "已发布预警 / alert declared: 1  高温红色预警  鼓楼区、云龙区" in r.output
    r = runner.invoke(main, ["alert", "list", "--db", db_url])
    assert r.exit_code == 0 and "红色预警：停止户外作业" in r.output and "active" in r.output
    r = runner.invoke(main, ["alert", "list", "--db", db_url, "--json", "--lang", "en"])
    import json

    row = json.loads(r.output.splitlines()[0])
    assert row["message"] == "Red alert: stop outdoor work" and row["state"] == "active"
    r = runner.invoke(main, ["alert", "list", "--db", db_url, "--district", "320311"])
    assert "共 0 条" in r.output
    r = runner.invoke(main, ["alert", "end", "1", "--db", db_url])
    assert r.exit_code == 0 and "已结束预警" in r.output
    r = runner.invoke(main, ["alert", "list", "--db", db_url])
    assert "共 0 条" in r.output
    r = runner.invoke(main, ["alert", "list", "--db", db_url, "--state", "ended"])
    assert "共 1 条" in r.output
    store = StationStore(db_url)
    try:
        actors = {row[0] for row in audit_rows(store)}
    finally:
        store.dispose()
    assert len(actors) == 1 and actors.pop().startswith("cli")


@pytest.mark.parametrize(("args", "expected"), [
    (["alert", "add", "--kind", "heat", "--level", "purple", "--district", "320303",
      "--end", "2099-01-01T00:00", "--message", "x"], "预警等级（level）'purple'"),
    (["alert", "add", "--kind", "heat", "--level", "red", "--district", "999999",
      "--end", "2099-01-01T00:00", "--message", "x"], "districts"),
    (["alert", "add", "--kind", "heat", "--level", "red", "--district", "320303",
      "--end", "soon", "--message", "x"], "ends_at 'soon' is not a valid time"),
    (["alert", "end", "42"], "没有编号为 42 的预警"),
    (["alert", "list", "--district", "12"], "--district '12'"),
], ids=["level", "district", "end-time", "unknown-id", "list-district"])
def test_cli_errors_are_one_line_with_exit_2(runner, db_url, args, expected):
    r = runner.invoke(main, [*args, "--db", db_url])
    assert r.exit_code == 2, r.output
    assert expected in r.output and "Traceback" not in r.output
    assert r.output.startswith("错误 / Error:")


def test_cli_as_an_account_checks_its_scope(runner, db_url):
    from staff_support import FAST, PW

    from locator.staff import AccountService

    store = StationStore(db_url, create=True)
    try:
        AccountService(store.engine, hasher=FAST).add_user("yun", PW, role="editor",
                                                           scope="320303", actor="pytest")
    finally:
        store.dispose()
    r = runner.invoke(main, _add_args(db_url, "--as", "yun"))
    assert r.exit_code == 2 and "320302（鼓楼区）" in r.output
    r = runner.invoke(main, _add_args(db_url, "--as", "yun", districts=("320303",)))
    assert r.exit_code == 0, r.output
    assert "云龙区" in r.output

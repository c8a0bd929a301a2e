"""How to get in: the station's entry fields (staffed hours, entry method, the app for a
QR code, a note for the door, toilet access) through validation, the store (with its
migration), a GBK spreadsheet with Chinese headers, the REST write API, and the one line
"how to get in now" that riders see."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from locator import InvalidInput, StationStore
from locator.stations.entry import entry_now, toilet_label
from locator.stations.model import station_from_dict
from locator.store.files import read_station_file, validate_rows

TZ = ZoneInfo("Asia/Shanghai")
# Wednesday 15 July 2026
NOON = datetime(2026, 7, 15, 12, 0, tzinfo=TZ)
NIGHT = datetime(2026, 7, 15, 22, 30, tzinfo=TZ)


def _st(**extra):
    return station_from_dict({"id": "E1", "name": "扫码驿站", "type": "爱心驿站",
                              "lon": 117.18, "lat": 34.26, "source": "sample", **extra})


def test_entry_fields_are_parsed_from_codes_and_chinese_words():
    s = _st(entry_method="扫码", entry_app="微信", staffed_hours="Mo-Fr 09:00-17:00",
            entry_note="门禁在左侧", toilet_access="仅限顾客", phone="0516-12345678",
            amenities="饮用水;卫生间")
    assert (s.entry_method, s.entry_app, s.staffed_hours, s.entry_note, s.toilet_access) == (
        "qr_code", "微信", "Mo-Fr 09:00-17:00", "门禁在左侧", "customers")
    assert _st().entry_method == "" and _st().staffed_hours is None  # unknown, not guessed
    d = s.to_dict()
    assert d["entry_method"] == "qr_code" and d["staffed_hours"] == "Mo-Fr 09:00-17:00"


@pytest.mark.parametrize("extra,field", [
    ({"entry_method": "魔法"}, "entry_method"),
    ({"toilet_access": "有时"}, "toilet_access"),
    ({"staffed_hours": "9点到5点"}, "staffed_hours"),
    ({"entry_app": "x" * 41}, "entry_app"),
])
def test_bad_entry_values_name_their_field(extra, field):
    with pytest.raises(InvalidInput) as e:
        _st(**extra)
    assert e.value.field == field


def test_how_to_get_in_now():
    s = _st(entry_method="qr_code", entry_app="微信", staffed_hours="Mo-Fr 09:00-17:00")
    now = entry_now(s, NOON)
    assert (now.how, now.staffed, now.zh) == ("staffed", True, "有工作人员值守，可直接进入")
    later = entry_now(s, NIGHT)
    assert (later.how, later.staffed) == ("qr_code", False)
    assert later.zh == "扫码开门（微信）" and later.en == "Scan a QR code (微信)"
    keypad = entry_now(_st(entry_method="密码锁", phone="0516-12345678",
                           entry_note="按门铃"), NIGHT)
    assert keypad.zh == "密码锁：请致电 0516-12345678 获取密码。按门铃"
    assert keypad.label("en") == "Keypad lock: call 0516-12345678 for the code. 按门铃"
    unknown = entry_now(_st(), NOON)
    assert (unknown.how, unknown.staffed, unknown.zh) == ("unknown", None, "进入方式未知")
    # staffed hours known, method not: outside them the rider is told it is not known
    assert entry_now(_st(staffed_hours="Mo-Fr 09:00-17:00"), NIGHT).how == "unknown"
    assert entry_now(_st(entry_method="none"), NIGHT).zh == "无需验证，直接进入"


def test_toilet_label():
    assert toilet_label(_st()) is None  # no toilet listed
    assert toilet_label(_st(amenities="toilet")) == "卫生间：开放情况未知"
    assert toilet_label(_st(amenities="toilet", toilet_access="public"), "en") == \
        "Toilet: Open to everyone"


def test_entry_fields_are_stored_and_changed_with_history(db_path):
    store = StationStore(db_path, create=True)
    try:
        store.add(_st(entry_method="face", staffed_hours="24/7", toilet_access="public"),
                  actor="t")
        got = store.get("E1")
        assert (got.entry_method, got.staffed_hours, got.toilet_access) == (
            "face", "24/7", "public")
        store.update("E1", {"entry_method": "会员码", "entry_note": "出示工会会员码"},
                     actor="t")
        new = store.get("E1")
        assert (new.entry_method, new.entry_note, new.version) == (
            "member_code", "出示工会会员码", 2)
        before, after = store.history("E1", limit=1)[0]["before"], \
            store.history("E1", limit=1)[0]["after"]
        assert before["entry_method"] == "face" and after["entry_method"] == "member_code"
    finally:
        store.dispose()


def test_a_gbk_spreadsheet_with_chinese_entry_headers(tmp_path):
    p = tmp_path / "驿站.csv"
    p.write_bytes(("站点名称,类型,经度,纬度,进入方式,扫码应用,值守时间,卫生间开放,进门说明\n"
                   "东站驿站,爱心驿站,117.2,34.25,扫码,支付宝,Mo-Su 08:00-20:00,对公众开放,"
                   "门禁在左侧\n").encode("gbk"))
    (s,) = validate_rows(read_station_file(p), default_source="sample")
    assert (s.entry_method, s.entry_app, s.staffed_hours, s.toilet_access, s.entry_note) == (
        "qr_code", "支付宝", "Mo-Su 08:00-20:00", "public", "门禁在左侧")


def test_a_bad_entry_cell_is_reported_in_the_files_own_terms(tmp_path, districts):
    from locator.store.files import prepare_import

    p = tmp_path / "bad.csv"
    p.write_bytes("站点名称,类型,经度,纬度,进入方式\n西站,爱心驿站,117.2,34.25,魔法门\n"
                  .encode("gbk"))
    plan = prepare_import(p, existing=[], districts=districts)
    assert not plan.ok
    (issue,) = plan.errors
    assert (issue.row, issue.column, issue.field, issue.value) == (
        2, "进入方式", "entry_method", "魔法门")
    assert "进入方式" in issue.message("zh") and "扫码开门" in issue.message("zh")
    assert "how to get in" in issue.message("en")


def test_the_station_page_says_how_to_get_in_now(db_path):
    from locator import Registry
    from locator.web import create_app

    store = StationStore(db_path, create=True)
    store.add(_st(entry_method="qr_code", entry_app="微信", staffed_hours="Mo-Su 00:00-00:01",
                  amenities="toilet", toilet_access="customers"), actor="t")
    app = create_app({"LOCATOR_REGISTRY": Registry(store), "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})
    page = app.test_client().get("/stations/E1").get_data(as_text=True)
    import re

    line = re.search(r'id="entry-now">(.*?)</p>', page, re.S)[1]
    assert "怎么进门：" in line and "卫生间：仅限顾客或内部使用" in line
    assert "扫码开门（微信）" in line or "有工作人员值守" in line  # by the minute of the day
    assert "值守时间" in page
    en = app.test_client().get("/stations/E1?lang=en").get_data(as_text=True)
    assert "How to get in: " in en and "Toilet: Customers or staff only" in en
    store.dispose()

"""Verification rounds: a check at the door (its row, the station version and the audit
row commit together or not at all), the 200 m flag, district scopes, the overdue list's
order, photos cleaned of EXIF positions, and the staff pages (the phone form, CSRF, bad
input named by field, the round list as HTML and CSV, the photo route).

The core and the pages run on SQLite and PostgreSQL (the pages: one app per backend for
the module, each test on its own stations so that the order of the tests does not
matter).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from staff_support import PW, StaffClient

from locator.geo import haversine_m
from locator.settings import load_settings
from locator.staff.errors import Forbidden
from locator.stations.model import Station, station_from_dict
from locator.store.accounts import AUDIT, User
from locator.store.upkeep import CHECKS, PHOTOS
from locator.upkeep import verification
from locator.upkeep.photos import MAX_SIDE, PhotoInvalid, clean_photo
from locator.upkeep.verification import (
    VerificationService,
    VerifyInvalid,
    overdue,
    parse_position,
)

TODAY = date(2026, 7, 15)
NOW = datetime(2026, 7, 15, 2, 0, tzinfo=timezone.utc)  # 10:00 in Xuzhou
T04 = (117.2000, 34.2700)  # the tiny set's service centre, Yunlong district (320303)


def _user(name: str, role: str = "editor", scope: str = "320303") -> User:
    return User(id=1, name=name, display_name="", role=role, scope=scope, disabled=False,
                created_at=NOW, changed_at=NOW, password_changed_at=NOW)


def _north(lonlat: tuple[float, float], metres: float) -> tuple[float, float]:
    """A point ``metres`` due north of ``lonlat`` (on the haversine sphere)."""
    return lonlat[0], lonlat[1] + math.degrees(metres / 6371008.8)


def _jpeg(size=(64, 48), *, gps: bool = True, orientation: int | None = None,
          color=(200, 30, 30)) -> bytes:
    """A JPEG as a phone writes it: with an EXIF block holding a GPS position."""
    from PIL import ExifTags, Image

    im = Image.new("RGB", size, color)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestPhone"
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    if gps:
        exif[ExifTags.Base.GPSInfo] = {
            ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (34.0, 16.0, 12.0),
            ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (117.0, 12.0, 0.0)}
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif, quality=90)
    return buf.getvalue()


# --------------------------------------------------------------------------- core


@pytest.fixture()
def reg(db_url, tiny_stations):
    """On SQLite and PostgreSQL (tests/conftest.py, ``BOTH_BACKENDS``)."""
    from locator import Registry, StationStore

    store = StationStore(db_url, create=True)
    store.add_many(tiny_stations, actor="pytest")
    yield Registry(store)
    store.dispose()


@pytest.fixture()
def svc(reg):
    return VerificationService(reg, settings=load_settings(), today=lambda: TODAY,
                               clock=lambda: NOW)


def _rows(reg, table, **where):
    from locator.store import accounts, upkeep

    upkeep.ensure_schema(reg.store.engine)
    accounts.ensure_schema(reg.store.engine)
    q = sa.select(table)
    for k, v in where.items():
        q = q.where(table.c[k] == v)
    with reg.store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def _audits(reg, target: str) -> list[dict]:
    return _rows(reg, AUDIT, action="station.verify", target=target)


def test_check_writes_row_station_version_and_audit_together(reg, svc):
    before = reg.store.get("T04")
    pos = parse_position(*_north(T04, 50.0), "12")
    res = svc.verify(_user("yun"), "T04", position=pos, note="门口有饮水机",
                     photo=_jpeg(), client="10.0.0.7")
    # the station: a new version, verified today (Beijing) by the account
    st = reg.store.get("T04")
    assert (st.version, st.verified_date, st.verified_by) == (before.version + 1, TODAY, "yun")
    assert reg.index.get("T04").verified_date == TODAY
    assert reg.store.history("T04", limit=1)[0]["actor"] == "yun"
    # the check row names that version, the distance and no flag
    [row] = _rows(reg, CHECKS, station_id="T04")
    assert row["station_version"] == st.version and row["id"] == res.check.id
    assert row["distance_m"] == pytest.approx(50.0, abs=0.2) and not row["flagged"]
    assert (row["outcome"], row["note"], row["accuracy_m"]) == ("ok", "门口有饮水机", 12.0)
    assert row["photo_id"] == _rows(reg, PHOTOS)[0]["id"]
    # and the audit row, in the same transaction
    [audit] = _audits(reg, "station:T04")
    detail = json.loads(audit["detail"])
    assert (audit["actor"], audit["client"], audit["result"]) == ("yun", "10.0.0.7", "ok")
    assert detail["check"] == res.check.id and detail["version"] == st.version
    assert detail["flagged"] is False and res.refreshed
    assert [c.id for c in svc.checks("T04")] == [res.check.id]


def test_a_failing_write_leaves_no_check_no_version_no_audit_no_photo(reg, svc, monkeypatch):
    before = reg.store.get("T04")

    def broken(*a, **k):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(verification, "insert_audit", broken)
    with pytest.raises(RuntimeError, match="audit store unavailable"):
        svc.verify(_user("yun"), "T04", position=parse_position(*T04), photo=_jpeg())
    st = reg.store.get("T04")
    assert (st.version, st.verified_date, st.verified_by) == (before.version,
                                                              before.verified_date, "")
    assert reg.index.get("T04").version == before.version
    assert _rows(reg, CHECKS) == [] and _rows(reg, PHOTOS) == []
    assert _audits(reg, "station:T04") == []


@pytest.mark.parametrize("metres, flagged", [(150.0, False), (199.0, False), (201.0, True),
                                             (800.0, True)],
                         ids=["150m", "199m", "201m", "800m"])
def test_checks_farther_than_200_m_are_flagged_but_count(reg, svc, metres, flagged):
    res = svc.verify(_user("yun"), "T04", position=parse_position(*_north(T04, metres)))
    assert res.flagged is flagged
    assert res.check.distance_m == pytest.approx(metres, abs=0.2)
    [row] = _rows(reg, CHECKS, station_id="T04")
    assert bool(row["flagged"]) is flagged
    assert json.loads(_audits(reg, "station:T04")[0]["detail"])["flagged"] is flagged
    assert reg.store.get("T04").verified_date == TODAY


def test_a_check_without_a_position_is_kept_and_says_so(reg, svc):
    res = svc.verify(_user("yun"), "T04")
    assert not res.check.has_position and res.check.distance_m is None and not res.flagged
    assert reg.store.get("T04").verified_date == TODAY


@pytest.mark.parametrize("user", [_user("yun", "editor", "320303"),
                                  _user("look", "viewer", "320300")],
                         ids=["editor-of-another-district", "viewer"])
def test_accounts_outside_the_scope_or_role_are_refused(reg, svc, user):
    before = reg.store.get("T01")  # Gulou district, 320302
    with pytest.raises(Forbidden) as e:
        svc.verify(user, "T01", position=parse_position(117.1850, 34.2615))
    assert e.value.right == "station.verify"
    assert "320302" in e.value.zh or "editor" in e.value.zh
    assert reg.store.get("T01").version == before.version
    assert _rows(reg, CHECKS) == []


def test_a_problem_is_recorded_but_does_not_mark_the_station_verified(reg, svc):
    before = reg.store.get("T04")
    with pytest.raises(VerifyInvalid) as e:
        svc.verify(_user("yun"), "T04", outcome="problem")
    assert e.value.field == "note"
    res = svc.verify(_user("yun"), "T04", outcome="problem", note="门锁着，贴着扫码进入",
                     position=parse_position(*T04))
    st = reg.store.get("T04")
    assert (st.version, st.verified_date) == (before.version, before.verified_date)
    assert not res.refreshed and res.check.station_version == before.version
    [row] = _rows(reg, CHECKS, station_id="T04")
    assert (row["outcome"], row["note"]) == ("problem", "门锁着，贴着扫码进入")
    assert json.loads(_audits(reg, "station:T04")[0]["detail"])["outcome"] == "problem"


def test_a_second_check_the_same_day_is_recorded_too(reg, svc):
    first = svc.verify(_user("yun"), "T04")
    second = svc.verify(_user("yun"), "T04", note="下午再看一次")
    # the record did not change (same date, same person): no new version, but two checks
    assert second.check.station_version == first.check.station_version
    assert [c.id for c in svc.checks("T04")] == [second.check.id, first.check.id]
    assert len(_audits(reg, "station:T04")) == 2


@pytest.mark.parametrize("lon, lat, accuracy, field", [
    ("abc", "34.2", "", "lon"),
    ("117.2", "", "", "lat"),
    ("", "34.2", "", "lon"),
    ("200", "34.2", "", "lon"),
    ("117.2", "-95", "", "lat"),
    ("nan", "34.2", "", "lon"),
    ("117.2", "34.2", "-5", "accuracy"),
    ("117.2", "34.2", "far", "accuracy"),
], ids=["lon-text", "lat-missing", "lon-missing", "lon-range", "lat-range", "lon-nan",
        "accuracy-negative", "accuracy-text"])
def test_bad_positions_name_the_field(lon, lat, accuracy, field):
    with pytest.raises(VerifyInvalid) as e:
        parse_position(lon, lat, accuracy)
    assert e.value.field == field
    assert field in e.value.en


def test_bad_outcome_and_note_name_the_field(reg, svc):
    with pytest.raises(VerifyInvalid, match="outcome must be one of: ok, problem") as e:
        svc.verify(_user("yun"), "T04", outcome="fine")
    assert e.value.field == "outcome"
    with pytest.raises(VerifyInvalid, match="at most 1000") as e:
        svc.verify(_user("yun"), "T04", note="字" * 1001)
    assert e.value.field == "note"
    assert _rows(reg, CHECKS) == []


# --------------------------------------------------------------------------- overdue


def _st(sid: str, stype: str, verified: date | None, lonlat, district="320303",
        status="open") -> Station:
    return station_from_dict({"id": sid, "name": f"站{sid}", "type": stype, "lon": lonlat[0],
                              "lat": lonlat[1], "district_adcode": district,
                              "status": status, "source": "sample",
                              "verified_date": verified.isoformat() if verified else None})


INTERVALS = {"outdoor_worker": 90, "mother_baby": 180}
ROUND = [
    _st("A-recent", "outdoor_worker", TODAY - timedelta(days=30), (117.20, 34.27)),
    _st("A-due", "outdoor_worker", TODAY - timedelta(days=100), (117.21, 34.27)),
    _st("A-stale", "outdoor_worker", TODAY - timedelta(days=400), (117.25, 34.27)),
    _st("A-never", "mother_baby", None, (117.23, 34.27)),
    _st("A-mb-ok", "mother_baby", TODAY - timedelta(days=170), (117.22, 34.27)),
    _st("A-closed", "outdoor_worker", None, (117.20, 34.27), status="closed"),
    _st("B-due", "outdoor_worker", TODAY - timedelta(days=95), (117.18, 34.26),
        district="320302"),
    _st("B-far", "mother_baby", TODAY - timedelta(days=500), (117.40, 34.40),
        district="320302"),
]


def test_overdue_most_overdue_first_by_district():
    rounds = overdue(ROUND, INTERVALS, TODAY)
    got = [(r.adcode, [o.station.id for o in r.stations]) for r in rounds]
    # never checked first, then the most days past the interval; districts by their
    # most overdue station (Yunlong's never-checked room beats Gulou's 320 days)
    assert got == [("320303", ["A-never", "A-stale", "A-due"]),
                   ("320302", ["B-far", "B-due"])]
    a = rounds[0].stations
    assert (a[0].days_since, a[0].days_overdue) == (None, None)
    assert (a[1].days_since, a[1].days_overdue, a[1].interval_days) == (400, 310, 90)
    assert rounds[0].name("zh") == "云龙区" and rounds[1].name("en").startswith("Gulou")


def test_overdue_nearest_first_from_a_position_within_a_scope():
    here = (117.205, 34.27)
    rounds = overdue(ROUND, INTERVALS, TODAY, near=here)
    got = [(r.adcode, [o.station.id for o in r.stations]) for r in rounds]
    assert got == [("320303", ["A-due", "A-never", "A-stale"]),
                   ("320302", ["B-due", "B-far"])]
    d = [o.distance_m for o in rounds[0].stations]
    assert d == sorted(d) and d[0] == pytest.approx(haversine_m(*here, 117.21, 34.27))
    scoped = overdue(ROUND, INTERVALS, TODAY, near=here, scope="320302")
    assert [r.adcode for r in scoped] == ["320302"]
    with_closed = overdue(ROUND, INTERVALS, TODAY, include_closed=True, scope="320303")
    assert "A-closed" in [o.station.id for o in with_closed[0].stations]


def test_overdue_groups_stations_without_a_district_last_alike():
    sts = [_st("N1", "outdoor_worker", None, (117.2, 34.2), district="")]
    [r] = overdue(sts, INTERVALS, TODAY)
    assert (r.adcode, r.name("zh"), r.name("en")) == ("", "未归属区县", "no district")
    assert overdue(sts, INTERVALS, TODAY, scope="320300") == []


# --------------------------------------------------------------------------- photos


def test_photo_loses_its_exif_gps_and_is_turned_upright():
    from PIL import ExifTags, Image

    raw = _jpeg((80, 40), orientation=6)
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # it has one
    p = clean_photo(raw, max_bytes=1_000_000)
    im = Image.open(io.BytesIO(p.data))
    assert im.format == "JPEG" and p.content_type == "image/jpeg"
    assert dict(im.getexif()) == {} and not im.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert b"Exif" not in p.data and b"TestPhone" not in p.data
    assert "icc_profile" not in im.info
    assert (im.width, im.height) == (40, 80)  # orientation 6: rotated upright


def test_large_photos_are_scaled_and_transparent_ones_flattened():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (3200, 1000), (0, 0, 0, 0)).save(buf, format="PNG")
    p = clean_photo(buf.getvalue(), max_bytes=5_000_000)
    assert (p.width, p.height) == (MAX_SIDE, 500)
    assert Image.open(io.BytesIO(p.data)).getpixel((10, 10)) == (255, 255, 255)


@pytest.mark.parametrize("data, kw, words", [
    (b"", {}, "empty"),
    ("站点照片\n".encode() * 50, {}, "only JPEG, PNG or WebP"),
    (b"GIF89a" + b"\x00" * 100, {}, "only JPEG, PNG or WebP"),
    (None, {"max_bytes": 200}, "too large"),
    (None, {"max_pixels": 1000}, "too many pixels"),
    ("truncated", {}, "only JPEG, PNG or WebP"),
], ids=["empty", "text-file", "gif", "oversize", "pixel-bomb", "truncated-jpeg"])
def test_bad_photos_are_refused_naming_the_field(data, kw, words):
    if data is None:
        data = _jpeg((64, 48))
    elif data == "truncated":
        data = _jpeg((64, 48))[:300]
    with pytest.raises(PhotoInvalid, match=words) as e:
        clean_photo(data, **{"max_bytes": 1_000_000, **kw})
    assert e.value.field == "photo" and e.value.zh


# --------------------------------------------------------------------------- pages

YUN = (117.2300, 34.2400)  # Yunlong district


@pytest.fixture(scope="module")
def web(module_db_url):
    """An app over stations made for these tests: W1..W8 in Yunlong (320303), G1 in
    Gulou (320302), all last verified long ago (W7: never)."""
    from locator import Registry, StationStore
    from locator.time_util import local_today
    from locator.web import create_app

    old = (local_today() - timedelta(days=400)).isoformat()
    rows = [
        {"id": f"W{i}", "name": f"【示例】核实测试站{i}", "lon": YUN[0] + i * 0.002,
         "lat": YUN[1], "district_adcode": "320303", "verified_date": old,
         "address": f"云龙区测试路{i}号", "opening_hours": "24/7"} for i in (1, 2, 3, 4, 5, 6, 8)]
    rows.append({"id": "W7", "name": "=HYPERLINK(\"http://x.invalid\")", "lon": YUN[0],
                 "lat": YUN[1] + 0.01, "district_adcode": "320303", "address": "+1 路"})
    rows.append({"id": "G1", "name": "【示例】鼓楼测试站", "lon": 117.1850, "lat": 34.2615,
                 "district_adcode": "320302", "verified_date": old})
    stations = [station_from_dict({"type": "outdoor_worker", "source": "sample", **r})
                for r in rows]
    store = StationStore(module_db_url, create=True)
    store.add_many(stations, actor="pytest")
    app = create_app({"LOCATOR_REGISTRY": Registry(store), "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none",
                      "LOCATOR_MAX_PHOTO_BYTES": 60_000, "LOCATOR_MAX_CONTENT_LENGTH": 30_000})
    svc = app.extensions["locator.accounts"]
    for name, role, scope in (("yun", "editor", "320303"), ("gu", "editor", "320302"),
                              ("look", "viewer", "320300"), ("boss", "admin", "")):
        svc.add_user(name, PW, role=role, scope=scope, actor="pytest")
    yield app
    store.dispose()


class Staff(StaffClient):
    """A logged-in staff test client (tests/staff_support.py) that verifies stations."""

    def verify(self, sid: str, lang: str = "", csrf: bool = True, photo=None, **fields):
        data = {"outcome": "ok", **fields}
        if csrf:
            data["csrf_token"] = self.csrf
        if photo is not None:
            data["photo"] = (io.BytesIO(photo[1]), photo[0])
        self.client.delete_cookie("lang")
        q = f"?lang={lang}" if lang else ""
        return self.client.post(f"/staff/stations/{sid}/verify{q}", data=data,
                                content_type="multipart/form-data")


@pytest.fixture(scope="module")
def yun(web):
    return Staff(web, "yun")


def _checks(web, sid: str):
    return web.extensions["locator.verification"].checks(sid)


def _station(web, sid: str) -> Station:
    return web.extensions["locator"].registry.store.get(sid)


def _lonlat(web, sid: str) -> tuple[float, float]:
    st = _station(web, sid)
    return st.lon, st.lat


def test_the_phone_form_records_a_check_and_riders_see_verified_today(web, yun):
    page = yun.get("/staff/stations/W1/verify").get_data(as_text=True)
    assert 'capture="environment"' in page and 'accept="image/*"' in page
    assert 'enctype="multipart/form-data"' in page and 'name="csrf_token"' in page
    assert 'id="v-lon"' in page and "云龙区测试路1号" in page and "24/7" in page
    public = web.test_client().get("/stations/W1").get_data(as_text=True)
    assert "未近期核实" in public and "今天核实" not in public
    lon, lat = _north(_lonlat(web, "W1"), 30.0)
    r = yun.verify("W1", lon=f"{lon:.7f}", lat=f"{lat:.7f}", accuracy="8")
    assert r.status_code == 303
    [check] = _checks(web, "W1")
    assert r.headers["Location"].endswith(f"/staff/stations/W1/edit?verified={check.id}")
    shown = yun.get(r.headers["Location"]).get_data(as_text=True)
    assert 'id="verify-notice"' in shown and "今天核实" in shown
    assert 'id="verify-flagged"' not in shown
    assert 'id="verify-link"' in shown  # the station page links to the form
    st = _station(web, "W1")
    assert st.verified_by == "yun" and check.station_version == st.version
    public = web.test_client().get("/stations/W1").get_data(as_text=True)
    assert "今天核实" in public and "未近期核实" not in public
    res = web.test_client().get(f"/api/v1/nearest?lon={st.lon}&lat={st.lat}&k=1").get_json()
    [hit] = res["results"]
    assert hit["id"] == "W1" and hit["freshness"]["days"] == 0
    assert hit["freshness"]["state"] == "recent"


def test_a_far_check_redirects_with_a_clear_flag_warning(web, yun):
    lon, lat = _north(_lonlat(web, "W2"), 450.0)
    r = yun.verify("W2", lon=f"{lon:.7f}", lat=f"{lat:.7f}")
    assert r.status_code == 303
    shown = yun.get(r.headers["Location"] + "&lang=en").get_data(as_text=True)
    assert 'id="verify-flagged"' in shown and "This check is flagged" in shown
    assert "450 m" in shown
    form = yun.get("/staff/stations/W2/verify").get_data(as_text=True)
    assert 'data-flagged="1"' in form and "已标记：距站点 450 m" in form


def test_a_problem_is_recorded_and_the_station_page_asks_for_a_correction(web, yun):
    before = _station(web, "W8")
    r = yun.verify("W8", outcome="problem", note="门上了锁，贴着“扫码进入”")
    assert r.status_code == 303
    shown = yun.get(r.headers["Location"]).get_data(as_text=True)
    assert "站点未标为已核实" in shown and 'class="form-warning verify-no-position"' in shown
    after = _station(web, "W8")
    assert (after.version, after.verified_date) == (before.version, before.verified_date)
    [check] = _checks(web, "W8")
    assert (check.outcome, check.station_version) == ("problem", before.version)
    assert "未近期核实" in web.test_client().get("/stations/W8").get_data(as_text=True)


def test_a_forged_notice_link_shows_nothing(web, yun):
    r = yun.verify("W3")
    cid = int(r.headers["Location"].rsplit("=", 1)[1])
    # the check belongs to W3: on W4's page the same id says nothing
    assert 'id="verify-notice"' not in yun.get(
        f"/staff/stations/W4/edit?verified={cid}").get_data(as_text=True)
    assert 'id="verify-notice"' not in yun.get(
        "/staff/stations/W3/edit?verified=99999").get_data(as_text=True)


def test_the_form_needs_its_csrf_token(web, yun):
    r = yun.verify("W4", csrf=False)
    assert r.status_code == 403 and _checks(web, "W4") == []


@pytest.mark.parametrize("fields, field, words", [
    ({"lon": "117.2x", "lat": "34.24"}, "lon", "经度（lon）应为数字"),
    ({"lon": "117.23", "lat": "97"}, "lat", "纬度（lat）97.0 超出范围"),
    ({"lon": "117.23", "lat": ""}, "lat", "同时有经度（lon）和纬度（lat）"),
    ({"outcome": "maybe"}, "outcome", "核实结果应为"),
    ({"outcome": "problem"}, "note", "请在备注中写明问题"),
], ids=["lon-text", "lat-range", "lat-missing", "outcome", "problem-without-note"])
def test_bad_input_is_a_400_naming_the_field(web, yun, fields, field, words):
    r = yun.verify("W4", **fields)
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    assert f'id="err-{field}"' in page and words in page
    assert _checks(web, "W4") == []


def test_bad_input_in_english(web, yun):
    r = yun.verify("W4", lang="en", lon="east", lat="34.2")
    assert r.status_code == 400
    assert "lon must be a number; got &#39;east&#39;" in r.get_data(as_text=True)


@pytest.mark.parametrize("name, data, status, words", [
    ("door.jpg", "这不是照片".encode() * 20, 400, "只接受 JPEG、PNG 或 WebP"),
    ("door.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 500, 400, "只接受 JPEG、PNG 或 WebP"),
    ("door.png", None, 400, "照片太大"),
    ("huge.jpg", b"\xff" * 400_000, 413, "照片太大"),
], ids=["text-renamed-jpg", "fake-jpeg-header", "over-the-limit", "over-the-body-limit"])
def test_bad_photos_are_a_4xx_naming_the_photo_field(web, yun, name, data, status, words):
    if data is None:  # noise does not compress: a PNG over the 60 KB limit
        import os

        from PIL import Image

        buf = io.BytesIO()
        Image.frombytes("RGB", (160, 160), os.urandom(160 * 160 * 3)).save(buf, "PNG")
        data = buf.getvalue()
        assert 60_000 < len(data) < 200_000
    r = yun.verify("W5", photo=(name, data))
    page = r.get_data(as_text=True)
    assert r.status_code == status
    assert 'id="err-photo"' in page and words in page
    assert _checks(web, "W5") == []


def test_a_photo_is_stored_clean_and_served_only_to_staff_of_the_scope(web, yun):
    r = yun.verify("W6", photo=("门口.jpg", _jpeg((120, 90))), note="<b>门口</b>")
    assert r.status_code == 303
    [check] = _checks(web, "W6")
    form = yun.get("/staff/stations/W6/verify").get_data(as_text=True)
    assert f'<img class="check-photo" src="/staff/photos/{check.photo_id}"' in form
    assert "&lt;b&gt;门口&lt;/b&gt;" in form  # the note is text
    img = yun.get(f"/staff/photos/{check.photo_id}")
    assert img.status_code == 200 and img.mimetype == "image/jpeg"
    assert img.data[:3] == b"\xff\xd8\xff" and b"Exif" not in img.data
    assert img.headers["X-Content-Type-Options"] == "nosniff"
    assert Staff(web, "gu").get(f"/staff/photos/{check.photo_id}").status_code == 403
    assert web.test_client().get(f"/staff/photos/{check.photo_id}").status_code == 302
    assert yun.get("/staff/photos/987654").status_code == 404


def test_a_photo_larger_than_the_apps_body_limit_but_within_the_photo_limit_is_taken(web, yun):
    import os

    from PIL import Image

    buf = io.BytesIO()
    Image.frombytes("RGB", (190, 190), os.urandom(190 * 190 * 3)).save(buf, "JPEG", quality=95)
    assert 30_000 < len(buf.getvalue()) < 60_000
    r = yun.verify("W4", photo=("door.jpg", buf.getvalue()))
    assert r.status_code == 303, r.get_data(as_text=True)[:300]
    [check] = _checks(web, "W4")
    assert check.photo_id is not None


def test_another_districts_editor_is_refused_403(web, yun):
    assert yun.get("/staff/stations/G1/verify").status_code == 403
    r = yun.verify("G1", lon="117.185", lat="34.2615")
    assert r.status_code == 403 and "320302" in r.get_data(as_text=True)
    assert _checks(web, "G1") == []
    assert Staff(web, "look").get("/staff/verify").status_code == 403


def test_the_round_lists_the_scope_by_district_nearest_first(web, yun):
    page = yun.get("/staff/verify").get_data(as_text=True)
    ids = re.findall(r'<tr data-station-id="([^"]+)"', page)
    assert "G1" not in ids and "W7" in ids  # Gulou is not yun's; W7 was never verified
    assert ids[0] == "W7"  # never verified: the most overdue
    assert "示例数据" in page and 'id="use-location"' in page
    assert 'href="/staff/verify?print=1"' in page
    here = _lonlat(web, "W5")
    page = yun.get(f"/staff/verify?lon={here[0]}&lat={here[1]}").get_data(as_text=True)
    near = re.findall(r'<tr data-station-id="([^"]+)"', page)
    dist = {sid: haversine_m(*here, *_lonlat(web, sid)) for sid in near}
    assert near[0] == "W5" and near == sorted(near, key=lambda s: (dist[s], s))
    boss = Staff(web, "boss").get("/staff/verify").get_data(as_text=True)
    assert re.findall(r'<section class="round-district" data-adcode="(\d+)"', boss) == [
        "320303", "320302"]
    printed = yun.get("/staff/verify?print=1").get_data(as_text=True)
    assert "print-view" in printed and 'id="print-now"' in printed and "核实签字" in printed


def test_the_round_refuses_a_bad_position_naming_the_field(web, yun):
    r = yun.get("/staff/verify?lon=117.2&lat=north")
    assert r.status_code == 400 and "纬度（lat）应为数字" in r.get_data(as_text=True)
    r = yun.get("/staff/verify?lon=117.2&lat=34.2&crs=utm")
    assert r.status_code == 400 and "crs" in r.get_data(as_text=True)


def test_the_round_as_csv_has_a_bom_chinese_headers_and_no_formulas(web, yun):
    r = yun.get("/staff/verify?format=csv")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in r.headers["Content-Disposition"]
    assert r.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["区县", "站点编号", "名称", "类型"]
    by_id = {row[1]: row for row in rows[1:]}
    assert "G1" not in by_id
    w7 = by_id["W7"]
    assert w7[2] == "'=HYPERLINK(\"http://x.invalid\")" and w7[5] == "'+1 路"
    assert w7[0] == "云龙区" and w7[6] == "从未核实"
    assert all(row[-1].startswith("示例数据") for row in rows[1:])
    engine = web.extensions["locator"].registry.store.engine
    with engine.connect() as conn:
        actors = conn.execute(sa.select(AUDIT.c.actor).where(
            AUDIT.c.action == "verify.round_export")).scalars().all()
    assert "yun" in actors


def test_the_nav_offers_the_round_to_those_who_can_verify(web, yun):
    assert 'href="/staff/verify"' in yun.get("/staff/stations").get_data(as_text=True)
    look = Staff(web, "look").get("/staff/stations").get_data(as_text=True)
    assert 'href="/staff/verify"' not in look


def _unescape(url: str) -> str:
    return url.replace("&amp;", "&")


def _verify_action(form: str) -> str:
    return _unescape(re.search(r'action="([^"]+)" class="staff-form verify-form"', form)[1])


def test_a_check_from_the_round_returns_to_the_round(web, yun):
    """From the round list (its position kept), a plain check goes back to the list for
    the next station, saying what was recorded; a flagged one goes to the station."""
    here = _lonlat(web, "W5")
    page = yun.get(f"/staff/verify?lon={here[0]}&lat={here[1]}").get_data(as_text=True)
    link = _unescape(re.search(r'href="(/staff/stations/W5/verify\?[^"]+)"', page)[1])
    assert "round=1" in link and f"round_lon={here[0]}" in link
    action = _verify_action(yun.get(link).get_data(as_text=True))
    assert "round=1" in action
    yun.client.delete_cookie("lang")
    r = yun.client.post(action, data={"csrf_token": yun.csrf, "outcome": "ok",
                                      "lon": str(here[0]), "lat": str(here[1])},
                        content_type="multipart/form-data")
    assert r.status_code == 303
    back = r.headers["Location"]
    assert back.startswith("/staff/verify?") and f"lon={here[0]}" in back
    page = yun.get(back).get_data(as_text=True)
    assert 'id="round-done"' in page and "W5" not in re.findall(
        r'<tr data-station-id="([^"]+)"', page)  # verified today: no longer due
    # 1 km away: flagged, so it goes to the station, not back to the list
    link = link.replace("W5", "W7")
    action = _verify_action(yun.get(link).get_data(as_text=True))
    far = _north(_lonlat(web, "W7"), 1000)
    r = yun.client.post(action, data={"csrf_token": yun.csrf, "outcome": "ok",
                                      "lon": str(far[0]), "lat": str(far[1])},
                        content_type="multipart/form-data")
    assert r.status_code == 303 and "/staff/stations/W7/" in r.headers["Location"]

"""The staff star-rating pages through the Flask test client: a reviewer reads a station's
checklist and sets its official level (a new version and an audit row with the reason);
other districts, editors and viewers are refused (403); bad input is a 400 naming the
field; the list compares official and suggested levels, filters the stations to
re-inspect and downloads as CSV; the public station page shows the stars. Every test runs
on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest
from staff_support import FAST, PW, StaffClient

from locator import Registry, StationStore
from locator.stations.model import Station
from locator.time_util import local_today
from locator.web import create_app

FULL_KIT = ("seating", "drinking_water", "microwave", "air_conditioning", "fridge",
            "phone_charging", "first_aid", "toilet", "aed")
USERS = (("rev", "reviewer", "320303"), ("rev_q", "reviewer", "320311"),
         ("yun", "editor", "320303"), ("look", "viewer", "320300"),
         ("admin1", "admin", ""))


def _stations() -> list[Station]:
    today = local_today()

    def st(sid, name, adcode, district, amenities, *, source="staff", **kw):
        return Station(id=sid, name=name, type="outdoor_worker", lon=117.23, lat=34.24,
                       district_adcode=adcode, district_name=district,
                       amenities=amenities, opening_hours="24/7", verified_date=today,
                       source=source, **kw)

    return [st("YL1", "云龙全配驿站", "320303", "云龙区", FULL_KIT),
            st("YL2", "【示例】云龙简易驿站", "320303", "云龙区", ("seating",),
               source="sample", star_level=4),
            st("QS1", "泉山驿站", "320311", "泉山区", FULL_KIT, star_level=2)]


def _app(url: str):
    store = StationStore(url, create=True)
    store.add_many(_stations(), actor="pytest")
    reg = Registry(store)
    app = create_app({"LOCATOR_REGISTRY": reg, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})
    svc = app.extensions["locator.accounts"]
    svc.hasher = FAST
    for name, role, scope in USERS:
        svc.add_user(name, PW, role=role, scope=scope, actor="pytest")
    return app, reg


@pytest.fixture()
def app(db_url):
    """On SQLite and PostgreSQL (tests/conftest.py, ``BOTH_BACKENDS``)."""
    app, reg = _app(db_url)
    yield app
    reg.store.dispose()


class Staff(StaffClient):
    """A logged-in staff test client (tests/staff_support.py) that rates stations."""

    def rate(self, sid: str, level: str, reason: str = "现场检查：设施齐全", *, lang: str = "",
             **extra):
        self.client.delete_cookie("lang")
        data = {"csrf_token": self.csrf, "star_level": level, "reason": reason, **extra}
        return self.client.post(f"/staff/stations/{sid}/rating{lang}", data=data)


def _audit(app, action: str = "station.rate"):
    return app.extensions["locator.accounts"].store.audit_events(action=action)


def test_a_reviewer_sets_the_official_level_as_a_new_version_with_an_audit_row(app):
    reg = app.extensions["locator"].registry
    rev = Staff(app, "rev")
    page = rev.text("/staff/stations/YL1/rating")
    assert 'data-suggested="5"' in page and 'id="rating-form"' in page
    assert "建议星级" in page and "五星级" in page
    assert 'data-item="aed" data-state="met"' in page
    assert 'data-item="area_30" data-state="unknown"' in page
    assert "本项目的解读" in page  # the page says which rules are the project's reading

    r = rev.rate("YL1", "3", "2026 年度现场检查：面积不足 30 平方米", version="1")
    assert r.status_code == 303
    assert r.headers["Location"].endswith("/staff/stations/YL1/rating?done=set")
    st = reg.store.get("YL1")
    assert (st.star_level, st.version) == (3, 2)
    assert reg.index.get("YL1").star_level == 3
    assert reg.store.history("YL1", limit=1)[0]["after"]["star_level"] == 3
    ev = _audit(app)
    assert len(ev) == 1 and ev[0].actor == "rev" and ev[0].target == "station:YL1"
    assert ev[0].detail["old_level"] is None and ev[0].detail["new_level"] == 3
    assert ev[0].detail["suggested_level"] == 5 and ev[0].detail["version"] == 2
    assert ev[0].detail["reason"] == "2026 年度现场检查：面积不足 30 平方米"
    page = rev.text("/staff/stations/YL1/rating?done=set")
    assert 'id="official" data-level="3"' in page and 'id="notice"' in page

    # the public station page shows the stars, with words
    public = app.test_client().get("/stations/YL1").get_data(as_text=True)
    dd = re.search(r'<dd class="star-level" data-star-level="3">.*?</dd>', public, re.S)[0]
    assert "★★★☆☆" in dd and "三星级" in dd
    en = app.test_client().get("/stations/YL1?lang=en").get_data(as_text=True)
    assert "3 of 5 stars" in en


def test_other_districts_editors_and_viewers_are_refused(app):
    reg = app.extensions["locator"].registry
    for name in ("rev_q", "yun", "look"):
        r = Staff(app, name).rate("YL1", "4")
        assert r.status_code == 403, name
    assert "320311" in Staff(app, "rev_q").rate("YL1", "4").get_data(as_text=True)
    assert reg.store.get("YL1").star_level is None and reg.store.get("YL1").version == 1
    assert _audit(app) == []
    # an editor reads the checklist, without the form
    page = Staff(app, "yun").text("/staff/stations/YL1/rating")
    assert 'id="no-rate"' in page and 'id="rating-form"' not in page
    # without the CSRF token: refused too
    rev = Staff(app, "rev")
    r = rev.client.post("/staff/stations/YL1/rating", data={"star_level": "4", "reason": "x"})
    assert r.status_code == 403 and reg.store.get("YL1").star_level is None


@pytest.mark.parametrize(("level", "reason", "lang", "expected", "field"), [
    ("6", "现场检查", "", "星级（star_level）“6”无效", "star_level"),
    ("three", "现场检查", "", "请选择 1 至 5 星", "star_level"),
    ("3", "  ", "", "评定理由（reason）必填", "reason"),
    ("0", "on-site check", "?lang=en", "star_level '0' is not valid", "star_level"),
], ids=["six", "word", "no-reason", "english"])
def test_bad_input_is_a_400_naming_the_field(app, level, reason, lang, expected, field):
    rev = Staff(app, "rev")
    r = rev.rate("YL1", level, reason, lang=lang)
    assert r.status_code == 400
    body = r.get_data(as_text=True)
    assert expected in html.unescape(body)
    assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', body)
    assert app.extensions["locator"].registry.store.get("YL1").version == 1
    assert _audit(app) == []


def test_a_stale_form_is_a_conflict_and_a_same_level_is_a_confirmation(app):
    reg = app.extensions["locator"].registry
    rev = Staff(app, "rev")
    r = rev.rate("YL2", "1", "复查后降级", version="7")
    assert r.status_code == 409 and reg.store.get("YL2").star_level == 4
    r = rev.rate("YL2", "4", "年度复核，维持四星", version="1")
    assert r.status_code == 303 and r.headers["Location"].endswith("done=confirmed")
    assert reg.store.get("YL2").version == 1
    assert [e.detail["reason"] for e in _audit(app)] == ["年度复核，维持四星"]


def test_the_list_compares_levels_in_the_scope_and_downloads_csv(app):
    rev = Staff(app, "rev")
    page = rev.text("/staff/ratings")
    rows = re.findall(r'<tr data-station-id="([^"]+)" data-official="(\d?)" '
                      r'data-suggested="(\d?)"', page)
    # Yunlong's reviewer sees Yunlong only; YL2's official 4 is above its suggestion 0
    assert rows == [("YL1", "", "5"), ("YL2", "4", "0")]
    assert 'id="nav-ratings"' in page
    assert "示例" in page  # the sample station is labelled
    above = rev.text("/staff/ratings?above=1")
    assert re.findall(r'<tr data-station-id="([^"]+)"', above) == ["YL2"]
    assert "待复查" in above

    r = rev.get("/staff/ratings.csv?above=1")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/csv; charset=utf-8"
    text = r.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    table = list(csv.DictReader(io.StringIO(text[1:])))
    assert [(t["id"], t["official_level"], t["suggested_level"],
             t["official_above_suggestion"]) for t in table] == [("YL2", "4", "0", "yes")]
    assert "示例" in table[0]["notice"] and "手机充电（缺少）" in table[0]["next_star"]
    ev = _audit(app, "rating.export")
    assert len(ev) == 1 and ev[0].actor == "rev" and ev[0].detail["rows"] == 1

    # an admin with a national scope sees every district; a bad filter is noted, not fatal
    page = Staff(app, "admin1").text("/staff/ratings?type=nope")
    assert re.findall(r'<tr data-station-id="([^"]+)"', page) == ["QS1", "YL1", "YL2"]
    assert "nope" in page


def test_links_to_the_rating_page(app):
    yun = Staff(app, "yun")
    edit = yun.text("/staff/stations/YL1/edit")
    assert 'href="/staff/stations/YL1/rating" id="rating-link"' in edit
    assert 'id="nav-ratings"' not in edit  # an editor cannot rate: no nav entry


def test_the_public_page_shows_nothing_when_not_rated(app):
    page = app.test_client().get("/stations/YL1").get_data(as_text=True)
    assert 'class="star-level"' not in page
    page = app.test_client().get("/stations/QS1").get_data(as_text=True)
    assert 'data-star-level="2"' in page and "★★☆☆☆" in page and "二星级" in page

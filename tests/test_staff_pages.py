"""The staff station pages through the Flask test client, as an editor uses them: the
list (search, filters, sorting, paging), the create and edit form (district, validation
messages, duplicates), the conflict screen, closing, deleting, history.

One app and one database serve the whole module on each backend, SQLite and PostgreSQL
(creating accounts costs an argon2 hash each); tests that change stations make their own,
and list tests filter on the tiny sample set (``source=sample``), which no other test
changes.
"""

from __future__ import annotations

import html as htmllib
import re

import pytest
from staff_support import PW, StaffClient

from locator.stations.coords import wgs84_to_gcj02
from locator.web import create_app

YUNLONG = (117.23, 34.24)  # inside Yunlong district, 320303
QUANSHAN = (117.15, 34.23)  # inside Quanshan district, 320311
ROW_IDS = re.compile(r'<tr data-station-id="([^"]+)"')


@pytest.fixture(scope="module")
def registry(module_db_url, tiny_stations):
    from locator import Registry, StationStore

    store = StationStore(module_db_url, create=True)
    store.add_many(tiny_stations, actor="pytest")
    yield Registry(store)
    store.dispose()


@pytest.fixture(scope="module")
def app(registry):
    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})
    svc = app.extensions["locator.accounts"]
    for name, role, scope in (("admin1", "admin", ""), ("yun", "editor", "320303"),
                              ("look", "viewer", "320300")):
        svc.add_user(name, PW, role=role, scope=scope, actor="pytest")
    return app


class Staff(StaffClient):
    """A logged-in staff test client (tests/staff_support.py) with station helpers."""

    def ids(self, query: str) -> list[str]:
        return ROW_IDS.findall(self.text("/staff/stations?" + query))

    def create(self, name: str, lonlat=YUNLONG, **extra) -> str:
        data = {"name": name, "type": "outdoor_worker", "lon": str(lonlat[0]),
                "lat": str(lonlat[1]), "crs": "wgs84", "district_auto": "1", **extra}
        r = self.post("/staff/stations/new", data)
        assert r.status_code == 303, r.get_data(as_text=True)
        return re.search(r"/staff/stations/([^/]+)/edit", r.headers["Location"])[1]


@pytest.fixture(scope="module")
def yun(app):
    return Staff(app, "yun")


@pytest.fixture(scope="module")
def admin(app):
    return Staff(app, "admin1")


def _form_fields(page: str, form_id: str) -> list[tuple[str, str]]:
    """The hidden and text inputs of one form, as a browser would submit them."""
    form = re.search(rf'<form[^>]*id="{form_id}".*?</form>', page, re.S)[0]
    out = []
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]*)"', tag)
        if not name or name[1] == "csrf_token":
            continue
        if 'type="checkbox"' in tag and "checked" not in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        out.append((name[1], htmllib.unescape(value[1]) if value else ""))
    return out


def _edit_fields(page: str) -> list[tuple[str, str]]:
    """What the edit form submits unchanged: inputs plus each select's chosen option."""
    fields = _form_fields(page, "station-form")
    form = re.search(r'<form[^>]*id="station-form".*?</form>', page, re.S)[0]
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        first = re.search(r'<option value="([^"]*)"', body)
        fields.append((name, (chosen or first)[1]))
    return fields


def _with(fields: list[tuple[str, str]], **changes: str) -> list[tuple[str, str]]:
    out = [(k, changes.pop(k) if k in changes else v) for k, v in fields]
    return out + list(changes.items())


# --------------------------------------------------------------------------- list


@pytest.mark.parametrize("query, want", [
    ("q=母婴", ["T03"]),
    ("q=t04", ["T04"]),
    ("q=测试地址7", ["T07"]),
    ("type=mother_baby", ["T03"]),
    ("district=320303&source=sample", ["T04", "T07"]),
    ("district=320311&source=sample", ["T03", "T09"]),
    ("status=closed&source=sample", ["T06"]),
    ("status=temporarily_closed", ["T05"]),
    ("verified_before=2026-02-01&source=sample", ["T01", "T02"]),
    ("source=sample&type=driver_home", ["T08"]),
    ("source=sample&sort=name&type=outdoor_worker&district=320303", ["T07"]),
    ("source=sample&sort=-verified&per_page=5", ["T05", "T06", "T07", "T08", "T09"]),
    ("source=sample&per_page=5&page=2", ["T06", "T07", "T08", "T09", "T10"]),
    ("source=sample&type=nonsense&q=T1", ["T10"]),
], ids=["name", "id", "address", "type", "district", "district-2", "status", "temporarily",
        "verified-before", "source", "sorted-by-name", "newest-verified", "page-2",
        "bad-filter-ignored"])
def test_list_search_filters_sorting_paging(yun, query, want):
    assert yun.ids(query) == want


def test_list_pages_and_sorting_by_name(yun):
    page = yun.text("/staff/stations?source=sample&per_page=5")
    assert "第 1 / 2 页" in page and 'rel="next"' in page and 'rel="prev"' not in page
    names = re.findall(r'<td data-label="名称" class="name">(?:<a[^>]*>)?([^<]+)',
                       yun.text("/staff/stations?source=sample&sort=name"))
    assert names == sorted(names) and len(names) == 10


def test_rows_outside_the_scope_are_read_only(yun, admin):
    page = yun.text("/staff/stations?source=sample")
    assert 'href="/staff/stations/T04/edit"' in page and 'href="/staff/stations/T07/edit"' in page
    assert "/staff/stations/T03/edit" not in page and "/staff/stations/T01/edit" not in page
    assert "/staff/stations/T03/history" in page  # history is readable by every staff member
    assert "/staff/stations/T03/edit" in admin.text("/staff/stations?source=sample")


def test_viewer_sees_the_list_but_cannot_edit(app):
    look = Staff(app, "look")
    page = look.text("/staff/stations?source=sample")
    assert len(ROW_IDS.findall(page)) == 10 and "/edit" not in page
    assert "新建站点" not in page
    assert look.get("/staff/stations/new").status_code == 403
    assert look.get("/staff/stations/T04/edit").status_code == 403


# --------------------------------------------------------------------------- create


def test_create_fills_in_the_district(yun, registry):
    page = yun.text("/staff/stations/new")
    assert 'id="f-district"' in page and "云龙区" in page and "GCJ-02（高德、腾讯）" in page
    sid = yun.create("云龙新驿站", amenities="drinking_water",
                     opening_hours="Mo-Fr 08:00-20:00; PH off")
    st = registry.store.get(sid)
    assert (st.district_adcode, st.district_name) == ("320303", "云龙区")
    assert (st.lon, st.lat) == YUNLONG and st.source == "staff" and st.version == 1
    assert st.amenities == ("drinking_water",)
    edit = yun.text(f"/staff/stations/{sid}/edit?saved=1")
    assert "已保存" in edit and 'value="320303" selected' in edit
    assert sid in yun.ids("q=云龙新驿站")


def test_how_to_get_in_is_kept_from_the_form(yun, registry):
    page = yun.text("/staff/stations/new")
    assert "如何进门" in page and 'name="staffed_hours"' in page and "扫码开门" in page
    sid = yun.create("扫码驿站", amenities="toilet", staffed_hours="Mo-Fr 09:00-17:00",
                     entry_method="qr_code", entry_app="微信", entry_note="门禁在左侧",
                     toilet_access="customers", confirm_duplicates="1")
    st = registry.store.get(sid)
    assert (st.staffed_hours, st.entry_method, st.entry_app, st.entry_note,
            st.toilet_access) == ("Mo-Fr 09:00-17:00", "qr_code", "微信", "门禁在左侧",
                                  "customers")
    edit = yun.text(f"/staff/stations/{sid}/edit")
    assert 'value="Mo-Fr 09:00-17:00"' in edit and '<option value="qr_code" selected' in edit
    assert '<option value="customers" selected' in edit


def test_pasted_gcj02_coordinates_are_converted_on_the_server(yun, registry):
    glon, glat = wgs84_to_gcj02(117.2412, 34.2455)
    sid = yun.create("高德坐标驿站", (round(glon, 7), round(glat, 7)), crs="gcj02",
                     type="legal_aid")
    st = registry.store.get(sid)
    assert (st.lon, st.lat) == pytest.approx((117.2412, 34.2455), abs=2e-6)
    assert st.district_adcode == "320303"


def test_district_chosen_by_hand_wins(admin, registry):
    sid = admin.create("手选区县驿站", (117.2420, 34.2460), district_auto="0",
                       district_adcode="320311")
    assert registry.store.get(sid).district_adcode == "320311"
    assert registry.store.get(sid).district_name == "泉山区"


def test_editor_cannot_open_or_change_a_station_of_another_district(yun, registry):
    r = yun.get("/staff/stations/T03/edit")
    assert r.status_code == 403
    assert "320303" in r.get_data(as_text=True) and 'href="/staff/stations"' in r.get_data(
        as_text=True)  # the refusal names the scope and leads back to the list
    r = yun.post("/staff/stations/T03/edit", {"name": "改名", "type": "mother_baby",
                                              "lon": "117.18", "lat": "34.258",
                                              "version": "1"})
    assert r.status_code == 403
    assert yun.post("/staff/stations/T03/status", {"status": "closed"}).status_code == 403
    assert registry.store.get("T03").name == "测试母婴室"
    assert registry.store.get("T03").status == "open"


def test_editor_cannot_create_in_another_district(yun, registry):
    n = registry.store.count()
    r = yun.post("/staff/stations/new", {"name": "泉山驿站", "type": "outdoor_worker",
                                         "lon": str(QUANSHAN[0]), "lat": str(QUANSHAN[1]),
                                         "district_auto": "1"})
    assert r.status_code == 403
    page = r.get_data(as_text=True)
    assert "320303" in page and "泉山区" in page and 'id="err-district_adcode"' in page
    assert registry.store.count() == n


@pytest.mark.parametrize("field, value, words", [
    ("name", "", ["名称是必填项"]),
    ("lat", "95", ["纬度", "-90..90"]),
    ("lon", "东经117", ["经度", "不是数字"]),
    ("opening_hours", "Mo-Fr 25:00-26:00", ["开放时间格式有误", "Mo-Fr 08:00-20:00"]),
    ("phone", "call me", ["不是电话号码"]),
    ("type", "spa", ["类型", "母婴室"]),
    ("staffed_hours", "9点到5点", ["开放时间格式有误"]),
    ("entry_method", "魔法门", ["进入方式", "扫码开门"]),
], ids=["name", "lat", "lon", "hours", "phone", "type", "staffed", "entry"])
def test_validation_messages_name_the_field_in_chinese(yun, registry, field, value, words):
    n = registry.store.count()
    data = {"name": "校验驿站", "type": "outdoor_worker", "lon": str(YUNLONG[0]),
            "lat": str(YUNLONG[1]), "district_auto": "1", field: value}
    r = yun.post("/staff/stations/new", data)
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    err = re.search(rf'id="err-{field}"[^>]*>([^<]+)<', page)
    assert err, page
    for w in words:
        assert w in htmllib.unescape(err[1])
    assert f'value="{htmllib.escape(value)}"' in page or field in ("type", "entry_method")  # kept
    assert registry.store.count() == n
    # and a summary at the top, focused, linking to the field (it may be far below)
    top = re.search(r'id="form-error"[^>]*>([^<]+)<a href="#err-' + field, page)
    assert top and "未保存" in top[1]


def test_validation_messages_in_english_on_request(yun):
    r = yun.post("/staff/stations/new?lang=en", {"name": "", "type": "outdoor_worker",
                                                 "lon": "117.23", "lat": "34.24"})
    err = re.search(r'id="err-name"[^>]*>([^<]+)<', r.get_data(as_text=True))[1]
    assert err == "name is required and must not be empty"


def test_duplicate_warning_then_confirm(admin, app, registry):
    near_t04 = (117.20004, 34.27003)  # ~5 m from T04, the same type
    data = {"name": "另一个服务中心", "type": "service_centre", "lon": str(near_t04[0]),
            "lat": str(near_t04[1]), "district_auto": "1"}
    n = registry.store.count()
    r = admin.post("/staff/stations/new", data)
    assert r.status_code == 409 and registry.store.count() == n
    page = r.get_data(as_text=True)
    assert "确认不是重复站点，仍然保存" in page
    assert '<li data-station-id="T04">' in page and "测试服务中心" in page and "米" in page
    assert 'value="另一个服务中心"' in page  # nothing typed is lost
    r = admin.post("/staff/stations/new", {**data, "confirm_duplicates": "1"})
    assert r.status_code == 303
    assert registry.store.count() == n + 1
    ev = app.extensions["locator.accounts"].audit_events(action="station.create")[0]
    assert "T04" in ev.detail["duplicates_confirmed"]


# --------------------------------------------------------------------------- conflict


def test_stale_save_shows_both_versions_and_keep_mine_wins(app, admin, yun, registry):
    sid = yun.create("冲突驿站", (117.2430, 34.2470))
    mine = yun.text(f"/staff/stations/{sid}/edit")
    theirs = admin.text(f"/staff/stations/{sid}/edit")
    r = admin.post(f"/staff/stations/{sid}/edit",
                   _with(_edit_fields(theirs), name="对方改的名字", phone="0516-1111"))
    assert r.status_code == 303 and registry.store.get(sid).version == 2
    r = yun.post(f"/staff/stations/{sid}/edit", _with(_edit_fields(mine), name="我改的名字"))
    assert r.status_code == 409
    page = r.get_data(as_text=True)
    assert "对方改的名字" in page and "我改的名字" in page
    row = re.search(r'<tr data-field="name" class="differs">.*?</tr>', page, re.S)[0]
    assert row.index("对方改的名字") < row.index("我改的名字")  # theirs, then yours
    assert registry.store.get(sid).name == "对方改的名字"  # nothing saved yet
    r = yun.post(f"/staff/stations/{sid}/edit", _form_fields(page, "keep-mine-form"))
    assert r.status_code == 303
    st = registry.store.get(sid)
    assert (st.name, st.version) == ("我改的名字", 3)
    hist = [h.actor for h in app.extensions["locator.editor"].history(sid)]
    assert hist == ["yun", "admin1", "yun"]  # their version stays in the history


def test_merge_reopens_my_changes_on_their_version(admin, yun, registry):
    """The third way out of a conflict: my values in the form on top of their version;
    I keep their phone, keep my name, and save once: both edits survive."""
    sid = yun.create("合并驿站", (117.2520, 34.2560))
    mine = yun.text(f"/staff/stations/{sid}/edit")
    theirs = admin.text(f"/staff/stations/{sid}/edit")
    admin.post(f"/staff/stations/{sid}/edit", _with(_edit_fields(theirs), phone="0516-2222"))
    page = yun.post(f"/staff/stations/{sid}/edit",
                    _with(_edit_fields(mine), name="我的名字")).get_data(as_text=True)
    r = yun.post(f"/staff/stations/{sid}/edit", _form_fields(page, "edit-again-form"))
    assert r.status_code == 200 and registry.store.get(sid).version == 2  # not saved yet
    form = r.get_data(as_text=True)
    assert 'value="我的名字"' in form and 'name="version" value="2"' in form
    assert "第 2 版" in form
    r = yun.post(f"/staff/stations/{sid}/edit",
                 _with(_edit_fields(form), phone="0516-2222"))
    assert r.status_code == 303
    st = registry.store.get(sid)
    assert (st.name, st.phone, st.version) == ("我的名字", "0516-2222", 3)


def test_take_theirs_discards_mine(admin, yun, registry):
    sid = yun.create("放弃驿站", (117.2440, 34.2480))
    mine = yun.text(f"/staff/stations/{sid}/edit")
    theirs = admin.text(f"/staff/stations/{sid}/edit")
    admin.post(f"/staff/stations/{sid}/edit", _with(_edit_fields(theirs), name="对方版本"))
    page = yun.post(f"/staff/stations/{sid}/edit",
                    _with(_edit_fields(mine), name="我的版本")).get_data(as_text=True)
    link = re.search(r'id="take-theirs" href="([^"]+)"', page)[1]
    edit = yun.text(htmllib.unescape(link))
    assert 'value="对方版本"' in edit and 'name="version" value="2"' in edit
    st = registry.store.get(sid)
    assert (st.name, st.version) == ("对方版本", 2)


# --------------------------------------------------------------------------- status


def _nearest_ids(client, lonlat, k=5) -> list[str]:
    r = client.get(f"/api/v1/nearest?lon={lonlat[0]}&lat={lonlat[1]}&k={k}")
    return [x["id"] for x in r.get_json()["results"]]


def test_close_and_reopen(yun, registry):
    spot = (117.2450, 34.2490)
    sid = yun.create("关闭测试驿站", spot)
    assert _nearest_ids(yun.client, spot)[0] == sid
    r = yun.post(f"/staff/stations/{sid}/status", {"status": "closed", "version": "1"})
    assert r.status_code == 303
    assert "站点已关闭" in yun.text(r.headers["Location"])
    assert registry.store.get(sid).status == "closed"
    assert sid not in _nearest_ids(yun.client, spot)
    assert sid in yun.ids("status=closed")  # still listed for staff
    # a stale version is refused, nothing changes
    r = yun.post(f"/staff/stations/{sid}/status", {"status": "open", "version": "1"})
    assert "已被他人修改" in yun.text(r.headers["Location"])
    assert registry.store.get(sid).status == "closed"
    yun.post(f"/staff/stations/{sid}/status", {"status": "open", "version": "2"})
    assert _nearest_ids(yun.client, spot)[0] == sid


def test_delete_and_restore(yun, registry):
    sid = yun.create("删除测试驿站", (117.2460, 34.2500))
    r = yun.post(f"/staff/stations/{sid}/delete", {"version": "1"})
    assert r.status_code == 303
    assert registry.store.is_deleted(sid)
    assert sid not in yun.ids("q=删除测试驿站")
    assert yun.ids("q=删除测试驿站&deleted=1") == [sid]
    page = yun.text(f"/staff/stations/{sid}/edit")
    assert "此站点已删除" in page and 'id="restore"' in page and 'id="save" disabled' in page
    assert re.search(r'id="current-status">已删除<', page)
    r = yun.post(f"/staff/stations/{sid}/restore", {})
    assert r.status_code == 303 and not registry.store.is_deleted(sid)
    assert yun.ids("q=删除测试驿站") == [sid]


# --------------------------------------------------------------------------- history


def test_history_diff_and_restore_a_version(yun, registry):
    sid = yun.create("历史驿站", (117.2470, 34.2510), phone="0516-2222")
    page = yun.text(f"/staff/stations/{sid}/edit")
    yun.post(f"/staff/stations/{sid}/edit", _with(_edit_fields(page), name="历史驿站（改名）",
                                                  phone="0516-3333"))
    hist = yun.text(f"/staff/stations/{sid}/history")
    assert "第 2 版" in hist and "修改" in hist and "yun" in hist
    diff = re.search(r'<li class="history-entry" data-version="2">.*?</li>', hist, re.S)[0]
    assert "<del>历史驿站</del>" in diff and "<ins>历史驿站（改名）</ins>" in diff
    assert "<del>0516-2222</del>" in diff and "<ins>0516-3333</ins>" in diff
    assert 'id="restore-1"' in hist and 'id="restore-2"' not in hist  # 2 is current
    r = yun.post(f"/staff/stations/{sid}/restore-version", {"restore": "1", "version": "2"})
    assert r.status_code == 303
    st = registry.store.get(sid)
    assert (st.name, st.phone, st.version) == ("历史驿站", "0516-2222", 3)
    # stale: "current" version 2 is no longer current
    r = yun.post(f"/staff/stations/{sid}/restore-version", {"restore": "2", "version": "2"})
    assert "已被他人修改" in yun.text(r.headers["Location"])
    assert registry.store.get(sid).version == 3


# --------------------------------------------------------------------------- safety


EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_script_in_texts_renders_as_text_everywhere(admin, registry):
    sid = admin.create(EVIL, (117.2480, 34.2520), address=EVIL, operator=EVIL)
    assert registry.store.get(sid).name == EVIL
    page = admin.text(f"/staff/stations/{sid}/edit")
    other = admin.text(f"/staff/stations/{sid}/edit")
    admin.post(f"/staff/stations/{sid}/edit", _with(_edit_fields(page), name=EVIL + "2"))
    conflict = admin.post(f"/staff/stations/{sid}/edit",
                          _with(_edit_fields(other), address=EVIL + "3")).get_data(as_text=True)
    for path_page in (admin.text("/staff/stations?q=script"), page,
                      admin.text(f"/staff/stations/{sid}/history"), conflict):
        assert "<script>alert" not in path_page and "<img src=x" not in path_page
        assert "&lt;script&gt;alert" in path_page


def test_forms_need_the_csrf_token(yun, registry):
    r = yun.client.post("/staff/stations/new", data={"name": "无令牌", "type": "outdoor_worker",
                                                     "lon": "117.23", "lat": "34.24"})
    assert r.status_code == 403
    r = yun.client.post("/staff/stations/T04/status", data={"status": "closed"})
    assert r.status_code == 403 and registry.store.get("T04").status == "open"


def test_logged_out_visitors_go_to_the_login_page(app):
    r = app.test_client().get("/staff/stations/T04/edit")
    assert r.status_code == 302 and "/staff/login" in r.headers["Location"]


# --------------------------------------------------------------------------- JSON helpers


def test_district_helper_converts_and_locates(yun):
    glon, glat = wgs84_to_gcj02(*YUNLONG)
    body = yun.get(f"/staff/api/district?lon={glon}&lat={glat}&crs=gcj02&map_crs=gcj02"
                   ).get_json()
    assert body["wgs84"] == pytest.approx(list(YUNLONG), abs=1e-6)
    assert body["map"] == pytest.approx([glon, glat], abs=1e-6)
    assert body["district"] == {"adcode": "320303", "name": "云龙区"}
    r = yun.get("/staff/api/district?lon=200&lat=34")
    assert r.status_code == 400 and "经度" in r.get_json()["error"]
    far = yun.get("/staff/api/district?lon=121.47&lat=31.23").get_json()
    assert far["district"] is None


def test_hours_helper_previews_in_the_page_language(yun):
    body = yun.get("/staff/api/hours?spec=Mo-Fr 08:00-20:00; PH off").get_json()
    assert body["valid"] and body["text"] == "周一至周五 08:00–20:00，法定节假日不开放"
    assert body["open_now"] in ("open", "closed")
    bad = yun.get("/staff/api/hours?spec=Mo-Fr 8-20").get_json()
    assert not bad["valid"] and "开放时间格式有误" in bad["error"]
    en = yun.get("/staff/api/hours?lang=en&spec=24/7").get_json()
    assert en["open_now"] == "open" and "24" in en["text"]


def test_duplicates_helper(yun):
    body = yun.get("/staff/api/duplicates?lon=117.20004&lat=34.27003&type=service_centre"
                   "&name=x").get_json()
    assert "T04" in [h["id"] for h in body["hits"]]
    assert all("米" in h["message"] for h in body["hits"])
    body = yun.get("/staff/api/duplicates?lon=117.20004&lat=34.27003&type=service_centre"
                   "&name=x&exclude=T04").get_json()
    assert "T04" not in [h["id"] for h in body["hits"]]

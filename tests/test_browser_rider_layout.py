"""The rider pages' layout and feedback on a 390 x 844 phone, in real headless Chromium.

The nearest station's card is on screen after locating, notes never cover the map's
markers and can be closed, overlapping markers are spread or grouped, every tap target
is at least 44 x 44 CSS px, a failed search clears the old results and says why in
Chinese, the address bar reproduces a search, and a point far from every station gets
the distance horizon's answer instead of an 11,000-minute walk.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlparse

import pytest
from conftest_browser import (
    LIST_IDS,
    PHONE,
    XUZHOU,
    live_server,
    phone_page,
    registry_of,
    require_chromium,
    xss_stations,
)

from locator.cli.demo import load_sample_stations
from locator.web import create_app

require_chromium(module=True)

#: A Xuzhou point a little away from the two stations that sit on XUZHOU itself.
POINT = (117.2012, 34.2705)
#: Tian'anmen, Beijing: some 565 km from the nearest Xuzhou sample station.
BEIJING = (116.3975, 39.9087)

#: Visible tap targets and their boxes. A visually hidden input (a chip or a segment)
#: is tapped through its label, so the label is measured; elements inside a closed
#: <details> or hidden are skipped (checkVisibility).
TAP_TARGETS = """(scope) => {
  const root = scope ? document.querySelector(scope) : document;
  const out = [];
  for (const e of root.querySelectorAll('a, button, [role=button], input, summary')) {
    const label = e.tagName === 'INPUT' ? e.closest('label') : null;
    const t = label || e;
    if (!t.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
    if (e.tagName === 'INPUT' && e.type === 'hidden') continue;
    const r = t.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const cls = e.className && e.className.baseVal !== undefined ? e.className.baseVal
                                                                 : e.className;
    out.push({ tag: e.tagName, cls: String(cls), w: r.width, h: r.height,
               text: (t.textContent || e.name || '').trim().slice(0, 30) });
  }
  return out; }"""

#: Boxes (page coordinates) of what a note must never cover on a map: DOM markers, the
#: rider's own position, popups, and the canvas-drawn stations of /map.
MAP_THINGS = """() => {
  const boxes = [];
  const add = (r) => boxes.push({ x: r.left + scrollX, y: r.top + scrollY, w: r.width,
                                  h: r.height });
  document.querySelectorAll('.leaflet-marker-icon, .leaflet-popup, .my-position, ' +
                            '.leaflet-interactive').forEach(e => add(e.getBoundingClientRect()));
  for (const key of ['stations', 'rider', 'station']) {
    const e = LocatorMaps.get(key);
    if (!e) continue;
    const c = e.map.getContainer().getBoundingClientRect();
    const disc = (x, y, r) => add({ left: c.left + x - r, top: c.top + y - r,
                                    width: 2 * r, height: 2 * r });
    // Circle markers (the rider's position, the station page's pin) may be on a canvas.
    e.map.eachLayer(l => { if (l instanceof L.CircleMarker) {
      const p = e.map.latLngToContainerPoint(l.getLatLng());
      disc(p.x, p.y, l.getRadius() + 2); } });
    if (e.map._locatorCluster) {
      e.map._locatorCluster.drawnMarkers().forEach(m => disc(m.x, m.y, m.r));
    }
  }
  return boxes; }"""
NOTES = """() => [...document.querySelectorAll('.locator-note')].map(e => {
  const r = e.getBoundingClientRect();
  return { x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height,
           text: e.textContent }; })"""


def _app(registry, **config):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none", **config})


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """The shipped Xuzhou sample stations plus two a few metres apart on XUZHOU."""
    path = tmp_path_factory.mktemp("layout") / "sample.sqlite"
    with registry_of(path, load_sample_stations() + xss_stations()) as reg:
        yield reg


@pytest.fixture(scope="module")
def base_url(registry):
    with live_server(_app(registry)) as url:
        yield url


@pytest.fixture()
def phone(browser):
    """Yields ``make(point=None, **context options) -> (page, errors)``: a 390 x 844
    touch phone in Chinese, with the location granted at ``point`` when given; nothing
    may load from another host."""
    contexts = []

    def make(point=None, **options):
        return phone_page(browser, contexts, point, **options)

    yield make
    for ctx in contexts:
        ctx.close()


def _nearest_ids(registry, point, **kw):
    return [r.id for r in registry.index.nearest(*point, 10, **kw)]


def _wait_list(page, want):
    """The list shows ``want`` from the server's answer (not the phone's saved copy, which
    may be drawn first and is then redrawn)."""
    page.wait_for_function(f"(want) => JSON.stringify(({LIST_IDS})()) === JSON.stringify(want)"
                           " && document.body.dataset.searchState === 'done'", arg=want)


def _inside_viewport(box, viewport=PHONE):
    return (box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= viewport["width"]
            and box["y"] + box["height"] <= viewport["height"])


def _intersects(a, b):
    return a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and \
        a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


def _small(targets):
    return [t for t in targets if t["w"] < 44 - 0.01 or t["h"] < 44 - 0.01]


# --------------------------------------------------------------------------- nearest card


ARRIVAL_TEXTS = ("到达时营业中", "到达时已关门", "营业时间未知")


def _check_card(page, registry, want_id):
    card = page.locator("#nearest .nearest-card")
    card.wait_for()
    assert card.get_attribute("data-station-id") == want_id
    box = card.bounding_box()
    assert _inside_viewport(box), box
    st = registry.index.get(want_id)
    assert card.locator(".nc-name").inner_text() == st.name
    assert re.fullmatch(r"\d+ 米|\d+\.\d 公里", card.locator(".nc-dist").inner_text())
    assert re.fullmatch(r"(步行|骑车|电动车)约 \d+ 分钟", card.locator(".nc-eta").inner_text())
    assert card.locator(".open-state").inner_text().startswith(
        ("营业中", "已打烊", "时间未知", "反馈未开放"))
    arrival = card.locator(".arrival")
    if arrival.count():
        text = arrival.inner_text()
        assert text in ARRIVAL_TEXTS or re.fullmatch(r"到达后 \d+ 分钟关门", text), text
    nav = card.locator("a.nc-nav")
    assert nav.inner_text().startswith("导航")
    assert nav.get_attribute("href").startswith("https://uri.amap.com/navigation")
    nav_box = nav.bounding_box()
    assert _inside_viewport(nav_box) and nav_box["height"] >= 48  # one big button


def test_nearest_card_is_on_screen_after_locating(phone, base_url, registry):
    page, errors = phone(POINT)
    page.goto(base_url + "/")
    page.uncheck("#f-open")
    page.click("#locate")
    want = _nearest_ids(registry, POINT)
    _wait_list(page, want)
    assert page.evaluate("scrollY") == 0  # nobody scrolled
    _check_card(page, registry, want[0])
    # The rest of the list follows the card and the map.
    card_box = page.locator("#nearest").bounding_box()
    map_box = page.locator(".rider-map").bounding_box()
    list_box = page.locator("#results").bounding_box()
    assert card_box["y"] + card_box["height"] <= map_box["y"] <= list_box["y"]
    assert errors == []


def test_nearest_card_is_on_screen_after_a_manual_search(phone, base_url, registry):
    page, errors = phone()  # no location permission: the rider types coordinates
    page.goto(base_url + "/")
    page.uncheck("#f-open")
    page.click("#manual summary")
    page.fill("#f-lon", f"{POINT[0]}")
    page.fill("#f-lat", f"{POINT[1]}")
    page.click("#manual-search")
    want = _nearest_ids(registry, POINT)
    _wait_list(page, want)
    _check_card(page, registry, want[0])
    assert errors == []


# --------------------------------------------------------------------------- notes


@pytest.fixture(scope="module")
def osm_url(registry):
    """The app with OpenStreetMap tiles, which cannot load here (the tile note shows)."""
    with live_server(_app(registry, LOCATOR_TILES="osm")) as url:
        yield url


def _tile_notes(page):
    page.wait_for_selector(".locator-note.tile-error")
    notes = page.evaluate(NOTES)
    assert notes
    return notes


def _assert_notes_clear(page):
    notes = page.evaluate(NOTES)
    things = page.evaluate(MAP_THINGS)
    assert things
    for n in notes:
        for t in things:
            assert not _intersects(n, t), (n, t)


def _no_external_but_tiles(errors):
    return [e for e in errors if "tile.openstreetmap.org" not in e
            and "Failed to load resource" not in e]


def test_map_notes_never_cover_markers_and_can_be_closed(phone, osm_url):
    page, errors = phone(POINT)
    # Rider page: the tile note, the pins and the rider's own position.
    page.goto(osm_url + "/")
    page.uncheck("#f-open")
    page.click("#locate")
    page.wait_for_selector(".rider-map .rank-pin")
    # the server's answer, not the saved copy drawn before it
    page.wait_for_function("() => document.body.dataset.searchState === 'done'")
    _tile_notes(page)
    assert page.evaluate("""() => { let n = 0; LocatorMaps.get('rider').map.eachLayer(l => {
        if (l instanceof L.CircleMarker && l.options.className === 'my-position') n++; });
        return n; }""") == 1
    _assert_notes_clear(page)

    # Station page in English: the station's only marker.
    page.goto(osm_url + "/stations/XZ-SAMPLE-0001?lang=en")
    notes = _tile_notes(page)
    assert "could not be loaded" in notes[0]["text"]
    _assert_notes_clear(page)

    # /map: the sample note, the tile note, cluster bubbles, dots and an open popup.
    page.goto(osm_url + "/map?lang=zh")
    page.wait_for_selector(".st-cluster")
    _tile_notes(page)
    assert any("示例数据" in n["text"] for n in page.evaluate(NOTES))
    page.evaluate("LocatorMaps.get('stations').map._locatorCluster.openStation('XZ-SAMPLE-0001')")
    page.locator(".st-popup .alt-link").first.wait_for()
    _assert_notes_clear(page)
    # The popup's title is not under a map control either, once the pan that makes
    # room for it (animated, redone when the details arrive) has ended.
    page.wait_for_function("""() => {
      const t = document.querySelector('.st-popup-name').getBoundingClientRect();
      return [...document.querySelectorAll('.leaflet-control')].every(c => {
        const r = c.getBoundingClientRect();
        return r.width === 0 || t.right <= r.left || r.right <= t.left
            || t.bottom <= r.top || r.bottom <= t.top; }); }""")
    title = page.locator(".st-popup-name").bounding_box()
    for i in range(page.locator(".leaflet-control").count()):
        ctl = page.locator(".leaflet-control").nth(i).bounding_box()
        if ctl:
            assert not _intersects(
                {"x": title["x"], "y": title["y"], "w": title["width"], "h": title["height"]},
                {"x": ctl["x"], "y": ctl["y"], "w": ctl["width"], "h": ctl["height"]})
    _assert_notes_clear(page)

    # Closing a note: it goes, and stays closed for the session (other pages too).
    sample = page.locator(".locator-note.sample-note")
    close = sample.locator("button.locator-note-close")
    assert close.get_attribute("aria-label") == "关闭此提示"
    close.click()
    assert sample.count() == 0
    page.locator(".locator-note.tile-error button").click()
    page.reload()
    page.wait_for_selector(".st-cluster")
    page.wait_for_timeout(300)
    assert page.locator(".locator-note").count() == 0
    page.goto(osm_url + "/stations/XZ-SAMPLE-0001")
    page.wait_for_timeout(300)
    assert page.locator(".locator-note.tile-error").count() == 0
    # A new session shows them again.
    other, _ = phone()
    other.goto(osm_url + "/map")
    other.wait_for_selector(".locator-note.sample-note")
    assert _no_external_but_tiles(errors) == []


# --------------------------------------------------------------------------- markers


def test_overlapping_rider_pins_are_spread_and_each_can_be_tapped(phone, base_url, registry):
    page, errors = phone(XUZHOU)  # XSS1 and XSS2 are a few metres from here
    page.goto(base_url + "/")
    page.uncheck("#f-open")
    page.click("#locate")
    want = _nearest_ids(registry, XUZHOU)
    assert set(want[:2]) == {"XSS1", "XSS2"}
    _wait_list(page, want)
    # the map library arrives after the first result; the pins are drawn then
    page.wait_for_function("() => document.querySelectorAll('.rider-map .rank-pin').length"
                           " === 10")
    for zoom in (None, 13):
        if zoom is not None:
            page.evaluate(f"() => {{ LocatorMaps.get('rider').map.setZoom({zoom}, "
                          "{animate: false}); }")
            page.wait_for_timeout(200)
        pins = page.locator(".rider-map .rank-pin")
        assert pins.count() == 10
        boxes = [pins.nth(i).bounding_box() for i in range(10)]
        here = page.evaluate("""() => { const e = LocatorMaps.get('rider'); let out = null;
            const c = e.map.getContainer().getBoundingClientRect();
            e.map.eachLayer(l => { if (l.options && l.options.className === 'my-position') {
                const p = e.map.latLngToContainerPoint(l.getLatLng());
                out = { x: c.left + p.x - 8, y: c.top + p.y - 8, w: 16, h: 16 }; } });
            return out; }""")
        for b in boxes:  # (page and viewport coordinates agree: the page is not scrolled)
            assert not _intersects(here, {"x": b["x"], "y": b["y"], "w": b["width"],
                                          "h": b["height"]}), (here, b)
        for i, a in enumerate(boxes):
            assert a["width"] >= 44 and a["height"] >= 44
            for b in boxes[i + 1:]:
                assert not _intersects(
                    {"x": a["x"], "y": a["y"], "w": a["width"], "h": a["height"]},
                    {"x": b["x"], "y": b["y"], "w": b["width"], "h": b["height"]}), (a, b)
    # A tap on each pin picks its own station in the list (the map's markers stay at the
    # stations' true positions; only their icons are spread).
    page.evaluate("() => { LocatorMaps.get('rider').map.setZoom(17, {animate: false}); }")
    page.wait_for_timeout(200)
    for rank, sid in ((1, want[0]), (2, want[1])):
        pin = page.locator(".rider-map .rank-pin", has_text=re.compile(f"^{rank}$"))
        pin.scroll_into_view_if_needed()
        box = pin.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector(f"#results li.result.focused[data-station-id={sid}]")
    true = page.evaluate("""() => { const out = [];
        LocatorMaps.get('rider').map.eachLayer(l => { if (l instanceof L.Marker) {
            const ll = l.getLatLng(); out.push([ll.lng, ll.lat]); } }); return out; }""")
    st = registry.index.get(want[0])
    assert [st.lon, st.lat] in [pytest.approx(p, abs=1e-9) for p in true]
    assert errors == []


def test_map_markers_never_overlap_at_any_zoom(phone, base_url):
    page, errors = phone()
    page.goto(base_url + "/map")
    page.wait_for_selector(".st-cluster")
    for zoom in (9, 11, 13, 15, 17, 18):
        page.evaluate(f"() => {{ const m = LocatorMaps.get('stations').map; "
                      f"m.setView([{XUZHOU[1]}, {XUZHOU[0]}], {zoom}, {{animate: false}}); }}")
        page.wait_for_function(f"() => LocatorMaps.get('stations').map.getZoom() === {zoom}")
        page.wait_for_timeout(120)  # the redraw runs on the next animation frame
        drawn = page.evaluate("() => LocatorMaps.get('stations').map._locatorCluster"
                              ".drawnMarkers()")
        assert drawn, zoom
        for i, a in enumerate(drawn):
            assert a["r"] >= 22
            for b in drawn[i + 1:]:
                d = ((a["x"] - b["x"]) ** 2 + (a["y"] - b["y"]) ** 2) ** 0.5
                assert d >= a["r"] + b["r"] - 0.5, (zoom, a, b)
        # Every station in view is in exactly one drawn marker.
        visible = int(page.get_attribute(".stations-map", "data-visible-stations"))
        assert sum(m["n"] for m in drawn) == visible
    # At the highest zoom the two stations a few metres apart are one bubble, which
    # lists both to tap.
    bubble = page.locator(".st-cluster", has_text=re.compile(r"^2$"))
    bubble.first.click()
    popup = page.locator(".st-popup-list")
    popup.wait_for()
    names = popup.locator("button.linklike").all_inner_texts()
    assert len(names) == 2
    popup.locator("button.linklike").first.click()
    page.locator(".st-popup[data-station-id]").wait_for()
    assert errors == []


# --------------------------------------------------------------------------- tap targets


def test_every_tap_target_is_at_least_44_px(phone, base_url, registry):
    page, errors = phone(POINT)
    page.goto(base_url + "/")
    page.uncheck("#f-open")
    page.click("#locate")
    _wait_list(page, _nearest_ids(registry, POINT))
    page.click("#filters summary")
    page.click(".more summary")
    page.click("#manual summary")
    targets = page.evaluate(TAP_TARGETS, None)
    kinds = {t["cls"] for t in targets}
    # The walkthrough's small ones are among those measured.
    assert any("alt-link" in k for k in kinds) and any("leaflet-control-zoom" in k
                                                       for k in kinds)
    assert sum(1 for t in targets if t["tag"] == "INPUT") >= 10  # chips, segments
    assert _small(targets) == []

    for path in ("/stations/XZ-SAMPLE-0001", "/stations/XZ-SAMPLE-0001?lang=en"):
        page.goto(base_url + path)
        targets = page.evaluate(TAP_TARGETS, None)
        assert any(t["tag"] == "A" and "btn" in t["cls"] for t in targets)
        assert _small(targets) == [], path

    page.goto(base_url + "/map?lang=zh")
    page.wait_for_selector(".st-cluster")
    page.evaluate("LocatorMaps.get('stations').map._locatorCluster.openStation('XZ-SAMPLE-0001')")
    page.locator(".st-popup .alt-link").first.wait_for()
    targets = page.evaluate(TAP_TARGETS, ".leaflet-popup")
    texts = {t["text"] for t in targets}
    assert {"详情", "百度地图", "腾讯地图"} <= texts
    assert any("leaflet-popup-close-button" in t["cls"] for t in targets)
    assert _small(targets) == []
    bubbles = page.evaluate(TAP_TARGETS, ".leaflet-marker-pane")
    assert _small(bubbles) == []
    assert errors == []


# --------------------------------------------------------------------------- failures


def test_failed_search_clears_results_and_speaks_chinese(phone, base_url, registry):
    page, errors = phone(POINT)
    page.goto(base_url + "/")
    page.uncheck("#f-open")
    page.click("#locate")
    _wait_list(page, _nearest_ids(registry, POINT))
    page.click("#manual summary")
    page.fill("#f-lon", "200")
    page.fill("#f-lat", "34.26")
    page.click("#manual-search")
    page.wait_for_selector("#status.error")
    status = page.locator("#status").inner_text()
    assert status.startswith("查询失败：") and "经度 lon" in status, status
    assert not re.search(r"out of range|allowed|is not", status), status
    assert page.evaluate(LIST_IDS) == []
    assert page.locator("#nearest").is_hidden()
    assert page.locator(".rider-map .rank-pin").count() == 0
    # Swapped lat/lon: the API's hint, offered as one tap.
    page.fill("#f-lon", "34.2705")
    page.fill("#f-lat", "117.2012")
    page.click("#manual-search")
    suggest = page.locator("#suggest button")
    suggest.wait_for()
    assert suggest.inner_text() == "是否要查 lon=117.2012, lat=34.2705？"
    assert page.evaluate(LIST_IDS) == []
    suggest.click()
    _wait_list(page, _nearest_ids(registry, POINT))
    assert page.locator("#suggest").is_hidden()
    assert page.input_value("#f-lon") == "117.2012"
    # In English, the API's English.
    page.goto(base_url + "/?lang=en")
    page.click("#manual summary")
    page.fill("#f-lon", "200")
    page.fill("#f-lat", "34.26")
    page.click("#manual-search")
    page.wait_for_selector("#status.error")
    assert page.locator("#status").inner_text().startswith("Search failed: lon")
    assert [e for e in errors if "400" not in e] == []


# --------------------------------------------------------------------------- address bar


def test_the_address_bar_reproduces_the_search(phone, base_url, registry, browser):
    page, errors = phone(POINT)
    page.goto(base_url + "/")
    page.uncheck("#f-open")
    page.click("#locate")
    _wait_list(page, _nearest_ids(registry, POINT))
    page.click(".seg:has(input[value=ebike])")
    page.click("#filters summary")
    page.check("input[name=amenity][value=drinking_water]")
    want = _nearest_ids(registry, POINT, amenities=["drinking_water"])
    _wait_list(page, want)
    page.wait_for_function("() => document.querySelector('#results .r-eta')"
                           ".textContent.startsWith('电动车约')")
    url = page.url
    q = parse_qs(urlparse(url).query)
    assert q["mode"] == ["ebike"] and q["amenity"] == ["drinking_water"]
    assert q["open_now"] == ["false"] and q["crs"] == ["wgs84"]
    assert float(q["lon"][0]) == pytest.approx(POINT[0], abs=1e-6)
    first_card = page.locator("#nearest .nearest-card").get_attribute("data-station-id")
    assert first_card == want[0]

    # The link in a new page (no location permission): the same results.
    other, other_errors = phone()
    other.goto(url)
    _wait_list(other, want)
    assert other.locator("#nearest .nearest-card").get_attribute("data-station-id") == want[0]
    assert other.is_checked("input[name=mode][value=ebike]")
    assert other.is_checked("input[name=amenity][value=drinking_water]")
    assert not other.is_checked("#f-open")
    # Without JavaScript the server renders the same list and card.
    nojs, _ = phone(java_script_enabled=False)
    nojs.goto(url)
    items = nojs.locator("#results li.result")
    assert [items.nth(i).get_attribute("data-station-id") for i in range(items.count())] == want
    assert nojs.locator("#nearest .nearest-card").get_attribute("data-station-id") == want[0]
    assert "电动车约" in nojs.locator("#nearest .nc-eta").inner_text()
    assert errors == [] and other_errors == []


# --------------------------------------------------------------------------- horizon


def test_a_point_far_from_every_station_gets_the_horizon_answer(phone, base_url, registry):
    started = registry.index.nearest(*BEIJING, 1, open_at=datetime.now(timezone.utc))[0]
    page, errors = phone(BEIJING)
    page.goto(base_url + "/")
    page.click("#locate")
    page.wait_for_selector("#nearest .nearest-far")
    # the server's answer, not the saved copy drawn before it
    page.wait_for_function("() => document.body.dataset.searchState === 'done'")
    assert page.locator("#status").inner_text() == "附近 20 公里内没有站点"
    # The page asks for stations open now (its default), so the one it names is the
    # nearest open one; the clock may cross a station's opening between the page's
    # query and this check, hence either moment's answer.
    where = page.locator("#nearest .nc-far-where").inner_text()
    ended = registry.index.nearest(*BEIJING, 1, open_at=datetime.now(timezone.utc))[0]
    names = {started.name, ended.name}
    assert any(n in where for n in names) and "徐州市" in where, (names, where)
    assert re.search(r"直线距离 5\d\d\.\d 公里", where), where
    assert page.locator("#nearest").bounding_box()["y"] < PHONE["height"]
    # No walking minutes and no navigation anywhere on the page.
    body = page.locator("main").inner_text()
    assert "分钟" not in body and "步行约" not in body
    assert page.locator("a.btn-nav:visible, a.nc-nav").count() == 0
    assert page.evaluate(LIST_IDS) == []
    assert page.locator(".rider-map .rank-pin").count() == 0
    assert errors == []

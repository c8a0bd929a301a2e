"""The large-text mode (长辈版) in real headless Chromium on a 390 x 844 phone.

The toggle in the top bar (a real button, keyboard usable, at least 44 px) switches the
page in place: body text of at least 20 px, lines at least 1.3 apart, the rider page's
"more amenities" chips gone, 48-px tap targets, one column, nothing wider than the
screen at 390 and 360 px, and the nearest card still on screen after locating. The
choice persists (a cookie: reloads, /map, station pages, a poster link), a page kept by
the service worker from before the choice is corrected, and without JavaScript the
toggle works as a form.
"""

from __future__ import annotations

import pytest
from conftest_browser import (
    LIST_IDS,
    PHONE,
    live_server,
    phone_page,
    registry_of,
    require_chromium,
    xss_stations,
)

from locator.cli.demo import load_sample_stations
from locator.web import create_app
from locator.web.rider.pages import MAIN_AMENITIES

require_chromium(module=True)

#: A Xuzhou point a little away from the two stations that sit on XUZHOU itself.
POINT = (117.2012, 34.2705)
STATION = "/stations/XZ-SAMPLE-0001"

#: Every visible element outside the maps that has text of its own: its font size and
#: line height in px (None for "normal", which is not a number one can check).
TEXTS = """(scope) => {
  const out = [];
  for (const root of document.querySelectorAll(scope)) {
    for (const e of [root, ...root.querySelectorAll('*')]) {
      if (e.closest('.leaflet-container')) continue;
      if (!e.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
      if (![...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
      const cs = getComputedStyle(e);
      out.push({ tag: e.tagName, cls: String(e.className),
                 text: e.textContent.trim().slice(0, 24),
                 fs: parseFloat(cs.fontSize),
                 lh: cs.lineHeight === 'normal' ? null : parseFloat(cs.lineHeight) });
    }
  }
  return out; }"""

#: Visible tap targets (a chip's or a segment's hidden input is tapped through its label).
TARGETS = """(scope) => {
  const out = [];
  for (const e of document.querySelectorAll(scope + ' :is(a, button, summary, select, input)')) {
    if (e.type === 'hidden') continue;
    const t = (e.tagName === 'INPUT' && e.closest('label')) || e;
    if (!t.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
    const r = t.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    out.push({ tag: e.tagName, cls: String(t.className.baseVal ?? t.className),
               map: !!e.closest('.leaflet-control-attribution'),
               text: (t.textContent || e.name || '').trim().slice(0, 24),
               w: r.width, h: r.height });
  }
  return out; }"""

#: Elements wider than the screen or sticking out of it (the maps' panes move their
#: layers around inside a clipped box and are left out), and the page's scroll width.
OVERFLOW = """() => {
  const w = document.documentElement.clientWidth, out = [];
  for (const e of document.querySelectorAll('body *')) {
    if (e.closest('.leaflet-pane, .leaflet-control-container')) continue;
    const r = e.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.width > w + 0.5 || r.left < -0.5 || r.right > w + 0.5) {
      out.push({ tag: e.tagName, cls: String(e.className), left: r.left, width: r.width });
    }
  }
  return { scroll: document.documentElement.scrollWidth, width: w, wide: out }; }"""

IS_LARGE = """() => document.documentElement.classList.contains('large-text')
  && document.body.classList.contains('large-text')
  && parseFloat(getComputedStyle(document.body).fontSize) >= 20"""
IS_NORMAL = """() => !document.documentElement.classList.contains('large-text')
  && !document.body.classList.contains('large-text')
  && parseFloat(getComputedStyle(document.body).fontSize) === 16"""


def _app(registry):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """The shipped Xuzhou sample stations plus two a few metres apart in the centre."""
    path = tmp_path_factory.mktemp("large") / "sample.sqlite"
    with registry_of(path, load_sample_stations() + xss_stations()) as reg:
        yield reg


@pytest.fixture(scope="module")
def base_url(registry):
    with live_server(_app(registry)) as url:
        yield url


@pytest.fixture()
def phone(browser, base_url):
    """``make(point=None, large=None, **context options) -> (page, errors)``: a touch
    phone in Chinese (390 x 844 unless told), with the location granted at ``point``
    and the cookie ``large`` preset when given; nothing may load from another host."""
    contexts = []

    def make(point=None, large=None, **options):
        before = len(contexts)
        page, errors = phone_page(browser, contexts, point, **options)
        if large is not None:
            contexts[before].add_cookies([{"name": "large", "value": large,
                                           "url": base_url + "/"}])
        return page, errors

    yield make
    for ctx in contexts:
        ctx.close()


def _cookie(page):
    return {c["name"]: c["value"] for c in page.context.cookies()}.get("large")


def _inside(box, viewport=PHONE):
    return (box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= viewport["width"]
            and box["y"] + box["height"] <= viewport["height"])


def _assert_large_text(page, scope):
    texts = page.evaluate(TEXTS, scope)
    assert len(texts) >= 5, (scope, texts)
    small = [t for t in texts if t["fs"] < 20 - 0.01]
    assert small == [], small
    tight = [t for t in texts if t["lh"] is None or t["lh"] < 1.3 * t["fs"] - 0.01]
    assert tight == [], tight


def _assert_targets(page, scope="body", *, least=44):
    """Every tap target in ``scope`` is at least ``least`` px (a map's credit links at
    least 44)."""
    targets = page.evaluate(TARGETS, scope)
    assert targets
    small = [t for t in targets if min(t["w"], t["h"]) < (44 if t["map"] else least) - 0.01]
    assert small == [], small
    return targets


def _assert_fits(page):
    got = page.evaluate(OVERFLOW)
    assert got["scroll"] <= got["width"] and got["wide"] == [], got


def _toggle_box_ok(page):
    toggle = page.locator("#large-toggle")
    assert page.evaluate("document.getElementById('large-toggle').tagName") == "BUTTON"
    box = toggle.bounding_box()
    assert box["width"] >= 44 and box["height"] >= 44, box
    return toggle


# --------------------------------------------------------------------------- rider page


def test_the_toggle_switches_the_rider_page_in_place(phone, base_url, registry):
    page, errors = phone(POINT)
    page.goto(base_url + "/")
    page.wait_for_function(IS_NORMAL)
    toggle = _toggle_box_ok(page)
    assert toggle.get_attribute("aria-pressed") == "false"
    assert toggle.inner_text().strip() == "长辈版"  # (the tick shows only when pressed)
    # Keyboard: Tab reaches it from the top of the page, Enter presses it.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "large-toggle":
            break
    assert page.evaluate("document.activeElement.id") == "large-toggle"
    page.evaluate("window.__samePage = true")
    page.keyboard.press("Enter")
    page.wait_for_function(IS_LARGE)
    assert toggle.get_attribute("aria-pressed") == "true"
    assert _cookie(page) == "1"
    assert page.evaluate("window.__samePage") is True  # in place: no reload

    # The nearest card after locating: on screen, without scrolling.
    want = [r.id for r in registry.index.nearest(*POINT, 10)]
    done = (f"(want) => JSON.stringify(({LIST_IDS})()) === JSON.stringify(want)"
            " && document.body.dataset.searchState === 'done'")
    page.uncheck("#f-open")  # (this searches again: wait for it, so it cannot
    page.wait_for_function(done, arg=want)  # redraw the card under the next check)
    page.evaluate("scrollTo(0, 0)")  # (unchecking scrolled down to the box)
    with page.expect_response(lambda r: "/api/v1/nearest?" in r.url):
        page.click("#locate")
    page.wait_for_function(f"(want) => JSON.stringify(({LIST_IDS})()) === JSON.stringify(want)"
                           " && document.body.dataset.searchState === 'done'", arg=want)
    assert page.evaluate("scrollY") == 0
    card = page.locator("#nearest .nearest-card")
    assert card.get_attribute("data-station-id") == want[0]
    assert _inside(card.bounding_box()), card.bounding_box()
    nav = card.locator("a.nc-nav").bounding_box()
    assert _inside(nav) and nav["height"] >= 48
    _assert_large_text(page, "#nearest, #results li.result")

    # Fewer chips: the "more amenities" are gone, the main ones stay, 48 px high.
    page.click("#filters summary")
    assert page.locator(".finder details.more").is_hidden()
    chips = page.locator("#filters .chip:visible")
    assert chips.count() == len(MAIN_AMENITIES)
    for i in range(chips.count()):
        assert chips.nth(i).locator("span").bounding_box()["height"] >= 48
    # One column: the coordinates are stacked.
    page.click("#manual summary")
    lon, lat = page.locator("#f-lon").bounding_box(), page.locator("#f-lat").bounding_box()
    assert lat["y"] >= lon["y"] + lon["height"] and abs(lat["x"] - lon["x"]) < 1
    _assert_large_text(page, ".finder")
    targets = _assert_targets(page)
    assert sum(1 for t in targets if "chip" in t["cls"]) == len(MAIN_AMENITIES)
    _assert_targets(page, ".finder", least=48)
    _assert_fits(page)

    # And off again (Space, as a keyboard user would): everything as before.
    toggle.focus()
    page.keyboard.press("Space")
    page.wait_for_function(IS_NORMAL)
    assert toggle.get_attribute("aria-pressed") == "false" and _cookie(page) == "0"
    assert page.locator(".finder details.more").is_visible()
    lon, lat = page.locator("#f-lon").bounding_box(), page.locator("#f-lat").bounding_box()
    assert lat["y"] == lon["y"]  # side by side again
    assert errors == []


def test_a_picked_extra_chip_stays_in_view(phone, base_url):
    """Hiding a chip the rider has picked would hide an active filter."""
    page, errors = phone(large="1")
    page.goto(base_url + "/?lon=117.2012&lat=34.2705&amenity=shower")
    page.wait_for_function(IS_LARGE)
    assert page.locator(".finder details.more").is_visible()
    assert errors == []


# --------------------------------------------------------------------------- persistence


def test_the_choice_persists_across_reloads_and_pages(phone, base_url, registry):
    page, errors = phone()
    page.goto(base_url + STATION)
    page.wait_for_function(IS_NORMAL)
    page.click("#large-toggle")
    page.wait_for_function(IS_LARGE)
    _assert_large_text(page, ".station-page")
    # The server renders it from the cookie: no small text first, JavaScript or not.
    for path in (STATION, "/map", "/stations/XZ-SAMPLE-0002", "/"):
        resp = page.goto(base_url + path)
        if not resp.from_service_worker:
            assert '<html lang="zh-CN" class="large-text">' in resp.text(), path
        page.wait_for_function(IS_LARGE)
        assert page.locator("#large-toggle").get_attribute("aria-pressed") == "true"
    page.reload()
    page.wait_for_function(IS_LARGE)
    page.goto(base_url + STATION)
    _assert_large_text(page, ".station-page")
    _assert_targets(page, ".station-page", least=48)
    # The map page: the text around the map is large too, and the map still fills it.
    page.goto(base_url + "/map")
    page.wait_for_selector(".st-cluster")
    _assert_large_text(page, "body")
    map_box = page.locator(".stations-map").bounding_box()
    assert map_box["height"] >= 300 and map_box["y"] + map_box["height"] <= PHONE["height"]
    _assert_targets(page)
    assert errors == []


def test_a_union_link_turns_it_on(phone, base_url, registry):
    """``?large=1`` on a poster's /s/<code> link: through the redirect, and after it."""
    page, errors = phone()
    code = registry.store.get("XZ-SAMPLE-0001").code
    page.goto(f"{base_url}/s/{code}?large=1")
    assert page.url.startswith(base_url + "/stations/XZ-SAMPLE-0001?via=qr")
    page.wait_for_function(IS_LARGE)
    assert _cookie(page) == "1"
    page.goto(base_url + "/map")
    page.wait_for_function(IS_LARGE)
    page.goto(base_url + "/map?large=0")
    page.wait_for_function(IS_NORMAL)
    assert _cookie(page) == "0"
    assert errors == []


def test_a_kept_copy_of_the_rider_page_is_corrected(phone, base_url):
    """The service worker answers / from its cache, rendered before the choice: the page
    turns large at once and the kept copy is replaced by a large one."""
    page, errors = phone()
    page.goto(base_url + "/")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.wait_for_function("""async () => { for (const k of await caches.keys()) {
        if (await (await caches.open(k)).match('/')) return true; } return false; }""")
    page.goto(base_url + "/map?large=1")  # the choice, made on another page
    page.wait_for_function(IS_LARGE)
    resp = page.goto(base_url + "/")
    assert resp.from_service_worker and 'class="large-text"' not in resp.text()
    page.wait_for_function(IS_LARGE)
    assert page.locator("#large-toggle").get_attribute("aria-pressed") == "true"
    page.wait_for_function("""async () => { for (const k of await caches.keys()) {
        const kept = await (await caches.open(k)).match('/');
        if (kept && (await kept.text()).includes('<html lang="zh-CN" class="large-text">'))
          return true; } return false; }""")
    assert errors == []


# --------------------------------------------------------------------------- without JS


def test_the_toggle_works_without_javascript(phone, base_url):
    page, errors = phone(java_script_enabled=False)
    page.goto(base_url + STATION + "?lang=en")
    toggle = _toggle_box_ok(page)
    assert toggle.inner_text().strip() == "Large text"
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    page.wait_for_load_state()
    assert page.url == base_url + STATION + "?lang=en"  # back where it was
    assert page.evaluate(IS_LARGE)
    assert page.locator("#large-toggle").get_attribute("aria-pressed") == "true"
    _assert_large_text(page, ".station-page")
    page.goto(base_url + "/map")
    assert page.evaluate(IS_LARGE)
    # A search rendered by the server keeps its query through the toggle, and its
    # nearest card is on screen.
    search = "/?lon=117.2012&lat=34.2705&open_now=false"
    page.goto(base_url + search)
    card = page.locator("#nearest .nearest-card")
    assert _inside(card.bounding_box()), card.bounding_box()
    _assert_large_text(page, "#nearest, #results li.result")
    page.click("#large-toggle")
    page.wait_for_load_state()
    assert page.url == base_url + search
    assert page.evaluate(IS_NORMAL)
    assert errors == []


# --------------------------------------------------------------------------- narrow phones


@pytest.mark.parametrize("width", [390, 360])
def test_nothing_is_wider_than_the_screen(phone, base_url, width):
    page, errors = phone(large="1", viewport={"width": width, "height": 800})
    page.goto(base_url + "/?lon=117.2012&lat=34.2705&open_now=false")
    page.wait_for_function(IS_LARGE)
    page.wait_for_function("() => document.body.dataset.searchState === 'done'")
    page.click("#filters summary")
    page.click("#manual summary")
    _assert_fits(page)
    _assert_targets(page)
    for path in ("/?lon=117.2012&lat=34.2705&open_now=false&lang=en", STATION,
                 STATION + "?lang=en", STATION + "/report", "/map?lang=en", "/s"):
        page.goto(base_url + path)
        page.wait_for_function(IS_LARGE)
        _assert_fits(page)
        _assert_targets(page, "main")
    assert errors == []

"""The rider pages inside WeChat's browser, in real headless Chromium on a 390 x 844 phone
with WeChat's User-Agent: every navigation link is an https page that opens inside
WeChat, and with the JSSDK configured a tap on 导航 opens WeChat's own map at the
station's GCJ-02 point, falling back to the link whenever WeChat says no.

WeChat's JSSDK and a deployment's signature endpoint cannot be reached from here: a
stand-in (tests/conftest_wechat.py) serves both from another local port, which also
puts the page's Content-Security-Policy to the test (another origin than the app's).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest_browser import LIST_IDS, live_server, registry_of, require_chromium
from conftest_wechat import (
    ANDROID_WECHAT,
    APPID,
    CHROME_ANDROID,
    IOS_WECHAT,
    fake_signature,
    wechat_standin,
)

from locator.cli.demo import load_sample_stations
from locator.stations.coords import wgs84_to_gcj02
from locator.web import create_app

require_chromium(module=True)

PHONE = {"width": 390, "height": 844}
#: A Xuzhou point among the sample stations (WGS-84).
POINT = (117.2012, 34.2705)
STATION = "XZ-SAMPLE-0001"
APP_HOSTS = ("uri.amap.com", "api.map.baidu.com", "apis.map.qq.com", "www.openstreetmap.org")

#: The hrefs of the links matched by a selector that leave the app.
OUT_LINKS = """(selector) => [...document.querySelectorAll(selector)].map(a => a.href)
  .filter(h => !h.startsWith(location.origin + '/'))"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    path = tmp_path_factory.mktemp("wechat") / "sample.sqlite"
    with registry_of(path, load_sample_stations()) as reg:
        yield reg


@pytest.fixture(scope="module")
def standin():
    with wechat_standin() as s:
        yield s


@pytest.fixture(scope="module")
def serve(registry, standin):
    """``serve(jssdk=None, signature=None) -> base URL`` of the app, with the JSSDK
    configured (app id set) when ``jssdk`` names a stand-in path such as
    ``/jweixin.js?mode=ok``; one server per configuration."""
    servers: dict[tuple, str] = {}
    with ExitStack() as stack:
        def make(jssdk: str | None = None, signature: str = "/signature") -> str:
            key = (jssdk, signature)
            if key not in servers:
                config = {"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                          "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"}
                if jssdk is not None:
                    config.update(LOCATOR_WECHAT_APPID=APPID,
                                  LOCATOR_WECHAT_JSSDK_URL=standin.url + jssdk,
                                  LOCATOR_WECHAT_SIGNATURE_URL=standin.url + signature)
                servers[key] = stack.enter_context(live_server(create_app(config)))
            return servers[key]

        yield make


@pytest.fixture()
def phone(browser):
    """``make(ua, point=None) -> (page, errors, outside)``: a 390 x 844 touch phone in
    Chinese with User-Agent ``ua``. Requests to 127.0.0.1 (the app, the stand-in) go
    through; every other is recorded in ``outside`` and answered by a blank page (so that
    a followed link can be seen), never by the internet."""
    contexts = []

    def make(ua: str, point=None):
        options = {"viewport": PHONE, "locale": "zh-CN", "has_touch": True,
                   "user_agent": ua}
        if point is not None:
            options["geolocation"] = {"longitude": point[0], "latitude": point[1],
                                      "accuracy": 10}
            options["permissions"] = ["geolocation"]
        ctx = browser.new_context(**options)
        contexts.append(ctx)
        errors: list[str] = []
        outside: list[str] = []

        def route(r):
            if r.request.url.startswith("http://127.0.0.1:"):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.fulfill(status=200, content_type="text/html", body="<p>stand-in</p>")

        ctx.route("**/*", route)
        page = ctx.new_page()
        page.set_default_timeout(10_000)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        return page, errors, outside

    yield make
    for ctx in contexts:
        ctx.close()


def assert_h5(url: str) -> None:
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.netloc in APP_HOSTS, url
    assert "callnative" not in url, url


def _locate(page, registry, base_url):
    """Open the rider page, tap 使用我的位置, wait for the server's list."""
    page.goto(base_url + "/")
    page.uncheck("#f-open")
    page.click("#locate")
    want = [r.id for r in registry.index.nearest(*POINT, 10)]
    page.wait_for_function(f"(want) => JSON.stringify(({LIST_IDS})()) === JSON.stringify(want)"
                           " && document.body.dataset.searchState === 'done'", arg=want)
    return want


def _open_popup(page, base_url, sid=STATION):
    page.goto(base_url + "/map?lang=zh")
    page.wait_for_selector(".st-cluster")
    page.evaluate(f"LocatorMaps.get('stations').map._locatorCluster.openStation('{sid}')")
    page.locator(".st-popup .alt-link").first.wait_for()


def _wait(page, predicate, timeout=5.0):
    """Poll ``predicate`` while Playwright delivers its events (routes run meanwhile)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        page.wait_for_timeout(50)
    return predicate()


# --------------------------------------------------------------------------- links


def test_rider_page_links_are_h5_inside_wechat(phone, serve, registry):
    page, errors, outside = phone(ANDROID_WECHAT, POINT)
    want = _locate(page, registry, serve())
    links = page.evaluate(OUT_LINKS, "#nearest a[href], #results a[href]")
    assert len(links) >= 4 * len(want)  # 导航 and the three other apps, per result
    for url in links:
        assert_h5(url)
    for url in page.evaluate(OUT_LINKS, "a[href]"):  # anything else that leaves the page
        assert urlsplit(url).scheme == "https" and "callnative" not in url, url
    assert page.evaluate("LocatorWeChat.isWeChat() && !LocatorWeChat.isMiniProgram()")
    assert page.evaluate("LocatorWeChat.state()") == "off"  # no app id: no JSSDK
    # The phone's own answer from its saved copy (no network) builds H5 links too.
    lon, lat = POINT
    offline = page.evaluate(
        f"() => LocatorOffline.refresh({lon}, {lat}).then(() => LocatorOffline.nearest("
        f"{{lon: {lon}, lat: {lat}, k: 5, mode: 'ebike'}})).then(a => a.results.map("
        "r => [r.id, r.nav_links]))")
    assert [i for i, _ in offline] == [r.id for r in registry.index.nearest(lon, lat, 5)]
    for sid, nav in offline:
        for url in nav.values():
            assert_h5(url)
        st = registry.index.get(sid)
        to = parse_qs(urlsplit(nav["amap"]).query)["to"][0].split(",")
        assert (float(to[0]), float(to[1])) == pytest.approx(wgs84_to_gcj02(st.lon, st.lat),
                                                             abs=2e-6)
    assert outside == [] and errors == []


def test_station_page_and_map_popup_links_are_h5_inside_wechat(phone, serve):
    page, errors, outside = phone(IOS_WECHAT)
    page.goto(serve() + f"/stations/{STATION}")
    links = page.evaluate(OUT_LINKS, ".nav-links a[href]")
    assert len(links) == 4
    for url in links:
        assert_h5(url)
    _open_popup(page, serve())
    links = page.evaluate(OUT_LINKS, ".leaflet-popup a[href]")
    assert len(links) == 4
    for url in links:
        assert_h5(url)
    assert outside == [] and errors == []


def test_outside_wechat_nothing_changes(phone, serve, registry, standin):
    """Chrome, with the JSSDK configured: app links as before, no WeChat script, and not
    one request for the JSSDK or a signature."""
    before = len(standin.requests)
    base = serve("/jweixin.js?mode=ok")
    page, errors, outside = phone(CHROME_ANDROID, POINT)
    _locate(page, registry, base)
    assert any("callnative=1" in u for u in page.evaluate(OUT_LINKS, "#nearest a[href]"))
    page.goto(base + f"/stations/{STATION}")
    assert "callnative=1" in page.locator(".nav-links a.btn-nav").get_attribute("href")
    _open_popup(page, base)
    assert "callnative=1" in page.locator(".st-popup a.btn-nav").get_attribute("href")
    assert page.evaluate("typeof LocatorWeChat === 'undefined' && typeof wx === 'undefined'")
    assert page.locator("script[data-jssdk]").count() == 0
    assert standin.requests[before:] == []
    assert outside == [] and errors == []


# --------------------------------------------------------------------------- wx.openLocation


def _ready(page):
    page.wait_for_function("() => window.LocatorWeChat && LocatorWeChat.state() === 'ready'")


def _check_open_location(page, registry, sid):
    page.wait_for_function("() => window.__wx && __wx.openLocation.length === 1")
    call = page.evaluate("__wx.openLocation[0]")
    st = registry.index.get(sid)
    g_lon, g_lat = wgs84_to_gcj02(st.lon, st.lat)
    assert call["longitude"] == pytest.approx(g_lon, abs=1e-6)
    assert call["latitude"] == pytest.approx(g_lat, abs=1e-6)
    assert call["name"] == st.name and call["address"] == (st.address or "")


def _check_config(page, url):
    """The last wx.config: the stand-in's signature of ``url`` and only openLocation."""
    config = page.evaluate("__wx.config[__wx.config.length - 1]")
    assert config == {"debug": False, "appId": APPID, "timestamp": 1767225600,
                      "nonceStr": "n0nce", "signature": fake_signature(url),
                      "jsApiList": ["openLocation"]}


def test_tap_on_navigate_opens_wechat_map(phone, serve, registry, standin):
    base = serve("/jweixin.js?mode=ok")
    page, errors, outside = phone(ANDROID_WECHAT, POINT)

    # The station page, opened with a #fragment: signed without it.
    page.goto(base + f"/stations/{STATION}?mode=ebike#nav-title")
    _ready(page)
    signed = base + f"/stations/{STATION}?mode=ebike"
    assert standin.hits("/signature")[-1] == {"url": signed}
    _check_config(page, signed)
    csp = page.evaluate("() => fetch(location.href).then(r => "
                        "r.headers.get('Content-Security-Policy'))")
    assert f"script-src 'self' 'unsafe-inline' {standin.url};" in csp
    assert f"connect-src 'self' {standin.url};" in csp
    page.tap(".nav-links a.btn-nav")
    _check_open_location(page, registry, STATION)

    # A /map popup, its button drawn by the script after the page loaded.
    _open_popup(page, base, "XZ-SAMPLE-0002")
    _ready(page)
    page.tap(".st-popup a.btn-nav[data-nav-lat]")
    _check_open_location(page, registry, "XZ-SAMPLE-0002")

    # The rider page after locating: the address bar now carries the search, and
    # Android WeChat checks signatures against the current address, so it is signed again.
    want = _locate(page, registry, base)
    page.wait_for_function("() => __wx.config.length >= 2")
    _ready(page)
    current = page.evaluate("location.href.split('#')[0]")
    assert "lon=" in current
    page.wait_for_function("(u) => __wx.config[__wx.config.length - 1].signature === u",
                           arg=fake_signature(current))
    _check_config(page, current)
    page.tap("#nearest a.nc-nav")
    _check_open_location(page, registry, want[0])

    assert len(page.context.pages) == 1  # no link was followed
    assert outside == [] and errors == []


def test_ios_keeps_the_signature_of_the_landing_address(phone, serve, registry, standin):
    """iOS WeChat checks signatures against the address the page was entered with."""
    base = serve("/jweixin.js?mode=ok")
    page, errors, outside = phone(IOS_WECHAT, POINT)
    want = _locate(page, registry, base)
    _ready(page)
    assert page.evaluate("__wx.config.length") == 1
    _check_config(page, base + "/")
    page.tap(f"#results li[data-station-id='{want[1]}'] a.btn-nav")
    _check_open_location(page, registry, want[1])
    assert outside == [] and errors == []


@pytest.mark.parametrize(("jssdk", "signature", "state"), [
    ("/jweixin.js?mode=ok", "/signature-500", "failed"),
    ("/jweixin.js?mode=ok", "/signature-bad", "failed"),
    ("/jweixin.js?mode=error", "/signature", "failed"),
    ("/missing.js", "/signature", "failed"),
    ("/jweixin.js?mode=open-fail", "/signature", "ready"),
], ids=["signature-500", "signature-without-fields", "wx-error", "jssdk-missing",
        "open-location-fails"])
def test_tap_follows_the_link_when_wechat_says_no(phone, serve, registry, jssdk, signature,
                                                   state):
    """Whatever fails, 导航 is never a dead button: the tap follows its https link."""
    page, errors, outside = phone(ANDROID_WECHAT)
    opened: list[dict] = []  # openLocation calls, kept here when the page goes away
    page.expose_function("__wxOpened", lambda call: opened.append(call))
    page.goto(serve(jssdk, signature) + f"/stations/{STATION}")
    page.wait_for_function("(s) => LocatorWeChat.state() === s", arg=state)
    href = page.locator(".nav-links a.btn-nav").get_attribute("href")
    assert_h5(href)
    page.tap(".nav-links a.btn-nav")
    assert _wait(page, lambda: href in outside), outside
    # Asked and refused (then the link replaced the page), or never asked.
    assert len(opened) == (1 if state == "ready" else 0)
    # The failed signature or script request shows in the console; nothing else does.
    assert [e for e in errors if "Failed to load resource" not in e] == []

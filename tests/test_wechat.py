"""Inside WeChat's browser (locator/web/wechat.py): recognising it, H5-only navigation
links in the API and the pages, the JSSDK set-up, and a Content-Security-Policy that
allows WeChat's JSSDK only where it is loaded."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest_wechat import (
    ALIPAY,
    ANDROID_MINIPROGRAM,
    ANDROID_WECHAT,
    APPID,
    CHROME_ANDROID,
    IOS_MINIPROGRAM,
    IOS_WECHAT,
    QQ_BROWSER,
    SAFARI_IOS,
    WECOM,
)

from locator.stations.coords import wgs84_to_bd09, wgs84_to_gcj02
from locator.web import create_app
from locator.web.security import CSP
from locator.web.wechat import is_miniprogram, is_wechat, nav_h5

JSSDK = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"
SIGNER = "https://sign.union.example/wechat/signature"

# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(("ua", "wechat", "mini"), [
    (ANDROID_WECHAT, True, False),
    (IOS_WECHAT, True, False),
    (ANDROID_MINIPROGRAM, True, True),
    (IOS_MINIPROGRAM, True, True),
    (WECOM, True, False),
    (ANDROID_WECHAT.replace("MicroMessenger", "micromessenger"), True, False),
    (CHROME_ANDROID, False, False),
    (SAFARI_IOS, False, False),
    (QQ_BROWSER, False, False),
    (ALIPAY, False, False),
    ("miniProgram/wx0123456789abcdef", False, False),
    ("", False, False),
    (None, False, False),
], ids=["android-wechat", "ios-wechat", "android-miniprogram", "ios-miniprogram", "wecom",
        "lower-case", "chrome", "safari", "qq-browser", "alipay", "miniprogram-only",
        "empty", "none"])
def test_detection(ua, wechat, mini):
    assert is_wechat(ua) is wechat
    assert is_miniprogram(ua) is mini


@pytest.mark.parametrize(("nav", "ua", "h5"), [
    ("auto", ANDROID_WECHAT, True), ("auto", CHROME_ANDROID, False), (None, IOS_WECHAT, True),
    ("app", ANDROID_WECHAT, False), ("h5", CHROME_ANDROID, True), ("h5", None, True),
], ids=["auto-wechat", "auto-chrome", "default-wechat", "app-forced", "h5-forced",
        "h5-no-ua"])
def test_nav_variant(nav, ua, h5):
    assert nav_h5(nav, ua) is h5


# --------------------------------------------------------------------------- the app


def _app(registry, **config):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none", **config})


JSSDK_CONFIG = {"LOCATOR_WECHAT_APPID": APPID, "LOCATOR_WECHAT_SIGNATURE_URL": SIGNER}


@pytest.fixture()
def client(registry):
    return _app(registry).test_client()


@pytest.fixture()
def jssdk_client(registry):
    return _app(registry, **JSSDK_CONFIG).test_client()


@pytest.mark.parametrize(("config", "message"), [
    ({"LOCATOR_WECHAT_APPID": APPID},
     r"^LOCATOR_WECHAT_APPID is set but LOCATOR_WECHAT_SIGNATURE_URL is not"),
    ({**JSSDK_CONFIG, "LOCATOR_WECHAT_APPID": "wx12"},
     r"^LOCATOR_WECHAT_APPID='wx12' is not a valid setting \(a WeChat app id"),
    ({**JSSDK_CONFIG, "LOCATOR_WECHAT_JSSDK_URL": "javascript:alert(1)"},
     r"^LOCATOR_WECHAT_JSSDK_URL='javascript:alert\(1\)' is not a valid setting \(must be "
     r"an absolute https URL"),
    ({**JSSDK_CONFIG, "LOCATOR_WECHAT_JSSDK_URL": "https://res.wx.qq.com; script-src *"},
     r"^LOCATOR_WECHAT_JSSDK_URL='https://res.wx.qq.com; script-src \*' is not a valid"),
    ({**JSSDK_CONFIG, "LOCATOR_WECHAT_SIGNATURE_URL": "//sign.example/s"},
     r"^LOCATOR_WECHAT_SIGNATURE_URL='//sign.example/s' is not a valid setting"),
], ids=["no-signature-url", "bad-appid", "script-scheme", "csp-injection",
        "protocol-relative"])
def test_bad_settings_are_refused_at_start(registry, config, message):
    with pytest.raises(ValueError, match=message):
        _app(registry, **config)


def _directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


class _Tags(HTMLParser):
    """Every start tag of a page, as (tag, attributes)."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(html: str, tag: str) -> list[dict[str, str | None]]:
    p = _Tags()
    p.feed(html)
    return [a for t, a in p.tags if t == tag]


def _wechat_script(html: str) -> dict[str, str | None] | None:
    """The attributes of static/wechat.js's tag (inlined: no src), or None."""
    found = [a for a in _tags(html, "script") if a.get("id") == "locator-wechat"]
    assert len(found) <= 1
    if found:
        assert "LocatorWeChat" in html
    return found[0] if found else None


def test_csp_allows_the_jssdk_only_inside_wechat_with_an_appid(jssdk_client, client):
    page = "/stations/T01"
    wechat = jssdk_client.get(page, headers={"User-Agent": ANDROID_WECHAT})
    assert wechat.status_code == 200
    got, base = _directives(wechat.headers["Content-Security-Policy"]), _directives(CSP)
    assert got["script-src"] == ["'self'", "'unsafe-inline'", "https://res.wx.qq.com"]
    assert got["connect-src"] == ["'self'", "https://sign.union.example"]
    assert {k: v for k, v in got.items() if k not in ("script-src", "connect-src")} == \
        {k: v for k, v in base.items() if k not in ("script-src", "connect-src")}
    # Outside WeChat, or inside it without an app id: exactly the usual policy.
    for c, ua in ((jssdk_client, CHROME_ANDROID), (jssdk_client, SAFARI_IOS),
                  (client, ANDROID_WECHAT), (client, CHROME_ANDROID)):
        assert c.get(page, headers={"User-Agent": ua}).headers["Content-Security-Policy"] \
            == CSP
    # The API's own strict policy is never widened.
    api = jssdk_client.get("/api/v1/stations/T01", headers={"User-Agent": ANDROID_WECHAT})
    assert api.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_a_signature_endpoint_on_the_same_host_adds_no_origin(registry):
    app = _app(registry, LOCATOR_WECHAT_APPID=APPID,
               LOCATOR_WECHAT_SIGNATURE_URL="/wechat/signature",
               LOCATOR_WECHAT_JSSDK_URL="https://res2.wx.qq.com/open/js/jweixin-1.6.0.js")
    resp = app.test_client().get("/stations/T01", headers={"User-Agent": IOS_MINIPROGRAM})
    got = _directives(resp.headers["Content-Security-Policy"])
    assert got["script-src"] == ["'self'", "'unsafe-inline'", "https://res2.wx.qq.com"]
    assert got["connect-src"] == ["'self'"]
    script = _wechat_script(resp.get_data(as_text=True))
    assert script is not None and script["data-signature-url"] == "/wechat/signature"


def test_pages_get_the_jssdk_setup_only_inside_wechat(jssdk_client, client):
    html = jssdk_client.get("/stations/T01",
                            headers={"User-Agent": ANDROID_WECHAT}).get_data(as_text=True)
    script = _wechat_script(html)
    assert script == {"id": "locator-wechat", "data-jssdk": JSSDK, "data-appid": APPID,
                      "data-signature-url": SIGNER}
    assert JSSDK not in html.replace(f'data-jssdk="{JSSDK}"', "")  # never a <script src>
    # WeChat without an app id: the script (links, detection) without the JSSDK.
    html = client.get("/stations/T01",
                      headers={"User-Agent": ANDROID_WECHAT}).get_data(as_text=True)
    assert _wechat_script(html) == {"id": "locator-wechat"}
    # Outside WeChat nothing changes: no script at all.
    for c in (jssdk_client, client):
        html = c.get("/stations/T01",
                     headers={"User-Agent": CHROME_ANDROID}).get_data(as_text=True)
        assert _wechat_script(html) is None and "jweixin" not in html
        assert "LocatorWeChat" not in html


def test_wechat_js_is_served(client):
    resp = client.get("/static/wechat.js")
    assert resp.status_code == 200 and "javascript" in resp.mimetype
    body = resp.get_data(as_text=True)
    assert "LocatorWeChat" in body and "openLocation" in body
    resp.close()


def test_station_page_nav_button_carries_the_gcj02_point(registry, client):
    st = registry.index.get("T04")
    html = client.get("/stations/T04", headers={"User-Agent": ANDROID_WECHAT}).get_data(
        as_text=True)
    buttons = [a for a in _tags(html, "a") if "data-nav-lat" in a]
    assert len(buttons) == 1
    b = buttons[0]
    assert "btn-nav" in (b["class"] or "").split()
    g_lon, g_lat = wgs84_to_gcj02(st.lon, st.lat)
    assert float(b["data-nav-lon"]) == pytest.approx(g_lon, abs=1e-6)
    assert float(b["data-nav-lat"]) == pytest.approx(g_lat, abs=1e-6)
    assert b["data-nav-name"] == st.name and b["data-nav-address"] == st.address


# --------------------------------------------------------------------------- links


APP_HOSTS = ("uri.amap.com", "api.map.baidu.com", "apis.map.qq.com", "www.openstreetmap.org")


def assert_h5(url: str) -> None:
    """An https page of a map vendor that opens inside WeChat: no app scheme, no attempt
    to open an app."""
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.netloc in APP_HOSTS, url
    assert "callnative" not in url, url


def _check_points(links: dict[str, str], lon: float, lat: float) -> None:
    """The links' decoded destinations are the station's GCJ-02 (Amap, Tencent), BD-09
    (Baidu) and WGS-84 (OSM) points."""
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    b_lon, b_lat = wgs84_to_bd09(lon, lat)
    q = {k: v[0] for k, v in parse_qs(urlsplit(links["amap"]).query).items()}
    to = q["to"].split(",")
    assert (float(to[0]), float(to[1])) == pytest.approx((g_lon, g_lat), abs=1e-6)
    q = {k: v[0] for k, v in parse_qs(urlsplit(links["tencent"]).query).items()}
    assert tuple(map(float, q["tocoord"].split(","))) == pytest.approx((g_lat, g_lon), abs=1e-6)
    q = {k: v[0] for k, v in parse_qs(urlsplit(links["baidu"]).query).items()}
    assert tuple(map(float, q["location"].split(","))) == pytest.approx((b_lat, b_lon),
                                                                        abs=1e-6)
    q = {k: v[0] for k, v in parse_qs(urlsplit(links["osm"].split("#")[0]).query).items()}
    assert (float(q["mlon"]), float(q["mlat"])) == pytest.approx((lon, lat), abs=1e-6)


NEAREST = "/api/v1/nearest?lon=117.1850&lat=34.2615&k=10"


@pytest.mark.parametrize("ua", [ANDROID_WECHAT, IOS_WECHAT, ANDROID_MINIPROGRAM, WECOM],
                         ids=["android", "ios", "miniprogram", "wecom"])
def test_nearest_inside_wechat_gives_h5_links(registry, client, ua):
    resp = client.get(NEAREST, headers={"User-Agent": ua})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["count"] == 9 and body["query"]["nav"] == "h5"
    for r in body["results"]:
        for url in r["nav_links"].values():
            assert_h5(url)
        st = registry.index.get(r["id"])
        _check_points(r["nav_links"], st.lon, st.lat)
    assert "User-Agent" in resp.headers["Vary"]


def test_nearest_outside_wechat_is_unchanged(client):
    resp = client.get(NEAREST, headers={"User-Agent": CHROME_ANDROID})
    body = resp.get_json()
    assert body["query"]["nav"] == "app"
    assert all("&callnative=1&" in r["nav_links"]["amap"] for r in body["results"])
    assert "User-Agent" in resp.headers["Vary"]


def test_nav_parameter_overrides_the_user_agent(client):
    forced_app = client.get(NEAREST + "&nav=app", headers={"User-Agent": ANDROID_WECHAT})
    assert all("&callnative=1&" in r["nav_links"]["amap"]
               for r in forced_app.get_json()["results"])
    forced_h5 = client.get(NEAREST + "&nav=h5", headers={"User-Agent": CHROME_ANDROID})
    for r in forced_h5.get_json()["results"]:
        for url in r["nav_links"].values():
            assert_h5(url)
    # GeoJSON and the Flask view (a cross-origin request bypasses the fast path) agree.
    geo = client.get(NEAREST + "&format=geojson", headers={"User-Agent": ANDROID_WECHAT})
    for f in geo.get_json()["features"]:
        for url in f["properties"]["nav_links"].values():
            assert_h5(url)


def test_bad_nav_parameter_is_a_400_naming_it(client):
    resp = client.get(NEAREST + "&nav=native&lang=zh", headers={"User-Agent": ANDROID_WECHAT})
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert "nav" in body["detail"] and "auto" in body["detail"] and "h5" in body["detail"]
    assert [p["name"] for p in body["invalid_params"]] == ["nav"]


def test_station_api_inside_wechat_gives_h5_links(registry, client):
    st = registry.index.get("T02")
    resp = client.get("/api/v1/stations/T02", headers={"User-Agent": ANDROID_WECHAT})
    links = resp.get_json()["nav_links"]
    for url in links.values():
        assert_h5(url)
    _check_points(links, st.lon, st.lat)
    assert "User-Agent" in resp.headers["Vary"]
    plain = client.get("/api/v1/stations/T02", headers={"User-Agent": SAFARI_IOS}).get_json()
    assert "&callnative=1&" in plain["nav_links"]["amap"]
    forced = client.get("/api/v1/stations/T02?nav=app", headers={"User-Agent": IOS_WECHAT})
    assert "&callnative=1&" in forced.get_json()["nav_links"]["amap"]


def _page_links(html: str) -> list[str]:
    return [a["href"] for a in _tags(html, "a")
            if urlsplit(a.get("href") or "").netloc in APP_HOSTS]


def test_station_page_inside_wechat_has_h5_links_only(registry, client):
    for sid in ("T01", "T04", "T08"):
        html = client.get(f"/stations/{sid}?mode=ebike",
                          headers={"User-Agent": ANDROID_WECHAT}).get_data(as_text=True)
        links = _page_links(html)
        assert len(links) == 4
        for url in links:
            assert_h5(url)
        st = registry.index.get(sid)
        by_host = {urlsplit(u).netloc: u for u in links}
        _check_points({"amap": by_host["uri.amap.com"], "baidu": by_host["api.map.baidu.com"],
                       "tencent": by_host["apis.map.qq.com"],
                       "osm": by_host["www.openstreetmap.org"]}, st.lon, st.lat)
    html = client.get("/stations/T01", headers={"User-Agent": CHROME_ANDROID}).get_data(
        as_text=True)
    assert any("callnative=1" in u for u in _page_links(html))


def test_server_rendered_rider_page_inside_wechat_has_h5_links_only(client):
    """The no-JavaScript search (a shared link) renders the API's links for WeChat."""
    html = client.get("/?lon=117.1850&lat=34.2615&mode=walk",
                      headers={"User-Agent": ANDROID_WECHAT}).get_data(as_text=True)
    links = _page_links(html)
    assert len(links) >= 20
    for url in links:
        assert_h5(url)
    nav = [a for a in _tags(html, "a") if "data-nav-lat" in a]
    assert nav and all(re.fullmatch(r"-?\d+\.\d+", a["data-nav-lat"] or "") for a in nav)


def test_openapi_documents_nav(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/nearest", "/api/v1/stations/{id}"):
        params = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        assert params["nav"]["schema"]["enum"] == ["auto", "app", "h5"], path
        assert params["nav"]["schema"]["default"] == "auto"
        assert "WeChat" in params["nav"]["description"]


# --------------------------------------------------------------------------- verification files


def test_verification_files_are_served_at_the_root(registry):
    """The files WeChat checks before accepting the domain (business domain, JS interface
    domain), as LOCATOR_WECHAT_VERIFY_FILES names them; nothing else is made up."""
    app = _app(registry, LOCATOR_WECHAT_VERIFY_FILES=(
        "MP_verify_AbC123xyz.txt=AbC123xyz; 4f1c2d3e5a.txt=9b8a7c6d5e4f3a2b1c0d"))
    c = app.test_client()
    for name, text in (("MP_verify_AbC123xyz.txt", "AbC123xyz"),
                       ("4f1c2d3e5a.txt", "9b8a7c6d5e4f3a2b1c0d")):
        resp = c.get(f"/{name}")
        assert resp.status_code == 200 and resp.mimetype == "text/plain"
        assert resp.get_data(as_text=True) == text
    assert c.get("/MP_verify_other.txt").status_code == 404
    assert _app(registry).test_client().get("/MP_verify_AbC123xyz.txt").status_code == 404


@pytest.mark.parametrize("value", ["MP_verify_x.txt", "../etc/passwd.txt=x", "a.html=x",
                                   "MP_verify_x.txt=two words"],
                         ids=["no-content", "path", "not-txt", "space"])
def test_bad_verification_files_are_refused_at_start(registry, value):
    with pytest.raises(ValueError, match=r"^LOCATOR_WECHAT_VERIFY_FILES: .* is not "
                                         r"name=content"):
        _app(registry, LOCATOR_WECHAT_VERIFY_FILES=value)

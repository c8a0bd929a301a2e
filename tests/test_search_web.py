"""``GET /api/v1/search`` and the search box partial (in a real headless Chromium)."""

from __future__ import annotations

import pytest
from conftest_browser import launch_chromium, live_server, registry_of
from flask import render_template_string

from locator.stations.coords import gcj02_to_wgs84
from locator.web import create_app


@pytest.fixture()
def app(registry):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0})


@pytest.fixture()
def client(app):
    return app.test_client()


def test_finds_district_station_and_code(client, registry):
    r = client.get("/api/v1/search?q=gl")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    first = r.get_json()["places"][0]
    assert (first["kind"], first["label"], first["id"]) == ("district", "鼓楼区", "320302")
    assert first["source"].startswith("Tianditu")
    code = registry.index.get("T01").code
    r = client.get(f"/api/v1/search?q={code[:3].lower()}-{code[3:].lower()}")
    got = r.get_json()["places"][0]
    assert (got["kind"], got["id"], got["code"], got["source"]) == ("station", "T01", code,
                                                                     "sample")
    assert (got["lon"], got["lat"]) == (117.185, 34.2615)
    assert "示例数据" in got["sublabel"]


def test_languages(client):
    zh = client.get("/api/v1/search?q=gulou").get_json()["places"][0]
    en = client.get("/api/v1/search?q=gulou&lang=en").get_json()["places"][0]
    assert (zh["label"], en["label"]) == ("鼓楼区", "Gulou District")
    assert "district" in en["sublabel"] and "区县" in zh["sublabel"]


def test_limit(client):
    assert len(client.get("/api/v1/search?q=测试&limit=3").get_json()["places"]) == 3
    assert len(client.get("/api/v1/search?q=测试").get_json()["places"]) == 10
    assert len(client.get("/api/v1/search?q=测试&limit=50").get_json()["places"]) == 10


def test_link_and_pair(client):
    r = client.get("/api/v1/search", query_string={
        "q": "https://uri.amap.com/marker?position=117.1902,34.2597&name=彭城广场"})
    p = r.get_json()["places"]
    assert len(p) == 1 and p[0]["kind"] == "point" and p[0]["label"] == "彭城广场"
    want = gcj02_to_wgs84(117.1902, 34.2597)
    assert (p[0]["lon"], p[0]["lat"]) == (round(want[0], 7), round(want[1], 7))
    p = client.get("/api/v1/search", query_string={"q": "34.2597,117.1902",
                                                  "lang": "en"}).get_json()["places"][0]
    assert p["crs_in"] == "gcj02" and "read as lat,lon" in p["sublabel"] \
        and "add “wgs84”" in p["sublabel"]


@pytest.mark.parametrize("qs, field, zh, en", [
    ({}, "q", "请输入", "is required"),
    ({"q": "   "}, "q", "请输入", "is required"),
    ({"q": "a" * 1001}, "q", "太长", "too long"),
    ({"q": "鼓楼\x00区"}, "q", "控制字符", "control"),
    ({"q": "https://surl.amap.com/abc"}, "q", "短链接", "short link"),
    ({"q": "gl", "limit": "0"}, "limit", "1 到 50", "1..50"),
    ({"q": "gl", "limit": "x"}, "limit", "1 到 50", "1..50"),
    ({"q": "gl", "lang": "fr"}, "lang", "zh 或 en", "zh, en"),
    ({"q": "gl", "k": "3"}, "k", "未知参数", "unknown parameter"),
], ids=["missing", "blank", "10kB", "nul", "short-link", "limit-0", "limit-text", "lang",
        "unknown"])
def test_bad_input_names_the_field(client, qs, field, zh, en):
    for lang, text in (("zh", zh), ("en", en)):
        args = dict(qs)
        if field != "lang":
            args["lang"] = lang
        r = client.get("/api/v1/search", query_string=args)
        assert r.status_code == 400 and r.mimetype == "application/problem+json"
        body = r.get_json()
        assert body["invalid_params"][0]["name"] == field
        if field != "lang" or lang == "zh":
            assert text in body["detail"], body["detail"]


@pytest.mark.parametrize("q", ["🚲🛵" * 100, "\U0001f600", "％００", "\u202e鼓楼", "'; drop",
                               "<script>", "\ufeff", "𠀀𠀁", "x" * 1000])
def test_never_500(client, q):
    r = client.get("/api/v1/search", query_string={"q": q})
    assert r.status_code in (200, 400)
    if r.status_code == 200:
        assert isinstance(r.get_json()["places"], list)


def test_ten_kilobytes_is_refused(client):
    # the app's own query-string limit answers first (2048 bytes)
    r = client.get("/api/v1/search", query_string={"q": "鼓" * 3400})
    assert r.status_code == 400 and r.mimetype == "application/problem+json"


def test_sees_a_station_added_through_the_registry(client, registry):
    assert client.get("/api/v1/search?q=云龙湖畔").get_json()["places"] == []
    from locator.stations.model import Station

    registry.add(Station(id="NEW9", name="云龙湖畔驿站", type="outdoor_worker", lon=117.17,
                         lat=34.24, source="sample"), actor="pytest")
    got = client.get("/api/v1/search?q=ylhp").get_json()["places"]
    assert got[0]["id"] == "NEW9"


def test_openapi_paths_shape():
    from locator.web.api.search import openapi_paths

    op = openapi_paths()["/api/v1/search"]["get"]
    assert [p["name"] for p in op["parameters"]] == ["q", "lang", "limit"]
    assert set(op["responses"]) == {"200", "400"}


# ------------------------------------------------------------------- in a browser
PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<link rel="stylesheet" href="{{ url_for('static', filename='search.css') }}"></head><body>
{% include 'partials/search_box.html' %}
<script>window.__places = []; document.addEventListener('locator:place',
  function (e) { window.__places.push(e.detail); });</script>
<script src="{{ url_for('static', filename='search.js') }}"></script></body></html>"""


@pytest.fixture(scope="module")
def base_url(tmp_path_factory, tiny_stations):
    with registry_of(tmp_path_factory.mktemp("search-web") / "s.sqlite", tiny_stations) as reg:
        app = create_app({"LOCATOR_REGISTRY": reg, "LOCATOR_RATE_LIMIT": 0,
                          "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})

        @app.get("/__test/search-box")
        def _search_box_page():  # a test-only page holding just the partial
            return render_template_string(PAGE)

        with live_server(app) as url:
            yield url


def test_typing_gl_offers_gulou_and_choosing_fires_the_event(base_url):
    import json
    import urllib.request

    want = json.load(urllib.request.urlopen(base_url + "/api/v1/search?q=gl"))["places"][0]
    errors: list[str] = []
    with launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844}, has_touch=True)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base_url + "/__test/search-box")
        box = page.locator("#place-search-input")
        assert box.get_attribute("role") == "combobox"
        box.fill("gl")
        option = page.locator("#place-search-list [role=option]").first
        option.wait_for()
        assert box.get_attribute("aria-expanded") == "true"
        assert "鼓楼区" in option.inner_text()
        assert option.bounding_box()["height"] >= 44
        assert box.bounding_box()["height"] >= 44
        option.tap()
        page.wait_for_function("() => window.__places.length === 1")
        got = page.evaluate("window.__places[0]")
        assert (got["label"], got["kind"], got["id"]) == ("鼓楼区", "district", "320302")
        assert (got["lon"], got["lat"]) == (want["lon"], want["lat"])
        assert box.input_value() == "鼓楼区" and box.get_attribute("aria-expanded") == "false"
        # keyboard: type, arrow down, Enter
        box.fill("")
        box.type("xuzhou")
        page.locator("#place-search-list [role=option]").first.wait_for()
        box.press("ArrowDown")
        assert box.get_attribute("aria-activedescendant")
        box.press("Enter")
        page.wait_for_function("() => window.__places.length === 2")
        assert page.evaluate("window.__places[1].label") == "徐州市"
        # a short link: the message, in Chinese, and no suggestions
        box.fill("https://surl.amap.com/abc")
        page.wait_for_function(
            "() => document.querySelector('.place-search-status').textContent"
            ".includes('短链接')")
        assert page.locator("#place-search-list").is_hidden()
    assert errors == []

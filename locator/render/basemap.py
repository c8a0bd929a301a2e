"""Base maps: the tile layers of a ``LOCATOR_TILES`` setting, and the line every map
shows at its bottom left.

Maps published in China show the base map's source and the map approval number (审图号)
at the bottom left (the 2011 and 2024 notices on internet maps). :func:`base_map` turns
the settings into a :class:`BaseMap`: the tile layers (``auto`` resolved by
:func:`locator.settings.resolve_tiles`), the CRS they are drawn in, and that notice in
the page's language. The web pages, the planner and the exported coverage reports all
build their maps from it, so they agree. The tile provider's own attribution ("©
OpenStreetMap contributors", "© 天地图") stays with its layer, at the bottom right.

Tianditu is served as Web Mercator WMTS tiles (``TILEMATRIXSET=w``) from the
subdomains ``t0`` to ``t7`` with the key as ``tk=``: the vector map ``vec`` with the
labels ``cva`` (Chinese) or ``eva`` (English) on top. Its CGCS2000 coordinates agree
with WGS-84 at map scale, so nothing is shifted (Amap's tiles are GCJ-02).

No Flask and no folium here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .. import config
from ..settings import resolve_tiles

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["TileSource", "BaseMap", "map_crs", "tile_sources", "notice_lines", "base_map",
           "base_map_for", "report_base_map"]


@dataclass(frozen=True)
class TileSource:
    """One XYZ tile layer."""

    name: str
    url: str
    attribution: str
    subdomains: str = "abc"
    max_zoom: int = 19
    overlay: bool = False


#: Provider of each base map, as the notice names it: (Chinese page, English page).
_PROVIDERS = {"osm": ("OpenStreetMap", "OpenStreetMap"),
              "tianditu": ("天地图", "Tianditu"),
              "amap": ("高德地图", "Amap")}
_TIANDITU_ATTR = '&copy; <a href="https://www.tianditu.gov.cn/">天地图 Tianditu</a>'
_TIANDITU_URL = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                 "&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                 "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=")


def map_crs(tiles: str) -> str:
    """The coordinate system of the tiles: ``gcj02`` for Amap, else ``wgs84`` (``auto``
    is Tianditu or OpenStreetMap, both WGS-84)."""
    return "gcj02" if tiles == "amap" else "wgs84"


def tile_sources(tiles: str, *, tianditu_key: str = "", lang: str = "zh") -> list[TileSource]:
    """The tile layers of a ``LOCATOR_TILES`` setting (``osm``, ``tianditu``, ``amap``,
    ``none`` or ``auto``); Tianditu without a key gives no layers."""
    en = lang == "en"
    tiles = resolve_tiles(tiles, tianditu_key)
    if tiles == "osm":
        return [TileSource("OpenStreetMap", "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                           config.OSM_CREDIT_HTML, subdomains="abc", max_zoom=19)]
    if tiles == "tianditu":
        key = tianditu_key.strip()
        if not key:
            return []
        base = _TIANDITU_URL + key
        labels = "eva" if en else "cva"
        return [
            TileSource("Tianditu" if en else "天地图", base.replace("{layer}", "vec"),
                       _TIANDITU_ATTR, subdomains="01234567", max_zoom=18),
            TileSource("Tianditu labels" if en else "天地图注记",
                       base.replace("{layer}", labels), _TIANDITU_ATTR,
                       subdomains="01234567", max_zoom=18, overlay=True),
        ]
    if tiles == "amap":
        return [TileSource("Amap" if en else "高德地图",
                           "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1"
                           "&scale=1&style=8&x={x}&y={y}&z={z}",
                           '&copy; <a href="https://www.amap.com/">高德地图 AutoNavi</a>',
                           subdomains="1234", max_zoom=18)]
    return []


def notice_lines(source: str, approval: str = "", *, lang: str = "zh") -> tuple[str, ...]:
    """The notice at a map's bottom left: the base map's source (empty: there is none)
    and, when given, the approval number, labelled in ``lang``."""
    en = lang == "en"
    src = source or ("none" if en else "无")
    lines = [f"Base map: {src}" if en else f"底图：{src}"]
    if approval:
        lines.append(f"Map approval no.: {approval}" if en else f"审图号：{approval}")
    return tuple(lines)


@dataclass(frozen=True)
class BaseMap:
    """The base map of a page or report in one language.

    ``tiles`` is the resolved setting (never ``auto``), ``layers`` the tile layers
    (none for ``none`` or Tianditu without a key), ``crs`` the coordinate system every
    point on the map must be drawn in, ``notice`` the lines for the bottom left.
    """

    tiles: str
    crs: str
    layers: tuple[TileSource, ...]
    notice: tuple[str, ...]
    lang: str = "zh"

    def mappings(self) -> list[dict[str, Any]]:
        """The layers as the mappings the folium maps and the coverage report take
        (:meth:`locator.render.foliummap.BareMap.add_tiles`). The first base layer
        carries the notice under ``notice``; without layers, a single mapping without
        ``url`` carries it (no layer is drawn)."""
        out: list[dict[str, Any]] = [asdict(layer) for layer in self.layers]
        notice = {"notice": list(self.notice), "lang": self.lang}
        for m in out:
            if not m["overlay"]:
                m.update(notice)
                break
        else:
            out.insert(0, notice)
        return out


def base_map(tiles: str, *, tianditu_key: str = "", lang: str = "zh", approval: str = "",
             source: str = "") -> BaseMap:
    """The base map of the settings ``LOCATOR_TILES`` (``tiles``),
    ``LOCATOR_TIANDITU_KEY``, ``LOCATOR_MAP_APPROVAL`` (``approval``) and
    ``LOCATOR_MAP_SOURCE`` (``source``: replaces the provider's name when a base map is
    drawn) for a page in ``lang``."""
    resolved = resolve_tiles(tiles, tianditu_key)
    layers = tuple(tile_sources(resolved, tianditu_key=tianditu_key, lang=lang))
    name = ""
    if any(not layer.overlay for layer in layers):
        name = source.strip() or _PROVIDERS[resolved][1 if lang == "en" else 0]
    return BaseMap(tiles=resolved, crs=map_crs(resolved), layers=layers,
                   notice=notice_lines(name, approval.strip(), lang=lang),
                   lang="en" if lang == "en" else "zh")


def base_map_for(settings: Settings, lang: str = "zh") -> BaseMap:
    """:func:`base_map` of a deployment's :class:`~locator.settings.Settings`."""
    return base_map(settings.tiles, tianditu_key=settings.tianditu_key, lang=lang,
                    approval=settings.map_approval, source=settings.map_source)



def report_base_map(settings: Settings, lang: str = "zh") -> BaseMap:
    """The base map of a self-contained report made with a deployment's settings (the
    ``locator coverage --report`` file): :func:`base_map_for`, except that Amap's GCJ-02
    tiles, which the report does not draw in, are replaced by OpenStreetMap."""
    bm = base_map_for(settings, lang)
    if bm.crs == "wgs84":
        return bm
    return base_map("osm", lang=lang, approval=settings.map_approval)

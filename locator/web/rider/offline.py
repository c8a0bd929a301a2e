"""The rider app as an installable PWA that keeps working on a weak or no signal.

* ``/sw.js``: the service worker (served from the root so that it controls every rider
  page). It keeps the app shell (the rider page, its scripts, styles and the map
  library) and the last offline pack, and answers from them when the network fails.
* ``/manifest.webmanifest``: name, icons, colours, start page; Chinese first.
* ``GET /api/v1/offline?lon=&lat=[&crs=][&radius_km=][&limit=]``: the compact copy of
  the area's stations (:func:`locator.index.offline.offline_pack`), made at most once a
  minute per area and index version, so that phones fetching it in the background cost
  the server next to nothing.
"""

from __future__ import annotations

import json
import threading
import time

from flask import Blueprint, Response, current_app, request

from ...errors import InvalidInput
from ...index.offline import offline_pack
from ...stations.coords import validate_lonlat
from .. import get_registry
from ..i18n import gettext as _

bp = Blueprint("offline", __name__)

#: The pack covers at most this far around the rider, and at most this many stations.
MAX_RADIUS_KM = 50.0
DEFAULT_RADIUS_KM = 30.0
MAX_STATIONS = 5000
DEFAULT_STATIONS = 2000
_TTL_S = 60.0

_lock = threading.Lock()
_packs: dict[tuple, tuple[float, bytes]] = {}


@bp.get("/sw.js")
def service_worker():
    resp = Response(_worker_source(), mimetype="application/javascript")
    # The browser checks for a new worker on every visit; the worker's own version
    # string changes with each release.
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["Service-Worker-Allowed"] = "/"
    return resp


_worker: bytes | None = None


def _worker_source() -> bytes:
    """sw.js with its version: a digest of the shell files, so that a release with any
    changed file installs a new worker (and drops the old cache)."""
    global _worker
    if _worker is None:
        import hashlib

        h = hashlib.sha256()
        static = current_app.static_folder or ""
        for name in ("rider.js", "rider.css", "base.css", "offline.js", "locator-map.js",
                     "cluster.js", "map.css", "alerts.js", "alerts.css", "search.js",
                     "search.css", "large.js", "large.css", "sw.js"):
            with open(f"{static}/{name}", "rb") as f:
                h.update(f.read())
        with current_app.open_resource("static/sw.js") as f:
            src = f.read()
        _worker = src.replace(b"__VERSION__", h.hexdigest()[:12].encode())
    return _worker


@bp.get("/manifest.webmanifest")
def manifest():
    doc = {
        "name": _("工会驿站 · 找最近的户外劳动者服务站点",
                  "Union rest stations · find the nearest"),
        "short_name": _("工会驿站", "Rest stations"),
        "lang": "zh-CN", "dir": "ltr", "start_url": "/", "scope": "/",
        "display": "standalone", "background_color": "#ffffff", "theme_color": "#c62828",
        "icons": [{"src": "/static/icon.svg", "sizes": "any", "type": "image/svg+xml",
                   "purpose": "any"}],
    }
    resp = Response(json.dumps(doc, ensure_ascii=False), mimetype="application/manifest+json")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp


def _number(name: str, default: float, lo: float, hi: float) -> float:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        v = float(raw)
    except ValueError:
        raise InvalidInput(f"{name}: {raw!r} is not a number", field=name) from None
    if not lo <= v <= hi:
        raise InvalidInput(f"{name}: {v:g} is out of range ({lo:g}..{hi:g})", field=name)
    return v


@bp.get("/api/v1/offline")
def offline():
    unknown = sorted(set(request.args) - {"lon", "lat", "crs", "radius_km", "limit", "lang"})
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown parameter; allowed: lon, lat, crs, "
                           "radius_km, limit, lang", field=unknown[0])
    for f in ("lon", "lat"):
        if request.args.get(f) in (None, ""):
            raise InvalidInput(f"{f}: is required", field=f)
    lon, lat = validate_lonlat(request.args["lon"], request.args["lat"],
                               crs=request.args.get("crs") or "wgs84")
    radius_km = _number("radius_km", DEFAULT_RADIUS_KM, 0.1, MAX_RADIUS_KM)
    limit = int(_number("limit", DEFAULT_STATIONS, 1, MAX_STATIONS))
    reg = get_registry()
    # Phones near each other share a pack: the centre is rounded to about 1 km.
    key = (round(lon, 2), round(lat, 2), radius_km, limit, reg.index.version,
           id(reg.index))
    now = time.monotonic()
    hit = _packs.get(key)
    if hit is None or now - hit[0] > _TTL_S:
        pack = offline_pack(reg.index.stations(), lon=key[0], lat=key[1],
                            radius_m=radius_km * 1000.0, limit=limit)
        body = json.dumps(pack, ensure_ascii=False, separators=(",", ":")).encode()
        with _lock:
            if len(_packs) > 64:
                _packs.clear()
            _packs[key] = hit = (now, body)
    resp = Response(hit[1], mimetype="application/json")
    resp.headers["Cache-Control"] = "no-cache"
    return resp


__all__ = ["bp"]


def openapi_paths() -> dict:
    """``/api/v1/offline`` for the OpenAPI document."""
    num = {"type": "number"}
    return {"/api/v1/offline": {"get": {
        "operationId": "offlinePack",
        "summary": "A compact copy of the stations around a point, with their open "
                   "intervals for the next 7 days, for the rider app to answer offline",
        "parameters": [
            {"name": "lon", "in": "query", "required": True,
             "schema": {**num, "minimum": -180, "maximum": 180}},
            {"name": "lat", "in": "query", "required": True,
             "schema": {**num, "minimum": -90, "maximum": 90}},
            {"name": "crs", "in": "query", "required": False,
             "schema": {"type": "string", "enum": ["wgs84", "gcj02", "bd09"],
                        "default": "wgs84"}},
            {"name": "radius_km", "in": "query", "required": False,
             "schema": {**num, "minimum": 0.1, "maximum": MAX_RADIUS_KM,
                        "default": DEFAULT_RADIUS_KM}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_STATIONS,
                        "default": DEFAULT_STATIONS}},
            {"name": "lang", "in": "query", "required": False,
             "schema": {"type": "string", "enum": ["zh", "en"]}},
        ],
        "responses": {
            "200": {"description": "The pack: stations nearest first, each with "
                                   "``open`` as [from, to) Unix-second intervals (null: "
                                   "hours unknown)",
                    "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": {"description": "Invalid input (the field is named)",
                    "content": {"application/problem+json": {
                        "schema": {"$ref": "#/components/schemas/Problem"}}}},
        }}}}

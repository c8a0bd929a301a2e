"""Small JSON helpers of the station form (read only; the form itself posts to the
views in :mod:`.stations`):

- ``GET /staff/api/district?lon=&lat=&crs=[&map_crs=]``: the point in WGS-84, GCJ-02,
  BD-09 and the map's CRS, and the district it lies in (shipped boundaries);
- ``GET /staff/api/hours?spec=``: the opening-hours preview (valid, error, plain text,
  open now and next change at the station);
- ``GET /staff/api/duplicates?lon=&lat=&crs=&name=&type=[&exclude=]``: stations the
  candidate may duplicate, with the warning text.

Errors are ``400 {"error": ..., "field": ...}`` in the page's language.
"""

from __future__ import annotations

from flask import Response, jsonify, request

from ...errors import InvalidInput
from ...stations.coords import from_wgs84, parse_crs, validate_lonlat
from ..i18n import current_lang
from .auth import authorised
from .pages import bp
from .station_form import error_message, local_time


def _json(body: dict, status: int = 200) -> Response:
    resp = jsonify(body)
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _bad(e: InvalidInput, args: dict) -> Response:
    fld, msg = error_message(e, args, current_lang(), crs=args.get("crs") or "wgs84")
    return _json({"error": msg, "field": fld}, 400)


def _point(args) -> tuple[float, float, str]:
    crs = parse_crs(args.get("crs") or "wgs84")
    lon, lat = validate_lonlat(args.get("lon", ""), args.get("lat", ""), crs=crs)
    return lon, lat, crs


@bp.get("/api/district")
def api_district():
    authorised("staff.read")
    args = request.args.to_dict()
    try:
        lon, lat, _crs = _point(args)
        map_crs = parse_crs(args.get("map_crs") or "wgs84")
    except InvalidInput as e:
        return _bad(e, args)
    from ...stations.districts import DistrictLookup

    d = DistrictLookup.shipped().lookup(lon, lat)
    lang = current_lang()

    def pair(crs: str) -> list[float]:
        x, y = from_wgs84(lon, lat, crs)
        return [round(float(x), 7), round(float(y), 7)]

    return _json({
        "wgs84": [round(lon, 7), round(lat, 7)], "gcj02": pair("gcj02"), "bd09": pair("bd09"),
        "map": pair(map_crs),
        "district": None if d is None else {"adcode": d.adcode, "name": d.label(lang)},
    })


@bp.get("/api/hours")
def api_hours():
    authorised("staff.read")
    from ...stations.hours_text import hours_preview

    spec = request.args.get("spec", "")[:400]
    p = hours_preview(spec, lang=current_lang())
    if p["next_change"]:
        from datetime import datetime

        p["next_change_text"] = local_time(datetime.fromisoformat(p["next_change"]))
    return _json(p)


@bp.get("/api/duplicates")
def api_duplicates():
    authorised("staff.read")
    from ...stations.duplicates import find_duplicates
    from .. import get_registry

    args = request.args.to_dict()
    try:
        lon, lat, _crs = _point(args)
        hits = find_duplicates({"lon": lon, "lat": lat, "name": args.get("name", "")[:200],
                                "type": args.get("type") or "outdoor_worker"},
                               get_registry().index, exclude_id=args.get("exclude") or None)
    except InvalidInput as e:
        return _bad(e, args)
    lang = current_lang()
    return _json({"hits": [h.to_dict(lang) for h in hits]})

"""Heat and cold alerts over REST, and the rider banner's data.

- ``GET /api/v1/alerts[?lon=&lat=[&crs=]|?district=][&at=][&lang=]``: the alerts active
  at ``at`` (default now), most severe first; public. With a point, those covering the
  district it lies in (and that district); with ``district`` (a district or a city
  code), those that overlap it.
- ``GET /api/v1/alerts/<id>``: one alert, in any state; public.
- ``POST /api/v1/alerts`` (JSON fields of :data:`locator.alerts.FIELDS`),
  ``PATCH /api/v1/alerts/<id>`` (optional ``If-Match: "<version>"``),
  ``POST /api/v1/alerts/<id>/end``: staff only, with the same credentials as the station
  writes (an API token, or a login session plus ``X-CSRF-Token``); the account needs
  the editor role or higher, and every area of the alert inside its scope.

Errors are problem+json naming the field, in the language asked for (``lang``; Chinese
by default): 400, 401, 403, 404, 409, 413, 429.

:func:`alert_banner_context` is what the rider page passes to
``templates/partials/alert_banner.html``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for

from ...alerts import AMENITIES, KINDS, LEVELS, Alert, AlertService
from ...alerts.model import AlertConflict, AlertInvalid, AlertNotFound, area_name
from ...errors import InvalidInput, NotFound
from ...time_util import parse_when
from .. import get_registry
from ..errors import problem
from ..i18n import current_lang
from ..staff.auth import authorised, client_address
from ..upkeep_service import app_service

bp = Blueprint("api_alerts", __name__, url_prefix="/api/v1")

#: Stations the banner lists.
BANNER_STATIONS = 3
_LIST_PARAMS = ("lon", "lat", "crs", "district", "at", "lang")


def get_alerts() -> AlertService:
    """The app's :class:`~locator.alerts.AlertService` (made on first use)."""
    return app_service("locator.alerts",
                       lambda: AlertService.for_store(get_registry().store))


def _lang() -> str:
    raw = (request.args.get("lang") or "").lower()
    g.lang = "en" if raw.startswith("en") else "zh"
    return str(g.lang)


def _json(body: Any, status: int = 200, *, cache: bool = False) -> Response:
    resp = jsonify(body)
    resp.status_code = status
    if not cache:
        resp.headers["Cache-Control"] = "no-store"
    return resp


def _point(args: Any) -> tuple[float, float] | None:
    """The WGS-84 point of ``lon``/``lat`` (in ``crs``), or None when neither is given."""
    from ...stations.coords import parse_crs, validate_lonlat

    lon, lat = args.get("lon"), args.get("lat")
    if lon is None and lat is None:
        if args.get("crs") is not None:
            raise AlertInvalid("crs 只能与 lon、lat 一起使用", "crs goes with lon and lat",
                               field="crs")
        return None
    if lon is None or lat is None:
        missing = "lat" if lon is not None else "lon"
        raise AlertInvalid(f"缺少 {missing}：经度 lon 和纬度 lat 要一起给出",
                           f"{missing} is missing: give lon and lat together", field=missing)
    try:
        crs = parse_crs(args.get("crs") or "wgs84")
    except InvalidInput:
        raise AlertInvalid(f"坐标系 crs {str(args.get('crs'))[:20]!r} 无效；可选：wgs84、gcj02、"
                           "bd09", f"crs {str(args.get('crs'))[:20]!r} is not valid; use "
                           "wgs84, gcj02 or bd09", field="crs") from None
    try:
        return validate_lonlat(lon, lat, crs=crs)
    except InvalidInput as e:
        field = e.field if e.field in ("lon", "lat") else "lon"
        zh = "经度 lon 应为 -180 到 180 之间的数" if field == "lon" \
            else "纬度 lat 应为 -90 到 90 之间的数"
        raise AlertInvalid(f"{zh}（收到 {str(args.get(field))[:30]!r}）", e.message,
                           field=field) from None


def _at(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        return parse_when(raw, field="at").astimezone(timezone.utc)
    except InvalidInput:
        raise AlertInvalid(f"时间 at {raw[:40]!r} 无效；应如 2026-07-15T12:00（北京时间）",
                           f"at {raw[:40]!r} is not a time; use e.g. 2026-07-15T12:00 "
                           "(Beijing time) or 2026-07-15T04:00Z", field="at") from None


def district_at(lon: float, lat: float) -> str | None:
    """The adcode of the shipped district a WGS-84 point lies in."""
    from ...stations.districts import DistrictLookup

    d = DistrictLookup.shipped().lookup(lon, lat)
    return None if d is None else d.adcode


def active_for(*, lon: float | None = None, lat: float | None = None,
               district: str | None = None, at: datetime | None = None
               ) -> tuple[list[Alert], str | None]:
    """Active alerts for a point (those covering its district) or an area; with neither,
    every active alert. Returns ``(alerts, the point's district)``."""
    svc = get_alerts()
    if lon is not None and lat is not None:
        code = district_at(lon, lat)
        return (svc.active(at=at, adcode=code) if code else []), code
    return svc.active(at=at, area=district), None


@bp.get("/alerts")
def list_alerts():
    lang = _lang()
    args = request.args
    unknown = sorted(k for k in args if k not in _LIST_PARAMS)
    if unknown:
        raise AlertInvalid(f"未知参数 {unknown[0][:40]!r}；可用：{'、'.join(_LIST_PARAMS)}",
                           f"unknown parameter {unknown[0][:40]!r}; allowed: "
                           f"{', '.join(_LIST_PARAMS)}", field=unknown[0][:40])
    for k in args:
        if len(args.getlist(k)) > 1:
            raise AlertInvalid(f"参数 {k} 只能给一次", f"{k}: give it once", field=k)
    point = _point(args)
    district = args.get("district")
    if district is not None:
        if point is not None:
            raise AlertInvalid("district 与 lon、lat 只能二选一",
                               "give either district or lon and lat, not both",
                               field="district")
        district = district.strip()
        if district not in get_alerts().areas:
            opts = sorted(get_alerts().areas)
            raise AlertInvalid(f"区县 district {district[:20]!r} 不是已知的行政区划代码；可选："
                               f"{'、'.join(opts)}", f"district {district[:20]!r} is not a "
                               f"known adcode; use one of {', '.join(opts)}",
                               field="district")
    at = _at(args.get("at"))
    alerts, code = active_for(lon=point[0] if point else None,
                              lat=point[1] if point else None, district=district, at=at)
    when = at or datetime.now(timezone.utc)
    body: dict[str, Any] = {
        "at": when.isoformat(timespec="seconds"), "count": len(alerts),
        "alerts": [a.to_dict(lang, at=when) for a in alerts]}
    if point is not None:
        body["point"] = {"lon": point[0], "lat": point[1], "crs": "wgs84"}
        body["district"] = {"adcode": code, "name": area_name(code, lang)} if code else None
    return _json(body, cache=True)


@bp.get("/alerts/<aid>")
def get_alert(aid: str):
    lang = _lang()
    return _json(_found(aid).to_dict(lang))


def _found(aid: str) -> Alert:
    """The alert ``aid``; 404 in the request's language."""
    try:
        return get_alerts().get(aid)
    except AlertNotFound as e:
        raise NotFound(e.message_in(current_lang())) from None


def _body() -> dict[str, Any]:
    if not request.is_json:
        raise AlertInvalid("请求体须为 JSON（Content-Type: application/json）",
                           "the body must be JSON (Content-Type: application/json)",
                           field="body")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise AlertInvalid("请求体须为预警字段组成的 JSON 对象",
                           "the body must be a JSON object of alert fields", field="body")
    if "lang" in body:
        v = body.pop("lang")
        g.lang = "en" if isinstance(v, str) and v.lower().startswith("en") else "zh"
    return body


def _conflict(e: AlertConflict, current: Alert | None = None) -> Response:
    resp = problem(409, "Conflict", e.message_in(current_lang()), kind="alert-conflict")
    if current is not None:
        body = resp.get_json()
        body["current"] = current.to_dict(current_lang())
        resp = _json(body, 409)
        resp.mimetype = "application/problem+json"
    return resp


def _version() -> int | None:
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    tag = raw.strip().removeprefix("W/").strip('"')
    if not tag.isdigit() or len(tag) > 9:
        raise AlertInvalid(f'If-Match {raw[:20]!r} 应为预警的版本号，如 "2"',
                           f'If-Match {raw[:20]!r} must be an alert version such as "2"',
                           field="If-Match")
    return int(tag)


def _saved(a: Alert, status: int = 200) -> Response:
    resp = _json(a.to_dict(current_lang()), status)
    resp.headers["ETag"] = f'"{a.version}"'
    return resp


@bp.post("/alerts")
def create_alert():
    _lang()
    user = authorised("staff.read")
    body = _body()
    a = get_alerts().declare(body, by=user, client=client_address())
    resp = _saved(a, 201)
    resp.headers["Location"] = url_for("api_alerts.get_alert", aid=a.id)
    return resp


@bp.patch("/alerts/<aid>")
def patch_alert(aid: str):
    _lang()
    user = authorised("staff.read")
    version = _version()
    body = _body()
    _found(aid)
    try:
        a = get_alerts().update(aid, body, by=user, client=client_address(),
                                expected_version=version)
    except AlertConflict as e:
        return _conflict(e, get_alerts().get(aid))
    return _saved(a)


@bp.post("/alerts/<aid>/end")
def end_alert(aid: str):
    _lang()
    user = authorised("staff.read")
    _found(aid)
    try:
        a = get_alerts().end(aid, by=user, client=client_address())
    except AlertConflict as e:
        return _conflict(e, get_alerts().get(aid))
    return _saved(a)


# --------------------------------------------------------------------------- the banner


def banner_stations(lon: float, lat: float, kind: str, lang: str, *,
                    k: int = BANNER_STATIONS) -> list[dict[str, Any]]:
    """The nearest stations open now (or with unknown hours) that have what an alert of
    ``kind`` needs; stations riders report closed are left out."""
    from ...time_util import now
    from ..wechat import request_nav_h5

    res = get_registry().index.nearest(lon, lat, k + 5, amenities=list(AMENITIES[kind]),
                                       open_at=now())
    h5 = request_nav_h5()  # WeChat: the vendors' H5 pages only
    out = []
    for r in res:
        if r.reported_closed or r.open_status == "closed":
            continue
        out.append({"id": r.id, "name": r.name, "distance_m": round(r.distance_m, 1),
                    "open_status": r.open_status,
                    "nav_url": r.nav_links_for("walk", h5=h5)["amap"],
                    "url": url_for("pages.station_page", sid=r.id)})
        if len(out) == k:
            break
    return out


def alert_banner_context(*, lon: float | None = None, lat: float | None = None,
                         district: str | None = None, filter_form: str | None = "#finder",
                         lang: str | None = None) -> dict[str, Any]:
    """What ``templates/partials/alert_banner.html`` needs (pass it as ``alert_banner``).

    ``lon``/``lat`` (WGS-84) is the rider's point when the page has one (a shared link,
    the no-JavaScript form); then the banner shows the alert of that district and the
    nearest suitable stations, server-rendered. Without a point it shows the most severe
    alert active anywhere, and the page script narrows it once the rider is located.
    ``filter_form`` is the CSS selector of the form whose amenity boxes the script ticks
    during an alert (None: tick none).
    """
    lang = lang or current_lang()
    try:
        alerts, code = active_for(lon=lon, lat=lat, district=district)
    except Exception as e:  # noqa: BLE001 - an alert problem must never break the page
        import logging

        from sqlalchemy import exc as sa_exc

        logger = logging.getLogger(__name__)
        if isinstance(e, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            logger.warning("alerts not loaded for the banner: the database did not answer")
        else:
            logger.exception("alerts not loaded for the banner")
        alerts, code = [], None
    now_ = datetime.now(timezone.utc)
    items = [a.to_dict(lang, at=now_) for a in alerts]
    top = items[0] if items else None
    stations: list[dict[str, Any]] | None = None
    if top is not None and lon is not None and lat is not None:
        stations = banner_stations(lon, lat, top["kind"], lang)
    strings = banner_strings(lang)
    config = {
        "api": url_for("api_alerts.list_alerts"), "nearest": url_for("api.nearest"),
        "stationPage": url_for("pages.station_page", sid="__ID__").replace("__ID__", ""),
        "lang": lang, "alerts": items, "district": code, "filterForm": filter_form,
        "k": BANNER_STATIONS, "amenities": {k: list(v) for k, v in AMENITIES.items()},
        "strings": strings,
        "point": {"lon": lon, "lat": lat} if lon is not None and lat is not None else None,
    }
    sep = ", " if lang == "en" else "、"
    where = sep.join(d["name"] for d in top["districts"]) if top else ""
    return {"alert": top, "alerts": items, "stations": stations, "config": config,
            "strings": strings, "where": where}


def banner_strings(lang: str) -> dict[str, str]:
    zh = lang != "en"

    def t(a: str, b: str) -> str:
        return a if zh else b

    return {
        "title": t("预警", "Alert"),
        "until": t("至 {t}", "until {t}"),
        "stations_heat": t("最近的开放驿站（有空调和饮用水）", "Nearest open stations with air "
                           "conditioning and drinking water"),
        "stations_cold": t("最近的开放驿站（有取暖）", "Nearest open stations with heating"),
        "locate_first": t("定位或选择位置后，这里会列出最近的驿站。", "Locate yourself or pick "
                          "a place to see the nearest stations here."),
        "loading": t("正在查找附近驿站…", "Finding nearby stations…"),
        "none": t("附近暂无符合条件的开放驿站。", "No open station with these amenities "
                  "nearby."),
        "failed": t("附近驿站暂时无法加载。", "Nearby stations could not be loaded."),
        "filters_heat": t("只看有空调和饮用水的站点（预警期间默认开启）",
                          "Only stations with air conditioning and drinking water (on by "
                          "default during the alert)"),
        "filters_cold": t("只看有取暖的站点（预警期间默认开启）",
                          "Only stations with heating (on by default during the alert)"),
        "navigate": t("导航", "Navigate"),
        "metres": t("{d} 米", "{d} m"), "kilometres": t("{d} 公里", "{d} km"),
        "open_open": t("营业中", "Open now"), "open_unknown": t("时间未知", "Hours unknown"),
        "open_closed": t("已打烊", "Closed now"),
    }


# --------------------------------------------------------------------------- OpenAPI


def openapi_paths() -> dict[str, Any]:
    """The alert endpoints for the OpenAPI document."""
    ref = {"$ref": "#/components/schemas/Problem"}
    texts = {400: "Invalid input (the field is named in invalid_params)",
             401: "No or bad credentials", 403: "Outside the account's role (editor or "
             "higher) or district scope, or no CSRF token", 404: "No such alert",
             409: "The alert has ended, or If-Match names a stale version",
             413: "Body too large", 429: "Too many requests"}

    def errors(*codes: int) -> dict[str, Any]:
        return {str(c): {"description": texts[c],
                         "content": {"application/problem+json": {"schema": ref}}}
                for c in codes}

    levels = sorted({lv.code for lvs in LEVELS.values() for lv in lvs})
    alert_in = {
        "type": "object", "additionalProperties": False,
        "required": ["kind", "level", "districts", "starts_at", "ends_at", "message_zh"],
        "properties": {
            "kind": {"type": "string", "enum": list(KINDS)},
            "level": {"type": "string", "enum": levels,
                      "description": "heat: yellow (35 °C), orange (37 °C), red (40 °C); "
                                     "cold: blue, yellow, orange, red (CMA cold-wave "
                                     "signals)."},
            "districts": {"type": "array", "minItems": 1, "items": {"type": "string",
                          "pattern": "^[0-9]{6}$"},
                          "description": "Adcodes: districts, or 320300 for all of Xuzhou."},
            "starts_at": {"type": "string", "format": "date-time",
                          "description": "ISO 8601; without an offset, Beijing time."},
            "ends_at": {"type": "string", "format": "date-time",
                        "description": "Later than starts_at, in the future, at most 31 "
                                       "days after it."},
            "message_zh": {"type": "string", "maxLength": 300},
            "message_en": {"type": "string", "maxLength": 600, "nullable": True},
            "lang": {"type": "string", "enum": ["zh", "en"],
                     "description": "Language of error messages."},
        },
    }
    alert_out = {"type": "object", "properties": {
        "id": {"type": "integer"}, "kind": {"type": "string"},
        "level": {"type": "string"}, "level_label": {"type": "string"},
        "districts": {"type": "array", "items": {"type": "object"}},
        "starts_at": {"type": "string", "format": "date-time"},
        "ends_at": {"type": "string", "format": "date-time"},
        "message": {"type": "string"}, "advice": {"type": "string"},
        "amenities": {"type": "array", "items": {"type": "string"},
                      "description": "The amenity filter to use during the alert."},
        "state": {"type": "string", "enum": ["scheduled", "active", "ended"]},
        "version": {"type": "integer"}}}
    one = {"content": {"application/json": {"schema": alert_out}}}
    lang_q = {"name": "lang", "in": "query", "required": False,
              "schema": {"type": "string", "enum": ["zh", "en"], "default": "zh"}}
    aid = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    secured: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}]
    body = {"required": True, "content": {"application/json": {"schema": alert_in}}}
    patch_body = {"required": True, "content": {"application/json": {"schema": {
        **alert_in, "required": []}}}}
    return {
        "/api/v1/alerts": {
            "get": {"operationId": "listAlerts", "summary": "Heat and cold alerts active now"
                    " (or at `at`), most severe first; public",
                    "parameters": [
                        {"name": "lon", "in": "query", "schema": {"type": "number"}},
                        {"name": "lat", "in": "query", "schema": {"type": "number"}},
                        {"name": "crs", "in": "query", "schema": {
                            "type": "string", "enum": ["wgs84", "gcj02", "bd09"]}},
                        {"name": "district", "in": "query", "schema": {"type": "string"},
                         "description": "An adcode (not with lon/lat)."},
                        {"name": "at", "in": "query", "schema": {
                            "type": "string", "format": "date-time"}}, lang_q],
                    "responses": {"200": {"description": "Active alerts", "content": {
                        "application/json": {"schema": {"type": "object", "properties": {
                            "count": {"type": "integer"},
                            "alerts": {"type": "array", "items": alert_out}}}}}},
                        **errors(400, 429)}},
            "post": {"operationId": "declareAlert", "summary": "Declare an alert (editor or "
                     "higher, every district inside the account's scope)",
                     "security": secured, "parameters": [lang_q], "requestBody": body,
                     "responses": {"201": {"description": "Declared", **one},
                                   **errors(400, 401, 403, 413, 429)}}},
        "/api/v1/alerts/{id}": {
            "get": {"operationId": "getAlert", "summary": "One alert, in any state",
                    "parameters": [aid, lang_q],
                    "responses": {"200": {"description": "The alert", **one},
                                  **errors(404, 429)}},
            "patch": {"operationId": "updateAlert", "summary": "Change fields of an alert "
                      "that has not ended", "security": secured,
                      "parameters": [aid, lang_q, {"name": "If-Match", "in": "header",
                                                   "required": False,
                                                   "schema": {"type": "string"}}],
                      "requestBody": patch_body,
                      "responses": {"200": {"description": "Changed", **one},
                                    **errors(400, 401, 403, 404, 409, 413, 429)}}},
        "/api/v1/alerts/{id}/end": {"post": {
            "operationId": "endAlert", "summary": "End an alert now", "security": secured,
            "parameters": [aid, lang_q],
            "responses": {"200": {"description": "Ended", **one},
                          **errors(401, 403, 404, 409, 429)}}},
    }

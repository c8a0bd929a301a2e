"""REST writes: create, change (with ``If-Match``), delete (soft), restore, history.

Every write needs an account: an API token (``Authorization: Bearer ...``) or a login
session plus its CSRF token (``X-CSRF-Token``). 401 without credentials, 403 outside
the account's role or district scope, 409 on a stale version (with the current record),
428 when ``If-Match`` is missing. The work is done by
:class:`locator.staff.station_edits.StationEditor`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from ...errors import Conflict, InvalidInput
from ...stations.model import EDITABLE_FIELDS, MAX_CAPACITY, Station
from ..i18n import current_lang
from ..staff.auth import authorised, client_address, editor

bp = Blueprint("api_writes", __name__, url_prefix="/api/v1")

_BODY_EXTRA = ("crs", "confirm_duplicates")


class PreconditionRequired(InvalidInput):
    """A change without ``If-Match``."""


def _json_body() -> dict[str, Any]:
    if not request.is_json:
        raise InvalidInput("the body must be JSON (Content-Type: application/json)",
                           field="body")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object of station fields", field="body")
    unknown = set(body) - set(EDITABLE_FIELDS) - set(_BODY_EXTRA)
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
                           f"allowed: {', '.join(EDITABLE_FIELDS + _BODY_EXTRA)}",
                           field=sorted(map(str, unknown))[0])
    return body


def _flag(body: dict[str, Any], key: str) -> bool:
    v = body.pop(key, False)
    if not isinstance(v, bool):
        raise InvalidInput(f"{key} must be true or false", field=key)
    return v


def _crs(body: dict[str, Any]) -> str:
    from ...stations.coords import parse_crs

    v = body.pop("crs", "wgs84")
    if not isinstance(v, str):
        raise InvalidInput("crs must be a string: wgs84, gcj02 or bd09", field="crs")
    return parse_crs(v)


def if_match_version() -> int:
    """The version ``If-Match`` names (ETag ``"<version>"``); 428 when missing."""
    raw = request.headers.get("If-Match")
    if raw is None:
        raise PreconditionRequired("If-Match is required: send the ETag of the version you "
                                   'edited (e.g. If-Match: "3"), so that a change made by '
                                   "someone else meanwhile is not overwritten",
                                   field="If-Match")
    tag = raw.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    tag = tag.strip('"')
    if not tag.isdigit() or len(tag) > 9:
        raise InvalidInput(f'If-Match {raw!r} is not a station ETag such as "3"',
                           field="If-Match")
    return int(tag)


def station_json(st: Station, *, status: int = 200) -> Response:
    resp = jsonify(st.to_dict(lang=current_lang()))
    resp.status_code = status
    resp.headers["ETag"] = f'"{st.version}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _stale(sid: str, e: Conflict) -> Response:
    """409 with the current record, so the client can show both versions."""
    from ..errors import problem

    current = editor().registry.store.get(sid)
    resp = problem(409, "Conflict", str(e), kind="stale-version")
    body = resp.get_json()
    body["current"] = current.to_dict(lang=current_lang())
    out = jsonify(body)
    out.status_code = 409
    out.mimetype = "application/problem+json"
    out.headers["ETag"] = f'"{current.version}"'
    return out


@bp.post("/stations")
def create_station():
    user = authorised("station.write")
    body = _json_body()
    confirm = _flag(body, "confirm_duplicates")
    crs = _crs(body)
    st = editor().create(user, body, crs=crs, client=client_address(),
                         confirm_duplicates=confirm)
    resp = station_json(st, status=201)
    resp.headers["Location"] = url_for("api.station", sid=st.id)
    return resp


@bp.patch("/stations/<sid>")
def patch_station(sid: str):
    user = authorised("station.write")
    version = if_match_version()
    body = _json_body()
    confirm = _flag(body, "confirm_duplicates")
    crs = _crs(body)
    if "id" in body:
        raise InvalidInput("id cannot be changed", field="id")
    try:
        st = editor().update(user, sid, body, expected_version=version, crs=crs,
                             client=client_address(), confirm_duplicates=confirm)
    except Conflict as e:
        return _stale(sid, e)
    return station_json(st)


@bp.delete("/stations/<sid>")
def delete_station(sid: str):
    user = authorised("station.write")
    version = if_match_version() if "If-Match" in request.headers else None
    try:
        gone = editor().delete(user, sid, expected_version=version, client=client_address())
    except Conflict as e:
        return _stale(sid, e)
    resp = jsonify({"id": gone.id, "deleted": True, "version": gone.version})
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/stations/<sid>/restore")
def restore_station(sid: str):
    user = authorised("station.write")
    return station_json(editor().restore(user, sid, client=client_address()))


@bp.get("/stations/<sid>/history")
def station_history(sid: str):
    authorised("staff.read")
    entries = editor().history(sid)
    items = [{"version": h.version, "op": h.op, "actor": h.actor, "at": h.at.isoformat(),
              "batch": h.batch,
              "changes": [{"field": c.field, "before": c.before, "after": c.after}
                          for c in h.changes]} for h in entries]
    resp = jsonify({"id": sid, "items": items})
    resp.headers["Cache-Control"] = "no-store"
    return resp


def openapi_paths() -> dict[str, Any]:
    """The write endpoints for the OpenAPI document (merged into the read paths)."""
    from ...stations.vocab import AMENITIES, STATION_TYPES, STATUSES

    ref = {"$ref": "#/components/schemas/Problem"}
    problem = {"content": {"application/problem+json": {"schema": ref}}}

    def errors(*codes: int) -> dict[str, Any]:
        return {str(c): {"description": _STATUS_TEXT[c], **problem} for c in codes}

    station_in = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "maxLength": 64},
            "name": {"type": "string", "maxLength": 200},
            "type": {"type": "string", "enum": list(STATION_TYPES.codes),
                     "description": "A type code or its Chinese name (爱心驿站 ...)."},
            "lon": {"type": "number"}, "lat": {"type": "number"},
            "crs": {"type": "string", "enum": ["wgs84", "gcj02", "bd09"],
                    "default": "wgs84", "description": "Coordinate system of lon/lat."},
            "address": {"type": "string"}, "district_adcode": {"type": "string"},
            "district_name": {"type": "string"}, "operator": {"type": "string"},
            "amenities": {"type": "array", "items": {"type": "string",
                                                     "enum": list(AMENITIES.codes)}},
            "opening_hours": {"type": "string", "nullable": True,
                              "description": "OpenStreetMap opening_hours syntax."},
            "access": {"type": "string"}, "phone": {"type": "string"},
            "status": {"type": "string", "enum": list(STATUSES.codes)},
            "verified_date": {"type": "string", "format": "date", "nullable": True},
            "capacity": {"type": "integer", "minimum": 1, "maximum": MAX_CAPACITY,
                         "nullable": True,
                         "description": "Seats (座位数) the station offers its users; null: "
                                        "not recorded."},
            "source": {"type": "string"},
            "confirm_duplicates": {"type": "boolean", "default": False,
                                   "description": "Store it although a station of the same "
                                                  "type is within 50 m, or one with a "
                                                  "similar name within 200 m."},
        },
        "additionalProperties": False,
    }
    body = {"required": True, "content": {"application/json": {"schema": station_in}}}
    sid = {"name": "id", "in": "path", "required": True,
           "schema": {"type": "string", "maxLength": 64}}
    if_match = {"name": "If-Match", "in": "header", "required": True,
                "schema": {"type": "string", "maxLength": 20},
                "description": 'The ETag of the version edited, e.g. "3".'}
    ok = {"description": "The stored station; ETag is its version",
          "headers": {"ETag": {"schema": {"type": "string"}}},
          "content": {"application/json": {"schema": {"type": "object"}}}}
    secured = [{"bearer": []}, {"session": []}]
    return {
        "/api/v1/stations": {"post": {
            "operationId": "createStation", "summary": "Create a station (editor or higher, "
            "inside the account's district scope)", "security": secured,
            "requestBody": body,
            "responses": {"201": ok, **errors(400, 401, 403, 409, 413, 429)}}},
        "/api/v1/stations/{id}": {
            "patch": {"operationId": "updateStation", "summary": "Change fields of a station;"
                      " If-Match carries the version edited (409 with the current record "
                      "when it is stale)", "security": secured, "parameters": [sid, if_match],
                      "requestBody": body,
                      "responses": {"200": ok, **errors(400, 401, 403, 404, 409, 413, 428,
                                                        429)}},
            "delete": {"operationId": "deleteStation", "summary": "Delete a station (it is "
                       "kept, hidden, and can be restored)", "security": secured,
                       "parameters": [sid, {**if_match, "required": False}],
                       "responses": {"200": {"description": "Deleted", "content": {
                           "application/json": {"schema": {"type": "object"}}}},
                           **errors(400, 401, 403, 404, 409, 429)}}},
        "/api/v1/stations/{id}/restore": {"post": {
            "operationId": "restoreStation", "summary": "Bring a deleted station back",
            "security": secured, "parameters": [sid],
            "responses": {"200": ok, **errors(400, 401, 403, 404, 409, 429)}}},
        "/api/v1/stations/{id}/history": {"get": {
            "operationId": "stationHistory", "summary": "Every version of a station: who, "
            "when, what changed (staff only)", "security": secured, "parameters": [sid],
            "responses": {"200": {"description": "Versions, newest first", "content": {
                "application/json": {"schema": {"type": "object"}}}},
                **errors(400, 401, 403, 404, 429)}}},
    }


#: Security schemes of the write endpoints.
SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "An API token from `locator tokens create NAME`."},
    "session": {"type": "apiKey", "in": "cookie", "name": "locator_session",
                "description": "A staff login session; unsafe methods also need the "
                               "X-CSRF-Token header."},
}

_STATUS_TEXT = {400: "Invalid input", 401: "No or bad credentials",
                403: "Outside the account's role or district scope, or no CSRF token",
                404: "No such station", 409: "Stale version or suspected duplicate",
                413: "Body too large", 428: "If-Match missing", 429: "Too many requests"}

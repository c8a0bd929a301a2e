"""``POST /api/v1/checkins``: an anonymous "I'm here" at a station (occupation only).

The rules (rate limit, no double count within 30 minutes, what is kept) are in
:mod:`locator.upkeep.checkins`; this module parses the body, calls the app's
:class:`~locator.upkeep.checkins.CheckinBook` and answers: 201 with the counts when the
check-in was counted, 200 when it repeats one made within 30 minutes (not counted again),
400 naming the field, 404 for an unknown station, 409 for a closed one, 429 with
``Retry-After`` past the rate limit.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from ...errors import Conflict, NotFound
from ...stations.codes import ALPHABET, normalize_code
from ...store.upkeep import OCCUPATIONS
from ...upkeep.checkins import (
    OCCUPATION_LABELS,
    Checkin,
    CheckinBook,
    CheckinInvalid,
    check_occupation,
)
from .. import get_registry
from ..errors import problem
from ..i18n import current_lang
from ..i18n import gettext as _
from ..upkeep_service import app_service

bp = Blueprint("api_checkins", __name__, url_prefix="/api/v1")

_BODY_FIELDS = ("station_id", "code", "occupation", "lang")
_CODE_CHARS = frozenset(ALPHABET)


def checkin_book() -> CheckinBook:
    """The app's check-in book (``app.extensions["locator.checkins"]``), made on first
    use from the registry's database and the ``checkin_rate_limit`` setting."""
    return app_service("locator.checkins", lambda: CheckinBook(
        get_registry().store.engine,
        rate_limit=current_app.config["LOCATOR_CHECKIN_RATE_LIMIT"]))


def station_for(*, station_id: str | None = None, code: str | None = None) -> Any:
    """The live station with this id or public code, or a :class:`NotFound` in the
    request's language."""
    reg = get_registry()
    try:
        if station_id is not None:
            sid = station_id
        elif set(normalize_code(code or "")) <= _CODE_CHARS:
            sid = reg.store.id_for_code(code or "")
        else:  # not a code at all (and nothing a database should be asked about)
            raise NotFound(code)
        return reg.index.get(sid)
    except NotFound:
        what = station_id if station_id is not None else code
        raise NotFound(_(f"没有编号为 {what!r} 的站点", f"no station has the id or code "
                                                      f"{what!r}")) from None


def record_checkin(station: Any, occupation: str) -> Checkin:
    """Record a check-in at ``station`` for this request's client; raises
    :class:`CheckinInvalid`, :class:`TooManyCheckins`, or :class:`Conflict` /
    :class:`NotFound` in the request's language."""
    try:
        return checkin_book().record(station.id, occupation,
                                     client=request.remote_addr or "unknown")
    except Conflict:
        raise Conflict(_("此站点已关闭，不能登记到站", "this station is closed; check-ins "
                         "are not taken there")) from None
    except NotFound:
        raise NotFound(_(f"没有编号为 {station.id!r} 的站点",
                         f"station {station.id!r} does not exist")) from None


def thanks(result: Checkin) -> str:
    if result.counted:
        return _("谢谢！已记录你的到站（不记录姓名和电话）。",
                 "Thank you! Your visit is counted (no name or phone number is kept).")
    return _("30 分钟内已登记过，这次不重复计数。谢谢！",
             "You checked in here within the last 30 minutes; it is not counted twice. "
             "Thank you!")


def _body() -> dict[str, Any]:
    for key in request.args:
        if key != "lang":
            raise CheckinInvalid(f"未知的查询参数 {key[:40]!r}；只接受 lang",
                                 f"unknown query parameter {key[:40]!r}; only lang is "
                                 "accepted", field=key[:40])
    if not request.is_json:
        raise CheckinInvalid("请求体应为 JSON（Content-Type: application/json）",
                             "the body must be JSON (Content-Type: application/json)",
                             field="body")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise CheckinInvalid("请求体应为 JSON 对象，例如 {\"code\": \"...\", \"occupation\": "
                             "\"delivery\"}", "the body must be a JSON object such as "
                             "{\"code\": \"...\", \"occupation\": \"delivery\"}", field="body")
    lang = body.get("lang")
    if lang is not None:
        if lang not in ("zh", "en"):
            raise CheckinInvalid("lang 应为 zh 或 en", "lang must be zh or en", field="lang")
        g.lang = lang
    unknown = sorted(str(k) for k in body if k not in _BODY_FIELDS)
    if unknown:
        raise CheckinInvalid(f"未知的字段 {unknown[0][:40]!r}；可用：{'、'.join(_BODY_FIELDS)}",
                             f"unknown field {unknown[0][:40]!r}; allowed: "
                             f"{', '.join(_BODY_FIELDS)}", field=unknown[0][:40])
    for key in ("station_id", "code"):
        if key in body and (not isinstance(body[key], str) or not body[key].strip()
                            or len(body[key]) > 64):
            raise CheckinInvalid(f"{key} 应为不超过 64 个字符的非空文本",
                                 f"{key} must be a non-empty string of at most 64 "
                                 "characters", field=key)
    if ("station_id" in body) == ("code" in body):
        raise CheckinInvalid("请给出 station_id 或 code（二选一）",
                             "give either station_id or code (one of them)",
                             field="station_id")
    if "occupation" not in body:
        raise CheckinInvalid(f"缺少 occupation；可选：{'、'.join(OCCUPATIONS)}",
                             f"occupation is required; one of {', '.join(OCCUPATIONS)}",
                             field="occupation")
    check_occupation(body["occupation"])
    return body


@bp.post("/checkins")
def create_checkin() -> Response:
    body = _body()
    st = station_for(station_id=body.get("station_id"), code=body.get("code"))
    try:
        result = record_checkin(st, body["occupation"])  # TooManyCheckins: 429 (errors.py)
    except Conflict as e:
        return problem(409, "Conflict", str(e), kind="station-closed")
    lang = current_lang()
    resp = jsonify({
        "counted": result.counted, "station_id": st.id, "code": st.code,
        "occupation": result.occupation,
        "occupation_label": OCCUPATION_LABELS[result.occupation][1 if lang == "en" else 0],
        "at": result.at.isoformat(), "visits_this_hour": result.visits_this_hour,
        "visits_today": result.visits_today, "message": thanks(result),
    })
    resp.status_code = 201 if result.counted else 200
    resp.headers["Cache-Control"] = "no-store"
    return resp


def openapi_paths() -> dict[str, Any]:
    """``POST /api/v1/checkins`` for the OpenAPI document."""
    problem_ref = {"content": {"application/problem+json": {
        "schema": {"$ref": "#/components/schemas/Problem"}}}}
    texts = {400: "Invalid input, naming the field", 404: "No such station (id or code)",
             409: "The station is closed", 413: "Body too large",
             429: "Past the check-in rate limit (see Retry-After)"}
    errors = {str(c): {"description": t, **problem_ref} for c, t in texts.items()}
    errors["429"]["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    body = {
        "type": "object", "required": ["occupation"], "additionalProperties": False,
        "properties": {
            "station_id": {"type": "string", "minLength": 1, "maxLength": 64,
                           "description": "The station's id (give this or code)."},
            "code": {"type": "string", "minLength": 1, "maxLength": 64,
                     "description": "The station's public code, as printed on its poster "
                                    "(case, spaces, dashes and O/0, I/L/1 are forgiven)."},
            "occupation": {"type": "string", "enum": list(OCCUPATIONS),
                           "description": "The only thing recorded about the person."},
            "lang": {"type": "string", "enum": ["zh", "en"], "default": "zh",
                     "description": "Language of the message and labels."},
        },
    }
    ack = {"type": "object",
           "required": ["counted", "station_id", "code", "occupation", "occupation_label",
                        "at", "visits_this_hour", "visits_today", "message"],
           "properties": {
               "counted": {"type": "boolean"}, "station_id": {"type": "string"},
               "code": {"type": "string"},
               "occupation": {"type": "string", "enum": list(OCCUPATIONS)},
               "occupation_label": {"type": "string"},
               "at": {"type": "string", "format": "date-time"},
               "visits_this_hour": {"type": "integer", "minimum": 0},
               "visits_today": {"type": "integer", "minimum": 0},
               "message": {"type": "string"}}}
    content = {"application/json": {"schema": ack}}
    lang_q = {"name": "lang", "in": "query", "required": False,
              "schema": {"type": "string", "enum": ["zh", "en"]},
              "description": "Language of the message (the body's lang wins)."}
    return {"/api/v1/checkins": {"post": {
        "operationId": "createCheckin",
        "summary": "Anonymous check-in at a station (occupation category only; no name or "
                   "phone number). Rate-limited per client; a repeat at the same station "
                   "within 30 minutes is acknowledged (200) but not counted again.",
        "parameters": [lang_q],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {"201": {"description": "Counted", "content": content},
                      "200": {"description": "A repeat within 30 minutes; not counted",
                              "content": content},
                      **errors},
    }}}

"""Riders' reports over REST: ``POST /api/v1/reports`` and ``GET /api/v1/reports/<ref>``.

No login. The body is JSON (or a plain form, as the no-JavaScript report page sends);
the rules are :class:`locator.upkeep.reports.ReportService`'s. Errors are problem+json
naming the field, in the language asked for (``lang`` in the body or the query; Chinese
by default): 400 bad input, 403 a form posted from another site's page, 404 unknown
station or reference, 413 body too large, 415 neither JSON nor a form, 429 past the
per-client limit (with ``Retry-After``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, jsonify, request, url_for
from werkzeug.exceptions import HTTPException, UnsupportedMediaType

from ...errors import NotFound
from ...upkeep.reports import Report, ReportInvalid, report_fields
from .. import get_registry
from ..i18n import gettext as _
from ..upkeep_service import client_address, get_reports

bp = Blueprint("api_reports", __name__, url_prefix="/api/v1")

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def lang_of(value: Any) -> str:
    return "en" if isinstance(value, str) and value.lower().startswith("en") else "zh"


def _body() -> dict[str, Any]:
    """The report fields of a JSON object or a form; 415 for anything else."""
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict) and "lang" in body:
            g.lang = lang_of(body["lang"])
        if not isinstance(body, dict):
            raise ReportInvalid("请求体必须是 JSON 对象", "the body must be a JSON object of "
                                "report fields", field="body")
        return body
    if request.mimetype in FORM_TYPES:
        _same_origin()
        body = request.form.to_dict()
        if "lang" in body:
            g.lang = lang_of(body["lang"])
        return body
    raise UnsupportedMediaType(_(
        "请求体须为 JSON（Content-Type: application/json）或表单",
        "send the report as JSON (Content-Type: application/json) or as a form"))


class CrossSiteForm(HTTPException):
    code = 403
    description = ("a report form may only be sent from this site's own pages "
                   "/ 只能从本站页面提交反馈表单")


def _same_origin() -> None:
    """A form (unlike JSON, which needs a CORS preflight) can be posted by any site's
    page: refuse one whose ``Origin`` is another site not allowed by CORS, so that no
    site can make its visitors' browsers report stations."""
    origin = request.headers.get("Origin")
    if not origin:
        return
    allowed = [o.strip() for o in str(current_app.config["LOCATOR_CORS_ORIGINS"]).split(",")]
    if urlsplit(origin).netloc == request.host or "*" in allowed or origin in allowed:
        return
    raise CrossSiteForm()


def station_name(sid: str) -> str | None:
    try:
        return get_registry().index.get(sid).name
    except NotFound:
        return None


def report_json(rep: Report, lang: str) -> dict[str, Any]:
    """What the reporter sees: the public fields, the station's name, the status link."""
    return {**rep.public_dict(lang), "station_name": station_name(rep.station_id),
            "status_url": url_for("report_pages.report_status", ref=rep.ref, lang=lang,
                                  _external=True)}


@bp.post("/reports")
def submit_report():
    g.lang = lang_of(request.args.get("lang"))
    fields = report_fields(_body())
    lang = g.lang
    fields["lang"] = lang
    sid = fields.pop("station_id", None)
    kind = fields.pop("kind", None)
    try:
        rep, created = get_reports().submit(sid, kind, client=client_address(), **fields)
    except NotFound:
        raise NotFound(_(f"没有编号为 {sid!r} 的站点", f"station {sid!r} does not exist")) \
            from None
    resp = jsonify({**report_json(rep, lang), "created": created})
    resp.status_code = 201 if created else 200
    resp.headers["Location"] = url_for("api_reports.get_report", ref=rep.ref)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/reports/<ref>")
def get_report(ref: str):
    lang = g.lang = lang_of(request.args.get("lang"))
    try:
        rep = get_reports().get(ref)
    except NotFound:
        raise NotFound(_(f"没有编号为 {ref!r} 的反馈", f"no report has the reference {ref!r}")) \
            from None
    resp = jsonify(report_json(rep, lang))
    resp.headers["Cache-Control"] = "no-store"
    return resp


def openapi_paths() -> dict[str, Any]:
    """The report endpoints for the OpenAPI document."""
    from ...store.upkeep import REPORT_KINDS, REPORT_STATUSES
    from ...upkeep.reports import MAX_NOTE

    ref = {"$ref": "#/components/schemas/Problem"}
    texts = {400: "Invalid input (the field is named in invalid_params)",
             403: "A form sent from another site's page",
             404: "No such station or report", 413: "Body too large",
             415: "Neither JSON nor a form", 429: "Too many reports from this client; "
             "see Retry-After"}

    def errors(*codes: int) -> dict[str, Any]:
        return {str(c): {"description": texts[c],
                         "content": {"application/problem+json": {"schema": ref}}}
                for c in codes}

    lang = {"type": "string", "enum": ["zh", "en"], "default": "zh",
            "description": "Language of the labels and of error messages."}
    report_in = {
        "type": "object", "required": ["station_id", "kind"], "additionalProperties": False,
        "properties": {
            "station_id": {"type": "string", "maxLength": 64},
            "kind": {"type": "string", "enum": list(REPORT_KINDS),
                     "description": "locked (locked or closed), not_here (not at this "
                                    "location), wrong_hours, amenity (missing or broken), "
                                    "other."},
            "amenity": {"type": "string", "maxLength": 32,
                        "description": "For kind amenity: one of the station's amenities, "
                                       "or other."},
            "note": {"type": "string", "maxLength": MAX_NOTE},
            "lon": {"type": "number", "minimum": -180, "maximum": 180,
                    "description": "For kind not_here: the corrected position, in crs."},
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "crs": {"type": "string", "enum": ["wgs84", "gcj02", "bd09"],
                    "default": "wgs84"},
            "lang": lang,
        },
    }
    report_out = {
        "type": "object",
        "required": ["ref", "station_id", "kind", "kind_label", "status", "status_label",
                     "created_at", "status_url"],
        "properties": {
            "ref": {"type": "string"}, "station_id": {"type": "string"},
            "station_name": {"type": "string", "nullable": True},
            "kind": {"type": "string", "enum": list(REPORT_KINDS)},
            "kind_label": {"type": "string"},
            "amenity": {"type": "string", "nullable": True},
            "status": {"type": "string", "enum": list(REPORT_STATUSES)},
            "status_label": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "resolution": {"type": "string", "nullable": True},
            "status_url": {"type": "string", "description": "The public status page."},
            "created": {"type": "boolean"},
        },
    }
    ok = {"content": {"application/json": {"schema": report_out}}}
    lang_q = {"name": "lang", "in": "query", "required": False, "schema": lang}
    return {
        "/api/v1/reports": {"post": {
            "operationId": "submitReport",
            "summary": "Report a station that is not as the map says (no login; limited "
                       "per client)",
            "parameters": [lang_q],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": report_in},
                "application/x-www-form-urlencoded": {"schema": report_in}}},
            "responses": {
                "201": {"description": "Stored; ref is the reference number", **ok},
                "200": {"description": "The same client's open report of the same kind "
                                       "(not stored again)", **ok},
                **errors(400, 403, 404, 413, 415, 429)}}},
        "/api/v1/reports/{ref}": {"get": {
            "operationId": "getReport", "summary": "A report's public status",
            "parameters": [{"name": "ref", "in": "path", "required": True,
                            "schema": {"type": "string", "maxLength": 32}}, lang_q],
            "responses": {"200": {"description": "The report", **ok},
                          **errors(400, 404, 429)}}},
    }

"""``POST /api/v1/imports``: a bulk import (or its dry run) in one request.

A multipart body: ``file`` (CSV in UTF-8 or GBK/GB18030, XLSX or GeoJSON), ``crs``
(``wgs84``, ``gcj02`` or ``bd09``; required, as on the page: a wrong one moves every
Xuzhou station by about 550 m), optionally ``mapping`` (a JSON object: the file's header
-> field name, or null to drop the column), ``saved_mapping`` (the name of a mapping
saved on the import page), ``ignore_unknown_columns``, ``skip_error_rows`` and
``dry_run`` (default ``true``: nothing is written unless the caller says
``dry_run=false``).

Auth as for the other writes: an API token, or a session plus ``X-CSRF-Token``. The
account needs ``station.import``; every row must lie in its district scope.

Answers: 200 with the plan (dry run), 201 with the plan and ``"imported": true``, 400
(file or rows with errors; the plan is in the problem body), 401, 403 (role, or rows
outside the scope), 413 (larger than ``LOCATOR_MAX_UPLOAD_BYTES``). The real import is
one transaction with its ``station.import`` audit row.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, jsonify, request

from ...errors import InvalidInput, NotFound
from ...staff import imports as work
from ...stations.coords import parse_crs
from ...store.files import FileError
from .. import get_registry
from ..errors import problem
from ..i18n import current_lang
from ..staff.auth import accounts, authorised, client_address
from ..staff.imports import districts, mappings, max_rows, upload_limit

bp = Blueprint("api_imports", __name__, url_prefix="/api/v1")

_FIELDS = ("file", "crs", "mapping", "saved_mapping", "dry_run", "ignore_unknown_columns",
           "skip_error_rows", "csrf_token")


def _flag(name: str, default: bool) -> bool:
    raw = request.form.get(name)
    if raw is None or raw == "":
        return default
    v = raw.strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise InvalidInput(f"{name} must be true or false, not {raw[:20]!r}", field=name)


def _mapping() -> dict[str, str | None] | None:
    raw = request.form.get("mapping")
    name = (request.form.get("saved_mapping") or "").strip()
    out: dict[str, str | None] = {}
    if name:
        try:
            out.update(mappings().get(name).columns)
        except NotFound as e:  # a bad parameter of this request, not a missing resource
            raise InvalidInput(str(e), field="saved_mapping") from None
    if raw:
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError as e:
            raise InvalidInput(f"mapping is not JSON ({e.msg}); send an object of header -> "
                               "field name or null", field="mapping") from None
        if not isinstance(doc, dict) or not all(
                isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in doc.items()):
            raise InvalidInput("mapping must be a JSON object of header -> field name or null",
                               field="mapping")
        out.update(doc)
    return out or None


def _file_problem(e: FileError, lang: str):
    resp = problem(400, "Invalid file", e.text(lang), kind="invalid-file",
                   invalid_params=[{"name": e.field or "file", "reason": e.text(lang)}])
    body = resp.get_json()
    body.update(detail_zh=e.message_zh, detail_en=e.message_en)
    return _with(resp, body)


def _with(resp: Any, body: dict[str, Any]):
    out = jsonify(body)
    out.status_code = resp.status_code
    out.mimetype = "application/problem+json"
    return out


@bp.post("/imports")
@upload_limit
def create_import():
    user = authorised("station.import")
    lang = current_lang()
    # A multipart part may come without a name (None): still unknown, still reportable.
    unknown = sorted({"" if k is None else str(k) for k in (*request.form, *request.files)}
                     - set(_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(unknown)}; allowed: "
                           f"{', '.join(_FIELDS[:-1])}", field=unknown[0])
    f = request.files.get("file")
    if f is None or not f.filename:
        raise InvalidInput("file is required: a multipart part named 'file' holding a .csv, "
                           ".xlsx or .geojson file", field="file")
    crs_raw = (request.form.get("crs") or "").strip()
    if not crs_raw:
        raise InvalidInput("crs is required: wgs84 (GPS, Tianditu), gcj02 (Amap, Tencent) or "
                           "bd09 (Baidu); a wrong one moves Xuzhou points by about 550 m",
                           field="crs")
    crs = parse_crs(crs_raw)
    dry_run = _flag("dry_run", True)
    skip = _flag("skip_error_rows", False)
    ignore_unknown = _flag("ignore_unknown_columns", False)
    mapping = _mapping()
    filename = work.clean_filename(f.filename)
    try:
        sheet = work.read_upload(f.read(), filename, max_rows=max_rows())
        result = work.plan_upload(sheet, mapping=mapping, crs=crs,
                                  existing=get_registry().store.all(), districts=districts(),
                                  user=user, skip_errors=skip, ignore_unknown=ignore_unknown)
    except FileError as e:
        return _file_problem(e, lang)
    body: dict[str, Any] = {
        "file": filename, "dry_run": dry_run, "imported": False,
        "summary": work.summary(result.counts(), lang), "counts": result.counts(),
        "skipped_rows": list(result.skipped), **result.plan.to_dict(lang)}
    body["counts"] = result.counts()
    if result.plan.errors:
        scope = any(e.kind == "outside_scope" for e in result.plan.errors)
        status = 403 if scope else 400
        text = (f"{len(result.plan.errors)} row error(s); nothing was imported"
                if lang == "en" else f"有 {len(result.plan.errors)} 条行错误，未导入任何数据")
        if dry_run:
            return jsonify(body)
        resp = problem(status, "Forbidden" if scope else "Invalid rows", text,
                       kind="import-outside-scope" if scope else "import-row-errors")
        return _with(resp, {**resp.get_json(), **body})
    if dry_run:
        return jsonify(body)
    up_id = "api"
    out = work.apply_upload(get_registry(), accounts().store.engine, result, user=user,
                            client=client_address(), filename=filename, upload_id=up_id)
    body.update(imported=True, stored=out.stored)
    resp = jsonify(body)
    resp.status_code = 201
    return resp


def openapi_paths() -> dict[str, Any]:
    """The import endpoint for the OpenAPI document."""
    ref = {"$ref": "#/components/schemas/Problem"}
    prob = {"content": {"application/problem+json": {"schema": ref}}}
    text = {400: "Bad file, bad parameters, or row errors (real import)",
            401: "No or bad credentials",
            403: "Outside the account's role, or rows outside its district scope",
            413: "File larger than LOCATOR_MAX_UPLOAD_BYTES", 429: "Too many requests"}
    plan = {"type": "object", "properties": {
        "counts": {"type": "object"}, "summary": {"type": "string"},
        "rows": {"type": "array", "items": {"type": "object"}},
        "errors": {"type": "array", "items": {"type": "object"}},
        "warnings": {"type": "array", "items": {"type": "object"}},
        "imported": {"type": "boolean"}, "dry_run": {"type": "boolean"}}}
    flag = {"type": "string", "enum": ["true", "false"]}
    return {"/api/v1/imports": {"post": {
        "operationId": "importStations",
        "summary": "Import stations from a CSV, XLSX or GeoJSON file (dry run by default); "
                   "one transaction, rows matched by id or by type, place and name",
        "security": [{"bearer": []}, {"session": []}],
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file", "crs"],
            "properties": {
                "file": {"type": "string", "format": "binary"},
                "crs": {"type": "string", "enum": ["wgs84", "gcj02", "bd09"]},
                "mapping": {"type": "string", "description": "JSON object: the file's "
                            "header -> field name, or null to drop the column"},
                "saved_mapping": {"type": "string", "maxLength": 100},
                "dry_run": {**flag, "default": "true"},
                "skip_error_rows": {**flag, "default": "false"},
                "ignore_unknown_columns": {**flag, "default": "false"}}}}}},
        "responses": {
            "200": {"description": "The dry run's plan", "content": {
                "application/json": {"schema": plan}}},
            "201": {"description": "Imported; the plan that was applied", "content": {
                "application/json": {"schema": plan}}},
            **{str(c): {"description": t, **prob} for c, t in text.items()}}}}}


def _register(state: Any) -> None:
    """Register this blueprint with the app the staff pages are registered on (so that
    ``create_app`` needs no change); a no-op when the app registers it itself first."""
    if bp.name not in state.app.blueprints:
        state.app.register_blueprint(bp)

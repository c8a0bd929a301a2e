"""Errors as RFC 9457 problem details (API) or short HTML pages, mapped in one place."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from ..errors import Conflict, InvalidInput, LocatorError, NotFound, SchemaError
from ..staff.errors import Forbidden, RateLimited, Unauthorized

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://station-locator.invalid/problems/"


def problem(status: int, title: str, detail: str, *, kind: str | None = None,
            invalid_params: list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + kind if kind else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    if invalid_params:
        body["invalid_params"] = invalid_params
    resp = jsonify(body)
    resp.status_code = status
    resp.mimetype = "application/problem+json"
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _page(status: int, title: str, detail: str) -> Response:
    html = render_template("error.html", status=status, title=title, detail=detail)
    return Response(html, status=status, mimetype="text/html")


def localized(e: Exception) -> str:
    """An error's message in the page's language (the staff core's errors carry both)."""
    from .i18n import current_lang

    return e.message_in(current_lang()) if hasattr(e, "message_in") else str(e)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(InvalidInput)
    def _invalid(e: InvalidInput):
        from ..staff.station_edits import DuplicateSuspected
        from .api.writes import PreconditionRequired

        field = e.field or "request"
        # Messages of the staff core come in both languages: answer in the page's.
        text = localized(e)
        if isinstance(e, DuplicateSuspected) and _wants_json():
            resp = problem(409, "Possible duplicate", text, kind="duplicate-suspected")
            body = resp.get_json()
            body["duplicates"] = [h.to_dict() if hasattr(h, "to_dict") else str(h)
                                  for h in e.hits]
            body["hint"] = "send the same request with \"confirm_duplicates\": true to save it"
            out = jsonify(body)
            out.status_code = 409
            out.mimetype = "application/problem+json"
            return out
        status = 428 if isinstance(e, PreconditionRequired) else 400
        if _wants_json():
            return problem(status, "Precondition Required" if status == 428
                           else "Invalid parameter", text, kind="invalid-parameter",
                           invalid_params=[{"name": field, "reason": text if hasattr(
                               e, "message_in") else e.message}])
        return _page(status, "请求无效 / Bad request", text)

    @app.errorhandler(Unauthorized)
    def _unauthorized(e: Unauthorized):
        if _wants_json():
            return problem(401, "Unauthorized", localized(e), kind="unauthorized",
                           headers={"WWW-Authenticate": 'Bearer realm="station-locator"'})
        return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))

    @app.errorhandler(Forbidden)
    def _forbidden(e: Forbidden):
        if _wants_json():
            return problem(403, "Forbidden", localized(e), kind="forbidden")
        return _page(403, "无权操作 / Forbidden", localized(e))

    @app.errorhandler(RateLimited)
    def _throttled(e: RateLimited):
        headers = {"Retry-After": str(e.retry_after)}
        if _wants_json():
            return problem(429, "Too Many Requests", localized(e), kind=e.kind,
                           headers=headers)
        resp = _page(429, e.title, localized(e))
        resp.headers.update(headers)
        return resp

    @app.errorhandler(NotFound)
    def _not_found(e: NotFound):
        if _wants_json():
            return problem(404, "Not Found", str(e), kind="not-found")
        return _page(404, "未找到 / Not found", str(e))

    @app.errorhandler(Conflict)
    def _conflict(e: Conflict):
        if _wants_json():
            return problem(409, "Conflict", str(e), kind="conflict")
        return _page(409, "冲突 / Conflict", str(e))

    @app.errorhandler(SchemaError)
    def _schema(e: SchemaError):
        log.error("database not usable: %s", e)
        if _wants_json():
            return problem(503, "Service Unavailable", str(e), kind="database")
        return _page(503, "服务暂不可用 / Service unavailable", str(e))

    @app.errorhandler(LocatorError)
    def _other(e: LocatorError):
        if _wants_json():
            return problem(400, "Bad Request", str(e))
        return _page(400, "请求无效 / Bad request", str(e))

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        status = e.code or 500
        detail = e.description or e.name
        headers = {}
        if status == 405 and getattr(e, "valid_methods", None):
            headers["Allow"] = ", ".join(sorted(e.valid_methods))  # type: ignore[attr-defined]
        if status == 429 and getattr(e, "retry_after", None):
            headers["Retry-After"] = str(e.retry_after)  # type: ignore[attr-defined]
        if _wants_json():
            return problem(status, e.name, detail, headers=headers)
        resp = _page(status, e.name, detail)
        resp.headers.update(headers)
        return resp

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):  # never leak a traceback; log it
        log.exception("unhandled error on %s", request.path)
        if _wants_json():
            return problem(500, "Internal Server Error", "unexpected error; it has been logged")
        return _page(500, "Internal Server Error", "unexpected error; it has been logged")

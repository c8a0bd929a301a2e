"""Errors as RFC 9457 problem details (API) or short HTML pages, mapped in one place."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from ..errors import Conflict, InvalidInput, LocatorError, NotFound, SchemaError
from ..staff.errors import Forbidden, RateLimited, Unauthorized

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://station-locator.invalid/problems/"


#: Chinese problem titles (``lang=zh``).
TITLES_ZH = {
    "Invalid parameter": "参数无效", "Precondition Required": "缺少前提条件",
    "Possible duplicate": "疑似重复", "Unauthorized": "未登录或凭据无效",
    "Forbidden": "无权操作", "Too Many Requests": "请求过于频繁", "Not Found": "未找到",
    "Conflict": "冲突", "Service Unavailable": "服务暂不可用", "Bad Request": "请求无效",
    "Method Not Allowed": "不支持此请求方法", "Request Entity Too Large": "请求体过大",
    "Unsupported Media Type": "不支持的内容类型", "Internal Server Error": "服务器内部错误",
    "Not Acceptable": "无法提供所要求的格式", "Gone": "已不存在",
}

#: Chinese details of Werkzeug's HTTP errors, by status (``lang=zh``).
_HTTP_ZH = {
    404: "没有这个地址", 405: "不支持此请求方法", 406: "无法提供所要求的格式",
    413: "请求体太大", 415: "不支持此内容类型（Content-Type）；请发送 application/json",
    429: "请求过于频繁；请在 Retry-After 给出的秒数后重试", 500: "服务器内部错误；已记录",
}


def asked_lang() -> str | None:
    """The language this request asks for: ``?lang=`` or the pages' ``lang`` cookie;
    None when it asks for none. (Endpoints that read ``lang`` from a JSON body set
    ``g.lang``, which bilingual errors follow through
    :func:`~locator.web.i18n.current_lang`.)"""
    for raw in (request.args.get("lang"), request.cookies.get("lang")):
        q = (raw or "").lower()
        if q.startswith("en"):
            return "en"
        if q.startswith("zh"):
            return "zh"
    return None


def api_text(zh: str, en: str) -> str:
    """A message of the query API: Chinese when asked for, else English (its default)."""
    return zh if asked_lang() == "zh" else en


def _title(title: str) -> str:
    """``title`` in the language asked for, or else in the one a bilingual detail was
    given in (``g.lang``, set when :func:`localized` fell back to the page language)."""
    lang = asked_lang() or getattr(g, "lang", None)
    return TITLES_ZH.get(title, title) if lang == "zh" else title


def problem(status: int, title: str, detail: str, *, kind: str | None = None,
            invalid_params: list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None,
            extra: dict[str, Any] | None = None) -> Response:
    """A problem+json response; ``title`` is translated (``lang=zh``), ``detail`` must
    already be in the request's language."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + kind if kind else "about:blank",
        "title": _title(title),
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    if invalid_params:
        body["invalid_params"] = invalid_params
    body.update(extra or {})
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
    """An error's message in the request's language.

    Bilingual errors (the staff core's, the query parameters') carry both texts; the
    API's other bad-input errors are English and are rendered in Chinese by
    :func:`~locator.web.params.zh_message` when Chinese is asked for. Without an asked
    language, an error keeps its default: English for the query parameters
    (``default_lang``) and the core's messages, the page's language (Chinese first)
    for the staff, report and check-in errors.
    """
    from .i18n import current_lang

    lang = asked_lang()
    if hasattr(e, "message_in"):
        return e.message_in(lang or getattr(e, "default_lang", None) or current_lang())
    if isinstance(e, InvalidInput) and lang == "zh":
        from .params import zh_message

        return ("" if e.row is None else f"第 {e.row} 行：") + zh_message(e.message, e.field)
    return str(e)


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
            plain = not hasattr(e, "message_in") and asked_lang() != "zh"
            extra = {"suggestion": e.suggestion} if getattr(e, "suggestion", None) else None
            return problem(status, "Precondition Required" if status == 428
                           else "Invalid parameter", text, kind="invalid-parameter",
                           invalid_params=[{"name": field,
                                            "reason": e.message if plain else text}],
                           extra=extra)
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
            return problem(404, "Not Found", localized(e), kind="not-found")
        return _page(404, "未找到 / Not found", str(e))

    @app.errorhandler(Conflict)
    def _conflict(e: Conflict):
        if _wants_json():
            return problem(409, "Conflict", localized(e), kind="conflict")
        return _page(409, "冲突 / Conflict", str(e))

    @app.errorhandler(SchemaError)
    def _schema(e: SchemaError):
        log.error("database not usable: %s", e)
        if _wants_json():
            return problem(503, "Service Unavailable", str(e), kind="database")
        return _page(503, "服务暂不可用 / Service unavailable", str(e))

    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.InterfaceError)
    @app.errorhandler(sa_exc.TimeoutError)
    def _database_down(e: Exception):
        # The database is restarting, unreachable or busy: searches go on from the
        # in-memory index, writes are refused quickly; the store reconnects by itself.
        log.warning("database unavailable on %s %s: %s", request.method, request.path,
                    _first_line(e))
        text = _DOWN_ZH if _lang() == "zh" else _DOWN_EN
        headers = {"Retry-After": str(DATABASE_RETRY_AFTER_S)}
        if _wants_json():
            return problem(503, "Service Unavailable", text, kind="database-unavailable",
                           headers=headers)
        resp = _page(503, "服务暂不可用 / Service unavailable", f"{_DOWN_ZH}\n{_DOWN_EN}")
        resp.headers.update(headers)
        return resp

    @app.errorhandler(LocatorError)
    def _other(e: LocatorError):
        if _wants_json():
            return problem(400, "Bad Request", localized(e))
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
            if asked_lang() == "zh":
                detail = _http_zh(e, status) or detail
            return problem(status, e.name, detail, headers=headers)
        resp = _page(status, e.name, detail)
        resp.headers.update(headers)
        return resp

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):  # never leak a traceback; log it
        log.exception("unhandled error on %s", request.path)
        if _wants_json():
            return problem(500, "Internal Server Error", api_text(
                "意外错误；已记录", "unexpected error; it has been logged"))
        return _page(500, "Internal Server Error", "unexpected error; it has been logged")


#: Retry-After of a write refused while the database is down (seconds).
DATABASE_RETRY_AFTER_S = 5
_DOWN_ZH = "数据库暂时无法连接，此操作未执行、未保存任何内容；查询站点不受影响。请几秒后重试。"
_DOWN_EN = ("the database cannot be reached right now; nothing was done or saved. Station "
            "searches still work. Try again in a few seconds.")


def _lang() -> str:
    from .i18n import current_lang

    return asked_lang() or getattr(g, "lang", None) or (
        "en" if _wants_json() else current_lang())


def _first_line(e: Exception) -> str:
    text = str(getattr(e, "orig", None) or e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _http_zh(e: HTTPException, status: int) -> str | None:
    """The Chinese detail of an HTTP error, when there is one."""
    import re

    desc = e.description or ""
    m = re.match(r"the query string is (\d+) bytes long; at most (\d+) allowed", desc)
    if m:
        return f"查询字符串太长：{m[1]} 字节；最多 {m[2]} 字节"
    if status == 405 and getattr(e, "valid_methods", None):
        allowed = ", ".join(sorted(e.valid_methods))  # type: ignore[attr-defined]
        return f"不支持此请求方法；允许：{allowed}"
    return _HTTP_ZH.get(status)

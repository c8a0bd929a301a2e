"""The large-text mode (长辈版) of the pages: bigger type, looser lines, one column.

The choice is a cookie, ``large`` (``1`` on, ``0`` off), so that the server renders
``<html>`` and ``<body>`` with the class ``large-text`` and no page flashes small text
first, with or without JavaScript. Three ways set it:

* ``?large=1`` / ``?large=0`` on any page (a link a union can hand out; a poster's
  ``/s/<code>?large=1`` too, through its redirect). Any other value is a 400 naming the
  two valid ones.
* The toggle in the top bar (``templates/base.html``): with JavaScript, ``static/large.js``
  switches the page in place and writes the cookie; without it, the toggle's form posts
  to ``POST /display/large`` (:func:`toggle`), which sets the cookie and redirects
  (303) back to the page, a path on this site only.

The cookie is not HttpOnly: ``large.js`` reads it in the page's head to correct a page
the service worker kept from before the choice, and writes it when the toggle is used.
It holds nothing but the display choice.

Templates get ``large_text`` (bool) and ``large_next`` (this page's path and query
without ``large``, where the no-JS toggle returns to).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Blueprint, Response, g, redirect, request

from ..staff.errors import BilingualInvalid

bp = Blueprint("display", __name__)

#: The cookie and query parameter.
COOKIE = "large"
#: A year: the choice is made once, on the rider's own phone.
MAX_AGE_S = 365 * 24 * 3600
_ON = frozenset({"1", "true", "on", "yes"})
_OFF = frozenset({"0", "false", "off", "no"})
#: Longer ``next`` values are refused (no page of the app has a longer address).
_MAX_NEXT = 2000


class DisplayInvalid(BilingualInvalid):
    """A bad ``large`` value or return address (400)."""


def parse_large(raw: str) -> bool:
    """``True`` for ``1``/``true``/``on``/``yes``, ``False`` for ``0``/``false``/``off``/
    ``no`` (any case); otherwise :class:`DisplayInvalid`."""
    v = raw.strip().lower()
    if v in _ON:
        return True
    if v in _OFF:
        return False
    shown = raw[:20]
    raise DisplayInvalid(f"参数 large 只能是 1（开启长辈版）或 0（关闭）；收到“{shown}”",
                         f"large must be 1 (large text on) or 0 (off); got {shown!r}",
                         field="large")


def _from_query() -> bool | None:
    """The page's ``?large=``, or None when absent or not valid (the before-request check
    answers an invalid one with a 400 before any page is rendered)."""
    raw = request.args.get(COOKIE)
    if raw is None:
        return None
    try:
        return parse_large(raw)
    except DisplayInvalid:
        return None


def large_text() -> bool:
    """Whether this request's page is large: its ``?large=``, else the cookie."""
    cached = getattr(g, "large_text", None)
    if cached is not None:
        return bool(cached)
    asked = _from_query()
    on = asked if asked is not None else request.cookies.get(COOKIE) == "1"
    g.large_text = on
    return on


def _without_large(query: str) -> str:
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != COOKIE]
    return urlencode(pairs)


def here_without_large() -> str:
    """This page's path and query, without ``large`` (the toggle's way back)."""
    query = _without_large(request.query_string.decode("utf-8", "replace"))
    return request.path + (f"?{query}" if query else "")


def safe_next(raw: str | None) -> str:
    """``raw`` as a return address on this site: a path (``/...``) with an optional query
    and fragment, never another host. Empty gives the rider page ``/``. ``large`` is
    dropped from its query (so that it cannot undo the choice just made)."""
    if not raw:
        return "/"
    bad = DisplayInvalid(
        "返回地址 next 必须是本站的路径（以 / 开头，例如 /map），不能是其他网站",
        "next must be a path on this site (starting with /, e.g. /map), not another site",
        field="next")
    if len(raw) > _MAX_NEXT or any(c == "\\" or ord(c) < 0x20 or ord(c) == 0x7f
                                   for c in raw):
        raise bad
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or not raw.startswith("/") or raw.startswith("//"):
        raise bad
    query = _without_large(parts.query)
    return parts.path + (f"?{query}" if query else "") + \
        (f"#{parts.fragment}" if parts.fragment else "")


def _set_cookie(resp: Response, on: bool) -> None:
    resp.set_cookie(COOKIE, "1" if on else "0", max_age=MAX_AGE_S, path="/",
                    samesite="Lax", secure=request.is_secure, httponly=False)


def _is_page(path: str) -> bool:
    return not path.startswith(("/api/", "/static/", "/vendor/"))


@bp.before_app_request
def _check_query() -> None:
    """A page's invalid ``?large=`` is a 400 in the page's language."""
    raw = request.args.get(COOKIE)
    if raw is not None and _is_page(request.path):
        parse_large(raw)


@bp.after_app_request
def _remember(resp: Response) -> Response:
    """``?large=`` on a page (or a redirect, such as a poster's) keeps the choice for
    the pages after it."""
    if _is_page(request.path):
        asked = _from_query()
        if asked is not None and request.cookies.get(COOKIE) != ("1" if asked else "0"):
            _set_cookie(resp, asked)
    return resp


@bp.app_context_processor
def _inject() -> dict[str, Any]:
    return {"large_text": large_text(), "large_next": here_without_large()}


@bp.post("/display/large")
def toggle() -> Response:
    """The toggle without JavaScript: form fields ``large`` (``1``/``0``; absent flips
    the current choice) and ``next`` (a path on this site; default ``/``). Sets the
    cookie and redirects there (303)."""
    raw = request.form.get(COOKIE)
    on = (request.cookies.get(COOKIE) != "1") if raw is None or raw == "" else \
        parse_large(raw)
    resp = redirect(safe_next(request.form.get("next")), code=303)
    _set_cookie(resp, on)
    resp.headers["Cache-Control"] = "no-store"
    return resp

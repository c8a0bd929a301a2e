"""The staff back office's entry: log in, log out, the start page.

Login is a plain form (it works without JavaScript). The login form carries a CSRF
token bound to a cookie (there is no session yet); after login every form carries the
session's own token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from flask import Blueprint, Response, g, make_response, redirect, render_template, request, url_for

from ...staff.errors import TooManyAttempts, Unauthorized
from ...staff.roles import can
from ..errors import localized as message
from ..i18n import gettext as _
from .auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfFailed,
    accounts,
    check_csrf,
    client_address,
    current_user,
    login_csrf_token,
    set_cookie,
    staff_page,
)

bp = Blueprint("staff", __name__, url_prefix="/staff")


def _safe_next(target: str | None) -> str:
    """Only paths inside the back office (no open redirect to another site)."""
    if target and target.startswith("/staff") and not target.startswith("//") \
            and "\\" not in target and "\n" not in target:
        return target
    return url_for("staff.home")


def _login_page(*, error: str | None = None, status: int = 200, name: str = "",
                retry_after: int | None = None) -> Response:
    new_cookies: dict[str, str] = {}
    token = login_csrf_token(new_cookies)
    html = render_template("staff/login.html", csrf_token=token, error=error, name=name,
                           next=_safe_next(request.values.get("next")))
    resp = make_response(html, status)
    for k, v in new_cookies.items():
        set_cookie(resp, k, v)
    if retry_after:
        resp.headers["Retry-After"] = str(retry_after)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/login")
def login():
    try:
        if current_user() is not None and not g.get("staff_by_token"):
            return redirect(_safe_next(request.args.get("next")))
    except Unauthorized:
        pass
    expired = g.get("staff_session_expired")
    return _login_page(error=_("登录已超时，请重新登录。", "Your session expired; please log in "
                               "again.") if expired else None)


@bp.post("/login")
def login_post():
    sent = request.form.get("csrf_token", "")
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not cookie or sent != cookie:
        raise CsrfFailed()
    name = request.form.get("name", "")[:200]
    password = request.form.get("password", "")[:1000]
    try:
        user = accounts().authenticate(name, password, client_address())
    except TooManyAttempts as e:
        return _login_page(error=message(e), status=429, name=name, retry_after=e.retry_after)
    except Unauthorized as e:
        return _login_page(error=message(e), status=401, name=name)
    new = accounts().create_session(user, client=client_address())
    resp = redirect(_safe_next(request.form.get("next")), code=303)
    set_cookie(resp, SESSION_COOKIE, new.cookie)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/logout")
def logout():
    try:
        current_user()
    except Unauthorized:
        pass
    check_csrf()
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        accounts().logout(cookie, client=client_address())
    resp = redirect(url_for("staff.login"), code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@bp.get("/")
@staff_page()
def home():
    return redirect(url_for("staff.stations"))


@bp.app_context_processor
def _staff_context():
    """``staff_user`` and ``csrf_token`` for every staff template."""
    if not request.path.startswith("/staff"):
        return {}
    s = g.get("staff_session")
    user = g.get("staff_user")
    return {"staff_user": user, "csrf_token": s.csrf_token if s else "",
            "staff_can": lambda right, adcode=None: can(user, right, adcode)}


# ------------------------------------------------------------------ paging of lists
T = TypeVar("T")


def requested_page() -> int:
    """The ``page`` query argument: 1 to 100,000; 1 when missing or not a number."""
    try:
        return max(1, min(100_000, int(request.args.get("page", "1"))))
    except ValueError:
        return 1


def page_count(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


def paged(items: Sequence[T], per_page: int) -> tuple[list[T], int, int]:
    """The requested page of ``items`` (a page past the end is the last one), its number
    and the number of pages."""
    pages = page_count(len(items), per_page)
    page = min(requested_page(), pages)
    return list(items[(page - 1) * per_page: page * per_page]), page, pages

"""Who is asking: API tokens (``Authorization: Bearer ...``) and login sessions (an
HttpOnly cookie), CSRF checks for session writes, and the refusals (401, 403, 429).

The accounts core (:mod:`locator.staff`) decides; this module only carries its answers
over HTTP. Nothing here runs on the public read paths: the user is looked up only when
a view asks for it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, redirect, request, url_for
from werkzeug.exceptions import HTTPException

from ...staff.errors import Unauthorized
from ...staff.roles import require
from ...staff.service import AccountService
from ...staff.station_edits import StationEditor
from ...store.accounts import Session, User, ensure_schema

SESSION_COOKIE = "locator_session"
#: The login form's CSRF cookie (double submit: there is no session yet).
LOGIN_CSRF_COOKIE = "locator_login_csrf"

F = TypeVar("F", bound=Callable[..., Any])


class CsrfFailed(HTTPException):
    code = 403
    description = ("CSRF token missing or wrong: reload the page and submit the form again "
                   "/ 表单已过期，请刷新页面后重新提交")


def init_auth(app: Flask) -> None:
    """Account service and station editor for this app (in ``app.extensions``). The
    district boundaries load on first use."""
    from .. import get_registry

    registry = app.extensions["locator"].registry
    ensure_schema(registry.store.engine)
    app.extensions["locator.accounts"] = AccountService(
        registry.store.engine, session_idle_seconds=app.config["LOCATOR_SESSION_IDLE_SECONDS"])

    def districts(lon: float, lat: float) -> tuple[str, str] | None:
        from ...stations.districts import DistrictLookup

        d = DistrictLookup.shipped().lookup(lon, lat)
        return None if d is None else (d.adcode, d.name)

    def duplicates(st: Any, exclude: str | None) -> list[Any]:
        from ...stations.duplicates import find_duplicates

        return find_duplicates(st, get_registry().index, exclude_id=exclude)

    app.extensions["locator.editor"] = StationEditor(registry, districts=districts,
                                                     duplicates=duplicates)


def accounts() -> AccountService:
    return current_app.extensions["locator.accounts"]


def editor() -> StationEditor:
    return current_app.extensions["locator.editor"]


def client_address() -> str:
    """Who is calling, for the audit log: the address, plus the API token's id when the
    request was made with one (so that every write made with a token names it)."""
    addr = request.remote_addr or "-"
    tok = g.get("staff_token")
    return f"{addr} token:{tok.id}"[:64] if tok is not None else addr


def _bearer() -> str | None:
    h = request.headers.get("Authorization", "")
    if h[:7].lower() == "bearer ":
        return h[7:].strip()
    return None


def current_session() -> Session | None:
    """The login session of this request's cookie (None for a token or no login)."""
    current_user()
    return g.get("staff_session")


def current_user() -> User | None:
    """The account making this request: by API token, else by session cookie; None when
    there are no credentials. Bad credentials raise :class:`Unauthorized`."""
    if "staff_user" in g:
        return g.staff_user
    user: User | None = None
    g.staff_session = None
    g.staff_by_token = False
    token = _bearer()
    if token is not None:
        found = accounts().token_and_user(token)
        if found is None:
            g.staff_user = None
            raise Unauthorized("API 令牌无效或已撤销", "the API token is unknown or revoked")
        g.staff_token, user = found
        g.staff_by_token = True
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            try:
                s = accounts().session(cookie, client=client_address())
            except Unauthorized:
                g.staff_user = None
                g.staff_session_expired = True
                return None
            g.staff_session = s
            user = s.user
    g.staff_user = user
    return user


def check_csrf() -> None:
    """Unsafe requests made with a session cookie must carry its CSRF token (form field
    ``csrf_token`` or header ``X-CSRF-Token``); token-authenticated ones need none."""
    if request.method in ("GET", "HEAD", "OPTIONS") or g.get("staff_by_token"):
        return
    s = g.get("staff_session")
    if s is None:
        return
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token")
    if not AccountService.check_csrf(s, sent):
        raise CsrfFailed()


def authorised(right: str, adcode: str | None = None) -> User:
    """The request's account, holding ``right``; raises 401/403 (and checks CSRF)."""
    user = current_user()
    if user is None:
        if g.get("staff_session_expired"):
            raise Unauthorized("登录已超时，请重新登录", "the session has expired; log in again")
        raise Unauthorized("请先登录或提供 API 令牌",
                           "log in, or send an API token (Authorization: Bearer ...)")
    check_csrf()
    require(user, right, adcode)
    return user


def staff_page(right: str = "staff.read") -> Callable[[F], F]:
    """For staff pages: a visitor with no valid session is sent to the login page."""
    def deco(fn: F) -> F:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                user = current_user()
            except Unauthorized:
                user = None
            if user is None or g.get("staff_by_token"):
                return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
            g.staff_user = authorised(right)
            return fn(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return deco


def login_csrf_token(resp_cookies: dict[str, str]) -> str:
    """The login form's CSRF token: the cookie's, or a new one to set."""
    tok = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not tok or len(tok) > 100:
        tok = secrets.token_urlsafe(24)
        resp_cookies[LOGIN_CSRF_COOKIE] = tok
    return tok


def cookie_secure() -> bool:
    mode = current_app.config["LOCATOR_SECURE_COOKIES"]
    return mode == "always" or (mode == "auto" and request.is_secure)


def set_cookie(resp: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    resp.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Lax",
                    secure=cookie_secure(), path="/")

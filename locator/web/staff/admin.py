"""Staff administration pages: accounts, API tokens, the audit log.

Every action goes through :class:`locator.staff.service.AccountService` with ``by=`` the
logged-in account and ``client=`` its address, so the core checks the rights (role and
district scope) and writes the audit rows; this module parses forms and renders.
A successful form post redirects (303) back to the list with a ``done`` code, so that
reloading the page never repeats the action.
"""

from __future__ import annotations

import io
from datetime import datetime, time, timedelta
from typing import Any

from flask import Response, redirect, render_template, request, url_for

from ...errors import Conflict, InvalidInput, LocatorError, NotFound
from ...staff.errors import Forbidden
from ...staff.passwords import MIN_CHARACTER_KINDS, MIN_LENGTH
from ...staff.roles import (
    ROLE_NAMES,
    ROLES,
    describe_scope,
    in_scope,
    normalize_scope,
    require,
)
from ...store.accounts import RESULTS, User, utc_now
from ...time_util import zone
from ..i18n import current_lang
from ..i18n import gettext as _
from .auth import accounts, client_address, current_user
from .pages import bp, page_count, requested_page, staff_page

AUDIT_PER_PAGE = 50
#: Messages shown after a successful action (``?done=<code>&who=<account>``).
_DONE = {
    "created": ("已创建账号 %s。", "Account %s created."),
    "role": ("已修改 %s 的角色和权限范围。", "Role and scope of %s changed."),
    "disabled": ("已停用账号 %s，其登录会话已结束。", "Account %s disabled; its sessions ended."),
    "enabled": ("已启用账号 %s。", "Account %s enabled."),
    "password": ("已重置 %s 的密码，其登录会话已结束。",
                 "Password of %s reset; its sessions ended."),
    "revoked": ("已撤销令牌 %s。", "Token %s revoked."),
}


def _msg(e: Exception) -> str:
    """An error's message in the page's language (the core's are bilingual)."""
    lang = current_lang()
    if hasattr(e, "message_in"):
        return e.message_in(lang)  # type: ignore[no-any-return]
    text = str(e)
    if " / " in text:
        zh, en = text.split(" / ", 1)
        return en if lang == "en" else zh
    return text


def _status(e: Exception) -> int:
    if isinstance(e, Forbidden):
        return 403
    if isinstance(e, NotFound):
        return 404
    if isinstance(e, Conflict):
        return 409
    return 400


def _lang_arg() -> dict[str, str]:
    return {"lang": "en"} if current_lang() == "en" else {}


def _local(dt: datetime | None) -> str:
    if dt is None:
        return ""
    return dt.astimezone(zone()).strftime("%Y-%m-%d %H:%M")


# ------------------------------------------------------------------------ accounts


def scope_options(admin: User, lang: str) -> list[tuple[str, str]]:
    """Scopes an administrator may give: national (for a national one), Xuzhou and its
    districts, each within the administrator's own scope."""
    from .imports import districts

    codes = ["000000", "320300", *sorted(str(c) for c in districts().adcode)]
    return [(c, describe_scope(c, lang)) for c in codes
            if in_scope(admin.scope, normalize_scope(c))]


def role_options(lang: str) -> list[tuple[str, str]]:
    return [(r, f"{r}（{ROLE_NAMES[r][0]}）" if lang != "en" else f"{r} ({ROLE_NAMES[r][1]})")
            for r in ROLES]


def _users_page(*, error: str | None = None, status: int = 200,
                form: dict[str, str] | None = None, error_for: str | None = None) -> Response:
    admin = current_user()
    lang = current_lang()
    svc = accounts()
    now = utc_now()
    rows = []
    for u in svc.users():
        if not in_scope(admin.scope, u.scope):
            continue
        rows.append({"user": u, "scope": describe_scope(u.scope, lang),
                     "created": _local(u.created_at),
                     "password_days": max(0, (now - u.password_changed_at).days),
                     "password_due": svc.password_change_due(u),
                     "is_me": u.id == admin.id})
    done = request.args.get("done")
    notice = None
    if done in _DONE and error is None:
        zh, en = _DONE[done]
        notice = (en if lang == "en" else zh) % (request.args.get("who", "")[:64],)
    html = render_template(
        "staff/users.html", rows=rows, roles=role_options(lang),
        scopes=scope_options(admin, lang), error=error, error_for=error_for, notice=notice,
        form=form or {}, admin_scope=describe_scope(admin.scope, lang),
        pw_min=MIN_LENGTH, pw_kinds=MIN_CHARACTER_KINDS)
    resp = Response(html, status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _done(code: str, who: str) -> Response:
    return redirect(url_for("staff.users", done=code, who=who, **_lang_arg()), code=303)


@bp.get("/users")
@staff_page("user.manage")
def users():
    return _users_page()


def _two_passwords(prefix: str = "") -> str:
    pw = request.form.get(prefix + "password", "")[:1000]
    if pw != request.form.get(prefix + "password2", "")[:1000]:
        raise InvalidInput(_("两次输入的密码不一致", "the two passwords do not match"),
                           field="password")
    return pw


@bp.post("/users")
@staff_page("user.manage")
def users_create():
    f = request.form
    form = {k: f.get(k, "")[:200] for k in ("name", "display_name", "role", "scope")}
    try:
        password = _two_passwords()
        user = accounts().add_user(form["name"], password, role=form["role"],
                                   scope=form["scope"], display_name=form["display_name"],
                                   by=current_user(), client=client_address())
    except LocatorError as e:
        return _users_page(error=_msg(e), status=_status(e), form=form, error_for="create")
    return _done("created", user.name)


@bp.post("/users/<name>/role")
@staff_page("user.manage")
def user_role(name: str):
    try:
        u = accounts().set_role(name, role=request.form.get("role", "")[:20],
                                scope=request.form.get("scope", "")[:10],
                                by=current_user(), client=client_address())
    except LocatorError as e:
        return _users_page(error=_msg(e), status=_status(e), error_for=name)
    return _done("role", u.name)


@bp.post("/users/<name>/disable")
@staff_page("user.manage")
def user_disable(name: str):
    try:
        u = accounts().disable(name, by=current_user(), client=client_address())
    except LocatorError as e:
        return _users_page(error=_msg(e), status=_status(e), error_for=name)
    return _done("disabled", u.name)


@bp.post("/users/<name>/enable")
@staff_page("user.manage")
def user_enable(name: str):
    try:
        u = accounts().enable(name, by=current_user(), client=client_address())
    except LocatorError as e:
        return _users_page(error=_msg(e), status=_status(e), error_for=name)
    return _done("enabled", u.name)


@bp.post("/users/<name>/password")
@staff_page("user.manage")
def user_password(name: str):
    try:
        u = accounts().reset_password(name, _two_passwords(), by=current_user(),
                                      client=client_address())
    except LocatorError as e:
        return _users_page(error=_msg(e), status=_status(e), error_for=name)
    return _done("password", u.name)


# ------------------------------------------------------------------------ tokens


def _tokens_page(name: str, *, new_token: Any = None, error: str | None = None,
                 status: int = 200) -> Response:
    admin = current_user()
    svc = accounts()
    owner = svc.user(name)
    require(admin, "user.manage", owner.scope)  # another area's account: 403 naming it
    toks = [{"token": t, "created": _local(t.created_at), "used": _local(t.last_used_at),
             "revoked": _local(t.revoked_at)} for t in svc.tokens(owner.name)]
    done = request.args.get("done")
    notice = None
    if done == "revoked":
        zh, en = _DONE["revoked"]
        notice = _(zh, en) % (request.args.get("who", "")[:20],)
    html = render_template("staff/tokens.html", owner=owner, tokens=toks, new_token=new_token,
                           error=error, notice=notice)
    resp = Response(html, status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"  # a new token's plaintext is on this page
    return resp


@bp.get("/users/<name>/tokens")
@staff_page("user.manage")
def user_tokens(name: str):
    return _tokens_page(name)


@bp.post("/users/<name>/tokens")
@staff_page("user.manage")
def token_create(name: str):
    try:
        new = accounts().create_token(name, request.form.get("label", "")[:100],
                                      by=current_user(), client=client_address())
    except LocatorError as e:
        if isinstance(e, NotFound):
            raise
        return _tokens_page(name, error=_msg(e), status=_status(e))
    return _tokens_page(new.user_name, new_token=new)


@bp.post("/tokens/<int:tid>/revoke")
@staff_page("user.manage")
def token_revoke(tid: int):
    tok = accounts().revoke_token(tid, by=current_user(), client=client_address())
    return redirect(url_for("staff.user_tokens", name=tok.user_name, done="revoked", who=tid,
                            **_lang_arg()), code=303)


# ------------------------------------------------------------------------ audit log


def _day(value: str, *, end: bool) -> datetime | None:
    """A ``YYYY-MM-DD`` in Asia/Shanghai as an aware instant (the day's start, or the next
    day's start for ``until``, which the store treats as exclusive)."""
    v = (value or "").strip()[:10]
    if not v:
        return None
    try:
        d = datetime.strptime(v, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(_(f"日期“{v}”无效；请用 YYYY-MM-DD（如 2026-03-01）",
                             f"date {v!r} is not valid; use YYYY-MM-DD (e.g. 2026-03-01)"),
                           field="until" if end else "since") from None
    if end:
        d += timedelta(days=1)
    return datetime.combine(d, time(0), tzinfo=zone())


def audit_filters() -> tuple[dict[str, Any], dict[str, str]]:
    """The store filters of the request's query, and the raw values for the form."""
    a = request.args
    raw = {k: (a.get(k) or "").strip()[:100] for k in ("actor", "action", "result", "since",
                                                       "until")}
    f: dict[str, Any] = {}
    if raw["actor"]:
        f["actor"] = raw["actor"].lower()
    if raw["action"]:
        f["action"] = raw["action"].rstrip("*") + "*"
    if raw["result"]:
        if raw["result"] not in RESULTS:
            raise InvalidInput(_("结果只能是 ok、denied 或 failed",
                                 "result must be ok, denied or failed"), field="result")
        f["result"] = raw["result"]
    f["since"] = _day(raw["since"], end=False)
    f["until"] = _day(raw["until"], end=True)
    return {k: v for k, v in f.items() if v is not None}, raw


@bp.get("/audit")
@staff_page("audit.read")
def audit():
    svc = accounts()
    try:
        filters, raw = audit_filters()
    except InvalidInput as e:
        filters, raw = {}, {k: request.args.get(k, "")[:100] for k in
                            ("actor", "action", "result", "since", "until")}
        error: str | None = _msg(e)
    else:
        error = None
    page = requested_page()
    total = svc.count_audit_events(**filters)
    events = svc.audit_events(by=current_user(), client=client_address(), **filters,
                              limit=AUDIT_PER_PAGE, offset=(page - 1) * AUDIT_PER_PAGE)
    rows = [{"e": e, "at": e.at.astimezone(zone()).strftime("%Y-%m-%d %H:%M:%S"),
             "detail": _detail(e.detail)} for e in events]
    pages = page_count(total, AUDIT_PER_PAGE)
    query = {k: v for k, v in raw.items() if v}

    def page_url(n: int) -> str:
        return url_for("staff.audit", page=n, **query, **_lang_arg())

    html = render_template("staff/audit.html", rows=rows, raw=raw, total=total, page=page,
                           pages=pages, page_url=page_url, error=error, results=RESULTS,
                           csv_url=url_for("staff.audit_csv", **query, **_lang_arg()))
    return Response(html, status=400 if error else 200, mimetype="text/html")


def _detail(d: dict[str, Any] | None) -> str:
    if not d:
        return ""
    import json

    return json.dumps(d, ensure_ascii=False, sort_keys=True)[:300]


@bp.get("/audit.csv")
@staff_page("audit.read")
def audit_csv():
    filters, _raw = audit_filters()
    buf = io.StringIO(newline="")
    accounts().export_audit(buf, filters=filters, by=current_user(), client=client_address())
    stamp = utc_now().astimezone(zone()).strftime("%Y%m%d-%H%M")
    resp = Response(buf.getvalue().encode("utf-8"), mimetype="text/csv")
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp

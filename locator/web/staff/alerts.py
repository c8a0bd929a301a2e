"""Heat and cold alerts in the back office, at ``/staff/alerts``: the list (current,
ended, all), the form to declare one, to change one and to end one.

Every logged-in account sees the alerts touching its scope; declaring, changing and
ending need the editor role or higher and every district of the alert inside the
account's scope. The rules and the audit rows are the core's
(:class:`locator.alerts.AlertService`); this module reads the forms and renders. A
successful post redirects (303) to the list with a ``done`` code, so that reloading
never repeats it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, redirect, render_template, request, url_for

from ...alerts import LEVELS, STATES, Alert, AlertConflict, AlertInvalid, AlertNotFound
from ...alerts.model import KIND_NAMES, area_name
from ...staff.errors import Forbidden
from ...staff.roles import in_scope
from ...store.accounts import User
from ...time_util import zone
from ..api.alerts import get_alerts
from ..i18n import current_lang
from ..i18n import gettext as _
from .auth import client_address, current_user
from .pages import bp, staff_page

_STATE_NAMES = {
    "current": ("进行中和待开始", "Active and scheduled"), "active": ("进行中", "Active"),
    "scheduled": ("待开始", "Scheduled"), "ended": ("已结束", "Ended"), "all": ("全部", "All"),
}
_DONE = {
    "created": ("已发布预警 %s。", "Alert %s declared."),
    "updated": ("已修改预警 %s。", "Alert %s changed."),
    "ended": ("已结束预警 %s。", "Alert %s ended."),
}
_FORM_FIELDS = ("kind", "level", "starts_at", "ends_at", "message_zh", "message_en")


def _user() -> User:
    user = current_user()
    assert user is not None  # staff_page let the request through
    return user


def _url(endpoint: str, **kw: Any) -> str:
    if current_lang() == "en":
        kw["lang"] = "en"
    return url_for(endpoint, **kw)


def _local_input(dt: datetime) -> str:
    """A time as the value of an ``<input type="datetime-local">`` in Beijing time."""
    return dt.astimezone(zone()).strftime("%Y-%m-%dT%H:%M")


def _local_text(dt: datetime) -> str:
    return dt.astimezone(zone()).strftime("%Y-%m-%d %H:%M")


def _msg(e: Exception) -> str:
    lang = current_lang()
    return e.message_in(lang) if hasattr(e, "message_in") else str(e)


def _district_choices(user: User) -> list[dict[str, Any]]:
    """The areas an alert may name, those in the account's scope first (the others are
    shown disabled, so that the list is the same for everyone)."""
    lang = current_lang()
    out = []
    for code in sorted(get_alerts().areas, key=lambda c: (not c.endswith("00"), c)):
        if code.endswith("0000"):
            continue  # a whole province is beyond what a city union declares
        out.append({"code": code, "name": area_name(code, lang),
                    "allowed": in_scope(user.scope, code)})
    return out


def _levels() -> list[dict[str, Any]]:
    lang = current_lang()
    out = []
    for kind, levels in LEVELS.items():
        for lv in levels:
            out.append({"kind": kind, "code": lv.code, "label": lv.label(lang),
                        "criteria": lv.criteria_en if lang == "en" else lv.criteria_zh})
    return out


def _row(a: Alert, user: User, now: datetime) -> dict[str, Any]:
    lang = current_lang()
    state = a.state(now)
    sep = ", " if lang == "en" else "、"
    return {"a": a, "state": state, "state_label": _(*_STATE_NAMES[state]),
            "level": a.info.label(lang), "kind": _(*KIND_NAMES[a.kind]),
            "where": sep.join(area_name(d, lang) for d in a.districts),
            "starts": _local_text(a.starts_at), "until": _local_text(a.until),
            "message": a.message(lang), "editable": state != "ended"
            and get_alerts().may_manage(user, a.districts)}


def _form_values(a: Alert | None = None, form: Any = None) -> dict[str, Any]:
    """The form's values: posted ones (after an error), an alert's, or the defaults."""
    if form is not None:
        vals: dict[str, Any] = {k: form.get(k, "") for k in _FORM_FIELDS}
        vals["districts"] = form.getlist("districts")
        vals["version"] = form.get("version", "")
        return vals
    if a is not None:
        return {"kind": a.kind, "level": a.level, "districts": list(a.districts),
                "starts_at": _local_input(a.starts_at), "ends_at": _local_input(a.ends_at),
                "message_zh": a.message_zh, "message_en": a.message_en or "",
                "version": str(a.version)}
    now = get_alerts().clock()
    return {"kind": "heat", "level": "yellow", "districts": [],
            "starts_at": _local_input(now), "ends_at": "", "message_zh": "",
            "message_en": "", "version": ""}


def _page(*, editing: Alert | None = None, form: Any = None, error: str | None = None,
          error_field: str | None = None, status: int = 200) -> Response:
    user = _user()
    svc = get_alerts()
    now = svc.clock()
    state = request.args.get("state", "current")
    if state not in STATES:
        state, error, error_field, status = "current", _(
            f"状态“{state[:20]}”无效；可选：{'、'.join(STATES)}",
            f"state {state[:20]!r} is not valid; use one of {', '.join(STATES)}"), \
            "state", 400
    scope = user.scope or None
    rows = [_row(a, user, now) for a in svc.listing(state=state, at=now, scope=scope)]
    notice = None
    done = request.args.get("done", "")
    aid = request.args.get("id", "")
    if done in _DONE and error is None and aid.isdigit() and len(aid) < 12:
        notice = _(*_DONE[done]) % aid
    preview = None
    if editing is not None and editing.state(now) != "ended":
        from ..api.alerts import banner_strings

        lang = current_lang()
        item = editing.to_dict(lang, at=now)
        preview = {"alert": item, "alerts": [item], "stations": None, "config": {},
                   "strings": banner_strings(lang),
                   "where": (", " if lang == "en" else "、").join(
                       d["name"] for d in item["districts"])}
    html = render_template(
        "staff/alerts.html", rows=rows, state=state,
        states=[(s, _(*_STATE_NAMES[s])) for s in STATES], editing=editing,
        values=_form_values(editing, form), levels=_levels(),
        kinds=[(k, _(*KIND_NAMES[k])) for k in LEVELS],
        districts=_district_choices(user), can_manage=svc.may_manage(user),
        error=error, error_field=error_field, notice=notice, url=_url,
        alert_banner_preview=preview)
    resp = Response(html, status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _posted() -> dict[str, Any]:
    form = request.form
    out: dict[str, Any] = {k: form.get(k, "") for k in _FORM_FIELDS}
    out["districts"] = form.getlist("districts")
    return out


def _failed(e: Exception, *, editing: Alert | None = None, keep_form: bool = True
            ) -> Response:
    if isinstance(e, Forbidden):
        status = 403
    elif isinstance(e, AlertConflict):
        status = 409
    else:
        status = 400
    return _page(editing=editing, form=request.form if keep_form else None, error=_msg(e),
                 error_field=getattr(e, "field", None), status=status)


@bp.get("/alerts")
@staff_page()
def alerts():
    return _page()


@bp.post("/alerts")
@staff_page()
def alert_create():
    try:
        a = get_alerts().declare(_posted(), by=_user(), client=client_address())
    except (AlertInvalid, Forbidden) as e:
        return _failed(e)
    return redirect(_url("staff.alerts", done="created", id=a.id), code=303)


def _get_or_404(aid: str) -> Alert:
    try:
        return get_alerts().get(aid)
    except AlertNotFound as e:
        from ...errors import NotFound

        raise NotFound(_msg(e)) from None


@bp.get("/alerts/<aid>")
@staff_page()
def alert_edit(aid: str):
    return _page(editing=_get_or_404(aid))


@bp.post("/alerts/<aid>")
@staff_page()
def alert_update(aid: str):
    cur = _get_or_404(aid)
    version = request.form.get("version", "")
    try:
        a = get_alerts().update(
            cur.id, _posted(), by=_user(), client=client_address(),
            expected_version=int(version) if version.isdigit() and len(version) < 10
            else None)
    except (AlertInvalid, Forbidden, AlertConflict) as e:
        return _failed(e, editing=get_alerts().get(cur.id))
    return redirect(_url("staff.alerts", done="updated", id=a.id), code=303)


@bp.post("/alerts/<aid>/end")
@staff_page()
def alert_end(aid: str):
    cur = _get_or_404(aid)
    try:
        a = get_alerts().end(cur.id, by=_user(), client=client_address())
    except (Forbidden, AlertConflict) as e:
        return _failed(e, keep_form=False)
    return redirect(_url("staff.alerts", done="ended", id=a.id), code=303)

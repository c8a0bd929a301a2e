"""Riders' report pages: the report form (``/stations/<id>/report``) and a report's
public status (``/reports/<ref>``).

The form works without JavaScript: it posts here, the view calls the same core as
``POST /api/v1/reports`` and redirects to the status page (bad input re-renders the form
with the message next to the field). With JavaScript (``static/report.js``) it posts
JSON to the API and shows the reference number in place. A plain form post carries a
token that must match a cookie set with the form (double submit), so another site cannot
make its visitors' browsers file reports.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from ...errors import NotFound
from ...stations.model import Station
from ...stations.vocab import AMENITIES
from ...store.upkeep import REPORT_KINDS
from ...time_util import zone
from ...upkeep.reports import KIND_LABELS, MAX_NOTE, OTHER_AMENITY, ReportInvalid
from .. import get_registry
from ..i18n import current_lang
from ..i18n import gettext as _
from ..upkeep_service import client_address, get_reports

bp = Blueprint("report_pages", __name__)

#: The report form's token cookie (double submit; there is no session).
CSRF_COOKIE = "locator_report_csrf"
#: Short hints under each kind, (zh, en).
KIND_HINTS: dict[str, tuple[str, str]] = {
    "locked": ("到了却进不去：锁门、关闭、要扫码下载应用才能进",
               "you could not get in: locked, closed, or an app needed to enter"),
    "not_here": ("站点不在地图标的位置，可在地图上点出实际位置",
                 "the station is not where the map shows it; tap where it really is"),
    "wrong_hours": ("实际开放时间和页面上写的不一样", "it opens at other times than listed"),
    "amenity": ("某项设施没有或坏了", "a listed amenity is missing or broken"),
    "other": ("其他需要工会知道的问题", "anything else the union should know"),
}


class ReportFormExpired(HTTPException):
    code = 403
    description = ("表单已过期，请刷新页面后重新提交 / The form has expired: reload the page "
                   "and submit it again")


def _station(sid: str) -> Station:
    try:
        return get_registry().index.get(sid)
    except NotFound:
        raise NotFound(_(f"没有编号为 {sid!r} 的站点", f"station {sid!r} does not exist")) \
            from None


def _pick_map(st: Station, lang: str):
    """A small map centred on the station, to tap the corrected position on."""
    from ..maps import TYPE_COLORS, LocatorMap, StationPin, render_parts

    cfg = current_app.config
    m = LocatorMap(key="report-pick", location=(0.0, 0.0), zoom=17, tiles=cfg["LOCATOR_TILES"],
                   tianditu_key=cfg.get("LOCATOR_TIANDITU_KEY") or "", lang=lang,
                   css_class="report-map",
                   label=_("点选站点实际位置的地图", "Map: tap where the station really is"))
    lon, lat = m.to_map(st.lon, st.lat)
    m.location = [lat, lon]
    StationPin(lon, lat, label=st.name, color=TYPE_COLORS.get(st.type, "#495057")).add_to(m)
    return render_parts(m)


def _form_page(st: Station, *, values: dict[str, Any] | None = None,
               error: ReportInvalid | None = None, status: int = 200):
    lang = current_lang()
    tok = request.cookies.get(CSRF_COOKIE) or ""
    new_cookie = not tok or len(tok) > 100
    if new_cookie:
        tok = secrets.token_urlsafe(24)
    kinds = [{"code": k, "label": _(*KIND_LABELS[k]), "hint": _(*KIND_HINTS[k])}
             for k in REPORT_KINDS]
    amenities = [{"code": a, "label": AMENITIES[a].label(lang)} for a in st.amenities]
    amenities.append({"code": OTHER_AMENITY, "label": _("其他（请在说明中写明）",
                                                         "other (say which in the note)")})
    page_config = {
        "api": url_for("api_reports.submit_report"), "stationId": st.id, "lang": lang,
        "strings": {
            "sending": _("正在提交…", "Sending…"),
            "failed": _("提交失败：", "Could not send: "),
            "offline": _("网络不可用，请稍后再试。", "The network is unavailable; try again."),
            "picked": _("已选位置：", "Picked: "),
        },
    }
    html = render_template(
        "report_form.html", st=st, sample_data=st.is_sample, kinds=kinds,
        amenities=amenities, values=values or {}, error=error,
        error_text=error.message_in(lang) if error is not None else None,
        error_field=error.field if error is not None else None, csrf_token=tok,
        max_note=MAX_NOTE, map=_pick_map(st, lang), page_config=page_config)
    resp = current_app.response_class(html, status=status, mimetype="text/html")
    if new_cookie:
        from ..staff.auth import set_cookie

        set_cookie(resp, CSRF_COOKIE, tok, max_age=24 * 3600)
    return resp


@bp.get("/stations/<sid>/report")
def report_form(sid: str):
    st = _station(sid)
    kind = request.args.get("kind", "")
    return _form_page(st, values={"kind": kind if kind in REPORT_KINDS else ""})


def form_fields(form: MultiDict) -> dict[str, Any]:
    """The report fields of the plain form: the amenity only for an amenity report, the
    position only for "not here" (the form shows every part; the kind decides)."""
    kind = form.get("kind", "")
    out: dict[str, Any] = {"kind": kind, "note": form.get("note") or None,
                           "lang": current_lang()}
    if kind == "amenity":
        out["amenity"] = form.get("amenity", "")
    if kind == "not_here" and (form.get("lon") or form.get("lat")):
        out.update(lon=form.get("lon"), lat=form.get("lat"), crs=form.get("crs") or "wgs84")
    return out


@bp.post("/stations/<sid>/report")
def report_submit(sid: str):
    st = _station(sid)
    sent = request.form.get("csrf_token", "")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
        raise ReportFormExpired()
    fields = form_fields(request.form)
    try:
        rep, _created = get_reports().submit(st.id, fields.pop("kind"),
                                             client=client_address(), **fields)
    except ReportInvalid as e:
        return _form_page(st, values=request.form.to_dict(), error=e, status=400)
    return redirect(url_for("report_pages.report_status", ref=rep.ref, new=1), code=303)


@bp.get("/reports/<ref>")
def report_status(ref: str):
    lang = current_lang()
    try:
        rep = get_reports().get(ref)
    except NotFound:
        raise NotFound(_(f"没有编号为 {ref!r} 的反馈，请核对编号",
                         f"no report has the reference {ref!r}; check the number")) from None
    try:
        st: Station | None = get_registry().index.get(rep.station_id)
    except NotFound:
        st = None
    return render_template(
        "report_status.html", rep=rep, st=st, sample_data=bool(st and st.is_sample),
        kind_label=rep.kind_label(lang), status_label=rep.status_label(lang),
        just_sent=request.args.get("new") == "1", tz=zone(),
        status_url=url_for("report_pages.report_status", ref=rep.ref, _external=True))

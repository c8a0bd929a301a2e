"""Staff star-rating pages: a station's checklist with the suggested level, its reasons and
the form that sets the official level (``/staff/stations/<id>/rating``), and the list of
the account's stations with official against suggested level (``/staff/ratings``, CSV at
``/staff/ratings.csv``).

The rules live in :mod:`locator.upkeep.ratings`; this module reads requests and renders.
Setting a level needs the right ``station.rate`` in the station's district; the core
checks it and writes the new version with its audit row.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response, current_app, redirect, render_template, request, url_for

from ...errors import Conflict, InvalidInput
from ...settings import verify_intervals
from ...staff.roles import can, in_scope
from ...stations.model import STAR_LEVELS, Station
from ...stations.vocab import STATION_TYPES, STATUSES
from ...store.accounts import insert_audit, utc_now
from ...store.exporting import neutralise_cell, record_notice
from ...time_util import local_today, zone
from ...upkeep import ratings as core
from .. import get_registry
from ..i18n import current_lang
from ..i18n import gettext as _
from .auth import client_address, current_user
from .pages import bp, paged, staff_page
from .station_form import district_by_code, district_choices, local_time

PER_PAGE = 50


def _lang_args() -> dict[str, str]:
    return {"lang": "en"} if current_lang() == "en" else {}


def _url(endpoint: str, **kw: Any) -> str:
    args: dict[str, Any] = {**kw, **_lang_args()}
    return url_for(endpoint, **args)


def _intervals() -> dict[str, int]:
    return verify_intervals(current_app.config["LOCATOR_SETTINGS"])


def _assess(st: Station, reports: dict[str, dict[str, int]]) -> core.Rating:
    return core.assess(st, open_reports=reports.get(st.id), today=local_today(),
                       interval_days=_intervals()[st.type])


def _msg(e: Exception) -> str:
    return e.message_in(current_lang()) if hasattr(e, "message_in") else str(e)


# --------------------------------------------------------------------------- one station


def _rating_page(sid: str, *, status: int = 200, error: str | None = None,
                 error_for: str | None = None, form: dict[str, str] | None = None,
                 notice: str | None = None) -> Response:
    lang = current_lang()
    user = current_user()
    store = get_registry().store
    st = store.get(sid)
    rating = _assess(st, core.open_report_counts(store.engine, [sid]))
    levels = [{"level": n, "items": rating.items_at(n)} for n in STAR_LEVELS]
    sources = sorted({r.item.source for r in rating.items} | {p.source for p in
                                                              rating.penalties},
                     key=list(core.SOURCES).index)
    level_choices = [("", core.level_label(None, lang))] + [
        (str(n), f"{core.stars_text(n)} {core.level_label(n, lang)}") for n in STAR_LEVELS]
    if form is None:
        form = {"star_level": "" if st.star_level is None else str(st.star_level),
                "reason": ""}
    html = render_template(
        "staff/rating.html", st=st, r=rating, levels=levels, lang_code=lang,
        sources=[core.SOURCES[k] for k in sources], level_choices=level_choices,
        stars=core.stars_text, level_label=lambda n: core.level_label(n, lang),
        type_label=STATION_TYPES[st.type].label(lang),
        status_label=STATUSES[st.status].label(lang),
        can_rate=can(user, "station.rate", st.district_adcode),
        can_edit=can(user, "station.write", st.district_adcode),
        points=core.PENALTY_POINTS, error=error, error_for=error_for, form=form,
        notice=notice, url=_url, local_time=local_time, sample_data=st.is_sample,
        max_reason=core.MAX_REASON)
    resp = Response(html, status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/stations/<sid>/rating")
@staff_page()
def rating_page(sid: str):
    notice = None
    if request.args.get("done") == "set":
        notice = _("已保存官方星级（新版本，已记入审计日志）。",
                   "Official level saved (a new version, recorded in the audit log).")
    elif request.args.get("done") == "confirmed":
        notice = _("星级未变，本次确认已记入审计日志。",
                   "The level is unchanged; this confirmation is recorded in the audit log.")
    return _rating_page(sid, notice=notice)


@bp.post("/stations/<sid>/rating")
@staff_page("station.rate")
def rating_set(sid: str):
    f = request.form
    form = {"star_level": f.get("star_level", "")[:20], "reason": f.get("reason", "")[:2000]}
    raw_version = f.get("version", "")
    version = int(raw_version) if raw_version.isdigit() and len(raw_version) < 10 else None
    user = current_user()
    assert user is not None  # staff_page let the request in
    try:
        change = core.set_official_level(
            get_registry(), user, sid, form["star_level"], reason=form["reason"],
            expected_version=version, client=client_address(), today=local_today(),
            intervals=_intervals())
    except InvalidInput as e:
        return _rating_page(sid, status=400, error=_msg(e), error_for=e.field, form=form)
    except Conflict:
        return _rating_page(sid, status=409, form=form, error=_(
            "未保存：站点已被他人修改，请核对当前内容后再提交。",
            "Not saved: someone else changed the station meanwhile; check it and submit "
            "again."))
    return redirect(_url("staff.rating_page", sid=sid,
                         done="set" if change.changed else "confirmed"), code=303)


# --------------------------------------------------------------------------- the list


def _filters() -> tuple[dict[str, Any], list[str]]:
    a = request.args
    f: dict[str, Any] = {"type": a.get("type", ""), "district": a.get("district", ""),
         "above": a.get("above") == "1"}
    notes = []
    if f["type"] and f["type"] not in STATION_TYPES:
        notes.append(_("未知的类型「%s」，已忽略", "unknown type “%s”; ignored") % f["type"][:40])
        f["type"] = ""
    if f["district"] and district_by_code(f["district"]) is None:
        notes.append(_("未知的区县「%s」，已忽略", "unknown district “%s”; ignored")
                     % f["district"][:40])
        f["district"] = ""
    return f, notes


def _rows(f: dict[str, Any]) -> list[core.Rating]:
    """Ratings of the account's stations matching the filters, by id."""
    user = current_user()
    assert user is not None
    reg = get_registry()
    found = [s for s in reg.index.stations() if in_scope(user.scope, s.district_adcode)
             and (not f["type"] or s.type == f["type"])
             and (not f["district"] or s.district_adcode == f["district"])]
    found.sort(key=lambda s: s.id)
    reports = core.open_report_counts(reg.store.engine)
    rows = [_assess(s, reports) for s in found]
    if f["above"]:
        rows = [r for r in rows if r.official_above_suggestion]
    return rows


def _query(f: dict[str, Any]) -> dict[str, str]:
    q = {k: f[k] for k in ("type", "district") if f[k]}
    if f["above"]:
        q["above"] = "1"
    return q


@bp.get("/ratings")
@staff_page()
def ratings():
    lang = current_lang()
    f, notes = _filters()
    rows = _rows(f)
    shown, page, pages = paged(rows, PER_PAGE)
    query = _query(f)
    html = render_template(
        "staff/ratings.html", rows=shown, total=len(rows), f=f, notes=notes, page=page,
        pages=pages, page_url=lambda n: _url("staff.ratings", page=n, **query),
        csv_url=_url("staff.ratings_csv", **query), url=_url,
        types=[(t.code, t.label(lang)) for t in STATION_TYPES],
        districts=[(d.adcode, d.label(lang)) for d in district_choices()],
        stars=core.stars_text, level_label=lambda n: core.level_label(n, lang),
        type_label=lambda c: STATION_TYPES[c].label(lang),
        sample_data=any(r.station.is_sample for r in shown))
    return Response(html, mimetype="text/html", headers={"Cache-Control": "no-store"})


CSV_COLUMNS = ("id", "code", "name", "type", "district_adcode", "district_name", "status",
               "official_level", "suggested_level", "checklist_level", "confirmed_level",
               "official_above_suggestion", "penalties", "next_star", "to_confirm",
               "verified_date", "source", "notice")


@bp.get("/ratings.csv")
@staff_page()
def ratings_csv():
    lang = current_lang()
    f, _notes = _filters()
    rows = _rows(f)
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    sep = "; " if lang == "en" else "；"
    for r in rows:
        s = r.station
        cells = [s.id, s.code, s.name, s.type, s.district_adcode, s.district_name, s.status,
                 "" if r.official_level is None else r.official_level,
                 "" if r.suggested_level is None else r.suggested_level,
                 r.checklist_level if r.has_checklist else "",
                 r.confirmed_level if r.has_checklist else "",
                 "yes" if r.official_above_suggestion else "no",
                 sep.join(f"-{p.points} {p.reason(lang)}" for p in r.penalties),
                 r.next_star.summary(lang) if r.next_star else "",
                 sep.join(i.label(lang) for i in r.to_confirm),
                 s.verified_date.isoformat() if s.verified_date else "", s.source,
                 record_notice(s)]
        w.writerow([neutralise_cell(c) if isinstance(c, str) else c for c in cells])
    user = current_user()
    assert user is not None
    with get_registry().store.engine.begin() as conn:
        insert_audit(conn, at=utc_now(), actor=user.actor, action="rating.export",
                     target="stations", result="ok", client=client_address(),
                     detail={"rows": len(rows), "scope": user.scope, **_query(f)})
    stamp = utc_now().astimezone(zone()).strftime("%Y%m%d-%H%M")
    resp = Response(("\ufeff" + buf.getvalue()).encode("utf-8"), mimetype="text/csv")
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = f'attachment; filename="ratings-{stamp}.csv"'
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp

"""Visits from anonymous check-ins, for staff: ``GET /staff/visits``.

Per station, per day, per hour and per occupation, for the account's scope (narrowed to
a district or one station if asked) and a date range (Beijing dates, both included;
default the last 30 days). Downloads: ``?format=csv`` (one row per date, hour, station
and occupation) and ``?format=demand`` (the planners' demand table: one point per
station weighted by its visits, readable by ``locator coverage --demand FILE``). Each
download is audited (``checkin.export``). The counts come from
:class:`locator.upkeep.checkins.CheckinBook`.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

from flask import Response, render_template, request, url_for

from ...errors import InvalidInput
from ...staff.errors import Forbidden
from ...staff.roles import describe_scope, in_scope
from ...store.accounts import User, insert_audit, utc_now
from ...store.upkeep import OCCUPATIONS
from ...time_util import local_today
from ...upkeep.checkins import (
    MAX_RANGE_DAYS,
    CheckinInvalid,
    VisitCounts,
    check_range,
    occupation_label,
    write_demand_csv,
    write_visits_csv,
)
from .. import get_registry
from ..api.checkins import checkin_book
from ..errors import localized
from ..i18n import current_lang
from .auth import client_address, current_user
from .pages import bp, staff_page
from .station_form import district_choices

DEFAULT_DAYS = 30
FORMATS = ("html", "csv", "demand")


def _date(name: str, default: date) -> date:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise CheckinInvalid(f"{name} 应为日期 YYYY-MM-DD，收到 {raw[:20]!r}",
                             f"{name} must be a date YYYY-MM-DD, got {raw[:20]!r}",
                             field=name) from None


def _scope(user: User) -> tuple[str, str]:
    """(adcode scope to count in, the district asked for) within the account's scope."""
    district = (request.args.get("district") or "").strip()[:6]
    if not district:
        return user.scope, ""
    if not any(d.adcode == district for d in district_choices()):
        raise CheckinInvalid(f"未知的区县 {district!r}", f"unknown district {district!r}",
                             field="district")
    if not in_scope(user.scope, district):
        raise Forbidden(f"账号权限范围为 {describe_scope(user.scope)}，不能查看 "
                        f"{describe_scope(district)} 的到站统计",
                        f"the account's scope is {describe_scope(user.scope, 'en')}; it "
                        f"cannot see visits in {describe_scope(district, 'en')}",
                        right="staff.read", scope=user.scope)
    return district, district


def _query(user: User) -> dict[str, Any]:
    today = local_today()
    end = _date("to", today)
    start = _date("from", end - timedelta(days=DEFAULT_DAYS - 1))
    check_range(start, end)
    scope, district = _scope(user)
    station = (request.args.get("station") or "").strip()[:64] or None
    if station is not None and not station.isprintable():
        raise CheckinInvalid("站点编号含有不可见字符", "the station id contains control "
                             "characters", field="station")
    return {"start": start, "end": end, "scope": scope, "district": district,
            "station": station}


def _download(user: User, q: dict[str, Any], fmt: str, counts: VisitCounts) -> Response:
    buf = io.StringIO()
    buf.write("\ufeff")  # UTF-8 with BOM: spreadsheets then read the Chinese right
    if fmt == "demand":
        n = write_demand_csv(checkin_book().demand(start=q["start"], end=q["end"],
                                                   scope=q["scope"]), buf)
    else:
        n = write_visits_csv(counts, buf)
    with get_registry().store.engine.begin() as conn:
        insert_audit(conn, at=utc_now(), actor=user.actor, action="checkin.export",
                     target="checkins", result="ok", client=client_address(),
                     detail={"format": fmt, "rows": n, "scope": q["scope"],
                             "from": q["start"].isoformat(), "to": q["end"].isoformat(),
                             "station": q["station"]})
    name = "demand" if fmt == "demand" else "visits"
    resp = Response(buf.getvalue().encode("utf-8"), mimetype="text/csv")
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = (
        f'attachment; filename="{name}-{q["start"].isoformat()}-{q["end"].isoformat()}.csv"')
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _tables(counts: VisitCounts, lang: str) -> dict[str, Any]:
    per_station = counts.by_station()
    per_so = counts.by_station_occupation()
    per_do = counts.by_day_occupation()
    per_day = counts.by_day()
    stations = []
    for sid, n in sorted(per_station.items(), key=lambda kv: (-kv[1], kv[0])):
        info = counts.stations.get(sid)
        stations.append({"id": sid, "info": info, "total": n,
                         "by_occ": [per_so.get((sid, o), 0) for o in OCCUPATIONS]})
    days = [{"day": d, "total": per_day.get(d, 0),
             "by_occ": [per_do.get((d, o), 0) for o in OCCUPATIONS]}
            for d in reversed(counts.days())]
    hours = counts.by_hour()
    peak = max(hours.values(), default=0)
    return {
        "occupations": [(o, occupation_label(o, lang)) for o in OCCUPATIONS],
        "by_occ": counts.by_occupation(), "stations": stations, "days": days,
        "hours": [(h, hours.get(h, 0), round(100 * hours.get(h, 0) / peak) if peak else 0)
                  for h in range(24)],
        "sample": any(s.is_sample for s in counts.stations.values()),
    }


@bp.get("/visits")
@staff_page()
def visits():
    user = current_user()
    assert user is not None
    lang = current_lang()
    fmt = (request.args.get("format") or "html").lower()
    raw = {k: request.args.get(k, "") for k in ("from", "to", "district", "station")}
    error, status = None, 200
    try:
        if fmt not in FORMATS:
            raise CheckinInvalid(f"不支持的格式 {fmt[:20]!r}；可选：{'、'.join(FORMATS)}",
                                 f"format {fmt[:20]!r}: use one of {', '.join(FORMATS)}",
                                 field="format")
        q = _query(user)
    except InvalidInput as e:
        if fmt != "html":
            raise
        error, status = localized(e), 400
        today = local_today()
        q = {"start": today - timedelta(days=DEFAULT_DAYS - 1), "end": today,
             "scope": user.scope, "district": "", "station": None}
    counts = checkin_book().counts(start=q["start"], end=q["end"], scope=q["scope"],
                                   station_id=q["station"])
    if fmt != "html":
        return _download(user, q, fmt, counts)
    args = {"from": q["start"].isoformat(), "to": q["end"].isoformat()}
    if q["district"]:
        args["district"] = q["district"]
    if q["station"]:
        args["station"] = q["station"]
    if lang == "en":
        args["lang"] = "en"
    tables = _tables(counts, lang)
    html = render_template(
        "staff/visits.html", q=q, raw=raw, error=error, counts=counts, t=tables,
        sample_data=tables["sample"], max_days=MAX_RANGE_DAYS,
        scope_label=describe_scope(user.scope, lang),
        districts=[(d.adcode, d.label(lang)) for d in district_choices()
                   if in_scope(user.scope, d.adcode)],
        csv_url=url_for("staff.visits", format="csv", **args),
        demand_url=url_for("staff.visits", format="demand",
                           **{k: v for k, v in args.items() if k != "station"}),
        station_url=lambda sid: url_for("staff.visits", **{**args, "station": sid}))
    resp = Response(html, status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp

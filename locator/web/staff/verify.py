"""Verification rounds on the staff pages: the overdue list (printable, CSV), the
phone form that records a check at the door, and the photos of those checks.

The rules are :mod:`locator.upkeep.verification`'s (rights, distance flag, the station
version, the audit row); this module reads requests and renders. The check form is a
plain multipart POST with the session's CSRF token; its script (``static/staff-verify.js``)
only fills in the phone's position and says when there is none.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, current_app, g, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from ...errors import InvalidInput, NotFound
from ...staff.audit import neutralise
from ...staff.errors import Forbidden
from ...staff.roles import can, describe_scope, in_scope, require
from ...stations.coords import validate_lonlat
from ...stations.hours_text import hours_preview
from ...stations.model import Station
from ...stations.vocab import SOURCES, STATION_TYPES, STATUSES
from ...store.accounts import insert_audit, utc_now
from ...store.exporting import record_notice
from ...upkeep.photos import PhotoInvalid, load_photo
from ...upkeep.verification import (
    OUTCOMES,
    Check,
    DistrictRound,
    VerificationService,
    parse_position,
)
from .. import get_registry
from ..i18n import current_lang
from ..i18n import gettext as _
from ..upkeep_service import app_service
from .auth import client_address, current_user
from .pages import bp, staff_page
from .station_form import local_time

#: Coordinate systems a position typed on the round page may be in: (code, zh, en).
ROUND_CRS = (("wgs84", "WGS-84（手机 GPS）", "WGS-84 (phone GPS)"),
             ("gcj02", "GCJ-02（高德、腾讯）", "GCJ-02 (Amap, Tencent)"),
             ("bd09", "BD-09（百度）", "BD-09 (Baidu)"))
CSV_HEADERS = ("区县", "站点编号", "名称", "类型", "状态", "地址", "上次核实日期", "核实人",
               "距上次核实天数", "超期天数", "距离（米）", "经度（WGS-84）", "纬度（WGS-84）",
               "数据说明")
#: Room for the form fields around the photo in a check's request body.
_FORM_SLACK = 256 * 1024


def service() -> VerificationService:
    """The app's verification service (made on first use)."""
    return app_service("locator.verification", lambda: VerificationService(
        get_registry(), settings=current_app.config["LOCATOR_SETTINGS"]))


def _lang_args() -> dict[str, Any]:
    return {"lang": "en"} if current_lang() == "en" else {}


def _url(endpoint: str, **kw: Any) -> str:
    return url_for(endpoint, **kw, **_lang_args())


def _msg(e: Exception) -> str:
    return e.message_in(current_lang()) if hasattr(e, "message_in") else str(e)


def _html(html: str, status: int = 200) -> Response:
    resp = Response(html, status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _type_label(code: str) -> str:
    return STATION_TYPES[code].label(current_lang()) if code in STATION_TYPES else code


# --------------------------------------------------------------------------- round


def _round_position() -> tuple[tuple[float, float] | None, dict[str, Any], str | None]:
    """The staff member's position from the query (``lon``, ``lat``, ``crs``), WGS-84;
    the values as typed; and the error naming a bad field, if any."""
    a = request.args
    typed: dict[str, Any] = {"lon": (a.get("lon") or "").strip()[:40],
                             "lat": (a.get("lat") or "").strip()[:40],
                             "crs": (a.get("crs") or "wgs84").strip().lower()[:10]}
    try:
        pos = parse_position(typed["lon"], typed["lat"])
        if pos is None:
            return None, typed, None
        if typed["crs"] not in {c for c, _z, _e in ROUND_CRS}:
            raise InvalidInput(_("坐标系（crs）应为 wgs84、gcj02 或 bd09",
                                 "crs must be wgs84, gcj02 or bd09"), field="crs")
        return validate_lonlat(pos.lon, pos.lat, crs=typed["crs"]), typed, None
    except InvalidInput as e:
        return None, typed, _msg(e)


def _round_rows(rounds: list[DistrictRound], lang: str) -> list[dict[str, Any]]:
    out = []
    for r in rounds:
        items = []
        for o in r.stations:
            s = o.station
            items.append({
                "st": s, "type": _type_label(s.type),
                "status": STATUSES[s.status].label(lang),
                "since": o.days_since, "overdue": o.days_overdue, "interval": o.interval_days,
                "distance": o.distance_m, "sample": s.is_sample,
                "source": SOURCES[s.source].label(lang) if s.source in SOURCES else s.source,
            })
        out.append({"adcode": r.adcode, "name": r.name(lang), "items": items})
    return out


def _distance_text(m: float | None) -> str:
    if m is None:
        return ""
    return f"{m / 1000:.1f} km" if m >= 1000 else f"{m:.0f} m"


@bp.get("/verify")
@staff_page("station.verify")
def verify_round():
    user = current_user()
    assert user is not None
    lang = current_lang()
    near, typed, error = _round_position()
    rounds = service().overdue(user, near=near)
    total = sum(len(r.stations) for r in rounds)
    fmt = (request.args.get("format") or "html").lower()
    if fmt == "csv" and error is None:
        return _round_csv(rounds, user, near)
    if fmt not in ("html", "csv"):
        error = _("格式（format）应为 html 或 csv", "format must be html or csv")
    rows = _round_rows(rounds, lang)
    html = render_template(
        "staff/verify_round.html", rounds=rows, total=total, near=near, typed=typed,
        error=error, printing=request.args.get("print") == "1", done=_round_done(),
        round_pos={f"round_{k}": v for k, v in typed.items() if v and near is not None},
        sample_data=any(i["sample"] for r in rows for i in r["items"]),
        scope=describe_scope(user.scope, lang), crs_choices=[
            (c, en if lang == "en" else zh) for c, zh, en in ROUND_CRS],
        distance_text=_distance_text, url=_url,
        csv_url=url_for("staff.verify_round", format="csv",
                        **{k: v for k, v in typed.items() if v and near is not None}),
        print_url=url_for("staff.verify_round", print="1", **_lang_args(),
                          **{k: v for k, v in typed.items() if v and near is not None}))
    return _html(html, 400 if error else 200)


def _round_csv(rounds: list[DistrictRound], user: Any, near: tuple[float, float] | None
               ) -> Response:
    """The round list as CSV in UTF-8 with a BOM (Excel reads the Chinese), Chinese
    headers, every text cell neutralised against formula injection; audited."""
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf)
    w.writerow(CSV_HEADERS)
    n = 0
    for r in rounds:
        district = r.name("zh")
        for o in r.stations:
            s = o.station
            cells = [district, s.id, s.name, STATION_TYPES[s.type].zh if s.type in
                     STATION_TYPES else s.type, STATUSES[s.status].zh, s.address,
                     s.verified_date.isoformat() if s.verified_date else "从未核实",
                     s.verified_by, "" if o.days_since is None else str(o.days_since),
                     "" if o.days_overdue is None else str(o.days_overdue),
                     "" if o.distance_m is None else f"{o.distance_m:.0f}",
                     f"{s.lon:.6f}", f"{s.lat:.6f}", record_notice(s)]
            w.writerow([neutralise(c) for c in cells])
            n += 1
    with get_registry().store.engine.begin() as conn:
        insert_audit(conn, at=utc_now(), actor=user.actor, action="verify.round_export",
                     target="stations", result="ok", client=client_address(),
                     detail={"rows": n, "scope": user.scope, "near": near is not None})
    resp = Response(buf.getvalue().encode("utf-8"), mimetype="text/csv")
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = 'attachment; filename="verification-round.csv"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --------------------------------------------------------------------------- check form


def _verifiable(sid: str) -> Station:
    """The live station, if the account may verify it; else 404 or 403."""
    st = get_registry().store.get(sid)
    require(current_user(), "station.verify", st.district_adcode)
    return st


def _check_rows(checks: list[Check], lang: str) -> list[dict[str, Any]]:
    return [{"c": c, "at": local_time(c.at), "outcome": c.outcome_label(lang),
             "distance": _distance_text(c.distance_m),
             "photo": _url("staff.photo", pid=c.photo_id) if c.photo_id else None}
            for c in checks]


def _render_check_form(st: Station, *, errors: dict[str, str] | None = None,
                       values: dict[str, str] | None = None, status: int = 200) -> Response:
    lang = current_lang()
    preview = hours_preview(st.opening_hours, lang=lang) if st.opening_hours else {}
    html = render_template(
        "staff/verify_form.html", st=st, errors=errors or {}, v=values or {},
        outcomes=[(code, en if lang == "en" else zh) for code, (zh, en) in OUTCOMES.items()],
        checks=_check_rows(service().checks(st.id, limit=20), lang),
        type_label=_type_label(st.type), status_label=STATUSES[st.status].label(lang),
        hours_text=preview.get("text"),
        max_distance=current_app.config["LOCATOR_SETTINGS"].verify_max_distance_m,
        max_photo_mb=current_app.config["LOCATOR_SETTINGS"].max_photo_bytes / (1024 * 1024),
        sample_data=st.is_sample,
        action=_url("staff.station_verify_post", sid=st.id, **_round_args()),
        url=_url, can_edit=_can_edit(st))
    return _html(html, status)


def _can_edit(st: Station) -> bool:
    return can(current_user(), "station.write", st.district_adcode)


@bp.get("/stations/<sid>/verify")
@staff_page("station.verify")
def station_verify(sid: str):
    return _render_check_form(_verifiable(sid))


def _photo_limit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Let a logged-in account's check carry a photo up to ``LOCATOR_MAX_PHOTO_BYTES``
    (the app's body limit is smaller), parsing the body here, before the CSRF check
    reads it; beyond the limit, the form again with the photo field's error (413)."""
    @wraps(fn)
    def wrapper(sid: str) -> Any:
        try:
            known = current_user() is not None and not g.get("staff_by_token")
        except Exception:  # noqa: BLE001 - bad credentials: staff_page answers
            known = False
        if not known:
            return fn(sid)
        limit = current_app.config["LOCATOR_SETTINGS"].max_photo_bytes
        request.max_content_length = limit + _FORM_SLACK
        try:
            request.files  # noqa: B018 - parse the body now, under the raised limit
        except RequestEntityTooLarge:
            st = _verifiable(sid)
            mb = limit / (1024 * 1024)
            return _render_check_form(st, status=413, errors={"photo": _(
                f"照片太大，最大 {mb:.1f} MB；请重新拍摄或选择较小的照片",
                f"the photo is too large; at most {mb:.1f} MB: take or choose a smaller one")})
        return fn(sid)
    return wrapper


@bp.post("/stations/<sid>/verify")
@_photo_limit
@staff_page("station.verify")
def station_verify_post(sid: str):
    settings = current_app.config["LOCATOR_SETTINGS"]
    form, files = request.form, request.files
    st = _verifiable(sid)
    values = {k: (form.get(k) or "")[:1000] for k in ("outcome", "note", "lon", "lat",
                                                     "accuracy")}
    upload = files.get("photo")
    photo = upload.read(settings.max_photo_bytes + 1) if upload and upload.filename else None
    user = current_user()
    assert user is not None
    try:
        pos = parse_position(values["lon"], values["lat"], values["accuracy"])
        result = service().verify(user, sid, outcome=values["outcome"] or "ok",
                                  position=pos, note=values["note"], photo=photo,
                                  client=client_address())
    except (InvalidInput, PhotoInvalid) as e:
        field = e.field or "outcome"
        return _render_check_form(st, values=values, status=400, errors={field: _msg(e)})
    args: dict[str, Any] = {"verified": result.check.id}
    if request.args.get("round") == "1" and result.check.outcome == "ok" \
            and not result.flagged:
        # from the round list, a plain check goes back to the list for the next station
        # (a flagged or problem check goes to the station, where it must be dealt with)
        back = {k[len("round_"):]: v for k, v in _round_args().items() if k != "round"}
        return redirect(_url("staff.verify_round", **args, **back), code=303)
    if _can_edit(st):
        return redirect(_url("staff.station_edit", sid=sid, **args), code=303)
    return redirect(_url("staff.station_verify", sid=sid, **args), code=303)


def _round_args() -> dict[str, str]:
    """The round list's position, carried through a check reached from the list (as
    ``round=1&round_lon=..``), so that a check can return to the same list."""
    if request.args.get("round") != "1":
        return {}
    out = {"round": "1"}
    for k in ("lon", "lat", "crs"):
        v = (request.args.get(f"round_{k}") or "")[:40]
        if v:
            out[f"round_{k}"] = v
    return out


def _round_done() -> str | None:
    """The round page's line after a check made from it (``?verified=<check id>``), read
    from the stored check."""
    raw = request.args.get("verified", "")
    if not raw.isdigit() or len(raw) > 12:
        return None
    try:
        c = service().get_check(int(raw))
        st = get_registry().index.get(c.station_id)
    except NotFound:
        return None
    user = current_user()
    if user is None or not in_scope(user.scope, st.district_adcode):
        return None
    name = st.name
    return _("已记录“%s”的现场核实（%s），下一站见下表。",
             "Check of “%s” recorded (%s); the next stations are below.") % (
        name, local_time(c.at))


def verify_notice(st: Station | None) -> dict[str, Any] | None:
    """What the station pages say after a check (``?verified=<check id>``): read from the
    stored check, never from the URL, so a link cannot fake a flag or hide one."""
    raw = request.args.get("verified", "")
    if st is None or not raw.isdigit() or len(raw) > 12:
        return None
    try:
        c = service().get_check(int(raw))
    except NotFound:
        return None
    if c.station_id != st.id:
        return None
    limit = current_app.config["LOCATOR_SETTINGS"].verify_max_distance_m
    return {"check": c, "flagged": c.flagged, "distance": _distance_text(c.distance_m),
            "limit": f"{limit:.0f}", "ok": c.outcome == "ok", "at": local_time(c.at)}


@bp.app_context_processor
def _verify_context() -> dict[str, Any]:
    if not request.path.startswith("/staff/stations/"):
        return {}
    return {"verify_notice": verify_notice}


# --------------------------------------------------------------------------- photos


@bp.get("/photos/<int:pid>")
@staff_page()
def photo(pid: int):
    """A check's photo, as image bytes with its stored type, for staff whose scope holds
    the station."""
    user = g.staff_user
    check = service().check_with_photo(pid)
    st = get_registry().store.get(check.station_id, include_deleted=True)
    if not in_scope(user.scope, st.district_adcode):
        raise Forbidden(f"账号权限范围为 {describe_scope(user.scope)}，不能查看此站点的照片",
                        f"the account's scope is {describe_scope(user.scope, 'en')}; it "
                        "cannot see this station's photos", scope=user.scope)
    p = load_photo(get_registry().store.engine, pid)
    resp = Response(p.data, mimetype=p.content_type)
    resp.headers["Content-Disposition"] = f'inline; filename="check-photo-{pid}.jpg"'
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp

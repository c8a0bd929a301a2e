"""Staff station pages: the list, the create and edit form (with its map), closing and
reopening, delete and restore, the conflict screen and the history.

Views read the request, call :class:`~locator.staff.station_edits.StationEditor` (which
checks rights and scope, fills in districts, warns about duplicates and audits) and
render. Every write is a plain POST form with the session's CSRF token; the page script
(``static/staff.js``) only adds the map, the district and hours previews.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from flask import Response, current_app, redirect, render_template, request, url_for

from ...errors import Conflict, InvalidInput, NotFound
from ...staff.errors import Forbidden
from ...staff.roles import can, require
from ...staff.station_edits import DuplicateSuspected
from ...stations.model import EDITABLE_FIELDS, Station
from ...stations.vocab import (
    ACCESS,
    AMENITIES,
    ENTRY_METHODS,
    SOURCES,
    STATION_TYPES,
    STATUSES,
    TOILET_ACCESS,
)
from ...store.sql import apply_changes
from .. import get_registry
from ..i18n import current_lang
from ..i18n import gettext as _
from .auth import client_address, current_user, editor
from .pages import bp, paged, staff_page
from .report_fix import finish_fix, fix_context, fix_resolution, prefilled, report_fix
from .station_form import (
    CRS_CHOICES,
    Submission,
    blank_values,
    compare,
    display_value,
    district_by_code,
    district_centres,
    district_choices,
    error_message,
    field_label,
    local_time,
    read_form,
    station_values,
)

PER_PAGE = 50
SORTS = ("id", "name", "-updated", "updated", "-verified", "verified")
#: Xuzhou's centre (Pengcheng Square), where a map opens for a national or city scope.
XUZHOU = (117.1847, 34.2612)
STATUS_ACTIONS = (("closed", "关闭站点", "Close the station"),
                  ("temporarily_closed", "暂停开放", "Close temporarily"),
                  ("open", "恢复开放", "Reopen"))
OP_LABELS = {"create": ("新建", "created"), "update": ("修改", "changed"),
             "delete": ("删除", "deleted"), "restore": ("恢复", "restored")}


def _lang_args() -> dict[str, str]:
    return {"lang": "en"} if current_lang() == "en" else {}


def _url(endpoint: str, **kw: Any) -> str:
    """A URL in the page's language (form posts keep ``?lang=en``)."""
    return url_for(endpoint, **kw, **_lang_args())


def _vocab(vocab, lang: str) -> list[tuple[str, str]]:
    return [(t.code, t.label(lang)) for t in vocab]


def _labels(lang: str) -> dict[str, Any]:
    return {
        "types": _vocab(STATION_TYPES, lang), "statuses": _vocab(STATUSES, lang),
        "sources": _vocab(SOURCES, lang), "access": _vocab(ACCESS, lang),
        "amenities": _vocab(AMENITIES, lang),
        "entry_methods": [("", _("未知", "not known"))] + _vocab(ENTRY_METHODS, lang),
        "toilet_access": [("", _("未知", "not known"))] + _vocab(TOILET_ACCESS, lang),
        "districts": [(d.adcode, d.label(lang)) for d in district_choices()],
        "crs_choices": [(c, en if lang == "en" else zh) for c, zh, en in CRS_CHOICES],
    }


# --------------------------------------------------------------------------- list


def _list_filters(args) -> tuple[dict[str, Any], list[str]]:
    """The list's filters from the query string; bad values are dropped with a note."""
    notes = []
    f: dict[str, Any] = {
        "q": (args.get("q") or "").strip()[:100],
        "type": args.get("type", ""), "district": args.get("district", ""),
        "status": args.get("status", ""), "source": args.get("source", ""),
        "verified_before": (args.get("verified_before") or "").strip(),
        "deleted": args.get("deleted") == "1", "sort": args.get("sort", "id"),
    }
    for key, vocab in (("type", STATION_TYPES), ("status", STATUSES), ("source", SOURCES)):
        if f[key] and f[key] not in vocab:
            notes.append(_("未知的筛选值「%s」，已忽略", "unknown filter value “%s”; ignored")
                         % f[key])
            f[key] = ""
    if f["district"] and f["district"] != "none" and district_by_code(f["district"]) is None:
        notes.append(_("未知的区县「%s」，已忽略", "unknown district “%s”; ignored")
                     % f["district"])
        f["district"] = ""
    if f["verified_before"]:
        try:
            f["verified_before_date"] = date.fromisoformat(f["verified_before"])
        except ValueError:
            notes.append(_("核验日期应为 YYYY-MM-DD，已忽略", "verified date must be "
                           "YYYY-MM-DD; ignored"))
            f["verified_before"] = ""
    if f["sort"] not in SORTS:
        f["sort"] = "id"
    return f, notes


def _find(f: dict[str, Any]) -> list[Station]:
    """Stations matching the list's filters, sorted. Live ones come from the index;
    deleted ones (which the index does not hold) from the store."""
    if f["deleted"]:
        store = get_registry().store
        live = {s.id for s in store.all()}
        found = [s for s in store.all(include_deleted=True) if s.id not in live]
        if f["type"]:
            found = [s for s in found if s.type == f["type"]]
        if f["status"]:
            found = [s for s in found if s.status == f["status"]]
    else:
        found = get_registry().index.select(types=[f["type"]] if f["type"] else None,
                                            statuses=[f["status"]] if f["status"] else None)
    if f["district"] == "none":
        found = [s for s in found if not s.district_adcode]
    elif f["district"]:
        found = [s for s in found if s.district_adcode == f["district"]]
    if f["source"]:
        found = [s for s in found if s.source == f["source"]]
    if f.get("verified_before_date"):
        cut = f["verified_before_date"]
        found = [s for s in found if s.verified_date is None or s.verified_date < cut]
    if f["q"]:
        ql = f["q"].lower()
        found = [s for s in found if ql in s.name.lower() or ql in s.address.lower()
                 or ql in s.id.lower()]
    key = f["sort"].lstrip("-")
    newest = f["sort"].startswith("-")
    found.sort(key=lambda s: s.id)  # ties keep id order (sorts below are stable)
    if key == "name":
        found.sort(key=lambda s: s.name)
    elif key == "updated":
        found.sort(key=lambda s: s.updated_at.timestamp() if s.updated_at else 0.0,
                   reverse=newest)
    elif key == "verified":
        # never verified: first when oldest first, last when newest first
        found.sort(key=lambda s: s.verified_date or date.min, reverse=newest)
    return found


@bp.get("/stations")
@staff_page()
def stations():
    lang = current_lang()
    user = current_user()
    f, notes = _list_filters(request.args)
    try:
        per_page = max(5, min(200, int(request.args.get("per_page", PER_PAGE))))
    except ValueError:
        per_page = PER_PAGE
    found = _find(f)
    total = len(found)
    rows, page, pages = paged(found, per_page)

    def page_url(n: int) -> str:
        args = request.args.to_dict(flat=True)
        args["page"] = str(n)
        return f"{request.path}?{urlencode(args)}"

    return render_template(
        "staff/stations.html", rows=rows, f=f, notes=notes, page=page, pages=pages,
        total=total, per_page=per_page, page_url=page_url, sorts=_sort_labels(),
        labels=_labels(lang), local_time=local_time,
        type_label=lambda c: STATION_TYPES[c].label(lang),
        status_label=lambda c: STATUSES[c].label(lang),
        source_label=lambda c: SOURCES[c].label(lang) if c in SOURCES else c,
        can_create=can(user, "station.write"),
        editable=lambda s: can(user, "station.write", s.district_adcode))


def _sort_labels() -> list[tuple[str, str]]:
    return [("id", _("编号", "ID")), ("name", _("名称", "Name")),
            ("-updated", _("最近修改", "Recently changed")),
            ("updated", _("最早修改", "Least recently changed")),
            ("-verified", _("最近核验", "Recently verified")),
            ("verified", _("最久未核验", "Longest unverified"))]


# --------------------------------------------------------------------------- form


def _map_parts(values: dict[str, Any], *, scope: str, zoom: int):
    """The form's map, centred on the station (or the account's district), and the
    marker's position in the map's CRS (None when the coordinates are not valid)."""
    from ...stations.coords import validate_lonlat
    from ..maps import LocatorMap, render_parts

    cfg = current_app.config
    lang = current_lang()
    m = LocatorMap(key="staff-station", location=(0.0, 0.0), zoom=zoom,
                   tiles=cfg["LOCATOR_TILES"], tianditu_key=cfg.get("LOCATOR_TIANDITU_KEY") or "",
                   lang=lang, css_class="staff-map",
                   label=_("站点位置：点击地图或拖动标记", "Station position: tap the map or "
                           "drag the marker"))
    marker = None
    try:
        wlon, wlat = validate_lonlat(values.get("lon"), values.get("lat"),
                                     crs=values.get("crs") or "wgs84")
        marker = list(m.to_map(wlon, wlat))
        centre = marker
    except InvalidInput:
        centre = list(m.to_map(*district_centres().get(scope, XUZHOU)))
    m.location = [centre[1], centre[0]]
    return render_parts(m), marker, m.crs_code


def _render_form(*, st: Station | None, values: dict[str, Any], status: int = 200,
                 errors: dict[str, str] | None = None, form_error: str | None = None,
                 duplicates: list[Any] | None = None, version: int | None = None,
                 notice: str | None = None) -> Response:
    lang = current_lang()
    user = current_user()
    scope = user.scope if user else ""
    parts, marker, map_crs = _map_parts(values, scope=scope, zoom=16 if st else 13)
    deleted = st is not None and get_registry().store.is_deleted(st.id)
    config = {
        "mapKey": "staff-station", "marker": marker, "mapCrs": map_crs, "lang": lang,
        "api": {"district": _url("staff.api_district"), "hours": _url("staff.api_hours"),
                "duplicates": _url("staff.api_duplicates")},
        "exclude": st.id if st else "",
        "strings": _js_strings(),
    }
    if errors and not form_error:
        # a summary at the top: the field messages may be far below the fold on a phone
        names = "、".join(field_label(k, lang) for k in errors) if lang != "en" \
            else ", ".join(field_label(k, lang) for k in errors)
        form_error = _(f"未保存：有 {len(errors)} 处需要修改（{names}），见下方标红的字段。",
                       f"Not saved: {len(errors)} field(s) need fixing ({names}); see the "
                       "marked fields below.")
    hits = [{"message": h.message(lang), "id": h.station_id,
             "edit": can(user, "station.write", getattr(h.station, "district_adcode", None))}
            for h in (duplicates or [])]
    html = render_template(
        "staff/station_form.html", st=st, v=values, errors=errors or {},
        form_error=form_error, duplicates=hits, version=version, map=parts,
        config=config, labels=_labels(lang), deleted=deleted, notice=notice,
        action=_url("staff.station_edit", sid=st.id) if st else _url("staff.station_new"),
        status_actions=[(code, _(zh, en)) for code, zh, en in STATUS_ACTIONS],
        status_label=lambda c: STATUSES[c].label(lang), field_label=field_label,
        url=_url, local_time=local_time, **fix_context(report_fix(st), st))
    resp = Response(html, status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _js_strings() -> dict[str, str]:
    pairs = {
        "autoDistrict": ("根据区县边界自动填写：", "Filled in from the district boundaries: "),
        "noDistrict": ("不在任何已知区县内", "outside every known district"),
        "manualDistrict": ("已手动选择区县（移动标记不再自动修改）",
                           "District chosen by hand (moving the marker no longer changes it)"),
        "coords": ("坐标", "Coordinates"),
        "badCoords": ("坐标无效：", "Invalid coordinates: "),
        "hoursOk": ("解读：", "Reads as: "),
        "openNow": ("此刻", "Right now"),
        "open": ("营业中", "open"), "closed": ("未营业", "closed"), "unknown": ("未知", "unknown"),
        "nextChange": ("下次变化：", "next change: "),
        "dupTitle": ("可能重复：", "Possible duplicates: "),
        "failed": ("暂时无法检查：", "Could not check: "),
    }
    en = current_lang() == "en"
    return {k: (b if en else a) for k, (a, b) in pairs.items()}


def _editable_station(sid: str) -> Station:
    """The station (deleted ones included) if the account may change it; else 403."""
    st = get_registry().store.get(sid, include_deleted=True)
    require(current_user(), "station.write", st.district_adcode)
    return st


def _save(sub: Submission, st: Station | None) -> Response:
    """Create or update from a submission; re-render the form with what went wrong."""
    user = current_user()
    assert user is not None
    lang = current_lang()
    fix = report_fix(st)  # riders' reports this edit resolves, from the review queue
    res = fix_resolution(fix) if fix is not None else None
    try:
        if st is None:
            saved = editor().create(user, sub.data, crs=sub.crs, client=client_address(),
                                    confirm_duplicates=sub.confirm_duplicates,
                                    locate_district=sub.district_auto)
        else:
            saved = editor().update(user, st.id, {**sub.data, **(fix.changes(user) if fix
                                                                  else {})},
                                    expected_version=sub.version,
                                    crs=sub.crs, client=client_address(),
                                    confirm_duplicates=sub.confirm_duplicates,
                                    locate_district=sub.district_auto,
                                    extra_hook=res.hook if res is not None else None)
    except DuplicateSuspected as e:
        return _render_form(st=st, values=sub.values(), status=409, duplicates=e.hits,
                            version=sub.version,
                            form_error=_("附近已有可能重复的站点，请核对。",
                                         "There may already be this station nearby; "
                                         "please check."))
    except Forbidden as e:
        return _render_form(st=st, values=sub.values(), status=403, version=sub.version,
                            errors={"district_adcode": e.message_in(lang)})
    except InvalidInput as e:
        fld, msg = error_message(e, sub.data, lang, crs=sub.crs)
        errors = {fld: msg} if fld in sub.data or fld in ("lon", "lat", "crs") else {}
        return _render_form(st=st, values=sub.values(), status=400, errors=errors,
                            version=sub.version,
                            form_error=None if errors else f"{field_label(fld, lang)}：{msg}")
    except Conflict:
        assert st is not None
        return _conflict(st.id, sub)
    if res is not None:
        return finish_fix(res, saved)
    return redirect(_url("staff.station_edit", sid=saved.id, saved=1), code=303)


@bp.get("/stations/new")
@staff_page("station.write")
def station_new():
    return _render_form(st=None, values=blank_values())


@bp.post("/stations/new")
@staff_page("station.write")
def station_create():
    return _save(read_form(request.form), None)


_NOTICES = {
    "saved": ("已保存。", "Saved."),
    "closed": ("站点已关闭，不再出现在查询结果中。", "The station is closed and no longer "
               "appears in rider results."),
    "temporarily_closed": ("站点已暂停开放。", "The station is marked temporarily closed."),
    "open": ("站点已恢复开放。", "The station is open again."),
    "deleted": ("站点已删除（可以恢复）。", "The station is deleted (it can be restored)."),
    "restored": ("站点已恢复。", "The station is restored."),
    "version": ("已恢复为所选版本（作为新版本保存）。",
                "The chosen version is restored (saved as a new version)."),
    "stale": ("操作未执行：站点已被他人修改，请核对当前内容后再试。",
              "Nothing was done: someone else changed the station meanwhile; check the "
              "current record and try again."),
}


def _notice() -> str | None:
    key = "saved" if request.args.get("saved") else request.args.get("done", "")
    pair = _NOTICES.get(key)
    return _(*pair) if pair else None


@bp.get("/stations/<sid>/edit")
@staff_page("station.write")
def station_edit(sid: str):
    st = _editable_station(sid)
    return _render_form(st=st, values=prefilled(report_fix(st), station_values(st)),
                        version=st.version, notice=_notice())


@bp.post("/stations/<sid>/edit")
@staff_page("station.write")
def station_update(sid: str):
    st = _editable_station(sid)
    if get_registry().store.is_deleted(sid):
        return redirect(_url("staff.station_edit", sid=sid), code=303)
    sub = read_form(request.form)
    if request.form.get("review") == "1":
        # From the conflict screen: your values in the form, on top of the current
        # version, to merge by hand before saving (nothing is saved yet).
        return _render_form(st=st, values=sub.values(), version=st.version, notice=_(
            f"这是你的修改，已基于对方保存的第 {st.version} 版打开：请对照冲突页核对每个字段，"
            "改好后再保存。",
            f"These are your changes, now on top of their version {st.version}: check "
            "each field against the conflict page, then save."))
    return _save(sub, st)


def _conflict(sid: str, sub: Submission) -> Response:
    """Both versions side by side: theirs (stored now) and yours (as submitted)."""
    lang = current_lang()
    current = get_registry().store.get(sid)
    theirs = current.to_dict()
    try:
        st = apply_changes(current, sub.data, crs=sub.crs)
        if sub.district_auto:
            from ...stations.districts import DistrictLookup

            d = DistrictLookup.shipped().lookup(st.lon, st.lat)
            st = st.evolve(district_adcode=d.adcode if d else "",
                           district_name=d.name if d else "")
        mine = st.to_dict()
    except InvalidInput:  # shown as typed
        mine = {**{k: theirs[k] for k in EDITABLE_FIELDS}, **sub.data}
    last = get_registry().store.history(sid, limit=1)
    raw = [(k, v) for k, v in sub.raw if k != "version"]
    html = render_template(
        "staff/conflict.html", st=current, rows=compare(theirs, mine, lang), raw=raw,
        loaded=sub.version, last=last[0] if last else None, local_time=local_time,
        action=_url("staff.station_edit", sid=sid), url=_url)
    resp = Response(html, status=409, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --------------------------------------------------------------------------- status


def _version_arg() -> int | None:
    raw = request.form.get("version", "")
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


@bp.post("/stations/<sid>/status")
@staff_page("station.write")
def station_status(sid: str):
    _editable_station(sid)
    status = request.form.get("status", "")
    if status not in STATUSES:
        raise InvalidInput(_("状态应为：", "status must be one of: ")
                           + "、".join(t.label(current_lang()) for t in STATUSES),
                           field="status")
    try:
        editor().set_status(current_user(), sid, status, expected_version=_version_arg(),
                            client=client_address())
    except Conflict:
        return redirect(_url("staff.station_edit", sid=sid, done="stale"), code=303)
    return redirect(_url("staff.station_edit", sid=sid, done=status), code=303)


@bp.post("/stations/<sid>/delete")
@staff_page("station.write")
def station_delete(sid: str):
    _editable_station(sid)
    try:
        editor().delete(current_user(), sid, expected_version=_version_arg(),
                        client=client_address())
    except Conflict:
        return redirect(_url("staff.station_edit", sid=sid, done="stale"), code=303)
    return redirect(_url("staff.station_edit", sid=sid, done="deleted"), code=303)


@bp.post("/stations/<sid>/restore")
@staff_page("station.write")
def station_restore(sid: str):
    _editable_station(sid)
    try:
        editor().restore(current_user(), sid, client=client_address())
    except Conflict:  # not deleted (restored by someone else meanwhile)
        pass
    return redirect(_url("staff.station_edit", sid=sid, done="restored"), code=303)


# --------------------------------------------------------------------------- history


@bp.get("/stations/<sid>/history")
@staff_page()
def station_history(sid: str):
    lang = current_lang()
    user = current_user()
    store = get_registry().store
    st = store.get(sid, include_deleted=True)
    deleted = store.is_deleted(sid)
    entries = []
    for h in editor().history(sid):
        entries.append({
            "version": h.version, "op": _(*OP_LABELS.get(h.op, (h.op, h.op))), "actor": h.actor,
            "at": local_time(h.at), "batch": h.batch,
            "changes": [{"label": field_label(c.field, lang),
                         "before": display_value(c.field, c.before, lang),
                         "after": display_value(c.field, c.after, lang)}
                        for c in h.changes if c.field != "district_name"],
            "restorable": h.after is not None and h.version != st.version and not deleted,
        })
    html = render_template(
        "staff/station_history.html", st=st, entries=entries, deleted=deleted,
        can_write=can(user, "station.write", st.district_adcode), url=_url,
        notice=_notice())
    return Response(html, mimetype="text/html", headers={"Cache-Control": "no-store"})


@bp.post("/stations/<sid>/restore-version")
@staff_page("station.write")
def station_restore_version(sid: str):
    _editable_station(sid)
    raw = request.form.get("restore", "")
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput(_("请选择要恢复的版本", "choose a version to restore"),
                           field="restore")
    try:
        editor().restore_version(current_user(), sid, int(raw),
                                 expected_version=_version_arg(), client=client_address())
    except Conflict:
        return redirect(_url("staff.station_history", sid=sid, done="stale"), code=303)
    except NotFound:
        raise
    return redirect(_url("staff.station_history", sid=sid, done="version"), code=303)


from . import station_api  # noqa: E402,F401 - registers the JSON helpers on bp

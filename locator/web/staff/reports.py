"""The review queue of riders' reports at ``/staff/reports`` (reviewers and admins, within
their district scope): the stations' reports grouped, on a map, and the actions on them
(under review, dismiss, resolve by closing the station). The "fix" through the station's
edit form is in :mod:`.report_fix`.

The rules are the core's (:class:`locator.upkeep.reports.ReportService`): who may handle
which report, the audit rows, the "reported closed" flag. This module reads the forms,
calls it and :class:`~locator.staff.station_edits.StationEditor`, and renders.

A resolution that changes the station commits together with the change: the report
update runs as the station write's ``extra_hook`` (inside its transaction), and only
after the commit is the flag re-evaluated (:meth:`ReportService.after_review`, which
writes its own station version). When the write changes nothing (the station was already
closed, the form was saved unchanged), no hook runs and the reports are resolved on their
own, linked to the station's current version.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, g, redirect, render_template, request, url_for
from sqlalchemy.engine import Connection

from ...errors import Conflict, InvalidInput, NotFound
from ...geo import haversine_m
from ...staff.roles import can, district_name, in_scope, require, scope_prefix
from ...stations.model import Station
from ...stations.vocab import STATION_TYPES, STATUSES
from ...store.accounts import User
from ...store.upkeep import OPEN_REPORT_STATUSES, REPORT_KINDS, REPORT_STATUSES
from ...upkeep.reports import KIND_LABELS, Report, ReportService
from .. import get_registry
from ..i18n import current_lang
from ..i18n import gettext as _
from ..upkeep_service import get_reports
from .auth import client_address, current_user, editor
from .pages import bp, paged, staff_page
from .station_form import district_centres, field_label, local_time

#: Station groups per page of the queue.
PER_PAGE = 20
#: Versions shown inline under each station (the full history is one link away).
HISTORY_INLINE = 3
#: The status filter: "open" (new and under review, the default), one status, or all.
STATUS_FILTERS = ("open", *REPORT_STATUSES, "all")
#: How the queue's actions close a station: action -> station status.
CLOSE_ACTIONS = {"close_temporary": "temporarily_closed", "close": "closed"}
ACTIONS = ("under_review", "dismiss", *CLOSE_ACTIONS)
#: The hidden field (repeated) carrying the report references through the edit form.
REF_FIELD = "report_ref"
MAX_REFS = 200
#: Colour of a corrected position on the map.
CORRECTION_COLOR = "#c92a2a"
_STATUS_NAMES = {
    "open": ("待处理（新的和核实中）", "Open (new and under review)"),
    "new": ("新的", "New"), "under_review": ("核实中", "Under review"),
    "resolved": ("已处理", "Resolved"), "dismissed": ("已驳回", "Dismissed"),
    "all": ("全部", "All"),
}
_DONE = {
    "under_review": ("%s 条反馈已标记为“核实中”。", "%s report(s) marked under review."),
    "dismiss": ("%s 条反馈已驳回。", "%s report(s) dismissed."),
    "close_temporary": ("站点已暂停开放，%s 条反馈已处理。",
                        "The station is marked temporarily closed; %s report(s) resolved."),
    "close": ("站点已关闭，%s 条反馈已处理。",
              "The station is closed; %s report(s) resolved."),
    "fixed": ("站点已保存，%s 条反馈已处理。", "The station is saved; %s report(s) resolved."),
}


def _lang_args() -> dict[str, str]:
    return {"lang": "en"} if current_lang() == "en" else {}


def lang_url(endpoint: str, **kw: Any) -> str:
    return url_for(endpoint, **{**kw, **_lang_args()})


def logged_in() -> User:
    user = current_user()
    assert user is not None  # staff_page let the request through
    return user


# --------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class QueueFilters:
    status: str = "open"
    kind: str = ""

    @property
    def statuses(self) -> tuple[str, ...]:
        if self.status == "open":
            return OPEN_REPORT_STATUSES
        if self.status == "all":
            return REPORT_STATUSES
        return (self.status,)

    def query(self) -> dict[str, str]:
        out = {}
        if self.status != "open":
            out["status"] = self.status
        if self.kind:
            out["kind"] = self.kind
        return out


def queue_filters(args: Any) -> QueueFilters:
    """The queue's filters from a query string or form; a bad value is refused (400)
    naming the field and the valid values."""
    status = (args.get("status") or "open").strip()[:20]
    kind = (args.get("kind") or "").strip()[:20]
    if status not in STATUS_FILTERS:
        raise InvalidInput(_(f"状态“{status}”无效；可选：{'、'.join(STATUS_FILTERS)}",
                             f"status {status!r} is not valid; use one of "
                             f"{', '.join(STATUS_FILTERS)}"), field="status")
    if kind and kind not in REPORT_KINDS:
        raise InvalidInput(_(f"反馈类型“{kind}”无效；可选：{'、'.join(REPORT_KINDS)}",
                             f"kind {kind!r} is not valid; use one of "
                             f"{', '.join(REPORT_KINDS)}"), field="kind")
    return QueueFilters(status, kind)


# --------------------------------------------------------------------------- the queue


def _kind_name(kind: str) -> str:
    return _(*KIND_LABELS[kind])


def _report_row(r: Report, st: Station | None, lang: str) -> dict[str, Any]:
    dist = None
    if st is not None and r.lon is not None and r.lat is not None:
        dist = haversine_m(st.lon, st.lat, r.lon, r.lat)
    return {"r": r, "kind": r.kind_label(lang), "status": _(*_STATUS_NAMES[r.status]),
            "public_status": r.status_label(lang), "created": local_time(r.created_at),
            "updated": local_time(r.updated_at), "distance_m": dist}


def _history(sid: str, lang: str) -> list[dict[str, Any]]:
    from .stations import OP_LABELS

    try:
        entries = editor().history(sid, limit=HISTORY_INLINE)
    except NotFound:
        return []
    out = []
    for h in entries:
        fields = [] if h.op == "create" else [
            field_label(c.field, lang) for c in h.changes if c.field != "district_name"]
        if h.op == "update" and not h.changes and h.after is not None:
            # a version that changed no editable field: the "reported closed" flag
            fields = [_("设置“被反馈关闭”标记", "“reported closed” flag set")
                      if h.after.get("reported_closed_at")
                      else _("清除“被反馈关闭”标记", "“reported closed” flag cleared")]
        out.append({"version": h.version, "op": _(*OP_LABELS.get(h.op, (h.op, h.op))),
                    "actor": h.actor, "at": local_time(h.at),
                    "fields": (", " if lang == "en" else "、").join(fields)})
    return out


def _groups(user: User, f: QueueFilters, lang: str) -> list[dict[str, Any]]:
    """The queue's station groups (all pages), filtered by kind."""
    store = get_registry().store
    out = []
    for grp in get_reports().queue(user, statuses=f.statuses):
        reps = [r for r in grp.reports if not f.kind or r.kind == f.kind]
        if not reps:
            continue
        st = grp.station
        deleted = st is None
        if st is None:
            try:
                st_any: Station | None = store.get(grp.station_id, include_deleted=True)
            except NotFound:
                st_any = None
        else:
            st_any = st
        counts: dict[str, int] = {}
        for r in reps:
            counts[r.kind] = counts.get(r.kind, 0) + 1
        writable = st is not None and can(user, "station.write", st.district_adcode)
        open_refs = [r.ref for r in reps if r.is_open]
        out.append({
            "sid": grp.station_id, "st": st_any, "deleted": deleted,
            "type": STATION_TYPES[st_any.type].label(lang) if st_any else "",
            "district": district_name(st_any.district_adcode, lang)
            if st_any and st_any.district_adcode else _("未归属区县", "no district"),
            "status": STATUSES[st_any.status].label(lang) if st_any else "",
            "flagged": bool(st_any and st_any.reported_closed_at is not None),
            "counts": [(k, _kind_name(k), counts[k]) for k in REPORT_KINDS if k in counts],
            "reports": [_report_row(r, st_any, lang) for r in reps],
            "open_refs": open_refs, "writable": writable,
            "fix_url": lang_url("staff.station_edit", sid=grp.station_id,
                            **{REF_FIELD: open_refs}) if writable and open_refs else None,
        })
    return out


def _map(groups: Sequence[dict[str, Any]], user: User) -> tuple[Any, dict[str, Any]]:
    """The queue's map (Leaflet, served by the app) and the points the page script
    draws on it, in the map's CRS: each station and its reports' corrected positions."""
    from ..maps import TYPE_COLORS, LocatorMap, render_parts
    from .stations import XUZHOU

    cfg = current_app.config
    lang = current_lang()
    m = LocatorMap(key="staff-reports", location=(0.0, 0.0), zoom=12,
                   tiles=cfg["LOCATOR_TILES"], tianditu_key=cfg.get("LOCATOR_TIANDITU_KEY") or "",
                   lang=lang, css_class="reports-map",
                   label=_("反馈的站点及纠正后的位置", "Reported stations and corrected positions"))
    points = []
    for grp in groups:
        st = grp["st"]
        if st is None:
            continue
        lon, lat = m.to_map(st.lon, st.lat)
        fixes = []
        for row in grp["reports"]:
            r = row["r"]
            if r.lon is not None and r.lat is not None:
                flon, flat = m.to_map(r.lon, r.lat)
                fixes.append({"ref": r.ref, "lon": flon, "lat": flat,
                              "label": _(f"{r.ref} 纠正位置", f"{r.ref} corrected position")})
        points.append({"sid": grp["sid"], "label": st.name, "lon": lon, "lat": lat,
                       "color": TYPE_COLORS.get(st.type, "#495057"), "fixes": fixes})
    centre = m.to_map(*district_centres().get(user.scope, XUZHOU))
    m.location = [centre[1], centre[0]]
    return render_parts(m), {"mapKey": "staff-reports", "points": points,
                             "fixColor": CORRECTION_COLOR}


def _queue_page(*, error: str | None = None, status: int = 200,
                f: QueueFilters | None = None) -> Response:
    user = logged_in()
    lang = current_lang()
    if f is None:
        try:
            f = queue_filters(request.args)
        except InvalidInput as e:
            f, error, status = QueueFilters(), str(e), 400
    groups = _groups(user, f, lang)
    shown, page, pages = paged(groups, PER_PAGE)
    for grp in shown:
        grp["history"] = _history(grp["sid"], lang)
    parts, map_config = _map(shown, user)
    notice = None
    done = request.args.get("done", "")
    if done in _DONE and error is None:
        n = request.args.get("n", "")
        notice = _(*_DONE[done]) % (n if n.isdigit() and len(n) < 5 else "",)

    def page_url(n: int) -> str:
        return lang_url("staff.reports", page=n, **f.query())

    html = render_template(
        "staff/reports.html", groups=shown, total=len(groups),
        reports_total=sum(len(grp["reports"]) for grp in groups), f=f, page=page,
        pages=pages, page_url=page_url, error=error, notice=notice, map=parts,
        map_config=map_config, url=lang_url, ref_field=REF_FIELD,
        done_sid=request.args.get("sid", "")[:64],
        status_filters=[(s, _(*_STATUS_NAMES[s])) for s in STATUS_FILTERS],
        kinds=[(k, _kind_name(k)) for k in REPORT_KINDS],
        scope=district_name(user.scope, lang) if user.scope else _("全国", "national"),
        can_close=lambda grp: grp["writable"] and grp["open_refs"])
    resp = Response(html, status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/reports")
@staff_page("report.handle")
def reports():
    return _queue_page()


# --------------------------------------------------------------------------- actions


def chosen_refs(values: Any) -> list[str]:
    refs = [r.strip()[:20] for r in values.getlist(REF_FIELD) if r.strip()]
    if not refs:
        raise InvalidInput(_("请至少选择一条反馈", "choose at least one report"),
                           field=REF_FIELD)
    if len(refs) > MAX_REFS:
        raise InvalidInput(_(f"一次最多处理 {MAX_REFS} 条反馈", f"at most {MAX_REFS} reports "
                             "at a time"), field=REF_FIELD)
    return list(dict.fromkeys(refs))


def station_reports(svc: ReportService, sid: str, refs: Iterable[str]) -> list[Report]:
    """The reports ``refs``, which must all be about station ``sid`` (else 400)."""
    out = []
    for ref in refs:
        r = svc.get(ref)
        if r.station_id != sid:
            raise InvalidInput(_(f"反馈 {r.ref} 不是关于站点 {sid} 的",
                                 f"report {r.ref} is not about station {sid}"),
                               field=REF_FIELD)
        out.append(r)
    return out


class Resolution:
    """Resolving reports together with the station write that fixes them.

    Pass :meth:`hook` as the write's ``extra_hook``; after the write returns, call
    :meth:`finish` with the stored station.
    """

    def __init__(self, svc: ReportService, user: User, refs: Sequence[str], *,
                 resolution: str | None, client: str | None):
        self.svc, self.user, self.refs = svc, user, list(refs)
        self.resolution, self.client = resolution, client
        self.done: list[Report] | None = None

    def hook(self, conn: Connection, stored: list[Station]) -> None:
        self.done = self.svc.review(self.user, self.refs, "resolved",
                                    resolution=self.resolution,
                                    station_version=stored[0].version, client=self.client,
                                    conn=conn)

    def finish(self, saved: Station) -> list[Report]:
        """After the commit: re-evaluate the flag; when the write changed nothing (no hook
        ran), resolve the reports now, linked to the station's current version."""
        if self.done is None:
            self.done = self.svc.review(self.user, self.refs, "resolved",
                                        resolution=self.resolution,
                                        station_version=saved.version, client=self.client)
        else:
            self.svc.after_review(self.done)
        return self.done


def form_text(name: str) -> str | None:
    v = (request.form.get(name) or "").strip()
    return v[:2000] or None


@bp.post("/reports/action")
@staff_page("report.handle")
def reports_action():
    user = logged_in()
    form = request.form
    try:
        f = queue_filters(form)
    except InvalidInput:
        f = QueueFilters()
    action = form.get("action", "")
    sid = (form.get("station") or "").strip()[:64]
    svc = get_reports()
    try:
        if action not in ACTIONS:
            raise InvalidInput(_(f"操作“{action[:20]}”无效；可选：{'、'.join(ACTIONS)}",
                                 f"action {action[:20]!r} is not valid; use one of "
                                 f"{', '.join(ACTIONS)}"), field="action")
        st = get_registry().store.get(sid, include_deleted=True)
        require(user, "report.handle", st.district_adcode)
        reps = station_reports(svc, sid, chosen_refs(form))
        handled = [r.ref for r in reps if not r.is_open]
        if handled:  # a stale page: someone else handled them meanwhile
            return _queue_page(f=f, status=409, error=_(
                f"未执行：反馈 {'、'.join(handled)} 已被处理，请核对后再试。",
                f"Nothing was done: report(s) {', '.join(handled)} were handled "
                "meanwhile; check and try again."))
        refs = [r.ref for r in reps]
        if action == "under_review":
            done = svc.review(user, refs, "under_review", client=client_address())
        elif action == "dismiss":
            reason = form_text("reason")
            if not reason:
                raise InvalidInput(_("驳回需要填写简短理由（会显示给反馈人）",
                                     "dismissing needs a short reason (the reporter sees it)"),
                                   field="reason")
            done = svc.review(user, refs, "dismissed", resolution=reason,
                              client=client_address())
        else:
            res = Resolution(svc, user, refs, resolution=form_text("resolution"),
                             client=client_address())
            version = form.get("version", "")
            saved = editor().set_status(
                user, sid, CLOSE_ACTIONS[action],
                expected_version=int(version) if version.isdigit() and len(version) < 10
                else None, client=client_address(), extra_hook=res.hook)
            done = res.finish(saved)
    except Conflict:
        return _queue_page(f=f, status=409, error=_(
            "未执行：站点已被他人修改，请核对后再试。",
            "Nothing was done: someone else changed the station meanwhile; check it and "
            "try again."))
    except (InvalidInput, NotFound) as e:
        from .admin import _msg

        return _queue_page(f=f, status=404 if isinstance(e, NotFound) else 400,
                           error=_msg(e))
    return redirect(lang_url("staff.reports", done=action, n=len(done), sid=sid,
                             **f.query()), code=303)


# --------------------------------------------------------------------------- the nav


def open_in_scope() -> int:
    """Open reports on stations inside the logged-in account's scope (for the nav); one
    grouped count, plus one station lookup for a district-scoped account."""
    if "staff_open_reports" in g:
        return int(g.staff_open_reports)
    user = g.get("staff_user")
    n = 0
    if can(user, "report.handle"):
        counts = get_reports().open_counts()
        if not scope_prefix(user.scope):
            n = sum(counts.values())
        elif counts:
            stations = get_registry().store.get_many(counts)
            n = sum(c for sid, c in counts.items() if sid in stations
                    and in_scope(user.scope, stations[sid][0].district_adcode))
    g.staff_open_reports = n
    return n


@bp.app_context_processor
def _reports_context() -> dict[str, Any]:
    if not request.path.startswith("/staff"):
        return {}
    return {"staff_open_reports": open_in_scope}

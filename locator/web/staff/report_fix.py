"""The "fix" of riders' reports: the station's staff edit form, opened from the review
queue prefilled with what the reports suggest (a corrected position, an amenity removed,
hours to re-check, a closed status), carrying the reports' references in hidden
``report_ref`` fields; saving it resolves them in the same transaction as the station
write (:class:`.reports.Resolution`) and counts as a verification (today, Beijing time,
by the reviewer). The views in :mod:`.stations` call the functions here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import g, redirect, request

from ...errors import InvalidInput
from ...staff.roles import require
from ...stations.model import Station
from ...stations.vocab import AMENITIES, STATUSES
from ...store.accounts import User
from ...time_util import local_today
from ...upkeep.reports import Report
from ..i18n import current_lang
from ..i18n import gettext as _
from ..upkeep_service import get_reports
from .auth import client_address
from .reports import (
    REF_FIELD,
    Resolution,
    chosen_refs,
    form_text,
    lang_url,
    logged_in,
    station_reports,
)
from .station_form import local_time


@dataclass
class ReportFix:
    """The open reports an edit of station ``sid`` is fixing (from the hidden
    ``report_ref`` fields of the edit form, or the queue's link to it)."""

    sid: str
    reports: list[Report]
    prefill: dict[str, Any] = field(default_factory=dict)

    @property
    def refs(self) -> list[str]:
        return [r.ref for r in self.reports]

    def notes(self, lang: str) -> list[dict[str, Any]]:
        return [{"ref": r.ref, "kind": r.kind_label(lang), "note": r.note,
                 "created": local_time(r.created_at),
                 "position": (r.lon, r.lat) if r.lon is not None else None}
                for r in self.reports]

    def status(self, st: Station) -> str:
        """The status the form shows: as posted, else as the reports suggest."""
        posted = request.form.get("status") if request.method == "POST" else None
        return posted or self.prefill.get("status") or st.status

    def changes(self, user: User) -> dict[str, Any]:
        """Fields the saved form adds to the edit: the status chosen in the fix panel
        and, since checking the reports counts as a verification, who verified it."""
        status = request.form.get("status", "")
        if status not in STATUSES:
            raise InvalidInput(_("状态应为：", "status must be one of: ")
                               + "、".join(t.label(current_lang()) for t in STATUSES),
                               field="status")
        return {"status": status, "verified_by": user.actor}


def report_fix(st: Station | None) -> ReportFix | None:
    """The reports this request's edit form fixes (None when it carries none, or none
    of them is still open). The account must be able to handle the station's reports
    (else 403); a reference of another station's report is refused (400)."""
    if st is None or not request.values.getlist(REF_FIELD):
        return None
    cached = g.get("staff_report_fix")
    if cached is not None and cached.sid == st.id:
        return cached
    user = logged_in()
    require(user, "report.handle", st.district_adcode)
    svc = get_reports()
    reps = [r for r in station_reports(svc, st.id, chosen_refs(request.values)) if r.is_open]
    if not reps:
        return None
    fix = ReportFix(st.id, reps, svc.prefill(reps, st))
    g.staff_report_fix = fix
    return fix


def prefilled(fix: ReportFix | None, values: dict[str, Any]) -> dict[str, Any]:
    """The edit form's values with the reports' suggested change applied, and today
    (Beijing time) as the verification date."""
    if fix is None:
        return values
    out = dict(values)
    p = fix.prefill
    if "lon" in p:
        out["lon"], out["lat"], out["crs"] = repr(p["lon"]), repr(p["lat"]), "wgs84"
    if "amenities" in p:
        out["amenities"] = set(p["amenities"])
    if "opening_hours" in p:
        out["opening_hours"] = p["opening_hours"]
    out["verified_date"] = local_today().isoformat()
    return out


def fix_context(fix: ReportFix | None, st: Station | None) -> dict[str, Any]:
    """What the edit form's template shows about the reports being fixed."""
    if fix is None or st is None:
        return {"report_fix": None}
    lang = current_lang()
    hints = []
    if "lon" in fix.prefill:
        hints.append(_("位置已改为骑手纠正的位置，请在地图上核对。",
                       "The position is set to the one riders gave; check it on the map."))
    if "amenities" in fix.prefill:
        gone = sorted(set(st.amenities) - set(fix.prefill["amenities"]))
        sep = ", " if lang == "en" else "、"
        hints.append(_("已去掉骑手反馈缺失或损坏的设施：", "Amenities riders report missing or "
                       "broken are unticked: ") + sep.join(AMENITIES[a].label(lang)
                                                        for a in gone))
    if "opening_hours" in fix.prefill:
        hints.append(_("骑手反馈开放时间不对，请核实并改正。",
                       "Riders say the opening hours are wrong; check and correct them."))
    if "status" in fix.prefill:
        hints.append(_("骑手反馈站点锁门或关闭：状态已预选为“暂停开放”，核实后可改。",
                       "Riders report the station locked or closed: the status is preset "
                       "to temporarily closed; change it if that is not so."))
    return {"report_fix": {
        "refs": fix.refs, "reports": fix.notes(lang), "hints": hints,
        "status": fix.status(st), "resolution": request.form.get("resolution", "")[:500],
        "statuses": [(t.code, t.label(lang)) for t in STATUSES], "field": REF_FIELD,
        "queue": lang_url("staff.reports"),
    }}


def fix_resolution(fix: ReportFix) -> Resolution:
    """How the saved edit resolves the reports (its ``hook`` goes to the write)."""
    return Resolution(get_reports(), logged_in(), fix.refs, resolution=form_text("resolution"),
                      client=client_address())


def finish_fix(res: Resolution, saved: Station) -> Any:
    """After the edit is saved: resolve (if the write did not), re-evaluate the flag and
    go back to the queue."""
    done = res.finish(saved)
    return redirect(lang_url("staff.reports", done="fixed", n=len(done), sid=saved.id),
                    code=303)

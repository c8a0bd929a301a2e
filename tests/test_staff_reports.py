"""The review queue of riders' reports (``/staff/reports``) through the Flask test client:
who sees which station's reports, grouping and filters, each action's effect on the
stored reports, the station and the audit log, and the "fix" that opens the station's
edit form prefilled from a report and resolves the reports when it is saved.

Riders report through the public API (``POST /api/v1/reports``) from distinct client
addresses. Every test runs on SQLite and on PostgreSQL.

Tiny sample set: T01, T02 (open) and T06 (closed) are in Gulou (320302), T04 and T07 in
Yunlong (320303).
"""

from __future__ import annotations

import html as htmllib
import re
from datetime import datetime

import pytest
import sqlalchemy as sa
from staff_support import FAST, PW, StaffClient

from locator.store.accounts import AUDIT
from locator.store.upkeep import REPORTS
from locator.time_util import local_today, zone
from locator.web import create_app

USERS = (("admin1", "admin", ""), ("rev_gl", "reviewer", "320302"),
         ("rev_yun", "reviewer", "320303"), ("ed", "editor", "320300"),
         ("look", "viewer", "320300"))
GROUPS = re.compile(r'<section class="report-group" id="group-([^"]+)"')
#: A position 107 m from T04 (117.2000, 34.2700), still in Yunlong, WGS-84.
MOVED = (117.201, 34.2705)


class Site:
    """An app over a fresh database of the tiny sample set, with the accounts above."""

    def __init__(self, url: str, stations) -> None:
        from locator import Registry, StationStore

        self.store = StationStore(url, create=True)
        self.store.add_many(stations, actor="pytest")
        self.registry = Registry(self.store)
        self.app = create_app({"LOCATOR_REGISTRY": self.registry, "LOCATOR_RATE_LIMIT": 0,
                               "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})
        svc = self.app.extensions["locator.accounts"]
        svc.hasher = FAST
        for name, role, scope in USERS:
            svc.add_user(name, PW, role=role, scope=scope, actor="pytest")
        self.public = self.app.test_client()

    def report(self, sid: str, kind: str, client: str, **extra) -> str:
        """A rider's report through the public API; returns its reference."""
        r = self.public.post("/api/v1/reports", json={"station_id": sid, "kind": kind,
                                                      **extra},
                             environ_base={"REMOTE_ADDR": client})
        assert r.status_code == 201, r.get_json()
        return r.get_json()["ref"]

    def rows(self, *refs: str) -> dict[str, dict]:
        with self.store.engine.connect() as conn:
            q = sa.select(REPORTS).where(REPORTS.c.ref.in_(refs))
            return {r["ref"]: dict(r) for r in conn.execute(q).mappings()}

    def audit(self, action: str) -> list[dict]:
        with self.store.engine.connect() as conn:
            q = sa.select(AUDIT).where(AUDIT.c.action == action).order_by(AUDIT.c.id)
            return [dict(r) for r in conn.execute(q).mappings()]

    def staff(self, name: str) -> Staff:
        return Staff(self.app, name)


class Staff(StaffClient):
    """A logged-in staff test client (tests/staff_support.py) that acts on reports."""

    def act(self, sid: str, action: str, refs, **extra):
        return self.post("/staff/reports/action", [("station", sid), ("action", action),
                                                   *(("report_ref", r) for r in refs),
                                                   *extra.items()])


@pytest.fixture()
def site(db_url, tiny_stations):
    """On SQLite and PostgreSQL (tests/conftest.py, ``BOTH_BACKENDS``)."""
    s = Site(db_url, tiny_stations)
    yield s
    s.store.dispose()


def _group(page: str, sid: str) -> str:
    start = page.index(f'<section class="report-group" id="group-{sid}"')
    return page[start:page.index("</section>", start)]


def _beijing(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(zone()).strftime("%Y-%m-%d %H:%M")


# --------------------------------------------------------------------------- who sees what


def test_queue_is_for_reviewers_within_their_district(site):
    gl = site.report("T01", "locked", "10.0.0.1")
    yun = site.report("T04", "other", "10.0.0.2", note="门口堆满杂物")
    admin = site.staff("admin1")
    assert sorted(GROUPS.findall(admin.text("/staff/reports"))) == ["T01", "T04"]
    rev_gl = site.staff("rev_gl")
    page = rev_gl.text("/staff/reports")
    assert GROUPS.findall(page) == ["T01"]
    assert gl in page and yun not in page
    # the nav names the queue with the open reports in the reviewer's scope
    nav = rev_gl.text("/staff/stations")
    assert re.search(r'id="nav-reports">群众反馈<span class="nav-count"[^>]*>（1）</span>', nav)
    assert GROUPS.findall(site.staff("rev_yun").text("/staff/reports")) == ["T04"]

    # editors and viewers: 403, in the page's language, and no nav link
    ed = site.staff("ed")
    r = ed.get("/staff/reports")
    assert r.status_code == 403
    assert "处理群众反馈" in r.get_data(as_text=True) and "reviewer" in r.get_data(as_text=True)
    r = ed.get("/staff/reports?lang=en")
    assert r.status_code == 403 and "cannot handle rider reports" in r.get_data(as_text=True)
    assert 'id="nav-reports"' not in ed.text("/staff/stations")
    assert site.staff("look").get("/staff/reports").status_code == 403
    r = ed.act("T04", "under_review", [yun])
    assert r.status_code == 403

    # a reviewer of another district: 403 on the station's actions and its fix form
    r = rev_gl.act("T04", "under_review", [yun])
    assert r.status_code == 403 and "320303" in r.get_data(as_text=True)
    r = rev_gl.act("T04", "dismiss", [yun], reason="看过了")
    assert r.status_code == 403
    r = rev_gl.get(f"/staff/stations/T04/edit?report_ref={yun}")
    assert r.status_code == 403
    assert site.rows(yun)[yun]["status"] == "new" and site.rows(yun)[yun]["handled_by"] is None
    assert site.audit("report.under_review") == [] and site.audit("report.dismissed") == []


def test_groups_counts_and_filters(site):
    a = site.report("T01", "locked", "10.0.0.1", note="<script>alert(1)</script>锁着")
    b = site.report("T01", "locked", "10.0.0.2")
    c = site.report("T01", "amenity", "10.0.0.3", amenity="drinking_water")
    d = site.report("T02", "wrong_hours", "10.0.0.4")
    rev = site.staff("rev_gl")
    page = rev.text("/staff/reports")
    assert GROUPS.findall(page) == ["T01", "T02"]  # the most open reports first
    assert "2 个站点，4 条反馈" in page
    g1 = _group(page, "T01")
    assert "测试驿站一号" in g1 and "户外劳动者服务站点" in g1 and "鼓楼区" in g1
    assert "示例数据" in g1  # the tiny set is sample data, and says so
    assert re.search(r'data-kind="locked">[^<]*× 2<', g1)
    assert re.search(r'data-kind="amenity">[^<]*× 1<', g1)
    assert "设施缺失或损坏：饮用水" in g1
    # the rider's note is text, never markup
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;锁着" in g1
    # created time in Beijing time
    created = site.public.get(f"/api/v1/reports/{a}").get_json()["created_at"]
    assert f"<time>{_beijing(created)}</time>" in g1
    assert 'href="/staff/stations/T01/history"' in g1
    assert re.search(r'<li data-version="1"><strong>第 1 版</strong> · 新建 · pytest', g1)
    fix = htmllib.unescape(re.search(r'href="([^"]+)" class="fix-link"', g1)[1])
    assert fix.startswith("/staff/stations/T01/edit?")
    assert sorted(re.findall(r"report_ref=(R\w+)", fix)) == sorted([a, b, c])

    # by kind: only the matching reports, and only their stations
    page = rev.text("/staff/reports?kind=amenity")
    assert GROUPS.findall(page) == ["T01"]
    g1 = _group(page, "T01")
    assert c in g1 and a not in g1 and b not in g1
    # by status: a dismissed report leaves the default (open) view
    r = rev.act("T02", "dismiss", [d], reason="开放时间已核对，无误")
    assert r.status_code == 303
    assert GROUPS.findall(rev.text("/staff/reports")) == ["T01"]
    page = rev.text("/staff/reports?status=dismissed")
    assert GROUPS.findall(page) == ["T02"] and "开放时间已核对，无误" in page
    assert sorted(GROUPS.findall(rev.text("/staff/reports?status=all"))) == ["T01", "T02"]
    assert GROUPS.findall(rev.text("/staff/reports?status=resolved")) == []
    # bad filters: 400 naming the field, in the page's language
    r = rev.get("/staff/reports?status=bogus")
    assert r.status_code == 400 and "状态" in r.get_data(as_text=True)
    r = rev.get("/staff/reports?kind=bogus&lang=en")
    assert r.status_code == 400 and "kind 'bogus' is not valid" in htmllib.unescape(
        r.get_data(as_text=True))
    en = rev.text("/staff/reports?lang=en")
    assert "Rider reports" in en and "amenity missing or broken: Drinking water" in en


# --------------------------------------------------------------------------- actions


def test_under_review_and_dismiss(site):
    a = site.report("T01", "locked", "10.0.0.1")
    b = site.report("T01", "other", "10.0.0.2", note="门口有积水")
    rev = site.staff("rev_gl")
    r = rev.act("T01", "under_review", [a])
    assert r.status_code == 303 and "done=under_review" in r.headers["Location"]
    rows = site.rows(a, b)
    assert rows[a]["status"] == "under_review" and rows[a]["handled_by"] == "rev_gl"
    assert rows[b]["status"] == "new"
    [audit] = site.audit("report.under_review")
    assert audit["actor"] == "rev_gl" and audit["target"] == f"report:{a}"
    assert "1 条反馈已标记为“核实中”" in rev.text(r.headers["Location"])

    # dismissing needs a reason; without one nothing changes
    r = rev.act("T01", "dismiss", [a, b])
    assert r.status_code == 400 and "驳回需要填写简短理由" in r.get_data(as_text=True)
    assert site.rows(a)[a]["status"] == "under_review" and site.audit("report.dismissed") == []
    r = rev.act("T01", "dismiss", [a, b], reason="现场核实：站点正常开放")
    assert r.status_code == 303
    rows = site.rows(a, b)
    assert {rows[a]["status"], rows[b]["status"]} == {"dismissed"}
    assert rows[a]["resolution"] == "现场核实：站点正常开放"
    assert rows[a]["station_version"] is None
    assert sorted(e["target"] for e in site.audit("report.dismissed")) == sorted(
        [f"report:{a}", f"report:{b}"])
    # a stale page cannot handle them again
    r = rev.act("T01", "under_review", [a])
    assert r.status_code == 409 and f"反馈 {a} 已被处理" in r.get_data(as_text=True)
    assert site.rows(a)[a]["status"] == "dismissed"
    # the reporter's status link says so
    body = site.public.get(f"/api/v1/reports/{a}").get_json()
    assert body["status"] == "dismissed" and body["resolution"] == "现场核实：站点正常开放"
    # refs of another station, unknown refs, unknown actions: 4xx naming them
    c = site.report("T02", "locked", "10.0.0.3")
    r = rev.act("T01", "under_review", [c])
    assert r.status_code == 400 and f"反馈 {c} 不是关于站点 T01 的" in r.get_data(as_text=True)
    assert rev.act("T01", "under_review", ["RNOSUCH00"]).status_code == 404
    assert rev.act("T01", "under_review", []).status_code == 400
    r = rev.act("T01", "explode", [c])
    assert r.status_code == 400 and "explode" in r.get_data(as_text=True)
    assert site.rows(c)[c]["status"] == "new"
    # without the CSRF token: refused
    r = rev.client.post("/staff/reports/action", data={"station": "T02", "action":
                                                       "under_review", "report_ref": c})
    assert r.status_code == 403 and site.rows(c)[c]["status"] == "new"


def test_resolving_by_closing_the_station(site):
    refs = [site.report("T01", "locked", f"10.0.1.{i}") for i in range(3)]
    st = site.store.get("T01")
    assert st.reported_closed_at is not None  # three riders: "reported closed"
    near = site.public.get("/api/v1/nearest?lon=117.1850&lat=34.2615&k=3").get_json()
    assert any(x["id"] == "T01" and x["reported_closed"] for x in near["results"])
    rev = site.staff("rev_gl")
    page = rev.text("/staff/reports")
    assert 'data-flag="reported-closed"' in _group(page, "T01")

    # a stale version: nothing is done
    r = rev.act("T01", "close", refs, version=str(st.version - 1))
    assert r.status_code == 409 and "已被他人修改" in r.get_data(as_text=True)
    assert site.store.get("T01").status == "open"
    assert {x["status"] for x in site.rows(*refs).values()} == {"new"}

    r = rev.act("T01", "close", refs, version=str(st.version), resolution="站点已撤销")
    assert r.status_code == 303, r.get_data(as_text=True)
    closed_version = st.version + 1
    rows = site.rows(*refs)
    for ref in refs:
        assert rows[ref]["status"] == "resolved" and rows[ref]["handled_by"] == "rev_gl"
        assert rows[ref]["station_version"] == closed_version
        assert rows[ref]["resolution"] == "站点已撤销"
    hist = {h["version"]: h for h in site.store.history("T01")}
    assert hist[closed_version]["actor"] == "rev_gl"
    assert hist[closed_version]["after"]["status"] == "closed"
    # the resolution and the station write are audited, linked to that version
    resolved = site.audit("report.resolved")
    assert sorted(e["target"] for e in resolved) == sorted(f"report:{x}" for x in refs)
    assert all(f'"station_version": {closed_version}' in e["detail"] for e in resolved)
    [status] = site.audit("station.status")
    assert status["actor"] == "rev_gl" and f'"version": {closed_version}' in status["detail"]
    # the flag is re-evaluated after the review: cleared
    now = site.store.get("T01")
    assert now.status == "closed" and now.reported_closed_at is None
    assert now.version == closed_version + 1
    near = site.public.get("/api/v1/nearest?lon=117.1850&lat=34.2615&k=3").get_json()
    assert "T01" not in [x["id"] for x in near["results"]]
    assert site.public.get(f"/api/v1/reports/{refs[0]}").get_json()["status"] == "resolved"
    assert "已处理" in site.public.get(f"/reports/{refs[0]}").get_data(as_text=True)
    assert GROUPS.findall(rev.text("/staff/reports")) == []


def test_the_station_write_and_the_resolution_commit_together(site, monkeypatch):
    from locator.upkeep.reports import ReportInvalid

    ref = site.report("T02", "locked", "10.0.2.1")
    rev = site.staff("rev_gl")
    rev.text("/staff/reports")  # the app's report service exists from here on
    svc = site.app.extensions["locator.reports"]

    def refuse(*args, **kwargs):
        raise ReportInvalid("拒绝", "refused", field="resolution")

    monkeypatch.setattr(svc, "_review", refuse)
    version = site.store.get("T02").version
    r = rev.act("T02", "close_temporary", [ref], version=str(version))
    assert r.status_code == 400 and "拒绝" in r.get_data(as_text=True)
    # the hook failed inside the station write's transaction: neither was stored
    assert site.store.get("T02").status == "open"
    assert site.store.get("T02").version == version
    assert site.audit("station.status") == []
    assert site.rows(ref)[ref]["status"] == "new"


def test_closing_a_station_that_is_already_closed_still_resolves(site):
    ref = site.report("T01", "locked", "10.0.3.1")
    rev = site.staff("rev_gl")
    rev.act("T01", "close_temporary", [ref], version="1")
    ref2 = site.report("T01", "locked", "10.0.3.2")  # still reported meanwhile
    v = site.store.get("T01").version
    r = rev.act("T01", "close_temporary", [ref2], version=str(v))
    assert r.status_code == 303
    row = site.rows(ref2)[ref2]
    assert row["status"] == "resolved" and row["station_version"] == v
    assert len(site.audit("station.status")) == 1  # no second, empty version


# --------------------------------------------------------------------------- the fix


def _form_fields(page: str) -> list[tuple[str, str]]:
    """The station form's fields as the browser would send them (text inputs, hidden
    inputs, selected options, ticked boxes)."""
    form = page[page.index('id="station-form"'):page.index("</form>",
                                                            page.index('id="station-form"'))]
    out = []
    for tag in re.findall(r"<input [^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or name[1] == "csrf_token":
            continue
        value = re.search(r'value="([^"]*)"', tag)
        if 'type="checkbox"' in tag and " checked" not in tag:
            continue
        out.append((name[1], htmllib.unescape(value[1]) if value else ""))
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        sel = re.search(r'<option value="([^"]*)" selected', body)
        out.append((name, sel[1] if sel else ""))
    return out


def test_fixing_a_station_from_a_not_here_report(site):
    locked = [site.report("T04", "locked", f"10.0.4.{i}") for i in range(3)]
    moved = site.report("T04", "not_here", "10.0.4.9", lon=MOVED[0], lat=MOVED[1],
                        note="驿站搬到了路口东侧")
    assert site.store.get("T04").reported_closed_at is not None
    rev = site.staff("rev_yun")
    page = rev.text("/staff/reports")
    g1 = _group(page, "T04")
    assert "117.201000, 34.270500" in g1 and "距记录位置 107 米" in g1
    assert '"fixes": [{"label": "' + moved in page  # the map gets the corrected position
    fix = htmllib.unescape(re.search(r'href="([^"]+)" class="fix-link"', g1)[1])

    form = rev.text(fix)
    assert 'id="report-fix"' in form and "驿站搬到了路口东侧" in form
    fields = _form_fields(form)
    values = dict(fields)
    assert float(values["lon"]) == MOVED[0] and float(values["lat"]) == MOVED[1]
    assert values["verified_date"] == local_today().isoformat()
    assert values["status"] == "temporarily_closed"  # suggested by the locked reports
    assert sorted(v for k, v in fields if k == "report_ref") == sorted([*locked, moved])
    # the reviewer checks on site: it moved and is open; saves
    fields = [(k, v) for k, v in fields if k not in ("status", "resolution")] + [
        ("status", "open"), ("resolution", "位置已更正")]
    before = site.store.get("T04")
    r = rev.post("/staff/stations/T04/edit", fields)
    assert r.status_code == 303, r.get_data(as_text=True)
    assert r.headers["Location"].startswith("/staff/reports?done=fixed")
    assert "站点已保存，4 条反馈已处理" in rev.text(r.headers["Location"])

    fixed_version = before.version + 1
    hist = {h["version"]: h for h in site.store.history("T04")}
    assert hist[fixed_version]["actor"] == "rev_yun"
    after = hist[fixed_version]["after"]
    assert (after["lon"], after["lat"]) == MOVED and after["status"] == "open"
    assert after["verified_date"] == local_today().isoformat()
    assert after["verified_by"] == "rev_yun"
    rows = site.rows(*locked, moved)
    assert {x["status"] for x in rows.values()} == {"resolved"}
    assert {x["station_version"] for x in rows.values()} == {fixed_version}
    assert rows[moved]["resolution"] == "位置已更正"
    [upd] = site.audit("station.update")
    assert f'"version": {fixed_version}' in upd["detail"]
    assert len(site.audit("report.resolved")) == 4
    # the flag is cleared (a version of its own, after the fix)
    st = site.store.get("T04")
    assert st.reported_closed_at is None and (st.lon, st.lat) == MOVED
    assert st.version == fixed_version + 1
    assert site.registry.index.get("T04").reported_closed_at is None
    # the reporters' status link and the API say resolved
    body = site.public.get(f"/api/v1/reports/{moved}").get_json()
    assert body["status"] == "resolved" and body["resolution"] == "位置已更正"
    assert "已处理" in site.public.get(f"/reports/{locked[0]}").get_data(as_text=True)
    # the station's inline history names the flag's versions
    page = rev.text("/staff/reports?status=resolved")
    assert "清除“被反馈关闭”标记" in _group(page, "T04")


def test_fix_form_refuses_another_stations_reports(site):
    ref = site.report("T01", "amenity", "10.0.5.1", amenity="drinking_water")
    rev = site.staff("rev_gl")
    r = rev.get(f"/staff/stations/T02/edit?report_ref={ref}")
    assert r.status_code == 400 and f"反馈 {ref} 不是关于站点 T02 的" in r.get_data(as_text=True)
    # the amenity report unticks the amenity in the prefilled form
    form = rev.text(f"/staff/stations/T01/edit?report_ref={ref}")
    ticked = [v for k, v in _form_fields(form) if k == "amenities"]
    assert "drinking_water" not in ticked and "seating" in ticked
    assert "已去掉骑手反馈缺失或损坏的设施：饮用水" in form
    # an editor may edit the station but not resolve reports from its form
    assert site.staff("ed").get(f"/staff/stations/T01/edit?report_ref={ref}").status_code \
        == 403
    # without refs the form is the ordinary one
    assert 'id="report-fix"' not in rev.text("/staff/stations/T01/edit")
    # a fix that would move the station out of the reviewer's district is refused, and
    # the report stays open
    fields = [(k, "117.201" if k == "lon" else "34.2705" if k == "lat" else v)
              for k, v in _form_fields(form)]
    r = rev.post("/staff/stations/T01/edit", fields)
    assert r.status_code == 403 and "不能修改 320303（云龙区）的站点" in r.get_data(as_text=True)
    assert 'id="report-fix"' in r.get_data(as_text=True)  # the refs are kept
    assert site.rows(ref)[ref]["status"] == "new" and site.store.get("T01").version == 1

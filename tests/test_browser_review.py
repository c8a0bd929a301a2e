"""The review queue in a real headless Chromium (Playwright), end to end: three riders
(three browser contexts, three addresses) report a station locked from its page; the
rider page marks it "reported closed"; a Yunlong reviewer logs in, opens /staff/reports
and resolves the reports by closing the station; it leaves the rider page's results, and
each reporter's status link says resolved.

The app runs behind one trusted proxy, so each rider's address is the
``X-Forwarded-For`` of their context (see ``test_browser_reports.py``, whose riders this
reuses). Besides the tiny sample set the database holds a dozen generated sample
stations, so that the rider page's ten results are always full. Tiles are off.
"""

from __future__ import annotations

import re

import pytest
from conftest_browser import (
    LIST_IDS,
    launch_chromium,
    live_server,
    many_stations,
    registry_of,
    require_chromium,
)
from test_browser_reports import Rider, report_locked_three_times

from locator.web import create_app

require_chromium(module=True)

PW = "Xuzhou-stations-2026"
T04 = (117.2000, 34.2700)  # the service centre in Yunlong (320303)


@pytest.fixture(scope="module")
def registry(tmp_path_factory, tiny_stations):
    extra = many_stations(12, seed=11, center=T04, spread_deg=0.05)
    with registry_of(tmp_path_factory.mktemp("review-browser") / "s.sqlite",
                     [*tiny_stations, *extra]) as reg:
        yield reg


@pytest.fixture(scope="module")
def base_url(registry):
    from staff_support import FAST

    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none",
                      "LOCATOR_TRUSTED_PROXIES": 1})
    svc = app.extensions["locator.accounts"]
    svc.hasher = FAST
    svc.add_user("rev_yun", PW, role="reviewer", scope="320303", actor="pytest")
    with live_server(app) as url:
        yield url


def _rider_results(browser, base_url: str) -> list[str]:
    """A rider standing at T04 searches (open or not); the listed station ids, with T04's
    card checked for the flag when listed."""
    rider = Rider(browser, base_url, "203.0.113.99",
                  geolocation={"longitude": T04[0], "latitude": T04[1], "accuracy": 10},
                  permissions=["geolocation"])
    try:
        page = rider.page
        page.goto(base_url + "/")
        page.uncheck("#f-open")
        page.click("#locate")
        page.wait_for_selector("#results li.result")
        # the server's answer, not the saved copy drawn before it
        page.wait_for_function("() => document.body.dataset.searchState === 'done'")
        ids = page.evaluate(LIST_IDS)
        flagged = page.evaluate("() => [...document.querySelectorAll("
                                "'#results li[data-reported-closed]')].map(li => "
                                "li.dataset.stationId)")
        assert rider.errors == [], rider.errors
        return [f"{i}!" if i in flagged else i for i in ids]
    finally:
        rider.close()


def test_reviewer_closes_a_station_riders_reported_locked(registry, base_url):
    with launch_chromium() as browser:
        reports = report_locked_three_times(browser, base_url, "T04")
        ids = _rider_results(browser, base_url)
        assert len(ids) == 10 and ids[-1] == "T04!"  # listed last, marked

        ctx = browser.new_context(viewport={"width": 1100, "height": 860}, locale="zh-CN")
        page = ctx.new_page()
        page.set_default_timeout(10_000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base_url)
                   else (errors.append("external: " + r.request.url), r.abort()))
        try:
            page.goto(base_url + "/staff/login?next=/staff/reports")
            page.fill("input[name=name]", "rev_yun")
            page.fill("input[name=password]", PW)
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r"/staff/reports$"))
            page.wait_for_selector("body[data-map-ready='1']")
            assert page.locator("#nav-reports").inner_text() == "群众反馈（3）"
            group = page.locator("#group-T04")
            assert group.locator("[data-flag=reported-closed]").inner_text() == "已被反馈关闭"
            assert "锁门 / 关闭 × 3" in group.locator(".kind-counts").inner_text()
            refs = group.locator("tr.report-row").evaluate_all(
                "rows => rows.map(r => r.dataset.ref)")
            assert sorted(refs) == sorted(r["ref"] for r in reports)
            assert page.locator(".reports-map").get_attribute("data-marker-count") == "1"
            group.locator("input[name=resolution]").fill("经核实，站点已撤销")
            asked = []

            def answer(dialog):  # closing a station asks first
                asked.append(dialog.message)
                dialog.accept()

            page.once("dialog", answer)
            group.locator("button[data-action=close]").click()
            page.wait_for_url(re.compile(r"/staff/reports\?done=close"))
            assert asked and "确定关闭此站点" in asked[0]
            assert "站点已关闭，3 条反馈已处理" in page.locator("#notice").inner_text()
            assert page.locator("#group-T04").count() == 0
            assert page.locator("#nav-reports").inner_text() == "群众反馈"
            assert errors == [], errors
        finally:
            ctx.close()

        st = registry.store.get("T04")
        assert st.status == "closed" and st.reported_closed_at is None
        ids = _rider_results(browser, base_url)
        assert "T04" not in ids and "T04!" not in ids and len(ids) == 10

        rider = Rider(browser, base_url, "203.0.113.10")
        try:
            for rep in reports:
                rider.page.goto(rep["status_url"])
                assert rider.page.locator(".report-ref").inner_text() == rep["ref"]
                state = rider.page.locator(".report-state").inner_text()
                assert state.startswith("已处理"), state
                assert rider.page.locator(".report-resolution").inner_text() == \
                    "经核实，站点已撤销"
            assert rider.errors == [], rider.errors
        finally:
            rider.close()

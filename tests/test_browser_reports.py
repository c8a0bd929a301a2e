"""Riders' reports in a real headless Chromium (Playwright): three riders, each in their
own browser context and from their own address, find a station locked and report it from
its station page; the rider page then lists it as "reported closed", after the open
stations, the /map popup says so too, and every rider's status link says "received".

The app runs behind one trusted proxy (``LOCATOR_TRUSTED_PROXIES=1``), so the address of
each rider is the ``X-Forwarded-For`` their context sends (the live server sees 127.0.0.1
for all). Tiles are off: the machine is offline.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest_browser import LIST_IDS, live_server, registry_of, require_chromium

from locator.web import create_app

require_chromium(module=True)

PHONE = {"width": 390, "height": 844}
XSS_NOTE = "<img src=x onerror=window.__xss=1>门口挂着铁链"


@pytest.fixture(scope="module")
def registry(tmp_path_factory, tiny_stations):
    with registry_of(tmp_path_factory.mktemp("reports-browser") / "s.sqlite",
                     tiny_stations) as reg:
        yield reg


@pytest.fixture(scope="module")
def base_url(registry):
    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none",
                      "LOCATOR_TRUSTED_PROXIES": 1})
    with live_server(app) as url:
        yield url


class Rider:
    """One rider: a browser context with its own client address, console errors kept;
    nothing may load from anywhere but the app."""

    def __init__(self, browser, base_url: str, address: str, **options: Any):
        options.setdefault("viewport", PHONE)
        options.setdefault("locale", "zh-CN")
        self.ctx = browser.new_context(extra_http_headers={"X-Forwarded-For": address},
                                       **options)
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(10_000)
        self.base = base_url
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text)
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"),
                                          d.dismiss()))
        self.page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(
            base_url) else (self.errors.append("external: " + r.request.url), r.abort()))

    def close(self) -> None:
        self.ctx.close()


def report_locked_three_times(browser, base_url: str, station_id: str, *,
                              note: str | None = None) -> list[dict[str, str]]:
    """Three riders (three contexts, three addresses) open the station's page, tap
    "report a problem", choose "locked / closed" and send it. Returns each rider's
    ``{"ref", "status_url", "address"}``; the first rider's report carries ``note``."""
    out = []
    for i in range(3):
        address = f"203.0.113.{10 + i}"
        rider = Rider(browser, base_url, address)
        try:
            page = rider.page
            page.goto(f"{base_url}/stations/{station_id}")
            page.click("a[data-report-link]")
            page.wait_for_url(re.compile(rf"/stations/{station_id}/report$"))
            option = page.locator("label.kind-option", has=page.locator("input[value=locked]"))
            assert option.bounding_box()["height"] >= 44  # a big tap target
            option.click()
            assert page.locator(".part-amenity").is_hidden()  # only what "locked" needs
            if note and i == 0:
                page.fill("#r-note", note)
            page.click("#report-send")
            page.locator("#report-done").wait_for()
            ref = page.locator("#done-ref").inner_text()
            assert re.fullmatch(r"R[0-9A-Z]{8}", ref)
            assert page.locator("#done-status").inner_text() == "已收到，待处理"
            assert page.locator("#report-form").is_hidden()
            out.append({"ref": ref, "address": address,
                        "status_url": page.locator("#done-link").get_attribute("href")})
            assert rider.errors == [], rider.errors
        finally:
            rider.close()
    return out


def test_three_riders_report_a_station_locked(browser, base_url, registry):
    from locator.upkeep.reports import ReportService

    t04 = (117.2000, 34.2700)  # the service centre; three other stations are nearby
    reports = report_locked_three_times(browser, base_url, "T04", note=XSS_NOTE)
    assert len({r["ref"] for r in reports}) == 3
    assert registry.store.get("T04").reported_closed_at is not None
    stored = ReportService(registry).for_station("T04")
    assert sorted(r.ref for r in stored) == sorted(r["ref"] for r in reports)

    # A fourth rider near T04 searches: it is listed last, marked "reported closed".
    rider = Rider(browser, base_url, "203.0.113.99",
                  geolocation={"longitude": t04[0], "latitude": t04[1], "accuracy": 10},
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
        assert ids[-1] == "T04" and len(ids) == 9  # all stations but the closed T06
        card = page.locator("#results li[data-station-id=T04]")
        assert card.get_attribute("data-reported-closed") == "1"
        assert "多名骑手反馈此站点关闭或锁门" in card.locator(".r-flag").inner_text()
        assert page.locator("#results li[data-reported-closed]").count() == 1
        assert card.locator("a.r-report").get_attribute("href") == "/stations/T04/report"

        # The /map popup says so too.
        page.goto(base_url + "/map")
        page.wait_for_function("() => LocatorMaps.get('stations') !== null")
        page.evaluate("LocatorMaps.get('stations').map._locatorCluster.openStation('T04')")
        popup = page.locator(".st-popup[data-station-id=T04]")
        assert popup.get_attribute("data-reported-closed") == "1"
        assert "多名骑手反馈" in popup.locator(".st-popup-flag").inner_text()
        assert popup.locator("a.report-link").get_attribute("href") == "/stations/T04/report"

        # Every rider's status link says "received"; the note shows as text, never runs.
        for rep in reports:
            page.goto(rep["status_url"])
            assert page.locator(".report-ref").inner_text() == rep["ref"]
            assert "已收到" in page.locator(".report-state").inner_text()
            assert page.locator(".report-kind").inner_text() == "锁门 / 关闭"
        page.goto(reports[0]["status_url"])
        assert page.locator(".report-note").inner_text() == XSS_NOTE
        assert page.evaluate("window.__xss") is None
        assert rider.errors == [], rider.errors
    finally:
        rider.close()

"""A staff member verifies a station at its door, on a phone, in real headless Chromium:
the browser's geolocation (granted, at the station) fills in the position, the check is
recorded, and the rider's station page turns from "未近期核实" (not recently verified)
to "今天核实" (verified today), as the API's freshness does (0 days).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest_browser import launch_chromium, live_server, registry_of, require_chromium

from locator.stations.model import station_from_dict
from locator.time_util import local_today
from locator.web import create_app

require_chromium(module=True)

PW = "Xuzhou-verify-2026"
PHONE = {"width": 390, "height": 844}
DOOR = (117.2301, 34.2402)  # Yunlong district (320303)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    old = (local_today() - timedelta(days=400)).isoformat()
    st = station_from_dict({"id": "V1", "name": "【示例】云龙核实驿站", "type": "outdoor_worker",
                            "lon": DOOR[0], "lat": DOOR[1], "district_adcode": "320303",
                            "address": "云龙区测试路 8 号", "opening_hours": "24/7",
                            "verified_date": old, "source": "sample"})
    with registry_of(tmp_path_factory.mktemp("verify-browser") / "s.sqlite", [st]) as reg:
        app = create_app({"LOCATOR_REGISTRY": reg, "LOCATOR_RATE_LIMIT": 0,
                          "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})
        app.extensions["locator.accounts"].add_user("yun", PW, role="editor",
                                                     scope="320303", actor="pytest")
        with live_server(app) as url:
            yield url


def test_staff_verify_a_station_on_a_phone_and_riders_see_it_fresh(base_url):
    errors: list[str] = []
    with launch_chromium() as browser:
        ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                  locale="zh-CN", permissions=["geolocation"],
                                  geolocation={"longitude": DOOR[0], "latitude": DOOR[1],
                                               "accuracy": 9})
        page = ctx.new_page()
        page.set_default_timeout(10_000)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(
            "http://127.0.0.1:") else (errors.append("external: " + r.request.url), r.abort()))
        try:
            page.goto(base_url + "/stations/V1")
            assert "未近期核实" in page.inner_text("main")

            page.goto(base_url + "/staff/login?next=/staff/stations/V1/verify")
            page.fill("input[name=name]", "yun")
            page.fill("input[name=password]", PW)
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r"/staff/stations/V1/verify"))
            # The phone's position arrives by itself; the page says how far the door is.
            page.wait_for_selector("#position-status[data-state=ok]")
            assert "距站点约 0 m" in page.inner_text("#position-status")
            assert float(page.input_value("#v-lon")) == pytest.approx(DOOR[0], abs=1e-6)
            assert float(page.input_value("#v-lat")) == pytest.approx(DOOR[1], abs=1e-6)
            assert page.input_value("#v-accuracy") == "9"
            # Thumb-sized controls, and nothing wider than the phone.
            for sel in ("#use-position", "#verify-submit", "label.outcome-ok",
                        "label.outcome-problem", "#v-photo"):
                assert page.locator(sel).bounding_box()["height"] >= 44, sel
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

            page.fill("#v-note", "门开着，饮水机正常")
            page.click("#verify-submit")
            page.wait_for_url(re.compile(r"/staff/stations/V1/edit\?verified=\d+"))
            assert "站点已标为今天核实" in page.inner_text("#verify-notice")
            assert page.locator("#verify-flagged").count() == 0

            page.goto(base_url + "/stations/V1")
            text = page.inner_text("main")
            assert "今天核实" in text and "未近期核实" not in text
            res = page.request.get(base_url + f"/api/v1/nearest?lon={DOOR[0]}&lat={DOOR[1]}&k=1")
            hit = res.json()["results"][0]
            assert hit["id"] == "V1" and hit["freshness"]["days"] == 0
        finally:
            ctx.close()
    assert errors == []

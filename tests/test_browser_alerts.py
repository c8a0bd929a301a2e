"""The alert banner in headless Chromium on a 390×844 phone: during a heat alert the
banner shows the level and message, lists the nearest open stations with air
conditioning and drinking water (from /api/v1/nearest), ticks those filters by default,
lets the rider switch them off (remembered), and hides outside the alert's districts.

The page is a tiny test-only route that includes the partial next to a filter form
shaped like the rider page's (the rider page itself includes it once the lead wires it
in; see the report of issue #10)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from conftest_browser import live_server, registry_of, require_chromium
from test_alerts_web import CENTRE, QUANSHAN, cooled_stations

from locator.web import create_app

require_chromium(module=True)

PAGE = """<!doctype html><html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<link rel="stylesheet" href="{{ url_for('static', filename='alerts.css') }}"></head>
<body>{% include "partials/alert_banner.html" %}
<form id="finder">{% for code in amenities %}
<label><input type="checkbox" name="amenity" value="{{ code }}"> {{ code }}</label>{% endfor %}
</form><p id="changes">0</p>
<script>document.getElementById('finder').addEventListener('change', function () {
  var p = document.getElementById('changes'); p.textContent = String(Number(p.textContent) + 1);
});</script>
<script src="{{ url_for('static', filename='alerts.js') }}"></script></body></html>"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from flask import render_template_string, request

    from locator.web.api.alerts import alert_banner_context, get_alerts

    path = tmp_path_factory.mktemp("alerts") / "alerts.sqlite"
    with registry_of(path, cooled_stations()) as reg:
        app = create_app({"LOCATOR_REGISTRY": reg, "LOCATOR_RATE_LIMIT": 0,
                          "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})

        @app.get("/_test/alert-page")
        def _alert_page():
            lon, lat = request.args.get("lon"), request.args.get("lat")
            ctx = alert_banner_context(lon=float(lon) if lon else None,
                                       lat=float(lat) if lat else None)
            return render_template_string(
                PAGE, alert_banner=ctx,
                amenities=["drinking_water", "air_conditioning", "heating", "toilet"])

        now = datetime.now(timezone.utc)
        with app.app_context():
            get_alerts().declare({
                "kind": "heat", "level": "red", "districts": ["320303"],
                "starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(hours=6),
                "message_zh": "红色高温预警：停止户外作业，到有空调的驿站休息",
                "message_en": "Red heat alert: stop outdoor work and rest at a cooled station"},
                actor="pytest")
        with live_server(app) as url:
            yield url


@pytest.fixture()
def phone(browser):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1,
                              is_mobile=True, has_touch=True)
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page, errors
    ctx.close()


BOXES = "() => [...document.querySelectorAll('#finder input:checked')].map(b => b.value)"
STATIONS = "() => [...document.querySelectorAll('#alert-stations-list li')]" \
           ".map(li => li.dataset.stationId)"


def test_heat_banner_lists_cooled_stations_and_switches_filters(server, phone):
    page, errors = phone
    page.goto(server + "/_test/alert-page")
    banner = page.locator("#alert-banner")
    assert banner.is_visible()
    assert banner.get_attribute("data-level") == "red"
    assert "高温红色预警" in banner.inner_text() and "停止户外作业" in banner.inner_text()
    # the alert's filters are on by default, in the form and through the JS API
    assert page.evaluate(BOXES) == ["drinking_water", "air_conditioning"]
    assert page.evaluate("() => window.LocatorAlerts.defaultFilters()") == [
        "air_conditioning", "drinking_water"]
    assert page.locator("#alert-filters").is_checked()
    assert "定位" in page.locator("#alert-stations-status").inner_text()

    # the rider is located (the rider page's script sends this event)
    page.evaluate("([lon, lat]) => document.dispatchEvent(new CustomEvent('locator:origin',"
                  " {detail: {lon: lon, lat: lat, crs: 'wgs84'}}))", list(CENTRE))
    page.wait_for_function("() => document.querySelectorAll('#alert-stations-list li')"
                           ".length > 0")
    # C2 is temporarily closed, C4 has no drinking water, W1 only heating
    assert page.evaluate(STATIONS) == ["C1", "C3"]
    first = page.locator("#alert-stations-list li").first
    assert "清凉驿站一号" in first.inner_text() and "营业中" in first.inner_text()
    nav = first.locator(".alert-station-nav")
    box = nav.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44
    assert nav.get_attribute("href").startswith("https://")
    bb = banner.bounding_box()
    assert bb["y"] >= 0 and bb["y"] + 60 < 844  # the banner starts on the first screen

    # the rider switches the filters off: unticked, remembered across a reload
    changes = int(page.locator("#changes").inner_text())
    page.locator("#alert-filters-toggle").click()
    assert page.evaluate(BOXES) == []
    assert page.evaluate("() => window.LocatorAlerts.defaultFilters()") == []
    assert int(page.locator("#changes").inner_text()) == changes + 1  # the page searches again
    page.reload()
    assert page.evaluate(BOXES) == [] and not page.locator("#alert-filters").is_checked()
    page.locator("#alert-filters-toggle").click()
    assert page.evaluate(BOXES) == ["drinking_water", "air_conditioning"]
    assert errors == []


def test_banner_hides_outside_the_alerts_districts(server, phone):
    page, errors = phone
    page.goto(server + "/_test/alert-page?lang=en")
    assert page.locator("#alert-banner").is_visible()
    assert "Heat warning, red" in page.locator("#alert-banner").inner_text()
    page.evaluate("([lon, lat]) => window.LocatorAlerts.setPosition(lon, lat, 'wgs84')",
                  list(QUANSHAN))
    page.wait_for_function("() => document.getElementById('alert-banner').hidden")
    assert page.evaluate(BOXES) == []  # the filters it had ticked are off again
    assert page.evaluate("() => window.LocatorAlerts.current()") is None
    assert errors == []


def test_server_rendered_banner_for_a_shared_link(server, phone):
    page, errors = phone
    page.goto(server + f"/_test/alert-page?lon={CENTRE[0]}&lat={CENTRE[1]}")
    assert page.evaluate(STATIONS) == ["C1", "C3"]
    assert page.locator("#alert-stations-status").inner_text() == ""
    assert errors == []

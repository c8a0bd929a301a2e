"""The planner page's views (#12) in real headless Chromium: each view renders, on a
390 x 844 phone and on a desktop, with no script error, nothing from the internet, its
layer drawn on the map, and every link, button and field of the view a 44 px tap
target on the phone."""

from __future__ import annotations

import pytest
from conftest_browser import PHONE, live_server, phone_page, require_chromium

from locator.web import create_app

require_chromium(module=True)

VIEWS = {
    "profile": ("view=profile&day=2026-07-19&profile=sanitation", "#profile-table"),
    "scenario": ("view=scenario&compare=两站", "#scenario-city"),
    "access": ("view=access", "#access-districts"),
    "target": ("view=target&target=95%25&solver=greedy", "#target-sites"),
}

#: The elements of a view a thumb must hit (the page asks 44 px of its controls).
TAP = (".planner-views a, .view-fields select, .view-fields input:not([type=checkbox]),"
       " .view-fields .check, .planner-download a, #scenario-form input[type=text],"
       " #scenario-form textarea, #scenario-form button, #compare-form button,"
       " #compare-form .check, .scenario-json, #overlay-scenario")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory, demand_csv, tiny_stations):
    from locator import Registry, StationStore

    path = tmp_path_factory.mktemp("views") / "s.sqlite"
    store = StationStore(path, create=True)
    store.add_many(tiny_stations, actor="pytest")
    app = create_app({"LOCATOR_REGISTRY": Registry(store), "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none",
                      "LOCATOR_DEMAND": str(demand_csv)})
    client = app.test_client()
    for form in ({"name": "两站", "add": "N1,新站一号,117.25,34.28,24/7", "close": "T01"},
                 {"name": "关 T02", "close": "T02"}):
        assert client.post("/planner/scenarios?view=scenario", data=form).status_code == 303
    with live_server(app) as url:
        yield url
    store.dispose()


@pytest.fixture()
def contexts():
    made: list = []
    yield made
    for ctx in made:
        ctx.close()


def _open(browser, contexts, url, *, phone: bool, lang: str = "zh-CN"):
    opts = {} if phone else {"viewport": {"width": 1280, "height": 900}, "has_touch": False}
    page, errors = phone_page(browser, contexts, locale=lang, **opts)
    page.goto(url)
    page.wait_for_selector(".coverage-map[data-coverage-ready]", state="attached")
    return page, errors


@pytest.mark.parametrize("phone", [True, False], ids=["phone", "desktop"])
@pytest.mark.parametrize("view", list(VIEWS))
def test_view_renders_without_errors(browser, contexts, base_url, view, phone):
    query, table = VIEWS[view]
    if view == "access":  # no map on the access view
        page, errors = phone_page(browser, contexts, **({} if phone else {
            "viewport": {"width": 1280, "height": 900}, "has_touch": False}))
        page.goto(f"{base_url}/planner?{query}")
    else:
        page, errors = _open(browser, contexts, f"{base_url}/planner?{query}", phone=phone)
    assert page.locator(table).count() == 1
    assert page.locator(f"#view-{view}[aria-current=page]").count() == 1
    if view != "access":
        box = page.locator("#view-map .coverage-map")
        page.wait_for_function(
            "() => document.querySelector('#view-map .coverage-map').hasAttribute('data-overlay')")
        shown = int(box.get_attribute("data-overlay"))
        assert shown > 0  # night gaps, scenario units, new sites: drawn
        assert page.locator(".view-legend li").count() >= (0 if view == "target" else 1)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1  # wide tables scroll inside their box
    if phone:
        small = page.evaluate("""(sel) => [...document.querySelectorAll(sel)]
            .filter(e => e.offsetParent !== null)
            .map(e => [e.id || e.name || e.textContent.trim().slice(0, 20),
                       e.getBoundingClientRect().height])
            .filter(([, h]) => h < 44)""", TAP)
        assert small == []
    assert errors == []


def test_scenario_map_switches_scenario(browser, contexts, base_url):
    url = f"{base_url}/planner?view=scenario&compare=两站&compare=关 T02"
    page, errors = _open(browser, contexts, url, phone=True)
    box = page.locator("#view-map .coverage-map")
    page.wait_for_function(
        "() => document.querySelector('#view-map .coverage-map').hasAttribute('data-overlay')")
    first = box.get_attribute("data-overlay")
    page.select_option("#overlay-scenario", "1")
    second = box.get_attribute("data-overlay")
    total = int(box.get_attribute("data-overlay-total"))
    assert int(first) + int(second) == total
    assert errors == []


def test_scenario_form_error_in_the_browser(browser, contexts, base_url):
    page, errors = phone_page(browser, contexts)
    page.goto(f"{base_url}/planner?view=scenario")
    page.fill("#s-name", "坏情景")
    page.fill("#s-change-capacity", "T02,0")
    page.click("#s-save")
    page.wait_for_selector("#err-s-change_capacity")
    assert "capacity" in page.text_content("#err-s-change_capacity")
    assert page.input_value("#s-change-capacity") == "T02,0"  # the form as sent
    assert page.locator("#saved-scenarios li").count() == 2  # nothing saved
    assert all("400" in e for e in errors)  # only the page's own status


def test_english_profile(browser, contexts, base_url):
    page, errors = _open(browser, contexts, f"{base_url}/planner?view=profile&lang=en"
                         "&day=2026-10-01", phone=True, lang="en-US")
    assert "24-hour coverage profile" in page.text_content("h2")
    assert "public holiday" in page.text_content("#day-kind")
    assert errors == []
    assert PHONE["width"] == page.viewport_size["width"]


#: Everything a thumb must hit on the planner's form and a view, measured on the phone.
ALL_TAP = (".planner-views a, #planner-form .seg span, #planner-form .check,"
           " #planner-form input:not([type=radio]):not([type=checkbox]):not([type=hidden]),"
           " #planner-form select, #planner-form button, #scenario-form .check,"
           " #scenario-form select, #scenario-form input[type=text]")


@pytest.mark.parametrize("query", ["", *(q for q, _t in VIEWS.values())],
                         ids=["coverage", *VIEWS])
def test_phone_targets_tabs_and_chart_text(browser, contexts, base_url, query):
    page, errors = phone_page(browser, contexts)
    page.goto(f"{base_url}/planner?{query}")
    page.wait_for_load_state("load")
    small = page.evaluate("""(sel) => [...document.querySelectorAll(sel)]
        .filter(e => e.offsetParent !== null)
        .map(e => { const r = e.getBoundingClientRect();
                    return [e.id || e.name || e.textContent.trim().slice(0, 20),
                            Math.round(r.width), Math.round(r.height)]; })
        .filter(([, w, h]) => w < 44 || h < 44)""", ALL_TAP)
    assert small == []
    # the view tabs wrap: every one inside the screen, none cut
    tabs = page.evaluate("""() => [...document.querySelectorAll('.planner-views a')]
        .map(a => { const r = a.getBoundingClientRect();
                    return [a.textContent.trim(), r.left, r.right,
                            a.scrollWidth <= a.clientWidth]; })""")
    assert all(left >= 0 and right <= 390 and whole for _t, left, right, whole in tabs), tabs
    # chart text rendered at 10 px or more; chart titles inside the screen
    tiny = page.evaluate("""() => [...document.querySelectorAll('.cov-chart svg text')]
        .filter(t => t.textContent.trim())
        .map(t => [t.textContent.trim(), t.getBoundingClientRect().height])
        .filter(([, h]) => h < 10)""")
    assert tiny == []
    cut = page.evaluate("""() => [...document.querySelectorAll('.cov-chart figcaption')]
        .map(f => [f.textContent.trim().slice(0, 20), f.getBoundingClientRect().right])
        .filter(([, r]) => r > 391)""")
    assert cut == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 391
    assert [e for e in errors if "400" not in e] == []

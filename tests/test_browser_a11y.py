"""Accessibility in real headless Chromium on a 390 x 844 phone, in Chinese and English.

An axe-core audit (npm ``axe-core``, tests/js; WCAG 2.0 and 2.1, levels A and AA) finds no
serious or critical violation on the rider page before and after locating (results
drawn, a heat alert's banner shown, a failed search), on ``/map`` with a popup open, on
station pages (open, closed, hours unknown) and on the staff login (and its error).
And the results work with a screen reader: the list has a name, each card's links name
the station, the status line is a live region that says how many were found, the
keyboard reaches the nearest station's navigation button before the map, and an open,
closed or unknown station says so in words, not only in colour.

axe is the test harness, injected into the page (``add_script_tag``); it is never served
by the app, and the app's CSP allows it as it allows the page's own inline scripts.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest_browser import live_server, phone_page, registry_of, require_chromium

from locator.cli.demo import load_sample_stations
from locator.stations.model import station_from_dict
from locator.web import create_app

require_chromium(module=True)

AXE_JS = Path(__file__).parent / "js" / "node_modules" / "axe-core" / "axe.min.js"
if not AXE_JS.exists():
    pytest.skip(f"the accessibility audit needs axe-core at {AXE_JS} "
                "(cd tests/js && npm ci)", allow_module_level=True)

#: A point in Yunlong district (320303), central Xuzhou; the heat alert covers it.
POINT = (117.2012, 34.2705)
#: Three stations on POINT, one in each hours state; neutral names (the state must be
#: said by the page, not by the name).
STATE_IDS = {"open": "A11Y-OPEN", "closed": "A11Y-CLOSED", "unknown": "A11Y-UNKNOWN"}
STATE_TEXT = {
    "zh": {"open": "营业中", "closed": "已打烊", "unknown": "时间未知"},
    "en": {"open": "Open now", "closed": "Closed now", "unknown": "Hours unknown"},
}
#: The texts each language's pages use (what a screen reader reads).
TEXT = {
    "zh": {"results": "最近的站点", "nearest": "离你最近", "navigate": "导航",
           "found": r"找到 (\d+) 个站点", "login_error": "账号名或密码错误"},
    "en": {"results": "Nearest stations", "nearest": "Nearest to you", "navigate": "Navigate",
           "found": r"(\d+) stations found", "login_error": "wrong account name or password"},
}
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: axe.run with the WCAG A and AA rules; violations (each with its nodes' targets and
#: failure summaries) and the ids of the rules that ran and passed.
AUDIT = """async (tags) => {
  const r = await axe.run(document, { runOnly: { type: 'tag', values: tags },
                                      resultTypes: ['violations'] });
  return { passes: r.passes.map(p => p.id),
           violations: r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
             nodes: v.nodes.map(n => ({ target: n.target.join(' '),
                                        summary: n.failureSummary || '' })) })) }; }"""


def _a11y_stations():
    common = {"type": "outdoor_worker", "source": "sample",
              "amenities": "drinking_water;air_conditioning;phone_charging"}
    lon, lat = POINT
    return [
        station_from_dict({"id": STATE_IDS["open"], "name": "【示例】无障碍测试甲站",
                           "lon": lon + 0.00010, "lat": lat, "opening_hours": "24/7",
                           **common}),
        station_from_dict({"id": STATE_IDS["closed"], "name": "【示例】无障碍测试乙站",
                           "lon": lon, "lat": lat + 0.00012, "opening_hours": "Mo-Su off",
                           **common}),
        station_from_dict({"id": STATE_IDS["unknown"], "name": "【示例】无障碍测试丙站",
                           "lon": lon - 0.00014, "lat": lat, **common}),
    ]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    path = tmp_path_factory.mktemp("a11y") / "sample.sqlite"
    with registry_of(path, load_sample_stations() + _a11y_stations()) as reg:
        yield reg


@pytest.fixture(scope="module")
def base_url(registry):
    """The app, with a red heat alert over all of Xuzhou (so the rider page shows its
    banner and the banner's station list)."""
    from locator.web.api.alerts import get_alerts

    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})
    now = datetime.now(timezone.utc)
    with app.app_context():
        get_alerts().declare({
            "kind": "heat", "level": "red", "districts": ["320300"],
            "starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(hours=6),
            "message_zh": "红色高温预警：停止户外作业，到有空调的驿站休息",
            "message_en": "Red heat alert: stop outdoor work and rest at a cooled station"},
            actor="pytest")
    with live_server(app) as url:
        yield url


@pytest.fixture()
def phone(browser):
    """Yields ``make(lang, point=None, *, js=True) -> (page, errors)``: a 390 x 844
    touch phone, with the location granted at ``point`` when given (and JavaScript off
    with ``js=False``); nothing may load from another host."""
    contexts = []

    def make(lang, point=None, *, js=True):
        return phone_page(browser, contexts, point, java_script_enabled=js,
                          locale="zh-CN" if lang == "zh" else "en-GB")

    yield make
    for ctx in contexts:
        ctx.close()


def _serious(page, what: str) -> list[str]:
    """Run axe on the page as it is now; the serious and critical violations, each as
    ``what: rule (impact): help`` followed by its nodes (target and failure summary)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE_JS))
    got = page.evaluate(AUDIT, WCAG)
    # The audit really ran: the contrast rule checked text and passed somewhere.
    assert "color-contrast" in got["passes"] or any(
        v["id"] == "color-contrast" for v in got["violations"]), (what, got["passes"])
    out = []
    for v in got["violations"]:
        if v["impact"] not in ("serious", "critical"):
            continue
        lines = [f"{what}: {v['id']} ({v['impact']}): {v['help']}"]
        for n in v["nodes"]:
            summary = " ".join(n["summary"].split())
            lines.append(f"    {n['target']}  --  {summary}")
        out.append("\n".join(lines))
    return out


def _report(found: list[str]) -> str:
    return f"axe found {len(found)} serious or critical violations:\n" + "\n".join(found)


def _settled(page):
    """Wait until nothing is mid-transition (a fading popup or note has a lower
    contrast while it fades in)."""
    page.wait_for_function("""() => document.getAnimations().every(a =>
        a.playState !== 'running' || !a.effect || a.effect.getTiming().iterations === Infinity)""")
    page.wait_for_timeout(250)  # and one that a class set on the next frame starts


def _contrast(a: str, b: str) -> float:
    """WCAG 2.1 contrast ratio of two ``#rrggbb`` colours."""
    def lum(h: str) -> float:
        c = [int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        c = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _wait_done(page):
    page.wait_for_function("() => document.body.dataset.searchState === 'done'"
                           " && document.querySelector('#results li.result')")


def _q(lang):
    return f"?lang={lang}"


LANGS = pytest.mark.parametrize("lang", ["zh", "en"])


# --------------------------------------------------------------------------- axe audits


@LANGS
def test_rider_page_has_no_serious_violation(phone, base_url, lang):
    found: list[str] = []
    # Before locating: no permission yet, the heat banner asks to be located.
    page, errors = phone(lang)
    page.goto(base_url + "/" + _q(lang))
    page.wait_for_selector("#alert-banner[data-level=red]")
    _settled(page)
    found += _serious(page, "/ before locating")
    # The place search with its suggestions open (an ARIA combobox and listbox).
    page.fill("#place-search-input", "鼓楼")
    page.wait_for_selector("#place-search-list .place-search-option")
    _settled(page)
    found += _serious(page, "/ place suggestions open")
    page.keyboard.press("Escape")
    # Filters and the manual entry opened: their chips, fields and selects.
    page.click("#filters summary")
    page.click("#manual summary")
    _settled(page)
    found += _serious(page, "/ filters and manual entry open")
    # A failed search: the error in the status line, the swap suggestion.
    page.fill("#f-lon", "34.2705")
    page.fill("#f-lat", "117.2012")
    page.click("#manual-search")
    page.wait_for_selector("#status.error")
    _settled(page)
    found += _serious(page, "/ failed search")

    # Located: the nearest card, the pins, the list and the banner's stations.
    page, errors2 = phone(lang, POINT)
    page.goto(base_url + "/" + _q(lang))
    page.uncheck("#f-open")
    _wait_done(page)
    page.wait_for_selector("#alert-stations-list li")
    _settled(page)
    found += _serious(page, "/ after locating")
    assert not found, _report(found)
    # (the failed search's own 400 answers are the only console errors)
    assert [e for e in errors if "400" not in e] == [] and errors2 == []


@LANGS
def test_large_text_mode_has_no_serious_violation(phone, base_url, lang):
    pytest.importorskip("locator.web.display", reason="the large-text mode (长辈版) is not here")
    page, errors = phone(lang, POINT)
    page.goto(base_url + f"/?large=1&lang={lang}")
    assert "large-text" in page.evaluate("document.documentElement.className")
    page.uncheck("#f-open")
    _wait_done(page)
    _settled(page)
    found = _serious(page, "/ large text, after locating")
    page.goto(base_url + "/stations/XZ-SAMPLE-0001" + _q(lang))  # the mode persists
    assert "large-text" in page.evaluate("document.documentElement.className")
    _settled(page)
    found += _serious(page, "/stations/XZ-SAMPLE-0001, large text")
    assert not found, _report(found)
    assert errors == []


@LANGS
def test_map_with_a_popup_has_no_serious_violation(phone, base_url, lang):
    page, errors = phone(lang)
    page.goto(base_url + "/map" + _q(lang))
    page.wait_for_selector(".st-cluster")
    _settled(page)
    found = _serious(page, "/map")
    page.evaluate("LocatorMaps.get('stations').map._locatorCluster"
                  ".openStation('XZ-SAMPLE-0001')")
    page.locator(".st-popup .alt-link").first.wait_for()
    _settled(page)
    found += _serious(page, "/map with a popup")
    assert not found, _report(found)
    assert errors == []


@LANGS
def test_station_pages_have_no_serious_violation(phone, base_url, lang):
    page, errors = phone(lang)
    found: list[str] = []
    for sid in ("XZ-SAMPLE-0001", *STATE_IDS.values()):
        page.goto(f"{base_url}/stations/{sid}" + _q(lang))
        page.wait_for_selector(".leaflet-container")
        _settled(page)
        found += _serious(page, f"/stations/{sid}")
    assert not found, _report(found)
    assert errors == []


@LANGS
def test_staff_login_has_no_serious_violation(phone, base_url, lang):
    page, errors = phone(lang)
    page.goto(base_url + "/staff/login" + _q(lang))
    found = _serious(page, "/staff/login")
    page.fill("input[name=name]", "nobody")
    page.fill("input[name=password]", "not-the-password-1")
    page.click(".login-box button[type=submit]")
    error = page.locator(".form-error")
    error.wait_for()
    assert TEXT[lang]["login_error"] in error.inner_text()
    assert error.get_attribute("role") == "alert"  # announced at once
    found += _serious(page, "/staff/login, wrong password")
    assert not found, _report(found)
    # the only console error is the 401 of the refused login itself
    assert [e for e in errors if "401" not in e] == []


@LANGS
def test_report_form_and_error_page_have_no_serious_violation(phone, base_url, lang):
    page, errors = phone(lang)
    page.goto(base_url + "/stations/XZ-SAMPLE-0001/report" + _q(lang))
    page.wait_for_selector("#report-form")
    _settled(page)
    found = _serious(page, "report form")
    resp = page.goto(base_url + "/stations/NO-SUCH-STATION" + _q(lang))
    assert resp.status == 404
    found += _serious(page, "404 page")
    assert not found, _report(found)
    assert [e for e in errors if "404" not in e] == []


# --------------------------------------------------------------------------- screen readers


def _check_list_names(page, registry, lang):
    t = TEXT[lang]
    # The list is a list, named by its heading.
    lists = page.get_by_role("list", name=t["results"], exact=True)
    assert lists.count() == 1
    assert lists.evaluate("e => e.id") == "results"
    items = page.locator("#results > li.result")
    n = items.count()
    assert n == 10
    assert lists.get_by_role("listitem").filter(has=page.locator(".r-name")).count() == n

    # Each card: the name link's accessible name is the station's name; the navigation
    # button's says "navigate" and names the station (a screen reader's links list).
    for i in range(n):
        li = items.nth(i)
        st = registry.index.get(li.get_attribute("data-station-id"))
        assert li.get_by_role("link", name=st.name, exact=True).count() == 1
        nav = li.get_by_role("link", name=re.compile(
            "^" + re.escape(t["navigate"]) + ".*" + re.escape(st.name)))
        assert nav.count() == 1, st.name
        assert "btn-nav" in nav.get_attribute("class")
    # The nearest card: in a region named "nearest to you", with the same two links.
    region = page.get_by_role("region", name=t["nearest"], exact=True)
    assert region.count() == 1
    card = region.locator(".nearest-card")
    first = registry.index.get(card.get_attribute("data-station-id"))
    assert first.id == items.first.get_attribute("data-station-id")
    assert card.get_by_role("link", name=first.name, exact=True).count() == 1
    nav = card.get_by_role("link", name=re.compile(
        "^" + re.escape(t["navigate"]) + ".*" + re.escape(first.name)))
    assert nav.count() == 1
    assert "nc-nav" in nav.get_attribute("class")

    # The status line is a polite live region and says how many were found.
    status = page.locator("#status")
    assert status.get_attribute("role") == "status"
    assert status.get_attribute("aria-live") == "polite"
    m = re.search(t["found"], status.inner_text())
    assert m and int(m.group(1)) == n, status.inner_text()


@LANGS
def test_results_list_names_and_status_for_screen_readers(phone, base_url, registry, lang):
    # Drawn by the page script after locating.
    page, errors = phone(lang, POINT)
    page.goto(base_url + "/" + _q(lang))
    page.uncheck("#f-open")
    _wait_done(page)
    _check_list_names(page, registry, lang)
    assert errors == []
    # Rendered by the server, without JavaScript (a shared link).
    page, errors = phone(lang, js=False)
    page.goto(f"{base_url}/?lon={POINT[0]}&lat={POINT[1]}&open_now=false&lang={lang}")
    assert page.locator("body[data-rider]").count() == 0  # rider.js did not run
    _check_list_names(page, registry, lang)
    assert errors == []


@LANGS
def test_keyboard_reaches_the_nearest_navigation_before_the_map(phone, base_url, lang):
    page, errors = phone(lang)
    page.goto(base_url + "/" + _q(lang))
    page.uncheck("#f-open")
    # Location allowed only now: the page did not locate on load, the keyboard does.
    page.context.grant_permissions(["geolocation"])
    page.context.set_geolocation({"longitude": POINT[0], "latitude": POINT[1],
                                  "accuracy": 10})
    page.evaluate("() => { document.getElementById('status').dataset.a11yMark = '1'; }")
    page.focus("#locate")
    page.keyboard.press("Enter")
    _wait_done(page)
    # The status line announced the result in place: the same live region (one that
    # is created or replaced as it changes is not read out).
    assert page.locator("#status[data-a11y-mark='1'][role=status]").count() == 1
    assert re.search(TEXT[lang]["found"], page.locator("#status").inner_text())
    visited = []
    for _ in range(25):
        page.keyboard.press("Tab")
        here = page.evaluate("""() => { const e = document.activeElement;
            return { tag: e.tagName, cls: String(e.className || ''), id: e.id,
                     text: (e.textContent || '').trim().slice(0, 40),
                     inMap: !!e.closest('.map-wrap, .leaflet-container'),
                     inNearest: !!e.closest('#nearest'),
                     nav: e.matches('#nearest a.nc-nav') }; }""")
        visited.append(here)
        if here["nav"]:
            break
    assert visited and visited[-1]["nav"], visited
    assert not any(v["inMap"] for v in visited), visited
    # Focus went on from the locate button (it was not lost to the page's start: the
    # top bar's links come before the button).
    assert not any(v["cls"] == "brand" for v in visited), visited
    assert len(visited) <= 6, visited
    assert errors == []


@LANGS
def test_open_closed_and_unknown_are_said_in_words(phone, base_url, registry, lang):
    page, errors = phone(lang, POINT)
    page.goto(base_url + "/" + _q(lang))
    page.uncheck("#f-open")
    _wait_done(page)
    words = STATE_TEXT[lang]
    truth = {r.id: r.open_status for r in registry.index.nearest(*POINT, 3, statuses=None)}
    assert truth == {sid: state for state, sid in STATE_IDS.items()}
    for state, sid in STATE_IDS.items():
        li = page.locator(f"#results li.result[data-station-id={sid}]")
        text = li.locator(".open-state").inner_text()
        assert text.startswith(words[state]), (state, text)
        # the other states' words are not there (the text tells them apart)
        assert not any(text.startswith(w) for s, w in words.items() if s != state)
        # the type, drawn as the rank badge's colour, is written out too
        assert li.locator(".r-type").inner_text() == (
            "Outdoor-worker rest station" if lang == "en" else "户外劳动者服务站点")
    # The rank numbers are white on the type's colour (pins and badges); axe cannot
    # judge a one-digit number, so every type colour is checked here.
    types = page.evaluate("JSON.parse(document.getElementById('rider-config')"
                          ".textContent).types")
    assert len(types) >= 6
    for code, (_, color) in types.items():
        assert _contrast("#ffffff", color) >= 4.5, (code, color, _contrast("#ffffff", color))
    # The station page says it in words too.
    for state, sid in STATE_IDS.items():
        page.goto(f"{base_url}/stations/{sid}" + _q(lang))
        assert page.locator(".open-state").first.inner_text().startswith(words[state])
    assert errors == []

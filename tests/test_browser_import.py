"""The back office in a real headless Chromium (Playwright with Debian's chromium): an
administrator creates an editor scoped to Yunlong; the editor imports a GBK CSV with
Chinese headers and GCJ-02 coordinates (column mapping, dry run with its row errors in
Chinese, the real import with its progress bar), imports it again and sees 0 new; the
new stations are in the rider page's nearest list."""

from __future__ import annotations

import pytest
from conftest_browser import LIST_IDS, launch_chromium, live_server, require_chromium

from locator.stations.coords import wgs84_to_gcj02
from locator.web import create_app

require_chromium(module=True)

PW = "Xuzhou-stations-2026"
EDITOR_PW = "Yunlong-editor-2026"
#: WGS-84 points inside Yunlong (320303).
YUNLONG = [(117.2300, 34.2400), (117.2350, 34.2440), (117.2260, 34.2380)]


def gbk_csv(*, bad: bool) -> bytes:
    lines = ["名称,类型,经度,纬度,设施,开放时间,负责人"]
    for i, (lon, lat) in enumerate(YUNLONG):
        x, y = wgs84_to_gcj02(lon, lat)
        kind = "休息室" if bad and i == 1 else "爱心驿站"
        lines.append(f"浏览器云龙驿站{i + 1}号,{kind},{x:.7f},{y:.7f},饮水机;手机充电,24/7,张{i}")
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


@pytest.fixture()
def server(registry, tmp_path):
    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none",
                      "LOCATOR_UPLOAD_DIR": str(tmp_path / "uploads")})
    app.extensions["locator.accounts"].add_user("boss", PW, role="admin", scope="",
                                                actor="pytest")
    with live_server(app) as url:
        yield url, app


@pytest.fixture()
def browser():
    with launch_chromium() as b:
        yield b


def _context(browser, errors, **options):
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1000, "height": 900},
                              **options)
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))

    def only_local(route):
        if route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            errors.append(f"external request: {route.request.url}")
            route.abort()
    page.route("**/*", only_local)
    return ctx, page


def _login(page, url, name, password):
    page.goto(url + "/staff/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector(".staff-nav")


def _upload_and_map(page, url, data: bytes):
    page.goto(url + "/staff/import")
    page.set_input_files("#import-file", files=[{"name": "云龙驿站.csv", "mimeType": "text/csv",
                                                 "buffer": data}])
    page.click("#import-upload")
    page.wait_for_selector("#mapping-form")
    # recognised Chinese headers are pre-filled; the unknown one is flagged and dropped
    assert page.input_value("select[name=col-0]") == "name"
    assert page.input_value("select[name=col-1]") == "type"
    assert page.input_value("select[name=col-2]") == "lon"
    assert page.input_value("select[name=col-3]") == "lat"
    assert "未识别" in page.inner_text("tr[data-header='负责人']")
    page.select_option("select[name=col-6]", "")
    page.check("input[name=crs][value=gcj02]")
    page.click("#mapping-continue")
    page.wait_for_selector("#dry-run-counts")


def _count(page, what):
    return int(page.inner_text(f"[data-count={what}]"))


def test_admin_creates_editor_who_imports_a_gbk_csv(server, browser, registry):
    url, app = server
    errors: list[str] = []
    # 1. the administrator creates an editor scoped to Yunlong
    ctx, page = _context(browser, errors)
    _login(page, url, "boss", PW)
    page.goto(url + "/staff/users")
    page.fill("#new-user-form input[name=name]", "yun.li")
    page.fill("#new-user-form input[name=display_name]", "李云")
    page.select_option("#new-user-form select[name=role]", "editor")
    page.select_option("#new-user-form select[name=scope]", "320303")
    page.fill("#new-user-form input[name=password]", EDITOR_PW)
    page.fill("#new-user-form input[name=password2]", EDITOR_PW)
    page.click("#create-user")
    assert "已创建账号 yun.li" in page.inner_text("#admin-notice")
    assert "320303（云龙区）" in page.inner_text("tr[data-user='yun.li'] .u-scope")
    ctx.close()

    # 2. the editor logs in and uploads a file with a bad type: the dry run says so
    ctx, page = _context(browser, errors)
    _login(page, url, "yun.li", EDITOR_PW)
    _upload_and_map(page, url, gbk_csv(bad=True))
    assert "试运行" in page.inner_text(".dry-run-note")
    assert (_count(page, "new"), _count(page, "errors")) == (2, 1)
    row = page.locator("#import-errors tr.issue").first
    assert row.locator(".i-row").inner_text() == "3"
    assert row.locator(".i-col").inner_text() == "类型"
    assert row.locator(".i-value").inner_text() == "休息室"
    assert "不是可接受的类型" in row.locator(".i-msg").inner_text()
    assert "母婴室" in row.locator(".i-accepted").inner_text()
    assert page.is_disabled("#import-run")
    # the preview map shows where the rows land (no tiles needed)
    page.wait_for_function("() => document.querySelector('.import-map')"
                           ".dataset.markerCount === '2'")

    # 3. the fixed file: 3 new, imported for real with a progress bar, then the result
    _upload_and_map(page, url, gbk_csv(bad=False))
    assert (_count(page, "new"), _count(page, "errors")) == (3, 0)
    page.click("#import-run")
    page.wait_for_selector("#import-result:not([hidden])")
    assert "3 新建，0 更新，0 未变" in page.inner_text("#import-result")

    # 4. the same file again: 0 new
    _upload_and_map(page, url, gbk_csv(bad=False))
    assert (_count(page, "new"), _count(page, "unchanged")) == (0, 3)
    page.click("#import-run")
    page.wait_for_selector("#import-result:not([hidden])")
    assert "0 新建，0 更新，3 未变" in page.inner_text("#import-result")
    ctx.close()

    new = {s.id: s for s in registry.store.all() if s.name.startswith("浏览器云龙驿站")}
    assert len(new) == 3
    assert {s.district_adcode for s in new.values()} == {"320303"}

    # 5. the new stations are in the rider page's nearest list
    ctx, page = _context(browser, errors, geolocation={
        "longitude": YUNLONG[0][0], "latitude": YUNLONG[0][1], "accuracy": 10},
        permissions=["geolocation"])
    page.goto(url + "/")
    page.uncheck("#f-open")
    page.click("#locate")
    page.wait_for_function(f"(want) => want.every(id => ({LIST_IDS})().includes(id))",
                           arg=list(new))
    first = page.evaluate(LIST_IDS)[0]
    assert new[first].name == "浏览器云龙驿站1号"
    ctx.close()
    assert errors == []

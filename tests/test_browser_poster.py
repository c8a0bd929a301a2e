"""A printed poster in real headless Chromium: its QR code decodes (zxing-cpp) to the
station's absolute ``/s/<code>`` URL; that URL opens the station page with the
"I'm here" form, and one tap there is counted. The poster prints on one A4 page, the
print button left out."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from conftest_browser import launch_chromium, live_server, registry_of, require_chromium
from staff_support import FAST

from locator.store.upkeep import CHECKINS
from locator.web import create_app

require_chromium(module=True)

PW = "Xuzhou-posters-2026"
#: A4 at 96 CSS px per inch: 210 x 297 mm.
A4 = {"width": 794, "height": 1123}


def _decode(png: bytes) -> list[str]:
    """The texts of the QR codes in a screenshot."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("L")
    try:
        import zxingcpp
    except ImportError:  # the fallback decoder named in the test extra's notes
        cv2 = pytest.importorskip("cv2", reason="QR decoding needs zxing-cpp or opencv")
        import numpy as np

        text, _, _ = cv2.QRCodeDetector().detectAndDecode(np.asarray(img))
        return [text] if text else []
    return [r.text for r in zxingcpp.read_barcodes(img) if r.format == zxingcpp.QRCode]


def test_printed_poster_qr_code_leads_to_the_station_and_a_checkin(tmp_path, tiny_stations):
    from locator.staff.service import AccountService

    with registry_of(tmp_path / "s.sqlite", tiny_stations) as registry:
        app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                          "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})
        svc = AccountService(registry.store.engine, hasher=FAST)
        app.extensions["locator.accounts"] = svc
        svc.add_user("admin1", PW, role="admin", scope="", actor="pytest")
        code = registry.store.get("T02").code
        with live_server(app) as base, launch_chromium() as browser:
            ctx = browser.new_context(viewport=A4, locale="zh-CN")
            page = ctx.new_page()
            page.set_default_timeout(10_000)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
            page.goto(base + "/staff/login?next=/staff/stations/T02/poster")
            page.fill("input[name=name]", "admin1")
            page.fill("input[name=password]", PW)
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r"/staff/stations/T02/poster$"))

            page.emulate_media(media="print")
            assert not page.locator("#print-button").is_visible()
            assert not page.locator(".staff-nav").is_visible()
            assert page.locator("#poster-sample").is_visible()
            png = page.locator("#poster").screenshot()
            (tmp_path / "poster.png").write_bytes(png)
            assert _decode(png) == [f"{base}/s/{code}"]
            pdf = page.pdf(format="A4", print_background=True)
            assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1  # one A4 sheet

            # A rider's phone scans the code: the station page, with the check-in form.
            phone = browser.new_context(viewport={"width": 390, "height": 844},
                                        locale="zh-CN")
            rider = phone.new_page()
            rider.set_default_timeout(10_000)
            rider.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
            rider.goto(_decode(png)[0])
            assert re.search(r"/stations/T02\?via=qr$", rider.url)
            assert rider.locator("h1.station-name").inner_text() == "测试驿站二号"
            button = rider.locator("button[data-occupation=courier]")
            box = button.bounding_box()
            assert box is not None and box["height"] >= 44 and box["width"] >= 44
            button.click()
            rider.wait_for_selector(".checkin[data-checked-in=counted]")
            assert "谢谢！已记录你的到站" in rider.locator(".checkin-thanks").inner_text()
            assert rider.url.endswith("via=qr")  # fetch, not a form post
            phone.close()
            ctx.close()
        with registry.store.engine.connect() as conn:
            rows = conn.execute(sa.select(CHECKINS.c.station_id, CHECKINS.c.occupation)
                                ).all()
        assert [tuple(r) for r in rows] == [("T02", "courier")]
        assert errors == []

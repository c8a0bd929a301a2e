"""Helpers shared by the page and browser tests (imported by them; not a pytest plugin):
generated station sets, stations with hostile names, and a live server in a thread."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from locator.stations.model import Station, station_from_dict
from locator.stations.vocab import AMENITIES, STATION_TYPES

#: Pengcheng Square, central Xuzhou (WGS-84).
XUZHOU = (117.1847, 34.2612)

XSS_NAME = "<img src=x onerror=window.__xss=1;alert(1)>"
XSS_ADDRESS = "</script><script>window.__xss=2;alert(2)</script>"
XSS_OPERATOR = "<svg onload=window.__xss=3>"


def xss_stations(near: tuple[float, float] = XUZHOU) -> list[Station]:
    """Two open stations within a few metres of ``near`` whose texts are markup."""
    lon, lat = near
    common = {"type": "outdoor_worker", "opening_hours": "24/7", "source": "sample",
              "amenities": "drinking_water;phone_charging"}
    return [
        station_from_dict({"id": "XSS1", "name": XSS_NAME, "lon": lon + 0.00002,
                           "lat": lat, "address": "<b>bold</b> & co", **common}),
        station_from_dict({"id": "XSS2", "name": "Script address \"'&", "lon": lon,
                           "lat": lat + 0.00003, "address": XSS_ADDRESS,
                           "operator": XSS_OPERATOR, **common}),
    ]


def many_stations(n: int, *, seed: int = 7, center: tuple[float, float] = XUZHOU,
                  spread_deg: float = 0.45) -> list[Station]:
    """``n`` illustrative stations scattered around ``center`` (a fixed seed)."""
    rng = random.Random(seed)
    types = STATION_TYPES.codes
    amenities = AMENITIES.codes
    hours = ("24/7", "Mo-Fr 08:00-18:00; PH off", "Mo-Su 09:00-21:00", None)
    out = []
    for i in range(n):
        out.append(Station(
            id=f"GEN-{i:05d}", name=f"测试站点{i:05d}", type=types[i % len(types)],
            lon=round(center[0] + rng.uniform(-spread_deg, spread_deg), 6),
            lat=round(center[1] + rng.uniform(-spread_deg * 0.8, spread_deg * 0.8), 6),
            amenities=tuple(a for a in amenities if rng.random() < 0.3),
            opening_hours=hours[i % len(hours)], source="sample"))
    return out


@contextmanager
def registry_of(path: Path, stations: Sequence[Station]) -> Iterator:
    """A :class:`locator.Registry` over a new SQLite file holding ``stations``."""
    from locator import Registry, StationStore

    store = StationStore(path, create=True)
    try:
        store.add_many(stations, actor="pytest")
        yield Registry(store)
    finally:
        store.dispose()


@contextmanager
def live_server(app) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 on a free port in a thread; yields the base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


CHROMIUM = "/usr/bin/chromium"
#: The rider page's result list, as station ids in order (a Playwright evaluate script).
LIST_IDS = "() => [...document.querySelectorAll('#results li.result')]" \
           ".map(li => li.dataset.stationId)"


def require_chromium(*, module: bool = False):
    """Playwright's sync API, or a skip (of the whole module with ``module``) where
    Debian's Chromium or the playwright package is missing."""
    import os

    import pytest

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} "
                    "(apt-get install chromium)", allow_module_level=module)
    return pytest.importorskip("playwright.sync_api",
                               reason="browser tests need the playwright Python package")


@contextmanager
def launch_chromium() -> Iterator:
    """Debian's headless Chromium with the flags this machine needs (no sandbox as root,
    no GPU, no background connections to a closed network)."""
    sync_api = require_chromium()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def chromium_page(errors: list[str], *, timeout_ms: int = 15_000) -> Iterator:
    """A page in Debian's headless Chromium (skips the test without it); console errors,
    uncaught exceptions and dialogs are appended to ``errors``."""
    with launch_chromium() as browser:
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.set_default_timeout(timeout_ms)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
            page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
            yield page
        finally:
            page.close()


#: The rider's phone in the browser tests: 390 x 844 CSS px.
PHONE = {"width": 390, "height": 844}


def phone_page(browser, contexts: list, point: tuple[float, float] | None = None, *,
               timeout_ms: int = 10_000, outside=None, **options) -> tuple[object, list[str]]:
    """A page on a touch phone (390 x 844 in Chinese unless ``options`` say otherwise),
    with the location granted at ``point`` when given: ``(page, errors)``. Console
    errors and uncaught exceptions go to ``errors``; the new context is appended to
    ``contexts`` (the caller closes them).

    Requests to 127.0.0.1 go through. Any other is handed to ``outside(route)`` when
    given, else recorded in ``errors`` as ``external: <url>`` and aborted: nothing comes
    from the internet."""
    options.setdefault("viewport", PHONE)
    options.setdefault("locale", "zh-CN")
    options.setdefault("has_touch", True)
    if point is not None:
        options["geolocation"] = {"longitude": point[0], "latitude": point[1],
                                  "accuracy": 10}
        options["permissions"] = ["geolocation"]
    ctx = browser.new_context(**options)
    contexts.append(ctx)
    errors: list[str] = []

    def route(r):
        if r.request.url.startswith("http://127.0.0.1:"):
            r.continue_()
        elif outside is not None:
            outside(r)
        else:
            errors.append(f"external: {r.request.url}")
            r.abort()

    page = ctx.new_page()
    page.route("**/*", route)
    page.set_default_timeout(timeout_ms)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    return page, errors

"""Weak signal and no signal: the offline pack (open intervals from the project's own
hours parser, the area's stations nearest first), its API, the service worker and the
manifest; and, in real headless Chromium, that the browser's nearest answer from the
pack is the server's, and that the page still loads with the network off."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from conftest_browser import XUZHOU, live_server, registry_of, require_chromium

from locator.cli.demo import load_sample_stations
from locator.index.offline import PACK_DAYS, offline_pack, open_intervals
from locator.stations.model import station_from_dict
from locator.web import create_app

TZ = ZoneInfo("Asia/Shanghai")
WED = datetime(2026, 7, 15, 6, 0, tzinfo=TZ)  # Wednesday 06:00 Beijing


def _ts(y, mo, d, h, mi=0) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=TZ).timestamp())


def test_open_intervals_follow_the_hours_parser():
    got = open_intervals("Mo-Fr 08:00-20:00", WED, days=3)
    assert got == [[_ts(2026, 7, 15, 8), _ts(2026, 7, 15, 20)],
                   [_ts(2026, 7, 16, 8), _ts(2026, 7, 16, 20)],
                   [_ts(2026, 7, 17, 8), _ts(2026, 7, 17, 20)]]
    assert open_intervals("24/7", WED, days=2) == [[int(WED.timestamp()),
                                                    int((WED + timedelta(days=2)).timestamp())]]
    assert open_intervals(None, WED) is None  # unknown stays unknown, not closed
    # over midnight: 22:00 to 02:00 the next day
    assert open_intervals("Mo-Su 22:00-02:00", WED, days=1) == [
        [_ts(2026, 7, 15, 22), _ts(2026, 7, 16, 2)]]


def _st(sid, lon, lat, **kw):
    return station_from_dict({"id": sid, "name": f"站{sid}", "type": "爱心驿站",
                              "lon": lon, "lat": lat, "source": "sample", **kw})


def test_the_pack_holds_the_nearest_stations_of_the_area():
    stations = [_st("A", 117.20, 34.26, opening_hours="24/7"), _st("B", 117.19, 34.26),
                _st("C", 117.30, 34.26, status="closed"), _st("D", 118.5, 34.26)]
    pack = offline_pack(stations, lon=117.18, lat=34.26, radius_m=20_000, limit=10, now=WED)
    assert [s["id"] for s in pack["stations"]] == ["B", "A", "C"]  # D is 120 km away
    by = {s["id"]: s for s in pack["stations"]}
    assert by["B"]["open"] is None and by["A"]["open"][0][0] == int(WED.timestamp())
    assert by["C"]["status"] == "closed"  # kept: the page leaves it out as the server does
    assert pack["complete"] and pack["sample_data"] and pack["earth_radius_m"] == 6371008.8
    assert pack["labels"]["types"]["outdoor_worker"][0] == "户外劳动者服务站点"
    assert by["A"]["hours_zh"] and by["B"]["hours_zh"] == "开放时间未知"
    small = offline_pack(stations, lon=117.18, lat=34.26, radius_m=20_000, limit=2, now=WED)
    assert [s["id"] for s in small["stations"]] == ["B", "A"] and not small["complete"]
    assert pack["valid_until"] == (WED + timedelta(days=PACK_DAYS)).isoformat()


@pytest.fixture()
def app(registry):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})


def test_the_pack_api(app, registry):
    c = app.test_client()
    r = c.get("/api/v1/offline?lon=117.18&lat=34.26")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-cache"
    body = r.get_json()
    ids = [s["id"] for s in body["stations"]]
    assert set(ids) == {s.id for s in registry.index.stations()}
    registry.update(ids[0], {"name": "改名后的驿站"}, actor="pytest")
    again = c.get("/api/v1/offline?lon=117.18&lat=34.26").get_json()
    assert again["stations"][0]["name"] == "改名后的驿站"  # a write makes a new pack


@pytest.mark.parametrize("query,field", [("lat=34.26", "lon"), ("lon=117.18&lat=95", "lat"),
                                         ("lon=117.18&lat=34.26&radius_km=500", "radius_km"),
                                         ("lon=117.18&lat=34.26&limit=x", "limit"),
                                         ("lon=117.18&lat=34.26&foo=1", "foo")])
def test_bad_pack_queries_are_400_naming_the_field(app, query, field):
    r = app.test_client().get(f"/api/v1/offline?{query}")
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert field in json.dumps(r.get_json())


def test_service_worker_and_manifest(app):
    c = app.test_client()
    sw = c.get("/sw.js")
    assert sw.status_code == 200 and sw.mimetype == "application/javascript"
    assert sw.headers["Service-Worker-Allowed"] == "/" and sw.headers["Cache-Control"] == \
        "no-cache"
    text = sw.get_data(as_text=True)
    assert "__VERSION__" not in text and "/vendor/leaflet/leaflet.js" in text
    m = c.get("/manifest.webmanifest")
    assert m.mimetype == "application/manifest+json"
    doc = m.get_json(force=True)
    assert doc["short_name"] == "工会驿站" and doc["start_url"] == "/"
    icon = c.get(doc["icons"][0]["src"])
    assert icon.status_code == 200 and b"<svg" in icon.get_data()
    icon.close()


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    require_chromium(module=True)
    db = tmp_path_factory.mktemp("off") / "off.sqlite"
    with registry_of(db, load_sample_stations()) as reg:
        app = create_app({"LOCATOR_REGISTRY": reg, "LOCATOR_RATE_LIMIT": 0,
                          "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})
        with live_server(app) as url:
            yield url


def test_the_browser_answers_from_the_pack_like_the_server(browser, base_url):
    """Forty random points in Xuzhou, with and without filters: the page's own answer
    from the pack lists the same stations, in the same order, at the same distances and
    with the same open state as /api/v1/nearest."""
    import urllib.request

    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(base_url + "/")
    page.add_script_tag(url="/static/offline.js")
    assert page.evaluate(f"() => LocatorOffline.refresh({XUZHOU[0]}, {XUZHOU[1]})"
                         ".then(p => p.stations.length)") > 100
    rng = random.Random(9)
    at = datetime.now(timezone.utc).astimezone(TZ).replace(second=0, microsecond=0) + \
        timedelta(hours=rng.randrange(0, 48))
    for i in range(40):
        lon = XUZHOU[0] + rng.uniform(-0.15, 0.15)
        lat = XUZHOU[1] + rng.uniform(-0.12, 0.12)
        q = {"lon": lon, "lat": lat, "k": 5, "mode": "ebike"}
        extra = ""
        if i % 3 == 1:
            q["amenities"] = ["drinking_water", "phone_charging"]
            extra += "&amenity=drinking_water&amenity=phone_charging"
        if i % 3 == 2:
            q["openAt"] = at.isoformat()
            extra += "&open_at=" + at.isoformat().replace("+", "%2B")
        url = (f"{base_url}/api/v1/nearest?lon={lon}&lat={lat}&k=5&mode=ebike{extra}")
        with urllib.request.urlopen(url) as resp:
            server = json.loads(resp.read())["results"]
        mine = page.evaluate(
            "q => LocatorOffline.nearest(Object.assign({}, q, {openAt: q.openAt ? "
            "new Date(q.openAt) : null})).then(a => a.results.map(r => "
            "[r.id, r.distance_m, r.open_status]))", q)
        assert [m[0] for m in mine] == [s["id"] for s in server], (i, q)
        for m, s in zip(mine, server, strict=True):
            assert m[1] == pytest.approx(s["distance_m"], abs=0.05)
            if "openAt" in q:
                assert m[2] == s["open_status"], (i, m, s["open_status"])
    ctx.close()


def test_with_the_network_off_the_page_still_loads(browser, base_url):
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(base_url + "/")
    page.evaluate("() => navigator.serviceWorker.register('/sw.js')")
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_function("() => caches.keys().then(k => k.length > 0)")
    page.wait_for_timeout(500)
    ctx.set_offline(True)
    page.reload()
    assert page.locator("h1, .brand").first.is_visible()
    assert page.evaluate("() => !!window.fetch && navigator.onLine === false")
    ctx.close()

"""Riders' reports over HTTP: ``POST /api/v1/reports`` (201, 200 for a repeat, 400 naming
the field in Chinese or English, 404, 413, 415, 429 with Retry-After), the status link,
the report page with and without JavaScript, notes rendered as text, the flag reaching
``/api/v1/nearest`` on every worker, and the proxy setting that makes the client's address
the forwarded one. On SQLite and PostgreSQL (tests/conftest.py, ``BOTH_BACKENDS``)."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

import pytest

from locator import Registry, StationStore
from locator.store.accounts import User
from locator.web import create_app

BASE = {"LOCATOR_RATE_LIMIT": 0, "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"}
CJK = re.compile(r"[\u4e00-\u9fff]")
REVIEWER = User(id=1, name="rev", display_name="审核员", role="reviewer", scope="",
                disabled=False, created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                changed_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                password_changed_at=datetime(2026, 1, 1, tzinfo=timezone.utc))


@pytest.fixture()
def app(registry):
    return create_app({"LOCATOR_REGISTRY": registry, **BASE})


@pytest.fixture()
def client(app):
    return app.test_client()


def _post(client, body, *, addr="10.0.0.1", **kw):
    return client.post("/api/v1/reports", json=body, environ_base={"REMOTE_ADDR": addr}, **kw)


def _reports(app):
    from locator.web.upkeep_service import get_reports

    with app.app_context():
        return get_reports()


# --------------------------------------------------------------------------- API


def test_post_creates_then_repeats_answer_200(app, client):
    r = _post(client, {"station_id": "T01", "kind": "locked", "note": "铁链锁着"})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert re.fullmatch(r"R[0-9A-Z]{8}", body["ref"])
    assert (body["status"], body["kind"], body["created"]) == ("new", "locked", True)
    assert body["station_name"] == "测试驿站一号" and body["status_label"] == "已收到，待处理"
    assert body["status_url"] == f"http://localhost/reports/{body['ref']}?lang=zh"
    assert r.headers["Location"] == f"/api/v1/reports/{body['ref']}"
    assert r.headers["Cache-Control"] == "no-store"
    again = _post(client, {"station_id": "T01", "kind": "locked"})
    assert again.status_code == 200 and again.get_json()["ref"] == body["ref"]
    assert again.get_json()["created"] is False
    stored = _reports(app).for_station("T01")
    assert [(s.ref, s.note) for s in stored] == [(body["ref"], "铁链锁着")]

    got = client.get(f"/api/v1/reports/{body['ref'].lower()}?lang=en")
    assert got.status_code == 200
    assert (got.get_json()["ref"], got.get_json()["status_label"]) == (
        body["ref"], "received, not yet handled")
    missing = client.get("/api/v1/reports/R00000000?lang=en")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert "no report has the reference" in missing.get_json()["detail"]


def test_a_form_encoded_post_is_accepted_from_this_site_only(client):
    r = client.post("/api/v1/reports", data={"station_id": "T02", "kind": "other",
                                             "lang": "en"})
    assert r.status_code == 201 and r.get_json()["kind_label"] == "something else"
    same = client.post("/api/v1/reports", data={"station_id": "T03", "kind": "other"},
                       headers={"Origin": "http://localhost"})
    assert same.status_code == 201
    forged = client.post("/api/v1/reports", data={"station_id": "T04", "kind": "locked"},
                         headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403 and forged.mimetype == "application/problem+json"


BAD = [
    ({"kind": "locked"}, "station_id"),
    ({"station_id": "T01", "kind": "exploded"}, "kind"),
    ({"station_id": "T01", "kind": ["locked"]}, "kind"),
    ({"station_id": "T01", "kind": "amenity"}, "amenity"),
    ({"station_id": "T02", "kind": "amenity", "amenity": "microwave"}, "amenity"),
    ({"station_id": "T01", "kind": "not_here", "lon": 117.19}, "lat"),
    ({"station_id": "T01", "kind": "not_here", "lon": 200, "lat": 34.2}, "lon"),
    ({"station_id": "T01", "kind": "not_here", "lon": 117.19, "lat": 34.26, "crs": "x"},
     "crs"),
    ({"station_id": "T01", "kind": "other", "note": "x" * 501}, "note"),
    ({"station_id": "T01", "kind": "other", "colour": "red"}, "colour"),
]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("body,field", BAD, ids=[
    "no-station", "kind", "kind-list", "no-amenity", "amenity-not-listed", "lat-missing",
    "lon-range", "crs", "note-long", "unknown-field"])
def test_bad_input_is_400_naming_the_field_in_the_language_asked(client, body, field, lang):
    r = _post(client, {**body, "lang": lang})
    assert r.status_code == 400
    assert r.mimetype == "application/problem+json"
    p = r.get_json()
    assert p["invalid_params"][0]["name"] == field
    assert bool(CJK.search(p["detail"])) is (lang == "zh"), p["detail"]
    assert field in p["detail"] or lang == "zh"


def test_the_language_also_comes_from_the_query(client):
    r = client.post("/api/v1/reports?lang=en", json={"station_id": "T01", "kind": "x"})
    assert r.status_code == 400 and r.get_json()["detail"].startswith("kind 'x' is not valid")
    r = client.post("/api/v1/reports", json={"station_id": "T01", "kind": "x"})
    assert r.get_json()["detail"].startswith("反馈类型")


@pytest.mark.parametrize("lang,text", [("zh", "没有编号为 'NOPE' 的站点"),
                                       ("en", "station 'NOPE' does not exist")])
def test_unknown_station_is_404(client, lang, text):
    r = _post(client, {"station_id": "NOPE", "kind": "locked", "lang": lang})
    assert r.status_code == 404 and r.get_json()["detail"] == text


def test_not_json_is_415_and_broken_json_400(client):
    r = client.post("/api/v1/reports", data="station_id=T01", content_type="text/plain")
    assert r.status_code == 415 and r.mimetype == "application/problem+json"
    r = client.post("/api/v1/reports", data="{nope", content_type="application/json")
    assert r.status_code == 400 and r.get_json()["invalid_params"][0]["name"] == "body"
    r = client.post("/api/v1/reports", json=["T01", "locked"])
    assert r.status_code == 400 and r.get_json()["invalid_params"][0]["name"] == "body"


def test_an_oversize_body_is_413(registry):
    client = create_app({"LOCATOR_REGISTRY": registry, **BASE,
                         "LOCATOR_MAX_CONTENT_LENGTH": 4096}).test_client()
    r = _post(client, {"station_id": "T01", "kind": "other", "note": "x" * 5000})
    assert r.status_code == 413 and r.mimetype == "application/problem+json"


def test_past_the_limit_is_429_with_retry_after(registry):
    app = create_app({"LOCATOR_REGISTRY": registry, **BASE, "LOCATOR_REPORT_RATE_LIMIT": 2})
    client = app.test_client()
    for sid in ("T01", "T02"):
        assert _post(client, {"station_id": sid, "kind": "other"}).status_code == 201
    r = _post(client, {"station_id": "T03", "kind": "other", "lang": "en"})
    assert r.status_code == 429 and r.mimetype == "application/problem+json"
    assert 3500 <= int(r.headers["Retry-After"]) <= 3601
    assert r.get_json()["detail"].startswith("too many reports from this device")
    # a repeat of an earlier report is still answered; another client is not limited
    assert _post(client, {"station_id": "T01", "kind": "other"}).status_code == 200
    assert _post(client, {"station_id": "T03", "kind": "other"},
                 addr="10.0.0.2").status_code == 201
    # the no-JavaScript page answers with a page, also 429
    page = client.get("/stations/T03/report")
    tok = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/stations/T03/report", data={"kind": "locked", "csrf_token": tok},
                    environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert r.status_code == 429 and "Retry-After" in r.headers and "反馈太频繁" in r.text


def _counting_flask_view(app) -> list[int]:
    """Count the requests that reach the Flask view of ``POST /api/v1/reports`` (the rest
    were answered by the WSGI fast path)."""
    calls: list[int] = []
    view = app.view_functions["api_reports.submit_report"]

    def counted(*a, **kw):
        calls.append(1)
        return view(*a, **kw)

    app.view_functions["api_reports.submit_report"] = counted
    return calls


def test_the_report_fast_path_answers_exactly_like_the_flask_view(app, client):
    """Once the service exists, a plain JSON report is answered by the WSGI fast path;
    with an Origin header the same report goes through Flask's view. Same status, JSON
    and headers (the reference and times aside)."""
    calls = _counting_flask_view(app)
    assert _post(client, {"station_id": "T05", "kind": "other"}).status_code == 201
    assert len(calls) == 1  # the first report builds the service, through Flask
    for n, (body, lang) in enumerate([
            ({"station_id": "T01", "kind": "locked", "note": "铁链锁着"}, ""),
            ({"station_id": "T02", "kind": "wrong_hours", "lang": "en"}, ""),
            ({"station_id": "T03", "kind": "other"}, "?lang=en")]):
        before = len(calls)
        fast = client.post(f"/api/v1/reports{lang}", json=body,
                           environ_base={"REMOTE_ADDR": f"10.1.0.{n}"})
        assert len(calls) == before  # not through Flask
        slow = client.post(f"/api/v1/reports{lang}", json=body,
                           headers={"Origin": "https://x.example"},
                           environ_base={"REMOTE_ADDR": f"10.2.0.{n}"})
        assert len(calls) == before + 1
        assert fast.status_code == slow.status_code == 201
        f, s = fast.get_json(), slow.get_json()
        assert f["ref"] != s["ref"]
        for key in ("ref", "created_at", "updated_at"):
            f.pop(key), s.pop(key)
        f["status_url"] = f["status_url"].replace(fast.get_json()["ref"], "REF")
        s["status_url"] = s["status_url"].replace(slow.get_json()["ref"], "REF")
        assert f == s
        assert fast.headers["Location"] == f"/api/v1/reports/{fast.get_json()['ref']}"
        for h in ("Content-Type", "Cache-Control", "Content-Security-Policy",
                  "X-Content-Type-Options"):
            assert fast.headers[h] == slow.headers[h], h
        # a repeat is answered by the fast path too, 200 with the first report
        again = client.post(f"/api/v1/reports{lang}", json=body,
                            environ_base={"REMOTE_ADDR": f"10.1.0.{n}"})
        assert (again.status_code, again.get_json()["ref"]) == (200, fast.get_json()["ref"])
    assert len(_reports(app).for_station("T01")) == 2


@pytest.mark.parametrize("body,status,field", [
    ({"station_id": "T01", "kind": "exploded"}, 400, "kind"),
    ({"station_id": "T01", "kind": "other", "colour": "red"}, 400, "colour"),
    ({"station_id": "NOPE", "kind": "other"}, 404, None),
    (["T01", "locked"], 400, "body")])
def test_errors_on_the_fast_path_are_answered_by_flask(app, client, body, status, field):
    """The fast path hands a report it cannot store to the Flask view, body intact, which
    answers problem+json naming the field; nothing is stored."""
    assert _post(client, {"station_id": "T05", "kind": "other"}).status_code == 201
    calls = _counting_flask_view(app)
    r = _post(client, body, addr="10.3.0.1", query_string={"lang": "en"})
    assert len(calls) == 1 and r.status_code == status
    assert r.mimetype == "application/problem+json"
    if field:
        assert r.get_json()["invalid_params"][0]["name"] == field
    assert len(_reports(app).for_station("T01")) == 0


# --------------------------------------------------------------------------- pages


def test_the_report_page_offers_the_kinds_and_the_stations_own_amenities(client):
    r = client.get("/stations/T02/report")
    assert r.status_code == 200 and "示例数据" in r.text  # tiny stations are samples
    kinds = re.findall(r'name="kind" value="(\w+)"', r.text)
    assert kinds == ["locked", "not_here", "wrong_hours", "amenity", "other"]
    amenities = re.findall(r'<option value="(\w+)"', r.text)
    assert amenities == ["seating", "drinking_water", "first_aid", "other"]
    assert 'data-map-key="report-pick"' in r.text and "/vendor/leaflet/leaflet.js" in r.text
    assert "locator_report_csrf=" in r.headers["Set-Cookie"]
    en = client.get("/stations/T02/report?lang=en&kind=locked")
    assert "Report a problem" in en.text and 'value="locked" required checked' in en.text
    assert client.get("/stations/NOPE/report?lang=en").status_code == 404


def _form_token(client, sid="T01"):
    page = client.get(f"/stations/{sid}/report")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def test_the_plain_form_reports_and_redirects_to_the_status_page(app, client):
    tok = _form_token(client)
    note = "<script>window.__xss=1</script> & 铁门"
    r = client.post("/stations/T01/report", data={
        "kind": "locked", "amenity": "microwave", "note": note, "lon": "", "lat": "",
        "crs": "wgs84", "csrf_token": tok})
    assert r.status_code == 303
    ref = re.fullmatch(r"/reports/(R\w{8})\?new=1", r.headers["Location"]).group(1)
    rep = _reports(app).get(ref)
    assert (rep.kind, rep.amenity, rep.note) == ("locked", None, note)  # stored as given
    page = client.get(r.headers["Location"])
    assert page.status_code == 200
    assert ref in page.text and "已收到你的反馈" in page.text and "锁门 / 关闭" in page.text
    assert "已收到，待处理" in page.text and "测试驿站一号" in page.text
    # the note is shown as text, never as markup
    assert "<script>window.__xss" not in page.text
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt; &amp; 铁门" in page.text


def test_the_plain_form_needs_its_token(client):
    client.get("/stations/T01/report")
    r = client.post("/stations/T01/report", data={"kind": "locked", "csrf_token": "forged"})
    assert r.status_code == 403 and "表单已过期" in r.text


def test_bad_input_in_the_plain_form_is_shown_next_to_the_field(client):
    tok = _form_token(client)
    r = client.post("/stations/T01/report?lang=en", data={
        "kind": "amenity", "amenity": "", "note": "no water", "csrf_token": tok})
    assert r.status_code == 400
    assert re.search(r'<p class="field-error" id="err-amenity" role="alert">say which amenity',
                     r.text)
    assert ">no water</textarea>" in r.text  # what was typed is kept
    assert 'value="amenity" required checked' in r.text


def test_the_status_page_shows_the_resolution_in_both_languages(app, client):
    svc = _reports(app)
    rep, _ = svc.submit("T01", "wrong_hours", client="x", note="<b>周末</b>不开")
    svc.review(REVIEWER, [rep.ref], "resolved", resolution="已改为 Mo-Fr <i>08:00</i>")
    zh = client.get(f"/reports/{rep.ref}")
    assert "已处理，信息已更新" in zh.text and "开放时间不对" in zh.text
    assert "已改为 Mo-Fr &lt;i&gt;08:00&lt;/i&gt;" in zh.text
    assert "&lt;b&gt;周末&lt;/b&gt;不开" in zh.text
    en = client.get(f"/reports/{rep.ref}?lang=en")
    assert "resolved; the record was updated" in en.text and "What was done" in en.text
    missing = client.get("/reports/R00000000?lang=en")
    assert missing.status_code == 404 and "no report has the reference" in missing.text
    assert client.get("/reports/R00000000?lang=zh").text.count("没有编号为") == 1


def test_report_links_on_the_station_page_the_results_and_the_map(app, client):
    st = client.get("/stations/T01")
    assert 'href="/stations/T01/report"' in st.text and "反馈问题" in st.text
    rider = client.get("/?lon=117.185&lat=34.2615&open_now=")
    assert 'href="/stations/T01/report"' in rider.text
    for c in "abc":
        _post(client, {"station_id": "T02", "kind": "locked"}, addr=f"10.1.0.{ord(c)}")
    mp = client.get("/map")
    data = re.search(r'<script type="application/json" id="[^"]+_data">(\{"v".*?)</script>',
                     mp.text).group(1)
    import json

    doc = json.loads(data)
    flagged = [doc["rows"][i][0] for i in doc["reported_closed"]]
    assert flagged == ["T02"]
    page = client.get("/stations/T02")
    assert 'data-reported-closed="1"' in page.text


# --------------------------------------------------------------------------- the flag


@pytest.fixture()
def url(db_url):
    return db_url


def test_three_riders_flag_a_station_on_every_worker(url, tiny_stations):
    """One worker takes the reports; another (its own registry, following the change log)
    answers nearest queries with the station flagged within a second."""
    store = StationStore(url, create=True)
    store.add_many(tiny_stations, actor="pytest")
    first = create_app({"LOCATOR_REGISTRY": Registry(store), **BASE}).test_client()
    other_reg = Registry.open(url)
    second = create_app({"LOCATOR_REGISTRY": other_reg, **BASE,
                         "LOCATOR_REFRESH_SECONDS": 0.05}).test_client()
    q = "/api/v1/nearest?lon=117.2000&lat=34.2700&k=3"
    try:
        before = second.get(q).get_json()["results"]
        assert before[0]["id"] == "T04" and before[0]["reported_closed"] is False
        for _ in range(20):  # a flood from one address: one report, no flag
            _post(first, {"station_id": "T04", "kind": "locked"}, addr="10.9.9.9")
        time.sleep(0.3)
        assert second.get(q).get_json()["results"][0]["reported_closed"] is False
        for addr in ("10.9.9.1", "10.9.9.2"):
            assert _post(first, {"station_id": "T04", "kind": "locked"},
                         addr=addr).status_code == 201
        t0 = time.monotonic()
        while True:
            res = second.get(q).get_json()["results"]
            if res[-1]["id"] == "T04" and res[-1]["reported_closed"]:
                break
            assert time.monotonic() - t0 < 1.0, "the flag did not reach the other worker"
            time.sleep(0.02)
        assert [r["reported_closed"] for r in res] == [False, False, True]
        assert first.get(q).get_json()["results"][-1]["id"] == "T04"
    finally:
        other_reg.stop_following()
        other_reg.store.dispose()
        store.dispose()


# --------------------------------------------------------------------------- proxies


@pytest.mark.parametrize("proxies,created", [(0, [True, False, False]), (1, [True] * 3)],
                         ids=["direct", "behind-one-proxy"])
def test_forwarded_addresses_count_only_behind_trusted_proxies(registry, proxies, created):
    app = create_app({"LOCATOR_REGISTRY": registry, **BASE,
                      "LOCATOR_TRUSTED_PROXIES": proxies})
    client = app.test_client()
    got = [client.post("/api/v1/reports", json={"station_id": "T01", "kind": "locked"},
                       headers={"X-Forwarded-For": f"198.51.100.{i}"}).get_json()["created"]
           for i in range(3)]
    assert got == created
    assert (registry.index.get("T01").reported_closed_at is not None) is (proxies == 1)


def test_trusted_proxies_must_not_be_negative():
    from locator.settings import load_settings

    with pytest.raises(ValueError, match="LOCATOR_TRUSTED_PROXIES='-1'"):
        load_settings(environ={"LOCATOR_TRUSTED_PROXIES": "-1"})
    assert load_settings(environ={}).trusted_proxies == 0


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/api/v1/reports/R%00AB", None),
    ("GET", "/reports/R%00AB", None),
    ("GET", "/s/AB%00CD", None),
    ("GET", "/stations/A%00B/report", None),
    ("POST", "/api/v1/reports", {"station_id": "A\x00B", "kind": "locked"}),
    ("POST", "/api/v1/checkins", {"station_id": "A\x00B", "occupation": "delivery"}),
], ids=["report-api", "report-page", "code", "report-form", "post-report", "post-checkin"])
def test_a_nul_byte_is_a_404_on_postgresql(pg_url, method, path, body):
    """PostgreSQL refuses NUL in text parameters; an id or reference holding one names no
    station or report, so the answer is 404, never the driver's error as a 500."""
    from locator.store import StationStore
    from locator.web import create_app

    StationStore(pg_url, create=True).dispose()
    app = create_app({"LOCATOR_DB": pg_url, "LOCATOR_REFRESH_SECONDS": 0})
    client = app.test_client()
    r = client.get(path) if method == "GET" else client.post(path, json=body)
    assert r.status_code == 404, r.get_data(as_text=True)[:300]


def test_a_flagged_station_is_not_shown_as_open_now(app, client):
    """Its hours may say open; three riders say it is not: the station page and the
    no-JS result list show "反馈未开放" instead of "营业中"."""
    st = client.get("/stations/T01?lang=zh").get_data(as_text=True)
    assert "open-reported" not in st
    for i in range(3):
        assert _post(client, {"station_id": "T01", "kind": "locked"},
                     addr=f"10.9.0.{i + 1}").status_code == 201
    st = client.get("/stations/T01").get_data(as_text=True)
    assert 'class="open-state open-reported">反馈未开放' in st
    assert 'class="open-state open-open"' not in st
    t01 = app.extensions["locator"].get().index.get("T01")
    page = client.get(f"/?lon={t01.lon}&lat={t01.lat}").get_data(as_text=True)
    card = page[page.index('data-station-id="T01"'):]
    card = card[:card.index("</li>")]
    assert "反馈未开放" in card and "营业中" not in card

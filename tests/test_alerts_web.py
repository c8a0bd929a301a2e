"""Heat and cold alerts over HTTP: the staff form (declare, edit, end, scope, audit), the
API (public list with point / district / time filters, staff writes with tokens, 4xx
naming the field in the asked language, never a 500) and the banner's context."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from staff_support import FAST, PW, StaffClient

from locator.stations.model import station_from_dict
from locator.time_util import zone
from locator.web import create_app

UTC = timezone.utc
#: Pengcheng Square (T01 of the tiny station set); by the shipped boundaries in Yunlong
#: district (320303).
CENTRE = (117.1850, 34.2615)
QUANSHAN = (117.1500, 34.2300)


def cooled_stations():
    common = {"type": "outdoor_worker", "source": "sample", "opening_hours": "24/7"}
    return [
        station_from_dict({"id": "C1", "name": "清凉驿站一号", "lon": 117.1860, "lat": 34.2620,
                           "amenities": "air_conditioning;drinking_water;seating", **common}),
        station_from_dict({"id": "C2", "name": "暂停的清凉驿站", "lon": 117.1852,
                           "lat": 34.2616, "status": "temporarily_closed",
                           "amenities": "air_conditioning;drinking_water", **common}),
        station_from_dict({"id": "C3", "name": "清凉驿站三号", "lon": 117.1950, "lat": 34.2680,
                           "amenities": "air_conditioning;drinking_water", **common}),
        station_from_dict({"id": "C4", "name": "只有空调的驿站", "lon": 117.1851, "lat": 34.2615,
                           "amenities": "air_conditioning", **common}),
        station_from_dict({"id": "W1", "name": "取暖驿站", "lon": 117.1870, "lat": 34.2625,
                           "amenities": "heating;drinking_water", **common}),
    ]


@pytest.fixture()
def app(registry):
    for st in cooled_stations():
        registry.add(st, actor="pytest")
    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})
    accounts = app.extensions["locator.accounts"]
    accounts.hasher = FAST
    for name, role, scope in (("admin1", "admin", ""), ("city", "editor", "320300"),
                              ("yun", "editor", "320303"), ("look", "viewer", "320300")):
        accounts.add_user(name, PW, role=role, scope=scope, actor="pytest")
    return app


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def tokens(app):
    accounts = app.extensions["locator.accounts"]
    return {n: {"Authorization": "Bearer " + accounts.create_token(n, actor="pytest").token}
            for n in ("admin1", "city", "yun", "look")}


def local(dt: datetime) -> str:
    return dt.astimezone(zone()).strftime("%Y-%m-%dT%H:%M")


def form(**kw):
    now = datetime.now(UTC)
    base = {"kind": "heat", "level": "red", "districts": ["320302"],
            "starts_at": local(now - timedelta(hours=1)),
            "ends_at": local(now + timedelta(hours=8)),
            "message_zh": "红色高温预警：请停止户外作业，到有空调的驿站休息",
            "message_en": "Red heat alert: stop outdoor work"}
    base.update(kw)
    items = []
    for k, v in base.items():
        for x in (v if isinstance(v, list) else [v]):
            items.append((k, x))
    return items


def audit(app, action_prefix="alert."):
    eng = app.extensions["locator"].registry.store.engine
    with eng.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT actor, action, target, result FROM audit_log WHERE action LIKE :p "
            "ORDER BY id"), {"p": action_prefix + "%"})]


def alert_ids(page: str) -> list[str]:
    return re.findall(r'<tr data-alert-id="(\d+)"', page)


# ------------------------------------------------------------------ the staff form


def test_staff_declare_edit_end(app):
    s = StaffClient(app, "city")
    page = s.text("/staff/alerts")
    assert 'id="alert-form"' in page and 'id="nav-alerts"' in page
    r = s.post("/staff/alerts", form())
    assert r.status_code == 303, r.get_data(as_text=True)[:500]
    assert "done=created" in r.headers["Location"]
    page = s.text(r.headers["Location"])
    assert "已发布预警 1。" in page and alert_ids(page) == ["1"]
    assert "高温红色预警" in page and "鼓楼区" in page and "进行中" in page

    edit = s.text("/staff/alerts/1")
    assert 'name="version" value="1"' in edit
    assert 'id="alert-banner"' in edit and "红色高温预警：请停止户外作业" in edit  # preview
    r = s.post("/staff/alerts/1", form(level="orange", districts=["320302", "320311"],
                                       version="1"))
    assert r.status_code == 303, r.get_data(as_text=True)[:800]
    page = s.text("/staff/alerts")
    assert "高温橙色预警" in page and "泉山区" in page
    # a stale version (the page was open while someone else saved) is refused
    r = s.post("/staff/alerts/1", form(level="yellow", version="1"))
    assert r.status_code == 409 and "已被他人修改" in r.get_data(as_text=True)

    r = s.post("/staff/alerts/1/end", {})
    assert r.status_code == 303
    page = s.text("/staff/alerts")
    assert alert_ids(page) == []
    ended = s.text("/staff/alerts?state=ended")
    assert alert_ids(ended) == ["1"] and "由 city 结束" in ended
    assert audit(app) == [("city", "alert.create", "alert:1", "ok"),
                          ("city", "alert.update", "alert:1", "ok"),
                          ("city", "alert.end", "alert:1", "ok")]
    eng = app.extensions["locator"].registry.store.engine
    with eng.connect() as conn:
        row = conn.execute(sa.text("SELECT level, districts, version, ended_by FROM "
                                   "weather_alerts")).one()
    assert tuple(row) == ("orange", "320302,320311", 3, "city")


def test_a_county_account_cannot_alert_another_district(app):
    s = StaffClient(app, "yun")
    page = s.text("/staff/alerts")
    # other districts are listed but cannot be ticked
    assert re.search(r'value="320302"[^>]*disabled', page)
    assert not re.search(r'value="320303"[^>]*disabled', page)
    r = s.post("/staff/alerts", form(districts=["320302"]))
    assert r.status_code == 403
    text = r.get_data(as_text=True)
    assert "320303（云龙区）" in text and "320302（鼓楼区）" in text
    assert 'value="红色高温预警' not in text and "红色高温预警：请停止户外作业" in text  # kept
    r = s.post("/staff/alerts", form(districts=["320303"]))
    assert r.status_code == 303
    # the city's alert is listed for the county only where it touches it, and not editable
    StaffClient(app, "city").post("/staff/alerts", form(districts=["320300"]))
    page = s.text("/staff/alerts")
    assert alert_ids(page) == ["2", "1"]
    assert 'action="/staff/alerts/2/end"' not in page and 'action="/staff/alerts/1/end"' in page
    r = s.post("/staff/alerts/2/end", {})
    assert r.status_code == 403
    r = s.post("/staff/alerts/2", form(districts=["320303"], version="1"))
    assert r.status_code == 403
    assert [row[3] for row in audit(app) if row[0] == "yun"] == ["denied", "ok", "denied",
                                                               "denied"]


def test_a_viewer_sees_the_list_but_no_form(app):
    StaffClient(app, "admin1").post("/staff/alerts", form())
    s = StaffClient(app, "look")
    page = s.text("/staff/alerts")
    assert alert_ids(page) == ["1"] and 'id="alert-form"' not in page
    assert "需要编辑或更高角色" in page
    r = s.post("/staff/alerts", form())
    assert r.status_code == 403


@pytest.mark.parametrize(("change", "field", "zh"), [
    ({"districts": []}, "districts", "至少选择一个区县"),
    ({"level": "blue"}, "level", "高温预警无效"),
    ({"ends_at": ""}, "ends_at", "请填写结束时间"),
    ({"starts_at": "2026-13-01T00:00"}, "starts_at", "不是有效时间"),
    ({"message_zh": ""}, "message_zh", "中文提示"),
], ids=["districts", "level", "ends_at", "starts_at", "message_zh"])
def test_staff_form_errors_name_the_field(app, change, field, zh):
    s = StaffClient(app, "admin1")
    r = s.post("/staff/alerts", form(**change))
    assert r.status_code == 400
    text = r.get_data(as_text=True)
    assert f'data-field="{field}"' in text and zh in text
    r = s.post("/staff/alerts?lang=en", form(**change))
    assert r.status_code == 400 and zh not in r.get_data(as_text=True)
    assert audit(app) == []


def test_staff_pages_need_login_and_csrf(app, client):
    r = client.get("/staff/alerts")
    assert r.status_code == 302 and "/staff/login" in r.headers["Location"]
    s = StaffClient(app, "admin1")
    r = s.client.post("/staff/alerts", data=dict(form()))
    assert r.status_code == 403  # no CSRF token
    assert s.get("/staff/alerts/99").status_code == 404
    assert s.get("/staff/alerts?state=bogus").status_code == 400


# ------------------------------------------------------------------ the API


def _json_alert(**kw):
    now = datetime.now(UTC)
    body = {"kind": "heat", "level": "orange", "districts": ["320302"],
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(hours=5)).isoformat(),
            "message_zh": "橙色高温预警", "message_en": "Orange heat alert"}
    body.update(kw)
    return body


def test_api_lists_active_alerts_with_filters(client, tokens):
    assert client.get("/api/v1/alerts").get_json()["count"] == 0
    r = client.post("/api/v1/alerts", json=_json_alert(districts=["320303"]),
                    headers=tokens["city"])
    assert r.status_code == 201, r.get_json()
    assert r.headers["Location"] == "/api/v1/alerts/1" and r.headers["ETag"] == '"1"'
    later = datetime.now(UTC) + timedelta(hours=2)
    client.post("/api/v1/alerts", json=_json_alert(
        kind="cold", level="blue", districts=["320311"], message_zh="寒潮",
        starts_at=later.isoformat()), headers=tokens["admin1"])

    body = client.get("/api/v1/alerts").get_json()
    assert [a["id"] for a in body["alerts"]] == [1]  # the cold one has not started
    a = body["alerts"][0]
    assert a["level_label"] == "高温橙色预警" and a["amenities"] == ["air_conditioning",
                                                                "drinking_water"]
    assert a["starts_at"].endswith("+08:00") and a["starts_at_utc"].endswith("Z")

    near = client.get(f"/api/v1/alerts?lon={CENTRE[0]}&lat={CENTRE[1]}").get_json()
    assert near["district"] == {"adcode": "320303", "name": "云龙区"} and near["count"] == 1
    far = client.get(f"/api/v1/alerts?lon={QUANSHAN[0]}&lat={QUANSHAN[1]}").get_json()
    assert far["district"]["adcode"] == "320311" and far["count"] == 0
    outside = client.get("/api/v1/alerts?lon=116.40&lat=39.90").get_json()
    assert outside["district"] is None and outside["alerts"] == []
    assert client.get("/api/v1/alerts?district=320300").get_json()["count"] == 1
    assert client.get("/api/v1/alerts?district=320311").get_json()["count"] == 0
    at = (later + timedelta(minutes=30)).isoformat()
    r = client.get("/api/v1/alerts", query_string={"district": "320311", "at": at})
    assert [x["kind"] for x in r.get_json()["alerts"]] == ["cold"]
    en = client.get("/api/v1/alerts?lang=en").get_json()["alerts"][0]
    assert en["message"] == "Orange heat alert" and en["level_label"] == "Heat warning, orange"
    assert client.get("/api/v1/alerts/2").get_json()["state"] == "scheduled"


def test_api_writes_need_staff_rights_and_scope(client, tokens, app):
    r = client.post("/api/v1/alerts", json=_json_alert())
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    r = client.post("/api/v1/alerts", json=_json_alert(), headers=tokens["look"])
    assert r.status_code == 403 and "editor" in r.get_json()["detail"]
    r = client.post("/api/v1/alerts", json=_json_alert(), headers=tokens["yun"])
    assert r.status_code == 403 and "320302（鼓楼区）" in r.get_json()["detail"]
    r = client.post("/api/v1/alerts", json=_json_alert(districts=["320303"]),
                    headers=tokens["yun"])
    assert r.status_code == 201
    r = client.patch("/api/v1/alerts/1", json={"level": "red"},
                     headers={**tokens["yun"], "If-Match": '"1"'})
    assert r.status_code == 200 and r.get_json()["level"] == "red" and r.headers["ETag"] == '"2"'
    r = client.patch("/api/v1/alerts/1", json={"level": "yellow"},
                     headers={**tokens["yun"], "If-Match": '"1"'})
    assert r.status_code == 409 and r.get_json()["current"]["version"] == 2
    r = client.patch("/api/v1/alerts/1", json={"districts": ["320300"]}, headers=tokens["yun"])
    assert r.status_code == 403
    r = client.post("/api/v1/alerts/1/end", headers=tokens["yun"])
    assert r.status_code == 200 and r.get_json()["state"] == "ended"
    r = client.post("/api/v1/alerts/1/end", headers=tokens["yun"])
    assert r.status_code == 409
    assert client.get("/api/v1/alerts").get_json()["count"] == 0
    assert [(x[0], x[1], x[3]) for x in audit(app)] == [
        ("look", "alert.create", "denied"), ("yun", "alert.create", "denied"),
        ("yun", "alert.create", "ok"), ("yun", "alert.update", "ok"),
        ("yun", "alert.update", "denied"), ("yun", "alert.end", "ok")]


@pytest.mark.parametrize(("query", "field", "zh", "en"), [
    ("lon=117.18", "lat", "缺少 lat", "lat is missing"),
    ("lon=200&lat=34", "lon", "经度", "lon"),
    ("lon=117.18&lat=x", "lat", "纬度", "lat"),
    ("lon=117.18&lat=34.26&crs=mars", "crs", "坐标系", "crs"),
    ("district=999999", "district", "不是已知的行政区划代码", "not a known adcode"),
    ("district=320302&lon=117.18&lat=34.26", "district", "二选一", "either district"),
    ("at=yesterday", "at", "无效", "not a time"),
    ("colour=red", "colour", "未知参数", "unknown parameter"),
    ("at=2026-07-15T12:00&at=2026-07-15T13:00", "at", "只能给一次", "give it once"),
], ids=["lat-missing", "lon-range", "lat-nan", "crs", "district", "both", "at", "unknown",
        "repeated"])
def test_api_list_errors_name_the_field(client, query, field, zh, en):
    r = client.get("/api/v1/alerts?" + query)
    assert r.status_code == 400, r.get_json()
    body = r.get_json()
    assert body["invalid_params"][0]["name"] == field and zh in body["detail"]
    r = client.get("/api/v1/alerts?" + query + "&lang=en")
    assert r.status_code == 400 and en in r.get_json()["detail"]


@pytest.mark.parametrize(("body", "field", "status"), [
    ({"level": "purple"}, "level", 400),
    ({"districts": "not-a-code"}, "districts", 400),
    ({"ends_at": 5}, "ends_at", 400),
    ({"message_zh": None}, "message_zh", 400),
    ({"wind": 6}, "wind", 400),
], ids=["level", "districts", "ends_at-number", "message-null", "unknown"])
def test_api_write_errors_name_the_field(client, tokens, body, field, status):
    r = client.post("/api/v1/alerts", json=_json_alert(**body), headers=tokens["admin1"])
    assert r.status_code == status, r.get_json()
    assert r.get_json()["invalid_params"][0]["name"] == field


@pytest.mark.parametrize(("method", "path", "kw"), [
    ("post", "/api/v1/alerts", {"data": "not json", "content_type": "text/plain"}),
    ("post", "/api/v1/alerts", {"json": [1, 2]}),
    ("post", "/api/v1/alerts", {"data": "{", "content_type": "application/json"}),
    ("patch", "/api/v1/alerts/1", {"json": {"level": "red"},
                                   "headers": {"If-Match": "nonsense"}}),
    ("patch", "/api/v1/alerts/abc", {"json": {}}),
    ("post", "/api/v1/alerts/99999999999999999999/end", {}),
    ("get", "/api/v1/alerts/0", {}),
    ("get", "/api/v1/alerts?lon=nan&lat=nan", {}),
    ("get", "/api/v1/alerts?at=99999-01-01", {}),
    ("get", "/api/v1/alerts?lon=117.18&lat=", {}),
], ids=["text", "array", "broken-json", "if-match", "bad-id", "huge-id", "zero", "nan",
        "year", "empty-lat"])
def test_api_never_answers_500(client, tokens, method, path, kw):
    client.post("/api/v1/alerts", json=_json_alert(), headers=tokens["admin1"])
    kw = dict(kw)  # the parameter is shared by both backends' runs: do not change it
    headers = {**tokens["admin1"], **kw.pop("headers", {})}
    r = getattr(client, method)(path, headers=headers, **kw)
    assert 400 <= r.status_code < 500, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.mimetype == "application/problem+json"


def test_openapi_paths_describe_every_alert_operation(app):
    from locator.web.api.alerts import openapi_paths

    paths = openapi_paths()
    ops = {(p, m) for p, item in paths.items() for m in item}
    assert ops == {("/api/v1/alerts", "get"), ("/api/v1/alerts", "post"),
                   ("/api/v1/alerts/{id}", "get"), ("/api/v1/alerts/{id}", "patch"),
                   ("/api/v1/alerts/{id}/end", "post")}
    schema = paths["/api/v1/alerts"]["post"]["requestBody"]["content"]["application/json"][
        "schema"]
    from locator.alerts import FIELDS

    assert set(schema["properties"]) - {"lang"} == set(FIELDS)
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.rule.startswith("/api/v1/alerts"):
                path = rule.rule.replace("<aid>", "{id}")
                for m in rule.methods - {"HEAD", "OPTIONS"}:
                    assert (path, m.lower()) in ops


# ------------------------------------------------------------------ the banner context


def test_banner_context_lists_the_nearest_cooled_open_stations(app, client, tokens):
    from flask import render_template

    from locator.web.api.alerts import alert_banner_context

    with app.test_request_context("/"):
        assert alert_banner_context()["alert"] is None
    client.post("/api/v1/alerts", json=_json_alert(level="red", districts=["320303"]),
                headers=tokens["admin1"])
    with app.test_request_context("/"):
        ctx = alert_banner_context(lon=CENTRE[0], lat=CENTRE[1])
        assert ctx["alert"]["level"] == "red" and ctx["where"] == "云龙区"
        # C2 is temporarily closed, C4 has no drinking water, W1 no air conditioning
        assert [s["id"] for s in ctx["stations"]] == ["C1", "C3"]
        assert ctx["config"]["alerts"][0]["amenities"] == ["air_conditioning",
                                                           "drinking_water"]
        html = render_template("partials/alert_banner.html", alert_banner=ctx)
    assert 'data-level="red"' in html and "高温红色预警" in html
    assert html.index("清凉驿站一号") < html.index("清凉驿站三号")
    with app.test_request_context("/"):
        far = alert_banner_context(lon=QUANSHAN[0], lat=QUANSHAN[1])
        html = render_template("partials/alert_banner.html", alert_banner=far)
    assert far["alert"] is None and 'id="alert-banner"' in html and " hidden>" in html

"""The REST writes and the staff login over HTTP: tokens and sessions, 401/403/409/428,
CSRF, district scopes, duplicates, audit rows, lockout, and text rendered as text."""

from __future__ import annotations

import re
import time

import pytest

from locator.web import create_app

PW = "Xuzhou-stations-2026"
# A point inside Yunlong district (320303) and one inside Quanshan (320311), WGS-84.
YUNLONG = (117.2300, 34.2400)
QUANSHAN = (117.1500, 34.2300)


@pytest.fixture()
def app(registry):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})


@pytest.fixture()
def svc(app):
    return app.extensions["locator.accounts"]


@pytest.fixture()
def tokens(svc):
    out = {}
    for name, role, scope in (("admin1", "admin", ""), ("yun", "editor", "320303"),
                              ("look", "viewer", "320300")):
        svc.add_user(name, PW, role=role, scope=scope, actor="pytest")
        out[name] = {"Authorization": "Bearer " + svc.create_token(name, actor="pytest").token}
    return out


@pytest.fixture()
def client(app):
    return app.test_client()


def _new(lonlat, name="新建驿站", **extra):
    return {"name": name, "type": "爱心驿站", "lon": lonlat[0], "lat": lonlat[1],
            "amenities": ["drinking_water", "phone_charging"], **extra}


def test_writes_need_credentials(client):
    r = client.post("/api/v1/stations", json=_new(YUNLONG))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.mimetype == "application/problem+json"
    r = client.post("/api/v1/stations", json=_new(YUNLONG),
                    headers={"Authorization": "Bearer slt_not-a-real-token"})
    assert r.status_code == 401 and "令牌" in r.get_json()["detail"]


def test_editor_creates_in_its_district_and_the_district_is_filled(client, tokens, registry):
    r = client.post("/api/v1/stations", json=_new(YUNLONG), headers=tokens["yun"])
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert r.headers["ETag"] == '"1"'
    assert body["district_adcode"] == "320303" and body["district_name"] == "云龙区"
    assert body["source"] == "staff"
    assert r.headers["Location"] == f"/api/v1/stations/{body['id']}"
    # visible in nearest right away (same process), exactly there
    near = client.get(f"/api/v1/nearest?lon={YUNLONG[0]}&lat={YUNLONG[1]}&k=1").get_json()
    assert near["results"][0]["id"] == body["id"]
    assert near["results"][0]["distance_m"] < 0.01


def test_editor_cannot_write_outside_its_scope(client, tokens, registry):
    r = client.post("/api/v1/stations", json=_new(QUANSHAN), headers=tokens["yun"])
    assert r.status_code == 403
    assert "320303" in r.get_json()["detail"]
    n = registry.store.count()
    r = client.patch("/api/v1/stations/T03", json={"name": "改"}, headers={
        **tokens["yun"], "If-Match": '"1"'})
    assert r.status_code == 403 and "320303" in r.get_json()["detail"]
    assert registry.store.get("T03").name == "测试母婴室" and registry.store.count() == n
    # moving its own station into another district is refused too
    r = client.patch("/api/v1/stations/T04", json={"lon": QUANSHAN[0], "lat": QUANSHAN[1]},
                     headers={**tokens["yun"], "If-Match": '"1"'})
    assert r.status_code == 403
    assert registry.store.get("T04").district_adcode == "320303"


def test_viewer_cannot_write(client, tokens):
    r = client.post("/api/v1/stations", json=_new(YUNLONG), headers=tokens["look"])
    assert r.status_code == 403 and "viewer" in r.get_json()["detail"]


def test_patch_needs_if_match_and_refuses_a_stale_version(client, tokens, registry):
    h = tokens["admin1"]
    r = client.patch("/api/v1/stations/T01", json={"name": "新名字"}, headers=h)
    assert r.status_code == 428 and "If-Match" in r.get_json()["detail"]
    r = client.patch("/api/v1/stations/T01", json={"name": "新名字"},
                     headers={**h, "If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["ETag"] == '"2"'
    assert r.get_json()["name"] == "新名字"
    r = client.patch("/api/v1/stations/T01", json={"name": "旧版本上的修改"},
                     headers={**h, "If-Match": '"1"'})
    assert r.status_code == 409
    body = r.get_json()
    assert body["current"]["name"] == "新名字" and body["current"]["version"] == 2
    assert r.headers["ETag"] == '"2"'
    assert registry.store.get("T01").name == "新名字"
    for bad in ('"x"', "abc", '"99999999999"'):
        r = client.patch("/api/v1/stations/T01", json={"name": "n"},
                         headers={**h, "If-Match": bad})
        assert r.status_code == 400


def test_patch_validates_fields(client, tokens, registry):
    h = {**tokens["admin1"], "If-Match": '"1"'}
    for body, field in (({"lat": 95}, "lat"), ({"type": "spa"}, "type"),
                        ({"version": 5}, "version"), ({"id": "X"}, "id"),
                        ({"opening_hours": "Mo-Fr 25:00-26:00"}, "opening_hours")):
        r = client.patch("/api/v1/stations/T01", json=body, headers=h)
        assert r.status_code == 400, body
        assert r.get_json()["invalid_params"][0]["name"] == field
    r = client.patch("/api/v1/stations/T01", data="not json", headers=h)
    assert r.status_code == 400
    assert registry.store.get("T01").version == 1


def test_delete_restore_and_history(client, tokens, registry):
    h = tokens["admin1"]
    assert client.delete("/api/v1/stations/T02", headers=h).get_json() == {
        "id": "T02", "deleted": True, "version": 2}
    assert client.get("/api/v1/stations/T02").status_code == 404
    assert "T02" not in registry.index
    assert client.delete("/api/v1/stations/T02", headers=h).status_code == 404
    r = client.post("/api/v1/stations/T02/restore", headers=h)
    assert r.status_code == 200 and r.headers["ETag"] == '"3"'
    assert client.get("/api/v1/stations/T02").status_code == 200
    hist = client.get("/api/v1/stations/T02/history", headers=h).get_json()["items"]
    assert [(x["op"], x["version"], x["actor"]) for x in hist] == [
        ("restore", 3, "admin1"), ("delete", 2, "admin1"), ("create", 1, "pytest")]
    assert hist[0]["changes"] == [] and hist[1]["changes"] == []  # no field was wiped
    assert client.get("/api/v1/stations/T02/history").status_code == 401


def test_history_has_field_diffs(client, tokens):
    h = {**tokens["admin1"], "If-Match": '"1"'}
    client.patch("/api/v1/stations/T01", json={"phone": "0516-12345678"}, headers=h)
    item = client.get("/api/v1/stations/T01/history", headers=tokens["admin1"]
                      ).get_json()["items"][0]
    assert item["changes"] == [{"field": "phone", "before": "", "after": "0516-12345678"}]


def test_writes_are_audited_in_the_same_transaction(client, tokens, svc):
    r = client.post("/api/v1/stations", json=_new(YUNLONG), headers=tokens["yun"])
    sid = r.get_json()["id"]
    client.post("/api/v1/stations", json=_new(QUANSHAN), headers=tokens["yun"])  # 403
    events = svc.audit_events(action="station.*")
    assert [(e.actor, e.action, e.target, e.result) for e in events] == [
        ("yun", "station.create", f"station:{sid}", "ok")]
    tok = svc.tokens("yun")[0]
    assert events[0].client == f"127.0.0.1 token:{tok.id}"  # which token made the write


def test_duplicate_warning_and_confirmation(client, tokens, svc):
    h = tokens["admin1"]
    near_t01 = (117.18505, 34.26152)  # ~5 m from T01, same type
    r = client.post("/api/v1/stations", json=_new(near_t01, name="另一个驿站"), headers=h)
    assert r.status_code == 409
    body = r.get_json()
    assert body["type"].endswith("duplicate-suspected")
    assert any(d.get("station_id") == "T01" or "T01" in str(d) for d in body["duplicates"])
    assert "米" in body["detail"]
    r = client.post("/api/v1/stations", json=_new(near_t01, name="另一个驿站",
                                                  confirm_duplicates=True), headers=h)
    assert r.status_code == 201
    ev = svc.audit_events(action="station.create")[0]
    assert "T01" in ev.detail["duplicates_confirmed"]


def test_english_messages_on_request(client, tokens):
    r = client.post("/api/v1/stations?lang=en", json=_new(QUANSHAN), headers=tokens["yun"])
    assert r.status_code == 403
    assert "scope" in r.get_json()["detail"] and "权限" not in r.get_json()["detail"]


def _login(client, name, password=PW, next_path=None):
    page = client.get("/staff/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))[1]
    data = {"csrf_token": token, "name": name, "password": password}
    if next_path:
        data["next"] = next_path
    return client.post("/staff/login", data=data)


def test_login_session_and_csrf(client, tokens, registry):
    r = _login(client, "yun")
    assert r.status_code == 303 and r.headers["Location"].endswith("/staff/")
    cookie = r.headers["Set-Cookie"]
    assert "locator_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; "auto" sets it behind HTTPS
    page = client.get("/staff/stations").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    r = client.post("/api/v1/stations", json=_new(YUNLONG))  # session, no CSRF token
    assert r.status_code == 403 and "CSRF" in r.get_json()["detail"]
    r = client.post("/api/v1/stations", json=_new(YUNLONG), headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    assert client.post("/staff/logout", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/staff/stations").status_code == 302  # back to the login page


def test_login_form_needs_its_csrf_token(client, tokens):
    r = client.post("/staff/login", data={"name": "yun", "password": PW})
    assert r.status_code == 403


def test_wrong_password_then_lockout(client, tokens):
    for _ in range(5):
        r = _login(client, "yun", "wrong-password-123")
        assert r.status_code in (401, 429)
    r = _login(client, "yun")  # even the right password, while locked
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    assert "锁定" in r.get_data(as_text=True)


def test_next_cannot_leave_the_back_office(app, tokens):
    r = _login(app.test_client(), "yun", next_path="https://evil.example/")
    assert r.headers["Location"].endswith("/staff/")
    r = _login(app.test_client(), "yun", next_path="//evil.example/staff")
    assert "evil" not in r.headers["Location"]
    r = _login(app.test_client(), "yun", next_path="/staff/stations?q=a")
    assert r.headers["Location"].endswith("/staff/stations?q=a")


def test_idle_session_expires(registry, tokens):
    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_SESSION_IDLE_SECONDS": 1})
    c = app.test_client()
    assert _login(c, "yun").status_code == 303
    assert c.get("/staff/stations").status_code == 200
    time.sleep(1.3)
    r = c.get("/staff/stations")
    assert r.status_code == 302 and "/staff/login" in r.headers["Location"]


def test_script_in_a_name_is_stored_and_shown_as_text(client, tokens, registry):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    r = client.post("/api/v1/stations", json=_new(YUNLONG, name=evil), headers=tokens["admin1"])
    assert r.status_code == 201
    assert registry.store.get(r.get_json()["id"]).name == evil
    _login(client, "admin1")
    html = client.get("/staff/stations?q=script").get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "<img src=x" not in html


def test_export_download_is_scoped_labelled_and_audited(client, tokens, svc, registry):
    import csv
    import io

    from locator.stations.coords import wgs84_to_gcj02

    _login(client, "yun")
    r = client.get("/staff/export?format=csv&crs=gcj02")
    assert r.status_code == 200 and r.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert sorted(x["id"] for x in rows) == ["T04", "T07"]  # Yunlong's stations only
    t04 = registry.store.get("T04")
    glon, glat = wgs84_to_gcj02(t04.lon, t04.lat)
    row = next(x for x in rows if x["id"] == "T04")
    assert float(row["lon"]) == pytest.approx(glon, abs=1e-6)
    assert float(row["lat"]) == pytest.approx(glat, abs=1e-6)
    assert "示例" in row["notice"]  # the tiny set is sample data, and says so
    ev = svc.audit_events(action="station.export")[0]
    assert (ev.actor, ev.detail["rows"], ev.detail["crs"]) == ("yun", 2, "gcj02")
    assert client.get("/staff/export?format=doc").status_code == 400


def test_an_explicit_no_district_is_kept(app, tokens, svc):
    editor = app.extensions["locator.editor"]
    admin = svc.user("admin1")
    ctx = app.app_context()  # the duplicate check reads the app's index
    ctx.push()
    st = editor.create(admin, _new(YUNLONG, name="无归属驿站", district_adcode=""),
                       locate_district=False)
    assert st.district_adcode == "" and st.district_name == ""
    auto = editor.create(admin, _new((117.2302, 34.2402), name="自动归属驿站"),
                         confirm_duplicates=True)
    assert auto.district_adcode == "320303"
    ctx.pop()

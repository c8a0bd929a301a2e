"""The administration pages as an administrator uses them: accounts (create, role and
scope, disable, reset), API tokens, the audit log with its filters and CSV download."""

from __future__ import annotations

import csv
import io
import re

import pytest

from locator.web import create_app

PW = "Xuzhou-stations-2026"
NEW_PW = "Yunlong-editor-2026"


@pytest.fixture()
def app(registry):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})


@pytest.fixture()
def svc(app):
    s = app.extensions["locator.accounts"]
    s.add_user("boss", PW, role="admin", scope="", display_name="市总管理员", actor="pytest")
    s.add_user("look", PW, role="viewer", scope="320300", actor="pytest")
    return s


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html)[1]


def login(client, name, password=PW):
    token = _csrf(client.get("/staff/login").get_data(as_text=True))
    return client.post("/staff/login", data={"csrf_token": token, "name": name,
                                             "password": password})


def page(client, path):
    r = client.get(path)
    return r, r.get_data(as_text=True)


def _admin(app, svc):
    c = app.test_client()
    assert login(c, "boss").status_code == 303
    _, html = page(c, "/staff/users")
    return c, _csrf(html)


def _create(c, csrf, **over):
    data = {"csrf_token": csrf, "name": "yun.li", "display_name": "李云", "role": "editor",
            "scope": "320303", "password": NEW_PW, "password2": NEW_PW, **over}
    return c.post("/staff/users", data=data)


def test_admin_creates_an_editor_scoped_to_yunlong_who_then_logs_in(app, svc):
    c, csrf = _admin(app, svc)
    r, html = page(c, "/staff/users")
    assert r.status_code == 200
    # the scope select offers Xuzhou and its districts, with their names
    assert 'value="320300"' in html and "徐州市" in html
    assert 'value="320303"' in html and "云龙区" in html
    assert "市总管理员" in html
    r = _create(c, csrf)
    assert r.status_code == 303 and "done=created" in r.headers["Location"]
    _, html = page(c, r.headers["Location"])
    assert "已创建账号 yun.li" in html
    row = re.search(r'<tr data-user="yun.li".*?</tr>', html, re.S)[0]
    assert "editor" in row and "320303（云龙区）" in row and "李云" in row and "0 天" in row
    u = svc.user("yun.li")
    assert (u.role, u.scope, u.disabled) == ("editor", "320303", False)
    # the new editor logs in, may import, may not manage accounts
    e = app.test_client()
    assert login(e, "yun.li", NEW_PW).status_code == 303
    assert e.get("/staff/import").status_code == 200
    r = e.get("/staff/users")
    assert r.status_code == 403 and "editor" in r.get_data(as_text=True)


@pytest.mark.parametrize("over, status, zh, en", [
    ({"password2": "Something-else-2026"}, 400, "两次输入的密码不一致", "do not match"),
    ({"password": "password123", "password2": "password123"}, 400, "密码", "password"),
    ({"name": "Bad Name!"}, 400, "账号名", "account name"),
    ({"role": "superuser"}, 400, "角色", "role"),
    ({"name": "boss"}, 409, "已存在", "already exists"),
], ids=["mismatch", "weak", "bad-name", "bad-role", "taken"])
def test_create_errors_in_the_page_language(app, svc, over, status, zh, en):
    c, csrf = _admin(app, svc)
    r = _create(c, csrf, **over)
    html = r.get_data(as_text=True)
    assert r.status_code == status
    err = re.search(r'id="create-error">([^<]*)<', html)[1]
    assert zh in err
    assert 'value="李云"' in html  # what was typed is kept (but never the password)
    assert NEW_PW not in html
    r = c.post("/staff/users?lang=en", data={
        "csrf_token": csrf, "name": "yun.li", "display_name": "", "role": "editor",
        "scope": "320303", "password": NEW_PW, "password2": NEW_PW, **over})
    err = re.search(r'id="create-error">([^<]*)<', r.get_data(as_text=True))[1]
    assert en in err.lower() and not re.search(r"[\u4e00-\u9fff]", err.replace("李云", ""))
    assert "yun.li" not in [u.name for u in svc.users()] or over.get("name") == "boss"


def test_a_non_admin_gets_403(app, svc):
    c = app.test_client()
    login(c, "look")
    for path in ("/staff/users", "/staff/audit", "/staff/audit.csv",
                 "/staff/users/boss/tokens"):
        r = c.get(path)
        assert r.status_code == 403, path
        assert "viewer" in r.get_data(as_text=True)
    csrf = _csrf(c.get("/staff/stations").get_data(as_text=True))
    r = c.post("/staff/users", data={"csrf_token": csrf, "name": "x2", "role": "admin",
                                     "scope": "", "password": NEW_PW, "password2": NEW_PW})
    assert r.status_code == 403
    assert "x2" not in [u.name for u in svc.users()]
    # and without logging in, the pages send the visitor to the login page
    r = app.test_client().get("/staff/users")
    assert r.status_code == 302 and "/staff/login" in r.headers["Location"]


def test_forms_without_the_csrf_token_are_refused(app, svc):
    c, _csrf_token = _admin(app, svc)
    r = c.post("/staff/users", data={"name": "nocsrf", "role": "viewer", "scope": "320300",
                                     "password": NEW_PW, "password2": NEW_PW})
    assert r.status_code == 403
    assert c.post("/staff/users/look/disable").status_code == 403
    assert not svc.user("look").disabled


def test_role_scope_disable_enable_and_reset(app, svc):
    c, csrf = _admin(app, svc)
    _create(c, csrf)
    r = c.post("/staff/users/yun.li/role", data={"csrf_token": csrf, "role": "reviewer",
                                                  "scope": "320300"})
    assert r.status_code == 303
    assert (svc.user("yun.li").role, svc.user("yun.li").scope) == ("reviewer", "320300")
    e = app.test_client()
    assert login(e, "yun.li", NEW_PW).status_code == 303
    assert c.post("/staff/users/yun.li/disable", data={"csrf_token": csrf}).status_code == 303
    assert svc.user("yun.li").disabled
    assert e.get("/staff/stations").status_code == 302  # its session ended
    assert login(app.test_client(), "yun.li", NEW_PW).status_code == 401
    _, html = page(c, "/staff/users")
    assert "已停用" in re.search(r'<tr data-user="yun.li".*?</tr>', html, re.S)[0]
    assert c.post("/staff/users/yun.li/enable", data={"csrf_token": csrf}).status_code == 303
    r = c.post("/staff/users/yun.li/password", data={"csrf_token": csrf, "password": "short",
                                                      "password2": "short"})
    assert r.status_code == 400 and "至少需要" in r.get_data(as_text=True)
    r = c.post("/staff/users/yun.li/password", data={
        "csrf_token": csrf, "password": "Another-pass-2027", "password2": "Another-pass-2027"})
    assert r.status_code == 303
    assert login(app.test_client(), "yun.li", "Another-pass-2027").status_code == 303
    # an administrator cannot disable itself or change its own role
    r = c.post("/staff/users/boss/disable", data={"csrf_token": csrf})
    assert r.status_code == 403 and "不能停用自己的账号" in r.get_data(as_text=True)


def test_a_city_admin_manages_only_accounts_inside_its_scope(app, svc):
    svc.add_user("city", PW, role="admin", scope="320300", actor="pytest")
    svc.add_user("gulou", PW, role="editor", scope="320302", actor="pytest")
    c = app.test_client()
    login(c, "city")
    r, html = page(c, "/staff/users")
    names = re.findall(r'<tr data-user="([^"]+)"', html)
    assert "gulou" in names and "look" in names and "boss" not in names  # boss is national
    assert 'value="000000"' not in html  # it cannot hand out a national scope
    r = _create(c, _csrf(html), scope="000000")
    assert r.status_code == 403
    assert "320300（徐州市）" in r.get_data(as_text=True)
    r = c.post("/staff/users/boss/disable", data={"csrf_token": _csrf(html)})
    assert r.status_code == 403 and not svc.user("boss").disabled


def test_tokens_shown_once_used_and_revoked(app, svc):
    c, csrf = _admin(app, svc)
    _create(c, csrf)
    r = c.post("/staff/users/yun.li/tokens", data={"csrf_token": csrf, "label": "同步脚本"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    token = re.search(r'<code id="new-token" class="token-text">([^<]+)</code>', html)[1]
    assert token.startswith("slt_") and "只显示这一次" in html
    _, again = page(c, "/staff/users/yun.li/tokens")
    assert token not in again and "同步脚本" in again  # listed, never shown again
    tid = re.search(r'data-token-id="(\d+)"', again)[1]
    h = {"Authorization": f"Bearer {token}"}
    body = {"name": "令牌驿站", "type": "爱心驿站", "lon": 117.23, "lat": 34.24}
    assert c.application.test_client().post("/api/v1/stations", json=body,
                                            headers=h).status_code == 201
    r = c.post(f"/staff/tokens/{tid}/revoke", data={"csrf_token": csrf})
    assert r.status_code == 303
    _, html = page(c, r.headers["Location"])
    assert "已撤销令牌" in html and "已撤销 20" in html
    assert app.test_client().post("/api/v1/stations", json=body,
                                  headers=h).status_code == 401


def test_audit_page_lists_login_and_user_create_newest_first(app, svc):
    c, csrf = _admin(app, svc)
    _create(c, csrf)
    r, html = page(c, "/staff/audit")
    assert r.status_code == 200
    actions = re.findall(r'<tr data-action="([^"]+)"', html)
    assert actions.index("user.create") < actions.index("login")  # newest first
    row = re.search(r'<tr data-action="user.create".*?</tr>', html, re.S)[0]
    assert "boss" in row and "user:yun.li" in row and "320303" in row
    # filters: action prefix, actor, result, dates
    _, html = page(c, "/staff/audit?action=user.")
    assert set(re.findall(r'<tr data-action="([^"]+)"', html)) == {"user.create"}
    _, html = page(c, "/staff/audit?actor=nobody")
    assert "没有符合条件的记录" in html
    login(app.test_client(), "boss", "wrong-password-123")
    _, html = page(c, "/staff/audit?result=failed")
    assert re.findall(r'<tr data-action="([^"]+)"', html) == ["login"]
    _, html = page(c, "/staff/audit?since=2000-01-01&until=2000-01-02")
    assert "没有符合条件的记录" in html
    r = c.get("/staff/audit?since=yesterday")
    assert r.status_code == 400 and "YYYY-MM-DD" in r.get_data(as_text=True)
    _, html = page(c, "/staff/audit?lang=en")
    assert "Audit log" in html and "Newest first" in html


def test_audit_paging(app, svc):
    from locator.staff import audit

    for i in range(120):
        audit.record(svc.engine, actor="bulk", action="test.fill", target=f"t{i}",
                     result="ok")
    c, _ = _admin(app, svc)
    _, html = page(c, "/staff/audit?actor=bulk")
    assert len(re.findall(r"<tr data-action=", html)) == 50
    assert "第 1 / 3 页" in html and 'rel="next"' in html
    assert re.search(r'<tr data-action="test.fill".*?t119', html, re.S)
    _, html = page(c, "/staff/audit?actor=bulk&page=3")
    assert len(re.findall(r"<tr data-action=", html)) == 20 and ">t0<" in html


def test_audit_csv_has_a_bom_and_neutralises_formulas(app, svc):
    evil = "=HYPERLINK(\"http://x\",\"y\")"
    login(app.test_client(), evil, "wrong-password-123")  # a failed login claims that name
    c, _ = _admin(app, svc)
    r = c.get("/staff/audit.csv")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in r.headers["Content-Disposition"]
    raw = r.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["id", "at_utc", "actor"]
    actors = [row[2] for row in rows[1:]]
    assert "'" + evil.lower() in actors and evil.lower() not in actors
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)
    # filters apply to the download too, and the export itself is audited
    r = c.get("/staff/audit.csv?action=login")
    rows = list(csv.reader(io.StringIO(r.get_data().decode("utf-8-sig"))))
    assert {row[4] for row in rows[1:]} == {"login"}
    assert svc.audit_events(action="audit.export", actor="pytest") == []
    assert len(svc.store.audit_events(action="audit.export")) == 2

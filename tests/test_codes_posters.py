"""Station codes, posters and check-ins through the Flask test client: ``/s/<code>``
(typo-tolerant, 404 for unknown and deleted), the staff poster (name, hours in words,
code, QR, sample mark, scope), ``POST /api/v1/checkins`` (201, 200 for a repeat, 4xx
naming the field, 404, 409, 429 with Retry-After), the no-JavaScript check-in form, and
``/staff/visits`` with its CSV and demand downloads.

One app and one database for the module. Check-ins are made from distinct client
addresses (``REMOTE_ADDR``) so that tests do not share a rate limit; the check-in book
runs on a hand-moved clock.
"""

from __future__ import annotations

import html as htmllib
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from staff_support import FAST, Clock

from locator.stations.hours_text import describe_hours
from locator.stations.model import station_from_dict
from locator.store.upkeep import CHECKINS
from locator.upkeep.checkins import CheckinBook
from locator.web import create_app

PW = "Xuzhou-posters-2026"
#: A station whose code holds a 0 and a 1, to type as O and I/L.
TYPO = station_from_dict({"id": "P01", "name": "【示例】海报测试驿站", "type": "outdoor_worker",
                          "lon": 117.2101, "lat": 34.2502, "district_adcode": "320303",
                          "district_name": "云龙区", "code": "K01MXY", "source": "sample",
                          "opening_hours": "Mo-Fr 08:00-18:00; PH off",
                          "amenities": "drinking_water;phone_charging;microwave",
                          "address": "云龙区测试路 1 号"})
#: A real (not sample) station, to see that the sample mark is not printed on it.
REAL = station_from_dict({"id": "R01", "name": "和平路爱心驿站", "type": "outdoor_worker",
                          "lon": 117.2102, "lat": 34.2602, "district_adcode": "320303",
                          "district_name": "云龙区", "source": "official",
                          "opening_hours": "24/7"})


@pytest.fixture(scope="module")
def registry(tmp_path_factory, tiny_stations):
    from locator import Registry, StationStore

    store = StationStore(tmp_path_factory.mktemp("codes") / "s.sqlite", create=True)
    store.add_many([*tiny_stations, TYPO, REAL], actor="pytest")
    store.delete("T09", actor="pytest")
    yield Registry(store)
    store.dispose()


@pytest.fixture(scope="module")
def clock():
    return Clock()


@pytest.fixture(scope="module")
def app(registry, clock):
    from locator.staff.service import AccountService

    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})
    engine = registry.store.engine
    svc = AccountService(engine, hasher=FAST)
    app.extensions["locator.accounts"] = svc
    app.extensions["locator.checkins"] = CheckinBook(engine, rate_limit=6, clock=clock)
    for name, role, scope in (("admin1", "admin", ""), ("yun", "editor", "320303"),
                              ("look", "viewer", "320300")):
        svc.add_user(name, PW, role=role, scope=scope, actor="pytest")
    return app


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


def _code(registry, sid: str) -> str:
    return registry.store.get(sid, include_deleted=True).code


def _text(resp) -> str:
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", resp.get_data(as_text=True)))


class Staff:
    def __init__(self, app, name: str):
        self.client = app.test_client()
        page = self.client.get("/staff/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
        r = self.client.post("/staff/login", data={"csrf_token": token, "name": name,
                                                   "password": PW})
        assert r.status_code == 303, r.get_data(as_text=True)

    def get(self, path: str):
        self.client.delete_cookie("lang")
        return self.client.get(path)


@pytest.fixture(scope="module")
def admin(app):
    return Staff(app, "admin1")


@pytest.fixture(scope="module")
def yun(app):
    return Staff(app, "yun")


def _checkins(registry, sid: str) -> int:
    with registry.store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(CHECKINS)
                            .where(CHECKINS.c.station_id == sid)).scalar_one()


# ----------------------------------------------------------------------- /s/<code>


@pytest.mark.parametrize("typed", ["K01MXY", "k01mxy", "KOIMXY", "k-o-l m x y", "K01-MXY",
                                   "%20K01MXY%20"],
                         ids=["exact", "lower", "O-and-I", "dashes-spaces-L", "grouped",
                              "padded"])
def test_a_code_opens_its_station_page(client, typed):
    r = client.get(f"/s/{typed}")
    assert r.status_code == 302
    loc = urlsplit(r.headers["Location"])
    assert loc.path == "/stations/P01"
    assert parse_qs(loc.query) == {"via": ["qr"]}
    page = client.get(r.headers["Location"])
    assert page.status_code == 200 and "【示例】海报测试驿站" in _text(page)


def test_the_redirect_keeps_the_language(client):
    r = client.get("/s/k01mxy?lang=en")
    assert parse_qs(urlsplit(r.headers["Location"]).query) == {"via": ["qr"], "lang": ["en"]}
    client.delete_cookie("lang")


@pytest.mark.parametrize(("lang", "words"), [
    ("zh", ["站点编号未找到", "没有站点使用编号", "搜索附近的驿站"]),
    ("en", ["Station code not found", "No station has the code", "Search for nearby"]),
], ids=["zh", "en"])
def test_an_unknown_code_is_a_404_page_in_the_page_language(client, lang, words):
    r = client.get(f"/s/ZZZZ99?lang={lang}")
    client.delete_cookie("lang")
    assert r.status_code == 404 and r.mimetype == "text/html"
    text = _text(r)
    for w in words:
        assert w in text
    assert "ZZZZ99" in text
    assert re.search(r'id="search-link" href="/(\?lang=en)?"', r.get_data(as_text=True))


def test_a_deleted_station_code_is_unknown_and_a_closed_one_opens(client, registry):
    assert client.get(f"/s/{_code(registry, 'T09')}").status_code == 404  # deleted
    r = client.get(f"/s/{_code(registry, 'T06')}")  # closed
    assert r.status_code == 302
    page = client.get(r.headers["Location"])
    assert page.status_code == 200 and "已关闭" in _text(page)
    assert "checkin-form" not in page.get_data(as_text=True)  # no check-ins there


def test_the_retype_form_and_overlong_codes(client):
    r = client.get("/s?code=k01+mxy")
    assert r.status_code == 302 and r.headers["Location"].startswith("/s/k01")
    assert client.get(r.headers["Location"]).status_code == 302
    r = client.get("/s?code=")  # nothing typed yet: the entry form, not an error
    assert r.status_code == 200 and "输入站点编号" in r.get_data(as_text=True)
    assert client.get("/s/" + "A" * 41).status_code == 404
    assert client.get("/s/%00K01MXY").status_code == 404  # never sent to the database


# ----------------------------------------------------------------------- the poster


def test_the_poster_shows_the_station_in_both_languages(admin, registry):
    r = admin.get("/staff/stations/P01/poster")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    text = _text(r)
    assert "【示例】海报测试驿站" in text
    assert describe_hours(TYPO.opening_hours, "zh") in text
    assert "周一至周五 08:00–18:00" in text
    assert describe_hours(TYPO.opening_hours, "en") in text
    assert "饮用水" in text and "Drinking water" in text
    assert "云龙区测试路 1 号" in text
    assert re.search(r'id="poster-code"[^>]*>K01<span class="gap"> </span>MXY<', page)
    assert "到站锁门或信息有误？扫码反馈" in text
    assert re.search(r'id="poster-url">http://localhost/s/K01MXY<', page)
    assert re.search(r'<svg viewBox="0 0 \d+ \d+" class="poster-qr">', page)
    assert "示例数据（非真实站点）" in text and "Sample data" in text
    assert "@page" not in page  # the print rules are in the stylesheet
    assert 'href="/static/poster.css' in page
    assert re.search(r'id="print-button"[^>]*>打印 / Print<', page)


def test_the_poster_of_a_real_station_has_no_sample_mark(admin):
    r = admin.get("/staff/stations/R01/poster")
    assert r.status_code == 200
    assert "poster-sample" not in r.get_data(as_text=True)
    text = _text(r)
    assert "全天 24 小时开放" in text and "open 24 hours" in text and "和平路爱心驿站" in text


def test_the_poster_uses_the_public_url_setting(registry):
    from locator.staff.service import AccountService

    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none",
                      "LOCATOR_PUBLIC_URL": "https://zhan.example.cn/"})
    app.extensions["locator.accounts"] = AccountService(registry.store.engine, hasher=FAST)
    page = Staff(app, "admin1").get("/staff/stations/P01/poster").get_data(as_text=True)
    assert 'id="poster-url">https://zhan.example.cn/s/K01MXY<' in page


def test_the_poster_respects_scope_and_deletion(yun, admin, app):
    assert yun.get("/staff/stations/P01/poster").status_code == 200  # Yunlong
    r = yun.get("/staff/stations/T01/poster")  # Gulou
    assert r.status_code == 403 and "打印该范围以外站点的海报" in _text(r)
    assert admin.get("/staff/stations/T09/poster").status_code == 404  # deleted
    anon = app.test_client().get("/staff/stations/P01/poster")
    assert anon.status_code == 302 and "/staff/login" in anon.headers["Location"]


def test_the_staff_station_page_links_the_poster(admin):
    page = admin.get("/staff/stations/P01/edit").get_data(as_text=True)
    assert re.search(r'href="/staff/stations/P01/poster"[^>]*id="poster-link"', page)


# ----------------------------------------------------------------------- check-ins API


def _post(client, body, addr: str, **kw):
    return client.post("/api/v1/checkins", json=body,
                       environ_base={"REMOTE_ADDR": addr}, **kw)


def test_a_checkin_is_counted_once_per_30_minutes(client, registry, clock):
    before = _checkins(registry, "T02")
    r = _post(client, {"station_id": "T02", "occupation": "delivery"}, "10.1.0.1")
    assert r.status_code == 201
    body = r.get_json()
    assert body["counted"] is True and body["station_id"] == "T02"
    assert body["code"] == _code(registry, "T02") and body["occupation_label"] == "外卖骑手"
    assert body["visits_this_hour"] >= 1 and "谢谢" in body["message"]
    r = _post(client, {"code": _code(registry, "T02").lower(), "occupation": "courier",
                       "lang": "en"}, "10.1.0.1")
    assert r.status_code == 200 and r.get_json()["counted"] is False
    assert "not counted twice" in r.get_json()["message"]
    assert _checkins(registry, "T02") == before + 1
    clock.advance(31 * 60)
    assert _post(client, {"station_id": "T02", "occupation": "delivery"},
                 "10.1.0.1").status_code == 201
    assert _checkins(registry, "T02") == before + 2


def test_past_the_limit_the_api_answers_429_with_retry_after(client, clock):
    sids = ["T01", "T02", "T03", "T04", "T07", "T08"]
    for sid in sids:
        assert _post(client, {"station_id": sid, "occupation": "taxi"},
                     "10.2.0.1").status_code == 201
        clock.advance(10)
    r = _post(client, {"station_id": "T10", "occupation": "taxi", "lang": "en"}, "10.2.0.1")
    assert r.status_code == 429
    assert r.mimetype == "application/problem+json"
    retry = int(r.headers["Retry-After"])
    assert 3500 <= retry <= 3600
    assert "at most 6 an hour" in r.get_json()["detail"]
    # Another client is not affected.
    assert _post(client, {"station_id": "T10", "occupation": "taxi"},
                 "10.2.0.2").status_code == 201


@pytest.mark.parametrize(("body", "field"), [
    ({"station_id": "T01"}, "occupation"),
    ({"station_id": "T01", "occupation": "chef"}, "occupation"),
    ({"station_id": "T01", "occupation": 3}, "occupation"),
    ({"occupation": "delivery"}, "station_id"),
    ({"station_id": "T01", "code": "K01MXY", "occupation": "delivery"}, "station_id"),
    ({"station_id": 5, "occupation": "delivery"}, "station_id"),
    ({"code": "", "occupation": "delivery"}, "code"),
    ({"station_id": "T01", "occupation": "delivery", "phone": "138"}, "phone"),
    ({"station_id": "T01", "occupation": "delivery", "lang": "fr"}, "lang"),
    (["delivery"], "body"),
], ids=["no-occupation", "bad-occupation", "number-occupation", "no-station", "both",
        "number-id", "empty-code", "unknown-field", "bad-lang", "array"])
def test_bad_checkins_get_400_naming_the_field(client, body, field):
    r = _post(client, body, "10.3.0.1")
    assert r.status_code == 400
    assert r.get_json()["invalid_params"][0]["name"] == field


def test_non_json_and_unknown_query_parameters_are_refused(client):
    r = client.post("/api/v1/checkins", data="occupation=delivery",
                    content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400 and r.get_json()["invalid_params"][0]["name"] == "body"
    r = client.post("/api/v1/checkins?station=T01", json={"station_id": "T01",
                                                          "occupation": "delivery"})
    assert r.status_code == 400 and r.get_json()["invalid_params"][0]["name"] == "station"


def test_errors_are_in_the_requested_language(client):
    r = _post(client, {"station_id": "T01", "occupation": "chef", "lang": "en"}, "10.3.0.2")
    assert r.get_json()["detail"].startswith("occupation 'chef' is not valid")
    r = _post(client, {"station_id": "T01", "occupation": "chef"}, "10.3.0.2")
    assert r.get_json()["detail"].startswith("职业类别 'chef' 无效")


def test_unknown_deleted_and_closed_stations(client, registry):
    for body in ({"station_id": "NOPE", "occupation": "delivery"},
                 {"code": "ZZZZ99", "occupation": "delivery"},
                 {"code": "K01\u0000MXY", "occupation": "delivery"},
                 {"station_id": "T09", "occupation": "delivery"}):  # deleted
        r = _post(client, body, "10.4.0.1")
        assert r.status_code == 404, body
    r = _post(client, {"station_id": "T06", "occupation": "delivery"}, "10.4.0.1")
    assert r.status_code == 409 and "已关闭" in r.get_json()["detail"]
    assert _checkins(registry, "T06") == 0


def test_the_operation_is_in_the_openapi_spec(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    op = spec["paths"]["/api/v1/checkins"]["post"]
    assert op["operationId"] == "createCheckin"
    assert set(op["responses"]) == {"200", "201", "400", "404", "409", "413", "429"}
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["occupation"]["enum"] == ["delivery", "courier",
                                                          "sanitation", "taxi", "truck",
                                                          "other"]
    assert "phone" not in schema["properties"] and schema["additionalProperties"] is False


# ----------------------------------------------------------------------- station page form


def test_the_checkin_form_shows_on_a_page_opened_from_the_poster(client):
    page = client.get("/stations/P01?via=qr").get_data(as_text=True)
    buttons = re.findall(r'<button type="submit" name="occupation" value="(\w+)"', page)
    assert buttons == ["delivery", "courier", "sanitation", "taxi", "truck", "other"]
    assert 'action="/s/K01MXY/checkin"' in page and 'data-api="/api/v1/checkins"' in page
    assert "外卖骑手" in page and "我到站了" in page
    # Opened from the map or a search, the page has no check-in form.
    assert "checkin-form" not in client.get("/stations/P01").get_data(as_text=True)


def test_the_form_works_without_javascript(client, registry, clock):
    clock.advance(3600)
    before = _checkins(registry, "T04")
    code = _code(registry, "T04")
    r = client.post(f"/s/{code}/checkin", data={"occupation": "sanitation"},
                    environ_base={"REMOTE_ADDR": "10.5.0.1"})
    assert r.status_code == 303
    loc = urlsplit(r.headers["Location"])
    assert loc.path == "/stations/T04" and parse_qs(loc.query)["checkin"] == ["done"]
    page = client.get(r.headers["Location"])
    assert "谢谢！已记录你的到站" in _text(page)
    assert "checkin-form" not in page.get_data(as_text=True)
    r = client.post(f"/s/{code}/checkin?lang=en", data={"occupation": "sanitation"},
                    environ_base={"REMOTE_ADDR": "10.5.0.1"})
    assert parse_qs(urlsplit(r.headers["Location"]).query) == {
        "via": ["qr"], "checkin": ["again"], "lang": ["en"]}
    assert "not counted twice" in _text(client.get(r.headers["Location"]))
    client.delete_cookie("lang")
    assert _checkins(registry, "T04") == before + 1
    bad = client.post(f"/s/{code}/checkin", data={"occupation": "pilot"},
                      environ_base={"REMOTE_ADDR": "10.5.0.2"})
    assert bad.status_code == 400 and "职业类别" in _text(bad)
    for sid in ("T01", "T02", "T03", "T07", "T08", "T10"):
        client.post(f"/s/{_code(registry, sid)}/checkin", data={"occupation": "other"},
                    environ_base={"REMOTE_ADDR": "10.5.0.3"})
    r = client.post(f"/s/{code}/checkin", data={"occupation": "other"},
                    environ_base={"REMOTE_ADDR": "10.5.0.3"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "到站登记太频繁" in _text(r)


# ----------------------------------------------------------------------- /staff/visits


def _visits_range(clock) -> str:
    from locator.time_util import zone

    d = clock.now.astimezone(zone()).date().isoformat()
    return f"from=2026-07-01&to={d}"


def test_the_visits_page_counts_within_the_account_scope(admin, yun, client, registry,
                                                         clock):
    clock.advance(3600)
    for i, (sid, occ) in enumerate([("P01", "delivery"), ("P01", "courier"),
                                    ("P01", "delivery"), ("T01", "truck")]):
        assert _post(client, {"station_id": sid, "occupation": occ},
                     f"10.6.0.{i}").status_code == 201
    rng = _visits_range(clock)
    page = admin.get(f"/staff/visits?{rng}&station=P01").get_data(as_text=True)
    row = re.search(r'<tr data-station-id="P01">(.*?)</tr>', page, re.S)[1]
    nums = [int(n) for n in re.findall(r'<td class="num[^"]*">(\d+)</td>', row)]
    assert nums == [2, 1, 0, 0, 0, 0, 3]  # delivery, courier, ..., total
    assert re.search(r'id="visits-total">3<', page)
    # The Yunlong editor sees Yunlong stations only.
    ypage = yun.get(f"/staff/visits?{rng}").get_data(as_text=True)
    ids = set(re.findall(r'<tr data-station-id="([^"]+)"', ypage))
    assert "P01" in ids and "T01" not in ids and ids <= {"P01", "R01", "T04", "T07"}
    r = yun.get(f"/staff/visits?{rng}&district=320302")
    assert r.status_code == 403


def _exports(registry) -> list:
    from locator.store.accounts import AUDIT

    with registry.store.engine.connect() as conn:
        return conn.execute(sa.select(AUDIT.c.actor, AUDIT.c.detail)
                            .where(AUDIT.c.action == "checkin.export")
                            .order_by(AUDIT.c.id)).all()


def test_visits_downloads_are_csv_and_audited(admin, client, registry, clock, tmp_path):
    from locator.coverage.io import read_demand

    for addr in ("10.7.0.1", "10.7.0.2"):
        assert _post(client, {"station_id": "R01", "occupation": "delivery"},
                     addr).status_code == 201
    audited = len(_exports(registry))
    rng = _visits_range(clock)
    r = admin.get(f"/staff/visits?{rng}&format=csv")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in r.headers["Content-Disposition"]
    text = r.get_data().decode("utf-8-sig")
    assert text.splitlines()[0].startswith("date,hour,station_id,code,name")
    code = _code(registry, "R01")
    assert f",R01,{code},和平路爱心驿站,320303,云龙区,delivery,外卖骑手,2,official\n" in text
    r = admin.get(f"/staff/visits?{rng}&format=demand")
    assert r.status_code == 200
    path = tmp_path / "demand.csv"
    path.write_bytes(r.get_data())
    dem = read_demand(path)
    per = dict(zip(dem.ids, dem.weight.tolist(), strict=True))
    assert per["R01"] == 2.0 and "T09" not in per
    rows = _exports(registry)[audited:]
    assert [r.actor for r in rows] == ["admin1", "admin1"]
    assert '"format": "csv"' in rows[0].detail and '"format": "demand"' in rows[1].detail


@pytest.mark.parametrize(("query", "message"), [
    ("from=2026-13-01", "from 应为日期"),
    ("from=2026-07-10&to=2026-07-01", "晚于结束日期"),
    ("district=999999", "未知的区县"),
    ("station=T0%01", "不可见字符"),
], ids=["bad-date", "reversed", "bad-district", "control-character"])
def test_bad_visits_filters_are_shown_on_the_page(admin, query, message):
    r = admin.get(f"/staff/visits?{query}")
    assert r.status_code == 400
    assert message in _text(r)
    assert admin.get(f"/staff/visits?{query}&format=csv").status_code == 400


def test_the_back_office_nav_links_the_visits(admin):
    page = admin.get("/staff/stations").get_data(as_text=True)
    assert re.search(r'<a href="/staff/visits" id="nav-visits">到站统计</a>', page)

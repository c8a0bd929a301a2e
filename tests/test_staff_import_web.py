"""Bulk import from the web as an editor does it: a GBK CSV with Chinese headers and
GCJ-02 coordinates, the column mapping, the dry run with errors in the file's terms,
the real import (one transaction, audited), re-importing it, the limits, and
``POST /api/v1/imports`` with a token."""

from __future__ import annotations

import io
import re
import time

import pytest

from locator.stations.coords import wgs84_to_gcj02
from locator.web import create_app

PW = "Xuzhou-stations-2026"
#: WGS-84 points inside Yunlong (320303), and one inside Quanshan (320311).
YUNLONG = [(117.2300, 34.2400), (117.2350, 34.2440), (117.2260, 34.2380)]
QUANSHAN = (117.1500, 34.2300)


def gbk_csv(points=YUNLONG, *, bad_type_row: int | None = 1, extra: str = "") -> bytes:
    """名称,类型,经度,纬度,设施,开放时间,负责人 in GBK, coordinates shifted to GCJ-02."""
    lines = ["名称,类型,经度,纬度,设施,开放时间,负责人"]
    for i, (lon, lat) in enumerate(points):
        x, y = wgs84_to_gcj02(lon, lat)
        kind = "休息室" if i == bad_type_row else "爱心驿站"
        lines.append(f"云龙驿站{i + 1}号{extra},{kind},{x:.7f},{y:.7f},饮水机;手机充电,"
                     f"Mo-Su 08:00-20:00,张{i}")
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


MAPPING = {"col-0": "name", "col-1": "type", "col-2": "lon", "col-3": "lat",
           "col-4": "amenities", "col-5": "opening_hours", "col-6": ""}


@pytest.fixture()
def app(registry, tmp_path):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none",
                       "LOCATOR_UPLOAD_DIR": str(tmp_path / "uploads")})


@pytest.fixture()
def svc(app):
    s = app.extensions["locator.accounts"]
    s.add_user("yun", PW, role="editor", scope="320303", actor="pytest")
    s.add_user("look", PW, role="viewer", scope="320300", actor="pytest")
    s.add_user("boss", PW, role="admin", scope="", actor="pytest")
    return s


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html)[1]


def editor(app, name="yun"):
    c = app.test_client()
    token = _csrf(c.get("/staff/login").get_data(as_text=True))
    r = c.post("/staff/login", data={"csrf_token": token, "name": name, "password": PW})
    assert r.status_code == 303
    return c, _csrf(c.get("/staff/import").get_data(as_text=True))


def upload(c, csrf, data: bytes, name="驿站名单.csv", path="/staff/import"):
    """A multipart upload, encoded in memory (the test client would spool a large body to
    a temporary file that stays open when the app refuses it unread)."""
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    boundary, body = encode_multipart({"csrf_token": csrf, "file": FileStorage(
        io.BytesIO(data), filename=name, content_type="text/csv")})
    return c.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def issues(html: str, table: str = "import-errors") -> list[dict[str, str]]:
    body = re.search(rf'<table class="staff-table issues" id="{table}">(.*?)</table>', html,
                     re.S)
    if body is None:
        return []
    out = []
    for tr in re.findall(r"<tr class=\"issue.*?</tr>", body[1], re.S):
        cells = dict(re.findall(r'<td class="i-(\w+)">(.*?)</td>', tr, re.S))
        out.append(cells)
    return out


def count(html: str, what: str) -> int:
    return int(re.search(rf'data-count="{what}">(\d+)<', html)[1])


def run_import(c, uid, csrf):
    r = c.post(f"/staff/import/{uid}/run", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/{uid}/result")
    for _ in range(200):
        st = c.get(f"/staff/import/{uid}/status").get_json()
        if st["state"] in ("done", "failed"):
            return st
        time.sleep(0.05)
    raise AssertionError(f"import did not finish: {st}")


def test_gbk_csv_mapping_dry_run_import_and_reimport(app, svc, registry):
    c, csrf = editor(app)
    before = registry.store.count()
    r = upload(c, csrf, gbk_csv())
    assert r.status_code == 303
    uid = r.headers["Location"].rsplit("/", 1)[-1]
    # step 1: recognised Chinese headers are pre-filled, the unknown one is flagged
    html = c.get(f"/staff/import/{uid}").get_data(as_text=True)
    assert "3 行数据" in html and "gb18030" in html
    for i, f in ((0, "name"), (1, "type"), (2, "lon"), (3, "lat"), (4, "amenities")):
        sel = re.search(rf'<select name="col-{i}".*?</select>', html, re.S)[0]
        assert f'value="{f}" selected' in sel
    assert re.search(r'data-header="负责人">.*?未识别', html, re.S)
    assert not re.search(r'name="crs" value="\w+" checked', html)  # no CRS pre-selected
    # the coordinate system must be chosen
    r = c.post(f"/staff/import/{uid}", data={"csrf_token": csrf, **MAPPING})
    assert r.status_code == 400 and "请选择坐标系" in r.get_data(as_text=True)
    # an unknown column left unmapped is refused by name... dropped here, and saved
    r = c.post(f"/staff/import/{uid}", data={"csrf_token": csrf, **MAPPING, "crs": "gcj02",
                                             "mapping_name": "区县驿站表"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/{uid}/check")
    # step 2: the dry run, errors in the file's own terms
    html = c.get(f"/staff/import/{uid}/check").get_data(as_text=True)
    assert "试运行：尚未写入任何数据" in html
    assert (count(html, "new"), count(html, "errors")) == (2, 1)
    errs = issues(html)
    assert len(errs) == 1
    e = errs[0]
    assert (e["row"], e["col"], e["value"]) == ("3", "类型", "休息室")  # header is row 1
    assert "不是可接受的类型" in e["msg"] and "母婴室" in e["accepted"]
    assert "户外劳动者服务站点" in e["accepted"]
    assert re.search(r'id="import-run" disabled', html)
    # the same page in English
    html_en = c.get(f"/staff/import/{uid}/check?lang=en").get_data(as_text=True)
    e_en = issues(html_en)[0]
    assert e_en["col"] == "类型" and "not an accepted type" in e_en["msg"]
    assert "mother" in e_en["accepted"].lower()
    c.get(f"/staff/import/{uid}/check?lang=zh")  # back to Chinese (the choice is a cookie)
    # the preview map data: the first rows, in the map's CRS, with the other CRSs to compare
    preview = re.search(r'id="import-preview-data">(.*?)</script>', html, re.S)[1]
    import json

    doc = json.loads(preview)
    assert len(doc["rows"]) == 2 and set(doc["alternatives"]) == {"wgs84", "bd09"}
    assert abs(doc["rows"][0]["lon"] - YUNLONG[0][0]) < 1e-6  # lands on the WGS-84 point
    assert doc["rows"][0]["district"] == "云龙区"
    assert abs(doc["alternatives"]["wgs84"][0][0] - YUNLONG[0][0]) > 0.004  # ~500 m east
    # drop the bad row, then import for real
    r = c.post(f"/staff/import/{uid}/skip", data={"csrf_token": csrf, "skip": "1"})
    html = c.get(r.headers["Location"]).get_data(as_text=True)
    assert (count(html, "new"), count(html, "errors"), count(html, "skipped")) == (2, 0, 1)
    assert "已跳过出错的行：3" in html
    assert registry.store.count() == before  # a dry run stores nothing
    st = run_import(c, uid, csrf)
    assert st["state"] == "done" and st["summary"] == "2 新建，0 更新，0 未变"
    html = c.get(f"/staff/import/{uid}/result").get_data(as_text=True)
    assert "导入完成：2 新建，0 更新，0 未变" in html
    # stored in WGS-84 with districts, visible to riders at once
    new = [s for s in registry.store.all() if s.name.startswith("云龙驿站")]
    assert sorted(s.name for s in new) == ["云龙驿站1号", "云龙驿站3号"]
    for s in new:
        assert (s.district_adcode, s.district_name, s.source) == ("320303", "云龙区", "import")
        assert s.amenities == ("drinking_water", "phone_charging")
    s1 = next(s for s in new if s.name == "云龙驿站1号")
    assert abs(s1.lon - YUNLONG[0][0]) < 1e-6 and abs(s1.lat - YUNLONG[0][1]) < 1e-6
    near = c.get(f"/api/v1/nearest?lon={YUNLONG[0][0]}&lat={YUNLONG[0][1]}&k=1").get_json()
    assert near["results"][0]["id"] == s1.id
    # audited in the same transaction, with the counts
    ev = svc.store.audit_events(action="station.import")
    assert len(ev) == 1 and ev[0].actor == "yun" and ev[0].result == "ok"
    assert ev[0].detail["new"] == 2 and ev[0].detail["skipped_rows"] == [3]
    assert ev[0].target == "file:驿站名单.csv"
    hist = registry.store.history(s1.id)
    assert hist[0]["actor"] == "yun" and hist[0]["batch"] == "import:驿站名单.csv"
    # a second run of the same upload does not import again
    c.post(f"/staff/import/{uid}/run", data={"csrf_token": csrf})
    assert len(svc.store.audit_events(action="station.import")) == 1
    # the same file again: the saved mapping is applied, and nothing is new
    r = upload(c, csrf, gbk_csv(bad_type_row=None))
    uid2 = r.headers["Location"].rsplit("/", 1)[-1]
    html = c.get(f"/staff/import/{uid2}").get_data(as_text=True)
    assert "已套用保存的列映射“区县驿站表”" in html
    assert re.search(r'name="crs" value="gcj02" checked', html)
    assert "坐标系来自保存的列映射" in html
    r = c.post(f"/staff/import/{uid2}", data={"csrf_token": csrf, **MAPPING, "crs": "gcj02"})
    html = c.get(r.headers["Location"]).get_data(as_text=True)
    assert (count(html, "new"), count(html, "unchanged"), count(html, "errors")) == (1, 2, 0)
    st = run_import(c, uid2, csrf)
    assert st["summary"] == "1 新建，0 更新，2 未变"
    r = upload(c, csrf, gbk_csv(bad_type_row=None))
    uid3 = r.headers["Location"].rsplit("/", 1)[-1]
    c.post(f"/staff/import/{uid3}", data={"csrf_token": csrf, **MAPPING, "crs": "gcj02"})
    html = c.get(f"/staff/import/{uid3}/check").get_data(as_text=True)
    assert count(html, "new") == 0 and count(html, "unchanged") == 3
    assert run_import(c, uid3, csrf)["summary"] == "0 新建，0 更新，3 未变"
    assert registry.store.count() == before + 3


def test_unknown_column_must_be_mapped_or_dropped(app, svc):
    c, csrf = editor(app)
    uid = upload(c, csrf, gbk_csv()).headers["Location"].rsplit("/", 1)[-1]
    data = {"csrf_token": csrf, **MAPPING, "crs": "gcj02"}
    data["col-6"] = "name"  # two columns for one field
    r = c.post(f"/staff/import/{uid}", data=data)
    assert r.status_code == 400 and "负责人" in r.get_data(as_text=True)
    data["col-6"] = "operator"  # mapped by hand to a field instead
    r = c.post(f"/staff/import/{uid}", data=data)
    assert r.status_code == 303
    html = c.get(r.headers["Location"]).get_data(as_text=True)
    assert count(html, "new") == 2


def test_rows_outside_the_editors_district_are_errors(app, svc, registry):
    c, csrf = editor(app)
    data = gbk_csv([YUNLONG[0], QUANSHAN], bad_type_row=None)
    uid = upload(c, csrf, data).headers["Location"].rsplit("/", 1)[-1]
    c.post(f"/staff/import/{uid}", data={"csrf_token": csrf, **MAPPING, "crs": "gcj02"})
    html = c.get(f"/staff/import/{uid}/check").get_data(as_text=True)
    errs = issues(html)
    assert [e["row"] for e in errs] == ["3"]
    assert "320303（云龙区）" in errs[0]["msg"] and "320311（泉山区）" in errs[0]["msg"]
    assert count(html, "new") == 1
    # a wrong CRS (the GCJ-02 file read as WGS-84) is still inside Xuzhou, but the preview
    # shows the GCJ-02 alternative where the stations really are
    c.post(f"/staff/import/{uid}", data={"csrf_token": csrf, **MAPPING, "crs": "wgs84"})
    html = c.get(f"/staff/import/{uid}/check").get_data(as_text=True)
    assert "WGS-84（GPS" in html


def test_other_accounts_cannot_see_an_upload(app, svc):
    c, csrf = editor(app)
    uid = upload(c, csrf, gbk_csv()).headers["Location"].rsplit("/", 1)[-1]
    other, _ = editor(app, "boss")
    assert other.get(f"/staff/import/{uid}").status_code == 404
    assert other.get(f"/staff/import/{uid}/status").status_code == 404
    assert other.get("/staff/import/../../etc/passwd").status_code == 404
    viewer = app.test_client()
    token = _csrf(viewer.get("/staff/login").get_data(as_text=True))
    viewer.post("/staff/login", data={"csrf_token": token, "name": "look", "password": PW})
    assert viewer.get("/staff/import").status_code == 403


def test_bad_files_are_refused_with_a_message(app, svc):
    c, csrf = editor(app)
    r = upload(c, csrf, b"\x00\x01binary", name="x.csv")
    assert r.status_code == 400 and "二进制文件" in r.get_data(as_text=True)
    r = upload(c, csrf, b"a,b\n1,2\n", name="x.pdf")
    assert r.status_code == 400 and "不支持的文件类型" in r.get_data(as_text=True)
    r = c.post("/staff/import", data={"csrf_token": csrf}, content_type="multipart/form-data")
    assert r.status_code == 400 and "请选择要导入的文件" in r.get_data(as_text=True)


def test_uploads_above_the_size_limit_get_413(registry, tmp_path):
    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none",
                      "LOCATOR_UPLOAD_DIR": str(tmp_path / "up"),
                      "LOCATOR_MAX_UPLOAD_BYTES": 1_500_000})
    svc = app.extensions["locator.accounts"]
    svc.add_user("yun", PW, role="editor", scope="320303", actor="pytest")
    c, csrf = editor(app)
    # above the 1 MB limit of other requests but under the upload limit: accepted
    x, y = wgs84_to_gcj02(*YUNLONG[0])
    big = ("名称,类型,经度,纬度\n" + "".join(
        f"站{i:06d},爱心驿站,{x + i * 1e-6:.7f},{y:.7f}\n" for i in range(30_000))).encode("gbk")
    assert 1_048_576 < len(big) < 1_500_000
    r = upload(c, csrf, big)
    assert r.status_code == 303
    r = upload(c, csrf, big + big[:400_000])
    html = r.get_data(as_text=True)
    assert r.status_code == 413 and "文件太大" in html and "1 MB" in html
    r = upload(c, csrf, big + big[:400_000], path="/staff/import?lang=en")
    assert r.status_code == 413 and "The file is too large" in r.get_data(as_text=True)


def test_row_count_limit_gives_400(registry, tmp_path):
    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none",
                      "LOCATOR_UPLOAD_DIR": str(tmp_path / "up"), "LOCATOR_MAX_IMPORT_ROWS": 2})
    app.extensions["locator.accounts"].add_user("yun", PW, role="editor", scope="320303",
                                                actor="pytest")
    c, csrf = editor(app)
    r = upload(c, csrf, gbk_csv())
    assert r.status_code == 400 and "每次导入最多 2 行" in r.get_data(as_text=True)


def test_text_from_the_file_is_shown_as_text(app, svc):
    c, csrf = editor(app)
    evil = "<script>window.__x=1</script>"
    uid = upload(c, csrf, gbk_csv(bad_type_row=None, extra=evil)).headers["Location"]
    uid = uid.rsplit("/", 1)[-1]
    html = c.get(f"/staff/import/{uid}").get_data(as_text=True)
    assert evil not in html and "&lt;script&gt;" in html
    c.post(f"/staff/import/{uid}", data={"csrf_token": csrf, **MAPPING, "crs": "gcj02"})
    html = c.get(f"/staff/import/{uid}/check").get_data(as_text=True)
    assert evil not in html


# ------------------------------------------------------------------------ the API


def _api(client, headers, data: bytes, **fields):
    return client.post("/api/v1/imports", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), "驿站.csv"), **fields})


def test_api_import_with_a_token(app, svc, registry):
    h = {"Authorization": "Bearer " + svc.create_token("yun", actor="pytest").token}
    c = app.test_client()
    drop = '{"负责人": null}'
    r = _api(c, h, gbk_csv(), crs="gcj02", mapping=drop)
    assert r.status_code == 200
    body = r.get_json()
    assert body["dry_run"] is True and body["imported"] is False
    assert body["counts"]["new"] == 2 and body["counts"]["errors"] == 1
    e = body["errors"][0]
    assert (e["row"], e["column"], e["value"]) == (3, "类型", "休息室")
    assert "不是可接受的类型" in e["message"] and "母婴室" in e["accepted"]
    # a real import with row errors: 400, nothing stored
    n = registry.store.count()
    r = _api(c, h, gbk_csv(), crs="gcj02", mapping=drop, dry_run="false")
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert r.get_json()["errors"][0]["column"] == "类型" and registry.store.count() == n
    # skipping the bad row
    r = _api(c, h, gbk_csv(), crs="gcj02", mapping=drop, dry_run="false",
             skip_error_rows="true")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["imported"] is True and r.get_json()["summary"] == "2 新建，0 更新，0 未变"
    assert registry.store.count() == n + 2
    r = _api(c, h, gbk_csv(bad_type_row=None), crs="gcj02", mapping=drop, dry_run="false")
    assert r.status_code == 201 and r.get_json()["counts"]["new"] == 1
    assert r.get_json()["counts"]["unchanged"] == 2
    # English messages on request
    r = c.post("/api/v1/imports?lang=en", headers=h, content_type="multipart/form-data",
               data={"file": (io.BytesIO(gbk_csv()), "x.csv"), "crs": "gcj02",
                     "mapping": drop})
    assert "not an accepted type" in r.get_json()["errors"][0]["message"]
    assert len(svc.store.audit_events(action="station.import")) == 2


@pytest.mark.parametrize("fields, status, needle", [
    ({}, 400, "crs is required"),
    ({"crs": "mars"}, 400, "crs"),
    ({"crs": "gcj02"}, 400, "负责人"),  # the unknown column, named
    ({"crs": "gcj02", "mapping": "{not json"}, 400, "mapping is not JSON"),
    ({"crs": "gcj02", "mapping": "[1]"}, 400, "JSON object"),
    ({"crs": "gcj02", "dry_run": "maybe"}, 400, "dry_run must be true or false"),
    ({"crs": "gcj02", "colour": "red"}, 400, "unknown field"),
], ids=["no-crs", "bad-crs", "unknown-column", "bad-json", "not-object", "bad-flag",
        "unknown-field"])
def test_api_bad_requests(app, svc, fields, status, needle):
    h = {"Authorization": "Bearer " + svc.create_token("yun", actor="pytest").token}
    r = _api(app.test_client(), h, gbk_csv(), **fields)
    assert r.status_code == status
    assert r.mimetype == "application/problem+json"
    assert needle in r.get_json()["detail"]


def test_api_credentials_scope_and_size(app, svc, registry):
    c = app.test_client()
    r = _api(c, {}, gbk_csv(), crs="gcj02")
    assert r.status_code == 401
    look = {"Authorization": "Bearer " + svc.create_token("look", actor="pytest").token}
    r = _api(c, look, gbk_csv(), crs="gcj02")
    assert r.status_code == 403 and "viewer" in r.get_json()["detail"]
    yun = {"Authorization": "Bearer " + svc.create_token("yun", actor="pytest").token}
    r = _api(c, yun, gbk_csv([QUANSHAN], bad_type_row=None), crs="gcj02",
             mapping='{"负责人": null}', dry_run="false")
    assert r.status_code == 403
    err = r.get_json()["errors"][0]
    assert "320303" in err["message"]
    # no district column: the district came from the coordinates, and the error says so
    assert err["column"] == "经度/纬度" and "由坐标判定" in err["value"], err
    app.config["LOCATOR_MAX_UPLOAD_BYTES"] = 200
    r = _api(c, yun, gbk_csv(), crs="gcj02")  # small: the test client keeps it in memory
    assert r.status_code == 413 and r.mimetype == "application/problem+json"
    assert "文件太大" in r.get_json()["detail"]


def test_api_session_needs_csrf(app, svc):
    c, csrf = editor(app)
    r = _api(c, {}, gbk_csv(), crs="gcj02", mapping='{"负责人": null}')
    assert r.status_code == 403 and "CSRF" in r.get_json()["detail"]
    r = _api(c, {"X-CSRF-Token": csrf}, gbk_csv(), crs="gcj02", mapping='{"负责人": null}')
    assert r.status_code == 200

"""A station's capacity (座位数, the seats it offers its users; schema version 6): the
parser, the store on SQLite and PostgreSQL, import under its Chinese headers, export,
the upgrade of a version-5 database, the staff form and the REST API."""

from __future__ import annotations

import csv
import html as htmllib
import json
import re

import pytest
import sqlalchemy as sa
from staff_support import PW, StaffClient

from locator import ImportFailed, InvalidInput, Registry, StationStore
from locator.cli import main
from locator.stations.model import FIELDS, MAX_CAPACITY, Station, station_from_dict
from locator.store.files import (
    apply_plan,
    export_stations,
    prepare_import,
    read_station_file,
    validate_rows,
)
from locator.store.import_messages import FIELD_LABELS_EN
from locator.store.mapping import FIELD_LABELS_ZH, field_for_header
from locator.store.schema import SCHEMA_VERSION, read_version
from locator.web import create_app

BASE = {"id": "C1", "name": "座位驿站", "type": "outdoor_worker", "lon": 117.23,
        "lat": 34.24}
YUNLONG = (117.23, 34.24)  # inside Yunlong district, 320303


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, db_path):
    """A new database on each backend: a SQLite file, and a new PostgreSQL database
    (PostGIS where the server has it)."""
    return str(db_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url if "://" in url else f"sqlite:///{url}")


# --------------------------------------------------------------------------- the field


def test_capacity_sits_after_star_level_and_is_editable():
    assert FIELDS[FIELDS.index("star_level") + 1] == "capacity"
    names = list(Station.__dataclass_fields__)
    assert names[names.index("star_level") + 1] == "capacity"
    assert Station("X", "x", "outdoor_worker", 117.2, 34.2).capacity is None
    assert FIELD_LABELS_ZH["capacity"] == "座位数" and FIELD_LABELS_EN["capacity"] == "seats"


@pytest.mark.parametrize(("value", "seats"), [
    (None, None), ("", None), ("  ", None), (float("nan"), None),
    (12, 12), (12.0, 12), (1, 1), (MAX_CAPACITY, MAX_CAPACITY),
    ("12", 12), (" 12 ", 12), ("12.0", 12), ("12座", 12), ("12 座", 12), ("12个座位", 12),
    ("12 个座位", 12), ("12 seats", 12), ("1 seat", 1), ("12 Seats", 12), ("１２座", 12),
    ("12人", 12),
])
def test_parser_accepts_numbers_of_seats(value, seats):
    assert station_from_dict({**BASE, "capacity": value}).capacity == seats


@pytest.mark.parametrize("value", [
    True, False, 0, -3, 12.5, float("inf"), MAX_CAPACITY + 1, "0", "-3", "12.5", "很多",
    "十二", "12-15", "10001", "12 座位子", [12],
])
def test_parser_refuses_anything_else_naming_the_field_and_the_value(value):
    with pytest.raises(InvalidInput) as e:
        station_from_dict({**BASE, "capacity": value})
    assert e.value.field == "capacity"
    msg = e.value.message
    assert msg.startswith(f"capacity: {value!r} is not a number of seats")
    assert "whole number 1-10,000" in msg and "leave it empty" in msg


def test_to_dict_and_row_carry_capacity():
    st = station_from_dict({**BASE, "capacity": "8座"})
    assert st.to_dict()["capacity"] == 8 and st.to_row()["capacity"] == "8"
    assert station_from_dict(BASE).to_row()["capacity"] == ""
    assert station_from_dict(st.to_dict()).capacity == 8  # the JSON form reads back


# --------------------------------------------------------------------------- the store


def test_round_trip_through_the_store(db_url):
    store = StationStore(db_url, create=True)
    try:
        assert store.schema_version == SCHEMA_VERSION == 6
        store.add_many([station_from_dict({**BASE, "capacity": "12座"}),
                        station_from_dict({**BASE, "id": "C2", "lon": 117.24})], actor="t")
        assert store.get("C1").capacity == 12 and store.get("C2").capacity is None
        # the bulk read (raw rows in field order) puts it in its place too
        assert {s.id: s.capacity for s in store.all()} == {"C1": 12, "C2": None}
        assert all(s == store.get(s.id) for s in store.all())
        changed = store.update("C1", {"capacity": "30个座位"}, actor="t")
        assert (changed.capacity, changed.version) == (30, 2)
        h = store.history("C1", limit=1)[0]
        assert (h["before"]["capacity"], h["after"]["capacity"]) == (12, 30)
        with pytest.raises(InvalidInput) as e:
            store.update("C1", {"capacity": 0}, actor="t")
        assert e.value.field == "capacity" and store.get("C1").version == 2
        assert store.update("C1", {"capacity": None}, actor="t").capacity is None
        restored = store.restore_version("C1", 2, actor="t")
        assert (restored.capacity, restored.version) == (30, 4)
        with store.engine.connect() as conn:
            raw = conn.execute(sa.text("SELECT id, capacity FROM stations ORDER BY id")).all()
        assert [tuple(r) for r in raw] == [("C1", 30), ("C2", None)]
    finally:
        store.dispose()
    again = StationStore(db_url)  # a new process reads it back
    try:
        assert {s.id: s.capacity for s in again.all()} == {"C1": 30, "C2": None}
        reg = Registry(again)
        assert reg.index.get("C1").capacity == 30
    finally:
        again.dispose()


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("header", ["座位数", "座位", "容量", "可容纳人数", "seats", "capacity",
                                    "Seats", "座位数 "])
def test_headers_that_mean_capacity(header):
    assert field_for_header(header) == "capacity"


def _csv(tmp_path, rows: str, name: str = "seats.csv"):
    p = tmp_path / name
    p.write_text("编号,名称,类型,经度,纬度,座位数\n" + rows, encoding="utf-8")
    return p


def _import(store: StationStore, path) -> list[Station]:
    """What ``locator import`` and the staff import page do: plan, then apply."""
    plan = prepare_import(path, existing=store.all())
    return apply_plan(store, plan, actor="t", batch=path.name)


def test_import_with_the_chinese_header_stores_the_seats(db_url, tmp_path):
    p = _csv(tmp_path, "S1,云龙驿站,爱心驿站,117.23,34.24,12\n"
                       "S2,云龙二站,爱心驿站,117.25,34.25,8座\n"
                       "S3,云龙三站,爱心驿站,117.27,34.26,\n")
    store = StationStore(db_url, create=True)
    try:
        plan = prepare_import(p)
        assert plan.mapping.columns["座位数"] == "capacity"
        _import(store, p)
        assert {s.id: s.capacity for s in store.all()} == {"S1": 12, "S2": 8, "S3": None}
        assert _import(store, p) == []  # the same file again changes nothing
        p2 = _csv(tmp_path, "S1,云龙驿站,爱心驿站,117.23,34.24,20\n", "again.csv")
        plan = prepare_import(p2, existing=store.all())
        assert [(c.field, c.old, c.new) for r in plan.updated for c in r.changes] == [
            ("capacity", 12, 20)]
        _import(store, p2)
        s1 = store.get("S1")
        assert (s1.capacity, s1.version) == (20, 2) and store.get("S2").version == 1
    finally:
        store.dispose()


def test_a_bad_count_is_refused_naming_the_row_and_the_column(db_url, tmp_path):
    p = _csv(tmp_path, "S1,云龙驿站,爱心驿站,117.23,34.24,12\n"
                       "S2,云龙二站,爱心驿站,117.25,34.25,很多\n")
    with pytest.raises(ImportFailed) as ei:
        validate_rows(read_station_file(p))
    (err,) = ei.value.errors
    assert (err.row, err.field, err.issue.column, err.issue.value) == (3, "capacity", "座位数",
                                                                       "很多")
    assert err.issue.line("zh").startswith("第 3 行，列“座位数”：“很多”不是座位数")
    assert "1 至 10,000 的整数" in err.issue.line("zh")
    assert err.issue.line("en").startswith('row 3, column "座位数": \'很多\' is not a number '
                                           "of seats")
    store = StationStore(db_url, create=True)
    try:
        with pytest.raises(ImportFailed) as ei:
            _import(store, p)
        assert [(e.row, e.issue.column) for e in ei.value.errors] == [(3, "座位数")]
        assert store.count() == 0  # all rows or none
    finally:
        store.dispose()


def test_cli_import_reads_the_column_and_names_a_bad_cell(db_path, tmp_path, runner):
    good = _csv(tmp_path, "S1,云龙驿站,爱心驿站,117.23,34.24,12个座位\n")
    r = runner.invoke(main, ["import", str(good), "--db", str(db_path), "--actor", "t"])
    assert r.exit_code == 0, r.output
    store = StationStore(db_path)
    assert store.get("S1").capacity == 12
    store.dispose()
    bad = _csv(tmp_path, "S1,云龙驿站,爱心驿站,117.23,34.24,12\n"
                         "S2,云龙二站,爱心驿站,117.25,34.25,很多\n", "bad.csv")
    r = runner.invoke(main, ["import", str(bad), "--db", str(db_path)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "错误：第 3 行，列“座位数”：“很多”不是座位数" in r.output
    assert "未导入任何数据" in r.output
    r = runner.invoke(main, ["import", str(bad), "--db", str(db_path), "--lang", "en"])
    assert "Error: row 3, column \"座位数\": '很多' is not a number of seats" in r.output
    store = StationStore(db_path)
    assert store.count() == 1 and store.get("S1").capacity == 12
    store.dispose()


def test_xlsx_numbers_are_seats(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["名称", "类型", "经度", "纬度", "可容纳人数"])
    ws.append(["睢宁驿站", "户外劳动者服务站点", 117.94, 33.91, 15])
    ws.append(["新沂驿站", "户外劳动者服务站点", 118.35, 34.37, 6.0])
    ws.append(["邳州驿站", "户外劳动者服务站点", 117.96, 34.33, None])
    p = tmp_path / "s.xlsx"
    wb.save(p)
    assert [s.capacity for s in validate_rows(read_station_file(p))] == [15, 6, None]


def test_export_writes_the_capacity_column_and_imports_back(tmp_path):
    stations = [station_from_dict({**BASE, "capacity": 12}),
                station_from_dict({**BASE, "id": "C2", "lon": 117.24})]
    out = tmp_path / "out.csv"
    export_stations(stations, out)
    with out.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["capacity"] for r in rows] == ["12", ""]
    header = out.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert header.index("capacity") == header.index("star_level") + 1
    back = validate_rows(read_station_file(out, ignore_unknown=True))
    assert [s.capacity for s in back] == [12, None]
    for ext in ("xlsx", "geojson"):
        p = tmp_path / f"out.{ext}"
        export_stations(stations, p)
        assert [s.capacity for s in validate_rows(read_station_file(p, ignore_unknown=True))
                ] == [12, None]
    doc = json.loads((tmp_path / "out.geojson").read_text(encoding="utf-8"))
    assert [f["properties"]["capacity"] for f in doc["features"]] == [12, None]


# --------------------------------------------------------------------------- version 5


def _rows(url: str, columns: list[str]) -> list[dict]:
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            cols = ", ".join(f'"{c}"' for c in columns)
            return [dict(r) for r in conn.execute(sa.text(
                f"SELECT {cols} FROM stations ORDER BY id")).mappings()]
    finally:
        eng.dispose()


def _columns(url: str) -> list[str]:
    import geoalchemy2  # noqa: F401  (teaches SQLAlchemy's reflection the geography type)

    eng = _engine(url)
    try:
        return [c["name"] for c in sa.inspect(eng).get_columns("stations")]
    finally:
        eng.dispose()


def build_v5(url: str, tiny_stations) -> int:
    """A database of schema version 5 with the tiny station set in it (one station
    edited, one deleted: history rows and a hidden row too): today's tables without the
    capacity column, stamped 5 in both version rows. Returns the history row count."""
    store = StationStore(url, create=True)
    try:
        store.add_many(tiny_stations, actor="v5-import")
        store.update(tiny_stations[0].id, {"phone": "0516-1234567"}, actor="v5-staff")
        store.delete(tiny_stations[1].id, actor="v5-staff")
        history = len(store.history(limit=1000))
        with store.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE stations DROP COLUMN capacity"))
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0005'"))
            conn.execute(sa.text("UPDATE locator_meta SET value = '5' "
                                 "WHERE key = 'schema_version'"))
    finally:
        store.dispose()
    return history


def test_version_5_database_is_upgraded_keeping_every_station(db_url, tiny_stations,
                                                               runner):
    history = build_v5(db_url, tiny_stations)
    v5_columns = [c for c in _columns(db_url) if c != "geom"]
    assert "capacity" not in v5_columns
    eng = _engine(db_url)
    with eng.connect() as conn:
        assert read_version(conn).version == 5
    eng.dispose()
    before = _rows(db_url, v5_columns)
    assert len(before) == len(tiny_stations)

    out = runner.invoke(main, ["migrate", "--db", db_url])
    assert out.exit_code == 0, out.output
    assert f"upgraded from schema version 5 to {SCHEMA_VERSION}" in out.output
    assert f"{len(tiny_stations)} stations and {history} history rows, all kept" in out.output
    assert _rows(db_url, v5_columns) == before  # every row, every value, unchanged
    assert [r["capacity"] for r in _rows(db_url, ["capacity"])] == [None] * len(before)

    store = StationStore(db_url)  # nothing left to do
    try:
        assert store.schema_version == SCHEMA_VERSION
        live = [s for s in tiny_stations if s.id != tiny_stations[1].id]
        assert sorted(s.id for s in store.all()) == sorted(s.id for s in live)
        assert {s.capacity for s in store.all(include_deleted=True)} == {None}
        assert store.get(tiny_stations[0].id).phone == "0516-1234567"
        assert len(store.history(limit=1000)) == history
        counted = store.update(tiny_stations[0].id, {"capacity": 16}, actor="new")
        assert (counted.capacity, counted.version) == (16, 3)
    finally:
        store.dispose()
    fresh_cols = set(_columns(db_url))
    assert "capacity" in fresh_cols
    again = runner.invoke(main, ["migrate", "--db", db_url])
    assert again.exit_code == 0 and "already current" in again.output


def test_version_5_database_is_upgraded_on_open_too(db_url, tiny_stations):
    build_v5(db_url, tiny_stations)
    store = StationStore(db_url)  # auto_migrate, the default
    try:
        assert store.schema_version == SCHEMA_VERSION
        assert store.count() == len(tiny_stations) - 1
        assert {s.capacity for s in store.all()} == {None}
    finally:
        store.dispose()


# --------------------------------------------------------------------------- staff form


@pytest.fixture(scope="module")
def staff_registry(module_db_url, tiny_stations):
    store = StationStore(module_db_url, create=True)
    store.add_many(tiny_stations, actor="pytest")
    yield Registry(store)
    store.dispose()


@pytest.fixture(scope="module")
def app(staff_registry):
    app = create_app({"LOCATOR_REGISTRY": staff_registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})
    accounts = app.extensions["locator.accounts"]
    accounts.add_user("yun", PW, role="editor", scope="320303", actor="pytest")
    return app


@pytest.fixture(scope="module")
def yun(app):
    return StaffClient(app, "yun")


def _form(name: str, **extra: str) -> dict[str, str]:
    return {"name": name, "type": "outdoor_worker", "lon": str(YUNLONG[0]),
            "lat": str(YUNLONG[1]), "crs": "wgs84", "district_auto": "1",
            "confirm_duplicates": "1", **extra}


def _field_error(page: str, name: str) -> str | None:
    m = re.search(rf'id="err-{name}"[^>]*>([^<]+)<', page)
    return htmllib.unescape(m[1]) if m else None


def test_staff_form_saves_seats(yun, staff_registry):
    page = yun.text("/staff/stations/new")
    assert 'name="capacity"' in page and "座位数" in page
    r = yun.post("/staff/stations/new", _form("座位驿站", capacity="12座"))
    assert r.status_code == 303, r.get_data(as_text=True)
    sid = re.search(r"/staff/stations/([^/]+)/edit", r.headers["Location"])[1]
    assert staff_registry.store.get(sid).capacity == 12
    edit = yun.text(f"/staff/stations/{sid}/edit")
    assert re.search(r'<input name="capacity" id="f-capacity" value="12"', edit)
    assert "Seats" in yun.text(f"/staff/stations/{sid}/edit?lang=en")
    # changed, then cleared ("not recorded")
    r = yun.post(f"/staff/stations/{sid}/edit", _form("座位驿站", capacity="20", version="1"))
    assert r.status_code == 303, r.get_data(as_text=True)
    assert staff_registry.store.get(sid).capacity == 20
    r = yun.post(f"/staff/stations/{sid}/edit", _form("座位驿站", capacity="", version="2"))
    assert r.status_code == 303, r.get_data(as_text=True)
    assert (staff_registry.store.get(sid).capacity, staff_registry.store.get(sid).version) \
        == (None, 3)
    # the history names the field in Chinese
    assert "座位数" in yun.text(f"/staff/stations/{sid}/history")


def test_staff_form_shows_the_error_on_the_field(yun, staff_registry):
    n = staff_registry.store.count()
    r = yun.post("/staff/stations/new", _form("负座驿站", capacity="-3"))
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    err = _field_error(page, "capacity")
    assert err is not None, page
    assert "“-3”不是座位数" in err and "1 至 10,000 的整数" in err
    assert 'id="f-capacity" value="-3" inputmode="numeric" maxlength="20" ' \
           'autocomplete="off" aria-invalid="true" aria-describedby="err-capacity"' in page
    top = re.search(r'id="form-error"[^>]*>([^<]+)<a href="#err-capacity"', page)
    assert top and "座位数" in top[1]
    assert staff_registry.store.count() == n
    r = yun.post("/staff/stations/new?lang=en", _form("负座驿站", capacity="-3"))
    assert _field_error(r.get_data(as_text=True), "capacity") == (
        "'-3' is not a number of seats; use a whole number 1-10,000 (e.g. 12), or leave it "
        "empty if not recorded")
    # on an edit too: nothing is saved
    sid = "T04"  # Yunlong, in the editor's scope
    before = staff_registry.store.get(sid)
    r = yun.post(f"/staff/stations/{sid}/edit",
                 {"name": before.name, "type": before.type, "lon": repr(before.lon),
                  "lat": repr(before.lat), "crs": "wgs84", "district_auto": "1",
                  "version": str(before.version), "capacity": "很多"})
    assert r.status_code == 400
    assert "“很多”不是座位数" in _field_error(r.get_data(as_text=True), "capacity")
    assert staff_registry.store.get(sid).version == before.version


# --------------------------------------------------------------------------- REST API


def test_api_writes_and_documents_capacity(app, staff_registry):
    accounts = app.extensions["locator.accounts"]
    token = accounts.create_token("yun", actor="pytest").token
    auth = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    r = client.post("/api/v1/stations", headers=auth, json={
        "name": "接口驿站", "type": "outdoor_worker", "lon": 117.2305, "lat": 34.2405,
        "capacity": 25, "confirm_duplicates": True})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["capacity"] == 25 and staff_registry.store.get(body["id"]).capacity == 25
    r = client.patch(f"/api/v1/stations/{body['id']}", headers={**auth, "If-Match": '"1"'},
                     json={"capacity": "很多"})
    assert r.status_code == 400
    problem = r.get_json()
    assert problem["invalid_params"][0]["name"] == "capacity"
    assert "'很多' is not a number of seats" in problem["detail"]
    r = client.patch(f"/api/v1/stations/{body['id']}?lang=zh",
                     headers={**auth, "If-Match": '"1"'}, json={"capacity": 0})
    assert r.status_code == 400 and "座位数 capacity：0 不是座位数" in r.get_json()["detail"]
    r = client.patch(f"/api/v1/stations/{body['id']}", headers={**auth, "If-Match": '"1"'},
                     json={"capacity": None})
    assert r.status_code == 200 and r.get_json()["capacity"] is None
    spec = client.get("/api/v1/openapi.json").get_json()
    station_in = spec["paths"]["/api/v1/stations"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]["capacity"]
    assert (station_in["type"], station_in["minimum"], station_in["maximum"],
            station_in["nullable"]) == ("integer", 1, MAX_CAPACITY, True)
    one = spec["paths"]["/api/v1/stations/{id}"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["properties"]["capacity"]
    assert one["type"] == "integer" and one["nullable"] is True

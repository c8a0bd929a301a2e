"""Bulk import as a staff member meets it: a GBK spreadsheet with Chinese headers and
GCJ-02 coordinates, errors in the file's own terms, districts from the boundaries,
re-imports and export round trips that change nothing."""

from __future__ import annotations

import json

import pytest
from conftest import DATA

from locator import StationStore
from locator.stations.coords import wgs84_to_gcj02
from locator.store.files import (
    FileError,
    apply_mapping,
    apply_plan,
    assign_districts,
    export_stations,
    load_mapping,
    normalise_name,
    parse_rows,
    plan_import,
    prepare_import,
    propose_mapping,
    read_sheet,
    resolve_mapping,
    save_mapping,
)

ZH_FILE = DATA / "import_zh_gcj02.csv"


@pytest.fixture()
def gbk_csv(tmp_path):
    """The Chinese-header sample re-encoded as GBK, as Excel on a Chinese Windows saves it."""
    p = tmp_path / "驿站.csv"
    p.write_bytes(ZH_FILE.read_text(encoding="utf-8").encode("gbk"))
    return p


@pytest.fixture()
def store(tmp_path):
    s = StationStore(tmp_path / "s.sqlite", create=True)
    yield s
    s.dispose()


def _plan(path, store, districts, **kw):
    return prepare_import(path, existing=store.all(), districts=districts, **kw)


def test_gbk_gcj02_import_assigns_districts_and_flags_outside(gbk_csv, store, districts):
    plan = _plan(gbk_csv, store, districts, crs="gcj02")
    assert plan.encoding == "gb18030" and plan.ok
    assert plan.counts() == {"rows": 6, "new": 6, "updated": 0, "unchanged": 0,
                             "warnings": 1, "errors": 0}
    assert plan.mapping.columns["站点类型"] == "type" and "备注" in plan.mapping.ignored
    by_row = {r.row: r.station for r in plan.created}
    yl = by_row[2]
    assert (yl.name, yl.type, yl.amenities) == ("云龙爱心驿站", "outdoor_worker",
                                                ("drinking_water", "microwave", "phone_charging"))
    assert yl.lon == pytest.approx(117.1850, abs=2e-6) and yl.lat == pytest.approx(34.2615,
                                                                                   abs=2e-6)
    assert {n: (s.district_adcode, s.district_name) for n, s in by_row.items()} == {
        2: ("320303", "云龙区"), 3: ("320303", "云龙区"), 4: ("320311", "泉山区"),
        5: ("320305", "贾汪区"), 6: ("320324", "睢宁县"), 7: ("", "")}
    (w,) = plan.warnings
    assert (w.row, w.column, w.kind, w.severity) == (7, "经度", "outside_districts", "warning")
    assert "不在任何已配置的区县内" in w.message("zh") and "outside every" in w.message("en")
    assert "320303 云龙区" in w.accepted("zh")

    stored = apply_plan(store, plan, actor="t", batch=gbk_csv.name)
    assert store.count() == 6 and {s.id for s in stored} == {s.id for s in store.all()}
    assert store.get(stored[0].id).district_name == "云龙区"


def test_reimport_of_the_same_file_changes_nothing(gbk_csv, store, districts):
    first = apply_plan(store, _plan(gbk_csv, store, districts, crs="gcj02"), actor="t")
    ids = sorted(s.id for s in first)
    hist = len(store.history(limit=1000))
    again = _plan(gbk_csv, store, districts, crs="gcj02")
    assert again.counts()["new"] == 0 and again.counts()["updated"] == 0
    assert again.counts()["unchanged"] == 6
    assert sorted(r.station.id for r in again.unchanged) == ids
    assert {r.matched_by for r in again.unchanged} == {"place"}
    assert apply_plan(store, again, actor="t") == []
    assert store.count() == 6 and len(store.history(limit=1000)) == hist


def test_a_changed_row_is_an_update_with_field_changes_and_keeps_its_id(gbk_csv, store,
                                                                      districts, tmp_path):
    apply_plan(store, _plan(gbk_csv, store, districts, crs="gcj02"), actor="t")
    before = {s.name: s for s in store.all()}
    text = ZH_FILE.read_text(encoding="utf-8").replace("0516-12345678", "0516-87654321")
    # nudged by about 10 m and written with a full-width space and brackets in the name
    glon, glat = wgs84_to_gcj02(117.18511, 34.26155)
    text = text.replace("117.190773,34.260278", f"{glon:.6f},{glat:.6f}")
    text = text.replace("3,泉山职工服务中心", "3,泉山　职工服务中心（）")
    p = tmp_path / "v2.csv"
    p.write_bytes(text.encode("gbk"))
    plan = _plan(p, store, districts, crs="gcj02")
    assert plan.counts()["new"] == 0 and plan.counts()["updated"] == 2
    up = {r.station.id: r for r in plan.updated}
    yl = up[before["云龙爱心驿站"].id]
    assert {c.field for c in yl.changes} == {"phone", "lon", "lat"}
    assert next(c for c in yl.changes if c.field == "phone").new == "0516-87654321"
    assert 5 < yl.distance_m < 20
    qs = up[before["泉山职工服务中心"].id]
    assert [c.field for c in qs.changes] == ["name"]
    stored = apply_plan(store, plan, actor="t")
    assert {s.id: s.version for s in stored} == {i: 2 for i in up}
    assert store.get(yl.station.id).phone == "0516-87654321" and store.count() == 6


def test_names_are_compared_by_width_space_and_case():
    assert normalise_name("【示例】鼓楼 爱心驿站（一）") == \
        normalise_name("【示例】鼓楼爱心驿站(一)")
    assert normalise_name("ＡＢＣ驿站") == normalise_name("abc 驿站")
    assert normalise_name("鼓楼驿站一") != normalise_name("鼓楼驿站二")


def test_row_errors_name_the_files_column_and_the_accepted_chinese_values(tmp_path, districts):
    p = tmp_path / "bad.csv"
    p.write_text("名称,类型,经度,纬度,设施,开放时间\n"
                 "甲,休息室,117.19,34.26,饮水机,24/7\n"
                 "乙,爱心驿站,一百一十七,34.26,桑拿,\n"
                 ",爱心驿站,117.19,34.26,,Mo-Fr 25:00-26:00\n", encoding="utf-8")
    plan = prepare_import(p, districts=districts)
    assert not plan.ok and plan.counts()["errors"] == 5
    e = {(x.row, x.column): x for x in plan.errors}
    t = e[(2, "类型")]
    assert (t.field, t.value, t.kind) == ("type", "休息室", "unknown_value")
    assert t.line("zh").startswith("第 2 行，列“类型”：“休息室”不是可接受的类型")
    assert "户外劳动者服务站点" in t.message("zh") and "母婴室" in t.accepted("zh")
    assert "Outdoor-worker rest station" in t.message("en") and "row 2" in t.line("en")
    assert e[(3, "经度")].kind == "not_a_number" and "不是数字" in e[(3, "经度")].message_zh
    am = e[(3, "设施")]
    assert am.value == "桑拿" and "饮用水" in am.accepted("zh") and "Drinking water" in am.accepted(
        "en")
    assert e[(4, "名称")].kind == "required"
    assert e[(4, "开放时间")].kind == "invalid_hours" and "25:00" in e[(4, "开放时间")].message_zh
    d = t.to_dict("zh")
    assert d["column"] == "类型" and d["message"] == t.message_zh and d["accepted"][0] == \
        "户外劳动者服务站点"


def test_rows_of_one_station_twice_are_an_error(tmp_path, store):
    p = tmp_path / "dup.csv"
    p.write_text("名称,类型,经度,纬度\n鼓楼驿站,爱心驿站,117.19,34.26\n"
                 "鼓楼 驿站,爱心驿站,117.1901,34.2601\n鼓楼驿站,母婴室,117.19,34.26\n",
                 encoding="utf-8")
    plan = _plan(p, store, None)
    (err,) = plan.errors
    assert (err.row, err.kind) == (3, "duplicate_row") and "第 2 行" in err.message_zh
    assert plan.counts()["new"] == 2


def test_id_column_matches_by_id_and_warns_about_a_twin_with_a_new_id(tmp_path, store):
    p = tmp_path / "ids.csv"
    p.write_text("编号,名称,类型,经度,纬度\nA1,鼓楼驿站,爱心驿站,117.19,34.26\n", encoding="utf-8")
    apply_plan(store, _plan(p, store, None), actor="t")
    assert store.get("A1").name == "鼓楼驿站"
    p.write_text("编号,名称,类型,经度,纬度\nA1,鼓楼驿站,爱心驿站,117.2,34.26\n"
                 "B7,鼓楼驿站,爱心驿站,117.19,34.26\n", encoding="utf-8")
    plan = _plan(p, store, None)
    (upd,) = plan.updated
    assert (upd.station.id, upd.matched_by) == ("A1", "id")
    (new,) = plan.created
    assert new.station.id == "B7"
    (w,) = plan.warnings
    assert (w.row, w.kind, w.column) == (3, "possible_duplicate", "编号") and "A1" in w.message_zh


def test_a_district_code_that_disagrees_with_the_point_is_a_warning(tmp_path, districts):
    p = tmp_path / "d.csv"
    p.write_text("名称,类型,经度,纬度,区县代码\n甲,爱心驿站,117.185,34.2615,320311\n"
                 "乙,爱心驿站,117.185,34.2615,320303\n", encoding="utf-8")
    plan = prepare_import(p, districts=districts)
    (w,) = plan.warnings
    assert (w.row, w.column, w.kind) == (2, "区县代码", "district_mismatch")
    assert "320303（云龙区）" in w.message_zh
    assert [r.station.district_name for r in plan.created] == ["泉山区", "云龙区"]


def test_column_mapping_is_data(tmp_path):
    heads = ["站点名称", "站点性质", "X坐标", "Y坐标", "负责人", "created_at"]
    m = propose_mapping(heads)
    assert m.columns == {"站点名称": "name", "站点性质": None, "X坐标": None, "Y坐标": None,
                         "负责人": None, "created_at": None}
    assert m.unknown == ("站点性质", "X坐标", "Y坐标", "负责人") and m.ignored == ("created_at",)
    assert m.missing == ("type", "lon", "lat")
    with pytest.raises(FileError, match="unknown column") as ei:
        resolve_mapping(heads)
    assert "站点性质" in ei.value.text("zh") and "--map" in ei.value.text("zh")
    explicit = {"站点性质": "type", "X坐标": "lon", "Y坐标": "lat", "负责人": None}
    m = resolve_mapping(heads, explicit)
    assert m.fields == {"name": "站点名称", "type": "站点性质", "lon": "X坐标", "lat": "Y坐标"}
    assert m.ignored == ("负责人", "created_at") and not m.unknown
    f = save_mapping(m, tmp_path / "m.json", crs="bd09")
    cols, crs = load_mapping(f)
    assert crs == "bd09" and resolve_mapping(heads, cols).columns == m.columns
    with pytest.raises(FileError, match="not a field"):
        resolve_mapping(heads, {"站点性质": "colour"})
    with pytest.raises(FileError, match="both mean 'type'"):
        resolve_mapping(["名称", "类型", "类别", "经度", "纬度"])


def test_mapping_applies_to_the_sheet(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("站点名称,站点性质,X坐标,Y坐标\n甲,母婴室,117.19,34.26\n", encoding="utf-8")
    sheet = read_sheet(p)
    m = resolve_mapping(sheet.headers, {"站点性质": "type", "X坐标": "lon", "Y坐标": "lat"})
    parsed = parse_rows(apply_mapping(sheet, m))
    (c,) = parsed.candidates
    assert (c.station.type, c.station.lon, c.row) == ("mother_baby", 117.19, 2)
    assert assign_districts(parsed, None) is parsed


@pytest.mark.parametrize(("ext", "crs"), [("csv", "wgs84"), ("csv", "gcj02"), ("xlsx", "bd09"),
                                          ("geojson", "gcj02"), ("geojson", "wgs84")],
                         ids=["csv", "csv-gcj02", "xlsx-bd09", "geojson-gcj02", "geojson"])
def test_export_imports_back_unchanged(tmp_path, store, tiny_stations, districts, ext, crs):
    store.add_many(tiny_stations, actor="t")
    out = tmp_path / f"out.{ext}"
    assert export_stations(store.all(), out, crs=crs) == 10
    plan = _plan(out, store, districts, crs=crs)
    assert plan.ok, [e.line("en") for e in plan.errors]
    assert plan.counts()["unchanged"] == 10 and plan.counts()["new"] == 0
    assert {r.matched_by for r in plan.unchanged} == {"id"}
    assert {"created_at", "updated_at", "version"} <= set(plan.mapping.ignored) or ext == \
        "geojson"


def test_export_in_one_crs_refuses_an_import_in_another(tmp_path, store, tiny_stations):
    store.add_many(tiny_stations, actor="t")
    out = tmp_path / "g.csv"
    export_stations(store.all(), out, crs="gcj02")
    with pytest.raises(FileError, match="choose --crs gcj02") as ei:
        _plan(out, store, None, crs="wgs84")
    assert "坐标系为 gcj02" in ei.value.text("zh")


def test_csv_export_neutralises_formulas_but_not_numbers(tmp_path, store):
    from locator import Station

    evil = Station(id="X1", name="=HYPERLINK(\"http://evil\",\"点我\")", type="legal_aid",
                   lon=-0.1276, lat=51.5072, address="+1 路", operator="@SUM(A1)",
                   phone="+86 516 8888 0000", opening_hours="24/7", source="staff")
    store.add_many([evil], actor="t")
    out = tmp_path / "x.csv"
    export_stations(store.all(), out)
    import csv

    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    (r,) = rows
    assert r["name"].startswith("'=HYPERLINK") and r["address"] == "'+1 路"
    assert r["operator"] == "'@SUM(A1)" and r["phone"] == "'+86 516 8888 0000"
    assert r["lon"] == "-0.1276" and r["lat"] == "51.5072" and r["version"] == "1"
    assert r["notice"].startswith("来源：工作人员录入")
    plan = _plan(out, store, None)
    assert plan.counts()["unchanged"] == 1, [e.line("en") for e in plan.errors]
    xl = tmp_path / "x.xlsx"
    export_stations(store.all(), xl)
    from openpyxl import load_workbook

    ws = load_workbook(xl)["stations"]
    cell = ws.cell(row=2, column=2)
    assert cell.data_type == "s" and cell.value.startswith("=HYPERLINK")
    assert ws.cell(row=2, column=4).value == -0.1276
    assert _plan(xl, store, None).counts()["unchanged"] == 1


def test_exports_carry_source_and_sample_notice(tmp_path, tiny_stations):
    gj = tmp_path / "s.geojson"
    export_stations(tiny_stations, gj, crs="bd09")
    doc = json.loads(gj.read_text(encoding="utf-8"))
    assert doc["notice"].startswith("示例数据") and doc["coordinate_system"] == "bd09"
    assert doc["attribution"]["sources"]["sample"]["count"] == 10
    xl = tmp_path / "s.xlsx"
    export_stations(tiny_stations, xl)
    from openpyxl import load_workbook

    wb = load_workbook(xl)
    about = {r[0]: r[1] for r in wb["about"].iter_rows(values_only=True)}
    assert about["notice"].startswith("示例数据") and about["coordinate_system"] == "wgs84"
    headers = [c.value for c in wb["stations"][1]]
    notice_col = headers.index("notice") + 1
    assert wb["stations"].cell(row=2, column=notice_col).value.startswith("示例数据")


@pytest.mark.parametrize("crs", ["wgs84", "gcj02"])
def test_geopackage_keeps_a_true_wgs84_geometry_and_names_the_column_crs(tmp_path,
                                                                      tiny_stations, crs):
    import geopandas as gpd
    import pyogrio

    out = tmp_path / "s.gpkg"
    export_stations(tiny_stations, out, crs=crs)
    gdf = gpd.read_file(out)
    t01 = gdf.set_index("id").loc["T01"]
    assert gdf.crs.to_epsg() == 4326 and t01.geometry.x == pytest.approx(117.185)
    want = wgs84_to_gcj02(117.185, 34.2615)[0] if crs == "gcj02" else 117.185
    assert t01["lon"] == pytest.approx(want, abs=1e-6) and t01["coordinate_system"] == crs
    assert t01["notice"].startswith("示例数据")
    meta = pyogrio.read_info(out)["layer_metadata"]
    assert meta["coordinate_system"] == crs and meta["notice"].startswith("示例数据")


def test_export_to_a_missing_folder_is_one_clear_error(tmp_path, tiny_stations):
    from locator.store.files import FileAccessError

    with pytest.raises(FileAccessError) as ei:
        export_stations(tiny_stations, tmp_path / "nope" / "x.geojson")
    assert str(ei.value) == f"cannot write {tmp_path / 'nope' / 'x.geojson'}: No such file or " \
                            "directory"


def test_plan_of_plain_stations(tiny_stations):
    plan = plan_import(tiny_stations[:3], tiny_stations)
    assert plan.counts()["unchanged"] == 3
    moved = tiny_stations[0].evolve(lon=tiny_stations[0].lon + 0.001)
    plan = plan_import([moved], tiny_stations)
    (u,) = plan.updated
    assert [c.field for c in u.changes] == ["lon", "lat"] and u.station.id == "T01"
    with pytest.raises(ValueError, match="match_distance_m"):
        plan_import([], [], match_distance_m=-1)


def test_an_upload_reads_like_a_file(tmp_path, store):
    """The web upload has bytes and a file name, not a path: same sheet, same plan."""
    from locator.store.files import sheet_from_bytes

    data = ZH_FILE.read_text(encoding="utf-8").encode("gbk")
    sheet = sheet_from_bytes(data, "上传.csv")
    assert sheet.encoding == "gb18030" and sheet.headers[1] == "站点名称"
    m = propose_mapping(sheet.headers)
    assert m.ignored == ("序号", "备注") and not m.unknown and not m.missing
    plan = prepare_import(sheet, existing=store.all(), crs="gcj02")
    assert plan.counts()["new"] == 6
    with pytest.raises(FileError, match="unsupported file type '.doc'"):
        sheet_from_bytes(data, "x.doc")


def test_progress_is_reported_while_rows_are_checked(tmp_path):
    p = tmp_path / "many.csv"
    p.write_text("名称,类型,经度,纬度\n" + "".join(
        f"站{i},爱心驿站,{117 + i * 1e-4:.6f},34.2\n" for i in range(4500)), encoding="utf-8")
    seen: list[int] = []
    sheet = read_sheet(p)
    parsed = parse_rows(apply_mapping(sheet, resolve_mapping(sheet.headers)),
                        progress=seen.append)
    assert len(parsed.candidates) == 4500 and seen == [2000, 4000, 4500]


def test_size_and_row_limits_are_clear_file_errors(tmp_path, monkeypatch):
    import locator.store.reading as reading

    p = tmp_path / "big.csv"
    p.write_text("名称,类型,经度,纬度\n" + "站,爱心驿站,117.2,34.2\n" * 11, encoding="utf-8")
    monkeypatch.setattr(reading, "MAX_IMPORT_ROWS", 10)
    with pytest.raises(FileError, match="the file has 11 rows; at most 10 per import") as ei:
        read_sheet(p)
    assert ei.value.field == "file" and "每次导入最多 10 行" in ei.value.text("zh")
    monkeypatch.setattr(reading, "MAX_IMPORT_BYTES", 100)
    from locator.store.files import sheet_from_bytes

    with pytest.raises(FileError, match="larger than"):
        sheet_from_bytes(p.read_bytes(), "big.csv")


@pytest.mark.parametrize("sep", [",", "\t", ";"], ids=["comma", "tab", "semicolon"])
def test_the_separator_comes_from_the_header_line(tmp_path, sep):
    p = tmp_path / "s.csv"
    rows = [["名称", "类型", "经度", "纬度", "设施"],
            ["站", "爱心驿站", "117.2", "34.2", "饮水机;微波炉"]]
    body = "\n".join(sep.join(f'"{c}"' if sep == ";" and ";" in c else c for c in r)
                     for r in rows)
    p.write_text(body + "\n", encoding="utf-8")
    (s,) = [c.station for c in prepare_import(p).created]
    assert s.amenities == ("drinking_water", "microwave") and s.lat == 34.2

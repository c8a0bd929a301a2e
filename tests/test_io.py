"""Station files in and out: encodings, Chinese headers, XLSX, GeoJSON, bad files."""

from __future__ import annotations

import json

import pytest

from locator import ImportFailed, InvalidInput, StationStore
from locator.stations.coords import wgs84_to_bd09, wgs84_to_gcj02
from locator.store.files import export_stations, read_station_file, validate_rows

ZH_HEADER = "站点编号,站点名称,站点类型,经度,纬度,详细地址,开放时间,服务设施,联系电话,状态\n"
ZH_ROWS = ("A1,鼓楼爱心驿站,爱心驿站,117.185,34.2615,鼓楼区中山北路1号,Mo-Su 08:00-22:00,"
           "饮水机;微波炉;手机充电,0516-12345678,开放\n"
           "A2,云龙妈咪小屋,爱心妈咪小屋,117.2,34.25,云龙区,24/7,尿布台、哺乳椅,,\n")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"],
                         ids=["utf8", "utf8-bom", "gbk", "gb18030"])
def test_chinese_csv_in_every_encoding(tmp_path, encoding):
    p = tmp_path / "stations.csv"
    p.write_bytes((ZH_HEADER + ZH_ROWS).encode(encoding))
    table = read_station_file(p)
    assert table.encoding == {"gbk": "gb18030"}.get(encoding, encoding)
    st = validate_rows(table)
    assert [s.id for s in st] == ["A1", "A2"]
    a1, a2 = st
    assert (a1.name, a1.type, a1.address) == ("鼓楼爱心驿站", "outdoor_worker", "鼓楼区中山北路1号")
    assert a1.amenities == ("drinking_water", "microwave", "phone_charging")
    assert a1.phone == "0516-12345678" and a1.status == "open" and a1.source == "import"
    assert a2.type == "mother_baby" and a2.amenities == ("baby_changing", "nursing_chair")


def test_gcj02_and_bd09_input_is_converted_to_wgs84(tmp_path):
    glon, glat = wgs84_to_gcj02(117.185, 34.2615)
    blon, blat = wgs84_to_bd09(117.185, 34.2615)
    for crs, (lon, lat) in {"gcj02": (glon, glat), "bd09": (blon, blat)}.items():
        p = tmp_path / f"{crs}.csv"
        p.write_text(f"name,type,lon,lat\n站,outdoor_worker,{lon:.9f},{lat:.9f}\n")
        (s,) = validate_rows(read_station_file(p), crs=crs)
        assert s.lon == pytest.approx(117.185, abs=1e-7)
        assert s.lat == pytest.approx(34.2615, abs=1e-7)


def test_xlsx_with_chinese_headers(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["序号", "名称", "类型", "经度", "纬度", "区县代码", "设施"])
    ws.append([1, "睢宁驿站", "户外劳动者服务站点", 117.94, 33.91, 320324, "座椅,饮用水"])
    ws.append([2, "新沂服务中心", "职工服务中心", 118.35, 34.37, "320381", None])
    p = tmp_path / "s.xlsx"
    wb.save(p)
    table = read_station_file(p)
    assert table.ignored_columns == ["序号"]
    a, b = validate_rows(table)
    assert (a.name, a.type, a.district_adcode) == ("睢宁驿站", "outdoor_worker", "320324")
    assert a.amenities == ("seating", "drinking_water")
    assert (b.type, b.district_adcode, b.amenities) == ("service_centre", "320381", ())


def test_geojson_import(tmp_path):
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [117.1, 34.2]},
         "properties": {"id": "G1", "name": "站", "type": "legal_aid", "amenities": ["seating"]}}]}
    p = tmp_path / "s.geojson"
    p.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    (s,) = validate_rows(read_station_file(p))
    assert (s.id, s.lon, s.lat, s.type, s.amenities) == ("G1", 117.1, 34.2, "legal_aid",
                                                         ("seating",))


@pytest.mark.parametrize(
    ("content", "suffix", "match"),
    [
        (b"", ".csv", "the file is empty"),
        (b"   \n\n", ".csv", "the file is empty"),
        ("名称,类型,经度,纬度\n".encode("utf-16"), ".csv", "binary, not CSV text"),
        (b"\xff\xfe\xfa\xfb\x80\x80,\xff\n", ".csv", "neither UTF-8 nor GBK"),
        (b"name,type,lon\nx,outdoor_worker,117\n", ".csv", "required column 'lat' is missing"),
        (b"name,type,lon,lat,colour\nx,outdoor_worker,117,34,red\n", ".csv",
         "unknown column\\(s\\) 'colour'"),
        (b"name,type,lon,lat\n", ".csv", "header but no data rows"),
        (b"PK\x03\x04garbage", ".xlsx", "not a readable .xlsx workbook"),
        (b"{not json", ".geojson", "not valid JSON"),
        (b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},'
         b' "geometry": {"type": "LineString", "coordinates": [[1,2],[3,4]]}}]}', ".geojson",
         "geometry must be a Point"),
        (b"a,b", ".shp", "unsupported file type '.shp'"),
    ],
    ids=["empty", "blank", "utf16", "garbled", "missing-col", "unknown-col", "no-rows",
         "bad-xlsx", "bad-json", "not-point", "bad-ext"],
)
def test_bad_files_are_rejected(tmp_path, content, suffix, match):
    p = tmp_path / f"bad{suffix}"
    p.write_bytes(content)
    with pytest.raises(InvalidInput, match=match):
        validate_rows(read_station_file(p))


def test_bad_rows_are_all_reported_with_row_and_field(tmp_path):
    p = tmp_path / "rows.csv"
    p.write_text(
        "id,name,type,lon,lat,amenities,opening_hours\n"
        "R1,ok,outdoor_worker,117.1,34.2,,\n"
        "R2,nan lon,outdoor_worker,nan,34.2,,\n"
        "R3,bad type,spa,117.1,34.2,,\n"
        "R4,bad amenity,outdoor_worker,117.1,34.2,sauna,\n"
        "R5,bad hours,outdoor_worker,117.1,34.2,,Mo-Fr 25:00-26:00\n"
        "R1,dup id,outdoor_worker,117.1,34.2,,\n"
        "R7,,outdoor_worker,117.1,34.2,,\n"
        "R8,far,outdoor_worker,2.35,48.85,,\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as ei:
        validate_rows(read_station_file(p), crs="gcj02")
    errs = {e.row: (e.field, str(e)) for e in ei.value.errors}
    assert sorted(errs) == [3, 4, 5, 6, 7, 8, 9]
    assert errs[3][0] == "lon" and "not a finite number" in errs[3][1]
    assert errs[4][0] == "type" and "'spa' is not an accepted type" in errs[4][1]
    assert "Outdoor-worker rest station" in errs[4][1] and "outdoor_worker" in errs[4][1]
    assert errs[5][0] == "amenities" and "'sauna'" in errs[5][1]
    assert errs[6][0] == "opening_hours"
    assert errs[7][0] == "id" and "also on row 2" in errs[7][1]
    assert errs[8][0] == "name" and "required" in errs[8][1]
    assert errs[9][0] in ("lon", "lat") and "China" in errs[9][1]
    assert "7 of 8 rows are invalid; nothing was imported" in str(ei.value)


def test_export_round_trips(tmp_path, tiny_stations):
    store = StationStore(tmp_path / "db.sqlite", create=True)
    stored = store.add_many(tiny_stations, actor="t")
    for ext in ("csv", "xlsx", "geojson", "gpkg"):
        out = tmp_path / f"out.{ext}"
        assert export_stations(stored, out) == len(stored)
        if ext == "gpkg":
            import geopandas as gpd

            gdf = gpd.read_file(out)
            assert gdf.crs.to_epsg() == 4326 and sorted(gdf["id"]) == sorted(
                s.id for s in stored)
            assert gdf.set_index("id").loc["T01"].geometry.x == pytest.approx(117.185)
            continue
        back = validate_rows(read_station_file(out, ignore_unknown=True))
        assert {s.id: (s.lon, s.lat, s.amenities, s.opening_hours, s.status) for s in back} == \
            {s.id: (s.lon, s.lat, s.amenities, s.opening_hours, s.status) for s in stored}
    doc = json.loads((tmp_path / "out.geojson").read_text(encoding="utf-8"))
    assert "Sample data" in doc["notice"]


def test_export_in_gcj02(tmp_path, tiny_stations):
    out = tmp_path / "g.csv"
    export_stations(tiny_stations[:1], out, crs="gcj02")
    (s,) = validate_rows(read_station_file(out, ignore_unknown=True), crs="gcj02")
    assert s.lon == pytest.approx(tiny_stations[0].lon, abs=1e-6)
    text = out.read_text(encoding="utf-8-sig")
    glon, _ = wgs84_to_gcj02(tiny_stations[0].lon, tiny_stations[0].lat)
    assert f"{glon:.7f}" in text

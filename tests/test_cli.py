"""The command line, end to end on a temp database."""

from __future__ import annotations

import json
import sqlite3

import pytest

from locator import Registry
from locator.cli.main import main
from locator.stations.coords import wgs84_to_gcj02


@pytest.fixture()
def db(tmp_path, runner, tiny_csv):
    path = tmp_path / "cli.sqlite"
    r = runner.invoke(main, ["init", "--db", str(path)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["import", str(tiny_csv), "--db", str(path), "--actor", "t"])
    assert r.exit_code == 0, r.output
    assert "已导入 tiny_stations.csv" in r.output and "新增 10，更新 0，未变 0" in r.output
    return path


def _rows(path):
    return sqlite3.connect(path).execute("select count(*) from stations").fetchone()[0]


def test_nearest_json_matches_library(runner, db):
    r = runner.invoke(main, ["nearest", "--db", str(db), "--lon", "117.186", "--lat", "34.262",
                             "-k", "3", "--json", "--mode", "ebike"])
    assert r.exit_code == 0, r.output
    line = json.loads(r.output)
    ids = [x["id"] for x in line["results"]]
    want = Registry.open(db).index.nearest(117.186, 34.262, 3)
    assert ids == [w.id for w in want] == ["T05", "T01", "T02"]
    first = line["results"][0]
    assert first["distance_m"] == pytest.approx(want[0].distance_m, abs=1e-3)
    assert first["mode"] == "ebike" and first["eta_min"] == pytest.approx(
        want[0].eta("ebike"), abs=0.01)
    assert line["notice"].startswith("sample data")
    assert set(first["nav_links"]) == {"amap", "baidu", "tencent", "osm"}


def test_nearest_accepts_gcj02_input(runner, db):
    glon, glat = wgs84_to_gcj02(117.1850, 34.2615)
    r = runner.invoke(main, ["nearest", "--db", str(db), "--lon", f"{glon:.8f}", "--lat",
                             f"{glat:.8f}", "--crs", "gcj02", "-k", "1", "--json"])
    res = json.loads(r.output)["results"][0]
    assert res["id"] == "T01" and res["distance_m"] < 0.01


def test_nearest_filters(runner, db):
    r = runner.invoke(main, ["nearest", "--db", str(db), "--lon", "117.186", "--lat", "34.262",
                             "--type", "母婴室", "--json"])
    assert [x["id"] for x in json.loads(r.output)["results"]] == ["T03"]
    r = runner.invoke(main, ["nearest", "--db", str(db), "--lon", "117.186", "--lat", "34.262",
                             "--open-at", "2026-07-15T03:00", "--amenity", "phone_charging",
                             "-k", "10", "--json"])
    got = {x["id"]: x["open_status"] for x in json.loads(r.output)["results"]}
    assert got == {"T01": "open", "T07": "unknown", "T10": "open"}


def test_batch_queries(runner, db, tmp_path):
    q = tmp_path / "q.csv"
    glon, glat = wgs84_to_gcj02(117.30, 34.30)
    q.write_text(f"id,lon,lat,crs\np1,117.186,34.262,\np2,{glon},{glat},gcj02\n")
    r = runner.invoke(main, ["nearest", "--db", str(db), "--queries", str(q), "-k", "2",
                             "--json"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.output.splitlines()]
    assert [x["query"]["id"] for x in lines] == ["p1", "p2"]
    assert [x["id"] for x in lines[0]["results"]] == ["T05", "T01"]
    assert lines[1]["results"][0]["id"] == "T08"
    for x in lines[0]["results"]:
        assert {"id", "name", "type", "lon", "lat", "distance_m"} <= set(x)


def test_batch_with_bad_rows_fails_naming_rows(runner, db, tmp_path):
    q = tmp_path / "q.csv"
    q.write_text("lon,lat\n117.1,34.2\n117.1,95\nabc,34\n")
    r = runner.invoke(main, ["nearest", "--db", str(db), "--queries", str(q)])
    assert r.exit_code == 2
    assert "row 3: lat: 95.0 is out of range" in r.output
    assert "row 4: lon:" in r.output


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--lon", "117", "--lat", "95"], "lat: 95.0 is out of range; allowed -90..90"),
        (["--lon", "nan", "--lat", "34"], "lon: "),
        (["--lon", "117"], "--lon and --lat are required"),
        (["--lon", "117", "--lat", "34", "--type", "spa"], "type: unknown value 'spa'"),
        (["--lon", "117", "--lat", "34", "--crs", "mars"], "crs"),
        (["--lon", "117", "--lat", "34", "-k", "500"], "k: 500 is out of range"),
        (["--lon", "2.35", "--lat", "48.85", "--crs", "gcj02"], "China"),
        (["--lon", "117", "--lat", "34", "--open-at", "tomorrow"], "open_at: 'tomorrow'"),
    ],
    ids=["lat", "nan", "missing-lat", "type", "crs", "k", "gcj-outside-china", "open_at"],
)
def test_nearest_bad_input_exits_2_with_message(runner, db, args, match):
    r = runner.invoke(main, ["nearest", "--db", str(db), *args])
    assert r.exit_code == 2, r.output
    assert match in r.output
    assert "Traceback" not in r.output


def test_import_dry_run_stores_nothing(runner, tmp_path, tiny_csv):
    path = tmp_path / "d.sqlite"
    runner.invoke(main, ["init", "--db", str(path)])
    r = runner.invoke(main, ["import", str(tiny_csv), "--db", str(path), "--dry-run"])
    assert r.exit_code == 0 and "试运行" in r.output and "新增 10" in r.output
    assert "未写入任何数据" in r.output
    r = runner.invoke(main, ["import", str(tiny_csv), "--db", str(path), "--dry-run",
                             "--lang", "en"])
    assert r.exit_code == 0 and "10 new, 0 updated, 0 unchanged" in r.output
    assert _rows(path) == 0
    nodb = tmp_path / "never.sqlite"
    r = runner.invoke(main, ["import", str(tiny_csv), "--db", str(nodb), "--dry-run"])
    assert r.exit_code == 0 and "新增 10" in r.output and not nodb.exists()


def test_failed_import_leaves_database_as_it_was(runner, db, tmp_path):
    before = sqlite3.connect(db).execute("select * from stations order by id").fetchall()
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,type,lon,lat\nX1,ok,outdoor_worker,117,34\nX2,bad,spa,117,34\n"
                   "T01,renamed,outdoor_worker,117.185,34.2615\n")
    r = runner.invoke(main, ["import", str(bad), "--db", str(db)])
    assert r.exit_code == 2
    assert "错误：第 3 行，列“type”：“spa”不是可接受的类型；可接受的值：户外劳动者服务站点" \
        in r.output
    assert "未导入任何数据" in r.output and "Traceback" not in r.output
    r = runner.invoke(main, ["import", str(bad), "--db", str(db), "--lang", "en"])
    assert "Error: row 3, column \"type\": 'spa' is not an accepted type" in r.output
    after = sqlite3.connect(db).execute("select * from stations order by id").fetchall()
    assert after == before


def test_import_that_loses_a_race_is_one_clear_line(runner, db, tmp_path, monkeypatch):
    import sqlalchemy.exc

    from locator.store.sql import StationStore

    def clash(self, *a, **k):
        raise sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    monkeypatch.setattr(StationStore, "add_many", clash)
    new = tmp_path / "new.csv"
    new.write_text("id,name,type,lon,lat\nN1,新站,outdoor_worker,117.2,34.3\n")
    r = runner.invoke(main, ["import", str(new), "--db", str(db)])
    assert r.exit_code == 1 and "another import or edit stored some of the same stations" in \
        r.output and "Traceback" not in r.output


def test_gbk_chinese_gcj02_import_then_reimport_gives_0_new(runner, tmp_path):
    from conftest import DATA

    src = tmp_path / "驿站.csv"
    src.write_bytes((DATA / "import_zh_gcj02.csv").read_text(encoding="utf-8").encode("gbk"))
    path = tmp_path / "z.sqlite"
    r = runner.invoke(main, ["import", str(src), "--db", str(path), "--crs", "gcj02"])
    assert r.exit_code == 0, r.output
    assert "新增 6，更新 0，未变 0；警告 1 条，错误 0 条" in r.output and "编码 gb18030" in r.output
    assert "警告：第 7 行，列“经度”：位置" in r.output and "不在任何已配置的区县内" in r.output
    rows = sqlite3.connect(path).execute(
        "select name, type, district_adcode, district_name, round(lon, 5), round(lat, 5) "
        "from stations order by name").fetchall()
    assert ("云龙爱心驿站", "outdoor_worker", "320303", "云龙区", 117.185, 34.2615) in rows
    assert ("上海来的驿站", "outdoor_worker", "", "", 121.4737, 31.2304) in rows
    ids = sqlite3.connect(path).execute("select id from stations order by id").fetchall()
    r = runner.invoke(main, ["import", str(src), "--db", str(path), "--crs", "gcj02"])
    assert r.exit_code == 0 and "新增 0，更新 0，未变 6" in r.output
    changed = tmp_path / "v2.csv"
    changed.write_bytes(src.read_bytes().replace(b"0516-12345678", b"0516-1111"))
    r = runner.invoke(main, ["import", str(changed), "--db", str(path), "--crs", "gcj02",
                             "--dry-run"])
    yl = sqlite3.connect(path).execute("select id from stations where name = '云龙爱心驿站'"
                                       ).fetchone()[0]
    assert f"第 2 行：更新 {yl}（phone: '0516-12345678' -> '0516-1111'）" in r.output
    assert "新增 0，更新 1，未变 5" in r.output
    assert sqlite3.connect(path).execute("select id from stations order by id").fetchall() == ids


def test_column_mapping_options_and_saved_mapping(runner, tmp_path):
    src = tmp_path / "a.csv"
    src.write_text("站点名称,站点性质,X,Y,负责人\n甲驿站,爱心驿站,117.19,34.26,张三\n",
                   encoding="utf-8")
    path = tmp_path / "m.sqlite"
    r = runner.invoke(main, ["import", str(src), "--db", str(path), "--dry-run"])
    assert r.exit_code == 2 and "无法识别的列：“站点性质”、“负责人”" in r.output
    saved = tmp_path / "shape.json"
    r = runner.invoke(main, ["import", str(src), "--db", str(path), "--map", "站点性质=type",
                             "--drop", "负责人", "--save-mapping", str(saved), "--crs", "gcj02"])
    assert r.exit_code == 0 and "新增 1" in r.output, r.output
    assert json.loads(saved.read_text(encoding="utf-8"))["columns"]["站点性质"] == "type"
    src2 = tmp_path / "b.csv"
    src2.write_text("站点名称,站点性质,X,Y,负责人\n乙驿站,母婴室,117.2,34.27,李四\n",
                    encoding="utf-8")
    r = runner.invoke(main, ["import", str(src2), "--db", str(path), "--mapping", str(saved)])
    assert r.exit_code == 0 and "新增 1" in r.output and "gcj02" in r.output, r.output
    r = runner.invoke(main, ["import", str(src2), "--db", str(path), "--map", "nonsense"])
    assert r.exit_code == 2 and "--map" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("ext", ["csv", "xlsx", "geojson"])
def test_export_then_import_is_unchanged(runner, db, tmp_path, ext):
    out = tmp_path / f"all.{ext}"
    r = runner.invoke(main, ["export", str(out), "--db", str(db), "--crs", "gcj02"])
    assert r.exit_code == 0 and "Wrote 10 stations" in r.output
    r = runner.invoke(main, ["import", str(out), "--db", str(db), "--crs", "gcj02", "--lang",
                             "en"])
    assert r.exit_code == 0, r.output
    assert "0 new, 0 updated, 10 unchanged" in r.output


@pytest.mark.parametrize(
    ("target", "reason"),
    [("/nonexistent/dir/x.geojson", "No such file or directory"),
     ("{tmp}", "Is a directory")],
    ids=["missing-folder", "a-directory"])
def test_export_to_a_bad_path_is_one_line_and_non_zero(runner, db, tmp_path, target, reason):
    target = target.replace("{tmp}", str(tmp_path)) if "{tmp}" in target else target
    if target == str(tmp_path):
        target = str(tmp_path / "dir.csv")
        (tmp_path / "dir.csv").mkdir()
    r = runner.invoke(main, ["export", target, "--db", str(db)])
    assert r.exit_code != 0
    assert r.output.strip() == f"Error: cannot write {target}: {reason}"
    assert "Traceback" not in r.output


def test_export_to_a_full_disk_leaves_no_file(runner, db, tmp_path, monkeypatch):
    import locator.store.fileio as fileio

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", full)
    out = tmp_path / "x.csv"
    r = runner.invoke(main, ["export", str(out), "--db", str(db)])
    assert r.exit_code == 1
    assert r.output.strip() == f"Error: cannot write {out}: No space left on device"
    assert list(tmp_path.glob("*.csv")) == [] and list(tmp_path.glob(".*")) == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_import_of_an_unreadable_path_is_one_line(runner, db, tmp_path, lang):
    for target, reason in ((tmp_path / "none.csv", "No such file or directory"),
                           (tmp_path, "Is a directory")):
        r = runner.invoke(main, ["import", str(target), "--db", str(db), "--lang", lang])
        assert r.exit_code == 1 and "Traceback" not in r.output
        want = f"Error: cannot read {target}: {reason}" if lang == "en" else \
            f"错误：无法读取 {target}：{reason}"
        assert r.output.strip() == want


def test_export_and_history(runner, db, tmp_path):
    out = tmp_path / "o.geojson"
    r = runner.invoke(main, ["export", str(out), "--db", str(db), "--crs", "gcj02"])
    assert r.exit_code == 0 and "Wrote 10 stations" in r.output and "sample data" in r.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    t01 = next(f for f in doc["features"] if f["id"] == "T01")
    glon, glat = wgs84_to_gcj02(117.185, 34.2615)
    assert t01["geometry"]["coordinates"] == [round(glon, 7), round(glat, 7)]
    assert doc["coordinate_system"] == "gcj02"
    r = runner.invoke(main, ["history", "T01", "--db", str(db)])
    assert "create T01 by t" in r.output


def test_missing_database_is_a_clear_error(runner, tmp_path):
    r = runner.invoke(main, ["nearest", "--db", str(tmp_path / "none.sqlite"), "--lon", "117",
                             "--lat", "34"])
    assert r.exit_code == 1 and "run `locator init`" in r.output


def test_demo_builds_sample_database(runner, tmp_path):
    path = tmp_path / "demo.sqlite"
    r = runner.invoke(main, ["demo", "--db", str(path), "--no-serve"])
    assert r.exit_code == 0, r.output
    assert "SAMPLE stations (illustrative, not real)" in r.output
    n, sample = sqlite3.connect(path).execute(
        "select count(*), sum(source = 'sample') from stations").fetchone()
    assert n == sample and 1000 < n < 1300
    assert "uri.amap.com" in r.output


def test_demo_serves_the_web_app(tmp_path):
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    exe = Path(sys.executable).parent / "locator"
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(exe), "demo", "--db", str(tmp_path / "d.sqlite"), "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        body = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/meta",
                                            timeout=2) as r:
                    body = json.loads(r.read())
                break
            except OSError:
                time.sleep(0.1)
        assert body is not None, "the demo server did not answer"
        assert body["sample_data"] is True and body["stations"] == body["sample_stations"]
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0].decode()
    assert f"http://127.0.0.1:{port}/" in out


def test_cli_import_and_export_are_audited(runner, tmp_path, tiny_csv):
    """A CLI import writes its audit row in the import's own transaction; an export is
    audited too (who, how many rows, which CRS)."""
    from locator import StationStore
    from locator.staff import AccountService

    db = tmp_path / "audited.sqlite"
    r = runner.invoke(main, ["import", str(tiny_csv), "--db", str(db), "--actor", "cli:ops"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "all.csv"
    r = runner.invoke(main, ["export", str(out), "--db", str(db), "--crs", "gcj02"])
    assert r.exit_code == 0, r.output
    store = StationStore(db)
    try:
        events = AccountService(store.engine).audit_events(action="station.*")
        assert [(e.action, e.target) for e in events] == [
            ("station.export", str(out)), ("station.import", tiny_csv.name)]
        assert events[0].detail["rows"] == 10 and events[0].detail["crs"] == "gcj02"
        assert events[1].actor == "cli:ops" and events[1].detail["new"] == 10
    finally:
        store.dispose()


def test_bad_hours_row_is_explained_in_chinese(runner, tmp_path):
    f = tmp_path / "hours.csv"
    f.write_text("名称,类型,经度,纬度,开放时间\n驿站一,爱心驿站,117.23,34.24,Mo-Fr 9-17\n",
                 encoding="utf-8")
    r = runner.invoke(main, ["import", str(f), "--db", str(tmp_path / "h.sqlite"),
                             "--dry-run"])
    assert r.exit_code == 2
    line = next(x for x in r.output.splitlines() if "开放时间" in x)
    assert "第 2 行" in line and "「9-17」写成「09:00-17:00」" in line
    assert "Invalid" not in line and "Traceback" not in r.output

"""Every ``locator`` command the README shows runs through the CLI as written (issue #12):
in a directory holding files of the README's names, with ``LOCATOR_DB`` set, each
command of the README's code blocks is run and its real outcome checked. A command added
to the README without a check here fails :func:`test_every_readme_command_is_run`."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from locator._paths import geodata_dir
from locator.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
NATIONAL = "/data/national-sample"


def readme_commands() -> list[str]:
    """The ``locator ...`` lines of the README's bash blocks (continuations joined,
    comments dropped)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" # ")[0].strip()
            if line.startswith("locator "):
                out.append(re.sub(r"\s+", " ", line))
    return out


def args_of(command: str) -> list[str]:
    return shlex.split(command)[1:]


@pytest.fixture()
def workdir(tmp_path, monkeypatch, tiny_csv):
    """A directory with the README's input files: stations.csv and stations.xlsx (the
    tiny SAMPLE stations, one of them ST-123), points.csv, workers.gpkg, demand.csv,
    districts.geojson, partner_sites.csv and travel_times.csv."""
    import geopandas as gpd
    import openpyxl
    from shapely.geometry import Point

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOCATOR_DB", str(tmp_path / "stations.sqlite"))
    with open(tiny_csv, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    rows[1][0] = "ST-123"
    with open("stations.csv", "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(r)
    wb.save("stations.xlsx")
    Path("points.csv").write_text("id,lon,lat\np1,117.19,34.26\np2,117.25,34.22\n",
                                  encoding="utf-8")
    rng = np.random.default_rng(12)
    lon = 117.19 + rng.uniform(-0.04, 0.04, 300)
    lat = 34.26 + rng.uniform(-0.04, 0.04, 300)
    workers = rng.integers(1, 30, 300)
    points = [Point(x, y) for x, y in zip(lon, lat, strict=True)]
    gpd.GeoDataFrame({"workers": workers}, geometry=points, crs="EPSG:4326").to_file(
        "workers.gpkg", driver="GPKG")
    with open("demand.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "lon", "lat", "weight"])
        w.writerows([f"d{i}", f"{x:.6f}", f"{y:.6f}", int(k)]
                    for i, (x, y, k) in enumerate(zip(lon, lat, workers, strict=True)))
    shutil.copy(geodata_dir() / "xuzhou_districts.geojson", "districts.geojson")
    sites = [f"P{k},{117.13 + 0.012 * k:.3f},{34.21 + 0.007 * (k % 5):.3f}"
             for k in range(1, 13)]
    Path("partner_sites.csv").write_text("id,lon,lat\n" + "\n".join(sites) + "\n",
                                         encoding="utf-8")
    Path("five_more.json").write_text(readme_scenario(), encoding="utf-8")
    return tmp_path


def readme_scenario() -> str:
    """The scenario file the README shows (its one JSON block), as written there."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    return block


def _run(runner, command: str, **kw):
    r = runner.invoke(main, args_of(command), catch_exceptions=False, **kw)
    assert r.exit_code == 0, f"{command}\n{r.output}"
    assert "Traceback" not in r.output
    return r


def _last_json(r):
    return json.loads(r.stdout.strip().splitlines()[-1])


def _check_store_and_staff(runner, cmds: dict[str, str], here: Path) -> None:
    from locator import StationStore

    _run(runner, cmds["init"])
    assert Path("stations.sqlite").exists() and StationStore("stations.sqlite").all() == []
    dry = _run(runner, cmds["import-xlsx"])
    assert "10" in dry.output and StationStore("stations.sqlite").all() == []  # a dry run
    _run(runner, cmds["import-csv"])
    stored = {s.id: s for s in StationStore("stations.sqlite").all()}
    assert len(stored) == 10 and "ST-123" in stored
    _run(runner, cmds["export"])
    geo = json.loads(Path("stations.geojson").read_text(encoding="utf-8"))
    assert {f["properties"]["id"] for f in geo["features"]} == set(stored)
    near = _run(runner, cmds["nearest"])
    assert re.search(r"\b(ST-123|T\d\d)\b", near.stdout)
    many = [json.loads(x) for x in _run(runner, cmds["nearest-queries"]).stdout.splitlines()
            if x.startswith("{")]
    assert len(many) == 2
    hist = _run(runner, cmds["history"])
    assert "ST-123" in hist.stdout
    _run(runner, cmds["users-admin"], input="Correct-Horse-Battery-9\n")
    _run(runner, cmds["users-editor"], input="Huaihai-Road-Keeper-48\n")
    tok = _run(runner, cmds["tokens"])
    assert re.search(r"[A-Za-z0-9_-]{24,}", tok.stdout)  # the token, printed once
    _run(runner, cmds["audit"])
    with open("audit.csv", encoding="utf-8-sig", newline="") as f:
        audit = list(csv.DictReader(f))
    assert len(audit) >= 3  # the import and the two accounts at least


def _check_planning(runner, cmds: dict[str, str]) -> None:
    plain = _run(runner, cmds["coverage"])
    assert "Time: opening hours ignored" in plain.stdout and "15 min: covered" in plain.stdout
    at = _last_json(_run(runner, cmds["coverage-at"]))
    assert at["evaluated_at"].startswith("2026-07-15T22:00")
    assert at["coverage"]["engine"]["mode"] == "ebike"
    heat = _run(runner, cmds["coverage-heat"])
    assert "fit for a heat day" in heat.stdout
    assert "极端天气覆盖" in Path("heat-day.html").read_text(encoding="utf-8")
    full = _run(runner, cmds["coverage-files"])
    assert Path("gaps.gpkg").stat().st_size > 0 and "<html" in Path(
        "coverage.html").read_text(encoding="utf-8").lower()
    assert "Gaps written to gaps.gpkg" in full.stdout
    _run(runner, cmds["suggest-candidates"])
    sites = json.loads(Path("new_sites.geojson").read_text(encoding="utf-8"))
    chosen = [f["properties"]["id"] for f in sites["features"]]
    assert len(set(chosen)) == len(chosen) == 10
    assert set(chosen) <= {f"P{k}" for k in range(1, 13)}
    # A matrix from another routing tool: over the default (illustrative) demand layer.
    from locator.coverage import load_illustrative_demand

    ids = [str(i) for i in load_illustrative_demand().ids[:50]]
    # M1 reaches all 50 units; M2..M12 one unit each.
    rows = [f"{d},M1,{5 + k % 7}" for k, d in enumerate(ids)] + \
        [f"{ids[k]},M{k + 1},3" for k in range(1, 12)]
    Path("travel_times.csv").write_text("demand_id,site_id,minutes\n" + "\n".join(rows),
                                        encoding="utf-8")
    r = _run(runner, cmds["suggest-matrix"])
    assert re.search(r"^\s+1\. M1\b", r.stdout, flags=re.M)
    acc = _run(runner, cmds["access"])
    assert "Access (E2SFCA, 15 min" in acc.stdout and "Equity: Gini" in acc.stdout
    with open("access.csv", encoding="utf-8-sig", newline="") as f:
        rows = [row for row in csv.reader(f) if row and not row[0].startswith("#")]
    assert rows[0][-1] == "access" and len(rows) > 1000  # the illustrative layer's units
    named = _run(runner, cmds["suggest-xlsx"])
    import openpyxl

    ws = openpyxl.load_workbook("new_sites.xlsx").active
    table = [[c.value for c in r] for r in ws.iter_rows()]
    head = next(i for i, r in enumerate(table) if r[0] == "rank")
    sites = [dict(zip(table[head], r, strict=True)) for r in table[head + 1:]]
    assert len(sites) == 5 and all("距「" in x["name"] for x in sites)
    assert all(f"{x['name']}  [{x['id']}]" in named.stdout for x in sites)
    prof = _run(runner, cmds["profile"])
    assert "工作日" in prof.stdout or "workday" in prof.stdout
    with open("profile.csv", encoding="utf-8-sig", newline="") as f:
        hours = {r["hour"] for r in csv.DictReader(f) if not r["hour"].startswith("#")}
    assert len(hours) == 24
    sc = _run(runner, cmds["scenario"])
    assert "五个新站，夜间开放云龙二站" in sc.stdout
    with open("deltas.csv", encoding="utf-8-sig", newline="") as f:
        deltas = list(csv.DictReader(f))
    assert {float(r["minutes"]) for r in deltas} == {5.0, 10.0, 15.0}
    assert all(r["name"] for r in deltas) and any(r["adcode"] for r in deltas)
    tgt = _run(runner, cmds["target"])
    assert "Target: 95.0% of demand" in tgt.stdout and "New sites needed: " in tgt.stdout
    with open("target_sites.csv", encoding="utf-8-sig", newline="") as f:
        chosen = [r for r in csv.DictReader(f) if r.get("id")]
    count = int(re.search(r"New sites needed: ([\d,]+)", tgt.stdout)[1].replace(",", ""))
    assert len(chosen) == count > 0


def test_every_readme_command_is_run():
    """The README's commands are exactly those this module runs."""
    assert sorted(readme_commands()) == sorted(README_COMMANDS.values())


#: Each README command by the name the checks use.
README_COMMANDS = {
    "serve": "locator serve --db stations.sqlite",
    "users-admin": "locator users add admin --role admin",
    "users-editor": "locator users add yunlong --role editor --scope 320303",
    "tokens": 'locator tokens create yunlong --label "import script"',
    "audit": "locator audit export audit.csv",
    "init": "locator init",
    "import-xlsx": "locator import stations.xlsx --crs gcj02 --dry-run",
    "import-csv": "locator import stations.csv --crs gcj02",
    "export": "locator export stations.geojson --crs gcj02",
    "nearest": "locator nearest --lon 117.19 --lat 34.26 -k 5 --amenity drinking_water "
               "--open-now --mode ebike",
    "nearest-queries": "locator nearest --queries points.csv --json",
    "history": "locator history ST-123",
    "coverage": "locator coverage --db stations.sqlite",
    "coverage-at": "locator coverage --mode ebike --minutes 10 --at 2026-07-15T22:00 --json",
    "coverage-heat": "locator coverage --weather heat --report heat-day.html",
    "coverage-files": "locator coverage --demand workers.gpkg --weight workers --districts "
                      "districts.geojson --out gaps.gpkg --report coverage.html",
    "suggest-candidates": "locator suggest -n 10 --candidates partner_sites.csv --exact "
                          "--out new_sites.geojson",
    "suggest-matrix": "locator suggest -n 10 --matrix travel_times.csv",
    "access": "locator access --method e2sfca --out access.csv",
    "suggest-xlsx": "locator suggest -n 5 --grid-spacing 400 --out new_sites.xlsx",
    "profile": "locator profile --day 2026-12-07 --profile sanitation --out profile.csv",
    "scenario": "locator scenario five_more.json --minutes 5,10,15 --out deltas.csv",
    "target": "locator target --target 95% --demand workers.gpkg --weight workers --out "
              "target_sites.csv",
    "national-sample": f"locator coverage national-sample --out {NATIONAL}",
    "dataset": f"locator coverage --dataset {NATIONAL} --detour 1 --minutes 15 "
               "--table districts.csv",
    "partitions": "locator coverage --demand demand.csv --partitions district",
}


def test_the_readme_store_staff_and_planning_commands(runner, workdir):
    _check_store_and_staff(runner, README_COMMANDS, workdir)
    _check_planning(runner, README_COMMANDS)


def test_the_readme_national_commands(runner, workdir):
    """The national data set, smaller than the README's default (the same command with
    --stations/--demand), and its coverage on Dask; the partitioned run of a demand
    file equals the single-process one."""
    out = workdir / "national-sample"
    sample = README_COMMANDS["national-sample"].replace(NATIONAL, str(out))
    _run(runner, sample + " --stations 2000 --demand 20000 --rows-per-part 5000")
    assert (out / "manifest.json").exists()
    table = _run(runner, README_COMMANDS["dataset"].replace(NATIONAL, str(out)))
    assert "Per-district table written to districts.csv" in table.stdout
    with open("districts.csv", encoding="utf-8-sig", newline="") as f:
        assert len(list(csv.DictReader(f))) > 10
    _run(runner, "locator init")
    _run(runner, "locator import stations.csv --crs gcj02")
    part = _run(runner, README_COMMANDS["partitions"] + " --json")
    single = _run(runner, "locator coverage --demand demand.csv --json")
    assert _last_json(part)["coverage"]["thresholds"] == \
        _last_json(single)["coverage"]["thresholds"]


def test_the_readme_serve_command(workdir):
    """``locator serve --db stations.sqlite`` serves the app (on a free port here)."""
    from locator import StationStore

    StationStore("stations.sqlite", create=True).dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "locator.cli.main", *args_of(README_COMMANDS["serve"]),
           "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ})
    try:
        end = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz",
                                            timeout=2) as r:
                    assert r.status == 200
                    assert json.loads(r.read())["store"]["reachable"] is True
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < end, "the server did not answer in 30 s"
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()

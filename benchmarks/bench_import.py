"""Benchmark of the bulk import: 100,000 CSV rows (GCJ-02) de-duplicated against 100,000
stored stations in a real SQLite store, against a naive peer in the same run.

The instance (synthetic, seeded; nothing here is real data):

* 100,000 stored stations at random points inside the shipped Xuzhou district
  boundaries, six types, Chinese names, amenities, hours and districts, stored with
  ``StationStore.add_many`` (history rows included) once; every timed run works on
  a fresh copy of that database file;
* a CSV with Chinese headers (名称, 类型, 经度, 纬度, 地址, 开放时间, 设施, 电话), no id
  column, coordinates in GCJ-02 with 7 decimals, as Amap gives them: 40,000 rows are
  stored stations exactly as stored (unchanged), 5,000 the same with a new phone
  number, 5,000 the same moved by 5-20 m (both updated), 50,000 new stations.

Rows of the table:

1. ``locator import`` path, end to end in a fresh process: read and decode the file,
   map the columns, validate every row (vectorised GCJ-02 -> WGS-84) and assign its
   district (vectorised point in polygon), read the store (``store.all()``), plan
   (KD-tree match by type, 50 m and normalised name), write the new and updated
   stations in one transaction (``apply_plan`` -> ``StationStore.add_many(upsert=True)``).
   Wall time per stage, CPU time and peak RSS (``VmHWM``) of that process; the median
   of ``--runs`` runs.
2. The same for re-importing the stored stations' own export (100,000 rows, all
   unchanged): what a second import of one file costs.
3. Naive peer in the same run: ``pandas.read_csv`` of the whole file, then for each
   row a brute-force numpy haversine against all 100,000 stored stations with the
   same type/name filter, timed on the first ``--peer-rows`` rows (default 2,000) and
   extrapolated linearly to 100,000 rows; its matches are checked against ours on
   that subset. (The peer does no validation and no store write, so it is a lower
   bound of a naive import.)

4. What-if (only with ``--what-if``): row 1 once more with ``Station.to_dict`` replaced,
   in that process only, by a field-by-field version. This measured the proposal that
   ``Station.to_dict`` stop using ``dataclasses.asdict``; the shipped ``to_dict`` now
   does exactly that, so the row is off by default and only shows the two are equal.

Targets: row 1 under 60 s and under 2 GB peak RSS.

Usage::

    python benchmarks/bench_import.py            # full run, writes RESULTS-import.md
    python benchmarks/bench_import.py --quick    # 10,000 x 10,000, prints only
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, not an install
from _common import (  # noqa: E402
    MALLOC_ENV,
    fmt_ratio,
    machine_lines,
    markdown_table,
    peak_rss_bytes,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TYPES_ZH = ["爱心驿站", "母婴室", "职工服务中心", "司机之家", "法律援助站", "康乃馨服务站"]
TYPE_CODES = ["outdoor_worker", "mother_baby", "service_centre", "driver_home", "legal_aid",
              "women_worker"]
AMENITY_ZH = ["座椅", "饮水机", "微波炉", "空调", "手机充电", "急救药箱", "卫生间", "无线网络"]
HOURS = ["24/7", "Mo-Fr 08:00-20:00", "Mo-Su 09:00-21:00", "Mo-Fr 08:30-17:30; PH off",
         "Mo-Sa 07:00-19:00"]
HEADER = "名称,类型,经度,纬度,地址,开放时间,设施,电话\n"


# --------------------------------------------------------------------- data
def _points_in_districts(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    from locator.coverage import load_xuzhou_districts

    d = load_xuzhou_districts()
    x0, y0, x1, y1 = d.union().bounds
    lon: list[np.ndarray] = []
    lat: list[np.ndarray] = []
    have = 0
    while have < n:
        x = rng.uniform(x0, x1, 2 * n)
        y = rng.uniform(y0, y1, 2 * n)
        ok = d.assign(x, y) != ""
        lon.append(x[ok])
        lat.append(y[ok])
        have += int(ok.sum())
    return np.concatenate(lon)[:n], np.concatenate(lat)[:n]


def _records(lon: np.ndarray, lat: np.ndarray, rng: np.random.Generator, start: int
             ) -> list[dict[str, Any]]:
    n = lon.size
    types = rng.integers(0, len(TYPES_ZH), n)
    hours = rng.integers(0, len(HOURS), n)
    out = []
    for i in range(n):
        k = rng.integers(1, 5)
        am = rng.choice(len(AMENITY_ZH), k, replace=False)
        out.append({
            "名称": f"徐州第{start + i}号{TYPES_ZH[types[i]]}", "类型": TYPES_ZH[types[i]],
            "lon": float(lon[i]), "lat": float(lat[i]), "地址": f"测试路{start + i}号",
            "开放时间": HOURS[hours[i]], "设施": ";".join(AMENITY_ZH[j] for j in sorted(am)),
            "电话": f"0516-{8000_0000 + start + i}" if i % 3 == 0 else "",
        })
    return out


def _csv_line(r: dict[str, Any], glon: float, glat: float) -> str:
    return (f"{r['名称']},{r['类型']},{glon:.7f},{glat:.7f},{r['地址']},{r['开放时间']},"
            f"{r['设施']},{r['电话']}\n")


def build(work: Path, n_existing: int, n_rows: int, seed: int) -> dict[str, Any]:
    """The stored database and the CSV; returns facts about them."""
    from locator import StationStore
    from locator.coverage import load_xuzhou_districts
    from locator.stations.coords import wgs84_to_gcj02
    from locator.store.files import apply_mapping, parse_rows, read_sheet, resolve_mapping

    rng = np.random.default_rng(seed)
    lon, lat = _points_in_districts(n_existing, rng)
    stored = _records(lon, lat, rng, 0)
    # The stored stations are what an import of their own rows gives: build them with the
    # import code from a WGS-84 CSV, so that every field is what validation makes of it.
    seed_csv = work / "seed.csv"
    with seed_csv.open("w", encoding="utf-8") as fh:
        fh.write(HEADER)
        for r in stored:
            fh.write(_csv_line(r, r["lon"], r["lat"]))
    sheet = read_sheet(seed_csv)
    parsed = parse_rows(apply_mapping(sheet, resolve_mapping(sheet.headers)), crs="wgs84",
                        districts=load_xuzhou_districts())
    stations = [c.station for c in parsed.candidates]
    db = work / "base.sqlite"
    store = StationStore(db, create=True)
    t0 = time.perf_counter()
    store.add_many(stations, actor="bench")
    setup_s = time.perf_counter() - t0
    store.dispose()
    # The import file: unchanged, changed phone, moved, new.
    n_same = n_rows * 40 // 100
    n_phone = n_rows * 5 // 100
    n_moved = n_rows * 5 // 100
    n_new = n_rows - n_same - n_phone - n_moved
    pick = rng.permutation(n_existing)[: n_same + n_phone + n_moved]
    rows: list[tuple[dict[str, Any], float, float]] = []
    for j, i in enumerate(pick):
        r = dict(stored[i])
        x, y = r["lon"], r["lat"]
        if n_same <= j < n_same + n_phone:
            r["电话"] = f"0516-{6000_0000 + j}"
        elif j >= n_same + n_phone:
            d = rng.uniform(5, 20)
            a = rng.uniform(0, 2 * np.pi)
            y = y + d * np.cos(a) / 111_195.0
            x = x + d * np.sin(a) / (111_195.0 * np.cos(np.radians(y)))
        rows.append((r, x, y))
    nlon, nlat = _points_in_districts(n_new, rng)
    for r in _records(nlon, nlat, rng, n_existing):
        rows.append((r, r["lon"], r["lat"]))
    order = rng.permutation(len(rows))
    xs = np.array([rows[k][1] for k in order])
    ys = np.array([rows[k][2] for k in order])
    gx, gy = wgs84_to_gcj02(xs, ys)
    path = work / "import_gcj02.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write(HEADER)
        for k, x, y in zip(order, gx, gy, strict=True):
            fh.write(_csv_line(rows[k][0], float(x), float(y)))
    # the re-import file: the stored stations' own export, in GCJ-02
    from locator.store.files import export_stations

    export = work / "export_gcj02.csv"
    export_stations(StationStore(db).all(), export, crs="gcj02")
    return {"db": str(db), "csv": str(path), "export": str(export), "setup_s": setup_s,
            "n_existing": n_existing, "n_rows": n_rows,
            "expect": {"new": n_new, "updated": n_phone + n_moved, "unchanged": n_same},
            "csv_mb": path.stat().st_size / 2**20}


# --------------------------------------------------------------------- child: one import
def _patch_to_dict() -> None:
    """The what-if of row 4: ``Station.to_dict`` without ``dataclasses.asdict``."""
    from locator.stations.model import FIELDS, Station

    orig = Station.to_dict

    def to_dict(self: Station, *, lang: str | None = None) -> dict[str, Any]:
        if lang:
            return orig(self, lang=lang)
        d = {f: getattr(self, f) for f in FIELDS}
        d["amenities"] = list(self.amenities)
        for k in ("verified_date", "created_at", "updated_at"):
            v = d[k]
            d[k] = v.isoformat() if v is not None else None
        return d

    Station.to_dict = to_dict  # type: ignore[method-assign]
    Station._orig_to_dict = orig  # type: ignore[attr-defined]


def child(db: str, csv: str) -> dict[str, Any]:
    """One import as ``locator import --crs gcj02`` does it, stage by stage."""
    import os

    t = {}
    t0 = time.perf_counter()
    if os.environ.get("BENCH_WHAT_IF") == "to_dict":
        _patch_to_dict()
    from locator import StationStore
    from locator.coverage import load_xuzhou_districts
    from locator.store.files import (
        apply_mapping,
        apply_plan,
        parse_rows,
        plan_import,
        read_sheet,
        resolve_mapping,
    )

    t["import modules"] = time.perf_counter() - t0
    s = time.perf_counter()
    sheet = read_sheet(csv)
    table = apply_mapping(sheet, resolve_mapping(sheet.headers))
    t["read + map"] = time.perf_counter() - s
    s = time.perf_counter()
    parsed = parse_rows(table, crs="gcj02", districts=load_xuzhou_districts())
    t["validate + districts"] = time.perf_counter() - s
    s = time.perf_counter()
    store = StationStore(db)
    existing = store.all()
    t["store.all()"] = time.perf_counter() - s
    orig = getattr(type(existing[0]), "_orig_to_dict", None) if existing else None
    if orig is not None:  # the what-if must give the very same history records
        assert all(orig(x) == x.to_dict() for x in existing[:2000])
    s = time.perf_counter()
    plan = plan_import(parsed, existing)
    t["plan (match)"] = time.perf_counter() - s
    s = time.perf_counter()
    stored = apply_plan(store, plan, actor="bench", batch=Path(csv).name)
    t["store write"] = time.perf_counter() - s
    total = time.perf_counter() - t0
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"stages": t, "total_s": total, "cpu_s": ru.ru_utime + ru.ru_stime,
            "counts": plan.counts(), "written": len(stored), "count_after": store.count(),
            "peak_rss": peak_rss_bytes()}


def run_child(db: str, csv: str, *, what_if: str = "") -> dict[str, Any]:
    import os

    env = {**os.environ, **MALLOC_ENV, "PYTHONPATH": str(ROOT), "BENCH_WHAT_IF": what_if}
    proc = subprocess.run([sys.executable, __file__, "--child", db, csv], capture_output=True,
                          text=True, env=env, check=False, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------- naive peer
def peer(db: str, csv: str, n_rows: int, radius_m: float = 50.0) -> dict[str, Any]:
    """pandas read_csv, then per-row brute-force haversine against every stored station."""
    import pandas as pd

    from locator import StationStore
    from locator.geo import haversine_np
    from locator.stations.coords import gcj02_to_wgs84
    from locator.stations.vocab import STATION_TYPES
    from locator.store.files import normalise_name

    t0 = time.perf_counter()
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    read_s = time.perf_counter() - t0
    ex = StationStore(db).all()
    ex_lon = np.array([s.lon for s in ex])
    ex_lat = np.array([s.lat for s in ex])
    ex_type = np.array([s.type for s in ex])
    ex_name = np.array([normalise_name(s.name) for s in ex])
    sub = df.iloc[:n_rows]
    t0 = time.perf_counter()
    matches: list[str | None] = []
    for r in sub.itertuples(index=False):
        lon, lat = gcj02_to_wgs84(float(r[2]), float(r[3]))
        d = haversine_np(lon, lat, ex_lon, ex_lat)
        ok = (d <= radius_m) & (ex_type == STATION_TYPES.parse(r[1])) & (
            ex_name == normalise_name(r[0]))
        hit = np.flatnonzero(ok)
        matches.append(ex[hit[np.argmin(d[hit])]].id if hit.size else None)
    match_s = time.perf_counter() - t0
    return {"read_s": read_s, "match_s_subset": match_s, "rows": len(sub),
            "match_s_extrapolated": match_s * len(df) / max(1, len(sub)),
            "matches": matches}


def our_matches(db: str, csv: str, n: int) -> list[str | None]:
    from locator import StationStore
    from locator.store.files import prepare_import

    plan = prepare_import(csv, existing=StationStore(db).all(), crs="gcj02")
    by_row = {r.row: (r.existing.id if r.existing is not None else None) for r in plan.rows}
    return [by_row.get(k + 2) for k in range(n)]


# --------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10,000 x 10,000; writes nothing")
    ap.add_argument("--runs", type=int, default=3, help="timed import runs (median)")
    ap.add_argument("--peer-rows", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--out", default=None, help="results file (default RESULTS-import.md for "
                                                "a full run; '-' writes nothing)")
    ap.add_argument("--what-if", action=argparse.BooleanOptionalAction, default=None,
                    help="add row 4 (default: on in a full run, off with --quick)")
    ap.add_argument("--child", nargs=2, metavar=("DB", "CSV"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(*a.child)))
        return 0
    n = 10_000 if a.quick else 100_000
    out = a.out if a.out is not None else ("-" if a.quick else str(HERE / "RESULTS-import.md"))
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        work = Path(tmp)
        print(f"building {n:,} stored stations and a {n:,}-row CSV ...", file=sys.stderr)
        facts = build(work, n, n, a.seed)
        runs = []
        for k in range(a.runs):
            db = work / f"run{k}.sqlite"
            shutil.copy(facts["db"], db)
            print(f"import run {k + 1}/{a.runs} ...", file=sys.stderr)
            runs.append(run_child(str(db), facts["csv"]))
        re_runs = []
        for k in range(max(1, a.runs)):
            db = work / f"re{k}.sqlite"
            shutil.copy(facts["db"], db)
            print(f"re-import run {k + 1} ...", file=sys.stderr)
            re_runs.append(run_child(str(db), facts["export"]))
        what_if = []
        if a.what_if:
            db = work / "whatif.sqlite"
            shutil.copy(facts["db"], db)
            print("what-if run ...", file=sys.stderr)
            what_if.append(run_child(str(db), facts["csv"], what_if="to_dict"))
        print("naive peer ...", file=sys.stderr)
        pr = peer(facts["db"], facts["csv"], a.peer_rows)
        ours = our_matches(facts["db"], facts["csv"], a.peer_rows)
    same = sum(x == y for x, y in zip(ours, pr["matches"], strict=True))
    report = render(facts, runs, re_runs, pr, same, what_if)
    print(report)
    if out != "-":
        Path(out).write_text(report + "\n", encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    med = float(np.median([r["total_s"] for r in runs]))
    peak = max(r["peak_rss"] for r in runs)
    return 0 if med < 60 and peak < 2 * 2**30 else 1


def render(facts: dict[str, Any], runs: list[dict], re_runs: list[dict], pr: dict[str, Any],
           same: int, what_if: list[dict]) -> str:
    n, m = facts["n_rows"], facts["n_existing"]

    def med(rs: list[dict], key: str | None = None) -> float:
        return float(np.median([r["total_s"] if key is None else r["stages"][key] for r in rs]))

    def cpu(rs: list[dict]) -> float:
        return float(np.median([r["cpu_s"] for r in rs]))

    stage_names = list(runs[0]["stages"])
    peak = max(r["peak_rss"] for r in runs)
    re_peak = max(r["peak_rss"] for r in re_runs)
    c = runs[0]["counts"]
    rc = re_runs[0]["counts"]
    stages = ", ".join(f"{k} {med(runs, k):.2f} s" for k in stage_names)
    re_stages = ", ".join(f"{k} {med(re_runs, k):.2f} s" for k in stage_names)
    peer_total = pr["read_s"] + pr["match_s_extrapolated"]
    rows = [
        ["ours: `locator import` path (fresh process)", f"{n:,} rows × {m:,} stored",
         f"{med(runs):.1f} s", f"{cpu(runs):.1f} s", f"{peak / 2**20:,.0f} MB",
         f"{c['new']:,} new, {c['updated']:,} updated, {c['unchanged']:,} unchanged; "
         f"{c['warnings']} warnings, {c['errors']} errors", stages],
        ["ours: re-import of the store's own export", f"{n:,} rows × {m:,} stored",
         f"{med(re_runs):.1f} s", f"{cpu(re_runs):.1f} s", f"{re_peak / 2**20:,.0f} MB",
         f"{rc['new']:,} new, {rc['updated']:,} updated, {rc['unchanged']:,} unchanged",
         re_stages],
        ["peer: pandas read_csv + per-row brute-force haversine",
         f"{pr['rows']:,} rows timed × {m:,} stored, extrapolated to {n:,}",
         f"{peer_total:,.0f} s", "—", "—",
         f"matches equal to ours on the subset: {same:,} of {pr['rows']:,}",
         f"read_csv {pr['read_s']:.2f} s; matching {pr['match_s_subset']:.1f} s for "
         f"{pr['rows']:,} rows ({pr['match_s_subset'] / pr['rows'] * 1e3:.1f} ms/row); no "
         "validation, no store write"],
    ]
    if what_if:
        w = what_if[0]
        rows.append([
            "what-if: row 1 with a `Station.to_dict` without `asdict` (proposal)",
            f"{n:,} rows × {m:,} stored", f"{w['total_s']:.1f} s", f"{w['cpu_s']:.1f} s",
            f"{w['peak_rss'] / 2**20:,.0f} MB",
            f"{w['counts']['new']:,} new, {w['counts']['updated']:,} updated, "
            f"{w['counts']['unchanged']:,} unchanged",
            ", ".join(f"{k} {v:.2f} s" for k, v in w["stages"].items()) + "; one run"])
    table = markdown_table(["method", "instance", "wall time", "CPU time", "peak RSS", "result",
                            "note"], rows, "llrrrll")
    exp = facts["expect"]
    ok_counts = (c["new"], c["updated"], c["unchanged"]) == (exp["new"], exp["updated"],
                                                             exp["unchanged"])
    lines = [
        "# Bulk import benchmark", "",
        "Written by `python benchmarks/bench_import.py` (full run); see the script's docstring "
        "for the instance and what each row measures. Synthetic, seeded data inside the "
        "shipped Xuzhou boundaries; the CSV has Chinese headers, no id column and GCJ-02 "
        f"coordinates ({facts['csv_mb']:.1f} MB). Our times are medians of {len(runs)} runs, "
        "each in a fresh process on a fresh copy of the database; CPU time is that "
        "process's user + system time (the machine is shared: when other work runs, wall "
        "time exceeds CPU time); peak RSS is its `VmHWM`.", "",
        *machine_lines(["numpy", "scipy", "shapely", "sqlalchemy", "pandas", "openpyxl"]),
        f"- Building the stored set (`add_many` of {m:,} new stations, untimed setup): "
        f"{facts['setup_s']:.1f} s", "",
        table, "",
        f"- {'PASS' if med(runs) < 60 else 'FAIL'}: {n:,} rows against {m:,} stored in "
        f"{med(runs):.1f} s (< 60 s), store write included",
        f"- {'PASS' if peak < 2 * 2**30 else 'FAIL'}: peak RSS {peak / 2**20:,.0f} MB (< 2 GB)",
        f"- {'PASS' if ok_counts else 'FAIL'}: the plan finds what the file holds "
        f"({exp['new']:,} new, {exp['updated']:,} updated, {exp['unchanged']:,} unchanged)",
        f"- {'PASS' if rc['new'] == 0 and rc['updated'] == 0 else 'FAIL'}: re-importing the "
        f"export changes nothing ({rc['unchanged']:,} unchanged)",
        f"- {'PASS' if same == pr['rows'] else 'FAIL'}: the brute-force peer finds the same "
        f"matches on its {pr['rows']:,} rows; ours is {fmt_ratio(peer_total / med(runs))} "
        "faster end to end than the peer's read + match alone",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

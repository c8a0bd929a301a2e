"""Benchmark of planning scenarios: the incremental delta against a full rerun.

Target (issue #12): a scenario's delta for 10 added stations on 1,000,000 demand points
(straight line, 10,000 base stations) under 1 s, incremental (not a full rerun), equal
to the full rerun.

What is timed:

- **base** (once, reported apart): :func:`locator.coverage.scenario.scenario_base`: the
  stations that count, each demand unit's reach count, the base report, the demand's
  KD-tree;
- **delta**: :meth:`ScenarioBase.compare` of a scenario: which touched stations start or
  stop counting, their reach, the updated counts, every figure (city and districts), the
  units that gain and lose coverage;
- **full rerun** (the peer, same run): :func:`~locator.coverage.metrics.select_stations`
  on :func:`~locator.coverage.scenario.apply_scenario`'s stations and a fresh
  :func:`~locator.coverage.metrics.coverage_report`.

Each scenario's figures are checked equal to the rerun's (every CoverageFigures field,
exactly) and its gaining/losing units equal to the set differences of fresh covered
tests. Medians of interleaved rounds. The data are synthetic and seeded (points clustered
around Xuzhou's core and county seats, as in ``bench_coverage.py``; added stations at
random demand points, so mostly in the dense core); nothing here is real.

Usage::

    python benchmarks/bench_scenario.py            # full run, writes RESULTS-scenario.md
    python benchmarks/bench_scenario.py --quick    # 100,000 x 1,000, writes nothing
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import fmt_ratio, machine_lines, markdown_table  # noqa: E402
from bench_coverage import points  # noqa: E402

from locator.coverage import (  # noqa: E402
    StraightLineEngine,
    coverage_report,
    demand_from_points,
    load_xuzhou_districts,
    select_stations,
)
from locator.coverage.scenario import Scenario, apply_scenario, scenario_base  # noqa: E402
from locator.stations.model import Station  # noqa: E402

HERE = Path(__file__).resolve().parent
TARGET_S = 1.0


def instance(seed: int, n_demand: int, n_stations: int):
    rng = np.random.default_rng(seed)
    d_lon, d_lat = points(rng, n_demand, 0.10)
    s_lon, s_lat = points(rng, n_stations, 0.05)
    dem = demand_from_points(d_lon, d_lat, rng.integers(1, 50, n_demand).astype(float),
                             districts=load_xuzhou_districts(), source="illustrative")
    hours = np.array(["24/7", "Mo-Su 08:00-20:00", "Mo-Fr 09:00-17:00", ""], dtype=object)
    pick = rng.integers(0, hours.size, n_stations)
    records = [Station(f"S{j:05d}", f"示例站 {j}", "outdoor_worker", float(s_lon[j]),
                       float(s_lat[j]), opening_hours=hours[pick[j]] or None, source="sample")
               for j in range(n_stations)]
    return rng, dem, records


def scenarios(rng: np.random.Generator, dem, records) -> list[Scenario]:
    at = rng.choice(len(dem), 15, replace=False)
    add = [{"id": f"NEW-{k}", "name": f"拟建 {k}", "type": "outdoor_worker",
            "lon": float(dem.lon[i]), "lat": float(dem.lat[i]), "opening_hours": "24/7"}
           for k, i in enumerate(at[:10])]
    ids = [records[i].id for i in rng.choice(len(records), 10, replace=False)]
    return [Scenario.from_dict({"name": "10 added", "add": add}),
            Scenario.from_dict({"name": "10 added, 5 closed, 5 re-houred", "add": add,
                                "close": ids[:5],
                                "change": {i: {"opening_hours": "Mo-Su 18:00-06:00"}
                                           for i in ids[5:]}})]


def check(engine, res, records, sc, dem, dist, minutes, at) -> tuple[bool, str]:
    """The delta equals the full rerun: every figure, and the gaining/losing units."""
    mod = apply_scenario(records, sc)
    want = coverage_report(engine, select_stations(mod, at=at), dem, minutes=minutes,
                           districts=dist)
    same = res.report.thresholds == want.thresholds and res.report.stations == want.stations
    for t in res.thresholds:
        s0 = select_stations(records, at=at)
        s1 = select_stations(mod, at=at)
        before = engine.reach_counts(s0.lon, s0.lat, dem.lon, dem.lat, t.minutes, cap=1) > 0
        after = engine.reach_counts(s1.lon, s1.lat, dem.lon, dem.lat, t.minutes, cap=1) > 0
        same &= np.array_equal(t.gained, np.flatnonzero(after & ~before))
        same &= np.array_equal(t.lost, np.flatnonzero(before & ~after))
    t = res.thresholds[-1]
    return same, (f"{t.city.units_gained:,} gain / {t.city.units_lost:,} lose; "
                  f"{t.city.change_points:+.4f} points")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--seed", type=int, default=20261205)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    n_d, n_s = (100_000, 1_000) if args.quick else (1_000_000, 10_000)
    rounds = args.rounds or (3 if args.quick else 5)
    rng, dem, records = instance(args.seed, n_d, n_s)
    dist = load_xuzhou_districts()
    eng = StraightLineEngine("walk")
    scs = scenarios(rng, dem, records)
    rows, checks = [], []
    for minutes, at in (([15.0], None), ([15.0], "2026-07-15T22:00"),
                        ([5.0, 10.0, 15.0], None)):
        t0 = time.perf_counter()
        base = scenario_base(eng, records, dem, minutes=minutes, districts=dist, at=at)
        base_s = time.perf_counter() - t0
        label = f"{', '.join(f'{m:g}' for m in minutes)} min; " + (
            "hours ignored" if at is None else f"open at {at}")
        rows.append([label, "base state (once)", "—", f"{base_s * 1000:,.0f}", "—", "—",
                     f"{len(base.stations):,} stations counted"])
        for sc in scs:
            delta_t, full_t = [], []
            for _ in range(rounds):
                t0 = time.perf_counter()
                res = base.compare(sc)
                delta_t.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                coverage_report(eng, select_stations(apply_scenario(records, sc), at=at), dem,
                                minutes=minutes, districts=dist)
                full_t.append(time.perf_counter() - t0)
            d, f = statistics.median(delta_t), statistics.median(full_t)
            same, note = check(eng, res, records, sc, dem, dist, minutes, at)
            rows.append([label, sc.name, "delta", f"{d * 1000:,.0f}", "1.00×",
                         "equal" if same else "DIFFERENT", note])
            rows.append([label, sc.name, "full rerun", f"{f * 1000:,.0f}", fmt_ratio(f / d),
                         "—", ""])
            if sc.name == "10 added" and minutes == [15.0] and at is None:
                checks.append((f"delta for 10 added stations on {n_d:,} demand x {n_s:,} "
                               f"stations at 15 min: {d:.3f} s median (target < "
                               f"{TARGET_S:g} s); full rerun {f:.3f} s, ratio "
                               f"{f / d:.1f}x", d < TARGET_S))
            checks.append((f"{sc.name} ({label}): figures and gaining/losing units equal "
                           "the full rerun's", same))
    table = markdown_table(["thresholds, time", "scenario", "method", "median ms",
                            "time vs delta", "vs full rerun", "note (largest threshold)"],
                           rows, "lllrrll")
    lines = [f"{'PASS' if ok else 'FAIL'}: {text}" for text, ok in checks]
    print(table)
    print()
    print("\n".join(lines))
    out = args.out or (None if args.quick else str(HERE / "RESULTS-scenario.md"))
    if out and out != "-":
        Path(out).write_text("\n".join([
            "# Planning scenarios: incremental delta against a full rerun", "",
            f"{n_d:,} illustrative (synthetic, seeded) demand points and {n_s:,} illustrative "
            "stations around Xuzhou (hours drawn from 24/7, 08-20, weekdays 09-17, none), "
            "a walk in straight line (x 1.3), Xuzhou's districts. Scenarios: 10 stations "
            "added at random demand points; the same plus 5 closed and 5 given night hours. "
            "The base state is computed once per row group (its time apart); the delta and "
            f"the full rerun (select_stations + coverage_report on apply_scenario's stations) "
            f"are medians of {rounds} interleaved rounds. Written by "
            "`python benchmarks/bench_scenario.py`.",
            "", *machine_lines(["numpy", "scipy", "shapely"]), "", table, "",
            *[f"- {ln}" for ln in lines], ""]), encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark of the 24-hour coverage profile against 24 independent coverage runs.

Target (issue #12): the 24-hour profile for 1,000,000 demand points x 10,000 stations in
straight line (a 15-minute walk) in under 3x one coverage run, with the 24 hourly
shares equal to those of 24 independent runs.

What is timed (medians of interleaved rounds):

- **one run**: the planning service's coverage at one hour (12:00, the hour with the most
  stations open): ``select_stations(records, at=...)`` and ``coverage_report`` at 15
  minutes with the districts;
- **profile**: :func:`locator.coverage.profile.coverage_profile` for the whole day: every
  station's state at each hour, the reach of the stations counted all day once, the
  others' reach matrix for the units those leave below 3, the 24 hours' figures by
  district and the night gaps;
- **naive**: 24 independent runs (one per hour), as above.

The check: each hour's covered share, cross-covered share and covered unit count equal
the naive run's. An extra row (info, not a target) times the worst case for the
profile, a day on which no station counts at every hour.

Data are synthetic and seeded (points clustered around Xuzhou's core and county seats,
as in ``bench_coverage.py``; hours drawn from a mix modelled on the sample stations and
the field notes); nothing here is real.

Usage::

    python benchmarks/bench_profile.py            # full run, writes RESULTS-profile.md
    python benchmarks/bench_profile.py --quick    # 100,000 x 1,000, writes nothing
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from datetime import datetime
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
from locator.coverage.profile import coverage_profile  # noqa: E402
from locator.stations.model import Station  # noqa: E402
from locator.time_util import zone  # noqa: E402

HERE = Path(__file__).resolve().parent
RATIO_TARGET = 3.0
MINUTES = 15.0
DAY = "2026-12-07"  # a Monday
ONE_RUN_HOUR = 12
#: (hours, share): ILLUSTRATIVE mix, after the sample stations' (locator.stations.sample)
#: and the field notes (staffed 08:00-22:00, weekday-only, split hours 8:30-12 and
#: 14:30-18, unstaffed 24/7 stations, a few night stations, some hours unknown).
HOURS_MIX = (
    ("24/7", 0.10), ("", 0.08), ("Mo-Su 08:00-22:00", 0.25),
    ("Mo-Fr 08:30-17:30; PH off", 0.15), ("Mo-Fr 08:00-18:00; Sa,Su 09:00-17:00", 0.12),
    ("Mo-Su 07:00-21:00", 0.15), ("Mo-Su 08:30-12:00,14:30-18:00", 0.10),
    ("Mo-Su 22:00-06:00", 0.05),
)
#: The worst case: no station counts at every hour (no 24/7, no unknown hours).
WORST_MIX = tuple((h, s) for h, s in HOURS_MIX if h not in ("24/7", ""))


def records_for(rng: np.random.Generator, lon: np.ndarray, lat: np.ndarray,
                mix=HOURS_MIX) -> list[Station]:
    texts = [h for h, _ in mix]
    p = np.array([s for _, s in mix])
    pick = rng.choice(len(texts), size=lon.size, p=p / p.sum())
    return [Station(id=f"S{j:05d}", name=f"示例站点{j}", type="outdoor_worker",
                    lon=float(x), lat=float(y), opening_hours=texts[k] or None,
                    source="sample")
            for j, (x, y, k) in enumerate(zip(lon, lat, pick, strict=True))]


def one_run(engine, records, dem, dist, hour: int):
    at = datetime.fromisoformat(f"{DAY}T{hour:02d}:00").replace(tzinfo=zone())
    st = select_stations(records, at=at)
    return coverage_report(engine, st, dem, minutes=[MINUTES], districts=dist).at(MINUTES)


def naive(engine, records, dem, dist):
    return [one_run(engine, records, dem, dist, h) for h in range(24)]


def clock(fn):
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def compare(prof, runs) -> tuple[float, int]:
    """Largest relative difference of the shares, and hours whose covered units differ."""
    worst, units = 0.0, 0
    for h, ref in enumerate(runs):
        got = prof.hours[h].city
        for a, b in ((got.share_demand, ref.city.share_demand),
                     (got.share_cross, ref.city.share_cross)):
            a, b = float(a or 0.0), float(b or 0.0)
            worst = max(worst, abs(a - b) / max(abs(b), 1e-300) if b else abs(a))
        units += got.units_covered != ref.city.units_covered
        for x, y in zip(prof.hours[h].districts, ref.districts, strict=True):
            units += x.figures.units_covered != y.figures.units_covered
    return worst, units


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--seed", type=int, default=20261207)
    ap.add_argument("--no-worst", action="store_true", help="Skip the worst-case row.")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    n_d, n_s = (100_000, 1_000) if args.quick else (1_000_000, 10_000)
    rounds = args.rounds or (2 if args.quick else 3)
    rng = np.random.default_rng(args.seed)
    dist = load_xuzhou_districts()
    d_lon, d_lat = points(rng, n_d, 0.10)
    s_lon, s_lat = points(rng, n_s, 0.05)
    t0 = time.perf_counter()
    dem = demand_from_points(d_lon, d_lat, rng.integers(1, 50, n_d).astype(float),
                             districts=dist, source="illustrative", weight_name="workers")
    print(f"demand built in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    records = records_for(rng, s_lon, s_lat)
    eng = StraightLineEngine("walk")
    times: dict[str, list[float]] = {"one": [], "profile": [], "naive": []}
    prof = runs = None
    for r in range(rounds):
        t, _ = clock(lambda: one_run(eng, records, dem, dist, ONE_RUN_HOUR))
        times["one"].append(t)
        t, prof = clock(lambda: coverage_profile(eng, records, dem, DAY, minutes=MINUTES,
                                                 districts=dist))
        times["profile"].append(t)
        t, runs = clock(lambda: naive(eng, records, dem, dist))
        times["naive"].append(t)
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
              file=sys.stderr)
    assert prof is not None and runs is not None
    med = {k: statistics.median(v) for k, v in times.items()}
    rel, units_diff = compare(prof, runs)
    same = rel <= 1e-9 and units_diff == 0
    st = prof.stations
    rows = [
        ["one run (12:00)", f"{med['one']:.2f}", "1.00×",
         f"{100 * (runs[ONE_RUN_HOUR].city.share_demand or 0):.1f}% covered at 12:00"],
        ["profile (24 hours)", f"{med['profile']:.2f}", fmt_ratio(med["profile"] / med["one"]),
         f"{st['counted_all_day']:,} stations counted all day, {st['counted_some_hours']:,} "
         "at some hours"],
        ["naive (24 runs)", f"{med['naive']:.2f}", fmt_ratio(med["naive"] / med["one"]),
         f"profile {med['naive'] / med['profile']:.1f}× faster"],
    ]
    if not args.no_worst:
        worst_records = records_for(np.random.default_rng(args.seed + 1), s_lon, s_lat,
                                    WORST_MIX)
        t, wp = clock(lambda: coverage_profile(eng, worst_records, dem, DAY,
                                               minutes=MINUTES, districts=dist))
        rows.append(["profile, worst case (info)", f"{t:.2f}", fmt_ratio(t / med["one"]),
                     f"no station counted all day ({wp.stations['counted_some_hours']:,} at "
                     "some hours): the full reach matrix; one round"])
    ratio = med["profile"] / med["one"]
    checks = [
        (f"24-hour profile {ratio:.2f}x one coverage run on {n_d:,} x {n_s:,} at "
         f"{MINUTES:g} min (target < {RATIO_TARGET:g}x; naive 24 runs "
         f"{med['naive'] / med['one']:.1f}x)", ratio < RATIO_TARGET),
        (f"the 24 hourly covered and cross-covered shares equal the 24 independent runs' "
         f"(max relative difference {rel:.1e}; covered units differ in {units_diff} "
         "hour x area cells)", same),
    ]
    table = markdown_table(["method", "median s", "vs one run", "note"], rows, "lrrl")
    shares = markdown_table(
        ["hour", "stations counted", "covered", "cross"],
        [[h.label, f"{h.stations_counted:,}", f"{100 * (h.city.share_demand or 0):.1f}%",
          f"{100 * (h.city.share_cross or 0):.1f}%"] for h in prof.hours], "lrrr")
    lines = [f"{'PASS' if ok else 'FAIL'}: {text}" for text, ok in checks]
    print(table)
    print()
    print("\n".join(lines))
    out = args.out or (None if args.quick else str(HERE / "RESULTS-profile.md"))
    if out and out != "-":
        mix = ", ".join(f"{h or '(unknown)'} {s:.0%}" for h, s in HOURS_MIX)
        Path(out).write_text("\n".join([
            "# 24-hour coverage profile: one pass against 24 runs", "",
            f"{n_d:,} illustrative demand points and {n_s:,} illustrative stations around "
            f"Xuzhou (synthetic, seeded {args.seed}; clustered as in bench_coverage.py), a "
            f"{MINUTES:g}-minute walk (straight line x 1.3), {DAY} (a Monday), districts "
            f"of Xuzhou. Station hours (illustrative mix): {mix}. Medians of {rounds} "
            "interleaved rounds on a shared 2-CPU machine (noisy). Written by "
            "`python benchmarks/bench_profile.py`.", "",
            *machine_lines(["numpy", "scipy"]), "", table, "",
            *[f"- {ln}" for ln in lines], "", "Hourly figures of the profile "
            "(illustrative data):", "", shares, ""]), encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark of coverage counts and site suggestions, with their peers in the same run.

Targets (PASS/FAIL lines):

1. Straight-line covered count, 1,000,000 demand points against 10,000 stations at 1 km:
   ``StraightLineEngine.reach_counts(..., cap=1)`` (exact at the boundary) within 1.5x
   of a bare scipy cKDTree query on the unit sphere
   (``tree.query(xyz, k=1, distance_upper_bound=chord)``), including the tree build and
   the lon/lat -> xyz conversion on both sides; the same covered set, and the same as
   brute-force haversine on a sample.
2. Site suggestions: 10 sites from 2,000 candidates for 100,000 demand points (300
   existing stations kept) in under 10 s, matrix build included.
3. Peer for siting: PySAL spopt's ``MCLP.from_cost_matrix`` (PuLP + CBC) on the very
   siting instance (the existing stations as spopt's predefined facilities), against our
   greedy and exact solve there. spopt needs a dense cost matrix and its model build
   writes one PuLP term per matrix cell, so this row takes many minutes;
   ``--spopt-size DxC`` runs it on a smaller instance of its own instead.

The road-network engine has its own benchmark, ``bench_network.py``.

Usage::

    python benchmarks/bench_coverage.py                 # full run, writes RESULTS-coverage.md
    python benchmarks/bench_coverage.py --quick         # smaller sizes, writes nothing
    python benchmarks/bench_coverage.py --spopt-size 5000x500 --out -

Data are synthetic and seeded: points gather around Xuzhou's urban core and county
seats (as in the illustrative demand layer), with a uniform share over the city's
bounding box. Nothing here is real data.
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import fmt_num, machine_lines, markdown_table, rss_bytes  # noqa: E402

from locator.coverage import (
    Candidates,
    StraightLineEngine,
    build_siting_problem,
    demand_from_points,
    exact_sites,
    greedy_sites,
    station_set,
)
from locator.geo import chord_for_m, haversine_np, unit_xyz_np  # noqa: E402

HERE = Path(__file__).resolve().parent
#: (lon, lat, sigma_km, weight): Xuzhou's core and seats (approximate), as in demand.py.
CENTRES = (
    (117.185, 34.262, 4.0, 0.30), (117.240, 34.250, 3.0, 0.08), (117.155, 34.240, 3.0, 0.08),
    (117.170, 34.190, 3.0, 0.06), (117.200, 34.250, 10.0, 0.10), (117.450, 34.440, 3.0, 0.05),
    (116.590, 34.700, 3.0, 0.06), (116.930, 34.720, 3.0, 0.06), (117.940, 33.910, 3.0, 0.06),
    (118.350, 34.370, 3.0, 0.06), (117.960, 34.330, 3.0, 0.09),
)
BBOX = (116.40, 33.70, 118.65, 34.98)
TIME_RATIO_TARGET = 1.5
SITING_SECONDS_TARGET = 10.0


def points(rng: np.random.Generator, n: int, uniform_share: float) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """``n`` points: clustered around CENTRES, ``uniform_share`` uniform over BBOX."""
    nu = int(n * uniform_share)
    nc = n - nu
    w = np.array([c[3] for c in CENTRES])
    k = rng.choice(len(CENTRES), size=nc, p=w / w.sum())
    c = np.array(CENTRES)
    sig_lat = c[k, 2] / 111.0
    sig_lon = c[k, 2] / (111.0 * np.cos(np.radians(c[k, 1])))
    lon = np.concatenate((c[k, 0] + rng.normal(0, 1, nc) * sig_lon,
                          rng.uniform(BBOX[0], BBOX[2], nu)))
    lat = np.concatenate((c[k, 1] + rng.normal(0, 1, nc) * sig_lat,
                          rng.uniform(BBOX[1], BBOX[3], nu)))
    perm = rng.permutation(n)
    return lon[perm], lat[perm]


def _peer_covered(slon, slat, dlon, dlat, radius_m: float, workers: int) -> np.ndarray:
    tree = cKDTree(unit_xyz_np(slon, slat), compact_nodes=False, balanced_tree=False)
    _, idx = tree.query(unit_xyz_np(dlon, dlat), k=1, distance_upper_bound=chord_for_m(radius_m),
                        workers=workers)
    return idx < slon.size


def bench_counts(args, rng, rows, checks) -> None:
    n_d, n_s = args.demand, args.stations
    dlon, dlat = points(rng, n_d, 0.15)
    slon, slat = points(rng, n_s, 0.10)
    eng = StraightLineEngine("walk", detour=1.0)  # 15 minutes = 1 km, the programme's circle
    radius = eng.radius_m(15)
    fns = {
        "ours": lambda: eng.reach_counts(slon, slat, dlon, dlat, 15, cap=1),
        "peer": lambda: _peer_covered(slon, slat, dlon, dlat, radius, eng.workers),
    }
    times: dict[str, list[float]] = {k: [] for k in fns}
    out: dict[str, Any] = {}
    for name, fn in fns.items():  # warm-up
        out[name] = fn()
    for _ in range(args.rounds):
        for name, fn in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            out[name] = fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    ours_cov = out["ours"] > 0
    same = bool(np.array_equal(ours_cov, out["peer"]))
    n_diff = int(np.count_nonzero(ours_cov != out["peer"]))
    # Brute force on a sample: haversine against every station.
    sample = rng.choice(n_d, size=min(2000, n_d), replace=False)
    brute = np.array([(haversine_np(dlon[i], dlat[i], slon, slat) <= radius).any()
                      for i in sample])
    brute_ok = bool(np.array_equal(brute, ours_cov[sample]))
    # Extra rows: full counts and counts capped at 3 (cross-coverage levels).
    t_full, full = _once(lambda: eng.reach_counts(slon, slat, dlon, dlat, 15))
    t_cap3, cap3 = _once(lambda: eng.reach_counts(slon, slat, dlon, dlat, 15, cap=3))
    inst = f"{n_d:,} demand × {n_s:,} stations, 1 km"
    share = f"{ours_cov.mean():.1%} covered"
    ratio = med["ours"] / med["peer"]
    rows.append(["covered count", inst, "ours: `reach_counts(cap=1)`, exact",
                 f"{med['ours']:.3f} s", share,
                 f"{ratio:.2f}× peer; same set: {same} ({n_diff} differ); brute-force sample "
                 f"of {sample.size:,}: {'equal' if brute_ok else 'DIFFERENT'}"])
    rows.append(["covered count", inst, "peer: cKDTree `query(k=1, distance_upper_bound)`",
                 f"{med['peer']:.3f} s", f"{out['peer'].mean():.1%} covered", "chord only"])
    rows.append(["reach counts", inst, "ours: `reach_counts(cap=3)` (0/1/2/3+)",
                 f"{t_cap3:.3f} s", f"{(cap3 >= 2).mean():.1%} reached by 2+",
                 "info (one run)"])
    rows.append(["reach counts", inst, "ours: `reach_counts()` (all)", f"{t_full:.3f} s",
                 f"mean {full.mean():.1f} stations", "info (one run)"])
    checks.append((f"covered count within {TIME_RATIO_TARGET}× of cKDTree k=1 query "
                   f"({ratio:.2f}×)", ratio <= TIME_RATIO_TARGET))
    checks.append((f"covered count exact: same set as the peer ({n_diff} differ) and as "
                   "brute-force haversine on the sample", same and brute_ok))


def _once(fn) -> tuple[float, Any]:
    gc.collect()
    t0 = time.perf_counter()
    res = fn()
    return time.perf_counter() - t0, res


def _instance(rng, n_d: int, n_c: int, n_existing: int):
    dlon, dlat = points(rng, n_d, 0.15)
    w = rng.integers(1, 20, n_d).astype(float)
    dem = demand_from_points(dlon, dlat, w)
    clon, clat = points(rng, n_c, 0.10)
    cand = Candidates(np.array([f"C{j}" for j in range(n_c)], dtype=object), clon, clat, "bench")
    slon, slat = points(rng, n_existing, 0.0)
    st = station_set([f"S{j}" for j in range(n_existing)], slon, slat)
    return dem, cand, st


def bench_siting(args, rng, rows, checks, shared) -> None:
    n_d, n_c, n_sites = args.siting_demand, args.candidates, 10
    dem, cand, st = _instance(rng, n_d, n_c, 300)
    shared.update(dem=dem, cand=cand, st=st)
    eng = StraightLineEngine("walk", detour=1.0)
    t_build, prob = _once(lambda: build_siting_problem(eng, st, dem, cand, 15))
    t_greedy, g = _once(lambda: greedy_sites(prob, n_sites))
    total = t_build + t_greedy
    shared.update(prob=prob, greedy=g, t_build=t_build, t_greedy=t_greedy)
    inst = f"{n_d:,} demand, {n_c:,} candidates, 300 existing, n=10"
    rows.append(["site suggestions", inst, "ours: matrix build (engine)", f"{t_build:.3f} s",
                 f"{prob.matrix.nnz:,} pairs", ""])
    rows.append(["site suggestions", inst, "ours: lazy greedy", f"{t_greedy:.3f} s",
                 f"+{fmt_num(g.objective)} covered", f"build + greedy {total:.2f} s"])
    if args.exact_limit > 0:
        t_ex, ex = _once(lambda: exact_sites(prob, n_sites, time_limit=args.exact_limit))
        shared.update(exact=ex, t_exact=t_ex)
        gap = (ex.objective - g.objective) / ex.objective if ex.objective else 0.0
        rows.append(["site suggestions", inst, "ours: exact MILP (HiGHS)", f"{t_ex:.2f} s",
                     f"+{fmt_num(ex.objective)} covered",
                     f"status {ex.status}; greedy gap {gap:.3%}"])
    checks.append((f"10 sites from {n_c:,} candidates for {n_d:,} demand points in "
                   f"{total:.2f} s (< {SITING_SECONDS_TARGET:g} s)",
                   total < SITING_SECONDS_TARGET))


def bench_spopt(args, rng, rows, checks, notes, shared) -> None:
    try:
        import pulp
        from spopt.locate import MCLP
    except ImportError:
        notes.append("spopt is not installed (`pip install spopt`): its rows were skipped.")
        return
    eng = StraightLineEngine("walk", detour=1.0)
    radius = eng.radius_m(15)
    if args.spopt_size == "same":
        # The siting instance itself: existing stations are spopt's predefined facilities.
        dem, cand, st = shared["dem"], shared["cand"], shared["st"]
        prob, g, ex = shared["prob"], shared["greedy"], shared.get("exact")
        t_b, t_g, t_e = shared["t_build"], shared["t_greedy"], shared.get("t_exact")
        n_d, n_c, n_e = len(dem), len(cand), int(st.lon.size)
        site_lon, site_lat = np.r_[cand.lon, st.lon], np.r_[cand.lat, st.lat]
        inst = f"{n_d:,} demand, {n_c:,} candidates, {n_e} existing, n=10 (the siting instance)"
    else:
        n_d, n_c = (int(v) for v in args.spopt_size.lower().split("x"))
        n_e = 0
        dem, cand, _ = _instance(rng, n_d, n_c, 0)
        site_lon, site_lat = cand.lon, cand.lat
        inst = f"{n_d:,} demand, {n_c:,} candidates, n=10 (no existing)"
        t_b, prob = _once(lambda: build_siting_problem(eng, station_set([], [], []), dem, cand,
                                                       15))
        t_g, g = _once(lambda: greedy_sites(prob, 10))
        t_e, ex = _once(lambda: exact_sites(prob, 10, time_limit=max(args.exact_limit, 60.0)))
    t_cost, cost = _once(lambda: np.concatenate([
        haversine_np(dem.lon[i:i + 2000, None], dem.lat[i:i + 2000, None], site_lon[None, :],
                     site_lat[None, :]) for i in range(0, n_d, 2000)]))
    aij_same = bool(np.array_equal(cost[:, :n_c] <= radius, prob.matrix.toarray()))
    base = (cost[:, n_c:] <= radius).any(axis=1) if n_e else np.zeros(n_d, dtype=bool)
    predefined = np.r_[np.zeros(n_c, dtype=bool), np.ones(n_e, dtype=bool)]
    import warnings

    print(f"    spopt on {n_d:,} x {n_c + n_e:,} (this can take many minutes) ...",
          file=sys.stderr, flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rss0 = rss_bytes()
        t_sb, model = _once(lambda: MCLP.from_cost_matrix(
            cost, dem.weight, radius, 10 + n_e,
            predefined_facilities_arr=predefined if n_e else None))
        model_mb = (rss_bytes() - rss0) / 1e6
        cost = None  # free the dense matrix before the solve
        t_ss, _ = _once(lambda: model.solve(pulp.PULP_CBC_CMD(msg=False)))
    chosen = [j for j in range(n_c + n_e) if model.fac_vars[j].value() and
              model.fac_vars[j].value() > 0.5]
    new_sites = [j for j in chosen if j < n_c]
    reached = (model.aij[:, chosen] > 0).any(axis=1) if chosen else np.zeros(n_d, dtype=bool)
    sp_obj = float(dem.weight[reached & ~base].sum())  # demand newly covered
    rows.append(["MCLP peer", inst, "ours: matrix build + lazy greedy", f"{t_b + t_g:.3f} s",
                 f"+{fmt_num(g.objective)} covered",
                 f"gap to optimum {(ex.objective - g.objective) / ex.objective:.3%}"
                 if ex is not None and ex.objective else ""])
    if ex is not None:
        rows.append(["MCLP peer", inst, "ours: matrix build + exact MILP (HiGHS)",
                     f"{t_b + t_e:.2f} s", f"+{fmt_num(ex.objective)} covered",
                     f"status {ex.status}"])
    rows.append(["MCLP peer", inst, "spopt `MCLP.from_cost_matrix` + CBC",
                 f"{t_sb + t_ss:.2f} s", f"+{fmt_num(sp_obj)} covered",
                 f"{len(new_sites)} new sites; model build {t_sb:.1f} s (RSS +{model_mb:,.0f} MB), "
                 f"solve {t_ss:.1f} s; dense cost matrix ({n_d * (n_c + n_e) * 8 / 1e6:,.0f} MB) "
                 f"took {t_cost:.2f} s more; same coverage sets: {aij_same}"])
    if ex is not None:
        checks.append((f"spopt optimum +{fmt_num(sp_obj)} equals our exact optimum "
                       f"+{fmt_num(ex.objective)}", abs(sp_obj - ex.objective) < 1e-6))
    checks.append((f"on the same instance our greedy (+{fmt_num(g.objective)}, "
                   f"{t_b + t_g:.2f} s) is within {(sp_obj - g.objective) / sp_obj:.2%} of "
                   f"spopt's optimum in {(t_sb + t_ss) / (t_b + t_g):,.0f}x less time",
                   sp_obj > 0 and g.objective >= (1 - 1 / math.e) * sp_obj))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes; writes nothing")
    ap.add_argument("--out", default=None, help="results file (default RESULTS-coverage.md; "
                    "'-' for none)")
    ap.add_argument("--seed", type=int, default=20240415)
    ap.add_argument("--spopt-size", default=None, help="DEMANDxCANDIDATES of an instance of "
                    "its own for the spopt peer, or 'same' for the siting instance (default "
                    "same; quick 2000x200)")
    ap.add_argument("--no-spopt", action="store_true")
    ap.add_argument("--exact-limit", type=float, default=120.0,
                    help="time limit (s) of the exact MILP on the siting instance; 0 skips it")
    args = ap.parse_args(argv)
    args.demand = 200_000 if args.quick else 1_000_000
    args.stations = 2_000 if args.quick else 10_000
    args.rounds = 3 if args.quick else 5
    args.siting_demand = 20_000 if args.quick else 100_000
    args.candidates = 500 if args.quick else 2_000
    if args.spopt_size is None:
        args.spopt_size = "2000x200" if args.quick else "same"
    if args.quick:
        args.exact_limit = min(args.exact_limit, 20.0)
    rng = np.random.default_rng(args.seed)
    rows: list[list[str]] = []
    checks: list[tuple[str, bool]] = []
    notes: list[str] = []
    shared: dict[str, Any] = {}
    steps = [("covered counts", lambda: bench_counts(args, rng, rows, checks)),
             ("site suggestions", lambda: bench_siting(args, rng, rows, checks, shared))]
    if not args.no_spopt:
        steps.append(("spopt peer", lambda: bench_spopt(args, rng, rows, checks, notes,
                                                        shared)))
    for label, fn in steps:
        print(f"... {label}", file=sys.stderr, flush=True)
        fn()
    table = markdown_table(["step", "instance", "method", "time", "result", "note"], rows,
                           "lllrll")
    lines = [f"{'PASS' if ok else 'FAIL'}: {label}" for label, ok in checks]
    print(table)
    print()
    print("\n".join(lines))
    for n in notes:
        print(f"note: {n}")
    out = args.out
    if out is None and not args.quick:
        out = str(HERE / "RESULTS-coverage.md")
    if out and out != "-":
        text = "\n".join([
            "# Coverage and siting benchmark", "",
            "Written by `python benchmarks/bench_coverage.py` (full run); see the script's "
            "docstring for what each row measures. Synthetic, seeded data around Xuzhou; "
            "times are medians of interleaved rounds for the covered-count rows, single "
            "runs otherwise. Both tree methods use all CPUs (`workers=-1`).", "",
            *machine_lines(["numpy", "scipy", "shapely", "spopt", "pulp", "h3"]), "",
            table, "", *[f"- {ln}" for ln in lines], "",
            *[f"- Note: {n}" for n in notes], ""])
        Path(out).write_text(text, encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())

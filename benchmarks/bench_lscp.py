"""Benchmark of "how many sites reach the target" (LSCP) against PySAL spopt's LSCP.

Target (issue #12): LSCP to 100% on 100,000 demand points x 2,000 candidate sites;
report exact and greedy times and objectives beside spopt's LSCP on the same instance,
in the same run.

The instance is SYNTHETIC and seeded: 2,000 candidate sites clustered around Xuzhou's
core and county seats (as in ``bench_coverage.py``), and each demand point placed
uniformly within 95% of the 15-minute walking reach of a randomly drawn candidate, so
that 100% is feasible; weights 1-19, no existing stations. Straight-line engine
(great circle x 1.3 at 4 km/h: a 15-minute walk reaches 769 m).

What is timed:

- **ours**: :func:`locator.coverage.lscp.fewest_sites` on the problem the engine built
  (the build is reported on its own row): ``method="greedy"`` (the reduction, the lazy
  greedy with reverse delete, and the LP relaxation as lower bound) and
  ``method="exact"`` (the reduction, the greedy, and the integer program in HiGHS);
  medians of interleaved rounds;
- **spopt**: ``LSCP.from_cost_matrix`` on the dense cost matrix (minutes, the same
  straight-line minutes) and ``solve(PULP_CBC_CMD(timeLimit=...))``, once, in a child
  process with a wall-clock budget (the model build in PuLP has no time limit of its
  own); the dense matrix's own build is reported apart.

Usage::

    python benchmarks/bench_lscp.py            # full run, writes RESULTS-lscp.md
    python benchmarks/bench_lscp.py --quick    # 20,000 x 500, writes nothing
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import fmt_ratio, machine_lines, markdown_table, run_child  # noqa: E402
from bench_coverage import points  # noqa: E402

from locator.coverage import (  # noqa: E402
    Candidates,
    StraightLineEngine,
    build_siting_problem,
    demand_from_points,
    station_set,
)
from locator.coverage.lscp import fewest_sites  # noqa: E402
from locator.geo import haversine_np  # noqa: E402

HERE = Path(__file__).resolve().parent
MINUTES = 15.0


def instance(seed: int, n_demand: int, n_cand: int):
    """Candidates clustered around Xuzhou; every demand point within 95% of the reach
    of a random candidate (so 100% is feasible)."""
    rng = np.random.default_rng(seed)
    eng = StraightLineEngine("walk")
    reach = eng.radius_m(MINUTES)
    clon, clat = points(rng, n_cand, 0.10)
    parent = rng.integers(0, n_cand, n_demand)
    r = 0.95 * reach * np.sqrt(rng.random(n_demand))
    a = rng.uniform(0, 2 * np.pi, n_demand)
    dlat = clat[parent] + r * np.sin(a) / 111_195.0
    dlon = clon[parent] + r * np.cos(a) / (111_195.0 * np.cos(np.radians(clat[parent])))
    dem = demand_from_points(dlon, dlat, rng.integers(1, 20, n_demand).astype(float),
                             source="illustrative")
    cand = Candidates(np.array([f"C{j}" for j in range(n_cand)], dtype=object), clon, clat,
                      "synthetic")
    return eng, dem, cand


def spopt_child(args: argparse.Namespace) -> int:
    """In a fresh process: spopt's LSCP on the same instance; one JSON line."""
    import pulp
    from spopt.locate import LSCP

    eng, dem, cand = instance(args.seed, args.demand, args.candidates)
    t0 = time.perf_counter()
    cost = np.concatenate([eng.minutes_for_m(haversine_np(
        dem.lon[i:i + 2000, None], dem.lat[i:i + 2000, None], cand.lon[None, :],
        cand.lat[None, :])) for i in range(0, len(dem), 2000)])
    t_cost = time.perf_counter() - t0
    ours = eng.coverage_matrix(cand.lon, cand.lat, dem.lon, dem.lat, MINUTES)
    same = bool(np.array_equal(cost <= MINUTES, ours.toarray()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        model = LSCP.from_cost_matrix(cost, MINUTES)
        t_build = time.perf_counter() - t0
        del cost
        t0 = time.perf_counter()
        status, error, proven = "", "", False
        try:
            model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=args.spopt_solve_limit))
            # PuLP's status says "Optimal" for any integer solution, also one CBC found
            # before its time limit stopped it; the solution status tells them apart.
            proven = model.problem.sol_status == pulp.LpSolutionOptimal
            status = pulp.LpSolution[model.problem.sol_status]
        except RuntimeError as e:  # spopt raises on a non-optimal status
            status, error = "not solved", str(e)
        t_solve = time.perf_counter() - t0
    obj = model.problem.objective.value() if status != "not solved" else None
    sites = [j for j, v in enumerate(model.fac_vars) if v.value() and v.value() > 0.5]
    print(json.dumps({"cost_s": t_cost, "build_s": t_build, "solve_s": t_solve,
                      "status": status, "proven": proven, "error": error, "objective": obj,
                      "sites": len(sites), "same_aij": same}))
    return 0


def run_spopt(args: argparse.Namespace) -> dict[str, Any]:
    argv = [str(Path(__file__).resolve()), "--spopt-child", "--seed", str(args.seed),
            "--demand", str(args.demand), "--candidates", str(args.candidates),
            "--spopt-solve-limit", str(args.spopt_solve_limit)]
    t0 = time.perf_counter()
    try:
        out = run_child(argv, timeout=args.spopt_budget)
    except subprocess.TimeoutExpired:
        return {"timeout": True, "wall_s": time.perf_counter() - t0}
    out["wall_s"] = time.perf_counter() - t0
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--demand", type=int, default=None)
    ap.add_argument("--candidates", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--exact-limit", type=float, default=300.0,
                    help="HiGHS time limit in seconds")
    ap.add_argument("--spopt-solve-limit", type=float, default=600.0,
                    help="CBC time limit (timeLimit) in seconds")
    ap.add_argument("--spopt-budget", type=float, default=3600.0,
                    help="wall-clock seconds for spopt's child (model build + solve)")
    ap.add_argument("--no-spopt", action="store_true")
    ap.add_argument("--spopt-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    args.demand = args.demand or (20_000 if args.quick else 100_000)
    args.candidates = args.candidates or (500 if args.quick else 2_000)
    if args.spopt_child:
        return spopt_child(args)
    rounds = args.rounds or (2 if args.quick else 3)
    n_d, n_c = args.demand, args.candidates
    eng, dem, cand = instance(args.seed, n_d, n_c)
    none = station_set([], [], [])
    t_build: list[float] = []
    times: dict[str, list[float]] = {"greedy": [], "exact": []}
    res: dict[str, Any] = {}
    for _ in range(rounds):
        t0 = time.perf_counter()
        prob = build_siting_problem(eng, none, dem, cand, MINUTES)
        t_build.append(time.perf_counter() - t0)
        for method in ("greedy", "exact"):
            t0 = time.perf_counter()
            res[method] = fewest_sites(prob, target=1.0, method=method,
                                       time_limit=args.exact_limit)
            times[method].append(time.perf_counter() - t0)
        print(f"  round: greedy {times['greedy'][-1]:.2f} s, exact {times['exact'][-1]:.2f} s",
              file=sys.stderr, flush=True)
    g, x = res["greedy"], res["exact"]
    med = {k: statistics.median(v) for k, v in times.items()}
    b = statistics.median(t_build)
    ex_status = x.exact.status if x.exact is not None else "not run"
    rows = [
        ["ours: coverage matrix (engine)", f"{b:.2f}", "—", "—",
         f"{prob.matrix.nnz:,} pairs; {x.info['groups']:,} distinct units after merging"],
        ["ours: greedy + LP bound", f"{med['greedy']:.2f}", f"{g.greedy.count:,}",
         f"LP bound {g.lp_bound:,.2f} → ≥ {g.lower_bound:,}" if g.lp_bound else "—",
         f"greedy {g.timings['greedy']:.2f} s, LP {g.timings.get('lp_bound', 0):.2f} s; "
         f"covers {g.share:.2%}"],
        ["ours: exact (HiGHS MILP)", f"{med['exact']:.2f}", f"{x.count:,}",
         f"status {ex_status}; bound {x.lower_bound:,}",
         f"greedy {x.timings['greedy']:.2f} s + MILP {x.timings.get('exact', 0):.2f} s; "
         f"covers {x.share:.2%}"],
    ]
    checks = [(f"greedy {g.greedy.count:,} sites, {g.greedy.count - x.count:,} "
               f"({(g.greedy.count - x.count) / max(x.count, 1):.1%}) above the exact "
               f"{x.count:,}", g.greedy.count >= x.count),
              (f"both reach 100% (greedy {g.share:.6%}, exact {x.share:.6%})",
               g.share >= 1 - 1e-12 and x.share >= 1 - 1e-12)]
    notes = []
    if not args.no_spopt:
        print(f"  spopt on {n_d:,} x {n_c:,} (model build can take many minutes) ...",
              file=sys.stderr, flush=True)
        sp = run_spopt(args)
        if sp.get("timeout"):
            rows.append(["spopt LSCP + CBC", f"> {args.spopt_budget:,.0f}", "—",
                         "did not finish", f"stopped after {sp['wall_s']:,.0f} s (budget)"])
            notes.append(f"spopt did not finish within its {args.spopt_budget:,.0f} s budget.")
        else:
            total = sp["build_s"] + sp["solve_s"]
            proven = sp["proven"]
            stopped = not proven and sp["solve_s"] >= args.spopt_solve_limit * 0.95
            rows.append(["spopt LSCP.from_cost_matrix + CBC", f"{total:,.2f}",
                         f"{sp['sites']:,}", sp["status"] + (" (CBC time limit hit)"
                                                             if stopped else ""),
                         f"model build {sp['build_s']:,.1f} s, solve {sp['solve_s']:,.1f} s; "
                         f"dense cost matrix {n_d * n_c * 8 / 1e6:,.0f} MB built in "
                         f"{sp['cost_s']:.1f} s (not counted); same coverage sets: "
                         f"{sp['same_aij']}"])
            ours_proven = x.exact is not None and x.exact.status == "optimal"
            if proven and ours_proven:
                checks.append((f"spopt's optimum {sp['objective']:,.0f} sites equals our exact "
                               f"{x.count:,}", round(sp["objective"]) == x.count))
            elif sp["objective"] is not None:
                sp_n = round(sp["objective"])
                checks.append((f"neither optimum proven in time: spopt {sp_n:,} sites "
                               f"({sp['status']}), ours {x.count:,} with the lower bound "
                               f"{x.lower_bound:,}; consistent (our bound <= spopt's count)",
                               x.lower_bound <= sp_n))
            notes.append(f"Our exact solve (with the greedy) took {med['exact']:.2f} s, "
                         f"spopt's model build and solve {total:,.1f} s "
                         f"({fmt_ratio(total / med['exact'])}).")
            if not proven:
                notes.append(f"spopt's CBC solve ended with solution status {sp['status']!r} "
                             f"after {sp['solve_s']:,.0f} s (time limit "
                             f"{args.spopt_solve_limit:,.0f} s); {sp['error']}".rstrip("; "))
    table = markdown_table(["implementation", "median s", "sites", "bound / status", "notes"],
                           rows, "lrrll")
    lines = [f"{'PASS' if ok else 'FAIL'}: {text}" for text, ok in checks]
    print(table)
    print()
    print("\n".join(lines + notes))
    out = args.out or (None if args.quick else str(HERE / "RESULTS-lscp.md"))
    if out and out != "-":
        Path(out).write_text("\n".join([
            "# How many sites reach the target: LSCP to 100% against spopt", "",
            f"SYNTHETIC, seeded data (seed {args.seed}): {n_d:,} demand points (weights "
            f"1-19) and {n_c:,} candidate sites around Xuzhou, each demand point within 95% "
            f"of the {MINUTES:g}-minute walking reach of some candidate (so 100% is "
            "feasible); no existing stations; straight-line engine (great circle x 1.3, "
            f"4 km/h: {eng.radius_m(MINUTES):,.0f} m). Ours: medians of {rounds} rounds; "
            "spopt: one run in a child process (CBC time limit "
            f"{args.spopt_solve_limit:,.0f} s, wall budget {args.spopt_budget:,.0f} s). "
            "Written by `python benchmarks/bench_lscp.py`.", "",
            *machine_lines(["numpy", "scipy", "spopt", "pulp"]), "", table, "",
            *[f"- {ln}" for ln in lines + notes], ""]), encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())

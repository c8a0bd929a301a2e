"""API throughput: ``/api/v1/nearest`` (k=5, demo data plus 100,000 extra stations) under
gunicorn, against a bare Flask endpoint returning a fixed small JSON under the same
gunicorn settings, in the same run, with 32 concurrent clients (wrk).

Targets: at least 81% of the bare endpoint's requests per second (issue #10: no slower
than before it added arrival, the distance horizon and how to get in; issue #3 asked for
60%), p99 under 50 ms, zero errors.

Run: ``python benchmarks/bench_api.py`` (needs ``wrk``: ``apt-get install wrk``, and
gunicorn: ``pip install gunicorn``). Options: ``--quick``, ``--duration``, ``--rounds``,
``--workers``, ``--threads``, ``--out``.

The servers run the code of this checkout (its root comes first on ``PYTHONPATH``), not
whatever copy of the package is installed, so there is nothing to reinstall first.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT))  # the checkout's package, as the servers get it

from _common import machine_lines, markdown_table  # noqa: E402

LUA = r"""
-- a fresh random rider position for every request, uniform over the urban core and the
-- county seats of Xuzhou, WGS-84: no URL repeats (each wrk thread has its own seed, and
-- bench_api gives each run its own), so no cache of answers can help; what the index
-- keeps per area (its cells) helps, as it does with riders, who ask from the same streets
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  math.randomseed((tonumber(args[1]) or 20260715) * 16 + (id or 0))
end
request = function()
  local lon = 116.4 + math.random() * 2.0
  local lat = 33.7 + math.random() * 1.2
  return wrk.format("GET", string.format("%s?lon=%.7f&lat=%.7f&k=5&mode=ebike", wrk.path,
                                         lon, lat))
end
"""

BARE_APP = '''
from flask import Flask, jsonify
app = Flask("bare")

@app.get("/bare")
def bare():
    return jsonify({"ok": True, "service": "bare", "n": 1})
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_db(path: Path, extra: int) -> int:
    """Demo sample stations plus ``extra`` synthetic ones around China's cities."""
    from locator import StationStore
    from locator.cli.demo import load_sample_stations
    from locator.stations.model import Station
    from locator.stations.vocab import AMENITIES, STATION_TYPES

    store = StationStore(path, create=True)
    sample = load_sample_stations()
    store.add_many(sample, actor="bench")
    rng = np.random.default_rng(7)
    centres = np.column_stack([rng.uniform(100, 122, 300), rng.uniform(22, 42, 300)])
    centres[:20] = [117.18, 34.26]  # Xuzhou gets its share
    c = centres[rng.integers(0, len(centres), extra)]
    lon = c[:, 0] + rng.normal(0, 0.05, extra)
    lat = c[:, 1] + rng.normal(0, 0.05, extra)
    hours = [None, "24/7", "Mo-Su 08:00-22:00", "Mo-Fr 08:30-17:30; PH off"]
    batch = []
    for i in range(extra):
        am = tuple(a for a in AMENITIES.codes[:10] if rng.random() < 0.5)
        batch.append(Station(id=f"BENCH-{i:06d}", name=f"【示例】基准测试站点{i}",
                             type=STATION_TYPES.codes[i % 3], lon=round(float(lon[i]), 6),
                             lat=round(float(lat[i]), 6), amenities=am,
                             opening_hours=hours[i % 4], source="sample"))
        if len(batch) == 20000:
            store.add_many(batch, actor="bench")
            batch = []
    if batch:
        store.add_many(batch, actor="bench")
    n = store.count()
    store.dispose()
    return n


def start_gunicorn(app_spec: str, port: int, *, workers: int, threads: int, env: dict,
                   cwd: Path) -> subprocess.Popen:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    argv = [str(gunicorn), "-w", str(workers), "-b", f"127.0.0.1:{port}",
            "--log-level", "warning", "--backlog", "2048", "--no-control-socket"]
    if threads > 1:
        argv += ["-k", "gthread", "--threads", str(threads)]
    argv.append(app_spec)
    return subprocess.Popen(argv, env={**os.environ, **env}, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    assert m, text
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(url: str, lua: Path, *, duration: int, connections: int = 32, threads: int = 2,
            seed: int | None = None) -> dict[str, float]:
    """One wrk run; ``seed`` (passed to the script's ``init``) picks its random points."""
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
            "--latency", "-s", str(lua), url]
    if seed is not None:
        argv += ["--", str(seed)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    # the percentiles are the lines of "Latency Distribution" (a "+/- Stdev" such as
    # "68.50%" elsewhere in the output also ends in "50%": anchor at the line start)
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(x) for x in sock.groups()) if sock else 0)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "errors": errors, "requests": total}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--extra", type=int, default=100_000, help="extra stations")
    ap.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help=">1 uses the gthread worker")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--quick", action="store_true", help="10k extra, 5 s, 1 round")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS-api.md")
    a = ap.parse_args()
    if a.quick:
        a.extra, a.duration, a.rounds = 10_000, 5, 1
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    db = tmp / "bench.sqlite"
    t0 = time.perf_counter()
    n = build_db(db, a.extra)
    print(f"database: {n} stations ({time.perf_counter() - t0:.1f} s to build)",
          file=sys.stderr)
    (tmp / "bare_app.py").write_text(BARE_APP)
    lua = tmp / "query.lua"
    lua.write_text(LUA)

    p_app, p_bare = free_port(), free_port()
    env = {"LOCATOR_DB": str(db), "LOCATOR_RATE_LIMIT": "0",
           "PYTHONPATH": os.pathsep.join((str(tmp), str(ROOT)))}
    app = start_gunicorn("locator.web:create_app()", p_app, workers=a.workers,
                         threads=a.threads, env=env, cwd=tmp)
    bare = start_gunicorn("bare_app:app", p_bare, workers=a.workers, threads=a.threads,
                          env=env, cwd=tmp)
    results: dict[str, list[dict[str, float]]] = {"nearest": [], "bare": []}
    try:
        wait_ready(f"http://127.0.0.1:{p_app}/api/v1/nearest?lon=117.18&lat=34.26", app)
        wait_ready(f"http://127.0.0.1:{p_bare}/bare", bare)
        urls = {"nearest": f"http://127.0.0.1:{p_app}/api/v1/nearest",
                "bare": f"http://127.0.0.1:{p_bare}/bare"}
        seeds = iter(range(20260715, 20260715 + 1000))  # every run its own points
        for url in urls.values():  # warm-up: every worker loads and JITs caches
            run_wrk(url, lua, duration=3, connections=a.connections, seed=next(seeds))
        for r in range(a.rounds):
            order = ["nearest", "bare"] if r % 2 == 0 else ["bare", "nearest"]
            for name in order:
                res = run_wrk(urls[name], lua, duration=a.duration, connections=a.connections,
                              seed=next(seeds))
                results[name].append(res)
                print(f"round {r + 1} {name}: {res}", file=sys.stderr)
    finally:
        stop(app)
        stop(bare)
        shutil.rmtree(tmp, ignore_errors=True)

    def med(name: str, key: str) -> float:
        return statistics.median(x[key] for x in results[name])

    ratio = med("nearest", "rps") / med("bare", "rps")
    errors = sum(x["errors"] for x in results["nearest"])
    mode = f"gthread x{a.threads}" if a.threads > 1 else "sync"
    rows = []
    for name, label in (("nearest", "/api/v1/nearest (k=5)"), ("bare", "bare Flask JSON")):
        rows.append([label, f"{med(name, 'rps'):,.0f}", f"{med(name, 'p50_ms'):.2f}",
                     f"{med(name, 'p99_ms'):.2f}",
                     str(sum(x["errors"] for x in results[name])),
                     str(sum(int(x["requests"]) for x in results[name]))])
    table = markdown_table(["endpoint", "req/s (median)", "p50 ms", "p99 ms", "errors",
                            "requests"], rows)
    checks = [
        (f"nearest/bare throughput {ratio:.0%} >= 81%", ratio >= 0.81),
        (f"nearest p99 {med('nearest', 'p99_ms'):.1f} ms < 50 ms", med("nearest", "p99_ms") < 50),
        (f"nearest errors {errors} == 0", errors == 0),
    ]
    lines = [
        "# API throughput benchmark",
        "",
        f"gunicorn {a.workers} {mode} workers on each server, wrk with {a.connections} "
        f"connections, {a.duration} s x {a.rounds} alternating rounds (medians). "
        f"Database: {n:,} stations (demo sample + {a.extra:,} synthetic).",
        "",
        *machine_lines(["flask", "gunicorn", "numpy", "scipy", "orjson"]),
        "",
        table,
        "",
        *[f"- {'PASS' if ok else 'FAIL'}: {msg}" for msg, ok in checks],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    a.out.write_text(text)
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())

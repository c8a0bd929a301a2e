"""The national data set on PostGIS against the same app on SQLite, same run.

Data: N illustrative stations (default 400,000) spread over China (``--source
national``: the clustered national synthetic set of :mod:`locator.coverage.national`
where it exists, else ``bench_api.build_db``'s stations around 300 random city
centres), all labelled sample, stored through the store into a SQLite file and into a
new PostgreSQL database with PostGIS.

Measured, for each backend:

* **start-up**: a worker's index built from the store (``Registry(store)``, what every
  gunicorn worker does when it starts), median of 3;
* **nearest throughput**: ``/api/v1/nearest`` (k = 5, a new random point over China for
  every request) under gunicorn with 2 workers, wrk with 32 connections, alternating
  rounds (medians);
* **with writes**: the same load while a writer moves stations through the API (``PATCH
  /api/v1/stations/<id>``, new lon/lat and name, ``If-Match``) at 5 writes per second.
  After each write is answered, a prober asks ``/healthz`` on new connections (each
  lands on one worker or the other) until both workers' indexes report a change-log
  position at or past that write's; the time until then is the write's visibility on
  that worker. At the end every moved station is looked up with a nearest query at its
  new position on both workers.

Targets (issue #11): PostGIS throughput within 20% of SQLite's, p99 under 50 ms at 32
clients; with 5 writes/s zero errors and every write visible on both workers within 1 s
(p99); start-up for 400,000 stations under 10 s.

Run: ``python benchmarks/bench_national.py`` (needs wrk, gunicorn, and a PostgreSQL server
with PostGIS on 127.0.0.1:5432 with trust auth, or ``--pg URL``). ``--quick`` for a smoke
run; writes ``RESULTS-national.md`` unless ``--out -``. The servers run this checkout's
code.
"""

from __future__ import annotations

import argparse
import http.client
import json
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
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT))

from _common import fmt_ratio, machine_lines, markdown_table  # noqa: E402
from bench_api import free_port, run_wrk, start_gunicorn, stop, wait_ready  # noqa: E402
from bench_postgis import drop_database, new_database  # noqa: E402

LUA = r"""
-- a new random point over China's station area for every request (WGS-84)
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  math.randomseed((tonumber(args[1]) or 20261202) * 16 + (id or 0))
end
request = function()
  local lon = 100 + math.random() * 22
  local lat = 22 + math.random() * 20
  return wrk.format("GET", string.format("%s?lon=%.7f&lat=%.7f&k=5", wrk.path, lon, lat))
end
"""

WRITES_PER_S = 5.0
PASSWORD = "Ride-Safe-2026-Xz!"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_stations(url: str, n: int, source: str) -> int:
    """Store ``n`` illustrative national stations at ``url``; how many are stored."""
    if source == "national":
        try:
            from locator.coverage import national
        except ImportError:
            source = "cities"
        else:
            from locator import StationStore

            store = StationStore(url, create=True)
            stations = national.synthetic_stations(n, seed=7)
            for i in range(0, len(stations), 20_000):
                store.add_many(stations[i:i + 20_000], actor="bench")
            count = store.count()
            store.dispose()
            return count
    from bench_api import build_db

    return build_db(url, n)


def station_ids(url: str, n: int) -> list[str]:
    """``n`` station ids spread over the store (every ``len/n``-th by id)."""
    from locator import StationStore

    store = StationStore(url)
    try:
        ids = sorted(store.all_lazy().values("id"))
    finally:
        store.dispose()
    return ids[::max(1, len(ids) // n)][:n]


def startup_seconds(url: str, repeat: int = 3) -> float:
    from locator import StationStore
    from locator.store.registry import Registry

    times = []
    for _ in range(repeat):
        store = StationStore(url)
        t0 = time.perf_counter()
        reg = Registry(store)
        times.append(time.perf_counter() - t0)
        assert len(reg.index) > 0
        del reg
        store.dispose()
    return statistics.median(times)


def make_token(url: str, env: dict) -> str:
    """An admin account and an API token on ``url``'s database (through the CLI)."""
    run_env = {**os.environ, **env, "LOCATOR_DB": url}
    locator = [sys.executable, "-c", "from locator.cli import main; main()"]
    added = subprocess.run([*locator, "users", "add", "loadtest", "--role", "admin"],
                           input=PASSWORD + "\n", text=True, env=run_env, capture_output=True)
    if added.returncode and "exists" not in added.stderr + added.stdout:  # (--reuse)
        raise RuntimeError(f"users add: {added.stderr or added.stdout}")
    out = subprocess.run([*locator, "tokens", "create", "loadtest", "--label", "benchmark"],
                         text=True, env=run_env, check=True, capture_output=True)
    return out.stdout.strip().splitlines()[-1]


def _get_json(port: int, path: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        conn.close()


class Writer:
    """Moves stations through the API at ``rate`` per second and measures how long each
    write takes to reach both workers' indexes."""

    def __init__(self, port: int, token: str, db_url: str, ids: list[str], rate: float,
                 seed: int):
        import sqlalchemy as sa

        self.port, self.token, self.ids, self.rate = port, token, ids, rate
        self.rng = np.random.default_rng(seed)
        from locator.store.sql import db_url as as_url

        self.engine = sa.create_engine(as_url(db_url))
        self.sa = sa
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.lags: list[float] = []  # seconds, one per (write, worker)
        self.moved: dict[str, tuple[float, float]] = {}
        self.writes = 0
        self.workers: set[int] = set()
        self._probes: list[threading.Thread] = []

    def _seq_of(self, sid: str, version: int) -> int:
        q = self.sa.text("SELECT hid FROM station_history WHERE station_id = :s AND "
                         "version = :v ORDER BY hid DESC LIMIT 1")
        with self.engine.connect() as conn:
            return int(conn.execute(q, {"s": sid, "v": version}).scalar_one())

    def _patch(self, sid: str, body: dict) -> tuple[int, dict, str | None]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            st, cur = 0, {}
            conn.request("GET", f"/api/v1/stations/{sid}")
            r = conn.getresponse()
            cur = json.loads(r.read())
            etag = r.getheader("ETag")
            if r.status != 200 or etag is None:
                return r.status, cur, None
            conn.request("PATCH", f"/api/v1/stations/{sid}", body=json.dumps(body),
                         headers={"Authorization": f"Bearer {self.token}",
                                  "Content-Type": "application/json", "If-Match": etag})
            r = conn.getresponse()
            st = r.status
            return st, json.loads(r.read() or b"{}"), cur.get("id")
        finally:
            conn.close()

    def _probe(self, seq: int, t_done: float) -> None:
        seen: dict[int, float] = {}
        deadline = t_done + 10.0
        while len(seen) < 2 and time.perf_counter() < deadline:
            try:
                _, body = _get_json(self.port, "/healthz")
            except OSError as e:
                self.errors.append(f"healthz: {e}")
                continue
            pid = body.get("worker", {}).get("pid")
            if pid is not None:
                self.workers.add(pid)
            if pid is not None and pid not in seen and body["index"]["seq"] >= seq:
                seen[pid] = time.perf_counter() - t_done
            time.sleep(0.005)
        if len(seen) < 2:
            self.errors.append(f"change {seq} not seen on both workers within 10 s: {seen}")
        self.lags.extend(seen.values())

    def run(self) -> None:
        period = 1.0 / self.rate
        nxt = time.perf_counter()
        i = 0
        while not self.stop.is_set():
            sid = self.ids[i % len(self.ids)]
            i += 1
            lon = float(self.rng.uniform(100, 122))
            lat = float(self.rng.uniform(22, 42))
            body = {"lon": round(lon, 6), "lat": round(lat, 6),
                    "name": f"【示例】移动测试站点 {i}"}
            try:
                st, resp, _ = self._patch(sid, body)
            except OSError as e:
                self.errors.append(f"PATCH {sid}: {e}")
                st, resp = 0, {}
            t_done = time.perf_counter()
            if st != 200:
                self.errors.append(f"PATCH {sid}: {st} {resp}")
            else:
                self.writes += 1
                self.moved[sid] = (body["lon"], body["lat"])
                seq = self._seq_of(sid, int(resp["version"]))
                t = threading.Thread(target=self._probe, args=(seq, t_done), daemon=True)
                t.start()
                self._probes.append(t)
            nxt += period
            self.stop.wait(max(0.0, nxt - time.perf_counter()))
        for t in self._probes:
            t.join(timeout=15)
        self.engine.dispose()


def check_moved(port: int, moved: dict[str, tuple[float, float]]) -> int:
    """How many moved stations a nearest query at their new position misses (asked on new
    connections until both workers have answered for each)."""
    missing = 0
    for sid, (lon, lat) in moved.items():
        answered: set[int] = set()
        for _ in range(40):
            _, health = _get_json(port, "/healthz")
            _, body = _get_json(port, f"/api/v1/nearest?lon={lon}&lat={lat}&k=1")
            pid = health.get("worker", {}).get("pid")
            if body["results"][0]["id"] != sid:
                missing += 1
                break
            answered.add(pid)
            if len(answered) >= 2:
                break
    return missing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stations", type=int, default=400_000)
    ap.add_argument("--source", choices=("national", "cities"), default="national")
    ap.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--pg", default=os.environ.get(
        "LOCATOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--quick", action="store_true", help="20,000 stations, 5 s, 1 round")
    ap.add_argument("--out", default=None)
    ap.add_argument("--reuse", nargs=2, metavar=("SQLITE_FILE", "PG_URL"), default=None,
                    help="use two stores loaded by an earlier run (kept, not dropped)")
    a = ap.parse_args(argv)
    if a.quick:
        a.stations, a.duration, a.rounds = 20_000, 5, 1
    out = a.out or ("-" if a.quick else str(HERE / "RESULTS-national.md"))
    if shutil.which("wrk") is None:
        _log("wrk is needed: apt-get install wrk")
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="bench-national-"))
    if a.reuse:
        pg_url, pg_name = a.reuse[1], None
        urls = {"SQLite": a.reuse[0], "PostGIS": pg_url}
    else:
        pg_url, pg_name = new_database(a.pg)
        urls = {"SQLite": str(tmp / "national.sqlite"), "PostGIS": pg_url}
    env_base = {"LOCATOR_RATE_LIMIT": "0",
                "PYTHONPATH": os.pathsep.join((str(tmp), str(ROOT)))}
    (tmp / "query.lua").write_text(LUA)
    counts, startup, tokens = {}, {}, {}
    results: dict[str, list[dict]] = {"SQLite": [], "PostGIS": [], "PostGIS + writes": [],
                                      "SQLite + writes": []}
    writers: dict[str, Writer] = {}
    servers: dict[str, tuple[subprocess.Popen, int]] = {}
    try:
        for name, url in urls.items():
            t0 = time.perf_counter()
            if a.reuse:
                from locator import StationStore

                st = StationStore(url)
                counts[name] = st.count()
                st.dispose()
                continue
            counts[name] = load_stations(url, a.stations, a.source)
            _log(f"{name}: {counts[name]:,} stations stored in {time.perf_counter() - t0:.0f} s")
        import sqlalchemy as sa

        eng = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(sa.text("VACUUM (ANALYZE) stations"))
        eng.dispose()
        for name, url in urls.items():
            startup[name] = startup_seconds(url)
            _log(f"{name}: index built from the store in {startup[name]:.2f} s")
            tokens[name] = make_token(url, env_base)
        for name, url in urls.items():
            port = free_port()
            proc = start_gunicorn("locator.web:create_app()", port, workers=2, threads=1,
                                  env={**env_base, "LOCATOR_DB": url}, cwd=tmp)
            servers[name] = (proc, port)
        for proc, port in servers.values():
            wait_ready(f"http://127.0.0.1:{port}/api/v1/nearest?lon=117.18&lat=34.26", proc,
                       timeout=300)
        seeds = iter(range(20261202, 20261202 + 1000))
        lua = tmp / "query.lua"
        for _, port in servers.values():  # warm-up
            run_wrk(f"http://127.0.0.1:{port}/api/v1/nearest", lua, duration=3,
                    connections=a.connections, seed=next(seeds))
        ids = station_ids(urls["SQLite"], 200)  # the same ids are in both stores
        for r in range(a.rounds):
            order = list(servers) if r % 2 == 0 else list(reversed(servers))
            for name in order:
                _, port = servers[name]
                res = run_wrk(f"http://127.0.0.1:{port}/api/v1/nearest", lua,
                              duration=a.duration, connections=a.connections,
                              seed=next(seeds))
                results[name].append(res)
                _log(f"round {r + 1} {name}: {res}")
            for name in order:
                _, port = servers[name]
                w = writers.get(name) or Writer(port, tokens[name], urls[name], ids,
                                                WRITES_PER_S, seed=r)
                writers[name] = w
                w.stop.clear()
                th = threading.Thread(target=w.run, daemon=True)
                th.start()
                res = run_wrk(f"http://127.0.0.1:{port}/api/v1/nearest", lua,
                              duration=a.duration, connections=a.connections,
                              seed=next(seeds))
                w.stop.set()
                th.join(timeout=60)
                results[f"{name} + writes"].append(res)
                _log(f"round {r + 1} {name} + writes: {res}; {w.writes} writes, "
                     f"{len(w.errors)} errors")
        missing = {name: check_moved(servers[name][1], writers[name].moved)
                   for name in servers}
    finally:
        for proc, _ in servers.values():
            stop(proc)
        if pg_name is not None:
            drop_database(a.pg, pg_name)
        shutil.rmtree(tmp, ignore_errors=True)

    def med(name: str, key: str) -> float:
        return statistics.median(x[key] for x in results[name])

    rows = []
    for name in ("SQLite", "PostGIS", "SQLite + writes", "PostGIS + writes"):
        base = name.split(" +")[0]
        w = writers.get(base) if "writes" in name else None
        lag = (f"{np.percentile(w.lags, 50) * 1000:,.0f} / {np.percentile(w.lags, 99) * 1000:,.0f}"
               f" / {max(w.lags) * 1000:,.0f}" if w and w.lags else "")
        rows.append([name, f"{med(name, 'rps'):,.0f}",
                     fmt_ratio(med(name, "rps") / med("SQLite", "rps")),
                     f"{med(name, 'p50_ms'):.2f}", f"{med(name, 'p99_ms'):.2f}",
                     str(sum(x["errors"] for x in results[name])),
                     f"{w.writes} ({len(w.errors)} errors)" if w else "",
                     lag, f"{startup[base]:.2f}" if "writes" not in name else ""])
    table = markdown_table(["app on", "nearest req/s", "vs SQLite", "p50 ms", "p99 ms",
                            "read errors", "writes (errors)",
                            "write visible on each worker p50 / p99 / max ms",
                            "start-up s"], rows, "lrrrrrrrr")
    pg_ratio = med("PostGIS", "rps") / med("SQLite", "rps")
    pw = writers["PostGIS"]
    p99_lag = float(np.percentile(pw.lags, 99)) if pw.lags else float("inf")
    read_errors = sum(x["errors"] for k in results for x in results[k])
    checks = [
        (f"PostGIS nearest throughput {pg_ratio:.0%} of SQLite's (target >= 80%)",
         pg_ratio >= 0.8),
        (f"PostGIS nearest p99 {med('PostGIS', 'p99_ms'):.1f} ms at {a.connections} clients "
         "(target < 50 ms)", med("PostGIS", "p99_ms") < 50),
        (f"with {WRITES_PER_S:.0f} writes/s: {read_errors} read errors, {len(pw.errors)} write "
         f"errors on PostGIS, {missing['PostGIS']} moved stations missing (target 0)",
         read_errors == 0 and not pw.errors and missing["PostGIS"] == 0),
        (f"every PostGIS write visible on both workers within {p99_lag * 1000:,.0f} ms at p99 "
         f"({len(pw.lags)} observations, {len(pw.workers)} workers; target <= 1,000 ms)",
         p99_lag <= 1.0 and len(pw.workers) == 2),
        (f"start-up (index from the store) {startup['PostGIS']:.2f} s on PostGIS, "
         f"{startup['SQLite']:.2f} s on SQLite for {counts['PostGIS']:,} stations "
         "(target < 10 s)", max(startup.values()) < 10),
    ]
    text = "\n".join([
        "# National data set: PostGIS against SQLite",
        "",
        f"{counts['PostGIS']:,} illustrative stations over China (source: {a.source}; all "
        "labelled sample), the same in a SQLite file and in PostgreSQL with PostGIS. "
        f"gunicorn 2 sync workers per app, wrk {a.connections} connections, a new random "
        f"point over China per request, k = 5; {a.duration} s x {a.rounds} alternating "
        f"rounds (medians). Writes: {WRITES_PER_S:.0f}/s through `PATCH "
        "/api/v1/stations/<id>` (moving a station), during the read load.",
        "",
        *machine_lines(["flask", "gunicorn", "SQLAlchemy", "psycopg"]),
        "",
        table,
        "",
        *[f"- {'PASS' if ok else 'FAIL'}: {msg}" for msg, ok in checks],
        "",
    ])
    print(text)
    if out != "-":
        Path(out).write_text(text, encoding="utf-8")
        _log(f"wrote {out}")
    if pw.errors:
        _log("write errors (first 5): " + "; ".join(pw.errors[:5]))
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())

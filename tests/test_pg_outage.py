"""A database outage under load (issue #11, "Database restarted while the app serves").

A private PostgreSQL server (tests/pg_private.py: its own data directory and port) backs
``gunicorn -w 2``. A load of riders' and staff's requests runs while the test stops the
server, holds it down, and starts it again on the same port, with no restart of the app:

* nothing ever answers 500 (the bug of the issue: gunicorn's HTML 500 page from the
  nearest fast path, and 500 from ``/api/v1/jobs/<id>`` and ``POST /api/v1/coverage``);
* reads go on answering from the in-memory index: ``/api/v1/nearest`` (both its fast path
  and Flask's), the station API, the rider pages;
* writes fail fast with 503, a problem+json in the request's language and Retry-After;
  pages answer 503 with an HTML page;
* ``/healthz`` says 503 while the server is down and 200 after;
* after the restart, writes work again by themselves, and both workers see a write made
  after the restart (their index catches up from the change log).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from pg_private import free_port, private_postgres

POINT = (117.1850, 34.2615)  # station T01 of tests/data/tiny_stations.csv
#: How long the database stays down (seconds).
OUTAGE_S = 4.0
#: A write refused during the outage must be refused within this (seconds); the
#: connect time-out of the store is 2 s.
FAST_FAIL_S = 5.0


@pytest.fixture(scope="module")
def server():
    pg = private_postgres()
    try:
        yield pg
    finally:
        pg.close()


def _request(port: int, method: str, path: str, body: dict | None = None,
             headers: dict[str, str] | None = None, timeout: float = 20
             ) -> tuple[int, dict[str, str], bytes, float]:
    data = None if body is None else json.dumps(body).encode()
    hdrs = dict(headers or {})
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=data, headers=hdrs)
        r = c.getresponse()
        out = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, out, time.monotonic() - t0
    finally:
        c.close()


def _start_gunicorn(tmp_path: Path, url: str) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    errors = tmp_path / "gunicorn-error.log"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = {**os.environ, "LOCATOR_DB": url, "LOCATOR_TILES": "none",
           "LOCATOR_RATE_LIMIT": "0", "LOCATOR_REFRESH_SECONDS": "1"}
    with open(errors, "w") as err:
        proc = subprocess.Popen(
            [str(gunicorn), "-w", "2", "--threads", "4", "-b", f"127.0.0.1:{port}",
             "--timeout", "60", "locator.web:create_app()"],
            env=env, stdout=subprocess.DEVNULL, stderr=err)
    end = time.monotonic() + 60
    while True:
        try:
            if _request(port, "GET", "/healthz", timeout=5)[0] == 200:
                return proc, port, errors
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            raise AssertionError(f"gunicorn did not start: {errors.read_text()}")
        time.sleep(0.2)


def _new_station(n: int) -> dict:
    # East of the test stations on a grid 300 m apart (no two alike enough to be
    # suspected duplicates): each write is the nearest station at its own point.
    return {"name": f"停机测试驿站{n}", "type": "爱心驿站",
            "lon": round(117.30 + (n % 40) * 0.003, 6), "lat": round(34.30 + (n // 40) * 0.003, 6),
            "amenities": ["drinking_water"]}


class Load:
    """Threads that send a mix of reads and writes until stopped; every answer is kept
    with the phase it was sent in."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.auth = {"Authorization": "Bearer " + token}
        self.phase = "before"
        self.stop = threading.Event()
        self.got: list[tuple[str, str, int, dict[str, str], bytes, float]] = []
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._n = 0

    def _next(self) -> int:
        with self._lock:
            self._n += 1
            return self._n

    def reads(self) -> list[tuple[str, str, dict | None, dict | None]]:
        lon, lat = POINT
        return [
            ("nearest-fast", f"/api/v1/nearest?lon={lon}&lat={lat}&k=3", None, None),
            ("nearest-flask", f"/api/v1/nearest?lon={lon}&lat={lat}&k=3&format=geojson",
             None, None),
            ("nearest-zh", f"/api/v1/nearest?lon={lon}&lat={lat}&k=3&lang=zh&open_now=true",
             None, None),
            ("station", "/api/v1/stations/T01", None, None),
            ("stations-bbox", "/api/v1/stations?bbox=117.1,34.2,117.3,34.3", None, None),
            ("rider-page", f"/?lon={lon}&lat={lat}", None, None),
            ("station-page", "/stations/T01", None, None),
            ("meta", "/api/v1/meta", None, None),
        ]

    def others(self) -> list[tuple[str, str, dict | None, dict | None]]:
        return [
            ("job", "/api/v1/jobs/no-such-job", None, None),
            ("coverage", "/api/v1/coverage", {"minutes": 15, "mode": "walk"}, None),
            ("report", "/api/v1/reports", {"station_id": "T02", "kind": "other",
                                           "note": "停机测试"}, None),
            ("alerts", "/api/v1/alerts", None, None),
            ("report-page", "/reports/R0000000?lang=zh", None, None),
            ("healthz", "/healthz", None, None),
        ]

    def _send(self, kind: str, path: str, body: dict | None, headers: dict | None) -> None:
        phase = self.phase
        method = "GET" if body is None else "POST"
        try:
            status, hdrs, out, dt = _request(self.port, method, path, body, headers)
        except OSError as e:
            with self._lock:
                self.failures.append(f"{phase} {kind}: {type(e).__name__}: {e}")
            return
        with self._lock:
            self.got.append((phase, kind, status, hdrs, out, dt))

    def read_loop(self) -> None:
        while not self.stop.is_set():
            for kind, path, body, headers in self.reads():
                self._send(kind, path, body, headers)

    def other_loop(self) -> None:
        while not self.stop.is_set():
            for kind, path, body, headers in self.others():
                self._send(kind, path, body, headers)
            n = self._next()
            self._send("write", "/api/v1/stations?lang=zh", _new_station(n), self.auth)
            time.sleep(0.05)


def _index_seqs(port: int, want: int, timeout: float) -> dict[int, int]:
    """Poll /healthz until both workers have answered with an index at ``want`` or later
    (connections land on either worker); their pids and sequence numbers."""
    seen: dict[int, int] = {}
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status, _, out, _ = _request(port, "GET", "/healthz", timeout=5)
        if status == 200:
            body = json.loads(out)
            seen[body["worker"]["pid"]] = body["index"]["seq"]
            if len(seen) >= 2 and all(s >= want for s in seen.values()):
                return seen
        time.sleep(0.02)
    return seen


def test_a_database_restart_under_load(server, tmp_path, tiny_stations):
    from staff_support import FAST, PW

    from locator import StationStore
    from locator.staff.service import AccountService

    url = server.create_database("outage", postgis=True)
    store = StationStore(url, create=True)
    store.add_many(tiny_stations, actor="pytest")
    svc = AccountService(store.engine, hasher=FAST)
    svc.add_user("admin1", PW, role="admin", actor="pytest")
    token = svc.create_token("admin1", actor="pytest").token
    store.dispose()

    proc, port, errlog = _start_gunicorn(tmp_path, url)
    load = Load(port, token)
    threads = [threading.Thread(target=load.read_loop, daemon=True) for _ in range(3)]
    threads.append(threading.Thread(target=load.other_loop, daemon=True))
    try:
        for t in threads:
            t.start()
        time.sleep(2.0)
        load.phase = "outage"
        server.stop("fast")
        down_at = time.monotonic()
        time.sleep(OUTAGE_S)
        load.phase = "restart"
        server.start()
        up_at = time.monotonic()
        # Writes work again by themselves (no restart of the app).
        recovered = None
        while time.monotonic() - up_at < 20:
            status, _, out, _ = _request(port, "POST", "/api/v1/stations", _new_station(9000),
                                         load.auth)
            if status == 201:
                recovered = time.monotonic() - up_at
                created = json.loads(out)
                break
            time.sleep(0.1)
        assert recovered is not None, f"writes did not come back: {status} {out[:300]!r}"
        load.phase = "after"
        time.sleep(2.0)
    finally:
        load.stop.set()
        for t in threads:
            t.join(timeout=30)

    try:
        # Both workers' indexes catch up with a write made after the restart, and the
        # station is in their nearest answers.
        import sqlalchemy as sa

        from locator import StationStore as Store

        check = Store(url)
        want = check.last_change_id()
        # Nothing lost, nothing half-written: every write answered 201 is stored, and
        # nothing else (a refused write left no row behind).
        stored_stations = check.count() - len(tiny_stations)
        with check.engine.connect() as conn:
            stored_reports = conn.execute(sa.text("SELECT count(*) FROM rider_reports")).scalar()
        check.dispose()
        seqs = _index_seqs(port, want, timeout=10)
        assert len(seqs) == 2 and all(s >= want for s in seqs.values()), (seqs, want)
        lon, lat = created["lon"], created["lat"]
        for _ in range(20):  # both workers (connections land on either)
            status, _, out, _ = _request(port, "GET", f"/api/v1/nearest?lon={lon}&lat={lat}&k=1")
            assert status == 200 and json.loads(out)["results"][0]["id"] == created["id"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    assert load.failures == [], load.failures[:5]
    by = defaultdict(Counter)
    for phase, kind, status, *_ in load.got:
        by[(phase, kind)][status] += 1
    summary = {f"{p}/{k}": dict(c) for (p, k), c in sorted(by.items())}
    # Nothing ever answered 500, in any phase.
    fives = [(p, k, s, b[:200]) for p, k, s, _, b, _ in load.got if s >= 500 and s != 503]
    assert fives == [], (fives[:5], summary)
    # Reads were answered from the index the whole time.
    for kind in ("nearest-fast", "nearest-flask", "nearest-zh", "station", "stations-bbox",
                 "rider-page", "station-page", "meta"):
        counts = by[("outage", kind)]
        assert counts and set(counts) == {200}, (kind, summary)
    # Writes during the outage: 503, problem+json in the request's language, Retry-After,
    # and fast.
    down = [g for g in load.got if g[0] == "outage" and g[1] in (
        "write", "report", "coverage", "job", "healthz", "alerts", "report-page")]
    refused = [g for g in down if g[2] == 503]
    assert {g[1] for g in refused} >= {"write", "report", "healthz", "report-page"}, summary
    for _phase, kind, status, hdrs, body, dt in down:
        assert status in (503, 200, 201, 202, 404), (kind, status, body[:200])
        if status != 503:
            continue
        assert int(hdrs["retry-after"]) >= 1, (kind, hdrs)
        assert dt < FAST_FAIL_S, (kind, dt)
        if kind == "report-page":  # a page: an HTML page that says so
            assert hdrs["content-type"].startswith("text/html"), hdrs
            assert "数据库暂时无法连接" in body.decode(), body[:500]
            continue
        if kind == "healthz":  # a health report, not a problem
            health = json.loads(body)
            assert health["status"] == "unavailable" and not health["store"]["reachable"]
            continue
        assert hdrs["content-type"].startswith("application/problem+json"), (kind, hdrs)
        problem = json.loads(body)
        assert problem["status"] == 503
        if kind == "write":  # asked for lang=zh
            assert problem["title"] == "服务暂不可用" and "数据库" in problem["detail"], problem
    created_ok = sum(1 for g in load.got if g[1] == "write" and g[2] == 201) + 1
    assert stored_stations == created_ok, (stored_stations, created_ok)
    # (one client: the first report is stored, the rest are its duplicates, answered 200)
    reported_ok = sum(1 for g in load.got if g[1] == "report" and g[2] == 201)
    assert stored_reports == reported_ok == 1, (stored_reports, reported_ok)
    # After the restart every write succeeds again.
    after = by[("after", "write")]
    assert after and set(after) == {201}, (summary, [
        g[4][:300] for g in load.got if g[0] == "after" and g[1] == "write" and g[2] != 201])
    assert set(by[("after", "report")]) <= {200, 201}, summary  # 200: a repeat
    assert set(by[("after", "healthz")]) == {200}, summary
    log = errlog.read_text()
    assert "Traceback" not in log or "OperationalError" not in log.split("Traceback")[-1], \
        log[-2000:]
    print(json.dumps(summary, ensure_ascii=False), f"down {up_at - down_at:.1f} s, "
          f"writes back {recovered:.2f} s after the start")

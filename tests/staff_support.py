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


@pytest.fixture()
def engine(db_url):
    """The engine of a new store on ``db_url``: SQLite and PostgreSQL in the staff test
    modules (tests/conftest.py, ``BOTH_BACKENDS``)."""
    store = StationStore(db_url, create=True)
    yield store.engine
    store.dispose()


@pytest.fixture()
def clock():
    return Clock()


class StaffClient:
    """A test client logged in as ``name`` (password :data:`PW`), with its session's
    CSRF token. Each request drops the remembered ``lang`` cookie (a ``?lang=`` link is
    remembered, as for a real user; these tests choose the language per request)."""

    def __init__(self, app, name: str):
        import re

        self.client = app.test_client()
        page = self.client.get("/staff/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
        r = self.client.post("/staff/login", data={"csrf_token": token, "name": name,
                                                   "password": PW})
        assert r.status_code == 303, r.get_data(as_text=True)
        page = self.client.get("/staff/stations").get_data(as_text=True)
        self.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]

    def _lang_per_request(self) -> None:
        self.client.delete_cookie("lang")

    def get(self, path: str):
        self._lang_per_request()
        return self.client.get(path)

    def text(self, path: str) -> str:
        r = self.get(path)
        assert r.status_code == 200, (path, r.status_code, r.get_data(as_text=True)[:2000])
        return r.get_data(as_text=True)

    def post(self, path: str, data):
        """POST a form (a dict or a list of pairs) with the CSRF token."""
        from werkzeug.datastructures import MultiDict

        items = list(data.items()) if isinstance(data, dict) else list(data)
        self._lang_per_request()
        return self.client.post(path, data=MultiDict([("csrf_token", self.csrf), *items]))

"""Job ids from the address bar: an id that was never made (a NUL byte, which PostgreSQL
refuses outright, other control characters, too long) is simply not found, on SQLite and
on a real PostgreSQL server, and the API answers 404, not 500."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from locator.store.jobs import JobTable


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'jobs.sqlite'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_url"))
    eng = sa.create_engine(url)
    yield eng
    eng.dispose()


def test_ids_never_made_are_not_found(engine):
    jobs = JobTable(engine, ttl=600, timeout=3600)
    assert jobs.insert_if_room(job_id="a" * 32, kind="coverage", owner="t", at=1.0,
                               max_pending=8) is None
    assert jobs.get("a" * 32)["kind"] == "coverage"
    for bad in ("\x00", "a\x00b", "a" * 33, "a\nb", "a" * 31 + "\x7f"):
        assert jobs.get(bad) is None, repr(bad)


def test_a_nul_in_the_address_is_404(registry, demand_csv):
    from test_planner import make_app

    client = make_app(registry, demand_csv).test_client()
    for path in ("/api/v1/jobs/%00", "/api/v1/jobs/a%00b", "/api/v1/jobs/" + "b" * 40):
        r = client.get(path)
        assert r.status_code == 404 and r.mimetype == "application/problem+json", path

"""``GET /healthz``: the store's and the index's change-log positions and the lag between
them; 503 while the database refuses connections and 200 again, by itself, when it is
back (a real PostgreSQL server); the ``redis`` line: null without ``LOCATOR_REDIS_URL``,
503 while the configured Redis refuses (tests/test_redis_limits.py has a real Redis
going away and coming back)."""

from __future__ import annotations

import socket

import sqlalchemy as sa

from locator.store.registry import Registry
from locator.web import create_app


def _app(registry, **config):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none", **config})


def test_health_reports_the_lag_behind_another_writer(registry, db_path, tiny_stations):
    client = _app(registry).test_client()
    r = client.get("/healthz")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    body = r.get_json()
    assert body["status"] == "ok" and body["store"]["reachable"] is True
    assert body["index"]["lag"] == 0 and body["index"]["seq"] == body["store"]["seq"]
    assert body["index"]["stations"] == len(registry.index)
    assert body["redis"] is None  # LOCATOR_REDIS_URL not set: nothing to check
    # Another process's writes (another registry on the same database): 2 entries behind.
    other = Registry.open(str(db_path))
    st = other.index.stations()[0]
    other.update(st.id, {"name": st.name + " 1"}, actor="pytest")
    other.update(st.id, {"name": st.name + " 2"}, actor="pytest")
    body = client.get("/healthz").get_json()
    assert body["index"]["lag"] == 2 and body["store"]["seq"] == body["index"]["seq"] + 2
    registry.apply_changes()
    assert client.get("/healthz").get_json()["index"]["lag"] == 0


def test_health_is_503_while_the_database_refuses_and_200_after(pg_url, tiny_stations):
    reg = Registry.open(pg_url, create=True)
    reg.add_many(tiny_stations, actor="pytest")
    client = _app(reg).test_client()
    assert client.get("/healthz").status_code == 200
    name = sa.engine.make_url(pg_url).database
    admin = sa.create_engine(sa.engine.make_url(pg_url).set(database="postgres"),
                             isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            c.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
        r = client.get("/healthz")
        assert r.status_code == 503 and r.headers["Retry-After"] == "5"
        body = r.get_json()
        assert body["status"] == "unavailable" and body["store"]["reachable"] is False
        assert body["index"]["stations"] == len(tiny_stations)  # readers still answered
        # ...and nearest still answers from the index meanwhile.
        lon, lat = tiny_stations[0].lon, tiny_stations[0].lat
        near = client.get(f"/api/v1/nearest?lon={lon}&lat={lat}&k=1")
        assert near.status_code == 200
        assert near.get_json()["results"][0]["id"] == reg.index.nearest(lon, lat, 1)[0].id
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    r = client.get("/healthz")  # back, with no restart
    assert r.status_code == 200 and r.get_json()["store"]["reachable"] is True
    reg.store.dispose()


def test_health_is_503_while_the_configured_redis_refuses(registry):
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = _app(registry, LOCATOR_REDIS_URL=f"redis://127.0.0.1:{port}/3")
    try:
        r = app.test_client().get("/healthz")
    finally:
        app.extensions["locator.redis"].close()
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    body = r.get_json()
    assert body["status"] == "unavailable"
    assert body["store"]["reachable"] is True and body["index"]["lag"] == 0
    assert body["redis"]["reachable"] is False and body["redis"]["where"] == \
        f"127.0.0.1:{port}/3"
    assert body["redis"]["rate_limit"] == "per-process"
    assert body["redis"]["error"].startswith("ConnectionError: ")

"""Workers kept in step on PostgreSQL: a write notifies every follower (LISTEN/NOTIFY),
which applies it from the change log at once; a follower that loses its listening
connection (killed by the server) reconnects by itself and catches up from where it
was, missing nothing written meanwhile; a rolled-back write notifies nobody.

The followers here poll the log only every 30 s (``follow(30)``), so a change seen in
well under that time was brought by a notification. Every test runs on the real
PostgreSQL server (a fresh PostGIS database each)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa

from locator import Conflict, Registry
from locator.stations.model import station_from_dict

#: Long enough that only a notification explains a change seen within LATENCY_S.
POLL_S = 30.0
LATENCY_S = 1.0


def _st(sid: str, lon: float = 117.2, lat: float = 34.26):
    return station_from_dict({"id": sid, "name": f"站点{sid}", "type": "爱心驿站",
                              "lon": lon, "lat": lat})


def _until(check, timeout: float) -> float:
    """Seconds until ``check()`` is true; fails after ``timeout``."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"not within {timeout} s")
        time.sleep(0.005)
    return time.monotonic() - t0


def _listeners(url: str) -> list[int]:
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            return list(conn.execute(sa.text(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'locator-follower'"
                " AND datname = current_database()")).scalars())
    finally:
        eng.dispose()


@pytest.fixture()
def pair(pg_url, tiny_stations):
    """Two registries on one database, as two app servers: ``writer`` and ``follower``
    (which follows the log, polling only every POLL_S)."""
    writer = Registry.open(pg_url, create=True)
    writer.add_many(tiny_stations, actor="seed")
    follower = Registry.open(pg_url)
    follower.follow(POLL_S)
    _until(lambda: follower.follow_status["listening"], 5)
    try:
        yield writer, follower
    finally:
        follower.stop_following()
        writer.store.dispose()
        follower.store.dispose()


def test_a_write_reaches_the_other_index_within_a_second(pair):
    writer, follower = pair
    assert follower.follow_status["wake"] == "notify"
    lags = []
    for i in range(5):
        t0 = time.monotonic()
        writer.add(_st(f"N{i}", 100 + i, 25), actor="host-a")
        _until(lambda i=i: f"N{i}" in follower.index, POLL_S / 2)
        lags.append(time.monotonic() - t0)
        assert follower.index.nearest(100 + i, 25, 1)[0].id == f"N{i}"
    assert max(lags) < LATENCY_S, lags
    writer.update("N0", {"name": "改了名"}, actor="host-a")
    _until(lambda: follower.index.get("N0").name == "改了名", LATENCY_S)
    writer.delete("N1", actor="host-a")
    _until(lambda: "N1" not in follower.index, LATENCY_S)
    assert follower.seen_change == writer.store.last_change_id()


def test_a_write_from_another_process_reaches_it(pair, pg_url):
    """The writer is a real second process (the CLI's kind of client: its own store)."""
    _writer, follower = pair
    code = textwrap.dedent(f"""
        from locator import Registry
        from locator.stations.model import station_from_dict
        r = Registry.open({pg_url!r})
        r.add(station_from_dict({{"id": "PROC1", "name": "进程站", "type": "爱心驿站",
                                 "lon": 101.5, "lat": 26.5}}), actor="process-b")
        print(r.store.last_change_id())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    seq = int(out.stdout.split()[-1])
    _until(lambda: follower.seen_change >= seq, LATENCY_S * 2)
    assert follower.index.nearest(101.5, 26.5, 1)[0].id == "PROC1"


def test_a_killed_listener_reconnects_and_catches_up(pair, pg_url):
    """The server ends the follower's listening connection; writes made before it
    reconnects notify nobody it hears, yet they all arrive, without the 30 s poll."""
    writer, follower = pair
    before = _listeners(pg_url)
    assert len(before) == 1
    eng = sa.create_engine(pg_url)
    try:
        with eng.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": before[0]})
            conn.commit()
    finally:
        eng.dispose()
    # Written while the follower has no listening connection (it notices at its next
    # wait, at most 1 s later, and then pauses before reconnecting).
    for i in range(3):
        writer.add(_st(f"M{i}", 110 + i, 30), actor="host-a")
    _until(lambda: all(f"M{i}" in follower.index for i in range(3)), 10)
    _until(lambda: follower.follow_status["listening"], 5)
    after = _listeners(pg_url)
    assert len(after) == 1 and after != before
    assert follower.follow_status["reconnects"] == 1
    # And notifications work again on the new connection.
    t0 = time.monotonic()
    writer.add(_st("M9", 115, 30), actor="host-a")
    _until(lambda: "M9" in follower.index, LATENCY_S)
    assert time.monotonic() - t0 < LATENCY_S
    assert follower.seen_change == writer.store.last_change_id()


def test_a_refused_write_changes_nothing_anywhere(pair):
    """A stale edit (optimistic locking) is refused on the writer; the follower's index
    keeps the stored version."""
    writer, follower = pair
    v = writer.index.get("T01").version
    writer.update("T01", {"name": "第一次"}, actor="host-a", expected_version=v)
    with pytest.raises(Conflict):
        writer.update("T01", {"name": "过时的"}, actor="host-b", expected_version=v)
    _until(lambda: follower.index.get("T01").name == "第一次", LATENCY_S)
    time.sleep(0.2)
    assert follower.index.get("T01").name == "第一次"
    assert follower.index.get("T01").version == v + 1

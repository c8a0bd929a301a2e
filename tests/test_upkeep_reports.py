"""Riders' reports, the core: what may be reported, the rate limit, de-duplication and
the "reported closed" flag (three different clients within the window, never one client
flooding), on a SQLite file and on a fresh PostgreSQL database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from staff_support import Clock

from locator import NotFound, Registry, StationStore
from locator.index.results import reported_last
from locator.settings import load_settings
from locator.stations.coords import wgs84_to_gcj02
from locator.store.accounts import User
from locator.upkeep.reports import (
    MAX_NOTE,
    SYSTEM_ACTOR,
    ReportInvalid,
    ReportService,
    TooManyReports,
)


@pytest.fixture()
def url(db_url):
    """On SQLite and PostgreSQL (tests/conftest.py, ``BOTH_BACKENDS``)."""
    return db_url


def _service(url: str, tiny_stations, clock: Clock, **settings) -> ReportService:
    store = StationStore(url, create=True)
    store.add_many(tiny_stations, actor="pytest")
    st = load_settings({k.upper() if k.startswith("LOCATOR_") else k: v
                        for k, v in settings.items()}, environ={})
    return ReportService(Registry(store), settings=st, clock=clock)


@pytest.fixture()
def clock():
    return Clock()


@pytest.fixture()
def svc(url, tiny_stations, clock):
    s = _service(url, tiny_stations, clock)
    yield s
    s.registry.stop_following()
    s.registry.store.dispose()


REVIEWER = User(id=1, name="rev", display_name="审核员", role="reviewer", scope="",
                disabled=False, created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                changed_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                password_changed_at=datetime(2026, 1, 1, tzinfo=timezone.utc))


# --------------------------------------------------------------------------- intake


def test_every_kind_is_stored_with_a_reference(svc):
    gcj = wgs84_to_gcj02(117.1856, 34.2619)
    made = [
        svc.submit("T01", "locked", client="a", note="门上挂着锁"),
        svc.submit("T01", "not_here", client="a", lon=gcj[0], lat=gcj[1], crs="gcj02"),
        svc.submit("T01", "wrong_hours", client="a", lang="en"),
        svc.submit("T01", "amenity", client="a", amenity="microwave"),
        svc.submit("T01", "other", client="a"),
    ]
    assert [created for _rep, created in made] == [True] * 5
    reps = [rep for rep, _created in made]
    assert all(re.fullmatch(r"R[0-9A-HJKMNP-TV-Z]{8}", r.ref) for r in reps)
    assert len({r.ref for r in reps}) == 5
    stored = svc.for_station("T01")
    assert sorted(r.kind for r in stored) == sorted(
        ["locked", "not_here", "wrong_hours", "amenity", "other"])
    back = svc.get(reps[0].ref.lower())  # as typed
    assert (back.id, back.note, back.status, back.lang) == (reps[0].id, "门上挂着锁", "new", "zh")
    # the corrected position was given in GCJ-02 and is kept in WGS-84
    moved = svc.get(reps[1].ref)
    assert moved.lon == pytest.approx(117.1856, abs=2e-6)
    assert moved.lat == pytest.approx(34.2619, abs=2e-6)
    assert svc.get(reps[2].ref).lang == "en"
    assert reps[3].amenity == "microwave" and reps[3].kind_label("en") == \
        "amenity missing or broken: Microwave"
    pub = reps[0].public_dict("en")
    assert pub["status_label"] == "received, not yet handled" and pub["resolution"] is None
    assert "note" not in pub and "client_hash" not in pub
    with pytest.raises(NotFound):
        svc.get("R00000000")


def test_the_client_address_is_kept_only_as_a_salted_hash(svc):
    import sqlalchemy as sa

    from locator.store.upkeep import REPORTS

    svc.submit("T01", "other", client="203.0.113.9")
    with svc.engine.connect() as conn:
        row = conn.execute(sa.select(REPORTS)).one()
    assert "203.0.113.9" not in repr(tuple(row))
    assert len(row.client_hash) == 32


@pytest.mark.parametrize("sid,kind,extra,field,zh,en", [
    ("T01", "broken", {}, "kind", "反馈类型", "kind 'broken' is not valid; use one of locked"),
    ("T01", 5, {}, "kind", "必须是文本", "kind must be a string"),
    ("", "locked", {}, "station_id", "请指明站点", "station_id is required"),
    (["T01"], "locked", {}, "station_id", "必须是文本", "station_id must be a string"),
    ("T01", "amenity", {}, "amenity", "请选择缺失或损坏的设施", "say which amenity"),
    ("T02", "amenity", {"amenity": "microwave"}, "amenity", "不在这个站点的设施列表中",
     "amenity 'microwave' is not one this station lists; use one of seating, "
     "drinking_water, first_aid, other"),
    ("T01", "amenity", {"amenity": "jacuzzi"}, "amenity", "设施 'jacuzzi'",
     "not one this station lists"),
    ("T01", "locked", {"amenity": "microwave"}, "amenity", "只有“设施缺失或损坏”",
     "amenity is only for kind 'amenity'"),
    ("T01", "locked", {"lon": 117.19, "lat": 34.26}, "lon", "只有“不在这个位置”",
     "a position is only for kind 'not_here'"),
    ("T01", "not_here", {"lon": 117.19}, "lat", "同时填写经度和纬度", "needs both lon and lat"),
    ("T01", "not_here", {"lon": 117.19, "lat": 95}, "lat", "位置无效", "out of range"),
    ("T01", "not_here", {"lon": "east", "lat": 34.26}, "lon", "位置无效", "not a number"),
    ("T01", "not_here", {"lon": 117.19, "lat": 34.26, "crs": "utm"}, "crs", "位置无效",
     "unknown coordinate system"),
    ("T01", "not_here", {"lon": 117.19, "lat": 34.26, "crs": 4326}, "crs", "必须是文本",
     "crs must be a string"),
    ("T01", "not_here", {"lon": 117.30, "lat": 34.26}, "lon", "公里",
     "from the recorded one (more than 5 km)"),
    ("T01", "other", {"note": "长" * (MAX_NOTE + 1)}, "note", "说明最多 500 字",
     "note is 501 characters long; at most 500"),
    ("T01", "other", {"note": "bell\x07"}, "note", "控制字符", "control characters"),
    ("T01", "other", {"note": {"a": 1}}, "note", "必须是文本", "note must be a string"),
], ids=["kind", "kind-type", "no-station", "station-type", "amenity-missing",
        "amenity-not-listed", "amenity-unknown", "amenity-wrong-kind", "position-wrong-kind",
        "lat-missing", "lat-range", "lon-text", "crs", "crs-type", "too-far", "note-long",
        "note-control", "note-type"])
def test_bad_input_names_the_field_in_both_languages(svc, sid, kind, extra, field, zh, en):
    with pytest.raises(ReportInvalid) as e:
        svc.submit(sid, kind, client="a", **extra)
    assert e.value.field == field
    assert zh in e.value.message_in("zh")
    assert en in e.value.message_in("en")
    assert svc.for_station("T01") == [] and svc.for_station("T02") == []


def test_unknown_and_deleted_stations_are_not_found(svc):
    with pytest.raises(NotFound):
        svc.submit("NOPE", "locked", client="a")
    svc.registry.delete("T03", actor="pytest")
    with pytest.raises(NotFound):
        svc.submit("T03", "locked", client="a")


def test_the_amenity_is_one_the_station_lists_or_other(svc):
    rep, _ = svc.submit("T01", "amenity", client="a", amenity="微波炉")  # a label is fine
    assert rep.amenity == "microwave"
    other, _ = svc.submit("T01", "amenity", client="a", amenity="OTHER", note="没有凳子")
    assert other.amenity == "other"
    assert other.kind_label("zh") == "设施缺失或损坏：其他"
    # a different amenity of the same station is a different report, not a duplicate
    charger, created = svc.submit("T01", "amenity", client="a", amenity="phone_charging")
    assert created and charger.id not in (rep.id, other.id)
    assert len(svc.for_station("T01")) == 3


def test_a_clients_repeated_report_returns_the_first(svc):
    first, created = svc.submit("T01", "wrong_hours", client="a", note="周末不开")
    again, created_again = svc.submit("T01", "wrong_hours", client="a", note="again")
    assert (created, created_again) == (True, False)
    assert again.ref == first.ref and again.note == "周末不开"
    # another client, or another kind, is a new report
    assert svc.submit("T01", "wrong_hours", client="b")[1]
    assert svc.submit("T01", "other", client="a")[1]
    # once the first is handled, the same client may report it again
    svc.review(REVIEWER, [first.ref], "dismissed", resolution="周末开放，已核实")
    newer, created = svc.submit("T01", "wrong_hours", client="a")
    assert created and newer.ref != first.ref
    assert len(svc.for_station("T01")) == 4


def test_rate_limit_per_client_per_hour(url, tiny_stations, clock):
    svc = _service(url, tiny_stations, clock, report_rate_limit=3)
    try:
        for sid in ("T01", "T02", "T03"):
            svc.submit(sid, "other", client="a")
            clock.advance(60)
        # a duplicate is answered from the first report and counts nothing
        assert svc.submit("T01", "other", client="a")[1] is False
        with pytest.raises(TooManyReports) as e:
            svc.submit("T04", "other", client="a")
        # the oldest of the three was made 180 s ago: it leaves the hour in 3420 s
        assert e.value.retry_after == 3421
        assert e.value.field == "client" and "分钟后再试" in e.value.message_in("zh")
        assert "try again in 57 min" in e.value.message_in("en")
        assert svc.submit("T04", "other", client="b")[1]  # others are not affected
        clock.advance(3421)
        assert svc.submit("T04", "other", client="a")[1]
        assert len(svc.for_station("T04")) == 2
    finally:
        svc.registry.store.dispose()


# --------------------------------------------------------------------------- the flag


def test_a_flood_from_one_client_does_not_flag(svc):
    for _ in range(20):
        svc.submit("T01", "locked", client="198.51.100.7")
    assert len(svc.for_station("T01")) == 1
    assert svc.registry.store.get("T01").reported_closed_at is None
    assert svc.registry.index.get("T01").version == 1


def test_three_clients_within_the_window_flag_the_station(svc, clock):
    svc.submit("T01", "locked", client="a")
    clock.advance(2 * 86400)
    svc.submit("T01", "locked", client="b")
    svc.submit("T01", "wrong_hours", client="c")  # not a "locked" report
    assert svc.registry.index.get("T01").reported_closed_at is None
    clock.advance(4 * 86400)  # 6 days after the first
    svc.submit("T01", "locked", client="c")
    st = svc.registry.index.get("T01")
    assert st.reported_closed_at == clock.now and st.version == 2
    assert svc.registry.store.get("T01").reported_closed_at == clock.now
    hist = svc.registry.store.history("T01")
    assert hist[0]["actor"] == SYSTEM_ACTOR
    # still listed, ranked after the unflagged stations
    near = reported_last(svc.registry.index.nearest(117.1850, 34.2615, 3))
    assert [r.id for r in near][-1] == "T01" and len(near) == 3
    assert [r.station.reported_closed_at is not None for r in near] == [False, False, True]
    # a fourth report changes nothing more
    svc.submit("T01", "locked", client="d")
    assert svc.registry.index.get("T01").version == 2


def test_reports_older_than_the_window_do_not_count(svc, clock):
    svc.submit("T02", "locked", client="a")
    svc.submit("T02", "locked", client="b")
    clock.advance(7 * 86400 + 60)
    svc.submit("T02", "locked", client="c")
    assert svc.registry.index.get("T02").reported_closed_at is None
    clock.advance(86400)
    svc.submit("T02", "locked", client="d")
    assert svc.registry.index.get("T02").reported_closed_at is None
    svc.submit("T02", "locked", client="e")  # c, d, e within 7 days
    assert svc.registry.index.get("T02").reported_closed_at is not None


def test_review_clears_the_flag_once_below_the_threshold(svc):
    refs = [svc.submit("T01", "locked", client=c)[0].ref for c in "abc"]
    assert svc.registry.index.get("T01").reported_closed_at is not None
    svc.review(REVIEWER, refs[:1], "dismissed", resolution="开着")
    assert svc.registry.index.get("T01").reported_closed_at is None
    assert svc.get(refs[0]).public_dict()["resolution"] == "开着"


def test_another_worker_sees_the_flag_within_a_second(svc, url):
    other = Registry.open(url)
    other.follow(0.05)
    try:
        assert other.index.get("T04").reported_closed_at is None
        for c in ("a", "b", "c"):
            svc.submit("T04", "locked", client=c)
        t0 = time.monotonic()
        while other.index.get("T04").reported_closed_at is None:
            assert time.monotonic() - t0 < 1.0, "the flag did not reach the other worker"
            time.sleep(0.01)
        near = reported_last(other.index.nearest(117.2000, 34.2700, 2))
        assert [r.id for r in near][-1] == "T04"
    finally:
        other.stop_following()
        other.store.dispose()


def test_the_threshold_and_window_are_settings(url, tiny_stations, clock):
    svc = _service(url, tiny_stations, clock, report_closed_threshold=2,
                   report_window_days=1)
    try:
        svc.submit("T01", "locked", client="a")
        clock.now += timedelta(hours=25)
        svc.submit("T01", "locked", client="b")
        assert svc.registry.index.get("T01").reported_closed_at is None
        svc.submit("T01", "locked", client="c")
        assert svc.registry.index.get("T01").reported_closed_at is not None
    finally:
        svc.registry.store.dispose()


# --------------------------------------------------------------------------- intake under load


def test_reports_sent_at_once_from_many_threads_are_each_stored_once(svc):
    """Concurrent reports commit together (one transaction for those that waited): every
    one is stored once with its own reference, and the same client's same report sent
    from several threads at once is still stored only once."""
    import threading

    singles: list[tuple[str, bool]] = []
    twins: list[tuple[str, bool]] = []
    lock = threading.Lock()
    go = threading.Barrier(8)

    def send(k: int) -> None:
        go.wait()
        for i in range(12):
            rep, created = svc.submit(f"T0{1 + (k + i) % 5}", "other", client=f"c{k}-{i}")
            twin, twin_created = svc.submit("T02", "wrong_hours", client="same-rider")
            with lock:
                singles.append((rep.ref, created))
                twins.append((twin.ref, twin_created))

    threads = [threading.Thread(target=send, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({ref for ref, _ in singles}) == 96 and all(c for _, c in singles)
    # one report for the 96 identical sends, created by exactly one of them
    assert len({ref for ref, _ in twins}) == 1 and sum(c for _, c in twins) == 1
    stored = [r for sid in ("T01", "T02", "T03", "T04", "T05") for r in svc.for_station(sid)]
    assert len(stored) == 97 == len({r.ref for r in stored})
    assert {r.ref for r in stored} == {ref for ref, _ in singles + twins}


def _submit_many(url: str, n: int, tag: str) -> None:
    """A second process sending reports to the same database."""
    svc = ReportService(Registry(StationStore(url)), settings=load_settings({}, environ={}))
    for i in range(n):
        svc.submit(f"T0{1 + i % 5}", "other", client=f"{tag}-{i}")
    svc.registry.store.dispose()


def test_two_processes_sending_reports_at_once_lose_none(svc, url):
    import multiprocessing as mp

    other = mp.get_context("spawn").Process(target=_submit_many, args=(url, 150, "p2"))
    other.start()
    for i in range(150):
        svc.submit(f"T0{1 + i % 5}", "other", client=f"p1-{i}")
    other.join(timeout=120)
    assert other.exitcode == 0
    stored = [r for sid in ("T01", "T02", "T03", "T04", "T05") for r in svc.for_station(sid)]
    assert len(stored) == 300 == len({r.ref for r in stored})


def test_without_a_rate_limit_repeats_are_still_answered_with_the_first(url, tiny_stations,
                                                                         clock):
    svc = _service(url, tiny_stations, clock, report_rate_limit=0)
    try:
        first = [svc.submit(f"T0{i}", "other", client="busy")[0] for i in range(1, 6)]
        for _ in range(30):
            clock.advance(600)
            rep, created = svc.submit("T03", "other", client="busy")
            assert (rep.ref, created) == (first[2].ref, False)
        assert sum(len(svc.for_station(f"T0{i}")) for i in range(1, 6)) == 5
    finally:
        svc.registry.store.dispose()


# Four processes send one client's reports at once; the hourly limit (10) holds: each
# transaction takes the client's advisory lock before counting (PostgreSQL).
_RACE = r"""
import os, sys, time
from locator import Registry
from locator.upkeep.reports import ReportService, TooManyReports
svc = ReportService(Registry.open(sys.argv[1]))
ids = [s.id for s in svc.registry.index.stations()]
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
for sid in ids:  # 20 different reports (no repeats), twice the limit
    for kind in ("not_here", "wrong_hours"):
        try:
            svc.submit(sid, kind, client="10.9.9.9")
        except TooManyReports:
            pass
svc.registry.store.dispose()
"""


def test_the_hourly_limit_holds_for_four_processes_at_once(pg_url, tiny_stations, tmp_path):
    import sqlalchemy as sa

    from locator.store.upkeep import REPORTS, client_hash

    store = StationStore(pg_url, create=True)
    store.add_many(tiny_stations, actor="pytest")
    ReportService(Registry(store))  # schema and salt, before the processes race for them
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    procs = [subprocess.Popen([sys.executable, "-c", _RACE, pg_url, str(go)], env=env,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    time.sleep(3)  # all four imported and waiting
    go.touch()
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
        p.stderr.close()
    with store.engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).where(
            REPORTS.c.client_hash == client_hash(store.engine, "10.9.9.9"))).scalar_one()
    assert n == load_settings().report_rate_limit == 10
    store.dispose()

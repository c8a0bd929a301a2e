"""The store (SQLite, and PostgreSQL through the same SQLAlchemy code), its history, and
the registry keeping the index in step."""

from __future__ import annotations

import sqlite3

import pytest

from locator import Conflict, InvalidInput, NotFound, Registry, SchemaError, StationStore
from locator.stations.model import station_from_dict
from locator.store import SCHEMA_VERSION


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, db_path):
    """The database the registry tests run on: a SQLite file, and a new database on the
    PostgreSQL server (skipped where none answers)."""
    return str(db_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")



def test_schema_is_versioned(db_path):
    store = StationStore(db_path, create=True)
    assert store.schema_version == SCHEMA_VERSION == 6
    con = sqlite3.connect(db_path)
    tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    assert {"stations", "station_history", "locator_meta"} <= tables


def test_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(SchemaError, match="no database at .*run `locator init`"):
        StationStore(tmp_path / "nope.sqlite")


def test_newer_schema_is_refused(db_path):
    StationStore(db_path, create=True).dispose()
    con = sqlite3.connect(db_path)
    con.execute("update locator_meta set value='99' where key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(SchemaError, match="version 99 is newer"):
        StationStore(db_path)


def test_add_update_close_delete_keep_full_history(registry):
    st = station_from_dict({"id": "N1", "name": "新驿站", "type": "爱心驿站",
                            "lon": 117.3, "lat": 34.3, "amenities": "饮水机;充电"})
    stored = registry.add(st, actor="alice")
    assert stored.version == 1 and stored.created_at is not None
    assert stored.amenities == ("drinking_water", "phone_charging")
    assert registry.index.nearest(117.3, 34.3, 1)[0].id == "N1"

    upd = registry.update("N1", {"name": "新驿站（改）", "opening_hours": "24/7"}, actor="bob",
                          expected_version=1)
    assert upd.version == 2 and upd.name == "新驿站（改）"
    assert registry.index.nearest(117.3, 34.3, 1)[0].name == "新驿站（改）"

    with pytest.raises(Conflict, match="is at version 2, not 1"):
        registry.update("N1", {"name": "stale"}, actor="carol", expected_version=1)

    closed = registry.close_station("N1", actor="carol")
    assert closed.status == "closed" and closed.version == 3
    assert registry.index.nearest(117.3, 34.3, 1)[0].id != "N1"  # closed: excluded

    registry.delete("N1", actor="dave")
    with pytest.raises(NotFound, match="N1.*deleted; restore it first"):
        registry.store.get("N1")
    assert "N1" not in registry.index
    assert registry.store.get("N1", include_deleted=True).version == 4  # kept, hidden

    hist = registry.store.history("N1")
    assert [(h["op"], h["actor"], h["version"]) for h in hist] == [
        ("delete", "dave", 4), ("update", "carol", 3), ("update", "bob", 2),
        ("create", "alice", 1)]
    assert hist[0]["before"]["status"] == "closed" and hist[0]["after"] is None
    assert hist[2]["before"]["name"] == "新驿站" and hist[2]["after"]["name"] == "新驿站（改）"
    assert hist[3]["before"] is None and hist[3]["after"]["version"] == 1


def test_update_validates_and_changes_nothing_on_error(registry):
    before = registry.store.get("T01")
    for changes, match in [({"type": "spa"}, "type: unknown value 'spa'"),
                           ({"lat": 95}, "lat: 95.0 is out of range"),
                           ({"opening_hours": "Mo-Fr 25:00-26:00"}, "opening_hours"),
                           ({"version": 7}, "cannot change version")]:
        with pytest.raises(InvalidInput, match=match):
            registry.update("T01", changes, actor="x")
    assert registry.store.get("T01") == before
    assert len(registry.store.history("T01")) == 1


def test_update_in_gcj02_converts_to_wgs84(registry):
    from locator.stations.coords import wgs84_to_gcj02

    glon, glat = wgs84_to_gcj02(117.2, 34.25)
    new = registry.update("T01", {"lon": glon, "lat": glat}, actor="x", crs="gcj02")
    assert new.lon == pytest.approx(117.2, abs=1e-8)
    assert new.lat == pytest.approx(34.25, abs=1e-8)
    with pytest.raises(InvalidInput, match="lon and lat must be changed together"):
        registry.update("T01", {"lon": glon}, actor="x", crs="gcj02")


def test_noop_update_makes_no_version(registry):
    same = registry.update("T01", {"name": "测试驿站一号"}, actor="x")
    assert same.version == 1
    assert len(registry.store.history("T01")) == 1


def test_batch_is_all_or_nothing(registry):
    n = registry.store.count()
    good = station_from_dict({"id": "G1", "name": "g", "type": "outdoor_worker",
                              "lon": 117, "lat": 34})
    dup = station_from_dict({"id": "T01", "name": "dup", "type": "outdoor_worker",
                             "lon": 117, "lat": 34})
    with pytest.raises(Conflict, match="already exist: T01"):
        registry.add_many([good, dup], actor="x")
    assert registry.store.count() == n
    assert "G1" not in registry.index
    assert registry.store.history("G1") == []


def test_upsert_updates_existing_and_keeps_history(registry):
    changed = registry.store.get("T02").evolve(name="二号（新）")
    new = station_from_dict({"id": "U1", "name": "u", "type": "legal_aid", "lon": 117,
                             "lat": 34})
    out = registry.add_many([changed, new], actor="importer", upsert=True, batch="f.csv")
    assert [(s.id, s.version) for s in out] == [("T02", 2), ("U1", 1)]
    h = registry.store.history("T02")[0]
    assert h["op"] == "update" and h["batch"] == "f.csv" and h["before"]["name"] == "测试驿站二号"


def test_index_rebuilt_from_store_at_startup(db_url, registry):
    registry.add(station_from_dict({"id": "P1", "name": "p", "type": "outdoor_worker",
                                    "lon": 110, "lat": 30}), actor="x")
    fresh = Registry.open(db_url)
    try:
        assert len(fresh.index) == registry.store.count() == 11
        assert fresh.index.nearest(110, 30, 1)[0].id == "P1"
    finally:
        fresh.store.dispose()


def test_other_process_writes_are_picked_up(db_url, registry):
    other = Registry.open(db_url)
    other.add(station_from_dict({"id": "Q1", "name": "q", "type": "outdoor_worker",
                                 "lon": 100, "lat": 25}), actor="other")
    other.store.dispose()
    assert registry.index.nearest(100, 25, 1)[0].id != "Q1"
    assert registry.refresh_if_changed() is True
    assert registry.index.nearest(100, 25, 1)[0].id == "Q1"
    assert registry.refresh_if_changed() is False


def test_actor_is_required(registry):
    with pytest.raises(InvalidInput, match="actor: who makes the change is required"):
        registry.delete("T01", actor=" ")
    assert registry.store.get("T01").id == "T01"


def test_timestamps_are_utc_aware(registry):
    s = registry.store.get("T01")
    assert s.created_at.tzinfo is not None and s.created_at.utcoffset().total_seconds() == 0


def test_station_to_dict_has_every_field(tiny_stations):
    """to_dict copies the fields listed in FIELDS: they must be all of Station's."""
    import dataclasses

    from locator.stations.model import FIELDS, Station

    assert set(FIELDS) == {f.name for f in dataclasses.fields(Station)}
    d = tiny_stations[0].to_dict()
    assert list(d)[:len(FIELDS)] == list(FIELDS) and d["amenities"] == list(
        tiny_stations[0].amenities)


def test_bulk_read_equals_single_reads(db_url):
    """``all()`` (the bulk read a worker's index is built from, with its own conversion of
    dates, times and amenities) gives exactly what ``get()`` gives, field for field."""
    from datetime import date, datetime, timezone

    store = StationStore(db_url, create=True)
    try:
        a = station_from_dict({"id": "B1", "name": "全字段驿站", "type": "爱心驿站",
                               "lon": 117.3, "lat": 34.3, "amenities": "饮水机;充电;微波炉",
                               "opening_hours": "Mo-Fr 08:00-18:00", "phone": "0516-1234",
                               "staffed_hours": "Mo-Fr 09:00-17:00", "star_level": 4,
                               "verified_date": "2026-11-30", "verified_by": "王"})
        b = station_from_dict({"id": "B2", "name": "空字段", "type": "母婴室",
                               "lon": 117.31, "lat": 34.31})
        store.add_many([a, b], actor="t")
        flagged = datetime(2026, 12, 1, 8, 30, 15, 250000, tzinfo=timezone.utc)
        store.set_reported_closed("B2", flagged, actor="t")
        got = store.all()
        assert got == [store.get("B1"), store.get("B2")]
        b1 = got[0]
        assert b1.verified_date == date(2026, 11, 30) and b1.star_level == 4
        assert set(b1.amenities) == {"drinking_water", "phone_charging", "microwave"}
        assert b1.created_at.tzinfo is not None and b1.updated_at >= b1.created_at
        assert got[1].amenities == () and got[1].verified_date is None
        assert got[1].reported_closed_at == flagged
    finally:
        store.dispose()


def test_index_built_from_raw_rows_converts_only_what_is_read(db_url, tiny_stations):
    """A worker's index starts from the store's raw rows (``all_lazy``): building it
    makes no :class:`Station`; a result's record is made when read, equal to ``get()``;
    a write and a compaction keep the rest unconverted."""
    from locator.index import StationIndex
    from locator.stations.rows import LazyStations

    store = StationStore(db_url, create=True)
    try:
        store.add_many(tiny_stations, actor="t")
        lazy = store.all_lazy()
        assert isinstance(lazy, LazyStations) and len(lazy) == len(tiny_stations)
        idx = StationIndex(lazy, compact_threshold=1)
        assert lazy._pure  # nothing converted by the build
        want = StationIndex(store.all())
        lon, lat = tiny_stations[3].lon + 0.001, tiny_stations[3].lat
        got = idx.nearest(lon, lat, 5)
        assert [(r.id, r.distance_m) for r in got] == \
            [(r.id, r.distance_m) for r in want.nearest(lon, lat, 5)]
        assert got[0].station == store.get(got[0].id)
        assert not lazy._pure
        converted = sum(type(x) is not tuple for x in lazy._items)
        assert converted == 1  # only the record that was read
        moved = store.update(got[1].id, {"name": "改名"}, actor="t", expected_version=1)
        idx.upsert(moved)
        idx.compact()  # a background rebuild in real life: stays lazy where it was
        assert idx.get(moved.id).name == "改名"
        main = idx._snap.main.stations
        assert isinstance(main, LazyStations)
        assert sum(type(x) is tuple for x in main._items) >= len(tiny_stations) - 3
        assert sorted(idx.stations(), key=lambda s: s.id) == sorted(
            store.all(), key=lambda s: s.id)
        fresh = store.all_lazy()
        assert fresh[1:3] == store.all()[1:3] and len(fresh[:2] + fresh[2:4]) == 4
    finally:
        store.dispose()

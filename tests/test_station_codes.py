"""Public station codes, the store-kept fields of schema 3 (code, the "reported closed"
flag), star levels, freshness, and riders' results ranking flagged stations last."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from locator.errors import InvalidInput, NotFound
from locator.index.results import reported_last
from locator.stations.codes import ALPHABET, CODE_LENGTH, candidate_code, normalize_code
from locator.stations.freshness import freshness
from locator.stations.model import Station, station_from_dict
from locator.store import SCHEMA_VERSION, StationStore
from locator.store.registry import Registry

XZ = (117.1850, 34.2615)


def _st(sid: str, lon: float = XZ[0], lat: float = XZ[1], **kw) -> Station:
    kw.setdefault("name", f"驿站{sid}")
    return Station(id=sid, type="outdoor_worker", lon=lon, lat=lat, **kw)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, db_path):
    url = str(db_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = StationStore(url, create=True)
    yield s
    s.dispose()


def test_candidate_codes_are_short_readable_and_derived_from_the_id():
    c = candidate_code("ST-0001")
    assert len(c) == CODE_LENGTH and set(c) <= set(ALPHABET)
    assert not set(c) & set("ILOU")
    assert c == candidate_code("ST-0001") != candidate_code("ST-0002")
    assert candidate_code("ST-0001", 1) != c
    # typed from a poster: lower case, spaces, dashes, O for 0 and I/L for 1
    assert normalize_code(" ab-c0 1 ") == "ABC01" == normalize_code("abcOl")


def test_new_stations_get_unique_codes_that_never_change(store):
    a, b = store.add_many([_st("A"), _st("B", lon=117.19)], actor="t")
    assert (a.code, b.code) == (candidate_code("A"), candidate_code("B"))
    moved = store.update("A", {"name": "新名字", "lon": 117.2, "lat": 34.3}, actor="t")
    assert moved.code == a.code
    # an upsert with another code in the record keeps the stored one
    again = store.add_many([_st("A", name="再导入", code="ZZZZZZ")], actor="t", upsert=True)[0]
    assert again.code == a.code and again.name == "再导入"
    assert store.id_for_code(a.code) == "A"
    assert store.id_for_code("-".join([a.code[:3].lower(), a.code[3:]])) == "A"
    store.delete("B", actor="t")
    with pytest.raises(NotFound, match="no station has the code"):
        store.id_for_code(b.code)


def test_a_code_the_record_brings_is_kept_and_a_collision_is_resolved(store):
    first = store.add(_st("X1", code="K3M9QX"), actor="t")
    assert first.code == "K3M9QX"
    # a new station whose derived code is already taken gets the next candidate
    taken = store.add(_st("X2", code=candidate_code("X3")), actor="t")
    third = store.add(_st("X3"), actor="t")
    assert taken.code == candidate_code("X3")
    assert third.code == candidate_code("X3", 1)
    with store.engine.connect() as conn:
        codes = conn.execute(sa.text("SELECT code FROM stations")).scalars().all()
    assert len(codes) == len(set(codes)) == 3


def test_bad_codes_and_star_levels_are_refused_naming_the_field():
    base = {"name": "n", "type": "outdoor_worker", "lon": XZ[0], "lat": XZ[1]}
    with pytest.raises(InvalidInput, match="code: 'AB' is not a station code") as e:
        station_from_dict({**base, "code": "AB"})
    assert e.value.field == "code"
    assert station_from_dict({**base, "star_level": "4星"}).star_level == 4
    assert station_from_dict({**base, "star_level": "★★★"}).star_level == 3
    assert station_from_dict({**base, "star_level": 5.0}).star_level == 5
    assert station_from_dict({**base, "star_level": ""}).star_level is None
    with pytest.raises(InvalidInput, match="star_level: '6' is not a star level") as e:
        station_from_dict({**base, "star_level": "6"})
    assert e.value.field == "star_level"


def test_the_reported_closed_flag_is_a_version_kept_by_later_edits(store):
    store.add(_st("F"), actor="t")
    at = datetime(2026, 7, 1, 8, 0, tzinfo=timezone.utc)
    flagged = store.set_reported_closed("F", at, actor="system:rider-reports")
    assert flagged is not None and flagged.version == 2 and flagged.reported_closed_at == at
    assert store.set_reported_closed("F", at, actor="x") is None  # already so: no version
    edited = store.update("F", {"phone": "0516-1234567"}, actor="t")
    assert edited.reported_closed_at == at and edited.version == 3
    # only_if is checked in the transaction: False writes nothing
    assert store.set_reported_closed("F", None, actor="x", only_if=lambda c: False) is None
    cleared = store.set_reported_closed("F", None, actor="reviewer")
    assert cleared is not None and cleared.reported_closed_at is None
    ops = [(h["actor"], h["version"]) for h in store.history("F")]
    assert ops == [("reviewer", 4), ("t", 3), ("system:rider-reports", 2), ("t", 1)]


def test_version_2_database_is_upgraded_with_codes(pg_url):
    """Schema 2 -> 3 in place, with data, on PostgreSQL (SQLite cannot drop the columns to
    make a version-2 database; its upgrade is tested from version 1 in
    test_store_changes.py): the new columns are added and every station gets its code."""
    store = StationStore(pg_url, create=True)
    store.add_many([_st("M1"), _st("M2", lon=117.3)], actor="t")
    with store.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE stations DROP CONSTRAINT IF EXISTS "
                             "stations_code_key"))
        for col in ("verified_by", "star_level", "code", "reported_closed_at",
                    "entry_method", "entry_app", "staffed_hours", "entry_note",
                    "toilet_access", "capacity"):  # version 4's and 6's too
            conn.execute(sa.text(f"ALTER TABLE stations DROP COLUMN {col}"))
        conn.execute(sa.text("DROP TABLE alembic_version"))  # as the old versioning left it
        conn.execute(sa.text("UPDATE locator_meta SET value = '2' "
                             "WHERE key = 'schema_version'"))
    url = store.url
    store.dispose()
    again = StationStore(url)
    try:
        assert again.schema_version == SCHEMA_VERSION == 6
        assert {s.id: s.code for s in again.all()} == {"M1": candidate_code("M1"),
                                                       "M2": candidate_code("M2")}
        assert again.get("M1").verified_by == "" and again.get("M1").star_level is None
        new = again.add(_st("M3"), actor="t")
        assert new.code == candidate_code("M3")
        with pytest.raises(sa.exc.IntegrityError):  # the code stays unique
            with again.engine.begin() as conn:
                conn.execute(sa.text("UPDATE stations SET code = :c WHERE id = 'M3'"),
                             {"c": candidate_code("M1")})
    finally:
        again.dispose()


def test_flagged_stations_are_listed_after_the_others(db_path):
    reg = Registry(StationStore(db_path, create=True))
    reg.add_many([_st("N1", lon=117.1851), _st("N2", lon=117.1860), _st("N3", lon=117.19)],
                 actor="t")
    reg.set_reported_closed("N1", datetime.now(timezone.utc), actor="system:rider-reports")
    res = reg.index.nearest(117.1850, 34.2615, 3)
    assert [r.id for r in res] == ["N1", "N2", "N3"]  # the index itself stays exact
    ranked = reported_last(res)
    assert [(r.id, r.reported_closed) for r in ranked] == [
        ("N2", False), ("N3", False), ("N1", True)]
    d = ranked[2].to_dict()
    assert d["reported_closed"] is True and d["code"] == candidate_code("N1")
    reg.store.dispose()


@pytest.mark.parametrize(("verified", "state", "days", "zh"), [
    (None, "unknown", None, "尚未核实"),
    (date(2026, 7, 1), "recent", 0, "今天核实"),
    (date(2026, 6, 1), "recent", 30, "核实于 30 天前"),
    (date(2026, 3, 1), "due", 122, "核实于 122 天前"),
    (date(2025, 12, 1), "stale", 212, "未近期核实（212 天前）"),
], ids=["never", "today", "recent", "due", "stale"])
def test_freshness_states_and_labels(verified, state, days, zh):
    f = freshness(verified, 90, date(2026, 7, 1))
    assert (f.state, f.days, f.label("zh")) == (state, days, zh)
    assert f.to_dict()["label_zh"] == zh

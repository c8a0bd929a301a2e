"""Schema migrations (Alembic) on SQLite and on PostgreSQL with PostGIS: a database of the
first schema, with stations, history and audit rows in it, is upgraded in place by
``locator migrate`` with every row kept; databases versioned by the old home-made scheme
are carried over; an upgrade killed or failing half-way changes nothing and completes
when run again; several processes opening an old database at once upgrade it once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from locator import Conflict, SchemaError, StationStore
from locator.cli import main
from locator.stations.codes import candidate_code
from locator.stations.model import station_from_dict
from locator.store.accounts import AUDIT, ensure_schema, insert_audit
from locator.store.schema import SCHEMA_VERSION, read_version


@pytest.fixture(params=["sqlite", "postgis"])
def url(request, db_path):
    return str(db_path) if request.param == "sqlite" else request.getfixturevalue("postgis_url")


# ------------------------------------------------------------------ the first schema
# The tables of schema version 1, as the first release (commit 6d05a46,
# locator/store/sql.py) created them with metadata.create_all.
V1 = sa.MetaData()
sa.Table(
    "stations", V1,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("type", sa.String(32), nullable=False, index=True),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("address", sa.String(200), nullable=False, default=""),
    sa.Column("district_adcode", sa.String(6), nullable=False, default="", index=True),
    sa.Column("district_name", sa.String(50), nullable=False, default=""),
    sa.Column("operator", sa.String(200), nullable=False, default=""),
    sa.Column("amenities", sa.String(400), nullable=False, default=""),
    sa.Column("opening_hours", sa.String(200)),
    sa.Column("access", sa.String(20), nullable=False, default="public"),
    sa.Column("phone", sa.String(40), nullable=False, default=""),
    sa.Column("status", sa.String(20), nullable=False, default="open"),
    sa.Column("verified_date", sa.Date),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)
sa.Table(
    "station_history", V1,
    sa.Column("hid", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station_id", sa.String(64), nullable=False, index=True),
    sa.Column("op", sa.String(10), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("batch", sa.String(64)),
    sa.Column("before", sa.Text),
    sa.Column("after", sa.Text),
)
sa.Table(
    "locator_meta", V1,
    sa.Column("key", sa.String(50), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)
V1_COLUMNS = [c.name for c in V1.tables["stations"].columns]
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url if "://" in url else f"sqlite:///{url}")


def build_v1(url: str, tiny_stations) -> dict[str, list[dict]]:
    """A version-1 database with real rows: the tiny station set (one station edited
    twice, so that its history has before/after records), and audit rows of the staff
    tables next to it. Returns the rows as written."""
    eng = _engine(url)
    st, hist = V1.tables["stations"], V1.tables["station_history"]
    stations = []
    for i, s in enumerate(tiny_stations):
        stations.append({
            "id": s.id, "name": s.name, "type": s.type, "lon": s.lon, "lat": s.lat,
            "address": s.address, "district_adcode": s.district_adcode,
            "district_name": s.district_name, "operator": s.operator,
            "amenities": ";".join(s.amenities), "opening_hours": s.opening_hours,
            "access": s.access, "phone": s.phone, "status": s.status,
            "verified_date": s.verified_date or date(2025, 1, 2), "source": s.source,
            "created_at": T0.replace(minute=i), "updated_at": T0.replace(minute=i),
            "version": 1})
    stations[0].update(name="第一版之后改过两次", version=3, updated_at=T0.replace(hour=9))
    history = []
    for row in stations:
        record = json.dumps({k: str(v) for k, v in row.items()}, ensure_ascii=False)
        history.append({"station_id": row["id"], "op": "create", "actor": "v1-import",
                        "at": row["created_at"], "batch": "v1.csv", "before": None,
                        "after": record})
    for n in (2, 3):
        history.append({"station_id": stations[0]["id"], "op": "update", "actor": "v1-staff",
                        "at": T0.replace(hour=8 + n - 1), "batch": None,
                        "before": json.dumps({"version": n - 1}),
                        "after": json.dumps({"version": n})})
    try:
        with eng.begin() as conn:
            V1.create_all(conn)
            conn.execute(V1.tables["locator_meta"].insert().values(key="schema_version",
                                                                   value="1"))
            conn.execute(st.insert(), stations)
            conn.execute(hist.insert(), history)
        ensure_schema(eng)  # the staff tables, with their append-only triggers
        with eng.begin() as conn:
            for j in range(3):
                insert_audit(conn, at=T0.replace(second=j), actor="admin", client="10.0.0.1",
                             action="station.import", target="v1.csv", result="ok",
                             detail={"rows": j})
        with eng.connect() as conn:
            return {"stations": _rows(conn, "stations", V1_COLUMNS, "id"),
                    "history": _rows(conn, "station_history",
                                     [c.name for c in hist.columns], "hid"),
                    "audit": _rows(conn, "audit_log", [c.name for c in AUDIT.columns], "id")}
    finally:
        eng.dispose()


def _rows(conn, table: str, columns: list[str], order: str) -> list[dict]:
    cols = ", ".join(f'"{c}"' for c in columns)
    return [dict(r) for r in conn.execute(sa.text(
        f"SELECT {cols} FROM {table} ORDER BY {order}")).mappings()]


def _columns(url: str) -> dict[str, set[str]]:
    import geoalchemy2  # noqa: F401  (teaches SQLAlchemy's reflection the geography type)

    eng = _engine(url)
    try:
        insp = sa.inspect(eng)
        return {t: {c["name"] for c in insp.get_columns(t)}
                for t in ("stations", "station_history", "locator_meta")}
    finally:
        eng.dispose()


def _versions(url: str) -> tuple[str | None, str | None]:
    """(alembic_version, locator_meta.schema_version)."""
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            alembic = None
            if sa.inspect(conn).has_table("alembic_version"):
                alembic = conn.execute(sa.text("SELECT version_num FROM alembic_version")
                                       ).scalar_one()
            meta = conn.execute(sa.text("SELECT value FROM locator_meta "
                                        "WHERE key = 'schema_version'")).scalar_one()
            return alembic, meta
    finally:
        eng.dispose()


def assert_all_kept(url: str, before: dict[str, list[dict]]) -> None:
    """Every row written into the version-1 database is still there, unchanged."""
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            assert _rows(conn, "stations", V1_COLUMNS, "id") == before["stations"]
            hist_cols = list(before["history"][0])
            assert _rows(conn, "station_history", hist_cols, "hid") == before["history"]
            assert _rows(conn, "audit_log", list(before["audit"][0]), "id") == before["audit"]
    finally:
        eng.dispose()


# ------------------------------------------------------------------ upgrades


def test_one_revision_per_version_in_one_line_shipped_with_the_package():
    """The revisions run 0001 -> 0002 -> ... -> the newest, which is SCHEMA_VERSION; they
    are found next to the imported package (the installed one under tests/run.sh)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from locator.store.schema import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(cfg)
    chain = [r.revision for r in script.walk_revisions("base", "heads")][::-1]
    assert chain == [f"{v:04d}" for v in range(1, SCHEMA_VERSION + 1)]
    assert script.get_heads() == [f"{SCHEMA_VERSION:04d}"]
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()


def test_version_1_database_is_migrated_in_place_with_every_row_kept(url, tiny_stations,
                                                                     runner):
    before = build_v1(url, tiny_stations)
    out = runner.invoke(main, ["migrate", "--db", url])
    assert out.exit_code == 0, out.output
    assert f"upgraded from schema version 1 to {SCHEMA_VERSION}" in out.output
    assert f"{len(tiny_stations)} stations and {len(before['history'])} history rows, " \
           "all kept" in out.output
    assert _versions(url) == (f"{SCHEMA_VERSION:04d}", str(SCHEMA_VERSION))
    assert_all_kept(url, before)

    store = StationStore(url)  # opens without anything left to do
    try:
        first = before["stations"][0]
        kept = store.get(first["id"])
        assert (kept.name, kept.version, kept.lon, kept.lat) == (
            first["name"], 3, first["lon"], first["lat"])
        # version 3 gave every station its public code, derived from its id
        assert {s.id: s.code for s in store.all()} == {
            s.id: candidate_code(s.id) for s in tiny_stations}
        assert store.id_for_code(kept.code.lower()) == kept.id
        # version 4: how to get in, unknown until someone says
        assert (kept.entry_method, kept.staffed_hours, kept.toilet_access) == ("", None, "")
        # version 6: seats, not recorded until someone counts them
        assert {s.capacity for s in store.all()} == {None}
        # the history reads as before, and new changes join it
        assert [h["op"] for h in store.history(kept.id)] == ["update", "update", "create"]
        with pytest.raises(Conflict, match="is at version 3, not 2"):
            store.update(kept.id, {"phone": "0516-1"}, actor="new", expected_version=2)
        moved = store.update(kept.id, {"lon": 117.3, "lat": 34.3, "entry_method": "扫码",
                                       "entry_app": "微信"}, actor="new", expected_version=3)
        assert (moved.version, moved.entry_method) == (4, "qr_code")
        store.delete(tiny_stations[1].id, actor="new")  # version 2's soft delete
        assert store.count() == len(tiny_stations) - 1
        new = store.add_many([station_from_dict({"id": "NEW1", "name": "迁移后新建",
                                                 "type": "outdoor_worker", "lon": 117.25,
                                                 "lat": 34.25})], actor="import")
        assert new[0].code == candidate_code("NEW1")
        with store.engine.begin() as conn:  # the audit log is still append-only
            insert_audit(conn, at=T0, actor="x", action="station.export", target="t",
                         result="ok")
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(sa.text("UPDATE audit_log SET actor = 'forged'"))
        if store.dialect == "postgresql":  # version 5: the geometry follows lon/lat
            assert store.spatial
            assert _geom_mismatches(store) == 0
    finally:
        store.dispose()
    again = runner.invoke(main, ["migrate", "--db", url])
    assert again.exit_code == 0, again.output
    assert f"schema version {SCHEMA_VERSION}, already current" in again.output


def _geom_mismatches(store: StationStore) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT count(*) FROM stations WHERE geom IS NULL OR ST_X(geom::geometry) <> lon "
            "OR ST_Y(geom::geometry) <> lat")).scalar_one()


def test_migrated_schema_has_the_columns_of_a_new_database(url, tmp_path, tiny_stations,
                                                           request):
    build_v1(url, tiny_stations)
    StationStore(url).dispose()  # upgraded on open (the default)
    if "://" in url:
        fresh = request.getfixturevalue("pg_url")
    else:
        fresh = str(tmp_path / "fresh.sqlite")
    StationStore(fresh, create=True).dispose()
    assert _columns(url) == _columns(fresh)
    assert ("geom" in _columns(url)["stations"]) == ("://" in url)


def test_database_of_the_home_made_versioning_is_carried_over(url, tiny_stations, runner):
    """Version 4 as the previous release made it (today's tables, only the locator_meta
    row): recognised, stamped for Alembic and upgraded, stations untouched."""
    store = StationStore(url, create=True)
    store.add_many(tiny_stations, actor="old")
    rows = sorted((s.id, s.version, s.code) for s in store.all())
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))
        if store.dialect == "postgresql":
            conn.execute(sa.text("ALTER TABLE stations DROP COLUMN geom"))
        conn.execute(sa.text("ALTER TABLE stations DROP COLUMN capacity"))  # version 6's
        conn.execute(sa.text("UPDATE locator_meta SET value = '4'"))
    store.dispose()
    eng = _engine(url)
    with eng.connect() as conn:
        assert read_version(conn).legacy and read_version(conn).version == 4
    eng.dispose()
    out = runner.invoke(main, ["migrate", "--db", url])
    assert out.exit_code == 0, out.output
    assert f"upgraded from schema version 4 to {SCHEMA_VERSION}" in out.output
    assert _versions(url) == (f"{SCHEMA_VERSION:04d}", str(SCHEMA_VERSION))
    again = StationStore(url)
    try:
        assert sorted((s.id, s.version, s.code) for s in again.all()) == rows
        assert {s.capacity for s in again.all()} == {None}  # version 6: not recorded
        assert again.spatial == (again.dialect == "postgresql")
    finally:
        again.dispose()


def test_opening_an_old_database_without_auto_migrate_says_to_run_migrate(url,
                                                                          tiny_stations):
    before = build_v1(url, tiny_stations)
    with pytest.raises(SchemaError, match=r"is at schema version 1; this program needs "
                                          rf"version {SCHEMA_VERSION}: run `locator migrate`"):
        StationStore(url, auto_migrate=False)
    assert_all_kept(url, before)
    assert _versions(url) == (None, "1")


def test_newer_database_is_refused_by_open_and_by_migrate(url, runner):
    StationStore(url, create=True).dispose()
    eng = _engine(url)
    with eng.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0042'"))
    eng.dispose()
    with pytest.raises(SchemaError, match=f"version 42 is newer than this program supports "
                                          f"[(]{SCHEMA_VERSION}[)]"):
        StationStore(url)
    out = runner.invoke(main, ["migrate", "--db", url])
    assert out.exit_code == 1
    assert "newer than this program supports" in out.output and "Traceback" not in out.output


def test_migrate_without_a_database_is_one_line(runner, tmp_path):
    out = runner.invoke(main, ["migrate", "--db", str(tmp_path / "nope.sqlite")])
    assert out.exit_code == 1
    assert out.output.startswith("Error: no database at ") and "locator init" in out.output


def test_migrate_on_an_empty_postgresql_database_is_one_line(runner, plain_pg_url):
    out = runner.invoke(main, ["migrate", "--db", plain_pg_url])
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert "has no station-locator schema; run `locator init`" in out.output


# ------------------------------------------------------------------ faults

_STALLED = textwrap.dedent("""
    import sys, time
    import locator.stations.codes as codes

    def stall(*args, **kwargs):  # version 3's step, after its new columns exist
        print("IN-STEP-3", flush=True)
        time.sleep(600)

    codes.candidate_code = stall
    from locator.cli import main
    main(["migrate", "--db", sys.argv[1]])
""")


def test_migration_killed_half_way_changes_nothing_and_a_rerun_completes(url, tiny_stations,
                                                                         runner):
    before = build_v1(url, tiny_stations)
    v1_columns = _columns(url)
    proc = subprocess.Popen([sys.executable, "-c", _STALLED, url], stdout=subprocess.PIPE,
                            text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert proc.stdout.readline().strip() == "IN-STEP-3"  # steps 2 and 3 half done
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
    assert _columns(url) == v1_columns  # rolled back: still version 1, exactly
    assert _versions(url) == (None, "1")
    assert_all_kept(url, before)
    out = runner.invoke(main, ["migrate", "--db", url])
    assert out.exit_code == 0, out.output
    assert f"from schema version 1 to {SCHEMA_VERSION}" in out.output
    assert_all_kept(url, before)
    store = StationStore(url)
    try:
        assert {s.id: s.code for s in store.all()} == {
            s.id: candidate_code(s.id) for s in tiny_stations}
    finally:
        store.dispose()


def test_failing_step_is_reported_and_the_rerun_completes(url, tiny_stations, runner,
                                                           monkeypatch):
    before = build_v1(url, tiny_stations)
    import locator.stations.codes as codes

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(codes, "candidate_code", broken)
    out = runner.invoke(main, ["migrate", "--db", url])
    assert out.exit_code == 1
    assert "from schema version 1 failed at the step to version 3 (RuntimeError: the disk " \
           "is full); nothing was changed" in out.output
    assert "run `locator migrate` again" in out.output and "Traceback" not in out.output
    assert _versions(url) == (None, "1")
    assert_all_kept(url, before)
    monkeypatch.undo()
    out = runner.invoke(main, ["migrate", "--db", url])
    assert out.exit_code == 0, out.output
    assert_all_kept(url, before)


_OPEN = textwrap.dedent("""
    import sys
    from locator import StationStore
    store = StationStore(sys.argv[1])
    print(store.schema_version, store.count(), flush=True)
""")


def test_processes_opening_an_old_database_at_once_upgrade_it_once(url, tiny_stations):
    """Several app servers starting together on a version-1 database: one upgrades it,
    the others wait for it and then find it done."""
    before = build_v1(url, tiny_stations)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN, url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e for _, e in outs]
    assert [o.strip() for o, _ in outs] == [f"{SCHEMA_VERSION} {len(tiny_stations)}"] * 3
    assert _versions(url) == (f"{SCHEMA_VERSION:04d}", str(SCHEMA_VERSION))
    assert_all_kept(url, before)

"""The PostGIS store: the generated geometry column and its GiST indexes, kept equal to
lon/lat through every kind of write; server-side nearest (``<->`` then exact re-ranking)
and box listings that answer exactly what the in-memory index answers; and a PostgreSQL
database without PostGIS, which works without the column and says what is missing."""

from __future__ import annotations

import json
import secrets

import numpy as np
import pytest
import sqlalchemy as sa

from locator import StationIndex, StationStore
from locator.cli import main
from locator.stations.model import station_from_dict
from locator.stations.vocab import AMENITIES, STATION_TYPES
from locator.store.files import (
    apply_mapping,
    apply_plan,
    parse_rows,
    plan_import,
    read_sheet,
    resolve_mapping,
)

TYPES = STATION_TYPES.codes
HOURS = (None, "24/7", "Mo-Fr 08:00-18:00", "Mo-Su 09:00-21:00; PH off", "sunrise-sunset",
         "Sa,Su 10:00-16:00")


def _mismatches(store: StationStore) -> int:
    """Rows whose geometry is not exactly their lon/lat."""
    with store.engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT count(*) FROM stations WHERE geom IS NULL OR ST_X(geom::geometry) <> lon "
            "OR ST_Y(geom::geometry) <> lat OR ST_SRID(geom::geometry) <> 4326")).scalar_one()


def _geom(store: StationStore, sid: str) -> tuple[float, float]:
    with store.engine.connect() as conn:
        return tuple(conn.execute(sa.text(
            "SELECT ST_X(geom::geometry), ST_Y(geom::geometry) FROM stations WHERE id = :i"),
            {"i": sid}).one())


def _st(sid: str, lon: float, lat: float, **extra):
    return station_from_dict({"id": sid, "name": extra.pop("name", f"站点{sid}"),
                              "type": extra.pop("type", "outdoor_worker"), "lon": lon,
                              "lat": lat, **extra})


# ------------------------------------------------------------------ the column


def test_geometry_column_is_generated_geography_with_gist_indexes(postgis_url):
    store = StationStore(postgis_url, create=True)
    try:
        assert store.spatial
        with store.engine.connect() as conn:
            col = conn.execute(sa.text(
                "SELECT is_generated, udt_name FROM information_schema.columns "
                "WHERE table_name = 'stations' AND column_name = 'geom'")).one()
            typ = conn.execute(sa.text(
                "SELECT type, srid FROM geography_columns WHERE f_table_name = 'stations'"
            )).one()
            indexes = dict(conn.execute(sa.text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'stations'")).all())
        assert tuple(col) == ("ALWAYS", "geography")
        assert tuple(typ) == ("Point", 4326)
        assert "USING gist (geom)" in indexes["ix_stations_geom"]
        assert "USING gist (((geom)::geometry))" in indexes["ix_stations_geom_box"]
    finally:
        store.dispose()


def test_geometry_equals_lon_lat_after_edits_and_imports(postgis_url, tmp_path):
    store = StationStore(postgis_url, create=True)
    try:
        store.add_many([_st(f"G{i}", 117.1 + i / 100, 34.2 + i / 200) for i in range(20)],
                       actor="t")
        assert _mismatches(store) == 0
        first = store.get("G1")
        store.update("G1", {"lon": 117.301, "lat": 34.299}, actor="t")  # an edit moves it
        assert _geom(store, "G1") == (117.301, 34.299)
        store.update("G2", {"lon": 117.19, "lat": 34.2602}, actor="t", crs="gcj02")
        g2 = store.get("G2")
        assert _geom(store, "G2") == (g2.lon, g2.lat) and g2.lon < 117.19  # stored WGS-84
        store.restore_version("G1", 1, actor="t")  # back where version 1 was
        assert _geom(store, "G1") == (first.lon, first.lat)
        store.delete("G3", actor="t")
        store.restore("G3", actor="t")
        # an import (one transaction): one station moved, one new, the rest unchanged
        csv = tmp_path / "import.csv"
        csv.write_text("id,name,type,lon,lat\nG4,站点G4,outdoor_worker,116.5,34.9\n"
                       "NEW,新站,mother_baby,-179.99,-16.5\n", encoding="utf-8")
        sheet = read_sheet(csv)
        table = apply_mapping(sheet, resolve_mapping(sheet.headers, {}))
        plan = plan_import(parse_rows(table, default_source="import"), store.all())
        apply_plan(store, plan, actor="import", batch="import.csv")
        assert _geom(store, "G4") == (116.5, 34.9) and _geom(store, "NEW") == (-179.99, -16.5)
        assert _mismatches(store) == 0
        # the database itself keeps it so: a hand-written UPDATE moves the geometry too,
        # and nobody can write the geometry apart from lon/lat
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE stations SET lon = 100.25, lat = -5.5 WHERE id = 'G5'"))
        assert _geom(store, "G5") == (100.25, -5.5)
        with pytest.raises(sa.exc.DBAPIError, match="generated column"):
            with store.engine.begin() as conn:
                conn.execute(sa.text("UPDATE stations SET geom = "
                                     "'SRID=4326;POINT(0 0)'::geography WHERE id = 'G6'"))
        assert _mismatches(store) == 0
    finally:
        store.dispose()


# ------------------------------------------------------------------ nearest and boxes


def _scene(seed: int) -> list:
    """Stations around Xuzhou (dense), over the world (sparse), on both sides of the
    antimeridian, and pairs at identical spots (ties); mixed types, amenities, hours and
    statuses."""
    rng = np.random.default_rng(seed)
    pts = [(117.0 + rng.random() * 0.5, 34.0 + rng.random() * 0.5) for _ in range(900)]
    pts += [(rng.uniform(-180, 180), float(np.degrees(np.arcsin(rng.uniform(-0.99, 0.99)))))
            for _ in range(300)]
    pts += [(179.5 + rng.random() * 0.5, rng.uniform(-20, 20)) for _ in range(30)]
    pts += [(-180 + rng.random() * 0.5, rng.uniform(-20, 20)) for _ in range(30)]
    pts += [pts[i] for i in rng.choice(len(pts), 40, replace=False)]  # same spots, new ids
    out = []
    for i, (lon, lat) in enumerate(pts):
        t = TYPES[int(rng.integers(len(TYPES)))] if i < 900 else "outdoor_worker"
        amen = [a for a in AMENITIES.codes[:8] if rng.random() < 0.4]
        status = rng.choice(["open"] * 8 + ["temporarily_closed", "closed"])
        hours = HOURS[int(rng.integers(len(HOURS)))]
        out.append(_st(f"P{(i * 7919) % 10007:05d}", round(lon, 7), round(lat, 7), type=t,
                       amenities=";".join(amen), status=str(status),
                       **({"opening_hours": hours} if hours else {})))
    return out


def _queries(seed: int) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    q = [(117.0 + rng.random() * 0.5, 34.0 + rng.random() * 0.5) for _ in range(30)]
    q += [(rng.uniform(-180, 180), rng.uniform(-90, 90)) for _ in range(25)]
    q += [(180.0, 0.0), (-180.0, 5.0), (179.999, -3.0), (-179.999, 12.0)]  # antimeridian
    q += [(0.0, 90.0), (45.0, -90.0), (-140.0, -50.0), (-45.0, -20.0)]  # poles, far seas
    return q


FILTERS = [
    {},
    {"types": ["driver_home"]},  # only around Xuzhou: far from every query elsewhere
    {"amenities": ["drinking_water", "seating"], "statuses": ["open", "closed"]},
    {"open_at": "2026-07-15T22:30", "types": ["outdoor_worker", "mother_baby"]},
    {"max_distance_m": 40_000.0},
    {"statuses": "temporarily_closed", "max_distance_m": 2_000_000},
]


@pytest.fixture(scope="module")
def scene():
    return _scene(7)


@pytest.fixture()
def scene_store(postgis_url, scene):
    store = StationStore(postgis_url, create=True)
    store.add_many(scene, actor="t")
    store.delete(scene[0].id, actor="t")  # a deleted station is never an answer
    store.delete(scene[901].id, actor="t")
    yield store
    store.dispose()


@pytest.mark.parametrize("filters", FILTERS, ids=["plain", "far-type", "amenities-statuses",
                                                  "open-at", "radius", "status-radius"])
def test_server_side_nearest_equals_the_in_memory_index(scene_store, filters):
    store = scene_store
    index = StationIndex(store.all())
    assert store.spatial
    for lon, lat in _queries(11):
        for k in (1, 7):
            server = store.nearest(lon, lat, k, **filters)
            local = index.nearest(lon, lat, k, **filters)
            assert [r.id for r in server] == [r.id for r in local], (lon, lat, k)
            assert np.allclose([r.distance_m for r in server], [r.distance_m for r in local],
                               rtol=0, atol=1e-6)
            assert [r.open_status for r in server] == [r.open_status for r in local]


def test_ties_are_broken_by_id_like_the_index(postgis_url):
    """Eight stations on one spot and four at equal distances: every k gives the index's
    order (distance, then id), also when the k-th place splits a tie."""
    store = StationStore(postgis_url, create=True)
    try:
        same = [_st(f"S{c}", 117.2, 34.26) for c in "HCAGEBFD"]
        ring = [_st(f"R{i}", 117.2 + dx, 34.26) for i, dx in enumerate((0.01, -0.01))]
        store.add_many(same + ring, actor="t")
        index = StationIndex(store.all())
        for k in range(1, 11):
            assert [r.id for r in store.nearest(117.2, 34.26, k)] == \
                   [r.id for r in index.nearest(117.2, 34.26, k)]
        assert [r.id for r in store.nearest(117.2, 34.26, 3)] == ["SA", "SB", "SC"]
        assert [r.id for r in store.nearest(117.2, 34.2, 10)][-2:] == ["R0", "R1"]
    finally:
        store.dispose()


def test_server_side_nearest_refuses_bad_queries_like_the_index(postgis_url):
    store = StationStore(postgis_url, create=True)
    try:
        for args, kw, match in [((200, 34, 5), {}, "lon: 200.0 is out of range"),
                                ((117, 34, 0), {}, "k: 0 is out of range"),
                                ((117, 34, 5), {"types": ["bus"]}, "type: unknown value 'bus'"),
                                ((117, 34, 5), {"max_distance_m": -1}, "max_distance_m"),
                                ((117, 34, 5), {"open_at": "soon"}, "open_at")]:
            with pytest.raises(Exception, match=match) as server:
                store.nearest(*args, **kw)
            with pytest.raises(Exception, match=match) as local:
                StationIndex([]).nearest(*args, **kw)
            assert str(server.value) == str(local.value)
    finally:
        store.dispose()


def _statements(store: StationStore, fn) -> list[tuple[str, dict]]:
    """The SQL statements ``fn()`` sends, with their parameters."""
    seen: list[tuple[str, dict]] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", note)
    try:
        fn()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", note)
    return seen


def _plan(store: StationStore, statement: str, params) -> str:
    with store.engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # the planner may, if it can
        return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params))


def test_nearest_and_box_queries_go_through_the_gist_indexes(scene_store):
    store = scene_store
    (knn, params), = [s for s in _statements(store, lambda: store.nearest(117.2, 34.2, 5))
                      if "<->" in s[0]]
    plan = _plan(store, knn, params)
    assert "Index Scan using ix_stations_geom on stations" in plan, plan
    assert "Sort" not in plan.split("Index Scan")[0], plan  # ordered by the index itself
    (box, params), = [s for s in _statements(
        store, lambda: store.select(bbox=(117.1, 34.1, 117.3, 34.3))) if "&&" in s[0]]
    assert "ix_stations_geom_box" in _plan(store, box, params)


@pytest.mark.parametrize("backend", ["sqlite", "postgis"])
def test_box_listing_in_the_database_equals_the_index(backend, db_path, request, scene):
    url = str(db_path) if backend == "sqlite" else request.getfixturevalue("postgis_url")
    store = StationStore(url, create=True)
    try:
        edge = _st("EDGE", 117.25, 34.25, district_adcode="320303", district_name="云龙区")
        store.add_many([*scene[:950], edge], actor="t")
        store.delete(scene[3].id, actor="t")
        assert store.spatial == (backend == "postgis")
        index = StationIndex(store.all())
        rng = np.random.default_rng(3)
        boxes = [(117.25, 34.25, 117.4, 34.4), (117.0, 34.0, 117.25, 34.25),  # edge inclusive
                 (-180.0, -90.0, 180.0, 90.0), (117.3, 34.3, 117.1, 34.1)]  # all; inverted
        for _ in range(8):
            (x0, x1), (y0, y1) = sorted(rng.uniform(117, 117.5, 2)), sorted(
                rng.uniform(34, 34.5, 2))
            boxes.append((x0, y0, x1, y1))
        for x0, y0, x1, y1 in boxes:
            for kw in ({}, {"types": ["mother_baby", "outdoor_worker"]},
                       {"statuses": ["closed"]}, {"district": "320303"}):
                got = [s.id for s in store.select(bbox=(x0, y0, x1, y1), **kw)]
                want = [s.id for s in index.select(bbox=(x0, y0, x1, y1), **kw)]
                assert got == want, (x0, y0, x1, y1, kw)
        assert "EDGE" in [s.id for s in store.select(bbox=(117.25, 34.25, 117.4, 34.4))]
        with pytest.raises(Exception, match="bbox: .* is not four"):
            store.select(bbox=(1, 2, 3))
    finally:
        store.dispose()


def test_cli_nearest_on_postgis_asks_the_server(postgis_url, db_path, runner, monkeypatch,
                                                scene):
    """`locator nearest` on a PostGIS database answers without reading every station
    (the server's KNN), with the same output as on SQLite."""
    args = ["nearest", "--lon", "117.2", "--lat", "34.26", "-k", "6", "--amenity",
            "drinking_water", "--json"]
    for url in (str(db_path), postgis_url):
        s = StationStore(url, create=True)
        s.add_many(scene[:950], actor="t")
        s.dispose()
    on_sqlite = runner.invoke(main, [*args, "--db", str(db_path)])
    assert on_sqlite.exit_code == 0, on_sqlite.output

    def no_full_read(self, **kw):
        raise AssertionError("read every station")

    monkeypatch.setattr(StationStore, "all", no_full_read)
    on_postgis = runner.invoke(main, [*args, "--db", postgis_url])
    assert on_postgis.exit_code == 0, on_postgis.output
    assert json.loads(on_postgis.output) == json.loads(on_sqlite.output)
    assert len(json.loads(on_postgis.output)["results"]) == 6
    bad = runner.invoke(main, ["nearest", "--lon", "117.2", "--lat", "34.26", "--type", "bus",
                               "--db", postgis_url])
    assert bad.exit_code == 2 and "type: unknown value 'bus'" in bad.output


def test_lookups_of_a_big_import_are_planned_for_their_own_values(pg_url):
    """psycopg prepares a statement on the server after five runs; PostgreSQL would then
    keep one generic plan, made while the table was empty (the first chunks of an import):
    a full scan for every later id and code look-up of the same import (measured: 200 ms
    each at 40,000 rows instead of 0.1 ms). The store's sessions plan every run."""
    store = StationStore(pg_url, create=True)
    try:
        store.add_many([_st(f"B{i:05d}", 117 + i / 1e5, 34.2) for i in range(8000)],
                       actor="t")
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SHOW plan_cache_mode")).scalar_one() == \
                   "force_custom_plan"
            plans = conn.execute(sa.text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE 'SELECT stations.%'")).all()
        assert plans and all(g == 0 and c > 5 for g, c in plans), plans
    finally:
        store.dispose()


# ------------------------------------------------------------------ without PostGIS


@pytest.fixture()
def app_role_db(pg_server):
    """A database owned by a role that may not enable PostGIS (not a superuser): what an
    app gets on a server where a superuser has not run CREATE EXTENSION postgis."""
    role = f"locator_app_{secrets.token_hex(3)}"
    pg_server._execute(f"CREATE ROLE {role} LOGIN")
    name = pg_server.new_database(postgis=False)
    pg_server._execute(f"ALTER DATABASE {name} OWNER TO {role}")
    url = sa.engine.make_url(pg_server.url(name)).set(username=role, password=None)
    try:
        yield url.render_as_string(hide_password=False), pg_server.url(name)
    finally:
        pg_server.drop(name)
        pg_server._execute(f"DROP ROLE IF EXISTS {role}")


def test_postgresql_without_postgis_works_and_says_what_is_missing(app_role_db, runner):
    url, superuser_url = app_role_db
    store = StationStore(url, create=True)
    try:
        assert not store.spatial
        store.add_many([_st(f"N{i}", 117.2 + i / 1000, 34.26) for i in range(30)], actor="t")
        store.update("N1", {"name": "改名"}, actor="t", expected_version=1)
        assert [r.id for r in store.nearest(117.2, 34.26, 3)] == ["N0", "N1", "N2"]
        assert [s.id for s in store.select(bbox=(117.2, 34.0, 117.202, 35.0))] == [
            "N0", "N1", "N2"]
    finally:
        store.dispose()
    out = runner.invoke(main, ["migrate", "--db", url])
    assert out.exit_code == 0, out.output
    assert "Note: PostGIS is installed on the server but not enabled in this database" \
           in out.output and "CREATE EXTENSION postgis" in out.output
    # a superuser enables it; the next `locator migrate` adds the column
    eng = sa.create_engine(superuser_url)
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION postgis"))
    eng.dispose()
    out = runner.invoke(main, ["migrate", "--db", url])
    assert out.exit_code == 0, out.output
    assert "Geometry: PostGIS" in out.output
    store = StationStore(url)
    try:
        assert store.spatial and _mismatches(store) == 0
        assert [r.id for r in store.nearest(117.2, 34.26, 3)] == ["N0", "N1", "N2"]
    finally:
        store.dispose()

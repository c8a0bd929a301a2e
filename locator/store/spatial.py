"""PostGIS: the stations' geometry column and the queries the database answers itself.

The column
----------
On PostgreSQL with the ``postgis`` extension, ``stations.geom`` is a
``geography(Point, 4326)`` **generated** from ``lon``/``lat``
(``GENERATED ALWAYS AS (...) STORED``): the database computes it on every insert and
update, so no code path (the store, an import, a migration, a hand-written ``UPDATE``)
can leave it different from the coordinates. Two GiST indexes serve it: one on
``geom`` for nearest-neighbour search (``geom <-> point``) and one on ``geom::geometry``
for lon/lat boxes.

Why ``geography`` and not ``geometry`` (SRID 4326): the ``<->`` distance of a
geography is the great-circle distance on a sphere, in metres (PostGIS takes the
WGS-84 mean radius, 6,371,008.77 m; the project's haversine 6,371,008.8 m, a
relative difference of 5e-9), so the server's ranking agrees with the project's up
to rounding, across the antimeridian and near the poles too. On a ``geometry`` in
degrees, ``<->`` is a planar distance in degrees, which at Xuzhou's latitude ranks a
station 17% too far east-west and breaks at +-180 degrees.

Without PostGIS
---------------
SQLite has no such column, and neither has a PostgreSQL server without the extension:
the store works the same (records, history, locking, imports, the audit log) and
spatial queries run in the in-memory index. :func:`ensure_geometry` (run by
``locator migrate``, ``locator init`` and the schema-5 migration) adds the column as
soon as PostGIS can be enabled, and :func:`geometry_status` says in plain words what
is missing otherwise.

Server-side queries
-------------------
:func:`nearest` orders candidates by ``geom <-> point`` (the GiST index), takes
enough of them, and re-ranks them with the project's exact haversine in a small
:class:`~locator.index.StationIndex` built from just those rows, so that filters,
ties (by id) and the result records are the index's own. It widens the candidate set
until the k-th result is provably nearer than every station it has not fetched. It is
for one-off queries where the index is not loaded (``locator nearest``); a running
app answers from its index, which is much faster (``benchmarks/bench_postgis.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import InvalidInput

if TYPE_CHECKING:
    from ..index.results import NearestResult
    from ..stations.model import Station
    from .sql import StationStore

#: The generated column, its two GiST indexes (nearest neighbours; lon/lat boxes).
GEOMETRY_DDL = (
    "ALTER TABLE stations ADD COLUMN IF NOT EXISTS geom geography(Point, 4326) "
    "GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography) STORED"
)
INDEX_DDL = (
    "CREATE INDEX IF NOT EXISTS ix_stations_geom ON stations USING gist (geom)",
    "CREATE INDEX IF NOT EXISTS ix_stations_geom_box ON stations USING gist "
    "((geom::geometry))",
)

#: How to get PostGIS, named in every message about it missing.
_HOW = ("install PostGIS on the database server (Debian: apt-get install "
        "postgresql-15-postgis-3), run CREATE EXTENSION postgis in this database as a "
        "superuser, then run `locator migrate` again")

#: The server's sphere and the project's differ by 5e-9 of a distance; anything within
#: this of the farthest fetched candidate is treated as possibly beyond it.
_REL_SLACK = 1e-6
_ABS_SLACK_M = 0.01


@dataclass(frozen=True)
class GeometryStatus:
    """Whether a database has the PostGIS geometry column, and if not, why."""

    #: ``stations.geom`` exists (with its indexes): server-side spatial queries work.
    geometry: bool
    #: The PostGIS version enabled in the database, if any.
    postgis: str | None
    #: One plain sentence for the person running the command.
    note: str


def geometry_status(conn: Connection) -> GeometryStatus:
    """Whether ``stations.geom`` exists here, and what is missing if it does not."""
    if conn.dialect.name != "postgresql":
        return GeometryStatus(False, None, f"{conn.dialect.name}: no geometry column (a "
                              "PostgreSQL feature); nearest and box queries run in the "
                              "in-memory index")
    version = _postgis_version(conn)
    if _has_geom(conn):
        return GeometryStatus(True, version, f"PostGIS {version}: stations.geom "
                              "geography(Point, 4326), generated from lon/lat, with GiST "
                              "indexes")
    if version is not None:
        return GeometryStatus(False, version, f"PostGIS {version} is enabled but "
                              "stations.geom is missing: run `locator migrate`")
    if _postgis_available(conn):
        return GeometryStatus(False, None, "PostGIS is installed on the server but not "
                              "enabled in this database, and this role may not enable it: "
                              "ask a superuser to run CREATE EXTENSION postgis here, then "
                              "run `locator migrate` again; until then nearest and box "
                              "queries run in the in-memory index")
    return GeometryStatus(False, None, "PostGIS is not installed on this PostgreSQL server: "
                          "stations have no geometry column, and nearest and box queries "
                          f"run in the in-memory index. To enable it, {_HOW}")


def ensure_geometry(conn: Connection) -> GeometryStatus:
    """Add ``stations.geom`` and its indexes where PostGIS is (or can be) enabled;
    idempotent. Inside the caller's transaction; a refused ``CREATE EXTENSION`` is rolled
    back to a savepoint and reported, never raised."""
    if conn.dialect.name != "postgresql":
        return geometry_status(conn)
    if _postgis_version(conn) is None and _postgis_available(conn):
        try:
            with conn.begin_nested():
                conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
        except sa.exc.DBAPIError:
            pass  # not allowed for this role: geometry_status says so
    if _postgis_version(conn) is not None:
        conn.execute(sa.text(GEOMETRY_DDL))
        for ddl in INDEX_DDL:
            conn.execute(sa.text(ddl))
    return geometry_status(conn)


def geoalchemy2_installed() -> bool:
    """Whether GeoAlchemy2 (the ``postgres`` extra), which the queries need, is there."""
    import importlib.util

    return importlib.util.find_spec("geoalchemy2") is not None


def _postgis_version(conn: Connection) -> str | None:
    return conn.execute(sa.text(
        "SELECT extversion FROM pg_extension WHERE extname = 'postgis'")).scalar_one_or_none()


def _postgis_available(conn: Connection) -> bool:
    return conn.execute(sa.text(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")).first() is not None


def _has_geom(conn: Connection) -> bool:
    return conn.execute(sa.text(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'stations' AND column_name = 'geom'")).first() is not None


# ------------------------------------------------------------------------ queries


@dataclass(frozen=True)
class _Queries:
    """The pieces of the two server-side queries, built once per store."""

    geom: Any  # stations.geom, typed for GeoAlchemy2's operators
    box: Any  # stations.geom::geometry, exactly the box index's expression
    point: Any  # the query point, a geography built from :qlon and :qlat


def _queries(store: StationStore) -> _Queries:
    q = store._spatial_queries
    if q is None:
        try:
            from geoalchemy2 import Geography, Geometry
        except ImportError as e:  # pragma: no cover - depends on the installation
            raise ImportError("PostGIS queries need GeoAlchemy2: pip install "
                              "'station-locator[postgres]'") from e
        point_t = Geography(geometry_type="POINT", srid=4326, spatial_index=False)
        geom = sa.literal_column("stations.geom", point_t)
        box = sa.literal_column("(stations.geom::geometry)",
                                Geometry(srid=4326, spatial_index=False))
        point = sa.cast(sa.func.ST_SetSRID(sa.func.ST_MakePoint(
            sa.bindparam("qlon", type_=sa.Float), sa.bindparam("qlat", type_=sa.Float)),
            4326), point_t)
        q = _Queries(geom, box, point)
        store._spatial_queries = q
    return q


def nearest(store: StationStore, lon: float, lat: float, k: int = 5, *,
            types: Iterable[str] | None = None, amenities: Iterable[str] | None = None,
            open_at: datetime | str | None = None, statuses: Iterable[str] | None = None,
            max_distance_m: float | None = None) -> list[NearestResult]:
    """:meth:`StationIndex.nearest` answered by PostGIS (same arguments, same results:
    ids, distances and order), for a store with the geometry column."""
    from ..index.station_index import StationIndex
    from ..stations.vocab import AMENITIES, STATION_TYPES, STATUSES
    from .sql import _row_to_station, stations_t

    filters: dict[str, Any] = {"types": types, "amenities": amenities, "open_at": open_at,
                               "statuses": statuses, "max_distance_m": max_distance_m}
    # The index checks the query (types, amenities, times, k, the radius) with its own
    # rules and messages; an empty one answers nothing after checking.
    StationIndex(()).nearest(lon, lat, k, **filters)
    lon, lat, k = float(lon), float(lat), int(float(k))
    q = _queries(store)
    t = stations_t
    where: list[sa.ColumnElement[bool]] = [t.c.deleted_at.is_(None)]
    if isinstance(types, str):
        types = [types]
    if isinstance(statuses, str):
        statuses = [statuses]
    if isinstance(amenities, str):
        amenities = [amenities]
    if types is not None:
        where.append(t.c.type.in_(sorted({STATION_TYPES.parse(v, field="type")
                                          for v in types})))
    if statuses is not None:
        where.append(t.c.status.in_(sorted({STATUSES.parse(v, field="status")
                                            for v in statuses})))
    else:
        where.append(t.c.status != "closed")
    if open_at is not None:
        where.append(t.c.status == "open")  # the index keeps only open records then
    for a in sorted({AMENITIES.parse(v, field="amenity") for v in amenities or ()}):
        where.append(sa.func.strpos(sa.literal(";") + t.c.amenities + sa.literal(";"),
                                    f";{a};") > 0)
    if max_distance_m is not None:
        reach = float(max_distance_m) * (1 + _REL_SLACK) + _ABS_SLACK_M
        where.append(sa.func.ST_DWithin(q.geom, q.point, reach, False))
    dist = q.geom.distance_centroid(q.point)  # geom <-> point: the GiST index's order
    params = {"qlon": lon, "qlat": lat}
    limit = 2 * k + 16
    with store.engine.connect() as conn:
        while True:
            rows = conn.execute(sa.select(t, dist.label("d_server")).where(*where)
                                .order_by(dist).limit(limit), params).mappings().all()
            found = StationIndex([_row_to_station(r) for r in rows]).nearest(
                lon, lat, k, **filters)
            if len(rows) < limit:
                return found  # every station that passes the SQL filters was seen
            farthest = float(rows[-1]["d_server"])
            if len(found) == k and found[-1].distance_m < farthest * (1 - _REL_SLACK) \
                    - _ABS_SLACK_M:
                return found  # anything not fetched is farther than the k-th result
            limit *= 4


def select(store: StationStore, *, bbox: tuple[float, float, float, float] | None = None,
           types: Iterable[str] | None = None, district: str | None = None,
           statuses: Iterable[str] | None = None) -> list[Station]:
    """:meth:`StationIndex.select` answered by the database: live stations inside a
    WGS-84 box (inclusive) matching the filters, ordered by id. With the geometry column
    the box goes through its GiST index; elsewhere through plain lon/lat comparisons."""
    from ..stations.vocab import STATION_TYPES, STATUSES
    from .sql import _row_to_station, stations_t

    t = stations_t
    where: list[sa.ColumnElement[bool]] = [t.c.deleted_at.is_(None)]
    if bbox is not None:
        x0, y0, x1, y1 = _check_bbox(bbox)
        where += [t.c.lon >= x0, t.c.lon <= x1, t.c.lat >= y0, t.c.lat <= y1]
        if store.spatial and x0 <= x1 and y0 <= y1:
            q = _queries(store)
            where.append(q.box.op("&&")(sa.func.ST_MakeEnvelope(x0, y0, x1, y1, 4326)))
    if types is not None:
        if isinstance(types, str):
            types = [types]
        where.append(t.c.type.in_(sorted({STATION_TYPES.parse(v, field="type")
                                          for v in types})))
    if statuses is not None:
        if isinstance(statuses, str):
            statuses = [statuses]
        where.append(t.c.status.in_(sorted({STATUSES.parse(v, field="status")
                                            for v in statuses})))
    if district is not None:
        where.append(sa.or_(t.c.district_adcode == district, t.c.district_name == district))
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(t).where(*where).order_by(t.c.id)).mappings()
        return [_row_to_station(r) for r in rows]


def _check_bbox(bbox: Any) -> tuple[float, float, float, float]:
    try:
        vals = tuple(float(v) for v in bbox)
    except (TypeError, ValueError):
        raise InvalidInput(f"bbox: {bbox!r} is not four numbers (min lon, min lat, max lon, "
                           "max lat; WGS-84 degrees)", field="bbox") from None
    if len(vals) != 4 or not all(math.isfinite(v) for v in vals):
        raise InvalidInput(f"bbox: {bbox!r} is not four finite numbers (min lon, min lat, "
                           "max lon, max lat; WGS-84 degrees)", field="bbox")
    return vals[0], vals[1], vals[2], vals[3]

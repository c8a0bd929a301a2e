"""Station storage through SQLAlchemy Core: SQLite by default; PostgreSQL (with PostGIS
where the server has it) by URL, so several app servers can share one database. Spatial
queries run in the in-memory index; on PostGIS the database answers one-off nearest and
box queries itself (:mod:`.spatial`). Schema versions and their migrations (Alembic)
are in :mod:`.schema`.

Every write runs in one transaction together with its history rows, so a
failed write (or a failed import, whatever its size) leaves the database as it
was, and nothing is ever lost: the ``station_history`` table keeps who, when,
the record before and the record after. Deleting a station only marks it deleted;
it can be restored, and any earlier version can be restored as a new version.

The change log
--------------
``station_history`` is also the change log other processes follow
(:meth:`StationStore.changes_since`): its ``hid`` must grow in *commit* order, or a
follower that has seen ``hid`` N would skip a transaction that took N-1 but committed
later. Write transactions are therefore serialised: on SQLite each one starts with
``BEGIN IMMEDIATE`` (the database's single write lock, taken before the first read), on
PostgreSQL with ``LOCK TABLE station_history IN EXCLUSIVE MODE`` (which blocks other
writers of the table until commit but no reader). The same serialisation makes each
write's existence checks and inserts atomic, so two imports of overlapping ids
cannot both insert one.

Writers take turns
------------------
SQLite makes a writer that finds the write lock taken sleep and retry, 1, 2, 5, 10 ms
and longer apart; under a steady stream of small writes from several processes (riders'
reports on two workers) waiters keep missing the moment the lock is free, and their
requests, and the threads that serve them, pile up for seconds. So on SQLite every write
transaction of the store first takes its turn on an advisory lock file beside the
database (``<database>-writers.lock``, ``flock``): the kernel wakes the next waiter the
moment a writer finishes, in any thread or process, and ``BEGIN IMMEDIATE`` then finds
the database free. The turn is held until the connection goes back to the pool, just
after its commit or rollback.

Waking the followers
--------------------
On PostgreSQL each write transaction also sends ``NOTIFY locator_changes``, delivered
when it commits, so that the workers following the log (each with a listening
connection, :meth:`StationStore.listen_for_changes`) read it at once instead of at
their next poll. The notification carries nothing: the log is the truth, and a worker
that misses notifications still finds every change by its sequence number.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

from ..errors import Conflict, InvalidInput, NotFound, SchemaError
from ..settings import load_settings
from ..stations.coords import validate_lonlat
from ..stations.model import EDITABLE_FIELDS, Station, station_from_dict
from ..stations.rows import FIELD_AT, LazyStations
from .schema import SCHEMA_VERSION as SCHEMA_VERSION

#: Today's tables. A change here needs a new revision in ``migrations/versions/`` and
#: a bump of :data:`SCHEMA_VERSION` (in :mod:`.schema`). On PostGIS, ``stations`` also has
#: the generated ``geom`` column (:mod:`.spatial`), which the store never writes.
metadata = sa.MetaData()

stations_t = sa.Table(
    "stations", metadata,
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
    sa.Column("entry_method", sa.String(20), nullable=False, default=""),
    sa.Column("entry_app", sa.String(40), nullable=False, default=""),
    sa.Column("staffed_hours", sa.String(200)),
    sa.Column("entry_note", sa.String(200), nullable=False, default=""),
    sa.Column("toilet_access", sa.String(20), nullable=False, default=""),
    sa.Column("phone", sa.String(40), nullable=False, default=""),
    sa.Column("status", sa.String(20), nullable=False, default="open"),
    sa.Column("verified_date", sa.Date),
    sa.Column("verified_by", sa.String(100), nullable=False, default=""),
    sa.Column("star_level", sa.Integer),
    sa.Column("capacity", sa.Integer),  # seats; NULL = not recorded
    sa.Column("source", sa.String(20), nullable=False),
    # The public code (see stations/codes.py): assigned on creation, never changed.
    sa.Column("code", sa.String(12), nullable=False, unique=True),
    sa.Column("reported_closed_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # Set when the station is deleted (it stays, hidden, and can be restored).
    sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
)

history_t = sa.Table(
    "station_history", metadata,
    sa.Column("hid", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station_id", sa.String(64), nullable=False, index=True),
    sa.Column("op", sa.String(10), nullable=False),  # create, update, delete, restore
    # The station's version after the change (for a delete: the version it was deleted at).
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("batch", sa.String(64)),
    sa.Column("before", sa.Text),
    sa.Column("after", sa.Text),
)

meta_t = sa.Table(
    "locator_meta", metadata,
    sa.Column("key", sa.String(50), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)


#: The PostgreSQL notification channel every station write notifies on commit.
CHANGES_CHANNEL = "locator_changes"


def db_url(location: str | os.PathLike | None = None) -> str:
    """A SQLAlchemy URL from a path or URL (default: the ``LOCATOR_DB`` setting)."""
    loc = str(location) if location else load_settings().db
    if "://" in loc:
        return loc
    return "sqlite:///" + str(Path(loc).expanduser().resolve())


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(dt: datetime | None) -> datetime | None:
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)  # SQLite returns naive UTC
    return dt


def _row_to_station(row: Mapping[str, Any]) -> Station:
    return Station(
        id=row["id"], name=row["name"], type=row["type"], lon=row["lon"], lat=row["lat"],
        address=row["address"], district_adcode=row["district_adcode"],
        district_name=row["district_name"], operator=row["operator"],
        amenities=tuple(a for a in row["amenities"].split(";") if a),
        opening_hours=row["opening_hours"], access=row["access"],
        entry_method=row["entry_method"], entry_app=row["entry_app"],
        staffed_hours=row["staffed_hours"], entry_note=row["entry_note"],
        toilet_access=row["toilet_access"], phone=row["phone"],
        status=row["status"], verified_date=row["verified_date"],
        verified_by=row["verified_by"], star_level=row["star_level"],
        capacity=row["capacity"], source=row["source"],
        code=row["code"], reported_closed_at=_aware(row["reported_closed_at"]),
        created_at=_aware(row["created_at"]), updated_at=_aware(row["updated_at"]),
        version=row["version"],
    )


#: The stations table's columns in :class:`Station`'s field order (a row of them is the
#: constructor's positional arguments, once amenities and times are converted).
_FIELD_NAMES = tuple(FIELD_AT)
_AMENITIES_AT = FIELD_AT["amenities"]
_DATE_AT = FIELD_AT["verified_date"]
_TIMES_AT = tuple(FIELD_AT[n] for n in ("reported_closed_at", "created_at", "updated_at"))


def _bulk_sql(dialect: str) -> str:
    """The bulk read of every live station, one raw row per station in
    :class:`Station`'s field order, for the DB-API cursor: dates and times come as text
    (SQLite stores ``YYYY-MM-DD[ HH:MM:SS[.ffffff]]``, naive UTC; PostgreSQL's ``::text``
    carries the offset) and amenities as stored, so that reading 400,000 rows makes no
    Python object per value beyond the driver's; :func:`_finish_row` converts a row when
    its station is first read."""
    cols = []
    for i, name in enumerate(_FIELD_NAMES):
        if dialect != "sqlite" and (i == _DATE_AT or i in _TIMES_AT):
            cols.append(f"{name}::text")
        else:
            cols.append(name)
    return (f"SELECT {', '.join(cols)} FROM stations WHERE deleted_at IS NULL "
            "ORDER BY id")


def _text_time(v: str | None) -> datetime | None:
    if v is None:
        return None
    dt = datetime.fromisoformat(v)
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _finish_row(raw: tuple) -> Station:
    """A :class:`Station` from a raw row of :func:`_bulk_sql`."""
    r = list(raw)
    a = r[_AMENITIES_AT]
    r[_AMENITIES_AT] = tuple(x for x in a.split(";") if x) if a else ()
    if r[_DATE_AT] is not None:
        r[_DATE_AT] = date.fromisoformat(r[_DATE_AT][:10])
    for j in _TIMES_AT:
        r[j] = _text_time(r[j])
    return Station(*r)


def _station_to_row(s: Station) -> dict[str, Any]:
    return {
        "id": s.id, "name": s.name, "type": s.type, "lon": s.lon, "lat": s.lat,
        "address": s.address, "district_adcode": s.district_adcode,
        "district_name": s.district_name, "operator": s.operator,
        "amenities": ";".join(s.amenities), "opening_hours": s.opening_hours,
        "access": s.access, "entry_method": s.entry_method, "entry_app": s.entry_app,
        "staffed_hours": s.staffed_hours, "entry_note": s.entry_note,
        "toilet_access": s.toilet_access, "phone": s.phone, "status": s.status,
        "verified_date": s.verified_date, "verified_by": s.verified_by,
        "star_level": s.star_level, "capacity": s.capacity, "source": s.source,
        "code": s.code,
        "reported_closed_at": s.reported_closed_at, "created_at": s.created_at,
        "updated_at": s.updated_at, "version": s.version,
    }


def _json(s: Station | None) -> str | None:
    return None if s is None else json.dumps(s.to_dict(), ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change from the log: ``seq`` grows in commit order."""

    seq: int
    station_id: str
    op: str
    version: int | None


#: A hook run inside a write's transaction, after the station rows are written: it gets
#: the connection and the stored records (audit rows are written this way, so that a
#: write and its audit entry commit together or not at all).
WriteHook = Callable[[Connection, list[Station]], None]


#: A server that does not answer a connection attempt within this is down (seconds):
#: writes then fail fast with 503 instead of waiting for the operating system's TCP
#: time-out (minutes) while the reads go on from the in-memory index.
PG_CONNECT_TIMEOUT_S = 3


def _engine_options(url: str) -> dict[str, Any]:
    """Engine options of a server database (none for SQLite): a connect time-out, and a
    ping when a pooled connection is checked out, so that after a database restart a
    dead pooled connection is replaced instead of failing the request that drew it."""
    if url.startswith("sqlite"):
        return {}
    opts: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        opts["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    return opts


class StationStore:
    """Persistent station records with full history.

    Parameters
    ----------
    location
        A file path or a SQLAlchemy URL; default ``$LOCATOR_DB`` or
        ``./station-locator.sqlite``.
    create
        Create the schema when the database is empty. Otherwise an empty
        database raises :class:`SchemaError`.
    auto_migrate
        Upgrade a database of an older schema version in place when opening it (the
        default, ``$LOCATOR_AUTO_MIGRATE`` where that setting exists); with False such
        a database raises :class:`SchemaError` asking to run ``locator migrate``.
    """

    def __init__(self, location: str | os.PathLike | None = None, *, create: bool = False,
                 auto_migrate: bool | None = None, _prepare: bool = True):
        self.url = db_url(location)
        self._spatial: bool | None = None
        self._spatial_queries: Any = None  # built by .spatial on first use
        if self.url.startswith("sqlite:///") and not create:
            path = Path(self.url[len("sqlite:///"):])
            if not path.exists():
                raise SchemaError(f"no database at {path}; run `locator init` (or `locator demo`)"
                                  " first, or set LOCATOR_DB / --db")
        self.engine: Engine = sa.create_engine(self.url, future=True, **_engine_options(self.url))
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            # Writes go through a second engine whose transactions begin IMMEDIATE (see the
            # module docstring); reads keep the driver's deferred transactions.
            self._writer: Engine = sa.create_engine(self.url, future=True)
            sa.event.listen(self._writer, "connect", _sqlite_writer_connect)
            turns = _WriterTurns(_sqlite_path(self.url))
            sa.event.listen(self._writer, "connect", turns.connect)
            sa.event.listen(self._writer, "begin", turns.begin)
            sa.event.listen(self._writer, "checkin", turns.done)
            sa.event.listen(self._writer, "close", turns.close)
        else:
            self._writer = self.engine
            if self.dialect == "postgresql":
                sa.event.listen(self.engine, "connect", _pg_session)
        if not _prepare:
            return  # locator migrate: schema.upgrade() takes it from here
        if auto_migrate is None:
            auto_migrate = bool(getattr(load_settings(), "auto_migrate", True))
        from .schema import prepare

        try:
            prepare(self, create=create, auto_migrate=auto_migrate)
        except BaseException:
            self.dispose()
            raise

    # ---------------------------------------------------------------- schema
    @property
    def display_url(self) -> str:
        """The database URL with any password hidden (for messages)."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    @property
    def schema_version(self) -> int:
        from .schema import read_version

        with self.engine.connect() as conn:
            v = read_version(conn).version
        if v is None:
            raise SchemaError(f"database {self.display_url} has no station-locator schema")
        return v

    @property
    def spatial(self) -> bool:
        """Whether the database has the PostGIS geometry column, so that :meth:`nearest`
        and :meth:`select` run on the server (checked once per store). Without GeoAlchemy2
        (the ``postgres`` extra) they run in an index instead."""
        if self._spatial is None:
            from .spatial import geoalchemy2_installed, geometry_status

            if self.dialect != "postgresql" or not geoalchemy2_installed():
                self._spatial = False
            else:
                with self.engine.connect() as conn:
                    self._spatial = geometry_status(conn).geometry
        return self._spatial

    def _forget_spatial(self) -> None:
        self._spatial = None

    def dispose(self) -> None:
        self.engine.dispose()
        if self._writer is not self.engine:
            self._writer.dispose()

    @contextmanager
    def _writing(self, *, lock: bool = True) -> Iterator[Connection]:
        """A write transaction, serialised with every other writer (module docstring)."""
        with self._writer.begin() as conn:
            if lock and self.dialect == "postgresql":
                conn.execute(sa.text("LOCK TABLE station_history IN EXCLUSIVE MODE"))
                # Wakes every worker following the change log (registry.py); PostgreSQL
                # delivers it at commit, and not at all when the transaction rolls back.
                conn.execute(sa.text(f"NOTIFY {CHANGES_CHANNEL}"))
            yield conn

    # ---------------------------------------------------------------- reads
    def all(self, *, include_deleted: bool = False) -> list[Station]:
        if include_deleted:
            q = sa.select(stations_t).order_by(stations_t.c.id)
            with self.engine.connect() as conn:
                return [_row_to_station(r) for r in conn.execute(q).mappings()]
        return list(self.all_lazy())

    def all_lazy(self) -> LazyStations:
        """:meth:`all` as a :class:`LazyStations`: each row becomes a :class:`Station`
        when first read (a worker's index is built from the raw rows; see
        :mod:`locator.stations.rows`)."""
        sql = _bulk_sql(self.dialect)
        with self.engine.connect() as conn:
            cur = conn.connection.cursor()  # the DB-API cursor: plain tuples
            try:
                cur.execute(sql)
                rows = cur.fetchall()
            finally:
                cur.close()
        return LazyStations(rows, _finish_row)

    def get(self, sid: str, *, include_deleted: bool = False) -> Station:
        with self.engine.connect() as conn:
            return self._get(conn, sid, include_deleted=include_deleted)

    def get_many(self, ids: Iterable[str]) -> dict[str, tuple[Station, bool]]:
        """The current records of ``ids`` (deleted ones included), as ``{id: (station,
        deleted)}``; ids that never existed are absent."""
        out: dict[str, tuple[Station, bool]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks([i for i in ids if "\x00" not in i], 500):
                for r in conn.execute(sa.select(stations_t).where(stations_t.c.id.in_(chunk))
                                      ).mappings():
                    out[r["id"]] = (_row_to_station(r), r["deleted_at"] is not None)
        return out

    def is_deleted(self, sid: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(stations_t.c.deleted_at).where(
                stations_t.c.id == sid)).first()
        if row is None:
            raise NotFound(f"station {sid!r} does not exist")
        return row[0] is not None

    @staticmethod
    def _get(conn: Connection, sid: str, *, include_deleted: bool = False) -> Station:
        if "\x00" in sid:  # no id holds one, and PostgreSQL refuses it in a query
            raise NotFound(f"station {sid!r} does not exist")
        row = conn.execute(sa.select(stations_t).where(stations_t.c.id == sid)
                           ).mappings().first()
        if row is None or (row["deleted_at"] is not None and not include_deleted):
            raise NotFound(f"station {sid!r} does not exist"
                           + (" (it was deleted; restore it first)" if row is not None else ""))
        return _row_to_station(row)

    def count(self, *, include_deleted: bool = False) -> int:
        q = sa.select(sa.func.count()).select_from(stations_t)
        if not include_deleted:
            q = q.where(stations_t.c.deleted_at.is_(None))
        with self.engine.connect() as conn:
            return conn.execute(q).scalar_one()

    def history(self, sid: str | None = None, *, limit: int = 100) -> list[dict[str, Any]]:
        """History rows, newest first; ``before``/``after`` decoded from JSON."""
        q = sa.select(history_t).order_by(history_t.c.hid.desc()).limit(limit)
        if sid is not None:
            q = q.where(history_t.c.station_id == sid)
        with self.engine.connect() as conn:
            out = []
            for r in conn.execute(q).mappings():
                d = dict(r)
                d["at"] = _aware(d["at"])
                d["before"] = json.loads(d["before"]) if d["before"] else None
                d["after"] = json.loads(d["after"]) if d["after"] else None
                out.append(d)
            return out

    def version_record(self, sid: str, version: int) -> dict[str, Any]:
        """The stored record of ``sid`` as it was at ``version`` (from the history)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(history_t.c.after).where(
                history_t.c.station_id == sid, history_t.c.after.is_not(None)
            ).order_by(history_t.c.hid.desc())).scalars()
            for after in rows:
                rec = json.loads(after)
                if rec.get("version") == version:
                    return rec
        raise NotFound(f"station {sid!r} has no version {version}")

    def last_change_id(self) -> int:
        """The newest entry of the change log (0 when empty)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(history_t.c.hid))).scalar_one() or 0

    def changes_since(self, seq: int, *, limit: int = 5000) -> list[Change]:
        """Committed changes after ``seq``, oldest first (at most ``limit``)."""
        q = (sa.select(history_t.c.hid, history_t.c.station_id, history_t.c.op,
                       history_t.c.version)
             .where(history_t.c.hid > seq).order_by(history_t.c.hid).limit(limit))
        with self.engine.connect() as conn:
            return [Change(*r) for r in conn.execute(q)]

    def listen_for_changes(self, *, timeout: float = 3.0) -> Any:
        """A new PostgreSQL connection (psycopg, autocommit) listening on
        :data:`CHANGES_CHANNEL`, for a follower to wait on (``conn.notifies()``); the
        caller closes it. None on other databases (there the follower polls)."""
        if self.dialect != "postgresql":
            return None
        import psycopg

        url = sa.engine.make_url(self.url).set(drivername="postgresql")
        conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True,
                               connect_timeout=max(1, round(timeout)),
                               application_name="locator-follower")
        try:
            conn.execute(f"LISTEN {CHANGES_CHANNEL}")
        except BaseException:
            conn.close()
            raise
        return conn

    def nearest(self, lon: float, lat: float, k: int = 5, **filters: Any) -> list[Any]:
        """:meth:`StationIndex.nearest <locator.StationIndex.nearest>` without loading an
        index: on PostGIS the database searches its GiST index and the candidates are
        re-ranked exactly (:func:`.spatial.nearest`); elsewhere an index is built from
        every row for this one query. Same arguments, same results."""
        if self.spatial:
            from .spatial import nearest

            return nearest(self, lon, lat, k, **filters)
        from ..index.station_index import StationIndex

        return StationIndex(self.all()).nearest(lon, lat, k, **filters)

    def select(self, *, bbox: tuple[float, float, float, float] | None = None,
               types: Iterable[str] | None = None, district: str | None = None,
               statuses: Iterable[str] | None = None) -> list[Station]:
        """:meth:`StationIndex.select <locator.StationIndex.select>` in the database: live
        stations in a WGS-84 box (inclusive) matching the filters, ordered by id (on
        PostGIS through the geometry's GiST index)."""
        from .spatial import select

        return select(self, bbox=bbox, types=types, district=district, statuses=statuses)

    # ---------------------------------------------------------------- writes
    def add(self, station: Station, *, actor: str, hook: WriteHook | None = None) -> Station:
        """Store a new station (``Conflict`` if the id exists)."""
        return self.add_many([station], actor=actor, hook=hook)[0]

    def add_many(self, stations: Iterable[Station], *, actor: str, upsert: bool = False,
                 batch: str | None = None, hook: WriteHook | None = None,
                 progress: Callable[[int], None] | None = None,
                 expected_versions: Mapping[str, int] | None = None) -> list[Station]:
        """Store many stations in one transaction: all of them, or none.

        With ``upsert``, an existing id is updated (its version bumped, history kept;
        a record equal to the stored one is left as it is); without it an existing id is
        a :class:`Conflict`. A deleted station's id is a :class:`Conflict` either way
        (restore it first). ``expected_versions`` (id -> the version the caller planned
        against, e.g. an import's dry run) refuses the whole batch with a
        :class:`Conflict` if any of those stations changed meanwhile, and an id planned
        as new that now exists. ``progress`` is called with the number of rows written.
        """
        actor = _check_actor(actor)
        now = _utc_now()
        stations = list(stations)
        ids = [s.id for s in stations]
        if len(set(ids)) != len(ids):
            dup = next(i for i, n in Counter(ids).items() if n > 1)
            raise InvalidInput(f"id: duplicate id {dup!r} in the same batch", field="id")
        stored: list[Station] = []
        with self._writing() as conn:
            existing: dict[str, Station] = {}
            deleted: list[str] = []
            for chunk in _chunks(ids, 500):
                for r in conn.execute(sa.select(stations_t).where(stations_t.c.id.in_(chunk))
                                      ).mappings():
                    if r["deleted_at"] is not None:
                        deleted.append(r["id"])
                    existing[r["id"]] = _row_to_station(r)
            if deleted:
                deleted.sort()
                raise Conflict(f"{len(deleted)} id(s) belong to deleted stations: "
                               f"{', '.join(deleted[:10])}{' ...' if len(deleted) > 10 else ''}"
                               "; restore them first")
            if existing and not upsert:
                taken = sorted(existing)
                raise Conflict(f"{len(taken)} id(s) already exist: {', '.join(taken[:10])}"
                               f"{' ...' if len(taken) > 10 else ''}")
            if expected_versions is not None:
                moved = sorted(sid for sid, v in expected_versions.items()
                               if (existing[sid].version if sid in existing else None) != v)
                moved += sorted(sid for sid in existing if sid not in expected_versions)
                if moved:
                    raise Conflict(f"{len(moved)} station(s) changed since the plan was made "
                                   f"(e.g. {', '.join(moved[:5])}); nothing was stored — "
                                   "check again and retry")
            codes = _assign_codes(conn, [s for s in stations if s.id not in existing])
            new_rows, upd_rows, hist = [], [], []
            for s in stations:
                old = existing.get(s.id)
                if old is not None:
                    if _same(old, s):
                        stored.append(old)
                        continue
                    s = _kept(old, s).evolve(updated_at=now, version=old.version + 1)
                    upd_rows.append({"b_id": s.id, **_station_to_row(s)})
                    hist.append(dict(station_id=s.id, op="update", version=s.version,
                                     actor=actor, at=now, batch=batch, before=_json(old),
                                     after=_json(s)))
                else:
                    s = s.evolve(created_at=now, updated_at=now, version=1, code=codes[s.id],
                                 reported_closed_at=None)
                    new_rows.append(_station_to_row(s))
                    hist.append(dict(station_id=s.id, op="create", version=1, actor=actor,
                                     at=now, batch=batch, before=None, after=_json(s)))
                stored.append(s)
            for chunk in _chunks(new_rows, 2000):
                conn.execute(stations_t.insert(), chunk)
                if progress is not None:
                    progress(len(chunk))
            if upd_rows:
                # one executemany, not a statement per row (the write lock is held anyway)
                stmt = stations_t.update().where(stations_t.c.id == sa.bindparam("b_id")) \
                    .values({c: sa.bindparam(c) for c in upd_rows[0] if c != "b_id"})
                for chunk in _chunks(upd_rows, 2000):
                    conn.execute(stmt, chunk)
                    if progress is not None:
                        progress(len(chunk))
            for chunk in _chunks(hist, 2000):
                conn.execute(history_t.insert(), chunk)
            if hook is not None:
                hook(conn, stored)
        return stored

    def update(self, sid: str, changes: Mapping[str, Any], *, actor: str,
               expected_version: int | None = None, crs: str = "wgs84",
               hook: WriteHook | None = None) -> Station:
        """Change fields of a station; validated like new input.

        ``expected_version`` guards against lost updates: if the stored version
        differs, :class:`Conflict` is raised and nothing changes.
        """
        actor = _check_actor(actor)
        _check_editable(changes)
        with self._writing() as conn:
            old = self._get(conn, sid)
            _check_version(old, expected_version)
            new = apply_changes(old, changes, crs=crs)
            if _same(old, new):
                return old  # nothing changed: no new version
            new = _kept(old, new).evolve(updated_at=_utc_now(), version=old.version + 1)
            self._write_version(conn, old, new, op="update", actor=actor)
            if hook is not None:
                hook(conn, [new])
        return new

    def delete(self, sid: str, *, actor: str, expected_version: int | None = None,
               hook: WriteHook | None = None) -> Station:
        """Mark a station deleted: it leaves every listing and the index, and stays in the
        database with its history (:meth:`restore` brings it back)."""
        actor = _check_actor(actor)
        with self._writing() as conn:
            old = self._get(conn, sid)
            _check_version(old, expected_version)
            now = _utc_now()
            res = conn.execute(stations_t.update().where(stations_t.c.id == sid)
                               .where(stations_t.c.version == old.version)
                               .values(deleted_at=now, updated_at=now,
                                       version=old.version + 1))
            if res.rowcount != 1:
                raise Conflict(f"station {sid!r} was changed concurrently; try again")
            conn.execute(history_t.insert().values(
                station_id=sid, op="delete", version=old.version + 1, actor=actor, at=now,
                before=_json(old), after=None))
            gone = old.evolve(updated_at=now, version=old.version + 1)
            if hook is not None:
                hook(conn, [gone])
        return gone

    def restore(self, sid: str, *, actor: str, hook: WriteHook | None = None) -> Station:
        """Bring a deleted station back (as a new version)."""
        actor = _check_actor(actor)
        with self._writing() as conn:
            row = conn.execute(sa.select(stations_t).where(stations_t.c.id == sid)
                               ).mappings().first()
            if row is None:
                raise NotFound(f"station {sid!r} does not exist")
            if row["deleted_at"] is None:
                raise Conflict(f"station {sid!r} is not deleted; nothing to restore")
            old = _row_to_station(row)
            now = _utc_now()
            new = old.evolve(updated_at=now, version=old.version + 1)
            conn.execute(stations_t.update().where(stations_t.c.id == sid)
                         .values(deleted_at=None, updated_at=now, version=new.version))
            conn.execute(history_t.insert().values(
                station_id=sid, op="restore", version=new.version, actor=actor, at=now,
                before=None, after=_json(new)))
            if hook is not None:
                hook(conn, [new])
        return new

    def restore_version(self, sid: str, version: int, *, actor: str,
                        expected_version: int | None = None,
                        hook: WriteHook | None = None) -> Station:
        """Make the fields of an earlier ``version`` the station's current state, as a new
        version (the history keeps everything in between)."""
        rec = self.version_record(sid, version)
        fields = {k: v for k, v in rec.items() if k in EDITABLE_FIELDS[1:]}
        return self.update(sid, fields, actor=actor, expected_version=expected_version,
                           hook=hook)

    def set_reported_closed(self, sid: str, at: datetime | None, *, actor: str,
                            only_if: Callable[[Connection], bool] | None = None,
                            hook: WriteHook | None = None) -> Station | None:
        """Set (``at``) or clear (None) the station's "reported closed" flag, as a new
        version. ``only_if(conn)`` is checked inside the write transaction (e.g. that the
        reports still reach the threshold); when it returns False, or the flag is already
        as asked, nothing is written and None is returned."""
        actor = _check_actor(actor)
        with self._writing() as conn:
            old = self._get(conn, sid)
            if (old.reported_closed_at is None) == (at is None):
                return None
            if only_if is not None and not only_if(conn):
                return None
            new = old.evolve(reported_closed_at=at, updated_at=_utc_now(),
                             version=old.version + 1)
            self._write_version(conn, old, new, op="update", actor=actor)
            if hook is not None:
                hook(conn, [new])
        return new

    def id_for_code(self, code: str) -> str:
        """The id of the (not deleted) station with public ``code``."""
        from ..stations.codes import normalize_code

        with self.engine.connect() as conn:
            row = conn.execute(sa.select(stations_t.c.id).where(
                stations_t.c.code == normalize_code(code)[:12],
                stations_t.c.deleted_at.is_(None))).first()
        if row is None:
            raise NotFound(f"no station has the code {code!r}")
        return row[0]

    def _write_version(self, conn: Connection, old: Station, new: Station, *, op: str,
                       actor: str) -> None:
        res = conn.execute(stations_t.update().where(stations_t.c.id == old.id)
                           .where(stations_t.c.version == old.version)
                           .values(**_station_to_row(new)))
        if res.rowcount != 1:
            raise Conflict(f"station {old.id!r} was changed concurrently; try again")
        conn.execute(history_t.insert().values(
            station_id=old.id, op=op, version=new.version, actor=actor, at=new.updated_at,
            before=_json(old), after=_json(new)))


def _check_editable(changes: Mapping[str, Any]) -> None:
    bad = set(changes) - set(EDITABLE_FIELDS[1:])
    if bad:
        raise InvalidInput(f"cannot change {', '.join(sorted(bad))}; editable fields: "
                           f"{', '.join(EDITABLE_FIELDS[1:])}", field=sorted(bad)[0])


def apply_changes(old: Station, changes: Mapping[str, Any], *, crs: str = "wgs84"
                  ) -> Station:
    """``old`` with ``changes`` (editable fields) applied and validated like new input.
    Stored coordinates are WGS-84; with another ``crs`` only the changed lon/lat pair is
    in it (both must change). Empty values mean the field's default. The result keeps
    ``old``'s timestamps and version; the store sets new ones."""
    _check_editable(changes)
    changes = dict(changes)
    if crs != "wgs84" and ("lon" in changes or "lat" in changes):
        if not {"lon", "lat"} <= set(changes):
            raise InvalidInput(f"lon and lat must be changed together when crs is {crs}",
                               field="lon" if "lon" not in changes else "lat")
        changes["lon"], changes["lat"] = validate_lonlat(changes["lon"], changes["lat"],
                                                         crs=crs)
    data = {k: v for k, v in old.to_dict().items() if k in EDITABLE_FIELDS}
    data.update(changes)
    return station_from_dict({k: v for k, v in data.items() if v not in (None, "")})


def _kept(old: Station, new: Station) -> Station:
    """``new`` with the fields the store keeps (not user-editable) taken from ``old``."""
    return new.evolve(created_at=old.created_at, code=old.code,
                      reported_closed_at=old.reported_closed_at)


def _assign_codes(conn: Connection, new: list[Station]) -> dict[str, str]:
    """Public codes for stations about to be created: a code the record brings (an
    export re-imported) is kept when free; otherwise, and on a collision, the first free
    candidate derived from the id (see :mod:`locator.stations.codes`)."""
    from ..stations.codes import candidate_code

    out: dict[str, str] = {}
    if not new:
        return out
    wanted = {s.id: s.code or candidate_code(s.id) for s in new}
    taken: set[str] = set()
    for chunk in _chunks(sorted(set(wanted.values())), 500):
        taken.update(conn.execute(sa.select(stations_t.c.code).where(
            stations_t.c.code.in_(chunk))).scalars())
    for s in new:
        code, salt = wanted[s.id], 0
        while code in taken:
            salt += 1
            code = candidate_code(s.id, salt)
            if conn.execute(sa.select(stations_t.c.id).where(stations_t.c.code == code)
                            ).first() is not None:
                taken.add(code)
        taken.add(code)
        out[s.id] = code
    return out


def _same(old: Station, new: Station) -> bool:
    """Whether ``new`` carries the same user-editable content as ``old``."""
    return all(getattr(old, f) == getattr(new, f) for f in EDITABLE_FIELDS)


def _check_version(old: Station, expected: int | None) -> None:
    if expected is not None and old.version != expected:
        raise Conflict(f"station {old.id!r} is at version {old.version}, not {expected}; "
                       "reload and try again")


def _check_actor(actor: str) -> str:
    actor = (actor or "").strip()
    if not actor or len(actor) > 100:
        raise InvalidInput("actor: who makes the change is required (1-100 characters)",
                           field="actor")
    return actor


def _chunks(seq: list, n: int):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def _pg_session(dbapi_conn, _record) -> None:
    """Plan every statement for its own parameters. psycopg prepares a statement on the
    server after its fifth run, and PostgreSQL may then keep one generic plan; planned
    while a table was small (the first chunks of a big import), that plan is a sequential
    scan, and the id and code look-ups of the later chunks, against a table that has grown
    to 100,000 rows in the same transaction, took 200 ms each instead of 0.1 ms."""
    with dbapi_conn.cursor() as cur:
        cur.execute("SET plan_cache_mode = force_custom_plan")
    dbapi_conn.commit()


def _sqlite_writer_connect(dbapi_conn, record) -> None:
    _sqlite_pragmas(dbapi_conn, record)
    cur = dbapi_conn.cursor()
    # Writers queue behind a long import rather than fail after 5 s.
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()
    dbapi_conn.isolation_level = None  # the "begin" listener issues BEGIN itself


def _sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for an in-memory database)."""
    rest = url.split("///", 1)[1] if "///" in url else ""
    rest = rest.split("?", 1)[0]
    return Path(rest) if rest and rest != ":memory:" else None


class _WriterTurns:
    """Write transactions take turns on a lock file beside the database (module
    docstring, "Writers take turns"). Each pooled connection opens the file once; its
    ``begin`` waits for the turn (``flock``, with the GIL released) and then begins
    IMMEDIATE; the turn passes on when the connection is checked back in. Without
    ``fcntl`` (not POSIX) or a writable directory, writers fall back to SQLite's own
    waiting."""

    def __init__(self, db: Path | None):
        self.path = None if db is None or fcntl is None else Path(f"{db}-writers.lock")

    def connect(self, _dbapi_conn: Any, record: Any) -> None:
        if self.path is not None:
            try:
                record.info["writers_fd"] = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError:
                pass

    def begin(self, conn: Connection) -> None:
        info = conn.connection.info
        fd = info.get("writers_fd")
        if fd is not None and not info.get("writers_turn"):
            fcntl.flock(fd, fcntl.LOCK_EX)
            info["writers_turn"] = True
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    def done(self, _dbapi_conn: Any, record: Any) -> None:
        if record is not None and record.info.pop("writers_turn", False):
            fcntl.flock(record.info["writers_fd"], fcntl.LOCK_UN)

    def close(self, _dbapi_conn: Any, record: Any) -> None:
        info = record.info
        fd = info.pop("writers_fd", None)
        info.pop("writers_turn", None)
        if fd is not None:
            os.close(fd)  # releases the turn, if this connection held it

"""Station storage through SQLAlchemy Core: SQLite by default; PostgreSQL by URL
(tested on a real server), so several app servers can share one database. Spatial
queries run in the in-memory index either way; a PostGIS store with server-side
geometry would plug in behind the same interface.

Every write runs in one transaction together with its history rows, so a
failed write (or a failed import, whatever its size) leaves the database as it
was, and nothing is ever lost: the ``station_history`` table keeps who, when,
the record before and the record after.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import Conflict, InvalidInput, NotFound, SchemaError
from ..stations.coords import validate_lonlat
from ..stations.model import EDITABLE_FIELDS, Station, station_from_dict

#: Bump with every schema change and add a step to ``_MIGRATIONS``.
SCHEMA_VERSION = 1

DEFAULT_DB = "station-locator.sqlite"

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
    sa.Column("phone", sa.String(40), nullable=False, default=""),
    sa.Column("status", sa.String(20), nullable=False, default="open"),
    sa.Column("verified_date", sa.Date),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

history_t = sa.Table(
    "station_history", metadata,
    sa.Column("hid", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station_id", sa.String(64), nullable=False, index=True),
    sa.Column("op", sa.String(10), nullable=False),  # create, update, delete
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


def db_url(location: str | os.PathLike | None = None) -> str:
    """A SQLAlchemy URL from a path or URL (default: ``$LOCATOR_DB`` or ./station-locator.sqlite)."""
    loc = str(location) if location else os.environ.get("LOCATOR_DB") or DEFAULT_DB
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
        opening_hours=row["opening_hours"], access=row["access"], phone=row["phone"],
        status=row["status"], verified_date=row["verified_date"], source=row["source"],
        created_at=_aware(row["created_at"]), updated_at=_aware(row["updated_at"]),
        version=row["version"],
    )


def _station_to_row(s: Station) -> dict[str, Any]:
    return {
        "id": s.id, "name": s.name, "type": s.type, "lon": s.lon, "lat": s.lat,
        "address": s.address, "district_adcode": s.district_adcode,
        "district_name": s.district_name, "operator": s.operator,
        "amenities": ";".join(s.amenities), "opening_hours": s.opening_hours,
        "access": s.access, "phone": s.phone, "status": s.status,
        "verified_date": s.verified_date, "source": s.source, "created_at": s.created_at,
        "updated_at": s.updated_at, "version": s.version,
    }


def _json(s: Station | None) -> str | None:
    return None if s is None else json.dumps(s.to_dict(), ensure_ascii=False, sort_keys=True)


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
    """

    def __init__(self, location: str | os.PathLike | None = None, *, create: bool = False):
        self.url = db_url(location)
        if self.url.startswith("sqlite:///") and not create:
            path = Path(self.url[len("sqlite:///"):])
            if not path.exists():
                raise SchemaError(f"no database at {path}; run `locator init` (or `locator demo`)"
                                  " first, or set LOCATOR_DB / --db")
        self.engine: Engine = sa.create_engine(self.url, future=True)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._check_schema(create=create)

    # ---------------------------------------------------------------- schema
    def _check_schema(self, *, create: bool) -> None:
        insp = sa.inspect(self.engine)
        if not insp.has_table("locator_meta"):
            if not create:
                raise SchemaError(f"database {self.url} has no station-locator schema; "
                                  "run `locator init`")
            with self.engine.begin() as conn:
                metadata.create_all(conn)
                conn.execute(meta_t.insert().values(key="schema_version",
                                                    value=str(SCHEMA_VERSION)))
            return
        with self.engine.connect() as conn:
            v = conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == "schema_version")
                             ).scalar_one_or_none()
        if v is None or int(v) > SCHEMA_VERSION:
            raise SchemaError(f"database schema version {v} is newer than this program "
                              f"supports ({SCHEMA_VERSION}); upgrade station-locator")
        # Future migrations: for step in range(int(v), SCHEMA_VERSION): _MIGRATIONS[step](conn)

    @property
    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(meta_t.c.value).where(
                meta_t.c.key == "schema_version")).scalar_one())

    def dispose(self) -> None:
        self.engine.dispose()

    # ---------------------------------------------------------------- reads
    def all(self) -> list[Station]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(stations_t).order_by(stations_t.c.id)).mappings()
            return [_row_to_station(r) for r in rows]

    def get(self, sid: str) -> Station:
        with self.engine.connect() as conn:
            return self._get(conn, sid)

    @staticmethod
    def _get(conn: Connection, sid: str) -> Station:
        row = conn.execute(sa.select(stations_t).where(stations_t.c.id == sid)
                           ).mappings().first()
        if row is None:
            raise NotFound(f"station {sid!r} does not exist")
        return _row_to_station(row)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(stations_t)).scalar_one()

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

    def last_change_id(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(history_t.c.hid))).scalar_one() or 0

    # ---------------------------------------------------------------- writes
    def add(self, station: Station, *, actor: str) -> Station:
        """Store a new station (``Conflict`` if the id exists)."""
        return self.add_many([station], actor=actor)[0]

    def add_many(self, stations: Iterable[Station], *, actor: str, upsert: bool = False,
                 batch: str | None = None) -> list[Station]:
        """Store many stations in one transaction: all of them, or none.

        With ``upsert``, an existing id is updated (its version bumped, history kept);
        without it an existing id is a :class:`Conflict`.
        """
        actor = _check_actor(actor)
        now = _utc_now()
        stations = list(stations)
        ids = [s.id for s in stations]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise InvalidInput(f"id: duplicate id {dup!r} in the same batch", field="id")
        stored: list[Station] = []
        with self.engine.begin() as conn:
            existing: dict[str, Station] = {}
            for chunk in _chunks(ids, 500):
                for r in conn.execute(sa.select(stations_t).where(stations_t.c.id.in_(chunk))
                                      ).mappings():
                    existing[r["id"]] = _row_to_station(r)
            if existing and not upsert:
                taken = sorted(existing)
                raise Conflict(f"{len(taken)} id(s) already exist: {', '.join(taken[:10])}"
                               f"{' ...' if len(taken) > 10 else ''}")
            new_rows, hist = [], []
            for s in stations:
                old = existing.get(s.id)
                if old is not None:
                    s = s.evolve(created_at=old.created_at, updated_at=now,
                                 version=old.version + 1)
                    conn.execute(stations_t.update().where(stations_t.c.id == s.id)
                                 .values(**_station_to_row(s)))
                    hist.append(dict(station_id=s.id, op="update", actor=actor, at=now,
                                     batch=batch, before=_json(old), after=_json(s)))
                else:
                    s = s.evolve(created_at=now, updated_at=now, version=1)
                    new_rows.append(_station_to_row(s))
                    hist.append(dict(station_id=s.id, op="create", actor=actor, at=now,
                                     batch=batch, before=None, after=_json(s)))
                stored.append(s)
            if new_rows:
                conn.execute(stations_t.insert(), new_rows)
            if hist:
                conn.execute(history_t.insert(), hist)
        return stored

    def update(self, sid: str, changes: Mapping[str, Any], *, actor: str,
               expected_version: int | None = None, crs: str = "wgs84") -> Station:
        """Change fields of a station; validated like new input.

        ``expected_version`` guards against lost updates: if the stored version
        differs, :class:`Conflict` is raised and nothing changes.
        """
        actor = _check_actor(actor)
        bad = set(changes) - set(EDITABLE_FIELDS[1:])
        if bad:
            raise InvalidInput(f"cannot change {', '.join(sorted(bad))}; editable fields: "
                               f"{', '.join(EDITABLE_FIELDS[1:])}", field=sorted(bad)[0])
        with self.engine.begin() as conn:
            old = self._get(conn, sid)
            if expected_version is not None and old.version != expected_version:
                raise Conflict(f"station {sid!r} is at version {old.version}, not "
                               f"{expected_version}; reload and try again")
            data = {k: v for k, v in old.to_dict().items() if k in EDITABLE_FIELDS}
            if crs != "wgs84" and ("lon" in changes or "lat" in changes):
                if not {"lon", "lat"} <= set(changes):
                    raise InvalidInput(f"lon and lat must be changed together when crs is {crs}",
                                       field="lon" if "lon" not in changes else "lat")
                # stored coordinates are WGS-84; only the changed pair is in ``crs``
                lon, lat = validate_lonlat(changes["lon"], changes["lat"], crs=crs)
                changes = {**changes, "lon": lon, "lat": lat}
            data.update(changes)
            new = station_from_dict(data).evolve(
                created_at=old.created_at, updated_at=_utc_now(), version=old.version + 1)
            if new == old.evolve(updated_at=new.updated_at, version=new.version):
                return old  # nothing changed: no new version
            res = conn.execute(stations_t.update().where(stations_t.c.id == sid)
                               .where(stations_t.c.version == old.version)
                               .values(**_station_to_row(new)))
            if res.rowcount != 1:
                raise Conflict(f"station {sid!r} was changed concurrently; try again")
            conn.execute(history_t.insert().values(
                station_id=sid, op="update", actor=actor, at=new.updated_at,
                before=_json(old), after=_json(new)))
        return new

    def delete(self, sid: str, *, actor: str) -> Station:
        """Remove a station record; its history (with the last state) is kept."""
        actor = _check_actor(actor)
        with self.engine.begin() as conn:
            old = self._get(conn, sid)
            conn.execute(stations_t.delete().where(stations_t.c.id == sid))
            conn.execute(history_t.insert().values(
                station_id=sid, op="delete", actor=actor, at=_utc_now(), before=_json(old),
                after=None))
        return old


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

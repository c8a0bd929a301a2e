"""Schema versions and their migrations, on SQLite and PostgreSQL alike.

The station schema (``stations``, ``station_history``, ``locator_meta``) is versioned
by Alembic: one revision per version, ``0001`` (the first schema) to ``0006``
(today's), in ``locator/store/migrations/versions/``, shipped inside the package.
Alembic records the version in ``alembic_version``; ``locator_meta.schema_version``
is kept equal to it, so that an older program, which reads only that row, refuses a
database newer than itself instead of using it.

Opening and upgrading
---------------------
:func:`prepare` runs whenever a :class:`~locator.store.StationStore` opens a database:

* an empty database gets today's tables (created directly, with the geometry column
  where PostGIS is available) stamped at the newest revision, when asked to create;
* a database at an older version is upgraded in place (``auto_migrate``, the default,
  as the store always did), or refused with a message to run ``locator migrate``;
* a database stamped by the old home-made scheme (a ``locator_meta`` row, no
  ``alembic_version``) is recognised, stamped at its version and upgraded from there;
* a database newer than this program is refused.

An upgrade (:func:`upgrade`) is **one transaction**: the version check, Alembic's
steps and both version rows commit together or not at all. PostgreSQL and SQLite both
roll back DDL, so an upgrade that fails or is killed half-way leaves the database at
its old version with everything in it, and running it again completes it. Upgrades are
serialised with every other writer (SQLite: the store's ``BEGIN IMMEDIATE`` and its
writers' lock file; PostgreSQL: an advisory lock), so several app servers starting at
once upgrade once, and the others find it done.

The other tables (staff accounts and the audit log, riders' reports, alerts, jobs)
are created where missing by their own modules (``IF NOT EXISTS``) and have kept one
shape since they were added; a change to one of them gets a revision here.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import SchemaError
from .spatial import GeometryStatus, ensure_geometry, geometry_status

if TYPE_CHECKING:
    from .sql import StationStore

#: Today's schema version; the newest revision is ``f"{SCHEMA_VERSION:04d}"``.
SCHEMA_VERSION = 6

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

#: Any constant: the advisory lock PostgreSQL sessions take to create or upgrade.
_PG_LOCK_KEY = 8_020_514_259

_own = sa.MetaData()
#: Alembic's version table, exactly as Alembic creates it (written here directly when a
#: new database is stamped, so that opening a store never needs to load Alembic).
alembic_version_t = sa.Table(
    "alembic_version", _own,
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def revision_id(version: int) -> str:
    """The Alembic revision of a schema version (``5`` -> ``"0005"``)."""
    return f"{version:04d}"


@dataclass(frozen=True)
class Found:
    """The version a database is at, and how it says so."""

    #: None for an empty database (no station schema).
    version: int | None
    #: Versioned by the old home-made scheme only (``locator_meta``, no Alembic table).
    legacy: bool


@dataclass(frozen=True)
class Upgrade:
    """What :func:`upgrade` did: from which version to which, and the geometry column."""

    #: The database, its password hidden, and its kind (``sqlite``, ``postgresql``).
    where: str
    backend: str
    from_version: int
    to_version: int
    #: The database was carried over from the old home-made versioning.
    legacy: bool
    geometry: GeometryStatus
    seconds: float
    #: Stations (deleted ones included) and history rows after the upgrade.
    stations: int
    history_rows: int

    @property
    def changed(self) -> bool:
        return self.from_version != self.to_version or self.legacy


def read_version(conn: Connection) -> Found:
    """The schema version of the database behind ``conn``."""
    insp = sa.inspect(conn)
    has_alembic = insp.has_table("alembic_version")
    has_meta = insp.has_table("locator_meta")
    meta_v: int | None = None
    if has_meta:
        raw = conn.execute(sa.text("SELECT value FROM locator_meta "
                                   "WHERE key = 'schema_version'")).scalar_one_or_none()
        meta_v = _as_version(raw, "locator_meta.schema_version")
    if has_alembic:
        raw = conn.execute(sa.select(alembic_version_t.c.version_num)).scalars().all()
        if len(raw) != 1:
            raise SchemaError(f"alembic_version holds {len(raw)} rows, not one; this "
                              "database was not versioned by station-locator")
        v = _as_version(raw[0], "alembic_version")
        if meta_v is not None and meta_v > v:
            v = meta_v  # an older program never writes a newer number: the newer wins
        return Found(v, legacy=False)
    if has_meta:
        if meta_v is None:
            raise SchemaError("locator_meta has no schema_version row; this database was "
                              "not made by station-locator (or was damaged)")
        return Found(meta_v, legacy=True)
    return Found(None, legacy=False)


def _as_version(raw: Any, where: str) -> int:
    try:
        v = int(str(raw))
    except (TypeError, ValueError):
        raise SchemaError(f"{where} is {raw!r}, not a schema version; this database was "
                          "not made by station-locator") from None
    if v < 1:
        raise SchemaError(f"{where} is {raw!r}, not a schema version")
    return v


def _newer(v: int) -> SchemaError:
    return SchemaError(f"database schema version {v} is newer than this program "
                       f"supports ({SCHEMA_VERSION}); upgrade station-locator")


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})


def prepare(store: StationStore, *, create: bool, auto_migrate: bool) -> None:
    """Make the store's database usable by this program, or say why not (module
    docstring, "Opening and upgrading")."""
    with store.engine.connect() as conn:
        found = read_version(conn)
    if found.version == SCHEMA_VERSION and not found.legacy:
        return
    if found.version is None:
        if not create:
            raise SchemaError(f"database {store.display_url} has no station-locator "
                              "schema; run `locator init`")
        with store._writing(lock=False) as conn:
            _lock(conn)
            if read_version(conn).version is None:  # nobody made it meanwhile
                create_schema(conn)
                return
        return prepare(store, create=create, auto_migrate=auto_migrate)
    if found.version > SCHEMA_VERSION:
        raise _newer(found.version)
    if not auto_migrate:
        raise SchemaError(f"database {store.display_url} is at schema version "
                          f"{found.version}; this program needs version {SCHEMA_VERSION}: "
                          "run `locator migrate` to upgrade it in place (nothing is lost)")
    upgrade(store)


def create_schema(conn: Connection) -> None:
    """Today's tables in an empty database, stamped at :data:`SCHEMA_VERSION` (the
    geometry column too, where PostGIS is available). In the caller's transaction."""
    from .sql import meta_t, metadata

    metadata.create_all(conn)
    ensure_geometry(conn)
    _own.create_all(conn)
    conn.execute(alembic_version_t.insert().values(version_num=revision_id(SCHEMA_VERSION)))
    conn.execute(meta_t.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))


def upgrade(store: StationStore) -> Upgrade:
    """Upgrade the store's database in place to :data:`SCHEMA_VERSION`, in one
    transaction (module docstring). Also adds the geometry column to a database already
    at the newest version when PostGIS has become available since.

    Raises
    ------
    SchemaError
        No station schema, a newer schema, or a step that failed (naming it; nothing
        was changed).
    """
    t0 = time.perf_counter()
    done: list[int] = []
    start: Found | None = None
    try:
        with store._writing(lock=False) as conn:
            _lock(conn)
            start = found = read_version(conn)  # again, now that it is ours alone
            if found.version is None:
                raise SchemaError(f"database {store.display_url} has no station-locator "
                                  "schema; run `locator init` to create one")
            if found.version > SCHEMA_VERSION:
                raise _newer(found.version)
            if found.legacy:
                _own.create_all(conn)
                conn.execute(alembic_version_t.insert().values(
                    version_num=revision_id(found.version)))
            if found.version < SCHEMA_VERSION:
                _run_alembic(conn, done)
            geometry = ensure_geometry(conn)
            conn.execute(sa.text("UPDATE locator_meta SET value = :v "
                                 "WHERE key = 'schema_version'"), {"v": str(SCHEMA_VERSION)})
            stations = conn.execute(sa.text("SELECT count(*) FROM stations")).scalar_one()
            history = conn.execute(sa.text("SELECT count(*) FROM station_history")
                                   ).scalar_one()
    except SchemaError:
        raise
    except Exception as e:
        v = start.version if start is not None else None
        step = (done[-1] if done else v or 0) + 1
        reason = getattr(e, "orig", None) or e
        raise SchemaError(f"upgrading {store.display_url} from schema version {v} failed "
                          f"at the step to version {step} ({type(reason).__name__}: "
                          f"{str(reason).strip()}); nothing was changed (the upgrade is one "
                          "transaction): fix the cause and run `locator migrate` again"
                          ) from e
    store._forget_spatial()
    return Upgrade(store.display_url, store.dialect, found.version, SCHEMA_VERSION,
                   found.legacy, geometry, time.perf_counter() - t0, stations, history)


def migrate(location: str | os.PathLike | None = None) -> Upgrade:
    """``locator migrate``: open the database at ``location`` (default ``$LOCATOR_DB``)
    without upgrading it, then :func:`upgrade` it."""
    from .sql import StationStore

    store = StationStore(location, _prepare=False)
    try:
        return upgrade(store)
    finally:
        store.dispose()


def _run_alembic(conn: Connection, done: list[int]) -> None:
    """Alembic's ``upgrade head`` on ``conn``, inside its transaction; ``done`` collects
    the versions each step reached."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.attributes["connection"] = conn

    def applied(*, step: Any, **_: Any) -> None:
        done.append(int(step.up_revision_id))

    cfg.attributes["on_version_apply"] = applied
    command.upgrade(cfg, "head")


def status(store: StationStore) -> tuple[Found, GeometryStatus]:
    """The version the store's database is at, and its geometry column."""
    with store.engine.connect() as conn:
        return read_version(conn), geometry_status(conn)

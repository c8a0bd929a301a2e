"""Tables for keeping the map true: riders' reports, on-site checks with their photos,
and anonymous check-ins (see :mod:`locator.upkeep` for the rules that use them).

SQLAlchemy Core on the station store's engine (SQLite or PostgreSQL), created on first
use with ``IF NOT EXISTS`` like the account tables (:func:`ensure_schema`), so they need
no station-schema migration.

``rider_reports``
    one row per report: the station, what is wrong (``kind``, and the ``amenity`` for
    "amenity missing or broken"), an optional note and corrected position (WGS-84),
    the reporter's address only as a salted hash (``client_hash``, for the rate limit
    and de-duplication), the public reference number ``ref`` and the review state.
    A resolution names who resolved it and the station version it produced.
``station_checks``
    one row per on-site verification: who, when, where the checker stood (WGS-84, from
    the phone), how far that is from the station, whether it was too far (flagged), an
    optional photo and the station version the check produced.
``upkeep_photos``
    photos of station doors, re-encoded without metadata (no EXIF position), with their
    content type and size.
``station_checkins``
    one row per anonymous check-in: station, time, occupation category and the salted
    client hash (for the rate limit only); no name, no phone number.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import weakref

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

#: What a rider can report.
REPORT_KINDS: tuple[str, ...] = ("locked", "not_here", "wrong_hours", "amenity", "other")
#: The review states of a report: new -> under_review -> resolved | dismissed.
REPORT_STATUSES: tuple[str, ...] = ("new", "under_review", "resolved", "dismissed")
#: States in which a report still counts (toward the "reported closed" flag, the queue).
OPEN_REPORT_STATUSES: tuple[str, ...] = ("new", "under_review")
#: Occupation categories of an anonymous check-in.
OCCUPATIONS: tuple[str, ...] = ("delivery", "courier", "sanitation", "taxi", "truck", "other")

_meta = sa.MetaData()

REPORTS = sa.Table(
    "rider_reports", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ref", sa.String(16), nullable=False, unique=True),
    sa.Column("station_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("amenity", sa.String(32), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("lon", sa.Float, nullable=True),
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("client_hash", sa.String(64), nullable=False),
    sa.Column("lang", sa.String(2), nullable=False, default="zh"),
    sa.Column("status", sa.String(16), nullable=False, default="new"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("handled_by", sa.String(100), nullable=True),
    sa.Column("resolution", sa.Text, nullable=True),
    sa.Column("station_version", sa.Integer, nullable=True),
    sa.Index("rider_reports_station_status", "station_id", "status", "created_at"),
    sa.Index("rider_reports_client_at", "client_hash", "created_at"),
    sa.Index("rider_reports_status_at", "status", "created_at"),
)

PHOTOS = sa.Table(
    "upkeep_photos", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("content_type", sa.String(32), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

CHECKS = sa.Table(
    "station_checks", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station_id", sa.String(64), nullable=False, index=True),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lon", sa.Float, nullable=True),
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("accuracy_m", sa.Float, nullable=True),
    sa.Column("distance_m", sa.Float, nullable=True),
    sa.Column("flagged", sa.Boolean, nullable=False, default=False),
    sa.Column("outcome", sa.String(16), nullable=False, default="ok"),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("photo_id", sa.Integer, nullable=True),
    sa.Column("station_version", sa.Integer, nullable=True),
)

CHECKINS = sa.Table(
    "station_checkins", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station_id", sa.String(64), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("occupation", sa.String(16), nullable=False),
    sa.Column("client_hash", sa.String(64), nullable=False),
    sa.Index("station_checkins_station_at", "station_id", "at"),
    sa.Index("station_checkins_client_at", "client_hash", "at"),
)

_SALT = sa.Table(
    "upkeep_salt", _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("salt", sa.String(64), nullable=False),
)

_ready: weakref.WeakSet[Engine] = weakref.WeakSet()
_salts: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()


def create_missing(engine: Engine, meta: sa.MetaData, lock_id: int,
                   ready: weakref.WeakSet[Engine]) -> None:
    """Create ``meta``'s tables and indexes where missing, once per engine (``ready``
    remembers which): idempotent and safe to race (on PostgreSQL two processes queue on
    the advisory lock ``lock_id``; ``IF NOT EXISTS`` does the rest)."""
    if engine in ready:
        return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({int(lock_id)})"))
        for table in meta.sorted_tables:
            conn.execute(sa.schema.CreateTable(table, if_not_exists=True))
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                conn.execute(sa.schema.CreateIndex(index, if_not_exists=True))
    ready.add(engine)


def ensure_schema(engine: Engine) -> None:
    """Create the tables and indexes where missing (idempotent, safe to race)."""
    create_missing(engine, _meta, 8020514261, _ready)


def client_hash(engine: Engine, address: str) -> str:
    """The salted hash kept instead of a client's address (HMAC-SHA-256 with a random
    salt made once per database and never shown)."""
    salt = _salts.get(engine)
    if salt is None:
        ensure_schema(engine)
        with engine.begin() as conn:
            salt = _load_salt(conn)
        _salts[engine] = salt
    return hmac.new(salt, (address or "-").encode(), hashlib.sha256).hexdigest()[:32]


def _load_salt(conn: Connection) -> bytes:
    row = conn.execute(sa.select(_SALT.c.salt).where(_SALT.c.id == 1)).first()
    if row is None:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("INSERT INTO upkeep_salt (id, salt) VALUES (1, :s) "
                                 "ON CONFLICT (id) DO NOTHING"), {"s": secrets.token_hex(32)})
        else:
            conn.execute(sa.text("INSERT OR IGNORE INTO upkeep_salt (id, salt) VALUES (1, :s)"),
                         {"s": secrets.token_hex(32)})
        row = conn.execute(sa.select(_SALT.c.salt).where(_SALT.c.id == 1)).first()
    assert row is not None
    return bytes.fromhex(row[0])

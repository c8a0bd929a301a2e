"""The table of heat and cold alerts (see :mod:`locator.alerts` for the rules).

SQLAlchemy Core on the station store's engine (SQLite or PostgreSQL), created on first
use with ``IF NOT EXISTS`` like the upkeep tables (:func:`ensure_schema`), so it needs
no station-schema migration.

``weather_alerts``
    one row per alert: its kind (``heat`` or ``cold``) and level, the areas it covers
    (adcodes, comma-separated and sorted), its window (``starts_at`` to ``ends_at``,
    UTC), the message in Chinese and optionally English, who declared and last changed
    it, and, once ended early, who ended it and when (``ended_at``). ``version`` counts
    the changes (the staff form sends it back, so that two people editing one alert do
    not overwrite each other unnoticed).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .upkeep import create_missing

_meta = sa.MetaData()

ALERTS = sa.Table(
    "weather_alerts", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("level", sa.String(8), nullable=False),
    sa.Column("districts", sa.String(1000), nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("message_zh", sa.Text, nullable=False),
    sa.Column("message_en", sa.Text, nullable=True),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by", sa.String(100), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_by", sa.String(100), nullable=True),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    sa.Index("weather_alerts_ends_at", "ends_at"),
)

_ready: weakref.WeakSet[Engine] = weakref.WeakSet()


def ensure_schema(engine: Engine) -> None:
    """Create the table and its index where missing (idempotent, safe to race)."""
    create_missing(engine, _meta, 8020514262, _ready)


def utc(dt: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite gives naive UTC back)."""
    if dt is None:
        return None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def join_districts(codes: Iterable[str]) -> str:
    return ",".join(sorted(set(codes)))


def split_districts(value: str) -> tuple[str, ...]:
    return tuple(c for c in (value or "").split(",") if c)


def row_values(row: Any) -> dict[str, Any]:
    """A row as a plain dict, times in aware UTC and districts as a tuple."""
    d = dict(row._mapping)
    for k in ("starts_at", "ends_at", "created_at", "updated_at", "ended_at"):
        d[k] = utc(d[k])
    d["districts"] = split_districts(d["districts"])
    return d

"""Persistence behind one interface (SQLite by default, any SQLAlchemy URL)."""

from .sql import DEFAULT_DB, SCHEMA_VERSION, StationStore, db_url

__all__ = ["DEFAULT_DB", "SCHEMA_VERSION", "StationStore", "db_url"]

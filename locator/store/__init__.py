"""Persistence behind one interface (SQLite by default, any SQLAlchemy URL)."""

from ..settings import DEFAULT_DB
from .sql import SCHEMA_VERSION, Change, StationStore, db_url

__all__ = ["DEFAULT_DB", "SCHEMA_VERSION", "Change", "StationStore", "db_url"]

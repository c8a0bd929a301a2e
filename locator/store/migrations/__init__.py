"""Alembic migrations of the station schema (``locator migrate``; see
:mod:`locator.store.schema`). One revision per schema version: ``0001`` is the first
schema, ``0006`` today's."""

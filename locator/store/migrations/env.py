"""Alembic's entry point, run by :func:`locator.store.schema.upgrade` with the store's
own connection (already inside the write transaction that also carries the version
rows), so that the whole upgrade commits or rolls back as one.

Run migrations with ``locator migrate [--db URL]``, not with the ``alembic`` command:
the store takes its locks and carries databases of the old version scheme over first.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `locator migrate [--db URL]`: it opens the "
                       "database, takes the writers' lock and runs them in one transaction")

context.configure(
    connection=connection,
    target_metadata=None,
    # SQLite's ALTER TABLE cannot change or drop columns: such steps copy the table
    # ("batch" mode) there, and run as plain ALTERs on PostgreSQL.
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
    on_version_apply=context.config.attributes.get("on_version_apply"),
)
with context.begin_transaction():  # a no-op inside the caller's transaction
    context.run_migrations()

"""The planner's job records (table ``planner_jobs``) in the station database.

A job's record (status, result or problem) is shared by every process on the database,
so any of them can answer a poll. The table holds nothing that must survive: finished
records are pruned after ``ttl`` seconds and beyond :data:`MAX_KEPT_JOBS`. A record not
finished ``timeout`` seconds after it was created counts as abandoned.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

#: Finished jobs kept at most (the oldest go first).
MAX_KEPT_JOBS = 256

_meta = sa.MetaData()
JOBS = sa.Table(
    "planner_jobs", _meta,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("finished", sa.Float, nullable=True, index=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("result", sa.LargeBinary, nullable=True),
    sa.Column("error", sa.LargeBinary, nullable=True),
)


class JobTable:
    """Job records on ``engine`` (the table is created on first use)."""

    def __init__(self, engine: Engine, *, ttl: float, timeout: float):
        self.engine = engine
        self.ttl = ttl
        self.timeout = timeout
        self._ready = False

    def _table(self) -> None:
        if not self._ready:
            _meta.create_all(self.engine, checkfirst=True)
            self._ready = True

    def insert_if_room(self, *, job_id: str, kind: str, owner: str, at: float,
                       max_pending: int) -> int | None:
        """Prune old records, then insert a queued job unless ``max_pending`` are queued
        or running; returns None when inserted, else the number pending."""
        self._table()
        with self.engine.begin() as conn:
            self._prune(conn, at)
            pending = conn.execute(
                sa.select(sa.func.count()).select_from(JOBS).where(
                    JOBS.c.status.in_(("queued", "running")),
                    JOBS.c.created >= at - self.timeout)).scalar_one()
            if pending >= max_pending:
                return int(pending)
            conn.execute(JOBS.insert().values(id=job_id, kind=kind, status="queued",
                                              created=at, owner=owner))
        return None

    def set(self, job_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(JOBS.update().where(JOBS.c.id == job_id).values(**values))

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The raw record (None if there is none)."""
        if len(job_id) > 32 or not job_id.isprintable():
            # No such id was ever made (ids are 32 printable characters at most), and
            # PostgreSQL refuses a NUL byte outright: nothing to look up.
            return None
        self._table()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(JOBS).where(JOBS.c.id == job_id)).mappings().first()
        return None if row is None else dict(row)

    def _prune(self, conn: sa.Connection, t: float) -> None:
        conn.execute(JOBS.delete().where(JOBS.c.finished < t - self.ttl))
        conn.execute(JOBS.delete().where(JOBS.c.status.in_(("queued", "running")),
                                         JOBS.c.created < t - 2 * self.timeout))
        keep = sa.select(JOBS.c.id).where(JOBS.c.finished.is_not(None)).order_by(
            JOBS.c.finished.desc()).limit(MAX_KEPT_JOBS).scalar_subquery()
        conn.execute(JOBS.delete().where(JOBS.c.finished.is_not(None), JOBS.c.id.not_in(keep)))

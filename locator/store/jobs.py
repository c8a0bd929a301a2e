"""The planner's job records (table ``planner_jobs``) in the station database.

A job's record (status, result or problem) is shared by every process on the database,
so any of them can answer a poll. The table holds nothing that must survive: finished
records are pruned after ``ttl`` seconds and beyond :data:`MAX_KEPT_JOBS`. A record not
finished ``timeout`` seconds after it was created counts as abandoned, and so does one
whose process stopped giving signs of life: the process that runs a job writes the time
into its records' ``beat`` every :data:`BEAT_EVERY_S` seconds, and a queued or running
record whose beat (or, before the first, its creation) is older than ``stale_after``
(default :data:`STALE_AFTER_S`) belongs to a process that died (killed, out of memory,
its host gone). Such a record no longer counts against the queue limit and gives its
run key up, so that the next request for the same run computes it again instead of
waiting for the timeout.

Shared runs
-----------
A job may carry a ``run_key``: a digest of everything its answer depends on (see
:mod:`locator.web.planner.share`). The column is unique, so that at most one record
claims a run: :meth:`JobTable.claim` answers the finished record of the same run (the
result is reused), or the one still queued or running (the caller waits for it instead
of computing it a second time), or inserts a new one. Two processes claiming the same
run at once cannot both insert it: the loser's insert breaks the unique index, and it
reads the winner's record instead. A failed, abandoned or expired record gives its key
up (``run_key`` set to NULL: it stays readable by id) to the record that runs it again.

Upgrading in place
------------------
The table is created here (``IF NOT EXISTS``), not by the station schema's migrations,
because it holds only short-lived records. A table made before ``run_key`` existed gets
the column and its unique index on first use (``ALTER TABLE ... ADD COLUMN``, then
``CREATE UNIQUE INDEX IF NOT EXISTS``); its old records keep a NULL key and are never
reused. Several processes upgrading at once is harmless (the loser's ``ADD COLUMN``
fails as a duplicate, and it checks again).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

#: Finished jobs kept at most (the oldest go first).
MAX_KEPT_JOBS = 256
#: Length of a run key (a SHA-256 digest in hex).
RUN_KEY_LENGTH = 64
#: How often a process marks its unfinished jobs alive (seconds).
BEAT_EVERY_S = 5.0
#: An unfinished job without a sign of life for this long is abandoned (seconds).
STALE_AFTER_S = 30.0

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
    sa.Column("run_key", sa.String(RUN_KEY_LENGTH), nullable=True),
    #: The owner's last sign of life (epoch seconds; NULL before the first).
    sa.Column("beat", sa.Float, nullable=True),
)
RUN_KEY_INDEX = sa.Index("ix_planner_jobs_run_key", JOBS.c.run_key, unique=True)
#: The database's key for results only the app's processes read (one row, made once).
KEYS = sa.Table(
    "planner_keys", _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(64), nullable=False),
)


@dataclass(frozen=True)
class Claim:
    """What :meth:`JobTable.claim` found or did.

    ``outcome`` is ``"new"`` (the record was inserted: the caller runs the job),
    ``"done"`` (a finished record of the same run: ``row``), ``"pending"`` (a record of
    the same run queued or running: ``row``) or ``"full"`` (nothing inserted:
    ``pending`` jobs are queued or running).
    """

    outcome: Literal["new", "done", "pending", "full"]
    row: dict[str, Any] | None = None
    pending: int = 0


class JobTable:
    """Job records on ``engine`` (the table is created, or upgraded, on first use)."""

    def __init__(self, engine: Engine, *, ttl: float, timeout: float,
                 stale_after: float = STALE_AFTER_S):
        self.engine = engine
        self.ttl = ttl
        self.timeout = timeout
        self.stale_after = stale_after
        self._ready = False
        self._seal_key: bytes | None = None

    def seal_key(self) -> bytes:
        """A random key made once per database and kept in ``planner_keys``: every
        process on the database reads the same one (the planner page signs its stored
        runs with it). Two processes making it at once keep the first one stored."""
        if self._seal_key is None:
            self._table()
            with self.engine.begin() as conn:
                row = conn.execute(sa.select(KEYS.c.key).where(KEYS.c.id == 1)).first()
                if row is None:
                    new = secrets.token_hex(32)
                    if conn.dialect.name == "postgresql":
                        conn.execute(sa.text("INSERT INTO planner_keys (id, key) VALUES "
                                             "(1, :k) ON CONFLICT (id) DO NOTHING"), {"k": new})
                    else:
                        conn.execute(sa.text("INSERT OR IGNORE INTO planner_keys (id, key) "
                                             "VALUES (1, :k)"), {"k": new})
                    row = conn.execute(sa.select(KEYS.c.key).where(KEYS.c.id == 1)).first()
            assert row is not None
            self._seal_key = bytes.fromhex(row[0])
        return self._seal_key

    def _table(self) -> None:
        if not self._ready:
            _meta.create_all(self.engine, checkfirst=True)
            _upgrade(self.engine)
            self._ready = True

    def insert_if_room(self, *, job_id: str, kind: str, owner: str, at: float,
                       max_pending: int) -> int | None:
        """Prune old records, then insert a queued job unless ``max_pending`` are queued
        or running; returns None when inserted, else the number pending."""
        claim = self.claim(job_id=job_id, kind=kind, owner=owner, at=at,
                           max_pending=max_pending, run_key=None)
        return None if claim.outcome == "new" else claim.pending

    def claim(self, *, job_id: str, kind: str, owner: str, at: float, max_pending: int,
              run_key: str | None) -> Claim:
        """In one transaction: prune old records; with ``run_key``, answer the live
        record of that run if there is one; else insert a queued job (``run_key`` its
        key) unless ``max_pending`` are queued or running (see :class:`Claim`)."""
        self._table()
        for attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    return self._claim(conn, job_id=job_id, kind=kind, owner=owner, at=at,
                                       max_pending=max_pending, run_key=run_key)
            except sa.exc.IntegrityError:
                # Another process inserted the same run between our look-up and our
                # insert (PostgreSQL; SQLite serialises the whole transaction): look again.
                if run_key is None or attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _claim(self, conn: sa.Connection, *, job_id: str, kind: str, owner: str, at: float,
               max_pending: int, run_key: str | None) -> Claim:
        # The prune comes first: on SQLite its DELETE takes the write lock at once, so
        # that the look-up, the count and the insert below see no other writer.
        self._prune(conn, at)
        if run_key is not None:
            row = conn.execute(sa.select(JOBS).where(JOBS.c.run_key == run_key)
                               ).mappings().first()
            if row is not None:
                live = self._live(row, at)
                if live is not None:
                    return Claim(live, dict(row))
                # Failed, abandoned or expired: readable by id still, but no longer the
                # record of this run.
                conn.execute(JOBS.update().where(JOBS.c.id == row["id"]).values(run_key=None))
        pending = conn.execute(
            sa.select(sa.func.count()).select_from(JOBS).where(
                JOBS.c.status.in_(("queued", "running")),
                JOBS.c.created >= at - self.timeout,
                sa.func.coalesce(JOBS.c.beat, JOBS.c.created) >= at - self.stale_after)
        ).scalar_one()
        if pending >= max_pending:
            return Claim("full", pending=int(pending))
        conn.execute(JOBS.insert().values(id=job_id, kind=kind, status="queued", created=at,
                                          owner=owner, run_key=run_key, beat=at))
        return Claim("new", pending=int(pending))

    def _live(self, row: Any, at: float) -> Literal["done", "pending"] | None:
        if row["status"] == "done" and row["result"] is not None \
                and row["finished"] is not None and row["finished"] >= at - self.ttl:
            return "done"
        if row["status"] in ("queued", "running") and not self.abandoned(row, at):
            return "pending"
        return None

    def abandoned(self, row: Any, at: float) -> str | None:
        """Why an unfinished record counts as abandoned at ``at`` ("timeout": not
        finished within ``timeout``; "stale": its process gave no sign of life for
        ``stale_after``), or None."""
        if row["status"] not in ("queued", "running"):
            return None
        if row["created"] < at - self.timeout:
            return "timeout"
        beat = row.get("beat")
        if (beat if beat is not None else row["created"]) < at - self.stale_after:
            return "stale"
        return None

    def beat(self, owner: str, at: float) -> int:
        """Mark ``owner``'s unfinished records alive; how many there were."""
        self._table()
        with self.engine.begin() as conn:
            return int(conn.execute(JOBS.update().where(
                JOBS.c.owner == owner, JOBS.c.status.in_(("queued", "running"))
            ).values(beat=at)).rowcount or 0)

    def set(self, job_id: str, **values: Any) -> None:
        """Update a record in one transaction (a result is stored whole or not at all)."""
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

    def count(self, *, kind: str | None = None) -> int:
        """How many records there are (of ``kind``): runs started, for tests and checks."""
        self._table()
        q = sa.select(sa.func.count()).select_from(JOBS)
        if kind is not None:
            q = q.where(JOBS.c.kind == kind)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def _prune(self, conn: sa.Connection, t: float) -> None:
        conn.execute(JOBS.delete().where(JOBS.c.finished < t - self.ttl))
        conn.execute(JOBS.delete().where(JOBS.c.status.in_(("queued", "running")),
                                         JOBS.c.created < t - 2 * self.timeout))
        keep = sa.select(JOBS.c.id).where(JOBS.c.finished.is_not(None)).order_by(
            JOBS.c.finished.desc()).limit(MAX_KEPT_JOBS).scalar_subquery()
        conn.execute(JOBS.delete().where(JOBS.c.finished.is_not(None), JOBS.c.id.not_in(keep)))


def _upgrade(engine: Engine) -> None:
    """Add the columns a ``planner_jobs`` made before them lacks (``run_key`` and its
    unique index, ``beat``)."""
    for name, ddl in (("run_key", f"VARCHAR({RUN_KEY_LENGTH})"), ("beat", "FLOAT")):
        columns = {c["name"] for c in sa.inspect(engine).get_columns(JOBS.name)}
        if name in columns:
            continue
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(f"ALTER TABLE {JOBS.name} ADD COLUMN {name} {ddl}"))
        except sa.exc.DBAPIError:
            # Another process added it first (a duplicate column): fine if it is there.
            columns = {c["name"] for c in sa.inspect(engine).get_columns(JOBS.name)}
            if name not in columns:
                raise
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE UNIQUE INDEX IF NOT EXISTS {RUN_KEY_INDEX.name} "
                                 f"ON {JOBS.name} (run_key)"))
    except sa.exc.DBAPIError:
        # PostgreSQL: another process's CREATE INDEX committed first (IF NOT EXISTS does
        # not cover a race); fine if the index is there now.
        names = {i["name"] for i in sa.inspect(engine).get_indexes(JOBS.name)}
        if RUN_KEY_INDEX.name not in names:
            raise

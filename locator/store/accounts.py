"""Persistence of staff accounts, API tokens, login sessions and the audit log.

SQLAlchemy Core on the station store's engine (SQLite or PostgreSQL). The tables are
created on first use (``IF NOT EXISTS``, and on PostgreSQL under an advisory lock, so
that several processes starting at once do not trip over each other):

``staff_users``
    one row per person (no shared or default accounts: the tables start empty).
``staff_api_tokens``
    the SHA-256 of each token (tokens are 32 random bytes, so a fast hash is right;
    the plaintext is shown once and never stored).
``staff_sessions``
    the SHA-256 of each session cookie, its CSRF token, and when it was last used.
``audit_log``
    who did what, when, from where, to what, and with which result.

The audit log is append-only. No code path updates or deletes a row, and the database
refuses it too: triggers abort every ``UPDATE`` and ``DELETE`` (and, on PostgreSQL,
``TRUNCATE``). Nothing prunes it, so rows are kept for as long as the database is: at
least the 180 days that 等保 2.0 and the Cybersecurity Law (§21) ask. A deployment that
wants the database itself to guard against its owner should also run the app as a role
with only ``SELECT, INSERT`` on ``audit_log`` (``REVOKE UPDATE, DELETE, TRUNCATE ON
audit_log FROM app``), since the table's owner could drop a trigger.

Write transactions here start with their write (never read-then-write), so that on
SQLite they take the write lock at once and wait for it rather than fail.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, overload

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

RESULTS = ("ok", "denied", "failed")

_meta = sa.MetaData()

USERS = sa.Table(
    "staff_users", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(100), nullable=False, default=""),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("scope", sa.String(6), nullable=False, default=""),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
)

TOKENS = sa.Table(
    "staff_api_tokens", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("staff_users.id"), nullable=False,
              index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("label", sa.String(100), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)

SESSIONS = sa.Table(
    "staff_sessions", _meta,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("staff_users.id"), nullable=False,
              index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("client", sa.String(64), nullable=True),
)

AUDIT = sa.Table(
    "audit_log", _meta,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("client", sa.String(64), nullable=True),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("target", sa.String(200), nullable=False, default=""),
    sa.Column("result", sa.String(10), nullable=False),
    sa.Column("detail", sa.Text, nullable=True),
    sa.CheckConstraint("result IN ('ok', 'denied', 'failed')", name="audit_log_result"),
    # The lockout counts recent failed logins per account and per client address.
    sa.Index("audit_log_action_target_at", "action", "target", "at"),
    sa.Index("audit_log_action_client_at", "action", "client", "at"),
    sa.Index("audit_log_actor_at", "actor", "at"),
)

_SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS audit_log_no_{op.lower()} BEFORE {op} ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: {op} refused'); END"
    for op in ("UPDATE", "DELETE")
]
_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END
$$
"""
_PG_TRIGGERS = {
    "audit_log_no_change": "BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW",
    "audit_log_no_truncate": "BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT",
}
#: Any constant: the key of the advisory lock taken while creating the tables.
_PG_LOCK_KEY = 8_020_514_260

_ready: weakref.WeakSet[Engine] = weakref.WeakSet()


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@overload
def _utc(dt: datetime) -> datetime: ...
@overload
def _utc(dt: None) -> None: ...
def _utc(dt: datetime | None) -> datetime | None:
    """Aware UTC (SQLite hands back naive UTC)."""
    if dt is None:
        return None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(
        timezone.utc)


def ensure_schema(bind: Connection | Engine) -> None:
    """Create the account and audit tables, indexes and triggers where missing.

    With a :class:`Connection`, inside its transaction (so that a caller's first audit
    row can be written in the same transaction as its own change).
    """
    engine = bind.engine
    if engine in _ready:
        return
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            _create(conn)
        _ready.add(engine)
    elif _complete(bind):
        _ready.add(engine)
    else:
        _create(bind)  # not remembered: the caller's transaction may yet roll back


def _complete(conn: Connection) -> bool:
    names = set(sa.inspect(conn).get_table_names())
    return all(t.name in names for t in _meta.sorted_tables)


def _create(conn: Connection) -> None:
    pg = conn.dialect.name == "postgresql"
    if pg:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    for table in _meta.sorted_tables:
        conn.execute(sa.schema.CreateTable(table, if_not_exists=True))
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            conn.execute(sa.schema.CreateIndex(index, if_not_exists=True))
    if pg:
        conn.execute(sa.text(_PG_FUNCTION))
        for name, when in _PG_TRIGGERS.items():
            exists = conn.execute(sa.text(
                "SELECT 1 FROM pg_trigger WHERE tgname = :n AND tgrelid = 'audit_log'::regclass"
            ), {"n": name}).first()
            if not exists:
                conn.execute(sa.text(f"CREATE TRIGGER {name} {when} "
                                     "EXECUTE FUNCTION audit_log_append_only()"))
    elif conn.dialect.name == "sqlite":
        for ddl in _SQLITE_TRIGGERS:
            conn.exec_driver_sql(ddl)


# ------------------------------------------------------------------------ records


@dataclass(frozen=True)
class User:
    """A staff account (without its password hash)."""

    id: int
    name: str
    display_name: str
    role: str
    scope: str  # "" = national, else a six-digit adcode
    disabled: bool
    created_at: datetime
    changed_at: datetime
    password_changed_at: datetime

    @property
    def actor(self) -> str:
        """How this account appears in the audit log and the station history."""
        return self.name


@dataclass(frozen=True)
class Token:
    """An API token's record (never its plaintext)."""

    id: int
    user_id: int
    user_name: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class Session:
    """A login session, with its account as of the last look-up."""

    id_hash: str
    user: User
    created_at: datetime
    last_seen: datetime
    csrf_token: str
    client: str | None


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: datetime
    actor: str
    client: str | None
    action: str
    target: str
    result: str
    detail: dict[str, Any] | None


def _user(row: Any) -> User:
    return User(id=row.id, name=row.name, display_name=row.display_name, role=row.role,
                scope=row.scope, disabled=bool(row.disabled), created_at=_utc(row.created_at),
                changed_at=_utc(row.changed_at),
                password_changed_at=_utc(row.password_changed_at))


def _event(row: Any) -> AuditEvent:
    return AuditEvent(id=row.id, at=_utc(row.at), actor=row.actor, client=row.client,
                      action=row.action, target=row.target, result=row.result,
                      detail=json.loads(row.detail) if row.detail else None)


_USER_COLS = [c for c in USERS.c if c.name != "password_hash"]


# ------------------------------------------------------------------------ audit rows


def insert_audit(conn: Connection, *, at: datetime, actor: str, action: str, target: str,
                 result: str, client: str | None = None,
                 detail: dict[str, Any] | None = None) -> int:
    """Append one audit row in ``conn``'s transaction; returns its id."""
    if result not in RESULTS:
        raise ValueError(f"audit result {result!r} is not one of {', '.join(RESULTS)}")
    if not action or len(action) > 40:
        raise ValueError("audit action must be 1 to 40 characters")
    ensure_schema(conn)
    row = conn.execute(AUDIT.insert().values(
        at=_utc(at), actor=_clip(actor or "?", 100), client=_clip(client, 64), action=action,
        target=_clip(target or "", 200), result=result,
        detail=None if detail is None else json.dumps(detail, ensure_ascii=False,
                                                      sort_keys=True, default=str),
    ).returning(AUDIT.c.id))
    return int(row.scalar_one())


def _clip(text: str | None, n: int) -> str | None:
    if text is None:
        return None
    clean = "".join(c if c.isprintable() else "?" for c in str(text))
    return clean[:n]


def _audit_filter(q: sa.Select, *, actor: str | None, action: str | None,
                  target: str | None, result: str | None, since: datetime | None,
                  until: datetime | None) -> sa.Select:
    if actor:
        q = q.where(AUDIT.c.actor == actor)
    if action:
        if action.endswith("*"):
            q = q.where(AUDIT.c.action.startswith(action[:-1], autoescape=True))
        else:
            q = q.where(AUDIT.c.action == action)
    if target:
        q = q.where(AUDIT.c.target == target)
    if result:
        q = q.where(AUDIT.c.result == result)
    if since is not None:
        q = q.where(AUDIT.c.at >= _utc(since))
    if until is not None:
        q = q.where(AUDIT.c.at < _utc(until))
    return q


class AccountStore:
    """Rows of the account and audit tables, on ``engine`` (created on first use).

    Higher-level rules (passwords, rights, lockout, what to audit) live in
    :class:`locator.staff.AccountService`; this class only reads and writes.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self._ready = False

    def _schema(self) -> None:
        if not self._ready:
            ensure_schema(self.engine)
            self._ready = True

    def begin(self):
        """A write transaction (``with store.begin() as conn``)."""
        self._schema()
        return self.engine.begin()

    def connect(self):
        self._schema()
        return self.engine.connect()

    # ------------------------------------------------------------------ users
    def insert_user(self, conn: Connection, *, name: str, display_name: str, role: str,
                    scope: str, password_hash: str, at: datetime) -> User:
        """Insert a user; raises SQLAlchemy's ``IntegrityError`` if the name is taken."""
        uid = conn.execute(USERS.insert().values(
            name=name, display_name=display_name, role=role, scope=scope,
            password_hash=password_hash, disabled=False, created_at=at, changed_at=at,
            password_changed_at=at).returning(USERS.c.id)).scalar_one()
        user = self.user_by_id(conn, uid)
        assert user is not None
        return user

    @staticmethod
    def update_user(conn: Connection, name: str, **values: Any) -> bool:
        """Set columns of user ``name``; False when there is no such user."""
        res = conn.execute(USERS.update().where(USERS.c.name == name).values(**values))
        return res.rowcount > 0

    @staticmethod
    def user_by_name(conn: Connection, name: str) -> User | None:
        row = conn.execute(sa.select(*_USER_COLS).where(USERS.c.name == name)).first()
        return None if row is None else _user(row)

    @staticmethod
    def user_by_id(conn: Connection, uid: int) -> User | None:
        row = conn.execute(sa.select(*_USER_COLS).where(USERS.c.id == uid)).first()
        return None if row is None else _user(row)

    @staticmethod
    def credentials(conn: Connection, name: str) -> tuple[User, str] | None:
        """The user ``name`` and its password hash."""
        row = conn.execute(sa.select(USERS).where(USERS.c.name == name)).first()
        return None if row is None else (_user(row), row.password_hash)

    def users(self) -> list[User]:
        with self.connect() as conn:
            return [_user(r) for r in conn.execute(
                sa.select(*_USER_COLS).order_by(USERS.c.name))]

    # ------------------------------------------------------------------ tokens
    @staticmethod
    def insert_token(conn: Connection, *, user_id: int, token_hash: str, label: str,
                     at: datetime) -> int:
        return int(conn.execute(TOKENS.insert().values(
            user_id=user_id, token_hash=token_hash, label=label, created_at=at
        ).returning(TOKENS.c.id)).scalar_one())

    @staticmethod
    def _token_query() -> sa.Select:
        return sa.select(TOKENS, USERS.c.name.label("user_name")).join(
            USERS, USERS.c.id == TOKENS.c.user_id)

    @classmethod
    def token(cls, conn: Connection, token_id: int) -> Token | None:
        row = conn.execute(cls._token_query().where(TOKENS.c.id == token_id)).first()
        return None if row is None else _token(row)

    def tokens(self, user_name: str | None = None) -> list[Token]:
        q = self._token_query().order_by(TOKENS.c.id)
        if user_name is not None:
            q = q.where(USERS.c.name == user_name)
        with self.connect() as conn:
            return [_token(r) for r in conn.execute(q)]

    def token_owner(self, token_hash: str) -> tuple[Token, User] | None:
        """The token with this hash and its user (revoked or not)."""
        q = sa.select(TOKENS.c.id.label("token_id"), TOKENS.c.label,
                      TOKENS.c.created_at.label("token_created"), TOKENS.c.last_used_at,
                      TOKENS.c.revoked_at, *_USER_COLS).join(
            USERS, USERS.c.id == TOKENS.c.user_id).where(TOKENS.c.token_hash == token_hash)
        with self.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        user = _user(row)
        return Token(id=row.token_id, user_id=user.id, user_name=user.name, label=row.label,
                     created_at=_utc(row.token_created), last_used_at=_utc(row.last_used_at),
                     revoked_at=_utc(row.revoked_at)), user

    def mark_token_used(self, token_id: int, at: datetime, *, not_since: datetime) -> None:
        """Set ``last_used_at`` unless it is already later than ``not_since``."""
        with self.begin() as conn:
            conn.execute(TOKENS.update().where(
                TOKENS.c.id == token_id,
                sa.or_(TOKENS.c.last_used_at.is_(None), TOKENS.c.last_used_at < not_since)
            ).values(last_used_at=at))

    @staticmethod
    def revoke_token(conn: Connection, token_id: int, at: datetime) -> bool:
        """Mark a token revoked; False if it does not exist or was already revoked."""
        res = conn.execute(TOKENS.update().where(TOKENS.c.id == token_id,
                                                 TOKENS.c.revoked_at.is_(None)
                                                 ).values(revoked_at=at))
        return res.rowcount > 0

    # ------------------------------------------------------------------ sessions
    @staticmethod
    def insert_session(conn: Connection, *, id_hash: str, user_id: int, at: datetime,
                       csrf_token: str, client: str | None) -> None:
        conn.execute(SESSIONS.insert().values(id_hash=id_hash, user_id=user_id, created_at=at,
                                              last_seen=at, csrf_token=csrf_token,
                                              client=_clip(client, 64)))

    def session(self, id_hash: str) -> Session | None:
        q = sa.select(SESSIONS.c.id_hash, SESSIONS.c.created_at.label("s_created"),
                      SESSIONS.c.last_seen, SESSIONS.c.csrf_token, SESSIONS.c.client,
                      *_USER_COLS).join(USERS, USERS.c.id == SESSIONS.c.user_id).where(
            SESSIONS.c.id_hash == id_hash)
        with self.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        return Session(id_hash=row.id_hash, user=_user(row), created_at=_utc(row.s_created),
                       last_seen=_utc(row.last_seen), csrf_token=row.csrf_token,
                       client=row.client)

    def touch_session(self, id_hash: str, at: datetime) -> None:
        with self.begin() as conn:
            conn.execute(SESSIONS.update().where(SESSIONS.c.id_hash == id_hash)
                         .values(last_seen=at))

    @staticmethod
    def delete_session(conn: Connection, id_hash: str) -> bool:
        return conn.execute(SESSIONS.delete().where(SESSIONS.c.id_hash == id_hash)
                            ).rowcount > 0

    @staticmethod
    def delete_sessions_of(conn: Connection, user_id: int) -> int:
        return conn.execute(SESSIONS.delete().where(SESSIONS.c.user_id == user_id)).rowcount

    @staticmethod
    def delete_sessions_idle_since(conn: Connection, before: datetime) -> int:
        """Remove sessions last seen before ``before`` (expired; housekeeping)."""
        return conn.execute(SESSIONS.delete().where(SESSIONS.c.last_seen < before)).rowcount

    # ------------------------------------------------------------------ audit
    def recent_login_times(self, *, target: str | None = None, client: str | None = None,
                           result: str, since: datetime, limit: int = 1000
                           ) -> list[datetime]:
        """Times of ``login`` rows with ``result`` for an account (``target``) or a client
        address since ``since``, newest first (served by the (action, target|client, at)
        indexes)."""
        q = sa.select(AUDIT.c.at).where(AUDIT.c.action == "login", AUDIT.c.result == result,
                                        AUDIT.c.at >= _utc(since))
        if target is not None:
            q = q.where(AUDIT.c.target == target)
        if client is not None:
            q = q.where(AUDIT.c.client == client)
        with self.connect() as conn:
            return [_utc(r[0]) for r in conn.execute(q.order_by(AUDIT.c.at.desc())
                                                     .limit(limit))]

    def audit_events(self, *, actor: str | None = None, action: str | None = None,
                     target: str | None = None, result: str | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     limit: int = 100, offset: int = 0) -> list[AuditEvent]:
        """Audit rows matching the filters, newest first (``action`` ending in ``*`` is a
        prefix)."""
        q = _audit_filter(sa.select(AUDIT), actor=actor, action=action, target=target,
                          result=result, since=since, until=until)
        q = q.order_by(AUDIT.c.id.desc()).limit(max(0, int(limit))).offset(max(0, int(offset)))
        with self.connect() as conn:
            return [_event(r) for r in conn.execute(q)]

    def count_audit_events(self, **filters: Any) -> int:
        q = _audit_filter(sa.select(sa.func.count()).select_from(AUDIT),
                          **{k: filters.get(k) for k in ("actor", "action", "target",
                                                          "result", "since", "until")})
        with self.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def iter_audit_events(self, *, batch: int = 1000, **filters: Any) -> Iterator[AuditEvent]:
        """All matching rows, oldest first, read in batches (for exports)."""
        last = 0
        while True:
            q = _audit_filter(sa.select(AUDIT), **{k: filters.get(k) for k in (
                "actor", "action", "target", "result", "since", "until")})
            q = q.where(AUDIT.c.id > last).order_by(AUDIT.c.id).limit(batch)
            with self.connect() as conn:
                rows = [_event(r) for r in conn.execute(q)]
            yield from rows
            if len(rows) < batch:
                return
            last = rows[-1].id


def _token(row: Any) -> Token:
    return Token(id=row.id, user_id=row.user_id, user_name=row.user_name, label=row.label,
                 created_at=_utc(row.created_at), last_used_at=_utc(row.last_used_at),
                 revoked_at=_utc(row.revoked_at))

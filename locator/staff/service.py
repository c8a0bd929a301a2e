"""The staff accounts core: users, logins with lockout, sessions, API tokens, audit.

:class:`AccountService` is what the CLI and the web layer call. It holds no Flask and
no process state that matters: lockout counts come from the audit log itself, so they
hold across processes and servers sharing the database.

Every method that changes something takes either ``by`` (the logged-in :class:`User`
acting; its rights are checked and a refusal is audited as ``denied``) or ``actor`` (a
trusted caller's name, such as ``cli:alice``; nothing is checked).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine

from ..errors import Conflict, NotFound
from ..store.accounts import AccountStore, AuditEvent, Session, Token, User, insert_audit, utc_now
from . import audit
from .errors import Forbidden, StaffInvalid, TooManyAttempts, Unauthorized
from .passwords import MAX_LENGTH, check_password, dummy_verify, hash_password, verify_password
from .roles import can, check_role, normalize_scope, require

#: Plaintext API tokens start with this (so that leaked ones are easy to recognise).
TOKEN_PREFIX = "slt_"
_TOKEN_BYTES = 32
_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{1,63}")


@dataclass(frozen=True)
class LockoutPolicy:
    """Failed logins allowed within a window, per account and per client address, and
    how long logins are then refused (seconds)."""

    account_failures: int = 5
    account_window: float = 900.0
    account_lock: float = 900.0
    client_failures: int = 20
    client_window: float = 900.0
    client_lock: float = 900.0


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``token`` is the plaintext, shown once and never stored."""

    id: int
    token: str
    label: str
    user_name: str


@dataclass(frozen=True)
class NewSession:
    """A session just made: ``cookie`` is the value for the session cookie (only its
    hash is stored); ``session.csrf_token`` goes into the pages' forms."""

    cookie: str
    session: Session


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_name(name: str) -> str:
    """An account name lower-cased, or :class:`StaffInvalid` saying what is allowed."""
    n = (name or "").strip().lower()
    if not _NAME.fullmatch(n):
        raise StaffInvalid(
            f"账号名 {name!r} 无效：2 到 64 个字符，只用小写字母、数字和 . _ @ -，"
            "以字母或数字开头", f"account name {name!r} is not valid: 2 to 64 characters, "
            "lower-case letters, digits and . _ @ - only, starting with a letter or digit",
            field="name")
    return n


def _check_display(display: str) -> str:
    d = (display or "").strip()
    if len(d) > 100 or any(not c.isprintable() for c in d):
        raise StaffInvalid("显示名最多 100 个字符，不能含控制字符",
                           "the display name may have at most 100 characters and no "
                           "control characters", field="display_name")
    return d


def _no_user(name: str) -> NotFound:
    return NotFound(f"账号 {name!r} 不存在 / there is no account {name!r}")


class AccountService:
    """Accounts, logins, sessions, tokens and the audit log on ``engine``'s database.

    Parameters
    ----------
    engine
        The station store's engine (``StationStore(...).engine``); the account tables are
        created in it on first use.
    clock
        Returns the current time (aware, UTC); tests pass their own.
    hasher
        argon2 :class:`~argon2.PasswordHasher` (default: argon2-cffi's defaults). Hashes
        made with other parameters are replaced at the next successful login.
    lockout
        Failed-login limits (:class:`LockoutPolicy`).
    session_idle_seconds, session_max_seconds
        A session unused this long, or this old, is refused (and removed).
    session_touch_seconds, token_touch_seconds
        ``last_seen`` / ``last_used_at`` are written at most this often.
    password_max_age_days
        After this, :meth:`password_change_due` is true (the web layer asks for a new one).
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None,
                 hasher: PasswordHasher | None = None, lockout: LockoutPolicy | None = None,
                 session_idle_seconds: float = 1800.0, session_max_seconds: float = 43200.0,
                 session_touch_seconds: float = 60.0, token_touch_seconds: float = 60.0,
                 password_max_age_days: float = 90.0):
        self.store = AccountStore(engine)
        self.engine = engine
        self.clock = clock or utc_now
        self.hasher = hasher
        self.lockout = lockout or LockoutPolicy()
        self.session_idle = timedelta(seconds=session_idle_seconds)
        self.session_max = timedelta(seconds=session_max_seconds)
        self.session_touch = timedelta(seconds=session_touch_seconds)
        self.token_touch = timedelta(seconds=token_touch_seconds)
        self.password_max_age = timedelta(days=password_max_age_days)

    # ------------------------------------------------------------------ helpers
    def _audit(self, conn: Any, *, actor: str, action: str, target: str, result: str,
               client: str | None, detail: dict[str, Any] | None = None) -> None:
        insert_audit(conn, at=self.clock(), actor=actor, action=action, target=target,
                     result=result, client=client, detail=detail)

    def _audit_alone(self, **kw: Any) -> None:
        with self.store.begin() as conn:
            self._audit(conn, **kw)

    def _who(self, by: User | None, actor: str | None) -> str:
        if (by is None) == (actor is None):
            raise TypeError("give exactly one of by= (a logged-in user) or actor= (a name)")
        return by.name if by is not None else str(actor)

    def _require(self, by: User | None, right: str, adcode: str | None, *, action: str,
                 target: str, client: str | None) -> None:
        """Check ``by``'s right (nothing to check for trusted callers); audit a refusal."""
        if by is None or can(by, right, adcode):
            return
        try:
            require(by, right, adcode)
        except Forbidden as e:
            self._audit_alone(actor=by.name, action=action, target=target, result="denied",
                              client=client, detail={"right": right, "reason": e.en})
            raise

    def user(self, name: str) -> User:
        """The account ``name`` (:class:`~locator.errors.NotFound` if none)."""
        with self.store.connect() as conn:
            u = self.store.user_by_name(conn, (name or "").strip().lower())
        if u is None:
            raise _no_user(name)
        return u

    def users(self) -> list[User]:
        return self.store.users()

    def password_change_due(self, user: User) -> bool:
        """Whether the password is older than ``password_max_age_days``."""
        return self.clock() - user.password_changed_at > self.password_max_age

    # ------------------------------------------------------------------ user admin
    def add_user(self, name: str, password: str, *, role: str, scope: str | None = "",
                 display_name: str = "", by: User | None = None, actor: str | None = None,
                 client: str | None = None) -> User:
        """Create an account (the password checked by :func:`check_password`)."""
        who = self._who(by, actor)
        n, r, s = check_name(name), check_role(role), normalize_scope(scope)
        display = _check_display(display_name)
        self._require(by, "user.manage", s, action="user.create", target=f"user:{n}",
                      client=client)
        check_password(password, name=n)
        h = hash_password(password, hasher=self.hasher)
        now = self.clock()
        try:
            with self.store.begin() as conn:
                user = self.store.insert_user(conn, name=n, display_name=display, role=r,
                                              scope=s, password_hash=h, at=now)
                self._audit(conn, actor=who, action="user.create", target=f"user:{n}",
                            result="ok", client=client, detail={"role": r, "scope": s})
        except sa.exc.IntegrityError:
            raise Conflict(f"账号 {n!r} 已存在 / the account {n!r} already exists") from None
        assert user is not None
        return user

    def _change(self, name: str, action: str, values: dict[str, Any], *, by: User | None,
                actor: str | None, client: str | None, detail: dict[str, Any] | None = None,
                end_sessions: bool = False, new_scope: str | None = None) -> User:
        """Update user ``name``, end its sessions if asked, and audit, in one transaction."""
        who = self._who(by, actor)
        target = self.user(name)
        tgt = f"user:{target.name}"
        self._require(by, "user.manage", target.scope, action=action, target=tgt,
                      client=client)
        if new_scope is not None:
            self._require(by, "user.manage", new_scope, action=action, target=tgt,
                          client=client)
        if by is not None and by.id == target.id and action in ("user.disable", "user.role"):
            self._audit_alone(actor=who, action=action, target=tgt, result="denied",
                              client=client, detail={"reason": "own account"})
            raise Forbidden("不能停用自己的账号或修改自己的角色",
                            "you cannot disable your own account or change your own role",
                            right="user.manage", scope=by.scope)
        now = self.clock()
        with self.store.begin() as conn:
            if not self.store.update_user(conn, target.name, changed_at=now, **values):
                raise _no_user(name)
            ended = self.store.delete_sessions_of(conn, target.id) if end_sessions else 0
            d = dict(detail or {})
            if end_sessions:
                d["sessions_ended"] = ended
            self._audit(conn, actor=who, action=action, target=tgt, result="ok",
                        client=client, detail=d or None)
            user = self.store.user_by_id(conn, target.id)
        assert user is not None
        return user

    def set_role(self, name: str, *, role: str, scope: str | None = None,
                 by: User | None = None, actor: str | None = None,
                 client: str | None = None) -> User:
        """Change an account's role (and scope, when given)."""
        r = check_role(role)
        values: dict[str, Any] = {"role": r}
        old = self.user(name)
        detail: dict[str, Any] = {"role": [old.role, r]}
        s = None
        if scope is not None:
            s = normalize_scope(scope)
            values["scope"] = s
            detail["scope"] = [old.scope, s]
        return self._change(name, "user.role", values, by=by, actor=actor, client=client,
                            detail=detail, new_scope=s)

    def disable(self, name: str, *, by: User | None = None, actor: str | None = None,
                client: str | None = None) -> User:
        """Disable an account and end its sessions (its tokens stop working too)."""
        return self._change(name, "user.disable", {"disabled": True}, by=by, actor=actor,
                            client=client, end_sessions=True)

    def enable(self, name: str, *, by: User | None = None, actor: str | None = None,
               client: str | None = None) -> User:
        return self._change(name, "user.enable", {"disabled": False}, by=by, actor=actor,
                            client=client)

    def reset_password(self, name: str, password: str, *, by: User | None = None,
                       actor: str | None = None, client: str | None = None) -> User:
        """Set a new password (an administrator's reset) and end the account's sessions."""
        target = self.user(name)
        check_password(password, name=target.name)
        h = hash_password(password, hasher=self.hasher)
        return self._change(name, "user.password_reset",
                            {"password_hash": h, "password_changed_at": self.clock()},
                            by=by, actor=actor, client=client, end_sessions=True)

    def change_password(self, user: User, old_password: str, new_password: str, *,
                        client: str | None = None) -> User:
        """The account's own change: the old password must match."""
        with self.store.connect() as conn:
            creds = self.store.credentials(conn, user.name)
        ok = creds is not None and verify_password(creds[1], old_password,
                                                   hasher=self.hasher)[0]
        if not ok:
            self._audit_alone(actor=user.name, action="password.change",
                              target=f"user:{user.name}", result="failed", client=client,
                              detail={"reason": "wrong old password"})
            raise Unauthorized("原密码不正确", "the current password is wrong")
        if new_password == old_password:
            raise StaffInvalid("新密码不能与原密码相同",
                               "the new password must differ from the current one",
                               field="password")
        check_password(new_password, name=user.name)
        h = hash_password(new_password, hasher=self.hasher)
        return self._change(user.name, "password.change",
                            {"password_hash": h, "password_changed_at": self.clock()},
                            by=None, actor=user.name, client=client)

    # ------------------------------------------------------------------ login
    def _locked_for(self, *, target: str | None, client: str | None,
                    now: datetime) -> tuple[int, str]:
        """Seconds until logins for this account or client address are allowed again
        (0: allowed now), and which limit applies (``account`` or ``client``)."""
        p = self.lockout
        checks = []
        if target is not None:
            checks.append(("account", p.account_failures, p.account_window, p.account_lock))
        if client:
            checks.append(("client", p.client_failures, p.client_window, p.client_lock))
        worst = (0, "")
        for kind, limit, window, lock in checks:
            since = now - timedelta(seconds=window + lock)
            key = {"target": target} if kind == "account" else {"client": client}
            if kind == "account":
                ok = self.store.recent_login_times(result="ok", since=since, limit=1, **key)
                if ok:  # a successful login starts the count afresh
                    since = ok[0] + timedelta(microseconds=1)
            times = self.store.recent_login_times(result="failed", since=since, limit=limit,
                                                  **key)
            if len(times) < limit or times[-1] <= times[0] - timedelta(seconds=window):
                continue
            wait = (times[0] + timedelta(seconds=lock) - now).total_seconds()
            if wait > 0 and math.ceil(wait) > worst[0]:
                worst = (math.ceil(wait), kind)
        return worst

    def login_retry_after(self, name: str, client: str | None = None) -> int:
        """Seconds until ``name`` may try to log in from ``client`` (0: now)."""
        return self._locked_for(target=f"user:{_claimed(name)}", client=client,
                                now=self.clock())[0]

    @staticmethod
    def _throttled(wait: int, kind: str) -> TooManyAttempts:
        minutes = max(1, math.ceil(wait / 60))
        if kind == "client":
            return TooManyAttempts(
                f"此地址登录失败次数过多，请 {minutes} 分钟后再试",
                f"Too many failed logins from this address; try again in {minutes} min",
                retry_after=wait, scope=kind)
        return TooManyAttempts(
            f"登录失败次数过多，账号已暂时锁定，请 {minutes} 分钟后再试",
            f"Too many failed logins; the account is locked, try again in {minutes} min",
            retry_after=wait, scope=kind)

    def authenticate(self, name: str, password: str, client: str | None = None) -> User:
        """The account whose name and password these are, or an error.

        Raises :class:`TooManyAttempts` (``retry_after`` seconds) while the account or the
        client address is locked out, and :class:`Unauthorized` for a wrong name or
        password or a disabled account (one message for all three, so that a caller
        cannot tell which names exist). Every attempt is audited as ``login``.
        """
        claimed = _claimed(name)
        target = f"user:{claimed}"
        now = self.clock()
        wait, kind = self._locked_for(target=target, client=client, now=now)
        if wait:
            self._audit_alone(actor=claimed, action="login", target=target, result="denied",
                              client=client, detail={"reason": f"locked ({kind})",
                                                     "retry_after": wait})
            raise self._throttled(wait, kind)
        with self.store.connect() as conn:
            creds = self.store.credentials(conn, claimed) if claimed else None
        pw = password if isinstance(password, str) else ""
        if len(pw) > MAX_LENGTH:  # no stored password is this long; do not spend a hash
            ok, rehash, reason = False, False, "password too long"
        elif creds is None:
            dummy_verify(pw, hasher=self.hasher)
            ok, rehash, reason = False, False, "unknown account"
        else:
            ok, rehash = verify_password(creds[1], pw, hasher=self.hasher)
            reason = "wrong password" if not ok else "disabled" if creds[0].disabled else ""
        if creds is not None and ok and not creds[0].disabled:
            user = creds[0]
            with self.store.begin() as conn:
                if rehash:
                    self.store.update_user(conn, user.name,
                                           password_hash=hash_password(pw, hasher=self.hasher))
                self._audit(conn, actor=user.name, action="login", target=target, result="ok",
                            client=client, detail={"rehashed": True} if rehash else None)
            return user
        self._audit_alone(actor=claimed or "?", action="login", target=target, result="failed",
                          client=client, detail={"reason": reason})
        wait, kind = self._locked_for(target=target, client=client, now=self.clock())
        if wait:
            raise self._throttled(wait, kind)
        raise Unauthorized("账号名或密码错误", "wrong account name or password")

    # ------------------------------------------------------------------ sessions
    def create_session(self, user: User, *, client: str | None = None) -> NewSession:
        """A new login session for ``user`` (after :meth:`authenticate`)."""
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self.clock()
        with self.store.begin() as conn:
            self.store.insert_session(conn, id_hash=_sha256(cookie), user_id=user.id, at=now,
                                      csrf_token=csrf, client=client)
        return NewSession(cookie=cookie, session=Session(
            id_hash=_sha256(cookie), user=user, created_at=now, last_seen=now,
            csrf_token=csrf, client=client))

    def session(self, cookie: str, *, client: str | None = None) -> Session:
        """The session of a cookie, touched; :class:`Unauthorized` when there is none, it
        has been idle too long or is too old (it is then removed and the logout audited),
        or its account is disabled."""
        if not isinstance(cookie, str) or not cookie or len(cookie) > 200:
            raise Unauthorized("请先登录", "please log in")
        s = self.store.session(_sha256(cookie))
        if s is None:
            raise Unauthorized("请先登录", "please log in")
        now = self.clock()
        idle, age = now - s.last_seen, now - s.created_at
        if idle > self.session_idle or age > self.session_max or s.user.disabled:
            reason = ("disabled" if s.user.disabled else
                      "idle" if idle > self.session_idle else "too old")
            with self.store.begin() as conn:
                if self.store.delete_session(conn, s.id_hash):
                    self._audit(conn, actor=s.user.name, action="session.expired",
                                target=f"user:{s.user.name}", result="ok", client=client,
                                detail={"reason": reason,
                                        "idle_seconds": int(idle.total_seconds())})
            raise Unauthorized("登录已超时，请重新登录", "the session has expired; log in again")
        if now - s.last_seen >= self.session_touch:
            self.store.touch_session(s.id_hash, now)
            s = replace(s, last_seen=now)
        return s

    @staticmethod
    def check_csrf(session: Session, token: str | None) -> bool:
        """Whether a form's CSRF token is the session's (constant-time comparison)."""
        return bool(token) and hmac.compare_digest(session.csrf_token.encode(),
                                                   str(token).encode())

    def logout(self, cookie: str, *, client: str | None = None) -> bool:
        """End the session of ``cookie``; False if there was none."""
        if not isinstance(cookie, str) or not cookie:
            return False
        s = self.store.session(_sha256(cookie))
        if s is None:
            return False
        with self.store.begin() as conn:
            gone = self.store.delete_session(conn, s.id_hash)
            if gone:
                self._audit(conn, actor=s.user.name, action="logout",
                            target=f"user:{s.user.name}", result="ok", client=client)
        return gone

    def end_sessions(self, name: str) -> int:
        """End every session of the account ``name``; returns how many."""
        u = self.user(name)
        with self.store.begin() as conn:
            return self.store.delete_sessions_of(conn, u.id)

    def purge_expired_sessions(self) -> int:
        """Remove sessions idle longer than the time-out (housekeeping; not audited,
        since :meth:`session` refuses them anyway)."""
        with self.store.begin() as conn:
            return self.store.delete_sessions_idle_since(conn, self.clock() - self.session_idle)

    # ------------------------------------------------------------------ tokens
    def create_token(self, user: User | str, label: str = "", *, by: User | None = None,
                     actor: str | None = None, client: str | None = None) -> NewToken:
        """A new API token for ``user``; the plaintext is in the result, once."""
        owner = self.user(user) if isinstance(user, str) else self.user(user.name)
        who = self._who(by, actor)
        lab = _check_display(label)[:100]
        right = "token.own" if by is not None and by.id == owner.id else "token.manage"
        self._require(by, right, None, action="token.create", target=f"user:{owner.name}",
                      client=client)
        if owner.disabled:
            raise StaffInvalid(f"账号 {owner.name} 已停用，不能创建令牌",
                               f"the account {owner.name} is disabled; no token can be made",
                               field="name")
        plain = TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)
        with self.store.begin() as conn:
            tid = self.store.insert_token(conn, user_id=owner.id, token_hash=_sha256(plain),
                                          label=lab, at=self.clock())
            self._audit(conn, actor=who, action="token.create", target=f"token:{tid}",
                        result="ok", client=client, detail={"user": owner.name, "label": lab})
        return NewToken(id=tid, token=plain, label=lab, user_name=owner.name)

    def verify_token(self, plaintext: str | None) -> User | None:
        """The account of an API token, or None (unknown, revoked, or account disabled).
        ``last_used_at`` is written at most once per ``token_touch_seconds``."""
        found = self.token_and_user(plaintext)
        return None if found is None else found[1]

    def token_and_user(self, plaintext: str | None) -> tuple[Token, User] | None:
        """As :meth:`verify_token`, with the token's record (its id, for the audit
        detail of a write made with it)."""
        if not isinstance(plaintext, str) or not plaintext.startswith(TOKEN_PREFIX) or \
                len(plaintext) > 200:
            return None
        found = self.store.token_owner(_sha256(plaintext))
        if found is None:
            return None
        token, user = found
        if token.revoked_at is not None or user.disabled:
            return None
        now = self.clock()
        if token.last_used_at is None or now - token.last_used_at >= self.token_touch:
            self.store.mark_token_used(token.id, now, not_since=now - self.token_touch)
            token = replace(token, last_used_at=now)
        return token, user

    def tokens(self, user_name: str | None = None) -> list[Token]:
        """Token records (of one account, or all), oldest first."""
        if user_name is not None:
            user_name = self.user(user_name).name
        return self.store.tokens(user_name)

    def revoke_token(self, token_id: int, *, by: User | None = None,
                     actor: str | None = None, client: str | None = None) -> Token:
        """Revoke a token (:class:`~locator.errors.NotFound` if no such token)."""
        who = self._who(by, actor)
        with self.store.connect() as conn:
            tok = self.store.token(conn, int(token_id))
        if tok is None:
            raise NotFound(f"令牌 {token_id} 不存在 / there is no token {token_id}")
        right = "token.own" if by is not None and by.id == tok.user_id else "token.manage"
        self._require(by, right, None, action="token.revoke", target=f"token:{tok.id}",
                      client=client)
        now = self.clock()
        with self.store.begin() as conn:
            changed = self.store.revoke_token(conn, tok.id, now)
            self._audit(conn, actor=who, action="token.revoke", target=f"token:{tok.id}",
                        result="ok", client=client,
                        detail={"user": tok.user_name, "already_revoked": not changed})
            out = self.store.token(conn, tok.id)
        assert out is not None
        return out

    # ------------------------------------------------------------------ audit
    def audit_events(self, *, by: User | None = None, client: str | None = None,
                     **filters: Any) -> list[AuditEvent]:
        """Audit rows, newest first; filters: ``actor``, ``action`` (``user.*`` for a
        prefix), ``target``, ``result``, ``since``, ``until``, ``limit``, ``offset``."""
        self._require(by, "audit.read", None, action="audit.read", target="audit_log",
                      client=client)
        return self.store.audit_events(**filters)

    def count_audit_events(self, **filters: Any) -> int:
        return self.store.count_audit_events(**filters)

    def export_audit(self, out: str | Path | IO[str], *, filters: dict[str, Any] | None = None,
                     by: User | None = None, actor: str | None = None,
                     client: str | None = None) -> int:
        """Write the audit rows matching ``filters`` (as for :meth:`audit_events`, without
        paging) as CSV, oldest first; the export itself is audited. Returns the row count."""
        who = self._who(by, actor)
        self._require(by, "audit.read", None, action="audit.export", target="audit_log",
                      client=client)
        f = {k: v for k, v in (filters or {}).items() if v is not None}
        n = audit.write_csv(self.store.iter_audit_events(**f), out)
        self._audit_alone(actor=who, action="audit.export", target="audit_log", result="ok",
                          client=client, detail={"rows": n, **{k: str(v) for k, v in f.items()}})
        return n


def _claimed(name: Any) -> str:
    """The name a login claims, as it is kept in the audit log (lower-cased, printable,
    at most 64 characters)."""
    if not isinstance(name, str):
        return ""
    return "".join(c for c in name.strip().lower() if c.isprintable())[:64]

"""Staff accounts, roles and scopes, and the audit log (no Flask).

Typical use (the web layer)::

    from locator.staff import AccountService, require
    accounts = AccountService(store.engine)
    user = accounts.authenticate(name, password, client=addr)   # or TooManyAttempts
    new = accounts.create_session(user, client=addr)            # new.cookie -> Set-Cookie
    session = accounts.session(cookie, client=addr)             # or Unauthorized
    require(session.user, "station.write", station.district_adcode)  # or Forbidden
"""

from __future__ import annotations

from ..store.accounts import AccountStore, AuditEvent, Session, Token, User
from . import audit as audit
from . import passwords as passwords
from . import roles as roles
from .errors import Forbidden, StaffInvalid, TooManyAttempts, Unauthorized
from .passwords import check_password
from .roles import (
    RIGHTS,
    ROLES,
    can,
    check_role,
    describe_scope,
    district_name,
    in_scope,
    normalize_scope,
    require,
)
from .service import TOKEN_PREFIX, AccountService, LockoutPolicy, NewSession, NewToken, check_name

__all__ = [
    "RIGHTS", "ROLES", "TOKEN_PREFIX", "AccountService", "AccountStore", "AuditEvent",
    "Forbidden", "LockoutPolicy", "NewSession", "NewToken", "Session", "StaffInvalid", "Token",
    "TooManyAttempts", "Unauthorized", "User", "audit", "can", "check_name", "check_password",
    "check_role", "describe_scope", "district_name", "in_scope", "normalize_scope",
    "passwords", "require", "roles",
]

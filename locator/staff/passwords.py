"""Password rules and hashing (argon2id).

:func:`check_password` refuses, with a Chinese and an English reason:

- fewer than :data:`MIN_LENGTH` characters (or more than :data:`MAX_LENGTH`);
- fewer than two kinds of character (lower case, upper case, digits, others);
- one of the best-known common passwords (:mod:`.common_passwords`), also with digits or
  symbols added before or after it;
- the account name, contained in the password or reversed;
- one character repeated, a short pattern repeated (``abcabcabca``), or a simple sequence
  (``0123456789``, ``9876543210``, ``abcdefghij``).

Hashes are argon2id from argon2-cffi's :class:`~argon2.PasswordHasher` (its defaults are
the RFC 9106 low-memory profile); :func:`verify_password` says when a stored hash was made
with other parameters, so that a login can store a fresh one.
"""

from __future__ import annotations

import re
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .common_passwords import COMMON_PASSWORDS
from .errors import StaffInvalid

MIN_LENGTH = 10
#: Longer passwords are refused (hashing is costly; nobody types more).
MAX_LENGTH = 256
MIN_CHARACTER_KINDS = 2

_PADDING = re.compile(r"[\W\d_]*")


def _is_common(low: str) -> bool:
    """``low`` is a common password, or one with only digits and symbols added before
    or after it."""
    n = len(low)
    for i in range(n):
        for j in range(n, i, -1):
            if low[i:j] in COMMON_PASSWORDS and _PADDING.fullmatch(low[:i]) and \
                    _PADDING.fullmatch(low[j:]):
                return True
    return False


def _weak(zh: str, en: str) -> StaffInvalid:
    return StaffInvalid(zh, en, field="password")


def _kinds(pw: str) -> int:
    """Kinds of character: lower case, upper case, digits, other letters (such as
    Chinese), symbols."""
    return sum((any(c.islower() for c in pw), any(c.isupper() for c in pw),
                any(c.isdigit() for c in pw),
                any(c.isalpha() and not (c.islower() or c.isupper()) for c in pw),
                any(not c.isalnum() for c in pw)))


def _is_sequence(pw: str) -> bool:
    """Characters whose codes step by +1 or -1 throughout (digits may wrap 9 -> 0)."""
    if len(pw) < 3:
        return False
    for step in (1, -1):
        ok = True
        for a, b in zip(pw, pw[1:], strict=False):
            if ord(b) - ord(a) == step:
                continue
            if a.isdigit() and b.isdigit() and (int(b) - int(a)) % 10 == step % 10:
                continue
            ok = False
            break
        if ok:
            return True
    return False


def _is_repetition(pw: str) -> bool:
    """One character, or a unit of up to four characters, repeated."""
    n = len(pw)
    for unit in range(1, 5):
        if n >= 2 * unit and (pw[:unit] * (n // unit + 1))[:n] == pw:
            return True
    return False


def check_password(password: str, *, name: str = "") -> None:
    """Raise :class:`StaffInvalid` (field ``password``) when ``password`` is too weak for
    the account ``name``; the message says why and what would be accepted."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise _weak(f"密码至少需要 {MIN_LENGTH} 个字符",
                    f"the password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise _weak(f"密码最多 {MAX_LENGTH} 个字符", f"the password may have at most "
                    f"{MAX_LENGTH} characters")
    if password != password.strip() or any(c in "\r\n\t\x00" for c in password):
        raise _weak("密码首尾不能有空格，也不能含换行或制表符",
                    "the password may not start or end with a space, nor contain line "
                    "breaks or tabs")
    low = password.casefold()
    if len(set(low)) == 1:
        raise _weak("密码不能全是同一个字符", "the password may not be one character repeated")
    if _is_repetition(low) or _is_sequence(low):
        raise _weak("密码不能是简单的序列或重复（如 1234567890、abcabcabca）",
                    "the password may not be a simple sequence or repetition "
                    "(like 1234567890 or abcabcabca)")
    if _is_common(low):
        raise _weak("这是最常见的密码之一（或仅在其前后加了数字、符号），请换一个",
                    "this is one of the most common passwords (or one with digits or "
                    "symbols added); choose another")
    uname = (name or "").strip().casefold()
    if len(uname) >= 3 and (uname in low or uname[::-1] in low):
        raise _weak("密码不能包含账号名", "the password may not contain the account name")
    if _kinds(password) < MIN_CHARACTER_KINDS:
        raise _weak("密码需要至少两类字符（小写字母、大写字母、数字、汉字等其他文字、符号）",
                    "the password needs at least two kinds of character (lower case, upper "
                    "case, digits, other letters such as Chinese, symbols)")


@lru_cache(maxsize=1)
def default_hasher() -> PasswordHasher:
    """argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile)."""
    return PasswordHasher()


def hash_password(password: str, *, hasher: PasswordHasher | None = None) -> str:
    return (hasher or default_hasher()).hash(password)


def verify_password(stored_hash: str, password: str, *,
                    hasher: PasswordHasher | None = None) -> tuple[bool, bool]:
    """``(matches, needs_rehash)``: whether ``password`` matches ``stored_hash``, and
    whether the hash should be replaced because the hasher's parameters changed."""
    h = hasher or default_hasher()
    try:
        h.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, False
    return True, h.check_needs_rehash(stored_hash)


def dummy_verify(password: str, *, hasher: PasswordHasher | None = None) -> None:
    """Spend the time of a verification (for unknown accounts, so that timing does not
    tell which names exist)."""
    h = hasher or default_hasher()
    verify_password(_dummy_hash(h), password, hasher=h)


_DUMMIES: dict[tuple[int, int, int], str] = {}


def _dummy_hash(h: PasswordHasher) -> str:
    key = (h.time_cost, h.memory_cost, h.parallelism)
    if key not in _DUMMIES:
        _DUMMIES[key] = h.hash("not a password: timing filler")
    return _DUMMIES[key]

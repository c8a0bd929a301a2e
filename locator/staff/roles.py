"""Roles, their rights, and district scopes (adcode subtrees).

Roles are ordered ``viewer < editor < reviewer < admin``; each right names the lowest
role that holds it (:data:`RIGHTS`). Rights about stations and users are also bounded
by the account's *scope*, a GB/T 2260 administrative code whose subtree the account may
act in:

- ``""`` or ``"000000"``: national (everything, including stations with no district);
- ``"320000"``: a province (prefix ``32``);
- ``"320300"``: a prefecture-level city (prefix ``3203``: all of Xuzhou);
- ``"320303"``: one county-level district (Yunlong only).

A station with no district is inside a national scope only.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Protocol

from .errors import Forbidden, StaffInvalid

ROLES: tuple[str, ...] = ("viewer", "editor", "reviewer", "admin")
_RANK = {r: i for i, r in enumerate(ROLES)}

ROLE_NAMES: dict[str, tuple[str, str]] = {
    "viewer": ("只读", "read only"),
    "editor": ("编辑", "editor"),
    "reviewer": ("审核", "reviewer"),
    "admin": ("管理员", "administrator"),
}

#: Every right: the lowest role holding it, whether the scope bounds it, what it allows
#: (zh, en), and the refusal of a scoped right outside the scope (``{where}`` = area;
#: in Chinese a code comes with a space before it).
RIGHTS: dict[str, tuple[str, bool, str, str, str, str]] = {
    "staff.read": ("viewer", False, "查看后台页面", "view the staff pages", "", ""),
    "token.own": ("viewer", False, "管理自己的 API 令牌", "manage its own API tokens", "", ""),
    "station.write": ("editor", True, "新建或修改站点", "create or change stations",
                      "修改{where}的站点", "change stations in {where}"),
    "station.import": ("editor", True, "导入站点", "import stations",
                       "向{where}导入站点", "import stations into {where}"),
    "report.handle": ("reviewer", True, "处理群众反馈", "handle rider reports",
                      "处理{where}的群众反馈", "handle rider reports in {where}"),
    "station.verify": ("editor", True, "现场核实站点", "verify stations on site",
                       "核实{where}的站点", "verify stations in {where}"),
    "station.rate": ("reviewer", True, "评定站点星级", "set stations' star levels",
                     "评定{where}站点的星级", "set star levels in {where}"),
    "user.manage": ("admin", True, "管理账号", "manage accounts",
                    "管理{where}的账号", "manage accounts of {where}"),
    "token.manage": ("admin", False, "管理他人的 API 令牌", "manage other people's API tokens",
                     "", ""),
    "audit.read": ("admin", False, "查看审计日志", "read the audit log", "", ""),
}

NATIONAL = ""
_ADCODE = re.compile(r"\d{6}")


class HasRole(Protocol):
    """Anything with a role, a scope and a disabled flag (a stored user)."""

    @property
    def role(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def disabled(self) -> bool: ...


def check_role(role: str) -> str:
    """``role`` lower-cased, or :class:`StaffInvalid` naming the valid roles."""
    r = (role or "").strip().lower()
    if r not in _RANK:
        raise StaffInvalid(f"角色 {role!r} 无效；可选：{'、'.join(ROLES)}",
                           f"role {role!r} is not valid; use one of {', '.join(ROLES)}",
                           field="role")
    return r


def normalize_scope(scope: str | None) -> str:
    """The stored form of a scope: ``""`` for national, else six digits.

    Raises :class:`StaffInvalid` for anything that is not a GB/T 2260 code.
    """
    s = (scope or "").strip()
    if s in ("", "000000"):
        return NATIONAL
    if not _ADCODE.fullmatch(s) or s.startswith("00"):
        raise StaffInvalid(
            f"权限范围 {scope!r} 无效：应为六位行政区划代码（如 320300 徐州市、320303 云龙区），"
            "或 000000 表示全国",
            f"scope {scope!r} is not valid: use a six-digit administrative code (320300 "
            "Xuzhou, 320303 Yunlong) or 000000 for national", field="scope")
    return s


def scope_prefix(scope: str | None) -> str:
    """The adcode prefix a scope covers: ``""``, ``"32"``, ``"3203"`` or ``"320303"``."""
    s = normalize_scope(scope)
    if not s:
        return ""
    if s.endswith("0000"):
        return s[:2]
    if s.endswith("00"):
        return s[:4]
    return s


def in_scope(scope: str | None, adcode: str | None) -> bool:
    """Whether ``adcode`` (a station's district, or another scope) lies in ``scope``.

    An empty adcode (a station with no district) is in a national scope only; so is
    ``"000000"`` when ``adcode`` is another account's scope.
    """
    prefix = scope_prefix(scope)
    if not prefix:
        return True
    code = (adcode or "").strip()
    if code in ("", "000000"):
        return False
    return code.startswith(prefix)


def role_at_least(role: str, minimum: str) -> bool:
    return _RANK.get(role, -1) >= _RANK[minimum]


def can(user: HasRole | None, right: str, adcode: str | None = None) -> bool:
    """Whether ``user`` holds ``right`` (for ``adcode``, when the right is scoped).

    A scoped right asked without an adcode asks whether the account holds it anywhere.
    Disabled accounts (and ``None``) hold no right.
    """
    if right not in RIGHTS:
        raise ValueError(f"unknown right {right!r}; known: {', '.join(RIGHTS)}")
    if user is None or user.disabled:
        return False
    minimum, scoped = RIGHTS[right][:2]
    if not role_at_least(user.role, minimum):
        return False
    if scoped and adcode is not None:
        return in_scope(user.scope, adcode)
    return True


def require(user: HasRole | None, right: str, adcode: str | None = None) -> None:
    """Raise :class:`Forbidden` unless :func:`can`; the message names the role or the
    scope that is missing, in Chinese and English."""
    if can(user, right, adcode):
        return
    minimum, _, zh_what, en_what, zh_where, en_where = RIGHTS[right]
    if user is None or user.disabled:
        raise Forbidden(f"账号已停用或未登录，不能{zh_what}",
                        f"the account is disabled or not logged in; it cannot {en_what}",
                        right=right)
    if not role_at_least(user.role, minimum):
        zh_role, en_role = ROLE_NAMES.get(user.role, (user.role, user.role))
        raise Forbidden(
            f"账号角色为 {user.role}（{zh_role}），不能{zh_what}；需要 {minimum} 或更高角色",
            f"role {user.role} ({en_role}) cannot {en_what}; it needs {minimum} or higher",
            right=right, scope=user.scope)
    code = (adcode or "").strip()
    if code and code != "000000":
        zh_code, en_code = f" {describe_area(code)}", describe_area(code, "en")
    else:
        zh_code, en_code = "未归属区县", "no district"
    zh_refusal = zh_where.format(where=zh_code)
    raise Forbidden(
        f"账号权限范围为 {describe_scope(user.scope)}，不能{zh_refusal}",
        f"the account's scope is {describe_scope(user.scope, 'en')}; it cannot "
        f"{en_where.format(where=en_code)}", right=right, scope=user.scope)


# ------------------------------------------------------------------ names of areas

#: Names of the areas above the shipped districts (and of the national scope).
_FIXED_NAMES: dict[str, tuple[str, str]] = {
    "000000": ("全国", "national"),
    "320000": ("江苏省", "Jiangsu"),
    "320300": ("徐州市", "Xuzhou"),
}


@lru_cache(maxsize=1)
def _district_names() -> dict[str, tuple[str, str]]:
    names = dict(_FIXED_NAMES)
    try:
        from ..coverage import load_xuzhou_districts

        d = load_xuzhou_districts()
        for code, zh, en in zip(d.adcode, d.name, d.name_en, strict=True):
            names[str(code)] = (str(zh), str(en or zh))
    except Exception:  # names are a courtesy; a missing boundary file must not block a check
        pass
    return names


def district_name(adcode: str | None, lang: str = "zh") -> str:
    """The name of an adcode (shipped boundaries and a few fixed areas); the code itself
    when unknown."""
    code = (adcode or "").strip() or "000000"
    pair = _district_names().get(code)
    if pair is None:
        return code
    return pair[1] if lang.startswith("en") else pair[0]


def describe_area(adcode: str, lang: str = "zh") -> str:
    """``"320303（云龙区）"`` / ``"320303 (Yunlong District)"``; just the code when its
    name is unknown."""
    name = district_name(adcode, lang)
    if name == adcode:
        return adcode
    return f"{adcode} ({name})" if lang.startswith("en") else f"{adcode}（{name}）"


def describe_scope(scope: str | None, lang: str = "zh") -> str:
    """A scope with its name: ``"320303（云龙区）"``; national: ``"000000（全国）"``."""
    return describe_area(normalize_scope(scope) or "000000", lang)

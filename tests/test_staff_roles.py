"""Roles, rights and district scopes; the password rules and hashing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from argon2 import PasswordHasher

from locator.errors import InvalidInput, LocatorError
from locator.staff import Forbidden, StaffInvalid, can, check_password, in_scope, require
from locator.staff.passwords import hash_password, verify_password
from locator.staff.roles import describe_scope, district_name, normalize_scope, scope_prefix


@dataclass(frozen=True)
class U:
    role: str
    scope: str = ""
    disabled: bool = False


@pytest.mark.parametrize("scope,adcode,expected", [
    ("320300", "320303", True),
    ("320300", "320311", True),
    ("320300", "320400", False),
    ("320303", "320303", True),
    ("320303", "320311", False),
    ("320000", "320382", True),
    ("320000", "370102", False),
    ("000000", "320303", True),
    ("", "110101", True),
    ("", "", True),
    ("000000", None, True),
    ("320300", "", False),
    ("320303", None, False),
    ("320300", "000000", False),
], ids=["city-has-district", "city-has-other-district", "city-not-other-city", "district-self",
        "district-not-neighbour", "province-has-county", "province-not-other-province",
        "national-000000", "national-empty", "national-no-district", "national-none",
        "city-no-district", "district-none", "city-not-national"])
def test_in_scope(scope, adcode, expected):
    assert in_scope(scope, adcode) is expected


def test_scope_forms():
    assert [scope_prefix(s) for s in ("", "000000", "320000", "320300", "320303")] == [
        "", "", "32", "3203", "320303"]
    assert normalize_scope(" 000000 ") == "" and normalize_scope("320303") == "320303"
    for bad in ("3203", "32030x", "0012345", "001234"):
        with pytest.raises(StaffInvalid, match="六位行政区划代码.*six-digit administrative"):
            normalize_scope(bad)


def test_district_names_come_from_the_shipped_boundaries():
    assert district_name("320303") == "云龙区"
    assert district_name("320311", "en") == "Quanshan District"
    assert district_name("320300") == "徐州市"
    assert district_name("999999") == "999999"  # unknown: the code itself
    assert describe_scope("") == "000000（全国）"
    assert describe_scope("320303", "en") == "320303 (Yunlong District)"


@pytest.mark.parametrize("role,right,expected", [
    ("viewer", "staff.read", True), ("viewer", "station.write", False),
    ("editor", "station.write", True), ("editor", "station.import", True),
    ("editor", "report.handle", False), ("reviewer", "report.handle", True),
    ("reviewer", "station.write", True), ("reviewer", "user.manage", False),
    ("admin", "user.manage", True), ("admin", "token.manage", True),
    ("admin", "audit.read", True), ("editor", "audit.read", False),
], ids=lambda v: str(v))
def test_rights_by_role(role, right, expected):
    assert can(U(role), right, "320303") is expected


def test_disabled_account_has_no_rights():
    assert not can(U("admin", disabled=True), "staff.read")
    assert not can(None, "staff.read")
    with pytest.raises(Forbidden, match="停用"):
        require(U("admin", disabled=True), "audit.read")


def test_unknown_right_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown right 'station.wrte'"):
        can(U("admin"), "station.wrte")


def test_editor_of_yunlong_cannot_change_quanshan():
    yunlong = U("editor", "320303")
    require(yunlong, "station.write", "320303")
    with pytest.raises(Forbidden) as exc:
        require(yunlong, "station.write", "320311")
    e = exc.value
    assert isinstance(e, LocatorError) and e.scope == "320303" and e.right == "station.write"
    assert e.zh == "账号权限范围为 320303（云龙区），不能修改 320311（泉山区）的站点"
    assert e.en == ("the account's scope is 320303 (Yunlong District); it cannot change "
                    "stations in 320311 (Quanshan District)")
    assert e.message_in("en") == e.en and e.message_in("zh-CN") == e.zh
    assert str(e) == f"{e.zh} / {e.en}"


def test_station_without_district_needs_a_national_scope():
    with pytest.raises(Forbidden, match="320300（徐州市），不能修改未归属区县的站点"):
        require(U("editor", "320300"), "station.write", "")
    require(U("editor", ""), "station.write", "")


def test_role_refusal_names_the_role_needed():
    refusal = "账号角色为 viewer（只读），不能新建或修改站点；需要 editor 或更高角色"
    with pytest.raises(Forbidden, match=refusal):
        require(U("viewer", ""), "station.write", "320303")
    with pytest.raises(Forbidden, match="role reviewer .* cannot manage accounts; it needs admin"):
        require(U("reviewer", ""), "user.manage", "320303")


# --------------------------------------------------------------------------- passwords

@pytest.mark.parametrize("password,reason", [
    ("Short1!", "至少需要 10 个字符"),
    ("123456", "至少需要 10 个字符"),
    ("5201314", "至少需要 10 个字符"),
    ("woaini1314", "最常见的密码"),
    ("qq123456789", "最常见的密码"),
    ("1qaz2wsx3edc", "最常见的密码"),
    ("a1234567890", "最常见的密码"),
    ("Password1!!", "最常见的密码"),
    ("iloveyou2026", "最常见的密码"),
    ("aaaaaaaaaaaa", "同一个字符"),
    ("1234567890", "简单的序列"),
    ("9876543210", "简单的序列"),
    ("abcdefghijkl", "简单的序列"),
    ("abcabcabcabc", "简单的序列或重复"),
    ("zhangsan-2026", "包含账号名"),
    ("nasgnahz-2026", "包含账号名"),
    ("onlylowercaseletters", "两类字符"),
    (" Leading-space-1", "首尾不能有空格"),
], ids=lambda v: v if v.isascii() else None)
def test_weak_passwords_are_refused_with_a_reason(password, reason):
    with pytest.raises(StaffInvalid, match=reason) as exc:
        check_password(password, name="zhangsan")
    assert isinstance(exc.value, InvalidInput) and exc.value.field == "password"
    assert exc.value.en  # and an English reason


@pytest.mark.parametrize("password", ["Xuzhou-rest-42", "correct horse battery staple",
                                      "云龙湖边的驿站2026", "Tq8#vL2m!pZ"])
def test_reasonable_passwords_pass(password):
    check_password(password, name="zhangsan")


def test_argon2id_hash_verifies_and_asks_for_rehash_when_parameters_change():
    old = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    new = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    h = hash_password("Xuzhou-rest-42", hasher=old)
    assert h.startswith("$argon2id$")
    assert verify_password(h, "Xuzhou-rest-42", hasher=old) == (True, False)
    assert verify_password(h, "Xuzhou-rest-43", hasher=old) == (False, False)
    assert verify_password(h, "Xuzhou-rest-42", hasher=new) == (True, True)
    assert verify_password("not a hash", "Xuzhou-rest-42", hasher=new) == (False, False)

"""The account store and the audit log, on SQLite and on a fresh PostgreSQL database:
stored rows, user administration and its audit rows, the append-only log, listing and
CSV export."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import staff_support
from staff_support import FAST, PW

from locator.errors import Conflict, NotFound
from locator.staff import AccountService, Forbidden, StaffInvalid, audit

engine = staff_support.engine
clock = staff_support.clock


@pytest.fixture()
def svc(engine, clock):
    return AccountService(engine, clock=clock, hasher=FAST)


def _rows(engine, sql: str, **params):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]


def test_a_new_database_has_no_account(svc):
    assert svc.users() == []
    assert svc.tokens() == []


def test_add_user_stores_the_row_and_audits_it(svc, engine, clock):
    u = svc.add_user("Alice", PW, role="editor", scope="320303", display_name="张三",
                     actor="cli:tester", client="10.0.0.7")
    assert (u.name, u.role, u.scope, u.display_name, u.disabled) == (
        "alice", "editor", "320303", "张三", False)
    assert u.created_at == u.password_changed_at == clock.now
    [row] = _rows(engine, "select * from staff_users")
    assert row["name"] == "alice" and row["scope"] == "320303"
    assert row["password_hash"].startswith("$argon2id$") and PW not in row["password_hash"]
    [ev] = svc.audit_events()
    assert (ev.actor, ev.action, ev.target, ev.result, ev.client) == (
        "cli:tester", "user.create", "user:alice", "ok", "10.0.0.7")
    assert ev.detail == {"role": "editor", "scope": "320303"} and ev.at == clock.now
    assert PW not in str(_rows(engine, "select * from audit_log"))


def test_duplicate_name_is_a_conflict_and_changes_nothing(svc):
    svc.add_user("alice", PW, role="editor", actor="cli:t")
    with pytest.raises(Conflict, match="'alice' already exists"):
        svc.add_user("ALICE", "Other-pass-77", role="admin", actor="cli:t")
    assert [u.role for u in svc.users()] == ["editor"]
    assert len(svc.audit_events()) == 1


@pytest.mark.parametrize("kwargs,match", [
    ({"name": "a", "role": "editor"}, "账号名 'a' 无效"),
    ({"name": "张三", "role": "editor"}, "lower-case letters"),
    ({"name": "bob", "role": "boss"}, "角色 'boss' 无效"),
    ({"name": "bob", "role": "editor", "scope": "3203"}, "scope '3203' is not valid"),
    ({"name": "bob", "role": "editor", "password": "5201314520"}, "最常见的密码"),
    ({"name": "bob", "role": "editor", "password": "bob-the-builder"}, "包含账号名"),
], ids=["short-name", "chinese-name", "role", "scope", "common-password", "name-in-password"])
def test_bad_account_input_is_refused_and_nothing_stored(svc, kwargs, match):
    kwargs = {"password": PW, **kwargs}
    with pytest.raises(StaffInvalid, match=match):
        svc.add_user(kwargs.pop("name"), kwargs.pop("password"), actor="cli:t", **kwargs)
    assert svc.users() == [] and svc.audit_events() == []


def test_role_disable_enable_and_reset_are_audited(svc, engine, clock):
    svc.add_user("alice", PW, role="editor", scope="320303", actor="cli:t")
    new = svc.create_session(svc.authenticate("alice", PW, "10.0.0.7"), client="10.0.0.7")
    clock.advance(5)
    u = svc.set_role("alice", role="reviewer", scope="320300", actor="cli:t")
    assert (u.role, u.scope, u.changed_at) == ("reviewer", "320300", clock.now)
    u = svc.disable("alice", actor="cli:t")
    assert u.disabled
    assert _rows(engine, "select * from staff_sessions") == []  # sessions ended
    svc.enable("alice", actor="cli:t")
    clock.advance(5)
    u = svc.reset_password("alice", "Brand-new-pass-9", actor="cli:t")
    assert u.password_changed_at == clock.now
    assert svc.authenticate("alice", "Brand-new-pass-9").name == "alice"
    events = [(e.action, e.result, e.detail) for e in reversed(svc.audit_events())]
    assert events == [
        ("user.create", "ok", {"role": "editor", "scope": "320303"}),
        ("login", "ok", None),
        ("user.role", "ok", {"role": ["editor", "reviewer"], "scope": ["320303", "320300"]}),
        ("user.disable", "ok", {"sessions_ended": 1}),
        ("user.enable", "ok", None),
        ("user.password_reset", "ok", {"sessions_ended": 0}),
        ("login", "ok", None),
    ]
    with pytest.raises(NotFound, match="no account 'nobody'"):
        svc.disable("nobody", actor="cli:t")
    assert new.cookie not in str(_rows(engine, "select * from staff_sessions"))


def test_a_district_admin_manages_only_its_district(svc):
    svc.add_user("root", PW, role="admin", scope="", actor="cli:t")
    svc.add_user("xz-admin", PW, role="admin", scope="320300", actor="cli:t")
    xz = svc.user("xz-admin")
    svc.add_user("yl-editor", PW, role="editor", scope="320303", by=xz, client="10.0.0.9")
    refusal = "账号权限范围为 320300（徐州市），不能管理未归属区县的账号"
    with pytest.raises(Forbidden, match=refusal):
        svc.add_user("boss", PW, role="admin", scope="", by=xz)
    with pytest.raises(Forbidden, match="320300"):
        svc.set_role("yl-editor", role="editor", scope="320000", by=xz)
    with pytest.raises(Forbidden, match="cannot disable your own account"):
        svc.disable("xz-admin", by=xz)
    editor = svc.user("yl-editor")
    with pytest.raises(Forbidden, match="needs admin"):
        svc.disable("root", by=editor)
    denied = [(e.actor, e.action, e.target) for e in svc.audit_events(result="denied")]
    assert denied == [("yl-editor", "user.disable", "user:root"),
                      ("xz-admin", "user.disable", "user:xz-admin"),
                      ("xz-admin", "user.role", "user:yl-editor"),
                      ("xz-admin", "user.create", "user:boss")]
    assert [u.name for u in svc.users()] == ["root", "xz-admin", "yl-editor"]
    assert svc.user("yl-editor").scope == "320303"
    with pytest.raises(TypeError, match="exactly one of by="):
        svc.disable("root")


# --------------------------------------------------------------------------- audit log

def test_audit_log_refuses_update_and_delete_in_the_database(svc, engine):
    svc.add_user("alice", PW, role="editor", actor="cli:t")
    for sql in ("UPDATE audit_log SET result = 'failed'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(sa.text(sql))
    if engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(sa.text("TRUNCATE audit_log"))
    [row] = _rows(engine, "select action, result from audit_log")
    assert row == {"action": "user.create", "result": "ok"}


def test_record_joins_the_callers_transaction(engine):
    # The first row goes in through a connection on a database without the tables yet.
    with pytest.raises(RuntimeError):
        with engine.begin() as conn:
            audit.record(conn, actor="bob", action="station.update", target="ST-1",
                         result="ok", client="10.0.0.1", detail={"version": 2})
            raise RuntimeError("the station write failed")
    assert not sa.inspect(engine).has_table("audit_log") or \
        _rows(engine, "select * from audit_log") == []
    with engine.begin() as conn:
        rid = audit.record(conn, actor="bob", action="station.update", target="ST-1",
                           result="ok", detail={"version": 2, "名称": "新驿站"})
    [row] = _rows(engine, "select id, actor, action, target, result from audit_log")
    assert row == {"id": rid, "actor": "bob", "action": "station.update", "target": "ST-1",
                   "result": "ok"}
    rid2 = audit.record(engine, actor="bob", action="station.close", target="ST-1",
                        result="denied")
    assert rid2 > rid
    with pytest.raises(ValueError, match="must be one of ok, denied, failed"):
        audit.record(engine, actor="bob", action="x", target="y", result="maybe")


def test_audit_listing_filters_and_pages(svc, clock):
    for i in range(12):
        audit.record(svc.engine, actor="alice" if i % 2 else "bob",
                     action="user.create" if i < 4 else "login", target=f"t{i}", result="ok",
                     at=clock.now)
        clock.advance(60)
    assert svc.count_audit_events() == 12
    assert [e.target for e in svc.audit_events(limit=3)] == ["t11", "t10", "t9"]
    assert [e.target for e in svc.audit_events(limit=3, offset=3)] == ["t8", "t7", "t6"]
    assert {e.actor for e in svc.audit_events(actor="bob")} == {"bob"}
    assert [e.target for e in svc.audit_events(action="user.*")] == ["t3", "t2", "t1", "t0"]
    start = datetime(2026, 7, 15, 4, 32, tzinfo=timezone.utc)
    got = svc.audit_events(since=start, until=start + timedelta(minutes=3))
    assert [e.target for e in got] == ["t4", "t3", "t2"]
    assert svc.count_audit_events(action="login", actor="alice") == 4


def test_audit_csv_has_a_bom_and_neutralises_formulas(svc, tmp_path):
    audit.record(svc.engine, actor="=HYPERLINK(\"http://x\")", action="station.update",
                 target="+ST-1", result="ok", client="@evil", detail={"名称": "-1+1"})
    audit.record(svc.engine, actor="张三", action="login", target="user:张三", result="failed")
    out = tmp_path / "audit.csv"
    n = svc.export_audit(out, actor="cli:t")
    assert n == 2
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0]["actor"] == "'=HYPERLINK(\"http://x\")"
    assert rows[0]["target"] == "'+ST-1" and rows[0]["client"] == "'@evil"
    assert rows[0]["detail"] == '{"名称": "-1+1"}'
    assert rows[1]["actor"] == "张三" and rows[1]["result"] == "failed"
    [ev] = svc.audit_events(action="audit.export")
    assert ev.actor == "cli:t" and ev.detail == {"rows": 2}
    assert audit.csv_text(svc.store.iter_audit_events(action="login")).startswith(
        "\ufeffid,at_utc,actor")


def test_token_hash_is_sha256_of_the_plaintext(svc, engine):
    svc.add_user("alice", PW, role="editor", actor="cli:t")
    t = svc.create_token("alice", "ci", actor="cli:t")
    [row] = _rows(engine, "select token_hash, label from staff_api_tokens")
    assert row == {"token_hash": hashlib.sha256(t.token.encode()).hexdigest(), "label": "ci"}
    assert len(t.token) >= 4 + 43  # 32 random bytes, URL-safe base64

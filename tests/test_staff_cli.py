"""``locator users | tokens | audit``: through the real ``locator`` command, with the
password on standard input (CliRunner's input=), never on the command line; on a SQLite
file and on a PostgreSQL database (``--db`` takes either)."""

from __future__ import annotations

import csv
import io

import click
import pytest
import sqlalchemy as sa

from locator.cli import main
from locator.cli.staff import COMMANDS, cli_actor
from locator.staff import AccountService, Unauthorized
from locator.store import StationStore
from locator.store.sql import db_url as sa_url

PW = "Xuzhou-rest-42"


@pytest.fixture()
def db(db_url):
    """The ``--db`` of the commands: a SQLite path or a PostgreSQL URL."""
    return db_url


@pytest.fixture()
def accounts(db):
    """``accounts()``: the account service on ``db``, to check what the commands did. The store
    opens on first use (after the commands made the database) and closes after the test."""
    stores: list[StationStore] = []

    def open_service() -> AccountService:
        if not stores:
            stores.append(StationStore(db, create=True))
        return AccountService(stores[0].engine)

    yield open_service
    for store in stores:
        store.dispose()


def _add(runner, db, name="alice", *extra, password=PW):
    return runner.invoke(main, ["users", "add", name, "--role", "editor", "--db", db, *extra],
                         input=password + "\n")


def _dump(db) -> str:
    """Every row of every table of the store, as text (to look for leaked secrets)."""
    eng = sa.create_engine(sa_url(db))
    out = []
    with eng.connect() as conn:
        for t in sa.inspect(conn).get_table_names():
            if t == "spatial_ref_sys":  # PostGIS's own reference table
                continue
            out += [str(tuple(r)) for r in conn.execute(sa.text(f'select * from "{t}"'))]
    eng.dispose()
    return "\n".join(out)


def test_users_add_reads_the_password_from_stdin_and_audits(runner, db, accounts):
    r = _add(runner, db, "alice", "--scope", "320303", "--display", "张三")
    assert r.exit_code == 0, r.output
    assert "已创建账号 alice" in r.output and "320303（云龙区）" in r.output
    assert PW not in r.output
    svc = accounts()
    [u] = svc.users()
    assert (u.name, u.role, u.scope, u.display_name) == ("alice", "editor", "320303", "张三")
    assert svc.authenticate("alice", PW).name == "alice"
    ev = svc.audit_events(action="user.create")[0]
    assert ev.actor == cli_actor() and ev.actor.startswith("cli")
    assert PW not in _dump(db)


def test_no_command_takes_a_password_argument(runner, db, accounts):
    def params(cmd: click.Command):
        yield from cmd.params
        if isinstance(cmd, click.Group):
            for sub in cmd.commands.values():
                yield from params(sub)

    names = {p.name for c in COMMANDS for p in params(c)} | {
        o for c in COMMANDS for p in params(c) for o in getattr(p, "opts", [])}
    assert not {n for n in names if "pass" in str(n).lower()}
    r = runner.invoke(main, ["users", "add", "bob", "--role", "editor", "--password", PW,
                             "--db", db], input="")
    assert r.exit_code == 2 and "No such option" in r.output
    assert accounts().users() == []


@pytest.mark.parametrize("args,password,message", [
    (["users", "add", "bob", "--role", "editor"], "123456", "至少需要 10 个字符"),
    (["users", "add", "bob", "--role", "editor"], "woaini1314", "最常见的密码"),
    (["users", "add", "bob", "--role", "editor"], "", "no password on standard input"),
    (["users", "add", "bob", "--role", "boss"], PW, "role 'boss' is not valid"),
    (["users", "add", "bob", "--role", "editor", "--scope", "32"], PW, "scope '32'"),
    (["users", "add", "B o b", "--role", "editor"], PW, "账号名 'B o b' 无效"),
    (["users", "disable", "nobody"], "", "no account 'nobody'"),
    (["tokens", "revoke", "42"], "", "there is no token 42"),
    (["audit", "list", "--since", "yesterday"], "", "--since: 'yesterday'"),
    (["audit", "export", "audit.txt"], "", "must end in .csv"),
], ids=["short", "common", "empty-stdin", "role", "scope", "name", "no-user", "no-token",
        "since", "not-csv"])
def test_bad_input_is_one_line_and_exit_2(runner, db, args, password, message, accounts):
    r = runner.invoke(main, [*args, "--db", db], input=password + "\n" if password else "")
    assert r.exit_code == 2, r.output
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output
    assert accounts().users() == []


def test_users_list_disable_enable_set_role_reset(runner, db, accounts):
    _add(runner, db, "alice", "--scope", "320303", "--display", "张三")
    _add(runner, db, "bob")
    r = runner.invoke(main, ["users", "list", "--db", db])
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0].split()[:4] == ["name", "display", "role", "scope"]
    assert lines[1].split()[:4] == ["alice", "张三", "editor", "320303（云龙区）"]
    assert lines[2].split()[:4] == ["bob", "-", "editor", "000000（全国）"]
    assert "2 个账号" in lines[-1]

    assert runner.invoke(main, ["users", "disable", "alice", "--db", db]).exit_code == 0
    assert accounts().user("alice").disabled
    assert "停用 disabled" in runner.invoke(main, ["users", "list", "--db", db]).output
    assert runner.invoke(main, ["users", "enable", "alice", "--db", db]).exit_code == 0
    r = runner.invoke(main, ["users", "set-role", "alice", "--role", "admin", "--scope",
                             "320300", "--db", db])
    assert r.exit_code == 0 and "320300（徐州市）" in r.output
    u = accounts().user("alice")
    assert (u.role, u.scope, u.disabled) == ("admin", "320300", False)
    r = runner.invoke(main, ["users", "reset-password", "alice", "--db", db],
                      input="Brand-new-pass-9\n")
    assert r.exit_code == 0, r.output
    svc = accounts()
    assert svc.authenticate("alice", "Brand-new-pass-9").name == "alice"
    assert [e.action for e in reversed(svc.audit_events(actor=cli_actor()))] == [
        "user.create", "user.create", "user.disable", "user.enable", "user.role",
        "user.password_reset"]


def test_tokens_create_prints_once_list_and_revoke(runner, db, accounts):
    _add(runner, db, "alice")
    r = runner.invoke(main, ["tokens", "create", "alice", "--label", "导入脚本", "--db", db])
    assert r.exit_code == 0
    token = r.stdout.strip()
    assert token.startswith("slt_") and "只显示这一次" in r.stderr
    svc = accounts()
    assert svc.verify_token(token).name == "alice"
    r = runner.invoke(main, ["tokens", "list", "alice", "--db", db])
    assert r.exit_code == 0 and "导入脚本" in r.output and token not in r.output
    assert "有效 active" in r.output
    tid = svc.tokens()[0].id
    r = runner.invoke(main, ["tokens", "revoke", str(tid), "--db", db])
    assert r.exit_code == 0 and f"已撤销令牌 {tid}" in r.output
    assert svc.verify_token(token) is None
    assert "已撤销 revoked" in runner.invoke(main, ["tokens", "list", "--db", db]).output
    assert token not in _dump(db)


def test_audit_list_and_export(runner, db, tmp_path, accounts):
    _add(runner, db, "alice")
    svc = accounts()
    with pytest.raises(Unauthorized):
        svc.authenticate("alice", "wrong-pass-xx", "=1+2")
    r = runner.invoke(main, ["audit", "list", "--since", "1h", "--action", "login", "--db", db])
    assert r.exit_code == 0, r.output
    assert "failed" in r.output and "wrong password" in r.output
    assert "共 1 条" in r.output
    r = runner.invoke(main, ["audit", "list", "--action", "user.*", "--db", db])
    assert "user.create" in r.output and "login" not in r.output.split("\n", 1)[1]
    r = runner.invoke(main, ["audit", "list", "--result", "ok", "--db", db])
    assert "user.create" in r.output and "共 1 条" in r.output
    out = tmp_path / "audit.csv"
    r = runner.invoke(main, ["audit", "export", str(out), "--db", db])
    assert r.exit_code == 0 and "已导出 2 条" in r.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [row["action"] for row in rows] == ["user.create", "login"]
    assert rows[1]["client"] == "'=1+2"
    assert svc.audit_events(action="audit.export")[0].detail == {"rows": 2}
    r = runner.invoke(main, ["audit", "export", str(tmp_path / "no" / "dir" / "a.csv"),
                             "--db", db])
    assert r.exit_code == 2 and "cannot write" in r.stderr and "Traceback" not in r.output


def test_on_a_terminal_the_password_is_prompted_hidden_with_confirmation(monkeypatch):
    import sys

    from locator.cli import staff as staff_cli

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    asked = {}

    def prompt(text, **kwargs):
        asked.update(kwargs, text=text)
        return PW

    monkeypatch.setattr(sys, "stdin", Tty(""))
    monkeypatch.setattr(staff_cli.click, "prompt", prompt)
    assert staff_cli.read_password() == PW
    assert asked["hide_input"] is True and asked["confirmation_prompt"]
    assert "密码" in asked["text"] and "password" in asked["text"]

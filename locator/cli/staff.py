"""Staff account commands: ``locator users ...``, ``locator tokens ...``, ``locator audit ...``.

Passwords are read from standard input when it is not a terminal (one line), otherwise
from a hidden prompt with confirmation; never from the command line, where they would
stay in the shell history and the process list. Every change is audited with the
actor ``cli:<os user>``. Bad input prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import click

from ..errors import Conflict, InvalidInput, LocatorError, NotFound
from ..staff.errors import Forbidden, Unauthorized

_RELATIVE = re.compile(r"(\d+)\s*([dhm])")


def _cli_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One line on stderr instead of a traceback: status 2 for bad input, 1 otherwise."""
    import sqlalchemy.exc

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (InvalidInput, NotFound, Conflict, Forbidden, Unauthorized) as e:
            click.echo(f"错误 / Error: {e}", err=True)
            sys.exit(2)
        except LocatorError as e:
            click.echo(f"错误 / Error: {e}", err=True)
            sys.exit(1)
        except OSError as e:
            where = f" {e.filename}" if getattr(e, "filename", None) else ""
            click.echo(f"错误 / Error: cannot write{where}: {e.strerror or e}", err=True)
            sys.exit(2)
        except sqlalchemy.exc.SQLAlchemyError as e:
            first = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
            click.echo(f"错误 / Error: database: {first}", err=True)
            sys.exit(1)

    return wrapper


def _db_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--db", default=None,
                        help="Database path or SQLAlchemy URL [env LOCATOR_DB; default "
                             "./station-locator.sqlite].")(fn)


def cli_actor() -> str:
    """``cli:<os user>``: who the audit log names for a command-line action."""
    import getpass

    try:
        return "cli:" + getpass.getuser()
    except Exception:  # no user name in some containers
        return "cli"


def _open_store(db: str | None):
    """The store of ``db`` for the running command, disposed of (its pooled connections
    closed) when the command ends."""
    from ..store import StationStore

    store = StationStore(db, create=True)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(store.dispose)
    return store


def _service(db: str | None):
    from ..staff import AccountService

    return AccountService(_open_store(db).engine)


def read_password(*, confirm: bool = True) -> str:
    """A new password: one line of standard input when it is not a terminal, else a
    hidden prompt (typed twice)."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        pw = line.rstrip("\r\n")
        if not pw:
            raise InvalidInput("标准输入中没有密码（应为一行）/ no password on standard input "
                               "(expected one line)", field="password")
        return pw
    return click.prompt("新密码 / New password", hide_input=True,
                        confirmation_prompt="再输入一次 / Repeat" if confirm else False)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    cols = list(zip(headers, *rows, strict=True)) if rows else [(h,) for h in headers]
    widths = [max(_width(c) for c in col) for col in cols]
    for line in [headers, *rows]:
        cells = [c + " " * (w - _width(c)) for c, w in zip(line, widths, strict=True)]
        click.echo("  ".join(cells).rstrip())


def _local(dt: datetime | None) -> str:
    if dt is None:
        return "-"
    from ..time_util import zone

    return dt.astimezone(zone()).strftime("%Y-%m-%d %H:%M:%S")


def parse_since(value: str | None, *, field: str = "since") -> datetime | None:
    """``7d``, ``12h``, ``30m`` ago, or an ISO 8601 date or time (naive: Asia/Shanghai)."""
    if value is None or not value.strip():
        return None
    m = _RELATIVE.fullmatch(value.strip().lower())
    if m:
        n, unit = int(m.group(1)), m.group(2)
        delta = {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n)}
        return datetime.now(timezone.utc) - delta[unit]
    from ..time_util import parse_when

    try:
        return parse_when(value.strip(), field=field)
    except InvalidInput:
        raise InvalidInput(f"--{field}: {value!r} 不是时间 / is not a time; use 7d, 12h, 30m, "
                           "2026-07-01 or 2026-07-01T08:00", field=field) from None


# ---------------------------------------------------------------------- users


@click.group("users", context_settings={"help_option_names": ["-h", "--help"]})
def users_cmd() -> None:
    """Staff accounts: add, list, disable, enable, set-role, reset-password."""


@users_cmd.command("add")
@click.argument("name")
@click.option("--role", required=True, help="viewer, editor, reviewer or admin.")
@click.option("--scope", default="", help="Adcode the account may act in: 320300 = Xuzhou, "
                                           "320303 = Yunlong only; empty or 000000 = national.")
@click.option("--display", "display", default="", help="Display name (e.g. the person's name).")
@_db_option
@_cli_errors
def users_add(name: str, role: str, scope: str, display: str, db: str | None) -> None:
    """Add the account NAME; the password comes from stdin or a hidden prompt."""
    from ..staff import check_name, check_password, check_role, describe_scope, normalize_scope

    # Check what can be checked before asking for the password.
    n, r, s = check_name(name), check_role(role), normalize_scope(scope)
    svc = _service(db)
    password = read_password()
    check_password(password, name=n)
    u = svc.add_user(n, password, role=r, scope=s, display_name=display, actor=cli_actor())
    click.echo(f"已创建账号 {u.name}（{u.role}，范围 {describe_scope(u.scope)}）/ "
               f"created account {u.name} ({u.role}, scope {describe_scope(u.scope, 'en')})")


@users_cmd.command("list")
@_db_option
@_cli_errors
def users_list(db: str | None) -> None:
    """List the accounts."""
    from ..staff import describe_scope

    users = _service(db).users()
    rows = [(u.name, u.display_name or "-", u.role, describe_scope(u.scope),
             "停用 disabled" if u.disabled else "启用 enabled", _local(u.created_at),
             _local(u.password_changed_at)) for u in users]
    _table(("name", "display", "role", "scope", "status", "created", "password changed"),
           rows)
    click.echo(f"{len(users)} 个账号 / account(s)")


@users_cmd.command("disable")
@click.argument("name")
@_db_option
@_cli_errors
def users_disable(name: str, db: str | None) -> None:
    """Disable the account NAME (its sessions end; its tokens stop working)."""
    u = _service(db).disable(name, actor=cli_actor())
    click.echo(f"已停用账号 {u.name} / disabled account {u.name}")


@users_cmd.command("enable")
@click.argument("name")
@_db_option
@_cli_errors
def users_enable(name: str, db: str | None) -> None:
    """Enable the account NAME again."""
    u = _service(db).enable(name, actor=cli_actor())
    click.echo(f"已启用账号 {u.name} / enabled account {u.name}")


@users_cmd.command("set-role")
@click.argument("name")
@click.option("--role", required=True, help="viewer, editor, reviewer or admin.")
@click.option("--scope", default=None, help="New scope (adcode); unchanged when not given.")
@_db_option
@_cli_errors
def users_set_role(name: str, role: str, scope: str | None, db: str | None) -> None:
    """Change the role (and scope) of the account NAME."""
    from ..staff import describe_scope

    u = _service(db).set_role(name, role=role, scope=scope, actor=cli_actor())
    click.echo(f"账号 {u.name}：{u.role}，范围 {describe_scope(u.scope)} / account {u.name}: "
               f"{u.role}, scope {describe_scope(u.scope, 'en')}")


@users_cmd.command("reset-password")
@click.argument("name")
@_db_option
@_cli_errors
def users_reset_password(name: str, db: str | None) -> None:
    """Set a new password for NAME (from stdin or a hidden prompt); its sessions end."""
    svc = _service(db)
    u = svc.user(name)
    password = read_password()
    u = svc.reset_password(u.name, password, actor=cli_actor())
    click.echo(f"已重设 {u.name} 的密码 / reset the password of {u.name}")


# ---------------------------------------------------------------------- tokens


@click.group("tokens", context_settings={"help_option_names": ["-h", "--help"]})
def tokens_cmd() -> None:
    """API tokens: create (shown once), list, revoke."""


@tokens_cmd.command("create")
@click.argument("name")
@click.option("--label", default="", help="What the token is for (e.g. the program using it).")
@_db_option
@_cli_errors
def tokens_create(name: str, label: str, db: str | None) -> None:
    """Create an API token for the account NAME and print it once."""
    t = _service(db).create_token(name, label, actor=cli_actor())
    click.echo(t.token)
    click.echo(f"令牌 {t.id}（{t.user_name}）只显示这一次，请妥善保存 / token {t.id} for "
               f"{t.user_name}: shown only this once; keep it safe", err=True)


@tokens_cmd.command("list")
@click.argument("name", required=False)
@_db_option
@_cli_errors
def tokens_list(name: str | None, db: str | None) -> None:
    """List API tokens (of the account NAME, or all)."""
    toks = _service(db).tokens(name)
    rows = [(str(t.id), t.user_name, t.label or "-", _local(t.created_at),
             _local(t.last_used_at),
             "有效 active" if t.active else f"已撤销 revoked {_local(t.revoked_at)}")
            for t in toks]
    _table(("id", "user", "label", "created", "last used", "status"), rows)
    click.echo(f"{len(toks)} 个令牌 / token(s)")


@tokens_cmd.command("revoke")
@click.argument("token_id", type=int)
@_db_option
@_cli_errors
def tokens_revoke(token_id: int, db: str | None) -> None:
    """Revoke the API token ID (see `locator tokens list`)."""
    t = _service(db).revoke_token(token_id, actor=cli_actor())
    click.echo(f"已撤销令牌 {t.id}（{t.user_name}）/ revoked token {t.id} of {t.user_name}")


# ---------------------------------------------------------------------- audit


@click.group("audit", context_settings={"help_option_names": ["-h", "--help"]})
def audit_cmd() -> None:
    """The audit log (append-only): list, export."""


_filters = [
    click.option("--since", default=None, help="From: 7d, 12h, 30m ago or an ISO date/time "
                                               "(naive = Asia/Shanghai)."),
    click.option("--until", default=None, help="Before this time (same forms as --since)."),
    click.option("--action", default=None, help="Action, e.g. login; user.* for a prefix."),
    click.option("--actor", default=None, help="Who acted (account name or cli:<user>)."),
    click.option("--result", type=click.Choice(["ok", "denied", "failed"]), default=None,
                 help="Only rows with this result."),
]


def _filter_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(_filters):
        fn = opt(fn)
    return fn


def _filter_values(since: str | None, until: str | None, action: str | None,
                   actor: str | None, result: str | None) -> dict[str, Any]:
    return {"since": parse_since(since), "until": parse_since(until, field="until"),
            "action": action or None, "actor": actor or None, "result": result}


@audit_cmd.command("list")
@_filter_options
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
@_db_option
@_cli_errors
def audit_list(since: str | None, until: str | None, action: str | None, actor: str | None,
               result: str | None, limit: int, offset: int, db: str | None) -> None:
    """Show audit rows, newest first (times in Asia/Shanghai)."""
    import json

    svc = _service(db)
    filters = _filter_values(since, until, action, actor, result)
    events = svc.audit_events(limit=limit, offset=offset, **filters)
    total = svc.count_audit_events(**filters)
    rows = [(str(e.id), _local(e.at), e.actor, e.client or "-", e.action, e.target, e.result,
             json.dumps(e.detail, ensure_ascii=False, sort_keys=True) if e.detail else "")
            for e in events]
    _table(("id", "at", "actor", "client", "action", "target", "result", "detail"), rows)
    click.echo(f"显示 {len(events)} / 共 {total} 条 / showing {len(events)} of {total}")


@audit_cmd.command("export")
@click.argument("file")
@_filter_options
@_db_option
@_cli_errors
def audit_export(file: str, since: str | None, until: str | None, action: str | None,
                 actor: str | None, result: str | None, db: str | None) -> None:
    """Export audit rows to FILE as CSV (UTF-8 with BOM, for Excel), oldest first."""
    if not file.lower().endswith(".csv"):
        raise InvalidInput(f"导出文件应以 .csv 结尾 / the export file must end in .csv: {file}",
                           field="file")
    n = _service(db).export_audit(file, actor=cli_actor(), filters=_filter_values(
        since, until, action, actor, result))
    click.echo(f"已导出 {n} 条审计记录到 {file} / wrote {n} audit rows to {file}")


#: Command groups added to ``locator`` by :mod:`locator.cli.main`.
COMMANDS: list[click.Command] = [users_cmd, tokens_cmd, audit_cmd]

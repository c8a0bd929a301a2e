"""Heat and cold alerts from the command line: ``locator alert add | list | end``.

The command line is a trusted caller (like ``locator users``): changes are audited with
the actor ``cli:<os user>``; ``--as NAME`` acts as a staff account instead, whose role
and district scope are checked. Times without an offset are Beijing time. Bad input
prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import json
from typing import Any

import click

from .staff import _cli_errors, _db_option, _open_store, _table, cli_actor


def _service(db: str | None):
    from ..alerts import AlertService

    return AlertService.for_store(_open_store(db))


def _who(db: str | None, as_user: str | None) -> dict[str, Any]:
    if not as_user:
        return {"actor": cli_actor()}
    from ..staff import AccountService

    return {"by": AccountService(_open_store(db).engine).user(as_user)}


def _local(dt: Any) -> str:
    from ..time_util import zone

    return dt.astimezone(zone()).strftime("%Y-%m-%d %H:%M")


def _line(a: Any, lang: str) -> str:
    d = a.to_dict(lang)
    names = ", " if lang == "en" else "、"
    return (f"{a.id}  {d['level_label']}  {names.join(x['name'] for x in d['districts'])}  "
            f"{_local(a.starts_at)} → {_local(a.until)}  [{d['state']}]  {d['message']}")


@click.group("alert", context_settings={"help_option_names": ["-h", "--help"]})
def alert_cmd() -> None:
    """Heat and cold alerts: add, list, end."""


_as_option = click.option("--as", "as_user", default=None, metavar="NAME",
                          help="Act as this staff account (its role and scope are checked); "
                               "default: the trusted command line, audited as cli:<user>.")


@alert_cmd.command("add")
@click.option("--kind", required=True, help="heat (高温) or cold (寒潮).")
@click.option("--level", required=True,
              help="heat: yellow (35 °C), orange (37 °C), red (40 °C); "
                   "cold: blue, yellow, orange, red.")
@click.option("--district", "districts", multiple=True, required=True, metavar="ADCODE",
              help="A district adcode (repeatable; 320300 = all of Xuzhou).")
@click.option("--start", "starts_at", default=None,
              help="ISO 8601 start; naive = Beijing time [default: now].")
@click.option("--end", "ends_at", required=True,
              help="ISO 8601 end; naive = Beijing time; at most 31 days after the start.")
@click.option("--message", "message_zh", required=True, help="The message riders read (Chinese).")
@click.option("--message-en", "message_en", default=None, help="The message in English.")
@_as_option
@_db_option
@_cli_errors
def alert_add(kind: str, level: str, districts: tuple[str, ...], starts_at: str | None,
              ends_at: str, message_zh: str, message_en: str | None, as_user: str | None,
              db: str | None) -> None:
    """Declare an alert for districts and a time window."""
    svc = _service(db)
    raw = {"kind": kind, "level": level, "districts": list(districts),
           "starts_at": starts_at or svc.clock(), "ends_at": ends_at,
           "message_zh": message_zh, "message_en": message_en}
    a = svc.declare(raw, client="cli", **_who(db, as_user))
    click.echo(f"已发布预警 / alert declared: {_line(a, 'zh')}")


@alert_cmd.command("list")
@click.option("--state", type=click.Choice(["current", "active", "scheduled", "ended", "all"]),
              default="current", show_default=True,
              help="current = active or scheduled.")
@click.option("--district", default=None, metavar="ADCODE",
              help="Only alerts touching this district or city.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per alert, per line.")
@_db_option
@_cli_errors
def alert_list(state: str, district: str | None, lang: str, as_json: bool,
               db: str | None) -> None:
    """List alerts, newest first (times in Beijing time)."""
    svc = _service(db)
    if district is not None and district not in svc.areas:
        from ..alerts import AlertInvalid

        raise AlertInvalid(f"--district {district[:20]!r} 不是已知的行政区划代码",
                           f"--district {district[:20]!r} is not a known adcode; use one of "
                           f"{', '.join(sorted(svc.areas))}", field="district")
    found = svc.listing(state=state, scope=district)
    if as_json:
        for a in found:
            click.echo(json.dumps(a.to_dict(lang), ensure_ascii=False))
        return
    sep = ", " if lang == "en" else "、"
    rows = []
    for a in found:
        d = a.to_dict(lang)
        rows.append((str(a.id), d["level_label"], sep.join(x["name"] for x in d["districts"]),
                     _local(a.starts_at), _local(a.until), d["state"], d["message"]))
    _table(("id", "level", "districts", "starts", "ends", "state", "message"), rows)
    click.echo(f"共 {len(found)} 条 / {len(found)} alert(s)")


@alert_cmd.command("end")
@click.argument("alert_id")
@_as_option
@_db_option
@_cli_errors
def alert_end(alert_id: str, as_user: str | None, db: str | None) -> None:
    """End an alert now."""
    svc = _service(db)
    a = svc.end(alert_id, client="cli", **_who(db, as_user))
    click.echo(f"已结束预警 / alert ended: {_line(a, 'zh')}")


#: Added to ``locator`` by :mod:`locator.cli.main`.
COMMANDS: list[click.Command] = [alert_cmd]

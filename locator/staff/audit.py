"""The audit log: append a row, list rows, export them as CSV.

Every row has the time (UTC), the actor (an account name, ``cli:<os user>``, or the
name a failed login claimed), the client address, the action, its target, the result
(``ok``, ``denied`` or ``failed``) and a JSON detail. The log is append-only (see
:mod:`locator.store.accounts`: database triggers refuse updates and deletes) and nothing
prunes it; it is kept as long as the database, at least 180 days.

Actions written by the accounts core (others may add their own, such as
``station.create``)::

    login  logout  session.expired  password.change
    user.create  user.disable  user.enable  user.role  user.password_reset
    token.create  token.revoke  audit.export

To audit a station write in the same transaction as the write, pass the open
connection::

    with engine.begin() as conn:
        ...  # the write
        audit.record(conn, actor=user.name, action="station.update", target="ST-1",
                     result="ok", client=addr, detail={"version": 3})
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy.engine import Connection, Engine

from ..store.accounts import RESULTS, AuditEvent, insert_audit, utc_now

ACTIONS: tuple[str, ...] = (
    "login", "logout", "session.expired", "password.change",
    "user.create", "user.disable", "user.enable", "user.role", "user.password_reset",
    "token.create", "token.revoke", "audit.export",
)

CSV_COLUMNS = ("id", "at_utc", "actor", "client", "action", "target", "result", "detail")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def record(conn_or_engine: Connection | Engine, *, actor: str, action: str, target: str,
           result: str, client: str | None = None, detail: dict[str, Any] | None = None,
           at: datetime | None = None) -> int:
    """Append one audit row and return its id.

    With an open :class:`~sqlalchemy.engine.Connection` the row is written in that
    connection's transaction (it commits or rolls back with the caller's change); with
    an :class:`~sqlalchemy.engine.Engine`, in a transaction of its own. ``result`` is
    one of ``ok``, ``denied``, ``failed``; ``detail`` must be JSON-serialisable (other
    values are written as their ``str``).
    """
    if result not in RESULTS:
        raise ValueError(f"result {result!r} must be one of {', '.join(RESULTS)}")
    when = at or utc_now()
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.begin() as conn:
            return insert_audit(conn, at=when, actor=actor, action=action, target=target,
                                result=result, client=client, detail=detail)
    return insert_audit(conn_or_engine, at=when, actor=actor, action=action, target=target,
                        result=result, client=client, detail=detail)


def neutralise(cell: str) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (a leading ``'`` before
    ``= + - @``, tab or carriage return)."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _row(e: AuditEvent) -> list[str]:
    import json

    detail = "" if e.detail is None else json.dumps(e.detail, ensure_ascii=False,
                                                    sort_keys=True)
    cells = [str(e.id), e.at.isoformat(timespec="seconds"), e.actor, e.client or "",
             e.action, e.target, e.result, detail]
    return [neutralise(c) for c in cells]


def write_csv(events: Iterable[AuditEvent], out: str | Path | IO[str]) -> int:
    """Write ``events`` as CSV in UTF-8 with a BOM (so Excel reads the Chinese); returns
    the number of rows. ``out`` is a path or a text stream."""
    if isinstance(out, (str, Path)):
        with open(out, "w", encoding="utf-8-sig", newline="") as f:
            return _write(events, f)
    out.write("\ufeff")
    return _write(events, out)


def _write(events: Iterable[AuditEvent], f: IO[str]) -> int:
    w = csv.writer(f)
    w.writerow(CSV_COLUMNS)
    n = 0
    for e in events:
        w.writerow(_row(e))
        n += 1
    return n


def csv_text(events: Iterable[AuditEvent]) -> str:
    """The CSV of :func:`write_csv` as a string (BOM included), for a download."""
    buf = io.StringIO(newline="")
    write_csv(events, buf)
    return buf.getvalue()

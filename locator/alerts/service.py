"""Declaring, changing, ending and finding heat and cold alerts (no Flask).

:class:`AlertService` is what the staff pages, the REST API and the CLI call. A write
names who acts: ``by=`` a logged-in account, whose role (editor or higher: editor,
reviewer, admin) and district scope are checked against *every* area of the alert,
before and after a change; or ``actor=`` a trusted caller such as the command line
(``cli:<os user>``). Each write and its audit row (``alert.create``, ``alert.update``,
``alert.end``; target ``alert:<id>``) commit in one transaction; a refusal is audited as
``denied``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..staff.errors import Forbidden
from ..staff.roles import (
    ROLE_NAMES,
    HasRole,
    describe_area,
    describe_scope,
    in_scope,
    role_at_least,
)
from ..store.accounts import insert_audit, utc_now
from ..store.alerts import ALERTS, ensure_schema, join_districts, row_values
from .model import (
    Alert,
    AlertConflict,
    AlertInvalid,
    AlertNotFound,
    alert_fields,
    most_severe,
    shipped_areas,
)

#: The lowest role that may declare, change and end alerts (within its scope).
MIN_ROLE = "editor"
#: What the staff list and ``locator alert list`` can show.
STATES: tuple[str, ...] = ("current", "active", "scheduled", "ended", "all")


class AlertService:
    """Alerts in a station database.

    Parameters
    ----------
    engine
        The database (the station store's engine); the table is created on first use.
    writer
        The engine writes go through (the store's serialised writer on SQLite); default
        ``engine``.
    clock
        Now, as an aware datetime (tests move it by hand).
    areas
        The adcodes an alert may name, with their names (default: the shipped Xuzhou
        districts, the city and the province).
    """

    def __init__(self, engine: Engine, *, writer: Engine | None = None,
                 clock: Callable[[], datetime] = utc_now,
                 areas: Mapping[str, tuple[str, str]] | None = None):
        self.engine = engine
        self.writer = writer or engine
        self.clock = clock
        self.areas = dict(areas) if areas is not None else shipped_areas()
        ensure_schema(self.engine)
        if self.writer is not self.engine:
            ensure_schema(self.writer)

    @classmethod
    def for_store(cls, store: Any, **kw: Any) -> AlertService:
        """The service on a :class:`~locator.store.StationStore`'s engines."""
        return cls(store.engine, writer=getattr(store, "_writer", store.engine), **kw)

    # ------------------------------------------------------------------ rights
    def may_manage(self, user: HasRole | None, districts: Iterable[str] = ()) -> bool:
        """Whether ``user`` may declare or change an alert over ``districts`` (with no
        districts: whether it may manage alerts anywhere)."""
        if user is None or user.disabled or not role_at_least(user.role, MIN_ROLE):
            return False
        return all(in_scope(user.scope, d) for d in districts)

    def check_rights(self, user: HasRole | None, districts: Iterable[str]) -> None:
        """Raise :class:`Forbidden` naming the missing role or the first area outside
        the account's scope."""
        codes = list(districts)
        if self.may_manage(user, codes):
            return
        if user is None or user.disabled:
            raise Forbidden("账号已停用或未登录，不能发布预警",
                            "the account is disabled or not logged in; it cannot declare "
                            "alerts", right="alert.manage")
        if not role_at_least(user.role, MIN_ROLE):
            zh_role, en_role = ROLE_NAMES.get(user.role, (user.role, user.role))
            raise Forbidden(
                f"账号角色为 {user.role}（{zh_role}），不能发布或修改高温、寒潮预警；需要 "
                f"{MIN_ROLE} 或更高角色",
                f"role {user.role} ({en_role}) cannot declare or change heat and cold alerts;"
                f" it needs {MIN_ROLE} or higher", right="alert.manage", scope=user.scope)
        outside = next(d for d in codes if not in_scope(user.scope, d))
        raise Forbidden(
            f"账号权限范围为 {describe_scope(user.scope)}，不能为 {describe_area(outside)} "
            "发布或修改预警",
            f"the account's scope is {describe_scope(user.scope, 'en')}; it cannot declare "
            f"or change alerts for {describe_area(outside, 'en')}",
            right="alert.manage", scope=user.scope)

    def _checked(self, by: Any, actor: str | None, districts: Iterable[str], *,
                 action: str, target: str, client: str | None) -> str:
        """Who acts (``by``'s name or ``actor``), after the rights check; a refusal is
        audited as ``denied``."""
        if (by is None) == (actor is None):
            raise TypeError("give exactly one of by= (a logged-in user) or actor= (a name)")
        if by is None:
            return str(actor)
        try:
            self.check_rights(by, districts)
        except Forbidden as e:
            with self.writer.begin() as conn:
                insert_audit(conn, at=self.clock(), actor=by.name, action=action,
                             target=target, result="denied", client=client,
                             detail={"reason": e.en, "districts": list(districts)})
            raise
        return str(by.name)

    # ------------------------------------------------------------------ reads
    def get(self, alert_id: Any) -> Alert:
        aid = _alert_id(alert_id)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(ALERTS).where(ALERTS.c.id == aid)).first()
        if row is None:
            raise AlertNotFound(alert_id)
        return Alert(**row_values(row))

    def all(self) -> list[Alert]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(ALERTS).order_by(ALERTS.c.id.desc())).all()
        return [Alert(**row_values(r)) for r in rows]

    def listing(self, *, state: str = "current", at: datetime | None = None,
                scope: str | None = None) -> list[Alert]:
        """Alerts in a state at ``at`` (default now), newest first: ``current`` (active
        or scheduled), ``active``, ``scheduled``, ``ended`` or ``all``; with ``scope``,
        only those touching that scope."""
        if state not in STATES:
            raise AlertInvalid(f"状态（state）{state[:20]!r} 无效；可选：{'、'.join(STATES)}",
                               f"state {state[:20]!r} is not valid; use one of "
                               f"{', '.join(STATES)}", field="state")
        when = self._at(at)
        q = sa.select(ALERTS).order_by(ALERTS.c.starts_at.desc(), ALERTS.c.id.desc())
        if state in ("current", "active", "scheduled"):
            q = q.where(ALERTS.c.ends_at > when)  # cheap first cut; exact test below
        with self.engine.connect() as conn:
            found = [Alert(**row_values(r)) for r in conn.execute(q)]
        if state == "current":
            found = [a for a in found if a.state(when) != "ended"]
        elif state != "all":
            found = [a for a in found if a.state(when) == state]
        if scope:
            found = [a for a in found if a.overlaps(scope)]
        return found

    def active(self, *, at: datetime | None = None, adcode: str | None = None,
               area: str | None = None) -> list[Alert]:
        """Alerts active at ``at`` (default now), most severe first; with ``adcode``
        (the district a rider is in) only those covering it; with ``area`` (a district
        or a city) those that overlap it."""
        found = self.listing(state="active", at=at)
        if adcode is not None:
            found = [a for a in found if a.covers(adcode)]
        if area is not None:
            found = [a for a in found if a.overlaps(area)]
        return most_severe(found)

    def _at(self, at: datetime | None) -> datetime:
        when = at or self.clock()
        return when.astimezone(timezone.utc) if when.tzinfo else when.replace(
            tzinfo=timezone.utc)

    # ------------------------------------------------------------------ writes
    def declare(self, raw: Mapping[str, Any], *, by: Any = None, actor: str | None = None,
                client: str | None = None) -> Alert:
        """Store a new alert from its fields (:func:`~locator.alerts.model.alert_fields`)."""
        now = self._at(None)
        fields = alert_fields(raw, now=now, areas=self.areas)
        who = self._checked(by, actor, fields["districts"], action="alert.create",
                            target="alert:new", client=client)
        with self.writer.begin() as conn:
            key = conn.execute(ALERTS.insert().values(
                **{**fields, "districts": join_districts(fields["districts"])},
                created_by=who, created_at=now, updated_by=who, updated_at=now,
                version=1)).inserted_primary_key
            assert key is not None
            aid = int(key[0])
            self._audit(conn, who, "alert.create", aid, client, _detail(fields))
        return self.get(aid)

    def update(self, alert_id: Any, raw: Mapping[str, Any], *, by: Any = None,
               actor: str | None = None, client: str | None = None,
               expected_version: int | None = None) -> Alert:
        """Change the fields given in ``raw``; the account must hold the rights for the
        alert's areas before *and* after. 409 (:class:`AlertConflict`) for an alert that
        has ended or a stale ``expected_version``."""
        now = self._at(None)
        cur = self.get(alert_id)
        target = f"alert:{cur.id}"
        self._checked(by, actor, cur.districts, action="alert.update", target=target,
                      client=client)
        if cur.state(now) == "ended":
            raise AlertConflict(f"预警 {cur.id} 已结束，不能再修改；请发布新的预警",
                                f"alert {cur.id} has ended and cannot be changed; declare a "
                                "new one")
        fields = alert_fields(raw, now=now, current=cur, areas=self.areas)
        who = self._checked(by, actor, fields["districts"], action="alert.update",
                            target=target, client=client)
        changed = {k: v for k, v in fields.items() if getattr(cur, k) != v}
        with self.writer.begin() as conn:
            q = ALERTS.update().where(ALERTS.c.id == cur.id)
            if expected_version is not None:
                q = q.where(ALERTS.c.version == expected_version)
            else:
                q = q.where(ALERTS.c.version == cur.version)
            values = {**changed, "updated_by": who, "updated_at": now,
                      "version": ALERTS.c.version + 1}
            if "districts" in values:
                values["districts"] = join_districts(values["districts"])
            if conn.execute(q.values(**values)).rowcount != 1:
                raise AlertConflict(
                    f"预警 {cur.id} 已被他人修改（现为第 {cur.version} 版），请刷新后再改",
                    f"alert {cur.id} was changed meanwhile (it is at version {cur.version});"
                    " reload it and try again")
            self._audit(conn, who, "alert.update", cur.id, client,
                        {"changed": sorted(changed), **_detail(changed)})
        return self.get(cur.id)

    def end(self, alert_id: Any, *, by: Any = None, actor: str | None = None,
            client: str | None = None) -> Alert:
        """End an alert now (a scheduled one is cancelled: it never becomes active)."""
        now = self._at(None)
        cur = self.get(alert_id)
        who = self._checked(by, actor, cur.districts, action="alert.end",
                            target=f"alert:{cur.id}", client=client)
        if cur.state(now) == "ended":
            raise AlertConflict(f"预警 {cur.id} 已经结束", f"alert {cur.id} has already ended")
        with self.writer.begin() as conn:
            n = conn.execute(ALERTS.update().where(ALERTS.c.id == cur.id,
                                                   ALERTS.c.ended_at.is_(None)).values(
                ended_at=now, ended_by=who, updated_by=who, updated_at=now,
                version=ALERTS.c.version + 1)).rowcount
            if n != 1:
                raise AlertConflict(f"预警 {cur.id} 已经结束",
                                    f"alert {cur.id} has already ended")
            self._audit(conn, who, "alert.end", cur.id, client,
                        {"was": cur.state(now), "planned_end": cur.ends_at.isoformat()})
        return self.get(cur.id)

    def _audit(self, conn: Connection, who: str, action: str, aid: int,
               client: str | None, detail: dict[str, Any]) -> None:
        insert_audit(conn, at=self.clock(), actor=who, action=action, target=f"alert:{aid}",
                     result="ok", client=client, detail=detail)


def _alert_id(value: Any) -> int:
    s = str(value).strip()
    if not s.isdigit() or len(s) > 12:
        raise AlertNotFound(str(value)[:20])
    return int(s)


def _detail(fields: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in fields.items():
        if isinstance(v, datetime):
            out[k] = v.isoformat()
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            out[k] = v
    return out

"""Staff writes to stations: rights and scope checked, districts filled in, duplicates
warned about, every write audited in its own transaction.

:class:`StationEditor` is what the staff pages, the REST API and the CLI call; it holds
no Flask. Each write checks the account's right for the district the station is in
*and* for the district it would move to, and writes its audit row through the store's
write hook, so that the change and its audit entry commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from ..errors import InvalidInput, NotFound
from ..stations.model import EDITABLE_FIELDS, Station, station_from_dict
from ..store.accounts import User, insert_audit, utc_now
from ..store.registry import Registry
from ..store.sql import WriteHook, apply_changes
from .errors import Bilingual
from .roles import require

#: Fields compared in a history diff (what a user can see change).
DIFF_FIELDS: tuple[str, ...] = EDITABLE_FIELDS[1:]


class DuplicateSuspected(Bilingual, InvalidInput):
    """A new or moved station looks like one that exists; ``hits`` say which. Saving again
    with ``confirm_duplicates`` stores it anyway (and the confirmation is audited)."""

    def __init__(self, hits: list[Any]):
        self.hits = hits
        self.zh = "；".join(h.message("zh") for h in hits)
        self.en = "; ".join(h.message("en") for h in hits)
        super().__init__(f"{self.zh} / {self.en}", field="duplicates")


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class HistoryEntry:
    """One version of a station's history, with what changed against the one before."""

    hid: int
    op: str
    version: int | None
    actor: str
    at: Any
    batch: str | None
    changes: tuple[FieldChange, ...]
    after: dict[str, Any] | None


def _chain(first: WriteHook, then: WriteHook | None) -> WriteHook:
    """One write hook running ``first`` and then ``then`` (when given)."""
    if then is None:
        return first

    def hook(conn: Connection, stored: list[Station]) -> None:
        first(conn, stored)
        then(conn, stored)
    return hook


def field_diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
               ) -> tuple[FieldChange, ...]:
    """Field-by-field changes between two stored records (JSON form)."""
    b, a = before or {}, after or {}
    out = []
    for f in DIFF_FIELDS:
        if b.get(f) != a.get(f):
            out.append(FieldChange(f, b.get(f), a.get(f)))
    return tuple(out)


class StationEditor:
    """Station writes on behalf of a staff account.

    Parameters
    ----------
    registry
        The store and index the writes go to.
    districts
        A callable ``(lon, lat) -> (adcode, name) | None`` (WGS-84) used to fill in the
        district of a station that has none; None leaves districts as given.
    duplicates
        A callable ``(candidate: Station, exclude_id: str | None) -> list[hit]`` whose
        hits have ``message(lang)``; None skips the check.
    """

    def __init__(self, registry: Registry, *,
                 districts: Callable[[float, float], tuple[str, str] | None] | None = None,
                 duplicates: Callable[[Station, str | None], list[Any]] | None = None):
        self.registry = registry
        self.districts = districts
        self.duplicates = duplicates

    # ------------------------------------------------------------------ helpers
    def _hook(self, user: User, action: str, client: str | None,
              detail: dict[str, Any] | None = None):
        def hook(conn: Connection, stored: list[Station]) -> None:
            for s in stored:
                insert_audit(conn, at=utc_now(), actor=user.actor, action=action,
                             target=f"station:{s.id}", result="ok", client=client,
                             detail={"version": s.version, **(detail or {})})
        return hook

    def _fill_district(self, given: Mapping[str, Any], st: Station, *, locate: bool
                       ) -> Station:
        """Fill in the district from the boundaries when the caller did not set one and
        the station is new or has moved (outside every district: none). A caller that
        sets ``district_adcode`` (even to ``""``, "no district") with ``locate_district``
        off keeps its choice."""
        if self.districts is None or not locate or str(given.get("district_adcode") or ""
                                                       ).strip():
            return st
        found = self.districts(st.lon, st.lat)
        if found is None:
            return st.evolve(district_adcode="", district_name="")
        return st.evolve(district_adcode=found[0], district_name=found[1])

    def _check_duplicates(self, st: Station, exclude: str | None, confirm: bool,
                          reasons: set[str] | None = None) -> list[Any]:
        if self.duplicates is None:
            return []
        hits = self.duplicates(st, exclude)
        if reasons is not None:
            hits = [h for h in hits if getattr(h, "reason", None) in reasons]
        if hits and not confirm:
            raise DuplicateSuspected(hits)
        return hits

    @staticmethod
    def _hits_detail(hits: list[Any]) -> dict[str, Any]:
        if not hits:
            return {}
        return {"duplicates_confirmed": [getattr(h, "station_id", None)
                                         or getattr(getattr(h, "station", None), "id", None)
                                         for h in hits]}

    # ------------------------------------------------------------------ writes
    def create(self, user: User, data: Mapping[str, Any], *, crs: str = "wgs84",
               client: str | None = None, confirm_duplicates: bool = False,
               locate_district: bool = True) -> Station:
        """Validate and store a new station (``source`` defaults to ``staff``)."""
        raw = {k: v for k, v in data.items() if v not in (None, "")}
        st = station_from_dict(raw, crs=crs, default_source="staff")
        st = self._fill_district(raw, st, locate=locate_district)
        require(user, "station.write", st.district_adcode)
        hits = self._check_duplicates(st, None, confirm_duplicates)
        return self.registry.add(st, actor=user.actor,
                                 hook=self._hook(user, "station.create", client,
                                                 self._hits_detail(hits)))

    def update(self, user: User, sid: str, changes: Mapping[str, Any], *,
               expected_version: int | None, crs: str = "wgs84", client: str | None = None,
               confirm_duplicates: bool = False, locate_district: bool = True,
               extra_hook: WriteHook | None = None) -> Station:
        """Change fields of a station the account may edit, where it is and where it
        goes. ``expected_version`` (the version the editor saw) guards against lost
        updates: a stale one raises :class:`~locator.errors.Conflict`. ``extra_hook``
        runs in the write's transaction after the audit row (e.g. resolving the riders'
        reports the edit fixes, so that both commit together); like every hook it does
        not run when the edit changes nothing."""
        old = self.registry.store.get(sid)
        require(user, "station.write", old.district_adcode)
        st = apply_changes(old, changes, crs=crs)
        moved = (st.lon, st.lat) != (old.lon, old.lat)
        st = self._fill_district(changes, st, locate=moved and locate_district)
        if st.district_adcode != old.district_adcode:
            require(user, "station.write", st.district_adcode)
        # On an edit, only what the edit changes can make a new duplicate: a move or a new
        # type (same type nearby), a move or a new name (similar name nearby).
        reasons = set()
        if moved or st.type != old.type:
            reasons.add("same_type_near")
        if moved or st.name != old.name:
            reasons.add("similar_name_near")
        hits = self._check_duplicates(st, sid, confirm_duplicates, reasons) if reasons else []
        fields = {f: getattr(st, f) for f in EDITABLE_FIELDS[1:]}
        return self.registry.update(sid, fields, actor=user.actor,
                                    expected_version=expected_version,
                                    hook=_chain(self._hook(user, "station.update", client,
                                                           self._hits_detail(hits)),
                                                extra_hook))

    def set_status(self, user: User, sid: str, status: str, *, expected_version: int | None,
                   client: str | None = None, extra_hook: WriteHook | None = None
                   ) -> Station:
        """Close (``closed``, ``temporarily_closed``) or reopen (``open``) a station
        (``extra_hook`` as for :meth:`update`)."""
        old = self.registry.store.get(sid)
        require(user, "station.write", old.district_adcode)
        return self.registry.update(sid, {"status": status}, actor=user.actor,
                                    expected_version=expected_version,
                                    hook=_chain(self._hook(user, "station.status", client,
                                                           {"status": status}), extra_hook))

    def delete(self, user: User, sid: str, *, expected_version: int | None = None,
               client: str | None = None) -> Station:
        old = self.registry.store.get(sid)
        require(user, "station.write", old.district_adcode)
        return self.registry.delete(sid, actor=user.actor, expected_version=expected_version,
                                    hook=self._hook(user, "station.delete", client))

    def restore(self, user: User, sid: str, *, client: str | None = None) -> Station:
        old = self.registry.store.get(sid, include_deleted=True)
        require(user, "station.write", old.district_adcode)
        return self.registry.restore(sid, actor=user.actor,
                                     hook=self._hook(user, "station.restore", client))

    def restore_version(self, user: User, sid: str, version: int, *,
                        expected_version: int | None, client: str | None = None) -> Station:
        old = self.registry.store.get(sid)
        require(user, "station.write", old.district_adcode)
        rec = self.registry.store.version_record(sid, version)
        require(user, "station.write", rec.get("district_adcode") or "")
        return self.registry.restore_version(
            sid, version, actor=user.actor, expected_version=expected_version,
            hook=self._hook(user, "station.restore_version", client, {"from": version}))

    # ------------------------------------------------------------------ reads
    def history(self, sid: str, *, limit: int = 200) -> list[HistoryEntry]:
        """The station's versions, newest first, each with its field changes."""
        rows = self.registry.store.history(sid, limit=limit)
        if not rows:
            raise NotFound(f"station {sid!r} does not exist")
        out = []
        for r in rows:
            out.append(HistoryEntry(
                hid=r["hid"], op=r["op"], version=r.get("version"), actor=r["actor"],
                at=r["at"], batch=r.get("batch"),
                # a delete or restore changes no field: it hides or shows the whole record
                changes=() if r["op"] in ("delete", "restore")
                else field_diff(r["before"], r["after"]),
                after=r["after"]))
        return out

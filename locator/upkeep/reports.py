"""Riders' reports of stations that are not as the map says, and their review.

A rider reports a station (no login): locked or closed, not at this location (with an
optional corrected position), wrong hours, an amenity missing or broken (which one), or
something else, with an optional note. The reporter's address is kept only as a salted
hash (:func:`locator.store.upkeep.client_hash`), used for the rate limit and to
de-duplicate: a client's second report of the same kind about the same station, while
the first is still open, returns the first (so a flood from one client adds nothing).

The "reported closed" flag
--------------------------
When ``report_closed_threshold`` (3) or more *different* clients have open "locked /
closed" reports on a station, made within ``report_window_days`` (7), the station is
flagged (:attr:`Station.reported_closed_at`, written as a station version so that every
worker's index gets it through the change log). Riders still see it, marked, ranked after
unflagged stations. The flag stays until a reviewer acts: resolving or dismissing reports
re-evaluates it (against all open "locked" reports, whatever their age), and it is cleared
once fewer than the threshold remain open.

Review
------
Reports go ``new`` -> ``under_review`` -> ``resolved`` (the fix applied; linked to the
station version it produced) or ``dismissed``. Every review action is audited in the
same transaction as the status change.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import InvalidInput, NotFound
from ..settings import Settings, load_settings
from ..staff.errors import BilingualInvalid, RateLimited
from ..staff.roles import in_scope, require, scope_prefix
from ..stations.codes import ALPHABET
from ..stations.coords import validate_lonlat
from ..stations.model import Station
from ..stations.vocab import AMENITIES
from ..store.accounts import User, insert_audit, utc_now
from ..store.registry import Registry
from ..store.upkeep import (
    OPEN_REPORT_STATUSES,
    REPORT_KINDS,
    REPORT_STATUSES,
    REPORTS,
    client_hash,
    ensure_schema,
)

#: Labels of the report kinds (zh, en), for pages and messages.
KIND_LABELS: dict[str, tuple[str, str]] = {
    "locked": ("锁门 / 关闭", "locked / closed"),
    "not_here": ("不在这个位置", "not at this location"),
    "wrong_hours": ("开放时间不对", "wrong opening hours"),
    "amenity": ("设施缺失或损坏", "amenity missing or broken"),
    "other": ("其他问题", "something else"),
}
STATUS_LABELS: dict[str, tuple[str, str]] = {
    "new": ("已收到，待处理", "received, not yet handled"),
    "under_review": ("工会正在核实", "the union is checking"),
    "resolved": ("已处理，信息已更新", "resolved; the record was updated"),
    "dismissed": ("已核实，未发现问题", "checked; no problem found"),
}
#: Who the flag's station versions are written as.
SYSTEM_ACTOR = "system:rider-reports"
MAX_NOTE = 500
#: A corrected position farther than this from the recorded one is refused (a typo or a
#: different station, not a correction).
MAX_CORRECTION_M = 5000.0


class ReportInvalid(BilingualInvalid):
    """Bad report input, naming the field, in Chinese and English."""


class TooManyReports(RateLimited, InvalidInput):
    """The client sent more reports than the hourly limit; retry after ``retry_after`` s.
    (Also bad input, of the field ``client``; answered 429 as every :class:`RateLimited`.)"""

    title = "反馈太频繁 / Too many reports"
    kind = "report-rate-limited"

    def __init__(self, retry_after: int):
        minutes = max(1, max(1, int(retry_after)) // 60)
        super().__init__(f"反馈太频繁，请 {minutes} 分钟后再试",
                         f"too many reports from this device; try again in {minutes} min",
                         retry_after=retry_after)
        self.field = "client"


@dataclass(frozen=True)
class Report:
    id: int
    ref: str
    station_id: str
    kind: str
    amenity: str | None
    note: str | None
    lon: float | None
    lat: float | None
    lang: str
    status: str
    created_at: datetime
    updated_at: datetime
    handled_by: str | None
    resolution: str | None
    station_version: int | None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_REPORT_STATUSES

    def kind_label(self, lang: str = "zh") -> str:
        zh, en = KIND_LABELS[self.kind]
        text = en if lang == "en" else zh
        amenity = self.amenity
        if self.kind == "amenity" and amenity is not None and amenity in AMENITIES:
            text += f"：{AMENITIES[amenity].label(lang)}" if lang != "en" else \
                f": {AMENITIES[amenity].label('en')}"
        elif self.kind == "amenity" and amenity == OTHER_AMENITY:
            text += ": other" if lang == "en" else "：其他"
        return text

    def status_label(self, lang: str = "zh") -> str:
        zh, en = STATUS_LABELS[self.status]
        return en if lang == "en" else zh

    def public_dict(self, lang: str = "zh") -> dict[str, Any]:
        """What the reporter may see at the status link (nothing about other reports or
        about who handled it)."""
        return {"ref": self.ref, "station_id": self.station_id, "kind": self.kind,
                "kind_label": self.kind_label(lang), "amenity": self.amenity,
                "status": self.status, "status_label": self.status_label(lang),
                "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat(),
                "resolution": self.resolution if self.status in ("resolved", "dismissed")
                else None}


@dataclass(frozen=True)
class StationReports:
    """One station's reports in the review queue."""

    station: Station | None  # None: the station was deleted
    station_id: str
    reports: tuple[Report, ...]

    @property
    def open_count(self) -> int:
        return sum(r.is_open for r in self.reports)

    @property
    def latest(self) -> datetime:
        return max(r.created_at for r in self.reports)


def _utc(dt: datetime) -> datetime:
    from datetime import timezone

    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt


def _report(row: Any) -> Report:
    return Report(id=row.id, ref=row.ref, station_id=row.station_id, kind=row.kind,
                  amenity=row.amenity, note=row.note, lon=row.lon, lat=row.lat,
                  lang=row.lang, status=row.status, created_at=_utc(row.created_at),
                  updated_at=_utc(row.updated_at), handled_by=row.handled_by,
                  resolution=row.resolution, station_version=row.station_version)


def new_ref() -> str:
    """A public reference number: ``R`` and 8 random base-32 characters (40 random bits)."""
    n = secrets.randbits(40)
    return "R" + "".join(ALPHABET[(n >> shift) & 31] for shift in range(35, -1, -5))


def normalize_ref(ref: str) -> str:
    from ..stations.codes import normalize_code

    s = normalize_code(ref or "")
    return s if s.startswith("R") else "R" + s


# The intake path's statements, built once (building a statement per request costs more
# than running it). One read answers both intake questions: the client's reports within
# the rate-limit hour and its open reports on this station (for de-duplication); the
# client-hash index bounds it to a handful of rows.
_CLIENT_REPORTS = sa.select(REPORTS).where(
    REPORTS.c.client_hash == sa.bindparam("who"),
    sa.or_(REPORTS.c.created_at >= sa.bindparam("since"),
           sa.and_(REPORTS.c.station_id == sa.bindparam("sid"),
                   REPORTS.c.status.in_(OPEN_REPORT_STATUSES))),
).order_by(REPORTS.c.id)
_INSERT_REPORT = REPORTS.insert()
#: PostgreSQL: one client's intake at a time, across workers and hosts (a key space of
#: its own: 0x5250 "RP", 28 bits of the client hash).
_CLIENT_LOCK = sa.text("SELECT pg_advisory_xact_lock(20816, :k)")


def _locked_clients_query(since: bool) -> sa.Select:
    q = sa.select(sa.func.count(sa.distinct(REPORTS.c.client_hash))).where(
        REPORTS.c.station_id == sa.bindparam("sid"), REPORTS.c.kind == "locked",
        REPORTS.c.status.in_(OPEN_REPORT_STATUSES))
    return q.where(REPORTS.c.created_at >= sa.bindparam("since")) if since else q


_LOCKED_CLIENTS = {True: _locked_clients_query(True), False: _locked_clients_query(False)}
#: When the rate limit is off, "within the hour" must select nothing on its own.
_NEVER = datetime(9999, 1, 1, tzinfo=timezone.utc)


def _lock_clients(conn: Connection, batch: list[_Pending]) -> None:
    """On PostgreSQL, hold each of the batch's clients' advisory locks until the commit,
    taken in one order (no deadlock between two workers' batches): another worker's or
    host's intake for the same client waits, so that the rate limit and de-duplication
    count its committed rows, never rows it is inserting meanwhile. (SQLite serialises
    writers by itself.)"""
    if conn.dialect.name != "postgresql":
        return
    for k in sorted({int(it.row["client_hash"][:7], 16) for it in batch}):
        conn.execute(_CLIENT_LOCK, {"k": k})


@dataclass
class _Pending:
    """One validated report waiting for the intake transaction (see ``_store_together``)."""

    row: dict[str, Any]
    since: datetime  # the rate limit's hour begins here (_NEVER: no limit)
    flag_window: datetime
    flagged: bool  # the station is flagged already (as this worker's index says)
    done: bool = False
    report: Report | None = None
    created: bool = False
    raise_flag: bool = False
    error: BaseException | None = None


class ReportService:
    """Riders' reports on a registry's stations: intake, the flag rule and review.

    Intake commits together: reports arriving while another is being written wait and
    are then stored by one transaction (one commit, one disk flush for all of them;
    group commit). Each still gets its own de-duplication and rate-limit check, in
    arrival order, so the outcome is the same as one transaction each; a report is
    answered only once its transaction has committed.
    """

    def __init__(self, registry: Registry, *, settings: Settings | None = None,
                 clock: Callable[[], datetime] = utc_now):
        self.registry = registry
        self.engine = registry.store.engine
        self.settings = settings or load_settings()
        self.clock = clock
        ensure_schema(self.engine)
        if registry.store._writer is not self.engine:
            ensure_schema(registry.store._writer)
        self._waiting: list[_Pending] = []
        self._waiting_lock = threading.Lock()
        self._writing = threading.Lock()  # held by the thread writing a batch

    # ------------------------------------------------------------------ intake
    def submit(self, station_id: str, kind: str, *, client: str, amenity: str | None = None,
               note: str | None = None, lon: Any = None, lat: Any = None,
               crs: str = "wgs84", lang: str = "zh") -> tuple[Report, bool]:
        """Record a rider's report; returns ``(report, created)`` (``created`` is False
        when the same client's open report of the same kind was returned instead).

        Raises :class:`ReportInvalid` (400) naming the field, :class:`NotFound` for an
        unknown or deleted station, :class:`TooManyReports` (429) past the rate limit.
        """
        kind = _string(kind, "kind").strip()
        if not kind:
            raise ReportInvalid("请选择遇到的问题（如“锁门 / 关闭”）",
                                "choose what is wrong (e.g. 'locked / closed')", field="kind")
        if kind not in REPORT_KINDS:
            raise ReportInvalid(
                f"反馈类型 {kind!r} 无效；可选：{'、'.join(REPORT_KINDS)}",
                f"kind {kind!r} is not valid; use one of {', '.join(REPORT_KINDS)}",
                field="kind")
        sid = _string(station_id, "station_id").strip()
        if not sid:
            raise ReportInvalid("请指明站点", "station_id is required", field="station_id")
        crs = _string(crs, "crs") or "wgs84"
        lang = _string(lang, "lang")
        # The in-memory index holds every station that is not deleted, in step with the
        # store within the change-log interval: no database read on the intake path.
        try:
            st = self.registry.index.get(sid)
        except NotFound:
            st = self.registry.store.get(sid)  # NotFound for unknown/deleted
        amen = None
        if kind == "amenity":
            amen = _amenity(_string(amenity, "amenity").strip(), st)
        elif amenity not in (None, ""):
            raise ReportInvalid("只有“设施缺失或损坏”的反馈才需要填写设施",
                                "amenity is only for kind 'amenity'", field="amenity")
        text = _note(note)
        plon = plat = None
        if lon not in (None, "") or lat not in (None, ""):
            if kind != "not_here":
                raise ReportInvalid("只有“不在这个位置”的反馈才能附带位置",
                                    "a position is only for kind 'not_here'", field="lon")
            plon, plat = _position(lon, lat, crs, st)
        lang = "en" if str(lang).lower().startswith("en") else "zh"
        who = client_hash(self.engine, client)
        now = self.clock()
        limit = self.settings.report_rate_limit
        item = _Pending(
            row=dict(ref=new_ref(), station_id=st.id, kind=kind, amenity=amen, note=text,
                     lon=plon, lat=plat, client_hash=who, lang=lang, status="new",
                     created_at=now, updated_at=now),
            since=now - timedelta(hours=1) if limit > 0 else _NEVER,
            flag_window=now - timedelta(days=self.settings.report_window_days),
            flagged=st.reported_closed_at is not None)
        self._store_together(item)
        if item.error is not None:
            raise item.error
        if item.raise_flag:
            self._raise_flag(st.id, item.flag_window)
        assert item.report is not None
        return item.report, item.created

    def _store_together(self, item: _Pending) -> None:
        """Store ``item`` with whatever other reports are waiting, in one transaction.
        The thread that gets the write turn takes every waiting report; the others find
        theirs done when their turn comes (group commit)."""
        with self._waiting_lock:
            self._waiting.append(item)
        with self._writing:
            if item.done:
                return
            with self._waiting_lock:
                batch, self._waiting = self._waiting, []
            try:
                with self.registry.store._writer.begin() as conn:
                    _lock_clients(conn, batch)
                    for it in batch:
                        self._intake(conn, it)
            except BaseException as e:  # nothing of the batch was stored
                for it in batch:
                    it.report, it.error, it.raise_flag = None, e, False
            finally:
                for it in batch:
                    it.done = True

    def _intake(self, conn: Connection, it: _Pending) -> None:
        """One report's checks and insert, inside the batch's transaction."""
        row = it.row
        sid, kind, now = row["station_id"], row["kind"], row["created_at"]
        threshold = max(1, self.settings.report_closed_threshold)
        mine = conn.execute(_CLIENT_REPORTS, {"who": row["client_hash"], "since": it.since,
                                              "sid": sid}).all()
        # A repeat is answered with the first report (so a double tap is never a 429);
        # only new reports count toward the rate limit.
        dup = next((r for r in mine if r.station_id == sid and r.kind == kind
                    and r.status in OPEN_REPORT_STATUSES
                    and (r.amenity or "") == (row["amenity"] or "")), None)
        if dup is not None:
            it.report, it.created = _report(dup), False
            # A repeated "locked" report retries the flag, in case the first one's flag
            # write failed after the report was stored (a database outage).
            it.raise_flag = (kind == "locked" and not it.flagged and self._locked_clients(
                conn, sid, it.flag_window) >= threshold)
            return
        limit = self.settings.report_rate_limit
        if limit > 0:
            recent = sorted(t for t in (_utc(r.created_at) for r in mine) if t >= it.since)
            if len(recent) >= limit:
                retry = recent[-limit] + timedelta(hours=1) - now
                it.error = TooManyReports(int(retry.total_seconds()) + 1)
                return
        pk = conn.execute(_INSERT_REPORT, row).inserted_primary_key
        rid = pk[0] if pk else conn.execute(
            sa.select(REPORTS.c.id).where(REPORTS.c.ref == row["ref"])).scalar_one()
        it.report = Report(
            id=int(rid), ref=row["ref"], station_id=sid, kind=kind, amenity=row["amenity"],
            note=row["note"], lon=row["lon"], lat=row["lat"], lang=row["lang"],
            status="new", created_at=now, updated_at=now, handled_by=None, resolution=None,
            station_version=None)
        it.created = True
        # The flag rule's count, read in the same transaction as the insert.
        it.raise_flag = (kind == "locked"
                         and self._locked_clients(conn, sid, it.flag_window) >= threshold)

    # ------------------------------------------------------------------ the flag
    def _locked_clients(self, conn: Connection, sid: str, since: datetime | None) -> int:
        return int(conn.execute(_LOCKED_CLIENTS[since is not None],
                                {"sid": sid, "since": since}).scalar_one())

    def _raise_flag(self, sid: str, since: datetime) -> Station | None:
        """Flag the station, if its reports (checked again in the write transaction) still
        reach the threshold and it is not flagged already."""
        threshold = max(1, self.settings.report_closed_threshold)
        return self.registry.set_reported_closed(
            sid, self.clock(), actor=SYSTEM_ACTOR,
            only_if=lambda c: self._locked_clients(c, sid, since) >= threshold)

    def clear_flag_if_below(self, sid: str) -> Station | None:
        """After a review action: clear the station's "reported closed" flag once fewer
        than the threshold of its "locked" reports are still open (whatever their age);
        returns the new station version when the flag changed. (The flag is raised on
        intake, by :meth:`_raise_flag`.)"""
        threshold = max(1, self.settings.report_closed_threshold)
        with self.engine.connect() as conn:
            n = self._locked_clients(conn, sid, None)
        try:
            st = self.registry.store.get(sid)
        except NotFound:
            return None
        if n < threshold and st.reported_closed_at is not None:
            return self.registry.set_reported_closed(
                sid, None, actor=SYSTEM_ACTOR,
                only_if=lambda c: self._locked_clients(c, sid, None) < threshold)
        return None

    # ------------------------------------------------------------------ reading
    def get(self, ref: str) -> Report:
        key = normalize_ref(ref)[:16]
        if not set(key[1:]) <= set(ALPHABET):  # not a reference (and no NUL to the driver)
            raise NotFound(f"no report has the reference {ref!r}")
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(REPORTS).where(REPORTS.c.ref == key)).first()
        if row is None:
            raise NotFound(f"no report has the reference {ref!r}")
        return _report(row)

    def for_station(self, sid: str, *, open_only: bool = False) -> list[Report]:
        q = sa.select(REPORTS).where(REPORTS.c.station_id == sid).order_by(
            REPORTS.c.created_at.desc(), REPORTS.c.id.desc())
        if open_only:
            q = q.where(REPORTS.c.status.in_(OPEN_REPORT_STATUSES))
        with self.engine.connect() as conn:
            return [_report(r) for r in conn.execute(q)]

    def open_counts(self, station_ids: Iterable[str] | None = None) -> dict[str, int]:
        """Open reports per station."""
        q = sa.select(REPORTS.c.station_id, sa.func.count()).where(
            REPORTS.c.status.in_(OPEN_REPORT_STATUSES)).group_by(REPORTS.c.station_id)
        if station_ids is not None:
            q = q.where(REPORTS.c.station_id.in_(list(station_ids)))
        with self.engine.connect() as conn:
            return {sid: int(n) for sid, n in conn.execute(q)}

    def queue(self, user: User, *, statuses: Iterable[str] = OPEN_REPORT_STATUSES,
              limit: int = 500) -> list[StationReports]:
        """Reports in ``statuses`` on stations inside the account's scope, grouped by
        station, the stations with the most open reports first (then the newest).
        Needs the right ``report.handle``."""
        require(user, "report.handle", None if not user.scope else user.scope)
        statuses = [s for s in statuses if s in REPORT_STATUSES] or list(OPEN_REPORT_STATUSES)
        q = (sa.select(REPORTS).where(REPORTS.c.status.in_(statuses))
             .order_by(REPORTS.c.created_at.desc(), REPORTS.c.id.desc()).limit(limit * 20))
        with self.engine.connect() as conn:
            rows = [_report(r) for r in conn.execute(q)]
        by_station: dict[str, list[Report]] = {}
        for r in rows:
            by_station.setdefault(r.station_id, []).append(r)
        stations = self.registry.store.get_many(by_station)
        prefix = scope_prefix(user.scope)
        out = []
        for sid, reps in by_station.items():
            rec = stations.get(sid)
            st = rec[0] if rec is not None else None
            if prefix and (st is None or not in_scope(user.scope, st.district_adcode)):
                continue
            out.append(StationReports(None if rec is None or rec[1] else st, sid,
                                      tuple(reps)))
        out.sort(key=lambda g: (-g.open_count, -g.latest.timestamp()))
        return out[:limit]

    # ------------------------------------------------------------------ review
    def _reports_of(self, conn: Connection, refs: Iterable[str]) -> list[Report]:
        refs = [normalize_ref(r)[:16] for r in refs]
        if not refs:
            raise ReportInvalid("没有选择反馈", "no report chosen", field="refs")
        rows = [_report(r) for r in conn.execute(sa.select(REPORTS).where(
            REPORTS.c.ref.in_(refs)))]
        missing = sorted(set(refs) - {r.ref for r in rows})
        if missing:
            raise NotFound(f"no report has the reference {missing[0]!r}")
        return rows

    def review(self, user: User, refs: Iterable[str], status: str, *,
               resolution: str | None = None, station_version: int | None = None,
               client: str | None = None, conn: Connection | None = None) -> list[Report]:
        """Move reports to ``status`` (under_review, resolved, dismissed, or back to new),
        audited. ``station_version`` links a resolution to the station version that
        fixed it. With ``conn``, runs inside the caller's transaction (e.g. the station
        write that applies the fix, so that the fix and the resolution commit together);
        then the caller calls :meth:`after_review` once it has committed."""
        if status not in REPORT_STATUSES:
            raise ReportInvalid(f"状态 {status!r} 无效；可选：{'、'.join(REPORT_STATUSES)}",
                                f"status {status!r} is not valid; use one of "
                                f"{', '.join(REPORT_STATUSES)}", field="status")
        text = _note(resolution, field="resolution")
        if conn is None:
            with self.registry.store._writer.begin() as c:
                done = self._review(c, user, refs, status, text, station_version, client)
            self.after_review(done)
            return done
        return self._review(conn, user, refs, status, text, station_version, client)

    def after_review(self, reports: Iterable[Report]) -> None:
        """Re-evaluate the flag of the stations whose reports were reviewed."""
        for sid in sorted({r.station_id for r in reports}):
            self.clear_flag_if_below(sid)

    def _review(self, conn: Connection, user: User, refs: Iterable[str], status: str,
                text: str | None, station_version: int | None,
                client: str | None) -> list[Report]:
        reps = self._reports_of(conn, refs)
        stations = self.registry.store.get_many({r.station_id for r in reps})
        for r in reps:
            rec = stations.get(r.station_id)
            require(user, "report.handle", rec[0].district_adcode if rec else "")
        now = self.clock()
        values: dict[str, Any] = dict(status=status, updated_at=now, handled_by=user.actor)
        if status in ("resolved", "dismissed"):
            values["resolution"] = text
            values["station_version"] = station_version
        conn.execute(REPORTS.update().where(REPORTS.c.id.in_([r.id for r in reps]))
                     .values(**values))
        for r in reps:
            insert_audit(conn, at=now, actor=user.actor, action=f"report.{status}",
                         target=f"report:{r.ref}", result="ok", client=client,
                         detail={"station": r.station_id, "kind": r.kind,
                                 "from": r.status, "station_version": station_version,
                                 "resolution": text})
        return [Report(**{**r.__dict__, **values}) for r in reps]

    def prefill(self, reports: Iterable[Report], station: Station) -> dict[str, Any]:
        """The edit a report suggests, as form fields (the reviewer checks and saves it):
        a corrected position, hours to re-check, an amenity removed, or a closed status."""
        out: dict[str, Any] = {}
        for r in reports:
            if not r.is_open:
                continue
            if r.kind == "not_here" and r.lon is not None and r.lat is not None:
                out["lon"], out["lat"] = r.lon, r.lat
            elif r.kind == "amenity" and r.amenity in station.amenities:
                out["amenities"] = [a for a in out.get("amenities", station.amenities)
                                    if a != r.amenity]
            elif r.kind == "locked":
                out.setdefault("status", "temporarily_closed")
            elif r.kind == "wrong_hours":
                out.setdefault("opening_hours", station.opening_hours or "")
        return out


def _string(value: Any, field: str) -> str:
    """A text field of the request (``None`` is empty); other JSON types are refused."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReportInvalid(f"{field} 必须是文本", f"{field} must be a string", field=field)
    return value


#: The amenity value meaning "one the station does not list" (described in the note).
OTHER_AMENITY = "other"


def _amenity(value: str, st: Station) -> str:
    """The amenity of an "amenity missing or broken" report: one the station lists, or
    ``other`` (a code, a label or an alias of the vocabulary is accepted)."""
    own = list(st.amenities) + [OTHER_AMENITY]
    if not value:
        raise ReportInvalid("请选择缺失或损坏的设施", "say which amenity is missing or "
                            f"broken (amenity: one of {', '.join(own)})", field="amenity")
    if value.lower() == OTHER_AMENITY:
        return OTHER_AMENITY
    try:
        code = AMENITIES.parse(value, field="amenity")
    except InvalidInput:
        code = None
    if code not in st.amenities:
        labels = "、".join([AMENITIES[a].zh for a in st.amenities] + ["其他"])
        raise ReportInvalid(f"设施 {value!r} 不在这个站点的设施列表中；可选：{labels}",
                            f"amenity {value!r} is not one this station lists; use one of "
                            f"{', '.join(own)}", field="amenity")
    return code


def _note(note: Any, *, field: str = "note") -> str | None:
    if note is None:
        return None
    text = _string(note, field).strip()
    if not text:
        return None
    if len(text) > MAX_NOTE:
        raise ReportInvalid(f"说明最多 {MAX_NOTE} 字（现在 {len(text)} 字）",
                            f"{field} is {len(text)} characters long; at most {MAX_NOTE}",
                            field=field)
    if any(ord(c) < 32 and c not in "\n\t" for c in text) or "\x7f" in text:
        raise ReportInvalid("说明含有控制字符", f"{field} contains control characters",
                            field=field)
    return text


def _position(lon: Any, lat: Any, crs: str, st: Station) -> tuple[float, float]:
    from ..geo import haversine_m

    if lon in (None, "") or lat in (None, ""):
        missing = "lon" if lon in (None, "") else "lat"
        raise ReportInvalid("纠正位置需要同时填写经度和纬度",
                            "a corrected position needs both lon and lat", field=missing)
    try:
        plon, plat = validate_lonlat(lon, lat, crs=crs)
    except InvalidInput as e:
        raise ReportInvalid(f"位置无效：{e}", f"position is not valid: {e}",
                            field=e.field or "lon") from None
    d = haversine_m(st.lon, st.lat, plon, plat)
    if d > MAX_CORRECTION_M:
        raise ReportInvalid(
            f"纠正的位置离站点记录的位置 {d / 1000:.1f} 公里，超过 {MAX_CORRECTION_M / 1000:.0f} "
            "公里；请在地图上选在站点实际所在处",
            f"the corrected position is {d / 1000:.1f} km from the recorded one (more than "
            f"{MAX_CORRECTION_M / 1000:.0f} km); pick where the station really is",
            field="lon")
    return plon, plat


def report_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The report fields of a JSON body or form (unknown keys refused, naming them)."""
    allowed = ("station_id", "kind", "amenity", "note", "lon", "lat", "crs", "lang")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ReportInvalid(f"未知字段：{'、'.join(unknown)}；可用：{'、'.join(allowed)}",
                            f"unknown field(s) {', '.join(unknown)}; allowed: "
                            f"{', '.join(allowed)}", field=unknown[0])
    return {k: data.get(k) for k in allowed if k in data}

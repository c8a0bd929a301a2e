"""Anonymous check-ins ("I'm here") from a station's poster, and the visit counts they give.

A check-in records one thing about the person: an occupation category
(:data:`~locator.store.upkeep.OCCUPATIONS`: delivery, courier, sanitation, taxi, truck,
other). No name, no phone number; the client's address is kept only as a salted hash
(:func:`locator.store.upkeep.client_hash`), used for two rules:

- the rate limit: at most ``checkin_rate_limit`` (6) counted check-ins per client in any
  hour; past it :class:`TooManyCheckins` says when to retry (``retry_after`` seconds);
- no double count: the same client checking in at the same station again within
  :data:`REPEAT_MINUTES` (30) is acknowledged but not counted (:attr:`Checkin.counted`).

Both rules are checked and the row is written in one transaction, serialised per client
(on SQLite the insert comes first, so the transaction holds the database's write lock
before it reads; on PostgreSQL an advisory lock on the client hash is taken first), so
that two requests racing from one client cannot both pass.

Counts are per station, local day and hour (Beijing time), and occupation
(:meth:`CheckinBook.counts`); a district scope selects stations by their adcode
(the account's scope, as in :mod:`locator.staff.roles`). :meth:`CheckinBook.demand`
turns them into demand points for planners, written by :func:`write_demand_csv` in the
format :func:`locator.coverage.io.read_demand` reads (``locator coverage --demand FILE``).
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import IO, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import Conflict, NotFound
from ..staff.errors import BilingualInvalid, RateLimited
from ..staff.roles import scope_prefix
from ..store.sql import stations_t
from ..store.upkeep import CHECKINS, OCCUPATIONS, client_hash, ensure_schema
from ..time_util import zone

__all__ = [
    "DEMAND_COLUMNS",
    "MAX_RANGE_DAYS",
    "OCCUPATION_LABELS",
    "REPEAT_MINUTES",
    "Checkin",
    "CheckinBook",
    "CheckinInvalid",
    "DemandPoint",
    "StationInfo",
    "TooManyCheckins",
    "VisitCell",
    "VisitCounts",
    "check_occupation",
    "check_range",
    "occupation_label",
    "write_demand_csv",
    "write_visits_csv",
]

#: Labels of the occupation categories (zh, en), in the order they are offered.
OCCUPATION_LABELS: dict[str, tuple[str, str]] = {
    "delivery": ("外卖骑手", "Food delivery rider"),
    "courier": ("快递员", "Courier"),
    "sanitation": ("环卫工人", "Sanitation worker"),
    "taxi": ("出租车 / 网约车司机", "Taxi or ride-hailing driver"),
    "truck": ("货车司机", "Truck driver"),
    "other": ("其他", "Other"),
}
assert tuple(OCCUPATION_LABELS) == OCCUPATIONS
#: A client's second check-in at one station within this many minutes is not counted.
REPEAT_MINUTES = 30
#: The longest date range a count covers (one year and a day, for a leap year).
MAX_RANGE_DAYS = 367
#: Columns of :func:`write_demand_csv`; ``weight`` repeats ``visits`` so that the
#: coverage tools read the file without ``--weight``.
DEMAND_COLUMNS = ("id", "code", "name", "lon", "lat", "district_adcode", "district_name",
                  "visits", "weight", "source")
_VISIT_COLUMNS = ("date", "hour", "station_id", "code", "name", "district_adcode",
                  "district_name", "occupation", "occupation_zh", "visits", "source")
_STATIONS = stations_t
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
K = TypeVar("K")


def occupation_label(code: str, lang: str = "zh") -> str:
    zh, en = OCCUPATION_LABELS[code]
    return en if lang.lower().startswith("en") else zh


class CheckinInvalid(BilingualInvalid):
    """Bad check-in input, naming the field, in Chinese and English."""


class TooManyCheckins(RateLimited):
    """The client is past the hourly check-in limit; retry after ``retry_after`` s."""

    title = "登记太频繁 / Too many check-ins"
    kind = "checkin-throttled"

    def __init__(self, retry_after: int, limit: int):
        minutes = max(1, math.ceil(max(1, int(retry_after)) / 60))
        super().__init__(f"到站登记太频繁（每小时最多 {limit} 次），请 {minutes} 分钟后再试",
                         f"too many check-ins from this device (at most {limit} an hour); "
                         f"try again in {minutes} min", retry_after=retry_after)


@dataclass(frozen=True)
class Checkin:
    """The answer to one check-in. ``counted`` is False for a repeat within
    :data:`REPEAT_MINUTES`; the visit counts include this check-in when it was counted."""

    station_id: str
    occupation: str
    at: datetime
    counted: bool
    visits_this_hour: int
    visits_today: int


@dataclass(frozen=True)
class VisitCell:
    """Check-ins at one station in one local hour by one occupation."""

    station_id: str
    day: date
    hour: int
    occupation: str
    visits: int


@dataclass(frozen=True)
class StationInfo:
    id: str
    code: str
    name: str
    lon: float
    lat: float
    district_adcode: str
    district_name: str
    source: str
    deleted: bool

    @property
    def is_sample(self) -> bool:
        return self.source == "sample"


@dataclass(frozen=True)
class VisitCounts:
    """Counted check-ins from ``start`` to ``end`` (local dates, both included) in a scope,
    as cells, with the stations they name and the usual sums."""

    start: date
    end: date
    scope: str
    cells: tuple[VisitCell, ...]
    stations: dict[str, StationInfo]

    @property
    def total(self) -> int:
        return sum(c.visits for c in self.cells)

    def days(self) -> list[date]:
        """Every date of the range, oldest first."""
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def by_station(self) -> Counter[str]:
        return self._sum(lambda c: c.station_id)

    def by_day(self) -> Counter[date]:
        return self._sum(lambda c: c.day)

    def by_occupation(self) -> Counter[str]:
        return self._sum(lambda c: c.occupation)

    def by_hour(self) -> Counter[int]:
        return self._sum(lambda c: c.hour)

    def by_station_occupation(self) -> Counter[tuple[str, str]]:
        return self._sum(lambda c: (c.station_id, c.occupation))

    def by_day_occupation(self) -> Counter[tuple[date, str]]:
        return self._sum(lambda c: (c.day, c.occupation))

    def by_station_day(self) -> Counter[tuple[str, date]]:
        return self._sum(lambda c: (c.station_id, c.day))

    def _sum(self, key: Callable[[VisitCell], K]) -> Counter[K]:
        out: Counter[K] = Counter()
        for c in self.cells:
            out[key(c)] += c.visits
        return out


@dataclass(frozen=True)
class DemandPoint:
    """One station as a demand point: its position (WGS-84) weighted by its visits."""

    station: StationInfo
    visits: int


class CheckinBook:
    """Check-ins kept in the station database (table ``station_checkins``).

    Parameters
    ----------
    engine
        The station store's engine (SQLite or PostgreSQL).
    rate_limit
        Counted check-ins per client per hour; 0 turns the limit off.
    clock
        Returns the current time (aware); tests move it by hand.
    tz
        The time zone days and hours are counted in.
    """

    def __init__(self, engine: Engine, *, rate_limit: int = 6,
                 clock: Callable[[], datetime] | None = None, tz: str | None = None):
        if rate_limit < 0:
            raise ValueError("rate_limit must be >= 0 (0 = off)")
        self.engine = engine
        self.rate_limit = rate_limit
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self.zone = zone(tz) if tz else zone()
        ensure_schema(engine)

    # ------------------------------------------------------------------ writes

    def record(self, station_id: str, occupation: str, *, client: str) -> Checkin:
        """Record a check-in at a station (not deleted, not closed) by ``client`` (an
        address; only its salted hash is kept).

        Raises :class:`CheckinInvalid` (``occupation``), :class:`~locator.errors.NotFound`
        (no such station), :class:`~locator.errors.Conflict` (the station is closed) and
        :class:`TooManyCheckins`.
        """
        occ = check_occupation(occupation)
        who = client_hash(self.engine, client)
        now = self._now()
        with self.engine.connect() as conn:
            tx = conn.begin()
            try:
                result = self._record(conn, station_id, occ, who, now)
            except BaseException:
                tx.rollback()
                raise
            if result.counted:
                tx.commit()
            else:
                tx.rollback()  # the repeat's row goes; nothing is stored
            return result

    def _record(self, conn: Connection, sid: str, occ: str, who: str, now: datetime
                ) -> Checkin:
        if conn.dialect.name == "postgresql":
            # One client's check-ins one at a time (60 bits of the hash: a bigint key).
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"),
                         {"k": int(who[:15], 16)})
        # The write comes first: on SQLite it takes the write lock, so what is read next
        # is the latest state and no other writer can change it before the commit.
        new_id = conn.execute(CHECKINS.insert().values(
            station_id=sid, at=now, occupation=occ, client_hash=who
        ).returning(CHECKINS.c.id)).scalar_one()
        st = conn.execute(sa.select(_STATIONS.c.status, _STATIONS.c.deleted_at)
                          .where(_STATIONS.c.id == sid)).first()
        if st is None or st.deleted_at is not None:
            raise NotFound(f"no station has the id {sid!r}")
        if st.status == "closed":
            raise Conflict(f"station {sid!r} is closed; check-ins are not counted there")
        mine = sa.and_(CHECKINS.c.client_hash == who, CHECKINS.c.id != new_id)
        repeat = conn.execute(sa.select(CHECKINS.c.id).where(
            mine, CHECKINS.c.station_id == sid,
            CHECKINS.c.at > now - timedelta(minutes=REPEAT_MINUTES)).limit(1)).first()
        if repeat is None and self.rate_limit:
            recent = conn.execute(sa.select(CHECKINS.c.at).where(
                mine, CHECKINS.c.at > now - timedelta(hours=1)
            ).order_by(CHECKINS.c.at)).scalars().all()
            if len(recent) >= self.rate_limit:
                # The oldest check-in that must leave the hour before this one fits.
                oldest = _aware(recent[len(recent) - self.rate_limit])
                wait = (oldest + timedelta(hours=1) - now).total_seconds()
                raise TooManyCheckins(math.ceil(wait), self.rate_limit)
        local = now.astimezone(self.zone)
        hour_start = local.replace(minute=0, second=0, microsecond=0)
        day_start = datetime.combine(local.date(), time(0), self.zone)
        hour_n, day_n = conn.execute(sa.select(
            sa.func.coalesce(sa.func.sum(sa.case((CHECKINS.c.at >= _utc(hour_start), 1),
                                                 else_=0)), 0),
            sa.func.count()).where(CHECKINS.c.station_id == sid,
                                   CHECKINS.c.at >= _utc(day_start),
                                   CHECKINS.c.at <= now)).one()
        counted = repeat is None
        extra = 0 if counted else -1  # a repeat's row is rolled back
        return Checkin(station_id=sid, occupation=occ, at=now, counted=counted,
                       visits_this_hour=int(hour_n) + extra, visits_today=int(day_n) + extra)

    # ------------------------------------------------------------------ reads

    def counts(self, *, start: date, end: date, scope: str = "",
               station_id: str | None = None) -> VisitCounts:
        """Counted check-ins from ``start`` to ``end`` (local dates, both included) at
        the stations of ``scope`` (an adcode; ``""`` = national), or at one station."""
        start, end = check_range(start, end)
        lo = _utc(datetime.combine(start, time(0), self.zone))
        hi = _utc(datetime.combine(end + timedelta(days=1), time(0), self.zone))
        c, s = CHECKINS.c, _STATIONS.c
        with self.engine.connect() as conn:
            bucket = _utc_hour(conn, c.at)
            q = (sa.select(c.station_id, bucket, c.occupation, sa.func.count())
                 .select_from(CHECKINS.join(_STATIONS, s.id == c.station_id))
                 .where(c.at >= lo, c.at < hi)
                 .group_by(c.station_id, bucket, c.occupation))
            q = _in_scope(q, scope)
            if station_id is not None:
                q = q.where(c.station_id == station_id)
            cells: dict[tuple[str, date, int, str], int] = {}
            for sid, hour_text, occ, n in conn.execute(q):
                utc_hour = datetime.strptime(str(hour_text), "%Y-%m-%d %H").replace(
                    tzinfo=timezone.utc)
                local = utc_hour.astimezone(self.zone)
                key = (sid, local.date(), local.hour, occ)
                cells[key] = cells.get(key, 0) + int(n)
            stations = self._stations(conn, sorted({k[0] for k in cells}))
        out = tuple(VisitCell(sid, day, hour, occ, n)
                    for (sid, day, hour, occ), n in sorted(cells.items()))
        return VisitCounts(start=start, end=end, scope=scope, cells=out, stations=stations)

    def demand(self, *, start: date, end: date, scope: str = "") -> list[DemandPoint]:
        """The stations of ``scope`` with at least one counted check-in in the range, as
        demand points weighted by their visits (deleted stations are left out; closed
        ones stay: the visits happened there), ordered by id."""
        counts = self.counts(start=start, end=end, scope=scope)
        per = counts.by_station()
        return [DemandPoint(counts.stations[sid], n) for sid, n in sorted(per.items())
                if not counts.stations[sid].deleted]

    def _stations(self, conn: Connection, ids: list[str]) -> dict[str, StationInfo]:
        out: dict[str, StationInfo] = {}
        s = _STATIONS.c
        for i in range(0, len(ids), 500):
            for r in conn.execute(sa.select(s.id, s.code, s.name, s.lon, s.lat,
                                            s.district_adcode, s.district_name, s.source,
                                            s.deleted_at).where(s.id.in_(ids[i:i + 500]))):
                out[r.id] = StationInfo(r.id, r.code, r.name, float(r.lon), float(r.lat),
                                        r.district_adcode, r.district_name, r.source,
                                        r.deleted_at is not None)
        return out

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the clock must return an aware datetime")
        return now.astimezone(timezone.utc)


# --------------------------------------------------------------------------- checks


def check_occupation(value: object) -> str:
    """An occupation code (one of :data:`OCCUPATIONS`), or :class:`CheckinInvalid`."""
    if isinstance(value, str) and value.strip().lower() in OCCUPATION_LABELS:
        return value.strip().lower()
    shown = repr(value)[:40]
    raise CheckinInvalid(f"职业类别 {shown} 无效；可选：{'、'.join(OCCUPATIONS)}",
                         f"occupation {shown} is not valid; use one of "
                         f"{', '.join(OCCUPATIONS)}", field="occupation")


def check_range(start: date, end: date) -> tuple[date, date]:
    """``(start, end)`` when ``start <= end`` and the range is at most
    :data:`MAX_RANGE_DAYS` long; otherwise :class:`CheckinInvalid` naming ``from``."""
    if start > end:
        raise CheckinInvalid(f"开始日期 {start} 晚于结束日期 {end}",
                             f"the start date {start} is after the end date {end}",
                             field="from")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise CheckinInvalid(f"日期范围最长 {MAX_RANGE_DAYS} 天",
                             f"the date range may span at most {MAX_RANGE_DAYS} days",
                             field="from")
    return start, end


def _in_scope(q: sa.Select, scope: str) -> sa.Select:
    prefix = scope_prefix(scope)
    if prefix:
        q = q.where(_STATIONS.c.district_adcode.like(prefix + "%"))
    return q


def _utc_hour(conn: Connection, col: sa.ColumnElement) -> sa.ColumnElement:
    """The UTC hour of a timestamp as text, ``YYYY-MM-DD HH`` (SQLite keeps UTC text)."""
    if conn.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", col), "YYYY-MM-DD HH24")
    return sa.func.strftime("%Y-%m-%d %H", col)


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc)


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt


# --------------------------------------------------------------------------- files


def _cell(value: str) -> str:
    """A text cell no spreadsheet runs as a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def write_demand_csv(points: Iterable[DemandPoint], out: IO[str]) -> int:
    """Write demand points as CSV (:data:`DEMAND_COLUMNS`, WGS-84); returns the rows.

    The file is what :func:`locator.coverage.io.read_demand` reads: ``id``, ``lon``,
    ``lat`` and the weight column ``weight`` (the visits, repeated from ``visits``), with
    ``district_adcode``; ``source`` is ``checkins``, or ``sample`` for sample stations.
    """
    w = csv.writer(out, lineterminator="\n")
    w.writerow(DEMAND_COLUMNS)
    n = 0
    for p in points:
        s = p.station
        w.writerow([s.id, s.code, _cell(s.name), f"{s.lon:.7f}", f"{s.lat:.7f}",
                    s.district_adcode, _cell(s.district_name), p.visits, p.visits,
                    "sample" if s.is_sample else "checkins"])
        n += 1
    return n


def write_visits_csv(counts: VisitCounts, out: IO[str]) -> int:
    """Write the counts as CSV, one row per local date, hour, station and occupation,
    with the station's ``source`` (``sample`` for sample data); returns the rows."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(_VISIT_COLUMNS)
    for c in counts.cells:
        s = counts.stations.get(c.station_id)
        w.writerow([c.day.isoformat(), c.hour, c.station_id, s.code if s else "",
                    _cell(s.name) if s else "", s.district_adcode if s else "",
                    _cell(s.district_name) if s else "", c.occupation,
                    OCCUPATION_LABELS[c.occupation][0], c.visits, s.source if s else ""])
    return len(counts.cells)

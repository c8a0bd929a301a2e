"""Verification rounds: staff check stations at the door and the records say when.

A check is recorded by a staff account holding ``station.verify`` for the station's
district. It may carry where the checker stood (WGS-84, from the phone's GPS, with its
accuracy), a note and a photo of the door. A check made farther than
``LOCATOR_VERIFY_MAX_DISTANCE_M`` (200 m) from the station is *flagged*: it is kept and
counts, but it is marked wherever checks are listed, so that a reviewer can ask why.

Outcomes:

- ``ok``: the station was found open and as recorded. The station gets a new version
  with ``verified_date`` = today in Beijing time and ``verified_by`` = the account's
  name, and the check row and its audit row are written inside that version's
  transaction (the store's write hook): all three commit together or none does.
- ``problem``: something is not as recorded (the note says what). The check and its
  audit row are stored together, but the record is *not* marked verified: riders would
  otherwise read "verified today" on a station found locked. The checker (or a
  colleague) corrects the record with an ordinary edit.

:func:`overdue` lists the stations due for a check (never checked, or past their type's
interval, ``LOCATOR_VERIFY_INTERVAL_DAYS``), grouped by district, nearest first from a
position or most overdue first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import NotFound
from ..geo import haversine_m
from ..settings import Settings, load_settings, verify_intervals
from ..staff.errors import BilingualInvalid
from ..staff.roles import district_name, in_scope, require
from ..stations.freshness import is_overdue
from ..stations.model import Station
from ..store import accounts as _accounts
from ..store.accounts import User, insert_audit, utc_now
from ..store.registry import Registry
from ..store.upkeep import CHECKS, ensure_schema
from ..time_util import local_today
from .photos import CleanPhoto, clean_photo, insert_photo

#: What a checker found: (zh, en) labels.
OUTCOMES: dict[str, tuple[str, str]] = {
    "ok": ("正常：站点开放，与记录一致", "OK: open and as recorded"),
    "problem": ("有问题（请在备注中说明）", "Problem (say what in the note)"),
}
MAX_NOTE = 1000
#: A GPS accuracy above this (metres) is not a phone position; refused.
MAX_ACCURACY_M = 100_000.0
AUDIT_ACTION = "station.verify"


class VerifyInvalid(BilingualInvalid):
    """Bad check input, naming the field, in Chinese and English."""


@dataclass(frozen=True)
class Position:
    """Where the checker stood (WGS-84) and how sure the phone was, in metres."""

    lon: float
    lat: float
    accuracy_m: float | None = None


def _number(value: Any, field: str, zh_name: str) -> float:
    try:
        x = float(str(value).strip())
    except ValueError:
        raise VerifyInvalid(f"{zh_name}（{field}）应为数字，收到 {str(value)[:40]!r}",
                            f"{field} must be a number; got {str(value)[:40]!r}",
                            field=field) from None
    if not math.isfinite(x):
        raise VerifyInvalid(f"{zh_name}（{field}）应为有限的数字", f"{field} must be a finite "
                            "number", field=field)
    return x


def parse_position(lon: Any, lat: Any, accuracy: Any = None) -> Position | None:
    """The checker's position from form or JSON values (WGS-84, as phones give it).

    Both ``lon`` and ``lat`` empty: no position (None). Raises :class:`VerifyInvalid`
    naming ``lon``, ``lat`` or ``accuracy`` for a missing half, a non-number or a value
    out of range.
    """
    blank = [v is None or str(v).strip() == "" for v in (lon, lat)]
    if all(blank):
        return None
    if any(blank):
        missing = "lon" if blank[0] else "lat"
        raise VerifyInvalid("位置需要同时有经度（lon）和纬度（lat）",
                            f"a position needs both lon and lat; {missing} is missing",
                            field=missing)
    x = _number(lon, "lon", "经度")
    y = _number(lat, "lat", "纬度")
    if not -180.0 <= x <= 180.0:
        raise VerifyInvalid(f"经度（lon）{x} 超出范围，应在 -180 到 180 之间",
                            f"lon {x} is out of range; allowed -180..180", field="lon")
    if not -90.0 <= y <= 90.0:
        raise VerifyInvalid(f"纬度（lat）{y} 超出范围，应在 -90 到 90 之间",
                            f"lat {y} is out of range; allowed -90..90", field="lat")
    acc = None
    if accuracy is not None and str(accuracy).strip() != "":
        acc = _number(accuracy, "accuracy", "定位精度")
        if not 0.0 <= acc <= MAX_ACCURACY_M:
            raise VerifyInvalid(f"定位精度（accuracy）应在 0 到 {MAX_ACCURACY_M:.0f} 米之间",
                                f"accuracy must be 0..{MAX_ACCURACY_M:.0f} metres",
                                field="accuracy")
    return Position(x, y, acc)


def _note(note: Any) -> str | None:
    if note is None:
        return None
    text = str(note).replace("\r\n", "\n").strip()
    if not text:
        return None
    if len(text) > MAX_NOTE:
        raise VerifyInvalid(f"备注最多 {MAX_NOTE} 字（现在 {len(text)} 字）",
                            f"the note is {len(text)} characters long; at most {MAX_NOTE}",
                            field="note")
    if any(ord(c) < 32 and c not in "\n\t" for c in text) or "\x7f" in text:
        raise VerifyInvalid("备注含有控制字符", "the note contains control characters",
                            field="note")
    return text


def _outcome(value: Any) -> str:
    code = str(value or "").strip().lower()
    if code not in OUTCOMES:
        raise VerifyInvalid(f"核实结果应为：{'、'.join(z for z, _ in OUTCOMES.values())}",
                            f"outcome must be one of: {', '.join(OUTCOMES)}", field="outcome")
    return code


@dataclass(frozen=True)
class Check:
    """One on-site check, as stored."""

    id: int
    station_id: str
    actor: str
    at: datetime
    lon: float | None
    lat: float | None
    accuracy_m: float | None
    distance_m: float | None
    flagged: bool
    outcome: str
    note: str | None
    photo_id: int | None
    station_version: int | None

    @property
    def has_position(self) -> bool:
        return self.lon is not None and self.lat is not None

    def outcome_label(self, lang: str = "zh") -> str:
        zh, en = OUTCOMES.get(self.outcome, (self.outcome, self.outcome))
        return en if lang == "en" else zh


@dataclass(frozen=True)
class VerifyResult:
    """What :meth:`VerificationService.verify` stored."""

    check: Check
    station: Station
    #: Whether the station's ``verified_date`` now says today (outcome ``ok``).
    refreshed: bool

    @property
    def flagged(self) -> bool:
        return self.check.flagged


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt


def _check(row: Mapping[str, Any]) -> Check:
    return Check(id=row["id"], station_id=row["station_id"], actor=row["actor"],
                 at=_aware(row["at"]), lon=row["lon"], lat=row["lat"],
                 accuracy_m=row["accuracy_m"], distance_m=row["distance_m"],
                 flagged=bool(row["flagged"]), outcome=row["outcome"], note=row["note"],
                 photo_id=row["photo_id"], station_version=row["station_version"])


class VerificationService:
    """Records checks and lists what is due.

    Parameters
    ----------
    registry
        The store and index the station writes go to.
    settings
        ``verify_max_distance_m``, ``max_photo_bytes`` and ``verify_interval_days``
        (default: from the environment).
    today, clock
        Today's date where the stations are (Beijing time) and the current UTC time;
        tests pass fixed ones.
    """

    def __init__(self, registry: Registry, *, settings: Settings | None = None,
                 today: Callable[[], date] = local_today,
                 clock: Callable[[], datetime] = utc_now):
        self.registry = registry
        self.settings = settings or load_settings()
        self.today = today
        self.clock = clock
        self._schema_ready = False

    @property
    def engine(self):
        return self.registry.store.engine

    def _ensure_schema(self) -> None:
        # Before any write transaction: on SQLite a second connection cannot create
        # tables while the first holds the write lock.
        if not self._schema_ready:
            ensure_schema(self.engine)
            _accounts.ensure_schema(self.engine)
            self._schema_ready = True

    # ------------------------------------------------------------------ writes
    def verify(self, user: User, sid: str, *, outcome: str = "ok",
               position: Position | None = None, note: str | None = None,
               photo: bytes | None = None, client: str | None = None) -> VerifyResult:
        """Record a check of station ``sid`` by ``user`` (see the module docstring).

        Raises
        ------
        NotFound
            No such (live) station.
        Forbidden
            ``user`` may not verify stations in the station's district.
        VerifyInvalid, PhotoInvalid
            Bad input, naming the field (``outcome``, ``note``, ``photo``).
        """
        st = self.registry.store.get(sid)
        require(user, "station.verify", st.district_adcode)
        code = _outcome(outcome)
        text = _note(note)
        if code == "problem" and not text:
            raise VerifyInvalid("选择“有问题”时，请在备注中写明问题",
                                "with the outcome “problem”, say in the note what is wrong",
                                field="note")
        clean: CleanPhoto | None = None
        if photo:
            clean = clean_photo(photo, max_bytes=self.settings.max_photo_bytes)
        distance = None
        if position is not None:
            distance = round(haversine_m(position.lon, position.lat, st.lon, st.lat), 1)
        flagged = distance is not None and distance > self.settings.verify_max_distance_m
        self._ensure_schema()
        now = self.clock()
        written: list[Check] = []

        def hook(conn: Connection, stored: list[Station]) -> None:
            new = stored[0]
            photo_id = insert_photo(conn, clean, at=now) if clean is not None else None
            values = dict(station_id=sid, actor=user.actor, at=now,
                          lon=position.lon if position else None,
                          lat=position.lat if position else None,
                          accuracy_m=position.accuracy_m if position else None,
                          distance_m=distance, flagged=flagged, outcome=code, note=text,
                          photo_id=photo_id, station_version=new.version)
            cid = int(conn.execute(CHECKS.insert().values(**values).returning(CHECKS.c.id)
                                   ).scalar_one())
            insert_audit(conn, at=now, actor=user.actor, action=AUDIT_ACTION,
                         target=f"station:{sid}", result="ok", client=client,
                         detail={"check": cid, "version": new.version, "outcome": code,
                                 "distance_m": distance, "flagged": flagged,
                                 "photo": photo_id, "position": position is not None})
            written.append(_check({"id": cid, **values}))

        if code == "ok":
            today = self.today()
            new = self.registry.update(sid, {"verified_date": today,
                                             "verified_by": user.actor},
                                       actor=user.actor, hook=hook)
        else:
            new = st
        if not written:
            # A problem found, or a second check the same day by the same account (the
            # record is unchanged, so the store wrote no version and ran no hook): the
            # check and its audit row still commit together.
            with self.engine.begin() as conn:
                hook(conn, [new])
        return VerifyResult(written[0], new, refreshed=code == "ok")

    # ------------------------------------------------------------------ reads
    def checks(self, sid: str, *, limit: int = 50) -> list[Check]:
        """The station's checks, newest first."""
        ensure_schema(self.engine)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(CHECKS).where(CHECKS.c.station_id == sid)
                                .order_by(CHECKS.c.at.desc(), CHECKS.c.id.desc())
                                .limit(limit)).mappings().all()
        return [_check(r) for r in rows]

    def get_check(self, check_id: int) -> Check:
        ensure_schema(self.engine)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(CHECKS).where(CHECKS.c.id == check_id)
                               ).mappings().first()
        if row is None:
            raise NotFound(f"no check {check_id}")
        return _check(row)

    def check_with_photo(self, photo_id: int) -> Check:
        """The check a photo belongs to (photos are shown only with their check)."""
        ensure_schema(self.engine)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(CHECKS).where(CHECKS.c.photo_id == photo_id)
                               .limit(1)).mappings().first()
        if row is None:
            raise NotFound(f"no photo {photo_id}")
        return _check(row)

    def overdue(self, user: User, *, near: tuple[float, float] | None = None,
                today: date | None = None, include_closed: bool = False
                ) -> list[DistrictRound]:
        """The stations in ``user``'s scope due for a check (see :func:`overdue`)."""
        return overdue(self.registry.index.stations(), verify_intervals(self.settings),
                       today or self.today(), scope=user.scope, near=near,
                       include_closed=include_closed)


# --------------------------------------------------------------------------- rounds


@dataclass(frozen=True)
class OverdueStation:
    """A station due for a check."""

    station: Station
    interval_days: int
    #: Days since the last check (None: never checked).
    days_since: int | None
    #: Great-circle metres from the given position (None without one).
    distance_m: float | None

    @property
    def days_overdue(self) -> int | None:
        """Days past the interval (None: never checked, which is the most overdue)."""
        return None if self.days_since is None else self.days_since - self.interval_days


@dataclass(frozen=True)
class DistrictRound:
    """The overdue stations of one district, in visiting order."""

    adcode: str  # "" = no district
    stations: tuple[OverdueStation, ...]

    def name(self, lang: str = "zh") -> str:
        if not self.adcode:
            return "no district" if lang == "en" else "未归属区县"
        own = next((o.station.district_name for o in self.stations
                    if o.station.district_name), "")
        named = district_name(self.adcode, lang)
        return named if named != self.adcode else (own or self.adcode)


def _urgency(o: OverdueStation) -> tuple[int, int]:
    # never checked first, then the most days past the interval
    return (0, 0) if o.days_overdue is None else (1, -o.days_overdue)


def overdue(stations: Iterable[Station], intervals: Mapping[str, int], today: date, *,
            scope: str | None = None, near: tuple[float, float] | None = None,
            include_closed: bool = False) -> list[DistrictRound]:
    """The stations due for a check, grouped by district.

    A station is due when it was never checked or its last check is older than its
    type's interval (``intervals[type]``, days). ``scope`` (an account's adcode scope)
    keeps only the stations inside it; closed stations are left out unless
    ``include_closed``.

    With ``near`` (WGS-84 lon, lat), stations are ordered by great-circle distance from
    it, and districts by their nearest station; otherwise never-checked stations come
    first, then the most days overdue, and districts by their most overdue station.
    Ties are broken by id (and districts by adcode), so the order is stable.
    """
    groups: dict[str, list[OverdueStation]] = {}
    for st in stations:
        if st.status == "closed" and not include_closed:
            continue
        if scope is not None and not in_scope(scope, st.district_adcode):
            continue
        interval = int(intervals.get(st.type, 180))
        if not is_overdue(st.verified_date, interval, today):
            continue
        since = None if st.verified_date is None else max(0, (today - st.verified_date).days)
        dist = None if near is None else haversine_m(near[0], near[1], st.lon, st.lat)
        groups.setdefault(st.district_adcode or "", []).append(
            OverdueStation(st, interval, since, dist))

    def key(o: OverdueStation) -> tuple[Any, ...]:
        if near is not None:
            return (o.distance_m, o.station.id)
        return (*_urgency(o), o.station.id)

    rounds = [DistrictRound(code, tuple(sorted(items, key=key)))
              for code, items in groups.items()]
    rounds.sort(key=lambda r: (*key(r.stations[0])[:-1], r.adcode))
    return rounds

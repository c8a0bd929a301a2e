"""Star-rating checklists: what each star asks of a station, per type, and a suggested
star level computed from the station's record, its riders' open reports and how recently
it was checked on site. Staff set the official level (:func:`set_official_level`).

The items come from the standards gathered in ``shared/FIELD-NOTES.md``; the ladders and
their sources are in :mod:`locator.upkeep.checklists` (check a source before building on
a detail).

How an item is judged from the record:

- an amenity item is *met* when the record lists the amenity and *missing* when it does
  not: the record's amenity list is taken as complete (staff correct the record when an
  amenity is there but not listed);
- sizes, counts and fittings the record does not hold (usable area, room for 20 people,
  a baby bed, a uniform sign, ...) are *unknown*: they need an on-site answer and are
  never counted as failed;
- "open 24 hours" reads ``opening_hours`` (unknown when no hours are recorded);
  "entry without a scan" reads ``access``.

The suggestion:

- the **checklist level** is the highest star none of whose items, nor those of any
  lower star, is missing (unknown items do not fail a star; they are listed as "to
  confirm on site"); the **confirmed level** is the highest star whose items are all
  met from the record alone;
- **penalties** (:data:`PENALTY_POINTS`) lower it: open riders' reports (``locked`` and
  ``wrong_hours`` count as "not open at its stated hours", which Fuzhou downgrades, and
  weigh most), verification overdue, and the "reported closed" flag. Each applies once,
  however many reports there are (a flood of reports cannot zero a station);
- **suggested level** = max(0, checklist level - penalty points); 0 = not yet one star;
- the **next star** is the one above the suggestion: with no penalty, the items of that
  star that are not met (missing, and unknown ones to confirm); with penalties, the
  penalties (the items are already there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import Conflict
from ..staff.errors import StaffInvalid
from ..staff.roles import require
from ..stations.freshness import Freshness, freshness
from ..stations.model import STAR_LEVELS, Station
from ..stations.vocab import STATION_TYPES
from ..store.accounts import User, insert_audit, utc_now
from ..store.registry import Registry
from ..store.upkeep import OPEN_REPORT_STATUSES, REPORTS, ensure_schema
from ..time_util import local_today
from .checklists import (
    _STATE_TEXT,
    LADDERS,
    MET,
    MISSING,
    SOURCES,
    UNKNOWN,
    Item,
    Source,
)

#: Report kinds that mean "not open at its stated hours".
NOT_OPEN_KINDS: tuple[str, ...] = ("locked", "wrong_hours")
#: Points each penalty takes off the checklist level.
PENALTY_POINTS: dict[str, int] = {
    "not_open_reports": 2,     # open "locked" / "wrong hours" reports (Fuzhou downgrades)
    "other_reports": 1,        # other open reports (amenity broken, not here, other)
    "verification_due": 1,     # past the re-verification interval
    "verification_stale": 2,   # past twice the interval, or never verified
    "reported_closed": 2,      # the "reported closed" flag (several riders, unresolved)
}
MAX_REASON = 500
_ZH_NUM = "零一二三四五"


@dataclass(frozen=True, slots=True)
class ItemResult:
    item: Item
    state: str  # met, missing, unknown
    note_zh: str
    note_en: str

    def label(self, lang: str = "zh") -> str:
        return self.item.label(lang)

    def note(self, lang: str = "zh") -> str:
        return self.note_en if lang == "en" else self.note_zh

    def state_label(self, lang: str = "zh") -> str:
        zh, en = _STATE_TEXT[self.state]
        return en if lang == "en" else zh

    @property
    def source(self) -> Source:
        return SOURCES[self.item.source]


@dataclass(frozen=True, slots=True)
class Penalty:
    key: str
    points: int
    zh: str
    en: str
    source: str

    def reason(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh


@dataclass(frozen=True, slots=True)
class NextStar:
    """What stands between the suggestion and the star above it: the ``items`` of the
    first star the checklist does not reach that are not met (missing, or unknown and to
    confirm), and the ``penalties`` when any are deducted."""

    level: int
    items: tuple[ItemResult, ...]
    penalties: tuple[Penalty, ...]

    def summary(self, lang: str = "zh") -> str:
        en = lang == "en"
        parts = []
        if self.items:
            names = (", " if en else "、").join(
                f"{r.label(lang)} ({r.state_label(lang)})" if en
                else f"{r.label(lang)}（{r.state_label(lang)}）" for r in self.items)
            parts.append(f"add or confirm {names}" if en else f"补齐{names}")
        if self.penalties:
            names = ("; " if en else "；").join(p.reason(lang) for p in self.penalties)
            parts.append(f"clear a deduction ({names})" if en else f"消除扣分（{names}）")
        if en:
            return f"for {level_label(self.level, 'en')}: " + "; ".join(parts)
        return f"达到{level_label(self.level)}还需：" + "；".join(parts)


@dataclass(frozen=True, slots=True)
class Rating:
    """A station's checklist, suggested and official star level, and why."""

    station: Station
    items: tuple[ItemResult, ...]  # empty when the type has no checklist
    checklist_level: int  # no item missing up to here (unknown items do not fail)
    confirmed_level: int  # every item met up to here
    penalties: tuple[Penalty, ...]
    suggested_level: int | None  # None: no checklist for this type
    next_star: NextStar | None  # None at five stars or without a checklist
    freshness: Freshness

    @property
    def has_checklist(self) -> bool:
        return bool(self.items)

    @property
    def official_level(self) -> int | None:
        return self.station.star_level

    @property
    def penalty_points(self) -> int:
        return sum(p.points for p in self.penalties)

    @property
    def official_above_suggestion(self) -> bool:
        """Official level higher than the suggestion: a station to re-inspect."""
        o, s = self.official_level, self.suggested_level
        return o is not None and s is not None and o > s

    def items_at(self, level: int) -> tuple[ItemResult, ...]:
        return tuple(r for r in self.items if r.item.level == level)

    @property
    def to_confirm(self) -> tuple[ItemResult, ...]:
        """Unknown items the checklist level rests on: what an on-site check must answer."""
        return tuple(r for r in self.items
                     if r.state == UNKNOWN and r.item.level <= self.checklist_level)

    def explain(self, lang: str = "zh") -> str:
        """Why the suggestion is what it is, in one sentence."""
        en = lang == "en"
        if not self.has_checklist:
            t = STATION_TYPES[self.station.type].label(lang)
            return (f"there is no star checklist for {t}" if en else f"{t}暂无星级清单")
        if en:
            parts = ["nothing on the checklist is missing up to "
                     + level_label(self.checklist_level, "en") if self.checklist_level
                     else "a one-star item is missing"]
            if self.to_confirm:
                parts.append(f"{len(self.to_confirm)} item(s) to confirm on site")
            if self.penalties:
                parts.append(f"minus {self.penalty_points} for "
                             + "; ".join(p.reason("en") for p in self.penalties))
            return "; ".join(parts) + f": suggested {level_label(self.suggested_level, 'en')}."
        parts = [f"清单至{level_label(self.checklist_level)}无缺项" if self.checklist_level
                 else "一星级清单尚有缺项"]
        if self.to_confirm:
            parts.append(f"其中 {len(self.to_confirm)} 项待现场确认")
        if self.penalties:
            parts.append(f"扣 {self.penalty_points} 星："
                         + "；".join(p.reason() for p in self.penalties))
        return "，".join(parts) + f"；建议{level_label(self.suggested_level)}。"


def stars_text(level: int | None) -> str:
    """``★★★☆☆`` for 3 (five empty stars for 0 or None)."""
    n = level or 0
    return "★" * n + "☆" * (5 - n)


def level_label(level: int | None, lang: str = "zh") -> str:
    """``三星级`` / ``3 stars``; 0 = not yet one star; None = not rated."""
    en = lang == "en"
    if level is None:
        return "not rated" if en else "未评定"
    if level == 0:
        return "below one star" if en else "未达一星"
    return (f"{level} star{'s' if level != 1 else ''}" if en else f"{_ZH_NUM[level]}星级")


# ------------------------------------------------------------------------ judges


def _penalties(st: Station, open_reports: Mapping[str, int], fresh: Freshness
               ) -> tuple[Penalty, ...]:
    out = []
    not_open = sum(open_reports.get(k, 0) for k in NOT_OPEN_KINDS)
    if not_open:
        out.append(Penalty("not_open_reports", PENALTY_POINTS["not_open_reports"],
                           f"{not_open} 条未处理的“锁门/关闭”或“开放时间不符”反馈："
                           "视为未按公示时间开放",
                           f"{not_open} open “locked / closed” or “wrong hours” report(s): "
                           "not open at its stated hours", "fuzhou"))
    other = sum(n for k, n in open_reports.items() if k not in NOT_OPEN_KINDS)
    if other:
        out.append(Penalty("other_reports", PENALTY_POINTS["other_reports"],
                           f"{other} 条其他未处理的群众反馈", f"{other} other open report(s)",
                           "fuzhou"))
    if fresh.state == "due":
        out.append(Penalty("verification_due", PENALTY_POINTS["verification_due"],
                           f"核实已逾期（{fresh.days} 天前，应每 {fresh.interval_days} 天核实）",
                           f"verification overdue ({fresh.days} days ago; every "
                           f"{fresh.interval_days} days)", "project"))
    elif fresh.state in ("stale", "unknown"):
        zh = ("从未核实" if fresh.days is None else
              f"{fresh.days} 天未核实，超过核实周期（{fresh.interval_days} 天）的两倍")
        en = ("never verified" if fresh.days is None else
              f"not verified for {fresh.days} days, over twice the {fresh.interval_days}-day "
              "interval")
        out.append(Penalty("verification_stale", PENALTY_POINTS["verification_stale"], zh, en,
                           "project"))
    if st.reported_closed_at is not None:
        out.append(Penalty("reported_closed", PENALTY_POINTS["reported_closed"],
                           "多名骑手反馈关闭或锁门，尚待审核", "several riders report it closed "
                           "or locked; awaiting review", "fuzhou"))
    return tuple(out)


def _reached(results: tuple[ItemResult, ...], ok: Callable[[str], bool]) -> int:
    """The highest level whose items, and those of every lower level, pass ``ok``."""
    level = 0
    for lv in STAR_LEVELS:
        if not all(ok(r.state) for r in results if r.item.level == lv):
            break
        level = lv
    return level


def assess(st: Station, *, open_reports: Mapping[str, int] | None = None,
           today: date | None = None, interval_days: int | None = None) -> Rating:
    """The star rating of ``st``.

    Parameters
    ----------
    open_reports
        The station's open riders' reports counted by kind (:func:`open_report_counts`).
    today
        The local date verification is measured against (default: today in Xuzhou).
    interval_days
        The station type's re-verification interval (default: the setting).
    """
    if interval_days is None:
        from ..settings import verify_intervals

        interval_days = verify_intervals()[st.type]
    fresh = freshness(st.verified_date, interval_days, today or local_today())
    ladder = LADDERS.get(st.type, ())
    if not ladder:
        return Rating(st, (), 0, 0, (), None, None, fresh)
    results = tuple(ItemResult(it, *it.judge(st)) for it in ladder)
    checklist = _reached(results, lambda s: s != MISSING)
    confirmed = _reached(results, lambda s: s == MET)
    penalties = _penalties(st, open_reports or {}, fresh)
    points = sum(p.points for p in penalties)
    suggested = max(0, checklist - points)
    nxt = None
    if suggested < 5:
        # The checklist reaches the next star unless the star above it lacks an item
        # (with no deduction that is the next star itself; once clamped at 0, star 1).
        blocked = checklist + 1 if checklist < suggested + 1 else None
        nxt = NextStar(suggested + 1, tuple(r for r in results if r.item.level == blocked
                                            and r.state != MET), penalties)
    return Rating(st, results, checklist, confirmed, penalties, suggested, nxt, fresh)


def open_report_counts(engine: Engine, station_ids: Iterable[str] | None = None
                       ) -> dict[str, dict[str, int]]:
    """Open riders' reports (status new or under review) per station and kind; all
    stations when ``station_ids`` is None."""
    ensure_schema(engine)
    q = (sa.select(REPORTS.c.station_id, REPORTS.c.kind, sa.func.count())
         .where(REPORTS.c.status.in_(OPEN_REPORT_STATUSES))
         .group_by(REPORTS.c.station_id, REPORTS.c.kind))
    ids = None if station_ids is None else list(station_ids)
    out: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for chunk in ([None] if ids is None else [ids[i:i + 500] for i in range(0, len(ids), 500)]):
            qq = q if chunk is None else q.where(REPORTS.c.station_id.in_(chunk))
            for sid, kind, n in conn.execute(qq):
                out.setdefault(sid, {})[kind] = int(n)
    return out


# ------------------------------------------------------------------------ the official level


def parse_level(value: Any) -> int | None:
    """A submitted official level: ``""`` = not rated, else 1-5."""
    s = "" if value is None else str(value).strip()
    if s == "":
        return None
    if s.isdigit() and int(s) in STAR_LEVELS:
        return int(s)
    raise StaffInvalid(f"星级（star_level）“{s[:20]}”无效：请选择 1 至 5 星，或“未评定”",
                       f"star_level {s[:20]!r} is not valid: choose 1 to 5 stars, or not rated",
                       field="star_level")


def check_reason(value: Any) -> str:
    """The reason given for a rating: required, at most :data:`MAX_REASON` characters."""
    s = " ".join(str(value or "").split())
    if not s:
        raise StaffInvalid("评定理由（reason）必填：请写明评定依据，如现场检查的结果",
                           "reason is required: say what the rating is based on, e.g. an "
                           "on-site check", field="reason")
    if len(s) > MAX_REASON:
        raise StaffInvalid(f"评定理由（reason）最多 {MAX_REASON} 字，现为 {len(s)} 字",
                           f"reason is {len(s)} characters long; at most {MAX_REASON}",
                           field="reason")
    return s


@dataclass(frozen=True, slots=True)
class RatingChange:
    station: Station  # as stored after the change
    old_level: int | None
    new_level: int | None
    suggested_level: int | None
    changed: bool  # False: the level was confirmed unchanged (audited, no new version)


def set_official_level(registry: Registry, user: User, sid: str, level: Any, *, reason: Any,
                       expected_version: int | None, client: str | None = None,
                       today: date | None = None, intervals: Mapping[str, int] | None = None
                       ) -> RatingChange:
    """Set the official star level of a station (right ``station.rate`` in its district).

    A new level is a new station version, written with its audit row (``station.rate``:
    old, new and suggested level, the reason) in one transaction. Confirming the current
    level writes the audit row alone. A stale ``expected_version`` raises
    :class:`~locator.errors.Conflict`; bad input :class:`StaffInvalid` naming the field.
    """
    st = registry.store.get(sid)
    require(user, "station.rate", st.district_adcode)
    new = parse_level(level)
    why = check_reason(reason)
    if expected_version is not None and expected_version != st.version:
        raise Conflict(f"station {sid!r} is at version {st.version}, not {expected_version}")
    rating = assess(st, open_reports=open_report_counts(registry.store.engine, [sid]).get(sid),
                    today=today, interval_days=None if intervals is None else intervals[st.type])
    detail = {"old_level": st.star_level, "new_level": new,
              "suggested_level": rating.suggested_level,
              "checklist_level": rating.checklist_level,
              "penalties": [p.key for p in rating.penalties], "reason": why}

    def audit(conn: Connection, stored: list[Station]) -> None:
        for s in stored:
            insert_audit(conn, at=utc_now(), actor=user.actor, action="station.rate",
                         target=f"station:{s.id}", result="ok", client=client,
                         detail={"version": s.version, **detail})

    if new == st.star_level:
        with registry.store.engine.begin() as conn:
            audit(conn, [st])
        return RatingChange(st, st.star_level, new, rating.suggested_level, False)
    saved = registry.update(sid, {"star_level": new}, actor=user.actor,
                            expected_version=st.version, hook=audit)
    return RatingChange(saved, st.star_level, new, rating.suggested_level, True)

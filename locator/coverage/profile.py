"""The 24-hour coverage profile: covered share of demand at each hour of one day.

For a chosen day (a workday, a weekend day or a public holiday), the stations that
count at each hour are those :func:`~.metrics.select_stations` would count at that
time, and the profile reports, per hour, city-wide and by district, how many stations
counted, the covered share of demand within the threshold and the cross-covered share
(reached by two or more), plus the "night gaps": the worst hours and the demand units
covered at midday that lose coverage at night.

Which stations count at an hour
-------------------------------
The rule of :func:`~.metrics.select_stations` with ``at`` (the planning service's rule,
:func:`~.planning.spec_of`): only stations of status ``open`` (and of the asked types,
with the amenities an alert needs); of those, a station whose hours say closed then is
left out (``not_open_at``), and **a station of unknown hours counts as open** (no hours
recorded, or hours that say "unknown" then: an open end, a comment). Every hour states
how many were counted, how many of them had unknown hours, and how many were not open.

When in the hour
----------------
``rule="start"`` (the default) evaluates each hour at its start, HH:00 Beijing time
(``tz``), so hour 17 is exactly ``select_stations(records, at="…T17:00")``; a station
closing at 17:30 counts for hour 17. ``rule="whole_hour"`` is stricter: a station
counts only if it is open (or of unknown hours) at every minute of the hour; one that
is closed at any minute of it is left out (hour 17 then leaves out the 17:30 closer,
hour 8 an 08:30 opener), and one open but "unknown" for part of the hour counts as of
unknown hours.

Public holidays (``PH`` in opening hours) are the table of
:func:`locator.stations.hours.public_holidays` (2024-2026); for a year outside it the
profile says that holidays are not known, and ``PH`` rules never match. Make-up working
days (调休) are not modelled: such a Sunday is a Sunday.

Demand by hour
--------------
Either a **named profile** of 24 multipliers of every unit's weight
(:data:`DEMAND_PROFILES`, or any 24 non-negative numbers), or **hourly demand**: 24
weights per unit (an ``(n_units, 24)`` array in the demand's order). A multiplier scales
every unit alike, so it leaves an hour's covered *share* unchanged; it changes the
weighted demand of the hour and so the day's figure (the share of the day's
demand-hours covered), where the hours that matter to the workers weigh more. Hourly
demand changes the shares themselves (which units matter at which hour).

How it is computed
------------------
What does not change with the hour is computed once, exactly, with the engine's own
methods (either engine):

1. each station's state at each hour (hours evaluated once per distinct hours text);
2. stations counted at all 24 hours (24/7, unknown hours, open all that day): their
   reach counts once (``reach_counts(..., cap=3)``, as one coverage run);
3. for the units those leave below 3 (the only ones whose reach level can change with
   the hour), the reach matrix of the stations counted at some hours only
   (``coverage_matrix``), once;
4. per hour only the open mask changes: ``level_h = min(count_all_day + reach @ open_h,
   3)``; covered is ``level_h >= 1``, cross-covered ``level_h >= 2``.

The figures equal a fresh :func:`~.metrics.coverage_report` on
``select_stations(records, at=that hour)`` at every hour (tested). Worst case: when no
station is counted all day, step 3 is the full reach matrix of every station.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from scipy import sparse

from ..config import DEFAULT_TIMEZONE
from ..errors import InvalidInput
from ..stations.hours import parse_hours, public_holidays
from ..time_util import MAX_YEAR, MIN_YEAR, zone
from .demand import Demand, Districts
from .metrics import (
    CoverageFigures,
    DistrictCoverage,
    demand_info,
    district_groups,
    select_stations,
)
from .straight import TravelEngine, check_minutes

__all__ = [
    "DEMAND_PROFILES",
    "HOUR_RULES",
    "NIGHT_HOURS",
    "REFERENCE_HOUR",
    "CoverageProfile",
    "HourCoverage",
    "NightGaps",
    "coverage_profile",
    "day_kind",
    "demand_multipliers",
    "parse_day",
    "profile_run",
    "read_hourly_demand",
]

HOURS = 24
#: How an hour is evaluated: at its start (HH:00), or open at every minute of it.
HOUR_RULES = ("start", "whole_hour")
#: The night hours whose coverage loss the night gaps report: 02:00, 03:00 and 04:00
#: (the window 02:00-05:00), when the issue's 02:18 run found 261 of 1,117 stations open.
NIGHT_HOURS: tuple[int, ...] = (2, 3, 4)
#: The hour a unit must be covered at to "lose coverage at night": midday.
REFERENCE_HOUR = 12
#: How many of the lowest hours the night gaps list (more when hours tie with the last).
LOWEST = 3

#: Named hourly demand profiles: 24 multipliers of each unit's weight, hour 0 first,
#: relative to the busiest hour (1.0). ILLUSTRATIVE: shapes drawn from the field notes
#: and the issue, not measured counts; replace them with check-in counts (#6) or a
#: demand column per hour when there are any.
DEMAND_PROFILES: dict[str, tuple[float, ...]] = {
    # Every hour alike: the day's figure is the mean of the hourly shares.
    "uniform": (1.0,) * 24,
    # Sanitation (环卫): the main shift sweeps the streets before traffic, heavy from
    # 04:00 to 08:00 (the issue: "sanitation shifts start at 04:00"); a second, lighter
    # shift in the afternoon (14:00-17:00) after a midday break; a few night crews
    # (refuse collection) from 00:00.
    "sanitation": (0.15, 0.15, 0.15, 0.3, 1.0, 1.0, 1.0, 1.0,    # 00-07
                   0.6, 0.4, 0.4, 0.4, 0.2, 0.3, 0.7, 0.7,       # 08-15
                   0.7, 0.4, 0.2, 0.15, 0.1, 0.1, 0.1, 0.15),    # 16-23
    # Delivery riders (外卖): the meal peaks 10:30-13:00 and 17:00-20:00 (hour 10 holds
    # half a peak, hour 13 its tail), breakfast a smaller bump, late-night orders thin
    # out after 22:00 and almost stop from 02:00 to 06:00.
    "delivery": (0.2, 0.15, 0.05, 0.05, 0.05, 0.05, 0.1, 0.3,     # 00-07
                 0.35, 0.4, 0.7, 1.0, 1.0, 0.5, 0.4, 0.4,         # 08-15
                 0.5, 1.0, 1.0, 1.0, 0.6, 0.45, 0.4, 0.3),        # 16-23
}
#: The label every output carries next to a named profile.
PROFILE_NOTICE = ("illustrative hourly shape (field notes and the issue), not measured "
                  "demand")

_KIND_LABELS = {"workday": "工作日", "weekend": "周末", "holiday": "节假日"}


def _num(x: float | None, nd: int = 6) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), nd)


# --------------------------------------------------------------------------- inputs


def parse_day(day: date | datetime | str) -> date:
    """The profile's day from a date or ``YYYY-MM-DD``; an error names ``day``."""
    if isinstance(day, datetime):
        raise InvalidInput(f"day: {day.isoformat()!r} is a time; give a date such as "
                           "2026-12-07 (the profile covers its 24 hours)", field="day")
    if isinstance(day, date):
        d = day
    else:
        text = str(day).strip()
        try:
            if len(text) != 10:
                raise ValueError
            d = date.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"day: {day!r} is not a date; give YYYY-MM-DD, e.g. "
                               "2026-12-07", field="day") from None
    if not MIN_YEAR <= d.year <= MAX_YEAR:
        raise InvalidInput(f"day: year {d.year} is out of range; allowed "
                           f"{MIN_YEAR}..{MAX_YEAR}", field="day")
    return d


def day_kind(day: date) -> dict[str, Any]:
    """What kind of day ``day`` is for opening hours: ``workday``, ``weekend`` or
    ``holiday`` (a statutory day off of the table ``PH`` matches), its Chinese label,
    the holiday's name, and whether the table covers the year at all."""
    holidays = public_holidays()
    known = day.year in {d.year for d in holidays}
    kind = ("holiday" if day in holidays else "weekend" if day.weekday() >= 5
            else "workday")
    out: dict[str, Any] = {"date": day.isoformat(), "weekday": day.isoweekday(),
                           "kind": kind, "label": _KIND_LABELS[kind],
                           "holiday": _holiday_name(day) if kind == "holiday" else None,
                           "holidays_known": known}
    if not known:
        out["note"] = (f"public holidays of {day.year} are not in the table (2024-2026); "
                       "PH rules never match, and the day counts as a "
                       f"{'weekend day' if kind == 'weekend' else 'workday'}")
    return out


def _holiday_name(day: date) -> str | None:
    from .._paths import geodata_path

    with geodata_path("cn_public_holidays.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("date") == day.isoformat():
                return row.get("name_zh") or row.get("name_en") or None
    return None


#: The largest hour multiplier (a larger one is a typo, and sums of them overflow).
MAX_MULTIPLIER = 1e6


def demand_multipliers(profile: str | Sequence[float] | None) -> tuple[str, np.ndarray]:
    """The profile's name (``custom`` for numbers) and its 24 multipliers, checked:
    a name of :data:`DEMAND_PROFILES`, or 24 finite non-negative numbers, not all 0."""
    if profile is None:
        profile = "uniform"
    if isinstance(profile, str):
        key = profile.strip().lower()
        if key not in DEMAND_PROFILES:
            raise InvalidInput(f"profile: {profile!r} is not a demand profile; known: "
                               f"{', '.join(DEMAND_PROFILES)} (or 24 multipliers)",
                               field="profile")
        return key, np.asarray(DEMAND_PROFILES[key], dtype=np.float64)
    try:
        values = np.asarray(list(profile), dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InvalidInput("profile: the multipliers must be 24 numbers, one per hour "
                           "from 00:00", field="profile") from None
    if values.size != HOURS:
        raise InvalidInput(f"profile: {values.size} values given; an hour profile needs 24 "
                           "(one multiplier per hour, 00:00 first)", field="profile")
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values > MAX_MULTIPLIER))
    if bad.size:
        h = int(bad[0])
        raise InvalidInput(f"profile: the multiplier of hour {h:02d}:00 is "
                           f"{float(values[h])!r}; multipliers must be finite, 0 to "
                           f"{MAX_MULTIPLIER:,.0f}", field="profile")
    if not values.sum() > 0:
        raise InvalidInput("profile: every multiplier is 0; at least one hour needs "
                           "demand", field="profile")
    return "custom", values


def _hourly_weights(hourly: Any, n: int) -> np.ndarray:
    try:
        w = np.asarray(hourly, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput("hourly_demand: not all values are numbers",
                           field="hourly_demand") from None
    if w.ndim != 2 or w.shape != (n, HOURS):
        raise InvalidInput(f"hourly_demand: shape {w.shape} given; 24 weights per demand "
                           f"unit are needed, shape ({n}, 24), in the demand's order",
                           field="hourly_demand")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i, h = (int(v) for v in np.argwhere(bad)[0])
        raise InvalidInput(f"hourly_demand: unit {i + 1}, hour {h:02d}:00 has "
                           f"{float(w[i, h])!r}; weights must be finite and >= 0",
                           field="hourly_demand", row=i + 1)
    if not w.sum() > 0:
        raise InvalidInput("hourly_demand: every weight is 0; at least one unit needs "
                           "demand at some hour", field="hourly_demand")
    return np.ascontiguousarray(w)


def _rule(rule: str) -> str:
    r = str(rule).strip().lower().replace("-", "_")
    if r not in HOUR_RULES:
        raise InvalidInput(f"rule: {rule!r} is not an hour rule; allowed: "
                           f"{', '.join(HOUR_RULES)}", field="rule")
    return r


def _night(hours: Iterable[int], what: str) -> tuple[int, ...]:
    out = []
    for h in hours:
        if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or not 0 <= h < 24:
            raise InvalidInput(f"{what}: {h!r} is not an hour; allowed 0..23", field=what)
        out.append(int(h))
    if not out:
        raise InvalidInput(f"{what}: no hour given; allowed 0..23", field=what)
    return tuple(sorted(set(out)))


# --------------------------------------------------------------------------- station states

_SEVERITY = {"open": 0, "unknown": 1, "closed": 2}


def _hour_starts(day: date, tz: str) -> list[datetime]:
    z = zone(tz)
    return [datetime(day.year, day.month, day.day, h, tzinfo=z) for h in range(HOURS)]


def _states(hours_text: str | None, position: tuple[float, float], starts: list[datetime],
            rule: str, tz: str) -> tuple[str, ...]:
    """The station's state at each hour (``open``, ``closed``, ``unknown``) by the rule;
    no hours recorded is ``unknown``, as in :func:`~.metrics.select_stations`."""
    if not hours_text:
        return ("unknown",) * HOURS
    oh = parse_hours(hours_text)
    out = []
    for t0 in starts:
        s = oh.state(t0, position=position, tz=tz)
        if rule == "whole_hour" and s != "closed":
            end, t = t0 + timedelta(hours=1), t0
            while True:
                nxt = oh.next_change(t, horizon_days=1, position=position, tz=tz)
                if nxt is None or nxt >= end:
                    break
                s2 = oh.state(nxt, position=position, tz=tz)
                if _SEVERITY[s2] > _SEVERITY[s]:
                    s = s2
                if s == "closed":
                    break
                t = nxt
        out.append(s)
    return tuple(out)


@dataclass(frozen=True, eq=False)
class _Stations:
    """The stations that may count on the day, and their state at each hour."""

    ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    district: np.ndarray
    counted: np.ndarray  # (n, 24) bool: counted at the hour (open or unknown)
    unknown: np.ndarray  # (n, 24) bool: counted with unknown hours
    excluded: dict[str, int]  # left out for the whole day (closed, status, type, lacking)
    needs: tuple[str, ...]
    weather: str | None


def _station_states(records: Sequence[Any], day: date, *, rule: str, tz: str,
                    types: Iterable[str] | None, needs: Iterable[str] | None,
                    weather: str | None) -> _Stations:
    # The static part of select_stations' rule with a time: status open, the types, the
    # amenities; the same function decides it, so the rule lives in one place.
    base = select_stations(records, statuses=["open"], types=types, needs=needs,
                           weather=weather, tz=tz)
    by_id = {s.id: s for s in records}
    kept = [by_id[i] for i in base.ids.tolist()]
    starts = _hour_starts(day, tz)
    cache: dict[str, tuple[str, ...]] = {}
    n = len(kept)
    counted = np.zeros((n, HOURS), dtype=bool)
    unknown = np.zeros((n, HOURS), dtype=bool)
    for j, rec in enumerate(kept):
        text = rec.opening_hours or ""
        states: tuple[str, ...] | None
        if text and parse_hours(text).uses_position:  # sunrise and the like: per place
            states = _states(text, (rec.lon, rec.lat), starts, rule, tz)
        else:
            states = cache.get(text)
            if states is None:
                states = cache[text] = _states(text, (rec.lon, rec.lat), starts, rule, tz)
        for h, v in enumerate(states):
            counted[j, h] = v != "closed"
            unknown[j, h] = v == "unknown"
    return _Stations(base.ids, base.lon, base.lat,
                     np.array([s.district_adcode or "" for s in kept], dtype=object),
                     counted, unknown, dict(base.excluded), base.needs, base.weather)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class HourCoverage:
    """Coverage at one hour: the stations counted then, the city and each district.

    ``stations_counted`` includes the ``stations_unknown`` counted as open (unknown
    hours); ``stations_not_open`` were left out because their hours say closed then.
    ``multiplier`` is the named profile's for the hour (None with hourly demand).
    """

    hour: int
    at: datetime
    stations_counted: int
    stations_unknown: int
    stations_not_open: int
    city: CoverageFigures
    districts: tuple[DistrictCoverage, ...]
    district_stations: tuple[int, ...]
    multiplier: float | None

    @property
    def label(self) -> str:
        return f"{self.hour:02d}:00"

    def to_dict(self) -> dict[str, Any]:
        return {"hour": self.hour, "label": self.label,
                "at": self.at.isoformat(timespec="minutes"),
                "stations": {"counted": self.stations_counted,
                             "unknown_hours_counted_open": self.stations_unknown,
                             "not_open": self.stations_not_open},
                "multiplier": self.multiplier, "city": self.city.to_dict(),
                "districts": [{**d.to_dict(), "stations_counted": k}
                              for d, k in zip(self.districts, self.district_stations,
                                              strict=True)]}


@dataclass(frozen=True)
class NightGaps:
    """The hours of lowest coverage (the three lowest and every hour tied with them),
    and the units covered at ``reference_hour`` that
    are not covered at one or more of ``night_hours`` (``lost``, a mask over the demand
    units in their order, for a map), with their demand (at the reference hour) by
    district."""

    lowest_hours: tuple[int, ...]
    reference_hour: int
    night_hours: tuple[int, ...]
    lost: np.ndarray = field(repr=False)
    demand_lost: float
    by_district: tuple[tuple[str, str, int, float], ...]  # adcode, name, units, demand

    @property
    def units_lost(self) -> int:
        return int(self.lost.sum())

    def to_dict(self, ids: np.ndarray | None = None, *, limit: int | None = 1000
                ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "lowest_hours": [f"{h:02d}:00" for h in self.lowest_hours],
            "reference_hour": f"{self.reference_hour:02d}:00",
            "night_hours": [f"{h:02d}:00" for h in self.night_hours],
            "units_lost": self.units_lost, "demand_lost": _num(self.demand_lost),
            "districts": [{"adcode": a, "name": n, "units_lost": u, "demand_lost": _num(d)}
                          for a, n, u, d in self.by_district]}
        if ids is not None:
            lost_ids = ids[self.lost]
            shown = lost_ids if limit is None else lost_ids[:limit]
            out["ids"] = [str(i) for i in shown]
            out["ids_truncated"] = bool(shown.size < lost_ids.size)
        return out


@dataclass(frozen=True)
class CoverageProfile:
    """The 24-hour profile of one day; build it with :func:`coverage_profile`.

    ``uncovered_hours`` gives, per demand unit (the demand's order), at how many of the
    24 hours it is not covered; ``night.lost`` which units lose coverage at night.
    """

    day: dict[str, Any]
    minutes: float
    rule: str
    tz: str
    demand_profile: dict[str, Any]
    engine: dict[str, Any]
    stations: dict[str, Any]
    demand: dict[str, Any]
    hours: tuple[HourCoverage, ...]
    night: NightGaps
    unit_ids: np.ndarray = field(repr=False)
    uncovered_hours: np.ndarray = field(repr=False)

    @property
    def illustrative(self) -> bool:
        return self.demand.get("source") == "illustrative"

    @property
    def shares(self) -> list[float | None]:
        """The covered share of demand at each hour, 00:00 first."""
        return [h.city.share_demand for h in self.hours]

    @property
    def day_share(self) -> float | None:
        """The share of the day's demand-hours covered (hours weighted by their demand:
        the profile's multipliers, or the hourly weights)."""
        tot = sum(h.city.demand_total for h in self.hours)
        cov = sum(h.city.demand_covered for h in self.hours)
        return cov / tot if tot > 0 else None

    @property
    def day_cross(self) -> float | None:
        tot = sum(h.city.demand_total for h in self.hours)
        cross = sum(h.city.demand_by_reach[2] + h.city.demand_by_reach[3] for h in self.hours)
        return cross / tot if tot > 0 else None

    def hour(self, h: int) -> HourCoverage:
        if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or not 0 <= h < 24:
            raise InvalidInput(f"hour: {h!r} is not an hour; allowed 0..23", field="hour")
        return self.hours[int(h)]

    def night_lost_demand(self, demand: Demand) -> Demand | None:
        """The units that lose coverage at night, as a :class:`~.demand.Demand` (for a
        map), or None when there are none. ``demand`` is the profile's own."""
        if len(demand) != self.night.lost.size:
            raise InvalidInput(f"demand: {len(demand):,} units given; the profile has "
                               f"{self.night.lost.size:,}", field="demand")
        return demand.subset(self.night.lost) if self.night.lost.any() else None

    def rows(self, *, notice: str | None = None) -> list[dict[str, Any]]:
        """One row per hour and area (the city first, then each district): a table
        ready for CSV. ``notice`` goes on every row (default: ``illustrative`` when the
        demand is)."""
        if notice is None:
            notice = "illustrative" if self.illustrative else ""
        prof = self.demand_profile.get("name", "")
        out = []
        for h in self.hours:
            areas = [("city", "", "全市 / city", h.city, h.stations_counted)]
            areas += [("district", d.adcode, d.name, d.figures, k)
                      for d, k in zip(h.districts, h.district_stations, strict=True)]
            for scope, code, name, f, k in areas:
                out.append({
                    "date": self.day["date"], "day_kind": self.day["kind"],
                    "hour": h.label, "scope": scope, "adcode": code, "name": name,
                    "stations_counted": k,
                    "stations_unknown": h.stations_unknown if scope == "city" else "",
                    "stations_not_open": h.stations_not_open if scope == "city" else "",
                    "units": f.units, "units_covered": f.units_covered,
                    "demand_total": _num(f.demand_total),
                    "demand_covered": _num(f.demand_covered),
                    "share_demand": _num(f.share_demand), "share_cross": _num(f.share_cross),
                    "demand_profile": prof,
                    "multiplier": "" if h.multiplier is None else h.multiplier,
                    "minutes": self.minutes, "rule": self.rule, "notice": notice})
        return out

    def to_dict(self, *, unit_ids: bool = False, limit: int | None = 1000) -> dict[str, Any]:
        """JSON-ready; ``unit_ids`` adds the ids of the units lost at night (up to
        ``limit``)."""
        return {"day": self.day, "minutes": self.minutes, "rule": self.rule, "tz": self.tz,
                "evaluated": ("each hour at its start (HH:00)" if self.rule == "start" else
                              "open at every minute of each hour"),
                "demand_profile": self.demand_profile, "engine": self.engine,
                "stations": self.stations, "demand": self.demand,
                "illustrative": self.illustrative,
                "day_share_demand": _num(self.day_share), "day_share_cross": _num(self.day_cross),
                "hours": [h.to_dict() for h in self.hours],
                "night_gaps": self.night.to_dict(self.unit_ids if unit_ids else None,
                                                 limit=limit)}


# --------------------------------------------------------------------------- the profile


def coverage_profile(engine: TravelEngine, records: Sequence[Any], demand: Demand,
                     day: date | str, *, minutes: float = 15.0,
                     districts: Districts | None = None,
                     profile: str | Sequence[float] | None = None,
                     hourly_demand: Any = None, rule: str = "start",
                     types: Iterable[str] | None = None, needs: Iterable[str] | None = None,
                     weather: str | None = None, tz: str = DEFAULT_TIMEZONE,
                     night_hours: Iterable[int] = NIGHT_HOURS,
                     reference_hour: int = REFERENCE_HOUR) -> CoverageProfile:
    """Covered share of demand at each of the 24 hours of ``day``, city-wide and by
    district, with cross-coverage and the night gaps.

    Parameters
    ----------
    records
        :class:`~locator.stations.model.Station` records; those that count at each hour
        follow :func:`~.metrics.select_stations` with ``at`` (status open; unknown hours
        count as open).
    day
        A date or ``YYYY-MM-DD``: a workday, a weekend day or a public holiday.
    profile
        A name of :data:`DEMAND_PROFILES` (default ``uniform``) or 24 multipliers.
    hourly_demand
        Instead of a profile: 24 weights per unit, shape ``(len(demand), 24)``.
    rule
        ``start`` (each hour at HH:00) or ``whole_hour`` (open at every minute of it).
    night_hours, reference_hour
        Units covered at ``reference_hour`` but not at one of ``night_hours`` are the
        night gaps.
    """
    d = parse_day(day)
    m = check_minutes(minutes)
    rule = _rule(rule)
    night = _night(night_hours, "night_hours")
    (ref,) = _night([reference_hour], "reference_hour")
    n = len(demand)
    if hourly_demand is not None:
        if profile is not None:
            raise InvalidInput("profile: give either hourly demand or a profile, not both",
                               field="profile")
        hourly = _hourly_weights(hourly_demand, n)
        mult = None
        prof_info: dict[str, Any] = {"name": "hourly", "source": "hourly demand weights"}
    else:
        hourly = None
        name, mult = demand_multipliers(profile)
        prof_info = {"name": name, "multipliers": [float(v) for v in mult]}
        if name in DEMAND_PROFILES and name != "uniform":
            prof_info["notice"] = PROFILE_NOTICE
    st = _station_states(records, d, rule=rule, tz=tz, types=types, needs=needs,
                         weather=weather)
    groups, group = district_groups(demand, districts)
    n_groups = len(groups)

    # 1-2: the stations counted all day, once; 3: the others' reach where it matters.
    all_day = st.counted.all(axis=1)
    some = st.counted.any(axis=1) & ~all_day
    base = np.zeros(n, dtype=np.int64)
    if all_day.any():
        base = np.asarray(engine.reach_counts(st.lon[all_day], st.lat[all_day], demand.lon,
                                              demand.lat, m, cap=3), dtype=np.int64)
    varying = np.flatnonzero(base < 3) if some.any() else np.empty(0, dtype=np.intp)
    level_v = np.empty((varying.size, HOURS), dtype=np.int8)
    if varying.size:
        reach = engine.coverage_matrix(st.lon[some], st.lat[some], demand.lon[varying],
                                       demand.lat[varying], m)
        reach = sparse.csr_matrix(reach, dtype=np.int32)
        counts = np.asarray(reach @ st.counted[some].astype(np.int32))
        np.minimum(counts + base[varying, None], 3, out=counts)
        level_v[:] = counts
    const = np.ones(n, dtype=bool)
    const[varying] = False
    base_level = np.minimum(base, 3)

    # Per hour: the figures of the constant units once, the varying units' per hour.
    w = demand.weight
    area = demand.area_m2
    key_c = group[const] * 4 + base_level[const]
    nk = n_groups * 4
    units_c = np.bincount(key_c, minlength=nk)
    area_c = None if area is None else np.bincount(key_c, weights=area[const], minlength=nk)
    if hourly is None:
        wsum_c = np.bincount(key_c, weights=w[const], minlength=nk)
        wh_c = None
    else:
        one_hot = sparse.csr_matrix((np.ones(key_c.size), (key_c, np.arange(key_c.size))),
                                    shape=(nk, key_c.size))
        wh_c = np.asarray(one_hot @ hourly[const])  # (nk, 24)
    g_v = group[varying]
    w_v = w[varying]
    area_v = None if area is None else area[varying]
    stations_group = _station_groups(st.district, groups)
    starts = _hour_starts(d, tz)
    hours_out = []
    for h in range(HOURS):
        key_v = g_v * 4 + level_v[:, h]
        units = units_c + np.bincount(key_v, minlength=nk)
        if hourly is None:
            assert mult is not None
            sums = (wsum_c + np.bincount(key_v, weights=w_v, minlength=nk)) * mult[h]
        else:
            assert wh_c is not None
            sums = wh_c[:, h] + np.bincount(key_v, weights=hourly[varying, h], minlength=nk)
        ar = None if area_c is None or area_v is None else (
            area_c + np.bincount(key_v, weights=area_v, minlength=nk))
        city, per = _hour_figures(units.reshape(n_groups, 4), sums.reshape(n_groups, 4),
                                  None if ar is None else ar.reshape(n_groups, 4))
        cnt = st.counted[:, h]
        hours_out.append(HourCoverage(
            h, starts[h], int(cnt.sum()), int(st.unknown[:, h].sum()),
            int((~cnt).sum()), city,
            tuple(DistrictCoverage(a, nm, e, f) for (a, nm, e), f in
                  zip(groups, per, strict=True)),
            tuple(int(v) for v in np.bincount(stations_group[cnt & (stations_group >= 0)],
                                              minlength=n_groups)),
            None if mult is None else float(mult[h])))

    covered_v = level_v > 0
    uncovered = np.where(base_level > 0, 0, HOURS).astype(np.int8)
    uncovered[varying] = (~covered_v).sum(axis=1)
    lost = np.zeros(n, dtype=bool)
    if varying.size:
        lost[varying] = covered_v[:, ref] & ~covered_v[:, list(night)].all(axis=1)
    w_ref = w if hourly is None else hourly[:, ref]
    lost_w = np.bincount(group[lost], weights=w_ref[lost], minlength=n_groups)
    lost_u = np.bincount(group[lost], minlength=n_groups)
    if mult is not None:
        lost_w = lost_w * mult[ref]
    shares = np.array([np.inf if s is None else s for s in  # no demand then: no gap
                       (x.city.share_demand for x in hours_out)])
    order = np.argsort(shares, kind="stable")
    # Hours tied with the LOWEST-th lowest are listed too: nine hours at 39.6% are
    # nine lowest hours, not the first three of them.
    cut = shares[order[min(LOWEST, order.size) - 1]] if order.size else np.inf
    lowest = tuple(int(h) for h in order if np.isfinite(shares[h]) and
                   (shares[h] <= cut + 1e-12 or h in order[:LOWEST]))
    night_gaps = NightGaps(lowest, ref, night, lost, float(lost_w.sum()),
                           tuple((a, nm, int(u), float(x)) for (a, nm, _), u, x in
                                 zip(groups, lost_u, lost_w, strict=True) if u))
    stations_info = {
        "considered": int(st.ids.size), "excluded_all_day": st.excluded,
        "counted_all_day": int(all_day.sum()), "counted_some_hours": int(some.sum()),
        "never_open": int((~st.counted.any(axis=1)).sum()),
        "needs": list(st.needs), "weather": st.weather,
        "rule": ("status open; hours closed at the time: left out; unknown hours (none "
                 "recorded, or unknown then): counted as open")}
    return CoverageProfile(day_kind(d), m, rule, tz, prof_info, engine.describe(),
                           stations_info, demand_info(demand), tuple(hours_out),
                           night_gaps, demand.ids, uncovered)


def _station_groups(codes: np.ndarray, groups: list[tuple[str, str, str]]) -> np.ndarray:
    pos = {g[0]: i for i, g in enumerate(groups)}
    return np.array([pos.get(c, -1) for c in codes.tolist()], dtype=np.intp)


def _hour_figures(units: np.ndarray, sums: np.ndarray, area: np.ndarray | None
                  ) -> tuple[CoverageFigures, list[CoverageFigures]]:
    """The city's and each district's figures from (group, level) sums."""
    def fig(u: np.ndarray, s: np.ndarray, a: np.ndarray | None) -> CoverageFigures:
        z, o, t, mo = (float(v) for v in s)
        return CoverageFigures(int(u.sum()), int(u[1:].sum()), float(s.sum()),
                               float(s[1:].sum()), (z, o, t, mo),
                               None if a is None else float(a.sum()),
                               None if a is None else float(a[1:].sum()))

    per = [fig(units[g], sums[g], None if area is None else area[g])
           for g in range(units.shape[0])]
    city = fig(units.sum(axis=0), sums.sum(axis=0), None if area is None else area.sum(axis=0))
    return city, per


# --------------------------------------------------------------------------- planning service


def profile_run(spec_or_records: Any, data: Any, minutes: float, day: date | str, *,
                profile: str | Sequence[float] | None = None, hourly_demand: Any = None,
                rule: str = "start", engine: TravelEngine | None = None,
                types: Sequence[str] | None = None, weather: str | None = None,
                needs: Sequence[str] | None = None, with_rows: bool = False
                ) -> dict[str, Any]:
    """The profile as the planning service answers: JSON with the run's flags
    (:func:`~.planning.run_flags`: illustrative data stays labelled).

    ``spec_or_records`` is a :class:`~.planning.RunSpec` made without a time (the
    profile sets each hour itself; its stations and engine are used, what it left out
    is reported) or the station records with ``engine``. ``data`` is a
    :class:`~.planning.PlanningData`. ``with_rows`` adds the CSV table (``rows``,
    :meth:`CoverageProfile.rows`, the notice on every row of illustrative figures).
    """
    from .planning import RunSpec, run_flags, spec_of

    if isinstance(spec_or_records, RunSpec):
        spec = spec_or_records
        if spec.at is not None:
            raise InvalidInput("at: the profile sets each hour itself; make the run's spec "
                               "without a time", field="at")
        if types or weather or needs:
            raise InvalidInput("types: with a RunSpec the stations are already chosen; give "
                               "types, weather and needs to spec_of", field="types")
        types, weather, needs = None, spec.stations.weather, spec.stations.needs or None
    else:
        if engine is None:
            raise InvalidInput("engine: station records need an engine (or pass a RunSpec)",
                               field="engine")
        made = engine
        spec = spec_of(lambda: made, list(spec_or_records), at=None, types=types,
                       weather=weather, needs=needs)
    res = coverage_profile(spec.engine, spec.records, data.demand, day, minutes=minutes,
                           districts=data.districts, profile=profile,
                           hourly_demand=hourly_demand, rule=rule, types=types, needs=needs,
                           weather=weather)
    flags = run_flags(spec, data.demand)
    if res.demand_profile.get("notice"):
        flags["profile_notice"] = res.demand_profile["notice"]
    out = {**res.to_dict(), **flags}
    # What the spec left out before the profile saw the records (closed, other types,
    # lacking amenities) is left out all day too.
    excluded = dict(out["stations"]["excluded_all_day"])
    for reason, k in spec.stations.excluded.items():
        excluded[reason] = excluded.get(reason, 0) + k
    out["stations"] = {**out["stations"], "excluded_all_day": excluded}
    if with_rows:
        out["rows"] = res.rows(notice=flags.get("notice", ""))
    return out


def read_hourly_demand(path: Any, demand: Demand) -> np.ndarray:
    """24 weights per demand unit from a CSV: an ``id`` column (the demand's ids) and
    one column per hour, ``h00``..``h23`` (or ``0``..``23``); every unit of the demand
    needs a row. Returns an ``(n_units, 24)`` array in the demand's order."""
    import io as _io
    from pathlib import Path

    from ..store.files import decode_text

    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"hourly_demand: file {str(p)!r} does not exist",
                           field="hourly_demand")
    text, _ = decode_text(p.read_bytes())
    reader = csv.reader(_io.StringIO(text, newline=""))
    rows = [r for r in reader if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise InvalidInput("hourly_demand: the file has no data rows", field="hourly_demand")
    header = [h.strip().lower() for h in rows[0]]
    if "id" not in header:
        raise InvalidInput(f"hourly_demand: no id column (found: {', '.join(header)})",
                           field="hourly_demand")
    cols = []
    for h in range(HOURS):
        names = (f"h{h:02d}", f"h{h}", f"{h:02d}", str(h))
        col = next((header.index(nm) for nm in names if nm in header), None)
        if col is None:
            raise InvalidInput(f"hourly_demand: no column for hour {h:02d}:00; give h00.."
                               "h23 (24 columns, one weight per hour)", field="hourly_demand")
        cols.append(col)
    ci = header.index("id")
    pos = {str(i): k for k, i in enumerate(demand.ids.tolist())}
    out = np.full((len(demand), HOURS), np.nan)
    for r, row in enumerate(rows[1:], start=1):
        if len(row) != len(header):
            raise InvalidInput(f"hourly_demand: {len(row)} fields where the header has "
                               f"{len(header)}", field="hourly_demand", row=r)
        k = pos.get(row[ci].strip())
        if k is None:
            raise InvalidInput(f"hourly_demand: unit {row[ci].strip()!r} is not in the "
                               "demand layer", field="hourly_demand", row=r)
        try:
            out[k] = [float(row[c]) for c in cols]
        except ValueError:
            raise InvalidInput("hourly_demand: a weight is not a number",
                               field="hourly_demand", row=r) from None
    missing = np.flatnonzero(np.isnan(out).any(axis=1))
    if missing.size:
        raise InvalidInput(f"hourly_demand: {missing.size:,} demand units have no row (the "
                           f"first: {demand.ids[missing[0]]!r}); give every unit 24 weights",
                           field="hourly_demand")
    return out

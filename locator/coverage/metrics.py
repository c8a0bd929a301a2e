"""Coverage figures: covered shares by district, cross-coverage, redundant stations.

Everything here works on arrays through a :class:`~.straight.TravelEngine`, a
:class:`StationSet` and a :class:`~.demand.Demand`, and returns result dataclasses with
``to_dict()`` for JSON. Gaps (contiguous uncovered areas) are in :mod:`.gaps`.

Which stations count
--------------------
:func:`select_stations` turns :class:`~locator.stations.model.Station` records into a
:class:`StationSet`. By default every station except ``closed`` ones counts (the same
default as the nearest-station index). With ``at`` ("coverage at 22:00"), only
stations whose status is ``open`` and whose opening hours say open at that time
count; **a station with unknown hours counts as open** (no hours given, or hours that
say "unknown" then: an open end, a comment), because most such stations are simply
undocumented, and the report says how many were counted that way. Sunrise and sunset
are those at each station's position.

Heat-day coverage (``weather="heat"``, or ``needs``, amenity codes of
:data:`~locator.stations.vocab.AMENITIES`) counts only the stations that have every
amenity needed: air conditioning and drinking water on a heat day, heating in a cold
wave (:data:`locator.alerts.model.AMENITIES`). A station whose record lists no such
amenity is left out (``lacking`` in ``excluded``): during an alert a planner must see
the gaps that are there unless proven otherwise.

How a unit counts as covered
----------------------------
A demand unit is covered when its representative point is reached within the
threshold. For cells this is an approximation along the edge of each station's
reach (up to half a cell either way); the area figures inherit it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from ..alerts.model import AMENITIES as ALERT_AMENITIES
from ..config import DEFAULT_TIMEZONE
from ..errors import InvalidInput
from ..stations.hours import parse_hours
from ..stations.model import Station
from ..stations.vocab import AMENITIES, STATION_TYPES, STATUSES
from ..time_util import parse_when
from .demand import Demand, Districts
from .straight import TravelEngine, check_minutes, check_thresholds

__all__ = [
    "CoverageFigures",
    "CoverageReport",
    "DistrictCoverage",
    "RedundancyReport",
    "RedundantStation",
    "StationSet",
    "ThresholdCoverage",
    "coverage_report",
    "redundant_stations",
    "select_stations",
    "station_set",
]

#: Reach levels reported for cross-coverage: reached by 0, 1, 2 and 3 or more stations.
REACH_LEVELS = ("0", "1", "2", "3+")


def _num(x: float | None, nd: int = 6) -> float | None:
    if x is None or not np.isfinite(x):
        return None
    return round(float(x), nd)


# --------------------------------------------------------------------------- stations


@dataclass(frozen=True, eq=False)
class StationSet:
    """The stations that count for a coverage question, as arrays.

    ``excluded`` counts the stations left out, by reason (``closed``, ``status``,
    ``type``, ``not_open_at``, ``lacking``: without an amenity in ``needs``);
    ``unknown_hours_counted_open`` how many stations whose hours are unknown at ``at``
    (none given, or "unknown" then) were counted as open; ``needs`` the amenities every
    counted station has, ``weather`` the alert kind they were asked for (heat, cold).
    """

    ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    excluded: dict[str, int] = field(default_factory=dict)
    at: datetime | None = None
    unknown_hours_counted_open: int = 0
    needs: tuple[str, ...] = ()
    weather: str | None = None
    names: np.ndarray | None = None

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids, dtype=object).reshape(-1)
        lon = np.ascontiguousarray(self.lon, dtype=np.float64).reshape(-1)
        lat = np.ascontiguousarray(self.lat, dtype=np.float64).reshape(-1)
        if not (ids.size == lon.size == lat.size):
            raise InvalidInput("stations: ids, lon and lat must be equally long",
                               field="stations")
        if len(set(ids.tolist())) != ids.size:
            raise InvalidInput("stations: station ids must be unique", field="id")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "lon", lon)
        object.__setattr__(self, "lat", lat)
        names = (ids if self.names is None else
                 np.asarray(self.names, dtype=object).reshape(-1))
        if names.size != ids.size:
            raise InvalidInput("stations: names and ids must be equally long",
                               field="stations")
        object.__setattr__(self, "names", names)

    def __len__(self) -> int:
        return int(self.lon.size)

    def name_of(self, i: int) -> str:
        """The name of station ``i`` (its id when it has none)."""
        assert self.names is not None  # set in __post_init__
        return str(self.names[i] or self.ids[i])

    def describe(self) -> dict[str, Any]:
        return {"used": len(self), "excluded": dict(self.excluded),
                "at": self.at.isoformat() if self.at else None,
                "unknown_hours_counted_open": self.unknown_hours_counted_open,
                "needs": list(self.needs), "weather": self.weather}


def station_set(ids: Sequence[Any], lon: Any, lat: Any) -> StationSet:
    """A :class:`StationSet` from plain arrays (every station counts)."""
    return StationSet(np.asarray(ids, dtype=object), lon, lat)


def select_stations(stations: Iterable[Station], *, at: datetime | str | None = None,
                    statuses: Iterable[str] | None = None, types: Iterable[str] | None = None,
                    tz: str = DEFAULT_TIMEZONE, needs: Iterable[str] | None = None,
                    weather: str | None = None) -> StationSet:
    """The stations that count, from :class:`~locator.stations.model.Station` records.

    Parameters
    ----------
    at
        Only stations open at this time (aware datetime or ISO 8601; naive means
        ``tz``), at their position (for sunrise and sunset). Requires status ``open``;
        unknown hours (none, or "unknown" then) count as open.
    statuses
        Statuses that count; default ``open`` only (a temporarily closed station
        serves nobody, whatever its hours). Ignored with ``at`` (then only ``open``).
    types
        Station types that count (codes or labels); default all.
    needs
        Amenities (codes or labels) every counted station must have.
    weather
        ``heat`` or ``cold`` (or 高温, 寒潮): adds the amenities that alert needs.
    """
    when = parse_when(at, field="at", tz=tz) if at is not None else None
    need_codes = needed_amenities(needs, weather)
    kind = None if weather is None else weather_kind(weather)
    if statuses is None:
        status_ok = {"open"}
    else:
        status_ok = {STATUSES.parse(s, field="statuses") for s in
                     ([statuses] if isinstance(statuses, str) else statuses)}
    if when is not None:
        status_ok = {"open"}
    type_ok = (None if types is None else
               {STATION_TYPES.parse(t, field="types") for t in
                ([types] if isinstance(types, str) else types)})
    ids: list[str] = []
    names: list[str] = []
    lon: list[float] = []
    lat: list[float] = []
    excluded = {"closed": 0, "status": 0, "type": 0, "not_open_at": 0, "lacking": 0}
    unknown = 0
    for s in stations:
        if type_ok is not None and s.type not in type_ok:
            excluded["type"] += 1
            continue
        if s.status not in status_ok:
            excluded["closed" if s.status == "closed" else "status"] += 1
            continue
        if need_codes and not need_codes.issubset(s.amenities):
            excluded["lacking"] += 1
            continue
        if when is not None:
            state = parse_hours(s.opening_hours).state(
                when, position=(s.lon, s.lat), tz=tz) if s.opening_hours else "unknown"
            if state == "closed":
                excluded["not_open_at"] += 1
                continue
            if state == "unknown":
                unknown += 1
        ids.append(s.id)
        names.append(s.name)
        lon.append(s.lon)
        lat.append(s.lat)
    return StationSet(np.asarray(ids, dtype=object), np.asarray(lon, dtype=np.float64),
                      np.asarray(lat, dtype=np.float64),
                      {k: v for k, v in excluded.items() if v}, when, unknown,
                      tuple(sorted(need_codes)), kind, np.asarray(names, dtype=object))


def weather_kind(weather: str) -> str:
    """``heat`` or ``cold`` from a code or its Chinese name; an error names the field."""
    w = str(weather).strip().lower()
    kind = {"高温": "heat", "寒潮": "cold", "低温": "cold"}.get(w, w)
    if kind not in ALERT_AMENITIES:
        raise InvalidInput(f"weather: {weather!r} is not an alert kind; allowed: heat (高温), "
                           "cold (寒潮)", field="weather")
    return kind


def needed_amenities(needs: Iterable[str] | None, weather: str | None) -> set[str]:
    """The amenity codes a counted station must have: ``needs`` (codes or labels) and
    those of the alert ``weather``."""
    out = {AMENITIES.parse(a, field="needs") for a in
           ([needs] if isinstance(needs, str) else (needs or ()))}
    if weather is not None:
        out.update(ALERT_AMENITIES[weather_kind(weather)])
    return out


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CoverageFigures:
    """Covered demand and area of one area (the city or a district) at one threshold."""

    units: int
    units_covered: int
    demand_total: float
    demand_covered: float
    #: Demand reached by 0, 1, 2 and 3+ stations.
    demand_by_reach: tuple[float, float, float, float]
    area_total_m2: float | None = None
    area_covered_m2: float | None = None

    @property
    def share_demand(self) -> float | None:
        return self.demand_covered / self.demand_total if self.demand_total > 0 else None

    @property
    def share_area(self) -> float | None:
        if self.area_total_m2 is None or self.area_covered_m2 is None or \
                not self.area_total_m2 > 0:
            return None
        return self.area_covered_m2 / self.area_total_m2

    @property
    def share_cross(self) -> float | None:
        """Share of demand reached by two or more stations (cross-coverage)."""
        if not self.demand_total > 0:
            return None
        return (self.demand_by_reach[2] + self.demand_by_reach[3]) / self.demand_total

    def to_dict(self) -> dict[str, Any]:
        return {
            "units": self.units, "units_covered": self.units_covered,
            "demand_total": _num(self.demand_total), "demand_covered": _num(self.demand_covered),
            "share_demand": _num(self.share_demand),
            "area_total_km2": _num(None if self.area_total_m2 is None
                                   else self.area_total_m2 / 1e6),
            "area_covered_km2": _num(None if self.area_covered_m2 is None
                                     else self.area_covered_m2 / 1e6),
            "share_area": _num(self.share_area),
            "demand_by_reach": dict(zip(REACH_LEVELS, (_num(v) for v in self.demand_by_reach),
                                        strict=True)),
            "share_cross": _num(self.share_cross),
        }


@dataclass(frozen=True)
class DistrictCoverage:
    adcode: str
    name: str
    name_en: str
    figures: CoverageFigures

    def to_dict(self) -> dict[str, Any]:
        return {"adcode": self.adcode, "name": self.name, "name_en": self.name_en,
                **self.figures.to_dict()}


@dataclass(frozen=True)
class ThresholdCoverage:
    """Coverage at one threshold: the whole city and each district."""

    minutes: float
    city: CoverageFigures
    districts: tuple[DistrictCoverage, ...]
    #: Straight-line reach radius, when the engine has one.
    radius_m: float | None = None

    def district(self, adcode: str) -> DistrictCoverage:
        for d in self.districts:
            if d.adcode == adcode:
                return d
        raise InvalidInput(f"district: {adcode!r} is not in the report; allowed: "
                           f"{', '.join(d.adcode for d in self.districts)}", field="district")

    def to_dict(self) -> dict[str, Any]:
        return {"minutes": self.minutes, "radius_m": _num(self.radius_m, 3),
                "city": self.city.to_dict(),
                "districts": [d.to_dict() for d in self.districts]}


@dataclass(frozen=True)
class CoverageReport:
    """Coverage at several thresholds. ``illustrative`` is True when the demand is
    synthetic: its figures describe the method, not the city."""

    engine: dict[str, Any]
    stations: dict[str, Any]
    demand: dict[str, Any]
    thresholds: tuple[ThresholdCoverage, ...]

    @property
    def illustrative(self) -> bool:
        return self.demand.get("source") == "illustrative"

    def at(self, minutes: float) -> ThresholdCoverage:
        m = check_minutes(minutes)
        for t in self.thresholds:
            if t.minutes == m:
                return t
        raise InvalidInput(f"minutes: {minutes!r} is not in the report; allowed: "
                           f"{', '.join(f'{t.minutes:g}' for t in self.thresholds)}",
                           field="minutes")

    def to_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "stations": self.stations, "demand": self.demand,
                "illustrative": self.illustrative,
                "thresholds": [t.to_dict() for t in self.thresholds]}


# --------------------------------------------------------------------------- coverage


def district_groups(demand: Demand, districts: Districts | None
                     ) -> tuple[list[tuple[str, str, str]], np.ndarray]:
    """Ordered (adcode, name, name_en) groups and each unit's group index."""
    present = sorted(set(demand.district.tolist()))
    groups: list[tuple[str, str, str]] = []
    if districts is not None:
        groups = [(a, n, e) for a, n, e in zip(districts.adcode, districts.name,
                                                districts.name_en, strict=True)]
    known = {g[0] for g in groups}
    groups += [(a, a, a) for a in present if a and a not in known]
    if "" in present:
        groups.append(("", "(outside the districts)", "(outside the districts)"))
    pos = {g[0]: i for i, g in enumerate(groups)}
    return groups, np.array([pos[a] for a in demand.district.tolist()], dtype=np.intp)


def _by_reach(row: np.ndarray) -> tuple[float, float, float, float]:
    """Demand reached by 0, 1, 2 and 3+ stations, from a row of four sums."""
    zero, one, two, more = (float(v) for v in row)
    return zero, one, two, more


def figures_from_counts(group: np.ndarray, n_groups: int, counts: np.ndarray,
                        demand: Demand) -> tuple[list[CoverageFigures], CoverageFigures]:
    """Coverage figures of each group (``group``: each unit's index of
    :func:`district_groups`) and of the city from each unit's reach count: what every
    coverage run (single-process, partitioned, scenario, hourly) reports."""
    w = demand.weight
    level = np.minimum(counts, 3)
    covered = counts > 0
    by_reach = np.zeros((n_groups, 4))
    for lv in range(4):
        sel = level == lv
        by_reach[:, lv] = np.bincount(group[sel], weights=w[sel], minlength=n_groups)
    units = np.bincount(group, minlength=n_groups)
    units_cov = np.bincount(group[covered], minlength=n_groups)
    area = demand.area_m2
    if area is not None:
        a_tot = np.bincount(group, weights=area, minlength=n_groups)
        a_cov = np.bincount(group[covered], weights=area[covered], minlength=n_groups)
    out = []
    for g in range(n_groups):
        out.append(CoverageFigures(
            int(units[g]), int(units_cov[g]), float(by_reach[g].sum()),
            float(by_reach[g, 1:].sum()), _by_reach(by_reach[g]),
            None if area is None else float(a_tot[g]),
            None if area is None else float(a_cov[g])))
    tot = by_reach.sum(axis=0)
    city = CoverageFigures(
        len(demand), int(covered.sum()), float(tot.sum()), float(tot[1:].sum()),
        _by_reach(tot),
        None if area is None else float(area.sum()),
        None if area is None else float(area[covered].sum()))
    return out, city


def coverage_report(engine: TravelEngine, stations: StationSet, demand: Demand, *,
                    minutes: float | Iterable[float] | None = None,
                    districts: Districts | None = None) -> CoverageReport:
    """Covered share of demand and of area, for the city and per district, and the
    demand reached by 0, 1, 2 and 3+ stations, at each threshold (default 5, 10, 15).

    Districts come from ``demand.district``; with ``districts`` every district is
    listed (also those without demand) with its zh/en names.
    """
    thresholds = check_thresholds(minutes)
    groups, group = district_groups(demand, districts)
    out = []
    for m in thresholds:
        counts = engine.reach_counts(stations.lon, stations.lat, demand.lon, demand.lat, m,
                                     cap=3)
        per, city = figures_from_counts(group, len(groups), counts, demand)
        radius = getattr(engine, "radius_m", None)
        out.append(ThresholdCoverage(
            m, city, tuple(DistrictCoverage(a, n, e, f)
                           for (a, n, e), f in zip(groups, per, strict=True)),
            radius(m) if callable(radius) else None))
    return CoverageReport(engine.describe(), stations.describe(), demand_info(demand),
                          tuple(out))


def demand_info(demand: Demand) -> dict[str, Any]:
    """The demand layer as a report describes it."""
    return {"units": len(demand), "kind": demand.kind, "weight": demand.weight_name,
            "total": _num(demand.total_weight), "source": demand.source,
            "cell_m": demand.cell_m}


# --------------------------------------------------------------------------- redundancy


@dataclass(frozen=True)
class RedundantStation:
    """A station whose reached demand is (almost) all reached by other stations too."""

    id: str
    demand_reached: float
    demand_shared: float

    @property
    def share_shared(self) -> float | None:
        return self.demand_shared / self.demand_reached if self.demand_reached > 0 else None

    @property
    def reaches_no_demand(self) -> bool:
        return not self.demand_reached > 0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "demand_reached": _num(self.demand_reached),
                "demand_shared": _num(self.demand_shared),
                "share_shared": _num(self.share_shared),
                "reaches_no_demand": self.reaches_no_demand}


@dataclass(frozen=True)
class RedundancyReport:
    """Stations whose coverage is almost entirely redundant.

    Each listed station is redundant *given all the others*: two stations side by
    side are both listed, and closing both loses coverage. Re-run after any change.
    """

    minutes: float
    threshold: float
    stations_checked: int
    stations: tuple[RedundantStation, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"minutes": self.minutes, "threshold": self.threshold,
                "stations_checked": self.stations_checked,
                "redundant": [s.to_dict() for s in self.stations]}


def redundant_stations(engine: TravelEngine, stations: StationSet, demand: Demand,
                       minutes: float = 15.0, *, threshold: float = 0.95,
                       include_empty: bool = True) -> RedundancyReport:
    """Stations for which at least ``threshold`` of the demand they reach is also
    reached by another station, most redundant first (then by id).

    ``include_empty`` also lists stations that reach no demand at all.
    """
    m = check_minutes(minutes)
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        t = float("nan")
    if not 0.0 < t <= 1.0:
        raise InvalidInput(f"threshold: {threshold!r} is out of range; allowed (0, 1] "
                           "(share of reached demand also reached by another station)",
                           field="threshold")
    a = engine.coverage_matrix(stations.lon, stations.lat, demand.lon, demand.lat, m)
    counts = np.asarray(a.sum(axis=1)).ravel()
    at = a.T.tocsr().astype(np.float64)
    reached = at @ demand.weight
    shared = at @ (demand.weight * (counts >= 2))
    return _redundancy(stations, m, t, reached, shared, include_empty)


def redundancy_from_sums(stations: StationSet, minutes: float, reached: np.ndarray,
                         shared: np.ndarray, *, threshold: float = 0.95,
                         include_empty: bool = True) -> RedundancyReport:
    """:func:`redundant_stations` from each station's reached and shared demand computed
    elsewhere (a partitioned run's ``station_reached`` and ``station_shared``)."""
    m = check_minutes(minutes)
    t = float(threshold)
    if not 0.0 < t <= 1.0:
        raise InvalidInput(f"threshold: {threshold!r} is out of range; allowed (0, 1]",
                           field="threshold")
    if len(reached) != len(stations) or len(shared) != len(stations):
        raise InvalidInput(f"reached, shared: {len(stations):,} values expected (one per "
                           "station)", field="reached")
    return _redundancy(stations, m, t, np.asarray(reached, dtype=np.float64),
                       np.asarray(shared, dtype=np.float64), include_empty)


def _redundancy(stations: StationSet, m: float, t: float, reached: np.ndarray,
                shared: np.ndarray, include_empty: bool) -> RedundancyReport:
    out = []
    for j in range(len(stations)):
        r, s = float(reached[j]), float(shared[j])
        if r > 0 and s >= t * r or (include_empty and not r > 0):
            out.append(RedundantStation(str(stations.ids[j]), r, s))
    out.sort(key=lambda x: (-(x.share_shared if x.share_shared is not None else 2.0), x.id))
    return RedundancyReport(m, t, len(stations), tuple(out))

"""Planning scenarios: "what if we add these five, close that one, open this one at night".

A :class:`Scenario` names changes to the current stations: stations to **add**, to
**close** (kept, with status ``closed``), to **remove** (gone from the set) and to
**change** (opening hours, capacity). :func:`apply_scenario` returns the modified
station records: a fresh coverage run on them is the reference every scenario figure
must equal (and does; see ``tests/test_scenario.py``).

Comparing is incremental. :func:`scenario_base` computes the base once: for each
threshold, how many counted stations reach each demand unit (the engine's
``reach_counts`` capped at 3, what the figures need: 0, 1, 2, 3+), the base report and,
for the straight-line engine, a KD-tree of the demand. :meth:`ScenarioBase.compare` then
touches only the stations a scenario adds, closes, removes or changes. Whether a touched
station counts is decided by :func:`~.metrics.select_stations` for its base and its
scenario version at the run's time (a station whose hours change is removed when it is
open now and closed then, added the other way round, untouched when it is open or
closed in both; closing is removing); a capacity change alone changes no coverage. The
demand units within reach of a station that starts or stops counting (the engine's
``coverage_matrix``, on the units near it for the straight-line engine, else on all)
are the only ones whose count can change; their counts are taken again on the
scenario's stations (``reach_counts``, capped at 3; exact where an uncapped count minus
the removed stations' reach would need every unit's full count), the others keep
theirs. A unit is covered at count >= 1, cross-covered at count >= 2. The figures are
computed by the same code as :func:`~.metrics.coverage_report`, so they are the fresh
run's to the last bit.

Scenario files (JSON)
---------------------
::

    {
      "name": "五个新站，关闭 T03，T02 夜间开放",
      "description": "optional free text",
      "add": [
        {"id": "N1", "name": "新站一号", "type": "outdoor_worker",
         "lon": 117.21, "lat": 34.27, "opening_hours": "24/7", "capacity": 8},
        {"id": "gap-13", "lon": 117.25, "lat": 34.29, "rank": 1, "gain": 812.0}
      ],
      "add_defaults": {"type": "outdoor_worker", "opening_hours": "Mo-Su 06:00-22:00"},
      "close": ["T03"],
      "remove": ["T09"],
      "change": {"T02": {"opening_hours": "Mo-Su 00:00-24:00", "capacity": 12}}
    }

- ``name`` (required): how the scenario is shown.
- ``add``: new stations, as station records (:func:`~locator.stations.model.
  station_from_dict`: its fields, its checks and messages; WGS-84 ``lon``/``lat``, or
  ``crs`` at the top level: ``wgs84``, ``gcj02``, ``bd09``). Each needs an ``id`` of its
  own. ``add_defaults`` fills fields an entry leaves out (e.g. the type of suggested
  sites); a missing ``name`` becomes ``拟建站点 <id>`` (planned site). ``rank`` and
  ``gain`` (what ``locator suggest --json`` lists per site) are ignored, so suggested
  sites and candidates can be pasted as they are.
- ``close``, ``remove``: ids of current stations.
- ``change``: per current station id, the new ``opening_hours`` (``null``: unknown,
  which counts as open) and/or ``capacity`` (seats, 1-10,000).

Every bad input raises :class:`~locator.errors.InvalidInput` naming its field
(``close[2]``, ``add[0].lat``, ``change["S1"].capacity``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from ..errors import InvalidInput
from ..geo import chord_for_m, unit_xyz_np
from ..stations.coords import parse_crs
from ..stations.model import Station, station_from_dict
from ..time_util import parse_when
from .demand import Demand, Districts

# The figures are computed by coverage_report's own helpers, so that a scenario's
# figures are a fresh run's bit for bit (metrics should expose them publicly).
from .metrics import (
    CoverageFigures,
    CoverageReport,
    DistrictCoverage,
    StationSet,
    ThresholdCoverage,
    demand_info,
    district_groups,
    figures_from_counts,
    select_stations,
)
from .planning import PlanningData, resolve_at, run_flags, spec_of
from .straight import StraightLineEngine, TravelEngine, check_thresholds

__all__ = [
    "CHANGEABLE",
    "ROW_FIELDS",
    "AreaDelta",
    "Scenario",
    "ScenarioBase",
    "ScenarioResult",
    "ScenarioRun",
    "ThresholdDelta",
    "apply_scenario",
    "scenario_base",
    "scenario_run",
]

#: Fields of a current station a scenario may change.
CHANGEABLE = ("opening_hours", "capacity")
#: Keys of a scenario file.
_KEYS = ("name", "description", "crs", "add", "add_defaults", "close", "remove", "change")
#: Keys of suggested sites and candidates that are not station fields (ignored in ``add``).
_SITE_KEYS = ("rank", "gain")
_PROBE = {"id": "probe", "name": "probe", "type": "outdoor_worker", "lon": 117.0, "lat": 34.0}
_MAX_NAME = 100
#: Reach counts are kept up to 3: the figures tell 0, 1, 2 and 3+ stations apart.
_CAP = 3
#: Columns of :meth:`ScenarioResult.rows` (the deltas CSV), in order.
ROW_FIELDS = ("scenario", "minutes", "level", "adcode", "name", "name_en",
              "base_share_demand", "scenario_share_demand", "change_points",
              "base_share_cross", "scenario_share_cross", "cross_change_points",
              "base_demand_covered", "scenario_demand_covered", "units_gained",
              "demand_gained", "units_lost", "demand_lost", "stations_base",
              "stations_scenario")


# --------------------------------------------------------------------------- scenario


def _rename(e: InvalidInput, path: str) -> InvalidInput:
    """The model's error ``e`` about a field, as one about ``path`` (``add[0].lat``)."""
    msg = e.message
    head = f"{e.field}:" if e.field else None
    if head and msg.startswith(head):
        msg = msg[len(head):].lstrip()
    name = f"{path}.{e.field}" if e.field else path
    return InvalidInput(f"{name}: {msg}", field=name)


def _ids(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidInput(f"{key}: expected a list of station ids, e.g. [\"T03\"]",
                           field=key)
    out = []
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v.strip():
            raise InvalidInput(f"{key}[{i}]: {v!r} is not a station id (a non-empty text)",
                               field=f"{key}[{i}]")
        out.append(v.strip())
    return tuple(out)


def _changes(value: Any) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput('change: expected an object of station id -> changes, e.g. '
                           '{"T02": {"opening_hours": "24/7"}}', field="change")
    out: dict[str, dict[str, Any]] = {}
    for sid, ch in value.items():
        where = f'change["{sid}"]'
        if not isinstance(sid, str) or not sid.strip():
            raise InvalidInput(f"change: {sid!r} is not a station id", field="change")
        if not isinstance(ch, Mapping) or not ch:
            raise InvalidInput(f"{where}: nothing to change; give "
                               f"{' and/or '.join(CHANGEABLE)}", field=where)
        unknown = sorted(set(map(str, ch)) - set(CHANGEABLE))
        if unknown:
            raise InvalidInput(f"{where}.{unknown[0]}: not a field a scenario may change; "
                               f"allowed: {', '.join(CHANGEABLE)}",
                               field=f"{where}.{unknown[0]}")
        try:  # the model's own checks and messages, on a probe record
            probe = station_from_dict({**_PROBE, **ch})
        except InvalidInput as e:
            raise _rename(e, where) from None
        if "capacity" in ch and probe.capacity is None:
            raise InvalidInput(f"{where}.capacity: {ch['capacity']!r} is not a number of "
                               "seats; use a whole number 1-10,000", field=f"{where}.capacity")
        out[sid.strip()] = {k: getattr(probe, k) for k in CHANGEABLE if k in ch}
    return out


def _added(value: Any, defaults: Any, crs: str) -> tuple[Station, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidInput("add: expected a list of stations (objects with id, name, type, "
                           "lon, lat)", field="add")
    if defaults is None:
        defaults = {}
    if not isinstance(defaults, Mapping):
        raise InvalidInput("add_defaults: expected an object of station fields, e.g. "
                           '{"type": "outdoor_worker"}', field="add_defaults")
    out = []
    for i, entry in enumerate(value):
        where = f"add[{i}]"
        if not isinstance(entry, Mapping):
            raise InvalidInput(f"{where}: expected a station (an object with id, name, type, "
                               "lon, lat)", field=where)
        rec = {**defaults, **{k: v for k, v in entry.items() if k not in _SITE_KEYS}}
        sid = rec.get("id")
        if not isinstance(sid, (str, int)) or isinstance(sid, bool) or not str(sid).strip():
            raise InvalidInput(f"{where}.id: is required (a new station needs an id of its "
                               "own)", field=f"{where}.id")
        rec["id"] = str(sid).strip()
        rec.setdefault("name", f"拟建站点 {rec['id']}")
        try:
            out.append(station_from_dict(rec, crs=crs))
        except InvalidInput as e:
            raise _rename(e, where) from None
    return tuple(out)


def _dupes(items: Iterable[tuple[str, str]]) -> None:
    """Each station id once across ``add``, ``close``, ``remove`` and ``change``."""
    seen: dict[str, str] = {}
    for where, sid in items:
        if sid in seen:
            first = seen[sid]
            what = f"is already in {first}"
            if first.startswith("add") and where.startswith(("close", "remove")):
                what = "is added by this scenario and removed or closed too"
            elif first.startswith("add") and where.startswith("change"):
                what = "is added by this scenario"
            raise InvalidInput(f'{where}: station "{sid}" {what}; give each station once '
                               "(a new station's hours and seats go in its add entry)",
                               field=where)
        seen[sid] = where


@dataclass(frozen=True)
class Scenario:
    """Changes to the current stations: ``add`` (new records), ``close`` (status closed),
    ``remove`` (left out), ``change`` (per station id: ``opening_hours``, ``capacity``).
    Build one from untrusted input with :meth:`from_dict`; check it against the stations
    with :meth:`check` (which :func:`apply_scenario` does)."""

    name: str
    add: tuple[Station, ...] = ()
    close: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    change: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInput("name: is required (how the scenario is shown)", field="name")
        if len(self.name) > _MAX_NAME:
            raise InvalidInput(f"name: is {len(self.name)} characters long; at most "
                               f"{_MAX_NAME} allowed", field="name")
        _dupes([*((f"add[{i}]", s.id) for i, s in enumerate(self.add)),
                *((f"close[{i}]", s) for i, s in enumerate(self.close)),
                *((f"remove[{i}]", s) for i, s in enumerate(self.remove)),
                *((f'change["{s}"]', s) for s in self.change)])

    @classmethod
    def from_dict(cls, data: Any, *, name: str | None = None) -> Scenario:
        """A scenario from its JSON form (the module docstring); ``name`` is used when the
        data have none (the CLI passes the file's name)."""
        if not isinstance(data, Mapping):
            raise InvalidInput("scenario: expected an object with name, add, close, remove, "
                               "change", field="scenario")
        unknown = sorted(set(map(str, data)) - set(_KEYS))
        if unknown:
            raise InvalidInput(f"{unknown[0]}: not a scenario field; allowed: "
                               f"{', '.join(_KEYS)}", field=unknown[0])
        crs = parse_crs(data.get("crs") or "wgs84")
        title = data.get("name", name)
        desc = data.get("description") or ""
        if not isinstance(desc, str):
            raise InvalidInput("description: expected a text", field="description")
        return cls(title.strip() if isinstance(title, str) else title,
                   _added(data.get("add"), data.get("add_defaults"), crs),
                   _ids(data.get("close"), "close"), _ids(data.get("remove"), "remove"),
                   _changes(data.get("change")), desc.strip())

    @classmethod
    def from_json(cls, text: str, *, name: str | None = None) -> Scenario:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidInput(f"scenario: not JSON ({e.msg} at line {e.lineno}, column "
                               f"{e.colno})", field="scenario") from None
        return cls.from_dict(data, name=name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (:meth:`from_dict` of it gives an equal scenario); added stations
        list the fields that differ from a record's defaults."""
        defaults = {f.name: f.default for f in fields(Station)}
        add = [{k: v for k, v in s.to_dict().items()
                if k in ("id", "name", "type", "lon", "lat") or v != _json(defaults.get(k))}
               for s in self.add]
        return {"name": self.name, "description": self.description, "add": add,
                "close": list(self.close), "remove": list(self.remove),
                "change": {k: dict(v) for k, v in self.change.items()}}

    def check(self, records: Iterable[Station]) -> None:
        """Raise :class:`InvalidInput` naming the field when the scenario refers to a
        station that is not among ``records`` or adds one that is."""
        ids = {s.id for s in records}
        for key, seq in (("close", self.close), ("remove", self.remove)):
            for i, sid in enumerate(seq):
                if sid not in ids:
                    raise InvalidInput(f'{key}[{i}]: station "{sid}" is not among the '
                                       "stations", field=f"{key}[{i}]")
        for sid in self.change:
            if sid not in ids:
                where = f'change["{sid}"]'
                raise InvalidInput(f'{where}: station "{sid}" is not among the stations',
                                   field=where)
        for i, s in enumerate(self.add):
            if s.id in ids:
                raise InvalidInput(f'add[{i}].id: station "{s.id}" is already among the '
                                   "stations; a new station needs an id of its own (to alter "
                                   "a current one, use change)", field=f"add[{i}].id")

    def versions(self, records: Iterable[Station]
                 ) -> list[tuple[Station | None, Station | None]]:
        """``(base, scenario)`` record of every station the scenario touches (None: not in
        that set), in the order close, remove, change, add."""
        by_id = {s.id: s for s in records}
        out: list[tuple[Station | None, Station | None]] = []
        out += [(by_id[i], by_id[i].evolve(status="closed")) for i in self.close]
        out += [(by_id[i], None) for i in self.remove]
        out += [(by_id[i], by_id[i].evolve(**dict(ch))) for i, ch in self.change.items()]
        out += [(None, s) for s in self.add]
        return out


def _json(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def apply_scenario(records: Iterable[Station], scenario: Scenario) -> list[Station]:
    """The station records with ``scenario`` applied (the order kept, added stations
    last): what a fresh run on the scenario computes on."""
    records = list(records)
    scenario.check(records)
    new = {b.id: s for b, s in scenario.versions(records) if b is not None}
    out = [new[r.id] if r.id in new else r for r in records]
    return [s for s in out if s is not None] + list(scenario.add)


# --------------------------------------------------------------------------- results


def _points(x: float | None) -> float | None:
    return None if x is None else round(100.0 * x, 6)


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(100.0 * (b - a), 6)


@dataclass(frozen=True)
class AreaDelta:
    """One area (the city or a district) at one threshold: base and scenario figures,
    the demand that gains and that loses coverage, the stations counted in it."""

    adcode: str
    name: str
    name_en: str
    base: CoverageFigures
    scenario: CoverageFigures
    units_gained: int
    demand_gained: float
    units_lost: int
    demand_lost: float
    stations_base: int
    stations_scenario: int

    @property
    def change_points(self) -> float | None:
        """Change of the covered share of demand, in percentage points."""
        return _diff(self.base.share_demand, self.scenario.share_demand)

    @property
    def cross_change_points(self) -> float | None:
        """Change of the share reached by two or more stations, in percentage points."""
        return _diff(self.base.share_cross, self.scenario.share_cross)

    def to_dict(self) -> dict[str, Any]:
        return {"adcode": self.adcode, "name": self.name, "name_en": self.name_en,
                "base": self.base.to_dict(), "scenario": self.scenario.to_dict(),
                "change_points": self.change_points,
                "cross_change_points": self.cross_change_points,
                "gained": {"units": self.units_gained, "demand": round(self.demand_gained, 6)},
                "lost": {"units": self.units_lost, "demand": round(self.demand_lost, 6)},
                "stations": {"base": self.stations_base, "scenario": self.stations_scenario}}


@dataclass(frozen=True, eq=False)
class ThresholdDelta:
    """One threshold: the city, each district (in the coverage report's order), and the
    demand units (indices into the demand, ascending) that gain and that lose coverage."""

    minutes: float
    radius_m: float | None
    city: AreaDelta
    districts: tuple[AreaDelta, ...]
    gained: np.ndarray
    lost: np.ndarray


@dataclass(frozen=True, eq=False)
class ScenarioResult:
    """A scenario against the base: ``base`` and ``report`` are coverage reports (the
    scenario's equal to a fresh :func:`~.metrics.coverage_report` on
    :func:`apply_scenario`'s stations); ``added`` and ``removed`` the stations that start
    and stop counting at the run's time."""

    scenario: Scenario
    base: CoverageReport
    report: CoverageReport
    thresholds: tuple[ThresholdDelta, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    demand: Demand
    districts: Districts | None = None

    def at(self, minutes: float) -> ThresholdDelta:
        for t in self.thresholds:
            if t.minutes == float(minutes):
                return t
        raise InvalidInput(f"minutes: {minutes!r} is not in the comparison; allowed: "
                           f"{', '.join(f'{t.minutes:g}' for t in self.thresholds)}",
                           field="minutes")

    def to_dict(self, *, units: bool = True) -> dict[str, Any]:
        """JSON: per threshold the city and district deltas and, with ``units``, the ids
        of the demand units that gain and that lose coverage."""
        ids = self.demand.ids
        out = []
        for t in self.thresholds:
            d: dict[str, Any] = {"minutes": t.minutes, "radius_m": t.radius_m,
                                 "city": t.city.to_dict(),
                                 "districts": [a.to_dict() for a in t.districts]}
            if units:
                d["gained_ids"] = [str(i) for i in ids[t.gained]]
                d["lost_ids"] = [str(i) for i in ids[t.lost]]
            out.append(d)
        return {"name": self.scenario.name, "scenario": self.scenario.to_dict(),
                "stations": {"base": self.base.stations, "scenario": self.report.stations,
                             "added": list(self.added), "removed": list(self.removed)},
                "thresholds": out}

    def rows(self) -> list[dict[str, Any]]:
        """CSV-ready rows (:data:`ROW_FIELDS`): per threshold the city, then each
        district, with its code and name on every row."""
        out = []
        for t in self.thresholds:
            for level, a in (("city", t.city), *(("district", d) for d in t.districts)):
                b, s = a.base, a.scenario
                out.append({
                    "scenario": self.scenario.name, "minutes": t.minutes, "level": level,
                    "adcode": a.adcode, "name": a.name, "name_en": a.name_en,
                    "base_share_demand": b.share_demand,
                    "scenario_share_demand": s.share_demand,
                    "change_points": a.change_points, "base_share_cross": b.share_cross,
                    "scenario_share_cross": s.share_cross,
                    "cross_change_points": a.cross_change_points,
                    "base_demand_covered": b.demand_covered,
                    "scenario_demand_covered": s.demand_covered,
                    "units_gained": a.units_gained, "demand_gained": a.demand_gained,
                    "units_lost": a.units_lost, "demand_lost": a.demand_lost,
                    "stations_base": a.stations_base,
                    "stations_scenario": a.stations_scenario})
        return out

    def unit_features(self) -> list[dict[str, Any]]:
        """GeoJSON-ready point features of the units that gain (``change: gain``) and lose
        (``lose``) coverage, per threshold, with their district's code and name."""
        dem = self.demand
        label = self.districts.label if self.districts is not None else (lambda a: ("", ""))
        names: dict[str, tuple[str, str]] = {}
        out = []
        for t in self.thresholds:
            for change, idx in (("gain", t.gained), ("lose", t.lost)):
                for i in idx.tolist():
                    code = str(dem.district[i])
                    if code not in names:
                        names[code] = label(code)
                    out.append({"type": "Feature", "geometry": {
                        "type": "Point",
                        "coordinates": [round(float(dem.lon[i]), 7),
                                        round(float(dem.lat[i]), 7)]},
                        "properties": {"scenario": self.scenario.name, "minutes": t.minutes,
                                       "change": change, "id": str(dem.ids[i]),
                                       "weight": float(dem.weight[i]), "adcode": code,
                                       "district": names[code][0]}})
        return out


# --------------------------------------------------------------------------- base state


@dataclass(frozen=True, eq=False)
class ScenarioBase:
    """The base a scenario is compared with, computed once (:func:`scenario_base`):
    the stations that count, each unit's reach count per threshold (capped at 3), the
    base report."""

    engine: TravelEngine
    records: tuple[Station, ...]
    demand: Demand
    districts: Districts | None
    minutes: tuple[float, ...]
    stations: StationSet
    counts: Mapping[float, np.ndarray]
    report: CoverageReport
    select: Callable[[Iterable[Station]], StationSet]
    _groups: list[tuple[str, str, str]]
    _group: np.ndarray
    _tree: cKDTree | None
    _station_district: Mapping[str, str]

    def compare(self, scenario: Scenario) -> ScenarioResult:
        """The scenario's figures against the base, touching only the stations it
        adds, closes, removes or changes."""
        scenario.check(self.records)
        versions = scenario.versions(self.records)
        st_desc = dict(self.report.stations)
        excluded = dict(st_desc["excluded"])
        unknown = int(st_desc["unknown_hours_counted_open"])
        plus: list[Station] = []
        minus: list[Station] = []
        for before, after in versions:
            was, was_unknown, was_reason = self._counts(before)
            now, now_unknown, now_reason = self._counts(after)
            unknown += now_unknown - was_unknown
            for reason, step in ((was_reason, -1), (now_reason, 1)):
                if reason is not None:
                    excluded[reason] = excluded.get(reason, 0) + step
            if was and not now:
                assert before is not None
                minus.append(before)
            elif now and not was:
                assert after is not None
                plus.append(after)
        order = ("closed", "status", "type", "not_open_at", "lacking")
        st_desc.update(used=len(self.stations) + len(plus) - len(minus),
                       excluded={k: excluded[k] for k in order if excluded.get(k)},
                       unknown_hours_counted_open=unknown)
        sites = plus + minus
        lon = np.array([s.lon for s in sites], dtype=np.float64)
        lat = np.array([s.lat for s in sites], dtype=np.float64)
        keep = ~np.isin(self.stations.ids, np.array([s.id for s in minus], dtype=object))
        s_lon = np.concatenate((self.stations.lon[keep], lon[:len(plus)]))
        s_lat = np.concatenate((self.stations.lat[keep], lat[:len(plus)]))
        cand = self._near(lon, lat)
        n_groups = len(self._groups)
        st_dist = self._station_districts(plus, minus)
        dem = self.demand
        new_thr, deltas = [], []
        for t in self.report.thresholds:
            counts = self.counts[t.minutes]
            new = counts
            gained = lost = np.empty(0, dtype=np.intp)
            if sites and cand.size:
                a = self.engine.coverage_matrix(lon, lat, dem.lon[cand], dem.lat[cand],
                                                t.minutes)
                hit = np.flatnonzero(np.diff(a.indptr))  # units a touched station reaches
                if hit.size:
                    rows = cand[hit]
                    new = counts.copy()
                    new[rows] = self.engine.reach_counts(s_lon, s_lat, dem.lon[rows],
                                                         dem.lat[rows], t.minutes, cap=_CAP)
                    gained = np.sort(rows[(counts[rows] == 0) & (new[rows] > 0)])
                    lost = np.sort(rows[(counts[rows] > 0) & (new[rows] == 0)])
            per, city = (figures_from_counts(self._group, n_groups, new, dem) if new is not counts
                         else ([d.figures for d in t.districts], t.city))
            new_thr.append(ThresholdCoverage(
                t.minutes, city, tuple(DistrictCoverage(a, n, e, f) for (a, n, e), f in
                                       zip(self._groups, per, strict=True)), t.radius_m))
            g_units = np.bincount(self._group[gained], minlength=n_groups)
            g_dem = np.bincount(self._group[gained], weights=dem.weight[gained],
                                minlength=n_groups)
            l_units = np.bincount(self._group[lost], minlength=n_groups)
            l_dem = np.bincount(self._group[lost], weights=dem.weight[lost],
                                minlength=n_groups)
            areas = tuple(
                AreaDelta(code, n, e, b.figures, s, int(g_units[k]), float(g_dem[k]),
                          int(l_units[k]), float(l_dem[k]), st_dist[0].get(code, 0),
                          st_dist[1].get(code, 0))
                for k, ((code, n, e), b, s) in enumerate(zip(self._groups, t.districts, per,
                                                             strict=True)))
            city_d = AreaDelta("", "全市", "whole city", t.city, city, int(gained.size),
                               float(g_dem.sum()), int(lost.size), float(l_dem.sum()),
                               len(self.stations), int(st_desc["used"]))
            deltas.append(ThresholdDelta(t.minutes, t.radius_m, city_d, areas, gained, lost))
        report = CoverageReport(self.report.engine, st_desc, self.report.demand,
                                tuple(new_thr))
        return ScenarioResult(scenario, self.report, report, tuple(deltas),
                              tuple(s.id for s in plus), tuple(s.id for s in minus), dem,
                              self.districts)

    def _counts(self, s: Station | None) -> tuple[bool, int, str | None]:
        """(counts, counted with unknown hours, reason left out) of one record."""
        if s is None:
            return False, 0, None
        st = self.select([s])
        if len(st):
            return True, st.unknown_hours_counted_open, None
        return False, 0, next(iter(st.excluded))

    def _near(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Indices (ascending) of the demand units that could be within reach of the
        sites at the largest threshold: all of them unless the engine is straight-line."""
        if lon.size == 0:
            return np.empty(0, dtype=np.intp)
        if self._tree is None:
            return np.arange(len(self.demand), dtype=np.intp)
        r = _straight(self.engine).radius_m(max(self.minutes))
        chord = chord_for_m(r) * (1.0 + 1e-6) + 1e-12  # well beyond the engine's band
        hits = self._tree.query_ball_point(unit_xyz_np(lon, lat), chord)
        found = [np.asarray(h, dtype=np.intp) for h in hits]
        return np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.intp)

    def _station_districts(self, plus: list[Station], minus: list[Station]
                           ) -> tuple[dict[str, int], dict[str, int]]:
        """Counted stations per district code, base and scenario."""
        base: dict[str, int] = {}
        for sid in self.stations.ids.tolist():
            code = self._station_district[sid]
            base[code] = base.get(code, 0) + 1
        new = dict(base)
        for s in minus:
            code = self._station_district[s.id]
            new[code] -= 1
        codes = self._districts_of(plus)
        for code in codes:
            new[code] = new.get(code, 0) + 1
        return base, new

    def _districts_of(self, stations: Sequence[Station]) -> list[str]:
        return _districts_of(stations, self.districts)


def _straight(engine: TravelEngine) -> StraightLineEngine:
    assert isinstance(engine, StraightLineEngine)
    return engine


def _districts_of(stations: Sequence[Station], districts: Districts | None) -> list[str]:
    """Each station's district: by position when boundaries are given, else its record's."""
    if districts is None or not stations:
        return [s.district_adcode for s in stations]
    codes = districts.assign([s.lon for s in stations], [s.lat for s in stations])
    return [str(c) for c in codes.tolist()]


def scenario_base(engine: TravelEngine, records: Iterable[Station], demand: Demand, *,
                  minutes: float | Iterable[float] | None = None,
                  districts: Districts | None = None, at: datetime | str | None = None,
                  types: Sequence[str] | None = None, weather: str | None = None,
                  needs: Sequence[str] | None = None) -> ScenarioBase:
    """The base every scenario is compared with: the stations that count (as
    :func:`~.metrics.select_stations` with ``at``, ``types``, ``weather``, ``needs``),
    each demand unit's reach count (capped at 3) at each threshold (default 5, 10, 15) and the base
    coverage report (equal to :func:`~.metrics.coverage_report`'s)."""
    thresholds = check_thresholds(minutes)
    records = tuple(sorted(records, key=lambda s: s.id))
    when = parse_when(at, field="at") if at is not None else None

    def select(recs: Iterable[Station]) -> StationSet:
        return select_stations(recs, at=when, types=types or None, weather=weather,
                               needs=needs or None)

    st = select(records)

    groups, group = district_groups(demand, districts)
    counts: dict[float, np.ndarray] = {}
    thr = []
    radius = getattr(engine, "radius_m", None)
    for m in thresholds:
        c = engine.reach_counts(st.lon, st.lat, demand.lon, demand.lat, m, cap=_CAP)
        counts[m] = np.asarray(c, dtype=np.int64)
        per, city = figures_from_counts(group, len(groups), counts[m], demand)
        thr.append(ThresholdCoverage(
            m, city, tuple(DistrictCoverage(a, n, e, f)
                           for (a, n, e), f in zip(groups, per, strict=True)),
            radius(m) if callable(radius) else None))
    report = CoverageReport(engine.describe(), st.describe(), demand_info(demand),
                            tuple(thr))
    tree = (cKDTree(unit_xyz_np(demand.lon, demand.lat), compact_nodes=False,
                    balanced_tree=False) if isinstance(engine, StraightLineEngine) else None)
    codes = _districts_of(records, districts)
    return ScenarioBase(engine, records, demand, districts, thresholds, st, counts, report,
                        select, groups, group, tree,
                        {s.id: c for s, c in zip(records, codes, strict=True)})


# --------------------------------------------------------------------------- service


@dataclass(frozen=True, eq=False)
class ScenarioRun:
    """The base and each scenario against it, with the run's flags (illustrative data,
    notices, credits: :func:`~.planning.run_flags`)."""

    base: ScenarioBase
    results: tuple[ScenarioResult, ...]
    flags: Mapping[str, Any]

    def to_dict(self, *, units: bool = True) -> dict[str, Any]:
        return {"minutes": list(self.base.minutes), "engine": self.base.report.engine,
                "base": self.base.report.to_dict(),
                "scenarios": [r.to_dict(units=units) for r in self.results], **self.flags}

    def rows(self) -> list[dict[str, Any]]:
        """Every scenario's delta rows (:data:`ROW_FIELDS`)."""
        return [row for r in self.results for row in r.rows()]

    def unit_features(self) -> list[dict[str, Any]]:
        return [f for r in self.results for f in r.unit_features()]


def scenario_run(make: Callable[[], TravelEngine], records: Sequence[Station],
                 data: PlanningData,
                 minutes: float | Iterable[float] | None, scenarios: Sequence[Scenario], *,
                 at: datetime | str | None = None, types: Sequence[str] | None = None,
                 weather: str | None = None, needs: Sequence[str] | None = None
                 ) -> ScenarioRun:
    """The planning service's scenario comparison: the base on ``records`` (all the
    stations, also those that do not count now, which a scenario may change) at ``at``
    (None: hours ignored) on ``data`` (:class:`~.planning.PlanningData`), and each of
    ``scenarios`` against it. Scenarios are checked before any figure is computed."""
    for sc in scenarios:
        sc.check(records)
    names = [sc.name for sc in scenarios]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise InvalidInput(f'scenarios[{i}].name: "{n}" is the name of another scenario; '
                               "give each its own", field=f"scenarios[{i}].name")
    when = resolve_at(at)
    spec = spec_of(make, records, at=when, types=types, weather=weather, needs=needs)
    base = scenario_base(spec.engine, records, data.demand, minutes=minutes,
                         districts=data.districts, at=when, types=types, weather=weather,
                         needs=needs)
    flags = run_flags(spec, data.demand)
    results = tuple(base.compare(sc) for sc in scenarios)
    return ScenarioRun(base, results, flags)

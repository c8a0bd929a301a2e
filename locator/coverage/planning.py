"""The planning service: one pipeline behind the CLI, the planner API, the planner page
and the report.

A planning run is made of

1. the **time** it is for (:func:`resolve_at`: none ignores opening hours; ``now``;
   an ISO 8601 time, Beijing time without an offset);
2. the **stations that count** (:func:`spec_of`: open at that time, of the asked
   types, with the amenities an alert needs) and the **engine** that measures the
   travel times, together a :class:`RunSpec`;
3. the **demand** and **districts** (:class:`PlanningData`);
4. what is asked: coverage figures and gaps (:func:`coverage_run`), new sites
   (:func:`suggest_run`), capacity-aware access with its equity (:func:`access_run`),
   or everything the planner page and its report show (:func:`compute_plan`, a
   :class:`Plan`).

Every answer carries the flags of its inputs (:func:`run_flags`): whether stations or
demand are illustrative, and the map credits. Nothing here imports Flask; the web
layer adds the road-network hook and the job sharing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from .. import config
from ..errors import InvalidInput
from ..store.files import SAMPLE_NOTICE
from ..time_util import now, parse_when
from .access import access_scores
from .demand import Demand, Districts
from .equity import equity_report
from .gaps import find_gaps
from .metrics import StationSet, coverage_report, select_stations
from .naming import PlaceNamer
from .siting import (
    Candidates,
    build_siting_problem,
    candidates_from_gaps,
    merge_candidates,
    suggest_sites,
)
from .straight import TravelEngine

__all__ = [
    "ILLUSTRATIVE_NOTICE",
    "PLAN_REPORT_MINUTES",
    "Plan",
    "PlanningData",
    "RunSpec",
    "access_run",
    "capacities_of",
    "compute_plan",
    "coverage_run",
    "gap_candidates",
    "name_sites",
    "node_candidates",
    "resolve_at",
    "run_flags",
    "spec_of",
    "suggest_run",
    "target_run",
    "uncovered_candidates",
]

#: Thresholds the planner page's report always shows (plus the run's own).
PLAN_REPORT_MINUTES = (5.0, 10.0, 15.0)
#: Metres between candidate road nodes added to the gaps' grid on a road network.
NODE_SPACING_M = 250.0
#: Seconds the exact set-covering solve may take by default (``locator target``).
TARGET_TIME_LIMIT_S = 60.0
#: Seconds the exact siting solver may take in a planner run.
EXACT_TIME_LIMIT_S = 20.0
ILLUSTRATIVE_NOTICE = ("示例数据：结果基于示意需求或示例站点，不代表真实情况 / Illustrative: "
                       "computed on illustrative demand or sample stations, not real data")


def resolve_at(value: str | datetime | None, *, ignore_hours: bool = False) -> datetime | None:
    """The time a run is for: None (absent, empty or ``ignore_hours``) ignores opening
    hours; ``now`` is the current minute; otherwise ISO 8601 (Beijing time without an
    offset). A bad time raises :class:`~locator.errors.InvalidInput` naming ``at``."""
    if ignore_hours or value is None:
        return None
    if isinstance(value, datetime):
        return value
    text = value.strip()
    if not text:
        return None
    if text.lower() == "now":
        return now().replace(second=0, microsecond=0)
    return parse_when(text, field="at")


@dataclass(frozen=True)
class PlanningData:
    """The demand and the districts a run is computed on."""

    demand: Demand
    districts: Districts | None


class RunSpec:
    """What to compute on, validated: the engine and the stations that count.

    The engine is made on first use (``engine``), so that loading a road network (a
    city's OpenStreetMap extract can take minutes the first time) happens in the
    background run, not in the request that asked for it.
    """

    def __init__(self, make: Callable[[], TravelEngine], stations: StationSet,
                 records: tuple, sample: bool, at: datetime | None):
        self._make = make
        self._engine: TravelEngine | None = None
        self._lock = threading.Lock()
        self.stations = stations
        self.records = records  # the counted Station records (names and details for maps)
        self.sample = sample
        self.at = at

    @property
    def engine(self) -> TravelEngine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._make()
        return self._engine


def spec_of(make: Callable[[], TravelEngine], records: Sequence[Any], *,
            at: datetime | str | None, types: Sequence[str] | None = None,
            weather: str | None = None, needs: Sequence[str] | None = None) -> RunSpec:
    """The run's spec from the station records: those that count at ``at`` (of
    ``types``, with the amenities ``weather`` and ``needs`` ask for), in id order (the
    index's own order depends on how it was built and updated, and differs between
    processes holding the same stations; a run must not). ``make`` makes the engine
    (on first use)."""
    records = sorted(records, key=lambda s: s.id)
    st = select_stations(records, at=at, types=types or None, weather=weather,
                         needs=needs or None)
    used = set(st.ids.tolist())
    counted = tuple(s for s in records if s.id in used)
    return RunSpec(make, st, counted, any(s.is_sample for s in counted), st.at)


def run_flags(spec: RunSpec, demand: Demand) -> dict[str, Any]:
    """Whether the run's inputs are illustrative, and the notices and credits to show."""
    ill = demand.is_illustrative or spec.sample
    out: dict[str, Any] = {"illustrative": ill, "illustrative_demand": demand.is_illustrative,
                           "sample_stations": spec.sample,
                           "attribution": {"basemap_osm": config.OSM_NOTICE}}
    if ill:
        out["notice"] = ILLUSTRATIVE_NOTICE
    if spec.sample:
        out["stations_notice"] = SAMPLE_NOTICE
    return out


def node_candidates(spec: RunSpec, demand: Demand, minutes: float,
                    spacing_m: float) -> Candidates:
    """Road nodes within reach of the demand no counted station reaches in ``minutes``,
    one per ``spacing_m`` (the engine must be a road network)."""
    from .network import candidates_near_uncovered

    return candidates_near_uncovered(cast(Any, spec.engine), spec.stations.lon,
                                     spec.stations.lat, demand, minutes, spacing_m=spacing_m)


def coverage_run(spec: RunSpec, data: PlanningData, minutes: Sequence[float], *,
                 gaps: bool, gap_limit: int, geometry: bool) -> dict[str, Any]:
    """Coverage figures at each threshold (and the gaps at the largest), as JSON."""
    rep = coverage_report(spec.engine, spec.stations, data.demand, minutes=minutes,
                          districts=data.districts)
    out = {**rep.to_dict(), **run_flags(spec, data.demand), "gaps": None}
    if gaps:
        g = find_gaps(spec.engine, spec.stations, data.demand, max(minutes), limit=gap_limit,
                      districts=data.districts)
        out["gaps"] = g.to_dict(geometry=geometry)
    return out


def gap_candidates(spec: RunSpec, data: PlanningData, minutes: float, *,
                   spacing_m: float | None = None, node_spacing_m: float | None = None,
                   gaps: Any = None) -> Candidates:
    """Candidate sites in the gaps: a grid inside each gap (``spacing_m`` apart, see
    :func:`.siting.candidates_from_gaps`) and, on a road network, road nodes within
    reach of the uncovered demand (one per ``node_spacing_m``, default
    :data:`NODE_SPACING_M`); grid points the network cannot place are left out."""
    if gaps is None:
        gaps = find_gaps(spec.engine, spec.stations, data.demand, minutes,
                         districts=data.districts)
    cands = [candidates_from_gaps(gaps, spacing_m=spacing_m)] if gaps.gaps else []
    placeable = getattr(spec.engine, "placeable", None)
    if callable(placeable):  # a road network: its placeable grid points, and road nodes
        if cands:
            ok = placeable(cands[0].lon, cands[0].lat)
            cands = [Candidates(cands[0].ids[ok], cands[0].lon[ok], cands[0].lat[ok],
                                cands[0].source)] if ok.any() else []
        cands.append(node_candidates(spec, data.demand, minutes,
                                     node_spacing_m or NODE_SPACING_M))
        cands = [c for c in cands if len(c)]
    if not cands:
        raise InvalidInput("candidates: every demand unit is covered, so there are no "
                           "candidate sites", field="candidates")
    return cands[0] if len(cands) == 1 else merge_candidates(*cands)


def name_sites(spec: RunSpec, data: PlanningData, sites: list[dict[str, Any]],
               lang: str = "zh") -> list[dict[str, Any]]:
    """``sites`` (dicts with ``lon``/``lat``) named by district and nearest counted
    station (:class:`.naming.PlaceNamer`)."""
    return PlaceNamer(spec.stations, data.districts).name_sites(sites, lang)


def suggest_run(spec: RunSpec, data: PlanningData, minutes: float, *, n: int, beta: float,
                exact: bool | None, candidates: Candidates | None,
                node_spacing_m: float | None = None, spacing_m: float | None = None,
                time_limit: float = EXACT_TIME_LIMIT_S, lang: str = "zh") -> dict[str, Any]:
    """The ``n`` new sites that add the most covered demand, as JSON, each named by its
    district and nearest station. Candidates: those given, else road nodes only (with
    ``node_spacing_m``), else :func:`gap_candidates` (a grid in the gaps, ``spacing_m``
    apart, plus road nodes on a road network)."""
    if candidates is None and node_spacing_m is not None:
        candidates = node_candidates(spec, data.demand, minutes, node_spacing_m)
    elif candidates is None:
        candidates = gap_candidates(spec, data, minutes, spacing_m=spacing_m)
    problem = build_siting_problem(spec.engine, spec.stations, data.demand, candidates,
                                   minutes)
    res = suggest_sites(problem, n, beta=beta, exact=exact, time_limit=time_limit)
    pos = {str(i): (float(x), float(y)) for i, x, y in
           zip(candidates.ids, candidates.lon, candidates.lat, strict=True)}
    best = res.best
    sites = [{"rank": k, "id": sid, "lon": round(pos[sid][0], 7), "lat": round(pos[sid][1], 7),
              "gain": round(g, 6)}
             for k, (sid, g) in enumerate(zip(best.site_ids, best.gains, strict=True), start=1)]
    return {"minutes": minutes, "engine": spec.engine.describe(),
            "stations": spec.stations.describe(), "demand": {
                "units": len(data.demand), "source": data.demand.source,
                "total": round(data.demand.total_weight, 6)},
            "candidates": {"count": len(candidates), "source": candidates.source},
            "siting": res.to_dict(), "sites": name_sites(spec, data, sites, lang),
            **run_flags(spec, data.demand)}


def uncovered_candidates(spec: RunSpec, demand: Demand, minutes: float, *,
                         backup: bool) -> Candidates:
    """Every demand unit (with weight) not yet at its level as a candidate site at its
    own point: not reached by a counted station (``backup``: by fewer than two). Each
    reaches itself, so 100 % is within reach on the straight-line engine."""
    from .siting import candidates_from_demand

    counts = spec.engine.reach_counts(spec.stations.lon, spec.stations.lat, demand.lon,
                                      demand.lat, minutes, cap=2)
    short = (counts < (2 if backup else 1)) & (demand.weight > 0)
    if not short.any():
        raise InvalidInput("candidates: every demand unit is already reached"
                           f"{' twice' if backup else ''} within {minutes:g} min, so there "
                           "are no uncovered units to place sites at; the target is met",
                           field="candidates")
    cands = candidates_from_demand(demand, short, prefix="unit-")
    return type(cands)(cands.ids, cands.lon, cands.lat, "uncovered")


def target_run(spec: RunSpec, data: PlanningData, minutes: float, *, target: float | str,
               backup: bool, method: str, candidates: Any = None,
               candidates_from: str = "uncovered", names: dict[str, str] | None = None,
               grid_spacing_m: float | None = None, time_limit: float = TARGET_TIME_LIMIT_S,
               lang: str = "zh") -> dict[str, Any]:
    """The fewest new sites that bring coverage to ``target`` (LSCP,
    :func:`.lscp.fewest_sites`), as JSON, each named by district and nearest station
    (``names``: names given with the candidates come first). Candidates: those given,
    else a grid in the gaps (``candidates_from="gaps"``, ``grid_spacing_m`` apart),
    else a site at every uncovered unit (:func:`uncovered_candidates`)."""
    from .lscp import fewest_sites, parse_target

    target = parse_target(target)  # before any long run
    if candidates is None and candidates_from == "gaps":
        candidates = gap_candidates(spec, data, minutes, spacing_m=grid_spacing_m)
    elif candidates is None:
        candidates = uncovered_candidates(spec, data.demand, minutes, backup=backup)
    problem = build_siting_problem(spec.engine, spec.stations, data.demand, candidates,
                                   minutes)
    res = fewest_sites(problem, target=target, backup=backup, method=method,
                       time_limit=time_limit)
    sites = [{"rank": k, "id": sid, "lon": round(float(candidates.lon[j]), 7),
              "lat": round(float(candidates.lat[j]), 7), "gain": round(g, 6)}
             for k, (j, sid, g) in enumerate(zip(res.site_index, res.site_ids, res.gains,
                                                 strict=True), start=1)]
    # each site named by district and nearest station; a name from the file comes first
    sites = name_sites(spec, data, sites, lang) if sites else []
    for st in sites:
        given = (names or {}).get(str(st["id"]))
        if given:
            st["place"], st["name"] = st["name"], given
    return {"minutes": minutes, "engine": spec.engine.describe(),
            "stations": spec.stations.describe(),
            "demand": {"units": len(data.demand), "source": data.demand.source,
                       "total": round(data.demand.total_weight, 6)},
            "candidates": {"count": len(candidates), "source": candidates.source},
            "lscp": res.to_dict(), "sites": sites, **run_flags(spec, data.demand)}


@dataclass(frozen=True)
class Plan:
    """One planner run: everything the planner page and its report show."""

    spec: RunSpec
    data: PlanningData
    report: Any  # CoverageReport at PLAN_REPORT_MINUTES and the run's minutes
    gaps: Any  # GapsReport at the run's minutes
    suggestions: Any  # SitingResult, or None
    candidates: Candidates | None
    minutes: float
    covered_area: Any = None  # the road-network isochrones' union (network engine only)

    def figures(self) -> tuple[Any, Any, Any, Any, Any]:
        """The plan less its inputs (what a shared run stores)."""
        return (self.report, self.gaps, self.suggestions, self.candidates, self.covered_area)

    def site_list(self, lang: str = "zh") -> list[dict[str, Any]]:
        """The suggested sites in the order chosen, with their added demand, each named
        by district and nearest station (``name``, ``district_adcode``, ...)."""
        if self.suggestions is None or self.candidates is None:
            return []
        c = self.candidates
        where = {str(i): (float(x), float(y))
                 for i, x, y in zip(c.ids, c.lon, c.lat, strict=True)}
        best = self.suggestions.best
        sites = [{"rank": k, "id": sid, "lon": round(where[sid][0], 7),
                  "lat": round(where[sid][1], 7), "gain": round(g, 6)}
                 for k, (sid, g) in enumerate(zip(best.site_ids, best.gains, strict=True),
                                              start=1)]
        return name_sites(self.spec, self.data, sites, lang)


def compute_plan(spec: RunSpec, data: PlanningData, minutes: float, *, n: int,
                 sites_from: str = "gaps", node_spacing_m: float = 250.0,
                 spacing_m: float | None = None) -> Plan:
    """Coverage at the report's thresholds and ``minutes``, the gaps at ``minutes``,
    ``n`` suggested sites (``sites_from="gaps"``: :func:`gap_candidates`; ``"nodes"``:
    road nodes only) and, on a road network, the covered area."""
    thresholds = sorted({*PLAN_REPORT_MINUTES, minutes})
    rep = coverage_report(spec.engine, spec.stations, data.demand, minutes=thresholds,
                          districts=data.districts)
    gaps = find_gaps(spec.engine, spec.stations, data.demand, minutes,
                     districts=data.districts)
    sugg = cands = None
    if n and gaps.gaps:
        cands = (node_candidates(spec, data.demand, minutes, node_spacing_m)
                 if sites_from == "nodes" else
                 gap_candidates(spec, data, minutes, gaps=gaps, spacing_m=spacing_m))
        problem = build_siting_problem(spec.engine, spec.stations, data.demand, cands,
                                       minutes)
        sugg = suggest_sites(problem, min(n, len(cands)), exact=False)
    area = None
    if hasattr(spec.engine, "covered_area") and spec.stations.lon.size:
        area = spec.engine.covered_area(spec.stations.lon, spec.stations.lat, minutes)
    return Plan(spec, data, rep, gaps, sugg, cands, minutes, area)


def capacities_of(records: Sequence[Any], default: int | None = None
                  ) -> tuple[dict[str, float] | None, dict[str, Any]]:
    """The counted stations' capacities (seats) for access, and what was used.

    When no station has its seats recorded, every station counts 1 (the scores are then
    stations per unit of demand) and the answer says so. When some have, the others
    take ``default``; without one they are an error naming the first such station."""
    seats = {s.id: getattr(s, "capacity", None) for s in records}
    known = {k: float(v) for k, v in seats.items() if v is not None}
    missing = sorted(k for k, v in seats.items() if v is None)
    if default is not None and (isinstance(default, bool) or not isinstance(default, int)
                                or not 1 <= default <= 10_000):
        raise InvalidInput(f"default_capacity: {default!r} is not a number of seats in "
                           "1..10000", field="default_capacity")
    if not known:
        if default is None:
            return None, {"source": "none recorded", "unit": "station",
                          "recorded": 0, "defaulted": len(missing)}
        return ({k: float(default) for k in missing},
                {"source": "default", "unit": "seat", "recorded": 0,
                 "defaulted": len(missing), "default": default})
    if missing and default is None:
        raise InvalidInput(
            f"capacity: {len(missing):,} of the {len(seats):,} counted stations have no "
            f"seats recorded (the first: {missing[0]!r}); record their seats, or give a "
            "default capacity for them", field="capacity")
    out = dict(known)
    out.update({k: float(default) for k in missing} if default is not None else {})
    return out, {"source": "recorded", "unit": "seat", "recorded": len(known),
                 "defaulted": len(missing), "default": default}


def access_run(spec: RunSpec, data: PlanningData, minutes: float, *,
               method: str = "e2sfca", weights: Sequence[float] | None = None,
               default_capacity: int | None = None, crowded: int = 10,
               with_scores: bool = False) -> dict[str, Any]:
    """Capacity-aware access (2SFCA or E2SFCA) of every demand unit, per district and
    for the city, with the equity of it (:mod:`.equity`) and the most crowded
    stations, as JSON; ``with_scores`` adds each unit's score (``scores``, in the
    demand's order)."""
    caps, cap_info = capacities_of(spec.records, default_capacity)
    res = access_scores(spec.engine, spec.stations, data.demand, minutes, method=method,
                        weights=weights, capacity=caps)
    doc = res.to_dict(data.districts, crowded=crowded)
    eq = equity_report(res.scores, data.demand.weight, data.demand.district, data.districts,
                       covered=res.scores > 0)
    names = {s.id: s.name for s in spec.records}
    for c in doc["crowded"]:
        c["name"] = names.get(c["id"], "")
    by_code = {d["adcode"]: d for d in eq["districts"]}
    for d in doc["districts"]:
        d["equity"] = {k: v for k, v in by_code.get(d["adcode"], {}).items()
                       if k not in ("adcode", "name")}
    doc.update({"equity": eq["city"], "capacity": cap_info,
                "engine": spec.engine.describe(), "stations": spec.stations.describe(),
                "demand": {"units": len(data.demand), "source": data.demand.source,
                           "weight": data.demand.weight_name,
                           "total": round(data.demand.total_weight, 6)},
                **run_flags(spec, data.demand)})
    if with_scores:
        doc["scores"] = res.scores.tolist()
    return doc

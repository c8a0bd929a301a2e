"""Capacity-aware access: the two-step floating catchment family (2SFCA, E2SFCA).

"Covered" only says a station is within reach; a 5 m² station beside a delivery hub
with thousands of riders is not the same service as one with a room to itself. The
floating catchment methods weigh each station's capacity (seats or m², ``S_j``)
against the demand within its reach, then sum, for each demand unit, the ratios of
the stations it reaches.

With ``W_ij`` the weight of the pair (demand unit ``i``, station ``j``), zero beyond
the threshold, and ``d_i`` the unit's demand:

1. each station's ratio of supply to the demand in its catchment,
   ``R_j = S_j / sum_i d_i W_ij`` (a station no demand reaches has ``R_j = 0``);
2. each unit's access, ``A_i = sum_j W_ij R_j`` (supply per unit of demand: seats per
   worker).

2SFCA (Luo & Wang 2003) weighs every pair within the threshold 1. E2SFCA (Luo & Qi
2009) splits the threshold into travel-time zones with falling weights; the default
zones are thirds of the threshold weighed 1.00, 0.68 and 0.22, Luo & Qi's weights for
their 0-10, 10-20 and 20-30 minute zones applied to thirds of the run's threshold (a
15-minute walk: 0-5, 5-10, 10-15 minutes). A pair on a zone's edge is in that zone
(times at most the edge), as for coverage.

The zone weights are sums of nested reach matrices, ``W = sum_k (w_k - w_(k+1)) M_k``
with ``M_k`` the engine's boolean coverage matrix at zone edge ``k``: any engine that
answers coverage (straight line or road network) answers access. An engine that gives
its pairs' minutes (``reach_minutes``, the straight line) is searched once and each
pair weighed by its zone instead, with the same pairs. The scores equal
PySAL ``access``'s ``two_stage_fca`` / ``enhanced_two_stage_fca`` with the same step
weights on the same travel times.

Total supply is conserved: ``sum_i d_i A_i`` equals the capacity of every station that
some demand reaches, and ``A_i`` averaged over demand (weighted by ``d_i``) is supply
per unit of demand for the whole city.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from ..errors import InvalidInput
from .demand import Demand, Districts
from .metrics import StationSet
from .straight import TravelEngine, check_minutes

__all__ = ["E2SFCA_WEIGHTS", "AccessResult", "access_scores", "access_zones", "capacities_for"]

#: Luo & Qi's (2009) E2SFCA zone weights, for three equal zones of the threshold.
E2SFCA_WEIGHTS = (1.0, 0.68, 0.22)
#: The smallest zone weight taken (a zone weighed less is better left out; far smaller
#: weights would overflow the supply-to-demand ratios).
MIN_WEIGHT = 0.001
METHODS = ("2sfca", "e2sfca")


def access_zones(minutes: float, method: str = "e2sfca",
                 weights: Sequence[float] | None = None) -> tuple[tuple[float, float], ...]:
    """The zones ``((edge minutes, weight), ...)`` of a method: one zone of weight 1 for
    2SFCA; equal parts of ``minutes`` with ``weights`` (default
    :data:`E2SFCA_WEIGHTS`) for E2SFCA."""
    m = check_minutes(minutes)
    if method not in METHODS:
        raise InvalidInput(f"method: {method!r} is not an access method; allowed: "
                           f"{', '.join(METHODS)}", field="method")
    if method == "2sfca":
        if weights is not None:
            raise InvalidInput("weights: 2SFCA weighs every pair within reach 1; give zone "
                               "weights with the e2sfca method", field="weights")
        return ((m, 1.0),)
    w = tuple(E2SFCA_WEIGHTS if weights is None else weights)
    if not 1 <= len(w) <= 10:
        raise InvalidInput(f"weights: {len(w)} zone weights; allowed 1..10", field="weights")
    for k, x in enumerate(w):
        if not isinstance(x, (int, float)) or isinstance(x, bool) or \
                not MIN_WEIGHT <= x <= 1:
            raise InvalidInput(f"weights[{k}]: {x!r} is not a zone weight; allowed "
                               f"{MIN_WEIGHT:g}..1", field="weights")
    if any(b > a for a, b in zip(w, w[1:], strict=False)):
        raise InvalidInput(f"weights: {list(w)} must not rise with travel time (nearer "
                           "zones weigh at least as much)", field="weights")
    n = len(w)
    return tuple((m * (k + 1) / n, float(x)) for k, x in enumerate(w))


def capacities_for(stations: StationSet, capacity: Mapping[str, float] | Sequence[float]
                   | np.ndarray | None) -> np.ndarray:
    """Each counted station's capacity: ``None`` gives every station 1 (the scores are
    then stations per unit of demand); a mapping by station id must name every one;
    a sequence is in the stations' order. Capacities are finite and positive."""
    n = len(stations)
    if capacity is None:
        return np.ones(n)
    if isinstance(capacity, Mapping):
        missing = [str(i) for i in stations.ids if str(i) not in capacity]
        if missing:
            raise InvalidInput(f"capacity: no capacity for station {missing[0]!r}"
                               + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
                               + "; give one for every counted station", field="capacity")
        values = [capacity[str(i)] for i in stations.ids]
    else:
        values = np.asarray(capacity).reshape(-1).tolist()
        if len(values) != n:
            raise InvalidInput(f"capacity: {len(values)} values for {n} stations",
                               field="capacity")
    out = np.empty(n)
    for k, v in enumerate(values):
        try:
            x = float(v)
        except (TypeError, ValueError):
            x = float("nan")
        if not np.isfinite(x) or x <= 0:
            raise InvalidInput(f"capacity: station {stations.ids[k]!r} has capacity {v!r}; a "
                               "capacity (seats or m²) must be a number above 0",
                               field="capacity")
        out[k] = x
    return out


@dataclass(frozen=True)
class AccessResult:
    """Access scores of one run."""

    method: str
    minutes: float
    zones: tuple[tuple[float, float], ...]
    #: Per demand unit: supply per unit of demand (0 where no station reaches).
    scores: np.ndarray
    #: Per station: demand in its catchment (weighted by zone), and capacity.
    catchment_demand: np.ndarray
    capacity: np.ndarray
    station_ids: np.ndarray
    demand: Demand = field(repr=False)

    @property
    def ratio(self) -> np.ndarray:
        """Per station ``R_j``: capacity per unit of demand in its catchment."""
        out = np.zeros_like(self.capacity)
        np.divide(self.capacity, self.catchment_demand, out=out,
                  where=self.catchment_demand > 0)
        return out

    def mean_access(self, mask: np.ndarray | None = None) -> float | None:
        """Demand-weighted mean access (of the units in ``mask``)."""
        w = self.demand.weight if mask is None else self.demand.weight[mask]
        a = self.scores if mask is None else self.scores[mask]
        tot = float(w.sum())
        return float((w * a).sum() / tot) if tot > 0 else None

    def crowded(self, n: int = 10) -> list[dict[str, Any]]:
        """The ``n`` stations with the most demand per unit of capacity."""
        per = self.catchment_demand / self.capacity  # capacities are above 0
        order = np.lexsort((self.station_ids.astype(str), -per))[:max(0, n)]
        return [{"id": str(self.station_ids[j]), "capacity": float(self.capacity[j]),
                 "catchment_demand": round(float(self.catchment_demand[j]), 6),
                 "demand_per_capacity": round(float(per[j]), 6)} for j in order
                if self.catchment_demand[j] > 0]

    def by_district(self, districts: Districts | None) -> list[dict[str, Any]]:
        """Per district: demand, demand-weighted mean access, and demand with none."""
        codes = self.demand.district
        names = {} if districts is None else dict(zip(districts.adcode, districts.name,
                                                      strict=True))
        out = []
        for code in sorted(set(codes.tolist())):
            mask = codes == code
            w = self.demand.weight[mask]
            out.append({"adcode": code, "name": names.get(code, code or "(outside)"),
                        "units": int(mask.sum()), "demand": round(float(w.sum()), 6),
                        "mean_access": _round(self.mean_access(mask)),
                        "demand_without_access": round(float(
                            w[self.scores[mask] <= 0].sum()), 6)})
        return out

    def to_dict(self, districts: Districts | None = None, *, crowded: int = 10
                ) -> dict[str, Any]:
        return {"method": self.method, "minutes": self.minutes,
                "zones": [{"minutes": m, "weight": w} for m, w in self.zones],
                "mean_access": _round(self.mean_access()),
                "demand_without_access": round(float(
                    self.demand.weight[self.scores <= 0].sum()), 6),
                "supply_reached": round(float(self.capacity[self.catchment_demand > 0].sum()),
                                        6),
                "districts": self.by_district(districts), "crowded": self.crowded(crowded)}


def _round(x: float | None) -> float | None:
    """12 significant digits (access per unit of demand is often far below 1)."""
    return None if x is None else float(f"{x:.12g}")


def weight_matrix(engine: TravelEngine, stations: StationSet, demand: Demand,
                  zones: Sequence[tuple[float, float]]) -> sparse.csr_matrix:
    """``(n_demand, n_stations)`` pair weights: each pair weighs its nearest zone's
    weight (sum of the nested reach matrices at the zone edges)."""
    m, n = len(demand), len(stations)
    pairs = getattr(engine, "reach_minutes", None)
    if pairs is not None:  # one search with the pairs' minutes (the straight line)
        di, si, t = pairs(stations.lon, stations.lat, demand.lon, demand.lat, zones[-1][0])
        edges = [e for e, _ in zones[:-1]]
        pw = np.select([t <= e for e in edges], [w for _, w in zones[:-1]],
                       zones[-1][1]) if edges else np.full(t.size, zones[-1][1])
        return sparse.csr_matrix((pw, (di, si)), shape=(m, n))
    w = sparse.csr_matrix((m, n), dtype=np.float64)
    for k, (edge, weight) in enumerate(zones):
        nxt = zones[k + 1][1] if k + 1 < len(zones) else 0.0
        step = weight - nxt
        if step == 0:
            continue
        reach = engine.coverage_matrix(stations.lon, stations.lat, demand.lon, demand.lat,
                                       edge)
        w = w + reach.astype(np.float64) * step
    return w.tocsr()


def access_scores(engine: TravelEngine, stations: StationSet, demand: Demand,
                  minutes: float, *, method: str = "e2sfca",
                  weights: Sequence[float] | None = None,
                  capacity: Mapping[str, float] | Sequence[float] | np.ndarray | None = None
                  ) -> AccessResult:
    """2SFCA or E2SFCA access of every demand unit to the ``stations`` within
    ``minutes`` (see the module docstring)."""
    zones = access_zones(minutes, method, weights)
    cap = capacities_for(stations, capacity)
    w = weight_matrix(engine, stations, demand, zones)
    catchment = np.asarray(w.T @ demand.weight, dtype=np.float64).reshape(-1)
    ratio = np.zeros_like(cap)
    with np.errstate(over="ignore", invalid="ignore"):
        np.divide(cap, catchment, out=ratio, where=catchment > 0)
        scores = np.asarray(w @ ratio, dtype=np.float64).reshape(-1)
    if not (np.isfinite(ratio).all() and np.isfinite(scores).all()):
        raise InvalidInput("weight: the demand within some station's reach is too small "
                           "to divide its capacity by (below about 1e-300); scale the "
                           "demand weights up", field="weight")
    return AccessResult(method, float(minutes), zones, scores, catchment, cap,
                        np.asarray(stations.ids, dtype=object), demand)

"""Site suggestions: which N candidate sites add the most covered demand.

The problem is the maximal covering location problem (MCLP, Church & ReVelle 1974)
with the existing stations kept: a demand unit already reached by a station counts
as covered whatever is chosen, and the objective is the demand *newly* covered by
the N chosen sites. With ``beta > 0`` the backup-coverage variant (Hogan & ReVelle
1986) also rewards a second station within reach:

    objective = newly covered demand + beta * demand newly reached by 2+ stations

with ``0 <= beta <= 1`` (a backup is never worth more than first coverage; this also
keeps the objective submodular, so the greedy bound below holds).

Two solvers work on the same :class:`SitingProblem`:

- :func:`greedy_sites`, lazy greedy with a priority queue over the sparse columns:
  fast, deterministic (ties go to the lower site index), and within ``1 - 1/e`` (63 %)
  of the optimum;
- :func:`exact_sites`, an integer program solved with ``scipy.optimize.milp`` (HiGHS),
  for small instances.

:func:`suggest_sites` runs the greedy and, when asked or when the instance is small,
the exact solve, and reports the greedy's optimality gap.

A problem is built either with a travel engine (:func:`build_siting_problem`) or from a
precomputed matrix of times or distances produced by any routing tool
(:func:`.siting_matrix.siting_problem_from_matrix`).
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import sparse

from ..errors import InvalidInput
from .demand import Demand
from .gaps import GapReport
from .metrics import StationSet
from .straight import TravelEngine, check_lonlat, check_minutes

__all__ = [
    "Candidates",
    "SitingProblem",
    "SitingResult",
    "SitingSolution",
    "build_siting_problem",
    "candidates_from_demand",
    "candidates_from_gaps",
    "evaluate_sites",
    "exact_sites",
    "greedy_sites",
    "merge_candidates",
    "suggest_sites",
]

#: Default spacing of the candidate grid inside gaps, metres: half a 15-minute walk
#: (1 km), so a gap offers sites its reach circles overlap.
GAP_GRID_SPACING_M = 500.0
#: At most this many candidates from gaps (the grid widens in large gaps to fit).
GAP_GRID_MAX_SITES = 5000
#: ``exact=None`` solves exactly only up to this many candidate sites ...
EXACT_AUTO_MAX_SITES = 500
#: ... and this many non-zeros in the rows that matter.
EXACT_AUTO_MAX_NNZ = 200_000


# --------------------------------------------------------------------------- candidates


@dataclass(frozen=True, eq=False)
class Candidates:
    """Candidate sites (WGS-84) with unique ids and where they came from."""

    ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        ids = np.array([str(v) for v in np.asarray(self.ids, dtype=object).reshape(-1)],
                       dtype=object)
        lon, lat = check_lonlat(self.lon, self.lat, "candidates")
        if ids.size != lon.size:
            raise InvalidInput(f"candidates: {ids.size} ids for {lon.size} points; they must "
                               "be equally long", field="candidates")
        if ids.size == 0:
            raise InvalidInput("candidates: none given; at least one candidate site is "
                               "required", field="candidates")
        if len(set(ids.tolist())) != ids.size:
            u, c = np.unique(ids.astype(str), return_counts=True)
            raise InvalidInput(f"candidates: duplicate id(s) {', '.join(u[c > 1][:10])}; ids "
                               "must be unique", field="id")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "lon", lon)
        object.__setattr__(self, "lat", lat)

    def __len__(self) -> int:
        return int(self.lon.size)


def candidates_from_gaps(gaps: GapReport, *, spacing_m: float | None = None,
                         max_sites: int = GAP_GRID_MAX_SITES) -> Candidates:
    """Candidates inside the gaps: each gap's representative point (id ``gap-<rank>``)
    and a square grid of points ``spacing_m`` apart inside its polygon (ids
    ``gap-<rank>-<k>``), so that a large gap offers several sites, not one. The grid is
    laid in a local equal-area projection, aligned on the representative point. About
    ``max_sites`` at most in all: when the gaps' area needs more, the spacing is widened
    evenly (never narrowed) until they fit. ``spacing_m=0`` gives the representative
    points only."""
    import shapely

    from .demand import local_equal_area

    if not gaps.gaps:
        raise InvalidInput("candidates: the gap report has no gaps, so there are no "
                           "candidate sites", field="candidates")
    spacing = GAP_GRID_SPACING_M if spacing_m is None else spacing_m
    if not (isinstance(spacing, (int, float)) and math.isfinite(spacing)
            and (spacing == 0 or 50 <= spacing <= 50_000)):
        raise InvalidInput(f"spacing_m: {spacing_m!r} is out of range; allowed 50-50,000 "
                           "metres, or 0 for one point per gap", field="spacing_m")
    ids = [f"gap-{g.rank}" for g in gaps.gaps]
    lon = [g.rep_lon for g in gaps.gaps]
    lat = [g.rep_lat for g in gaps.gaps]
    if spacing > 0:
        # One projection for the whole report (gaps of one city): areas and spacings in
        # metres, the grid aligned on each gap's representative point.
        fwd, inv = local_equal_area(round(float(np.mean(lon)), 2), round(float(np.mean(lat)), 2))
        polys = [shapely.transform(g.polygon, lambda xy: np.column_stack(fwd.transform(*xy.T)))
                 for g in gaps.gaps]
        areas = np.array([p.area for p in polys])
        budget = max(0, int(max_sites) - len(ids))
        # The spacing that keeps the grid points within budget (about area / s² each).
        s_all = float(spacing)
        if budget and areas.sum() / s_all ** 2 > budget:
            s_all = math.sqrt(areas.sum() / budget)
        for g, poly in zip(gaps.gaps, polys, strict=True):
            if poly.is_empty:
                continue
            rx, ry = fwd.transform(g.rep_lon, g.rep_lat)
            x0, y0, x1, y1 = poly.bounds
            gx = rx + s_all * np.arange(math.floor((x0 - rx) / s_all),
                                        math.ceil((x1 - rx) / s_all) + 1)
            gy = ry + s_all * np.arange(math.floor((y0 - ry) / s_all),
                                        math.ceil((y1 - ry) / s_all) + 1)
            xx, yy = (a.ravel() for a in np.meshgrid(gx, gy))
            shapely.prepare(poly)
            inside = shapely.contains_xy(poly, xx, yy) & ((xx - rx) ** 2 + (yy - ry) ** 2 > 1.0)
            if not inside.any():
                continue
            px, py = inv.transform(xx[inside], yy[inside])
            ids.extend(f"gap-{g.rank}-{k}" for k in range(1, int(inside.sum()) + 1))
            lon.extend(np.asarray(px).tolist())
            lat.extend(np.asarray(py).tolist())
    return Candidates(np.array(ids, dtype=object), np.array(lon), np.array(lat), "gaps")


def merge_candidates(*sets: Candidates) -> Candidates:
    """Several candidate sets as one (ids must not repeat across them); its source
    names them all (``gaps+nodes``)."""
    return Candidates(np.concatenate([c.ids for c in sets]),
                      np.concatenate([c.lon for c in sets]),
                      np.concatenate([c.lat for c in sets]),
                      "+".join(dict.fromkeys(c.source for c in sets)))


def candidates_from_demand(demand: Demand, mask: Any = None, *, prefix: str = "cell-"
                           ) -> Candidates:
    """Demand units' representative points as candidates (e.g. grid cells), optionally
    only those selected by ``mask``; ids are ``prefix + unit id``."""
    sel = np.ones(len(demand), dtype=bool) if mask is None else np.asarray(mask)
    return Candidates(np.array([prefix + str(v) for v in demand.ids[sel]], dtype=object),
                      demand.lon[sel], demand.lat[sel], "demand")


# --------------------------------------------------------------------------- problem


@dataclass(frozen=True, eq=False)
class SitingProblem:
    """A covering problem as arrays.

    Attributes
    ----------
    matrix
        Boolean ``(n_demand, n_sites)`` CSR: True where the candidate reaches the unit.
    weight
        Demand weight per unit.
    existing
        How many existing stations reach each unit (capped at 2).
    site_ids, demand_ids
        Ids of the columns and rows.
    """

    matrix: sparse.csr_matrix
    weight: np.ndarray
    existing: np.ndarray
    site_ids: np.ndarray
    demand_ids: np.ndarray
    minutes: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        mat = sparse.csr_matrix(self.matrix, dtype=bool)
        nd, ns = mat.shape
        w = np.asarray(self.weight, dtype=np.float64).reshape(-1)
        e = np.minimum(np.asarray(self.existing, dtype=np.int64).reshape(-1), 2)
        if w.size != nd or e.size != nd or len(self.demand_ids) != nd or \
                len(self.site_ids) != ns:
            raise InvalidInput(f"siting: a {nd} x {ns} matrix needs {nd} weights, existing "
                               f"counts and demand ids and {ns} site ids", field="matrix")
        object.__setattr__(self, "matrix", mat)
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "existing", e)

    @property
    def total_demand(self) -> float:
        return float(self.weight.sum())

    @property
    def baseline_covered(self) -> float:
        return float(self.weight[self.existing >= 1].sum())

    @property
    def baseline_backup(self) -> float:
        return float(self.weight[self.existing >= 2].sum())


def build_siting_problem(engine: TravelEngine, stations: StationSet, demand: Demand,
                         candidates: Candidates, minutes: float = 15.0) -> SitingProblem:
    """The covering problem for ``candidates`` with ``stations`` kept, via ``engine``."""
    m = check_minutes(minutes)
    mat = engine.coverage_matrix(candidates.lon, candidates.lat, demand.lon, demand.lat, m)
    existing = engine.reach_counts(stations.lon, stations.lat, demand.lon, demand.lat, m,
                                   cap=2)
    return SitingProblem(mat, demand.weight, existing, candidates.ids, demand.ids, m,
                         {"engine": engine.describe(), "stations": len(stations),
                          "candidates": len(candidates), "candidate_source": candidates.source})


# --------------------------------------------------------------------------- solutions


@dataclass(frozen=True)
class SitingSolution:
    """Chosen sites and what they add over the existing stations.

    ``gains`` are the marginal objective gains in the order given (for the greedy:
    the order chosen). ``status`` is ``greedy``, ``optimal`` or ``time_limit``;
    ``bound`` is the solver's upper bound on the objective (exact only).
    """

    method: str
    site_index: tuple[int, ...]
    site_ids: tuple[str, ...]
    gains: tuple[float, ...]
    covered_added: float
    backup_added: float
    beta: float
    runtime_s: float
    status: str
    bound: float | None = None

    @property
    def objective(self) -> float:
        return self.covered_added + self.beta * self.backup_added

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "status": self.status, "site_ids": list(self.site_ids),
                "gains": [round(g, 6) for g in self.gains],
                "objective": round(self.objective, 6),
                "covered_added": round(self.covered_added, 6),
                "backup_added": round(self.backup_added, 6), "beta": self.beta,
                "bound": None if self.bound is None else round(self.bound, 6),
                "runtime_s": round(self.runtime_s, 4)}


@dataclass(frozen=True)
class SitingResult:
    """The greedy answer, the exact one if solved, and the greedy's optimality gap."""

    n: int
    beta: float
    minutes: float | None
    total_demand: float
    baseline_covered: float
    greedy: SitingSolution
    exact: SitingSolution | None = None

    @property
    def gap(self) -> float | None:
        """``(exact - greedy) / exact`` objective; ``None`` without a proven optimum."""
        if self.exact is None or self.exact.status != "optimal":
            return None
        if self.exact.objective <= 0:
            return 0.0
        return (self.exact.objective - self.greedy.objective) / self.exact.objective

    @property
    def best(self) -> SitingSolution:
        if self.exact is not None and self.exact.objective > self.greedy.objective:
            return self.exact
        return self.greedy

    def to_dict(self) -> dict[str, Any]:
        b = self.best
        return {"n": self.n, "beta": self.beta, "minutes": self.minutes,
                "total_demand": round(self.total_demand, 6),
                "baseline_covered": round(self.baseline_covered, 6),
                "covered_after": round(self.baseline_covered + b.covered_added, 6),
                "share_before": _share(self.baseline_covered, self.total_demand),
                "share_after": _share(self.baseline_covered + b.covered_added,
                                      self.total_demand),
                "best": b.method, "greedy": self.greedy.to_dict(),
                "exact": None if self.exact is None else self.exact.to_dict(),
                "greedy_gap": None if self.gap is None else round(self.gap, 9)}


def _share(a: float, b: float) -> float | None:
    return round(a / b, 6) if b > 0 else None


def _check_n(n: Any, n_sites: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= n_sites:
        raise InvalidInput(f"n: {n!r} is not a valid budget; allowed integers 1..{n_sites} "
                           "(the number of candidate sites)", field="n")
    return int(n)


def _check_beta(beta: Any) -> float:
    try:
        b = float(beta)
    except (TypeError, ValueError):
        b = math.nan
    if not 0.0 <= b <= 1.0:
        raise InvalidInput(f"beta: {beta!r} is out of range; allowed 0..1 (weight of backup "
                           "coverage relative to first coverage)", field="beta")
    return b


def evaluate_sites(problem: SitingProblem, site_index: Sequence[int]) -> tuple[float, float]:
    """(covered_added, backup_added) of opening the given sites."""
    sel = np.asarray(site_index, dtype=np.intp)
    add = np.asarray(problem.matrix[:, sel].sum(axis=1)).ravel() if sel.size else 0
    c = problem.existing + add
    e = problem.existing
    w = problem.weight
    return float(w[(c >= 1) & (e == 0)].sum()), float(w[(c >= 2) & (e < 2)].sum())


def _gain_table(beta: float) -> np.ndarray:
    """Objective gain of one more station at a unit reached by 0, 1, 2 stations."""
    return np.array([1.0, beta, 0.0])


def _greedy_order(problem: SitingProblem, sites: list[int], beta: float) -> list[int]:
    """The given sites in greedy order (largest marginal gain first, ties by index),
    without those that add nothing given the others."""
    csc = problem.matrix.tocsc()
    c = problem.existing.copy()
    g = _gain_table(beta)
    left = sorted(sites)
    order: list[int] = []
    while left:
        gains = [float((problem.weight[r] * g[c[r]]).sum())
                 for r in (csc.indices[csc.indptr[j]:csc.indptr[j + 1]] for j in left)]
        k = int(np.argmax(gains))
        if gains[k] <= 0:
            break
        j = left.pop(k)
        order.append(j)
        rows = csc.indices[csc.indptr[j]:csc.indptr[j + 1]]
        c[rows] = np.minimum(c[rows] + 1, 2)
    return order


def _ordered_gains(problem: SitingProblem, order: Sequence[int], beta: float) -> list[float]:
    csc = problem.matrix.tocsc()
    c = problem.existing.copy()
    g = _gain_table(beta)
    out = []
    for j in order:
        rows = csc.indices[csc.indptr[j]:csc.indptr[j + 1]]
        out.append(float((problem.weight[rows] * g[c[rows]]).sum()))
        c[rows] = np.minimum(c[rows] + 1, 2)
    return out


def greedy_sites(problem: SitingProblem, n: int, *, beta: float = 0.0) -> SitingSolution:
    """Lazy greedy: repeatedly open the site with the largest marginal gain.

    Marginal gains only shrink as sites open (the objective is submodular), so a
    site's last computed gain is an upper bound: only the top of the priority queue
    is re-evaluated. Ties go to the lower site index. Stops early when no site adds
    anything.
    """
    t0 = time.perf_counter()
    n = _check_n(n, problem.matrix.shape[1])
    beta = _check_beta(beta)
    csc = problem.matrix.tocsc()
    indptr, indices = csc.indptr, csc.indices
    w = problem.weight
    c = problem.existing.copy()
    g = _gain_table(beta)
    gains0 = csc.T.astype(np.float64) @ (w * g[c])
    heap = [(-float(v), j) for j, v in enumerate(gains0.tolist()) if v > 0]
    heapq.heapify(heap)
    fresh = dict.fromkeys(range(len(gains0)), 0)
    chosen: list[int] = []
    gains: list[float] = []
    step = 0
    while heap and len(chosen) < n:
        neg, j = heapq.heappop(heap)
        if fresh[j] != step:
            rows = indices[indptr[j]:indptr[j + 1]]
            v = float((w[rows] * g[c[rows]]).sum())
            fresh[j] = step
            if v > 0:
                heapq.heappush(heap, (-v, j))
            continue
        chosen.append(j)
        gains.append(-neg)
        rows = indices[indptr[j]:indptr[j + 1]]
        c[rows] = np.minimum(c[rows] + 1, 2)
        step += 1
    cov, bak = evaluate_sites(problem, chosen)
    return SitingSolution("greedy", tuple(chosen), tuple(str(problem.site_ids[j]) for j in chosen),
                          tuple(gains), cov, bak, beta, time.perf_counter() - t0, "greedy")


def _relevant_rows(problem: SitingProblem, beta: float) -> np.ndarray:
    reach = np.diff(problem.matrix.indptr) > 0
    open_level = problem.existing < (2 if beta > 0 else 1)
    return np.flatnonzero(reach & open_level & (problem.weight > 0))


def exact_sites(problem: SitingProblem, n: int, *, beta: float = 0.0,
                time_limit: float = 60.0) -> SitingSolution:
    """Optimal sites by integer programming (``scipy.optimize.milp``, HiGHS).

    Variables: ``x_j`` binary (open site j); per relevant unit ``y_i`` (newly covered)
    and, with ``beta > 0``, ``b_i`` (newly backed up), continuous in [0, 1]; they are
    integral at the optimum once ``x`` is. Constraints ``sum x <= n``; for a unit
    reached by no station ``y_i + b_i <= sum_j a_ij x_j`` and ``b_i <= y_i``; for one
    reached by one station ``b_i <= sum_j a_ij x_j``. Maximise ``w.y + beta w.b``.
    ``status`` is ``time_limit`` when HiGHS stopped before proving optimality.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    t0 = time.perf_counter()
    ns = problem.matrix.shape[1]
    n = _check_n(n, ns)
    beta = _check_beta(beta)
    rows = _relevant_rows(problem, beta)
    a = problem.matrix[rows].astype(np.float64)
    w = problem.weight[rows]
    e = problem.existing[rows]
    r0 = np.flatnonzero(e == 0)  # units that can be newly covered
    r1 = np.flatnonzero(e == 1) if beta > 0 else np.zeros(0, np.intp)
    rb = np.concatenate((r0, r1)) if beta > 0 else np.zeros(0, np.intp)
    ny, nb = r0.size, rb.size
    nv = ns + ny + nb
    cost = np.concatenate((np.zeros(ns), -w[r0], -beta * w[rb]))
    blocks = []
    # y_i + b_i - A_i x <= 0 (units with no station); b_i - A_i x <= 0 (one station)
    if ny:
        blocks.append(sparse.hstack([-a[r0], sparse.identity(ny, format="csr"),
                                     sparse.eye(ny, nb, format="csr")]))
    if r1.size:
        sel = sparse.csr_matrix((np.ones(r1.size), (np.arange(r1.size), ny + np.arange(r1.size))),
                                shape=(r1.size, nb))
        blocks.append(sparse.hstack([-a[r1], sparse.csr_matrix((r1.size, ny)), sel]))
    if nb and ny:
        # b_i - y_i <= 0 for units with no station
        by = sparse.csr_matrix(
            (np.concatenate((np.ones(ny), -np.ones(ny))),
             (np.tile(np.arange(ny), 2), np.concatenate((ns + ny + np.arange(ny),
                                                          ns + np.arange(ny))))),
            shape=(ny, nv))
        blocks.append(by)
    budget = sparse.csr_matrix((np.ones(ns), (np.zeros(ns, np.intp), np.arange(ns))),
                               shape=(1, nv))
    mat = sparse.vstack([*blocks, budget]).tocsr() if blocks else budget
    lb = np.full(mat.shape[0], -np.inf)
    ub = np.zeros(mat.shape[0])
    ub[-1] = n
    integrality = np.concatenate((np.ones(ns), np.zeros(ny + nb)))
    res = milp(cost, integrality=integrality, bounds=Bounds(0.0, 1.0),
               constraints=LinearConstraint(mat, lb, ub),
               options={"time_limit": float(time_limit), "mip_rel_gap": 1e-9, "disp": False})
    if res.x is None:
        raise InvalidInput(f"exact solve failed: {res.message}", field="exact")
    chosen = _greedy_order(problem, np.flatnonzero(res.x[:ns] > 0.5).tolist(), beta)
    cov, bak = evaluate_sites(problem, chosen)
    bound = getattr(res, "mip_dual_bound", None)
    return SitingSolution(
        "exact", tuple(chosen), tuple(str(problem.site_ids[j]) for j in chosen),
        tuple(_ordered_gains(problem, chosen, beta)), cov, bak, beta,
        time.perf_counter() - t0, "optimal" if res.status == 0 else "time_limit",
        None if bound is None or not np.isfinite(bound) else -float(bound))


def suggest_sites(problem: SitingProblem, n: int, *, beta: float = 0.0,
                  exact: bool | None = None, time_limit: float = 30.0) -> SitingResult:
    """The ``n`` candidate sites that add the most covered demand.

    Always runs the greedy. ``exact=True`` also solves the integer program (within
    ``time_limit`` seconds); ``None`` does so only for small instances (at most
    :data:`EXACT_AUTO_MAX_SITES` sites and :data:`EXACT_AUTO_MAX_NNZ` non-zeros in the
    rows that matter). On the 500 m Xuzhou demo layer with 21,506 candidate cells an
    exact solve of n=10 took about 50 s, so large instances are greedy-only by default.
    For ``n=1`` the greedy, which tries every candidate, is the exact answer.
    """
    greedy = greedy_sites(problem, n, beta=beta)
    if n == 1 and exact is not False:
        # One site: the greedy tries every candidate, so it is the optimum.
        return SitingResult(1, greedy.beta, problem.minutes, problem.total_demand,
                            problem.baseline_covered, greedy,
                            replace(greedy, method="exact", status="optimal",
                                    bound=greedy.objective))
    if exact is None:
        rows = _relevant_rows(problem, greedy.beta)
        exact = (problem.matrix.shape[1] <= EXACT_AUTO_MAX_SITES
                 and problem.matrix[rows].nnz <= EXACT_AUTO_MAX_NNZ)
    ex = exact_sites(problem, n, beta=beta, time_limit=time_limit) if exact else None
    return SitingResult(int(n), greedy.beta, problem.minutes, problem.total_demand,
                        problem.baseline_covered, greedy, ex)

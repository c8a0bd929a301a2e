"""The pure part of the partitioned coverage run (:mod:`.partitioned` drives Dask).

Plans (which demand unit goes to which partition), the halo box, the per-partition
sums (the single-process :func:`.metrics.figures_from_counts` on the partition's units) and the
exact merge of those sums into a :class:`~.metrics.CoverageReport`'s thresholds. See
:mod:`.partitioned` for why the merge matches the single-process run to the last digit.
Nothing here imports Dask.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np

from ..config import EARTH_RADIUS_M
from ..errors import InvalidInput, LocatorError
from .demand import Demand, Districts
from .metrics import (
    CoverageFigures,
    DistrictCoverage,
    ThresholdCoverage,
    _by_reach,
    district_groups,
    figures_from_counts,
)
from .straight import TravelEngine

__all__ = ["DEFAULT_PART_ROWS", "ClusterError", "halo_box"]

#: Rows per partition when ``partitions`` is not given.
DEFAULT_PART_ROWS = 250_000
_EXACT_LIMIT = float(2 ** 53)


class ClusterError(LocatorError):
    """The partitioned run could not finish; nothing was reported."""


# --------------------------------------------------------------------------- halo


def _halo_m(engine: TravelEngine, thresholds: tuple[float, ...]) -> float:
    radius = getattr(engine, "radius_m", None)
    if not callable(radius):
        raise InvalidInput(f"engine: {getattr(engine, 'name', engine)!r} has no reach radius, "
                           "so partitions cannot be given a halo; partitioned coverage "
                           "needs the straight-line engine", field="engine")
    return max(float(radius(m)) for m in thresholds)


def halo_box(lon: np.ndarray, lat: np.ndarray, radius_m: float
             ) -> tuple[float, float, float, float] | None:
    """The points' bounding box widened to hold every point within ``radius_m`` of one of
    them (great circle), or ``None`` when that is every longitude (near a pole, or a box
    across the antimeridian)."""
    rho = radius_m / EARTH_RADIUS_M * (1 + 1e-6) + 1e-12  # a hair wider, never narrower
    dlat = math.degrees(rho)
    x0, x1 = float(lon.min()), float(lon.max())
    y0, y1 = float(lat.min()), float(lat.max())
    top = max(abs(y0), abs(y1))
    if top + dlat >= 89.0:
        return None
    # Farthest longitude within angle rho of a point at latitude phi: asin(sin rho / cos phi).
    dlon = math.degrees(math.asin(min(1.0, math.sin(rho) / math.cos(math.radians(top)))))
    if x0 - dlon < -180.0 or x1 + dlon > 180.0:
        return None
    return x0 - dlon, y0 - dlat, x1 + dlon, y1 + dlat


def _in_box(slon: np.ndarray, slat: np.ndarray,
            box: tuple[float, float, float, float] | None) -> np.ndarray:
    if box is None:
        return np.arange(slon.size)
    x0, y0, x1, y1 = box
    return np.flatnonzero((slon >= x0) & (slon <= x1) & (slat >= y0) & (slat <= y1))


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True, eq=False)
class _Partial:
    """What one partition returns: per local district, per threshold."""

    pid: int
    rows: int
    codes: tuple[str, ...]
    by_reach: np.ndarray  # (T, G, 4) float64
    units: np.ndarray  # (G,)
    units_cov: np.ndarray  # (T, G)
    area_tot: np.ndarray | None  # (G,)
    area_cov: np.ndarray | None  # (T, G)
    integral: bool
    covered: tuple[np.ndarray, ...] | None  # packed bits per threshold, when asked
    stations: int
    #: With ``detail``, at the largest threshold: each unit's reach count capped at 3
    #: (uint8), and per halo station (in the job's order) the demand it reaches and the
    #: part of it also reached by another station (the gap and redundancy inputs).
    reach: np.ndarray | None = None
    reached: np.ndarray | None = None
    shared: np.ndarray | None = None
    #: A file job's largest gaps within its part (nearest stations among the halo's).
    gaps: Any = None


@dataclass(frozen=True, eq=False)
class _ArrayJob:
    pid: int
    lon: np.ndarray
    lat: np.ndarray
    weight: np.ndarray
    area: np.ndarray | None
    group: np.ndarray  # local district index
    codes: tuple[str, ...]
    slon: np.ndarray
    slat: np.ndarray
    want_covered: bool
    detail: bool = False


@dataclass(frozen=True, eq=False)
class _FileJob:
    pid: int
    root: str
    part: dict[str, Any]
    stations_file: str
    #: How many of the part's largest gaps to bring back (0: none).
    gaps: int = 0


def _compute(pid: int, engine: TravelEngine, thresholds: tuple[float, ...],
             slon: np.ndarray, slat: np.ndarray, lon: np.ndarray, lat: np.ndarray,
             weight: np.ndarray, area: np.ndarray | None, group: np.ndarray,
             codes: tuple[str, ...], want_covered: bool, detail: bool = False) -> _Partial:
    n_g = len(codes)
    units_like = cast(Demand, _Units(weight, area))
    t_n = len(thresholds)
    by_reach = np.zeros((t_n, n_g, 4))
    units_cov = np.zeros((t_n, n_g), dtype=np.int64)
    area_cov = None if area is None else np.zeros((t_n, n_g))
    covered: list[np.ndarray] = []
    units = np.bincount(group, minlength=n_g)
    area_tot = None
    reach = reached = shared = None
    if detail:
        # What metrics.redundant_stations and gaps.find_gaps compute, for this part; the
        # matrix's row sums are also the reach counts at the largest threshold.
        a = engine.coverage_matrix(slon, slat, lon, lat, max(thresholds))
        n_reach = np.asarray(a.sum(axis=1)).ravel()
        at = a.T.tocsr().astype(np.float64)
        reached = at @ weight
        shared = at @ (weight * (n_reach >= 2))
        reach = np.minimum(n_reach, 3).astype(np.uint8)
    for t, m in enumerate(thresholds):
        if reach is not None and m == max(thresholds):
            counts = reach.astype(np.int64)
        else:
            counts = engine.reach_counts(slon, slat, lon, lat, m, cap=3)
        per, _ = figures_from_counts(group, n_g, counts, units_like)
        for g, f in enumerate(per):
            by_reach[t, g] = f.demand_by_reach
            units_cov[t, g] = f.units_covered
            if area_cov is not None:
                area_cov[t, g] = f.area_covered_m2
        if area is not None:
            area_tot = np.array([f.area_total_m2 for f in per])
        if want_covered:
            covered.append(np.packbits(counts > 0))
    integral = bool(np.all(weight == np.floor(weight)) and weight.sum() < _EXACT_LIMIT)
    return _Partial(pid, int(lon.size), codes, by_reach, units, units_cov, area_tot, area_cov,
                    integral, tuple(covered) if want_covered else None, int(slon.size),
                    reach, reached, shared)


@dataclass(frozen=True, eq=False)
class _Units:
    """The two columns :func:`.metrics.figures_from_counts` reads from a demand, and its length."""

    weight: np.ndarray
    area_m2: np.ndarray | None

    def __len__(self) -> int:
        return int(self.weight.size)


def _one_thread(engine: TravelEngine, threads: int) -> TravelEngine:
    if isinstance(getattr(engine, "workers", None), int):
        engine = copy.copy(engine)
        engine.workers = threads  # type: ignore[attr-defined]
    return engine


def _run_job(job: _ArrayJob | _FileJob, engine: TravelEngine,
             thresholds: tuple[float, ...], halo: float, threads: int) -> _Partial:
    """One partition, on a worker."""
    engine = _one_thread(engine, threads)
    if isinstance(job, _ArrayJob):
        return _compute(job.pid, engine, thresholds, job.slon, job.slat, job.lon, job.lat,
                        job.weight, job.area, job.group, job.codes, job.want_covered,
                        job.detail)
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    from .national import read_part

    lon, lat, w, idx, dictionary = read_part(job.root, job.part)
    used, group = np.unique(idx, return_inverse=True)
    st = pq.read_table(Path(job.root) / job.stations_file, columns=["lon", "lat"])
    slon, slat = st.column("lon").to_numpy(), st.column("lat").to_numpy()
    near = _in_box(slon, slat, halo_box(lon, lat, halo))
    codes = tuple(dictionary[i] for i in used.tolist())
    part = _compute(job.pid, engine, thresholds, slon[near], slat[near], lon, lat, w, None,
                    group.astype(np.intp), codes, False)
    if not job.gaps:
        return part
    from .demand import demand_from_points
    from .gaps import find_gaps
    from .metrics import station_set

    ids = pq.read_table(Path(job.root) / job.part["file"], columns=["id"]).column("id")
    dem = demand_from_points(lon, lat, w, ids=ids.to_pylist(),
                             district=np.array(codes, dtype=object)[group])
    st = station_set(near.tolist(), slon[near], slat[near])  # ids: rows of the stations file
    found = find_gaps(engine, st, dem, max(thresholds), limit=job.gaps)
    return dataclasses.replace(part, gaps=found)


# --------------------------------------------------------------------------- merging


class _Merger:
    """Collects partials; builds the report only when every partition has answered."""

    def __init__(self, thresholds: tuple[float, ...], rows: dict[int, int]):
        self.thresholds = thresholds
        self.expected = dict(rows)
        self.got: dict[int, _Partial] = {}

    def add(self, p: _Partial) -> None:
        want = self.expected.get(p.pid)
        if want is None:
            raise ClusterError(f"partition {p.pid} answered but was never asked for; "
                               "nothing was reported")
        if p.rows != want:
            raise ClusterError(f"partition {p.pid} returned {p.rows:,} rows where {want:,} "
                               "were sent (did the data change during the run?); nothing "
                               "was reported")
        self.got.setdefault(p.pid, p)

    def missing(self) -> list[int]:
        return sorted(set(self.expected) - set(self.got))

    def thresholds_coverage(self, districts: Districts | None, radius: Callable | None,
                            area_city: list[tuple[float, float]] | None
                            ) -> tuple[ThresholdCoverage, ...]:
        if self.missing():
            miss = self.missing()
            raise ClusterError(f"{len(miss)} partition(s) did not answer (first {miss[0]}); "
                               "nothing was reported")
        by_code: dict[str, list[tuple[_Partial, int]]] = {}
        for pid in sorted(self.got):
            p = self.got[pid]
            for g, code in enumerate(p.codes):
                by_code.setdefault(code, []).append((p, g))
        fake = SimpleNamespace(district=np.array(sorted(by_code), dtype=object))
        groups, _ = district_groups(cast(Demand, fake), districts)
        t_n, n_g = len(self.thresholds), len(groups)
        has_area = any(p.area_tot is not None for p in self.got.values())
        by_reach = np.zeros((t_n, n_g, 4))
        units = np.zeros(n_g, dtype=np.int64)
        units_cov = np.zeros((t_n, n_g), dtype=np.int64)
        a_tot = np.zeros(n_g)
        a_cov = np.zeros((t_n, n_g))
        for gi, (code, _, _) in enumerate(groups):
            parts = by_code.get(code, [])
            if len(parts) > 1 and not all(p.integral for p, _ in parts):
                raise InvalidInput(
                    f"district {code!r} is split across {len(parts)} partitions and its "
                    "weights are not whole numbers below 2**53, so its sums could differ "
                    "from the single-process run in the last digit; partition by district "
                    "(districts stay whole) or use whole-number weights", field="partitions")
            for p, g in parts:  # one partition: copied as is; several: exact integer sums
                by_reach[:, gi] += p.by_reach[:, g]
                units[gi] += p.units[g]
                units_cov[:, gi] += p.units_cov[:, g]
                if p.area_tot is not None and p.area_cov is not None:
                    a_tot[gi] += p.area_tot[g]
                    a_cov[:, gi] += p.area_cov[:, g]
        n_units = int(units.sum())
        out = []
        for t, m in enumerate(self.thresholds):
            br = np.ascontiguousarray(by_reach[t])
            per = [CoverageFigures(
                int(units[g]), int(units_cov[t, g]), float(br[g].sum()), float(br[g, 1:].sum()),
                _by_reach(br[g]), float(a_tot[g]) if has_area else None,
                float(a_cov[t, g]) if has_area else None) for g in range(n_g)]
            tot = br.sum(axis=0)
            ca = area_city[t] if area_city is not None else None
            city = CoverageFigures(n_units, int(units_cov[t].sum()), float(tot.sum()),
                                   float(tot[1:].sum()), _by_reach(tot),
                                   None if ca is None else ca[0], None if ca is None else ca[1])
            out.append(ThresholdCoverage(
                m, city, tuple(DistrictCoverage(a, n, e, f)
                               for (a, n, e), f in zip(groups, per, strict=True)),
                radius(m) if callable(radius) else None))
        return tuple(out)


# --------------------------------------------------------------------------- plans


def _plan_district(codes: np.ndarray, n_parts: int) -> np.ndarray:
    """Partition of each unit: whole districts, in code order, packed to even sizes."""
    uniq, inv, cnt = np.unique(codes, return_inverse=True, return_counts=True)
    target = math.ceil(codes.size / n_parts)
    part_of = np.empty(uniq.size, dtype=np.int64)
    part, fill = 0, 0
    for j, c in enumerate(cnt.tolist()):
        if fill and fill + c > target:
            part, fill = part + 1, 0
        part_of[j] = part
        fill += c
    return part_of[inv]


def _plan_h3(lon: np.ndarray, lat: np.ndarray, n_parts: int, res: int) -> np.ndarray:
    """Partition of each unit: whole H3 cells in index order, packed to even sizes."""
    import h3

    if isinstance(res, bool) or not isinstance(res, int) or not 0 <= res <= 15:
        raise InvalidInput(f"h3_resolution: {res!r} is out of range; allowed 0..15",
                           field="h3_resolution")
    cells = np.array([h3.str_to_int(h3.latlng_to_cell(y, x, res))
                      for x, y in zip(lon.tolist(), lat.tolist(), strict=True)], dtype=np.uint64)
    return _plan_district(cells, n_parts)


def _check_parts(partitions: int | None, n: int) -> int:
    if partitions is None:
        return max(4, math.ceil(n / DEFAULT_PART_ROWS))
    if isinstance(partitions, bool) or not isinstance(partitions, int) or \
            not 1 <= partitions <= 100_000:
        raise InvalidInput(f"partitions: {partitions!r} is out of range; allowed 1..100000",
                           field="partitions")
    return partitions

"""Travel engines: the interface every engine implements, and the straight-line engine.

The interface
-------------
A :class:`TravelEngine` answers three questions about stations (or candidate sites)
and demand points, all given as WGS-84 longitude/latitude arrays and a travel-time
threshold in minutes:

- :meth:`~TravelEngine.reach_counts`: how many stations reach each demand point;
- :meth:`~TravelEngine.coverage_matrix`: which sites reach which demand points,
  as a boolean ``scipy.sparse.csr_matrix`` of shape ``(n_demand, n_sites)``;
- :meth:`~TravelEngine.nearest_time`: minutes from each demand point to its
  nearest station (``inf`` if none).

Everything above the engines (:mod:`.metrics`, :mod:`.siting`) uses only these
three methods, so a road-network engine can replace the straight-line one
without touching them. Engines validate ``minutes`` with :func:`check_minutes`.

The straight-line engine
------------------------
Travel time is the great-circle distance times a detour factor, at the mode's
speed, so a threshold of ``m`` minutes is a great-circle radius of
``m / 60 * speed_kmh * 1000 / detour`` metres (:meth:`StraightLineEngine.radius_m`).
With the defaults (walk, 4 km/h, detour 1.3) a 15-minute walk reaches 769 m in a
straight line; ``detour=1.0`` gives the programme's plain 1 km circle.

Points are unit vectors (ECEF on the unit sphere) in a :class:`scipy.spatial.cKDTree`;
chord length is strictly increasing in great-circle distance, so a chord radius
selects exactly the points within a great-circle radius.

**Exact at the boundary.** A pair counts as within reach when
``haversine_np(...) <= radius_m`` (:func:`locator.geo.haversine_np`). Chords come
from float64 unit vectors and differ from the haversine distance by nanometres, so
only pairs whose chord lies within :data:`BAND_REL` (1e-9, relative; about a
micrometre at 1 km) of the threshold chord could be decided differently. Those
pairs are re-decided with haversine; every other pair is decided by the tree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from .. import config
from ..errors import InvalidInput
from ..geo import chord_for_m, haversine_np, unit_xyz_np

__all__ = [
    "BAND_REL",
    "DEFAULT_THRESHOLDS",
    "MAX_MINUTES",
    "MAX_SPEED_KMH",
    "StraightLineEngine",
    "TravelEngine",
    "check_minutes",
    "check_mode",
    "check_thresholds",
    "check_lonlat",
    "mode_speed_kmh",
]

#: Thresholds reported when none are given (minutes).
DEFAULT_THRESHOLDS: tuple[float, ...] = (5.0, 10.0, 15.0)
#: Largest accepted threshold (minutes); thresholds must lie in (0, MAX_MINUTES].
MAX_MINUTES = 120.0
#: Largest speed accepted per mode (km/h). The e-bike limit is the legal motor
#: cut-off (GB 17761-2018); the others only catch typos such as metres per minute.
MAX_SPEED_KMH: dict[str, float] = {"walk": 7.0, "bike": 35.0, "ebike": config.EBIKE_LEGAL_MAX_KMH}
#: Accepted detour factors (route length / straight-line length).
DETOUR_RANGE = (1.0, 3.0)
#: Relative half-width of the band around the threshold chord inside which a pair is
#: re-decided with haversine (see the module docstring).
BAND_REL = 1e-9
_BAND_ABS = 4e-15  # chord units; float64 unit vectors are good to about 2e-16
_R = config.EARTH_RADIUS_M


# --------------------------------------------------------------------------- validation


def check_mode(mode: Any) -> str:
    """The travel mode, lower-cased; :class:`InvalidInput` names the allowed modes."""
    m = mode.strip().lower() if isinstance(mode, str) else None
    if m not in config.MODES:
        raise InvalidInput(f"mode: {mode!r} is not a travel mode; allowed: "
                           f"{', '.join(config.MODES)}", field="mode")
    return m


def mode_speed_kmh(mode: str, speed_kmh: float | None = None) -> float:
    """The speed of ``mode`` (default from :data:`locator.config.SPEEDS_KMH`), validated.

    Raises
    ------
    InvalidInput
        For an unknown mode, a speed that is not a positive number, or one above
        :data:`MAX_SPEED_KMH` (for e-bikes: the legal 25 km/h).
    """
    mode = check_mode(mode)
    if speed_kmh is None:
        return config.SPEEDS_KMH[mode]
    try:
        v = float(speed_kmh)
    except (TypeError, ValueError):
        raise InvalidInput(f"speed_kmh: {speed_kmh!r} is not a number", field="speed_kmh") from None
    hi = MAX_SPEED_KMH[mode]
    if not math.isfinite(v) or v <= 0:
        raise InvalidInput(f"speed_kmh: {speed_kmh!r} is not a positive speed; allowed "
                           f"(0, {hi:g}] km/h for {mode}", field="speed_kmh")
    if v > hi:
        why = (" (the legal motor cut-off of GB 17761-2018; estimates never assume faster)"
               if mode == "ebike" else "")
        raise InvalidInput(f"speed_kmh: {v:g} km/h is too fast for {mode}; allowed (0, {hi:g}] "
                           f"km/h{why}", field="speed_kmh")
    return v


def check_minutes(minutes: Any, *, field: str = "minutes") -> float:
    """A travel-time threshold in (0, :data:`MAX_MINUTES`] minutes, as a float."""
    try:
        v = float(minutes)
    except (TypeError, ValueError):
        raise InvalidInput(f"{field}: {minutes!r} is not a number of minutes; allowed "
                           f"(0, {MAX_MINUTES:g}]", field=field) from None
    if isinstance(minutes, bool) or not math.isfinite(v) or not 0.0 < v <= MAX_MINUTES:
        raise InvalidInput(f"{field}: {minutes!r} minutes is out of range; allowed "
                           f"(0, {MAX_MINUTES:g}] minutes", field=field)
    return v


def check_thresholds(minutes: Iterable[Any] | Any | None) -> tuple[float, ...]:
    """Several thresholds (sorted, unique); ``None`` gives :data:`DEFAULT_THRESHOLDS`."""
    if minutes is None:
        return DEFAULT_THRESHOLDS
    if isinstance(minutes, (str, bytes)) or not isinstance(minutes, Iterable):
        minutes = [minutes]
    out = sorted({check_minutes(m) for m in minutes})
    if not out:
        raise InvalidInput("minutes: no threshold given; give one or more values in "
                           f"(0, {MAX_MINUTES:g}]", field="minutes")
    return tuple(out)


def check_lonlat(lon: Any, lat: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Two equally long float64 arrays of finite WGS-84 degrees."""
    x = np.ascontiguousarray(lon, dtype=np.float64).reshape(-1)
    y = np.ascontiguousarray(lat, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise InvalidInput(f"{what}: lon and lat have different lengths ({x.size} and "
                           f"{y.size}); they must be equally long", field=what)
    with np.errstate(invalid="ignore"):
        bad = ~((np.abs(x) <= 180.0) & (np.abs(y) <= 90.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInput(f"{what}: point {i} ({float(x[i])!r}, {float(y[i])!r}) is not WGS-84 "
                           "degrees; allowed lon -180..180, lat -90..90, finite", field=what)
    return x, y


# --------------------------------------------------------------------------- interface


@runtime_checkable
class TravelEngine(Protocol):
    """What coverage and siting need from a travel-time model.

    Implementations: :class:`StraightLineEngine` (great circle times a detour factor);
    a road-network engine may follow. All coordinates are WGS-84 degrees; ``minutes``
    must satisfy :func:`check_minutes`. A pair is within reach when its travel time
    is at most ``minutes`` (boundary included).
    """

    #: Travel mode, one of :data:`locator.config.MODES`.
    mode: str
    #: Short engine name for reports, e.g. ``"straight-line"``.
    name: str

    def describe(self) -> dict[str, Any]:
        """JSON-ready parameters of the engine (name, mode, speed, ...) for reports."""
        ...

    def reach_counts(self, station_lon: Any, station_lat: Any, demand_lon: Any,
                     demand_lat: Any, minutes: float, *, cap: int | None = None) -> np.ndarray:
        """Per demand point, how many stations reach it within ``minutes`` (int64).

        With ``cap``, counts stop at ``cap`` (``min(count, cap)``), which is much
        faster where stations are dense; ``cap=1`` is the covered / not covered test.
        """
        ...

    def coverage_matrix(self, site_lon: Any, site_lat: Any, demand_lon: Any,
                        demand_lat: Any, minutes: float) -> sparse.csr_matrix:
        """Boolean ``(n_demand, n_sites)`` CSR matrix, True where the site reaches the
        demand point within ``minutes``. Indices are sorted within rows."""
        ...

    def nearest_time(self, station_lon: Any, station_lat: Any, demand_lon: Any,
                     demand_lat: Any, *, max_minutes: float | None = None) -> np.ndarray:
        """Minutes from each demand point to its nearest station (float64); ``inf``
        where there is none (within ``max_minutes``, if given)."""
        ...


# --------------------------------------------------------------------------- straight line


class StraightLineEngine:
    """Great-circle distance times a detour factor, at a constant speed.

    Parameters
    ----------
    mode
        ``walk``, ``bike`` or ``ebike``.
    speed_kmh
        Defaults to :data:`locator.config.SPEEDS_KMH` for the mode; e-bikes are capped
        at the legal 25 km/h.
    detour
        Route length divided by straight-line length; default
        :data:`locator.config.DETOUR_FACTOR`. Use 1.0 for plain circles.
    workers
        Threads for the KD-tree queries (``-1``: all CPUs).
    """

    name = "straight-line"

    def __init__(self, mode: str = "walk", *, speed_kmh: float | None = None,
                 detour: float = config.DETOUR_FACTOR, workers: int = -1):
        self.mode = check_mode(mode)
        self.speed_kmh = mode_speed_kmh(self.mode, speed_kmh)
        try:
            d = float(detour)
        except (TypeError, ValueError):
            raise InvalidInput(f"detour: {detour!r} is not a number", field="detour") from None
        lo, hi = DETOUR_RANGE
        if not lo <= d <= hi:
            raise InvalidInput(f"detour: {detour!r} is out of range; allowed {lo:g}..{hi:g} "
                               "(route length / straight-line length)", field="detour")
        self.detour = d
        self.workers = int(workers)

    def __repr__(self) -> str:
        return (f"StraightLineEngine(mode={self.mode!r}, speed_kmh={self.speed_kmh:g}, "
                f"detour={self.detour:g})")

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "mode": self.mode, "speed_kmh": self.speed_kmh,
                "detour_factor": self.detour}

    # ----------------------------------------------------------- conversions
    @property
    def metres_per_minute(self) -> float:
        """Straight-line metres covered per minute of travel."""
        return self.speed_kmh * 1000.0 / 60.0 / self.detour

    def radius_m(self, minutes: float) -> float:
        """Great-circle radius reached within ``minutes``."""
        return check_minutes(minutes) * self.metres_per_minute

    def minutes_for_m(self, distance_m: Any) -> np.ndarray:
        """Travel minutes for great-circle metres (array in, array out)."""
        return np.asarray(distance_m, dtype=np.float64) / self.metres_per_minute

    # ----------------------------------------------------------- the interface
    def reach_counts(self, station_lon: Any, station_lat: Any, demand_lon: Any,
                     demand_lat: Any, minutes: float, *, cap: int | None = None) -> np.ndarray:
        radius = self.radius_m(minutes)
        slon, slat = check_lonlat(station_lon, station_lat, "station")
        dlon, dlat = check_lonlat(demand_lon, demand_lat, "demand")
        return count_within(slon, slat, dlon, dlat, radius, cap=cap, workers=self.workers)

    def coverage_matrix(self, site_lon: Any, site_lat: Any, demand_lon: Any,
                        demand_lat: Any, minutes: float) -> sparse.csr_matrix:
        radius = self.radius_m(minutes)
        slon, slat = check_lonlat(site_lon, site_lat, "site")
        dlon, dlat = check_lonlat(demand_lon, demand_lat, "demand")
        return pairs_within(slon, slat, dlon, dlat, radius)

    def reach_minutes(self, site_lon: Any, site_lat: Any, demand_lon: Any, demand_lat: Any,
                      minutes: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pairs of :meth:`coverage_matrix` with their travel minutes, as (demand
        index, site index, minutes) arrays."""
        radius = self.radius_m(minutes)
        slon, slat = check_lonlat(site_lon, site_lat, "site")
        dlon, dlat = check_lonlat(demand_lon, demand_lat, "demand")
        di, si, metres = pair_metres(slon, slat, dlon, dlat, radius)
        return di, si, self.minutes_for_m(metres)

    def nearest_time(self, station_lon: Any, station_lat: Any, demand_lon: Any,
                     demand_lat: Any, *, max_minutes: float | None = None) -> np.ndarray:
        slon, slat = check_lonlat(station_lon, station_lat, "station")
        dlon, dlat = check_lonlat(demand_lon, demand_lat, "demand")
        limit = None if max_minutes is None else self.radius_m(max_minutes)
        _, dist = nearest_within(slon, slat, dlon, dlat, limit, workers=self.workers)
        return dist / self.metres_per_minute


# --------------------------------------------------------------------------- kernels


def _band(radius_m: float) -> tuple[float, float, float]:
    """(low, threshold, high) chords: below low is surely inside, above high surely out."""
    c = chord_for_m(radius_m)
    half = c * BAND_REL + _BAND_ABS
    return max(c - half, 0.0), c, c + half


def _tree(lon: np.ndarray, lat: np.ndarray) -> cKDTree:
    return cKDTree(unit_xyz_np(lon, lat), compact_nodes=False, balanced_tree=False)


def count_within(slon: np.ndarray, slat: np.ndarray, dlon: np.ndarray, dlat: np.ndarray,
                 radius_m: float, *, cap: int | None = None, workers: int = -1) -> np.ndarray:
    """Per demand point, the number of stations with ``haversine <= radius_m``
    (``min(count, cap)`` with ``cap``). Arrays must be validated float64."""
    m = dlon.size
    if cap is not None:
        if isinstance(cap, bool) or int(cap) != cap or cap < 1:
            raise InvalidInput(f"cap: {cap!r} is not a positive integer", field="cap")
        cap = int(cap)
    if m == 0 or slon.size == 0:
        return np.zeros(m, dtype=np.int64)
    tree = _tree(slon, slat)
    q = unit_xyz_np(dlon, dlat)
    lo, _, hi = _band(radius_m)
    n = slon.size
    if cap is not None and cap < n:
        k = cap
        dist, idx = tree.query(q, k=k, distance_upper_bound=hi, workers=workers)
        if k == 1:
            dist = dist[:, None]
            idx = idx[:, None]
        counts = np.count_nonzero(idx < n, axis=1).astype(np.int64)
        in_band = (dist >= lo) & (idx < n)
        if in_band.any():
            rows = np.flatnonzero(in_band.any(axis=1))
            counts[rows] = _exact_counts(tree, slon, slat, dlon[rows], dlat[rows], q[rows],
                                         radius_m, hi, cap)
        return counts
    counts = np.asarray(tree.query_ball_point(q, hi, return_length=True, workers=workers),
                        dtype=np.int64)
    inner = np.asarray(tree.query_ball_point(q, lo, return_length=True, workers=workers),
                       dtype=np.int64)
    rows = np.flatnonzero(counts != inner)
    if rows.size:
        counts[rows] = _exact_counts(tree, slon, slat, dlon[rows], dlat[rows], q[rows],
                                     radius_m, hi, None)
    if cap is not None:
        np.minimum(counts, cap, out=counts)
    return counts


def _exact_counts(tree: cKDTree, slon: np.ndarray, slat: np.ndarray, dlon: np.ndarray,
                  dlat: np.ndarray, q: np.ndarray, radius_m: float, hi: float,
                  cap: int | None) -> np.ndarray:
    """Counts decided pair by pair with haversine, for the few rows near the boundary."""
    out = np.empty(dlon.size, dtype=np.int64)
    for r, hits in enumerate(tree.query_ball_point(q, hi)):
        h = np.asarray(hits, dtype=np.intp)
        c = int(np.count_nonzero(haversine_np(dlon[r], dlat[r], slon[h], slat[h]) <= radius_m))
        out[r] = c if cap is None else min(c, cap)
    return out


def pairs_within(slon: np.ndarray, slat: np.ndarray, dlon: np.ndarray, dlat: np.ndarray,
                 radius_m: float) -> sparse.csr_matrix:
    """Boolean ``(n_demand, n_sites)`` CSR of pairs with ``haversine <= radius_m``."""
    m, n = dlon.size, slon.size
    if m == 0 or n == 0:
        return sparse.csr_matrix((m, n), dtype=bool)
    di, si, _ = _pairs(slon, slat, dlon, dlat, radius_m, metres=False)
    mat = sparse.csr_matrix((np.ones(di.size, dtype=bool), (di, si)), shape=(m, n))
    mat.sum_duplicates()
    mat.sort_indices()
    return mat


def pair_metres(slon: np.ndarray, slat: np.ndarray, dlon: np.ndarray, dlat: np.ndarray,
                radius_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs :func:`pairs_within` finds, as (demand index, site index, great-circle
    metres) arrays (metres from the chord: haversine's within micrometres)."""
    if dlon.size == 0 or slon.size == 0:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty, np.empty(0)
    di, si, metres = _pairs(slon, slat, dlon, dlat, radius_m, metres=True)
    assert metres is not None
    return di, si, metres


def _pairs(slon: np.ndarray, slat: np.ndarray, dlon: np.ndarray, dlat: np.ndarray,
           radius_m: float, *, metres: bool
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    lo, _, hi = _band(radius_m)
    dtree = _tree(dlon, dlat)
    stree = _tree(slon, slat)
    # output_type="ndarray" keeps zero distances (a site exactly on a demand point).
    rec = stree.sparse_distance_matrix(dtree, hi, output_type="ndarray")
    si = rec["i"].astype(np.intp)
    di = rec["j"].astype(np.intp)
    keep = rec["v"] < lo
    border = np.flatnonzero(~keep)
    border_m = None
    if border.size:
        b_s, b_d = si[border], di[border]
        border_m = haversine_np(dlon[b_d], dlat[b_d], slon[b_s], slat[b_s])
        keep[border] = border_m <= radius_m
    if not metres:
        return di[keep], si[keep], None
    # Metres from the chord (the same great circle, within micrometres), haversine's on
    # the border where the keep test used them.
    dist = 2.0 * _R * np.arcsin(np.minimum(rec["v"] * 0.5, 1.0))
    if border_m is not None:
        dist[border] = border_m
    return di[keep], si[keep], dist[keep]


def nearest_within(slon: np.ndarray, slat: np.ndarray, dlon: np.ndarray, dlat: np.ndarray,
                   limit_m: float | None = None, *, workers: int = -1
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Index of each demand point's nearest station (``-1`` if none) and its great-circle
    metres (``inf`` if none, or farther than ``limit_m``). Metres come from the chord
    (the same great circle as haversine, within micrometres)."""
    m = dlon.size
    idx = np.full(m, -1, dtype=np.intp)
    dist = np.full(m, np.inf)
    if m == 0 or slon.size == 0:
        return idx, dist
    tree = _tree(slon, slat)
    q = unit_xyz_np(dlon, dlat)
    if limit_m is None:
        d, i = tree.query(q, k=1, workers=workers)
    else:
        d, i = tree.query(q, k=1, distance_upper_bound=_band(limit_m)[2], workers=workers)
    ok = i < slon.size
    idx[ok] = i[ok]
    dist[ok] = 2.0 * _R * np.arcsin(np.minimum(d[ok] * 0.5, 1.0))
    if limit_m is not None:
        far = ok & (dist > limit_m)
        idx[far] = -1
        dist[far] = np.inf
    return idx, dist

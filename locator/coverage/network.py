"""Road-network travel engine: walk, bicycle and e-bike times on OpenStreetMap roads.

:class:`NetworkEngine` answers the questions of the travel-engine interface of
:mod:`.straight` (``reach_counts``, ``coverage_matrix``, ``nearest_time``) on a
:class:`~.roadgraph.RoadGraph` (built from an OpenStreetMap extract by
:func:`~.roadgraph.load_osm_graph`, whose docstring says how a city union gets its
extract and which ways each mode may use), so coverage metrics and siting can use
either engine; isochrones are in :mod:`.isochrones`. Every result built from OSM data
must carry :data:`ATTRIBUTION`.

Snapping and the time of a trip
-------------------------------
Stations and demand points snap to the nearest graph node, exactly in great-circle
distance (a unit-sphere ``cKDTree`` over the nodes). The snapping distance is walked at
walking speed in every mode: the rider walks to the road. A station reaches a demand
point when ``snap(demand) + network(demand node -> station node) + snap(station) <=
threshold``. Times run *towards the station* (the worker travels to it), which matters
on one-way streets: the searches run on the reversed graph. A station farther than
``max_snap_m`` from every node, or outside the graph's extent, raises
:class:`~locator.errors.InvalidInput` (a Helsinki extract cannot answer for Xuzhou); a
demand point that far away is simply not reached (``inf``).

Algorithms and their cost
-------------------------
``n`` nodes, ``m`` edges, ``S`` stations, ``D`` demand points, ``B`` the nodes within
the straight-line distance a traveller covers in the threshold (a 15-minute walk: a
1 km disc).

* ``nearest_time`` and ``reach_counts(cap=1)``: one multi-source Dijkstra on the
  reversed graph from a super-source joined to every station node by an edge weighted
  with that station's snapping time, cut off at the threshold: ``O(m + n log n)`` once,
  independent of ``S``. Preparing a demand layer (:meth:`NetworkEngine.snap_demand`,
  ``O(D log n)``) is done once per layer and kept for the last four layers, since
  planners evaluate many station sets, thresholds and times on the same demand.
* ``reach_counts`` and ``coverage_matrix`` (cross-coverage): one bounded Dijkstra per
  distinct station node on the sub-graph of the nodes within the straight-line radius
  ``speed * (threshold - snap)``. No edge is faster than the mode, so a node outside
  that disc cannot be reached in time and the local search is exact.
  ``O(S * B log B)``, independent of ``n``, against ``O(S * n)`` for
  ``scipy.sparse.csgraph.dijkstra(indices=stations, limit=...)`` (which initialises
  every node for every source) and far less memory than its ``S x n`` matrix.

Thread safety: a :class:`RoadGraph` is immutable and an engine only reads it; the
engine's demand-snap cache is guarded by a lock.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from .. import config
from ..errors import InvalidInput
from ..geo import chord_for_m, unit_xyz_np
from .roadgraph import (
    ATTRIBUTION,
    ATTRIBUTION_URL,
    DEFAULT_MIN_COMPONENT_NODES,
    RoadGraph,
    SegmentAccess,
    default_cache_dir,
    graph_from_arrays,
    graph_from_segments,
    load_osm_graph,
    segment_access,
)
from .straight import check_lonlat, check_minutes

__all__ = [
    "ATTRIBUTION",
    "ATTRIBUTION_URL",
    "DEFAULT_MAX_SNAP_M",
    "DEFAULT_MIN_COMPONENT_NODES",
    "NetworkEngine",
    "RoadGraph",
    "SegmentAccess",
    "Snapped",
    "candidates_from_nodes",
    "candidates_near_uncovered",
    "default_cache_dir",
    "graph_from_arrays",
    "graph_from_segments",
    "load_osm_graph",
    "segment_access",
]

#: A station farther than this from every road node cannot be placed on the network.
DEFAULT_MAX_SNAP_M = 500.0
#: Slack in seconds when comparing a time with a threshold (float summation order).
TIME_EPS_S = 1e-6

_R = config.EARTH_RADIUS_M


# --------------------------------------------------------------------------- snapping


@dataclass(frozen=True)
class Snapped:
    """Points snapped to graph nodes."""

    node: np.ndarray  #: int64 node index, ``-1`` where no node is within reach
    metres: np.ndarray  #: great-circle metres to the node (``inf`` where none)
    seconds: np.ndarray  #: those metres walked (``inf`` where none)
    outside: np.ndarray  #: bool, outside the graph's extent (padded by the snap limit)

    @property
    def ok(self) -> np.ndarray:
        return self.node >= 0


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + c)`` for every start ``s`` and count ``c``."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    return np.repeat(starts.astype(np.int64) - (ends - counts), counts) + np.arange(total)


# --------------------------------------------------------------------------- the engine


class NetworkEngine:
    """Travel times on a :class:`RoadGraph`, with the interface of the straight-line engine.

    Parameters
    ----------
    graph
        A graph from :func:`load_osm_graph` or :func:`graph_from_arrays`.
    max_snap_m
        Stations farther than this from every node are refused; demand points that far
        are unreachable.
    workers
        Threads for KD-tree queries (``-1``: all CPUs).
    """

    name = "road-network"

    def __init__(self, graph: RoadGraph, *, max_snap_m: float = DEFAULT_MAX_SNAP_M,
                 workers: int = -1):
        if graph.n_nodes == 0:
            raise InvalidInput("graph: the road graph has no nodes", field="graph")
        if not (math.isfinite(max_snap_m) and max_snap_m > 0):
            raise InvalidInput(f"max_snap_m: {max_snap_m!r} must be a positive number of "
                               "metres", field="max_snap_m")
        self.graph = graph
        self.max_snap_m = float(max_snap_m)
        self.workers = int(workers)
        self._walk_mps = graph.walk_speed_kmh / 3.6
        self._xyz = unit_xyz_np(graph.lon, graph.lat)
        self._tree = cKDTree(self._xyz)
        self._rev = graph.reverse
        lon0, lat0, lon1, lat1 = graph.bounds()
        pad_lat = 1.01 * self.max_snap_m / (math.pi * _R / 180.0)  # 1 % for the sphere
        cos = max(math.cos(math.radians(max(abs(lat0), abs(lat1)))), 1e-6)
        self._extent = (lon0 - pad_lat / cos, lat0 - pad_lat, lon1 + pad_lat / cos, lat1 + pad_lat)
        self._lock = threading.Lock()
        self._snap_cache: OrderedDict[bytes, Snapped] = OrderedDict()

    @classmethod
    def from_pbf(cls, pbf_path: str | Path, mode: str = "walk", *,
                 speed_kmh: float | None = None, max_snap_m: float = DEFAULT_MAX_SNAP_M,
                 **load_kwargs: Any) -> NetworkEngine:
        """:func:`load_osm_graph` and wrap the graph in an engine."""
        return cls(load_osm_graph(pbf_path, mode, speed_kmh=speed_kmh, **load_kwargs),
                   max_snap_m=max_snap_m)

    @property
    def mode(self) -> str:
        return self.graph.mode

    @property
    def speed_kmh(self) -> float:
        return self.graph.speed_kmh

    def __repr__(self) -> str:
        return (f"NetworkEngine(mode={self.mode!r}, speed_kmh={self.speed_kmh:g}, "
                f"nodes={self.graph.n_nodes}, edges={self.graph.n_edges}, "
                f"source={self.graph.source!r})")

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "mode": self.mode, "speed_kmh": self.speed_kmh,
                "walk_speed_kmh": self.graph.walk_speed_kmh, "nodes": self.graph.n_nodes,
                "edges": self.graph.n_edges, "source": self.graph.source,
                "max_snap_m": self.max_snap_m, "attribution": ATTRIBUTION}

    # ----------------------------------------------------------- snapping
    def snap(self, lon: Any, lat: Any) -> Snapped:
        """Snap points to their great-circle nearest node within ``max_snap_m``."""
        x, y = check_lonlat(lon, lat, "point")
        return self._snap(x, y)

    def _snap(self, x: np.ndarray, y: np.ndarray) -> Snapped:
        m = x.size
        node = np.full(m, -1, dtype=np.int64)
        metres = np.full(m, np.inf)
        lo0, la0, lo1, la1 = self._extent
        outside = ~((x >= lo0) & (x <= lo1) & (y >= la0) & (y <= la1))
        inside = np.flatnonzero(~outside)
        if inside.size:
            bound = chord_for_m(self.max_snap_m) * (1 + 1e-9)
            d, i = self._tree.query(unit_xyz_np(x[inside], y[inside]), k=1,
                                    distance_upper_bound=bound, workers=self.workers)
            hit = i < self.graph.n_nodes
            dm = 2.0 * _R * np.arcsin(np.minimum(d[hit] * 0.5, 1.0))
            near = dm <= self.max_snap_m
            rows = inside[hit][near]
            node[rows] = i[hit][near]
            metres[rows] = dm[near]
        return Snapped(node, metres, metres / self._walk_mps, outside)

    def snap_demand(self, lon: Any, lat: Any) -> Snapped:
        """Prepare a demand layer: snap its points once and keep the result.

        Every later call with the same points (compared by content) reuses it; the
        last four layers are kept. Planners evaluate many station sets, thresholds and
        times of day on one demand layer, so this is paid once per layer, like building
        the graph, and not in each coverage computation.
        """
        x, y = check_lonlat(lon, lat, "demand")
        h = hashlib.blake2b(x.tobytes(), digest_size=16)
        h.update(y.tobytes())
        key = h.digest()
        with self._lock:
            hit = self._snap_cache.get(key)
            if hit is not None:
                self._snap_cache.move_to_end(key)
                return hit
        snapped = self._snap(x, y)
        for arr in (snapped.node, snapped.metres, snapped.seconds, snapped.outside):
            arr.flags.writeable = False  # shared by later calls
        with self._lock:
            self._snap_cache[key] = snapped
            while len(self._snap_cache) > 4:
                self._snap_cache.popitem(last=False)
        return snapped

    def clear_cache(self) -> None:
        """Forget the cached demand snapping."""
        with self._lock:
            self._snap_cache.clear()

    def placeable(self, lon: Any, lat: Any) -> np.ndarray:
        """Boolean mask of the points :meth:`snap_stations` can place on the network
        (inside its extent, within ``max_snap_m`` of a road)."""
        x, y = check_lonlat(lon, lat, "site")
        return np.asarray(self._snap(x, y).ok, dtype=bool)

    def snap_stations(self, lon: Any, lat: Any, *, what: str = "station") -> Snapped:
        """Snap stations; every one must lie on the network.

        Raises
        ------
        InvalidInput
            Naming how many stations lie outside the graph's extent or farther than
            ``max_snap_m`` from any road, instead of silently covering nothing.
        """
        x, y = check_lonlat(lon, lat, what)
        s = self._snap(x, y)
        bad = ~s.ok
        if bad.any():
            n_out = int(np.count_nonzero(s.outside))
            n_far = int(np.count_nonzero(bad & ~s.outside))
            i = int(np.flatnonzero(bad)[0])
            lo0, la0, lo1, la1 = self.graph.bounds()
            src = f" of {self.graph.source}" if self.graph.source else ""
            raise InvalidInput(
                f"{what}: {int(bad.sum())} of {x.size} {what}s cannot be placed on the "
                f"{self.mode} network{src}: {n_out} lie outside its extent (lon "
                f"{lo0:.4f}..{lo1:.4f}, lat {la0:.4f}..{la1:.4f}) and {n_far} are farther than "
                f"{self.max_snap_m:g} m from any road (first: #{i} at {x[i]:.6f}, {y[i]:.6f}); "
                "use an OpenStreetMap extract that covers them, and WGS-84 lon/lat",
                field=what)
        return s

    # ----------------------------------------------------------- shortest paths
    def times_to_nearest(self, nodes: np.ndarray, offsets_s: np.ndarray,
                         within_s: float = np.inf) -> np.ndarray:
        """Per graph node, seconds to the nearest of ``nodes`` (each reached with its
        extra ``offsets_s``), ``inf`` beyond ``within_s``: one Dijkstra on the reversed
        graph from a super-source."""
        rev = self._rev
        n = rev.shape[0]
        if nodes.size == 0:
            return np.full(n, np.inf)
        order = np.lexsort((offsets_s, nodes))
        src, off = nodes[order], offsets_s[order]
        first = np.ones(src.size, dtype=bool)
        first[1:] = src[1:] != src[:-1]
        src, off = src[first], off[first]
        indptr = np.empty(n + 2, dtype=rev.indptr.dtype)
        indptr[: n + 1] = rev.indptr
        indptr[n + 1] = rev.indptr[-1] + src.size
        aug = sparse.csr_matrix((np.concatenate([rev.data, off]),
                                 np.concatenate([rev.indices, src.astype(rev.indices.dtype)]),
                                 indptr), shape=(n + 1, n + 1))
        limit = within_s + TIME_EPS_S if math.isfinite(within_s) else np.inf
        return dijkstra(aug, directed=True, indices=n, limit=limit)[:n]

    def times_to(self, node: int, within_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Nodes from which ``node`` is reached within ``within_s`` seconds, and their
        times: a bounded Dijkstra on the sub-graph of nodes inside the straight-line
        radius ``max_speed * within_s`` (exact; see the module docstring)."""
        if within_s < 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        limit = within_s + TIME_EPS_S
        radius = limit * self.graph.max_speed_mps * (1 + 1e-9) + 1e-3
        ball = np.asarray(self._tree.query_ball_point(self._xyz[node], chord_for_m(radius),
                                                      return_sorted=True), dtype=np.int64)
        n = self.graph.n_nodes
        if ball.size * 3 > n:
            d = dijkstra(self._rev, directed=True, indices=node, limit=limit)
            reached = np.flatnonzero(np.isfinite(d))
            return reached, d[reached]
        sub = self._subgraph(ball)
        local = int(np.searchsorted(ball, node))
        d = dijkstra(sub, directed=True, indices=local, limit=limit)
        hit = np.flatnonzero(np.isfinite(d))
        return ball[hit], d[hit]

    def _subgraph(self, nodes: np.ndarray) -> sparse.csr_matrix:
        """The reversed graph restricted to ``nodes`` (sorted), locally indexed."""
        rev = self._rev
        starts = rev.indptr[nodes]
        counts = rev.indptr[nodes + 1] - starts
        offs = _ranges(starts, counts)
        tgt = rev.indices[offs]
        k = nodes.size
        col = np.searchsorted(nodes, tgt)
        col[col == k] = 0
        ok = nodes[col] == tgt
        rows = np.repeat(np.arange(k), counts)
        indptr = np.zeros(k + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows[ok], minlength=k), out=indptr[1:])
        return sparse.csr_matrix((rev.data[offs[ok]], col[ok].astype(np.int32), indptr),
                                 shape=(k, k))

    # ----------------------------------------------------------- the interface
    def nearest_time(self, station_lon: Any, station_lat: Any, demand_lon: Any,
                     demand_lat: Any, *, max_minutes: float | None = None) -> np.ndarray:
        """Minutes from each demand point to its nearest station along the roads,
        snapping walks included; ``inf`` where none is reachable (within
        ``max_minutes``, if given)."""
        within = (np.inf if max_minutes is None
                  else check_minutes(max_minutes, field="max_minutes") * 60.0)
        st = self.snap_stations(station_lon, station_lat)
        dm = self.snap_demand(demand_lon, demand_lat)
        t = self.times_to_nearest(st.node, st.seconds, within)
        out = np.full(dm.node.size, np.inf)
        ok = dm.ok
        out[ok] = t[dm.node[ok]] + dm.seconds[ok]
        if math.isfinite(within):
            out[out > within + TIME_EPS_S] = np.inf
        return out / 60.0

    def reach_counts(self, station_lon: Any, station_lat: Any, demand_lon: Any,
                     demand_lat: Any, minutes: float, *, cap: int | None = None) -> np.ndarray:
        """Per demand point, how many stations reach it within ``minutes`` (int64);
        with ``cap``, ``min(count, cap)`` (``cap=1`` runs one multi-source search)."""
        check_minutes(minutes)
        if cap is not None and (isinstance(cap, bool) or int(cap) != cap or cap < 1):
            raise InvalidInput(f"cap: {cap!r} is not a positive integer", field="cap")
        if cap == 1:
            t = self.nearest_time(station_lon, station_lat, demand_lon, demand_lat,
                                  max_minutes=minutes)
            return np.isfinite(t).astype(np.int64)
        mat = self._pairs(station_lon, station_lat, demand_lon, demand_lat, minutes, "station")
        counts = np.diff(mat.indptr).astype(np.int64)
        return counts if cap is None else np.minimum(counts, int(cap))

    def coverage_matrix(self, site_lon: Any, site_lat: Any, demand_lon: Any,
                        demand_lat: Any, minutes: float) -> sparse.csr_matrix:
        """Boolean ``(n_demand, n_sites)`` CSR, True where the site is reached from the
        demand point within ``minutes``; indices sorted within rows."""
        return self._pairs(site_lon, site_lat, demand_lon, demand_lat, minutes, "site")

    def _pairs(self, site_lon: Any, site_lat: Any, demand_lon: Any, demand_lat: Any,
               minutes: float, what: str) -> sparse.csr_matrix:
        limit = check_minutes(minutes) * 60.0
        st = self.snap_stations(site_lon, site_lat, what=what)
        dm = self.snap_demand(demand_lon, demand_lat)
        n_d, n_s = dm.node.size, st.node.size
        d_idx = np.flatnonzero(dm.ok)
        d_order = np.argsort(dm.node[d_idx], kind="stable")
        d_idx = d_idx[d_order]
        d_nodes = dm.node[d_idx]
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        if d_idx.size and n_s:
            s_order = np.lexsort((st.seconds, st.node))
            groups = np.split(s_order, np.flatnonzero(np.diff(st.node[s_order])) + 1)
            for grp in groups:
                node = int(st.node[grp[0]])
                best = float(st.seconds[grp[0]])  # smallest snap time in the group
                g, t = self.times_to(node, limit - best)
                lo = np.searchsorted(d_nodes, g, side="left")
                hi = np.searchsorted(d_nodes, g, side="right")
                cnt = hi - lo
                if not cnt.any():
                    continue
                which = _ranges(lo, cnt)
                tot = np.repeat(t, cnt) + dm.seconds[d_idx[which]]
                for s in grp:
                    hit = which[tot + st.seconds[s] <= limit + TIME_EPS_S]
                    rows.append(d_idx[hit])
                    cols.append(np.full(hit.size, s, dtype=np.int64))
        r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        mat = sparse.csr_matrix((np.ones(r.size, dtype=bool), (r, c)), shape=(n_d, n_s))
        mat.sum_duplicates()
        mat.sort_indices()
        return mat

    # ----------------------------------------------------------- isochrones
    def isochrones(self, station_lon: Any, station_lat: Any, minutes: float, *,
                   buffer_m: float | None = None) -> list[Any]:
        """One polygon per station (see :func:`.isochrones.isochrones`)."""
        from .isochrones import isochrones

        return isochrones(self, station_lon, station_lat, minutes, buffer_m=buffer_m)

    def covered_area(self, station_lon: Any, station_lat: Any, minutes: float, *,
                     buffer_m: float | None = None) -> Any:
        """The union of all isochrones (see :func:`.isochrones.covered_area`)."""
        from .isochrones import covered_area

        return covered_area(self, station_lon, station_lat, minutes, buffer_m=buffer_m)


# --------------------------------------------------------------------------- candidate sites


def candidates_from_nodes(engine: NetworkEngine, minutes: float, *,
                          near_lon: Any = None, near_lat: Any = None,
                          spacing_m: float = 250.0, limit: int = 5000) -> Any:
    """Road nodes as candidate sites for new stations (ids ``node-<index>``).

    With ``near_lon``/``near_lat`` (typically the demand no station reaches), only nodes
    that could reach one of those points within ``minutes`` are kept: those within the
    straight-line distance the fastest edge covers in that time, which is exact (no
    node farther away can reach the point). The rest are thinned to one node per
    ``spacing_m`` square (the node nearest the square's centre), so that a city-wide
    graph gives a tractable number of sites.

    Raises
    ------
    InvalidInput
        For a bad threshold or spacing, or when no node is left (more than ``limit``
        asks for a larger spacing).
    """
    from .siting import Candidates

    limit_s = check_minutes(minutes) * 60.0
    if not (isinstance(spacing_m, (int, float)) and math.isfinite(spacing_m)
            and 10.0 <= spacing_m <= 10_000.0):
        raise InvalidInput(f"spacing_m: {spacing_m!r} is out of range; allowed 10..10000 "
                           "metres", field="spacing_m")
    g = engine.graph
    nodes = np.arange(g.n_nodes)
    if near_lon is not None or near_lat is not None:
        x, y = check_lonlat(near_lon, near_lat, "demand")
        if x.size == 0:
            raise InvalidInput("candidates: no demand left to cover, so no road node is a "
                               "useful candidate site", field="candidates")
        reach = limit_s * g.max_speed_mps * (1 + 1e-9) + 1e-3
        d, _ = cKDTree(unit_xyz_np(x, y)).query(engine._xyz, k=1,
                                                 distance_upper_bound=chord_for_m(reach),
                                                 workers=engine.workers)
        nodes = np.flatnonzero(np.isfinite(d))
    if nodes.size:
        lat0 = math.radians(float(np.median(g.lat[nodes])))
        px = np.radians(g.lon[nodes]) * math.cos(lat0) * _R / spacing_m
        py = np.radians(g.lat[nodes]) * _R / spacing_m
        cx, cy = np.floor(px), np.floor(py)
        off = (px - cx - 0.5) ** 2 + (py - cy - 0.5) ** 2
        order = np.lexsort((off, cy, cx))
        cell = np.column_stack([cx[order], cy[order]])
        first = np.ones(order.size, dtype=bool)
        first[1:] = (np.diff(cell, axis=0) != 0).any(axis=1)
        nodes = np.sort(nodes[order[first]])
    if nodes.size == 0:
        raise InvalidInput("candidates: no road node lies within reach of the demand to "
                           "cover", field="candidates")
    if nodes.size > limit:
        raise InvalidInput(f"candidates: {nodes.size:,} road nodes at a {spacing_m:g} m "
                           f"spacing, more than {limit:,}; use a larger spacing",
                           field="spacing_m")
    return Candidates(np.array([f"node-{i}" for i in nodes], dtype=object),
                      g.lon[nodes], g.lat[nodes], f"road nodes every {spacing_m:g} m")


def candidates_near_uncovered(engine: NetworkEngine, station_lon: Any, station_lat: Any,
                              demand: Any, minutes: float, *, spacing_m: float = 250.0) -> Any:
    """Road nodes as candidate sites for the demand (a :class:`~.demand.Demand`) that
    no station reaches within ``minutes``: :func:`candidates_from_nodes` near the
    uncovered units of positive weight."""
    t = engine.nearest_time(station_lon, station_lat, demand.lon, demand.lat,
                            max_minutes=minutes)
    todo = ~np.isfinite(t) & (demand.weight > 0)
    return candidates_from_nodes(engine, minutes, near_lon=demand.lon[todo],
                                 near_lat=demand.lat[todo], spacing_m=spacing_m)

"""Candidate stations per map cell, for the unfiltered nearest query (the API's hot path).

Internal to :mod:`locator.index.station_index`. A KD-tree query costs little in the
tree and much in scipy's argument handling: about 12 µs in a tight loop, several times
that in a web worker, whose caches go cold between requests. Riders ask again and again
from the same streets, so for each cell of a grid the stations that can be among the
nearest of *any* point of the cell are found once (two tree queries) and kept; a query
in that cell then ranks those few with the same haversine and the same ``(distance,
id)`` order as the tree path, in plain Python. The grid is 0.02° (about 2 km); where a
cell of it would hold more than :data:`MAX_CANDIDATES` stations (a dense city centre), a
0.005° cell (about 500 m) is used instead, and where even that is too dense, the tree.

Exactness: a cell's entry holds every station within ``reach`` metres (great circle) of
the cell's centre ``o``. A station ``s`` outside it has ``d(o, s) > reach``, so from the
query point ``p``, ``d(p, s) >= d(o, s) - d(o, p) > reach - d(o, p)`` (triangle
inequality on the sphere). The answer from the candidates is used only when the k-th of
the live ones (tombstones and closed stations left out, as the tree path does) satisfies
``d_k + margin <= reach - d(o, p)``, with ``d(o, p)`` computed for the actual point: then
no station outside can rank among the k or tie with the k-th, and the answer is the
brute-force one. Otherwise (too few live candidates, an outlying point, a larger ``k``
than the entry was built for) the caller falls back to the tree. The cell size and
``reach`` only decide how often that happens, never the answer.

``reach`` is the (k+1)-th nearest distance from ``o`` plus twice the cell's half-diagonal:
by the same triangle inequality, every point of the cell then finds its k nearest inside.
The cache lives in the memo of the main columns (it dies with them when the main tree is
rebuilt) and is bounded (:data:`MAX_CELLS`). A cell is built at its second query (the
first is answered by the tree and noted): scattered one-off points, which would each
pay for a cell nobody asks for again, cost no more than the tree.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from ..geo import EARTH_RADIUS_M, chord_for_m, haversine_m, unit_xyz
from ._columns import Columns
from ._snapshot import S_CLOSED, TIE_EPS

__all__ = ["CELL_DEGS", "MAX_CANDIDATES", "MAX_CELLS", "CellCache", "cell_cache"]

#: Grid cell sizes, degrees of longitude and latitude: coarse (about 2 km in Xuzhou) and,
#: where a coarse cell is too dense, fine.
CELL_DEGS = (0.02, 0.005)
#: A cell whose reach holds more stations than this is marked dense (a finer cell or the
#: tree answers there).
MAX_CANDIDATES = 64
#: Cells kept per main tree (a full cache starts afresh).
MAX_CELLS = 32768
#: Slack for the rounding of haversine metres (far below any real distance difference).
_MARGIN_M = 0.01
#: Cells are used up to this latitude (near the poles a cell is no small rectangle).
_MAX_LAT = 80.0
_dist_id = operator.itemgetter(0, 1)

#: A candidate: (row, lon, lat in radians, cosine of the latitude, id).
_Cand = tuple[int, float, float, float, str]
#: An entry: (centre lon, centre lat, reach in metres, candidates or None when the cell
#: is too dense, the k + 1 it was built for).
_Entry = tuple[float, float, float, "tuple[_Cand, ...] | None", int]
_RAD = math.pi / 180.0
_TWO_R = 2.0 * EARTH_RADIUS_M


def _first(hs: list[tuple[float, str, int]], k: int, max_d: float | None
           ) -> list[tuple[float, str, int]]:
    """The first ``k`` of ``(h, id, row)`` sorted by ``(h, id)`` as ``(distance_m, id,
    row)`` ordered by ``(distance, id)``, those within ``max_d`` only. The distance is
    haversine_m's, ``2R asin(sqrt(min(1, h)))``, non-decreasing in ``h``: past the k-th,
    only candidates at the k-th's very distance can still rank (by id), so the walk stops
    at the first one farther; likewise at the first beyond ``max_d``."""
    out: list[tuple[float, str, int]] = []
    asin, sqrt = math.asin, math.sqrt
    last = -1.0
    for h, sid, i in hs:
        d = _TWO_R * asin(sqrt(min(1.0, h)))
        if (max_d is not None and d > max_d) or (len(out) >= k and d > last):
            break
        out.append((d, sid, i))
        last = d
    out.sort(key=_dist_id)  # equal distances from unequal h: ids decide
    del out[k:]
    return out


class CellCache:
    """The candidate rows per cell of one main tree and its columns."""

    __slots__ = ("cells", "once", "tree")

    def __init__(self, tree: Any):
        self.tree = tree  # (not the columns: they hold this cache; no reference cycle)
        self.cells: dict[tuple[int, int, int], _Entry] = {}
        #: Cells asked for once so far (built at the second query).
        self.once: set[tuple[int, int, int]] = set()

    def nearest(self, cols: Columns, lon: float, lat: float, k: int, dead: Any,
                check_status: bool, keep: Callable[[Columns, int], bool] | None = None,
                max_d: float | None = None) -> list[tuple[float, str, int]] | None:
        """``(distance_m, id, row)`` of the ``k`` nearest live stations of ``cols`` (the
        tree's columns), ordered by ``(distance, id)``, or None when the cell cannot
        settle the answer. Live: not in ``dead``, not closed when ``check_status``, and,
        when given, passing ``keep(cols, row)`` (the query's filters, status included)
        and within ``max_d`` metres."""
        if not -_MAX_LAT <= lat <= _MAX_LAT:
            return None
        for level, deg in enumerate(CELL_DEGS):
            key = (level, math.floor(lon / deg), math.floor(lat / deg))
            entry = self.cells.get(key)
            if entry is None and key not in self.once:
                # A cell asked for the first time is answered by the tree and only
                # noted: building costs two tree queries, worth it for the streets
                # riders ask from again and again, not for a one-off point.
                if len(self.once) >= 4 * MAX_CELLS:
                    self.once.clear()
                self.once.add(key)
                return None
            if entry is None or entry[4] < k + 1:
                entry = self._build(cols, key, deg, k + 1)
            if entry[3] is not None:
                break
        else:
            return None  # dense at every level: the tree answers
        olon, olat, reach, cand, _ = entry
        assert cand is not None
        # Haversine's inner term h per candidate, with the same floating-point steps as
        # geo.haversine_m (the station's latitude in radians and its cosine are kept in
        # the entry); the distance is monotone in h, so only the first few need it.
        p1 = lat * _RAD
        c1 = math.cos(p1)
        sin = math.sin
        if keep is not None:
            hs = [((s := sin((p2 - p1) * 0.5)) * s
                   + c1 * c2 * (t := sin((lon2 - lon) * _RAD * 0.5)) * t, sid, i)
                  for i, lon2, p2, c2, sid in cand if i not in dead and keep(cols, i)]
        elif dead or check_status:
            status = cols.mv_status
            hs = [((s := sin((p2 - p1) * 0.5)) * s
                   + c1 * c2 * (t := sin((lon2 - lon) * _RAD * 0.5)) * t, sid, i)
                  for i, lon2, p2, c2, sid in cand if i not in dead and status[i] != S_CLOSED]
        else:
            hs = [((s := sin((p2 - p1) * 0.5)) * s
                   + c1 * c2 * (t := sin((lon2 - lon) * _RAD * 0.5)) * t, sid, i)
                  for i, lon2, p2, c2, sid in cand]
        hs.sort(key=_dist_id)
        live = _first(hs, k, max_d)
        # Stations outside the reach are farther than this from the query point:
        slack = reach - haversine_m(olon, olat, lon, lat)
        if len(live) < k:
            # complete only if no station outside could be within max_d
            if max_d is None or max_d + _MARGIN_M > slack:
                return None
            return live
        if live[k - 1][0] + _MARGIN_M > slack:
            return None
        return live

    def _build(self, cols: Columns, key: tuple[int, int, int], deg: float, kk: int
               ) -> _Entry:
        tree = self.tree
        olon, olat = (key[1] + 0.5) * deg, (key[2] + 0.5) * deg
        centre = np.array(unit_xyz(olon, olat))
        want, kk = kk, min(kk, tree.n)
        _, idx = tree.query(centre, k=kk)
        rows = [int(idx)] if kk == 1 else idx.tolist()
        lons, lats = cols.mv_lon, cols.mv_lat
        far = max(haversine_m(olon, olat, lons[i], lats[i]) for i in rows)
        half = deg / 2
        corner = max(haversine_m(olon, olat, olon + dx, olat + dy)
                     for dx in (-half, half) for dy in (-half, half))
        reach = far + 2.0 * (corner * 1.01 + 1.0)
        found = tree.query_ball_point(centre, chord_for_m(reach) * (1 + 1e-9) + TIE_EPS)
        cand = None
        if len(found) <= MAX_CANDIDATES:
            ids = cols.ids
            cand = tuple((i, lons[i], lats[i] * _RAD, math.cos(lats[i] * _RAD), ids[i])
                         for i in found)
        entry: _Entry = (olon, olat, reach, cand, want)
        if len(self.cells) >= MAX_CELLS:
            self.cells.clear()
        self.cells[key] = entry
        return entry


def cell_cache(cols: Columns, tree: Any) -> CellCache:
    """The cell cache of the main columns ``cols`` and their tree (made on first use)."""
    got = cols.memo.get("_cells")
    if got is None or got.tree is not tree:
        got = CellCache(tree)
        cols.memo["_cells"] = got
    return got

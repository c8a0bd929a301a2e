"""Isochrones on the road network: the area from which a station is reached in time.

An isochrone is built from what is actually reachable, never from a circle:

1. a bounded Dijkstra towards the station (on the reversed graph, as every time in
   :mod:`.network`) gives each reached node ``v`` its time ``t(v)``;
2. of every road segment ``u -> v`` ending at a reached node, the part from which ``v``
   is still reached in time is kept: the fraction ``(budget - t(v)) / time(u -> v)`` of
   it next to ``v`` (the whole segment if that is 1 or more). A point in the middle of
   a long street is reached through whichever end is quicker, and a one-way street
   only through the end it leads to;
3. the walk from the station to its road node (its snapping line) is added, as far as
   it is walked in time;
4. the pieces are buffered by ``buffer_m`` (:data:`DEFAULT_BUFFER_M`, 30 m: a plot or
   building entrance beside the street, half a typical Chinese road's width) in a local
   azimuthal equidistant projection centred on the stations, unioned and returned in
   WGS-84 (round ends drawn with 4 segments per quarter circle: within 0.6 m of a true
   circle; no further simplification, whose topology-preserving variant costs more than
   the union on a city-wide area).

So the area follows the streets: it does not jump a river or railway without a
crossing (unless the gap is narrower than two buffers), has no unreachable islands,
and keeps holes inside blocks larger than the buffer. The covered area of many
stations is computed from one multi-source search, not by unioning per-station
polygons.

Every map or export of these polygons must show :data:`.network.ATTRIBUTION`;
:func:`to_feature_collection` adds it to the GeoJSON.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from pyproj import Transformer
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from ..errors import InvalidInput
from .network import ATTRIBUTION, ATTRIBUTION_URL, _ranges
from .straight import check_lonlat, check_minutes

if TYPE_CHECKING:  # pragma: no cover
    from .network import NetworkEngine

__all__ = [
    "DEFAULT_BUFFER_M",
    "covered_area",
    "isochrones",
    "isochrones_geojson",
    "reach_areas",
    "reach_circles",
    "to_feature_collection",
]

#: Buffer around reachable road pieces, metres.
DEFAULT_BUFFER_M = 30.0
_QUAD_SEGS = 4
_TILE_M = 1000.0
_M_PER_DEG_LAT = 111_195.0  # tiles need not be exact squares
_TILE_MIN = 4000  # fewer pieces: one plain union


def _check_buffer(buffer_m: float | None) -> float:
    b = DEFAULT_BUFFER_M if buffer_m is None else buffer_m
    if not (isinstance(b, (int, float)) and math.isfinite(b) and 1.0 <= b <= 200.0):
        raise InvalidInput(f"buffer_m: {buffer_m!r} is out of range; allowed 1..200 metres",
                           field="buffer_m")
    return float(b)


def _projection(lon0: float, lat0: float) -> tuple[Transformer, Transformer]:
    """Forward and inverse transformers of an azimuthal equidistant projection."""
    aeqd = f"+proj=aeqd +lat_0={lat0:.8f} +lon_0={lon0:.8f} +datum=WGS84 +units=m +no_defs"
    return (Transformer.from_crs("EPSG:4326", aeqd, always_xy=True),
            Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True))


def _network_pieces(engine: NetworkEngine, reached: np.ndarray, t: np.ndarray,
                    budget: float, fwd: Transformer
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reachable road segments as ``(k, 2, 2)`` projected line coordinates: the wholly
    reached ones (each once) and the parts of the others, and the projected reached nodes
    that no segment of positive length starts from."""
    rev = engine.graph.reverse
    lon, lat = engine.graph.lon, engine.graph.lat
    starts = rev.indptr[reached]
    counts = rev.indptr[reached + 1] - starts
    offs = _ranges(starts, counts)
    v = np.repeat(reached, counts)
    u = rev.indices[offs].astype(np.int64)
    w = rev.data[offs]
    rest = np.repeat(budget - t, counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(w > 0, np.clip(rest / w, 0.0, 1.0), 1.0)
    keep = f > 0
    v, u, f = v[keep], u[keep], f[keep]
    # Whole segments appear once per direction on two-way roads: keep one.
    full = f >= 1.0
    # A segment walked part of the way from both ends is whole if the parts meet; a part
    # of a segment walked whole in the other direction adds nothing.
    lo_, hi_ = np.minimum(u, v), np.maximum(u, v)
    key = lo_ * (int(max(u.max(initial=0), v.max(initial=0))) + 1) + hi_
    whole_keys = np.unique(key[full])
    part = ~full & ~np.isin(key, whole_keys)
    pk, inv_, cnt = np.unique(key[part], return_inverse=True, return_counts=True)
    met = np.bincount(inv_, weights=f[part], minlength=pk.size) >= 1.0
    join = np.zeros(v.size, dtype=bool)
    join[np.flatnonzero(part)[met[inv_] & (cnt[inv_] > 1)]] = True
    full |= join
    part &= ~join
    a, b = np.minimum(u[full], v[full]), np.maximum(u[full], v[full])
    pairs = np.unique(np.column_stack([a, b]), axis=0) if a.size else np.zeros((0, 2), np.int64)
    starts_, ends_, frac = (np.concatenate([pairs[:, 0], v[part]]),
                            np.concatenate([pairs[:, 1], u[part]]),
                            np.concatenate([np.ones(len(pairs)), f[part]]))
    ids = np.unique(np.concatenate([reached, starts_, ends_]))
    px, py = fwd.transform(lon[ids], lat[ids])
    px, py = np.asarray(px), np.asarray(py)
    i0, i1 = np.searchsorted(ids, starts_), np.searchsorted(ids, ends_)
    x0, y0 = px[i0], py[i0]
    x1, y1 = x0 + frac * (px[i1] - x0), y0 + frac * (py[i1] - y0)
    lines = np.stack([np.column_stack([x0, y0]), np.column_stack([x1, y1])], axis=1)
    lone = np.setdiff1d(reached, np.concatenate([pairs.ravel(), v[part]]))
    j = np.searchsorted(ids, lone)
    return lines[:len(pairs)], lines[len(pairs):], np.column_stack([px[j], py[j]])


def _snap_piece(engine: NetworkEngine, lon: float, lat: float, node: int, metres: float,
                minutes: float, fwd: Transformer) -> tuple[np.ndarray, np.ndarray]:
    """The walk from a station towards its road node, as far as it goes in time."""
    sx, sy = fwd.transform(lon, lat)
    if metres <= 0:
        return np.zeros((0, 2, 2)), np.array([[sx, sy]])
    nx_, ny_ = fwd.transform(engine.graph.lon[node], engine.graph.lat[node])
    f = min(1.0, minutes * 60.0 * engine.graph.walk_speed_kmh / 3.6 / metres)
    line = np.array([[[sx, sy], [sx + f * (nx_ - sx), sy + f * (ny_ - sy)]]])
    return line, np.zeros((0, 2))


def _polygon(lines: Sequence[np.ndarray], points: Sequence[np.ndarray], buffer_m: float,
             inv: Transformer) -> shapely.Geometry:
    """Buffer and union projected pieces; returned in WGS-84."""
    ln = np.concatenate([x for x in lines if len(x)]) if any(len(x) for x in lines) else None
    pt = np.concatenate([x for x in points if len(x)]) if any(len(x) for x in points) else None
    # Buffering each piece and unioning the buffers is two orders of magnitude faster in
    # GEOS than buffering one MultiLineString.
    parts = []
    if ln is not None:
        parts.extend(_parallel(lambda chunk: shapely.buffer(shapely.linestrings(chunk), buffer_m,
                                                            quad_segs=_QUAD_SEGS),
                               np.array_split(ln, max(1, min(_threads(), len(ln) // 5000)))))
    if pt is not None:
        parts.append(shapely.buffer(shapely.points(pt), buffer_m, quad_segs=_QUAD_SEGS))
    if not parts:
        return shapely.Polygon()

    def to_wgs84(xy: np.ndarray) -> np.ndarray:
        x, y = inv.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    # The small buffers go back to degrees before the union (a near-affine map moves
    # their vertices, metres apart, without folding them), so the union is computed
    # where it is returned and is valid as GEOS builds it: transforming a finished
    # city-wide union instead can fold vertices a hair apart, and checking its validity
    # costs more than the union itself.
    pieces = shapely.transform(np.concatenate(parts), to_wgs84)
    return _union(pieces, tile=_TILE_M / _M_PER_DEG_LAT)


def _threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _parallel(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[fn(x) for x in items]`` on a few threads (GEOS runs without the GIL)."""
    if len(items) < 2 or _threads() == 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=_threads()) as pool:
        return list(pool.map(fn, items))


def _union(polys: np.ndarray, *, tile: float) -> shapely.Geometry:
    """Union of many small polygons, for city-wide areas with tens of thousands of holes.

    A plain cascaded union slows down badly as its partial results gather holes (a
    city's covered area has one per block). So: union per square tile of side ``tile``
    (in the polygons' units),
    set aside the holes of each tile's result that no other tile's result can reach
    (their envelopes meet no other tile's bounding box) and that hold no other part of
    the result, union the filled tiles and put those holes back. On a 200,000-node grid
    this takes a tenth of the plain union. Tiles are unioned on a few threads.
    """
    if len(polys) <= _TILE_MIN:
        return shapely.union_all(polys)
    b = shapely.bounds(polys)
    kx = np.floor((b[:, 0] + b[:, 2]) / (2 * tile)).astype(np.int64)
    ky = np.floor((b[:, 1] + b[:, 3]) / (2 * tile)).astype(np.int64)
    key = (kx - kx.min()) * (ky.max() - ky.min() + 1) + (ky - ky.min())
    order = np.argsort(key, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(key[order])) + 1)
    tiles = np.empty(len(groups), dtype=object)
    tiles[:] = _parallel(lambda g: shapely.union_all(polys[g]), groups)
    tree = shapely.STRtree(shapely.box(*shapely.bounds(tiles).T))
    parts = shapely.get_parts(tiles, return_index=True)
    rings, owner = shapely.get_rings(parts[0], return_index=True)
    first = np.ones(rings.size, dtype=bool)
    first[1:] = owner[1:] != owner[:-1]
    hole_ix = np.flatnonzero(~first)
    tile_of_hole = parts[1][owner[hole_ix]]
    hole_polys = shapely.polygons(rings[hole_ix])
    hits = tree.query(hole_polys)
    reach_others = np.zeros(hole_ix.size, dtype=bool)
    reach_others[hits[0][hits[1] != tile_of_hole[hits[0]]]] = True
    # A hole with another part inside it (a footway's reach inside a block ringed by a
    # street, in the same tile) must stay in the union too: filled, it would swallow
    # that part, and putting the hole back would drop it.
    inside = shapely.STRtree(parts[0]).query(hole_polys)
    reach_others[inside[0][inside[1] != owner[hole_ix[inside[0]]]]] = True
    kept = np.ones(rings.size, dtype=bool)
    kept[hole_ix[~reach_others]] = False
    filled = shapely.polygons(rings[kept], indices=owner[kept])
    # Union the filled tiles in vertical bands, one per thread, then the bands.
    bands = np.array_split(np.argsort(shapely.bounds(filled)[:, 0], kind="stable"),
                           _threads() if filled.size > 64 else 1)
    merged = shapely.get_parts(shapely.union_all(
        _parallel(lambda b: shapely.union_all(filled[b]), bands)))
    safe = rings[hole_ix[~reach_others]]
    if safe.size == 0:
        return shapely.multipolygons(merged) if merged.size > 1 else merged[0]
    # Each set-aside hole lies inside exactly one part of the merged (filled) area.
    xy = shapely.get_coordinates(shapely.point_on_surface(shapely.polygons(safe)))
    owner_of_safe = np.full(safe.size, -1, dtype=np.int64)
    cand = shapely.STRtree(merged).query(shapely.points(xy))
    for j in np.unique(cand[1]):
        mine = cand[0][cand[1] == j]
        shapely.prepare(merged[j])
        owner_of_safe[mine[shapely.contains_xy(merged[j], xy[mine, 0], xy[mine, 1])]] = j
    m_rings, m_owner = shapely.get_rings(merged, return_index=True)
    ok = owner_of_safe >= 0
    all_rings = np.concatenate([m_rings, safe[ok]])
    all_owner = np.concatenate([m_owner, owner_of_safe[ok]])
    order = np.argsort(all_owner, kind="stable")  # each part's shell stays first
    out = shapely.polygons(all_rings[order], indices=all_owner[order])
    return shapely.multipolygons(out) if out.size > 1 else out[0]


def isochrones(engine: NetworkEngine, station_lon: Any, station_lat: Any, minutes: float, *,
               buffer_m: float | None = None) -> list[shapely.Geometry]:
    """The isochrone of each station: where the station is reached from within
    ``minutes`` (snapping walks included), as (Multi)Polygons in WGS-84.

    Raises
    ------
    InvalidInput
        For a bad threshold or buffer, or stations off the network (as
        :meth:`~.network.NetworkEngine.snap_stations`).
    """
    limit = check_minutes(minutes) * 60.0
    buf = _check_buffer(buffer_m)
    st = engine.snap_stations(station_lon, station_lat)
    lon, lat = check_lonlat(station_lon, station_lat, "station")
    out = []
    for i in range(st.node.size):
        fwd, inv = _projection(float(lon[i]), float(lat[i]))
        node = int(st.node[i])
        line, point = _snap_piece(engine, lon[i], lat[i], node, float(st.metres[i]),
                                  limit / 60.0, fwd)
        lines, points = [line], [point]
        budget = limit - float(st.seconds[i])
        if budget >= 0:
            reached, t = engine.times_to(node, budget)
            whole, part, npt = _network_pieces(engine, reached, t, budget, fwd)
            lines.extend([whole, part])
            points.append(npt)
        out.append(_polygon(lines, points, buf, inv))
    return out


def covered_area(engine: NetworkEngine, station_lon: Any, station_lat: Any, minutes: float, *,
                 buffer_m: float | None = None) -> shapely.Geometry:
    """The union of the stations' isochrones (the area the stations serve), from one
    multi-source search; a (Multi)Polygon in WGS-84, empty without stations."""
    limit = check_minutes(minutes) * 60.0
    buf = _check_buffer(buffer_m)
    st = engine.snap_stations(station_lon, station_lat)
    if st.node.size == 0:
        return shapely.Polygon()
    lon, lat = check_lonlat(station_lon, station_lat, "station")
    fwd, inv = _projection(float(lon.mean()), float(lat.mean()))
    t_all = engine.times_to_nearest(st.node, st.seconds, limit)
    reached = np.flatnonzero(np.isfinite(t_all))
    whole, part, npt = _network_pieces(engine, reached, t_all[reached], limit, fwd)
    lines, points = [whole, part], [npt]
    for i in range(st.node.size):
        line, point = _snap_piece(engine, lon[i], lat[i], int(st.node[i]),
                                  float(st.metres[i]), limit / 60.0, fwd)
        lines.append(line)
        points.append(point)
    return _covered(np.concatenate(lines), np.concatenate(points), buf, inv)


# --------------------------------------------------------------------------- covered area
#
# Overlaying the buffers of a city's road pieces costs GEOS about 25 us per vertex of the
# result, which has a hole in every block: 20 s for 1,000 stations. So the covered area
# is built from the faces of the reached street graph. Let S be the plane graph of the
# wholly reached segments. A point inside a bounded face F of S (a block) is nearer to
# F's boundary than to any other part of S (a way out of F crosses its boundary), so the
# uncovered part of F is F shrunk by the buffer, minus the buffers of the loose pieces
# (partly walked segments, dangles and bridges, snapping walks, lone nodes) and of the
# components of S lying inside F (islands). The covered area is the union of the
# buffers of each component's filled outline and of the loose pieces (polygons without
# the holes, cheap to union), with those holes put back into the part (or the island
# inside another hole) that holds them. That is the union of the pieces' buffers: the
# two differ only in where the arcs of the buffer's circles get their vertices (both
# within 0.6 m of the circle).


def _faces(a: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Face traversal of the plane graph of edges ``a[i] - b[i]`` (distinct nodes at
    ``x, y``). Half-edge ``2i`` runs ``a -> b``, ``2i + 1`` back; a face keeps to the left
    of its half-edges. Returns each half-edge's face, its position along the face, the
    next half-edge, and each face's signed area (positive: a bounded face, counter-
    clockwise; negative: the outline of a component)."""
    n = 2 * a.size
    org, dst = np.empty(n, np.int64), np.empty(n, np.int64)
    org[0::2], org[1::2] = a, b
    dst[0::2], dst[1::2] = b, a
    order = np.lexsort((np.arctan2(y[dst] - y[org], x[dst] - x[org]), org))
    where = np.empty(n, np.int64)
    where[order] = np.arange(n)
    o = org[order]
    first = np.flatnonzero(np.r_[True, o[1:] != o[:-1]])
    deg = np.diff(np.r_[first, n])
    block, size = np.repeat(first, deg)[where], np.repeat(deg, deg)[where]
    twin = np.arange(n) ^ 1
    # after u -> v, leave v by the half-edge next clockwise from v -> u
    nxt = order[block[twin] + (where[twin] - block[twin] - 1) % size[twin]]
    g = sparse.csr_matrix((np.ones(n, np.int8), (np.arange(n), nxt)), shape=(n, n))
    k, face = connected_components(g, directed=True, connection="weak")
    low = np.full(k, n, np.int64)
    np.minimum.at(low, face, np.arange(n))
    # list ranking by pointer jumping, each face cut before its lowest half-edge
    succ = np.where(nxt == low[face], -1, nxt)
    jump = np.where(succ >= 0, succ, np.arange(n))
    rank = (succ >= 0).astype(np.int64)
    live = np.flatnonzero(succ >= 0)
    while live.size:
        j = jump[live]
        rank[live] += rank[j]
        jump[live] = jump[j]
        live = live[succ[jump[live]] >= 0]
    pos = np.bincount(face, minlength=k)[face] - 1 - rank
    area = np.bincount(face, x[org] * y[dst] - x[dst] * y[org], minlength=k) / 2.0
    return face, pos, nxt, area


def _planar(seg: np.ndarray) -> np.ndarray:
    """Segments ``(k, 2, 2)`` cut where they cross or touch one another away from their
    ends (a footbridge over a street, a way drawn twice), so that they form a plane
    graph."""
    lines = shapely.linestrings(seg)
    left, right = shapely.STRtree(lines).query(lines, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    ends = seg.reshape(-1, 4)
    shared = np.zeros(left.size, dtype=bool)
    for i in (0, 2):
        for j in (0, 2):
            shared |= ((ends[left, i] == ends[right, j])
                       & (ends[left, i + 1] == ends[right, j + 1]))
    # Segments sharing an end meet only there, unless they run on along one line.
    d_l, d_r = seg[left, 1] - seg[left, 0], seg[right, 1] - seg[right, 0]
    parallel = np.abs(d_l[:, 0] * d_r[:, 1] - d_l[:, 1] * d_r[:, 0]) <= (
        1e-9 * np.hypot(d_l[:, 0], d_l[:, 1]) * np.hypot(d_r[:, 0], d_r[:, 1]))
    bad = ~shared | parallel
    left, right = left[bad], right[bad]
    if left.size == 0:
        return seg
    cuts: dict[int, list[np.ndarray]] = {}
    meet = shapely.intersection(lines[left], lines[right])
    for i, j, m in zip(left.tolist(), right.tolist(), meet, strict=True):
        xy = shapely.get_coordinates(m)
        cuts.setdefault(i, []).append(xy)
        cuts.setdefault(j, []).append(xy)
    out = [np.delete(seg, list(cuts), axis=0)]
    for i, pts in cuts.items():
        p0, p1 = seg[i]
        d = p1 - p0
        xy = np.concatenate([p0[None], *pts, p1[None]])
        xy = xy[np.argsort((xy - p0) @ d, kind="stable")]
        xy[0], xy[-1] = p0, p1
        out.append(np.stack([xy[:-1], xy[1:]], axis=1))
    return np.concatenate(out)


def _erode_convex(rings: np.ndarray, d: float) -> tuple[np.ndarray, np.ndarray]:
    """Convex counter-clockwise polygons ``(m, k, 2)`` shrunk by ``d``: the points farther
    than ``d`` from every edge, the intersection of the edges' half-planes moved in by
    ``d`` (clipped one at a time). Returns the vertices, padded at the end, and their
    number per polygon (below 3: nothing is left)."""
    m, k = rings.shape[:2]
    poly, cnt = rings.copy(), np.full(m, k)
    rows = np.arange(m)[:, None]
    for i in range(k):
        p0 = rings[:, i]
        edge = rings[:, (i + 1) % k] - p0
        nrm = np.column_stack([-edge[:, 1], edge[:, 0]]) / np.hypot(edge[:, 0],
                                                                  edge[:, 1])[:, None]
        slot = np.arange(poly.shape[1])[None, :]
        valid = slot < cnt[:, None]
        s = np.einsum("mvc,mc->mv", poly - p0[:, None], nrm) - d
        after = np.where(slot + 1 < cnt[:, None], slot + 1, 0)
        q, sq = poly[rows, after], s[rows, after]
        keep = (s >= 0) & valid
        cross = ((s >= 0) != (sq >= 0)) & valid
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(cross, s / (s - sq), 0.0)
        cand = np.stack([poly, poly + t[..., None] * (q - poly)], axis=2).reshape(m, -1, 2)
        emit = np.stack([keep, cross], axis=2).reshape(m, -1)
        cnt = emit.sum(axis=1)
        poly = np.zeros((m, max(1, int(cnt.max(initial=0))), 2))
        r, c = np.nonzero(emit)
        poly[r, (np.cumsum(emit, axis=1) - 1)[r, c]] = cand[r, c]
    return poly, cnt


def _holes(xy: np.ndarray, e: np.ndarray, buffer_m: float, discs: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Faces of the plane graph of edges ``e`` between nodes at ``xy``: the outline of
    each component (filled; dangles into the outside are spikes of its ring, which the
    buffer goes round) and the holes the bounded faces leave (each face shrunk by the
    buffer, round its inward dangles too, minus the ``discs`` and the buffered islands
    inside it)."""
    q = _QUAD_SEGS
    face, pos, nxt, area = _faces(e[:, 0], e[:, 1], xy[:, 0], xy[:, 1])
    org = e.reshape(-1)  # the origin of half-edge h
    srt = np.lexsort((pos, face))
    f_sorted = face[srt]
    ring_xy = xy[org[srt]]
    starts = np.flatnonzero(np.r_[True, f_sorted[1:] != f_sorted[:-1]])
    ids = f_sorted[starts]
    counts = np.diff(np.r_[starts, f_sorted.size])
    a_face = area[ids]
    outer = a_face <= 0  # a tree's single face has area 0
    # each ring closed explicitly (twice for a single edge's: a ring needs 4 points)
    two = np.flatnonzero(counts == 2)
    xy_ring = np.concatenate([ring_xy, ring_xy[starts], ring_xy[starts[two]]])
    ix = np.concatenate([np.repeat(np.arange(ids.size), counts), np.arange(ids.size), two])
    o = np.argsort(ix, kind="stable")
    rings = shapely.linearrings(xy_ring[o], indices=ix[o])
    outlines = shapely.polygons(shapely.reverse(rings[outer]))
    bad = ~shapely.is_valid(outlines)  # blocks joined to the rest at a single node
    outlines[bad] = shapely.make_valid(outlines[bad])
    # Only faces that hold a disc of the buffer's radius leave a hole.
    big = np.flatnonzero(a_face > math.pi * buffer_m ** 2)
    if big.size == 0:
        return outlines, np.zeros(0, dtype=object)
    fpoly = shapely.polygons(rings[big])
    h = np.arange(face.size)
    d0, d1 = xy[org[h ^ 1]] - xy[org], xy[org[nxt ^ 1]] - xy[org[nxt]]
    turn = d0[:, 0] * d1[:, 1] - d0[:, 1] * d1[:, 0]
    back = (turn == 0) & (np.einsum("ij,ij->i", d0, d1) < 0)  # the end of a dangle
    slot = np.full(area.size, ids.size)
    slot[ids] = np.arange(ids.size)
    reflex = np.zeros(ids.size + 1, dtype=bool)
    reflex[slot[face[(turn < 0) | back]]] = True
    convex = ~reflex[big]
    eroded = np.full(big.size, None, dtype=object)
    if (~convex).any():
        eroded[~convex] = shapely.buffer(fpoly[~convex], -buffer_m, quad_segs=q)
    cv = np.flatnonzero(convex)
    for k in np.unique(counts[big[cv]]):
        sel = cv[counts[big[cv]] == k]
        pv, pc = _erode_convex(ring_xy[starts[big[sel]][:, None] + np.arange(k)], buffer_m)
        ok = np.flatnonzero(pc >= 3)
        if ok.size:
            take = np.arange(pv.shape[1])[None, :] < pc[ok][:, None]
            eroded[sel[ok]] = shapely.polygons(shapely.linearrings(
                pv[ok][take], indices=np.repeat(np.arange(ok.size), pc[ok])))
    # What else covers part of a shrunk face: the discs of lone points anywhere, and the
    # islands inside that face only (an outline's node inside it; the buffer of an
    # island's filled outline would fill the island's own blocks).
    block_ix, block_geom = [], []
    if discs.size:
        hi, di = shapely.STRtree(discs).query(eroded, predicate="intersects")
        block_ix.append(hi)
        block_geom.append(discs[di])
    if outlines.size:
        oi, fi = shapely.STRtree(fpoly).query(shapely.points(ring_xy[starts[outer]]),
                                              predicate="within")
        if oi.size:
            block_ix.append(fi)
            block_geom.append(shapely.buffer(outlines[oi], buffer_m, quad_segs=q))
    hi = np.concatenate(block_ix) if block_ix else np.zeros(0, np.int64)
    if hi.size:
        geoms = np.concatenate(block_geom)
        order = np.argsort(hi, kind="stable")
        hi, geoms = hi[order], geoms[order]
        cut = np.flatnonzero(np.r_[True, hi[1:] != hi[:-1]])
        one = np.diff(np.r_[cut, hi.size]) == 1
        eroded[hi[cut[one]]] = shapely.difference(eroded[hi[cut[one]]], geoms[cut[one]])
        for c in np.flatnonzero(~one):
            i = hi[cut[c]]
            eroded[i] = shapely.difference(eroded[i], shapely.union_all(
                geoms[cut[c]:cut[c + 1] if c + 1 < cut.size else hi.size]))
    holes = eroded[~shapely.is_missing(eroded)]
    return outlines, shapely.get_parts(holes[~shapely.is_empty(holes)])


def _covered(seg: np.ndarray, points: np.ndarray, buffer_m: float,
             inv: Transformer) -> shapely.Geometry:
    """The union of the buffers of line pieces ``(k, 2, 2)`` and points (projected
    metres), from the faces of the pieces' graph; in WGS-84."""
    q = _QUAD_SEGS
    short = np.all(seg[:, 0] == seg[:, 1], axis=1)
    points = np.concatenate([points, seg[short, 0]])
    seg = _planar(seg[~short]) if (~short).any() else seg[~short]
    xy, node = np.unique(seg.reshape(-1, 2), axis=0, return_inverse=True)
    e = np.unique(np.sort(node.reshape(-1, 2), axis=1), axis=0)
    e = e[e[:, 0] != e[:, 1]]  # pieces cut at their own ends
    loose = np.zeros((0, 2, 2))
    if e.size:
        # Dangles and bridges (the same face on both sides) are buffered on their own.
        face = _faces(e[:, 0], e[:, 1], xy[:, 0], xy[:, 1])[0]
        bridge = face[0::2] == face[1::2]
        loose = np.stack([xy[e[bridge, 0]], xy[e[bridge, 1]]], axis=1)
        e = e[~bridge]
    # A point on the network is inside the buffer of its segments already.
    if len(points) and len(xy):
        p = np.ascontiguousarray(points).view(np.dtype((np.void, 16))).ravel()
        n = np.ascontiguousarray(xy).view(p.dtype).ravel()
        points = points[~np.isin(p, n)]
    free = np.concatenate([
        shapely.buffer(shapely.linestrings(loose), buffer_m, quad_segs=q) if len(loose)
        else np.zeros(0, dtype=object),
        shapely.buffer(shapely.points(points), buffer_m, quad_segs=q) if len(points)
        else np.zeros(0, dtype=object)])
    outlines, holes = np.zeros(0, dtype=object), np.zeros(0, dtype=object)
    if e.size:
        outlines, holes = _holes(xy, e, buffer_m, free)
    if not free.size and not outlines.size:
        return shapely.Polygon()
    body = shapely.buffer(outlines, buffer_m, quad_segs=q)
    if free.size and body.size:
        # the loose buffers inside a component's buffer add nothing
        bi, fi = shapely.STRtree(free).query(body, predicate="contains")
        free = np.delete(free, np.unique(fi))

    def to_wgs84(c: np.ndarray) -> np.ndarray:
        lon, lat = inv.transform(c[:, 0], c[:, 1])
        return np.column_stack([lon, lat])

    # The union is computed in degrees, where it is returned: GEOS makes it valid there
    # (the buffers, metres apart, go through the near-affine map unfolded).
    # The small buffers are unioned first, then with the components' buffers.
    small = shapely.get_parts(shapely.union_all(shapely.transform(free, to_wgs84)))
    area = shapely.union_all(np.concatenate([shapely.transform(body, to_wgs84), small]))
    if holes.size == 0:
        return area
    holes = shapely.transform(holes, to_wgs84)
    outer = shapely.get_parts(area)
    inner = shapely.get_rings(holes)
    is_shell = np.zeros(inner.size, dtype=bool)
    is_shell[np.r_[0, np.cumsum(shapely.get_num_interior_rings(holes) + 1)[:-1]]] = True
    islands = shapely.polygons(inner[~is_shell])  # covered parts inside holes
    cands = np.concatenate([outer, islands])
    # The innermost candidate holding each hole (the candidates, queried against a
    # tree of points, are prepared: a part may have a hundred thousand holes).
    cx, hx = shapely.STRtree(shapely.get_point(inner[is_shell], 0)).query(
        cands, predicate="contains")
    order = np.lexsort((shapely.area(cands)[cx], hx))
    hx, cx = hx[order], cx[order]
    lead = np.r_[True, hx[1:] != hx[:-1]]
    hx, cx = hx[lead], cx[lead]
    c_rings, c_owner = shapely.get_rings(outer, return_index=True)
    all_rings = np.concatenate([c_rings, inner[~is_shell], inner[is_shell][hx]])
    all_owner = np.concatenate([c_owner, outer.size + np.arange(islands.size), cx])
    order = np.argsort(all_owner, kind="stable")  # each part's shell stays first
    out = shapely.polygons(all_rings[order], indices=all_owner[order])
    # shells counter-clockwise, holes clockwise (as GeoJSON and signed-area tools expect)
    out = shapely.orient_polygons(out)
    return shapely.multipolygons(out) if out.size > 1 else out[0]


def to_feature_collection(geoms: Sequence[shapely.Geometry],
                          properties: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of WGS-84 geometries (coordinates rounded to 1e-7°,
    about 1 cm), carrying the OpenStreetMap attribution at the top and on each feature."""
    props = list(properties) if properties is not None else [{} for _ in geoms]
    if len(props) != len(geoms):
        raise InvalidInput(f"properties: {len(props)} given for {len(geoms)} geometries; "
                           "give one per geometry", field="properties")
    features = []
    for g, p in zip(geoms, props, strict=True):
        g = shapely.set_precision(g, 1e-7)
        features.append({"type": "Feature",
                         "geometry": json.loads(shapely.to_geojson(g)),
                         "properties": {**p, "attribution": ATTRIBUTION}})
    return {"type": "FeatureCollection", "features": features,
            "attribution": ATTRIBUTION, "attribution_url": ATTRIBUTION_URL}


def isochrones_geojson(engine: NetworkEngine, station_lon: Any, station_lat: Any,
                       minutes: float, *, buffer_m: float | None = None, union: bool = False,
                       ids: Sequence[Any] | None = None) -> dict[str, Any]:
    """Isochrones as a GeoJSON FeatureCollection: one feature per station (``id``,
    ``minutes``, ``mode``), or with ``union=True`` one feature for the covered area."""
    buf = _check_buffer(buffer_m)
    base = {"minutes": check_minutes(minutes), "mode": engine.mode, "engine": engine.name,
            "buffer_m": buf}
    if union:
        geom = covered_area(engine, station_lon, station_lat, minutes, buffer_m=buf)
        return to_feature_collection([geom], [{**base, "kind": "covered_area"}])
    geoms = isochrones(engine, station_lon, station_lat, minutes, buffer_m=buf)
    names = list(ids) if ids is not None else list(range(len(geoms)))
    if len(names) != len(geoms):
        raise InvalidInput(f"ids: {len(names)} given for {len(geoms)} stations; give one per "
                           "station", field="ids")
    return to_feature_collection(geoms, [{**base, "kind": "isochrone", "id": n} for n in names])


def reach_circles(lon: Any, lat: Any, radius_m: float, *,
                  segments: int = 72) -> list[shapely.Geometry]:
    """Circles of ``radius_m`` great-circle metres around points, as WGS-84 polygons:
    the reach of the straight-line engine, on the same sphere as its distances
    (:data:`locator.config.EARTH_RADIUS_M`), so a demand point is covered exactly when
    it lies inside (up to the chords between vertices, which are ``360 / segments``
    degrees of azimuth apart; each vertex lies exactly ``radius_m`` away)."""
    from pyproj import Geod

    from ..config import EARTH_RADIUS_M

    x, y = check_lonlat(lon, lat, "station")
    if not (isinstance(radius_m, (int, float)) and math.isfinite(radius_m) and radius_m > 0):
        raise InvalidInput(f"radius_m: {radius_m!r} must be a positive number of metres",
                           field="radius_m")
    az = np.linspace(0.0, 360.0, segments, endpoint=False)
    sphere = Geod(a=EARTH_RADIUS_M, f=0.0)
    out = []
    for cx, cy in zip(x.tolist(), y.tolist(), strict=True):
        px, py, _ = sphere.fwd(np.full(az.size, cx), np.full(az.size, cy), az,
                               np.full(az.size, float(radius_m)))
        out.append(shapely.Polygon(np.column_stack([px, py])))
    return out


def reach_areas(engine: Any, lon: Any, lat: Any, minutes: float, *,
                buffer_m: float | None = None) -> list[shapely.Geometry]:
    """Each station's reach in ``minutes`` with either engine: road-network isochrones
    for :class:`~.network.NetworkEngine`, geodesic circles of the engine's radius for
    the straight-line engine."""
    m = check_minutes(minutes)
    if hasattr(engine, "isochrones"):
        return engine.isochrones(lon, lat, m, buffer_m=buffer_m)
    radius = getattr(engine, "radius_m", None)
    if not callable(radius):
        raise InvalidInput(f"engine: {type(engine).__name__} draws no reach areas",
                           field="engine")
    return reach_circles(lon, lat, radius(m))

"""The covered area from the faces of the reached street graph: the union of the
buffers of many road pieces, without overlaying them.

Used by :func:`.isochrones.covered_area`; all coordinates here are projected metres
(the result goes back to WGS-84 through the inverse transformer given).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components

if TYPE_CHECKING:  # pragma: no cover
    from pyproj import Transformer

#: Segments per quarter circle of the buffers' round ends (within 0.6 m of a true circle).
QUAD_SEGS = 4

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


def _face_of(a: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each half-edge's face in :func:`_faces` (without the ranking along the faces)."""
    return _traverse(a, b, x, y)[1]


def _traverse(a: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray
              ) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The next half-edge round each face and the faces (their number, each half-edge's
    face) for :func:`_faces`; also each half-edge's origin and destination."""
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
    return k, face, nxt, org, dst


def _faces(a: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Face traversal of the plane graph of edges ``a[i] - b[i]`` (distinct nodes at
    ``x, y``). Half-edge ``2i`` runs ``a -> b``, ``2i + 1`` back; a face keeps to the left
    of its half-edges. Returns each half-edge's face, its position along the face, the
    next half-edge, and each face's signed area (positive: a bounded face, counter-
    clockwise; negative: the outline of a component)."""
    k, face, nxt, org, dst = _traverse(a, b, x, y)
    n = 2 * a.size
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


def _holes(xy: np.ndarray, e: np.ndarray, buffer_m: float, discs: np.ndarray,
           on_outlines: Callable[[np.ndarray], None] | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Faces of the plane graph of edges ``e`` between nodes at ``xy``: the outline of
    each component (filled; dangles into the outside are spikes of its ring, which the
    buffer goes round) and the holes the bounded faces leave (each face shrunk by the
    buffer, round its inward dangles too, minus the ``discs`` and the buffered islands
    inside it). ``on_outlines`` is called with the outlines as soon as they are known
    (the caller starts their union while the holes are made)."""
    q = QUAD_SEGS
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
    if on_outlines is not None:
        on_outlines(outlines)
    # Only faces that hold a disc of the buffer's radius leave a hole.
    big = np.flatnonzero(a_face > math.pi * buffer_m ** 2)
    if big.size == 0:
        return outlines, np.zeros(0, dtype=object)
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
        eroded[~convex] = shapely.buffer(shapely.polygons(rings[big[~convex]]), -buffer_m,
                                         quad_segs=q)
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
        # candidates by the faces' boxes; only theirs made polygons for the exact test
        lo_x, hi_x = (f.reduceat(ring_xy[:, 0], starts)[big] for f in (np.minimum, np.maximum))
        lo_y, hi_y = (f.reduceat(ring_xy[:, 1], starts)[big] for f in (np.minimum, np.maximum))
        at = shapely.points(ring_xy[starts[outer]])
        oi, fi = shapely.STRtree(shapely.box(lo_x, lo_y, hi_x, hi_y)).query(at)
        inside = shapely.within(at[oi], shapely.polygons(rings[big[fi]]))
        oi, fi = oi[inside], fi[inside]
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
    holes = holes[~shapely.is_empty(holes)]
    multi = shapely.get_type_id(holes) != shapely.GeometryType.POLYGON
    if multi.any():
        holes = np.concatenate([holes[~multi], shapely.get_parts(holes[multi])])
    return outlines, holes


def covered(seg: np.ndarray, points: np.ndarray, buffer_m: float,
            inv: Transformer) -> shapely.Geometry:
    """The union of the buffers of line pieces ``(k, 2, 2)`` and points (projected
    metres), from the faces of the pieces' graph; in WGS-84. Any pieces: they are cut
    where they cross and their ends matched by coordinates."""
    short = np.all(seg[:, 0] == seg[:, 1], axis=1)
    points = np.concatenate([points, seg[short, 0]])
    seg = _planar(seg[~short]) if (~short).any() else seg[~short]
    xy, node = np.unique(seg.reshape(-1, 2), axis=0, return_inverse=True)
    e = np.unique(np.sort(node.reshape(-1, 2), axis=1), axis=0)
    e = e[e[:, 0] != e[:, 1]]  # pieces cut at their own ends
    # A point on the network is inside the buffer of its segments already.
    if len(points) and len(xy):
        p = np.ascontiguousarray(points).view(np.dtype((np.void, 16))).ravel()
        n = np.ascontiguousarray(xy).view(p.dtype).ravel()
        points = points[~np.isin(p, n)]
    return covered_plane(xy, e, np.zeros((0, 2, 2)), points, buffer_m, inv)


def covered_plane(xy: np.ndarray, e: np.ndarray, loose: np.ndarray, points: np.ndarray,
                  buffer_m: float, inv: Transformer) -> shapely.Geometry:
    """:func:`covered` of a plane graph: edges ``e`` (distinct, between distinct nodes at
    ``xy``, meeting only at nodes), ``loose`` pieces ``(k, 2, 2)`` that close no face
    (dangles, partial segments: each touching the rest at most at one end) and points
    off the graph."""
    q = QUAD_SEGS
    if e.size:
        # Dangles and bridges (the same face on both sides) are buffered on their own.
        face = _face_of(e[:, 0], e[:, 1], xy[:, 0], xy[:, 1])
        bridge = face[0::2] == face[1::2]
        loose = np.concatenate([loose, np.stack([xy[e[bridge, 0]], xy[e[bridge, 1]]], axis=1)])
        e = e[~bridge]
    free = np.concatenate([
        shapely.buffer(shapely.linestrings(loose), buffer_m, quad_segs=q) if len(loose)
        else np.zeros(0, dtype=object),
        shapely.buffer(shapely.points(points), buffer_m, quad_segs=q) if len(points)
        else np.zeros(0, dtype=object)])

    def to_wgs84(c: np.ndarray) -> np.ndarray:
        lon, lat = inv.transform(c[:, 0], c[:, 1])
        return np.column_stack([lon, lat])

    def union(outlines: np.ndarray) -> shapely.Geometry:
        body = shapely.buffer(outlines, buffer_m, quad_segs=q)
        rest = free
        if rest.size and body.size:
            # the loose buffers inside a component's buffer add nothing
            rest = np.delete(rest, np.unique(
                shapely.STRtree(rest).query(body, predicate="contains")[1]))
        # The union is computed in degrees, where it is returned: GEOS makes it valid
        # there (the buffers, metres apart, go through the near-affine map unfolded).
        # One cascaded union of all the buffers (on the benchmark grid about half the
        # time of unioning the loose buffers first and then with the components').
        return shapely.union_all(shapely.transform(np.concatenate([body, rest]), to_wgs84))

    if not e.size:
        return union(np.zeros(0, dtype=object)) if free.size else shapely.Polygon()
    # The union (GEOS, without the GIL) runs on a thread while the holes are made,
    # converted to WGS-84 and indexed.
    with ThreadPoolExecutor(max_workers=1) as pool:
        job: list[Future[shapely.Geometry]] = []
        outlines, holes = _holes(xy, e, buffer_m, free,
                                 lambda o: job.append(pool.submit(union, o)))
        if holes.size:
            holes = shapely.transform(holes, to_wgs84)
            inner = shapely.get_rings(holes)
            is_shell = np.zeros(inner.size, dtype=bool)
            is_shell[np.r_[0, np.cumsum(shapely.get_num_interior_rings(holes) + 1)[:-1]]] = True
            islands = shapely.polygons(inner[~is_shell])  # covered parts inside holes
            starts = shapely.STRtree(shapely.get_point(inner[is_shell], 0))
        area = job[0].result()
    if holes.size == 0:
        return area
    outer = shapely.get_parts(area)
    cands = np.concatenate([outer, islands])
    # The innermost candidate holding each hole (the candidates, queried against a
    # tree of points, are prepared: a part may have a hundred thousand holes).
    cx, hx = starts.query(cands, predicate="contains")
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




def plane_graph(xy: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The segments ``e`` between nodes at ``xy`` (distinct, of positive length) as a
    plane graph that :func:`covered_plane` can use: segments that cross or touch away
    from their shared nodes (a footbridge, jittered streets) are cut where they meet, at
    new nodes appended to ``xy``. Candidates are segments whose midpoints are close
    enough for them to meet (a k-d tree), tested exactly in numpy. ``None`` where
    segments run on along one line through a shared node (the caller then matches
    pieces by coordinates)."""
    from scipy.spatial import cKDTree

    if len(e) < 2:
        return xy, e
    p, q = xy[e[:, 0]], xy[e[:, 1]]
    mid, half = (p + q) / 2, np.hypot(*(q - p).T) / 2
    r = 2 * float(np.quantile(half, 0.99))
    tree = cKDTree(mid)
    i, j = tree.query_pairs(r, output_type="ndarray").T
    long = np.flatnonzero(half > r / 2)  # pairs with a long segment: searched each
    if long.size:
        near = tree.query_ball_point(mid[long], half[long] + r / 2)
        li = np.repeat(long, [len(n) for n in near])
        lj = np.concatenate([np.asarray(n, dtype=np.int64) for n in near])
        i, j = np.concatenate([i, li]), np.concatenate([j, lj])
    keep = (i != j) & (np.hypot(*(mid[i] - mid[j]).T) <= half[i] + half[j])
    i, j = i[keep], j[keep]
    a, b, c, d = e[i, 0], e[i, 1], e[j, 0], e[j, 1]
    shared = (a == c) | (a == d) | (b == c) | (b == d)
    # through a shared node: meeting elsewhere only if on one line, the same way
    hub = np.where((a == c) | (a == d), a, b)
    u1 = np.where(hub == a, b, a)
    u2 = np.where(hub == c, d, c)
    d1, d2 = xy[u1] - xy[hub], xy[u2] - xy[hub]
    crs = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    tol = 1e-9 * np.hypot(*d1.T) * np.hypot(*d2.T)
    if np.any(shared & (np.abs(crs) <= tol) & (np.einsum("ij,ij->i", d1, d2) > 0)):
        return None
    s = ~shared
    p1, p2, q1, q2 = xy[a[s]], xy[b[s]], xy[c[s]], xy[d[s]]

    def orient(o: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        return (v[:, 0] - o[:, 0]) * (w[:, 1] - o[:, 1]) - (v[:, 1] - o[:, 1]) * (w[:, 0] - o[:, 0])

    # touching (an orientation of 0) counts as meeting
    meet = ((orient(p1, p2, q1) * orient(p1, p2, q2) <= 0)
            & (orient(q1, q2, p1) * orient(q1, q2, p2) <= 0))
    cut = np.unique(np.concatenate([i[s][meet], j[s][meet]]))
    if cut.size == 0:
        return xy, e
    # the few segments that meet: cut by coordinates, their ends matched back to nodes
    seg = _planar(xy[e[cut]])
    end_ids = np.unique(e[cut])
    pts, node = np.unique(seg.reshape(-1, 2), axis=0, return_inverse=True)
    known = np.unique(xy[end_ids], axis=0, return_index=True)
    at = np.searchsorted(known[0].view(np.dtype((np.void, 16))).ravel(),
                         pts.view(np.dtype((np.void, 16))).ravel())
    at = np.minimum(at, len(known[1]) - 1)
    old = np.all(known[0][at] == pts, axis=1)
    pid = np.empty(len(pts), dtype=np.int64)
    pid[old] = end_ids[known[1][at[old]]]
    pid[~old] = len(xy) + np.arange(int((~old).sum()))
    new_e = np.sort(pid[node.reshape(-1, 2)], axis=1)
    new_e = np.unique(new_e[new_e[:, 0] != new_e[:, 1]], axis=0)
    return (np.concatenate([xy, pts[~old]]),
            np.concatenate([np.delete(e, cut, axis=0), new_e]))

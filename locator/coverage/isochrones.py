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

from ..errors import InvalidInput
from .faces import QUAD_SEGS as _QUAD_SEGS
from .faces import covered as _covered
from .faces import covered_plane as _covered_plane
from .faces import plane_graph as _plane_graph
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


def _reached_pieces(engine: NetworkEngine, reached: np.ndarray, t: np.ndarray,
                    budget: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reachable road segments as node ids: the wholly reached ones ``(k, 2)`` (each once,
    lower id first), the parts of the others as ``(m, 2)`` rows ``v, u`` with the fraction
    of ``v -> u`` walked, and the reached nodes that no segment of positive length starts
    from."""
    rev = engine.graph.reverse
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
    n_key = int(max(u.max(initial=0), v.max(initial=0))) + 1
    key = lo_ * n_key + hi_
    whole_keys = np.unique(key[full])
    part = ~full & ~np.isin(key, whole_keys)
    pk, inv_, cnt = np.unique(key[part], return_inverse=True, return_counts=True)
    met = np.bincount(inv_, weights=f[part], minlength=pk.size) >= 1.0
    join = np.zeros(v.size, dtype=bool)
    join[np.flatnonzero(part)[met[inv_] & (cnt[inv_] > 1)]] = True
    full |= join
    part &= ~join
    # the keys of whole segments, deduplicated, are the (lower, higher) pairs in order
    keys = np.unique(key[full])
    pairs = np.column_stack([keys // n_key, keys % n_key])
    lone = np.setdiff1d(reached, np.concatenate([pairs.ravel(), v[part]]))
    return pairs, np.column_stack([v[part], u[part]]), f[part], lone


def _network_pieces(engine: NetworkEngine, reached: np.ndarray, t: np.ndarray,
                    budget: float, fwd: Transformer
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reachable road segments as ``(k, 2, 2)`` projected line coordinates: the wholly
    reached ones (each once) and the parts of the others, and the projected reached nodes
    that no segment of positive length starts from."""
    pairs, part, frac, lone = _reached_pieces(engine, reached, t, budget)
    ids = np.unique(np.concatenate([reached, pairs.ravel(), part.ravel()]))
    px, py = fwd.transform(engine.graph.lon[ids], engine.graph.lat[ids])
    xy = np.column_stack([px, py])
    whole = xy[np.searchsorted(ids, pairs)]
    p0, p1 = xy[np.searchsorted(ids, part[:, 0])], xy[np.searchsorted(ids, part[:, 1])]
    partial = np.stack([p0, p0 + frac[:, None] * (p1 - p0)], axis=1)
    return whole.reshape(-1, 2, 2), partial.reshape(-1, 2, 2), xy[np.searchsorted(ids, lone)]


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
    pairs, part, frac, lone = _reached_pieces(engine, reached, t_all[reached], limit)
    # the graph's nodes are projected once; pieces refer to them by index into ``ids``
    ids = np.unique(np.concatenate([reached, pairs.ravel(), part[:, 1], st.node]))
    g = engine.graph
    xy = np.column_stack(fwd.transform(g.lon[ids], g.lat[ids]))
    e, pv, pu = (np.searchsorted(ids, x) for x in (pairs, part[:, 0], part[:, 1]))
    p0 = xy[pv]
    partial = np.stack([p0, p0 + frac[:, None] * (xy[pu] - p0)], axis=1)
    # the snapping walks, as far as they go in time
    sxy = np.column_stack(fwd.transform(lon, lat))
    walk = st.metres > 0
    sn = xy[np.searchsorted(ids, st.node[walk])]
    f = np.minimum(1.0, limit * g.walk_speed_kmh / 3.6 / st.metres[walk])[:, None]
    walks = np.stack([sxy[walk], sxy[walk] + f * (sn - sxy[walk])], axis=1)
    on_graph = np.zeros(ids.size, dtype=bool)
    on_graph[e.ravel()] = on_graph[pv] = True
    at = np.searchsorted(ids, st.node[~walk])
    points = np.concatenate([xy[np.searchsorted(ids, lone)], sxy[~walk][~on_graph[at]]])
    plane = None
    if e.size and not np.all(xy[e[:, 0]] == xy[e[:, 1]], axis=1).any():
        plane = _plane_graph(xy, e)
    if plane is not None:
        # The partial segments and walks touch the graph at one end at most: loose.
        pxy, pe = plane
        used = np.zeros(len(pxy), dtype=bool)
        used[pe.ravel()] = True
        remap = np.cumsum(used) - 1
        return _covered_plane(pxy[used], remap[pe], np.concatenate([partial, walks]),
                              points, buf, inv)
    lines = np.concatenate([xy[e].reshape(-1, 2, 2), partial, walks])
    return _covered(lines, points, buf, inv)


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

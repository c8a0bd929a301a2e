"""Gaps: contiguous uncovered areas, ranked by the demand they leave uncovered.

Uncovered grid or hexagon cells that share an edge are merged; uncovered point demand is
clustered by distance. Each gap has its polygon, a representative demand unit, its
demand and area, and the nearest station's distance and travel time. Split from
:mod:`.metrics`, whose :class:`~.metrics.StationSet` and figures it shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInput
from .demand import Demand, Districts
from .metrics import StationSet, _num
from .straight import TravelEngine, check_minutes

__all__ = ["Gap", "GapReport", "district_names", "find_gaps"]


@dataclass(frozen=True)
class Gap:
    """One contiguous uncovered area.

    ``rep_lon``/``rep_lat`` is the uncovered unit (``rep_id``) nearest to the
    demand-weighted centre of the gap: a real demand location inside it, suitable as
    a candidate site. ``nearest_station_m`` is the great-circle distance from there
    to the nearest counted station, ``nearest_station_minutes`` the engine's time;
    ``nearest_station_name`` its name. ``district_names`` are the names of
    ``districts`` (same order; the codes where no names were given).
    """

    rank: int
    demand: float
    area_m2: float | None
    units: int
    polygon: Any  # shapely (Multi)Polygon, WGS-84
    rep_id: str
    rep_lon: float
    rep_lat: float
    districts: tuple[str, ...]
    nearest_station_id: str | None
    nearest_station_m: float
    nearest_station_minutes: float
    nearest_station_name: str | None = None
    district_names: tuple[str, ...] = ()

    def to_dict(self, *, geometry: bool = True) -> dict[str, Any]:
        import shapely.geometry

        d: dict[str, Any] = {
            "rank": self.rank, "demand": _num(self.demand),
            "area_km2": _num(None if self.area_m2 is None else self.area_m2 / 1e6),
            "units": self.units, "rep_id": self.rep_id,
            "rep_point": [round(self.rep_lon, 6), round(self.rep_lat, 6)],
            "districts": list(self.districts),
            "district_names": list(self.district_names or self.districts),
            "nearest_station_id": self.nearest_station_id,
            "nearest_station_name": self.nearest_station_name,
            "nearest_station_m": _num(self.nearest_station_m, 1),
            "nearest_station_minutes": _num(self.nearest_station_minutes, 2),
        }
        if geometry:
            d["geometry"] = shapely.geometry.mapping(self.polygon)
        return d


@dataclass(frozen=True)
class GapReport:
    """Uncovered areas at one threshold, ranked by uncovered demand."""

    minutes: float
    method: str  # "cells" (adjacent polygons) or "points" (clustered by link_m)
    link_m: float | None
    uncovered_demand: float
    uncovered_units: int
    gaps: tuple[Gap, ...]
    illustrative: bool = False

    def to_dict(self, *, geometry: bool = True) -> dict[str, Any]:
        return {"minutes": self.minutes, "method": self.method, "link_m": self.link_m,
                "uncovered_demand": _num(self.uncovered_demand),
                "uncovered_units": self.uncovered_units, "illustrative": self.illustrative,
                "gaps": [g.to_dict(geometry=geometry) for g in self.gaps]}

    def to_geojson(self) -> dict[str, Any]:
        """A FeatureCollection of the gap polygons, properties as in ``to_dict``."""
        feats = []
        for g in self.gaps:
            props = g.to_dict(geometry=False)
            feats.append({"type": "Feature", "properties": props,
                          "geometry": g.to_dict()["geometry"]})
        return {"type": "FeatureCollection", "features": feats}


def find_gaps(engine: TravelEngine, stations: StationSet, demand: Demand,
              minutes: float = 15.0, *, link_m: float | None = None, min_demand: float = 0.0,
              limit: int | None = None, include_zero_weight: bool = False,
              counts: np.ndarray | None = None,
              districts: Districts | None = None) -> GapReport:
    """Contiguous uncovered areas, largest uncovered demand first.

    With unit polygons (grids, hexagons, polygon demand), uncovered units sharing an
    edge are merged (corner contact does not join). Point demand is clustered: two
    uncovered points within ``link_m`` metres join (default 1.1 × ``cell_m`` for
    gridded points, which links edge neighbours only, else 500 m); the polygon is
    the union of the points' cells (squares of ``cell_m``) or, without a cell size,
    the convex hull buffered by ``link_m / 2``.

    Units with zero weight are left out unless ``include_zero_weight`` (for pure
    area demand every unit has weight). Gaps with less than ``min_demand`` are
    dropped; ``limit`` keeps the first ones. ``counts``: each unit's reach count at
    ``minutes`` computed elsewhere (a partitioned run's ``reach_counts``), in place of
    computing it here. ``districts`` names the gaps' districts.
    """
    import shapely
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from .demand import local_equal_area
    from .straight import nearest_within

    m = check_minutes(minutes)
    if counts is None:
        counts = engine.reach_counts(stations.lon, stations.lat, demand.lon, demand.lat, m,
                                     cap=1)
    elif len(counts) != len(demand):
        raise InvalidInput(f"counts: {len(demand):,} values expected (one per demand unit), "
                           f"got {len(counts):,}", field="counts")
    unc = counts == 0
    if not include_zero_weight:
        unc &= demand.weight > 0
    idx = np.flatnonzero(unc)
    x0, y0, x1, y1 = (float(demand.lon.min()), float(demand.lat.min()),
                      float(demand.lon.max()), float(demand.lat.max()))
    fwd, inv = local_equal_area(round((x0 + x1) / 2, 2), round((y0 + y1) / 2, 2))
    px, py = fwd.transform(demand.lon[idx], demand.lat[idx])

    def to_m(geoms: np.ndarray) -> np.ndarray:
        return shapely.transform(geoms, lambda xy: np.column_stack(fwd.transform(*xy.T)))

    def to_deg(geoms: np.ndarray) -> np.ndarray:
        return shapely.transform(geoms, lambda xy: np.column_stack(inv.transform(*xy.T)))

    n = idx.size
    if demand.geometry is not None:
        method, link = "cells", None
        cells = to_m(demand.geometry[idx])
        i, j = _edge_neighbours(cells)
    else:
        method = "points"
        if link_m is None:
            link = 1.1 * demand.cell_m if demand.cell_m else 500.0
        else:
            link = float(link_m)
            if not 0 < link <= 50_000:
                raise InvalidInput(f"link_m: {link_m!r} is out of range; allowed (0, 50000] "
                                   "metres", field="link_m")
        from scipy.spatial import cKDTree

        pairs = cKDTree(np.column_stack((px, py))).query_pairs(link, output_type="ndarray")
        i, j = pairs[:, 0], pairs[:, 1]
        if demand.cell_m:
            # Cells are rebuilt around rounded points, so they are drawn a little larger
            # (tol) to close hairline cracks, then shrunk back after the union.
            tol = max(2.0, 0.01 * demand.cell_m)
            h = demand.cell_m / 2 + tol
            cells = shapely.box(px - h, py - h, px + h, py + h)
        else:
            cells = None
    ncomp, label = connected_components(
        coo_matrix((np.ones(i.size), (i, j)), shape=(n, n)), directed=False) if n else (0, [])
    label = np.asarray(label, dtype=np.intp)
    w = demand.weight[idx]
    comp_w = np.bincount(label, weights=w, minlength=ncomp)
    order = sorted(range(ncomp), key=lambda c: (-comp_w[c], int(np.flatnonzero(label == c)[0])))
    order = [c for c in order if comp_w[c] >= min_demand]
    if limit is not None:
        order = order[:max(int(limit), 0)]
    # Representative units: nearest to the weighted centre of each gap.
    members = {c: np.flatnonzero(label == c) for c in order}
    reps = []
    for c in order:
        mem = members[c]
        ww = w[mem]
        if ww.sum() > 0:
            cx, cy = np.average(px[mem], weights=ww), np.average(py[mem], weights=ww)
        else:
            cx, cy = px[mem].mean(), py[mem].mean()
        reps.append(int(mem[np.argmin((px[mem] - cx) ** 2 + (py[mem] - cy) ** 2)]))
    rep_units = idx[np.asarray(reps, dtype=np.intp)]
    near_i, near_m = nearest_within(stations.lon, stations.lat, demand.lon[rep_units],
                                    demand.lat[rep_units])
    near_min = engine.nearest_time(stations.lon, stations.lat, demand.lon[rep_units],
                                   demand.lat[rep_units])
    gaps = []
    for rank, (c, r_unit) in enumerate(zip(order, rep_units.tolist(), strict=True), start=1):
        mem = members[c]
        if cells is not None and method == "points":
            poly_m = shapely.buffer(shapely.union_all(cells[mem]), -tol, join_style="mitre")
        elif cells is not None:
            poly_m = shapely.union_all(cells[mem], grid_size=0.01)
        else:
            assert link is not None  # point demand (no cells) always has a link distance
            pts = shapely.points(px[mem], py[mem])
            poly_m = shapely.buffer(shapely.convex_hull(shapely.multipoints(pts)), link / 2)
        poly = to_deg(np.array([poly_m], dtype=object))[0]
        area = (None if demand.area_m2 is None else float(demand.area_m2[idx[mem]].sum()))
        dw: dict[str, float] = {}
        for code, wv in zip(demand.district[idx[mem]].tolist(), w[mem].tolist(), strict=True):
            dw[code] = dw.get(code, 0.0) + wv
        k = rank - 1
        codes = tuple(sorted((d for d in dw if d), key=lambda d: (-dw[d], d)))
        gaps.append(Gap(
            rank, float(comp_w[c]), area, int(mem.size), poly, str(demand.ids[r_unit]),
            float(demand.lon[r_unit]), float(demand.lat[r_unit]),
            codes, None if near_i[k] < 0 else str(stations.ids[near_i[k]]),
            float(near_m[k]), float(near_min[k]),
            None if near_i[k] < 0 else stations.name_of(int(near_i[k])),
            district_names(codes, districts)))
    return GapReport(m, method, link, float(w.sum()), int(n), tuple(gaps),
                     demand.is_illustrative)


def district_names(codes: tuple[str, ...], districts: Districts | None,
                   lang: str = "zh") -> tuple[str, ...]:
    """The names of district ``codes`` (Chinese, or English where known with
    ``lang="en"``); a code without a name stays a code."""
    if districts is None:
        return codes
    out = []
    for c in codes:
        zh, en = districts.label(c)
        out.append(((en or zh) if lang == "en" else zh) or c)
    return tuple(out)


def _edge_neighbours(cells: np.ndarray, eps: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of planar polygons that share an edge (or overlap), with a tolerance of
    ``eps`` metres for vertices that moved in reprojection; corner contact does not
    count."""
    import shapely

    if cells.size < 2:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    tree = shapely.STRtree(cells)
    i, j = tree.query(cells, predicate="dwithin", distance=eps)
    keep = i < j
    i, j = i[keep], j[keep]
    shared = shapely.length(shapely.intersection(shapely.boundary(cells[i]),
                                                 shapely.buffer(cells[j], eps, quad_segs=1)))
    ok = shared > 20 * eps
    return i[ok], j[ok]

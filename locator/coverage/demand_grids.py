"""Demand layers laid out over district boundaries: square grids, H3 hexagons, and the
illustrative Xuzhou layer.

Cells are laid out in a local Lambert azimuthal equal-area projection
(:func:`~.demand.local_equal_area`), so square cells are true squares of ``cell_m``
metres and clipped areas equal geodesic areas up to rounding. Cell pieces smaller than
a sliver share of a cell are dropped. Every builder returns a :class:`~.demand.Demand`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer

from ..errors import InvalidInput
from .demand import (
    ILLUSTRATIVE_SEED,
    ILLUSTRATIVE_SOURCE,
    Demand,
    Districts,
    centre_of,
    local_equal_area,
    transform_geoms,
    valid_polygons,
)

__all__ = ["generate_illustrative_demand", "grid_demand", "h3_demand"]

#: Clipped cell pieces smaller than this share of a cell are dropped as slivers
#: (boundary noise, such as the millimetre round trip of the projection: 25 m² for a
#: 500 m cell).
_SLIVER = 1e-4


# --------------------------------------------------------------------------- grids


def _boundaries(area: Districts | Any) -> tuple[list[str], np.ndarray]:
    if isinstance(area, Districts):
        return list(area.adcode), area.geometry
    geoms = valid_polygons(area if isinstance(area, Iterable) else [area], what="boundary")
    return [""] * geoms.size, geoms


def _cell_weight(area: np.ndarray, full: float, weight: str) -> tuple[np.ndarray, str]:
    if weight == "area":
        return area, "area_m2"
    if weight == "share":
        return area / full, "cell_share"
    raise InvalidInput(f"weight: {weight!r} is not a cell weight; allowed: area, share",
                       field="weight")


def grid_demand(area: Districts | Any, cell_m: float = 500.0, *, weight: str = "area",
                origin: tuple[float, float] | None = None) -> Demand:
    """Square cells of ``cell_m`` metres clipped to the boundary (or to each district).

    Cells are laid out in a local equal-area projection centred on ``origin`` (default:
    the middle of the boundary's bounding box, rounded to 0.01°). A cell cut by a
    district boundary becomes one piece per district, so district areas add up (pieces
    under 1e-4 of a cell are dropped as slivers).
    Each unit's weight is its area in m² (``weight="area"``) or its share of a full
    cell (``"share"``); the representative point is the cell centre for whole cells
    and a point inside the piece for clipped ones. Ids are ``"{col}_{row}"`` with
    ``"_{adcode}"`` appended for districts.
    """
    if not (isinstance(cell_m, (int, float)) and 10.0 <= cell_m <= 100_000.0):
        raise InvalidInput(f"cell_m: {cell_m!r} is out of range; allowed 10..100000 metres",
                           field="cell_m")
    codes, geoms = _boundaries(area)
    fwd, inv = local_equal_area(*(origin or centre_of(geoms)))
    proj = transform_geoms(geoms, fwd)
    ids: list[str] = []
    pieces: list[np.ndarray] = []
    dcodes: list[str] = []
    s = float(cell_m)
    for code, g in zip(codes, proj, strict=True):
        x0, y0, x1, y1 = g.bounds
        cols = np.arange(int(np.floor(x0 / s)), int(np.ceil(x1 / s)))
        rows = np.arange(int(np.floor(y0 / s)), int(np.ceil(y1 / s)))
        cc, rr = (a.ravel() for a in np.meshgrid(cols, rows))
        boxes = shapely.box(cc * s, rr * s, (cc + 1) * s, (rr + 1) * s)
        shapely.prepare(g)
        hit = shapely.intersects(g, boxes)
        cc, rr, boxes = cc[hit], rr[hit], boxes[hit]
        inside = shapely.contains_properly(g, boxes)
        clipped = boxes.copy()
        clipped[~inside] = shapely.intersection(boxes[~inside], g)
        clipped[~inside] = _polygonal(clipped[~inside])
        keep = ~shapely.is_empty(clipped) & (shapely.area(clipped) > _SLIVER * s * s)
        cc, rr, clipped = cc[keep], rr[keep], clipped[keep]
        suffix = f"_{code}" if code else ""
        ids.extend(f"{c}_{r}{suffix}" for c, r in zip(cc.tolist(), rr.tolist(), strict=True))
        pieces.append(clipped)
        dcodes.extend([code] * clipped.size)
    cells = np.concatenate(pieces) if pieces else np.zeros(0, dtype=object)
    return _cells_to_demand(cells, ids, dcodes, s * s, weight, inv, kind="grid", cell_m=s)


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Drop lines and points left by clipping (keep the polygonal part)."""
    out = geoms.copy()
    for i in np.flatnonzero(shapely.get_type_id(geoms) == 7):  # GeometryCollection
        polys = [p for p in shapely.get_parts(geoms[i]) if shapely.get_type_id(p) in (3, 6)]
        out[i] = shapely.union_all(polys) if polys else shapely.Polygon()
    return out


def _cells_to_demand(cells_m: np.ndarray, ids: list[str], dcodes: list[str], full_area: float,
                     weight: str, inv: Transformer, *, kind: str, cell_m: float | None
                     ) -> Demand:
    if cells_m.size == 0:
        raise InvalidInput("boundary: no cell intersects the boundary; the demand grid is "
                           "empty", field="boundary")
    area = shapely.area(cells_m)
    full = np.isclose(area, full_area, rtol=1e-9)
    rep = shapely.point_on_surface(cells_m)
    rep[full] = shapely.centroid(cells_m[full])
    rx, ry = inv.transform(shapely.get_x(rep), shapely.get_y(rep))
    w, wname = _cell_weight(area, full_area, weight)
    return Demand(np.asarray(ids, dtype=object), rx, ry, w, area_m2=area,
                  district=np.asarray(dcodes, dtype=object),
                  geometry=transform_geoms(cells_m, inv), kind=kind, cell_m=cell_m,
                  weight_name=wname)


def h3_demand(area: Districts | Any, resolution: int = 8, *, weight: str = "area") -> Demand:
    """H3 hexagons at ``resolution`` clipped to the boundary (or to each district).

    Needs the optional ``h3`` package (``pip install h3``, version 4). Every hexagon
    that overlaps the boundary is kept and clipped; ids are H3 cell ids, with
    ``"_{adcode}"`` appended for districts.
    """
    try:
        import h3
    except ImportError:  # pragma: no cover - depends on the environment
        raise InvalidInput("H3 hexagons need the optional 'h3' package (version 4): "
                           "pip install h3; or use grid_demand() for square cells",
                           field="h3") from None
    if not (isinstance(resolution, int) and 0 <= resolution <= 12):
        raise InvalidInput(f"resolution: {resolution!r} is out of range; allowed integers "
                           "0..12", field="resolution")
    codes, geoms = _boundaries(area)
    fwd, inv = local_equal_area(*centre_of(geoms))
    full_area = h3.average_hexagon_area(resolution, unit="m^2")
    edge_km = h3.average_hexagon_edge_length(resolution, unit="km")
    ids: list[str] = []
    hexes: list[Any] = []
    dcodes: list[str] = []
    for code, g in zip(codes, geoms, strict=True):
        lat_mid = (g.bounds[1] + g.bounds[3]) / 2
        pad = 2.5 * edge_km / (111.0 * max(np.cos(np.radians(lat_mid)), 0.1))
        shape = h3.geo_to_h3shape(shapely.geometry.mapping(g.buffer(pad, quad_segs=2)))
        cells = sorted(h3.h3shape_to_cells(shape, resolution))
        if not cells:
            continue
        polys = np.array([shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)])
                          for c in cells], dtype=object)
        gm = transform_geoms(np.array([g], dtype=object), fwd)[0]
        pm = transform_geoms(polys, fwd)
        shapely.prepare(gm)
        hit = shapely.intersects(gm, pm)
        clipped = _polygonal(shapely.intersection(pm[hit], gm))
        keep = ~shapely.is_empty(clipped) & (shapely.area(clipped) > _SLIVER * full_area)
        kept_cells = [c for c, h in zip(cells, hit, strict=True) if h]
        suffix = f"_{code}" if code else ""
        ids.extend(c + suffix for c, k in zip(kept_cells, keep, strict=True) if k)
        hexes.append(clipped[keep])
        dcodes.extend([code] * int(keep.sum()))
    cells_m = np.concatenate(hexes) if hexes else np.zeros(0, dtype=object)
    dem = _cells_to_demand(cells_m, ids, dcodes, full_area, weight, inv, kind="h3",
                           cell_m=float(np.sqrt(full_area)))
    dem.meta["h3_resolution"] = resolution
    return dem


# --------------------------------------------------------------------------- illustrative


#: Where the illustrative workers gather: (lon, lat, sigma_km, share of the total).
#: Rough WGS-84 positions of Xuzhou's urban core and district/county seats; the
#: shares are invented, loosely following the population of each place.
_ILLUSTRATIVE_CENTRES: tuple[tuple[float, float, float, float], ...] = (
    (117.185, 34.262, 3.0, 0.20),   # city centre
    (117.190, 34.290, 2.5, 0.06),   # Gulou
    (117.240, 34.250, 2.5, 0.06),   # Yunlong
    (117.280, 34.220, 3.0, 0.05),   # new city
    (117.155, 34.240, 2.5, 0.05),   # Quanshan
    (117.170, 34.190, 3.0, 0.05),   # Tongshan seat
    (117.200, 34.250, 8.0, 0.06),   # suburbs around the core
    (117.450, 34.440, 2.5, 0.035),  # Jiawang
    (116.590, 34.700, 2.5, 0.045),  # Feng
    (116.930, 34.720, 2.5, 0.05),   # Pei
    (117.940, 33.910, 2.5, 0.045),  # Suining
    (118.350, 34.370, 2.5, 0.045),  # Xinyi
    (117.960, 34.330, 2.5, 0.055),  # Pizhou
)
#: Share of the workers spread over towns and villages (uniform per area plus towns).
_ILLUSTRATIVE_RURAL = 0.10
_ILLUSTRATIVE_TOWNS = (70, 0.08, 1.2)  # number of towns, their total share, sigma_km


def generate_illustrative_demand(districts: Districts, *, cell_m: float = 500.0,
                                 seed: int = ILLUSTRATIVE_SEED,
                                 total_workers: int = 150_000) -> Demand:
    """A synthetic outdoor-worker layer on a square grid: ILLUSTRATIVE, not data.

    Expected workers per cell come from Gaussian clusters around the urban core and
    the district/county seats, small towns placed at random inside the districts,
    and a thin uniform rural share; counts are Poisson draws with ``seed``. The
    result depends only on the polygons, ``cell_m``, ``seed`` and ``total_workers``.
    Ids are ``XZD00001``... in grid order; ``source = "illustrative"``.
    """
    grid = grid_demand(districts, cell_m, weight="area")
    cell_area = grid.area_m2
    assert cell_area is not None  # grid cells always have their areas
    rng = np.random.default_rng(seed)
    fwd, _ = local_equal_area(*centre_of(districts.geometry))
    x, y = fwd.transform(grid.lon, grid.lat)
    area_km2 = cell_area / 1e6
    lam = np.zeros(len(grid))
    centres = list(_ILLUSTRATIVE_CENTRES)
    n_towns, towns_share, towns_sigma = _ILLUSTRATIVE_TOWNS
    # Towns: cells drawn at random with probability proportional to area.
    town_cells = rng.choice(len(grid), size=n_towns, replace=False,
                            p=cell_area / cell_area.sum())
    town_w = rng.gamma(2.0, 1.0, size=n_towns)
    town_w *= towns_share / town_w.sum()
    centres += [(float(grid.lon[i]), float(grid.lat[i]), towns_sigma, float(w))
                for i, w in zip(town_cells, town_w, strict=True)]
    for clon, clat, sigma_km, share in centres:
        cx, cy = fwd.transform(clon, clat)
        d2 = ((x - cx) ** 2 + (y - cy) ** 2) / 1e6
        lam += share * np.exp(-d2 / (2 * sigma_km ** 2)) / (2 * np.pi * sigma_km ** 2) * area_km2
    lam += _ILLUSTRATIVE_RURAL * area_km2 / area_km2.sum()
    counts = rng.poisson(lam * total_workers).astype(np.float64)
    ids = np.array([f"XZD{i:05d}" for i in range(1, len(grid) + 1)], dtype=object)
    return Demand(ids, grid.lon, grid.lat, counts, area_m2=cell_area,
                  district=grid.district, geometry=grid.geometry, kind="grid",
                  cell_m=float(cell_m), weight_name="workers", source=ILLUSTRATIVE_SOURCE,
                  meta={"seed": seed, "total_workers_expected": total_workers,
                        "note": "ILLUSTRATIVE synthetic outdoor-worker counts; not real data"})

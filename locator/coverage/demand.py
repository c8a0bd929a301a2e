"""Demand: what "covered" is weighted by, and the districts it is reported by.

A :class:`Demand` is a set of units, each with a representative point (WGS-84), a
weight (workers, population, or area) and, for cells and polygons, an area and a
geometry. Builders:

- :func:`demand_from_points`: points with a weight column;
- :func:`demand_from_polygons`: polygons with a weight; the representative point is
  ``shapely.point_on_surface`` (always inside), the area is kept;
- :func:`~.demand_grids.grid_demand`, :func:`~.demand_grids.h3_demand` and
  :func:`~.demand_grids.generate_illustrative_demand` (in :mod:`.demand_grids`): plain
  area on square cells or H3 hexagons clipped to the districts, and the Xuzhou demo
  layer (synthetic, labelled ``source = "illustrative"``).

Areas are computed in a local Lambert azimuthal *equal-area* projection on the
WGS-84 ellipsoid, so they equal geodesic areas up to rounding. Grids are laid out
in the same kind of projection, so grid cells are true squares of ``cell_m`` metres.

File readers (CSV, GeoJSON, GeoTIFF) live in :mod:`.io`; this module works on arrays.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import shapely
from pyproj import Transformer

from ..errors import InvalidInput

__all__ = [
    "ILLUSTRATIVE_SEED",
    "ILLUSTRATIVE_SOURCE",
    "Demand",
    "Districts",
    "demand_from_points",
    "demand_from_polygons",
    "local_equal_area",
    "valid_polygons",
]

#: The ``source`` label of synthetic demand. Figures computed on it are not facts.
ILLUSTRATIVE_SOURCE = "illustrative"
#: Seed of the shipped illustrative Xuzhou demand layer.
ILLUSTRATIVE_SEED = 20240415

_KINDS = ("points", "polygons", "grid", "h3", "raster")


# --------------------------------------------------------------------------- geometry helpers


def local_equal_area(lon0: float, lat0: float) -> tuple[Transformer, Transformer]:
    """Forward (WGS-84 -> metres) and inverse transformers of a Lambert azimuthal
    equal-area projection centred on ``(lon0, lat0)``."""
    proj = (f"+proj=laea +lat_0={lat0:.6f} +lon_0={lon0:.6f} +x_0=0 +y_0=0 "
            "+ellps=WGS84 +units=m +no_defs")
    fwd = Transformer.from_crs("EPSG:4326", proj, always_xy=True)
    inv = Transformer.from_crs(proj, "EPSG:4326", always_xy=True)
    return fwd, inv


def transform_geoms(geoms: np.ndarray, tr: Transformer) -> np.ndarray:
    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack((x, y))

    return shapely.transform(geoms, fn)


def centre_of(geoms: np.ndarray) -> tuple[float, float]:
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    return round((x0 + x1) / 2, 2), round((y0 + y1) / 2, 2)


def areas_m2(geoms: np.ndarray) -> np.ndarray:
    """Geodesic areas (m²) of WGS-84 polygons, via a local equal-area projection."""
    if geoms.size == 0:
        return np.zeros(0)
    fwd, _ = local_equal_area(*centre_of(geoms))
    return shapely.area(transform_geoms(geoms, fwd))


def _looks_like_degrees(geoms: np.ndarray, what: str) -> None:
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise InvalidInput(
            f"{what}: coordinates span x {x0:.6g}..{x1:.6g}, y {y0:.6g}..{y1:.6g}, which are "
            "not WGS-84 degrees (lon -180..180, lat -90..90); the data look projected "
            "(metres). Convert them to WGS-84 (EPSG:4326) first", field=what)


def valid_polygons(geoms: Any, *, what: str = "geometry", repair: bool = True,
                   first_row: int = 1) -> np.ndarray:
    """Polygonal WGS-84 geometries, checked.

    Invalid ones are repaired with ``shapely.make_valid`` (keeping the polygonal
    part) and a :class:`UserWarning` naming the rows, or, with ``repair=False``,
    rejected naming the first bad row. Missing, empty and non-polygonal
    geometries are always rejected.
    """
    arr = np.asarray(geoms, dtype=object).reshape(-1)
    if arr.size == 0:
        raise InvalidInput(f"{what}: no geometries; at least one polygon is required",
                           field=what)
    for i, g in enumerate(arr):
        if g is None or not isinstance(g, shapely.Geometry) or shapely.is_empty(g):
            raise InvalidInput(f"{what}: missing or empty geometry", field=what, row=first_row + i)
        if shapely.get_type_id(g) not in (3, 6):  # Polygon, MultiPolygon
            raise InvalidInput(f"{what}: a {g.geom_type} where a Polygon or MultiPolygon is "
                               "required", field=what, row=first_row + i)
    _looks_like_degrees(arr, what)
    bad = np.flatnonzero(~shapely.is_valid(arr))
    if bad.size:
        rows = ", ".join(str(first_row + int(i)) for i in bad[:20])
        reason = shapely.is_valid_reason(arr[bad[0]])
        if not repair:
            raise InvalidInput(f"{what}: invalid geometry ({reason}); repair it (e.g. "
                               "shapely.make_valid) or pass repair=True", field=what,
                               row=first_row + int(bad[0]))
        arr = arr.copy()
        for i in bad.tolist():
            fixed = shapely.make_valid(arr[i])
            polys = [p for p in shapely.get_parts(fixed) if shapely.get_type_id(p) in (3, 6)]
            fixed = shapely.union_all(polys) if polys else None
            if fixed is None or fixed.is_empty or fixed.area == 0:
                raise InvalidInput(f"{what}: invalid geometry ({reason}) with no area left "
                                   "after make_valid", field=what, row=first_row + int(i))
            arr[i] = fixed
        warnings.warn(f"{what}: repaired {bad.size} invalid geometr"
                      f"{'y' if bad.size == 1 else 'ies'} with make_valid (rows {rows}; first: "
                      f"{reason})", UserWarning, stacklevel=2)
    return arr


# --------------------------------------------------------------------------- districts


@dataclass(frozen=True, eq=False)
class Districts:
    """District boundaries (WGS-84) with their codes and names."""

    adcode: tuple[str, ...]
    name: tuple[str, ...]
    name_en: tuple[str, ...]
    geometry: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.adcode)
        if not (len(self.name) == len(self.name_en) == len(self.geometry) == n):
            raise InvalidInput("districts: adcode, name, name_en and geometry must be equally "
                               "long", field="districts")
        if n == 0:
            raise InvalidInput("districts: none given; at least one district is required",
                               field="districts")
        if len(set(self.adcode)) != n:
            dup = sorted({a for a in self.adcode if self.adcode.count(a) > 1})
            raise InvalidInput(f"districts: duplicate adcode(s) {', '.join(dup)}; each "
                               "district needs its own code", field="adcode")
        if any(not a for a in self.adcode):
            raise InvalidInput("districts: an empty adcode; every district needs a code",
                               field="adcode")
        geoms = np.asarray(self.geometry, dtype=object)
        shapely.prepare(geoms)
        object.__setattr__(self, "geometry", geoms)

    def __len__(self) -> int:
        return len(self.adcode)

    @classmethod
    def from_geojson(cls, fc: dict[str, Any], *, repair: bool = True) -> Districts:
        """From a GeoJSON FeatureCollection with properties ``adcode`` and ``name``
        (``name_en`` optional), such as :func:`locator.cli.demo.load_districts`."""
        feats = fc.get("features") if isinstance(fc, dict) else None
        if not feats:
            raise InvalidInput("districts: the FeatureCollection has no features",
                               field="districts")
        adcodes, names, names_en, geoms = [], [], [], []
        for i, f in enumerate(feats, start=1):
            props = f.get("properties") or {}
            code = str(props.get("adcode") or "").strip()
            if not code:
                raise InvalidInput("districts: feature without an 'adcode' property",
                                   field="adcode", row=i)
            adcodes.append(code)
            names.append(str(props.get("name") or code))
            names_en.append(str(props.get("name_en") or ""))
            geoms.append(shapely.geometry.shape(f["geometry"]) if f.get("geometry") else None)
        src = str((feats[0].get("properties") or {}).get("source") or "")
        return cls(tuple(adcodes), tuple(names), tuple(names_en),
                   valid_polygons(geoms, what="districts", repair=repair), src)

    def label(self, adcode: str) -> tuple[str, str]:
        """``(name, name_en)`` of a district code; ``("", "")`` for an unknown code."""
        try:
            i = self.adcode.index(adcode)
        except ValueError:
            return "", ""
        return self.name[i], self.name_en[i]

    def area_m2(self) -> np.ndarray:
        """Geodesic area of each district (m²)."""
        return areas_m2(self.geometry)

    def assign(self, lon: Any, lat: Any) -> np.ndarray:
        """District code of each point (object array of str; ``""`` outside all).

        Points on a shared boundary go to the first district in order.
        """
        x = np.asarray(lon, dtype=np.float64).reshape(-1)
        y = np.asarray(lat, dtype=np.float64).reshape(-1)
        out = np.full(x.size, "", dtype=object)
        todo = np.ones(x.size, dtype=bool)
        for code, g in zip(self.adcode, self.geometry, strict=True):
            gx0, gy0, gx1, gy1 = g.bounds
            cand = np.flatnonzero(todo & (x >= gx0) & (x <= gx1) & (y >= gy0) & (y <= gy1))
            if cand.size == 0:
                continue
            hit = cand[shapely.intersects_xy(g, x[cand], y[cand])]
            out[hit] = code
            todo[hit] = False
        return out

    def union(self) -> shapely.Geometry:
        return shapely.union_all(self.geometry)


# --------------------------------------------------------------------------- demand


@dataclass(frozen=True, eq=False)
class Demand:
    """Demand units as arrays; build one with the functions of this module or :mod:`.io`.

    Attributes
    ----------
    ids
        Unique unit ids (object array of str).
    lon, lat
        Representative point of each unit, WGS-84 degrees.
    weight
        What covering a unit is worth (workers, population, m²); finite, >= 0, with
        a positive total.
    area_m2
        Area of each unit, or ``None`` for plain points (then area shares are not
        reported).
    district
        District adcode of each unit (``""`` where unknown or outside). The default,
        ``None``, leaves every unit's district unknown; the attribute is always an array.
    geometry
        Polygon of each unit (WGS-84), or ``None``. Gaps are unions of adjacent
        uncovered polygons when present, point clusters otherwise.
    kind
        ``points``, ``polygons``, ``grid``, ``h3`` or ``raster``.
    cell_m
        Cell size in metres for grids and rasters (used to draw gaps of point data).
    weight_name
        What the weight counts, for reports (``workers``, ``population``, ``area_m2``...).
    source
        Provenance; ``"illustrative"`` marks synthetic data.
    """

    ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    weight: np.ndarray
    area_m2: np.ndarray | None = None
    district: np.ndarray = cast(np.ndarray, None)  # see the docstring: never None once built
    geometry: np.ndarray | None = None
    kind: str = "points"
    cell_m: float | None = None
    weight_name: str = "weight"
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        lon = np.ascontiguousarray(self.lon, dtype=np.float64).reshape(-1)
        lat = np.ascontiguousarray(self.lat, dtype=np.float64).reshape(-1)
        n = lon.size
        if n == 0:
            raise InvalidInput("demand: no units; the demand layer is empty", field="demand")
        if self.kind not in _KINDS:
            raise InvalidInput(f"kind: {self.kind!r} is not a demand kind; allowed: "
                               f"{', '.join(_KINDS)}", field="kind")
        ids = np.asarray(self.ids, dtype=object).reshape(-1)
        for name, arr in (("ids", ids), ("lat", lat)):
            if arr.size != n:
                raise InvalidInput(f"demand: {name} has {arr.size} entries but lon has {n}; "
                                   "all columns must be equally long", field=name)
        ids = np.array([str(v) for v in ids], dtype=object)
        if len(set(ids.tolist())) != n:
            u, c = np.unique(ids.astype(str), return_counts=True)
            raise InvalidInput(f"id: duplicate demand id(s) {', '.join(u[c > 1][:10])}; ids "
                               "must be unique", field="id")
        with np.errstate(invalid="ignore"):
            bad = ~((np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            hint = (" The data look projected (metres); convert them to WGS-84 first."
                    if abs(lon[i]) > 1000 or abs(lat[i]) > 1000 else "")
            raise InvalidInput(f"lon/lat: ({float(lon[i])!r}, {float(lat[i])!r}) of unit "
                               f"{ids[i]!r} is not WGS-84 degrees; allowed lon -180..180, "
                               f"lat -90..90.{hint}",
                               field="lon", row=i + 1)
        w = _column(self.weight, n, "weight")
        if (w < 0).any():
            i = int(np.flatnonzero(w < 0)[0])
            raise InvalidInput(f"weight: {float(w[i])!r} of unit {ids[i]!r} is negative; weights "
                               "must be >= 0", field="weight", row=i + 1)
        if not w.sum() > 0:
            raise InvalidInput("weight: every weight is zero; at least one unit needs a "
                               "positive weight", field="weight")
        area = None
        if self.area_m2 is not None:
            area = _column(self.area_m2, n, "area_m2")
            if (area < 0).any():
                raise InvalidInput("area_m2: areas must be >= 0", field="area_m2")
        dist = (np.full(n, "", dtype=object) if self.district is None
                else np.array(["" if v is None else str(v) for v in
                               np.asarray(self.district, dtype=object).reshape(-1)],
                              dtype=object))
        if dist.size != n:
            raise InvalidInput(f"demand: district has {dist.size} entries but lon has {n}",
                               field="district")
        geom = None
        if self.geometry is not None:
            geom = np.asarray(self.geometry, dtype=object).reshape(-1)
            if geom.size != n:
                raise InvalidInput(f"demand: geometry has {geom.size} entries but lon has {n}",
                                   field="geometry")
        if self.cell_m is not None and not (np.isfinite(self.cell_m) and self.cell_m > 0):
            raise InvalidInput(f"cell_m: {self.cell_m!r} must be a positive number of metres",
                               field="cell_m")
        for name, value in (("ids", ids), ("lon", lon), ("lat", lat), ("weight", w),
                            ("area_m2", area), ("district", dist), ("geometry", geom)):
            set_(self, name, value)

    def __len__(self) -> int:
        return int(self.lon.size)

    @property
    def total_weight(self) -> float:
        return float(self.weight.sum())

    @property
    def is_illustrative(self) -> bool:
        return self.source == ILLUSTRATIVE_SOURCE

    def subset(self, mask: Any) -> Demand:
        """The units selected by a boolean mask or an index array."""
        sel = np.asarray(mask)
        return Demand(
            self.ids[sel], self.lon[sel], self.lat[sel], self.weight[sel],
            None if self.area_m2 is None else self.area_m2[sel], self.district[sel],
            None if self.geometry is None else self.geometry[sel], self.kind, self.cell_m,
            self.weight_name, self.source, dict(self.meta))

    def with_districts(self, districts: Districts) -> Demand:
        """A copy whose ``district`` is assigned by point in polygon."""
        return Demand(self.ids, self.lon, self.lat, self.weight, self.area_m2,
                      districts.assign(self.lon, self.lat), self.geometry, self.kind,
                      self.cell_m, self.weight_name, self.source, dict(self.meta))


def _column(values: Any, n: int, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: not all values are numbers", field=name) from None
    if arr.size != n:
        raise InvalidInput(f"demand: {name} has {arr.size} entries but there are {n} units",
                           field=name)
    if not np.isfinite(arr).all():
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise InvalidInput(f"{name}: {float(arr[i])!r} is not a finite number", field=name,
                           row=i + 1)
    return arr


def _ids(ids: Sequence[Any] | None, n: int) -> np.ndarray:
    if ids is None:
        return np.array([str(i) for i in range(n)], dtype=object)
    return np.asarray(ids, dtype=object)


def demand_from_points(lon: Any, lat: Any, weight: Any, *, ids: Sequence[Any] | None = None,
                       districts: Districts | None = None, district: Any = None,
                       weight_name: str = "weight", source: str = "",
                       cell_m: float | None = None, area_m2: Any = None) -> Demand:
    """Point demand. Districts are assigned by point in polygon when ``districts`` is
    given, else taken from ``district`` (codes) if given."""
    lon = np.asarray(lon, dtype=np.float64)
    dem = Demand(_ids(ids, lon.size), lon, lat, weight, area_m2=area_m2, district=district,
                 kind="points", cell_m=cell_m, weight_name=weight_name, source=source)
    return dem.with_districts(districts) if districts is not None else dem


def demand_from_polygons(polygons: Any, weight: Any | None = None, *,
                         ids: Sequence[Any] | None = None, districts: Districts | None = None,
                         weight_name: str | None = None, source: str = "",
                         repair: bool = True) -> Demand:
    """Polygon demand: representative points inside each polygon, areas kept.

    ``weight=None`` weights each polygon by its area (m²).
    """
    geoms = valid_polygons(polygons, what="demand polygons", repair=repair)
    area = areas_m2(geoms)
    pts = shapely.point_on_surface(geoms)
    if weight is None:
        weight, weight_name = area, "area_m2"
    dem = Demand(_ids(ids, geoms.size), shapely.get_x(pts), shapely.get_y(pts), weight,
                 area_m2=area, geometry=geoms, kind="polygons",
                 weight_name=weight_name or "weight", source=source)
    return dem.with_districts(districts) if districts is not None else dem

"""Which district a station is in: point in polygon against district boundaries.

The staff form fills in a station's district from its position, and bulk import does the
same for every row, so there is one scalar and one vectorised lookup. Boundaries and
points are WGS-84 lon/lat. A point on a border shared by two districts (or in an
overlap of imprecise boundaries) gets the district with the lowest adcode, so the answer
never depends on the order the boundaries were given in.

A :class:`DistrictLookup` is immutable once built and safe to share between threads;
:meth:`DistrictLookup.shipped` builds the one for the shipped Xuzhou boundaries once.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from ..errors import InvalidInput

if TYPE_CHECKING:
    from ..coverage.demand import Districts

__all__ = ["District", "DistrictLookup"]


@dataclass(frozen=True, slots=True)
class District:
    """One district: its 6-digit administrative code and its names."""

    adcode: str
    name: str
    name_en: str = ""

    def label(self, lang: str = "zh") -> str:
        """The name in ``lang`` (the Chinese name when there is no English one)."""
        return self.name_en if lang.startswith("en") and self.name_en else self.name


class DistrictLookup:
    """Point-in-polygon lookup of districts.

    Parameters
    ----------
    districts
        The boundaries, as any of: an iterable of ``(adcode, name, name_en, polygon)``
        (shapely Polygon or MultiPolygon in WGS-84); a
        :class:`~locator.coverage.demand.Districts` such as
        :func:`locator.coverage.load_xuzhou_districts` returns; or a GeoDataFrame with
        columns ``adcode``, ``name``, optionally ``name_en``, and a WGS-84 geometry.
        Invalid polygons are repaired (with a warning); adcodes must be unique.
    """

    def __init__(self, districts: Iterable[tuple[str, str, str, Any]] | Districts | Any):
        rows = _rows(districts)
        if not rows:
            raise InvalidInput("districts: none given; at least one district is required",
                               field="districts")
        rows.sort(key=lambda row: row[0])
        codes = [row[0] for row in rows]
        if len(set(codes)) != len(codes):
            dup = sorted({c for c in codes if codes.count(c) > 1})
            raise InvalidInput(f"districts: duplicate adcode(s) {', '.join(dup)}; each district "
                               "needs its own code", field="adcode")
        from ..coverage.demand import valid_polygons  # shared checks; coverage imports us not

        geoms = valid_polygons([row[3] for row in rows], what="districts")
        shapely.prepare(geoms)
        self._districts = tuple(District(code, name, name_en) for code, name, name_en, _ in rows)
        self._geoms = geoms
        self._bounds = shapely.bounds(geoms)  # (n, 4): xmin, ymin, xmax, ymax

    @classmethod
    def shipped(cls) -> DistrictLookup:
        """The lookup over the shipped Xuzhou district boundaries (built once, then cached)."""
        return _shipped()

    @property
    def districts(self) -> tuple[District, ...]:
        """The districts, ordered by adcode."""
        return self._districts

    def __len__(self) -> int:
        return len(self._districts)

    def __repr__(self) -> str:
        return f"DistrictLookup({len(self)} districts)"

    def lookup(self, lon: float, lat: float) -> District | None:
        """The district containing a WGS-84 point (its border included), or None.

        Raises
        ------
        InvalidInput
            If ``lon`` or ``lat`` is not a number. NaN and points outside every
            district give None.
        """
        x, y = _coordinate(lon, "lon"), _coordinate(lat, "lat")
        for district, geom, (x0, y0, x1, y1) in zip(self._districts, self._geoms, self._bounds,
                                                    strict=True):
            if x0 <= x <= x1 and y0 <= y <= y1 and shapely.intersects_xy(geom, x, y):
                return district
        return None

    def lookup_many(self, lons: Any, lats: Any) -> list[District | None]:
        """Vectorised :meth:`lookup` over equally long sequences of WGS-84 coordinates.

        Each district tests only the points inside its bounding box that no district
        with a lower adcode has claimed, with a prepared polygon (well under 0.1 s
        for 100,000 points over the ten Xuzhou districts).
        """
        found = self.indices(lons, lats)
        table: list[District | None] = [*self._districts, None]
        return [table[i] for i in found.tolist()]

    def indices(self, lons: Any, lats: Any) -> np.ndarray:
        """Like :meth:`lookup_many`, as positions in :attr:`districts` (-1 for none)."""
        x, y = _coordinates(lons, lats)
        found = np.full(x.size, -1, dtype=np.intp)
        todo = np.isfinite(x) & np.isfinite(y)
        for i, (geom, (x0, y0, x1, y1)) in enumerate(zip(self._geoms, self._bounds, strict=True)):
            cand = np.flatnonzero(todo & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
            if cand.size:
                hit = cand[shapely.intersects_xy(geom, x[cand], y[cand])]
                found[hit] = i
                todo[hit] = False
        return found


@functools.cache
def _shipped() -> DistrictLookup:
    from ..coverage.io import load_xuzhou_districts

    return DistrictLookup(load_xuzhou_districts())


def _rows(source: Any) -> list[tuple[str, str, str, Any]]:
    """``(adcode, name, name_en, geometry)`` rows from any of the accepted inputs."""
    if all(hasattr(source, a) for a in ("adcode", "name", "name_en", "geometry")) and \
            not hasattr(source, "columns"):  # coverage.demand.Districts
        return [(_adcode(c, i), str(n), str(e), g) for i, (c, n, e, g) in
                enumerate(zip(source.adcode, source.name, source.name_en, source.geometry,
                              strict=True),
                          start=1)]
    if hasattr(source, "columns") and hasattr(source, "geometry"):  # a GeoDataFrame
        crs = getattr(source, "crs", None)
        if crs is not None and crs.to_epsg() != 4326:
            raise InvalidInput(f"districts: the GeoDataFrame's CRS is {crs.to_string()}; "
                               "district boundaries must be WGS-84 (EPSG:4326): convert with "
                               "gdf.to_crs(4326)", field="crs")
        missing = [c for c in ("adcode", "name") if c not in source.columns]
        if missing:
            raise InvalidInput(f"districts: the GeoDataFrame has no column(s) "
                               f"{', '.join(missing)}; required: adcode, name (name_en "
                               "optional)", field=missing[0])
        names_en = source["name_en"] if "name_en" in source.columns else [""] * len(source)
        return [(_adcode(c, i), str(n), "" if e is None else str(e), g) for i, (c, n, e, g)
                in enumerate(zip(source["adcode"], source["name"], names_en, source.geometry,
                                 strict=True),
                             start=1)]
    rows = []
    for i, row in enumerate(source, start=1):
        try:
            code, name, name_en, geom = row
        except (TypeError, ValueError):
            raise InvalidInput(f"districts: item {i} is {row!r}; each district must be an "
                               "(adcode, name, name_en, polygon) tuple", field="districts",
                               row=i) from None
        rows.append((_adcode(code, i), str(name), "" if name_en is None else str(name_en), geom))
    return rows


def _adcode(value: Any, row: int) -> str:
    code = str(value).strip()
    if code.endswith(".0"):  # spreadsheets and float columns
        code = code[:-2]
    if not (len(code) == 6 and code.isdigit()):
        raise InvalidInput(f"districts: adcode {value!r} is not a 6-digit administrative code "
                           "(e.g. 320303)", field="adcode", row=row)
    return code


def _coordinate(value: Any, name: str) -> float:
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError("a flag is not a coordinate")
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: {value!r} is not a number (WGS-84 degrees)",
                           field=name) from None


def _coordinates(lons: Any, lats: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        x = np.asarray(lons, dtype=np.float64).reshape(-1)
        y = np.asarray(lats, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InvalidInput("lons, lats: expected sequences of numbers (WGS-84 degrees)",
                           field="lon") from None
    if x.shape != y.shape:
        raise InvalidInput(f"lons, lats: got {x.size} longitudes and {y.size} latitudes; they "
                           "must be equally long", field="lat")
    return x, y

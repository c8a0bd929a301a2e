"""Covered areas, gaps and suggested sites as GeoJSON, CSV and Excel (XLSX), for the
CLI's files and the planner's downloads (GeoPackage, which needs geopandas, is written
by the CLI).

Every export carries its caveats with it: ``notice`` (figures computed on illustrative
demand or sample stations) and ``attribution`` (data derived from OpenStreetMap roads)
go into the GeoJSON's top level and into a column of every CSV row, so that a copied
file never loses them. Coordinates are WGS-84 (EPSG:4326); CSV is UTF-8 with a BOM,
which Excel and WPS open as UTF-8.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .. import config
from .gaps import GapReport

__all__ = ["covered_area_geojson", "csv_text", "gaps_csv", "gaps_geojson", "gaps_table",
           "sites_csv", "sites_geojson", "sites_table", "xlsx_bytes"]

#: Attribution of everything derived from OpenStreetMap roads.
OSM_ATTRIBUTION = config.OSM_NOTICE


def _caveats(notice: str | None, attribution: str | None) -> dict[str, str]:
    out = {}
    if notice:
        out["notice"] = notice
    if attribution:
        out["attribution"] = attribution
    return out


def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A table as the house's CSV: UTF-8 with a BOM, CRLF line ends, and text that a
    spreadsheet would run as a formula kept as text
    (:func:`~locator.store.exporting.neutralise_cell`)."""
    from ..store.exporting import neutralise_cell

    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows([neutralise_cell(v) if isinstance(v, str) else v for v in r] for r in rows)
    return buf.getvalue()


def _cell(v: Any) -> Any:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return v


def gaps_geojson(gaps: GapReport, *, notice: str | None = None,
                 attribution: str | None = None) -> dict[str, Any]:
    """The gap polygons as a FeatureCollection, largest uncovered demand first."""
    fc = gaps.to_geojson()
    fc["properties"] = {"minutes": gaps.minutes,
                        "uncovered_demand": gaps.to_dict(geometry=False)["uncovered_demand"],
                        **_caveats(notice, attribution)}
    fc.update(_caveats(notice, attribution))
    return fc


def gaps_table(gaps: GapReport, *, notice: str | None = None,
               attribution: str | None = None) -> tuple[list[str], list[list[Any]]]:
    """The gaps as a header and rows (for CSV and XLSX): rank, uncovered demand, area,
    representative point, district codes and names, and the nearest counted station
    by id and name."""
    header = ["rank", "demand", "area_km2", "units", "lon", "lat", "districts",
              "district_names", "nearest_station_id", "nearest_station_name",
              "nearest_station_m", "nearest_station_minutes", "notice", "attribution"]
    rows = []
    for g in gaps.gaps:
        d = g.to_dict(geometry=False)
        rows.append([d["rank"], _cell(d["demand"]), _cell(d["area_km2"]), d["units"],
                     d["rep_point"][0], d["rep_point"][1], ";".join(d["districts"]),
                     ";".join(d["district_names"]), _cell(d["nearest_station_id"]),
                     _cell(d["nearest_station_name"]), _cell(d["nearest_station_m"]),
                     _cell(d["nearest_station_minutes"]), notice or "", attribution or ""])
    return header, rows


def gaps_csv(gaps: GapReport, *, notice: str | None = None,
             attribution: str | None = None) -> str:
    """:func:`gaps_table` as CSV."""
    return csv_text(*gaps_table(gaps, notice=notice, attribution=attribution))


def sites_geojson(sites: Sequence[Mapping[str, Any]], *, notice: str | None = None,
                  attribution: str | None = None) -> dict[str, Any]:
    """Suggested sites (``id``, ``lon``, ``lat``, optional ``gain`` and the
    :class:`~.naming.PlaceName` fields) as points, in the order chosen."""
    feats = []
    for rank, s in enumerate(sites, start=1):
        props = {"rank": rank, "id": s["id"]}
        for key in ("gain", *_SITE_NAME_FIELDS):
            if s.get(key) is not None:
                props[key] = s[key]
        feats.append({"type": "Feature", "id": s["id"], "properties": props,
                      "geometry": ({"type": "Point", "coordinates": [s["lon"], s["lat"]]}
                                   if s.get("lon") is not None else None)})
    return {"type": "FeatureCollection", "features": feats, **_caveats(notice, attribution)}


#: The naming fields a suggested site carries (see :class:`.naming.PlaceName`).
_SITE_NAME_FIELDS = ("name", "district_adcode", "district_name", "nearest_station_id",
                     "nearest_station_name", "nearest_station_m")


def sites_table(sites: Sequence[Mapping[str, Any]], *, notice: str | None = None,
                attribution: str | None = None) -> tuple[list[str], list[list[Any]]]:
    """The suggested sites as a header and rows (for CSV and XLSX), in the order
    chosen: rank, id, name, district code and name, nearest station, position, the
    demand each adds."""
    header = ["rank", "id", *_SITE_NAME_FIELDS, "lon", "lat", "gain", "notice",
              "attribution"]
    rows = [[rank, s["id"], *(_cell(s.get(k)) for k in _SITE_NAME_FIELDS),
             _cell(s.get("lon")), _cell(s.get("lat")), _cell(s.get("gain")),
             notice or "", attribution or ""] for rank, s in enumerate(sites, start=1)]
    return header, rows


def sites_csv(sites: Sequence[Mapping[str, Any]], *, notice: str | None = None,
              attribution: str | None = None) -> str:
    """:func:`sites_table` as CSV."""
    return csv_text(*sites_table(sites, notice=notice, attribution=attribution))


def xlsx_bytes(sheets: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]], *,
               notice: str | None = None, attribution: str | None = None) -> bytes:
    """An Excel workbook of ``(sheet title, header, rows)`` sheets; the caveats
    (``notice``, ``attribution``) stay in the rows' own columns and are also written
    above the header of every sheet, so a printed or filtered sheet keeps them. Text
    starting with "=" is stored as text, never as a formula."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for title, header, rows in sheets:
        ws = wb.create_sheet(title[:31])
        above = [line for line in (notice, attribution) if line]
        for line in above:
            ws.append([line])
        ws.append(list(header))
        ws.freeze_panes = f"A{len(above) + 2}"
        for r in rows:
            # openpyxl stores a string starting with "=" as a formula; a text cell is
            # written as a cell of type "s" (its max_row costs O(cells): not used here)
            ws.append([_text_cell(ws, v) if isinstance(v, str) and v.startswith("=") else v
                       for v in r])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _text_cell(ws: Any, value: str) -> Any:
    from openpyxl.cell.cell import Cell

    cell = Cell(ws, value=value)
    cell.data_type = "s"  # text, never a formula
    return cell


def covered_area_geojson(engine: Any, lon: Any, lat: Any, minutes: float, *,
                         geometry: Any = None, notice: str | None = None) -> dict[str, Any]:
    """The area the stations at ``lon``/``lat`` serve within ``minutes``, as one feature:
    the union of their road-network isochrones (an engine with ``covered_area``, which
    adds the OpenStreetMap attribution), or of the straight-line engine's reach circles.
    ``geometry`` passes an area computed already. The feature carries its geodesic area
    (WGS-84 ellipsoid) in km²."""
    import numpy as np
    import shapely
    import shapely.geometry
    from pyproj import Geod

    from .isochrones import reach_circles
    from .straight import check_minutes

    m = check_minutes(minutes)
    x = np.asarray(lon, dtype=np.float64).reshape(-1)
    y = np.asarray(lat, dtype=np.float64).reshape(-1)
    network = hasattr(engine, "covered_area")
    if geometry is None:
        if network:
            geometry = engine.covered_area(x, y, m)
        elif x.size:
            geometry = shapely.union_all(reach_circles(x, y, engine.radius_m(m)))
        else:
            geometry = shapely.Polygon()
    area = (abs(Geod(ellps="WGS84").geometry_area_perimeter(geometry)[0])
            if not geometry.is_empty else 0.0)
    caveats = _caveats(notice, OSM_ATTRIBUTION if network else None)
    props = {"minutes": m, "mode": engine.mode, "engine": engine.name,
             "kind": "isochrones" if network else "circles", "stations": int(x.size),
             "area_km2": round(area / 1e6, 4), **caveats}
    return {"type": "FeatureCollection", **caveats, "features": [
        {"type": "Feature", "properties": props,
         "geometry": shapely.geometry.mapping(shapely.set_precision(geometry, 1e-7))}]}

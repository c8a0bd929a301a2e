"""Writing station files: CSV (UTF-8 with BOM), XLSX, GeoJSON and GeoPackage, in WGS-84,
GCJ-02 or BD-09, each with its source and attribution.

* Every file says where its records come from: a ``notice`` column (CSV, XLSX,
  GeoPackage) or member (GeoJSON) per record, naming the record's source and
  marking sample data (:data:`SAMPLE_NOTICE`); XLSX adds an "about" sheet,
  GeoJSON an ``attribution`` member.
* Text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``,
  ``-``, ``@``, tab or CR) are written with a leading ``'`` in CSV; the import
  strips it again, so an export imports back unchanged. Numbers (lon, lat,
  version) are never touched. XLSX cells are typed as text, never formulas.
* GCJ-02 and BD-09 have no EPSG code. GeoJSON is WGS-84 by definition, so a
  non-WGS-84 export says so in a ``coordinate_system`` member. A GeoPackage's
  geometry always stays WGS-84 (EPSG:4326, what GIS tools can place); the
  ``lon``/``lat`` columns carry the coordinates in the requested CRS and the
  ``coordinate_system`` column names it. CSV and XLSX have a ``coordinate_system``
  column too (``wgs84``, ``gcj02`` or ``bd09``), which the import checks against the
  CRS it is given.
* Files are written through a temporary sibling and renamed, so a full disk
  leaves no half-written file; errors are :class:`FileAccessError` naming the path.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..stations.coords import from_wgs84, parse_crs
from ..stations.model import FIELDS, Station
from ..stations.vocab import SOURCES
from .fileio import FileAccessError, FileError, write_atomic

SAMPLE_NOTICE = "示例数据，非真实站点 / Sample data: illustrative, not real stations"
GENERATOR = "Station Locator · 工会户外劳动者服务站点查询"
EXPORT_FORMATS = (".csv", ".xlsx", ".geojson", ".json", ".gpkg")
#: Columns after the station fields in CSV, XLSX and GeoPackage exports.
EXTRA_COLUMNS = ("coordinate_system", "notice")
#: Fields that hold numbers; they are written as they are, never neutralised.
NUMERIC_FIELDS = frozenset({"lon", "lat", "version"})
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CRS_NOTE = {
    "wgs84": "WGS-84 (EPSG:4326)",
    "gcj02": "GCJ-02 (Amap/Tencent; no EPSG code)",
    "bd09": "BD-09 (Baidu; no EPSG code)",
}


def neutralise_cell(value: str) -> str:
    """A text cell that no spreadsheet runs as a formula: ``'`` before a leading
    ``=``, ``+``, ``-``, ``@``, tab or CR (OWASP's advice for CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def record_notice(s: Station) -> str:
    """The per-record source and attribution text."""
    if s.is_sample:
        return SAMPLE_NOTICE
    t = SOURCES[s.source] if s.source in SOURCES else None
    if t is None:
        return f"来源：{s.source} / Source: {s.source}"
    return f"来源：{t.zh} / Source: {t.en}"


def _rows_in(stations: Iterable[Station], crs: str, *, neutralise: bool) -> list[list[Any]]:
    out = []
    for s in stations:
        row = s.to_row()
        if crs != "wgs84":
            lon, lat = from_wgs84(s.lon, s.lat, crs)
            row["lon"], row["lat"] = f"{lon:.7f}", f"{lat:.7f}"
        cells: list[Any] = []
        for k in FIELDS:
            v = row[k]
            if k not in NUMERIC_FIELDS and neutralise:
                v = neutralise_cell(v)
            cells.append(v)
        cells += [crs, record_notice(s)]
        out.append(cells)
    return out


def attribution(stations: Sequence[Station], crs: str) -> dict[str, Any]:
    """What an export says about itself: generator, time, CRS, sources, notice."""
    counts: dict[str, int] = {}
    for s in stations:
        counts[s.source] = counts.get(s.source, 0) + 1
    doc: dict[str, Any] = {
        "generator": GENERATOR,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "coordinate_system": crs, "coordinate_system_note": _CRS_NOTE[crs],
        "sources": {k: {"count": n, "zh": SOURCES[k].zh if k in SOURCES else k,
                        "en": SOURCES[k].en if k in SOURCES else k}
                    for k, n in sorted(counts.items())},
    }
    if counts.get("sample"):
        doc["notice"] = SAMPLE_NOTICE
    return doc


def check_export_path(path: str | os.PathLike) -> Path:
    """Refuse an unsupported extension or a path whose folder does not exist, before any
    work is done (:class:`FileError`, :class:`FileAccessError`)."""
    p = Path(path)
    if p.suffix.lower() not in EXPORT_FORMATS:
        raise FileError(
            f"unsupported export format {p.suffix.lower()!r}; use .csv, .xlsx, .geojson or "
            ".gpkg", f"不支持的导出格式“{p.suffix.lower()}”；请使用 .csv、.xlsx、.geojson 或 .gpkg")
    if not p.parent.is_dir():
        raise FileAccessError("write", p, "No such file or directory")
    if p.is_dir():
        raise FileAccessError("write", p, "Is a directory")
    return p


def export_stations(stations: Sequence[Station], path: str | os.PathLike, *,
                    crs: str = "wgs84") -> int:
    """Write stations to ``path``; the format follows the extension (.csv, .xlsx,
    .geojson, .gpkg). Returns the count.

    Raises
    ------
    FileError
        For an unsupported extension.
    FileAccessError
        When the path cannot be written (``cannot write PATH: reason``).
    """
    p = check_export_path(path)
    crs = parse_crs(crs)
    suffix = p.suffix.lower()
    stations = list(stations)
    if suffix == ".csv":
        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        w.writerow([*FIELDS, *EXTRA_COLUMNS])
        w.writerows(_rows_in(stations, crs, neutralise=True))
        write_atomic(p, buf.getvalue().encode("utf-8-sig"))  # BOM: Excel reads it right
    elif suffix in (".geojson", ".json"):
        text = json.dumps(stations_geojson(stations, crs=crs, attribute=True),
                          ensure_ascii=False)
        write_atomic(p, text.encode("utf-8"))
    elif suffix == ".xlsx":
        write_atomic(p, writer=lambda tmp: _write_xlsx(stations, tmp, crs))
    else:  # .gpkg
        write_atomic(p, writer=lambda tmp: _write_gpkg(stations, tmp, crs))
    return len(stations)


def _write_xlsx(stations: Sequence[Station], path: Path, crs: str) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("stations")
    ws.append([*FIELDS, *EXTRA_COLUMNS])
    from openpyxl.cell import WriteOnlyCell

    for cells in _rows_in(stations, crs, neutralise=False):
        row = []
        for k, v in zip((*FIELDS, *EXTRA_COLUMNS), cells, strict=True):
            if k in NUMERIC_FIELDS and v != "":
                row.append(float(v) if k != "version" else int(v))
                continue
            c = WriteOnlyCell(ws, value=v)
            c.data_type = "s"  # text, even when it starts with "=": never a formula
            row.append(c)
        ws.append(row)
    about = wb.create_sheet("about")
    info = attribution(stations, crs)
    about.append(["key", "value"])
    for k, v in info.items():
        about.append([k, json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else str(v)])
    wb.save(path)


def _write_gpkg(stations: Sequence[Station], path: Path, crs: str) -> None:
    import geopandas as gpd
    from shapely import points

    rows = _rows_in(stations, crs, neutralise=False)
    cols = [*FIELDS, *EXTRA_COLUMNS]
    records = [dict(zip(cols, r, strict=True)) for r in rows]
    for rec in records:
        rec["lon"], rec["lat"] = float(rec["lon"]), float(rec["lat"])
        rec["version"] = int(rec["version"] or 0)
    geom = points([s.lon for s in stations], [s.lat for s in stations]) if stations else []
    gdf = gpd.GeoDataFrame(records, columns=cols, geometry=geom, crs="EPSG:4326")
    if not len(gdf):
        gdf = gdf.astype({"lon": "float64", "lat": "float64", "version": "int64"})
    info = attribution(stations, crs)
    gdf.to_file(path, driver="GPKG", layer="stations", engine="pyogrio",
                layer_metadata={k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict)
                                else str(v) for k, v in info.items()})


def stations_geojson(stations: Iterable[Station], *, crs: str = "wgs84",
                     attribute: bool = False) -> dict[str, Any]:
    """A FeatureCollection of stations in ``crs`` (a non-standard ``coordinate_system``
    member when it is not WGS-84), with ``notice`` when any station is sample data
    and, with ``attribute``, an ``attribution`` member (:func:`attribution`)."""
    crs = parse_crs(crs)
    stations = list(stations)
    feats = []
    any_sample = False
    for s in stations:
        props = s.to_dict()
        lon, lat = props.pop("lon"), props.pop("lat")
        if crs != "wgs84":
            lon, lat = from_wgs84(lon, lat, crs)
        any_sample |= s.is_sample
        feats.append({"type": "Feature", "id": s.id,
                      "geometry": {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]},
                      "properties": props})
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": feats}
    if crs != "wgs84":
        doc["coordinate_system"] = crs  # non-standard: GeoJSON is WGS-84 by definition
    if any_sample:
        doc["notice"] = SAMPLE_NOTICE
    if attribute:
        doc["attribution"] = attribution(stations, crs)
    return doc

"""Reading and writing station files: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030),
XLSX and GeoJSON in; CSV, GeoJSON and GeoPackage out.

Spreadsheets exported from Chinese tools use Chinese headers; :data:`HEADER_ALIASES`
maps the common ones to the canonical field names.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ImportFailed, InvalidInput
from ..stations.coords import from_wgs84, parse_crs
from ..stations.model import EDITABLE_FIELDS, FIELDS, Station, station_from_dict

MAX_IMPORT_BYTES = 200 * 1024 * 1024

#: Header spellings accepted on import, mapped to canonical field names.
HEADER_ALIASES: dict[str, str] = {
    **{f: f for f in EDITABLE_FIELDS},
    "编号": "id", "站点编号": "id", "站点id": "id", "站点代码": "id", "code": "id",
    "名称": "name", "站点名称": "name", "驿站名称": "name", "站名": "name",
    "类型": "type", "站点类型": "type", "类别": "type",
    "经度": "lon", "lng": "lon", "longitude": "lon", "x": "lon",
    "纬度": "lat", "latitude": "lat", "y": "lat",
    "地址": "address", "详细地址": "address", "站点地址": "address",
    "区县代码": "district_adcode", "行政区划代码": "district_adcode", "adcode": "district_adcode",
    "区县": "district_name", "所属区县": "district_name", "所属区域": "district_name",
    "district": "district_name",
    "运营单位": "operator", "共建单位": "operator", "依托单位": "operator",
    "建设单位": "operator",
    "设施": "amenities", "服务设施": "amenities", "配套设施": "amenities",
    "服务功能": "amenities",
    "开放时间": "opening_hours", "营业时间": "opening_hours", "hours": "opening_hours",
    "开放对象": "access", "准入方式": "access",
    "电话": "phone", "联系电话": "phone", "tel": "phone",
    "状态": "status", "运营状态": "status",
    "核验日期": "verified_date", "核实日期": "verified_date", "更新日期": "verified_date",
    "来源": "source", "数据来源": "source",
}
#: Columns that carry no station data and are dropped (row numbers, remarks).
IGNORED_HEADERS = {"序号", "no", "no.", "#", "备注", "remark", "remarks", "fid", "objectid"}


def _norm_header(h: Any) -> str:
    return "".join(str(h if h is not None else "").split()).lower().lstrip("\ufeff")


_ALIASES_NORM = {_norm_header(k): v for k, v in HEADER_ALIASES.items()}


@dataclass
class RawTable:
    """Rows from a file, keyed by canonical field name, with their 1-based row numbers."""

    rows: list[tuple[int, dict[str, Any]]]
    encoding: str | None = None
    ignored_columns: list[str] = field(default_factory=list)


def map_headers(headers: list[Any], *, ignore_unknown: bool = False
                ) -> tuple[list[str | None], list[str]]:
    mapped: list[str | None] = []
    unknown: list[str] = []
    ignored: list[str] = []
    used: dict[str, str] = {}
    for h in headers:
        key = _norm_header(h)
        if not key or key in IGNORED_HEADERS:
            mapped.append(None)
            if key:
                ignored.append(str(h))
            continue
        canon = _ALIASES_NORM.get(key)
        if canon is None:
            if ignore_unknown:
                mapped.append(None)
                ignored.append(str(h))
                continue
            unknown.append(str(h))
            mapped.append(None)
            continue
        if canon in used:
            raise InvalidInput(f"columns {used[canon]!r} and {h!r} both mean {canon!r}; "
                               "keep only one", field=canon)
        used[canon] = str(h)
        mapped.append(canon)
    if unknown:
        raise InvalidInput(
            f"unknown column(s) {', '.join(map(repr, unknown))}; accepted headers are the "
            f"field names ({', '.join(EDITABLE_FIELDS)}) or their Chinese names (名称, 类型, "
            "经度, 纬度, 地址, 开放时间, 设施 ...); use --ignore-unknown-columns to drop them",
            field="columns")
    for req in ("name", "type", "lon", "lat"):
        if req not in used:
            raise InvalidInput(f"required column {req!r} is missing (found: "
                               f"{', '.join(map(str, headers))})", field=req)
    return mapped, ignored


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode CSV bytes as UTF-8 (with or without BOM) or GB18030 (a superset of GBK)."""
    if not data.strip():
        raise InvalidInput("the file is empty", field="file")
    if b"\x00" in data[:4096]:
        raise InvalidInput("the file is binary, not CSV text (UTF-8 or GBK); "
                           "save the spreadsheet as CSV or .xlsx", field="file")
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as e:
            raise InvalidInput(f"the file starts with a UTF-8 BOM but is not valid UTF-8 "
                               f"(byte {e.start})", field="file") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as e:
        raise InvalidInput(f"cannot decode the file (byte {e.start}): it is neither UTF-8 nor "
                           "GBK/GB18030; re-save it as UTF-8 CSV", field="file") from None


def _read_csv(data: bytes, ignore_unknown: bool) -> RawTable:
    text, enc = decode_text(data)
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        rows = list(reader)
    except csv.Error as e:
        raise InvalidInput(f"malformed CSV: {e}", field="file") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise InvalidInput("the file is empty", field="file")
    mapped, ignored = map_headers(rows[0], ignore_unknown=ignore_unknown)
    out = []
    for n, r in enumerate(rows[1:], start=2):
        if len(r) > len(mapped):
            raise InvalidInput(f"has {len(r)} cells but the header has {len(mapped)}", row=n,
                               field="file")
        out.append((n, {k: v for k, v in zip(mapped, r) if k is not None}))
    if not out:
        raise InvalidInput("the file has a header but no data rows", field="file")
    return RawTable(out, enc, ignored)


def _read_xlsx(path: Path, ignore_unknown: bool) -> RawTable:
    import zipfile

    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise InvalidInput(f"not a readable .xlsx workbook ({type(e).__name__}: {e})",
                           field="file") from None
    try:
        ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    rows = [r for r in rows if any(c not in (None, "") for c in r)]
    if not rows:
        raise InvalidInput("the workbook's first sheet is empty", field="file")
    mapped, ignored = map_headers(rows[0], ignore_unknown=ignore_unknown)
    out = []
    for n, r in enumerate(rows[1:], start=2):
        out.append((n, {k: v for k, v in zip(mapped, r) if k is not None and v is not None}))
    if not out:
        raise InvalidInput("the sheet has a header but no data rows", field="file")
    return RawTable(out, None, ignored)


def _read_geojson(data: bytes, ignore_unknown: bool) -> RawTable:
    text, enc = decode_text(data)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidInput(f"not valid JSON: {e.msg} at line {e.lineno}", field="file") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or \
            not isinstance(doc.get("features"), list):
        raise InvalidInput("GeoJSON must be a FeatureCollection with a 'features' list",
                           field="file")
    if not doc["features"]:
        raise InvalidInput("the FeatureCollection has no features", field="file")
    out = []
    ignored: set[str] = set()
    for n, f in enumerate(doc["features"], start=1):
        geom = (f or {}).get("geometry") or {}
        if geom.get("type") != "Point" or not isinstance(geom.get("coordinates"), list) \
                or len(geom["coordinates"]) < 2:
            raise InvalidInput(f"feature {n}: geometry must be a Point with [lon, lat]",
                               row=n, field="geometry")
        props = f.get("properties") or {}
        rec: dict[str, Any] = {}
        for key, v in props.items():
            nk = _norm_header(key)
            canon = _ALIASES_NORM.get(nk)
            if canon in ("lon", "lat"):
                continue
            if canon is None:
                if nk in IGNORED_HEADERS or ignore_unknown or nk in ("created_at", "updated_at",
                                                                     "version"):
                    ignored.add(key)
                    continue
                raise InvalidInput(f"feature {n}: unknown property {key!r}; accepted: "
                                   f"{', '.join(EDITABLE_FIELDS)}", row=n, field=key)
            rec[canon] = v
        rec["lon"], rec["lat"] = geom["coordinates"][0], geom["coordinates"][1]
        out.append((n, rec))
    return RawTable(out, enc, sorted(ignored))


def read_station_file(path: str | Path, *, ignore_unknown: bool = False) -> RawTable:
    """Read a CSV, XLSX or GeoJSON file into canonical raw rows (not validated yet)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"file not found: {path}", field="file")
    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_IMPORT_BYTES // 2**20} MB",
                           field="file")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path, ignore_unknown)
    data = path.read_bytes()
    if suffix in (".geojson", ".json"):
        return _read_geojson(data, ignore_unknown)
    if suffix in (".csv", ".txt", ".tsv"):
        return _read_csv(data, ignore_unknown)
    raise InvalidInput(f"unsupported file type {suffix!r}; use .csv, .xlsx or .geojson",
                       field="file")


def validate_rows(table: RawTable, *, crs: str = "wgs84", default_source: str = "import"
                  ) -> list[Station]:
    """Validate every row; raise :class:`ImportFailed` listing all bad rows, or return stations."""
    crs = parse_crs(crs)
    errors: list[InvalidInput] = []
    stations: list[Station] = []
    seen: dict[str, int] = {}
    for n, rec in table.rows:
        clean = {k: (v.strip() if isinstance(v, str) else v) for k, v in rec.items()}
        clean = {k: v for k, v in clean.items() if v not in ("", None)
                 and not (isinstance(v, float) and math.isnan(v))}
        try:
            st = station_from_dict(clean, crs=crs, default_source=default_source)
        except InvalidInput as e:
            errors.append(InvalidInput(e.message, field=e.field, row=n))
            continue
        if st.id in seen:
            errors.append(InvalidInput(f"id: duplicate id {st.id!r} (also on row {seen[st.id]})",
                                       field="id", row=n))
            continue
        seen[st.id] = n
        stations.append(st)
    if errors:
        raise ImportFailed(errors, total_rows=len(table.rows))
    return stations


# --------------------------------------------------------------------- export
def _rows_in(stations: Iterable[Station], crs: str) -> list[dict[str, Any]]:
    out = []
    for s in stations:
        row = s.to_row()
        if crs != "wgs84":
            lon, lat = from_wgs84(s.lon, s.lat, crs)
            row["lon"], row["lat"] = f"{lon:.7f}", f"{lat:.7f}"
        out.append(row)
    return out


SAMPLE_NOTICE = ("示例数据，非真实站点 / Sample data: illustrative, not real stations")


def export_stations(stations: list[Station], path: str | Path, *, crs: str = "wgs84") -> int:
    """Write stations to ``path``; the format follows the extension. Returns the count."""
    path = Path(path)
    crs = parse_crs(crs)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _rows_in(stations, crs)
        with path.open("w", encoding="utf-8-sig", newline="") as f:  # BOM: Excel reads it right
            w = csv.DictWriter(f, fieldnames=list(FIELDS))
            w.writeheader()
            w.writerows(rows)
        return len(rows)
    if suffix in (".geojson", ".json"):
        path.write_text(json.dumps(stations_geojson(stations, crs=crs), ensure_ascii=False),
                        encoding="utf-8")
        return len(stations)
    if suffix == ".gpkg":
        import geopandas as gpd
        from shapely import points

        rows = [s.to_row() for s in stations]
        lons = [s.lon for s in stations]
        lats = [s.lat for s in stations]
        if crs != "wgs84":
            raise InvalidInput("GeoPackage export is WGS-84 (EPSG:4326) only; GCJ-02/BD-09 "
                               "have no EPSG code", field="crs")
        gdf = gpd.GeoDataFrame(rows, geometry=points(lons, lats) if rows else [],
                               crs="EPSG:4326")
        for c in ("lon", "lat"):
            gdf[c] = [float(v) for v in gdf[c]] if len(gdf) else gdf[c]
        gdf["version"] = gdf["version"].astype(int) if len(gdf) else gdf["version"]
        if path.exists():
            path.unlink()
        gdf.to_file(path, driver="GPKG", layer="stations")
        return len(gdf)
    raise InvalidInput(f"unsupported export format {suffix!r}; use .csv, .geojson or .gpkg",
                       field="file")


def stations_geojson(stations: Iterable[Station], *, crs: str = "wgs84") -> dict[str, Any]:
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
    return doc

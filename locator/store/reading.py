"""Reading station files: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030), XLSX and GeoJSON.

Reading happens in two steps so that a web page can show the column mapping
(:mod:`.mapping`) before anything is validated:

1. :func:`read_sheet` (or :func:`sheet_from_bytes` for an upload) returns the
   file's own headers and cells (:class:`Sheet`);
2. :func:`apply_mapping` turns them into a :class:`RawTable` keyed by field name
   with a :class:`~.mapping.ColumnMapping`.

:func:`read_station_file` does both in one call.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fileio import (
    MAX_IMPORT_BYTES,
    MAX_IMPORT_ROWS,
    FileAccessError,
    FileError,
    os_reason,
    read_bytes,
)
from .mapping import CRS_HEADERS, ColumnMapping, field_for_header, norm_header, resolve_mapping

_NEUTRALISED = re.compile(r"^'[=+\-@\t\r]")


@dataclass
class Sheet:
    """A file's own headers and rows, before mapping.

    ``rows`` holds ``(row number, cells)``; the row number is what a spreadsheet
    program shows (the header is row 1), or the feature number for GeoJSON.
    """

    headers: list[str]
    rows: list[tuple[int, list[Any]]]
    encoding: str | None = None
    kind: str = "csv"


@dataclass
class RawTable:
    """Rows from a file, keyed by canonical field name, with their row numbers."""

    rows: list[tuple[int, dict[str, Any]]]
    encoding: str | None = None
    ignored_columns: list[str] = field(default_factory=list)
    #: Field -> the file's own header (for messages in the user's terms).
    columns: dict[str, str] = field(default_factory=dict)
    #: The coordinate system the file declares in a coordinate_system column, if any.
    declared_crs: str | None = None
    kind: str = "csv"

    def column_of(self, field_name: str) -> str:
        """The file's header for ``field_name`` (the field name when no column feeds it)."""
        return self.columns.get(field_name, field_name)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode CSV bytes as UTF-8 (with or without BOM) or GB18030 (a superset of GBK)."""
    if not data.strip():
        raise FileError("the file is empty", "文件是空的")
    if b"\x00" in data[:4096]:
        raise FileError("the file is binary, not CSV text (UTF-8 or GBK); "
                        "save the spreadsheet as CSV or .xlsx",
                        "这是二进制文件，不是 CSV 文本（UTF-8 或 GBK）；请另存为 CSV 或 .xlsx")
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as e:
            raise FileError(f"the file starts with a UTF-8 BOM but is not valid UTF-8 "
                            f"(byte {e.start})",
                            f"文件以 UTF-8 BOM 开头，但不是有效的 UTF-8（第 {e.start} 字节）"
                            ) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as e:
        raise FileError(f"cannot decode the file (byte {e.start}): it is neither UTF-8 nor "
                        "GBK/GB18030; re-save it as UTF-8 CSV",
                        f"无法解码文件（第 {e.start} 字节）：既不是 UTF-8 也不是 GBK/GB18030；"
                        "请另存为 UTF-8 编码的 CSV") from None


def _unneutralise(v: Any) -> Any:
    if isinstance(v, str) and v[:1] == "'" and _NEUTRALISED.match(v):
        return v[1:]
    return v


def _too_many(n: int) -> FileError:
    return FileError(f"the file has {n:,} rows; at most {MAX_IMPORT_ROWS:,} per import",
                     f"文件有 {n:,} 行，每次导入最多 {MAX_IMPORT_ROWS:,} 行", field="file")


def _delimiter(text: str) -> str:
    """The separator of the header line: comma, tab or semicolon, whichever it has most
    of (comma on a tie). Cells below may hold ';' lists (饮水机;微波炉) without confusing
    it, which a sniffer over the whole sample does not promise."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    counts = {d: first.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def _sheet_csv(data: bytes) -> Sheet:
    text, enc = decode_text(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    rows: list[tuple[int, list[Any]]] = []
    header: list[str] | None = None
    try:
        for n, r in enumerate(reader, start=1):
            if not any(c.strip() for c in r):
                continue
            if header is None:
                header = r
                continue
            rows.append((n, [_unneutralise(c) for c in r]))
    except csv.Error as e:
        raise FileError(f"malformed CSV: {e}", f"CSV 格式错误：{e}") from None
    if header is None:
        raise FileError("the file is empty", "文件是空的")
    for n, r in rows:
        if len(r) > len(header):
            raise FileError(f"has {len(r)} cells but the header has {len(header)}",
                            f"有 {len(r)} 个单元格，但表头只有 {len(header)} 列", row=n)
    return Sheet(header, rows, enc, "csv")


def _sheet_xlsx(data: bytes) -> Sheet:
    import zipfile

    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as e:
        raise FileError(f"not a readable .xlsx workbook ({type(e).__name__}: {e})",
                        f"不是可读取的 .xlsx 工作簿（{type(e).__name__}：{e}）") from None
    try:
        ws = wb.worksheets[0]
        header: list[str] | None = None
        rows: list[tuple[int, list[Any]]] = []
        for n, r in enumerate(ws.iter_rows(values_only=True), start=1):
            if not any(c not in (None, "") for c in r):
                continue
            if header is None:
                header = ["" if c is None else str(c) for c in r]
                continue
            rows.append((n, [_unneutralise(c) for c in r]))
            if len(rows) > MAX_IMPORT_ROWS:
                raise _too_many(len(rows))
    finally:
        wb.close()
    if header is None:
        raise FileError("the workbook's first sheet is empty", "工作簿的第一个工作表是空的")
    return Sheet(header, rows, None, "xlsx")


def _sheet_geojson(data: bytes) -> Sheet:
    text, enc = decode_text(data)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise FileError(f"not valid JSON: {e.msg} at line {e.lineno}",
                        f"不是有效的 JSON：第 {e.lineno} 行 {e.msg}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or \
            not isinstance(doc.get("features"), list):
        raise FileError("GeoJSON must be a FeatureCollection with a 'features' list",
                        "GeoJSON 必须是含“features”列表的 FeatureCollection")
    feats = doc["features"]
    if not feats:
        raise FileError("the FeatureCollection has no features", "FeatureCollection 中没有要素")
    keys: dict[str, None] = {}
    for f in feats:
        for k in ((f or {}).get("properties") or {}):
            if field_for_header(k) not in ("lon", "lat"):
                keys.setdefault(str(k), None)
    headers = [*keys, "lon", "lat"]
    rows = []
    for n, f in enumerate(feats, start=1):
        geom = (f or {}).get("geometry") or {}
        coords = geom.get("coordinates")
        if geom.get("type") != "Point" or not isinstance(coords, list) or len(coords) < 2:
            raise FileError(f"feature {n}: geometry must be a Point with [lon, lat]",
                            f"第 {n} 个要素：几何必须是 [经度, 纬度] 的 Point", row=n,
                            field="geometry")
        props = f.get("properties") or {}
        rows.append((n, [props.get(k) for k in keys] + [coords[0], coords[1]]))
    sheet = Sheet(headers, rows, enc, "geojson")
    declared = doc.get("coordinate_system")
    if isinstance(declared, str):
        sheet.headers.append("coordinate_system")
        for _, cells in rows:
            cells.append(declared)
    return sheet


_SUFFIXES = (".xlsx", ".xlsm", ".geojson", ".json", ".csv", ".txt", ".tsv")


def _check_suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in _SUFFIXES:
        raise FileError(f"unsupported file type {suffix!r}; use .csv, .xlsx or .geojson",
                        f"不支持的文件类型“{suffix}”；请使用 .csv、.xlsx 或 .geojson")
    return suffix


def read_sheet(path: str | os.PathLike) -> Sheet:
    """A file's headers and cells (CSV, XLSX or GeoJSON by extension), not yet mapped."""
    p = Path(path)
    try:  # a missing path or a folder first: "cannot read PATH: reason" says more
        if p.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        p.stat()
    except OSError as e:
        raise FileAccessError("read", p, os_reason(e)) from None
    _check_suffix(p.name)
    return sheet_from_bytes(read_bytes(p), p.name)


def sheet_from_bytes(data: bytes, filename: str) -> Sheet:
    """Like :func:`read_sheet` for an upload: the format follows ``filename``'s extension."""
    suffix = _check_suffix(filename)
    if len(data) > MAX_IMPORT_BYTES:
        raise FileError(f"the file is larger than {MAX_IMPORT_BYTES // 2**20} MB",
                        f"文件超过 {MAX_IMPORT_BYTES // 2**20} MB", field="file")
    if suffix in (".xlsx", ".xlsm"):
        sheet = _sheet_xlsx(data)
    elif suffix in (".geojson", ".json"):
        sheet = _sheet_geojson(data)
    else:
        sheet = _sheet_csv(data)
    if len(sheet.rows) > MAX_IMPORT_ROWS:
        raise _too_many(len(sheet.rows))
    return sheet


def apply_mapping(sheet: Sheet, mapping: ColumnMapping) -> RawTable:
    """The sheet's rows keyed by field name (empty XLSX cells left out)."""
    if not sheet.rows:
        raise FileError("the file has a header but no data rows", "文件只有表头，没有数据行")
    idx = [(i, mapping.columns.get(h)) for i, h in enumerate(mapping.headers)]
    used = [(i, f) for i, f in idx if f is not None]
    crs_col = next((i for i, h in enumerate(mapping.headers) if norm_header(h) in CRS_HEADERS),
                   None)
    out = []
    declared: set[str] = set()
    for n, cells in sheet.rows:
        rec = {f: cells[i] for i, f in used if i < len(cells) and cells[i] is not None}
        out.append((n, rec))
        if crs_col is not None and crs_col < len(cells) and cells[crs_col] not in (None, ""):
            declared.add(str(cells[crs_col]).strip().lower())
    return RawTable(out, sheet.encoding, list(mapping.ignored), mapping.fields,
                    declared.pop() if len(declared) == 1 else None, sheet.kind)


def read_station_file(path: str | os.PathLike, *, ignore_unknown: bool = False,
                      mapping: Mapping[str, str | None] | None = None) -> RawTable:
    """Read a CSV, XLSX or GeoJSON file into canonical raw rows (not validated yet).

    ``mapping`` (header -> field, or None to drop) overrides the proposed mapping;
    ``ignore_unknown`` drops the columns that remain unknown.
    """
    sheet = read_sheet(path)
    m = resolve_mapping(sheet.headers, mapping, ignore_unknown=ignore_unknown)
    return apply_mapping(sheet, m)

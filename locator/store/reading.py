"""Reading station files: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030), XLSX and GeoJSON,
and mapping their columns to station fields.

Reading happens in two steps so that a web page can show the mapping before
anything is validated:

1. :func:`read_sheet` returns the file's own headers and cells (:class:`Sheet`);
2. :func:`resolve_mapping` turns the headers into a :class:`ColumnMapping`
   (header -> field, or ``None`` to drop), starting from :func:`propose_mapping`
   and applying the caller's explicit choices; :func:`apply_mapping` then gives a
   :class:`RawTable` keyed by field name.

:func:`read_station_file` does both in one call. A mapping can be kept for the
next file of the same shape with :func:`save_mapping` / :func:`load_mapping`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, LocatorError
from ..stations.model import EDITABLE_FIELDS

MAX_IMPORT_BYTES = 200 * 1024 * 1024
MAX_IMPORT_ROWS = 500_000

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
#: Columns that carry no station data and are dropped: row numbers, remarks, and the
#: bookkeeping columns that ``locator export`` writes (so that an export imports back).
IGNORED_HEADERS = frozenset({
    "序号", "no", "no.", "#", "备注", "remark", "remarks", "fid", "objectid",
    "created_at", "updated_at", "version", "notice", "说明", "coordinate_system", "坐标系",
})
#: Headers that name the file's coordinate system (checked against the chosen CRS).
CRS_HEADERS = frozenset({"coordinate_system", "坐标系"})
REQUIRED_FIELDS: tuple[str, ...] = ("name", "type", "lon", "lat")

#: Chinese names of the fields, for messages.
FIELD_LABELS_ZH: dict[str, str] = {
    "id": "编号", "name": "名称", "type": "类型", "lon": "经度", "lat": "纬度",
    "address": "地址", "district_adcode": "区县代码", "district_name": "区县",
    "operator": "运营单位", "amenities": "设施", "opening_hours": "开放时间",
    "access": "开放对象", "phone": "电话", "status": "状态", "verified_date": "核验日期",
    "source": "来源",
}

# A text cell that ``locator export`` neutralised against formula injection: a quote,
# then one of the characters a spreadsheet would treat as the start of a formula.
_NEUTRALISED = re.compile(r"^'[=+\-@\t\r]")


class FileError(InvalidInput):
    """A file that cannot be read or used (encoding, shape, columns), in both languages.

    ``str()`` and ``message`` are English; ``message_zh`` is the Chinese text.
    """

    def __init__(self, message_en: str, message_zh: str, *, field: str | None = "file",
                 row: int | None = None):
        super().__init__(message_en, field=field, row=row)
        self.message_en = message_en
        self.message_zh = message_zh

    def text(self, lang: str = "zh") -> str:
        return self.message_en if lang.startswith("en") else self.message_zh


class FileAccessError(LocatorError):
    """A path that cannot be read or written (missing, a directory, no permission, disk
    full). The message is one line: ``cannot write PATH: reason``."""

    def __init__(self, verb: str, path: str | os.PathLike, reason: str):
        super().__init__(f"cannot {verb} {path}: {reason}")
        self.path = str(path)
        self.reason = reason
        self.message_zh = f"无法{'写入' if verb == 'write' else '读取'} {path}：{reason}"

    def text(self, lang: str = "zh") -> str:
        return str(self) if lang.startswith("en") else self.message_zh


def os_reason(e: OSError) -> str:
    """The plain reason of an OS error ("No such file or directory")."""
    return e.strerror or type(e).__name__


# --------------------------------------------------------------------- headers
def norm_header(h: Any) -> str:
    """A header as compared with the aliases: NFKC (full width to half width), no
    whitespace, lower case, no BOM."""
    s = unicodedata.normalize("NFKC", str(h if h is not None else "")).lstrip("\ufeff")
    return "".join(s.split()).lower()


_ALIASES_NORM = {norm_header(k): v for k, v in HEADER_ALIASES.items()}


@dataclass(frozen=True)
class ColumnMapping:
    """Which field each of a file's headers feeds.

    Attributes
    ----------
    headers
        The file's own headers, in file order.
    columns
        Header -> field name, or ``None`` for a dropped column.
    unknown
        Headers that are neither fields nor known aliases and were not mapped by
        the caller (the file cannot be imported until each is mapped or dropped).
    ignored
        Headers dropped because they carry no station data (序号, 备注, the
        ``created_at``/``updated_at``/``version`` columns of an export) or because
        the caller dropped them.
    """

    headers: tuple[str, ...]
    columns: dict[str, str | None]
    unknown: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()

    def header_of(self, field_name: str) -> str | None:
        """The file's header that feeds ``field_name`` (None if no column does)."""
        for h, f in self.columns.items():
            if f == field_name:
                return h
        return None

    @property
    def fields(self) -> dict[str, str]:
        """Field -> the file's header, for the mapped columns."""
        return {f: h for h, f in self.columns.items() if f is not None}

    @property
    def missing(self) -> tuple[str, ...]:
        """Required fields (name, type, lon, lat) that no column feeds."""
        have = set(self.columns.values())
        return tuple(f for f in REQUIRED_FIELDS if f not in have)

    def to_dict(self) -> dict[str, Any]:
        return {"headers": list(self.headers), "columns": dict(self.columns),
                "unknown": list(self.unknown), "ignored": list(self.ignored),
                "missing": list(self.missing)}


def propose_mapping(headers: Sequence[Any]) -> ColumnMapping:
    """The mapping proposed for ``headers``: known fields and aliases (名称, 类型, 经度 ...)
    are mapped, bookkeeping columns dropped, the rest listed as ``unknown``.

    Never raises; see :func:`resolve_mapping` for the checks.
    """
    return resolve_mapping(headers, None, check=False)


def resolve_mapping(headers: Sequence[Any], explicit: Mapping[str, str | None] | None = None,
                    *, ignore_unknown: bool = False, check: bool = True) -> ColumnMapping:
    """The mapping for ``headers``, with the caller's choices applied.

    Parameters
    ----------
    headers
        The file's headers.
    explicit
        Header -> field name, or ``None`` to drop that column; overrides the
        proposal. Headers that are not in the file are refused (a saved mapping
        for another file shape).
    ignore_unknown
        Drop the remaining unknown columns instead of refusing them.
    check
        Raise :class:`FileError` for unknown columns, two columns feeding one
        field and missing required fields.
    """
    hdrs = tuple("" if h is None else str(h).lstrip("\ufeff").strip() for h in headers)
    explicit = dict(explicit or {})
    by_norm = {norm_header(h): h for h in hdrs}
    resolved: dict[str, str | None] = {}
    for k, v in explicit.items():  # accept a saved mapping's header in any width or case
        h = k if k in hdrs else by_norm.get(norm_header(k))
        if h is None:
            if check:
                raise FileError(
                    f"the mapping names column {k!r}, which is not in the file (columns: "
                    f"{', '.join(hdrs)})",
                    f"映射中的列“{k}”不在文件中（文件的列：{'、'.join(hdrs)}）", field="columns")
            continue
        if v is not None and v not in EDITABLE_FIELDS:
            raise FileError(
                f"the mapping sends column {k!r} to {v!r}, which is not a field; fields: "
                f"{', '.join(EDITABLE_FIELDS)}",
                f"映射把列“{k}”对应到“{v}”，但它不是字段；可用字段：{', '.join(EDITABLE_FIELDS)}",
                field="columns")
        resolved[h] = v
    columns: dict[str, str | None] = {}
    unknown: list[str] = []
    ignored: list[str] = []
    for h in hdrs:
        key = norm_header(h)
        if not key:
            columns[h] = None
            continue
        if h in resolved:
            columns[h] = resolved[h]
            if resolved[h] is None:
                ignored.append(h)
            continue
        if key in IGNORED_HEADERS:
            columns[h] = None
            ignored.append(h)
            continue
        canon = _ALIASES_NORM.get(key)
        if canon is None:
            columns[h] = None
            (ignored if ignore_unknown else unknown).append(h)
            continue
        columns[h] = canon
    if len(set(hdrs)) != len(hdrs) and check:
        dup = next(h for h in hdrs if hdrs.count(h) > 1 and h)
        raise FileError(f"the header {dup!r} appears twice; give each column its own name",
                        f"列名“{dup}”出现了两次；每列需要不同的列名", field="columns")
    mapping = ColumnMapping(hdrs, columns, tuple(unknown), tuple(ignored))
    if check:
        _check_mapping(mapping)
    return mapping


def _check_mapping(m: ColumnMapping) -> None:
    seen: dict[str, str] = {}
    for h, f in m.columns.items():
        if f is None:
            continue
        if f in seen:
            raise FileError(f"columns {seen[f]!r} and {h!r} both mean {f!r}; keep only one "
                            "(or map one of them elsewhere with --map, or drop it with --drop)",
                            f"列“{seen[f]}”和“{h}”都对应字段“{FIELD_LABELS_ZH.get(f, f)}”；"
                            "只保留一列（或用 --map 改映射、用 --drop 删除其一）", field=f)
        seen[f] = h
    if m.unknown:
        names_en = ", ".join(map(repr, m.unknown))
        names_zh = "、".join(f"“{u}”" for u in m.unknown)
        raise FileError(
            f"unknown column(s) {names_en}; accepted headers are the field names "
            f"({', '.join(EDITABLE_FIELDS)}) or their Chinese names (名称, 类型, 经度, 纬度, "
            "地址, 开放时间, 设施 ...); map them with --map '列名=field', drop them with "
            "--drop 列名, or use --ignore-unknown-columns to drop them all",
            f"无法识别的列：{names_zh}。可接受的列名是字段名（{', '.join(EDITABLE_FIELDS)}）"
            "或中文列名（名称、类型、经度、纬度、地址、开放时间、设施……）；"
            "可用 --map '列名=字段' 指定对应字段，用 --drop 列名 删除该列，"
            "或用 --ignore-unknown-columns 全部忽略", field="columns")
    for req in m.missing:
        raise FileError(
            f"required column {req!r} is missing (found: {', '.join(m.headers)})",
            f"缺少必需的列“{FIELD_LABELS_ZH[req]}”（{req}）（文件中的列：{'、'.join(m.headers)}）",
            field=req)


def parse_map_option(items: Sequence[str], drops: Sequence[str] = ()) -> dict[str, str | None]:
    """``--map '列名=field'`` and ``--drop 列名`` options as an explicit mapping."""
    out: dict[str, str | None] = {}
    for item in items:
        header, sep, fld = item.rpartition("=")
        if not sep or not header.strip() or not fld.strip():
            raise FileError(f"--map {item!r}: use --map '列名=field' (e.g. --map '站点性质=type')",
                            f"--map “{item}”格式不对；应为 --map '列名=字段'（如 "
                            "--map '站点性质=type'）", field="map")
        fld = fld.strip()
        canon = _ALIASES_NORM.get(norm_header(fld), fld)
        out[header.strip()] = None if fld.lower() in ("none", "-", "drop") else canon
    for d in drops:
        out[d.strip()] = None
    return out


def save_mapping(mapping: ColumnMapping | Mapping[str, str | None], path: str | os.PathLike,
                 *, crs: str | None = None) -> Path:
    """Write a mapping (header -> field or null) as a small JSON file for the next file
    of the same shape."""
    cols = mapping.columns if isinstance(mapping, ColumnMapping) else dict(mapping)
    doc: dict[str, Any] = {"station_locator_mapping": 1, "columns": cols}
    if crs:
        doc["crs"] = crs
    p = Path(path)
    write_atomic(p, (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    return p


def load_mapping(path: str | os.PathLike) -> tuple[dict[str, str | None], str | None]:
    """A mapping written by :func:`save_mapping`: ``(header -> field or None, crs or None)``."""
    p = Path(path)
    data = read_bytes(p)
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FileError(f"mapping file {p} is not JSON ({e})", f"映射文件 {p} 不是 JSON（{e}）",
                        field="mapping") from None
    cols = doc.get("columns") if isinstance(doc, dict) else None
    if not isinstance(cols, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in cols.items()):
        raise FileError(f"mapping file {p} needs a 'columns' object of header -> field or null",
                        f"映射文件 {p} 需要“columns”对象（列名 -> 字段或 null）", field="mapping")
    crs = doc.get("crs")
    return dict(cols), crs if isinstance(crs, str) else None


# --------------------------------------------------------------------- file access
def read_bytes(path: str | os.PathLike, *, limit: int = MAX_IMPORT_BYTES) -> bytes:
    """The bytes of a file, or :class:`FileAccessError` / :class:`FileError` (too large)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if p.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        if size > limit:
            raise FileError(f"the file is larger than {limit // 2**20} MB",
                            f"文件超过 {limit // 2**20} MB", field="file")
        return p.read_bytes()
    except OSError as e:
        raise FileAccessError("read", p, os_reason(e)) from None


def write_atomic(path: str | os.PathLike, data: bytes | None = None, *,
                 writer: Any = None) -> None:
    """Write a file through a temporary sibling and rename it into place, so a full disk
    or a crash never leaves half a file. Either ``data`` or ``writer(tmp_path)``.

    Raises :class:`FileAccessError` with the path the user gave.
    """
    p = Path(path)
    tmp = p.with_name(f".{p.stem}.{os.getpid()}.tmp{p.suffix}")  # drivers check the suffix
    try:
        if not p.parent.is_dir():
            raise FileNotFoundError(2, "No such file or directory")
        if p.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        if writer is not None:
            writer(tmp)
        else:
            with open(tmp, "wb") as fh:
                fh.write(data or b"")
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, p)
    except OSError as e:
        _unlink_quietly(tmp)
        raise FileAccessError("write", p, os_reason(e)) from None
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(p: Path) -> None:
    try:
        p.unlink()
    except OSError:
        pass


# --------------------------------------------------------------------- sheets
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


def _sheet_csv(data: bytes) -> Sheet:
    text, enc = decode_text(data)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:8192], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
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
            if _ALIASES_NORM.get(norm_header(k)) not in ("lon", "lat"):
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

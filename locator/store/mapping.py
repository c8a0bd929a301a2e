"""Column mapping as data: which station field each of a file's headers feeds.

:func:`propose_mapping` recognises field names and the usual Chinese headers (名称,
类型, 经度, 纬度, 地址, 开放时间, 设施, 电话, 编号 ...); :func:`resolve_mapping` applies
the caller's choices (header -> field, or ``None`` to drop) and checks the result;
:func:`save_mapping` / :func:`load_mapping` keep a mapping as a small JSON file for the
next file of the same shape.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..stations.model import EDITABLE_FIELDS
from .fileio import FileError, read_bytes, write_atomic

HEADER_ALIASES: dict[str, str] = {
    **{f: f for f in EDITABLE_FIELDS},
    "编号": "id", "站点编号": "id", "站点id": "id", "站点代码": "id",
    "code": "code", "站点码": "code", "公开码": "code",
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
    "进入方式": "entry_method", "进门方式": "entry_method", "门禁方式": "entry_method",
    "开门方式": "entry_method", "门禁": "entry_method",
    "扫码app": "entry_app", "扫码应用": "entry_app", "门禁app": "entry_app",
    "值守时间": "staffed_hours", "值班时间": "staffed_hours", "有人值守时间": "staffed_hours",
    "进门说明": "entry_note", "进入说明": "entry_note", "门禁说明": "entry_note",
    "卫生间开放": "toilet_access", "厕所开放": "toilet_access", "卫生间": "toilet_access",
    "电话": "phone", "联系电话": "phone", "tel": "phone",
    "状态": "status", "运营状态": "status",
    "核验日期": "verified_date", "核实日期": "verified_date", "更新日期": "verified_date",
    "核实人": "verified_by", "核验人": "verified_by", "verified by": "verified_by",
    "星级": "star_level", "星级评定": "star_level", "stars": "star_level",
    "seats": "capacity", "座位数": "capacity", "座位": "capacity", "容量": "capacity",
    "可容纳人数": "capacity",
    "来源": "source", "数据来源": "source",
}
#: Columns that carry no station data and are dropped: row numbers, remarks, and the
#: bookkeeping columns that ``locator export`` writes (so that an export imports back).
IGNORED_HEADERS = frozenset({
    "序号", "no", "no.", "#", "备注", "remark", "remarks", "fid", "objectid",
    "created_at", "updated_at", "version", "reported_closed_at", "notice", "说明",
    "coordinate_system", "坐标系",
})
#: Headers that name the file's coordinate system (checked against the chosen CRS).
CRS_HEADERS = frozenset({"coordinate_system", "坐标系"})
REQUIRED_FIELDS: tuple[str, ...] = ("name", "type", "lon", "lat")

#: Chinese names of the fields, for messages.
FIELD_LABELS_ZH: dict[str, str] = {
    "id": "编号", "name": "名称", "type": "类型", "lon": "经度", "lat": "纬度",
    "address": "地址", "district_adcode": "区县代码", "district_name": "区县",
    "operator": "运营单位", "amenities": "设施", "opening_hours": "开放时间",
    "access": "开放对象", "entry_method": "进入方式", "entry_app": "扫码应用",
    "staffed_hours": "值守时间", "entry_note": "进门说明", "toilet_access": "卫生间开放",
    "phone": "电话", "status": "状态", "verified_date": "核验日期",
    "verified_by": "核实人", "star_level": "星级", "capacity": "座位数", "source": "来源",
    "code": "站点码",
}

# A text cell that ``locator export`` neutralised against formula injection: a quote,
# then one of the characters a spreadsheet would treat as the start of a formula.


def norm_header(h: Any) -> str:
    """A header as compared with the aliases: NFKC (full width to half width), no
    whitespace, lower case, no BOM."""
    s = unicodedata.normalize("NFKC", str(h if h is not None else "")).lstrip("\ufeff")
    return "".join(s.split()).lower()


_ALIASES_NORM = {norm_header(k): v for k, v in HEADER_ALIASES.items()}


def field_for_header(h: Any) -> str | None:
    """The field a header means by name (``"站点类型"`` -> ``"type"``), or None."""
    return _ALIASES_NORM.get(norm_header(h))


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

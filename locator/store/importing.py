"""Bulk import: validate rows, assign districts, plan against the stored stations, apply.

The steps are plain functions on data, so the CLI and the web upload run the
same code::

    sheet = read_sheet(path)                       # headers and cells
    mapping = resolve_mapping(sheet.headers, explicit)
    parsed = parse_rows(apply_mapping(sheet, mapping), crs="gcj02")
    parsed = assign_districts(parsed, load_xuzhou_districts())
    plan = plan_import(parsed, store.all())        # created / updated / unchanged
    apply_plan(store, plan, actor="editor:li")     # one transaction, all or nothing

:func:`prepare_import` does the first four in one call. Matching and the plan are
in :mod:`.import_plan`, the bilingual row messages in :mod:`.import_messages`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import Conflict, ImportFailed, InvalidInput
from ..stations.coords import parse_crs, validate_lonlat_arrays
from ..stations.model import Station, station_from_dict
from .fileio import FileError
from .import_messages import RowIssue, explain
from .import_plan import DEFAULT_MATCH_DISTANCE_M, ImportPlan, plan_import
from .reading import (
    RawTable,
    Sheet,
    apply_mapping,
    read_sheet,
    resolve_mapping,
)

if TYPE_CHECKING:
    from ..coverage.demand import Districts
    from .sql import StationStore

_PROBE = {"name": "x", "type": "outdoor_worker", "lon": 117.2, "lat": 34.2}
_CODE_FIELDS = ("id", "phone", "district_adcode")


# --------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class Candidate:
    """One valid row: its station (WGS-84) and what the file said about it.

    ``fields`` are the fields the row speaks for (the file's columns, plus the
    district when it was assigned from the boundaries); ``id_given`` is true when
    the row carried its own id.
    """

    row: int
    station: Station
    fields: frozenset[str]
    id_given: bool


@dataclass
class ParsedRows:
    """Valid rows as :class:`Candidate` objects, and the issues of the others."""

    candidates: list[Candidate]
    errors: list[RowIssue] = field(default_factory=list)
    warnings: list[RowIssue] = field(default_factory=list)
    total_rows: int = 0
    columns: dict[str, str] = field(default_factory=dict)
    crs: str = "wgs84"


def _clean(v: Any, fld: str) -> Any:
    if isinstance(v, str):
        v = v.strip()
        return v or None
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if fld in _CODE_FIELDS and v.is_integer():  # spreadsheets turn codes into numbers
            return str(int(v))
    if isinstance(v, int) and not isinstance(v, bool) and fld in _CODE_FIELDS:
        return str(v)
    return v


def _diagnose(rec: dict[str, Any], exc: InvalidInput, n: int, table: RawTable,
              crs: str) -> list[RowIssue]:
    """Every field error of a failed row (the core stops at the first one)."""
    out = []
    for req in ("name", "type"):
        if rec.get(req) is None:
            out.append(explain(req, None, InvalidInput("is required", field=req), row=n,
                               column=table.column_of(req), crs=crs))
    for fld, v in rec.items():
        if fld in ("lon", "lat", "name", "type") and v is None:
            continue
        if fld in ("lon", "lat"):
            continue
        try:
            station_from_dict({**_PROBE, fld: v})
        except InvalidInput as e:
            out.append(explain(fld, v, e, row=n, column=table.column_of(fld), crs=crs))
    if not out:
        fld = exc.field or "file"
        out.append(explain(fld, rec.get(fld), exc, row=n, column=table.column_of(fld), crs=crs))
    return out


def parse_rows(table: RawTable, *, crs: str = "wgs84", default_source: str = "import",
               progress: Callable[[int], None] | None = None) -> ParsedRows:
    """Validate every row of ``table``; never raises for a bad row.

    Coordinates in ``crs`` are checked and converted to WGS-84 in one vectorised
    pass; each row is then validated by :func:`locator.station_from_dict`. A row
    with errors reports all of them (row number, the file's column, the value,
    accepted values). ``progress(n)`` is called with the number of rows done.
    """
    crs = parse_crs(crs)
    if table.declared_crs:
        try:
            declared = parse_crs(table.declared_crs)
        except InvalidInput:
            declared = table.declared_crs
        if declared != crs:
            raise FileError(
                f"the file says its coordinates are {declared} (column coordinate_system), "
                f"but the import was asked to read them as {crs}; choose --crs {declared}",
                f"文件注明坐标系为 {declared}（coordinate_system 列），但导入时选择的是 {crs}；"
                f"请选择 --crs {declared}", field="crs")
    n_rows = len(table.rows)
    recs = [(n, {k: _clean(v, k) for k, v in rec.items()}) for n, rec in table.rows]
    lons = [r.get("lon") for _, r in recs]
    lats = [r.get("lat") for _, r in recs]
    has = np.array([lo is not None and la is not None
                    for lo, la in zip(lons, lats, strict=True)], bool)
    vl = validate_lonlat_arrays(
        [lo if h else 0.0 for lo, h in zip(lons, has, strict=True)],
        [la if h else 0.0 for la, h in zip(lats, has, strict=True)], crs=crs, first_row=0)
    coord_issues: dict[int, list[RowIssue]] = {}
    for e in vl.errors:
        i = e.row or 0
        fld = e.field or "lon"
        n, rec = recs[i]
        coord_issues.setdefault(i, []).append(
            explain(fld, rec.get(fld), e, row=n, column=table.column_of(fld), crs=crs))
    for i in np.flatnonzero(~has):
        n, rec = recs[i]
        fld = "lon" if rec.get("lon") is None else "lat"
        coord_issues[int(i)] = [explain(fld, None, InvalidInput("is required", field=fld), row=n,
                                        column=table.column_of(fld), crs=crs)]
    file_fields = frozenset(table.columns) | {"lon", "lat", "name", "type"}
    id_col = "id" in table.columns
    out = ParsedRows([], [], [], n_rows, dict(table.columns), crs)
    seen: dict[str, int] = {}
    wlon, wlat = vl.lon.tolist(), vl.lat.tolist()
    for i, (n, rec) in enumerate(recs):
        if progress is not None and i % 2000 == 0 and i:
            progress(i)
        rec = {k: v for k, v in rec.items() if v is not None}
        bad = coord_issues.get(i)
        data = {**rec, "lon": wlon[i], "lat": wlat[i]} if not bad else {**rec, **_PROBE_LONLAT}
        for k in ("created_at", "updated_at", "version"):
            data.pop(k, None)
        try:
            st = station_from_dict(data, default_source=default_source)
        except InvalidInput as e:
            out.errors.extend((bad or []) + _diagnose(rec, e, n, table, crs))
            continue
        if bad:
            out.errors.extend(bad)
            continue
        id_given = id_col and rec.get("id") is not None
        if id_given:
            if st.id in seen:
                out.errors.append(RowIssue(
                    n, table.column_of("id"), "id", st.id, "duplicate_id",
                    f"编号“{st.id}”重复（第 {seen[st.id]} 行也用了这个编号）",
                    f"duplicate id {st.id!r} (also on row {seen[st.id]})"))
                continue
            seen[st.id] = n
        out.candidates.append(Candidate(n, st, file_fields, bool(id_given)))
    if progress is not None:
        progress(n_rows)
    out.errors.sort(key=lambda x: (x.row or 0))
    return out


_PROBE_LONLAT = {"lon": 117.2, "lat": 34.2}


# --------------------------------------------------------------------- districts
def assign_districts(parsed: ParsedRows, districts: Districts | None) -> ParsedRows:
    """Fill in ``district_adcode`` and ``district_name`` from the boundaries (point in
    polygon, vectorised) for rows without a district code, and warn about rows
    outside every district and rows whose code disagrees with their point.

    With ``districts`` None, ``parsed`` is returned as is.
    """
    if districts is None or not parsed.candidates:
        return parsed
    cands = parsed.candidates
    lon = np.fromiter((c.station.lon for c in cands), np.float64, len(cands))
    lat = np.fromiter((c.station.lat for c in cands), np.float64, len(cands))
    got = districts.assign(lon, lat)
    names = dict(zip(districts.adcode, districts.name, strict=True))
    names_en = dict(zip(districts.adcode, districts.name_en, strict=True))
    known_zh = tuple(f"{a} {names[a]}" for a in districts.adcode)
    known_en = tuple(f"{a} {names_en[a] or names[a]}" for a in districts.adcode)
    cols = parsed.columns
    lon_col = cols.get("lon", "lon")
    code_col = cols.get("district_adcode", cols.get("district_name"))
    warnings = list(parsed.warnings)
    out: list[Candidate] = []
    for c, here in zip(cands, got.tolist(), strict=True):
        s = c.station
        if not here:
            warnings.append(RowIssue(
                c.row, lon_col, "lon", f"{s.lon:.6f},{s.lat:.6f}", "outside_districts",
                f"位置（{s.lon:.6f}, {s.lat:.6f}，WGS-84）不在任何已配置的区县内；请核对坐标和"
                "坐标系（高德/腾讯为 GCJ-02，百度为 BD-09），确认后再导入",
                f"the point ({s.lon:.6f}, {s.lat:.6f}, WGS-84) is outside every configured "
                "district; check the coordinates and the coordinate system (Amap/Tencent: "
                "GCJ-02, Baidu: BD-09) before importing", known_zh, known_en, "warning"))
        if s.district_adcode:
            if s.district_adcode not in names:
                warnings.append(RowIssue(
                    c.row, code_col, "district_adcode", s.district_adcode, "unknown_district",
                    f"区县代码“{s.district_adcode}”不是已配置的区县；可接受的值："
                    f"{'、'.join(known_zh)}",
                    f"district code {s.district_adcode!r} is not a configured district; "
                    f"accepted: {', '.join(known_en)}", known_zh, known_en, "warning"))
            elif here and here != s.district_adcode:
                warnings.append(RowIssue(
                    c.row, code_col, "district_adcode", s.district_adcode, "district_mismatch",
                    f"区县代码 {s.district_adcode}（{names[s.district_adcode]}）与位置不符："
                    f"该点位于 {here}（{names[here]}）",
                    f"district code {s.district_adcode} ({names_en[s.district_adcode]}) does "
                    f"not match the point, which lies in {here} ({names_en[here]})",
                    known_zh, known_en, "warning"))
            if not s.district_name and s.district_adcode in names:
                c = Candidate(c.row, s.evolve(district_name=names[s.district_adcode]),
                              c.fields | {"district_name"}, c.id_given)
            out.append(c)
            continue
        if not here:
            out.append(c)
            continue
        if s.district_name and s.district_name != names[here]:
            warnings.append(RowIssue(
                c.row, cols.get("district_name"), "district_name", s.district_name,
                "district_mismatch",
                f"区县“{s.district_name}”与位置不符：该点位于 {here}（{names[here]}）",
                f"district {s.district_name!r} does not match the point, which lies in "
                f"{here} ({names_en[here]})", known_zh, known_en, "warning"))
        out.append(Candidate(c.row, s.evolve(district_adcode=here,
                                             district_name=s.district_name or names[here]),
                             c.fields | {"district_adcode", "district_name"}, c.id_given))
    warnings.sort(key=lambda x: (x.row or 0))
    return ParsedRows(out, parsed.errors, warnings, parsed.total_rows, parsed.columns,
                      parsed.crs)


# --------------------------------------------------------------------- applying
def apply_plan(store: StationStore, plan: ImportPlan, *, actor: str,
               batch: str | None = None,
               progress: Callable[[int], None] | None = None) -> list[Station]:
    """Write a plan's new and updated stations in one transaction (all or nothing),
    through ``StationStore.add_many(..., upsert=True)``.

    Raises :class:`ImportFailed` when the plan has errors (nothing is written) and
    :class:`Conflict` when another writer stored one of the same ids meanwhile.
    ``progress(n)`` gets the number of rows written by each step, when the store
    reports it. Returns the stored stations (with their versions).
    """
    import inspect

    import sqlalchemy.exc

    if plan.errors:
        raise ImportFailed([e.as_error() for e in plan.errors], total_rows=plan.total_rows)
    todo = plan.to_store()
    if not todo:
        return []
    kw: dict[str, Any] = {}
    if progress is not None and "progress" in inspect.signature(store.add_many).parameters:
        kw["progress"] = progress
    try:
        return store.add_many(todo, actor=actor, upsert=True, batch=batch, **kw)
    except sqlalchemy.exc.IntegrityError:
        raise Conflict("another import or edit stored some of the same stations at the same "
                       "time; nothing was imported. Run the import again (it will match them)"
                       ) from None


def prepare_import(source: str | os.PathLike | Sheet, *, existing: Iterable[Station] = (),
                   crs: str = "wgs84", mapping: Mapping[str, str | None] | None = None,
                   ignore_unknown: bool = False, default_source: str = "import",
                   districts: Districts | None = None,
                   match_distance_m: float = DEFAULT_MATCH_DISTANCE_M,
                   progress: Callable[[int], None] | None = None) -> ImportPlan:
    """Read, map, validate, assign districts and plan in one call (nothing is stored).

    ``source`` is a path or a :class:`Sheet` (see :func:`sheet_from_bytes` for an
    upload). File-level problems (encoding, unknown or missing columns) raise
    :class:`FileError`; row problems are in the plan's ``errors``.
    """
    sheet = source if isinstance(source, Sheet) else read_sheet(Path(source))
    m = resolve_mapping(sheet.headers, mapping, ignore_unknown=ignore_unknown)
    table = apply_mapping(sheet, m)
    parsed = parse_rows(table, crs=crs, default_source=default_source, progress=progress)
    parsed = assign_districts(parsed, districts)
    plan = plan_import(parsed, existing, match_distance_m=match_distance_m)
    plan.mapping = m
    plan.encoding = sheet.encoding
    return plan


def validate_rows(table: RawTable, *, crs: str = "wgs84", default_source: str = "import"
                  ) -> list[Station]:
    """Validate every row; raise :class:`ImportFailed` listing all bad rows (each a
    :class:`RowError` carrying its :class:`RowIssue`), or return the stations."""
    parsed = parse_rows(table, crs=crs, default_source=default_source)
    if parsed.errors:
        raise ImportFailed([e.as_error() for e in parsed.errors], total_rows=len(table.rows))
    return [c.station for c in parsed.candidates]


__all__ = [
    "Candidate", "ParsedRows", "apply_plan", "assign_districts", "parse_rows", "prepare_import",
    "validate_rows",
]

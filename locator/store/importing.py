"""Bulk import: validate rows, assign districts, plan against the stored stations, apply.

The steps are plain functions on data, so the CLI and the web upload run the
same code::

    sheet = read_sheet(path)                       # or sheet_from_bytes(data, name)
    mapping = resolve_mapping(sheet.headers, explicit)
    parsed = parse_rows(apply_mapping(sheet, mapping), crs="gcj02",
                        districts=load_xuzhou_districts())
    plan = plan_import(parsed, store.all())        # created / updated / unchanged
    apply_plan(store, plan, actor="editor:li")     # one transaction, all or nothing

:func:`prepare_import` does the first three in one call. :func:`assign_districts`
does the district step for rows parsed without ``districts`` (it copies each
station, so it is slower at 100,000 rows). Matching and the plan are in
:mod:`.import_plan`, the bilingual row messages in :mod:`.import_messages`.
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
               districts: Districts | None = None,
               progress: Callable[[int], None] | None = None) -> ParsedRows:
    """Validate every row of ``table``; never raises for a bad row.

    Coordinates in ``crs`` are checked and converted to WGS-84 in one vectorised
    pass; each row is then validated by :func:`locator.station_from_dict`. A row
    with errors reports all of them (row number, the file's column, the value,
    accepted values). With ``districts``, rows get their district as
    :func:`assign_districts` gives it. ``progress(n)`` is called with the number of
    rows done.
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
    for i in np.flatnonzero(~has).tolist():
        n, rec = recs[i]
        fld = "lon" if rec.get("lon") is None else "lat"
        coord_issues[i] = [explain(fld, None, InvalidInput("is required", field=fld), row=n,
                                        column=table.column_of(fld), crs=crs)]
    file_fields = frozenset(table.columns) | {"lon", "lat", "name", "type"}
    with_district = file_fields | _DISTRICT_FIELDS
    id_col = "id" in table.columns
    out = ParsedRows([], [], [], n_rows, dict(table.columns), crs)
    seen: dict[str, int] = {}
    wlon, wlat = vl.lon.tolist(), vl.lat.tolist()
    rule = _DistrictRule(districts, table.columns) if districts is not None else None
    heres = districts.assign(vl.lon, vl.lat).tolist() if districts is not None else []
    for i, (n, rec) in enumerate(recs):
        if progress is not None and i % 2000 == 0 and i:
            progress(i)
        rec = {k: v for k, v in rec.items() if v is not None}
        bad = coord_issues.get(i)
        data = {**rec, "lon": wlon[i], "lat": wlat[i]} if not bad else {**rec, **_PROBE_LONLAT}
        for k in ("created_at", "updated_at", "version"):
            data.pop(k, None)
        assigned = False
        if rule is not None and not bad:
            code, name, assigned = rule.fill(rec.get("district_adcode"),
                                             rec.get("district_name"), heres[i])
            if code:
                data["district_adcode"] = code
            if name:
                data["district_name"] = name
        try:
            st = station_from_dict(data, default_source=default_source)
        except InvalidInput as e:
            out.errors.extend((bad or []) + _diagnose(rec, e, n, table, crs))
            continue
        if bad:
            out.errors.extend(bad)
            continue
        fields = file_fields
        if rule is not None:
            out.warnings += rule.issues(n, st, heres[i], assigned)
            if st.district_adcode:
                fields = with_district
        id_given = id_col and rec.get("id") is not None
        if id_given:
            if st.id in seen:
                out.errors.append(RowIssue(
                    n, table.column_of("id"), "id", st.id, "duplicate_id",
                    f"编号“{st.id}”重复（第 {seen[st.id]} 行也用了这个编号）",
                    f"duplicate id {st.id!r} (also on row {seen[st.id]})"))
                continue
            seen[st.id] = n
        out.candidates.append(Candidate(n, st, fields, bool(id_given)))
    if progress is not None:
        progress(n_rows)
    out.errors.sort(key=lambda x: (x.row or 0))
    out.warnings.sort(key=lambda x: (x.row or 0))
    return out


_PROBE_LONLAT = {"lon": 117.2, "lat": 34.2}


# --------------------------------------------------------------------- districts
class _DistrictRule:
    """How a row's district is filled in from its point, and what is flagged."""

    def __init__(self, districts: Districts, columns: Mapping[str, str]):
        self.names = dict(zip(districts.adcode, districts.name, strict=True))
        self.names_en = {a: (e or self.names[a]) for a, e in
                         zip(districts.adcode, districts.name_en, strict=True)}
        self.known_zh = tuple(f"{a} {self.names[a]}" for a in districts.adcode)
        self.known_en = tuple(f"{a} {self.names_en[a]}" for a in districts.adcode)
        self.lon_col = columns.get("lon", "lon")
        self.code_col = columns.get("district_adcode", columns.get("district_name"))
        self.name_col = columns.get("district_name")

    def fill(self, adcode: Any, name: Any, here: str) -> tuple[Any, Any, bool]:
        """``(adcode, name, assigned)`` for a row that gave ``adcode``/``name`` (or None)."""
        if adcode:
            return adcode, name or self.names.get(str(adcode)), False
        if here:
            return here, name or self.names[here], True
        return adcode, name, False

    def issues(self, row: int, s: Station, here: str, assigned: bool) -> list[RowIssue]:
        out = []
        kz, ke = self.known_zh, self.known_en
        if not here:
            out.append(RowIssue(
                row, self.lon_col, "lon", f"{s.lon:.6f},{s.lat:.6f}", "outside_districts",
                f"位置（{s.lon:.6f}, {s.lat:.6f}，WGS-84）不在任何已配置的区县内；请核对坐标和"
                "坐标系（高德/腾讯为 GCJ-02，百度为 BD-09），确认后再导入",
                f"the point ({s.lon:.6f}, {s.lat:.6f}, WGS-84) is outside every configured "
                "district; check the coordinates and the coordinate system (Amap/Tencent: "
                "GCJ-02, Baidu: BD-09) before importing", kz, ke, "warning"))
        code = s.district_adcode
        if assigned:
            if s.district_name != self.names[here]:
                out.append(RowIssue(
                    row, self.name_col, "district_name", s.district_name, "district_mismatch",
                    f"区县“{s.district_name}”与位置不符：该点位于 {here}（{self.names[here]}）",
                    f"district {s.district_name!r} does not match the point, which lies in "
                    f"{here} ({self.names_en[here]})", kz, ke, "warning"))
        elif code and code not in self.names:
            out.append(RowIssue(
                row, self.code_col, "district_adcode", code, "unknown_district",
                f"区县代码“{code}”不是已配置的区县；可接受的值：{'、'.join(kz)}",
                f"district code {code!r} is not a configured district; accepted: "
                f"{', '.join(ke)}", kz, ke, "warning"))
        elif code and here and here != code:
            out.append(RowIssue(
                row, self.code_col, "district_adcode", code, "district_mismatch",
                f"区县代码 {code}（{self.names[code]}）与位置不符：该点位于 {here}"
                f"（{self.names[here]}）",
                f"district code {code} ({self.names_en[code]}) does not match the point, "
                f"which lies in {here} ({self.names_en[here]})", kz, ke, "warning"))
        return out


_DISTRICT_FIELDS = frozenset({"district_adcode", "district_name"})


def assign_districts(parsed: ParsedRows, districts: Districts | None) -> ParsedRows:
    """Fill in ``district_adcode`` and ``district_name`` from the boundaries (point in
    polygon, vectorised) for rows without a district code, and warn about rows
    outside every district and rows whose code disagrees with their point.

    :func:`parse_rows` with ``districts=`` does the same while validating (faster:
    no second copy of each station). With ``districts`` None, ``parsed`` is returned
    as is.
    """
    if districts is None or not parsed.candidates:
        return parsed
    cands = parsed.candidates
    lon = np.fromiter((c.station.lon for c in cands), np.float64, len(cands))
    lat = np.fromiter((c.station.lat for c in cands), np.float64, len(cands))
    rule = _DistrictRule(districts, parsed.columns)
    warnings = list(parsed.warnings)
    out: list[Candidate] = []
    for c, here in zip(cands, districts.assign(lon, lat).tolist(), strict=True):
        s = c.station
        code, name, assigned = rule.fill(s.district_adcode, s.district_name, here)
        if (code, name) != (s.district_adcode, s.district_name):
            s = s.evolve(district_adcode=code, district_name=name)
            c = Candidate(c.row, s, c.fields | _DISTRICT_FIELDS, c.id_given)
        warnings += rule.issues(c.row, s, here, assigned)
        out.append(c)
    warnings.sort(key=lambda x: (x.row or 0))
    return ParsedRows(out, parsed.errors, warnings, parsed.total_rows, parsed.columns,
                      parsed.crs)


# --------------------------------------------------------------------- applying
def apply_plan(store: StationStore, plan: ImportPlan, *, actor: str,
               batch: str | None = None, progress: Callable[[int], None] | None = None,
               hook: Any = None) -> list[Station]:
    """Write a plan's new and updated stations in one transaction (all or nothing),
    through ``StationStore.add_many(..., upsert=True)``.

    Raises :class:`ImportFailed` when the plan has errors (nothing is written) and
    :class:`Conflict` when another writer stored one of the same ids meanwhile.
    ``progress(n)`` gets the number of rows written by each step, when the store
    reports it; ``hook`` is passed on to ``add_many`` (e.g. a change-log writer that
    runs in the same transaction). Returns the stored stations (with their versions).
    """
    import inspect

    import sqlalchemy.exc

    if plan.errors:
        raise ImportFailed([e.as_error() for e in plan.errors], total_rows=plan.total_rows)
    todo = plan.to_store()
    if not todo:
        return []
    kw: dict[str, Any] = {}
    accepted = inspect.signature(store.add_many).parameters
    if progress is not None and "progress" in accepted:
        kw["progress"] = progress
    if hook is not None:
        kw["hook"] = hook
    # the versions the plan saw: a station edited (or created) since is a Conflict
    kw["expected_versions"] = {r.existing.id: r.existing.version for r in plan.updated
                               if r.existing is not None}
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
    parsed = parse_rows(table, crs=crs, default_source=default_source, districts=districts,
                        progress=progress)
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

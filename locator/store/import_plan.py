"""Import plans: which rows create, update or leave stored stations unchanged.

Matching. A row whose file has an id column (编号 ...) and a non-empty id is matched
by that id. Any other row is matched to a stored station of the same type within
``match_distance_m`` (default 50 m, great-circle) whose name is equal after
:func:`normalise_name`; the nearest such station wins (ties by id). Candidates come
from a KD-tree of unit vectors (:mod:`scipy.spatial`), so 100,000 rows against
100,000 stations take well under a second. A matched row is "unchanged" when every
field the file gives equals the stored one (coordinates within
:data:`COORD_TOLERANCE_M`), otherwise "updated" with its field-level changes;
fields the file has no column for keep their stored values. So re-importing a file,
or importing a file written by ``locator export``, changes nothing.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidInput
from ..geo import chord_for_m, haversine_m, haversine_np, unit_xyz_np
from ..stations.model import EDITABLE_FIELDS, Station
from .import_messages import RowIssue

if TYPE_CHECKING:
    from .importing import Candidate, ParsedRows
    from .reading import ColumnMapping

DEFAULT_MATCH_DISTANCE_M = 50.0
#: Coordinates closer than this to the stored ones count as unchanged (an export in
#: GCJ-02 with 7 decimals and the iterative inverse round-trip to about 1 cm).
COORD_TOLERANCE_M = 0.1
#: Fields compared between a row and its stored station.
COMPARED_FIELDS: tuple[str, ...] = EDITABLE_FIELDS[1:]
_NAME_DROP = re.compile(r"[\W_]+")


def normalise_name(name: str) -> str:
    """A station name as compared for matching: full width to half width (NFKC), case
    folded, without spaces, punctuation and symbols. ``"【示例】鼓楼 爱心驿站（一）"`` and
    ``"【示例】鼓楼爱心驿站(一)"`` compare equal; the words themselves are kept."""
    return _NAME_DROP.sub("", unicodedata.normalize("NFKC", name).casefold())


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        def j(v: Any) -> Any:
            if isinstance(v, tuple):
                return list(v)
            return v.isoformat() if hasattr(v, "isoformat") else v
        return {"field": self.field, "old": j(self.old), "new": j(self.new)}


@dataclass(frozen=True)
class PlannedRow:
    """What the import does with one row.

    ``action`` is ``create``, ``update`` or ``unchanged``; ``station`` is the record
    that would be stored (for ``update``, the stored station with the changes, same
    id); ``existing`` the stored station it matched, ``matched_by`` ``id`` or
    ``place`` (with ``distance_m``).
    """

    row: int
    action: str
    station: Station
    existing: Station | None = None
    changes: tuple[FieldChange, ...] = ()
    matched_by: str | None = None
    distance_m: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "action": self.action, "id": self.station.id,
                "name": self.station.name, "matched_by": self.matched_by,
                "distance_m": None if self.distance_m is None else round(self.distance_m, 2),
                "changes": [c.to_dict() for c in self.changes]}


@dataclass
class ImportPlan:
    """The dry run of an import: a result object, nothing is stored by building it."""

    rows: list[PlannedRow]
    errors: list[RowIssue]
    warnings: list[RowIssue]
    total_rows: int
    crs: str = "wgs84"
    mapping: ColumnMapping | None = None
    encoding: str | None = None

    def _of(self, action: str) -> list[PlannedRow]:
        return [r for r in self.rows if r.action == action]

    @property
    def created(self) -> list[PlannedRow]:
        return self._of("create")

    @property
    def updated(self) -> list[PlannedRow]:
        return self._of("update")

    @property
    def unchanged(self) -> list[PlannedRow]:
        return self._of("unchanged")

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings do not block an import)."""
        return not self.errors

    def counts(self) -> dict[str, int]:
        c = {"create": 0, "update": 0, "unchanged": 0}
        for r in self.rows:
            c[r.action] += 1
        return {"rows": self.total_rows, "new": c["create"], "updated": c["update"],
                "unchanged": c["unchanged"], "warnings": len(self.warnings),
                "errors": len(self.errors)}

    def to_store(self) -> list[Station]:
        """The stations that a real import writes (new and updated ones)."""
        return [r.station for r in self.rows if r.action != "unchanged"]

    def summary(self, lang: str = "zh") -> str:
        c = self.counts()
        if lang.startswith("en"):
            return (f"{c['rows']} rows: {c['new']} new, {c['updated']} updated, "
                    f"{c['unchanged']} unchanged; {c['warnings']} warning(s), "
                    f"{c['errors']} error(s)")
        return (f"共 {c['rows']} 行：新增 {c['new']}，更新 {c['updated']}，未变 {c['unchanged']}；"
                f"警告 {c['warnings']} 条，错误 {c['errors']} 条")

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        return {"counts": self.counts(), "crs": self.crs, "encoding": self.encoding,
                "mapping": self.mapping.to_dict() if self.mapping else None,
                "rows": [r.to_dict() for r in self.rows],
                "errors": [e.to_dict(lang) for e in self.errors],
                "warnings": [w.to_dict(lang) for w in self.warnings]}


def _changes(c: Candidate, old: Station) -> tuple[Station, tuple[FieldChange, ...]]:
    new = c.station
    ch: list[FieldChange] = []
    for f in COMPARED_FIELDS:
        if f not in c.fields or f in ("lon", "lat"):
            continue
        a, b = getattr(old, f), getattr(new, f)
        if a != b:
            ch.append(FieldChange(f, a, b))
    if haversine_m(old.lon, old.lat, new.lon, new.lat) > COORD_TOLERANCE_M:
        ch += [FieldChange("lon", old.lon, new.lon), FieldChange("lat", old.lat, new.lat)]
    if not ch:
        return old, ()
    return old.evolve(**{x.field: x.new for x in ch}), tuple(ch)


def plan_import(candidates: ParsedRows | Sequence[Candidate | Station],
                existing: Iterable[Station], *,
                match_distance_m: float = DEFAULT_MATCH_DISTANCE_M) -> ImportPlan:
    """What importing ``candidates`` into a store holding ``existing`` would do.

    Parameters
    ----------
    candidates
        The output of :func:`parse_rows` / :func:`assign_districts`, or plain
        stations (then each counts as a row that gives its id and every field).
    existing
        The stored stations (``store.all()``).
    match_distance_m
        Rows without an id match a stored station of the same type and normalised
        name within this great-circle distance.

    Returns
    -------
    ImportPlan
        Created, updated (with field-level changes) and unchanged rows, with the
        errors and warnings of parsing plus those of matching (two rows that are
        the same station are an error; a row with a new id next to a stored
        station of the same type and name is a warning).
    """
    if match_distance_m < 0 or not math.isfinite(match_distance_m):
        raise InvalidInput(f"match_distance_m: {match_distance_m} must be a finite number "
                           ">= 0", field="match_distance_m")
    from .importing import Candidate, ParsedRows

    if isinstance(candidates, ParsedRows):
        parsed = candidates
    else:
        cands = [c if isinstance(c, Candidate) else
                 Candidate(i, c, frozenset(EDITABLE_FIELDS), True)
                 for i, c in enumerate(candidates, start=1)]
        parsed = ParsedRows(cands, [], [], len(cands))
    errors = list(parsed.errors)
    warnings = list(parsed.warnings)
    cols = parsed.columns
    ex = list(existing)
    by_id = {s.id: i for i, s in enumerate(ex)}
    cands = parsed.candidates
    # 1. which stored station each row is (index into ex, or -1), and how
    match = np.full(len(cands), -1, dtype=np.int64)
    dist = np.full(len(cands), np.nan)
    for j, c in enumerate(cands):
        if c.id_given:
            match[j] = by_id.get(c.station.id, -1)
    spatial = [j for j, c in enumerate(cands) if match[j] < 0]
    near: dict[int, tuple[int, float]] = {}  # row j -> nearest same station (index, metres)
    if ex and spatial:
        near = _nearest_same(cands, spatial, ex, match_distance_m)
    for j, (i, d) in near.items():
        if cands[j].id_given:
            s = ex[i]
            warnings.append(RowIssue(
                cands[j].row, cols.get("id", "id"), "id", cands[j].station.id,
                "possible_duplicate",
                f"编号“{cands[j].station.id}”是新编号，但 {d:.0f} 米内已有同类型同名站点 "
                f"{s.id}（{s.name}）；如是同一站点，请改用其编号",
                f"id {cands[j].station.id!r} is new, but stored station {s.id} ({s.name}) of the "
                f"same type and name is {d:.0f} m away; if it is the same station, use its id",
                severity="warning"))
        else:
            match[j], dist[j] = i, d
    # 2. two rows must not be one station
    taken: dict[int, int] = {}
    rows: list[PlannedRow] = []
    dup_rows = _duplicates_in_file(cands, match, match_distance_m)
    for j, c in enumerate(cands):
        i = int(match[j])
        if i >= 0 and i in taken:
            s = ex[i]
            errors.append(RowIssue(
                c.row, cols.get("name", "name"), "name", c.station.name, "duplicate_row",
                f"与第 {taken[i]} 行是同一站点（{s.id}，{s.name}）；请删除其中一行",
                f"the same station as row {taken[i]} ({s.id}, {s.name}); remove one of them"))
            continue
        if j in dup_rows:
            other, d = dup_rows[j]
            errors.append(RowIssue(
                c.row, cols.get("name", "name"), "name", c.station.name, "duplicate_row",
                f"与第 {other} 行很可能是同一站点（同类型、同名，相距 {d:.0f} 米）；"
                "请删除其中一行，或给两行填写不同的编号",
                f"probably the same station as row {other} (same type and name, {d:.0f} m "
                "apart); remove one of them or give both rows their own ids"))
            continue
        if i < 0:
            rows.append(PlannedRow(c.row, "create", c.station))
            continue
        taken[i] = c.row
        old = ex[i]
        new, ch = _changes(c, old)
        how = "id" if c.id_given else "place"
        rows.append(PlannedRow(c.row, "update" if ch else "unchanged", new, old, ch, how,
                               None if how == "id" else float(dist[j])))
    errors.sort(key=lambda x: (x.row or 0))
    warnings.sort(key=lambda x: (x.row or 0))
    return ImportPlan(rows, errors, warnings, parsed.total_rows, parsed.crs)


def _nearest_same(cands: Sequence[Candidate], which: Sequence[int], ex: Sequence[Station],
                  radius_m: float) -> dict[int, tuple[int, float]]:
    """For rows ``which``: the nearest stored station of the same type and normalised name
    within ``radius_m`` (a KD-tree of unit vectors, then exact haversine)."""
    from scipy.spatial import cKDTree

    ex_lon = np.fromiter((s.lon for s in ex), np.float64, len(ex))
    ex_lat = np.fromiter((s.lat for s in ex), np.float64, len(ex))
    tree = cKDTree(unit_xyz_np(ex_lon, ex_lat))
    q_lon = np.fromiter((cands[j].station.lon for j in which), np.float64, len(which))
    q_lat = np.fromiter((cands[j].station.lat for j in which), np.float64, len(which))
    hits = tree.query_ball_point(unit_xyz_np(q_lon, q_lat), chord_for_m(radius_m) * (1 + 1e-9))
    ex_key: dict[int, tuple[str, str]] = {}
    out: dict[int, tuple[int, float]] = {}
    for j, h in zip(which, hits, strict=True):
        if not h:
            continue
        s = cands[j].station
        key = (s.type, normalise_name(s.name))
        best: tuple[float, str, int] | None = None
        for i in h:
            if i not in ex_key:
                ex_key[i] = (ex[i].type, normalise_name(ex[i].name))
            if ex_key[i] != key:
                continue
            d = haversine_m(s.lon, s.lat, ex_lon[i], ex_lat[i])
            if d <= radius_m and (best is None or (d, ex[i].id) < best[:2]):
                best = (d, ex[i].id, i)
        if best is not None:
            out[j] = (best[2], best[0])
    return out


def _duplicates_in_file(cands: Sequence[Candidate], match: np.ndarray, radius_m: float
                        ) -> dict[int, tuple[int, float]]:
    """New rows without ids that repeat an earlier new row (same type and name within
    ``radius_m``): row index -> (the earlier row's number, metres)."""
    from scipy.spatial import cKDTree

    idx = [j for j, c in enumerate(cands) if match[j] < 0 and not c.id_given]
    if len(idx) < 2:
        return {}
    lon = np.fromiter((cands[j].station.lon for j in idx), np.float64, len(idx))
    lat = np.fromiter((cands[j].station.lat for j in idx), np.float64, len(idx))
    pairs = cKDTree(unit_xyz_np(lon, lat)).query_pairs(chord_for_m(radius_m) * (1 + 1e-9),
                                                       output_type="ndarray")
    out: dict[int, tuple[int, float]] = {}
    if len(pairs) == 0:
        return out
    d = haversine_np(lon[pairs[:, 0]], lat[pairs[:, 0]], lon[pairs[:, 1]], lat[pairs[:, 1]])
    for (a, b), m in zip(pairs.tolist(), d.tolist(), strict=True):
        sa, sb = cands[idx[a]].station, cands[idx[b]].station
        if m > radius_m or sa.type != sb.type or \
                normalise_name(sa.name) != normalise_name(sb.name):
            continue
        first, later = (a, b) if cands[idx[a]].row < cands[idx[b]].row else (b, a)
        if idx[later] not in out or out[idx[later]][0] > cands[idx[first]].row:
            out[idx[later]] = (cands[idx[first]].row, m)
    return out

"""Exact nearest-station index ranked by great-circle distance.

How it works
------------
Stations are stored as unit vectors (ECEF on the unit sphere) in a
:class:`scipy.spatial.cKDTree`. The straight-line (chord) distance between two
unit vectors is a strictly increasing function of their great-circle distance,
so the k nearest by chord are the k nearest on the sphere: unlike an R-tree
over raw lon/lat degrees, this never ranks the wrong station first. Reported
distances are haversine metres and results are ordered by ``(distance_m, id)``,
exactly as a brute-force scan orders them; ties at the k-th place are resolved
by widening the search until every tied station has been seen.

Live changes
------------
The index has three levels, each with its own tombstones: the big *main*
KD-tree, a smaller *mid-level* KD-tree and a *delta buffer* (preallocated,
searched with numpy). Trees are never changed in place. An insert writes one
row into the delta buffer; a delete, or the old copy of an updated station,
becomes a *tombstone* in the level that holds the row. When ``delta_limit``
rows have been written to the delta buffer (by default 1,024, or
``compact_threshold`` if that is smaller), the live mid-level and delta rows
are built into a new mid-level tree, at once and under the write lock (it is
small, so this is quick), and the delta buffer starts empty.

When the pending changes (the rows of the mid level and of the delta buffer,
plus the main tombstones added since main was last rebuilt) reach
``compact_threshold``, a background thread appends the live mid-level and delta
rows to the main arrays, builds a new main tree (scipy releases the GIL for
that) and swaps it in with an empty mid level and delta buffer, replaying
whatever changed meanwhile. Main tombstones stay in the main arrays until there
are more than 1,024 of them and more than a twentieth of the main rows; only
then (or on :meth:`compact`) is main rebuilt without them.

Concurrency model: **immutable snapshots swapped under a lock.** All index
state a query needs lives in one :class:`Snapshot`: the main and mid-level
columns and trees, the tombstone sets and the *number* of delta rows it may see. Writers hold
``self._lock``, write beyond every published row count, and publish a new
snapshot with one attribute assignment. Readers take ``self._snap`` once and use
only that object, so they never see a half-applied change and never block.
Id lookups (``get``, ``in``) always use the newest snapshot.

Code: the snapshot and the tree searches are in :mod:`locator.index._snapshot`, the write
side (inserts, deletes, compactions) in :mod:`locator.index._writes`; this module
holds the queries.
"""

from __future__ import annotations

import math
import operator
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from .. import config
from ..errors import InvalidInput, NotFound
from ..geo import chord_for_m, haversine_m, unit_xyz, unit_xyz_np
from ..stations.model import Station
from ..stations.rows import LazyStations, field_values
from ..stations.vocab import AMENITIES, AMENITY_BIT, STATION_TYPES, STATUSES, Vocabulary
from ..time_util import parse_when
from ._cells import cell_cache
from ._columns import (
    STATUS_CODES,
    TYPE_CODES,
    Columns,
    HoursTable,
    columns_from_stations,
    new_buffer,
)
from ._snapshot import (
    S_CLOSED,
    TIE_EPS,
    Snapshot,
    first,
    live_rows,
    make_tree,
    merge_delta,
    search_tree,
)
from ._writes import DELTA_CAPACITY, IndexWrites
from .results import NearestResult, eta_minutes

__all__ = ["NearestResult", "StationIndex", "eta_minutes"]

_S_OPEN = STATUS_CODES.index("open")
_DEFAULT_STATUSES = frozenset(i for i in range(len(STATUS_CODES)) if i != S_CLOSED)
_R = config.EARTH_RADIUS_M


class StationIndex(IndexWrites):
    """Exact k-nearest-station search with filters and live updates.

    Parameters
    ----------
    stations
        The stations to index (ids must be unique).
    compact_threshold
        Pending changes that trigger a background rebuild of the main tree: rows in
        the mid level and the delta buffer plus main tombstones added since the last
        rebuild. By default 16,384 or a twentieth of the main tree's rows, whichever
        is more.
    delta_limit
        Rows written to the delta buffer that trigger a rebuild of the mid-level
        tree; by default 1,024, or ``compact_threshold`` if that is smaller.
    """

    def __init__(self, stations: Iterable[Station] = (), *,
                 compact_threshold: int | None = None, delta_limit: int | None = None):
        if not isinstance(stations, LazyStations):  # (a lazy one stays lazy)
            stations = list(stations)
        ids = field_values(stations, "id")
        if len(set(ids)) != len(ids):
            seen: set[str] = set()
            for sid in ids:
                if sid in seen:
                    raise InvalidInput(f"id: duplicate station id {sid!r}", field="id")
                seen.add(sid)
        self._init(compact_threshold, delta_limit)
        self._snap = self._fresh(columns_from_stations(stations, self._hours), version=0,
                                 with_stations=True)

    def _init(self, compact_threshold: int | None, delta_limit: int | None = None) -> None:
        self._fixed_delta_limit = delta_limit
        self._hours = HoursTable()
        self._lock = threading.RLock()
        self._log = []
        self._compacting = False
        self._compact_thread = None
        self._fixed_threshold = compact_threshold
        self._dead_base = 0  # tombstones already counted by the last compaction

    @classmethod
    def from_arrays(cls, ids: Sequence[str], lons, lats, *, types: Sequence[str] | None = None,
                    names: Sequence[str] | None = None, amenity_masks=None,
                    compact_threshold: int | None = None) -> StationIndex:
        """Build from plain arrays (no :class:`Station` objects): the compact form for
        millions of points. All stations are ``open`` with unknown hours."""
        self = cls.__new__(cls)
        self._init(compact_threshold)
        lon = np.ascontiguousarray(lons, dtype=np.float64)
        lat = np.ascontiguousarray(lats, dtype=np.float64)
        n = len(lon)
        ids = list(ids)
        if len(ids) != n or len(lat) != n:
            raise InvalidInput("ids, lons and lats must have the same length")
        if len(set(ids)) != n:
            raise InvalidInput("id: station ids must be unique", field="id")
        type_i = (np.zeros(n, np.int8) if types is None
                  else np.array([TYPE_CODES.index(t) for t in types], dtype=np.int8))
        cols = Columns(
            ids=ids, lon=lon, lat=lat, xyz=unit_xyz_np(lon, lat), type_i=type_i,
            amen=(np.zeros(n, np.int32) if amenity_masks is None
                  else np.asarray(amenity_masks, dtype=np.int32)),
            status_i=np.full(n, _S_OPEN, np.int8), hours_i=np.full(n, -1, np.int32),
            names=list(names) if names is not None else None, stations=None,
        )
        self._snap = self._fresh(cols, version=0, with_stations=False)
        return self

    def _fresh(self, cols: Columns, *, version: int, with_stations: bool,
               pos: dict[str, int] | None = None, dead: frozenset[int] = frozenset(),
               type_trees: dict | None = None) -> Snapshot:
        if pos is None:
            pos = dict(zip(cols.ids, range(len(cols)), strict=True))
        buf = new_buffer(DELTA_CAPACITY, with_stations=with_stations)
        return Snapshot(cols, len(cols), make_tree(cols.xyz), pos, dead, buf, 0, frozenset(), {},
                         version, type_trees)

    # ---------------------------------------------------------------- reading
    @property
    def version(self) -> int:
        """A number that grows with every change applied to the index (a cache key for
        what is derived from its stations)."""
        return self._snap.version

    def __len__(self) -> int:
        return self._snap.live_count()

    def __contains__(self, sid: object) -> bool:
        return self._snap.locate(sid) is not None

    def get(self, sid: str) -> Station:
        """The indexed :class:`Station` with this id (``NotFound`` otherwise)."""
        got = self._snap.locate(sid)
        if got is None or got[0].stations is None:
            raise NotFound(f"station {sid!r} is not in the index")
        return got[0].stations[got[1]]

    def ids(self) -> list[str]:
        snap = self._snap
        out = [sid for i, sid in enumerate(snap.main.ids[:snap.n]) if i not in snap.dead]
        out.extend(snap.mid.ids[j] for j in snap.live_mid_rows().tolist())
        out.extend(snap.delta.ids[j] for j in snap.live_delta_rows().tolist())
        return out

    def stations(self) -> list[Station]:
        snap = self._snap
        out: list[Station] = []
        if snap.main.stations is not None:
            out = [s for i, s in enumerate(snap.main.stations[:snap.n]) if i not in snap.dead]
        if snap.mid.stations is not None:
            out.extend(snap.mid.stations[j] for j in snap.live_mid_rows().tolist())
        if snap.delta.stations is not None:
            out.extend(snap.delta.stations[j] for j in snap.live_delta_rows().tolist())
        return out

    def select(self, *, bbox: tuple[float, float, float, float] | None = None,
               types: Iterable[str] | None = None, district: str | None = None,
               statuses: Iterable[str] | None = None) -> list[Station]:
        """Indexed stations inside a WGS-84 box (inclusive) and matching the filters,
        ordered by id. ``statuses`` defaults to all."""
        type_set = _codes(types, STATION_TYPES, "type") if types else None
        status_set = _codes(statuses, STATUSES, "status") if statuses else None
        snap = self._snap
        out: list[Station] = []
        for cols, rows in ((snap.main, live_rows(snap.n, snap.dead)),
                           (snap.mid, snap.live_mid_rows()),
                           (snap.delta, snap.live_delta_rows())):
            if cols.stations is None or not len(rows):
                continue
            mask = np.ones(len(rows), dtype=bool)
            if bbox is not None:
                x0, y0, x1, y1 = bbox
                lon, lat = cols.lon[rows], cols.lat[rows]
                mask &= (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
            if type_set is not None:
                mask &= np.isin(cols.type_i[rows], [TYPE_CODES.index(t) for t in type_set])
            if status_set is not None:
                mask &= np.isin(cols.status_i[rows],
                                [STATUS_CODES.index(t) for t in status_set])
            out.extend(cols.stations[i] for i in rows[mask].tolist())
        if district is not None:
            out = [s for s in out if district in (s.district_adcode, s.district_name)]
        out.sort(key=lambda s: s.id)
        return out

    # ---------------------------------------------------------------- queries
    def nearest(self, lon: float, lat: float, k: int = 5, *,
                types: Iterable[str] | None = None, amenities: Iterable[str] | None = None,
                open_at: datetime | str | None = None, statuses: Iterable[str] | None = None,
                max_distance_m: float | None = None) -> list[NearestResult]:
        """The ``k`` nearest stations to a WGS-84 point that pass every filter.

        Parameters
        ----------
        lon, lat
            Query point, WGS-84 degrees.
        k
            Number of results, 1..:data:`config.MAX_K`.
        types, amenities
            Keep only these types; require all these amenities.
        open_at
            Keep stations open at this time, plus those whose hours are unknown then
            (none given, an open end, a comment; marked ``unknown``, never hidden).
            Sunrise and sunset are those at the station. Naive times are Asia/Shanghai.
        statuses
            Allowed record statuses; default all but ``closed``.
        max_distance_m
            Great-circle search radius.

        Returns
        -------
        list[NearestResult]
            Ordered by ``(distance_m, id)``, identical to a brute-force scan.
        """
        if type(lon) is float and type(lat) is float and type(k) is int and \
                -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0 and 1 <= k <= config.MAX_K:
            pass  # already valid (NaN fails the range tests)
        else:
            lon, lat, k = _check_query(lon, lat, k)
        if types is None and amenities is None and open_at is None and statuses is None \
                and max_distance_m is None:
            snap = self._snap
            if not snap.dn and snap.mid_tree is None and snap.tree is not None:
                res = self._plain(snap, snap.tree, lon, lat, k)
                if res is not None:
                    return res
        type_set = _codes(types, STATION_TYPES, "type") if types is not None else None
        need = 0
        if amenities is not None:
            for a in amenities:
                need |= AMENITY_BIT[AMENITIES.parse(a, field="amenity")]
        status_set = frozenset(STATUS_CODES.index(s) for s in
                               _codes(statuses, STATUSES, "status")) if statuses is not None \
            else _DEFAULT_STATUSES
        at = parse_when(open_at) if open_at is not None else None
        bound = math.inf
        if max_distance_m is not None:
            try:
                max_distance_m = float(max_distance_m)
            except (TypeError, ValueError):
                raise InvalidInput(f"max_distance_m: {max_distance_m!r} is not a number",
                                   field="max_distance_m") from None
            if not (max_distance_m > 0) or math.isinf(max_distance_m):
                raise InvalidInput("max_distance_m: must be a positive, finite number of metres",
                                   field="max_distance_m")
            bound = chord_for_m(max_distance_m) * (1 + 1e-9) + TIE_EPS

        snap = self._snap
        q = unit_xyz(lon, lat)
        hours = self._hours
        default_status = statuses is None
        plain = default_status and type_set is None and not need and at is None

        def accept(cols: Columns, i: int) -> bool:
            st = cols.mv_status[i]
            if default_status:
                if st == S_CLOSED:
                    return False
            elif st not in status_set:
                return False
            if plain:
                return True
            if type_set is not None and TYPE_CODES[cols.mv_type[i]] not in type_set:
                return False
            if need and (cols.mv_amen[i] & need) != need:
                return False
            if at is not None:
                if st != _S_OPEN:
                    return False
                h = hours.get(cols.mv_hours[i])
                # Kept unless the hours say closed then: "unknown" (an open end, a
                # comment) is kept and marked, as are stations without hours. Sunrise
                # and sunset are the station's own.
                if h is not None and h.is_closed(
                        at, position=(cols.mv_lon[i], cols.mv_lat[i]) if h.uses_position
                        else None):
                    return False
            return True

        if snap.tree is not None and type_set is None and not snap.dn \
                and snap.mid_tree is None:  # only the main tree: its cells may settle it
            got = cell_cache(snap.main, snap.tree).nearest(
                snap.main, lon, lat, k, snap.dead, True, keep=accept, max_d=max_distance_m)
            if got is not None:
                return [NearestResult(sid, d, snap.main, i, lon, lat, hours, at)
                        for d, sid, i in got]
        # (chord, cols, row) candidates, from the tree(s) and the delta buffer.
        cands: list[tuple[float, Columns, int]] = []
        if snap.tree is not None:
            if type_set is not None and len(type_set) < len(TYPE_CODES):
                for t in type_set:
                    tree, rows = snap.type_tree(TYPE_CODES.index(t))
                    if tree is not None:
                        cands.extend(search_tree(snap.main, snap.dead, tree, rows, q, k, bound,
                                             accept))
                cands.sort(key=first)
            else:
                cands = search_tree(snap.main, snap.dead, snap.tree, None, q, k, bound, accept)
        if snap.mid_tree is not None:
            cands.extend(search_tree(snap.mid, snap.mid_dead, snap.mid_tree, None, q, k, bound,
                                 accept))
            cands.sort(key=first)
        if snap.dn:
            cands = merge_delta(snap, cands, q, k, bound, accept)
        if not cands:
            return []
        # Every candidate within the k-th chord (plus tie slack) may rank in the top k.
        cut = cands[min(k, len(cands)) - 1][0] + TIE_EPS
        ranked = []
        for chord, cols, i in cands:
            if chord > cut:
                break
            d = haversine_m(lon, lat, cols.mv_lon[i], cols.mv_lat[i])
            if max_distance_m is not None and d > max_distance_m:
                continue
            ranked.append((d, cols.ids[i], cols, i))
        ranked.sort(key=_dist_id)
        return [NearestResult(sid, d, cols, i, lon, lat, hours, at)
                for d, sid, cols, i in ranked[:k]]

    def _plain(self, snap: Snapshot, tree: cKDTree, lon: float, lat: float, k: int
               ) -> list[NearestResult] | None:
        """:meth:`nearest` without filters and without pending inserts: every tree hit is
        a result unless tombstoned or closed. None when the fetched neighbours do not
        settle the answer (too many skipped, or a tie reaching past them). ``tree`` is
        ``snap.tree``."""
        main = snap.main
        dead = snap.dead
        hours = self._hours
        got = cell_cache(main, tree).nearest(main, lon, lat, k, dead, snap.has_closed)
        if got is not None:  # the cell's candidates settle it (see _cells)
            return [NearestResult(sid, d, main, i, lon, lat, hours, None)
                    for d, sid, i in got]
        n = tree.n
        kk = min(n, k + 1 + len(dead))
        if kk > 4 * k + 64:
            return None
        dist, idx = tree.query(np.array(unit_xyz(lon, lat)), k=kk)
        if kk == 1:
            dist, idx = [float(dist)], [int(idx)]
        else:
            dist, idx = dist.tolist(), idx.tolist()
        if dead or snap.has_closed:
            status = snap.main.mv_status
            pairs = [(d, i) for d, i in zip(dist, idx, strict=True)
                     if i not in dead and status[i] != S_CLOSED]
        else:
            pairs = list(zip(dist, idx, strict=True))
        if kk < n and (len(pairs) <= k or pairs[k][0] <= pairs[k - 1][0] + TIE_EPS):
            return None  # need more neighbours, or a tie at the k-th place: general path
        if not pairs:
            return []
        cut = pairs[min(k, len(pairs)) - 1][0] + TIE_EPS
        mv_lon, mv_lat, ids = main.mv_lon, main.mv_lat, main.ids
        ranked = [(haversine_m(lon, lat, mv_lon[i], mv_lat[i]), ids[i], i)
                  for d, i in pairs if d <= cut]
        ranked.sort(key=_dist_id)
        return [NearestResult(sid, d, main, i, lon, lat, hours, None)
                for d, sid, i in ranked[:k]]

    def nearest_many(self, lons, lats, k: int = 1, *, workers: int = 1
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised unfiltered k-nearest for many WGS-84 points.

        Returns
        -------
        ids, distances
            ``(n, k)`` arrays of station ids (object dtype, ``None`` where fewer than
            k stations exist) and great-circle metres (``inf`` there), ordered by
            ``(distance, id)`` as :meth:`nearest` with ``statuses`` = all. Metres come
            from the chord (2R asin(c/2), the same great circle as haversine, equal to
            it within micrometres).
        """
        lons = np.asarray(lons, dtype=np.float64).ravel()
        lats = np.asarray(lats, dtype=np.float64).ravel()
        if lons.shape != lats.shape:
            raise InvalidInput("lons and lats must have the same length")
        if not (np.isfinite(lons).all() and np.isfinite(lats).all()) or \
                (np.abs(lons) > 180).any() or (np.abs(lats) > 90).any():
            raise InvalidInput("lon/lat: every value must be finite, lon in -180..180 and "
                               "lat in -90..90", field="lon")
        k = _check_k(k)
        snap = self._snap
        m = len(lons)
        out_ids = np.full((m, k), None, dtype=object)
        out_d = np.full((m, k), np.inf)
        if m == 0 or snap.live_count() == 0:
            return out_ids, out_d
        q = unit_xyz_np(lons, lats)
        n = snap.n
        kk = min(n, k + 1)
        if snap.tree is not None:
            d, idx = snap.tree.query(q, k=kk, workers=workers)
            d = d.reshape(m, kk)
            idx = idx.reshape(m, kk)
        else:
            d = np.zeros((m, 0))
            idx = np.zeros((m, 0), dtype=np.intp)
        slow = np.zeros(m, dtype=bool)
        if snap.dead:
            slow |= np.isin(idx, np.fromiter(snap.dead, dtype=np.intp)).any(axis=1)
        if kk > 1:
            slow |= (np.diff(d, axis=1) <= TIE_EPS).any(axis=1)  # possible ties
        if snap.dn - len(snap.ddead) + len(snap.mid) - len(snap.mid_dead) > 0:
            dtree, _ = snap.extra_tree()
            assert dtree is not None  # there are live mid or delta rows
            dd, _ = dtree.query(q, k=1)
            kth = d[:, min(k, kk) - 1] if kk else np.full(m, np.inf)
            slow |= dd <= kth + TIE_EPS
            if kk < k:
                slow[:] = True
        kf = min(k, kk)
        if kf:
            ids_arr = snap.ids_arr()
            dist = 2.0 * _R * np.arcsin(np.minimum(d[:, :kf] * 0.5, 1.0))
            if slow.any():
                fast = ~slow
                out_ids[fast, :kf] = ids_arr[idx[fast, :kf]]
                out_d[fast, :kf] = dist[fast]
            else:
                out_ids[:, :kf] = ids_arr[idx[:, :kf]]
                out_d[:, :kf] = dist
        all_status = tuple(STATUS_CODES)
        for r in np.flatnonzero(slow).tolist():
            res = self.nearest(float(lons[r]), float(lats[r]), k, statuses=all_status)
            out_ids[r, :] = None
            out_d[r, :] = np.inf
            for c, hit in enumerate(res):
                out_ids[r, c] = hit.id
                out_d[r, c] = hit.distance_m
        return out_ids, out_d


_dist_id = operator.itemgetter(0, 1)


def _check_k(k: Any) -> int:
    try:
        kf = float(k)
    except (TypeError, ValueError):
        raise InvalidInput(f"k: {k!r} is not an integer; allowed 1..{config.MAX_K}",
                           field="k") from None
    if not kf.is_integer() or not 1 <= kf <= config.MAX_K:
        raise InvalidInput(f"k: {k!r} is out of range; allowed integers 1..{config.MAX_K}",
                           field="k")
    return int(kf)


def _check_query(lon: Any, lat: Any, k: Any) -> tuple[float, float, int]:
    for name, v in (("lon", lon), ("lat", lat)):
        try:
            fv = float(v)
        except (TypeError, ValueError):
            raise InvalidInput(f"{name}: {v!r} is not a number (WGS-84 degrees)",
                               field=name) from None
        if not math.isfinite(fv):
            raise InvalidInput(f"{name}: {v!r} is not a finite number", field=name)
    lon = float(lon)
    lat = float(lat)
    if not (-180.0 <= lon <= 180.0):
        raise InvalidInput(f"lon: {lon!r} is out of range; allowed -180..180", field="lon")
    if not (-90.0 <= lat <= 90.0):
        raise InvalidInput(f"lat: {lat!r} is out of range; allowed -90..90", field="lat")
    return lon, lat, _check_k(k)


def _codes(values: Iterable[str], vocab: Vocabulary, field: str) -> frozenset[str]:
    if isinstance(values, str):
        values = [values]
    return frozenset(vocab.parse(v, field=field) for v in values)

"""Exact nearest-station index ranked by great-circle distance.

How it works
------------
Stations are stored as unit vectors (ECEF on the unit sphere) in a
:class:`scipy.spatial.cKDTree`. The straight-line (chord) distance between two
unit vectors is a strictly increasing function of their great-circle distance,
so the k nearest by chord are the k nearest on the sphere: unlike an R-tree
over raw lon/lat degrees, this never ranks the wrong station first. Reported
distances are recomputed with the haversine formula and results are ordered by
``(distance_m, id)``, exactly as a brute-force scan would order them; ties at
the k-th place are resolved by widening the search until every tied station has
been seen.

Live changes
------------
The KD-tree is immutable. Inserts go to a small *delta* set searched by brute
force, and deletes (and the old copy of an updated station) become
*tombstones*. When delta plus tombstones pass ``compact_threshold``, a
background thread builds a new tree and swaps it in, replaying whatever
changed meanwhile.

Concurrency model: **immutable snapshots swapped under a lock.** All index
state lives in one :class:`_Snapshot`. Writers hold ``self._lock``, build a new
snapshot from the current one and publish it with a single attribute
assignment. Readers take ``self._snap`` once and use only that object, so they
never see a half-applied change and never block.
"""

from __future__ import annotations

import functools
import math
import operator
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from . import config
from .errors import InvalidInput, NotFound
from .geo import bearing_deg, chord_for_m, haversine_m, haversine_np, unit_xyz, unit_xyz_np
from .hours import OpeningHours, open_status, parse_hours
from .model import Station
from .time_util import parse_when
from .vocab import ACCESS, AMENITIES, AMENITY_BIT, STATION_TYPES, STATUSES

_STATUS_CODES = STATUSES.codes
_S_OPEN = _STATUS_CODES.index("open")
_S_CLOSED = _STATUS_CODES.index("closed")
_TYPE_CODES = STATION_TYPES.codes
_DEFAULT_STATUSES = frozenset(i for i in range(len(_STATUS_CODES)) if i != _S_CLOSED)
#: Two chord lengths closer than this count as a possible tie (about 6 micrometres).
_TIE_EPS = 1e-12
_R = config.EARTH_RADIUS_M


def _eta_minutes(distance_m: float, mode: str) -> float:
    speed = min(config.SPEEDS_KMH[mode], config.EBIKE_LEGAL_MAX_KMH)
    return distance_m * config.DETOUR_FACTOR / (speed * 1000.0 / 60.0)


class NearestResult:
    """One ranked answer of :meth:`StationIndex.nearest`.

    ``distance_m`` is the great-circle distance; ``eta_min`` estimates travel
    time per mode as straight line x :data:`config.DETOUR_FACTOR` at
    :data:`config.SPEEDS_KMH`. The other attributes are read from the index
    snapshot the query ran on; bearing, open status and navigation links are
    computed on first access.
    """

    __slots__ = ("id", "distance_m", "_cols", "_i", "_qlon", "_qlat", "_hours", "_at",
                 "_open", "_nav")

    def __init__(self, sid: str, dist: float, cols: _Columns, i: int, qlon: float, qlat: float,
                 hours: _HoursTable, at: datetime | None):
        self.id = sid
        self.distance_m = dist
        self._cols = cols
        self._i = i
        self._qlon = qlon
        self._qlat = qlat
        self._hours = hours
        self._at = at
        self._open: tuple[str, datetime | None] | None = None
        self._nav: dict[str, str] | None = None

    @property
    def lon(self) -> float:
        return self._cols.mv_lon[self._i]

    @property
    def lat(self) -> float:
        return self._cols.mv_lat[self._i]

    @property
    def name(self) -> str:
        names = self._cols.names
        return names[self._i] if names is not None else self.id

    @property
    def type(self) -> str:
        return _TYPE_CODES[self._cols.mv_type[self._i]]

    @property
    def status(self) -> str:
        return _STATUS_CODES[self._cols.mv_status[self._i]]

    @property
    def amenities(self) -> tuple[str, ...]:
        st = self.station
        if st is not None:
            return st.amenities
        m = self._cols.mv_amen[self._i]
        return tuple(c for c, b in AMENITY_BIT.items() if m & b)

    @property
    def station(self) -> Station | None:
        """The full record, when the index was built from :class:`Station` objects."""
        sts = self._cols.stations
        return sts[self._i] if sts is not None else None

    @property
    def bearing_deg(self) -> float:
        """Initial bearing from the query point, degrees clockwise from north."""
        return bearing_deg(self._qlon, self._qlat, self.lon, self.lat)

    @property
    def _origin(self) -> tuple[float, float]:
        return (self._qlon, self._qlat)

    def __repr__(self) -> str:
        return f"NearestResult(id={self.id!r}, distance_m={self.distance_m:.1f})"

    @property
    def eta_min(self) -> dict[str, float]:
        """Estimated minutes per mode (walk, bike, ebike)."""
        return {m: _eta_minutes(self.distance_m, m) for m in config.SPEEDS_KMH}

    def eta(self, mode: str = "walk") -> float:
        if mode not in config.SPEEDS_KMH:
            raise InvalidInput(f"mode: unknown mode {mode!r}; allowed: "
                               f"{', '.join(config.SPEEDS_KMH)}", field="mode")
        return _eta_minutes(self.distance_m, mode)

    def _open_state(self) -> tuple[str, datetime | None]:
        if self._open is None:
            if self.status != "open":
                self._open = ("closed", None)
            else:
                self._open = open_status(self._hours.get(self._cols.mv_hours[self._i]), self._at)
        return self._open

    @property
    def open_status(self) -> str:
        """``open``, ``closed`` or ``unknown`` (no hours) at the query time (default now)."""
        return self._open_state()[0]

    @property
    def next_change(self) -> datetime | None:
        """When :attr:`open_status` next flips, if known."""
        return self._open_state()[1]

    @property
    def opening_hours(self) -> str | None:
        h = self._hours.get(self._cols.mv_hours[self._i])
        return h.text if h is not None else None

    @property
    def nav_links(self) -> dict[str, str]:
        """Deep links for Amap, Baidu, Tencent (each in its own CRS) and OpenStreetMap."""
        if self._nav is None:
            from .navigation import nav_links

            self._nav = nav_links(self.lon, self.lat, self.name, origin=self._origin)
        return self._nav

    def nav_links_for(self, mode: str) -> dict[str, str]:
        from .navigation import nav_links

        return nav_links(self.lon, self.lat, self.name, origin=self._origin, mode=mode)

    def to_dict(self, *, mode: str = "walk", lang: str = "zh") -> dict[str, Any]:
        """A JSON-ready dict: the station's fields, labels in both languages, the point in
        GCJ-02/BD-09, and this query's distance, bearing, ETA, open status and links."""
        if mode not in config.SPEEDS_KMH:
            self.eta(mode)  # raises, naming the allowed modes
        d = dict(_static_part(self._cols, self._i))
        state, change = self._open_state()
        d.update(
            distance_m=round(self.distance_m, 3),
            bearing_deg=round(self.bearing_deg, 1),
            eta_min=round(_eta_minutes(self.distance_m, mode), 2),
            eta_min_by_mode={m: round(_eta_minutes(self.distance_m, m), 2)
                             for m in config.SPEEDS_KMH},
            mode=mode,
            open_status=state,
            next_change=change.isoformat() if change else None,
            opening_hours=self.opening_hours,
            nav_links=self.nav_links_for(mode),
        )
        return d


@functools.lru_cache(maxsize=32768)
def _static_part(cols: _Columns, i: int) -> dict[str, Any]:
    """The query-independent part of a result (cached: popular stations recur)."""
    from .navigation import app_coords

    sid = cols.ids[i]
    stype = _TYPE_CODES[cols.mv_type[i]]
    st = cols.stations[i] if cols.stations is not None else None
    amen = st.amenities if st is not None else tuple(
        c for c, b in AMENITY_BIT.items() if cols.mv_amen[i] & b)
    lon, lat = cols.mv_lon[i], cols.mv_lat[i]
    d: dict[str, Any] = {
        "id": sid,
        "name": cols.names[i] if cols.names is not None else sid,
        "type": stype,
        "type_zh": STATION_TYPES[stype].zh,
        "type_en": STATION_TYPES[stype].en,
        "lon": lon,
        "lat": lat,
        "coords": app_coords(lon, lat),
        "status": _STATUS_CODES[cols.mv_status[i]],
        "amenities": list(amen),
        "amenity_labels": [{"code": a, "zh": AMENITIES[a].zh, "en": AMENITIES[a].en}
                           for a in amen],
    }
    if st is not None:
        d.update(address=st.address, phone=st.phone, access=st.access,
                 access_zh=ACCESS[st.access].zh, access_en=ACCESS[st.access].en,
                 district_adcode=st.district_adcode, district_name=st.district_name,
                 operator=st.operator, source=st.source,
                 verified_date=st.verified_date.isoformat() if st.verified_date else None)
    return d


@dataclass(frozen=True, slots=True, eq=False)  # eq=False: hashed by identity
class _Columns:
    """Columnar station attributes; row i belongs to ``ids[i]``."""

    ids: list[str]
    lon: np.ndarray
    lat: np.ndarray
    xyz: np.ndarray
    type_i: np.ndarray  # int8 index into STATION_TYPES.codes
    amen: np.ndarray  # int32 amenity bitmask
    status_i: np.ndarray  # int8 index into STATUSES.codes
    hours_i: np.ndarray  # int32 index into the hours table, -1 = unknown
    names: list[str] | None
    stations: list[Station] | None
    # Zero-copy memoryviews: indexing one gives a plain Python number, several times
    # faster than indexing the numpy array (this is the single-query hot path).
    mv_lon: memoryview = field(init=False, repr=False)
    mv_lat: memoryview = field(init=False, repr=False)
    mv_type: memoryview = field(init=False, repr=False)
    mv_amen: memoryview = field(init=False, repr=False)
    mv_status: memoryview = field(init=False, repr=False)
    mv_hours: memoryview = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name, arr in (("mv_lon", self.lon), ("mv_lat", self.lat), ("mv_type", self.type_i),
                          ("mv_amen", self.amen), ("mv_status", self.status_i),
                          ("mv_hours", self.hours_i)):
            object.__setattr__(self, name, memoryview(np.ascontiguousarray(arr)))

    def __len__(self) -> int:
        return len(self.ids)


_EMPTY_F = np.zeros(0)


def _columns_from_stations(stations: Sequence[Station], hours_table: _HoursTable) -> _Columns:
    n = len(stations)
    lon = np.fromiter((s.lon for s in stations), dtype=np.float64, count=n)
    lat = np.fromiter((s.lat for s in stations), dtype=np.float64, count=n)
    return _Columns(
        ids=[s.id for s in stations],
        lon=lon,
        lat=lat,
        xyz=unit_xyz_np(lon, lat) if n else np.zeros((0, 3)),
        type_i=np.fromiter((_TYPE_CODES.index(s.type) for s in stations), np.int8, n),
        amen=np.fromiter((_mask(s.amenities) for s in stations), np.int32, n),
        status_i=np.fromiter((_STATUS_CODES.index(s.status) for s in stations), np.int8, n),
        hours_i=np.fromiter((hours_table.code(s.opening_hours) for s in stations), np.int32, n),
        names=[s.name for s in stations],
        stations=list(stations),
    )


def _mask(codes: Iterable[str]) -> int:
    m = 0
    for c in codes:
        m |= AMENITY_BIT[c]
    return m


class _HoursTable:
    """Distinct opening-hours strings, parsed once; append-only and thread-safe."""

    def __init__(self) -> None:
        self.items: list[OpeningHours] = []
        self._codes: dict[str, int] = {}
        self._lock = threading.Lock()

    def code(self, text: str | None) -> int:
        if not text:
            return -1
        c = self._codes.get(text)
        if c is None:
            with self._lock:
                c = self._codes.get(text)
                if c is None:
                    self.items.append(parse_hours(text))
                    c = len(self.items) - 1
                    self._codes[text] = c
        return c

    def get(self, code: int) -> OpeningHours | None:
        return None if code < 0 else self.items[code]


class _Snapshot:
    """Immutable view of the whole index (see the module docstring)."""

    __slots__ = ("main", "tree", "pos", "dead", "delta", "delta_xyz", "delta_pos", "version",
                 "_type_trees", "_delta_tree")

    def __init__(self, main: _Columns, tree: cKDTree | None, pos: dict[str, int],
                 dead: frozenset[int], delta: tuple[_Columns, ...], version: int):
        self.main = main
        self.tree = tree
        self.pos = pos
        self.dead = dead
        self.delta = delta  # each a 1-row _Columns
        self.delta_xyz = (np.vstack([d.xyz for d in delta]) if delta else np.zeros((0, 3)))
        self.delta_pos = {d.ids[0]: j for j, d in enumerate(delta)}
        self.version = version
        self._type_trees: dict[int, tuple[cKDTree, np.ndarray]] = {}
        self._delta_tree: cKDTree | None = None

    def type_tree(self, t: int) -> tuple[cKDTree | None, np.ndarray]:
        got = self._type_trees.get(t)
        if got is None:
            rows = np.flatnonzero(self.main.type_i == t)
            tree = cKDTree(self.main.xyz[rows]) if len(rows) else None
            got = (tree, rows)
            self._type_trees[t] = got
        return got

    def delta_tree(self) -> cKDTree | None:
        if self._delta_tree is None and self.delta:
            self._delta_tree = cKDTree(self.delta_xyz)
        return self._delta_tree

    def live_count(self) -> int:
        return len(self.main) - len(self.dead) + len(self.delta)


class StationIndex:
    """Exact k-nearest-station search with filters and live updates.

    Parameters
    ----------
    stations
        The stations to index (ids must be unique).
    compact_threshold
        Pending inserts plus deletes that trigger a background rebuild.
    """

    def __init__(self, stations: Iterable[Station] = (), *, compact_threshold: int = 512):
        stations = list(stations)
        seen: set[str] = set()
        for s in stations:
            if s.id in seen:
                raise InvalidInput(f"id: duplicate station id {s.id!r}", field="id")
            seen.add(s.id)
        self._hours = _HoursTable()
        self._lock = threading.RLock()
        self._log: list[tuple[int, str, Station | None]] = []
        self._compacting = False
        self._compact_thread: threading.Thread | None = None
        self.compact_threshold = compact_threshold
        self._snap = self._build(_columns_from_stations(stations, self._hours), version=0)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_arrays(cls, ids: Sequence[str], lons, lats, *, types: Sequence[str] | None = None,
                    names: Sequence[str] | None = None, amenity_masks=None,
                    compact_threshold: int = 512) -> StationIndex:
        """Build from plain arrays (no :class:`Station` objects): the compact form
        for millions of points. All stations get status ``open`` and unknown hours
        unless given otherwise later through :meth:`upsert`."""
        self = cls.__new__(cls)
        self._hours = _HoursTable()
        self._lock = threading.RLock()
        self._log = []
        self._compacting = False
        self._compact_thread = None
        self.compact_threshold = compact_threshold
        lon = np.ascontiguousarray(lons, dtype=np.float64)
        lat = np.ascontiguousarray(lats, dtype=np.float64)
        n = len(lon)
        ids = list(ids)
        if len(set(ids)) != n or len(lat) != n:
            raise InvalidInput("ids, lons and lats must have the same length and unique ids")
        type_i = (np.zeros(n, np.int8) if types is None
                  else np.array([_TYPE_CODES.index(t) for t in types], dtype=np.int8))
        cols = _Columns(
            ids=ids, lon=lon, lat=lat, xyz=unit_xyz_np(lon, lat), type_i=type_i,
            amen=(np.zeros(n, np.int32) if amenity_masks is None
                  else np.asarray(amenity_masks, dtype=np.int32)),
            status_i=np.full(n, _S_OPEN, np.int8), hours_i=np.full(n, -1, np.int32),
            names=list(names) if names is not None else None, stations=None,
        )
        self._snap = self._build(cols, version=0)
        return self

    @staticmethod
    def _build(cols: _Columns, *, version: int) -> _Snapshot:
        tree = cKDTree(cols.xyz, balanced_tree=False, compact_nodes=False) if len(cols) else None
        pos = {sid: i for i, sid in enumerate(cols.ids)}
        return _Snapshot(cols, tree, pos, frozenset(), (), version)

    # ---------------------------------------------------------------- reading
    def __len__(self) -> int:
        return self._snap.live_count()

    def __contains__(self, sid: object) -> bool:
        return self._locate(self._snap, sid) is not None

    @staticmethod
    def _locate(snap: _Snapshot, sid: Any) -> tuple[_Columns, int] | None:
        j = snap.delta_pos.get(sid)
        if j is not None:
            return snap.delta[j], 0
        i = snap.pos.get(sid)
        if i is not None and i not in snap.dead:
            return snap.main, i
        return None

    def get(self, sid: str) -> Station:
        """The indexed :class:`Station` with this id (``NotFound`` otherwise)."""
        got = self._locate(self._snap, sid)
        if got is None or got[0].stations is None:
            raise NotFound(f"station {sid!r} is not in the index")
        return got[0].stations[got[1]]

    def ids(self) -> list[str]:
        snap = self._snap
        out = [sid for i, sid in enumerate(snap.main.ids) if i not in snap.dead]
        out.extend(d.ids[0] for d in snap.delta)
        return out

    def stations(self) -> list[Station]:
        snap = self._snap
        out: list[Station] = []
        if snap.main.stations is not None:
            out = [s for i, s in enumerate(snap.main.stations) if i not in snap.dead]
        out.extend(d.stations[0] for d in snap.delta if d.stations)
        return out

    def select(self, *, bbox: tuple[float, float, float, float] | None = None,
               types: Iterable[str] | None = None, district: str | None = None,
               statuses: Iterable[str] | None = None) -> list[Station]:
        """Indexed stations inside a WGS-84 box (inclusive) and matching the filters,
        ordered by id. ``statuses`` defaults to all."""
        type_set = _codes(types, STATION_TYPES, "type") if types else None
        status_set = _codes(statuses, STATUSES, "status") if statuses else None
        snap = self._snap
        main = snap.main
        out: list[Station] = []
        if main.stations is not None and len(main):
            mask = np.ones(len(main), dtype=bool)
            if bbox is not None:
                x0, y0, x1, y1 = bbox
                mask &= (main.lon >= x0) & (main.lon <= x1) & (main.lat >= y0) & (main.lat <= y1)
            if type_set is not None:
                mask &= np.isin(main.type_i, [_TYPE_CODES.index(t) for t in type_set])
            if status_set is not None:
                mask &= np.isin(main.status_i, [_STATUS_CODES.index(t) for t in status_set])
            if snap.dead:
                mask[np.fromiter(snap.dead, dtype=np.intp)] = False
            out = [main.stations[i] for i in np.flatnonzero(mask).tolist()]
        for d in snap.delta:
            s = d.stations[0] if d.stations else None
            if s is None:
                continue
            if bbox is not None and not (bbox[0] <= s.lon <= bbox[2] and
                                         bbox[1] <= s.lat <= bbox[3]):
                continue
            if (type_set is not None and s.type not in type_set) or \
                    (status_set is not None and s.status not in status_set):
                continue
            out.append(s)
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
            Keep stations open at this time, plus those with unknown hours (marked
            ``unknown``, never hidden). Naive times are Asia/Shanghai.
        statuses
            Allowed record statuses; default all but ``closed``.
        max_distance_m
            Great-circle search radius.

        Returns
        -------
        list[NearestResult]
            Ordered by ``(distance_m, id)``, identical to a brute-force scan.
        """
        lon, lat, k = _check_query(lon, lat, k)
        type_set = _codes(types, STATION_TYPES, "type") if types is not None else None
        need = 0
        if amenities is not None:
            for a in amenities:
                need |= AMENITY_BIT[AMENITIES.parse(a, field="amenity")]
        status_set = frozenset(_STATUS_CODES.index(s) for s in
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
            bound = chord_for_m(max_distance_m) * (1 + 1e-9) + _TIE_EPS

        snap = self._snap
        q = unit_xyz(lon, lat)
        hours = self._hours
        default_status = statuses is None
        plain = default_status and type_set is None and not need and at is None

        def accept(cols: _Columns, i: int) -> bool:
            st = cols.mv_status[i]
            if default_status:
                if st == _S_CLOSED:
                    return False
            elif st not in status_set:
                return False
            if plain:
                return True
            if type_set is not None and _TYPE_CODES[cols.mv_type[i]] not in type_set:
                return False
            if need and (cols.mv_amen[i] & need) != need:
                return False
            if at is not None:
                if st != _S_OPEN:
                    return False
                h = hours.get(cols.mv_hours[i])
                if h is not None and not h.is_open(at):
                    return False
            return True

        # (chord, cols, row) candidates, from the tree(s) and the delta set.
        cands: list[tuple[float, _Columns, int]] = []
        if snap.tree is not None:
            if type_set is not None and len(type_set) < len(_TYPE_CODES):
                for t in type_set:
                    tree, rows = snap.type_tree(_TYPE_CODES.index(t))
                    if tree is not None:
                        cands.extend(self._search(snap, tree, rows, q, k, bound, accept))
            else:
                cands.extend(self._search(snap, snap.tree, None, q, k, bound, accept))
        if snap.delta:
            dd = np.sqrt(((snap.delta_xyz - q) ** 2).sum(axis=1))
            for j in np.flatnonzero(dd <= bound).tolist():
                cols = snap.delta[j]
                if accept(cols, 0):
                    cands.append((float(dd[j]), cols, 0))
        if not cands:
            return []
        cands.sort(key=_first)
        # Every candidate within the k-th chord (plus tie slack) may rank in the top k.
        cut = cands[min(k, len(cands)) - 1][0] + _TIE_EPS
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

    @staticmethod
    def _search(snap: _Snapshot, tree: cKDTree, rows: np.ndarray | None,
                q: tuple[float, float, float], k: int, bound: float, accept
                ) -> list[tuple[float, _Columns, int]]:
        """Accepted tree candidates in chord order, enough to fix the top k and all ties
        at the k-th."""
        n = tree.n
        dead = snap.dead
        kk = min(n, k + 1 + (len(dead) if len(dead) < 64 else 0))
        main = snap.main
        qa = np.array(q)
        while True:
            # an ndarray query point and no infinite bound keep scipy on its fast path
            if bound == math.inf:
                dist, idx = tree.query(qa, k=kk)
            else:
                dist, idx = tree.query(qa, k=kk, distance_upper_bound=bound)
            if kk == 1:
                dist, idx = [float(dist)], [int(idx)]
            else:
                dist, idx = dist.tolist(), idx.tolist()
            got: list[tuple[float, _Columns, int]] = []
            last = 0.0
            exhausted = False
            for d, i in zip(dist, idx):
                if i >= n:  # beyond the distance bound
                    exhausted = True
                    break
                last = d
                r = i if rows is None else int(rows[i])
                if (dead and r in dead) or not accept(main, r):
                    continue
                got.append((d, main, r))
            if exhausted or kk >= n:
                return got
            # Done when k were accepted and the farthest seen is past the k-th (no tie cut off).
            if len(got) >= k and last > got[k - 1][0] + _TIE_EPS:
                return got
            kk = min(n, max(kk * 4, 64))

    def nearest_many(self, lons, lats, k: int = 1, *, workers: int = 1
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised unfiltered k-nearest for many WGS-84 points.

        Returns
        -------
        ids, distances
            ``(n, k)`` arrays of station ids (object dtype, ``None`` where fewer than
            k stations exist) and great-circle metres (``inf`` there). Rows are ordered
            by ``(distance, id)`` exactly as :meth:`nearest` with ``statuses`` = all.
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
        main = snap.main
        n = len(main)
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
            dead_arr = np.fromiter(snap.dead, dtype=np.intp)
            slow |= np.isin(idx, dead_arr).any(axis=1)
        if kk > 1:
            slow |= (np.diff(d, axis=1) <= _TIE_EPS).any(axis=1)  # possible ties
        if snap.delta:
            dtree = snap.delta_tree()
            dd, _ = dtree.query(q, k=1)
            kth = d[:, min(k, kk) - 1] if kk else np.full(m, np.inf)
            slow |= dd <= kth + _TIE_EPS
            if kk < k:
                slow[:] = True
        elif kk < k:
            # fewer stations than k: the fast path fills what exists
            pass
        fast = ~slow
        kf = min(k, kk)
        if fast.any() and kf:
            fi = idx[fast, :kf]
            ids_arr = np.asarray(main.ids, dtype=object)
            out_ids[fast, :kf] = ids_arr[fi]
            out_d[fast, :kf] = haversine_np(lons[fast, None], lats[fast, None],
                                            main.lon[fi], main.lat[fi])
        all_status = tuple(_STATUS_CODES)
        for r in np.flatnonzero(slow).tolist():
            res = self.nearest(float(lons[r]), float(lats[r]), k, statuses=all_status)
            for c, hit in enumerate(res):
                out_ids[r, c] = hit.id
                out_d[r, c] = hit.distance_m
        return out_ids, out_d

    # ---------------------------------------------------------------- writing
    def upsert(self, station: Station) -> None:
        """Insert a station, or replace the one with the same id. Visible to the next query."""
        with self._lock:
            self._apply(station.id, station)
            self._log.append((self._snap.version, station.id, station))
            self._maybe_compact()

    insert = upsert
    update = upsert

    def delete(self, sid: str) -> None:
        """Remove a station (``NotFound`` if it is not indexed)."""
        with self._lock:
            if self._locate(self._snap, sid) is None:
                raise NotFound(f"station {sid!r} is not in the index")
            self._apply(sid, None)
            self._log.append((self._snap.version, sid, None))
            self._maybe_compact()

    def _apply(self, sid: str, station: Station | None) -> None:
        snap = self._snap
        dead = snap.dead
        delta = snap.delta
        j = snap.delta_pos.get(sid)
        if j is not None:
            delta = delta[:j] + delta[j + 1:]
        else:
            i = snap.pos.get(sid)
            if i is not None and i not in dead:
                dead = dead | {i}
        if station is not None:
            delta = delta + (_columns_from_stations([station], self._hours),)
        self._snap = _Snapshot(snap.main, snap.tree, snap.pos, dead, delta, snap.version + 1)

    def _maybe_compact(self) -> None:
        snap = self._snap
        if len(snap.delta) + len(snap.dead) < self.compact_threshold or self._compacting:
            return
        self._compacting = True
        self._compact_thread = threading.Thread(target=self._compact_from, args=(snap,),
                                                name="station-index-compact", daemon=True)
        self._compact_thread.start()

    def compact(self) -> None:
        """Fold pending changes into a fresh tree now (blocks until done)."""
        t = self._compact_thread
        if t is not None:
            t.join()
        with self._lock:
            self._compacting = True
            snap = self._snap
        self._compact_from(snap)

    def _compact_from(self, snap: _Snapshot) -> None:
        try:
            main = snap.main
            keep = np.ones(len(main), dtype=bool)
            if snap.dead:
                keep[np.fromiter(snap.dead, dtype=np.intp)] = False
            rows = np.flatnonzero(keep)
            parts = [_take(main, rows)] + list(snap.delta)
            cols = _concat(parts)
            fresh = self._build(cols, version=snap.version)
            with self._lock:
                pending = [e for e in self._log if e[0] >= snap.version]
                self._snap = fresh
                self._log = []
                for _, sid, st in pending:
                    self._apply(sid, st)
                    self._log.append((self._snap.version, sid, st))
        finally:
            self._compacting = False


def _take(cols: _Columns, rows: np.ndarray) -> _Columns:
    return _Columns(
        ids=[cols.ids[i] for i in rows.tolist()], lon=cols.lon[rows], lat=cols.lat[rows],
        xyz=cols.xyz[rows], type_i=cols.type_i[rows], amen=cols.amen[rows],
        status_i=cols.status_i[rows], hours_i=cols.hours_i[rows],
        names=[cols.names[i] for i in rows.tolist()] if cols.names is not None else None,
        stations=[cols.stations[i] for i in rows.tolist()] if cols.stations is not None
        else None,
    )


def _concat(parts: list[_Columns]) -> _Columns:
    has_names = all(p.names is not None for p in parts)
    has_st = all(p.stations is not None for p in parts)
    return _Columns(
        ids=[i for p in parts for i in p.ids],
        lon=np.concatenate([p.lon for p in parts]), lat=np.concatenate([p.lat for p in parts]),
        xyz=np.concatenate([p.xyz for p in parts]) if parts else np.zeros((0, 3)),
        type_i=np.concatenate([p.type_i for p in parts]),
        amen=np.concatenate([p.amen for p in parts]),
        status_i=np.concatenate([p.status_i for p in parts]),
        hours_i=np.concatenate([p.hours_i for p in parts]),
        names=[x for p in parts for x in p.names] if has_names else None,  # type: ignore[union-attr]
        stations=[x for p in parts for x in p.stations] if has_st else None,  # type: ignore[union-attr]
    )


def _first(c: tuple) -> float:
    return c[0]


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


def _codes(values: Iterable[str] | None, vocab, field: str) -> frozenset[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    return frozenset(vocab.parse(v, field=field) for v in values)

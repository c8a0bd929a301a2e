"""Columnar station storage for the index: numpy columns plus zero-copy memoryviews.

Internal to :mod:`locator.index.station_index`. A :class:`Columns` is immutable once published in
a snapshot, except that *delta buffers* (see :func:`new_buffer`) have spare capacity
that writers fill beyond every published snapshot's row count.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..geo import unit_xyz_np
from ..stations.hours import OpeningHours, parse_hours
from ..stations.model import Station
from ..stations.rows import LazyStations, amenity_codes, field_values
from ..stations.vocab import AMENITY_BIT, STATION_TYPES, STATUSES

TYPE_CODES = STATION_TYPES.codes
STATUS_CODES = STATUSES.codes


# eq=False: hashed by identity; weakref_slot (3.11+) lets tests watch the columns be freed
@dataclass(frozen=True, slots=True, eq=False,
           **({"weakref_slot": True} if sys.version_info >= (3, 11) else {}))
class Columns:
    """Columnar station attributes; row i belongs to ``ids[i]``. ``len()`` is the row
    capacity, which for a delta buffer exceeds the rows written so far."""

    ids: list[str]
    lon: np.ndarray  # float64, WGS-84
    lat: np.ndarray
    xyz: np.ndarray
    type_i: np.ndarray  # int8 index into STATION_TYPES.codes
    amen: np.ndarray  # int32 amenity bitmask
    status_i: np.ndarray  # int8 index into STATUSES.codes
    hours_i: np.ndarray  # int32 index into the hours table, -1 = unknown
    names: list[str] | None
    stations: list[Station] | LazyStations | None
    # Zero-copy memoryviews: indexing one gives a plain Python number, several times
    # faster than indexing the numpy array (this is the single-query hot path).
    mv_lon: memoryview = field(init=False, repr=False)
    mv_lat: memoryview = field(init=False, repr=False)
    mv_type: memoryview = field(init=False, repr=False)
    mv_amen: memoryview = field(init=False, repr=False)
    mv_status: memoryview = field(init=False, repr=False)
    mv_hours: memoryview = field(init=False, repr=False)
    #: Facts derived from the (immutable) rows, computed once on demand.
    memo: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name, arr in (("mv_lon", self.lon), ("mv_lat", self.lat), ("mv_type", self.type_i),
                          ("mv_amen", self.amen), ("mv_status", self.status_i),
                          ("mv_hours", self.hours_i)):
            # numpy's stubs declare ndarray.__buffer__ for Python >= 3.12 only
            mv = memoryview(np.ascontiguousarray(arr))  # type: ignore[arg-type]
            object.__setattr__(self, name, mv)

    def __len__(self) -> int:
        return len(self.lon)


def columns_from_stations(stations: Sequence[Station], hours_table: HoursTable) -> Columns:
    """Columns of ``stations``; a :class:`~locator.stations.rows.LazyStations` stays
    lazy (its raw rows give the columns, no station is built)."""
    n = len(stations)
    lon = np.fromiter(field_values(stations, "lon"), dtype=np.float64, count=n)
    lat = np.fromiter(field_values(stations, "lat"), dtype=np.float64, count=n)
    type_index, status_index = {t: i for i, t in enumerate(TYPE_CODES)}, \
        {t: i for i, t in enumerate(STATUS_CODES)}
    return Columns(
        ids=field_values(stations, "id"),
        lon=lon,
        lat=lat,
        xyz=unit_xyz_np(lon, lat) if n else np.zeros((0, 3)),
        type_i=np.fromiter((type_index[t] for t in field_values(stations, "type")), np.int8, n),
        amen=np.fromiter(_masks(field_values(stations, "amenities")), np.int32, n),
        status_i=np.fromiter((status_index[t] for t in field_values(stations, "status")),
                             np.int8, n),
        hours_i=np.fromiter((hours_table.code(h) for h in field_values(stations,
                                                                       "opening_hours")),
                            np.int32, n),
        names=field_values(stations, "name"),
        stations=stations if isinstance(stations, LazyStations) else list(stations),
    )


def _masks(values: Iterable[str | tuple[str, ...]]) -> Iterator[int]:
    """The amenity bitmask of each value (codes or a raw row's text), each distinct value
    computed once (a city has a few hundred combinations)."""
    memo: dict[str | tuple[str, ...], int] = {}
    for v in values:
        m = memo.get(v)
        if m is None:
            m = memo[v] = mask_of(amenity_codes(v))
        yield m


def mask_of(codes: Iterable[str]) -> int:
    m = 0
    for c in codes:
        m |= AMENITY_BIT[c]
    return m


class HoursTable:
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


def new_buffer(capacity: int, *, with_stations: bool = True) -> Columns:
    """Empty delta buffer with room for ``capacity`` rows (lists start empty)."""
    return Columns(
        ids=[], lon=np.zeros(capacity), lat=np.zeros(capacity), xyz=np.zeros((capacity, 3)),
        type_i=np.zeros(capacity, np.int8), amen=np.zeros(capacity, np.int32),
        status_i=np.zeros(capacity, np.int8), hours_i=np.full(capacity, -1, np.int32),
        names=[], stations=[] if with_stations else None,
    )


def grow_buffer(buf: Columns, used: int) -> Columns:
    """A copy of the first ``used`` rows of ``buf`` with twice the capacity."""
    cap = max(2 * len(buf.lon), 64)
    new = new_buffer(cap, with_stations=buf.stations is not None)
    for name in ("lon", "lat", "xyz", "type_i", "amen", "status_i", "hours_i"):
        getattr(new, name)[:used] = getattr(buf, name)[:used]
    new.ids.extend(buf.ids[:used])
    if new.names is not None and buf.names is not None:  # always, in a delta buffer
        new.names.extend(buf.names[:used])
    if new.stations is not None and buf.stations is not None:
        assert isinstance(new.stations, list)  # a delta buffer's list
        new.stations.extend(buf.stations[:used])
    return new


def write_row(buf: Columns, slot: int, s: Station, hours: HoursTable) -> None:
    """Fill row ``slot`` (== the number of rows written so far) with station ``s``."""
    buf.lon[slot] = s.lon
    buf.lat[slot] = s.lat
    buf.xyz[slot] = unit_xyz_np([s.lon], [s.lat])[0]
    buf.type_i[slot] = TYPE_CODES.index(s.type)
    buf.amen[slot] = mask_of(s.amenities)
    buf.status_i[slot] = STATUS_CODES.index(s.status)
    buf.hours_i[slot] = hours.code(s.opening_hours)
    buf.ids.append(s.id)
    if buf.names is not None:  # always, in a delta buffer
        buf.names.append(s.name)
    if buf.stations is not None:
        assert isinstance(buf.stations, list)  # a delta buffer's list
        buf.stations.append(s)


def take(cols: Columns, rows: np.ndarray) -> Columns:
    r = rows.tolist()
    return Columns(
        ids=[cols.ids[i] for i in r], lon=cols.lon[rows], lat=cols.lat[rows],
        xyz=cols.xyz[rows], type_i=cols.type_i[rows], amen=cols.amen[rows],
        status_i=cols.status_i[rows], hours_i=cols.hours_i[rows],
        names=[cols.names[i] for i in r] if cols.names is not None else None,
        stations=(None if cols.stations is None else cols.stations.take(r)
                  if isinstance(cols.stations, LazyStations) else
                  [cols.stations[i] for i in r]),
    )


def concat(a: Columns, n_a: int, b: Columns, rows_b: np.ndarray) -> Columns:
    """The first ``n_a`` rows of ``a`` followed by rows ``rows_b`` of ``b`` (C-level copies
    only, so that a background compaction seldom holds the GIL for long)."""
    rb = rows_b.tolist()
    ids_b = [b.ids[i] for i in rb]
    names = None
    if a.names is not None and b.names is not None:
        names = a.names[:n_a] + [b.names[i] for i in rb]
    stations = None
    if a.stations is not None and b.stations is not None:
        stations = a.stations[:n_a] + [b.stations[i] for i in rb]
    return Columns(
        ids=a.ids[:n_a] + ids_b,
        lon=np.concatenate([a.lon[:n_a], b.lon[rows_b]]),
        lat=np.concatenate([a.lat[:n_a], b.lat[rows_b]]),
        xyz=np.concatenate([a.xyz[:n_a], b.xyz[rows_b]]),
        type_i=np.concatenate([a.type_i[:n_a], b.type_i[rows_b]]),
        amen=np.concatenate([a.amen[:n_a], b.amen[rows_b]]),
        status_i=np.concatenate([a.status_i[:n_a], b.status_i[rows_b]]),
        hours_i=np.concatenate([a.hours_i[:n_a], b.hours_i[rows_b]]),
        names=names, stations=stations,
    )

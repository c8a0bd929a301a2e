"""Result objects of nearest-station queries."""

from __future__ import annotations

import functools
import time as _time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Literal, NamedTuple

from .. import config
from ..errors import InvalidInput
from ..geo import bearing_deg
from ..stations.freshness import Freshness, freshness
from ..stations.hours import OpeningHours, open_status, state_now
from ..stations.model import Station
from ..stations.vocab import ACCESS, AMENITIES, AMENITY_BIT, STATION_TYPES
from ..time_util import local_today, now
from ._columns import STATUS_CODES, TYPE_CODES, Columns, HoursTable

_S_OPEN = STATUS_CODES.index("open")


def eta_minutes(distance_m: float, mode: str) -> float:
    speed = min(config.SPEEDS_KMH[mode], config.EBIKE_LEGAL_MAX_KMH)
    return distance_m * config.DETOUR_FACTOR / (speed * 1000.0 / 60.0)


#: "Closes in N minutes" is said when a station closes within this many minutes of the
#: rider's arrival.
CLOSING_SOON_MIN = 30


class Arrival(NamedTuple):
    """Whether a station will be open when the rider gets there.

    ``at`` is the query time (``open_at``, else the current minute) plus the travel
    time ``minutes`` of the mode, to the minute (the minute the rider arrives in);
    ``open`` is True, False, or None when the hours are
    unknown (never the same as closed); ``closes_in_min`` counts the whole minutes from
    arrival to closing when that is at most :data:`CLOSING_SOON_MIN`, else None.
    """

    at: datetime
    minutes: float
    open: bool | None
    closes_in_min: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"minutes": round(self.minutes, 2), "at": self.at.isoformat(timespec="seconds"),
                "open": self.open, "closes_in_min": self.closes_in_min}


#: Rank of each arrival state for ``prefer=open_on_arrival``: open, unknown, closed.
_ARRIVAL_RANK = {True: 0, None: 1, False: 2}
_SOON = timedelta(minutes=CLOSING_SOON_MIN)


class NearestResult:
    """One ranked answer of :meth:`StationIndex.nearest`.

    ``distance_m`` is the great-circle distance; ``eta_min`` estimates travel
    time per mode as straight line x :data:`config.DETOUR_FACTOR` at
    :data:`config.SPEEDS_KMH`. The other attributes are read from the index
    snapshot the query ran on; bearing, open status and navigation links are
    computed on first access.
    """

    __slots__ = ("id", "distance_m", "_cols", "_i", "_qlon", "_qlat", "_hours", "_at",
                 "_open", "_arrival")

    def __init__(self, sid: str, dist: float, cols: Columns, i: int, qlon: float, qlat: float,
                 hours: HoursTable, at: datetime | None):
        self.id = sid
        self.distance_m = dist
        self._cols = cols
        self._i = i
        self._qlon = qlon
        self._qlat = qlat
        self._hours = hours
        self._at = at
        self._open: tuple[str, datetime | None] | None = None
        self._arrival: tuple[str, Arrival] | None = None

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
        return TYPE_CODES[self._cols.mv_type[self._i]]

    @property
    def status(self) -> str:
        return STATUS_CODES[self._cols.mv_status[self._i]]

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
    def reported_closed(self) -> bool:
        """Whether riders' reports mark the station "reported closed" (until a reviewer
        acts on them)."""
        st = self.station
        return st is not None and st.reported_closed_at is not None

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
        return {m: eta_minutes(self.distance_m, m) for m in config.SPEEDS_KMH}

    def eta(self, mode: str = "walk") -> float:
        if mode not in config.SPEEDS_KMH:
            raise InvalidInput(f"mode: unknown mode {mode!r}; allowed: "
                               f"{', '.join(config.SPEEDS_KMH)}", field="mode")
        return eta_minutes(self.distance_m, mode)

    def _open_state(self) -> tuple[str, datetime | None]:
        if self._open is None:
            cols, i = self._cols, self._i
            if cols.mv_status[i] != _S_OPEN:
                self._open = ("closed", None)
            else:
                h = self._hours.get(cols.mv_hours[i])
                if h is None:
                    self._open = ("unknown", None)
                elif self._at is None:  # now: the per-minute cached answer
                    self._open = state_now(h)
                else:
                    self._open = open_status(h, self._at)
        return self._open

    def arrival(self, mode: str = "walk") -> Arrival:
        """Open on arrival: the query time (``open_at``, else the current minute) plus
        the travel time of ``mode``, to the minute, and the station's state then."""
        got = self._arrival
        if got is not None and got[0] == mode:
            return got[1]
        if mode not in config.SPEEDS_KMH:
            self.eta(mode)  # raises, naming the allowed modes
        minutes = eta_minutes(self.distance_m, mode)
        at, is_open, soon, _ = self._arrival_state(minutes)
        arr = Arrival(at, minutes, is_open, soon)
        self._arrival = (mode, arr)
        return arr

    def _arrival_state(self, minutes: float) -> tuple[datetime, bool | None, int | None, bytes]:
        base = self._at if self._at is not None else _this_minute()
        cols, i = self._cols, self._i
        hours = self._hours.get(cols.mv_hours[i]) if cols.mv_status[i] == _S_OPEN else False
        whole = int((base.second + base.microsecond / 1e6) / 60.0 + minutes)
        return _arrival_at(hours, base, whole)

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
        """Deep links for Amap, Baidu, Tencent (each in its own CRS) and OpenStreetMap, for
        walking. They carry no start point: the rider's map app starts from where the rider
        is, which is right even when the query point was a tapped spot on a map."""
        return self.nav_links_for("walk")

    def nav_links_for(self, mode: str, *, from_query_point: bool = False) -> dict[str, str]:
        """Links for a travel mode; ``from_query_point`` routes from the query point instead
        of the rider's position."""
        if from_query_point:
            from ..stations.navigation import nav_links

            return nav_links(self.lon, self.lat, self.name, origin=self._origin, mode=mode)
        return _station_links(self._cols, self._i, mode)

    def to_dict(self, *, mode: str = "walk", lang: str = "zh") -> dict[str, Any]:
        """A JSON-ready dict: the station's fields, labels in both languages, the point in
        GCJ-02/BD-09, and this query's distance, bearing, ETA, open status and links."""
        if mode not in config.SPEEDS_KMH:
            self.eta(mode)  # raises, naming the allowed modes
        d = dict(_static_part(self._cols, self._i, local_today()))
        state, change = self._open_state()
        d.update(
            distance_m=round(self.distance_m, 3),
            bearing_deg=round(self.bearing_deg, 1),
            eta_min=round(eta_minutes(self.distance_m, mode), 2),
            eta_min_by_mode={m: round(eta_minutes(self.distance_m, m), 2)
                             for m in config.SPEEDS_KMH},
            mode=mode,
            open_status=state,
            next_change=change.isoformat() if change else None,
            opening_hours=self.opening_hours,
            nav_links=self.nav_links_for(mode),
            arrival=self.arrival(mode).to_dict(),
        )
        return d

    def to_json(self, *, mode: str = "walk") -> bytes:
        """``to_dict(mode=mode)`` serialised as JSON (UTF-8), the same keys and values.

        The query-independent part is serialised once per station and mode and cached;
        only distance, bearing, ETAs and open status are formatted per call. This is the
        API's hot path.
        """
        if mode not in config.SPEEDS_KMH:
            self.eta(mode)  # raises, naming the allowed modes
        cols, i = self._cols, self._i
        head = _static_json(cols, i, mode, self._hours.get(cols.mv_hours[i]),
                            local_today())
        state, change = self._open_state()
        dist = self.distance_m
        w, b, e = (dist * f for f in _ETA_FACTORS)  # minutes per mode: walk, bike, ebike
        nxt = f'"{change.isoformat()}"' if change else "null"
        eta = (w, b, e)[_MODES.index(mode)]
        arrival = self._arrival_state(eta)[3]
        tail = (f',"distance_m":{dist:.3f},"bearing_deg":{self.bearing_deg:.1f},'
                f'"eta_min":{eta:.2f},'
                f'"eta_min_by_mode":{{"walk":{w:.2f},"bike":{b:.2f},"ebike":{e:.2f}}},'
                f'"open_status":"{state}","next_change":{nxt},"arrival":{{"minutes":{eta:.2f},')
        return head + tail.encode() + arrival


_MINUTE: list = [None, None]  # (minute number, aware datetime) of the last call


def _this_minute() -> datetime:
    """The current minute where the stations are (what "open now" is evaluated at; the
    datetime is rebuilt once a minute, not per result)."""
    m = int(_time.time() // 60)
    cached = _MINUTE
    if cached[0] != m:
        cached[1] = now().replace(second=0, microsecond=0)
        cached[0] = m
    return cached[1]


@functools.lru_cache(maxsize=16384)
def _arrival_at(hours: OpeningHours | None | Literal[False], base: datetime, whole: int
                ) -> tuple[datetime, bool | None, int | None, bytes]:
    """The arrival minute ``whole`` minutes after ``base``'s minute, the state then
    (``hours`` False: the record is not open; None: unknown hours), the minutes to
    closing when soon, and the JSON members after ``"minutes"`` (cached: arrivals of
    one query minute repeat across stations and requests)."""
    at = base.replace(second=0, microsecond=0) + timedelta(minutes=whole)
    is_open: bool | None
    soon = None
    if hours is None:
        is_open = None
    elif hours is False:
        is_open = False
    else:
        state, change = open_status(hours, at)
        is_open = state == "open"
        if is_open and change is not None and change - at <= _SOON:
            soon = max(0, int((change - at).total_seconds() // 60))
    o = "null" if is_open is None else ("true" if is_open else "false")
    c = "null" if soon is None else str(soon)
    frag = f'"at":"{at.isoformat(timespec="seconds")}","open":{o},"closes_in_min":{c}}}}}'
    return at, is_open, soon, frag.encode()


_MODES = tuple(config.SPEEDS_KMH)
assert _MODES == ("walk", "bike", "ebike")
#: Minutes per metre for each mode, as :func:`eta_minutes` computes them.
_ETA_FACTORS = tuple(eta_minutes(1.0, m) for m in _MODES)


#: Entries kept per cache and per set of columns (a cache that fills up starts afresh).
_MEMO_LIMIT = 32768


def _per_columns_cache(fn):
    """Cache ``fn(cols, *key)`` in ``cols.memo``, so that the cached parts of a station
    die with the columns that hold it (after an index rebuild, the old columns and
    their arrays are freed at once, not when a global cache evicts its entries)."""
    name = fn.__name__

    @functools.wraps(fn)
    def cached(cols: Columns, *key: Any) -> Any:
        cache = cols.memo.get(name)
        if cache is None:
            cache = cols.memo.setdefault(name, {})
        value = cache.get(key)
        if value is None:
            if len(cache) >= _MEMO_LIMIT:
                cache.clear()
            value = cache[key] = fn(cols, *key)
        return value

    return cached


@_per_columns_cache
def _static_json(cols: Columns, i: int, mode: str, hours: OpeningHours | None,
                 today: date) -> bytes:
    """The cached query-independent part of :meth:`NearestResult.to_json`: a JSON object
    missing its closing brace."""
    import orjson

    d = dict(_static_part(cols, i, today))
    d["mode"] = mode
    d["opening_hours"] = hours.text if hours is not None else None
    d["nav_links"] = _station_links(cols, i, mode)
    return orjson.dumps(d)[:-1]


@_per_columns_cache
def _station_links(cols: Columns, i: int, mode: str) -> dict[str, str]:
    """A station's navigation links without a start point (cached per station and mode)."""
    from ..stations.navigation import nav_links

    names = cols.names
    return nav_links(cols.mv_lon[i], cols.mv_lat[i], names[i] if names is not None else
                     cols.ids[i], mode=mode)


@_per_columns_cache
def _static_part(cols: Columns, i: int, today: date) -> dict[str, Any]:
    """The query-independent part of a result (cached: popular stations recur; ``today``
    is part of the key because the freshness counts days)."""
    from ..stations.navigation import app_coords

    sid = cols.ids[i]
    stype = TYPE_CODES[cols.mv_type[i]]
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
        "status": STATUS_CODES[cols.mv_status[i]],
        "amenities": list(amen),
        "amenity_labels": [{"code": a, "zh": AMENITIES[a].zh, "en": AMENITIES[a].en}
                           for a in amen],
    }
    if st is not None:
        d.update(address=st.address, phone=st.phone, access=st.access,
                 access_zh=ACCESS[st.access].zh, access_en=ACCESS[st.access].en,
                 district_adcode=st.district_adcode, district_name=st.district_name,
                 operator=st.operator, source=st.source,
                 verified_date=st.verified_date.isoformat() if st.verified_date else None,
                 code=st.code, star_level=st.star_level,
                 reported_closed=st.reported_closed_at is not None,
                 freshness=_freshness(st.verified_date, stype, today).to_dict())
    return d


def station_freshness(st: Station, today: date | None = None) -> Freshness:
    """How recently ``st`` was checked on site (intervals from the environment)."""
    return _freshness(st.verified_date, st.type, today or local_today())


def _freshness(verified: date | None, stype: str, today: date) -> Freshness:
    return freshness(verified, _intervals()[stype], today)


@functools.lru_cache(maxsize=1)
def _intervals() -> dict[str, int]:
    """Re-verification intervals per type, read from the environment once per process."""
    from ..settings import verify_intervals

    return verify_intervals()


def reported_last(results: list[NearestResult]) -> list[NearestResult]:
    """``results`` with the stations riders have reported closed moved after the others
    (each group keeps its distance order): they stay listed, clearly marked, but a rider
    is sent to an unflagged station first."""
    flagged = [r for r in results if r.reported_closed]
    if not flagged:
        return results
    return [r for r in results if not r.reported_closed] + flagged




def open_on_arrival_first(results: list[NearestResult], mode: str) -> list[NearestResult]:
    """``results`` ordered for ``prefer=open_on_arrival``: open on arrival first, then
    unknown hours, then closed; by ``(distance, id)`` within each group."""
    return sorted(results, key=lambda r: (_ARRIVAL_RANK[r.arrival(mode).open],
                                          r.distance_m, r.id))


def nearest_open_on_arrival(fetch: Callable[[int], list[NearestResult]], k: int,
                            mode: str) -> list[NearestResult]:
    """The ``k`` best stations by (open on arrival, unknown, closed), then distance,
    among the :data:`config.MAX_K` nearest that ``fetch(n)`` (the ``n`` nearest
    passing the query's filters, by distance) can return.

    The window grows (k, 4k, MAX_K) until it holds ``k`` stations open on arrival or
    the filters run out of stations: every station outside the window is farther than
    those inside, so the answer equals a brute-force sort of the MAX_K nearest.
    """
    n = k
    while True:
        got = fetch(n)
        if sum(1 for r in got if r.arrival(mode).open) >= k or len(got) < n \
                or n >= config.MAX_K:
            return open_on_arrival_first(got, mode)[:k]
        n = min(config.MAX_K, n * 4)

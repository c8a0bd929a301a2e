"""Result objects of nearest-station queries."""

from __future__ import annotations

import functools
import time as _time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal, NamedTuple

import orjson

from .. import config
from ..errors import InvalidInput
from ..geo import bearing_deg
from ..stations.entry import UNKNOWN_ENTRY, EntryNow, entry_now, has_entry_info
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
        return self._flagged()

    def _flagged(self) -> bool:
        sts = self._cols.stations
        return sts is not None and sts[self._i].reported_closed_at is not None

    @property
    def is_sample(self) -> bool:
        """Whether the station is sample data (``source`` ``sample``)."""
        sts = self._cols.stations
        return sts is not None and sts[self._i].source == "sample"

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

    def _sun_position(self, hours: OpeningHours) -> tuple[float, float] | None:
        """The station's (lon, lat) when ``hours`` use sunrise or sunset, else None."""
        if hours._uses_sun:
            return (self._cols.mv_lon[self._i], self._cols.mv_lat[self._i])
        return None

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
                    self._open = state_now(h, position=self._sun_position(h))
                else:
                    self._open = open_status(h, self._at, position=self._sun_position(h))
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
        base, frac = _minute_of(self._at if self._at is not None else _clock()[1])
        cols, i = self._cols, self._i
        hours: OpeningHours | None | Literal[False] = False
        pos = None
        if cols.mv_status[i] == _S_OPEN:
            hours = self._hours.get(cols.mv_hours[i])
            if hours is not None and hours._uses_sun:
                pos = (cols.mv_lon[i], cols.mv_lat[i])
        return _arrival_at(hours, base, int(frac + minutes), pos)

    def entry(self, mode: str = "walk") -> EntryNow:
        """How to get in when the rider arrives (:meth:`arrival` of ``mode``): staffed
        then, else the door's entry method (:func:`~locator.stations.entry.entry_now`)."""
        st = self.station
        if st is None or not has_entry_info(st):
            return UNKNOWN_ENTRY
        return entry_now(st, self.arrival(mode).at)

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

    def nav_links_for(self, mode: str, *, from_query_point: bool = False,
                      h5: bool = False) -> dict[str, str]:
        """Links for a travel mode; ``from_query_point`` routes from the query point instead
        of the rider's position; ``h5`` gives the vendors' H5 pages only (WeChat)."""
        if from_query_point:
            from ..stations.navigation import nav_links

            return nav_links(self.lon, self.lat, self.name, origin=self._origin, mode=mode,
                             h5=h5)
        return _station_links(self._cols, self._i, mode, h5)

    def to_dict(self, *, mode: str = "walk", lang: str = "zh",
                h5: bool = False) -> dict[str, Any]:
        """A JSON-ready dict: the station's fields, labels in both languages, the point in
        GCJ-02/BD-09, and this query's distance, bearing, ETA, open status, arrival, how
        to get in on arrival (``entry``, its label in ``lang``) and links."""
        if mode not in config.SPEEDS_KMH:
            self.eta(mode)  # raises, naming the allowed modes
        d = dict(_static_part(self._cols, self._i, _clock()[2]))
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
            nav_links=self.nav_links_for(mode, h5=h5),
            arrival=self.arrival(mode).to_dict(),
            entry=self.entry(mode).public(lang),
        )
        return d

    def to_json(self, *, mode: str = "walk", lang: str = "zh", h5: bool = False) -> bytes:
        """``to_dict(mode=mode, lang=lang, h5=h5)`` serialised as JSON (UTF-8), the same
        keys and values (:func:`results_json` of this one result)."""
        return results_json((self,), mode=mode, lang=lang, h5=h5)


def results_json(results: Sequence[NearestResult], *, mode: str = "walk", lang: str = "zh",
                 h5: bool = False) -> bytes:
    """The results as JSON objects joined by commas (the inside of the API's ``results``
    array): each is ``r.to_dict(mode=mode, lang=lang, h5=h5)`` serialised, the same keys
    and values. This is the API's hot path.

    The query-independent part of a result is serialised once per station and mode (and
    day, for the freshness) and cached on the columns; the open state, the arrival and
    how to get in are cached per hours, minute and position (most stations share their
    hours and say nothing about their door). Only distance, bearing and the ETAs are
    formatted per result. The clock is read once per call, not per result.
    """
    mi = _MODE_INDEX.get(mode)
    if mi is None:
        raise InvalidInput(f"mode: unknown mode {mode!r}; allowed: "
                           f"{', '.join(config.SPEEDS_KMH)}", field="mode")
    _, now_minute, today = _clock()
    f_walk, f_bike, f_ebike = _ETA_FACTORS
    unknown_entry = _UNKNOWN_ENTRY_JSON[lang == "en"]
    out = []
    heads: dict[int, bytes] = {}
    last_cols = None
    last_at: Any = _clock  # no result's query time
    base, frac = now_minute, 0.0
    for r in results:
        cols, i = r._cols, r._i
        if cols is not last_cols:
            heads = _heads(cols, mode, today, h5)
            last_cols = cols
        head = heads.get(i)
        if head is None:
            head = heads[i] = _static_json(cols, i, mode, today,
                                           r._hours.get(cols.mv_hours[i]), h5)
        at = r._at
        if at is not last_at:  # the results of one query share it
            last_at = at
            # the state and arrival are evaluated per minute: cached per minute
            base, frac = (now_minute, 0.0) if at is None else _minute_of(at)
        status = cols.mv_status[i]
        pos = None
        hours: OpeningHours | None | Literal[False]
        if status != _S_OPEN:
            hours, state = False, _CLOSED_STATE
        else:
            hours = r._hours.get(cols.mv_hours[i])
            if hours is None:
                state = _UNKNOWN_STATE
            else:
                if hours._uses_sun:
                    pos = (cols.mv_lon[i], cols.mv_lat[i])
                state = _state_json(hours, base, pos)
        dist = r.distance_m
        w, b, e = dist * f_walk, dist * f_bike, dist * f_ebike
        ws, bs, es = f"{w:.2f}", f"{b:.2f}", f"{e:.2f}"
        eta = (w, b, e)[mi]
        arr = _arrival_at(hours, base, int(frac + eta), pos)
        st = cols.stations[i] if cols.stations is not None else None
        if st is None or not (st.staffed_hours or st.entry_method):
            entry = unknown_entry
        else:
            entry = _entry_json(cols, i, arr[0] if st.staffed_hours else None, lang)
        eta_s = (ws, bs, es)[mi]
        out.append(head + (
            f',"distance_m":{dist:.3f},"bearing_deg":{r.bearing_deg:.1f},"eta_min":{eta_s},'
            f'"eta_min_by_mode":{{"walk":{ws},"bike":{bs},"ebike":{es}}},{state},'
            f'"arrival":{{"minutes":{eta_s},').encode() + arr[3] + entry)
    return b",".join(out)


def _clock() -> tuple[int, datetime, date]:
    """(minute number, the current minute where the stations are, today there): what
    "now" is evaluated at, rebuilt once a minute, not per result."""
    m = int(_time.time() // 60)
    cached = _CLOCK
    if cached[0] != m:
        minute = now().replace(second=0, microsecond=0)
        cached = (m, minute, minute.date())
        globals()["_CLOCK"] = cached
    return cached


_CLOCK: tuple[int, datetime, date] = (-1, datetime.min, date.min)


def _minute_of(at: datetime) -> tuple[datetime, float]:
    """``at``'s minute and the fraction of it gone (states change on whole minutes, so
    the minute is what the caches are keyed on)."""
    if not at.second and not at.microsecond:
        return at, 0.0
    return (at.replace(second=0, microsecond=0),
            (at.second + at.microsecond / 1e6) / 60.0)


#: Cached answers by (hours text, minute, ...): keyed by the text, whose hash is C-level
#: and cached, not by the parsed object (hashing a dataclass calls Python code). Bounded:
#: a cache that fills up starts afresh.
_ARRIVALS: dict[tuple, tuple[datetime, bool | None, int | None, bytes]] = {}
_STATES: dict[tuple, str] = {}
_CACHE_LIMIT = 16384


def _arrival_at(hours: OpeningHours | None | Literal[False], base: datetime, whole: int,
                pos: tuple[float, float] | None = None
                ) -> tuple[datetime, bool | None, int | None, bytes]:
    """The arrival minute ``whole`` minutes after ``base``'s minute, the state then
    (``hours`` False: the record is not open; None: unknown hours; ``pos`` the station's
    position, for hours with sunrise or sunset), the minutes to closing when soon, and the
    JSON members after ``"minutes"`` (cached: arrivals of one query minute repeat across
    stations and requests)."""
    key = (hours if not hours else hours.text, base, whole, pos)
    got = _ARRIVALS.get(key)
    if got is None:
        if len(_ARRIVALS) >= _CACHE_LIMIT:
            _ARRIVALS.clear()
        got = _ARRIVALS[key] = _arrival(hours, base, whole, pos)
    return got


def _arrival(hours: OpeningHours | None | Literal[False], base: datetime, whole: int,
             pos: tuple[float, float] | None) -> tuple[datetime, bool | None, int | None, bytes]:
    at = base.replace(second=0, microsecond=0) + timedelta(minutes=whole)
    is_open: bool | None
    soon = None
    if hours is None:
        is_open = None
    elif hours is False:
        is_open = False
    else:
        state, change = open_status(hours, at, position=pos)
        is_open = None if state == "unknown" else state == "open"
        if is_open and change is not None and change - at <= _SOON:
            soon = max(0, int((change - at).total_seconds() // 60))
    o = "null" if is_open is None else ("true" if is_open else "false")
    c = "null" if soon is None else str(soon)
    frag = f'"at":"{at.isoformat(timespec="seconds")}","open":{o},"closes_in_min":{c}}}'
    return at, is_open, soon, frag.encode()


def _state_json(hours: OpeningHours, at: datetime, pos: tuple[float, float] | None) -> str:
    """``"open_status":..,"next_change":..`` of ``hours`` at ``at`` (and ``pos``)."""
    key = (hours.text, at, pos)
    got = _STATES.get(key)
    if got is None:
        state, change = open_status(hours, at, position=pos)
        nxt = f'"{change.isoformat()}"' if change else "null"
        if len(_STATES) >= _CACHE_LIMIT:
            _STATES.clear()
        got = _STATES[key] = f'"open_status":"{state}","next_change":{nxt}'
    return got


_CLOSED_STATE = '"open_status":"closed","next_change":null'
_UNKNOWN_STATE = '"open_status":"unknown","next_change":null'
#: ``,"entry":{...}}`` (closing the result) of a station without entry information, by
#: "is the language English".
_UNKNOWN_ENTRY_JSON = tuple(
    b',"entry":' + orjson.dumps(UNKNOWN_ENTRY.public(lang)) + b"}" for lang in ("zh", "en"))


def _entry_json(cols: Columns, i: int, at: datetime | None, lang: str) -> bytes:
    """``,"entry":{...}}`` of row ``i`` at ``at`` (None: the entry does not depend on the
    time), cached per row, minute and language."""
    cache = cols.memo.get("_entry_json")
    if cache is None:
        cache = cols.memo.setdefault("_entry_json", {})
    key = (i, at, lang)
    got = cache.get(key)
    if got is None:
        st = cols.stations[i] if cols.stations is not None else None
        e = entry_now(st, at) if st is not None else UNKNOWN_ENTRY
        if len(cache) >= _MEMO_LIMIT:
            cache.clear()
        got = cache[key] = b',"entry":' + orjson.dumps(e.public(lang)) + b"}"
    return got


_MODES = tuple(config.SPEEDS_KMH)
assert _MODES == ("walk", "bike", "ebike")
_MODE_INDEX = {m: k for k, m in enumerate(_MODES)}
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


def _heads(cols: Columns, mode: str, today: date, h5: bool = False) -> dict[int, bytes]:
    """The cache of :func:`_static_json` heads of ``cols`` for ``mode``, ``today`` and the
    link variant, by row (a new day starts new caches and drops the old days')."""
    memo = cols.memo
    key = ("_static_json", mode, today, "h5") if h5 else ("_static_json", mode, today)
    heads = memo.get(key)
    if heads is None:
        # list(): a C-level copy, so another thread adding a cache meanwhile is harmless
        for old in [k for k in list(memo) if isinstance(k, tuple)
                    and k[0] == "_static_json" and k[2] != today]:
            memo.pop(old, None)
        heads = memo.setdefault(key, {})
    elif len(heads) >= _MEMO_LIMIT:
        heads.clear()
    return heads


def _static_json(cols: Columns, i: int, mode: str, today: date, hours: OpeningHours | None,
                 h5: bool = False) -> bytes:
    """The query-independent part of a result as JSON: an object missing its closing
    brace (cached by :func:`results_json`)."""
    d = dict(_static_part(cols, i, today))
    d["mode"] = mode
    d["opening_hours"] = hours.text if hours is not None else None
    d["nav_links"] = _station_links(cols, i, mode, h5)
    return orjson.dumps(d)[:-1]


@_per_columns_cache
def _station_links(cols: Columns, i: int, mode: str, h5: bool = False) -> dict[str, str]:
    """A station's navigation links without a start point (cached per station, mode and
    link variant: ``h5`` for WeChat)."""
    from ..stations.navigation import nav_links

    names = cols.names
    return nav_links(cols.mv_lon[i], cols.mv_lat[i], names[i] if names is not None else
                     cols.ids[i], mode=mode, h5=h5)


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
    flagged = [r for r in results if r._flagged()]
    if not flagged:
        return results
    return [r for r in results if not r._flagged()] + flagged




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

"""A compact copy of an area's stations for the rider's phone, so that with no network the
page still finds the nearest stations, in the browser, in the server's order.

The pack holds what the result cards show (names, types, amenities, address, phone,
code, freshness, the hours in words) and, instead of an opening-hours parser in
JavaScript, each station's **open intervals for the next days**, computed here by the
project's own parser (:func:`locator.stations.hours.open_status`, at the station's
position, so that sunrise and sunset are resolved here): the phone then answers "open
now" by looking the moment up, and agrees with the server by construction. Stations
with unknown hours carry ``null`` (unknown stays distinct from closed).

Distances in the browser use the same haversine formula and Earth radius as the server
(:mod:`locator.geo`, ``earth_radius_m`` is in the pack), on exact coordinates (six
decimals, about 0.1 m), and the same order: by distance, reported-closed stations after
the others, closed stations left out unless asked for.

The pack is for one area (the stations within ``radius_m`` of a point, at most
``limit``), so that a city's worth stays small; it says when it was made, so that the
page can say how old its copy is.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from ..config import DEFAULT_TIMEZONE, DETOUR_FACTOR, EARTH_RADIUS_M, SPEEDS_KMH
from ..geo import haversine_np
from ..stations.coords import wgs84_to_bd09, wgs84_to_gcj02
from ..stations.hours import open_status
from ..stations.hours_text import describe_hours
from ..stations.model import Station
from ..stations.vocab import ACCESS, AMENITIES, STATION_TYPES
from .results import station_freshness

#: Open intervals are computed for this many days ahead.
PACK_DAYS = 7
#: Format version of the pack (the page refuses a pack it does not know).
PACK_FORMAT = 1


def open_intervals(hours: str | None, start: datetime, days: int = PACK_DAYS,
                   *, tz: str = DEFAULT_TIMEZONE, position: tuple[float, float] | None = None
                   ) -> list[list[int]] | None:
    """The ``[from, to)`` intervals (Unix seconds) in which ``hours`` is open between
    ``start`` and ``days`` later; None when the hours are unknown (at any time in
    that window). ``position`` is the station's (lon, lat), for sunrise and sunset: the
    phone gets the intervals, never the rule, so it needs no sun tables of its own."""
    if not hours:
        return None
    end = start + timedelta(days=days)
    out: list[list[int]] = []
    at = start
    for _ in range(days * 48 + 8):  # at most a few changes a day; a guard, not a limit
        state, nxt = open_status(hours, at, tz=tz, position=position)
        if state == "unknown":
            return None
        stop = min(nxt, end) if nxt is not None else end
        if state == "open":
            a, b = int(at.timestamp()), int(stop.timestamp())
            if out and out[-1][1] == a:
                out[-1][1] = b
            else:
                out.append([a, b])
        if nxt is None or nxt >= end:
            break
        at = nxt
    return out


def _round(x: float) -> float:
    return round(x, 6)


def pack_station(st: Station, start: datetime) -> dict[str, Any]:
    glon, glat = wgs84_to_gcj02(st.lon, st.lat)
    blon, blat = wgs84_to_bd09(st.lon, st.lat)
    fresh = station_freshness(st)
    return {
        "id": st.id, "name": st.name, "type": st.type, "lon": st.lon, "lat": st.lat,
        "gcj02": [_round(glon), _round(glat)], "bd09": [_round(blon), _round(blat)],
        "status": st.status, "amenities": list(st.amenities), "access": st.access,
        "address": st.address, "phone": st.phone, "code": st.code,
        "district_name": st.district_name, "source": st.source,
        "reported_closed": st.reported_closed_at is not None,
        "hours_zh": describe_hours(st.opening_hours, "zh"),
        "hours_en": describe_hours(st.opening_hours, "en"),
        "open": open_intervals(st.opening_hours, start, position=(st.lon, st.lat)),
        "freshness": {"state": fresh.state, "label_zh": fresh.label("zh"),
                      "label_en": fresh.label("en")},
    }


def offline_pack(stations: Iterable[Station], *, lon: float, lat: float, radius_m: float,
                 limit: int, now: datetime | None = None) -> dict[str, Any]:
    """The pack for the stations within ``radius_m`` of (lon, lat), nearest first, at
    most ``limit`` (closed ones included: the page leaves them out as the server does)."""
    import numpy as np

    start = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    items = list(stations)
    picked: list[Station] = []
    if items:
        d = haversine_np(lon, lat, np.array([s.lon for s in items]),
                         np.array([s.lat for s in items]))
        order = np.argsort(d, kind="stable")
        picked = [items[i] for i in order[:limit] if d[i] <= radius_m]
    return {
        "format": PACK_FORMAT,
        "made_at": start.isoformat(),
        "valid_until": (start + timedelta(days=PACK_DAYS)).isoformat(),
        "center": [lon, lat], "radius_m": radius_m, "limit": limit,
        "complete": len(picked) < limit,
        "earth_radius_m": EARTH_RADIUS_M,
        "speeds_kmh": dict(SPEEDS_KMH), "detour_factor": DETOUR_FACTOR,
        "labels": {
            "types": {t.code: [t.zh, t.en] for t in STATION_TYPES},
            "amenities": {t.code: [t.zh, t.en] for t in AMENITIES},
            "access": {t.code: [t.zh, t.en] for t in ACCESS},
        },
        "sample_data": any(s.is_sample for s in picked),
        "stations": [pack_station(s, start) for s in picked],
    }


__all__ = ["PACK_DAYS", "PACK_FORMAT", "offline_pack", "open_intervals", "pack_station"]

"""Duplicate warnings for a station about to be saved.

A new or moved station probably duplicates an existing one when a station of the same
type lies within 50 m, or one with a similar name within 200 m (great-circle metres,
:func:`locator.geo.haversine_m`). The staff form shows each hit with its reason and
distance; the editor may save anyway (that confirmation is audited by the caller).

Names are compared after :func:`normalise_name` (NFKC, no spaces or punctuation, no
``【示例】`` sample prefix, case-folded): they are similar when equal, when one contains
the other, or when :class:`difflib.SequenceMatcher` rates them 0.8 or more.

Closed and temporarily closed stations count: reopening one is usually better than
recording it again. Existing stations come from a :class:`~locator.StationIndex` (a
radius query on its tree) or from any iterable of stations (a scan); both give the same
hits in the same order, ``(distance_m, id)``.
"""

from __future__ import annotations

import difflib
import math
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .. import config
from ..errors import InvalidInput
from ..geo import haversine_m
from .model import Station
from .vocab import STATION_TYPES, STATUSES

if TYPE_CHECKING:
    from ..index.station_index import StationIndex

__all__ = ["DuplicateHit", "find_duplicates", "names_similar", "normalise_name"]

Reason = Literal["same_type_near", "similar_name_near"]

#: The prefix of every sample station's name (see :mod:`locator.stations.sample`).
SAMPLE_PREFIX = "【示例】"
#: difflib ratio from which two normalised names count as similar.
SIMILAR_RATIO = 0.8
_M_PER_DEGREE = config.EARTH_RADIUS_M * math.pi / 180.0


@dataclass(frozen=True, slots=True)
class DuplicateHit:
    """An existing station the candidate may duplicate, and why.

    ``reasons`` holds ``"same_type_near"`` (same type within ``same_type_m``) and/or
    ``"similar_name_near"`` (similar name within ``similar_name_m``), in that order;
    ``reason`` is the first. ``station`` is None only for an index built without
    station records (:meth:`StationIndex.from_arrays`).
    """

    station_id: str
    name: str
    type: str
    status: str
    lon: float
    lat: float
    distance_m: float
    reasons: tuple[Reason, ...]
    same_type_m: float
    similar_name_m: float
    station: Station | None = None

    @property
    def reason(self) -> Reason:
        return self.reasons[0]

    def message(self, lang: str = "zh") -> str:
        """The warning shown to the editor, e.g. ``200 米内有名称相近的站点「…」（相距 35 米）``."""
        en = _is_en(lang)
        same, similar = "same_type_near" in self.reasons, "similar_name_near" in self.reasons
        radius = f"{self.same_type_m if same else self.similar_name_m:g}"
        status = STATUSES[self.status] if self.status in STATUSES else None
        if en:
            what = ("of the same type and with a similar name" if same and similar else
                    "of the same type" if same else "with a similar name")
            away = "less than 1 m" if self.distance_m < 1 else f"{self.distance_m:.0f} m"
            note = f", {status.en.lower()}" if status and self.status != "open" else ""
            return f"A station {what} within {radius} m: “{self.name}” ({away} away{note})"
        what = ("同类型且名称相近的" if same and similar else "同类型" if same else "名称相近的")
        away = "不到 1 米" if self.distance_m < 1 else f"{self.distance_m:.0f} 米"
        note = f"，{status.zh}" if status and self.status != "open" else ""
        return f"{radius} 米内有{what}站点「{self.name}」（相距 {away}{note}）"

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        """A JSON-ready dict for the form (the message in ``lang``)."""
        return {"id": self.station_id, "name": self.name, "type": self.type,
                "status": self.status, "lon": self.lon, "lat": self.lat,
                "distance_m": self.distance_m, "reason": self.reason,
                "reasons": list(self.reasons), "message": self.message(lang)}


# --------------------------------------------------------------------------- names


def normalise_name(name: str) -> str:
    """A station name reduced for comparison: NFKC, without the sample prefix, spaces,
    punctuation and control characters, case-folded (``"【示例】 Gulou·爱心驿站（一）"`` ->
    ``"gulou爱心驿站一"``)."""
    text = unicodedata.normalize("NFKC", str(name)).strip()
    text = text.removeprefix(SAMPLE_PREFIX)
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in "PZC").casefold()


def names_similar(a: str, b: str) -> bool:
    """Whether two station names count as similar (see the module docstring).

    Containment needs the shorter name to keep at least two characters after
    normalising, so a one-character name does not match everything that contains it.
    """
    na, nb = normalise_name(a), normalise_name(b)
    return _similar(na, nb)


def _similar(na: str, nb: str) -> bool:
    if not na or not nb:
        return False
    if na == nb:
        return True
    short, long_ = (na, nb) if len(na) <= len(nb) else (nb, na)
    if len(short) >= 2 and short in long_:
        return True
    return difflib.SequenceMatcher(None, na, nb, autojunk=False).ratio() >= SIMILAR_RATIO


# --------------------------------------------------------------------------- search


@dataclass(frozen=True, slots=True)
class _Probe:
    lon: float
    lat: float
    name: str
    norm: str
    type: str
    skip: frozenset[str]
    same_type_m: float
    similar_name_m: float

    def hit(self, sid: str, name: str, stype: str, status: str, lon: float, lat: float,
            d: float, station: Station | None) -> DuplicateHit | None:
        if sid in self.skip:
            return None
        reasons: list[Reason] = []
        if stype == self.type and d <= self.same_type_m:
            reasons.append("same_type_near")
        if d <= self.similar_name_m and _similar(self.norm, normalise_name(name)):
            reasons.append("similar_name_near")
        if not reasons:
            return None
        return DuplicateHit(sid, name, stype, status, lon, lat, d, tuple(reasons),
                            self.same_type_m, self.similar_name_m, station)


def find_duplicates(
    candidate: Station | Mapping[str, Any],
    stations_or_index: StationIndex | Iterable[Station],
    *,
    same_type_m: float = 50.0,
    similar_name_m: float = 200.0,
    exclude_id: str | None = None,
) -> list[DuplicateHit]:
    """Existing stations that the candidate may duplicate.

    Parameters
    ----------
    candidate
        The station about to be saved: a :class:`Station`, or a mapping with ``lon``,
        ``lat`` (WGS-84), ``name`` and ``type`` (a code or its Chinese name) and
        optionally ``id``.
    stations_or_index
        The existing stations: a :class:`~locator.StationIndex` or any iterable of
        :class:`Station`. Stations of every status are checked, closed ones included.
    same_type_m
        Radius for a station of the same type.
    similar_name_m
        Radius for a station with a similar name.
    exclude_id
        A station to leave out, normally the one being edited. The candidate's own
        ``id`` is always left out as well: a station never duplicates itself.

    Returns
    -------
    list[DuplicateHit]
        Ordered by ``(distance_m, station_id)``; one hit per station, with every reason
        that applies.

    Raises
    ------
    InvalidInput
        For a candidate without valid coordinates, name or type, or a radius that is
        not a positive finite number of metres.
    """
    probe = _probe(candidate, same_type_m, similar_name_m, exclude_id)
    radius = max(probe.same_type_m, probe.similar_name_m)
    from ..index.station_index import StationIndex  # the index imports this package

    if isinstance(stations_or_index, StationIndex):
        hits = _from_index(probe, stations_or_index, radius)
    else:
        hits = _from_stations(probe, stations_or_index, radius)
    hits.sort(key=lambda h: (h.distance_m, h.station_id))
    return hits


def _from_index(probe: _Probe, index: StationIndex, radius: float) -> list[DuplicateHit]:
    found = index.nearest(probe.lon, probe.lat, k=config.MAX_K, max_distance_m=radius,
                          statuses=STATUSES.codes)
    if len(found) == config.MAX_K:
        # More stations in the radius than one query returns: scan the box around it
        # (an index built from arrays keeps no station records; it checks the nearest).
        boxed = index.select(bbox=_bbox(probe, radius))
        if boxed:
            return _from_stations(probe, boxed, radius)
    hits = []
    for r in found:
        hit = probe.hit(r.id, r.name, r.type, r.status, r.lon, r.lat, r.distance_m, r.station)
        if hit is not None:
            hits.append(hit)
    return hits


def _from_stations(probe: _Probe, stations: Iterable[Station], radius: float
                   ) -> list[DuplicateHit]:
    max_dlat = radius / _M_PER_DEGREE * 1.01  # no station further in latitude is in reach
    hits = []
    for s in stations:
        if abs(s.lat - probe.lat) > max_dlat:
            continue
        d = haversine_m(probe.lon, probe.lat, s.lon, s.lat)
        if d <= radius:
            hit = probe.hit(s.id, s.name, s.type, s.status, s.lon, s.lat, d, s)
            if hit is not None:
                hits.append(hit)
    return hits


def _bbox(probe: _Probe, radius: float) -> tuple[float, float, float, float]:
    """A lon/lat box holding every point within ``radius`` metres of the probe."""
    dlat = radius / _M_PER_DEGREE * 1.01
    coslat = math.cos(math.radians(min(89.0, abs(probe.lat) + dlat)))
    dlon = min(180.0, dlat / coslat)
    return (probe.lon - dlon, probe.lat - dlat, probe.lon + dlon, probe.lat + dlat)


def _probe(candidate: Station | Mapping[str, Any], same_type_m: float, similar_name_m: float,
           exclude_id: str | None) -> _Probe:
    radii = [_radius(same_type_m, "same_type_m"), _radius(similar_name_m, "similar_name_m")]
    if isinstance(candidate, Station):
        lon, lat, name, stype, own = (candidate.lon, candidate.lat, candidate.name,
                                      candidate.type, candidate.id)
    elif isinstance(candidate, Mapping):
        from .coords import validate_lonlat

        lon, lat = validate_lonlat(candidate.get("lon"), candidate.get("lat"))
        name = str(candidate.get("name") or "")
        stype = STATION_TYPES.parse(str(candidate.get("type") or ""), field="type")
        own = str(candidate.get("id") or "")
    else:
        raise InvalidInput(f"candidate: got {type(candidate).__name__}; expected a Station or "
                           "a mapping with lon, lat, name and type", field="candidate")
    skip = frozenset(str(sid) for sid in (exclude_id, own) if sid)
    return _Probe(lon, lat, name, normalise_name(name), stype, skip, *radii)


def _radius(value: Any, field: str) -> float:
    try:
        metres = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{field}: {value!r} is not a number of metres", field=field) from None
    if not (metres > 0) or math.isinf(metres):
        raise InvalidInput(f"{field}: {value!r}; it must be a positive, finite number of metres",
                           field=field)
    return metres


def _is_en(lang: str) -> bool:
    if not isinstance(lang, str) or not lang.lower().startswith(("zh", "en")):
        raise InvalidInput(f"Got lang={lang!r}; lang must be 'zh' (Simplified Chinese) or "
                           "'en' (English), optionally with a region such as 'zh-CN'",
                           field="lang")
    return lang.lower().startswith("en")

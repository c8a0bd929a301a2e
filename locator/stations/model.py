"""The station record and its validation.

A :class:`Station` is immutable and always valid: the only way to build one
from untrusted data is :func:`station_from_dict`, which checks every field
against the vocabularies in :mod:`locator.stations.vocab` and converts coordinates to
WGS-84.
"""

from __future__ import annotations

import math
import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from typing import Any

from ..config import DEFAULT_TIMEZONE
from ..errors import InvalidInput
from .codes import ALPHABET as CODE_ALPHABET
from .codes import normalize_code
from .coords import validate_lonlat
from .hours import open_status, validate_hours
from .vocab import (
    ACCESS,
    AMENITIES,
    ENTRY_METHODS,
    SOURCES,
    STATION_TYPES,
    STATUSES,
    TOILET_ACCESS,
)

#: Field names in canonical (export) order.
FIELDS: tuple[str, ...] = (
    "id", "name", "type", "lon", "lat", "address", "district_adcode", "district_name",
    "operator", "amenities", "opening_hours", "access", "entry_method", "entry_app",
    "staffed_hours", "entry_note", "toilet_access", "phone", "status",
    "verified_date", "verified_by", "star_level", "capacity", "source",
    "code", "reported_closed_at", "created_at", "updated_at", "version",
)
#: Fields a user may set; the rest are kept by the store: the public ``code`` (assigned
#: once, never changed), the "reported closed" flag (set by riders' reports, cleared by a
#: reviewer), the timestamps and the version.
EDITABLE_FIELDS: tuple[str, ...] = FIELDS[:FIELDS.index("source") + 1]
#: Star levels staff may set (the union's 1-5 star grading); None = not rated.
STAR_LEVELS = (1, 2, 3, 4, 5)
#: The most seats a station may record (a larger number is a typo, not a rest station).
MAX_CAPACITY = 10_000

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
_ADCODE_RE = re.compile(r"^\d{6}$")
_PHONE_RE = re.compile(r"^[0-9+\-() ,;/转]{3,40}$")
_STAR_RE = re.compile(r"^\s*([1-5])\s*(?:星|stars?|★)?\s*$", re.IGNORECASE)
# "12", "12座", "12 个座位", "12个位子", "12 seats", "12.0"
_CAPACITY_RE = re.compile(r"^([0-9]+)(?:\.0+)?\s*(?:个?\s*(?:座位?|位子?|人)|seats?)?$",
                          re.IGNORECASE)
_MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class Station:
    """One station. Coordinates are WGS-84; timestamps are UTC."""

    id: str
    name: str
    type: str
    lon: float
    lat: float
    address: str = ""
    district_adcode: str = ""
    district_name: str = ""
    operator: str = ""
    amenities: tuple[str, ...] = ()
    opening_hours: str | None = None
    access: str = "public"
    #: How to get in when no staff are there (:data:`~locator.stations.vocab.ENTRY_METHODS`;
    #: "" = not known), with which app for a QR code, and when staff are there to open
    #: (``staffed_hours``, opening-hours syntax; None = not known).
    entry_method: str = ""
    entry_app: str = ""
    staffed_hours: str | None = None
    #: Anything else a rider needs at the door ("门禁在左侧", "按门铃").
    entry_note: str = ""
    #: Who may use the toilet (:data:`~locator.stations.vocab.TOILET_ACCESS`; "" = not known).
    toilet_access: str = ""
    phone: str = ""
    status: str = "open"
    verified_date: date | None = None
    #: Who last verified the station on site (a staff username or a name), if known.
    verified_by: str = ""
    #: The official star level (1-5) staff set; None = not rated.
    star_level: int | None = None
    #: The number of seats (座位数) the station offers its users, 1-10,000; None = not
    #: recorded. Capacity-aware access analysis (2SFCA) weighs stations by it.
    capacity: int | None = None
    source: str = "staff"
    #: The short public code (``/s/<code>``, printed on the station's poster).
    code: str = ""
    #: When riders' reports marked the station "reported closed" (None = not flagged).
    reported_closed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def is_sample(self) -> bool:
        return self.source == "sample"

    @property
    def position(self) -> tuple[float, float]:
        """``(lon, lat)``, WGS-84: what opening hours with sunrise or sunset need."""
        return (self.lon, self.lat)

    def open_state(self, at: datetime | None = None, *, tz: str = DEFAULT_TIMEZONE
                   ) -> tuple[str, datetime | None]:
        """("open" | "closed" | "unknown", next change) at ``at`` (now if None): closed
        unless the record's status is ``open``, else what the opening hours say at the
        station's position (so that "sunrise-sunset" is known, not "unknown")."""
        if self.status != "open":
            return "closed", None
        return open_status(self.opening_hours, at, tz=tz, position=(self.lon, self.lat))

    def to_dict(self, *, lang: str | None = None) -> dict[str, Any]:
        """A JSON-ready dict; with ``lang``, labels for type/amenities/status are added."""
        # A shallow copy: every field is an immutable scalar or tuple, so dataclasses'
        # recursive asdict() (a deep copy) would only cost time (it dominated the store's
        # write of a 100,000-row import).
        d = {f: getattr(self, f) for f in FIELDS}
        d["amenities"] = list(self.amenities)
        for k in ("verified_date", "reported_closed_at", "created_at", "updated_at"):
            v = d[k]
            d[k] = v.isoformat() if v is not None else None
        if lang:
            d["type_label"] = STATION_TYPES[self.type].label(lang)
            d["status_label"] = STATUSES[self.status].label(lang)
            d["amenity_labels"] = [AMENITIES[a].label(lang) for a in self.amenities]
        return d

    def to_row(self) -> dict[str, str]:
        """A flat row for CSV export (amenities ``;``-separated)."""
        d = self.to_dict()
        d["amenities"] = ";".join(self.amenities)
        return {k: ("" if d[k] is None else str(d[k])) for k in FIELDS}

    def evolve(self, **changes: Any) -> Station:
        return replace(self, **changes)


def new_station_id() -> str:
    return "ST-" + uuid.uuid4().hex[:12].upper()


def _text(data: Mapping[str, Any], key: str, *, required: bool = False, limit: int = _MAX_TEXT
          ) -> str:
    v = data.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        v = ""
    v = str(v).strip()
    if required and not v:
        raise InvalidInput(f"{key}: is required and must not be empty", field=key)
    if len(v) > limit:
        raise InvalidInput(f"{key}: is {len(v)} characters long; at most {limit} allowed",
                           field=key)
    if any(ord(c) < 32 and c not in "\t" for c in v):
        raise InvalidInput(f"{key}: contains control characters", field=key)
    return v


def _parse_amenities(value: Any) -> tuple[str, ...]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ()
    if isinstance(value, str):
        parts = re.split(r"[;,，；、|/]", value)
    elif isinstance(value, Iterable):
        parts = [str(p) for p in value]
    else:
        raise InvalidInput(
            f"amenities: expected a list or a ';'-separated string, got {type(value).__name__}",
            field="amenities",
        )
    codes = {AMENITIES.parse(p.strip(), field="amenities") for p in parts if p.strip()}
    return tuple(c for c in AMENITIES.codes if c in codes)


def _parse_star(value: Any) -> int | None:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        raise InvalidInput("star_level: expected a star level 1-5", field="star_level")
    if isinstance(value, (int, float)) and float(value).is_integer() and 1 <= value <= 5:
        return int(value)
    s = str(value).strip()
    if s and set(s) == {"★"} and len(s) <= 5:
        return len(s)
    m = _STAR_RE.match(s)
    if m is None:
        raise InvalidInput(f"star_level: {value!r} is not a star level; use 1-5 (or leave "
                           "empty for not rated)", field="star_level")
    return int(m.group(1))


def _capacity_error(value: Any) -> InvalidInput:
    return InvalidInput(f"capacity: {value!r} is not a number of seats; use a whole number "
                        f"1-{MAX_CAPACITY:,} (e.g. 12 or 12座), or leave it empty if not "
                        "recorded", field="capacity")


def _parse_capacity(value: Any) -> int | None:
    """Seats: a whole number 1-10,000 (an integral float, "12", "12座", "12个座位",
    "12 seats"); None, "" and NaN mean not recorded."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        raise _capacity_error(value)
    if isinstance(value, (int, float)):
        if not (math.isfinite(value) and float(value).is_integer()):
            raise _capacity_error(value)
        n = int(value)
    else:
        s = unicodedata.normalize("NFKC", str(value)).strip()
        if not s:
            return None
        m = _CAPACITY_RE.match(s)
        if m is None:
            raise _capacity_error(value)
        n = int(m.group(1))
    if not 1 <= n <= MAX_CAPACITY:
        raise _capacity_error(value)
    return n


def _parse_code(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    s = normalize_code(str(value))
    if s and not (4 <= len(s) <= 12 and set(s) <= set(CODE_ALPHABET)):
        raise InvalidInput(f"code: {value!r} is not a station code (4-12 digits and letters "
                           "other than I, L, O, U)", field="code")
    return s


def _parse_date(value: Any, key: str) -> date | None:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    s = str(value).strip().replace("/", "-").replace(".", "-")
    try:
        return date.fromisoformat(s[:10]) if len(s) >= 10 else date.fromisoformat(s)
    except ValueError:
        raise InvalidInput(f"{key}: {value!r} is not a date; use YYYY-MM-DD", field=key) from None


def _parse_timestamp(value: Any, key: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value))
        except ValueError:
            raise InvalidInput(f"{key}: {value!r} is not an ISO 8601 timestamp",
                               field=key) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def station_from_dict(data: Mapping[str, Any], *, crs: str = "wgs84",
                      default_source: str = "staff") -> Station:
    """Validate untrusted input and build a :class:`Station`.

    ``lon``/``lat`` are in ``crs`` and converted to WGS-84. A missing id gets a
    new random one. Unknown keys are rejected, so that typos do not silently
    drop data.

    Raises
    ------
    InvalidInput
        Naming the field and what would be valid.
    """
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise InvalidInput(
            f"unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
            f"allowed: {', '.join(FIELDS)}",
            field=sorted(map(str, unknown))[0],
        )
    sid = _text(data, "id", limit=64) or new_station_id()
    if not _ID_RE.match(sid):
        raise InvalidInput(
            f"id: {sid!r} is not a valid id; use 1-64 letters, digits, '_', '-', '.', ':' "
            "starting with a letter or digit",
            field="id",
        )
    name = _text(data, "name", required=True)
    type_raw = _text(data, "type", required=True)
    stype = STATION_TYPES.parse(type_raw, field="type")
    if data.get("lon") in (None, "") or data.get("lat") in (None, ""):
        missing = "lon" if data.get("lon") in (None, "") else "lat"
        raise InvalidInput(f"{missing}: is required", field=missing)
    lon, lat = validate_lonlat(data.get("lon"), data.get("lat"), crs=crs)
    adcode = _text(data, "district_adcode", limit=6)
    if adcode.endswith(".0"):  # spreadsheets turn codes into floats
        adcode = adcode[:-2]
    if adcode and not _ADCODE_RE.match(adcode):
        raise InvalidInput(
            f"district_adcode: {adcode!r} is not a 6-digit administrative code (e.g. 320303)",
            field="district_adcode",
        )
    phone = _text(data, "phone", limit=40)
    if phone and not _PHONE_RE.match(phone):
        raise InvalidInput(f"phone: {phone!r} is not a phone number (digits, +, -, spaces)",
                           field="phone")
    access = ACCESS.parse(_text(data, "access") or "public", field="access")
    entry = _text(data, "entry_method")
    entry = ENTRY_METHODS.parse(entry, field="entry_method") if entry else ""
    toilet = _text(data, "toilet_access")
    toilet = TOILET_ACCESS.parse(toilet, field="toilet_access") if toilet else ""
    staffed_raw = data.get("staffed_hours")
    if isinstance(staffed_raw, float) and math.isnan(staffed_raw):
        staffed_raw = None
    try:
        staffed = validate_hours(None if staffed_raw is None else str(staffed_raw))
    except InvalidInput as e:  # the same syntax as opening_hours, another field
        raise InvalidInput(f"staffed_hours: {e.message}", field="staffed_hours") from None
    status = STATUSES.parse(_text(data, "status") or "open", field="status")
    source = SOURCES.parse(_text(data, "source") or default_source, field="source")
    hours_raw = data.get("opening_hours")
    if isinstance(hours_raw, float) and math.isnan(hours_raw):
        hours_raw = None
    hours = validate_hours(None if hours_raw is None else str(hours_raw))
    version = data.get("version") or 1
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise InvalidInput(f"version: {version!r} is not an integer", field="version") from None
    return Station(
        id=sid,
        name=name,
        type=stype,
        lon=lon,
        lat=lat,
        address=_text(data, "address"),
        district_adcode=adcode,
        district_name=_text(data, "district_name", limit=50),
        operator=_text(data, "operator"),
        amenities=_parse_amenities(data.get("amenities")),
        opening_hours=hours,
        access=access,
        entry_method=entry,
        entry_app=_text(data, "entry_app", limit=40),
        staffed_hours=staffed,
        entry_note=_text(data, "entry_note"),
        toilet_access=toilet,
        phone=phone,
        status=status,
        verified_date=_parse_date(data.get("verified_date"), "verified_date"),
        verified_by=_text(data, "verified_by", limit=100),
        star_level=_parse_star(data.get("star_level")),
        capacity=_parse_capacity(data.get("capacity")),
        source=source,
        code=_parse_code(data.get("code")),
        reported_closed_at=_parse_timestamp(data.get("reported_closed_at"),
                                            "reported_closed_at"),
        created_at=_parse_timestamp(data.get("created_at"), "created_at"),
        updated_at=_parse_timestamp(data.get("updated_at"), "updated_at"),
        version=version,
    )

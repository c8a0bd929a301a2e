"""Parsing of user-supplied times. Naive times are wall-clock Asia/Shanghai."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from .config import DEFAULT_TIMEZONE
from .errors import InvalidInput

#: Accepted years for user-supplied times (opening hours are about the present).
MIN_YEAR = 1970
MAX_YEAR = 2100


@lru_cache(maxsize=16)
def zone(name: str = DEFAULT_TIMEZONE) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError for malformed keys
        raise InvalidInput(f"tz: unknown time zone {name!r}; use an IANA name such as "
                           f"{DEFAULT_TIMEZONE}", field="tz") from None


def parse_when(value: datetime | str, *, field: str = "open_at",
               tz: str = DEFAULT_TIMEZONE) -> datetime:
    """An aware datetime in ``tz`` from a datetime or an ISO 8601 string."""
    if isinstance(value, datetime):
        dt = value
    else:
        s = str(value).strip()
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            raise InvalidInput(
                f"{field}: {value!r} is not an ISO 8601 date-time "
                "(e.g. 2026-07-01T12:30 or 2026-07-01T12:30+08:00)", field=field) from None
    if not MIN_YEAR <= dt.year <= MAX_YEAR:
        raise InvalidInput(f"{field}: year {dt.year} is out of range; allowed "
                           f"{MIN_YEAR}..{MAX_YEAR}", field=field)
    z = zone(tz)
    if dt.tzinfo is None:
        return dt.replace(tzinfo=z)
    return dt.astimezone(z)


def now(tz: str = DEFAULT_TIMEZONE) -> datetime:
    return datetime.now(zone(tz))


def local_today(tz: str = DEFAULT_TIMEZONE) -> date:
    """Today's date where the stations are (Beijing time by default), not the server's."""
    return datetime.now(zone(tz)).date()

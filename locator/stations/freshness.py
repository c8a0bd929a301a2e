"""How recently a station was checked on site, as riders and staff are told it.

A station's ``verified_date`` is set by a staff check at the door (the verify action),
by a reviewer resolving riders' reports, and by an edit made after checking. Each
station type has a re-verification interval (setting ``LOCATOR_VERIFY_INTERVAL_DAYS``):

- ``recent``: checked within the interval;
- ``due``: past the interval (it belongs on the next verification round);
- ``stale``: past twice the interval, shown to riders as "未近期核实" (not recently
  verified);
- ``unknown``: never checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True, slots=True)
class Freshness:
    state: str  # recent, due, stale, unknown
    days: int | None  # days since the last check (None: never checked)
    interval_days: int

    def label(self, lang: str = "zh") -> str:
        zh = lang != "en"
        if self.days is None:
            return "尚未核实" if zh else "never verified"
        if self.state == "stale":
            return (f"未近期核实（{self.days} 天前）" if zh
                    else f"not recently verified ({self.days} days ago)")
        if self.days == 0:
            return "今天核实" if zh else "verified today"
        return f"核实于 {self.days} 天前" if zh else (
            f"verified {self.days} day{'s' if self.days != 1 else ''} ago")

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "days": self.days, "interval_days": self.interval_days,
                "label_zh": self.label("zh"), "label_en": self.label("en")}


def freshness(verified: date | None, interval_days: int, today: date) -> Freshness:
    """The freshness of a record last checked on ``verified`` (None: never)."""
    if verified is None:
        return Freshness("unknown", None, interval_days)
    days = max(0, (today - verified).days)
    state = ("recent" if days <= interval_days
             else "due" if days <= 2 * interval_days else "stale")
    return Freshness(state, days, interval_days)


def is_overdue(verified: date | None, interval_days: int, today: date) -> bool:
    """Whether a station is due for a check (never checked, or past its interval)."""
    return freshness(verified, interval_days, today).state != "recent"

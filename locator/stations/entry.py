"""How a rider gets in, now: the door is where riders fail most (a password lock, "download
an app to scan in", a QR code that does not open; FIELD-NOTES, "What fails riders").

A station says when staff are there (``staffed_hours``, opening-hours syntax) and, for
the other times, how the door opens (``entry_method``, with the app for a QR code and a
free note). :func:`entry_now` turns that into one line for the rider at a given moment:
"有工作人员值守，可直接进入" while staffed, else the method ("扫码开门（微信）",
"密码锁：请致电 …"), else "进入方式未知" — never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..config import DEFAULT_TIMEZONE
from .hours import open_status
from .model import Station
from .vocab import ENTRY_METHODS, TOILET_ACCESS


@dataclass(frozen=True, slots=True)
class EntryNow:
    """How to get in at one moment.

    ``how`` is ``staffed`` (staff are there now), an entry-method code, or ``unknown``;
    ``staffed`` is True / False / None (staffed hours not known)."""

    how: str
    staffed: bool | None
    zh: str
    en: str

    def label(self, lang: str = "zh") -> str:
        return self.en if lang.startswith("en") else self.zh

    def to_dict(self) -> dict[str, object]:
        return {"how": self.how, "staffed": self.staffed, "zh": self.zh, "en": self.en}

    def public(self, lang: str = "zh") -> dict[str, object]:
        """What the API's results carry: ``{"how", "staffed", "label"}``, the label in
        ``lang``."""
        return {"how": self.how, "staffed": self.staffed, "label": self.label(lang)}


#: What :func:`entry_now` says of a station without any entry information.
UNKNOWN_ENTRY = EntryNow("unknown", None, "进入方式未知", "Entry method not known")


def entry_now(st: Station, at: datetime | None = None, *, tz: str = DEFAULT_TIMEZONE
              ) -> EntryNow:
    """How a rider gets into ``st`` at ``at`` (now if None). Staffed hours are evaluated
    at the station's position (they may use sunrise and sunset)."""
    staffed: bool | None = None
    if st.staffed_hours:
        state, _ = open_status(st.staffed_hours, at, tz=tz, position=(st.lon, st.lat))
        staffed = None if state == "unknown" else state == "open"
    if staffed:
        return EntryNow("staffed", True, "有工作人员值守，可直接进入", "Staffed now: walk in")
    method = st.entry_method
    if not method:
        return UNKNOWN_ENTRY if staffed is None else EntryNow(
            "unknown", staffed, UNKNOWN_ENTRY.zh, UNKNOWN_ENTRY.en)
    zh, en = ENTRY_METHODS[method].zh, ENTRY_METHODS[method].en
    if method == "qr_code" and st.entry_app:
        zh, en = f"扫码开门（{st.entry_app}）", f"Scan a QR code ({st.entry_app})"
    elif method in ("phone", "keypad", "ask_staff") and st.phone:
        if method == "keypad":
            zh = f"密码锁：请致电 {st.phone} 获取密码"
            en = f"Keypad lock: call {st.phone} for the code"
        else:
            zh, en = f"{zh}：{st.phone}", f"{en}: {st.phone}"
    if st.entry_note:
        zh, en = f"{zh}。{st.entry_note}", f"{en}. {st.entry_note}"
    return EntryNow(method, staffed, zh, en)


def has_entry_info(st: Station) -> bool:
    """Whether ``st`` says anything about how to get in (most stations do not: then
    :func:`entry_now` is :data:`UNKNOWN_ENTRY` at every moment)."""
    return bool(st.staffed_hours or st.entry_method)


def toilet_label(st: Station, lang: str = "zh") -> str | None:
    """Who may use the toilet, for a station that lists one (None if it lists none)."""
    if "toilet" not in st.amenities:
        return None
    if not st.toilet_access:
        return "Toilet: access not known" if lang.startswith("en") else "卫生间：开放情况未知"
    term = TOILET_ACCESS[st.toilet_access]
    return f"Toilet: {term.en}" if lang.startswith("en") else f"卫生间：{term.zh}"


__all__ = ["UNKNOWN_ENTRY", "EntryNow", "entry_now",
           "has_entry_info", "toilet_label"]

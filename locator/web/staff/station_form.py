"""The staff station form as data: what a submitted form means to the core, how the
core's refusals read next to each field, and how stored values read to a person.

No Flask here: the views in :mod:`.stations` pass the submitted fields in and render
what comes out. Validation itself is the core's (:func:`locator.stations.model.
station_from_dict` via :class:`~locator.staff.station_edits.StationEditor`); this
module only says in the page's language which field was wrong and why.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ...config import DEFAULT_TIMEZONE
from ...errors import InvalidInput
from ...staff.station_edits import DIFF_FIELDS
from ...stations.model import Station
from ...stations.vocab import (
    ACCESS,
    AMENITIES,
    ENTRY_METHODS,
    SOURCES,
    STATION_TYPES,
    STATUSES,
    TOILET_ACCESS,
    Vocabulary,
)
from ...store.import_messages import FIELD_LABELS_EN, FIELD_LABELS_ZH, explain

#: The form's fields, in page order (status is changed with its own buttons).
FORM_FIELDS: tuple[str, ...] = (
    "name", "type", "lon", "lat", "district_adcode", "address", "operator", "amenities",
    "opening_hours", "access", "entry_method", "entry_app", "staffed_hours", "entry_note",
    "toilet_access", "capacity", "phone", "verified_date", "source",
)
#: Coordinate systems offered for typed or pasted coordinates: (code, zh, en).
CRS_CHOICES: tuple[tuple[str, str, str], ...] = (
    ("wgs84", "WGS-84（GPS、天地图、OpenStreetMap）", "WGS-84 (GPS, Tianditu, OpenStreetMap)"),
    ("gcj02", "GCJ-02（高德、腾讯）", "GCJ-02 (Amap, Tencent)"),
    ("bd09", "BD-09（百度）", "BD-09 (Baidu)"),
)
_VOCABS: dict[str, Vocabulary] = {"type": STATION_TYPES, "access": ACCESS, "status": STATUSES,
                                  "source": SOURCES, "entry_method": ENTRY_METHODS,
                                  "toilet_access": TOILET_ACCESS}
_TZ = ZoneInfo(DEFAULT_TIMEZONE)


def field_label(name: str, lang: str) -> str:
    """A field's name for people: ``名称`` / ``name``."""
    if name == "district_adcode":
        return "district" if lang == "en" else "区县"
    if name == "crs":
        return "coordinate system" if lang == "en" else "坐标系"
    return FIELD_LABELS_EN.get(name, name) if lang == "en" else FIELD_LABELS_ZH.get(name, name)


# --------------------------------------------------------------------------- districts


@dataclass(frozen=True)
class DistrictChoice:
    adcode: str
    name: str
    name_en: str

    def label(self, lang: str) -> str:
        return self.name_en if lang == "en" and self.name_en else self.name


@functools.cache
def district_choices() -> tuple[DistrictChoice, ...]:
    """The shipped Xuzhou districts, ordered by adcode (immutable, built once)."""
    from ...stations.districts import DistrictLookup

    return tuple(DistrictChoice(d.adcode, d.name, d.name_en)
                 for d in DistrictLookup.shipped().districts)


def district_by_code(adcode: str) -> DistrictChoice | None:
    return next((d for d in district_choices() if d.adcode == adcode), None)


@functools.cache
def district_centres() -> dict[str, tuple[float, float]]:
    """A point inside each shipped district (WGS-84), to open an empty map on."""
    from ...coverage.io import load_xuzhou_districts

    d = load_xuzhou_districts()
    out = {}
    for code, geom in zip(d.adcode, d.geometry, strict=True):
        p = geom.representative_point()
        out[str(code)] = (round(p.x, 6), round(p.y, 6))
    return out


# --------------------------------------------------------------------------- submission


@dataclass
class Submission:
    """A submitted station form, read but not yet validated (the core does that).

    ``data`` holds the station fields to send (coordinates in ``crs``); ``raw`` the form
    as sent (what the page shows again, and what "keep mine" resubmits).
    """

    data: dict[str, Any]
    crs: str
    confirm_duplicates: bool
    district_auto: bool
    version: int | None
    raw: list[tuple[str, str]] = field(default_factory=list)

    def values(self) -> dict[str, Any]:
        """The values to refill the form with."""
        v: dict[str, Any] = {k: "" for k in FORM_FIELDS}
        for k, val in self.raw:
            if k in v and k != "amenities":
                v[k] = val
        v["amenities"] = set(self.data.get("amenities") or ())
        v["crs"] = self.crs
        v["district_auto"] = self.district_auto
        return v


def read_form(form: Any) -> Submission:
    """A :class:`Submission` from a request's form (a werkzeug MultiDict)."""
    from ...stations.coords import CRS_CODES

    raw = [(k, v) for k, v in form.items(multi=True) if k != "csrf_token"]
    data: dict[str, Any] = {}
    for k in FORM_FIELDS:
        if k == "amenities":
            data[k] = [a for a in form.getlist("amenities") if a][:len(AMENITIES)]
        elif k in form:
            data[k] = str(form.get(k, "")).strip()
    crs = form.get("crs", "wgs84")
    auto = form.get("district_auto", "1") == "1"
    if auto:
        data.pop("district_adcode", None)
    else:
        code = data.get("district_adcode", "")
        d = district_by_code(code)
        data["district_name"] = d.name if d else ""
    for hours in ("opening_hours", "staffed_hours"):
        if data.get(hours) == "":
            data[hours] = None
    version_raw = form.get("version", "")
    version = int(version_raw) if version_raw.isdigit() and len(version_raw) < 10 else None
    return Submission(data=data, crs=crs if crs in CRS_CODES else "wgs84",
                      confirm_duplicates=form.get("confirm_duplicates") == "1",
                      district_auto=auto, version=version, raw=raw)


def station_values(st: Station) -> dict[str, Any]:
    """The form's values for a stored station (coordinates WGS-84, exact)."""
    return {
        "name": st.name, "type": st.type, "lon": repr(st.lon), "lat": repr(st.lat),
        "crs": "wgs84", "district_adcode": st.district_adcode, "district_auto": True,
        "address": st.address, "operator": st.operator, "amenities": set(st.amenities),
        "opening_hours": st.opening_hours or "", "access": st.access,
        "entry_method": st.entry_method, "entry_app": st.entry_app,
        "staffed_hours": st.staffed_hours or "", "entry_note": st.entry_note,
        "toilet_access": st.toilet_access,
        "capacity": "" if st.capacity is None else str(st.capacity), "phone": st.phone,
        "verified_date": st.verified_date.isoformat() if st.verified_date else "",
        "source": st.source,
    }


def blank_values() -> dict[str, Any]:
    v: dict[str, Any] = {k: "" for k in FORM_FIELDS}
    v.update(type="outdoor_worker", access="public", source="staff", crs="wgs84",
             district_auto=True, amenities=set())
    return v


# --------------------------------------------------------------------------- messages


def error_message(e: InvalidInput, submitted: Mapping[str, Any], lang: str, *,
                  crs: str = "wgs84") -> tuple[str, str]:
    """``(form field, message in lang)`` for a refusal of the core.

    The message names the field in the page's language and says what would be valid
    (accepted values by their Chinese names, an example of opening hours ...).
    """
    fld = e.field or ""
    if hasattr(e, "message_in"):  # the staff core's errors come in both languages
        return fld, e.message_in(lang)  # type: ignore[attr-defined]
    if fld in ("opening_hours", "staffed_hours"):
        from ...stations.hours_text import hours_preview

        preview = hours_preview(str(submitted.get(fld) or ""), lang=lang)
        if preview["error"]:
            return fld, preview["error"]
    if fld == "crs":
        return fld, ("Choose a coordinate system: WGS-84, GCJ-02 or BD-09" if lang == "en"
                     else "请选择坐标系：WGS-84、GCJ-02 或 BD-09")
    value = submitted.get(fld)
    if fld == "amenities" and isinstance(value, list):
        value = ";".join(value)
    issue = explain(fld, value, e, row=None, column=None, crs=crs)
    return fld, issue.message(lang)


# --------------------------------------------------------------------------- display


def display_value(name: str, value: Any, lang: str) -> str:
    """A stored field value as a person reads it (labels, not codes); ``—`` for empty."""
    if value is None or value == "" or value == [] or value == ():
        return "—"
    if name in _VOCABS:
        vocab = _VOCABS[name]
        return vocab[value].label(lang) if value in vocab else str(value)
    if name == "amenities":
        items: Iterable[str] = value.split(";") if isinstance(value, str) else value
        sep = ", " if lang == "en" else "、"
        return sep.join(AMENITIES[a].label(lang) if a in AMENITIES else str(a)
                        for a in items if a)
    if name in ("lon", "lat"):
        try:
            return f"{float(value):.6f}"
        except (TypeError, ValueError):
            return str(value)
    if name == "district_adcode":
        d = district_by_code(str(value))
        return f"{value}（{d.label(lang)}）" if d and lang != "en" else \
            f"{value} ({d.label(lang)})" if d else str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def local_time(at: datetime | None) -> str:
    """A UTC timestamp as wall-clock time in Xuzhou: ``2026-03-01 14:05``."""
    if at is None:
        return "—"
    return at.astimezone(_TZ).strftime("%Y-%m-%d %H:%M")


def compare(theirs: Mapping[str, Any], yours: Mapping[str, Any], lang: str
            ) -> list[dict[str, Any]]:
    """Rows of the conflict screen: each field's label, both values as text, and
    whether they differ (records in the JSON form of :meth:`Station.to_dict`)."""
    rows = []
    for f in DIFF_FIELDS:
        if f == "district_name":
            continue
        a, b = theirs.get(f), yours.get(f)
        if f in ("lon", "lat") and a is not None and b is not None:
            differs = abs(float(a) - float(b)) > 1e-7
        else:
            differs = _norm(a) != _norm(b)
        rows.append({"field": f, "label": field_label(f, lang),
                     "theirs": display_value(f, a, lang), "yours": display_value(f, b, lang),
                     "differs": differs})
    return rows


def _norm(v: Any) -> Any:
    if v in (None, "", [], ()):
        return None
    if isinstance(v, (list, tuple)):
        return tuple(v)
    return v

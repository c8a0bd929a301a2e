"""Names for planning places that are not stations: suggested sites and candidates.

A planner reads "云龙区，距「彭城驿站」约 650 米", not "gap-13" or a pair of
coordinates. :class:`PlaceNamer` names a point by the district it lies in and the
nearest counted station (great-circle metres), in Chinese or English; every table,
popup and export of suggested sites uses the same :class:`PlaceName`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .demand import Districts
from .metrics import StationSet
from .straight import check_lonlat, nearest_within

__all__ = ["PlaceName", "PlaceNamer", "distance_words"]


def distance_words(metres: float, lang: str = "zh") -> str:
    """A distance as a person says it: "约 650 米" / "about 650 m" (to 10 m below
    1 km), "约 1.2 公里" / "about 1.2 km" above."""
    if metres < 1000:
        m = max(10, int(round(metres / 10.0)) * 10)
        return f"约 {m} 米" if lang == "zh" else f"about {m} m"
    km = f"{metres / 1000:.1f}"
    return f"约 {km} 公里" if lang == "zh" else f"about {km} km"


@dataclass(frozen=True)
class PlaceName:
    """Where a point is: its district (code and names; ``""`` outside every district
    given) and the nearest counted station (None without stations)."""

    district_adcode: str
    district_name: str
    district_name_en: str
    nearest_station_id: str | None
    nearest_station_name: str | None
    nearest_station_m: float | None

    def label(self, lang: str = "zh") -> str:
        """"云龙区，距「彭城驿站」约 650 米" / "Yunlong District, about 650 m from
        彭城驿站"."""
        if lang == "en":
            where = self.district_name_en or self.district_name or "district unknown"
        else:
            where = self.district_name or "区县未知"
        if self.nearest_station_name is None or self.nearest_station_m is None:
            return where
        far = distance_words(self.nearest_station_m, lang)
        if lang == "en":
            return f"{where}, {far} from {self.nearest_station_name}"
        return f"{where}，距「{self.nearest_station_name}」{far}"

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        return {"name": self.label(lang), "district_adcode": self.district_adcode,
                "district_name": self.district_name,
                "district_name_en": self.district_name_en,
                "nearest_station_id": self.nearest_station_id,
                "nearest_station_name": self.nearest_station_name,
                "nearest_station_m": (None if self.nearest_station_m is None
                                      else round(self.nearest_station_m, 1))}


class PlaceNamer:
    """Names points by district and nearest station.

    Parameters
    ----------
    stations
        The counted stations (their names; ids where a station has none).
    districts
        District boundaries with names; None: districts are unknown.
    """

    def __init__(self, stations: StationSet | None, districts: Districts | None) -> None:
        self.stations = stations
        self.districts = districts

    def names(self, lon: Any, lat: Any) -> list[PlaceName]:
        """The :class:`PlaceName` of each point (WGS-84)."""
        x, y = check_lonlat(lon, lat, "site")
        if self.districts is not None and len(self.districts):
            codes = self.districts.assign(x, y)
        else:
            codes = np.full(x.size, "", dtype=object)
        st = self.stations
        if st is not None and len(st):
            idx, metres = nearest_within(st.lon, st.lat, x, y)
        else:
            idx, metres = np.full(x.size, -1), np.full(x.size, np.inf)
        out = []
        for k in range(x.size):
            code = str(codes[k])
            zh, en = self.districts.label(code) if self.districts is not None and code else (
                "", "")
            i = int(idx[k])
            if st is None or i < 0:
                out.append(PlaceName(code, zh, en, None, None, None))
            else:
                out.append(PlaceName(code, zh, en, str(st.ids[i]), st.name_of(i),
                                     float(metres[k])))
        return out

    def name_sites(self, sites: list[dict[str, Any]], lang: str = "zh"
                   ) -> list[dict[str, Any]]:
        """``sites`` (dicts with ``lon``/``lat``) with their :meth:`PlaceName.to_dict`
        fields added."""
        if not sites:
            return []
        named = self.names([s["lon"] for s in sites], [s["lat"] for s in sites])
        return [{**s, **n.to_dict(lang)} for s, n in zip(sites, named, strict=True)]

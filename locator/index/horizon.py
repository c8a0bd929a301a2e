"""The distance horizon of a nearest-station answer: is anything *near*?

A query far from every station (a point in Beijing against Xuzhou's stations) still
gets the nearest ones, exact; the horizon says whether the first is within reach
(``max_m``, the ``nearby_horizon_m`` setting) and names it with its district, city and
distance, so that a page can say "no station nearby; the nearest is 572 km away in
徐州市" instead of offering an 11,000-minute walk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..stations.districts import DistrictLookup

__all__ = ["CITIES", "horizon"]

#: City names by the first four digits of a district's adcode (GB/T 2260: a city's code
#: covers its districts), for the shipped district boundaries.
CITIES: dict[str, str] = {"3203": "徐州市"}


def horizon(results: Sequence[Any], *, max_m: float,
            districts: DistrictLookup | None = None) -> dict[str, Any]:
    """Whether ``results[0]`` lies within ``max_m`` metres, and which station it is.

    Parameters
    ----------
    results
        Nearest results (:class:`~locator.index.results.NearestResult`), best first.
    max_m
        The horizon, metres.
    districts
        Where to look up the district of a station whose record names none; default
        the shipped boundaries (:meth:`DistrictLookup.shipped`), loaded only then.

    Returns
    -------
    dict
        ``{"max_m", "nearby", "nearest"}``: ``nearby`` is True when the first result is
        within ``max_m``; ``nearest`` is None without results, else ``{"id", "name",
        "district", "city", "distance_m"}`` of the first (district and city None when
        unknown).
    """
    if not results:
        return {"max_m": float(max_m), "nearby": False, "nearest": None}
    r = results[0]
    cols = getattr(r, "_cols", None)
    if districts is None and cols is not None:
        # Cached on the index columns that hold the station (they are immutable): the
        # lookup in the boundaries costs more than the rest of the answer.
        cache = cols.memo.get("_horizon_place")
        if cache is None:
            cache = cols.memo.setdefault("_horizon_place", {})
        place = cache.get(r._i)
        if place is None:
            place = cache[r._i] = _place(r, None)
    else:
        place = _place(r, districts)
    name, city = place
    return {
        "max_m": float(max_m),
        "nearby": bool(r.distance_m <= max_m),
        "nearest": {"id": r.id, "name": r.name, "district": name, "city": city,
                    "distance_m": round(float(r.distance_m), 3)},
    }


def _place(r: Any, districts: DistrictLookup | None) -> tuple[str | None, str | None]:
    """(district name, city name) of result ``r``'s station, None where unknown."""
    st = getattr(r, "station", None)
    adcode = (st.district_adcode or None) if st is not None else None
    name = (st.district_name or None) if st is not None else None
    if name is None or adcode is None:
        found = (districts if districts is not None else DistrictLookup.shipped()).lookup(
            r.lon, r.lat)
        if found is not None:
            adcode = adcode or found.adcode
            name = name or found.name
    return name, (CITIES.get(adcode[:4]) if adcode else None)

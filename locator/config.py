"""Typed defaults with their sources. Importing this module has no side effects."""

from __future__ import annotations

from typing import Final

#: Mean Earth radius (IUGG R1), the sphere used for every great-circle distance.
EARTH_RADIUS_M: Final = 6_371_008.8

#: Timezone in which opening hours are evaluated unless told otherwise.
DEFAULT_TIMEZONE: Final = "Asia/Shanghai"

#: Travel speeds in km/h.
#: - walk: the union's own definition of the 15-minute circle, 1 km in 15 minutes.
#: - bike: r5r's default cycling speed.
#: - ebike: a typical e-bike cruising speed; GB 17761-2018 caps motor assistance
#:   at 25 km/h, and no estimate here ever assumes more than that.
SPEEDS_KMH: Final[dict[str, float]] = {"walk": 4.0, "bike": 12.0, "ebike": 20.0}

#: Legal maximum speed of an e-bike (GB 17761-2018, restated in the 2024 edition).
EBIKE_LEGAL_MAX_KMH: Final = 25.0

#: Straight-line distance is multiplied by this to estimate the route length
#: until network routing is available. Street networks typically give 1.2-1.4;
#: 1.3 is a common planning value (see FIELD-NOTES: "1.25-1.3").
DETOUR_FACTOR: Final = 1.3

#: Largest k a nearest-station query may ask for.
MAX_K: Final = 100

#: Service radius of the "15-minute circle" in metres (1 km, a 15-minute walk).
SERVICE_RADIUS_M: Final = 1000.0

#: Rough bounding box of mainland China and its islands, used to reject
#: GCJ-02/BD-09 input that cannot be Chinese (lon_min, lat_min, lon_max, lat_max).
CHINA_BBOX: Final = (72.004, 0.8293, 137.8347, 55.8271)

MODES: Final = tuple(SPEEDS_KMH)

#: The credit every map, export and result built on OpenStreetMap data must carry (ODbL),
#: its link, and the two in one line for plain-text files.
OSM_CREDIT: Final = "© OpenStreetMap contributors"
OSM_COPYRIGHT_URL: Final = "https://www.openstreetmap.org/copyright"
OSM_NOTICE: Final = f"{OSM_CREDIT} ({OSM_COPYRIGHT_URL})"
#: The same credit as HTML, for Leaflet's attribution control.
OSM_CREDIT_HTML: Final = (f'&copy; <a href="{OSM_COPYRIGHT_URL}">OpenStreetMap</a> '
                          "contributors")

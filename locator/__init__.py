"""Station Locator: trade-union worker stations, exact nearest-station search,
China coordinate systems and the 15-minute service circle.

The library core imports no Flask; the web and CLI layers call into it.
"""

from __future__ import annotations

__version__ = "0.1.0"

import sys as _sys

from .errors import Conflict, ImportFailed, InvalidInput, LocatorError, NotFound, SchemaError
from .geo import bearing_deg, haversine_m
from .index.station_index import NearestResult, StationIndex
from .stations import coords as coords
from .stations import vocab as vocab
from .stations.coords import from_wgs84, to_wgs84
from .stations.hours import open_status, parse_hours
from .stations.model import Station, station_from_dict
from .store import StationStore
from .store.registry import Registry

# ``locator.coords`` and ``locator.vocab`` were top-level modules before the package was
# grouped into rooms; keep ``import locator.coords`` (and ``from locator.vocab import ...``)
# working for code written against them.
_sys.modules[f"{__name__}.coords"] = coords
_sys.modules[f"{__name__}.vocab"] = vocab

__all__ = [
    "Conflict", "ImportFailed", "InvalidInput", "LocatorError", "NearestResult", "NotFound",
    "Registry", "SchemaError", "Station", "StationIndex", "StationStore", "__version__",
    "bearing_deg", "coords", "from_wgs84", "haversine_m", "open_status", "parse_hours",
    "station_from_dict", "to_wgs84", "vocab",
]

"""Station Locator: trade-union worker stations, exact nearest-station search,
China coordinate systems and the 15-minute service circle.

The library core imports no Flask; the web and CLI layers call into it.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import coords as coords
from . import vocab as vocab
from .coords import from_wgs84, to_wgs84
from .errors import Conflict, ImportFailed, InvalidInput, LocatorError, NotFound, SchemaError
from .geo import bearing_deg, haversine_m
from .hours import open_status, parse_hours
from .index import NearestResult, StationIndex
from .model import Station, station_from_dict
from .registry import Registry
from .store import StationStore

__all__ = [
    "Conflict", "ImportFailed", "InvalidInput", "LocatorError", "NearestResult", "NotFound",
    "Registry", "SchemaError", "Station", "StationIndex", "StationStore", "__version__",
    "bearing_deg", "coords", "from_wgs84", "haversine_m", "open_status", "parse_hours",
    "station_from_dict", "to_wgs84", "vocab",
]

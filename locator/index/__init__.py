"""The exact nearest-station index: queries (:mod:`.station_index`), its immutable
snapshot and tree searches (:mod:`._snapshot`), the write side (:mod:`._writes`), the
column arrays (:mod:`._columns`) and the result records (:mod:`.results`)."""

from .results import NearestResult, eta_minutes
from .station_index import StationIndex

__all__ = ["NearestResult", "StationIndex", "eta_minutes"]

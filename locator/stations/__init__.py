"""What a station is: the record (:mod:`.model`), its vocabularies (:mod:`.vocab`),
opening hours (:mod:`.hours`), China's coordinate systems (:mod:`.coords`), navigation
links (:mod:`.navigation`) and the generator of the sample station set (:mod:`.sample`)."""

from .model import Station, station_from_dict

__all__ = ["Station", "station_from_dict"]

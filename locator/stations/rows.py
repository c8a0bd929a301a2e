"""Stations kept as a store's raw rows until one is asked for.

A worker's index of 400,000 stations needs, for every station, only a few fields (id,
name, type, position, amenities, hours, status) in its columns; the full
:class:`~.model.Station` of a row is needed only when a result shows it. Building
400,000 frozen dataclasses of 28 fields costs several seconds of start-up, so the store
hands the index a :class:`LazyStations`: a sequence of raw rows, each a tuple of the
station's fields in :class:`~.model.Station`'s order whose values are final except those
the store's ``convert`` function still has to turn into Python objects: dates and
times, and the amenities, which a raw row may hold as their stored ``;``-joined text
(:func:`amenity_codes` reads either form). An item becomes a :class:`~.model.Station`
the first time it is read and stays one.

Reads from several threads are safe: two threads converting the same row both store
equal stations, and either is returned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields
from operator import itemgetter
from typing import Any, overload

from .model import Station

__all__ = ["LazyStations"]

#: Field positions in a raw row (Station's field order).
FIELD_AT = {f.name: i for i, f in enumerate(fields(Station))}


class LazyStations(Sequence[Station]):
    """A sequence of stations whose items are raw rows until read."""

    __slots__ = ("_convert", "_items", "_pure")

    def __init__(self, items: list[Any], convert: Callable[[tuple], Station]):
        self._items = items if isinstance(items, list) else list(items)
        self._convert = convert
        #: True while no item has been converted yet (a start-up's column reads then
        #: take every field with one C-level map).
        self._pure = all(type(x) is tuple for x in self._items)

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, i: int) -> Station: ...

    @overload
    def __getitem__(self, i: slice) -> LazyStations: ...

    def __getitem__(self, i: int | slice) -> Station | LazyStations:
        if isinstance(i, slice):
            return LazyStations(self._items[i], self._convert)
        x = self._items[i]
        if type(x) is tuple:
            x = self._convert(x)
            self._pure = False
            self._items[i] = x
        return x

    def __iter__(self) -> Iterator[Station]:
        items, convert = self._items, self._convert
        for j in range(len(items)):
            x = items[j]
            if type(x) is tuple:
                self._pure = False
                x = items[j] = convert(x)
            yield x

    def __add__(self, other: Iterable[Station]) -> LazyStations:
        if isinstance(other, LazyStations) and other._convert is self._convert:
            return LazyStations(self._items + other._items, self._convert)
        return LazyStations(self._items + list(other), self._convert)

    def take(self, rows: Sequence[int]) -> LazyStations:
        """The items at ``rows``, still unconverted where they were."""
        items = self._items
        return LazyStations([items[i] for i in rows], self._convert)

    def values(self, name: str) -> list[Any]:
        """One field of every item, without converting any (not a date or time; the
        amenities may come as raw text, see :func:`amenity_codes`)."""
        at = FIELD_AT[name]
        if self._pure:
            return list(map(itemgetter(at), self._items))
        return [x[at] if type(x) is tuple else getattr(x, name) for x in self._items]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other,
                                                                          strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<LazyStations of {len(self):,}>"


def amenity_codes(value: str | tuple[str, ...]) -> tuple[str, ...] | list[str]:
    """Amenity codes from a station's ``amenities`` or a raw row's ``;``-joined text."""
    if isinstance(value, str):
        return [x for x in value.split(";") if x]
    return value


def field_values(stations: Sequence[Station], name: str) -> list[Any]:
    """One field of every station, from raw rows where ``stations`` is lazy."""
    if isinstance(stations, LazyStations):
        return stations.values(name)
    return [getattr(s, name) for s in stations]

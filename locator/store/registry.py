"""The station registry: the store and the index, kept in step.

Every write goes to the store first, in one transaction; only after it commits
is the in-memory index updated, so the index never shows a station the
database does not have. At start-up the index is built from the store.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..index.station_index import StationIndex
from ..stations.model import Station
from . import StationStore


class Registry:
    """Stations in a store plus an exact nearest-station index over them."""

    def __init__(self, store: StationStore):
        self.store = store
        self._seen_change = store.last_change_id()
        self.index = StationIndex(store.all())

    @classmethod
    def open(cls, location: str | os.PathLike | None = None, *, create: bool = False
             ) -> Registry:
        return cls(StationStore(location, create=create))

    def refresh_if_changed(self) -> bool:
        """Rebuild the index if another process wrote to the store; True if it did."""
        last = self.store.last_change_id()
        if last == self._seen_change:
            return False
        self.index = StationIndex(self.store.all())
        self._seen_change = last
        return True

    def add(self, station: Station, *, actor: str) -> Station:
        stored = self.store.add(station, actor=actor)
        self.index.upsert(stored)
        self._seen_change = self.store.last_change_id()
        return stored

    def add_many(self, stations: Iterable[Station], *, actor: str, upsert: bool = False,
                 batch: str | None = None) -> list[Station]:
        stored = self.store.add_many(stations, actor=actor, upsert=upsert, batch=batch)
        for s in stored:
            self.index.upsert(s)
        self._seen_change = self.store.last_change_id()
        return stored

    def update(self, sid: str, changes: Mapping[str, Any], *, actor: str,
               expected_version: int | None = None, crs: str = "wgs84") -> Station:
        new = self.store.update(sid, changes, actor=actor, expected_version=expected_version,
                                crs=crs)
        self.index.upsert(new)
        self._seen_change = self.store.last_change_id()
        return new

    def close_station(self, sid: str, *, actor: str, temporary: bool = False) -> Station:
        return self.update(sid, {"status": "temporarily_closed" if temporary else "closed"},
                           actor=actor)

    def delete(self, sid: str, *, actor: str) -> Station:
        old = self.store.delete(sid, actor=actor)
        if sid in self.index:
            self.index.delete(sid)
        self._seen_change = self.store.last_change_id()
        return old

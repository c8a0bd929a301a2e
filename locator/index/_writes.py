"""The write side of :class:`~locator.index.StationIndex`: live inserts, updates and
deletes, and the compactions that fold them into new trees.

An insert writes one row into the delta buffer beyond every published row count and
publishes a new :class:`~locator.index._snapshot.Snapshot`; a delete or the old copy of an
updated station becomes a tombstone. When ``delta_limit`` rows have been written to the
delta buffer (1,024 by default, fewer if ``compact_threshold`` is smaller), its live rows
and the mid level's are folded into a new mid-level tree (quick, under the lock). When
the pending changes reach ``compact_threshold``, a background thread rebuilds the main
tree from main, mid level and delta buffer and swaps it in, replaying the writes made
meanwhile. See :mod:`locator.index.station_index` for the design.
"""

from __future__ import annotations

import threading

import numpy as np

from ..errors import NotFound
from ..stations.model import Station
from ._columns import HoursTable, concat, grow_buffer, new_buffer, take, write_row
from ._snapshot import Snapshot, live_rows, make_tree

#: Rows of a new delta buffer (it grows only if ``delta_limit`` is set higher).
DELTA_CAPACITY = 1024


class IndexWrites:
    """Mixed into :class:`~locator.index.StationIndex`, whose ``_init`` sets the state
    used here (``_lock``, ``_snap``, ``_log``, ``_compacting``, ``_hours``...)."""

    _snap: Snapshot
    _lock: threading.RLock
    _hours: HoursTable
    #: (snapshot version, id, station or None for a delete) of writes made while a
    #: background compaction runs; replayed onto its result.
    _log: list[tuple[int, str, Station | None]]
    _compacting: bool
    _compact_thread: threading.Thread | None
    _fixed_threshold: int | None
    _fixed_delta_limit: int | None
    _dead_base: int

    @property
    def compact_threshold(self) -> int:
        """Pending changes that trigger a background rebuild of main: the rows of the mid
        level and the delta buffer plus the main tombstones added since the last rebuild.
        By default 16,384 or a twentieth of the main rows, whichever is more."""
        if self._fixed_threshold is not None:
            return self._fixed_threshold
        return max(16384, self._snap.n // 20)

    @property
    def _delta_limit(self) -> int:
        """Rows written to the delta buffer that trigger a (quick) mid-level rebuild."""
        if self._fixed_delta_limit is not None:
            return self._fixed_delta_limit
        return min(DELTA_CAPACITY, self.compact_threshold)

    def upsert(self, station: Station) -> None:
        """Insert a station, or replace the one with the same id. Visible to the next query."""
        with self._lock:
            self._apply(station.id, station)
            if self._compacting:
                self._log.append((self._snap.version, station.id, station))
            self._maybe_compact()

    insert = upsert
    update = upsert

    def delete(self, sid: str) -> None:
        """Remove a station (``NotFound`` if it is not indexed)."""
        with self._lock:
            if self._snap.locate(sid) is None:
                raise NotFound(f"station {sid!r} is not in the index")
            self._apply(sid, None)
            if self._compacting:
                self._log.append((self._snap.version, sid, None))
            self._maybe_compact()

    def _apply(self, sid: str, station: Station | None) -> None:
        """Publish a snapshot with ``sid`` removed and, if given, ``station`` added."""
        snap = self._snap
        dead, ddead = snap.dead, snap.ddead
        mid_dead = snap.mid_dead
        got = snap.locate(sid)
        if got is not None:
            cols, i = got
            if cols is snap.delta:
                ddead = ddead | {i}
            elif cols is snap.mid:
                mid_dead = mid_dead | {i}
            else:
                dead = dead | {i}
        buf, dn = snap.delta, snap.dn
        if station is not None:
            if dn == len(buf):
                buf = grow_buffer(buf, dn)
            elif len(buf.ids) != dn:  # an abandoned write beyond dn: start a clean copy
                buf = grow_buffer(buf, dn)
            write_row(buf, dn, station, self._hours)
            snap.dpos[station.id] = dn
            dn += 1
        if dn >= self._delta_limit:
            # minor compaction: fold the delta buffer into a new mid-level tree (small, so
            # it is quick) and start an empty buffer
            live_mid = live_rows(len(snap.mid), mid_dead)
            live_delta = live_rows(dn, ddead)
            mid = concat(take(snap.mid, live_mid), len(live_mid), buf, live_delta)
            self._snap = snap.evolve(
                dead=dead, mid=mid, mid_tree=make_tree(mid.xyz), mid_dead=frozenset(),
                mid_pos=dict(zip(mid.ids, range(len(mid)), strict=True)),
                delta=new_buffer(DELTA_CAPACITY, with_stations=buf.stations is not None),
                dn=0, ddead=frozenset(), dpos={})
            return
        self._snap = snap.evolve(dead=dead, mid_dead=mid_dead, delta=buf, dn=dn, ddead=ddead)

    def _maybe_compact(self) -> None:
        snap = self._snap
        pending = len(snap.mid) + snap.dn + len(snap.dead) - self._dead_base
        if pending < self.compact_threshold or self._compacting:
            return
        self._compacting = True
        self._log = []
        self._compact_thread = threading.Thread(target=self._compact_from, args=(snap,),
                                                name="station-index-compact", daemon=True)
        self._compact_thread.start()

    def compact(self) -> None:
        """Fold pending changes into a fresh tree now (blocks until done)."""
        t = self._compact_thread
        if t is not None:
            t.join()
        with self._lock:
            self._compacting = True
            self._log = []
            snap = self._snap
        self._compact_from(snap, purge=True)

    def _compact_from(self, snap: Snapshot, *, purge: bool = False) -> None:
        try:
            live_mid = snap.live_mid_rows()
            extra = concat(take(snap.mid, live_mid), len(live_mid), snap.delta,
                           snap.live_delta_rows())
            everything = np.arange(len(extra))
            main = snap.main
            with_st = main.stations is not None
            if purge or len(snap.dead) > max(1024, snap.n // 20):
                # many tombstones: rebuild without them (a new id map)
                keep = live_rows(snap.n, snap.dead)
                cols = concat(take(main, keep), len(keep), extra, everything)
                pos = None
                dead: frozenset[int] = frozenset()
            else:
                # append the live mid and delta rows; tombstones stay; the id map grows
                cols = concat(main, snap.n, extra, everything)
                pos = snap.pos
                dead = snap.dead
            tree = make_tree(cols.xyz)
            type_trees = {t: None for t in snap.type_trees}
            with self._lock:
                if pos is None:
                    pos = dict(zip(cols.ids, range(len(cols)), strict=True))
                else:
                    ids = cols.ids
                    for r in range(snap.n, len(cols)):
                        pos[ids[r]] = r
                fresh = Snapshot(cols, len(cols), tree, pos, dead,
                                  new_buffer(DELTA_CAPACITY, with_stations=with_st), 0,
                                  frozenset(), {}, snap.version)
                for t in type_trees:
                    fresh.type_tree(t)
                pending = [e for e in self._log if e[0] >= snap.version]
                self._dead_base = len(dead)
                self._snap = fresh
                for _, sid, st in pending:
                    self._apply(sid, st)
                self._log = []
                self._compacting = False
        finally:
            self._compacting = False

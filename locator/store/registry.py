"""The station registry: the store and the index, kept in step.

Every write goes to the store first, in one transaction; only after it commits
is the in-memory index updated, so the index never shows a station the
database does not have. At start-up the index is built from the store.

Writes made by other processes (other gunicorn workers, other servers, the CLI) reach
this index through the store's change log (:meth:`StationStore.changes_since`): the
registry remembers the last change it has applied and applies newer ones *as changes*,
reading only the rows they touch, so catching up costs O(changed rows), never a full
table read or an index rebuild. :meth:`Registry.follow` does this in a background
thread; requests keep reading the current index meanwhile (the index swaps immutable
snapshots, so a reader never waits for a writer and never sees half a change).

How the follower learns of a write: on SQLite it polls the log every ``interval``
seconds (a read of one indexed row). On PostgreSQL, where the writers may be on other
hosts, it holds a connection that listens on the channel every write notifies at
commit (:data:`~locator.store.sql.CHANGES_CHANNEL`) and reads the log the moment one
arrives; it still reads the log at least every :data:`SAFETY_POLL_SECONDS`, in case a
writer did not notify. Notifications are only wake-ups: a follower whose connection
drops (a network blip, the database restarted) reconnects by itself, with growing
pauses while the server is away, and catches up from the sequence number it had
reached, so no change is missed however many notifications were.

Each change is applied only if it is newer than what the index holds (versions grow
with every write of a station), so the order in which this process's own writes and
the log's entries arrive does not matter.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from ..errors import NotFound
from ..index.station_index import StationIndex
from ..stations.model import Station
from . import StationStore
from .sql import WriteHook

log = logging.getLogger(__name__)

#: On PostgreSQL the follower reads the log at least this often even when no
#: notification came (a writer that did not notify: an older program, a manual edit).
SAFETY_POLL_SECONDS = 1.0
#: Longest pause between attempts to reconnect the listening connection.
MAX_RECONNECT_PAUSE = 2.0


class Registry:
    """Stations in a store plus an exact nearest-station index over them."""

    def __init__(self, store: StationStore):
        self.store = store
        # Read the log position *before* the rows: a change committed while the rows are
        # read is applied again afterwards, which the version check makes harmless.
        self._seen_change = store.last_change_id()
        self.index = StationIndex(store.all_lazy())
        self._apply_lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._follower: threading.Thread | None = None
        self._follower_pid: int | None = None
        self._stop = threading.Event()
        #: How many log entries and station rows the last catch-up applied (for tests and
        #: benchmarks: applying another process's write must cost O(changed rows)).
        self.last_applied = (0, 0)
        #: How this process learns of other processes' writes, for ``/healthz``:
        #: ``wake`` is "notify" (PostgreSQL LISTEN) or "poll"; ``listening`` whether the
        #: listening connection is up now; ``reconnects`` how often it was re-made.
        self.follow_status: dict[str, Any] = {"wake": None, "listening": False,
                                              "reconnects": 0}

    @classmethod
    def open(cls, location: str | os.PathLike | None = None, *, create: bool = False
             ) -> Registry:
        return cls(StationStore(location, create=create))

    # ------------------------------------------------------------ following the log
    @property
    def seen_change(self) -> int:
        """The newest change-log entry this index reflects."""
        return self._seen_change

    def apply_changes(self, *, batch: int = 5000) -> int:
        """Apply every change committed since the last call; returns how many log
        entries were applied. Safe to call from any thread."""
        with self._apply_lock:
            total, rows = 0, 0
            while True:
                changes = self.store.changes_since(self._seen_change, limit=batch)
                if not changes:
                    break
                current = self.store.get_many({c.station_id for c in changes})
                for sid in {c.station_id for c in changes}:
                    rec = current.get(sid)
                    if rec is None or rec[1]:  # gone, or deleted
                        self._drop(sid, rec[0].version if rec else None)
                    else:
                        self._put(rec[0])
                rows += len(current)
                total += len(changes)
                self._seen_change = changes[-1].seq
                if len(changes) < batch:
                    break
            self.last_applied = (total, rows)
            return total

    def refresh_if_changed(self) -> bool:
        """Apply other processes' writes to the index; True if there were any."""
        return self.apply_changes() > 0

    def follow(self, interval: float = 0.2) -> None:
        """Apply other processes' writes every ``interval`` seconds in a daemon thread
        (started once per process; a forked child starts its own on its first call)."""
        if interval <= 0:
            return
        pid = os.getpid()
        if self._follower is not None and self._follower_pid == pid \
                and self._follower.is_alive():
            return
        self._stop.clear()
        self._follower_pid = pid
        notified = self.store.dialect == "postgresql"
        self.follow_status = {"wake": "notify" if notified else "poll", "listening": False,
                              "reconnects": 0}
        # The thread holds the registry weakly: a registry nobody uses any more (a test's,
        # a closed app's) is collected and its follower ends.
        self._follower = threading.Thread(target=_follow_notified if notified else _follow,
                                          args=(weakref.ref(self), interval, self._stop),
                                          name="locator-change-follower", daemon=True)
        self._follower.start()

    def stop_following(self) -> None:
        self._stop.set()
        if self._follower is not None:
            self._follower.join(timeout=5)

    def _held_version(self, sid: str) -> int | None:
        try:
            return self.index.get(sid).version
        except NotFound:
            return None

    def _put(self, station: Station) -> None:
        with self._index_lock:  # check and write as one step (follower vs. own writes)
            held = self._held_version(station.id)
            if held is None or held < station.version:
                self.index.upsert(station)

    def _drop(self, sid: str, version: int | None) -> None:
        with self._index_lock:
            held = self._held_version(sid)
            if held is not None and (version is None or held <= version):
                self.index.delete(sid)

    # ---------------------------------------------------------------- writes
    def add(self, station: Station, *, actor: str, hook: WriteHook | None = None) -> Station:
        stored = self.store.add(station, actor=actor, hook=hook)
        self._put(stored)
        return stored

    def add_many(self, stations: Iterable[Station], *, actor: str, upsert: bool = False,
                 batch: str | None = None, hook: WriteHook | None = None,
                 progress: Any = None,
                 expected_versions: Mapping[str, int] | None = None) -> list[Station]:
        stored = self.store.add_many(stations, actor=actor, upsert=upsert, batch=batch,
                                     hook=hook, progress=progress,
                                     expected_versions=expected_versions)
        for s in stored:
            self._put(s)
        return stored

    def update(self, sid: str, changes: Mapping[str, Any], *, actor: str,
               expected_version: int | None = None, crs: str = "wgs84",
               hook: WriteHook | None = None) -> Station:
        new = self.store.update(sid, changes, actor=actor, expected_version=expected_version,
                                crs=crs, hook=hook)
        self._put(new)
        return new

    def close_station(self, sid: str, *, actor: str, temporary: bool = False,
                      expected_version: int | None = None,
                      hook: WriteHook | None = None) -> Station:
        return self.update(sid, {"status": "temporarily_closed" if temporary else "closed"},
                           actor=actor, expected_version=expected_version, hook=hook)

    def set_reported_closed(self, sid: str, at: datetime | None, *, actor: str,
                            only_if: Callable[[Connection], bool] | None = None,
                            hook: WriteHook | None = None) -> Station | None:
        new = self.store.set_reported_closed(sid, at, actor=actor, only_if=only_if,
                                             hook=hook)
        if new is not None:
            self._put(new)
        return new

    def delete(self, sid: str, *, actor: str, expected_version: int | None = None,
               hook: WriteHook | None = None) -> Station:
        gone = self.store.delete(sid, actor=actor, expected_version=expected_version,
                                 hook=hook)
        self._drop(sid, gone.version)
        return gone

    def restore(self, sid: str, *, actor: str, hook: WriteHook | None = None) -> Station:
        back = self.store.restore(sid, actor=actor, hook=hook)
        self._put(back)
        return back

    def restore_version(self, sid: str, version: int, *, actor: str,
                        expected_version: int | None = None,
                        hook: WriteHook | None = None) -> Station:
        new = self.store.restore_version(sid, version, actor=actor,
                                         expected_version=expected_version, hook=hook)
        self._put(new)
        return new


def _follow(ref: weakref.ref[Registry], interval: float, stop: threading.Event) -> None:
    """The follower thread's loop (see :meth:`Registry.follow`)."""
    failing = False
    while not stop.wait(interval):
        reg = ref()
        if reg is None:
            return
        try:
            reg.apply_changes()
            if failing:
                log.warning("change log readable again; index caught up")
            failing = False
        except Exception as e:  # noqa: BLE001 - keep serving the current index
            if not failing:
                log.warning("cannot read the change log (%s); serving the index as it is "
                            "and retrying", e)
            failing = True
        del reg
        if failing:
            time.sleep(min(5.0, interval * 10))


def _follow_notified(ref: weakref.ref[Registry], interval: float,
                     stop: threading.Event) -> None:
    """The follower on PostgreSQL (see the module docstring): wait on a listening
    connection, read the log when woken (or after :data:`SAFETY_POLL_SECONDS`), and
    re-make the connection whenever it breaks, catching up as soon as it is back."""
    poll = max(interval, SAFETY_POLL_SECONDS)
    conn: Any = None
    pause = min(interval, 0.2)
    failing = False
    try:
        while not stop.is_set():
            reg = ref()
            if reg is None:
                return
            status = reg.follow_status
            try:
                if conn is None:
                    conn = reg.store.listen_for_changes()
                    if failing:
                        status["reconnects"] = status.get("reconnects", 0) + 1
                    status["listening"] = True
                else:
                    _wait_for_notification(conn, poll, stop)
                reg.apply_changes()  # (also the catch-up after every (re)connect)
                if failing:
                    log.warning("change log readable again; index caught up")
                failing = False
                pause = min(interval, 0.2)
            except Exception as e:  # noqa: BLE001 - keep serving the current index
                if not failing:
                    log.warning("cannot follow the change log (%s); serving the index as it "
                                "is and reconnecting", e)
                failing = True
                status["listening"] = False
                if conn is not None:
                    _close_quietly(conn)
                    conn = None
                del reg
                stop.wait(pause)
                pause = min(MAX_RECONNECT_PAUSE, pause * 2 + 0.05)
                continue
            del reg
    finally:
        if conn is not None:
            _close_quietly(conn)


def _wait_for_notification(conn: Any, seconds: float, stop: threading.Event) -> bool:
    """Wait until a notification arrives on ``conn`` (True) or ``seconds`` pass (False),
    in slices of at most 1 s so that ``stop`` is noticed."""
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        for _ in conn.notifies(timeout=min(left, 1.0), stop_after=1):
            return True
    return False


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - a broken connection may fail to close
        pass

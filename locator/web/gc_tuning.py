"""Keeping the cyclic garbage collector's pauses short in a long-running worker.

A worker keeps what it learns while it serves: a station's full record the first time a
result shows it, its links and serialised parts, the cells of the map it was asked
about. With a national network (400,000 stations) and scattered queries that is some 40
new tracked objects per request. CPython's full collections walk every tracked object
outside the permanent generation, and they come more often the more the heap grows, so
the pauses grew to 100-250 ms within a minute of load (measured on the benchmark machine;
the p99 latency at 32 clients doubled, 88 ms against 42 ms with the collector off).

What :class:`GcKeeper` does, in every process (a forked worker starts its own thread on
its first request):

* at start-up (``create_app``) the index and the records are frozen (``gc.freeze()``);
* every :data:`YOUNG_SECONDS` seconds: collect the young generations (a short pause:
  only the last seconds' objects) and freeze what survived, so that no full collection
  walks more than a few seconds' growth;
* every :data:`FULL_SECONDS` seconds: unfreeze, one full collection over everything,
  freeze again. Objects frozen while already unreachable in a reference cycle (rare:
  they must have survived two young collections first) are freed then; objects without
  cycles are freed by reference counting at any time, frozen or not.

The pauses become one of tens of milliseconds every few seconds plus one full pause
every ten minutes, instead of ever longer ones at unpredictable times.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time

log = logging.getLogger(__name__)

__all__ = ["FULL_SECONDS", "YOUNG_SECONDS", "GcKeeper", "process_keeper"]

#: How often the young generations are collected and their survivors frozen.
YOUNG_SECONDS = 1.0
#: How often everything is collected once (frozen garbage cycles freed).
FULL_SECONDS = 600.0


def freeze_now() -> None:
    """Collect, then exempt every object alive now from future collections."""
    gc.collect()
    gc.freeze()


class GcKeeper:
    """This process's collection schedule (see the module docstring)."""

    def __init__(self, young_s: float = YOUNG_SECONDS, full_s: float = FULL_SECONDS):
        self.young_s = young_s
        self.full_s = full_s
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        #: Rounds run in this process (for tests).
        self.rounds = 0

    def ensure(self) -> None:
        """Start this process's thread unless it runs (cheap when it does)."""
        pid = os.getpid()
        if self._pid == pid:
            return
        with self._lock:
            if self._pid == pid:
                return
            self._pid = pid
            self.rounds = 0
            threading.Thread(target=self._run, args=(pid,), daemon=True,
                             name="locator-gc").start()

    def stop(self) -> None:
        """End this process's thread (tests; a worker's thread ends with it)."""
        self._stop.set()

    def _run(self, pid: int) -> None:
        last_full = time.monotonic()
        # (a fork copies this object, not the thread: a child starts its own)
        while os.getpid() == pid and not self._stop.wait(self.young_s):
            try:
                if time.monotonic() - last_full >= self.full_s:
                    gc.unfreeze()
                    freeze_now()
                    last_full = time.monotonic()
                else:
                    gc.collect(1)
                    gc.freeze()
                self.rounds += 1
            except Exception:  # pragma: no cover - never let the keeper die silently
                log.exception("garbage collection round failed")


_PROCESS_KEEPER = GcKeeper()


def process_keeper() -> GcKeeper:
    """The one keeper of this process (every app of the process shares its thread)."""
    return _PROCESS_KEEPER

"""The worker's collection schedule (locator.web.gc_tuning): what a worker keeps after
start-up is frozen within a round, and a garbage cycle frozen by mistake is freed by the
periodic full collection."""

from __future__ import annotations

import gc
import time
import weakref

from locator.web.gc_tuning import GcKeeper


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def _wait(cond, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_keeper_freezes_survivors_and_frees_frozen_cycles():
    keeper = GcKeeper(young_s=0.05, full_s=0.6)
    before = gc.get_freeze_count()
    try:
        keeper.ensure()
        keeper.ensure()  # the same process: no second thread
        assert sum(t.name == "locator-gc" for t in __import__("threading").enumerate()) >= 1
        kept = [_Node() for _ in range(2000)]  # what a worker learns and keeps
        assert _wait(lambda: gc.get_freeze_count() >= before + 2000)
        # A cycle that dies after being frozen is not freed by the young rounds ...
        lost = _Node()
        ref = weakref.ref(lost)
        start = keeper.rounds
        assert _wait(lambda: keeper.rounds >= start + 2)  # frozen now
        del lost
        # ... but by the next full round (unfreeze, collect, freeze).
        assert _wait(lambda: ref() is None, seconds=5.0)
        assert all(n.me is n for n in kept)  # the living stay
    finally:
        keeper.stop()
        gc.unfreeze()

"""The worker's collection schedule (locator.web.gc_tuning): what a worker keeps after
start-up is frozen within a round, and a garbage cycle frozen by mistake is freed by the
periodic full collection. Run in a process of its own: unfreezing and full collections
in the test process would finalise other tests' leftovers at random moments."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import gc, threading, time, weakref
from locator.web.gc_tuning import GcKeeper

class Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the cyclic collector frees it

def wait(cond, seconds=10.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False

keeper = GcKeeper(young_s=0.05, full_s=0.6)
before = gc.get_freeze_count()
keeper.ensure()
keeper.ensure()  # the same process: no second thread
assert sum(t.name == "locator-gc" for t in threading.enumerate()) == 1
kept = [Node() for _ in range(2000)]  # what a worker learns and keeps
assert wait(lambda: gc.get_freeze_count() >= before + 2000), "survivors not frozen"
lost = Node()
ref = weakref.ref(lost)
start = keeper.rounds
assert wait(lambda: keeper.rounds >= start + 2)  # frozen now
del lost
assert ref() is not None or keeper.rounds > start + 2
# the next full round (unfreeze, collect, freeze) frees the frozen cycle
assert wait(lambda: ref() is None, seconds=5.0), "frozen cycle not freed"
assert all(n.me is n for n in kept)  # the living stay
keeper.stop()
print("OK", keeper.rounds)
"""


def test_keeper_freezes_survivors_and_frees_frozen_cycles():
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("OK ") and int(r.stdout.split()[1]) >= 3

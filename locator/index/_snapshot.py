"""The immutable state of a :class:`~locator.index.StationIndex`, and its tree searches.

A :class:`Snapshot` holds everything a query needs (the main columns and KD-tree, the
mid level and the delta buffer with the number of rows it may see, the tombstones);
writers publish a new one with a single assignment, readers take one and use only it.
:func:`search_tree` walks a tree's candidates in chord order until the top ``k`` and every
tie at the ``k``-th are fixed; :func:`merge_delta` merges the delta buffer's rows in.
See :mod:`locator.index.station_index` for the design.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from ._columns import STATUS_CODES, Columns, new_buffer, take

S_CLOSED = STATUS_CODES.index("closed")
#: Two chord lengths closer than this count as a possible tie (about 6 micrometres).
TIE_EPS = 1e-12


def make_tree(xyz: np.ndarray) -> cKDTree | None:
    # Balanced splits with non-compacted nodes measured fastest for both clustered and
    # spread-out station sets (benchmarks/bench_index.py).
    return cKDTree(xyz, compact_nodes=False) if len(xyz) else None


def empty_mid() -> Columns:
    return take(new_buffer(0), np.zeros(0, dtype=np.intp))


class Snapshot:
    """Immutable view of the whole index (see the module docstring).

    Three levels: *main* (big KD-tree, rebuilt rarely, in the background), *mid* (a
    smaller KD-tree, rebuilt from its live rows and the delta buffer's each time
    ``delta_limit`` rows have been written to the buffer, emptied when main is rebuilt)
    and the *delta* buffer (searched with numpy). Each level has its own tombstones.
    """

    __slots__ = ("main", "n", "tree", "pos", "dead", "mid", "mid_tree", "mid_dead", "mid_pos",
                 "delta", "dn", "ddead", "dpos", "version", "type_trees", "has_closed",
                 "_extra_tree", "_ids_arr")

    def __init__(self, main: Columns, n: int, tree: cKDTree | None, pos: dict[str, int],
                 dead: frozenset[int], delta: Columns, dn: int, ddead: frozenset[int],
                 dpos: dict[str, int], version: int, type_trees: dict | None = None,
                 mid: Columns | None = None, mid_tree: cKDTree | None = None,
                 mid_dead: frozenset[int] = frozenset(), mid_pos: dict[str, int] | None = None):
        self.main = main  # rows [0, n) are this snapshot's main rows
        self.n = n
        self.tree = tree
        self.pos = pos  # id -> main row; shared, may hold rows >= n (invisible here)
        self.dead = dead  # tombstoned main rows
        self.mid = mid if mid is not None else empty_mid()
        self.mid_tree = mid_tree
        self.mid_dead = mid_dead
        self.mid_pos = mid_pos if mid_pos is not None else {}
        self.delta = delta  # delta buffer; rows [0, dn) visible here
        self.dn = dn
        self.ddead = ddead  # tombstoned delta rows
        self.dpos = dpos  # id -> newest delta row; shared with later snapshots
        self.version = version
        self.type_trees: dict[int, tuple[cKDTree | None, np.ndarray]] = \
            type_trees if type_trees is not None else {}
        # Closed main rows that are not tombstoned (they must be filtered out by default).
        # Computed once per main; snapshots that share the main share the answer.
        self.has_closed = any_closed(main, n)
        self._extra_tree: tuple | None = None
        self._ids_arr: np.ndarray | None = None

    def evolve(self, **kw: Any) -> Snapshot:
        args: dict[str, Any] = dict(
            main=self.main, n=self.n, tree=self.tree, pos=self.pos, dead=self.dead,
            delta=self.delta, dn=self.dn, ddead=self.ddead, dpos=self.dpos,
            version=self.version + 1, type_trees=self.type_trees, mid=self.mid,
            mid_tree=self.mid_tree, mid_dead=self.mid_dead, mid_pos=self.mid_pos)
        args.update(kw)
        return Snapshot(**args)

    def locate(self, sid: Any) -> tuple[Columns, int] | None:
        """The columns and row of a live station ``sid`` in this snapshot, or None."""
        j = self.dpos.get(sid)
        if j is not None and j < self.dn:
            return None if j in self.ddead else (self.delta, j)
        if j is not None:  # re-inserted after this snapshot: find its row here, if any
            ids = self.delta.ids
            for j in range(self.dn - 1, -1, -1):
                if ids[j] == sid:
                    return None if j in self.ddead else (self.delta, j)
        m = self.mid_pos.get(sid)
        if m is not None:
            return None if m in self.mid_dead else (self.mid, m)
        i = self.pos.get(sid)
        if i is not None and i < self.n and i not in self.dead:
            return self.main, i
        return None

    def type_tree(self, t: int) -> tuple[cKDTree | None, np.ndarray]:
        got = self.type_trees.get(t)
        if got is None:
            rows = np.flatnonzero(self.main.type_i[:self.n] == t)
            got = (make_tree(self.main.xyz[rows]), rows)
            self.type_trees[t] = got
        return got

    def live_delta_rows(self) -> np.ndarray:
        return live_rows(self.dn, self.ddead)

    def live_mid_rows(self) -> np.ndarray:
        return live_rows(len(self.mid), self.mid_dead)

    def extra_tree(self) -> tuple[cKDTree | None, list[tuple[Columns, int]]]:
        """A KD-tree over the live mid and delta rows (for batch queries), built lazily."""
        if self._extra_tree is None:
            mrows, drows = self.live_mid_rows(), self.live_delta_rows()
            xyz = np.concatenate([self.mid.xyz[mrows], self.delta.xyz[drows]])
            refs = [(self.mid, i) for i in mrows.tolist()] + \
                [(self.delta, j) for j in drows.tolist()]
            self._extra_tree = (make_tree(xyz), refs)
        return self._extra_tree

    def ids_arr(self) -> np.ndarray:
        if self._ids_arr is None:
            arr = np.empty(self.n, dtype=object)
            arr[:] = self.main.ids[:self.n]
            self._ids_arr = arr
        return self._ids_arr

    def live_count(self) -> int:
        return (self.n - len(self.dead) + len(self.mid) - len(self.mid_dead)
                + self.dn - len(self.ddead))


def live_rows(n: int, dead: frozenset[int]) -> np.ndarray:
    rows = np.arange(n)
    if dead:
        rows = rows[~np.isin(rows, np.fromiter(dead, np.intp))]
    return rows


def any_closed(main: Columns, n: int) -> bool:
    """Whether rows [0, n) hold a station marked closed (cached on the columns)."""
    key = ("has_closed", n)
    got = main.memo.get(key)
    if got is None:
        got = main.memo[key] = bool((main.status_i[:n] == S_CLOSED).any())
    return got


def search_tree(main: Columns, dead: frozenset[int], tree: cKDTree, rows: np.ndarray | None,
            q: tuple[float, float, float], k: int, bound: float, accept
            ) -> list[tuple[float, Columns, int]]:
    """Accepted tree candidates in chord order, enough to fix the top k and all ties at the
    k-th. ``rows`` maps tree positions to rows of ``main`` (for per-type trees)."""
    n = tree.n
    kk = min(n, k + 1 + (len(dead) if len(dead) < 64 else 0))
    qa = np.array(q)
    while True:
        # an ndarray query point and no infinite bound keep scipy on its fast path
        if bound == math.inf:
            dist, idx = tree.query(qa, k=kk)
        else:
            dist, idx = tree.query(qa, k=kk, distance_upper_bound=bound)
        if kk == 1:
            dist, idx = [float(dist)], [int(idx)]
        else:
            dist, idx = dist.tolist(), idx.tolist()
        got: list[tuple[float, Columns, int]] = []
        last = 0.0
        exhausted = False
        for d, i in zip(dist, idx, strict=True):
            if i >= n:  # beyond the distance bound
                exhausted = True
                break
            last = d
            r = i if rows is None else int(rows[i])
            if (dead and r in dead) or not accept(main, r):
                continue
            got.append((d, main, r))
        if exhausted or kk >= n:
            return got
        # Done when k were accepted and the farthest seen is past the k-th (no tie cut off).
        if len(got) >= k and last > got[k - 1][0] + TIE_EPS:
            return got
        kk = min(n, max(kk * 4, 64))


def merge_delta(snap: Snapshot, cands: list[tuple[float, Columns, int]],
                 q: tuple[float, float, float], k: int, bound: float, accept
                 ) -> list[tuple[float, Columns, int]]:
    """Merge delta-buffer rows into the sorted tree candidates, visiting them nearest first
    and stopping once they cannot enter the top k."""
    buf = snap.delta
    dd = np.sqrt(((buf.xyz[:snap.dn] - q) ** 2).sum(axis=1))
    if snap.ddead:
        dd[np.fromiter(snap.ddead, np.intp)] = np.inf
    order = np.argsort(dd, kind="stable")
    merged = list(cands)
    kth = merged[k - 1][0] if len(merged) >= k else math.inf
    added = False
    for j in order.tolist():
        dj = float(dd[j])
        # dead rows sort last at +inf; with fewer than k accepted rows both bound and kth
        # are infinite too, so they must be stopped explicitly
        if dj == math.inf or dj > bound or dj > kth + TIE_EPS:
            break
        if not accept(buf, j):
            continue
        merged.append((dj, buf, j))
        added = True
        if len(merged) >= k:
            merged.sort(key=first)
            kth = merged[k - 1][0]
    if added:
        merged.sort(key=first)
    return merged


def first(c: tuple) -> float:
    return c[0]

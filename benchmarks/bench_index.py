"""Benchmark the nearest-station index against brute force and common spatial indexes.

Peers, each asked for the k=5 nearest stations to a WGS-84 point:

1. brute force: numpy haversine over every station, argpartition then sort
   (the ground truth every other method is checked against);
2. scipy ``cKDTree`` over unit-sphere (ECEF) xyz, distances converted to metres;
3. shapely 2 ``STRtree`` over lon/lat points (``query_nearest``: k=1 only);
4. ``rtree`` (libspatialindex) over lon/lat degrees, bulk-loaded from a stream;
5. the project's :class:`locator.StationIndex` (``nearest`` with result objects,
   ``nearest_many`` for batches).

Run ``python benchmarks/bench_index.py`` (about 4 minutes on 2 cores) or with
``--quick`` for a smoke test. See ``benchmarks/README.md`` for every column.
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CallStats,
    fmt_num,
    fmt_ratio,
    machine_lines,
    markdown_table,
    peak_rss_bytes,
    rss_bytes,
    run_child,
    time_rounds,
)

K = 5
R_M = 6_371_008.8  # the project's sphere (locator.config.EARTH_RADIUS_M), checked in main()
RAD = math.pi / 180.0
#: Mainland China and Hainan, lon_min, lat_min, lon_max, lat_max.
CHINA = (73.5, 18.0, 134.8, 53.5)
KM_PER_DEG = R_M * RAD / 1000.0
DISTRIBUTIONS = ("city", "china")
METHODS = ("brute", "ckdtree", "ckdtree_flat", "strtree", "rtree", "project")
LABELS = {
    "brute": "brute force numpy haversine",
    "ckdtree": "scipy cKDTree, ECEF xyz",
    "ckdtree_flat": "cKDTree, ECEF, unbalanced†",
    "strtree": "shapely STRtree, lon/lat",
    "rtree": "rtree, lon/lat",
    "project": "StationIndex",
}
HERE = Path(__file__).resolve().parent

# ===================================================================== data

#: Real urban centres (approximate WGS-84), roughly largest first; they get the
#: largest weights. Further synthetic centres fill the rest of the few hundred.
_ANCHORS = (
    (121.47, 31.23), (116.41, 39.90), (106.55, 29.56), (113.26, 23.13), (114.06, 22.54),
    (104.07, 30.57), (117.20, 39.08), (114.31, 30.59), (108.94, 34.34), (120.16, 30.27),
    (118.80, 32.06), (113.63, 34.75), (123.43, 41.80), (126.53, 45.80), (112.94, 28.23),
    (102.83, 24.88), (117.12, 36.65), (120.38, 36.07), (117.18, 34.26), (87.62, 43.83),
    (103.83, 36.06), (91.12, 29.65), (111.75, 40.84), (108.37, 22.82), (110.35, 20.02),
    (119.30, 26.08), (118.09, 24.48), (117.23, 31.82), (115.86, 28.68), (106.63, 26.65),
    (112.55, 37.87), (114.51, 38.04), (125.32, 43.82), (101.78, 36.62), (106.23, 38.49),
    (121.61, 38.91),
)
N_CENTRES = 300


@dataclass(frozen=True)
class Centres:
    lon: np.ndarray
    lat: np.ndarray
    weight: np.ndarray  # sums to 1
    size: np.ndarray  # 0..1, 1 for the largest city
    districts: np.ndarray  # (n_centres, 4, 2) km offsets of district cores


def urban_centres(rng: np.random.Generator, n: int = N_CENTRES) -> Centres:
    """A few hundred urban centres with Zipf-like weights, dense in the east."""
    extra = n - len(_ANCHORS)
    east = rng.random(extra) < 0.8
    lon = np.where(east, rng.uniform(102.0, 123.0, extra), rng.uniform(76.0, 102.0, extra))
    lat = np.where(east, rng.uniform(21.0, 42.0, extra), rng.uniform(28.0, 47.0, extra))
    a = np.array(_ANCHORS)
    lon = np.concatenate([a[:, 0], lon])
    lat = np.concatenate([a[:, 1], lat])
    rank = np.arange(1, n + 1, dtype=np.float64)
    w = rank ** -0.9
    size = (w / w.max()) ** 0.3
    districts = rng.normal(0.0, 1.0, (n, 4, 2)) * (2.0 + 6.0 * size)[:, None, None]
    districts[:, 0, :] = 0.0  # the old town sits on the centre
    return Centres(lon, lat, w / w.sum(), size, districts)


def _offset(lon0: np.ndarray, lat0: np.ndarray, dx_km: np.ndarray, dy_km: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    lat = lat0 + dy_km / KM_PER_DEG
    lon = lon0 + dx_km / (KM_PER_DEG * np.cos(lat0 * RAD))
    return np.clip(lon, CHINA[0], CHINA[2]), np.clip(lat, CHINA[1], CHINA[3])


def gen_stations(dist: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Station coordinates for distribution ``city`` or ``china``.

    ``city``: stations as they sit in real cities, around a few hundred urban centres:
    60 % in dense district cores (sigma 0.6-2.5 km), 30 % in suburbs (5-15 km) and
    10 % in sparse outskirts (20-40 km), with bigger cities spreading wider.
    ``china``: spread over the whole country: 40 % uniform over the bounding box,
    60 % in broad regions (sigma 40-150 km) around the same centres.
    """
    rng = np.random.default_rng(seed)
    c = urban_centres(np.random.default_rng(seed + 1))
    which = rng.choice(len(c.weight), size=n, p=c.weight)
    size = c.size[which]
    lon0 = c.lon[which]
    lat0 = c.lat[which]
    dx = np.empty(n)
    dy = np.empty(n)
    if dist == "city":
        u = rng.random(n)
        sigma = np.where(u < 0.6, 0.6 + 1.9 * size,
                         np.where(u < 0.9, 5.0 + 10.0 * size, 20.0 + 20.0 * size))
        core = u < 0.6
        d = c.districts[which, rng.integers(0, 4, n)]
        dx = rng.normal(0.0, 1.0, n) * sigma + np.where(core, d[:, 0], 0.0)
        dy = rng.normal(0.0, 1.0, n) * sigma + np.where(core, d[:, 1], 0.0)
        return _offset(lon0, lat0, dx, dy)
    if dist == "china":
        sigma = 40.0 + 110.0 * size
        lon, lat = _offset(lon0, lat0, rng.normal(0.0, 1.0, n) * sigma,
                           rng.normal(0.0, 1.0, n) * sigma)
        flat = rng.random(n) < 0.4
        lon[flat] = rng.uniform(CHINA[0], CHINA[2], int(flat.sum()))
        lat[flat] = rng.uniform(CHINA[1], CHINA[3], int(flat.sum()))
        return lon, lat
    raise ValueError(f"dist={dist!r}; must be one of {DISTRIBUTIONS}")


def gen_queries(lon: np.ndarray, lat: np.ndarray, m: int, seed: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Rider positions: 90 % within a few hundred metres of a station, 10 % anywhere."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(lon), m)
    qlon, qlat = _offset(lon[pick], lat[pick], rng.normal(0.0, 0.3, m),
                         rng.normal(0.0, 0.3, m))
    anywhere = rng.random(m) < 0.1
    qlon[anywhere] = rng.uniform(CHINA[0], CHINA[2], int(anywhere.sum()))
    qlat[anywhere] = rng.uniform(CHINA[1], CHINA[3], int(anywhere.sum()))
    return qlon, qlat


def station_ids(n: int) -> list[str]:
    """Zero-padded ids, so string order equals row order (ties ordered by id)."""
    return [f"S{i:07d}" for i in range(n)]


def unit_xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    la = np.radians(lat)
    lo = np.radians(lon)
    c = np.cos(la)
    return np.column_stack((c * np.cos(lo), c * np.sin(lo), np.sin(la)))


# ================================================================== methods


class Method:
    """One way to answer "the k nearest stations"; rows are station row numbers."""

    key = ""
    k = K
    batch_api = True  # False: batch throughput is a loop of single queries

    def build(self, lon: np.ndarray, lat: np.ndarray, ids: list[str]) -> None:
        raise NotImplementedError

    def query(self, lon: float, lat: float) -> Any:
        """What a caller gets for one point (this call is what gets timed)."""
        raise NotImplementedError

    def rows(self, result: Any) -> list[int]:
        """Ordered station rows of a :meth:`query` result (not timed)."""
        raise NotImplementedError

    def batch(self, lons: np.ndarray, lats: np.ndarray) -> Any:
        raise NotImplementedError

    def batch_rows(self, result: Any) -> list[list[int]]:
        raise NotImplementedError


class Brute(Method):
    key = "brute"
    batch_api = False

    def build(self, lon, lat, ids):
        self.lon = lon
        self.lat = lat
        self.lat_r = np.radians(lat)
        self.lon_r = np.radians(lon)
        self.cos_lat = np.cos(self.lat_r)

    def query(self, lon, lat):
        p = lat * RAD
        s1 = np.sin((self.lat_r - p) * 0.5)
        s2 = np.sin((self.lon_r - lon * RAD) * 0.5)
        h = s1 * s1 + math.cos(p) * self.cos_lat * s2 * s2
        m = K + 4  # margin for near-ties between h and the metres recomputed below
        cand = np.argpartition(h, m)[:m] if len(h) > m else np.arange(len(h))
        # metres exactly as the textbook haversine, on the candidates only
        p2 = np.radians(self.lat[cand])
        a = np.sin((p2 - p) * 0.5)
        b = np.sin(np.radians(self.lon[cand] - lon) * 0.5)
        hh = a * a + math.cos(p) * np.cos(p2) * b * b
        dm = 2.0 * R_M * np.arcsin(np.sqrt(np.minimum(1.0, hh)))
        order = np.lexsort((cand, dm))[:K]  # by distance, then id
        return cand[order], dm[order]

    def rows(self, result):
        return result[0].tolist()


class CKDTreeECEF(Method):
    key = "ckdtree"

    def build(self, lon, lat, ids):
        from scipy.spatial import cKDTree

        self.tree = cKDTree(unit_xyz(lon, lat))

    def query(self, lon, lat):
        la = lat * RAD
        lo = lon * RAD
        c = math.cos(la)
        d, i = self.tree.query((c * math.cos(lo), c * math.sin(lo), math.sin(la)), k=K)
        return i, 2.0 * R_M * np.arcsin(np.minimum(d * 0.5, 1.0))

    def rows(self, result):
        return result[0].tolist()

    def batch(self, lons, lats):
        d, i = self.tree.query(unit_xyz(lons, lats), k=K, workers=1)
        return i, 2.0 * R_M * np.arcsin(np.minimum(d * 0.5, 1.0))

    def batch_rows(self, result):
        return result[0].tolist()


class CKDTreeECEFFlat(CKDTreeECEF):
    """The same peer built with the flags :class:`locator.StationIndex` uses."""

    key = "ckdtree_flat"

    def build(self, lon, lat, ids):
        from scipy.spatial import cKDTree

        self.tree = cKDTree(unit_xyz(lon, lat), balanced_tree=False, compact_nodes=False)


class STRtreeLonLat(Method):
    key = "strtree"
    k = 1  # query_nearest has no k; k=5 would need a hand-made bbox expansion

    def build(self, lon, lat, ids):
        import shapely

        self.shapely = shapely
        self.tree = shapely.STRtree(shapely.points(lon, lat))

    def query(self, lon, lat):
        return self.tree.query_nearest(self.shapely.Point(lon, lat), all_matches=False)

    def rows(self, result):
        return [int(result[0])]

    def batch(self, lons, lats):
        return self.tree.query_nearest(self.shapely.points(lons, lats), all_matches=False)

    def batch_rows(self, result):
        return [[int(r)] for r in result[1].tolist()]


class RtreeLonLat(Method):
    key = "rtree"

    def build(self, lon, lat, ids):
        from rtree import index

        stream = ((i, (x, y, x, y), None) for i, (x, y) in
                  enumerate(zip(lon.tolist(), lat.tolist(), strict=True)))
        self.idx = index.Index(stream)
        self.n = len(lon)

    def query(self, lon, lat):
        return list(islice(self.idx.nearest((lon, lat, lon, lat), K), K))

    def rows(self, result):
        return result

    def batch(self, lons, lats):
        pts = np.column_stack((lons, lats))
        ids, counts = self.idx.nearest_v(pts, pts, num_results=K, strict=True)
        return ids, counts

    def batch_rows(self, result):
        ids, counts = result
        out = []
        start = 0
        for c in counts.tolist():
            out.append(ids[start:start + c].tolist())
            start += c
        return out


class Project(Method):
    key = "project"

    def build(self, lon, lat, ids):
        from locator import StationIndex

        self.index = StationIndex.from_arrays(ids, lon, lat)

    def query(self, lon, lat):
        return self.index.nearest(lon, lat, k=K)

    def rows(self, result):
        return [int(r.id[1:]) for r in result]

    def batch(self, lons, lats):
        return self.index.nearest_many(lons, lats, K, workers=1)

    def batch_rows(self, result):
        return [[int(s[1:]) for s in row if s is not None] for row in result[0].tolist()]


CLASSES: dict[str, type[Method]] = {c.key: c for c in
                                    (Brute, CKDTreeECEF, CKDTreeECEFFlat, STRtreeLonLat,
                                     RtreeLonLat, Project)}

# ================================================================ measuring


@dataclass
class Settings:
    sizes: list[int]
    single: int  # single-query calls per round
    rounds: int
    batch: int  # queries in a batch run
    batch_repeat: int
    check: Callable[[int], int]  # queries checked against brute force, by size
    inserts: int
    insert_rounds: int
    mem_dists: tuple[str, ...]


@dataclass
class Row:
    size: int
    dist: str
    method: str
    k: int
    build_s: float = math.nan
    single: CallStats | None = None
    p50_ratio: float = math.nan
    batch_qps: float = math.nan
    batch_ratio: float = math.nan
    batch_note: str = ""
    insert: str = "—"
    insert_p99_us: float = math.nan
    mem: dict[str, float] = field(default_factory=dict)
    checked: int = 0
    mismatches: int = 0
    mismatches_many: int = 0


def _progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def bench_one(size: int, dist: str, s: Settings, seed: int) -> tuple[list[Row], dict[str, Any]]:
    lon, lat = gen_stations(dist, size, seed)
    ids = station_ids(size)
    nq = max(s.single, s.batch, s.check(size))
    qlon, qlat = gen_queries(lon, lat, nq, seed + 7)
    notes: dict[str, Any] = {}

    methods = {key: cls() for key, cls in CLASSES.items()}
    rows = {key: Row(size, dist, key, m.k) for key, m in methods.items()}
    for key, m in methods.items():
        reps = 3 if size <= 100_000 else 1
        times = []
        for _ in range(reps):
            gc.collect()
            t0 = time.perf_counter()
            m.build(lon, lat, ids)
            times.append(time.perf_counter() - t0)
        rows[key].build_s = float(np.median(times))
    _progress(f"{dist} {size:,}: built; checking against brute force")

    # --- exactness: ordered top-k rows vs brute force, same query points
    nc = s.check(size)
    brute = methods["brute"]
    truth = []
    brute_ns = np.empty(nc, dtype=np.int64)
    for j in range(nc):
        t0 = time.perf_counter_ns()
        res = brute.query(float(qlon[j]), float(qlat[j]))
        brute_ns[j] = time.perf_counter_ns() - t0
        truth.append(brute.rows(res))
    for key, m in methods.items():
        if key == "brute":
            continue
        got = [m.rows(m.query(float(qlon[j]), float(qlat[j]))) for j in range(nc)]
        rows[key].checked = nc
        rows[key].mismatches = sum(g != t[:m.k] for g, t in zip(got, truth, strict=True))
        if m.batch_api:
            many = m.batch_rows(m.batch(qlon[:nc], qlat[:nc]))
            rows[key].mismatches_many = sum(g != t[:m.k] for g, t in zip(many, truth, strict=True))
    bp50 = float(np.percentile(brute_ns, 50))
    rows["brute"].single = CallStats((bp50,), (float(np.percentile(brute_ns, 99)),), nc)
    rows["brute"].batch_qps = 1e9 / float(brute_ns.mean())
    rows["brute"].batch_note = f" (loop of {nc:,})"
    _progress(f"{dist} {size:,}: single-query timing")

    # --- single-query latency, rounds interleaved across methods
    args = list(zip(qlon[:s.single].tolist(), qlat[:s.single].tolist(), strict=True))
    timed = {key: m.query for key, m in methods.items() if key != "brute"}
    stats = time_rounds(timed, args, rounds=s.rounds, warmup=min(200, len(args)))
    ref = stats["ckdtree"]
    for key, st in stats.items():
        rows[key].single = st
        rows[key].p50_ratio = float(np.median(np.divide(st.round_p50, ref.round_p50)))
    rows["brute"].p50_ratio = float(np.median(bp50 / np.asarray(ref.round_p50)))
    _progress(f"{dist} {size:,}: batch timing")

    # --- batch throughput, repeats interleaved across methods
    blon = np.ascontiguousarray(qlon[:s.batch])
    blat = np.ascontiguousarray(qlat[:s.batch])
    secs: dict[str, list[float]] = {key: [] for key in methods if methods[key].batch_api}
    for _ in range(s.batch_repeat):
        for key in secs:
            gc.collect()
            t0 = time.perf_counter()
            methods[key].batch(blon, blat)
            secs[key].append(time.perf_counter() - t0)
    for key, ts in secs.items():
        rows[key].batch_qps = s.batch / float(np.median(ts))
        rows[key].batch_ratio = float(np.median(np.divide(secs["ckdtree"], ts)))
    rows["brute"].batch_ratio = rows["brute"].batch_qps / rows["ckdtree"].batch_qps
    _progress(f"{dist} {size:,}: inserts")

    # --- live inserts (mutates the indexes, so it comes last)
    ilon, ilat = gen_queries(lon, lat, s.inserts, seed + 11)
    proj = methods["project"]
    insert_project(proj, rows["project"], ilon, ilat, notes, rounds=s.insert_rounds,
                   rebuild=lambda: proj.build(lon, lat, ids))
    insert_rtree(methods["rtree"], rows["rtree"], ilon, ilat)
    for key in ("ckdtree", "ckdtree_flat"):
        rows[key].insert = f"rebuild {fmt_ms(rows[key].build_s)}"
    rows["strtree"].insert = f"rebuild {fmt_ms(rows['strtree'].build_s)}"
    rows["brute"].insert = "append (O(n) copy)"
    return [rows[key] for key in METHODS], notes


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def insert_project(m: Project, row: Row, ilon: np.ndarray, ilat: np.ndarray,
                   notes: dict[str, Any], *, rounds: int, rebuild: Callable[[], None]) -> None:
    """Time from ``insert()`` until ``nearest()`` at that point returns the new station.

    Each round inserts every point into a freshly built index (the build is not
    timed), so background compaction runs exactly as it would in production.
    """
    from locator import Station

    stations = [Station(id=f"N{j:07d}", name=f"new station {j}", type="outdoor_worker",
                        lon=float(x), lat=float(y))
                for j, (x, y) in enumerate(zip(ilon.tolist(), ilat.tolist(), strict=True))]
    clock = time.perf_counter_ns
    p50s, p99s, ins50, ins99, worst, compact_s = [], [], [], [], [], []
    visible = 0
    for r in range(rounds):
        if r:
            rebuild()
        index = m.index
        total = np.empty(len(stations), dtype=np.int64)
        ins = np.empty(len(stations), dtype=np.int64)
        gc.collect()
        for j, st in enumerate(stations):
            t0 = clock()
            index.insert(st)
            t1 = clock()
            res = index.nearest(st.lon, st.lat, k=K)
            t2 = clock()
            total[j] = t2 - t0
            ins[j] = t1 - t0
            visible += bool(res) and res[0].id == st.id
        t_compact = time.perf_counter()
        index.compact()
        compact_s.append(time.perf_counter() - t_compact)
        a, b = np.percentile(total, [50, 99]) / 1000
        p50s.append(a)
        p99s.append(b)
        a, b = np.percentile(ins, [50, 99]) / 1000
        ins50.append(a)
        ins99.append(b)
        worst.append(float(total.max()) / 1000)
    notes.update(compact_s=float(np.median(compact_s)), inserts=len(stations), rounds=rounds,
                 visible=visible, insert_only_us=(float(np.median(ins50)),
                                                  float(np.median(ins99))),
                 insert_max_us=max(worst))
    row.insert_p99_us = float(np.median(p99s))
    row.insert = f"{np.median(p50s):.0f} / {row.insert_p99_us:.0f} µs"
    if visible != len(stations) * rounds:
        row.insert += f" ({len(stations) * rounds - visible} not visible!)"


def insert_rtree(m: RtreeLonLat, row: Row, ilon: np.ndarray, ilat: np.ndarray) -> None:
    total = np.empty(len(ilon), dtype=np.int64)
    clock = time.perf_counter_ns
    for j, (x, y) in enumerate(zip(ilon.tolist(), ilat.tolist(), strict=True)):
        new_id = m.n + j
        t0 = clock()
        m.idx.insert(new_id, (x, y, x, y))
        got = list(islice(m.idx.nearest((x, y, x, y), K), K))
        total[j] = clock() - t0
        if new_id not in got:
            raise AssertionError("rtree insert not visible")
    p50, p99 = np.percentile(total, [50, 99]) / 1000
    row.insert = f"{p50:.0f} / {p99:.0f} µs"


# ------------------------------------------------------------------ memory


def mem_child(method: str, size: int, dist: str, seed: int) -> dict[str, float]:
    """Runs in a fresh interpreter: RSS before and after building one index."""
    import rtree  # noqa: F401  - every child imports the same modules
    import scipy.spatial  # noqa: F401
    import shapely  # noqa: F401

    import locator  # noqa: F401

    gc.collect()
    rss0 = rss_bytes()
    lon, lat = gen_stations(dist, size, seed)
    ids = station_ids(size)
    gc.collect()
    rss1 = rss_bytes()
    m = CLASSES[method]()
    m.build(lon, lat, ids)
    m.query(float(lon[0]), float(lat[0]))
    gc.collect()
    rss2 = rss_bytes()
    peak = peak_rss_bytes()
    del lon, lat, ids  # what the index keeps alive once the caller drops its input
    gc.collect()
    rss3 = rss_bytes()
    mb = 1024.0 * 1024.0
    return {"build_mb": (rss2 - rss1) / mb, "retained_mb": (rss3 - rss0) / mb,
            "total_mb": rss2 / mb, "peak_mb": peak / mb, "base_mb": rss0 / mb}


def measure_memory(rows: list[Row], s: Settings, seed: int) -> None:
    for r in rows:
        if r.dist not in s.mem_dists:
            continue
        r.mem = run_child([str(Path(__file__).resolve()), "--_mem-child", r.method,
                           str(r.size), r.dist, str(seed)])
        _progress(f"memory {r.dist} {r.size:,} {r.method}: {r.mem['build_mb']:.0f} MB")


# ------------------------------------------------------------------ report

HEADERS = ("stations", "dist", "method", "k", "build", "p50 µs", "p99 µs",
           "p50 ratio vs cKDTree", "batch q/s", "batch ratio vs cKDTree",
           "insert→visible p50 / p99", "mem Δ build MB", "mem retained MB", "mismatches")
ALIGN = "rllrrrrrrrlrrl"


def table(rows: list[Row]) -> str:
    out = []
    for r in rows:
        st = r.single
        if r.method == "brute":
            mism = "(truth)"
        else:
            bad = max(r.mismatches, r.mismatches_many)
            mism = f"{bad:,} / {r.checked:,} ({100.0 * bad / max(r.checked, 1):.1f} %)"
            if r.mismatches != r.mismatches_many and r.method != "strtree":
                mism += f" [single {r.mismatches}, batch {r.mismatches_many}]"
        label = LABELS[r.method]
        if r.method == "project":
            label = "StationIndex .nearest / .nearest_many"
        out.append([
            f"{r.size:,}", r.dist, label, str(r.k), fmt_ms(r.build_s),
            fmt_num(st.p50_ns / 1000) if st else "—",
            fmt_num(st.p99_ns / 1000) if st else "—",
            fmt_ratio(r.p50_ratio), fmt_num(r.batch_qps) + r.batch_note,
            fmt_ratio(r.batch_ratio), r.insert,
            fmt_num(r.mem.get("build_mb")) if r.mem else "—",
            fmt_num(r.mem.get("retained_mb")) if r.mem else "—",
            mism,
        ])
    return markdown_table(HEADERS, out, ALIGN)


def verdicts(rows: list[Row], notes: dict[tuple[int, str], dict[str, Any]]) -> list[str]:
    proj = [r for r in rows if r.method == "project"]
    lines = []

    def line(ok: bool | None, text: str) -> None:
        lines.append(f"- **{'SKIP' if ok is None else 'PASS' if ok else 'FAIL'}** {text}")

    bad = sum(r.mismatches for r in proj)
    bad_many = sum(r.mismatches_many for r in proj)
    checked = sum(r.checked for r in proj)
    line(bad == 0 and bad_many == 0,
         f"exact: {bad} `.nearest` and {bad_many} `.nearest_many` mismatches in {checked:,} "
         "checked queries (target 0)")
    worst = max(proj, key=lambda r: r.p50_ratio)
    line(all(r.p50_ratio <= 2.0 for r in proj),
         f"single-query p50 within 2× of cKDTree-ECEF: worst {worst.p50_ratio:.2f}× "
         f"({worst.size:,} {worst.dist}); all: "
         + ", ".join(f"{r.size:,} {r.dist} {r.p50_ratio:.2f}×" for r in proj))
    worst = min(proj, key=lambda r: r.batch_ratio)
    line(all(r.batch_ratio >= 0.5 for r in proj),
         f"batch `nearest_many` ≥ 0.5× cKDTree-ECEF throughput: worst {worst.batch_ratio:.2f}× "
         f"({worst.size:,} {worst.dist}); all: "
         + ", ".join(f"{r.size:,} {r.dist} {r.batch_ratio:.2f}×" for r in proj))
    big = [r for r in proj if r.size >= 1_000_000]
    if big:
        p99 = max(r.insert_p99_us for r in big)
        mx = max(notes[(r.size, r.dist)]["insert_max_us"] for r in big)
        line(p99 < 1000.0, f"insert visible to the next query in < 1 ms at 1,000,000: "
             f"p99 {p99:.0f} µs (slowest single insert {mx / 1000:.1f} ms)")
        with_mem = [r for r in big if r.mem]
        if with_mem:
            worst_mem = max(max(r.mem["build_mb"], r.mem["retained_mb"]) for r in with_mem)
            line(worst_mem < 400.0, f"1,000,000 stations in < 400 MB: {worst_mem:.0f} MB "
                 "(larger of Δ build and retained)")
        else:
            line(None, "memory: not measured (--no-memory)")
    else:
        line(None, "insert latency < 1 ms at 1,000,000: 1,000,000 not in --sizes")
        line(None, "1,000,000 stations in < 400 MB: 1,000,000 not in --sizes")
    return lines


def notes_lines(rows: list[Row], notes: dict[tuple[int, str], dict[str, Any]],
                s: Settings) -> list[str]:
    out = [
        f"- Single-query: {s.single:,} queries × {s.rounds} rounds after warm-up, methods "
        "interleaved per round; p50/p99 are medians of the round values and ratios are "
        "medians of the per-round ratios (so they need not equal the quotient of the "
        "columns). Brute force is timed once, over the checked queries.",
        f"- Batch: {s.batch:,} queries, median of {s.batch_repeat} runs, one worker each "
        "(`workers=1`); rtree uses `nearest_v`, STRtree `query_nearest` on a points array.",
        "- † the cKDTree peer built with `balanced_tree=False, compact_nodes=False`, the "
        "flags StationIndex uses; all ratios are against the default `cKDTree(xyz)` row.",
        "- STRtree answers k=1 only (`query_nearest`); its mismatches compare the first id.",
        "- Mismatches: queries whose ordered top-k id list differs from brute force (ties "
        "by id); for StationIndex and cKDTree a query counts if `.nearest` or the batch "
        "call differs.",
    ]
    for (size, dist), n in notes.items():
        a, b = n["insert_only_us"]
        out.append(
            f"- Inserts {size:,} {dist}: {n['rounds']} × {n['inserts']:,} inserts into a fresh "
            f"index, {n['visible']:,} visible to the next `.nearest`; `insert()` alone p50 "
            f"{a:.0f} µs / p99 {b:.0f} µs; slowest insert+query {n['insert_max_us'] / 1000:.1f} "
            f"ms; `compact()` afterwards {fmt_ms(n['compact_s'])}.")
    for r in rows:
        if r.method == "project" and r.mem:
            out.append(f"- Memory StationIndex {r.size:,} {r.dist}: process RSS after build "
                       f"{r.mem['total_mb']:.0f} MB (interpreter and imports "
                       f"{r.mem['base_mb']:.0f} MB), peak {r.mem['peak_mb']:.0f} MB.")
    return out


# -------------------------------------------------------------------- main


def profile_nearest(size: int, seed: int, calls: int = 20_000) -> None:
    """Print where the time of ``StationIndex.nearest`` goes (cProfile, by own time)."""
    import cProfile
    import pstats

    lon, lat = gen_stations("city", size, seed)
    m = Project()
    m.build(lon, lat, station_ids(size))
    qlon, qlat = gen_queries(lon, lat, calls, seed + 7)
    pts = list(zip(qlon.tolist(), qlat.tolist(), strict=True))
    prof = cProfile.Profile()
    prof.enable()
    for x, y in pts:
        m.query(x, y)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=None,
                   help="comma-separated station counts (default 1000,100000,1000000; "
                        "with --quick 1000,100000)")
    p.add_argument("--quick", action="store_true",
                   help="1k and 100k only, fewer queries: a smoke test under a minute; "
                        "writes no file unless --out is given")
    p.add_argument("--out", default=None,
                   help="markdown report path (default benchmarks/RESULTS.md; '-' for none)")
    p.add_argument("--dists", default=",".join(DISTRIBUTIONS),
                   help="comma-separated distributions (default %(default)s)")
    p.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--profile", action="store_true",
                   help="only profile StationIndex.nearest at the largest size and exit")
    p.add_argument("--_mem-child", nargs=4, metavar=("METHOD", "SIZE", "DIST", "SEED"),
                   help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args._mem_child:
        import json

        method, size, dist, seed = args._mem_child
        print(json.dumps(mem_child(method, int(size), dist, int(seed))))
        return 0
    from locator import config

    assert config.EARTH_RADIUS_M == R_M, "the benchmark's sphere must match the project's"
    default_sizes = "1000,100000" if args.quick else "1000,100000,1000000"
    sizes = [int(x) for x in (args.sizes or default_sizes).split(",")]
    if args.quick:
        s = Settings(sizes, single=500, rounds=3, batch=20_000, batch_repeat=3,
                     check=lambda n: 500, inserts=200, insert_rounds=1,
                     mem_dists=("city",))
    else:
        s = Settings(sizes, single=2_000, rounds=5, batch=100_000, batch_repeat=3,
                     check=lambda n: 2_000 if n <= 100_000 else 500, inserts=1_000,
                     insert_rounds=3,
                     mem_dists=tuple(args.dists.split(",")))
    if args.profile:
        profile_nearest(max(sizes), args.seed)
        return 0
    t_start = time.perf_counter()
    rows: list[Row] = []
    notes: dict[tuple[int, str], dict[str, Any]] = {}
    for size in sizes:
        for dist in args.dists.split(","):
            got, n = bench_one(size, dist, s, args.seed)
            rows.extend(got)
            notes[(size, dist)] = n
            gc.collect()
    if not args.no_memory:
        measure_memory(rows, s, args.seed)
    elapsed = time.perf_counter() - t_start

    tab = table(rows)
    verdict = verdicts(rows, notes)
    print(tab)
    print()
    print("\n".join(verdict))
    out = args.out
    if out is None and not args.quick:
        out = str(HERE / "RESULTS.md")
    if out and out != "-":
        cmd = "python benchmarks/bench_index.py " + " ".join(argv if argv is not None
                                                             else sys.argv[1:])
        text = "\n".join([
            "# Nearest-station index benchmark",
            "",
            f"Generated by `{cmd.strip()}` in {elapsed / 60:.1f} minutes. "
            "Column meanings: `benchmarks/README.md`.",
            "",
            *machine_lines(("numpy", "scipy", "shapely", "rtree", "psutil",
                            "station-locator")),
            f"- Sizes {', '.join(f'{x:,}' for x in sizes)}; distributions {args.dists}; "
            f"seed {args.seed}",
            "",
            tab,
            "",
            "## Targets",
            "",
            *verdict,
            "",
            "## Notes",
            "",
            *notes_lines(rows, notes, s),
            "",
        ])
        Path(out).write_text(text, encoding="utf-8")
        _progress(f"wrote {out}")
    _progress(f"done in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

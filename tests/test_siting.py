"""Site suggestions: greedy and exact MCLP against brute-force enumeration (and PuLP
when installed), the optimality gap, matrix-CSV input, and bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import sparse

from locator.coverage import (
    Candidates,
    SitingProblem,
    StraightLineEngine,
    build_siting_problem,
    candidates_from_demand,
    candidates_from_gaps,
    demand_from_points,
    evaluate_sites,
    exact_sites,
    find_gaps,
    greedy_sites,
    read_candidates,
    read_matrix_csv,
    siting_problem_from_matrix,
    station_set,
    suggest_sites,
)
from locator.coverage.siting_matrix import MatrixTable
from locator.errors import InvalidInput
from locator.geo import haversine_np


def _brute_best(problem: SitingProblem, n: int, beta: float) -> float:
    best = 0.0
    for combo in itertools.combinations(range(problem.matrix.shape[1]), n):
        cov, bak = evaluate_sites(problem, combo)
        best = max(best, cov + beta * bak)
    return best


@pytest.fixture(scope="module")
def instance():
    """120 demand points, 3 existing stations, 14 candidate sites, 15-minute walk."""
    rng = np.random.default_rng(11)
    dlon = rng.uniform(117.15, 117.21, 120)
    dlat = rng.uniform(34.24, 34.29, 120)
    dem = demand_from_points(dlon, dlat, rng.integers(1, 30, 120).astype(float),
                             ids=[f"d{i}" for i in range(120)])
    st = station_set(["E1", "E2", "E3"], [117.16, 117.19, 117.20], [34.25, 34.28, 34.25])
    cand = Candidates(np.array([f"c{j}" for j in range(14)], dtype=object),
                      rng.uniform(117.15, 117.21, 14), rng.uniform(34.24, 34.29, 14), "test")
    eng = StraightLineEngine("walk")
    return eng, st, dem, cand, build_siting_problem(eng, st, dem, cand, 15)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0], ids=["mclp", "backup-0.5", "backup-1"])
@pytest.mark.parametrize("n", [1, 3], ids=["n1", "n3"])
def test_exact_matches_enumeration_and_beats_greedy(instance, n, beta):
    *_, prob = instance
    assert prob.matrix.nnz > 0 and 0 < prob.baseline_covered < prob.total_demand
    best = _brute_best(prob, n, beta)
    res = suggest_sites(prob, n, beta=beta, exact=True)
    assert res.exact is not None and res.exact.status == "optimal"
    assert res.exact.objective == pytest.approx(best, abs=1e-9)
    assert res.exact.bound == pytest.approx(best, rel=1e-6)
    assert res.greedy.objective <= res.exact.objective + 1e-9
    assert res.gap == pytest.approx((best - res.greedy.objective) / best)
    # Greedy gains are the true marginal gains, in non-increasing order.
    g = res.greedy
    assert sum(g.gains) == pytest.approx(g.objective)
    assert list(g.gains) == sorted(g.gains, reverse=True)
    cov, bak = evaluate_sites(prob, g.site_index)
    assert (cov, bak) == (g.covered_added, g.backup_added)
    assert res.greedy.objective >= (1 - 1 / np.e) * best - 1e-9


def test_greedy_gap_reported_on_known_instance():
    """Site 0 covers 4, sites 1 and 2 cover 2.9 each but together 5.8."""
    a = np.zeros((6, 3), dtype=bool)
    a[[0, 1, 2, 3], 0] = True
    a[[0, 1, 4], 1] = True
    a[[2, 3, 5], 2] = True
    w = np.array([1, 1, 1, 1, 0.9, 0.9])
    prob = SitingProblem(sparse.csr_matrix(a), w, np.zeros(6), np.array(["s0", "s1", "s2"]),
                         np.array([f"d{i}" for i in range(6)]))
    res = suggest_sites(prob, 2)  # small: exact runs by default
    assert res.greedy.site_ids == ("s0", "s1") and res.greedy.gains == pytest.approx((4, 0.9))
    assert res.exact.site_ids == ("s1", "s2") and res.exact.objective == pytest.approx(5.8)
    assert res.gap == pytest.approx(0.9 / 5.8)
    assert res.best is res.exact
    d = res.to_dict()
    assert d["greedy_gap"] == pytest.approx(0.9 / 5.8) and d["best"] == "exact"
    assert d["share_after"] == pytest.approx(5.8 / w.sum(), abs=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # PuLP 3.x announces its 4.0 API
def test_independent_solver_pulp(instance):
    pulp = pytest.importorskip("pulp")
    *_, prob = instance
    n = 4
    a = prob.matrix.toarray()
    rows = [i for i in range(a.shape[0]) if prob.existing[i] == 0 and a[i].any()]
    m = pulp.LpProblem("mclp", pulp.LpMaximize)
    x = [pulp.LpVariable(f"x{j}", cat="Binary") for j in range(a.shape[1])]
    y = {i: pulp.LpVariable(f"y{i}", 0, 1) for i in rows}
    m += pulp.lpSum(prob.weight[i] * y[i] for i in rows)
    m += pulp.lpSum(x) <= n
    for i in rows:
        m += y[i] <= pulp.lpSum(x[j] for j in np.flatnonzero(a[i]))
    m.solve(pulp.PULP_CBC_CMD(msg=False))
    assert exact_sites(prob, n).objective == pytest.approx(pulp.value(m.objective))


def test_greedy_stops_when_nothing_is_added():
    a = sparse.csr_matrix(np.array([[1, 1], [0, 0]], dtype=bool))
    prob = SitingProblem(a, [5.0, 1.0], [0, 0], np.array(["a", "b"]), np.array(["x", "y"]))
    g = greedy_sites(prob, 2)
    assert g.site_ids == ("a",) and g.objective == 5.0  # b adds nothing after a
    e = exact_sites(prob, 2)
    assert e.site_ids == ("a",) and e.objective == 5.0


def test_matrix_csv_gives_the_same_answer(instance, tmp_path):
    eng, st, dem, cand, prob = instance
    lon = np.concatenate((cand.lon, st.lon))
    lat = np.concatenate((cand.lat, st.lat))
    ids = list(cand.ids) + list(st.ids)
    minutes = haversine_np(dem.lon[:, None], dem.lat[:, None], lon[None, :], lat[None, :]) \
        / eng.metres_per_minute
    path = tmp_path / "matrix.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("demand_id,site_id,minutes\n")
        for i, j in zip(*np.nonzero(minutes <= 30), strict=True):  # a routing tool's cut-off
            fh.write(f"{dem.ids[i]},{ids[j]},{float(minutes[i, j])!r}\n")
    table = read_matrix_csv(path)
    assert table.unit == "minutes"
    prob2 = siting_problem_from_matrix(dem, cand, table, 15, existing_ids=st.ids)
    assert (prob2.matrix != prob.matrix).nnz == 0
    np.testing.assert_array_equal(prob2.existing, prob.existing)
    r1 = suggest_sites(prob, 3, beta=0.3, exact=True)
    r2 = suggest_sites(prob2, 3, beta=0.3, exact=True)
    assert r1.greedy.site_ids == r2.greedy.site_ids
    assert r1.exact.objective == pytest.approx(r2.exact.objective)
    # Metres work the same way (threshold in metres).
    metres = MatrixTable(table.demand_id, table.site_id, table.value * eng.metres_per_minute,
                         "metres")
    prob3 = siting_problem_from_matrix(dem, cand, metres, eng.radius_m(15),
                                       existing_ids=st.ids)
    assert (prob3.matrix != prob.matrix).nnz == 0


def test_mismatched_matrix_ids_are_listed(instance, tmp_path):
    _, st, dem, cand, _ = instance
    path = tmp_path / "m.csv"
    path.write_text("demand_id,site_id,minutes\nd1,c1,3\nghost,c1,4\nd2,nowhere,5\n"
                    "d3,E9,2\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"1 demand id\(s\) are not in the demand set of 120:"
                                           r" 'ghost'"):
        siting_problem_from_matrix(dem, cand, read_matrix_csv(path), 15, existing_ids=st.ids)
    path.write_text("demand_id,site_id,minutes\nd1,c1,3\nd2,nowhere,5\nd3,E9,2\n",
                    encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"2 site id\(s\) are not in the site set of 17: "
                                           r"'E9', 'nowhere'"):
        siting_problem_from_matrix(dem, cand, read_matrix_csv(path), 15, existing_ids=st.ids)


def test_candidates_from_gaps_and_cells(instance, tmp_path):
    eng, st, dem, _, _ = instance
    gaps = find_gaps(eng, st, dem, 15, link_m=300)
    cand = candidates_from_gaps(gaps)
    assert list(cand.ids[:2]) == ["gap-1", "gap-2"] and cand.source == "gaps"
    assert (cand.lon[0], cand.lat[0]) == (gaps.gaps[0].rep_lon, gaps.gaps[0].rep_lat)
    res = suggest_sites(build_siting_problem(eng, st, dem, cand, 15), 1)
    # The biggest gap's representative point recovers at least some of its demand.
    assert res.greedy.objective > 0
    cells = candidates_from_demand(dem, dem.weight > 20)
    assert all(i.startswith("cell-d") for i in cells.ids)
    p = tmp_path / "partners.csv"
    p.write_text("id,name,lon,lat\nP1,加油站,117.18,34.26\nP2,银行,117.19,34.27\n",
                 encoding="utf-8")
    partners = read_candidates(p)
    assert list(partners.ids) == ["P1", "P2"] and partners.source == "file:partners.csv"


BAD = [
    (lambda p: suggest_sites(p, 0), r"n: 0 is not a valid budget; allowed integers 1..14"),
    (lambda p: suggest_sites(p, 15), "allowed integers 1..14"),
    (lambda p: greedy_sites(p, 2, beta=1.5), r"beta: 1.5 is out of range; allowed 0..1"),
    (lambda p: exact_sites(p, 2, beta=-0.1), "beta: -0.1 is out of range"),
]


@pytest.mark.parametrize("call,match", BAD, ids=["n-0", "n-too-big", "beta-above-1",
                                                 "beta-negative"])
def test_bad_siting_arguments(instance, call, match):
    with pytest.raises(InvalidInput, match=match):
        call(instance[-1])


BAD_MATRIX = [
    ("demand_id,site_id,minutes\nd1,c1,-3\n", "row 1: minutes: -3.0 is not a travel cost"),
    ("demand_id,site_id,minutes\nd1,c1,abc\n", "row 1: matrix: minutes 'abc' is not a number"),
    ("demand_id,site_id,seconds\nd1,c1,3\n", "no minutes or distance_m column"),
    ("demand_id,site_id,minutes\n,c1,3\n", "row 1: matrix: empty demand_id"),
    ("demand_id,site_id,minutes\n", "header but no data rows"),
]


@pytest.mark.parametrize("text,match", BAD_MATRIX, ids=["negative", "not-number", "no-cost",
                                                        "empty-id", "no-rows"])
def test_bad_matrix_files(tmp_path, text, match):
    p = tmp_path / "m.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput, match=match):
        read_matrix_csv(p)


def test_bad_matrix_threshold_and_roles(instance, tmp_path):
    _, st, dem, cand, _ = instance
    p = tmp_path / "m.csv"
    p.write_text("demand_id,site_id,minutes\nd1,c1,3\n", encoding="utf-8")
    t = read_matrix_csv(p)
    with pytest.raises(InvalidInput, match=r"threshold: 1000 minutes is out of range; allowed "
                                           r"\(0, 120\]"):
        siting_problem_from_matrix(dem, cand, t, 1000)
    with pytest.raises(InvalidInput, match="both candidates and existing stations"):
        siting_problem_from_matrix(dem, cand, t, 15, existing_ids=["c1"])
    with pytest.raises(InvalidInput, match="duplicate id"):
        Candidates(np.array(["a", "a"], dtype=object), [117, 117.1], [34, 34])

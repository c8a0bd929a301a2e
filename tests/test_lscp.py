"""How many sites reach the target (LSCP, issue #12): exact equal to brute force, the
greedy never better and its gap, targets below 100%, backup coverage, existing stations
kept, infeasible targets refused with the best share, spopt's San Francisco LSCP, and
``locator target`` through the CLI."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from locator.cli.main import main
from locator.coverage import (
    SitingProblem,
    StraightLineEngine,
    build_siting_problem,
    read_candidates,
    read_demand,
    select_stations,
)
from locator.coverage.lscp import fewest_sites, parse_target, reachable_share
from locator.errors import InvalidInput

SF = Path(__file__).parent / "data" / "spopt_sf" / "sf_network_distance.csv"


def problem(reach, weight=None, existing=None) -> SitingProblem:
    """A problem from a (units x sites) 0/1 list."""
    a = np.asarray(reach, dtype=bool)
    nd, ns = a.shape
    return SitingProblem(sparse.csr_matrix(a), np.ones(nd) if weight is None else weight,
                         np.zeros(nd, int) if existing is None else existing,
                         np.array([f"s{j}" for j in range(ns)], dtype=object),
                         np.array([f"d{i}" for i in range(nd)], dtype=object))


def brute(p: SitingProblem, target: float, backup: bool) -> int | None:
    """Fewest sites by enumeration (None: infeasible)."""
    a = p.matrix.toarray()
    level = 2 if backup else 1
    goal = target * p.weight.sum() - 1e-9
    for k in range(a.shape[1] + 1):
        for combo in itertools.combinations(range(a.shape[1]), k):
            c = p.existing + a[:, list(combo)].sum(axis=1)
            if p.weight[c >= level].sum() >= goal:
                return k
    return None


def covered_twice_or_once(p: SitingProblem, sites, *, level: int) -> np.ndarray:
    """Per unit: reached ``level`` times by the existing stations and ``sites``,
    recomputed from the matrix."""
    a = p.matrix.toarray()
    return p.existing + a[:, list(sites)].sum(axis=1) >= level


def meets(p: SitingProblem, sites, target: float, backup: bool) -> bool:
    """The target share is met by ``sites`` (recomputed from the matrix)."""
    ok = covered_twice_or_once(p, sites, level=2 if backup else 1)
    return p.weight[ok].sum() >= target * p.weight.sum() - 1e-9


def grid_problem(nx: int, ny: int, radius: float) -> SitingProblem:
    """Demand and a candidate site at each point of an ``nx`` x ``ny`` grid (weights 0
    to 9, seeded), each site reaching the points within ``radius`` grid steps: a dense
    covering problem like the 672 uncovered 370 m cells with 15-minute walking reach."""
    x, y = np.meshgrid(np.arange(nx), np.arange(ny))
    pts = np.column_stack((x.ravel(), y.ravel())).astype(float)
    d = np.hypot(pts[:, None, 0] - pts[None, :, 0], pts[:, None, 1] - pts[None, :, 1])
    w = np.random.default_rng(5).integers(0, 10, pts.shape[0]).astype(float)
    return problem(d <= radius, w)


def random_problem(seed: int) -> SitingProblem:
    rng = np.random.default_rng(seed)
    nd, ns = int(rng.integers(8, 25)), int(rng.integers(4, 10))
    a = rng.random((nd, ns)) < rng.uniform(0.25, 0.5)
    e = rng.integers(0, 3, nd) * (rng.random(nd) < 0.3)
    return problem(a, rng.integers(0, 10, nd).astype(float), e)


# ------------------------------------------------------------------- against brute force


@pytest.mark.parametrize("backup", [False, True], ids=["single", "backup"])
@pytest.mark.parametrize("target", [1.0, 0.9, 0.6], ids=["100%", "90%", "60%"])
def test_exact_equals_brute_force_and_greedy_is_never_better(target, backup):
    checked = 0
    for seed in range(300):
        if checked == 10:
            break
        p = random_problem(seed)
        best = brute(p, target, backup)
        if best is None:
            with pytest.raises(InvalidInput, match="at most|no demand unit") as e:
                fewest_sites(p, target=target, backup=backup)
            assert e.value.field in ("target", "backup")
            continue
        exact = fewest_sites(p, target=target, backup=backup, method="exact")
        greedy = fewest_sites(p, target=target, backup=backup, method="greedy")
        plain = fewest_sites(p, target=target, backup=backup, method="greedy",
                             improve=False)
        assert exact.count == best and exact.optimal
        assert exact.greedy.count >= best and greedy.count >= best
        assert best <= greedy.count <= plain.count == greedy.info["greedy_plain_count"]
        assert meets(p, greedy.site_index, target, backup)
        assert exact.gap == exact.greedy.count - best
        assert greedy.lower_bound <= best  # the LP relaxation's bound
        for r in (exact, greedy):
            reached = r.backup_share if backup else r.share
            assert reached >= target - 1e-9
            assert len(set(r.site_index)) == r.count
            assert [f"s{j}" for j in r.site_index] == list(r.site_ids)
        checked += 1
    assert checked >= 10


def test_reverse_delete_drops_the_decoy():
    """Three pairs of units and a decoy site reaching one unit of each pair: the greedy
    opens the decoy first, then the three pair sites, and drops the decoy."""
    reach = [[1, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 1], [0, 1, 0, 0], [0, 0, 1, 1],
             [0, 0, 1, 0]]
    p = problem(reach, np.array([1.0, 0.9, 1.0, 0.9, 1.0, 0.9]))
    r = fewest_sites(p, method="exact")
    assert r.count == 3 and r.optimal and r.method == "exact"
    assert set(r.site_ids) == {"s0", "s1", "s2"} and r.greedy.count == 3
    g = fewest_sites(p, method="greedy")
    assert g.count == 3 and g.optimal and g.lower_bound == 3  # the LP bound proves it


def test_greedy_above_the_optimum_reports_its_gap():
    """s4 reaches 6 of the 8 units, so the greedy opens it first and then needs two more
    for units 0 and 1; s1 and s2 together reach all 8."""
    sites = [(0, 4, 5), (1, 3, 5, 6, 7), (0, 2, 4, 7), (2,), (2, 3, 4, 5, 6, 7)]
    reach = np.zeros((8, len(sites)), dtype=bool)
    for j, units in enumerate(sites):
        reach[list(units), j] = True
    p = problem(reach)
    assert brute(p, 1.0, False) == 2
    r = fewest_sites(p, method="exact", improve=False)  # the plain greedy
    assert r.count == 2 and r.optimal and set(r.site_ids) == {"s1", "s2"}
    assert r.greedy.count == 3 and r.gap == 1 and r.gap_ratio == pytest.approx(0.5)
    doc = r.to_dict()
    assert doc["greedy_gap"] == 1 and doc["count"] == 2 and doc["lower_bound"] == 2
    g = fewest_sites(p, method="greedy", improve=False)  # the gap is against the LP bound
    assert g.method == "greedy" and g.count == 3 and g.lower_bound <= 2 and g.exact is None


def test_two_for_one_swap_beats_the_plain_greedy():
    """The same instance: the greedy's s4 and one of its two partners reach nothing the
    other sites do not, except what s1 or s2 alone reaches; the swap closes two and
    opens one, reaching the optimum of 2 without the exact solve."""
    sites = [(0, 4, 5), (1, 3, 5, 6, 7), (0, 2, 4, 7), (2,), (2, 3, 4, 5, 6, 7)]
    reach = np.zeros((8, len(sites)), dtype=bool)
    for j, units in enumerate(sites):
        reach[list(units), j] = True
    p = problem(reach)
    plain = fewest_sites(p, method="greedy", improve=False)
    g = fewest_sites(p, method="greedy")
    assert plain.count == 3 and g.count == 2 < plain.count
    assert set(g.site_ids) == {"s1", "s2"} and g.optimal and g.gap == 0
    assert g.info["greedy_plain_count"] == 3 and g.info["greedy_swaps"] == 1
    assert covered_twice_or_once(p, g.site_index, level=1).all()


def test_no_bound_in_time_is_said_not_zero(monkeypatch):
    """When no solver finds a lower bound within the time limit the result says so
    (None), instead of a bound of 0 that would make any count look far from the
    fewest."""
    import locator.coverage.lscp as lscp

    sites = [(0, 4, 5), (1, 3, 5, 6, 7), (0, 2, 4, 7), (2,), (2, 3, 4, 5, 6, 7)]
    reach = np.zeros((8, len(sites)), dtype=bool)
    for j, units in enumerate(sites):
        reach[list(units), j] = True
    monkeypatch.setattr(lscp, "_lp_relaxation", lambda *a, **k: None)  # as if timed out
    g = fewest_sites(problem(reach), method="greedy", improve=False)
    assert g.count == 3 and g.lower_bound is None and g.gap is None and not g.optimal
    doc = g.to_dict()
    assert doc["lower_bound"] is None and doc["greedy_gap"] is None


@pytest.mark.parametrize("target, backup", [(1.0, False), (0.95, False), (1.0, True)],
                         ids=["100%", "95%", "backup"])
def test_swaps_improve_the_greedy_on_a_dense_grid(target, backup):
    """672 grid points (those with weight), a site at each, reaching 2 steps: the
    plain greedy opens more sites than the swaps leave, and both meet the target."""
    p = grid_problem(28, 24, 2.0)
    plain = fewest_sites(p, target=target, backup=backup, method="greedy", improve=False)
    g = fewest_sites(p, target=target, backup=backup, method="greedy")
    assert meets(p, plain.site_index, target, backup)
    assert meets(p, g.site_index, target, backup)
    assert len(set(g.site_index)) == g.count
    assert g.lower_bound <= g.count <= plain.count
    assert g.info["greedy_plain_count"] == plain.count
    assert isinstance(g.info["greedy_lp_guided"], bool)
    if target == 1.0:
        assert g.count < plain.count
        assert g.timings["greedy"] < 7.0  # two starts, each search within 3 s


# ------------------------------------------------------------------- targets and backup


def test_target_95_needs_fewer_sites_than_100():
    """19 units of weight 1 reached by site 0 (or 1), the 20th only by site 2."""
    reach = np.zeros((20, 3), dtype=bool)
    reach[:19, 0] = reach[:19, 1] = True
    reach[19, 2] = True
    p = problem(reach)
    full = fewest_sites(p)
    assert full.count == 2 and "s2" in full.site_ids and full.share == 1.0
    part = fewest_sites(p, target="95%")  # s0 or s1 (they reach the same units)
    assert part.count == 1 and part.site_ids[0] in ("s0", "s1")
    assert part.share == pytest.approx(0.95)
    assert fewest_sites(p, target=0.95).count == 1
    assert fewest_sites(p, target=0.951).count == 2


def test_existing_stations_are_kept_and_count():
    reach = np.zeros((20, 3), dtype=bool)
    reach[:19, 0] = True
    reach[19, 2] = True
    existing = np.zeros(20, int)
    existing[:19] = 1  # a station already reaches the first 19
    p = problem(reach, existing=existing)
    r = fewest_sites(p)
    assert r.site_ids == ("s2",) and r.share_before == pytest.approx(0.95)
    met = fewest_sites(p, target="95%")
    assert met.count == 0 and met.optimal and met.share == pytest.approx(0.95)


def test_backup_counts_existing_reach_toward_two():
    """Units 0-3 are reached by one station; with backup each needs one more site."""
    reach = [[1, 0, 1], [1, 0, 1], [0, 1, 1], [0, 1, 0], [1, 1, 0]]
    existing = np.array([1, 1, 1, 1, 0])
    p = problem(reach, existing=existing)
    assert fewest_sites(p).count == 1  # unit 4 only: s0 or s1
    r = fewest_sites(p, backup=True)
    assert r.count == brute(p, 1.0, True) == 2
    assert r.backup_share == 1.0 and set(r.site_ids) == {"s0", "s1"}
    assert r.to_dict()["backup"] is True


def test_backup_with_no_way_to_reach_twice_is_refused():
    p = problem([[1, 0], [0, 0], [0, 1]])  # no unit is within reach of two sites
    with pytest.raises(InvalidInput, match="no demand unit can be reached by two") as e:
        fewest_sites(p, backup=True)
    assert e.value.field == "backup"


# ------------------------------------------------------------------- bad input


def test_infeasible_target_says_how_close_the_best_is():
    """973 of 1,000 weight within reach: at most 97.3%."""
    reach = [[1, 0], [0, 1], [0, 0]]
    p = problem(reach, np.array([900.0, 73.0, 27.0]))
    assert reachable_share(p) == pytest.approx(0.973)
    with pytest.raises(InvalidInput, match=r"at most 97\.3% of demand; target 100%") as e:
        fewest_sites(p)
    assert e.value.field == "target" and "1 demand units holding 2.7%" in str(e.value)
    assert fewest_sites(p, target="97.3%").count == 2
    # 99.96% is not shown as 100.0% (nor as 99.9%, which it is more than)
    p = problem(reach, np.array([9000.0, 996.0, 4.0]))
    with pytest.raises(InvalidInput, match=r"at most 99\.96% of demand; target 100%.*"
                                           r"holding 0\.04% of demand"):
        fewest_sites(p)
    with pytest.raises(InvalidInput, match=r"at most 99\.9605% of demand; target 99\.961%"):
        fewest_sites(problem(reach, np.array([9000.0, 996.05, 3.95])), target="99.961%")


@pytest.mark.parametrize("value, message", [
    (1.2, "above 100%"), ("120%", "above 100%"), (0, "not above 0"), ("-5%", "not above 0"),
    ("lots", "not a share"), (None, "not a share"), (True, "not a share"),
], ids=["1.2", "120%", "0", "-5%", "text", "none", "bool"])
def test_bad_targets_are_refused(value, message):
    with pytest.raises(InvalidInput, match=message) as e:
        fewest_sites(problem([[1]]), target=value)
    assert e.value.field == "target"


@pytest.mark.parametrize("value, share", [("95%", 0.95), (" 95 % ", 0.95), ("0.95", 0.95),
                                          (0.95, 0.95), (1, 1.0), ("100%", 1.0),
                                          ("95％", 0.95)],
                         ids=["95%", "spaces", "0.95-text", "0.95", "1", "100%", "fullwidth"])
def test_target_forms(value, share):
    assert parse_target(value) == pytest.approx(share)


@pytest.mark.parametrize("kwargs, field", [
    ({"method": "fast"}, "method"), ({"time_limit": 0}, "time_limit"),
    ({"backup": "yes"}, "backup"), ({"improve": 1}, "improve")],
    ids=["method", "time-limit", "backup", "improve"])
def test_bad_options_name_the_field(kwargs, field):
    with pytest.raises(InvalidInput) as e:
        fewest_sites(problem([[1]]), **kwargs)
    assert e.value.field == field


def test_no_demand_weight_is_refused():
    with pytest.raises(InvalidInput, match="total demand weight is 0") as e:
        fewest_sites(problem([[1], [1]], np.zeros(2)))
    assert e.value.field == "demand"


# ------------------------------------------------------------------- spopt's SF data


def sf_instance():
    with SF.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    head, body = rows[0], rows[1:]
    cost = np.array([[float(x) for x in r[2:]] for r in body])
    weight = np.array([float(r[1]) for r in body])
    return cost, weight, np.array(head[2:], dtype=object), [r[0] for r in body]


# PuLP 3.3 warns of its 4.0 API (LpVariable, PULP_CBC_CMD) as spopt uses it
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("radius", [5000.0, 6000.0, 8000.0, 10000.0],
                         ids=["5km", "6km", "8km", "10km"])
def test_sf_objective_equals_spopt(radius):
    """spopt's San Francisco test data (205 tracts, 16 candidate stores, network
    distances): the fewest stores covering every tract equals spopt's LSCP."""
    pytest.importorskip("spopt")
    import pulp
    from spopt.locate import LSCP

    cost, weight, stores, tracts = sf_instance()
    model = LSCP.from_cost_matrix(cost, radius).solve(pulp.PULP_CBC_CMD(msg=False))
    assert model.problem.status == pulp.LpStatusOptimal
    p = SitingProblem(sparse.csr_matrix(cost <= radius), weight, np.zeros(len(weight), int),
                      stores, np.array(tracts, dtype=object))
    r = fewest_sites(p, method="exact")
    assert r.count == round(model.problem.objective.value()) and r.optimal and r.share == 1.0
    assert fewest_sites(p, method="greedy").count >= r.count


def test_sf_infeasible_radius_like_spopt():
    """At 4 km five tracts have no store within reach: spopt's LSCP is infeasible; we
    say so with the best share."""
    cost, weight, stores, tracts = sf_instance()
    p = SitingProblem(sparse.csr_matrix(cost <= 4000), weight, np.zeros(len(weight), int),
                      stores, np.array(tracts, dtype=object))
    share = float(weight[(cost <= 4000).any(axis=1)].sum() / weight.sum())
    with pytest.raises(InvalidInput, match=rf"at most {np.ceil(1000 * share) / 10:.1f}% of"):
        fewest_sites(p)
    assert fewest_sites(p, target=0.98).count >= 1


# ------------------------------------------------------------------- engine and CLI


@pytest.fixture()
def db(tmp_path, runner, tiny_csv):
    path = tmp_path / "target.sqlite"
    r = runner.invoke(main, ["import", str(tiny_csv), "--db", str(path), "--actor", "t"])
    assert r.exit_code == 0, r.output
    return path


@pytest.fixture()
def cand_csv(tmp_path):
    lon, lat = np.meshgrid(np.arange(117.162, 117.32, 0.012), np.arange(34.242, 34.31, 0.01))
    p = tmp_path / "cands.csv"
    p.write_text("id,name,lon,lat\n" + "".join(
        f"c{i},候选{i}号,{x:.6f},{y:.6f}\n" for i, (x, y) in enumerate(zip(
            lon.ravel(), lat.ravel(), strict=True))), encoding="utf-8")
    return p


def core_problem(tiny_stations, demand_csv, cand_csv):
    return build_siting_problem(StraightLineEngine("walk"), select_stations(tiny_stations),
                                read_demand(demand_csv), read_candidates(cand_csv), 15)


def test_cli_target_equals_the_core(runner, db, demand_csv, cand_csv, tiny_stations,
                                    tmp_path):
    p = core_problem(tiny_stations, demand_csv, cand_csv)
    share = reachable_share(p)
    target = np.floor(share * 1000) / 1000  # the largest feasible target, rounded down
    core = fewest_sites(p, target=target)
    out = tmp_path / "sites.csv"
    args = ["target", "--db", str(db), "--demand", str(demand_csv), "--candidates",
            str(cand_csv), "--target", f"{100 * target:g}%"]
    r = runner.invoke(main, [*args, "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["lscp"]["count"] == core.count and doc["lscp"]["site_ids"] == list(core.site_ids)
    assert doc["lscp"]["share"] == pytest.approx(core.share)
    assert doc["sites"][0]["name"].startswith("候选")
    text = runner.invoke(main, [*args, "--out", str(out)])
    assert text.exit_code == 0, text.output
    assert f"New sites needed: {core.count}" in text.output
    assert "Greedy:" in text.output and "lower bound" in text.output
    assert core.site_ids[0] in text.output and "Sites written to" in text.output
    with out.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["id"] for row in rows] == list(core.site_ids)
    assert rows[0]["name"].startswith("候选") and rows[0]["notice"]  # illustrative demand
    assert rows[0]["place"] and rows[0]["district_name"]  # named by district and station


def test_cli_target_from_gap_grid(runner, db, demand_csv):
    r = runner.invoke(main, ["target", "--db", str(db), "--demand", str(demand_csv),
                             "--candidates-from", "gaps", "--target", "90%", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["lscp"]["share"] >= 0.9 and doc["sites"] and doc["sites"][0]["district_name"]


def test_cli_target_from_uncovered_units_reaches_100(runner, db, demand_csv):
    """A site at each of the 672 uncovered grid points: a hard covering problem that
    HiGHS does not prove within 3 s; the answer says so and gives its bound."""
    r = runner.invoke(main, ["target", "--db", str(db), "--demand", str(demand_csv),
                             "--time-limit", "3", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    res = doc["lscp"]
    assert res["share"] == 1.0 and doc["candidates"]["source"] == "uncovered"
    assert res["count"] == len(doc["sites"]) > 0
    assert res["lower_bound"] <= res["count"] <= res["greedy_count"]
    assert res["optimal"] == (res["lower_bound"] == res["count"])
    text = runner.invoke(main, ["target", "--db", str(db), "--demand", str(demand_csv),
                                "--method", "greedy"]).output
    assert "(greedy, " in text and "the LP relaxation" in text


@pytest.mark.parametrize("args, message", [
    (["--target", "120%"], "target: '120%' is above 100%"),
    (["--target", "100%"], "at most"),
    (["--out", "x.shp"], "--out: unsupported format"),
], ids=["above-100", "infeasible", "out-format"])
def test_cli_bad_input_is_one_line_exit_2(runner, db, demand_csv, cand_csv, args, message):
    r = runner.invoke(main, ["target", "--db", str(db), "--demand", str(demand_csv),
                             "--candidates", str(cand_csv), *args])
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


"""Capacity-aware access (issue #12): 2SFCA and E2SFCA scores equal PySAL ``access`` on
the same inputs to 1e-9; capacities are checked; supply is conserved; the equity
indices equal hand-computed values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from locator.coverage import StraightLineEngine, demand_from_points, station_set
from locator.coverage.access import access_scores, access_zones
from locator.coverage.equity import equity_report, gini, lorenz_share, palma, theil, worst_served
from locator.errors import InvalidInput
from locator.geo import haversine_np


def scene(seed: int, n_demand: int = 600, n_stations: int = 40):
    rng = np.random.default_rng(seed)
    d_lon = 117.18 + rng.uniform(-0.05, 0.05, n_demand)
    d_lat = 34.26 + rng.uniform(-0.05, 0.05, n_demand)
    weight = rng.integers(1, 40, n_demand).astype(float)
    s_lon = 117.18 + rng.uniform(-0.05, 0.05, n_stations)
    s_lat = 34.26 + rng.uniform(-0.05, 0.05, n_stations)
    cap = rng.integers(2, 30, n_stations).astype(float)
    dem = demand_from_points(d_lon, d_lat, weight)
    st = station_set([f"S{j}" for j in range(n_stations)], s_lon, s_lat)
    return dem, st, cap


def pysal_scores(engine, dem, st, cap, minutes, method):
    """The same run through PySAL access: the full cost table of straight-line
    minutes, supply and demand frames."""
    pd = pytest.importorskip("pandas")
    access = pytest.importorskip("access")
    from access import weights

    di, sj = np.meshgrid(np.arange(len(dem)), np.arange(len(st)), indexing="ij")
    di, sj = di.ravel(), sj.ravel()
    metres = haversine_np(dem.lon[di], dem.lat[di], st.lon[sj], st.lat[sj])
    cost = pd.DataFrame({"origin": dem.ids[di].astype(str), "dest": st.ids[sj].astype(str),
                         "cost": engine.minutes_for_m(metres)})
    demand_df = pd.DataFrame({"geoid": dem.ids.astype(str), "pop": dem.weight})
    supply_df = pd.DataFrame({"geoid": st.ids.astype(str), "seats": cap})
    with warnings.catch_warnings():  # access on pandas 3 warns of its own inplace calls
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return _pysal_run(access, weights, demand_df, supply_df, cost, dem, minutes, method)


def _pysal_run(access, weights, demand_df, supply_df, cost, dem, minutes, method):
    acc = access.Access(demand_df=demand_df, demand_index="geoid", demand_value="pop",
                        supply_df=supply_df, supply_index="geoid", supply_value="seats",
                        cost_df=cost, cost_origin="origin", cost_dest="dest",
                        cost_name="cost")
    if method == "2sfca":
        out = acc.two_stage_fca(name="a", max_cost=minutes)
    else:
        zones = {m: w for m, w in access_zones(minutes, "e2sfca")}
        out = acc.enhanced_two_stage_fca(name="a", max_cost=minutes,
                                         weight_fn=weights.step_fn(zones))
    series = out.iloc[:, 0]
    return np.array([float(series.get(str(i), 0.0)) if not math.isnan(
        float(series.get(str(i), 0.0))) else 0.0 for i in dem.ids])


@pytest.mark.parametrize("method", ["2sfca", "e2sfca"])
@pytest.mark.parametrize("seed", [1, 2])
def test_scores_equal_pysal_access(method, seed):
    dem, st, cap = scene(seed)
    eng = StraightLineEngine("walk")
    res = access_scores(eng, st, dem, 15, method=method, capacity=cap)
    want = pysal_scores(eng, dem, st, cap, 15.0, method)
    assert (res.scores > 0).sum() > 100 and (res.scores == 0).sum() > 0
    np.testing.assert_allclose(res.scores, want, rtol=1e-9, atol=1e-12)


def test_supply_is_conserved_and_ratios_are_capacity_over_catchment():
    dem, st, cap = scene(3)
    res = access_scores(StraightLineEngine("walk"), st, dem, 15, capacity=cap)
    reached = res.catchment_demand > 0
    assert (dem.weight * res.scores).sum() == pytest.approx(cap[reached].sum(), rel=1e-12)
    # E2SFCA's catchment of a station: its demand within 5 min weighs 1, 5-10 0.68,
    # 10-15 0.22, as a direct sum over the pairs.
    j = int(np.argmax(res.catchment_demand))
    eng = StraightLineEngine("walk")
    t = eng.minutes_for_m(haversine_np(dem.lon, dem.lat, st.lon[j], st.lat[j]))
    w = np.select([t <= 5, t <= 10, t <= 15], [1.0, 0.68, 0.22], 0.0)
    assert res.catchment_demand[j] == pytest.approx((w * dem.weight).sum(), rel=1e-12)
    assert res.ratio[j] == pytest.approx(cap[j] / res.catchment_demand[j])
    crowded = res.crowded(3)
    per = [c["demand_per_capacity"] for c in crowded]
    assert per == sorted(per, reverse=True) and len(crowded) == 3
    top = int(np.argmax(np.where(cap > 0, res.catchment_demand / cap, 0)))
    assert crowded[0]["id"] == f"S{top}"
    # demand no station reaches: city-wide and by district, adding up
    doc = res.to_dict()
    assert doc["demand_without_access"] == pytest.approx(
        dem.weight[res.scores <= 0].sum(), abs=1e-6)
    assert sum(d["demand_without_access"] for d in doc["districts"]) == pytest.approx(
        doc["demand_without_access"], abs=1e-5)


def test_without_capacities_every_station_counts_one():
    dem, st, _ = scene(4)
    res = access_scores(StraightLineEngine("walk"), st, dem, 10, method="2sfca")
    np.testing.assert_allclose(res.capacity, 1.0)
    assert (dem.weight * res.scores).sum() == pytest.approx(
        float((res.catchment_demand > 0).sum()))


@pytest.mark.parametrize("capacity, message", [
    ([0] * 40, "capacity 0"), ([-3] * 40, "capacity -3"), ([1] * 39, "39 values for 40"),
    ({"S0": 2}, "no capacity for station 'S1'"), ([float("nan")] * 40, "capacity nan")])
def test_bad_capacities_name_the_field_and_the_station(capacity, message):
    dem, st, _ = scene(5)
    with pytest.raises(InvalidInput) as e:
        access_scores(StraightLineEngine("walk"), st, dem, 15, capacity=capacity)
    assert e.value.field == "capacity" and message in str(e.value)


@pytest.mark.parametrize("kw, field", [({"method": "3sfca"}, "method"),
                                       ({"weights": [1.0, 1.2]}, "weights"),
                                       ({"weights": [0.5, 0.9]}, "weights"),
                                       ({"method": "2sfca", "weights": [1.0]}, "weights")])
def test_bad_methods_and_weights(kw, field):
    dem, st, _ = scene(6)
    with pytest.raises(InvalidInput) as e:
        access_scores(StraightLineEngine("walk"), st, dem, 15, **kw)
    assert e.value.field == field


# --------------------------------------------------------------------------- equity


def test_gini_theil_palma_equal_hand_computed_values():
    # 1, 2, 3, 4: the pairs' differences sum to 10 (20 both ways); n^2 = 16, mean 2.5:
    # G = 20 / (2 * 16 * 2.5) = 0.25.
    assert gini([1, 2, 3, 4]) == pytest.approx(0.25, abs=1e-12)
    # Weights are repetitions: 1 (twice) and 3 is the same as 1, 1, 3: mean 5/3, the
    # differences |1-3| twice each way: 8 / (2 * 9 * 5/3) = 4/15.
    assert gini([1, 3], [2, 1]) == pytest.approx(4 / 15, abs=1e-12)
    assert gini([1, 1, 3]) == pytest.approx(4 / 15, abs=1e-12)
    assert gini([5, 5, 5]) == 0.0 and gini([0, 0]) is None
    # Theil of 1, 2, 3, 4 (mean 2.5): (0.4 ln 0.4 + 0.8 ln 0.8 + 1.2 ln 1.2 + 1.6 ln 1.6)/4
    # = (-0.366516 - 0.178515 + 0.218786 + 0.752006) / 4 = 0.106440.
    assert theil([1, 2, 3, 4]) == pytest.approx(0.106440, abs=1e-6)
    # One unit has everything among 4: T = ln 4, G = 3/4.
    assert theil([0, 0, 0, 8]) == pytest.approx(math.log(4), abs=1e-12)
    assert gini([0, 0, 0, 8]) == pytest.approx(0.75, abs=1e-12)
    # 1..10: the top 10% hold 10/55, the bottom 40% hold (1+2+3+4)/55: Palma 1.
    assert palma(range(1, 11)) == pytest.approx(1.0, abs=1e-12)
    # 1, 1, 1, 1, 6 over 5 units of weight 2 each is 1..10-like: top 10% = half of the 6
    # unit's weight: 3 of 10; bottom 40% = 2 units of 1: 2 of 10 -> 1.5.
    assert palma([1, 1, 1, 1, 6], [2, 2, 2, 2, 2]) == pytest.approx(1.5, abs=1e-12)
    assert lorenz_share([1, 1, 1, 1, 6], None, 0.4) == pytest.approx(0.2)
    assert palma([0, 0, 0, 0, 1, 1, 1, 1, 1, 5]) is None  # the bottom 40% have nothing


def test_worst_served_tenth():
    # 20 units of weight 1: 3 without access, then 1..17. The worst 10% = 2 units,
    # both uncovered.
    x = [0, 0, 0, *range(1, 18)]
    assert worst_served(x) == {"share_uncovered": 1.0, "mean_access": 0.0}
    # One uncovered unit of weight 1 among 20: the worst 2 are it and the unit of 1.
    x = [0, *range(1, 20)]
    got = worst_served(x)
    assert got["share_uncovered"] == pytest.approx(0.5)
    assert got["mean_access"] == pytest.approx(0.5)


def test_equity_report_by_district():
    rep = equity_report([1, 2, 3, 4, 5, 5], [1, 1, 1, 1, 1, 1],
                        district=["a", "a", "a", "a", "b", "b"])
    assert rep["city"]["gini"] == pytest.approx(gini([1, 2, 3, 4, 5, 5]))
    a, b = rep["districts"]
    assert a["adcode"] == "a" and a["gini"] == pytest.approx(0.25)
    assert b["gini"] == 0.0 and b["theil"] == 0.0


class _MatrixOnly:
    """The straight-line engine seen through the coverage interface only (as a road
    network answers): no pair minutes, so access takes the nested reach matrices."""

    def __init__(self, engine):
        self._e = engine
        self.mode, self.name = engine.mode, engine.name

    def describe(self):
        return self._e.describe()

    def coverage_matrix(self, *args):
        return self._e.coverage_matrix(*args)


def test_any_coverage_engine_gives_the_same_scores():
    dem, st, cap = scene(7)
    eng = StraightLineEngine("walk")
    one = access_scores(eng, st, dem, 15, capacity=cap)
    nested = access_scores(_MatrixOnly(eng), st, dem, 15, capacity=cap)
    np.testing.assert_allclose(one.scores, nested.scores, rtol=1e-12, atol=0)
    np.testing.assert_allclose(one.catchment_demand, nested.catchment_demand, rtol=1e-12)


def test_pair_minutes_are_the_coverage_pairs():
    dem, st, _ = scene(8)
    eng = StraightLineEngine("walk")
    di, si, t = eng.reach_minutes(st.lon, st.lat, dem.lon, dem.lat, 12)
    m = eng.coverage_matrix(st.lon, st.lat, dem.lon, dem.lat, 12).tocoo()
    assert sorted(zip(di.tolist(), si.tolist(), strict=True)) == \
        sorted(zip(m.row.tolist(), m.col.tolist(), strict=True))
    want = eng.minutes_for_m(haversine_np(dem.lon[di], dem.lat[di], st.lon[si], st.lat[si]))
    np.testing.assert_allclose(t, want, rtol=1e-9)
    assert t.max() <= 12

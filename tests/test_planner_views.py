"""The planner page's views (#12): the 24-hour profile, saved scenarios, access and the
target, through the Flask test client. Every figure on the page equals the core's on the
same inputs; bad input is a 400 naming the field, next to it; saved scenarios persist."""

from __future__ import annotations

import csv
import io
import json
import re
from html import unescape

import pytest

from locator.coverage import StraightLineEngine, build_siting_problem, read_demand
from locator.coverage.lscp import fewest_sites
from locator.coverage.planning import PlanningData, access_run, gap_candidates, spec_of
from locator.coverage.profile import coverage_profile
from locator.coverage.scenario import Scenario, scenario_run
from locator.web import create_app

SUNDAY = "2026-07-19"
WEDNESDAY = "2026-07-15"
NATIONAL_DAY = "2026-10-01"


def make_app(registry, demand_csv, **config):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none",
                       "LOCATOR_DEMAND": str(demand_csv), **config})


@pytest.fixture()
def app(registry, demand_csv):
    return make_app(registry, demand_csv)


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def data(demand_csv, districts):
    """The planner's data layers, straight from the library."""
    return PlanningData(read_demand(demand_csv), districts)


def walk():
    return StraightLineEngine("walk")


def values(html: str, table: str, field: str) -> list[float | None]:
    """The ``data-value`` of the cells ``data-field=field`` in table ``id=table``."""
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    raw = re.findall(rf'data-field="{field}"[^>]*?data-value="([^"]*)"', body)
    return [None if v == "" else float(v) for v in raw]


def field_error(html: str, id_: str) -> str:
    m = re.search(rf'id="{id_}" role="alert">([^<]*)<', html)
    assert m, f"no error next to {id_}"
    return m.group(1).replace("&#39;", "'").replace("&#34;", '"').replace("&quot;", '"')


# --------------------------------------------------------------------------- selector


def test_view_selector_keeps_the_page_parameters(client):
    r = client.get("/planner?mode=bike&minutes=10&at=2026-07-15T22:00")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    for view in ("profile", "scenario", "access", "target"):
        m = re.search(rf'href="([^"]*)" id="view-{view}"', html)
        assert m, view
        href = m.group(1).replace("&amp;", "&")
        assert f"view={view}" in href and "mode=bike" in href and "minutes=10" in href
        assert "at=2026-07-15T22%3A00" in href
    assert 'id="view-coverage" aria-current="page"' in html
    # The coverage view ignores the others' parameters (and keeps its figures).
    same = client.get("/planner?mode=bike&minutes=10&at=2026-07-15T22:00&day=2026-07-19"
                      "&target=95%25").get_data(as_text=True)
    assert values(same, "district-table", "share_demand") == values(
        html, "district-table", "share_demand")
    assert client.get("/planner?view=nope").status_code == 400


# --------------------------------------------------------------------------- profile


@pytest.mark.parametrize(("day", "profile", "kind", "label"), [
    (WEDNESDAY, "uniform", "workday", "工作日"),
    (SUNDAY, "sanitation", "weekend", "周末"),
    (NATIONAL_DAY, "delivery", "holiday", "节假日"),
], ids=["workday", "weekend-sanitation", "holiday-delivery"])
def test_profile_equals_the_core(client, registry, data, day, profile, kind, label):
    r = client.get(f"/planner?view=profile&day={day}&profile={profile}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    want = coverage_profile(walk(), registry.index.stations(), data.demand, day, minutes=15,
                            districts=data.districts, profile=profile)
    assert values(html, "profile-table", "share") == want.shares
    assert values(html, "profile-table", "cross") == [h.city.share_cross for h in want.hours]
    counted = re.findall(r'data-field="counted">(\d+)<', html)
    assert [int(c) for c in counted] == [h.stations_counted for h in want.hours]
    assert f'data-kind="{kind}">{label}<' in html
    assert html.count('class="bar') == 24 and "<svg" in html
    # Per district: every hour's share.
    first = want.hours[0].districts[0]
    row = html.split(f'data-adcode="{first.adcode}"', 1)[1].split("</tr>", 1)[0]
    shares = [None if v == "" else float(v) for v in re.findall(r'data-value="([^"]*)"', row)]
    assert shares == [h.districts[0].figures.share_demand for h in want.hours]
    # The night gaps are on the map: the units lost at night, counted.
    overlay = json.loads(html.split('id="planner-overlay">', 1)[1].split("</script>", 1)[0])
    assert len(overlay["groups"][0]["points"]) == want.night.units_lost
    assert "LocatorCoverage.create" in html and "//unpkg" not in html


def test_profile_in_english(client):
    html = client.get(f"/planner?view=profile&day={SUNDAY}&lang=en").get_data(as_text=True)
    assert "24-hour coverage profile" in html and ">weekend<" in html
    assert "Stations counted" in html


def test_profile_downloads_equal_the_table(client, registry, data):
    want = coverage_profile(walk(), registry.index.stations(), data.demand, WEDNESDAY,
                            minutes=15, districts=data.districts, profile="sanitation")
    q = f"view=profile&day={WEDNESDAY}&profile=sanitation"
    r = client.get(f"/planner/profile.csv?{q}")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    city = [row for row in rows if row["scope"] == "city"]
    assert [float(row["share_demand"]) for row in city] == pytest.approx(want.shares, abs=1e-6)
    assert len(rows) == len(want.rows()) and rows[0]["notice"]  # illustrative, said so
    x = client.get(f"/planner/profile.xlsx?{q}")
    assert x.status_code == 200 and x.data[:2] == b"PK"
    openpyxl = pytest.importorskip("openpyxl")
    ws = openpyxl.load_workbook(io.BytesIO(x.data)).active
    assert ws.max_row >= len(rows)


@pytest.mark.parametrize(("query", "field"), [
    ("day=2026-13-01", "day"), ("day=07/19/2026", "day"), ("profile=night", "profile"),
], ids=["bad-month", "not-iso", "unknown-profile"])
def test_profile_bad_input_is_400_next_to_the_field(client, query, field):
    r = client.get(f"/planner?view=profile&{query}")
    assert r.status_code == 400
    msg = field_error(r.get_data(as_text=True), f"err-{field}")
    assert field in msg


# --------------------------------------------------------------------------- scenarios


FORM = {"name": "两个新站，关闭 T01", "add": "N1,新站一号,117.25,34.28,24/7\n"
        "N2,新站二号,117.21,34.29", "close": "T01", "change_hours": "T02,Mo-Su 00:00-24:00"}


def save(client, form=None, query="view=scenario", **kw):
    return client.post(f"/planner/scenarios?{query}", data=form or FORM, **kw)


def test_saved_scenario_compares_as_the_core(client, registry, data):
    r = save(client)
    assert r.status_code == 303
    loc = r.headers["Location"]
    assert "view=scenario" in loc and "compare=" in loc
    html = client.get(loc).get_data(as_text=True)
    assert "两个新站，关闭 T01" in html
    stored = client.get("/planner/scenarios/" + FORM["name"] + ".json").get_json()
    sc = Scenario.from_dict(stored)
    assert [s.id for s in sc.add] == ["N1", "N2"] and sc.close == ("T01",)
    run = scenario_run(walk, registry.index.stations(), data, (5, 10, 15), [sc])
    res = run.results[0]
    assert values(html, "scenario-city", "base") == [t.city.base.share_demand
                                                      for t in res.thresholds]
    assert values(html, "scenario-city", "scenario") == [t.city.scenario.share_demand
                                                          for t in res.thresholds]
    assert values(html, "scenario-city", "gained") == [t.city.units_gained
                                                        for t in res.thresholds]
    assert values(html, "scenario-city", "lost") == [t.city.units_lost for t in res.thresholds]
    # Gaining and losing units at 15 minutes on the map.
    overlay = json.loads(html.split('id="planner-overlay">', 1)[1].split("</script>", 1)[0])
    by_key = {g["key"]: len(g["points"]) for g in overlay["groups"]}
    t15 = res.at(15)
    assert by_key == {"gain-0": t15.gained.size, "lose-0": t15.lost.size}
    # The deltas CSV is the core's rows.
    q = loc.split("?", 1)[1]
    rows = list(csv.DictReader(io.StringIO(client.get(f"/planner/scenario.csv?{q}")
                                           .get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == len(run.rows())
    assert [None if x["scenario_share_demand"] == "" else float(x["scenario_share_demand"])
            for x in rows] == [x["scenario_share_demand"] for x in run.rows()]
    x = client.get(f"/planner/scenario.xlsx?{q}")
    assert x.status_code == 200 and x.data[:2] == b"PK"
    units = client.get(f"/planner/scenario-units.geojson?{q}").get_json()
    assert len(units["features"]) == len(run.unit_features())


def test_two_scenarios_side_by_side(client, registry, data):
    assert save(client).status_code == 303
    other = {"name": "只关 T02", "close": "T02"}
    assert save(client, other).status_code == 303
    html = client.get("/planner?view=scenario&compare=" + FORM["name"]
                      + "&compare=只关 T02").get_data(as_text=True)
    run = scenario_run(walk, registry.index.stations(), data, (5, 10, 15),
                       [Scenario.from_dict(client.get(f"/planner/scenarios/{n}.json").get_json())
                        for n in (FORM["name"], "只关 T02")])
    got = values(html, "scenario-city", "scenario")
    want = [t.city.scenario.share_demand for k in range(3) for t in
            (run.results[0].thresholds[k], run.results[1].thresholds[k])]
    assert got == want
    assert 'id="overlay-scenario"' in html


def test_scenario_upload_json(client):
    doc = {"name": "上传的情景", "remove": ["T09"],
           "change": {"T04": {"opening_hours": "24/7", "capacity": 8}}}
    r = save(client, {"name": "", "file": (io.BytesIO(json.dumps(doc).encode()),
                                           "s.json")},
             content_type="multipart/form-data")
    assert r.status_code == 303
    assert client.get("/planner/scenarios/上传的情景.json").get_json()["remove"] == ["T09"]


@pytest.mark.parametrize(("form", "err", "zh"), [
    ({"name": "x", "close": "T01 NOPE"}, "err-s-close",
     "关闭站点 close[1]：站点“NOPE”不在现有站点中"),
    ({"name": "x", "change_capacity": "T02,0"}, "err-s-change_capacity", "'0' 不是座位数"),
    ({"name": "x", "add": "N1,新站,117.2,95"}, "err-s-add", "纬度 add[0].lat：95.0 超出范围"),
    ({"name": "x", "add": "N1,新站,abc,34.2"}, "err-s-add", "经度 add[0].lon：'abc' 不是数字"),
    ({"name": "", "add": "N1,新站,117.2,34.2"}, "err-s-name", "名称 name：必填"),
    ({"name": "", "close": ""}, "err-s-name", "名称 name：必填"),
], ids=["unknown-id", "capacity-0", "lat", "lon", "no-name", "no-name-no-change"])
def test_scenario_errors_are_chinese_on_the_chinese_page(client, form, err, zh):
    html = save(client, form, content_type="multipart/form-data").get_data(as_text=True)
    msg = field_error(html, err)
    assert zh in msg
    assert "is not" not in msg and "out of range" not in msg and "changes nothing" not in msg
    assert unescape(html).count(msg) == 1


@pytest.mark.parametrize(("form", "err", "match"), [
    ({"name": "x", "close": "T01 NOPE"}, "err-s-close", 'close[1]: station "NOPE" is not'),
    ({"name": "x", "change_capacity": "T02,0"}, "err-s-change_capacity", "capacity"),
    ({"name": "x", "change_capacity": "T02,-3"}, "err-s-change_capacity", "capacity"),
    ({"name": "x", "add": "N1,新站,117.2,95"}, "err-s-add", "add[0].lat"),
    ({"name": "x", "add": "N1,新站,abc,34.2"}, "err-s-add", "add[0].lon"),
    ({"name": "x", "add": "N1,新站,117.2"}, "err-s-add", "line 1"),
    ({"name": "x", "add": "T03,重复,117.2,34.2"}, "err-s-add", "already among"),
    ({"name": "", "close": "T01"}, "err-s-name", "name"),
    ({"name": "x"}, "err-s-add", "changes nothing"),
    ({"name": "x", "file": (io.BytesIO(b"{not json"), "s.json")}, "err-s-file", "JSON"),
], ids=["unknown-id", "capacity-0", "capacity-negative", "lat", "lon", "short-line",
        "id-taken", "no-name", "empty", "bad-file"])
def test_bad_scenario_is_400_next_to_the_field_and_not_saved(client, app, form, err, match):
    r = save(client, form, query="view=scenario&lang=en", content_type="multipart/form-data")
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert match in field_error(html, err)
    assert 'id="scenario-form"' in html
    if form.get("add"):
        assert form["add"] in html  # the form as sent
    with app.app_context():
        from locator.web.planner.scenarios import scenario_store

        assert scenario_store().names() == []


def test_duplicate_name_is_409(client):
    assert save(client).status_code == 303
    r = save(client)
    assert r.status_code == 409
    assert "saved already" in field_error(r.get_data(as_text=True), "err-s-name")


def test_saved_scenarios_persist_across_apps(registry, demand_csv, db_path, tiny_stations):
    from locator import Registry, StationStore

    first = make_app(registry, demand_csv).test_client()
    assert save(first).status_code == 303
    store = StationStore(db_path)  # a new process on the same database
    try:
        second = make_app(Registry(store), demand_csv).test_client()
        html = second.get("/planner?view=scenario").get_data(as_text=True)
        assert FORM["name"] in html and 'id="saved-scenarios"' in html
        assert second.post("/planner/scenarios/delete?view=scenario",
                           data={"name": FORM["name"]}).status_code == 303
        assert 'id="no-scenarios"' in second.get("/planner?view=scenario").get_data(
            as_text=True)
    finally:
        store.dispose()


def test_unknown_compare_is_400(client):
    r = client.get("/planner?view=scenario&compare=nope")
    assert r.status_code == 400
    assert "nope" in field_error(r.get_data(as_text=True), "err-compare")


# --------------------------------------------------------------------------- access


@pytest.mark.parametrize("method", ["e2sfca", "2sfca"])
def test_access_equals_the_core(client, registry, data, method):
    html = client.get(f"/planner?view=access&method={method}").get_data(as_text=True)
    spec = spec_of(walk, registry.index.stations(), at=None)
    want = access_run(spec, data, 15.0, method=method, crowded=10)
    assert values(html, "access-districts", "mean_access") == [d["mean_access"]
                                                                for d in want["districts"]]
    assert values(html, "access-districts", "gini") == [d["equity"]["gini"]
                                                         for d in want["districts"]]
    for key, field in (("gini", "gini"), ("theil", "theil"), ("palma", "palma"),
                       ("worst10_share_uncovered", "worst10")):
        assert values(html, "equity-city", field) == [want["equity"][key]]
    crowded = html.split('id="crowded-table"', 1)[1]
    for c in want["crowded"]:
        assert c["name"] in crowded
    assert 'id="capacity-note"' in html and "每个站点按 1 计" in html


# --------------------------------------------------------------------------- target


@pytest.mark.parametrize(("target", "backup"), [("95%", False), ("100%", False),
                                                 ("90%", True)],
                         ids=["95", "100", "backup-90"])
def test_target_equals_lscp(client, registry, data, target, backup):
    q = f"view=target&target={target.replace('%', '%25')}&solver=greedy&candidates=gaps"
    html = client.get(f"/planner?{q}" + ("&backup=1" if backup else "")).get_data(
        as_text=True)
    spec = spec_of(walk, registry.index.stations(), at=None)
    cands = gap_candidates(spec, data, 15.0)
    problem = build_siting_problem(spec.engine, spec.stations, data.demand, cands, 15.0)
    want = fewest_sites(problem, target=target, backup=backup, method="greedy")
    assert re.search(r'id="target-count" data-value="(\d+)"', html).group(1) == str(
        want.count)
    body = html.split('id="target-sites"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<tr data-id="([^"]+)"', body) == list(want.site_ids)
    assert "区" in body  # named by district and nearest station
    assert 'data-method="greedy"' in html


@pytest.mark.parametrize(("query", "match"), [
    ("target=100%25&backup=1&candidates=gaps", "at most 99.6%"),
    ("target=101%25", "above 100"),
    ("target=101", "101 is above 100; give a percentage in (0, 100]"),
    ("target=0", "not above 0"),
    ("target=abc", "not a share"),
], ids=["infeasible", "above-100", "bare-above-100", "zero", "text"])
def test_bad_target_is_400_next_to_the_field_once(client, query, match):
    r = client.get(f"/planner?view=target&solver=greedy&lang=en&{query}")
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    msg = field_error(html, "err-target")
    assert match in msg
    assert unescape(html).count(msg) == 1  # not in the status line too
    assert 'href="#err-target"' in html


@pytest.mark.parametrize(("query", "zh"), [
    ("view=target&target=101%25", "目标覆盖率 target：101% 超过 100；请填写 0 到 100 之间的百分数"),
    ("view=target&target=100%25&backup=1&candidates=gaps",
     "候选点最多只能把覆盖率提高到需求的 99.6%"),
    ("view=target&target=abc", "目标覆盖率 target：'abc' 不是比例"),
    ("view=profile&day=2026-13-01", "日期 day：'2026-13-01' 不是日期；请按 YYYY-MM-DD 填写"),
], ids=["target-above-100", "infeasible", "target-text", "bad-day"])
def test_errors_are_chinese_on_the_chinese_page(client, query, zh):
    html = client.get(f"/planner?solver=greedy&{query}").get_data(as_text=True)
    field = "err-day" if "day=" in query else "err-target"
    msg = field_error(html, field)
    assert zh in msg and "is above" not in msg and "not a date" not in msg


@pytest.mark.parametrize(("typed", "share"), [("95", 0.95), ("95%25", 0.95), ("100", 1.0),
                                              ("90.5", 0.905)],
                         ids=["bare-95", "95-percent", "bare-100", "decimal"])
def test_a_bare_number_is_a_percentage_on_the_page(client, typed, share):
    html = client.get(f"/planner?view=target&solver=greedy&target={typed}").get_data(
        as_text=True)
    assert "目标覆盖率（%）" in html
    assert f"达到 {100 * share:g}% 覆盖" in html or f"达到 {100 * share:.1f}% 覆盖" in html


def test_api_still_refuses_a_bare_number_above_1(client):
    from locator.coverage.lscp import parse_target
    from locator.errors import InvalidInput

    with pytest.raises(InvalidInput, match="above 100%"):
        parse_target("95")


def test_target_default_is_uncovered_units_and_100_is_feasible(client, registry, data):
    """The prefilled 100% runs on sites at every uncovered unit (target_run's default),
    the label says which solver ran, and the downloads carry the same sites."""
    from locator.coverage.planning import target_run

    r = client.get("/planner?view=target&solver=greedy")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    spec = spec_of(walk, registry.index.stations(), at=None)
    want = target_run(spec, data, 15.0, target=1.0, backup=False, method="greedy")
    assert want["candidates"]["source"] == "uncovered"
    assert re.search(r'id="target-count" data-value="(\d+)"', html).group(1) == str(
        want["lscp"]["count"])
    assert "每个未覆盖的需求单元" in html
    ran = re.search(r'id="target-ran">([^<]*)<', html).group(1)
    assert "贪心" in ran and 'data-method="greedy"' in html
    body = html.split('id="target-sites"', 1)[1].split("</table>", 1)[0]
    ids = re.findall(r'<tr data-id="([^"]+)"', body)
    assert ids == [s["id"] for s in want["sites"]]
    # downloads: the same sites, named by district and nearest station
    q = "view=target&solver=greedy"
    rows = list(csv.DictReader(io.StringIO(client.get(f"/planner/target-sites.csv?{q}")
                                           .get_data(as_text=True).lstrip("\ufeff"))))
    assert [row["id"] for row in rows] == ids and all("区" in row["name"] for row in rows)
    geo = client.get(f"/planner/target-sites.geojson?{q}")
    assert "target-100pct" in geo.headers["Content-Disposition"]
    assert [f["id"] for f in json.loads(geo.get_data())["features"]] == ids
    x = client.get(f"/planner/target-sites.xlsx?{q}")
    assert x.status_code == 200 and x.data[:2] == b"PK"


def test_target_auto_label_matches_what_ran_and_no_bound_is_said(client, monkeypatch):
    """With auto, the page says which solver ran (the result's method); without a bound
    (lower_bound None) it says so instead of a bound."""
    import locator.coverage.lscp as lscp

    html = client.get("/planner?view=target&target=95&candidates=gaps").get_data(
        as_text=True)
    method = re.search(r'data-method="(\w+)"', html).group(1)
    ran = re.search(r'id="target-ran">([^<]*)<', html).group(1)
    assert "自动" in ran and ("精确" in ran) == (method == "exact")
    real = lscp.fewest_sites

    def no_bound(*args, **kw):
        import dataclasses

        return dataclasses.replace(real(*args, **kw), lower_bound=None, optimal=False)

    monkeypatch.setattr(lscp, "fewest_sites", no_bound)
    html = client.get("/planner?view=target&target=90&solver=greedy").get_data(as_text=True)
    assert "秒内未能算出下界" in html and "比下界多" not in html


def test_target_max_share_rounds_as_the_error_does(client):
    """The most the candidates reach is shown rounded up, as "at most" in the error."""
    r = client.get("/planner?view=target&target=90&backup=1&candidates=gaps&solver=greedy")
    html = r.get_data(as_text=True)
    assert re.search(r'class="big">99\.6%</span>候选点全部建成时', html)


@pytest.mark.parametrize("backend_db", ["sqlite", "postgresql"])
def test_scenario_table_on_both_backends(request, tmp_path, backend_db):
    """``planner_scenarios`` is made on first use; names are unique; a store on the same
    database (another process) reads what one saved."""
    import sqlalchemy as sa

    from locator.errors import NotFound
    from locator.web.planner.scenarios import NameTaken, ScenarioStore

    url = (f"sqlite:///{tmp_path / 's.sqlite'}" if backend_db == "sqlite"
           else request.getfixturevalue("pg_url"))
    engine = sa.create_engine(url)
    try:
        store = ScenarioStore(engine)
        sc = Scenario.from_dict({"name": "夜间开放", "change": {"T02": {"opening_hours": "24/7"}}})
        store.save(sc, created_by="planner1")
        with pytest.raises(NameTaken, match="saved already"):
            store.save(sc)
        again = ScenarioStore(engine).get("夜间开放")
        assert again.scenario == sc and again.created_by == "planner1"
        assert ScenarioStore(engine).names() == ["夜间开放"]
        store.delete("夜间开放")
        with pytest.raises(NotFound):
            store.get("夜间开放")
    finally:
        engine.dispose()


def test_empty_view_is_the_coverage_view(client):
    r = client.get("/planner?view=")
    assert r.status_code == 200
    assert 'id="view-coverage" aria-current="page"' in r.get_data(as_text=True)


# --------------------------------------------------------------------------- scenario CRS


@pytest.mark.parametrize(("crs", "convert"), [
    (None, "gcj02"), ("gcj02", "gcj02"), ("wgs84", None), ("bd09", "bd09")],
    ids=["default-gcj02", "gcj02", "wgs84", "bd09"])
def test_pasted_station_is_stored_at_its_wgs84_point(client, registry, crs, convert):
    from locator.stations.coords import gcj02_to_wgs84, to_wgs84

    form = {"name": f"pasted {crs}", "add": "N9,高德新站,117.25,34.28"}
    if crs:
        form["crs"] = crs
    assert save(client, form).status_code == 303
    stored = client.get(f"/planner/scenarios/pasted {crs}.json").get_json()
    added = Scenario.from_dict(stored).add[0]
    want = ((117.25, 34.28) if convert is None else gcj02_to_wgs84(117.25, 34.28)
            if convert == "gcj02" else to_wgs84(117.25, 34.28, "bd09"))
    assert (added.lon, added.lat) == pytest.approx(want, abs=1e-7)
    if convert:  # hundreds of metres from the pasted numbers
        assert abs(added.lon - 117.25) + abs(added.lat - 34.28) > 2e-3
    # the comparison runs on the stored (WGS-84) point
    run = scenario_run(walk, registry.index.stations(), _data_of(client), (15,),
                       [Scenario.from_dict(stored)])
    assert run.results[0].scenario.add[0].lon == pytest.approx(want[0], abs=1e-7)


def _data_of(client):
    from locator.web.planner.page import planner_state

    with client.application.app_context():
        return planner_state().data()


def test_scenario_form_says_its_crs_and_uses_real_ids(client, registry):
    html = client.get("/planner?view=scenario").get_data(as_text=True)
    crs = html.split('id="s-crs"', 1)[1].split("</select>", 1)[0]
    assert re.search(r'<option value="gcj02" selected>GCJ-02 高德·腾讯·微信', crs)
    assert 'value="wgs84"' in crs and 'value="bd09"' in crs and "百度" in crs
    assert "默认 GCJ-02" in html
    first = next(iter(registry.index.stations())).id
    assert f'placeholder="{first},12"' in html and "T02," not in html.replace(
        f"{first},", "") or first == "T02"
    assert f'placeholder="{first},Mo-Su 00:00-24:00"' in html


def test_a_bad_crs_is_shown_next_to_its_field(client):
    r = save(client, {"name": "x", "add": "N9,新站,117.25,34.28", "crs": "mars"})
    assert r.status_code == 400
    assert "mars" in field_error(r.get_data(as_text=True), "err-s-crs")


@pytest.mark.parametrize(("name", "file"), [
    ("Two new sites", "two-new-sites.json"), ("两个新站", None)], ids=["ascii", "chinese"])
def test_scenario_json_is_named_after_it_and_carries_the_notice(client, name, file):
    from locator.coverage.planning import ILLUSTRATIVE_NOTICE

    assert save(client, {"name": name, "close": "T01"}).status_code == 303
    r = client.get(f"/planner/scenarios/{name}.json")
    disp = r.headers["Content-Disposition"]
    ascii_name = re.search(r'filename="([^"]+)"', disp)[1]
    assert ascii_name.isascii() and ascii_name.endswith(".json")
    assert ascii_name == (file or ascii_name) and ascii_name != "scenario.json"
    if file is None:
        assert re.fullmatch(r"scenario-[0-9a-f]{8}\.json", ascii_name)
    assert "filename*=UTF-8''" in disp
    doc = r.get_json()
    assert ILLUSTRATIVE_NOTICE in doc["description"]  # the tiny stations are samples
    # uploaded again, the notice is not kept as the description (nor doubled)
    up = save(client, {"name": name + " again", "file": (io.BytesIO(r.data), "s.json")},
              content_type="multipart/form-data")
    assert up.status_code == 303
    again = client.get(f"/planner/scenarios/{name} again.json").get_json()
    assert again["description"] == ILLUSTRATIVE_NOTICE


# --------------------------------------------------------------------------- access downloads


def test_access_downloads_are_the_page_tables(client, registry, data):
    html = client.get("/planner?view=access").get_data(as_text=True)
    spec = spec_of(walk, registry.index.stations(), at=None)
    want = access_run(spec, data, 15.0, method="e2sfca", crowded=10)
    links = {k: unescape(re.search(rf'id="{k}" href="([^"]+)"', html)[1])
             for k in ("access-csv", "access-crowded-csv", "access-xlsx")}
    text = client.get(links["access-csv"]).get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["adcode"] for r in rows] == [d["adcode"] for d in want["districts"]] + [""]
    assert [r["name"] for r in rows[:-1]] == [d["name"] for d in want["districts"]]
    assert rows[-1]["area"] == "city" and rows[-1]["name"] == "全市"
    unit = "stations" if want["capacity"]["unit"] == "station" else "seats"
    for r, d in zip(rows, want["districts"], strict=False):
        assert float(r["mean_access"]) == pytest.approx(d["mean_access"])
        assert float(r[f"mean_access_{unit}_per_1000_demand"]) == pytest.approx(
            1000 * d["mean_access"])
        assert (r["palma"] == "") == (d["equity"]["palma"] is None)
    assert float(rows[-1]["gini"]) == pytest.approx(want["equity"]["gini"])
    crowded = list(csv.DictReader(io.StringIO(client.get(links["access-crowded-csv"])
                                              .get_data(as_text=True).lstrip("\ufeff"))))
    assert [c["id"] for c in crowded] == [c["id"] for c in want["crowded"]]
    x = client.get(links["access-xlsx"])
    assert x.status_code == 200 and x.data[:2] == b"PK"
    # units on the columns, "—" for Palma explained, demand as whole numbers
    assert f"平均可达性（每千需求{'站点' if unit == 'stations' else '座位'}数）" in html
    assert 'id="palma-note"' in html and "无定义" in html
    table = html.split('id="crowded-table"', 1)[1].split("</table>", 1)[0]
    assert not re.search(r">\d[\d,]*\.0<", table)
    for c in want["crowded"]:
        if c["catchment_demand"] >= 100:
            assert f">{c['catchment_demand']:,.0f}<" in table


@pytest.mark.parametrize("view", ["profile", "access", "target"])
def test_coverage_only_fields_are_not_on_other_views(client, view):
    html = client.get(f"/planner?view={view}&n=3").get_data(as_text=True)
    assert 'id="p-n"' not in html and 'id="p-sites-from"' not in html
    assert "表格同时列出" not in html
    assert '<input type="hidden" name="n" value="3">' in html  # kept for the other views
    cov = client.get("/planner").get_data(as_text=True)
    assert 'id="p-n"' in cov and "表格同时列出" in cov

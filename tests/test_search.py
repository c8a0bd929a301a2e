"""The place search core: Chinese, pinyin, initials, codes, districts, streets, ranking,
and staying in step with the registry."""

from __future__ import annotations

import time

import pytest

from locator.index.search import (
    RegistrySearch,
    StationSearch,
    fold,
    pinyin_keys,
    streets_in_address,
)
from locator.stations.model import Station


def _st(sid: str, name: str, address: str = "", code: str = "", lon: float = 117.19,
        lat: float = 34.26, district: str = "鼓楼区") -> Station:
    return Station(id=sid, name=name, type="outdoor_worker", lon=lon, lat=lat,
                   address=address, code=code, district_name=district, source="sample")


STATIONS = [
    _st("A1", "中山北路爱心驿站", "徐州市鼓楼区中山北路12号", "7K3M9Q", 117.186, 34.272),
    _st("A2", "鼓楼环卫驿站", "徐州市鼓楼区中山北路88号", "H0T2RX", 117.188, 34.280),
    _st("A3", "彭城广场母婴室", "徐州市云龙区和平大道1号", "ZZ1000", 117.195, 34.262,
        "云龙区"),
    _st("A4", "银行网点服务站", "徐州市泉山区解放南路3号", "Q1W2E3", 117.180, 34.250,
        "泉山区"),
    _st("A5", "KFC 驿站", "", "", 117.190, 34.300),
]


@pytest.fixture(scope="module")
def search():
    return StationSearch(STATIONS)


def labels(places):
    return [p.label for p in places]


@pytest.mark.parametrize("text, expected", [
    ("Xú Zhōu　ＸＺ", "xuzhouxz"), ("【示例】鼓楼 区·1号\x00🚲", "示例鼓楼区1号"),
], ids=["tones-fullwidth", "punct-emoji-nul"])
def test_fold(text, expected):
    assert fold(text) == expected


def test_pinyin_keys_use_phrases_for_polyphones():
    assert pinyin_keys("鼓楼区") == ("gulouqu", "glq")
    assert pinyin_keys("银行") == ("yinhang", "yh")  # 行 as in 银行, not xing
    assert pinyin_keys("绿地12") == ("ludi12", "ld12")  # ü folded to u


@pytest.mark.parametrize("query", ["徐州", "xuzhou", "xz", "XuZhou", "xu zhou", "徐zhou"],
                         ids=["zh", "pinyin", "initials", "case", "spaces", "mixed"])
def test_city_by_chinese_pinyin_initials(search, query):
    first = search.search(query)[0]
    assert (first.kind, first.label, first.id) == ("district", "徐州市", "320300")


@pytest.mark.parametrize("query", ["鼓楼区", "鼓楼", "gulou", "gl", "glq", "GL"])
def test_gulou_district_first(search, query):
    first = search.search(query)[0]
    assert (first.kind, first.label, first.id) == ("district", "鼓楼区", "320302")
    assert 117.1 < first.lon < 117.3 and 34.25 < first.lat < 34.4


@pytest.mark.parametrize("typed", ["7K3M9Q", "7k3m9q", "7K3-M9Q", " 7k3 m9q ", "7K3M9q"])
def test_station_by_code(search, typed):
    first = search.search(typed)[0]
    assert (first.kind, first.id, first.code, first.tier) == ("station", "A1", "7K3M9Q", 0)


@pytest.mark.parametrize("typed", ["HOT2RX", "h0t2rx", "H-O-T-2-R-X"], ids=["O", "0", "dash"])
def test_code_with_o_for_zero(search, typed):
    assert search.search(typed)[0].id == "A2"


def test_station_name_prefix_before_contains_before_address(search):
    got = search.search("中山北路", limit=10)
    # the street (from two station addresses) first, then the station named so, then the
    # station that only has it in its address
    assert [(p.kind, p.label) for p in got[:3]] == [
        ("street", "中山北路"), ("station", "中山北路爱心驿站"), ("station", "鼓楼环卫驿站")]
    assert [p.tier for p in got[:3]] == [1, 2, 4]
    assert got[0].source == "station_addresses" and "2 个站点地址" in got[0].sublabel


def test_street_point_is_a_station_on_it(search):
    street = search.search("解放南路")[0]
    assert street.kind == "street"
    assert (street.lon, street.lat) == (117.180, 34.250)
    en = search.search("解放南路", lang="en")[0]
    assert "from 1 station address" in en.sublabel


def test_streets_from_addresses():
    assert streets_in_address("江苏省徐州市云龙区和平大道与解放南路交叉口") == [
        "和平大道", "解放南路"]
    assert streets_in_address("徐州市泉山区湖滨街道（示例地址）第3号") == []
    assert streets_in_address("徐州市沛县（示例地址）第1号") == []


def test_station_pinyin_and_initials(search):
    assert search.search("yinhang")[0].id == "A4"
    assert search.search("yhwd")[0].id == "A4"
    assert search.search("pcgc")[0].id == "A3"
    assert search.search("kfc")[0].id == "A5"  # latin text inside a name


def test_name_contains_ranks_above_pinyin(search):
    got = search.search("驿站", limit=10)
    assert {p.id for p in got} == {"A1", "A2", "A5"}
    assert [p.tier for p in got] == [3, 3, 3]
    # shorter names first within a tier
    assert labels(got) == sorted(labels(got), key=lambda s: (len(fold(s)), fold(s)))


def test_no_match_and_junk(search):
    assert search.search("不存在的地方") == []
    assert search.search("🚲🚲") == []
    assert search.search("\x00" * 50) == []
    assert search.search("a" * 10_000) == []


def test_limit(search):
    assert len(search.search("s", limit=2)) <= 2
    assert len(search.search("驿站", limit=1)) == 1


def test_matches_the_linear_matcher_on_many_stations():
    """The indexed tiers agree with a brute-force scan of every entry."""
    import random

    from locator.index.search import _query_forms, _station_entry, _tier

    rng = random.Random(4)
    words = ["中山", "解放", "和平", "驿站", "银行", "长安", "鼓楼", "服务", "母婴", "东站"]
    sts = [_st(f"R{i:04d}", "".join(rng.sample(words, 3)) + str(i % 7),
               f"徐州市{rng.choice(words)}{i}号") for i in range(600)]
    s = StationSearch(sts, districts=False)
    entries = [_station_entry(x) for x in sts]
    for q in ["中山", "驿站3", "zhongshan", "zs", "yh", "jiefang", "北路", "fuwu", "长安路"]:
        qn, qc, qa = _query_forms(q)
        want = sorted((t, e.rank) for e in entries
                       if (t := _tier(e, qn, qc, qa)) is not None)[:20]
        got = s.search(q, limit=20)
        assert [(p.tier, p.id) for p in got] == [(t, r[3]) for t, r in want], q


def test_upsert_and_delete_are_seen_at_once():
    s = StationSearch(STATIONS, districts=False)
    s.upsert(_st("A9", "新开驿站", "徐州市鼓楼区黄河北路5号", "AB12CD"))
    assert s.search("新开")[0].id == "A9"
    assert s.search("黄河北路")[0].kind == "street"
    s.upsert(STATIONS[0].evolve(name="改名驿站", version=2))
    assert s.search("中山北路爱心")[0:1] == [] or s.search("中山北路爱心")[0].id != "A1"
    assert s.search("改名")[0].id == "A1"
    s.delete("A9")
    assert [p for p in s.search("新开") if p.id == "A9"] == []
    assert [p for p in s.search("黄河北路") if p.kind == "street"] == []
    assert len(s) == len(STATIONS)


def test_follows_the_registry(registry):
    search = RegistrySearch(registry)
    assert search.search("测试驿站一号")[0].id == "T01"
    registry.add(_st("NEW1", "云龙湖边驿站", "徐州市泉山区湖东路1号", lon=117.17, lat=34.24),
                 actor="pytest")
    got = search.search("云龙湖")
    assert got[0].id == "NEW1" and got[0].code  # the store assigned a code
    assert search.search(got[0].code.lower())[0].id == "NEW1"
    assert search.search("湖东路")[0].kind == "street"
    registry.update("T01", {"name": "测试驿站改名"}, actor="pytest")
    assert search.search("测试驿站改名")[0].id == "T01"
    assert all(p.id != "T01" for p in search.search("测试驿站一号"))
    registry.delete("NEW1", actor="pytest")
    assert all(p.id != "NEW1" for p in search.search("云龙湖"))


def test_follows_another_process_writes(registry):
    """A write by another process reaches the search once the index applies it."""
    from locator.store.registry import Registry

    search = RegistrySearch(registry)
    other = Registry(registry.store)
    other.add(_st("FAR1", "别处写入驿站"), actor="other")
    assert search.search("别处写入") == []  # the index has not applied it yet
    registry.apply_changes()
    assert search.search("别处写入")[0].id == "FAR1"


def test_speed_on_100k_stations():
    """A query takes well under 10 ms on 100,000 stations (median of many)."""
    from conftest_browser import many_stations

    from locator.stations.codes import candidate_code

    sts = [s.evolve(code=candidate_code(s.id), address=f"徐州市某区中山北路{i % 300}号")
           for i, s in enumerate(many_stations(100_000))]
    s = StationSearch(sts)
    for q in ["gl", "鼓楼", "xuzhou", sts[777].code, "测试站点12345", "站点", "cszd",
              "中山北路", "不存在的地方"]:
        s.search(q)
        times = []
        for _ in range(30):
            t = time.perf_counter()
            s.search(q, limit=10)
            times.append(time.perf_counter() - t)
        times.sort()
        assert times[len(times) // 2] < 0.010, (q, times[len(times) // 2])
    assert s.search(sts[777].code)[0].id == sts[777].id

"""Duplicate warnings: same type within 50 m, similar name within 200 m, on an index or a list."""

from __future__ import annotations

import math

import numpy as np
import pytest

from locator import StationIndex
from locator.errors import InvalidInput
from locator.geo import haversine_m
from locator.stations.duplicates import (
    DuplicateHit,
    find_duplicates,
    names_similar,
    normalise_name,
)
from locator.stations.model import Station

LON, LAT = 117.1850, 34.2615  # central Xuzhou (Gulou), WGS-84
M_LAT = 6_371_008.8 * math.pi / 180.0  # metres per degree of latitude


def _at(north_m: float, east_m: float) -> tuple[float, float]:
    return (LON + east_m / (M_LAT * math.cos(math.radians(LAT))), LAT + north_m / M_LAT)


def _station(sid: str, name: str, stype: str, north_m: float, east_m: float = 0.0,
             status: str = "open") -> Station:
    lon, lat = _at(north_m, east_m)
    return Station(id=sid, name=name, type=stype, lon=lon, lat=lat, status=status)


CANDIDATE = Station(id="NEW-1", name="鼓楼区爱心驿站", type="outdoor_worker", lon=LON, lat=LAT)

EXISTING = [
    _station("A-same-30", "环卫工人休息点", "outdoor_worker", 30),
    _station("B-same-60", "快递小哥之家", "outdoor_worker", -60),  # too far for the type rule
    _station("C-name-150", "【示例】鼓楼区 爱心驿站", "mother_baby", 0, 150),
    _station("D-name-250", "鼓楼区爱心驿站", "mother_baby", 0, -250),  # too far for the name
    _station("E-both-10", "鼓楼区爱心驿站（一）", "outdoor_worker", 0, 10, status="closed"),
    _station("F-other", "法律援助工作站", "legal_aid", 20, 20),
    _station("G-sim-120", "鼓楼区爱心驿站二", "driver_home", -120, 0,
             status="temporarily_closed"),
]


@pytest.fixture(params=["list", "index"])
def existing(request):
    return EXISTING if request.param == "list" else StationIndex(EXISTING)


def _summary(hits: list[DuplicateHit]) -> list[tuple[str, tuple[str, ...]]]:
    return [(h.station_id, h.reasons) for h in hits]


def test_hits_and_reasons(existing) -> None:
    hits = find_duplicates(CANDIDATE, existing)
    assert _summary(hits) == [
        ("E-both-10", ("same_type_near", "similar_name_near")),
        ("A-same-30", ("same_type_near",)),
        ("G-sim-120", ("similar_name_near",)),
        ("C-name-150", ("similar_name_near",)),
    ]
    assert [h.reason for h in hits] == ["same_type_near", "same_type_near",
                                        "similar_name_near", "similar_name_near"]
    for hit in hits:
        assert hit.station is not None and hit.station.id == hit.station_id
        assert hit.distance_m == haversine_m(LON, LAT, hit.lon, hit.lat)
    assert [round(h.distance_m) for h in hits] == [10, 30, 120, 150]
    assert hits[0].status == "closed"  # closed stations are checked too


def test_list_and_index_give_identical_hits() -> None:
    assert find_duplicates(CANDIDATE, EXISTING) == find_duplicates(CANDIDATE,
                                                                   StationIndex(EXISTING))


def test_exclude_id_and_own_id(existing) -> None:
    hits = find_duplicates(CANDIDATE, existing, exclude_id="E-both-10")
    assert [h.station_id for h in hits] == ["A-same-30", "G-sim-120", "C-name-150"]
    # Editing station A: it is not a duplicate of itself, with or without exclude_id.
    editing = EXISTING[0].evolve(name="环卫工人休息点（新）")
    assert "A-same-30" not in [h.station_id for h in find_duplicates(editing, existing)]


def test_radii_are_parameters(existing) -> None:
    hits = find_duplicates(CANDIDATE, existing, same_type_m=70.0, similar_name_m=300.0)
    assert [h.station_id for h in hits] == ["E-both-10", "A-same-30", "B-same-60", "G-sim-120",
                                            "C-name-150", "D-name-250"]
    assert find_duplicates(CANDIDATE, existing, same_type_m=5.0, similar_name_m=5.0) == []


def test_ordering_ties_by_id() -> None:
    twins = [_station(sid, "同名驿站", "outdoor_worker", 0, 25) for sid in ("T2", "T1", "T3")]
    cand = Station(id="N", name="同名驿站", type="outdoor_worker", lon=LON, lat=LAT)
    for source in (twins, StationIndex(twins)):
        assert [h.station_id for h in find_duplicates(cand, source)] == ["T1", "T2", "T3"]


def test_random_stations_list_and_index_agree() -> None:
    rng = np.random.default_rng(7)
    names = ["爱心驿站", "鼓楼爱心驿站", "户外劳动者服务站", "母婴室", "司机之家", "职工服务中心"]
    types = ["outdoor_worker", "mother_baby", "driver_home", "service_centre"]
    stations = [
        _station(f"S{i:04d}", f"{names[rng.integers(len(names))]}{rng.integers(3)}",
                 types[rng.integers(len(types))], rng.uniform(-1500, 1500),
                 rng.uniform(-1500, 1500), status=["open", "closed"][rng.integers(2)])
        for i in range(2000)
    ]
    index = StationIndex(stations)
    total = 0
    for j in range(40):
        lon, lat = _at(rng.uniform(-1500, 1500), rng.uniform(-1500, 1500))
        cand = Station(id=f"C{j}", name=names[j % len(names)], type=types[j % len(types)],
                       lon=lon, lat=lat)
        brute = find_duplicates(cand, stations)
        assert find_duplicates(cand, index) == brute
        assert [h.distance_m for h in brute] == sorted(h.distance_m for h in brute)
        total += len(brute)
    assert total > 40  # the check found something to compare


def test_more_stations_in_reach_than_one_index_query_returns() -> None:
    crowd = [_station(f"K{i:03d}", f"爱心驿站{i}", "outdoor_worker", (i % 15) * 12 - 84,
                      (i // 15) * 12 - 60) for i in range(150)]
    cand = Station(id="N", name="爱心驿站", type="outdoor_worker", lon=LON, lat=LAT)
    brute = find_duplicates(cand, crowd)
    assert len(brute) == 150
    assert find_duplicates(cand, StationIndex(crowd)) == brute


def test_index_without_station_records() -> None:
    lons, lats = zip(*(_at(0, 10 * i) for i in range(3)), strict=True)
    index = StationIndex.from_arrays(["X0", "X1", "X2"], lons, lats,
                                     types=["outdoor_worker", "mother_baby", "outdoor_worker"],
                                     names=["爱心驿站", "爱心驿站", "别的"])
    cand = {"lon": LON, "lat": LAT, "name": "爱心驿站", "type": "户外劳动者服务站点"}
    hits = find_duplicates(cand, index)
    assert _summary(hits) == [("X0", ("same_type_near", "similar_name_near")),
                              ("X1", ("similar_name_near",)), ("X2", ("same_type_near",))]
    assert hits[0].station is None


def test_mapping_candidate_with_chinese_type(existing) -> None:
    cand = {"lon": LON, "lat": LAT, "name": "鼓楼区爱心驿站", "type": "户外劳动者服务站点",
            "id": "E-both-10"}
    assert [h.station_id for h in find_duplicates(cand, existing)] == [
        "A-same-30", "G-sim-120", "C-name-150"]


# --------------------------------------------------------------------------- messages


def _hit(reasons: tuple, distance: float, status: str = "open") -> DuplicateHit:
    return DuplicateHit("ST-1", "【示例】鼓楼区爱心驿站", "outdoor_worker", status, LON, LAT,
                        distance, reasons, 50.0, 200.0)


@pytest.mark.parametrize(
    ("reasons", "distance", "status", "zh", "en"),
    [
        (("similar_name_near",), 35.2, "open",
         "200 米内有名称相近的站点「【示例】鼓楼区爱心驿站」（相距 35 米）",
         "A station with a similar name within 200 m: “【示例】鼓楼区爱心驿站” (35 m away)"),
        (("same_type_near",), 12.0, "closed",
         "50 米内有同类型站点「【示例】鼓楼区爱心驿站」（相距 12 米，已关闭）",
         "A station of the same type within 50 m: “【示例】鼓楼区爱心驿站” (12 m away, closed)"),
        (("same_type_near", "similar_name_near"), 0.3, "temporarily_closed",
         "50 米内有同类型且名称相近的站点「【示例】鼓楼区爱心驿站」（相距 不到 1 米，暂停开放）",
         "A station of the same type and with a similar name within 50 m: "
         "“【示例】鼓楼区爱心驿站” (less than 1 m away, temporarily closed)"),
    ],
    ids=["similar-name", "same-type-closed", "both-under-1m"],
)
def test_messages(reasons: tuple, distance: float, status: str, zh: str, en: str) -> None:
    hit = _hit(reasons, distance, status)
    assert hit.message() == hit.message("zh-CN") == zh
    assert hit.message("en") == en
    d = hit.to_dict("en")
    assert d["message"] == en and d["reason"] == reasons[0] and d["reasons"] == list(reasons)
    assert d["id"] == "ST-1" and d["distance_m"] == distance


def test_message_refuses_unknown_language() -> None:
    with pytest.raises(InvalidInput, match="lang must be 'zh'"):
        _hit(("same_type_near",), 3.0).message("fr")


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "normal"),
    [("【示例】鼓楼区 爱心驿站", "鼓楼区爱心驿站"),
     ("鼓楼区·爱心驿站（一号）", "鼓楼区爱心驿站一号"),
     ("ＡＢＣ　Station", "abcstation"), ("  【示例】 Gulou-站 ", "gulou站"),
     ("驿站【示例】", "驿站示例"), ("!!!", "")],
    ids=["sample-prefix", "punctuation", "full-width-casefold", "spaces-and-prefix",
         "prefix-only-at-start", "punctuation-only"],
)
def test_normalise_name(name: str, normal: str) -> None:
    assert normalise_name(name) == normal


@pytest.mark.parametrize(
    ("a", "b", "similar"),
    [("鼓楼区爱心驿站", "【示例】鼓楼区 爱心驿站", True),
     ("爱心驿站", "鼓楼区爱心驿站", True),
     ("鼓楼区爱心驿站一号", "鼓楼区爱心驿站二号", True),
     ("Driver Home", "driver-home", True),
     ("站", "爱心驿站", False),
     ("母婴室", "法律援助工作站", False),
     ("", "", False),
     ("...", "爱心驿站", False)],
    ids=["prefix-and-space", "contains", "ratio", "case-and-punct", "one-char-no-contain",
         "different", "empty", "punctuation-only"],
)
def test_names_similar(a: str, b: str, similar: bool) -> None:
    assert names_similar(a, b) is similar
    assert names_similar(b, a) is similar


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"same_type_m": 0}, "same_type_m: 0; it must be a positive, finite number of metres"),
     ({"similar_name_m": float("inf")}, "similar_name_m: inf; it must be a positive"),
     ({"similar_name_m": "far"}, "similar_name_m: 'far' is not a number of metres"),
     ({"same_type_m": float("nan")}, "same_type_m: nan; it must be a positive")],
    ids=["zero", "infinite", "text", "nan"],
)
def test_bad_radius_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        find_duplicates(CANDIDATE, EXISTING, **kwargs)


def test_bad_candidate_is_refused() -> None:
    with pytest.raises(InvalidInput, match="expected a Station or a mapping"):
        find_duplicates(("x", 1, 2), EXISTING)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="type: unknown value '休息室'"):
        find_duplicates({"lon": LON, "lat": LAT, "name": "x", "type": "休息室"}, EXISTING)
    with pytest.raises(InvalidInput, match="lat"):
        find_duplicates({"lon": LON, "lat": 95, "name": "x", "type": "mother_baby"}, EXISTING)

